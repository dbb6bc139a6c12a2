"""Necessary condition analysis (NCA; Dul 2016) and the combined importance–performance map (cIPMA; Hauff,
Richter, Sarstedt & Ringle 2024).

Definitions (the NCA R package's defaults, ``nca_analysis(..., ceilings = "ce_fdh")``):

* Data: the 0–100 scores of each respondent the model used — construct scores
  (:func:`csi.analytics.index.construct_scores_0_100`) at construct level, the item's 0–100 answer at item level —
  against the target construct's 0–100 score.
* **CE-FDH ceiling** (ceiling envelopment, free disposal hull): the step function
  ``c(x) = max{y_i : x_i ≤ x}``; it is the lowest non-decreasing step line with no observation above it.
* **Scope** (empirical, NCA's default): the rectangle ``[min x, max x] × [min y, max y]``, area ``S``.
* **Ceiling zone** ``C``: the empty area above the ceiling inside the scope,
  ``Σ_k (u_{k+1} - u_k)(max y - c(u_k))`` over the sorted distinct x values ``u_k``.
* **Effect size** ``d = C / S`` (0 … 1; Dul's reading 0–0.1 small, 0.1–0.3 medium, 0.3–0.5 large, ≥ 0.5 very
  large). Zero when x or y has no spread.
* **p-value** (Dul, van der Laan & Kuik 2020): ``y`` is permuted against ``x`` ``n_perm`` times (seeded);
  ``p = share of permuted d ≥ observed d``, at least ``1 / n_perm`` (the NCA package's rule).
* **Necessary condition** (Hauff et al. 2024): ``d ≥ 0.1`` and ``p < 0.05`` (both thresholds arguments).
  In :func:`cipma` the k-th driver's permutations use ``seed + k``.
* **Bottleneck table**: for a target level ``y_c`` the level of the driver needed is
  ``x_c = min{x_i : y_i ≥ y_c}`` (where the ceiling first reaches ``y_c``); ``NN`` (not necessary) when that is
  the lowest observed x (no constraint), ``NA`` when ``y_c`` is above every observed target score. Target levels
  are on the 0–100 scale (default 0, 10, …, 100; NCA's "actual" values). ``pct_below`` is the share of
  respondents whose driver score is below ``x_c`` — those who cannot reach ``y_c`` unless the driver improves
  (the bubble of Hauff et al.'s cIPMA chart).
* **cIPMA**: the IPMA importance (unstandardized total effect between 0–100 scores) and performance (0–100 mean)
  of :func:`csi.analytics.priorities.ipma`, next to d, p and the necessary flag of each driver.
* **Extended models** (:func:`cipma_frame`): the analysis runs on the estimated plain model. A higher-order
  construct is a driver of its outcomes at construct level with its 0–100 score; at item level a two-stage HOC's
  "items" are its dimensions (their 0–100 scores: the stage-1 composites on the items' scale,
  :func:`csi.engine.hoc.extended_scales`), a repeated-indicators HOC's are the copies of its dimensions' items.
  An interaction term has no 0–100 score and is no necessary-condition candidate: it is excluded
  (``attrs["excluded"]``), at item level with its product indicators.
"""
from __future__ import annotations

from typing import Literal, Sequence

import numpy as np
import pandas as pd

from csi.errors import DataError, SpecError

__all__ = ["ce_fdh", "ceiling_zone", "nca_test", "bottlenecks", "cipma", "D_THRESHOLD", "P_THRESHOLD"]

#: Hauff et al. (2024): a necessary condition has d ≥ 0.1 (Dul's "medium") and p < 0.05
D_THRESHOLD = 0.1
P_THRESHOLD = 0.05
LEVELS = tuple(float(v) for v in range(0, 101, 10))


def _clean(x, y) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if x.shape != y.shape or x.ndim != 1:
        raise DataError("x and y must be one-dimensional arrays of the same length")
    ok = np.isfinite(x) & np.isfinite(y)
    return x[ok], y[ok]


def _steps(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Order of x, the distinct sorted values ``u`` and the position of the last row of each value."""
    order = np.argsort(x, kind="mergesort")
    xs = x[order]
    last = np.flatnonzero(np.r_[xs[1:] != xs[:-1], True])
    return order, xs[last], last


def ceiling_zone(x, y) -> tuple[float, float]:
    """CE-FDH ceiling zone and empirical scope area of (x, y): ``(C, S)``."""
    x, y = _clean(x, y)
    if x.size == 0:
        return np.nan, np.nan
    order, u, last = _steps(x)
    c = np.maximum.accumulate(y[order])[last]
    zone = float(np.sum(np.diff(u) * (y.max() - c[:-1])))
    return zone, float((x.max() - x.min()) * (y.max() - y.min()))


def ce_fdh(x, y) -> pd.DataFrame:
    """The CE-FDH ceiling as steps: one row per distinct x with the ceiling height ``c(x)`` there
    (columns x, ceiling); ``attrs``: ceiling_zone, scope, d."""
    x, y = _clean(x, y)
    order, u, last = _steps(x)
    out = pd.DataFrame({"x": u, "ceiling": np.maximum.accumulate(y[order])[last]})
    zone, scope = ceiling_zone(x, y)
    out.attrs.update(ceiling_zone=zone, scope=scope, d=zone / scope if scope > 0 else 0.0)
    return out


def nca_test(x, y, n_perm: int = 1000, seed: int = 1) -> dict:
    """Effect size d and its permutation p-value: ``{"d", "p_value", "ceiling_zone", "scope", "n", "n_perm"}``."""
    if isinstance(n_perm, bool) or not isinstance(n_perm, (int, np.integer)) or n_perm < 0:
        raise SpecError(f"n_perm must be a non-negative integer, got {n_perm!r}")
    x, y = _clean(x, y)
    zone, scope = ceiling_zone(x, y)
    d = zone / scope if scope > 0 else 0.0
    p = np.nan
    if n_perm and scope > 0:
        rng = np.random.default_rng(seed)
        order, u, last = _steps(x)
        du = np.diff(u)
        ymax = y.max()
        perm = np.empty(n_perm)
        for a in range(0, n_perm, 500):
            b = min(500, n_perm - a)
            Y = rng.permuted(np.tile(y, (b, 1)), axis=1)[:, order]
            c = np.maximum.accumulate(Y, axis=1)[:, last[:-1]]
            perm[a:a + b] = ((ymax - c) * du).sum(axis=1) / scope
        p = max(float(np.mean(perm >= d - 1e-12)), 1.0 / n_perm)
    return {"d": float(d), "p_value": p, "ceiling_zone": zone, "scope": scope, "n": int(x.size),
            "n_perm": int(n_perm)}


def bottlenecks(x, y, levels: Sequence[float] = LEVELS) -> pd.DataFrame:
    """Required x for each target level: columns target_level, required, status (``required`` | ``NN`` |
    ``NA``), pct_below (percent of cases with x below the required level)."""
    x, y = _clean(x, y)
    rows = []
    for yc in levels:
        reach = y >= yc
        if not reach.any():
            rows.append((float(yc), np.nan, "NA", np.nan))
            continue
        xc = float(x[reach].min())
        if xc <= x.min():
            rows.append((float(yc), np.nan, "NN", 0.0))
        else:
            rows.append((float(yc), xc, "required", float(100 * np.mean(x < xc))))
    return pd.DataFrame(rows, columns=["target_level", "required", "status", "pct_below"])


def _driver_scores(result, data: pd.DataFrame, scales, target: str, level: str, drivers: list[str]
                   ) -> tuple[pd.DataFrame, pd.Series]:
    from csi.analytics.index import construct_scores_0_100, item_weights
    from csi.analytics.scales import to_0_100

    rows = result.scores.index
    sc = construct_scores_0_100(result, data.loc[rows], scales)
    if level == "construct":
        return sc[drivers], sc[target]
    tab = item_weights(result, scales)
    tab = tab[tab["construct"].isin(drivers)]
    X = data.loc[rows, list(tab["indicator"])].apply(pd.to_numeric, errors="coerce").to_numpy(float)
    Y = to_0_100(X, tab["scale_min"].to_numpy(), tab["scale_max"].to_numpy())
    return pd.DataFrame(Y, index=rows, columns=list(tab["indicator"])), sc[target]


def cipma_frame(result, data: pd.DataFrame, scales) -> tuple[pd.DataFrame, dict, tuple[str, ...]]:
    """What cIPMA reads for an extended model's ``result``: the plain model's columns on the analysed rows (the
    result's own fitted stages, :func:`csi.engine.hoc.plain_frame`, with the fit's missing-data treatment, survey
    weights and standardisation), the bounds of the added columns (:func:`csi.engine.hoc.extended_scales`) and the
    interaction terms to exclude. A plain model: ``(data, scales, ())``."""
    from csi.engine.hoc import _rows, extended_scales, original_spec, plain_frame

    spec = original_spec(result)
    if spec is None:
        return data, scales, ()
    info = result.info
    if info.get("weights") == "array":
        raise SpecError("cIPMA of an extended model needs the survey weights as a column name, not an array")
    frame, f, labels = _rows(data, spec, info.get("weights"), info.get("missing", "listwise"))
    pf = plain_frame(frame, spec, result.stages, standardize=info.get("standardize", True), ref_weights=f)
    pf.index = labels
    return pf, extended_scales(result, scales), tuple(dict.fromkeys(t for t, *_ in spec.interactions))


def cipma(result, data: pd.DataFrame, scales, target: str = "SAT",
          level: Literal["construct", "indicator"] = "construct", n_perm: int = 1000, seed: int = 1,
          levels: Sequence[float] = LEVELS, d_threshold: float = D_THRESHOLD, p_threshold: float = P_THRESHOLD,
          ipma_table: pd.DataFrame | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """cIPMA of ``target``: ``(nca, bottlenecks)``.

    ``nca``: target, level, driver, construct, importance, performance, d, p_value, ceiling_zone, scope,
    necessary, n (one row per driver of the IPMA, in the IPMA's rank order). ``bottlenecks``: target, level,
    driver, target_level, required, status, pct_below (long). ``data``: the frame the model was fitted on
    (rows = ``result.scores.index``); ``scales``: the items' theoretical bounds; ``ipma_table``: an IPMA of the same
    target and level (computed when None). An extended model's result (higher-order / interaction) is read through
    :func:`cipma_frame`: ``data`` and ``scales`` are those of its manifest items, as for a plain model."""
    from csi.analytics.priorities import ipma

    if level not in ("construct", "indicator"):
        raise SpecError(f"level must be 'construct' or 'indicator', got {level!r}")
    data, scales, excluded = cipma_frame(result, data, scales)
    ip = ipma_table if ipma_table is not None else ipma(result, scales, target=target, level=level)
    ip = ip[(ip["target"] == target) & (ip["level"] == level)] if "level" in ip else ip
    if excluded:                                   # interaction terms (and their product items) are no candidates
        ip = ip[~ip["driver"].isin(excluded) & ~ip.get("construct", ip["driver"]).isin(excluded)]
    drivers = list(ip["driver"])
    cons = list(dict.fromkeys(ip["construct"])) if level == "indicator" else drivers
    X, y = _driver_scores(result, data, scales, target, level, cons)
    rows, bn = [], []
    for k, drv in enumerate(drivers):
        r = ip.iloc[k]
        t = nca_test(X[drv].to_numpy(float), y.to_numpy(float), n_perm=n_perm, seed=seed + k)
        nec = bool(t["d"] >= d_threshold and np.isfinite(t["p_value"]) and t["p_value"] < p_threshold)
        rows.append({"target": target, "level": level, "driver": drv, "construct": r.get("construct", drv),
                     "importance": float(r["importance"]), "performance": float(r["performance"]),
                     "d": t["d"], "p_value": t["p_value"], "ceiling_zone": t["ceiling_zone"], "scope": t["scope"],
                     "necessary": nec, "n": t["n"]})
        b = bottlenecks(X[drv].to_numpy(float), y.to_numpy(float), levels)
        b.insert(0, "driver", drv)
        b.insert(0, "level", level)
        b.insert(0, "target", target)
        bn.append(b)
    nca = pd.DataFrame(rows)
    nca.attrs.update(n_perm=int(n_perm), seed=int(seed), d_threshold=d_threshold, p_threshold=p_threshold,
                     excluded=list(excluded))
    return nca, (pd.concat(bn, ignore_index=True) if bn else pd.DataFrame())
