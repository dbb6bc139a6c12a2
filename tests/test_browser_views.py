"""The indicator path diagram in a real browser (issue 11, deliverable 8): no label clipped or on top of another.

Reuses tests/test_browser.py's Chromium, streamlit server and label-geometry checker (``_CHART_GEOMETRY``):

* the diagram of each standard model (CCSI, ECSI, ACSI on the demo's items), both languages, drawn at the plot
  widths the Model page has in a 1024 px and a 1440 px window (564 and 980 px charts);
* the Model page itself with "Show indicators" on, in Chinese at 1024 px after a bootstrap (stars, dashed lines,
  the legend) and in English at 1440 px. Screenshots go where test_browser.py puts its own.
"""
from __future__ import annotations

import plotly.io as pio
import pytest

from test_browser import _CHART_GEOMETRY, SHOTS, _wait_idle, browser, server  # noqa: F401  (fixtures)


def _demo_fit(name: str):
    from csi.data import demo
    from csi.engine.bootstrap import bootstrap_pls
    from csi.engine.params import pls_params
    from csi.engine.pls import estimate_pls
    from csi.model.templates import template

    wave = demo.generate(3).waves["2025Q4"]
    spec = template(name).with_items(wave.columns)
    data = wave[list(spec.indicators)].astype(float)
    data = data.where(data != 99).dropna()
    res = estimate_pls(data, spec)
    boot = bootstrap_pls(data, spec, n_boot=40, seed=2)
    paths = res.paths.merge(boot.summary("paths")[["from", "to", "p_value"]], on=["from", "to"])
    return spec, res, paths, pls_params(res, boot)


def test_indicator_diagrams_have_no_overlapping_labels(browser, tmp_path):  # noqa: F811
    from app import charts
    from csi.model.dictionary import DEFAULT_ITEMS

    items = {r.item: (str(r.text_en), str(r.text_zh)) for r in DEFAULT_ITEMS.itertuples(index=False)}
    SHOTS.mkdir(parents=True, exist_ok=True)
    problems = {}
    page = browser.new_page(viewport={"width": 1000, "height": 1300})
    try:
        for name in ("ccsi", "ecsi", "acsi"):
            spec, res, paths, params = _demo_fit(name)
            r2 = dict(zip(res.constructs["construct"], res.constructs["r2"]))
            for lang in ("en", "zh"):
                fig = charts.path_diagram(spec, paths, lang, r2=r2, index={c: 72.5 for c in spec.constructs},
                                          outer=params, items=items)
                for width in (564, 980):
                    fig.update_layout(width=width)
                    f = tmp_path / f"{name}_{lang}_{width}.html"
                    pio.write_html(fig, f, include_plotlyjs="directory", full_html=True)  # one plotly.min.js
                    page.goto(f.as_uri())
                    page.wait_for_selector("svg.main-svg")
                    page.wait_for_timeout(300)
                    bad = page.evaluate(_CHART_GEOMETRY)
                    n_items = page.locator(".scatterlayer .trace .textpoint text").count()
                    assert n_items >= len(spec.indicators) + len(spec.constructs), (name, n_items)
                    if bad:
                        problems[(name, lang, width)] = bad
                    page.screenshot(path=str(SHOTS / f"outer_{name}_{lang}_{width}.png"), full_page=True)
    finally:
        page.close()
    assert not problems, problems


def test_model_page_with_indicators_in_both_languages(server, browser):  # noqa: F811
    found = {}
    from csi.text.i18n import t

    for lang, width, run in (("zh", 1024, "运行自助抽样"), ("en", 1440, None)):
        ctx = browser.new_context(viewport={"width": width, "height": 1600}, locale="en-US")
        page = ctx.new_page()
        try:
            page.goto(f"{server['url']}/?page=model&lang={lang}", wait_until="domcontentloaded")
            page.locator("h1").first.wait_for(timeout=240_000)
            _wait_idle(page, timeout=240_000)
            page.get_by_text(t("md_show_indicators", lang)).first.click()
            page.get_by_text(t("path_title_outer", lang)).first.wait_for(timeout=120_000)
            _wait_idle(page)
            if run:
                page.get_by_role("button", name=run).click()
                page.get_by_text("自助法，双侧", exact=False).first.wait_for(timeout=240_000)  # the legend: bootstrap done
                _wait_idle(page)
                assert page.get_by_text("自助抽样完成", exact=False).count() == 1
            page.wait_for_function("() => [...document.querySelectorAll('[data-testid=\"stPlotlyChart\"]')]"
                                   ".every(e => e.querySelector('svg.main-svg'))", timeout=60_000)
            page.wait_for_timeout(1200)
            assert page.locator('[data-testid="stException"]').count() == 0
            plot = page.locator(".js-plotly-plot").first
            assert plot.locator(".textpoint text").count() > 20  # the indicator boxes are drawn
            bad = page.evaluate(_CHART_GEOMETRY)
            if bad:
                found[(lang, width)] = bad
            page.screenshot(path=str(SHOTS / f"model_indicators_{lang}_{width}.png"), full_page=True)
        finally:
            ctx.close()
    assert not found, found
