"""``python -m csi report``: the standard CSI report as tidy files, built by :mod:`csi.report.build` (the same
engine the dashboard renders).

What is analysed (written to ``manifest.json`` too): ``--wave`` (repeatable; default every wave) and ``--segment
COL=VALUE`` filters; the focus is the last wave of the selection and the own brand (store settings ``own_brand``,
``competitor``, ``brand_column``; ``--own-brand``/``--competitor`` override them, ``--all-brands`` pools the
brands); survey weights whenever the selection has a complete ``weight`` column (``--no-weights`` turns them off,
``--weights COL`` names another column); the model bound to the items answered in every selected wave.

Files (UTF-8 CSV, formula-like text escaped): ``indices.csv``, ``scores.csv`` (the focus wave's construct scores
per respondent with ``wave`` and ``respondent_id``: the file ``fit --db`` writes for that wave), ``priorities.csv``,
``trends.csv``, ``changes.csv``, ``brands.csv``, ``competitor_gap.csv``, ``micom.csv`` (measurement invariance of
the two brands) and ``groups.csv`` (MGA; both permutation tests run on the ``--dask`` executor too),
``segments.csv``, ``nps.csv``, ``complaints.csv``, ``bands.csv``, ``classic/*.csv`` (with ``classic/servqual.csv``,
``classic/importance_gap.csv``, ``classic/complaints_iceberg.csv`` and, when expert weights are stored,
``classic/expert_hierarchy*.csv``),
``audit.csv`` and ``audit_link.csv`` when the store holds mystery-shopping audits (``ingest-audit``),
``verbatims_themes.csv`` when it holds open-text answers, for a national programme (an ``industry`` segment)
``industry.csv`` and ``league.csv`` (``--dask`` runs the group fits on Dask, ``--dataset`` lets workers read a
published Parquet dataset, ``--results`` is their shared result store), and ``manifest.json`` (selection, focus, settings, seeds,
versions, data version, files, notes), ``report.xlsx`` (every table as a sheet after a README sheet with the
manifest and the columns' meanings: :func:`csi.report.export.workbook_bytes`); and always the readable report, ``report.html`` (English) and
``report.zh.html`` (Chinese), the same HTML the dashboard's Downloads page gives (:mod:`csi.report.html`).
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from csi.errors import DataError


def selection_and_settings(args):
    """The CLI's flags as the engine's Selection and Settings (shared by ``report`` and ``fit --db``)."""
    from csi.report.build import Selection, Settings

    weights = False if getattr(args, "no_weights", False) else (getattr(args, "weights", None) or True)
    sel = Selection.of(waves=list(dict.fromkeys(args.wave)) if args.wave else None, segments=args.segment or [],
                       own_brand=getattr(args, "own_brand", None), competitor=getattr(args, "competitor", None),
                       own_brand_by_default=not getattr(args, "all_brands", False))
    kw = {}
    for name in ("scheme", "missing", "method", "target", "ci"):
        if getattr(args, name, None) is not None:
            kw[name] = getattr(args, name)
    if getattr(args, "no_standardize", False):
        kw["standardize"] = False
    if getattr(args, "plsc", False):
        kw["plsc"] = True
    return sel, Settings(model=args.model, weights=weights, bootstrap=int(args.bootstrap), seed=int(args.seed), **kw)


def run(args) -> int:
    from csi.cli.main import default_db
    from csi.report.build import build_report, write_report
    from csi.report.html import write_html
    from csi.runtime.cache import FitCache

    db = Path(args.db) if args.db is not None else default_db()
    n_boot = int(args.bootstrap)
    if n_boot != 0 and n_boot < 2:
        raise DataError(f"--bootstrap must be 0 or at least 2, got {n_boot}")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise DataError(f"--out {str(out)!r} exists and is not a folder")
    sel, settings = selection_and_settings(args)
    import contextlib

    from csi.runtime.execution import executor_for

    dask = getattr(args, "dask", None)  # --dask local[:N] = a LocalCluster of N workers; else an address
    spec = None if dask is None else (dask.replace("local", "dask-local", 1) if dask.startswith("local") else dask)
    with (executor_for(spec) if spec else contextlib.nullcontext()) as executor:  # None: 2 local processes
        rep = build_report(db, sel, settings, cache=FitCache(), workers=2, executor=executor,
                           dataset=getattr(args, "dataset", None), results=getattr(args, "results", None))
    from csi.analytics.servqual import store_views  # management importance gap, expert-weighted hierarchy

    extra, extra_manifest, extra_notes = store_views(db, rep)
    rep.tables.update(extra)
    rep.manifest.setdefault("classic", {}).update(extra_manifest)
    out.mkdir(parents=True, exist_ok=True)
    written = write_report(rep, out)
    from csi.report.export import write_workbook  # report.xlsx: the Downloads page's workbook (README + manifest)

    write_workbook(rep.tables, out / "report.xlsx", rep.manifest)
    written["report.xlsx"] = len(rep.tables)
    written.update(write_html(rep, out))  # report.html (English) and report.zh.html: the dashboard's HTML report
    prep = rep.prepared
    idx = rep.tables["indices"].set_index("construct")["index"]
    sat = idx.get("SAT")
    print(f"report for {prep.focus_wave}{' / ' + str(prep.focus_brand) if prep.focus_brand else ''}"
          f"{' (weighted by ' + prep.weight_col + ')' if prep.weight_col else ' (unweighted)'}: "
          f"{len(rep.fits) + len(rep.brand_fits)} group fits, {n_boot} resamples each"
          + (f"; satisfaction index {sat:.1f}" if sat is not None and np.isfinite(sat) else ""))
    print(f"wrote {len(written) + 1} files to {out} in {rep.manifest['elapsed_seconds']} s")
    for n in rep.notes:
        print(f"  note: {n['message']}", file=sys.stderr)
    for n in extra_notes:
        print(f"  note: {n}", file=sys.stderr)
    return 0
