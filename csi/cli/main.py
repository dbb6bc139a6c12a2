"""Command line: ``python -m csi COMMAND ...``.

The argument contract is stable (scripts and tests depend on it). Every
expected failure (:class:`csi.errors.CSIError`) prints its reasons to stderr
and exits with code 2; nothing prints a traceback for bad input.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from pathlib import Path

from csi.errors import CSIError, InputError, log_incident, new_incident, public_message, public_text

DEFAULT_DB = Path("data") / "csi.duckdb"


def default_db() -> Path:
    return Path(os.environ.get("CSI_DB") or DEFAULT_DB)


def _scale(text: str) -> tuple[float, float]:
    try:
        lo, hi = (float(x) for x in text.replace("–", "-").split("-", 1)) if not text.startswith("-") else _neg(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--scale must look like MIN-MAX (e.g. 1-10), got {text!r}")
    if not lo < hi:
        raise argparse.ArgumentTypeError(f"--scale MIN must be below MAX, got {text!r}")
    return lo, hi


def _neg(text: str) -> tuple[float, float]:
    # "-3-3" → (-3, 3)
    head, _, tail = text[1:].partition("-")
    return -float(head), float(tail)


def _segment(text: str) -> tuple[str, str]:
    col, sep, val = text.partition("=")
    if not sep or not col:
        raise argparse.ArgumentTypeError(f"--segment must look like COLUMN=VALUE, got {text!r}")
    return col.strip(), val.strip()


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m csi", description="Customer-satisfaction-index analytics.")
    p.add_argument("--version", action="version", version=f"csi {__import__('csi').__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def weight_args(sp):
        g = sp.add_mutually_exclusive_group()
        g.add_argument("--weights", default=None, metavar="COL",
                       help="survey-weight column (default: the 'weight' column whenever every respondent has one)")
        g.add_argument("--no-weights", action="store_true", help="ignore survey weights")

    def brand_args(sp):
        sp.add_argument("--own-brand", default=None, help="focus brand (default: the store setting own_brand)")
        sp.add_argument("--competitor", default=None, help="competitor (default: the store setting competitor)")
        sp.add_argument("--all-brands", action="store_true",
                        help="analyse all brands pooled instead of the own brand")

    def db_arg(sp):
        sp.add_argument("--db", type=Path, default=None, help=f"DuckDB database file (default: $CSI_DB or {DEFAULT_DB})")

    sp = sub.add_parser("demo", help="create the demo database (seeded telecom survey, several waves)")
    db_arg(sp)
    sp.add_argument("--seed", type=int, default=20240601, help="random seed of the generator")
    sp.add_argument("--force", action="store_true", help="replace an existing demo database file")
    sp.add_argument("--national", dest="handler", action="store_const", const="csi.data.national:run_cli",
                    help="a national programme instead (industries x companies x 4 waves; truth saved beside the DB)")
    sp.set_defaults(handler="csi.cli_data:run_demo")

    sp = sub.add_parser("publish", help="write the published waves as a partitioned Parquet dataset (cluster input)")
    sp.add_argument("dir", type=Path, help="output folder of the dataset")
    db_arg(sp)
    sp.add_argument("--by", choices=["company", "wave"], default="company",
                    help="partitions: wave/industry/company (default; wave/brand without an industry) or wave only")
    sp.set_defaults(handler="csi.data.publish:run_cli")

    sp = sub.add_parser("ingest", help="validate a survey file and store it as one wave (all or nothing)")
    sp.add_argument("file", type=Path)
    sp.add_argument("--wave", required=True, help="label of the new wave, e.g. 2025Q3")
    sp.add_argument("--scale", type=_scale, default=None, help="response scale of every rating item, MIN-MAX")
    sp.add_argument("--missing", default=None, help="extra missing-value codes, comma separated (e.g. 99,NA,不知道)")
    sp.add_argument("--field-start", default=None, help="first fieldwork date (YYYY-MM-DD)")
    sp.add_argument("--field-end", default=None, help="last fieldwork date (YYYY-MM-DD)")
    sp.add_argument("--require-all-items", action="store_true",
                    help="reject a file that lacks dictionary items (default: accept and warn, naming them)")
    sp.add_argument("--keep-column", action="append", default=None, metavar="COL",
                    help="keep a column that is neither an item nor a known segment as a segment (repeatable; "
                         "default: such columns are dropped with a warning naming them)")
    sp.add_argument("--text-columns", type=lambda v: [c.strip() for c in v.split(",") if c.strip()], default=None,
                    metavar="A,B", help="store these columns as open-text answers (verbatims); comment-like "
                                        "columns are found by name and content anyway")
    sp.add_argument("--problems-out", type=Path, default=None, metavar="FILE",
                    help="on rejection, write every problem (not only the first 50 printed) to FILE as CSV")
    db_arg(sp)
    sp.set_defaults(handler="csi.cli_data:run_ingest")

    # ingest-inbox (deployment: compose.yaml's scheduled ingest job; handler csi/cli/inbox.py)
    sp = sub.add_parser("ingest-inbox", help="ingest every survey file of an inbox folder (each all or nothing), "
                                             "then move it to an archive or, with its reasons, to failed/")
    sp.add_argument("inbox", type=Path, metavar="DIR", help="the inbox folder")
    db_arg(sp)
    sp.add_argument("--archive", type=Path, default=None, help="where accepted files go (default DIR/archive)")
    sp.add_argument("--failed", type=Path, default=None,
                    help="where rejected files go, each with NAME.reasons.txt (default DIR/failed)")
    sp.add_argument("--pattern", default=None, metavar="REGEX",
                    help="wave label from the file name: a regular expression with a group 'wave' (default: "
                         "2026Q1, 2026-Q1, 2026_H2, 2026-03 in the name); a sidecar NAME.json {\"wave\": ...} wins")
    sp.add_argument("--scale", type=_scale, default=None, help="response scale of every rating item, MIN-MAX")
    sp.add_argument("--missing", default=None, help="extra missing-value codes, comma separated")
    sp.add_argument("--require-all-items", action="store_true", help="reject a file that lacks dictionary items")
    sp.add_argument("--keep-column", action="append", default=None, metavar="COL",
                    help="keep a column that is neither an item nor a known segment as a segment (repeatable)")
    sp.add_argument("--settle", type=float, default=10.0, metavar="SECONDS",
                    help="leave files changed during the last SECONDS for a later run (still being copied)")
    sp.add_argument("--every", type=float, default=None, metavar="SECONDS", help="scan again every SECONDS")
    sp.add_argument("--max-runs", type=int, default=None, metavar="N", help="stop after N scans")
    sp.set_defaults(handler="csi.cli.inbox:run")

    sp = sub.add_parser("waves", help="list waves with respondent counts")
    db_arg(sp)
    sp.set_defaults(handler="csi.cli_data:run_waves")

    sp = sub.add_parser("target", help="show or set the targets of indices and NPS (alerts when missed)")
    sp.add_argument("construct", nargs="?", help="construct code (SAT, LOY, ...) or NPS")
    sp.add_argument("value", nargs="?", type=float, help="target value (0-100 for indices, -100..100 for NPS)")
    sp.add_argument("--clear", action="store_true", help="remove the target of CONSTRUCT")
    db_arg(sp)
    sp.set_defaults(handler="csi.cli_data:run_target")

    sp = sub.add_parser("rename-wave", help="rename a wave")
    sp.add_argument("old")
    sp.add_argument("new")
    db_arg(sp)
    sp.set_defaults(handler="csi.cli_data:run_rename")

    sp = sub.add_parser("delete-wave", help="move a wave and its responses to the trash (restore-wave undoes it)")
    sp.add_argument("label")
    sp.add_argument("--confirm", default=None, help="repeat the label to confirm without a prompt")
    db_arg(sp)
    sp.set_defaults(handler="csi.cli_data:run_delete")

    sp = sub.add_parser("trash", help="list deleted waves and audit periods (kind, label, deleted by, when, n)")
    db_arg(sp)
    sp.set_defaults(handler="csi.cli_data:run_trash")

    sp = sub.add_parser("restore-wave", help="bring a deleted wave back from the trash, rows unchanged")
    sp.add_argument("label")
    db_arg(sp)
    sp.set_defaults(handler="csi.cli_data:run_restore")

    sp = sub.add_parser("purge-trash", help="delete trashed waves and audit periods for good")
    sp.add_argument("--older-than", type=float, default=None, metavar="DAYS",
                    help="only those deleted more than DAYS days ago (default: all)")
    db_arg(sp)
    sp.set_defaults(handler="csi.cli_data:run_purge")

    sp = sub.add_parser("audit", help="print the audit log of every write (who, when, what), newest first")
    sp.add_argument("--limit", type=int, default=50, metavar="N", help="entries to print (default 50)")
    sp.add_argument("--json", action="store_true", help="JSON instead of a table")
    db_arg(sp)
    sp.set_defaults(handler="csi.cli_data:run_audit")

    sp = sub.add_parser("backup", help="copy the current version of the store and a manifest into DIR (safe while "
                                       "the app runs)")
    sp.add_argument("dir", type=Path)
    db_arg(sp)
    sp.set_defaults(handler="csi.cli_data:run_backup")

    sp = sub.add_parser("restore-backup", help="make a backup file the current version of the store (audited)")
    sp.add_argument("file", type=Path)
    db_arg(sp)
    sp.set_defaults(handler="csi.cli_data:run_restore_backup")

    # analyst tools (csi/cli/analyst.py): wave template, raw export of a wave, merged segment values
    sp = sub.add_parser("template", help="a blank file for a new wave: id, segments, weight and the dictionary's "
                                         "items (XLSX adds a sheet with question texts, scales, missing codes)")
    db_arg(sp)
    sp.add_argument("--out", type=Path, required=True, help="FILE.csv (header only, UTF-8 with BOM) or FILE.xlsx")
    sp.set_defaults(handler="csi.cli.analyst:run_template")
    sp = sub.add_parser("export-wave", help="a wave's responses as stored (CSV or XLSX); ingest reads it back "
                                            "unchanged")
    db_arg(sp)
    sp.add_argument("--wave", required=True, help="wave label")
    sp.add_argument("--out", type=Path, required=True, help="FILE.csv or FILE.xlsx")
    sp.set_defaults(handler="csi.cli.analyst:run_export_wave")
    sp = sub.add_parser("recode", help="merge segment values (East = 华东) in every view; the stored rows are "
                                       "unchanged (audited); without a change, print the mapping")
    db_arg(sp)
    sp.add_argument("--segment", default=None, help="segment name, e.g. region")
    sp.add_argument("--map", action="append", default=None, metavar="FROM=TO", help="show FROM as TO (repeatable)")
    sp.add_argument("--unmap", action="append", default=None, metavar="FROM", help="remove FROM's recode (repeatable)")
    sp.add_argument("--clear", action="store_true", help="remove every recode of the segment (before --map)")
    sp.set_defaults(handler="csi.cli.analyst:run_recode")

    sp = sub.add_parser("items", help="print the item dictionary")
    db_arg(sp)
    sp.set_defaults(handler="csi.cli_data:run_items")

    sp = sub.add_parser("fit", help="estimate a CSI model (PLS-PM or CB-SEM) and write tidy result files")
    src = sp.add_mutually_exclusive_group(required=True)
    src.add_argument("--data", type=Path, help="CSV/XLSX/SAV file to analyse directly")
    src.add_argument("--db", type=Path, help="DuckDB database")
    sp.add_argument("--wave", action="append", default=None,
                    help="wave label (repeatable; default the latest wave; several waves are pooled)")
    sp.add_argument("--segment", action="append", type=_segment, default=None, help="COLUMN=VALUE filter (repeatable)")
    sp.add_argument("--model", default="ccsi", help="ccsi, ecsi, acsi or a .lavaan file")
    sp.add_argument("--method", choices=["pls", "cbsem"], default="pls")
    sp.add_argument("--scheme", choices=["path", "centroid", "factorial"], default="path")
    sp.add_argument("--no-standardize", action="store_true", help="centre indicators only (plspm scaled=FALSE)")
    sp.add_argument("--plsc", action="store_true", help="consistent PLS (Dijkstra & Henseler 2015)")
    sp.add_argument("--missing", choices=["listwise", "mean", "fiml"], default="listwise",
                    help="missing data: listwise or mean replacement (PLS), listwise or FIML (CB-SEM)")
    sp.add_argument("--bootstrap", type=int, default=0, metavar="N", help="bootstrap resamples (0 = none)")
    sp.add_argument("--seed", type=int, default=1, help="random seed of the bootstrap")
    sp.add_argument("--ci", choices=["percentile", "bca"], default="percentile",
                    help="bootstrap confidence intervals of paths, weights, loadings and effects")
    weight_args(sp)
    brand_args(sp)
    sp.add_argument("--scale", type=_scale, default=None, help="theoretical scale of every item, MIN-MAX (--data)")
    sp.add_argument("--target", default=None, help="IPMA target construct (default satisfaction)")
    # research methods (PLS): PLSpredict, cIPMA (NCA); indirect.csv and the model fit come with every PLS fit
    sp.add_argument("--predict", action="store_true", help="PLSpredict: out-of-sample prediction vs LM (predict.csv)")
    sp.add_argument("--folds", type=int, default=10, metavar="K", help="PLSpredict folds (n = leave-one-out)")
    sp.add_argument("--reps", type=int, default=10, metavar="R", help="PLSpredict repetitions")
    sp.add_argument("--nca", action="store_true",
                    help="cIPMA: necessary condition analysis of the IPMA drivers (nca.csv, bottlenecks.csv)")
    # higher-order constructs (SQ =~ TANG + REL) and interaction terms (SAT ~ VAL + PRICE + VAL:PRICE) in the syntax
    sp.add_argument("--hoc", choices=["two_stage", "repeated"], default=None,
                    help="higher-order constructs: two-stage (default) or repeated indicators")
    sp.add_argument("--interaction", choices=["two_stage", "product", "orthogonal"], default=None,
                    help="interaction terms: two-stage (default), product indicators or orthogonalised products "
                         "(simple_slopes.csv)")
    sp.add_argument("--out", type=Path, required=True, help="output folder")
    sp.set_defaults(handler="csi.cli_fit:run")

    sp = sub.add_parser("report", help="indices, priorities, trends, NPS, group tests and classic views")
    db_arg(sp)
    sp.add_argument("--wave", action="append", default=None)
    sp.add_argument("--segment", action="append", type=_segment, default=None)
    sp.add_argument("--model", default="ccsi")
    sp.add_argument("--bootstrap", type=int, default=500, metavar="N", help="resamples per group (0 = none)")
    sp.add_argument("--seed", type=int, default=1)
    brand_args(sp)
    weight_args(sp)
    sp.add_argument("--out", type=Path, required=True)
    sp.add_argument("--dask", default=None, metavar="ADDRESS",
                    help="run the group fits on Dask: local[:N] (a LocalCluster of N workers), dask://HOST:PORT or "
                         "tcp://HOST:PORT (default: 2 local processes)")
    sp.add_argument("--dataset", type=Path, default=None,
                    help="published Parquet dataset (python -m csi publish): workers read their company-wave there")
    sp.add_argument("--results", type=Path, default=None, help="result-store folder shared with the workers")
    sp.set_defaults(handler="csi.cli_report:run")

    # verbatims: open-text answers next to the scores (handler csi/cli/verbatims.py)
    sp = sub.add_parser("verbatims", help="open-text answers (verbatims) with wave, segments and satisfaction, and "
                                          "their theme counts per driver")
    db_arg(sp)
    sp.add_argument("--wave", action="append", default=None, help="wave label (repeatable; default every wave)")
    sp.add_argument("--segment", action="append", type=_segment, default=None, help="COLUMN=VALUE filter (repeatable)")
    sp.add_argument("--search", default=None, metavar="TERM", help="only comments containing TERM (any case; "
                                                                   "%% and _ are literal)")
    sp.add_argument("--band", action="append", choices=["low", "mid", "high"], default=None,
                    help="satisfaction band: low (up to 60), mid (60-80), high (above 80); repeatable")
    sp.add_argument("--limit", type=int, default=50, metavar="N", help="comments printed (default 50; 0 = all)")
    sp.add_argument("--json", action="store_true", help="JSON: themes and comments")
    sp.set_defaults(handler="csi.cli.verbatims:run")

    # classic service-quality tools (csi.cli.classic): AHP / expert weights, the management importance survey
    sp = sub.add_parser("ahp", help="AHP weights of a pairwise comparison matrix (CSV): weights, lambda_max, CI, "
                                    "CR as JSON")
    sp.add_argument("matrix", type=Path, help="CSV: first row and first column the same names; 1/3 allowed")
    sp.add_argument("--allow-inconsistent", action="store_true", help="accept CR >= 0.10")
    sp.set_defaults(handler="csi.cli.classic:run_ahp")
    sp = sub.add_parser("expert-weights", help="validate expert weights (direct or AHP, JSON) and store them for "
                                               "the weighted hierarchy and fuzzy evaluation")
    sp.add_argument("file", type=Path, help='JSON {"first_level": {...}, "items": {attribute: {...}}}')
    sp.add_argument("--allow-inconsistent", action="store_true", help="accept AHP matrices with CR >= 0.10")
    db_arg(sp)
    sp.set_defaults(handler="csi.cli.classic:run_expert_weights")
    sp = sub.add_parser("ingest-management", help="validate a management importance survey (one row per manager, "
                                                  "one column per dimension) and store it (all or nothing)")
    sp.add_argument("file", type=Path, help="CSV or XLSX: manager, REL, ASS, TAN, EMP, RES (or drivers)")
    sp.add_argument("--kind", choices=("rating", "rank"), default="rating", help="ratings (default) or ranks 1..k")
    db_arg(sp)
    sp.set_defaults(handler="csi.cli.classic:run_ingest_management")

    # mystery-shopping audits (csi.cli.audit): one audit period per file, all or nothing
    sp = sub.add_parser("ingest-audit", help="validate a mystery-shopping audit file (outlet, category, points "
                                             "possible, points obtained) and store it as one audit period")
    sp.add_argument("file", type=Path, help="CSV or XLSX: outlet, category, possible, obtained [, note, total, region]")
    sp.add_argument("--period", required=True, help="label of the audit period, e.g. 2025H2")
    sp.add_argument("--replace", action="store_true",
                    help="replace an audit period of that label (audited): its old version goes to the trash in "
                         "the same write, and restore-audit PERIOD --replace brings it back (moving the new one "
                         "to the trash; run it again to swap back)")
    sp.add_argument("--strict-outlets", action="store_true",
                    help="refuse outlets not audited in earlier periods (default: a warning)")
    db_arg(sp)
    sp.set_defaults(handler="csi.cli.audit:run_ingest_audit")
    sp = sub.add_parser("audits", help="list the stored mystery-shopping audit scores per period and outlet")
    sp.add_argument("--json", action="store_true", help="every period x outlet x category row as JSON")
    sp.add_argument("--periods", action="store_true", help="list the audit periods (file, when, by whom, rows)")
    db_arg(sp)
    sp.set_defaults(handler="csi.cli.audit:run_audits")
    sp = sub.add_parser("delete-audit", help="move a mystery-shopping audit period to the trash (audited; "
                                             "restore-audit undoes it)")
    sp.add_argument("period")
    db_arg(sp)
    sp.set_defaults(handler="csi.cli.audit:run_delete_audit")
    sp = sub.add_parser("restore-audit", help="bring a deleted mystery-shopping audit period back from the trash, "
                                              "rows unchanged (audited); the most recent one of that label")
    sp.add_argument("period")
    sp.add_argument("--replace", action="store_true",
                    help="when a period of that label exists now (ingest-audit --replace), move it to the trash in "
                         "the same write instead of refusing")
    db_arg(sp)
    sp.set_defaults(handler="csi.cli.audit:run_restore_audit")

    sp = sub.add_parser("brief", help="board brief of a wave and brand as PPTX or PDF (2-4 slides/pages)")
    db_arg(sp)
    sp.add_argument("--wave", default=None, help="focus wave (default the latest; earlier waves give the trend)")
    sp.add_argument("--brand", default=None, help="whose brief (default the store setting own_brand)")
    sp.add_argument("--lang", choices=["en", "zh"], default="en", help="language of the brief")
    sp.add_argument("--model", default="ccsi")
    sp.add_argument("--bootstrap", type=int, default=500, metavar="N", help="resamples per group (0 = none)")
    sp.add_argument("--seed", type=int, default=1)
    sp.add_argument("--out", type=Path, required=True, help="brief.pptx or brief.pdf (the format follows the suffix)")
    sp.set_defaults(handler="csi.cli.brief:run")
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # argparse already printed usage; bad usage is exit 2
        return int(e.code or 0)
    module, func = args.handler.split(":")
    try:
        handler = getattr(importlib.import_module(module), func)
        return int(handler(args) or 0)
    except InputError as e:
        from csi.data.ingest import count_problems

        errors = [p for p in e.problems if p.severity == "error"]
        n = count_problems(e.problems, "error") or len(errors)  # the true total, not the lines listed
        print(f"rejected: {n} problem{'s' if n != 1 else ''}; the database is unchanged.", file=sys.stderr)
        ordered = errors + [p for p in e.problems if p.severity != "error"]
        for prob in ordered[:50]:
            print(f"  {prob.severity}: {public_message(prob)}", file=sys.stderr)
        if len(ordered) > 50:
            print(f"  ... and {len(ordered) - 50} more", file=sys.stderr)
        return 2
    except CSIError as e:
        print(f"error: {_public(e)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into e.g. `head`, which closed early: not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as e:  # a bug, not bad input: say so in one line; CSI_DEBUG=1 shows the traceback
        if os.environ.get("CSI_DEBUG"):
            raise
        incident = new_incident()
        _log(f"{type(e).__name__}: {e}", e, incident)
        print(f"internal error: {type(e).__name__} (incident {incident}; set CSI_DEBUG=1 for the traceback "
              "and report it)", file=sys.stderr)
        return 1


def _log(detail: str, exc: BaseException | None, incident: str) -> None:
    """The technical detail of a failure: to the "csi" log when the process has configured logging
    (a scheduler's wrapper, a service), and to stderr only with CSI_DEBUG=1. Without a configured
    handler Python would print the record to stderr, paths and all, which is what this avoids."""
    if logging.getLogger("csi").hasHandlers():
        log_incident(detail, exc, incident=incident)
    if os.environ.get("CSI_DEBUG"):
        print(f"detail of incident {incident}: {detail}", file=sys.stderr)


def _public(e: CSIError) -> str:
    """The message of an expected error without paths or process ids; a message that had to be
    cleaned (or that carries a private detail) quotes an incident id whose detail is logged."""
    text = public_text(e, log=False)
    incident = getattr(e, "incident", None)
    if incident is not None:
        detail = getattr(e, "detail", None)
        _log(detail if detail is not None else str(e), None, incident)
    return text
