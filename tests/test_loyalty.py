"""NPS, complaints and satisfaction bands (csi.loyalty) against hand-worked values."""
import math

import numpy as np
import pandas as pd
import pytest

from csi.errors import DataError, SpecError
from csi.analytics.loyalty import complaints, nps, nps_by, satisfaction_bands, wilson_interval

NAN = np.nan
Z95 = 1.959963984540054


# ------------------------------------------------------------------------ NPS
def test_nps_by_hand_balanced():
    # promoters 10, 9, 9, 10 (4); passives 8, 7 (2); detractors 6, 0, 5, 3 (4); one NaN skipped
    out = nps([10, 9, 9, 8, 7, 6, 0, 5, 10, 3, NAN])
    assert out["n"] == 10 and out["n_effective"] == 10
    assert (out["promoters"], out["passives"], out["detractors"]) == (pytest.approx(.4), pytest.approx(.2),
                                                                      pytest.approx(.4))
    assert out["nps"] == pytest.approx(0.0)
    # Var = [.4 + .4 − 0²]/10 → SE = 100·√0.08
    assert out["std_error"] == pytest.approx(100 * math.sqrt(0.08))
    assert out["ci_low"] == pytest.approx(-Z95 * 100 * math.sqrt(0.08))
    assert out["ci_high"] == pytest.approx(Z95 * 100 * math.sqrt(0.08))


def test_nps_by_hand_skewed_and_variance_identity():
    x = np.array([10, 10, 10, 9, 7, 2])
    out = nps(pd.Series(x))
    # p_P = 4/6, p_D = 1/6 → NPS = 50; Var = 5/6 − 0.25 = 7/12 → SE = 100·√(7/12/6)
    assert out["nps"] == pytest.approx(50.0)
    assert out["std_error"] == pytest.approx(100 * math.sqrt(7 / 12 / 6))
    # the multinomial formula is the (population) variance of the +1/0/−1 indicator
    v = np.where(x >= 9, 1, np.where(x <= 6, -1, 0))
    assert (out["std_error"] / 100) ** 2 * len(x) == pytest.approx(np.var(v))
    # 90 % interval is narrower (the upper ends are both clipped at 100)
    assert out["ci_high"] == 100 and nps(x, alpha=0.10)["ci_low"] > out["ci_low"]


def test_nps_weighted_by_hand():
    out = nps([10, 10, 10, 9, 7, 2], weights=np.array([2.0, 1, 1, 1, 1, 1]))
    # p_P = 5/7, p_D = 1/7 → 400/7; n_eff = 49/9; Var = 6/7 − (4/7)² = 26/49
    assert out["nps"] == pytest.approx(400 / 7)
    assert out["n_effective"] == pytest.approx(49 / 9)
    assert out["std_error"] == pytest.approx(100 * math.sqrt(26 / 49 / (49 / 9)))
    # equal weights are the unweighted result
    assert nps([10, 3, 8], weights=[4, 4, 4]) == nps([10, 3, 8])


def test_nps_ci_is_clipped_and_degenerate_when_all_promoters():
    out = nps([10, 9, 10])
    assert out["nps"] == 100 and out["std_error"] == 0 and out["ci_high"] == 100 and out["ci_low"] == 100


def test_nps_interval_coverage_on_simulated_truth():
    # truth: P = .5, passives .2, D = .3 → NPS 20; 95 % interval should cover about 95 % of the time
    rng = np.random.default_rng(2024)
    hits = 0
    reps = 2000
    for _ in range(reps):
        cls = rng.choice([10, 8, 3], size=400, p=[.5, .2, .3])
        r = nps(cls)
        hits += r["ci_low"] <= 20 <= r["ci_high"]
    assert 0.935 <= hits / reps <= 0.965


def test_nps_refuses_bad_values():
    with pytest.raises(DataError, match="whole numbers 0–10; 3 value\\(s\\).*11, 7.5, -1 at row position\\(s\\) 1, 2, 4"):
        nps([10, 11, 7.5, 3, -1])
    with pytest.raises(DataError, match="non-numeric.*'abc'"):
        nps(pd.Series(["9", "abc", None]))
    with pytest.raises(DataError, match="no answers"):
        nps([NAN, NAN])
    with pytest.raises(SpecError, match="alpha"):
        nps([9], alpha=1.5)


def test_nps_by_keeps_wave_order_and_matches_nps():
    waves = pd.Categorical(["2025Q2", "2025Q1", "2025Q1", "2025Q2", "2025Q1", "2025Q3"],
                           categories=["2025Q1", "2025Q2", "2025Q3"], ordered=True)
    f = pd.DataFrame({"wave": waves, "brand": ["A", "A", "B", "A", "A", "A"],
                      "rec": [10, 6, 9, 9, 8, NAN], "weight": [1, 2, 1, 1, 1, 1.0]})
    out = nps_by(f, "rec", ["wave", "brand"])
    assert list(out.columns[:3]) == ["wave", "brand", "n"]
    assert list(zip(out["wave"], out["brand"])) == [("2025Q1", "A"), ("2025Q1", "B"), ("2025Q2", "A"),
                                                    ("2025Q3", "A")]
    # 2025Q1/A: 6 and 8 → P 0, D .5 → −50
    assert out.loc[0, "nps"] == pytest.approx(-50) and out.loc[0, "n"] == 2
    assert out.loc[2, "nps"] == pytest.approx(nps([10, 9])["nps"])
    # no answers in 2025Q3: kept with n = 0 and NaN statistics
    assert out.loc[3, "n"] == 0 and np.isnan(out.loc[3, "nps"])
    w = nps_by(f, "rec", "wave", weights_col="weight")
    # 2025Q1: 6 (w 2), 9, 8 → P 1/4, D 2/4 → −25
    assert w.loc[0, "nps"] == pytest.approx(-25)
    with pytest.raises(DataError, match="group column\\(s\\) not in the data: region"):
        nps_by(f, "rec", ["region"])
    with pytest.raises(DataError, match="column 'rec' must be whole numbers"):
        nps_by(f.assign(rec=[10, 6, 9, 9, 12, NAN]), "rec", "wave")


# ------------------------------------------------------------------ complaints
def test_wilson_against_published_values():
    # Wilson (1927) score interval as tabulated by Newcombe (1998), 95 %: 0/10 → (0, .2775); 5/10 → (.2366, .7634)
    lo, hi = wilson_interval(0.0, 10, Z95)
    assert lo == 0 and hi == pytest.approx(0.2775, abs=5e-5)
    lo, hi = wilson_interval(0.5, 10, Z95)
    assert (lo, hi) == (pytest.approx(0.2366, abs=5e-5), pytest.approx(0.7634, abs=5e-5))


@pytest.fixture
def comp_frame():
    return pd.DataFrame({
        "comp1": [1, 0, 1, 0, 0, NAN, 1, 0],
        "comp2": [5, NAN, 3, 4, NAN, 2, NAN, NAN],  # 1–5 handling; row 3 is not a complainant, row 5 unknown
        "brand": ["A", "A", "A", "B", "B", "B", "B", "A"],
        "weight": [2, 1, 1, 1, 1, 1, 1, 1.0],
    })


def test_complaints_by_hand(comp_frame):
    out = complaints(comp_frame, "comp1", "comp2", (1, 5))
    assert list(out.columns) == ["n", "complainants", "complaint_rate", "rate_ci_low", "rate_ci_high",
                                 "handling_index", "handling_n"]
    r = out.iloc[0]
    # 7 answered, 3 complained → 3/7
    assert (r["n"], r["complainants"]) == (7, 3) and r["complaint_rate"] == pytest.approx(3 / 7)
    p, n, z = 3 / 7, 7, Z95
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    assert (r["rate_ci_low"], r["rate_ci_high"]) == (pytest.approx(centre - half), pytest.approx(centre + half))
    # complainants with a handling answer: 5 → 100, 3 → 50 → 75 (row 3 is not a complainant)
    assert r["handling_index"] == pytest.approx(75) and r["handling_n"] == 2


def test_complaints_by_group_and_weights(comp_frame):
    out = complaints(comp_frame, "comp1", "comp2", (1, 5), by="brand", weights_col="weight")
    a, b = out.iloc[0], out.iloc[1]
    # brand A: complained 1 (w 2), 0, 1, 0 → rate (2 + 1)/5 = .6; handling (2·100 + 50)/3
    assert list(out["brand"]) == ["A", "B"]
    assert a["complaint_rate"] == pytest.approx(0.6)
    assert a["handling_index"] == pytest.approx(250 / 3)
    # Wilson on Kish n_eff = 25/7
    lo, hi = wilson_interval(0.6, 25 / 7, Z95)
    assert (a["rate_ci_low"], a["rate_ci_high"]) == (pytest.approx(lo), pytest.approx(hi))
    # brand B: 0, 0, NaN, 1 → 1/3; its only complainant gave no handling answer
    assert b["n"] == 3 and b["complaint_rate"] == pytest.approx(1 / 3)
    assert np.isnan(b["handling_index"]) and b["handling_n"] == 0


def test_complaints_accepts_booleans_and_refuses_other_codes(comp_frame):
    f = pd.DataFrame({"c": [True, False, False, True]})
    assert complaints(f, "c", None, None)["complaint_rate"].iloc[0] == pytest.approx(0.5)
    with pytest.raises(DataError, match="'comp1' must be 0/1; found 2"):
        complaints(comp_frame.assign(comp1=[1, 2, 0, 0, 0, 0, 0, 0]), "comp1", "comp2", (1, 5))
    with pytest.raises(DataError, match="outside its scale 1–5"):
        complaints(comp_frame.assign(comp2=9), "comp1", "comp2", (1, 5))
    with pytest.raises(SpecError, match="give the scale"):
        complaints(comp_frame, "comp1", "comp2", None)
    with pytest.raises(DataError, match="column 'nope' not in the data"):
        complaints(comp_frame, "nope", None, None)


# ------------------------------------------------------------ satisfaction bands
def test_satisfaction_bands_by_hand():
    scores = [0, 20, 20.5, 40, 40.0001, 60, 61, 80, 80.5, 100, NAN]
    out = satisfaction_bands(scores)
    assert list(out.columns) == ["band", "label_en", "label_zh", "lower", "upper", "share", "n"]
    assert list(out["label_zh"]) == ["非常不满意", "不满意", "一般", "比较满意", "非常满意"]
    assert list(out["n"]) == [2, 2, 2, 2, 2]
    np.testing.assert_allclose(out["share"], [.2] * 5)
    w = satisfaction_bands([10, 90, 95], weights=[3, 1, 0])
    np.testing.assert_allclose(w["share"], [.75, 0, 0, 0, .25])
    assert list(w["n"]) == [1, 0, 0, 0, 2]
    with pytest.raises(DataError, match="outside 0–100"):
        satisfaction_bands([50, 101])
    with pytest.raises(DataError, match="no scores"):
        satisfaction_bands([NAN])
