"""MICOM: measurement invariance of composite models (Henseler, Ringle & Sarstedt 2016, International
Marketing Review 33(3)), steps 2 and 3 by permutation, to run before every multi-group comparison.

Step 1 (configural invariance) holds by construction here: both groups are estimated with the same model,
the same items and the same algorithm settings (and the same data treatment).

Definitions (those of cSEM's ``testMICOM``; they differ from SmartPLS only in the permutation count and
seed):

* Data: the pooled rows of both groups, complete cases of the model's items (``missing="listwise"``) or
  mean-imputed (``"mean"``), z-scored on the pooled sample (``Z``, pooled correlation matrix ``R``).
  Survey weights enter every mean, variance and correlation as frequency weights.
* Step 2, compositional invariance: for each construct, ``c = cor(Z w_a, Z w_b)``, the correlation on the
  pooled data of the composites built with group a's and group b's weights (each group's weights from its
  own PLS fit on its z-scored items), i.e. ``w_a' R w_b / sqrt(w_a' R w_a · w_b' R w_b)`` over the block.
  Permutation: group membership is shuffled (group sizes kept), both pseudo-groups re-estimated, ``c*``
  recorded. Invariance is established when ``c`` ≥ the ``alpha`` quantile of ``c*`` (one-sided);
  ``p_c = (#{c* ≤ c} + 1) / (n_used + 1)``.
* Step 3, equality of composite means and variances: the composite scores from the *pooled* fit (unit
  variance on the pooled sample); ``mean_diff = mean_a − mean_b`` and ``logvar_diff = log var_a − log var_b``
  (cSEM's log variance ratio). Permutation of group membership over the same pooled scores; equality holds
  when the observed difference lies within the ``alpha/2`` and ``1 − alpha/2`` quantiles of the permutation
  differences; ``p = (#{|d*| ≥ |d|} + 1) / (n_used + 1)``.
* ``invariance``: ``full`` (steps 2 and 3 both hold: the groups may be pooled), ``partial`` (step 2 holds:
  path coefficients may be compared by MGA), ``none`` (compositional invariance fails: the group
  comparison of that construct is not interpretable).

The permutation draws use ``numpy.random.default_rng(seed)``; each permutation's two group fits run on the
batched PLS kernel (one covariance matrix per pseudo-group, as :func:`csi.compare.groups.mga_permutation`).
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd

from csi.engine.kernel_math import count_moments, cov_to_corr, pair_products, weighted_moments
from csi.errors import DataError, SpecError

COLUMNS = ["construct", "n_a", "n_b", "c", "c_quantile", "p_c", "compositional", "mean_diff", "mean_low",
           "mean_high", "p_mean", "equal_mean", "logvar_diff", "logvar_low", "logvar_high", "p_var", "equal_var",
           "invariance", "n_perm_used"]


def micom(data_a: pd.DataFrame, data_b: pd.DataFrame, spec, n_perm: int = 1000, seed: int = 1, *,
          alpha: float = 0.05, chunk_size: int = 250, progress: Callable[[int, int], None] | None = None,
          **settings) -> pd.DataFrame:
    """MICOM steps 2 and 3 (module docstring) for groups ``data_a`` and ``data_b``; one row per construct
    with :data:`COLUMNS`. ``settings``: those of :func:`csi.engine.pls.estimate_pls` (``standardize`` and
    ``plsc`` do not apply: MICOM compares z-scored composites)."""
    from csi.compare.groups import _complete
    from csi.engine.pls import _check_options, _Design, _kernel, _prepare

    if getattr(spec, "is_extended", False):
        raise SpecError("MICOM for higher-order or interaction models is not supported; test the first-order "
                        "model's invariance")
    if isinstance(n_perm, bool) or not isinstance(n_perm, (int, np.integer)) or n_perm < 1:
        raise DataError(f"n_perm must be a positive integer, got {n_perm!r}")
    if not 0 < alpha < 1:
        raise DataError(f"alpha must be between 0 and 1, got {alpha!r}")
    scheme = settings.get("scheme", "path")
    tol, max_iter = settings.get("tol", 1e-7), settings.get("max_iter", 300)
    missing = settings.get("missing", "listwise")
    _check_options(scheme, missing, True, False, tol, max_iter)
    a = _complete(data_a, spec, settings)
    b = _complete(data_b, spec, settings)
    pooled = pd.concat([a, b], ignore_index=True)
    prep = _prepare(pooled, spec, settings.get("weights"), missing)
    d = _Design.from_spec(spec)
    X, f = prep.X, prep.f
    n, p = X.shape
    in_a = np.asarray(prep.index) < len(a)
    na = int(in_a.sum())
    nb = n - na
    if min(na, nb) < 3:
        raise DataError(f"MICOM needs at least 3 usable respondents per group, got {na} and {nb}")
    mean0, cov0 = weighted_moments(X, f)
    R0, sd0 = cov_to_corr(cov0)
    Z = (X - mean0) / sd0
    Xc = X - mean0
    O, iu = pair_products(Xc)
    M = d.member                                           # (p x J)

    def weights(F: np.ndarray) -> np.ndarray:
        """Unit-variance PLS weights (B x p) of the groups given by frequency weights F (B x n)."""
        _, cov = count_moments(F, Xc, O, iu)
        R, sd = cov_to_corr(cov)
        w = np.full((len(F), p), np.nan)
        ok = np.all(sd > 1e-12 * np.maximum(sd.max(axis=1, keepdims=True), 1.0), axis=1)
        if ok.any():
            wk, _, conv = _kernel(R[ok], d, scheme, tol, max_iter)
            wk[~conv] = np.nan
            w[ok] = wk
        return w

    def c_of(wa: np.ndarray, wb: np.ndarray) -> np.ndarray:
        """Step 2's c (B x J): correlation on the pooled data of the composites with weights wa and wb."""
        WA, WB = wa[:, :, None] * M, wb[:, :, None] * M      # (B x p x J)
        ab = np.einsum("bpj,pq,bqj->bj", WA, R0, WB)
        aa = np.einsum("bpj,pq,bqj->bj", WA, R0, WA)
        bb = np.einsum("bpj,pq,bqj->bj", WB, R0, WB)
        with np.errstate(invalid="ignore", divide="ignore"):
            return ab / np.sqrt(aa * bb)

    def groups(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        FA = np.where(mask, f[None, :], 0.0)
        FB = np.where(mask, 0.0, f[None, :])
        FA *= na / FA.sum(axis=1, keepdims=True)
        FB *= nb / FB.sum(axis=1, keepdims=True)
        return FA, FB

    # pooled composites for step 3
    w0, _, conv0 = _kernel(R0[None], d, scheme, tol, max_iter)
    if not conv0[0]:
        raise DataError("PLS did not converge on the pooled groups")
    S = Z @ (w0[0][:, None] * M)                          # (n x J), unit variance on the pooled sample

    def moments(F: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
        m = F @ S / size
        v = (F @ S ** 2 - size * m ** 2) / (size - 1)
        return m, v

    def step3(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        FA, FB = groups(mask)
        ma, va = moments(FA, na)
        mb, vb = moments(FB, nb)
        with np.errstate(invalid="ignore", divide="ignore"):
            return ma - mb, np.log(va) - np.log(vb)

    obs_mask = in_a[None, :]
    FA, FB = groups(obs_mask)
    c_obs = c_of(weights(FA), weights(FB))[0]
    md_obs, lv_obs = (x[0] for x in step3(obs_mask))
    if not np.all(np.isfinite(c_obs)):
        raise DataError("a group's PLS fit did not converge; MICOM needs both groups estimated")

    rng = np.random.default_rng(seed)
    cs, mds, lvs = [], [], []
    done = 0
    while done < n_perm:
        m = min(chunk_size, n_perm - done)
        perms = np.argsort(rng.random((m, n)), axis=1)     # m independent uniform permutations
        mask = np.zeros((m, n), dtype=bool)
        np.put_along_axis(mask, perms[:, :na], True, axis=1)
        FA, FB = groups(mask)
        cs.append(c_of(weights(FA), weights(FB)))
        md, lv = step3(mask)
        mds.append(md)
        lvs.append(lv)
        done += m
        if progress is not None:
            progress(done, n_perm)
    C, MD, LV = np.concatenate(cs), np.concatenate(mds), np.concatenate(lvs)
    good = np.all(np.isfinite(C), axis=1)
    C, MD, LV = C[good], MD[good], LV[good]
    used = int(good.sum())
    if used == 0:
        raise DataError("no permutation of the pooled groups could be estimated")
    cq = np.quantile(C, alpha, axis=0)
    p_c = ((C <= c_obs[None, :] + 1e-12).sum(axis=0) + 1) / (used + 1)
    mlo, mhi = np.quantile(MD, [alpha / 2, 1 - alpha / 2], axis=0)
    vlo, vhi = np.quantile(LV, [alpha / 2, 1 - alpha / 2], axis=0)
    p_m = ((np.abs(MD) >= np.abs(md_obs)[None, :] - 1e-12).sum(axis=0) + 1) / (used + 1)
    p_v = ((np.abs(LV) >= np.abs(lv_obs)[None, :] - 1e-12).sum(axis=0) + 1) / (used + 1)
    comp = c_obs >= cq
    eq_m = (mlo <= md_obs) & (md_obs <= mhi)
    eq_v = (vlo <= lv_obs) & (lv_obs <= vhi)
    inv = np.where(~comp, "none", np.where(eq_m & eq_v, "full", "partial"))
    out = pd.DataFrame({"construct": list(d.constructs), "n_a": na, "n_b": nb, "c": c_obs, "c_quantile": cq,
                        "p_c": p_c, "compositional": comp, "mean_diff": md_obs, "mean_low": mlo, "mean_high": mhi,
                        "p_mean": p_m, "equal_mean": eq_m, "logvar_diff": lv_obs, "logvar_low": vlo,
                        "logvar_high": vhi, "p_var": p_v, "equal_var": eq_v, "invariance": inv,
                        "n_perm_used": used})
    return out[COLUMNS]
