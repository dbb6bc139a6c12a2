"""PLS-PM engine: reference values (plspm), exact-covariance recovery (PLSc), weights, validation."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from csi.errors import CSIError, DataError, EstimationError, SpecError
from csi.engine.pls import _Design, _kernel, estimate_pls
from csi.model.syntax import ModelSpec, parse_model
from csi.model.templates import template

ROOT = Path(__file__).resolve().parents[1]
REF = Path(__file__).resolve().parent / "reference"


@pytest.fixture(scope="module")
def ecsi() -> pd.DataFrame:
    return pd.read_csv(ROOT / "data" / "ecsi_satisfaction.csv", index_col=0)


def _path(res, f, t):
    p = res.paths
    return float(p.loc[(p["from"] == f) & (p["to"] == t), "estimate"].iloc[0])


# --------------------------------------------------------------------------- published values
def test_published_ecsi_centroid_unscaled(ecsi):
    """Sanchez (2013) / plspm satisfaction example: centroid, scaled=FALSE, mode A (4 printed decimals)."""
    r = estimate_pls(ecsi, template("ecsi"), scheme="centroid", standardize=False)
    for (f, t), v in {("IMAG", "EXPE"): 0.5790, ("EXPE", "QUAL"): 0.8483, ("QUAL", "VAL"): 0.6767,
                      ("VAL", "SAT"): 0.5893, ("SAT", "LOY"): 0.4955}.items():
        assert _path(r, f, t) == pytest.approx(v, abs=5e-5)
    assert r.constructs.set_index("construct").loc["SAT", "r2"] == pytest.approx(0.7073, abs=5e-5)
    assert r.info["converged"] and r.info["n_used"] == 250


# --------------------------------------------------------------------------- plspm 0.5.7 fixtures
SETTINGS = {
    "centroid_raw": ("centroid", False, ()), "path_raw": ("path", False, ()),
    "factorial_raw": ("factorial", False, ()), "centroid_std": ("centroid", True, ()),
    "path_std": ("path", True, ()), "factorial_std": ("factorial", True, ()),
    "path_std_modeB": ("path", True, ("IMAG", "VAL")), "centroid_raw_modeB": ("centroid", False, ("QUAL",)),
}


@pytest.mark.parametrize("name", list(SETTINGS))
def test_matches_plspm_fixtures(ecsi, name):
    scheme, std, mode_b = SETTINGS[name]
    base = template("ecsi")
    spec = ModelSpec.from_parts(dict(base.blocks), base.paths, {c: "B" for c in mode_b})
    r = estimate_pls(ecsi, spec, scheme=scheme, standardize=std)
    n = r.info["n_used"]
    paths = pd.read_csv(REF / f"plspm_{name}_paths.csv")
    outer = pd.read_csv(REF / f"plspm_{name}_outer.csv")
    r2 = pd.read_csv(REF / f"plspm_{name}_r2.csv")
    assert list(r.paths["from"]) == list(paths["from"]) and list(r.paths["to"]) == list(paths["to"])
    np.testing.assert_allclose(r.paths["estimate"], paths["estimate"], rtol=0, atol=1e-6)
    assert list(r.outer["indicator"]) == list(outer["indicator"])
    # plspm scales scores to unit population variance (divisor n); csi to unit sample variance
    np.testing.assert_allclose(r.outer["weight"] * np.sqrt(n / (n - 1)), outer["weight"], rtol=0, atol=1e-6)
    np.testing.assert_allclose(r.outer["loading"], outer["loading"], rtol=0, atol=1e-6)
    np.testing.assert_allclose(r.constructs["r2"].fillna(0.0), r2["r2"], rtol=0, atol=1e-6)


def test_scheme_matters(ecsi):
    """The schemes give different (if close) answers: a wiring mistake would make them equal."""
    a = estimate_pls(ecsi, template("ecsi"), scheme="path")
    b = estimate_pls(ecsi, template("ecsi"), scheme="centroid")
    assert np.abs(a.paths["estimate"] - b.paths["estimate"]).max() > 1e-4


# --------------------------------------------------------------------------- tables are consistent
def test_tables_consistent(ecsi):
    r = estimate_pls(ecsi, template("ecsi"))
    sc = r.scores
    assert list(sc.index) == list(ecsi.index) and list(sc.columns) == list(r.spec.constructs)
    np.testing.assert_allclose(sc.std(ddof=1), 1.0, atol=1e-12)
    np.testing.assert_allclose(sc.mean(), 0.0, atol=1e-12)
    np.testing.assert_allclose(r.construct_corr, sc.corr(), atol=1e-12)
    # loadings = correlation of each indicator with its construct score, computed the slow way
    for _, row in r.outer.iterrows():
        assert row["loading"] == pytest.approx(np.corrcoef(ecsi[row["indicator"]], sc[row["construct"]])[0, 1], abs=1e-12)
        assert row["communality"] == pytest.approx(row["loading"] ** 2)
    assert r.cross_loadings.loc["sat2", "SAT"] == pytest.approx(r.outer.set_index("indicator").loc["sat2", "loading"])
    # paths and R² by OLS on the scores
    y, Xp = sc["SAT"].to_numpy(), sc[["IMAG", "EXPE", "QUAL", "VAL"]].to_numpy()
    b, *_ = np.linalg.lstsq(Xp, y, rcond=None)
    np.testing.assert_allclose(r.paths[r.paths.to == "SAT"]["estimate"], b, atol=1e-10)
    cons = r.constructs.set_index("construct")
    r2 = 1 - np.sum((y - Xp @ b) ** 2) / np.sum(y ** 2)
    assert cons.loc["SAT", "r2"] == pytest.approx(r2, abs=1e-10)
    assert cons.loc["SAT", "r2_adj"] == pytest.approx(1 - (1 - r2) * 249 / (250 - 4 - 1), abs=1e-10)
    assert np.isnan(cons.loc["IMAG", "r2"])
    # f² of QUAL -> SAT by refitting without QUAL
    Xe = sc[["IMAG", "EXPE", "VAL"]].to_numpy()
    be, *_ = np.linalg.lstsq(Xe, y, rcond=None)
    r2e = 1 - np.sum((y - Xe @ be) ** 2) / np.sum(y ** 2)
    f2 = r.f2.set_index(["from", "to"]).loc[("QUAL", "SAT"), "f2"]
    assert f2 == pytest.approx((r2 - r2e) / (1 - r2), abs=1e-10)
    # effects: IMAG -> QUAL is purely indirect through EXPE; totals add up
    e = r.effects.set_index(["from", "to"])
    assert e.loc[("IMAG", "QUAL"), "direct"] == 0
    assert e.loc[("IMAG", "QUAL"), "indirect"] == pytest.approx(_path(r, "IMAG", "EXPE") * _path(r, "EXPE", "QUAL"))
    np.testing.assert_allclose(e["direct"] + e["indirect"], e["total"])
    assert ("LOY", "IMAG") not in e.index and ("SAT", "EXPE") not in e.index
    # item moments and correlation are those of the raw data
    np.testing.assert_allclose(r.item_mean, ecsi[list(r.spec.indicators)].mean())
    np.testing.assert_allclose(r.item_sd, ecsi[list(r.spec.indicators)].std(ddof=1))
    np.testing.assert_allclose(r.corr, ecsi[list(r.spec.indicators)].corr(), atol=1e-12)


def test_sign_follows_majority_of_indicators(ecsi):
    """Reverse 3 of the 5 image items: the IMAG score must turn so that those 3 load positively."""
    flipped = ecsi.copy()
    rev, keep = ["imag1", "imag2", "imag3"], ["imag4", "imag5"]
    flipped[rev] = -flipped[rev]
    a = estimate_pls(ecsi, template("ecsi"))
    b = estimate_pls(flipped, template("ecsi"))
    la, lb = a.outer.set_index("indicator")["loading"], b.outer.set_index("indicator")["loading"]
    np.testing.assert_allclose(lb[rev], la[rev], atol=1e-10)
    np.testing.assert_allclose(lb[keep], -la[keep], atol=1e-10)
    wa, wb = a.outer.set_index("indicator")["weight"], b.outer.set_index("indicator")["weight"]
    np.testing.assert_allclose(wb[rev], wa[rev], atol=1e-10)
    np.testing.assert_allclose(wb[keep], -wa[keep], atol=1e-10)
    # the IMAG score is reversed, so its paths change sign and nothing else does
    touches = ((a.paths["from"] == "IMAG") | (a.paths["to"] == "IMAG")).to_numpy()
    np.testing.assert_allclose(b.paths["estimate"], np.where(touches, -1, 1) * a.paths["estimate"], atol=1e-10)


def test_kernel_batch_equals_single(ecsi):
    """A batch item's answer does not depend on its neighbours (the bootstrap relies on this)."""
    spec = template("ecsi")
    d = _Design.from_spec(spec)
    X = ecsi[list(spec.indicators)].to_numpy(float)
    rng = np.random.default_rng(3)
    S = np.stack([np.corrcoef(X[rng.integers(0, 250, 250)], rowvar=False) for _ in range(4)])
    wb, ib, cb = _kernel(S, d, "path", 1e-9, 300)
    for b in range(4):
        w1, i1, c1 = _kernel(S[b:b + 1], d, "path", 1e-9, 300)
        # equal up to rounding (BLAS may block a batch differently from a single matrix)
        np.testing.assert_allclose(wb[b], w1[0], rtol=0, atol=1e-13)
        assert ib[b] == i1[0] and cb[b] and c1[0]


# --------------------------------------------------------------------------- survey weights
def test_integer_weights_equal_replicated_rows(ecsi):
    rng = np.random.default_rng(11)
    f = rng.integers(0, 4, len(ecsi)).astype(float)
    rep = ecsi.loc[ecsi.index.repeat(f.astype(int))]
    a = estimate_pls(ecsi.assign(w=f), template("ecsi"), weights="w")
    b = estimate_pls(rep, template("ecsi"))
    np.testing.assert_allclose(a.paths["estimate"], b.paths["estimate"], atol=1e-9)
    np.testing.assert_allclose(a.outer["loading"], b.outer["loading"], atol=1e-9)
    np.testing.assert_allclose(a.item_mean, b.item_mean, atol=1e-12)
    # frequency weights normalised to n: the weighted covariance uses n_used - 1 of the *unreplicated* rows
    assert a.info["weights"] == "w" and a.info["n_used"] == 250


def test_weights_array_equals_column_and_unit_weights_are_neutral(ecsi):
    rng = np.random.default_rng(5)
    f = rng.uniform(0.2, 3, len(ecsi))
    a = estimate_pls(ecsi.assign(w=f), template("ecsi"), weights="w")
    b = estimate_pls(ecsi, template("ecsi"), weights=f * 7.0)   # scale of weights is irrelevant
    np.testing.assert_allclose(a.paths["estimate"], b.paths["estimate"], atol=1e-12)
    c = estimate_pls(ecsi, template("ecsi"), weights=np.ones(len(ecsi)))
    d = estimate_pls(ecsi, template("ecsi"))
    np.testing.assert_allclose(c.paths["estimate"], d.paths["estimate"], atol=1e-12)
    assert np.abs(a.paths["estimate"] - d.paths["estimate"]).max() > 1e-3


# --------------------------------------------------------------------------- PLSc on an exact population
def _exact_sample(n: int, seed: int):
    """Data whose sample covariance equals the implied Σ of a known factor model exactly (cSEM's trick)."""
    cons = ["X", "M1", "M2", "Y"]
    paths = {("X", "M1"): 0.6, ("X", "M2"): 0.3, ("M1", "M2"): 0.5, ("M1", "Y"): 0.4, ("M2", "Y"): 0.35}
    lam = {"X": [0.7, 0.8, 0.9], "M1": [0.6, 0.75, 0.85, 0.7], "M2": [0.8, 0.8, 0.65], "Y": [0.9, 0.7, 0.75]}
    J = len(cons)
    Bm = np.zeros((J, J))
    for (f, t), v in paths.items():
        Bm[cons.index(f), cons.index(t)] = v
    phi = np.eye(J)
    for k in range(J):                      # standardised latent covariance, in causal order
        P = np.flatnonzero(Bm[:, k])
        for m in range(k):
            phi[k, m] = phi[m, k] = Bm[P, k] @ phi[P, m]
    items, L = [], []
    for j, c in enumerate(cons):
        for i, l in enumerate(lam[c]):
            items.append(f"{c.lower()}{i + 1}")
            row = np.zeros(J)
            row[j] = l
            L.append(row)
    L = np.array(L)
    sigma = L @ phi @ L.T
    np.fill_diagonal(sigma, 1.0)
    rng = np.random.default_rng(seed)
    Z = rng.standard_normal((n, len(items)))
    Z -= Z.mean(0)
    Z = Z @ np.linalg.inv(np.linalg.cholesky(np.cov(Z, rowvar=False)).T) @ np.linalg.cholesky(sigma).T
    blocks = {c: [f"{c.lower()}{i + 1}" for i in range(len(lam[c]))] for c in cons}
    spec = ModelSpec.from_parts(blocks, list(paths))
    return pd.DataFrame(Z * 2.0 + 5.0, columns=items), spec, paths, lam


@pytest.mark.parametrize("scheme", ["path", "centroid", "factorial"])
def test_plsc_recovers_truth_exactly(scheme):
    data, spec, truth, lam = _exact_sample(400, seed=7)
    r = estimate_pls(data, spec, scheme=scheme, plsc=True, tol=1e-13, max_iter=1000)
    for (f, t), v in truth.items():
        assert _path(r, f, t) == pytest.approx(v, abs=1e-10)
    got = r.outer.set_index("indicator")["loading"]
    for c, ls in lam.items():
        np.testing.assert_allclose(got[[f"{c.lower()}{i + 1}" for i in range(len(ls))]], ls, atol=1e-10)
    # same answer on the raw (unstandardised) scale: PLSc works on correlations
    r2 = estimate_pls(data, spec, scheme=scheme, plsc=True, standardize=False, tol=1e-13, max_iter=1000)
    for (f, t), v in truth.items():
        assert _path(r2, f, t) == pytest.approx(v, abs=1e-9)
    assert set(r.info["rho_a"]) == set(spec.constructs) and all(0 < v < 1 for v in r.info["rho_a"].values())


def test_plain_pls_is_attenuated():
    data, spec, truth, _ = _exact_sample(400, seed=7)
    r = estimate_pls(data, spec, plsc=False)
    # composites contain measurement error: the X -> M1 path is visibly attenuated
    assert truth[("X", "M1")] - _path(r, "X", "M1") > 0.05
    assert max(abs(_path(r, f, t) - v) for (f, t), v in truth.items()) > 0.05


# --------------------------------------------------------------------------- missing data
def test_missing_listwise_and_mean(ecsi):
    d = ecsi.copy()
    d.loc[d.index[:5], "sat1"] = np.nan
    d.loc[d.index[3], "imag2"] = np.nan
    d.loc[d.index[10], list(template("ecsi").indicators)] = np.nan
    r = estimate_pls(d, template("ecsi"))
    assert (r.info["n_used"], r.info["n_dropped"], r.info["n_total"]) == (244, 6, 250)
    assert d.index[0] not in r.scores.index
    m = estimate_pls(d, template("ecsi"), missing="mean")
    assert m.info["n_used"] == 249 and d.index[0] in m.scores.index
    assert m.item_mean["sat1"] == pytest.approx(d["sat1"].drop(d.index[10]).mean())


# --------------------------------------------------------------------------- validation
def test_unknown_columns_named(ecsi):
    with pytest.raises(SpecError, match="imag5, loy4"):
        estimate_pls(ecsi.drop(columns=["imag5", "loy4"]), template("ecsi"))


def test_bad_inputs(ecsi):
    spec = template("ecsi")
    with pytest.raises(DataError, match="non-numeric.*gender"):
        estimate_pls(ecsi, parse_model("A =~ imag1 + gender\nB =~ sat1 + sat2\nB ~ A"))
    with pytest.raises(DataError, match="qual3 has no variance"):
        estimate_pls(ecsi.assign(qual3=7), spec)
    with pytest.raises(DataError, match="too few usable rows: 4"):
        estimate_pls(ecsi.head(4), spec)
    with pytest.raises(DataError, match="negative"):
        estimate_pls(ecsi, spec, weights=-np.ones(250))
    with pytest.raises(DataError, match="missing or infinite"):
        estimate_pls(ecsi.assign(w=np.r_[np.nan, np.ones(249)]), spec, weights="w")
    with pytest.raises(DataError, match="'nope' not found"):
        estimate_pls(ecsi, spec, weights="nope")
    with pytest.raises(DataError, match="one value per row"):
        estimate_pls(ecsi, spec, weights=np.ones(3))
    with pytest.raises(SpecError, match="unknown scheme"):
        estimate_pls(ecsi, spec, scheme="pathway")
    with pytest.raises(SpecError, match="missing-data"):
        estimate_pls(ecsi, spec, missing="pairwise")
    with pytest.raises(DataError, match="DataFrame"):
        estimate_pls(ecsi.to_numpy(), spec)
    with pytest.raises(EstimationError, match="did not converge"):
        estimate_pls(ecsi, spec, max_iter=2)
    assert issubclass(EstimationError, CSIError)


def test_sign_rule_flips_a_minority_driven_score(ecsi):
    """Raw scale, one dominant item against two reversed ones: the iteration lands on a score that most
    items load on negatively; the sign rule must turn it round (2 positive loadings, 1 negative)."""
    d = ecsi.assign(imag1=ecsi["imag1"] * 30, imag2=-ecsi["imag2"], imag3=-ecsi["imag3"])
    spec = parse_model("IMAG =~ imag1 + imag2 + imag3\nSAT =~ sat1 + sat2 + sat3\nSAT ~ IMAG")
    r = estimate_pls(d, spec, standardize=False)
    lo = r.outer.set_index("indicator")["loading"]
    assert lo["imag1"] < 0 < lo["imag2"] and lo["imag3"] > 0
    assert _path(r, "IMAG", "SAT") < 0


# --------------------------------------------------------------------------- R plspm's own output
# Values printed by R plspm (satisfaction data, scaled = FALSE, default tol 1e-6) as recorded in the
# regression fixtures of GoogleCloudPlatform/plspm-python (tests/data/satisfaction.outer-model*.csv,
# satisfaction.inner-summary.csv). R stops at tol 1e-6, so agreement is ~4e-7, tested to 1e-6.
R_CENTROID = {"imag1": (0.0982418501741741, 0.70932650116601), "imag5": (0.184330241358762, 0.77846683251928),
              "expe2": (0.140693124381936, 0.837418997567575), "qual4": (0.0956184636638662, 0.788981936722486),
              "val1": (0.174960810051613, 0.864821997997945), "sat3": (0.121091359148817, 0.825878617822696),
              "loy2": (0.081728096069474, 0.671101376778201)}
R_PATH = {"imag3": (0.157340626997026, 0.842359193682084), "val2": (0.121254528616825, 0.799328099439193),
          "sat2": (0.157704893306817, 0.913547232451711), "loy4": (0.0786269581935837, 0.678814311108138)}
R_R2 = {"EXPE": 0.335193672418813, "QUAL": 0.719688235228933, "VAL": 0.59008437279849,
        "SAT": 0.707320949544597, "LOY": 0.509922562050087}
R_AVE = {"IMAG": 0.582269092760334, "EXPE": 0.616419883010119, "QUAL": 0.65857174851724,
         "VAL": 0.66441556645883, "SAT": 0.75889072736371, "LOY": 0.639051735398058}


@pytest.mark.parametrize("scheme,ref", [("centroid", R_CENTROID), ("path", R_PATH)])
def test_matches_r_plspm_printed_values(ecsi, scheme, ref):
    r = estimate_pls(ecsi, template("ecsi"), scheme=scheme, standardize=False)
    o = r.outer.set_index("indicator")
    n = r.info["n_used"]
    for item, (w, lam) in ref.items():
        assert o.loc[item, "weight"] * np.sqrt(n / (n - 1)) == pytest.approx(w, abs=1e-6)
        assert o.loc[item, "loading"] == pytest.approx(lam, abs=1e-6)
    if scheme == "centroid":
        cons = r.constructs.set_index("construct")
        for c, v in R_R2.items():
            assert cons.loc[c, "r2"] == pytest.approx(v, abs=1e-6)
        ave = r.outer.groupby("construct")["communality"].mean()
        for c, v in R_AVE.items():
            assert ave[c] == pytest.approx(v, abs=1e-6)


def test_single_indicator_and_mode_b_blocks(ecsi):
    spec = parse_model("IMAG <~ imag1 + imag2 + imag3\nEXPE =~ expe1\nSAT =~ sat1 + sat2 + sat3\n"
                       "EXPE ~ IMAG\nSAT ~ IMAG + EXPE")
    r = estimate_pls(ecsi, spec)
    o = r.outer.set_index("indicator")
    assert o.loc["expe1", "loading"] == pytest.approx(1.0) and o.loc["expe1", "weight"] == pytest.approx(1.0)
    # mode B weights are the OLS regression of the inner proxy on the block: check via the scores
    sc = r.scores
    X = ((ecsi[["imag1", "imag2", "imag3"]] - ecsi[["imag1", "imag2", "imag3"]].mean())
         / ecsi[["imag1", "imag2", "imag3"]].std()).to_numpy()
    np.testing.assert_allclose(X @ o.loc[["imag1", "imag2", "imag3"], "weight"].to_numpy(), sc["IMAG"], atol=1e-10)
    rc = estimate_pls(ecsi, spec, plsc=True)
    assert rc.info["rho_a"]["EXPE"] == 1.0 and rc.info["rho_a"]["IMAG"] == 1.0 and rc.info["rho_a"]["SAT"] < 1
    # only SAT is corrected: EXPE -> SAT grows in magnitude by 1/sqrt(rho_A(SAT)) in the bivariate case
    two = parse_model("EXPE =~ expe1\nSAT =~ sat1 + sat2 + sat3\nSAT ~ EXPE")
    a, b = estimate_pls(ecsi, two), estimate_pls(ecsi, two, plsc=True)
    assert _path(b, "EXPE", "SAT") == pytest.approx(_path(a, "EXPE", "SAT") / np.sqrt(b.info["rho_a"]["SAT"]))


def test_plsc_refuses_blocks_without_common_factor(ecsi):
    rng = np.random.default_rng(0)
    d = ecsi.assign(n1=rng.standard_normal(250), n2=rng.standard_normal(250), n3=rng.standard_normal(250))
    spec = parse_model("N =~ n1 + n2 + n3\nSAT =~ sat1 + sat2 + sat3\nSAT ~ N")
    with pytest.raises(EstimationError, match="PLSc"):
        estimate_pls(d, spec, plsc=True)
