"""Bootstrap: every draw equals a fit of its resample; reproducibility; dropped draws; summaries."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from csi.engine.bootstrap import _bca, bootstrap_pls
from csi.errors import SpecError
from csi.engine.pls import estimate_pls
from csi.model.templates import template

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def ecsi() -> pd.DataFrame:
    return pd.read_csv(ROOT / "data" / "ecsi_satisfaction.csv", index_col=0)


@pytest.fixture(scope="module")
def boot(ecsi):
    return bootstrap_pls(ecsi, template("ecsi"), n_boot=200, seed=42)


def test_each_draw_is_the_fit_of_its_resample(ecsi, boot):
    """Row indices come from default_rng(seed).integers(0, n, (n_boot, n)): refit draws 0, 17, 199."""
    idx = np.random.default_rng(42).integers(0, len(ecsi), size=(200, len(ecsi)))
    assert boot.n_kept == 200 and boot.dropped == {}
    for b in (0, 17, 199):
        r = estimate_pls(ecsi.iloc[idx[b]].reset_index(drop=True), template("ecsi"))
        np.testing.assert_allclose(boot.draws["paths"].iloc[b], r.paths["estimate"], atol=1e-10)
        np.testing.assert_allclose(boot.draws["weights"].iloc[b], r.outer["weight"], atol=1e-10)
        np.testing.assert_allclose(boot.draws["loadings"].iloc[b], r.outer["loading"], atol=1e-10)
        np.testing.assert_allclose(boot.draws["r2"].iloc[b], r.constructs.set_index("construct")["r2"].dropna(), atol=1e-10)
        te = r.effects.assign(k=r.effects["from"] + "->" + r.effects["to"]).set_index("k")["total"]
        np.testing.assert_allclose(boot.draws["total_effects"].iloc[b], te[boot.draws["total_effects"].columns], atol=1e-10)
        np.testing.assert_allclose(boot.draws["item_mean"].iloc[b], r.item_mean, atol=1e-10)
        np.testing.assert_allclose(boot.draws["item_sd"].iloc[b], r.item_sd, atol=1e-10)


def test_columns_and_estimates(ecsi, boot):
    full = estimate_pls(ecsi, template("ecsi"))
    assert list(boot.draws["paths"].columns) == [f"{a}->{b}" for a, b in zip(full.paths["from"], full.paths["to"])]
    assert list(boot.draws["weights"].columns) == list(full.outer["indicator"])
    assert "IMAG->QUAL" in boot.draws["total_effects"].columns and "LOY->SAT" not in boot.draws["total_effects"].columns
    assert list(boot.draws["r2"].columns) == ["EXPE", "QUAL", "VAL", "SAT", "LOY"]
    np.testing.assert_allclose(boot.estimates["paths"], full.paths["estimate"], atol=1e-12)
    s = boot.summary("paths")
    assert list(s.columns) == ["from", "to", "parameter", "estimate", "boot_mean", "std_error", "t", "p_value",
                               "ci_low", "ci_high"]
    d = boot.draws["paths"]
    np.testing.assert_allclose(s["std_error"], d.std(ddof=1), rtol=1e-12)
    np.testing.assert_allclose(s["t"], s["estimate"] / s["std_error"])
    np.testing.assert_allclose(s["p_value"], 2 * stats.norm.sf(np.abs(s["t"])), rtol=1e-10)
    np.testing.assert_allclose(s["ci_low"], d.quantile(0.025), rtol=1e-12)
    np.testing.assert_allclose(boot.summary("paths", alpha=0.1)["ci_high"], d.quantile(0.95), rtol=1e-12)
    w = boot.summary("weights")
    assert w.loc[w.indicator == "sat2", "construct"].item() == "SAT"
    if "htmt" in boot.draws:
        h = boot.summary("htmt")
        assert {"construct_1", "construct_2"} <= set(h.columns) and "IMAG~EXPE" in boot.draws["htmt"].columns


def test_reproducible_and_independent_of_chunking(ecsi, boot):
    again = bootstrap_pls(ecsi, template("ecsi"), n_boot=200, seed=42, chunk_size=7, threads=1, jackknife=False)
    for k in ("paths", "weights", "item_mean", "total_effects"):
        np.testing.assert_allclose(again.draws[k], boot.draws[k], rtol=0, atol=1e-13)
    other = bootstrap_pls(ecsi, template("ecsi"), n_boot=50, seed=43, jackknife=False)
    assert not np.allclose(other.draws["paths"].iloc[:50], boot.draws["paths"].iloc[:50])


def test_progress_called_per_chunk(ecsi):
    calls = []
    bootstrap_pls(ecsi, template("ecsi"), n_boot=25, seed=1, chunk_size=10, jackknife=False,
                  progress=lambda done, total: calls.append((done, total)))
    assert calls == [(10, 25), (20, 25), (25, 25)]


def test_survey_weights_combine_with_resampling(ecsi):
    f = np.random.default_rng(9).uniform(0.5, 2.0, len(ecsi))
    data = ecsi.assign(wt=f)
    b = bootstrap_pls(data, template("ecsi"), n_boot=5, seed=3, weights="wt", jackknife=False)
    idx = np.random.default_rng(3).integers(0, len(ecsi), size=(5, len(ecsi)))
    r = estimate_pls(data.iloc[idx[2]].reset_index(drop=True), template("ecsi"), weights="wt")
    np.testing.assert_allclose(b.draws["paths"].iloc[2], r.paths["estimate"], atol=1e-10)
    np.testing.assert_allclose(b.draws["item_mean"].iloc[2], r.item_mean, atol=1e-10)


def test_zero_variance_resamples_are_dropped_and_counted(ecsi):
    d = ecsi.copy()
    d["qual3"] = 7.0
    d.loc[d.index[:2], "qual3"] = [3.0, 9.0]        # only two respondents differ: many resamples miss both
    b = bootstrap_pls(d, template("ecsi"), n_boot=300, seed=5, jackknife=False)
    miss = np.random.default_rng(5).integers(0, len(d), size=(300, len(d)))
    expected = int(sum(not np.isin([0, 1], row).any() for row in miss))
    assert b.dropped == {"zero-variance indicator": expected} and expected > 0
    assert b.n_kept == 300 - expected == len(b.draws["paths"]) == len(b.draws["item_mean"])


def test_bca_matches_scipy_for_a_mean():
    x = np.random.default_rng(0).gamma(2.0, size=60)
    res = stats.bootstrap((x,), np.mean, n_resamples=4000, method="BCa", confidence_level=0.9,
                          random_state=np.random.default_rng(1))
    D = res.bootstrap_distribution[:, None]
    jk = np.array([np.delete(x, i).mean() for i in range(len(x))])[:, None]
    lo, hi = _bca(D, np.array([x.mean()]), jk, alpha=0.1)
    # scipy counts ties at the estimate as half; none occur for a continuous statistic
    assert lo[0] == pytest.approx(res.confidence_interval.low, rel=1e-9)
    assert hi[0] == pytest.approx(res.confidence_interval.high, rel=1e-9)


def test_bca_summary_runs_and_differs_from_percentile(boot):
    p, b = boot.summary("paths"), boot.summary("paths", ci="bca")
    assert np.isfinite(b[["ci_low", "ci_high"]].to_numpy()).all()
    assert (b["ci_low"] < b["estimate"]).all() and (b["estimate"] < b["ci_high"]).all()
    assert np.abs(p["ci_low"] - b["ci_low"]).max() > 1e-6


def test_plsc_bootstrap(ecsi):
    b = bootstrap_pls(ecsi, template("ecsi"), n_boot=30, seed=2, plsc=True, jackknife=False)
    full = estimate_pls(ecsi, template("ecsi"), plsc=True)
    np.testing.assert_allclose(b.estimates["paths"], full.paths["estimate"], atol=1e-12)
    assert b.n_kept + sum(b.dropped.values()) == 30


def test_bad_arguments(ecsi):
    with pytest.raises(SpecError, match="n_boot"):
        bootstrap_pls(ecsi, template("ecsi"), n_boot=1, seed=1)
    with pytest.raises(SpecError, match="seed"):
        bootstrap_pls(ecsi, template("ecsi"), n_boot=10, seed="x")
    with pytest.raises(SpecError, match="unknown confidence interval"):
        bootstrap_pls(ecsi, template("ecsi"), n_boot=10, seed=1, jackknife=False).summary("paths", ci="student")
    with pytest.raises(SpecError, match="BCa"):
        bootstrap_pls(ecsi, template("ecsi"), n_boot=10, seed=1, jackknife=False).summary("paths", ci="bca")


def test_non_converged_resamples_are_dropped_and_counted(ecsi):
    """The full sample converges in k iterations; with max_iter = k the slower resamples must be dropped,
    counted, and the kept ones must equal refits of their resamples."""
    k = estimate_pls(ecsi, template("ecsi")).info["iterations"]
    b = bootstrap_pls(ecsi, template("ecsi"), n_boot=60, seed=1, max_iter=k, jackknife=False)
    assert set(b.dropped) == {"not converged"} and 0 < b.dropped["not converged"] < 60
    assert b.n_kept + b.dropped["not converged"] == 60
    full = bootstrap_pls(ecsi, template("ecsi"), n_boot=60, seed=1, jackknife=False)
    kept = [i for i in range(60) if any(np.allclose(full.draws["paths"].iloc[i], row, atol=1e-12)
                                        for row in b.draws["paths"].to_numpy())]
    assert len(kept) == b.n_kept
