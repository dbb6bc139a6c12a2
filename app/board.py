"""The board brief (PPTX, PDF) and the HTML report as downloads, for every signed-in role.

Executives read the Overview; the brief is theirs to take to a board, so the Overview offers it as well
as the researchers' Downloads page. Both build the same engine report as `python -m csi report` /
`python -m csi brief` for the sidebar's selection (which carries the user's brand scope): the headline
numbers equal the Overview's (same prepared selection, same fits). Built on click, once per selection
and bootstrap state (the brand comparison and classic views take a few seconds).
"""
from __future__ import annotations

import streamlit as st

from app import state
from app.i18n import t
from csi.report.html import report_html


def _engine_report(sel):
    from csi.report.build import build_report as engine_report

    prep = state.prepared(sel)
    B = state.overview_bootstrap()
    wjob = state.boot_job(sel, ("waves",), B, start=False) if B >= 2 else None
    bjob = state.boot_job(sel, ("brands",), B, start=False) if B >= 2 else None
    fits = wjob.result if wjob is not None and wjob.state == "done" else state.point_fits(sel, ("waves",))
    bfits = (bjob.result if bjob is not None and bjob.state == "done" else
             state.point_fits(sel, ("brands",)) if prep.brand_column is not None else {})
    key = ("csi_engine_report", sel.path, sel.version, tuple(sel.waves), tuple(sel.filters), sel.model, sel.syntax,
           sel.method, bool(sel.weighted), id(fits), id(bfits))
    memo = st.session_state.get("_dl_engine_report")
    if memo is None or memo[0] != key:
        rep = engine_report(None, prepared=prep, fits=fits, brand_fit_map=bfits, segments=(),
                            cache=state.fit_cache(sel.path))
        memo = (key, rep)
        st.session_state["_dl_engine_report"] = memo
    return memo[1]


def _brief(sel, L: str, fmt: str) -> bytes:
    from csi.report.brief import brief_content

    b = brief_content(_engine_report(sel), L)
    if fmt == "pptx":
        from csi.report.brief_pptx import render_pptx
        return render_pptx(b)
    from csi.report.brief_pdf import render_pdf
    return render_pdf(b)


def board_downloads(sel, L: str, stamp: str, key: str = "dl") -> None:
    """The brief's heading, its note and three buttons (PPTX, PDF, HTML report)."""
    st.subheader(t("dl_brief", L))
    st.caption(t("dl_brief_note", L))
    c1, c2, c3 = st.columns(3)
    c1.download_button(t("dl_brief_pptx", L), lambda: _brief(sel, L, "pptx"), file_name=f"csi_brief_{stamp}_{L}.pptx",
                       mime="application/vnd.openxmlformats-officedocument.presentationml.presentation",
                       key=f"{key}_brief_pptx", on_click="ignore")
    c2.download_button(t("dl_brief_pdf", L), lambda: _brief(sel, L, "pdf"), file_name=f"csi_brief_{stamp}_{L}.pdf",
                       mime="application/pdf", key=f"{key}_brief_pdf", on_click="ignore")
    c3.download_button(t("dl_report", L), lambda: report_html(_engine_report(sel), L).encode("utf-8"),
                       file_name=f"csi_report_{stamp}_{L}.html", mime="text/html", key=f"{key}_report",
                       on_click="ignore")
