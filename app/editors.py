"""Analysts' editors of the store's settings that the dictionary and the report read: targets per construct (and
NPS), the display labels of segment names and values, and merged segment values (``segment_recodes``,
csi.data.recodes: East = 华东, applied in every view by csi.data.store). The Data page calls
:func:`settings_editors`, and :func:`wave_tools` on its waves tab (the survey weight's summary, the template of
a new wave and each wave's raw responses, csi.data.templates).

Both are kept with the existing settings API (``csi.data.store.get_setting`` / ``set_setting``): ``targets`` as
JSON ``{"SAT": 75, "NPS": 20}`` (the same setting ``python -m csi target`` writes) and ``segment_labels`` as JSON
(``csi.model.dictionary.parse_segment_labels``). The role is checked again before each write.
"""
from __future__ import annotations

import json

import pandas as pd
import streamlit as st

from csi.errors import CSIError

from . import auth, state
from .i18n import TEXT, construct_label, t
from .ui import friendly_error, show_table

_NPS = "NPS"


@st.cache_data(max_entries=8, show_spinner=False)
def segment_catalogue(path: str, version: str) -> dict[str, list[str]]:
    """Every stored segment column and its distinct values (weights excluded: not a label to translate)."""
    from csi.data import store
    from csi.data.ingest import WEIGHT_NAMES

    weights = {w.lower() for w in WEIGHT_NAMES}
    with state.reading(path, version) as con:
        cols = [c for c in store.segment_columns(con) if c.lower() not in weights]
        return {c: sorted(str(v) for v in store.segment_values(con, c)) for c in cols}


def _targets_frame(targets: dict[str, float], lang: str) -> pd.DataFrame:
    from csi.model.dictionary import CONSTRUCT_LABELS

    codes = [*CONSTRUCT_LABELS, _NPS]
    return pd.DataFrame({"code": codes,
                         "name": [t("ov_nps", lang) if c == _NPS else construct_label(c, lang) for c in codes],
                         "target": [targets.get(c) for c in codes]})


def targets_editor(sel, lang: str) -> None:
    """Targets per construct (0–100) and NPS (−100–100); a blank cell means no target."""
    from csi.report.build import parse_targets

    st.markdown(f"**{t('ed_targets', lang)}**")
    st.caption(t("ed_targets_help", lang))
    try:
        current = parse_targets(state.settings(sel.path, sel.version, ("targets",)).get("targets"))
    except CSIError:  # a malformed stored setting: say so, offer a clean editor
        st.warning(t("ed_targets_bad", lang))
        current = {}
    frame = _targets_frame(current, lang)
    edited = st.data_editor(frame, hide_index=True, key="ed_targets", disabled=["code", "name"],
                            column_order=["name", "target"],
                            column_config={"name": st.column_config.TextColumn(t("ed_col_measure", lang)),
                                           "target": st.column_config.NumberColumn(t("ed_col_target", lang),
                                                                                   min_value=-100.0, max_value=100.0,
                                                                                   step=0.5, format="%.1f")})
    if st.button(t("ed_targets_save", lang), key="ed_targets_save"):
        auth.require("data", lang)
        new, bad = {}, []
        for code, value in zip(edited["code"], edited["target"]):
            if value is None or pd.isna(value):
                continue
            lo = -100.0 if code == _NPS else 0.0
            if not lo <= float(value) <= 100.0:
                bad.append(code)
            new[code] = float(value)
        if bad:
            st.error(t("ed_targets_range", lang, names="、".join(construct_label(c, lang) if c != _NPS else
                                                                  t("ov_nps", lang) for c in bad)))
            return
        if new == current:
            st.info(t("da_dict_nochange", lang))
            return
        from csi.data import store

        try:
            with state.writer(sel.path, action="targets", detail={"targets": new}) as con:
                store.set_setting(con, "targets", json.dumps(new, sort_keys=True) if new else None)
            st.session_state["ed_flash"] = t("ed_targets_saved", lang, n=len(new))
            st.rerun()
        except CSIError as e:
            friendly_error(e, lang)


def _labels_frame(catalogue: dict[str, list[str]], labels: dict) -> pd.DataFrame:
    from csi.model.dictionary import humanize

    rows = []
    for seg, values in catalogue.items():
        en, zh = labels["names"].get(seg, (humanize(seg), ""))
        rows.append({"kind": "name", "segment": seg, "value": "", "label_en": en, "label_zh": zh})
        for v in values:
            en, zh = labels["values"].get(seg, {}).get(v, (v, ""))
            rows.append({"kind": "value", "segment": seg, "value": v, "label_en": en, "label_zh": zh})
    return pd.DataFrame(rows, columns=["kind", "segment", "value", "label_en", "label_zh"])


def segment_labels_editor(sel, lang: str) -> None:
    """Display labels (English and Chinese) of every segment name and value; kept with the dictionary."""
    from csi.model import dictionary as dic

    st.markdown(f"**{t('ed_labels', lang)}**")
    st.caption(t("ed_labels_help", lang))
    catalogue = segment_catalogue(sel.path, sel.version)
    if not catalogue:
        st.info(t("ed_labels_none", lang))
        return
    text = state.settings(sel.path, sel.version, (dic.SEGMENT_LABELS_KEY,)).get(dic.SEGMENT_LABELS_KEY)
    labels = dic.segment_labels(text)
    frame = _labels_frame(catalogue, labels)
    shown = frame.assign(kind=frame["kind"].map(lambda k: t(f"ed_kind_{k}", lang)))
    cols = {c: t(f"col_{c}", lang) for c in shown.columns if f"col_{c}" in TEXT}
    cols["kind"] = t("ed_col_kind", lang)
    cols["segment"] = t("ed_col_segment", lang)
    cols["value"] = t("ed_col_value", lang)
    cols["label_en"], cols["label_zh"] = t("ed_col_label_en", lang), t("ed_col_label_zh", lang)
    edited = st.data_editor(shown, hide_index=True, key="ed_seg_labels", disabled=["kind", "segment", "value"],
                            column_config=cols)
    if st.button(t("ed_labels_save", lang), key="ed_labels_save"):
        auth.require("data", lang)
        stored = dic.parse_segment_labels(text)
        names, values = dict(stored["names"]), {s: dict(d) for s, d in stored["values"].items()}
        for kind, r in zip(frame["kind"], edited.itertuples(index=False)):
            pair = (str(r.label_en or "").strip(), str(r.label_zh or "").strip())
            if kind == "name":
                default = dic.DEFAULT_SEGMENT_NAMES.get(r.segment, (dic.humanize(r.segment), ""))
                if pair != tuple(default) and any(pair):
                    names[r.segment] = pair
                else:
                    names.pop(r.segment, None)
            else:
                default = dic.DEFAULT_SEGMENT_VALUES.get(r.segment, {}).get(r.value, (r.value, ""))
                if pair != tuple(default) and any(pair):
                    values.setdefault(r.segment, {})[r.value] = pair
                else:
                    values.get(r.segment, {}).pop(r.value, None)
        new = {"names": names, "values": {s: d for s, d in values.items() if d}}
        if new == stored:
            st.info(t("da_dict_nochange", lang))
            return
        from csi.data import store

        try:
            with state.writer(sel.path, action="segment_labels") as con:
                store.set_setting(con, dic.SEGMENT_LABELS_KEY, dic.dump_segment_labels(new))
            st.session_state["ed_flash"] = t("ed_labels_saved", lang)
            st.rerun()
        except CSIError as e:
            friendly_error(e, lang)


@st.cache_data(max_entries=8, show_spinner=False)
def stored_segment_values(path: str, version: str) -> dict[str, list[str]]:
    """Every stored segment (the survey weight excluded) and its distinct values as stored (not merged)."""
    from csi.data import store

    with state.reading(path, version) as con:
        cols = [c for c in store.segment_columns(con) if c != store.WEIGHT_SEGMENT]
        return {c: store.segment_values(con, c, recode=False) for c in cols}


def segment_recodes_editor(sel, lang: str) -> None:
    """Merged segment values: each stored value and what it is shown and analysed as (blank = itself)."""
    from csi.data import recodes, store

    st.markdown(f"**{t('ed_recodes', lang)}**")
    st.caption(t("ed_recodes_help", lang))
    catalogue = stored_segment_values(sel.path, sel.version)
    if not catalogue:
        st.info(t("ed_labels_none", lang))
        return
    try:
        stored = recodes.parse_recodes(state.settings(sel.path, sel.version, (recodes.SETTING_KEY,))
                                       .get(recodes.SETTING_KEY))
    except CSIError as e:  # a damaged setting: say so, offer a clean editor
        st.warning(t("ed_recodes_bad", lang, msg=str(e)))
        stored = {}
    final = recodes.resolved(stored)
    rows = [{"segment": seg, "value": v, "shown_as": final.get(seg, {}).get(v, "")}
            for seg, values in catalogue.items() for v in values]
    frame = pd.DataFrame(rows, columns=["segment", "value", "shown_as"])
    edited = st.data_editor(frame, hide_index=True, key="ed_recodes", disabled=["segment", "value"],
                            column_config={"segment": t("ed_col_segment", lang), "value": t("ed_col_stored", lang),
                                           "shown_as": st.column_config.TextColumn(t("ed_col_shown_as", lang))})
    if st.button(t("ed_recodes_save", lang), key="ed_recodes_save"):
        auth.require("data", lang)
        try:  # validated: no cycle, no empty value, never the weight
            new = recodes.from_table(stored, catalogue, edited[["segment", "value", "shown_as"]].itertuples(index=False))
            text = recodes.dump_recodes(new)
            if (text or None) == (recodes.dump_recodes(stored) or None):
                st.info(t("da_dict_nochange", lang))
                return
            n = sum(len(p) for p in new.values())
            with state.writer(sel.path, action="recode", detail={"setting": recodes.SETTING_KEY}) as con:
                store.set_setting(con, recodes.SETTING_KEY, text)
            st.session_state["ed_flash"] = t("ed_recodes_saved", lang, n=n)
            st.rerun()
        except CSIError as e:
            friendly_error(e, lang)


def settings_editors(sel, lang: str) -> None:
    """The Data page's editors of targets, segment labels and merged segment values (analysts)."""
    st.divider()
    st.subheader(t("ed_title", lang))
    left, right = st.columns([2, 3])
    with left:
        targets_editor(sel, lang)
    with right:
        segment_labels_editor(sel, lang)
    segment_recodes_editor(sel, lang)
    if "ed_flash" in st.session_state:
        st.success(st.session_state.pop("ed_flash"))


# ------------------------------------------------------------------ waves tab: weight, template, raw export
@st.cache_data(max_entries=8, show_spinner=False)
def weight_summary(path: str, version: str) -> pd.DataFrame:
    from csi.data import templates

    with state.reading(path, version) as con:
        return templates.weight_summary(con)


def _file(path: str, version: str, what: str, fmt: str, wave: str | None = None):
    """A download's bytes, made when the button is pressed (Streamlit calls this on its own thread)."""
    def make() -> bytes:
        from csi.data import templates

        with state.reading(path, version) as con:
            return templates.wave_template(con, fmt) if what == "template" else templates.export_wave(con, wave, fmt)
    return make


_MIME = {"csv": "text/csv", "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


def wave_tools(sel, lang: str, labels: list[str]) -> None:
    """The Data page's waves tab: the survey weight (not a segment) with min/mean/max and the effective n, the
    template of a new wave and each wave's raw responses (CSV/XLSX, the inverse of ingest)."""
    st.markdown(f"**{t('wt_title', lang)}**")
    summary = weight_summary(sel.path, sel.version)
    if summary.empty:
        st.caption(t("wt_none", lang))
    else:
        st.caption(t("wt_help", lang))
        show_table(summary, lang)
    st.markdown(f"**{t('wv_files', lang)}**")
    st.caption(t("wv_template_help", lang))
    c1, c2 = st.columns(2)
    for col, fmt in ((c1, "csv"), (c2, "xlsx")):
        col.download_button(t(f"wv_template_{fmt}", lang), _file(sel.path, sel.version, "template", fmt),
                            file_name=f"wave_template.{fmt}", mime=_MIME[fmt], key=f"wv_template_{fmt}")
    if labels:
        st.caption(t("wv_export_help", lang))
        wave = st.selectbox(t("wave", lang), labels, index=len(labels) - 1, key="wv_export_wave")
        c1, c2 = st.columns(2)
        for col, fmt in ((c1, "csv"), (c2, "xlsx")):
            col.download_button(t(f"wv_export_{fmt}", lang, wave=wave), _file(sel.path, sel.version, "export", fmt,
                                                                              wave),
                                file_name=f"{wave}_responses.{fmt}", mime=_MIME[fmt], key=f"wv_export_{fmt}")
