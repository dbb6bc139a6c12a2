"""Data (analysts): upload → preview → map → validate → commit; rename/delete waves; item dictionary.

Nothing is written until the analyst presses commit; a failed commit writes nothing
(csi.ingest.ingest_frame is one transaction) and shows the problems as a table.
The role is checked again before every write, not only by the navigation.
"""
from __future__ import annotations

import hashlib

import pandas as pd
import streamlit as st

from app import auth, editors, state
from app.i18n import t
from app.ui import friendly_error, friendly_text, lang, problems_frame, selection, show_table
from csi.errors import CSIError

L = lang()
auth.require("data", L)
sel = selection()

st.title(t("da_title", L))
tab_up, tab_waves, tab_dict, tab_trash, tab_audit = st.tabs(
    [t("da_upload", L), t("da_waves", L), t("da_dictionary", L), t("da_trash", L), t("da_audit", L)])

IGNORE, SEGMENT, EXTRA = "__ignore__", "__segment__", "__extra__"
TEXT = "__text__"  # an open-text column stored as verbatims (csi.data.ingest: text_columns)
# csi.data.ingest.decode_text's encoding names → translation keys
_ENCODING_KEYS = {"utf-8": "da_enc_utf8", "utf-8-sig": "da_enc_utf8_bom", "utf-16": "da_enc_utf16",
                  "gb18030": "da_enc_gb18030", "cp1252": "da_enc_cp1252"}


@st.cache_data(max_entries=4, show_spinner=False)
def _read(data: bytes, name: str) -> pd.DataFrame:
    from csi.data.ingest import read_survey

    return read_survey(data, name, max_per_kind=None)  # every problem, so the page can list them all


def _auto_target(column: str, codes: set[str], known: set[str], series: pd.Series | None = None) -> str:
    from csi.data.ingest import ID_NAMES, looks_like_text, text_name

    norm = column.strip().lower()
    if norm in codes:
        return norm
    if norm in {c.lower() for c in ID_NAMES}:
        return IGNORE  # the id column is found by csi.ingest itself; it is never an item
    if text_name(column):  # the ingest's order: a comment-like name before a segment stored earlier
        return TEXT
    if norm in known or column.strip() in known:
        return SEGMENT
    if series is not None and looks_like_text(series):
        return TEXT
    return EXTRA  # neither item nor known segment: not stored unless the analyst keeps it


def _problem_list(problems, key: str) -> None:
    """Every problem as a table (scrollable) and as a CSV download of all of them; the counts are true."""
    from csi.data.ingest import count_problems

    errors, warnings = count_problems(problems, "error"), count_problems(problems, "warning")
    table = problems_frame(problems, L)
    st.caption(t("da_problem_counts", L, errors=errors, warnings=warnings, listed=len(table)))
    st.dataframe(table, hide_index=True)
    st.download_button(t("da_problems_csv", L, n=len(table)), table.to_csv(index=False).encode("utf-8-sig"),
                       file_name="problems.csv", mime="text/csv", key=key)


# ------------------------------------------------------------------ upload
with tab_up:
    # a fresh uploader after each commit (Streamlit cannot clear one otherwise)
    up = st.file_uploader(t("da_upload", L), type=["csv", "xlsx", "sav"],
                          key=f"da_file_{st.session_state.get('da_generation', 0)}")
    if up is not None:
        data = up.getvalue()
        raw = None
        try:
            raw = _read(data, up.name)
        except CSIError as e:
            st.error(t("da_read_failed", L, msg=friendly_text(e, L)))
            if getattr(e, "problems", None):
                _problem_list(e.problems, "da_read_problems_csv")
        except Exception as e:  # an unreadable upload is the user's file, not our bug: say so plainly
            st.error(t("da_read_failed", L, msg=type(e).__name__))
        if raw is not None:
            st.caption(t("da_preview", L) + f" · {len(raw):,} × {raw.shape[1]}")
            st.dataframe(raw.head(8), hide_index=True)

            dictionary = state.item_dictionary(sel.path, sel.version)
            codes = [str(c) for c in dictionary["item"]]
            from csi.data.ingest import ID_NAMES, known_segments

            with state.reading(sel.path) as con:
                known = known_segments(con)
            id_like = {c.lower() for c in ID_NAMES}
            map_cols = [c for c in raw.columns if str(c).strip().lower() not in id_like]
            st.subheader(t("da_mapping", L))
            st.caption(t("da_mapping_help", L))
            mapping = pd.DataFrame({
                t("da_column", L): [str(c) for c in map_cols],
                t("da_maps_to", L): [_auto_target(str(c), set(codes), known, raw[c]) for c in map_cols],
            })
            labels = {IGNORE: t("da_ignore", L), SEGMENT: t("da_segment", L), EXTRA: t("da_extra", L),
                      TEXT: t("da_text", L), **{c: c for c in codes}}
            edited = st.data_editor(
                mapping, hide_index=True, disabled=[t("da_column", L)], key=f"da_map_{hashlib.sha1(data).hexdigest()[:8]}",
                column_config={t("da_maps_to", L): st.column_config.SelectboxColumn(
                    options=[IGNORE, SEGMENT, TEXT, EXTRA, *codes], required=True, format_func=labels.get)})
            targets = dict(zip(edited[t("da_column", L)], edited[t("da_maps_to", L)]))
            keep = [c for c in raw.columns if targets.get(str(c), "x") != IGNORE]
            column_map = {str(c): (None if targets[str(c)] == SEGMENT else targets[str(c)])
                          for c in raw.columns if targets.get(str(c)) not in (None, IGNORE, EXTRA, TEXT)}
            extras = [str(c) for c in map_cols if targets.get(str(c)) == EXTRA]
            text_columns = [str(c) for c in map_cols if targets.get(str(c)) == TEXT]
            keep_columns: list[str] = []
            if extras:  # not stored unless kept here (the validation warns and names them)
                keep_columns = st.multiselect(t("da_keep_extra", L), extras, help=t("da_keep_extra_help", L),
                                              key=f"da_keep_{hashlib.sha1(data).hexdigest()[:8]}")

            c1, c2, c3 = st.columns(3)
            use_dict = c1.checkbox(t("da_scale_dict", L), value=True, key="da_scale_dict")
            scale = None
            if not use_dict:
                lo = c2.number_input(t("da_scale_min", L), value=1.0, key="da_lo")
                hi = c3.number_input(t("da_scale_max", L), value=10.0, key="da_hi")
                scale = (float(lo), float(hi))
            missing = st.text_input(t("da_missing", L), key="da_missing")
            label = st.text_input(t("da_wave_label", L), key="da_label").strip()

            sha = hashlib.sha256(data).hexdigest()
            frame = raw[keep]
            st.subheader(t("da_validate", L))
            try:
                from csi.data import ingest

                with state.reading(sel.path) as con:
                    report = ingest.validate_frame(con, frame, up.name, scale=scale, missing=missing or None,
                                                   column_map=column_map, sha256=sha, wave=label or None,
                                                   keep_columns=keep_columns, max_per_kind=None,
                                                   text_columns=text_columns)
            except CSIError as e:
                report = None
                friendly_error(e, L)
            if report is not None:
                if report.ok:
                    st.success(t("da_valid_ok", L, n=len(report.frame), items=len(report.items)))
                else:
                    st.error(t("da_valid_bad", L, n=report.error_count))
                enc_key = _ENCODING_KEYS.get(report.summary.get("encoding") or raw.attrs.get("encoding"))
                if enc_key:  # CSV only: XLSX and SAV carry their own text encoding
                    st.caption(t("da_encoding", L, enc=t(enc_key, L)))
                if report.text_columns:  # open-text answers are stored as verbatims, not as segments
                    from app.ui import plain

                    st.info(t("vb_data_texts", L, columns=plain(", ".join(report.text_columns))))
                if report.warnings:
                    st.warning(t("da_warnings", L, n=report.warning_count))
                if report.problems:
                    _problem_list(report.problems, "da_problems_csv")
                if st.button(t("da_commit", L), type="primary", disabled=not report.ok, key="da_commit"):
                    if not label:
                        st.error(t("da_need_label", L))
                    else:
                        auth.require("data", L)  # re-check right before the write
                        try:
                            from app.actions import commit_upload

                            done = commit_upload(sel.path, frame, label, up.name, actor=state.actor(), sha256=sha,
                                                 scale=scale, missing=missing or None, column_map=column_map,
                                                 keep_columns=keep_columns, text_columns=text_columns)
                            state.clear_caches()
                            st.session_state["da_flash"] = t("da_committed", L, wave=done.wave, n=done.n_respondents)
                            st.session_state["da_generation"] = st.session_state.get("da_generation", 0) + 1
                            st.rerun()
                        except CSIError as e:
                            st.error(t("da_commit_failed", L, msg=friendly_text(e, L)))
                            if getattr(e, "problems", None):
                                _problem_list(e.problems, "da_commit_problems_csv")
    if "da_flash" in st.session_state:
        st.success(st.session_state.pop("da_flash"))

# ------------------------------------------------------------------- waves
with tab_waves:
    table = state.waves(sel.path, sel.version)
    show_table(table.drop(columns=[c for c in ("wave_id", "sha256") if c in table.columns]).rename(
        columns={"label": "wave"}), L)
    labels_ = [str(w) for w in table["label"]]
    if labels_:
        c1, c2 = st.columns(2)
        with c1.form("da_rename_form"):
            st.markdown(f"**{t('da_rename', L)}**")
            old = st.selectbox(t("wave", L), labels_, key="da_rename_old")
            new = st.text_input(t("da_rename_to", L), key="da_rename_new")
            if st.form_submit_button(t("da_rename_btn", L)):
                auth.require("data", L)
                try:
                    from csi.data import store

                    with state.writer(sel.path, action="rename", detail={"wave": new.strip(), "from": old}) as con:
                        store.rename_wave(con, old, new)
                    st.session_state["da_flash_w"] = t("da_renamed", L, old=old, new=new.strip())
                    st.rerun()
                except CSIError as e:
                    friendly_error(e, L)
        with c2.form("da_delete_form"):
            st.markdown(f"**{t('da_delete', L)}**")
            victim = st.selectbox(t("wave", L), labels_, key="da_delete_label")
            typed = st.text_input(t("da_delete_confirm", L, label=victim), key="da_delete_typed")
            if st.form_submit_button(t("da_delete_btn", L), type="primary"):
                auth.require("data", L)
                if typed.strip() != victim:
                    st.error(t("da_delete_mismatch", L))
                else:
                    try:
                        from csi.data import store

                        detail = {"wave": victim}
                        with state.writer(sel.path, action="delete", detail=detail) as con:
                            detail["n"] = store.delete_wave(con, victim, by=state.actor())
                        st.session_state["da_flash_w"] = t("da_deleted", L, label=victim)
                        st.rerun()
                    except CSIError as e:
                        friendly_error(e, L)
    if "da_flash_w" in st.session_state:
        st.success(st.session_state.pop("da_flash_w"))
    editors.wave_tools(sel, L, labels_)  # the survey weight, a new wave's template, each wave's raw responses

# -------------------------------------------------------------- dictionary
with tab_dict:
    dictionary = state.item_dictionary(sel.path, sel.version)
    editable = ["text_en", "text_zh", "missing_codes", "attribute"]
    from app.i18n import TEXT

    # headers in the page language; the edited frame keeps the store's column names
    edited = st.data_editor(dictionary, hide_index=True, key="da_dict_editor",
                            disabled=[c for c in dictionary.columns if c not in editable],
                            column_config={c: t(f"col_{c}", L) for c in dictionary.columns if f"col_{c}" in TEXT})
    if st.button(t("da_dict_save", L), key="da_dict_save"):
        auth.require("data", L)
        before = dictionary.set_index("item")[editable]
        after = edited.set_index("item")[editable]
        changed = [i for i in after.index
                   if not before.loc[i].fillna("").astype(str).equals(after.loc[i].fillna("").astype(str))]
        if not changed:
            st.info(t("da_dict_nochange", L))
        else:
            try:
                from csi.data import store

                changes = {item: {c: (None if pd.isna(after.loc[item, c]) else str(after.loc[item, c]))
                                  for c in editable} for item in changed}
                with state.writer(sel.path, action="dictionary", detail={"items": changed}) as con:
                    store.update_items(con, changes)  # one transaction: every edit is saved, or none
                st.session_state["da_flash_d"] = t("da_dict_saved", L, n=len(changed))
                st.rerun()
            except CSIError as e:
                friendly_error(e, L)
    if "da_flash_d" in st.session_state:
        st.success(st.session_state.pop("da_flash_d"))

# ------------------------------------------------------------------- trash (deleted waves and audit periods)
with tab_trash:
    from csi.data import store
    from csi.data.audit import restore_audit

    with state.reading(sel.path) as con:
        trash = store.list_trash_all(con)  # kind (wave / audit period), label, deleted_by, deleted_at, n, trash_id
        live_periods = set(store.audit_period_labels(con))
    if trash.empty:
        st.info(t("da_trash_empty", L))
    else:
        st.caption(t("da_trash_help", L))
        kinds = {"wave": t("wave", L), "audit period": t("au_period", L)}
        show_table(trash[["kind", "label", "deleted_by", "deleted_at", "n"]].assign(
            kind=trash["kind"].map(kinds)).rename(columns={
                "kind": t("da_trash_kind", L), "label": t("da_trash_label", L), "deleted_by": t("da_deleted_by", L),
                "deleted_at": t("da_deleted_at", L), "n": t("da_trash_n", L)}), L)
        waves = trash[trash["kind"] == "wave"]
        if len(waves):
            with st.form("da_restore_form"):
                back = st.selectbox(t("wave", L), list(dict.fromkeys(str(x) for x in waves["label"])),
                                    key="da_restore_label")
                if st.form_submit_button(t("da_restore_btn", L)):
                    auth.require("data", L)  # re-check right before the write
                    try:
                        detail = {"wave": back}
                        with state.writer(sel.path, action="restore", detail=detail) as con:
                            detail["n"] = store.restore_wave(con, back)
                        st.session_state["da_flash_t"] = t("da_restored", L, label=back, n=detail["n"])
                        st.rerun()
                    except CSIError as e:
                        friendly_error(e, L)
        periods = trash[trash["kind"] == "audit period"]
        if len(periods):  # every trashed version (a label deleted or replaced twice is listed twice), newest first
            entries = {int(r.trash_id): r for r in periods.itertuples(index=False)}

            def _entry(tid: int) -> str:
                r = entries[tid]
                return t("da_trash_audit_option", L, label=r.label, by=r.deleted_by or "?", n=int(r.n),
                         at=pd.Timestamp(r.deleted_at).strftime("%Y-%m-%d %H:%M UTC"))

            with st.form("da_restore_audit_form"):
                tid = st.selectbox(t("da_trash_audit_pick", L), list(entries), format_func=_entry,
                                   key="da_restore_audit_id")
                swap = st.checkbox(t("da_restore_audit_replace", L), key="da_restore_audit_replace")
                if st.form_submit_button(t("da_restore_audit_btn", L)):
                    auth.require("data", L)  # re-check right before the write
                    label = str(entries[tid].label)
                    if label in live_periods and not swap:
                        st.error(t("da_restore_audit_taken", L, label=label))
                    else:
                        try:
                            detail: dict = {"audit_period": label, "trash_id": tid}
                            with state.writer(sel.path, action="restore-audit", detail=detail) as con:
                                restore_audit(con, label, trash_id=tid, replace=swap, by=state.actor(),
                                              detail=detail)
                            st.session_state["da_flash_t"] = t(
                                "da_audit_restored_swap" if detail["replaced"] else "da_audit_restored", L,
                                label=label, n=detail["rows"])
                            st.rerun()
                        except CSIError as e:
                            friendly_error(e, L)
    if "da_flash_t" in st.session_state:
        st.success(st.session_state.pop("da_flash_t"))

# ------------------------------------------------------------------- audit log (who changed what, when)
with tab_audit:
    from csi.data import store

    with state.reading(sel.path) as con:
        log = store.audit_log(con, limit=200)
    if log.empty:
        st.info(t("da_audit_empty", L))
    else:
        st.caption(t("da_audit_help", L, n=len(log)))
        st.dataframe(log[["at_utc", "actor", "action", "wave", "detail"]].rename(columns={
            "at_utc": t("da_audit_when", L), "actor": t("da_audit_who", L), "action": t("da_audit_what", L),
            "wave": t("wave", L), "detail": t("da_audit_detail", L)}), hide_index=True)
editors.settings_editors(sel, L)  # targets and segment labels, kept with the dictionary (app/editors.py)

# ------------------------------------------------------------------- mystery-shopping audit import (classic_audit.py)
with tab_up:
    with st.expander(t("au_upload", L)):
        from app_pages import classic_audit

        classic_audit.audit_upload(sel, L)
