"""Model: path diagram, measurement quality with pass/fail flags, PLS vs CB-SEM side by side,
bootstrap significance (background job with a progress bar)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from app import auth, charts, state
from app.i18n import construct_label, drop_reasons, t
from app.ui import friendly_error, item_names_of, lang, plain, selection, show_table, tp, wait_for, wave_fit
from csi.errors import CSIError, public_message
from csi.report.present import significance_legend



def _fit_value(key: str, v, lang_: str) -> str:
    """One global fit value as text: counts as integers, p as '< 0.001', others 3 decimals."""
    if isinstance(v, (bool, np.bool_)):
        return ("✓ " + t("yes", lang_)) if v else ("✗ " + t("no", lang_))
    if key in ("df", "n") and isinstance(v, (int, float, np.number)) and float(v).is_integer():
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        return "< 0.001" if key == "p_value" and v < 0.001 else f"{v:.3f}"
    return str(v)


def _extended_section(result, boot, lang_: str) -> None:
    """Higher-order / interaction models (issue 11, csi.engine.hoc and csi.engine.interaction): what was
    estimated, and the simple-slopes table and chart of every interaction term."""
    ext = result.info.get("extended") or {}
    if not ext:
        return
    import plotly.graph_objects as go

    from csi.engine.interaction import simple_slopes, slope_lines

    parts = []
    if ext.get("higher_order"):
        h = ext["higher_order"]
        parts.append(t("md_extended_hoc", lang_, hocs=", ".join(h["constructs"]), approach=h["approach"]))
    if ext.get("interactions"):
        ix = ext["interactions"]
        parts.append(t("md_extended_ix", lang_, terms=", ".join(x["term"] for x in ix["terms"]), method=ix["method"]))
    st.caption(plain(t("md_extended", lang_, what="; ".join(parts))))
    if not ext.get("interactions"):
        return
    ss = simple_slopes(result, boot)
    st.subheader(t("md_slopes_title", lang_))
    show_table(ss, lang_)
    lines = slope_lines(ss)
    for (term, target), g in lines.groupby(["term", "target"], sort=False):
        row = ss[(ss["term"] == term) & (ss["target"] == target)].iloc[0]
        iv, mod, tgt = (construct_label(row[c], lang_) for c in ("iv", "moderator", "target"))
        fig = go.Figure()
        for lv, h in g.groupby("moderator_sd"):
            fig.add_scatter(x=h["x"], y=h["y"], mode="lines", name=t("md_slopes_level", lang_, moderator=mod,
                                                                     sd=f"{lv:+g}"))
        fig.update_layout(title=t("md_slopes_chart", lang_, target=tgt, iv=iv, moderator=mod),
                          xaxis_title=t("md_slopes_x", lang_, iv=iv), yaxis_title=t("md_slopes_y", lang_, target=tgt))
        st.plotly_chart(fig, key=f"md_slopes_{term}_{target}")
    st.caption(t("md_slopes_caption", lang_))
    from app.downloads import csv_bytes

    st.download_button(t("md_dl_slopes", lang_), csv_bytes(ss), file_name="simple_slopes.csv", mime="text/csv",
                       key="md_dl_slopes")


def _research_section(sel, wave, result, boot, seed: int, lang_: str) -> None:
    """Research methods (issue 11): PLS model fit (csi.evaluate.modelfit), indirect effects with mediation types
    (csi.analytics.mediation) and PLSpredict, where PLS beats the LM benchmark (csi.evaluate.predict)."""
    from app.ui import friendly_text
    from csi.analytics.mediation import indirect_effects
    from csi.engine.hoc import original_spec
    from csi.evaluate.modelfit import interaction_refusal, model_fit
    from csi.evaluate.predict import plspredict, predictive_power
    from csi.report.analyze import result_settings

    if sel.method == "cbsem":
        return
    try:
        rows = state.prepared(sel).rows_of(wave)
        # an extended model (higher-order / interaction) is evaluated on its own spec (result.spec is the plain model)
        settings, spec = result_settings(result), original_spec(result) or result.spec
        key = ("rs", sel.path, sel.version, tuple(sel.waves), tuple(sel.filters), sel.model, sel.syntax,
               bool(sel.weighted), wave, int(seed))
        cache = st.session_state.setdefault("rs_cache", {})
        # model fit: point values always, Bollen-Stine quantiles on request
        st.subheader(t("rs_fit_title", lang_))
        if spec.interactions:                   # not defined for a nonlinear model (csi.evaluate.modelfit)
            st.info(friendly_text(interaction_refusal(), lang_))
        else:
            n_bs = 200
            if st.button(t("rs_fit_test", lang_, n=n_bs), key="rs_fit_boot"):
                with st.spinner(t("computing", lang_)):
                    cache[key + ("fit", n_bs)] = model_fit(rows, spec, n_boot=n_bs, seed=int(seed), **settings)
            if len(cache) > 40:                      # a session's research results: keep the latest few
                for k in list(cache)[:-20]:
                    cache.pop(k, None)
            if key + ("fit", 0) not in cache:
                cache[key + ("fit", 0)] = model_fit(rows, spec, **settings)
            mf = cache.get(key + ("fit", n_bs)) or cache[key + ("fit", 0)]
            tab = mf.table.copy()
            tab["model"] = tab["model"].map(lambda m: t(f"rs_model_{m}", lang_))
            show_table(tab, lang_)
            st.caption(t("rs_fit_caption", lang_))
        # mediation
        ind = indirect_effects(result, boot)
        if len(ind):
            st.subheader(t("rs_indirect_title", lang_))
            ind["kind"] = ind["kind"].map(lambda k: t(f"rs_kind_{k}", lang_))
            ind["type"] = ind["type"].map(lambda v: t(f"rs_type_{v}", lang_) if v else "")
            show_table(ind.drop(columns=["direct_ci_low", "direct_ci_high"]), lang_)
            st.caption(t("rs_indirect_caption" if boot is not None else "rs_indirect_no_boot", lang_))
        # PLSpredict on request (10 folds x 10 repetitions, seeded)
        st.subheader(t("rs_predict_title", lang_))
        folds, reps = 10, 10
        pk = key + ("predict", folds, reps)
        if st.button(t("rs_predict_run", lang_), key="rs_predict_run"):
            with st.spinner(t("computing", lang_)):
                cache[pk] = plspredict(rows, spec, folds=min(folds, len(result.scores)), reps=reps, seed=int(seed),
                                       **settings)
        pr = cache.get(pk)
        if pr is not None:
            power = predictive_power(pr)
            st.info(t("rs_predict_summary", lang_, k=int(pr["pls_beats_lm_rmse"].sum()), n=len(pr),
                      power=t(f"rs_power_{power}", lang_)))
            show_table(pr[["construct", "indicator", "pls_rmse", "lm_rmse", "pls_beats_lm_rmse", "q2_predict",
                           "pls_mae", "lm_mae", "pls_beats_lm_mae"]], lang_)
        st.caption(t("rs_predict_caption", lang_, folds=folds, reps=reps))
    except CSIError as e:
        friendly_error(e, lang_)


L = lang()
auth.require("model", L)
sel = selection()
st.title(t("md_title", L))
wave, fit = wave_fit(sel, L, key="md_wave")
result = fit.result
spec = result.spec

# ------------------------------------------------------------- bootstrap
c1, c2, c3 = st.columns([1, 1, 2])
n_boot = c1.number_input(t("bootstrap_n", L), min_value=20, max_value=5000, step=100,
                         value=max(20, state.bootstrap_default()), key="md_nboot")
seed = c2.number_input(t("seed", L), min_value=0, value=1, step=1, key="md_seed")
job = state.boot_job(sel, ("wave", wave), int(n_boot), int(seed), start=False)
if c3.button(t("run_bootstrap", L), key="md_run_boot", disabled=job is not None and job.state != "failed"):
    job = state.boot_job(sel, ("wave", wave), int(n_boot), int(seed))
boot = None
if job is not None and wait_for(job, L):
    bfit = job.result.get((wave,))
    if bfit is not None and bfit.ok:
        fit, boot = bfit, bfit.boot
        st.success(t("bootstrap_done", L, n=boot.n_kept, seed=int(seed)))
        if boot.dropped:
            st.warning(tp("bootstrap_dropped", L, n=sum(boot.dropped.values()),
                          reasons=public_message(drop_reasons(boot.dropped, L))))
        for n in getattr(boot, "notes", ()) or ():  # e.g. percentile intervals under-cover at small n
            st.info(plain(public_message(n["message_zh"] if L == "zh" else n["message"])))
elif job is None:
    st.caption(t("md_no_boot", L))

# The engine's own warnings first, where nobody can miss them.
if fit.index is not None:
    notes = fit.index["note_zh"] if L == "zh" and "note_zh" in fit.index else fit.index["note"]
    for note in notes.dropna():
        if note:
            st.warning(tp("md_engine_note", L, note=public_message(note)))
if result.info.get("n_dropped"):
    st.info(t("md_dropped", L, n=result.info["n_dropped"], total=result.info.get("n_total", 0)))

# ------------------------------------------------------------ path diagram
paths = result.paths.copy()
if boot is not None:
    summ = boot.summary("paths")
    paths = paths.merge(summ[["from", "to", "std_error", "p_value", "ci_low", "ci_high"]], on=["from", "to"],
                        how="left")
r2 = dict(zip(result.constructs["construct"], result.constructs["r2"]))
index = dict(zip(fit.index["construct"], fit.index["index"])) if fit.index is not None else {}
outer = None
if st.toggle(t("md_show_indicators", L), key="md_indicators"):
    from csi.engine.params import pls_params

    outer = pls_params(result, boot)  # the engine's parameter table: loadings, weights and their bootstrap p
st.plotly_chart(charts.path_diagram(spec, paths, L, r2=r2, index=index, outer=outer, items=item_names_of(sel)),
                key="md_path")
if outer is not None:
    st.caption(t("md_outer_caption", L))
if boot is not None:  # without one the page already says that significance needs a bootstrap (md_no_boot)
    st.caption(plain(significance_legend(L, boot.n_kept, marks=("stars", "edges"))))
st.subheader(t("md_paths", L))
show_table(paths, L)

# ------------------------------------------------------- measurement quality
st.subheader(t("md_measurement", L))
try:
    from csi.evaluate import assess

    q = assess.assess_pls(result, boot)
    tabs = st.tabs([t("md_reliability", L), t("md_htmt", L), t("md_vif", L), t("md_loadings", L)])
    with tabs[0]:
        show_table(q["reliability"], L)
    with tabs[1]:
        show_table(q["htmt"], L)
    with tabs[2]:
        show_table(q["vif_outer"], L)
        show_table(q["vif_inner"], L)
    with tabs[3]:
        show_table(q["loadings_check"], L)
        show_table(q["f2"], L)
    for r in q["notes"].itertuples(index=False):
        note = (getattr(r, "note_zh", None) or r.note) if L == "zh" else r.note
        st.warning(plain(f"{construct_label(str(r.construct), L)}: {public_message(note)}"))
except CSIError as e:
    friendly_error(e, L)

# ------------------------------------------------------------ PLS vs CB-SEM
st.subheader(t("md_compare", L))
if sel.method != "cbsem":
    st.caption(t("md_cbsem_hint", L))
if sel.method == "cbsem" or st.toggle(t("md_cbsem_toggle", L), key="md_cbsem_on"):
    try:
        with st.spinner(t("computing", L)):
            cb = state.cbsem_fit(sel.path, sel.version, sel.waves, sel.filters, sel.model, sel.syntax, wave)
        for d in cb.diagnostics:
            msg = d.message_zh if L == "zh" else d.message
            (st.error if d.severity == "error" else st.warning if d.severity == "warning" else st.info)(
                plain(public_message(msg)))
        both = result.paths.rename(columns={"estimate": "pls"}).merge(
            cb.paths[["from", "to", "estimate", "p_value"]].rename(columns={"estimate": "cbsem",
                                                                           "p_value": "cbsem_p_value"}),
            on=["from", "to"], how="outer")
        both["difference"] = both["cbsem"] - both["pls"]
        left, right = st.columns([3, 2])
        show_table(both, L, container=left)
        fit_keys = ("chi2", "df", "p_value", "cfi", "tli", "rmsea", "srmr", "n", "converged")
        right.markdown(f"**{t('md_fit', L)}**")
        right.dataframe(pd.DataFrame({t("col_index_name", L): [t(f"fit_{k}", L) for k in fit_keys if k in cb.fit],
                                      t("value", L): [_fit_value(k, cb.fit[k], L) for k in fit_keys if k in cb.fit]}),
                        hide_index=True)
        st.plotly_chart(charts.path_diagram(spec, cb.paths, L, r2=dict(zip(cb.constructs["construct"],
                                                                          cb.constructs["r2"])),
                                            title=t("md_cbsem_title", L)), key="md_cb_path")
        st.caption(plain(significance_legend(L, cb.fit.get("n", 0), marks=("stars", "edges"), test="ml")))
    except CSIError as e:
        friendly_error(e, L)

_research_section(sel, wave, result, boot, int(seed), L)

_extended_section(result, boot, L)

with st.expander(t("md_syntax", L)):
    st.code(spec.to_syntax(), language="text")
