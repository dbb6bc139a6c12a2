"""Higher-order constructs: seminr's own fixtures (tests/reference/SEMINR_SOURCES.md), the repeated-indicators
model against the hand-built plain model, refusals, the bootstrap and the analysis front door."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from csi.engine.bootstrap import bootstrap_pls
from csi.engine.hoc import combined_outer, repeated_indicators, two_stage_specs
from csi.engine.interaction import simple_slopes
from csi.engine.pls import estimate_pls
from csi.errors import SpecError
from csi.model.syntax import parse_model

REF = Path(__file__).parent / "reference"
MOBI = pd.read_csv(REF / "seminr_mobi.csv")

HOC = """
Image =~ IMAG1 + IMAG2 + IMAG3 + IMAG4 + IMAG5
Expectation =~ CUEX1 + CUEX2 + CUEX3
Quality =~ PERQ1 + PERQ2 + PERQ3 + PERQ4 + PERQ5 + PERQ6 + PERQ7
Value =~ PERV1 + PERV2
Satisfaction =~ Image + Value
Complaints =~ CUSCO
Loyalty =~ CUSL1 + CUSL2 + CUSL3
Satisfaction ~ Expectation + Quality
Complaints ~ Satisfaction
Loyalty ~ Satisfaction
"""
# seminr test-hoc.R, second model: a two-stage HOC and a two-stage interaction in one model
HOC_2SI = """
Image =~ IMAG1 + IMAG2 + IMAG3 + IMAG4 + IMAG5
Expectation =~ CUEX1 + CUEX2 + CUEX3
Quality =~ PERQ1 + PERQ2 + PERQ3 + PERQ4 + PERQ5
Loyalty =~ CUSL1 + CUSL2 + CUSL3
Value =~ PERV1 + PERV2
Nick =~ Quality + Loyalty
Satisfaction =~ CUSA1 + CUSA2 + CUSA3
Satisfaction ~ Image + Expectation + Value + Nick + Image:Expectation
"""


def _ref(model: str):
    paths = pd.read_csv(REF / "seminr_hoc_paths.csv").query("model == @model")
    outer = pd.read_csv(REF / "seminr_hoc_outer.csv").query("model == @model")
    return paths, outer


def test_two_stage_hoc_reproduces_seminr_fixture():
    res = estimate_pls(MOBI, parse_model(HOC), tol=1e-10)
    paths, outer = _ref("hoc")
    got = res.paths.set_index(["from", "to"])["estimate"]
    np.testing.assert_allclose(got.reindex(list(zip(paths["from"], paths["to"]))), paths["estimate"], atol=1e-6)
    ours = combined_outer(res).set_index(["construct", "indicator"])
    key = list(zip(outer["construct"], outer["indicator"]))
    np.testing.assert_allclose(ours["weight"].reindex(key), outer["weight"], atol=1e-6)
    has = outer["loading"].notna().to_numpy()
    np.testing.assert_allclose(ours["loading"].reindex(key)[has], outer["loading"][has], atol=1e-6)
    # the HOC is measured by the dimensions' stage-1 scores; the dimensions are not structural constructs
    assert res.spec.blocks["Satisfaction"] == ("Image", "Value")
    assert "Image" not in res.spec.constructs and "Image" in res.stages["hoc_first"].spec.constructs
    assert res.info["extended"]["higher_order"] == {"approach": "two_stage",
                                                    "constructs": {"Satisfaction": ["Image", "Value"]}}


def test_two_stage_hoc_with_two_stage_interaction_reproduces_seminr_fixture():
    res = estimate_pls(MOBI, parse_model(HOC_2SI), tol=1e-10)
    paths, outer = _ref("hoc_2si")
    got = res.paths.set_index("from")["estimate"].rename({"Image:Expectation": "Image*Expectation"})
    main = paths[paths["from"] != "Image*Expectation"]
    np.testing.assert_allclose(got.reindex(main["from"]), main["estimate"], atol=1e-6)
    # seminr reports the term on the product's scale: the standardised coefficient / seminr's adjustment
    ss = simple_slopes(res)
    seminr_term = paths.loc[paths["from"] == "Image*Expectation", "estimate"].item()
    assert ss["b_term_product"].iloc[0] == pytest.approx(seminr_term, abs=1e-6)
    assert res.info["extended"]["interactions"]["terms"][0]["product_sd"] == pytest.approx(
        outer.loc[outer["indicator"] == "Image*Expectation_intxn", "loading"].item(), abs=1e-6)
    ours = combined_outer(res).set_index(["construct", "indicator"])
    plain = outer[outer["construct"] != "Image*Expectation"]
    key = list(zip(plain["construct"], plain["indicator"]))
    np.testing.assert_allclose(ours["weight"].reindex(key), plain["weight"], atol=1e-6)
    np.testing.assert_allclose(ours["loading"].reindex(key), plain["loading"], atol=1e-6)


def test_repeated_indicators_is_the_hand_built_plain_model():
    spec = parse_model(HOC).with_methods(hoc="repeated")
    res = estimate_pls(MOBI, spec)
    items = [f"IMAG{i}" for i in range(1, 6)] + ["PERV1", "PERV2"]
    data = MOBI.assign(**{f"SAT_{i}": MOBI[i] for i in items})
    by_hand = parse_model(HOC.replace("Satisfaction =~ Image + Value",
                                      "Satisfaction =~ " + " + ".join(f"SAT_{i}" for i in items))
                          + "Image ~ Satisfaction\nValue ~ Satisfaction\n")
    ref = estimate_pls(data, by_hand)
    a = res.paths.set_index(["from", "to"])["estimate"].sort_index()
    b = ref.paths.set_index(["from", "to"])["estimate"].sort_index()
    np.testing.assert_allclose(a.to_numpy(), b.to_numpy(), atol=1e-10)
    assert list(a.index) == list(b.index)
    np.testing.assert_allclose(np.sort(res.outer["weight"]), np.sort(ref.outer["weight"]), atol=1e-10)
    assert "Satisfaction.IMAG1" in res.spec.indicators
    # a formative HOC (<~) is mode B over the copies and is pointed to by its dimensions
    fspec = parse_model(HOC.replace("Satisfaction =~ Image", "Satisfaction <~ Image")).with_methods(hoc="repeated")
    plain, copies = repeated_indicators(fspec)
    assert plain.modes["Satisfaction"] == "B" and ("Image", "Satisfaction") in plain.paths
    assert copies["Satisfaction.PERV2"] == ("PERV2", "Satisfaction")


def test_two_stage_first_stage_rewires_the_hoc_paths():
    stage1, stage2 = two_stage_specs(parse_model(HOC))
    assert set(stage1.paths) == {("Expectation", "Image"), ("Expectation", "Value"), ("Quality", "Image"),
                                 ("Quality", "Value"), ("Image", "Complaints"), ("Value", "Complaints"),
                                 ("Image", "Loyalty"), ("Value", "Loyalty")}
    assert set(stage2.paths) == set(parse_model(HOC).paths)


def test_refusals_are_clear():
    busy = parse_model(HOC + "Loyalty ~ Image\n")
    with pytest.raises(SpecError, match="repeated-indicators"):
        estimate_pls(MOBI, busy)
    assert estimate_pls(MOBI, busy.with_methods(hoc="repeated")).paths.shape[0] == 7
    with pytest.raises(SpecError, match="van Riel"):
        estimate_pls(MOBI, parse_model(HOC), plsc=True)
    with pytest.raises(SpecError, match="share their items"):
        estimate_pls(MOBI, parse_model(HOC).with_methods(hoc="repeated"), plsc=True)
    with pytest.raises(SpecError, match="unknown higher-order approach"):
        parse_model(HOC).with_methods(hoc="embedded")


def test_hoc_bootstrap_reestimates_both_stages_seeded():
    spec = parse_model(HOC)
    b1 = bootstrap_pls(MOBI, spec, n_boot=40, seed=7)
    b2 = bootstrap_pls(MOBI, spec, n_boot=40, seed=7)
    pd.testing.assert_frame_equal(b1.draws["paths"], b2.draws["paths"])
    s = b1.summary("paths").set_index(["from", "to"])
    full = estimate_pls(MOBI, spec).paths.set_index(["from", "to"])["estimate"]
    np.testing.assert_allclose(s["estimate"], full.reindex(s.index), atol=1e-12)
    assert (s["std_error"] > 0.005).all() and (s["ci_low"] < s["estimate"]).all()
    assert b1.n_kept == 40 and set(b1.draws["weights"].columns) >= {"Image", "Value"}
    # the repeated-indicators model without interactions uses the batched bootstrap (with its jackknife)
    b3 = bootstrap_pls(MOBI, spec.with_methods(hoc="repeated"), n_boot=20, seed=7, jackknife=False)
    assert ("Satisfaction", "Image") in b3.draws["paths"].columns


def test_analyze_front_door_and_cbsem():
    from csi.report.analyze import analyze

    fr = analyze(MOBI, parse_model(HOC), bootstrap=20, seed=1)
    assert {"Satisfaction", "Loyalty"} <= set(fr.tables["constructs"]["construct"])
    assert fr.tables["paths"]["ci_low"].notna().all()
    # CB-SEM: a reflective HOC is lavaan's second-order factor (its loadings are HOC -> dimension paths) ...
    cb = analyze(MOBI, parse_model(HOC), method="cbsem").tables["paths"].set_index(["from", "to"])
    assert 0.5 < cb.loc[("Satisfaction", "Image"), "estimate"] < 1
    # ... while interaction terms are refused with the reason
    with pytest.raises(SpecError, match="LMS/QML"):
        analyze(MOBI, parse_model(HOC_2SI), method="cbsem")


def test_indices_of_extended_models():
    from csi.analytics.index import index_scores, item_weights
    from csi.engine.hoc import extended_index, extended_scales

    scales = {c: (1.0, 10.0) for c in MOBI.columns}
    res = estimate_pls(MOBI, parse_model(HOC))
    ext = extended_scales(res, scales)
    idx = index_scores(res, ext).set_index("construct")["index"]
    first = index_scores(res.stages["hoc_first"], scales).set_index("construct")["index"]
    tab = item_weights(res, ext).set_index("indicator")
    # a dimension's 0-100 value on the HOC's block is its own index; the HOC's index is their weighted mean
    np.testing.assert_allclose(tab.loc[["Image", "Value"], "mean_0_100"], first[["Image", "Value"]], atol=1e-9)
    w = tab.loc[["Image", "Value"], "weight_norm"]
    assert idx["Satisfaction"] == pytest.approx(float(w @ first[["Image", "Value"]]), abs=1e-9)
    assert idx["Loyalty"] == pytest.approx(first["Loyalty"], abs=0.5)
    # the HOC's index interval carries the dimensions' bootstrap variation (not only the HOC weights')
    from csi.analytics.index import index_draws
    boot = bootstrap_pls(MOBI, parse_model(HOC), n_boot=30, seed=3)
    d = index_draws(res, ext, boot)
    assert d["Satisfaction"].std() > 0.5 * d["Expectation"].std() > 0   # (it was ~0.06 with fixed z-score bounds)
    # repeated indicators: the copies take their items' bounds
    rep = estimate_pls(MOBI, parse_model(HOC).with_methods(hoc="repeated"))
    assert extended_scales(rep, scales)["Satisfaction.IMAG1"] == (1.0, 10.0)
    # an interaction term has no 0-100 index
    ix = estimate_pls(MOBI, parse_model(HOC_2SI))
    out, _ = extended_index(ix, index_scores(ix, extended_scales(ix, scales)), None)
    out = out.set_index("construct")
    assert np.isnan(out.loc["Image:Expectation", "index"]) and np.isfinite(out.loc["Nick", "index"])


def test_report_engine_runs_an_interaction_model(tmp_path):
    from conftest import build_small_demo
    from csi.report import build

    db = build_small_demo(tmp_path / "csi.duckdb", per_wave=300, waves=1)
    syntax = build.prepare(db, build.Selection.of(), build.Settings(bootstrap=0)).spec.to_syntax()
    syntax = syntax.replace("SAT ~ ", "SAT ~ VAL:QUAL + ")
    rep = build.build_report(db, build.Selection.of(), build.Settings(model=syntax, bootstrap=20), segments=())
    ss = rep.tables["simple_slopes"]
    assert list(ss["term"].unique()) == ["VAL:QUAL"] and ss["ci_low"].notna().all()
    ind = rep.tables["indices"].set_index("construct")
    assert np.isnan(ind.loc["VAL:QUAL", "index"]) and np.isfinite(ind.loc["SAT", "index"])
    g = rep.tables["groups"]
    assert len(g) and g["p_permutation"].isna().all() and g["p_bootstrap"].notna().all()


def test_simulated_second_order_truth():
    # SQ -> three dimensions (0.8) -> three items each (0.85); Y = 0.6 SQ + e, three items (0.85). PLS composites
    # attenuate the correlation by sqrt(reliabilities) (about 0.9 here); both approaches agree
    rng = np.random.default_rng(21)
    n = 2000
    sq = rng.standard_normal(n)
    y = 0.6 * sq + 0.8 * rng.standard_normal(n)
    cols = {}
    for k in range(1, 4):
        dim = 0.8 * sq + 0.6 * rng.standard_normal(n)
        for i in range(1, 4):
            cols[f"d{k}_{i}"] = 0.85 * dim + np.sqrt(1 - 0.85 ** 2) * rng.standard_normal(n)
    for i in range(1, 4):
        cols[f"y{i}"] = 0.85 * y + np.sqrt(1 - 0.85 ** 2) * rng.standard_normal(n)
    data = pd.DataFrame(cols)
    syntax = "".join(f"D{k} =~ d{k}_1 + d{k}_2 + d{k}_3\n" for k in range(1, 4))
    syntax += "SQ =~ D1 + D2 + D3\nY =~ y1 + y2 + y3\nY ~ SQ\n"
    est = {}
    for how in ("two_stage", "repeated"):
        res = estimate_pls(data, parse_model(syntax).with_methods(hoc=how))
        est[how] = res.paths.set_index(["from", "to"]).loc[("SQ", "Y"), "estimate"]
    assert est["two_stage"] == pytest.approx(est["repeated"], abs=0.02)
    assert 0.45 < est["two_stage"] < 0.6
    rep = estimate_pls(data, parse_model(syntax).with_methods(hoc="repeated")).paths.set_index(["from", "to"])
    # second-order loadings (HOC -> dimension paths) near the truth's 0.8 / sqrt(dimension reliability ~ 0.9)
    for k in range(1, 4):
        assert 0.75 < rep.loc[("SQ", f"D{k}"), "estimate"] < 0.95
