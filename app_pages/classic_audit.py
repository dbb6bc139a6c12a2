"""Mystery-shopping audits on the dashboard: the Classic views tab (outlet x category percent, lost points ranked,
outlet trend, audit beside survey satisfaction) and the Data page's audit upload. Functions only (called from
app_pages/classic.py and app_pages/data.py); the numbers come from csi.analytics.audit and the report engine
(csi.report.build.audit_link_table), the import from csi.data.audit (the same functions as the CLI)."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from app import auth, charts, state
from app.i18n import TEXT, t
from app.ui import friendly_error, friendly_text, plain, problems_frame, show_table
from csi.errors import CSIError


@st.cache_data(max_entries=8, show_spinner=False)
def _audits(path: str, version: str) -> pd.DataFrame:
    from csi.data import store

    with state.reading(path, version) as con:
        return store.load_audits(con)


def category_label(category: str, L: str) -> str:
    """The demo's categories (and these common English names) in the page language; others as the file has them."""
    key = "au_cat_" + str(category).strip().lower().replace(" ", "_")
    return t(key, L) if key in TEXT else str(category)


def _labelled(df: pd.DataFrame, L: str) -> pd.DataFrame:
    return df.assign(category=[category_label(c, L) for c in df["category"]]) if "category" in df.columns else df


def audit_tab(prep, sel, wave: str, L: str) -> None:
    """The Classic views tab "Mystery shopping": one audit period at a time."""
    from csi.analytics import audit as aud

    audits = _audits(sel.path, sel.version)
    if audits.empty:
        st.info(t("au_none", L))
        return
    periods = [str(p) for p in audits["period"].cat.categories if (audits["period"] == p).any()]
    period = st.selectbox(t("au_period", L), periods, index=len(periods) - 1, key="cl_au_period")
    one = audits[audits["period"].astype(str) == period]
    totals = aud.outlet_totals(one)
    lost = aud.lost_ranking(one)
    worst = totals.sort_values(["percent", "outlet"]).iloc[0]
    top = lost.iloc[0]
    st.markdown(t("au_story", L, outlet=plain(worst["outlet"]), percent=float(worst["percent"]),
                  category=category_label(top["category"], L), share=100 * float(top["share_of_lost"])))
    st.caption(t("ex_audit", L))

    st.subheader(t("au_table", L))
    scores = aud.audit_scores(one)
    wide = scores.pivot(index="outlet", columns="category", values="percent")[list(lost["category"])]  # most lost first
    wide.columns = [category_label(c, L) for c in wide.columns]
    wide[t("au_total", L)] = totals.set_index("outlet")["percent"].reindex(wide.index)
    wide.index.name = t("col_outlet", L)
    st.dataframe(wide.style.format("{:.1f}", na_rep=""), key="cl_au_table")

    st.subheader(t("au_lost", L))
    shown = _labelled(lost, L)
    st.plotly_chart(charts.bar_chart(shown, "category", "lost", L, t("au_lost_chart", L, period=period),
                                     ytitle=t("au_axis_points", L)), key="cl_au_lost")
    show_table(shown, L, one_decimal=("possible", "obtained", "lost", "percent"))
    by_outlet = aud.lost_ranking(one, by_outlet=True)
    show_table(_labelled(by_outlet[by_outlet["rank"] == 1], L), L,
               one_decimal=("possible", "obtained", "lost", "percent"))

    st.subheader(t("au_trend", L))
    trend = aud.outlet_trend(audits)
    if len(periods) > 1:
        import plotly.graph_objects as go

        fig = go.Figure()
        for outlet, g in trend.groupby("outlet", sort=True):
            fig.add_trace(go.Scatter(x=g["period"].astype(str), y=g["percent"], mode="lines+markers", name=str(outlet)))
        fig.update_xaxes(type="category", categoryorder="array", categoryarray=periods)
        fig.update_layout(title=t("au_trend", L), yaxis_title=t("au_axis_percent", L), height=380)
        st.plotly_chart(fig, key="cl_au_trend")
    show_table(trend.assign(period=trend["period"].astype(str)), L, one_decimal=("percent", "change"))

    st.subheader(t("au_link", L))
    _link(prep, sel, wave, audits, period, L)


def _link(prep, sel, wave: str, audits: pd.DataFrame, period: str, L: str) -> None:
    from csi.report import build

    try:
        fits = state.point_fits(sel)
        fit = fits.get((wave,))
        if fit is None or not fit.ok:
            fit = build.focus_fit(prep, fits)
        link = build.audit_link_table(prep, fit, audits, period=period)
    except CSIError as e:
        friendly_error(e, L)
        return
    if link is None:
        st.info(t("au_no_link", L))
        return
    level = "region" if "region" in link.columns else "outlet"
    st.caption(t("au_link_caption", L, wave=fit.key[0], period=period))
    keep = [c for c in link.columns if c not in ("segment", "wave", "period")]
    show_table(link[keep], L, one_decimal=("possible", "obtained", "lost", "percent", "survey_index"))
    both = link.dropna(subset=["survey_index"])
    if len(both) >= 2:
        from app.ui import segment_labels_of
        from csi.model.dictionary import segment_value

        labels = segment_labels_of(sel)
        seg = str(link["segment"].iloc[0])
        name = (lambda v: plain(segment_value(seg, v, L, labels))) if level == "region" else plain
        lowest_audit = both.sort_values("percent").iloc[0][level]
        lowest_survey = both.sort_values("survey_index").iloc[0][level]
        key = "au_link_same" if lowest_audit == lowest_survey else "au_link_differ"
        st.markdown(t(key, L, audit=name(lowest_audit), survey=name(lowest_survey)))


def audit_upload(sel, L: str) -> None:
    """The Data page's audit import: file + period label -> validate (problems listed) -> commit, all or nothing,
    through csi.data.audit (the function ``python -m csi ingest-audit`` uses)."""
    from csi.data import audit as audit_io

    gen = st.session_state.get("da_au_generation", 0)
    up = st.file_uploader(t("au_upload_file", L), type=["csv", "xlsx"], key=f"da_au_file_{gen}")
    period = st.text_input(t("au_upload_period", L), key="da_au_period").strip()
    replace = st.checkbox(t("au_upload_replace", L), key="da_au_replace")
    strict = st.checkbox(t("au_upload_strict", L), key="da_au_strict")
    if "da_au_flash" in st.session_state:
        st.success(st.session_state.pop("da_au_flash"))
    if up is None:
        return
    data = up.getvalue()
    try:
        raw = audit_io.read_audit(data, up.name)
        if not period:
            st.info(t("au_upload_need_period", L))
            return
        with state.reading(sel.path) as con:
            report = audit_io.check_audit(con, raw, period, up.name, replace=replace, strict_outlets=strict)
    except CSIError as e:
        friendly_error(e, L)
        if getattr(e, "problems", None):
            st.dataframe(problems_frame(e.problems, L), hide_index=True)
        return
    if report.ok:
        f = report.frame
        st.success(t("au_upload_ok", L, rows=len(f), outlets=f["outlet"].nunique(), categories=f["category"].nunique()))
    else:
        st.error(t("au_upload_bad", L, n=len(report.errors)))
    if report.problems:
        st.dataframe(problems_frame(report.problems, L), hide_index=True)
    if st.button(t("au_upload_commit", L), type="primary", disabled=not report.ok, key="da_au_commit"):
        auth.require("data", L)  # re-check right before the write
        try:
            with state.writer(sel.path, action="ingest-audit", detail={"file": up.name, "audit_period": period,
                                                                       "replace": bool(replace)}) as con:
                done = audit_io.store_audit(con, raw, period, up.name, replace=replace, strict_outlets=strict,
                                            by=state.actor())
        except CSIError as e:
            st.error(t("au_upload_failed", L, msg=friendly_text(e, L)))
            if getattr(e, "problems", None):
                st.dataframe(problems_frame(e.problems, L), hide_index=True)
            return
        st.session_state["da_au_flash"] = t("au_upload_done", L, period=done.period, rows=done.n_rows)
        st.session_state["da_au_generation"] = gen + 1
        st.rerun()
