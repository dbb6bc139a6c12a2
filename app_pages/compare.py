"""Compare: waves and segments side by side, competitor gap, multi-group test of paths, before/after.

Bootstrapped and all-segment runs go to the background job queue (app/jobs.py) with a progress
bar, so the other pages stay usable while they run.
"""
from __future__ import annotations

import pandas as pd
import streamlit as st

from app import auth, charts, state
from app.downloads import download_buttons
from app.i18n import construct_label, t
from app.ui import (friendly_error, lang, plain, seg_name, seg_value, segment_labels_of, selection, show_table,
                    sticky, tp, wait_for)
from csi.errors import CSIError, DataError, public_message

L = lang()
auth.require("compare", L)
sel = selection()
st.title(t("cp_title", L))
if not sel.waves:
    st.info(t("no_data", L))
    st.stop()

from csi.compare import groups as compare
from csi.report import build

B = state.overview_bootstrap()
try:  # the engine's selection: every group below is fitted with its binding, weights and seeds
    prep = state.prepared(sel)
except CSIError as e:
    friendly_error(e, L)
    st.stop()
SEGMENT_COLS = ("brand", "region", "channel", "gender", "age_group")


def _group_test_view(res: dict, a: str, b: str):
    """The group test (csi.report.build.group_test): each group's n, MICOM first, then the MGA's title; returns
    the MGA table for the caller to show."""
    n = res["n"]
    st.caption(tp("cp_group_n", L, a=a, na=n.get(str(a), 0), b=b, nb=n.get(str(b), 0)))
    m = res["micom"]
    if len(m):
        st.markdown(f"**{t('cp_micom_title', L)}**")
        view = m.assign(invariance=m["invariance"].map(lambda v: t(f"invariance_{v}", L)),
                        construct=m["construct"].map(lambda c: construct_label(c, L)))
        show_table(view, L)
        st.caption(t("cp_micom_caption", L))
        bad = [construct_label(c, L) for c in m.loc[m["invariance"] == "none", "construct"]]
        if bad:
            st.warning(tp("cp_micom_none", L, constructs=("、" if L == "zh" else ", ").join(bad)))
    st.markdown(f"**{t('cp_mga_title', L)}**")
    download_buttons(m, "micom", L, prep=prep)
    download_buttons(res["mga"], "groups", L, prep=prep)
    return res["mga"]

SEG_LABELS = segment_labels_of(sel)  # names and values as the dictionary labels them (Data page)
NEED = prep.settings.min_n_verdict


def _group_name(key) -> str:
    """A group key such as ('2025Q4', '60+') in words (segment values by their labels)."""
    return ", ".join(str(k) for k in key)


class _NoGroups(Exception):
    """No group of the chosen segment could be fitted (the notice is shown)."""


def _failed_caption(key, err) -> str:
    """Why a group has no model, in the page language (the engine's 'only n respondents' in words)."""
    import re

    m = re.search(r"only (\d+) respondents \(at least (\d+) needed\)", str(err))
    if m:
        return tp("ss_group_small", L, group=_group_name(key), n=int(m.group(1)), need=int(m.group(2)))
    return plain(f"{_group_name(key)}: {public_message(err)}")
with_ci = st.toggle(t("cp_with_ci", L, B=B), key="cp_ci")
if with_ci:  # what the "significant" verdicts of the wave, segment and brand tabs mean (the one legend helper)
    from csi.report.present import significance_legend

    st.caption(plain(significance_legend(L, B, marks=("interval",))))

tab_w, tab_s, tab_g, tab_m = st.tabs([t("cp_waves", L), t("cp_segments", L), t("cp_gap", L), t("cp_mga", L)])


def _fits(scope):
    """Point fits of an engine scope, or the bootstrapped ones when intervals were asked for (background job)."""
    fits = state.point_fits(sel, scope)
    if with_ci and B >= 2:
        job = state.boot_job(sel, scope, B)
        if wait_for(job, L):
            return job.result, True
    return fits, False


def _trend(fits):
    """compare.trend, or a DataError naming why no group could be fitted (shown as a message)."""
    tr = build.trends_table(fits)
    if tr.empty:
        raise DataError(t("no_data", L) + " " + "; ".join(f"{', '.join(k)}: {f.error}" for k, f in fits.items()))
    return tr


# -------------------------------------------------------------- waves + before/after
with tab_w:
    try:
        fits, booted = _fits(("waves",))
        tr = _trend(fits)
        cons = tuple(dict.fromkeys(tr["construct"]))
        st.plotly_chart(charts.trend_chart(tr, L, constructs=cons, title=t("cp_waves", L)), key="cp_trend")
        wide = tr.pivot(index="construct", columns="wave", values="index").reindex(list(cons))
        show_table(wide.rename_axis(columns=None).rename_axis("construct").reset_index(), L, one_decimal=True)
        download_buttons(tr, "trends", L, prep=prep)
        ok = [k[0] for k, f in fits.items() if f.ok]
        if len(ok) >= 2:
            st.subheader(t("cp_before_after", L))
            c1, c2 = st.columns(2)
            before = c1.selectbox(t("cp_before", L), ok, index=max(0, len(ok) - 2), key="cp_before")
            after = c2.selectbox(t("cp_after", L), ok, index=len(ok) - 1, key="cp_after")
            if before != after:
                ch = compare.wave_change(fits[(before,)], fits[(after,)])
                ch = ch.drop(columns=["verdict_zh" if L == "en" else "verdict_en"])
                small = build.too_small(prep, fits[(before,)], fits[(after,)])
                if small is not None:  # no verdict on too few respondents: the notice says why
                    ch = ch.drop(columns=[c for c in ch.columns if c.startswith("verdict") or c == "significant"])
                    st.info(t("ss_no_verdicts", L, n=small, need=NEED), icon=":material/groups:")
                st.plotly_chart(charts.bar_chart(ch, "construct", "change", L, t("cp_change_title", L, a=before, b=after),
                                                 color_by="construct", ytitle=t("axis_gap", L), constructs=cons)
                                .update_traces(x=[construct_label(c, L) for c in ch["construct"]]), key="cp_change")
                show_table(ch, L, one_decimal=("ci_low", "ci_high"))
                download_buttons(ch, "changes", L, prep=prep)
        else:
            st.info(t("cp_need_two", L))
    except CSIError as e:
        friendly_error(e, L)

# --------------------------------------------------------------------- segments
with tab_s:
    frame = prep.rows_of(prep.focus_wave)
    seg_cols = [c for c in frame.columns if c in SEGMENT_COLS and frame[c].notna().any()]
    if not seg_cols:
        st.info(t("no_data", L))
    else:
        if st.session_state.get("cp_seg") not in seg_cols:
            st.session_state.pop("cp_seg", None)
        sticky("cp_seg", seg_cols[0])
        seg = st.selectbox(t("cp_segment", L), seg_cols, key="cp_seg",
                           format_func=lambda c: seg_name(c, L, SEG_LABELS))
        latest = prep.focus_wave
        try:
            fits, booted = _fits(("segment", seg))
            if not any(f.ok for f in fits.values()):  # every group too small: a notice, not an error
                st.info(t("ss_no_group_fitted", L, need=prep.settings.min_n), icon=":material/groups:")
                for k, f in fits.items():
                    st.caption(_failed_caption((k[0], seg_value(seg, k[-1], L, SEG_LABELS)), f.error))
                raise _NoGroups
            tr = _trend(fits)
            cons = tuple(dict.fromkeys(tr["construct"]))
            shown = tr.assign(**{seg: tr[seg].map(lambda v: seg_value(seg, v, L, SEG_LABELS))})
            st.plotly_chart(charts.grouped_index_chart(shown, seg, L, t("cp_seg_title", L, seg=seg_name(seg, L, SEG_LABELS),
                                                                        wave=latest), constructs=cons),
                            key="cp_seg_chart")
            show_table(tr, L, one_decimal=("ci_low", "ci_high"))
            download_buttons(tr, f"segments_{seg}", L, prep=prep)
            st.caption(t("ex_segments", L))
            few = sorted({seg_value(seg, k[-1], L, SEG_LABELS) + f" (n = {build.n_used(f)})"
                          for k, f in fits.items() if f.ok and build.n_used(f) < NEED})
            if few:  # indices are shown, but no group comparison should be read as a verdict
                st.info(tp("ss_groups_small_verdict", L, need=NEED, groups="、".join(few) if L == "zh" else
                           ", ".join(few)), icon=":material/groups:")
            failed = {k: f.error for k, f in fits.items() if not f.ok}
            for k, err in failed.items():
                st.caption(_failed_caption((k[0], seg_value(seg, k[-1], L, SEG_LABELS)), err))
        except _NoGroups:
            pass
        except CSIError as e:
            friendly_error(e, L)

# ---------------------------------------------------------------- competitor gap
with tab_g:
    if not (prep.focus_brand and prep.competitor):
        st.info(t("cp_no_brands", L))
    else:
        try:
            fits, booted = _fits(("brands_all",))
            gap = build.gap_table(prep, fits, waves=prep.waves)
            if len(gap):
                st.caption(tp("cp_gap_caption", L, own=prep.focus_brand, competitor=prep.competitor))
                last = gap[gap["wave"] == gap["wave"].iloc[-1]]
                st.plotly_chart(charts.bar_chart(last, "construct", "gap", L,
                                                 t("cp_gap_title", L, wave=last["wave"].iloc[0]),
                                                 color_by="construct", ytitle=t("axis_gap", L))
                                .update_traces(x=[construct_label(c, L) for c in last["construct"]]), key="cp_gap")
                show_table(gap.drop(columns=["own_brand", "competitor_brand"]), L, one_decimal=("ci_low", "ci_high"))
                download_buttons(gap, "competitor_gap", L, prep=prep)
        except CSIError as e:
            friendly_error(e, L)

# ------------------------------------------------------------------------ MGA
with tab_m:
    frame = build.brand_rows(prep) if prep.brand_column else prep.rows_of(prep.focus_wave)
    seg_cols = [c for c in frame.columns if c in SEGMENT_COLS and frame[c].notna().any()]
    if not seg_cols:
        st.info(t("no_data", L))
    else:
        c1, c2, c3 = st.columns(3)
        seg = c1.selectbox(t("cp_segment", L), seg_cols, key="cp_mga_seg",
                           format_func=lambda c: seg_name(c, L, SEG_LABELS))
        frame = build.group_rows(prep, seg)  # the sidebar selection; brands: only the brand filter lifted
        values = sorted(frame[seg].dropna().astype(str).unique())
        if len(values) < 2:
            st.info(t("cp_need_two", L))
        else:
            a = c2.selectbox(t("cp_group_a", L), values, index=0, key="cp_mga_a",
                             format_func=lambda v: seg_value(seg, v, L, SEG_LABELS))
            b = c3.selectbox(t("cp_group_b", L), values, index=1, key="cp_mga_b",
                             format_func=lambda v: seg_value(seg, v, L, SEG_LABELS))
            n_small = min(int((frame[seg].astype(str) == a).sum()), int((frame[seg].astype(str) == b).sum()))
            if n_small < NEED:  # a test of paths is a verdict: not on a handful of respondents
                st.info(t("ss_no_verdicts", L, n=n_small, need=NEED), icon=":material/groups:")
            n_perm = max(20, min(1000, state.bootstrap_default()))
            key = ("mga+micom", sel.path, sel.version, sel.waves, sel.filters, sel.model, sel.syntax, seg, a, b, n_perm,
                   bool(sel.weighted))
            job = state.jobs().get(key)
            if st.button(t("cp_run_mga", L), key="cp_mga_run", disabled=(a == b) or n_small < NEED or (
                    job is not None and job.state != "failed")):
                spec = prep.spec
                da, db = frame[frame[seg].astype(str) == a], frame[frame[seg].astype(str) == b]
                settings = prep.estimator_settings
                job = state.jobs().submit(key, lambda progress, p=prep, g=seg, x=a, y=b: build.group_test(
                                              p, g, x, y, n_perm=n_perm, seed=1),
                                          lane="long", owner=state.job_owner("mga"))
            if job is not None and wait_for(job, L, what="cp_mga_running"):
                res = _group_test_view(job.result, a, b)
                st.caption(tp("cp_mga_caption", L, a=seg_value(seg, a, L, SEG_LABELS), b=seg_value(seg, b, L, SEG_LABELS),
                              n=n_perm))
                show_table(res, L)
                from csi.report.present import significance_legend  # the one legend of significance marks

                st.caption(plain(significance_legend(L, n_perm, marks=("column",), test="permutation")))

# ------------------------- national programmes: the company's industry league table (issue 10; app/industry_panel.py)
with tab_g:
    try:  # draws nothing without an industry segment; a brand-scoped user sees aggregates only
        from app import industry_panel

        industry_panel.render_league(sel, L, prep.focus_brand, construct="SAT", prep=prep)
    except CSIError as e:
        friendly_error(e, L)
