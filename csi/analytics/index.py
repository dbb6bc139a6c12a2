"""0–100 satisfaction indices the ACSI way, from a fitted PLS model.

The ACSI/ECSI/China-CSI index of a construct is the mean of its construct
score after putting every item on a 0–100 scale and weighting the items with
their *unstandardized* outer weights normalised to sum to one (Fornell et al.
1996; Ringle & Sarstedt 2016 for the IPMA form used by SmartPLS)::

    y_k      = 100 · (x_k − min_k) / (max_k − min_k)         item on 0–100, THEORETICAL bounds
    u_k      = w_k / sd(y_k)          standardized PLS (w_k is the weight of z_k = (x_k − x̄_k)/sd(x_k))
    u_k      = w_k · (max_k − min_k) / 100   unstandardized PLS (w_k already weights the centred raw x_k)
    w̃_k      = u_k / Σ_block u_j                             normalised, Σ w̃ = 1
    index    = Σ_k w̃_k · mean(y_k)  =  mean over respondents of Σ_k w̃_k · y_ik

Why ``sd(y_k)`` and not ``sd(x_k)``: when the items of one block have different
scales (a 1–10 rating next to a 0–10 recommend item) the weights must refer to
the rescaled items, otherwise the index is no longer a weighted mean of 0–100
numbers. When every item of a block shares one scale the two are the same
after normalisation.

A standardized construct score ξ = Σ w_k z_k and its 0–100 version are linked
exactly: ``score_0_100 = ξ / c + index`` with ``c = Σ u_k``. :mod:`csi.priorities`
uses that identity to turn standardized total effects into 0–100 importances.

The formula needs positive weights: with a negative weight the "index" is no
longer a weighted average (it can leave 0–100). Such blocks are flagged, never
hidden.

Result objects are used by attribute only (duck typing on the
:class:`csi.pls.PLSResult` contract): ``spec``, ``outer`` (construct,
indicator, weight), ``item_mean``, ``item_sd``, ``scores``, ``info``.
Bootstrap objects: ``draws["weights"]``, ``draws["item_mean"]``,
``draws["item_sd"]`` (B × indicators).
"""
from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd

from csi.errors import DataError, SpecError
from csi.analytics.scales import as_scales, to_0_100
from csi.engine.kernel_math import percentile_interval

Scales = Mapping[str, tuple[float, float]]

__all__ = [
    "index_scores",
    "index_draws",
    "item_weights",
    "scale_factors",
    "construct_scores_0_100",
    "check_scales",
    "is_standardized",
]


# --------------------------------------------------------------------- checks
def check_scales(items, scales: Scales) -> dict[str, tuple[float, float]]:
    """Validate theoretical bounds for ``items``; return ``{item: (min, max)}`` as floats.

    Bounds are read by :func:`csi.scales.as_scales` (a dict or a scales table); raises
    :class:`DataError` naming every item without bounds or with min ≥ max.
    """
    if scales is None:
        raise DataError("theoretical scale bounds are needed to compute 0–100 indices (scales=None)")
    if isinstance(scales, Mapping):
        scales = {k: v for k, v in scales.items() if v is not None}
    try:
        known = as_scales(scales)
    except SpecError as e:
        raise DataError(str(e)) from None
    missing = [it for it in items if it not in known]
    if missing:
        raise DataError(f"no scale bounds (min, max) for item{'s' if len(missing) > 1 else ''} "
                        f"{', '.join(missing)}; pass them in `scales`")
    return {it: known[it] for it in items}


def is_standardized(result) -> bool:
    """True when the PLS weights refer to standardized indicators (the default)."""
    info = getattr(result, "info", None) or {}
    return bool(info.get("standardize", True))


# ------------------------------------------------------------------- weights
def _block_arrays(result, scales: Scales):
    """Per indicator (model order): construct, std weight w, raw range, item mean, item sd."""
    spec = result.spec
    items = list(spec.indicators)
    sc = check_scales(items, scales)
    # plain lookups (this runs for every fit, index and IPMA; label-indexed pandas selections of ~20 items
    # were most of its cost)
    weight = dict(zip(result.outer["indicator"], result.outer["weight"].to_numpy(float)))
    w = np.array([weight[i] for i in items], float)
    lo = np.array([sc[i][0] for i in items])
    hi = np.array([sc[i][1] for i in items])
    mean = _values(result.item_mean, items)
    sd = _values(result.item_sd, items)
    constructs = [spec.construct_of(i) for i in items]
    return items, constructs, w, lo, hi, mean, sd


def _values(by_item, items: list[str]) -> np.ndarray:
    """``by_item[i]`` for every item, as floats (a dict or a Series indexed by item)."""
    if isinstance(by_item, pd.Series):
        by_item = dict(zip(by_item.index, by_item.to_numpy(float)))
    try:
        return np.array([by_item[i] for i in items], float)
    except KeyError as e:
        raise KeyError(f"no value for item {e.args[0]!r}") from None


def _unstd(w: np.ndarray, rng: np.ndarray, sd: np.ndarray, standardized: bool) -> np.ndarray:
    """Unstandardized weights of the 0–100 items; broadcasts over a leading draw axis.

    w, sd (..., p); rng (p,). ``sd(y_k) = sd(x_k) · 100 / range_k``.
    """
    if standardized:
        return w * rng / (100.0 * sd)
    return w * rng / 100.0


def _normalise(u: np.ndarray, groups: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Normalise u (..., p) to sum 1 within each block; also return c = Σ_block u (..., J)."""
    wn = np.full_like(u, np.nan)
    c = np.empty(u.shape[:-1] + (len(groups),))
    for j, g in enumerate(groups):
        s = u[..., g].sum(axis=-1)
        c[..., j] = s
        with np.errstate(divide="ignore", invalid="ignore"):
            wn[..., g] = u[..., g] / s[..., None]
    return wn, c


def item_weights(result, scales: Scales) -> pd.DataFrame:
    """One row per indicator: how it enters its construct's 0–100 index.

    Columns: construct, indicator, weight (standardized PLS weight as estimated),
    weight_unstd (weight of the 0–100 item, ``u_k``), weight_norm (``w̃_k``, sums to 1
    per block), mean_0_100 (item mean on 0–100), sd_0_100, scale_min, scale_max.
    """
    items, constructs, w, lo, hi, mean, sd = _block_arrays(result, scales)
    rng = hi - lo
    u = _unstd(w, rng, sd, is_standardized(result))
    groups = _groups(result.spec, items)
    wn, _ = _normalise(u, groups)
    return pd.DataFrame({
        "construct": constructs,
        "indicator": items,
        "weight": w,
        "weight_unstd": u,
        "weight_norm": wn,
        "mean_0_100": to_0_100(mean, lo, hi),
        "sd_0_100": 100.0 * sd / rng,
        "scale_min": lo,
        "scale_max": hi,
    })


def _groups(spec, items: list[str]) -> list[np.ndarray]:
    pos = {it: k for k, it in enumerate(items)}
    return [np.array([pos[i] for i in spec.blocks[c]]) for c in spec.constructs]


def scale_factors(result, scales: Scales) -> pd.Series:
    """``c_j = Σ_block u_k`` per construct: score_0_100 = ξ_j / c_j + index_j.

    Hence sd(score_0_100) = sd(ξ_j) / |c_j| — the factor :mod:`csi.priorities`
    uses to unstandardize effects.
    """
    items, _, w, lo, hi, _, sd = _block_arrays(result, scales)
    u = _unstd(w, hi - lo, sd, is_standardized(result))
    _, c = _normalise(u, _groups(result.spec, items))
    return pd.Series(c, index=list(result.spec.constructs), name="c")


# --------------------------------------------------------------------- index
def _index_from(wn: np.ndarray, mean100: np.ndarray, groups) -> np.ndarray:
    """Σ_block w̃_k · mean_0_100(x_k) for arrays (..., p) → (..., J)."""
    prod = wn * mean100
    return np.stack([prod[..., g].sum(axis=-1) for g in groups], axis=-1)


def index_draws(result, scales: Scales, boot) -> pd.DataFrame:
    """Index of every construct in every bootstrap draw: DataFrame (B_kept × J).

    Each draw recomputes the whole formula from that resample's outer weights,
    item SDs and item means, so the interval reflects all three sources of
    sampling error.
    """
    items, _, _, lo, hi, _, _ = _block_arrays(result, scales)
    draws = boot.draws
    for key in ("weights", "item_mean") + (("item_sd",) if is_standardized(result) else ()):
        if key not in draws:
            raise DataError(f"the bootstrap result has no {key!r} draws; cannot compute index intervals")
    w = draws["weights"].loc[:, items].to_numpy(float)
    m = draws["item_mean"].loc[:, items].to_numpy(float)
    sd = draws["item_sd"].loc[:, items].to_numpy(float) if is_standardized(result) else None
    rng = hi - lo
    u = _unstd(w, rng, sd, is_standardized(result))
    groups = _groups(result.spec, items)
    wn, _ = _normalise(u, groups)
    idx = _index_from(wn, to_0_100(m, lo, hi), groups)
    return pd.DataFrame(idx, index=draws["weights"].index, columns=list(result.spec.constructs))


def _n_used(result) -> int:
    info = getattr(result, "info", None) or {}
    if "n_used" in info:
        return int(info["n_used"])
    return int(len(result.scores))


def index_scores(result, scales: Scales, boot=None, alpha: float = 0.05) -> pd.DataFrame:
    """0–100 index per construct with a percentile bootstrap interval.

    Returns DataFrame(construct, index, ci_low, ci_high, n, negative_weights, note),
    one row per construct in model order. ``ci_low``/``ci_high`` are NaN without
    ``boot``. ``n`` is the number of respondents the model used. A block with a
    negative normalised weight gets ``negative_weights=True`` and a plain-words
    ``note``; a block whose unstandardized weights sum to ≤ 0 has no index (NaN).
    """
    if not 0 < alpha < 1:
        raise DataError(f"alpha must be between 0 and 1, got {alpha!r}")
    tab = item_weights(result, scales)
    spec = result.spec
    groups = _groups(spec, list(tab["indicator"]))
    wn = tab["weight_norm"].to_numpy()
    idx = _index_from(wn, tab["mean_0_100"].to_numpy(), groups)
    _, c = _normalise(tab["weight_unstd"].to_numpy(), groups)
    lo = np.full(len(groups), np.nan)
    hi = np.full(len(groups), np.nan)
    if boot is not None:
        lo, hi = percentile_interval(index_draws(result, scales, boot).to_numpy(), alpha)
    rows = []
    n = _n_used(result)
    for j, con in enumerate(spec.constructs):
        g = groups[j]
        neg_items = [tab["indicator"].iat[k] for k in g if not wn[k] > 0]
        note = note_zh = ""
        value = idx[j]
        if not c[j] > 0:
            value, lo[j], hi[j] = np.nan, np.nan, np.nan
            note = (f"no index for {con}: its item weights do not add up to a positive total, "
                    "so the items cannot be averaged; check item coding (reversed items?)")
            note_zh = f"{con} 无法计算指数：其题项权重之和不为正，题项无法加权平均；请检查题项编码（是否有反向题？）"
        elif neg_items:
            note = (f"{con} has negative weight{'s' if len(neg_items) > 1 else ''} on "
                    f"{', '.join(neg_items)}: the index formula assumes positive weights, so this index "
                    "is not a true 0–100 average; check reversed or unrelated items before reporting it")
            note_zh = (f"{con} 的题项 {'、'.join(neg_items)} 权重为负：指数公式假定权重为正，因此该指数并非真正的 "
                       "0–100 加权平均；报告前请检查反向题或无关题项")
        rows.append({"construct": con, "index": value, "ci_low": lo[j], "ci_high": hi[j], "n": n,
                     "negative_weights": bool(neg_items) or not c[j] > 0, "note": note, "note_zh": note_zh})
    return pd.DataFrame(rows)


def construct_scores_0_100(result, data: pd.DataFrame, scales: Scales) -> pd.DataFrame:
    """Per-respondent 0–100 construct scores: DataFrame (n × J), index = ``data.index``.

    ``score_ij = Σ_k w̃_k · y_ik`` with the normalised unstandardized weights of
    :func:`item_weights`. A respondent missing any item of a block gets NaN for
    that construct (no silent re-weighting). On the rows the model used, the mean
    of each column equals :func:`index_scores` (unweighted fit; with survey weights
    the weighted mean does).
    """
    spec = result.spec
    spec.check_columns(data.columns)
    tab = item_weights(result, scales)
    out = {}
    for con in spec.constructs:
        t = tab[tab["construct"] == con]
        x = data.loc[:, list(t["indicator"])].apply(pd.to_numeric, errors="coerce").to_numpy(float)
        y = to_0_100(x, t["scale_min"].to_numpy(), t["scale_max"].to_numpy())
        out[con] = y @ t["weight_norm"].to_numpy()  # NaN propagates: missing item → NaN score
    return pd.DataFrame(out, index=data.index)
