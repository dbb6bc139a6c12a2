"""Analyst tools (issue 13, item 7): wave template, raw export, merged segment values, the survey weight as a
weight, one problem per ragged row with every problem downloadable; expert weights and the stored management
survey reach the dashboard through the report's functions."""
from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest

from csi.cli.main import main
from csi.data import demo, ingest, recodes, store, templates
from csi.errors import InputError, SpecError


def _demo_raw(wave: str = "2025Q4", n: int = 120) -> pd.DataFrame:
    df = demo.generate(20240601).waves[wave].head(n)
    return demo.as_text(df)


@pytest.fixture()
def db(tmp_path):
    """A store of one demo wave (120 respondents) whose regions are partly Chinese ("华东" beside "East")."""
    raw = demo.as_text(demo.add_comments(demo.generate(20240601).waves["2025Q4"].head(120), "2025Q4", 20240601))
    raw.loc[raw.index[::3], "region"] = "华东"
    raw.loc[raw.index[1], "brand"] = "=HYPERLINK(\"x\")"  # a formula-like text value
    raw.loc[raw.index[5], "sat1"], raw.loc[raw.index[6], "sat1"] = "99", ""  # "don't know" and a blank
    path = tmp_path / "s.duckdb"
    con = store.connect(path)
    try:
        ingest.ingest_frame(con, raw, wave="W1", source_name="w1.csv")
        store.set_setting(con, "brand_column", "brand")
    finally:
        con.close()
    return path


def _read(path, fn):
    con = store.connect(path, read_only=True)
    try:
        return fn(con)
    finally:
        con.close()


# ------------------------------------------------------------------ template
def test_template_csv_is_header_only_utf8_bom_in_dictionary_order(db):
    data = _read(db, lambda con: templates.wave_template(con, "csv"))
    assert data.startswith(b"\xef\xbb\xbf")
    text = data.decode("utf-8-sig")
    assert text.count("\n") == 1  # one header row, no question-text row
    header = text.strip().split(",")
    assert header[:3] == ["respondent_id", "brand", "region"]
    assert "weight" in header and header.index("weight") < header.index("imag1")
    assert header[-1] == "comment"  # the stored open-text column, after the items
    items = [h for h in header if h not in ("respondent_id", "brand", "region", "channel", "gender", "age_group",
                                            "weight", "comment")]
    dictionary = _read(db, store.item_dictionary)
    assert sorted(items) == sorted(dictionary["item"])  # every dictionary item, once
    assert items.index("imag1") < items.index("sat1") < items.index("loy1")  # questionnaire (chain) order


def test_template_xlsx_second_sheet_has_texts_scales_missing_and_filled_template_ingests_cleanly(db, tmp_path):
    data = _read(db, lambda con: templates.wave_template(con, "xlsx"))
    sheets = pd.read_excel(io.BytesIO(data), sheet_name=None, dtype=str)
    assert list(sheets) == ["data", "columns"]
    assert len(sheets["data"]) == 0
    cols = sheets["columns"].set_index("column")
    assert cols.loc["sat1", "text_zh"] and cols.loc["sat1", "text_en"]
    assert float(cols.loc["sat1", "scale_max"]) == 10.0 and "99" in cols.loc["sat1", "missing_codes"]
    assert cols.loc["weight", "kind"] == "weight" and cols.loc["region", "kind"] == "segment"
    # the analyst fills the template with a new wave's answers (the demo's next wave) and ingests it
    header = list(sheets["data"].columns)
    fresh = _demo_raw("2025Q3", 80)
    filled = pd.DataFrame({c: fresh[c] if c in fresh.columns else "" for c in header})
    assert [c for c in fresh.columns if c not in header] == []  # the template holds every column of the data
    path = tmp_path / "filled.csv"
    path.write_bytes(filled.to_csv(index=False).encode("utf-8-sig"))
    with store.writing(db, action="ingest", detail={}) as con:
        report = ingest.ingest_file(con, path, "W2")
    assert all(p.severity == "warning" for p in report.warnings)
    got = _read(db, lambda con: store.load_responses(con, ["W2"], recode=False))
    assert len(got) == 80
    want = pd.to_numeric(fresh["sat1"].replace("99", ""), errors="coerce").to_numpy(float)
    np.testing.assert_array_equal(got["sat1"].to_numpy(float), want)


# ------------------------------------------------------------------ raw export
@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_export_reingests_to_identical_rows(db, tmp_path, fmt):
    data = _read(db, lambda con: templates.export_wave(con, "W1", fmt))
    path = tmp_path / f"w1.{fmt}"
    path.write_bytes(data)
    with store.writing(db, action="ingest", detail={}) as con:
        ingest.ingest_file(con, path, "again")
    a = _read(db, lambda con: store.load_responses(con, ["W1"], recode=False)).drop(columns="wave")
    b = _read(db, lambda con: store.load_responses(con, ["again"], recode=False)).drop(columns="wave")
    formula = a["brand"].str.startswith("=")
    assert formula.sum() == 1  # escaped on the way out: the one formula-like value returns with its quote
    assert (b.loc[formula, "brand"] == "'" + a.loc[formula, "brand"]).all()
    pd.testing.assert_frame_equal(a.loc[~formula], b.loc[~formula])
    assert (a["region"] == "华东").sum() == 40 and a["weight"].notna().all()
    # the weight's stored text is exported as stored (not re-formatted)
    raw_w = _read(db, lambda con: con.execute("SELECT value FROM segments WHERE name='weight' AND wave_id=1 "
                                              "ORDER BY resp_key").fetchall())
    again_w = _read(db, lambda con: con.execute("SELECT value FROM segments s JOIN waves w USING (wave_id) "
                                                "WHERE name='weight' AND label='again' ORDER BY resp_key").fetchall())
    assert raw_w == again_w
    # open-text answers (verbatims) come back as text, exactly
    texts = [_read(db, lambda con, w=w: store.load_texts(con, [w])[["respondent_id", "name", "value"]])
             for w in ("W1", "again")]
    assert len(texts[0]) > 20 and texts[0].reset_index(drop=True).equals(texts[1].reset_index(drop=True))


def test_export_csv_escapes_formulas_missing_empty(db):
    text = _read(db, lambda con: templates.export_wave(con, "W1", "csv")).decode("utf-8-sig")
    frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    assert "'=HYPERLINK(\"x\")" in set(frame["brand"])
    assert not frame["brand"].str.startswith("=").any()
    stored = _read(db, lambda con: store.load_responses(con, ["W1"], recode=False))
    n_missing = int(stored["sat1"].isna().sum())
    assert n_missing >= 2 and int((frame["sat1"] == "").sum()) == n_missing  # 99 and blanks → empty


def test_export_unknown_wave_and_format_refused(db):
    with pytest.raises(SpecError, match="unknown wave"):
        _read(db, lambda con: templates.export_wave(con, "nope", "csv"))
    with pytest.raises(SpecError, match="format"):
        _read(db, lambda con: templates.export_wave(con, "W1", "pdf"))


def test_cli_template_and_export(db, tmp_path, capsys):
    assert main(["template", "--db", str(db), "--out", str(tmp_path / "t.xlsx")]) == 0
    assert pd.read_excel(tmp_path / "t.xlsx", sheet_name="columns").shape[0] > 30
    assert main(["export-wave", "--db", str(db), "--wave", "W1", "--out", str(tmp_path / "w.csv")]) == 0
    assert (tmp_path / "w.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    assert main(["export-wave", "--db", str(db), "--wave", "W9", "--out", str(tmp_path / "w.csv")]) == 2


# ------------------------------------------------------------------ recodes
def test_recode_validation():
    assert recodes.check_recodes({"region": {"East": "华东", "east": " 华东 ", "North": "North"}}) == \
        {"region": {"East": "华东", "east": "华东"}}
    assert recodes.resolved({"region": {"a": "b", "b": "c"}}) == {"region": {"a": "c", "b": "c"}}
    with pytest.raises(SpecError, match="cycle"):
        recodes.check_recodes({"region": {"a": "b", "b": "c", "c": "a"}})
    with pytest.raises(SpecError, match="empty"):
        recodes.check_recodes({"region": {"East": ""}})
    with pytest.raises(SpecError, match="weight"):
        recodes.check_recodes({"weight": {"1": "2"}})
    assert recodes.stored_values_for("region", ["华东"], {"region": {"East": "华东", "east": "华东"}}) == \
        ["East", "east", "华东"]
    assert recodes.stored_values_for("region", ["East"], {"region": {"East": "华东"}}) == []


def test_recode_editor_table_to_mapping():
    """The Data page's table (segment, stored value, shown as) → the mapping it saves."""
    catalogue = {"region": ["East", "east", "华东", "North"], "brand": ["A", "B"]}
    stored = {"region": {"east": "East", "Gone": "华东"}}  # "Gone" is no longer stored (a deleted wave): kept
    rows = [("region", "East", "华东"), ("region", "east", " 华东 "), ("region", "华东", ""), ("region", "North", None),
            ("brand", "A", float("nan")), ("brand", "B", "B")]
    assert recodes.from_table(stored, catalogue, rows) == {"region": {"East": "华东", "east": "华东", "Gone": "华东"}}
    assert recodes.from_table(stored, catalogue, [("region", "east", None)]) == {"region": {"Gone": "华东"}}
    with pytest.raises(SpecError, match="cycle"):
        recodes.from_table({}, catalogue, [("region", "East", "华东"), ("region", "华东", "East")])


def test_recoded_store_shows_one_region_everywhere_rows_unchanged(db):
    from csi.report.build import Selection, prepare

    before = _read(db, lambda con: con.execute("SELECT * FROM segments ORDER BY resp_key, name").df())
    assert set(_read(db, lambda con: store.segment_values(con, "region"))) >= {"East", "华东"}
    assert main(["recode", "--db", str(db), "--segment", "region", "--map", "East=华东"]) == 0
    # the report engine (app, CLI report, brief, batch all prepare through it) sees one region
    prep = prepare(db, Selection())
    regions = set(prep.frame["region"])
    assert "East" not in regions and "华东" in regions
    n_east = int((_demo_raw()["region"] == "East").sum()) - int((_demo_raw()["region"].iloc[::3] == "East").sum())
    assert int((prep.frame["region"] == "华东").sum()) == 40 + n_east
    assert "East" not in _read(db, lambda con: store.segment_values(con, "region"))  # the sidebar's values
    # a filter on the merged value takes both stored spellings; on the old spelling, nobody
    both = _read(db, lambda con: store.load_responses(con, segments={"region": "华东"}))
    assert len(both) == 40 + n_east
    assert len(_read(db, lambda con: store.load_responses(con, segments={"region": "East"}))) == 0
    # a view: the stored rows are unchanged, and the raw export keeps the stored spelling
    after = _read(db, lambda con: con.execute("SELECT * FROM segments ORDER BY resp_key, name").df())
    pd.testing.assert_frame_equal(before, after)
    assert "East" in set(_read(db, lambda con: templates.wave_frame(con, "W1"))["region"])
    # reversible
    assert main(["recode", "--db", str(db), "--segment", "region", "--clear"]) == 0
    assert "East" in set(prepare(db, Selection()).frame["region"])
    log = _read(db, lambda con: store.audit_log(con, limit=5))
    assert (log["action"] == "recode").sum() == 2


def test_cli_recode_refuses_cycle_and_unknown_segment_database_unchanged(db, capsys):
    v0 = _read(db, store.data_version)
    assert main(["recode", "--db", str(db), "--segment", "region", "--map", "East=华东"]) == 0
    v = _read(db, store.data_version)
    assert v > v0  # a new data version: every cache keyed by it (fits, tables, sidebar values) is fresh
    assert main(["recode", "--db", str(db), "--segment", "region", "--map", "华东=East"]) == 2
    assert "cycle" in capsys.readouterr().err
    assert main(["recode", "--db", str(db), "--segment", "regio", "--map", "a=b"]) == 2
    assert main(["recode", "--db", str(db), "--segment", "region", "--map", "North="]) == 2
    assert _read(db, store.data_version) == v
    assert _read(db, store.segment_recodes) == {"region": {"East": "华东"}}
    assert main(["recode", "--db", str(db)]) == 0
    assert json.loads(capsys.readouterr().out) == {"region": {"East": "华东"}}


# ------------------------------------------------------------------ the weight is the weight
def test_weight_summary_kish_effective_n(tmp_path):
    raw = _demo_raw(n=4)
    raw["weight"] = ["1", "1", "2", "2"]
    path = tmp_path / "w.duckdb"
    con = store.connect(path)
    try:
        ingest.ingest_frame(con, raw, wave="W1", source_name="w.csv")
        tab = templates.weight_summary(con)
    finally:
        con.close()
    r = tab.iloc[0]
    assert (r.n, r.n_weighted, r.weight_min, r.weight_mean, r.weight_max) == (4, 4, 1.0, 1.5, 2.0)
    assert r.n_effective == pytest.approx(36 / 10)  # (Σw)² / Σw² = 6² / (1+1+4+4)


# ------------------------------------------------------------------ one problem per ragged row
def _ragged_gbk(n_bad: int) -> bytes:
    lines = ["编号,地区,sat1,sat2,sat3", '1,"华东\n浦东",5,6,7']
    for i in range(n_bad):
        lines.append(f"{i + 2},华北,5" if i % 2 else f"{i + 2},华南,5,6,7,8,9")
    lines.append(f"{n_bad + 2},华东,1,2,3")
    return ("\n".join(lines) + "\n").encode("gbk")


def test_ragged_gbk_rows_one_problem_each_with_counts():
    with pytest.raises(InputError) as e:
        ingest.read_survey(_ragged_gbk(4), "bad.csv")
    probs = e.value.problems
    assert [(p.row, p.code) for p in probs] == [(3, "ragged_many"), (4, "ragged_few"), (5, "ragged_many"),
                                                (6, "ragged_few")]  # spreadsheet rows (a quoted line break)
    assert all(p.file == "bad.csv" for p in probs)
    assert "7 fields but the header has 5" in probs[0].reason and "3 fields, fewer than the 5" in probs[1].reason


def test_every_ragged_row_listed_or_written(tmp_path, capsys):
    with pytest.raises(InputError) as e:
        ingest.read_survey(_ragged_gbk(70), "bad.csv", max_per_kind=None)
    assert len(e.value.problems) == 70 and ingest.count_problems(e.value.problems) == 70
    with pytest.raises(InputError) as e:  # the default cap lists 20 and counts the rest truly
        ingest.read_survey(_ragged_gbk(70), "bad.csv")
    assert ingest.count_problems(e.value.problems) == 70
    src = tmp_path / "bad.csv"
    src.write_bytes(_ragged_gbk(70))
    out = tmp_path / "problems.csv"
    db = tmp_path / "x.duckdb"
    assert main(["ingest", str(src), "--wave", "W1", "--db", str(db), "--problems-out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "rejected: 70 problems" in err and "... and 20 more" in err and "all 70 problems written" in err
    listed = pd.read_csv(out, encoding="utf-8-sig")
    assert len(listed) == 70 and listed["row"].tolist() == list(range(3, 73))
    assert set(listed["code"]) == {"ragged_many", "ragged_few"}


# ------------------------------------------------------------------ the dashboard (AppTest)
@pytest.fixture()
def app_db(tmp_path, monkeypatch):
    """The small demo store (two waves, 150 respondents each) as the dashboard's database."""
    from conftest import app_environment, build_small_demo, clear_streamlit_caches

    path = build_small_demo(tmp_path / "csi.duckdb", 150, waves=2)
    yield app_environment(monkeypatch, tmp_path, db=path, chdir=False, clear=True).db
    clear_streamlit_caches()


def _page(page: str, lang: str = "en"):
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "streamlit_app.py"), default_timeout=180)
    at.session_state["lang"] = lang
    at.run()
    at.switch_page(f"app_pages/{page}.py")
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def _texts(at) -> str:
    return "\n".join(str(e.value) for kind in ("caption", "markdown", "info", "warning", "error", "success")
                     for e in getattr(at, kind))


def test_sidebar_and_data_page_merged_values_and_the_weight(app_db):
    from csi.text.i18n import t

    assert main(["recode", "--db", str(app_db), "--segment", "region", "--map", "East=South"]) == 0
    at = _page("data")
    region = at.multiselect(key="f_region")
    assert "South" in region.options and "East" not in region.options  # the sidebar filter sees merged values
    assert all(ms.label != "weight" for ms in at.multiselect)
    assert t("wt_help", "en") in _texts(at)  # the weight shown as the weight, with its summary
    labels = [d.label for d in at.get("download_button")]
    assert t("wv_template_xlsx", "en") in labels and t("wv_export_csv", "en", wave="2025Q4") in labels
    at = _page("data", "zh")
    assert t("wt_help", "zh") in _texts(at)


def test_classic_page_uses_stored_expert_weights_like_the_report(app_db, tmp_path):
    from csi.analytics import ahp, classic
    from csi.report.build import Selection, prepare

    names = ["overall", "network", "hotline", "shop", "new_services", "billing"]
    m = np.ones((6, 6))
    m[0, 1:] = [3, 5, 3, 5, 3]
    m[1:, 0] = 1 / m[0, 1:]
    config = {"first_level": {"matrix": m.tolist(), "names": names},
              "items": {a: {"weights": {f"qual{i + 1}": 1.0}} for i, a in enumerate(names)}}
    path = tmp_path / "ew.json"
    path.write_text(json.dumps(config))
    assert main(["expert-weights", str(path), "--db", str(app_db)]) == 0
    # the report's computation (csi.analytics.servqual.store_views reads the setting the same way)
    hierarchy, top, record = ahp.load_setting(_read(app_db, lambda con: store.get_setting(con, ahp.SETTING_KEY)))
    prep = prepare(app_db, Selection(), None)
    assert top["overall"] > 0.3  # not equal weights
    at = _page("classic")
    rows = prep.rows_of(at.session_state["cl_wave"])
    sc = {r.item: (r.scale_min, r.scale_max) for r in prep.scales[prep.scales["wave"].astype(str)
                                                                   == at.session_state["cl_wave"]].itertuples()}
    _, _, total = classic.weighted_hierarchy(rows, hierarchy, top, sc, weights=prep.weights_of(rows))
    _, _, equal = classic.weighted_hierarchy(rows, classic.hierarchy_from_attributes(prep.dictionary,
                                                                                    items=list(rows.columns)),
                                             None, sc, weights=prep.weights_of(rows))
    assert abs(total - equal) > 0.05
    assert at.metric[0].value == f"{total:.1f}"
    cr = record["first_level"]["ahp"]["cr"]
    assert f"expert weights (AHP, CR {cr:.2f})" in _texts(at)
    fz = classic.fuzzy_evaluation(rows, hierarchy, sc, weights=prep.weights_of(rows), first_level_weights=top)
    assert at.metric[1].value == f"{fz.score:.1f}"
    assert "专家权重（AHP，CR" in _texts(_page("classic", "zh"))


def test_classic_page_saves_expert_weights_and_refuses_inconsistent_ahp(app_db):
    from csi.analytics import ahp

    at = _page("classic")
    bad = ",A,B,C\nA,1,9,1/9\nB,1/9,1,9\nC,9,1/9,1\n"  # wildly inconsistent
    cfg = {"first_level": {"weights": {"overall": 0.5, "network": 0.1, "hotline": 0.1, "shop": 0.1,
                                       "new_services": 0.1, "billing": 0.1}},
           "items": {a: {"weights": {f"qual{i + 1}": 1.0}} for i, a in
                     enumerate(["overall", "network", "hotline", "shop", "new_services", "billing"])}}
    at.text_area(key="cl_ahp_expert_text").input(json.dumps(cfg))
    at.button(key="cl_ahp_expert_save").click()
    at.run()
    assert not at.exception
    stored = _read(app_db, lambda con: store.get_setting(con, ahp.SETTING_KEY))
    assert json.loads(stored)["first_level"]["weights"]["overall"] == 0.5
    log = _read(app_db, lambda con: store.audit_log(con, limit=1))
    assert json.loads(log["detail"].iloc[0])["setting"] == ahp.SETTING_KEY
    # an inconsistent AHP matrix (CR >= 0.10) as the first level is refused without the override: nothing written
    names = ["overall", "network", "hotline", "shop", "new_services", "billing"]
    m = np.ones((6, 6))
    for i, j, v in ((0, 1, 9.0), (1, 2, 9.0), (0, 2, 1 / 9)):  # overall >> network >> hotline, yet hotline >> overall
        m[i, j], m[j, i] = v, 1 / v
    assert ahp.ahp_weights(m, names, allow_inconsistent=True).cr >= 0.10
    cfg["first_level"] = {"matrix": m.tolist(), "names": names}
    v = _read(app_db, store.data_version)
    at.text_area(key="cl_ahp_expert_text").input(json.dumps(cfg))
    at.button(key="cl_ahp_expert_save").click()
    at.run()
    assert any("inconsistent" in e.value for e in at.error)
    assert _read(app_db, store.data_version) == v
    at.checkbox(key="cl_ahp_allow").check()
    at.button(key="cl_ahp_expert_save").click()
    at.run()
    stored = json.loads(_read(app_db, lambda con: store.get_setting(con, ahp.SETTING_KEY)))
    assert stored["allow_inconsistent"] is True and "matrix" in stored["first_level"]


def test_importance_tab_saves_an_uploaded_management_survey(app_db):
    from csi.analytics import servqual
    from csi.data.demo import management_survey

    csv = management_survey(7).to_csv(index=False).encode("utf-8")
    at = _page("classic")
    at.file_uploader(key="cl_ig_file").upload("managers.csv", csv, "text/csv")
    at.run()
    assert not at.exception
    at.button(key="cl_ig_save").click()
    at.run()
    assert not at.exception
    saved = servqual.load_survey(_read(app_db, lambda con: store.get_setting(con, servqual.SETTING_KEY)))
    assert saved is not None and len(saved) == len(management_survey(7))
    at = _page("classic")  # a new session: the stored survey, not the demo's
    from csi.text.i18n import t

    assert t("ig_stored", "en", n=len(saved)) in _texts(at)


def test_data_page_lists_every_ragged_row_and_offers_them_all(app_db):
    from csi.text.i18n import t

    at = _page("data")
    at.file_uploader[0].upload("bad.csv", _ragged_gbk(70), "text/csv")
    at.run()
    assert not at.exception
    table = at.dataframe[0].value
    assert len(table) == 70  # one row per ragged row, every one of them (not the first 20)
    assert t("da_problems_csv", "en", n=70) in [d.label for d in at.get("download_button")]
