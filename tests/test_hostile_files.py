"""Hostile and odd survey files: bounded reading (limits), exact text, one problem per bad row, a bounded fuzz test.

Every refusal is checked to leave the store unchanged (every table's content and data_version).
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import zipfile
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest

from csi.data import store
from csi.data.ingest import (LIMITS, MAX_PER_KIND, effective_limits, ingest_file, ingest_frame, read_survey,
                             validate_frame)
from csi.errors import CSIError, InputError

ROOT = Path(__file__).resolve().parents[1]
TABLES = ("waves", "items", "wave_items", "respondents", "segments", "answers", "meta", "schema_migrations")


def snapshot(db: Path) -> tuple[int, dict]:
    con = store.connect(db, read_only=True)
    try:
        return store.data_version(con), {t: sorted(map(repr, con.execute(f"SELECT * FROM {t}").fetchall()))
                                         for t in TABLES}
    finally:
        con.close()


@pytest.fixture
def db(tmp_path) -> Path:
    path = tmp_path / "t.duckdb"
    con = store.connect(path)
    ingest_frame(con, pd.DataFrame({"id": ["s1", "s2"], "sat1": ["5", "6"], "brand": ["A", "B"]}), "W0", "w0.csv")
    con.close()
    return path


def refused(db: Path, path: Path, code: str, **kwargs) -> InputError:
    """ingest_file refuses ``path`` with a problem ``code`` and the store is unchanged."""
    before = snapshot(db)
    con = store.connect(db)
    try:
        with pytest.raises(InputError) as info:
            ingest_file(con, path, "W-bad", **kwargs)
    finally:
        con.close()
    assert snapshot(db) == before
    codes = [p.code for p in info.value.problems]
    assert code in codes, [str(p) for p in info.value.problems]
    return info.value


def ingested(db: Path, path: Path, wave: str = "W1", **kwargs) -> pd.DataFrame:
    con = store.connect(db)
    try:
        ingest_file(con, path, wave, **kwargs)
        return store.load_responses(con, waves=[wave])
    finally:
        con.close()


def run_cli(*args: str, env: dict | None = None) -> tuple[int, str, str]:
    proc = subprocess.run([sys.executable, "-m", "csi", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, env={**os.environ, **(env or {})})
    return proc.returncode, proc.stdout, proc.stderr


def peak_rss_mib(code: str) -> tuple[float, dict]:
    """Run ``code`` (which sets ``result``) in a fresh interpreter; its peak RSS in MiB and the result.

    The peak is the child's own ``VmHWM`` (/proc/self/status): ``getrusage``'s ``ru_maxrss`` keeps the high-water
    mark of the forked parent across exec, so a large pytest process would be counted as the child's."""
    script = ("import json\n" + code +
              "\nhwm = next(int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmHWM:'))"
              "\nprint(json.dumps({'rss': hwm / 1024, 'result': result}))")
    proc = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    return out["rss"], out["result"]


# ------------------------------------------------------------------------------------------------ limits
def test_limits_are_documented_defaults_overridable_by_keyword_and_environment(monkeypatch):
    assert set(LIMITS) == {"max_file_bytes", "max_columns", "max_rows", "max_cell_bytes", "max_line_bytes",
                           "max_unzipped_bytes", "max_zip_ratio"}
    assert effective_limits() == LIMITS
    monkeypatch.setenv("CSI_MAX_COLUMNS", "12")
    assert effective_limits()["max_columns"] == 12
    assert effective_limits({"max_columns": 7})["max_columns"] == 7  # the keyword wins
    with pytest.raises(InputError, match="max_colums"):
        effective_limits({"max_colums": 7})
    monkeypatch.setenv("CSI_MAX_ROWS", "many")
    with pytest.raises(InputError, match="many"):
        effective_limits()


def _xlsx_bomb(path: Path, sheet_bytes: int) -> Path:
    """A real workbook whose sheet1.xml is replaced by ``sheet_bytes`` of repetitive rows (deflates ~1000:1)."""
    buf = io.BytesIO()
    pd.DataFrame({"respondent_id": ["a"], "sat1": [5]}).to_excel(buf, index=False)
    src = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
    row = b'<row><c t="inlineStr"><is><t>x</t></is></c><c><v>5</v></c></row>'
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as out:
        for info in src.infolist():
            if info.filename != "xl/worksheets/sheet1.xml":
                out.writestr(info, src.read(info))
                continue
            with out.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as fh:
                fh.write(b'<?xml version="1.0"?><worksheet xmlns="http://schemas.openxmlformats.org/'
                         b'spreadsheetml/2006/main"><sheetData>')
                chunk = row * (1 << 14)
                for _ in range(sheet_bytes // len(chunk)):
                    fh.write(chunk)
                fh.write(b"</sheetData></worksheet>")
    return path


def test_xlsx_zip_bomb_is_refused_before_inflating(db, tmp_path):
    bomb = _xlsx_bomb(tmp_path / "bomb.xlsx", 300 << 20)  # ~300 MB of sheet XML
    assert bomb.stat().st_size < 5 << 20
    err = refused(db, bomb, "unzipped_too_large", limits={"max_unzipped_bytes": 100 << 20})
    (p,) = [p for p in err.problems if p.code == "unzipped_too_large"]
    assert p.file == "bomb.xlsx" and "104,857,600" in p.reason and "max_unzipped_bytes" in p.reason
    # the same refusal in a fresh process, with the memory it took: the sheet is never inflated
    rss, result = peak_rss_mib(
        "from csi.data.ingest import read_survey\nfrom csi.errors import InputError\n"
        f"try:\n    read_survey({str(bomb)!r}, limits={{'max_unzipped_bytes': 100 << 20}}); result = 'read'\n"
        "except InputError as e:\n    result = e.problems[0].code\n")
    assert result == "unzipped_too_large" and rss < 500, rss


def test_a_bomb_under_the_size_limit_is_refused_by_its_inflation_ratio(db, tmp_path):
    bomb = _xlsx_bomb(tmp_path / "small_bomb.xlsx", 40 << 20)  # under max_unzipped_bytes, ~1000x deflated
    err = refused(db, bomb, "zip_ratio")
    assert "xl/worksheets/sheet1.xml" in err.problems[0].reason and "max_zip_ratio" in err.problems[0].reason
    # a real sheet of constant answers deflates ~15x: read
    n = 5000
    df = pd.DataFrame({"respondent_id": [f"r{i}" for i in range(n)], **{f"sat{i}": [7] * n for i in range(1, 4)},
                       **{f"qual{i}": [7] * n for i in range(1, 7)}, **{f"loy{i}": [7] * n for i in range(1, 4)}})
    df.to_excel(tmp_path / "const.xlsx", index=False)
    info = zipfile.ZipFile(tmp_path / "const.xlsx").getinfo("xl/worksheets/sheet1.xml")
    assert info.file_size > 1 << 20 and 5 < info.file_size / info.compress_size < LIMITS["max_zip_ratio"] / 3
    assert len(ingested(db, tmp_path / "const.xlsx")) == n


def test_ten_thousand_column_csv_is_refused_at_the_header(db, tmp_path):
    header = ",".join(["respondent_id", "sat1"] + [f"x{i}" for i in range(9998)])
    p = tmp_path / "wide.csv"
    p.write_text(header + "\n" + ",".join(["r1", "7"] + ["1"] * 9998) + "\n")
    err = refused(db, p, "too_many_columns")
    assert err.problems[0].row == 1 and "10,000 columns" in err.problems[0].reason and "4,096" in err.problems[0].reason
    before = snapshot(db)
    rc, _out, stderr = run_cli("ingest", str(p), "--wave", "W-bad", "--db", str(db))
    assert rc == 2 and "Traceback" not in stderr and "max_columns" in stderr
    assert snapshot(db) == before


def test_limit_from_the_environment_reaches_the_command_line(db, tmp_path):
    p = tmp_path / "w.csv"
    p.write_text("respondent_id,brand,sat1,sat2\nr1,A,7,8\n")
    before = snapshot(db)
    rc, _out, stderr = run_cli("ingest", str(p), "--wave", "W-bad", "--db", str(db), env={"CSI_MAX_COLUMNS": "3"})
    assert rc == 2 and "4 columns, more than the limit of 3" in stderr, stderr
    assert snapshot(db) == before


def test_a_single_line_file_is_refused_from_its_first_chunk(db, tmp_path):
    # sparse: 1 GiB - 1 byte long (under max_file_bytes) but nothing written past the first bytes; reading it all
    # would take a GiB of memory
    p = tmp_path / "one_line.csv"
    with open(p, "wb") as fh:
        fh.write(b"respondent_id,sat1," + b"x" * 1000)
        fh.truncate((1 << 30) - 1)
    err = refused(db, p, "line_too_long")
    assert err.problems[0].row == 1 and "4,194,304" in err.problems[0].reason
    rss, result = peak_rss_mib(
        "from csi.data.ingest import read_survey\nfrom csi.errors import InputError\n"
        f"try:\n    read_survey({str(p)!r}); result = 'read'\n"
        "except InputError as e:\n    result = e.problems[0].code\n")
    assert result == "line_too_long" and rss < 400, rss


def test_a_long_single_line_with_a_smaller_limit(db, tmp_path):
    p = tmp_path / "line.csv"
    p.write_bytes(b"respondent_id,sat1," + b"y" * (3 << 20))
    refused(db, p, "line_too_long", limits={"max_line_bytes": 1 << 20})
    data = p.read_bytes()  # the same bytes as an upload
    with pytest.raises(InputError, match="max_line_bytes"):
        read_survey(data, "line.csv", limits={"max_line_bytes": 1 << 20})


def test_a_long_record_after_the_header(db, tmp_path):
    p = tmp_path / "rec.csv"
    p.write_text("respondent_id,sat1,comment\nr1,7,ok\nr2,8," + "z" * 200_000 + "\nr3,9,ok\n")
    err = refused(db, p, "line_too_long", limits={"max_line_bytes": 100_000})
    assert [q.row for q in err.problems if q.code == "line_too_long"] == [3]


def test_file_larger_than_the_limit_is_refused_before_reading(db, tmp_path):
    p = tmp_path / "big.csv"
    with open(p, "wb") as fh:
        fh.write(b"respondent_id,sat1\nr1,7\n")
        fh.truncate(LIMITS["max_file_bytes"] + 1)  # sparse
    err = refused(db, p, "file_too_large")
    assert "1,073,741,825 bytes" in err.problems[0].reason
    refused(db, tmp_path / "big.csv", "file_too_large", limits={"max_file_bytes": 10})
    with pytest.raises(InputError, match="max_file_bytes"):
        read_survey(b"respondent_id,sat1\nr1,7\n", "u.csv", limits={"max_file_bytes": 10})


def test_too_many_rows_csv_xlsx_sav(db, tmp_path):
    df = pd.DataFrame({"respondent_id": [f"r{i}" for i in range(50)], "sat1": [7.0] * 50})
    df.to_csv(tmp_path / "r.csv", index=False)
    df.to_excel(tmp_path / "r.xlsx", index=False)
    pyreadstat = pytest.importorskip("pyreadstat")
    pyreadstat.write_sav(df, str(tmp_path / "r.sav"))
    for ext in ("csv", "xlsx", "sav"):
        err = refused(db, tmp_path / f"r.{ext}", "too_many_rows", limits={"max_rows": 49})
        assert "max_rows" in err.problems[0].reason and "49" in err.problems[0].reason
        assert len(ingested(db, tmp_path / f"r.{ext}", f"OK-{ext}", limits={"max_rows": 50})) == 50


def test_too_many_columns_xlsx_and_sav(db, tmp_path):
    df = pd.DataFrame({"respondent_id": ["a", "b"], **{f"sat{i}": [5.0, 6.0] for i in range(1, 5)}})
    df.to_excel(tmp_path / "c.xlsx", index=False)
    pyreadstat = pytest.importorskip("pyreadstat")
    pyreadstat.write_sav(df, str(tmp_path / "c.sav"))
    for ext in ("xlsx", "sav"):
        err = refused(db, tmp_path / f"c.{ext}", "too_many_columns", limits={"max_columns": 4})
        assert "5 columns" in err.problems[0].reason


def test_a_stray_cell_far_away_names_its_row_and_does_not_pad_every_row(db, tmp_path):
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(["respondent_id", "sat1"])
    ws.append(["r1", 7])
    ws["XFD1048576"] = 1  # the sheet's declared dimension becomes A1:XFD1048576
    wb.save(tmp_path / "far.xlsx")
    err = refused(db, tmp_path / "far.xlsx", "too_many_columns")
    assert err.problems[0].row == 1_048_576 and "16,384 columns" in err.problems[0].reason


def test_sav_declared_size_is_checked_before_reading_cases(db, tmp_path):
    pyreadstat = pytest.importorskip("pyreadstat")
    df = pd.DataFrame({"respondent_id": [f"r{i}" for i in range(1000)], "sat1": [7.0] * 1000})
    pyreadstat.write_sav(df, str(tmp_path / "s.sav"), compress=True)
    err = refused(db, tmp_path / "s.sav", "unzipped_too_large", limits={"max_unzipped_bytes": 10_000})
    assert "max_unzipped_bytes" in err.problems[0].reason


def test_an_oversized_cell_names_row_and_column(db, tmp_path):
    p = tmp_path / "cell.csv"
    p.write_text("respondent_id,brand,sat1\nr1,A,7\nr2," + "B" * 70_000 + ",8\n")
    err = refused(db, p, "cell_too_large")
    (q,) = err.problems
    assert (q.row, q.column, q.value) == (3, "brand", "70,000 bytes") and "65,536" in q.reason
    df = pd.DataFrame({"respondent_id": ["a", "b"], "brand": ["A", "é" * 40], "sat1": [5, 6]})
    df.to_excel(tmp_path / "cell.xlsx", index=False)  # 40 characters, 80 UTF-8 bytes
    err = refused(db, tmp_path / "cell.xlsx", "cell_too_large", limits={"max_cell_bytes": 50})
    assert (err.problems[0].row, err.problems[0].column, err.problems[0].value) == (3, "brand", "80 bytes")


# ------------------------------------------------------------------------------------------------ exact text
def test_a_nul_byte_anywhere_is_refused_with_its_line(db, tmp_path):
    rows = "".join(f"r{i},A,7\n" for i in range(10_000))  # > 64 KiB before the NUL (only that much was checked)
    p = tmp_path / "nul.csv"
    p.write_bytes(("respondent_id,brand,sat1\n" + rows).encode() + b"r\x00x,A,7\n")
    assert p.read_bytes().find(b"\x00") > 65536
    err = refused(db, p, "binary")
    assert err.problems[0].row == 10_002 and "line 10002" in err.problems[0].reason
    p16 = tmp_path / "nul16.csv"
    p16.write_bytes("respondent_id,sat1\nr1,7\nr\x002,8\n".encode("utf-16"))
    assert refused(db, p16, "binary").problems[0].row == 3


def test_nul_character_in_an_xlsx_cell_is_refused(db, tmp_path):
    raw = pd.DataFrame({"respondent_id": ["a", "b"], "sat1": ["5", "6"], "brand": ["A", "B\x00"]})
    with pytest.raises(InputError) as info:
        from csi.data.ingest import _check_cells

        _check_cells(raw, "x.xlsx", effective_limits(), MAX_PER_KIND, nul=True)
    assert [(p.code, p.row, p.column) for p in info.value.problems] == [("nul_cell", 3, "brand")]


@pytest.mark.parametrize("twin", ["\ufeffr2", "r2\u200b", "ｒ２", "r2\u00a0", "\u2060r2", " r2 "])
def test_look_alike_ids_are_duplicates(db, tmp_path, twin):
    # before: a BOM / zero-width space inside an id hid a duplicate respondent
    p = tmp_path / "dup.csv"
    p.write_text(f"respondent_id,brand,sat1\nr1,A,7\nr2,A,8\n{twin},B,9\n", encoding="utf-8")
    err = refused(db, p, "duplicate_id")
    (q,) = [q for q in err.problems if q.code == "duplicate_id"]
    assert (q.row, q.value) == (4, "r2") and "rows 3, 4" in q.reason


def test_ids_and_segment_values_are_normalised_the_same_way(db, tmp_path):
    p = tmp_path / "seg.csv"
    p.write_text("respondent_id,region,brand,sat1\n"
                 "Ｒ１,North,A,7\nr2,\ufeffNorth,A,8\nr3,North\u00a0,B,9\nr4,No\u200brth,B,6\nr5,\u3000East,A,5\n",
                 encoding="utf-8")
    d = ingested(db, p)
    assert list(d["respondent_id"]) == ["R1", "r2", "r3", "r4", "r5"]
    assert list(d["region"]) == ["North"] * 4 + ["East"]


def test_headers_with_a_bom_or_zero_width_space_still_match(db, tmp_path):
    p = tmp_path / "h.csv"
    p.write_bytes("\ufeff\ufeffrespondent_id,sat1\u200b,brand\nr1,7,A\n".encode("utf-8"))
    d = ingested(db, p)
    assert list(d["sat1"]) == [7.0] and list(d["respondent_id"]) == ["r1"]
    q = tmp_path / "hd.csv"
    q.write_text("respondent_id,sat1,sat1\u200b\nr1,7,8\n", encoding="utf-8")
    refused(db, q, "duplicate_header")


def test_item_cells_with_invisible_characters_are_numbers(db, tmp_path):
    p = tmp_path / "i.csv"
    p.write_text("respondent_id,sat1,sat2\nr1,7\u00a0,\u200b8\nr2,\ufeff9,１０\n", encoding="utf-8")
    d = ingested(db, p)
    assert list(d["sat1"]) == [7.0, 9.0] and list(d["sat2"]) == [8.0, 10.0]


@pytest.mark.parametrize("newline", ["\r", "\r\n", "\n", "mixed"])
def test_line_endings(db, tmp_path, newline):
    lines = ["respondent_id,brand,sat1,sat2", 'r1,"A, Inc",7,8', "r2,B,9,10", 'r3,"C ""x""",5,6']
    if newline == "mixed":
        text = lines[0] + "\r\n" + lines[1] + "\n" + lines[2] + "\r" + lines[3] + "\r\n"
    else:
        text = newline.join(lines) + newline
    p = tmp_path / "nl.csv"
    p.write_bytes(text.encode("utf-8"))
    rc, out, err = run_cli("ingest", str(p), "--wave", "NL", "--db", str(db))
    assert rc == 0 and "internal error" not in err, err
    con = store.connect(db, read_only=True)
    d = store.load_responses(con, waves=["NL"])
    con.close()
    assert list(d["respondent_id"]) == ["r1", "r2", "r3"] and list(d["brand"]) == ["A, Inc", "B", 'C "x"']
    assert list(d["sat2"]) == [8.0, 10.0, 6.0]


def test_cr_only_gbk_file(db, tmp_path):
    p = tmp_path / "cr.csv"
    p.write_bytes("编号,地区,sat1\rA01,华北,8\rA02,华南,7\r".encode("gbk"))
    d = ingested(db, p)
    assert list(d["地区"]) == ["华北", "华南"]


def test_xlsx_formulas_without_cached_values_are_refused(db, tmp_path):
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(["respondent_id", "sat1", "sat2"])
    ws.append(["a", 7, "=B2+1"])
    ws.append(["b", "=3+4", 9])
    p = tmp_path / "f.xlsx"
    wb.save(p)  # openpyxl writes formulas without a cached value, like any program that never calculated them
    err = refused(db, p, "formula_no_value")
    cells = sorted((q.row, q.column) for q in err.problems)
    assert cells == [(2, "sat2"), (3, "sat1")]
    assert "open it in Excel and save it" in err.problems[0].reason and "Excel" in err.problems[0].reason_zh


def test_xlsx_formulas_with_cached_values_take_the_value(db, tmp_path):
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(["respondent_id", "sat1"])
    ws.append(["a", "=3+4"])
    p = tmp_path / "fc.xlsx"
    wb.save(p)
    # add the cached value Excel would have saved: <c><f>3+4</f><v>7</v></c>
    src = zipfile.ZipFile(p)
    parts = {i.filename: src.read(i) for i in src.infolist()}
    src.close()
    sheet = parts["xl/worksheets/sheet1.xml"].decode()
    assert "<f>3+4</f><v></v>" in sheet or "<f>3+4</f><v />" in sheet or "<f>3+4</f>" in sheet
    sheet = sheet.replace("<f>3+4</f><v></v>", "<f>3+4</f><v>7</v>").replace("<f>3+4</f><v />", "<f>3+4</f><v>7</v>")
    if "<v>7</v>" not in sheet:
        sheet = sheet.replace("<f>3+4</f>", "<f>3+4</f><v>7</v>")
    parts["xl/worksheets/sheet1.xml"] = sheet.encode()
    with zipfile.ZipFile(p, "w", zipfile.ZIP_DEFLATED) as out:
        for k, v in parts.items():
            out.writestr(k, v)
    assert list(ingested(db, p)["sat1"]) == [7.0]


def test_excel_dates_in_a_rating_column_are_named_as_dates(db, tmp_path):
    df = pd.DataFrame({"respondent_id": ["a", "b", "c"], "sat1": [datetime(2024, 7, 8), 8, datetime(2024, 9, 10)],
                       "sat2": [5, 6, 7]})
    p = tmp_path / "d.xlsx"
    df.to_excel(p, index=False)
    err = refused(db, p, "item_dates")
    (q,) = [q for q in err.problems if q.column == "sat1"]  # one problem for the column, not one per cell
    assert q.code == "item_dates" and q.row == 2 and q.value == "2024-07-08" and "rows 2, 4" in q.reason
    assert "holds dates" in q.reason and "日期" in q.reason_zh


# -------------------------------------------------------------------------------------- one problem per row
def test_a_ragged_row_is_one_problem(db, tmp_path):
    p = tmp_path / "rag.csv"
    p.write_text("respondent_id,sat1,sat2\nr1,7,8\nr2,7,8,9,10,11\nr3,7\nr4,1,2\n")
    err = refused(db, p, "ragged_many")
    assert [(q.code, q.row) for q in err.problems] == [("ragged_many", 3), ("ragged_few", 4)]
    assert "6 fields" in err.problems[0].reason


def test_counts_are_true_and_every_problem_can_be_listed(db, tmp_path):
    n = 60
    raw = pd.DataFrame({"id": [f"r{i}" for i in range(n)], "sat1": ["x"] * n, "sat2": ["7"] * n})
    con = store.connect(db, read_only=True)
    try:
        short = validate_frame(con, raw, "bad.csv")
        full = validate_frame(con, raw, "bad.csv", max_per_kind=None)
    finally:
        con.close()
    assert short.error_count == full.error_count == n and short.summary["errors"] == n
    assert len([p for p in short.errors if p.code == "not_a_number"]) == MAX_PER_KIND
    assert sorted(p.row for p in full.errors if p.code == "not_a_number") == list(range(2, n + 2))
    rag = "respondent_id,sat1\n" + "".join(f"r{i},7,8\n" for i in range(30))
    with pytest.raises(InputError) as info:
        read_survey(rag.encode(), "rag.csv", max_per_kind=None)
    assert len(info.value.problems) == 30


# ------------------------------------------------------------------------------------------------ fuzzing
hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_COLUMNS = ["respondent_id", "id", "", "sat1", "sat2", "qual1", "loy3", "brand", "weight", "comp1", "地区", "note",
            "SAT1", "sat1\u200b"]
_CELLS = ["7", "10", "1", "0", "5", "99", "-1", "nan", "inf", "１０", "\ufeff7", "7\u200b", "7\u00a0", "A", "华北",
          "2024-07-08", '"q,x"', '"a ""b"""', "", " ", "=1+1", "1e309", "0.5", "x" * 70, "\x00", "é"]
_JUNK = ['"', "\r", "\n", ",", "\x00", "\ufeff", "\xff", "\u2028"]


@st.composite
def csv_bytes(draw) -> bytes:
    """Mostly well-formed survey CSVs (so the validator and the writer are reached) with odd cells, line endings,
    encodings and, now and then, a ragged row, a stray byte or a junk character."""
    cols = draw(st.lists(st.sampled_from(_COLUMNS), min_size=1, max_size=6, unique=True))
    if draw(st.integers(0, 3)):  # usually an id column first
        ids = ("respondent_id", "id", "")
        cols = [draw(st.sampled_from(ids))] + [c for c in cols if c not in ids]
    delim = draw(st.sampled_from([",", ",", ";", "\t"]))
    newline = draw(st.sampled_from(["\n", "\n", "\r\n", "\r"]))
    answers = st.sampled_from(["7", "5", "10", "1", "8", "3", "0"] * 12 + _CELLS)
    cell = st.one_of(answers, st.text(max_size=4)) if draw(st.booleans()) else answers
    lines = [delim.join(cols)]
    for i in range(draw(st.integers(1, 8))):
        k = max(len(cols) + draw(st.sampled_from([0] * 24 + [-1, 1])), 0)
        first = draw(st.sampled_from([f"r{i}", f"r{i}", f"r{i}", f"r{i}\ufeff", "r0", "", f"ｒ{i}"]))
        lines.append(delim.join([first] + draw(st.lists(cell, min_size=max(k - 1, 0), max_size=max(k - 1, 0)))))
    text = newline.join(lines) + draw(st.sampled_from([newline, ""]))
    if draw(st.integers(0, 5)) == 0:
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(st.sampled_from(_JUNK)) + text[at:]
    encoding = draw(st.sampled_from(["utf-8", "utf-8", "utf-8", "utf-8-sig", "utf-16", "gb18030", "cp1252"]))
    data = text.encode(encoding, errors="replace")
    if draw(st.integers(0, 9)) == 0:
        data += draw(st.binary(max_size=8))
    return data


@pytest.fixture(scope="module")
def fuzz_db(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("fuzz") / "f.duckdb"
    con = store.connect(path)
    ingest_frame(con, pd.DataFrame({"id": ["s1"], "sat1": ["5"]}), "W0", "w0.csv")
    con.close()
    return path


@settings(max_examples=150, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=csv_bytes(), via_file=st.booleans())
def test_fuzz_csv_reader_and_validator(fuzz_db, tmp_path, data, via_file):
    """Any bytes: either a wave is stored or an InputError/CSIError is raised and the store is unchanged."""
    wave = "F" + hashlib.sha1(data).hexdigest()[:12]
    before = snapshot(fuzz_db)
    con = store.connect(fuzz_db)
    stored = False
    try:
        if via_file:
            p = tmp_path / "fuzz.csv"
            p.write_bytes(data)
            ingest_file(con, p, wave, scale=(0, 10), limits={"max_cell_bytes": 64, "max_columns": 20})
        else:
            raw = read_survey(data, "fuzz.csv", limits={"max_cell_bytes": 64, "max_columns": 20})
            ingest_frame(con, raw, wave, "fuzz.csv", scale=(0, 10))
        stored = True
    except CSIError:
        pass  # refused: checked below; any other exception fails the test
    finally:
        con.close()
    after = snapshot(fuzz_db)
    if not stored:
        assert after == before
        return
    assert after[0] == before[0] + 1  # stored: exactly one write
    con = store.connect(fuzz_db)
    store.delete_wave(con, wave)  # keep the store small and the next example's wave label free
    con.close()


@pytest.mark.parametrize("data", [b"\x00\x01\x02", b"respondent_id,sat1\r\nr1,7\rr2,\xff\n",
                                  "\ufeffid,sat1\n\u200b,7\n".encode(), b'id,sat1\n"unterminated,7\n',
                                  b"PK\x03\x04garbage", b"$FL2garbage", b"id,sat1\n" + b"r,7\n" * 5 + b"r,7,8\n"])
def test_cli_on_hostile_bytes_exits_0_or_2_without_a_traceback(db, tmp_path, data):
    p = tmp_path / "h.csv"
    p.write_bytes(data)
    before = snapshot(db)
    rc, _out, err = run_cli("ingest", str(p), "--wave", "H1", "--db", str(db))
    assert rc in (0, 2) and "Traceback" not in err and "internal error" not in err, err
    if rc == 2:
        assert snapshot(db) == before


# ------------------------------------------------------------------------------------------------ the Data page
@pytest.fixture
def app_db(tmp_path, monkeypatch):
    pytest.importorskip("streamlit")
    from conftest import app_environment, clear_streamlit_caches
    from csi.data import demo

    path = tmp_path / "csi.duckdb"
    df = demo.generate(11).waves["2025Q4"].head(200)
    con = store.connect(path)
    ingest_frame(con, df.astype(object).where(df.notna(), "").astype(str), "2025Q4", "demo.csv")
    store.set_setting(con, "brand_column", "brand")
    con.close()
    yield app_environment(monkeypatch, tmp_path, db=path, bootstrap=30, clear=True).db
    clear_streamlit_caches()


def _upload(data: bytes, name: str = "new.csv"):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=180)
    at.run()
    at.switch_page("app_pages/data.py")
    at.run()
    at.file_uploader[0].upload(name, data, "text/csv")
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def test_data_page_keeps_extra_columns_only_when_asked(app_db):
    from app.i18n import t

    rows = "".join(f"n{i},Skyline Mobile,North,x{i}@mail,{1 + i % 10},{1 + (i + 3) % 10}\n" for i in range(40))
    at = _upload(("respondent_id,brand,region,email,sat1,sat2\n" + rows).encode())
    def reasons():
        table = next(d.value for d in at.dataframe if t("col_reason", "en") in d.value.columns)
        return list(table[t("col_reason", "en")])

    assert any("not stored: 'email'" in r for r in reasons())  # the warning names the dropped column
    keep = next(m for m in at.multiselect if m.label == t("da_keep_extra", "en"))
    assert keep.options == ["email"]  # brand and region are known segments: kept without asking
    keep.set_value(["email"]).run()
    assert not any("'email'" in r for r in reasons())
    at.text_input(key="da_label").input("NEW").run()
    at.button(key="da_commit").click().run()
    assert not at.exception, [e.message for e in at.exception]
    assert t("da_committed", "en", wave="NEW", n=40) in [s.value for s in at.success]
    con = store.connect(app_db, read_only=True)
    try:
        assert "email" in store.segment_columns(con, ["NEW"])
    finally:
        con.close()


def test_data_page_counts_every_problem_and_offers_them_all(app_db):
    from app.i18n import t

    before = snapshot(app_db)
    rows = "".join(f"n{i},Skyline Mobile,abc,5\n" for i in range(45))
    at = _upload(("respondent_id,brand,sat1,sat2\n" + rows).encode())
    at.text_input(key="da_label").input("BAD").run()
    assert t("da_valid_bad", "en", n=45) in [e.value for e in at.error]
    table = next(d.value for d in at.dataframe if t("col_reason", "en") in d.value.columns)
    listed = table[(table[t("col_column", "en")] == "sat1") & (table[t("col_row", "en")] != "")]
    assert sorted(map(int, listed[t("col_row", "en")])) == list(range(2, 47))  # every one, not 20 and a summary
    assert t("da_problem_counts", "en", errors=45, warnings=2, listed=len(table)) in [c.value for c in at.caption]
    assert at.button(key="da_commit").disabled
    assert snapshot(app_db) == before


def test_cli_keeps_extra_columns_only_when_asked_and_counts_every_problem(tmp_path):
    from csi.data import demo

    df = demo.generate(3).waves["2025Q4"].head(150).copy()
    df["store_code"] = "S1"
    raw = df.astype(object).where(df.notna(), "").astype(str)
    good, bad = tmp_path / "extra.csv", tmp_path / "bad.csv"
    raw.to_csv(good, index=False)
    broken = raw.copy()
    broken.loc[0:119, "qual1"] = "abc"                       # 120 bad cells: more than the listing shows
    broken.to_csv(bad, index=False)

    def cli(*a):
        return subprocess.run([sys.executable, "-m", "csi", *a], capture_output=True, text=True, cwd=ROOT)

    db1, db2 = tmp_path / "a.duckdb", tmp_path / "b.duckdb"
    r = cli("ingest", str(good), "--wave", "W1", "--db", str(db1))
    assert r.returncode == 0 and "store_code" in r.stdout + r.stderr
    r = cli("ingest", str(good), "--wave", "W1", "--keep-column", "store_code", "--db", str(db2))
    assert r.returncode == 0, r.stderr
    for db, kept in ((db1, False), (db2, True)):
        con = store.connect(db, read_only=True)
        try:
            assert ("store_code" in store.segment_columns(con)) is kept
        finally:
            con.close()
    r = cli("ingest", str(bad), "--wave", "W2", "--db", str(db1))
    assert r.returncode == 2 and "rejected: 120 problems" in r.stderr and "Traceback" not in r.stderr


def test_mixed_utf8_and_latin1_is_refused_not_garbled(tmp_path):
    """Lines saved partly as UTF-8 and partly as Latin-1 used to load as cp1252, storing 'ZÃ¼rich'; now refused,
    naming the UTF-8 line, with the database unchanged. A pure cp1252 file with accents still loads exactly."""
    head = "respondent_id,brand,sat1\n".encode()
    mixed = head + "1,Zürich,8\n".encode("utf-8") + "2,Zürich,7\n".encode("latin-1")
    with pytest.raises(InputError) as e:
        read_survey(mixed, name="mixed.csv")
    p = e.value.problems[0]
    assert p.code == "encoding_mixed" and p.row == 2 and "Zürich" in str(p.value) and "UTF-8" in p.reason_zh
    pure = head + "1,Zürich,8\n2,Montréal,7\n3,Straße …,5\n".encode("cp1252")
    assert read_survey(pure, name="pure.csv")["brand"].tolist() == ["Zürich", "Montréal", "Straße …"]
    f = tmp_path / "mixed.csv"
    f.write_bytes(mixed)
    r = subprocess.run([sys.executable, "-m", "csi", "ingest", str(f), "--wave", "W", "--db", str(tmp_path / "x.duckdb")],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 2 and "mixes text encodings" in r.stderr and "Traceback" not in r.stderr
