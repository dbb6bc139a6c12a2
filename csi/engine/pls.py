"""PLS path modeling (Wold / Lohmöller) with consistent PLS (PLSc) and survey weights.

Layout (cSEM-style): :func:`estimate_pls` validates once and prepares the data; everything after that
is a function of the indicator covariance matrix ``S`` and runs in a private, batched kernel
(:func:`_kernel` → :func:`_derive`) over a leading axis of ``B`` matrices, so a single fit (``B = 1``)
and the bootstrap (``B = 5000``, one ``S`` per resample, see :mod:`csi.bootstrap`) share one code path.

Conventions (all documented choices, each checked against plspm 0.5.7 / R plspm in the tests):

* ``S``: sample covariance with divisor ``n - 1`` of the analysed data. ``standardize=True`` analyses
  z-scores (sample sd), i.e. ``S`` is the correlation matrix (R plspm ``scaled=TRUE``, seminr, cSEM);
  ``standardize=False`` analyses centred raw items (R plspm ``scaled=FALSE``): mode A weights are then
  proportional to raw covariances and ``outer.weight`` is in raw item units.
* Outer weights are scaled so every construct score has unit *sample* variance: ``w_j' S_jj w_j = 1``.
  (R/Python plspm scale to unit *population* variance, so their weights are ours × sqrt(n/(n-1));
  paths, loadings, R² and the scores' correlations are identical.)
* Initial weights are all 1 (plspm, seminr). Inner schemes: centroid ``sign(cor)``, factorial ``cor``,
  path (Lohmöller): predecessors weighted by the multiple-regression coefficients of the focal
  construct on them, successors by their correlation with it.
* Mode A: ``w_j ∝ cov(x_j, z_j)`` with ``z_j`` the inner proxy. Mode B: ``w_j ∝ S_jj⁻¹ cov(x_j, z_j)``.
* Stopping: ``max_i |w_new,i - w_old,i| · sd(x_i) < tol`` — the largest change of a normalised weight
  on the standardised scale, so ``tol`` means the same for raw and z-scored items (plspm uses the sum of
  squared changes of unnormalised weights; both reach the same fixed point — the tests compare at it).
* Sign: after convergence a construct whose indicators' loadings are mostly negative (sum of their
  signs < 0) has its weights flipped — plspm's rule, but applied to weights *and* scores (plspm 0.5.7
  flips only the scores). Ties keep the sign.
* Loadings and cross-loadings are correlations of indicators with construct scores.
* Paths: OLS of each endogenous construct on its predecessors, from the construct correlation matrix.
* Survey weights are frequency weights normalised to sum to ``n``: weighted mean
  ``m = Σ f_i x_i / n`` and covariance ``Σ f_i (x_i - m)(x_i - m)' / (n - 1)``, so unit weights give the
  ordinary estimates and bootstrap counts give exactly the resample's covariance.
* PLSc (Dijkstra & Henseler 2015, MIS Quarterly 39(2)): for each mode A block with ≥ 2 indicators,
  on the correlation scale, ``c² = w'(R - diag R)w / w'(ww' - diag(ww'))w``, ``ρ_A = (w'w)² c²``,
  consistent loadings ``λ = c·w``; construct correlations are divided by ``sqrt(ρ_A,i ρ_A,j)``
  (ρ_A = 1 for composites and single indicators); paths and R² come from the corrected matrix.
  ``outer.loading`` then holds the consistent loadings; ``cross_loadings`` and ``scores`` stay those of
  the composites.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, get_args

import numpy as np
import pandas as pd

from csi.engine.kernel_math import cov_to_corr, f2_from_corr, ols_from_corr, rho_a
from csi.engine.kernel_math import solve as _solve
from csi.engine.kernel_math import weighted_moments as _moments  # the name csi.engine.bootstrap imports
from csi.errors import DataError, EstimationError, SpecError
from csi.model.syntax import ModelSpec
from csi.runtime.provenance import versions

Scheme = Literal["path", "centroid", "factorial"]
Missing = Literal["listwise", "mean"]
SCHEMES: tuple[str, ...] = get_args(Scheme)
MISSING: tuple[str, ...] = get_args(Missing)


# =============================================================================== model arrays
@dataclass(frozen=True)
class _Design:
    """The model as arrays: ``member (p x J)`` 0/1, ``block (p,)`` construct index per indicator,
    ``adj (J x J)`` with ``adj[i, j] = 1`` for i → j, ``mode_b (J,)`` bool, ``preds[j]`` predecessor
    indices of construct j, ``items[j]`` indicator indices of construct j."""

    constructs: tuple[str, ...]
    indicators: tuple[str, ...]
    member: np.ndarray
    block: np.ndarray
    adj: np.ndarray
    mode_b: np.ndarray
    preds: tuple[np.ndarray, ...]
    succs: tuple[np.ndarray, ...]
    items: tuple[np.ndarray, ...]
    paths: tuple[tuple[int, int], ...]

    @classmethod
    def from_spec(cls, spec: ModelSpec) -> "_Design":
        cons = spec.constructs
        inds = spec.indicators
        cidx = {c: k for k, c in enumerate(cons)}
        block = np.array([cidx[spec.construct_of(i)] for i in inds])
        member = np.zeros((len(inds), len(cons)))
        member[np.arange(len(inds)), block] = 1.0
        adj = np.asarray(spec.adjacency, dtype=float)
        return cls(
            constructs=cons, indicators=inds, member=member, block=block, adj=adj,
            mode_b=np.array([spec.modes[c] == "B" for c in cons]),
            preds=tuple(np.flatnonzero(adj[:, j]) for j in range(len(cons))),
            succs=tuple(np.flatnonzero(adj[j, :]) for j in range(len(cons))),
            items=tuple(np.flatnonzero(block == j) for j in range(len(cons))),
            paths=tuple((cidx[f], cidx[t]) for f, t in spec.paths),
        )


# =============================================================================== kernel
# _check_options, _prepare, _moments, _Design, _kernel and _derive are also used by csi.bootstrap and
# csi.compare (permutation MGA): keep their signatures and return shapes stable.
def _sw(S: np.ndarray, w: np.ndarray, d: _Design) -> np.ndarray:
    """``cov(x_i, y_k) (B x p x J)`` for weights ``w (B x p)``: ``S diag(w) M``."""
    return S @ (w[:, :, None] * d.member)


def _construct_cov(w: np.ndarray, SW: np.ndarray, d: _Design) -> np.ndarray:
    """``cov(y_j, y_k) (B x J x J)`` = ``M' diag(w) S diag(w) M``."""
    return d.member.T @ (w[:, :, None] * SW)


def _normalise(S: np.ndarray, w: np.ndarray, d: _Design) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Scale weights ``w (B x p)`` so each construct score has unit variance under ``S (B x p x p)``.

    Returns the scaled weights, their ``cov(x_i, y_k) (B x p x J)`` and ``cor(y_j, y_k) (B x J x J)``
    (one product with ``S``, reused by the next iteration)."""
    SW = _sw(S, w, d)
    C = _construct_cov(w, SW, d)
    J = C.shape[1]
    with np.errstate(invalid="ignore", divide="ignore"):
        inv = 1.0 / np.sqrt(C[:, np.arange(J), np.arange(J)])
    return w * inv[:, d.block], SW * inv[:, None, :], C * inv[:, :, None] * inv[:, None, :]


def _inner_weights(C: np.ndarray, d: _Design, scheme: str) -> np.ndarray:
    """Inner weights ``E (B x J x J)``: the proxy of construct k is ``z_k = Σ_i y_i E[i, k]``."""
    sym = d.adj + d.adj.T
    if scheme == "centroid":
        return np.sign(C) * sym
    if scheme == "factorial":
        return C * sym
    E = np.zeros_like(C)
    for k in range(C.shape[1]):
        P, F = d.preds[k], d.succs[k]
        if P.size:
            E[:, P, k] = _solve(C[:, P[:, None], P], C[:, P, k])
        if F.size:
            E[:, F, k] = C[:, F, k]
    return E


def _kernel(S: np.ndarray, d: _Design, scheme: str, tol: float, max_iter: int
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Iterate PLS outer/inner estimation on ``S (B x p x p)``.

    Returns ``w (B x p)`` (unit-variance scores, sign-fixed), ``iterations (B,)`` and
    ``converged (B,)``. A batch item stops being updated once it has converged, so its result does not
    depend on the other items of the batch.
    """
    B, p, _ = S.shape
    inv_b = {}
    for j in np.flatnonzero(d.mode_b):
        idx = d.items[j]
        inv_b[j] = _batched_inverse(S[:, idx[:, None], idx])
    # changes are measured on the standardised scale, so tol means the same for raw and z-scored items
    sd = np.sqrt(np.maximum(np.einsum("bii->bi", S), 0.0))
    w, SW, C = _normalise(S, np.ones((B, p)), d)
    active = np.ones(B, dtype=bool)
    iterations = np.zeros(B, dtype=int)
    ar = np.arange(p)
    for it in range(1, max_iter + 1):
        SWE = SW @ _inner_weights(C, d, scheme)          # (B x p x J): cov(x_i, z_k)
        new = SWE[:, ar, d.block]                        # mode A
        for j, inv in inv_b.items():
            idx = d.items[j]
            new[:, idx] = np.einsum("bik,bk->bi", inv, SWE[:, idx, j])
        new, SWn, Cn = _normalise(S, new, d)
        with np.errstate(invalid="ignore"):
            delta = np.max(np.abs(new - w) * sd, axis=1)
        delta = np.where(np.isfinite(delta), delta, np.inf)
        w = np.where(active[:, None], new, w)
        SW = np.where(active[:, None, None], SWn, SW)
        C = np.where(active[:, None, None], Cn, C)
        iterations[active] = it
        active &= ~(delta < tol)
        if not active.any():
            break
    converged = ~active & np.all(np.isfinite(w), axis=1)
    # plspm's sign rule: most indicators of a block must correlate positively with its score.
    load = SW[:, ar, d.block]
    votes = np.sign(load) @ d.member                     # (B x J)
    flip = np.where(votes < 0, -1.0, 1.0)
    return w * flip[:, d.block], iterations, converged


def _batched_inverse(A: np.ndarray) -> np.ndarray:
    """Inverse of each ``A (B x k x k)``; singular items get NaN (they fail convergence, never crash)."""
    try:
        return np.linalg.inv(A)
    except np.linalg.LinAlgError:
        out = np.full_like(A, np.nan)
        for b in range(A.shape[0]):
            try:
                out[b] = np.linalg.inv(A[b])
            except np.linalg.LinAlgError:
                pass
        return out


def _ols_paths(C: np.ndarray, d: _Design) -> tuple[np.ndarray, np.ndarray]:
    """Path matrix ``beta (B x J x J)`` ([from, to]) and ``r2 (B x J)`` (NaN for exogenous)."""
    B, J, _ = C.shape
    beta = np.zeros((B, J, J))
    r2 = np.full((B, J), np.nan)
    for k in range(J):
        P = d.preds[k]
        if P.size:
            beta[:, P, k], r2[:, k] = ols_from_corr(C, k, P)
    return beta, r2


def _total_effects(beta: np.ndarray) -> np.ndarray:
    """Total effects ``(B x J x J)`` = β + β² + … (the model is recursive, so the series ends at J-1)."""
    total = beta.copy()
    power = beta.copy()
    for _ in range(beta.shape[1] - 2):
        power = power @ beta
        total = total + power
    return total


def _rho_a(R: np.ndarray, ws: np.ndarray, d: _Design) -> np.ndarray:
    """Dijkstra–Henseler ρ_A ``(B x J)`` (:func:`csi.engine.kernel_math.rho_a`) from correlations
    ``R (B x p x p)`` and standardised weights ``ws (B x p)``. 1 for mode B blocks and single indicators."""
    rho = np.ones((R.shape[0], len(d.constructs)))
    for j, idx in enumerate(d.items):
        if not d.mode_b[j] and idx.size >= 2:
            rho[:, j] = rho_a(R[:, idx[:, None], idx], ws[:, idx], rescale=False)  # ws: unit-variance scores
    return rho


def _derive(S: np.ndarray, w: np.ndarray, d: _Design, plsc: bool) -> dict[str, np.ndarray]:
    """Everything the results need from ``S (B x p x p)`` and weights ``w (B x p)``.

    Keys: ``C (B x J x J)`` construct correlations used for the paths (corrected under PLSc),
    ``C_pls`` composite correlations, ``cross (B x p x J)`` indicator–score correlations,
    ``loading (B x p)``, ``beta (B x J x J)``, ``r2 (B x J)``, ``total (B x J x J)``,
    ``rho_a (B x J)``, ``ws (B x p)`` weights on the standardised scale.
    """
    R, sd = cov_to_corr(S)
    SW = _sw(S, w, d)
    C = _construct_cov(w, SW, d)
    cross = SW / sd[:, :, None]
    ar = np.arange(S.shape[1])
    loading = cross[:, ar, d.block]
    ws = w * sd
    rho = np.ones((S.shape[0], len(d.constructs)))
    Cu = C
    if plsc:
        rho = _rho_a(R, ws, d)
        with np.errstate(invalid="ignore"):
            scale = np.sqrt(rho[:, :, None] * rho[:, None, :])
            Cu = C / scale
        J = C.shape[1]
        Cu[:, np.arange(J), np.arange(J)] = 1.0
        # consistent loading λ = c·w with c² = ρ_A / (w'w)²; composites keep their correlations
        with np.errstate(invalid="ignore"):
            c = np.sqrt(rho) / ((ws ** 2) @ d.member)
        reflective = np.array([not d.mode_b[j] and d.items[j].size > 1 for j in range(J)])
        lam = ws * c[:, d.block]
        loading = np.where(reflective[d.block][None, :], lam, loading)
    beta, r2 = _ols_paths(Cu, d)
    return {"C": Cu, "C_pls": C, "cross": cross, "loading": loading, "beta": beta, "r2": r2,
            "total": _total_effects(beta), "rho_a": rho, "ws": ws}


# =============================================================================== data preparation
@dataclass(frozen=True)
class _Prepared:
    """Validated analysis data: ``X (n x p)`` raw items of the rows used, ``f (n,)`` frequency weights
    summing to n, ``index`` their row labels, plus counts and the weights column name."""

    X: np.ndarray
    f: np.ndarray
    index: pd.Index
    n_total: int
    n_dropped: int
    weights_name: str | None
    weighted: bool


def _check_options(scheme, missing, standardize, plsc, tol, max_iter) -> None:
    if scheme not in SCHEMES:
        raise SpecError(f"unknown scheme {scheme!r}; choose one of {', '.join(SCHEMES)}")
    if missing not in MISSING:
        raise SpecError(f"unknown missing-data treatment {missing!r}; choose one of {', '.join(MISSING)}")
    if not isinstance(standardize, (bool, np.bool_)) or not isinstance(plsc, (bool, np.bool_)):
        raise SpecError("standardize and plsc must be True or False")
    if not (isinstance(tol, (int, float)) and 0 < tol < 1):
        raise SpecError(f"tol must be a number in (0, 1), got {tol!r}")
    if not (isinstance(max_iter, (int, np.integer)) and max_iter >= 1):
        raise SpecError(f"max_iter must be a positive integer, got {max_iter!r}")


def _prepare(data: pd.DataFrame, spec: ModelSpec, weights, missing: str) -> _Prepared:
    if not isinstance(spec, ModelSpec):
        raise SpecError(f"spec must be a ModelSpec (see csi.syntax.parse_model / csi.templates), "
                        f"got {type(spec).__name__}")
    if not isinstance(data, pd.DataFrame):
        raise DataError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    if data.columns.duplicated().any():
        dup = sorted(set(map(str, data.columns[data.columns.duplicated()])))
        raise DataError(f"duplicate column name{'s' if len(dup) > 1 else ''} in the data: {', '.join(dup)}")
    spec.check_columns(data.columns)
    items = list(spec.indicators)
    bad = [c for c in items if not (pd.api.types.is_numeric_dtype(data[c]) or pd.api.types.is_bool_dtype(data[c]))]
    if bad:
        raise DataError(f"non-numeric indicator column{'s' if len(bad) > 1 else ''} {', '.join(bad)}: "
                        "convert the answers to numbers (missing answers as empty cells)")
    X = data[items].to_numpy(dtype=float, na_value=np.nan)
    inf = [c for k, c in enumerate(items) if np.isinf(X[:, k]).any()]
    if inf:
        raise DataError(f"infinite values in {', '.join(inf)}")
    n_total = len(data)

    wname: str | None = None
    if weights is None:
        f = np.ones(n_total)
    else:
        if isinstance(weights, str):
            if weights not in data.columns:
                raise DataError(f"survey-weight column {weights!r} not found in the data")
            wname = weights
            col = data[weights]
            if not pd.api.types.is_numeric_dtype(col):
                raise DataError(f"survey-weight column {weights!r} is not numeric")
            f = col.to_numpy(dtype=float, na_value=np.nan)
        else:
            f = np.asarray(weights, dtype=float)
            if f.shape != (n_total,):
                raise DataError(f"weights must have one value per row ({n_total}), got shape {f.shape}")
        label = repr(wname) if wname else "weights"
        if not np.all(np.isfinite(f)):
            raise DataError(f"survey weights {label} have {int((~np.isfinite(f)).sum())} missing or infinite values")
        if (f < 0).any():
            raise DataError(f"survey weights {label} have {int((f < 0).sum())} negative values")

    miss = np.isnan(X)
    if missing == "listwise":
        keep = ~miss.any(axis=1)
    else:
        keep = ~miss.all(axis=1)      # a respondent who answered nothing carries no information
    X, f = X[keep], f[keep]
    index = data.index[keep]
    n = len(X)
    if f.sum() <= 0 and n:
        raise DataError("the survey weights of the rows used sum to zero")
    need = max([3] + [d.size + 2 for d in _Design.from_spec(spec).preds]
               + [len(spec.blocks[c]) + 1 for c in spec.constructs if spec.modes[c] == "B"])
    if n < need:
        raise DataError(f"too few usable rows: {n} of {n_total} after {missing} missing-data treatment; "
                        f"this model needs at least {need}")
    f = f * (n / f.sum())
    if missing == "mean" and miss[keep].any():
        mean = (f @ np.nan_to_num(X)) / (f @ ~np.isnan(X))
        X = np.where(np.isnan(X), mean, X)
    return _Prepared(X=X, f=f, index=index, n_total=n_total, n_dropped=n_total - n,
                     weights_name=wname, weighted=weights is not None)


def _check_variance(sd: np.ndarray, items) -> None:
    zero = [i for i, s in zip(items, sd) if not s > 1e-12 * max(1.0, float(np.nanmax(sd)))]
    if zero:
        raise DataError(f"indicator{'s' if len(zero) > 1 else ''} {', '.join(zero)} "
                        f"{'have' if len(zero) > 1 else 'has'} no variance in the rows analysed "
                        "(every respondent gave the same answer); drop it from the model")


# =============================================================================== result
@dataclass(frozen=True)
class PLSResult:
    """A PLS-PM fit: tidy tables plus the settings and diagnostics in ``info``.

    ``paths`` (from, to, estimate); ``outer`` (construct, indicator, weight, loading, communality);
    ``cross_loadings`` (indicator × construct correlations); ``constructs`` (construct, r2, r2_adj,
    mode, n_indicators; r2 NaN for exogenous constructs); ``effects`` (from, to, direct, indirect,
    total); ``f2`` (from, to, f2); ``scores`` (n_used × J, unit sample variance, indexed by the rows
    used); ``corr`` (p × p indicator correlations, weighted if weights); ``item_mean``, ``item_sd``
    (raw-scale, weighted if weights); ``info`` (settings, iterations, converged, counts, versions,
    ``rho_a`` per construct when plsc); ``construct_corr`` (J × J construct correlations the paths
    were estimated from: the composites' under PLS, the disattenuated ones under PLSc).
    """

    paths: pd.DataFrame
    outer: pd.DataFrame
    cross_loadings: pd.DataFrame
    constructs: pd.DataFrame
    effects: pd.DataFrame
    f2: pd.DataFrame
    scores: pd.DataFrame
    corr: pd.DataFrame
    item_mean: pd.Series
    item_sd: pd.Series
    spec: ModelSpec
    info: dict = field(default_factory=dict)
    construct_corr: pd.DataFrame | None = None
    #: extended models (higher-order / interaction, :mod:`csi.engine.hoc`): first-stage results by name
    stages: dict = field(default_factory=dict)


def _f2(C: np.ndarray, d: _Design, r2: np.ndarray) -> np.ndarray:
    """Cohen's f² per path ``(len(paths),)`` from construct correlations ``C (J x J)`` and ``r2 (J,)``."""
    return np.array([float(f2_from_corr(C, k, d.preds[k], i, r2_in=r2[k])) for i, k in d.paths])


def estimate_pls(data: pd.DataFrame, spec: ModelSpec, *, scheme: Scheme = "path", standardize: bool = True,
                 plsc: bool = False, weights: str | np.ndarray | None = None, missing: Missing = "listwise",
                 tol: float = 1e-7, max_iter: int = 300) -> PLSResult:
    """Estimate a PLS path model.

    ``data``: one row per respondent, a numeric column per indicator (other columns are ignored).
    ``weights``: a column name or an array ``(n,)`` of non-negative survey weights.
    ``missing``: ``listwise`` drops rows with any missing indicator; ``mean`` imputes the (weighted)
    item mean and drops only rows with every indicator missing.
    Raises :class:`SpecError` / :class:`DataError` for unusable input and :class:`EstimationError`
    when the algorithm does not converge in ``max_iter`` iterations.
    """
    _check_options(scheme, missing, standardize, plsc, tol, max_iter)
    if isinstance(spec, ModelSpec) and spec.is_extended:      # higher-order constructs / interaction terms
        from csi.engine.hoc import estimate_extended
        return estimate_extended(data, spec, scheme=scheme, standardize=standardize, plsc=plsc, weights=weights,
                                 missing=missing, tol=tol, max_iter=max_iter)
    prep = _prepare(data, spec, weights, missing)
    d = _Design.from_spec(spec)
    mean, cov = _moments(prep.X, prep.f)
    corr, sd = cov_to_corr(cov)
    _check_variance(sd, d.indicators)
    S = corr if standardize else cov
    w, iters, conv = _kernel(S[None], d, scheme, tol, max_iter)
    if not conv[0]:
        raise EstimationError(f"PLS did not converge in {max_iter} iterations (scheme {scheme}); "
                              "try another scheme, a larger max_iter, or check blocks for near-collinear items")
    out = _derive(S[None], w, d, plsc)
    w, J = w[0], len(d.constructs)
    beta, r2, C = out["beta"][0], out["r2"][0], out["C"][0]
    if plsc and not np.all(out["rho_a"][0] > 0):
        bad = [c for c, v in zip(d.constructs, out["rho_a"][0]) if not v > 0]
        raise EstimationError(f"PLSc: rho_A is not positive for {', '.join(bad)} (items do not share a common "
                              "factor); consistent PLS cannot correct these blocks — use plain PLS")
    if plsc and not (np.abs(C - np.eye(J)) <= 1).all():
        raise EstimationError("PLSc produced construct correlations beyond ±1 (ρ_A too small); "
                              "the blocks are too unreliable for consistent PLS — use plain PLS")
    cons, inds = d.constructs, d.indicators
    n = prep.X.shape[0]

    paths = pd.DataFrame([(cons[i], cons[k], beta[i, k]) for i, k in d.paths], columns=["from", "to", "estimate"])
    loading = out["loading"][0]
    outer = pd.DataFrame({"construct": [cons[b] for b in d.block], "indicator": list(inds), "weight": w,
                          "loading": loading, "communality": loading ** 2})
    cross = pd.DataFrame(out["cross"][0], index=pd.Index(inds, name="indicator"), columns=list(cons))
    k_pred = np.array([d.preds[j].size for j in range(J)])
    with np.errstate(invalid="ignore", divide="ignore"):
        r2_adj = np.where(k_pred > 0, 1 - (1 - r2) * (n - 1) / (n - k_pred - 1), np.nan)
    constructs = pd.DataFrame({"construct": list(cons), "r2": r2, "r2_adj": r2_adj,
                               "mode": [spec.modes[c] for c in cons], "n_indicators": [len(spec.blocks[c]) for c in cons]})
    total = out["total"][0]
    rows = [(cons[i], cons[k], beta[i, k], total[i, k] - beta[i, k], total[i, k])
            for i in range(J) for k in range(J) if i != k and total[i, k] != 0]
    effects = pd.DataFrame(rows, columns=["from", "to", "direct", "indirect", "total"])
    f2 = pd.DataFrame([(cons[i], cons[k]) for i, k in d.paths], columns=["from", "to"])
    f2["f2"] = _f2(C, d, r2)
    Z = (prep.X - mean) / sd if standardize else prep.X - mean
    scores = pd.DataFrame(Z @ (w[:, None] * d.member), index=prep.index, columns=list(cons))
    info = {
        "scheme": scheme, "standardize": bool(standardize), "plsc": bool(plsc), "missing": missing,
        "weights": prep.weights_name if prep.weights_name else ("array" if prep.weighted else None),
        "tol": tol, "max_iter": max_iter, "iterations": int(iters[0]), "converged": bool(conv[0]),
        "n_total": prep.n_total, "n_used": n, "n_dropped": prep.n_dropped, "versions": versions(),
    }
    if plsc:
        info["rho_a"] = dict(zip(cons, map(float, out["rho_a"][0])))
    return PLSResult(paths=paths, outer=outer, cross_loadings=cross, constructs=constructs, effects=effects,
                     f2=f2, scores=scores, corr=pd.DataFrame(corr, index=list(inds), columns=list(inds)),
                     item_mean=pd.Series(mean, index=list(inds), name="mean"),
                     item_sd=pd.Series(sd, index=list(inds), name="sd"), spec=spec, info=info,
                     construct_corr=pd.DataFrame(C, index=list(cons), columns=list(cons)))
