"""Nonparametric bootstrap of a PLS path model on the batched kernel.

How it is fast: a resample is fully described by its row counts ``c (n,)`` (multinomial, drawn as
``n`` row indices with replacement), so its weighted covariance is a linear function of the counts.
All ``B`` covariance matrices come from one matrix product ``F (B x n) @ O (n x p²)`` where ``O``
holds the row-wise outer products of the centred data; the kernel (:func:`csi.pls._kernel`) then
runs on chunks of ``S (B_chunk x p x p)``. The front door :func:`csi.pls.estimate_pls` is never
re-entered. Memory is linear in ``n``: a chunk of ``F`` holds at most ``_CELLS`` numbers (fewer
rows per chunk for large ``n``), for the resamples and for the jackknife alike.

Keys as columns (as lavaan's parameter table): no parameter is ever named by a glued string.

* ``draws[kind]`` columns, ``estimates[kind]`` index and ``jackknife[kind]`` columns are the same
  :class:`pandas.Index`, its level names given by :data:`LABELS`: ``paths`` and ``total_effects`` a
  2-level MultiIndex ``("from", "to")`` (``("IMAG", "EXPE")`` is the path IMAG → EXPE); ``htmt`` a 2-level
  MultiIndex ``("construct_1", "construct_2")`` (constructs in model order, each pair once); ``weights``,
  ``loadings``, ``item_mean``, ``item_sd`` single-level indicator codes (named ``"indicator"``); ``r2``
  construct codes (named ``"construct"``). A parameter is looked up by its tuple:
  ``draws["paths"][("IMAG", "EXPE")]``, ``draws["weights"]["sat1"]``.
* :meth:`BootstrapResult.labels` gives those keys as label columns (``from, to`` | ``construct,
  indicator`` for outer parameters and item moments, the construct taken from the model's blocks |
  ``construct`` | ``construct_1, construct_2``); :meth:`BootstrapResult.summary` is the label columns
  followed by the statistics. Consumers join on label columns, never on a built or split string.

Conventions:

* Survey weights combine with resampling as frequency weights ``c_i · f_i`` (normalised to sum n).
* ``missing="mean"`` imputes once, on the full sample; resamples reuse the imputed values.
* Sign indeterminacy: each draw's construct weights are aligned with the full-sample weights — a
  construct whose weight vector has a negative inner product with the full-sample one is flipped
  (weights, loadings and every path touching it) — before any statistic is taken.
* Dropped draws, per reason, counted in ``dropped`` (nothing is silent); each resample is counted
  once, under the first reason that applies:

  - ``"zero-variance indicator"``, ``"not converged"``: the resample has no PLS solution; it is
    dropped from every statistic.
  - ``"inadmissible PLSc correlation"`` (PLSc only): a corrected construct correlation beyond ±1
    or a ρ_A ≤ 0. Dropped **only** from the kinds that depend on the PLSc correction,
    :data:`PLSC_KINDS` = ``paths``, ``loadings`` (consistent loadings λ = c·w need ρ_A),
    ``total_effects``, ``r2`` (all three from the corrected construct correlations). The kinds
    ``weights`` (the PLS algorithm never sees the correction), ``item_mean``, ``item_sd`` and
    ``htmt`` (functions of the resample's indicator moments only) keep every converged resample:
    dropping them there would select resamples by an unrelated criterion and bias their intervals
    (HTMT is a disattenuated correlation, so the resamples with a corrected correlation beyond 1
    are exactly those with a high HTMT — dropping them pulled the HTMT upper limits down).
  - ``"singular construct correlations"``: the paths cannot be solved (non-finite β); dropped
    from the structural kinds ``paths``, ``total_effects``, ``r2`` only.

  ``draws[kind]`` has one row per converged resample (index ``draw`` = the resample's number,
  0 … n_boot-1, so a draw can be refitted); a kind that drops a resample holds NaN in its row,
  which every summary skips. ``n_kept_by_kind[kind]`` counts the rows a kind kept, ``n_kept`` the
  resamples kept by every kind (= the PLSc-admissible ones under PLSc).
* ``p_value``: two-sided, from the normal distribution of ``t = estimate / std_error``.
* ``std_error``: standard deviation of the kept draws (divisor B_kept - 1).
* Percentile CI: the ``alpha/2`` and ``1 - alpha/2`` quantiles of the draws (numpy's default linear
  interpolation). BCa (Efron 1987): bias correction ``z0 = Φ⁻¹(#{θ* < θ̂} / B)`` and acceleration
  from the jackknife, ``a = Σ(θ̄ - θ_(i))³ / (6 [Σ(θ̄ - θ_(i))²]^{3/2})``; the jackknife's ``n``
  leave-one-out fits run on the same batched kernel, in chunks of rows (memory linear in n, values
  independent of the chunking); a leave-one-out fit a kind would drop is NaN for that kind.
* Small samples (``notes``): when the sample has fewer than :data:`SMALL_N` = 150 respondents and
  no jackknife was run (so only percentile intervals exist), ``notes`` carries
  ``{"code": "small_n_percentile", "message", "message_zh"}`` recommending BCa intervals
  (``--ci bca``). Evidence: a seeded coverage simulation (``tests/reference/bootstrap_coverage_sim.py``,
  results in ``tests/reference/bootstrap_coverage.csv``; CCSI structure, normal common-factor data,
  500 samples per n, B = 399, mean coverage of the 11 paths' nominal 95 % intervals, Monte Carlo
  s.e. about 0.3 points). PLSc, percentile vs BCa: n = 50 93.0 % vs 94.7 %, n = 75 93.1 vs 94.1,
  n = 100 94.3 vs 94.9, n = 150 93.8 vs 94.1, n = 200 93.8 vs 94.0, n = 300 94.5 vs 94.6. Below
  150 the percentile interval under-covers and BCa recovers 0.6–1.7 points; from 150 on the two
  differ by at most 0.3 points (within the simulation's noise), so the note would only be noise.
  PLS (truth: the population PLS values): n = 50 92.7 vs 93.3, n = 75 93.0 vs 93.3, n = 100 94.1
  vs 94.2, n = 150 94.0 vs 93.9, n = 200 93.8 vs 93.7, n = 300 94.3 vs 94.3 — the same under-coverage below 150, a
  smaller BCa gain; the note is given for both estimators.
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
#: kinds whose value depends on the PLSc correction: an inadmissible PLSc resample is dropped from these only
PLSC_KINDS = frozenset({"paths", "loadings", "total_effects", "r2"})
#: kinds that need the structural solution (finite path coefficients)
STRUCTURAL_KINDS = frozenset({"paths", "total_effects", "r2"})
#: at most this many numbers in one chunk of frequency weights F (rows x n): memory linear in n
_CELLS = 1 << 22
#: below this many respondents, percentile-only results carry the small-sample note (evidence: module docstring)
SMALL_N = 150
#: the level names of each kind's parameter keys (the columns of ``draws[kind]``; module docstring)
LABELS = {"paths": ("from", "to"), "total_effects": ("from", "to"), "htmt": ("construct_1", "construct_2"),
          "weights": ("indicator",), "loadings": ("indicator",), "item_mean": ("indicator",),
          "item_sd": ("indicator",), "r2": ("construct",)}
#: kinds keyed by indicator: their label columns add the indicator's construct
_OUTER_KINDS = frozenset({"weights", "loadings", "item_mean", "item_sd"})


@dataclass(frozen=True)
class BootstrapResult:
    """Bootstrap draws and their summaries.

    ``draws[kind]``: DataFrame (converged resamples × parameters; index ``draw`` = resample number) for
    kind in ``paths`` (columns a MultiIndex ``("from", "to")``), ``weights`` / ``loadings`` /
    ``item_mean`` / ``item_sd`` (indicator codes), ``total_effects`` (MultiIndex ``("from", "to")``,
    every pair with a nonzero full-sample total effect), ``r2`` (endogenous constructs) and ``htmt``
    (MultiIndex ``("construct_1", "construct_2")``); the level names are :data:`LABELS`. A row a kind
    dropped (see the module docstring: PLSc-inadmissible resamples are dropped from :data:`PLSC_KINDS`
    only) is NaN in that kind. ``estimates[kind]``: full-sample values (Series indexed like the columns);
    ``jackknife[kind]``: leave-one-out values (rows = left-out respondent, same columns).
    ``n_kept``: resamples kept by every kind; ``n_kept_by_kind[kind]``: resamples that kind kept.
    ``dropped``: ``{reason: count}``, each resample under its first reason (it is dropped from every
    kind or from some, by reason). ``settings``: the estimation settings used.
    ``notes``: tuple of ``{"code", "message", "message_zh"}`` dicts for the reader of the results
    (``small_n_percentile``: n < :data:`SMALL_N` and percentile intervals only).
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
    n_kept_by_kind: dict[str, int] = field(default_factory=dict)
    notes: tuple[dict, ...] = ()

    def labels(self, kind: str) -> pd.DataFrame:
        """The keys of ``draws[kind]`` as label columns, one row per column, in column order: ``from,
        to`` for paths and total effects, ``construct, indicator`` for outer parameters and item moments
        (the indicator's construct from the model's blocks), ``construct`` for r2, ``construct_1,
        construct_2`` for htmt."""
        if kind not in self.draws:
            raise SpecError(f"no bootstrap draws of {kind!r}; available: {', '.join(self.draws)}")
        out = self.draws[kind].columns.to_frame(index=False)
        out.columns = list(LABELS[kind])
        if kind in _OUTER_KINDS:
            owner = self.settings.get("_blocks", {})
            out.insert(0, "construct", [owner.get(c, "") for c in out["indicator"]])
        return out

    def summary(self, kind: str, ci: CIKind = "percentile", alpha: float | None = None) -> pd.DataFrame:
        """One row per parameter: (labels…, estimate, boot_mean, std_error, t, p_value, ci_low,
        ci_high); the labels are :meth:`labels` (no glued parameter name)."""
        out = self.labels(kind)
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
        out["estimate"], out["boot_mean"], out["std_error"] = est, mean, se
        out["t"], out["p_value"], out["ci_low"], out["ci_high"] = t, p, lo, hi
        return out


def _keys(kind: str, labels: list) -> pd.Index:
    """The column index of ``draws[kind]``: ``labels`` (codes, or pairs of codes for the 2-level kinds)
    under the level names :data:`LABELS`."""
    names = list(LABELS[kind])
    if len(names) == 1:
        return pd.Index(list(labels), name=names[0])
    return pd.MultiIndex.from_arrays([[k[0] for k in labels], [k[1] for k in labels]], names=names)


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
             htmt_fn, R: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Statistics of each batch item as arrays ``(B x K)``, the PLSc admissibility mask ``(B,)`` (all
    True without PLSc) and the finite-paths mask ``(B,)``."""
    if w_ref is not None:
        # align each construct's weight vector with the full-sample one (sign indeterminacy)
        dots = (w * w_ref[None, :]) @ d.member            # (B x J)
        w = w * np.where(dots < 0, -1.0, 1.0)[:, d.block]
    out = _derive(S, w, d, plsc)
    finite = np.all(np.isfinite(out["beta"].reshape(len(S), -1)), axis=1)
    adm = np.ones(len(S), dtype=bool)
    if plsc:
        J = len(d.constructs)
        off = np.abs(out["C"] - np.eye(J)[None])
        adm = (off <= 1).all(axis=(1, 2)) & np.all(out["rho_a"] > 0, axis=1)
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
    return res, adm, finite


def _kind_masks(kinds, conv: np.ndarray, adm: np.ndarray, finite: np.ndarray, plsc: bool) -> dict[str, np.ndarray]:
    """Which resamples each kind keeps: converged ones, less the PLSc-inadmissible ones for
    :data:`PLSC_KINDS` (PLSc only), less the non-finite-path ones for :data:`STRUCTURAL_KINDS`."""
    out = {}
    for k in kinds:
        m = conv.copy()
        if plsc and k in PLSC_KINDS:
            m &= adm
        if k in STRUCTURAL_KINDS:
            m &= finite
        out[k] = m
    return out


def _small_n_notes(n: int, plsc: bool, jackknife: bool) -> tuple[dict, ...]:
    """The ``small_n_percentile`` note when only percentile intervals exist and n < :data:`SMALL_N`."""
    if jackknife or n >= SMALL_N:
        return ()
    what, what_zh = ("PLSc", "PLSc ") if plsc else ("PLS", "PLS ")
    return ({
        "code": "small_n_percentile",
        "message": (f"With {n} respondents (fewer than {SMALL_N}), percentile bootstrap intervals of the {what} "
                    f"estimates tend to be too narrow (they cover the true value less often than the nominal "
                    f"level). BCa intervals come closer to it: prefer them (--ci bca)."),
        "message_zh": (f"样本只有 {n} 位受访者（少于 {SMALL_N}），{what_zh}估计的百分位自助法置信区间往往偏窄"
                       f"（覆盖真值的比例低于名义水平）。BCa 置信区间更接近名义水平，建议改用（--ci bca）。"),
    },)


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
                  jackknife: bool = True, chunk_size: int = 1250, threads: int = 2,
                  jackknife_chunk: int | None = None) -> BootstrapResult:
    """Bootstrap a PLS model: ``n_boot`` resamples of the rows, seeded by ``seed``.

    Settings are those of :func:`csi.pls.estimate_pls` (same validation, same data preparation).
    ``progress(done, total)`` is called after each chunk (in the calling thread). ``threads`` chunks
    run concurrently; results do not depend on ``chunk_size`` or ``threads``. ``jackknife=False`` skips the ``n``
    leave-one-out fits (BCa then unavailable); they run ``jackknife_chunk`` rows at a time (default: as many
    as keep a chunk of weights under ``_CELLS`` numbers), with values independent of it. Raises :class:`EstimationError` when the full sample
    does not converge or when no resample can be kept.
    """
    _check_options(scheme, missing, standardize, plsc, tol, max_iter)
    if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)) or n_boot < 2:
        raise SpecError(f"n_boot must be an integer ≥ 2, got {n_boot!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise SpecError(f"seed must be an integer, got {seed!r}")
    if not 0 < alpha < 1:
        raise SpecError(f"alpha must be between 0 and 1, got {alpha!r}")
    if isinstance(spec, ModelSpec) and spec.is_extended:      # higher-order constructs / interaction terms
        from csi.engine.hoc import bootstrap_extended
        return bootstrap_extended(data, spec, n_boot=n_boot, seed=seed, progress=progress, alpha=alpha,
                                  jackknife=jackknife, scheme=scheme, standardize=standardize, plsc=plsc,
                                  weights=weights, missing=missing, tol=tol, max_iter=max_iter)
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
    est, adm0, fin0 = _extract(S0, w0, d, plsc, tot_pairs, endo, None, htmt_fn, R0)
    if not adm0[0]:
        raise EstimationError("the full-sample PLSc estimates are inadmissible (construct correlation beyond ±1)")
    if not fin0[0]:
        raise EstimationError("the full-sample path coefficients cannot be solved (singular construct correlations)")
    est["item_mean"], est["item_sd"] = mean0[None], sd0[None]
    keys = {
        "paths": [(cons[i], cons[k]) for i, k in d.paths], "weights": items, "loadings": items,
        "total_effects": [(cons[i], cons[k]) for i, k in tot_pairs], "r2": [cons[k] for k in endo],
        "item_mean": items, "item_sd": items,
        "htmt": [(cons[a], cons[b]) for a, b in zip(*np.triu_indices(J, 1))],
    }
    names = {k: _keys(k, v) for k, v in keys.items()}
    kinds = [k for k in names if k in est]
    w_ref = w0[0]

    Xc = X - mean0                               # centring first keeps M2 - m m' well conditioned
    iu = np.triu_indices(p)
    O = Xc[:, iu[0]] * Xc[:, iu[1]]
    rng = np.random.default_rng(seed)

    def run(F: np.ndarray) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], np.ndarray, dict[str, int]]:
        """Statistics ``(b x K)`` per kind (NaN where the kind drops the sample), kept mask ``(b,)`` per
        kind, converged mask ``(b,)`` and drop reasons of the samples ``F (b x n)``."""
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
        stats = {k: np.full((B, len(names[k])), np.nan) for k in kinds}
        conv_all = np.zeros(B, dtype=bool)
        adm = np.zeros(B, dtype=bool)
        fin = np.zeros(B, dtype=bool)
        if keep.size:
            w, _, conv = _kernel(S[keep], d, scheme, tol, max_iter)
            tag("not converged", int((~conv).sum()))
            kc = keep[conv]
            if kc.size:
                res, a, fi = _extract(S[kc], w[conv], d, plsc, tot_pairs, endo, w_ref, htmt_fn, R[kc])
                tag("inadmissible PLSc correlation", int((~a).sum()))
                tag("singular construct correlations", int((a & ~fi).sum()))
                for k, v in res.items():
                    stats[k][kc] = v
                conv_all[kc], adm[kc], fin[kc] = True, a, fi
        stats["item_mean"] = mean + mean0
        stats["item_sd"] = sd
        masks = _kind_masks(kinds, conv_all, adm, fin, plsc)
        for k in kinds:
            stats[k][~masks[k]] = np.nan
        return stats, masks, conv_all, why

    # all row indices are drawn up front, so results do not depend on chunk_size or threads
    idx = rng.integers(0, n, size=(n_boot, n))
    # at most _CELLS numbers per chunk of F: memory stays linear in n (does not change any result)
    chunk_size = max(1, min(int(chunk_size), _CELLS // n))
    starts = list(range(0, n_boot, chunk_size))

    def run_chunk(start: int):
        block = idx[start:start + chunk_size]
        b = len(block)
        counts = np.bincount((block + n * np.arange(b)[:, None]).ravel(), minlength=b * n).reshape(b, n)
        F = counts * f[None, :]
        del counts
        F *= n / F.sum(axis=1, keepdims=True)
        return run(F)

    parts: dict[str, list[np.ndarray]] = {k: [] for k in kinds}
    kept = {k: 0 for k in kinds}
    rows: list[np.ndarray] = []
    dropped: dict[str, int] = {}
    n_all = 0
    done = 0
    # numpy releases the GIL in its array loops, so two threads use both cores of a small machine
    with ThreadPoolExecutor(max_workers=max(1, min(threads, len(starts)))) as pool:
        for start, (stats, masks, conv, why) in zip(starts, pool.map(run_chunk, starts)):
            for k in parts:
                parts[k].append(stats[k][conv])
                kept[k] += int(masks[k].sum())
            n_all += int(np.logical_and.reduce([masks[k] for k in kinds]).sum())
            rows.append(start + np.flatnonzero(conv))
            for r, k in why.items():
                dropped[r] = dropped.get(r, 0) + k
            done += min(chunk_size, n_boot - start)
            if progress is not None:
                progress(done, n_boot)

    draw_index = pd.Index(np.concatenate(rows), name="draw")
    if n_all == 0:
        raise EstimationError(f"no bootstrap resample could be estimated (dropped: {dropped})")
    draws = {k: pd.DataFrame(np.concatenate(v), columns=names[k], index=draw_index) for k, v in parts.items()}

    jk: dict[str, pd.DataFrame] = {}
    if jackknife:
        # leave-one-out samples: row i gets weight 0, the rest keep their weights (sum n - 1); built in
        # chunks of rows so that memory is linear in n (each row's values do not depend on the chunking)
        step = max(1, min(n, _CELLS // n)) if jackknife_chunk is None else max(1, int(jackknife_chunk))

        def jk_chunk(a: int) -> dict[str, np.ndarray]:
            rr = np.arange(a, min(a + step, n))
            Fj = np.repeat(f[None, :], len(rr), axis=0)
            Fj[np.arange(len(rr)), rr] = 0.0
            Fj *= (n - 1) / Fj.sum(axis=1, keepdims=True)
            return run(Fj)[0]

        jstarts = list(range(0, n, step))
        with ThreadPoolExecutor(max_workers=max(1, min(threads, len(jstarts)))) as pool:
            pieces = list(pool.map(jk_chunk, jstarts))
        for k in kinds:
            jk[k] = pd.DataFrame(np.concatenate([s[k] for s in pieces]), columns=names[k])

    estimates = {k: pd.Series(est[k][0], index=names[k]) for k in kinds}
    settings = {"scheme": scheme, "standardize": bool(standardize), "plsc": bool(plsc), "missing": missing,
                "weights": prep.weights_name if prep.weights_name else ("array" if prep.weighted else None),
                "tol": tol, "max_iter": max_iter, "n_used": n,
                "_blocks": {i: cons[b] for i, b in zip(items, d.block)}}
    return BootstrapResult(draws=draws, estimates=estimates, n_boot=int(n_boot), n_kept=int(n_all),
                           dropped=dropped, seed=int(seed), alpha=float(alpha), settings=settings, jackknife=jk,
                           n_kept_by_kind=kept, notes=_small_n_notes(n, plsc, jackknife))
