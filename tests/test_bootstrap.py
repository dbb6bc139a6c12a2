"""Bootstrap: every draw equals a fit of its resample; reproducibility; dropped draws; summaries."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import csi.engine.bootstrap as bootstrap_module
from csi.engine.bootstrap import KINDS, PLSC_KINDS, SMALL_N, _bca, _kind_masks, bootstrap_pls
from csi.evaluate.assess import assess_pls, htmt_matrix
from csi.errors import EstimationError, SpecError
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
        te = r.effects.set_index(["from", "to"])["total"]
        np.testing.assert_allclose(boot.draws["total_effects"].iloc[b], te[boot.draws["total_effects"].columns], atol=1e-10)
        np.testing.assert_allclose(boot.draws["item_mean"].iloc[b], r.item_mean, atol=1e-10)
        np.testing.assert_allclose(boot.draws["item_sd"].iloc[b], r.item_sd, atol=1e-10)


def test_columns_and_estimates(ecsi, boot):
    full = estimate_pls(ecsi, template("ecsi"))
    assert list(boot.draws["paths"].columns) == list(zip(full.paths["from"], full.paths["to"]))
    for kind in ("paths", "total_effects"):
        assert boot.draws[kind].columns.names == ["from", "to"]
        assert boot.estimates[kind].index.equals(boot.draws[kind].columns)
        assert boot.jackknife[kind].columns.equals(boot.draws[kind].columns)
    assert list(boot.draws["weights"].columns) == list(full.outer["indicator"])
    assert ("IMAG", "QUAL") in boot.draws["total_effects"].columns
    assert ("LOY", "SAT") not in boot.draws["total_effects"].columns
    assert list(boot.draws["r2"].columns) == ["EXPE", "QUAL", "VAL", "SAT", "LOY"]
    np.testing.assert_allclose(boot.estimates["paths"], full.paths["estimate"], atol=1e-12)
    assert boot.estimates["paths"][("IMAG", "EXPE")] == pytest.approx(
        full.paths.set_index(["from", "to"]).loc[("IMAG", "EXPE"), "estimate"], abs=1e-12)
    s = boot.summary("paths")
    assert list(s.columns) == ["from", "to", "estimate", "boot_mean", "std_error", "t", "p_value",
                               "ci_low", "ci_high"]
    assert list(zip(s["from"], s["to"])) == list(boot.draws["paths"].columns)
    d = boot.draws["paths"]
    np.testing.assert_allclose(s["std_error"], d.std(ddof=1), rtol=1e-12)
    np.testing.assert_allclose(s["t"], s["estimate"] / s["std_error"])
    np.testing.assert_allclose(s["p_value"], 2 * stats.norm.sf(np.abs(s["t"])), rtol=1e-10)
    np.testing.assert_allclose(s["ci_low"], d.quantile(0.025), rtol=1e-12)
    np.testing.assert_allclose(boot.summary("paths", alpha=0.1)["ci_high"], d.quantile(0.95), rtol=1e-12)
    w = boot.summary("weights")
    assert list(w.columns[:3]) == ["construct", "indicator", "estimate"]
    assert w.loc[w.indicator == "sat2", "construct"].item() == "SAT"
    assert list(boot.summary("r2").columns[:2]) == ["construct", "estimate"]
    h = boot.summary("htmt")
    assert list(h.columns[:3]) == ["construct_1", "construct_2", "estimate"]
    assert boot.draws["htmt"].columns.names == ["construct_1", "construct_2"]
    assert ("IMAG", "EXPE") in boot.draws["htmt"].columns and ("EXPE", "IMAG") not in boot.draws["htmt"].columns


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


# ----------------------------------------------------------------------- PLSc drop rule
@pytest.fixture(scope="module")
def plsc_boot(ecsi):
    return bootstrap_pls(ecsi, template("ecsi"), n_boot=200, seed=123, plsc=True, jackknife=False)


def test_plsc_inadmissible_resamples_are_dropped_only_from_plsc_kinds(ecsi, plsc_boot):
    """Refit every resample with estimate_pls(plsc=True): those with a corrected construct correlation
    beyond ±1 are the dropped ones, and only the PLSc-dependent kinds lose them. HTMT, item moments
    and weights keep all 200 converged resamples (the old rule dropped them everywhere: 200 - dropped)."""
    b, spec = plsc_boot, template("ecsi")
    idx = np.random.default_rng(123).integers(0, len(ecsi), size=(200, len(ecsi)))
    bad = np.zeros(200, dtype=bool)
    for i in range(200):
        try:   # estimate_pls refuses an inadmissible PLSc solution (correlation beyond ±1 or ρ_A ≤ 0)
            estimate_pls(ecsi.iloc[idx[i]].reset_index(drop=True), spec, plsc=True)
        except EstimationError as e:
            assert "PLSc" in str(e)
            bad[i] = True
    assert 0 < bad.sum() < 200                                   # ECSI under PLSc: about one in seven
    assert b.dropped == {"inadmissible PLSc correlation": int(bad.sum())}
    assert b.n_kept == 200 - bad.sum()
    for kind in b.draws:
        want = 200 - int(bad.sum()) if kind in PLSC_KINDS else 200
        assert b.n_kept_by_kind[kind] == want, kind
        d = b.draws[kind]
        assert len(d) == 200 and list(d.index) == list(range(200))
        dropped_rows = d.isna().all(axis=1).to_numpy()
        np.testing.assert_array_equal(dropped_rows, bad if kind in PLSC_KINDS else np.zeros(200, bool))
    assert set(PLSC_KINDS) == {"paths", "loadings", "total_effects", "r2"}
    # kept PLSc draws are the refits; the HTMT of an inadmissible resample is its HTMT all the same
    for i in (int(np.flatnonzero(~bad)[0]), int(np.flatnonzero(bad)[0])):
        sample = ecsi.iloc[idx[i]].reset_index(drop=True)
        if not bad[i]:
            r = estimate_pls(sample, spec, plsc=True)
            np.testing.assert_allclose(b.draws["paths"].loc[i], r.paths["estimate"], atol=1e-10)
            np.testing.assert_allclose(b.draws["loadings"].loc[i], r.outer["loading"], atol=1e-10)
        r = estimate_pls(sample, spec)          # the weights do not depend on the PLSc correction
        np.testing.assert_allclose(b.draws["weights"].loc[i], r.outer["weight"], atol=1e-10)
        np.testing.assert_allclose(b.draws["item_mean"].loc[i], r.item_mean, atol=1e-10)


def test_plsc_htmt_interval_uses_every_converged_resample(ecsi, plsc_boot):
    """HTMT percentile limits = quantiles of the HTMT of all 200 resamples' correlation matrices,
    computed here from np.corrcoef; under the old rule they came from the admissible ones only."""
    spec = template("ecsi")
    idx = np.random.default_rng(123).integers(0, len(ecsi), size=(200, len(ecsi)))
    X = ecsi[list(spec.indicators)].to_numpy(float)
    blocks = [[list(spec.indicators).index(i) for i in spec.blocks[c]] for c in spec.constructs]
    H = htmt_matrix(np.stack([np.corrcoef(X[r], rowvar=False) for r in idx]), blocks)
    iu = np.triu_indices(len(spec.constructs), 1)
    H = H[:, iu[0], iu[1]]
    s = plsc_boot.summary("htmt")
    np.testing.assert_allclose(s["ci_low"], np.quantile(H, 0.025, axis=0), atol=1e-12)
    np.testing.assert_allclose(s["ci_high"], np.quantile(H, 0.975, axis=0), atol=1e-12)
    np.testing.assert_allclose(s["std_error"], H.std(axis=0, ddof=1), atol=1e-12)
    admissible = ~plsc_boot.draws["paths"].isna().all(axis=1).to_numpy()
    k = list(zip(s["construct_1"], s["construct_2"])).index(("EXPE", "QUAL"))  # the pair the old rule truncated
    assert np.quantile(H[:, k], 0.975) > np.quantile(H[admissible, k], 0.975) + 1e-3
    # the assessment table reads the same draws
    tab = assess_pls(estimate_pls(ecsi, spec, plsc=True), plsc_boot)["htmt"]
    row = tab[(tab.construct_1 == "EXPE") & (tab.construct_2 == "QUAL")]
    assert row["ci_high"].item() == pytest.approx(np.quantile(H[:, k], 0.95), abs=1e-12)


def test_plsc_summaries_skip_dropped_rows(plsc_boot):
    s = plsc_boot.summary("paths")
    d = plsc_boot.draws["paths"].dropna()
    assert len(d) == plsc_boot.n_kept
    np.testing.assert_allclose(s["std_error"], d.std(ddof=1), rtol=1e-12)
    np.testing.assert_allclose(s["ci_high"], d.quantile(0.975), rtol=1e-12)


def test_kind_masks_per_reason():
    """Converged / PLSc-admissible / finite paths for four resamples: who keeps which."""
    conv, adm, fin = (np.array(x, bool) for x in ([1, 1, 1, 0], [1, 0, 1, 0], [1, 1, 0, 0]))
    m = _kind_masks(KINDS, conv, adm, fin, plsc=True)
    assert m["paths"].tolist() == m["r2"].tolist() == m["total_effects"].tolist() == [True, False, False, False]
    assert m["loadings"].tolist() == [True, False, True, False]
    for k in ("weights", "item_mean", "item_sd", "htmt"):
        assert m[k].tolist() == [True, True, True, False]
    m = _kind_masks(KINDS, conv, adm, fin, plsc=False)          # admissibility is a PLSc notion only
    assert m["paths"].tolist() == [True, True, False, False] and m["loadings"].tolist() == [True, True, True, False]


# ----------------------------------------------------------------------- jackknife
def test_jackknife_values_are_leave_one_out_fits(ecsi):
    """Jackknife row i = estimate_pls on the data without respondent i (with survey weights too)."""
    spec = template("ecsi")
    data = ecsi.assign(wt=np.random.default_rng(4).uniform(0.5, 2.0, len(ecsi)))
    for weights in (None, "wt"):
        b = bootstrap_pls(data, spec, n_boot=2, seed=1, weights=weights)
        for i in (0, 101, 249):
            r = estimate_pls(data.drop(index=data.index[i]), spec, weights=weights)
            np.testing.assert_allclose(b.jackknife["paths"].iloc[i], r.paths["estimate"], rtol=0, atol=1e-12)
            np.testing.assert_allclose(b.jackknife["weights"].iloc[i], r.outer["weight"], rtol=0, atol=1e-12)
            np.testing.assert_allclose(b.jackknife["loadings"].iloc[i], r.outer["loading"], rtol=0, atol=1e-12)
            np.testing.assert_allclose(b.jackknife["item_mean"].iloc[i], r.item_mean, rtol=0, atol=1e-12)
            np.testing.assert_allclose(b.jackknife["item_sd"].iloc[i], r.item_sd, rtol=0, atol=1e-12)


def test_jackknife_independent_of_chunking_and_memory_linear_in_n(ecsi, monkeypatch):
    """Every batch of frequency weights F (rows x n) stays within _CELLS numbers (the old jackknife
    built one n x n matrix), and the values do not depend on how the n leave-one-out fits are chunked."""
    spec = template("ecsi")
    ref = bootstrap_pls(ecsi, spec, n_boot=20, seed=3, threads=1)
    assert all(len(v) == len(ecsi) for v in ref.jackknife.values())
    shapes = []
    real = bootstrap_module._batch_moments

    def spy(F, *args):
        shapes.append(F.shape)
        return real(F, *args)

    monkeypatch.setattr(bootstrap_module, "_batch_moments", spy)
    monkeypatch.setattr(bootstrap_module, "_CELLS", 10 * len(ecsi))
    capped = bootstrap_pls(ecsi, spec, n_boot=20, seed=3)
    assert max(r * c for r, c in shapes) <= 10 * len(ecsi) and len(shapes) == 2 + 25   # 20 draws, 250 fits
    monkeypatch.undo()
    for chunk in (1, 7, 64, None):
        b = capped if chunk is None else bootstrap_pls(ecsi, spec, n_boot=20, seed=3, jackknife_chunk=chunk)
        for k in ref.jackknife:
            np.testing.assert_allclose(b.jackknife[k], ref.jackknife[k], rtol=0, atol=1e-12, err_msg=f"{k} {chunk}")
        np.testing.assert_allclose(b.draws["paths"], ref.draws["paths"], rtol=0, atol=1e-12)
    bca_ref, bca = ref.summary("paths", ci="bca"), capped.summary("paths", ci="bca")
    np.testing.assert_allclose(bca[["ci_low", "ci_high"]], bca_ref[["ci_low", "ci_high"]], rtol=0, atol=1e-12)


def test_plsc_jackknife_keeps_non_plsc_kinds(ecsi):
    b = bootstrap_pls(ecsi, template("ecsi"), n_boot=10, seed=2, plsc=True)
    assert all(len(v) == len(ecsi) for v in b.jackknife.values())
    for k in ("htmt", "item_mean", "item_sd", "weights"):
        assert np.isfinite(b.jackknife[k].to_numpy()).all()


# ----------------------------------------------------------------------- small-n note
def test_small_n_note_below_threshold_only(ecsi):
    spec = template("ecsi")
    rows = np.random.default_rng(8).integers(0, len(ecsi), SMALL_N + 1)
    small = ecsi.iloc[rows[:SMALL_N - 1]].reset_index(drop=True)
    large = ecsi.iloc[rows].reset_index(drop=True)
    b = bootstrap_pls(small, spec, n_boot=5, seed=1, plsc=True, jackknife=False)
    assert [n["code"] for n in b.notes] == ["small_n_percentile"]
    note = b.notes[0]
    assert set(note) == {"code", "message", "message_zh"}
    assert f"{SMALL_N - 1} respondents" in note["message"] and "--ci bca" in note["message"]
    assert "BCa" in note["message_zh"] and "--ci bca" in note["message_zh"]
    assert bootstrap_pls(small.iloc[:SMALL_N - 1], spec, n_boot=5, seed=1, jackknife=True).notes == ()
    assert bootstrap_pls(large.iloc[:SMALL_N], spec, n_boot=5, seed=1, jackknife=False).notes == ()
    assert bootstrap_pls(large, spec, n_boot=5, seed=1, plsc=True, jackknife=False).notes == ()
