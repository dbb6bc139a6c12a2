"""Interaction terms (moderation) in PLS: ``SAT ~ VAL + PRICE + VAL:PRICE``.

The term ``IV:MOD`` becomes a construct named ``IV:MOD`` in the plain model; how it is measured is
``spec.interaction_method`` (Henseler & Chin 2010, Structural Equation Modeling 17(1); Becker, Ringle &
Sarstedt 2018, Journal of Applied Structural Equation Modeling 2(2)):

* ``two_stage`` (default; seminr ``two_stage``, SmartPLS's default): stage 1 estimates the main-effects
  model (every interaction term removed); the term's single indicator ``IV*MOD`` is the product of the
  stage-1 scores of IV and MOD (unit-variance composites); stage 2 estimates the full model.
* ``product`` (product indicators, seminr ``product_indicator``): every product of an IV item and a MOD
  item, each item z-scored first (weighted mean and sd when survey weights are given), named
  ``iv_item*mod_item``; the term is a mode A block of them.
* ``orthogonal`` (residual centring, Little, Bovaird & Widaman 2006; seminr ``orthogonal``): those
  products, each replaced by its residual from an OLS regression (with intercept) on the unscaled IV and
  MOD items.

Standardised reporting: items are z-scored by the PLS algorithm (``standardize=True``), so the term's path
is the coefficient of the *standardised* product, as seminr and SmartPLS report it (not the product of
the standardised variables; Hair et al. 2022, ch. 7). Simple slopes (:func:`simple_slopes`): the effect of IV
on the target at MOD = -1, 0, +1 SD is ``b_IV + b_term · m``, with bootstrap percentile intervals of that
linear combination computed draw by draw.

PLSc: refused for interaction models (the product term's reliability needs the Dijkstra &
Schermelleh-Engel 2014 correction). CB-SEM: refused (latent interactions need LMS/QML, which the CB-SEM
adapter does not have).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from csi.engine.kernel_math import weighted_moments
from csi.errors import SpecError
from csi.model.syntax import ModelSpec

LEVELS = (-1.0, 0.0, 1.0)


def _main_effects(spec: ModelSpec) -> ModelSpec:
    terms = {t for t, *_ in spec.interactions}
    return ModelSpec(tuple(r for r in spec.params if not (r[1] == "~" and r[2] in terms)), name=spec.name)


def _zscore(X: np.ndarray, f: np.ndarray | None, ref: np.ndarray | None = None) -> np.ndarray:
    """``X`` z-scored with the (weighted) moments of ``ref`` (default ``X`` itself)."""
    R = X if ref is None else ref
    w = np.ones(len(R)) if f is None else f
    m, cov = weighted_moments(R, w)
    return (X - m) / np.sqrt(np.diag(cov))


def product_items(frame: pd.DataFrame, iv_items, mod_items, f: np.ndarray | None,
                  orthogonal: bool = False, ref: pd.DataFrame | None = None) -> pd.DataFrame:
    """Products of the z-scored IV and MOD items (IV item varies slowest); orthogonalised on request.

    ``ref``: the rows whose moments (and, orthogonalised, whose residualising regression) apply, with ``f`` its
    survey weights — a held-out fold is scored with the training rows' (default: ``frame`` itself)."""
    iv_items, mod_items = list(iv_items), list(mod_items)

    def products(fr, base):
        A = _zscore(fr[iv_items].to_numpy(float), f, None if base is None else base[iv_items].to_numpy(float))
        B = _zscore(fr[mod_items].to_numpy(float), f, None if base is None else base[mod_items].to_numpy(float))
        return {f"{a}*{b}": A[:, i] * B[:, j] for i, a in enumerate(iv_items) for j, b in enumerate(mod_items)}

    P = pd.DataFrame(products(frame, ref), index=frame.index)
    if orthogonal:
        base = frame if ref is None else ref
        Pb = P if ref is None else pd.DataFrame(products(ref, None), index=ref.index)
        design = lambda fr: np.column_stack([np.ones(len(fr)), fr[iv_items + mod_items].to_numpy(float)])  # noqa: E731
        Xb = design(base)
        sw = np.ones(len(base)) if f is None else f
        beta, *_ = np.linalg.lstsq(Xb * np.sqrt(sw)[:, None], Pb.to_numpy() * np.sqrt(sw)[:, None], rcond=None)
        P = pd.DataFrame(P.to_numpy() - design(frame) @ beta, columns=P.columns, index=frame.index)
    return P


def expand_interactions(frame: pd.DataFrame, spec: ModelSpec, f: np.ndarray | None, fit=None, **settings):
    """``(frame, plain spec, first-stage result or None, info)`` for ``spec``'s interaction terms;
    ``fit`` estimates the first stage (default :func:`~csi.engine.pls.estimate_pls`)."""
    from csi.engine.pls import estimate_pls

    estimate_pls = fit or estimate_pls
    method = spec.interaction_method
    first = None
    if method == "two_stage":
        first = estimate_pls(frame, _main_effects(spec), weights=f, **settings)
    blocks = {c: spec.blocks[c] for c in spec.constructs}
    modes = dict(spec.modes)
    new_cols: dict[str, np.ndarray] = {}
    for term, iv, mod, _ in spec.interactions:
        if term in blocks:
            continue                                  # the same term in two targets' regressions
        if method == "two_stage":
            name = f"{iv}*{mod}"
            new_cols[name] = first.scores[iv].to_numpy() * first.scores[mod].to_numpy()
            blocks[term] = (name,)
        else:
            P = product_items(frame, spec.blocks[iv], spec.blocks[mod], f, orthogonal=(method == "orthogonal"))
            new_cols.update({c: P[c].to_numpy() for c in P.columns})
            blocks[term] = tuple(P.columns)
        modes[term] = "A"
    clash = [c for c in new_cols if c in frame.columns]
    if clash:
        raise SpecError(f"the data already has a column {clash[0]!r}; rename it")
    frame = frame.assign(**new_cols)
    rows = [(c, "<~" if modes[c] == "B" else "=~", i) for c, items in blocks.items() for i in items]
    rows += [r for r in spec.params if r[1] == "~"]
    plain = ModelSpec(tuple(rows), name=spec.name)
    info = {"method": method, "terms": [{"term": t, "iv": a, "moderator": b, "target": y}
                                        for t, a, b, y in spec.interactions]}
    return frame, plain, first, info


def product_scale(frame: pd.DataFrame, res, f: np.ndarray | None) -> dict[str, float]:
    """Per term, seminr's variance adjustment of the interaction score (Henseler & Chin 2010; seminr
    ``adjust_interaction``): the loading-weighted mean of its product items' sds, ``Σ sd_i |λ_i| / Σ |λ_i|``
    (two_stage: the sd of the product of the stage-1 scores). ``b_term / product_sd`` is the term's
    coefficient on that product scale, the value seminr reports; the standardised ``b_term`` (unit-variance
    term score) is what SmartPLS reports and what csi shows."""
    out = {}
    outer = res.outer.set_index("indicator")
    ones = np.ones(len(frame)) if f is None else f
    for t in res.info.get("extended", {}).get("interactions", {}).get("terms", []):
        items = list(res.spec.blocks[t["term"]])
        sd = np.sqrt(np.diag(weighted_moments(frame[items].to_numpy(float), ones)[1]))
        lam = np.abs(outer["loading"].reindex(items).to_numpy(float))
        out[t["term"]] = float(sd @ lam / lam.sum())
    return out


def simple_slopes(res, boot=None, alpha: float = 0.05, levels=LEVELS) -> pd.DataFrame:
    """Simple-slopes table of an interaction model's result: one row per (term, moderator level).

    Columns: target, iv, moderator, term, moderator_sd (-1, 0, +1), slope (``b_iv + b_term · m``),
    b_iv, b_moderator, b_term, b_term_product (``b_term / product_sd``, seminr's scale), ci_low, ci_high
    (bootstrap percentile, NaN without a bootstrap)."""
    terms = res.info.get("extended", {}).get("interactions", {}).get("terms", [])
    cols = ["target", "iv", "moderator", "term", "moderator_sd", "slope", "b_iv", "b_moderator", "b_term",
            "b_term_product", "ci_low", "ci_high"]
    if not terms:
        return pd.DataFrame(columns=cols)
    P = res.paths.set_index(["from", "to"])["estimate"]
    D = boot.draws.get("paths") if boot is not None else None
    out = []
    for t in terms:
        y, x, m, term = t["target"], t["iv"], t["moderator"], t["term"]
        bx, bm, bt = P[(x, y)], P[(m, y)], P[(term, y)]
        for lv in levels:
            lo = hi = np.nan
            if D is not None and (x, y) in D.columns and (term, y) in D.columns:
                s = (D[(x, y)] + lv * D[(term, y)]).to_numpy(float)
                s = s[np.isfinite(s)]
                if s.size:
                    lo, hi = np.quantile(s, [alpha / 2, 1 - alpha / 2])
            sd = t.get("product_sd") or np.nan
            out.append((y, x, m, term, lv, bx + bt * lv, bx, bm, bt, bt / sd, lo, hi))
    return pd.DataFrame(out, columns=cols)


def slope_lines(slopes: pd.DataFrame, grid=(-2.0, 2.0), points: int = 21) -> pd.DataFrame:
    """Predicted target (standardised) over IV = grid at each moderator level, for the simple-slopes chart:
    ``y = b_iv·x + b_moderator·m + b_term·x·m`` (columns term, moderator_sd, x, y)."""
    xs = np.linspace(grid[0], grid[1], points)
    rows = []
    for r in slopes.itertuples(index=False):
        for x in xs:
            rows.append((r.term, r.target, r.moderator_sd, x, r.b_iv * x + r.b_moderator * r.moderator_sd
                         + r.b_term * x * r.moderator_sd))
    return pd.DataFrame(rows, columns=["term", "target", "moderator_sd", "x", "y"])
