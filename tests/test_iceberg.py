"""Complaints iceberg (csi.analytics.iceberg): worked by hand."""
from __future__ import annotations

import math

import pandas as pd
import pytest

from csi.analytics.iceberg import DEFAULT_RATIO, complaints_iceberg
from csi.analytics.loyalty import complaints
from csi.errors import SpecError


def _table(n: int, k: int, handling=None) -> pd.DataFrame:
    frame = pd.DataFrame({"comp1": [1.0] * k + [0.0] * (n - k)})
    frame["comp2"] = [handling] * k + [float("nan")] * (n - k) if handling is not None else float("nan")
    return complaints(frame, "comp1", "comp2", (1, 10))


def test_default_ratio_by_hand():
    # 10 of 400 complained: p = 0.025; 1:25 -> 24 silent per complainer: silent share 0.6, dissatisfied 0.625
    t = complaints_iceberg(_table(400, 10, handling=7.0))
    r = t.iloc[0]
    assert DEFAULT_RATIO == 25 and r["silent_per_complainer"] == 24
    assert r["complaint_rate"] == pytest.approx(0.025)
    assert r["silent_share"] == pytest.approx(0.6) and r["dissatisfied_share"] == pytest.approx(0.625)
    # Wilson 95% interval of 10/400, by hand: centre (p + z²/2n)/(1 + z²/n), half z/(1+z²/n)·sqrt(p(1-p)/n + z²/4n²)
    z, n, p = 1.959963984540054, 400, 0.025
    den = 1 + z * z / n
    c = (p + z * z / (2 * n)) / den
    h = z / den * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    assert r["rate_ci_low"] == pytest.approx(c - h) and r["rate_ci_high"] == pytest.approx(c + h)
    assert r["silent_ci_low"] == pytest.approx(24 * (c - h))
    # the upper bound c + h = 0.0454 passes p = 1/25, where silent = min(24p, 1 - p) peaks at 24/25
    assert c + h > 1 / 25 and r["silent_ci_high"] == pytest.approx(24 / 25)
    assert r["dissatisfied_ci_high"] == pytest.approx(min(25 * (c + h), 1.0))
    assert r["handling_index"] == pytest.approx(100 * 6 / 9) and not r["capped"]


def test_customer_base_and_custom_ratio():
    r = complaints_iceberg(_table(1000, 10), ratio=11, customer_base=50_000).iloc[0]
    assert r["silent_share"] == pytest.approx(0.1) and r["silent_customers"] == pytest.approx(5000)


def test_ratio_that_cannot_hold_is_capped_and_flagged():
    # 20% complained with 1:25 would need 500% dissatisfied: capped at everyone, silent = the 80% who did not complain
    r = complaints_iceberg(_table(100, 20)).iloc[0]
    assert r["capped"] and r["dissatisfied_share"] == 1.0 and r["silent_share"] == pytest.approx(0.8)
    assert r["silent_ci_high"] <= 1 - r["rate_ci_low"] + 1e-12


def test_bad_ratio_refused():
    for bad in (0.5, "x", float("nan")):
        with pytest.raises(SpecError, match="ratio"):
            complaints_iceberg(_table(100, 5), ratio=bad)
