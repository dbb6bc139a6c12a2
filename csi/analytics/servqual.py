"""RATER / SERVQUAL gap scores and management-vs-customer importance.

SERVQUAL (Parasuraman, Zeithaml & Berry 1988, J. Retailing 64(1)) measures service quality in five
dimensions — Reliability, Assurance, Tangibles, Empathy, Responsiveness (RATER) — each asked twice:
what the customer expects of an excellent firm (``<dim>exp<k>``) and what this firm delivers
(``<dim>per<k>``); see :func:`csi.model.templates.rater_template` and the dictionary's SQE/REL/… items.

* :func:`servqual_gaps` — per item and per dimension: expectation, perception (0–100), gap P − E with
  the paired t interval, ratio P/E with its delta-method interval (both from
  :func:`csi.analytics.classic.expectation_gap`, the one implementation of the paired gap), n.
  A dimension's score per respondent is the mean of the 0–100 items they answered.
* :func:`servqual_importance` — the dimensions' importance from the model: PLS path coefficients of
  satisfaction on the five perception dimensions (the ``rater`` template).
* :func:`servqual_table` — both, one row per item and per dimension (``classic/servqual.csv``).
* :func:`read_management_survey`, :func:`management_importance`, :func:`importance_gap` — the first gap
  of the gap model (Parasuraman, Zeithaml & Berry 1985, J. Marketing 49(4)): managers rate or rank the
  dimensions (or drivers); their importance is set beside the customers' derived importance with
  Spearman's rank correlation and the largest disagreements (``classic/importance_gap.csv``).
"""
from __future__ import annotations

import itertools
import json
import math
from typing import Literal, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy.special import stdtr

from csi.analytics.classic import expectation_gap
from csi.analytics.scales import as_scales, rescale_0_100
from csi.errors import DataError, InputError, SpecError
from csi.model.dictionary import CONSTRUCT_LABELS
from csi.model.templates import RATER_DIMENSIONS, rater_template

SETTING_KEY = "management_importance"
Kind = Literal["rating", "rank"]
SERVQUAL_COLUMNS = ("level", "dimension", "item", "expectation_item", "perception_item", "expectation", "perception",
                    "gap", "gap_ci_low", "gap_ci_high", "p_value", "ratio", "ratio_ci_low", "ratio_ci_high", "n",
                    "importance", "importance_share", "importance_rank")


# ================================================================== gaps
def servqual_pairs(items: Sequence[str]) -> list[tuple[str, str, str, str]]:
    """``[(dimension, key, expectation_item, perception_item)]`` for every ``<stem>exp<k>``/``<stem>per<k>``
    pair present in ``items`` (key = ``<stem><k>``), dimensions in RATER order."""
    have = set(map(str, items))
    out = []
    for dim, stem in RATER_DIMENSIONS.items():
        ks = sorted(int(i[len(stem) + 3:]) for i in have
                    if i.startswith(f"{stem}exp") and i[len(stem) + 3:].isdigit() and f"{stem}per{i[len(stem) + 3:]}" in have)
        out += [(dim, f"{stem}{k}", f"{stem}exp{k}", f"{stem}per{k}") for k in ks]
    return out


def servqual_gaps(data: pd.DataFrame, scales, weights: np.ndarray | None = None, alpha: float = 0.05,
                  pairs: Sequence[tuple[str, str, str, str]] | None = None) -> pd.DataFrame:
    """Gap scores per item and per dimension (rows ``level`` = ``"item"`` then ``"dimension"``).

    Items and dimension scores are on 0–100 points (:func:`csi.analytics.scales.rescale_0_100`). A
    respondent's dimension expectation (perception) is the mean of the expectation (perception) items of
    that dimension they answered; only respondents with both enter the dimension's paired statistics.
    Interval columns: ``gap_ci_*`` paired t, ``ratio_ci_*`` delta method (see
    :func:`csi.analytics.classic.expectation_gap`).
    """
    pairs = servqual_pairs(data.columns) if pairs is None else list(pairs)
    if not pairs:
        raise DataError("no SERVQUAL expectation/perception item pairs (relexp1/relper1, …) in the data")
    items = [i for _, _, e, p in pairs for i in (e, p)]
    g = expectation_gap(data, [(k, e, p) for _, k, e, p in pairs], scales, weights=weights, alpha=alpha,
                        ratio_ci=True)
    g.insert(0, "level", "item")
    g.insert(1, "dimension", [d for d, _, _, _ in pairs])
    g = g.rename(columns={"attribute": "item"})
    x = rescale_0_100(data[items], {i: as_scales(scales)[i] for i in items})
    dims = list(dict.fromkeys(d for d, _, _, _ in pairs))
    dim_frame = pd.DataFrame(index=data.index)
    for d in dims:
        es = [e for dd, _, e, _ in pairs if dd == d]
        ps = [p for dd, _, _, p in pairs if dd == d]
        dim_frame[f"{d}_E"] = x[es].mean(axis=1, skipna=True)
        dim_frame[f"{d}_P"] = x[ps].mean(axis=1, skipna=True)
    dg = expectation_gap(dim_frame, [(d, f"{d}_E", f"{d}_P") for d in dims],
                         {c: (0.0, 100.0) for c in dim_frame.columns}, weights=weights, alpha=alpha, ratio_ci=True)
    dg = dg.rename(columns={"attribute": "dimension"})
    dg.insert(0, "level", "dimension")
    dg.insert(2, "item", None)
    dg["expectation_item"] = [", ".join(e for dd, _, e, _ in pairs if dd == d) for d in dg["dimension"]]
    dg["perception_item"] = [", ".join(p for dd, _, _, p in pairs if dd == d) for d in dg["dimension"]]
    return pd.concat([g, dg], ignore_index=True)


# ============================================================ importance
def servqual_importance(data: pd.DataFrame, weights: np.ndarray | None = None, missing: str = "listwise"
                        ) -> pd.DataFrame:
    """The dimensions' importance from the model: PLS of SAT on the perception dimensions (``rater``).

    Columns ``dimension, importance`` (standardised path coefficient into SAT), ``importance_share``
    (coefficient / Σ positive coefficients; 0 for a negative one), ``importance_rank`` (1 = largest);
    ``attrs``: ``r2`` of SAT and ``n_used``.
    """
    from csi.engine.pls import estimate_pls

    spec = rater_template(list(data.columns))
    res = estimate_pls(data, spec, weights=weights, missing=missing)
    paths = res.paths[res.paths["to"] == "SAT"].set_index("from")["estimate"]
    dims = [d for d in RATER_DIMENSIONS if d in paths.index]
    coef = np.array([float(paths[d]) for d in dims])
    pos = np.clip(coef, 0.0, None)
    share = pos / pos.sum() if pos.sum() > 0 else np.full(len(dims), np.nan)
    out = pd.DataFrame({"dimension": dims, "importance": coef, "importance_share": share})
    out["importance_rank"] = out["importance"].rank(ascending=False, method="min").astype(int)
    r2 = res.constructs.set_index("construct").loc["SAT", "r2"]
    out.attrs.update({"r2": float(r2), "n_used": int(res.info.get("n_used", len(res.scores)))})
    return out


def servqual_table(data: pd.DataFrame, scales, weights: np.ndarray | None = None, alpha: float = 0.05
                   ) -> pd.DataFrame:
    """``classic/servqual.csv``: :func:`servqual_gaps` with the model importance on the dimension rows."""
    gaps = servqual_gaps(data, scales, weights=weights, alpha=alpha)
    imp = servqual_importance(data, weights=weights)
    out = gaps.merge(imp, on="dimension", how="left")
    out.loc[out["level"] == "item", ["importance", "importance_share", "importance_rank"]] = np.nan
    out.attrs.update(imp.attrs)
    return out[list(SERVQUAL_COLUMNS)]


# ================================================ management vs customers
def _known_columns(extra: Sequence[str] = ()) -> dict[str, str]:
    """Accepted management-survey headers (code, English or Chinese label, any case) → construct code."""
    codes = list(RATER_DIMENSIONS) + ["IMAG", "EXPE", "QUAL", "VAL", "COMP"] + list(extra)
    out = {}
    for c in codes:
        out[c.lower()] = c
        if c in CONSTRUCT_LABELS:
            en, zh = CONSTRUCT_LABELS[c]
            out[en.lower()] = c
            out[zh] = c
    return out


def read_management_survey(source, kind: Kind = "rating", file: str | None = None,
                           known: Sequence[str] = ()) -> pd.DataFrame:
    """A validated management survey: one row per manager, one column per dimension or driver.

    ``source``: a file path (CSV/XLSX, read by :func:`csi.data.ingest.read_survey`) or a DataFrame of text
    cells. The first column (header ``manager``, ``id``, ``经理`` or empty) names the manager; every other
    header must be a dimension or driver code (``REL``, ``TAN``, ``QUAL``, … or its English/Chinese label;
    ``known`` adds codes). ``kind="rating"``: non-negative numbers (any scale, e.g. 1–10 or points out of
    100), not all zero; ``kind="rank"``: each manager ranks the k columns 1…k, each rank once.
    Every problem is listed (file, row, column, value, reason; codes in :mod:`csi.text.messages`) and
    raises :class:`~csi.errors.InputError`. Returns a float DataFrame indexed by manager, columns = codes.
    """
    from csi.text.messages import problem

    if kind not in ("rating", "rank"):
        raise SpecError(f"kind must be 'rating' or 'rank', got {kind!r}")
    if isinstance(source, pd.DataFrame):
        raw, name = source.astype(str).fillna(""), file or "management survey"
    else:
        from pathlib import Path

        from csi.data.ingest import read_survey

        name = file or (Path(source).name if isinstance(source, (str, Path)) else "management survey")
        raw = read_survey(source, name=name)
    probs = []
    if raw.shape[1] == 0 or len(raw) == 0:
        raise InputError(problem(name, "header_only"))
    cols = [str(c).strip() for c in raw.columns]
    if cols[0].lower() not in ("manager", "id", "经理", "管理者", "") :
        probs.append(problem(name, "mgmt_no_id", column=cols[0]))
    known_map = _known_columns(known)
    codes = []
    for c in cols[1:]:
        code = known_map.get(c.lower(), known_map.get(c))
        if code is None:
            probs.append(problem(name, "mgmt_unknown_column", column=c, known=", ".join(
                list(RATER_DIMENSIONS) + ["IMAG", "EXPE", "QUAL", "VAL"])))
        elif code in codes:
            probs.append(problem(name, "mgmt_duplicate_column", column=c, code=code))
        codes.append(code)
    if len(cols) - 1 < 2:
        probs.append(problem(name, "mgmt_too_few", count=len(cols) - 1))
    if probs:
        raise InputError(probs)
    ids = [str(v).strip() for v in raw.iloc[:, 0]]
    seen: dict[str, int] = {}
    values = np.full((len(raw), len(codes)), np.nan)
    k = len(codes)
    for r in range(len(raw)):
        row_no = r + 2
        if ids[r] == "":
            probs.append(problem(name, "empty_id", row=row_no, column=cols[0]))
        elif ids[r] in seen:
            probs.append(problem(name, "mgmt_duplicate", row=row_no, column=cols[0], value=ids[r],
                                 first=seen[ids[r]]))
        else:
            seen[ids[r]] = row_no
        for j, c in enumerate(cols[1:]):
            cell = str(raw.iloc[r, j + 1]).strip()
            try:
                v = float(cell)
            except ValueError:
                v = float("nan")
            if not math.isfinite(v):
                probs.append(problem(name, "mgmt_not_number", row=row_no, column=c, value=cell))
            elif v < 0:
                probs.append(problem(name, "mgmt_negative", row=row_no, column=c, value=cell))
            else:
                values[r, j] = v
        row = values[r]
        if np.isfinite(row).all():
            if kind == "rank" and sorted(row.tolist()) != [float(i) for i in range(1, k + 1)]:
                probs.append(problem(name, "mgmt_bad_rank", row=row_no, value=", ".join(f"{x:g}" for x in row), k=k))
            if kind == "rating" and not (row > 0).any():
                probs.append(problem(name, "mgmt_all_zero", row=row_no))
    if probs:
        raise InputError(probs)
    out = pd.DataFrame(values, columns=codes, index=pd.Index(ids, name="manager"))
    out.attrs.update({"kind": kind, "file": name})
    return out


def management_importance(survey: pd.DataFrame, kind: Kind | None = None) -> pd.Series:
    """Managers' importance per column as shares summing to 1.

    Ratings: each manager's ratings are divided by their sum (so a generous rater does not weigh more),
    then averaged over managers. Ranks: each manager's rank r of k becomes k + 1 − r points, normalised
    the same way (a Borda count).
    """
    kind = kind or survey.attrs.get("kind", "rating")
    x = survey.to_numpy(dtype=float)
    if kind == "rank":
        x = survey.shape[1] + 1.0 - x
    x = x / x.sum(axis=1, keepdims=True)
    return pd.Series(x.mean(axis=0), index=list(survey.columns), name="management_share")


def _ranks(v: np.ndarray) -> np.ndarray:
    """Average ranks, 1 = largest value."""
    return pd.Series(-v).rank(method="average").to_numpy()


def spearman(x: Sequence[float], y: Sequence[float]) -> tuple[float, float, str]:
    """Spearman's ρ (Pearson correlation of average ranks) with a two-sided p-value.

    k ≤ 8: the exact permutation p (all k! orderings of y's ranks, P(|ρ*| ≥ |ρ|)); else the t
    approximation t = ρ√((k − 2)/(1 − ρ²)), k − 2 df. Returns ``(rho, p, method)``.
    """
    a, b = _ranks(np.asarray(x, float)), _ranks(np.asarray(y, float))
    k = len(a)
    if k < 3:
        raise DataError(f"a rank correlation needs at least 3 dimensions, got {k}")

    def rho_of(u, v):
        u, v = u - u.mean(), v - v.mean()
        den = math.sqrt(float(u @ u) * float(v @ v))
        return float(u @ v) / den if den > 0 else float("nan")

    rho = rho_of(a, b)
    if not math.isfinite(rho):
        return rho, float("nan"), "undefined (ties)"
    if k <= 8:
        perms = np.array(list(itertools.permutations(b)))
        ac = a - a.mean()
        bc = perms - perms.mean(axis=1, keepdims=True)
        r = (bc @ ac) / np.sqrt((ac @ ac) * (bc * bc).sum(axis=1))
        return rho, float(np.mean(np.abs(r) >= abs(rho) - 1e-12)), "exact permutation"
    if abs(rho) >= 1:
        return rho, 0.0, "t approximation"
    t = rho * math.sqrt((k - 2) / (1 - rho * rho))
    return rho, float(2 * stdtr(k - 2, -abs(t))), "t approximation"


def importance_gap(management: pd.Series | Mapping[str, float], customer: pd.Series | Mapping[str, float],
                   lang: str = "en") -> pd.DataFrame:
    """Managers' importance beside the customers' derived importance, dimension by dimension.

    Both are made shares over the common dimensions (negative customer importance counts 0). Columns
    ``dimension, label, management_share, management_rank, customer_share, customer_rank, share_gap``
    (management − customer), ``rank_gap`` (customer rank − management rank: > 0 = management ranks it
    higher than customers' behaviour does), ``verdict`` (``overrates`` / ``underrates`` / ``agrees``),
    ``finding`` (a sentence such as "management overrates Tangibles"). Sorted by |share_gap|, largest
    first. ``attrs``: ``spearman_rho``, ``spearman_p``, ``spearman_method``, ``k``.
    """
    m = pd.Series(dict(management), dtype=float)
    c = pd.Series(dict(customer), dtype=float)
    common = [d for d in m.index if d in c.index]
    if len(common) < 2:
        raise DataError("the management survey and the customers' importance share fewer than 2 dimensions "
                        f"(management: {', '.join(m.index)}; customers: {', '.join(c.index)})")
    m = m[common] / m[common].sum()
    cc = c[common].clip(lower=0)
    if not cc.sum() > 0:
        raise DataError("the customers' derived importance is not positive for any common dimension")
    cc = cc / cc.sum()
    mr = pd.Series(_ranks(m.to_numpy()), index=common)
    cr = pd.Series(_ranks(cc.to_numpy()), index=common)
    out = pd.DataFrame({"dimension": common,
                        "label": [CONSTRUCT_LABELS.get(d, (d, d))[0 if lang == "en" else 1] for d in common],
                        "management_share": m.to_numpy(), "management_rank": mr.to_numpy(),
                        "customer_share": cc.to_numpy(), "customer_rank": cr.to_numpy()})
    out["share_gap"] = out["management_share"] - out["customer_share"]
    out["rank_gap"] = out["customer_rank"] - out["management_rank"]
    tol = 0.02  # share points below which the two views are read as agreeing
    out["verdict"] = np.where(out["share_gap"] > tol, "overrates", np.where(out["share_gap"] < -tol, "underrates",
                                                                             "agrees"))
    out["finding"] = [f"management {v} {lab}" if v != "agrees" else f"management and customers agree on {lab}"
                      for v, lab in zip(out["verdict"], [CONSTRUCT_LABELS.get(d, (d, d))[0] for d in common])]
    out = out.reindex(out["share_gap"].abs().sort_values(ascending=False, kind="stable").index).reset_index(drop=True)
    if len(common) >= 3:
        rho, p, how = spearman(out["management_share"], out["customer_share"])
    else:
        rho, p, how = float("nan"), float("nan"), "needs 3 or more dimensions"
    out.attrs.update({"spearman_rho": rho, "spearman_p": p, "spearman_method": how, "k": len(common)})
    return out


def dump_survey(survey: pd.DataFrame) -> str:
    """The setting JSON stored under :data:`SETTING_KEY`."""
    return json.dumps({"kind": survey.attrs.get("kind", "rating"), "file": survey.attrs.get("file"),
                       "columns": list(survey.columns), "managers": list(survey.index),
                       "values": survey.to_numpy().tolist()}, ensure_ascii=False)


def load_survey(text: str | None) -> pd.DataFrame | None:
    """The stored management survey (as :func:`read_management_survey` returns it), or None."""
    if not text:
        return None
    try:
        d = json.loads(text)
        out = pd.DataFrame(d["values"], columns=d["columns"], index=pd.Index(d["managers"], name="manager"),
                           dtype=float)
    except (ValueError, KeyError, TypeError):
        raise DataError("the stored management survey is not valid; import it again") from None
    out.attrs.update({"kind": d.get("kind", "rating"), "file": d.get("file")})
    return out


# ======================================================== report hooks
def _wave_scales(prep, wave: str) -> dict[str, tuple[float, float]]:
    tab = prep.scales[prep.scales["wave"].astype(str) == str(wave)]
    return {str(r.item): (float(r.scale_min), float(r.scale_max)) for r in tab.itertuples(index=False)}


def classic_views(prep, fit, summary: dict) -> dict[str, pd.DataFrame]:
    """The report's service-quality views of the focus group (hook of :func:`csi.report.build.classic_tables`):
    ``servqual`` (when the data hold RATER pairs) and ``complaints_iceberg`` (when they hold a complaint item,
    per wave of the selection). Each is skipped silently when its items are absent."""
    from csi.analytics.iceberg import DEFAULT_RATIO, RATIO_SOURCE, complaints_iceberg
    from csi.report.build import complaints_table

    out: dict[str, pd.DataFrame] = {}
    rows = prep.rows_of(fit.key[0])
    pairs = [p for p in servqual_pairs(rows.columns) if rows[p[2]].notna().any() and rows[p[3]].notna().any()]
    if pairs:
        w = prep.weights_of(rows)
        t = servqual_table(rows, _wave_scales(prep, fit.key[0]), weights=w)
        out["servqual"] = t
        dims = t[t["level"] == "dimension"].set_index("dimension")
        summary["servqual"] = {"r2_sat": t.attrs.get("r2"), "n_used": t.attrs.get("n_used"),
                               "ratio_interval": "delta method", "gap_interval": "paired t",
                               "largest_negative_gap": str(dims["gap"].idxmin()),
                               "most_important": str(dims["importance"].idxmax())}
    comp = complaints_table(prep)
    if comp is not None and len(comp):
        out["complaints_iceberg"] = complaints_iceberg(comp, DEFAULT_RATIO)
        summary["complaints_iceberg"] = {"ratio": DEFAULT_RATIO, "source": RATIO_SOURCE,
                                         "interval": "Wilson score interval of the complaint rate"}
    return out


def customer_importance(tables: Mapping[str, pd.DataFrame], codes: Sequence[str]) -> pd.Series | None:
    """Customers' derived importance for ``codes``: the SERVQUAL dimensions' PLS paths when the codes are
    RATER dimensions, else the PLS total effects on SAT of the key-driver table (``classic/key_drivers``)."""
    sq = tables.get("classic/servqual")
    if sq is not None and set(codes) <= set(RATER_DIMENSIONS):
        return sq[sq["level"] == "dimension"].set_index("dimension")["importance"].astype(float)
    kd = tables.get("classic/key_drivers")
    if kd is not None and "pls_total_effect" in kd.columns:
        return kd.set_index("driver")["pls_total_effect"].astype(float)
    return None


def store_views(db, report) -> tuple[dict[str, pd.DataFrame], dict, list[str]]:
    """Views that need the store's settings (used by ``python -m csi report``): ``importance_gap`` from the
    setting ``management_importance`` (the demo database, which has none, uses the demo management survey
    and says so) and ``expert_hierarchy`` from ``expert_weights``. Returns ``(tables, manifest, notes)``."""
    from csi.analytics import ahp
    from csi.analytics.classic import fuzzy_evaluation, weighted_hierarchy
    from csi.data import store

    con = store.connect(db, read_only=True)
    try:
        mgmt_text = store.get_setting(con, SETTING_KEY)
        expert_text = store.get_setting(con, ahp.SETTING_KEY)
        demo_seed = store.get_setting(con, "demo_seed")
    finally:
        con.close()
    tables: dict[str, pd.DataFrame] = {}
    manifest: dict = {}
    notes: list[str] = []
    survey = load_survey(mgmt_text)
    source = "setting management_importance"
    if survey is None and demo_seed is not None:
        from csi.data.demo import management_survey

        survey = read_management_survey(management_survey(int(demo_seed)), file="demo management survey")
        source = "demo management survey (csi.data.demo.management_survey)"
    if survey is not None:
        cust = customer_importance(report.tables, list(survey.columns))
        if cust is None:
            notes.append("importance gap skipped: no customer importance for the management survey's dimensions")
        else:
            try:
                gap = importance_gap(management_importance(survey), cust)
            except DataError as e:
                notes.append(f"importance gap skipped: {e}")
            else:
                tables["classic/importance_gap"] = gap
                manifest["importance_gap"] = {"source": source, "managers": int(len(survey)),
                                              "kind": survey.attrs.get("kind"), **{k: gap.attrs[k] for k in (
                                                  "spearman_rho", "spearman_p", "spearman_method", "k")}}
    if expert_text:
        prep = report.prepared
        try:
            hierarchy, top, record = ahp.load_setting(expert_text)
            rows = prep.rows_of(prep.focus_wave)
            sc = _wave_scales(prep, prep.focus_wave)
            it, lvl, total = weighted_hierarchy(rows, hierarchy, top, sc, weights=prep.weights_of(rows))
            fz = fuzzy_evaluation(rows, hierarchy, sc, weights=prep.weights_of(rows), first_level_weights=top)
        except (SpecError, DataError) as e:
            notes.append(f"expert-weighted hierarchy skipped: {e}")
        else:
            tables["classic/expert_hierarchy_items"], tables["classic/expert_hierarchy"] = it, lvl
            total_row = pd.DataFrame([{"first_level": "TOTAL", "weight": 1.0, **fz.grade_vector.to_dict(),
                                       "score": fz.score, "grade": fz.grade}])
            tables["classic/expert_fuzzy"] = pd.concat([fz.level1, total_row], ignore_index=True)
            manifest["expert_weights"] = {**record, "hierarchy_total": total, "fuzzy_score": fz.score,
                                          "fuzzy_grade": fz.grade}
    return tables, manifest, notes
