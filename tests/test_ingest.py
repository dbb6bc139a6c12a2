"""Wave ingest: every validation case of the contract, encodings, formats, atomicity, CLI exit codes."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import unicodedata
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from csi.data import store
from csi.cli.main import main
from csi.data.ingest import ingest_file, ingest_frame, read_survey, validate_frame
from csi.errors import InputError

ROOT = Path(__file__).resolve().parents[1]
ECSI = ROOT / "data" / "ecsi_satisfaction.csv"
TABLES = ("waves", "items", "wave_items", "respondents", "segments", "answers", "meta", "schema_migrations")


def snapshot(db: Path) -> dict:
    """Logical content of every table (order-independent), to prove 'the database is unchanged'."""
    con = store.connect(db, read_only=True)
    try:
        return {t: sorted(map(repr, con.execute(f"SELECT * FROM {t}").fetchall())) for t in TABLES}
    finally:
        con.close()


def run_cli(*args: str) -> tuple[int, str, str]:
    proc = subprocess.run([sys.executable, "-m", "csi", *args], cwd=ROOT, capture_output=True, text=True, timeout=300)
    return proc.returncode, proc.stdout, proc.stderr


@pytest.fixture
def db(tmp_path) -> Path:
    path = tmp_path / "t.duckdb"
    store.connect(path).close()
    return path


def write_csv(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


GOOD = "respondent_id,brand,sat1,sat2,sat3\nr1,A,7,8,9\nr2,B,5,6,7\nr3,A,10,9,8\n"


def assert_rejected(db: Path, file: Path, *extra: str, expect: str) -> str:
    before = snapshot(db)
    rc, out, err = run_cli("ingest", str(file), "--wave", "W-bad", "--db", str(db), *extra)
    assert rc == 2, (rc, out, err)
    assert "Traceback" not in err
    assert expect in err, err
    assert snapshot(db) == before
    return err


# ----------------------------------------------------------------------------- the real ECSI file
def test_ecsi_ingests_with_scale_0_10_and_round_trips(db):
    rc, out, err = run_cli("ingest", str(ECSI), "--wave", "ECSI", "--scale", "0-10", "--db", str(db))
    assert rc == 0, err
    assert "250 respondents" in out and "27 items" in out
    con = store.connect(db, read_only=True)
    data = store.load_responses(con)
    scales = store.item_scales(con)
    con.close()
    raw = pd.read_csv(ECSI)
    assert len(data) == 250
    items = [c for c in raw.columns if c[:-1] in ("imag", "expe", "qual", "val", "sat", "loy")]
    assert len(items) == 27
    np.testing.assert_array_equal(data[items].to_numpy(), raw[items].to_numpy(dtype=float))
    assert list(data["gender"]) == list(raw["gender"])
    assert list(data["respondent_id"]) == [str(i) for i in range(1, 251)]
    assert scales["imag1"] == (0.0, 10.0)
    rc, out, _ = run_cli("waves", "--db", str(db))
    assert rc == 0 and "ECSI" in out and "250" in out


def test_ecsi_without_scale_is_rejected_naming_row_column_value(db):
    err = assert_rejected(db, ECSI, expect="outside the item's scale 1-10")
    assert "row 112, column 'imag1', value '0'" in err


# ----------------------------------------------------------------------------- file-level problems
def test_empty_file(db, tmp_path):
    assert_rejected(db, write_csv(tmp_path / "e.csv", ""), expect="empty")


def test_header_only(db, tmp_path):
    assert_rejected(db, write_csv(tmp_path / "h.csv", "respondent_id,sat1,sat2\n"), expect="header only")


def test_binary_content(db, tmp_path):
    p = tmp_path / "b.csv"
    p.write_bytes(bytes(range(256)) * 10)
    assert_rejected(db, p, expect="binary content")


def test_undecodable_text(db, tmp_path):
    # 0x81 before a comma is neither UTF-8, GBK/GB18030 (no such trail byte) nor cp1252 (unassigned byte)
    p = tmp_path / "broken.csv"
    p.write_bytes("respondent_id,sat1,city\nr1,7,ok\nr2,8,".encode() + b"Z\x81,\n")
    err = assert_rejected(db, p, expect="cannot decode")
    assert "row 3" in err and "column 'city'" in err and "81 2c" in err


def test_excel_file_with_csv_name(db, tmp_path):
    p = tmp_path / "book.csv"
    pd.DataFrame({"respondent_id": ["a"], "sat1": [5]}).to_excel(tmp_path / "x.xlsx", index=False)
    p.write_bytes((tmp_path / "x.xlsx").read_bytes())
    assert_rejected(db, p, expect="Excel workbook")


def test_ragged_row_too_many_fields(db, tmp_path):
    p = write_csv(tmp_path / "r.csv", "respondent_id,sat1,sat2\nr1,7,8\nr2,7,8,9\n")
    err = assert_rejected(db, p, expect="ragged row")
    assert "row 3" in err


def test_ragged_row_too_few_fields(db, tmp_path):
    p = write_csv(tmp_path / "r.csv", "respondent_id,sat1,sat2\nr1,7,8\nr2,7,8\nr3,7\n")
    err = assert_rejected(db, p, expect="ragged row")
    assert "row 4" in err


def test_duplicate_column_names(db, tmp_path):
    p = write_csv(tmp_path / "d.csv", "respondent_id,sat1,SAT1\nr1,7,8\n")
    assert_rejected(db, p, expect="appears twice")


def test_no_id_column(db, tmp_path):
    p = write_csv(tmp_path / "n.csv", "brand,sat1\nA,7\n")
    assert_rejected(db, p, expect="no respondent-id column")


def test_no_item_column(db, tmp_path):
    p = write_csv(tmp_path / "n.csv", "id,brand,city\n1,A,B\n")
    assert_rejected(db, p, expect="no column matches an item")


# ----------------------------------------------------------------------------- cell-level problems
def test_non_numeric_item_value(db, tmp_path):
    p = write_csv(tmp_path / "x.csv", "respondent_id,sat1,sat2\nr1,7,8\nr2,seven,8\n")
    err = assert_rejected(db, p, expect="not a number")
    assert "row 3, column 'sat1', value 'seven'" in err


def test_value_outside_scale(db, tmp_path):
    p = write_csv(tmp_path / "x.csv", "respondent_id,sat1,sat2\nr1,7,11\nr2,0,8\n")
    err = assert_rejected(db, p, expect="outside the item's scale 1-10")
    assert "row 2, column 'sat2', value '11'" in err and "row 3, column 'sat1', value '0'" in err


def test_binary_item_must_be_0_or_1(db, tmp_path):
    p = write_csv(tmp_path / "x.csv", "respondent_id,comp1,sat1\nr1,2,8\n")
    assert_rejected(db, p, expect="must be 0 or 1")


def test_duplicate_respondent_ids(db, tmp_path):
    p = write_csv(tmp_path / "x.csv", "respondent_id,sat1\nr1,7\nr2,8\nr1,9\n")
    err = assert_rejected(db, p, expect="duplicate respondent id")
    assert "rows 2, 4" in err and "value 'r1'" in err


def test_empty_respondent_id(db, tmp_path):
    p = write_csv(tmp_path / "x.csv", "respondent_id,sat1\nr1,7\n,8\n")
    assert_rejected(db, p, expect="empty respondent id")


def test_bad_weight(db, tmp_path):
    p = write_csv(tmp_path / "x.csv", "respondent_id,weight,sat1\nr1,1.2,7\nr2,-1,8\n")
    assert_rejected(db, p, expect="survey weight must be a non-negative number")


@pytest.mark.parametrize("header,value", [("weight", "abc"), ("Weight", "1,5"), ("权重", "-0.5"), ("weights", "inf")])
def test_bad_weight_values_are_refused(db, tmp_path, header, value):
    p = write_csv(tmp_path / "x.csv", f'respondent_id,{header},sat1\nr1,1.2,7\nr2,"{value}",8\n')
    err = assert_rejected(db, p, expect="survey weight must be a non-negative number")
    assert f"row 3, column '{header}', value '{value}'" in err


def test_weight_column_is_stored_as_weight_and_read_as_float(db, tmp_path):
    p = write_csv(tmp_path / "w.csv", "编号,权重,sat1\nA1,0.75,7\nA2,,8\nA3,2,9\n", "gbk")
    con = store.connect(db)
    rep = ingest_file(con, p, "W1")
    d = store.load_responses(con)
    con.close()
    assert rep.segments == ("weight",)
    assert d["weight"].dtype == np.float64
    np.testing.assert_array_equal(d["weight"].to_numpy(), [0.75, np.nan, 2.0])


def test_two_weight_columns_are_refused(db, tmp_path):
    p = write_csv(tmp_path / "w.csv", "respondent_id,weight,权重,sat1\nr1,1,1,7\n")
    assert_rejected(db, p, expect="is reserved or repeated")


def test_many_errors_are_summarised(db, tmp_path):
    rows = "\n".join(f"r{i},x" for i in range(100))
    err = assert_rejected(db, write_csv(tmp_path / "m.csv", "respondent_id,sat1\n" + rows + "\n"), expect="not a number")
    assert "80 more rows" in err


# ----------------------------------------------------------------------------- wave-level problems
def test_reimport_same_file_refused(db, tmp_path):
    p = write_csv(tmp_path / "g.csv", GOOD)
    assert run_cli("ingest", str(p), "--wave", "W1", "--db", str(db))[0] == 0
    err = assert_rejected(db, p, expect="already imported as wave 'W1'")
    assert "SHA-256" in err


def test_existing_wave_label_refused(db, tmp_path):
    assert run_cli("ingest", str(write_csv(tmp_path / "g.csv", GOOD)), "--wave", "W1", "--db", str(db))[0] == 0
    other = write_csv(tmp_path / "g2.csv", GOOD.replace("r3,A,10", "r3,A,9"))
    before = snapshot(db)
    rc, _, err = run_cli("ingest", str(other), "--wave", "W1", "--db", str(db))
    assert rc == 2 and "already exists" in err and snapshot(db) == before


def test_missing_items_warn_by_default_and_reject_when_required(db, tmp_path):
    p = write_csv(tmp_path / "g.csv", GOOD)
    err = assert_rejected(db, p, "--require-all-items", expect="dictionary items missing from the file")
    assert "QUAL: qual1" in err
    rc, out, _ = run_cli("ingest", str(p), "--wave", "W1", "--db", str(db))
    assert rc == 0 and "warning" in out and "not in this file" in out


def test_bad_scale_argument_exit_2(db, tmp_path):
    rc, _, err = run_cli("ingest", str(write_csv(tmp_path / "g.csv", GOOD)), "--wave", "W", "--scale", "10-1",
                         "--db", str(db))
    assert rc == 2 and "--scale" in err and "Traceback" not in err


def test_missing_file_exit_2(db, tmp_path):
    rc, _, err = run_cli("ingest", str(tmp_path / "nope.csv"), "--wave", "W", "--db", str(db))
    assert rc == 2 and "file not found" in err


# ----------------------------------------------------------------------------- missing codes, encodings, formats
def test_missing_codes_become_missing(db, tmp_path):
    text = "编号,品牌,sat1,sat2,sat3\n1,甲,99,不知道,7\n2,乙,,8,NA\n3,甲,６,5,7\n"
    p = write_csv(tmp_path / "m.csv", text)
    rc, out, err = run_cli("ingest", str(p), "--wave", "W1", "--missing", "NA", "--db", str(db))
    assert rc == 0, err
    con = store.connect(db, read_only=True)
    d = store.load_responses(con).set_index("respondent_id")
    con.close()
    assert np.isnan(d.loc["1", "sat1"]) and np.isnan(d.loc["1", "sat2"]) and d.loc["1", "sat3"] == 7
    assert np.isnan(d.loc["2", "sat1"]) and np.isnan(d.loc["2", "sat3"])
    assert d.loc["3", "sat1"] == 6  # full-width digit from a Chinese keyboard
    assert list(d["品牌"]) == ["甲", "乙", "甲"]


def test_undeclared_code_is_rejected(db, tmp_path):
    p = write_csv(tmp_path / "m.csv", "id,sat1\n1,NA\n")
    assert_rejected(db, p, expect="not a number")


@pytest.mark.parametrize("encoding", ["gbk", "gb18030", "utf-8-sig", "utf-8"])
def test_chinese_text_round_trip(db, tmp_path, encoding):
    text = "编号,地区,渠道,sat1,sat2\nA01,华北,营业厅,8,9\nA02,华南,网上营业厅,7,6\nA03,西部,客服热线,9,10\n"
    p = write_csv(tmp_path / f"{encoding}.csv", text, encoding)
    rc, out, err = run_cli("ingest", str(p), "--wave", "2025年第一季度", "--db", str(db))
    assert rc == 0, err
    con = store.connect(db, read_only=True)
    d = store.load_responses(con)
    con.close()
    assert list(d["地区"]) == ["华北", "华南", "西部"]
    assert list(d["渠道"]) == ["营业厅", "网上营业厅", "客服热线"]
    assert list(d["respondent_id"]) == ["A01", "A02", "A03"]
    assert list(d["wave"]) == ["2025年第一季度"] * 3


# Western text as European Excel saves it ("CSV (comma delimited)" = cp1252); Latin-1 holds the subset without
# the 0x80-0x9F characters (€, Š, Œ, Ž, typographic quotes). Before the encoding detection such files were
# decoded as GB18030 and stored as mojibake ("Z黵ich") or refused.
WESTERN = {
    "cp1252": ["Zürich", "Montréal", "São Paulo", "Kraków", "Šibenik", "Œuvre – 5 €", "Žilina", "Informações",
               "„Grüße“"],
    "latin-1": ["Zürich", "Montréal", "São Paulo", "Kraków", "Ærøskøbing", "Málaga, Spain", "Señor Müller",
                "Straße", "Ça va"],
}


def _western_file(tmp_path: Path, encoding: str, ascii_rows: int = 0) -> tuple[Path, list[str]]:
    cities = WESTERN[encoding]
    lines = ["respondent_id,city,sat1,sat2"] + [f"a{i},Bern,7,8" for i in range(ascii_rows)]
    lines += [f'r{i},"{c}",{1 + i % 10},{10 - i % 10}' for i, c in enumerate(cities)]
    return write_csv(tmp_path / f"{encoding}.csv", "\r\n".join(lines) + "\r\n", encoding), cities


@pytest.mark.parametrize("encoding", ["cp1252", "latin-1"])
def test_western_text_round_trips_exactly(db, tmp_path, encoding):
    p, cities = _western_file(tmp_path, encoding)
    con = store.connect(db)
    rep = ingest_file(con, p, "W1")
    d = store.load_responses(con)
    con.close()
    assert list(d["city"]) == cities
    assert rep.encoding == "cp1252" and "cp1252/Latin-1 (Western)" in rep.summary()
    assert list(d["sat1"]) == [float(1 + i % 10) for i in range(len(cities))]


def test_western_text_after_a_long_ascii_start_is_detected(db, tmp_path):
    # the first accented byte is beyond the first 64 KB: detection samples from the first non-UTF-8 line
    p, cities = _western_file(tmp_path, "cp1252", ascii_rows=8000)
    assert p.read_bytes().find(b"\xfc") > 100_000
    con = store.connect(db)
    rep = ingest_file(con, p, "W1")
    d = store.load_responses(con)
    con.close()
    assert rep.encoding == "cp1252" and rep.n_respondents == 8000 + len(cities)
    assert list(d["city"].iloc[8000:]) == cities


@pytest.mark.parametrize("encoding", ["gbk", "gb18030"])
def test_chinese_survey_text_still_round_trips(db, tmp_path, encoding):
    values = ["北京", "满意", "不知道", "男", "女", "上海市浦东新区", "非常满意（５分）", "客服热线：１００８６"]
    text = "编号,回答,sat1\n" + "".join(f'A{i:02d},"{v}",{1 + i}\n' for i, v in enumerate(values))
    p = write_csv(tmp_path / f"{encoding}.csv", text, encoding)
    con = store.connect(db)
    rep = ingest_file(con, p, "2025年第一季度", keep_columns=["回答"])  # not a known segment: kept explicitly
    d = store.load_responses(con)
    con.close()
    assert rep.encoding == "gb18030"
    # segment values are NFKC-normalised like ids: full-width "（５分）" is stored as "(5分)"
    assert list(d["回答"]) == [unicodedata.normalize("NFKC", v) for v in values]
    assert d["回答"].iloc[6] == "非常满意(5分)"


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16"])
def test_utf8_with_and_without_bom_and_utf16(db, tmp_path, encoding):
    values = ["Zürich", "北京", "Œuvre – 5 €", "不知道"]
    text = "respondent_id,city,sat1\n" + "".join(f"r{i},{v},7\n" for i, v in enumerate(values))
    p = write_csv(tmp_path / f"{encoding}.csv", text, encoding)
    con = store.connect(db)
    rep = ingest_file(con, p, "W1")
    d = store.load_responses(con)
    con.close()
    assert rep.encoding == encoding
    assert list(d["city"]) == values and list(d["respondent_id"]) == ["r0", "r1", "r2", "r3"]


def test_validation_summary_names_the_encoding(db, tmp_path):
    p, _ = _western_file(tmp_path, "cp1252")
    raw = read_survey(p)
    con = store.connect(db, read_only=True)
    rep = validate_frame(con, raw, p.name)
    con.close()
    assert rep.ok and rep.summary["encoding"] == "cp1252"


def test_ambiguous_encoding_is_refused_not_guessed(db, tmp_path):
    # GBK "A区" (zone A) is b"A\xc7\xf8": as cp1252 it reads "AÇø", as plausible as the Chinese reading
    p = write_csv(tmp_path / "zones.csv", 'respondent_id,"zone, as coded",sat1\nr1,"A区, east",8\nr2,B区,9\n', "gbk")
    err = assert_rejected(db, p, expect="cannot tell the text encoding")
    assert "row 2" in err and "column 'zone, as coded'" in err and "'AÇø, east'" in err and "'A区, east'" in err
    assert "CSV UTF-8" in err
    with pytest.raises(InputError) as e:
        read_survey(p)
    (pr,) = e.value.problems
    assert (pr.row, pr.column, pr.value, pr.code) == (2, "zone, as coded", "AÇø, east | A区, east", "encoding_ambiguous")
    assert "无法确定文本编码" in pr.reason_zh and "CSV UTF-8" in pr.reason_zh


def test_text_in_another_encoding_is_refused(db, tmp_path):
    # Japanese Shift-JIS: strictly decodable as cp1252 and as GB18030, ordinary text in neither
    p = write_csv(tmp_path / "sjis.csv", "respondent_id,city,sat1\nr1,東京都,8\nr2,大阪府,9\n", "shift_jis")
    assert_rejected(db, p, expect="neither UTF-8, Chinese GBK/GB18030 nor Western cp1252")


def test_mixed_encodings_are_refused(db, tmp_path):
    # a GBK file whose last row was pasted from a Western (cp1252) file; the row is beyond the sample windows
    # the detection reads, so the strict full decode of the detected encoding catches it
    rows = "".join(f"A{i},北京,{1 + i % 10}\n" for i in range(20000))
    p = tmp_path / "mixed.csv"
    p.write_bytes(("编号,地区,sat1\n" + rows).encode("gbk") + "Z1,Montré,8\n".encode("cp1252"))
    err = assert_rejected(db, p, expect="cannot decode the text as GB18030/GBK (")
    assert "row 20002" in err


def test_semicolon_delimited_csv(db, tmp_path):
    p = write_csv(tmp_path / "s.csv", GOOD.replace(",", ";"))
    con = store.connect(db)
    rep = ingest_file(con, p, "W1")
    con.close()
    assert rep.n_respondents == 3


def test_xlsx_ingest(db, tmp_path):
    df = pd.DataFrame({"ID": ["a", "b"], "region": ["North", "南方"], "sat1": [7, 8], "sat2": [9, 99]})
    p = tmp_path / "w.xlsx"
    df.to_excel(p, index=False)
    con = store.connect(db)
    rep = ingest_file(con, p, "X1")
    d = store.load_responses(con)
    con.close()
    assert rep.n_respondents == 2 and list(d["region"]) == ["North", "南方"]
    assert d["sat1"].tolist() == [7.0, 8.0] and np.isnan(d["sat2"].iloc[1])


def test_xlsx_rows_ending_in_empty_cells(db, tmp_path):
    """openpyxl returns shorter rows when the last cells are empty: they read as missing, without pandas'
    deprecated padding of ragged rows (a future pandas raises there)."""
    import warnings

    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(["ID", "region", "sat1", "sat2"])
    ws.append(["a", "North", 7, 9])
    ws.append(["b", "南方", 8])            # sat2 empty: a 3-cell row
    p = tmp_path / "short.xlsx"
    wb.save(p)
    con = store.connect(db)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rep = ingest_file(con, p, "X2")
    d = store.load_responses(con, waves=["X2"])
    con.close()
    assert rep.n_respondents == 2 and d["sat1"].tolist() == [7.0, 8.0]
    assert d["sat2"].iloc[0] == 9.0 and np.isnan(d["sat2"].iloc[1])


def test_xlsx_out_of_scale_rejected(db, tmp_path):
    p = tmp_path / "w.xlsx"
    pd.DataFrame({"ID": ["a", "b"], "sat1": [7, 12]}).to_excel(p, index=False)
    err = assert_rejected(db, p, expect="outside the item's scale")
    assert "row 3" in err


def test_sav_ingest(db, tmp_path):
    pyreadstat = pytest.importorskip("pyreadstat")
    df = pd.DataFrame({"respondent_id": [1.0, 2.0, 3.0], "sat1": [7.0, 8.0, np.nan], "sat2": [5.0, 6.0, 7.0],
                       "gender": ["female", "male", "female"]})
    p = tmp_path / "w.sav"
    pyreadstat.write_sav(df, str(p))
    con = store.connect(db)
    rep = ingest_file(con, p, "S1")
    d = store.load_responses(con)
    con.close()
    assert rep.n_respondents == 3
    assert list(d["respondent_id"]) == ["1", "2", "3"]
    assert d["sat1"].iloc[:2].tolist() == [7.0, 8.0] and np.isnan(d["sat1"].iloc[2])


def test_unnamed_first_column_is_the_id(db, tmp_path):
    raw = read_survey(ECSI)
    assert raw.columns[0] == ""
    con = store.connect(db)
    rep = validate_frame(con, raw, "ecsi.csv", scale=(0, 10))
    con.close()
    assert rep.ok and rep.id_column == "" and len(rep.items) == 27 and rep.segments == ["gender"]


def test_column_map_renames_columns(db, tmp_path):
    raw = pd.DataFrame({"id": ["1", "2"], "Q1 overall satisfaction": ["7", "8"], "city": ["a", "b"],
                        "interviewer": ["x", "y"]})
    con = store.connect(db)
    rep = ingest_frame(con, raw, "M1", "mapped.csv", column_map={"Q1 overall satisfaction": "sat1"},
                       keep_columns=["interviewer"])
    d = store.load_responses(con)
    con.close()
    assert rep.items == ("sat1",) and d["sat1"].tolist() == [7.0, 8.0] and list(d["city"]) == ["a", "b"]
    assert list(d["interviewer"]) == ["x", "y"]
    assert not [p for p in rep.warnings if p.code == "extra_columns"]


def test_unknown_columns_are_reported_and_dropped_not_stored_as_segments(db, tmp_path):
    # before: every column that was not an item became a segment (free text, e-mail addresses, timestamps ...)
    raw = pd.DataFrame({"id": ["1", "2"], "sat1": ["7", "8"], "region": ["N", "S"], "email": ["a@x", "b@y"],
                        "comment": ["ok", "bad"], "地区": ["华北", "华南"]})
    con = store.connect(db)
    rep = ingest_frame(con, raw, "M1", "extra.csv")
    d = store.load_responses(con)
    con.close()
    assert rep.segments == ("region", "地区")
    assert "email" not in d.columns and "comment" not in d.columns
    (w,) = [p for p in rep.warnings if p.code == "extra_columns"]
    assert "'email'" in w.reason and w.reason_zh and "email" in w.reason_zh
    assert "'comment'" not in w.reason and rep.texts == ("comment",)  # issue 13: stored as a verbatim instead


def test_a_segment_stored_before_is_known_in_later_waves(db, tmp_path):
    con = store.connect(db)
    ingest_frame(con, pd.DataFrame({"id": ["1"], "sat1": ["7"], "shop": ["A"]}), "W1", "w1.csv",
                 keep_columns=["shop"])
    rep = ingest_frame(con, pd.DataFrame({"id": ["1"], "sat1": ["8"], "shop": ["B"]}), "W2", "w2.csv")
    con.close()
    assert rep.segments == ("shop",) and not [p for p in rep.warnings if p.code == "extra_columns"]


# ----------------------------------------------------------------------------- atomicity
def _good_file(tmp_path: Path, n: int = 2000) -> Path:
    rng = np.random.default_rng(1)
    df = pd.DataFrame({"respondent_id": [f"r{i}" for i in range(n)], "brand": rng.choice(["A", "B"], n)})
    for it in ("sat1", "sat2", "sat3", "qual1", "qual2"):
        df[it] = rng.integers(1, 11, n)
    p = tmp_path / "big.csv"
    df.to_csv(p, index=False)
    return p


def _seeded_db(tmp_path: Path) -> Path:
    db = tmp_path / "a.duckdb"
    con = store.connect(db)
    ingest_frame(con, pd.DataFrame({"id": ["x", "y"], "sat1": ["5", "6"]}), "W0", "w0.csv")
    con.close()
    return db


@pytest.mark.parametrize("point", ["respondents", "answers"])
def test_exception_mid_ingest_leaves_database_unchanged(tmp_path, monkeypatch, point):
    db = _seeded_db(tmp_path)
    before = snapshot(db)
    monkeypatch.setenv("CSI_INGEST_FAULT", f"{point}:raise")
    con = store.connect(db)
    with pytest.raises(RuntimeError, match="injected fault"):
        ingest_file(con, _good_file(tmp_path), "W1")
    con.close()
    assert snapshot(db) == before
    monkeypatch.delenv("CSI_INGEST_FAULT")
    con = store.connect(db)
    ingest_file(con, _good_file(tmp_path), "W1")  # the same file still ingests afterwards
    con.close()
    assert snapshot(db) != before


def test_crash_mid_ingest_leaves_database_unchanged(tmp_path):
    db = _seeded_db(tmp_path)
    before = snapshot(db)
    env = {**os.environ, "CSI_INGEST_FAULT": "answers:exit"}
    proc = subprocess.run([sys.executable, "-m", "csi", "ingest", str(_good_file(tmp_path)), "--wave", "W1",
                           "--db", str(db)], cwd=ROOT, env=env, capture_output=True, timeout=300)
    assert proc.returncode == 3
    assert snapshot(db) == before


def test_kill_mid_ingest_leaves_database_unchanged(tmp_path):
    db = _seeded_db(tmp_path)
    before = snapshot(db)
    flag = tmp_path / "inside"
    env = {**os.environ, "CSI_INGEST_FAULT": "answers:hang", "CSI_INGEST_FAULT_FLAG": str(flag)}
    proc = subprocess.Popen([sys.executable, "-m", "csi", "ingest", str(_good_file(tmp_path, 20000)), "--wave", "W1",
                             "--db", str(db)], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not flag.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert flag.exists(), "ingest never reached the middle of its transaction"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert snapshot(db) == before


# ----------------------------------------------------------------------------- wave management
def test_rename_and_delete_wave(db, tmp_path):
    assert run_cli("ingest", str(write_csv(tmp_path / "g.csv", GOOD)), "--wave", "W1", "--db", str(db))[0] == 0
    assert run_cli("rename-wave", "W1", "2025Q1", "--db", str(db))[0] == 0
    rc, _, err = run_cli("rename-wave", "nope", "X", "--db", str(db))
    assert rc == 2 and "no wave labelled 'nope'" in err
    rc, _, err = run_cli("delete-wave", "2025Q1", "--db", str(db))  # no tty, no confirmation
    assert rc == 2 and "--confirm" in err
    rc, _, err = run_cli("delete-wave", "2025Q1", "--confirm", "2025q1", "--db", str(db))
    assert rc == 2 and "does not match" in err
    before = snapshot(db)
    assert before["respondents"]
    rc, out, _ = run_cli("delete-wave", "2025Q1", "--confirm", "2025Q1", "--db", str(db))
    assert rc == 0 and "3 respondents" in out
    after = snapshot(db)
    for t in ("waves", "wave_items", "respondents", "segments", "answers"):
        assert after[t] == []


def test_data_version_bumps_on_every_write(db, tmp_path):
    con = store.connect(db)
    v0 = store.data_version(con)
    ingest_file(con, write_csv(tmp_path / "g.csv", GOOD), "W1")
    v1 = store.data_version(con)
    store.rename_wave(con, "W1", "W2")
    v2 = store.data_version(con)
    store.update_item(con, "sat1", text_en="Overall, how satisfied are you?")
    v3 = store.data_version(con)
    con.close()
    assert v0 < v1 < v2 < v3


def test_validation_never_writes(db, tmp_path):
    before = snapshot(db)
    con = store.connect(db)
    rep = validate_frame(con, read_survey(write_csv(tmp_path / "g.csv", GOOD)), "g.csv", wave="W1")
    con.close()
    assert rep.ok and snapshot(db) == before


def test_inputerror_lists_problems():
    with pytest.raises(InputError) as e:
        read_survey(b"", "x.csv")
    assert e.value.problems[0].file == "x.csv"


def test_cli_main_returns_2_in_process(db, tmp_path, capsys):
    assert main(["ingest", str(tmp_path / "missing.csv"), "--wave", "W", "--db", str(db)]) == 2
    assert "file not found" in capsys.readouterr().err


def test_numeric_frame_with_missing_values(db):
    """Frames built in Python (demo, API users) may carry numbers and NaN rather than text cells."""
    con = store.connect(db)
    raw = pd.DataFrame({"respondent_id": ["a", "b", "c"], "sat1": [5.0, np.nan, 99.0],
                        "sat2": pd.array([7, None, 8], dtype="Int64"), "region": ["N", None, "S"]})
    ingest_frame(con, raw, "T", "t.csv")
    d = store.load_responses(con)
    con.close()
    assert d["sat1"].iloc[0] == 5 and np.isnan(d["sat1"].iloc[1]) and np.isnan(d["sat1"].iloc[2])  # 99 = missing
    assert d["sat2"].tolist()[0] == 7 and np.isnan(d["sat2"].iloc[1])
    assert d["region"].iloc[0] == "N" and pd.isna(d["region"].iloc[1])


def test_nan_and_inf_text_are_not_numbers(db, tmp_path):
    p = write_csv(tmp_path / "x.csv", "respondent_id,sat1\nr1,nan\nr2,inf\n")
    err = assert_rejected(db, p, expect="not a number")
    assert "value 'nan'" in err and "value 'inf'" in err


def test_every_message_has_both_languages_with_the_same_fields():
    from string import Formatter

    from csi.text.messages import MESSAGES

    for code, (en, zh) in MESSAGES.items():
        fields = lambda t: {f for _, f, _, _ in Formatter().parse(t) if f}  # noqa: E731
        assert fields(en) == fields(zh), code
        assert any("\u4e00" <= ch <= "\u9fff" for ch in zh), code


def test_problems_carry_chinese_reasons(db, tmp_path):
    con = store.connect(db)
    raw = pd.DataFrame({"id": ["a", "a", "b"], "sat1": ["7", "x", "12"]})
    rep = validate_frame(con, raw, "zh.csv")
    con.close()
    zh = {p.code: p.reason_zh for p in rep.problems}
    assert zh["duplicate_id"] == "受访者编号重复（第 2, 3 行）"
    assert zh["not_a_number"].startswith("不是数字")
    assert zh["out_of_scale"] == "超出该题项的量表范围 1–10"
    assert all(p.reason_zh and p.code for p in rep.problems)
