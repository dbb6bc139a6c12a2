"""IPMA: importances re-derived by OLS on 0–100 scores, quadrants, ranking, statements, what-if."""
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from csi.errors import DataError, SpecError
from csi.analytics.index import construct_scores_0_100, index_scores, item_weights
from csi.engine.pls import estimate_pls
from csi.analytics.priorities import _quadrants, action_list, ipma, unstd_total_effects, what_if
from csi.model.templates import template

DATA = Path(__file__).resolve().parents[1] / "data" / "ecsi_satisfaction.csv"


@pytest.fixture(scope="module")
def ecsi():
    d = pd.read_csv(DATA, index_col=0)
    spec = template("ecsi")
    scales = {i: (0.0, 10.0) for i in spec.indicators}
    return d, spec, scales, estimate_pls(d, spec)


def _ols_total_effects(s100: pd.DataFrame, spec) -> pd.DataFrame:
    """Re-run every structural regression on the 0–100 scores with lstsq; total = (I − B)⁻¹ − I."""
    cons = list(spec.constructs)
    B = np.zeros((len(cons), len(cons)))
    for c in spec.endogenous:
        preds = list(spec.predecessors(c))
        X = np.column_stack([np.ones(len(s100)), s100[preds].to_numpy()])
        coef = np.linalg.lstsq(X, s100[c].to_numpy(), rcond=None)[0][1:]
        for p, b in zip(preds, coef):
            B[cons.index(p), cons.index(c)] = b
    T = np.linalg.inv(np.eye(len(cons)) - B) - np.eye(len(cons))
    return pd.DataFrame(T, index=cons, columns=cons)


@pytest.mark.parametrize("standardize", [True, False])
def test_importance_equals_ols_on_0_100_scores(ecsi, standardize):
    d, spec, scales, _ = ecsi
    res = estimate_pls(d, spec, standardize=standardize)
    s100 = construct_scores_0_100(res, d, scales)
    T = _ols_total_effects(s100, spec)
    for target in ("SAT", "LOY"):
        tab = ipma(res, scales, target=target).set_index("driver")
        for drv in tab.index:
            assert tab.loc[drv, "importance"] == pytest.approx(T.loc[drv, target], abs=1e-9)
    # and the full matrix
    U = unstd_total_effects(res, scales)
    np.testing.assert_allclose(U.to_numpy(), T.to_numpy(), atol=1e-9)


def test_importance_differs_from_standardized_effect(ecsi):
    """The rescaling is not a no-op: standardized and 0–100 effects differ on this data."""
    _, spec, scales, res = ecsi
    std = res.effects.set_index(["from", "to"])["total"]
    tab = ipma(res, scales).set_index("driver")
    assert max(abs(tab.loc[d, "importance"] - std[(d, "SAT")]) for d in tab.index) > 1e-3


def test_construct_level_table(ecsi):
    _, spec, scales, res = ecsi
    tab = ipma(res, scales, target="SAT")
    assert list(tab.columns[:11]) == ["driver", "target", "level", "importance", "performance", "quadrant", "rank",
                                      "importance_ci_low", "importance_ci_high", "impact_en", "impact_zh"]
    assert set(tab["driver"]) == {"IMAG", "EXPE", "QUAL", "VAL"}  # every ancestor of SAT
    idx = index_scores(res, scales).set_index("construct")["index"]
    for r in tab.itertuples():
        assert r.performance == pytest.approx(idx[r.driver])
    assert list(tab["rank"]) == [1, 2, 3, 4]
    assert tab["importance_ci_low"].isna().all()   # no bootstrap, no interval
    loy = ipma(res, scales, target="LOY")
    assert set(loy["driver"]) == {"IMAG", "EXPE", "QUAL", "VAL", "SAT"}


def test_indicator_level_sums_to_construct_importance(ecsi):
    _, spec, scales, res = ecsi
    con = ipma(res, scales).set_index("driver")["importance"]
    ind = ipma(res, scales, level="indicator")
    assert set(ind["driver"]) == {i for c in ("IMAG", "EXPE", "QUAL", "VAL") for i in spec.blocks[c]}
    sums = ind.groupby("construct")["importance"].sum()   # Σ w̃ = 1 within a block
    np.testing.assert_allclose(sums[con.index].to_numpy(), con.to_numpy(), atol=1e-12)
    w = item_weights(res, scales).set_index("indicator")
    for r in ind.itertuples():
        assert r.performance == pytest.approx(w.loc[r.driver, "mean_0_100"])
        assert r.importance == pytest.approx(w.loc[r.driver, "weight_norm"] * con[r.construct])
    assert ind["impact_en"].str.startswith("Raising “").all()


def test_quadrants_by_hand():
    imp = np.array([0.4, 0.1, 0.3, 0.2])
    perf = np.array([60.0, 90.0, 80.0, 50.0])
    # thresholds: mean importance 0.25; importance-weighted performance
    # (0.4·60 + 0.1·90 + 0.3·80 + 0.2·50) / 1.0 = 24 + 9 + 24 + 10 = 67
    assert _quadrants(imp, perf) == ["fix_first", "possible_overkill", "keep_up", "low_priority"]


def test_ranking_and_statements(ecsi):
    _, spec, scales, res = ecsi
    tab = ipma(res, scales)
    order = {"fix_first": 0, "keep_up": 1, "low_priority": 2, "possible_overkill": 3}
    q = tab["quadrant"].map(order).to_numpy()
    assert (np.diff(q) >= 0).all()
    for _, g in tab.groupby("quadrant"):
        s = (g["importance"] * (100 - g["performance"])).to_numpy()
        assert (np.diff(s) <= 1e-12).all()
    val = tab.set_index("driver").loc["VAL"]
    x = f"{5 * val['importance']:.1f}"
    assert val["impact_en"] == f"Raising Perceived value by 5 points raises Satisfaction by {x} points"
    assert val["impact_zh"] == f"感知价值提升5分，顾客满意度将提升{x}分"
    en, zh = action_list(tab, "en"), action_list(tab, "zh", top=2)
    assert len(en) == 3 and len(zh) == 2
    assert en[0].startswith("1. ") and tab.iloc[0]["label_en"] in en[0]
    assert "提升" in zh[0] and tab.iloc[0]["label_zh"] in zh[0]
    with pytest.raises(DataError):
        action_list(tab, "fr")


def test_what_if_is_linear_in_total_effects(ecsi):
    _, spec, scales, res = ecsi
    imp = ipma(res, scales).set_index("driver")["importance"]
    w = what_if(res, scales, "QUAL", 5).set_index("construct")["change"]
    assert list(w.index) == ["VAL", "SAT", "LOY"]
    assert w["SAT"] == pytest.approx(5 * imp["QUAL"])
    w10 = what_if(res, scales, "QUAL", 10).set_index("construct")["change"]
    np.testing.assert_allclose(w10.to_numpy(), 2 * w.to_numpy())
    wi = what_if(res, scales, "qual2", 10).set_index("construct")["change"]
    wn = item_weights(res, scales).set_index("indicator").loc["qual2", "weight_norm"]
    assert wi["QUAL"] == pytest.approx(10 * wn) and wi["SAT"] == pytest.approx(10 * wn * imp["QUAL"])
    with pytest.raises(SpecError, match="nope"):
        what_if(res, scales, "nope", 5)


def test_bad_arguments(ecsi):
    _, spec, scales, res = ecsi
    with pytest.raises(SpecError, match="COMP"):
        ipma(res, scales, target="COMP")
    with pytest.raises(SpecError, match="predecessors"):
        ipma(res, scales, target="IMAG")
    with pytest.raises(DataError, match="level"):
        ipma(res, scales, level="item")


def test_bootstrap_intervals(ecsi):
    import csi.engine.bootstrap as bootstrap
    d, spec, scales, res = ecsi
    boot = bootstrap.bootstrap_pls(d, spec, n_boot=200, seed=3)
    tab = ipma(res, scales, boot=boot)
    assert (tab["importance_ci_low"] < tab["importance"]).all()
    assert (tab["importance"] < tab["importance_ci_high"]).all()
    ind = ipma(res, scales, level="indicator", boot=boot)
    assert (ind["importance_ci_low"] < ind["importance_ci_high"]).all()


def test_bootstrap_whose_draws_are_the_full_fit_gives_the_point_importance(ecsi):
    """Every draw replaced by the full-sample estimates: the draws' total effects, looked up by (from, to),
    must reproduce each importance exactly (a missed lookup would read 0 and give a zero interval)."""
    import dataclasses

    import csi.engine.bootstrap as bootstrap
    d, spec, scales, res = ecsi
    boot = bootstrap.bootstrap_pls(d, spec, n_boot=5, seed=3, jackknife=False)
    flat = dataclasses.replace(boot, draws={k: pd.DataFrame(np.tile(v.to_numpy(), (3, 1)), columns=v.index)
                                            for k, v in boot.estimates.items()})
    for target in ("SAT", "LOY"):
        for level in ("construct", "indicator"):
            tab = ipma(res, scales, target=target, level=level, boot=flat)
            assert (tab["importance"].abs() > 1e-3).all()
            np.testing.assert_allclose(tab["importance_ci_low"], tab["importance"], rtol=1e-12, atol=1e-14)
            np.testing.assert_allclose(tab["importance_ci_high"], tab["importance"], rtol=1e-12, atol=1e-14)


def test_undetermined_driver_is_ranked_last():
    imp = np.array([0.4, np.nan, 0.2])
    perf = np.array([60.0, 70.0, 80.0])
    # thresholds over the two finite drivers: importance 0.3; performance (0.4·60 + 0.2·80)/0.6 = 66.67
    assert _quadrants(imp, perf) == ["fix_first", "undetermined", "possible_overkill"]
