"""Industry: the own company against its industry, the industry's league table, industry and national indices.

For a national programme (a store with an ``industry`` segment, e.g. ``python -m csi demo --national``). The
numbers are the report engine's (csi.report.build.industry_fits / industry_tables: one model per company in
the latest selected wave, bootstrap intervals combined across companies). A brand-scoped user (hosting) sees
their own company and aggregates only: industry and national indices of industries with at least
``state.INDUSTRY_MIN_BRANDS`` companies, never another company's figures; the league table is shown to
unscoped users only.
"""
from __future__ import annotations

import pandas as pd
import streamlit as st

from app import auth, state
from app.i18n import construct_label, t
from app.ui import friendly_error, lang, plain, selection, show_table, split_scope
from csi.errors import CSIError

L = lang()
auth.require("compare", L)
sel = selection()
st.title(t("ind_title", L))
if not sel.waves:
    st.info(t("no_data", L))
    st.stop()


@st.cache_data(show_spinner=False, max_entries=16)
def _tables(path: str, version: str, wave: str, filters, model: str, syntax: str, weighted: bool, n_boot: int):
    """Industry and league tables of ``wave`` over every company (scope lifted here, on the server; the page
    decides what a scoped user may see)."""
    from csi.report import build

    real, _ = split_scope(filters)
    others = tuple((c, v) for c, v in real if c not in ("brand", build.INDUSTRY_COLUMN))
    settings = build.Settings(model=syntax if model == "custom" else model, weights=bool(weighted),
                              bootstrap=int(n_boot), min_n=state.MIN_RESPONDENTS)
    prep = build.prepare(state._snapshot(path, version, (wave,)),  # noqa: SLF001 - the app's cached reads
                         build.Selection(waves=(wave,), filters=others, own_brand_by_default=False), settings)
    members = build.industry_members(prep)
    if members is None:
        return None
    fits = build.industry_fits(prep, cache=state.fit_cache(path))
    industry, league = build.industry_tables(prep, fits)
    return industry, league, members[0]


try:
    res = _tables(sel.path, sel.version, sel.latest, sel.filters, sel.model, sel.syntax, bool(sel.weighted),
                  state.overview_bootstrap())
except CSIError as e:
    friendly_error(e, L)
    st.stop()
if res is None:
    st.info(t("ind_none", L))
    st.stop()
industry, league, industry_of = res
scope = sel.allowed_brands
own = (scope[0] if scope and len(scope) == 1 else None) or sel.own_brand
if own not in industry_of:
    own = None
n_by_industry = pd.Series(industry_of).value_counts()
shown = set(n_by_industry[n_by_industry >= state.INDUSTRY_MIN_BRANDS].index) if scope is not None \
    else set(n_by_industry.index)

st.caption(t("ind_caption", L, wave=plain(sel.latest), n=len(industry_of), k=len(n_by_industry)))

if own is not None and industry_of[own] in shown:
    ind = industry_of[own]
    st.subheader(t("ind_own_title", L, company=plain(own), industry=plain(ind)))
    mine = league[league["company"] == own]
    view = pd.DataFrame({
        t("ind_col_construct", L): [construct_label(c, L) for c in mine["construct"]],
        t("ind_col_own", L): [f"{r.index:.1f} [{r.ci_low:.1f}, {r.ci_high:.1f}]" for r in mine.itertuples()],
        t("ind_col_industry", L): [f"{r.industry_index:.1f}" for r in mine.itertuples()],
        t("ind_col_gap", L): [f"{r.gap_to_industry:+.1f} [{r.gap_ci_low:+.1f}, {r.gap_ci_high:+.1f}]"
                              for r in mine.itertuples()],
        t("ind_col_verdict", L): [t("ind_sig" if bool(s) else "ind_not_sig", L) if s is not pd.NA else ""
                                  for s in mine["gap_significant"]],
    })
    show_table(view, L)
    if scope is None:
        st.subheader(t("ind_league_title", L, industry=plain(ind)))
        con = st.selectbox(t("ind_construct", L), sorted(league["construct"].unique()),
                           index=sorted(league["construct"].unique()).index("SAT")
                           if "SAT" in set(league["construct"]) else 0,
                           format_func=lambda c: construct_label(c, L))
        lg = league[(league["industry"] == ind) & (league["construct"] == con)]
        show_table(pd.DataFrame({
            t("ind_col_rank", L): [f"{int(r.rank)} ({r.rank_ci_low:.0f}–{r.rank_ci_high:.0f})" for r in lg.itertuples()],
            t("ind_col_company", L): list(lg["company"]),
            t("ind_col_index", L): [f"{r.index:.1f} [{r.ci_low:.1f}, {r.ci_high:.1f}]" for r in lg.itertuples()],
            t("ind_col_next", L): ["" if pd.isna(r.diff_to_next) else
                                   f"{r.diff_to_next:+.1f} ({t('ind_sig' if bool(r.significant_vs_next) else 'ind_not_sig', L)})"
                                   for r in lg.itertuples()],
        }), L)
        st.caption(t("ind_league_caption", L))
    else:
        st.caption(t("ind_scoped", L))
elif own is not None:
    st.info(t("industry_too_few", L, min=state.INDUSTRY_MIN_BRANDS))

st.subheader(t("ind_all_title", L))
agg = industry[(industry["construct"] == "SAT") & (industry["industry"].isin(shown) | (industry["level"] == "national"))]
agg = agg.sort_values("index", ascending=False)
show_table(pd.DataFrame({
    t("ind_col_industry", L): [t("ind_national", L) if r.level == "national" else r.industry for r in agg.itertuples()],
    t("ind_col_index", L): [f"{r.index:.1f} [{r.ci_low:.1f}, {r.ci_high:.1f}]" for r in agg.itertuples()],
    t("ind_col_companies", L): list(agg["n_companies"]),
    t("ind_col_n", L): list(agg["n"]),
}), L)
st.caption(t("ind_weighting", L))
