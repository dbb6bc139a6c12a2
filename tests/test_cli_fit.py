"""`python -m csi fit` end to end, result files, formula-safe CSV and the fit orchestration."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from csi.errors import CSIError, DataError, SpecError
from csi.report.export import safe_csv
from csi.report.analyze import fit_model
from csi.engine.pls import estimate_pls
from csi.model.templates import template

ROOT = Path(__file__).resolve().parents[1]
ECSI = ROOT / "data" / "ecsi_satisfaction.csv"


def _cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "csi", "fit", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


@pytest.fixture(scope="module")
def ecsi_out(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("fit")
    r = _cli("--data", str(ECSI), "--model", "ecsi", "--bootstrap", "60", "--seed", "7", "--scale", "0-10",
             "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr and "IMAG -> EXPE" in r.stdout
    return out


def test_files_present(ecsi_out):
    names = {p.name for p in ecsi_out.iterdir()}
    assert {"paths.csv", "outer.csv", "constructs.csv", "effects.csv", "htmt.csv", "scores.csv",
            "cross_loadings.csv", "f2.csv", "fit.json", "manifest.json", "model.lavaan"} <= names


def test_columns_exact(ecsi_out):
    cols = {n: list(pd.read_csv(ecsi_out / f"{n}.csv", nrows=1).columns) for n in
            ("paths", "outer", "effects", "f2", "scores", "cross_loadings")}
    assert cols["paths"] == ["from", "to", "estimate", "std_error", "t", "p_value", "ci_low", "ci_high"]
    assert cols["outer"] == ["construct", "indicator", "weight", "loading", "communality", "weight_std_error",
                             "weight_ci_low", "weight_ci_high", "loading_std_error", "loading_ci_low",
                             "loading_ci_high"]
    assert cols["effects"] == ["from", "to", "direct", "indirect", "total", "total_std_error", "total_ci_low",
                               "total_ci_high"]
    assert cols["f2"] == ["from", "to", "f2"]
    assert cols["scores"] == ["row", "IMAG", "EXPE", "QUAL", "VAL", "SAT", "LOY"]
    assert cols["cross_loadings"] == ["indicator", "IMAG", "EXPE", "QUAL", "VAL", "SAT", "LOY"]
    c = list(pd.read_csv(ecsi_out / "constructs.csv", nrows=1).columns)
    assert c[:7] == ["construct", "r2", "r2_adj", "alpha", "rho_a", "rho_c", "ave"]
    assert {"label_en", "label_zh", "mode", "n_indicators"} <= set(c)


def test_values_are_the_engines(ecsi_out):
    df = pd.read_csv(ECSI, index_col=0)
    r = estimate_pls(df, template("ecsi"))
    paths = pd.read_csv(ecsi_out / "paths.csv")
    np.testing.assert_allclose(paths["estimate"], r.paths["estimate"], atol=1e-12)
    assert (paths["ci_low"] < paths["estimate"]).all() and (paths["estimate"] < paths["ci_high"]).all()
    scores = pd.read_csv(ecsi_out / "scores.csv")
    assert list(scores["row"][:3]) == [1, 2, 3] and len(scores) == 250
    man = json.loads((ecsi_out / "manifest.json").read_text(encoding="utf-8"))
    assert man["seed"] == 7 and man["n"] == 250 and man["settings"]["bootstrap"] == 60
    assert man["bootstrap"]["n_kept"] == 60 and len(man["data_fingerprint"]) == 64
    assert set(man["versions"]) >= {"csi", "numpy", "pandas", "scipy", "semopy", "duckdb"}
    assert (ecsi_out / "model.lavaan").read_text(encoding="utf-8") == template("ecsi").to_syntax()
    fit = json.loads((ecsi_out / "fit.json").read_text(encoding="utf-8"))      # PLS model fit (modelfit.py)
    assert {"srmr", "d_uls", "d_g", "nfi", "srmr_hi95", "srmr_hi99"} <= set(fit["estimated"])
    assert fit["bootstrap"]["n_boot"] == 60 and fit["bootstrap"]["seed"] == 7


def test_bad_model_file_exits_2(tmp_path):
    bad = tmp_path / "bad.lavaan"
    bad.write_text("IMAG =~ imag1 + imag2\nSAT =~ sat1 +\nSAT ~ IMAG ~ EXPE\n", encoding="utf-8")
    r = _cli("--data", str(ECSI), "--model", str(bad), "--out", str(tmp_path / "o"))
    assert r.returncode == 2 and r.stderr.startswith("error:") and "Traceback" not in r.stderr
    assert not (tmp_path / "o").exists()


def test_unknown_weights_column_exits_2(tmp_path):
    r = _cli("--data", str(ECSI), "--model", "ecsi", "--weights", "wgt", "--out", str(tmp_path / "o"))
    assert r.returncode == 2 and "'wgt' not found" in r.stderr and "Traceback" not in r.stderr


def test_non_numeric_cell_is_reported_with_its_row(tmp_path):
    df = pd.read_csv(ECSI, dtype=str, keep_default_na=False)
    df.loc[4, "sat2"] = "n/a?"
    f = tmp_path / "x.csv"
    df.to_csv(f, index=False)
    r = _cli("--data", str(f), "--model", "ecsi", "--out", str(tmp_path / "o"))
    assert r.returncode == 2 and "row 6" in r.stderr and "sat2" in r.stderr and "Traceback" not in r.stderr


def test_weighted_fit_from_file(tmp_path):
    df = pd.read_csv(ECSI)
    df["wgt"] = np.where(df["gender"] == "male", 1.5, 0.75)
    f = tmp_path / "w.csv"
    df.to_csv(f, index=False)
    r = _cli("--data", str(f), "--model", "ecsi", "--weights", "wgt", "--out", str(tmp_path / "o"))
    assert r.returncode == 0, r.stderr
    got = pd.read_csv(tmp_path / "o" / "paths.csv")["estimate"]
    ref = estimate_pls(df, template("ecsi"), weights="wgt").paths["estimate"]
    np.testing.assert_allclose(got, ref, atol=1e-12)


# --------------------------------------------------------------------------- safe_csv
def test_safe_csv_escapes_text_not_numbers(tmp_path):
    df = pd.DataFrame({"name": ["=cmd|' /C calc'!A0", "+1", "-x", "@SUM(A1)", "ok", None, "\t=1"],
                       "value": [-0.5, -1.0, 2.0, 3.0, -4.0, 5.0, 6.0]})
    p = safe_csv(df, tmp_path / "t.csv")
    back = pd.read_csv(p, keep_default_na=False)
    assert list(back["name"]) == ["'=cmd|' /C calc'!A0", "'+1", "'-x", "'@SUM(A1)", "ok", "", "'\t=1"]
    assert list(back["value"]) == [-0.5, -1.0, 2.0, 3.0, -4.0, 5.0, 6.0]
    assert df["name"].iloc[0].startswith("=")       # the caller's frame is untouched


# --------------------------------------------------------------------------- fit_model in process
def test_fit_model_options_and_errors():
    df = pd.read_csv(ECSI, index_col=0)
    fit = fit_model(df, "ecsi", scheme="centroid", standardize=False)
    assert fit.tables["paths"]["estimate"].iloc[0] == pytest.approx(0.5790, abs=5e-5)
    assert "index" not in fit.tables["constructs"]         # 0-10 data leave the dictionary's 1-10 scale
    assert any("scale" in w for w in fit.manifest["warnings"])
    with pytest.raises(SpecError, match="unknown method"):
        fit_model(df, "ecsi", method="gsca")
    with pytest.raises(SpecError, match="unknown setting"):
        fit_model(df, "ecsi", schemes="path")
    with pytest.raises(SpecError, match="bootstrap"):
        fit_model(df, "ecsi", bootstrap=1)
    with pytest.raises(DataError, match="outside the scale"):
        fit_model(df, "ecsi", scale=(1, 10))
    # the fingerprint follows the analysed numbers
    a = fit_model(df, "ecsi").manifest["data_fingerprint"]
    b = fit_model(df.assign(sat1=df["sat1"].where(df.index != 3, 1)), "ecsi").manifest["data_fingerprint"]
    assert a != b and a == fit_model(df.copy(), "ecsi").manifest["data_fingerprint"]


def test_fit_model_cbsem():
    df = pd.read_csv(ECSI, index_col=0)
    fit = fit_model(df, "ecsi", method="cbsem")
    p = fit.tables["paths"]
    assert list(p.columns)[:9] == ["from", "to", "estimate", "estimate_unstd", "std_error", "t", "p_value",
                                   "ci_low", "ci_high"]
    # every interval belongs to the estimate beside it: the standardized one, and the unstandardized one
    assert np.allclose(p["ci_high"] - p["estimate"], 1.959963984540054 * p["std_error"])
    assert np.allclose(p["ci_high_unstd"] - p["estimate_unstd"], 1.959963984540054 * p["std_error_unstd"])
    assert ((p["ci_low"] <= p["estimate"]) & (p["estimate"] <= p["ci_high"])).all()
    par = fit.tables["params"]
    reg = par[par["op"] == "~"]
    np.testing.assert_allclose(np.sort(reg["std_estimate"].to_numpy()), np.sort(p["estimate"].to_numpy()))
    assert {"chi2", "df", "cfi", "rmsea"} <= set(fit.fit)
    with pytest.raises(CSIError):
        fit_model(df, "ecsi", method="cbsem", plsc=True)


def test_fit_from_store(tmp_path):
    import csi.data.demo as demo
    db = tmp_path / "demo.duckdb"
    demo.build_demo_database(db, seed=3)
    env_out = tmp_path / "o"
    from csi.data import store
    con = store.connect(db, read_only=True)
    wave = store.wave_labels(con)[0]
    con.close()
    r = subprocess.run([sys.executable, "-m", "csi", "fit", "--db", str(db), "--wave", wave, "--out", str(env_out)],
                       cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    cons = pd.read_csv(env_out / "constructs.csv")
    assert list(cons["construct"]) == list(template("ccsi").constructs)
    assert cons["index"].between(0, 100).all()          # store scales → 0-100 indices
    assert pd.read_csv(env_out / "scores.csv")["row"].iloc[0].startswith(f"{wave}/")


@pytest.mark.parametrize("method,missing,expect", [("pls", "fiml", "CB-SEM option"), ("cbsem", "mean", "PLS option")])
def test_missing_treatment_must_suit_the_method(tmp_path, method, missing, expect):
    r = _cli("--data", str(ECSI), "--model", "ecsi", "--method", method, "--missing", missing, "--out", str(tmp_path))
    assert r.returncode == 2 and expect in r.stderr and "Traceback" not in r.stderr


def test_cbsem_on_ecsi_warns_and_points_to_pls(tmp_path):
    r = _cli("--data", str(ECSI), "--model", "ecsi", "--method", "cbsem", "--out", str(tmp_path))
    assert r.returncode == 0, r.stderr
    fit = json.loads((tmp_path / "fit.json").read_text())
    assert any("beyond ±1" in w and "PLS" in w for w in fit["warnings"])
    assert "beyond ±1" in r.stdout + r.stderr


def test_bca_intervals_in_the_files(tmp_path):
    from csi.engine.bootstrap import bootstrap_pls
    from csi.model.templates import template

    r = _cli("--data", str(ECSI), "--model", "ecsi", "--bootstrap", "300", "--seed", "11", "--ci", "bca",
             "--out", str(tmp_path))
    assert r.returncode == 0, r.stderr
    paths = pd.read_csv(tmp_path / "paths.csv")
    assert json.loads((tmp_path / "manifest.json").read_text())["bootstrap"]["ci"] == "bca"
    data = pd.read_csv(ECSI)
    boot = bootstrap_pls(data, template("ecsi", list(data.columns)), n_boot=300, seed=11)
    expect = boot.summary("paths", ci="bca").set_index(["from", "to"])
    got = paths.set_index(["from", "to"])
    np.testing.assert_allclose(got.loc[expect.index, "ci_low"], expect["ci_low"], atol=1e-12)
    assert not np.allclose(got["ci_low"], boot.summary("paths").set_index(["from", "to"]).loc[got.index, "ci_low"])


def test_file_weight_column_is_used_by_default_as_in_the_engine(tmp_path):
    """A file with a complete `weight` column is fitted weighted without flags (the report engine's rule);
    --no-weights, an incomplete column, and CB-SEM (no weighted ML) give the unweighted fit."""
    df = pd.read_csv(ECSI)
    df["weight"] = np.linspace(0.5, 1.5, len(df)).round(3)
    f = tmp_path / "w.csv"
    df.to_csv(f, index=False)
    gaps = df.copy()
    gaps["weight"] = gaps["weight"].astype(object)
    gaps.loc[3, "weight"] = ""
    g = tmp_path / "gaps.csv"
    gaps.to_csv(g, index=False)

    def run(src, *extra):
        out = tmp_path / f"o{len(list(tmp_path.iterdir()))}"
        r = _cli("--data", str(src), "--model", "ecsi", "--scale", "0-10", "--out", str(out), *extra)
        assert r.returncode == 0, r.stderr
        man = json.loads((out / "manifest.json").read_text())
        return man["settings"].get("weights"), pd.read_csv(out / "paths.csv")["estimate"].to_numpy(), r.stderr

    w_default, p_default, _ = run(f)
    w_named, p_named, _ = run(f, "--weights", "weight")
    w_off, p_off, _ = run(f, "--no-weights")
    w_gap, p_gap, err = run(g)
    assert (w_default, w_named, w_off, w_gap) == ("weight", "weight", None, None)
    np.testing.assert_array_equal(p_default, p_named)
    assert not np.allclose(p_default, p_off)
    np.testing.assert_array_equal(p_gap, p_off)
    assert "1 of 250 respondents have no valid weight" in err
    assert _cli("--data", str(f), "--model", "ecsi", "--method", "cbsem", "--out", str(tmp_path / "cb")).returncode == 0
