"""Nonparametric bootstrap of a PLS path model on the batched kernel.

How it is fast: a resample is fully described by its row counts ``c (n,)`` (multinomial, drawn as
``n`` row indices with replacement), so its weighted covariance is a linear function of the counts.
All ``B`` covariance matrices come from one matrix product ``F (B x n) @ O (n x p²)`` where ``O``
holds the row-wise outer products of the centred data; the kernel (:func:`csi.pls._kernel`) then
runs on chunks of ``S (B_chunk x p x p)``. The front door :func:`csi.pls.estimate_pls` is never
re-entered.

Conventions:

* Survey weights combine with resampling as frequency weights ``c_i · f_i`` (normalised to sum n).
* ``missing="mean"`` imputes once, on the full sample; resamples reuse the imputed values.
* Sign indeterminacy: each draw's construct weights are aligned with the full-sample weights — a
  construct whose weight vector has a negative inner product with the full-sample one is flipped
  (weights, loadings and every path touching it) — before any statistic is taken.
* Dropped draws: a resample in which an indicator has no variance (``"zero-variance indicator"``),
  the algorithm does not converge (``"not converged"``) or PLSc gives a construct correlation beyond
  ±1 (``"inadmissible PLSc correlation"``) is dropped and counted in ``dropped``; nothing is silent.
* ``p_value``: two-sided, from the normal distribution of ``t = estimate / std_error``.
* ``std_error``: standard deviation of the kept draws (divisor B_kept - 1).
* Percentile CI: the ``alpha/2`` and ``1 - alpha/2`` quantiles of the draws (numpy's default linear
  interpolation). BCa (Efron 1987): bias correction ``z0 = Φ⁻¹(#{θ* < θ̂} / B)`` and acceleration
  from the jackknife, ``a = Σ(θ̄ - θ_(i))³ / (6 [Σ(θ̄ - θ_(i))²]^{3/2})``; the jackknife's ``n``
  leave-one-out fits run on the same batched kernel.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Literal

import numpy as np
import pandas as pd
from scipy.special import ndtr, ndtri

from csi.errors import EstimationError, SpecError
from csi.engine.pls import Missing, Scheme, _check_options, _check_variance, _derive, _Design, _kernel, _moments, _prepare
from csi.model.syntax import ModelSpec

CIKind = Literal["percentile", "bca"]
KINDS = ("paths", "weights", "loadings", "total_effects", "r2", "item_mean", "item_sd", "htmt")


@dataclass(frozen=True)
class BootstrapResult:
    """Bootstrap draws and their summaries.

    ``draws[kind]``: DataFrame (B_kept × parameters) for kind in ``paths`` (``IMAG->EXPE``),
    ``weights`` / ``loadings`` / ``item_mean`` / ``item_sd`` (indicator codes), ``total_effects``
    (``IMAG->QUAL``, every pair with a nonzero full-sample total effect), ``r2`` (endogenous
    constructs) and ``htmt`` (``IMAG~EXPE``, when :func:`csi.assess.htmt_matrix` is available).
    ``estimates[kind]``: full-sample values (Series over the same columns).
    ``dropped``: ``{reason: count}``. ``settings``: the estimation settings used.
    """

    draws: dict[str, pd.DataFrame]
    estimates: dict[str, pd.Series]
    n_boot: int
    n_kept: int
    dropped: dict[str, int]
    seed: int
    alpha: float = 0.05
    settings: dict = field(default_factory=dict)
    jackknife: dict[str, pd.DataFrame] = field(default_factory=dict, repr=False)

    def summary(self, kind: str, ci: CIKind = "percentile", alpha: float | None = None) -> pd.DataFrame:
        """One row per parameter: (labels…, parameter, estimate, boot_mean, std_error, t, p_value,
        ci_low, ci_high). Labels are ``from, to`` for paths and total effects, ``construct,
        indicator`` for outer parameters and item moments, ``construct`` for r2,
        ``construct_1, construct_2`` for htmt."""
        if kind not in self.draws:
            raise SpecError(f"no bootstrap draws of {kind!r}; available: {', '.join(self.draws)}")
        if ci not in ("percentile", "bca"):
            raise SpecError(f"unknown confidence interval {ci!r}; choose percentile or bca")
        alpha = self.alpha if alpha is None else alpha
        if not 0 < alpha < 1:
            raise SpecError(f"alpha must be between 0 and 1, got {alpha!r}")
        D = self.draws[kind].to_numpy(float)
        est = self.estimates[kind].reindex(self.draws[kind].columns).to_numpy(float)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.nanmean(D, axis=0) if len(D) else np.full(D.shape[1], np.nan)
            se = np.nanstd(D, axis=0, ddof=1) if len(D) > 1 else np.full(D.shape[1], np.nan)
            t = est / se
            p = 2 * ndtr(-np.abs(t))
        if ci == "percentile":
            lo, hi = _percentile(D, alpha)
        else:
            jk = self.jackknife.get(kind)
            if jk is None:
                raise SpecError(f"no jackknife values for {kind!r}; BCa intervals are unavailable")
            lo, hi = _bca(D, est, jk.to_numpy(float), alpha)
        out = _labels(kind, list(self.draws[kind].columns), self.settings.get("_blocks", {}))
        out["estimate"], out["boot_mean"], out["std_error"] = est, mean, se
        out["t"], out["p_value"], out["ci_low"], out["ci_high"] = t, p, lo, hi
        return out


def _labels(kind: str, cols: list[str], owner: dict[str, str]) -> pd.DataFrame:
    if kind in ("paths", "total_effects"):
        f, t = zip(*(c.split("->") for c in cols)) if cols else ((), ())
        return pd.DataFrame({"from": list(f), "to": list(t), "parameter": cols})
    if kind in ("weights", "loadings", "item_mean", "item_sd"):
        return pd.DataFrame({"construct": [owner.get(c, "") for c in cols], "indicator": cols, "parameter": cols})
    if kind == "htmt":
        a, b = zip(*(c.split("~") for c in cols)) if cols else ((), ())
        return pd.DataFrame({"construct_1": list(a), "construct_2": list(b), "parameter": cols})
    return pd.DataFrame({"construct": cols, "parameter": cols})


def _percentile(D: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    from csi.engine.kernel_math import percentile_interval
    return percentile_interval(D, alpha)


def _bca(D: np.ndarray, est: np.ndarray, jk: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """BCa limits per column of ``D (B x K)`` from full-sample ``est (K,)`` and jackknife ``jk (n x K)``."""
    lo = np.full(D.shape[1], np.nan)
    hi = np.full(D.shape[1], np.nan)
    za = ndtri(np.array([alpha / 2, 1 - alpha / 2]))
    for k in range(D.shape[1]):
        x = D[:, k][np.isfinite(D[:, k])]
        j = jk[:, k][np.isfinite(jk[:, k])]
        if x.size < 2 or not np.isfinite(est[k]):
            continue
        prop = np.mean(x < est[k])
        if prop <= 0 or prop >= 1:      # z0 infinite: every draw on one side; BCa is undefined
            continue
        z0 = ndtri(prop)
        dev = j.mean() - j if j.size > 2 else np.zeros(1)
        den = 6 * np.sum(dev ** 2) ** 1.5
        a = np.sum(dev ** 3) / den if den > 0 else 0.0
        q = ndtr(z0 + (z0 + za) / (1 - a * (z0 + za)))
        lo[k], hi[k] = np.quantile(x, q)
    return lo, hi


# =============================================================================== computation
def _extract(S: np.ndarray, w: np.ndarray, d: _Design, plsc: bool, tot_pairs, endo, w_ref: np.ndarray | None,
             htmt_fn, R: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Statistics of each batch item as arrays ``(B x K)`` plus an admissibility mask ``(B,)``."""
    if w_ref is not None:
        # align each construct's weight vector with the full-sample one (sign indeterminacy)
        dots = (w * w_ref[None, :]) @ d.member            # (B x J)
        w = w * np.where(dots < 0, -1.0, 1.0)[:, d.block]
    out = _derive(S, w, d, plsc)
    ok = np.all(np.isfinite(out["beta"].reshape(len(S), -1)), axis=1)
    if plsc:
        J = len(d.constructs)
        off = np.abs(out["C"] - np.eye(J)[None])
        ok &= (off <= 1).all(axis=(1, 2)) & np.all(out["rho_a"] > 0, axis=1)
    res = {
        "paths": np.stack([out["beta"][:, i, k] for i, k in d.paths], axis=1),
        "weights": w,
        "loadings": out["loading"],
        "total_effects": np.stack([out["total"][:, i, k] for i, k in tot_pairs], axis=1)
        if tot_pairs else np.zeros((len(S), 0)),
        "r2": out["r2"][:, endo],
    }
    if htmt_fn is not None:
        H = htmt_fn(R, [list(ix) for ix in d.items])
        iu = np.triu_indices(len(d.constructs), 1)
        res["htmt"] = H[:, iu[0], iu[1]]
    return res, ok


def _batch_moments(F: np.ndarray, Xc: np.ndarray, O: np.ndarray, iu: tuple[np.ndarray, np.ndarray]
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Means ``(B x p)`` (relative to the centring of ``Xc (n x p)``) and covariances ``(B x p x p)`` of
    frequency-weighted samples. Each row of ``F (B x n)`` sums to that sample's size ``m``; the
    covariance divisor is ``m - 1``. ``O (n x q)`` holds the row-wise products ``x_a x_b`` for the
    upper-triangle pairs ``iu`` only (half the work of full outer products)."""
    from csi.engine.kernel_math import count_moments
    return count_moments(F, Xc, O, iu)


def bootstrap_pls(data: pd.DataFrame, spec: ModelSpec, *, n_boot: int = 5000, seed: int,
                  progress: Callable[[int, int], None] | None = None, scheme: Scheme = "path",
                  standardize: bool = True, plsc: bool = False, weights: str | np.ndarray | None = None,
                  missing: Missing = "listwise", tol: float = 1e-7, max_iter: int = 300, alpha: float = 0.05,
                  jackknife: bool = True, chunk_size: int = 1250, threads: int = 2) -> BootstrapResult:
    """Bootstrap a PLS model: ``n_boot`` resamples of the rows, seeded by ``seed``.

    Settings are those of :func:`csi.pls.estimate_pls` (same validation, same data preparation).
    ``progress(done, total)`` is called after each chunk (in the calling thread). ``threads`` chunks
    run concurrently; results do not depend on ``chunk_size`` or ``threads``. ``jackknife=False`` skips the ``n``
    leave-one-out fits (BCa then unavailable). Raises :class:`EstimationError` when the full sample
    does not converge or when no resample can be kept.
    """
    _check_options(scheme, missing, standardize, plsc, tol, max_iter)
    if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)) or n_boot < 2:
        raise SpecError(f"n_boot must be an integer ≥ 2, got {n_boot!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise SpecError(f"seed must be an integer, got {seed!r}")
    if not 0 < alpha < 1:
        raise SpecError(f"alpha must be between 0 and 1, got {alpha!r}")
    prep = _prepare(data, spec, weights, missing)
    d = _Design.from_spec(spec)
    items, cons = list(d.indicators), list(d.constructs)
    X, f = prep.X, prep.f
    n, p = X.shape
    mean0, cov0 = _moments(X, f)
    sd0 = np.sqrt(np.diag(cov0))
    _check_variance(sd0, items)

    from csi.evaluate.assess import htmt_matrix as htmt_fn

    def to_S(cov: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        sd = np.sqrt(np.maximum(np.einsum("bii->bi", cov), 0.0))
        with np.errstate(invalid="ignore", divide="ignore"):
            R = cov / (sd[:, :, None] * sd[:, None, :])
        return (R if standardize else cov), R, sd

    S0, R0, _ = to_S(cov0[None])
    w0, _, conv0 = _kernel(S0, d, scheme, tol, max_iter)
    if not conv0[0]:
        raise EstimationError(f"PLS did not converge on the full sample in {max_iter} iterations")
    full = _derive(S0, w0, d, plsc)
    J = len(cons)
    tot_pairs = [(i, k) for i in range(J) for k in range(J) if i != k and full["total"][0, i, k] != 0]
    endo = [k for k in range(J) if d.preds[k].size]
    est, ok0 = _extract(S0, w0, d, plsc, tot_pairs, endo, None, htmt_fn, R0)
    if not ok0[0]:
        raise EstimationError("the full-sample PLSc estimates are inadmissible (construct correlation beyond ±1)")
    est["item_mean"], est["item_sd"] = mean0[None], sd0[None]
    names = {
        "paths": [f"{cons[i]}->{cons[k]}" for i, k in d.paths], "weights": items, "loadings": items,
        "total_effects": [f"{cons[i]}->{cons[k]}" for i, k in tot_pairs], "r2": [cons[k] for k in endo],
        "item_mean": items, "item_sd": items,
        "htmt": [f"{cons[a]}~{cons[b]}" for a, b in zip(*np.triu_indices(J, 1))],
    }
    w_ref = w0[0]

    Xc = X - mean0                               # centring first keeps M2 - m m' well conditioned
    iu = np.triu_indices(p)
    O = Xc[:, iu[0]] * Xc[:, iu[1]]
    rng = np.random.default_rng(seed)

    def run(F: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray, dict[str, int]]:
        """Statistics ``(b x K)`` per kind, kept mask ``(b,)`` and drop reasons of the samples ``F (b x n)``."""
        why: dict[str, int] = {}

        def tag(reason: str, k: int) -> None:
            if k:
                why[reason] = why.get(reason, 0) + k

        mean, cov = _batch_moments(F, Xc, O, iu)
        S, R, sd = to_S(cov)
        scale = np.max(sd, axis=1, keepdims=True)
        var_ok = np.all(sd > 1e-12 * np.maximum(scale, 1.0), axis=1)
        tag("zero-variance indicator", int((~var_ok).sum()))
        keep = np.flatnonzero(var_ok)
        B = len(F)
        stats = {k: np.full((B, len(names[k])), np.nan) for k in names if k in est}
        good = np.zeros(B, dtype=bool)
        if keep.size:
            w, _, conv = _kernel(S[keep], d, scheme, tol, max_iter)
            tag("not converged", int((~conv).sum()))
            kc = keep[conv]
            if kc.size:
                res, ok = _extract(S[kc], w[conv], d, plsc, tot_pairs, endo, w_ref, htmt_fn, R[kc])
                tag("inadmissible PLSc correlation", int((~ok).sum()))
                for k, v in res.items():
                    stats[k][kc[ok]] = v[ok]
                good[kc[ok]] = True
        stats["item_mean"] = mean + mean0
        stats["item_sd"] = sd
        return stats, good, why

    # all row indices are drawn up front, so results do not depend on chunk_size or threads
    idx = rng.integers(0, n, size=(n_boot, n))
    chunk_size = max(1, int(chunk_size))
    starts = list(range(0, n_boot, chunk_size))

    def run_chunk(start: int):
        block = idx[start:start + chunk_size]
        b = len(block)
        counts = np.bincount((block + n * np.arange(b)[:, None]).ravel(), minlength=b * n).reshape(b, n)
        F = counts * f[None, :]
        F *= n / F.sum(axis=1, keepdims=True)
        return run(F)

    parts: dict[str, list[np.ndarray]] = {k: [] for k in names if k in est}
    dropped: dict[str, int] = {}
    done = 0
    # numpy releases the GIL in its array loops, so two threads use both cores of a small machine
    with ThreadPoolExecutor(max_workers=max(1, min(threads, len(starts)))) as pool:
        for start, (stats, good, why) in zip(starts, pool.map(run_chunk, starts)):
            for k in parts:
                parts[k].append(stats[k][good])
            for r, k in why.items():
                dropped[r] = dropped.get(r, 0) + k
            done += min(chunk_size, n_boot - start)
            if progress is not None:
                progress(done, n_boot)

    draws = {k: pd.DataFrame(np.concatenate(v), columns=names[k]) for k, v in parts.items()}
    n_kept = len(draws["paths"])
    if n_kept == 0:
        raise EstimationError(f"no bootstrap resample could be estimated (dropped: {dropped})")
    for k in draws:
        draws[k].index = pd.RangeIndex(n_kept, name="draw")

    jk: dict[str, pd.DataFrame] = {}
    if jackknife:
        # leave-one-out samples: row i gets weight 0, the rest keep their weights (sum n - 1)
        F = np.repeat(f[None, :], n, axis=0)
        F[np.arange(n), np.arange(n)] = 0.0
        F *= (n - 1) / F.sum(axis=1, keepdims=True)
        stats, good, _ = run(F)
        for k in parts:
            v = stats[k].copy()
            v[~good] = np.nan
            jk[k] = pd.DataFrame(v, columns=names[k])

    estimates = {k: pd.Series(est[k][0], index=names[k]) for k in parts}
    settings = {"scheme": scheme, "standardize": bool(standardize), "plsc": bool(plsc), "missing": missing,
                "weights": prep.weights_name if prep.weights_name else ("array" if prep.weighted else None),
                "tol": tol, "max_iter": max_iter, "n_used": n,
                "_blocks": {i: cons[b] for i, b in zip(items, d.block)}}
    return BootstrapResult(draws=draws, estimates=estimates, n_boot=int(n_boot), n_kept=int(n_kept),
                           dropped=dropped, seed=int(seed), alpha=float(alpha), settings=settings, jackknife=jk)
