"""Kernel-level formulas, each written once (internal; numpy only, imports nothing of ``csi``).

Every function here is a pure array function. Shapes are given cSEM-style: a leading ``...`` means
any number of batch axes (``B`` bootstrap resamples, permutations, or none for a single fit); the
formula is applied to each batch item independently and the batch axes come back unchanged.

=========================  =====================================================================
weighted moments           :func:`weighted_moments` (one sample, two-pass, exact) and
                           :func:`count_moments` (``B`` frequency-weighted samples of the same rows:
                           bootstrap counts, permutation masks) with :func:`pair_products`;
                           :func:`ordered_dot` (a product whose bits do not depend on BLAS threads)
covariance → correlation   :func:`cov_to_corr`
regression on a corr.      :func:`solve` (batch-safe ``A⁻¹b``), :func:`ols_from_corr` (β, R²),
                           :func:`r2_from_corr`, :func:`f2_from_corr` (Cohen's f²)
reliability                :func:`rho_a` (Dijkstra–Henseler ρ_A)
intervals                  :func:`percentile_interval` (percentile interval of draws)
matrix distances           :func:`sym_sqrt` (symmetric square root / inverse root), :func:`srmr`,
                           :func:`d_uls`, :func:`d_g`, :func:`ml_discrepancy` (overall model fit)
=========================  =====================================================================

Callers: :mod:`csi.engine.pls` (kernel, PLSc, f²), :mod:`csi.engine.bootstrap` (resample
moments, percentile CIs), :mod:`csi.evaluate.assess` (ρ_A, R², f², HTMT CIs),
:mod:`csi.compare.groups` (permutation moments, difference CIs), :mod:`csi.analytics.index` and
:mod:`csi.analytics.priorities` (index and importance CIs). The 0–100 rescaling is not here: it is
:func:`csi.analytics.scales.to_0_100`.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

__all__ = [
    "weighted_moments", "pair_products", "count_moments", "ordered_dot", "cov_to_corr", "solve", "ols_from_corr",
    "r2_from_corr", "f2_from_corr", "rho_a", "percentile_interval", "sym_sqrt", "srmr", "d_uls", "d_g",
    "ml_discrepancy",
]


# =============================================================================== weighted moments
def weighted_moments(X: np.ndarray, f: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Frequency-weighted mean and covariance of one sample (two-pass: centre, then multiply).

    X (n, p): data; f (n,): frequency weights summing to ``n`` (all ones for an unweighted sample).
    Returns ``mean (p,) = f'X / n`` and ``cov (p, p) = Σ f_i (x_i - m)(x_i - m)' / (n - 1)``, i.e.
    ``np.cov(X, rowvar=False, fweights=f)`` for integer ``f``.
    """
    n = X.shape[0]
    m = f @ X / n
    Xc = X - m
    return m, (Xc * f[:, None]).T @ Xc / (n - 1)


def pair_products(Xc: np.ndarray) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """Row-wise products of the upper-triangle column pairs, the input of :func:`count_moments`.

    Xc (n, p): data, preferably centred at the full-sample mean (keeps ``M2 - m m'`` well conditioned).
    Returns ``O (n, q)`` with ``O[:, k] = Xc[:, iu[0][k]] * Xc[:, iu[1][k]]`` and ``iu`` (two (q,)
    index arrays, ``q = p(p+1)/2``).
    """
    iu = np.triu_indices(Xc.shape[1])
    return Xc[:, iu[0]] * Xc[:, iu[1]], iu


def ordered_dot(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """``A @ B`` (2-D) summed by numpy's own einsum loop in one fixed order, without BLAS: the same bits in any
    process. A threaded BLAS splits a large product differently by its thread count, so ``@`` in a caller with
    two BLAS threads and in a one-thread worker can differ in the last binary digit. Slower than ``@``
    (about 3x at n = 600, 15x at n = 10,000 rows): for results that must equal across executors."""
    return np.einsum("ij,jk->ik", A, B)


def count_moments(F: np.ndarray, Xc: np.ndarray, O: np.ndarray, iu: tuple[np.ndarray, np.ndarray],
                  *, dot=np.matmul) -> tuple[np.ndarray, np.ndarray]:
    """Means and covariances of ``B`` frequency-weighted samples of the same ``n`` rows, in one product.

    F (B, n): weights of each sample (bootstrap counts × survey weights, 0/1 group masks, …); row b
    sums to that sample's size ``m_b``, the covariance divisor is ``m_b - 1``.
    Xc (n, p): the rows (centred, see :func:`pair_products`); O (n, q), iu: from :func:`pair_products`.
    Returns ``mean (B, p)`` (relative to the centring of ``Xc``) and ``cov (B, p, p)``; row b equals
    :func:`weighted_moments` of the rows weighted by ``F[b]`` (one pass instead of two, so equal up
    to rounding). ``dot``: the matrix product (:func:`ordered_dot` for the same bits in every process).
    """
    m = F.sum(axis=1)
    mean = dot(F, Xc) / m[:, None]
    B, p = len(F), Xc.shape[1]
    tri = (dot(F, O) - m[:, None] * mean[:, iu[0]] * mean[:, iu[1]]) / (m - 1)[:, None]
    cov = np.empty((B, p, p))
    cov[:, iu[0], iu[1]] = tri
    cov[:, iu[1], iu[0]] = tri
    return mean, cov


def cov_to_corr(S: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Correlations and standard deviations from covariances.

    S (..., p, p) → ``R (..., p, p)``, ``sd (..., p)``; a negative rounding residue on the diagonal
    counts as 0 variance, and a zero-variance variable gets NaN/inf correlations without a warning
    (callers test ``sd`` before using ``R``).
    """
    sd = np.sqrt(np.maximum(np.einsum("...ii->...i", S), 0.0))
    with np.errstate(invalid="ignore", divide="ignore"):
        R = S / (sd[..., :, None] * sd[..., None, :])
    return R, sd


# =============================================================================== regression
def solve(A: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``A⁻¹ b`` for A (..., k, k), b (..., k) → (..., k).

    An exactly singular batch item gets NaN instead of aborting the whole batch (a bootstrap resample
    with collinear constructs is then dropped; a single singular system gives NaN).
    """
    try:
        return np.linalg.solve(A, b[..., None])[..., 0]
    except np.linalg.LinAlgError:
        if A.ndim == 2:
            return np.full(b.shape, np.nan)
        lead = A.shape[:-2]
        Af, bf = A.reshape((-1,) + A.shape[-2:]), b.reshape((-1, b.shape[-1]))
        out = np.full(bf.shape, np.nan)
        for i in range(len(Af)):
            try:
                out[i] = np.linalg.solve(Af[i], bf[i])
            except np.linalg.LinAlgError:
                pass
        return out.reshape(lead + (b.shape[-1],))


def ols_from_corr(C: np.ndarray, target: int, predictors: Sequence[int] | np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray]:
    """OLS of variable ``target`` on ``predictors`` from their correlation (or covariance) matrix.

    C (..., J, J); predictors: k indices (k ≥ 1), not containing ``target``.
    Returns ``beta (..., k) = C_PP⁻¹ C_Pt`` and ``r2 (...) = beta' C_Pt`` (the R² when C is a
    correlation matrix); NaN for a singular ``C_PP``.
    """
    P = np.asarray(predictors, dtype=int)
    c = C[..., P, target]
    beta = solve(C[..., P[:, None], P], c)
    return beta, np.einsum("...i,...i->...", beta, c)


def r2_from_corr(C: np.ndarray, target: int, predictors: Sequence[int] | np.ndarray) -> np.ndarray:
    """R² (...) of the regression of ``target`` on ``predictors``, C (..., J, J); 0 without predictors."""
    if len(predictors) == 0:
        return np.zeros(C.shape[:-2])
    return ols_from_corr(C, target, predictors)[1]


def f2_from_corr(C: np.ndarray, target: int, predictors: Sequence[int] | np.ndarray, drop: int,
                 r2_in: np.ndarray | None = None) -> np.ndarray:
    """Cohen's f² (...) of predictor ``drop``: ``(R²_in - R²_out) / (1 - R²_in)``, C (..., J, J).

    ``R²_in``: ``target`` on all ``predictors`` (pass it as ``r2_in (...)`` when already known);
    ``R²_out``: the same regression without ``drop``. ``inf`` when ``R²_in ≥ 1``; NaN propagates.
    """
    P = np.asarray(predictors, dtype=int)
    if r2_in is None:
        r2_in = r2_from_corr(C, target, P)
    r2_out = r2_from_corr(C, target, P[P != drop])
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(r2_in >= 1.0, np.inf, (r2_in - r2_out) / (1.0 - r2_in))


# =============================================================================== reliability
def rho_a(R: np.ndarray, w: np.ndarray, *, rescale: bool = True) -> np.ndarray:
    """Dijkstra–Henseler (2015) ρ_A of one block, batched.

    R (..., k, k): correlations of the block's indicators; w (..., k): outer weights of the
    standardised indicators. Returns (...)::

        ρ_A = (w'w)² · w'(R − diag R)w / w'(ww' − diag(ww'))w      with w'Rw = 1

    ``rescale=True`` (default) first divides ``w`` by ``sqrt(w'Rw)``, so any positive scale of the
    weights gives the same ρ_A; the PLS kernel passes ``rescale=False`` because its weights have
    unit-variance scores by construction. NaN where ``w'Rw ≤ 0`` or the denominator is 0 (callers
    decide what ρ_A of a single-item or formative block means).
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        if rescale:
            var = np.einsum("...i,...ij,...j->...", w, R, w)
            w = w / np.sqrt(np.where(var > 0, var, np.nan))[..., None]
        ww = w[..., :, None] * w[..., None, :]
        off = np.einsum("...i,...ij,...j->...", w, R, w) - np.einsum("...i,...ii,...i->...", w, R, w)
        den = np.einsum("...i,...ij,...j->...", w, ww, w) - np.einsum("...i,...ii,...i->...", w, ww, w)
        return np.where(den != 0, np.einsum("...i,...i->...", w, w) ** 2 * off / np.where(den != 0, den, 1.0),
                        np.nan)


# =============================================================================== intervals
def percentile_interval(draws: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval at level ``1 - alpha`` of bootstrap (or any Monte Carlo) draws.

    draws (B,) or (B, K): one column per parameter. Non-finite draws are left out column by column.
    Returns ``lo, hi`` ((), or (K,) each): the ``alpha/2`` and ``1 - alpha/2`` quantiles (numpy's
    default linear interpolation); NaN for a column without a finite draw.
    """
    D = np.asarray(draws, dtype=float)
    if D.ndim == 1:
        lo, hi = percentile_interval(D[:, None], alpha)
        return lo[0], hi[0]
    q = [alpha / 2, 1 - alpha / 2]
    lo = np.full(D.shape[1], np.nan)
    hi = np.full(D.shape[1], np.nan)
    finite = np.isfinite(D)
    full = finite.all(axis=0) if len(D) else np.zeros(D.shape[1], dtype=bool)
    if full.any():
        lo[full], hi[full] = np.quantile(D[:, full], q, axis=0)
    for k in np.flatnonzero(~full):
        x = D[finite[:, k], k]
        if x.size:
            lo[k], hi[k] = np.quantile(x, q)
    return lo, hi


# =============================================================================== matrix distances (model fit)
def sym_sqrt(A: np.ndarray, inverse: bool = False) -> np.ndarray:
    """Symmetric square root ``A^{1/2}`` (or ``A^{-1/2}`` with ``inverse=True``) of symmetric positive
    (semi)definite A (..., p, p), by the eigen decomposition; eigenvalues below 0 (rounding) count as 0."""
    val, vec = np.linalg.eigh(A)
    val = np.maximum(val, 0.0)
    with np.errstate(divide="ignore"):
        root = 1.0 / np.sqrt(val) if inverse else np.sqrt(val)
    return (vec * root[..., None, :]) @ np.swapaxes(vec, -1, -2)


def srmr(S: np.ndarray, Sigma: np.ndarray) -> np.ndarray:
    """Standardized root mean squared residual (...) of correlation matrices S, Sigma (..., p, p):
    ``sqrt(mean of (s_ij - σ_ij)² over the p(p+1)/2 elements i ≤ j)`` (cSEM ``calculateSRMR``,
    SmartPLS; on correlations the diagonal residuals are 0 but count in the mean)."""
    p = S.shape[-1]
    il = np.tril_indices(p)
    D = (S - Sigma)[..., il[0], il[1]]
    return np.sqrt(np.mean(D ** 2, axis=-1))


def d_uls(S: np.ndarray, Sigma: np.ndarray) -> np.ndarray:
    """Unweighted least squares distance (...) ``½ Σ_ij (s_ij - σ_ij)²`` over all p² elements
    (Dijkstra & Henseler 2015; cSEM ``calculateDL``)."""
    return 0.5 * np.sum((S - Sigma) ** 2, axis=(-2, -1))


def d_g(S: np.ndarray, Sigma: np.ndarray) -> np.ndarray:
    """Geodesic distance (...) ``½ Σ_k (log λ_k)²`` with λ_k the eigenvalues of ``S⁻¹ Σ``
    (Dijkstra & Henseler 2015; cSEM ``calculateDG``). Computed from the symmetric ``L⁻¹ Σ L⁻ᵀ`` with
    ``S = L Lᵀ`` (Cholesky; same eigenvalues, no eigenvectors needed); NaN when an eigenvalue is not positive
    or S is not positive definite."""
    try:
        Li = np.linalg.inv(np.linalg.cholesky(S))
    except np.linalg.LinAlgError:
        if S.ndim == 2:
            return np.float64(np.nan)
        return np.array([d_g(a, b) for a, b in zip(S.reshape((-1,) + S.shape[-2:]),
                                                   np.broadcast_to(Sigma, S.shape).reshape((-1,) + S.shape[-2:]))]
                        ).reshape(S.shape[:-2])
    lam = np.linalg.eigvalsh(Li @ Sigma @ np.swapaxes(Li, -1, -2))
    with np.errstate(invalid="ignore", divide="ignore"):
        lg = np.log(np.where(lam > 0, lam, np.nan))
    return 0.5 * np.sum(lg ** 2, axis=-1)


def ml_discrepancy(S: np.ndarray, Sigma: np.ndarray) -> np.ndarray:
    """Maximum-likelihood discrepancy (...) ``log|Σ| + tr(S Σ⁻¹) - log|S| - p`` (χ² = (n - 1)·F_ML in
    SmartPLS's NFI); NaN when a matrix is not positive definite."""
    p = S.shape[-1]
    s1, l1 = np.linalg.slogdet(Sigma)
    s2, l2 = np.linalg.slogdet(S)
    tr = np.einsum("...ij,...ji->...", S, np.linalg.inv(Sigma))
    return np.where((s1 > 0) & (s2 > 0), l1 + tr - l2 - p, np.nan)
