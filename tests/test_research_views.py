"""Researcher views (issue 11, deliverable 8): indicators with outer loadings/weights in the path diagram, IPMA
importance and performance intervals after a bootstrap, and the one legend of significance marks.

Figures are checked as objects (plotly's own structures): node counts, edge labels, dashes, error-bar arrays; the
performance intervals against a computation from the bootstrap draws that does not go through the index module;
the Model and Drivers pages under streamlit.testing in Chinese with the indicators on. The rendered diagram's
label geometry is checked in a real browser by tests/test_browser_views.py.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from app import charts
from csi.analytics.priorities import ipma
from csi.engine.bootstrap import bootstrap_pls
from csi.engine.params import pls_params
from csi.engine.pls import estimate_pls
from csi.model.syntax import parse_model
from csi.model.templates import template
from csi.report.present import significance_legend, stars
from csi.text.i18n import t

DATA = Path(__file__).resolve().parents[1] / "data" / "ecsi_satisfaction.csv"


@pytest.fixture(scope="module")
def ecsi():
    d = pd.read_csv(DATA, index_col=0)
    spec = template("ecsi")
    res = estimate_pls(d, spec)
    boot = bootstrap_pls(d, spec, n_boot=80, seed=11)
    return d, spec, res, boot


def _outer_parts(fig):
    """(indicator node trace, {indicator: edge trace}, {indicator: label annotation}) of an indicator diagram."""
    nodes = [tr for tr in fig.data if tr.name == "indicators"]
    edges = {tr.name.split(":", 1)[1]: tr for tr in fig.data if (tr.name or "").startswith("outer:")}
    labels = {a.name.split(":", 1)[1]: a for a in fig.layout.annotations if (a.name or "").startswith("outer:")}
    return nodes, edges, labels


# ------------------------------------------------------------------ significance marks and legend
def test_stars_follow_the_usual_thresholds():
    assert [stars(p) for p in (0.0004, 0.001, 0.004, 0.01, 0.049, 0.05, 0.5)] == ["***", "**", "**", "*", "*",
                                                                                  "n.s.", "n.s."]
    assert stars(None) == "" and stars(float("nan")) == ""


def test_legend_names_the_test_and_its_resamples_in_both_languages():
    en = significance_legend("en", 500, marks=("stars", "edges"))
    assert en.startswith("* p < 0.05, ** p < 0.01, *** p < 0.001") and "bootstrap, two-sided, 500 resamples" in en
    assert "dashed" in en
    zh = significance_legend("zh", 500, marks=("stars", "edges"))
    assert "500 次重抽样" in zh and "自助法" in zh and "虚线" in zh
    assert "permutation test, two-sided, 200 permutations" in significance_legend("en", 200, ("column",),
                                                                                   test="permutation")
    assert "p < 0.1" in significance_legend("en", 99, ("column",), alpha=0.1)
    assert significance_legend("zh", 200, ("interval",)) == "“显著”：差异的 95% 百分位区间不含 0（自助法，双侧，200 次重抽样）"
    assert "90 % percentile intervals" in significance_legend("en", 99, ("ipma_bars",), alpha=0.1)
    assert significance_legend("zh", None) == t("sig_legend_none", "zh")
    assert significance_legend("en", 1200, test="ml").endswith("(maximum-likelihood z test, two-sided, n = 1200)")


# ------------------------------------------------------------------ path diagram with indicators
def test_indicator_nodes_labels_and_dashes(ecsi):
    _, spec, res, boot = ecsi
    params = pls_params(res, boot)
    # make a few loadings non-significant so the dashed set is not trivially empty
    weak = ["expe3", "qual4", "loy2"]
    mask = (params["op"] == "=~") & params["rhs"].isin(weak)
    params.loc[mask, "p_value"] = [0.2, 0.051, 0.7]
    paths = res.paths.merge(boot.summary("paths")[["from", "to", "p_value"]], on=["from", "to"])
    fig = charts.path_diagram(spec, paths, "zh", r2=dict(zip(res.constructs["construct"], res.constructs["r2"])),
                              outer=params)
    nodes, edges, labels = _outer_parts(fig)
    assert len(nodes) == 1 and len(nodes[0].x) == len(spec.indicators) == 27
    assert set(edges) == set(labels) == set(spec.indicators)
    loading = res.outer.set_index("indicator")["loading"]
    for i in spec.indicators:
        assert labels[i].text == f"{loading[i]:.2f}"
    dashed = {i for i, tr in edges.items() if tr.line.dash == "dash"}
    p = params[params["op"] == "=~"].set_index("rhs")["p_value"]
    assert dashed == set(p.index[p >= 0.05]) == set(weak)
    assert {tr.line.dash for i, tr in edges.items() if i not in weak} == {"solid"}
    # R² inside every endogenous construct, none in the exogenous one
    cons = [tr for tr in fig.data if tr.name == "constructs"][0]
    texts = dict(zip(spec.constructs, cons.text))
    for c in spec.endogenous:
        assert f"R² = {res.constructs.set_index('construct').loc[c, 'r2']:.2f}" in texts[c]
    assert "R²" not in texts["IMAG"]
    # the numbers count within each block, the hover names the question
    assert list(nodes[0].text[:5]) == ["1", "2", "3", "4", "5"]


def test_formative_blocks_show_weights_and_no_bootstrap_no_dashes():
    d = pd.read_csv(DATA, index_col=0)
    spec = parse_model("IMAG <~ imag1 + imag2 + imag3\nSAT =~ sat1 + sat2 + sat3\nLOY =~ loy1 + loy2 + loy3\n"
                       "SAT ~ IMAG\nLOY ~ SAT + IMAG")
    res = estimate_pls(d, spec)
    fig = charts.path_diagram(spec, res.paths, "en", outer=pls_params(res, None),
                              items={"imag1": ("The operator is trustworthy", "值得信赖")})
    nodes, edges, labels = _outer_parts(fig)
    outer = res.outer.set_index("indicator")
    for i in spec.blocks["IMAG"]:
        assert labels[i].text == f"{outer.loc[i, 'weight']:.2f}".replace("-", "−")
    for i in spec.blocks["SAT"] + spec.blocks["LOY"]:
        assert labels[i].text == f"{outer.loc[i, 'loading']:.2f}"
    assert {tr.line.dash for tr in edges.values()} == {"solid"}  # no p-values: nothing is marked
    tab = charts.outer_edges(spec, pls_params(res, None))
    assert list(tab["kind"]) == ["weight"] * 3 + ["loading"] * 6 and tab["significant"].isna().all()
    assert "The operator is trustworthy" in nodes[0].hovertext[0] and "Outer weight" in nodes[0].hovertext[0]


def test_indicator_labels_keep_clear_of_each_other_on_the_design_canvas():
    """The layout's own promise, without a browser: no two loading labels, indicator boxes or path labels overlap
    (boxes as the layout sizes them) for the three standard models."""
    from csi.data import demo

    wave = demo.generate(3).waves["2025Q4"]
    custom = parse_model("BRAND =~ imag1 + imag2 + imag3 + imag4\nSERV =~ qual1 + qual2 + qual3 + qual4 + qual5\n"
                         "PRICE =~ val1 + val2 + val3\nHAPPY =~ sat1 + sat2 + sat3\nSTAY =~ loy1 + loy2 + loy3\n"
                         "SERV ~ BRAND\nPRICE ~ SERV + BRAND\nHAPPY ~ SERV + PRICE + BRAND\nSTAY ~ HAPPY + BRAND")
    for name in ("ccsi", "ecsi", "acsi", "custom"):
        spec = (custom if name == "custom" else template(name)).with_items(wave.columns)
        data = wave[list(spec.indicators)].astype(float)
        res = estimate_pls(data.where(data != 99).dropna(), spec)
        fig = charts.path_diagram(spec, res.paths, "en", outer=pls_params(res, None))
        nodes, _, labels = _outer_parts(fig)
        boxes = [((a.x, a.y), charts._LABEL_BOX) for a in labels.values()]
        boxes += [((x, y), charts._ITEM_BOX) for x, y in zip(nodes[0].x, nodes[0].y)]
        boxes += [((a.x, a.y), charts._PATH_BOX) for a in fig.layout.annotations if (a.name or "").startswith("path:")]
        hits = [(p, q) for k, (p, sp) in enumerate(boxes) for q, sq in boxes[k + 1:]
                if charts._box_overlap(np.array(p), sp, np.array(q), sq) > 0]
        assert not hits, (name, hits[:3])
        xs = [b[0][0] for b in boxes]
        assert min(xs) > 0 and max(xs) < charts.OUTER_WIDTH, name


# ------------------------------------------------------------------ IPMA intervals
def _index_by_hand(res, boot, scales, construct):
    """The construct's 0–100 index in every draw, written out: unstandardized weights of the 0–100 items
    (w · range / (100 · sd)), normalised within the block, times the items' 0–100 means."""
    items = list(res.spec.blocks[construct])
    w = boot.draws["weights"][items].to_numpy(float)
    sd = boot.draws["item_sd"][items].to_numpy(float)
    m = boot.draws["item_mean"][items].to_numpy(float)
    lo = np.array([scales[i][0] for i in items])
    hi = np.array([scales[i][1] for i in items])
    u = w * (hi - lo) / (100.0 * sd)
    wn = u / u.sum(axis=1, keepdims=True)
    return (wn * 100.0 * (m - lo) / (hi - lo)).sum(axis=1)


def test_performance_intervals_equal_the_percentiles_of_the_draws(ecsi):
    _, spec, res, boot = ecsi
    scales = {i: (0.0, 10.0) for i in spec.indicators}
    tab = ipma(res, scales, target="SAT", boot=boot).set_index("driver")
    for c in tab.index:
        lo, hi = np.quantile(_index_by_hand(res, boot, scales, c), [0.025, 0.975])
        assert tab.loc[c, "performance_ci_low"] == pytest.approx(lo, abs=1e-9)
        assert tab.loc[c, "performance_ci_high"] == pytest.approx(hi, abs=1e-9)
        assert lo < tab.loc[c, "performance"] < hi
    items = ipma(res, scales, target="SAT", level="indicator", boot=boot, alpha=0.1).set_index("driver")
    for i in items.index:
        lo, hi = np.quantile(10.0 * boot.draws["item_mean"][i].to_numpy(float), [0.05, 0.95])
        assert items.loc[i, "performance_ci_low"] == pytest.approx(lo, abs=1e-9)
        assert items.loc[i, "performance_ci_high"] == pytest.approx(hi, abs=1e-9)
    plain = ipma(res, scales, target="SAT")
    assert plain[["performance_ci_low", "performance_ci_high"]].isna().all().all()


def test_ipma_error_bars_are_the_tables_intervals(ecsi):
    _, spec, res, boot = ecsi
    scales = {i: (0.0, 10.0) for i in spec.indicators}
    tab = ipma(res, scales, target="LOY", boot=boot)
    assert charts.ipma_intervals(tab)
    fig = charts.ipma_chart(tab, "zh", constructs=tuple(spec.constructs), intervals=True)
    assert len(fig.data) == len(tab)
    for tr in fig.data:
        r = tab[tab["importance"] == tr.x[0]].iloc[0]
        np.testing.assert_allclose(tr.error_x.array, [r.importance_ci_high - r.importance], rtol=1e-12)
        np.testing.assert_allclose(tr.error_x.arrayminus, [r.importance - r.importance_ci_low], rtol=1e-12)
        np.testing.assert_allclose(tr.error_y.array, [r.performance_ci_high - r.performance], rtol=1e-12)
        np.testing.assert_allclose(tr.error_y.arrayminus, [r.performance - r.performance_ci_low], rtol=1e-12)
        assert tr.error_x.symmetric is False and tr.error_y.symmetric is False
    lo, hi = fig.layout.xaxis.range
    assert lo < tab["importance_ci_low"].min() and tab["importance_ci_high"].max() < hi  # whole bars on the axis
    # no bootstrap (or not asked for): no bars
    for f in (charts.ipma_chart(ipma(res, scales, target="LOY"), "en", intervals=True),
              charts.ipma_chart(tab, "en")):
        assert all(tr.error_x.array is None and tr.error_y.array is None for tr in f.data)
    assert not charts.ipma_intervals(ipma(res, scales, target="LOY"))


# ------------------------------------------------------------------ the pages, in Chinese, with indicators on
pytest.importorskip("streamlit")


@pytest.fixture(scope="module")
def small_db(tmp_path_factory):
    from conftest import build_small_demo

    return build_small_demo(tmp_path_factory.mktemp("rvdb") / "csi.duckdb", 300)


def _charts(at, key=None):
    out = []
    for el in at.get("plotly_chart"):
        spec = json.loads(el.proto.spec)
        out.append(spec)
    return out


def test_model_and_drivers_pages_in_chinese_with_indicators(small_db, tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest
    from test_app import _clear_streamlit_caches, _no_exception, _use_copy, _wait_jobs
    from test_i18n import leaks

    from app import state

    _use_copy(small_db, tmp_path, monkeypatch)  # the app tests' environment: a private copy, small bootstraps
    _clear_streamlit_caches()
    at = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "streamlit_app.py"), default_timeout=240)
    at.run()
    at.session_state["lang"] = "zh"
    at.switch_page("app_pages/drivers.py")
    at.run()
    _no_exception(at)
    assert t("dr_ipma_no_boot", "zh") in [c.value for c in at.caption]   # no bootstrap yet: no bars, and why
    at.switch_page("app_pages/model.py")
    at.run()
    _no_exception(at)
    at.toggle(key="md_indicators").set_value(True).run()
    _no_exception(at)
    at.button(key="md_run_boot").click().run()
    _wait_jobs()
    at.run()
    _no_exception(at)
    fig = _charts(at)[0]
    nodes = [tr for tr in fig["data"] if tr.get("name") == "indicators"]
    spec = state.prepared(at.session_state["csi_selection"]).spec
    assert len(nodes) == 1 and len(nodes[0]["x"]) == len(spec.indicators)
    assert fig["layout"]["title"]["text"] == t("path_title_outer", "zh")
    caps = [c.value for c in at.caption]
    legend = [c for c in caps if "次重抽样" in c]
    assert legend and "虚线" in legend[0], caps
    assert t("md_outer_caption", "zh") in caps
    assert not leaks(legend[0] + t("md_outer_caption", "zh") + fig["layout"]["title"]["text"], "zh")
    hover = " ".join(nodes[0]["hovertext"]).replace("<br>", " ")
    assert not leaks(hover, "zh"), leaks(hover, "zh")[:5]
    # the Drivers page picks up the Model page's bootstrap: bars and their legend
    at.switch_page("app_pages/drivers.py")
    at.run()
    _no_exception(at)
    ipma_fig = _charts(at)[0]
    assert all(tr.get("error_x", {}).get("array") is not None for tr in ipma_fig["data"] if tr.get("type") == "scatter")
    caps = [c.value for c in at.caption]
    assert any("误差线" in c and "次重抽样" in c for c in caps), caps
    assert t("dr_ipma_no_boot", "zh") not in caps
    for key in list(state.jobs()._jobs):
        state.jobs().wait(key, 120)
