"""The board brief (csi/report/brief*.py, python -m csi brief): its numbers are the engine's headline, the PPTX
and PDF hold them, the PDF embeds its CJK font, the Chinese brief shows no construct codes or English."""
from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import replace

import pandas as pd
import pytest

from csi.report import build
from csi.report.brief import brief_content, fix_first_lines, write_brief, year_ago
from csi.text.i18n import TEXT, t

CODES = re.compile(r"\b(SAT|LOY|IMAG|EXPE|QUAL|VAL|COMP|fix_first|keep_up|low_priority|label_en|label_zh)\b")


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    from conftest import build_small_demo

    return build_small_demo(tmp_path_factory.mktemp("brief") / "csi.duckdb", per_wave=500)


@pytest.fixture(scope="module")
def report(db):
    return build.build_report(db, build.Selection(), build.Settings(bootstrap=40, seed=7), segments=())


def _pptx_text(path) -> str:
    from pptx import Presentation

    out = []
    for slide in Presentation(str(path)).slides:
        for shape in slide.shapes:
            if shape.has_text_frame:
                out.append(shape.text_frame.text)
    return "\n".join(out)


def _pdftotext(path) -> str:
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True,
                          text=True).stdout


def _pdf_fonts(path) -> list[list[str]]:
    """Rows of ``pdffonts`` (name, type, encoding, emb, sub, uni, ...)."""
    out = subprocess.run(["pdffonts", str(path)], check=True, capture_output=True, text=True).stdout
    return [ln.split() for ln in out.splitlines()[2:] if ln.strip()]


needs_poppler = pytest.mark.skipif(shutil.which("pdffonts") is None or shutil.which("pdftotext") is None,
                                   reason="poppler-utils (pdffonts, pdftotext) not installed")


# ------------------------------------------------------------------------------------------ content
def test_headline_is_the_engine_headline_and_the_dashboards(db, report):
    """The brief's numbers equal build.headline (what app_pages/overview.py shows) and the indices table; a
    second, independent preparation of the same selection (the dashboard's path) gives the same numbers."""
    b = brief_content(report, "en")
    head = build.headline(report.prepared, report.fits, report.tables["nps"])
    assert b.headline == head
    idx = report.tables["indices"].set_index("construct")
    kpi = {k.key: k for k in b.kpis}
    assert kpi["index"].value == pytest.approx(idx.at["SAT", "index"], abs=1e-12)
    assert kpi["index"].ci_low == pytest.approx(idx.at["SAT", "ci_low"], abs=1e-12)
    assert kpi["loyalty"].value == pytest.approx(idx.at["LOY", "index"], abs=1e-12)
    nps = report.tables["nps"].set_index("wave").loc[report.prepared.focus_wave, "nps"]
    assert kpi["nps"].value == pytest.approx(nps, abs=1e-12)
    prep2 = build.prepare(db, build.Selection(), build.Settings(bootstrap=40, seed=7))
    head2 = build.headline(prep2, build.wave_fits(prep2))
    assert head2["index"]["value"] == pytest.approx(head["index"]["value"], abs=1e-12)
    assert head2["index"]["change"] == pytest.approx(head["index"]["change"], abs=1e-12)
    assert head2["index"]["significant"] == head["index"]["significant"]


def test_comparisons_previous_year_ago_competitor(report):
    b = brief_content(report, "en")
    sat = next(k for k in b.kpis if k.key == "index")
    kinds = {c.kind: c for c in sat.comparisons}
    prep = report.prepared
    assert kinds["previous"].what == report.prepared.waves[-2]
    assert kinds["year_ago"].what == year_ago(prep.focus_wave, prep.waves)
    tr = report.tables["trends"].set_index(["wave", "construct"])["index"]
    assert kinds["year_ago"].diff == pytest.approx(tr[(prep.focus_wave, "SAT")] - tr[(kinds["year_ago"].what, "SAT")])
    gap = report.tables["competitor_gap"].set_index("construct")
    assert kinds["competitor"].what == prep.competitor
    assert kinds["competitor"].diff == pytest.approx(gap.at["SAT", "gap"])
    assert kinds["competitor"].significant == bool(gap.at["SAT", "significant"])
    assert "industry" not in kinds  # the demo programme has no industry benchmark: skipped, no error


def test_industry_comparison_from_the_league_table(report):
    prep = report.prepared
    league = pd.DataFrame([{"wave": prep.focus_wave, "company": prep.focus_brand, "industry": "Telecom",
                            "construct": "SAT", "industry_index": 70.0, "gap_to_industry": 3.0,
                            "gap_significant": True}])
    rep = replace(report, tables={**report.tables, "league": league})
    sat = next(k for k in brief_content(rep, "en").kpis if k.key == "index")
    ind = next(c for c in sat.comparisons if c.kind == "industry")
    assert (ind.value, ind.diff, ind.significant) == (70.0, 3.0, True)
    assert "Telecom" in ind.text and "+3.0" in ind.text


def test_year_ago():
    assert year_ago("2025Q4", ["2024Q4", "2025Q3", "2025Q4"]) == "2024Q4"
    assert year_ago("2025-11", ["2024-11"]) == "2024-11"
    assert year_ago("2025Q4", ["2025Q3"]) is None
    assert year_ago("wave B", ["wave A"]) is None


def test_actions_are_only_fix_first_drivers(report):
    pri = report.tables["priorities"]
    con = pri[(pri["level"] == "construct") & (pri["target"] == "SAT")]
    lines, note = fix_first_lines(report, "SAT", "en")
    fix = con[con["quadrant"] == "fix_first"].sort_values("rank")
    assert len(lines) == len(fix) and (note is None) == (len(fix) > 0)
    from csi.text.i18n import construct_label

    for line, code in zip(lines, fix["driver"]):
        assert line.startswith(construct_label(code, "en") + ":")
        assert "start with" in line  # the item inside that matters most
    for code in con.loc[con["quadrant"] != "fix_first", "driver"]:
        assert not any(ln.startswith(construct_label(code, "en") + ":") for ln in lines)
    # no fix-first driver: no action lines, a plain sentence says so
    none = pri.assign(quadrant=pri["quadrant"].replace("fix_first", "keep_up"))
    lines, note = fix_first_lines(replace(report, tables={**report.tables, "priorities": none}), "SAT", "en")
    assert lines == [] and note == t("br_no_fix_first", "en", construct="Satisfaction")


def test_small_sample_brief_has_no_verdicts_and_no_actions(tmp_path):
    from conftest import build_small_demo

    small = build_small_demo(tmp_path / "small.duckdb", per_wave=70, waves=3)
    rep = build.build_report(small, build.Selection(), build.Settings(bootstrap=20, seed=1), segments=())
    b = brief_content(rep, "en")
    assert b.headline["small_sample"] is not None
    assert b.actions == () and b.actions_note
    for k in b.kpis:
        for c in k.comparisons:
            assert c.significant is None
            assert "(significant)" not in c.text and "not significant" not in c.text
    assert any("respondents" in n and "needed" in n for n in b.kpi_notes)


# ------------------------------------------------------------------------------------------ files
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_pptx_opens_and_holds_the_headline_numbers(report, tmp_path, lang):
    from pptx import Presentation

    b = brief_content(report, lang)
    path = write_brief(b, tmp_path / f"brief_{lang}.pptx")
    prs = Presentation(str(path))
    assert 2 <= len(prs.slides) <= 4
    text = _pptx_text(path)
    head = b.headline
    for v in (f"{head['index']['value']:.1f}", f"{head['loyalty']['value']:.1f}", f"{head['nps']['value']:.0f}"):
        assert v in text
    for sl in prs.slides:  # every shape on its slide
        for s in sl.shapes:
            assert s.left >= 0 and s.top >= 0
            assert s.left + s.width <= prs.slide_width and s.top + s.height <= prs.slide_height
    charts = [s.chart for sl in prs.slides for s in sl.shapes if s.has_chart]
    assert len(charts) == 1  # the trend: a native (vector) chart whose first series is satisfaction
    sat = report.tables["trends"].query("construct == 'SAT'")["index"].round(2).tolist()
    assert list(charts[0].plots[0].series[0].values) == pytest.approx(sat)
    if lang == "zh":
        assert "顾客满意度" in text
        assert not CODES.search(text), CODES.search(text)


@needs_poppler
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_pdf_embeds_its_cjk_font_and_holds_the_numbers(report, tmp_path, lang):
    b = brief_content(report, lang)
    path = write_brief(b, tmp_path / f"brief_{lang}.pdf")
    fonts = _pdf_fonts(path)
    assert fonts and all(row[-5] == "yes" for row in fonts), fonts  # every font embedded ...
    assert all(row[-4] == "yes" for row in fonts)  # ... as a subset
    assert any("CJK" in row[0] or "SC" in row[0] for row in fonts)
    text = _pdftotext(path)
    head = b.headline
    for v in (f"{head['index']['value']:.1f}", f"{head['loyalty']['value']:.1f}", f"{head['n']}"):
        assert v in text
    assert subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True).stdout.count("Pages:") == 1
    if lang == "zh":
        assert "顾客满意度" in text and "优先改进" in text
        assert not CODES.search(text), CODES.search(text)


@needs_poppler
def test_zh_brief_has_no_english_headers(report, tmp_path):
    """Every English text of the brief's keys is absent from the Chinese PDF and PPTX."""
    b = brief_content(report, "zh")
    pdf = _pdftotext(write_brief(b, tmp_path / "b.pdf"))
    pptx = _pptx_text(write_brief(b, tmp_path / "b.pptx"))
    english = [TEXT[k][0] for k in ("br_loyalty", "br_trend_title", "br_footnotes_title", "significant",
                                    "not_significant", "br_unweighted", "br_weighted")]
    english = [e.split("{")[0].strip() for e in english]
    english += ["Satisfaction", "Loyalty", "interval", "What to fix", "Page "]
    for text in (pdf, pptx):
        for e in english:
            if e:
                assert e not in text, e


# ------------------------------------------------------------------------------------------ CLI
def test_cli_brief_writes_both_formats(db, tmp_path, capsys):
    from csi.cli.main import main

    for name in ("b.pptx", "b.pdf"):
        assert main(["brief", "--db", str(db), "--bootstrap", "0", "--lang", "zh", "--out", str(tmp_path / name)]) == 0
        assert (tmp_path / name).stat().st_size > 5000
    assert "SAT" in capsys.readouterr().out


@pytest.mark.parametrize("flag, value, msg", [("--wave", "2031Q1", "unknown wave '2031Q1'"),
                                              ("--brand", "Nobody", "unknown brand 'Nobody'")])
def test_cli_brief_unknown_wave_or_brand_exits_2(db, tmp_path, capsys, flag, value, msg):
    from csi.cli.main import main

    assert main(["brief", "--db", str(db), flag, value, "--out", str(tmp_path / "b.pdf")]) == 2
    err = capsys.readouterr().err
    assert msg in err and ("waves:" in err or "brands:" in err)
    assert not (tmp_path / "b.pdf").exists()


def test_cli_brief_wave_and_brand_select_the_focus(db, tmp_path, capsys):
    from csi.cli.main import main
    from csi.data import store

    con = store.connect(db, read_only=True)
    waves, comp = store.wave_labels(con), store.get_setting(con, "competitor")
    con.close()
    assert main(["brief", "--db", str(db), "--wave", waves[-2], "--brand", comp, "--bootstrap", "0",
                 "--out", str(tmp_path / "b.pptx")]) == 0
    out = capsys.readouterr().out
    assert f"brief for {waves[-2]} / {comp}" in out
    assert f"{comp} · customer satisfaction · {waves[-2]}" in _pptx_text(tmp_path / "b.pptx")


def test_point_estimates_say_so(db):
    """Without a bootstrap (the dashboard before its background job ends) the brief claims no intervals, no
    verdicts and no resamples."""
    rep = build.build_report(db, build.Selection(), build.Settings(bootstrap=0), segments=())
    b = brief_content(rep, "en")
    assert any(f.startswith("Method:") and "point estimates" in f for f in b.footnotes)
    assert not any("bootstrap resamples" in f for f in b.footnotes)
    assert b.trend_caption == t("rp_trend_caption_point", "en")
    sat = next(k for k in b.kpis if k.key == "index")
    assert sat.interval_text("en") == "" and all(c.significant is None for c in sat.comparisons)
