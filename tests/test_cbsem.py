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
        assert out.loc[item, "std_error"] == pytest.approx(se, abs=TOL3)
        assert out.loc[item, "loading"] == pytest.approx(std, abs=TOL3)
    for item, std in {"x1": 0.772, "x4": 0.852, "x7": 0.570}.items():  # markers
        assert out.loc[item, "loading_unstd"] == 1.0 and np.isnan(out.loc[item, "std_error"])
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
    assert list(hs.outer.columns) == ["construct", "indicator", "loading", "loading_unstd", "std_error", "z",
                                      "p_value"]


def test_holzinger_fiml_on_complete_data_equals_ml(hs):
    from semopy.examples import holzinger39 as h
    f = cbsem._estimate(h.get_model(), h.get_data(), latents=["visual", "textual", "speed"], fiml=True)
    np.testing.assert_allclose(f.outer["loading_unstd"], hs.outer["loading_unstd"], atol=2e-4)
    np.testing.assert_allclose(f.outer["std_error"], hs.outer["std_error"], atol=1e-5)  # expected information
    np.testing.assert_allclose(f.variances["std_error"], hs.variances["std_error"], atol=1e-5)
    assert f.fit["chi2"] == pytest.approx(hs.fit["chi2"], abs=1e-3)
    assert f.fit["cfi"] == pytest.approx(hs.fit["cfi"], abs=1e-5)
    # the mean structure adds 9 intercepts to the parameters (lavaan: AIC 7535.490, BIC 7646.703)
    assert f.fit["npar"] == 30 and f.fit["df"] == 24
    assert f.fit["aic"] == pytest.approx(hs.fit["aic"] + 18, abs=1e-3)
    assert f.fit["aic"] == pytest.approx(7535.490, abs=TOL3)
    assert f.fit["bic"] == pytest.approx(7646.703, abs=TOL3)


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
        assert p.loc[(a, b), "std_error"] == pytest.approx(se, abs=TOL3)
        assert p.loc[(a, b), "estimate"] == pytest.approx(std, abs=TOL3)
    o = r.outer.set_index("indicator")
    for item, (est, se) in {"x2": (2.180, 0.139), "x3": (1.819, 0.152), "y2": (1.257, 0.182), "y3": (1.058, 0.151),
                            "y4": (1.265, 0.145), "y6": (1.186, 0.169), "y7": (1.280, 0.160),
                            "y8": (1.266, 0.158)}.items():
        assert o.loc[item, "loading_unstd"] == pytest.approx(est, abs=TOL3)
        assert o.loc[item, "std_error"] == pytest.approx(se, abs=TOL3)
    c = {frozenset((x.var_1, x.var_2)): x for x in r.covariances.itertuples()}
    for pair, (est, se) in {("y1", "y5"): (0.624, 0.358), ("y2", "y4"): (1.313, 0.702), ("y2", "y6"): (2.153, 0.734),
                            ("y3", "y7"): (0.795, 0.608), ("y4", "y8"): (0.348, 0.442),
                            ("y6", "y8"): (1.356, 0.568)}.items():
        assert c[frozenset(pair)].estimate_unstd == pytest.approx(est, abs=TOL3)
        assert c[frozenset(pair)].std_error == pytest.approx(se, abs=TOL3)
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
    assert list(ecsi.paths.columns) == ["from", "to", "estimate", "estimate_unstd", "std_error", "z", "p_value"]
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
