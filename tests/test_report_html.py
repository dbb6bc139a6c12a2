"""The HTML report (csi/report/html.py; app/report_html.py re-exports it) and the shared formatting
(csi/report/present.py)."""
from __future__ import annotations

import html as htmllib
import re

import pandas as pd
import pytest

from csi.report import build, present as P
from csi.report.html import report_html, trend_svg
from csi.text.i18n import t

CODES = re.compile(r"\b(IMAG|EXPE|QUAL|VAL|SAT|LOY|fix_first|keep_up|low_priority|possible_overkill|label_en|"
                   r"label_zh|verdict_en|verdict_zh)\b")


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    from conftest import build_small_demo

    return build_small_demo(tmp_path_factory.mktemp("html") / "csi.duckdb", per_wave=400, waves=4)


@pytest.fixture(scope="module")
def report(db):
    return build.build_report(db, build.Selection(), build.Settings(bootstrap=30, seed=5), segments=())


def _visible(page: str) -> str:
    """The text a reader sees: tags, the stylesheet and SVG attributes removed."""
    page = re.sub(r"<style>.*?</style>", "", page, flags=re.S)
    page = re.sub(r"<title>.*?</title>", "", page, flags=re.S)
    return htmllib.unescape(re.sub(r"<[^>]+>", " ", page))


# ------------------------------------------------------------------------------------ present
@pytest.mark.parametrize("p, text", [(0.0, "< 0.001"), (0.00049, "< 0.001"), (0.001, "0.001"), (0.0456, "0.046"),
                                     (None, "–"), (float("nan"), "–")])
def test_pval(p, text):
    assert P.pval(p) == text


def test_signed_pct_num():
    assert P.signed(1.23) == "+1.2" and P.signed(-0.44) == "−0.4" and P.signed(0.02) == "±0.0"
    assert P.pct(0.254) == "25%" and P.pct(0.2549, 1) == "25.5%"
    assert P.num(-3.0) == "−3.0" and P.num(pd.NA) == "–"
    assert P.fmt_cell("p_value", 1e-9, "en") == "< 0.001"
    assert P.fmt_cell("significant", True, "zh") == "显著" and P.fmt_cell("significant", pd.NA, "en") == "no verdict"
    assert P.fmt_cell("n", 1300.0, "en") == "1,300"


def test_labels_come_from_the_dictionary():
    assert P.label("SAT", "zh") == "顾客满意度" and P.label("IMAG", "en") == "Image"
    texts = {"qual3": ("Customer-service hotline: getting through and a solution", "客服热线：接通并解决问题")}
    assert P.item_label("qual3", texts, "en") == "Customer-service hotline"
    assert P.item_label("qual3", texts, "zh") == "客服热线"
    assert P.header("ci_low", "zh") == t("rp_h_ci_low", "zh")


# ------------------------------------------------------------------------------------ the report
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_report_reads_as_a_report(report, lang):
    page = report_html(report, lang)
    prep = report.prepared
    head = build.headline(prep, report.fits, report.tables["nps"])
    header = page[page.index("<header>"):page.index("</header>")]
    assert prep.focus_brand in header and prep.focus_wave in header
    assert f"{head['index']['value']:.1f}" in header  # the headline KPI, the Overview's number
    # sections in reading order: headline first, the manifest last, as a short appendix (no JSON dump)
    order = [page.index(f'id="{k}"') for k in ("rp_sec_headline", "rp_sec_actions", "rp_sec_trend",
                                                "rp_sec_indices", "rp_sec_priorities", "rp_sec_manifest")]
    assert order == sorted(order)
    assert "<pre>" not in page and '"settings"' not in page
    text = _visible(page)
    assert "0.0000" not in text
    assert not re.search(r"\bnan\b|\bNaN\b|<NA>|None\b", text)
    assert not CODES.search(text), CODES.search(text).group(0)
    assert "<script" not in page and not re.search(r"(src|href)=\"https?:", page)  # opens offline
    appendix = _visible(page[page.index('id="rp_sec_manifest"'):])
    assert prep.data_version in appendix and len(appendix) < 1500  # short: no JSON dump
    if lang == "zh":
        for english in ("listwise", "percentile", "scheme", "brand ="):
            assert english not in appendix, english
        for k in ("rp_h_index", "rp_h_ci_low", "rp_h_construct", "rp_sec_indices"):
            assert t(k, "zh") in page
        for english in ("Index</th>", "Construct</th>", "Respondents</th>", "Satisfaction", "Loyalty", "Verdict"):
            assert english not in page, english


def test_trend_caption_is_true(report, db):
    page = report_html(report, "en")
    trend = page[page.index('id="rp_sec_trend"'):page.index('id="rp_sec_indices"')]
    assert "<polygon" in trend and t("rp_trend_caption", "en") in trend  # intervals drawn and said
    point = build.build_report(db, build.Selection(), build.Settings(bootstrap=0), segments=())
    page = report_html(point, "en")
    trend = page[page.index('id="rp_sec_trend"'):page.index('id="rp_sec_indices"')]
    assert "<polygon" not in trend and t("rp_trend_caption_point", "en") in trend
    assert "shaded" not in trend


def test_trend_svg_draws_each_wave():
    from csi.report.brief import Series

    s = Series("Satisfaction", ("A", "B", "C"), (70.0, 71.0, 72.0), (69.0, 70.0, 71.0), (71.0, 72.0, 73.0))
    svg = trend_svg([s], bands=True)
    assert svg.count("<circle") == 3 and svg.count("<polygon") == 1 and ">B<" in svg


def test_print_css_fits_a4_and_letter(report):
    page = report_html(report, "en")
    assert "@page" in page and "@media print" in page
    assert "table-header-group" in page and "overflow-wrap: anywhere" in page  # tables wrap, headers repeat
    assert "max-width: none" in page


def test_app_shim_and_cli_give_the_same_html(report, db, tmp_path):
    import app.report_html as shim
    from csi.cli.main import main
    from csi.report import html as pure

    assert shim.report_html is pure.report_html
    assert main(["report", "--db", str(db), "--bootstrap", "0", "--out", str(tmp_path / "out")]) == 0
    en = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    zh = (tmp_path / "out" / "report.zh.html").read_text(encoding="utf-8")
    assert en.startswith("<!DOCTYPE html>") and 'lang="zh-CN"' in zh
    assert t("rp_sec_headline", "zh") in zh and t("rp_sec_headline", "en") in en
