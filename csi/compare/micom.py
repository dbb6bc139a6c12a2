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
With ``executor=`` (any :class:`concurrent.futures.Executor`: the local pool, a Dask client's) the chunks of
permutations run there, each from its position in the serial stream (the generator advanced past the earlier
chunks' draws), and come back in submission order: the table is bit-identical to the serial one.
"""
from __future__ import annotations

from concurrent.futures import Executor
from typing import Callable

import numpy as np
import pandas as pd

from csi.engine.kernel_math import count_moments, cov_to_corr, ordered_dot, pair_products, weighted_moments
from csi.errors import DataError, SpecError

COLUMNS = ["construct", "n_a", "n_b", "c", "c_quantile", "p_c", "compositional", "mean_diff", "mean_low",
           "mean_high", "p_mean", "equal_mean", "logvar_diff", "logvar_low", "logvar_high", "p_var", "equal_var",
           "invariance", "n_perm_used"]


def _setup(ctx: dict) -> dict:
    """The pooled rows' design, centred data, pair products, correlation matrix and pooled composite scores.
    Computed once, here: a worker gets these arrays (:func:`_shipped`) rather than recomputing them with its
    own BLAS (one thread there, maybe more here: the last binary digit could differ)."""
    from csi.engine.pls import _Design, _kernel, _prepare

    prep = _prepare(ctx["pooled"], ctx["spec"], ctx["weights"], ctx["missing"])
    d = _Design.from_spec(ctx["spec"])
    X, f = prep.X, prep.f
    n = X.shape[0]
    in_a = np.asarray(prep.index) < ctx["na_rows"]
    na = int(in_a.sum())
    mean0, cov0 = weighted_moments(X, f)
    R0, sd0 = cov_to_corr(cov0)
    Xc = X - mean0
    O, iu = pair_products(Xc)
    M = d.member                                           # (p x J)
    st = {"d": d, "f": f, "n": n, "p": X.shape[1], "in_a": in_a, "na": na, "nb": n - na, "Xc": Xc, "O": O,
          "iu": iu, "M": M, "R0": R0, "scheme": ctx["scheme"], "tol": ctx["tol"], "max_iter": ctx["max_iter"]}
    if min(na, n - na) < 3:
        return st
    # pooled composites for step 3
    w0, _, conv0 = _kernel(R0[None], d, ctx["scheme"], ctx["tol"], ctx["max_iter"])
    st["pooled_converged"] = bool(conv0[0])
    Z = (X - mean0) / sd0
    st["S"] = Z @ (w0[0][:, None] * M)                     # (n x J), unit variance on the pooled sample
    return st


def _weights(st: dict, F: np.ndarray) -> np.ndarray:
    """Unit-variance PLS weights (B x p) of the groups given by frequency weights F (B x n)."""
    from csi.engine.pls import _kernel

    _, cov = count_moments(F, st["Xc"], st["O"], st["iu"], dot=ordered_dot)
    R, sd = cov_to_corr(cov)
    w = np.full((len(F), st["p"]), np.nan)
    ok = np.all(sd > 1e-12 * np.maximum(sd.max(axis=1, keepdims=True), 1.0), axis=1)
    if ok.any():
        wk, _, conv = _kernel(R[ok], st["d"], st["scheme"], st["tol"], st["max_iter"])
        wk[~conv] = np.nan
        w[ok] = wk
    return w


def _c_of(st: dict, wa: np.ndarray, wb: np.ndarray) -> np.ndarray:
    """Step 2's c (B x J): correlation on the pooled data of the composites with weights wa and wb."""
    M, R0 = st["M"], st["R0"]
    WA, WB = wa[:, :, None] * M, wb[:, :, None] * M          # (B x p x J)
    ab = np.einsum("bpj,pq,bqj->bj", WA, R0, WB)
    aa = np.einsum("bpj,pq,bqj->bj", WA, R0, WA)
    bb = np.einsum("bpj,pq,bqj->bj", WB, R0, WB)
    with np.errstate(invalid="ignore", divide="ignore"):
        return ab / np.sqrt(aa * bb)


def _groups(st: dict, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Frequency weights (B x n) of pseudo-groups a (``mask``) and b, survey weights renormalised within each."""
    f, na, nb = st["f"], st["na"], st["nb"]
    FA = np.where(mask, f[None, :], 0.0)
    FB = np.where(mask, 0.0, f[None, :])
    FA *= na / FA.sum(axis=1, keepdims=True)
    FB *= nb / FB.sum(axis=1, keepdims=True)
    return FA, FB


def _moments(st: dict, F: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    S = st["S"]
    m = ordered_dot(F, S) / size
    v = (ordered_dot(F, S ** 2) - size * m ** 2) / (size - 1)
    return m, v


def _statistics(st: dict, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(c, mean_diff, logvar_diff), each B x J, of the pseudo-group splits ``mask`` (B x n)."""
    FA, FB = _groups(st, mask)
    c = _c_of(st, _weights(st, FA), _weights(st, FB))
    ma, va = _moments(st, FA, st["na"])
    mb, vb = _moments(st, FB, st["nb"])
    with np.errstate(invalid="ignore", divide="ignore"):
        return c, ma - mb, np.log(va) - np.log(vb)


def _chunk(st: dict, rng: np.random.Generator, m: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """m permutations drawn from ``rng`` (m x n doubles): their (c, mean_diff, logvar_diff), each m x J."""
    n, na = st["n"], st["na"]
    perms = np.argsort(rng.random((m, n)), axis=1)         # m independent uniform permutations
    mask = np.zeros((m, n), dtype=bool)
    np.put_along_axis(mask, perms[:, :na], True, axis=1)
    return _statistics(st, mask)


def _shipped(st: dict) -> dict:
    """What a worker needs of :func:`_setup`: every array but the pair products (n x p(p+1)/2, rebuilt there
    element by element from the centred rows: the same bits, a smaller task)."""
    return {k: v for k, v in st.items() if k not in ("O", "iu")}


def _task(shipped: dict, state: dict, m: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Worker: one chunk of MICOM's permutations from a given generator state."""
    O, iu = pair_products(shipped["Xc"])
    bg = np.random.PCG64()
    bg.state = state
    return _chunk({**shipped, "O": O, "iu": iu}, np.random.Generator(bg), m)


def micom(data_a: pd.DataFrame, data_b: pd.DataFrame, spec, n_perm: int = 1000, seed: int = 1, *,
          alpha: float = 0.05, chunk_size: int = 250, progress: Callable[[int, int], None] | None = None,
          executor: Executor | None = None, **settings) -> pd.DataFrame:
    """MICOM steps 2 and 3 (module docstring) for groups ``data_a`` and ``data_b``; one row per construct
    with :data:`COLUMNS`. ``settings``: those of :func:`csi.engine.pls.estimate_pls` (``standardize`` and
    ``plsc`` do not apply: MICOM compares z-scored composites). ``executor``: chunks of ``chunk_size``
    permutations run there (the same table, bit for bit)."""
    from csi.compare.groups import _complete
    from csi.engine.pls import _check_options

    if getattr(spec, "is_extended", False):
        raise SpecError("MICOM for higher-order or interaction models is not supported; test the first-order "
                        "model's invariance")
    if isinstance(n_perm, bool) or not isinstance(n_perm, (int, np.integer)) or n_perm < 1:
        raise DataError(f"n_perm must be a positive integer, got {n_perm!r}")
    if not 0 < alpha < 1:
        raise DataError(f"alpha must be between 0 and 1, got {alpha!r}")
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, (int, np.integer)) or chunk_size < 1:
        raise DataError(f"chunk_size must be a positive integer, got {chunk_size!r}")
    scheme = settings.get("scheme", "path")
    tol, max_iter = settings.get("tol", 1e-7), settings.get("max_iter", 300)
    missing = settings.get("missing", "listwise")
    _check_options(scheme, missing, True, False, tol, max_iter)
    a = _complete(data_a, spec, settings)
    b = _complete(data_b, spec, settings)
    ctx = {"pooled": pd.concat([a, b], ignore_index=True), "spec": spec, "weights": settings.get("weights"),
           "missing": missing, "na_rows": len(a), "scheme": scheme, "tol": tol, "max_iter": max_iter}
    st = _setup(ctx)
    na, nb, n = st["na"], st["nb"], st["n"]
    if min(na, nb) < 3:
        raise DataError(f"MICOM needs at least 3 usable respondents per group, got {na} and {nb}")
    if not st["pooled_converged"]:
        raise DataError("PLS did not converge on the pooled groups")
    c_obs, md_obs, lv_obs = (x[0] for x in _statistics(st, st["in_a"][None, :]))
    if not np.all(np.isfinite(c_obs)):
        raise DataError("a group's PLS fit did not converge; MICOM needs both groups estimated")

    rng = np.random.default_rng(seed)
    sizes = [min(chunk_size, n_perm - k) for k in range(0, n_perm, chunk_size)]
    if executor is None:
        chunks = (_chunk(st, rng, m) for m in sizes)
    else:
        from csi.runtime.execution import stream_states

        shipped = _shipped(st)
        futures = [executor.submit(_task, shipped, state, m) for state, m in zip(stream_states(rng, sizes, n), sizes)]
        chunks = (fut.result() for fut in futures)          # submission order: the serial order
    cs, mds, lvs = [], [], []
    done = 0
    for (c, md, lv), m in zip(chunks, sizes):
        cs.append(c)
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
    out = pd.DataFrame({"construct": list(st["d"].constructs), "n_a": na, "n_b": nb, "c": c_obs, "c_quantile": cq,
                        "p_c": p_c, "compositional": comp, "mean_diff": md_obs, "mean_low": mlo, "mean_high": mhi,
                        "p_mean": p_m, "equal_mean": eq_m, "logvar_diff": lv_obs, "logvar_low": vlo,
                        "logvar_high": vhi, "p_var": p_v, "equal_var": eq_v, "invariance": inv,
                        "n_perm_used": used})
    return out[COLUMNS]
