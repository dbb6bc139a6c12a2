"""Compare: waves and segments side by side, competitor gap, multi-group test of paths, before/after.

Bootstrapped and all-segment runs go to the background job queue (app/jobs.py) with a progress
bar, so the other pages stay usable while they run.
"""
from __future__ import annotations

import pandas as pd
import streamlit as st

from app import auth, charts, state
from app.i18n import construct_label, t
from app.ui import friendly_error, lang, selection, show_table, sticky, wait_for
from csi.errors import CSIError, DataError

L = lang()
auth.require("compare", L)
sel = selection()
st.title(t("cp_title", L))
if not sel.waves:
    st.info(t("no_data", L))
    st.stop()

from csi.compare import groups as compare

B = state.overview_bootstrap()
SEGMENT_COLS = ("brand", "region", "channel", "gender", "age_group")
with_ci = st.toggle(t("cp_with_ci", L, B=B), key="cp_ci")

tab_w, tab_s, tab_g, tab_m = st.tabs([t("cp_waves", L), t("cp_segments", L), t("cp_gap", L), t("cp_mga", L)])


def _fits(by, waves=None, ignore=()):
    """Point fits, or the bootstrapped ones when intervals were asked for (background job)."""
    fits = state.fits_by(sel, by, waves=waves, ignore=ignore)
    if with_ci and B >= 2:
        job = state.boot_job(sel, by, B, waves=waves, ignore=ignore)
        if wait_for(job, L):
            return job.result, True
    return fits, False


def _trend(fits):
    """compare.trend, or a DataError naming why no group could be fitted (shown as a message)."""
    tr = compare.trend(fits)
    if tr.empty:
        raise DataError(t("no_data", L) + " " + "; ".join(f"{', '.join(k)}: {f.error}" for k, f in fits.items()))
    return tr


# -------------------------------------------------------------- waves + before/after
with tab_w:
    try:
        fits, booted = _fits(("wave",))
        tr = _trend(fits)
        cons = tuple(dict.fromkeys(tr["construct"]))
        st.plotly_chart(charts.trend_chart(tr, L, constructs=cons, title=t("cp_waves", L)), key="cp_trend")
        wide = tr.pivot(index="construct", columns="wave", values="index").reindex(list(cons))
        show_table(wide.rename_axis(columns=None).rename_axis("construct").reset_index(), L, one_decimal=True)
        ok = [k[0] for k, f in fits.items() if f.ok]
        if len(ok) >= 2:
            st.subheader(t("cp_before_after", L))
            c1, c2 = st.columns(2)
            before = c1.selectbox(t("cp_before", L), ok, index=max(0, len(ok) - 2), key="cp_before")
            after = c2.selectbox(t("cp_after", L), ok, index=len(ok) - 1, key="cp_after")
            if before != after:
                ch = compare.wave_change(fits[(before,)], fits[(after,)])
                ch = ch.drop(columns=["verdict_zh" if L == "en" else "verdict_en"])
                st.plotly_chart(charts.bar_chart(ch, "construct", "change", L, t("cp_change_title", L, a=before, b=after),
                                                 color_by="construct", ytitle=t("axis_gap", L), constructs=cons)
                                .update_traces(x=[construct_label(c, L) for c in ch["construct"]]), key="cp_change")
                show_table(ch, L, one_decimal=("ci_low", "ci_high"))
        else:
            st.info(t("cp_need_two", L))
    except CSIError as e:
        friendly_error(e, L)

# --------------------------------------------------------------------- segments
with tab_s:
    frame = state.analysis_frame(sel, waves=(sel.latest,))
    seg_cols = [c for c in frame.columns if c in SEGMENT_COLS and frame[c].notna().any()]
    if not seg_cols:
        st.info(t("no_data", L))
    else:
        if st.session_state.get("cp_seg") not in seg_cols:
            st.session_state.pop("cp_seg", None)
        sticky("cp_seg", seg_cols[0])
        seg = st.selectbox(t("cp_segment", L), seg_cols, key="cp_seg", format_func=lambda c: t(c, L) if c in
                           ("brand", "region", "channel") else c)
        latest = sel.latest
        try:
            fits, booted = _fits((seg,), waves=(latest,), ignore=(seg,))
            tr = _trend(fits)
            cons = tuple(dict.fromkeys(tr["construct"]))
            st.plotly_chart(charts.grouped_index_chart(tr, seg, L, t("cp_seg_title", L, seg=t(seg, L) if seg in
                                                                         ("brand", "region", "channel") else seg,
                                                                         wave=latest), constructs=cons),
                            key="cp_seg_chart")
            show_table(tr, L, one_decimal=("ci_low", "ci_high"))
            failed = {k: f.error for k, f in fits.items() if not f.ok}
            for k, err in failed.items():
                st.caption(f"{', '.join(k)}: {err}")
        except CSIError as e:
            friendly_error(e, L)

# ---------------------------------------------------------------- competitor gap
with tab_g:
    if not (sel.own_brand and sel.competitor):
        st.info(t("cp_no_brands", L))
    else:
        try:
            fits, booted = _fits(("wave", "brand"), ignore=("brand",))
            rows = []
            for w in sel.waves:
                own, comp = fits.get((w, sel.own_brand)), fits.get((w, sel.competitor))
                if own is not None and comp is not None and own.ok and comp.ok:
                    g = compare.competitor_gap(own, comp)
                    g.insert(0, "wave", w)
                    rows.append(g)
            if rows:
                gap = pd.concat(rows, ignore_index=True)
                st.caption(t("cp_gap_caption", L, own=sel.own_brand, competitor=sel.competitor))
                last = gap[gap["wave"] == gap["wave"].iloc[-1]]
                st.plotly_chart(charts.bar_chart(last, "construct", "gap", L,
                                                 t("cp_gap_title", L, wave=last["wave"].iloc[0]),
                                                 color_by="construct", ytitle=t("axis_gap", L))
                                .update_traces(x=[construct_label(c, L) for c in last["construct"]]), key="cp_gap")
                show_table(gap, L, one_decimal=("ci_low", "ci_high"))
        except CSIError as e:
            friendly_error(e, L)

# ------------------------------------------------------------------------ MGA
with tab_m:
    frame = state.analysis_frame(sel, waves=(sel.latest,), ignore=("brand",))
    seg_cols = [c for c in frame.columns if c in SEGMENT_COLS and frame[c].notna().any()]
    if not seg_cols:
        st.info(t("no_data", L))
    else:
        c1, c2, c3 = st.columns(3)
        seg = c1.selectbox(t("cp_segment", L), seg_cols, key="cp_mga_seg")
        values = sorted(frame[seg].dropna().astype(str).unique())
        if len(values) < 2:
            st.info(t("cp_need_two", L))
        else:
            a = c2.selectbox(t("cp_group_a", L), values, index=0, key="cp_mga_a")
            b = c3.selectbox(t("cp_group_b", L), values, index=1, key="cp_mga_b")
            n_perm = max(20, min(1000, state.bootstrap_default()))
            key = ("mga", sel.path, sel.version, sel.latest, sel.filters, sel.model, sel.syntax, seg, a, b, n_perm,
                   bool(sel.weighted))
            job = state.jobs().get(key)
            if st.button(t("cp_run_mga", L), key="cp_mga_run", disabled=(a == b) or (job is not None and
                                                                                   job.state != "failed")):
                items = state.common_items(frame, state.item_dictionary(sel.path, sel.version)["item"])
                spec = state.model_spec(sel.model, sel.syntax, items)
                da, db = frame[frame[seg].astype(str) == a], frame[frame[seg].astype(str) == b]
                settings = state.fit_settings(state.weighted_ok(frame, sel.weighted))
                job = state.jobs().submit(key, lambda progress: compare.mga(da, db, spec, n_perm=n_perm,
                                                                            n_boot=n_perm, seed=1, **settings))
            if job is not None and wait_for(job, L, what="cp_mga_running"):
                res = job.result
                st.caption(t("cp_mga_caption", L, a=a, b=b, n=n_perm))
                show_table(res, L)
