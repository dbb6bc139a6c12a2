"""Command-line handlers for the data commands: demo, ingest, waves, rename-wave, delete-wave, items, trash,
restore-wave, purge-trash, audit, backup, restore-backup.

Every write goes through :func:`csi.data.store.writing` (one audited, atomically published version; the
actor is ``$CSI_ACTOR`` or the OS user), so it succeeds while dashboards have the store open."""
from __future__ import annotations

import sys

import pandas as pd

from csi.data import store
from csi.cli.main import default_db
from csi.errors import StoreError


def _db(args):
    return args.db or default_db()


def _read(args, fn):
    """``fn(con)`` on a read-only connection to the current version of the store (never waits for a writer)."""
    con = store.connect(_db(args), read_only=True)
    try:
        return fn(con)
    finally:
        con.close()


def run_demo(args) -> int:
    from csi.data.demo import build_demo_database

    path = _db(args)
    if path.exists() and not args.force:
        raise StoreError(f"{path.name} already exists; use --force to replace it with a fresh demo database")
    build_demo_database(path, seed=args.seed, force=args.force, actor=store.default_actor())
    con = store.connect(path, read_only=True)
    try:
        waves = store.list_waves(con)
    finally:
        con.close()
    print(f"demo database {path}: {len(waves)} waves, {int(waves['n_respondents'].sum()):,} respondents")
    _print_waves(waves)
    return 0


def run_ingest(args) -> int:
    from csi.data.ingest import MAX_PER_KIND, ingest_into
    from csi.errors import InputError

    out = getattr(args, "problems_out", None)
    try:
        report = ingest_into(_db(args), args.file, args.wave, actor=store.default_actor(), scale=args.scale,
                             missing=args.missing, require_all_items=args.require_all_items,
                             keep_columns=args.keep_column, field_start=args.field_start, field_end=args.field_end,
                             text_columns=getattr(args, "text_columns", None),
                             max_per_kind=None if out else MAX_PER_KIND)
    except InputError as e:
        if out:  # every problem to the file; main() prints the first 50
            from csi.cli.analyst import write_problems

            write_problems(e.problems, out)
            print(f"all {len(e.problems)} problems written to {out}", file=sys.stderr)
        raise
    print(report.summary())
    return 0


def run_waves(args) -> int:
    waves = _read(args, store.list_waves)
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
        detail = {"setting": "targets", "construct": code, "value": None if args.clear else float(args.value)}
        with store.writing(_db(args), action="settings", detail=detail) as con:
            targets = parse_targets(store.get_setting(con, "targets"))
            if args.clear:
                targets.pop(code, None)
            else:
                targets[code] = float(args.value)
            store.set_setting(con, "targets", json.dumps(targets, sort_keys=True) if targets else None)
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
    with store.writing(_db(args), action="rename", detail={"wave": args.new, "from": args.old}) as con:
        store.rename_wave(con, args.old, args.new)
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
    actor = store.default_actor()
    detail = {"wave": args.label}
    with store.writing(_db(args), actor=actor, action="delete", detail=detail) as con:
        n = store.delete_wave(con, args.label, by=actor)
        detail["n"] = n
    print(f"moved wave {args.label!r} ({n:,} respondents) to the trash "
          f"(python -m csi restore-wave {args.label!r} brings it back)")
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


def run_trash(args) -> int:
    trash = _read(args, store.list_trash_all)  # waves and audit periods: kind, label, by, when, n
    if trash.empty:
        print("the trash is empty")
        return 0
    view = trash[["kind", "label", "deleted_by", "deleted_at", "n"]].copy()
    view["deleted_at"] = pd.to_datetime(view["deleted_at"]).dt.strftime("%Y-%m-%d %H:%M UTC")
    print(view.to_string(index=False))
    print("n: respondents of a wave, rows of an audit period; restore-wave LABEL or restore-audit PERIOD "
          "brings one back")
    return 0


def run_restore(args) -> int:
    detail = {"wave": args.label}
    with store.writing(_db(args), action="restore", detail=detail) as con:
        n = store.restore_wave(con, args.label)
        detail["n"] = n
    print(f"restored wave {args.label!r} ({n:,} respondents)")
    return 0


def run_purge(args) -> int:
    detail = {"older_than_days": args.older_than}
    with store.writing(_db(args), action="purge", detail=detail) as con:
        labels = store.purge_trash(con, args.older_than)
        periods = store.purge_audit_trash(con, args.older_than)
        detail["waves"] = labels
        detail["audit_periods"] = periods
    print(f"purged {len(labels)} wave{'s' if len(labels) != 1 else ''} from the trash"
          + (f": {', '.join(labels)}" if labels else ""))
    if periods:
        print(f"purged {len(periods)} audit period{'s' if len(periods) != 1 else ''} from the trash: "
              + ", ".join(periods))
    return 0


def run_audit(args) -> int:
    import json

    log = _read(args, lambda con: store.audit_log(con, limit=args.limit))
    if args.json:
        rows = [{"entry_id": int(r.entry_id), "at_utc": pd.Timestamp(r.at_utc).isoformat(), "actor": r.actor,
                 "action": r.action, "wave": r.wave, "detail": json.loads(r.detail) if r.detail else {}}
                for r in log.itertuples(index=False)]
        print(json.dumps(rows, ensure_ascii=False, indent=1))
        return 0
    if log.empty:
        print("the audit log is empty")
        return 0
    view = log[["at_utc", "actor", "action", "wave", "detail"]].copy()
    view["at_utc"] = pd.to_datetime(view["at_utc"]).dt.strftime("%Y-%m-%d %H:%M:%S")
    view["wave"] = view["wave"].fillna("")
    with pd.option_context("display.max_colwidth", 80, "display.width", 200):
        print(view.to_string(index=False))
    return 0


def run_backup(args) -> int:
    m = store.backup(_db(args), args.dir)
    print(f"backup {m['file']} (version {m['version']}, schema {m['schema']}, {len(m['waves'])} waves, "
          f"sha256 {m['sha256'][:12]}...) and {m['manifest']} written to {args.dir}")
    return 0


def run_restore_backup(args) -> int:
    m = store.restore_backup(args.file, _db(args))
    print(f"restored {args.file.name} into {_db(args).name}: {len(m['waves'])} waves "
          f"({', '.join(m['waves']) or 'none'})")
    return 0
