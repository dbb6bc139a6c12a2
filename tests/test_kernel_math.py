"""csi.engine.kernel_math: each formula against an independent textbook computation written out here."""
import numpy as np
import pandas as pd
import pytest

from csi.analytics.scales import rescale_0_100, to_0_100
from csi.engine import kernel_math as km


def congeneric_corr(lam):
    """Population correlations of one congeneric block: R = λλ' + diag(1 − λ²)."""
    lam = np.asarray(lam, float)
    return np.outer(lam, lam) + np.diag(1 - lam ** 2)


def rho_a_loops(R, w):
    """Dijkstra & Henseler (2015, eq. 7) with explicit sums: w scaled to w'Rw = 1, then
    ρ_A = (w'w)² · Σ_{i≠j} w_i w_j R_ij / Σ_{i≠j} w_i² w_j²."""
    k = len(w)
    var = sum(w[i] * w[j] * R[i, j] for i in range(k) for j in range(k))
    w = [x / var ** 0.5 for x in w]
    ww = sum(x * x for x in w)
    num = sum(w[i] * w[j] * R[i, j] for i in range(k) for j in range(k) if i != j)
    den = sum(w[i] ** 2 * w[j] ** 2 for i in range(k) for j in range(k) if i != j)
    return ww ** 2 * num / den


# ------------------------------------------------------------------------- rho_A
def test_rho_a_matches_the_formula_written_out():
    R = np.array([[1.0, 0.52, 0.41, 0.30],
                  [0.52, 1.0, 0.47, 0.36],
                  [0.41, 0.47, 1.0, 0.28],
                  [0.30, 0.36, 0.28, 1.0]])
    w = np.array([0.35, 0.40, 0.30, 0.22])
    assert km.rho_a(R, w) == pytest.approx(rho_a_loops(R, list(w)), abs=1e-14)
    assert km.rho_a(R, 5.0 * w) == pytest.approx(rho_a_loops(R, list(w)), abs=1e-14)   # any positive scale


def test_rho_a_is_the_composite_reliability_of_a_congeneric_block():
    # with weights ∝ λ the composite's reliability is (w'λ)² / w'Rw (the true-score share of its variance)
    lam = np.array([0.9, 0.8, 0.7, 0.6])
    R = congeneric_corr(lam)
    truth = (lam @ lam) ** 2 / (lam @ R @ lam)
    assert km.rho_a(R, lam) == pytest.approx(truth, abs=1e-13)


def test_rho_a_batched_and_unit_variance_weights():
    rng = np.random.default_rng(11)
    lams = rng.uniform(0.5, 0.95, size=(6, 3))
    R = np.stack([congeneric_corr(l) for l in lams])                       # (6, 3, 3)
    w = rng.uniform(0.2, 1.0, size=(6, 3))
    got = km.rho_a(R, w)
    assert got.shape == (6,)
    for b in range(6):
        assert got[b] == pytest.approx(rho_a_loops(R[b], list(w[b])), abs=1e-13)
    unit = w / np.sqrt(np.einsum("bi,bij,bj->b", w, R, w))[:, None]
    np.testing.assert_allclose(km.rho_a(R, unit, rescale=False), got, rtol=0, atol=1e-13)
    # without rescaling, ρ_A of weights NOT of unit variance is a different number (the flag matters)
    assert not np.allclose(km.rho_a(R, 2 * unit, rescale=False), got)
    assert np.isnan(km.rho_a(np.ones((1, 1)), np.ones(1)))                   # single item: undefined


# ----------------------------------------------------------------- R², f², OLS
def ols_r2(y, X):
    """R² of an OLS refit with intercept (lstsq on the raw data)."""
    A = np.column_stack([np.ones(len(y)), X])
    beta, *_ = np.linalg.lstsq(A, y, rcond=None)
    resid = y - A @ beta
    return 1 - resid @ resid / ((y - y.mean()) @ (y - y.mean()))


@pytest.fixture(scope="module")
def regression_data():
    rng = np.random.default_rng(5)
    n = 400
    X = rng.standard_normal((n, 3)) @ np.array([[1, 0.4, 0.2], [0, 1, 0.3], [0, 0, 1.0]])
    y = X @ np.array([0.5, 0.3, 0.1]) + rng.standard_normal(n)
    return np.column_stack([X, y])


def test_f2_and_r2_against_ols_refits(regression_data):
    Z = regression_data
    C = np.corrcoef(Z, rowvar=False)
    x, y = Z[:, :3], Z[:, 3]
    r2_in = ols_r2(y, x)
    assert km.r2_from_corr(C, 3, [0, 1, 2]) == pytest.approx(r2_in, abs=1e-12)
    for k in range(3):
        r2_out = ols_r2(y, np.delete(x, k, axis=1))
        f2 = km.f2_from_corr(C, 3, [0, 1, 2], k)
        assert f2 == pytest.approx((r2_in - r2_out) / (1 - r2_in), abs=1e-12)
    # one predictor: dropping it leaves R²_out = 0
    assert km.f2_from_corr(C, 3, [0], 0) == pytest.approx(ols_r2(y, x[:, :1]) / (1 - ols_r2(y, x[:, :1])), abs=1e-12)


def test_ols_from_corr_batched_and_singular_items(regression_data):
    Z = regression_data
    C = np.corrcoef(Z, rowvar=False)
    beta_ref = np.linalg.lstsq((Z[:, :3] - Z[:, :3].mean(0)) / Z[:, :3].std(0, ddof=1),
                               (Z[:, 3] - Z[:, 3].mean()) / Z[:, 3].std(ddof=1), rcond=None)[0]
    bad = C.copy()
    bad[1, :3] = bad[0, :3]
    bad[:3, 1] = bad[:3, 0]                  # predictor 1 is a copy of predictor 0: C_PP singular
    bad[1, 1] = 1.0
    stack = np.stack([C, bad, C])
    beta, r2 = km.ols_from_corr(stack, 3, [0, 1, 2])
    np.testing.assert_allclose(beta[0], beta_ref, atol=1e-12)
    np.testing.assert_allclose(beta[2], beta_ref, atol=1e-12)
    assert np.isnan(beta[1]).all() and np.isnan(r2[1])
    assert np.isnan(km.f2_from_corr(bad, 3, [0, 1, 2], 2))
    assert km.f2_from_corr(np.eye(2) + np.fliplr(np.eye(2)), 1, [0], 0) == np.inf   # R²_in = 1


# ----------------------------------------------------------- weighted moments
@pytest.fixture(scope="module")
def rows():
    rng = np.random.default_rng(3)
    return rng.normal(5.0, 2.0, size=(60, 4)) @ np.array([[1, 0.5, 0, 0], [0, 1, 0.3, 0], [0, 0, 1, 0.2],
                                                             [0, 0, 0, 1.0]])


def test_count_moments_equal_np_cov_with_fweights(rows):
    X = rows
    n = len(X)
    rng = np.random.default_rng(9)
    idx = rng.integers(0, n, size=(7, n))
    F = np.stack([np.bincount(r, minlength=n) for r in idx]).astype(float)   # bootstrap counts
    mean0 = X.mean(axis=0)
    Xc = X - mean0
    O, iu = km.pair_products(Xc)
    mean, cov = km.count_moments(F, Xc, O, iu)
    for b in range(len(F)):
        np.testing.assert_allclose(cov[b], np.cov(X, rowvar=False, fweights=F[b].astype(int)), rtol=0, atol=1e-12)
        np.testing.assert_allclose(mean[b] + mean0, np.average(X, axis=0, weights=F[b]), rtol=0, atol=1e-12)
        # the resample itself, materialised: the same moments
        np.testing.assert_allclose(cov[b], np.cov(X[idx[b]], rowvar=False), rtol=0, atol=1e-12)


def test_weighted_moments_equal_np_cov_and_the_batched_form(rows):
    X = rows
    n = len(X)
    f = np.random.default_rng(2).integers(1, 4, size=n).astype(float)
    f *= n / f.sum()                         # survey weights normalised to sum n (not integers)
    m, S = km.weighted_moments(X, f)
    ref = sum(fi * np.outer(x - m, x - m) for fi, x in zip(f, X)) / (n - 1)
    np.testing.assert_allclose(m, np.average(X, axis=0, weights=f), rtol=0, atol=1e-12)
    np.testing.assert_allclose(S, ref, rtol=0, atol=1e-12)
    ones = np.ones(n)
    np.testing.assert_allclose(km.weighted_moments(X, ones)[1], np.cov(X, rowvar=False), rtol=0, atol=1e-12)
    O, iu = km.pair_products(X - m)
    mb, Sb = km.count_moments(f[None], X - m, O, iu)
    np.testing.assert_allclose(Sb[0], S, rtol=0, atol=1e-12)
    np.testing.assert_allclose(mb[0], 0.0, atol=1e-12)


def test_cov_to_corr_equals_corrcoef(rows):
    R, sd = km.cov_to_corr(np.cov(rows, rowvar=False)[None])
    np.testing.assert_allclose(R[0], np.corrcoef(rows, rowvar=False), rtol=0, atol=1e-14)
    np.testing.assert_allclose(sd[0], rows.std(axis=0, ddof=1), rtol=0, atol=1e-12)


# ------------------------------------------------------------------ intervals
def test_percentile_interval_equals_np_quantile_column_by_column():
    rng = np.random.default_rng(4)
    D = rng.standard_normal((501, 5))
    D[3, 1] = np.nan
    D[7, 2] = np.inf
    D[:, 4] = np.nan                         # a parameter without a finite draw
    lo, hi = km.percentile_interval(D, 0.10)
    for k in range(4):
        x = D[:, k][np.isfinite(D[:, k])]
        assert (lo[k], hi[k]) == (np.quantile(x, 0.05), np.quantile(x, 0.95))
    assert np.isnan(lo[4]) and np.isnan(hi[4])
    one = km.percentile_interval(D[:, 0], 0.05)
    assert one == (np.quantile(D[:, 0], 0.025), np.quantile(D[:, 0], 0.975))
    empty = km.percentile_interval(np.empty((0, 2)), 0.05)
    assert np.isnan(empty[0]).all() and np.isnan(empty[1]).all()


# --------------------------------------------------------------- 0–100 scale
def test_to_0_100_is_the_formula_rescale_0_100_uses():
    frame = pd.DataFrame({"a": [1.0, 5.5, 10.0, np.nan], "b": [0.0, 3.0, 7.0, 10.0]})
    scales = {"a": (1, 10), "b": (0, 10)}
    np.testing.assert_array_equal(rescale_0_100(frame, scales).to_numpy(),
                                  to_0_100(frame.to_numpy(), [1, 0], [10, 10]))
    assert to_0_100(5.5, 1, 10) == pytest.approx(50.0)
    np.testing.assert_allclose(to_0_100(np.array([[1.0, 10.0]]), 1.0, 10.0), [[0.0, 100.0]])
