"""Command-line handlers of the classic service-quality tools.

* ``python -m csi ahp MATRIX.csv [--allow-inconsistent]``: Saaty's AHP on one pairwise comparison matrix
  (CSV: first row and first column the same names; cells numbers or fractions such as ``1/3``); prints
  weights, λmax, CI, CR as JSON. Exit 2 on a non-reciprocal or invalid matrix, or CR ≥ 0.10 without the flag.
* ``python -m csi expert-weights FILE.json [--db PATH]``: validate a study's expert weights (direct or AHP,
  see :func:`csi.analytics.ahp.expert_weights`), print the record and store it as the setting
  ``expert_weights`` (all or nothing, exit 2 on bad input).
* ``python -m csi ingest-management FILE [--kind rating|rank] [--db PATH]``: validate a management
  importance survey (:func:`csi.analytics.servqual.read_management_survey`) and store it as the setting
  ``management_importance``; every problem is listed and the database is left unchanged (exit 2).
"""
from __future__ import annotations

import json
import math
from pathlib import Path


def _json_safe(obj):
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    return obj


def _db(args) -> Path:
    from csi.cli.main import default_db
    from csi.errors import StoreError

    db = Path(args.db) if getattr(args, "db", None) is not None else default_db()
    if not db.exists():
        raise StoreError(f"database {db.name!r} not found (create one with: python -m csi demo --db {db})")
    return db


def run_ahp(args) -> int:
    from csi.analytics.ahp import ahp_weights, read_matrix_csv

    res = ahp_weights(read_matrix_csv(args.matrix), allow_inconsistent=bool(args.allow_inconsistent))
    print(json.dumps(_json_safe(res.as_dict()), ensure_ascii=False, indent=2))
    return 0


def run_expert_weights(args) -> int:
    from csi.analytics import ahp
    from csi.data import store
    from csi.errors import SpecError

    path = Path(args.file)
    if not path.is_file():
        raise SpecError(f"expert weights file {path.name!r} not found")
    try:
        config = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, ValueError, UnicodeDecodeError) as e:
        raise SpecError(f"expert weights file {path.name!r} is not valid JSON: {e}") from None
    if args.allow_inconsistent:
        config["allow_inconsistent"] = True
    text = ahp.dump_setting(config)  # validates first: nothing is written on bad input
    _, _, record = ahp.load_setting(text)
    with store.writing(_db(args), action="settings", detail={"setting": ahp.SETTING_KEY, "file": path.name}) as con:
        store.set_setting(con, ahp.SETTING_KEY, text)
    print(json.dumps(_json_safe(record), ensure_ascii=False, indent=2))
    return 0


def run_ingest_management(args) -> int:
    from csi.analytics import servqual
    from csi.data import store

    survey = servqual.read_management_survey(Path(args.file), kind=args.kind)  # InputError → exit 2, no write
    db = _db(args)
    with store.writing(db, action="settings", detail={"setting": servqual.SETTING_KEY, "file": Path(args.file).name,
                                                      "managers": int(len(survey))}) as con:
        store.set_setting(con, servqual.SETTING_KEY, servqual.dump_survey(survey))
    share = servqual.management_importance(survey)
    print(f"stored the management survey: {len(survey)} managers, {survey.shape[1]} dimensions ({args.kind})")
    for d, v in share.sort_values(ascending=False).items():
        print(f"  {d}\t{v:.3f}")
    return 0
