"""Overview (executives): the state of satisfaction and what to fix, in one screen."""
from __future__ import annotations

import numpy as np
import streamlit as st

from app import actions, auth, charts, state
from app.i18n import construct_label, t
from app.ui import friendly_error, friendly_text, lang, selection, wait_for
from csi.errors import CSIError

L = lang()
auth.require("overview", L)
sel = selection()
st.title(t("ov_title", L))

if not sel.waves:
    st.info(t("no_data", L))
    st.stop()

# Point estimates first (milliseconds per wave); intervals and significance arrive from a
# background bootstrap and replace them when it is done (see app/jobs.py).
B = state.overview_bootstrap()
try:
    with st.spinner(t("computing", L)):
        fits = state.fits_by(sel, ("wave",))
    # Only look the job up here; it is started at the end of the page, after everything is drawn,
    # so the first render does not compete with the bootstrap for the CPU.
    job = state.boot_job(sel, ("wave",), B, start=False) if B >= 2 else None
except CSIError as e:
    friendly_error(e, L)
    st.stop()
progress_slot = st.container()
bjob = None
booted = job is not None and job.state == "done"
if booted:
    fits = job.result

ok = [k for k, f in fits.items() if f.ok]
if not ok:
    errs = "; ".join(f"{k[0]}: {f.error}" for k, f in fits.items())
    st.warning(t("no_data", L) + (f" ({errs})" if errs else ""))
    st.stop()

latest_key = ok[-1]
latest = fits[latest_key]
prev = fits[ok[-2]] if len(ok) > 1 else None
wave_l = latest_key[0]
target = "SAT" if "SAT" in latest.result.spec.constructs else latest.result.spec.endogenous[-1]
loy = "LOY" if "LOY" in latest.result.spec.constructs else None
idx = latest.index.set_index("construct")

if sel.method == "cbsem":
    st.caption(t("ov_pls_note", L))

# ------------------------------------------------------------------ headline
from csi.compare import groups as compare
from csi.analytics import loyalty, priorities

c1, c2, c3 = st.columns(3)
change = None
if prev is not None:
    change = compare.wave_change(prev, latest).set_index("construct")
sat = float(idx.loc[target, "index"])
delta = None if change is None else float(change.loc[target, "change"])
c1.metric(t("ov_index", L, wave=wave_l), f"{sat:.1f}",
          None if delta is None else t("ov_change", L, delta=delta, prev=prev.key[0]), border=True)
if change is None:
    c1.caption(t("ov_first_wave", L))
else:
    sig = change.loc[target, "significant"]
    lo, hi = change.loc[target, "ci_low"], change.loc[target, "ci_high"]
    if sig is not None and sig is not np.nan and str(sig) != "<NA>":
        key = "ov_change_sig" if bool(sig) else "ov_change_nsig"
        c1.caption(t(key, L, prev=prev.key[0], lo=lo, hi=hi))

dictionary = state.item_dictionary(sel.path, sel.version)
rec_items = [i for i in dictionary.loc[dictionary["kind"] == "recommend", "item"]]
frame = state.analysis_frame(sel, waves=(wave_l,))
weights = state.weights_of(frame, sel.weighted)
rec = next((i for i in rec_items if i in frame.columns and frame[i].notna().any()), None)
if rec is not None:
    try:
        n_now = loyalty.nps(frame[rec], weights)
        nps_delta = None
        if prev is not None:
            pframe = state.analysis_frame(sel, waves=(prev.key[0],))
            pw = state.weights_of(pframe, sel.weighted)
            if rec in pframe.columns and pframe[rec].notna().any():
                nps_delta = n_now["nps"] - loyalty.nps(pframe[rec], pw)["nps"]
        c2.metric(t("ov_nps", L), f"{n_now['nps']:.0f}",
                  None if nps_delta is None else t("ov_change", L, delta=nps_delta, prev=prev.key[0]), border=True)
        c2.caption(t("ov_nps_ci", L, lo=n_now["ci_low"], hi=n_now["ci_high"]))
    except CSIError as e:
        c2.caption(friendly_text(e, L))
if loy is not None:
    ldelta = None if change is None else float(change.loc[loy, "change"])
    c3.metric(t("ov_loyalty", L), f"{float(idx.loc[loy, 'index']):.1f}",
              None if ldelta is None else t("ov_change", L, delta=ldelta, prev=prev.key[0]), border=True)

# ------------------------------------------------- priorities and actions
scales = state.item_scales(sel.path, sel.version, (wave_l,))
left, right = st.columns([3, 2])
try:
    ip = priorities.ipma(latest.result, scales, target=target, level="construct", boot=latest.boot)
    left.plotly_chart(charts.ipma_chart(ip, L, priorities.ipma_thresholds(ip),
                                        constructs=tuple(latest.result.spec.constructs)), key="ov_ipma")
    # Item level makes the construct actions concrete ("the hotline", not "perceived quality").
    ip_items = priorities.ipma(latest.result, scales, target=target, level="indicator", boot=latest.boot,
                               labels=actions.item_labels(dictionary))
    right.subheader(t("ov_actions", L))
    right.markdown(actions.numbered(actions.construct_actions(ip, ip_items, L, top=3)))
    fixes = actions.item_fixes(ip_items, L, top=3)
    if fixes:
        right.markdown(f"**{t('ov_fix_items', L)}**")
        right.markdown("\n".join(f"- {line}" for line in fixes))
except CSIError as e:
    left.warning(friendly_text(e, L))

# -------------------------------------------------------------- trend + brands
left, right = st.columns([3, 2])
tr = compare.trend(fits)
left.plotly_chart(charts.trend_chart(tr, L, constructs=tuple(latest.result.spec.constructs)), key="ov_trend")

brand_col = "brand"
bframe = state.analysis_frame(sel, waves=(wave_l,), ignore=(brand_col,))
if brand_col in bframe.columns and bframe[brand_col].notna().any():
    try:
        bfits = state.fits_by(sel, (brand_col,), waves=(wave_l,), ignore=(brand_col,))
        bjob = state.boot_job(sel, (brand_col,), B, waves=(wave_l,), ignore=(brand_col,)) if booted else None
        if bjob is not None and bjob.state == "done":
            bfits = bjob.result
        rows = []
        for k, f in bfits.items():
            if f.ok:
                r = f.index.set_index("construct").loc[target]
                rows.append({"brand": k[0], "index": r["index"], "ci_low": r["ci_low"], "ci_high": r["ci_high"]})
        if rows:
            import pandas as pd

            right.plotly_chart(charts.brand_chart(pd.DataFrame(rows), L, sel.own_brand,
                                                  title=t("ov_brands_title", L, construct=construct_label(target, L),
                                                          wave=wave_l)), key="ov_brands")
            own = bfits.get((str(sel.own_brand),)) if sel.own_brand else None
            comp = bfits.get((str(sel.competitor),)) if sel.competitor else None
            if own is not None and comp is not None and own.ok and comp.ok:
                gap = compare.competitor_gap(own, comp).set_index("construct").loc[target]
                sig = gap["significant"]
                if str(sig) == "<NA>":
                    right.caption(t("ov_gap_point", L, own=sel.own_brand, competitor=sel.competitor, gap=gap["gap"]))
                else:
                    right.caption(t("ov_gap", L, own=sel.own_brand, competitor=sel.competitor, gap=gap["gap"],
                                    verdict=t("significant" if bool(sig) else "not_significant", L)))
    except CSIError as e:
        right.warning(friendly_text(e, L))

# ----------------------------------------------------------------- bands
try:
    from csi.analytics.index import construct_scores_0_100

    scores = construct_scores_0_100(latest.result, frame, scales)
    w = state.weights_of(frame.loc[scores.index], sel.weighted)
    bands = loyalty.satisfaction_bands(scores[target].to_numpy(float), w)
    st.plotly_chart(charts.bands_chart(bands, L, title=t("ov_bands_title", L, wave=wave_l)), key="ov_bands")
except CSIError as e:
    st.warning(friendly_text(e, L))

if sel.weighted and not state.weighted_ok(state.analysis_frame(sel), True):
    st.caption(t("weights_dropped", L))
st.caption(t("ov_footer", L, n=latest.n, wave=wave_l, B=B) if booted else t("ov_footer_point", L, n=latest.n, wave=wave_l))

pending = None
if B >= 2 and not booted:
    pending = job or state.boot_job(sel, ("wave",), B, delay=2.0)
elif bjob is not None and bjob.state != "done":
    pending = bjob  # the brand comparison's intervals come second
if pending is not None:
    with progress_slot:
        if wait_for(pending, L):
            # the job ended while this page was drawing: no poller is left to notice, so draw again now
            # (the rerun finds it done and shows the intervals)
            st.rerun()
