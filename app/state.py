"""Cached loaders: the only place the app touches the database or runs an estimator.

Rules (Streamlit's guidance, and our architecture notes):

* nothing runs at import time;
* ``st.cache_resource`` holds ONE read-only DuckDB connection per version file of the store
  (never mutated; each read takes its own short-lived cursor, so reads run side by side);
  a new version (published by any writer, this app's or a CLI's) is noticed at the next read
  (one ``readlink``) and the old connection is closed when its last read ends;
* analyst writes go through :func:`writer` (``csi.data.store.writing``: audited, published atomically
  as a new version, never blocking readers);
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

from .jobs import BootProgress, JobRegistry, Remote  # noqa: F401 - BootProgress: old import path

DEMO_SEED = 20240601
MIN_RESPONDENTS = 30
SEGMENTS = ("brand", "region", "channel")

_WRITE_LOCK = threading.Lock()  # this process's writers queue here before the store's own (flock) lock


def db_path() -> str:
    """The database file: ``$CSI_DB`` or ``data/csi.duckdb``, as an absolute path string.

    Made absolute WITHOUT resolving symlinks: the store's public name is a symlink to its current version
    file, and a resolved path would pin the app to one version forever (and aim its writes at a version file)."""
    return os.path.abspath(os.environ.get("CSI_DB") or Path("data") / "csi.duckdb")


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


class _Pin:
    """One version file's shared read-only connection, its data version and how many reads use it right now."""

    def __init__(self, file: str, con, version: str | None = None):
        self.file, self.con, self.version, self.users, self.retired = file, con, version, 0, False


class _Versions:
    """The read-only connections of one store: one per version file - the current one, and the one this process
    still serves while it prepares the current one (:func:`data_version`); any other is closed as soon as its
    last read ends (reads never wait for each other, for a writer, or for a new version: each takes its own
    cursor)."""

    def __init__(self, path: str):
        self.path, self.lock, self.current, self.kept = path, threading.Lock(), None, None

    def acquire(self, version: str | None = None):
        """(pin, cursor) of the current version, or of the served older one when ``version`` names it (a run
        still shown the previous version reads that version's file, never the newer one under the older key);
        the cursor is made under the lock (DuckDB's cursor() is not documented as thread-safe), the read itself
        runs outside it."""
        from csi.data import store

        target = str(store.version_file(self.path))  # one readlink: notices a newly published version
        with self.lock:
            pin = self.current
            if pin is None or pin.file != target:
                con, file = store.open_current(self.path)
                try:
                    counter = str(store.data_version(con))
                except Exception:  # noqa: BLE001 - an unreadable version: reads fail on their own, with its message
                    counter = None
                pin, old = _Pin(str(file), con, counter), pin
                self.current = pin
                if old is not None:
                    served = _served_version(self.path)
                    if old.version is not None and old.version == served and self.kept is None:
                        self.kept = old  # still shown: open until the process switches (release_kept)
                    else:
                        self._retire(old)
            kept = self.kept
            if version is not None and pin.version != version and kept is not None and kept.version == version:
                pin = kept
            cur = pin.con.cursor()
            pin.users += 1
            return pin, cur

    def release_kept(self) -> None:
        """The process switched to the current version: the older one it kept open can go."""
        with self.lock:
            if self.kept is not None:
                self._retire(self.kept)
                self.kept = None

    def release(self, pin: _Pin) -> None:
        with self.lock:
            pin.users -= 1
            if pin.retired and pin.users <= 0:
                _close(pin.con)

    def _retire(self, pin: _Pin) -> None:
        pin.retired = True
        if pin.users <= 0:
            _close(pin.con)

    def close(self) -> None:
        with self.lock:
            for pin in (self.current, self.kept):
                if pin is not None:
                    self._retire(pin)
            self.current = self.kept = None


@st.cache_resource(show_spinner=False, on_release=lambda v: v.close())
def _connection(path: str) -> _Versions:
    return _Versions(path)


@contextlib.contextmanager
def reading(path: str, version: str | None = None):
    """A cursor on the current version's shared read-only connection, for one short read; with ``version`` (a
    loader cached by data version passes its own) the previous version's connection when that is the version
    asked for. A cursor is a connection of its own, so concurrent reads of several sessions run side by side."""
    versions = _connection(path)
    pin, cur = versions.acquire(version)
    try:
        yield cur
    finally:
        _close(cur)
        versions.release(pin)


def actor() -> str:
    """Who writes from the app: the signed-in user's name (the audit log's "who")."""
    try:
        from . import auth

        user = auth.current_user()
    except Exception:  # noqa: BLE001 - outside a script run or without secrets: still audited, as "app"
        user = None
    return str(user.name) if user is not None else "app"


@contextlib.contextmanager
def writer(path: str, action: str | None = None, detail: dict | None = None):
    """One audited write (:func:`csi.data.store.writing`) by the signed-in user: the change runs on a
    private copy and is published as a new version; readers (this process's and other dashboards') keep
    reading the previous one meanwhile and switch at their next read. Settings changed by the block are
    recorded in the audit detail by the store (and name the action "settings" when none is given)."""
    from csi.data import store

    with _WRITE_LOCK:
        with store.writing(path, actor=actor(), action=action, detail=detail) as con:
            yield con
    mark_fresh()  # the writer sees its new version at once; other sessions when this process has prepared it
    clear_caches()


def clear_caches() -> None:
    """Drop cached results (every key holds the data version, so this only frees memory sooner)."""
    st.cache_data.clear()


@st.cache_resource(show_spinner=False, on_release=lambda reg: reg.close())
def jobs() -> JobRegistry:
    """The process's job queue: an interactive and a long lane, one worker each (see app/jobs.py)."""
    return JobRegistry()


def job_owner(purpose: str):
    """Who asks for a background job: this browser session and a purpose (a new request of the same owner
    supersedes its older, now stale one). None outside a script run."""
    try:
        from streamlit.runtime.scriptrunner import get_script_run_ctx

        ctx = get_script_run_ctx()
    except Exception:  # noqa: BLE001 - no Streamlit runtime
        ctx = None
    return (ctx.session_id, purpose) if ctx is not None else None


def supersede_old_versions(path: str, version: str) -> int:
    """Cancel this database's background jobs of another data version (keys are ``(kind, path, version, ...)``):
    once a new version is published their results can no longer be shown. Returns how many were cancelled."""
    def stale(key) -> bool:
        return isinstance(key, tuple) and len(key) > 2 and key[1] == path and key[2] != version
    with _TABLES_LOCK:  # the engine tables and views of the old version can no longer be shown either
        if _TABLES_VERSION.get(path) != version:
            _TABLES_VERSION[path] = version
            _TABLES.clear(keep_version=version)
            _VIEWS.clear(keep_version=version)
    return len(jobs().cancel_where(stale))


def job_lane(n_boot: int) -> str:
    """The overview's resample count (or fewer) runs in the interactive lane; a researcher's larger one in the
    long lane, so it cannot hold up anybody's overview."""
    return "interactive" if int(n_boot) <= overview_bootstrap() else "long"


# ----------------------------------------------------------------- plain data
_DATA_VERSIONS: dict[str, str] = {}  # published version file -> its data_version (such a file never changes)
_DATA_VERSIONS_LOCK = threading.Lock()


def current_version(path: str) -> str:
    """The current version's counter: changes whenever the stored data change. One ``readlink`` names the
    current version file, and a published version file is immutable, so its counter is read from the database
    once per file (a legacy single-file store, changed in place, is read every time)."""
    return _current(path)[0]


def _current(path: str) -> tuple[str, bool]:
    """(current version's counter, whether it is a published version file rather than a legacy single file)."""
    from csi.data import store

    file = store.version_file(path)
    published = file != Path(path) and file.parent.name.endswith(".versions")
    if published:
        with _DATA_VERSIONS_LOCK:
            hit = _DATA_VERSIONS.get(str(file))
        if hit is not None:
            return hit, True
    with reading(path) as con:
        value = str(store.data_version(con))
    if published and str(store.version_file(path)) == str(file):  # still current after the read: it was its counter
        with _DATA_VERSIONS_LOCK:
            if len(_DATA_VERSIONS) >= 64:
                _DATA_VERSIONS.clear()
            _DATA_VERSIONS[str(file)] = value
    return value, published


# ---------------------------------------------- serving the previous version while the new one is prepared
# After a wave is published (a CLI ingest, another replica's or this one's upload) every selection shown must be
# prepared and fitted again for the new version. With 20 viewers that took every replica's CPU for several
# seconds at once, and every page waited (bench/bench_load.py: most of the slow tail). Instead the process keeps
# serving the version it served (its results are in memory) while ONE background thread prepares the new version
# for the selections shown recently (prepared selection, point fits, the engine tables the pages read); then the
# process switches, and the store watcher (streamlit_app._watch_store) reruns every open page onto the new data.
# The switch waits at most CSI_APP_STALE_SECONDS (default 20; 0 switches at once). The session that wrote the new
# version sees it at once (mark_fresh). A legacy single-file store (changed in place) always switches at once.
STALE_ENV = "CSI_APP_STALE_SECONDS"
WARM_MAX = 12  # recent selections prepared for a new version (most recent first)


def stale_seconds() -> float:
    """How long a process may keep serving the previous data version while it prepares the new one."""
    try:
        return max(0.0, float(os.environ.get(STALE_ENV, "20")))
    except ValueError:
        return 20.0


class _Serving:
    """The version a process serves for one store, and the next one being prepared."""

    def __init__(self, version: str):
        self.version, self.next, self.since, self.ready = version, None, 0.0, threading.Event()


_SERVING: dict[str, _Serving] = {}
_SERVING_LOCK = threading.Lock()
_RECENT: dict[str, dict] = {}  # path -> {selection arguments: None}, most recent last (bounded)


def data_version(path: str) -> str:
    """The data version this run shows: the current one, or - for a few seconds after a new version was
    published - the previous one while the new one is prepared in the background (see above). Asked on every
    run; a new version shows without a restart."""
    import time

    current, versioned = _current(path)  # one readlink for both
    start = switched = False
    with _SERVING_LOCK:
        s = _SERVING.get(path)
        if s is None:
            _SERVING[path] = s = _Serving(current)
        if s.version == current:
            _RUN.version = current
            return current
        if not versioned or stale_seconds() <= 0 or not _RECENT.get(path) or (s.next == current and (
                s.ready.is_set() or time.monotonic() - s.since > stale_seconds())):
            s.version, s.next, s.ready, switched = current, None, threading.Event(), True
        elif s.next != current:  # a new version (or a newer one than the one being prepared): prepare it
            if s.next is None:  # the time shown stale counts from the first version not shown yet
                s.since = time.monotonic()
            s.next, s.ready = current, threading.Event()
            start = True
        served, ready, recent = s.version, s.ready, list(_RECENT.get(path, {}))[::-1][:WARM_MAX]
    if switched:
        supersede_old_versions(path, current)
        with contextlib.suppress(Exception):
            _connection(path).release_kept()
        _RUN.version = current
        return current
    if start:
        worker = threading.Thread(target=_prepare_version, args=(path, served, current, recent, ready),
                                  name="csi-prepare-version", daemon=True)
        with contextlib.suppress(Exception):  # Streamlit's caches look for a run context in the calling thread
            from streamlit.runtime.scriptrunner import add_script_run_ctx, get_script_run_ctx

            ctx = get_script_run_ctx(suppress_warning=True)
            if ctx is not None:
                add_script_run_ctx(worker, ctx)
        worker.start()
    _RUN.version = current if _fresh() else served
    return _RUN.version


def _served_version(path: str) -> str | None:
    with _SERVING_LOCK:
        s = _SERVING.get(path)
        return s.version if s is not None else None


def mark_fresh(seconds: float = 60.0) -> None:
    """This session wrote a new version: it sees the current version at once (the others switch when it is
    prepared). Outside a script run: nothing."""
    import time

    with contextlib.suppress(Exception):
        st.session_state["csi_fresh_until"] = time.monotonic() + float(seconds)


def _fresh() -> bool:
    import time

    try:
        return float(st.session_state.get("csi_fresh_until", 0.0)) > time.monotonic()
    except Exception:  # noqa: BLE001 - outside a script run
        return False


def _remember_selection(sel) -> None:
    """Note a selection shown (its arguments and the waves known then) for the next version's preparation."""
    key = (tuple(getattr(sel, "all_waves", ()) or ()), tuple(sel.waves), tuple(sel.filters), sel.model,
           sel.syntax, sel.method, bool(sel.weighted))
    with _SERVING_LOCK:
        recent = _RECENT.setdefault(sel.path, {})
        recent.pop(key, None)
        recent[key] = None
        while len(recent) > WARM_MAX:
            recent.pop(next(iter(recent)))


def next_wave_selection(selected, known, all_waves) -> list[str]:
    """The waves a selection holds after the store's waves changed from ``known`` to ``all_waves``: the selected
    waves still there, plus every new wave (the sidebar's rule, also used to prepare a new version)."""
    kept = [w for w in selected if w in all_waves]
    return (kept + [w for w in all_waves if w not in known and w not in kept]) or list(all_waves)


def _prepare_version(path: str, old: str, new: str, recent: list, ready: threading.Event) -> None:
    """Background: prepare ``new`` for the recent selections (most recent first), then mark it ready. A
    selection that fails here is left to its page (which shows the error)."""
    import logging

    from csi.report import build

    log = logging.getLogger("csi.app")
    _RUN.version = new
    try:
        all_new = tuple(str(w) for w in waves(path, new)["label"])
        segment_values(path, new)
        for known, selected, filters, model, syntax, method, weighted in recent:
            with _SERVING_LOCK:  # a newer version arrived meanwhile: its own thread prepares that one
                s = _SERVING.get(path)
                if s is None or s.next != new:
                    break
            try:
                order = {w: i for i, w in enumerate(all_new)}
                wl = tuple(sorted(next_wave_selection(selected, known, all_new), key=order.get))
                args = (path, new, wl, filters, model, syntax, method, weighted)
                prep = _prepared(*args, overview_bootstrap())
                fits = _point_fits(*args, ("waves",))
                ok = [k for k, f in fits.items() if f.ok]
                if not ok:
                    continue
                latest = fits[ok[-1]]
                head = shared("ov_headline", (prep, fits), lambda: build.headline(prep, fits))
                engine_table(build.alerts_table, prep, fits)
                engine_table(build.trends_table, fits)
                if build.too_small(prep, latest) is None:
                    engine_table(build.priorities_table, prep, latest, targets=[head["target"]])
                    engine_table(build.priorities_table, prep, latest, targets=[head["target"]],
                                 levels=["construct"])
                engine_table(build.bands_table, prep, latest, construct=head["target"])
                if prep.brand_column is not None and prep.brand_frame is not None and len(prep.brand_frame):
                    bfits = _point_fits(*args, ("brands",))
                    engine_table(build.brand_table, prep, bfits)
                    engine_table(build.gap_table, prep, bfits)
            except Exception as e:  # noqa: BLE001 - the page computes it again and shows its own message
                log.info("preparing version %s: a selection failed (%s)", new, type(e).__name__)
    finally:
        ready.set()


@st.cache_data(max_entries=16, show_spinner=False)
def waves(path: str, version: str) -> pd.DataFrame:
    from csi.data import store

    with reading(path, version) as con:
        return store.list_waves(con)


@st.cache_data(max_entries=16, show_spinner=False)
def item_dictionary(path: str, version: str) -> pd.DataFrame:
    from csi.data import store

    with reading(path, version) as con:
        return store.item_dictionary(con)


@st.cache_data(max_entries=8, show_spinner=False)
def settings(path: str, version: str, keys: tuple[str, ...]) -> dict:
    from csi.data import store

    with reading(path, version) as con:
        return {k: store.get_setting(con, k) for k in keys}


@st.cache_resource(max_entries=16, show_spinner=False)
def _responses_of(path: str, version: str, wave_labels: tuple[str, ...] | None) -> pd.DataFrame:
    """Every respondent of the waves, unfiltered: read once per wave set, so a filter change
    (brand, region, channel) only filters in memory instead of reading the database again. Shared by every
    session (a cached resource, not a pickled copy per call: the copy was half of a new selection's preparing);
    never mutate it - the engine's prepare only selects from it."""
    from csi.data import store

    with reading(path, version) as con:
        df = store.load_responses(con, waves=list(wave_labels) if wave_labels else None)
    return df


def columns(path: str, version: str) -> list[str]:
    """The column names of every stored wave (the custom-model editor starts from a template bound to them)."""
    return [str(c) for c in _responses_of(path, version, None).columns]


@st.cache_data(max_entries=16, show_spinner=False)
def wave_scales(path: str, version: str, wave_labels: tuple[str, ...]) -> pd.DataFrame:
    from csi.data import store

    with reading(path, version) as con:
        return store.wave_scales(con, list(wave_labels))


@st.cache_data(max_entries=16, show_spinner=False)
def segment_values(path: str, version: str) -> dict[str, list[str]]:
    """Distinct values of each filter segment over all waves (for the sidebar), by SQL: reading every
    respondent of every wave only to list three columns' values cost ~0.4 s of the first render."""
    from csi.data import store

    with reading(path, version) as con:
        present = set(store.segment_columns(con))
        return {s: sorted(str(v) for v in store.segment_values(con, s)) for s in SEGMENTS if s in present}


# ------------------------------------------------------------------ analysis
# Every number the pages show comes from csi.report.build, the engine behind `python -m csi report` and
# `python -m csi fit`: the selection is prepared once (items answered in every selected wave, survey weights
# whenever complete, own brand and competitor from the store's settings, the store's dictionary texts) and
# the pages render its tables. Nothing here decides a statistical rule.

def overview_bootstrap() -> int:
    """Resamples behind the overview's intervals: the engine's default (``$CSI_APP_BOOTSTRAP`` lowers it)."""
    from csi.report.build import Settings

    return min(bootstrap_default(), Settings().bootstrap)


def engine_settings(sel, n_boot: int | None = None, seed: int = 1):
    """The engine's Settings for the sidebar selection (plain values)."""
    from csi.report.build import Settings

    model = sel.syntax if sel.model == "custom" else sel.model
    return Settings(model=model, method=sel.method, weights=bool(sel.weighted),
                    bootstrap=overview_bootstrap() if n_boot is None else int(n_boot), seed=int(seed),
                    min_n=MIN_RESPONDENTS)


def fingerprint(path: str, version: str) -> str:
    """Identifies the data content, not just the counter: the store's version plus every wave's
    label and file SHA-256 (a rebuilt database can reuse a version number; it cannot reuse both)."""
    import hashlib

    w = waves(path, version)
    text = version + "|" + "|".join(f"{r.label}:{r.sha256}:{r.n_respondents}" for r in w.itertuples())
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _snapshot(path: str, version: str, wave_labels: tuple[str, ...]):
    from csi.report.build import StoreSnapshot

    conf = settings(path, version, ("brand_column", "own_brand", "competitor", "targets"))
    return StoreSnapshot(frame=_responses_of(path, version, tuple(wave_labels)),
                         dictionary=item_dictionary(path, version), scales=wave_scales(path, version, wave_labels),
                         conf=conf, version=f"{version}:{fingerprint(path, version)}", label=Path(path).name)


@st.cache_resource(max_entries=16, show_spinner=False)
def _prepared(path: str, version: str, wave_labels: tuple[str, ...], filters, model: str, syntax: str,
              method: str, weighted: bool, n_boot: int):
    from csi.report.build import Selection, Settings, prepare

    from .ui import split_scope

    real, scope = split_scope(filters)  # a brand scope is enforced by the engine, before anything reads rows
    sel = Selection(waves=tuple(wave_labels), filters=real, own_brand_by_default=False, allowed_brands=scope)
    s = Settings(model=syntax if model == "custom" else model, method=method, weights=bool(weighted),
                 bootstrap=int(n_boot), min_n=MIN_RESPONDENTS)
    return prepare(_snapshot(path, version, tuple(wave_labels)), sel, s)


def prepared(sel, n_boot: int | None = None):
    """The engine's Prepared selection (frame, bound model, scales, weights, brands, notes); shared, never
    mutate. Raises CSIError (a page shows it as a friendly message)."""
    nb = overview_bootstrap() if n_boot is None else int(n_boot)
    _remember_selection(sel)
    return _prepared(sel.path, sel.version, tuple(sel.waves), tuple(sel.filters), sel.model, sel.syntax,
                     sel.method, bool(sel.weighted), nb)


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


def _scope_frame(prep, scope: tuple):
    """(frame, by) of a scope: ("waves",), ("wave", w), ("brands",) (focus wave), ("brands_all",) (every
    selected wave) or ("segment", column) (focus wave)."""
    if scope[0] == "waves":
        return prep.frame, ["wave"]
    if scope[0] == "wave":
        return prep.rows_of(scope[1]), ["wave"]
    if scope[0] in ("brands", "brands_all"):
        from csi.report.build import brand_rows

        return brand_rows(prep, all_waves=scope[0] == "brands_all"), ["wave", prep.brand_column]
    if scope[0] == "segment":
        return prep.rows_of(prep.focus_wave), ["wave", scope[1]]
    raise ValueError(f"unknown scope {scope!r}")


def _estimate(prep, scope: tuple, n_boot: int, cache, progress=None):
    """The engine's group fits of a scope, in this process (app.jobs.fit_frame_groups; one worker)."""
    from .jobs import fit_frame_groups

    frame, by = _scope_frame(prep, scope)
    return fit_frame_groups(prep, by, frame, n_boot, cache, progress=progress)


def _estimate_remote(prep, scope: tuple, n_boot: int, cache) -> Remote:
    """The same work as :func:`_estimate` for a job lane's worker process (app.jobs.Remote): the scope's
    rows are cut here, the fits come back pickled and are kept in ``cache`` (this process's) as in-process."""
    from functools import partial

    from .jobs import adopt_fits, fit_groups_remote

    frame, by = _scope_frame(prep, scope)
    folder = getattr(cache, "directory", None)
    return Remote(partial(fit_groups_remote, prep, list(by), frame, int(n_boot), None if folder is None
                          else str(folder)), finish=partial(adopt_fits, cache))


@st.cache_resource(max_entries=64, show_spinner=False)
def _point_fits(path: str, version: str, wave_labels, filters, model, syntax, method, weighted, scope):
    prep = _prepared(path, version, wave_labels, filters, model, syntax, method, weighted, overview_bootstrap())
    return _estimate(prep, scope, 0, fit_cache(path))


# Engine tables of a run (alerts, priorities, bands, brand and gap tables, trends) cost about 40% of a cached
# overview run, and the finished figures and texts built from them most of the rest; every session showing the
# same selection shares the same Prepared and fits objects (cached resources), so what is derived from them is
# computed once per process: tables are copied out (a page may add columns), figures handed out frozen
# (charts.FrozenFigure), plain values deep-copied. Keys are the objects' ids plus plain values (language, construct,
# ...); the entry holds the objects themselves, so an id cannot be reused while cached. That also keeps them alive:
# the bounds (about eight selections' tables; the views of about eight selections in two languages) keep the extra
# memory below what the _prepared cache (16 selections) holds anyway, and a new data version empties both memos.
class _IdentityMemo:
    """A bounded, thread-safe memo keyed on (name, identity of objects, plain values); least recently used entry
    out first. Single flight: while one session computes a key, the others asking for it wait for that result
    instead of computing it again (after a new data version every session asks for the same tables at once;
    twenty copies of one computation on two cores were the slow tail of a loaded server). Errors are not
    memoised: the computing session raises, and each waiting one computes again itself."""

    def __init__(self, max_entries: int):
        from collections import OrderedDict

        self.max_entries, self.entries, self.inflight = int(max_entries), OrderedDict(), {}
        self.hits = self.misses = self.waits = 0

    def get(self, key: tuple, objs: tuple, compute):
        while True:
            with _TABLES_LOCK:
                hit = self.entries.get(key)
                if hit is not None:
                    self.entries.move_to_end(key)
                    self.hits += 1
                    return hit[1]
                flight = self.inflight.get(key)
                if flight is None:
                    self.inflight[key] = flight = threading.Event()
                    self.misses += 1
                    break
                self.waits += 1
            flight.wait()
            with _TABLES_LOCK:
                hit = self.entries.get(key)
            if hit is not None:
                return hit[1]
            return compute()  # the computing session failed (or the memo was emptied): compute it here
        try:
            value = compute()
            with _TABLES_LOCK:
                if self.inflight.get(key) is flight:  # not emptied by a new data version meanwhile
                    while len(self.entries) >= self.max_entries:
                        self.entries.popitem(last=False)  # the least recently used entry
                    self.entries[key] = (objs, value, getattr(_RUN, "version", None))
            return value
        finally:
            with _TABLES_LOCK:
                if self.inflight.get(key) is flight:
                    del self.inflight[key]
            flight.set()

    def clear(self, keep_version: str | None = None) -> None:
        """Empty the memo; with ``keep_version``, keep the entries computed for that data version (a new
        version's tables prepared in the background before the process switched to it)."""
        if keep_version is None:
            self.entries.clear()
        else:
            for key in [k for k, e in self.entries.items() if e[2] != keep_version]:
                del self.entries[key]
        self.inflight.clear()  # a computation still running for the old version is not stored

    def stats(self) -> str:
        return f"{self.hits}/{self.misses}/{self.waits}"


_TABLES_LOCK = threading.Lock()
_RUN = threading.local()  # .version: the data version the current thread computes for (memo entries carry it)
_TABLES_MAX = 192
_VIEWS_MAX = 384
_TABLES = _IdentityMemo(_TABLES_MAX)
_VIEWS = _IdentityMemo(_VIEWS_MAX)
_TABLES_VERSION: dict[str, str] = {}


def _copy_out(value):
    """What a memo hands out: a copy of anything mutable (frames, dicts, lists), immutables as they are."""
    if isinstance(value, (pd.DataFrame, pd.Series)):
        return value.copy()
    if isinstance(value, (dict, list, set)):
        import copy

        return copy.deepcopy(value)
    if isinstance(value, tuple):
        return tuple(_copy_out(v) for v in value)
    return value


def memo_stats() -> str:
    """hits/misses/waits of the table and view memos (the speed checks' timing line prints them)."""
    return f"tables {_TABLES.stats()} views {_VIEWS.stats()}"


def engine_table(fn, *objs, **kw):
    """``fn(*objs, **kw)`` (a csi.report.build table builder), memoised per process on the identity of its
    inputs; DataFrames come back as copies. Errors are not memoised (they are raised again each time)."""
    key = (fn.__module__, fn.__qualname__, tuple(id(o) for o in objs), repr(sorted(kw.items())))
    return _copy_out(_TABLES.get(key, objs, lambda: fn(*objs, **kw)))


def shared(name: str, objs: tuple, compute, *plain):
    """``compute()`` memoised per process on ``name``, the identity of ``objs`` (the shared Prepared / fits /
    GroupFit objects it reads) and the ``plain`` values (hashable: language, construct, titles' inputs...).
    ``name`` + ``objs`` + ``plain`` must name EVERYTHING ``compute`` depends on. Frames, dicts and lists come
    back as copies; make a figure with :func:`shared_figure`. Errors are not memoised."""
    key = (name, tuple(id(o) for o in objs), plain)
    hash(key)  # plain values must be hashable (an unhashable value would make the key meaningless)
    return _copy_out(_VIEWS.get(key, tuple(objs), compute))


def shared_figure(name: str, objs: tuple, build, *plain):
    """A finished figure (``build()`` -> go.Figure) memoised like :func:`shared` and frozen
    (:class:`app.charts.FrozenFigure`: ``st.plotly_chart`` copies its spec, nobody can change the shared one)."""
    from .charts import FrozenFigure

    return shared(("figure", name), objs, lambda: FrozenFigure(build()), *plain)


def point_fits(sel, scope: tuple = ("waves",)) -> dict:
    """Point estimates (no bootstrap) of a scope: dict key -> csi.compare.GroupFit (keys as the engine's)."""
    return _point_fits(sel.path, sel.version, tuple(sel.waves), tuple(sel.filters), sel.model, sel.syntax,
                       sel.method, bool(sel.weighted), tuple(scope))


def boot_job(sel, scope: tuple, n_boot: int, seed: int = 1, *, start: bool = True, delay: float = 0.0):
    """The background bootstrap of a scope (a :class:`app.jobs.Job`; None if not started).

    Equal requests from any session share one job; the result is a dict key -> GroupFit with ``boot`` and
    ``index_draws``. Seeds are the engine's (derived from ``seed`` and the group key), so a wave bootstrapped
    alone equals the same wave inside the all-waves job and the command line's report.
    """
    key = ("groups", sel.path, sel.version, tuple(sel.waves), sel.filters, sel.model, sel.syntax, sel.method,
           tuple(scope), int(n_boot), int(seed), bool(sel.weighted))
    reg = jobs()
    job = reg.join(key, job_owner(f"boot:{scope[0]}"))
    if job is None and start:
        base = prepared(sel)
        from dataclasses import replace

        prep = replace(base, settings=replace(base.settings, bootstrap=int(n_boot), seed=int(seed)))
        frame, by = _scope_frame(prep, scope)
        n_groups = frame.groupby(by, observed=True, dropna=False).ngroups if frame is not None else 1
        nb, cache = int(n_boot), fit_cache(sel.path)
        job = reg.submit(key, lambda progress: _estimate(prep, scope, nb, cache, progress=progress),
                         total=max(1, nb * n_groups), delay=delay, lane=job_lane(nb),
                         owner=job_owner(f"boot:{scope[0]}"), remote=_estimate_remote(prep, scope, nb, cache))
    return job


@st.cache_data(max_entries=8, show_spinner=False)
def cbsem_fit(path: str, version: str, wave_labels: tuple[str, ...], filters, model: str, syntax: str, wave: str):
    """CB-SEM (csi.engine.cbsem, ML) of one wave of the selection; unweighted (ML has no survey weights)."""
    from csi.engine import cbsem
    from csi.report.build import analysis_rows

    prep = _prepared(path, version, wave_labels, filters, model, syntax, "cbsem", False, 0)
    return cbsem.estimate_cbsem(analysis_rows(prep, wave), prep.spec)


# ----------------------------------------------------------------- downloads
@st.cache_data(max_entries=8, show_spinner=False)
def full_fit(path: str, version: str, wave_labels: tuple[str, ...], filters, model: str, syntax: str, method: str,
             weighted: bool, wave: str, n_boot: int, seed: int):
    """csi.report.build.analyze_selection of one wave: every result table, the manifest, the estimator's
    result (the same call as ``python -m csi fit --db``)."""
    from dataclasses import replace

    from csi.report.build import analyze_selection

    prep = _prepared(path, version, wave_labels, filters, model, syntax, method, weighted, overview_bootstrap())
    prep = replace(prep, settings=replace(prep.settings, bootstrap=int(n_boot), seed=int(seed)))
    return analyze_selection(prepared=prep, wave=wave)


def fit_job(sel, wave: str, n_boot: int, seed: int, start: bool = True):
    """The bootstrapped :func:`full_fit` as a background job (progress = resamples done)."""
    key = ("fit", sel.path, sel.version, tuple(sel.waves), sel.filters, sel.model, sel.syntax, sel.method,
           bool(sel.weighted), wave, int(n_boot), int(seed))
    reg = jobs()
    job = reg.join(key, job_owner("fit"))
    if job is None and start:
        from dataclasses import replace

        from csi.report.build import analyze_selection

        base = prepared(sel)
        prep = replace(base, settings=replace(base.settings, bootstrap=int(n_boot), seed=int(seed)))
        from functools import partial

        job = reg.submit(key, lambda progress: analyze_selection(prepared=prep, wave=wave, progress=progress),
                         total=int(n_boot), lane="long", owner=job_owner("fit"),
                         remote=Remote(partial(analyze_selection, prepared=prep, wave=wave)))
    return job


INDUSTRY_MIN_BRANDS = 3  # with two brands the mean and one's own index would reveal the other brand's


def industry_table(sel) -> tuple[pd.DataFrame | None, int]:
    """The anonymised "Industry" aggregate for a brand-scoped user: per selected wave and construct, the mean
    index over every brand of the programme (the user's scope and brand filter lifted, the other filters
    kept), with the number of brands; only these means leave this function, never a brand's figures or
    respondents. ``(None, n_brands)`` when fewer than :data:`INDUSTRY_MIN_BRANDS` brands were fitted."""
    from csi.report.build import trends_table

    from .ui import split_scope

    real, _ = split_scope(sel.filters)
    unscoped = tuple((c, v) for c, v in real if c != "brand")
    fits = _point_fits(sel.path, sel.version, tuple(sel.waves), unscoped, sel.model, sel.syntax, sel.method,
                       bool(sel.weighted), ("brands_all",))
    tr = trends_table(fits)
    prep = prepared(sel)
    col = prep.brand_column or "brand"
    if tr.empty or col not in tr.columns:
        return None, 0
    n_brands = int(tr[col].nunique())
    if n_brands < INDUSTRY_MIN_BRANDS:
        return None, n_brands
    out = (tr.groupby(["wave", "construct"], observed=True, sort=False)
           .agg(index=("index", "mean"), n_brands=(col, "nunique")).reset_index())
    return out[out["n_brands"] >= INDUSTRY_MIN_BRANDS].reset_index(drop=True), n_brands


def extra_tables(sel) -> dict:
    """Tables of the whole selection beyond one model fit: index trend, wave-over-wave changes, NPS by wave,
    scales in force (the report engine's)."""
    from csi.report import build

    prep = prepared(sel)
    fits = point_fits(sel)
    out = {"trend": build.trends_table(fits), "changes": build.changes_table(prep, fits),
           "nps_by_wave": build.nps_table(prep), "wave_scales": prep.scales}
    return out


def app_manifest(sel, wave: str) -> dict:
    """What the dashboard selected, so a download can be traced back and redone."""
    from .ui import split_scope

    return {"database": Path(sel.path).name, "data_version": sel.version,
            "data_content_fingerprint": fingerprint(sel.path, sel.version), "waves_selected": list(sel.waves),
            "wave_fitted": wave, "filters": {c: list(v) for c, v in split_scope(sel.filters)[0] if v},
            "brand_scope": list(sel.allowed_brands) if sel.allowed_brands is not None else None, "model": sel.model,
            "method": sel.method, "survey_weights": bool(sel.weighted), "language": sel.lang}
