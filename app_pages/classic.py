"""Classic views: weighted indicator hierarchy, fuzzy comprehensive evaluation, expectation–perception
gaps and item ranking (csi.classic), for one wave of the selection."""
from __future__ import annotations

import streamlit as st

from app import auth, charts, state
from app.downloads import download_buttons
from app.i18n import attr_label, t
from app.ui import friendly_error, friendly_text, lang, selection, show_table, sticky, tp, wave_picker
from csi.errors import CSIError

L = lang()
auth.require("classic", L)
sel = selection()
st.title(t("cl_title", L))
wave = wave_picker(sel, L, key="cl_wave")
if wave is None:
    st.stop()

from csi.analytics import classic

try:  # the engine's selection: items answered in every selected wave, survey weights when complete
    prep = state.prepared(sel)
except CSIError as e:
    friendly_error(e, L)
    st.stop()
frame = prep.rows_of(wave)
if frame.empty:
    st.info(t("no_data", L))
    st.stop()
dictionary = prep.dictionary
scales = prep.focus_scales(wave)
weights = prep.weights_of(frame)
items = [i for i in prep.items if i in frame.columns]
text_col = "text_zh" if L == "zh" else "text_en"
rating = dictionary[dictionary["kind"].isin(["rating", "recommend"]) & dictionary["item"].isin(items)]

counted = tp("n_all_caption", L, total=len(frame), wave=wave)  # classic views use every respondent of the wave
tab_h, tab_f, tab_g, tab_r, tab_sq, tab_ig, tab_ic, tab_ahp, tab_au = st.tabs(
    [t("cl_hierarchy", L), t("cl_fuzzy", L), t("cl_gaps", L), t("cl_ranking", L),
     t("cl_servqual", L), t("cl_importance_gap", L), t("cl_iceberg", L), t("cl_ahp", L), t("cl_audit", L)])
try:
    hierarchy = classic.hierarchy_from_attributes(dictionary, items=items)
except CSIError as e:
    hierarchy = None
    with tab_h:
        friendly_error(e, L)

from app_pages import classic_service  # RATER/SERVQUAL, managers vs customers, complaints iceberg, AHP

try:  # the stored expert weights (AHP or direct), read as the report reads them; else equal weights
    expert = classic_service.expert_weights(L)
except CSIError as e:
    expert = None
    st.warning(t("cl_weights_unusable", L, msg=friendly_text(e, L)))


def _with_weights(fn):
    """``fn(hierarchy, first_level_weights)`` with the expert weights, falling back to equal weights when they do
    not fit these data; returns (result, caption, expert weights used)."""
    if expert is not None:
        try:
            return fn(expert[0], expert[1]), expert[2], True
        except CSIError as e:
            st.warning(t("cl_weights_unusable", L, msg=friendly_text(e, L)))
    return fn(hierarchy, None), t("cl_weights_equal", L), False


with tab_h:
    if hierarchy or expert:
        try:
            (items_t, level1, total), wcap, by_experts = _with_weights(
                lambda h, top: classic.weighted_hierarchy(frame, h, top, scales, weights))
            st.metric(t("cl_total", L), f"{total:.1f}")
            st.caption(t("ex_hierarchy_expert" if by_experts else "ex_hierarchy", L) + " " + counted + " " + wcap)
            download_buttons(level1, "classic_hierarchy", L, prep=prep)
            level1 = level1.assign(first_level=level1["first_level"].map(lambda a: attr_label(a, L)))
            st.plotly_chart(charts.bar_chart(level1, "first_level", "score", L, t("cl_level_scores", L),
                                             ytitle=t("axis_score", L), yrange=(0, 100)), key="cl_h_chart")
            show_table(level1, L)
            download_buttons(items_t, "classic_hierarchy_items", L, prep=prep)
            items_t = items_t.assign(first_level=items_t["first_level"].map(lambda a: attr_label(a, L)))
            show_table(items_t, L)
        except CSIError as e:
            friendly_error(e, L)

with tab_f:
    sticky("cl_op", "weighted_average")
    op = st.radio(t("cl_operator", L), ("weighted_average", "max_min"), horizontal=True,
                  format_func=lambda o: t(f"cl_op_{o}", L), key="cl_op")
    try:
        if hierarchy or expert:
            fz, wcap, _ = _with_weights(lambda h, top: classic.fuzzy_evaluation(
                frame, h, scales, operator=op, weights=weights, first_level_weights=top))
        else:
            fz, wcap = classic.fuzzy_evaluation(frame, {i: 1.0 for i in rating["item"]}, scales, operator=op,
                                                weights=weights), ""
        from csi.analytics.scales import BANDS

        gv = fz.grade_vector
        band_lab = {b.key: (b.label_zh if L == "zh" else b.label_en) for b in BANDS}
        c1, c2 = st.columns(2)
        c1.metric(t("cl_fuzzy_score", L), f"{fz.score:.1f}")
        c2.metric(t("cl_fuzzy_grade", L), band_lab.get(fz.grade, fz.grade))
        st.caption(t("ex_fuzzy", L) + " " + counted + (" " + wcap if wcap else ""))
        import pandas as pd

        shares = pd.DataFrame({"label_en": [b.label_en for b in BANDS], "label_zh": [b.label_zh for b in BANDS],
                               "share": [float(gv[b.key]) for b in BANDS]})
        st.plotly_chart(charts.bands_chart(shares, L, title=t("cl_fuzzy_vector", L)), key="cl_f_chart")
        if fz.level1 is not None:
            show_table(fz.level1, L)
            download_buttons(fz.level1, "classic_fuzzy", L, prep=prep)
        show_table(fz.membership, L)
        download_buttons(fz.membership, "classic_fuzzy_membership", L, prep=prep)
    except CSIError as e:
        friendly_error(e, L)

with tab_g:
    try:
        pairs = classic.pairs_from_attributes(dictionary, items=items)
        if not pairs:
            st.info(t("cl_no_pairs", L))
        else:
            gaps = classic.expectation_gap(frame, pairs, scales, weights)
            st.caption(t("ex_gap", L) + " " + counted)
            download_buttons(gaps, "classic_gaps", L, prep=prep)
            gaps = gaps.assign(attribute=gaps["attribute"].map(lambda a: attr_label(a, L)))
            st.plotly_chart(charts.bar_chart(gaps, "attribute", "gap", L, t("cl_gaps", L),
                                             ytitle=t("axis_gap", L)), key="cl_g_chart")
            show_table(gaps, L)
    except CSIError as e:
        friendly_error(e, L)

with tab_r:
    try:
        labels = dict(zip(dictionary["item"], dictionary[text_col]))
        constructs = dict(zip(dictionary["item"], dictionary["construct"]))
        rk = classic.item_ranking(frame, scales, labels=labels, weights=weights, constructs=constructs,
                                  items=list(rating["item"]))
        st.caption(t("ex_ranking", L) + " " + counted)
        show_table(rk, L)
        download_buttons(rk, "classic_item_ranking", L, prep=prep)
    except CSIError as e:
        friendly_error(e, L)

with tab_sq:
    sq_table = classic_service.servqual_tab(prep, wave, frame, weights, L, counted)
with tab_ig:
    classic_service.importance_gap_tab(sq_table, L)
with tab_ic:
    classic_service.iceberg_tab(prep, L)
with tab_ahp:
    classic_service.ahp_tab(L, hierarchy)
classic_service.flash()
with tab_au:  # mystery-shopping audits (app_pages/classic_audit.py)
    from app_pages import classic_audit

    classic_audit.audit_tab(prep, sel, wave, L)
