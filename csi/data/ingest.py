"""Read, validate and store a survey wave — all or nothing.

Pipeline: :func:`read_survey` (bytes → text cells, encoding detected) → :func:`validate_frame` (never
writes; every problem with file, row, column, value and reason) → :func:`ingest_frame` (one transaction).

Row numbers in messages are spreadsheet rows: the header is row 1, the first respondent row 2.
Declared missing-value codes (dictionary ``missing_codes``, ``--missing``, and empty cells) become missing
answers, never numbers.
"""
from __future__ import annotations

import csv
import hashlib
import io
import os
import re
import time
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime
from datetime import time as dt_time
from pathlib import Path
from typing import BinaryIO, Mapping, Sequence

import duckdb
import numpy as np
import pandas as pd

from csi.data import store
from csi.errors import InputError, Problem, StoreError
from csi.text.messages import problem

ID_NAMES = ("respondent_id", "id", "ID", "编号", "respondent", "resp_id", "受访者编号", "样本编号")
# A column with one of these names is the survey weight: it must be a non-negative number and is stored as the
# segment store.WEIGHT_SEGMENT ("weight"), which store.load_responses returns as float64.
WEIGHT_NAMES = ("weight", "weights", "权重")
# Columns stored as segments without being asked: these names (normalised like headers), the weight names, the
# segments already in the store and the store's ``brand_column`` setting. Any other column that is not an item is
# reported (warning ``extra_columns``) and dropped unless ``keep_columns`` or ``column_map={col: None}`` keeps it.
KNOWN_SEGMENTS = ("brand", "region", "channel", "gender", "age_group", "age", "city", "province", "store", "segment",
                  "品牌", "地区", "区域", "城市", "省份", "渠道", "性别", "年龄", "年龄段")
# Open-text (verbatim) columns: stored as text (store table ``texts``), never as segments. A column is text when
# ``text_columns`` names it, when the dictionary gives its item kind ``text``, when its normalised name is one of
# TEXT_NAMES (ASCII names also as a word of the name: ``q12_comment``; Chinese names also inside it: 改进建议),
# when an earlier wave stored it as text, or - for a column that would otherwise be dropped - by its content
# (:func:`looks_like_text`). A column kept explicitly as a segment (keep_columns, column_map={col: None}) stays one.
TEXT_NAMES = ("comment", "comments", "verbatim", "verbatims", "remark", "remarks", "feedback", "open", "open_answer",
              "open_text", "why", "reason", "reasons", "suggestion", "suggestions", "other_comments",
              "意见", "建议", "评论", "备注", "原因", "开放题", "留言")
_TEXT_WORDS = frozenset({"comment", "comments", "verbatim", "verbatims", "remark", "remarks", "feedback"})
_TEXT_INSIDE = ("意见", "建议", "评论", "备注", "原因", "开放题", "留言")
TEXT_MIN_DISTINCT = 0.5   # content rule: more than this share of the non-empty answers distinct ...
TEXT_MIN_MEDIAN = 8       # ... a median length of at least this many characters ...
TEXT_MIN_WORDY = 0.5      # ... and at least this share reading as words (>= 2 letters, with a space or non-ASCII)
MAX_PER_KIND = 20  # problems listed per (column, reason) before summarising the rest
MAX_LISTED = 100_000  # with max_per_kind=None ("list every problem"): the hard cap per kind, memory stays bounded
_SUFFIXES = {".csv", ".txt", ".tsv", ".xlsx", ".xlsm", ".sav", ".zsav"}

# Bounds on what a file may make the reader do; every one is checked before the work it bounds grows.
# Override per call (``limits={"max_columns": 500}`` on read_survey / ingest_file) or per process with the
# environment variable CSI_<NAME> (e.g. CSI_MAX_COLUMNS=500); a keyword override wins over the environment.
LIMITS: dict[str, int] = {
    "max_file_bytes": 1 << 30,       # the file as uploaded / on disk (1 GiB): checked before it is read
    "max_columns": 4096,             # header fields (CSV), cells in a row (XLSX), variables (SAV)
    "max_rows": 5_000_000,           # data rows; the reader stops at the first row past the limit
    "max_cell_bytes": 64 * 1024,     # one cell's text in UTF-8 bytes
    "max_line_bytes": 4 << 20,       # one CSV record (a single-line file is refused from its first 4 MiB)
    "max_unzipped_bytes": 512 << 20,  # XLSX: total uncompressed size of the workbook's parts (zip bombs; a
                                      # workbook this large takes minutes in openpyxl: export CSV instead);
                                      # SAV: declared cases x row width (compressed .sav/.zsav)
    "max_zip_ratio": 100,             # XLSX: a part over 1 MB inflating more than this many times (real sheets
                                      # deflate 5-20x; repetitive bombs ~1000x) is refused before it is parsed
}


def effective_limits(overrides: Mapping[str, int] | None = None) -> dict[str, int]:
    """:data:`LIMITS`, then CSI_<NAME> environment variables, then ``overrides``; unknown names raise."""
    out = dict(LIMITS)
    for key in LIMITS:
        env = os.environ.get("CSI_" + key.upper(), "").strip()
        if env:
            try:
                out[key] = int(env.replace("_", ""))
            except ValueError:
                raise InputError(problem("CSI_" + key.upper(), "bad_limit", value=env, given=env, name=key)) from None
    for key, value in dict(overrides or {}).items():
        if key not in LIMITS:
            raise InputError(problem("limits", "bad_limit", value=str(value), given=value, name=key))
        if value is not None:
            out[key] = int(value)
    return out


class _Problems(list):
    """The problems of one read/validation: ``cap`` listed per kind (None: MAX_LISTED), ``omitted`` counts the
    problems summarised by a 'more …' line so the totals shown are true."""

    def __init__(self, cap: int | None = MAX_PER_KIND):
        super().__init__()
        self.cap = MAX_LISTED if cap is None else int(cap)
        self.omitted = {"error": 0, "warning": 0}


_SUMMARY_CODES = frozenset({"more_rows", "more_unreadable", "more_duplicate_ids"})


def count_problems(problems: Sequence[Problem], severity: str = "error") -> int:
    """True number of ``severity`` problems: listed ones plus those a 'more …' summary line stands for."""
    listed = sum(1 for p in problems if p.severity == severity and p.code not in _SUMMARY_CODES)
    return listed + int(getattr(problems, "omitted", {}).get(severity, 0))


# --------------------------------------------------------------------------- reading
def read_survey(source: str | os.PathLike | bytes | BinaryIO, name: str | None = None, *,
                limits: Mapping[str, int] | None = None, max_per_kind: int | None = MAX_PER_KIND) -> pd.DataFrame:
    """Read a CSV (UTF-8 with or without BOM, UTF-16 with BOM, GBK/GB18030, cp1252/Latin-1), XLSX or SPSS SAV
    file into text cells.

    Returns a DataFrame whose cells are strings ('' for empty); the header is kept as written
    (an unnamed first column is named ''). For a CSV, ``frame.attrs["encoding"]`` names the encoding read
    (a key of :data:`ENCODING_NAMES`). Raises :class:`InputError` naming the file and reason.

    ``limits`` overrides :data:`LIMITS` (see :func:`effective_limits`); ``max_per_kind`` bounds the problems
    listed per kind (None: all of them, up to MAX_LISTED).
    """
    lim = effective_limits(limits)
    data, name = _read_bytes(source, name, lim)
    path = Path(source) if isinstance(source, (str, os.PathLike)) else None
    return _parse_bytes(data, name, path, lim, max_per_kind)


def _parse_bytes(data: bytes, name: str, path: Path | None, lim: Mapping[str, int] | None = None,
                 max_per_kind: int | None = MAX_PER_KIND) -> pd.DataFrame:
    lim = effective_limits(lim)
    suffix = Path(name).suffix.lower()
    if not data:
        raise InputError(problem(name, "empty_file"))
    if len(data) > lim["max_file_bytes"]:
        raise _too_large(name, len(data), lim)
    if suffix in (".xls",):
        raise InputError(problem(name, "legacy_xls"))
    if suffix in (".xlsx", ".xlsm") or (data[:4] == b"PK\x03\x04" and suffix not in (".sav", ".zsav")):
        if suffix not in (".xlsx", ".xlsm"):
            raise InputError(problem(name, "zip_not_text"))
        frame = _read_xlsx(data, name, lim, max_per_kind)
    elif suffix in (".sav", ".zsav") or data[:4] == b"$FL2" or data[:4] == b"$FL3":
        if suffix not in (".sav", ".zsav"):
            raise InputError(problem(name, "sav_extension"))
        frame = _read_sav(data, name, lim, path)
    else:
        return _read_csv(data, name, path, lim, max_per_kind)
    _check_cells(frame, name, lim, max_per_kind, nul=True)
    return frame


def _too_large(name: str, size: int, lim: Mapping[str, int]) -> InputError:
    return InputError(problem(name, "file_too_large", value=f"{size:,} bytes", size=size,
                              limit=lim["max_file_bytes"]))


def _read_bytes(source, name, lim: Mapping[str, int] | None = None) -> tuple[bytes, str]:
    """The file's bytes, refused before reading when larger than ``max_file_bytes``; a text file whose first
    line does not end within ``max_line_bytes`` is refused from that first chunk alone."""
    lim = effective_limits(lim)
    cap = lim["max_file_bytes"]
    if isinstance(source, (bytes, bytearray)):
        name = name or "upload.csv"
        if len(source) > cap:
            raise _too_large(name, len(source), lim)
        return bytes(source), name
    if hasattr(source, "read"):
        name = name or getattr(source, "name", "upload.csv")
        data = source.read(cap + 1)
        data = data.encode("utf-8") if isinstance(data, str) else bytes(data)
        if len(data) > cap:
            raise _too_large(name, len(data), lim)
        return data, name
    path = Path(source)
    if not path.exists():
        raise InputError(problem(str(path), "file_not_found"))
    if path.is_dir():
        raise InputError(problem(str(path), "is_folder"))
    name = name or path.name
    size = path.stat().st_size
    if size > cap:
        raise _too_large(name, size, lim)
    with open(path, "rb") as fh:
        head = fh.read(lim["max_line_bytes"] + 1)
        if (len(head) > lim["max_line_bytes"] and b"\n" not in head and b"\r" not in head
                and head[:4] not in (b"PK\x03\x04", b"$FL2", b"$FL3")
                and Path(name).suffix.lower() not in (".xlsx", ".xlsm", ".sav", ".zsav")):
            raise InputError(problem(name, "line_too_long", row=1, value=f"> {lim['max_line_bytes']:,} bytes",
                                     limit=lim["max_line_bytes"]))
        data = head + fh.read(cap + 1 - len(head))
    if len(data) > cap:  # the file grew while we read it
        raise _too_large(name, len(data), lim)
    return data, name


_ZERO_WIDTH = "\u00ad\u180e\u200b\u200c\u200d\u200e\u200f\u2060\u2061\u2062\u2063\u2064\ufeff"
_ZERO_WIDTH_RE = "[" + _ZERO_WIDTH + "]"


def _check_cells(frame: pd.DataFrame, name: str, lim: Mapping[str, int], max_per_kind: int | None,
                 nul: bool) -> None:
    """Cells of a read frame longer than ``max_cell_bytes`` (UTF-8) or, when ``nul``, holding a NUL."""
    import pyarrow as pa

    pairs = [(str(c), pa.array(frame[c].astype("string[pyarrow]").fillna(""))) for c in frame.columns]
    _check_arrow_cells(pairs, name, lim, max_per_kind, nul=nul)


def _check_arrow_cells(pairs, name: str, lim: Mapping[str, int], max_per_kind: int | None, nul: bool = False) -> None:
    import pyarrow.compute as pc

    problems = _Problems(max_per_kind)
    limit = lim["max_cell_bytes"]
    for k, (col, arr) in enumerate(pairs):
        if len(arr) == 0:
            continue
        label = str(col) or f"#{k + 1}"
        lengths = pc.binary_length(arr)
        if (pc.max(lengths).as_py() or 0) > limit:
            mask = pc.fill_null(pc.greater(lengths, limit), False).to_numpy(zero_copy_only=False)
            rows = np.flatnonzero(mask) + 2
            sizes = pc.filter(lengths, mask).to_pylist()[:problems.cap]
            _collect(problems, name, rows, label, [f"{n:,} bytes" for n in sizes], "cell_too_large", limit=limit)
        if nul and pc.any(pc.match_substring(arr, "\x00")).as_py():
            mask = pc.fill_null(pc.match_substring(arr, "\x00"), False).to_numpy(zero_copy_only=False)
            _collect(problems, name, np.flatnonzero(mask) + 2, label, None, "nul_cell")
    if problems:
        raise InputError(problems)


# The text encodings decode_text reads, as the summaries name them.
ENCODING_NAMES = {"utf-8": "UTF-8", "utf-8-sig": "UTF-8 (BOM)", "utf-16": "UTF-16 (BOM)",
                  "gb18030": "GB18030/GBK (Chinese)", "cp1252": "cp1252/Latin-1 (Western)"}
_NEUTRAL_NAMES = {"gb18030": "GB18030/GBK", "cp1252": "cp1252/Latin-1"}  # for messages in both languages
_SAMPLE_WINDOWS = 8      # detection reads at most this many windows ...
_WINDOW = 32 * 1024      # ... of this many bytes: the first non-UTF-8 line onwards, then spread over the file
_PLAUSIBLE = 0.9         # share of the sample's non-ASCII characters that must read as ordinary text
_WESTERN_SYMBOLS = frozenset("€£¥¢°§©®™«»‹›–—‘’‚“”„…•·±×÷¼½¾¹²³µ¿¡ªº¶†‡‰\u00a0")
_NON_ASCII_RUN = re.compile(r"[^\x00-\x7f]+")


def decode_text(data: bytes, name: str) -> tuple[str, str]:
    """Decode CSV bytes; returns ``(text, encoding)`` with encoding one of :data:`ENCODING_NAMES`.

    UTF-16 with a byte-order mark; UTF-8 with or without BOM when the whole file decodes strictly (the fast
    path). Otherwise the file is Chinese GB18030 (a superset of GBK) or Western cp1252 (a superset of the
    printable Latin-1): GBK decoding of Western bytes often succeeds ("Zürich" → "Z黵ich"), so strict decoding
    alone does not decide. :func:`_detect_legacy` reads a bounded sample and keeps an encoding only when it
    decodes strictly AND reads as ordinary text (common Chinese characters / isolated Latin letters) AND
    charset-normalizer finds it coherent, while the other does not; the chosen encoding must then decode the
    whole file strictly. Ambiguous bytes are refused (save as UTF-8) rather than guessed.
    Raises :class:`InputError` for binary, undecodable or ambiguous content.
    """
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        try:
            text = data.decode("utf-16")
        except UnicodeDecodeError:
            pass
        else:
            at = text.find("\x00")
            if at >= 0:
                line = text.count("\n", 0, at) + 1
                raise InputError(problem(name, "binary", row=line, line=line))
            return text, "utf-16"
    at = data.find(b"\x00")  # anywhere in the file, not only its start (memchr: milliseconds for 100 MB)
    if at >= 0:
        line = data.count(b"\n", 0, at) + 1
        raise InputError(problem(name, "binary", row=line, line=line))
    if data[:3] == b"\xef\xbb\xbf":
        try:
            return data[3:].decode("utf-8"), "utf-8-sig"
        except UnicodeDecodeError as e:
            raise _undecodable(data[3:], e.start, name, "UTF-8 (BOM)") from None
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError as utf8_error:
        encoding = _detect_legacy(data, utf8_error.start, name)
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as e:  # bytes past the sample that the detected encoding cannot hold
        raise _undecodable(data, e.start, name, _NEUTRAL_NAMES[encoding]) from None
    if encoding == "cp1252":
        _refuse_utf8_inside(data, name)
    return text, encoding


# a UTF-8 multi-byte sequence; in real cp1252 text such a pair ("Ã¼", "Ã©") is all but unheard of, while a file
# whose lines were saved partly as UTF-8 and partly as Latin-1 is full of them
_UTF8_SEQ = re.compile(rb"[\xC2-\xDF][\x80-\xBF]|[\xE0-\xEF][\x80-\xBF]{2}|[\xF0-\xF4][\x80-\xBF]{3}")


def _refuse_utf8_inside(data: bytes, name: str) -> None:
    """A file that is not UTF-8 as a whole but holds UTF-8 sequences mixes two encodings: decoding it either way
    garbles one part ("Zürich" stored as "ZÃ¼rich"), so it is refused, naming the first such line."""
    m = _UTF8_SEQ.search(data)
    if m is None:
        return
    line = data.count(b"\n", 0, m.start()) + 1
    start = data.rfind(b"\n", 0, m.start()) + 1
    end = data.find(b"\n", m.end())
    snippet = data[start:end if end >= 0 else len(data)][:80].decode("utf-8", "replace")
    raise InputError(problem(name, "encoding_mixed", row=line, line=line, value=snippet))


def _sample_windows(data: bytes, first_bad: int) -> list[tuple[int, bytes]]:
    """Up to _SAMPLE_WINDOWS line-aligned windows: from the line of the first non-UTF-8 byte, then spread over
    the rest of the file. GB18030 multi-byte sequences never contain a newline, so a window starting after a
    newline decodes as the file does."""
    starts = [data.rfind(b"\n", 0, first_bad) + 1]
    rest = len(data) - starts[0]
    if rest > _WINDOW:
        step = rest // _SAMPLE_WINDOWS
        for k in range(1, _SAMPLE_WINDOWS):
            at = data.find(b"\n", starts[0] + k * step)
            if at >= 0 and at + 1 >= starts[-1] + _WINDOW:
                starts.append(at + 1)
    out = []
    for s in starts:
        chunk = data[s:s + _WINDOW]
        if s + _WINDOW < len(data):
            cut = chunk.rfind(b"\n")
            chunk = chunk[:cut + 1] if cut >= 0 else chunk
        out.append((s, chunk))
    return out


def _chinese_share(text: str) -> float:
    """Share of non-ASCII characters in the GB2312 repertoire (common hanzi, CJK and full-width punctuation)."""
    counts: dict[str, int] = {}
    for run in _NON_ASCII_RUN.findall(text):
        for ch in run:
            counts[ch] = counts.get(ch, 0) + 1
    total = sum(counts.values())
    if not total:
        return 0.0
    common = 0
    for ch, n in counts.items():
        try:
            ch.encode("gb2312")
            common += n
        except UnicodeEncodeError:
            pass
    return common / total


def _western_share(text: str) -> float:
    """Share of non-ASCII characters that read as Western text: Latin letters or common symbols, alone, or two
    together inside a word ("ção"); GBK Chinese read as cp1252 gives runs like "±±¾©" (北京) or a lone "ÄÐ" (男)."""
    total = good = 0
    for m in _NON_ASCII_RUN.finditer(text):
        run = m.group()
        total += len(run)
        if len(run) > 2 or not all(c in _WESTERN_SYMBOLS or unicodedata.name(c, "").startswith("LATIN") for c in run):
            continue
        before = text[m.start() - 1] if m.start() else ""
        after = text[m.end()] if m.end() < len(text) else ""
        if len(run) == 1 or (before.isascii() and before.isalpha()) or (after.isascii() and after.isalpha()):
            good += len(run)
    return good / total if total else 0.0


def _coherent(sample: bytes, encodings: list[str]) -> set[str]:
    """The encodings charset-normalizer keeps (not chaotic) for the sample, among ``encodings``."""
    from charset_normalizer import from_bytes  # a requirement: the second opinion is always asked

    return {m.encoding for m in from_bytes(sample, cp_isolation=encodings)} & set(encodings)


def _detect_legacy(data: bytes, first_bad: int, name: str) -> str:
    """GB18030 or cp1252 for a file that is not UTF-8, from a bounded sample (see :func:`decode_text`)."""
    windows = _sample_windows(data, first_bad)
    decoded: dict[str, str] = {}
    failed: dict[str, int] = {}
    for enc in ("gb18030", "cp1252"):
        parts = []
        for at, chunk in windows:
            try:
                parts.append(chunk.decode(enc))
            except UnicodeDecodeError as e:
                failed[enc] = at + e.start
                break
        else:
            decoded[enc] = "\n".join(parts)
    if not decoded:
        raise _undecodable(data, max(failed.values()), name, "UTF-8 / GB18030/GBK / cp1252/Latin-1")
    shares = {"gb18030": _chinese_share, "cp1252": _western_share}
    plausible = {enc for enc, text in decoded.items() if shares[enc](text) >= _PLAUSIBLE}
    if plausible:
        plausible &= _coherent(b"\n".join(chunk for _, chunk in windows), sorted(plausible))
    if len(plausible) == 1:
        return plausible.pop()
    raise _ambiguous(data, first_bad, name, "encoding_ambiguous" if plausible else "encoding_unknown")


def _cell_at(data: bytes, pos: int) -> tuple[int, str | None, bytes]:
    """(line, column header, cell bytes) of the byte at ``pos``; the header is named only when it is ASCII."""
    # a line ends at LF, CRLF or a lone CR (old Mac files)
    line_start = max(data.rfind(b"\n", 0, pos), data.rfind(b"\r", 0, pos)) + 1
    ends = [e for e in (data.find(b"\n", pos), data.find(b"\r", pos)) if e >= 0]
    line = data[line_start: min(ends) if ends else len(data)]
    first_ends = [e for e in (data.find(b"\n"), data.find(b"\r")) if e >= 0]
    first = data[: min(first_ends)] if first_ends else data
    delim = max([b",", b";", b"\t", b"|"], key=first.count)

    def split(b: bytes) -> list[str]:  # latin-1 maps bytes one to one, so offsets survive the csv split
        try:
            return next(csv.reader([b.decode("latin-1")], delimiter=delim.decode()), [])
        except csv.Error:
            return []

    fields, header = split(line), split(first)
    k, quoted = 0, False
    for ch in line[: pos - line_start].decode("latin-1"):  # the field holding pos: delimiters outside quotes
        if ch == '"':
            quoted = not quoted
        elif ch == delim.decode() and not quoted:
            k += 1
    cell = fields[k].encode("latin-1") if k < len(fields) else line
    column = None
    if k < len(header):
        column = header[k].strip() if header[k].isascii() else f"#{k + 1}"
    before = data[:pos]
    return before.count(b"\n") + before.count(b"\r") - before.count(b"\r\n") + 1, column, cell


def _ambiguous(data: bytes, pos: int, name: str, code: str) -> InputError:
    row, column, cell = _cell_at(data, pos)
    western = cell.decode("cp1252", errors="replace")
    chinese = cell.decode("gb18030", errors="replace")
    return InputError(problem(name, code, row=row, column=column, value=f"{western} | {chinese}",
                              western=western, chinese=chinese))


def _undecodable(data: bytes, pos: int, name: str, encoding: str) -> InputError:
    row, column, _cell = _cell_at(data, pos)
    bad = data[pos: pos + 4].hex(" ")
    return InputError(problem(name, "undecodable", row=row, column=column, value=bad, bytes=bad, line=row,
                              encoding=encoding))


def _read_csv(data: bytes, name: str, path: Path | None = None, lim: Mapping[str, int] | None = None,
              max_per_kind: int | None = MAX_PER_KIND) -> pd.DataFrame:
    """CSV → text cells through DuckDB's parallel reader; every ragged row is reported once, with its line.

    Line endings: LF and CRLF are read as they are; a file with lone CRs (old Mac) or mixed endings is read
    with every CR, CRLF and LF as one line break (inside quoted cells too)."""
    lim = effective_limits(lim)
    text, encoding = decode_text(data, name)
    if not text or text.isspace():
        raise InputError(problem(name, "empty_text"))
    relined = False
    if "\r" in text:
        n_cr, n_crlf = text.count("\r"), text.count("\r\n")
        if n_cr != n_crlf or n_crlf != text.count("\n"):
            text = text.replace("\r\n", "\n").replace("\r", "\n")
            relined = True
    max_line = lim["max_line_bytes"]
    end = text.find("\n", 0, max_line + 1)
    first_line = text[: end if end >= 0 else max_line + 1].rstrip("\r")
    if (end < 0 and len(text) > max_line) or len(first_line.encode("utf-8")) > max_line:
        raise InputError(problem(name, "line_too_long", row=1, value=f"> {max_line:,} bytes", limit=max_line))
    delim = max([",", ";", "\t", "|"], key=first_line.count)
    if first_line.count(delim) == 0:
        delim = ","
    header = [h.strip() for h in next(csv.reader(io.StringIO(text[: max_line + 1]), delimiter=delim))]
    if len(header) > lim["max_columns"]:
        raise InputError(problem(name, "too_many_columns", row=1, value=f"{len(header):,}", count=len(header),
                                 limit=lim["max_columns"]))
    _check_header(header, name)
    tmp = None
    if path is None or encoding != "utf-8" or relined:
        # DuckDB reads UTF-8 only: hand it a UTF-8 copy (GBK/GB18030, BOM, UTF-16, re-lined, or an upload)
        import tempfile

        fd, tmp = tempfile.mkstemp(suffix=".csv")
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        src = tmp
    else:
        src = str(path)
    # rows: the line breaks bound the records; only a file that may hold more than max_rows is read with a LIMIT
    # (which costs DuckDB's parallel reader time), so that it stops at the first row past the limit
    may_exceed = text.count("\n") > lim["max_rows"]
    del text
    con = duckdb.connect()
    try:
        columns = {f"c{i}": "VARCHAR" for i in range(len(header))}
        # DuckDB's line buffer must hold the largest record: at least its own minimum
        rel = con.sql(
            "SELECT * FROM read_csv(?, header=true, delim=?, quote='\"', escape='\"', auto_detect=false, "
            "columns=?, strict_mode=true, null_padding=false, store_rejects=true, skip=0, max_line_size=?)"
            + (" LIMIT ?" if may_exceed else ""),
            params=[src, delim, columns, max(max_line, 1 << 16)] + ([lim["max_rows"] + 1] if may_exceed else []))
        table = rel.to_arrow_table()
        rejects = con.execute("SELECT line, error_type, csv_line FROM reject_errors ORDER BY line").fetchall()
    except duckdb.Error as e:
        raise InputError(problem(name, "csv_unparsable", detail=str(e).strip().splitlines()[0])) from None
    finally:
        con.close()
        if tmp:
            os.unlink(tmp)
    if rejects:
        probs = _Problems(max_per_kind)
        by_line: dict[int, tuple[str, str]] = {}
        for line, kind, original in rejects:  # DuckDB reports a row once per surplus field: one problem per row
            by_line.setdefault(int(line), (str(kind), original or ""))
        for line, (kind, original) in list(by_line.items())[:probs.cap]:
            if kind == "LINE SIZE OVER MAXIMUM":
                probs.append(problem(name, "line_too_long", row=line, value=f"> {max_line:,} bytes", limit=max_line))
                continue
            try:
                got = len(next(csv.reader([original.replace("\r", " ").replace("\n", " ")], delimiter=delim), []))
            except csv.Error:
                got = original.count(delim) + 1
            code = {"TOO MANY COLUMNS": "ragged_many", "MISSING COLUMNS": "ragged_few"}.get(kind, "unreadable_row")
            probs.append(problem(name, code, row=line, got=got, expected=len(header), kind=kind.lower()))
        if len(by_line) > probs.cap:
            probs.omitted["error"] += len(by_line) - probs.cap
            probs.append(problem(name, "more_unreadable", count=len(by_line) - probs.cap))
        raise InputError(probs)
    if table.num_rows > lim["max_rows"]:
        raise InputError(problem(name, "too_many_rows", value=f"> {lim['max_rows']:,}", limit=lim["max_rows"]))
    _check_arrow_cells(list(zip(header, table.columns)), name, lim, max_per_kind)
    frame = table.to_pandas(types_mapper=pd.ArrowDtype).fillna("")
    del table
    frame.columns = header
    if len(frame) == 0:
        raise InputError(problem(name, "header_only"))
    frame.attrs["encoding"] = encoding
    return frame


def _check_header(header: list[str], name: str) -> None:
    seen: dict[str, int] = {}
    for i, h in enumerate(header, start=1):
        key = _norm_header(h).lower()  # "sat1" and "sat1<zero-width space>" or "ｓａｔ１" are the same column
        if key and key in seen:
            raise InputError(problem(name, "duplicate_header", row=1, column=h, name=h, first=seen[key], second=i))
        seen[key] = i
    if all(not _norm_header(h) for h in header):
        raise InputError(problem(name, "no_header", row=1))


def _read_xlsx(data: bytes, name: str, lim: Mapping[str, int] | None = None,
               max_per_kind: int | None = MAX_PER_KIND) -> pd.DataFrame:
    """The first worksheet as text cells, streamed (openpyxl read-only): the zip's declared uncompressed size is
    checked before anything is inflated (zipfile never inflates a part past its declared size), rows and
    columns while streaming. Formula cells take Excel's cached value; one without a cached value (a workbook
    written by a program, never opened in Excel) is refused. Dates are written as ISO text (YYYY-MM-DD)."""
    import zipfile

    lim = effective_limits(lim)
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            parts = zf.infolist()
            unzipped = sum(max(i.file_size, 0) for i in parts)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError) as e:
        raise InputError(problem(name, "xlsx_unreadable", detail=f"{type(e).__name__}: {str(e)[:200]}")) from None
    if unzipped > lim["max_unzipped_bytes"]:
        raise InputError(problem(name, "unzipped_too_large", value=f"{unzipped:,} bytes", size=unzipped,
                                 limit=lim["max_unzipped_bytes"]))
    for part in parts:
        if part.file_size > 1 << 20 and part.file_size > lim["max_zip_ratio"] * max(part.compress_size, 1):
            ratio = part.file_size / max(part.compress_size, 1)
            raise InputError(problem(name, "zip_ratio", value=part.filename, part=part.filename, ratio=ratio,
                                     size=part.file_size, limit=lim["max_zip_ratio"]))
    rows, formulas = _xlsx_rows(data, name, lim, data_only=False)
    if formulas:
        cached, _ = _xlsx_rows(data, name, lim, data_only=True)
        problems = _Problems(max_per_kind)
        missing: dict[int, list[int]] = {}
        for r, c in formulas:
            v = cached[r][c] if r < len(cached) and c < len(cached[r]) else None
            if v is None:
                missing.setdefault(c, []).append(r + 1)
            rows[r][c] = v
        header0 = rows[0] if rows else []
        for c, rs in missing.items():
            col = (_cell_text(header0[c]) if c < len(header0) else "") or f"#{c + 1}"
            _collect(problems, name, np.asarray(rs), col, None, "formula_no_value")
        if problems:
            raise InputError(problems)
    width = max((len(r) for r in rows), default=0)  # rows ending in empty cells are shorter: pad them with None
    frame = pd.DataFrame([list(r) + [None] * (width - len(r)) for r in rows], dtype=object) if rows else pd.DataFrame()
    del rows
    frame = frame.dropna(how="all").dropna(axis=1, how="all")
    if frame.empty:
        raise InputError(problem(name, "sheet_empty"))
    header = [_cell_text(h) for h in frame.iloc[0].tolist()]
    _check_header(header, name)
    body = frame.iloc[1:]
    if body.empty:
        raise InputError(problem(name, "sheet_header_only"))
    out = pd.DataFrame({i: body[c].map(_cell_text) for i, c in enumerate(frame.columns)})
    out.columns = header
    return out.reset_index(drop=True)


def _xlsx_rows(data: bytes, name: str, lim: Mapping[str, int], data_only: bool):
    """(rows as lists of values, formula cell positions) of the first sheet, refused past the row/column limits."""
    from openpyxl import load_workbook

    rows: list[list] = []
    formulas: list[tuple[int, int]] = []
    try:
        wb = load_workbook(io.BytesIO(data), read_only=True, data_only=data_only)
        try:
            ws = wb.worksheets[0]
            ws.reset_dimensions()  # rows as long as their cells, not padded to the declared (forgeable) dimension
            for r, cells in enumerate(ws.iter_rows()):
                if r > lim["max_rows"]:  # the header plus max_rows data rows
                    raise InputError(problem(name, "too_many_rows", row=r + 1, value=f"> {lim['max_rows']:,}",
                                             limit=lim["max_rows"]))
                if len(cells) > lim["max_columns"]:
                    raise InputError(problem(name, "too_many_columns", row=r + 1, value=f"{len(cells):,}",
                                             count=len(cells), limit=lim["max_columns"]))
                values = []
                for c, cell in enumerate(cells):
                    if not data_only and getattr(cell, "data_type", None) == "f":
                        formulas.append((r, c))
                    values.append(cell.value)
                rows.append(values)
        finally:
            wb.close()
    except InputError:
        raise
    except Exception as e:  # openpyxl raises many types for corrupt files
        raise InputError(problem(name, "xlsx_unreadable", detail=f"{type(e).__name__}: {str(e)[:200]}")) from None
    return rows, formulas


def _cell_text(v) -> str:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return ""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, datetime):
        return v.date().isoformat() if v.time() == dt_time() else v.isoformat(sep=" ")
    if isinstance(v, (date, dt_time)):
        return v.isoformat()
    return str(v).strip()


def _read_sav(data: bytes, name: str, lim: Mapping[str, int] | None = None, path: Path | None = None) -> pd.DataFrame:
    """An SPSS file's cases as text cells. Its header is read first (metadata only): variables, declared cases
    and cases x row width are checked against the limits before any case is read; at most max_rows + 1 cases
    are read whatever the header says."""
    import tempfile

    import pyreadstat

    lim = effective_limits(lim)
    tmp_path = None
    if path is None or not path.is_file():
        with tempfile.NamedTemporaryFile(suffix=".sav", delete=False) as tmp:
            tmp.write(data)
            tmp_path = tmp.name
    src = tmp_path or str(path)
    try:
        try:
            _none, meta = pyreadstat.read_sav(src, metadataonly=True)
        except Exception as e:
            raise InputError(problem(name, "sav_unreadable", detail=str(e)[:200])) from None
        n_cols = int(meta.number_columns or len(meta.column_names or []))
        if n_cols > lim["max_columns"]:
            raise InputError(problem(name, "too_many_columns", value=f"{n_cols:,}", count=n_cols,
                                     limit=lim["max_columns"]))
        n_rows = meta.number_rows if meta.number_rows is not None and meta.number_rows >= 0 else None
        if n_rows is not None and n_rows > lim["max_rows"]:
            raise InputError(problem(name, "too_many_rows", value=f"{n_rows:,}", limit=lim["max_rows"]))
        widths = (meta.variable_storage_width or {}).values()  # bytes per case: 8 per numeric, strings in 8s
        width = sum(max(8, -(-int(w or 8) // 8) * 8) for w in widths) or 8 * n_cols
        if n_rows is not None and n_rows * width > lim["max_unzipped_bytes"]:
            raise InputError(problem(name, "unzipped_too_large", value=f"{n_rows * width:,} bytes",
                                     size=n_rows * width, limit=lim["max_unzipped_bytes"]))
        try:
            # SPSS user-missing values (declared in the file) are read as missing, as SPSS itself treats them
            frame, _meta = pyreadstat.read_sav(src, apply_value_formats=False, row_limit=lim["max_rows"] + 1)
        except Exception as e:
            raise InputError(problem(name, "sav_unreadable", detail=str(e)[:200])) from None
    finally:
        if tmp_path:
            os.unlink(tmp_path)
    if len(frame) > lim["max_rows"]:
        raise InputError(problem(name, "too_many_rows", value=f"> {lim['max_rows']:,}", limit=lim["max_rows"]))
    if frame.empty:
        raise InputError(problem(name, "sav_empty"))
    return pd.DataFrame({c: frame[c].map(_cell_text) for c in frame.columns})


# --------------------------------------------------------------------------- validation
@dataclass
class ValidationReport:
    """What :func:`validate_frame` found. ``frame`` is the clean data (only meaningful when ``ok``)."""

    source_name: str
    problems: list[Problem]
    frame: pd.DataFrame | None = None
    items: list[str] = field(default_factory=list)
    segments: list[str] = field(default_factory=list)
    id_column: str | None = None
    scales: dict[str, tuple[float, float]] = field(default_factory=dict)
    source_columns: dict[str, str] = field(default_factory=dict)  # item → column name in the file
    sha256: str | None = None
    summary: dict = field(default_factory=dict)
    extra_columns: list[str] = field(default_factory=list)  # not items, id or known segments: dropped
    text_columns: list[str] = field(default_factory=list)  # open-text columns stored as verbatims (stored names)
    texts: pd.DataFrame | None = None  # their answers, aligned with ``frame`` (NA = no answer), exact text

    @property
    def error_count(self) -> int:
        """True number of errors, counting those a 'more …' summary line stands for."""
        return count_problems(self.problems, "error")

    @property
    def warning_count(self) -> int:
        return count_problems(self.problems, "warning")

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]

    @property
    def ok(self) -> bool:
        return not self.errors

    def problems_frame(self) -> pd.DataFrame:
        cols = ["severity", "file", "row", "column", "value", "reason"]
        return pd.DataFrame([p.as_dict() for p in self.problems], columns=cols)


@dataclass(frozen=True)
class IngestReport:
    wave: str
    source_name: str
    n_respondents: int
    items: tuple[str, ...]
    segments: tuple[str, ...]
    warnings: tuple[Problem, ...]
    sha256: str
    seconds: float
    encoding: str | None = None  # the CSV text encoding read (a key of ENCODING_NAMES); None for XLSX/SAV
    texts: tuple[str, ...] = ()  # open-text columns stored as verbatims

    def summary(self) -> str:
        enc = f", {ENCODING_NAMES.get(self.encoding, self.encoding)}" if self.encoding else ""
        verb = f", verbatims: {', '.join(self.texts)}" if self.texts else ""
        lines = [f"wave {self.wave!r}: {self.n_respondents:,} respondents, {len(self.items)} items, "
                 f"segments: {', '.join(self.segments) or 'none'}{verb} (from {self.source_name}{enc}, "
                 f"{self.seconds:.1f} s)"]
        lines += [f"  warning: {w}" for w in self.warnings]
        return "\n".join(lines)


def _norm_header(h: str) -> str:
    h = unicodedata.normalize("NFKC", re.sub(_ZERO_WIDTH_RE, "", str(h))).strip()
    return re.sub(r"\s+", "_", h.lower()) if h.isascii() else h


def _ascii(series: pd.Series) -> bool:
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = pa.array(series.astype("string[pyarrow]").fillna(""))
    return bool(pc.all(pc.string_is_ascii(arr)).as_py())


def _text(series: pd.Series) -> pd.Series:
    """Exact text of ids and segment values ('' for empty), the same for every format and before any duplicate
    check: trimmed; when a cell is not plain ASCII, zero-width characters and BOMs (U+200B-U+200F, U+2060,
    U+FEFF, soft hyphen, ...) removed, then NFKC (full-width digits and letters, non-breaking and ideographic
    spaces become their plain forms), then trimmed again. Plain ASCII columns pass untouched (the fast path)."""
    s = series.astype("string[pyarrow]").fillna("").str.strip()
    if not _ascii(s):
        s = s.str.replace(_ZERO_WIDTH_RE, "", regex=True).str.normalize("NFKC").str.strip()
    return s


def known_segments(con) -> set[str]:
    """Normalised column names stored as segments without being asked: :data:`KNOWN_SEGMENTS`, the weight
    names, the store's ``brand_column`` setting and every segment already stored in an earlier wave."""
    names = {_norm_header(n) for n in (*KNOWN_SEGMENTS, *WEIGHT_NAMES)}
    if con is not None:
        brand = store.get_setting(con, "brand_column")
        if brand:
            names.add(_norm_header(brand))
        names |= {_norm_header(n) for n in store.segment_columns(con)}
    return names


def text_name(name: str) -> bool:
    """Whether a (normalised) column name says the column holds open-text answers (see :data:`TEXT_NAMES`)."""
    n = _norm_header(name)
    if n in TEXT_NAMES:
        return True
    if n.isascii():
        return bool(_TEXT_WORDS & set(re.split(r"[_\-.\s]+", n.lower())))
    return any(w in n for w in _TEXT_INSIDE)


def looks_like_text(series: pd.Series) -> bool:
    """The content rule for open text: among the non-empty cells, more than :data:`TEXT_MIN_DISTINCT` distinct,
    a median length of at least :data:`TEXT_MIN_MEDIAN` characters, and at least :data:`TEXT_MIN_WORDY` reading
    as words (two or more letters, and a space or a non-ASCII character: not codes, e-mails or time stamps)."""
    s = series.astype("string[pyarrow]").fillna("").str.strip()
    s = s[s != ""]
    if len(s) == 0:
        return False
    if s.nunique() <= TEXT_MIN_DISTINCT * len(s) or float(s.str.len().median()) < TEXT_MIN_MEDIAN:
        return False
    letters = s.str.count(r"[^\W\d_]") >= 2
    spaced = s.str.contains(r"\s", regex=True) | ~s.str.isascii()
    return float((letters & spaced).mean()) >= TEXT_MIN_WORDY


def _verbatim(series: pd.Series) -> pd.Series:
    """An open-text answer as stored: the cell as read, outer whitespace trimmed (as every cell is), nothing
    else changed (no NFKC: full-width Chinese punctuation stays); empty → NA."""
    s = series.astype("string[pyarrow]").str.strip()
    return s.mask(s == "").reset_index(drop=True)


def parse_missing_codes(text: str | Sequence[str] | None) -> list[str]:
    if text is None:
        return []
    parts = re.split(r"[;,，；]", text) if isinstance(text, str) else list(text)
    return [unicodedata.normalize("NFKC", str(p)).strip() for p in parts if str(p).strip()]


def validate_frame(
    con,
    raw: pd.DataFrame,
    source_name: str,
    *,
    scale: tuple[float, float] | None = None,
    missing: str | Sequence[str] | None = None,
    column_map: Mapping[str, str | None] | None = None,
    require_all_items: bool = False,
    sha256: str | None = None,
    wave: str | None = None,
    keep_columns: Sequence[str] | None = None,
    max_per_kind: int | None = MAX_PER_KIND,
    text_columns: Sequence[str] | None = None,
) -> ValidationReport:
    """Check a raw survey table against the item dictionary. Never writes.

    ``column_map`` maps a column of the file to an item code (or to ``None`` to keep it as a segment);
    other columns are matched to item codes by name (case-insensitive). Columns that are neither items, the id
    nor known segments (:func:`known_segments`) are dropped with one warning naming them, unless listed in
    ``keep_columns``. ``scale`` (min, max) replaces the dictionary scale of every rating item in this file.
    ``missing`` adds missing-value codes. ``text_columns`` are stored as open text (verbatims); other text columns
    are found by name and content (see :data:`TEXT_NAMES`). ``max_per_kind`` problems are listed per (column, reason) before a
    summary line (None: every one); :attr:`ValidationReport.error_count` is the true total either way.
    """
    f = source_name
    problems = _Problems(max_per_kind)
    dictionary = store.item_dictionary(con)
    dict_by_code = {str(r.item).lower(): r for r in dictionary.itertuples()}
    extra_missing = parse_missing_codes(missing)
    report = ValidationReport(source_name=f, problems=problems, sha256=sha256)

    if wave is not None:
        try:
            label = store.validate_label(wave)
            row = con.execute("SELECT imported_at FROM waves WHERE label = ?", [label]).fetchone()
            if row:
                problems.append(problem(f, "wave_exists", label=label, when=f"{row[0]:%Y-%m-%d %H:%M}"))
        except StoreError as e:
            problems.append(problem(f, "bad_label", detail=str(e)))
    if sha256:
        row = con.execute("SELECT label, imported_at FROM waves WHERE sha256 = ?", [sha256]).fetchone()
        if row:
            problems.append(problem(f, "already_imported", label=row[0], when=f"{row[1]:%Y-%m-%d}"))
    if raw is None or len(raw.columns) == 0:
        problems.append(problem(f, "no_columns"))
        return report
    if len(raw) == 0:
        problems.append(problem(f, "header_only"))
        return report

    columns = [str(c) for c in raw.columns]
    column_map = dict(column_map or {})
    keep = [str(c) for c in (keep_columns or ())]
    text_set = {str(c) for c in (text_columns or ())}
    unknown_map = [c for c in list(column_map) + keep + sorted(text_set) if c not in columns]
    if unknown_map:
        problems.append(problem(f, "map_unknown_columns", columns=", ".join(unknown_map)))
    keep_set = set(keep)
    known = known_segments(con)
    stored_texts = {_norm_header(n) for n in store.text_columns(con)} if con is not None else set()
    extra_cols: list[str] = []
    text_cols: list[str] = []

    # respondent id column
    id_col = None
    for cand in ID_NAMES:
        hit = [c for c in columns if _norm_header(c) == _norm_header(cand)]
        if hit:
            id_col = hit[0]
            break
    if id_col is None and columns and (columns[0].strip() == "" or columns[0].lower().startswith("unnamed")):
        id_col = columns[0]
    if id_col is None:
        problems.append(problem(f, "no_id_column", row=1))
        return report
    report.id_column = id_col

    # item columns
    item_cols: dict[str, str] = {}  # item code → column
    segment_cols: list[str] = []
    for c in columns:
        if c == id_col:
            continue
        if c in text_set:
            text_cols.append(c)
            continue
        if c in column_map:
            target = column_map[c]
            if target is None or target == "":
                segment_cols.append(c)
                continue
            code = str(target).lower()
            if code not in dict_by_code:
                problems.append(problem(f, "map_unknown_item", row=1, column=c, item=target))
                continue
        else:
            code = _norm_header(c)
            if code not in dict_by_code:
                if c.strip() == "":
                    if (raw[c].astype(str).str.strip() == "").all():
                        problems.append(problem(f, "unnamed_empty_column", row=1, severity="warning"))
                        continue
                    problems.append(problem(f, "unnamed_column", row=1, column=f"#{columns.index(c) + 1}"))
                    continue
                if c in keep_set:
                    segment_cols.append(c)
                elif text_name(c) or code in stored_texts:
                    text_cols.append(c)
                elif code in known or code.lower() in known:
                    segment_cols.append(c)
                elif looks_like_text(raw[c]):
                    text_cols.append(c)
                else:
                    extra_cols.append(c)
                continue
        if str(dict_by_code[code].kind or "") == "text":  # a dictionary item of kind text: a verbatim
            text_cols.append(c)
            continue
        if code in item_cols:
            problems.append(problem(f, "two_columns_one_item", row=1, column=c, item=code, first=item_cols[code], second=c))
            continue
        item_cols[code] = c
    if extra_cols:
        shown = ", ".join(repr(c) for c in extra_cols[:30]) + (f", ... ({len(extra_cols)} in all)"
                                                               if len(extra_cols) > 30 else "")
        problems.append(problem(f, "extra_columns", row=1, severity="warning", count=len(extra_cols), columns=shown))
    report.extra_columns = extra_cols
    if not item_cols:
        known_codes = ", ".join(sorted(dict_by_code)[:12])
        problems.append(problem(f, "no_items", row=1, known=known_codes))
        return report
    missing_items = [r.item for r in dictionary.itertuples()
                     if str(r.item).lower() not in item_cols and r.kind in ("rating", "recommend")]
    if missing_items:
        by_construct: dict[str, list[str]] = {}
        for it in missing_items:
            by_construct.setdefault(str(dict_by_code[it.lower()].construct), []).append(it)
        detail = "; ".join(f"{k}: {', '.join(v)}" for k, v in by_construct.items())
        if require_all_items:
            problems.append(problem(f, "items_missing_reject", detail=detail))
        else:
            problems.append(problem(f, "items_missing_warn", severity="warning", count=len(missing_items), detail=detail))

    n = len(raw)
    rows = np.arange(n) + 2

    # ids
    ids = _text(raw[id_col])
    empty_id = (ids == "").to_numpy()
    _collect(problems, f, rows[empty_id], id_col, None, "empty_id")
    dup = ids.duplicated(keep=False).to_numpy() & ~empty_id
    if dup.any():
        first_rows: dict[str, list[int]] = {}
        for r, v in zip(rows[dup], ids.to_numpy()[dup]):
            first_rows.setdefault(v, []).append(int(r))
        listed = list(first_rows.items())
        for v, rs in listed[:problems.cap]:
            problems.append(problem(f, "duplicate_id", row=rs[1], column=id_col, value=v,
                                    rows=", ".join(map(str, rs[:5])) + (", ..." if len(rs) > 5 else "")))
        if len(listed) > problems.cap:
            problems.omitted["error"] += len(listed) - problems.cap
            problems.append(problem(f, "more_duplicate_ids", column=id_col, count=len(listed) - problems.cap))

    # items
    clean = pd.DataFrame({"respondent_id": ids.reset_index(drop=True)})
    scales: dict[str, tuple[float, float]] = {}
    specs = []
    for code, col in item_cols.items():
        entry = dict_by_code[code]
        kind = str(entry.kind or "rating")
        lo, hi = float(entry.scale_min), float(entry.scale_max)
        if scale is not None and kind in ("rating", "recommend"):
            lo, hi = float(scale[0]), float(scale[1])
        if kind == "binary":
            lo, hi = 0.0, 1.0
        codes = set(parse_missing_codes(entry.missing_codes)) | set(extra_missing)
        specs.append((entry.item, col, kind, lo, hi, codes))
        scales[entry.item] = (lo, hi)
    parsed = _parse_items(raw, specs)
    for item, col, kind, lo, hi, codes in specs:
        values, non_numeric = parsed[item]
        finite = ~np.isnan(values)
        if kind == "binary":
            out_of_range, code = finite & ~np.isin(values, [0.0, 1.0]), "not_binary"
        else:
            out_of_range, code = finite & ((values < lo) | (values > hi)), "out_of_scale"
        if non_numeric.any() and kind in ("rating", "recommend", "binary"):
            cells = _cells(raw[col], non_numeric)
            dated = np.array([bool(_DATE_TEXT.match(v)) for v in cells], dtype=bool)
            if dated.any():  # Excel turned answers into dates ("7/8" → 2024-07-08): name the cause once
                at = rows[non_numeric][dated]
                problems.append(problem(f, "item_dates", row=int(at[0]), column=col, value=str(cells[dated][0]),
                                        count=int(dated.sum()), rows=", ".join(map(str, at[:5]))
                                        + (", ..." if at.size > 5 else "")))
                non_numeric_listed = non_numeric.copy()
                non_numeric_listed[np.flatnonzero(non_numeric)[dated]] = False
            else:
                non_numeric_listed = non_numeric
        else:
            non_numeric_listed = non_numeric
        for mask, why in ((non_numeric_listed, "not_a_number"), (out_of_range, code)):
            if mask.any():
                _collect(problems, f, rows[mask], col, _cells(raw[col], mask), why, lo=lo, hi=hi)
        values = np.where(non_numeric, np.nan, values)
        if np.isnan(values).all():
            problems.append(problem(f, "all_missing", column=col, severity="warning"))
        clean[item] = values

    # segments (text) — a weight column must be numeric and non-negative; it is stored as 'weight'
    seg_names: list[str] = []
    for col in segment_cols:
        name = _norm_header(col) or col
        is_weight = name in WEIGHT_NAMES
        if is_weight:
            name = store.WEIGHT_SEGMENT
        if name in seg_names or name in ("wave", "respondent_id"):
            problems.append(problem(f, "segment_reserved", row=1, column=col, name=name))
            continue
        text = _text(raw[col])
        if is_weight:
            num = pd.to_numeric(text.replace("", np.nan), errors="coerce").to_numpy(dtype=float)
            bad = (np.isnan(num) & (text != "").to_numpy()) | (num < 0) | np.isinf(num)
            _collect(problems, f, rows[bad], col, text.to_numpy()[bad], "bad_weight")
        clean[name] = text.mask(text == "").reset_index(drop=True)
        seg_names.append(name)

    # open-text answers (verbatims): exact text, stored apart from the segments
    text_names: list[str] = []
    texts = pd.DataFrame(index=range(n))
    for col in text_cols:
        name = _norm_header(col) or col
        if name in text_names or name in seg_names or name in ("wave", "respondent_id") or name in clean.columns:
            problems.append(problem(f, "segment_reserved", row=1, column=col, name=name))
            continue
        texts[name] = _verbatim(raw[col])
        text_names.append(name)

    report.frame = clean
    report.items = list(clean.columns[1:1 + len(item_cols)])
    report.segments = seg_names
    report.text_columns = text_names
    report.texts = texts
    report.scales = scales
    report.source_columns = {dict_by_code[k].item: v for k, v in item_cols.items()}
    report.summary = {"rows": n, "items": len(item_cols), "segments": seg_names, "id_column": id_col,
                      "encoding": raw.attrs.get("encoding"), "extra_columns": extra_cols,
                      "text_columns": text_names, "errors": report.error_count, "warnings": report.warning_count}
    return report


# full-width digits typed on a Chinese keyboard → digits; non-breaking/ideographic spaces → space (then trimmed);
# zero-width characters and BOMs (no counterpart in the second string) are deleted by translate()
_FULLWIDTH_FROM = "０１２３４５６７８９．－＋\u00a0\u3000" + _ZERO_WIDTH
_FULLWIDTH_TO = "0123456789.-+  "
_DATE_TEXT = re.compile(r"^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?$|^\d{2}:\d{2}:\d{2}$")


def _parse_items(raw: pd.DataFrame, specs) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Text cells → (values float array with NaN = missing, non-numeric mask) per item, in one DuckDB query.

    A cell is missing when empty or equal (as text, or as a number) to one of the item's missing codes;
    full-width digits typed on a Chinese keyboard are read as digits.
    """
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    text_specs = []
    for spec in specs:
        item, col, _kind, _lo, _hi, codes = spec
        series = raw[col]
        if pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(series.dtype):
            values = series.to_numpy(dtype=float, na_value=np.nan, copy=True)
            values[np.isin(values, [float(c) for c in codes if _is_number(c)])] = np.nan
            out[item] = (values, np.zeros(len(values), dtype=bool))
        else:
            text_specs.append(spec)
    if not text_specs:
        return out
    frame = pd.DataFrame({f"c{k}": raw[col].astype("string[pyarrow]") for k, (_, col, *_) in enumerate(text_specs)})
    # the translate() tables are our constants; the missing codes come from users and are bound parameters
    wide = [not _ascii(frame[c]) for c in frame.columns]
    inner = ", ".join((f"trim(translate(c{k}, '{_FULLWIDTH_FROM}', '{_FULLWIDTH_TO}'))" if wide[k] else f"trim(c{k})")
                      + f" AS t{k}" for k in range(len(text_specs)))
    mid = ", ".join(f"t{k}, TRY_CAST(t{k} AS DOUBLE) AS n{k}" for k in range(len(text_specs)))
    outer, params = [], []
    for k, (*_, codes) in enumerate(text_specs):
        missing = f"(t{k} IS NULL OR t{k} = '' OR list_contains(?::VARCHAR[], t{k}))"
        bad = f"(n{k} IS NULL OR NOT isfinite(n{k}))"  # 'nan' and 'inf' parse as doubles but are no answers
        outer.append(f"CASE WHEN {missing} OR {bad} OR list_contains(?::DOUBLE[], n{k}) THEN NULL ELSE n{k} END AS v{k}")
        outer.append(f"(NOT {missing} AND {bad}) AS e{k}")
        text_codes = sorted(codes)
        params += [text_codes, sorted({float(c) for c in codes if _is_number(c)}), text_codes]
    con = duckdb.connect()
    try:
        con.register("_raw", frame)
        result = con.execute(f"SELECT {', '.join(outer)} FROM (SELECT {mid} FROM (SELECT {inner} FROM _raw))",
                             params).fetchnumpy()
    finally:
        con.close()
    for k, (item, *_rest) in enumerate(text_specs):
        v = result[f"v{k}"]
        values = np.ma.filled(v.astype(float), np.nan) if np.ma.isMaskedArray(v) else np.asarray(v, dtype=float)
        e = result[f"e{k}"]
        errors = np.ma.filled(e, False).astype(bool) if np.ma.isMaskedArray(e) else np.asarray(e, dtype=bool)
        out[item] = (values.copy(), errors)
    return out


def _cells(series: pd.Series, mask: np.ndarray) -> np.ndarray:
    return np.array([str(v).strip() for v in series.to_numpy(dtype=object)[mask]], dtype=object)


def parse_numeric(raw: pd.DataFrame, columns: Sequence[str], source: str,
                  missing: str | Sequence[str] | None = None) -> pd.DataFrame:
    """Text cells of ``columns`` → floats (empty cells and ``missing`` codes → NaN), no scale check.

    For analysing a file directly (``python -m csi fit --data``): every non-number is reported with its
    row and column through :class:`InputError`, exactly as the ingest validation reports it.
    """
    codes = set(parse_missing_codes(missing))
    parsed = _parse_items(raw, [(c, c, "rating", -np.inf, np.inf, codes) for c in columns])
    problems: list[Problem] = []
    rows = np.arange(len(raw)) + 2
    out = pd.DataFrame(index=raw.index)
    for c in columns:
        values, bad = parsed[c]
        _collect(problems, source, rows[bad], c, _cells(raw[c], bad), "not_a_number")
        out[c] = np.where(bad, np.nan, values)
    if problems:
        raise InputError(problems)
    return out


def _is_number(s: str) -> bool:
    try:
        float(s)
        return True
    except ValueError:
        return False


def _collect(problems: list[Problem], f: str, rows: np.ndarray, column: str, values, code: str, **fields) -> None:
    """One problem per offending cell for the first ``problems.cap`` rows (MAX_PER_KIND for a plain list), then
    one summary line whose count ``problems.omitted`` adds to the true total."""
    rows = np.asarray(rows)
    if rows.size == 0:
        return
    cap = getattr(problems, "cap", MAX_PER_KIND)
    vals = [None] * min(rows.size, cap) if values is None else list(np.asarray(values, dtype=object)[:cap])
    for r, v in zip(rows[:cap], vals):
        problems.append(problem(f, code, row=int(r), column=column, value=None if v is None else str(v), **fields))
    if rows.size > cap:
        first = problems[-1]
        if hasattr(problems, "omitted"):
            problems.omitted[first.severity] += rows.size - cap
        problems.append(problem(f, "more_rows", column=column, count=rows.size - cap, reason=first.reason,
                                reason_zh=first.reason_zh))


# --------------------------------------------------------------------------- writing
def frame_sha256(raw: pd.DataFrame) -> str:
    return hashlib.sha256(raw.to_csv(index=False).encode("utf-8")).hexdigest()


def ingest_frame(
    con,
    raw: pd.DataFrame,
    wave: str,
    source_name: str,
    *,
    scale: tuple[float, float] | None = None,
    missing: str | Sequence[str] | None = None,
    column_map: Mapping[str, str | None] | None = None,
    require_all_items: bool = False,
    field_start: str | date | None = None,
    field_end: str | date | None = None,
    sha256: str | None = None,
    keep_columns: Sequence[str] | None = None,
    max_per_kind: int | None = MAX_PER_KIND,
    text_columns: Sequence[str] | None = None,
) -> IngestReport:
    """Validate ``raw`` and store it as wave ``wave`` in one transaction; on any error nothing is written."""
    t0 = time.perf_counter()
    sha256 = sha256 or frame_sha256(raw)
    start, end = _date(field_start, "field start", source_name), _date(field_end, "field end", source_name)
    if start and end and end < start:
        raise InputError(problem(source_name, "field_dates", end=end, start=start))
    report = validate_frame(con, raw, source_name, scale=scale, missing=missing, column_map=column_map,
                            require_all_items=require_all_items, sha256=sha256, wave=wave,
                            keep_columns=keep_columns, max_per_kind=max_per_kind, text_columns=text_columns)
    if not report.ok:
        raise InputError(report.problems)
    label = store.validate_label(wave)
    _write_wave(con, report, label, start, end)
    return IngestReport(wave=label, source_name=source_name, n_respondents=len(report.frame), items=tuple(report.items),
                        segments=tuple(report.segments), warnings=tuple(report.warnings), sha256=sha256,
                        seconds=time.perf_counter() - t0, encoding=raw.attrs.get("encoding"),
                        texts=tuple(report.text_columns))


def ingest_file(con, path: str | os.PathLike, wave: str, *, limits: Mapping[str, int] | None = None,
                **kwargs) -> IngestReport:
    """Read ``path`` (CSV/XLSX/SAV) and ingest it as wave ``wave``; the fingerprint is the file's SHA-256.
    ``limits`` overrides :data:`LIMITS`; the other keywords are :func:`ingest_frame`'s."""
    lim = effective_limits(limits)
    data, name = _read_bytes(path, None, lim)
    raw = _parse_bytes(data, name, Path(path), lim, kwargs.get("max_per_kind", MAX_PER_KIND))
    return ingest_frame(con, raw, wave, name, sha256=hashlib.sha256(data).hexdigest(), **kwargs)


def ingest_into(db: str | os.PathLike, path: str | os.PathLike, wave: str, *, actor: str | None = None,
                timeout: float | None = None, limits: Mapping[str, int] | None = None, **kwargs) -> IngestReport:
    """``python -m csi ingest``: read ``path`` (outside any lock), then validate and store it as wave ``wave``
    in ONE audited write of the store ``db`` (:func:`csi.data.store.writing`: published whole or not at all,
    while dashboards keep reading). The audit entry names the file, its SHA-256, the wave and the count."""
    lim = effective_limits(limits)
    data, name = _read_bytes(path, None, lim)
    raw = _parse_bytes(data, name, Path(path), lim, kwargs.get("max_per_kind", MAX_PER_KIND))
    sha = hashlib.sha256(data).hexdigest()
    detail: dict = {"file": name, "sha256": sha, "wave": wave}
    with store.writing(db, actor=actor, action="ingest", detail=detail, timeout=timeout) as con:
        report = ingest_frame(con, raw, wave, name, sha256=sha, **kwargs)
        detail.update(wave=report.wave, n=report.n_respondents, items=len(report.items))
    return report


def _date(v, what: str, f: str) -> date | None:
    if v is None or v == "":
        return None
    if isinstance(v, date):
        return v
    try:
        return date.fromisoformat(str(v))
    except ValueError:
        raise InputError(problem(f, "bad_date", what=what, value=v)) from None


def _fault(point: str) -> None:
    """Test hook: CSI_INGEST_FAULT=<point>:<action> simulates a failure inside the transaction."""
    spec = os.environ.get("CSI_INGEST_FAULT", "")
    if not spec.startswith(point + ":"):
        return
    action = spec.split(":", 1)[1]
    if action == "raise":
        raise RuntimeError(f"injected fault at {point}")
    if action == "exit":
        os._exit(3)
    if action == "hang":
        flag = os.environ.get("CSI_INGEST_FAULT_FLAG")
        if flag:
            Path(flag).write_text("inside transaction")
        time.sleep(600)


def _write_wave(con, report: ValidationReport, label: str, start: date | None, end: date | None) -> None:
    frame = report.frame
    n = len(frame)
    keys = np.arange(1, n + 1, dtype=np.int32)
    with store.transaction(con):
        # re-check inside the transaction: another writer may have been quicker
        if con.execute("SELECT count(*) FROM waves WHERE label = ?", [label]).fetchone()[0]:
            raise InputError(problem(report.source_name, "wave_exists", label=label, when="just now"))
        if con.execute("SELECT count(*) FROM waves WHERE sha256 = ?", [report.sha256]).fetchone()[0]:
            raise InputError(problem(report.source_name, "already_imported", label="?", when="just now"))
        wid = int(con.execute("SELECT coalesce(max(wave_id), 0) + 1 FROM waves").fetchone()[0])
        con.execute("INSERT INTO waves VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [wid, label, start, end, report.source_name, report.sha256, n, len(report.items),
                     store._now(), wid])
        for pos, item in enumerate(report.items, start=1):
            lo, hi = report.scales[item]
            con.execute("INSERT INTO wave_items VALUES (?, ?, ?, ?, ?, ?)",
                        [wid, item, lo, hi, report.source_columns.get(item), pos])
        resp = pd.DataFrame({"resp_key": keys, "respondent_id": frame["respondent_id"].array,
                             "source_row": keys + 1})
        _insert(con, "INSERT INTO respondents SELECT ?, resp_key, respondent_id, source_row FROM _df", resp, wid)
        _fault("respondents")
        if report.segments:
            seg = pd.DataFrame({"resp_key": keys, **{s: frame[s].array for s in report.segments}})
            _insert(con, """INSERT INTO segments SELECT ?, resp_key, name, value FROM
                            (UNPIVOT (SELECT resp_key, COLUMNS(* EXCLUDE (resp_key))::VARCHAR FROM _df)
                             ON COLUMNS(* EXCLUDE (resp_key)) INTO NAME name VALUE value)""", seg, wid)
        # one list per respondent aligned with wave_items.position, built from one numpy matrix (NaN → NULL)
        import pyarrow as pa

        matrix = frame[report.items].to_numpy(dtype=float)
        ans = pa.table({"resp_key": keys,
                        "vals": pa.FixedSizeListArray.from_arrays(pa.array(matrix.ravel(), from_pandas=True),
                                                                  len(report.items))})
        _insert(con, "INSERT INTO answers SELECT ?, resp_key, vals::DOUBLE[] FROM _df", ans, wid)
        _fault("answers")
        if report.text_columns:  # verbatims, one row per non-empty answer, in the same transaction
            long = (report.texts[report.text_columns].assign(resp_key=keys)
                    .melt(id_vars="resp_key", var_name="name", value_name="value").dropna(subset=["value"]))
            long = pd.DataFrame({"resp_key": long["resp_key"].to_numpy(np.int32),
                                 "name": long["name"].astype(object).to_numpy(),
                                 "value": long["value"].astype(object).to_numpy()})
            _insert(con, "INSERT INTO texts SELECT ?, resp_key, name, value FROM _df", long, wid)
        store.reorder_waves(con)
        store.bump_version(con)


def _insert(con, sql: str, df: pd.DataFrame, wid: int) -> None:
    con.register("_df", df)
    try:
        t = time.perf_counter()
        con.execute(sql, [wid])
        if os.environ.get("CSI_INGEST_TRACE"):
            print(f"  insert {sql.split()[2]}: {time.perf_counter() - t:.2f} s")
    finally:
        con.unregister("_df")
