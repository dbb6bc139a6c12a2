"""Analyst file tools: a blank template for a new wave, a wave's raw responses, the survey weight's summary.

* :func:`wave_template` — the header a fieldwork agency fills in: ``respondent_id``, the store's segments
  (brand, region, …; the known ones first), ``weight`` when the store holds one, then the dictionary's items in
  questionnaire order (and the stored open-text columns). Data files carry ONE header row, so the question texts
  (en/zh), scales and missing codes go to a second sheet ``columns`` of the XLSX; the CSV is the header only,
  UTF-8 with a BOM so that Excel opens Chinese headers correctly.
* :func:`export_wave` — a wave's responses as stored (respondent id, segments as imported — never recoded —,
  the weight's stored text, items with missing as empty), the inverse of ingest: re-ingesting the file gives the
  same rows. Text cells a spreadsheet would run as a formula are escaped (:func:`csi.report.export.escape_frame`),
  so such a value comes back with its leading ``'``. The XLSX adds the ``columns`` sheet with the wave's scales.
* :func:`weight_summary` — per wave: respondents, weighted respondents, min/mean/max weight and the Kish
  effective n = (Σw)²/Σw² (:func:`csi.analytics.scales.kish_n`).
"""
from __future__ import annotations

import io
from typing import Literal

import numpy as np
import pandas as pd

from csi.data import store
from csi.errors import SpecError

Format = Literal["csv", "xlsx"]
ID_COLUMN = "respondent_id"
COLUMN_SHEET = "columns"
_SEGMENT_ORDER = ("brand", "region", "channel", "city", "province", "store", "gender", "age_group", "age")


def _fmt(fmt: str) -> str:
    fmt = str(fmt).lower().lstrip(".")
    if fmt not in ("csv", "xlsx"):
        raise SpecError(f"unknown file format {fmt!r}: use csv or xlsx")
    return fmt


def format_of(path) -> str:
    """``csv`` or ``xlsx`` from a file name's suffix (anything else is refused)."""
    from pathlib import Path

    return _fmt(Path(path).suffix or "?")


def _segments(con, waves=None) -> list[str]:
    names = [s for s in store.segment_columns(con, waves) if s != store.WEIGHT_SEGMENT]
    rank = {s: i for i, s in enumerate(_SEGMENT_ORDER)}
    return sorted(names, key=lambda s: (rank.get(s, len(rank)), s))


def _text_columns(con, waves=None) -> list[str]:
    fn = getattr(store, "text_columns", None)  # open-text answers (schema 5)
    return list(fn(con, waves)) if fn else []


def _item_order(items) -> list[str]:
    return sorted((str(i) for i in items), key=store._item_sort_key)


def _column_sheet(con, columns: list[str], segments: list[str], texts: list[str],
                  scales: dict[str, tuple[float, float]] | None = None) -> pd.DataFrame:
    """One row per data column: what it is, its question texts, scale and missing codes."""
    d = store.item_dictionary(con).set_index("item")
    rows = []
    for c in columns:
        if c == ID_COLUMN:
            rows.append({"column": c, "kind": "id"})
        elif c == store.WEIGHT_SEGMENT:
            rows.append({"column": c, "kind": "weight", "text_en": "Survey weight (a number >= 0)",
                         "text_zh": "调查权重（不小于 0 的数）"})
        elif c in segments:
            rows.append({"column": c, "kind": "segment"})
        elif c in texts:
            rows.append({"column": c, "kind": "text"})
        else:
            r = d.loc[c]
            lo, hi = (scales or {}).get(c, (r["scale_min"], r["scale_max"]))
            rows.append({"column": c, "kind": str(r["kind"]), "construct": r["construct"], "text_en": r["text_en"],
                         "text_zh": r["text_zh"], "scale_min": float(lo), "scale_max": float(hi),
                         "missing_codes": r["missing_codes"]})
    cols = ["column", "kind", "construct", "text_en", "text_zh", "scale_min", "scale_max", "missing_codes"]
    return pd.DataFrame(rows, columns=cols)


def _to_bytes(data: pd.DataFrame, fmt: str, sheet: pd.DataFrame, data_sheet: str) -> bytes:
    from csi.report.export import escape_frame

    data = escape_frame(data)
    if fmt == "csv":
        return data.to_csv(index=False, lineterminator="\n").encode("utf-8-sig")
    buf = io.BytesIO()
    with pd.ExcelWriter(buf, engine="openpyxl") as xl:
        data.to_excel(xl, sheet_name=data_sheet, index=False)
        escape_frame(sheet).to_excel(xl, sheet_name=COLUMN_SHEET, index=False)
    return buf.getvalue()


def template_columns(con) -> list[str]:
    """The template's columns: id, segments, weight (when stored), items in questionnaire order, open texts."""
    segments = _segments(con)
    weight = [store.WEIGHT_SEGMENT] if store.WEIGHT_SEGMENT in store.segment_columns(con) else []
    items = _item_order(store.item_dictionary(con)["item"])
    return [ID_COLUMN, *segments, *weight, *items, *_text_columns(con)]


def wave_template(con, fmt: Format = "xlsx") -> bytes:
    """A blank file for a new wave (see the module doc): CSV = the header row (UTF-8 with BOM); XLSX = sheet
    ``data`` with the header and sheet ``columns`` with each column's kind, question texts, scale, missing codes."""
    fmt = _fmt(fmt)
    columns = template_columns(con)
    sheet = _column_sheet(con, columns, _segments(con), _text_columns(con))
    return _to_bytes(pd.DataFrame(columns=columns), fmt, sheet, "data")


def wave_frame(con, wave: str) -> pd.DataFrame:
    """Wave ``wave`` as stored, one row per respondent in import order: id, segments (as imported), the weight
    as its stored text, items (nullable integers when every answer is whole; missing = NA), open texts."""
    if wave not in store.wave_labels(con):
        raise SpecError(f"unknown wave {wave!r} (waves: {', '.join(store.wave_labels(con)) or 'none'})")
    frame = store.load_responses(con, [wave], recode=False)
    items = [c for c in frame.columns if c in set(_wave_items(con, wave))]
    segments = _segments(con, [wave])
    out = pd.DataFrame({ID_COLUMN: frame["respondent_id"].astype(object)})
    for s in segments:
        out[s] = frame[s].astype(object) if s in frame.columns else None
    if store.WEIGHT_SEGMENT in frame.columns:
        out[store.WEIGHT_SEGMENT] = _stored_text(con, wave, store.WEIGHT_SEGMENT)
    for c in _item_order(items):
        v = frame[c].to_numpy(float)
        whole = np.isnan(v) | (v == np.round(v))
        out[c] = pd.array(np.where(np.isnan(v), 0, v).astype("int64"), dtype="Int64") if whole.all() else v
        if whole.all():
            out.loc[np.isnan(v), c] = pd.NA
    texts = _text_columns(con, [wave])
    if texts:
        long = store.load_texts(con, [wave])
        wide = long.pivot(index="resp_key", columns="name", values="value")
        keys = con.execute("""SELECT r.resp_key FROM respondents r JOIN waves w USING (wave_id)
                              WHERE w.label = ? ORDER BY r.resp_key""", [wave]).fetchnumpy()["resp_key"]
        for c in texts:
            out[c] = wide[c].reindex(keys).to_numpy(dtype=object) if c in wide.columns else None
    return out


def _wave_items(con, wave: str) -> list[str]:
    return [r[0] for r in con.execute("""SELECT wi.item FROM wave_items wi JOIN waves w USING (wave_id)
                                         WHERE w.label = ? ORDER BY wi.position""", [wave]).fetchall()]


def _stored_text(con, wave: str, name: str) -> np.ndarray:
    """A segment's stored text per respondent of ``wave`` in import order (None where absent)."""
    rows = con.execute("""SELECT s.value FROM respondents r JOIN waves w USING (wave_id)
                          LEFT JOIN segments s ON s.wave_id = r.wave_id AND s.resp_key = r.resp_key AND s.name = ?
                          WHERE w.label = ? ORDER BY r.resp_key""", [name, wave]).fetchall()
    return np.array([r[0] for r in rows], dtype=object)


def export_wave(con, wave: str, fmt: Format = "csv") -> bytes:
    """Wave ``wave``'s responses as a file that ingest reads back unchanged (see the module doc)."""
    fmt = _fmt(fmt)
    frame = wave_frame(con, wave)
    scales = {str(r.item): (float(r.scale_min), float(r.scale_max)) for r in store.wave_scales(con, [wave]).itertuples()}
    sheet = _column_sheet(con, list(frame.columns), _segments(con, [wave]), _text_columns(con, [wave]), scales)
    return _to_bytes(frame, fmt, sheet, str(wave)[:31] or "data")


def weight_summary(con) -> pd.DataFrame:
    """Per wave holding a survey weight: ``wave``, ``n`` (respondents), ``n_weighted``, ``weight_min``,
    ``weight_mean``, ``weight_max``, ``n_effective`` (Kish); an empty frame when no wave has weights."""
    from csi.analytics.scales import kish_n

    cols = ["wave", "n", "n_weighted", "weight_min", "weight_mean", "weight_max", "n_effective"]
    rows = []
    for wave in store.wave_labels(con):
        text = _stored_text(con, wave, store.WEIGHT_SEGMENT)
        w = pd.to_numeric(pd.Series(text, dtype=object), errors="coerce").to_numpy(float)
        ok = w[np.isfinite(w)]
        if not ok.size:
            continue
        rows.append({"wave": wave, "n": int(len(w)), "n_weighted": int(ok.size), "weight_min": float(ok.min()),
                     "weight_mean": float(ok.mean()), "weight_max": float(ok.max()), "n_effective": kish_n(ok)})
    return pd.DataFrame(rows, columns=cols)
