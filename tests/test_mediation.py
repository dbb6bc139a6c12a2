"""Mediation (csi.analytics.mediation) on data simulated from a known truth: the indirect effect a·b is recovered,
the Zhao-Lynch-Chen type is right for constructed full, partial, competitive and no-mediation cases, and the
table agrees with the PLS result's own effects."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from csi.analytics.mediation import chains, indirect_effects, mediation_type
from csi.engine.bootstrap import bootstrap_pls
from csi.engine.pls import estimate_pls
from csi.model.syntax import parse_model

SYNTAX = "X =~ x1\nM =~ m1\nY =~ y1\nM ~ X\nY ~ X + M\n"


def _simulate(a: float, b: float, c: float, n: int = 1500, seed: int = 0) -> pd.DataFrame:
    """Standardized truth: X ~ N(0,1); M = aX + e; Y = cX + bM + u with variances making each variable unit-variance.
    The standardized indirect effect of X on Y is a·b, the direct effect c."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(n)
    m = a * x + np.sqrt(1 - a ** 2) * rng.standard_normal(n)
    var_y = c ** 2 + b ** 2 + 2 * a * b * c
    y = c * x + b * m + np.sqrt(1 - var_y) * rng.standard_normal(n)
    return pd.DataFrame({"x1": x, "m1": m, "y1": y})


@pytest.mark.parametrize("a,b,c,kind", [
    (0.5, 0.4, 0.3, "complementary"),      # partial mediation, same signs
    (0.5, 0.4, 0.0, "indirect-only"),      # full mediation
    (0.5, 0.4, -0.3, "competitive"),       # partial mediation, opposite signs
    (0.0, 0.4, 0.3, "direct-only"),        # no mediation (a = 0)
    (0.0, 0.0, 0.0, "no-effect"),
])
def test_types_and_recovery(a, b, c, kind):
    data = _simulate(a, b, c)
    spec = parse_model(SYNTAX)
    res = estimate_pls(data, spec)
    boot = bootstrap_pls(data, spec, n_boot=400, seed=11, jackknife=False)
    tab = indirect_effects(res, boot)
    spec_row = tab[tab["kind"] == "specific"].iloc[0]
    assert spec_row["path"] == "X > M > Y"
    assert spec_row["estimate"] == pytest.approx(a * b, abs=0.04)
    assert spec_row["type"] == kind
    assert spec_row["ci_low"] <= spec_row["estimate"] <= spec_row["ci_high"]
    tot = tab[tab["kind"] == "total_indirect"].iloc[0]
    assert tot["estimate"] == pytest.approx(spec_row["estimate"])


def test_products_and_totals_match_the_fit():
    rng = np.random.default_rng(3)
    n = 800
    x = rng.standard_normal(n)
    m1 = 0.5 * x + rng.standard_normal(n)
    m2 = 0.3 * x + 0.4 * m1 + rng.standard_normal(n)
    y = 0.2 * x + 0.3 * m1 + 0.3 * m2 + rng.standard_normal(n)
    data = pd.DataFrame({"x1": x, "m1": m1, "m2": m2, "y1": y})
    spec = parse_model("X =~ x1\nA =~ m1\nB =~ m2\nY =~ y1\nA ~ X\nB ~ X + A\nY ~ X + A + B\n")
    assert chains(spec) == [("X", "A", "B"), ("X", "A", "Y"), ("X", "B", "Y"), ("X", "A", "B", "Y"),
                            ("A", "B", "Y")]
    res = estimate_pls(data, spec)
    beta = {(f, t): e for f, t, e in zip(res.paths["from"], res.paths["to"], res.paths["estimate"])}
    tab = indirect_effects(res)                      # no bootstrap: estimates only, no type
    row = tab[(tab["path"] == "X > A > B > Y")].iloc[0]
    assert row["estimate"] == pytest.approx(beta[("X", "A")] * beta[("A", "B")] * beta[("B", "Y")], rel=1e-12)
    assert row["type"] == "" and np.isnan(row["ci_low"])
    eff = res.effects.set_index(["from", "to"])["indirect"]
    for r in tab[tab["kind"] == "total_indirect"].itertuples():
        assert r.estimate == pytest.approx(eff[(r._2, r.to)], abs=1e-12)


def test_type_rule():
    assert mediation_type(True, True, 0.1) == "complementary"
    assert mediation_type(True, True, -0.1) == "competitive"
    assert mediation_type(True, False, 0.0) == "indirect-only"
    assert mediation_type(False, True, 0.1) == "direct-only"
    assert mediation_type(False, False, 0.1) == "no-effect"


def test_analyze_adds_the_indirect_table_with_a_bootstrap():
    import csi

    data = _simulate(0.5, 0.4, 0.0, n=400, seed=2)
    spec = parse_model(SYNTAX)
    assert "indirect" not in csi.analyze(data, spec).tables
    fit = csi.analyze(data, spec, bootstrap=100, seed=4)
    pd.testing.assert_frame_equal(fit.tables["indirect"], indirect_effects(fit.result, fit.boot))
