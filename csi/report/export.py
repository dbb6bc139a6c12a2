"""Result files: tidy CSV tables, ``fit.json``, ``manifest.json`` and ``model.lavaan``.

:func:`safe_csv` is the one CSV writer of the product (the app and the report reuse it): UTF-8 with a
BOM-free header, no index, and text cells that a spreadsheet would run as a formula (starting with
``=``, ``+``, ``-`` or ``@``, also after leading tab/CR, per OWASP "CSV injection") prefixed with ``'``.
Numbers are never touched: a negative path coefficient stays ``-0.12``.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from csi.errors import CSIError

_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def _escape_cell(v: Any) -> Any:
    if isinstance(v, str) and v.startswith(_TRIGGERS):
        return "'" + v
    return v


def escape_frame(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``df`` with formula-like TEXT cells (and column names) escaped; numbers unchanged."""
    out = df.copy()
    for c in out.columns:
        s = out[c]
        if pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s):
            continue
        out[c] = s.map(_escape_cell, na_action="ignore") if not isinstance(s.dtype, pd.CategoricalDtype) \
            else s.astype(object).map(_escape_cell, na_action="ignore")
    out.columns = [_escape_cell(str(c)) for c in out.columns]
    return out


def safe_csv(df: pd.DataFrame, path: str | Path, *, index: bool = False) -> Path:
    """Write ``df`` as UTF-8 CSV at ``path`` with spreadsheet-formula text escaped (see module doc).

    ``index=True`` writes the index as the first column (escaped like any text)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    frame = df.reset_index() if index else df
    escape_frame(frame).to_csv(path, index=False, encoding="utf-8", lineterminator="\n")
    return path


def jsonable(o: Any) -> Any:
    """Plain JSON values: numpy numbers as Python numbers, non-finite numbers and pandas NA as None, paths and
    other objects as text (the one rule for every manifest and JSON download)."""
    if o is pd.NA or o is pd.NaT:
        return None
    if isinstance(o, dict):
        return {str(k): jsonable(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [jsonable(v) for v in o]
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating, float)):
        f = float(o)
        return f if math.isfinite(f) else None
    if isinstance(o, (np.bool_,)):
        return bool(o)
    if isinstance(o, np.ndarray):
        return jsonable(o.tolist())
    if isinstance(o, Path):
        return str(o)
    if o is None or isinstance(o, (str, int, bool)):
        return o
    return str(o)


def write_json(obj: Any, path: str | Path) -> Path:
    """UTF-8 JSON (non-finite numbers become ``null``; Chinese text kept readable)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(jsonable(obj), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return path


# table name → does it keep its index as a column
_TABLES = ("params", "paths", "outer", "constructs", "effects", "htmt", "scores", "cross_loadings", "f2", "priorities",
           "indirect", "predict", "nca", "bottlenecks")


def write_results(fit, out_dir: str | Path) -> dict[str, Path]:
    """Write a :class:`csi.fit.FitResult` into ``out_dir`` (created if needed).

    Files: one CSV per table present (``params``, ``paths``, ``outer``, ``constructs``, ``effects``, ``htmt``,
    ``scores``, ``cross_loadings``, ``f2``, ``priorities``; ``indirect`` after a bootstrap; ``predict``, ``nca``,
    ``bottlenecks`` when asked for), ``fit.json`` (CB-SEM fit statistics; PLS: SRMR, d_ULS, d_G, NFI of the saturated
    and estimated model, with Bollen-Stine quantiles after a bootstrap), ``manifest.json`` and ``model.lavaan``.
    Returns ``{file name: path}``.
    """
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise CSIError(f"cannot create the output folder {str(out)!r}: {e.strerror or e}") from None
    if not out.is_dir():
        raise CSIError(f"the output path {str(out)!r} is not a folder")
    written: dict[str, Path] = {}
    try:
        for name in _TABLES:
            if name in fit.tables and fit.tables[name] is not None:
                written[f"{name}.csv"] = safe_csv(fit.tables[name], out / f"{name}.csv")
        written["fit.json"] = write_json(fit.fit or {}, out / "fit.json")
        manifest = dict(fit.manifest)
        manifest["files"] = sorted([*written, "manifest.json", "model.lavaan"])
        written["manifest.json"] = write_json(manifest, out / "manifest.json")
        p = out / "model.lavaan"
        p.write_text(fit.manifest.get("model_syntax", ""), encoding="utf-8")
        written["model.lavaan"] = p
    except OSError as e:
        raise CSIError(f"cannot write results into {str(out)!r}: {e.strerror or e}") from None
    return written
