"""0–100 indices: hand computation on the ECSI data, the ACSI identity, scale invariance, flags, CIs."""
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from csi.errors import DataError
from csi.analytics.index import construct_scores_0_100, index_draws, index_scores, item_weights, scale_factors
from csi.engine.pls import estimate_pls
from csi.model.templates import template

DATA = Path(__file__).resolve().parents[1] / "data" / "ecsi_satisfaction.csv"


@pytest.fixture(scope="module")
def ecsi():
    d = pd.read_csv(DATA, index_col=0)
    spec = template("ecsi")
    return d, spec, {i: (0.0, 10.0) for i in spec.indicators}


@pytest.fixture(scope="module")
def fit(ecsi):
    d, spec, scales = ecsi
    return estimate_pls(d, spec)


def _hand_index(data: pd.DataFrame, items, w_std, lo, hi, standardized=True):
    """The ACSI formula written out with plain numpy from the raw data and the PLS weights only."""
    x = data[list(items)].to_numpy(float)
    y = 100.0 * (x - lo) / (hi - lo)                  # items on 0–100
    if standardized:
        u = np.asarray(w_std) / y.std(axis=0, ddof=1)  # weight of a 0–100 item
    else:
        u = np.asarray(w_std) * (hi - lo) / 100.0
    wt = u / u.sum()
    return float(wt @ y.mean(axis=0)), wt


def test_index_equals_hand_computation_on_ecsi(ecsi, fit):
    d, spec, scales = ecsi
    idx = index_scores(fit, scales).set_index("construct")
    w = fit.outer.set_index("indicator")["weight"]
    for con, items in spec.blocks.items():
        expected, wt = _hand_index(d, items, w[list(items)].to_numpy(), 0.0, 10.0)
        assert idx.loc[con, "index"] == pytest.approx(expected, abs=1e-10)
        assert 0 < idx.loc[con, "index"] < 100
    assert (idx["n"] == 250).all()
    assert not idx["negative_weights"].any()
    # plausibility against the raw data: every ECSI index lies within its items' 0–100 means
    for con, items in spec.blocks.items():
        means = d[list(items)].mean() * 10
        assert means.min() - 1e-9 <= idx.loc[con, "index"] <= means.max() + 1e-9


def test_acsi_identity_mean_of_0_100_scores(ecsi, fit):
    d, spec, scales = ecsi
    s100 = construct_scores_0_100(fit, d, scales)
    idx = index_scores(fit, scales).set_index("construct")["index"]
    assert s100.shape == (250, len(spec.constructs))
    np.testing.assert_allclose(s100.mean().to_numpy(), idx[list(s100.columns)].to_numpy(), atol=1e-10)
    # the 0–100 score is an exact affine map of the standardized PLS score: ξ / c + index
    c = scale_factors(fit, scales)
    for con in spec.constructs:
        np.testing.assert_allclose(s100[con].to_numpy(), fit.scores[con].to_numpy() / c[con] + idx[con], atol=1e-9)


def test_weights_normalised_and_positive(ecsi, fit):
    _, spec, scales = ecsi
    tab = item_weights(fit, scales)
    sums = tab.groupby("construct")["weight_norm"].sum()
    np.testing.assert_allclose(sums.to_numpy(), 1.0, atol=1e-12)
    assert (tab["weight_norm"] > 0).all()
    d, _, _ = ecsi
    np.testing.assert_allclose(tab["mean_0_100"].to_numpy(), d[list(tab["indicator"])].mean().to_numpy() * 10,
                               atol=1e-10)


def test_unstandardized_pls_weights_are_raw_scale(ecsi):
    d, spec, scales = ecsi
    res = estimate_pls(d, spec, standardize=False, scheme="centroid")
    idx = index_scores(res, scales).set_index("construct")["index"]
    w = res.outer.set_index("indicator")["weight"]
    for con, items in spec.blocks.items():
        expected, _ = _hand_index(d, items, w[list(items)].to_numpy(), 0.0, 10.0, standardized=False)
        assert idx[con] == pytest.approx(expected, abs=1e-10)
    s100 = construct_scores_0_100(res, d, scales)
    np.testing.assert_allclose(s100.mean().to_numpy(), idx[list(s100.columns)].to_numpy(), atol=1e-10)


def test_index_invariant_to_item_scale(ecsi, fit):
    """An item recorded on another scale (×2 and shifted, bounds changed accordingly) is the same
    0–100 item: the index must not move. Catches weights divided by the raw instead of the 0–100 SD."""
    d, spec, scales = ecsi
    d2 = d.copy()
    d2["qual1"] = d2["qual1"] * 2 + 1          # now on 1–21
    d2["sat2"] = d2["sat2"] / 10               # now on 0–1
    sc2 = dict(scales, qual1=(1.0, 21.0), sat2=(0.0, 1.0))
    res2 = estimate_pls(d2, spec)
    a = index_scores(fit, scales)["index"].to_numpy()
    b = index_scores(res2, sc2)["index"].to_numpy()
    np.testing.assert_allclose(a, b, atol=1e-9)
    # whereas wrong bounds do move it (the test can fail)
    c = index_scores(res2, dict(sc2, qual1=(0.0, 21.0)))["index"].to_numpy()
    assert abs(c[2] - a[2]) > 0.01


def test_negative_weight_is_flagged(ecsi):
    d, spec, scales = ecsi
    d2 = d.copy()
    d2["imag3"] = 10 - d2["imag3"]            # a reversed item nobody recoded
    res = estimate_pls(d2, spec)
    idx = index_scores(res, scales).set_index("construct")
    assert bool(idx.loc["IMAG", "negative_weights"])
    assert "imag3" in idx.loc["IMAG", "note"] and "negative" in idx.loc["IMAG", "note"]
    assert not idx.drop(index="IMAG")["negative_weights"].any()
    assert idx.drop(index="IMAG")["note"].eq("").all()
    # the same warning in Chinese for the dashboard (no English words besides the codes)
    zh = idx.loc["IMAG", "note_zh"]
    assert "imag3" in zh and "权重为负" in zh
    import re
    assert not re.findall(r"[A-Za-z]{3,}", zh.replace("imag3", "").replace("IMAG", ""))
    assert idx.drop(index="IMAG")["note_zh"].eq("").all()


def test_scale_errors_name_the_item(ecsi, fit):
    _, spec, scales = ecsi
    bad = dict(scales)
    del bad["loy2"]
    with pytest.raises(DataError, match="loy2"):
        index_scores(fit, bad)
    with pytest.raises(DataError, match="sat1"):
        index_scores(fit, dict(scales, sat1=(10, 0)))
    with pytest.raises(DataError, match="alpha"):
        index_scores(fit, scales, alpha=1.5)


def test_missing_item_gives_missing_score(ecsi, fit):
    d, spec, scales = ecsi
    d2 = d.copy()
    d2.loc[d2.index[0], "qual2"] = np.nan
    s = construct_scores_0_100(fit, d2, scales)
    assert np.isnan(s.loc[d2.index[0], "QUAL"])
    assert np.isfinite(s.loc[d2.index[0], "SAT"])


def test_bootstrap_interval_recomputes_each_draw(ecsi, fit):
    import csi.engine.bootstrap as bootstrap
    d, spec, scales = ecsi
    boot = bootstrap.bootstrap_pls(d, spec, n_boot=200, seed=7)
    idx = index_scores(fit, scales, boot).set_index("construct")
    assert (idx["ci_low"] < idx["index"]).all() and (idx["index"] < idx["ci_high"]).all()
    assert ((idx["ci_high"] - idx["ci_low"]) < 10).all()      # 250 respondents: a few points wide
    draws = index_draws(fit, scales, boot)
    assert draws.shape == (boot.draws["weights"].shape[0], len(spec.constructs))
    # draw 0 by hand from its weights, item SDs and means
    k = 0
    items = list(spec.blocks["SAT"])
    w = boot.draws["weights"].iloc[k][items].to_numpy()
    sd100 = boot.draws["item_sd"].iloc[k][items].to_numpy() * 10
    m100 = boot.draws["item_mean"].iloc[k][items].to_numpy() * 10
    u = w / sd100
    assert draws["SAT"].iloc[k] == pytest.approx(float((u / u.sum()) @ m100), abs=1e-10)
    lo, hi = np.quantile(draws["SAT"], [0.025, 0.975])
    assert idx.loc["SAT", "ci_low"] == pytest.approx(lo) and idx.loc["SAT", "ci_high"] == pytest.approx(hi)


def test_survey_weighted_index_is_the_weighted_mean_of_scores(ecsi):
    d, spec, scales = ecsi
    w = np.random.default_rng(3).uniform(0.2, 3.0, len(d))
    res = estimate_pls(d, spec, weights=w)
    idx = index_scores(res, scales).set_index("construct")["index"]
    s100 = construct_scores_0_100(res, d, scales)
    np.testing.assert_allclose((s100.to_numpy() * w[:, None]).sum(0) / w.sum(), idx[list(s100.columns)], atol=1e-9)
    unweighted = index_scores(estimate_pls(d, spec), scales)["index"].to_numpy()
    assert np.abs(idx.to_numpy() - unweighted).max() > 0.05                 # the weights matter here


def test_interval_covers_a_known_population_index():
    """Items of one block share the population mean 6 (of 0–10): the population index is 60 whatever
    the weights. 40 simulated surveys: the 95 % percentile interval must cover 60 about 95 % of the time."""
    import csi.engine.bootstrap as bootstrap
    from csi.model.syntax import parse_model
    spec = parse_model("A =~ a1 + a2 + a3\nB =~ b1 + b2 + b3\nB ~ A")
    scales = {i: (0.0, 10.0) for i in spec.indicators}
    rng = np.random.default_rng(2024)
    covered, reps = 0, 40
    for r in range(reps):
        n = 200
        la, lb = rng.standard_normal(n), rng.standard_normal(n)
        lb = 0.6 * la + 0.8 * lb
        cols = {f"a{k}": 6 + 1.5 * (0.8 * la + 0.6 * rng.standard_normal(n)) for k in (1, 2, 3)}
        cols |= {f"b{k}": 7 + 1.0 * (0.7 * lb + 0.71 * rng.standard_normal(n)) for k in (1, 2, 3)}
        d = pd.DataFrame(cols)
        res = estimate_pls(d, spec)
        boot = bootstrap.bootstrap_pls(d, spec, n_boot=200, seed=r, jackknife=False)
        row = index_scores(res, scales, boot).set_index("construct").loc["A"]
        covered += int(row["ci_low"] <= 60 <= row["ci_high"])
    assert covered >= 34            # P(binomial(40, 0.95) < 34) ≈ 0.01
