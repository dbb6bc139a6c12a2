"""The CSI dashboard: ``streamlit run streamlit_app.py``.

This file is the frame only: language, sign-in, the shared sidebar (filters, model, method) and
the navigation, which registers just the pages the user's role may open. Pages live in
``app_pages/``; cached loaders and estimators in ``app/state.py``; every text in ``app/i18n.py``.
The database is ``$CSI_DB`` (default ``data/csi.duckdb``), built from the demo on first start.
"""
from __future__ import annotations

import os
import sys
import time

_T0 = time.perf_counter()

import streamlit as st

from app import auth, state
from app.i18n import LANG_NAMES, LANGS, t
from app.ui import (METHODS, MODELS, SCOPE_FILTER, Selection, friendly_text, internal_error_text, plain,
                    refuse_out_of_scope, session_to_url, sticky, url_to_session, wanted_page)
from csi.errors import CSIError
from csi.model.dictionary import SEGMENT_LABELS_KEY, segment_labels, segment_value
from streamlit.runtime.scriptrunner_utils.exceptions import ScriptControlException

STORE_POLL_SECONDS = 5  # how often an open dashboard looks for a newly published store version

def _industry_sidebar(sel, lang: str) -> None:
    """A scoped user's anonymised "Industry" means (app.state.industry_table) for the latest selected wave."""
    from app.i18n import construct_label

    try:
        table, n = state.industry_table(sel)
    except CSIError:
        return
    box = st.sidebar.expander(t("industry_title", lang, n=n), expanded=False)
    if table is None:
        box.caption(t("industry_too_few", lang, min=state.INDUSTRY_MIN_BRANDS))
        return
    latest = table[table["wave"].astype(str) == sel.latest]
    for r in latest.itertuples(index=False):
        box.caption(f"{plain(construct_label(str(r.construct), lang))}: {r.index:.1f}")


PAGE_FILES = {
    "overview": ("app_pages/overview.py", ":material/dashboard:"),
    "model": ("app_pages/model.py", ":material/hub:"),
    "drivers": ("app_pages/drivers.py", ":material/trending_up:"),
    "compare": ("app_pages/compare.py", ":material/compare_arrows:"),
    "classic": ("app_pages/classic.py", ":material/table_chart:"),
    "verbatims": ("app_pages/verbatims.py", ":material/format_quote:"),
    "data": ("app_pages/data.py", ":material/upload_file:"),
    "downloads": ("app_pages/downloads.py", ":material/download:"),
}

# The page icon is an emoji (drawn by the browser): a ":material/...:" icon is fetched from a web font server.
st.set_page_config(page_title="CSI", page_icon="📊", layout="wide")

# A bookmark's view (page, language, selection) is read from the URL once per session, before the sign-in.
url_to_session(LANGS)
# Language first: every later widget label depends on it.
sticky("lang", "en")  # the value comes from Session State (the URL's on a first run), never a widget default
lang = st.sidebar.segmented_control(
    "Language / 语言", LANGS, format_func=LANG_NAMES.get, required=True, key="lang")
lang = lang or "en"

user = auth.sign_in(lang)
if user is None:
    st.stop()
if user.mode == "open":
    st.sidebar.warning(t("open_banner", lang), icon=":material/lock_open:")
else:
    st.sidebar.caption(t("signed_in_as", lang, name=plain(user.name), role=t(f"role_{user.role}", lang)))
    if user.brands is not None:
        st.sidebar.caption(t("scope_caption", lang, brands=plain(", ".join(user.brands))))

path = state.db_path()
try:  # a database in use (a demo rebuild, an ingest) or unreadable: a message, never DuckDB's text
    with st.spinner(t("db_building", lang)):
        state.ensure_database(path)
    # the version this run shows (after a new one is published: the previous one for a few seconds, while this
    # process prepares the new one; the switch cancels the old version's bootstraps - app.state.data_version)
    version = state.data_version(path)
    wave_table = state.waves(path, version)
except CSIError as e:
    st.error(t("err_store", lang, msg=friendly_text(e, lang)))
    st.stop()
except ScriptControlException:
    raise
except Exception as e:  # a bug: the log gets the detail, the visitor an incident id
    st.error(internal_error_text(e, lang, where="opening the database"))
    st.stop()
all_waves = tuple(str(w) for w in wave_table["label"])


@st.fragment(run_every=STORE_POLL_SECONDS)
def _watch_store(path: str, seen: str) -> None:
    """A wave published meanwhile (a CLI or scheduled ingest, another replica's upload) shows within a few
    seconds without a reload: once this process serves a new version (one readlink, then the switch described
    in app.state.data_version), the whole app reruns on it."""
    if state.data_version(path) != seen:
        st.rerun(scope="app")


_watch_store(path, version)

sb = st.sidebar
sb.subheader(t("filters", lang))
# Keep the selection valid after a wave was added, renamed or deleted; a new wave joins the selection.
known = st.session_state.get("f_waves_known", all_waves)  # a first run's waves (from a URL) are kept as they are
if "f_waves" not in st.session_state:
    st.session_state["f_waves"] = list(all_waves)
else:
    st.session_state["f_waves"] = state.next_wave_selection(st.session_state["f_waves"], known, all_waves)
st.session_state["f_waves_known"] = all_waves
picked = sb.multiselect(t("waves", lang), all_waves, key="f_waves")
seg_values = state.segment_values(path, version)
brands = state.settings(path, version, ("own_brand", "competitor"))
if user.brands is not None:  # a brand-scoped user: only their brands anywhere (the engine enforces it too)
    seg_values = {**seg_values, "brand": [b for b in seg_values.get("brand", []) if b in user.brands]}
    if not seg_values["brand"]:
        st.error(t("scope_none", lang, brands=plain(", ".join(user.brands))))
        st.stop()
    refused = refuse_out_of_scope(seg_values["brand"], "f_brand")  # e.g. another brand asked for by URL
    if refused:
        st.sidebar.warning(t("scope_refused", lang))
    brands = {k: (v if v in seg_values["brand"] else None) for k, v in brands.items()}
    if "f_brand" not in st.session_state and len(seg_values["brand"]) == 1:
        st.session_state["f_brand"] = list(seg_values["brand"])
if "f_brand" not in st.session_state and brands.get("own_brand") in seg_values.get("brand", []):
    st.session_state["f_brand"] = [brands["own_brand"]]  # executives look at their own brand first
filters = []
seg_labels = segment_labels(state.settings(path, version, (SEGMENT_LABELS_KEY,)).get(SEGMENT_LABELS_KEY))
for seg in state.SEGMENTS:
    options = seg_values.get(seg, [])
    if not options:
        continue
    key = f"f_{seg}"
    if key in st.session_state:
        st.session_state[key] = [v for v in st.session_state[key] if v in options]
    chosen = sb.multiselect(t(seg, lang), options, key=key, placeholder=t("all", lang),
                            format_func=lambda v, s=seg: segment_value(s, v, lang, seg_labels))
    filters.append((seg, tuple(chosen)))

sb.subheader(t("model", lang))
sticky("f_model", "ccsi")
model = sb.selectbox(t("model", lang), MODELS, format_func=lambda m: t(f"model_{m}", lang), key="f_model",
                     label_visibility="collapsed")
syntax = ""
if model == "custom":
    if "f_syntax" not in st.session_state:
        from csi.model.templates import template

        # start from the default model bound to the items these data actually have
        have = state.columns(path, version)
        st.session_state["f_syntax"] = template("ccsi", items=have).to_syntax()
    syntax = sb.text_area(t("custom_syntax", lang), key="f_syntax", height=220, help=t("custom_help", lang))
sticky("f_method", "pls")
method = sb.radio(t("method", lang), METHODS, format_func=lambda m: t(f"method_{m}", lang), key="f_method")
st.session_state.setdefault("f_weighted", True)
weighted = sb.checkbox(t("use_weights", lang), key="f_weighted")
if user.brands is not None:
    filters.append((SCOPE_FILTER, tuple(user.brands)))  # into every cache key and the engine's Selection

order = {w: i for i, w in enumerate(all_waves)}
st.session_state["csi_selection"] = Selection(
    path=path, version=version,
    waves=tuple(sorted((w for w in picked if w in order), key=order.get)),
    all_waves=all_waves, filters=tuple(filters), model=model, syntax=syntax, method=method, lang=lang,
    weighted=weighted, own_brand=brands.get("own_brand"), competitor=brands.get("competitor"),
    industry=bool(user.industry))

if user.brands is not None and user.industry and st.session_state["csi_selection"].waves:
    _industry_sidebar(st.session_state["csi_selection"], lang)

pages = {p: st.Page(PAGE_FILES[p][0], title=t(f"page_{p}", lang), icon=PAGE_FILES[p][1], url_path=p,
                    default=(p == "overview"))
         for p in auth.user_pages(user)}
pages.update({"industry": st.Page("app_pages/industry.py", title=t("page_industry", lang), icon=":material/leaderboard:", url_path="industry")} if "compare" in pages else {})  # noqa: E501 - national programmes (DASK)
page = st.navigation(list(pages.values()), position="top")
wanted = wanted_page()  # a bookmark's page, kept through the sign-in form
if wanted in pages and wanted != (page.url_path or "overview"):
    st.switch_page(pages[wanted])
session_to_url(st.session_state["csi_selection"], page.url_path or "overview")
try:
    page.run()
except ScriptControlException:  # st.stop / st.rerun / st.switch_page are Streamlit's control flow
    raise
except CSIError as e:  # an expected error a page did not catch: its (cleaned) message
    st.error(t("error_prefix", lang, msg=friendly_text(e, lang)))
except Exception as e:  # a bug: no traceback, no exception text in the browser; the log has both
    st.error(internal_error_text(e, lang, where=f"page {page.url_path or 'overview'}"))
if os.environ.get("CSI_APP_TIMING"):  # speed checks: how long the server spent on this run
    print(f"csi-timing page={page.url_path or 'overview'} seconds={time.perf_counter() - _T0:.3f} "
          f"memo={state.memo_stats()}", file=sys.stderr)
