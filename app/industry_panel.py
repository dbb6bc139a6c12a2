"""The own company against its industry (issue 10): one cached engine call for the Industry, Overview and
Compare pages, the Overview's compact panel and the Compare page's league table.

Numbers are the report engine's (csi.report.build.industry_fits / industry_tables, the same as the report's
``industry.csv`` / ``league.csv``), computed on the server over every company with the user's brand scope
lifted; what a user sees is decided here: a brand-scoped user gets their own company and aggregates only
(the industry index when the industry has at least ``state.INDUSTRY_MIN_BRANDS`` companies, their own rank),
never another company's figures, so the league table is shown to unscoped users only (as app_pages/industry.py).
"""
from __future__ import annotations

import pandas as pd
import streamlit as st

from app import state
from app.i18n import construct_label, t
from app.ui import plain, show_table, split_scope


@st.cache_data(show_spinner=False, max_entries=32)
def industry_tables(path: str, version: str, wave: str, filters, model: str, syntax: str, weighted: bool,
                    n_boot: int, company: str | None = None):
    """``(industry, league, {company: industry})`` of ``wave`` over every company (scope lifted here, on the
    server; the caller decides what a scoped user may see); None without an industry segment. ``company``:
    only the companies of that company's industry are fitted (the Overview's and Compare's panel; the fits are
    the fit cache's, shared with the Industry page's full call). None also when ``company`` has no industry."""
    from csi.report import build

    real, _ = split_scope(filters)
    others = tuple((c, v) for c, v in real if c not in ("brand", build.INDUSTRY_COLUMN))
    settings = build.Settings(model=syntax if model == "custom" else model, weights=bool(weighted),
                              bootstrap=int(n_boot), min_n=state.MIN_RESPONDENTS)
    snap = state._snapshot(path, version, (wave,))  # noqa: SLF001 - the app's cached reads
    prep = build.prepare(snap, build.Selection(waves=(wave,), filters=others, own_brand_by_default=False), settings)
    members = build.industry_members(prep)
    if members is None:
        return None
    industry_of = members[0]
    if company is not None:
        if company not in industry_of:
            return None
        mine = industry_of[company]
        prep = build.prepare(snap, build.Selection(waves=(wave,), filters=(*others, (build.INDUSTRY_COLUMN, (mine,))),
                                                   own_brand_by_default=False), settings)
    fits = build.industry_fits(prep, cache=state.fit_cache(path))
    industry, league = build.industry_tables(prep, fits)
    return industry, league, industry_of


def tables_for(sel, company: str | None = None):
    """:func:`industry_tables` of the sidebar's selection (latest wave, the Overview's resamples)."""
    return industry_tables(sel.path, sel.version, sel.latest, sel.filters, sel.model, sel.syntax, bool(sel.weighted),
                           state.overview_bootstrap(), company)


def own_company(sel, focus: str | None = None) -> str | None:
    """The company the panels are about: a one-brand scope, else the selected (focus) brand, else the own."""
    scope = sel.allowed_brands
    if scope and len(scope) == 1:
        return scope[0]
    return focus or sel.own_brand


def _fmt_ci(v, lo, hi, sign: str = "") -> str:
    if pd.isna(lo) or pd.isna(hi):
        return f"{v:{sign}.1f}"
    return f"{v:{sign}.1f} [{lo:{sign}.1f}, {hi:{sign}.1f}]"


def panel_rows(industry: pd.DataFrame, league: pd.DataFrame, company: str, constructs, lang: str) -> pd.DataFrame:
    """The panel's table: per construct the company's index, the industry's index with interval, the gap with
    interval and verdict, the company's rank of n with its 95% range."""
    me = league[league["company"] == company]
    rows = []
    for con in constructs:
        r = me[me["construct"] == con]
        if not len(r):
            continue
        r = r.iloc[0]
        ind = industry[(industry["level"] == "industry") & (industry["industry"] == r["industry"])
                       & (industry["construct"] == con)]
        n_comp = int((league["industry"] == r["industry"]).groupby(league["construct"]).sum().get(con, 0))
        sig = r["gap_significant"]
        rows.append({
            t("ind_col_construct", lang): construct_label(con, lang),
            t("ind_col_own", lang): _fmt_ci(r["index"], r["ci_low"], r["ci_high"]),
            t("ip_col_industry", lang): (_fmt_ci(ind.iloc[0]["index"], ind.iloc[0]["ci_low"], ind.iloc[0]["ci_high"])
                                         if len(ind) else f"{r['industry_index']:.1f}"),
            t("ind_col_gap", lang): _fmt_ci(r["gap_to_industry"], r["gap_ci_low"], r["gap_ci_high"], "+"),
            t("ind_col_verdict", lang): ("" if pd.isna(sig) else t("ind_sig" if bool(sig) else "ind_not_sig", lang)),
            t("ip_col_rank", lang): (t("ip_rank", lang, rank=int(r["rank"]), n=n_comp) if pd.isna(r["rank_ci_low"])
                                     else t("ip_rank_range", lang, rank=int(r["rank"]), n=n_comp,
                                            lo=int(r["rank_ci_low"]), hi=int(r["rank_ci_high"]))),
        })
    return pd.DataFrame(rows)


def _visible(industry_of: dict, company: str, scoped: bool) -> bool:
    """Whether the company's industry may be shown: always unscoped; scoped with enough companies."""
    n = sum(1 for v in industry_of.values() if v == industry_of[company])
    return not scoped or n >= state.INDUSTRY_MIN_BRANDS


def is_national(prep) -> bool:
    """Whether a prepared selection has an industry segment (a national programme): the panels' quick exit."""
    from csi.report.build import INDUSTRY_COLUMN

    bf = getattr(prep, "brand_frame", None)
    return bf is not None and INDUSTRY_COLUMN in bf.columns and bool(bf[INDUSTRY_COLUMN].notna().any())


def _company_tables(sel, focus, prep=None):
    """(company, :func:`tables_for` of its industry or None); ``prep``: the page's prepared selection, for a
    quick exit outside a national programme."""
    company = own_company(sel, focus)
    if company is None or not sel.waves or (prep is not None and not is_national(prep)):
        return company, None
    return company, tables_for(sel, company)


def render_overview_panel(sel, lang: str, focus: str | None = None, constructs=("SAT", "LOY"), prep=None) -> None:
    """The Overview's "Against your industry" panel; draws nothing outside a national programme."""
    company, res = _company_tables(sel, focus, prep)
    if res is None:
        return
    industry, league, industry_of = res
    st.subheader(t("ip_title", lang))
    if not _visible(industry_of, company, sel.allowed_brands is not None):
        st.info(t("industry_too_few", lang, min=state.INDUSTRY_MIN_BRANDS))
        return
    view = panel_rows(industry, league, company, constructs, lang)
    if not len(view):
        st.caption(t("ip_not_fitted", lang, company=plain(company)))
        return
    st.caption(t("ip_caption", lang, company=plain(company), industry=plain(industry_of[company]),
                 wave=plain(sel.latest)))
    show_table(view, lang)


def league_view(league: pd.DataFrame, industry: str, construct: str, company: str | None, lang: str) -> pd.DataFrame:
    """The league table of ``industry`` for ``construct`` with ``company`` marked."""
    lg = league[(league["industry"] == industry) & (league["construct"] == construct)].sort_values("rank")
    return pd.DataFrame({
        t("ind_col_rank", lang): [f"{int(r.rank)} ({r.rank_ci_low:.0f}–{r.rank_ci_high:.0f})"
                                  if pd.notna(r.rank_ci_low) else f"{int(r.rank)}" for r in lg.itertuples()],
        t("ind_col_company", lang): [f"▶ {r.company}" if r.company == company else r.company
                                     for r in lg.itertuples()],
        t("ind_col_index", lang): [_fmt_ci(r.index, r.ci_low, r.ci_high) for r in lg.itertuples()],
        t("ind_col_next", lang): ["" if pd.isna(r.diff_to_next) else f"{r.diff_to_next:+.1f} ("
                                  + t("ind_sig" if bool(r.significant_vs_next) else "ind_not_sig", lang) + ")"
                                  for r in lg.itertuples()],
    })


def render_league(sel, lang: str, focus: str | None = None, construct: str = "SAT", prep=None) -> None:
    """The Compare page's league table of the selected company's industry, the company marked (▶); a
    brand-scoped user sees the industry index only, never the other companies."""
    company, res = _company_tables(sel, focus, prep)
    if res is None:
        return
    industry, league, industry_of = res
    ind = industry_of[company]
    st.subheader(t("ip_league_title", lang, industry=plain(ind), construct=construct_label(construct, lang),
                   wave=plain(sel.latest)))
    scoped = sel.allowed_brands is not None
    if not _visible(industry_of, company, scoped):
        st.info(t("industry_too_few", lang, min=state.INDUSTRY_MIN_BRANDS))
        return
    if scoped:
        show_table(panel_rows(industry, league, company, (construct,), lang), lang)
        st.caption(t("ind_scoped", lang))
        return
    show_table(league_view(league, ind, construct, company, lang), lang)
    st.caption(t("ip_league_caption", lang, company=plain(company)) + " " + t("ind_league_caption", lang))
    from app.downloads import download_buttons  # the engine's rows of this industry (league.csv's columns)

    download_buttons(league[league["industry"] == ind].reset_index(drop=True), "league", lang, prep=prep,
                     key="dlb_league_compare")
