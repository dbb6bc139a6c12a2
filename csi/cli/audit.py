"""Command-line handlers of the mystery-shopping audits: ``ingest-audit`` (validate and store one audit period,
all or nothing; exit 2 with every problem on bad input), ``audits`` (list the stored scores, or ``--periods``)
``delete-audit`` (to the trash, one audited write) and ``restore-audit`` (back from the trash, rows unchanged).
``ingest-audit --replace`` moves the old version to the trash in the same write; ``restore-audit --replace``
swaps it back (the current version goes to the trash).
``trash`` and ``purge-trash`` (csi.cli.data) list and purge trashed audit periods beside the waves."""
from __future__ import annotations

import json

from csi.cli.main import default_db
from csi.data import store


def _db(args):
    return args.db or default_db()


def run_ingest_audit(args) -> int:
    from csi.data.audit import ingest_audit_into

    result = ingest_audit_into(_db(args), args.file, args.period, replace=bool(args.replace),
                               strict_outlets=bool(args.strict_outlets), actor=store.default_actor())
    print(result.summary())
    return 0


def run_audits(args) -> int:
    from csi.analytics.audit import audit_scores, outlet_totals

    con = store.connect(_db(args), read_only=True)
    try:
        audits = store.load_audits(con)
        periods = store.list_audit_periods(con)
    finally:
        con.close()
    if args.periods:
        if args.json:
            print(periods.assign(imported_at=periods["imported_at"].astype(str)).to_json(orient="records",
                                                                                     force_ascii=False))
        else:
            print(periods.to_string(index=False) if len(periods) else "no audit periods yet")
        return 0
    if audits.empty:
        print("[]" if args.json else "no audits yet (python -m csi ingest-audit FILE --period LABEL)")
        return 0
    scores = audit_scores(audits)
    if args.json:
        rows = scores.assign(period=scores["period"].astype(str)).to_dict(orient="records")
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return 0
    totals = outlet_totals(audits)
    for period, g in totals.groupby("period", observed=True, sort=True):
        print(f"audit period {period}: {len(g)} outlets")
        view = g.sort_values("rank")[["rank", "outlet", "possible", "obtained", "lost", "percent"]]
        print(view.to_string(index=False, float_format=lambda v: f"{v:.1f}"))
    return 0


def run_delete_audit(args) -> int:
    from csi.data.audit import delete_audit_period_from

    n = delete_audit_period_from(_db(args), args.period, actor=store.default_actor())
    print(f"moved audit period {args.period!r} ({n} rows) to the trash "
          f"(python -m csi restore-audit {args.period!r} brings it back)")
    return 0


def run_restore_audit(args) -> int:
    from csi.data.audit import restore_audit_period_from

    n, replaced = restore_audit_period_from(_db(args), args.period, actor=store.default_actor(),
                                            replace=bool(getattr(args, "replace", False)))
    print(f"restored audit period {args.period!r} ({n} rows)"
          + (f"; the version it replaced is in the trash (restore-audit {args.period!r} --replace swaps back)"
             if replaced else ""))
    return 0
