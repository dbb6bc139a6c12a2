"""The national-programme demo recovers its truth; industry indices, league tables and gaps are what they claim."""
import numpy as np
import pandas as pd
import pytest

from csi.analytics.industry import company_frame, industry_table, league_table
from csi.compare.groups import estimate_groups
from csi.data.national import generate, national_truth
from csi.model.templates import load_model

SIZE = {"n_industries": 4, "n_companies": 6, "waves": ("2025Q1",)}
SEED = 20240601


def _spearman(a, b) -> float:
    ra, rb = pd.Series(a).rank().to_numpy(), pd.Series(b).rank().to_numpy()
    return float(np.corrcoef(ra, rb)[0, 1])


@pytest.fixture(scope="module")
def programme():
    survey = generate(SEED, **SIZE)
    frame = survey.waves["2025Q1"].assign(wave="2025Q1")
    items = [c for c in frame.columns if c[-1].isdigit() and not c.startswith("comp")]
    spec = load_model("ccsi", items=items)
    data = frame.copy()
    for c in spec.indicators:
        data[c] = pd.to_numeric(data[c], errors="coerce").astype(float)
    data.loc[:, list(spec.indicators)] = data[list(spec.indicators)].where(data[list(spec.indicators)] != 99)
    scales = {i: tuple(float(x) for x in survey.truth["scales"][i]) for i in spec.indicators}
    fits = estimate_groups(data, spec, ["wave", "brand"], scales, n_boot=200, seed=3, workers=2, keep="index")
    truth = survey.truth
    industry_of = {c: v["industry"] for c, v in truth["companies"].items()}
    share_of = {("2025Q1", c): v["market_share"] for c, v in truth["companies"].items()}
    return survey, fits, industry_of, share_of


def test_generation_is_seeded_and_sized():
    a, b = generate(5, n_industries=2, n_companies=3, waves=("W1", "W2")), generate(5, n_industries=2,
                                                                                     n_companies=3, waves=("W1", "W2"))
    for w in a.waves:
        pd.testing.assert_frame_equal(a.waves[w], b.waves[w])
    c = generate(6, n_industries=2, n_companies=3, waves=("W1", "W2"))
    assert not a.waves["W1"]["sat1"].equals(c.waves["W1"]["sat1"])
    t = national_truth(SEED)                                   # the CLI default: 10 x 12 x 4, 250-1,000 each
    assert len(t["industries"]) == 10 and len(t["companies"]) == 120 and len(t["waves"]) == 4
    ns = [cell["n"] for cells in t["cells"].values() for cell in cells.values()]
    assert min(ns) >= 250 and max(ns) <= 1000
    for ind in t["industries"]:
        shares = [c["market_share"] for c in t["companies"].values() if c["industry"] == ind]
        assert abs(sum(shares) - 1) < 1e-5
        effects = [c["effect"] for c in t["companies"].values() if c["industry"] == ind]
        assert abs(np.mean(effects)) < 1e-9                    # company effects centred within the industry


def test_company_effects_and_industry_order_are_recovered(programme):
    survey, fits, industry_of, share_of = programme
    truth = survey.truth
    comp = company_frame(fits, industry_of, share_of)
    sat = comp[comp["construct"] == "SAT"].set_index("company")["index"]
    mu = pd.Series({c: truth["cells"][c]["2025Q1"]["latent_means"]["SAT"] for c in sat.index})
    assert _spearman(sat, mu) > 0.9                            # the companies' order is the true one
    ind = industry_table(fits, industry_of, share_of)
    ind_sat = ind[(ind["level"] == "industry") & (ind["construct"] == "SAT")].set_index("industry")["index"]
    true_level = pd.Series({i: v["level"] for i, v in truth["industries"].items()})
    assert list(ind_sat.sort_values().index) == list(true_level.sort_values().index)
    # within an industry, the company effect orders the companies' quality index
    qual = comp[comp["construct"] == "QUAL"]
    for name, g in qual.groupby("industry"):
        eff = [truth["companies"][c]["effect"] for c in g["company"]]
        assert _spearman(g["index"], eff) > 0.75, name


def test_industry_index_is_the_weighted_mean_of_company_indices(programme):
    _, fits, industry_of, share_of = programme
    comp = company_frame(fits, industry_of, share_of)
    by_share = industry_table(fits, industry_of, share_of)
    by_n = industry_table(fits, industry_of)                   # no market shares: respondents weight
    for ind, g in comp[comp["construct"] == "SAT"].groupby("industry"):
        row = by_share[(by_share["industry"] == ind) & (by_share["construct"] == "SAT")].iloc[0]
        assert row["index"] == pytest.approx(np.average(g["index"], weights=g["share"]), abs=1e-10)
        assert row["weighting"] == "market_share" and row["n_companies"] == 6
        assert row["ci_low"] < row["index"] < row["ci_high"]
        assert row["ci_high"] - row["ci_low"] < (g["ci_high"] - g["ci_low"]).mean()  # pooling narrows it
        row_n = by_n[(by_n["industry"] == ind) & (by_n["construct"] == "SAT")].iloc[0]
        assert row_n["index"] == pytest.approx(np.average(g["index"], weights=g["n"]), abs=1e-10)
        assert row_n["weighting"] == "respondents"
    nat = by_share[(by_share["level"] == "national") & (by_share["construct"] == "SAT")].iloc[0]
    inds = by_share[(by_share["level"] == "industry") & (by_share["construct"] == "SAT")]
    assert nat["index"] == pytest.approx(np.average(inds["index"], weights=inds["n"]), abs=1e-10)


def test_league_table_ranks_and_significance_are_sane(programme):
    survey, fits, industry_of, share_of = programme
    truth = survey.truth
    lg = league_table(fits, industry_of, share_of)
    sat = lg[lg["construct"] == "SAT"]
    for ind, g in sat.groupby("industry"):
        assert list(g["rank"]) == list(range(1, 7))
        assert (np.diff(g["index"].to_numpy()) <= 0).all()
        assert ((g["rank_ci_low"] <= g["rank"]) & (g["rank"] <= g["rank_ci_high"])).all()
        nxt = g.iloc[:-1]
        assert (nxt["diff_to_next"] >= 0).all() and g["significant_vs_next"].iloc[-1] is pd.NA
        sig = nxt["significant_vs_next"].astype(bool)
        assert ((nxt["diff_ci_low"] > 0) == sig).all()       # significant = interval above 0
        # gaps to the industry: weighted by share they sum to zero; large true gaps are flagged
        assert np.average(g["gap_to_industry"], weights=g["weight"]) == pytest.approx(0, abs=1e-9)
    mu = {c: truth["cells"][c]["2025Q1"]["latent_means"]["SAT"] for c in truth["companies"]}
    mu_ind = {i: np.average([mu[c] for c in truth["companies"] if truth["companies"][c]["industry"] == i],
                            weights=[truth["companies"][c]["market_share"] for c in truth["companies"]
                                     if truth["companies"][c]["industry"] == i]) for i in truth["industries"]}
    true_gap = sat["company"].map(lambda c: mu[c] - mu_ind[industry_of[c]])
    big = true_gap.abs() > 0.3
    assert big.sum() >= 4
    flagged = sat.loc[big, "gap_significant"].astype(bool)
    assert flagged.mean() >= 0.8
    assert (np.sign(sat.loc[big & sat["gap_significant"].astype(bool), "gap_to_industry"])
            == np.sign(true_gap[big & sat["gap_significant"].astype(bool)])).all()
    tiny = true_gap.abs() < 0.03
    assert sat.loc[tiny, "gap_significant"].astype(bool).mean() <= 0.5
