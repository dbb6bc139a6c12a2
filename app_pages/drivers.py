"""Drivers: importance–performance maps (constructs or items) for satisfaction or loyalty, the ranked
action list in plain language, and a what-if (csi.priorities)."""
from __future__ import annotations

import streamlit as st

from app import actions, auth, charts, state
from app.i18n import construct_label, t
from app.ui import (friendly_error, item_names_of, lang, n_used_text, plain, selection, show_table, sticky, tp,
                    wave_fit)
from csi.errors import CSIError
from csi.report.present import significance_legend


def _cipma_section(sel, wave, fit, ip, target: str, level: str, scales, lang_: str) -> None:
    """Research methods (issue 11): cIPMA — necessary condition analysis (CE-FDH, d, permutation p) of the IPMA's
    drivers on the 0–100 scores, a chart marking the necessary conditions and the bottleneck table
    (csi.analytics.nca)."""
    import plotly.graph_objects as go

    from csi.analytics.nca import cipma

    if sel.method == "cbsem" or ip is None or not len(ip):   # extended models: csi.analytics.nca.cipma_frame
        return
    st.subheader(t("dr_cipma_title", lang_))
    tname = construct_label(target, lang_)
    try:
        # once per process for every session with this selection (the shared Prepared and fit objects): 1,000
        # permutations per session and selection were most of a loaded server's CPU (app.state.shared)
        prep = state.prepared(sel)
        with st.spinner(t("computing", lang_)):
            nca, bn = state.shared("dr_cipma", (prep, fit), lambda: cipma(
                fit.result, prep.rows_of(wave), scales, target=target, level=level, n_perm=1000, seed=1,
                ipma_table=ip), wave, target, level)
    except CSIError as e:
        friendly_error(e, lang_)
        return
    name = (lambda d: construct_label(d, lang_)) if level == "construct" else (lambda d: d)
    fig = go.Figure()
    for nec, color, symbol in ((True, "#d62728", "star"), (False, "#7f7f7f", "circle-open")):
        part = nca[nca["necessary"] == nec]
        if len(part):
            fig.add_trace(go.Scatter(
                x=part["importance"], y=part["performance"], mode="markers+text", text=[name(d) for d in part["driver"]],
                textposition="top center", name=t("dr_cipma_necessary" if nec else "dr_cipma_not_necessary", lang_),
                marker={"size": 12 + 60 * part["d"].clip(0, 0.5), "color": color, "symbol": symbol,
                        "line": {"width": 2, "color": color}},
                customdata=part[["d", "p_value"]].to_numpy(),
                hovertemplate="%{text}<br>d = %{customdata[0]:.3f}, p = %{customdata[1]:.3f}<extra></extra>"))
    fig.update_layout(title=t("dr_cipma_chart", lang_, target=tname), xaxis_title=t("col_importance", lang_),
                      yaxis_title=t("col_performance", lang_), legend={"orientation": "h"}, height=460)
    st.plotly_chart(fig, key="dr_cipma_chart")
    nec = [name(d) for d in nca.loc[nca["necessary"], "driver"]]
    st.info(t("dr_cipma_found", lang_, target=tname, drivers=", ".join(nec)) if nec
            else t("dr_cipma_none", lang_, target=tname))
    show_table(nca[["driver", "importance", "performance", "d", "p_value", "necessary"]], lang_)
    st.caption(t("dr_cipma_caption", lang_, target=tname))
    wide = bn.assign(required=bn["required"].round(1).astype(object).where(bn["status"] == "required", bn["status"]))
    wide = wide.pivot(index="target_level", columns="driver", values="required").reset_index()
    wide.columns = [t("col_target_level", lang_) if c == "target_level" else name(c) for c in wide.columns]
    st.markdown(f"**{t('dr_cipma_bottleneck', lang_, target=tname)}**")
    st.dataframe(wide.astype(str), hide_index=True)


L = lang()
auth.require("drivers", L)
sel = selection()
st.title(t("dr_title", L))
wave, fit = wave_fit(sel, L, key="dr_wave")

# A finished bootstrap of the same request (Overview or Model page) adds importance intervals.
for job in (state.boot_job(sel, ("waves",), state.overview_bootstrap(), start=False),
            state.boot_job(sel, ("wave", wave), max(20, state.bootstrap_default()), start=False)):
    if job is not None and job.state == "done" and getattr(job.result.get((wave,)), "ok", False):
        fit = job.result[(wave,)]
        break

from csi.analytics import priorities
from csi.report import build

result = fit.result
spec = result.spec
targets = [c for c in ("SAT", "LOY") if c in spec.constructs and spec.predecessors(c)] or list(spec.endogenous)
c1, c2 = st.columns(2)
if st.session_state.get("dr_target") not in targets:
    st.session_state.pop("dr_target", None)
sticky("dr_target", targets[0])
sticky("dr_level", "construct")
target = c1.radio(t("dr_target", L), targets, format_func=lambda c: construct_label(c, L), horizontal=True,
                  key="dr_target")
level = c2.radio(t("dr_level", L), ("construct", "indicator"), horizontal=True, key="dr_level",
                 format_func=lambda v: t("dr_level_construct" if v == "construct" else "dr_level_item", L))
prep = state.prepared(sel)
scales = prep.focus_scales(wave)
items = item_names_of(sel)
small = build.too_small(prep, fit)
if small is not None:  # no priorities and no action list on a handful of answers
    st.info(t("ss_no_actions", L, n=small, need=prep.settings.min_n_verdict), icon=":material/groups:")
    st.stop()
try:
    # the engine's IPMA (item texts from the database's dictionary, so an analyst's edits show up here too)
    ip = state.engine_table(build.priorities_table, prep, fit, targets=[target], levels=[level])
except CSIError as e:
    friendly_error(e, L)
    st.stop()

st.plotly_chart(state.shared_figure(  # built once per process for this fit, wave, target, level and language
    "dr_ipma", (prep, fit), lambda: charts.ipma_chart(
        ip, L, priorities.ipma_thresholds(ip), constructs=tuple(spec.constructs),
        title=t("dr_matrix_title", L, target=construct_label(target, L), wave=wave), intervals=True),
    wave, target, level, L), key="dr_ipma")
if fit.boot is not None and charts.ipma_intervals(ip):
    st.caption(plain(significance_legend(L, fit.boot.n_kept, marks=("ipma_bars",), alpha=prep.settings.alpha)))
else:
    st.caption(t("dr_ipma_no_boot", L))
st.subheader(t("dr_actions", L))
st.markdown(actions.numbered(actions.construct_actions(ip, None, L, top=min(5, len(ip)))))
show = ip.drop(columns=["impact_en" if L == "zh" else "impact_zh", "label_en" if L == "zh" else "label_zh"])
show_table(show, L)  # item codes shown by their short question text, quadrants in words (app.ui.localize)
st.caption(t("ex_model_index", L) + " " + n_used_text(fit, L))

_cipma_section(sel, wave, fit, ip, target, level, scales, L)

# ---------------------------------------------------------------- what-if
st.subheader(t("dr_whatif", L))
drivers = list(dict.fromkeys(ip["driver"]))
c1, c2 = st.columns(2)
if st.session_state.get("dr_wi_driver") not in drivers:
    st.session_state.pop("dr_wi_driver", None)
sticky("dr_wi_driver", drivers[0])
driver = c1.selectbox(t("dr_whatif_raise", L), drivers, key="dr_wi_driver",
                      format_func=lambda d: construct_label(d, L) if d in spec.constructs else d)
points = c2.slider(t("dr_whatif_points", L), 0.0, 20.0, 5.0, 0.5, key="dr_wi_points")
try:
    # reads every respondent's scores (O(respondents)): once per process for this fit, wave, driver and step
    wi = state.shared("dr_what_if", (prep, fit), lambda: priorities.what_if(result, scales, driver, points),
                      wave, driver, float(points)).set_index("construct")["change"]
    dsat = float(wi.get("SAT", 0.0))
    dloy = float(wi.get("LOY", 0.0))
    name = construct_label(driver, L) if driver in spec.constructs else driver
    st.info(tp("dr_whatif_result", L, driver=name, points=points, dsat=dsat, dloy=dloy))
except CSIError as e:
    friendly_error(e, L)
