"""``python -m csi report``: the standard CSI report as tidy files.

What is analysed (written to ``manifest.json`` too):

* the selection: ``--wave`` (repeatable; default every wave) and ``--segment COL=VALUE`` filters;
* the *focus*: the last wave of the selection and the own brand (store setting ``own_brand`` in
  the column named by ``brand_column``; a ``--segment`` on that column makes its value the focus
  and leaves no competitor). Without a brand column the whole selection is the focus;
* the model: ``--model`` (template bound to the items present in the selection, a ``.lavaan``
  file or syntax), PLS path scheme, standardized, listwise deletion, unweighted — the same
  defaults as ``python -m csi fit`` — and every group (wave × brand) fitted independently with
  ``--bootstrap`` resamples, seeds derived from ``--seed`` and the group;
* theoretical scales per wave from the store (``wave_scales``).

Files (UTF-8 CSV through ``csi.export.safe_csv`` when present):

``indices.csv``        focus: construct, label_en, label_zh, index, ci_low, ci_high, n, negative_weights, note
``priorities.csv``     focus IPMA (construct and indicator level) for satisfaction and loyalty
``trends.csv``         own brand per wave: wave, construct, index, ci_low, ci_high, n
``changes.csv``        own brand wave over wave: wave_from, wave_to, construct, index_a, index_b, change, ci_low,
                       ci_high, significant, verdict_en, verdict_zh
``nps.csv``            NPS per wave × brand (the dictionary's ``recommend`` item)
``groups.csv``         MGA own vs competitor paths in the focus wave (permutation + Henseler)
``competitor_gap.csv`` own − competitor indices in the focus wave
``bands.csv``          satisfaction bands of the focus respondents' 0–100 satisfaction scores
``complaints.csv``     complaint rate and handling index per wave × brand (when the items exist)
``classic/*.csv``      weighted hierarchy, fuzzy evaluation, expectation gaps, item ranking, key drivers
``manifest.json``      selection, focus, settings, seed, versions, data version, files, warnings
"""
from __future__ import annotations

import json
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from csi.errors import CSIError, DataError

RATING_PREFIXES = ("imag", "expe", "qual", "val", "sat", "loy", "comp")


def _write_csv(df: pd.DataFrame, path: Path, written: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        from csi.report.export import safe_csv  # escapes formula-like text cells for Excel
    except ImportError:
        safe_csv = None
    if safe_csv is not None:
        safe_csv(df, path)
    else:
        df.to_csv(path, index=False, encoding="utf-8")
    written[str(path.name if path.parent.name != "classic" else f"classic/{path.name}")] = int(len(df))


def _labels():
    from csi.analytics.priorities import construct_labels
    return construct_labels()


def _with_labels(df: pd.DataFrame, col: str = "construct") -> pd.DataFrame:
    lab = _labels()
    out = df.copy()
    pos = out.columns.get_loc(col) + 1
    out.insert(pos, "label_en", [lab.get(c, (c, c))[0] for c in out[col]])
    out.insert(pos + 1, "label_zh", [lab.get(c, (c, c))[1] for c in out[col]])
    return out


def run(args) -> int:
    from csi.data import store
    from csi.runtime.cache import FitCache
    from csi.cli.main import default_db
    from csi.compare.groups import competitor_gap, estimate_groups, mga, trend, wave_change
    from csi.analytics.index import construct_scores_0_100
    from csi.analytics.priorities import ipma
    from csi.model.templates import load_model

    t0 = time.perf_counter()
    db = Path(args.db) if args.db is not None else default_db()
    if not db.is_file():
        raise DataError(f"database {str(db)!r} not found (create one with: python -m csi demo --db {db})")
    n_boot = int(args.bootstrap)
    if n_boot != 0 and n_boot < 2:
        raise DataError(f"--bootstrap must be 0 or at least 2, got {n_boot}")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise DataError(f"--out {str(out)!r} exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)

    con = store.connect(db, read_only=True)
    try:
        all_waves = store.wave_labels(con)
        waves = list(dict.fromkeys(args.wave)) if args.wave else all_waves
        segments = list(args.segment or [])
        frame = store.load_responses(con, waves, segments or None)
        if frame.empty:
            raise DataError("no respondents in the selection "
                            f"(waves: {', '.join(waves) or 'none'}; segments: "
                            f"{', '.join(f'{c}={v}' for c, v in segments) or 'none'})")
        scales_tab = store.wave_scales(con, waves)
        dictionary = store.item_dictionary(con)
        brand_col = store.get_setting(con, "brand_column")
        own_brand = store.get_setting(con, "own_brand")
        version = store.data_version(con)
    finally:
        con.close()

    warnings: list[str] = []
    written: dict[str, int] = {}
    wave_order = [w for w in frame["wave"].cat.categories if (frame["wave"] == w).any()]
    focus_wave = wave_order[-1]

    # ---- focus brand and competitor
    seg_cols = {c for c, _ in segments}
    has_brand = bool(brand_col) and brand_col in frame.columns
    if has_brand:
        brands = [b for b in pd.unique(frame[brand_col].dropna())]
        if brand_col in seg_cols or len(brands) == 1:
            focus_brand = brands[0] if len(brands) == 1 else (own_brand if own_brand in brands else brands[0])
            competitor = None
        else:
            focus_brand = own_brand if own_brand in brands else sorted(brands)[0]
            others = sorted(b for b in brands if b != focus_brand)
            competitor = others[0] if others else None
            if len(others) > 1:
                warnings.append(f"several competitors in the data; the gap and MGA use {competitor!r}")
        by = ["wave", brand_col]
    else:
        focus_brand, competitor, by = None, None, ["wave"]

    # ---- model bound to the items the selection has
    kinds = dict(zip(dictionary["item"], dictionary["kind"]))
    item_cols = [c for c in frame.columns if c in kinds and frame[c].notna().any()]
    spec = load_model(args.model, items=item_cols)
    spec.check_columns(frame.columns, "the selected data")
    settings = {"scheme": "path", "standardize": True, "plsc": False, "missing": "listwise"}
    wcol = getattr(args, "weights", None)
    if wcol:
        frame = _with_numeric_weights(frame, wcol)
        settings["weights"] = wcol

    cache = FitCache()
    fits = estimate_groups(frame, spec, by, scales_tab, n_boot=n_boot, seed=int(args.seed), cache=cache,
                           data_version=f"{db.resolve()}#{version}", workers=2, **settings)
    for key, fit in fits.items():
        if not fit.ok:
            warnings.append(f"group {', '.join(key)} not analysed: {fit.error}")

    def key_of(wave, brand):
        return (str(wave), str(brand)) if has_brand else (str(wave),)

    focus = fits.get(key_of(focus_wave, focus_brand))
    if focus is None or not focus.ok:
        why = focus.error if focus is not None else "no respondents"
        raise DataError(f"the focus group (wave {focus_wave}"
                        f"{', ' + str(focus_brand) if focus_brand else ''}) cannot be analysed: {why}")
    comp_fit = fits.get(key_of(focus_wave, competitor)) if competitor is not None else None
    if comp_fit is not None and not comp_fit.ok:
        comp_fit = None

    # ---- indices, priorities, trends, bands
    idx = _with_labels(focus.index)
    idx.insert(0, "wave", focus_wave)
    if focus_brand is not None:
        idx.insert(1, "brand", focus_brand)
    _write_csv(idx, out / "indices.csv", written)
    for r in focus.index.itertuples():
        if r.negative_weights:
            warnings.append(r.note)

    f_scales = _focus_scales(scales_tab, focus_wave, spec)
    pri = []
    for target in [t for t in ("SAT", "LOY") if t in spec.constructs and spec.predecessors(t)]:
        for level in ("construct", "indicator"):
            pri.append(ipma(focus.result, f_scales, target=target, level=level, boot=focus.boot))
    if not pri:
        warnings.append("the model has no SAT or LOY construct with predecessors; no priorities written")
        pri = [pd.DataFrame(columns=["driver", "target", "level", "importance", "performance", "quadrant", "rank"])]
    _write_csv(pd.concat(pri, ignore_index=True), out / "priorities.csv", written)

    own_fits = {k: f for k, f in fits.items() if not has_brand or k[1] == str(focus_brand)}
    tr = trend(own_fits)
    tr = tr[["wave", "construct", "index", "ci_low", "ci_high", "n"]]
    _write_csv(tr, out / "trends.csv", written)
    # wave-over-wave change of the focus brand, each step with its bootstrap CI and a plain verdict
    steps = []
    ordered = [own_fits.get(key_of(w, focus_brand)) for w in wave_order]
    ordered = [f for f in ordered if f is not None and f.ok]
    for a, b in zip(ordered, ordered[1:]):
        ch = _with_labels(wave_change(a, b))
        ch.insert(0, "wave_to", b.key[0])
        ch.insert(0, "wave_from", a.key[0])
        steps.append(ch)
    if steps:
        _write_csv(pd.concat(steps, ignore_index=True), out / "changes.csv", written)

    focus_rows = frame[(frame["wave"] == focus_wave)
                       & ((frame[brand_col] == focus_brand) if has_brand else True)]
    if "SAT" in spec.constructs:
        from csi.analytics.loyalty import satisfaction_bands
        s100 = construct_scores_0_100(focus.result, focus_rows, f_scales)["SAT"]
        bw = focus_rows.loc[s100.index, wcol].to_numpy(float) if wcol else None
        _write_csv(satisfaction_bands(s100.to_numpy(), weights=bw), out / "bands.csv", written)

    # ---- NPS and complaints
    from csi.analytics.loyalty import complaints, nps_by
    rec = [i for i, k in kinds.items() if k == "recommend" and i in frame.columns and frame[i].notna().any()]
    try:
        if rec:
            _write_csv(nps_by(frame, rec[0], by, weights_col=wcol), out / "nps.csv", written)
        else:
            warnings.append("no recommend (0–10) item in the selection; nps.csv not written")
    except CSIError as e:
        warnings.append(f"nps.csv not written: {e}")
    if "comp1" in frame.columns and frame["comp1"].notna().any():
        hscale = _focus_scales(scales_tab, focus_wave, None).get("comp2")
        handling = "comp2" if "comp2" in frame.columns and hscale is not None else None
        try:
            _write_csv(complaints(frame, "comp1", handling, hscale, by=by, weights_col=wcol), out / "complaints.csv",
                       written)
        except CSIError as e:
            warnings.append(f"complaints.csv not written: {e}")

    # ---- competitor gap and MGA
    mga_cols = ["path", "estimate_a", "estimate_b", "diff", "p_permutation", "p_bootstrap", "p_henseler",
                "significant"]
    if comp_fit is not None:
        gap = _with_labels(competitor_gap(focus, comp_fit))
        gap.insert(0, "wave", focus_wave)
        _write_csv(gap, out / "competitor_gap.csv", written)
        comp_rows = frame[(frame["wave"] == focus_wave) & (frame[brand_col] == competitor)]
        n_perm = max(n_boot, 100)
        if n_boot >= 2:
            g = mga(focus_rows, comp_rows, spec, n_perm=n_perm, seed=int(args.seed),
                    boot_a=focus.boot, boot_b=comp_fit.boot, **settings)
        else:
            from csi.compare.groups import mga_permutation
            g = mga_permutation(focus_rows, comp_rows, spec, n_perm=n_perm, seed=int(args.seed), **settings)
            g = g.drop(columns=["n_perm_used"]).assign(p_bootstrap=np.nan, p_henseler=np.nan)[mga_cols]
            warnings.append("--bootstrap 0: MGA uses 100 permutations and no bootstrap test")
        g.insert(0, "group_a", str(focus_brand))
        g.insert(1, "group_b", str(competitor))
        g.insert(0, "wave", focus_wave)
        _write_csv(g, out / "groups.csv", written)
    else:
        warnings.append("no competitor in the selection; competitor_gap.csv and groups.csv are empty")
        _write_csv(pd.DataFrame(columns=["wave", "construct", "own", "competitor", "gap", "ci_low", "ci_high",
                                         "significant"]), out / "competitor_gap.csv", written)
        _write_csv(pd.DataFrame(columns=["wave", "group_a", "group_b", *mga_cols]), out / "groups.csv", written)

    # ---- classic views of the focus group
    classic_notes = _classic(focus_rows, spec, dictionary, f_scales, focus, out, written, warnings, wcol)

    manifest = {
        "command": "report",
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "database": str(db),
        "data_version": version,
        "selection": {"waves": wave_order, "segments": [f"{c}={v}" for c, v in segments],
                      "n_respondents": int(len(frame))},
        "focus": {"wave": focus_wave, "brand": focus_brand, "competitor": competitor,
                  "n_respondents": int(len(focus_rows)), "n_used": int(focus.result.info.get("n_used", 0))},
        "model": {"name": spec.name, "syntax": spec.to_syntax()},
        "settings": {**settings, "survey_weights": wcol, "bootstrap": n_boot, "seed": int(args.seed),
                     "ci": "percentile, 95%", "groups": by,
                     "mga": "own vs competitor in the focus wave: Chin & Dibbern permutation test "
                            "(max(bootstrap, 100) permutations, decides `significant`) and Henseler's "
                            "bootstrap PLS-MGA (two-sided p_bootstrap, one-sided p_henseler)",
                     "group_seeds": {" / ".join(k): f.seed for k, f in fits.items()}},
        "classic": classic_notes,
        "files": written,
        "warnings": warnings,
        "elapsed_seconds": round(time.perf_counter() - t0, 2),
        "versions": _versions(),
    }
    (out / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2, default=str),
                                       encoding="utf-8")
    sat = focus.index.set_index("construct")["index"].get("SAT")
    print(f"report for {focus_wave}{' / ' + str(focus_brand) if focus_brand else ''}: "
          f"{len(fits)} group fits, {n_boot} resamples each"
          + (f"; satisfaction index {sat:.1f}" if sat is not None and np.isfinite(sat) else ""))
    print(f"wrote {len(written) + 1} files to {out} in {manifest['elapsed_seconds']} s")
    for w in warnings:
        print(f"  note: {w}", file=sys.stderr)
    return 0


def _focus_scales(scales_tab: pd.DataFrame, wave, spec) -> dict[str, tuple[float, float]]:
    tab = scales_tab[scales_tab["wave"].astype(str) == str(wave)]
    sc = {str(r.item): (float(r.scale_min), float(r.scale_max)) for r in tab.itertuples(index=False)}
    if spec is not None:
        from csi.analytics.index import check_scales
        return check_scales(spec.indicators, sc)
    return sc


def _with_numeric_weights(frame: pd.DataFrame, col: str) -> pd.DataFrame:
    """The store keeps segment columns as text: the weight column becomes numbers, every row must have one."""
    from csi.data.ingest import parse_numeric

    if col not in frame.columns:
        raise DataError(f"no survey-weight column {col!r} in the selection "
                        f"(columns: {', '.join(c for c in frame.columns if not c[-1:].isdigit())})")
    w = parse_numeric(frame[[col]].astype(object).where(frame[[col]].notna(), ""), [col], col)[col]
    if w.isna().any() or (w < 0).any():
        bad = int((w.isna() | (w < 0)).sum())
        raise DataError(f"survey weight {col!r} is missing or negative for {bad} respondent(s)")
    out = frame.copy()
    out[col] = w.to_numpy(float)
    return out


def _classic(data: pd.DataFrame, spec, dictionary: pd.DataFrame, scales, focus, out: Path, written: dict,
             warnings: list[str], weights: str | None = None) -> dict:
    """Classic practitioner views of the focus group; each one independent (a failure is a warning)."""
    from csi.analytics import classic
    from csi.analytics.index import item_weights

    notes: dict = {}
    cdir = out / "classic"
    w = data[weights].to_numpy(float) if weights else None
    items = [i for i in spec.indicators if i in data.columns]
    dict_rows = dictionary[dictionary["item"].isin(items)]

    def attempt(name, fn):
        try:
            fn()
        except CSIError as e:
            warnings.append(f"classic {name} skipped: {e}")

    def hierarchy():
        h = classic.hierarchy_from_attributes(dict_rows, items=items)
        it, lvl, total = classic.weighted_hierarchy(data, h, None, scales, weights=w)
        _write_csv(it, cdir / "hierarchy_items.csv", written)
        _write_csv(lvl, cdir / "hierarchy.csv", written)
        notes["hierarchy_total"] = total
        fz = classic.fuzzy_evaluation(data, h, scales, weights=w)
        _write_csv(fz.membership, cdir / "fuzzy_membership.csv", written)
        lvl1 = fz.level1 if fz.level1 is not None else pd.DataFrame()
        total_row = pd.DataFrame([{"first_level": "TOTAL", "weight": 1.0, **fz.grade_vector.to_dict(),
                                   "score": fz.score, "grade": fz.grade}])
        _write_csv(pd.concat([lvl1, total_row], ignore_index=True), cdir / "fuzzy.csv", written)
        notes["fuzzy"] = {"score": fz.score, "grade": fz.grade, "operator": fz.operator}

    def gaps():
        pairs = classic.pairs_from_attributes(dict_rows, items=items)
        if not pairs:
            warnings.append("classic gaps skipped: no expectation/perception item pairs share an attribute")
            return
        _write_csv(classic.expectation_gap(data, pairs, scales, weights=w), cdir / "gaps.csv", written)

    def ranking():
        labels = dict(zip(dict_rows["item"], dict_rows["text_en"]))
        constructs = {i: spec.construct_of(i) for i in items}
        _write_csv(classic.item_ranking(data, scales, labels=labels, constructs=constructs, items=items, weights=w),
                   cdir / "item_ranking.csv", written)

    def drivers():
        if "SAT" not in spec.constructs or not spec.predecessors("SAT"):
            return
        means = classic.construct_means(data, dict(spec.blocks), scales)
        drv = list(spec.predecessors("SAT"))
        kd = classic.key_drivers(means, "SAT", drv, method="ols", weights=w)
        # cross-check columns: the PLS direct path of the same drivers between 0–100 scores
        # (comparable with `coefficient`: both are points of SAT per point of the driver, others held
        # fixed) and the PLS total effect (the IPMA importance)
        from csi.analytics.index import scale_factors
        from csi.analytics.priorities import unstd_total_effects
        c = scale_factors(focus.result, scales)
        direct = {f: float(b) * c[f] / c["SAT"] for f, t, b in focus.result.paths[["from", "to", "estimate"]]
                  .itertuples(index=False) if t == "SAT"}
        te = unstd_total_effects(focus.result, scales)
        kd["pls_direct_effect"] = [direct.get(d, 0.0) for d in kd["driver"]]
        kd["pls_total_effect"] = [float(te.loc[d, "SAT"]) for d in kd["driver"]]
        _write_csv(kd, cdir / "key_drivers.csv", written)

    def weights():
        _write_csv(item_weights(focus.result, scales), cdir / "index_weights.csv", written)

    for name, fn in (("hierarchy/fuzzy", hierarchy), ("gaps", gaps), ("item ranking", ranking),
                     ("key drivers", drivers), ("index weights", weights)):
        attempt(name, fn)
    return notes


def _versions() -> dict[str, str]:
    import scipy
    from csi import __version__
    v = {"csi": __version__, "python": platform.python_version(), "numpy": np.__version__,
         "pandas": pd.__version__, "scipy": scipy.__version__}
    try:
        import duckdb
        v["duckdb"] = duckdb.__version__
    except ImportError:  # pragma: no cover
        pass
    return v
