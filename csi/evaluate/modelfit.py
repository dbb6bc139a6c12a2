"""Overall model fit of a PLS path model: SRMR, d_ULS, d_G and NFI, with Bollen–Stine bootstrap quantiles.

Definitions (cSEM ``fit``/``assess``/``testOMF``, SmartPLS "model fit"; Dijkstra & Henseler 2015, Henseler et al.
2014), all on the indicator **correlation** matrix ``R`` of the rows analysed (weighted when survey weights are used):

* Model-implied correlations ``Σ = Λ' V Λ`` off the block diagonal of composites, with ``Λ (J x p)`` the
  loadings (the consistent loadings under PLSc) and ``V`` the construct correlations. The diagonal is 1
  (measurement error variances ``1 - λ²``). A mode-A block with several indicators is a common factor
  (within-block ``λ_i λ_k``); a mode-B block is a composite (within-block elements are the observed ``R``), as
  cSEM's ``fit()`` does for ``=~`` and ``<~`` blocks.
* **saturated** model: ``V`` = the construct correlations the paths were estimated from (composites', or the
  disattenuated ones under PLSc). **estimated** model: ``V`` implied by the structural model (cSEM's
  recursive formulas): exogenous correlations ``Φ`` as estimated, ``Corr(exo, endo) = Φ Γ' (I - B)'⁻¹``,
  ``Corr(endo) = (I - B)⁻¹ (Γ Φ Γ' + Ψ) (I - B)'⁻¹`` with ``Ψ = diag(1 - R²)``, its diagonal set to 1.
* ``SRMR = sqrt(mean over i ≤ j of (r_ij - σ_ij)²)``; ``d_ULS = ½ Σ_ij (r_ij - σ_ij)²``;
  ``d_G = ½ Σ (log eig(R⁻¹Σ))²``; ``NFI = 1 - F_ML(R, Σ) / F_ML(R, I)`` with
  ``F_ML = log|Σ| + tr(RΣ⁻¹) - log|R| - p`` (the independence model Σ = I; SmartPLS's NFI) —
  :mod:`csi.engine.kernel_math` holds the formulas.
* Bootstrap quantiles ``HI95``/``HI99`` (SmartPLS; cSEM ``testOMF``): the standardised data are transformed
  (Bollen & Stine 1992; Beran & Srivastava 1985) to ``Z R^{-1/2} Σ^{1/2}``, whose sample correlation is exactly
  ``Σ`` (the null hypothesis "the model holds" made true in the sample); the rows are resampled with
  replacement (seeded), the model is re-estimated on every resample on the batched PLS kernel and each
  statistic's 95 % and 99 % quantiles of the resamples are reported. A statistic below its HI95 means the
  model is not rejected at 5 %. Each model type (saturated, estimated) has its own transformation and
  resamples (both from the same seed). Resamples that do not converge, have a zero-variance indicator or,
  under PLSc, an inadmissible correction are dropped and counted.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from csi.engine.kernel_math import count_moments, cov_to_corr, d_g, d_uls, ml_discrepancy, pair_products, srmr
from csi.engine.kernel_math import sym_sqrt
from csi.errors import EstimationError, SpecError

__all__ = ["model_fit", "implied_correlation", "ModelFit", "STATISTICS", "MODELS"]

STATISTICS = ("srmr", "d_uls", "d_g", "nfi")
MODELS = ("saturated", "estimated")
#: SRMR below this is a good fit (Henseler et al. 2014; Hu & Bentler 1999)
SRMR_GOOD = 0.08


@dataclass(frozen=True)
class ModelFit:
    """``table``: one row per model (saturated, estimated): srmr, d_uls, d_g, nfi, chi2 and, after a bootstrap,
    ``<stat>_hi95`` / ``<stat>_hi99`` for srmr, d_uls, d_g. ``n_boot``, ``n_kept`` ({model: kept}),
    ``dropped`` ({model: {reason: count}}), ``seed``."""

    table: pd.DataFrame
    n: int
    n_boot: int = 0
    n_kept: dict = field(default_factory=dict)
    dropped: dict = field(default_factory=dict)
    seed: int | None = None

    def as_dict(self) -> dict:
        """``{"saturated": {...}, "estimated": {...}, "n", "bootstrap": {...}}`` for ``fit.json``."""
        out = {r["model"]: {k: v for k, v in r.items() if k != "model"} for r in self.table.to_dict("records")}
        out["n"] = self.n
        if self.n_boot:
            out["bootstrap"] = {"method": "Bollen-Stine", "n_boot": self.n_boot, "seed": self.seed,
                                "n_kept": dict(self.n_kept), "dropped": {k: dict(v) for k, v in self.dropped.items()}}
        return out


# =============================================================================== implied correlations (batched)
def _implied(C: np.ndarray, loading: np.ndarray, beta: np.ndarray, r2: np.ndarray, R: np.ndarray, d,
             saturated: bool) -> np.ndarray:
    """Model-implied indicator correlations ``(B x p x p)`` from construct correlations ``C (B x J x J)``,
    loadings ``(B x p)``, paths ``beta (B x J x J)`` [from, to], ``r2 (B x J)``, observed ``R (B x p x p)``."""
    B, J, _ = C.shape
    if saturated:
        V = C
    else:
        exo = np.array([j for j in range(J) if d.preds[j].size == 0])
        endo = np.array([j for j in range(J) if d.preds[j].size > 0])
        V = C.copy()
        if endo.size:
            Phi = C[:, exo[:, None], exo]
            Gam = np.swapaxes(beta[:, exo[:, None], endo], 1, 2)            # (B x N x X)
            Bm = np.swapaxes(beta[:, endo[:, None], endo], 1, 2)            # (B x N x N)
            inv = np.linalg.inv(np.eye(endo.size)[None] - Bm)
            psi = np.zeros((B, endo.size, endo.size))
            psi[:, np.arange(endo.size), np.arange(endo.size)] = 1.0 - r2[:, endo]
            cxn = Phi @ np.swapaxes(Gam, 1, 2) @ np.swapaxes(inv, 1, 2)
            cnn = inv @ (Gam @ Phi @ np.swapaxes(Gam, 1, 2) + psi) @ np.swapaxes(inv, 1, 2)
            cnn[:, np.arange(endo.size), np.arange(endo.size)] = 1.0
            V[:, exo[:, None], endo] = cxn
            V[:, endo[:, None], exo] = np.swapaxes(cxn, 1, 2)
            V[:, endo[:, None], endo] = cnn
    L = loading[:, :, None] * d.member[None]                                  # (B x p x J)
    Sig = L @ V @ np.swapaxes(L, 1, 2)
    p = Sig.shape[1]
    Sig[:, np.arange(p), np.arange(p)] = 1.0
    for j in np.flatnonzero(d.mode_b):                                        # composites keep observed blocks
        idx = d.items[j]
        Sig[:, idx[:, None], idx] = R[:, idx[:, None], idx]
    return Sig


def _stats(R: np.ndarray, Sig: np.ndarray) -> dict[str, np.ndarray]:
    F = ml_discrepancy(R, Sig)
    F0 = ml_discrepancy(R, np.broadcast_to(np.eye(R.shape[-1]), R.shape))
    with np.errstate(invalid="ignore", divide="ignore"):
        nfi = 1.0 - F / F0
    return {"srmr": srmr(R, Sig), "d_uls": d_uls(R, Sig), "d_g": d_g(R, Sig), "nfi": nfi, "_fml": F}


def implied_correlation(result, saturated: bool = False) -> pd.DataFrame:
    """Model-implied indicator correlation matrix of a fitted :class:`csi.engine.pls.PLSResult` (p x p)."""
    from csi.engine.pls import _Design

    d = _Design.from_spec(result.spec)
    cons = list(d.constructs)
    C = result.construct_corr.loc[cons, cons].to_numpy(float)[None]
    beta = np.zeros((1, len(cons), len(cons)))
    pos = {c: k for k, c in enumerate(cons)}
    for f, t, e in zip(result.paths["from"], result.paths["to"], result.paths["estimate"]):
        beta[0, pos[f], pos[t]] = e
    r2 = np.nan_to_num(result.constructs.set_index("construct")["r2"].reindex(cons).to_numpy(float))[None]
    load = result.outer.set_index("indicator")["loading"].reindex(list(d.indicators)).to_numpy(float)[None]
    R = result.corr.loc[list(d.indicators), list(d.indicators)].to_numpy(float)[None]
    Sig = _implied(C, load, beta, r2, R, d, saturated)[0]
    return pd.DataFrame(Sig, index=list(d.indicators), columns=list(d.indicators))


# =============================================================================== higher-order models
class _HigherOrder:
    """A higher-order model's fit on its **manifest** items (module docstring, "Higher-order constructs").

    The plain model's columns are linear in the items, ``x₂ = T' x``: a repeated copy repeats its item, a two-stage
    dimension is its stage-1 composite ``Σ w̃ x`` (:func:`csi.engine.hoc._composite_weights`), so its covariance is
    ``T' S T`` for any item covariance ``S`` (batched: observed data and every Bollen–Stine resample). The implied
    item correlation is ``Σ = M Σ₂ M'`` with ``Σ₂`` the plain model's implied matrix and ``M`` (p x p₂) taking
    each item to its plain column — its own (repeated copies are dropped: they are the same observed variables),
    or, in the two-stage approach, its dimension's column times its stage-1 loading (cSEM
    ``fit.cSEMResults_2ndorder``: ``Λ₁' Σ₂ Λ₁ + Θ``); the diagonal is 1 and a mode-B dimension keeps its observed
    block."""

    def __init__(self, spec, items: list[str]):
        from csi.engine.hoc import repeated_indicators, two_stage_specs
        from csi.engine.pls import _Design

        pos = {c: k for k, c in enumerate(items)}
        self.p = len(items)
        if spec.hoc_method == "repeated":
            plain, copies = repeated_indicators(spec)
            self.first = None
            src = {c: pos[copies[c][0]] if c in copies else pos[c] for c in plain.indicators}
        else:
            stage1, plain = two_stage_specs(spec)
            self.first = _Design.from_spec(stage1)
            self.idx1 = np.array([pos[i] for i in self.first.indicators])
            src = {c: pos[c] for c in plain.indicators if c in pos}
        self.d = _Design.from_spec(plain)
        p2 = len(self.d.indicators)
        self.T = np.zeros((self.p, p2))
        self.M = np.zeros((self.p, p2))
        for k, c in enumerate(self.d.indicators):
            if c in src:
                self.T[src[c], k] = 1.0
                if items[src[c]] == c:
                    self.M[src[c], k] = 1.0                    # the item's own column (not a repeated copy)
        self.dims = [] if self.first is None else [
            (k, j) for k, c in enumerate(self.d.indicators) if c in self.first.constructs
            for j in [self.first.constructs.index(c)]]
        d1 = self.first
        self.mode_b_blocks = [self.idx1[d1.items[j]] for _, j in self.dims if d1.mode_b[j]] if d1 is not None else []

    def transform(self, cov: np.ndarray, standardize: bool, scheme: str, tol: float, max_iter: int):
        """``(T, M, conv)`` of a batch of item covariances ``(B x p x p)``: the stage-1 fit of a two-stage model
        decides the dimensions' composite weights (T) and their items' loadings (M)."""
        B = cov.shape[0]
        T = np.broadcast_to(self.T, (B,) + self.T.shape).copy()
        M = np.broadcast_to(self.M, (B,) + self.M.shape).copy()
        conv = np.ones(B, dtype=bool)
        if self.first is None:
            return T, M, conv
        from csi.engine.pls import _derive, _kernel

        d1, i1 = self.first, self.idx1
        C1 = cov[:, i1[:, None], i1]
        R1, sd1 = cov_to_corr(C1)
        S1 = R1 if standardize else C1
        w, _, conv = _kernel(S1, d1, scheme, tol, max_iter)
        w = np.where(conv[:, None], w, 1.0)
        load = _derive(S1, w, d1, False)["loading"]
        wu = w / sd1 if standardize else w
        for k, j in self.dims:
            it = d1.items[j]
            tot = wu[:, it].sum(axis=1, keepdims=True)
            T[:, i1[it], k] = wu[:, it] / np.where(tot > 0, tot, 1.0)
            M[:, i1[it], k] = load[:, it]
        return T, M, conv

    def implied(self, Sig2: np.ndarray, M: np.ndarray, R: np.ndarray) -> np.ndarray:
        Sig = M @ Sig2 @ np.swapaxes(M, 1, 2)
        Sig[:, np.arange(self.p), np.arange(self.p)] = 1.0
        for idx in self.mode_b_blocks:
            Sig[:, idx[:, None], idx] = R[:, idx[:, None], idx]
        return Sig


def interaction_refusal() -> SpecError:
    """The refusal of SRMR/d_ULS/d_G/NFI for a model with interaction terms (en + zh, csi.text.i18n)."""
    from csi.text.i18n import t

    err = SpecError(t("ext_fit_interaction", "en"))
    err.message_zh = t("ext_fit_interaction", "zh")
    return err


# =============================================================================== front door
def model_fit(data: pd.DataFrame, spec, *, n_boot: int = 0, seed: int = 1, scheme: str = "path",
              standardize: bool = True, plsc: bool = False, weights=None, missing: str = "listwise",
              tol: float = 1e-7, max_iter: int = 300, chunk_size: int = 500) -> ModelFit:
    """SRMR, d_ULS, d_G and NFI of the saturated and the estimated PLS model of ``spec`` on ``data``; with
    ``n_boot ≥ 2`` also their Bollen–Stine bootstrap quantiles HI95 and HI99 (seeded by ``seed``).

    Settings are those of :func:`csi.engine.pls.estimate_pls` (same validation and data preparation)."""
    from csi.engine.pls import _check_options, _check_variance, _derive, _Design, _kernel, _moments, _prepare

    _check_options(scheme, missing, standardize, plsc, tol, max_iter)
    if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)) or n_boot < 0 or n_boot == 1:
        raise SpecError(f"n_boot must be 0 (no bootstrap) or an integer ≥ 2, got {n_boot!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise SpecError(f"seed must be an integer, got {seed!r}")
    hoc = None
    if getattr(spec, "is_extended", False):
        if spec.interactions:
            raise interaction_refusal()
        if plsc:
            raise SpecError("model fit of a higher-order model uses plain PLS (plsc=False), as its estimation does")
    prep = _prepare(data, spec, weights, missing)
    X, f = prep.X, prep.f
    if getattr(spec, "is_extended", False):
        hoc = _HigherOrder(spec, list(spec.indicators))
        d = hoc.d
    else:
        d = _Design.from_spec(spec)
    n = len(X)
    mean0, cov0 = _moments(X, f)
    R0, sd0 = cov_to_corr(cov0)
    _check_variance(sd0, list(spec.indicators))
    J = len(d.constructs)

    def fit_batch(cov: np.ndarray, models=MODELS):
        """Statistics of ``models`` for covariances ``(B x p x p)`` and the kept mask ``(B,)``."""
        R, sd = cov_to_corr(cov)
        var_ok = np.all(sd > 1e-12 * np.maximum(sd.max(axis=1, keepdims=True), 1.0), axis=1)
        conv1 = np.ones(len(cov), dtype=bool)
        if hoc is not None:                         # the plain model's columns: covariance T' S T
            cov = np.where(var_ok[:, None, None], cov, np.eye(cov.shape[1])[None])
            T, Mh, conv1 = hoc.transform(cov, standardize, scheme, tol, max_iter)
            R_items = R
            cov = np.swapaxes(T, 1, 2) @ cov @ T
            R, sd = cov_to_corr(cov)
            var_ok &= np.all(sd > 1e-12 * np.maximum(sd.max(axis=1, keepdims=True), 1.0), axis=1)
        S = R if standardize else cov
        S = np.where(var_ok[:, None, None], S, np.eye(S.shape[1])[None])
        w, _, conv = _kernel(S, d, scheme, tol, max_iter)
        w = np.where(conv[:, None], w, 1.0)
        out = _derive(S, w, d, plsc)
        conv = conv & conv1
        ok = var_ok & conv
        why = {"zero-variance indicator": int((~var_ok).sum()), "not converged": int((var_ok & ~conv).sum())}
        if plsc:
            adm = (np.abs(out["C"] - np.eye(J)[None]) <= 1).all(axis=(1, 2)) & np.all(out["rho_a"] > 0, axis=1)
            why["inadmissible PLSc correlation"] = int((ok & ~adm).sum())
            ok &= adm
        res = {}
        for model in models:
            Sig = _implied(out["C"], out["loading"], out["beta"], np.nan_to_num(out["r2"]), R, d,
                           model == "saturated")
            if hoc is not None:                     # back to the manifest items
                Sig = hoc.implied(Sig, Mh, R_items)
                res[model] = (_stats(R_items, Sig), Sig)
            else:
                res[model] = (_stats(R, Sig), Sig)
        return res, ok, why

    full, ok0, _ = fit_batch(cov0[None])
    if not ok0[0]:
        raise EstimationError("PLS did not converge on the full sample (or PLSc is inadmissible); no model fit")
    rows = []
    for model in MODELS:
        st = full[model][0]
        row = {"model": model, **{k: float(st[k][0]) for k in STATISTICS}, "chi2": float((n - 1) * st["_fml"][0])}
        rows.append(row)
    table = pd.DataFrame(rows)
    kept, dropped = {}, {}
    if n_boot:
        rng = np.random.default_rng(seed)
        idx = rng.integers(0, n, size=(n_boot, n))          # the same resamples for both model types
        Z = (X - mean0) / sd0
        Rh = sym_sqrt(R0, inverse=True)
        for k, model in enumerate(MODELS):
            Sig0 = full[model][1][0]
            Xbs = (Z @ Rh @ sym_sqrt(Sig0)) * sd0            # sample correlation exactly Σ̂ (raw-scale sd kept)
            Xc = Xbs - f @ Xbs / n
            O, iu = pair_products(Xc)
            draws = {s: [] for s in ("srmr", "d_uls", "d_g")}
            why_all: dict[str, int] = {}
            for a in range(0, n_boot, chunk_size):
                block = idx[a:a + chunk_size]
                b = len(block)
                counts = np.bincount((block + n * np.arange(b)[:, None]).ravel(), minlength=b * n).reshape(b, n)
                F = counts * f[None, :]
                F *= n / F.sum(axis=1, keepdims=True)
                _, cov = count_moments(F, Xc, O, iu)
                res, ok, why = fit_batch(cov, (model,))
                for r_, v in why.items():
                    if v:
                        why_all[r_] = why_all.get(r_, 0) + v
                st = res[model][0]
                fin = ok & np.isfinite(st["srmr"]) & np.isfinite(st["d_uls"]) & np.isfinite(st["d_g"])
                if (ok & ~fin).any():
                    why_all["non-finite statistic"] = why_all.get("non-finite statistic", 0) + int((ok & ~fin).sum())
                for s in draws:
                    draws[s].append(st[s][fin])
            kept[model] = int(sum(len(v) for v in draws["srmr"]))
            dropped[model] = why_all
            if kept[model] == 0:
                raise EstimationError(f"no Bollen-Stine resample of the {model} model could be estimated")
            for s, parts in draws.items():
                v = np.concatenate(parts)
                table.loc[k, f"{s}_hi95"] = float(np.quantile(v, 0.95))
                table.loc[k, f"{s}_hi99"] = float(np.quantile(v, 0.99))
    return ModelFit(table=table, n=int(n), n_boot=int(n_boot), n_kept=kept, dropped=dropped,
                    seed=int(seed) if n_boot else None)
