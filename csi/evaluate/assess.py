"""Measurement and structural quality of a PLS model (the ``assess`` stage).

Two layers, as elsewhere in ``csi``:

* array functions of the indicator correlation matrix and the outer
  weights/loadings (``htmt_matrix``, ``cronbach_alpha``, ``rho_a``,
  ``rho_c``, ``ave``, ``vif``, ``r2_from_corr``, ``f2_from_corr``); they never
  look at a result object, so the bootstrap can call ``htmt_matrix`` on a
  ``(B x p x p)`` stack of resampled correlation matrices (``rho_a``,
  ``r2_from_corr``, ``f2_from_corr`` and the HTMT percentile intervals are
  one-block/scalar front ends of the kernel's formulas in
  :mod:`csi.engine.kernel_math`, shared with the PLS engine);
* :func:`assess_pls`, which reads a ``PLSResult`` (and optionally a
  ``BootstrapResult``) and returns tidy tables, each criterion judged against
  one registry of thresholds (:data:`CRITERIA`).

Conventions (chosen once, stated here):

* **Cronbach's α** is the *standardized-items* α computed from the correlation
  matrix, ``α = k r̄ / (1 + (k-1) r̄)`` with ``r̄`` the mean inter-item
  correlation. This is what plspm (``unidim``) and seminr report on
  standardized data; on raw covariances α would differ slightly.
* **ρ_C** (Jöreskog's composite reliability, "Dillon–Goldstein ρ" in plspm) is
  ``(Σλ)² / ((Σλ)² + Σ(1-λ²))`` from standardized loadings λ.
* **AVE** is the mean squared standardized loading.
* **ρ_A** (Dijkstra & Henseler 2015) is
  ``(w'w)² · w'(R - diag R)w / w'(ww' - diag(ww'))w`` with the weights ``w``
  of standardized indicators rescaled so the composite has unit variance
  (``w'Rw = 1``); the rescaling is done here, so any positive multiple of the
  weights gives the same ρ_A.
* α, ρ_A, ρ_C and AVE presuppose a reflective (common-factor) block; for a
  mode-B (formative) block they are reported as NaN with a note, and so are
  single-item blocks (reliability of one item cannot be estimated from the
  data).
* **HTMT** (Henseler, Ringle & Sarstedt 2015) uses *absolute* correlations by
  default, as cSEM (``.absolute = TRUE``) and semTools (``absolute = TRUE``)
  do; the original article uses raw correlations, which only differ when some
  correlations are negative (reverse-keyed items). ``kind="htmt2"`` gives
  Roemer, Schuberth & Henseler (2021)'s HTMT2 (geometric instead of
  arithmetic means; consistent for congeneric blocks; always absolute).
* Construct correlations (Fornell–Larcker, inner VIF, f²) come from the
  construct scores of the result (``result.construct_corr`` when the result
  carries one, e.g. disattenuated PLSc correlations).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Sequence

import numpy as np
import pandas as pd

from csi.engine import kernel_math as km
from csi.errors import DataError, SpecError

HTMTKind = Literal["htmt", "htmt2"]


# --------------------------------------------------------------------------- registry
@dataclass(frozen=True)
class Criterion:
    """One rule of thumb: ``value <op> threshold`` is acceptable.

    ``op`` is ``">="``, ``">"``, ``"<="`` or ``"<"``. ``reference`` names the
    source of the threshold.
    """

    name: str
    op: str
    threshold: float
    label_en: str
    label_zh: str
    reference: str

    def check(self, value) -> pd.arrays.BooleanArray:
        """Vectorised verdict; NaN values give ``<NA>`` (not judged)."""
        v = pd.Series(np.asarray(value, dtype=float).ravel())
        ops = {">=": v >= self.threshold, ">": v > self.threshold,
               "<=": v <= self.threshold, "<": v < self.threshold}
        out = ops[self.op].astype("boolean")
        out[v.isna()] = pd.NA
        return out.array


CRITERIA: dict[str, Criterion] = {c.name: c for c in (
    Criterion("alpha", ">=", 0.70, "Cronbach's alpha ≥ 0.70", "Cronbach α ≥ 0.70", "Nunnally & Bernstein (1994)"),
    Criterion("rho_a", ">=", 0.70, "rho_A ≥ 0.70", "ρ_A ≥ 0.70", "Dijkstra & Henseler (2015)"),
    Criterion("rho_c", ">=", 0.70, "composite reliability ≥ 0.70", "组合信度 ρ_C ≥ 0.70", "Hair et al. (2019)"),
    Criterion("rho_c_max", "<=", 0.95, "composite reliability ≤ 0.95 (higher: redundant items)",
              "组合信度 ≤ 0.95（过高说明题项冗余）", "Hair et al. (2019)"),
    Criterion("ave", ">=", 0.50, "AVE ≥ 0.50", "平均方差抽取量 AVE ≥ 0.50", "Fornell & Larcker (1981)"),
    Criterion("htmt_strict", "<", 0.85, "HTMT < 0.85 (conceptually distinct constructs)", "HTMT < 0.85（严格）",
              "Henseler, Ringle & Sarstedt (2015)"),
    Criterion("htmt_liberal", "<", 0.90, "HTMT < 0.90 (conceptually similar constructs)", "HTMT < 0.90（宽松）",
              "Henseler, Ringle & Sarstedt (2015)"),
    Criterion("vif", "<", 5.0, "VIF < 5", "方差膨胀因子 VIF < 5", "Hair et al. (2019)"),
    Criterion("vif_ideal", "<", 3.3, "VIF < 3.3 (ideal)", "VIF < 3.3（理想）", "Diamantopoulos & Siguaw (2006)"),
    Criterion("loading", ">=", 0.708, "outer loading ≥ 0.708", "外部载荷 ≥ 0.708", "Hair et al. (2019)"),
)}
F2_SIZES = ((0.35, "large"), (0.15, "medium"), (0.02, "small"))  # Cohen (1988)
LOADING_REMOVE_BELOW = 0.40  # Hair et al. (2017): below 0.40 always remove


# ------------------------------------------------------------------------ array layer
def _as_blocks(blocks: Sequence[Sequence[int]]) -> list[np.ndarray]:
    return [np.asarray(b, dtype=int) for b in blocks]


def htmt_matrix(corr: np.ndarray, blocks: Sequence[Sequence[int]], *, kind: HTMTKind = "htmt",
                absolute: bool = True) -> np.ndarray:
    """Heterotrait–monotrait ratios for every pair of blocks.

    corr (..., p, p): indicator correlation matrices (any leading batch axes).
    blocks: J lists of column indices into ``corr``.
    Returns (..., J, J), symmetric, NaN on the diagonal and in every row and
    column of a single-item block (no monotrait correlation exists).

    ``htmt``: mean heterotrait-heteromethod correlation divided by the
    geometric mean of the two mean monotrait-heteromethod correlations.
    ``htmt2``: the same with geometric means throughout (absolute values).
    """
    if kind not in ("htmt", "htmt2"):
        raise SpecError(f"unknown HTMT kind {kind!r}; use 'htmt' or 'htmt2'")
    r = np.asarray(corr, dtype=float)
    if r.ndim < 2 or r.shape[-1] != r.shape[-2]:
        raise DataError(f"corr must be (..., p, p), got shape {r.shape}")
    bl = _as_blocks(blocks)
    if kind == "htmt2" or absolute:
        r = np.abs(r)
    lead = r.shape[:-2]
    J = len(bl)

    def mean(x: np.ndarray, axes: tuple[int, int]) -> np.ndarray:
        if kind == "htmt":
            return x.mean(axis=axes)
        with np.errstate(divide="ignore"):
            return np.exp(np.log(x).mean(axis=axes))

    mono = np.full(lead + (J,), np.nan)
    for a, ia in enumerate(bl):
        k = len(ia)
        if k < 2:
            continue
        iu = np.triu_indices(k, 1)
        within = r[..., ia[:, None], ia[None, :]][..., iu[0], iu[1]]  # (..., k(k-1)/2)
        mono[..., a] = mean(within[..., None], (-2, -1))
    out = np.full(lead + (J, J), np.nan)
    for a in range(J):
        for b in range(a + 1, J):
            hetero = mean(r[..., bl[a][:, None], bl[b][None, :]], (-2, -1))
            with np.errstate(invalid="ignore", divide="ignore"):
                v = hetero / np.sqrt(mono[..., a] * mono[..., b])
            out[..., a, b] = out[..., b, a] = v
    return out


def cronbach_alpha(corr: np.ndarray, blocks: Sequence[Sequence[int]]) -> np.ndarray:
    """Standardized-items Cronbach's α per block.

    corr (..., p, p) → (..., J); NaN for single-item blocks.
    """
    r = np.asarray(corr, dtype=float)
    bl = _as_blocks(blocks)
    out = np.full(r.shape[:-2] + (len(bl),), np.nan)
    for a, ia in enumerate(bl):
        k = len(ia)
        if k < 2:
            continue
        total = r[..., ia[:, None], ia[None, :]].sum(axis=(-2, -1))  # variance of the sum of z-scores
        out[..., a] = k / (k - 1) * (1.0 - k / total)
    return out


def rho_c(loadings: np.ndarray) -> float:
    """Jöreskog's composite reliability of one block; loadings (k,) standardized."""
    lam = np.asarray(loadings, dtype=float)
    s = lam.sum() ** 2
    return float(s / (s + (1.0 - lam ** 2).sum()))


def ave(loadings: np.ndarray) -> float:
    """Average variance extracted of one block; loadings (k,) standardized."""
    lam = np.asarray(loadings, dtype=float)
    return float(np.mean(lam ** 2))


def rho_a(corr_block: np.ndarray, weights: np.ndarray) -> float:
    """Dijkstra–Henseler ρ_A of one block (:func:`csi.engine.kernel_math.rho_a`).

    corr_block (k x k): correlations of the block's indicators; weights (k,):
    outer weights of the standardized indicators (any positive scale; they are
    rescaled to give the composite unit variance). NaN when undefined.
    """
    return float(km.rho_a(np.asarray(corr_block, dtype=float), np.asarray(weights, dtype=float).ravel()))


def vif(corr: np.ndarray) -> np.ndarray:
    """Variance inflation factors of the variables of one correlation matrix.

    corr (k x k) → (k,): ``diag(R⁻¹)`` = 1/(1 - R²_i) of each variable on the
    others; 1 for a single variable; inf for perfectly collinear sets.
    """
    r = np.atleast_2d(np.asarray(corr, dtype=float))
    if r.shape[0] == 1:
        return np.ones(1)
    try:
        inv = np.linalg.inv(r)
    except np.linalg.LinAlgError:
        return np.full(r.shape[0], np.inf)
    d = np.diag(inv).copy()
    # a numerically singular matrix inverts to garbage (huge or negative values)
    d[(d < 1.0 - 1e-9) | ~np.isfinite(d) | (np.linalg.cond(r) > 1e12)] = np.inf
    return d


def r2_from_corr(corr: np.ndarray, target: int, predictors: Sequence[int]) -> float:
    """R² of the OLS regression of ``target`` on ``predictors`` (standardized), corr (J x J)
    (:func:`csi.engine.kernel_math.r2_from_corr`; 0 without predictors)."""
    return float(km.r2_from_corr(np.asarray(corr, dtype=float), target, list(predictors)))


def f2_from_corr(corr: np.ndarray, target: int, predictors: Sequence[int], drop: int) -> float:
    """Cohen's f² of predictor ``drop``: (R²_incl - R²_excl) / (1 - R²_incl); corr (J x J)
    (:func:`csi.engine.kernel_math.f2_from_corr`; inf when R²_incl ≥ 1)."""
    return float(km.f2_from_corr(np.asarray(corr, dtype=float), target, list(predictors), drop))


def f2_size(f2: float) -> str:
    """Cohen's (1988) label: large ≥ .35, medium ≥ .15, small ≥ .02, else none."""
    if not np.isfinite(f2):
        return "large" if f2 == np.inf else "none"
    for cut, label in F2_SIZES:
        if f2 >= cut:
            return label
    return "none"


# ------------------------------------------------------------------------ result layer
def _pair_column(columns: pd.MultiIndex, a: str, b: str) -> tuple[str, str] | None:
    """The HTMT draws' column of the pair ``a, b`` (keys ``(construct_1, construct_2)``, either order)."""
    for key in ((a, b), (b, a)):
        if key in columns:
            return key
    return None


def assess_pls(result, boot=None, *, htmt_kind: HTMTKind = "htmt", alpha: float = 0.10) -> dict[str, pd.DataFrame]:
    """Quality criteria of a fitted PLS model as tidy tables.

    ``result``: a ``PLSResult`` (``spec``, ``corr`` p×p DataFrame, ``outer``
    with construct/indicator/weight/loading, ``scores`` n×J, ``info``).
    ``boot``: optional ``BootstrapResult`` whose ``draws["htmt"]`` (B × pairs,
    columns a MultiIndex ``(construct_1, construct_2)``) gives percentile intervals at level ``1 - alpha``
    (default 90 %, i.e. the one-sided 95 % upper bound Henseler et al. 2015
    test against 0.85/0.90/1).

    Returns a dict of DataFrames: ``reliability``, ``htmt``,
    ``fornell_larcker``, ``fornell_larcker_check``, ``vif_outer``,
    ``vif_inner``, ``f2``, ``loadings_check``, ``notes`` (table, construct, note, note_zh).
    """
    if htmt_kind not in ("htmt", "htmt2"):
        raise SpecError(f"unknown htmt_kind {htmt_kind!r}; use 'htmt' or 'htmt2'")
    if not 0 < alpha < 1:
        raise SpecError(f"alpha (confidence level 1 - alpha) must be between 0 and 1, got {alpha!r}")
    spec = result.spec
    constructs = list(spec.constructs)
    modes = spec.modes
    corr_df: pd.DataFrame = result.corr
    items = list(corr_df.columns)
    pos = {it: k for k, it in enumerate(items)}
    missing = [i for i in spec.indicators if i not in pos]
    if missing:
        raise DataError(f"the result's correlation matrix lacks indicator(s) {', '.join(missing)}")
    R = corr_df.to_numpy(dtype=float)
    blocks = [[pos[i] for i in spec.blocks[c]] for c in constructs]
    outer = result.outer.set_index("indicator")
    lam_all = outer["loading"].astype(float)
    w_all = outer["weight"].astype(float)
    info = getattr(result, "info", {}) or {}
    if info.get("standardize") is False and getattr(result, "item_sd", None) is not None:
        # weights of centred raw indicators → weights of standardized indicators
        w_all = w_all * result.item_sd.reindex(w_all.index).astype(float)
    notes: list[dict] = []

    def note(table: str, construct: str, text: str, text_zh: str) -> None:
        notes.append({"table": table, "construct": construct, "note": text, "note_zh": text_zh})

    # ---- reliability
    alphas = cronbach_alpha(R, blocks)
    rows = []
    for j, c in enumerate(constructs):
        its = list(spec.blocks[c])
        lam = lam_all.reindex(its).to_numpy()
        row = {"construct": c, "mode": modes[c], "n_indicators": len(its)}
        if modes[c] == "B":
            row.update(alpha=np.nan, rho_a=np.nan, rho_c=np.nan, ave=np.nan)
            note("reliability", c, "formative (mode B) block: alpha, rho_A, rho_C and AVE assume reflective "
                 "measurement and are not reported; judge it by indicator VIF and weights instead",
                 "形成型（模式 B）构念：α、ρ_A、ρ_C 和 AVE 以反映型测量为前提，不予报告；请改看指标 VIF 和权重")
        elif len(its) < 2:
            row.update(alpha=np.nan, rho_a=np.nan, rho_c=np.nan, ave=np.nan)
            note("reliability", c, "single-item construct: reliability cannot be estimated from the data",
                 "单题项构念：无法从数据估计其信度")
        else:
            ib = blocks[j]
            row.update(alpha=float(alphas[j]),
                       rho_a=rho_a(R[np.ix_(ib, ib)], w_all.reindex(its).to_numpy()),
                       rho_c=rho_c(lam), ave=ave(lam))
        rows.append(row)
    rel = pd.DataFrame(rows)
    for name in ("alpha", "rho_a", "rho_c", "ave"):
        rel[f"{name}_ok"] = CRITERIA[name].check(rel[name])
    rel["rho_c_redundant"] = ~CRITERIA["rho_c_max"].check(rel["rho_c"])

    # ---- HTMT
    H = htmt_matrix(R, blocks, kind=htmt_kind)
    draws = None
    if boot is not None:
        draws = getattr(boot, "draws", {}).get("htmt")
        if draws is None:
            note("htmt", "", "the bootstrap result carries no HTMT draws; confidence intervals left empty",
                 "自助法结果中没有 HTMT 抽样值，置信区间留空")
    hrows = []
    for a in range(len(constructs)):
        for b in range(a + 1, len(constructs)):
            ca, cb = constructs[a], constructs[b]
            lo = hi = np.nan
            if draws is not None:
                key = _pair_column(draws.columns, ca, cb)
                if key is not None:
                    lo, hi = km.percentile_interval(draws[key].to_numpy(dtype=float), alpha)
            hrows.append({"construct_1": ca, "construct_2": cb, "htmt": H[a, b], "ci_low": lo, "ci_high": hi})
    htmt = pd.DataFrame(hrows, columns=["construct_1", "construct_2", "htmt", "ci_low", "ci_high"])
    htmt["ok_085"] = CRITERIA["htmt_strict"].check(htmt["htmt"])
    htmt["ok_090"] = CRITERIA["htmt_liberal"].check(htmt["htmt"])
    htmt["ci_ok_090"] = CRITERIA["htmt_liberal"].check(htmt["ci_high"])
    for j, c in enumerate(constructs):
        if len(blocks[j]) < 2:
            note("htmt", c, "single-item construct: HTMT needs at least two indicators per construct (NaN)",
                 "单题项构念：HTMT 要求每个构念至少两个指标（结果为空）")

    # ---- construct correlations, Fornell–Larcker
    C = _construct_corr(result, constructs)
    sq = np.sqrt(rel["ave"].to_numpy(dtype=float))
    fl_rows = []
    for a, ca in enumerate(constructs):
        for b, cb in enumerate(constructs):
            fl_rows.append({"construct_1": ca, "construct_2": cb, "value": sq[a] if a == b else C[a, b]})
    fl = pd.DataFrame(fl_rows)
    chk = []
    for a, ca in enumerate(constructs):
        others = np.abs(np.delete(C[a], a))
        mx = float(others.max()) if others.size else np.nan
        ok = pd.NA if not np.isfinite(sq[a]) else bool(sq[a] > mx)
        chk.append({"construct": ca, "sqrt_ave": sq[a], "max_abs_corr": mx, "ok": ok})
    fl_check = pd.DataFrame(chk)
    fl_check["ok"] = fl_check["ok"].astype("boolean")

    # ---- VIF
    vrows = []
    for j, c in enumerate(constructs):
        v = vif(R[np.ix_(blocks[j], blocks[j])])
        for it, x in zip(spec.blocks[c], v):
            vrows.append({"construct": c, "indicator": it, "mode": modes[c], "vif": float(x)})
    vif_outer = pd.DataFrame(vrows)
    vif_outer["ok"] = CRITERIA["vif"].check(vif_outer["vif"])
    vif_outer["ideal"] = CRITERIA["vif_ideal"].check(vif_outer["vif"])
    cidx = {c: k for k, c in enumerate(constructs)}
    irows, frows = [], []
    for t in spec.endogenous:
        preds = list(spec.predecessors(t))
        pi = [cidx[p] for p in preds]
        v = vif(C[np.ix_(pi, pi)])
        for p, x in zip(preds, v):
            irows.append({"construct": t, "predictor": p, "vif": float(x)})
            f2 = f2_from_corr(C, cidx[t], pi, cidx[p])
            frows.append({"from": p, "to": t, "f2": f2, "size": f2_size(f2)})
    vif_inner = pd.DataFrame(irows, columns=["construct", "predictor", "vif"])
    vif_inner["ok"] = CRITERIA["vif"].check(vif_inner["vif"])
    vif_inner["ideal"] = CRITERIA["vif_ideal"].check(vif_inner["vif"])
    f2 = pd.DataFrame(frows, columns=["from", "to", "f2", "size"])

    # ---- loadings
    lrows = []
    for c in constructs:
        for it in spec.blocks[c]:
            lam = float(lam_all.get(it, np.nan))
            if modes[c] == "B":
                action = "not applicable (formative)"
            elif abs(lam) >= CRITERIA["loading"].threshold:
                action = "keep"
            elif abs(lam) >= LOADING_REMOVE_BELOW:
                action = "review: remove only if that raises AVE or rho_C above threshold"
            else:
                action = "remove"
            lrows.append({"construct": c, "indicator": it, "mode": modes[c], "loading": lam,
                          "indicator_reliability": lam ** 2, "action": action})
    loadings_check = pd.DataFrame(lrows)
    ok = CRITERIA["loading"].check(loadings_check["loading"].abs())
    ok[loadings_check["mode"].to_numpy() == "B"] = pd.NA
    loadings_check.insert(4, "ok", ok)

    return {
        "reliability": rel,
        "htmt": htmt,
        "fornell_larcker": fl,
        "fornell_larcker_check": fl_check,
        "vif_outer": vif_outer,
        "vif_inner": vif_inner,
        "f2": f2,
        "loadings_check": loadings_check,
        "notes": pd.DataFrame(notes, columns=["table", "construct", "note", "note_zh"]),
    }


def _construct_corr(result, constructs: list[str]) -> np.ndarray:
    """(J x J) construct correlations: ``result.construct_corr`` if present, else of the scores."""
    cc = getattr(result, "construct_corr", None)
    if cc is not None:
        return pd.DataFrame(cc).loc[constructs, constructs].to_numpy(dtype=float)
    scores = result.scores[constructs].to_numpy(dtype=float)
    return np.corrcoef(scores, rowvar=False)
