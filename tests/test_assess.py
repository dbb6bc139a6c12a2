"""Quality criteria (csi.assess) against independent loop implementations, plspm fixtures and known truths.

ECSI data: data/ecsi_satisfaction.csv (the `satisfaction` data of R plspm, 250 respondents; provenance in
/work/shared/data/README.md). plspm fixtures: tests/reference/assess_make_plspm_fixtures.py.
"""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from csi.evaluate import assess
from csi.errors import CSIError
from csi.model.syntax import ModelSpec

ROOT = Path(__file__).resolve().parents[1]
REF = ROOT / "tests" / "reference"
BLOCKS = {"IMAG": [f"imag{i}" for i in range(1, 6)], "EXPE": [f"expe{i}" for i in range(1, 6)],
          "QUAL": [f"qual{i}" for i in range(1, 6)], "VAL": [f"val{i}" for i in range(1, 5)],
          "SAT": [f"sat{i}" for i in range(1, 5)], "LOY": [f"loy{i}" for i in range(1, 5)]}
PATHS = [("IMAG", "EXPE"), ("EXPE", "QUAL"), ("EXPE", "VAL"), ("QUAL", "VAL"), ("IMAG", "SAT"),
         ("EXPE", "SAT"), ("QUAL", "SAT"), ("VAL", "SAT"), ("IMAG", "LOY"), ("SAT", "LOY")]
ORDER = list(BLOCKS)
ITEMS = [i for b in BLOCKS.values() for i in b]


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return pd.read_csv(ROOT / "data" / "ecsi_satisfaction.csv", index_col=0)[ITEMS].astype(float)


@pytest.fixture(scope="module")
def corr(data) -> np.ndarray:
    return np.corrcoef(data.to_numpy(), rowvar=False)


def idx_blocks():
    return [[ITEMS.index(i) for i in BLOCKS[c]] for c in ORDER]


# ------------------------------------------------------------------ independent references
def htmt_loop(R, blocks, geometric=False):
    J = len(blocks)
    out = np.full((J, J), np.nan)

    def agg(vals):
        vals = [abs(v) for v in vals]
        if geometric:
            return float(np.exp(np.mean(np.log(vals))))
        return sum(vals) / len(vals)

    mono = []
    for b in blocks:
        vals = [R[b[i], b[j]] for i in range(len(b)) for j in range(i + 1, len(b))]
        mono.append(agg(vals) if vals else np.nan)
    for a in range(J):
        for b in range(J):
            if a != b:
                het = agg([R[i, j] for i in blocks[a] for j in blocks[b]])
                out[a, b] = het / np.sqrt(mono[a] * mono[b])
    return out


def alpha_loop(z: np.ndarray) -> float:
    """Textbook alpha on z-scored items: k/(k-1) (1 - sum of item variances / variance of the sum)."""
    k = z.shape[1]
    item_var = sum(np.var(z[:, i], ddof=1) for i in range(k))
    return k / (k - 1) * (1 - item_var / np.var(z.sum(axis=1), ddof=1))


def ols_r2(y: np.ndarray, X: np.ndarray) -> float:
    X1 = np.column_stack([np.ones(len(y)), X])
    beta, *_ = np.linalg.lstsq(X1, y, rcond=None)
    resid = y - X1 @ beta
    return 1 - resid.var() / y.var()


def fake_result(data: pd.DataFrame, modes=None, weights=None, loadings=None, single=None):
    """A PLSResult look-alike built from plspm's outer weights (no dependency on csi.pls)."""
    modes = modes or {}
    blocks = {c: list(v) for c, v in BLOCKS.items()}
    if single:
        blocks[single] = blocks[single][:1]
    spec = ModelSpec.from_parts(blocks, PATHS, modes)
    outer = pd.read_csv(REF / "assess_plspm_outer.csv").set_index("indicator")
    if weights is not None:
        outer["weight"] = weights
    z = (data - data.mean()) / data.std(ddof=1)
    scores = {}
    for c in spec.constructs:
        s = z[list(spec.blocks[c])].to_numpy() @ outer.loc[list(spec.blocks[c]), "weight"].to_numpy()
        scores[c] = (s - s.mean()) / s.std(ddof=1)
    scores = pd.DataFrame(scores, index=data.index)
    load = [np.corrcoef(z[i], scores[spec.construct_of(i)])[0, 1] for i in spec.indicators]
    out = pd.DataFrame({"construct": [spec.construct_of(i) for i in spec.indicators],
                        "indicator": list(spec.indicators),
                        "weight": outer.loc[list(spec.indicators), "weight"].to_numpy(),
                        "loading": load if loadings is None else loadings})
    cols = list(spec.indicators)
    return SimpleNamespace(spec=spec, corr=data[cols].corr(), outer=out, scores=scores,
                           info={"standardize": True}, item_sd=data[cols].std(ddof=1))


# ------------------------------------------------------------------------------- HTMT
def test_htmt_matches_loop_on_ecsi(corr):
    got = assess.htmt_matrix(corr, idx_blocks())
    ref = htmt_loop(corr, idx_blocks())
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-12)
    assert np.allclose(got, got.T, equal_nan=True) and np.isnan(np.diag(got)).all()
    # EXPE and QUAL are nearly collinear in this data: their HTMT must exceed the 0.85 threshold
    assert got[1, 2] > 0.85


def test_htmt2_matches_loop(corr):
    got = assess.htmt_matrix(corr, idx_blocks(), kind="htmt2")
    np.testing.assert_allclose(got, htmt_loop(corr, idx_blocks(), geometric=True), atol=1e-12)
    assert not np.allclose(got, assess.htmt_matrix(corr, idx_blocks()), equal_nan=True)


def test_htmt_batched_equals_single(data):
    rng = np.random.default_rng(11)
    x = data.to_numpy()
    stack = np.stack([np.corrcoef(x[rng.integers(0, len(x), len(x))], rowvar=False) for _ in range(7)])
    batched = assess.htmt_matrix(stack.reshape(7, 1, *stack.shape[1:]), idx_blocks())
    assert batched.shape == (7, 1, 6, 6)
    for b in range(7):
        np.testing.assert_allclose(batched[b, 0], htmt_loop(stack[b], idx_blocks()), atol=1e-12)


def test_htmt_absolute_vs_raw_with_reversed_item(corr):
    flip = np.ones(len(ITEMS))
    flip[ITEMS.index("imag4")] = -1  # a reverse-keyed item
    R = corr * np.outer(flip, flip)
    np.testing.assert_allclose(assess.htmt_matrix(R, idx_blocks()), assess.htmt_matrix(corr, idx_blocks()),
                               atol=1e-12)
    raw = assess.htmt_matrix(R, idx_blocks(), absolute=False)
    assert abs(raw[0, 1] - assess.htmt_matrix(corr, idx_blocks())[0, 1]) > 1e-3


def test_htmt_single_item_block_is_nan(corr):
    blocks = idx_blocks()
    blocks[5] = blocks[5][:1]
    h = assess.htmt_matrix(corr, blocks)
    assert np.isnan(h[5]).all() and np.isnan(h[:, 5]).all()
    assert np.isfinite(h[0, 1])


def test_htmt_recovers_construct_correlation_for_tau_equivalent_blocks():
    # HTMT is consistent for the factor correlation when loadings are equal within a block
    lam = np.array([0.7, 0.7, 0.7, 0.8, 0.8, 0.8])
    phi = 0.6
    L = np.zeros((6, 2))
    L[:3, 0], L[3:, 1] = lam[:3], lam[3:]
    R = L @ np.array([[1, phi], [phi, 1]]) @ L.T
    np.fill_diagonal(R, 1.0)
    assert assess.htmt_matrix(R, [[0, 1, 2], [3, 4, 5]])[0, 1] == pytest.approx(phi, abs=1e-12)


def test_htmt_rejects_bad_input():
    with pytest.raises(CSIError):
        assess.htmt_matrix(np.eye(3), [[0, 1], [2]], kind="nope")
    with pytest.raises(CSIError):
        assess.htmt_matrix(np.ones((3, 2)), [[0, 1]])


# ------------------------------------------------------------------------ reliability
def test_alpha_matches_plspm_and_textbook_formula(data, corr):
    uni = pd.read_csv(REF / "assess_plspm_unidim.csv", index_col="construct")
    got = assess.cronbach_alpha(corr, idx_blocks())
    np.testing.assert_allclose(got, uni.loc[ORDER, "cronbach_alpha"].to_numpy(), atol=1e-9)
    z = ((data - data.mean()) / data.std(ddof=1)).to_numpy()
    for j, b in enumerate(idx_blocks()):
        assert got[j] == pytest.approx(alpha_loop(z[:, b]), abs=1e-12)


def test_rho_c_of_first_component_matches_plspm_dg_rho(corr):
    uni = pd.read_csv(REF / "assess_plspm_unidim.csv", index_col="construct")
    for j, (c, b) in enumerate(zip(ORDER, idx_blocks())):
        vals, vecs = np.linalg.eigh(corr[np.ix_(b, b)])
        lam = np.abs(vecs[:, -1]) * np.sqrt(vals[-1])  # loadings on the first principal component
        assert assess.rho_c(lam) == pytest.approx(uni.loc[c, "dillon_goldstein_rho"], abs=1e-9)
        assert vals[-1] == pytest.approx(uni.loc[c, "eig_1st"], abs=1e-9)


def test_ave_matches_plspm():
    outer = pd.read_csv(REF / "assess_plspm_outer.csv").set_index("indicator")
    inner = pd.read_csv(REF / "assess_plspm_inner.csv").set_index("construct")
    for c in ORDER:
        assert assess.ave(outer.loc[BLOCKS[c], "loading"]) == pytest.approx(inner.loc[c, "ave"], abs=1e-9)


def test_rho_c_and_ave_hand_values():
    lam = np.array([0.8, 0.7, 0.6])
    assert assess.rho_c(lam) == pytest.approx(2.1 ** 2 / (2.1 ** 2 + (0.36 + 0.51 + 0.64)), abs=1e-15)
    assert assess.ave(lam) == pytest.approx((0.64 + 0.49 + 0.36) / 3, abs=1e-15)


def test_rho_a_equals_true_composite_reliability_at_population():
    # congeneric block, weights proportional to the loadings (mode A at the population):
    # rho_A must equal the squared correlation between the composite and the true factor
    lam = np.array([0.9, 0.75, 0.6, 0.45])
    R = np.outer(lam, lam)
    np.fill_diagonal(R, 1.0)
    truth = (lam @ lam) ** 2 / (lam @ R @ lam)
    assert assess.rho_a(R, lam) == pytest.approx(truth, abs=1e-12)
    assert assess.rho_a(R, 3.7 * lam) == pytest.approx(truth, abs=1e-12)  # any positive scale


def test_rho_a_matches_loop_formula_on_ecsi(corr):
    outer = pd.read_csv(REF / "assess_plspm_outer.csv").set_index("indicator")
    for c, b in zip(ORDER, idx_blocks()):
        S = corr[np.ix_(b, b)]
        w = outer.loc[BLOCKS[c], "weight"].to_numpy()
        w = w / np.sqrt(sum(w[i] * w[j] * S[i, j] for i in range(len(b)) for j in range(len(b))))
        k = len(b)
        num = sum(w[i] * w[j] * S[i, j] for i in range(k) for j in range(k) if i != j)
        den = sum(w[i] ** 2 * w[j] ** 2 for i in range(k) for j in range(k) if i != j)
        ref = sum(x * x for x in w) ** 2 * num / den
        assert assess.rho_a(S, w) == pytest.approx(ref, abs=1e-12)
        assert 0.7 < ref < 1.0


# ------------------------------------------------------------------------- VIF and f²
def test_vif_matches_auxiliary_regressions(data, corr):
    x = data.to_numpy()
    for b in idx_blocks():
        v = assess.vif(corr[np.ix_(b, b)])
        for k, col in enumerate(b):
            others = [c for c in b if c != col]
            assert v[k] == pytest.approx(1 / (1 - ols_r2(x[:, col], x[:, others])), abs=1e-9)
    assert assess.vif(np.ones((1, 1)))[0] == 1.0
    assert np.isinf(assess.vif(np.ones((2, 2)))).all()


def test_f2_and_r2_match_ols(data):
    rng = np.random.default_rng(3)
    X = rng.normal(size=(200, 4))
    X[:, 3] = 0.5 * X[:, 0] - 0.3 * X[:, 1] + 0.2 * X[:, 2] + rng.normal(size=200)
    C = np.corrcoef(X, rowvar=False)
    r2_in = ols_r2(X[:, 3], X[:, :3])
    assert assess.r2_from_corr(C, 3, [0, 1, 2]) == pytest.approx(r2_in, abs=1e-12)
    for k in range(3):
        r2_ex = ols_r2(X[:, 3], X[:, [q for q in range(3) if q != k]])
        assert assess.f2_from_corr(C, 3, [0, 1, 2], k) == pytest.approx((r2_in - r2_ex) / (1 - r2_in), abs=1e-12)
    assert [assess.f2_size(v) for v in (0.01, 0.02, 0.15, 0.349, 0.35)] == \
        ["none", "small", "medium", "medium", "large"]


def test_criteria_registry():
    c = assess.CRITERIA
    assert (c["alpha"].threshold, c["rho_a"].threshold, c["rho_c"].threshold, c["ave"].threshold) == \
        (0.7, 0.7, 0.7, 0.5)
    assert (c["htmt_strict"].threshold, c["htmt_liberal"].threshold, c["vif"].threshold,
            c["vif_ideal"].threshold, c["loading"].threshold, c["rho_c_max"].threshold) == \
        (0.85, 0.9, 5.0, 3.3, 0.708, 0.95)
    v = c["ave"].check([0.49, 0.5, np.nan])
    assert not bool(v[0]) and bool(v[1]) and pd.isna(v[2])
    assert list(c["htmt_strict"].check([0.84, 0.85])) == [True, False]


# -------------------------------------------------------------------------- assess_pls
def test_assess_pls_tables_on_fake_result(data, corr):
    res = fake_result(data)
    t = assess.assess_pls(res)
    rel = t["reliability"].set_index("construct")
    assert list(t["reliability"].columns[:10]) == ["construct", "mode", "n_indicators", "alpha", "rho_a",
                                                    "rho_c", "ave", "alpha_ok", "rho_a_ok", "rho_c_ok"]
    uni = pd.read_csv(REF / "assess_plspm_unidim.csv", index_col="construct")
    inner = pd.read_csv(REF / "assess_plspm_inner.csv").set_index("construct")
    np.testing.assert_allclose(rel.loc[ORDER, "alpha"], uni.loc[ORDER, "cronbach_alpha"], atol=1e-9)
    # loadings recomputed from scores built with plspm's weights reproduce plspm's AVE
    np.testing.assert_allclose(rel.loc[ORDER, "ave"], inner.loc[ORDER, "ave"], atol=1e-9)
    assert rel["ave_ok"].all() and rel["alpha_ok"].all()
    h = t["htmt"]
    assert list(h.columns) == ["construct_1", "construct_2", "htmt", "ci_low", "ci_high", "ok_085", "ok_090",
                               "ci_ok_090"]
    assert len(h) == 15 and h["ci_low"].isna().all()
    eq = h[(h.construct_1 == "EXPE") & (h.construct_2 == "QUAL")].iloc[0]
    assert eq["htmt"] == pytest.approx(htmt_loop(corr, idx_blocks())[1, 2], abs=1e-12)
    assert not eq["ok_085"]
    # Fornell–Larcker: sqrt(AVE) on the diagonal, score correlations off it
    fl = t["fornell_larcker"].set_index(["construct_1", "construct_2"])["value"]
    assert fl[("SAT", "SAT")] == pytest.approx(np.sqrt(rel.loc["SAT", "ave"]))
    assert fl[("SAT", "LOY")] == pytest.approx(np.corrcoef(res.scores["SAT"], res.scores["LOY"])[0, 1])
    assert set(t["fornell_larcker_check"].columns) == {"construct", "sqrt_ave", "max_abs_corr", "ok"}
    # inner VIF and f² agree with OLS on the scores
    s = res.scores
    vi = t["vif_inner"].set_index(["construct", "predictor"])["vif"]
    preds = ["IMAG", "EXPE", "QUAL", "VAL"]
    r2 = ols_r2(s["QUAL"].to_numpy(), s[["IMAG", "EXPE", "VAL"]].to_numpy())
    assert vi[("SAT", "QUAL")] == pytest.approx(1 / (1 - r2), abs=1e-9)
    f2 = t["f2"].set_index(["from", "to"])
    r2_in = ols_r2(s["SAT"].to_numpy(), s[preds].to_numpy())
    r2_ex = ols_r2(s["SAT"].to_numpy(), s[["IMAG", "EXPE", "QUAL"]].to_numpy())
    assert f2.loc[("VAL", "SAT"), "f2"] == pytest.approx((r2_in - r2_ex) / (1 - r2_in), abs=1e-9)
    assert list(t["f2"].columns) == ["from", "to", "f2", "size"] and len(t["f2"]) == len(PATHS)
    assert list(t["vif_outer"].columns) == ["construct", "indicator", "mode", "vif", "ok", "ideal"]
    lc = t["loadings_check"]
    assert {"construct", "indicator", "loading", "ok", "action"} <= set(lc.columns)
    assert (lc.loc[lc.loading >= 0.708, "action"] == "keep").all()


def test_assess_pls_mode_b_and_single_item_notes(data):
    res = fake_result(data, modes={"VAL": "B"}, single="LOY")
    t = assess.assess_pls(res)
    rel = t["reliability"].set_index("construct")
    assert rel.loc[["VAL", "LOY"], ["alpha", "rho_a", "rho_c", "ave"]].isna().all().all()
    assert pd.isna(rel.loc["VAL", "ave_ok"])
    notes = t["notes"]
    assert ((notes.construct == "VAL") & notes.note.str.contains("formative")).any()
    assert ((notes.construct == "LOY") & notes.note.str.contains("single-item")).any()
    assert notes["note_zh"].str.len().gt(0).all()
    assert t["htmt"].query("construct_1 == 'LOY' or construct_2 == 'LOY'")["htmt"].isna().all()
    lc = t["loadings_check"].set_index("indicator")
    assert lc.loc["val1", "action"].startswith("not applicable") and pd.isna(lc.loc["val1", "ok"])
    assert t["vif_outer"].set_index("indicator").loc["val1", "vif"] > 1


def test_assess_pls_bootstrap_intervals(data):
    res = fake_result(data)
    rng = np.random.default_rng(5)
    cols = pd.MultiIndex.from_tuples([(a, b) for i, a in enumerate(ORDER) for b in ORDER[i + 1:]],
                                     names=["construct_1", "construct_2"])
    draws = pd.DataFrame(rng.uniform(0.2, 0.95, size=(2001, len(cols))), columns=cols)
    draws.loc[0, ("IMAG", "EXPE")] = np.nan  # a dropped value must not poison the interval
    boot = SimpleNamespace(draws={"htmt": draws})
    h = assess.assess_pls(res, boot)["htmt"].set_index(["construct_1", "construct_2"])
    d = draws[("QUAL", "VAL")].to_numpy()
    assert h.loc[("QUAL", "VAL"), "ci_low"] == pytest.approx(np.quantile(d, 0.05))
    assert h.loc[("QUAL", "VAL"), "ci_high"] == pytest.approx(np.quantile(d, 0.95))
    assert np.isfinite(h.loc[("IMAG", "EXPE"), "ci_high"])
    assert h["ci_ok_090"].notna().all()


def test_assess_pls_raw_scale_weights_are_standardized(data):
    # weights reported for centred raw indicators (standardize=False) must give the same rho_A
    res = fake_result(data)
    sd = data[ITEMS].std(ddof=1)
    raw = fake_result(data)
    raw.outer = raw.outer.assign(weight=raw.outer["weight"].to_numpy() / sd[raw.outer.indicator].to_numpy())
    raw.info = {"standardize": False}
    a = assess.assess_pls(res)["reliability"]["rho_a"].to_numpy()
    b = assess.assess_pls(raw)["reliability"]["rho_a"].to_numpy()
    np.testing.assert_allclose(a, b, atol=1e-12)


def test_assess_pls_rejects_bad_options(data):
    res = fake_result(data)
    with pytest.raises(CSIError):
        assess.assess_pls(res, htmt_kind="htmt3")
    with pytest.raises(CSIError):
        assess.assess_pls(res, alpha=1.5)


def test_assess_pls_with_the_real_engine(data):
    import csi.engine.pls as pls
    spec = ModelSpec.from_parts(BLOCKS, PATHS)
    res = pls.estimate_pls(pd.read_csv(ROOT / "data" / "ecsi_satisfaction.csv", index_col=0), spec)
    t = assess.assess_pls(res)
    rel = t["reliability"].set_index("construct")
    uni = pd.read_csv(REF / "assess_plspm_unidim.csv", index_col="construct")
    np.testing.assert_allclose(rel.loc[ORDER, "alpha"], uni.loc[ORDER, "cronbach_alpha"], atol=1e-9)
    out = res.outer.set_index("indicator")
    for c in ORDER:
        assert rel.loc[c, "rho_c"] == pytest.approx(assess.rho_c(out.loc[BLOCKS[c], "loading"]), abs=1e-12)
    assert rel["rho_a"].between(0.7, 1.0).all()


@pytest.mark.parametrize("standardize", [True, False])
def test_rho_a_agrees_with_the_engines_plsc(standardize):
    # csi.pls computes rho_A internally for PLSc (its own code); both must agree, also when the
    # engine reports weights of unstandardized indicators
    import csi.engine.pls as pls
    spec = ModelSpec.from_parts(BLOCKS, PATHS)
    res = pls.estimate_pls(pd.read_csv(ROOT / "data" / "ecsi_satisfaction.csv", index_col=0), spec,
                           plsc=True, standardize=standardize)
    if "rho_a" not in res.info:
        pytest.skip("this csi.pls does not report rho_a")
    rel = assess.assess_pls(res)["reliability"].set_index("construct")
    for c in ORDER:
        assert rel.loc[c, "rho_a"] == pytest.approx(res.info["rho_a"][c], abs=1e-10)


def test_assess_pls_with_the_real_bootstrap():
    import csi.engine.bootstrap as boot_mod
    import csi.engine.pls as pls
    spec = ModelSpec.from_parts(BLOCKS, PATHS)
    raw = pd.read_csv(ROOT / "data" / "ecsi_satisfaction.csv", index_col=0)
    boot = boot_mod.bootstrap_pls(raw, spec, n_boot=200, seed=20240601)
    if "htmt" not in boot.draws:
        pytest.skip("this csi.bootstrap does not draw HTMT")
    h = assess.assess_pls(pls.estimate_pls(raw, spec), boot)["htmt"]
    d = boot.draws["htmt"]
    for r in h.itertuples():
        lo, hi = np.quantile(d[(r.construct_1, r.construct_2)].dropna(), [0.05, 0.95])
        assert (r.ci_low, r.ci_high) == pytest.approx((lo, hi))
        assert r.ci_low <= r.htmt + 0.05 and r.htmt - 0.05 <= r.ci_high
    eq = h[(h.construct_1 == "EXPE") & (h.construct_2 == "QUAL")].iloc[0]
    assert not eq["ci_ok_090"]  # EXPE and QUAL are not distinct at the liberal threshold either
