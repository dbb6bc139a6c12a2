"""`python -m csi report` end to end on the demo database (two waves, small bootstrap)."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from csi.data import store
from csi.cli.main import main
from csi.data.demo import build_demo_database
from csi.analytics.index import index_scores
from csi.engine.pls import estimate_pls
from csi.model.templates import template

ROOT = Path(__file__).resolve().parents[1]
WAVES = ["--wave", "2025Q3", "--wave", "2025Q4"]


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    path = tmp_path_factory.mktemp("report") / "demo.duckdb"
    build_demo_database(path)
    return path


@pytest.fixture(scope="module")
def report(db, tmp_path_factory):
    out = tmp_path_factory.mktemp("out") / "rep"
    code = main(["report", "--db", str(db), *WAVES, "--bootstrap", "60", "--seed", "5", "--out", str(out)])
    assert code == 0
    return out


def test_files_and_columns(report):
    expected = ["indices.csv", "priorities.csv", "trends.csv", "changes.csv", "nps.csv", "groups.csv",
                "competitor_gap.csv", "bands.csv", "complaints.csv", "manifest.json"]
    for name in expected:
        assert (report / name).is_file(), name
    for name in ["hierarchy.csv", "hierarchy_items.csv", "fuzzy.csv", "fuzzy_membership.csv", "gaps.csv",
                 "item_ranking.csv", "key_drivers.csv"]:
        assert (report / "classic" / name).is_file(), name
    cols = lambda f: list(pd.read_csv(report / f, nrows=0).columns)  # noqa: E731
    assert cols("indices.csv") == ["wave", "brand", "construct", "label_en", "label_zh", "index", "ci_low", "ci_high",
                                   "n", "negative_weights", "note", "note_zh"]
    assert cols("trends.csv") == ["wave", "construct", "label_en", "label_zh", "index", "ci_low", "ci_high", "n"]
    assert cols("changes.csv") == ["wave_from", "wave_to", "construct", "label_en", "label_zh", "index_a", "index_b",
                                   "change", "ci_low", "ci_high", "significant", "verdict_en", "verdict_zh"]
    ch = pd.read_csv(report / "changes.csv")
    tr = pd.read_csv(report / "trends.csv").pivot(index="construct", columns="wave", values="index")
    sat = ch.set_index("construct").loc["SAT"]
    assert (sat["wave_from"], sat["wave_to"]) == ("2025Q3", "2025Q4")
    assert sat["change"] == pytest.approx(tr.loc["SAT", "2025Q4"] - tr.loc["SAT", "2025Q3"], abs=1e-9)
    assert sat["verdict_en"] in ("significant", "not significant")
    assert cols("priorities.csv")[:11] == ["driver", "target", "level", "importance", "performance", "quadrant",
                                           "rank", "importance_ci_low", "importance_ci_high", "impact_en", "impact_zh"]
    assert cols("competitor_gap.csv") == ["wave", "own_brand", "competitor_brand", "construct", "label_en", "label_zh",
                                          "own", "competitor", "gap", "ci_low", "ci_high", "significant"]
    assert cols("brands.csv")[:3] == ["wave", "brand", "construct"]
    assert cols("groups.csv") == ["wave", "group_a", "group_b", "from", "to", "estimate_a", "estimate_b", "diff",
                                  "p_permutation", "p_bootstrap", "p_henseler", "significant"]
    assert cols("nps.csv")[0] == "wave" and "nps" in cols("nps.csv")
    man = json.loads((report / "manifest.json").read_text(encoding="utf-8"))
    assert man["focus"] == {**man["focus"], "wave": "2025Q4", "brand": "Skyline Mobile",
                            "competitor": "Horizon Telecom"}
    assert man["selection"]["waves"] == ["2025Q3", "2025Q4"]
    assert set(man["files"]) >= {"indices.csv", "classic/gaps.csv"}
    assert man["settings"]["bootstrap"] == 60 and man["settings"]["seed"] == 5
    assert len(man["settings"]["group_seeds"]) == 4 and len(set(man["settings"]["group_seeds"].values())) == 4
    assert man["settings"]["survey_weights"] == "weight"          # weights on by default, as in the dashboard


def test_indices_match_a_direct_fit(report, db):
    """indices.csv equals index_scores of a (weighted: the default) fit made here from the store."""
    con = store.connect(db, read_only=True)
    data = store.load_responses(con, ["2025Q4"], {"brand": "Skyline Mobile"})
    scales = store.item_scales(con, ["2025Q4"])
    con.close()
    items = [c for c in data.columns if c.rstrip("0123456789") in ("imag", "expe", "qual", "val", "sat", "loy")]
    spec = template("ccsi", items)
    data["weight"] = data["weight"].astype(float)
    res = estimate_pls(data, spec, weights="weight")
    want = index_scores(res, scales).set_index("construct")
    got = pd.read_csv(report / "indices.csv").set_index("construct")
    np.testing.assert_allclose(got.loc[want.index, "index"], want["index"], atol=1e-9)
    assert (got["n"] == res.info["n_used"]).all()
    assert (got["ci_low"] < got["index"]).all() and (got["index"] < got["ci_high"]).all()
    tr = pd.read_csv(report / "trends.csv")
    assert list(tr["wave"].unique()) == ["2025Q3", "2025Q4"]
    last = tr[tr["wave"] == "2025Q4"].set_index("construct")["index"]
    np.testing.assert_allclose(last[want.index], want["index"], atol=1e-9)



def test_scores_csv_is_the_file_fit_db_writes(report, db, tmp_path):
    """scores.csv: the focus wave's own-brand fit's construct scores per respondent (2025Q4, Skyline Mobile,
    weighted), byte for byte the file `fit --db` writes for that wave, and the scores of a fit made here."""
    man = json.loads((report / "manifest.json").read_text(encoding="utf-8"))
    out = tmp_path / "fit"
    assert main(["fit", "--db", str(db), "--wave", "2025Q4", "--out", str(out)]) == 0
    assert (report / "scores.csv").read_bytes() == (out / "scores.csv").read_bytes()
    sc = pd.read_csv(report / "scores.csv", dtype={"wave": str, "respondent_id": str})
    assert man["files"]["scores.csv"] == len(sc) > 0
    assert list(sc.columns) == ["row", "wave", "respondent_id", "IMAG", "EXPE", "QUAL", "VAL", "SAT", "LOY"]
    assert (sc["wave"] == "2025Q4").all() and (sc["row"] == sc["wave"] + "/" + sc["respondent_id"]).all()
    con = store.connect(db, read_only=True)
    data = store.load_responses(con, ["2025Q4"], {"brand": "Skyline Mobile"})
    con.close()
    items = [c for c in data.columns if c.rstrip("0123456789") in ("imag", "expe", "qual", "val", "sat", "loy")]
    data["weight"] = data["weight"].astype(float)
    res = estimate_pls(data, template("ccsi", items), weights="weight")
    want = res.scores.set_axis(data.loc[res.scores.index, "respondent_id"].astype(str).to_numpy(), axis=0)
    got = sc.set_index("respondent_id")[list(want.columns)]
    assert set(got.index) == set(want.index)
    np.testing.assert_allclose(got.loc[want.index].to_numpy(), want.to_numpy(), atol=1e-12)


def test_scores_csv_of_another_brand_unweighted_single_wave(db, tmp_path):
    """The same file for another selection: one wave, the competitor as own brand, no survey weights."""
    flags = ["--db", str(db), "--wave", "2025Q3", "--own-brand", "Horizon Telecom", "--no-weights"]
    assert main(["report", *flags, "--bootstrap", "0", "--out", str(tmp_path / "rep")]) == 0
    assert main(["fit", *flags, "--out", str(tmp_path / "fit")]) == 0
    got = (tmp_path / "rep" / "scores.csv").read_bytes()
    assert got == (tmp_path / "fit" / "scores.csv").read_bytes()
    sc = pd.read_csv(tmp_path / "rep" / "scores.csv", dtype={"wave": str, "respondent_id": str})
    assert (sc["wave"] == "2025Q3").all() and sc["row"].is_unique
    man = json.loads((tmp_path / "rep" / "manifest.json").read_text(encoding="utf-8"))
    assert man["focus"]["brand"] == "Horizon Telecom" and man["focus"]["n_used"] == len(sc) > 0
    con = store.connect(db, read_only=True)
    ids = store.load_responses(con, ["2025Q3"], {"brand": "Horizon Telecom"})["respondent_id"].astype(str)
    con.close()
    assert set(sc["respondent_id"]) <= set(ids)

def test_demo_story_shows_in_the_report(report):
    """The competitor's price rise (2025Q2) must show as an own-brand lead in perceived value."""
    gap = pd.read_csv(report / "competitor_gap.csv").set_index("construct")
    assert gap.loc["VAL", "gap"] > 3 and bool(gap.loc["VAL", "significant"])
    np.testing.assert_allclose(gap["gap"], gap["own"] - gap["competitor"], atol=1e-9)
    pri = pd.read_csv(report / "priorities.csv")
    sat = pri[(pri["target"] == "SAT") & (pri["level"] == "construct")]
    assert set(sat["driver"]) == {"IMAG", "EXPE", "QUAL", "VAL"}
    assert list(sat["rank"]) == [1, 2, 3, 4]
    g = pd.read_csv(report / "groups.csv")
    assert g["p_permutation"].between(0, 1).all() and g["p_bootstrap"].between(0, 1).all()
    bands = pd.read_csv(report / "bands.csv")
    assert bands["share"].sum() == pytest.approx(1.0)


def test_same_seed_same_files(report, db, tmp_path):
    out = tmp_path / "again"
    assert main(["report", "--db", str(db), *WAVES, "--bootstrap", "60", "--seed", "5", "--out", str(out)]) == 0
    for name in ("indices.csv", "priorities.csv", "trends.csv", "groups.csv", "competitor_gap.csv"):
        pd.testing.assert_frame_equal(pd.read_csv(report / name), pd.read_csv(out / name))
    other = tmp_path / "other"
    assert main(["report", "--db", str(db), *WAVES, "--bootstrap", "60", "--seed", "6", "--out", str(other)]) == 0
    a, b = pd.read_csv(report / "indices.csv"), pd.read_csv(other / "indices.csv")
    np.testing.assert_allclose(a["index"], b["index"])                  # point estimates do not depend on seed
    assert not np.allclose(a["ci_low"], b["ci_low"])                     # intervals do


def test_brand_segment_has_no_competitor(db, tmp_path, capsys):
    out = tmp_path / "h"
    code = main(["report", "--db", str(db), "--wave", "2025Q4", "--segment", "brand=Horizon Telecom",
                 "--segment", "region=North", "--bootstrap", "0", "--out", str(out)])
    assert code == 0
    man = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    # the brand filter names whose report it is; the competitor still comes from the focus wave
    assert man["focus"]["brand"] == "Horizon Telecom" and man["focus"]["competitor"] == "Skyline Mobile"
    g = pd.read_csv(out / "groups.csv")
    assert len(g) == len(template("ccsi").paths) and g["p_bootstrap"].isna().all() and g["p_permutation"].between(0, 1).all()
    assert set(pd.read_csv(out / "brands.csv")["brand"]) == {"Horizon Telecom", "Skyline Mobile"}
    idx = pd.read_csv(out / "indices.csv")
    assert idx["ci_low"].isna().all() and idx["n"].iloc[0] < 600     # one region, no bootstrap


def test_bad_input_exits_2_without_traceback(db, tmp_path):
    r = subprocess.run([sys.executable, "-m", "csi", "report", "--db", str(db), "--wave", "1999Q1",
                        "--out", str(tmp_path / "x")], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 2 and "1999Q1" in r.stderr and "Traceback" not in r.stderr
    r = subprocess.run([sys.executable, "-m", "csi", "report", "--db", str(tmp_path / "none.duckdb"),
                        "--out", str(tmp_path / "y")], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 2 and "not found" in r.stderr and "Traceback" not in r.stderr
    r = subprocess.run([sys.executable, "-m", "csi", "report", "--db", str(db), "--segment", "region=Mars",
                        "--out", str(tmp_path / "z")], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 2 and "no respondents" in r.stderr and "Traceback" not in r.stderr


def test_weighted_report_matches_a_weighted_fit(db, tmp_path):
    """Weights reach every estimate: indices equal a weighted fit, NPS equals the weighted NPS; --no-weights
    gives the unweighted fit."""
    from csi.analytics.loyalty import nps

    out = tmp_path / "w"
    assert main(["report", "--db", str(db), "--wave", "2025Q4", "--bootstrap", "30", "--out", str(out)]) == 0
    assert main(["report", "--db", str(db), "--wave", "2025Q4", "--bootstrap", "0", "--no-weights",
                 "--out", str(tmp_path / "u")]) == 0
    con = store.connect(db, read_only=True)
    data = store.load_responses(con, ["2025Q4"], {"brand": "Skyline Mobile"})
    scales = store.item_scales(con, ["2025Q4"])
    con.close()
    data["weight"] = data["weight"].astype(float)
    items = [c for c in data.columns if c.rstrip("0123456789") in ("imag", "expe", "qual", "val", "sat", "loy")]
    res = estimate_pls(data, template("ccsi", items), weights="weight")
    want = index_scores(res, scales).set_index("construct")["index"]
    got = pd.read_csv(out / "indices.csv").set_index("construct")["index"]
    np.testing.assert_allclose(got[want.index], want, atol=1e-9)
    unweighted = index_scores(estimate_pls(data, template("ccsi", items)), scales).set_index("construct")["index"]
    assert not np.allclose(got[want.index], unweighted, atol=1e-6)
    got_u = pd.read_csv(tmp_path / "u" / "indices.csv").set_index("construct")["index"]
    np.testing.assert_allclose(got_u[want.index], unweighted, atol=1e-9)
    rec = data["loy3"].notna()
    n = pd.read_csv(out / "nps.csv").set_index("wave").loc["2025Q4", "nps"]
    assert n == pytest.approx(nps(data.loc[rec, "loy3"], weights=data.loc[rec, "weight"].to_numpy())["nps"], abs=1e-9)
    assert json.loads((out / "manifest.json").read_text())["settings"]["survey_weights"] == "weight"
    assert main(["report", "--db", str(db), "--weights", "nope", "--out", str(tmp_path / "x")]) == 2


def test_targets_and_alerts(db, tmp_path):
    """`csi target` stores targets; the report's alerts.csv lists every wave whose index or NPS misses its target
    and every significant drop (the competitor's perceived value after its 2025Q2 price rise)."""
    import shutil

    copy = tmp_path / "t.duckdb"
    shutil.copy(db, copy)
    assert main(["target", "SAT", "73.01", "--db", str(copy)]) == 0
    assert main(["target", "NPS", "20", "--db", str(copy)]) == 0
    assert main(["target", "SAT", "170", "--db", str(copy)]) == 2          # out of range: refused, nothing stored
    out = tmp_path / "r"
    assert main(["report", "--db", str(copy), "--bootstrap", "60", "--out", str(out)]) == 0
    al = pd.read_csv(out / "alerts.csv")
    tr = pd.read_csv(out / "trends.csv")
    sat = tr[tr["construct"] == "SAT"].set_index("wave")["index"]
    below = set(al[(al["kind"] == "below_target") & (al["construct"] == "SAT")]["wave"])
    assert below == set(sat[sat < 73.01].index) and 0 < len(below) < len(sat)
    nps = pd.read_csv(out / "nps.csv").set_index("wave")["nps"]
    assert set(al[al["construct"] == "NPS"]["wave"]) == set(nps[nps < 20].index)
    man = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert man["targets"] == {"SAT": 73.01, "NPS": 20.0}
    out2 = tmp_path / "h"
    assert main(["report", "--db", str(copy), "--own-brand", "Horizon Telecom", "--bootstrap", "100",
                 "--out", str(out2)]) == 0
    ch = pd.read_csv(out2 / "changes.csv")
    drops = ch[(ch["significant"] == True) & (ch["change"] < 0)]  # noqa: E712
    al2 = pd.read_csv(out2 / "alerts.csv")
    got = al2[al2["kind"] == "significant_drop"][["wave", "construct"]]
    assert set(map(tuple, got.to_numpy())) == set(zip(drops["wave_to"], drops["construct"]))
    assert ("2025Q2", "VAL") in set(map(tuple, got.to_numpy()))
    assert main(["target", "SAT", "--clear", "--db", str(copy)]) == 0
