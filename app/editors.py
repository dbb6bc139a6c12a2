"""Analysts' editors of the store's settings that the dictionary and the report read: targets per construct (and
NPS) and the display labels of segment names and values. The Data page calls :func:`settings_editors`.

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
from .ui import friendly_error

_NPS = "NPS"


@st.cache_data(max_entries=8, show_spinner=False)
def segment_catalogue(path: str, version: str) -> dict[str, list[str]]:
    """Every stored segment column and its distinct values (weights excluded: not a label to translate)."""
    from csi.data import store
    from csi.data.ingest import WEIGHT_NAMES

    weights = {w.lower() for w in WEIGHT_NAMES}
    with state.reading(path) as con:
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


def settings_editors(sel, lang: str) -> None:
    """The Data page's editors of targets and segment labels (analysts)."""
    st.divider()
    st.subheader(t("ed_title", lang))
    left, right = st.columns([2, 3])
    with left:
        targets_editor(sel, lang)
    with right:
        segment_labels_editor(sel, lang)
    if "ed_flash" in st.session_state:
        st.success(st.session_state.pop("ed_flash"))
