"""Classic CSI methods used by Chinese practitioners next to the structural model.

All inputs are plain DataFrames of respondents × items (float, NaN = missing)
with the theoretical scale of each item given explicitly
(``scales = {item: (min, max)}``, or the dictionary table, see
:func:`csi.scales.as_scales`). Ratings are first put on 0–100 points with
:func:`csi.scales.rescale_0_100`. Optional survey ``weights`` (array (n,),
aligned with the rows of ``data``) enter every mean, SD and share with the
formulas documented in :mod:`csi.scales`. Missing answers are handled item by
item (each item's statistic uses the respondents who answered it) unless a
function says otherwise.

Entry points
------------
* :func:`weighted_hierarchy` — weighted indicator hierarchy (items → first-level
  attributes → total index), with :func:`hierarchy_from_attributes` (equal
  weights) and :func:`hierarchy_with_importance` (data-driven weights).
* :func:`fuzzy_evaluation` — fuzzy comprehensive evaluation (模糊综合评价), one
  or two levels, operators M(·,+) and M(∧,∨).
* :func:`expectation_gap` and :func:`pairs_from_attributes` — expectation vs.
  perception per attribute with a paired t interval.
* :func:`item_ranking` — items ranked by 0–100 mean, weakest flagged.
* :func:`key_drivers` and :func:`construct_means` — OLS / stepwise key-driver
  regression with Johnson's relative weights, a cross-check of PLS priorities.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Literal, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy.special import stdtr, stdtrit  # Student t cdf and quantile; scipy.stats costs ~1 s to import

from csi.engine.kernel_math import cov_to_corr, weighted_moments
from csi.errors import DataError, SpecError
from csi.analytics.scales import (BANDS, GRADES, as_scales, band_index, check_weights, kish_n, rescale_0_100,
                     weighted_mean, weighted_sd)

FuzzyOperator = Literal["weighted_average", "max_min"]
DriverMethod = Literal["ols", "stepwise"]
_OPERATORS = ("weighted_average", "max_min")
_METHODS = ("ols", "stepwise")
DEFAULT_GRADE_SCORES: tuple[float, ...] = tuple(b.grade_score for b in BANDS)


# ====================================================================== helpers
def _check_columns(data: pd.DataFrame, cols: Iterable[str], what: str = "item") -> None:
    if not isinstance(data, pd.DataFrame):
        raise DataError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    missing = [c for c in cols if c not in data.columns]
    if missing:
        raise DataError(f"{what}(s) not in the data: {', '.join(map(str, missing))}")


def _rescaled(data: pd.DataFrame, items: Sequence[str], scales) -> pd.DataFrame:
    """data[items] on 0–100 points (n x k)."""
    _check_columns(data, items)
    sc = as_scales(scales)
    no_scale = [i for i in items if i not in sc]
    if no_scale:
        raise SpecError(f"no scale (min, max) given for item(s): {', '.join(no_scale)}")
    return rescale_0_100(data[list(items)], {i: sc[i] for i in items})


def weight_values(weights: Mapping, what: str) -> dict:
    """``{name: float}``; refuse an empty mapping and negative, non-finite or non-numeric weights
    (shared with the expert weights of :mod:`csi.analytics.ahp`)."""
    if not isinstance(weights, Mapping) or not weights:
        raise SpecError(f"{what} must be a non-empty dict name -> weight")
    vals = {}
    for k, v in weights.items():
        try:
            f = float(v)
        except (TypeError, ValueError):
            raise SpecError(f"{what}: weight of {k!r} is not a number ({v!r})") from None
        if not math.isfinite(f) or f < 0:
            raise SpecError(f"{what}: weight of {k!r} must be finite and non-negative, got {v!r}")
        vals[k] = f
    return vals


def check_same_levels(weights: Mapping, levels: Mapping, what: str, extra_text: str, absent_text: str) -> None:
    """Refuse ``weights`` whose keys differ from ``levels``' (SpecError naming both differences)."""
    extra = [k for k in weights if k not in levels]
    absent = [k for k in levels if k not in weights]
    if extra or absent:
        raise SpecError(f"{what}: " + "; ".join(filter(None, [extra and f"{extra_text} {extra}",
                                                             absent and f"{absent_text} {absent}"])))


def _normalise(weights: Mapping, what: str) -> dict:
    """Weights divided by their sum; refuse negative, non-finite or all-zero weights."""
    vals = weight_values(weights, what)
    total = sum(vals.values())
    if total <= 0:
        raise SpecError(f"{what}: weights are all zero")
    return {k: v / total for k, v in vals.items()}


def _check_choice(value, allowed: Sequence[str], name: str) -> None:
    if value not in allowed:
        raise SpecError(f"{name} must be one of {', '.join(map(repr, allowed))}, got {value!r}")


# ====================================================== 1. weighted hierarchy
def hierarchy_from_attributes(attributes, items: Iterable[str] | None = None,
                              exclude_constructs: Sequence[str] = ("EXPE",)) -> dict[str, dict[str, float]]:
    """Equal weights within each first-level attribute.

    ``attributes``: dict item -> attribute, or a dictionary table with columns
    ``item`` and ``attribute`` (and optionally ``construct``: items of
    ``exclude_constructs`` are then left out — by default the expectation
    items, which share attributes with the perception items but rate what was
    expected, not what was delivered). ``items``: the items to use (e.g. the
    data's columns); default all items with an attribute. Items with no
    attribute (None, NaN, empty) are left out. Attributes keep their order of
    first appearance. Returns ``{attribute: {item: 1/k}}``.
    """
    if isinstance(attributes, pd.DataFrame):
        if not {"item", "attribute"} <= set(attributes.columns):
            raise SpecError("attributes table needs columns 'item' and 'attribute'")
        table = attributes
        if "construct" in table.columns and exclude_constructs:
            table = table[~table["construct"].isin(list(exclude_constructs))]
        attributes = dict(zip(table["item"], table["attribute"]))
    if not isinstance(attributes, Mapping):
        raise SpecError(f"attributes must be a dict item -> attribute, got {type(attributes).__name__}")
    wanted = list(attributes) if items is None else list(items)
    groups: dict[str, list[str]] = {}
    for item in wanted:
        attr = attributes.get(item)
        if attr is None or (isinstance(attr, float) and math.isnan(attr)) or str(attr).strip() == "":
            continue
        groups.setdefault(str(attr), []).append(item)
    if not groups:
        raise SpecError("no item has a first-level attribute; cannot build a hierarchy")
    return {a: {i: 1.0 / len(its) for i in its} for a, its in groups.items()}


def hierarchy_with_importance(hierarchy: Mapping[str, Mapping[str, float]],
                              importance: Mapping[str, float]) -> dict[str, dict[str, float]]:
    """Replace the item weights of ``hierarchy`` by data-driven importances.

    ``importance``: any dict item -> importance (PLS outer weights, regression
    coefficients, relative weights, …). Negative importances are refused
    rather than silently clipped: decide explicitly (abs, clip) before calling.
    Weights are renormalised within each attribute by :func:`weighted_hierarchy`.
    """
    missing = [i for lvl in hierarchy.values() for i in lvl if i not in importance]
    if missing:
        raise SpecError(f"no importance given for item(s): {', '.join(missing)}")
    return {lvl: {i: importance[i] for i in items} for lvl, items in hierarchy.items()}


def weighted_hierarchy(
    data: pd.DataFrame,
    hierarchy: Mapping[str, Mapping[str, float]],
    first_level_weights: Mapping[str, float] | None,
    scales,
    weights: np.ndarray | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, float]:
    """Weighted indicator hierarchy: items → first-level attributes → total (0–100).

    ``data`` (n x p) ratings; ``hierarchy`` ``{first_level: {item: weight}}``;
    ``first_level_weights`` ``{first_level: weight}`` (None = equal). Weights are
    normalised (item weights within their first level, first-level weights
    overall); negative, non-finite or all-zero weights raise
    :class:`~csi.errors.SpecError`.

    Formulas (m_i = weighted 0–100 mean of item i over its respondents)::

        score_L   = Σ_i w_{i|L} · m_i                 (first-level score)
        total     = Σ_L W_L · score_L
        item contribution  = W_L · w_{i|L} · m_i      (points of the total)
        level contribution = W_L · score_L            (points of the total)

    Returns ``(items_table, level1_table, total_score)``:

    * items_table: ``first_level, item, weight`` (normalised within the level),
      ``global_weight`` (W_L · w_{i|L}), ``n``, ``mean_0_100``, ``contribution``
    * level1_table: ``first_level, weight, score, contribution``
    * total_score: float in [0, 100]; the contributions sum to it.
    """
    if not isinstance(hierarchy, Mapping) or not hierarchy:
        raise SpecError("hierarchy must be a non-empty dict first_level -> {item: weight}")
    if first_level_weights is None:
        first_level_weights = {lvl: 1.0 for lvl in hierarchy}
    lvl_w = _normalise(first_level_weights, "first-level weights")
    check_same_levels(lvl_w, hierarchy, "first-level weights and hierarchy disagree",
                      "weights for unknown level(s)", "no weight for level(s)")
    item_w = {lvl: _normalise(items, f"item weights of {lvl!r}") for lvl, items in hierarchy.items()}
    items = list(dict.fromkeys(i for lvl in item_w.values() for i in lvl))
    x = _rescaled(data, items, scales)
    w = check_weights(weights, len(data))
    means = {i: weighted_mean(x[i].to_numpy(), w) for i in items}
    counts = {i: int(x[i].notna().sum()) for i in items}

    empty = [i for lvl in item_w.values() for i, wi in lvl.items() if wi > 0 and not np.isfinite(means[i])]
    if empty:
        raise DataError(f"item(s) with a positive weight have no answers: {', '.join(dict.fromkeys(empty))}")

    item_rows, lvl_rows = [], []
    for lvl, iw in item_w.items():
        W = lvl_w[lvl]
        score = sum(wi * means[i] for i, wi in iw.items() if wi > 0)
        for i, wi in iw.items():
            item_rows.append({"first_level": lvl, "item": i, "weight": wi, "global_weight": W * wi,
                              "n": counts[i], "mean_0_100": means[i],
                              "contribution": W * wi * means[i] if wi > 0 else 0.0})
        lvl_rows.append({"first_level": lvl, "weight": W, "score": score, "contribution": W * score})
    items_table = pd.DataFrame(item_rows)
    level1 = pd.DataFrame(lvl_rows)
    total = float(level1["contribution"].sum())
    return items_table, level1, total


# ================================================ 2. fuzzy comprehensive evaluation
@dataclass(frozen=True)
class FuzzyResult:
    """Result of :func:`fuzzy_evaluation`.

    * ``membership``: one row per item — ``first_level`` (None for one level),
      ``item``, ``weight`` (normalised within its level), ``n``, the five
      membership columns (``very_dissatisfied`` … ``very_satisfied``; row sums
      to 1; this is R) and ``score`` (row · grade scores).
    * ``level1``: one row per first-level attribute (two-level evaluation only,
      else None) — ``first_level, weight``, the five grade columns (B_L),
      ``score``, ``grade``.
    * ``grade_vector``: Series (5,) indexed by grade — the normalised B.
    * ``score``: B · grade scores; ``grade``: max-membership grade.
    """

    membership: pd.DataFrame
    level1: pd.DataFrame | None
    grade_vector: pd.Series
    score: float
    grade: str
    operator: str
    grade_scores: tuple[float, ...]


def _compose(w: np.ndarray, R: np.ndarray, operator: str) -> np.ndarray:
    """B = W ∘ R for w (k,) normalised and R (k x 5); returns B (5,) normalised to sum 1."""
    if operator == "weighted_average":  # M(·,+)
        b = w @ R
    else:  # M(∧,∨): b_j = max_i min(w_i, r_ij)  (Zadeh)
        b = np.max(np.minimum(w[:, None], R), axis=0)
    s = b.sum()
    if s <= 0:
        raise DataError("fuzzy composition gave an all-zero grade vector (no membership where weights are positive)")
    return b / s


def _grade(b: np.ndarray) -> str:
    # ties go to the lower grade (np.argmax takes the first): the conservative reading
    return GRADES[int(np.argmax(b))]


def fuzzy_evaluation(
    data: pd.DataFrame,
    item_weights: Mapping,
    scales,
    operator: FuzzyOperator = "weighted_average",
    grade_scores: Sequence[float] = DEFAULT_GRADE_SCORES,
    weights: np.ndarray | None = None,
    first_level_weights: Mapping[str, float] | None = None,
) -> FuzzyResult:
    """Fuzzy comprehensive evaluation (模糊综合评价) on the five satisfaction grades.

    Grades V = (very dissatisfied, dissatisfied, neutral, fairly satisfied,
    very satisfied) are the 0–100 bands [0,20], (20,40], (40,60], (60,80],
    (80,100] (see :func:`csi.scales.band_index`; a band owns its upper bound).

    * membership R (items x 5): r_ij = (weighted) share of the respondents who
      answered item i whose 0–100 score falls in grade j.
    * composition B = W ∘ R with ``operator``:
      ``"weighted_average"`` M(·,+): b_j = Σ_i w_i r_ij (default);
      ``"max_min"`` M(∧,∨) (Zadeh): b_j = max_i min(w_i, r_ij).
      W is normalised to sum 1 first; B is normalised to sum 1 after.
    * score = B · grade_scores (default 10, 30, 50, 70, 90 — band midpoints);
      grade = argmax_j b_j (max-membership principle; ties → lower grade).

    ``item_weights`` is either ``{item: weight}`` (one level) or
    ``{first_level: {item: weight}}`` (two levels: each first level gets
    B_L = W_L ∘ R_L, then the stacked B_L (levels x 5) are composed with
    ``first_level_weights`` (None = equal) into the total B).
    """
    _check_choice(operator, _OPERATORS, "operator")
    gs = np.asarray(grade_scores, dtype=float)
    if gs.shape != (len(GRADES),) or not np.isfinite(gs).all():
        raise SpecError(f"grade_scores must be {len(GRADES)} finite numbers, got {list(grade_scores)!r}")
    if not isinstance(item_weights, Mapping) or not item_weights:
        raise SpecError("item_weights must be a non-empty dict item -> weight or first_level -> {item: weight}")
    nested = [isinstance(v, Mapping) for v in item_weights.values()]
    if any(nested) and not all(nested):
        raise SpecError("item_weights mixes items and first levels; give {item: w} or {level: {item: w}}")
    two_level = all(nested)
    if not two_level and first_level_weights is not None:
        raise SpecError("first_level_weights given but item_weights has one level")
    groups = dict(item_weights) if two_level else {None: item_weights}

    items = list(dict.fromkeys(i for g in groups.values() for i in g))
    x = _rescaled(data, items, scales)
    w = check_weights(weights, len(data))
    ww = np.ones(len(data)) if w is None else w
    membership_of: dict[str, np.ndarray] = {}
    counts: dict[str, int] = {}
    for item in items:
        band = band_index(x[item].to_numpy())
        ok = band >= 0
        tot = ww[ok].sum()
        if tot <= 0:
            raise DataError(f"item {item!r} has no answers (with positive weight); cannot build its membership")
        membership_of[item] = np.bincount(band[ok], weights=ww[ok], minlength=len(GRADES)) / tot
        counts[item] = int(ok.sum())

    rows, lvl_rows, lvl_B = [], [], []
    for lvl, iw in groups.items():
        wn = _normalise(iw, "item weights" + (f" of {lvl!r}" if lvl is not None else ""))
        R = np.vstack([membership_of[i] for i in wn])
        for i, wi in wn.items():
            r = membership_of[i]
            rows.append({"first_level": lvl, "item": i, "weight": wi, "n": counts[i],
                         **dict(zip(GRADES, r)), "score": float(r @ gs)})
        B_L = _compose(np.array(list(wn.values())), R, operator)
        lvl_B.append(B_L)
        lvl_rows.append({"first_level": lvl, **dict(zip(GRADES, B_L)), "score": float(B_L @ gs), "grade": _grade(B_L)})

    if two_level:
        if first_level_weights is None:
            first_level_weights = {lvl: 1.0 for lvl in groups}
        W1 = _normalise(first_level_weights, "first-level weights")
        if set(W1) != set(groups):
            raise SpecError(f"first-level weights {sorted(W1)} do not match the levels {list(groups)}")
        w1 = np.array([W1[lvl] for lvl in groups])
        B = _compose(w1, np.vstack(lvl_B), operator)
        level1 = pd.DataFrame(lvl_rows)
        level1.insert(1, "weight", w1)
    else:
        B = lvl_B[0]
        level1 = None
    return FuzzyResult(
        membership=pd.DataFrame(rows),
        level1=level1,
        grade_vector=pd.Series(B, index=list(GRADES), name="membership"),
        score=float(B @ gs),
        grade=_grade(B),
        operator=operator,
        grade_scores=tuple(float(g) for g in gs),
    )


# ======================================================= 3. expectation gap
def pairs_from_attributes(dictionary: pd.DataFrame, items: Iterable[str] | None = None
                          ) -> list[tuple[str, str, str]]:
    """Pair expectation (EXPE) and perception (QUAL) items that share an attribute.

    ``dictionary``: table with columns ``item, construct, attribute`` (e.g.
    ``csi.dictionary.DEFAULT_ITEMS``); ``items``: restrict to these (e.g. the
    data's columns). Per attribute (in order of first appearance) with both
    kinds present: equal counts are paired in dictionary order; one EXPE item
    is paired with every QUAL item (and vice versa). Any other combination is
    ambiguous and raises :class:`~csi.errors.SpecError`.
    Returns ``[(attribute, expectation_item, perception_item), ...]``.
    """
    need = {"item", "construct", "attribute"}
    if not isinstance(dictionary, pd.DataFrame) or not need <= set(dictionary.columns):
        raise SpecError(f"dictionary must be a table with columns {sorted(need)}")
    d = dictionary[list(need)].copy()
    if items is not None:
        d = d[d["item"].isin(list(items))]
    d = d[d["attribute"].notna() & (d["attribute"].astype(str).str.strip() != "")]
    pairs: list[tuple[str, str, str]] = []
    for attr in dict.fromkeys(d["attribute"]):
        sub = d[d["attribute"] == attr]
        E = list(sub.loc[sub["construct"] == "EXPE", "item"])
        Q = list(sub.loc[sub["construct"] == "QUAL", "item"])
        if not E or not Q:
            continue
        if len(E) == len(Q):
            pairs += [(str(attr), e, q) for e, q in zip(E, Q)]
        elif len(E) == 1:
            pairs += [(str(attr), E[0], q) for q in Q]
        elif len(Q) == 1:
            pairs += [(str(attr), e, Q[0]) for e in E]
        else:
            raise SpecError(f"attribute {attr!r} has {len(E)} expectation and {len(Q)} perception items; "
                            "pair them explicitly")
    return pairs


def expectation_gap(
    data: pd.DataFrame,
    pairs: Sequence[tuple[str, str, str]],
    scales,
    weights: np.ndarray | None = None,
    alpha: float = 0.05,
    ratio_ci: bool = False,
) -> pd.DataFrame:
    """Expectation–perception gap per attribute with a paired t test.

    For each ``(attribute, expectation_item, perception_item)`` the respondents
    who answered both items (complete pairs, n) are used; d_i = P_i − E_i on
    0–100 points.

    * ``expectation``, ``perception``: (weighted) 0–100 means over those n
      respondents, so ``gap`` = perception − expectation = mean d exactly.
    * ``ratio`` = perception / expectation (NaN when expectation is 0).
    * paired t: SE = s_d / √n, df = n − 1, CI = gap ± t_{1−α/2,df}·SE,
      two-sided ``p_value`` for H0: gap = 0. With survey weights s_d is the
      weighted SD and n is replaced by the Kish effective n (n_eff, df =
      n_eff − 1) — a design-effect approximation, exact for equal weights.
      When every d_i is equal, SE = 0: the interval is [gap, gap] and p is 1
      if gap = 0 else 0.

    * ``ratio_ci=True`` adds ``ratio_ci_low, ratio_ci_high``: the delta-method
      interval of R = P̄/Ē for paired data, SE(R) = s(P − R·E)/(√n · Ē)
      (the linearisation Var(P̄ − R·Ē)/Ē²; s weighted, n Kish under weights),
      R ± t_{1−α/2,n−1}·SE; NaN when Ē = 0.

    Fewer than 2 complete pairs raises :class:`~csi.errors.DataError`.
    Columns: ``attribute, expectation_item, perception_item, expectation,
    perception, gap, ratio, n, gap_ci_low, gap_ci_high, p_value``
    [, ``ratio_ci_low, ratio_ci_high``].
    """
    if not 0 < alpha < 1:
        raise SpecError(f"alpha must be in (0, 1), got {alpha!r}")
    pairs = [tuple(p) for p in pairs]
    if not pairs or any(len(p) != 3 for p in pairs):
        raise SpecError("pairs must be a non-empty list of (attribute, expectation_item, perception_item)")
    items = list(dict.fromkeys(i for _, e, p in pairs for i in (e, p)))
    x = _rescaled(data, items, scales)
    w = check_weights(weights, len(data))
    rows = []
    for attr, e_item, p_item in pairs:
        e = x[e_item].to_numpy()
        p = x[p_item].to_numpy()
        ok = ~np.isnan(e) & ~np.isnan(p)
        if w is not None:
            ok &= w > 0
        n = int(ok.sum())
        if n < 2:
            raise DataError(f"attribute {attr!r}: only {n} respondent(s) answered both "
                            f"{e_item!r} and {p_item!r}; a paired test needs at least 2")
        wi = None if w is None else w[ok]
        d = p[ok] - e[ok]
        m_e, m_p = weighted_mean(e[ok], wi), weighted_mean(p[ok], wi)
        gap = weighted_mean(d, wi)
        n_eff = kish_n(wi, n)
        sd = weighted_sd(d, wi)
        se = sd / math.sqrt(n_eff)
        df = n_eff - 1.0
        if se > 0:
            tq = stdtrit(df, 1 - alpha / 2)
            lo, hi = gap - tq * se, gap + tq * se
            pval = float(2 * stdtr(df, -abs(gap / se)))
        else:
            lo = hi = gap
            pval = 1.0 if abs(gap) < 1e-12 else 0.0
        ratio = m_p / m_e if m_e != 0 else float("nan")
        row = {"attribute": attr, "expectation_item": e_item, "perception_item": p_item,
               "expectation": m_e, "perception": m_p, "gap": gap, "ratio": ratio, "n": n,
               "gap_ci_low": lo, "gap_ci_high": hi, "p_value": pval}
        if ratio_ci:
            if m_e != 0:
                se_r = weighted_sd(p[ok] - ratio * e[ok], wi) / (math.sqrt(n_eff) * abs(m_e))
                tq = stdtrit(df, 1 - alpha / 2)
                row.update(ratio_ci_low=ratio - tq * se_r, ratio_ci_high=ratio + tq * se_r)
            else:
                row.update(ratio_ci_low=float("nan"), ratio_ci_high=float("nan"))
        rows.append(row)
    return pd.DataFrame(rows)


# ========================================================== 4. item ranking
def item_ranking(
    data: pd.DataFrame,
    scales,
    labels: Mapping[str, str] | None = None,
    weights: np.ndarray | None = None,
    constructs: Mapping[str, str] | None = None,
    items: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Items ranked by their 0–100 mean (rank 1 = best), weakest flagged.

    ``items``: the columns to rank (default: every column of ``data`` that has
    a scale). ``constructs`` adds a ``construct`` column, ``labels`` a
    ``label`` column (e.g. question text), both dicts item -> text.

    * ``mean_0_100``, ``sd`` (0–100 points; weighted SD as in :mod:`csi.scales`),
      ``n`` respondents who answered.
    * ``rank``: 1 = highest mean; ties share the best rank ("min").
    * ``weakest``: the item is among the bottom m of the k items with
      m = max(⌈k/4⌉, min(3, ⌊k/2⌋)) — the bottom quartile, but at least the
      bottom 3 when there are 6 or more items, and never more than half of
      them (k = 4 → 2, 8 → 3, 12 → 3, 20 → 5, 1 → none); an item tied with
      the m-th lowest mean is flagged too.

    Items with no answers raise :class:`~csi.errors.DataError`.
    Sorted by rank. Columns: ``item, [construct], [label], mean_0_100, sd, n,
    rank, weakest``.
    """
    sc = as_scales(scales)
    if items is None:
        items = [c for c in data.columns if c in sc]
        if not items:
            raise SpecError("no column of the data has a scale; nothing to rank")
    items = list(items)
    x = _rescaled(data, items, sc)
    w = check_weights(weights, len(data))
    means = np.array([weighted_mean(x[i].to_numpy(), w) for i in items])
    empty = [i for i, m in zip(items, means) if not np.isfinite(m)]
    if empty:
        raise DataError(f"item(s) with no answers: {', '.join(empty)}")
    out = pd.DataFrame({"item": items})
    if constructs is not None:
        out["construct"] = [constructs.get(i) for i in items]
    if labels is not None:
        out["label"] = [labels.get(i) for i in items]
    out["mean_0_100"] = means
    out["sd"] = [weighted_sd(x[i].to_numpy(), w) for i in items]
    out["n"] = [int(x[i].notna().sum()) for i in items]
    # rank on rounded means so that equal means differing by float noise share a rank
    tied = pd.Series(np.round(means, 9))
    out["rank"] = tied.rank(ascending=False, method="min").astype(int).to_numpy()
    k = len(items)
    m = max(math.ceil(k / 4), min(3, k // 2)) if k > 1 else 0
    from_bottom = tied.rank(ascending=True, method="min").to_numpy()
    out["weakest"] = from_bottom <= m
    return out.sort_values(["rank", "item"], kind="stable").reset_index(drop=True)


# ========================================================= 5. key drivers
def construct_means(data: pd.DataFrame, blocks: Mapping[str, Sequence[str]], scales=None) -> pd.DataFrame:
    """Mean score per construct and respondent: DataFrame (n x c).

    ``blocks``: ``{construct: [items]}`` (e.g. ``ModelSpec.blocks``). Each score
    is the mean of the items the respondent answered (NaN if none); items are
    put on 0–100 first when ``scales`` is given, so blocks on different scales
    can be averaged.
    """
    items = list(dict.fromkeys(i for its in blocks.values() for i in its))
    if scales is None:
        _check_columns(data, items)
        try:
            x = data[items].apply(pd.to_numeric, errors="raise").astype(float)
        except (TypeError, ValueError):
            raise DataError("construct means: every item column must be numeric") from None
    else:
        x = _rescaled(data, items, scales)
    return pd.DataFrame({c: x[list(its)].mean(axis=1, skipna=True) for c, its in blocks.items()}, index=data.index)


@dataclass(frozen=True)
class _Fit:
    coef: np.ndarray      # (k,) slopes
    intercept: float
    se: np.ndarray        # (k,)
    t: np.ndarray
    p: np.ndarray
    r2: float
    df_resid: int


def _wls(y: np.ndarray, X: np.ndarray, w: np.ndarray, names: Sequence[str]) -> _Fit:
    """Weighted least squares of y (n,) on [1, X (n x k)] with weights w (n,) > 0.

    Cov(β) = σ² (X'WX)⁻¹ with σ² = Σ wᵢeᵢ² / (n − k − 1) — the usual WLS
    formula (as statsmodels' WLS), unchanged when all weights are rescaled.
    """
    n, k = X.shape
    if n <= k + 1:
        raise DataError(f"key drivers: {n} complete respondents for {k} driver(s); need more than {k + 1}")
    A = np.column_stack([np.ones(n), X])
    sw = np.sqrt(w)
    Aw, yw = A * sw[:, None], y * sw
    beta, _, rank, sv = np.linalg.lstsq(Aw, yw, rcond=None)
    if rank < k + 1 or sv[-1] / sv[0] < 1e-10:
        raise DataError("key drivers are perfectly (or almost perfectly) collinear: " + ", ".join(names)
                        + "; drop redundant drivers")
    resid = y - A @ beta
    df = n - k - 1
    sigma2 = float(w @ resid**2) / df
    cov = sigma2 * np.linalg.inv(Aw.T @ Aw)
    se = np.sqrt(np.diag(cov))
    with np.errstate(divide="ignore", invalid="ignore"):
        t = beta / se
    p = 2 * stdtr(df, -np.abs(t))
    ybar = (w @ y) / w.sum()
    sst = float(w @ (y - ybar) ** 2)
    r2 = 1.0 - float(w @ resid**2) / sst
    return _Fit(beta[1:], float(beta[0]), se[1:], t[1:], p[1:], r2, df)


def _weighted_corr(Z: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Weighted correlation matrix (m x m) of the columns of Z (n x m), weights w (n,) of any scale."""
    return cov_to_corr(weighted_moments(Z, w * (len(w) / w.sum()))[1])[0]


def relative_weights(Rxx: np.ndarray, rxy: np.ndarray) -> np.ndarray:
    """Johnson's (2000) relative weights from correlations: Rxx (k x k), rxy (k,) → ε (k,).

    Rxx = V diag(λ) Vᵀ, Λ = V diag(√λ) Vᵀ (the loadings of X on its closest
    orthogonal counterpart Z), β* = Λ⁻¹ rxy (y regressed on Z), ε_j = Σ_k Λ_jk² β*_k².
    The ε sum to R² of the regression of y on X.
    """
    lam, V = np.linalg.eigh(Rxx)
    if lam.min() <= 1e-12 * max(lam.max(), 1.0):
        raise DataError("relative weights need non-collinear drivers (correlation matrix is singular)")
    L = V @ np.diag(np.sqrt(lam)) @ V.T
    beta_star = np.linalg.solve(L, rxy)
    return (L**2) @ (beta_star**2)


def key_drivers(
    data: pd.DataFrame,
    target: str,
    drivers: Sequence[str],
    method: DriverMethod = "ols",
    weights: np.ndarray | None = None,
    p_enter: float = 0.05,
    p_remove: float = 0.10,
) -> pd.DataFrame:
    """Key-driver regression of ``target`` on ``drivers`` — a cross-check of PLS priorities.

    ``data`` columns may be items or construct mean scores (see
    :func:`construct_means`). Respondents missing the target or any driver
    are dropped (listwise), as are rows with zero survey weight; ``n`` counts
    the rest.

    * ``method="ols"``: (weighted) least squares with an intercept.
      ``std_coefficient`` = b_j · s_w(x_j) / s_w(y); ``std_error``, ``t``,
      ``p_value`` from Cov(b) = σ²(XᵀWX)⁻¹, σ² = Σwe²/(n − k − 1), t with
      n − k − 1 df. Survey weights are treated as precision weights (the WLS
      convention); design-based (sandwich) errors are not offered.
    * ``method="stepwise"``: forward selection — at each step the candidate
      with the smallest p-value enters if p < ``p_enter`` (0.05); after each
      entry, the included driver with the largest p-value is removed while
      that p > ``p_remove`` (0.10), refitting after each removal; stop when
      nothing enters or a set of drivers repeats. Drivers left out have ``selected`` False and NaN statistics.
    * ``relative_weight``: Johnson's relative weights ε_j on the (weighted)
      correlations of the selected drivers; they sum to R².
      ``relative_weight_pct`` = 100·ε_j/R². ``rank`` 1 = largest ε.

    Columns: ``driver, selected, coefficient, std_coefficient, std_error, t,
    p_value, relative_weight, relative_weight_pct, rank, r_squared,
    adj_r_squared, n`` (the last three repeat the model's values on every row;
    ``df.attrs`` also holds ``intercept``, ``r_squared``, ``n``, ``method``).
    """
    _check_choice(method, _METHODS, "method")
    drivers = list(drivers)
    if not drivers:
        raise SpecError("key drivers: give at least one driver")
    if target in drivers:
        raise SpecError(f"key drivers: the target {target!r} is also listed as a driver")
    if len(set(drivers)) != len(drivers):
        raise SpecError("key drivers: a driver is listed twice")
    if not (0 < p_enter < 1 and 0 < p_remove < 1 and p_enter <= p_remove):
        raise SpecError(f"stepwise needs 0 < p_enter ≤ p_remove < 1, got {p_enter}, {p_remove}")
    _check_columns(data, [target, *drivers], "column")
    try:
        Z = data[[target, *drivers]].apply(pd.to_numeric, errors="raise").to_numpy(dtype=float)
    except (TypeError, ValueError):
        raise DataError("key drivers: target and drivers must be numeric columns") from None
    w = check_weights(weights, len(data))
    ok = ~np.isnan(Z).any(axis=1)
    if w is not None:
        ok &= w > 0
    Z = Z[ok]
    ww = np.ones(len(Z)) if w is None else w[ok]
    n = len(Z)
    if n < 3:
        raise DataError(f"key drivers: only {n} respondent(s) answered the target and every driver")
    sds = np.array([weighted_sd(Z[:, j], ww) for j in range(Z.shape[1])])
    flat = [c for c, s in zip([target, *drivers], sds) if not s > 0]
    if flat:
        raise DataError(f"key drivers: no variation in {', '.join(flat)} among the {n} complete respondents")
    y, X = Z[:, 0], Z[:, 1:]

    def fit(cols: list[int]) -> _Fit:
        return _wls(y, X[:, cols], ww, [drivers[c] for c in cols])

    if method == "ols":
        chosen = list(range(len(drivers)))
    else:
        chosen = []
        seen = {frozenset()}
        while True:
            cand = [c for c in range(len(drivers)) if c not in chosen]
            if not cand or n <= len(chosen) + 2:
                break
            pvals = []
            for c in cand:
                try:
                    pvals.append((fit(chosen + [c]).p[-1], c))
                except DataError:  # collinear with the drivers already in: it cannot enter
                    continue
            if not pvals:
                break
            best_p, best = min(pvals)
            if not best_p < p_enter:
                break
            chosen.append(best)
            while len(chosen) > 1:
                f = fit(chosen)
                worst = int(np.argmax(f.p))
                if not f.p[worst] > p_remove:
                    break
                chosen.pop(worst)
            key = frozenset(chosen)
            if key in seen:
                break
            seen.add(key)

    out = pd.DataFrame({"driver": drivers, "selected": False})
    for col in ("coefficient", "std_coefficient", "std_error", "t", "p_value", "relative_weight",
                "relative_weight_pct"):
        out[col] = np.nan
    if chosen:
        f = fit(chosen)
        Rall = _weighted_corr(Z, ww)
        idx = [c + 1 for c in chosen]
        eps = relative_weights(Rall[np.ix_(idx, idx)], Rall[idx, 0])
        out.loc[chosen, "selected"] = True
        out.loc[chosen, "coefficient"] = f.coef
        out.loc[chosen, "std_coefficient"] = f.coef * sds[idx] / sds[0]
        out.loc[chosen, "std_error"] = f.se
        out.loc[chosen, "t"] = f.t
        out.loc[chosen, "p_value"] = f.p
        out.loc[chosen, "relative_weight"] = eps
        out.loc[chosen, "relative_weight_pct"] = 100 * eps / eps.sum()
        r2, intercept, k = f.r2, f.intercept, len(chosen)
        adj = 1 - (1 - r2) * (n - 1) / (n - k - 1)
    else:
        r2, intercept, adj = 0.0, weighted_mean(y, ww), 0.0
    out["rank"] = out["relative_weight"].rank(ascending=False, method="min").astype("Int64")
    out["r_squared"] = r2
    out["adj_r_squared"] = adj
    out["n"] = n
    out.attrs.update({"intercept": intercept, "r_squared": r2, "n": n, "method": method, "target": target})
    return out
