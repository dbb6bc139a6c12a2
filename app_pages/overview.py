"""Overview (executives): the state of satisfaction and what to fix, in one screen."""
from __future__ import annotations

import streamlit as st

from app import actions, auth, charts, state
from app.board import board_downloads
from app.i18n import construct_label, t
from app.ui import friendly_error, friendly_text, lang, plain, selection, show_table, tp, wait_for
from csi.analytics import priorities
from csi.errors import CSIError, public_message



L = lang()
auth.require("overview", L)
sel = selection()
st.title(t("ov_title", L))

if not sel.waves:
    st.info(t("no_data", L))
    st.stop()

# Point estimates first (milliseconds per wave); intervals and significance arrive from a
# background bootstrap and replace them when it is done (see app/jobs.py). Every number below comes
# from csi.report.build, the engine of `python -m csi report`: this page only renders.
from csi.report import build

B = state.overview_bootstrap()
try:
    with st.spinner(t("computing", L)):
        prep = state.prepared(sel)
        fits = state.point_fits(sel, ("waves",))
    # Only look the job up here; it is started at the end of the page, after everything is drawn,
    # so the first render does not compete with the bootstrap for the CPU.
    job = state.boot_job(sel, ("waves",), B, start=False) if B >= 2 else None
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
    errs = "; ".join(f"{k[0]}: {public_message(f.error)}" for k, f in fits.items())
    st.warning(t("no_data", L) + (f" ({plain(errs)})" if errs else ""))
    st.stop()

latest_key = ok[-1]
latest = fits[latest_key]
wave_l = latest_key[0]
# Everything below is derived from the shared Prepared / fits objects: computed once per process for every
# session showing this selection (app.state.shared / shared_figure, keyed on those objects, the language and the
# other inputs named in each call), so a cached run only renders.
head = state.shared("ov_headline", (prep, fits), lambda: build.headline(prep, fits))
target, loy = head["target"], head.get("loyalty", {}).get("construct")
prev_l = head["previous"]

if sel.method == "cbsem":
    st.caption(t("ov_pls_note", L))

# ------------------------------------------------------------------ headline
c1, c2, c3 = st.columns(3)
h = head["index"]
# the arrow is coloured only for a significant change: "+0.0" in green would claim an improvement
c1.metric(tp("ov_index", L, wave=wave_l), f"{h['value']:.1f}",
          None if h["change"] is None else t("ov_change", L, delta=h["change"], prev=prev_l), border=True,
          delta_color="normal" if h["significant"] else "off")
if prev_l is None:
    c1.caption(t("ov_first_wave", L))
elif head["small_sample"] is not None:
    c1.caption(t("ov_small_sample", L, n=head["small_sample"], need=prep.settings.min_n_verdict))
elif h["significant"] is not None:
    c1.caption(tp("ov_change_sig" if h["significant"] else "ov_change_nsig", L, prev=prev_l,
                 lo=h["change_ci_low"], hi=h["change_ci_high"]))
if "nps" in head:
    n_now = head["nps"]
    c2.metric(t("ov_nps", L), f"{n_now['value']:.0f}",
              None if n_now["change"] is None else t("ov_change", L, delta=n_now["change"], prev=prev_l), border=True,
              delta_color="off")  # no significance test of the NPS change: never coloured as a verdict
    c2.caption(t("ov_nps_ci", L, lo=n_now["ci_low"], hi=n_now["ci_high"]))
if loy is not None:
    lh = head["loyalty"]
    c3.metric(t("ov_loyalty", L), f"{lh['value']:.1f}",
              None if lh["change"] is None else t("ov_change", L, delta=lh["change"], prev=prev_l), border=True,
              delta_color="normal" if lh["significant"] else "off")

# badges: a missed target (store setting "targets", set on the Data page) and a significant change
goals = getattr(prep, "targets", {}) or {}


def _badges(col, code, value, h=None):
    out = []
    if code in goals:
        gap = value - goals[code]
        out.append((t("badge_below_target", L, target=goals[code], gap=gap), "red", ":material/flag:") if gap < 0
                   else (t("badge_on_target", L, target=goals[code]), "green", ":material/check:"))
    if h is not None and h.get("change") is not None:
        if head["small_sample"] is not None:
            out.append((t("badge_no_verdict", L, n=head["small_sample"]), "gray", ":material/info:"))
        elif h.get("significant") and h["change"] < 0:
            out.append((t("badge_sig_drop", L), "red", ":material/trending_down:"))
        elif h.get("significant") and h["change"] > 0:
            out.append((t("badge_sig_rise", L), "green", ":material/trending_up:"))
    if out:
        col.markdown(" ".join(f":{c}-badge[{icon} {plain(text)}]" for text, c, icon in out))


_badges(c1, target, h["value"], h)
if "nps" in head:
    _badges(c2, "NPS", head["nps"]["value"])
if loy is not None:
    _badges(c3, "LOY", lh["value"], lh)

# --------------------------------------------------------------- alerts
try:  # targets missed and significant drops of the latest wave (targets: python -m csi target SAT 75)
    alerts = state.engine_table(build.alerts_table, prep, fits)
    now = alerts[alerts["wave"] == wave_l]
    if len(now):
        st.warning(f"**{t('ov_alerts', L, wave=plain(wave_l))}**\n\n"
                   + actions.bulleted(list(now["message_zh" if L == "zh" else "message_en"])),
                   icon=":material/notification_important:")
    with st.expander(t("ov_alerts_all", L) + f" ({len(alerts)})"):
        if len(alerts):  # every selected wave of the focus brand, newest first
            show_table(alerts[["wave", "brand", "kind", "construct", "value", "target", "change",
                               "message_en", "message_zh"]], L, one_decimal=("target",))
        else:
            st.caption(t("ov_no_alerts", L))
except CSIError as e:
    st.caption(friendly_text(e, L))

# ------------------------------------------------- priorities and actions
left, right = st.columns([3, 2])
small = build.too_small(prep, latest)
if small is not None:  # no action list on a handful of answers: say why and what n is needed
    left.info(t("ss_no_actions", L, n=small, need=prep.settings.min_n_verdict), icon=":material/groups:")
else:
    def _priorities_view():
        pri = state.engine_table(build.priorities_table, prep, latest, targets=[target])
        ip = pri[pri["level"] == "construct"].reset_index(drop=True)
        ip_items = pri[pri["level"] == "indicator"].reset_index(drop=True)
        for col in ("label_en", "label_zh"):  # an executive reads the short name of a question
            ip_items[col] = ip_items[col].map(actions.short_item_text)
        fig = charts.FrozenFigure(charts.ipma_chart(ip, L, priorities.ipma_thresholds(ip),
                                                    constructs=tuple(prep.spec.constructs)))
        # Item level makes the construct actions concrete ("the hotline", not "perceived quality").
        # only genuine fix-first drivers are actions; the wording's "above/below average" stays that of all drivers
        lines = actions.construct_actions(ip, ip_items, L, top=len(ip))
        fix_first = [ln for ln, q in zip(lines, ip.sort_values("rank")["quadrant"]) if q == "fix_first"][:3]
        return fig, tuple(fix_first), tuple(actions.item_fixes(ip_items, L, top=3))

    try:
        ipma_fig, fix_first, fixes = state.shared("ov_priorities", (prep, latest), _priorities_view, target, L)
        left.plotly_chart(ipma_fig, key="ov_ipma")
        left.caption(t("ex_model_index", L))
        right.subheader(t("ov_actions", L))
        if fix_first:
            right.markdown(actions.numbered(fix_first))
        else:
            right.caption(t("ov_no_fix", L))
        if fixes:
            right.markdown(f"**{t('ov_fix_items', L)}**")
            right.markdown(actions.bulleted(fixes))
    except CSIError as e:
        left.warning(friendly_text(e, L))

# -------------------------------------------------------------- trend + brands
# full width: six or more waves' labels need the room (rotated and cramped at 1024 px)
st.plotly_chart(state.shared_figure(
    "ov_trend", (prep, fits), lambda: charts.trend_chart(state.engine_table(build.trends_table, fits), L,
                                                         constructs=tuple(prep.spec.constructs)), L), key="ov_trend")
right, bands_col = st.columns(2)

if prep.brand_column is not None and prep.brand_frame is not None and len(prep.brand_frame):
    try:
        bfits = state.point_fits(sel, ("brands",))
        bjob = state.boot_job(sel, ("brands",), B) if booted else None
        if bjob is not None and bjob.state == "done":
            bfits = bjob.result
        own = prep.focus_brand or sel.own_brand

        def _brands_view():
            bt = state.engine_table(build.brand_table, prep, bfits)
            rows = bt[bt["construct"] == target][["brand", "index", "ci_low", "ci_high"]]
            if not len(rows):
                return None, None
            fig = charts.FrozenFigure(charts.brand_chart(
                rows.reset_index(drop=True), L, own,
                title=t("ov_brands_title", L, construct=construct_label(target, L), wave=wave_l)))
            gap, caption = state.engine_table(build.gap_table, prep, bfits), None
            if len(gap):
                g = gap.set_index("construct").loc[target]
                sig = g["significant"]
                if str(sig) == "<NA>":
                    caption = tp("ov_gap_point", L, own=prep.focus_brand, competitor=prep.competitor, gap=g["gap"])
                else:
                    caption = tp("ov_gap", L, own=prep.focus_brand, competitor=prep.competitor, gap=g["gap"],
                                 verdict=t("significant" if bool(sig) else "not_significant", L))
            return fig, caption

        brand_fig, gap_caption = state.shared("ov_brands", (prep, bfits), _brands_view, target, own, wave_l, L)
        if brand_fig is not None:
            right.plotly_chart(brand_fig, key="ov_brands")
            if gap_caption is not None:
                right.caption(gap_caption)
    except CSIError as e:
        right.warning(friendly_text(e, L))

# ----------------------------------------------------------------- bands
try:
    def _bands_view():
        bands = state.engine_table(build.bands_table, prep, latest, construct=target)
        return None if bands is None else charts.FrozenFigure(
            charts.bands_chart(bands, L, title=t("ov_bands_title", L, wave=wave_l)))

    bands_fig = state.shared("ov_bands", (prep, latest), _bands_view, target, wave_l, L)
    if bands_fig is not None:
        bands_col.plotly_chart(bands_fig, key="ov_bands")
except CSIError as e:
    bands_col.warning(friendly_text(e, L))

# ------------------- national programmes: against your industry (issue 10; app/industry_panel.py, one cached call)
try:  # draws nothing without an industry segment; a brand-scoped user sees aggregates only
    from app import industry_panel

    industry_panel.render_overview_panel(sel, L, prep.focus_brand, tuple(c for c in (target, loy) if c),
                                         prep=prep)
except CSIError as e:
    st.caption(friendly_text(e, L))

for n in prep.notes:  # the engine's notes: items a wave lacks, weights not used, ...
    st.caption(plain(public_message(n["message_zh"] if L == "zh" else n["message"])))
used = dict(n=head["n"], total=head["n_respondents"], wave=wave_l)  # the count the model used, and of how many
st.caption(tp("ov_footer", L, B=B, **used) if booted else tp("ov_footer_point", L, **used))
with st.expander(t("dl_brief", L), icon=":material/slideshow:"):  # executives take the brief from here
    board_downloads(sel, L, f"{wave_l}_{sel.model}_{sel.method}", key="ov")

pending = None
if B >= 2 and not booted:
    pending = job or state.boot_job(sel, ("waves",), B, delay=2.0)
elif bjob is not None and bjob.state != "done":
    pending = bjob  # the brand comparison's intervals come second
if pending is not None:
    with progress_slot:
        if wait_for(pending, L):
            # the job ended while this page was drawing: no poller is left to notice, so draw again now
            # (the rerun finds it done and shows the intervals)
            st.rerun()
