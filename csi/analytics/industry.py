"""Industry benchmarks of a national programme: industry and national indices, league tables, gaps.

Inputs are company-wave group fits (:class:`csi.compare.groups.GroupFit`, key ``(wave, company)``; the
reduced fits of ``keep="index"`` suffice), each company's industry and optionally its market share.

* **Industry index** (per wave and construct) = Σ w_k I_k / Σ w_k over the industry's fitted companies, with
  w_k the company's market share when every company of the industry has one, else its respondents (the
  ``n`` the model used). **National index** = the same over industries, each weighted by its respondents.
* **Intervals**: the companies are independent samples, so the bootstrap distribution of a weighted mean is
  that of the weighted mean of the companies' draws taken draw by draw (draw b of every company; the
  pairing is arbitrary because the draws are independent); percentile intervals. Companies without draws
  leave the industry's interval NaN.
* **League table** per industry and wave: companies ranked by index (1 = highest), the rank's bootstrap
  interval (ranks within each draw), the difference to the next-ranked company with its interval and
  whether it is significant (interval excludes 0), and the company's **gap to its industry** (company
  minus industry index, draw by draw, so the company's own share of the industry is accounted for).
"""
from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd

from csi.engine.kernel_math import percentile_interval

__all__ = ["company_frame", "industry_table", "league_table", "weights_of"]

INDUSTRY_COLUMNS = ["wave", "level", "industry", "construct", "index", "ci_low", "ci_high", "n_companies", "n",
                    "weighting"]
LEAGUE_COLUMNS = ["wave", "industry", "construct", "rank", "company", "index", "ci_low", "ci_high", "rank_ci_low",
                  "rank_ci_high", "n", "weight", "diff_to_next", "diff_ci_low", "diff_ci_high", "significant_vs_next",
                  "industry_index", "gap_to_industry", "gap_ci_low", "gap_ci_high", "gap_significant"]


def company_frame(fits: Mapping, industry_of: Mapping[str, str],
                  share_of: Mapping[tuple[str, str], float] | None = None) -> pd.DataFrame:
    """One row per fitted (wave, company, construct): wave, industry, company, construct, index, ci_low,
    ci_high, n, share."""
    rows = []
    for key, fit in fits.items():
        if not fit.ok or fit.index is None:
            continue
        wave, comp = str(key[0]), str(key[1])
        if comp not in industry_of:
            continue
        share = (share_of or {}).get((wave, comp))
        for r in fit.index.itertuples(index=False):
            rows.append({"wave": wave, "industry": industry_of[comp], "company": comp, "construct": r.construct,
                         "index": float(r.index), "ci_low": float(r.ci_low), "ci_high": float(r.ci_high),
                         "n": int(r.n), "share": np.nan if share is None else float(share)})
    return pd.DataFrame(rows, columns=["wave", "industry", "company", "construct", "index", "ci_low", "ci_high",
                                       "n", "share"])


def weights_of(group: pd.DataFrame) -> tuple[np.ndarray, str]:
    """Weights of the companies of one industry: market shares when all are given, else respondents."""
    share = group["share"].to_numpy(float)
    if len(share) and np.all(np.isfinite(share)) and share.sum() > 0:
        return share, "market_share"
    return group["n"].to_numpy(float), "respondents"


def _draws(fits: Mapping, wave: str, companies, construct: str) -> np.ndarray | None:
    """B x K matrix of the companies' index draws (first common B draws), None if any company lacks draws."""
    cols = []
    for c in companies:
        d = fits[(wave, c)].index_draws
        if d is None or construct not in d.columns:
            return None
        cols.append(d[construct].to_numpy(float))
    m = min(len(x) for x in cols)
    return np.stack([x[:m] for x in cols], axis=1)


def _wmean(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    return (x * w).sum(axis=-1) / w.sum()


def _industry_draws(fits, comp: pd.DataFrame, alpha: float):
    """{(wave, industry, construct): (index, draws or None, weights, weighting, companies)}."""
    out = {}
    for (wave, ind, con), g in comp.groupby(["wave", "industry", "construct"], sort=True):
        w, how = weights_of(g)
        D = _draws(fits, wave, list(g["company"]), con)
        out[(wave, ind, con)] = (float(_wmean(g["index"].to_numpy(float), w)), D, w, how, g)
    return out


def industry_table(fits: Mapping, industry_of: Mapping[str, str],
                   share_of: Mapping[tuple[str, str], float] | None = None, alpha: float = 0.05) -> pd.DataFrame:
    """Industry and national indices per wave and construct with percentile intervals (module text)."""
    comp = company_frame(fits, industry_of, share_of)
    if comp.empty:
        return pd.DataFrame(columns=INDUSTRY_COLUMNS)
    agg = _industry_draws(fits, comp, alpha)
    rows, national = [], {}
    for (wave, ind, con), (val, D, w, how, g) in agg.items():
        ID = None if D is None else _wmean(D, w)
        lo, hi = percentile_interval(ID, alpha) if ID is not None else (np.nan, np.nan)
        n = int(g["n"].sum())
        rows.append({"wave": wave, "level": "industry", "industry": ind, "construct": con, "index": val,
                     "ci_low": float(lo), "ci_high": float(hi), "n_companies": len(g), "n": n, "weighting": how})
        national.setdefault((wave, con), []).append((val, ID, n))
    for (wave, con), parts in national.items():
        w = np.array([p[2] for p in parts], float)
        val = float(_wmean(np.array([p[0] for p in parts]), w))
        if all(p[1] is not None for p in parts):
            m = min(len(p[1]) for p in parts)
            lo, hi = percentile_interval(_wmean(np.stack([p[1][:m] for p in parts], axis=1), w), alpha)
        else:
            lo = hi = np.nan
        rows.append({"wave": wave, "level": "national", "industry": "national", "construct": con, "index": val,
                     "ci_low": float(lo), "ci_high": float(hi),
                     "n_companies": int(sum(len(agg[(wave, i, con)][4]) for (wv, i, c) in agg if wv == wave and c == con)),
                     "n": int(w.sum()), "weighting": "industries by respondents"})
    return pd.DataFrame(rows, columns=INDUSTRY_COLUMNS)


def _sig(lo: float, hi: float):
    return pd.NA if not (np.isfinite(lo) and np.isfinite(hi)) else bool(lo > 0 or hi < 0)


def league_table(fits: Mapping, industry_of: Mapping[str, str],
                 share_of: Mapping[tuple[str, str], float] | None = None, alpha: float = 0.05) -> pd.DataFrame:
    """League table per industry, wave and construct (module text); rank 1 = highest index."""
    comp = company_frame(fits, industry_of, share_of)
    if comp.empty:
        return pd.DataFrame(columns=LEAGUE_COLUMNS)
    rows = []
    for (wave, ind, con), (val, D, w, how, g) in _industry_draws(fits, comp, alpha).items():
        order = np.argsort(-g["index"].to_numpy(float), kind="stable")
        g = g.iloc[order].reset_index(drop=True)
        wo = w[order]
        Do = None if D is None else D[:, order]
        if Do is not None:
            ranks = (-Do).argsort(axis=1, kind="stable").argsort(axis=1, kind="stable") + 1.0
            rlo, rhi = percentile_interval(ranks, alpha)
            gap_lo, gap_hi = percentile_interval(Do - _wmean(Do, wo)[:, None], alpha)
            if len(g) > 1:
                dlo, dhi = percentile_interval(Do[:, :-1] - Do[:, 1:], alpha)
        k = len(g)
        for j, r in g.iterrows():
            has_next = j + 1 < k
            dl = float(dlo[j]) if Do is not None and has_next else np.nan
            dh = float(dhi[j]) if Do is not None and has_next else np.nan
            gl = float(gap_lo[j]) if Do is not None else np.nan
            gh = float(gap_hi[j]) if Do is not None else np.nan
            rows.append({
                "wave": wave, "industry": ind, "construct": con, "rank": j + 1, "company": r["company"],
                "index": r["index"], "ci_low": r["ci_low"], "ci_high": r["ci_high"],
                "rank_ci_low": float(rlo[j]) if Do is not None else np.nan,
                "rank_ci_high": float(rhi[j]) if Do is not None else np.nan,
                "n": int(r["n"]), "weight": float(wo[j]),
                "diff_to_next": float(r["index"] - g["index"].iloc[j + 1]) if has_next else np.nan,
                "diff_ci_low": dl, "diff_ci_high": dh, "significant_vs_next": _sig(dl, dh) if has_next else pd.NA,
                "industry_index": val, "gap_to_industry": float(r["index"] - val), "gap_ci_low": gl,
                "gap_ci_high": gh, "gap_significant": _sig(gl, gh)})
    out = pd.DataFrame(rows, columns=LEAGUE_COLUMNS)
    for c in ("significant_vs_next", "gap_significant"):
        out[c] = out[c].astype("boolean")
    return out
