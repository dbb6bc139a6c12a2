"""Net Promoter Score, complaints and the five satisfaction bands.

Survey weights follow :mod:`csi.scales`: weighted shares Σ_{class} w / Σ w over
the respondents with an answer, and the Kish effective sample size
n_eff = (Σw)²/Σw² wherever a standard error needs n (n_eff = n unweighted).
Shares are proportions in [0, 1]; NPS and indices are in points.

Entry points (``python -m csi report`` relies on these signatures):

* :func:`nps` — one NPS with its multinomial standard error and interval.
* :func:`nps_by` — NPS per group (e.g. wave × brand) for trends.
* :func:`complaints` — complaint rate (Wilson interval) and handling index.
* :func:`satisfaction_bands` — shares of the five CSI bands (非常不满意 … 非常满意).
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import pandas as pd
from scipy.special import ndtri

from csi.errors import DataError, SpecError
from csi.analytics.scales import BANDS, band_index, check_weights, kish_n, rescale_0_100, weighted_mean

NPS_FIELDS = ("n", "n_effective", "promoters", "passives", "detractors", "nps", "std_error", "ci_low", "ci_high")


def _z(alpha: float) -> float:
    if not 0 < alpha < 1:
        raise SpecError(f"alpha must be in (0, 1), got {alpha!r}")
    return float(ndtri(1 - alpha / 2))


def _as_float(values, what: str) -> np.ndarray:
    if isinstance(values, np.ndarray) and values.dtype.kind in "biuf":
        return values.astype(float).ravel()
    s = values if isinstance(values, pd.Series) else pd.Series(np.asarray(values, dtype=object).ravel())
    num = pd.to_numeric(s, errors="coerce")
    bad = num.isna() & s.notna()
    if bad.any():
        vals = pd.unique(s[bad].astype(str))[:5]
        raise DataError(f"{what}: {int(bad.sum())} non-numeric value(s) (e.g. {', '.join(map(repr, vals))})")
    return num.to_numpy(dtype=float)


def _check_recommend(x: np.ndarray, what: str = "recommend") -> None:
    ok = ~np.isnan(x)
    bad = ok & ((x < 0) | (x > 10) | (x != np.round(x)))
    if bad.any():
        pos = np.flatnonzero(bad)
        vals = pd.unique(x[bad])[:5]
        raise DataError(f"{what} must be whole numbers 0–10; {int(bad.sum())} value(s) are not "
                        f"(e.g. {', '.join(f'{v:g}' for v in vals)} at row position(s) "
                        f"{', '.join(map(str, pos[:5]))})")


def _nps_core(x: np.ndarray, w: np.ndarray | None, z: float) -> dict:
    """NPS of validated 0–10 scores x (n,) with optional weights (n,); NaN entries are skipped."""
    ok = ~np.isnan(x)
    n = int(ok.sum())
    if n == 0:
        return {"n": 0, **{k: float("nan") for k in NPS_FIELDS[1:]}}
    xx = x[ok]
    ww = np.ones(n) if w is None else w[ok]
    tot = ww.sum()
    if tot <= 0:
        return {"n": n, **{k: float("nan") for k in NPS_FIELDS[1:]}}
    p_p = float(ww[xx >= 9].sum() / tot)
    p_d = float(ww[xx <= 6].sum() / tot)
    p_pa = float(ww[(xx >= 7) & (xx <= 8)].sum() / tot)
    n_eff = kish_n(None if w is None else ww, n)
    score = 100.0 * (p_p - p_d)
    var = max(p_p + p_d - (p_p - p_d) ** 2, 0.0)  # multinomial variance of (1{P} − 1{D})
    se = 100.0 * math.sqrt(var / n_eff)
    return {"n": n, "n_effective": n_eff, "promoters": p_p, "passives": p_pa, "detractors": p_d,
            "nps": score, "std_error": se,
            "ci_low": max(score - z * se, -100.0), "ci_high": min(score + z * se, 100.0)}


def nps(recommend, weights: np.ndarray | None = None, alpha: float = 0.05) -> dict:
    """Net Promoter Score of 0–10 "would you recommend" answers.

    ``recommend``: array/Series (n,) of whole numbers 0–10, NaN = no answer
    (skipped). Promoters 9–10, passives 7–8, detractors 0–6.

    * ``promoters``, ``passives``, ``detractors``: (weighted) shares in [0, 1].
    * ``nps`` = 100·(p_P − p_D) in [−100, 100].
    * ``std_error`` = 100·√([p_P + p_D − (p_P − p_D)²] / n) — the multinomial
      variance of the promoter-minus-detractor indicator; with survey weights n
      is the Kish effective n (``n_effective``).
    * ``ci_low``, ``ci_high``: normal interval nps ± z_{1−α/2}·SE clipped to
      [−100, 100] (degenerate when everyone is in one class).

    Values outside 0–10 or not whole numbers raise
    :class:`~csi.errors.DataError` naming them; no answer at all too.
    Returns a dict with keys ``n, n_effective, promoters, passives,
    detractors, nps, std_error, ci_low, ci_high``.
    """
    z = _z(alpha)
    x = _as_float(recommend, "recommend")
    _check_recommend(x)
    w = check_weights(weights, len(x))
    out = _nps_core(x, w, z)
    if out["n"] == 0:
        raise DataError("recommend: no answers (all missing)")
    if not np.isfinite(out["nps"]):
        raise DataError("recommend: every answer has zero weight")
    return out


def _group_keys(frame: pd.DataFrame, by) -> list[str]:
    by = [by] if isinstance(by, str) else list(by or [])
    missing = [b for b in by if b not in frame.columns]
    if missing:
        raise DataError(f"group column(s) not in the data: {', '.join(missing)}")
    return by


def _frame_weights(frame: pd.DataFrame, weights_col: str | None) -> np.ndarray | None:
    if weights_col is None:
        return None
    if weights_col not in frame.columns:
        raise DataError(f"weight column {weights_col!r} not in the data")
    return check_weights(_as_float(frame[weights_col], f"weight column {weights_col!r}"), len(frame),
                         f"weight column {weights_col!r}")


def _groups(frame: pd.DataFrame, by: list[str]):
    """(key tuple, positional index array) per group, in group order (categorical order kept)."""
    if not by:
        yield (), np.arange(len(frame))
        return
    # dropna=False: respondents with no segment label stay visible as their own group
    for key, idx in frame.groupby(by, observed=True, sort=True, dropna=False).indices.items():
        yield (key if isinstance(key, tuple) else (key,)), np.asarray(idx)


def nps_by(frame: pd.DataFrame, recommend_col: str, by: Sequence[str] | str,
           weights_col: str | None = None, alpha: float = 0.05) -> pd.DataFrame:
    """NPS per group (e.g. ``by=["wave", "brand"]``) — one row per group, columns ``by…`` then the
    fields of :func:`nps`. Groups keep their order (an ordered ``wave`` stays in wave order); a group
    with no answers gets n = 0 and NaN statistics rather than an error, so a trend stays complete."""
    z = _z(alpha)
    by = _group_keys(frame, by)
    if recommend_col not in frame.columns:
        raise DataError(f"recommend column {recommend_col!r} not in the data")
    x = _as_float(frame[recommend_col], f"column {recommend_col!r}")
    _check_recommend(x, f"column {recommend_col!r}")
    w = _frame_weights(frame, weights_col)
    rows = []
    for key, idx in _groups(frame, by):
        rows.append({**dict(zip(by, key)), **_nps_core(x[idx], None if w is None else w[idx], z)})
    return pd.DataFrame(rows, columns=[*by, *NPS_FIELDS])


def wilson_interval(p: float, n: float, z: float) -> tuple[float, float]:
    """Wilson score interval for a proportion p observed on n (may be an effective n)."""
    if n <= 0 or not np.isfinite(p):
        return float("nan"), float("nan")
    den = 1 + z**2 / n
    centre = (p + z**2 / (2 * n)) / den
    half = z / den * math.sqrt(p * (1 - p) / n + z**2 / (4 * n**2))
    return max(centre - half, 0.0), min(centre + half, 1.0)


def complaints(
    frame: pd.DataFrame,
    complained_col: str,
    handling_col: str | None,
    scale: tuple[float, float] | None,
    by: Sequence[str] | str | None = None,
    weights_col: str | None = None,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Complaint rate and complaint-handling index, overall or per group.

    ``complained_col``: 1 = complained, 0 = did not (True/False accepted, NaN
    = no answer, left out of n; anything else raises
    :class:`~csi.errors.DataError`). ``handling_col``: satisfaction with how
    the complaint was handled on the theoretical ``scale`` (min, max); only
    complainants' answers count (others are ignored). ``handling_col=None``
    gives NaN handling columns.

    Columns: ``by…``, ``n`` (answered the complaint question),
    ``complainants``, ``complaint_rate`` (weighted share),
    ``rate_ci_low``, ``rate_ci_high`` (Wilson score interval with n, or the
    Kish effective n under weights), ``handling_index`` (weighted 0–100 mean
    of handling among complainants), ``handling_n``.
    """
    z = _z(alpha)
    by = _group_keys(frame, by)
    for col in (complained_col, handling_col):
        if col is not None and col not in frame.columns:
            raise DataError(f"column {col!r} not in the data")
    c = frame[complained_col].map(lambda v: float(v) if isinstance(v, (bool, np.bool_)) else v)
    c = _as_float(c, f"column {complained_col!r}")
    bad = ~np.isnan(c) & ~np.isin(c, (0.0, 1.0))
    if bad.any():
        vals = pd.unique(c[bad])[:5]
        raise DataError(f"column {complained_col!r} must be 0/1; found {', '.join(f'{v:g}' for v in vals)}")
    if handling_col is not None:
        if scale is None:
            raise SpecError("complaints: give the scale (min, max) of the handling item")
        h = rescale_0_100(pd.DataFrame({handling_col: _as_float(frame[handling_col], f"column {handling_col!r}")}),
                          {handling_col: scale})[handling_col].to_numpy()
    else:
        h = np.full(len(frame), np.nan)
    w = _frame_weights(frame, weights_col)
    ww_all = np.ones(len(frame)) if w is None else w

    rows = []
    for key, idx in _groups(frame, by):
        cc, hh, ww = c[idx], h[idx], ww_all[idx]
        ok = ~np.isnan(cc)
        n = int(ok.sum())
        row = {**dict(zip(by, key)), "n": n, "complainants": int((cc[ok] == 1).sum())}
        tot = ww[ok].sum()
        if n and tot > 0:
            rate = float(ww[ok & (cc == 1)].sum() / tot)
            n_eff = kish_n(None if w is None else ww[ok], n)
            lo, hi = wilson_interval(rate, n_eff, z)
        else:
            rate, lo, hi = float("nan"), float("nan"), float("nan")
        hok = ok & (cc == 1) & ~np.isnan(hh)
        row.update({"complaint_rate": rate, "rate_ci_low": lo, "rate_ci_high": hi,
                    "handling_index": weighted_mean(hh[hok], ww[hok]) if hok.any() else float("nan"),
                    "handling_n": int(hok.sum())})
        rows.append(row)
    return pd.DataFrame(rows, columns=[*by, "n", "complainants", "complaint_rate", "rate_ci_low",
                                       "rate_ci_high", "handling_index", "handling_n"])


def satisfaction_bands(scores_0_100, weights: np.ndarray | None = None) -> pd.DataFrame:
    """Shares of the five Chinese CSI satisfaction bands.

    ``scores_0_100``: array (n,) of 0–100 scores (e.g. a respondent's
    satisfaction index or a rescaled item), NaN skipped. Bands and boundary
    convention from :func:`csi.scales.band_index` (the same as the fuzzy
    evaluation): [0,20] 非常不满意, (20,40] 不满意, (40,60] 一般,
    (60,80] 比较满意, (80,100] 非常满意.

    Columns: ``band`` (key, e.g. ``fairly_satisfied``), ``label_en``,
    ``label_zh``, ``lower``, ``upper``, ``share`` ((weighted) proportion, sums
    to 1), ``n`` (respondents in the band, unweighted). Five rows always.
    """
    x = _as_float(scores_0_100, "scores")
    w = check_weights(weights, len(x))
    b = band_index(x)
    ok = b >= 0
    ww = (np.ones(len(x)) if w is None else w)[ok]
    if not ok.any() or ww.sum() <= 0:
        raise DataError("satisfaction bands: no scores (all missing or zero weight)")
    share = np.bincount(b[ok], weights=ww, minlength=len(BANDS)) / ww.sum()
    counts = np.bincount(b[ok], minlength=len(BANDS))
    return pd.DataFrame({
        "band": [bd.key for bd in BANDS],
        "label_en": [bd.label_en for bd in BANDS],
        "label_zh": [bd.label_zh for bd in BANDS],
        "lower": [bd.lower for bd in BANDS],
        "upper": [bd.upper for bd in BANDS],
        "share": share,
        "n": counts.astype(int),
    })
