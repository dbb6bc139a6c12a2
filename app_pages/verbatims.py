"""Verbatims / 客户原话: the selection's open-text answers in their own language next to each respondent's
satisfaction, theme counts per driver, search, filters, pages of 50 and a CSV download.

Every number comes from the report engine (csi.report.build.verbatims_joined: the sidebar's prepared selection,
brand scope included, and the 0-100 scores of the waves' point fits) and csi.analytics.verbatims; the page
only renders. The comments are never translated.
"""
from __future__ import annotations

import math

import pandas as pd
import streamlit as st

from app import auth, state
from app.i18n import t
from app.ui import friendly_error, lang, seg_name, seg_value, segment_labels_of, selection, show_table
from csi.errors import CSIError

PER_PAGE = 50

L = lang()
auth.require("verbatims", L)
sel = selection()
st.title(t("vb_title", L))
st.caption(t("vb_caption", L))
if not sel.waves:
    st.info(t("no_data", L))
    st.stop()


@st.cache_resource(max_entries=8, show_spinner=False)
def _texts(path: str, version: str, waves: tuple[str, ...]) -> pd.DataFrame:
    """The stored verbatims of the waves (one object per data version, so the engine memo can key on it)."""
    from csi.data import store

    with state.reading(path, version) as con:
        return store.load_texts(con, waves=list(waves))


try:
    texts = _texts(sel.path, sel.version, tuple(sel.waves))
    if texts.empty:
        st.info(t("vb_none", L))
        st.stop()
    from csi.report import build

    prep = state.prepared(sel)
    fits = state.point_fits(sel, ("waves",))
    joined = state.engine_table(build.verbatims_joined, prep, fits, texts)
except CSIError as e:
    friendly_error(e, L)
    st.stop()
if joined.empty:
    st.info(t("vb_none", L))
    st.stop()

from csi.analytics.verbatims import BANDS3, filter_verbatims, match_themes, theme_counts

# ---------------------------------------------------------------- filters (the sidebar's selection applies)
search = st.text_input(t("vb_search", L), key="vb_search", help=t("vb_search_help", L))
c1, c2, c3 = st.columns(3)
waves_present = [w for w in sel.waves if w in set(joined["wave"])]
waves = c1.multiselect(t("vb_waves", L), waves_present, key="vb_waves", placeholder=t("all", L))
bands = c2.multiselect(t("vb_band", L), list(BANDS3), key="vb_bands", placeholder=t("all", L),
                       format_func=lambda b: t(f"vb_band_{b}", L))
names = sorted(set(joined["name"]))
chosen = c3.multiselect(t("vb_question", L), names, key="vb_names", placeholder=t("all", L)) if len(names) > 1 else []
view = filter_verbatims(joined, waves=waves or None, bands=bands or None, search=search or None, names=chosen or None)

# ---------------------------------------------------------------- themes per driver
st.subheader(t("vb_themes", L))
zh = L == "zh"
hits = match_themes(view["value"])  # once for both tables
drivers = theme_counts(view, by="driver", hits=hits)
themes = theme_counts(view, by="theme", hits=hits)
if len(view):
    import plotly.graph_objects as go

    d = drivers.sort_values("share")
    fig = go.Figure(go.Bar(x=100 * d["share"], y=d["driver_zh" if zh else "driver_en"], orientation="h",
                           text=[f"{v:.0f}%" for v in 100 * d["share"]], textposition="outside",
                           hovertemplate="%{y}: %{x:.1f}%<extra></extra>"))
    fig.update_layout(title=t("vb_chart_title", L, n=len(view)), xaxis_title=t("vb_share", L), height=380,
                      margin={"l": 10, "r": 10, "t": 50, "b": 40})
    st.plotly_chart(fig, key="vb_chart")
    tab = pd.DataFrame({
        t("vb_col_driver", L): themes["driver_zh" if zh else "driver_en"],
        t("vb_col_theme", L): themes["label_zh" if zh else "label_en"],
        t("vb_col_mentions", L): themes["mentions"],
        t("vb_col_share", L): (100 * pd.to_numeric(themes["share"], errors="coerce")).round(1),
        t("vb_col_sat_yes", L): pd.to_numeric(themes["mean_sat_mentioning"], errors="coerce").round(1),
        t("vb_col_sat_no", L): pd.to_numeric(themes["mean_sat_not"], errors="coerce").round(1),
        t("vb_col_diff", L): pd.to_numeric(themes["difference"], errors="coerce").round(1),
    })
    show_table(tab, L, one_decimal=True)

# ---------------------------------------------------------------- the comments, 50 per page
st.subheader(t("vb_matches", L, n=f"{len(view):,}"))
if view.empty:
    st.info(t("vb_no_match", L))
    st.stop()
pages = max(1, math.ceil(len(view) / PER_PAGE))
page = int(st.number_input(t("vb_page", L), min_value=1, max_value=pages, value=1, step=1, key="vb_page")) \
    if pages > 1 else 1
st.caption(t("vb_page_of", L, page=page, pages=pages, per=PER_PAGE))
part = view.iloc[(page - 1) * PER_PAGE: page * PER_PAGE]
labels = segment_labels_of(sel)
segs = [c for c in view.columns if c not in ("wave", "respondent_id", "name", "value", "satisfaction", "band")]
shown = {t("vb_col_wave", L): part["wave"].astype(str), t("vb_col_respondent", L): part["respondent_id"]}
for s in segs:
    shown[seg_name(s, L, labels)] = [seg_value(s, v, L, labels) if isinstance(v, str) else "" for v in part[s]]
if len(names) > 1:
    shown[t("vb_question", L)] = part["name"]
shown[t("vb_col_text", L)] = part["value"]  # as written: never translated
shown[t("vb_col_sat", L)] = part["satisfaction"].round(1)
shown[t("vb_col_band", L)] = [t(f"vb_band_{b}", L) if isinstance(b, str) else "" for b in part["band"]]
st.dataframe(pd.DataFrame(shown), hide_index=True, column_config={
    t("vb_col_text", L): st.column_config.TextColumn(width="large")})

from csi.report.export import csv_bytes

st.download_button(t("vb_download", L, n=f"{len(view):,}"), b"\xef\xbb\xbf" + csv_bytes(view),
                   file_name="verbatims.csv", mime="text/csv", key="vb_download")
