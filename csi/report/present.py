"""Shared formatting of report numbers and labels: the HTML report, the PPTX and the PDF brief all format
through these few functions, so a p-value, a change or a label reads the same in every output.

Pure (no I/O); every function takes the output language ``lang`` ('en' or 'zh').
"""
from __future__ import annotations

import math
import re
from typing import Mapping

import pandas as pd

from csi.text.i18n import construct_label, t

_HEAD = re.compile(r"^\s*([^:：]{3,40})[:：]")

# the colours of the brief and the report (RGB): text, secondary text, first and second series, better, worse
INK, MUTED, ACCENT, SECOND, GOOD, BAD = ((31, 41, 51), (107, 119, 133), (31, 111, 178), (217, 116, 28),
                                         (46, 125, 50), (198, 40, 40))


def comparison_color(c) -> tuple[int, int, int]:
    """Green for a significant improvement, red for a significant fall, grey otherwise (no verdict = no colour)."""
    if not c.significant or c.diff is None:
        return MUTED
    return GOOD if c.diff > 0 else BAD


def missing(v) -> bool:
    """True for None, NaN and pandas' NA."""
    if v is None or v is pd.NA:
        return True
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def num(v, digits: int = 1) -> str:
    """A number with ``digits`` decimals (a true minus sign); '–' when missing."""
    if missing(v):
        return "–"
    s = f"{float(v):.{digits}f}"
    return s.replace("-", "−") if s.startswith("-") else s


def signed(v, digits: int = 1) -> str:
    """A change with its sign: ``+1.2``, ``−0.4``, ``±0.0`` when it rounds to zero."""
    if missing(v):
        return "–"
    s = f"{float(v):+.{digits}f}"
    if float(s) == 0:
        return "±" + s[1:]
    return s.replace("-", "−")


def pct(v, digits: int = 0) -> str:
    """A share 0-1 as a percent: ``0.254`` → ``25%``."""
    return "–" if missing(v) else f"{100 * float(v):.{digits}f}%"


def pval(p) -> str:
    """A p-value for reading: ``< 0.001`` below 0.001, else three decimals."""
    if missing(p):
        return "–"
    p = float(p)
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def interval(lo, hi, digits: int = 1) -> str:
    """``[lo, hi]`` ('–' when either end is missing)."""
    if missing(lo) or missing(hi):
        return "–"
    return f"[{num(lo, digits)}, {num(hi, digits)}]"


def timestamp(stamp) -> str:
    """An ISO time as a reader writes it: ``2026-12-01T11:55:47+00:00`` → ``2026-12-01 11:55 UTC``."""
    s = str(stamp or "")
    return f"{s[:10]} {s[11:16]} UTC" if len(s) >= 16 and s[10] == "T" else s


def label(code, lang: str) -> str:
    """The dictionary's label of a construct code (custom constructs show their code)."""
    return construct_label(str(code), lang)


def short_text(text) -> str:
    """The short name of an item: the head before a colon when the question has one, otherwise the whole text
    without its final full stop (the same rule as the dashboard's action lines)."""
    text = str(text or "").strip()
    m = _HEAD.match(text)
    return (m.group(1) if m else text).strip().rstrip(".。 ")


def item_label(item, texts: Mapping[str, tuple[str, str]], lang: str, short: bool = True) -> str:
    """An item's text from the store's dictionary (``Prepared.item_texts()``), never its code unless the
    dictionary has no text for it."""
    en, zh = texts.get(str(item), (str(item), str(item)))
    s = zh if lang == "zh" else en
    return short_text(s) if short else s


def verdict(significant, lang: str) -> str:
    """'significant' / 'not significant' / 'no verdict' (too few respondents or no interval)."""
    if missing(significant):
        return t("rp_no_verdict", lang)
    return t("significant" if bool(significant) else "not_significant", lang)


def change_text(change, significant, prev: str, lang: str) -> str:
    """``+1.2 vs 2025Q3 (significant)``: the change against an earlier wave with its verdict."""
    if missing(change):
        return t("br_no_previous", lang)
    return t("br_change", lang, delta=signed(change), prev=prev, verdict=verdict(significant, lang))


def fmt_cell(column: str, v, lang: str) -> str:
    """One table cell by its column's meaning: p-values ``< 0.001``, shares as percent, booleans as verdicts,
    changes signed, numbers with one decimal (counts without)."""
    if missing(v):
        return "–" if column not in ("significant",) else t("rp_no_verdict", lang)
    col = column.lower()
    if col.startswith("p_") or col == "p_value" or col == "p":
        return pval(v)
    if isinstance(v, (bool,)) or col == "significant":
        return verdict(v, lang)
    if isinstance(v, (int,)) and not isinstance(v, bool):
        return f"{v:,}"
    if isinstance(v, float) or hasattr(v, "dtype"):
        try:
            f = float(v)
        except (TypeError, ValueError):
            return str(v)
        if math.isfinite(f) and f.is_integer() and col in ("n", "rank", "n_effective", "complainants", "handling_n",
                                                            "n_used", "n_respondents"):
            return f"{int(f):,}"
        if col in ("share", "complaint_rate", "rate_ci_low", "rate_ci_high", "promoters", "passives", "detractors"):
            return pct(f, 1)
        if col in ("change", "gap", "diff"):
            return signed(f, 2 if col == "diff" else 1)
        if col in ("importance", "importance_ci_low", "importance_ci_high", "estimate_a", "estimate_b", "weight",
                   "global_weight", "std_error", "coefficient", "std_coefficient"):
            return num(f, 3)
        return num(f, 1)
    return str(v)


HEADER_KEYS = {  # table column → i18n key of its header
    "wave": "wave", "brand": "brand", "construct": "rp_h_construct", "index": "rp_h_index",
    "ci_low": "rp_h_ci_low", "ci_high": "rp_h_ci_high", "n": "rp_h_n", "change": "rp_h_change",
    "significant": "rp_h_significant", "verdict": "rp_h_verdict", "wave_from": "rp_h_wave_from",
    "wave_to": "rp_h_wave_to", "index_a": "rp_h_index_a", "index_b": "rp_h_index_b", "driver": "rp_h_driver",
    "importance": "rp_h_importance", "performance": "rp_h_performance", "quadrant": "rp_h_quadrant",
    "rank": "rp_h_rank", "own": "rp_h_own", "competitor": "rp_h_competitor", "gap": "rp_h_gap",
    "nps": "rp_h_nps", "promoters": "rp_h_promoters", "passives": "rp_h_passives", "detractors": "rp_h_detractors",
    "band": "rp_h_band", "share": "rp_h_share", "complaint_rate": "rp_h_complaint_rate",
    "handling_index": "rp_h_handling", "segment": "rp_h_segment", "value": "rp_h_value", "from": "rp_h_from",
    "to": "rp_h_to", "diff": "rp_h_diff", "p_permutation": "rp_h_p_perm", "message": "rp_h_message",
    "target": "rp_h_target", "kind": "rp_h_kind",
}


def header(column: str, lang: str) -> str:
    """The translated header of a table column (the column name itself when the table has no key for it)."""
    key = HEADER_KEYS.get(column)
    return t(key, lang) if key else column


def setting(value, lang: str) -> str:
    """A setting's value in words (``path`` → "path weighting", ``listwise`` → "listwise deletion"); ``"percentile,
    95%"`` is read part by part; unknown values show as given."""
    from csi.text.i18n import TEXT

    parts = [p.strip() for p in str(value).split(",")]
    return ", ".join(t(f"rp_v_{p}", lang) if f"rp_v_{p}" in TEXT else p for p in parts)


def quadrant(q, lang: str) -> str:
    """The IPMA quadrant in words."""
    key = f"rp_q_{q}"
    from csi.text.i18n import TEXT

    return t(key, lang) if key in TEXT else str(q)


# ------------------------------------------------------------ significance marks and their legend (issue 11)
def stars(p) -> str:
    """The mark of a two-sided p-value: ``***`` p < 0.001, ``**`` p < 0.01, ``*`` p < 0.05, ``n.s.`` otherwise;
    '' when there is no p-value (no bootstrap). The one rule behind every star the dashboard and reports show."""
    if missing(p):
        return ""
    p = float(p)
    return "***" if p < 0.001 else "**" if p < 0.01 else "*" if p < 0.05 else "n.s."


def significance_legend(lang: str, n=None, marks=("stars",), test: str = "bootstrap", alpha: float = 0.05) -> str:
    """The caption that explains the significance marks shown beside it, e.g. ``* p < 0.05, ** p < 0.01,
    *** p < 0.001, n.s. not significant (bootstrap, two-sided, 500 resamples)``.

    ``marks``: which marks the view uses — ``stars``, ``edges`` (grey arrows / dashed lines = not significant),
    ``ipma_bars`` (the IPMA's interval bars), ``column`` (a "significant" column: p < alpha), ``interval`` (a
    "significant" difference: its interval excludes 0). ``test``: ``bootstrap`` or ``permutation`` (``n`` its
    number of resamples) or ``ml`` (CB-SEM's z test; ``n`` the respondents). ``n=None``: no test was run, the
    caption says so (and that the view therefore shows no marks)."""
    if n is None:
        return t("sig_legend_none", lang)
    level = f"{100 * (1 - alpha):g}"
    parts = [t(f"sig_legend_{m}", lang, level=level, alpha=f"{alpha:g}") for m in marks]
    sep = "；" if lang == "zh" else "; "
    return sep.join(parts) + t(f"sig_legend_{test}", lang, n=int(n))
