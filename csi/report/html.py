"""The HTML report of a :class:`csi.report.build.Report`: one self-contained page that reads as a report
(pure: no streamlit, no network when opened, no JavaScript).

Reading order: a header with brand, wave and the headline KPI; the headline (the board brief's numbers, so the
same as the dashboard's Overview); alerts; what to fix first; trend; indices; changes; priorities; brands and
competitor; NPS and complaints; satisfaction bands; notes; the manifest as a short appendix. Charts are inline
SVG (vector: they print sharp, and their captions say what is drawn: intervals only when the report has a
bootstrap). Labels come from the dictionary, numbers are formatted by :mod:`csi.report.present` (p as
``< 0.001``), table headers go through :func:`csi.text.i18n.t`. The print stylesheet fits A4 and Letter:
tables wrap and repeat their header on each page.

``python -m csi report`` writes it as ``report.html`` (English) and ``report.zh.html`` (Chinese) next to the
CSV files; the dashboard's Downloads page offers the same file in the page language.
"""
from __future__ import annotations

import html
from typing import Mapping, Sequence

import pandas as pd

from csi.report import present as P
from csi.text.i18n import t

FONT = ("'Noto Sans CJK SC', 'Noto Sans SC', 'Source Han Sans SC', 'Microsoft YaHei', 'PingFang SC', "
        "system-ui, sans-serif")
COLORS = ("#1F6FB2", "#D9741C", "#2E7D32", "#8E44AD", "#C62828", "#00838F")

CSS = f"""
:root {{ color-scheme: light; }}
body {{ font-family: {FONT}; margin: 2rem auto; max-width: 1000px; padding: 0 1rem; color: #1f2933;
       line-height: 1.45; }}
header {{ border-bottom: 3px solid #1F6FB2; padding-bottom: .6rem; margin-bottom: 1rem; }}
h1 {{ font-size: 1.7rem; margin: 0 0 .2rem; }}
.kpi-line {{ font-size: 1.1rem; margin: .2rem 0; }}
h2 {{ font-size: 1.25rem; margin-top: 1.8rem; border-bottom: 1px solid #ddd; padding-bottom: .2rem; }}
h3 {{ font-size: 1.02rem; margin: 1rem 0 .3rem; }}
.meta, .caption, .note {{ color: #5b6773; font-size: .85rem; }}
.cards {{ display: flex; gap: .8rem; flex-wrap: wrap; }}
.card {{ flex: 1 1 14rem; border: 1px solid #ddd; background: #f7f9fa; border-radius: 6px; padding: .6rem .8rem; }}
.card .v {{ font-size: 2rem; font-weight: 600; color: #1F6FB2; }}
.card li {{ font-size: .88rem; }} .card ul {{ padding-left: 1rem; margin: .3rem 0; }}
.sig-up {{ color: #2E7D32; font-weight: 600; }} .sig-down {{ color: #C62828; font-weight: 600; }}
table {{ border-collapse: collapse; font-size: .82rem; margin: .4rem 0 1rem; width: 100%; }}
th, td {{ border: 1px solid #ddd; padding: .2rem .4rem; text-align: right; vertical-align: top;
         overflow-wrap: anywhere; }}
th {{ background: #f0f3f6; overflow-wrap: normal; hyphens: auto; }} td.txt, th.txt {{ text-align: left; }}
thead {{ display: table-header-group; }}
figure {{ margin: .5rem 0 1rem; }} figure svg {{ width: 100%; height: auto; }}
figcaption {{ color: #5b6773; font-size: .82rem; }}
nav ol {{ columns: 2; font-size: .9rem; }}
dl.manifest {{ display: grid; grid-template-columns: max-content 1fr; gap: .15rem .8rem; font-size: .8rem; }}
dl.manifest dt {{ font-weight: 600; }} dl.manifest dd {{ margin: 0; overflow-wrap: anywhere; }}
@page {{ margin: 14mm 12mm; }}  /* the printer's paper: A4 or Letter, the layout is fluid */
@media print {{
  body {{ margin: 0; max-width: none; padding: 0; font-size: 10pt; }}
  nav {{ display: none; }}
  h2, h3 {{ break-after: avoid; page-break-after: avoid; }}
  tr, figure, .card {{ break-inside: avoid; page-break-inside: avoid; }}
  table {{ font-size: 8pt; }}
  section.appendix {{ break-before: page; page-break-before: always; }}
}}
"""


def _e(s) -> str:
    return html.escape(str(s))


def _label_col(lang: str) -> str:
    return "label_zh" if lang == "zh" else "label_en"


TEXT_COLUMNS = {"wave", "brand", "construct", "driver", "quadrant", "wave_from", "wave_to", "segment", "value",
                "band", "verdict", "from", "to", "message", "kind", "own_brand", "competitor_brand"}


def table_html(df: pd.DataFrame, columns: Sequence[str], lang: str, *, labels: Mapping[str, str] | None = None
               ) -> str:
    """``df[columns]`` as a table with translated headers and formatted cells. A ``construct``/``driver``
    column shows the dictionary's label (the ``label_en``/``label_zh`` column when the table has one);
    ``verdict`` reads ``verdict_en``/``verdict_zh``, ``message`` reads ``message_en``/``message_zh``,
    ``quadrant`` is spelled out."""
    lab = _label_col(lang)
    head = "".join(f"<th class=\"{'txt' if c in TEXT_COLUMNS else 'num'}\">{_e((labels or {}).get(c) or P.header(c, lang))}"
                   "</th>" for c in columns)
    rows = []
    for r in df.to_dict("records"):
        cells = []
        for c in columns:
            if c in ("construct", "driver") and lab in r and not P.missing(r.get(lab)):
                v = r[lab]
            elif c in ("construct", "from", "to"):
                v = P.label(r.get(c), lang)
            elif c in ("verdict", "message"):
                v = r.get(f"{c}_{'zh' if lang == 'zh' else 'en'}", r.get(c, ""))
            elif c == "quadrant":
                v = P.quadrant(r.get(c), lang)
            elif c == "band":
                v = r.get(lab, r.get(c))
            else:
                v = P.fmt_cell(c, r.get(c), lang) if c not in TEXT_COLUMNS else r.get(c)
            cls = "txt" if c in TEXT_COLUMNS else "num"
            cells.append(f"<td class=\"{cls}\">{_e('' if P.missing(v) else v)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


# ---------------------------------------------------------------------------------------------- charts
def trend_svg(series, *, bands: bool, width: int = 900, height: int = 320) -> str:
    """Lines of ``series`` (csi.report.brief.Series) by wave, the 95% interval as a translucent band when
    ``bands``."""
    if not series:
        return ""
    waves = series[0].waves
    lo = min(min(s.low if bands else s.values) for s in series)
    hi = max(max(s.high if bands else s.values) for s in series)
    lo, hi = float(int(lo) - 1), float(int(hi) + 2)
    L, R, T, B = 44, 16, 28, 30
    pw, ph = width - L - R, height - T - B

    def X(i):
        return L + pw * (i + 0.5) / len(waves)

    def Y(v):
        return T + ph * (1 - (v - lo) / (hi - lo))

    out = [f"<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {width} {height}\" role=\"img\" "
           f"font-family=\"{_e(FONT)}\" font-size=\"12\">"]
    step = 1 if hi - lo <= 8 else 2 if hi - lo <= 16 else 5
    v = lo
    while v <= hi + 1e-9:
        out.append(f"<line x1=\"{L}\" x2=\"{L + pw}\" y1=\"{Y(v):.1f}\" y2=\"{Y(v):.1f}\" stroke=\"#e3e7eb\"/>"
                   f"<text x=\"{L - 6}\" y=\"{Y(v) + 4:.1f}\" text-anchor=\"end\" fill=\"#5b6773\">{v:.0f}</text>")
        v += step
    for i, w in enumerate(waves):
        out.append(f"<text x=\"{X(i):.1f}\" y=\"{height - 8}\" text-anchor=\"middle\" fill=\"#5b6773\">{_e(w)}</text>")
    lx = L
    for k, s in enumerate(series):
        col = COLORS[k % len(COLORS)]
        if bands:
            pts = [(X(i), Y(v)) for i, v in enumerate(s.high)] + [(X(i), Y(v)) for i, v in
                                                                 reversed(list(enumerate(s.low)))]
            out.append(f"<polygon points=\"{' '.join(f'{x:.1f},{y:.1f}' for x, y in pts)}\" fill=\"{col}\" "
                       "fill-opacity=\"0.18\" stroke=\"none\"/>")
        out.append(f"<polyline points=\"{' '.join(f'{X(i):.1f},{Y(v):.1f}' for i, v in enumerate(s.values))}\" "
                   f"fill=\"none\" stroke=\"{col}\" stroke-width=\"2.5\"/>")
        out += [f"<circle cx=\"{X(i):.1f}\" cy=\"{Y(v):.1f}\" r=\"3.5\" fill=\"{col}\"><title>{_e(s.label)} "
                f"{_e(w)}: {P.num(v)}</title></circle>" for i, (w, v) in enumerate(zip(waves, s.values))]
        out.append(f"<rect x=\"{lx}\" y=\"8\" width=\"14\" height=\"8\" fill=\"{col}\"/>"
                   f"<text x=\"{lx + 18}\" y=\"16\">{_e(s.label)}</text>")
        lx += 30 + 13 * len(s.label)
    out.append("</svg>")
    return "".join(out)


def ipma_svg(ip: pd.DataFrame, lang: str, width: int = 900, height: int = 380) -> str:
    """Importance (x) vs performance (y) of the construct-level drivers, dashed lines at the means."""
    if ip is None or ip.empty:
        return ""
    lab = _label_col(lang)
    x, y = ip["importance"].astype(float), ip["performance"].astype(float)
    x0, x1 = 0.0, float(x.max()) * 1.15 or 1.0
    y0, y1 = float(int(y.min()) - 3), float(int(y.max()) + 3)
    L, R, T, B = 50, 20, 16, 44
    pw, ph = width - L - R, height - T - B

    def X(v):
        return L + pw * (v - x0) / (x1 - x0)

    def Y(v):
        return T + ph * (1 - (v - y0) / (y1 - y0))

    out = [f"<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {width} {height}\" role=\"img\" "
           f"font-family=\"{_e(FONT)}\" font-size=\"12\">",
           f"<rect x=\"{L}\" y=\"{T}\" width=\"{pw}\" height=\"{ph}\" fill=\"none\" stroke=\"#ccd3da\"/>"]
    mx, my = float(x.mean()), float(y.mean())
    out.append(f"<line x1=\"{X(mx):.1f}\" x2=\"{X(mx):.1f}\" y1=\"{T}\" y2=\"{T + ph}\" stroke=\"#8a96a3\" "
               f"stroke-dasharray=\"5 4\"/><line x1=\"{L}\" x2=\"{L + pw}\" y1=\"{Y(my):.1f}\" y2=\"{Y(my):.1f}\" "
               "stroke=\"#8a96a3\" stroke-dasharray=\"5 4\"/>")
    for r in ip.to_dict("records"):
        fix = r.get("quadrant") == "fix_first"
        col = "#C62828" if fix else "#1F6FB2"
        cx, cy = X(float(r["importance"])), Y(float(r["performance"]))
        right = cx > L + 0.7 * pw  # labels of dots near the right edge go to their left, never off the chart
        out.append(f"<circle cx=\"{cx:.1f}\" cy=\"{cy:.1f}\" r=\"6\" fill=\"{col}\"/>"
                   f"<text x=\"{cx - 9 if right else cx + 9:.1f}\" y=\"{cy + 4:.1f}\" fill=\"{col}\" "
                   f"text-anchor=\"{'end' if right else 'start'}\">{_e(r.get(lab) or r['driver'])}</text>")
    out.append(f"<text x=\"{L + pw / 2}\" y=\"{height - 8}\" text-anchor=\"middle\" fill=\"#5b6773\">"
               f"{_e(P.header('importance', lang))} →</text>"
               f"<text x=\"14\" y=\"{T + ph / 2}\" text-anchor=\"middle\" fill=\"#5b6773\" "
               f"transform=\"rotate(-90 14 {T + ph / 2})\">{_e(P.header('performance', lang))} →</text>")
    out.append("</svg>")
    return "".join(out)


# ---------------------------------------------------------------------------------------------- report
def _cards(brief) -> str:
    out = ["<div class=\"cards\">"]
    for k in brief.kpis:
        items = []
        for c in k.comparisons:
            cls = "" if not c.significant or c.diff is None else (" class=\"sig-up\"" if c.diff > 0 else
                                                                   " class=\"sig-down\"")
            items.append(f"<li{cls}>{_e(c.text)}</li>")
        out.append(f"<div class=\"card\"><div>{_e(k.label)}</div><div class=\"v\">{_e(P.num(k.value, k.digits))}"
                   f"</div><div class=\"meta\">{_e(k.interval_text(brief.lang))}"
                   f"</div><ul>{''.join(items)}</ul></div>")
    out.append("</div>")
    return "".join(out)


def _manifest(m: Mapping, prep, lang: str) -> str:
    s = m.get("settings", {})
    sel = m.get("selection", {})
    from csi.model.dictionary import segment_name, segment_value

    filters = "; ".join(f"{segment_name(c, lang)} = {', '.join(segment_value(c, x, lang) for x in v)}"
                        for c, v in sel.get("filters", {}).items())
    rows = [
        ("rp_m_source", m.get("source", "")),
        ("rp_m_created", P.timestamp(m.get("created_at"))),
        ("rp_m_selection", f"{', '.join(sel.get('waves', []))}{' · ' + filters if filters else ''} · "
                           f"n = {sel.get('n_respondents', '')}"),
        ("rp_m_model", t("rp_m_model_line", lang, name=str(m.get("model", {}).get("name", "")).upper(),
                         k=len(m.get("model", {}).get("items", [])))),
        ("rp_m_settings", t("rp_m_settings_line", lang, method=str(s.get("method", "")).upper(),
                            scheme=P.setting(s.get("scheme", ""), lang), missing=P.setting(s.get("missing", ""), lang),
                            weights=s.get("survey_weights") or "–", B=s.get("bootstrap", ""), seed=s.get("seed", ""),
                            ci=P.setting(s.get("ci", ""), lang))),
        ("rp_m_fingerprint", m.get("data_version", "")),
        ("rp_m_versions", ", ".join(f"{k} {v}" for k, v in (m.get("versions") or {}).items())),
    ]
    return ("<dl class=\"manifest\">" + "".join(f"<dt>{_e(t(k, lang))}</dt><dd>{_e(v)}</dd>" for k, v in rows)
            + "</dl>")


def report_html(report, lang: str = "en", *, brief=None) -> str:
    """The report as one HTML string (UTF-8). ``brief``: the :class:`csi.report.brief.Brief` of the same report
    in ``lang`` when already made."""
    from csi.report.brief import brief_content

    b = brief or brief_content(report, lang)
    prep, tables, head = report.prepared, report.tables, b.headline
    lab = _label_col(lang)
    target = head["target"]
    brand = prep.focus_brand or t("br_all_brands", lang)
    h = head.get("index", {})
    kpi_line = t("rp_header", lang, brand=brand, wave=head["wave"], construct=P.label(target, lang),
                 value=P.num(h.get("value")), lo=P.num(h.get("ci_low")), hi=P.num(h.get("ci_high")))
    sections: list[tuple[str, str]] = []

    body = _cards(b) + "".join(f"<p class=\"note\">{_e(n)}</p>" for n in b.kpi_notes)
    sections.append(("rp_sec_headline", body))
    alerts = tables.get("alerts")
    if alerts is not None and len(alerts):
        sections.append(("rp_sec_alerts", table_html(alerts, ["wave", "message"], lang)))
    if b.actions:
        body = "<ol>" + "".join(f"<li>{_e(a)}</li>" for a in b.actions) + "</ol>"
    else:
        body = f"<p>{_e(b.actions_note or '')}</p>"
    body += f"<p class=\"caption\">{_e(t('br_actions_how', lang, wave=head['wave']))}</p>"
    sections.append(("rp_sec_actions", body))

    booted = bool(b.trend) and all(sr.has_interval for sr in b.trend)
    svg = trend_svg(b.trend, bands=booted)
    cap = t("rp_trend_caption" if booted else "rp_trend_caption_point", lang)
    body = f"<figure>{svg}<figcaption>{_e(cap)}</figcaption></figure>" if svg else ""
    tr = tables.get("trends")
    if tr is not None and len(tr):
        wide = tr.pivot_table(index="wave", columns="construct", values="index", sort=False).reset_index()
        cons = [c for c in prep.spec.constructs if c in wide.columns]
        wide = wide[["wave", *cons]]
        body += table_html(wide.rename(columns={c: f"__{c}" for c in cons}), ["wave", *[f"__{c}" for c in cons]],
                           lang, labels={f"__{c}": P.label(c, lang) for c in cons})
    sections.append(("rp_sec_trend", body))
    sections.append(("rp_sec_indices", table_html(tables["indices"], ["construct", "index", "ci_low", "ci_high", "n"],
                                                  lang)))
    ch = tables.get("changes")
    if ch is not None and len(ch):
        sections.append(("rp_sec_changes", table_html(ch, ["wave_from", "wave_to", "construct", "index_a", "index_b",
                                                           "change", "ci_low", "ci_high", "verdict"], lang)))
    pri = tables.get("priorities")
    if pri is not None and len(pri):
        con = pri[(pri["level"] == "construct") & (pri["target"] == target)].sort_values("rank")
        items = pri[(pri["level"] == "indicator") & (pri["target"] == target)].sort_values("rank").copy()
        texts = prep.item_texts()
        items[lab] = [P.item_label(i, texts, lang) for i in items["driver"]]
        body = (f"<figure>{ipma_svg(con, lang)}<figcaption>"
                f"{_e(t('rp_ipma_caption', lang, construct=P.label(target, lang)))}</figcaption></figure>")
        body += table_html(con, ["driver", "importance", "performance", "quadrant", "rank"], lang)
        body += table_html(items, ["driver", "importance", "performance", "quadrant", "rank"], lang)
        sections.append(("rp_sec_priorities", body))
    else:
        sections.append(("rp_sec_priorities", f"<p>{_e(b.actions_note or t('br_no_priorities', lang))}</p>"))
    body = ""
    br = tables.get("brands")
    if br is not None and len(br):
        body += table_html(br[br["construct"].isin([target, "LOY"])], ["brand", "construct", "index", "ci_low",
                                                                          "ci_high", "n"], lang)
    gap = tables.get("competitor_gap")
    if gap is not None and len(gap):
        body += table_html(gap, ["construct", "own", "competitor", "gap", "ci_low", "ci_high", "significant"], lang)
    if body:
        sections.append(("rp_sec_brands", body))
    body = ""
    nps = tables.get("nps")
    if nps is not None and len(nps):
        body += table_html(nps, ["wave", "nps", "ci_low", "ci_high", "promoters", "passives", "detractors", "n"], lang)
    comp = tables.get("complaints")
    if comp is not None and len(comp):
        body += table_html(comp, ["wave", "complaint_rate", "handling_index", "n"], lang)
    if body:
        sections.append(("rp_sec_nps", body))
    bands = tables.get("bands")
    if bands is not None and len(bands):
        sections.append(("rp_sec_bands", table_html(bands, ["band", "share", "n"], lang)))
    sections.append(("rp_sec_notes", "<ul>" + "".join(f"<li>{_e(f)}</li>" for f in b.footnotes) + "</ul>"))
    sections.append(("rp_sec_manifest", _manifest(report.manifest, prep, lang)))

    parts = [f"<!DOCTYPE html><html lang=\"{'zh-CN' if lang == 'zh' else 'en'}\"><head><meta charset=\"utf-8\">"
             "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">",
             f"<title>{_e(t('report_title', lang))} · {_e(brand)} · {_e(head['wave'])}</title>"
             f"<style>{CSS}</style></head><body>",
             f"<header><h1>{_e(t('report_title', lang))}</h1><p class=\"kpi-line\">{_e(kpi_line)}</p>"
             f"<p class=\"meta\">{_e(b.subtitle)}</p></header>",
             f"<nav><h2>{_e(t('rp_contents', lang))}</h2><ol>"
             + "".join(f"<li><a href=\"#{k}\">{_e(t(k, lang))}</a></li>" for k, _ in sections) + "</ol></nav>"]
    for k, body in sections:
        cls = " class=\"appendix\"" if k == "rp_sec_manifest" else ""
        parts.append(f"<section id=\"{k}\"{cls}><h2>{_e(t(k, lang))}</h2>{body}</section>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_html(report, out_dir, langs: Sequence[str] = ("en", "zh")) -> dict[str, int]:
    """``report.html`` (English) and ``report.zh.html`` (Chinese) into ``out_dir``; returns {file: bytes}."""
    from pathlib import Path

    out = {}
    for lang in langs:
        name = "report.html" if lang == "en" else f"report.{lang}.html"
        data = report_html(report, lang).encode("utf-8")
        (Path(out_dir) / name).write_bytes(data)
        out[name] = len(data)
    return out
