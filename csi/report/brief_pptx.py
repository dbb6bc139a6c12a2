"""The board brief as PowerPoint (python-pptx): four 16:9 slides, a native (vector, editable) line chart.

Layout only: every text and number comes from :class:`csi.report.brief.Brief`. PowerPoint does not embed
fonts from python-pptx; Chinese runs name an East-Asian typeface (Microsoft YaHei, which PowerPoint on Windows
and macOS substitutes with the system's CJK font when absent), so the slides show Chinese on any current OS.
"""
from __future__ import annotations

import io

from csi.report import present as P

LATIN = "Calibri"
EAST_ASIAN = "Microsoft YaHei"
INK, MUTED, ACCENT, SECOND = P.INK, P.MUTED, P.ACCENT, P.SECOND


def _font(run, size: float, bold: bool = False, color=INK) -> None:
    from pptx.dml.color import RGBColor
    from pptx.oxml.ns import qn
    from pptx.util import Pt

    f = run.font
    f.size, f.bold, f.name = Pt(size), bold, LATIN
    f.color.rgb = RGBColor(*color)
    rpr = run._r.get_or_add_rPr()
    for tag in ("a:ea", "a:cs"):
        el = rpr.find(qn(tag))
        if el is None:
            el = rpr.makeelement(qn(tag), {})
            rpr.append(el)
        el.set("typeface", EAST_ASIAN)


def _text(slide, x, y, w, h, lines, size=14, bold=False, color=INK, space=4):
    """A text box of ``lines`` (str or (str, size, bold, color) tuples), word-wrapped."""
    from pptx.util import Inches, Pt

    box = slide.shapes.add_textbox(Inches(x), Inches(y), Inches(w), Inches(h))
    tf = box.text_frame
    tf.word_wrap = True
    for k, line in enumerate(lines):
        text, sz, b, col = (line, size, bold, color) if isinstance(line, str) else line
        p = tf.paragraphs[0] if k == 0 else tf.add_paragraph()
        p.space_after = Pt(space)
        r = p.add_run()
        r.text = text
        _font(r, sz, b, col)
    return box


def _footer(slide, brief, k: int, n: int) -> None:
    from csi.text.i18n import t

    _text(slide, 0.5, 7.0, 12.3, 0.4, [(f"{brief.title} · {t('br_page', brief.lang, k=k, n=n)}", 9, False, MUTED)])


def render_pptx(brief) -> bytes:
    """The brief as .pptx bytes."""
    from pptx import Presentation
    from pptx.chart.data import CategoryChartData
    from pptx.dml.color import RGBColor
    from pptx.enum.chart import XL_CHART_TYPE, XL_LEGEND_POSITION
    from pptx.enum.dml import MSO_LINE_DASH_STYLE
    from pptx.util import Inches, Pt

    from csi.text.i18n import t

    prs = Presentation()
    prs.slide_width, prs.slide_height = Inches(13.333), Inches(7.5)
    blank = prs.slide_layouts[6]
    n_slides = 4
    L = brief.lang

    # 1 -- headline
    s = prs.slides.add_slide(blank)
    _text(s, 0.5, 0.3, 12.3, 0.8, [(brief.title, 28, True, INK)])
    _text(s, 0.5, 1.05, 12.3, 0.5, [(brief.subtitle, 14, False, MUTED)])
    w = 12.3 / max(1, len(brief.kpis))
    for k, kpi in enumerate(brief.kpis):
        x = 0.5 + k * w
        card = s.shapes.add_shape(1, Inches(x + 0.05), Inches(1.7), Inches(w - 0.2), Inches(4.2))
        card.fill.solid()
        card.fill.fore_color.rgb = RGBColor(0xF4, 0xF6, 0xF8)
        card.line.color.rgb = RGBColor(0xDD, 0xDD, 0xDD)
        lines = [(kpi.label, 16, True, INK), (P.num(kpi.value, kpi.digits), 44, True, ACCENT),
                 (kpi.interval_text(L), 12, False, MUTED)]
        lines += [(c.text, 13, bool(c.significant), P.comparison_color(c)) for c in kpi.comparisons]
        _text(s, x + 0.2, 1.85, w - 0.5, 4.0, lines)
    if brief.kpi_notes:
        _text(s, 0.5, 6.05, 12.3, 0.9, [(n, 11, False, MUTED) for n in brief.kpi_notes], space=1)
    _footer(s, brief, 1, n_slides)

    # 2 -- what to fix first
    s = prs.slides.add_slide(blank)
    _text(s, 0.5, 0.3, 12.3, 0.8, [(brief.actions_title, 28, True, INK)])
    if brief.actions:
        _text(s, 0.5, 1.4, 12.3, 4.8, [(f"{k}. {a}", 18, False, INK) for k, a in enumerate(brief.actions, 1)],
              space=12)
    else:
        _text(s, 0.5, 1.4, 12.3, 2.0, [(brief.actions_note or "", 18, False, INK)])
    _text(s, 0.5, 6.2, 12.3, 0.6, [(t("br_actions_how", L, wave=brief.headline.get("wave")), 11, False, MUTED)])
    _footer(s, brief, 2, n_slides)

    # 3 -- trend (native line chart: vector and editable)
    s = prs.slides.add_slide(blank)
    _text(s, 0.5, 0.3, 12.3, 0.8, [(brief.trend_title, 28, True, INK)])
    if brief.trend:
        cd = CategoryChartData()
        cd.categories = list(brief.trend[0].waves)
        colors = []
        for k, ser in enumerate(brief.trend):
            col = (ACCENT, SECOND)[k % 2]
            cd.add_series(ser.label, [round(v, 2) for v in ser.values])
            colors.append((col, 2.75, False))
            if ser.has_interval:
                cd.add_series(t("br_low", L, label=ser.label), [round(v, 2) for v in ser.low])
                cd.add_series(t("br_high", L, label=ser.label), [round(v, 2) for v in ser.high])
                colors += [(col, 0.75, True), (col, 0.75, True)]
        gf = s.shapes.add_chart(XL_CHART_TYPE.LINE_MARKERS, Inches(0.5), Inches(1.2), Inches(12.3), Inches(5.1), cd)
        ch = gf.chart
        ch.has_legend = True
        ch.legend.position = XL_LEGEND_POSITION.BOTTOM
        ch.legend.include_in_layout = False
        ch.legend.font.size = Pt(10)
        ch.category_axis.tick_labels.font.size = Pt(11)
        va = ch.value_axis
        va.tick_labels.font.size = Pt(11)
        lo = min(min(sr.low if sr.has_interval else sr.values) for sr in brief.trend)
        hi = max(max(sr.high if sr.has_interval else sr.values) for sr in brief.trend)
        va.minimum_scale, va.maximum_scale = max(0, int(lo) - 2), min(100, int(hi) + 2)
        va.has_major_gridlines = True
        for ser, (col, width, dashed) in zip(ch.plots[0].series, colors):
            ser.smooth = False
            ser.format.line.color.rgb = RGBColor(*col)
            ser.format.line.width = Pt(width)
            if dashed:
                ser.format.line.dash_style = MSO_LINE_DASH_STYLE.DASH
                ser.marker.style = None
                from pptx.enum.chart import XL_MARKER_STYLE
                ser.marker.style = XL_MARKER_STYLE.NONE
    _text(s, 0.5, 6.35, 12.3, 0.6, [(brief.trend_caption, 11, False, MUTED)])
    _footer(s, brief, 3, n_slides)

    # 4 -- notes and method
    s = prs.slides.add_slide(blank)
    _text(s, 0.5, 0.3, 12.3, 0.8, [(brief.footnotes_title, 28, True, INK)])
    _text(s, 0.5, 1.3, 12.3, 5.5, [(f, 13, False, INK) for f in brief.footnotes], space=8)
    _footer(s, brief, 4, n_slides)

    buf = io.BytesIO()
    prs.save(buf)
    return buf.getvalue()
