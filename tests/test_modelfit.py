"""PLS model fit (csi.evaluate.modelfit): SRMR, d_ULS, d_G and NFI equal independent computations from a model-implied
correlation matrix built here by hand from the fitted tables; the Bollen-Stine transform makes Σ̂ the sample
correlation; the bootstrap quantiles are seeded and ordered."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.linalg import eigvals, sqrtm

from csi.engine.kernel_math import sym_sqrt
from csi.engine.pls import estimate_pls
from csi.evaluate.modelfit import implied_correlation, model_fit
from csi.model.syntax import parse_model
from csi.model.templates import template

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def ecsi() -> pd.DataFrame:
    return pd.read_csv(ROOT / "data" / "ecsi_satisfaction.csv", index_col=0)


def _hand_implied(res, saturated: bool) -> np.ndarray:
    """Σ = Λ'VΛ with unit diagonal; V the construct correlations (saturated) or, for the estimated model, the
    covariance of η = B'η + ζ solved in one piece: cov(η) = (I - B')⁻¹ Ψ (I - B')⁻ᵀ with Ψ = [Φ, 0; 0, diag(1 - R²)]
    (exogenous block Φ from the fit), unit diagonal."""
    cons = list(res.spec.constructs)
    J = len(cons)
    C = res.construct_corr.loc[cons, cons].to_numpy()
    if saturated:
        V = C
    else:
        Bt = np.zeros((J, J))                       # Bt[to, from]
        for f, t, e in zip(res.paths["from"], res.paths["to"], res.paths["estimate"]):
            Bt[cons.index(t), cons.index(f)] = e
        exo = [k for k in range(J) if not Bt[k].any()]
        r2 = res.constructs.set_index("construct")["r2"]
        Psi = np.zeros((J, J))
        Psi[np.ix_(exo, exo)] = C[np.ix_(exo, exo)]
        for k in range(J):
            if k not in exo:
                Psi[k, k] = 1 - r2[cons[k]]
        A = np.linalg.inv(np.eye(J) - Bt)
        V = A @ Psi @ A.T
        np.fill_diagonal(V, 1.0)
    inds = list(res.spec.indicators)
    out = res.outer.set_index("indicator")
    L = np.zeros((J, len(inds)))
    for i, it in enumerate(inds):
        L[cons.index(out.at[it, "construct"]), i] = out.at[it, "loading"]
    Sig = L.T @ V @ L
    np.fill_diagonal(Sig, 1.0)
    return Sig


@pytest.mark.parametrize("plsc", [False, True])
def test_statistics_equal_independent_computation(ecsi, plsc):
    spec = template("ecsi")
    res = estimate_pls(ecsi, spec, plsc=plsc)
    fit = model_fit(ecsi, spec, plsc=plsc).table.set_index("model")
    R = res.corr.to_numpy()
    p = R.shape[0]
    for model in ("saturated", "estimated"):
        Sig = _hand_implied(res, model == "saturated")
        np.testing.assert_allclose(implied_correlation(res, model == "saturated").to_numpy(), Sig, atol=1e-10)
        resid = (R - Sig)[np.tril_indices(p)]
        assert fit.at[model, "srmr"] == pytest.approx(np.sqrt(np.mean(resid ** 2)), rel=1e-9)
        assert fit.at[model, "d_uls"] == pytest.approx(0.5 * np.sum((R - Sig) ** 2), rel=1e-9)
        lam = eigvals(np.linalg.solve(R, Sig)).real
        assert fit.at[model, "d_g"] == pytest.approx(0.5 * np.sum(np.log(lam) ** 2), rel=1e-7)
        fml = np.log(np.linalg.det(Sig)) + np.trace(R @ np.linalg.inv(Sig)) - np.log(np.linalg.det(R)) - p
        assert fit.at[model, "nfi"] == pytest.approx(1 - fml / -np.log(np.linalg.det(R)), rel=1e-9)
        assert fit.at[model, "chi2"] == pytest.approx((len(ecsi) - 1) * fml, rel=1e-9)


def test_composite_blocks_keep_their_observed_correlations(ecsi):
    syntax = template("ecsi").to_syntax().replace("IMAG =~", "IMAG <~")
    spec = parse_model(syntax)
    res = estimate_pls(ecsi, spec)
    Sig = implied_correlation(res, saturated=True)
    imag = list(spec.blocks["IMAG"])
    np.testing.assert_allclose(Sig.loc[imag, imag].to_numpy(), res.corr.loc[imag, imag].to_numpy(), atol=1e-12)


def test_bollen_stine_transform_makes_sigma_the_sample_correlation(ecsi):
    spec = template("ecsi")
    res = estimate_pls(ecsi, spec)
    X = ecsi[list(spec.indicators)].to_numpy(float)
    Z = (X - X.mean(0)) / X.std(0, ddof=1)
    R = np.corrcoef(X, rowvar=False)
    Sig = implied_correlation(res).to_numpy()
    np.testing.assert_allclose(sym_sqrt(Sig), sqrtm(Sig).real, atol=1e-10)
    T = Z @ sym_sqrt(R, inverse=True) @ sym_sqrt(Sig)
    np.testing.assert_allclose(np.corrcoef(T, rowvar=False), Sig, atol=1e-10)


def test_bootstrap_quantiles_are_seeded_and_ordered(ecsi):
    spec = template("ecsi")
    a = model_fit(ecsi, spec, n_boot=60, seed=3)
    b = model_fit(ecsi, spec, n_boot=60, seed=3)
    pd.testing.assert_frame_equal(a.table, b.table)
    t = a.table.set_index("model")
    for s in ("srmr", "d_uls", "d_g"):
        assert (t[f"{s}_hi99"] >= t[f"{s}_hi95"]).all()
    assert a.n_kept == {"saturated": 60, "estimated": 60}
    d = a.as_dict()
    assert d["bootstrap"]["method"] == "Bollen-Stine" and "srmr_hi95" in d["estimated"]


def test_correct_model_is_not_rejected():
    """Data simulated from the model itself (composites, single path): SRMR of the saturated model below its HI99."""
    rng = np.random.default_rng(8)
    n = 400
    f1 = rng.standard_normal(n)
    f2 = 0.5 * f1 + np.sqrt(0.75) * rng.standard_normal(n)
    cols = {f"a{k}": 0.8 * f1 + 0.6 * rng.standard_normal(n) for k in range(1, 4)}
    cols.update({f"b{k}": 0.8 * f2 + 0.6 * rng.standard_normal(n) for k in range(1, 4)})
    data = pd.DataFrame(cols)
    spec = parse_model("A =~ a1 + a2 + a3\nB =~ b1 + b2 + b3\nB ~ A\n")
    t = model_fit(data, spec, n_boot=200, seed=2, plsc=True).table.set_index("model")
    assert t.at["saturated", "srmr"] < t.at["saturated", "srmr_hi99"]
    assert t.at["saturated", "srmr"] < 0.05


def test_fit_json_of_analyze_is_the_model_fit(ecsi):
    import csi

    spec = template("ecsi")
    fit = csi.analyze(ecsi, spec, fit_bootstrap=20, seed=5)
    ref = model_fit(ecsi, spec, n_boot=20, seed=5).as_dict()
    assert fit.fit["estimated"]["srmr"] == pytest.approx(ref["estimated"]["srmr"], rel=1e-12)
    assert fit.fit["saturated"]["d_g_hi95"] == pytest.approx(ref["saturated"]["d_g_hi95"], rel=1e-12)
    assert "bootstrap" not in csi.analyze(ecsi, spec).fit          # quantiles only on request
