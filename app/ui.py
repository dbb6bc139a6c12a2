"""Small shared pieces of the pages: the current selection, language and friendly errors."""
from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from .i18n import t

MODELS = ("ccsi", "ecsi", "acsi", "custom")
METHODS = ("pls", "cbsem")


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


def friendly_error(err: Exception, lang_: str | None = None) -> None:
    """Show an expected error (CSIError) as a message with its problems; never a traceback."""
    lang_ = lang_ or lang()
    st.error(t("error_prefix", lang_, msg=str(err)))
    problems = getattr(err, "problems", None)
    if problems:
        st.dataframe(problems_frame(problems, lang_), hide_index=True)


def problems_frame(problems, lang_: str):
    import pandas as pd

    rows = [p.as_dict() if hasattr(p, "as_dict") else dict(p) for p in problems]
    df = pd.DataFrame(rows, columns=["severity", "row", "column", "value", "reason"])
    df["severity"] = df["severity"].map(lambda s: t(f"sev_{s}", lang_) if s in ("error", "warning") else s)
    df["row"] = df["row"].astype("Int64")
    return df.rename(columns={"severity": t("col_severity", lang_), "row": t("col_row", lang_),
                              "column": t("col_column", lang_), "value": t("col_value", lang_),
                              "reason": t("col_reason", lang_)})
