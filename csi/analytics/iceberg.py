"""The complaints iceberg: silent dissatisfied customers estimated from the complaint rate.

For every customer who complains, several dissatisfied customers say nothing. The product's source
material puts it at 1:25 — of 25 dissatisfied customers one complains and 24 stay silent. The figure
goes back to the TARP studies for the US Office of Consumer Affairs (TARP, *Consumer Complaint Handling
in America*, 1979 and the 1986 update) as popularised by Goodman (1999, "Basic facts on customer
complaint behavior and the impact of service on the bottom line", *Competitive Advantage* 9(1)); it is a
rule of thumb from those studies, not a constant: set ``ratio`` to your own industry's figure.

With ``ratio`` = r (dissatisfied customers per complainer) and complaint rate p (share of customers who
complained, from the survey or the complaint log)::

    dissatisfied share  D = min(r · p, 1)
    silent share        S = min((r − 1) · p, 1 − p)
    silent per complainer = r − 1

The interval maps the Wilson score interval of p (:func:`csi.analytics.loyalty.wilson_interval`, Kish
effective n under survey weights, as :func:`csi.analytics.loyalty.complaints`) through the same monotone
formulas. ``capped`` is True when r · p > 1, i.e. the ratio cannot hold for this complaint rate (a survey's
self-reported complaint rate is often far above a complaint log's: read the ratio as a log-based figure).
The complaint-handling index (0–100 mean handling satisfaction of complainers) sits next to it.
"""
from __future__ import annotations

import math

import pandas as pd

from csi.errors import SpecError

DEFAULT_RATIO = 25.0  # 1 complainer per 25 dissatisfied customers (24 silent): TARP / Goodman, see above
RATIO_SOURCE = ("TARP (1979, 1986), Consumer Complaint Handling in America; Goodman (1999), Competitive "
                "Advantage 9(1): 1 complainer per 25 dissatisfied customers (24 silent)")

COLUMNS = ("n", "complainants", "complaint_rate", "rate_ci_low", "rate_ci_high", "ratio", "silent_per_complainer",
           "dissatisfied_share", "dissatisfied_ci_low", "dissatisfied_ci_high", "silent_share", "silent_ci_low",
           "silent_ci_high", "capped", "customer_base", "silent_customers", "silent_customers_low",
           "silent_customers_high", "handling_index", "handling_n")


def check_ratio(ratio) -> float:
    try:
        r = float(ratio)
    except (TypeError, ValueError):
        raise SpecError(f"the iceberg ratio must be a number (dissatisfied customers per complainer), got {ratio!r}") \
            from None
    if not math.isfinite(r) or r < 1:
        raise SpecError(f"the iceberg ratio must be at least 1 (dissatisfied customers per complainer), got {ratio!r}")
    return r


def silent_share(p: float, ratio: float) -> float:
    """(r − 1)·p capped at 1 − p (NaN stays NaN)."""
    if not math.isfinite(p):
        return float("nan")
    return min((ratio - 1.0) * p, 1.0 - p)


def dissatisfied_share(p: float, ratio: float) -> float:
    """r·p capped at 1."""
    return float("nan") if not math.isfinite(p) else min(ratio * p, 1.0)


def complaints_iceberg(complaints: pd.DataFrame, ratio: float = DEFAULT_RATIO,
                       customer_base: float | None = None) -> pd.DataFrame:
    """The iceberg per row of a :func:`csi.analytics.loyalty.complaints` table (same ``by`` columns first).

    ``customer_base``: the number of customers the rate applies to (optional): silent customers as counts.
    The silent interval's upper bound uses p's upper bound only while (r − 1)·p ≤ 1 − p holds; beyond
    that the cap 1 − p decreases in p, so the bound is the largest value over the interval.
    """
    r = check_ratio(ratio)
    if customer_base is not None:
        customer_base = float(customer_base)
        if not math.isfinite(customer_base) or customer_base <= 0:
            raise SpecError(f"customer base must be a positive number, got {customer_base!r}")
    need = {"n", "complainants", "complaint_rate", "rate_ci_low", "rate_ci_high", "handling_index", "handling_n"}
    if not need <= set(complaints.columns):
        raise SpecError(f"iceberg: the complaints table lacks {sorted(need - set(complaints.columns))}")
    by = [c for c in complaints.columns if c not in need]
    rows = []
    peak = 1.0 / r  # (r − 1)p = 1 − p at p = 1/r: the silent share is largest there
    for rec in complaints.to_dict("records"):
        p, lo, hi = (float(rec[k]) for k in ("complaint_rate", "rate_ci_low", "rate_ci_high"))
        s = silent_share(p, r)
        s_lo = min(silent_share(lo, r), silent_share(hi, r)) if math.isfinite(lo) else float("nan")
        s_hi = silent_share(peak, r) if math.isfinite(hi) and lo <= peak <= hi else \
            max(silent_share(lo, r), silent_share(hi, r))
        row = {**{k: rec[k] for k in by}, "n": rec["n"], "complainants": rec["complainants"], "complaint_rate": p,
               "rate_ci_low": lo, "rate_ci_high": hi, "ratio": r, "silent_per_complainer": r - 1.0,
               "dissatisfied_share": dissatisfied_share(p, r), "dissatisfied_ci_low": dissatisfied_share(lo, r),
               "dissatisfied_ci_high": dissatisfied_share(hi, r), "silent_share": s, "silent_ci_low": s_lo,
               "silent_ci_high": s_hi, "capped": bool(math.isfinite(p) and r * p > 1.0),
               "customer_base": customer_base,
               "silent_customers": None if customer_base is None else s * customer_base,
               "silent_customers_low": None if customer_base is None else s_lo * customer_base,
               "silent_customers_high": None if customer_base is None else s_hi * customer_base,
               "handling_index": rec["handling_index"], "handling_n": rec["handling_n"]}
        rows.append(row)
    return pd.DataFrame(rows, columns=[*by, *COLUMNS])
