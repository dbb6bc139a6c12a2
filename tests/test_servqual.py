"""RATER / SERVQUAL gaps, model importance and management-vs-customer importance (csi.analytics.servqual)."""
from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from csi.analytics.servqual import (importance_gap, management_importance, read_management_survey, servqual_gaps,
                                    servqual_pairs, servqual_table, spearman)
from csi.data.demo import RATER_ITEMS, add_rater_block, generate, management_survey
from csi.errors import InputError
from csi.model.dictionary import DEFAULT_ITEMS, RATER_ITEMS as DICT_RATER_ITEMS
from csi.model.templates import load_model

SCALES = {r.item: (r.scale_min, r.scale_max) for r in DEFAULT_ITEMS.itertuples()}


def test_worked_example_by_hand():
    # 1-5 scale: E = 4, 5, 3, 4 and P = 3, 4, 3, 2 -> 0-100: E = 75, 100, 50, 75; P = 50, 75, 50, 25
    data = pd.DataFrame({"relexp1": [4, 5, 3, 4], "relper1": [3, 4, 3, 2]}, dtype=float)
    g = servqual_gaps(data, {"relexp1": (1, 5), "relper1": (1, 5)})
    item = g[g["level"] == "item"].iloc[0]
    assert (item["expectation"], item["perception"], item["gap"]) == (75.0, 50.0, -25.0)
    # d = -25, -25, 0, -50: s_d = sqrt(1250/3); t(0.975, 3) = 3.182446305
    half = 3.182446305284263 * math.sqrt(1250 / 3) / 2
    assert item["gap_ci_low"] == pytest.approx(-25 - half) and item["gap_ci_high"] == pytest.approx(-25 + half)
    # ratio 50/75; delta method: P - R·E = 0, 8.33, 16.67, -25; SE = s / (sqrt(4) * 75)
    r = 50 / 75
    se = np.std([0, 75 - r * 100, 50 - r * 50, 25 - r * 75], ddof=1) / (2 * 75)
    assert item["ratio"] == pytest.approx(r)
    assert item["ratio_ci_low"] == pytest.approx(r - 3.182446305284263 * se)
    assert item["n"] == 4 and len(g) == 2 and g.iloc[1]["level"] == "dimension"


def test_dimension_score_is_the_mean_of_the_items_answered():
    data = pd.DataFrame({"tanexp1": [10, 8, np.nan], "tanper1": [7, 6, 5],
                         "tanexp2": [8, np.nan, 9], "tanper2": [5, 6, 4]}, dtype=float)
    g = servqual_gaps(data, {c: (0, 10) for c in data.columns})
    dim = g[g["level"] == "dimension"].iloc[0]
    # respondents: E = 90, 80, 90; P = 60, 60, 45
    assert dim["expectation"] == pytest.approx(260 / 3) and dim["perception"] == pytest.approx(165 / 3)
    assert dim["expectation_item"] == "tanexp1, tanexp2"
    assert [p[1] for p in servqual_pairs(data.columns)] == ["tan1", "tan2"]


def test_template_and_dictionary_cover_the_rater_block():
    spec = load_model("rater")
    assert spec.predecessors("SAT") == ("REL", "ASS", "TAN", "EMP", "RES")
    assert set(DICT_RATER_ITEMS) == set(RATER_ITEMS)
    d = DEFAULT_ITEMS.set_index("item")
    assert (d.loc[list(RATER_ITEMS), "text_zh"].str.len() > 4).all()


@pytest.fixture(scope="module")
def demo_cell():
    s = generate()
    df = s.waves["2025Q4"]
    df = df[df["brand"] == s.own_brand]
    cols = [c for c in df.columns if c in SCALES]
    x = pd.DataFrame(df[cols].astype("Float64").to_numpy(dtype=float, na_value=np.nan), columns=cols)
    return x.where(x != 99), df["weight"].to_numpy(float)


def test_demo_story_is_recovered(demo_cell):
    data, w = demo_cell
    t = servqual_table(data, SCALES, weights=w)
    dims = t[t["level"] == "dimension"].set_index("dimension")
    # reliability: largest negative gap and the most important; tangibles: smallest gap, least important
    assert dims["gap"].idxmin() == "REL" and dims["gap"].idxmax() == "TAN"
    assert dims.loc["REL", "importance_rank"] == 1 and dims.loc["TAN", "importance_rank"] == 5
    assert (dims["gap_ci_high"] < 0).all()
    # the truth orders the dimensions by their satisfaction loading: REL > RES > ASS > EMP > TAN
    assert list(dims["importance"].sort_values(ascending=False).index) == ["REL", "RES", "ASS", "EMP", "TAN"]
    assert list(t.columns)[:4] == ["level", "dimension", "item", "expectation_item"]


def test_rater_block_leaves_other_columns_alone():
    frame = generate().waves["2024Q3"].drop(columns=list(RATER_ITEMS))
    out = add_rater_block(frame, np.random.default_rng(1))
    assert out[frame.columns].equals(frame) and list(out.columns[len(frame.columns):]) == list(RATER_ITEMS)


def test_management_survey_validation_names_every_problem():
    raw = pd.DataFrame({"manager": ["A", "B", "A", "C"], "TAN": ["9", "x", "8", "7"], "Reliability": ["5", "6", "-1", "6"],
                        "可靠性x": ["1", "1", "1", "1"]})
    with pytest.raises(InputError) as e:
        read_management_survey(raw, file="mgmt.csv")
    assert [(p.code, p.column) for p in e.value.problems] == [("mgmt_unknown_column", "可靠性x")]
    with pytest.raises(InputError) as e:
        read_management_survey(raw.drop(columns="可靠性x"), file="mgmt.csv")
    got = [(p.code, p.row, p.column, p.value) for p in e.value.problems]
    assert got == [("mgmt_not_number", 3, "TAN", "x"), ("mgmt_duplicate", 4, "manager", "A"),
                   ("mgmt_negative", 4, "Reliability", "-1")]
    assert all(p.reason_zh and p.file == "mgmt.csv" for p in e.value.problems)
    ranks = pd.DataFrame({"manager": ["A", "B"], "TAN": ["1", "1"], "REL": ["2", "1"], "RES": ["3", "2"]})
    with pytest.raises(InputError) as e:
        read_management_survey(ranks, kind="rank")
    assert [(p.code, p.row) for p in e.value.problems] == [("mgmt_bad_rank", 3)]


def test_management_importance_ratings_and_ranks():
    s = read_management_survey(pd.DataFrame({"manager": ["A", "B"], "TAN": ["6", "1"], "REL": ["2", "1"],
                                             "RES": ["2", "2"]}))
    # per-manager shares: A = .6 .2 .2, B = .25 .25 .5 -> mean .425 .225 .35
    assert management_importance(s).round(6).to_dict() == {"TAN": 0.425, "REL": 0.225, "RES": 0.35}
    r = read_management_survey(pd.DataFrame({"manager": ["A"], "TAN": ["1"], "REL": ["3"], "RES": ["2"]}), kind="rank")
    assert management_importance(r).to_dict() == pytest.approx({"TAN": 0.5, "REL": 1 / 6, "RES": 1 / 3})


def test_spearman_matches_scipy_and_the_exact_permutation_p():
    x, y = [5, 4, 3, 2, 1], [4, 5, 3, 1, 2]
    rho, p, how = spearman(x, y)
    assert rho == pytest.approx(stats.spearmanr(x, y).statistic) and how == "exact permutation"
    # rho = 1 - 6·Σd²/(k(k²-1)) = 0.8 <=> Σd² = 4. Orderings of 5 with Σd² <= 4: the identity, 4 adjacent swaps,
    # 3 pairs of disjoint adjacent swaps = 8; as many with rho <= -0.8: p = 16/120 (one-sided 0.067, the tables' value)
    assert rho == pytest.approx(0.8) and p == pytest.approx(16 / 120)
    assert spearman([1, 2, 3, 4, 5], [1, 2, 3, 4, 5])[1] == pytest.approx(2 / 120)


def test_demo_management_overrates_tangibles(demo_cell):
    data, w = demo_cell
    t = servqual_table(data, SCALES, weights=w)
    cust = t[t["level"] == "dimension"].set_index("dimension")["importance"]
    survey = read_management_survey(management_survey(), file="demo")
    gap = importance_gap(management_importance(survey), cust)
    over = gap[gap["verdict"] == "overrates"]
    assert over.iloc[0]["dimension"] == "TAN" and over.iloc[0]["finding"] == "management overrates Tangibles"
    assert gap.iloc[0]["dimension"] == "REL" and gap.iloc[0]["verdict"] == "underrates"  # the largest disagreement
    assert gap.set_index("dimension").loc["TAN", "management_rank"] == 1
    assert -1 <= gap.attrs["spearman_rho"] < 0.5 and 0 < gap.attrs["spearman_p"] <= 1


def test_cli_ingest_management(tmp_path, capsys):
    from csi.cli.main import main
    from csi.data import store

    db = tmp_path / "s.duckdb"
    store.connect(db).close()
    bad = tmp_path / "bad.csv"
    bad.write_text("manager,TAN,REL\nA,9,x\n", encoding="utf-8")
    assert main(["ingest-management", str(bad), "--db", str(db)]) == 2
    err = capsys.readouterr().err
    assert "row 2" in err and "'REL'" in err and "not a number" in err
    con = store.connect(db, read_only=True)
    assert store.get_setting(con, "management_importance") is None
    con.close()
    good = tmp_path / "good.csv"
    management_survey().to_csv(good, index=False)
    assert main(["ingest-management", str(good), "--db", str(db)]) == 0
    con = store.connect(db, read_only=True)
    stored = json.loads(store.get_setting(con, "management_importance"))
    con.close()
    assert stored["columns"] == ["REL", "ASS", "TAN", "EMP", "RES"] and len(stored["managers"]) == 8


def test_report_writes_servqual_importance_gap_and_iceberg(tmp_path, capsys):
    from csi.cli.main import main
    from csi.data.demo import build_demo_database

    db = build_demo_database(tmp_path / "demo.duckdb")
    expert = tmp_path / "expert.json"
    expert.write_text(json.dumps({"first_level": {"matrix": [[1, 3], [1 / 3, 1]], "names": ["network", "hotline"]},
                                  "items": {"network": {"weights": {"qual2": 1.0}},
                                            "hotline": {"weights": {"qual3": 1.0}}}}))
    assert main(["expert-weights", str(expert), "--db", str(db)]) == 0
    out = tmp_path / "rep"
    assert main(["report", "--db", str(db), "--wave", "2025Q4", "--bootstrap", "0", "--out", str(out)]) == 0
    sq = pd.read_csv(out / "classic" / "servqual.csv")
    dims = sq[sq["level"] == "dimension"].set_index("dimension")
    assert len(sq) == 15 and dims["gap"].idxmin() == "REL" and dims["importance_rank"].idxmin() == "REL"
    assert {"expectation", "perception", "gap", "ratio", "gap_ci_low", "ratio_ci_high", "n"} <= set(sq.columns)
    gap = pd.read_csv(out / "classic" / "importance_gap.csv")
    assert "management overrates Tangibles" in set(gap["finding"])
    ice = pd.read_csv(out / "classic" / "complaints_iceberg.csv")
    assert list(ice["wave"]) == ["2025Q4"] and (ice["silent_per_complainer"] == 24).all()
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["classic"]["importance_gap"]["source"].startswith("demo management survey")
    assert manifest["classic"]["servqual"]["ratio_interval"] == "delta method"
    # expert weights: network 3x as important as the hotline -> 0.75 / 0.25, recorded with CR in the manifest
    ew = manifest["classic"]["expert_weights"]
    assert ew["first_level"]["weights"] == pytest.approx({"network": 0.75, "hotline": 0.25})
    assert ew["first_level"]["ahp"]["cr"] == 0 and 0 < ew["fuzzy_score"] < 100
    lvl = pd.read_csv(out / "classic" / "expert_hierarchy.csv").set_index("first_level")
    assert ew["hierarchy_total"] == pytest.approx(0.75 * lvl.loc["network", "score"] + 0.25 * lvl.loc["hotline", "score"])


def test_classic_page_shows_the_service_tabs_in_both_languages(tmp_path, monkeypatch):
    pytest.importorskip("streamlit")
    from conftest import app_environment, app_test
    from csi.data.demo import build_demo_database

    db = build_demo_database(tmp_path / "csi.duckdb")
    app_environment(monkeypatch, tmp_path, db=db, clear=True)
    expected = {"en": ("Largest shortfall: Reliability.", "- management overrates Tangibles"),
                "zh": ("差距最大：可靠性。", "- 管理者高估了有形性")}
    for lang, (story, finding) in expected.items():
        at = app_test(timeout=300)
        at.session_state["lang"] = lang
        at.run()
        at.switch_page("app_pages/classic.py").run()
        assert not at.exception, [e.message for e in at.exception]
        md = [m.value for m in at.markdown]
        assert any(m.startswith(story) for m in md) and finding in md, md
        assert any(m.startswith("λmax = 3.004") for m in md), md
        assert not at.error, [e.value for e in at.error]
