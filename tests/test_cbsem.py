"""CB-SEM adapter (csi.cbsem) against lavaan's published output, exact-covariance simulations and the ECSI data.

Reference values are lavaan 0.6's printed output of its two tutorial examples (lavaan.ugent.be tutorial,
``cfa(HS.model, data = HolzingerSwineford1939)`` and ``sem(model, data = PoliticalDemocracy)``), reported to
three decimals; semopy ships both datasets (``semopy.examples``). Tolerances are therefore half a unit
in the third decimal (plus optimizer slack).
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from csi.engine import cbsem
from csi.errors import DataError, SpecError
from csi.model.syntax import ModelSpec, parse_model

semopy_examples = pytest.importorskip("semopy.examples")
ROOT = Path(__file__).resolve().parents[1]
BLOCKS = {"IMAG": [f"imag{i}" for i in range(1, 6)], "EXPE": [f"expe{i}" for i in range(1, 6)],
          "QUAL": [f"qual{i}" for i in range(1, 6)], "VAL": [f"val{i}" for i in range(1, 5)],
          "SAT": [f"sat{i}" for i in range(1, 5)], "LOY": [f"loy{i}" for i in range(1, 5)]}
PATHS = [("IMAG", "EXPE"), ("EXPE", "QUAL"), ("EXPE", "VAL"), ("QUAL", "VAL"), ("IMAG", "SAT"),
         ("EXPE", "SAT"), ("QUAL", "SAT"), ("VAL", "SAT"), ("IMAG", "LOY"), ("SAT", "LOY")]
TOL3 = 6e-4  # published to 3 decimals
STATS = ["std_error", "z", "p_value", "ci_low", "ci_high"]
STATS_UNSTD = ["std_error_unstd", "z_unstd", "p_value_unstd", "ci_low_unstd", "ci_high_unstd"]
ITEMS9 = [f"x{i}" for i in range(1, 10)]


@pytest.fixture(scope="module")
def hs():
    from semopy.examples import holzinger39 as h
    return cbsem._estimate(h.get_model(), h.get_data(), latents=["visual", "textual", "speed"])


@pytest.fixture(scope="module")
def ecsi_data() -> pd.DataFrame:
    return pd.read_csv(ROOT / "data" / "ecsi_satisfaction.csv", index_col=0)


@pytest.fixture(scope="module")
def ecsi(ecsi_data):
    return cbsem.estimate_cbsem(ecsi_data, ModelSpec.from_parts(BLOCKS, PATHS))


# ------------------------------------------------------------------ lavaan: Holzinger–Swineford CFA
def test_holzinger_fit_measures_match_lavaan(hs):
    f = hs.fit
    assert f["chi2"] == pytest.approx(85.306, abs=TOL3)
    assert f["df"] == 24 and f["npar"] == 21 and f["n"] == 301
    assert f["cfi"] == pytest.approx(0.931, abs=TOL3)
    assert f["tli"] == pytest.approx(0.896, abs=TOL3)
    assert f["rmsea"] == pytest.approx(0.092, abs=TOL3)
    assert f["srmr"] == pytest.approx(0.065, abs=TOL3)
    assert f["aic"] == pytest.approx(7517.490, abs=TOL3)
    assert f["bic"] == pytest.approx(7595.339, abs=TOL3)
    assert f["loglik"] == pytest.approx(-3737.745, abs=TOL3)
    assert f["baseline_chi2"] == pytest.approx(918.852, abs=TOL3) and f["baseline_df"] == 36
    assert hs.converged and f["converged"] and f["estimator"] == "ML"


def test_holzinger_estimates_match_lavaan(hs):
    out = hs.outer.set_index("indicator")
    lavaan = {"x2": (0.554, 0.100, 0.424), "x3": (0.729, 0.109, 0.581), "x5": (1.113, 0.065, 0.855),
              "x6": (0.926, 0.055, 0.838), "x8": (1.180, 0.165, 0.723), "x9": (1.082, 0.151, 0.665)}
    for item, (est, se, std) in lavaan.items():
        assert out.loc[item, "loading_unstd"] == pytest.approx(est, abs=TOL3)
        assert out.loc[item, "std_error_unstd"] == pytest.approx(se, abs=TOL3)
        assert out.loc[item, "loading"] == pytest.approx(std, abs=TOL3)
    for item, std in {"x1": 0.772, "x4": 0.852, "x7": 0.570}.items():  # markers: fixed, se 0 as lavaan prints
        assert out.loc[item, "loading_unstd"] == 1.0 and out.loc[item, "std_error_unstd"] == 0.0
        assert np.isnan(out.loc[item, "z_unstd"]) and out.loc[item, "ci_low_unstd"] == out.loc[item, "ci_high_unstd"] == 1.0
        assert out.loc[item, "loading"] == pytest.approx(std, abs=TOL3)
    var = hs.variances.set_index("variable")["estimate_unstd"]
    lav_var = {"x1": 0.549, "x2": 1.134, "x3": 0.844, "x4": 0.371, "x5": 0.446, "x6": 0.356, "x7": 0.799,
               "x8": 0.488, "x9": 0.566, "visual": 0.809, "textual": 0.979, "speed": 0.384}
    for v, est in lav_var.items():
        assert var[v] == pytest.approx(est, abs=TOL3), v
    cov = {frozenset((r.var_1, r.var_2)): r.estimate_unstd for r in hs.covariances.itertuples()}
    assert cov[frozenset(("visual", "textual"))] == pytest.approx(0.408, abs=TOL3)
    assert cov[frozenset(("visual", "speed"))] == pytest.approx(0.262, abs=TOL3)
    assert cov[frozenset(("textual", "speed"))] == pytest.approx(0.173, abs=TOL3)
    assert list(hs.outer.columns) == ["construct", "indicator", "loading", "loading_unstd", *STATS, *STATS_UNSTD]


def test_holzinger_fiml_on_complete_data_equals_lavaan_observed_information(hs):
    # complete data: FIML = ML with a mean structure; lavaan's missing = "ml" uses the observed information, so
    # the SEs are lavaan's ML with information = "observed" (lavaan 0.6-17, HS.mean.ML.observed in lavaan's
    # Mplus comparison suite), not the expected-information SEs of the listwise fit
    from semopy.examples import holzinger39 as h
    f = cbsem._estimate(h.get_model(), h.get_data(), latents=["visual", "textual", "speed"], fiml=True)
    np.testing.assert_allclose(f.outer["loading_unstd"], hs.outer["loading_unstd"], atol=2e-4)
    pe = f.params.set_index(["lhs", "op", "rhs"])
    lav_obs = {("visual", "=~", "x2"): 0.109, ("visual", "=~", "x3"): 0.117, ("textual", "=~", "x5"): 0.065,
               ("textual", "=~", "x6"): 0.056, ("speed", "=~", "x8"): 0.150, ("speed", "=~", "x9"): 0.195,
               ("x1", "~~", "x1"): 0.119, ("x2", "~~", "x2"): 0.104, ("x3", "~~", "x3"): 0.095,
               ("x4", "~~", "x4"): 0.048, ("x5", "~~", "x5"): 0.058, ("x6", "~~", "x6"): 0.043,
               ("x7", "~~", "x7"): 0.088, ("x8", "~~", "x8"): 0.092, ("x9", "~~", "x9"): 0.091,
               ("visual", "~~", "visual"): 0.150, ("textual", "~~", "textual"): 0.112,
               ("speed", "~~", "speed"): 0.092, ("x1", "~1", ""): 0.067, ("x5", "~1", ""): 0.074}
    for k, se in lav_obs.items():
        assert pe.loc[k, "std_error"] == pytest.approx(se, abs=TOL3), k
    cov = {frozenset((r.var_1, r.var_2)): r.std_error_unstd for r in f.covariances.itertuples()}
    assert cov[frozenset(("visual", "textual"))] == pytest.approx(0.080, abs=TOL3)
    assert cov[frozenset(("textual", "speed"))] == pytest.approx(0.049, abs=TOL3)
    # observed ≠ expected here: the model does not reproduce S exactly (x9: 0.195 vs 0.151)
    assert f.outer.set_index("indicator").loc["x9", "std_error_unstd"] > 1.2 * hs.outer.set_index(
        "indicator").loc["x9", "std_error_unstd"]
    assert f.info["information"].startswith("observed") and hs.info["information"] == "expected"
    assert f.fit["chi2"] == pytest.approx(hs.fit["chi2"], abs=1e-3)
    assert f.fit["cfi"] == pytest.approx(hs.fit["cfi"], abs=1e-5)
    # the mean structure adds 9 intercepts to the parameters (lavaan: AIC 7535.490, BIC 7646.703)
    assert f.fit["npar"] == 30 and f.fit["df"] == 24
    assert f.fit["aic"] == pytest.approx(hs.fit["aic"] + 18, abs=1e-3)
    assert f.fit["aic"] == pytest.approx(7535.490, abs=TOL3)
    assert f.fit["bic"] == pytest.approx(7646.703, abs=TOL3)


def test_observed_equals_expected_information_when_the_model_fits_exactly():
    # at S = Σ̂ and x̄ = μ̂ the terms of the Hessian that carry (S − Σ̂) vanish: FIML's observed-information SEs on
    # complete data must equal the listwise (expected-information) SEs
    items = {"A": ["a1", "a2", "a3"], "B": ["b1", "b2", "b3"]}
    lam = {"a1": 1.0, "a2": 0.8, "a3": 1.2, "b1": 1.0, "b2": 0.7, "b3": 0.9}
    theta = dict(zip(lam, [0.5, 0.6, 0.4, 0.45, 0.7, 0.5]))
    sigma, names = population(lam, {("A", "B"): 0.6}, 1.3, {"B": 0.7}, theta, ["A", "B"], items)
    X = pd.DataFrame(exact_sample(sigma, 300, seed=5) + 2.0, columns=names)
    spec = parse_model("A =~ a1 + a2 + a3\nB =~ b1 + b2 + b3\nB ~ A")
    lw, fi = cbsem.estimate_cbsem(X, spec), cbsem.estimate_cbsem(X, spec, missing="fiml")
    a = lw.params[lw.params.free].set_index(["lhs", "op", "rhs"])["std_error"]
    b = fi.params[fi.params.free & (fi.params.op != "~1")].set_index(["lhs", "op", "rhs"])["std_error"]
    np.testing.assert_allclose(b.loc[a.index], a, rtol=2e-4)
    # intercept SEs: sqrt(Σ̂_jj / n)
    ic = fi.params[fi.params.op == "~1"].set_index("lhs")["std_error"]
    np.testing.assert_allclose(ic[names], np.sqrt(np.diag(sigma) / 300), rtol=2e-4)


# ------------------------------------------------------------------ lavaan: FIML with missing values
def hs_missing() -> pd.DataFrame:
    """HolzingerSwineford1939 x1-x9 with the 180 missing cells of lavaan's test file HS.missing.raw."""
    from semopy.examples import holzinger39 as h
    d = h.get_data()[ITEMS9].astype(float).reset_index(drop=True)
    mask = pd.read_csv(ROOT / "tests" / "reference" / "cbsem_hs_missing_mask.csv")
    for r, v in zip(mask["row"], mask["variable"]):
        d.loc[r, v] = np.nan
    return d


@pytest.fixture(scope="module")
def hs_fiml():
    from semopy.examples import holzinger39 as h
    return cbsem._estimate(h.get_model(), hs_missing(), latents=["visual", "textual", "speed"], fiml=True)


def test_fiml_matches_lavaan_missing_ml(hs_fiml):
    """lavaan 0.6-17 sem(..., missing = "ml", information = "observed") on HS.missing (and Mplus 8.2, same
    values): lavaan est/se to 3 decimals, Mplus Est./S.E. to 3 decimals (a relative check of the SE to ~1e-4)."""
    d = hs_missing()
    assert d.isna().sum().tolist() == [20] * 9 and len({tuple(r) for r in d.isna().to_numpy()}) == 36
    f = hs_fiml.fit
    assert f["loglik"] == pytest.approx(-3507.165, abs=TOL3) and f["loglik_h1"] == pytest.approx(-3465.850, abs=TOL3)
    assert f["chi2"] == pytest.approx(82.631, abs=TOL3) and f["df"] == 24 and f["npar"] == 30
    assert f["aic"] == pytest.approx(7074.330, abs=TOL3) and f["bic"] == pytest.approx(7185.544, abs=TOL3)
    assert f["baseline_chi2"] == pytest.approx(822.648, abs=TOL3)
    assert f["cfi"] == pytest.approx(0.925, abs=TOL3) and f["tli"] == pytest.approx(0.888, abs=TOL3)
    assert f["rmsea"] == pytest.approx(0.090, abs=TOL3) and f["srmr"] == pytest.approx(0.060, abs=TOL3)
    pe = hs_fiml.params.set_index(["lhs", "op", "rhs"])
    # (est, se, z): lavaan est and se, Mplus Est./S.E.
    ref = {("visual", "=~", "x2"): (0.566, 0.116, 4.879), ("visual", "=~", "x3"): (0.774, 0.129, 6.023),
           ("textual", "=~", "x5"): (1.087, 0.069, 15.693), ("textual", "=~", "x6"): (0.905, 0.059, 15.445),
           ("speed", "=~", "x8"): (1.210, 0.173, 7.000), ("speed", "=~", "x9"): (1.246, 0.265, 4.703),
           ("textual", "~~", "visual"): (0.419, 0.085, 4.913), ("speed", "~~", "visual"): (0.273, 0.055, 4.921),
           ("textual", "~~", "speed"): (0.158, 0.047, 3.335),
           ("visual", "~~", "visual"): (0.784, 0.152, 5.161), ("textual", "~~", "textual"): (0.996, 0.117, 8.481),
           ("speed", "~~", "speed"): (0.329, 0.097, 3.385),
           ("x1", "~~", "x1"): (0.617, 0.122, 5.075), ("x2", "~~", "x2"): (1.126, 0.108, 10.409),
           ("x3", "~~", "x3"): (0.810, 0.102, 7.975), ("x4", "~~", "x4"): (0.366, 0.053, 6.970),
           ("x5", "~~", "x5"): (0.465, 0.062, 7.455), ("x6", "~~", "x6"): (0.348, 0.045, 7.660),
           ("x7", "~~", "x7"): (0.850, 0.098, 8.694), ("x8", "~~", "x8"): (0.536, 0.101, 5.308),
           ("x9", "~~", "x9"): (0.508, 0.104, 4.864),
           ("x1", "~1", ""): (4.931, 0.070, 70.578), ("x2", "~1", ""): (6.105, 0.070, 87.528),
           ("x3", "~1", ""): (2.239, 0.067, 33.435), ("x4", "~1", ""): (3.074, 0.068, 45.056),
           ("x5", "~1", ""): (4.328, 0.075, 57.758), ("x6", "~1", ""): (2.166, 0.063, 34.335),
           ("x7", "~1", ""): (4.210, 0.064, 65.408), ("x8", "~1", ""): (5.508, 0.060, 92.438),
           ("x9", "~1", ""): (5.352, 0.060, 89.792)}
    for k, (est, se, z) in ref.items():
        k = k if k in pe.index else (k[2], k[1], k[0])
        assert pe.loc[k, "estimate"] == pytest.approx(est, abs=TOL3), k
        assert pe.loc[k, "std_error"] == pytest.approx(se, abs=TOL3), k
        assert pe.loc[k, "t"] == pytest.approx(z, abs=2e-3 + 2e-5 * z), k  # optimizer slack on est
    # std.all and its delta-method se (Mplus STDYX, the same delta method as lavaan's standardizedSolution)
    std = {("visual", "=~", "x1"): (0.748, 0.059), ("visual", "=~", "x2"): (0.427, 0.066),
           ("visual", "=~", "x3"): (0.606, 0.062), ("textual", "=~", "x4"): (0.855, 0.024),
           ("textual", "=~", "x5"): (0.847, 0.024), ("textual", "=~", "x6"): (0.837, 0.025),
           ("speed", "=~", "x7"): (0.528, 0.069), ("speed", "=~", "x8"): (0.688, 0.072),
           ("speed", "=~", "x9"): (0.708, 0.072), ("textual", "~~", "visual"): (0.475, 0.067),
           ("speed", "~~", "visual"): (0.538, 0.087), ("textual", "~~", "speed"): (0.277, 0.072),
           ("x1", "~~", "x1"): (0.441, 0.088), ("x9", "~~", "x9"): (0.499, 0.102), ("x1", "~1", ""): (4.166, 0.185),
           ("x8", "~1", ""): (5.462, 0.236)}
    for k, (est, se) in std.items():
        k = k if k in pe.index else (k[2], k[1], k[0])
        assert pe.loc[k, "std_estimate"] == pytest.approx(est, abs=TOL3), k
        assert pe.loc[k, "std_estimate_se"] == pytest.approx(se, abs=TOL3), k


def _fiml_loglik(groups, mu: np.ndarray, S: np.ndarray) -> float:
    """Casewise normal log-likelihood, each row's observed-part density; ``groups`` = [(observed mask, rows' observed
    values)] per missingness pattern (written independently of csi)."""
    ll = 0.0
    for o, rows in groups:
        So = S[np.ix_(o, o)]
        c = rows - mu[o]
        sign, ld = np.linalg.slogdet(So)
        ll += -0.5 * (len(rows) * (o.sum() * np.log(2 * np.pi) + ld) + np.sum(c * np.linalg.solve(So, c.T).T))
    return ll


def _patterns(X: np.ndarray):
    obs = ~np.isnan(X)
    return [(np.array(p), X[(obs == np.array(p)).all(axis=1)][:, np.array(p)]) for p in {tuple(r) for r in obs}]


def _hessian(f, x: np.ndarray, h: float = 1e-4) -> np.ndarray:
    """Plain 4-point central-difference Hessian of a scalar function (function values only)."""
    q = len(x)
    H = np.empty((q, q))
    for i in range(q):
        for j in range(i, q):
            def at(di, dj):
                e = x.copy()
                e[i] += di
                e[j] += dj
                return f(e)
            H[i, j] = H[j, i] = (at(h, h) - at(h, -h) - at(-h, h) + at(-h, -h)) / (4 * h * h)
    return H


def test_fiml_standard_errors_equal_an_independent_hessian(hs_fiml):
    # rebuild the CFA's Σ(θ), μ(θ) from the free rows of params (lavaan's parametrisation), differentiate an
    # independently written casewise log-likelihood twice by function values, invert: the SEs must agree
    X = hs_missing()[ITEMS9].to_numpy()
    pe = hs_fiml.params
    free = pe[pe.free].reset_index(drop=True)
    fac = ["visual", "textual", "speed"]
    of = {f"x{i}": fac[(i - 1) // 3] for i in range(1, 10)}

    def implied(theta):
        L = np.zeros((9, 3))
        for k in range(9):
            L[k, k // 3] = 1.0
        Phi, Th, mu = np.zeros((3, 3)), np.zeros((9, 9)), np.zeros(9)
        for v, r in zip(theta, free.itertuples()):
            if r.op == "=~":
                L[ITEMS9.index(r.rhs), fac.index(r.lhs)] = v
            elif r.op == "~1":
                mu[ITEMS9.index(r.lhs)] = v
            elif r.lhs in of:
                Th[ITEMS9.index(r.lhs), ITEMS9.index(r.rhs)] = v
            else:
                a, b = fac.index(r.lhs), fac.index(r.rhs)
                Phi[a, b] = Phi[b, a] = v
        return mu, L @ Phi @ L.T + Th

    theta = free["estimate"].to_numpy()
    groups = _patterns(X)
    assert sum(len(r) for _, r in groups) == 301
    H = _hessian(lambda t: _fiml_loglik(groups, *implied(t)), theta)
    se = np.sqrt(np.diag(np.linalg.inv(-H)))
    rel = np.abs(free["std_error"].to_numpy() / se - 1)
    assert rel.max() < 1e-3, rel.max()
    # and the full covariance matrix, not only its diagonal
    V = np.linalg.inv(-H)
    np.testing.assert_allclose(hs_fiml.vcov, V, atol=1e-4 * np.abs(V).max())


# ------------------------------------------------------------------ lavaan: Political Democracy SEM
def test_political_democracy_matches_lavaan():
    from semopy.examples import political_democracy as pdm
    r = cbsem._estimate(pdm.get_model(), pdm.get_data(), latents=["ind60", "dem60", "dem65"])
    f = r.fit
    assert f["chi2"] == pytest.approx(38.125, abs=TOL3) and f["df"] == 35
    assert f["p_value"] == pytest.approx(0.329, abs=TOL3)
    assert f["aic"] == pytest.approx(3157.582, abs=TOL3) and f["bic"] == pytest.approx(3229.424, abs=TOL3)
    assert f["cfi"] == pytest.approx(0.995, abs=TOL3) and f["tli"] == pytest.approx(0.993, abs=TOL3)
    assert f["rmsea"] == pytest.approx(0.035, abs=TOL3) and f["srmr"] == pytest.approx(0.044, abs=TOL3)
    p = r.paths.set_index(["from", "to"])
    for (a, b), (est, se, std) in {("ind60", "dem60"): (1.483, 0.399, 0.447), ("ind60", "dem65"): (0.572, 0.221, 0.182),
                                   ("dem60", "dem65"): (0.837, 0.098, 0.885)}.items():
        assert p.loc[(a, b), "estimate_unstd"] == pytest.approx(est, abs=TOL3)
        assert p.loc[(a, b), "std_error_unstd"] == pytest.approx(se, abs=TOL3)
        assert p.loc[(a, b), "estimate"] == pytest.approx(std, abs=TOL3)
    o = r.outer.set_index("indicator")
    for item, (est, se) in {"x2": (2.180, 0.139), "x3": (1.819, 0.152), "y2": (1.257, 0.182), "y3": (1.058, 0.151),
                            "y4": (1.265, 0.145), "y6": (1.186, 0.169), "y7": (1.280, 0.160),
                            "y8": (1.266, 0.158)}.items():
        assert o.loc[item, "loading_unstd"] == pytest.approx(est, abs=TOL3)
        assert o.loc[item, "std_error_unstd"] == pytest.approx(se, abs=TOL3)
    c = {frozenset((x.var_1, x.var_2)): x for x in r.covariances.itertuples()}
    for pair, (est, se) in {("y1", "y5"): (0.624, 0.358), ("y2", "y4"): (1.313, 0.702), ("y2", "y6"): (2.153, 0.734),
                            ("y3", "y7"): (0.795, 0.608), ("y4", "y8"): (0.348, 0.442),
                            ("y6", "y8"): (1.356, 0.568)}.items():
        assert c[frozenset(pair)].estimate_unstd == pytest.approx(est, abs=TOL3)
        assert c[frozenset(pair)].std_error_unstd == pytest.approx(se, abs=TOL3)
    assert c[frozenset(("y1", "y5"))].estimate == pytest.approx(0.296, abs=TOL3)  # std.all: residual correlation


# ------------------------------------------------------------------ exact-covariance recovery
def exact_sample(sigma: np.ndarray, n: int, seed: int) -> np.ndarray:
    """n x p data whose ML covariance (divisor n) equals sigma exactly and whose means are 0."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, len(sigma)))
    z -= z.mean(axis=0)
    z = z @ np.linalg.inv(np.linalg.cholesky(z.T @ z / n)).T  # whiten: covariance exactly I
    return z @ np.linalg.cholesky(sigma).T


def population(lam: dict, beta: dict, phi_a: float, psi: dict, theta: dict, order: list[str], items: dict):
    """Σ of a recursive SEM: lam {item: loading}, beta {(from,to): b}, exogenous variance phi_a."""
    J = len(order)
    B = np.zeros((J, J))
    for (f, t), b in beta.items():
        B[order.index(t), order.index(f)] = b
    Psi = np.diag([phi_a] + [psi[c] for c in order[1:]])
    Cinv = np.linalg.inv(np.eye(J) - B)
    Phi = Cinv @ Psi @ Cinv.T
    names = [i for c in order for i in items[c]]
    L = np.zeros((len(names), J))
    for k, i in enumerate(names):
        c = next(c for c in order if i in items[c])
        L[k, order.index(c)] = lam[i]
    return L @ Phi @ L.T + np.diag([theta[i] for i in names]), names


def test_recovery_from_exact_covariance():
    items = {"A": ["a1", "a2", "a3"], "B": ["b1", "b2", "b3"], "C": ["c1", "c2", "c3", "c4"]}
    lam = {"a1": 1.0, "a2": 0.8, "a3": 1.2, "b1": 1.0, "b2": 0.7, "b3": 0.9, "c1": 1.0, "c2": 1.1, "c3": 0.6,
           "c4": 0.85}
    theta = {i: v for i, v in zip(lam, [0.5, 0.6, 0.4, 0.45, 0.7, 0.5, 0.3, 0.5, 0.8, 0.55])}
    beta = {("A", "B"): 0.6, ("A", "C"): 0.3, ("B", "C"): 0.5}
    sigma, names = population(lam, beta, 1.3, {"B": 0.7, "C": 0.4}, theta, ["A", "B", "C"], items)
    X = pd.DataFrame(exact_sample(sigma, 400, seed=7) + 5.0, columns=names)
    np.testing.assert_allclose(np.cov(X.to_numpy(), rowvar=False, ddof=0), sigma, atol=1e-10)
    spec = parse_model("A =~ a1 + a2 + a3\nB =~ b1 + b2 + b3\nC =~ c1 + c2 + c3 + c4\nB ~ A\nC ~ A + B")
    r = cbsem.estimate_cbsem(X, spec)
    o = r.outer.set_index("indicator")["loading_unstd"]
    for i, v in lam.items():
        assert o[i] == pytest.approx(v, abs=1e-4), i
    p = r.paths.set_index(["from", "to"])["estimate_unstd"]
    for k, v in beta.items():
        assert p[k] == pytest.approx(v, abs=1e-4), k
    var = r.variances.set_index("variable")["estimate_unstd"]
    for i, v in theta.items():
        assert var[i] == pytest.approx(v, abs=1e-4), i
    assert var["A"] == pytest.approx(1.3, abs=1e-4) and var["C"] == pytest.approx(0.4, abs=1e-4)
    assert r.fit["chi2"] == pytest.approx(0.0, abs=1e-6) and r.fit["cfi"] == pytest.approx(1.0, abs=1e-8)
    assert r.fit["rmsea"] == 0.0 and r.fit["srmr"] < 1e-5
    assert r.warnings == [] and r.converged
    assert list(r.paths[["from", "to"]].itertuples(index=False, name=None)) == list(spec.paths)
    # standardized estimates from the population: std path A->B = b * sd(A) / sd(B)
    sdA, sdB = np.sqrt(1.3), np.sqrt(0.6 ** 2 * 1.3 + 0.7)
    assert r.paths.set_index(["from", "to"]).loc[("A", "B"), "estimate"] == pytest.approx(0.6 * sdA / sdB, abs=1e-4)
    r2 = r.constructs.set_index("construct")["r2"]
    assert r2["B"] == pytest.approx(0.6 ** 2 * 1.3 / (0.6 ** 2 * 1.3 + 0.7), abs=1e-4) and np.isnan(r2["A"])


def test_heywood_case_is_named():
    # one-factor correlations r12 = r13 = 0.8, r23 = 0.5 imply a standardized loading of sqrt(1.28) for a1:
    # its residual variance must be negative, semopy stops at 0 → Heywood diagnostic naming a1
    R = np.eye(6)
    R[0, 1] = R[1, 0] = R[0, 2] = R[2, 0] = 0.8
    R[1, 2] = R[2, 1] = 0.5
    for i, j in [(3, 4), (3, 5), (4, 5)]:
        R[i, j] = R[j, i] = 0.49
    for i in range(3):
        for j in range(3, 6):
            R[i, j] = R[j, i] = 0.25
    assert np.linalg.eigvalsh(R).min() > 0
    X = pd.DataFrame(exact_sample(R, 300, seed=3), columns=["a1", "a2", "a3", "b1", "b2", "b3"])
    r = cbsem.estimate_cbsem(X, parse_model("A =~ a1 + a2 + a3\nB =~ b1 + b2 + b3\nB ~ A"))
    hey = [d for d in r.diagnostics if d.code == "heywood"]
    assert hey and "a1" in hey[0].message and "a1" in hey[0].message_zh


# ------------------------------------------------------------------ ECSI: honest diagnostics
def test_ecsi_cbsem_flags_standardized_paths_beyond_one(ecsi):
    beyond = ecsi.paths[ecsi.paths["estimate"].abs() > 1]
    assert len(beyond) >= 1  # EXPE and QUAL are nearly collinear in these data
    flagged = [d for d in ecsi.diagnostics if d.code == "std_beyond_one"]
    assert len(flagged) >= len(beyond)
    for frm, to in zip(beyond["from"], beyond["to"]):
        assert any(f"{frm} → {to}" in d.message for d in flagged)
    d = flagged[0]
    assert d.severity == "warning" and "PLS" in d.message and "collinear" in d.message
    assert "PLS" in d.message_zh and "共线" in d.message_zh
    assert d.message in ecsi.warnings and d.message in ecsi.fit["warnings"]
    assert ecsi.converged


def test_ecsi_other_diagnostics_and_tables(ecsi):
    codes = {d.code for d in ecsi.diagnostics}
    assert "poor_fit" in codes  # CFI ≈ 0.83
    assert "few_observations" in codes  # 250 rows, 64 parameters
    assert ecsi.fit["n"] == 250 and ecsi.info["n_used"] == 250 and ecsi.info["n_dropped"] == 0
    assert list(ecsi.paths.columns) == ["from", "to", "estimate", "estimate_unstd", *STATS, *STATS_UNSTD]
    assert list(ecsi.paths[["from", "to"]].itertuples(index=False, name=None)) == \
        list(ModelSpec.from_parts(BLOCKS, PATHS).paths)
    assert len(ecsi.outer) == 27 and set(ecsi.outer["construct"]) == set(BLOCKS)
    t = ecsi.diagnostics_table()
    assert list(t.columns) == ["code", "severity", "message", "message_zh"] and len(t) == len(ecsi.diagnostics)
    assert all(isinstance(v, (int, float, str, bool, list)) for v in ecsi.fit.values())


def test_listwise_and_fiml_missing_data(ecsi_data):
    spec = parse_model("IMAG =~ imag1 + imag2 + imag3\nSAT =~ sat1 + sat2 + sat3\nLOY =~ loy1 + loy2 + loy3\n"
                       "SAT ~ IMAG\nLOY ~ SAT + IMAG")
    d = ecsi_data.copy()
    rng = np.random.default_rng(42)
    items = list(spec.indicators)
    v = d[items].to_numpy(dtype=float).copy()
    v[rng.random(v.shape) < 0.06] = np.nan
    d[items] = v
    complete = int((~np.isnan(v)).all(axis=1).sum())
    lw = cbsem.estimate_cbsem(d, spec)
    assert lw.fit["n"] == complete and lw.info["n_dropped"] == 250 - complete
    fi = cbsem.estimate_cbsem(d, spec, missing="fiml")
    assert fi.fit["n"] == 250 and fi.fit["estimator"] == "FIML" and fi.converged
    assert fi.fit["npar"] == lw.fit["npar"] + len(items) and fi.fit["df"] == lw.fit["df"]
    # H1 is the EM maximum: the model's log-likelihood cannot exceed it
    assert fi.fit["loglik"] <= fi.fit["loglik_h1"] + 1e-8
    assert fi.fit["chi2"] == pytest.approx(2 * (fi.fit["loglik_h1"] - fi.fit["loglik"]), rel=1e-12)
    # under MCAR, FIML (all 250 rows) stays closer to the complete-data estimates than listwise deletion
    full = cbsem.estimate_cbsem(ecsi_data, spec)
    err_fiml = np.abs(fi.outer["loading"] - full.outer["loading"]).mean()
    err_lw = np.abs(lw.outer["loading"] - full.outer["loading"]).mean()
    assert err_fiml < err_lw and err_fiml < 0.03


def test_em_matches_loop_reference():
    rng = np.random.default_rng(0)
    A = rng.normal(size=(4, 4))
    X = rng.multivariate_normal(np.arange(4.0), A @ A.T + np.eye(4), size=80)
    X[rng.random(X.shape) < 0.2] = np.nan
    X = X[~np.isnan(X).all(axis=1)]
    mu, S, ll = cbsem.em_saturated(X)
    # straightforward row-by-row EM
    n, p = X.shape
    obs = ~np.isnan(X)
    m_, S_ = np.nanmean(X, axis=0), np.diag(np.nanvar(X, axis=0))
    for _ in range(20000):
        T1, T2 = np.zeros(p), np.zeros((p, p))
        for i in range(n):
            o, m = obs[i], ~obs[i]
            x, C = X[i].copy(), np.zeros((p, p))
            if m.any():
                Bm = np.linalg.solve(S_[np.ix_(o, o)], S_[np.ix_(o, m)])
                x[m] = m_[m] + (x[o] - m_[o]) @ Bm
                C[np.ix_(m, m)] = S_[np.ix_(m, m)] - S_[np.ix_(m, o)] @ Bm
            T1 += x
            T2 += np.outer(x, x) + C
        new_m = T1 / n
        new_S = T2 / n - np.outer(new_m, new_m)
        done = max(abs(new_m - m_).max(), abs(new_S - S_).max()) < 1e-11
        m_, S_ = new_m, new_S
        if done:
            break
    np.testing.assert_allclose(mu, m_, atol=1e-8)
    np.testing.assert_allclose(S, S_, atol=1e-8)
    assert ll > cbsem._loglik_missing(X, mu + 0.01, S)


def test_fast_fiml_objective_and_gradient_equal_semopys(ecsi_data):
    import semopy
    spec = parse_model("IMAG =~ imag1 + imag2 + imag3\nSAT =~ sat1 + sat2 + sat3 + sat4\nSAT ~ IMAG")
    rng = np.random.default_rng(8)
    v = ecsi_data[list(spec.indicators)].to_numpy(dtype=float).copy()
    v[rng.random(v.shape) < 0.1] = np.nan
    X = pd.DataFrame(v, columns=list(spec.indicators))
    m = semopy.ModelMeans(cbsem.model_description(spec))
    m.load(X)
    m.prepare_fiml()
    x0 = m.param_vals.copy()
    xs = [x0, x0 + rng.normal(0, 0.05, len(x0))]
    ref = [(m.obj_fiml(x), m.grad_fiml(x)) for x in xs]
    cbsem._install_fast_fiml(m)
    for x, (o, g) in zip(xs, ref):
        assert m.obj_fiml(x) == pytest.approx(o, rel=1e-12)
        np.testing.assert_allclose(m.grad_fiml(x), g, rtol=1e-9, atol=1e-9 * np.abs(g).max())


# ------------------------------------------------------------------ front-door errors, quietness
def test_front_door_errors(ecsi_data):
    spec = ModelSpec.from_parts(BLOCKS, PATHS)
    with pytest.raises(SpecError, match="formative"):
        cbsem.estimate_cbsem(ecsi_data, ModelSpec.from_parts(BLOCKS, PATHS, {"VAL": "B"}))
    with pytest.raises(DataError, match="survey weights"):
        cbsem.estimate_cbsem(ecsi_data, spec, weights=np.ones(250))
    with pytest.raises(SpecError, match="missing-data"):
        cbsem.estimate_cbsem(ecsi_data, spec, missing="pairwise")
    with pytest.raises(SpecError, match="imag1"):
        cbsem.estimate_cbsem(ecsi_data.drop(columns="imag1"), spec)
    bad = ecsi_data.assign(sat2="x")
    with pytest.raises(DataError, match="sat2"):
        cbsem.estimate_cbsem(bad, spec)
    with pytest.raises(DataError, match="loy3"):
        cbsem.estimate_cbsem(ecsi_data.assign(loy3=5.0), spec)
    with pytest.raises(DataError, match="too few"):
        cbsem.estimate_cbsem(ecsi_data.head(2), spec)
    with pytest.raises(SpecError, match="not identified"):
        cbsem._estimate("A =~ imag1 + imag2", ecsi_data, latents=["A"])


def test_single_item_construct_is_identified(ecsi_data):
    spec = parse_model("IMAG =~ imag1 + imag2 + imag3\nSAT =~ sat1\nSAT ~ IMAG")
    r = cbsem.estimate_cbsem(ecsi_data, spec)
    assert "sat1 ~~ 0*sat1" in r.info["description"]
    var = r.variances.set_index("variable")
    assert var.loc["sat1", "estimate_unstd"] == 0.0
    assert r.converged and not any(d.code == "heywood" for d in r.diagnostics)
    assert r.fit["df"] == 2


def test_semopy_is_quiet_and_logging_restored(ecsi_data, capsys, caplog):
    spec = parse_model("IMAG =~ imag1 + imag2 + imag3\nSAT =~ sat1 + sat2 + sat3\nSAT ~ IMAG")
    root = logging.getLogger()
    handlers, filters = list(root.handlers), list(root.filters)
    with caplog.at_level(logging.DEBUG):
        cbsem.estimate_cbsem(ecsi_data.assign(imag3=ecsi_data["imag2"]), spec)  # semopy warns: S not PD
        cbsem.estimate_cbsem(ecsi_data, spec)
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""
    assert not [r for r in caplog.records if "semopy" in r.pathname]
    assert root.handlers == handlers and root.filters == filters
    logging.getLogger("csi.test").warning("others still log")
    assert caplog.records and caplog.records[-1].getMessage() == "others still log"


def test_fresh_model_per_call(ecsi_data):
    spec = parse_model("IMAG =~ imag1 + imag2 + imag3\nSAT =~ sat1 + sat2 + sat3\nSAT ~ IMAG")
    a = cbsem.estimate_cbsem(ecsi_data, spec)
    cbsem.estimate_cbsem(ecsi_data.iloc[::2], spec)
    b = cbsem.estimate_cbsem(ecsi_data, spec)
    pd.testing.assert_frame_equal(a.paths, b.paths)


def test_non_convergence_is_reported(ecsi_data, monkeypatch):
    monkeypatch.setattr(cbsem, "MAX_ITER", 2)
    r = cbsem.estimate_cbsem(ecsi_data, ModelSpec.from_parts(BLOCKS, PATHS))
    assert not r.converged and not r.fit["converged"]
    d = [x for x in r.diagnostics if x.code == "not_converged"]
    assert d and d[0].severity == "error" and "not converge" in d[0].message and "未收敛" in d[0].message_zh


def test_singular_sample_covariance_is_reported(ecsi_data):
    d = ecsi_data.copy()
    d["sat4"] = d["sat1"] + d["sat2"] - d["sat3"]  # an exact linear combination
    spec = parse_model("IMAG =~ imag1 + imag2 + imag3\nSAT =~ sat1 + sat2 + sat3 + sat4\nSAT ~ IMAG")
    r = cbsem.estimate_cbsem(d, spec)
    diag = [x for x in r.diagnostics if x.code == "sample_cov_not_pd"]
    assert diag and diag[0].severity == "error" and "positive definite" in diag[0].message


# ------------------------------------------------------------------ the parameter table and the interval rule
def test_params_table_conventions(hs_fiml):
    from semopy.examples import political_democracy as pdm
    r = cbsem._estimate(pdm.get_model(), pdm.get_data(), latents=["ind60", "dem60", "dem65"])
    for res in (r, hs_fiml):
        pe = res.params
        assert list(pe.columns[:13]) == list(cbsem.PARAMS_COLUMNS)
        assert set(pe["op"]) <= {"=~", "~", "~~", "~1"}
        lo = pe[pe.op == "=~"]
        assert set(lo["lhs"]) <= {"ind60", "dem60", "dem65", "visual", "textual", "speed"}
        assert pe["free"].sum() == res.fit["npar"] == len(res.vcov)
        np.testing.assert_allclose(pe.loc[pe.free, "std_error"], np.sqrt(np.diag(res.vcov)), rtol=1e-12)
        f = pe[pe.free]
        np.testing.assert_allclose(f["t"], f["estimate"] / f["std_error"], rtol=1e-12)
        np.testing.assert_allclose(f["ci_high"], f["estimate"] + 1.959963984540054 * f["std_error"], rtol=1e-12)
        np.testing.assert_allclose(f["p_value"], 2 * (1 - __import__("scipy").stats.norm.cdf(np.abs(f["t"]))),
                                   atol=1e-12)
    pe = r.params.set_index(["lhs", "op", "rhs"])
    # regressions as lavaan: lhs outcome, rhs predictor; residual variances and covariances under ~~
    assert pe.loc[("dem60", "~", "ind60"), "estimate"] == pytest.approx(1.483, abs=TOL3)
    assert pe.loc[("dem60", "~", "ind60"), "std_estimate"] == pytest.approx(0.447, abs=TOL3)
    assert ("y1", "~~", "y1") in pe.index and ("dem65", "~~", "dem65") in pe.index
    assert pe.loc[("y1", "~~", "y5"), "std_estimate"] == pytest.approx(0.296, abs=TOL3)
    assert not (r.params.op == "~1").any() and (hs_fiml.params.op == "~1").sum() == 9
    # deterministic, lavaan-like order whatever semopy's set order: loadings, regressions, indicator then
    # construct (co)variances, intercepts; a covariance has the earlier-declared variable as lhs
    assert list(hs_fiml.params["op"].drop_duplicates()) == ["=~", "~~", "~1"]
    cov = hs_fiml.params[(hs_fiml.params.op == "~~") & (hs_fiml.params.lhs != hs_fiml.params.rhs)]
    assert list(zip(cov.lhs, cov.rhs)) == [("visual", "textual"), ("visual", "speed"), ("textual", "speed")]
    assert list(r.params.loc[r.params.op == "~", "lhs"]) == ["dem60", "dem65", "dem65"]
    # the wide tables are views of params
    p = r.paths.set_index(["from", "to"])
    for (a, b) in [("ind60", "dem60"), ("ind60", "dem65"), ("dem60", "dem65")]:
        row = pe.loc[(b, "~", a)]
        assert p.loc[(a, b), "estimate_unstd"] == row["estimate"] and p.loc[(a, b), "estimate"] == row["std_estimate"]
        assert p.loc[(a, b), "std_error"] == row["std_estimate_se"] and p.loc[(a, b), "ci_low"] == row["std_ci_low"]
        assert p.loc[(a, b), "std_error_unstd"] == row["std_error"] and p.loc[(a, b), "z_unstd"] == row["t"]


def test_standardized_se_is_the_delta_method():
    # lavaan's standardizedSolution: se of std.all = sqrt(J V J'), J the Jacobian of the standardisation.
    # Independent check on Political Democracy: std.all of the three regressions and of x2's loading written
    # out in closed form from the free parameters, Jacobian by numdifftools, V = the fit's vcov.
    import numdifftools as nd
    from semopy.examples import political_democracy as pdm
    r = cbsem._estimate(pdm.get_model(), pdm.get_data(), latents=["ind60", "dem60", "dem65"])
    free = r.params[r.params.free].reset_index(drop=True)
    key = {(a.lhs, a.op, a.rhs): k for k, a in enumerate(free.itertuples())}

    def std(theta):
        g = lambda *k: theta[key[k]]
        phi = g("ind60", "~~", "ind60")
        b1, b2, b3 = g("dem60", "~", "ind60"), g("dem65", "~", "ind60"), g("dem65", "~", "dem60")
        v60 = b1 ** 2 * phi + g("dem60", "~~", "dem60")
        v65 = b2 ** 2 * phi + b3 ** 2 * v60 + 2 * b2 * b3 * b1 * phi + g("dem65", "~~", "dem65")
        lam2 = g("ind60", "=~", "x2")
        vx2 = lam2 ** 2 * phi + g("x2", "~~", "x2")
        return np.array([b1 * np.sqrt(phi / v60), b2 * np.sqrt(phi / v65), b3 * np.sqrt(v60 / v65),
                         lam2 * np.sqrt(phi / vx2)])

    theta = free["estimate"].to_numpy()
    J = nd.Jacobian(std)(theta)
    se = np.sqrt(np.diag(J @ r.vcov @ J.T))
    pe = r.params.set_index(["lhs", "op", "rhs"])
    got = pe.loc[[("dem60", "~", "ind60"), ("dem65", "~", "ind60"), ("dem65", "~", "dem60"), ("ind60", "=~", "x2")]]
    np.testing.assert_allclose(got["std_estimate"], std(theta), rtol=1e-9)
    np.testing.assert_allclose(got["std_estimate_se"], se, rtol=1e-6)


def test_holzinger_standardized_se_match_published(hs):
    # Holzinger-Swineford CFA, ML, expected information: STDYX S.E. of Mplus 8 (HS.nomean.ML.expected in lavaan's
    # Mplus comparison suite; the same delta method as lavaan's standardizedSolution, whose std.all agree)
    pe = hs.params.set_index(["lhs", "op", "rhs"])
    ref = {("visual", "=~", "x1"): (0.772, 0.055), ("visual", "=~", "x2"): (0.424, 0.060),
           ("visual", "=~", "x3"): (0.581, 0.055), ("textual", "=~", "x4"): (0.852, 0.023),
           ("textual", "=~", "x5"): (0.855, 0.022), ("textual", "=~", "x6"): (0.838, 0.023),
           ("speed", "=~", "x7"): (0.570, 0.053), ("speed", "=~", "x8"): (0.723, 0.051),
           ("speed", "=~", "x9"): (0.665, 0.051), ("visual", "~~", "textual"): (0.459, 0.064),
           ("visual", "~~", "speed"): (0.471, 0.073), ("textual", "~~", "speed"): (0.283, 0.069),
           ("x1", "~~", "x1"): (0.404, 0.085), ("x2", "~~", "x2"): (0.821, 0.051), ("x5", "~~", "x5"): (0.269, 0.038),
           ("x7", "~~", "x7"): (0.676, 0.061), ("x9", "~~", "x9"): (0.558, 0.068)}
    for k, (est, se) in ref.items():
        assert pe.loc[k, "std_estimate"] == pytest.approx(est, abs=TOL3), k
        assert pe.loc[k, "std_estimate_se"] == pytest.approx(se, abs=TOL3), k
    for f in ("visual", "textual", "speed"):  # std.all of an exogenous factor variance is 1 by construction
        assert pe.loc[(f, "~~", f), "std_estimate"] == 1.0 and pe.loc[(f, "~~", f), "std_estimate_se"] == 0.0


@pytest.mark.parametrize("missing", ["listwise", "fiml"])
def test_every_interval_brackets_its_estimate_on_the_demo(missing):
    from csi.data import demo
    from csi.model.templates import template
    survey = demo.generate(20240601)
    wave = survey.waves[list(survey.waves)[-1]]
    items = [c for c in wave.columns if c[-1].isdigit()]
    X = wave[items].astype("float").replace(99, np.nan)  # 99 = "don't know"
    r = cbsem.estimate_cbsem(X, template("ccsi", items), missing=missing)
    assert r.converged and len(r.paths) == 11
    tables = {"paths": "estimate", "outer": "loading", "variances": "estimate", "covariances": "estimate"}
    for name, est in tables.items():
        t = getattr(r, name)
        for e, lo, hi in ((est, "ci_low", "ci_high"), (f"{est}_unstd", "ci_low_unstd", "ci_high_unstd")):
            assert t[[e, lo, hi]].notna().all().all(), (name, e)
            assert ((t[lo] <= t[e]) & (t[e] <= t[hi])).all(), (name, e)
        free = t["std_error"] > 0
        np.testing.assert_allclose(t.loc[free, "z"], t.loc[free, est] / t.loc[free, "std_error"], rtol=1e-12)
    pe = r.params
    for e, lo, hi in (("estimate", "ci_low", "ci_high"), ("std_estimate", "std_ci_low", "std_ci_high")):
        assert pe[[e, lo, hi]].notna().all().all() and ((pe[lo] <= pe[e]) & (pe[e] <= pe[hi])).all()
    # the defect this guards against: the unstandardized Wald interval does not bracket the standardized estimate
    p = r.paths
    assert ((p["ci_low_unstd"] > p["estimate"]) | (p["ci_high_unstd"] < p["estimate"])).any()


def test_concurrent_fits_leave_the_process_state_alone(ecsi_data):
    """Two threads fitting CB-SEM at once (two dashboard sessions) leave stdout, the warnings filters, the root
    logger's handlers and filters and the BLAS thread limits exactly as they were, and give the results the
    same request gives alone."""
    import sys
    import threading
    import warnings

    from threadpoolctl import threadpool_info

    spec = ModelSpec.from_parts(BLOCKS, PATHS)
    root = logging.getLogger()
    before = (sys.stdout, sys.stderr, list(warnings.filters), list(root.handlers), list(root.filters),
              [(i["internal_api"], i["num_threads"]) for i in threadpool_info()])
    out, errors = {}, []

    def fit(k):
        try:
            out[k] = cbsem.estimate_cbsem(ecsi_data, spec, missing="fiml" if k else "listwise")
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=fit, args=(k,)) for k in (0, 1)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(600)
    assert not errors, errors
    after = (sys.stdout, sys.stderr, list(warnings.filters), list(root.handlers), list(root.filters),
             [(i["internal_api"], i["num_threads"]) for i in threadpool_info()])
    assert after == before
    alone = cbsem.estimate_cbsem(ecsi_data, spec)  # the same request alone: overlapping did not change it
    pd.testing.assert_frame_equal(out[0].params, alone.params, check_exact=True)
    assert out[1].info["missing"] == "fiml" and out[0].info["missing"] == "listwise"


def test_worker_start_ups_refuse_to_run_in_a_serving_process():
    """The only code that sets process-wide state (the CB-SEM worker's silencing, the pools' one BLAS thread, the
    Dask plugin) runs in worker processes of its own. Called in this (a non-worker) process, the start-ups refuse
    before changing anything, and the Dask plugin leaves the process that registered it alone; in a real spawn
    worker the limit is in force."""
    import sys
    import warnings
    from concurrent.futures import ProcessPoolExecutor
    import multiprocessing as mp

    from threadpoolctl import threadpool_info

    from csi.runtime import execution

    def state():
        root = logging.getLogger()
        return (sys.stdout, list(warnings.filters), list(root.handlers), list(root.filters),
                [(i["internal_api"], i["num_threads"]) for i in threadpool_info()],
                dict(execution._MALLOC_STATE))

    before = state()
    for start in (cbsem._worker_init, execution.one_blas_thread):
        with pytest.raises(RuntimeError, match="worker process of its own"):
            start()
    pytest.importorskip("distributed")
    execution.OneBlasThread().setup(worker=None)  # registered here, set up here: nothing changes
    plugin = execution.OneBlasThread()
    plugin.client_pid = -1  # registered by another process, but the worker is an inproc:// one living here
    plugin.setup(worker=type("W", (), {"address": "inproc://127.0.0.1/1/2"})())
    assert state() == before
    with ProcessPoolExecutor(1, mp_context=mp.get_context("spawn"), initializer=execution.one_blas_thread) as pool:
        limits = pool.submit(_blas_threads).result(timeout=120)
    assert limits and set(limits) == {1}, limits


def _blas_threads() -> list[int]:
    from threadpoolctl import threadpool_info

    return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]
