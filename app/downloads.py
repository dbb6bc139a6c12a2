"""Pure builders of the researcher's downloads (no streamlit): CSV, Excel workbook, JSON, bootstrap
draws and the manifest, all from named tidy tables.

Spreadsheet safety: every text cell (and column name) that a spreadsheet would run as a formula —
starting with ``= + - @`` or a tab/CR — is escaped with a leading ``'`` by
:func:`csi.export.escape_frame`, the product's one escaping rule, in CSV and Excel alike. Numbers are
never touched, so a downloaded table re-imports to the same float64 values.
"""
from __future__ import annotations

import io
import json
import re
from typing import Mapping

import numpy as np
import pandas as pd

from csi.report.export import escape_frame, jsonable  # noqa: F401 - jsonable re-exported for the pages

_SHEET_BAD = re.compile(r"[\[\]\*\?/\\:]")


def csv_bytes(df: pd.DataFrame) -> bytes:
    """UTF-8 CSV of ``df`` (no index) with formula-like text escaped; floats written round-trip exact."""
    return escape_frame(df).to_csv(index=False, lineterminator="\n").encode("utf-8")


def sheet_name(name: str, taken: set[str]) -> str:
    """An Excel-legal, unique sheet name (≤ 31 characters, none of ``[]*?/\\:``)."""
    base = _SHEET_BAD.sub("_", str(name))[:31] or "sheet"
    out, k = base, 2
    while out.lower() in taken:
        suffix = f"_{k}"
        out, k = base[: 31 - len(suffix)] + suffix, k + 1
    taken.add(out.lower())
    return out


def workbook_bytes(tables: Mapping[str, pd.DataFrame]) -> bytes:
    """One .xlsx with a sheet per table (escaped like the CSVs), in the order given."""
    buf = io.BytesIO()
    taken: set[str] = set()
    with pd.ExcelWriter(buf, engine="openpyxl") as xw:
        for name, df in tables.items():
            frame = escape_frame(_excel_safe(df))
            frame.to_excel(xw, sheet_name=sheet_name(name, taken), index=False)
    return buf.getvalue()


def _excel_safe(df: pd.DataFrame) -> pd.DataFrame:
    """Excel cannot store timezone-aware datetimes or pandas NA in some dtypes: make them plain."""
    out = df.copy()
    for c in out.columns:
        s = out[c]
        if isinstance(s.dtype, pd.DatetimeTZDtype):
            out[c] = s.dt.tz_localize(None)
        elif isinstance(s.dtype, pd.CategoricalDtype):
            out[c] = s.astype(object)
        elif str(s.dtype) in ("boolean", "Int64", "Float64", "string", "str"):
            out[c] = s.astype(object).where(s.notna(), None)
    return out


def json_bytes(tables: Mapping[str, pd.DataFrame], manifest: Mapping) -> bytes:
    """``{"manifest": ..., "tables": {name: [records]}}`` as UTF-8 JSON (non-finite → null)."""
    doc = {"manifest": manifest,
           "tables": {name: df.astype(object).where(df.notna(), None).to_dict(orient="records")
                      for name, df in tables.items()}}
    return json.dumps(jsonable(doc), ensure_ascii=False, indent=1).encode("utf-8")


#: bootstrap kind -> (lavaan operator, label column of lhs, label column of rhs or None = empty)
DRAW_OPS = {
    "paths": ("~", "to", "from"), "total_effects": ("total", "to", "from"),
    "loadings": ("=~", "construct", "indicator"), "weights": ("<~", "construct", "indicator"),
    "r2": ("r2", "construct", "construct"), "htmt": ("htmt", "construct_1", "construct_2"),
    "item_mean": ("mean", "indicator", None), "item_sd": ("sd", "indicator", None),
}
DRAW_COLUMNS = ["draw", "kind", "lhs", "op", "rhs", "value"]


def draws_long(boot) -> pd.DataFrame:
    """Every bootstrap draw as one long table in lavaan's terms: draw, kind, lhs, op, rhs, value.

    ``draw`` is the resample's number (the index of ``boot.draws``); rows are kind by kind, parameter by
    parameter, draw by draw. Operators (:data:`DRAW_OPS`): ``~`` paths and ``total`` total effects (lhs
    outcome, rhs predictor), ``=~`` loadings and ``<~`` weights (lhs construct, rhs indicator), ``r2``
    (lhs = rhs = construct), ``htmt`` (lhs construct_1, rhs construct_2), ``mean`` / ``sd`` item moments
    (lhs indicator, rhs empty). The labels are the bootstrap's own (:meth:`BootstrapResult.labels`).
    A resample a kind dropped (PLSc-inadmissible, for the PLSc kinds) keeps its row with value NaN.
    """
    frames = []
    for kind, d in boot.draws.items():
        if d is None or d.empty:
            continue
        op, lhs, rhs = DRAW_OPS[kind]
        lab = boot.labels(kind)
        B = len(d)
        frames.append(pd.DataFrame({
            "draw": np.tile(d.index.to_numpy(), d.shape[1]), "kind": kind,
            "lhs": np.repeat(lab[lhs].to_numpy(object), B), "op": op,
            "rhs": np.repeat(lab[rhs].to_numpy(object), B) if rhs else "",
            "value": d.to_numpy(float).ravel(order="F")}))
    if not frames:
        return pd.DataFrame(columns=DRAW_COLUMNS)
    return pd.concat(frames, ignore_index=True)
