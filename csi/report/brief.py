"""The board brief: what an executive reads, as a pure data structure built from the report engine's tables.

:func:`brief_content` turns a :class:`csi.report.build.Report` into a :class:`Brief` (texts already in the
brief's language, numbers unrounded); :mod:`csi.report.brief_pptx` and :mod:`csi.report.brief_pdf` only lay it
out. The headline numbers are :func:`csi.report.build.headline` of the report's fits, the function the
dashboard's Overview shows, so the same selection gives the same numbers in the brief and on the screen.

Content (two to four slides/pages):

1. headline: satisfaction, loyalty and NPS of the focus wave with their intervals, the change against the
   previous wave (with the verdict; none on too few respondents), against the same wave a year earlier (when the
   selection holds it), against the competitor and the industry (when the programme has them; skipped if not);
2. what to fix first: only the constructs in the IPMA "fix first" quadrant, one line each with the item inside
   that matters most; a plain line when there are none (or when too few respondents allow no action list);
3. trend of satisfaction and loyalty with intervals;
4. footnotes: respondents used, method, date, data fingerprint and the engine's notes.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import pandas as pd

from csi.report import present as P
from csi.text.i18n import t

@dataclass(frozen=True)
class Comparison:
    """One reference a KPI is compared with: ``what`` (e.g. "2025Q3", "Horizon Telecom"), its value, the
    difference (KPI minus reference), its interval and verdict (None = no test / withheld)."""

    kind: str            # "previous" | "year_ago" | "competitor" | "industry"
    what: str
    value: float | None
    diff: float | None
    significant: bool | None = None
    text: str = ""


@dataclass(frozen=True)
class Kpi:
    key: str             # "index" | "loyalty" | "nps"
    construct: str | None
    label: str
    value: float
    ci_low: float | None
    ci_high: float | None
    digits: int
    comparisons: tuple[Comparison, ...] = ()

    def interval_text(self, lang: str) -> str:
        """``95% interval lo to hi``; empty for a point estimate (no bootstrap)."""
        if P.missing(self.ci_low) or P.missing(self.ci_high):
            return ""
        return t("br_interval", lang, lo=P.num(self.ci_low, self.digits), hi=P.num(self.ci_high, self.digits))


@dataclass(frozen=True)
class Series:
    label: str
    waves: tuple[str, ...]
    values: tuple[float, ...]
    low: tuple[float, ...]
    high: tuple[float, ...]

    @property
    def has_interval(self) -> bool:
        """True when every wave has a finite interval (a bootstrap ran); point estimates draw no band."""
        import math

        return all(math.isfinite(v) for v in (*self.low, *self.high))


@dataclass(frozen=True)
class Brief:
    lang: str
    title: str
    subtitle: str
    kpis: tuple[Kpi, ...]
    kpi_notes: tuple[str, ...]
    actions_title: str
    actions: tuple[str, ...]
    actions_note: str | None
    trend_title: str
    trend_caption: str
    trend: tuple[Series, ...]
    footnotes_title: str
    footnotes: tuple[str, ...]
    headline: Mapping[str, Any] = field(repr=False, default_factory=dict)
    slide_titles: tuple[str, ...] = ()


def year_ago(wave: str, waves: Sequence[str]) -> str | None:
    """The same wave a year earlier when ``waves`` holds it: ``2025Q4`` → ``2024Q4``, ``2025-11`` → ``2024-11``,
    ``W2025`` → ``W2024`` (the first four-digit year in the label, minus one)."""
    m = re.search(r"(19|20)\d{2}", str(wave))
    if not m:
        return None
    cand = str(wave)[:m.start()] + str(int(m.group(0)) - 1) + str(wave)[m.end():]
    return cand if cand in set(map(str, waves)) else None


def _index_change(prep, fits, a_wave: str, b_wave: str):
    """(change b − a, significant or None) of every construct between two fitted waves, withheld on small n."""
    from csi.compare.groups import wave_change
    from csi.report.build import too_small

    a, b = fits.get((a_wave,)), fits.get((b_wave,))
    if a is None or b is None or not a.ok or not b.ok:
        return {}
    ch = wave_change(a, b, alpha=prep.settings.alpha).set_index("construct")
    small = too_small(prep, a, b) is not None
    out = {}
    for c in ch.index:
        sig = ch.at[c, "significant"]
        out[c] = (float(ch.at[c, "change"]), None if small or P.missing(sig) else bool(sig))
    return out


def _comparison_text(kind: str, what: str, diff, significant, lang: str, digits: int) -> str:
    if kind == "previous":
        return P.change_text(diff, significant, what, lang)
    key = {"year_ago": "br_vs_year", "competitor": "br_vs_comp", "industry": "br_vs_industry"}[kind]
    return t(key, lang, what=what, delta=P.signed(diff, digits), verdict=P.verdict(significant, lang))


def brief_content(report, lang: str = "en") -> Brief:
    """The brief of a built report (see the module's docstring)."""
    from csi.report import build

    prep, fits, tables = report.prepared, report.fits, report.tables
    nps = tables.get("nps")
    head = build.headline(prep, fits, nps)
    wave, prev = head["wave"], head["previous"]
    ya = year_ago(wave, [w for w in prep.waves if (w,) in fits and fits[(w,)].ok]) if wave else None
    ya_change = _index_change(prep, fits, ya, wave) if ya else {}
    gap = tables.get("competitor_gap")
    gap = gap.set_index("construct") if gap is not None and len(gap) else None
    industry = _industry(prep, tables.get("league"))
    small = head.get("small_sample")

    kpis = []
    for key, name in (("index", None), ("loyalty", "br_loyalty"), ("nps", "br_nps")):
        h = head.get(key)
        if not h:
            continue
        c = h.get("construct")
        label = P.label(c, lang) if key == "index" else t(name, lang)
        digits = 0 if key == "nps" else 1
        comps = []
        if prev is not None:
            sig = h.get("significant") if key != "nps" else None
            comps.append(Comparison("previous", prev, None, h["change"], sig,
                                    P.change_text(h["change"], sig, prev, lang) if key != "nps" else
                                    t("br_change_nps", lang, delta=P.signed(h["change"], 0), prev=prev)
                                    if h["change"] is not None else t("br_no_previous", lang)))
        if ya is not None:
            if key == "nps":
                by = nps.set_index(nps["wave"].astype(str))
                if ya in by.index:
                    d = h["value"] - float(by.at[ya, "nps"])
                    comps.append(Comparison("year_ago", ya, float(by.at[ya, "nps"]), d, None,
                                            t("br_vs_year_nps", lang, what=ya, delta=P.signed(d, 0))))
            elif c in ya_change:
                d, sig = ya_change[c]
                comps.append(Comparison("year_ago", ya, h["value"] - d, d, sig,
                                        _comparison_text("year_ago", ya, d, sig, lang, digits)))
        if key != "nps" and gap is not None and c in gap.index:
            g = gap.loc[c]
            sig = None if P.missing(g["significant"]) else bool(g["significant"])
            comps.append(Comparison("competitor", str(prep.competitor), float(g["competitor"]), float(g["gap"]), sig,
                                    _comparison_text("competitor", str(prep.competitor), float(g["gap"]), sig, lang,
                                                     digits)))
        if key != "nps" and industry is not None and c in industry:
            name, v, d, sig = industry[c]
            what = t("br_industry", lang, industry=name)
            comps.append(Comparison("industry", what, v, d, sig, _comparison_text("industry", what, d, sig, lang,
                                                                                  digits)))
        kpis.append(Kpi(key, c, label, float(h["value"]), h.get("ci_low"), h.get("ci_high"), digits, tuple(comps)))

    kpi_notes = []
    if small is not None:
        kpi_notes.append(t("br_small_sample", lang, n=small, need=prep.settings.min_n_verdict))
    if ya is None:
        kpi_notes.append(t("br_no_year_ago", lang))
    if gap is None:
        kpi_notes.append(t("br_no_competitor", lang))

    actions, note = fix_first_lines(report, head["target"], lang)
    brand = prep.focus_brand or t("br_all_brands", lang)
    trend = _trend(tables.get("trends"), [head["target"]] + (["LOY"] if head.get("loyalty") else []), lang)
    return Brief(
        lang=lang, title=t("br_title", lang, brand=brand, wave=wave), subtitle=t("br_subtitle", lang, brand=brand,
                                                                               wave=wave, n=head["n"]),
        kpis=tuple(kpis), kpi_notes=tuple(kpi_notes), actions_title=t("br_actions_title", lang, construct=P.label(
            head["target"], lang)), actions=tuple(actions), actions_note=note,
        trend_title=t("br_trend_title", lang),
        trend_caption=t("br_trend_caption" if trend and all(sr.has_interval for sr in trend) else
                        "rp_trend_caption_point", lang), trend=tuple(trend),
        footnotes_title=t("br_footnotes_title", lang), footnotes=tuple(footnotes(report, head, lang)),
        headline=head,
        slide_titles=(t("br_title", lang, brand=brand, wave=wave), t("br_actions_title", lang, construct=P.label(
            head["target"], lang)), t("br_trend_title", lang), t("br_footnotes_title", lang)))


def _industry(prep, league: pd.DataFrame | None) -> dict[str, tuple[str, float, float, bool | None]] | None:
    """``{construct: (industry, industry index, gap, significant)}`` of the focus brand in the focus wave from the
    engine's ``league`` table (national programmes, :mod:`csi.analytics.industry`); None without one."""
    if league is None or league.empty or prep.focus_brand is None:
        return None
    rows = league[(league["wave"].astype(str) == str(prep.focus_wave))
                  & (league["company"].astype(str) == str(prep.focus_brand))]
    if rows.empty:
        return None
    out = {}
    for r in rows.to_dict("records"):
        sig = r.get("gap_significant")
        out[str(r["construct"])] = (str(r["industry"]), float(r["industry_index"]), float(r["gap_to_industry"]),
                                    None if P.missing(sig) else bool(sig))
    return out


def fix_first_lines(report, target: str, lang: str) -> tuple[list[str], str | None]:
    """One line per construct in the "fix first" quadrant of ``target`` (best rank first), each naming the item
    of that construct with the largest ``priority_score``; ([], why) when there is nothing to fix first or no
    action list may be shown."""
    pri = report.tables.get("priorities")
    if pri is None or pri.empty:
        why = next((n for n in report.notes if n["code"] == "no_priorities"), None)
        return [], (why["message_zh" if lang == "zh" else "message"] if why else t("br_no_priorities", lang))
    texts = report.prepared.item_texts()
    con = pri[(pri["level"] == "construct") & (pri["target"] == target)].sort_values("rank")
    items = pri[(pri["level"] == "indicator") & (pri["target"] == target)]
    lines = []
    for r in con[con["quadrant"] == "fix_first"].itertuples(index=False):
        line = t("br_action", lang, construct=P.label(r.driver, lang), perf=P.num(r.performance),
                 imp=P.num(r.importance, 2))
        block = items[(items["construct"] == r.driver)]
        if "priority_score" in block.columns:
            block = block[block["priority_score"].notna()]
            if len(block):
                best = block.loc[block["priority_score"].idxmax()]
                line += t("br_action_item", lang, item=P.item_label(best["driver"], texts, lang),
                          perf=P.num(best["performance"]))
        lines.append(line)
    if not lines:
        return [], t("br_no_fix_first", lang, construct=P.label(target, lang))
    return lines, None


def _trend(tr: pd.DataFrame | None, constructs: Sequence[str], lang: str) -> list[Series]:
    if tr is None or tr.empty:
        return []
    out = []
    for c in constructs:
        g = tr[tr["construct"] == c]
        if len(g):
            out.append(Series(P.label(c, lang), tuple(map(str, g["wave"])), tuple(map(float, g["index"])),
                              tuple(map(float, g["ci_low"])), tuple(map(float, g["ci_high"]))))
    return out


def footnotes(report, head: Mapping, lang: str) -> list[str]:
    """n used (and of how many), method, date and data fingerprint, then the engine's notes."""
    m, prep = report.manifest, report.prepared
    s = prep.settings
    method = t("method_pls" if s.method == "pls" else "method_cbsem", lang)
    weights = t("br_weighted", lang, col=prep.weight_col) if prep.weight_col else t("br_unweighted", lang)
    focus = report.fits.get((head["wave"],)) if head.get("wave") else None
    booted = focus is not None and getattr(focus, "boot", None) is not None  # the fits may be point estimates
    model = s.model.upper() if len(s.model) <= 12 else prep.spec.name
    lines = [
        t("br_fn_n", lang, n=head["n"], total=head["n_respondents"], wave=head["wave"]),
        t("br_fn_method", lang, model=model, method=method, B=s.bootstrap, seed=s.seed,
          level=f"{100 * (1 - s.alpha):g}", weights=weights, need=s.min_n_verdict) if booted else
        t("br_fn_method_point", lang, model=model, method=method, weights=weights, need=s.min_n_verdict),
        t("br_fn_source", lang, when=P.timestamp(m.get("created_at")), fp=prep.data_version,
          waves=", ".join(prep.waves)),
    ]
    for n in report.notes:
        if n["code"] in ("no_competitor",):
            continue
        lines.append(str(n["message_zh" if lang == "zh" else "message"]))
    return lines


def make_brief(source, selection=None, settings=None, lang: str = "en", *, cache=None, workers: int = 1,
               report=None):
    """(report, brief) of a selection: the engine's report (segments skipped: the brief shows none) and its
    brief in ``lang``."""
    from csi.report.build import build_report

    rep = report or build_report(source, selection, settings, cache=cache, workers=workers, segments=())
    return rep, brief_content(rep, lang)


def write_brief(brief: Brief, out: str | Path) -> Path:
    """Write ``brief`` as PPTX or PDF by the suffix of ``out``."""
    from csi.errors import DataError

    out = Path(out)
    suffix = out.suffix.lower()
    if suffix == ".pptx":
        from csi.report.brief_pptx import render_pptx
        data = render_pptx(brief)
    elif suffix == ".pdf":
        from csi.report.brief_pdf import render_pdf
        data = render_pdf(brief)
    else:
        raise DataError(f"--out must end in .pptx or .pdf, got {out.name!r}")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(data)
    return out
