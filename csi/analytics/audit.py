"""Mystery-shopping audits: points possible, obtained and lost per outlet, category and period.

Pure functions on the long audit table that :func:`csi.data.store.load_audits` returns (period, outlet, category,
possible, obtained, note, region; ``period`` an ordered categorical in import order). Definitions:

* ``lost = possible - obtained``; ``percent = 100 * obtained / possible`` (of the sums, never a mean of
  percentages: an outlet's total percent weights each category by its points possible);
* lost points ranked: categories by points lost (overall or per outlet), with each category's share of all
  points lost and its percent obtained;
* trend: an outlet's total percent in each period (in the periods' order) and the change from the previous
  period it was audited in;
* link to the survey: when the audited outlets are values of a survey segment (``store``, ``outlet``,
  ``branch``, ``region``, ... whichever segment's values overlap them most), or the audit's ``region`` column
  matches a segment, each outlet's (region's) audit percent is set beside the survey satisfaction index of
  the respondents of that outlet (region): the mean of their 0-100 construct scores under the pooled fit
  (:func:`csi.analytics.index.construct_scores_0_100`), which on the rows the model used is the index of
  :func:`csi.analytics.index.index_scores` restricted to those respondents.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from csi.errors import DataError

SCORE_COLUMNS = ["period", "outlet", "category", "possible", "obtained", "lost", "percent"]
# segment names tried first when several overlap the outlets equally
LINK_SEGMENTS = ("store", "outlet", "branch", "shop", "门店", "网点", "营业厅", "region", "地区", "区域", "city",
                 "城市", "province", "省份", "channel", "渠道")


def _sums(df: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    g = df.groupby(by, observed=True, sort=True)[["possible", "obtained"]].sum().reset_index()
    g["lost"] = g["possible"] - g["obtained"]
    g["percent"] = 100.0 * g["obtained"] / g["possible"]
    return g


def _check(audits: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in ("period", "outlet", "category", "possible", "obtained") if c not in audits.columns]
    if missing:
        raise DataError(f"the audit table lacks column(s) {', '.join(missing)}")
    df = audits.copy()
    if not isinstance(df["period"].dtype, pd.CategoricalDtype):
        order = list(dict.fromkeys(df["period"].astype(str)))
        df["period"] = pd.Categorical(df["period"].astype(str), categories=order, ordered=True)
    df["possible"] = df["possible"].astype(float)
    df["obtained"] = df["obtained"].astype(float)
    return df


def audit_scores(audits: pd.DataFrame) -> pd.DataFrame:
    """One row per period x outlet x category: possible, obtained, lost, percent (the report's ``audit.csv``)."""
    df = _check(audits)
    out = _sums(df, ["period", "outlet", "category"])
    return out[SCORE_COLUMNS]


def outlet_totals(audits: pd.DataFrame) -> pd.DataFrame:
    """One row per period x outlet: possible, obtained, lost, percent, and ``rank`` within the period (1 = the
    highest percent; ties share the better rank)."""
    df = _check(audits)
    out = _sums(df, ["period", "outlet"])
    out["rank"] = out.groupby("period", observed=True)["percent"].rank(ascending=False, method="min").astype(int)
    return out[["period", "outlet", "possible", "obtained", "lost", "percent", "rank"]]


def lost_ranking(audits: pd.DataFrame, *, by_outlet: bool = False, period: str | None = None) -> pd.DataFrame:
    """Categories ranked by points lost (most first), over every outlet (``by_outlet=False``) or within each
    outlet; ``period`` restricts to one period (default: all pooled). Columns: [outlet,] category, possible,
    obtained, lost, percent, share_of_lost (of the outlet's / all points lost), rank."""
    df = _check(audits)
    if period is not None:
        df = df[df["period"].astype(str) == str(period)]
    keys = ["outlet", "category"] if by_outlet else ["category"]
    out = _sums(df, keys)
    total = out.groupby("outlet")["lost"].transform("sum") if by_outlet else pd.Series(out["lost"].sum(),
                                                                                      index=out.index)
    out["share_of_lost"] = np.where(total > 0, out["lost"] / total.where(total > 0, 1.0), 0.0)
    sort = (["outlet"] if by_outlet else []) + ["lost", "category"]
    out = out.sort_values(sort, ascending=[True] * by_outlet + [False, True]).reset_index(drop=True)
    grp = out.groupby("outlet") if by_outlet else out.groupby(np.zeros(len(out)))
    out["rank"] = grp["lost"].rank(ascending=False, method="min").astype(int)
    return out[keys + ["possible", "obtained", "lost", "percent", "share_of_lost", "rank"]]


def outlet_trend(audits: pd.DataFrame) -> pd.DataFrame:
    """Each outlet's total percent per period, periods in their order: outlet, period, percent, change (from the
    outlet's previous audited period; NaN for its first)."""
    tot = outlet_totals(audits).sort_values(["outlet", "period"])
    tot["change"] = tot.groupby("outlet")["percent"].diff()
    return tot[["outlet", "period", "percent", "change"]].reset_index(drop=True)


def match_segment(audits: pd.DataFrame, segments: Mapping[str, Sequence[str]]) -> tuple[str, str] | None:
    """Which survey segment the audit can be linked to: ``("outlet", segment)`` when outlet names are values of
    a segment, else ``("region", segment)`` when the audit's region values are; the segment whose values overlap
    most wins (ties: :data:`LINK_SEGMENTS` order, then name). None when nothing overlaps."""
    for level in ("outlet", "region"):
        if level not in audits.columns:
            continue
        names = {str(v) for v in audits[level].dropna() if str(v)}
        if not names:
            continue
        best = None
        for seg, values in segments.items():
            k = len(names & {str(v) for v in values})
            if k == 0:
                continue
            pref = LINK_SEGMENTS.index(seg) if seg in LINK_SEGMENTS else len(LINK_SEGMENTS)
            key = (-k, pref, str(seg))
            if best is None or key < best[0]:
                best = (key, str(seg))
        if best is not None:
            return level, best[1]
    return None


def segment_index(result, rows: pd.DataFrame, scales, segment: str, construct: str = "SAT",
                  weights: np.ndarray | None = None) -> pd.DataFrame:
    """The 0-100 index of ``construct`` per value of ``segment`` among ``rows`` under ONE fit (``result``: a
    PLS fit of those rows or of a superset): the (survey-weighted) mean of the respondents' construct scores
    (:func:`csi.analytics.index.construct_scores_0_100`). Columns: value, index, n (respondents with a score)."""
    from csi.analytics.index import construct_scores_0_100

    if construct not in result.spec.constructs:
        raise DataError(f"the model has no construct {construct!r}")
    if segment not in rows.columns:
        raise DataError(f"no segment column {segment!r} in the selection")
    score = construct_scores_0_100(result, rows, scales)[construct].to_numpy(float)
    w = np.ones(len(rows)) if weights is None else np.asarray(weights, float)
    ok = np.isfinite(score) & np.isfinite(w) & rows[segment].notna().to_numpy()
    df = pd.DataFrame({"value": rows[segment].astype(str).to_numpy()[ok], "s": score[ok] * w[ok], "w": w[ok]})
    g = df.groupby("value", sort=True).agg(s=("s", "sum"), w=("w", "sum"), n=("w", "size")).reset_index()
    g["index"] = g["s"] / g["w"]
    return g[["value", "index", "n"]]


def link_survey(audits: pd.DataFrame, survey: pd.DataFrame, level: str, period: str | None = None) -> pd.DataFrame:
    """Audit percent beside the survey index: one row per outlet (``level="outlet"``) or region
    (``level="region"``, the points of its outlets summed) of ``period`` (default the last). ``survey``:
    :func:`segment_index`'s table. Columns: period, outlet|region, n_outlets, possible, obtained, lost, percent,
    audit_rank, survey_index, survey_rank, n_respondents (NaN/0 where the survey has no respondents)."""
    df = _check(audits)
    periods = [p for p in df["period"].cat.categories if (df["period"] == p).any()]
    if not periods:
        raise DataError("no audits")
    period = str(period if period is not None else periods[-1])
    df = df[df["period"].astype(str) == period]
    if level not in ("outlet", "region"):
        raise DataError(f"level must be 'outlet' or 'region', got {level!r}")
    df = df[df[level].notna()]
    out = _sums(df, [level])
    out["n_outlets"] = df.groupby(level)["outlet"].nunique().reindex(out[level]).to_numpy()
    sv = survey.set_index(survey["value"].astype(str))
    out["survey_index"] = sv["index"].reindex(out[level].astype(str)).to_numpy(float)
    out["n_respondents"] = sv["n"].reindex(out[level].astype(str)).fillna(0).astype(int).to_numpy()
    out["audit_rank"] = out["percent"].rank(ascending=False, method="min").astype(int)
    out["survey_rank"] = out["survey_index"].rank(ascending=False, method="min").astype("Int64")
    out.insert(0, "period", period)
    return out[["period", level, "n_outlets", "possible", "obtained", "lost", "percent", "audit_rank",
                "survey_index", "survey_rank", "n_respondents"]].sort_values("audit_rank").reset_index(drop=True)
