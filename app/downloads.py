"""Builders of the researcher's downloads: CSV, Excel workbook, JSON, bootstrap draws and the manifest, all from
named tidy tables. The CSV/Excel/JSON writers are :mod:`csi.report.export`'s (the CLI ``report`` writes its
``report.xlsx`` with the same :func:`workbook_bytes`); this module re-exports them for the pages, composes what the
Downloads page offers (:func:`download_tables`) and holds the one per-table download helper of the pages
(:func:`download_buttons`, the only function here that touches streamlit).

Spreadsheet safety: every text cell (and column name) that a spreadsheet would run as a formula —
starting with ``= + - @`` or a tab/CR — is escaped with a leading ``'`` by
:func:`csi.export.escape_frame`, the product's one escaping rule, in CSV and Excel alike. Numbers are
never touched: a downloaded CSV re-imports to the same float64 values, the workbook to 16 significant digits
(openpyxl writes numbers with ``%.16g``).
"""
from __future__ import annotations

import re
from typing import Mapping

import numpy as np
import pandas as pd

from csi.report.export import (csv_bytes, escape_frame, fit_table, json_bytes, jsonable, sheet_name,  # noqa: F401
                               workbook_bytes)


def download_tables(fit, extra: Mapping[str, pd.DataFrame] | None = None,
                    research: Mapping[str, pd.DataFrame | None] | None = None) -> dict[str, pd.DataFrame]:
    """Every table the Downloads page offers for one fit (a :class:`csi.report.analyze.FitResult`): the fit's
    tables (what ``python -m csi fit`` writes as CSV), ``model_fit`` (its ``fit.json`` as a table), the simple
    slopes of an interaction model (``simple_slopes.csv``), then ``research`` (e.g. the report's ``micom``; None
    or empty tables left out) and ``extra`` (trend, changes, NPS, scales of the selection)."""
    from csi.report.build import simple_slopes_table

    out = dict(fit.tables)
    ft = fit_table(fit.fit)
    if len(ft):
        out["model_fit"] = ft
    slopes = simple_slopes_table(fit)
    if slopes is not None:
        out["simple_slopes"] = slopes
    for name, df in (research or {}).items():
        if df is not None and len(df):
            out[name] = df
    out.update(extra or {})
    return out


def table_manifest(prep=None, extra: Mapping | None = None) -> dict:
    """The manifest of a page's table download: the report engine's manifest of the selection behind it
    (:func:`csi.report.build.report_manifest`: source, data version, waves, filters, model, settings, seed,
    versions, time) when its Prepared ``prep`` is given, else the time and versions; plus ``extra``."""
    from datetime import datetime, timezone

    from csi.runtime.provenance import versions

    if prep is not None:
        from csi.report.build import report_manifest

        base = report_manifest(prep, {}, None)
        base.pop("elapsed_seconds", None)
        base.pop("classic", None)
        base["command"] = "dashboard table download"
    else:
        base = {"command": "dashboard table download",
                "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"), "versions": versions()}
    return {**base, **dict(extra or {})}


def download_buttons(tables: Mapping[str, pd.DataFrame] | pd.DataFrame | None, name: str, lang: str,
                     manifest: Mapping | None = None, *, prep=None, where=None, key: str | None = None) -> None:
    """A CSV and an Excel download of ``tables`` (one table, or several as one workbook with a sheet each; the CSV
    is the first table) named ``name``, side by side in ``where`` (default the page): the pages' one per-table
    download, one call per result table. The bytes are :func:`csv_bytes` / :func:`workbook_bytes`, the Downloads
    page's own; the workbook's README sheet carries :func:`table_manifest` (``prep``: the selection's Prepared)
    with ``manifest``. Built only when clicked. Nothing is shown for no table."""
    import streamlit as st

    from csi.text.i18n import t

    if tables is None:
        return
    if isinstance(tables, pd.DataFrame):
        tables = {name: tables}
    tables = {k: v for k, v in tables.items() if v is not None and len(v)}
    if not tables:
        return
    first = next(iter(tables.values()))
    key = key or f"dlb_{re.sub(r'[^0-9A-Za-z_]', '_', name)}"
    box = where if where is not None else st
    c1 = c2 = box.container(horizontal=True)  # side by side, each as wide as its label (columns clipped them)
    helptext = t("dl_table_help", lang, name=name)
    c1.download_button(t("dl_table_csv", lang), lambda: csv_bytes(first), file_name=f"{name}.csv", mime="text/csv",
                       key=f"{key}_csv", on_click="ignore", help=helptext, icon=":material/download:")
    c2.download_button(t("dl_table_xlsx", lang),
                       lambda: workbook_bytes(tables, table_manifest(prep, manifest), lang),
                       file_name=f"{name}.xlsx", key=f"{key}_xlsx", on_click="ignore", help=helptext,
                       mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                       icon=":material/download:")


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
