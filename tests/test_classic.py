"""Classic CSI methods (csi.classic) against worked examples computed by hand.

Most examples use a 1–5 scale, where (x − 1)/4·100 maps 1, 2, 3, 4, 5 to
0, 25, 50, 75, 100 points and therefore to the bands very dissatisfied,
dissatisfied, neutral, fairly satisfied, very satisfied.
"""
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from csi.analytics import classic
from csi.analytics.classic import (construct_means, expectation_gap, fuzzy_evaluation, hierarchy_from_attributes,
                         hierarchy_with_importance, item_ranking, key_drivers, pairs_from_attributes,
                         relative_weights, weighted_hierarchy)
from csi.errors import CSIError, DataError, SpecError
from csi.analytics.loyalty import satisfaction_bands

NAN = np.nan
S5 = (1, 5)


# ------------------------------------------------------------ weighted hierarchy
@pytest.fixture
def hier_data():
    # 0–100: a = 100, 75, 50, NaN (mean 75, n 3); b = 25, 25, 50, 100 (mean 50); c = 75 ×4 (mean 75)
    return pd.DataFrame({"a": [5, 4, 3, NAN], "b": [2, 2, 3, 5], "c": [4, 4, 4, 4.0]})


HIER = {"network": {"a": 3, "b": 1}, "hotline": {"c": 1}}
LEVELS = {"network": 3, "hotline": 1}


def test_weighted_hierarchy_by_hand(hier_data):
    items, level1, total = weighted_hierarchy(hier_data, HIER, LEVELS, {k: S5 for k in "abc"})
    # network: 0.75·75 + 0.25·50 = 68.75; hotline 75; total 0.75·68.75 + 0.25·75 = 70.3125
    assert list(level1.columns) == ["first_level", "weight", "score", "contribution"]
    np.testing.assert_allclose(level1["weight"], [0.75, 0.25])
    np.testing.assert_allclose(level1["score"], [68.75, 75.0])
    np.testing.assert_allclose(level1["contribution"], [51.5625, 18.75])
    assert total == pytest.approx(70.3125)
    assert list(items.columns) == ["first_level", "item", "weight", "global_weight", "n", "mean_0_100",
                                   "contribution"]
    np.testing.assert_allclose(items["mean_0_100"], [75.0, 50.0, 75.0])
    assert list(items["n"]) == [3, 4, 4]
    np.testing.assert_allclose(items["weight"], [0.75, 0.25, 1.0])
    np.testing.assert_allclose(items["global_weight"], [0.5625, 0.1875, 0.25])
    # a: 0.75·0.75·75 = 42.1875; b: 0.75·0.25·50 = 9.375; c: 0.25·75 = 18.75
    np.testing.assert_allclose(items["contribution"], [42.1875, 9.375, 18.75])
    assert items["contribution"].sum() == pytest.approx(total)


def test_weighted_hierarchy_survey_weights(hier_data):
    w = np.array([2.0, 1, 1, 1])
    _, level1, total = weighted_hierarchy(hier_data, HIER, LEVELS, {k: S5 for k in "abc"}, weights=w)
    # a: (2·100 + 75 + 50)/4 = 81.25; b: (2·25 + 25 + 50 + 100)/5 = 45; c: 75
    # network 0.75·81.25 + 0.25·45 = 72.1875; total 0.75·72.1875 + 0.25·75 = 72.890625
    assert level1["score"].iloc[0] == pytest.approx(72.1875)
    assert total == pytest.approx(72.890625)


def test_weighted_hierarchy_equal_and_data_driven_weights(hier_data):
    sc = {k: S5 for k in "abc"}
    # None = equal first-level weights: 0.5·(0.75·75+0.25·50) + 0.5·75 = 71.875
    assert weighted_hierarchy(hier_data, HIER, None, sc)[2] == pytest.approx(71.875)
    # importances 0.6 : 0.2 are the same 3 : 1 split once normalised → same total as by hand
    data_driven = hierarchy_with_importance(HIER, {"a": 0.6, "b": 0.2, "c": 0.5})
    assert weighted_hierarchy(hier_data, data_driven, LEVELS, sc)[2] == pytest.approx(70.3125)
    with pytest.raises(SpecError, match="no importance given for item\\(s\\): c"):
        hierarchy_with_importance(HIER, {"a": 1, "b": 1})


def test_weighted_hierarchy_refuses_bad_weights(hier_data):
    sc = {k: S5 for k in "abc"}
    with pytest.raises(SpecError, match="weight of 'a' must be finite and non-negative"):
        weighted_hierarchy(hier_data, {"network": {"a": -1, "b": 1}}, None, sc)
    with pytest.raises(SpecError, match="'network'.*all zero"):
        weighted_hierarchy(hier_data, {"network": {"a": 0, "b": 0}}, None, sc)
    with pytest.raises(SpecError, match="first-level weights: weights are all zero"):
        weighted_hierarchy(hier_data, HIER, {"network": 0, "hotline": 0}, sc)
    with pytest.raises(SpecError, match="no weight for level\\(s\\) \\['hotline'\\]"):
        weighted_hierarchy(hier_data, HIER, {"network": 1}, sc)
    with pytest.raises(DataError, match="not in the data: zz"):
        weighted_hierarchy(hier_data, {"x": {"zz": 1}}, None, sc)
    with pytest.raises(SpecError, match="no scale .* c"):
        weighted_hierarchy(hier_data, HIER, LEVELS, {"a": S5, "b": S5})
    bad = hier_data.assign(a=[9, 4, 3, NAN])
    with pytest.raises(DataError, match="outside its scale"):
        weighted_hierarchy(bad, HIER, LEVELS, sc)
    empty = hier_data.assign(c=NAN)
    with pytest.raises(DataError, match="no answers: c"):
        weighted_hierarchy(empty, HIER, LEVELS, sc)


def test_hierarchy_from_attributes():
    attrs = {"q1": "network", "q2": "hotline", "q3": "network", "q4": None, "q5": float("nan")}
    assert hierarchy_from_attributes(attrs) == {"network": {"q1": 0.5, "q3": 0.5}, "hotline": {"q2": 1.0}}
    assert hierarchy_from_attributes(attrs, items=["q3", "q2"]) == {"network": {"q3": 1.0}, "hotline": {"q2": 1.0}}
    table = pd.DataFrame({"item": ["e1", "q1", "q2"], "construct": ["EXPE", "QUAL", "QUAL"],
                          "attribute": ["network", "network", "shop"]})
    # expectation items are not performance ratings: left out by default
    assert hierarchy_from_attributes(table) == {"network": {"q1": 1.0}, "shop": {"q2": 1.0}}
    with pytest.raises(SpecError, match="no item has a first-level attribute"):
        hierarchy_from_attributes({"q4": None})


# --------------------------------------------------------- fuzzy evaluation
@pytest.fixture
def fuzzy_data():
    return pd.DataFrame({
        "a": [5, 4, 4, 3, 1.0],  # grades vs, fs, fs, n, vd → R_a = (.2, 0, .2, .4, .2)
        "b": [2, 3, 3, 4, 5.0],  # d, n, n, fs, vs         → R_b = (0, .2, .4, .2, .2)
        "c": [5, 5, 4, 4, 2.0],  # vs, vs, fs, fs, d       → R_c = (0, .2, 0, .4, .4)
    })


SC3 = {k: S5 for k in "abc"}


def test_fuzzy_weighted_average_by_hand(fuzzy_data):
    res = fuzzy_evaluation(fuzzy_data, {"a": 3, "b": 2}, SC3)
    R = res.membership[list(classic.GRADES)].to_numpy()
    np.testing.assert_allclose(R, [[.2, 0, .2, .4, .2], [0, .2, .4, .2, .2]])
    np.testing.assert_allclose(res.membership["weight"], [0.6, 0.4])
    # B = .6·R_a + .4·R_b = (.12, .08, .28, .32, .20)
    np.testing.assert_allclose(res.grade_vector.to_numpy(), [.12, .08, .28, .32, .20])
    # score = .12·10 + .08·30 + .28·50 + .32·70 + .20·90 = 1.2 + 2.4 + 14 + 22.4 + 18 = 58
    assert res.score == pytest.approx(58.0)
    assert res.grade == "fairly_satisfied"
    assert res.level1 is None
    # item scores: a = .2·10 + .2·50 + .4·70 + .2·90 = 58; b = .2·30 + .4·50 + .2·70 + .2·90 = 58
    np.testing.assert_allclose(res.membership["score"], [58.0, 58.0])
    # shifting every grade score by 10 shifts the score by 10 (B sums to 1)
    assert fuzzy_evaluation(fuzzy_data, {"a": 3, "b": 2}, SC3,
                            grade_scores=(20, 40, 60, 80, 100)).score == pytest.approx(68.0)


def test_fuzzy_max_min_by_hand(fuzzy_data):
    res = fuzzy_evaluation(fuzzy_data, {"a": 3, "b": 2}, SC3, operator="max_min")
    # b_j = max(min(.6, r_aj), min(.4, r_bj)) = (.2, .2, .4, .4, .2); sum 1.4 → /1.4
    np.testing.assert_allclose(res.grade_vector.to_numpy(), np.array([.2, .2, .4, .4, .2]) / 1.4)
    # score = (.2·10 + .2·30 + .4·50 + .4·70 + .2·90)/1.4 = 74/1.4 = 370/7
    assert res.score == pytest.approx(370 / 7)
    # neutral and fairly satisfied tie at 2/7: the lower grade is reported
    assert res.grade == "neutral"
    assert res.operator == "max_min"


def test_fuzzy_two_levels_by_hand(fuzzy_data):
    res = fuzzy_evaluation(fuzzy_data, {"L1": {"a": 3, "b": 2}, "L2": {"c": 1}}, SC3)
    # B_L1 = (.12, .08, .28, .32, .20) (score 58); B_L2 = R_c = (0, .2, 0, .4, .4) (score 6 + 28 + 36 = 70)
    lv = res.level1
    assert list(lv["first_level"]) == ["L1", "L2"]
    np.testing.assert_allclose(lv[list(classic.GRADES)].to_numpy(), [[.12, .08, .28, .32, .20], [0, .2, 0, .4, .4]])
    np.testing.assert_allclose(lv["score"], [58.0, 70.0])
    assert list(lv["grade"]) == ["fairly_satisfied", "fairly_satisfied"]
    # equal first-level weights: B = .5·B_L1 + .5·B_L2 = (.06, .14, .14, .36, .30); score 64
    np.testing.assert_allclose(res.grade_vector.to_numpy(), [.06, .14, .14, .36, .30])
    assert res.score == pytest.approx(64.0)
    assert list(res.membership["first_level"]) == ["L1", "L1", "L2"]
    # first level weights 1 : 3 → .25·58 + .75·70 = 67
    res2 = fuzzy_evaluation(fuzzy_data, {"L1": {"a": 3, "b": 2}, "L2": {"c": 1}}, SC3,
                            first_level_weights={"L1": 1, "L2": 3})
    assert res2.score == pytest.approx(67.0)


def test_fuzzy_survey_weights(fuzzy_data):
    res = fuzzy_evaluation(fuzzy_data, {"a": 1}, SC3, weights=np.array([2.0, 1, 1, 1, 1]))
    # a: vs (w 2), fs, fs, n, vd → (1/6, 0, 1/6, 2/6, 2/6); score (10 + 50 + 140 + 180)/6
    np.testing.assert_allclose(res.grade_vector.to_numpy(), np.array([1, 0, 1, 2, 2]) / 6)
    assert res.score == pytest.approx(380 / 6)


def test_fuzzy_membership_uses_the_band_convention_of_satisfaction_bands():
    scores = pd.DataFrame({"s": [0, 20, 20.5, 40, 40.0001, 60, 61, 80, 80.5, 100, NAN]})
    res = fuzzy_evaluation(scores, {"s": 1}, {"s": (0, 100)})
    np.testing.assert_allclose(res.grade_vector.to_numpy(), [.2, .2, .2, .2, .2])
    np.testing.assert_allclose(res.grade_vector.to_numpy(), satisfaction_bands(scores["s"])["share"])
    assert res.membership["n"].iloc[0] == 10


def test_fuzzy_refuses_bad_options(fuzzy_data):
    with pytest.raises(SpecError, match="operator must be one of 'weighted_average', 'max_min'"):
        fuzzy_evaluation(fuzzy_data, {"a": 1}, SC3, operator="max")
    with pytest.raises(SpecError, match="grade_scores must be 5"):
        fuzzy_evaluation(fuzzy_data, {"a": 1}, SC3, grade_scores=(1, 2, 3))
    with pytest.raises(SpecError, match="mixes items and first levels"):
        fuzzy_evaluation(fuzzy_data, {"a": 1, "L": {"b": 1}}, SC3)
    with pytest.raises(SpecError, match="do not match the levels"):
        fuzzy_evaluation(fuzzy_data, {"L1": {"a": 1}}, SC3, first_level_weights={"L9": 1})
    with pytest.raises(DataError, match="item 'a' has no answers"):
        fuzzy_evaluation(fuzzy_data.assign(a=NAN), {"a": 1}, SC3)


# ------------------------------------------------------------ expectation gap
@pytest.fixture
def gap_data():
    # 0–10 scale (×10): complete pairs are the first four rows
    return pd.DataFrame({"e": [8, 7, 9, 6, NAN], "p": [7, 7, 6, 8, 5.0]})


def test_expectation_gap_by_hand(gap_data):
    out = expectation_gap(gap_data, [("network", "e", "p")], {"e": (0, 10), "p": (0, 10)})
    assert list(out.columns) == ["attribute", "expectation_item", "perception_item", "expectation", "perception",
                                 "gap", "ratio", "n", "gap_ci_low", "gap_ci_high", "p_value"]
    r = out.iloc[0]
    # E = 80, 70, 90, 60 (mean 75); P = 70, 70, 60, 80 (mean 70); d = −10, 0, −30, 20 (mean −5)
    assert (r["expectation"], r["perception"], r["gap"], r["n"]) == (pytest.approx(75), pytest.approx(70),
                                                                     pytest.approx(-5), 4)
    assert r["ratio"] == pytest.approx(70 / 75)
    # s_d² = (25 + 25 + 625 + 625)/3 = 1300/3; SE = √(1300/3/4); t = −5/SE on 3 df
    se = math.sqrt(1300 / 3 / 4)
    tq = 3.182446305284263  # t_{0.975, 3}
    assert r["gap_ci_low"] == pytest.approx(-5 - tq * se, abs=1e-9)
    assert r["gap_ci_high"] == pytest.approx(-5 + tq * se, abs=1e-9)
    assert r["p_value"] == pytest.approx(2 * stats.t.sf(5 / se, 3), abs=1e-12)
    # and the reference implementation of the paired t test agrees
    ref = stats.ttest_rel([70, 70, 60, 80], [80, 70, 90, 60])
    assert r["p_value"] == pytest.approx(ref.pvalue, abs=1e-12)


def test_expectation_gap_weighted(gap_data):
    sc = {"e": (0, 10), "p": (0, 10)}
    # equal weights change nothing
    eq = expectation_gap(gap_data, [("network", "e", "p")], sc, weights=np.full(5, 2.5))
    ref = expectation_gap(gap_data, [("network", "e", "p")], sc)
    pd.testing.assert_frame_equal(eq, ref)
    out = expectation_gap(gap_data, [("network", "e", "p")], sc, weights=np.array([2.0, 1, 1, 1, 1])).iloc[0]
    # d = −10 (w 2), 0, −30, 20 → mean −30/5 = −6; Σw(d+6)² = 2·16 + 36 + 576 + 676 = 1320
    # Σw = 5, Σw² = 7 → s² = 1320/(5 − 7/5) = 366.67; n_eff = 25/7; SE² = s²/n_eff
    se = math.sqrt(1320 / 3.6 / (25 / 7))
    assert out["gap"] == pytest.approx(-6)
    assert out["expectation"] == pytest.approx((160 + 70 + 90 + 60) / 5)
    assert out["p_value"] == pytest.approx(2 * stats.t.sf(6 / se, 25 / 7 - 1))


def test_expectation_gap_degenerate_and_errors(gap_data):
    sc = {"e": (0, 10), "p": (0, 10)}
    same = pd.DataFrame({"e": [5, 6, 7.0], "p": [6, 7, 8.0]})  # every d = +10: no spread
    r = expectation_gap(same, [("x", "e", "p")], sc).iloc[0]
    assert (r["gap"], r["gap_ci_low"], r["gap_ci_high"], r["p_value"]) == (pytest.approx(10), pytest.approx(10),
                                                                          pytest.approx(10), 0.0)
    one = pd.DataFrame({"e": [5, NAN, 7.0], "p": [6, 7, NAN]})
    with pytest.raises(DataError, match="attribute 'x': only 1 respondent"):
        expectation_gap(one, [("x", "e", "p")], sc)
    with pytest.raises(SpecError, match="pairs must be"):
        expectation_gap(gap_data, [("x", "e")], sc)


def test_pairs_from_attributes():
    d = pd.DataFrame({
        "item": ["expe1", "expe2", "expe3", "qual1", "qual2", "qual3", "qual4", "imag1"],
        "construct": ["EXPE", "EXPE", "EXPE", "QUAL", "QUAL", "QUAL", "QUAL", "IMAG"],
        "attribute": ["network", "hotline", None, "network", "hotline", "hotline", "shop", "network"],
    })
    assert pairs_from_attributes(d) == [("network", "expe1", "qual1"), ("hotline", "expe2", "qual2"),
                                        ("hotline", "expe2", "qual3")]
    assert pairs_from_attributes(d, items=["expe1", "qual1"]) == [("network", "expe1", "qual1")]
    d2 = pd.concat([d, pd.DataFrame({"item": ["expe9"], "construct": ["EXPE"], "attribute": ["hotline"]})])
    with pytest.raises(SpecError, match="'hotline' has 2 expectation and 3 perception"):
        pairs_from_attributes(d2.assign(attribute=d2["attribute"].replace({"shop": "hotline"})))
    # 2 and 2 pair in dictionary order
    assert pairs_from_attributes(d2)[1:] == [("hotline", "expe2", "qual2"), ("hotline", "expe9", "qual3")]


# --------------------------------------------------------------- item ranking
def test_item_ranking_by_hand():
    data = pd.DataFrame({
        "i1": [5, 4, 4, 4.0],  # 100, 75, 75, 75 → 81.25
        "i2": [3, 3, 3, 3.0],  # 50
        "i3": [3, 4, 2, 3.0],  # 50, 75, 25, 50 → 50 (tie with i2)
        "i4": [2, 2, 3, NAN],  # 25, 25, 50 → 33.33
        "i5": [1, 1, 2, 1.0],  # 0, 0, 25, 0 → 6.25
    })
    out = item_ranking(data, {c: S5 for c in data}, constructs={c: "QUAL" for c in data}, labels={"i1": "Network"})
    assert list(out.columns) == ["item", "construct", "label", "mean_0_100", "sd", "n", "rank", "weakest"]
    assert list(out["item"]) == ["i1", "i2", "i3", "i4", "i5"]
    np.testing.assert_allclose(out["mean_0_100"], [81.25, 50, 50, 100 / 3, 6.25])
    assert list(out["rank"]) == [1, 2, 2, 4, 5]
    assert list(out["n"]) == [4, 4, 4, 3, 4]
    # i3: deviations 0, 25, −25, 0 → s² = 1250/3
    assert out.loc[2, "sd"] == pytest.approx(math.sqrt(1250 / 3))
    # k = 5 → m = max(⌈5/4⌉, min(3, 2)) = 2: the two lowest means
    assert list(out["weakest"]) == [False, False, False, True, True]
    assert out.loc[0, "label"] == "Network" and pd.isna(out.loc[1, "label"])


@pytest.mark.parametrize("k, m", [(1, 0), (2, 1), (4, 2), (6, 3), (8, 3), (12, 3), (20, 5), (30, 8)])
def test_item_ranking_weakest_count(k, m):
    # item j has every answer equal to 1 + 4j/k (distinct means, increasing with j)
    data = pd.DataFrame({f"q{j:02d}": [1 + 4 * j / k] * 3 for j in range(k)})
    out = item_ranking(data, {c: S5 for c in data})
    assert int(out["weakest"].sum()) == m
    assert set(out.loc[out["weakest"], "item"]) == {f"q{j:02d}" for j in range(m)}


def test_item_ranking_weighted_and_errors():
    data = pd.DataFrame({"a": [5, 1.0], "b": [3, 3.0]})
    out = item_ranking(data, {"a": S5, "b": S5}, weights=np.array([3.0, 1.0]))
    # a: (3·100 + 0)/4 = 75 beats b = 50
    assert list(out["item"]) == ["a", "b"] and out.loc[0, "mean_0_100"] == pytest.approx(75)
    with pytest.raises(DataError, match="no answers: b"):
        item_ranking(data.assign(b=NAN), {"a": S5, "b": S5})
    with pytest.raises(SpecError, match="nothing to rank"):
        item_ranking(data, {"zz": S5})


# ---------------------------------------------------------------- key drivers
def test_key_drivers_simple_regression_by_hand():
    data = pd.DataFrame({"x": [1, 2, 3, 4, 5.0], "y": [2, 4, 5, 4, 5.0]})
    out = key_drivers(data, "y", ["x"])
    r = out.iloc[0]
    # Sxy = 6, Sxx = 10 → b = 0.6, a = 4 − 0.6·3 = 2.2; SSE = 2.4, SST = 6 → R² = 0.6
    # σ² = 2.4/3 = 0.8 → SE(b) = √(0.8/10); std b = r = 6/√60
    assert r["coefficient"] == pytest.approx(0.6)
    assert out.attrs["intercept"] == pytest.approx(2.2)
    assert r["std_error"] == pytest.approx(math.sqrt(0.08))
    assert r["t"] == pytest.approx(0.6 / math.sqrt(0.08))
    assert r["p_value"] == pytest.approx(2 * stats.t.sf(0.6 / math.sqrt(0.08), 3))
    assert r["std_coefficient"] == pytest.approx(6 / math.sqrt(60))
    assert r["r_squared"] == pytest.approx(0.6) and r["relative_weight"] == pytest.approx(0.6)
    assert r["adj_r_squared"] == pytest.approx(1 - 0.4 * 4 / 3)
    assert r["n"] == 5 and r["rank"] == 1 and bool(r["selected"])
    # scipy's simple regression is the reference
    ref = stats.linregress(data["x"], data["y"])
    assert r["std_error"] == pytest.approx(ref.stderr, abs=1e-12)
    assert r["p_value"] == pytest.approx(ref.pvalue, abs=1e-12)


@pytest.fixture
def three_drivers():
    rng = np.random.default_rng(20240601)
    n = 300
    x1 = rng.normal(size=n)
    x2 = 0.5 * x1 + rng.normal(size=n)
    x3 = 0.3 * x1 - 0.4 * x2 + rng.normal(size=n)
    y = 1.0 + 0.8 * x1 + 0.4 * x2 + 0.1 * x3 + rng.normal(size=n)
    return pd.DataFrame({"y": y, "x1": x1, "x2": x2, "x3": x3})


def test_key_drivers_ols_matches_lstsq_and_t_formulas(three_drivers):
    d = three_drivers
    out = key_drivers(d, "y", ["x1", "x2", "x3"])
    A = np.column_stack([np.ones(len(d)), d[["x1", "x2", "x3"]]])
    beta, *_ = np.linalg.lstsq(A, d["y"].to_numpy(), rcond=None)
    np.testing.assert_allclose(out["coefficient"], beta[1:], atol=1e-10)
    assert out.attrs["intercept"] == pytest.approx(beta[0], abs=1e-10)
    e = d["y"].to_numpy() - A @ beta
    df = len(d) - 4
    se = np.sqrt(np.diag(e @ e / df * np.linalg.inv(A.T @ A)))[1:]
    np.testing.assert_allclose(out["std_error"], se, rtol=1e-9)
    np.testing.assert_allclose(out["p_value"], 2 * stats.t.sf(np.abs(beta[1:] / se), df), rtol=1e-9, atol=1e-300)
    # standardized coefficients = coefficients of the z-scored regression
    z = (d - d.mean()) / d.std(ddof=1)
    bz, *_ = np.linalg.lstsq(z[["x1", "x2", "x3"]].to_numpy(), z["y"].to_numpy(), rcond=None)
    np.testing.assert_allclose(out["std_coefficient"], bz, atol=1e-10)
    r2 = 1 - e @ e / ((d["y"] - d["y"].mean()) ** 2).sum()
    assert out["r_squared"].iloc[0] == pytest.approx(r2, abs=1e-12)


def test_relative_weights_against_an_independent_svd_route(three_drivers):
    d = three_drivers
    out = key_drivers(d, "y", ["x1", "x2", "x3"])
    # Johnson (2000) done the long way: Z = P Qᵀ is the orthonormal matrix closest to the
    # standardized X = P Δ Qᵀ; regress y on Z (β) and X on Z (Λ); ε_j = Σ_k Λ_jk² β_k².
    X = d[["x1", "x2", "x3"]].to_numpy()
    X = (X - X.mean(0)) / X.std(0, ddof=1) / math.sqrt(len(d) - 1)  # unit-length columns
    y = d["y"].to_numpy()
    y = (y - y.mean()) / y.std(ddof=1) / math.sqrt(len(d) - 1)
    P, delta, Qt = np.linalg.svd(X, full_matrices=False)
    Z = P @ Qt
    beta = Z.T @ y                     # Z orthonormal → least squares is a projection
    Lam = (Z.T @ X).T                  # Λ_jk: loading of x_j on z_k
    eps = (Lam**2) @ (beta**2)
    np.testing.assert_allclose(out["relative_weight"], eps, atol=1e-12)
    assert out["relative_weight"].sum() == pytest.approx(out["r_squared"].iloc[0], abs=1e-12)
    assert out["relative_weight_pct"].sum() == pytest.approx(100)
    assert list(out.sort_values("rank")["driver"]) == list(pd.Series(eps, index=["x1", "x2", "x3"])
                                                           .sort_values(ascending=False).index)


def test_relative_weights_of_orthogonal_drivers_are_squared_correlations():
    rng = np.random.default_rng(7)
    Q, _ = np.linalg.qr(rng.normal(size=(50, 3)) - 0)
    X = Q - Q.mean(0)                  # centred...
    X, _ = np.linalg.qr(X)             # ...and exactly orthogonal again
    X = X - X.mean(0)
    y = X @ np.array([3.0, 2.0, 1.0]) + rng.normal(size=50)
    C = np.corrcoef(np.column_stack([X, y]), rowvar=False)
    eps = relative_weights(C[:3, :3], C[:3, 3])
    np.testing.assert_allclose(eps, C[:3, 3] ** 2, atol=1e-10)


def test_key_drivers_weighted_equals_replicated_rows(three_drivers):
    d = three_drivers.iloc[:60].reset_index(drop=True)
    w = np.tile([1.0, 2.0, 3.0], 20)
    out = key_drivers(d, "y", ["x1", "x2", "x3"], weights=w)
    rep = d.loc[d.index.repeat(w.astype(int))]
    ref = key_drivers(rep, "y", ["x1", "x2", "x3"])
    # frequency weights = replicated rows for the point estimates, R² and relative weights
    for col in ("coefficient", "std_coefficient", "relative_weight", "r_squared"):
        np.testing.assert_allclose(out[col], ref[col], atol=1e-10)
    # WLS standard errors do not depend on the scale of the weights
    out2 = key_drivers(d, "y", ["x1", "x2", "x3"], weights=w * 17.3)
    np.testing.assert_allclose(out2["std_error"], out["std_error"], rtol=1e-10)
    assert out.loc[0, "n"] == 60


def test_key_drivers_recover_a_known_truth():
    rng = np.random.default_rng(11)
    n = 20000
    X = rng.normal(size=(n, 3))
    y = 2.0 + X @ np.array([0.5, 0.3, 0.0]) + rng.normal(scale=0.5, size=n)
    d = pd.DataFrame(np.column_stack([y, X]), columns=["sat", "net", "hot", "shop"])
    out = key_drivers(d, "sat", ["net", "hot", "shop"])
    np.testing.assert_allclose(out["coefficient"], [0.5, 0.3, 0.0], atol=0.015)
    # independent drivers: relative weights ≈ b_j²·var(x_j)/var(y) with var(y) = .25 + .09 + .25 = .59
    np.testing.assert_allclose(out["relative_weight"], [0.25 / 0.59, 0.09 / 0.59, 0.0], atol=0.01)


def test_stepwise_selects_the_true_drivers_and_stops_correctly():
    rng = np.random.default_rng(3)
    n = 400
    X = rng.normal(size=(n, 5))
    y = X[:, 0] + 0.5 * X[:, 1] + rng.normal(size=n)
    names = ["a", "b", "c", "d", "e"]
    d = pd.DataFrame(X, columns=names).assign(y=y)
    out = key_drivers(d, "y", names, method="stepwise")
    chosen = list(out.loc[out["selected"], "driver"])
    assert {"a", "b"} <= set(chosen)
    # the final model's statistics are the OLS of the selected drivers
    ols = key_drivers(d, "y", chosen)
    np.testing.assert_allclose(out.loc[out["selected"], "coefficient"], ols["coefficient"], atol=1e-12)
    assert out["r_squared"].iloc[0] == pytest.approx(ols["r_squared"].iloc[0])
    # stopping rule: nothing included is above p_remove, nothing excluded would enter below p_enter
    assert (out.loc[out["selected"], "p_value"] <= 0.10).all()
    for c in set(names) - set(chosen):
        assert key_drivers(d, "y", chosen + [c]).set_index("driver").loc[c, "p_value"] >= 0.05
    assert out.loc[~out["selected"], ["coefficient", "relative_weight"]].isna().all().all()
    assert out["relative_weight"].sum() == pytest.approx(out["r_squared"].iloc[0])


def test_stepwise_with_nothing_to_select():
    rng = np.random.default_rng(5)
    d = pd.DataFrame(rng.normal(size=(30, 3)), columns=["y", "a", "b"])
    d["y"] = rng.normal(size=30)
    out = key_drivers(d, "y", ["a", "b"], method="stepwise", p_enter=0.0001, p_remove=0.0002)
    assert not out["selected"].any() and out["r_squared"].iloc[0] == 0.0


def test_key_drivers_refuse_bad_input(three_drivers):
    d = three_drivers
    with pytest.raises(SpecError, match="method must be one of 'ols', 'stepwise'"):
        key_drivers(d, "y", ["x1"], method="lasso")
    with pytest.raises(SpecError, match="target 'y' is also listed"):
        key_drivers(d, "y", ["x1", "y"])
    with pytest.raises(DataError, match="not in the data: zz"):
        key_drivers(d, "y", ["zz"])
    with pytest.raises(DataError, match="collinear"):
        key_drivers(d.assign(x4=2 * d["x1"] - d["x2"]), "y", ["x1", "x2", "x4"])
    with pytest.raises(DataError, match="no variation in x3"):
        key_drivers(d.assign(x3=1.0), "y", ["x1", "x3"])
    with pytest.raises(DataError, match="3 complete respondents for 2 driver"):
        key_drivers(d.iloc[:3], "y", ["x1", "x2"])
    with pytest.raises(CSIError):
        key_drivers(d, "y", ["x1"], weights=np.ones(3))


def test_key_drivers_listwise_missing(three_drivers):
    d = three_drivers.copy()
    d.loc[:9, "x2"] = NAN
    out = key_drivers(d, "y", ["x1", "x2"])
    ref = key_drivers(d.iloc[10:], "y", ["x1", "x2"])
    pd.testing.assert_frame_equal(out, ref)
    assert out["n"].iloc[0] == len(d) - 10


def test_construct_means():
    d = pd.DataFrame({"q1": [1, 5, NAN], "q2": [3, NAN, NAN], "r": [0, 10, 5.0]})
    out = construct_means(d, {"Q": ["q1", "q2"], "R": ["r"]}, scales={"q1": S5, "q2": S5, "r": (0, 10)})
    # Q: (0 + 50)/2 = 25; 100 (q2 missing); NaN. R: 0, 100, 50
    np.testing.assert_allclose(out["Q"].to_numpy()[:2], [25, 100])
    assert np.isnan(out["Q"].iloc[2])
    np.testing.assert_allclose(out["R"], [0, 100, 50])
    raw = construct_means(d, {"Q": ["q1", "q2"]})
    np.testing.assert_allclose(raw["Q"].to_numpy()[:2], [2, 5])


def test_stepwise_removes_a_driver_that_entered_first():
    # x1 ≈ 0.7(x2 + x3) is the best single predictor, so it enters first; once x2 and x3 are in,
    # x1 carries nothing (y = x2 + x3 + e) and must leave at the removal step.
    rng = np.random.default_rng(0)
    x2, x3, u, e = rng.normal(size=(4, 300))
    d = pd.DataFrame({"y": x2 + x3 + e, "x1": 0.7 * (x2 + x3) + 0.3 * u, "x2": x2, "x3": x3})
    assert d.corr()["y"].drop("y").idxmax() == "x1"
    assert key_drivers(d, "y", ["x1"])["p_value"].iloc[0] < 0.05
    assert key_drivers(d, "y", ["x1", "x2", "x3"])["p_value"].iloc[0] > 0.10
    out = key_drivers(d, "y", ["x1", "x2", "x3"], method="stepwise")
    assert list(out.loc[out["selected"], "driver"]) == ["x2", "x3"]


def test_relative_weights_match_published_rwa_mtcars_example():
    # Published output of the R package rwa (README of martinctc/rwa), R's built-in mtcars:
    #   mtcars %>% rwa(outcome = "mpg", predictors = c("cyl", "disp", "hp", "gear"))
    #   rsquare 0.7791896; Raw.RelWeight cyl 0.2284797, disp 0.2221469, hp 0.2321744, gear 0.0963886
    #   Rescaled.RelWeight 29.32274, 28.50999, 29.79691, 12.37037
    mt = pd.DataFrame({
        "mpg": [21, 21, 22.8, 21.4, 18.7, 18.1, 14.3, 24.4, 22.8, 19.2, 17.8, 16.4, 17.3, 15.2, 10.4, 10.4, 14.7,
                32.4, 30.4, 33.9, 21.5, 15.5, 15.2, 13.3, 19.2, 27.3, 26, 30.4, 15.8, 19.7, 15, 21.4],
        "cyl": [6, 6, 4, 6, 8, 6, 8, 4, 4, 6, 6, 8, 8, 8, 8, 8, 8, 4, 4, 4, 4, 8, 8, 8, 8, 4, 4, 4, 8, 6, 8, 4],
        "disp": [160, 160, 108, 258, 360, 225, 360, 146.7, 140.8, 167.6, 167.6, 275.8, 275.8, 275.8, 472, 460, 440,
                 78.7, 75.7, 71.1, 120.1, 318, 304, 350, 400, 79, 120.3, 95.1, 351, 145, 301, 121],
        "hp": [110, 110, 93, 110, 175, 105, 245, 62, 95, 123, 123, 180, 180, 180, 205, 215, 230, 66, 52, 65, 97, 150,
               150, 245, 175, 66, 91, 113, 264, 175, 335, 109],
        "gear": [4, 4, 4, 3, 3, 3, 3, 4, 4, 4, 4, 3, 3, 3, 3, 3, 3, 4, 4, 4, 3, 3, 3, 3, 3, 4, 5, 5, 5, 5, 5, 4],
    }, dtype=float)
    out = key_drivers(mt, "mpg", ["cyl", "disp", "hp", "gear"])
    assert out["r_squared"].iloc[0] == pytest.approx(0.7791896, abs=1e-7)
    np.testing.assert_allclose(out["relative_weight"], [0.2284797, 0.2221469, 0.2321744, 0.0963886], atol=1e-7)
    np.testing.assert_allclose(out["relative_weight_pct"], [29.32274, 28.50999, 29.79691, 12.37037], atol=1e-5)
    assert list(out["rank"]) == [2, 3, 1, 4]
