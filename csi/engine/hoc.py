"""Higher-order constructs (HOC) and the estimation of *extended* models (HOCs and/or interaction terms).

An extended :class:`~csi.model.syntax.ModelSpec` (``SQ =~ TANG + REL + RESP``, ``SAT ~ VAL + PRICE +
VAL:PRICE``) is turned into a plain model on augmented data (:func:`expand`); the plain model runs on the
one PLS kernel, so every result table, quality criterion and report works on it unchanged.

Higher-order approaches (``spec.hoc_method``; Sarstedt et al. 2019, Australasian Marketing Journal 27(3)):

* ``two_stage`` (default; seminr's ``two_stage_HOC``, "embedded two-stage"): stage 1 estimates the model
  with each HOC replaced by its dimensions (the HOC's antecedents point to every dimension, every
  dimension points to the HOC's outcomes); stage 2 measures the HOC by the stage-1 dimension scores
  (``=~`` mode A, ``<~`` mode B) and estimates the original structural model. The dimensions' own
  weights and loadings are stage 1's (``stages["hoc_first"]``). A dimension with structural paths of its
  own cannot be an indicator in stage 2: use ``repeated``.
* ``repeated`` (repeated indicators, Lohmöller 1989; Becker, Klein & Wetzels 2012): the HOC is measured by
  copies of all its dimensions' items, named ``HOC.item``; a reflective HOC (``=~``) points to each
  dimension (HOC → dimension paths), a formative HOC (``<~``, mode B) is pointed to by each (dimension →
  HOC). One PLS estimation; quality criteria are those of that model.

Interaction terms: :mod:`csi.engine.interaction`, applied after the HOC step (a HOC can moderate).

PLSc is refused for HOC models: with ``two_stage`` the HOC composite's reliability needs van Riel, Henseler,
Kemény & Sasovova (2017)'s correction from the dimensions' stage-1 reliabilities (not implemented); with
``repeated`` the HOC and its dimensions share items, so disattenuating their correlation is inadmissible.

Bootstrap (:func:`bootstrap_extended`): a repeated-indicators model without interactions is a plain model
and uses the batched bootstrap; every other extended model re-runs the whole procedure (both stages) on
each resample, so the intervals carry the first stage's uncertainty (as seminr's bootstrap does). Draws
are sign-aligned with the full-sample weights as in :mod:`csi.engine.bootstrap`; no jackknife (BCa
intervals are refused).

Missing data are treated once, before the stages (listwise: complete cases of the model's items; mean:
the weighted item mean, rows with nothing answered dropped), so every stage uses the same rows.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd

from csi.engine.kernel_math import weighted_moments
from csi.errors import DataError, EstimationError, SpecError
from csi.model.syntax import ModelSpec

#: settings of :func:`csi.engine.pls.estimate_pls` that the stages pass on
_STAGE_KEYS = ("scheme", "standardize", "plsc", "tol", "max_iter")


@dataclass(frozen=True)
class Expanded:
    """A plain model on augmented data: ``data`` (rows analysed, positional index 0..n-1), ``spec``
    (plain :class:`ModelSpec`), ``weights`` (array aligned with ``data`` or None), ``labels`` (the
    original row labels), ``stages`` (first-stage :class:`~csi.engine.pls.PLSResult` by name) and
    ``info`` (JSON-able description: approach, dimensions, interaction method)."""

    data: pd.DataFrame
    spec: ModelSpec
    weights: np.ndarray | None
    labels: pd.Index
    stages: dict = field(default_factory=dict)
    info: dict = field(default_factory=dict)


def _rows(data: pd.DataFrame, spec: ModelSpec, weights, missing: str) -> tuple[pd.DataFrame, np.ndarray | None,
                                                                               pd.Index]:
    """Missing-data treatment once for every stage; returns (items frame, weights, row labels)."""
    from csi.engine.pls import _prepare

    prep = _prepare(data, spec, weights, missing)         # validates columns, weights, sample size
    frame = pd.DataFrame(prep.X, columns=list(spec.indicators))
    f = prep.f if prep.weighted else None
    return frame, f, prep.index


def _plain_blocks(spec: ModelSpec) -> dict[str, tuple[str, ...]]:
    return {c: spec.blocks[c] for c in spec.constructs if c not in spec.higher_order}


def _interaction_rows(spec: ModelSpec) -> list[tuple[str, str, str]]:
    return [(tgt, "~", term) for term, _, _, tgt in spec.interactions]


def _spec(blocks: dict, modes: dict, paths, extra_rows=(), like: ModelSpec | None = None) -> ModelSpec:
    rows = [(c, "<~" if modes.get(c) == "B" else "=~", i) for c, items in blocks.items() for i in items]
    rows += [(t, "~", f) for f, t in dict.fromkeys(paths)] + list(extra_rows)
    kw = {"name": like.name, "interaction_method": like.interaction_method} if like is not None else {}
    return ModelSpec(tuple(rows), **kw)


def repeated_indicators(spec: ModelSpec) -> tuple[ModelSpec, dict[str, tuple[str, str]]]:
    """The repeated-indicators model of ``spec``'s HOCs: ``(spec, {copy: (item, hoc)})``."""
    hoc = spec.higher_order
    blocks = _plain_blocks(spec)
    copies: dict[str, tuple[str, str]] = {}
    paths = list(spec.paths)
    for h, dims in hoc.items():
        items = []
        for d in dims:
            for i in spec.blocks[d]:
                name = f"{h}.{i}"
                if name in spec.indicators:
                    raise SpecError(f"repeated indicator name {name!r} is already an item of the model")
                copies[name] = (i, h)
                items.append(name)
        blocks[h] = tuple(items)
        paths += [(h, d) if spec.modes[h] == "A" else (d, h) for d in dims]
    return _spec(blocks, spec.modes, paths, _interaction_rows(spec), like=spec), copies


def two_stage_specs(spec: ModelSpec) -> tuple[ModelSpec, ModelSpec]:
    """(stage-1 spec with HOCs replaced by their dimensions, stage-2 spec with HOCs measured by them)."""
    hoc = spec.higher_order
    dims_of = {d: h for h, ds in hoc.items() for d in ds}
    busy = sorted({c for p in spec.paths for c in p if c in dims_of}
                  | {c for _, a, b, _ in spec.interactions for c in (a, b) if c in dims_of})
    if busy:
        raise SpecError(f"dimension{'s' if len(busy) > 1 else ''} {', '.join(busy)} of a higher-order construct "
                        "also {} structural paths of {}: the two-stage approach uses dimensions as indicators; "
                        "use the repeated-indicators approach (hoc='repeated')".format(
                            "have" if len(busy) > 1 else "has", "their own" if len(busy) > 1 else "its own"))
    paths1 = []
    for f, t in spec.paths:
        fs = hoc.get(f, (f,))
        ts = hoc.get(t, (t,))
        paths1 += [(a, b) for a in fs for b in ts]
    stage1 = _spec(_plain_blocks(spec), spec.modes, paths1)
    blocks2 = {c: (hoc[c] if c in hoc else spec.blocks[c]) for c in spec.constructs if c not in dims_of}
    stage2 = _spec(blocks2, spec.modes, spec.paths, _interaction_rows(spec), like=spec)
    return stage1, stage2


def _stage_settings(settings: dict) -> dict:
    return {k: settings[k] for k in _STAGE_KEYS if k in settings}


def _composite_weights(first, construct: str, standardize: bool = True) -> np.ndarray:
    """Normalised unstandardised weights of ``construct``'s items in a stage-1 fit (PLSResult or QuickFit):
    ``w̃ = (w / sd) / Σ (w / sd)``. A two-stage dimension's column is ``Σ w̃ x``, its composite on the items' own
    scale (a linear function of its stage-1 score, so the standardised stage 2 is unchanged, and its 0–100 value
    is the dimension's index)."""
    if hasattr(first, "outer"):
        o = first.outer[first.outer["construct"] == construct]
        w, sd = o["weight"].to_numpy(float), first.item_sd[list(o["indicator"])].to_numpy(float)
    else:
        k = first.constructs.index(construct)
        w, sd = first.weight[first.block == k], first.sd[first.block == k]
    wu = w / sd if standardize else w
    total = wu.sum()
    return wu / total if total > 0 else wu


def expand(data: pd.DataFrame, spec: ModelSpec, *, weights=None, missing: str = "listwise", fit=None,
           prepared: bool = False, **settings) -> Expanded:
    """Turn an extended ``spec`` into a plain model on augmented data (module docstring).

    ``fit(frame, spec, weights=, **settings)`` estimates a stage (default :func:`~csi.engine.pls.estimate_pls`;
    the bootstrap passes the lean :func:`quick_fit`); ``prepared=True``: ``data`` holds exactly the model's
    items of the rows to analyse (no missing values) and ``weights`` is an array or None."""
    from csi.engine import interaction as _ix
    from csi.engine.pls import estimate_pls

    estimate_pls = fit or estimate_pls
    if prepared:
        f = None if weights is None else np.asarray(weights, float) * (len(data) / np.sum(weights))  # sum n
        frame, labels = data, pd.RangeIndex(len(data))
    else:
        frame, f, labels = _rows(data, spec, weights, missing)
    stage_kw = _stage_settings(settings)
    stages: dict = {}
    info: dict = {}
    plain = spec
    if spec.higher_order:
        info["higher_order"] = {"approach": spec.hoc_method,
                                "constructs": {h: list(d) for h, d in spec.higher_order.items()}}
        if spec.hoc_method == "repeated":
            if settings.get("plsc"):
                raise SpecError("consistent PLS (PLSc) with repeated indicators would disattenuate the correlation "
                                "between a higher-order construct and its own dimensions, which share their items "
                                "(inadmissible); estimate higher-order models with plain PLS")
            plain, copies = repeated_indicators(spec)
            frame = frame.assign(**{c: frame[i].to_numpy() for c, (i, _) in copies.items()})
        else:
            if settings.get("plsc"):
                raise SpecError("consistent PLS (PLSc) with two-stage higher-order constructs needs the van Riel et "
                                "al. (2017) correction of the HOC composite's reliability, which is not implemented; "
                                "use the repeated-indicators approach (hoc='repeated') or plain PLS")
            stage1, plain = two_stage_specs(spec)
            first = estimate_pls(frame, stage1, weights=f, **stage_kw)
            stages["hoc_first"] = first
            dims = [d for ds in spec.higher_order.values() for d in ds]
            clash = [d for d in dims if d in frame.columns]
            if clash:
                raise DataError(f"the data has a column named like the dimension {clash[0]!r}; rename it")
            std = settings.get("standardize", True)
            frame = frame.assign(**{d: frame[list(spec.blocks[d])].to_numpy(float) @ _composite_weights(first, d, std)
                                    for d in dims})
    if plain.interactions:
        if settings.get("plsc"):
            raise SpecError("consistent PLS (PLSc) with interaction terms needs the Dijkstra & Schermelleh-Engel "
                            "(2014) correction of the product term, which is not implemented; estimate the "
                            "interaction model with plain PLS (plsc=False)")
        frame, plain, first, ix_info = _ix.expand_interactions(frame, plain, f, fit=estimate_pls, **stage_kw)
        if first is not None:
            stages["interaction_first"] = first
        info["interactions"] = ix_info
    return Expanded(data=frame, spec=plain, weights=f, labels=labels, stages=stages, info=info)


def estimate_extended(data: pd.DataFrame, spec: ModelSpec, *, weights=None, missing: str = "listwise",
                      **settings):
    """:func:`csi.engine.pls.estimate_pls` for an extended spec: the plain model's result (``spec`` = the
    plain model, scores indexed by the original row labels) with ``info["extended"]`` and ``stages``."""
    from csi.engine.pls import estimate_pls

    ex = expand(data, spec, weights=weights, missing=missing, **settings)
    res = estimate_pls(ex.data, ex.spec, weights=ex.weights, **_stage_settings(settings))
    res.scores.index = ex.labels[res.scores.index]
    for st in ex.stages.values():
        st.scores.index = ex.labels[st.scores.index]
    res.info.update(missing=missing, n_total=len(data), n_dropped=len(data) - len(ex.labels),
                    weights=(weights if isinstance(weights, str) else ("array" if weights is not None else None)),
                    extended={**ex.info, "syntax": spec.to_syntax()})
    res.stages.update(ex.stages)
    if spec.interactions:
        from csi.engine.interaction import product_scale
        for t in res.info["extended"]["interactions"]["terms"]:
            t["product_sd"] = product_scale(ex.data, res, ex.weights)[t["term"]]
    return res


def original_spec(result) -> ModelSpec | None:
    """The extended :class:`ModelSpec` a result was estimated from (its ``info["extended"]``: syntax, higher-order
    approach and interaction method), or None for a plain model. A result's own ``spec`` is the plain model."""
    ext = (getattr(result, "info", None) or {}).get("extended")
    if not ext:
        return None
    from csi.model.syntax import parse_model

    spec = parse_model(ext["syntax"], name=getattr(result.spec, "name", "custom"))
    return spec.with_methods(hoc=(ext.get("higher_order") or {}).get("approach"),
                             interaction=(ext.get("interactions") or {}).get("method"))


def post_hoc_spec(spec: ModelSpec) -> ModelSpec:
    """The model after the higher-order step (repeated-indicators model, or the two-stage approach's stage 2), still
    with its interaction terms; ``spec`` itself without HOCs."""
    if not spec.higher_order:
        return spec
    return repeated_indicators(spec)[0] if spec.hoc_method == "repeated" else two_stage_specs(spec)[1]


def stage_scores(first, frame: pd.DataFrame, standardize: bool = True) -> pd.DataFrame:
    """Scores of new rows ``frame`` from a fitted stage (PLSResult or QuickFit): its indicators standardised with
    the stage's own (training) means and SDs, times its outer weights (``Z W``)."""
    if hasattr(first, "outer"):
        o = first.outer
        inds, cons = list(o["indicator"]), list(first.spec.constructs)
        block = np.array([cons.index(c) for c in o["construct"]])
        w = o["weight"].to_numpy(float)
        mean, sd = first.item_mean[inds].to_numpy(float), first.item_sd[inds].to_numpy(float)
    else:
        inds, cons, block, w, mean, sd = list(first.indicators), first.constructs, first.block, first.weight, \
            first.mean, first.sd
    W = np.zeros((len(inds), len(cons)))
    W[np.arange(len(inds)), block] = w
    X = frame[inds].to_numpy(float) - mean
    return pd.DataFrame((X / sd if standardize else X) @ W, columns=cons, index=frame.index)


def plain_frame(frame: pd.DataFrame, spec: ModelSpec, stages: dict, *, standardize: bool = True,
                ref: pd.DataFrame | None = None, ref_weights: np.ndarray | None = None) -> pd.DataFrame:
    """The plain model's columns for rows ``frame`` (``spec``'s manifest items, complete) from *fitted* stages
    (``stages`` of :func:`expand` or of a result): repeated copies; a two-stage dimension's composite with the
    stage-1 weights (:func:`_composite_weights`); an interaction term's product of the stage-1 scores of its IV and
    moderator (:func:`stage_scores`: the stage's means, SDs and weights), or its product indicators z-scored (and
    orthogonalised) with the moments of ``ref`` (the rows the stages were fitted on, ``ref_weights``; default
    ``frame`` itself). PLSpredict scores a held-out fold with this: every parameter comes from the training rows."""
    from csi.engine.interaction import product_items

    out = frame
    if spec.higher_order:
        if spec.hoc_method == "repeated":
            _, copies = repeated_indicators(spec)
            out = out.assign(**{c: out[i].to_numpy() for c, (i, _) in copies.items()})
        else:
            first = stages["hoc_first"]
            dims = [d for ds in spec.higher_order.values() for d in ds]
            out = out.assign(**{d: out[list(spec.blocks[d])].to_numpy(float) @ _composite_weights(first, d, standardize)
                                for d in dims})
    if spec.interactions:
        post = post_hoc_spec(spec)
        method = spec.interaction_method
        new: dict[str, np.ndarray] = {}
        done = set()
        for term, iv, mod, _ in spec.interactions:
            if term in done:
                continue
            done.add(term)
            if method == "two_stage":
                sc = stage_scores(stages["interaction_first"], out, standardize)
                new[f"{iv}*{mod}"] = sc[iv].to_numpy() * sc[mod].to_numpy()
            else:
                P = product_items(out, post.blocks[iv], post.blocks[mod], ref_weights,
                                  orthogonal=(method == "orthogonal"), ref=ref)
                new.update({c: P[c].to_numpy() for c in P.columns})
        out = out.assign(**new)
    return out


def combined_outer(res) -> pd.DataFrame:
    """The outer table with the first-stage rows of the HOC dimensions' items appended (seminr's combined
    loadings/weights): for a two-stage HOC model, ``construct`` = dimension, from ``stages["hoc_first"]``."""
    first = res.stages.get("hoc_first")
    if first is None:
        return res.outer.copy()
    dims = [d for ds in res.info.get("extended", {}).get("higher_order", {}).get("constructs", {}).values()
            for d in ds]
    extra = first.outer[first.outer["construct"].isin(dims)]
    return pd.concat([res.outer, extra], ignore_index=True)


# =============================================================================== bootstrap
@dataclass(frozen=True)
class QuickFit:
    """The parts of a PLS fit the bootstrap needs, without the front door's tables (``quick_fit``)."""

    scores: pd.DataFrame
    weight: np.ndarray
    loading: np.ndarray
    beta: np.ndarray
    total: np.ndarray
    r2: np.ndarray
    constructs: list
    block: np.ndarray
    sd: np.ndarray
    #: the training means of the indicators and their names (to score new rows: PLSpredict's held-out folds)
    mean: np.ndarray | None = None
    indicators: tuple = ()


def quick_fit(frame: pd.DataFrame, spec: ModelSpec, *, weights=None, scheme: str = "path", standardize: bool = True,
              plsc: bool = False, tol: float = 1e-7, max_iter: int = 300) -> QuickFit:
    """One PLS fit on complete data through the kernel only (same maths as
    :func:`~csi.engine.pls.estimate_pls`, no validation or tables): for the bootstrap's resamples."""
    from csi.engine.kernel_math import cov_to_corr
    from csi.engine.pls import _derive, _Design, _kernel, _moments

    d = _Design.from_spec(spec)
    X = frame[list(d.indicators)].to_numpy(float)
    n = len(X)
    f = np.ones(n) if weights is None else np.asarray(weights, float) * (n / np.sum(weights))
    mean, cov = _moments(X, f)
    corr, sd = cov_to_corr(cov)
    if not np.all(sd > 1e-12 * max(1.0, float(np.max(sd)))):
        raise DataError("zero-variance indicator in a resample")
    S = corr if standardize else cov
    w, _, conv = _kernel(S[None], d, scheme, tol, max_iter)
    if not conv[0]:
        raise EstimationError("not converged")
    out = _derive(S[None], w, d, plsc)
    Z = (X - mean) / sd if standardize else X - mean
    scores = pd.DataFrame(Z @ (w[0][:, None] * d.member), columns=list(d.constructs))
    return QuickFit(scores=scores, weight=w[0], loading=out["loading"][0], beta=out["beta"][0],
                    total=out["total"][0], r2=out["r2"][0], constructs=list(d.constructs), block=d.block, sd=sd,
                    mean=mean, indicators=tuple(d.indicators))


def _align(w: np.ndarray, w_ref: np.ndarray, block: np.ndarray, J: int) -> np.ndarray:
    """Per-construct sign (+1/-1) aligning ``w`` with the full-sample ``w_ref``."""
    dots = np.bincount(block, weights=w * w_ref, minlength=J)
    return np.where(dots < 0, -1.0, 1.0)


def bootstrap_extended(data: pd.DataFrame, spec: ModelSpec, *, n_boot: int = 5000, seed: int,
                       progress: Callable[[int, int], None] | None = None, alpha: float = 0.05,
                       jackknife: bool = True, weights=None, missing: str = "listwise", **settings):
    """Bootstrap of an extended model (module docstring); returns a
    :class:`~csi.engine.bootstrap.BootstrapResult` keyed by the plain model's parameters."""
    from csi.engine.bootstrap import BootstrapResult, _keys, bootstrap_pls
    from csi.engine.pls import _Design, estimate_pls

    settings = {k: v for k, v in settings.items() if k not in ("chunk_size", "threads", "jackknife_chunk")}
    if spec.hoc_method == "repeated" and not spec.interactions:
        ex = expand(data, spec, weights=weights, missing=missing, **settings)
        return bootstrap_pls(ex.data, ex.spec, n_boot=n_boot, seed=seed, progress=progress, alpha=alpha,
                             jackknife=jackknife, weights=ex.weights, **_stage_settings(settings))
    if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)) or n_boot < 2:
        raise SpecError(f"n_boot must be an integer ≥ 2, got {n_boot!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise SpecError(f"seed must be an integer, got {seed!r}")
    frame, f, _ = _rows(data, spec, weights, missing)
    kw = _stage_settings(settings)
    full = estimate_extended(frame, spec, weights=f, **kw)
    d = _Design.from_spec(full.spec)
    cons, items = list(d.constructs), list(d.indicators)
    J = len(cons)
    w_ref = full.outer["weight"].to_numpy()
    pidx = {(a, b): k for k, (a, b) in enumerate(zip(full.paths["from"], full.paths["to"]))}
    tot = full.effects[["from", "to"]].apply(tuple, axis=1).tolist()
    endo = [c for c in cons if c in set(full.paths["to"])]
    keys = {"paths": list(pidx), "weights": items, "loadings": items, "total_effects": tot, "r2": endo,
            "item_mean": items, "item_sd": items}
    names = {k: _keys(k, v) for k, v in keys.items()}
    rng = np.random.default_rng(seed)
    n = len(frame)
    idx = rng.integers(0, n, size=(n_boot, n))
    out = {k: np.full((n_boot, len(v)), np.nan) for k, v in keys.items()}
    ok = np.zeros(n_boot, dtype=bool)
    dropped: dict[str, int] = {}
    ex0 = expand(frame, spec, weights=f, **kw)
    plain = ex0.spec
    if [c for c in plain.constructs] != cons:
        raise EstimationError("internal: the plain model's constructs changed between fits")
    pi = [(cons.index(a), cons.index(t)) for a, t in pidx]
    ti = [(cons.index(a), cons.index(t)) for a, t in tot]
    ei = [cons.index(c) for c in endo]
    for b in range(n_boot):
        rows = idx[b]
        fb = None if f is None else f[rows]
        try:
            ex = expand(frame.iloc[rows].reset_index(drop=True), spec, weights=fb, fit=quick_fit, prepared=True, **kw)
            r = quick_fit(ex.data, ex.spec, weights=fb, **kw)
        except (EstimationError, DataError, np.linalg.LinAlgError) as exc:
            reason = "zero-variance indicator" if isinstance(exc, DataError) else "not converged"
            dropped[reason] = dropped.get(reason, 0) + 1
            continue
        sign = _align(r.weight, w_ref, d.block, J)
        out["weights"][b] = r.weight * sign[d.block]
        out["loadings"][b] = r.loading * sign[d.block]
        out["paths"][b] = [r.beta[i, k] * sign[i] * sign[k] for i, k in pi]
        out["total_effects"][b] = [r.total[i, k] * sign[i] * sign[k] for i, k in ti]
        out["r2"][b] = r.r2[ei]
        m, cov = weighted_moments(ex.data[items].to_numpy(float), np.ones(n) if fb is None else fb * (n / fb.sum()))
        out["item_mean"][b], out["item_sd"][b] = m, np.sqrt(np.diag(cov))
        ok[b] = True
        if progress is not None and (b + 1) % 50 == 0:
            progress(b + 1, n_boot)
    if progress is not None:
        progress(n_boot, n_boot)
    if not ok.any():
        raise EstimationError(f"no bootstrap resample could be estimated (dropped: {dropped})")
    draw_index = pd.Index(np.flatnonzero(ok), name="draw")
    draws = {k: pd.DataFrame(v[ok], columns=names[k], index=draw_index) for k, v in out.items()}
    te_full = full.effects.set_index(["from", "to"])["total"]
    estimates = {
        "paths": pd.Series(full.paths["estimate"].to_numpy(), index=names["paths"]),
        "weights": pd.Series(w_ref, index=names["weights"]),
        "loadings": pd.Series(full.outer["loading"].to_numpy(), index=names["loadings"]),
        "total_effects": pd.Series([te_full[k] for k in tot], index=names["total_effects"]),
        "r2": pd.Series(full.constructs.set_index("construct")["r2"].reindex(endo).to_numpy(), index=names["r2"]),
        "item_mean": pd.Series(full.item_mean.reindex(items).to_numpy(), index=names["item_mean"]),
        "item_sd": pd.Series(full.item_sd.reindex(items).to_numpy(), index=names["item_sd"]),
    }
    info = {**kw, "missing": missing, "n_used": n, "_blocks": {i: cons[b] for i, b in zip(items, d.block)},
            "weights": weights if isinstance(weights, str) else ("array" if weights is not None else None),
            "procedure": "both stages re-estimated on every resample"}
    note = {"code": "extended_no_jackknife",
            "message": "extended model (higher-order or interaction): percentile intervals only (no BCa)",
            "message_zh": "扩展模型（高阶构念或交互项）：仅提供百分位区间（无 BCa）"}
    return BootstrapResult(draws=draws, estimates=estimates, n_boot=int(n_boot), n_kept=int(ok.sum()),
                           dropped=dropped, seed=int(seed), alpha=float(alpha), settings=info,
                           n_kept_by_kind={k: int(ok.sum()) for k in draws}, notes=(note,))


# =============================================================================== 0-100 indices
def extended_scales(result, scales) -> dict[str, tuple[float, float]]:
    """Theoretical bounds for the indicators an extended model adds, so the 0–100 indices of
    :mod:`csi.analytics.index` work on its plain model: a repeated copy ``HOC.item`` has its item's bounds; a
    two-stage dimension (its column ``Σ w̃_k x_k``, :func:`_composite_weights`) has ``(Σ w̃ lo, Σ w̃ hi)``, i.e. its
    items' common scale, so its 0–100 value is its own index and the HOC's index is the weighted mean of its
    dimensions' indices (SmartPLS's two-stage IPMA; exact when a dimension's items share one scale). An interaction item gets its observed range as a placeholder:
    :func:`extended_index` removes the term's index."""
    out = {k: (float(v[0]), float(v[1])) for k, v in dict(scales).items()}
    first = result.stages.get("hoc_first")
    hocs = set(result.info.get("extended", {}).get("higher_order", {}).get("constructs", {}))
    for ind in result.spec.indicators:
        if ind in out:
            continue
        head, _, item = ind.partition(".")
        if head in hocs and item in out:
            out[ind] = out[item]
        elif first is not None and ind in first.spec.constructs:
            items = list(first.spec.blocks[ind])
            wt = _composite_weights(first, ind, first.info.get("standardize", True))
            lo = np.array([out[i][0] for i in items])
            hi = np.array([out[i][1] for i in items])
            out[ind] = (float(np.where(wt > 0, wt * lo, wt * hi).sum()), float(np.where(wt > 0, wt * hi, wt * lo).sum()))
        else:
            mean, sd = float(result.item_mean.get(ind, 0.0)), float(result.item_sd.get(ind, 1.0))
            out[ind] = (mean - 10 * sd, mean + 10 * sd)     # placeholder: the term's index is removed
    return out


def extended_index(result, idx: pd.DataFrame, draws: pd.DataFrame | None):
    """No 0–100 index (nor its draws) for an interaction term: it has no scale of its own."""
    terms = [t["term"] for t in result.info.get("extended", {}).get("interactions", {}).get("terms", [])]
    if not terms:
        return idx, draws
    idx = idx.copy()
    hit = idx["construct"].isin(terms)
    idx.loc[hit, ["index", "ci_low", "ci_high"]] = np.nan
    idx.loc[hit, "note"] = "no 0-100 index for an interaction term"
    if draws is not None:
        draws = draws.copy()
        draws[[c for c in terms if c in draws.columns]] = np.nan
    return idx, draws
