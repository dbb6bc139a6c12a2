"""Scales, 0–100 rescaling, the five satisfaction bands and survey-weight helpers.

Every module that turns raw ratings into 0–100 points imports
:func:`rescale_0_100` (data frames of answers, validated) or :func:`to_0_100` (arrays:
item means, bootstrap draws) from here, so there is exactly one formula::

    x_0_100 = (x − scale_min) / (scale_max − scale_min) · 100

The five bands of the Chinese CSI practice (非常不满意 … 非常满意) are defined
once in :data:`BANDS` and assigned by :func:`band_index`; both the fuzzy
comprehensive evaluation (:mod:`csi.classic`) and the band shares
(:func:`csi.loyalty.satisfaction_bands`) use it.

Boundary convention of the bands (0–100 points)::

    very dissatisfied  [0, 20]     (integer scores 0–20)
    dissatisfied       (20, 40]    (21–40)
    neutral            (40, 60]    (41–60)
    fairly satisfied   (60, 80]    (61–80)
    very satisfied     (80, 100]   (81–100)

i.e. a band owns its upper bound; 20 is very dissatisfied, 20.5 is dissatisfied.
This reproduces the integer bands 0–20, 21–40, … and gives every non-integer
score exactly one band.

Survey weights (``weights``: array of length n, non-negative, finite, not all
zero) enter every statistic the same way, over the respondents with a value:

* weighted mean          x̄_w = Σ wᵢxᵢ / Σ wᵢ
* weighted SD            s_w = √( Σ wᵢ(xᵢ − x̄_w)² / (Σwᵢ − Σwᵢ²/Σwᵢ) )
  (the "reliability weights" form: it does not depend on the scale of the
  weights and equals the ordinary n − 1 SD when all weights are equal)
* weighted share         p_w = Σ_{i in class} wᵢ / Σ wᵢ
* Kish effective n       n_eff = (Σ wᵢ)² / Σ wᵢ²  (= n with equal weights),
  used wherever a standard error needs a sample size.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np
import pandas as pd

from csi.errors import DataError, SpecError

ScaleMap = Mapping[str, tuple[float, float]]

#: tolerance when checking that a value lies inside its scale (float noise only)
_EPS = 1e-9


@dataclass(frozen=True)
class Band:
    key: str
    label_en: str
    label_zh: str
    lower: float  # exclusive, except the first band which includes 0
    upper: float  # inclusive
    grade_score: float  # default score of the grade in the fuzzy evaluation (band midpoint)


BANDS: tuple[Band, ...] = (
    Band("very_dissatisfied", "Very dissatisfied", "非常不满意", 0.0, 20.0, 10.0),
    Band("dissatisfied", "Dissatisfied", "不满意", 20.0, 40.0, 30.0),
    Band("neutral", "Neutral", "一般", 40.0, 60.0, 50.0),
    Band("fairly_satisfied", "Fairly satisfied", "比较满意", 60.0, 80.0, 70.0),
    Band("very_satisfied", "Very satisfied", "非常满意", 80.0, 100.0, 90.0),
)
GRADES: tuple[str, ...] = tuple(b.key for b in BANDS)
_UPPERS = np.array([b.upper for b in BANDS])


def as_scales(scales) -> dict[str, tuple[float, float]]:
    """Normalise ``scales`` to ``{item: (min, max)}`` and validate min < max.

    Accepts a mapping ``item -> (min, max)`` or a DataFrame with columns
    ``item, scale_min, scale_max`` (e.g. the item dictionary or
    ``store.wave_scales`` for one wave; an item listed twice with different
    bounds is refused).
    """
    if isinstance(scales, pd.DataFrame):
        need = {"item", "scale_min", "scale_max"}
        if not need <= set(scales.columns):
            raise SpecError(f"scales table needs columns {sorted(need)}, got {list(scales.columns)}")
        out: dict[str, tuple[float, float]] = {}
        for item, lo, hi in scales[["item", "scale_min", "scale_max"]].itertuples(index=False):
            pair = (float(lo), float(hi))
            if item in out and out[item] != pair:
                raise SpecError(f"item {item!r} has two different scales {out[item]} and {pair}")
            out[item] = pair
    elif isinstance(scales, Mapping):
        out = {}
        for item, pair in scales.items():
            try:
                lo, hi = pair
                out[item] = (float(lo), float(hi))
            except (TypeError, ValueError):
                raise SpecError(f"scale of item {item!r} must be (min, max), got {pair!r}") from None
    else:
        raise SpecError(f"scales must be a dict item -> (min, max) or a table, got {type(scales).__name__}")
    bad = [f"{k} {v}" for k, v in out.items() if not (np.isfinite(v[0]) and np.isfinite(v[1]) and v[0] < v[1])]
    if bad:
        raise SpecError("scale min must be below max (both finite) for: " + ", ".join(bad))
    return out


def to_0_100(x, lo, hi) -> np.ndarray:
    """The 0–100 formula itself, ``(x − lo)/(hi − lo)·100``, on arrays (no checks, no clipping).

    x (..., p): values (ratings, item means, bootstrap draws of means); lo, hi (p,) or scalars:
    theoretical bounds, broadcast against ``x``'s last axis. NaN stays NaN. Use
    :func:`rescale_0_100` for raw survey answers (it validates the bounds and the values).
    """
    x = np.asarray(x, dtype=float)
    lo = np.asarray(lo, dtype=float)
    return (x - lo) / (np.asarray(hi, dtype=float) - lo) * 100.0


def rescale_0_100(frame: pd.DataFrame, scales) -> pd.DataFrame:
    """Rescale every column of ``frame`` (n x p) to 0–100 points.

    ``(x − min)/(max − min)·100`` with the theoretical bounds of each column
    from ``scales`` (see :func:`as_scales`). NaN stays NaN. A column without a
    scale, a non-numeric column or a value outside its scale raises
    :class:`~csi.errors.DataError` naming the column and the values, because a
    silent out-of-range value would corrupt every index built on it.
    Returns a new float DataFrame with the same index and columns.
    """
    if isinstance(frame, pd.Series):
        frame = frame.to_frame()
    sc = as_scales(scales)
    missing = [c for c in frame.columns if c not in sc]
    if missing:
        raise DataError(f"no scale (min, max) given for column(s): {', '.join(map(str, missing))}")
    out = {}
    problems = []
    for col in frame.columns:
        lo, hi = sc[col]
        try:
            x = pd.to_numeric(frame[col], errors="raise").to_numpy(dtype=float)
        except (TypeError, ValueError):
            raise DataError(f"column {col!r} is not numeric; cannot rescale it") from None
        outside = (x < lo - _EPS) | (x > hi + _EPS)
        if outside.any():
            vals = pd.unique(x[outside])[:5]
            problems.append(f"{col!r} has {int(outside.sum())} value(s) outside its scale {lo:g}–{hi:g} "
                            f"(e.g. {', '.join(f'{v:g}' for v in vals)})")
        out[col] = np.clip(to_0_100(x, lo, hi), 0.0, 100.0)
    if problems:
        raise DataError("; ".join(problems))
    return pd.DataFrame(out, index=frame.index, columns=frame.columns)


def band_index(scores_0_100) -> np.ndarray:
    """Band of each 0–100 score: array (n,) of int 0..4 (index into :data:`BANDS`), −1 for NaN.

    Convention: [0, 20] → 0, (20, 40] → 1, (40, 60] → 2, (60, 80] → 3, (80, 100] → 4.
    Scores outside [0, 100] raise :class:`~csi.errors.DataError`.
    """
    x = np.asarray(scores_0_100, dtype=float).ravel()
    bad = (x < -_EPS) | (x > 100 + _EPS)
    if bad.any():
        vals = pd.unique(x[bad])[:5]
        raise DataError(f"{int(bad.sum())} score(s) outside 0–100 (e.g. {', '.join(f'{v:g}' for v in vals)})")
    # rounding first: a rescaled rating that is exactly on a bound in decimal arithmetic (6.4 on 1–10 is
    # 60) may land 1e-14 above it in binary and would fall into the next band
    xr = np.round(np.clip(x, 0.0, 100.0), 9)
    # searchsorted(side="left") on the inclusive upper bounds makes each band own its upper bound
    idx = np.searchsorted(_UPPERS, xr, side="left")
    idx = np.minimum(idx, len(BANDS) - 1)
    return np.where(np.isnan(x), -1, idx).astype(int)


# ---------------------------------------------------------------- survey weights
def check_weights(weights, n: int, what: str = "weights") -> np.ndarray | None:
    """Validate survey weights for n rows: None, or a float array (n,) ≥ 0, finite, not all zero."""
    if weights is None:
        return None
    w = np.asarray(weights, dtype=float).ravel() if not isinstance(weights, pd.Series) else \
        pd.to_numeric(weights, errors="coerce").to_numpy(dtype=float)
    if w.shape[0] != n:
        raise DataError(f"{what} have length {w.shape[0]} but the data have {n} rows")
    bad = ~np.isfinite(w) | (w < 0)
    if bad.any():
        first = np.flatnonzero(bad)[:5]
        raise DataError(f"{what} must be finite and non-negative; bad at row position(s) "
                        f"{', '.join(map(str, first))} (values {', '.join(f'{w[i]:g}' for i in first)})")
    if not (w > 0).any():
        raise DataError(f"{what} are all zero")
    return w


def _w(x: np.ndarray, w: np.ndarray | None) -> np.ndarray:
    return np.ones_like(x, dtype=float) if w is None else w


def weighted_mean(x: np.ndarray, w: np.ndarray | None = None) -> float:
    """Σwx/Σw over the non-NaN entries of x (n,); NaN when no weight remains."""
    x = np.asarray(x, dtype=float)
    ok = ~np.isnan(x)
    ww = _w(x, w)[ok]
    s = ww.sum()
    return float(np.dot(ww, x[ok]) / s) if s > 0 else float("nan")


def weighted_sd(x: np.ndarray, w: np.ndarray | None = None) -> float:
    """Reliability-weighted SD over non-NaN entries (see module doc); NaN if fewer than 2 effective cases."""
    x = np.asarray(x, dtype=float)
    ok = ~np.isnan(x)
    ww = _w(x, w)[ok]
    xx = x[ok]
    s = ww.sum()
    denom = s - (ww @ ww) / s if s > 0 else 0.0
    if denom <= 0:
        return float("nan")
    m = ww @ xx / s
    return float(np.sqrt(ww @ (xx - m) ** 2 / denom))


def kish_n(w: np.ndarray | None, n: int | None = None) -> float:
    """Kish effective sample size (Σw)²/Σw²; ``n`` when unweighted."""
    if w is None:
        return float(n)
    w = np.asarray(w, dtype=float)
    ss = w @ w
    return float(w.sum() ** 2 / ss) if ss > 0 else 0.0
