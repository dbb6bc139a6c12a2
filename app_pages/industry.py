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

from app import auth, industry_panel, state
from app.i18n import construct_label, t
from app.ui import friendly_error, lang, plain, selection, show_table
from csi.errors import CSIError

L = lang()
auth.require("compare", L)
sel = selection()
st.title(t("ind_title", L))
if not sel.waves:
    st.info(t("no_data", L))
    st.stop()


try:  # one cached engine call shared with the Overview's and Compare's panels (app/industry_panel.py)
    res = industry_panel.tables_for(sel)
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
    view = industry_panel.panel_rows(industry, league, own, list(dict.fromkeys(mine["construct"])), L)
    show_table(view, L)
    if scope is None:
        st.subheader(t("ind_league_title", L, industry=plain(ind)))
        con = st.selectbox(t("ind_construct", L), sorted(league["construct"].unique()),
                           index=sorted(league["construct"].unique()).index("SAT")
                           if "SAT" in set(league["construct"]) else 0,
                           format_func=lambda c: construct_label(c, L))
        show_table(industry_panel.league_view(league, ind, con, own, L), L)
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
