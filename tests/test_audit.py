"""Mystery-shopping audits (issue 13, deliverable 3): hand-worked scores, totals and lost-points ranking
(csi.analytics.audit); validation and all-or-nothing import (csi.data.audit, ``python -m csi ingest-audit``);
the store's migration 4; the report's audit.csv; the demo's story; the Classic-views tab in Chinese."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from csi.analytics import audit as aud
from csi.cli.main import main
from csi.data import store

ROOT = Path(__file__).resolve().parents[1]

# Hand-worked example: two outlets x two categories x two periods.
#   P1  A: environment 8/10, staff 15/20 -> 23/30 = 76.667%, lost 7
#       B: environment 10/10, staff 10/20 -> 20/30 = 66.667%, lost 10
#   P2  A: environment 9/10, staff 18/20 -> 27/30 = 90%;  B: 10/10, 14/20 -> 24/30 = 80%
HAND = pd.DataFrame({
    "period": ["P1"] * 4 + ["P2"] * 4,
    "outlet": ["A", "A", "B", "B"] * 2,
    "category": ["environment", "staff", "environment", "staff"] * 2,
    "possible": [10, 20, 10, 20] * 2,
    "obtained": [8, 15, 10, 10, 9, 18, 10, 14]})


def test_scores_totals_by_hand():
    s = aud.audit_scores(HAND)
    assert list(s.columns) == ["period", "outlet", "category", "possible", "obtained", "lost", "percent"]
    row = s[(s.period == "P1") & (s.outlet == "A") & (s.category == "staff")].iloc[0]
    assert (row.possible, row.obtained, row.lost, row.percent) == (20, 15, 5, 75.0)
    tot = aud.outlet_totals(HAND).set_index(["period", "outlet"])
    assert tot.loc[("P1", "A"), "percent"] == pytest.approx(100 * 23 / 30)
    assert tot.loc[("P1", "B"), "percent"] == pytest.approx(100 * 20 / 30)
    assert tot.loc[("P1", "B"), "lost"] == 10
    assert tot.loc[("P1", "A"), "rank"] == 1 and tot.loc[("P1", "B"), "rank"] == 2
    # percent of the sums, not the mean of the category percents (B in P1: mean of 100 and 50 would be 75)
    assert tot.loc[("P1", "B"), "percent"] != pytest.approx(75.0)


def test_lost_points_ranked_by_hand():
    lr = aud.lost_ranking(HAND, period="P1")
    assert list(lr["category"]) == ["staff", "environment"]
    assert list(lr["lost"]) == [15, 2]            # staff 5 + 10, environment 2 + 0
    assert lr["share_of_lost"].tolist() == pytest.approx([15 / 17, 2 / 17])
    assert list(lr["rank"]) == [1, 2]
    pooled = aud.lost_ranking(HAND)               # both periods: staff 5+10+2+6 = 23, environment 2+0+1+0 = 3
    assert list(pooled["lost"]) == [23, 3]
    per = aud.lost_ranking(HAND, by_outlet=True, period="P1")
    a = per[per.outlet == "A"]
    assert list(a["category"]) == ["staff", "environment"] and list(a["lost"]) == [5, 2]
    assert a["share_of_lost"].tolist() == pytest.approx([5 / 7, 2 / 7])
    b = per[per.outlet == "B"]
    assert list(b["lost"]) == [10, 0] and b["share_of_lost"].tolist() == pytest.approx([1.0, 0.0])


def test_trend_follows_the_period_order_as_imported():
    df = HAND.assign(period=pd.Categorical(HAND["period"], categories=["P2", "P1"], ordered=True))  # P2 first
    tr = aud.outlet_trend(df)
    a = tr[tr.outlet == "A"]
    assert [str(p) for p in a["period"]] == ["P2", "P1"]
    assert a["change"].iloc[1] == pytest.approx(100 * 23 / 30 - 90.0)
    tr = aud.outlet_trend(HAND)
    assert tr[tr.outlet == "B"]["change"].iloc[1] == pytest.approx(80.0 - 100 * 20 / 30)
    assert np.isnan(tr["change"].iloc[0])


def test_match_segment_and_link_by_hand():
    audits = HAND.assign(region=["N", "N", "S", "S"] * 2)
    # outlets are values of "store" (2 overlap) and of "channel" (1): the larger overlap wins
    assert aud.match_segment(audits, {"channel": ["A", "web"], "store": ["A", "B", "C"]}) == ("outlet", "store")
    # equal overlap: store before region in LINK_SEGMENTS
    assert aud.match_segment(audits, {"region": ["A"], "store": ["B"]}) == ("outlet", "store")
    # no outlet overlap: the audit's region column matches the survey's region
    assert aud.match_segment(audits, {"region": ["N", "S", "E"], "brand": ["x"]}) == ("region", "region")
    assert aud.match_segment(audits, {"brand": ["x"]}) is None
    survey = pd.DataFrame({"value": ["N", "S"], "index": [70.0, 60.0], "n": [40, 30]})
    link = aud.link_survey(audits, survey, "region", period="P1")
    n = link.set_index("region")
    assert n.loc["N", "percent"] == pytest.approx(100 * 23 / 30) and n.loc["S", "survey_index"] == 60.0
    assert n.loc["N", "n_outlets"] == 1 and n.loc["S", "n_respondents"] == 30
    assert list(link["region"]) == ["N", "S"] and list(link["survey_rank"]) == [1, 2]
    last = aud.link_survey(audits, survey, "region")  # default: the last period
    assert set(last["period"]) == {"P2"}


def test_segment_index_is_the_index_of_the_fit():
    """One value for every respondent: the (weighted) mean of the 0-100 scores is the fit's own index."""
    from csi.analytics.index import index_scores
    from csi.data.demo import ITEMS, generate
    from csi.engine.pls import estimate_pls
    from csi.model.templates import load_model

    df = generate(20240601).waves["2025Q4"].head(600)
    items = [c for c in ITEMS if c != "comp2"]  # comp2 is blank for non-complainers
    data = df.copy()
    for c in items:
        data[c] = pd.to_numeric(data[c], errors="coerce").astype(float).replace(99, np.nan)
    data = data.dropna(subset=items).reset_index(drop=True)
    spec = load_model("ccsi", items=items)
    res = estimate_pls(data, spec)
    scales = {i: (1.0, 10.0) for i in spec.indicators}
    want = float(index_scores(res, scales).set_index("construct").loc["SAT", "index"])
    one = aud.segment_index(res, data.assign(all="x"), scales, "all")
    assert float(one["index"].iloc[0]) == pytest.approx(want, abs=1e-9)
    # per region: the means of the respondents' scores, weighted by n, average back to the index
    reg = aud.segment_index(res, data, scales, "region")
    assert float((reg["index"] * reg["n"]).sum() / reg["n"].sum()) == pytest.approx(want, abs=1e-9)


# ------------------------------------------------------------------ import through the CLI
GOOD = ("outlet,category,possible,obtained,note,total,region\n"
        "North-1,environment,10,8,,25,North\n"
        "North-1,staff competence,20,17,slow,25,North\n"
        "West-1,environment,10,9,,19,West\n"
        "West-1,staff competence,20,10,did not know the tariff,19,West\n")


@pytest.fixture()
def db(tmp_path):
    path = tmp_path / "csi.duckdb"
    f = tmp_path / "good.csv"
    f.write_text(GOOD, encoding="utf-8")
    assert main(["ingest-audit", str(f), "--period", "2025H1", "--db", str(path)]) == 0
    return path


def _state(path):
    con = store.connect(path, read_only=True)
    try:
        return store.current_version(path), store.load_audits(con), store.data_version(con)
    finally:
        con.close()


def test_good_file_stored_and_listed(db, capsys):
    version, audits, _ = _state(db)
    assert len(audits) == 4 and set(audits["outlet"]) == {"North-1", "West-1"}
    assert audits.loc[audits.category == "staff competence", "note"].tolist() == ["slow", "did not know the tariff"]
    assert set(audits["region"]) == {"North", "West"}
    capsys.readouterr()
    assert main(["audits", "--db", str(db), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {(r["outlet"], r["category"], r["lost"], r["percent"]) for r in rows} >= {
        ("West-1", "staff competence", 10.0, 50.0), ("North-1", "environment", 2.0, 80.0)}
    con = store.connect(db, read_only=True)
    log = store.audit_log(con)
    con.close()
    assert log.iloc[0]["action"] == "ingest-audit" and json.loads(log.iloc[0]["detail"])["rows"] == 4


BAD = {  # file text -> (row, column, message code) that must be reported
    "over": ("outlet,category,possible,obtained\nA,env,10,12\n", 2, "obtained", "audit_over_possible"),
    "total": ("outlet,category,possible,obtained,total\nA,env,10,8,20\nA,staff,20,10,20\n", 2, "total",
              "audit_total_mismatch"),
    "negative": ("outlet,category,possible,obtained\nA,env,10,-1\n", 2, "obtained", "audit_negative"),
    "text": ("outlet,category,possible,obtained\nA,env,10,8\nA,staff,twenty,10\n", 3, "possible", "audit_not_number"),
    "duplicate": ("outlet,category,possible,obtained\nA,env,10,8\nB,env,10,8\nA,env,10,9\n", 4, "category",
                  "audit_duplicate"),
    "zero": ("outlet,category,possible,obtained\nA,env,0,0\n", 2, "possible", "audit_possible_zero"),
    "missing": ("outlet,category,obtained\nA,env,8\n", None, None, "audit_missing_column"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_files_refused_with_exit_2_and_nothing_written(db, tmp_path, capsys, case):
    text, row, col, code = BAD[case]
    f = tmp_path / f"{case}.csv"
    f.write_text(text, encoding="utf-8")
    before = _state(db)
    vfile = store.version_file(db).read_bytes()
    capsys.readouterr()
    assert main(["ingest-audit", str(f), "--period", "2025H2", "--db", str(db)]) == 2
    err = capsys.readouterr().err
    assert "the database is unchanged" in err and f"{case}.csv" in err
    if row is not None:
        assert f"row {row}, column '{col}'" in err, err
    after = _state(db)
    assert after[0] == before[0] and after[2] == before[2]
    pd.testing.assert_frame_equal(after[1], before[1])
    assert store.version_file(db).read_bytes() == vfile
    # the same problem through the library, with its code and Chinese reason
    from csi.data.audit import read_audit, validate_audit

    rep = validate_audit(read_audit(f), f.name)
    hit = [p for p in rep.errors if p.code == code]
    assert hit and all(p.reason_zh for p in rep.errors)


def test_total_mismatch_names_the_sums(tmp_path):
    from csi.data.audit import validate_audit

    raw = pd.DataFrame({"outlet": ["A", "A"], "category": ["env", "staff"], "possible": ["10", "20"],
                        "obtained": ["8", "10"], "total": ["20", "20"]})
    (p,) = validate_audit(raw, "t.csv").errors
    assert p.code == "audit_total_mismatch" and "add up to 18" in p.reason and "stated total is 20" in p.reason
    assert validate_audit(raw.assign(total=["18", ""]), "t.csv").ok  # the total on one row is enough


def test_more_cell_checks():
    from csi.data.audit import validate_audit

    raw = pd.DataFrame({"网点": ["A", "A", "", "B"], "项目": ["env", "staff", "env", ""],
                        "应得分": ["１０", "20", "10", "10"], "实得分": ["８", "1,5", "5", "5"],
                        "合计": ["20", "21", "", ""]})
    rep = validate_audit(raw, "t.csv")
    got = {(p.code, p.row, p.column) for p in rep.errors}
    assert ("audit_not_number", 3, "实得分") in got           # "1,5": neither a decimal comma nor 15
    assert ("audit_total_varies", 2, "合计") in got           # A states 20 and 21
    assert ("audit_empty_cell", 4, "网点") in got and ("audit_empty_cell", 5, "项目") in got
    assert not [p for p in rep.errors if p.row == 2 and p.column == "应得分"]  # full-width digits read as 10
    assert rep.frame.loc[0, "possible"] == 10 and rep.frame.loc[0, "obtained"] == 8


def test_xlsx_file_accepted(db, tmp_path):
    openpyxl = pytest.importorskip("openpyxl")
    wb = openpyxl.Workbook()
    ws = wb.active
    for row in (["门店", "类别", "满分", "得分", "备注"], ["North-1", "环境", 10, 7.5, "地面不洁"],
                ["North-1", "标识", 10, 10, None]):
        ws.append(row)
    f = tmp_path / "audit.xlsx"
    wb.save(f)
    assert main(["ingest-audit", str(f), "--period", "2025H2", "--db", str(db)]) == 0
    _, audits, _ = _state(db)
    new = audits[audits["period"] == "2025H2"].set_index("category")
    assert new.loc["环境", "obtained"] == 7.5 and new.loc["环境", "note"] == "地面不洁"
    assert new.loc["标识", "note"] is None


def test_gbk_csv_with_chinese_headers(db, tmp_path):
    text = "门店,类别,满分,得分,备注\n北京一店,环境,10,9,\n北京一店,员工业务能力,20,14,不熟悉套餐\n"
    f = tmp_path / "gbk.csv"
    f.write_bytes(text.encode("gbk"))
    assert main(["ingest-audit", str(f), "--period", "2025H2", "--db", str(db)]) == 0  # a new outlet: a warning
    _, audits, _ = _state(db)
    new = audits[audits["period"] == "2025H2"]
    assert set(new["outlet"]) == {"北京一店"} and set(new["category"]) == {"环境", "员工业务能力"}
    assert new.loc[new.category == "员工业务能力", "note"].item() == "不熟悉套餐"
    assert [str(p) for p in audits["period"].cat.categories] == ["2025H1", "2025H2"]


def test_new_outlets_warn_or_refuse_and_periods_replace(db, tmp_path, capsys):
    f = tmp_path / "p2.csv"
    f.write_text("outlet,category,possible,obtained\nNorth-1,environment,10,10\nEast-9,environment,10,5\n")
    before = _state(db)
    assert main(["ingest-audit", str(f), "--period", "2025H2", "--db", str(db), "--strict-outlets"]) == 2
    assert "'East-9' is not in earlier audit periods" in capsys.readouterr().err
    assert _state(db)[0] == before[0]
    assert main(["ingest-audit", str(f), "--period", "2025H2", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "stored" in out and "warning" in out and "East-9" in out
    # the same label again: refused unless --replace, which keeps the period's place in the order
    g = tmp_path / "p1b.csv"
    g.write_text("outlet,category,possible,obtained\nNorth-1,environment,10,4\n")
    assert main(["ingest-audit", str(g), "--period", "2025H1", "--db", str(db)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(["ingest-audit", str(g), "--period", "2025H1", "--db", str(db), "--replace"]) == 0
    _, audits, _ = _state(db)
    assert [str(p) for p in audits["period"].cat.categories] == ["2025H1", "2025H2"]
    h1 = audits[audits["period"] == "2025H1"]
    assert len(h1) == 1 and h1["obtained"].item() == 4
    con = store.connect(db, read_only=True)
    detail = json.loads(store.audit_log(con).iloc[0]["detail"])
    con.close()
    assert detail["replaced"] is True and detail["audit_period"] == "2025H1"
    # a bad period label is a problem too
    assert main(["ingest-audit", str(g), "--period", " ", "--db", str(db)]) == 2


def test_periods_listed_and_delete_is_audited(db, capsys, monkeypatch):
    capsys.readouterr()
    assert main(["audits", "--periods", "--json", "--db", str(db)]) == 0
    (p,) = json.loads(capsys.readouterr().out)
    assert (p["label"], p["source_file"], p["rows"], p["outlets"]) == ("2025H1", "good.csv", 4, 2)
    assert main(["delete-audit", "nope", "--db", str(db)]) == 2
    monkeypatch.setenv("CSI_ACTOR", "tester")
    assert main(["delete-audit", "2025H1", "--db", str(db)]) == 0
    assert "4 rows" in capsys.readouterr().out
    _, audits, _ = _state(db)
    assert audits.empty
    con = store.connect(db, read_only=True)
    log = store.audit_log(con)
    con.close()
    assert log.iloc[0]["action"] == "delete-audit" and log.iloc[0]["actor"] == "tester"


def test_migration_4_applies_to_a_store_that_has_a_later_one(tmp_path):
    """Migrations are applied by number: a store that already has 5 (or any later one) still gets 4."""
    import duckdb

    path = tmp_path / "old.duckdb"
    con = store.connect(path)
    con.execute("DROP TABLE audits")
    con.execute("DROP TABLE audit_periods")
    con.execute("DELETE FROM schema_migrations WHERE version = 4")
    con.close()
    con = duckdb.connect(str(path))
    assert store._has_table(con, "audits") is False
    con.close()
    con = store.connect(path)
    assert store._has_table(con, "audits") and store.load_audits(con).empty
    con.close()


# ------------------------------------------------------------------ report and demo
@pytest.fixture(scope="module")
def demo_store(tmp_path_factory):
    import sys

    sys.path.insert(0, str(ROOT / "tests"))
    from conftest import build_small_demo
    from csi.data.demo import add_demo_audits

    path = build_small_demo(tmp_path_factory.mktemp("auditdemo") / "csi.duckdb", 300, waves=2)
    con = store.connect(path)
    add_demo_audits(con, 20240601)
    con.close()
    return path


def test_demo_story_is_true_by_construction():
    from csi.data.demo import AUDIT_WEAK, audit_files

    files = audit_files(20240601)
    assert list(files) == ["2025H1", "2025H2"]
    audits = pd.concat([f.assign(period=p) for p, f in files.items()]).astype({"possible": float, "obtained": float})
    for period in files:
        tot = aud.outlet_totals(audits[audits.period == period])
        assert tot.sort_values("percent").iloc[0]["outlet"] == AUDIT_WEAK[0]
        assert aud.lost_ranking(audits, period=period).iloc[0]["category"] == AUDIT_WEAK[1]
        per = aud.lost_ranking(audits, by_outlet=True, period=period)
        assert per[(per.outlet == AUDIT_WEAK[0]) & (per["rank"] == 1)]["category"].item() == AUDIT_WEAK[1]
        region = audits[audits.period == period].assign(outlet=lambda d: d["region"])
        assert aud.outlet_totals(region).sort_values("percent").iloc[0]["outlet"] == "West"
    # the files pass the ordinary validation, stated totals included
    from csi.data.audit import validate_audit

    assert all(validate_audit(f, "demo.csv").ok for f in files.values())


def test_report_writes_audit_csv(demo_store, tmp_path, capsys):
    out = tmp_path / "rep"
    assert main(["report", "--db", str(demo_store), "--out", str(out), "--bootstrap", "0"]) == 0
    a = pd.read_csv(out / "audit.csv")
    assert list(a.columns) == ["period", "outlet", "category", "possible", "obtained", "lost", "percent"]
    assert len(a) == 2 * 8 * 7
    assert np.allclose(a["lost"], a["possible"] - a["obtained"])
    assert np.allclose(a["percent"], 100 * a["obtained"] / a["possible"])
    link = pd.read_csv(out / "audit_link.csv")
    assert set(link["segment"]) == {"region"} and set(link["period"]) == {"2025H2"}
    assert link.sort_values("percent").iloc[0]["region"] == "West"
    assert link["survey_index"].between(0, 100).all() and (link["n_respondents"] > 0).all()
    man = json.loads((out / "manifest.json").read_text())
    assert man["audit"]["periods"] == ["2025H1", "2025H2"] and man["audit"]["linked_segment"] == "region"
    assert man["files"]["audit.csv"] == len(a)


# ------------------------------------------------------------------ dashboard
def test_classic_tab_in_chinese_shows_no_raw_codes(demo_store, tmp_path, monkeypatch):
    pytest.importorskip("streamlit")
    import sys

    from app.i18n import t

    sys.path.insert(0, str(ROOT / "tests"))
    from conftest import app_environment, app_test, clear_streamlit_caches
    from test_i18n import leaks

    app_environment(monkeypatch, tmp_path, copy_of=demo_store, bootstrap=30, clear=True)
    at = app_test(timeout=300)
    at.run()
    at.session_state["lang"] = "zh"
    at.switch_page("app_pages/classic.py")
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    (tab,) = [x for x in at.tabs if x.label == t("cl_audit", "zh")]
    parts = [str(e.value) for kind in ("markdown", "caption", "info", "warning", "error", "subheader")
             for e in getattr(tab, kind)]
    assert any(t("au_lost", "zh") == p for p in parts) and any("West-01" in p for p in parts), parts
    assert any(t("au_link", "zh") == p for p in parts)
    frames = [d.value for d in tab.dataframe]
    assert len(frames) >= 4
    for frame in frames:
        parts += [str(c) for c in frame.columns] + [str(frame.index.name or "")]
        parts += [str(v) for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])
                  for v in pd.unique(frame[c].dropna().astype(str))]
    outlets = [f"{r}-{k:02d}" for r in ("North", "East", "South", "West") for k in (1, 2)]
    bad = sorted({w for p in parts for w in leaks(p, "zh", outlets)})
    assert not bad, bad
    assert t("au_cat_staff_competence", "zh") in " ".join(parts)
    clear_streamlit_caches()


def test_data_page_audit_import_validates_then_commits(demo_store, tmp_path, monkeypatch):
    """The Data page's audit import: a bad file lists its problems (Chinese reasons) and cannot be committed
    (nothing written); a good one is stored through csi.data.audit.store_audit and audited."""
    pytest.importorskip("streamlit")
    from app.i18n import t
    from conftest import app_environment, app_test, clear_streamlit_caches

    db = app_environment(monkeypatch, tmp_path, copy_of=demo_store, bootstrap=None, clear=True).db
    before = _state(db)
    at = app_test(timeout=300)
    at.run()
    at.session_state["lang"] = "zh"
    at.switch_page("app_pages/data.py")
    at.run()
    assert not at.exception
    at.file_uploader(key="da_au_file_0").upload("bad.csv", BAD["over"][0].encode(), "text/csv")
    at.text_input(key="da_au_period").input("2026H1")
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    assert at.button(key="da_au_commit").disabled
    shown = pd.concat([d.value for d in at.dataframe if "实得分（12）超过了满分（10）" in d.value.to_string()])
    assert list(shown.iloc[:, 0]) == [t("sev_error", "zh"), t("sev_warning", "zh")]  # the new outlet 'A' warns
    assert _state(db)[0] == before[0]
    good = "\n".join(["outlet,category,possible,obtained"] + [f"{o},environment,15,12" for o in ("West-01", "East-01")])
    at.file_uploader(key="da_au_file_0").upload("good.csv", good.encode(), "text/csv")
    at.run()
    commit = at.button(key="da_au_commit")
    assert not commit.disabled
    commit.click()
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    _, audits, _ = _state(db)
    assert [str(p) for p in audits["period"].cat.categories] == ["2025H1", "2025H2", "2026H1"]
    assert len(audits[audits["period"] == "2026H1"]) == 2
    assert t("au_upload_done", "zh", period="2026H1", rows=2) in [s.value for s in at.success]
    con = store.connect(db, read_only=True)
    log = store.audit_log(con)
    con.close()
    assert log.iloc[0]["action"] == "ingest-audit"
    clear_streamlit_caches()


# ------------------------------------------------------------------ trash of audit periods (schema 6)
SECOND = ("outlet,category,possible,obtained\n"
          "North-1,environment,10,6\n"
          "West-1,environment,10,10\n")


def _tables(path):
    """Every row of the two audit tables, in a fixed order (what a restore must give back unchanged)."""
    con = store.connect(path, read_only=True)
    try:
        return (con.execute("SELECT * FROM audit_periods ORDER BY period_id").df(),
                con.execute("SELECT * FROM audits ORDER BY period_id, outlet, category").df())
    finally:
        con.close()


def _ingest(path, tmp_path, text, period):
    f = tmp_path / f"{period}.csv"
    f.write_text(text, encoding="utf-8")
    assert main(["ingest-audit", str(f), "--period", period, "--db", str(path)]) == 0


def _log(path):
    con = store.connect(path, read_only=True)
    try:
        return store.audit_log(con)
    finally:
        con.close()


def test_delete_audit_goes_to_the_trash_and_restore_gives_identical_rows(db, tmp_path, capsys, monkeypatch):
    _ingest(db, tmp_path, SECOND, "2025H2")
    periods, rows = _tables(db)
    monkeypatch.setenv("CSI_ACTOR", "tester")
    assert main(["delete-audit", "2025H1", "--db", str(db)]) == 0
    assert "restore-audit '2025H1'" in capsys.readouterr().out
    _, audits, version = _state(db)
    assert list(audits["period"].cat.categories) == ["2025H2"] and len(audits) == 2
    con = store.connect(db, read_only=True)
    trashed = store.list_audit_trash(con)
    assert con.execute("SELECT count(*) FROM trash_audits").fetchone()[0] == 4
    con.close()
    assert (list(trashed["label"]), list(trashed["deleted_by"]), list(trashed["rows"]), list(trashed["outlets"])) \
        == (["2025H1"], ["tester"], [4], [2])
    assert main(["trash", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if "2025H1" in x)
    assert "audit period" in line and "tester" in line and line.split()[-1] == "4", out
    assert main(["restore-audit", "2025H1", "--db", str(db)]) == 0
    assert "4 rows" in capsys.readouterr().out
    after_p, after_r = _tables(db)
    pd.testing.assert_frame_equal(after_p, periods)  # same ids, labels, files, sha256, import times, order
    pd.testing.assert_frame_equal(after_r, rows)
    _, audits, version2 = _state(db)
    assert version2 > version and list(audits["period"].cat.categories) == ["2025H1", "2025H2"]
    con = store.connect(db, read_only=True)
    assert store.list_trash_all(con).empty and con.execute("SELECT count(*) FROM trash_audits").fetchone()[0] == 0
    con.close()
    log = _log(db)
    assert list(log["action"][:2]) == ["restore-audit", "delete-audit"] and set(log["actor"][:2]) == {"tester"}
    assert [json.loads(d)["rows"] for d in log["detail"][:2]] == [4, 4]


def test_restore_keeps_the_period_order_and_picks_the_latest_deletion(db, tmp_path):
    _ingest(db, tmp_path, SECOND, "2025H2")
    assert main(["delete-audit", "2025H2", "--db", str(db)]) == 0
    _ingest(db, tmp_path, SECOND, "2026H1")  # takes the freed place 2 in the order
    assert main(["restore-audit", "2025H2", "--db", str(db)]) == 0
    con = store.connect(db, read_only=True)
    assert store.audit_period_labels(con) == ["2025H1", "2025H2", "2026H1"]  # imported earlier, so first
    assert [r[0] for r in con.execute("SELECT ordinal FROM audit_periods ORDER BY ordinal").fetchall()] == [1, 2, 3]
    con.close()
    # the same label deleted twice: the most recent deletion comes back
    assert main(["delete-audit", "2026H1", "--db", str(db)]) == 0
    _ingest(db, tmp_path, GOOD.replace(",8,", ",7,").replace(",25,", ",24,"), "2026H1")
    assert main(["delete-audit", "2026H1", "--db", str(db)]) == 0
    assert main(["restore-audit", "2026H1", "--db", str(db)]) == 0
    _, audits, _ = _state(db)
    back = audits[audits["period"] == "2026H1"]
    assert len(back) == 4 and back["obtained"].sum() == 7 + 17 + 9 + 10
    con = store.connect(db, read_only=True)
    assert list(store.list_audit_trash(con)["label"]) == ["2026H1"]
    assert store.list_audit_trash(con)["rows"].tolist() == [2]  # the first deletion stays in the trash
    con.close()


def test_restore_audit_refusals_exit_2_and_name_the_period(db, tmp_path, capsys):
    before = _state(db)[0]
    assert main(["restore-audit", "nope", "--db", str(db)]) == 2
    err = capsys.readouterr().err
    assert "'nope'" in err and "trash" in err and "Traceback" not in err
    assert _state(db)[0] == before  # nothing published
    assert main(["delete-audit", "2025H1", "--db", str(db)]) == 0
    _ingest(db, tmp_path, SECOND, "2025H1")  # the label is taken again meanwhile
    capsys.readouterr()
    before = _state(db)[0]
    assert main(["restore-audit", "2025H1", "--db", str(db)]) == 2
    err = capsys.readouterr().err
    assert "'2025H1'" in err and "exists now" in err
    assert _state(db)[0] == before
    assert main(["delete-audit", "nope", "--db", str(db)]) == 2
    assert "'nope'" in capsys.readouterr().err


def test_purge_trash_removes_trashed_audit_periods(db, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("CSI_ACTOR", "tester")
    assert main(["delete-audit", "2025H1", "--db", str(db)]) == 0
    assert main(["purge-trash", "--older-than", "1", "--db", str(db)]) == 0  # deleted just now: kept
    con = store.connect(db, read_only=True)
    assert list(store.list_audit_trash(con)["label"]) == ["2025H1"]
    con.close()
    capsys.readouterr()
    assert main(["purge-trash", "--db", str(db)]) == 0
    assert "purged 1 audit period from the trash: 2025H1" in capsys.readouterr().out
    con = store.connect(db, read_only=True)
    assert store.list_trash_all(con).empty
    assert [con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("trash_audits", "trash_audit_periods")] \
        == [0, 0]
    con.close()
    log = _log(db)
    assert log.iloc[0]["action"] == "purge" and log.iloc[0]["actor"] == "tester"
    assert json.loads(log.iloc[0]["detail"])["audit_periods"] == ["2025H1"]
    assert main(["restore-audit", "2025H1", "--db", str(db)]) == 2  # gone for good
    assert main(["trash", "--db", str(db)]) == 0 and "the trash is empty" in capsys.readouterr().out


def test_a_schema_5_store_opens_and_migrates_to_the_audit_trash(tmp_path, monkeypatch, capsys):
    """A store written before migration 6 (built here with the older migration list): readers open it as it is,
    the first write adds the audit trash, and its periods then go to the trash and come back unchanged."""
    path = tmp_path / "old.duckdb"
    with monkeypatch.context() as m:
        m.setattr(store, "_MIGRATIONS", [x for x in store._MIGRATIONS if x[0] <= 5])
        m.setattr(store, "SCHEMA_VERSION", 5)
        _ingest(path, tmp_path, GOOD, "2025H1")
    con = store.connect(path, read_only=True)
    assert store._schema_version(con) == 5 and not store._has_table(con, "trash_audit_periods")
    assert store.list_audit_trash(con).empty and store.list_trash_all(con).empty  # a reader copes
    con.close()
    periods, rows = _tables(path)
    assert main(["trash", "--db", str(path)]) == 0 and "the trash is empty" in capsys.readouterr().out
    assert main(["restore-audit", "2025H1", "--db", str(path)]) == 2  # not in the trash; migrated, nothing lost
    assert main(["delete-audit", "2025H1", "--db", str(path)]) == 0
    con = store.connect(path, read_only=True)
    assert store._schema_version(con) == store.SCHEMA_VERSION >= 6
    assert [int(r[0]) for r in con.execute("SELECT version FROM schema_migrations ORDER BY 1").fetchall()] \
        == list(range(1, store.SCHEMA_VERSION + 1))
    con.close()
    assert main(["restore-audit", "2025H1", "--db", str(path)]) == 0
    after_p, after_r = _tables(path)
    pd.testing.assert_frame_equal(after_p, periods)
    pd.testing.assert_frame_equal(after_r, rows)


# ------------------------------------------------------------------ --replace keeps the old version in the trash
def _trashed(path):
    """The trash's audit periods (as the period table's columns) and rows, oldest entry first."""
    con = store.connect(path, read_only=True)
    try:
        cols, rows = ", ".join(store._PERIOD_COLS), ", ".join(store._AUDIT_ROW_COLS)
        return (con.execute(f"SELECT trash_id, deleted_by, {cols} FROM trash_audit_periods ORDER BY trash_id").df(),
                con.execute(f"SELECT trash_id, {rows} FROM trash_audits ORDER BY trash_id, outlet, category").df())
    finally:
        con.close()


def _replace(path, tmp_path, text, period, code=0):
    f = tmp_path / f"{period}-new.csv"
    f.write_text(text, encoding="utf-8")
    assert main(["ingest-audit", str(f), "--period", period, "--db", str(path), "--replace"]) == code


def test_replace_moves_the_old_version_to_the_trash_and_restore_replace_swaps_back(db, tmp_path, capsys, monkeypatch):
    _ingest(db, tmp_path, SECOND, "2025H2")
    old_p, old_r = _tables(db)
    monkeypatch.setenv("CSI_ACTOR", "tester")
    capsys.readouterr()
    _replace(db, tmp_path, SECOND.replace(",6\n", ",3\n"), "2025H1")  # 2025H1 now holds SECOND's outlets
    assert "restore-audit '2025H1' --replace" in capsys.readouterr().out
    new_p, new_r = _tables(db)
    assert list(new_p["label"]) == ["2025H1", "2025H2"] and list(new_p["ordinal"]) == [1, 2]  # its place kept
    assert sorted(new_r.loc[new_r["period_id"] == 1, "obtained"]) == [3.0, 10.0]
    # the old version is in the trash, every column as it was, deleted by the importer
    tp, tr = _trashed(db)
    assert list(tp["deleted_by"]) == ["tester"] and list(tp["trash_id"]) == [1]
    pd.testing.assert_frame_equal(tp[store._PERIOD_COLS], old_p[old_p["label"] == "2025H1"].reset_index(drop=True))
    pd.testing.assert_frame_equal(tr[store._AUDIT_ROW_COLS],
                                  old_r[old_r["period_id"] == 1].reset_index(drop=True))
    log = _log(db)
    d = json.loads(log.iloc[0]["detail"])
    assert (log.iloc[0]["action"], log.iloc[0]["actor"]) == ("ingest-audit", "tester")
    assert (d["replaced"], d["trash_id"], d["trashed_rows"], d["rows"]) == (True, 1, 4, 2)
    # plain restore-audit refuses while the label is taken, names --replace and publishes nothing
    version = store.current_version(db)
    assert main(["restore-audit", "2025H1", "--db", str(db)]) == 2
    assert "--replace" in capsys.readouterr().err and store.current_version(db) == version
    # restore-audit --replace: the old version back unchanged, the new one in the trash, one audited write
    assert main(["restore-audit", "2025H1", "--replace", "--db", str(db)]) == 0
    assert "4 rows" in capsys.readouterr().out
    back_p, back_r = _tables(db)
    pd.testing.assert_frame_equal(back_p, old_p)
    pd.testing.assert_frame_equal(back_r, old_r)
    tp, tr = _trashed(db)
    assert list(tp["trash_id"]) == [2] and list(tp["label"]) == ["2025H1"] and len(tr) == 2
    pd.testing.assert_frame_equal(tr[store._AUDIT_ROW_COLS], new_r[new_r["period_id"] == 1].reset_index(drop=True))
    log = _log(db)
    d = json.loads(log.iloc[0]["detail"])
    assert (log.iloc[0]["action"], log.iloc[0]["actor"]) == ("restore-audit", "tester")
    assert (d["replace"], d["replaced"], d["rows"]) == (True, True, 4)
    # the same command again swaps back to the new version: nothing is ever lost
    assert main(["restore-audit", "2025H1", "--replace", "--db", str(db)]) == 0
    again_p, again_r = _tables(db)
    pd.testing.assert_frame_equal(again_r, new_r)
    pd.testing.assert_frame_equal(again_p, new_p)
    assert _trashed(db)[1]["obtained"].sum() == old_r.loc[old_r["period_id"] == 1, "obtained"].sum()
    # --replace on a label nobody holds is a plain restore
    assert main(["delete-audit", "2025H2", "--db", str(db)]) == 0
    capsys.readouterr()
    assert main(["restore-audit", "2025H2", "--replace", "--db", str(db)]) == 0
    assert "swaps back" not in capsys.readouterr().out
    assert json.loads(_log(db).iloc[0]["detail"])["replaced"] is False
    pd.testing.assert_frame_equal(_tables(db)[1], new_r)


def test_replace_is_all_or_nothing_with_the_new_import(db, tmp_path, monkeypatch, capsys):
    from csi.data.audit import read_audit, store_audit
    from csi.errors import InputError

    before, rows = _tables(db)
    version = store.current_version(db)
    # a bad replacement file: refused, the old version stays current and the trash stays empty
    _replace(db, tmp_path, "outlet,category,possible,obtained\nNorth-1,environment,10,12\n", "2025H1", code=2)
    assert "exceed the points possible" in capsys.readouterr().err
    assert store.current_version(db) == version and _trashed(db)[0].empty
    # a failure after the old version was moved (the new rows' write): the transaction rolls the move back
    f = tmp_path / "new.csv"
    f.write_text(SECOND, encoding="utf-8")
    raw = read_audit(f)

    class Boom(Exception):
        pass

    def boom(con):
        raise Boom("disk full")

    with pytest.raises(Boom):
        with store.writing(db, actor="t", action="ingest-audit") as con:
            with monkeypatch.context() as m:
                m.setattr(store, "bump_version", boom)
                with pytest.raises(Boom):
                    store_audit(con, raw, "2025H1", "new.csv", replace=True)
            assert con.execute("SELECT count(*) FROM trash_audit_periods").fetchone()[0] == 0  # rolled back
            pd.testing.assert_frame_equal(con.execute("SELECT * FROM audits ORDER BY period_id, outlet, category")
                                          .df(), rows)
            raise Boom("and nothing published")
    assert store.current_version(db) == version
    after_p, after_r = _tables(db)
    pd.testing.assert_frame_equal(after_p, before)
    pd.testing.assert_frame_equal(after_r, rows)
    assert _trashed(db)[0].empty
    with pytest.raises(InputError):  # without --replace the label is refused before anything moves
        with store.writing(db, actor="t", action="ingest-audit") as con:
            store_audit(con, raw, "2025H1", "new.csv")
    assert store.current_version(db) == version
