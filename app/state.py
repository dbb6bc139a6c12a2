"""Cached loaders: the only place the app touches the database or runs an estimator.

Rules (Streamlit's guidance, and our architecture notes):

* nothing runs at import time;
* ``st.cache_resource`` holds ONE read-only DuckDB connection per database file
  (never mutated; each read takes a short-lived cursor under a lock because a DuckDB
  connection object is not meant for concurrent use from several script threads);
* analyst writes go through :func:`writer`: the read-only connection is released, a
  short-lived read-write connection does the write, then every cache is cleared;
* ``st.cache_data(max_entries=...)`` caches results keyed by plain arguments:
  database path, data version, waves, filters, model syntax, method and settings;
* SQL only through :mod:`csi.store` (bound parameters).
"""
from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path

import pandas as pd
import streamlit as st

from .jobs import JobRegistry

DEMO_SEED = 20240601
MIN_RESPONDENTS = 30
SEGMENTS = ("brand", "region", "channel")

_READ_LOCK = threading.RLock()
_WRITE_LOCK = threading.Lock()


def db_path() -> str:
    """The database file: ``$CSI_DB`` or ``data/csi.duckdb``, as an absolute path string."""
    return str(Path(os.environ.get("CSI_DB") or Path("data") / "csi.duckdb").resolve())


def bootstrap_default() -> int:
    """Resamples for on-page bootstraps (``$CSI_APP_BOOTSTRAP``; tests use a small number)."""
    try:
        return max(0, int(os.environ.get("CSI_APP_BOOTSTRAP", "500")))
    except ValueError:
        return 500


# ------------------------------------------------------------------ resources
@st.cache_resource(show_spinner=False)
def ensure_database(path: str) -> bool:
    """Build the demo database on first start when the file is absent. Returns True if built."""
    if Path(path).exists():
        return False
    from csi.data import demo

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with _WRITE_LOCK:
        if not Path(path).exists():
            demo.build_demo_database(path, seed=DEMO_SEED)
            return True
    return False


def _close(con) -> None:
    with contextlib.suppress(Exception):
        con.close()


@st.cache_resource(show_spinner=False, on_release=_close)
def _reader(path: str):
    from csi.data import store

    return store.connect(path, read_only=True)


@contextlib.contextmanager
def reading(path: str):
    """A cursor on the shared read-only connection, for one short read."""
    with _READ_LOCK:
        cur = _reader(path).cursor()
        try:
            yield cur
        finally:
            _close(cur)


@contextlib.contextmanager
def writer(path: str):
    """A short-lived read-write connection; every cache is cleared afterwards.

    DuckDB refuses a read-write and a read-only connection to the same file in one
    process, so the shared reader is released first and reopened lazily later.
    """
    from csi.data import store

    with _WRITE_LOCK, _READ_LOCK:
        _reader.clear()
        con = store.connect(path, read_only=False)
        try:
            yield con
        finally:
            _close(con)
            clear_caches()


def clear_caches() -> None:
    st.cache_data.clear()
    _reader.clear()


@st.cache_resource(show_spinner=False)
def jobs() -> JobRegistry:
    return JobRegistry(workers=1)


# ----------------------------------------------------------------- plain data
def data_version(path: str) -> str:
    """Changes whenever the stored data change (cheap; read on every run, never cached)."""
    from csi.data import store

    with reading(path) as con:
        return str(store.data_version(con))


@st.cache_data(max_entries=16, show_spinner=False)
def waves(path: str, version: str) -> pd.DataFrame:
    from csi.data import store

    with reading(path) as con:
        return store.list_waves(con)


@st.cache_data(max_entries=16, show_spinner=False)
def item_dictionary(path: str, version: str) -> pd.DataFrame:
    from csi.data import store

    with reading(path) as con:
        return store.item_dictionary(con)


@st.cache_data(max_entries=8, show_spinner=False)
def settings(path: str, version: str, keys: tuple[str, ...]) -> dict:
    from csi.data import store

    with reading(path) as con:
        return {k: store.get_setting(con, k) for k in keys}


@st.cache_data(max_entries=16, show_spinner=False)
def _responses_of(path: str, version: str, wave_labels: tuple[str, ...] | None) -> pd.DataFrame:
    """Every respondent of the waves, unfiltered: read once per wave set, so a filter change
    (brand, region, channel) only filters in memory instead of reading the database again."""
    from csi.data import store

    with reading(path) as con:
        df = store.load_responses(con, waves=list(wave_labels) if wave_labels else None)
    if "weight" in df.columns:  # segments are stored as text; the estimators need the weight as a number
        df["weight"] = pd.to_numeric(df["weight"], errors="coerce")
    return df


@st.cache_data(max_entries=32, show_spinner=False)
def responses(path: str, version: str, wave_labels: tuple[str, ...] | None = None,
              filters: tuple[tuple[str, tuple[str, ...]], ...] = ()) -> pd.DataFrame:
    """Respondents of the selected waves, filtered by segment values (empty = all)."""
    return apply_filters(_responses_of(path, version, tuple(wave_labels) if wave_labels else None), filters)


@st.cache_data(max_entries=16, show_spinner=False)
def wave_scales(path: str, version: str, wave_labels: tuple[str, ...]) -> pd.DataFrame:
    from csi.data import store

    with reading(path) as con:
        return store.wave_scales(con, list(wave_labels))


@st.cache_data(max_entries=16, show_spinner=False)
def segment_values(path: str, version: str) -> dict[str, list[str]]:
    """Distinct values of each filter segment over all waves (for the sidebar), by SQL: reading every
    respondent of every wave only to list three columns' values cost ~0.4 s of the first render."""
    from csi.data import store

    with reading(path) as con:
        present = set(store.segment_columns(con))
        return {s: sorted(str(v) for v in store.segment_values(con, s)) for s in SEGMENTS if s in present}


def apply_filters(df: pd.DataFrame, filters) -> pd.DataFrame:
    """Keep rows whose segment columns take one of the selected values (pure pandas)."""
    mask = pd.Series(True, index=df.index)
    for col, values in filters:
        if values and col in df.columns:
            mask &= df[col].astype(str).isin(list(values))
    return df.loc[mask].reset_index(drop=True)


# ------------------------------------------------------------------ analysis
def weighted_ok(df: pd.DataFrame, weighted: bool) -> bool:
    """Use survey weights only when asked for and every analysed row has one (a wave loaded
    without a weight column has none; mixing weighted and unweighted rows would be wrong)."""
    return bool(weighted) and "weight" in df.columns and len(df) > 0 and bool(df["weight"].notna().all())


def weights_of(df: pd.DataFrame, weighted: bool):
    """The weight array (n,) for :mod:`csi.loyalty`/:mod:`csi.classic`, or None (see :func:`weighted_ok`)."""
    return df["weight"].to_numpy(float) if weighted_ok(df, weighted) else None


def common_items(df: pd.DataFrame, dictionary_items) -> tuple[str, ...]:
    """Dictionary items answered in EVERY wave of ``df``: one model for all waves needs the same items
    (a wave loaded from another questionnaire would otherwise break every wave's fit)."""
    known = set(dictionary_items)
    cols = [c for c in df.columns if c in known]
    if not cols or df.empty:
        return tuple(cols)
    answered = df[cols].notna().groupby(df["wave"], observed=True).any().all(axis=0)
    return tuple(c for c in cols if bool(answered[c]))


def fit_settings(weighted: bool) -> dict:
    """Estimator settings of the dashboard (plain values; part of every cache key)."""
    return {"scheme": "path", "standardize": True, "missing": "listwise",
            **({"weights": "weight"} if weighted else {})}


@st.cache_data(max_entries=32, show_spinner=False)
def model_spec(model: str, syntax: str, items: tuple[str, ...]):
    """The ModelSpec of the sidebar choice, bound to the items present in the data."""
    from csi.model.syntax import parse_model
    from csi.model.templates import template

    if model == "custom":
        spec = parse_model(syntax, name="custom")
        spec.check_columns(items, source="the selected waves")
        return spec
    return template(model, items=items)


def analysis_frame(sel, *, waves: tuple[str, ...] | None = None, ignore: tuple[str, ...] = ()) -> pd.DataFrame:
    """Respondents of ``waves`` (default: the selection's) with the sidebar filters applied,
    except the segment columns named in ``ignore`` (e.g. 'brand' for a brand comparison)."""
    filters = tuple((c, v) for c, v in sel.filters if c not in ignore)
    return responses(sel.path, sel.version, waves if waves is not None else sel.waves, filters)


@st.cache_data(max_entries=32, show_spinner=False)
def item_scales(path: str, version: str, wave_labels: tuple[str, ...]) -> dict[str, tuple[float, float]]:
    """{item: (min, max)} over the waves (raises StoreError when the waves disagree)."""
    from csi.data import store

    with reading(path) as con:
        return store.item_scales(con, list(wave_labels))


def fingerprint(path: str, version: str) -> str:
    """Identifies the data content, not just the counter: the store's version plus every wave's
    label and file SHA-256 (a rebuilt database can reuse a version number; it cannot reuse both)."""
    import hashlib

    w = waves(path, version)
    text = version + "|" + "|".join(f"{r.label}:{r.sha256}:{r.n_respondents}" for r in w.itertuples())
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


@st.cache_resource(show_spinner=False)
def fit_cache(path: str):
    """The package's FitCache for this database (memory + a folder beside the database, so a
    restarted server does not bootstrap again)."""
    from csi.runtime.cache import FitCache

    folder = os.environ.get("CSI_CACHE_DIR") or str(Path(path).parent / ".csi_cache")
    try:
        return FitCache(folder, max_items=256)
    except OSError:  # read-only location: memory only
        return FitCache(None, max_items=256)


def _inputs(path, version, wave_labels, filters, model, syntax, ignore):
    """Data, spec and scales of a request, read in the script thread (cached loaders need it)."""
    filt = tuple((c, v) for c, v in filters if c not in ignore)
    df = responses(path, version, wave_labels, filt)
    items = common_items(df, item_dictionary(path, version)["item"])
    spec = model_spec(model, syntax, items)
    return df, spec, wave_scales(path, version, wave_labels), fit_cache(path), fingerprint(path, version)


class BootProgress:
    """Resamples done over all groups of a grouped bootstrap, for a job's progress bar.

    ``csi.compare.estimate_groups`` reports groups done; the bar would jump from 0 to done for a
    single wave. This object is also handed to each group's ``csi.bootstrap.bootstrap_pls`` (``csi.compare``'s
    ``boot_progress``) and turns its ``progress(done, n_boot)`` into ``report(resamples done, total)``.
    """

    def __init__(self, report, n_boot: int, n_groups: int):
        self.report, self.n_boot = report, int(n_boot)
        self.base, self.total = 0, max(1, int(n_groups)) * self.n_boot

    def __call__(self, done: int, total: int | None = None) -> None:  # one group's bootstrap
        self.report(min(self.base + int(done), self.total), self.total)

    def group_done(self, done: int, total: int) -> None:  # estimate_groups: groups still to fit, done
        self.base, self.total = int(done) * self.n_boot, max(1, int(total)) * self.n_boot
        self.report(self.base, self.total)


def _estimate(inputs, by, n_boot, seed, weighted, progress=None):
    from csi.compare import groups as compare

    df, spec, scales, cache, fp = inputs
    # One worker: spawned processes cost seconds to start and would take both cores of the box away
    # from the sessions being served; background bootstraps use one core, page renders the other.
    workers = 1
    extra = {}
    if n_boot > 0:
        bp = BootProgress(progress or (lambda done, total: None), n_boot,
                          df.groupby(list(by), observed=True, dropna=False).ngroups)
        # ~20 chunks so the bar moves (the bootstrap reports once per chunk; its draws do not depend
        # on the chunk size, which csi.compare leaves out of the fit-cache key)
        chunk = max(25, -(-int(n_boot) // 20))
        extra = {"progress": bp.group_done, "boot_progress": bp, "boot_options": {"chunk_size": chunk}}
    elif progress is not None:
        extra = {"progress": progress}
    return compare.estimate_groups(df, spec, list(by), scales, n_boot=n_boot, seed=seed, cache=cache,
                                   data_version=fp, workers=workers, min_n=MIN_RESPONDENTS,
                                   **extra, **fit_settings(weighted_ok(df, weighted)))


@st.cache_data(max_entries=64, show_spinner=False)
def group_fits(path: str, version: str, wave_labels: tuple[str, ...], filters, model: str, syntax: str,
               by: tuple[str, ...], weighted: bool, ignore: tuple[str, ...] = ()):
    """Point estimates (no bootstrap) per group of ``by``: dict key → csi.compare.GroupFit."""
    inputs = _inputs(path, version, wave_labels, filters, model, syntax, ignore)
    return _estimate(inputs, by, 0, 1, weighted)


def fits_by(sel, by: tuple[str, ...], *, waves: tuple[str, ...] | None = None, ignore: tuple[str, ...] = ()):
    """:func:`group_fits` for the sidebar selection (plain arguments, so the cache key is exact)."""
    return group_fits(sel.path, sel.version, tuple(waves if waves is not None else sel.waves), sel.filters,
                      sel.model, sel.syntax, tuple(by), bool(sel.weighted), tuple(ignore))


def boot_job(sel, by: tuple[str, ...], n_boot: int, seed: int = 1, *, waves: tuple[str, ...] | None = None,
             ignore: tuple[str, ...] = (), start: bool = True, delay: float = 0.0):
    """The background bootstrap of :func:`fits_by` (a :class:`app.jobs.Job`; None if not started).

    Equal requests from any session share one job; the result is a dict key → GroupFit with
    ``boot`` and ``index_draws``.
    """
    wl = tuple(waves if waves is not None else sel.waves)
    key = ("groups", sel.path, sel.version, wl, sel.filters, sel.model, sel.syntax, tuple(by), int(n_boot),
           int(seed), bool(sel.weighted), tuple(ignore))
    reg = jobs()
    job = reg.get(key)
    if job is None and start:
        inputs = _inputs(sel.path, sel.version, wl, sel.filters, sel.model, sel.syntax, tuple(ignore))
        by_, nb, sd, wt = tuple(by), int(n_boot), int(seed), bool(sel.weighted)
        n_groups = inputs[0].groupby(list(by_), observed=True, dropna=False).ngroups if by_ else 1
        job = reg.submit(key, lambda progress: _estimate(inputs, by_, nb, sd, wt, progress=progress),
                         total=max(1, nb * n_groups), delay=delay)
    return job


def overview_bootstrap() -> int:
    """Resamples behind the overview's intervals (``$CSI_APP_BOOTSTRAP`` caps it)."""
    return min(bootstrap_default(), 200)


@st.cache_data(max_entries=8, show_spinner=False)
def cbsem_fit(path: str, version: str, wave_labels: tuple[str, ...], filters, model: str, syntax: str):
    """CB-SEM (csi.cbsem, ML) of the selection; unweighted (ML has no survey weights)."""
    from csi.engine import cbsem

    df, spec, _, _, _ = _inputs(path, version, wave_labels, filters, model, syntax, ())
    return cbsem.estimate_cbsem(df, spec)


# ----------------------------------------------------------------- downloads
def _fit_inputs(path, version, wave_labels, filters, model, syntax, method, weighted):
    df, spec, _, _, _ = _inputs(path, version, wave_labels, filters, model, syntax, ())
    scales = item_scales(path, version, wave_labels)
    if method == "cbsem":  # ML CB-SEM has no survey weights and no PLS options
        settings = {"missing": "listwise"}
    else:
        settings = fit_settings(weighted_ok(df, weighted))
    return df, spec, scales, settings


@st.cache_data(max_entries=8, show_spinner=False)
def full_fit(path: str, version: str, wave_labels: tuple[str, ...], filters, model: str, syntax: str, method: str,
             weighted: bool, n_boot: int, seed: int):
    """csi.fit.fit_model on the selection: every result table, the manifest, the estimator's result."""
    from csi.report.analyze import fit_model

    df, spec, scales, settings = _fit_inputs(path, version, wave_labels, filters, model, syntax, method, weighted)
    return fit_model(df, spec, method=method, bootstrap=n_boot, seed=seed, scale=scales, **settings)


def fit_job(sel, wave: str, n_boot: int, seed: int, start: bool = True):
    """The bootstrapped :func:`full_fit` as a background job (progress = resamples done)."""
    key = ("fit", sel.path, sel.version, (wave,), sel.filters, sel.model, sel.syntax, sel.method, bool(sel.weighted),
           int(n_boot), int(seed))
    reg = jobs()
    job = reg.get(key)
    if job is None and start:
        from csi.report.analyze import fit_model

        df, spec, scales, settings = _fit_inputs(sel.path, sel.version, (wave,), sel.filters, sel.model, sel.syntax,
                                                 sel.method, sel.weighted)
        method, nb, sd = sel.method, int(n_boot), int(seed)
        job = reg.submit(key, lambda progress: fit_model(df, spec, method=method, bootstrap=nb, seed=sd,
                                                         scale=scales, progress=progress, **settings), total=nb)
    return job


@st.cache_data(max_entries=8, show_spinner=False)
def _extra_tables(path, version, wave_labels, filters, model, syntax, weighted):
    from csi.compare import groups as compare
    from csi.analytics import loyalty

    out = {}
    fits = group_fits(path, version, wave_labels, filters, model, syntax, ("wave",), weighted, ())
    out["trend"] = compare.trend(fits)
    df = responses(path, version, wave_labels, filters)
    d = item_dictionary(path, version)
    rec = next((i for i in d.loc[d["kind"] == "recommend", "item"] if i in df.columns and df[i].notna().any()), None)
    if rec is not None:
        out["nps_by_wave"] = loyalty.nps_by(df, rec, "wave", "weight" if weighted_ok(df, weighted) else None)
    out["wave_scales"] = wave_scales(path, version, wave_labels)
    return out


def extra_tables(sel) -> dict:
    """Tables of the whole selection beyond one model fit: index trend, NPS by wave, scales in force."""
    return _extra_tables(sel.path, sel.version, sel.waves, sel.filters, sel.model, sel.syntax, bool(sel.weighted))


def app_manifest(sel, wave: str) -> dict:
    """What the dashboard selected, so a download can be traced back and redone."""
    return {"database": Path(sel.path).name, "data_version": sel.version,
            "data_content_fingerprint": fingerprint(sel.path, sel.version), "waves_selected": list(sel.waves),
            "wave_fitted": wave, "filters": {c: list(v) for c, v in sel.filters if v}, "model": sel.model,
            "method": sel.method, "survey_weights": bool(sel.weighted), "language": sel.lang}
