"""Small shared pieces of the pages: the current selection, language and friendly errors."""
from __future__ import annotations

import re as _re
from dataclasses import dataclass

import numpy as np
import streamlit as st

from .i18n import t

MODELS = ("ccsi", "ecsi", "acsi", "custom")
METHODS = ("pls", "cbsem")
# A brand-scoped user's scope rides in the selection's filters as a last ``(SCOPE_FILTER, brands)`` entry: every
# cached loader takes the filters, so every cache key carries the scope; app.state hands it to the engine as
# csi.report.build.Selection.allowed_brands (see split_scope).
SCOPE_FILTER = "__brand_scope__"


def split_scope(filters) -> tuple[tuple, tuple[str, ...] | None]:
    """``(filters without the scope entry, allowed brands or None)``."""
    real = tuple((c, tuple(v)) for c, v in filters if c != SCOPE_FILTER)
    scope = next((tuple(v) for c, v in filters if c == SCOPE_FILTER), None)
    return real, scope


@dataclass(frozen=True)
class Selection:
    """Everything the sidebar decided, as plain hashable values (cache keys)."""

    path: str
    version: str
    waves: tuple[str, ...]          # selected waves in wave order
    all_waves: tuple[str, ...]      # every stored wave in wave order
    filters: tuple[tuple[str, tuple[str, ...]], ...]
    model: str                      # ccsi | ecsi | acsi | custom
    syntax: str                     # lavaan text of the custom model ('' otherwise)
    method: str                     # pls | cbsem
    lang: str
    weighted: bool = True           # use the survey-weight column when the data have one
    own_brand: str | None = None
    competitor: str | None = None
    page: str = "overview"
    industry: bool = False          # a scoped user may see the anonymised all-brand mean ("Industry")

    @property
    def allowed_brands(self) -> tuple[str, ...] | None:
        """The user's brand scope (None = every brand); also inside ``filters`` (see :data:`SCOPE_FILTER`)."""
        return split_scope(self.filters)[1]

    @property
    def latest(self) -> str | None:
        return self.waves[-1] if self.waves else None

    @property
    def previous(self) -> str | None:
        return self.waves[-2] if len(self.waves) > 1 else None


def lang() -> str:
    return st.session_state.get("lang", "en")


def selection() -> Selection:
    sel = st.session_state.get("csi_selection")
    if sel is None:  # a page run without the frame (should not happen): stop politely
        st.stop()
    return sel


# ------------------------------------------------------------------ plain text in Markdown
# Streamlit renders st.markdown, st.caption, st.info/warning/error, metric and widget labels as
# Markdown (GitHub flavour, math, emoji, colour directives, and "--" typeset as a dash). Text that a
# user typed (item texts, wave labels, brand and file names) must show as typed: ``plain`` escapes
# it. Escaped characters are ASCII punctuation with a backslash (CommonMark); autolinks and the
# "--" dash are applied by the renderer to the text *after* escapes are resolved, so those are
# defeated with an invisible U+2060 WORD JOINER instead (after "http", "www", before "@", between
# two hyphens): the text looks the same and links nowhere.
_WJ = "\u2060"
_MD_ESCAPE = _re.compile(r"([\\`*_{}\[\]<>#|~$:&!])")
_LINK_START = _re.compile(r"(?i)(https?|ftps?|mailto|www)(?=[:.])")
_LINE_START = _re.compile(r"^(\s*)([-+=]|\d+(?=[.)]))")


def plain(text) -> str:
    """``text`` as Markdown source that renders exactly as ``text`` (one line, no markup, no link)."""
    s = "" if text is None else str(text)
    s = _re.sub(r"\s*[\r\n]+\s*", " ", s)
    s = _LINK_START.sub(lambda m: m.group(1) + _WJ, s)
    s = _MD_ESCAPE.sub(r"\\\1", s)
    s = s.replace("@", _WJ + "@")
    while "--" in s:
        s = s.replace("--", "-" + _WJ + "-")
    # a line that starts like a list item, a heading underline or a numbered item stays text
    s = _LINE_START.sub(lambda m: m.group(1) + ("\\" + m.group(2) if not m.group(2)[0].isdigit() else m.group(2) + "\\"), s)
    return s


def plain_args(**fmt) -> dict:
    """``fmt`` with every text value passed through :func:`plain` (numbers stay numbers for their
    format specs): ``t(key, lang, **plain_args(wave=w, n=3))``."""
    return {k: plain(v) if isinstance(v, str) else v for k, v in fmt.items()}


def tp(key: str, lang_: str, **fmt) -> str:
    """:func:`app.i18n.t` with user-supplied text values escaped (the template's own Markdown stays)."""
    return t(key, lang_, **plain_args(**fmt))


def friendly_text(err: Exception, lang_: str | None = None) -> str:
    """The message of an expected error in the page language, ready for st.error/st.warning:
    without paths or process ids (``csi.errors.public_text``: a message that had to be cleaned, or
    that carries a private detail, is logged under an incident id it quotes) and escaped for
    Markdown (:func:`plain`: it names the user's columns, values and files).

    Validation problems carry their own Chinese reason (``Problem.reason_zh``, from csi.messages);
    other CSIErrors are English sentences from the package, so in Chinese they are introduced by a
    translated sentence naming the kind of error (the English detail follows: it names the exact
    column, construct or value)."""
    from csi.errors import public_message, public_text

    lang_ = lang_ or lang()
    text = public_text(err)
    incident = getattr(err, "incident", None)
    suffix = f" (incident {incident})" if incident and text.endswith(f"(incident {incident})") else ""
    if lang_ != "zh":
        return plain(text)
    zh = getattr(err, "message_zh", None)
    if zh:
        return plain(public_message(zh)) + suffix
    problems = [p for p in (getattr(err, "problems", None) or []) if getattr(p, "severity", "error") == "error"] \
        or list(getattr(err, "problems", None) or [])
    if problems:
        head = plain(public_message(problem_text(problems[0], lang_)))
        more = len(problems) - 1
        return head + (t("err_more", lang_, n=more) if more else "") + suffix
    zh_text = spec_error_zh(text)
    if zh_text is not None:  # a model-syntax message we know: wholly in Chinese (names and code as typed)
        return plain(zh_text) + suffix
    key = f"err_{type(err).__name__}"
    from .i18n import TEXT

    return t(key if key in TEXT else "err_CSIError", lang_, msg=plain(text))


# The model-syntax messages of csi.model.syntax (English sentences naming the line, construct or item) in Chinese,
# so a custom model's error has no English tail. Group references: {1}, {2} ... (the names and code as typed).
_SPEC_ZH: tuple[tuple[str, str], ...] = (
    (r"line (\d+): no operator \(=~, <~ or ~\) in (.+)", "第 {1} 行：{2} 中没有运算符（=~、<~ 或 ~）"),
    (r"line (\d+): covariances \('~~'\) are not supported: (.+)", "第 {1} 行：不支持协方差（'~~'）：{2}"),
    (r"line (\d+): more than one operator in (.+)", "第 {1} 行：{2} 中有多个运算符"),
    (r"line (\d+): nothing on the left of (.+?) in (.+)", "第 {1} 行：{3} 中 {2} 左侧没有内容"),
    (r"line (\d+): coefficient labels or fixed values \('\*'\) are not supported: (.+)",
     "第 {1} 行：不支持系数标签或固定值（'*'）：{2}"),
    (r"line (\d+): dangling '\+' in (.+)", "第 {1} 行：{2} 中的 '+' 后面缺少内容"),
    (r"line (\d+): (.+?) (=~|<~|~) has no (.+)", "第 {1} 行：{2} {3} 右侧没有内容"),
    (r"line (\d+): only two-way interactions are supported, not (.+)", "第 {1} 行：只支持两因素交互项，不支持 {2}"),
    (r"line (\d+): (.+?) is not a valid name in (.+)", "第 {1} 行：{2} 不是有效的名称（{3}）"),
    (r"the model syntax is empty", "模型语法为空"),
    (r"the model syntax has no statements.*", "模型语法中没有语句（只有注释或空行）"),
    (r"the model is empty", "模型为空"),
    (r"construct (.+?) has no indicators", "潜变量 {1} 没有题项"),
    (r"unknown indicators? (.+?): not found in (.+)", "未知题项 {1}：数据中没有这些列"),
    (r"structural path (\S+) -> (\S+): (.+?) is not a declared construct \(it is an indicator of (.+?)\); .*",
     "结构路径 {1} → {2}：{3} 不是已声明的潜变量（它是 {4} 的题项）"),
    (r"structural path (\S+) -> (\S+): (.+?) is not a declared construct; declare it with (.+)",
     "结构路径 {1} → {2}：{3} 不是已声明的潜变量；请用 {4} 声明"),
    (r"construct (.+?) cannot predict itself", "潜变量 {1} 不能预测自身"),
    (r"structural path (\S+) -> (\S+) is listed twice", "结构路径 {1} → {2} 重复列出"),
    (r"construct (.+?) is declared both reflective \(=~\) and formative \(<~\)",
     "潜变量 {1} 同时被声明为反映型（=~）和构成型（<~）"),
    (r"indicator (.+?) is in two blocks: (.+?) and (.+)", "题项 {1} 同时属于两个潜变量：{2} 和 {3}"),
    (r"indicator (.+?) is listed twice in block (.+)", "题项 {1} 在潜变量 {2} 中重复列出"),
    (r"constructs? (.+?) not connected to the structural model.*", "潜变量 {1} 与结构模型没有连接（没有进出路径）"),
)


def spec_error_zh(text: str) -> str | None:
    """The Chinese sentence of a known model-syntax message (None when the message is not one of them)."""
    msg = str(text).strip().rstrip(".")
    for pattern, zh in _SPEC_ZH:
        m = _re.fullmatch(pattern, msg, flags=_re.S)
        if m:
            return "模型设定有误：" + zh.format(None, *m.groups()) + "。"
    return None


def internal_error_text(exc: BaseException, lang_: str | None = None, where: str = "",
                        incident: str | None = None) -> str:
    """The message for an unexpected exception (a bug): nothing of the exception itself, only an
    incident id; the exception and its traceback go to the server log (logger "csi"). With
    ``incident`` (already logged) only the message is made."""
    from csi.errors import log_incident

    if incident is None:
        incident = log_incident(f"unexpected error{' in ' + where if where else ''}: {type(exc).__name__}: {exc}",
                                exc)
    return t("err_internal", lang_ or lang(), incident=incident)


def problem_text(p, lang_: str) -> str:
    """One validation problem as a sentence (file, row, column, value: reason) in the page language."""
    if lang_ != "zh":
        return str(p)
    where = [str(p.file)] if getattr(p, "file", "") else []
    if p.row is not None:
        where.append(t("err_row", lang_, row=p.row))
    if p.column is not None:
        where.append(t("err_column", lang_, column=p.column))
    if p.value is not None:
        where.append(t("err_value", lang_, value=p.value))
    reason = getattr(p, "reason_zh", None) or p.reason
    return ("，".join(where) + "：" if where else "") + reason


def friendly_error(err: Exception, lang_: str | None = None) -> None:
    """Show an expected error (CSIError) as a message with its problems; never a traceback."""
    lang_ = lang_ or lang()
    st.error(t("error_prefix", lang_, msg=friendly_text(err, lang_)))
    problems = getattr(err, "problems", None)
    if problems:
        st.dataframe(problems_frame(problems, lang_), hide_index=True)


def problems_frame(problems, lang_: str):
    """The problems of a validation as a table; the reason in Chinese when the page is Chinese
    (``reason_zh``, falling back to the English ``reason`` when a problem has none)."""
    import pandas as pd

    rows = [p.as_dict() if hasattr(p, "as_dict") else dict(p) for p in problems]
    df = pd.DataFrame(rows, columns=["severity", "row", "column", "value", "reason", "reason_zh"])
    if lang_ == "zh":
        zh = df["reason_zh"].astype(object)
        df["reason"] = zh.where(zh.notna() & (zh.astype(str).str.strip() != ""), df["reason"])
    df = df.drop(columns="reason_zh")
    df["severity"] = df["severity"].map(lambda s: t(f"sev_{s}", lang_) if s in ("error", "warning") else s)
    df["row"] = df["row"].map(lambda r: "" if r is None or r != r else str(int(r)))
    df[["column", "value"]] = df[["column", "value"]].astype(object).where(df[["column", "value"]].notna(), "")
    return df.rename(columns={"severity": t("col_severity", lang_), "row": t("col_row", lang_),
                              "column": t("col_column", lang_), "value": t("col_value", lang_),
                              "reason": t("col_reason", lang_)})


def wave_picker(sel: Selection, lang_: str, key: str) -> str | None:
    """A page-level choice of one wave among the selected ones (default: the latest)."""
    if not sel.waves:
        st.info(t("no_data", lang_))
        return None
    return st.selectbox(t("wave_for_page", lang_), sel.waves[::-1], key=key)


def wave_fit(sel: Selection, lang_: str, key: str):
    """The page's wave (picked among the selected ones) and its point-estimate fit; stops the page with a
    friendly message when there is no wave or the model cannot be fitted. Returns ``(wave, GroupFit)``."""
    from csi.errors import CSIError

    from . import state

    wave = wave_picker(sel, lang_, key=key)
    if wave is None:
        st.stop()
    try:  # the engine's fits of every selected wave (items bound across them), so pages and reports agree
        fits = state.point_fits(sel, ("waves",))
    except CSIError as e:
        friendly_error(e, lang_)
        st.stop()
    fit = fits.get((wave,))
    if fit is None or not fit.ok:
        st.warning(tp("no_fit", lang_, wave=wave, msg=_public(getattr(fit, "error", "") or "")))
        st.stop()
    return wave, fit


def _public(text) -> str:
    from csi.errors import public_message

    return public_message(text)


def _current_selection():
    try:
        return st.session_state.get("csi_selection")
    except Exception:  # noqa: BLE001 - outside a Streamlit run (library use, tests): no selection
        return None


def segment_labels_of(sel=None) -> dict:
    """Segment name and value labels of the selection's database: built-in ones overlaid with the analyst's
    (store setting ``segment_labels``, edited on the Data page; see csi.model.dictionary.segment_labels)."""
    from csi.errors import CSIError
    from csi.model.dictionary import SEGMENT_LABELS_KEY, segment_labels

    sel = sel if sel is not None else _current_selection()
    text = None
    if sel is not None and getattr(sel, "path", None):
        from . import state

        try:
            text = state.settings(sel.path, sel.version, (SEGMENT_LABELS_KEY,)).get(SEGMENT_LABELS_KEY)
        except CSIError:
            text = None
    return segment_labels(text)


def item_names_of(sel=None) -> dict[str, tuple[str, str]]:
    """``{item: (short English text, short Chinese text)}`` from the selection's (edited) item dictionary."""
    from csi.errors import CSIError

    from .actions import item_labels

    sel = sel if sel is not None else _current_selection()
    if sel is None or not getattr(sel, "path", None):
        from csi.model.dictionary import DEFAULT_ITEMS

        return item_labels(DEFAULT_ITEMS)
    from . import state

    try:
        return item_labels(state.item_dictionary(sel.path, sel.version))
    except CSIError:
        return {}


def seg_name(seg: str, lang_: str, labels: dict | None = None) -> str:
    """Display name of a segment column (``age_group`` → 年龄段)."""
    from csi.model.dictionary import segment_name

    return segment_name(seg, lang_, labels if labels is not None else segment_labels_of())


def seg_value(seg: str, value, lang_: str, labels: dict | None = None) -> str:
    """Display label of one value of a segment (``Retail shop`` → 营业厅)."""
    from csi.model.dictionary import segment_value

    return segment_value(seg, value, lang_, labels if labels is not None else segment_labels_of())


def n_used_text(fit, lang_: str) -> str:
    """"Computed on the n respondents the model used (d of N left out: ...)" for one group's fit."""
    info = getattr(fit.result, "info", {}) or {}
    total = int(info.get("n_total", getattr(fit, "n", 0)) or 0)
    n = int(info.get("n_used", total) or 0)
    return t("n_used_caption", lang_, n=n, total=max(total, n), dropped=max(total - n, 0))


def table_title(name: str, lang_: str) -> str:
    """The display name of a result table (``nps_by_wave`` → "NPS by wave"; file names keep the code)."""
    from csi.model.dictionary import humanize

    from .i18n import TEXT

    key = f"tbl_{name.replace('/', '_')}"
    return t(key, lang_) if key in TEXT else humanize(name)


# Code-valued columns of result tables and how each is shown (the codes stay in downloads).
_CONSTRUCT_COLUMNS = ("construct", "from", "to", "target", "construct_1", "construct_2", "predictor")
_ITEM_COLUMNS = ("item", "indicator", "expectation_item", "perception_item", "driver")
_WORD_COLUMNS = {"action": "val_action_", "size": "val_size_", "kind": "val_kind_", "mode": "val_mode_"}


def _value_word(prefix: str, v, lang_: str):
    from .i18n import TEXT

    key = prefix + str(v).split(":")[0].split(" (")[0].strip().replace(" ", "_")
    return t(key, lang_) if isinstance(v, str) and key in TEXT else v


def localize(df, lang_: str, items: dict | None = None, segments: dict | None = None):
    """A copy for display: construct, item, attribute, grade and segment codes as labels (constructs from the
    package's table, items by their short question text, segments from the dictionary's segment labels) and column
    headers in the page language.

    Only for showing; downloads keep the snake_case columns and codes."""
    from csi.analytics.priorities import QUADRANT_LABELS
    from csi.analytics.scales import BANDS

    from .i18n import TEXT, attr_label, construct_label

    out = df.copy()
    k = 1 if lang_ == "zh" else 0
    cols = set(out.columns)
    if cols & set(_ITEM_COLUMNS):
        items = items if items is not None else item_names_of()
    for col in _CONSTRUCT_COLUMNS + _ITEM_COLUMNS:
        if col in cols:
            def name(c, col=col):
                if not isinstance(c, str):
                    return c
                if col in _ITEM_COLUMNS and c in items:
                    return items[c][k]
                return construct_label(c, lang_)
            out[col] = out[col].map(name)
    if "path" in cols:  # a chain of constructs ("IMAG > EXPE > SAT", "IMAG->EXPE") in words
        def chain(v):
            v = _re.sub(r"\s*(?:->|>)\s*", " → ", v)
            return _re.sub(r"[A-Za-z_][A-Za-z0-9_]*", lambda m: construct_label(m.group(0), lang_), v)
        out["path"] = out["path"].map(lambda v: chain(v) if isinstance(v, str) else v)
    for col in ("first_level", "attribute"):
        if col in cols:
            out[col] = out[col].map(lambda a: t("cl_total_row", lang_) if a == "TOTAL" else attr_label(a, lang_)
                                    if isinstance(a, str) else a)
    if "grade" in cols:
        bands = {b.key: (b.label_en, b.label_zh)[k] for b in BANDS}
        out["grade"] = out["grade"].map(lambda g: bands.get(g, g))
    if "quadrant" in cols:
        out["quadrant"] = out["quadrant"].map(lambda q: QUADRANT_LABELS.get(q, (q, q))[k])
    for col, prefix in _WORD_COLUMNS.items():
        if col in cols:
            out[col] = out[col].map(lambda v, p=prefix: _value_word(p, v, lang_))
    labels = segments if segments is not None else segment_labels_of()
    from csi.model.dictionary import segment_name, segment_value

    if "segment" in cols:
        if "value" in cols:
            out["value"] = [segment_value(sg, v, lang_, labels) if isinstance(v, str) else v
                            for sg, v in zip(out["segment"], out["value"])]
        out["segment"] = out["segment"].map(lambda sg: segment_name(sg, lang_, labels) if isinstance(sg, str) else sg)
    for c in out.columns:
        if isinstance(c, str) and c != "wave" and c in labels["names"]:
            out[c] = out[c].map(lambda v, c=c: segment_value(c, v, lang_, labels) if isinstance(v, str) else v)
    heads = {}
    for c in out.columns:
        if f"col_{c}" in TEXT:
            heads[c] = t(f"col_{c}", lang_)
        elif isinstance(c, str) and c in labels["names"]:
            heads[c] = segment_name(c, lang_, labels)
    return out.rename(columns=heads)


def wait_for(job, lang_: str, what: str = "bootstrap_running") -> bool:
    """True when ``job`` is done; otherwise show its progress and poll it from a fragment that
    reruns the page once the job ends (the rest of the app stays usable meanwhile)."""
    if job is None or job.state == "cancelled":  # superseded: the page's next run asks again
        return False
    if job.state == "done":
        return True
    if job.state == "failed":
        from csi.errors import CSIError

        if isinstance(job.exc, CSIError):
            st.warning(t("job_failed", lang_, msg=friendly_text(job.exc, lang_)))
        else:  # a bug: its text (paths, internals) goes to the log only, once per job
            from csi.errors import log_incident

            if getattr(job, "incident", None) is None:
                exc = job.exc or RuntimeError(job.error or "job failed")
                job.incident = log_incident(f"background job {job.key!r} failed: {type(exc).__name__}: {exc}\n"
                                            f"{getattr(job, 'trace', '') or ''}")
            st.warning(internal_error_text(None, lang_, incident=job.incident))
        return False

    import hashlib

    # the language is part of the key: a poller started in English would keep its English text after a switch
    fkey = "job_" + hashlib.sha1(repr((job.key, lang_)).encode("utf-8")).hexdigest()[:12]

    @st.fragment(run_every=1.0, key=fkey)
    def _poll():
        if job.state in ("done", "failed", "cancelled"):
            st.rerun(scope="app")
        st.progress(job.fraction, text=t(what, lang_, done=job.done, total=job.total or "?"))

    _poll()
    return False


# Columns on the 0–100 index scale: one decimal (an executive reads "73.0", not "73.0232").
INDEX_COLUMNS = frozenset({"index", "performance", "mean_0_100", "score", "index_a", "index_b", "change", "gap",
                           "own", "competitor", "expectation", "perception", "contribution", "gap_ci_low",
                           "gap_ci_high"})
_P_COLUMNS = ("p_value", "cbsem_p_value", "p_permutation", "p_bootstrap", "p_henseler")
_LEVELS = {"construct": "dr_level_construct", "indicator": "dr_level_item"}


def _is_flag(c: str) -> bool:
    return c == "ok" or c.endswith("_ok") or c.startswith("ok_") or c.startswith("ci_ok")


def _is_bool_column(col) -> bool:
    if col.dtype == bool or str(col.dtype) == "boolean":
        return True
    if col.dtype != object:
        return False
    vals = [v for v in col if v is not None and not (isinstance(v, float) and v != v) and str(v) != "<NA>"]
    return bool(vals) and all(isinstance(v, (bool, np.bool_)) for v in vals)


def _bool_word(v, c: str, lang_: str) -> str:
    if v is None or (isinstance(v, float) and v != v) or str(v) == "<NA>":
        return ""
    if _is_flag(c):
        return ("✓ " + t("pass", lang_)) if bool(v) else ("✗ " + t("fail", lang_))
    if "redundant" in c or "overkill" in c:  # a flag that warns when True
        return ("✗ " + t("yes", lang_)) if bool(v) else ("✓ " + t("no", lang_))
    return ("✓ " + t("yes", lang_)) if bool(v) else ("✗ " + t("no", lang_))


def _fmt_p(v) -> str:
    if v is None or v != v:
        return ""
    return "< 0.001" if v < 0.001 else f"{v:.3f}"


def table_view(df, lang_: str, one_decimal=()):
    """A display copy of a result table: headers and construct codes in the page language, the other
    language's text columns dropped, booleans as ✓/✗ with a word (not checkboxes), and numbers
    formatted once — 3 decimals for coefficients, 1 for 0–100 indices (``INDEX_COLUMNS`` plus
    ``one_decimal``; ``True`` = every number), p-values as ``< 0.001``, blanks for missing values.

    Returns a pandas Styler for ``st.dataframe`` (values stay numbers, so columns still sort)."""
    import pandas as pd

    out = df.copy()
    other = "_en" if lang_ == "zh" else "_zh"
    out = out.drop(columns=[c for c in out.columns if isinstance(c, str) and c.endswith(other)
                            and c[: -len(other)] + ("_zh" if lang_ == "zh" else "_en") in out.columns])
    for c in list(out.columns):
        if isinstance(c, str) and _is_bool_column(out[c]):
            out[c] = out[c].map(lambda v, c=c: _bool_word(v, c, lang_))
        elif pd.api.types.is_integer_dtype(out[c]) and out[c].isna().any():  # nullable counts: blank, not <NA>
            out[c] = out[c].map(lambda v: "" if pd.isna(v) else str(int(v)))
        elif out[c].dtype == object:  # numbers with None (e.g. intervals before a bootstrap)
            num = pd.to_numeric(out[c], errors="coerce")
            if num.notna().sum() == out[c].notna().sum():  # all-missing columns too: blank, not "None"
                out[c] = num.astype(float)
    if "level" in out.columns:
        out["level"] = out["level"].map(lambda v: t(_LEVELS[v], lang_) if v in _LEVELS else v)
    # Columns with nothing in them (intervals and verdicts before a bootstrap) are left out: the
    # grid would print "None" in every cell.
    empty = [c for c in out.columns if (out[c].isna() | (out[c].astype(str).str.strip() == "")).all()]
    out = out.drop(columns=empty) if len(out) else out
    formats = {}
    for c in out.columns:
        if not pd.api.types.is_float_dtype(out[c]):
            continue
        fmt = (_fmt_p if c in _P_COLUMNS else "{:.1f}" if one_decimal is True or c in INDEX_COLUMNS
               or c in one_decimal else "{:.3f}")
        if out[c].isna().any():  # the grid shows "None" for a missing number: print these as text
            out[c] = out[c].map(lambda v, f=fmt: "" if v != v else (f(v) if callable(f) else f.format(v)))
        else:
            formats[c] = fmt
    shown = localize(out, lang_)
    names = dict(zip(out.columns, shown.columns))
    return shown.style.format({names[c]: f for c, f in formats.items()}, na_rep="")


def show_table(df, lang_: str, one_decimal=(), container=None, **kwargs) -> None:
    """``st.dataframe`` of :func:`table_view` without the row index."""
    (container or st).dataframe(table_view(df, lang_, one_decimal), hide_index=True, **kwargs)


def mark_flags(df, lang_: str):
    """Boolean check columns (``ok``, ``*_ok``, ``ok_085`` …) shown as ✓ pass / ✗ fail in the page language."""
    out = df.copy()
    for c in out.columns:
        if c == "ok" or c.endswith("_ok") or c.startswith("ok_") or c.startswith("ci_ok"):
            out[c] = out[c].map(lambda v: "" if v is None or (isinstance(v, float) and v != v) or str(v) == "<NA>"
                                else ("✓ " + t("pass", lang_)) if bool(v) else ("✗ " + t("fail", lang_)))
    return out


def sticky(key: str, default) -> None:
    """Re-send a translated choice widget's value on every run.

    A widget whose option labels change with the language (``format_func``) is redrawn by the
    browser without its selection unless the value is set again through Session State before the
    widget is created (seen in the browser test). Call right before the widget; do not also pass
    ``index``/``value`` to the widget.
    """
    st.session_state[key] = st.session_state.get(key, default)


# ------------------------------------------------------------------ deep links (the view in the URL)
# page, language and the main selection live in st.query_params: a bookmark or a reload opens the same view,
# also after the sign-in form (the URL's view is read once per browser session, before sign-in, and the page
# is switched to once the user is known). Lists are repeated parameters (?brand=A&brand=B, wave labels may hold
# commas); an empty value (?brand=) means "all", an absent one the default.
URL_LISTS = {"waves": "f_waves", "brand": "f_brand", "region": "f_region", "channel": "f_channel"}
URL_CHOICES = {"model": ("f_model", MODELS), "method": ("f_method", METHODS)}


def url_to_session(langs) -> None:
    """On a session's first run: the URL's language and selection into Session State (before the widgets
    exist); the wanted page is kept for :func:`wanted_page`."""
    ss = st.session_state
    if ss.get("csi_url_read"):
        return
    ss["csi_url_read"] = True
    qp = st.query_params
    if qp.get("lang") in langs:
        ss["lang"] = qp.get("lang")
    for name, key in URL_LISTS.items():
        if name in qp:
            ss[key] = [v for v in qp.get_all(name) if v != ""]
    for name, (key, allowed) in URL_CHOICES.items():
        if qp.get(name) in allowed:
            ss[key] = qp.get(name)
    if qp.get("weights") in ("0", "1"):
        ss["f_weighted"] = qp.get("weights") == "1"
    ss["csi_url_page"] = qp.get("page") or None


def wanted_page() -> str | None:
    """The page the URL asked for on the session's first run (once; None afterwards)."""
    return st.session_state.pop("csi_url_page", None)


def refuse_out_of_scope(options: list[str], key: str) -> list[str]:
    """Values of a sidebar choice (``key``) that are not among ``options`` (a brand outside the user's scope
    asked for by URL, a deleted wave): dropped from Session State and returned."""
    have = st.session_state.get(key)
    if not have:
        return []
    st.session_state[key] = [v for v in have if v in options]
    return [v for v in have if v not in options]


def session_to_url(sel: "Selection", page: str) -> None:
    """The current view into st.query_params (written only when it changed)."""
    want: dict[str, list[str] | str] = {"page": page, "lang": sel.lang, "model": sel.model, "method": sel.method,
                                        "weights": "1" if sel.weighted else "0"}
    if tuple(sel.waves) != tuple(sel.all_waves):
        want["waves"] = list(sel.waves) or [""]
    for col, values in split_scope(sel.filters)[0]:
        if col in URL_LISTS:
            want[col] = list(values) or [""]
    qp = st.query_params
    have = {k: (qp.get_all(k) if len(qp.get_all(k)) != 1 else qp.get(k)) for k in qp.keys()}
    norm = {k: (v if isinstance(v, str) else (v[0] if len(v) == 1 else list(v))) for k, v in want.items()}
    if have != norm:
        qp.from_dict(want)
