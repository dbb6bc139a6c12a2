"""Importance–performance map analysis (IPMA; Ringle & Sarstedt 2016) and what-if.

Importance of a driver X for a target Y is the *unstandardized* total effect
of X on Y between the 0–100 construct scores: "one more index point of X
gives this many index points of Y". We do not re-run regressions; the
standardized total effect is rescaled exactly. With ``c_j`` from
:func:`csi.index.scale_factors`, the 0–100 score is ``ξ_j / c_j + index_j``
(ξ_j the unit-variance PLS score), so every structural OLS coefficient between
0–100 scores equals the standardized one times ``c_from / c_to``; products
along a chain telescope, hence for total effects too::

    importance(X → Y) = total_std(X → Y) · c_X / c_Y

(``tests/test_priorities.py`` checks this against ``numpy.linalg.lstsq`` on the
0–100 scores.) At indicator level the importance of item k of block X is
``w̃_k · importance(X → Y)`` (w̃ the normalised unstandardized weight of the 0–100
item: one more point on the item moves X by w̃_k points) and its performance is
the item's 0–100 mean.

Quadrants (thresholds are the "importance-weighted means" reading of the
IPMA literature):

* importance threshold = mean importance of the drivers shown;
* performance threshold = importance-weighted mean performance Σ I·P / Σ I
  (plain mean when Σ I ≤ 0);
* ``fix_first`` importance ≥ threshold, performance < threshold;
  ``keep_up`` ≥ / ≥; ``low_priority`` < / <; ``possible_overkill`` < / ≥.

Rank: quadrants in the order fix_first, keep_up, low_priority,
possible_overkill; within a quadrant by ``priority_score = importance ·
(100 − performance)`` (the gain available if the driver were brought to 100),
highest first. A driver without a finite importance or performance (a block
whose weights sum to ≤ 0 has no index) is ``undetermined`` and ranked last;
it does not enter the thresholds.

With ``plsc=True`` the standardized total effects are the disattenuated
(consistent) ones, so the importance is "index points of the target per index
point of the driver" *as if measured without error*; it then no longer equals
OLS between the 0–100 composite scores (that equality holds for plain PLS).
"""
from __future__ import annotations

from typing import Literal, Mapping

import numpy as np
import pandas as pd

from csi.errors import DataError, SpecError
from csi.analytics.index import Scales, index_draws, index_scores, is_standardized, item_weights, scale_factors
from csi.analytics.scales import to_0_100
from csi.engine.kernel_math import percentile_interval

__all__ = ["ipma", "action_list", "what_if", "unstd_total_effects", "construct_labels", "item_labels",
           "QUADRANTS"]

Level = Literal["construct", "indicator"]
Lang = Literal["en", "zh"]

QUADRANTS = ("fix_first", "keep_up", "low_priority", "possible_overkill", "undetermined")
QUADRANT_LABELS = {
    "fix_first": ("Fix first", "优先改进"),
    "keep_up": ("Keep up the good work", "继续保持"),
    "low_priority": ("Low priority", "次要改进"),
    "possible_overkill": ("Possible overkill", "可能过度投入"),
    "undetermined": ("Cannot be rated", "无法评估"),
}


# -------------------------------------------------------------------- labels
def construct_labels() -> dict[str, tuple[str, str]]:
    """``{code: (english, chinese)}``: the package's one table, :data:`csi.dictionary.CONSTRUCT_LABELS`."""
    from csi.model.dictionary import CONSTRUCT_LABELS

    return dict(CONSTRUCT_LABELS)


def item_labels() -> dict[str, tuple[str, str]]:
    """``{item: (text_en, text_zh)}`` from the built-in dictionary (empty if absent)."""
    try:
        from csi.model.dictionary import DEFAULT_ITEMS  # type: ignore
        return {r.item: (str(r.text_en), str(r.text_zh)) for r in DEFAULT_ITEMS.itertuples(index=False)}
    except Exception:  # noqa: BLE001
        return {}


def _label(code: str, labels: Mapping[str, tuple[str, str]], lang: int) -> str:
    lab = labels.get(code)
    return lab[lang] if lab and lab[lang] else code


# ------------------------------------------------------------------- effects
def _std_total(result) -> pd.DataFrame:
    """(J × J) standardized total effects, [from, to]; zero where no path."""
    cons = list(result.spec.constructs)
    t = pd.DataFrame(0.0, index=cons, columns=cons)
    eff = result.effects
    for f, to, tot in zip(eff["from"], eff["to"], eff["total"]):
        t.loc[f, to] = float(tot)
    return t


def unstd_total_effects(result, scales: Scales) -> pd.DataFrame:
    """(J × J) total effects between 0–100 construct scores, [from, to] = points of
    ``to`` per point of ``from`` (``total_std · c_from / c_to``)."""
    c = scale_factors(result, scales)
    t = _std_total(result)
    with np.errstate(divide="ignore", invalid="ignore"):
        u = t.to_numpy() * c.to_numpy()[:, None] / c.to_numpy()[None, :]
    return pd.DataFrame(u, index=t.index, columns=t.columns)


def _draw_importance(result, scales: Scales, boot, drivers: list[str], target: str) -> np.ndarray:
    """Bootstrap draws of the construct importances, (B × len(drivers))."""
    from csi.analytics.index import _block_arrays, _groups, _normalise, _unstd  # shared formula, one place

    draws = boot.draws
    need = ["weights", "total_effects"] + (["item_sd"] if is_standardized(result) else [])
    for key in need:
        if key not in draws:
            raise DataError(f"the bootstrap result has no {key!r} draws; cannot compute importance intervals")
    items, _, _, lo, hi, _, _ = _block_arrays(result, scales)
    w = draws["weights"].loc[:, items].to_numpy(float)
    sd = draws["item_sd"].loc[:, items].to_numpy(float) if is_standardized(result) else None
    _, c = _normalise(_unstd(w, hi - lo, sd, is_standardized(result)), _groups(result.spec, items))
    cpos = {k: j for j, k in enumerate(result.spec.constructs)}
    te = draws["total_effects"]
    out = np.empty((len(te), len(drivers)))
    for j, d in enumerate(drivers):
        key = (d, target)                    # total_effects columns: MultiIndex (from, to)
        tot = te[key].to_numpy(float) if key in te.columns else np.zeros(len(te))
        with np.errstate(divide="ignore", invalid="ignore"):
            out[:, j] = tot * c[:, cpos[d]] / c[:, cpos[target]]
    return out


def _draw_item_weights(result, scales: Scales, boot, items_wanted: list[str]) -> np.ndarray:
    from csi.analytics.index import _block_arrays, _groups, _normalise, _unstd

    items, _, _, lo, hi, _, _ = _block_arrays(result, scales)
    draws = boot.draws
    w = draws["weights"].loc[:, items].to_numpy(float)
    sd = draws["item_sd"].loc[:, items].to_numpy(float) if is_standardized(result) else None
    wn, _ = _normalise(_unstd(w, hi - lo, sd, is_standardized(result)), _groups(result.spec, items))
    pos = {it: k for k, it in enumerate(items)}
    return wn[:, [pos[i] for i in items_wanted]]


# ---------------------------------------------------------------------- ipma
def _fmt(x: float) -> str:
    return f"{abs(x):.1f}"


def _impact(driver_en, driver_zh, target_en, target_zh, importance, step=5, quote=False):
    if quote:  # item texts are sentences: quote them, without their final full stop
        driver_en, driver_zh = f"“{driver_en.rstrip('.。 ')}”", f"“{driver_zh.rstrip('.。 ')}”"
    if not np.isfinite(importance):
        return (f"The effect of {driver_en} on {target_en} could not be estimated",
                f"无法估计{driver_zh}对{target_zh}的影响")
    up = importance >= 0
    en = (f"Raising {driver_en} by {step} points {'raises' if up else 'lowers'} {target_en} "
          f"by {_fmt(step * importance)} points")
    zh = f"{driver_zh}提升{step}分，{target_zh}将{'提升' if up else '下降'}{_fmt(step * importance)}分"
    return en, zh


def _extended(result, scales: Scales) -> tuple[Scales, set]:
    """A higher-order / interaction model's result (csi.engine.hoc): the bounds of the columns its plain model adds
    (:func:`csi.engine.hoc.extended_scales`) and its interaction terms, which are no drivers (no 0–100 score)."""
    ext = (getattr(result, "info", None) or {}).get("extended")
    if not ext:
        return scales, set()
    from csi.engine.hoc import extended_scales

    return extended_scales(result, scales), {t["term"] for t in (ext.get("interactions") or {}).get("terms", [])}


def ipma(result, scales: Scales, target: str = "SAT", level: Level = "construct", boot=None,
         alpha: float = 0.05, labels: Mapping[str, tuple[str, str]] | None = None,
         step: float = 5) -> pd.DataFrame:
    """Importance–performance map for ``target``.

    Returns DataFrame(driver, target, level, importance, performance, quadrant, rank,
    importance_ci_low, importance_ci_high, impact_en, impact_zh, construct, label_en,
    label_zh, priority_score, performance_ci_low, performance_ci_high), sorted by rank (1 = act first). ``driver`` is a
    construct code (construct level: every construct with a path into the target,
    directly or indirectly) or an item code (indicator level: the items of those
    constructs; ``construct`` names the block). ``labels`` overrides the
    ``{code: (en, zh)}`` display texts (constructs and items). Percentile CIs need
    ``boot`` (draws of weights, item SDs and total effects).

    ``performance_ci_low`` / ``performance_ci_high``: percentile interval of the performance over the same
    draws — at construct level the index recomputed in every draw (:func:`csi.analytics.index.index_draws`,
    the interval of the Overview's indices), at indicator level the item's 0–100 mean in every draw
    (``draws["item_mean"]``). NaN without ``boot``.
    """
    if level not in ("construct", "indicator"):
        raise DataError(f"level must be 'construct' or 'indicator', got {level!r}")
    spec = result.spec
    if target not in spec.constructs:
        raise SpecError(f"IPMA target {target!r} is not a construct of the model "
                        f"(constructs: {', '.join(spec.constructs)})")
    scales, terms = _extended(result, scales)
    drivers = [d for d in spec.ancestors(target) if d not in terms]
    if not drivers:
        raise SpecError(f"IPMA target {target!r} has no predecessors in the structural model")
    lab = {**construct_labels(), **item_labels(), **(dict(labels) if labels else {})}
    imp_all = unstd_total_effects(result, scales)
    idx = index_scores(result, scales).set_index("construct")["index"]
    imp_c = np.array([imp_all.loc[d, target] for d in drivers])
    draws_c = _draw_importance(result, scales, boot, drivers, target) if boot is not None else None

    if level == "construct":
        codes, cons, imp, perf = drivers, drivers, imp_c, idx.loc[drivers].to_numpy(float)
        draws = draws_c
        perf_draws = (index_draws(result, scales, boot).loc[:, drivers].to_numpy(float)
                      if boot is not None else None)
    else:
        tab = item_weights(result, scales)
        tab = tab[tab["construct"].isin(drivers)]
        codes, cons = list(tab["indicator"]), list(tab["construct"])
        pos = {d: j for j, d in enumerate(drivers)}
        cj = np.array([pos[c] for c in cons])
        imp = tab["weight_norm"].to_numpy() * imp_c[cj]
        perf = tab["mean_0_100"].to_numpy()
        draws = (_draw_item_weights(result, scales, boot, codes) * draws_c[:, cj]
                 if boot is not None else None)
        perf_draws = None
        if boot is not None:
            sc = tab.set_index("indicator")
            m = boot.draws["item_mean"].loc[:, codes].to_numpy(float)
            perf_draws = to_0_100(m, sc.loc[codes, "scale_min"].to_numpy(float),
                                  sc.loc[codes, "scale_max"].to_numpy(float))

    ci_lo = np.full(len(codes), np.nan)
    ci_hi = np.full(len(codes), np.nan)
    if draws is not None:
        ci_lo, ci_hi = percentile_interval(draws, alpha)
    p_lo = np.full(len(codes), np.nan)
    p_hi = np.full(len(codes), np.nan)
    if perf_draws is not None:
        p_lo, p_hi = percentile_interval(perf_draws, alpha)

    quad = _quadrants(imp, perf)
    score = imp * (100.0 - perf)
    t_en, t_zh = _label(target, lab, 0), _label(target, lab, 1)
    rows = []
    for k, code in enumerate(codes):
        d_en, d_zh = _label(code, lab, 0), _label(code, lab, 1)
        en, zh = _impact(d_en, d_zh, t_en, t_zh, imp[k], step=_step_text(step), quote=level == "indicator")
        rows.append({"driver": code, "target": target, "level": level, "importance": imp[k],
                     "performance": perf[k], "quadrant": quad[k], "rank": 0,
                     "importance_ci_low": ci_lo[k], "importance_ci_high": ci_hi[k],
                     "impact_en": en, "impact_zh": zh, "construct": cons[k],
                     "label_en": d_en, "label_zh": d_zh, "priority_score": score[k],
                     "performance_ci_low": p_lo[k], "performance_ci_high": p_hi[k]})
    df = pd.DataFrame(rows)
    order = {q: i for i, q in enumerate(QUADRANTS)}
    df["_q"] = df["quadrant"].map(order)
    df["_s"] = -df["priority_score"].fillna(-np.inf)
    df = df.sort_values(["_q", "_s"], kind="stable").drop(columns=["_q", "_s"]).reset_index(drop=True)
    df["rank"] = np.arange(1, len(df) + 1)
    return df


def _step_text(step: float):
    return int(step) if float(step).is_integer() else step


def _quadrants(imp: np.ndarray, perf: np.ndarray) -> list[str]:
    ok = np.isfinite(imp) & np.isfinite(perf)
    if not ok.any():
        return ["undetermined"] * len(imp)
    i_thr = imp[ok].mean()
    s = imp[ok].sum()
    p_thr = float(imp[ok] @ perf[ok] / s) if s > 0 else perf[ok].mean()
    out = []
    for i, p, good in zip(imp, perf, ok):
        if not good:  # no index (weights summing to ≤ 0) or no effect: it cannot be placed
            out.append("undetermined")
            continue
        hi_i, hi_p = bool(i >= i_thr), bool(p >= p_thr)
        out.append("keep_up" if hi_i and hi_p else "fix_first" if hi_i else
                   "possible_overkill" if hi_p else "low_priority")
    return out


def ipma_thresholds(ipma_df: pd.DataFrame) -> tuple[float, float]:
    """(importance threshold, performance threshold) used for the quadrants, for drawing."""
    imp, perf = ipma_df["importance"].to_numpy(float), ipma_df["performance"].to_numpy(float)
    ok = np.isfinite(imp) & np.isfinite(perf)
    s = imp[ok].sum()
    return float(imp[ok].mean()), float(imp[ok] @ perf[ok] / s) if s > 0 else float(perf[ok].mean())


# ------------------------------------------------------------------- actions
def action_list(ipma_df: pd.DataFrame, lang: Lang = "en", top: int = 3) -> list[str]:
    """The ``top`` highest-ranked drivers as plain-language actions, best first."""
    if lang not in ("en", "zh"):
        raise DataError(f"lang must be 'en' or 'zh', got {lang!r}")
    if ipma_df is None or ipma_df.empty:
        return []
    i_thr, p_thr = ipma_thresholds(ipma_df)
    out = []
    for k, r in enumerate(ipma_df.sort_values("rank").head(top).itertuples(index=False), start=1):
        q_en, q_zh = QUADRANT_LABELS.get(r.quadrant, (r.quadrant, r.quadrant))
        name_en = getattr(r, "label_en", r.driver)
        name_zh = getattr(r, "label_zh", r.driver)
        above = r.performance >= p_thr
        if lang == "en":
            out.append(f"{k}. {q_en} — {name_en}: importance {r.importance:.2f} "
                       f"({'above' if r.importance >= i_thr else 'below'} average), performance "
                       f"{r.performance:.1f}/100 ({'above' if above else 'below'} average). {r.impact_en}.")
        else:
            out.append(f"{k}. {q_zh}——{name_zh}：重要性{r.importance:.2f}"
                       f"（{'高于' if r.importance >= i_thr else '低于'}平均），表现{r.performance:.1f}分"
                       f"（{'高于' if above else '低于'}平均）。{r.impact_zh}。")
    return out


def what_if(result, scales: Scales, driver: str, points: float) -> pd.DataFrame:
    """Predicted change (0–100 points) in every construct downstream of ``driver``.

    ``driver`` is a construct code or an item code; ``points`` the assumed rise of
    its 0–100 score. Returns DataFrame(construct, change, label_en, label_zh) —
    for an item its own construct comes first (``w̃_k · points``). Linear model:
    change = points × unstandardized total effect.
    """
    spec = result.spec
    if not np.isfinite(points):
        raise DataError(f"points must be a finite number, got {points!r}")
    scales, _ = _extended(result, scales)
    te = unstd_total_effects(result, scales)
    if driver in spec.constructs:
        base, start = float(points), driver
        rows = []
    elif driver in spec.indicators:
        start = spec.construct_of(driver)
        tab = item_weights(result, scales).set_index("indicator")
        base = float(points) * float(tab.loc[driver, "weight_norm"])
        rows = [(start, base)]
    else:
        raise SpecError(f"what-if driver {driver!r} is neither a construct nor an item of the model")
    rows += [(c, base * float(te.loc[start, c])) for c in spec.descendants(start)]
    lab = construct_labels()
    return pd.DataFrame({"construct": [r[0] for r in rows], "change": [r[1] for r in rows],
                         "label_en": [_label(r[0], lab, 0) for r in rows],
                         "label_zh": [_label(r[0], lab, 1) for r in rows]})
