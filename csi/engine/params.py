"""The one parameter table, lavaan style, shared by PLS and CB-SEM, and the wide tables derived from it.

Columns (both methods): ``lhs, op, rhs, estimate, std_error, t, p_value, ci_low, ci_high, std_estimate,
std_estimate_se, std_ci_low, std_ci_high``; an interval always brackets the estimate it stands beside
(``ci_*`` belong to ``estimate``, ``std_ci_*`` to ``std_estimate``). Operators:

``=~``  loading: lhs construct, rhs indicator
``<~``  outer weight (PLS): lhs construct, rhs indicator
``~``   structural path: lhs outcome, rhs predictor (lavaan's order: ``SAT ~ QUAL`` is the path QUAL -> SAT)
``~~``  (co)variance (CB-SEM; residual variances included)
``r2``  R² of an endogenous construct: lhs = rhs = construct

PLS: ``estimate`` is the PLS estimate (standardized composites); with ``standardize=True`` the standardized
columns repeat it, with ``standardize=False`` outer weights and loadings are on the items' raw scale and their
standardized columns are empty. Bootstrap columns (``std_error``, ``t``, ``p_value``, ``ci_*``, ``boot_mean``)
come from :meth:`csi.engine.bootstrap.BootstrapResult.summary`; empty without a bootstrap. CB-SEM builds its
table in :mod:`csi.engine.cbsem` (``CBSEMResult.params``) with the same columns.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

PARAM_COLUMNS = ["lhs", "op", "rhs", "estimate", "std_error", "t", "p_value", "ci_low", "ci_high", "std_estimate",
                 "std_estimate_se", "std_ci_low", "std_ci_high"]
_STATS = ["std_error", "t", "p_value", "ci_low", "ci_high", "boot_mean"]


def _boot(boot, kind: str, keys: list[str], ci: str) -> pd.DataFrame:
    """Bootstrap summary of ``kind`` joined on its label columns ``keys`` (NaN where no draws)."""
    if boot is None or kind not in boot.draws:
        return pd.DataFrame(columns=keys + _STATS)
    s = boot.summary(kind, ci=ci)
    return s[keys + [c for c in _STATS if c in s.columns]]


def pls_params(result, boot=None, ci: str = "percentile") -> pd.DataFrame:
    """The long parameter table of a PLS fit (see module docstring); rows: loadings, weights, paths, R²."""
    std = bool(result.info.get("standardize", True))
    outer = result.outer
    parts = []
    for op, col, kind in (("=~", "loading", "loadings"), ("<~", "weight", "weights")):
        t = pd.DataFrame({"lhs": outer["construct"].to_numpy(), "op": op, "rhs": outer["indicator"].to_numpy(),
                          "estimate": outer[col].to_numpy(float)})
        b = _boot(boot, kind, ["construct", "indicator"], ci).rename(columns={"construct": "lhs", "indicator": "rhs"})
        parts.append(t.merge(b, on=["lhs", "rhs"], how="left"))
    p = result.paths
    t = pd.DataFrame({"lhs": p["to"].to_numpy(), "op": "~", "rhs": p["from"].to_numpy(),
                      "estimate": p["estimate"].to_numpy(float)})
    b = _boot(boot, "paths", ["from", "to"], ci).rename(columns={"to": "lhs", "from": "rhs"})
    parts.append(t.merge(b, on=["lhs", "rhs"], how="left"))
    c = result.constructs[np.isfinite(result.constructs["r2"].to_numpy(float))]
    t = pd.DataFrame({"lhs": c["construct"].to_numpy(), "op": "r2", "rhs": c["construct"].to_numpy(),
                      "estimate": c["r2"].to_numpy(float)})
    b = _boot(boot, "r2", ["construct"], ci).rename(columns={"construct": "lhs"})
    parts.append(t.merge(b, on="lhs", how="left"))
    out = pd.concat(parts, ignore_index=True)
    for col in _STATS:
        if col not in out.columns:
            out[col] = np.nan
    standardized = (out["op"].isin(["~", "r2"]) | std).to_numpy()
    out["std_estimate"] = np.where(standardized, out["estimate"], np.nan)
    out["std_estimate_se"] = np.where(standardized, out["std_error"], np.nan)
    out["std_ci_low"] = np.where(standardized, out["ci_low"], np.nan)
    out["std_ci_high"] = np.where(standardized, out["ci_high"], np.nan)
    return out[PARAM_COLUMNS + ["boot_mean"]].astype({c: float for c in PARAM_COLUMNS[3:]})


def paths_wide(params: pd.DataFrame) -> pd.DataFrame:
    """``paths`` table: from, to, estimate, std_error, t, p_value, ci_low, ci_high (one row per ``~``)."""
    p = params[params["op"] == "~"]
    return pd.DataFrame({"from": p["rhs"].to_numpy(), "to": p["lhs"].to_numpy(),
                         **{c: p[c].to_numpy(float) for c in ("estimate", "std_error", "t", "p_value", "ci_low",
                                                              "ci_high")}})


def outer_wide(params: pd.DataFrame, result) -> pd.DataFrame:
    """``outer`` table: construct, indicator, weight, loading, communality, weight_/loading_ std_error and
    interval (one row per indicator, in the model's order)."""
    base = result.outer[["construct", "indicator"]].copy()
    for op, name in (("<~", "weight"), ("=~", "loading")):
        p = params[params["op"] == op].rename(columns={"lhs": "construct", "rhs": "indicator"})
        p = p[["construct", "indicator", "estimate", "std_error", "ci_low", "ci_high"]].rename(columns={
            "estimate": name, "std_error": f"{name}_std_error", "ci_low": f"{name}_ci_low",
            "ci_high": f"{name}_ci_high"})
        base = base.merge(p, on=["construct", "indicator"], how="left")
    base.insert(4, "communality", result.outer["communality"].to_numpy(float))
    return base[["construct", "indicator", "weight", "loading", "communality", "weight_std_error", "weight_ci_low",
                 "weight_ci_high", "loading_std_error", "loading_ci_low", "loading_ci_high"]]
