"""Service-quality tabs of the Classic views page: RATER/SERVQUAL gaps, managers' vs customers' importance, the
complaints iceberg and AHP weights. Functions only (called from app_pages/classic.py); the numbers come from
csi.analytics.servqual / iceberg / ahp, the strings from csi.text.i18n."""
from __future__ import annotations

import json

import pandas as pd
import streamlit as st

from app import charts, state
from app.i18n import construct_label, t
from app.downloads import download_buttons
from app.ui import friendly_error, item_names_of, show_table
from csi.errors import CSIError


def _fmt(v: float, nd: int = 2) -> str:
    return "–" if v is None or v != v else f"{v:.{nd}f}"


def _customer_dims(frame: pd.DataFrame, scales: dict, weights) -> pd.DataFrame:
    from csi.analytics.servqual import servqual_table

    return servqual_table(frame, scales, weights=weights)


def wave_scales(prep, wave: str) -> dict:
    tab = prep.scales[prep.scales["wave"].astype(str) == str(wave)]
    return {str(r.item): (float(r.scale_min), float(r.scale_max)) for r in tab.itertuples(index=False)}


def servqual_tab(prep, wave: str, frame: pd.DataFrame, weights, L: str, counted: str) -> pd.DataFrame | None:
    """Gap per dimension and item, the model importance; returns the SERVQUAL table (None without RATER items)."""
    from csi.analytics.servqual import servqual_pairs

    if not [p for p in servqual_pairs(frame.columns) if frame[p[2]].notna().any()]:
        st.info(t("sq_no_items", L))
        return None
    try:
        tab = _customer_dims(frame, wave_scales(prep, wave), weights)
    except CSIError as e:
        friendly_error(e, L)
        return None
    dims = tab[tab["level"] == "dimension"].copy()
    dims["dimension_label"] = [construct_label(d, L) for d in dims["dimension"]]
    st.markdown(t("sq_story", L, gap=construct_label(dims.set_index("dimension")["gap"].idxmin(), L),
                  imp=construct_label(dims.set_index("dimension")["importance"].idxmax(), L)))
    st.caption(t("ex_servqual", L) + " " + counted)
    c1, c2 = st.columns(2)
    c1.plotly_chart(charts.bar_chart(dims, "dimension_label", "gap", L, t("sq_gap_chart", L),
                                     ytitle=t("axis_gap", L)), key="cl_sq_gap")
    c2.plotly_chart(charts.bar_chart(dims, "dimension_label", "importance", L, t("sq_importance_chart", L)),
                    key="cl_sq_imp")
    download_buttons(tab, "classic_servqual", L, prep=prep)
    names = item_names_of()  # the item's short question text, never its code (relper1)
    shown = tab.assign(dimension=[construct_label(d, L) for d in tab["dimension"]],
                       item=[(names.get(p, (p, p))[1 if L == "zh" else 0] if lvl == "item" else None)
                             for lvl, p in zip(tab["level"], tab["perception_item"])])
    keep = [c for c in shown.columns if c not in ("level", "expectation_item", "perception_item")]
    show_table(shown[shown["level"] == "dimension"][[c for c in keep if c != "item"]], L)
    show_table(shown[shown["level"] == "item"][[c for c in keep if not c.startswith("importance")]], L)
    return tab


def may_write() -> bool:
    """Whether the signed-in user may change the store's settings (the Data page's role: analysts)."""
    from app import auth

    return "data" in auth.user_pages(auth.current_user())


def _save_setting(L: str, key: str, text: str | None, detail: dict, flash: str) -> None:
    """Store setting ``key`` (None removes it) in one audited write, role checked again; rerun with ``flash``."""
    from app import auth
    from csi.data import store

    auth.require("data", L)
    try:
        with state.writer(state.db_path(), action="settings", detail={"setting": key, **detail}) as con:
            store.set_setting(con, key, text)
    except CSIError as e:
        friendly_error(e, L)
        return
    st.session_state["cl_flash"] = flash
    st.rerun()


def flash() -> None:
    if "cl_flash" in st.session_state:
        st.success(st.session_state.pop("cl_flash"))


def _management_survey(L: str):
    """(survey, caption): an upload of this session (which an analyst may save to the store), else the stored
    survey, else the demo's; (None, None)."""
    from csi.analytics import servqual

    kind = st.radio(t("ig_kind", L), ("rating", "rank"), horizontal=True, key="cl_ig_kind",
                    format_func=lambda k: t(f"ig_kind_{k}", L))
    up = st.file_uploader(t("ig_upload", L), type=["csv", "xlsx"], key="cl_ig_file")
    if up is not None:
        survey = servqual.read_management_survey(up.getvalue(), kind=kind, file=up.name)  # validated like the CLI's
        if may_write() and st.button(t("ig_save", L), key="cl_ig_save"):
            _save_setting(L, servqual.SETTING_KEY, servqual.dump_survey(survey),
                          {"file": up.name, "managers": int(len(survey))}, t("ig_saved", L, n=len(survey)))
        return survey, t("ig_uploaded", L, n=len(survey))
    path = state.db_path()
    conf = state.settings(path, state.data_version(path), (servqual.SETTING_KEY, "demo_seed"))
    stored = servqual.load_survey(conf.get(servqual.SETTING_KEY))
    if stored is not None:
        return stored, t("ig_stored", L, n=len(stored))
    if conf.get("demo_seed") is not None:
        from csi.data.demo import management_survey

        survey = servqual.read_management_survey(management_survey(int(conf["demo_seed"])), file="demo")
        return survey, t("ig_demo", L, n=len(survey))
    return None, None


def importance_gap_tab(servqual_table: pd.DataFrame | None, L: str) -> None:
    """Managers' importance beside the customers' (the SERVQUAL model's paths): ρ and the disagreements."""
    from csi.analytics.servqual import importance_gap, management_importance

    if servqual_table is None:
        st.info(t("sq_no_items", L))
        return
    try:
        survey, caption = _management_survey(L)
        if survey is None:
            st.info(t("ig_none", L))
            return
        cust = servqual_table[servqual_table["level"] == "dimension"].set_index("dimension")["importance"]
        gap = importance_gap(management_importance(survey), cust)
    except CSIError as e:
        friendly_error(e, L)
        return
    st.caption(caption)
    for r in gap[gap["verdict"] != "agrees"].head(2).itertuples(index=False):
        st.markdown("- " + t(f"ig_{r.verdict}", L, dim=construct_label(r.dimension, L)))
    st.markdown(t("ig_rho", L, rho=_fmt(gap.attrs["spearman_rho"]), p=_fmt(gap.attrs["spearman_p"], 3),
                  k=gap.attrs["k"]))
    st.caption(t("ex_importance_gap", L))
    shown = gap.assign(verdict=[t(f"ig_{v}", L, dim=construct_label(d, L)) for v, d in zip(gap["verdict"],
                                                                                            gap["dimension"])],
                       dimension=[construct_label(d, L) for d in gap["dimension"]])
    show_table(shown.drop(columns=["label", "finding"]), L)
    download_buttons(gap, "classic_importance_gap", L)


def iceberg_tab(prep, L: str) -> None:
    """Silent dissatisfied customers per wave from the complaint rate, ratio and customer base adjustable."""
    from csi.analytics.iceberg import DEFAULT_RATIO, complaints_iceberg
    from csi.report.build import complaints_table

    try:
        comp = complaints_table(prep)
    except CSIError as e:
        friendly_error(e, L)
        return
    if comp is None or not len(comp):
        st.info(t("ic_none", L))
        return
    c1, c2 = st.columns(2)
    ratio = c1.number_input(t("ic_ratio", L), min_value=1.0, max_value=1000.0, value=DEFAULT_RATIO, step=1.0,
                            key="cl_ic_ratio")
    base = c2.number_input(t("ic_base", L), min_value=0, value=0, step=1000, key="cl_ic_base")
    try:
        ice = complaints_iceberg(comp, ratio, customer_base=float(base) if base > 0 else None)
    except CSIError as e:
        friendly_error(e, L)
        return
    last = ice.iloc[-1]
    m1, m2, m3 = st.columns(3)
    m1.metric(t("ic_rate", L), f"{100 * last['complaint_rate']:.1f}%")
    m2.metric(t("ic_silent", L), f"{100 * last['silent_share']:.1f}%",
              help=f"{100 * last['silent_ci_low']:.1f}% – {100 * last['silent_ci_high']:.1f}%")
    m3.metric(t("ic_handling", L), _fmt(last["handling_index"], 1))
    if bool(ice["capped"].any()):
        st.warning(t("ic_capped", L))
    st.caption(t("ex_iceberg", L) + " " + t("ic_source", L))
    show_table(ice.drop(columns=[c for c in ("customer_base",) if base <= 0]), L)
    download_buttons(ice, "classic_complaints_iceberg", L, {"ratio": ratio, "customer_base": base}, prep=prep)


_AHP_EXAMPLE = ",A,B,C\nA,1,3,5\nB,1/3,1,2\nC,1/5,1/2,1\n"


def _stored_expert_text() -> str | None:
    from csi.analytics import ahp

    path = state.db_path()
    return state.settings(path, state.data_version(path), (ahp.SETTING_KEY,)).get(ahp.SETTING_KEY)


def expert_weights(L: str):
    """The stored expert weights as ``(hierarchy, first_level_weights, caption)`` (csi.analytics.ahp.load_setting,
    the report's reader), or None when none are stored. A damaged setting raises :class:`CSIError`."""
    from csi.analytics import ahp

    text = _stored_expert_text()
    if not text:
        return None
    hierarchy, top, record = ahp.load_setting(text)
    crs = [lvl["ahp"]["cr"] for lvl in (record["first_level"], *record["items"].values())
           if lvl.get("ahp") and lvl["ahp"].get("cr") == lvl["ahp"].get("cr")]
    how = t("cl_weights_ahp", L, cr=_fmt(max(crs), 2)) if crs else t("cl_weights_direct", L)
    return hierarchy, top, t("cl_weights_expert", L, how=how)


def _default_config(hierarchy) -> dict:
    """Equal expert weights over the dictionary's hierarchy: a starting point to edit."""
    h = hierarchy or {}
    return {"first_level": {"weights": {a: 1.0 / len(h) for a in h}},
            "items": {a: {"weights": {i: 1.0 / len(w) for i in w}} for a, w in h.items()}}


def _expert_editor(L: str, matrix, allow: bool, hierarchy) -> None:
    """Enter or upload a study's expert weights (JSON, each level direct or an AHP matrix) and save them,
    validated by csi.analytics.ahp (CR ≥ 0.10 refused unless the override is ticked)."""
    from csi.analytics import ahp

    st.markdown(f"**{t('ahp_expert_title', L)}**")
    st.caption(t("ahp_expert_help", L))
    stored = _stored_expert_text()
    start = json.loads(stored) if stored else _default_config(hierarchy)
    text = st.text_area(t("ahp_expert_json", L), value=json.dumps(start, ensure_ascii=False, indent=1),
                        height=220, key="cl_ahp_expert_text")
    up = st.file_uploader(t("ahp_expert_upload", L), type=["json"], key="cl_ahp_expert_file")
    use_matrix = matrix is not None and st.checkbox(t("ahp_use_matrix", L), key="cl_ahp_use_matrix")
    c1, c2 = st.columns(2)
    if c1.button(t("ahp_expert_save", L), key="cl_ahp_expert_save"):
        try:
            config = json.loads(up.getvalue().decode("utf-8-sig") if up is not None else text)
        except (ValueError, UnicodeDecodeError) as e:
            st.error(t("ahp_expert_bad_json", L, msg=str(e)))
            return
        if not isinstance(config, dict):
            st.error(t("ahp_expert_bad_json", L, msg="{...}"))
            return
        if use_matrix:
            config["first_level"] = {"matrix": matrix.to_numpy(float).tolist(), "names": list(matrix.columns)}
        if allow:
            config["allow_inconsistent"] = True
        else:
            config.pop("allow_inconsistent", None)
        try:
            setting = ahp.dump_setting(config)  # validates: sums to 1 per level, AHP CR < 0.10 unless allowed
        except CSIError as e:
            friendly_error(e, L)
            return
        _save_setting(L, ahp.SETTING_KEY, setting, {"source": "dashboard"}, t("ahp_expert_saved", L))
    if stored and c2.button(t("ahp_expert_clear", L), key="cl_ahp_expert_clear"):
        _save_setting(L, ahp.SETTING_KEY, None, {"source": "dashboard"}, t("ahp_expert_cleared", L))


def ahp_tab(L: str, hierarchy=None) -> None:
    """Weights, λmax, CI and CR of a pairwise matrix typed or pasted as CSV; analysts store expert weights."""
    from csi.analytics.ahp import ahp_weights, read_matrix_csv

    text = st.text_area(t("ahp_matrix", L), value=_AHP_EXAMPLE, height=140, key="cl_ahp_text")
    allow = st.checkbox(t("ahp_allow", L), key="cl_ahp_allow")
    matrix = None
    try:
        matrix = read_matrix_csv("matrix.csv", text=text)
        res = ahp_weights(matrix, allow_inconsistent=allow)
    except CSIError as e:
        friendly_error(e, L)
        if may_write():
            _expert_editor(L, None, allow, hierarchy)
        return
    st.markdown(t("ahp_result", L, lam=_fmt(res.lambda_max, 3), ci=_fmt(res.ci, 3), cr=_fmt(res.cr, 3),
                  ri=_fmt(res.ri, 2)))
    st.caption(t("ahp_consistent", L) if res.consistent else t("ahp_inconsistent", L))
    w = pd.DataFrame({t("ahp_criterion", L): list(res.weights), t("ahp_weight", L): list(res.weights.values())})
    st.dataframe(w.style.format({t("ahp_weight", L): "{:.3f}"}), hide_index=True)
    download_buttons(w, "classic_ahp", L, {"matrix": text, "lambda_max": res.lambda_max, "cr": res.cr})
    st.caption(t("ex_ahp", L))
    if may_write():
        st.divider()
        _expert_editor(L, matrix, allow, hierarchy)
