"""Command-line handlers for the data commands: demo, ingest, waves, rename-wave, delete-wave, items."""
from __future__ import annotations

import sys

import pandas as pd

from csi.data import store
from csi.cli.main import default_db
from csi.errors import StoreError


def _db(args):
    return args.db or default_db()


def run_demo(args) -> int:
    from csi.data.demo import build_demo_database

    path = _db(args)
    if path.exists() and not args.force:
        raise StoreError(f"{path.name} already exists; use --force to replace it with a fresh demo database")
    build_demo_database(path, seed=args.seed, force=args.force)
    con = store.connect(path, read_only=True)
    try:
        waves = store.list_waves(con)
    finally:
        con.close()
    print(f"demo database {path}: {len(waves)} waves, {int(waves['n_respondents'].sum()):,} respondents")
    _print_waves(waves)
    return 0


def run_ingest(args) -> int:
    from csi.data.ingest import ingest_file

    con = store.connect(_db(args))
    try:
        report = ingest_file(con, args.file, args.wave, scale=args.scale, missing=args.missing,
                             require_all_items=args.require_all_items, keep_columns=args.keep_column,
                             field_start=args.field_start, field_end=args.field_end)
    finally:
        con.close()
    print(report.summary())
    return 0


def run_waves(args) -> int:
    con = store.connect(_db(args), read_only=True)
    try:
        waves = store.list_waves(con)
    finally:
        con.close()
    if waves.empty:
        print("no waves yet")
        return 0
    _print_waves(waves)
    return 0


def _print_waves(waves: pd.DataFrame) -> None:
    view = waves[["label", "field_start", "field_end", "n_respondents", "n_items", "source_file", "imported_at"]].copy()
    view["imported_at"] = pd.to_datetime(view["imported_at"]).dt.strftime("%Y-%m-%d %H:%M")
    print(view.to_string(index=False))


def run_target(args) -> int:
    """``target``: print the targets; ``target SAT 75`` sets one; ``target SAT --clear`` removes it."""
    import json

    from csi.report.build import parse_targets

    code = (args.construct or "").strip().upper()
    if args.value is not None or args.clear:
        if not code:
            raise StoreError("name the construct (e.g. SAT) or NPS whose target to set")
        lo, hi = (-100.0, 100.0) if code == "NPS" else (0.0, 100.0)
        if not args.clear and not lo <= args.value <= hi:
            raise StoreError(f"a target for {code} must lie between {lo:g} and {hi:g}, got {args.value:g}")
        con = store.connect(_db(args))
        try:
            targets = parse_targets(store.get_setting(con, "targets"))
            if args.clear:
                targets.pop(code, None)
            else:
                targets[code] = float(args.value)
            store.set_setting(con, "targets", json.dumps(targets, sort_keys=True) if targets else None)
        finally:
            con.close()
    else:
        con = store.connect(_db(args), read_only=True)
        try:
            targets = parse_targets(store.get_setting(con, "targets"))
        finally:
            con.close()
    if not targets:
        print("no targets set (e.g. python -m csi target SAT 75)")
    for c, v in sorted(targets.items()):
        print(f"{c}\t{v:g}")
    return 0


def run_rename(args) -> int:
    con = store.connect(_db(args))
    try:
        store.rename_wave(con, args.old, args.new)
    finally:
        con.close()
    print(f"renamed wave {args.old!r} to {args.new!r}")
    return 0


def run_delete(args) -> int:
    confirm = args.confirm
    if confirm is None:
        if not sys.stdin.isatty():
            raise StoreError(f"deleting needs confirmation: repeat the label with --confirm {args.label!r}")
        confirm = input(f"Type the label {args.label!r} to delete the wave and all its responses: ").strip()
    if confirm != args.label:
        raise StoreError("confirmation does not match the label; nothing deleted")
    con = store.connect(_db(args))
    try:
        n = store.delete_wave(con, args.label)
    finally:
        con.close()
    print(f"deleted wave {args.label!r} ({n:,} respondents)")
    return 0


def run_items(args) -> int:
    con = store.connect(_db(args), read_only=True)
    try:
        items = store.item_dictionary(con)
    finally:
        con.close()
    with pd.option_context("display.max_rows", None, "display.max_colwidth", 60, "display.width", 200):
        print(items.to_string(index=False))
    return 0
