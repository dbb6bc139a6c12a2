"""NCA / cIPMA (csi.analytics.nca): CE-FDH ceilings and effect sizes computed by hand, an independent peer-based
ceiling zone (the NCA package's formula), the permutation test, bottlenecks and the demo's necessary conditions."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from csi.analytics.nca import bottlenecks, ce_fdh, ceiling_zone, cipma, nca_test


def test_hand_computed_ceiling_and_d():
    # sorted x 1..5, running max of y: 1, 3, 3, 5, 5; y max 5 -> zone = 4 + 2 + 2 + 0 = 8; scope 4 x 4 = 16
    x, y = [1, 2, 3, 4, 5], [1, 3, 2, 5, 4]
    c = ce_fdh(x, y)
    assert c["ceiling"].tolist() == [1, 3, 3, 5, 5]
    assert c.attrs["ceiling_zone"] == pytest.approx(8.0)
    assert c.attrs["scope"] == pytest.approx(16.0)
    assert c.attrs["d"] == pytest.approx(0.5)
    # unequal spacing: x 0, 2, 5; y 0, 4, 1 -> ceiling 0 on [0,2), 4 on [2,5]; zone = 2 * (4 - 0) = 8; scope 5 * 4
    assert ceiling_zone([0, 2, 5], [0, 4, 1]) == (pytest.approx(8.0), pytest.approx(20.0))


def test_ties_in_x_take_the_highest_y():
    # x = 1 twice: the ceiling there is max(1, 4) = 4 = y max -> no empty zone
    zone, scope = ceiling_zone([1, 1, 2, 3], [1, 4, 2, 3])
    assert zone == 0.0 and scope == pytest.approx(6.0)


def _peer_zone(x, y):
    """The NCA package's form: peers = upper-left corners of the step line; zone = Σ (x_{i+1} - x_low)(y_{i+1} - y_i)."""
    pts = sorted(zip(x, y), key=lambda t: (t[0], -t[1]))
    peers, best = [], -np.inf
    for px, py in pts:
        if py > best:
            peers.append((px, py))
            best = py
    xl = min(x)
    return sum((peers[i + 1][0] - xl) * (peers[i + 1][1] - peers[i][1]) for i in range(len(peers) - 1))


def test_zone_equals_the_peer_formula_on_random_data():
    rng = np.random.default_rng(5)
    for _ in range(20):
        x = rng.integers(0, 11, 60).astype(float)
        y = np.minimum(rng.integers(0, 11, 60), x + rng.integers(0, 4, 60)).astype(float)
        assert ceiling_zone(x, y)[0] == pytest.approx(_peer_zone(x, y), abs=1e-9)


def test_permutation_p_value():
    rng = np.random.default_rng(1)
    x = rng.uniform(0, 100, 300)
    y_nec = x * rng.uniform(0, 1, 300)                 # y <= x: x is necessary for y (triangle, d near 0.5)
    t = nca_test(x, y_nec, n_perm=500, seed=3)
    assert t["d"] > 0.3 and t["p_value"] == pytest.approx(1 / 500)
    y_ind = rng.uniform(0, 100, 300)                   # independent: no ceiling beyond chance
    t2 = nca_test(x, y_ind, n_perm=500, seed=3)
    assert t2["d"] < 0.1 and t2["p_value"] > 0.05
    assert nca_test(x, y_ind, n_perm=500, seed=3) == t2          # seeded
    assert np.isnan(nca_test(x, y_ind, n_perm=0)["p_value"])     # no test, no p


def test_bottlenecks_hand_computed():
    b = bottlenecks([1, 2, 3, 4, 5], [1, 3, 2, 5, 4], levels=[1, 3, 5, 6])
    assert b["status"].tolist() == ["NN", "required", "required", "NA"]
    assert b["required"].tolist()[1:3] == [2.0, 4.0]
    assert b["pct_below"].tolist()[1:3] == [pytest.approx(20.0), pytest.approx(60.0)]


def test_cipma_marks_necessary_conditions_on_the_demo():
    import csi
    from csi.data.demo import generate
    from csi.report.analyze import _scales

    demo = generate()
    fr = demo.waves[list(demo.waves)[-1]]
    fr = fr[fr["brand"] == demo.own_brand].copy()
    spec_cols = [c for c in fr.columns if c not in ("respondent_id", "brand", "region", "channel", "gender",
                                                    "age_group", "weight")]
    for c in spec_cols:
        fr[c] = pd.to_numeric(fr[c]).astype(float).where(lambda s: s != 99)
    fit = csi.analyze(fr, "ccsi")
    scales = _scales(None, list(fit.result.spec.indicators), fr, fit.result.scores.index, [])
    nca, bn = cipma(fit.result, fr, scales, target="SAT", n_perm=200, seed=1)
    assert set(nca["driver"]) == set(fit.result.spec.ancestors("SAT"))
    assert nca["necessary"].any()
    assert ((nca["d"] >= 0.1) & (nca["p_value"] < 0.05)).eq(nca["necessary"]).all()
    # bottleneck rows: required levels never decrease with the target level
    for _, g in bn.groupby("driver"):
        req = g["required"].fillna(-1).where(g["status"] != "NA").dropna()
        assert req.is_monotonic_increasing
    items, _ = cipma(fit.result, fr, scales, target="SAT", level="indicator", n_perm=100)
    assert items["necessary"].any() and set(items["level"]) == {"indicator"}


def test_analyze_nca_tables():
    from pathlib import Path

    import csi

    data = pd.read_csv(Path(__file__).resolve().parents[1] / "data" / "ecsi_satisfaction.csv", index_col=0)
    fit = csi.analyze(data, "ecsi", scale=(0, 10), nca=True, seed=2)
    nca = fit.tables["nca"]
    assert set(nca["level"]) == {"construct", "indicator"} and (nca["target"] == "SAT").all()
    assert set(fit.tables["bottlenecks"]["status"]) <= {"NN", "required", "NA"}
    # the construct-level d equals nca_test on the 0-100 scores
    from csi.analytics.index import construct_scores_0_100

    sc = construct_scores_0_100(fit.result, data, {i: (0.0, 10.0) for i in fit.result.spec.indicators})
    row = nca[(nca["level"] == "construct") & (nca["driver"] == "VAL")].iloc[0]
    assert row["d"] == pytest.approx(nca_test(sc["VAL"], sc["SAT"], n_perm=0)["d"], rel=1e-12)
    with pytest.raises(Exception, match="PLS"):
        csi.analyze(data, "ecsi", method="cbsem", nca=True)
