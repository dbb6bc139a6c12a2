"""The one report engine: a selection of survey data + settings -> every table the product shows or writes.

The dashboard's pages, ``python -m csi report``, ``python -m csi fit --db``, the downloads, the HTML report and
the Python API all go through this module, so the same selection gives the same numbers everywhere. It is the
ONE place that

* reads the selection from a store (or takes a frame) and applies the segment filters;
* binds the model to the items answered in EVERY selected wave (a wave that lacks an item is analysed without
  it, and a note says so; it never fails the report);
* decides on survey weights: used whenever the selection has a complete, valid numeric weight column
  (``Settings.weights=True``, the default), off with ``weights=False``, or a named column that must be
  complete; the manifest says which;
* picks the brand column, the own brand and the competitor from the store's settings (overridable);
* takes item and construct texts from the store's (edited) dictionary;
* fits the groups (waves of the focus selection; brands of the focus wave) with one derivation of seeds;
* assembles indices, trends, changes with verdicts, priorities (construct and item level), competitor gap,
  brand and segment indices, multi-group tests, NPS, complaints, bands and the classic views, and a manifest.

Vocabulary. The *selection* is waves x segment filters. The *focus* is the selection's last wave; the *focus
brand* is the brand the selection is about (the own brand unless a brand filter names one). Brand comparisons
(brand indices, competitor gap, MGA) use every brand of the focus wave under the other filters: the brand
filter says whose report it is, it does not hide the competitor.

Shapes: every table is a tidy DataFrame with snake_case columns; nothing is rounded.
"""
from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Literal, Mapping, Sequence

import numpy as np
import pandas as pd

from csi.errors import CSIError, DataError, SpecError
from csi.runtime.provenance import versions

WEIGHT_COLUMN = "weight"
DEFAULT_BRAND_COLUMN = "brand"
SEGMENT_COLUMNS = ("brand", "region", "channel", "gender", "age_group")
MIN_RESPONDENTS = 30   # below this a group is not fitted at all
MIN_VERDICT = 100      # below this (respondents the model used) no significance verdicts and no action lists

Method = Literal["pls", "cbsem"]


# ---------------------------------------------------------------------------- inputs
@dataclass(frozen=True)
class Selection:
    """What is analysed.

    ``waves``: labels in any order (None = every wave). ``filters``: ``((column, (value, ...)), ...)``; an empty
    value tuple means "all". ``brand_column`` / ``own_brand`` / ``competitor``: None = the store's settings.
    ``own_brand_by_default``: when no filter names a brand, the focus is the own brand (the dashboard's first
    view and the CLI's default); ``False`` analyses all brands pooled.
    ``allowed_brands``: a brand scope (a hosted user limited to some brands); None = every brand. :func:`prepare`
    drops every other brand's respondents before anything else reads the data, and refuses a filter that names
    a brand outside the scope (or a scope without a brand column).
    """

    waves: tuple[str, ...] | None = None
    filters: tuple[tuple[str, tuple[str, ...]], ...] = ()
    brand_column: str | None = None
    own_brand: str | None = None
    competitor: str | None = None
    own_brand_by_default: bool = True
    allowed_brands: tuple[str, ...] | None = None

    @staticmethod
    def of(waves=None, segments=None, **kw) -> "Selection":
        """From loose arguments: ``segments`` as ``{col: value or [values]}`` or ``[(col, value), ...]``."""
        filt: dict[str, list[str]] = {}
        if isinstance(segments, Mapping):
            items = segments.items()
        else:
            items = list(segments or [])
        for col, val in items:
            vals = [val] if isinstance(val, str) or not isinstance(val, Sequence) else list(val)
            filt.setdefault(str(col), []).extend(str(v) for v in vals)
        return Selection(waves=tuple(waves) if waves else None,
                         filters=tuple((c, tuple(dict.fromkeys(v))) for c, v in filt.items()), **kw)


@dataclass(frozen=True)
class Settings:
    """How it is analysed (plain values: part of every cache key).

    ``weights``: True = the selection's ``weight`` column whenever it is complete and valid (else unweighted,
    with a note), False = unweighted, a column name = that column (must be complete). ``min_n_verdict``: a group
    whose model used fewer respondents gets no significance verdict and no priorities (a notice says how many are
    needed); ``min_n``: smaller groups are not fitted. ``bootstrap``: resamples
    per group (0 = point estimates only). ``ci``: interval of paths, weights, loadings and effects in the
    one-data-set tables (indices and importances always carry percentile intervals).
    """

    model: str = "ccsi"
    method: Method = "pls"
    scheme: str = "path"
    standardize: bool = True
    plsc: bool = False
    missing: str = "listwise"
    weights: bool | str = True
    bootstrap: int = 500
    seed: int = 1
    ci: str = "percentile"
    alpha: float = 0.05
    target: str | None = None
    min_n: int = MIN_RESPONDENTS
    min_n_verdict: int = MIN_VERDICT

    def estimator(self, weight_col: str | None) -> dict:
        """Keyword settings of ``estimate_pls`` / ``bootstrap_pls`` / ``estimate_groups``."""
        out = {"scheme": self.scheme, "standardize": bool(self.standardize), "plsc": bool(self.plsc),
               "missing": self.missing}
        if weight_col:
            out["weights"] = weight_col
        return out


@dataclass(frozen=True)
class Prepared:
    """A selection read and bound: everything an analysis needs, decided once.

    ``frame``: respondents of the selection (all filters; weight as float). ``brand_frame``: the selected waves
    with every filter but the brand one (brand comparisons). ``spec``: the model bound to ``items``. ``scales``:
    wave_scales table (wave, item, scale_min, scale_max). ``notes``: ``[{code, message, message_zh}]``.
    """

    frame: pd.DataFrame
    brand_frame: pd.DataFrame | None
    spec: Any
    items: tuple[str, ...]
    scales: pd.DataFrame
    dictionary: pd.DataFrame
    waves: tuple[str, ...]
    focus_wave: str
    brand_column: str | None
    focus_brand: str | None
    competitor: str | None
    brands: tuple[str, ...]
    weight_col: str | None
    selection: Selection
    settings: Settings
    source: str
    data_version: str
    notes: tuple[dict, ...] = ()
    missing_items: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    targets: Mapping[str, float] = field(default_factory=dict)

    @property
    def estimator_settings(self) -> dict:
        return self.settings.estimator(self.weight_col)

    def focus_scales(self, wave: str | None = None) -> dict[str, tuple[float, float]]:
        """``{item: (min, max)}`` in force in ``wave`` (default the focus wave) for the bound items."""
        tab = self.scales[self.scales["wave"].astype(str) == str(wave or self.focus_wave)]
        sc = {str(r.item): (float(r.scale_min), float(r.scale_max)) for r in tab.itertuples(index=False)}
        return {i: sc[i] for i in self.items if i in sc}

    def item_texts(self) -> dict[str, tuple[str, str]]:
        """``{item: (text_en, text_zh)}`` from the store's (edited) dictionary."""
        d = self.dictionary
        return {str(r.item): (str(r.text_en or r.item), str(r.text_zh or r.text_en or r.item))
                for r in d.itertuples(index=False)}

    def rows_of(self, wave: str, frame: pd.DataFrame | None = None) -> pd.DataFrame:
        f = self.frame if frame is None else frame
        return f[f["wave"].astype(str) == str(wave)]

    def weights_of(self, rows: pd.DataFrame) -> np.ndarray | None:
        return rows[self.weight_col].to_numpy(float) if self.weight_col else None


@dataclass(frozen=True)
class StoreSnapshot:
    """What :func:`prepare` reads from a store, already read (the dashboard keeps these in its caches):
    ``frame`` = ``store.load_responses`` of the waves, ``dictionary``, ``scales`` = ``store.wave_scales``,
    ``conf`` = the settings brand_column / own_brand / competitor, ``version`` = data version + content hash."""

    frame: pd.DataFrame
    dictionary: pd.DataFrame
    scales: pd.DataFrame
    conf: Mapping[str, str | None]
    version: str
    label: str = "database"


def _note(code: str, en: str, zh: str) -> dict:
    return {"code": code, "message": en, "message_zh": zh}


# ------------------------------------------------------------------------- reading
def _read_store(source, selection: Selection):
    """(frame, dictionary, scales, settings{brand_column, own_brand, competitor}, data_version, label)."""
    from csi.data import store

    own_con = not hasattr(source, "execute")
    if own_con:
        path = Path(source)
        if not path.is_file():
            raise DataError(f"database {str(path)!r} not found (create one with: python -m csi demo --db {path})")
        con = store.connect(path, read_only=True)
        label = path.name
    else:
        con, label = source, "connection"
    try:
        all_waves = store.wave_labels(con)
        if not all_waves:
            raise DataError("the database holds no waves yet (load one with: python -m csi ingest FILE --wave LABEL)")
        waves = [w for w in all_waves if selection.waves is None or w in set(selection.waves)]
        unknown = [w for w in (selection.waves or ()) if w not in all_waves]
        if unknown:
            raise DataError(f"unknown wave{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))} "
                            f"(waves: {', '.join(all_waves)})")
        frame = store.load_responses(con, waves)
        dictionary = store.item_dictionary(con)
        scales = store.wave_scales(con, waves)
        conf = {k: store.get_setting(con, k) for k in ("brand_column", "own_brand", "competitor", "targets")}
        version = str(store.data_version(con))
        fp_rows = store.list_waves(con)
        fingerprint = hashlib.sha256("|".join(f"{r.label}:{r.sha256}:{r.n_respondents}"
                                              for r in fp_rows.itertuples()).encode()).hexdigest()[:16]
    finally:
        if own_con:
            con.close()
    return frame, dictionary, scales, conf, f"{version}:{fingerprint}", label


def _frame_scales(frame: pd.DataFrame, dictionary: pd.DataFrame, scale) -> pd.DataFrame:
    """A wave_scales table for a frame: ``scale`` (min, max) for every item, else the dictionary's bounds."""
    waves = [str(w) for w in pd.unique(frame["wave"].astype(str))]
    d = dictionary.set_index("item")
    rows = []
    for c in frame.columns:
        if scale is not None and (c in d.index or pd.api.types.is_numeric_dtype(frame[c])):
            lo, hi = scale
        elif c in d.index:
            lo, hi = d.at[c, "scale_min"], d.at[c, "scale_max"]
        else:
            continue
        rows += [{"wave": w, "item": c, "scale_min": float(lo), "scale_max": float(hi)} for w in waves]
    return pd.DataFrame(rows, columns=["wave", "item", "scale_min", "scale_max"])


def _apply(frame: pd.DataFrame, filters, skip: str | None = None) -> pd.DataFrame:
    mask = pd.Series(True, index=frame.index)
    for col, values in filters:
        if col == skip or not values:
            continue
        if col not in frame.columns:
            raise DataError(f"no segment column {col!r} in the selection "
                            f"(segments: {', '.join(c for c in frame.columns if c in SEGMENT_COLUMNS) or 'none'})")
        mask &= frame[col].astype(str).isin([str(v) for v in values])
    return frame.loc[mask].reset_index(drop=True)


def _brand_scope(frame: pd.DataFrame, selection: Selection, conf: Mapping) -> pd.DataFrame:
    """Only the respondents of ``selection.allowed_brands`` (see :class:`Selection`)."""
    allowed = {str(b) for b in selection.allowed_brands}
    col = selection.brand_column or conf.get("brand_column") or DEFAULT_BRAND_COLUMN
    if col not in frame.columns:
        raise DataError(f"a brand scope needs the brand column {col!r}, which these data do not have")
    outside = sorted({str(v) for c, vals in selection.filters if c == col for v in vals} - allowed)
    if outside:
        raise DataError(f"brand{'s' if len(outside) > 1 else ''} {', '.join(map(repr, outside))} "
                        "outside this user's brand scope")
    return frame.loc[frame[col].astype(str).isin(allowed)].reset_index(drop=True)


def survey_weights(frame: pd.DataFrame, setting: bool | str, notes: list) -> str | None:
    """The one rule for survey weights: the weight column to use, or None (see :class:`Settings`). The column
    becomes float in ``frame``; a default column that is incomplete or invalid adds a note to ``notes``."""
    if setting is False or setting is None:
        return None
    col = WEIGHT_COLUMN if setting is True else str(setting)
    if col not in frame.columns:
        if setting is not True:
            raise DataError(f"no survey-weight column {col!r} in the selection")
        return None
    w = frame[col]
    w = pd.to_numeric(w.str.strip() if w.dtype == object else w, errors="coerce")
    bad = int((~np.isfinite(w.to_numpy(float, na_value=np.nan)) | (w < 0)).sum())
    if bad or len(w) == 0 or float(w.sum()) <= 0:
        if setting is not True:
            raise DataError(f"survey weight {col!r} is missing, non-numeric or negative for {bad} respondent(s)")
        notes.append(_note("weights_incomplete",
                           f"survey weights not used: {bad} of {len(w)} respondents have no valid weight",
                           f"未使用调查权重：{len(w)} 名受访者中有 {bad} 名没有有效权重"))
        return None
    frame[col] = w.to_numpy(float)
    return col


def prepare(source, selection: Selection | None = None, settings: Settings | None = None, *,
            dictionary: pd.DataFrame | None = None, scale=None) -> Prepared:
    """Read and bind a selection. ``source``: a database path, an open DuckDB connection, or a DataFrame (one
    row per respondent; a ``wave`` column optional; ``dictionary`` defaults to the built-in one and ``scale`` is
    (min, max) for every item when the dictionary does not know the items)."""
    from csi.model.templates import load_model

    selection = selection or Selection()
    settings = settings or Settings()
    if settings.method not in ("pls", "cbsem"):
        raise SpecError(f"unknown method {settings.method!r}; choose pls or cbsem")
    if isinstance(source, pd.DataFrame):
        from csi.model.dictionary import DEFAULT_ITEMS

        frame = source.copy()
        if "wave" not in frame.columns:
            frame.insert(0, "wave", "all")
        if not isinstance(frame["wave"].dtype, pd.CategoricalDtype):
            order = list(dict.fromkeys(frame["wave"].astype(str)))
            frame["wave"] = pd.Categorical(frame["wave"].astype(str), categories=order, ordered=True)
        dictionary = DEFAULT_ITEMS.copy() if dictionary is None else dictionary
        if selection.waves is not None:
            frame = frame[frame["wave"].astype(str).isin(selection.waves)].reset_index(drop=True)
        scales = _frame_scales(frame, dictionary, scale)
        conf = {"brand_column": None, "own_brand": None, "competitor": None}
        version = "frame:" + hashlib.sha256(pd.util.hash_pandas_object(frame, index=False).to_numpy()
                                            .tobytes()).hexdigest()[:16]
        label = "frame"
    elif isinstance(source, StoreSnapshot):
        frame, dictionary, scales, conf, version, label = (source.frame, source.dictionary, source.scales,
                                                           dict(source.conf), source.version, source.label)
        if selection.waves is not None:
            labels = frame["wave"].astype(str)  # once: a set built per wave iterated every row again (~0.3 s)
            present = set(labels.unique())
            unknown = [w for w in selection.waves if w not in present]
            if unknown:
                raise DataError(f"unknown wave{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}")
            frame = frame[labels.isin(selection.waves)]
            scales = scales[scales["wave"].astype(str).isin(selection.waves)]
    else:
        frame, dictionary, scales, conf, version, label = _read_store(source, selection)
    if selection.allowed_brands is not None:
        frame = _brand_scope(frame, selection, conf)
    notes: list[dict] = []

    # ---- brands
    brand_col = selection.brand_column or conf.get("brand_column") or DEFAULT_BRAND_COLUMN
    brand_col = brand_col if brand_col in frame.columns else None
    filters = tuple((c, tuple(v)) for c, v in selection.filters if v)
    brand_filter = next((v for c, v in filters if c == brand_col), None)
    brands_all = tuple(sorted(str(b) for b in pd.unique(frame[brand_col].dropna()))) if brand_col else ()
    own = selection.own_brand or conf.get("own_brand")
    own = own if own in brands_all else None
    if brand_col and brand_filter is None and selection.own_brand_by_default and own is not None:
        filters = filters + ((brand_col, (own,)),)
        brand_filter = (own,)
    focus_brand = None
    if brand_col:
        if brand_filter is not None and len(brand_filter) == 1:
            focus_brand = str(brand_filter[0])
        elif brand_filter is None and len(brands_all) == 1:
            focus_brand = brands_all[0]

    sel_frame = _apply(frame, filters)
    if sel_frame.empty:
        shown = "; ".join(f"{c}=" + "/".join(v) for c, v in filters) or "none"
        raise DataError("no respondents in the selection (waves: "
                        f"{', '.join(selection.waves or ()) or 'all'}; filters: {shown})")
    waves = tuple(str(w) for w in sel_frame["wave"].cat.categories if (sel_frame["wave"] == w).any())
    focus_wave = waves[-1]
    brand_frame = None
    competitor = None
    if brand_col:
        brand_frame = _apply(frame, filters, skip=brand_col)
        focus_rows = brand_frame[brand_frame["wave"].astype(str) == focus_wave]
        present = [str(b) for b in sorted(pd.unique(focus_rows[brand_col].dropna()))]
        want = selection.competitor or conf.get("competitor")
        if focus_brand is not None:
            others = [b for b in present if b != focus_brand]
            competitor = want if want in others else (others[0] if others else None)
            if competitor is not None and want not in others and len(others) > 1:
                notes.append(_note("competitor_default",
                                   f"no competitor set for {focus_brand}; the gap and the group test use "
                                   f"{competitor} (store setting 'competitor')",
                                   f"未设置 {focus_brand} 的竞争对手；差距与多组检验使用 {competitor}"))

    # ---- items answered in every selected wave
    rating = set(dictionary["item"])
    cols = [c for c in sel_frame.columns if c in rating]
    answered = sel_frame[cols].notna().groupby(sel_frame["wave"], observed=True).any()
    hit = answered.to_numpy(bool)  # waves × items (label lookups per cell cost ~20 ms per selection)
    everywhere, somewhere = hit.all(axis=0), hit.any(axis=0)
    items = tuple(c for c, ok in zip(cols, everywhere) if ok)
    missing = {str(w): tuple(c for c, h, any_ in zip(cols, row, somewhere) if not h and any_)
               for w, row in zip(answered.index, hit)}
    missing = {w: v for w, v in missing.items() if v}
    for w, its in missing.items():
        notes.append(_note("wave_lacks_items",
                           f"wave {w} lacks item{'s' if len(its) > 1 else ''} {', '.join(its)}: every wave is "
                           f"analysed without {'them' if len(its) > 1 else 'it'}, so the waves stay comparable",
                           f"第 {w} 期缺少题项 {', '.join(its)}：各期均不含该题项进行分析，以保持可比"))
    spec = load_model(settings.model, items=list(items))
    spec.check_columns(sel_frame.columns, "the selected data")

    weight_col = survey_weights(sel_frame, settings.weights, notes)
    if brand_frame is not None and weight_col:
        brand_frame = brand_frame.copy()
        bw = pd.to_numeric(brand_frame[weight_col], errors="coerce")
        if bw.notna().all() and (bw >= 0).all():
            brand_frame[weight_col] = bw.to_numpy(float)
        else:
            brand_frame = brand_frame.drop(columns=[weight_col]).assign(**{weight_col: np.nan})
    if settings.method == "cbsem" and weight_col:
        notes.append(_note("cbsem_unweighted", "CB-SEM (ML) has no survey weights: the CB-SEM fit is unweighted",
                           "CB-SEM（最大似然）不支持调查权重：CB-SEM 结果未加权"))
    targets = parse_targets(conf.get("targets"))
    return Prepared(targets=targets, frame=sel_frame, brand_frame=brand_frame, spec=spec, items=tuple(spec.indicators),
                    scales=scales, dictionary=dictionary, waves=waves, focus_wave=focus_wave,
                    brand_column=brand_col, focus_brand=focus_brand, competitor=competitor, brands=brands_all,
                    weight_col=weight_col, selection=replace(selection, filters=filters), settings=settings,
                    source=label, data_version=version, notes=tuple(notes), missing_items=missing)


# ---------------------------------------------------------------------------- fits
def fit_groups(prep: Prepared, by: Sequence[str], *, frame: pd.DataFrame | None = None, n_boot: int | None = None,
               cache=None, workers: int = 1, progress=None, boot_progress=None, boot_options=None,
               **group_kw) -> dict:
    """``csi.compare.estimate_groups`` with the prepared model, scales, weights and seed (``group_kw``: its
    ``executor``, ``keep``, ``results``, ``stats``).

    The fit cache is keyed on content (the group's rows, model, settings, scales, group, resamples, seed), not on
    the store's data version: a new wave leaves every other wave's cached fits and bootstraps valid, so after an
    ingest only the new wave is fitted (the version added nothing the rows' hash did not already say)."""
    from csi.compare.groups import estimate_groups

    f = prep.frame if frame is None else frame
    settings = prep.estimator_settings
    if settings.get("weights") and not f[settings["weights"]].notna().all():
        settings = {k: v for k, v in settings.items() if k != "weights"}
    extra = {}
    if progress is not None:
        extra["progress"] = progress
    if boot_progress is not None:
        extra["boot_progress"] = boot_progress
    if boot_options:
        extra["boot_options"] = boot_options
    return estimate_groups(f, prep.spec, list(by), prep.scales,
                           n_boot=prep.settings.bootstrap if n_boot is None else int(n_boot),
                           seed=prep.settings.seed, cache=cache, workers=workers,
                           min_n=prep.settings.min_n, **extra, **group_kw, **settings)


def wave_fits(prep: Prepared, **kw) -> dict:
    """One fit per wave of the focus selection: key ``(wave,)``."""
    return fit_groups(prep, ["wave"], **kw)


def brand_rows(prep: Prepared, all_waves: bool = False) -> pd.DataFrame | None:
    """Respondents of every brand (brand filter lifted) in the focus wave, or in every selected wave."""
    if prep.brand_frame is None:
        return None
    return prep.brand_frame if all_waves else prep.rows_of(prep.focus_wave, prep.brand_frame)


def brand_fits(prep: Prepared, all_waves: bool = False, **kw) -> dict:
    """One fit per brand of the focus wave (or of every selected wave), brand filter lifted: key
    ``(wave, brand)``; {} without brands."""
    rows = brand_rows(prep, all_waves)
    if rows is None or rows.empty:
        return {}
    return fit_groups(prep, ["wave", prep.brand_column], frame=rows, **kw)


# ------------------------------------------------------------------------- tables
def labels_table(codes: Sequence[str]) -> tuple[list[str], list[str]]:
    from csi.model.dictionary import CONSTRUCT_LABELS

    return ([CONSTRUCT_LABELS.get(c, (c, c))[0] for c in codes], [CONSTRUCT_LABELS.get(c, (c, c))[1] for c in codes])


def with_labels(df: pd.DataFrame, col: str = "construct") -> pd.DataFrame:
    out = df.copy()
    en, zh = labels_table([str(c) for c in out[col]])
    pos = out.columns.get_loc(col) + 1
    out.insert(pos, "label_en", en)
    out.insert(pos + 1, "label_zh", zh)
    return out


def focus_fit(prep: Prepared, fits: Mapping):
    """The focus wave's fit (raises DataError naming why it failed)."""
    f = fits.get((prep.focus_wave,))
    if f is None or not f.ok:
        why = f.error if f is not None else "no respondents"
        raise DataError(f"the focus wave {prep.focus_wave}"
                        f"{' (' + prep.focus_brand + ')' if prep.focus_brand else ''} cannot be analysed: {why}")
    return f


def indices_table(prep: Prepared, fit) -> pd.DataFrame:
    idx = with_labels(fit.index)
    idx.insert(0, "wave", prep.focus_wave)
    idx.insert(1, "brand", prep.focus_brand)
    return idx


def trends_table(fits: Mapping) -> pd.DataFrame:
    from csi.compare.groups import trend

    tr = trend(fits)
    lead = list(tr.columns[:list(tr.columns).index("construct")])  # the group's columns (wave, brand, ...)
    cols = lead + ["construct", "index", "ci_low", "ci_high", "n"]
    return with_labels(tr[cols]) if len(tr) else tr[cols]


def n_used(fit) -> int:
    """Respondents the group's model was estimated on (after listwise deletion)."""
    return int(fit.result.info.get("n_used", fit.n)) if fit is not None and fit.ok else 0


def too_small(prep: Prepared, *fits) -> int | None:
    """The smallest n used among ``fits`` when it is below ``Settings.min_n_verdict`` (else None)."""
    n = min(n_used(f) for f in fits)
    return n if n < prep.settings.min_n_verdict else None


def _withhold(prep: Prepared, table: pd.DataFrame, n: int) -> pd.DataFrame:
    """No verdict on too few respondents: ``significant`` NA and the verdict says why."""
    out = table.copy()
    out["significant"] = pd.array([pd.NA] * len(out), dtype="boolean")
    need = prep.settings.min_n_verdict
    if "verdict_en" in out.columns:
        out["verdict_en"] = f"no verdict: {n} respondents, {need} needed"
        out["verdict_zh"] = f"不作判断：仅 {n} 名受访者，至少需要 {need} 名"
    return out


def changes_table(prep: Prepared, fits: Mapping) -> pd.DataFrame:
    """Wave over wave for consecutive fitted waves: wave_from, wave_to, construct, labels, index_a, index_b, change,
    ci_low, ci_high, significant, verdict_en, verdict_zh (no verdict when a wave's model used fewer than
    ``min_n_verdict`` respondents)."""
    from csi.compare.groups import wave_change

    ordered = [fits[(w,)] for w in prep.waves if (w,) in fits and fits[(w,)].ok]
    steps = []
    for a, b in zip(ordered, ordered[1:]):
        ch = with_labels(wave_change(a, b, alpha=prep.settings.alpha))
        small = too_small(prep, a, b)
        if small is not None:
            ch = _withhold(prep, ch, small)
        ch.insert(0, "wave_to", b.key[0])
        ch.insert(0, "wave_from", a.key[0])
        steps.append(ch)
    if not steps:
        return pd.DataFrame(columns=["wave_from", "wave_to", "construct", "label_en", "label_zh", "index_a",
                                     "index_b", "change", "ci_low", "ci_high", "significant", "verdict_en",
                                     "verdict_zh"])
    return pd.concat(steps, ignore_index=True)


def priority_targets(spec) -> list[str]:
    return [t for t in ("SAT", "LOY") if t in spec.constructs and spec.predecessors(t)]


def priorities_table(prep: Prepared, fit, targets: Sequence[str] | None = None,
                     levels: Sequence[str] = ("construct", "indicator")) -> pd.DataFrame:
    """IPMA of the focus fit for satisfaction and loyalty, construct and item level, item texts from the store's
    dictionary. Raises DataError (shown as a notice) when the model used fewer than ``min_n_verdict`` respondents:
    an action list on a handful of answers would be noise presented as advice."""
    from csi.analytics.priorities import ipma

    small = too_small(prep, fit)
    if small is not None:
        raise DataError(f"too few respondents for priorities: the model used {small}, at least "
                        f"{prep.settings.min_n_verdict} are needed (widen the selection)")

    targets = list(targets) if targets is not None else priority_targets(prep.spec)
    if prep.settings.target:
        targets = [prep.settings.target]
    sc = prep.focus_scales(fit.key[0] if fit.key else None)
    out = [ipma(fit.result, sc, target=t, level=lv, boot=fit.boot, alpha=prep.settings.alpha,
                labels=prep.item_texts())
           for t in targets for lv in levels]
    if not out:
        return pd.DataFrame(columns=["driver", "target", "level", "importance", "performance", "quadrant", "rank"])
    return pd.concat(out, ignore_index=True)


def brand_table(prep: Prepared, fits: Mapping) -> pd.DataFrame:
    """Indices of every brand of the focus wave: wave, brand, construct, labels, index, ci_low, ci_high, n."""
    tr = trends_table(fits)
    if tr.empty:
        return tr
    return tr.rename(columns={prep.brand_column: "brand"}) if prep.brand_column != "brand" else tr


def gap_table(prep: Prepared, fits: Mapping, waves: Sequence[str] | None = None) -> pd.DataFrame:
    """Focus brand minus competitor in the focus wave (or in each of ``waves``); empty without both."""
    from csi.compare.groups import competitor_gap

    cols = ["wave", "own_brand", "competitor_brand", "construct", "label_en", "label_zh", "own", "competitor",
            "gap", "ci_low", "ci_high", "significant"]
    rows = []
    for w in (waves or [prep.focus_wave]):
        own = fits.get((w, str(prep.focus_brand))) if prep.focus_brand else None
        comp = fits.get((w, str(prep.competitor))) if prep.competitor else None
        if own is None or comp is None or not own.ok or not comp.ok:
            continue
        g = with_labels(competitor_gap(own, comp, alpha=prep.settings.alpha))
        small = too_small(prep, own, comp)
        if small is not None:
            g = _withhold(prep, g, small)
        g.insert(0, "competitor_brand", prep.competitor)
        g.insert(0, "own_brand", prep.focus_brand)
        g.insert(0, "wave", w)
        rows.append(g[cols])
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=cols)


def mga_table(prep: Prepared, fits: Mapping, n_perm: int | None = None, executor=None) -> pd.DataFrame:
    """Paths of the focus brand vs the competitor in the focus wave: permutation test and Henseler's MGA.
    ``executor``: the permutation test's chunks run there (the same table; csi.compare.groups.mga_permutation)."""
    from csi.compare.groups import mga, mga_permutation

    cols = ["wave", "group_a", "group_b", "from", "to", "estimate_a", "estimate_b", "diff", "p_permutation",
            "p_bootstrap", "p_henseler", "significant"]
    own = fits.get((prep.focus_wave, str(prep.focus_brand))) if prep.focus_brand else None
    comp = fits.get((prep.focus_wave, str(prep.competitor))) if prep.competitor else None
    if own is None or comp is None or not own.ok or not comp.ok:
        return pd.DataFrame(columns=cols)
    bf, bc = brand_rows(prep), prep.brand_column
    a = bf[bf[bc].astype(str) == str(prep.focus_brand)]
    b = bf[bf[bc].astype(str) == str(prep.competitor)]
    settings = prep.estimator_settings
    B = prep.settings.bootstrap
    n_perm = max(B, 100) if n_perm is None else int(n_perm)
    if prep.spec.is_extended:  # HOC / interaction: the permutation test would re-run both stages; Henseler's only
        g = _mga_extended(own.boot, comp.boot)
    elif B >= 2 and own.boot is not None and comp.boot is not None:
        g = mga(a, b, prep.spec, n_perm=n_perm, seed=prep.settings.seed, boot_a=own.boot, boot_b=comp.boot,
                executor=executor, **settings)
    else:
        g = mga_permutation(a, b, prep.spec, n_perm=n_perm, seed=prep.settings.seed, executor=executor,
                            **settings)
        g = g.drop(columns=["n_perm_used"]).assign(p_bootstrap=np.nan, p_henseler=np.nan)
    g = g[[c for c in cols if c in g.columns]]
    g.insert(0, "group_b", str(prep.competitor))
    g.insert(0, "group_a", str(prep.focus_brand))
    g.insert(0, "wave", prep.focus_wave)
    return g[cols]


# ------------------------------------------------ MICOM and the group test (csi.compare.micom)
def micom_table(prep: Prepared, n_perm: int | None = None, executor=None) -> pd.DataFrame:
    """MICOM steps 2-3 of the focus brand vs the competitor in the focus wave (before the ``groups`` MGA):
    wave, group_a, group_b + :data:`csi.compare.micom.COLUMNS`; empty without both brands. ``executor``: the
    permutations' chunks run there (the same table, bit for bit; csi.compare.micom.micom)."""
    from csi.compare.micom import COLUMNS, micom

    cols = ["wave", "group_a", "group_b", *COLUMNS]
    if not (prep.focus_brand and prep.competitor) or prep.brand_frame is None or prep.spec.is_extended:
        return pd.DataFrame(columns=cols)
    bf, bc = brand_rows(prep), prep.brand_column
    a = bf[bf[bc].astype(str) == str(prep.focus_brand)]
    b = bf[bf[bc].astype(str) == str(prep.competitor)]
    n_perm = max(prep.settings.bootstrap, 100) if n_perm is None else int(n_perm)
    m = micom(a, b, prep.spec, n_perm=n_perm, seed=prep.settings.seed, alpha=prep.settings.alpha,
              executor=executor, **prep.estimator_settings)
    return m.assign(wave=prep.focus_wave, group_a=str(prep.focus_brand), group_b=str(prep.competitor))[cols]


def group_rows(prep: Prepared, segment: str) -> pd.DataFrame:
    """The respondents a group test of ``segment`` compares: the sidebar's selection in the focus wave (every
    filter applied); for the brand column, every brand of it (only the brand filter lifted)."""
    if segment == prep.brand_column and prep.brand_frame is not None:
        return brand_rows(prep)
    return prep.rows_of(prep.focus_wave)


def group_test(prep: Prepared, segment: str, a: str, b: str, *, n_perm: int = 1000, seed: int | None = None,
               progress=None, executor=None) -> dict:
    """MICOM, then the MGA of paths, of groups ``a`` and ``b`` of ``segment`` (rows: :func:`group_rows`).
    Returns ``{"n": {a: n_a, b: n_b}, "micom": table, "mga": table}`` (``micom`` empty for extended models).
    ``executor``: MICOM's and the MGA permutation test's chunks run there (the same tables)."""
    from csi.compare.groups import mga
    from csi.compare.micom import COLUMNS, micom

    frame = group_rows(prep, segment)
    da = frame[frame[segment].astype(str) == str(a)]
    db = frame[frame[segment].astype(str) == str(b)]
    seed = prep.settings.seed if seed is None else int(seed)
    settings = prep.estimator_settings
    m = (pd.DataFrame(columns=COLUMNS) if prep.spec.is_extended else
         micom(da, db, prep.spec, n_perm=n_perm, seed=seed, alpha=prep.settings.alpha, executor=executor,
               **settings))
    if prep.spec.is_extended:
        from csi.engine.bootstrap import bootstrap_pls

        boots = [bootstrap_pls(d, prep.spec, n_boot=n_perm, seed=seed + k, jackknife=False, **settings)
                 for k, d in enumerate((da, db))]
        g = _mga_extended(*boots)
    else:
        g = mga(da, db, prep.spec, n_perm=n_perm, n_boot=n_perm, seed=seed, executor=executor, **settings)
    return {"n": {str(a): int(len(da)), str(b): int(len(db))}, "micom": m, "mga": g}


def _mga_extended(boot_a, boot_b) -> pd.DataFrame:
    """MGA of a higher-order / interaction model: Henseler's bootstrap test on the two groups' bootstraps (each
    re-estimates both stages); no permutation test (``p_permutation`` NaN; ``significant`` from p_bootstrap)."""
    from csi.compare.groups import mga_bootstrap

    cols = ["from", "to", "estimate_a", "estimate_b", "diff", "p_permutation", "p_bootstrap", "p_henseler",
            "significant"]
    if boot_a is None or boot_b is None:
        return pd.DataFrame(columns=cols)
    return mga_bootstrap(boot_a, boot_b).assign(p_permutation=np.nan)[cols]


def simple_slopes_table(fit) -> pd.DataFrame | None:
    """Simple slopes of an interaction model's fit (:func:`csi.engine.interaction.simple_slopes`), else None."""
    res = getattr(fit, "result", None)
    if res is None or not getattr(res, "info", {}).get("extended", {}).get("interactions"):
        return None
    from csi.engine.interaction import simple_slopes

    return simple_slopes(res, getattr(fit, "boot", None))


def recommend_item(prep: Prepared) -> str | None:
    d = prep.dictionary
    return next((i for i in d.loc[d["kind"] == "recommend", "item"]
                 if i in prep.frame.columns and prep.frame[i].notna().any()), None)


def nps_table(prep: Prepared, frame: pd.DataFrame | None = None, by: Sequence[str] = ("wave",)) -> pd.DataFrame:
    """NPS of the selection per wave (the dictionary's ``recommend`` item); empty without one."""
    from csi.analytics.loyalty import nps_by

    rec = recommend_item(prep)
    if rec is None:
        return pd.DataFrame(columns=[*by, "nps", "ci_low", "ci_high", "n"])
    f = prep.frame if frame is None else frame
    return nps_by(f, rec, list(by), weights_col=prep.weight_col)


def complaints_table(prep: Prepared) -> pd.DataFrame | None:
    """Complaint rate and handling per wave, when the dictionary has a ``binary`` complaint item."""
    from csi.analytics.loyalty import complaints

    d = prep.dictionary
    f = prep.frame
    comp = next((i for i in d.loc[d["kind"] == "binary", "item"] if i in f.columns and f[i].notna().any()), None)
    if comp is None:
        return None
    handling = next((i for i in d.loc[(d["construct"] == "COMP") & (d["kind"] == "rating"), "item"]
                     if i in f.columns and f[i].notna().any()), None)
    hscale = None
    if handling is not None:
        tab = prep.scales[(prep.scales["item"] == handling) & (prep.scales["wave"].astype(str) == prep.focus_wave)]
        hscale = (float(tab["scale_min"].iloc[0]), float(tab["scale_max"].iloc[0])) if len(tab) else None
        handling = handling if hscale is not None else None
    return complaints(f, comp, handling, hscale, by=["wave"], weights_col=prep.weight_col)


def bands_table(prep: Prepared, fit, construct: str = "SAT") -> pd.DataFrame | None:
    """Shares of the focus respondents' 0-100 ``construct`` scores in the five bands."""
    from csi.analytics.index import construct_scores_0_100
    from csi.analytics.loyalty import satisfaction_bands

    if construct not in prep.spec.constructs:
        return None
    rows = prep.rows_of(fit.key[0])
    s100 = construct_scores_0_100(fit.result, rows, prep.focus_scales(fit.key[0]))[construct]
    w = rows.loc[s100.index, prep.weight_col].to_numpy(float) if prep.weight_col else None
    return satisfaction_bands(s100.to_numpy(float), weights=w)


# --- verbatims (open-text answers; csi.analytics.verbatims)
def respondent_scores(prep: Prepared, fits: Mapping, construct: str = "SAT") -> pd.DataFrame:
    """Each analysed respondent's 0-100 ``construct`` score from its wave's fit (the scores behind
    :func:`bands_table`): ``wave, respondent_id, satisfaction`` (NaN when an item is missing); empty when the
    model has no such construct."""
    from csi.analytics.index import construct_scores_0_100

    parts = []
    if construct in prep.spec.constructs:
        for key, f in fits.items():
            if len(key) != 1 or not getattr(f, "ok", False):
                continue
            rows = prep.rows_of(key[0])
            s100 = construct_scores_0_100(f.result, rows, prep.focus_scales(key[0]))[construct]
            parts.append(pd.DataFrame({"wave": str(key[0]), "respondent_id": rows["respondent_id"].astype(str),
                                       "satisfaction": s100.to_numpy(float)}))
    return (pd.concat(parts, ignore_index=True) if parts else
            pd.DataFrame({"wave": [], "respondent_id": [], "satisfaction": []}).astype({"satisfaction": float}))


def read_texts(source, prep: Prepared, search: str | None = None) -> pd.DataFrame | None:
    """The stored verbatims of the prepared waves (``store.load_texts``); None when ``source`` is no store."""
    from csi.data import store

    if source is None or isinstance(source, (pd.DataFrame, StoreSnapshot)):
        return None
    if hasattr(source, "execute"):
        return store.load_texts(source, waves=list(prep.waves), search=search)
    con = store.connect(Path(source), read_only=True)
    try:
        return store.load_texts(con, waves=list(prep.waves), search=search)
    finally:
        con.close()


def verbatims_joined(prep: Prepared, fits: Mapping, texts: pd.DataFrame) -> pd.DataFrame:
    """The verbatims of the selection's respondents (brand scope and filters applied by the join) with their
    segments and satisfaction (csi.analytics.verbatims.join_verbatims)."""
    from csi.analytics.verbatims import join_verbatims

    segs = [c for c in prep.frame.columns if c not in ("wave", "respondent_id", prep.weight_col or "weight")
            and c not in set(prep.dictionary["item"]) and prep.frame[c].dtype == object]
    return join_verbatims(texts, prep.frame, respondent_scores(prep, fits), segments=segs)


def verbatims_tables(prep: Prepared, fits: Mapping, texts: pd.DataFrame | None) -> dict[str, pd.DataFrame]:
    """``{"verbatims_themes": theme counts per driver}`` when the selection has verbatims, else {}."""
    from csi.analytics.verbatims import theme_counts

    if texts is None or texts.empty:
        return {}
    joined = verbatims_joined(prep, fits, texts)
    return {"verbatims_themes": theme_counts(joined)} if len(joined) else {}


def parse_targets(text: str | None) -> dict[str, float]:
    """The store setting ``targets`` (JSON ``{"SAT": 75, "NPS": 20}``: construct codes or NPS) as numbers."""
    import json

    if not text:
        return {}
    try:
        raw = json.loads(text)
        return {str(k).upper(): float(v) for k, v in dict(raw).items()}
    except (ValueError, TypeError) as e:
        raise DataError(f"the stored targets are not valid ({e}); set them again with: python -m csi target") from None


def alerts_table(prep: Prepared, fits: Mapping, nps: pd.DataFrame | None = None,
                 changes: pd.DataFrame | None = None) -> pd.DataFrame:
    """What needs attention, per wave of the focus selection: an index or NPS below its target (the store's
    ``targets`` setting), and a statistically significant drop from the previous wave (never on fewer than
    ``min_n_verdict`` respondents). Columns: wave, brand, kind (``below_target`` | ``significant_drop``),
    construct, label_en, label_zh, value, target, change, message_en, message_zh; newest wave first."""
    cols = ["wave", "brand", "kind", "construct", "label_en", "label_zh", "value", "target", "change",
            "message_en", "message_zh"]
    rows = []
    en, zh = labels_table(list(prep.spec.constructs))
    names = {c: (e, z) for c, e, z in zip(prep.spec.constructs, en, zh)}
    names["NPS"] = ("Net Promoter Score", "净推荐值")
    for w in prep.waves:
        f = fits.get((w,))
        if f is None or not f.ok:
            continue
        idx = f.index.set_index("construct")["index"]
        for c, goal in prep.targets.items():
            if c in idx.index and float(idx[c]) < goal:
                v = float(idx[c])
                rows.append({"wave": w, "kind": "below_target", "construct": c, "value": v, "target": goal,
                             "change": np.nan,
                             "message_en": f"{names[c][0]} {v:.1f} is below its target {goal:g} ({v - goal:+.1f})",
                             "message_zh": f"{names[c][1]} {v:.1f}，低于目标 {goal:g}（{v - goal:+.1f}）"})
    if "NPS" in prep.targets:
        nps = nps_table(prep) if nps is None else nps
        for r in nps.itertuples(index=False):
            if float(r.nps) < prep.targets["NPS"]:
                goal = prep.targets["NPS"]
                rows.append({"wave": str(r.wave), "kind": "below_target", "construct": "NPS", "value": float(r.nps),
                             "target": goal, "change": np.nan,
                             "message_en": f"NPS {int(round(float(r.nps)))} is below its target {goal:g}",
                             "message_zh": f"净推荐值 {int(round(float(r.nps)))}，低于目标 {goal:g}"})
    ch = changes_table(prep, fits) if changes is None else changes
    for r in ch[ch["significant"].fillna(False).astype(bool) & (ch["change"] < 0)].itertuples(index=False):
        rows.append({"wave": r.wave_to, "kind": "significant_drop", "construct": r.construct,
                     "value": float(r.index_b), "target": prep.targets.get(r.construct, np.nan), "change": float(r.change),
                     "message_en": f"{names.get(r.construct, (r.construct,))[0]} fell {r.change:+.1f} points from "
                                   f"{r.wave_from} (significant)",
                     "message_zh": f"{names.get(r.construct, (r.construct, r.construct))[1]} 较 {r.wave_from} "
                                   f"下降 {r.change:+.1f} 分（显著）"})
    if not rows:
        return pd.DataFrame(columns=cols)
    out = pd.DataFrame(rows)
    out["brand"] = prep.focus_brand
    out["label_en"] = [names.get(c, (c, c))[0] for c in out["construct"]]
    out["label_zh"] = [names.get(c, (c, c))[1] for c in out["construct"]]
    order = {w: i for i, w in enumerate(prep.waves)}
    out = out.sort_values(by="wave", key=lambda s: s.map(order), ascending=False, kind="stable")
    return out[cols].reset_index(drop=True)


def headline(prep: Prepared, fits: Mapping, nps: pd.DataFrame | None = None) -> dict:
    """The overview's three numbers for the focus wave: satisfaction (or the last endogenous construct), NPS and
    loyalty, each with its change from the previous fitted wave and, for indices, the verdict."""
    ok = [f for f in (fits.get((w,)) for w in prep.waves) if f is not None and f.ok]
    latest = ok[-1] if ok else None
    prev = ok[-2] if len(ok) > 1 else None
    spec = prep.spec
    target = "SAT" if "SAT" in spec.constructs else spec.endogenous[-1]
    out: dict = {"wave": latest.key[0] if latest else None, "previous": prev.key[0] if prev else None,
                 "target": target, "n": n_used(latest), "n_respondents": latest.n if latest else 0,
                 "small_sample": too_small(prep, *(f for f in (latest, prev) if f is not None)) if latest else None}
    if latest is None:
        return out
    idx = latest.index.set_index("construct")
    change = None
    if prev is not None:
        from csi.compare.groups import wave_change
        change = wave_change(prev, latest, alpha=prep.settings.alpha).set_index("construct")
    for key, c in (("index", target), ("loyalty", "LOY" if "LOY" in spec.constructs else None)):
        if c is None:
            continue
        out[key] = {"construct": c, "value": float(idx.at[c, "index"]), "ci_low": float(idx.at[c, "ci_low"]),
                    "ci_high": float(idx.at[c, "ci_high"]), "change": None, "change_ci_low": None,
                    "change_ci_high": None, "significant": None}
        if change is not None and c in change.index:
            sig = change.at[c, "significant"]
            out[key].update(change=float(change.at[c, "change"]), change_ci_low=float(change.at[c, "ci_low"]),
                            change_ci_high=float(change.at[c, "ci_high"]),
                            significant=None if sig is pd.NA or pd.isna(sig) or out["small_sample"] is not None
                            else bool(sig))
    nps = nps_table(prep) if nps is None else nps
    if nps is not None and len(nps):
        by_wave = nps.set_index(nps["wave"].astype(str))
        if out["wave"] in by_wave.index:
            r = by_wave.loc[out["wave"]]
            out["nps"] = {"value": float(r["nps"]), "ci_low": float(r["ci_low"]), "ci_high": float(r["ci_high"]),
                          "change": None}
            if out["previous"] in by_wave.index:
                out["nps"]["change"] = float(r["nps"]) - float(by_wave.loc[out["previous"], "nps"])
    return out


def classic_tables(prep: Prepared, fit, notes: list) -> tuple[dict[str, pd.DataFrame], dict]:
    """Classic practitioner views of the focus group; each independent (a failure becomes a note)."""
    from csi.analytics import classic
    from csi.analytics.index import item_weights, scale_factors
    from csi.analytics.priorities import unstd_total_effects

    rows = prep.rows_of(fit.key[0])
    scales = prep.focus_scales(fit.key[0])
    w = prep.weights_of(rows)
    items = [i for i in prep.spec.indicators if i in rows.columns]
    d = prep.dictionary
    dict_rows = d[d["item"].isin(items)]
    texts = prep.item_texts()
    tables: dict[str, pd.DataFrame] = {}
    summary: dict = {}

    def hierarchy():
        h = classic.hierarchy_from_attributes(dict_rows, items=items)
        it, lvl, total = classic.weighted_hierarchy(rows, h, None, scales, weights=w)
        tables["hierarchy_items"], tables["hierarchy"] = it, lvl
        summary["hierarchy_total"] = total
        fz = classic.fuzzy_evaluation(rows, h, scales, weights=w)
        tables["fuzzy_membership"] = fz.membership
        lvl1 = fz.level1 if fz.level1 is not None else pd.DataFrame()
        total_row = pd.DataFrame([{"first_level": "TOTAL", "weight": 1.0, **fz.grade_vector.to_dict(),
                                   "score": fz.score, "grade": fz.grade}])
        tables["fuzzy"] = pd.concat([lvl1, total_row], ignore_index=True)
        summary["fuzzy"] = {"score": fz.score, "grade": fz.grade, "operator": fz.operator}

    def gaps():
        pairs = classic.pairs_from_attributes(dict_rows, items=items)
        if not pairs:
            raise DataError("no expectation/perception item pairs share an attribute")
        tables["gaps"] = classic.expectation_gap(rows, pairs, scales, weights=w)

    def ranking():
        labels = {i: texts.get(i, (i, i))[0] for i in items}
        constructs = {i: prep.spec.construct_of(i) for i in items}
        rk = classic.item_ranking(rows, scales, labels=labels, constructs=constructs, items=items, weights=w)
        if "item" in rk.columns:
            rk.insert(rk.columns.get_loc("item") + 1 if "label" not in rk.columns else rk.columns.get_loc("label") + 1,
                      "label_zh", [texts.get(i, (i, i))[1] for i in rk["item"]])
        tables["item_ranking"] = rk

    def drivers():
        if "SAT" not in prep.spec.constructs or not prep.spec.predecessors("SAT"):
            return
        means = classic.construct_means(rows, dict(prep.spec.blocks), scales)
        drv = list(prep.spec.predecessors("SAT"))
        kd = classic.key_drivers(means, "SAT", drv, method="ols", weights=w)
        # cross-check: the PLS direct path between 0-100 scores and the PLS total effect (the IPMA importance)
        c = scale_factors(fit.result, scales)
        direct = {f: float(b) * c[f] / c["SAT"] for f, t, b in fit.result.paths[["from", "to", "estimate"]]
                  .itertuples(index=False) if t == "SAT"}
        te = unstd_total_effects(fit.result, scales)
        kd["pls_direct_effect"] = [direct.get(x, 0.0) for x in kd["driver"]]
        kd["pls_total_effect"] = [float(te.loc[x, "SAT"]) for x in kd["driver"]]
        tables["key_drivers"] = kd

    def weights():
        tables["index_weights"] = item_weights(fit.result, scales)

    def service():  # RATER/SERVQUAL gaps and the complaints iceberg (csi.analytics.servqual)
        from csi.analytics.servqual import classic_views
        tables.update(classic_views(prep, fit, summary))

    for name, fn in (("hierarchy/fuzzy", hierarchy), ("gaps", gaps), ("item ranking", ranking),
                     ("key drivers", drivers), ("index weights", weights), ("service quality", service)):
        try:
            fn()
        except CSIError as e:
            notes.append(_note("classic_skipped", f"classic {name} skipped: {e}", f"经典方法 {name} 未计算：{e}"))
    return tables, summary


# ------------------------------------------------------------ mystery-shopping audits (csi.analytics.audit)
def read_audits(source) -> pd.DataFrame | None:
    """The store's audit rows (:func:`csi.data.store.load_audits`) when ``source`` is a database path or
    connection holding audits; None otherwise (a DataFrame or snapshot source, a store without audits)."""
    from csi.data import store

    if hasattr(source, "execute"):
        df = store.load_audits(source)
    elif isinstance(source, (str, Path)) and Path(source).is_file():
        con = store.connect(source, read_only=True)
        try:
            df = store.load_audits(con)
        finally:
            con.close()
    else:
        return None
    return df if len(df) else None


def audit_link_table(prep: Prepared, fit, audits: pd.DataFrame, construct: str = "SAT",
                     period: str | None = None) -> pd.DataFrame | None:
    """An audit period's (default the last) percent per outlet (or region) beside the survey's ``construct``
    index of the same outlets (regions) in the wave of ``fit``, under that fit; None when no segment matches."""
    from csi.analytics import audit as aud

    wave = fit.key[0]
    rows = prep.rows_of(wave)
    skip = {"wave", "respondent_id", prep.weight_col, *prep.items}
    segs = {c: pd.unique(rows[c].dropna()) for c in rows.columns if c not in skip and rows[c].dtype == object}
    match = aud.match_segment(audits, segs)
    if match is None:
        return None
    level, seg = match
    survey = aud.segment_index(fit.result, rows, prep.focus_scales(wave), seg, construct, prep.weights_of(rows))
    out = aud.link_survey(audits, survey, level, period)
    out.insert(1, "wave", wave)
    out.insert(2, "segment", seg)
    return out


def audit_tables(source, prep: Prepared | None = None, fit=None, notes: list | None = None) -> dict[str, pd.DataFrame]:
    """``audit`` (period, outlet, category, possible, obtained, lost, percent: the report's ``audit.csv``) and,
    given the focus fit, ``audit_link`` (:func:`audit_link_table`); {} when the store has no audits."""
    from csi.analytics.audit import audit_scores

    audits = read_audits(source)
    if audits is None:
        return {}
    out = {"audit": audit_scores(audits)}
    if prep is not None and fit is not None:
        try:
            link = audit_link_table(prep, fit, audits)
        except CSIError as e:
            if notes is not None:
                notes.append(_note("audit_link_skipped", f"audit scores not linked to the survey: {e}",
                                   f"神秘顾客检查得分未能与调查满意度关联：{e}"))
        else:
            if link is not None:
                out["audit_link"] = link
    return out


def segment_table(prep: Prepared, seg: str, *, cache=None, workers: int = 1, n_boot: int | None = None,
                  executor=None) -> tuple[pd.DataFrame, dict]:
    """Indices per value of segment ``seg`` in the focus wave of the selection: (table, fits)."""
    rows = prep.rows_of(prep.focus_wave)
    if seg not in rows.columns:
        raise DataError(f"no segment column {seg!r} in the selection")
    fits = fit_groups(prep, ["wave", seg], frame=rows, cache=cache, workers=workers, n_boot=n_boot,
                      **({"executor": executor} if executor is not None else {}))
    tr = trends_table(fits)
    if len(tr):
        tr = tr.rename(columns={seg: "value"})
        tr.insert(1, "segment", seg)
    return tr, fits


# ------------------------------------------------- national programmes: industry benchmarks
INDUSTRY_COLUMN = "industry"          # segment naming each company's industry (csi.data.national)
MARKET_SHARE_COLUMN = "market_share"  # optional segment: the company's market share (weights the industry)


def industry_members(prep: Prepared) -> tuple[dict, dict] | None:
    """(``{company: industry}``, ``{(wave, company): market share}``) of the brand frame; None without an
    industry segment."""
    bf = prep.brand_frame
    if bf is None or INDUSTRY_COLUMN not in bf.columns or not bf[INDUSTRY_COLUMN].notna().any():
        return None
    b = prep.brand_column
    first = bf.dropna(subset=[INDUSTRY_COLUMN]).drop_duplicates(b)
    industry_of = dict(zip(first[b].astype(str), first[INDUSTRY_COLUMN].astype(str)))
    share_of = {}
    if MARKET_SHARE_COLUMN in bf.columns:
        s = bf.assign(_s=pd.to_numeric(bf[MARKET_SHARE_COLUMN], errors="coerce"))
        for (w, c), v in s.groupby(["wave", b], observed=True)["_s"].first().items():
            if np.isfinite(v):
                share_of[(str(w), str(c))] = float(v)
    return industry_of, share_of


def industry_fits(prep: Prepared, *, reuse: Mapping | None = None, cache=None, workers: int = 1, executor=None,
                  dataset=None, results=None, stats: dict | None = None) -> dict:
    """Reduced (index + index draws) fits of every company and wave, key ``(wave, company)``, brand filter
    lifted. ``reuse``: fits already made (the focus wave's brand fits): their waves are not fitted again.
    ``dataset``: a published Parquet dataset (csi.data.publish) the workers read their partitions from (only
    without segment filters, which the partitions do not apply)."""
    from csi.compare.groups import _reduced, estimate_partitions

    reuse = {k: _reduced(f) for k, f in (reuse or {}).items()}
    done = {k[0] for k in reuse}
    waves = [w for w in prep.waves if w not in done]
    out: dict = {}
    if waves:
        kw = {"executor": executor} if executor is not None else {}
        other_filters = [c for c, _ in prep.selection.filters if c != prep.brand_column]
        if dataset is not None and not other_filters:
            settings = prep.estimator_settings
            out = estimate_partitions(dataset, prep.spec, prep.scales, prep.settings.bootstrap, prep.settings.seed,
                                      by=("wave", prep.brand_column), match={"wave": waves}, cache=cache,
                                      workers=workers, min_n=prep.settings.min_n, results=results, stats=stats,
                                      **kw, **settings)
        else:
            rows = prep.brand_frame[prep.brand_frame["wave"].astype(str).isin(waves)]
            out = fit_groups(prep, ["wave", prep.brand_column], frame=rows, cache=cache, workers=workers,
                             keep="index", results=results, stats=stats, **kw)
    return {**reuse, **out}


def industry_tables(prep: Prepared, fits: Mapping) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(industry, league) tables of :mod:`csi.analytics.industry` from :func:`industry_fits`."""
    from csi.analytics.industry import industry_table, league_table

    industry_of, share_of = industry_members(prep) or ({}, {})
    alpha = prep.settings.alpha
    return (industry_table(fits, industry_of, share_of, alpha), league_table(fits, industry_of, share_of, alpha))


# ------------------------------------------------------------------------ the report
@dataclass(frozen=True)
class Report:
    """Every table of a report (``tables[name]``, classic views as ``classic/<name>``), the notes
    (``[{code, message, message_zh}]``), the manifest and the prepared selection and fits behind them."""

    tables: dict[str, pd.DataFrame]
    notes: tuple[dict, ...]
    manifest: dict
    prepared: Prepared = field(repr=False)
    fits: dict = field(repr=False, default_factory=dict)
    brand_fits: dict = field(repr=False, default_factory=dict)

    @property
    def warnings(self) -> list[str]:
        return [n["message"] for n in self.notes]


def build_report(source, selection: Selection | None = None, settings: Settings | None = None, *,
                 cache=None, workers: int = 1, segments: Sequence[str] | None = None,
                 prepared: Prepared | None = None, fits: Mapping | None = None, brand_fit_map: Mapping | None = None,
                 progress: Callable[[int, int], None] | None = None, executor=None, dataset=None,
                 results=None, **prepare_kw) -> Report:
    """The standard CSI report of a selection.

    ``source``: database path, DuckDB connection or DataFrame (see :func:`prepare`). Returns a :class:`Report`
    whose ``tables`` are: ``indices`` (focus wave), ``trends``, ``changes`` (wave over wave with verdicts),
    ``priorities`` (IPMA for SAT and LOY, construct and item level), ``brands`` (indices of every brand in the
    focus wave), ``competitor_gap``, ``groups`` (MGA focus brand vs competitor), ``segments`` (indices per value
    of each segment column in the focus wave), ``nps``, ``complaints``, ``bands``, ``alerts`` (targets missed,
    significant drops) and ``classic/*``. ``fits`` /
    ``brand_fit_map``: group fits already made (the dashboard's cache) to reuse. ``workers``: processes for the
    group fits (1 = in this process, safe in any script; the CLI uses 2, started once and reused); ``executor``:
    any concurrent.futures.Executor instead (csi.runtime.execution.executor_for, e.g. Dask). With an
    ``industry`` segment (a national programme) ``industry`` and ``league`` tables are added
    (:func:`industry_fits`; ``dataset``/``results``: published Parquet dataset and result store).
    """
    ex = {"executor": executor} if executor is not None else {}
    t0 = time.perf_counter()
    prep = prepared or prepare(source, selection, settings, **prepare_kw)
    notes = list(prep.notes)
    tables: dict[str, pd.DataFrame] = {}
    fits = dict(fits) if fits is not None else wave_fits(prep, cache=cache, workers=workers, progress=progress,
                                                                  **ex)
    for key, f in fits.items():
        if not f.ok:
            notes.append(_note("group_failed", f"group {', '.join(key)} not analysed: {f.error}",
                               f"分组 {', '.join(key)} 未能分析：{f.error}"))
    focus = focus_fit(prep, fits)
    tables["indices"] = indices_table(prep, focus)
    scores = focus_scores_table(prep, focus)  # scores.csv: the table `fit --db` writes for the focus wave
    if scores is not None:
        tables["scores"] = scores
    for r in focus.index.itertuples():
        if r.negative_weights:
            notes.append(_note("negative_weights", r.note, r.note))
    if focus.boot is not None:
        for n in getattr(focus.boot, "notes", ()) or ():
            notes.append(dict(n))
    try:
        tables["priorities"] = priorities_table(prep, focus)
    except CSIError as e:
        notes.append(_note("no_priorities", f"no priorities: {e}", f"未计算改进优先级：{e}"))
    if focus.boot is not None and prep.settings.method != "cbsem":   # mediation: cheap, from the bootstrap draws
        from csi.analytics.mediation import indirect_effects

        tables["indirect"] = indirect_effects(focus.result, focus.boot, alpha=prep.settings.alpha)
    slopes = simple_slopes_table(focus)
    if slopes is not None:
        tables["simple_slopes"] = slopes
    tables["trends"] = trends_table(fits)
    tables["changes"] = changes_table(prep, fits)
    bfits = dict(brand_fit_map) if brand_fit_map is not None else brand_fits(prep, cache=cache, workers=workers, **ex)
    tables["brands"] = brand_table(prep, bfits)
    if industry_members(prep) is not None:
        ifits = industry_fits(prep, reuse=bfits, cache=cache, workers=workers, executor=executor, dataset=dataset,
                              results=results)
        tables["industry"], tables["league"] = industry_tables(prep, ifits)
    tables["competitor_gap"] = gap_table(prep, bfits)
    if prep.focus_brand and prep.competitor:
        # the permutation tests' chunks (MICOM's, the MGA's) on the report's executor (or its local pool): the
        # same tables
        perm_ex = executor
        if perm_ex is None and workers > 1:
            from csi.runtime.execution import local_pool

            perm_ex = local_pool(workers)
        try:  # MICOM before the group test (csi.compare.micom)
            tables["micom"] = micom_table(prep, executor=perm_ex)
        except CSIError as e:
            notes.append(_note("micom_failed", f"MICOM not computed: {e}", f"未计算 MICOM：{e}"))
        tables["groups"] = mga_table(prep, bfits, executor=perm_ex)
    else:
        tables["groups"] = mga_table(prep, {})
        notes.append(_note("no_competitor", "no competitor in the focus wave: competitor_gap and groups are empty",
                           "关注期没有竞争对手：竞争差距与多组检验为空"))
    seg_cols = segments if segments is not None else [c for c in SEGMENT_COLUMNS if c != prep.brand_column
                                                      and c in prep.frame.columns and prep.frame[c].notna().any()]
    seg_frames = []
    for seg in seg_cols:
        try:
            tab, _ = segment_table(prep, seg, cache=cache, workers=workers, executor=executor)
            seg_frames.append(tab)
        except CSIError as e:
            notes.append(_note("segment_failed", f"segment {seg} not analysed: {e}", f"细分 {seg} 未能分析：{e}"))
    tables["segments"] = (pd.concat(seg_frames, ignore_index=True) if seg_frames else
                          pd.DataFrame(columns=["wave", "segment", "value", "construct", "index", "ci_low", "ci_high",
                                                "n"]))
    try:
        tables["nps"] = nps_table(prep)
        if tables["nps"].empty:
            notes.append(_note("no_recommend", "no recommend (0-10) item in the selection: no NPS",
                               "所选数据没有推荐意愿（0-10）题项：无 NPS"))
    except CSIError as e:
        notes.append(_note("nps_failed", f"NPS not computed: {e}", f"未计算 NPS：{e}"))
    try:
        comp = complaints_table(prep)
        if comp is not None:
            tables["complaints"] = comp
    except CSIError as e:
        notes.append(_note("complaints_failed", f"complaints not computed: {e}", f"未计算投诉：{e}"))
    try:
        bands = bands_table(prep, focus)
        if bands is not None:
            tables["bands"] = bands
    except CSIError as e:
        notes.append(_note("bands_failed", f"bands not computed: {e}", f"未计算满意度区间：{e}"))
    try:
        tables["alerts"] = alerts_table(prep, fits, tables.get("nps"), tables["changes"])
    except CSIError as e:
        notes.append(_note("alerts_failed", f"alerts not computed: {e}", f"未生成预警：{e}"))
    classic, classic_summary = classic_tables(prep, focus, notes)
    tables.update({f"classic/{k}": v for k, v in classic.items()})
    tables.update(verbatims_tables(prep, fits, read_texts(source, prep)))  # verbatims_themes.csv
    tables.update(audit_tables(source, prep, focus, notes))  # audit.csv, audit_link.csv
    manifest = report_manifest(prep, {**fits, **bfits}, focus, classic_summary, time.perf_counter() - t0)
    manifest["notes"] = notes
    if "audit" in tables:
        manifest["audit"] = {"periods": [str(p) for p in tables["audit"]["period"].cat.categories],
                             "outlets": int(tables["audit"]["outlet"].nunique()),
                             "linked_segment": (str(tables["audit_link"]["segment"].iloc[0])
                                                if len(tables.get("audit_link", ())) else None)}
    return Report(tables=tables, notes=tuple(notes), manifest=manifest, prepared=prep, fits=fits, brand_fits=bfits)


def report_manifest(prep: Prepared, fits: Mapping, focus, classic_summary: Mapping | None = None,
                    elapsed: float | None = None) -> dict:
    """Settings, selection, focus, versions and data fingerprint: enough to redo the report."""
    s = prep.settings
    return {
        "command": "report",
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "source": prep.source,
        "data_version": prep.data_version,
        "selection": {"waves": list(prep.waves), "filters": {c: list(v) for c, v in prep.selection.filters},
                      "n_respondents": int(len(prep.frame))},
        "focus": {"wave": prep.focus_wave, "brand": prep.focus_brand, "competitor": prep.competitor,
                  "brand_column": prep.brand_column, "n_respondents": int(len(prep.rows_of(prep.focus_wave))),
                  "n_used": int(focus.result.info.get("n_used", 0)) if focus is not None else 0},
        "targets": dict(prep.targets),
        "model": {"name": prep.spec.name, "syntax": prep.spec.to_syntax(), "items": list(prep.items),
                  "items_missing_by_wave": {w: list(v) for w, v in prep.missing_items.items()}},
        "settings": {"model": s.model, "method": s.method, **s.estimator(prep.weight_col),
                     "survey_weights": prep.weight_col, "weights_setting": s.weights, "bootstrap": s.bootstrap,
                     "seed": s.seed, "ci": f"{s.ci}, {100 * (1 - s.alpha):g}%", "alpha": s.alpha,
                     "min_n": s.min_n,
                     "groups": "waves of the selection; brands of the focus wave (brand filter lifted)",
                     "mga": "focus brand vs competitor in the focus wave: Chin & Dibbern permutation test "
                            "(max(bootstrap, 100) permutations, decides `significant`) and Henseler's bootstrap "
                            "PLS-MGA (two-sided p_bootstrap, one-sided p_henseler)",
                     "micom": "the same two groups before the MGA: MICOM steps 2-3 (Henseler, Ringle & Sarstedt "
                              "2016) by permutation (max(bootstrap, 100) permutations; micom.csv)",
                     "group_seeds": {" / ".join(k): f.seed for k, f in fits.items()}},
        "classic": dict(classic_summary or {}),
        "elapsed_seconds": None if elapsed is None else round(elapsed, 2),
        "versions": versions(),
    }


def write_report(report: Report, out: str | Path) -> dict[str, int]:
    """Every table as UTF-8 CSV (formula-like text escaped) plus ``manifest.json``; returns {file: rows}."""
    import json

    from csi.report.export import safe_csv

    out = Path(out)
    written: dict[str, int] = {}
    for name, df in report.tables.items():
        path = out / f"{name}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        safe_csv(df, path)
        written[f"{name}.csv"] = int(len(df))
    manifest = {**report.manifest, "files": written}
    (out / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2, default=str),
                                       encoding="utf-8")
    return written


# ------------------------------------------------------------ one data set of a selection
def pooled_scales(prep: Prepared, waves: Sequence[str]) -> dict[str, tuple[float, float]] | None:
    """``{item: (min, max)}`` over ``waves``; None (with a note) when the waves disagree on an item's scale."""
    tab = prep.scales[prep.scales["wave"].astype(str).isin([str(w) for w in waves])
                      & prep.scales["item"].isin(prep.items)]
    out: dict[str, tuple[float, float]] = {}
    for r in tab.itertuples(index=False):
        pair = (float(r.scale_min), float(r.scale_max))
        if out.setdefault(str(r.item), pair) != pair:
            return None
    return out


def analysis_rows(prep: Prepared, wave: str | None = None) -> pd.DataFrame:
    """The respondents one model is fitted on: ``wave`` (default the focus wave) or ``"all"`` (the selection
    pooled), indexed ``wave/respondent_id`` so scores can be traced to respondents."""
    rows = prep.frame if wave == "all" else prep.rows_of(wave or prep.focus_wave)
    if rows.empty:
        raise DataError(f"no respondents in wave {wave} of the selection")
    rows = rows.copy()
    if "respondent_id" in rows.columns:
        ids = rows["wave"].astype(str) + "/" + rows["respondent_id"].astype(str)
        if not ids.duplicated().any():
            rows.index = pd.Index(ids.to_numpy(), name="row")
    return rows


def focus_scores_table(prep: Prepared, fit) -> pd.DataFrame | None:
    """The construct scores of the focus wave's fit per respondent (the report's ``scores.csv``): the table
    ``python -m csi fit --db`` writes for that wave (:func:`csi.report.analyze.scores_table` of
    :func:`analysis_rows`: ``row`` = wave/respondent_id, ``wave``, ``respondent_id``, the constructs). None
    without a PLS model result (a reduced fit; ``method="cbsem"``, whose Model page scores are CB-SEM's)."""
    from csi.report.analyze import scores_table

    result = getattr(fit, "result", None)
    if result is None or prep.settings.method != "pls":
        return None
    src = prep.rows_of(fit.key[0])
    rows = analysis_rows(prep, str(fit.key[0]))          # the same rows, labelled wave/respondent_id
    pos = src.index.get_indexer(result.scores.index)
    if (pos < 0).any():
        raise DataError("the focus fit's scores do not belong to the focus wave's respondents")
    return scores_table(result.scores.set_axis(rows.index[pos], axis=0), rows)


def analyze_selection(source=None, selection: Selection | None = None, settings: Settings | None = None, *,
                      prepared: Prepared | None = None, wave: str | None = None,
                      progress: Callable[[int, int], None] | None = None):
    """:func:`csi.report.analyze.analyze` of one wave of a selection (default the focus wave; ``"all"`` pools the
    selected waves) with the engine's binding, weights and scales: what ``python -m csi fit --db``, the dashboard's
    Model page and its downloads show. Returns a FitResult whose manifest also records the selection."""
    from csi.report.analyze import analyze

    prep = prepared or prepare(source, selection, settings)
    s = prep.settings
    rows = analysis_rows(prep, wave)
    waves = [str(w) for w in pd.unique(rows["wave"].astype(str))]
    scales = pooled_scales(prep, waves)
    notes = list(prep.notes)
    if scales is None:
        notes.append(_note("mixed_scales", "the pooled waves use different scales for an item: no 0-100 indices",
                           "合并的各期题项量表不同：不计算 0-100 指数"))
    if s.method == "cbsem":
        est = {"missing": s.missing}
    else:
        est = prep.estimator_settings
    fit = analyze(rows, prep.spec, method=s.method, bootstrap=int(s.bootstrap), seed=int(s.seed), scale=scales,
                  target=s.target, progress=progress, alpha=s.alpha, ci=s.ci, labels=prep.item_texts(), **est)
    manifest = dict(fit.manifest)
    manifest["selection"] = {"source": prep.source, "data_version": prep.data_version, "waves": waves,
                             "filters": {c: list(v) for c, v in prep.selection.filters},
                             "focus_brand": prep.focus_brand, "survey_weights": prep.weight_col,
                             "weights_setting": s.weights,
                             "items_missing_by_wave": {w: list(v) for w, v in prep.missing_items.items()}}
    manifest["warnings"] = [n["message"] for n in notes] + list(manifest.get("warnings", []))
    manifest["notes"] = notes + [{"code": "fit", "message": w, "message_zh": w} for w in fit.manifest.get("warnings", [])]
    return replace(fit, manifest=manifest)
