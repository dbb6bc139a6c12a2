"""Mediation: every specific indirect effect, the total indirect effect and the mediation type.

Definitions (Hair et al. 2022, *A Primer on PLS-SEM*, ch. 7; Nitzl, Roldán & Cepeda 2016; seminr's
``specific_effect_significance``; SmartPLS "specific indirect effects"):

* A **specific indirect effect** of X on Y is the product of the standardized path coefficients along one
  directed chain X → M₁ → … → Y with at least one mediator. Every chain of the (recursive) structural model is
  listed once, identified by its construct sequence (``path`` column, e.g. ``IMAG > SAT > LOY``).
* The **total indirect effect** of X on Y is the sum of its specific indirect effects (= total − direct).
* Inference: the bootstrap draws of the paths (``BootstrapResult.draws["paths"]``, sign-aligned per draw)
  give each specific effect's draws as the product of the draws; the total indirect effect's draws are the
  sums of the specific effects' draws (= total minus direct effect in each draw). Standard error = SD of the draws, t = estimate / SE,
  two-sided normal p, percentile interval at ``alpha``. An effect is **significant** when its interval
  excludes 0 (a zero-width interval of a fixed-zero direct effect is not significant).
* **Type** (Zhao, Lynch & Chen 2010), for each specific indirect effect (a·b) against the direct effect c of
  the same pair X → Y (c = 0 and not significant when the model has no direct path):
  ``complementary`` (a·b and c significant, a·b·c > 0), ``competitive`` (both significant, a·b·c < 0),
  ``indirect-only`` (a·b significant, c not: full mediation), ``direct-only`` (c significant, a·b not: no
  mediation), ``no-effect`` (neither). The same rule on the total indirect effect gives the pair's type.
  Without a bootstrap there is no type (empty).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import ndtr

from csi.engine.kernel_math import percentile_interval
from csi.errors import SpecError

__all__ = ["indirect_effects", "chains", "mediation_type", "TYPES"]

TYPES = ("complementary", "competitive", "indirect-only", "direct-only", "no-effect")


def chains(spec) -> list[tuple[str, ...]]:
    """Every directed chain with at least one mediator, as construct tuples (X, M…, Y), in model order."""
    succ = {c: [t for f, t in spec.paths if f == c] for c in spec.constructs}
    out: list[tuple[str, ...]] = []

    def walk(seq):
        for t in succ[seq[-1]]:
            nxt = seq + (t,)
            if len(nxt) >= 3:
                out.append(nxt)
            walk(nxt)
    for c in spec.constructs:
        walk((c,))
    order = {c: k for k, c in enumerate(spec.constructs)}
    return sorted(out, key=lambda s: (order[s[0]], order[s[-1]], len(s), [order[c] for c in s]))


def mediation_type(indirect_sig: bool, direct_sig: bool, product: float) -> str:
    """Zhao, Lynch & Chen (2010) type from the significance of a·b and c and the sign of a·b·c."""
    if indirect_sig and direct_sig:
        return "complementary" if product > 0 else "competitive"
    if indirect_sig:
        return "indirect-only"
    if direct_sig:
        return "direct-only"
    return "no-effect"


def _summ(est: float, draws: np.ndarray | None, alpha: float) -> dict:
    if draws is None:
        return {"std_error": np.nan, "t": np.nan, "p_value": np.nan, "ci_low": np.nan, "ci_high": np.nan}
    x = draws[np.isfinite(draws)]
    se = float(np.std(x, ddof=1)) if x.size > 1 else np.nan
    lo, hi = percentile_interval(x, alpha) if x.size else (np.nan, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        t = est / se if se > 0 else np.nan
    return {"std_error": se, "t": t, "p_value": float(2 * ndtr(-abs(t))) if np.isfinite(t) else np.nan,
            "ci_low": float(lo), "ci_high": float(hi)}


def _sig(s: dict) -> bool:
    return bool(np.isfinite(s["ci_low"]) and (s["ci_low"] > 0 or s["ci_high"] < 0))


def indirect_effects(result, boot=None, alpha: float | None = None) -> pd.DataFrame:
    """One row per specific indirect effect, then one ``total_indirect`` row per (from, to) pair:

    kind (``specific`` | ``total_indirect``), from, to, path (``X > M > Y``; the pair's chains joined by
    `` | `` on a total row), n_mediators, estimate, std_error, t, p_value, ci_low, ci_high, direct,
    direct_ci_low, direct_ci_high, type (:data:`TYPES`; empty without ``boot``).
    ``result``: a PLS result (``paths``, ``spec``); ``boot``: its :class:`BootstrapResult` (or None);
    ``alpha`` defaults to the bootstrap's."""
    spec = result.spec
    alpha = (boot.alpha if boot is not None else 0.05) if alpha is None else alpha
    if not 0 < alpha < 1:
        raise SpecError(f"alpha must be between 0 and 1, got {alpha!r}")
    beta = {(f, t): float(e) for f, t, e in zip(result.paths["from"], result.paths["to"], result.paths["estimate"])}
    D = boot.draws["paths"] if boot is not None else None
    cols = ["kind", "from", "to", "path", "n_mediators", "estimate", "std_error", "t", "p_value", "ci_low",
            "ci_high", "direct", "direct_ci_low", "direct_ci_high", "type"]
    ch = chains(spec)
    if not ch:
        return pd.DataFrame(columns=cols)

    def direct(x, y):
        est = beta.get((x, y), 0.0)
        dr = None if D is None else (D[(x, y)].to_numpy(float) if (x, y) in D.columns else np.zeros(len(D)))
        return est, dr

    rows = []
    pair_draws: dict[tuple[str, str], np.ndarray] = {}
    pair_est: dict[tuple[str, str], float] = {}
    for c in ch:
        x, y = c[0], c[-1]
        est = float(np.prod([beta[(a, b)] for a, b in zip(c[:-1], c[1:])]))
        dr = None if D is None else np.prod(np.stack([D[(a, b)].to_numpy(float) for a, b in zip(c[:-1], c[1:])]),
                                            axis=0)
        pair_est[(x, y)] = pair_est.get((x, y), 0.0) + est
        if dr is not None:
            pair_draws[(x, y)] = pair_draws.get((x, y), 0.0) + dr
        rows.append(("specific", x, y, " > ".join(c), len(c) - 2, est, dr))
    order = {c: k for k, c in enumerate(spec.constructs)}
    for (x, y) in sorted(pair_est, key=lambda k: (order[k[0]], order[k[1]])):
        rows.append(("total_indirect", x, y, " | ".join(" > ".join(c) for c in ch if c[0] == x and c[-1] == y),
                     np.nan, pair_est[(x, y)], pair_draws.get((x, y))))
    out = []
    for kind, x, y, path, k, est, dr in rows:
        s = _summ(est, dr, alpha)
        c_est, c_dr = direct(x, y)
        cs = _summ(c_est, c_dr, alpha)
        typ = "" if D is None else mediation_type(_sig(s), _sig(cs), est * c_est)
        out.append({"kind": kind, "from": x, "to": y, "path": path, "n_mediators": k, "estimate": est, **s,
                    "direct": c_est, "direct_ci_low": cs["ci_low"], "direct_ci_high": cs["ci_high"], "type": typ})
    tab = pd.DataFrame(out, columns=cols)
    tab["n_mediators"] = tab["n_mediators"].astype("Int64")   # empty on the total rows
    return tab
