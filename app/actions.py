"""The overview's "what to fix" text: construct-level actions made concrete with item-level IPMA.

Pure functions (no streamlit), so the wording is tested without a server. Inputs are the two
tables of :func:`csi.priorities.ipma` (``level="construct"`` and ``level="indicator"``) for the
same fit; outputs are plain-language lines in the page language.
"""
from __future__ import annotations

import math
import re

import pandas as pd

from csi.report.present import short_text

from .i18n import t


def short_item_text(text: str) -> str:
    """The short name of an item for an executive: the head before a colon when the question has
    one (``"Customer-service hotline: getting through …"`` → ``"Customer-service hotline"``),
    otherwise the whole text without its final full stop (the reports' one rule:
    :func:`csi.report.present.short_text`)."""
    return short_text(text)


def item_labels(dictionary: pd.DataFrame) -> dict[str, tuple[str, str]]:
    """``{item: (short English text, short Chinese text)}`` from the store's item dictionary
    (the analyst's edited wording wins over the package's built-in texts)."""
    out = {}
    for r in dictionary.itertuples(index=False):
        en = short_item_text(getattr(r, "text_en", "") or "") if _present(getattr(r, "text_en", None)) else ""
        zh = short_item_text(getattr(r, "text_zh", "") or "") if _present(getattr(r, "text_zh", None)) else ""
        if en or zh:
            out[str(r.item)] = (en or zh or str(r.item), zh or en or str(r.item))
    return out


def _present(v) -> bool:
    return v is not None and not (isinstance(v, float) and math.isnan(v)) and str(v).strip() != ""


def _name(row, lang: str) -> str:
    return str(row["label_zh"] if lang == "zh" else row["label_en"])


def construct_actions(ip_construct: pd.DataFrame, ip_items: pd.DataFrame | None, lang: str,
                      top: int = 3) -> list[str]:
    """The ``top`` construct actions (csi.priorities.action_list wording, without its numbers, so
    the page renders one clean numbered list), each followed by the item of that construct with
    the largest lever: the highest ``priority_score = importance × (100 − performance)``."""
    from csi.analytics import priorities

    lines = [re.sub(r"^\d+\.\s*", "", s) for s in priorities.action_list(ip_construct, lang=lang, top=top)]
    if ip_items is None or ip_items.empty:
        return lines
    out = []
    ranked = ip_construct.sort_values("rank").head(top)
    for line, code in zip(lines, ranked["driver"]):
        block = ip_items[(ip_items["construct"] == code) & ip_items["priority_score"].notna()]
        if len(block) > 1:
            best = block.loc[block["priority_score"].idxmax()]
            lowest = bool(best["performance"] <= block["performance"].min())
            key = "ov_lever_lowest" if lowest else "ov_lever"
            line += ("" if lang == "zh" else " ") + t(key, lang, item=_name(best, lang), perf=float(best["performance"]), k=len(block))
        out.append(line)
    return out


def item_fixes(ip_items: pd.DataFrame | None, lang: str, top: int = 3) -> list[str]:
    """Item-level "fix first" lines (importance above and performance below the items' averages),
    best first, then one line naming the lowest-rated item when it is not among them."""
    if ip_items is None or ip_items.empty:
        return []
    fix = ip_items[ip_items["quadrant"] == "fix_first"].sort_values("rank").head(top)
    lines = [t("ov_fix_item", lang, item=_name(r, lang), perf=float(r["performance"]),
               construct=_construct(r["construct"], lang)) for _, r in fix.iterrows()]
    rated = ip_items[ip_items["performance"].notna()]
    if len(rated):
        low = rated.loc[rated["performance"].idxmin()]
        if low["driver"] not in set(fix["driver"]):
            lines.append(t("ov_weakest_item", lang, item=_name(low, lang), perf=float(low["performance"]),
                           construct=_construct(low["construct"], lang), k=len(rated)))
    return lines


def _construct(code: str, lang: str) -> str:
    from .i18n import construct_label

    return construct_label(str(code), lang)


def numbered(lines: list[str]) -> str:
    """Markdown of one numbered list (markdown numbers it; the lines carry no numbers of their own).

    The lines are plain text (they quote the analyst's item texts): each is escaped
    (:func:`app.ui.plain`), so an item text shows as typed and never becomes a link or emphasis."""
    from .ui import plain

    return "\n".join(f"{k}. {plain(line)}" for k, line in enumerate(lines, start=1))


def bulleted(lines: list[str]) -> str:
    """Markdown of one bulleted list of plain-text lines (escaped like :func:`numbered`)."""
    from .ui import plain

    return "\n".join(f"- {plain(line)}" for line in lines)


# ----------------------------------------------------------------- the Data page's writes
def commit_upload(path, frame: pd.DataFrame, label: str, source_name: str, *, actor: str, sha256: str,
                  timeout: float | None = None, **kwargs):
    """The Data page's commit: ingest ``frame`` as wave ``label`` in ONE audited write of the store
    (:func:`csi.data.store.writing`) by ``actor``, the signed-in user. The change runs on a private copy
    and is published whole or not at all, so a CLI ingest or another dashboard replica writing at the same
    time queues behind it (bounded wait) instead of losing the upload. No Streamlit here: bench/bench_kill.py
    runs it in a subprocess. Returns csi.data.ingest.IngestReport."""
    from csi.data import store
    from csi.data.ingest import ingest_frame

    detail = {"file": source_name, "sha256": sha256, "wave": label, "via": "app"}
    with store.writing(path, actor=actor, action="ingest", detail=detail, timeout=timeout) as con:
        done = ingest_frame(con, frame, label, source_name, sha256=sha256, **kwargs)
        detail.update(wave=done.wave, n=done.n_respondents, items=len(done.items))
    return done
