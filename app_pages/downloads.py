"""Downloads (researchers): every table of the current selection as CSV, one Excel workbook, JSON,
construct scores, bootstrap draws, the model in lavaan syntax, the manifest, the board brief (PPTX, PDF) and
the HTML report (the engine's report of the sidebar selection: the Overview's numbers)."""
from __future__ import annotations

import streamlit as st

from app import auth, state
from app.board import board_downloads
from app.downloads import csv_bytes, download_tables, draws_long, json_bytes, jsonable, workbook_bytes
from app.i18n import t
from app.ui import friendly_error, lang, plain, selection, table_title, wait_for, wave_picker
from csi.errors import CSIError, public_message

L = lang()
auth.require("downloads", L)
sel = selection()
st.title(t("dl_title", L))
st.caption(t("dl_intro", L))
wave = wave_picker(sel, L, key="dl_wave")
if wave is None:
    st.stop()

c1, c2, c3 = st.columns([1, 1, 2])
n_boot = c1.number_input(t("bootstrap_n", L), min_value=20, max_value=5000, step=100,
                         value=max(20, state.bootstrap_default()), key="dl_nboot")
seed = c2.number_input(t("seed", L), min_value=0, value=1, step=1, key="dl_seed")
try:
    with st.spinner(t("computing", L)):
        fit = state.full_fit(sel.path, sel.version, sel.waves, sel.filters, sel.model, sel.syntax, sel.method,
                             sel.weighted, wave, 0, 1)
    job = None
    if sel.method == "pls":
        job = state.fit_job(sel, wave, int(n_boot), int(seed), start=False)
        if c3.button(t("run_bootstrap", L), key="dl_run_boot", disabled=job is not None and job.state != "failed"):
            job = state.fit_job(sel, wave, int(n_boot), int(seed))
        if job is not None and wait_for(job, L, what="dl_boot_running"):
            fit = job.result
except CSIError as e:
    friendly_error(e, L)
    st.stop()

extra = state.extra_tables(sel)
try:  # MICOM of the focus brand vs the competitor, as the CLI report's micom.csv (memoised per selection)
    from csi.report.build import micom_table

    research = {"micom": state.engine_table(micom_table, state.prepared(sel))}
except CSIError:
    research = {}
tables = download_tables(fit, extra, research)  # everything the CLI writes: fit tables, model fit, slopes, MICOM
manifest = {**fit.manifest, "app": state.app_manifest(sel, wave)}
stamp = f"{wave}_{sel.model}_{sel.method}"

st.subheader(t("dl_all", L))
c1, c2, c3 = st.columns(3)
c1.download_button(t("dl_workbook", L), lambda: workbook_bytes(tables, manifest, L), file_name=f"csi_{stamp}.xlsx",
                   mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", key="dl_xlsx",
                   on_click="ignore", type="primary")
c2.download_button(t("dl_json", L), lambda: json_bytes(tables, manifest, L), file_name=f"csi_{stamp}.json",
                   mime="application/json", key="dl_json", on_click="ignore")
import json as _json

c3.download_button(t("dl_manifest", L), _json.dumps(jsonable(manifest), ensure_ascii=False, indent=1),
                   file_name=f"manifest_{stamp}.json", mime="application/json", key="dl_manifest", on_click="ignore")
c1, c2, c3 = st.columns(3)


def _report_workbook() -> bytes:
    """The engine report of the selection (the brief's and HTML report's, app/board.py) as the CLI report's
    report.xlsx: every report table (indices, trends, changes, brands, groups, MICOM, NPS, classic views, …)."""
    from app.board import _engine_report

    rep = _engine_report(sel)
    return workbook_bytes(rep.tables, {**rep.manifest, "app": state.app_manifest(sel, wave)}, L)


c1.download_button(t("dl_report_workbook", L), _report_workbook, file_name=f"csi_report_{stamp}.xlsx",
                   mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", key="dl_report_xlsx",
                   on_click="ignore")
c1, c2, c3 = st.columns(3)
if "scores" in fit.tables:
    c1.download_button(t("dl_scores", L), lambda: csv_bytes(fit.tables["scores"]), file_name=f"scores_{stamp}.csv",
                       mime="text/csv", key="dl_scores", on_click="ignore")
if fit.boot is not None:
    c2.download_button(t("dl_draws", L), lambda: csv_bytes(draws_long(fit.boot)), file_name=f"bootstrap_draws_{stamp}.csv",
                       mime="text/csv", key="dl_draws", on_click="ignore")
else:
    c2.caption(t("dl_no_draws", L))
c3.download_button(t("dl_syntax", L), fit.manifest.get("model_syntax", ""), file_name=f"model_{sel.model}.lavaan",
                   mime="text/plain", key="dl_syntax", on_click="ignore")

board_downloads(sel, L, stamp)

st.subheader(t("dl_tables", L))
for name, df in tables.items():
    c1, c2 = st.columns([3, 1])
    c1.markdown(f"**{plain(table_title(name, L))}** · {len(df):,} × {df.shape[1]}")
    c2.download_button("CSV", lambda df=df: csv_bytes(df), file_name=f"{name}_{stamp}.csv", mime="text/csv", key=f"dl_t_{name}",
                       on_click="ignore")
for w in fit.manifest.get("warnings", []):
    st.warning(plain(public_message(w)))
