"""0–100 rescaling, the five bands and the survey-weight helpers (csi.scales)."""
import math

import numpy as np
import pandas as pd
import pytest

from csi.errors import CSIError, DataError, SpecError
from csi.analytics.scales import (BANDS, GRADES, as_scales, band_index, check_weights, kish_n, rescale_0_100,
                        weighted_mean, weighted_sd)


def test_rescale_by_hand():
    # 1–10 scale: (x − 1)/9·100 → 1 → 0, 10 → 100, 5.5 → 50; 0–10 scale: x·10
    frame = pd.DataFrame({"q": [1.0, 10.0, 5.5, np.nan], "rec": [0.0, 10.0, 7.0, 3.0]}, index=[5, 6, 7, 8])
    out = rescale_0_100(frame, {"q": (1, 10), "rec": (0, 10)})
    assert list(out.index) == [5, 6, 7, 8]
    np.testing.assert_allclose(out["q"].to_numpy()[:3], [0.0, 100.0, 50.0])
    assert np.isnan(out["q"].iloc[3])
    np.testing.assert_allclose(out["rec"], [0.0, 100.0, 70.0, 30.0])
    # 2 on a 1–5 scale: (2 − 1)/(5 − 1)·100 = 25
    assert rescale_0_100(pd.DataFrame({"a": [2.0]}), {"a": (1, 5)})["a"].iloc[0] == pytest.approx(25.0)


def test_rescale_refuses_bad_input():
    with pytest.raises(DataError, match="no scale .* 'b'|column\\(s\\): b"):
        rescale_0_100(pd.DataFrame({"a": [1.0], "b": [2.0]}), {"a": (1, 5)})
    with pytest.raises(DataError, match="'a' has 2 value\\(s\\) outside its scale 1–5.*7.*0"):
        rescale_0_100(pd.DataFrame({"a": [1.0, 7.0, 0.0]}), {"a": (1, 5)})
    with pytest.raises(SpecError, match="min must be below max"):
        rescale_0_100(pd.DataFrame({"a": [1.0]}), {"a": (5, 1)})
    with pytest.raises(DataError, match="not numeric"):
        rescale_0_100(pd.DataFrame({"a": ["x"]}), {"a": (1, 5)})


def test_as_scales_from_dictionary_table():
    table = pd.DataFrame({"item": ["a", "b", "a"], "scale_min": [1, 0, 1], "scale_max": [10, 10, 10]})
    assert as_scales(table) == {"a": (1.0, 10.0), "b": (0.0, 10.0)}
    table.loc[2, "scale_max"] = 5
    with pytest.raises(SpecError, match="two different scales"):
        as_scales(table)


def test_band_boundaries():
    # a band owns its upper bound: [0,20], (20,40], (40,60], (60,80], (80,100]
    scores = [0, 20, 20.5, 21, 40, 40.0001, 60, 61, 80, 80.5, 100, np.nan]
    assert list(band_index(scores)) == [0, 0, 1, 1, 1, 2, 2, 3, 3, 4, 4, -1]
    assert GRADES == ("very_dissatisfied", "dissatisfied", "neutral", "fairly_satisfied", "very_satisfied")
    assert [b.label_zh for b in BANDS] == ["非常不满意", "不满意", "一般", "比较满意", "非常满意"]
    with pytest.raises(DataError, match="outside 0–100"):
        band_index([50, 100.5])


def test_band_of_rescaled_ratings_on_a_bound():
    # 6.4 on 1–10 is exactly 60 (neutral) but (6.4 − 1)/9·100 is 60.000000000000007 in binary;
    # 2.2 on 1–7 is exactly 20 (very dissatisfied)
    s = rescale_0_100(pd.DataFrame({"a": [6.4, 6.41], "b": [2.2, 2.21]}), {"a": (1, 10), "b": (1, 7)})
    assert list(band_index(s["a"])) == [2, 3]
    assert list(band_index(s["b"])) == [0, 1]


def test_weighted_helpers_by_hand():
    x = np.array([1.0, 2.0, 4.0, np.nan])
    w = np.array([2.0, 1.0, 1.0, 5.0])
    # mean over answered: (2·1 + 2 + 4)/4 = 2
    assert weighted_mean(x, w) == pytest.approx(2.0)
    # Σw(x−2)² = 2·1 + 0 + 4 = 6; Σw = 4, Σw² = 6 → denominator 4 − 6/4 = 2.5 → var 2.4
    assert weighted_sd(x, w) == pytest.approx(math.sqrt(2.4))
    # equal weights give the ordinary n − 1 SD, whatever their size
    y = np.array([3.0, 7.0, 8.0, 1.0, 5.0])
    assert weighted_sd(y, np.full(5, 3.7)) == pytest.approx(np.std(y, ddof=1))
    assert weighted_sd(y) == pytest.approx(np.std(y, ddof=1))
    # Kish: (Σw)²/Σw² = 16/6
    assert kish_n(np.array([2.0, 1.0, 1.0])) == pytest.approx(16 / 6)
    assert kish_n(None, 7) == 7


def test_check_weights():
    assert check_weights(None, 3) is None
    with pytest.raises(DataError, match="length 2 but the data have 3"):
        check_weights([1, 2], 3)
    with pytest.raises(DataError, match="non-negative.*position\\(s\\) 1"):
        check_weights([1, -1, 2], 3)
    with pytest.raises(DataError, match="all zero"):
        check_weights([0, 0], 2)
    with pytest.raises(CSIError):
        check_weights([1, np.nan], 2)
