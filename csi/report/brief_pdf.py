"""The board brief as PDF (fpdf2): four A4 landscape pages, vector chart, the CJK font embedded.

Why fpdf2: pure Python (no system library, no browser), maintained (2.8 in 2025-26, LGPL), and it embeds
OpenType fonts with CFF outlines as a subset (only the glyphs used), with text shaping and fallback fonts.
The font is the repository's own subset of Noto Sans CJK SC (``csi/report/fonts``, SIL OFL 1.1), so a fresh
machine with only the repo's requirements writes a PDF whose Chinese renders anywhere; characters outside
that subset come from the system's Noto Sans CJK when installed. The chart is drawn with vector primitives
(lines, polygons with transparency for the intervals), not an image.

Layout only: every text and number comes from :class:`csi.report.brief.Brief`.
"""
from __future__ import annotations

from pathlib import Path

from csi.report import present as P

FONT_DIR = Path(__file__).resolve().parent / "fonts"
FONT_FILE = FONT_DIR / "NotoSansSC-Regular-subset.otf"
SYSTEM_CJK = (Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"), 2)  # (file, SC face)
FAMILY = "NotoSansSC"

INK, MUTED, ACCENT, SECOND = P.INK, P.MUTED, P.ACCENT, P.SECOND
W, H, M = 297.0, 210.0, 14.0  # A4 landscape, margin (mm)


def _covered(text: str) -> bool:
    from fontTools.ttLib import TTFont

    cmap = _cmap_cache.get("cmap")
    if cmap is None:
        cmap = _cmap_cache["cmap"] = set(TTFont(FONT_FILE, lazy=True).getBestCmap())
    return all(ord(ch) in cmap or ch in "\n\t" for ch in text)


_cmap_cache: dict = {}


def _all_text(brief) -> str:
    parts = [brief.title, brief.subtitle, brief.actions_title, brief.actions_note or "", brief.trend_title,
             brief.trend_caption, brief.footnotes_title, *brief.actions, *brief.footnotes, *brief.kpi_notes]
    for k in brief.kpis:
        parts += [k.label, *(c.text for c in k.comparisons)]
    parts += [s.label for s in brief.trend]
    return "".join(parts)


class _PDF:
    def __init__(self, brief):
        from fpdf import FPDF

        self.brief = brief
        pdf = FPDF(orientation="L", unit="mm", format="A4")
        pdf.set_auto_page_break(False)
        pdf.set_margins(M, M, M)
        pdf.add_font(FAMILY, "", str(FONT_FILE))
        fallback = []
        if not _covered(_all_text(brief)) and SYSTEM_CJK[0].is_file():
            pdf.add_font("NotoSansCJKSC", "", str(SYSTEM_CJK[0]), collection_font_number=SYSTEM_CJK[1])
            fallback.append("NotoSansCJKSC")
        if fallback:
            pdf.set_fallback_fonts(fallback)
        pdf.set_title(brief.title)
        pdf.set_lang("zh-CN" if brief.lang == "zh" else "en")
        pdf.set_creator("csi brief")
        self.pdf = pdf

    def text(self, x, y, w, s, size, color=INK, h=None, align="L"):
        pdf = self.pdf
        pdf.set_font(FAMILY, size=size)
        pdf.set_text_color(*color)
        pdf.set_xy(x, y)
        pdf.multi_cell(w, h or size * 0.5, s, align=align, new_x="LEFT", new_y="NEXT")
        return pdf.get_y()

    def header(self, title: str, k: int, n: int):
        from csi.text.i18n import t

        self.pdf.add_page()
        self.text(M, M, W - 2 * M, title, 22, INK, h=10)
        self.pdf.set_draw_color(*ACCENT)
        self.pdf.set_line_width(0.6)
        self.pdf.line(M, M + 12, W - M, M + 12)
        self.text(M, H - 10, W - 2 * M, f"{self.brief.title} · {t('br_page', self.brief.lang, k=k, n=n)}", 8, MUTED)


def _chart(doc, x0, y0, w, h, series):
    """Line chart with the interval as a translucent band, axes and labels: vector drawing only."""
    pdf = doc.pdf
    if not series:
        return
    waves = series[0].waves
    bands = all(s.has_interval for s in series)
    lo = max(0.0, min(min(s.low if bands else s.values) for s in series) - 2)
    hi = min(100.0, max(max(s.high if bands else s.values) for s in series) + 2)
    lo, hi = float(int(lo)), float(int(hi) + 1)
    left, bottom = x0 + 12, y0 + h - 10
    pw, ph = w - 14, h - 14

    def X(i):
        return left + (pw * (i + 0.5) / len(waves))

    def Y(v):
        return bottom - ph * (v - lo) / (hi - lo)

    pdf.set_line_width(0.2)
    pdf.set_draw_color(220, 224, 228)
    pdf.set_font(FAMILY, size=8)
    pdf.set_text_color(*MUTED)
    step = 1 if hi - lo <= 8 else 2 if hi - lo <= 16 else 5
    v = lo
    while v <= hi + 1e-9:
        pdf.line(left, Y(v), left + pw, Y(v))
        pdf.set_xy(x0, Y(v) - 2)
        pdf.cell(10, 4, f"{v:.0f}", align="R")
        v += step
    for i, wv in enumerate(waves):
        pdf.set_xy(X(i) - 15, bottom + 1.5)
        pdf.cell(30, 4, wv, align="C")
    for k, s in enumerate(series):
        col = (ACCENT, SECOND)[k % 2]
        band = [(X(i), Y(v)) for i, v in enumerate(s.high)] + [(X(i), Y(v)) for i, v in reversed(list(
            enumerate(s.low)))]
        if bands:
            with pdf.local_context(fill_opacity=0.18):
                pdf.set_fill_color(*col)
                pdf.polygon(band, style="F")
        pdf.set_draw_color(*col)
        pdf.set_line_width(0.8)
        pdf.polyline([(X(i), Y(v)) for i, v in enumerate(s.values)])
        pdf.set_fill_color(*col)
        for i, v in enumerate(s.values):
            pdf.circle(x=X(i), y=Y(v), radius=0.9, style="F")
        pdf.set_text_color(*col)
        pdf.set_font(FAMILY, size=8)
        pdf.set_xy(X(len(waves) - 1) - 12, Y(s.values[-1]) - (6 if k == 0 else -2))
        pdf.cell(24, 4, f"{P.num(s.values[-1])}", align="C")
    # legend
    lx = left
    for k, s in enumerate(series):
        col = (ACCENT, SECOND)[k % 2]
        pdf.set_fill_color(*col)
        pdf.rect(lx, y0 - 1, 6, 2.5, style="F")
        pdf.set_text_color(*INK)
        pdf.set_font(FAMILY, size=9)
        pdf.set_xy(lx + 7, y0 - 2.2)
        pdf.cell(60, 5, s.label)
        lx += 12 + pdf.get_string_width(s.label)


def render_pdf(brief) -> bytes:
    """The brief as PDF bytes."""
    from csi.text.i18n import t

    doc = _PDF(brief)
    pdf = doc.pdf
    L, n = brief.lang, 4

    # 1 -- headline
    doc.header(brief.title, 1, n)
    doc.text(M, M + 15, W - 2 * M, brief.subtitle, 11, MUTED)
    k_n = max(1, len(brief.kpis))
    cw = (W - 2 * M - (k_n - 1) * 5) / k_n
    for k, kpi in enumerate(brief.kpis):
        x, y = M + k * (cw + 5), M + 25
        pdf.set_fill_color(244, 246, 248)
        pdf.set_draw_color(221, 221, 221)
        pdf.set_line_width(0.3)
        pdf.rect(x, y, cw, 92, style="DF")
        yy = doc.text(x + 5, y + 5, cw - 10, kpi.label, 13, INK)
        yy = doc.text(x + 5, yy + 2, cw - 10, P.num(kpi.value, kpi.digits), 36, ACCENT, h=15)
        yy = doc.text(x + 5, yy + 1, cw - 10, kpi.interval_text(L), 9, MUTED)
        for c in kpi.comparisons:
            yy = doc.text(x + 5, yy + 3, cw - 10, c.text, 11.5, P.comparison_color(c), h=5.5)
    y = M + 122
    for note in brief.kpi_notes:
        y = doc.text(M, y, W - 2 * M, note, 10, MUTED, h=5) + 1

    # 2 -- what to fix first
    doc.header(brief.actions_title, 2, n)
    y = M + 20
    if brief.actions:
        for k, a in enumerate(brief.actions, 1):
            y = doc.text(M, y, W - 2 * M, f"{k}. {a}", 14, INK, h=7) + 4
    else:
        doc.text(M, y, W - 2 * M, brief.actions_note or "", 14, INK, h=7)
    doc.text(M, H - 26, W - 2 * M, t("br_actions_how", L, wave=brief.headline.get("wave")), 9, MUTED)

    # 3 -- trend
    doc.header(brief.trend_title, 3, n)
    _chart(doc, M, M + 22, W - 2 * M, 135, list(brief.trend))
    doc.text(M, M + 162, W - 2 * M, brief.trend_caption, 9, MUTED)

    # 4 -- notes and method
    doc.header(brief.footnotes_title, 4, n)
    y = M + 20
    for f in brief.footnotes:
        y = doc.text(M, y, W - 2 * M, f, 10.5, INK, h=5.5) + 3
    return bytes(pdf.output())
