"""PLSpredict (csi.evaluate.predict): leave-one-out is deterministic; the LM benchmark equals an independent numpy
lstsq leave-one-out; the PLS predictions equal an independent loop of full estimate_pls fits; k-fold is seeded."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from csi.engine.pls import estimate_pls
from csi.evaluate.predict import plspredict, predictive_power
from csi.model.syntax import parse_model

ROOT = Path(__file__).resolve().parents[1]
SYNTAX = """
IMAG =~ imag1 + imag2 + imag3
EXPE =~ expe1 + expe2 + expe3
SAT =~ sat1 + sat2 + sat3
EXPE ~ IMAG
SAT ~ IMAG + EXPE
"""


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return pd.read_csv(ROOT / "data" / "ecsi_satisfaction.csv", index_col=0).iloc[:120]


@pytest.fixture(scope="module")
def spec():
    return parse_model(SYNTAX)


def test_loo_is_deterministic(data, spec):
    a = plspredict(data, spec, folds=len(data), seed=1)
    b = plspredict(data, spec, folds=len(data), seed=999, reps=7)
    pd.testing.assert_frame_equal(a, b)
    assert a.attrs["seed"] is None and a.attrs["reps"] == 1


def _independent_loo(data, spec):
    """Leave-one-out by brute force: numpy lstsq with intercept for LM, a full estimate_pls per left-out row for
    PLS (earliest antecedents: IMAG scores x total effects, indicator = mean + sd * loading * score)."""
    endo_items = ["expe1", "expe2", "expe3", "sat1", "sat2", "sat3"]
    exo_items = ["imag1", "imag2", "imag3"]
    X = data.to_numpy()
    n = len(data)
    lm = np.empty((n, len(endo_items)))
    pls = np.empty((n, len(endo_items)))
    naive = np.empty((n, len(endo_items)))
    for i in range(n):
        train = data.drop(index=data.index[i])
        A = np.column_stack([np.ones(n - 1), train[exo_items].to_numpy()])
        coef = np.linalg.lstsq(A, train[endo_items].to_numpy(), rcond=None)[0]
        lm[i] = np.r_[1.0, data.iloc[i][exo_items].to_numpy(float)] @ coef
        naive[i] = train[endo_items].mean().to_numpy()
        res = estimate_pls(train, spec)
        mu, sd = res.item_mean, res.item_sd
        out = res.outer.set_index("indicator")
        z = (data.iloc[i][exo_items] - mu[exo_items]) / sd[exo_items]
        imag = float(z @ out.loc[exo_items, "weight"])
        tot = res.effects.set_index(["from", "to"])["total"]
        for k, it in enumerate(endo_items):
            con = out.at[it, "construct"]
            pls[i, k] = mu[it] + sd[it] * out.at[it, "loading"] * imag * tot[("IMAG", con)]
    Y = data[endo_items].to_numpy(float)
    return Y, lm, pls, naive


def test_loo_matches_independent_computation(data, spec):
    tab = plspredict(data, spec, folds=len(data)).set_index("indicator")
    Y, lm, pls, naive = _independent_loo(data, spec)
    items = ["expe1", "expe2", "expe3", "sat1", "sat2", "sat3"]
    np.testing.assert_allclose(tab.loc[items, "lm_rmse"], np.sqrt(((Y - lm) ** 2).mean(axis=0)), rtol=1e-10)
    np.testing.assert_allclose(tab.loc[items, "lm_mae"], np.abs(Y - lm).mean(axis=0), rtol=1e-10)
    # PLS: each fold's fit stops at the kernel's tolerance (1e-7), so agreement is to ~1e-7
    np.testing.assert_allclose(tab.loc[items, "pls_rmse"], np.sqrt(((Y - pls) ** 2).mean(axis=0)), rtol=1e-6)
    q2 = 1 - ((Y - pls) ** 2).sum(axis=0) / ((Y - naive) ** 2).sum(axis=0)
    np.testing.assert_allclose(tab.loc[items, "q2_predict"], q2, rtol=1e-5, atol=1e-7)


def test_kfold_is_seeded(data, spec):
    a = plspredict(data, spec, folds=5, reps=3, seed=4)
    b = plspredict(data, spec, folds=5, reps=3, seed=4)
    c = plspredict(data, spec, folds=5, reps=3, seed=5)
    pd.testing.assert_frame_equal(a, b)
    assert not np.allclose(a["pls_rmse"], c["pls_rmse"])
    assert (a["q2_predict"] > 0).all()                 # the model predicts better than the training mean


def test_direct_approach_uses_the_direct_predictors(data, spec):
    # EXPE's only predictor is the exogenous IMAG: both approaches give the same EXPE predictions
    e = plspredict(data, spec, folds=len(data), approach="earliest").set_index("indicator")
    d = plspredict(data, spec, folds=len(data), approach="direct").set_index("indicator")
    np.testing.assert_allclose(e.loc[["expe1", "expe2"], "pls_rmse"], d.loc[["expe1", "expe2"], "pls_rmse"])
    assert not np.allclose(e.loc[["sat1"], "pls_rmse"], d.loc[["sat1"], "pls_rmse"])


def test_verdict():
    t = pd.DataFrame({"q2_predict": [0.2, 0.3, 0.1], "pls_beats_lm_rmse": [True, True, False],
                      "pls_beats_lm_mae": [True, True, True]})
    assert predictive_power(t) == "medium" and predictive_power(t, "mae") == "high"
    assert predictive_power(t.assign(pls_beats_lm_rmse=False)) == "none"
    assert predictive_power(t.assign(pls_beats_lm_rmse=[True, False, False])) == "low"
    assert predictive_power(t.assign(q2_predict=[0.2, -0.1, 0.1])) == "none"


def test_reachable_from_analyze_and_written(data, spec, tmp_path):
    import csi
    from csi.report.export import write_results

    fit = csi.analyze(data, spec, predict={"folds": len(data)}, seed=3)
    pd.testing.assert_frame_equal(fit.tables["predict"], plspredict(data, spec, folds=len(data)))
    assert fit.manifest["research"]["predict"]["predictive_power_rmse"] == predictive_power(fit.tables["predict"])
    written = write_results(fit, tmp_path)
    back = pd.read_csv(written["predict.csv"])
    np.testing.assert_allclose(back["lm_rmse"], fit.tables["predict"]["lm_rmse"], rtol=1e-12)
    with pytest.raises(Exception, match="folds"):
        plspredict(data, spec, folds=1)


def test_cli_fit_predict_and_nca_flags(tmp_path, capsys):
    """``fit --predict --folds n`` (leave-one-out) and ``--nca`` write predict.csv, nca.csv, bottlenecks.csv; the
    leave-one-out file equals the API's table (deterministic); --predict with CB-SEM is refused."""
    from csi.cli.main import main

    src = ROOT / "data" / "ecsi_satisfaction.csv"
    out = tmp_path / "o"
    assert main(["fit", "--data", str(src), "--model", "ecsi", "--scale", "0-10", "--predict", "--folds", "250",
                 "--nca", "--out", str(out)]) == 0
    assert "PLSpredict (250 folds x 1)" in capsys.readouterr().out
    from csi.model.templates import template

    api = plspredict(pd.read_csv(src, index_col=0), template("ecsi"), folds=250)
    np.testing.assert_allclose(pd.read_csv(out / "predict.csv")["pls_rmse"], api["pls_rmse"], rtol=1e-12)
    assert (out / "nca.csv").is_file() and (out / "bottlenecks.csv").is_file()
    assert main(["fit", "--data", str(src), "--model", "ecsi", "--method", "cbsem", "--predict",
                 "--out", str(tmp_path / "c")]) != 0
