"""Command-line handlers of the analyst tools (csi.data.templates, csi.data.recodes).

* ``python -m csi template --db PATH --out FILE.csv|.xlsx``: a blank file for a new wave (the store's id,
  segment, weight and item columns; the XLSX adds a ``columns`` sheet with question texts, scales and missing codes).
* ``python -m csi export-wave --db PATH --wave W --out FILE.csv|.xlsx``: the wave's responses as stored, a file
  ``ingest`` reads back unchanged.
* ``python -m csi recode --db PATH --segment region --map "East=华东" [--map ...] [--unmap FROM] [--clear]``:
  merge segment values (a view: the stored rows are unchanged); without a change it prints the mapping. One
  audited write (:func:`csi.data.store.writing`); a cycle or an empty target is refused (exit 2, nothing written).
* :func:`write_problems` — every problem of a refused file as CSV (``ingest --problems-out FILE``).
"""
from __future__ import annotations

import json
from pathlib import Path


from csi.cli.classic import _db  # an existing store (a write must never create one)
from csi.cli.data import _read  # fn(con) on a read-only connection of the current version


def _write(out: Path, data: bytes) -> None:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(data)


def run_template(args) -> int:
    from csi.data import templates

    fmt = templates.format_of(args.out)
    data = _read(args, lambda con: templates.wave_template(con, fmt))
    _write(args.out, data)
    cols = _read(args, templates.template_columns)
    print(f"template {args.out} ({fmt}): {len(cols)} columns ({', '.join(cols[:6])}{', ...' if len(cols) > 6 else ''})")
    return 0


def run_export_wave(args) -> int:
    from csi.data import templates

    fmt = templates.format_of(args.out)
    data = _read(args, lambda con: templates.export_wave(con, args.wave, fmt))
    _write(args.out, data)
    print(f"wave {args.wave!r} written to {args.out} ({fmt}, {len(data):,} bytes)")
    return 0


def run_recode(args) -> int:
    from csi.data import recodes, store
    from csi.errors import SpecError

    seg = str(args.segment or "").strip()
    pairs = recodes.parse_pairs(args.map or ())
    changing = bool(pairs or args.unmap or args.clear)
    if changing and not seg:
        raise SpecError("name the segment whose values to recode: --segment NAME")
    if not changing:
        mapping = _read(args, store.segment_recodes)
        shown = {seg: mapping.get(seg, {})} if seg else mapping
        print(json.dumps(shown, ensure_ascii=False, indent=1, sort_keys=True) if any(shown.values())
              else "no recoded segment values")
        return 0
    detail: dict = {"setting": recodes.SETTING_KEY, "segment": seg, "map": pairs,
                    "unmap": list(args.unmap or ()), "clear": bool(args.clear)}
    with store.writing(_db(args), action="recode", detail=detail) as con:
        mapping = store.segment_recodes(con)
        if seg not in store.segment_columns(con):
            raise SpecError(f"no segment {seg!r} in the store (segments: "
                            f"{', '.join(store.segment_columns(con)) or 'none'})")
        current = {} if args.clear else dict(mapping.get(seg, {}))
        for src in args.unmap or ():
            current.pop(str(src).strip(), None)
        current.update(pairs)
        mapping[seg] = current
        store.set_setting(con, recodes.SETTING_KEY, recodes.dump_recodes(mapping))  # validates first
        merged = store.segment_values(con, seg)
    print(f"segment {seg!r}: {len(current)} recoded value(s); values now: {', '.join(merged)}")
    return 0


PROBLEM_COLUMNS = ["severity", "file", "row", "column", "value", "reason", "reason_zh", "code"]


def write_problems(problems, path) -> Path:
    """Every problem as CSV (UTF-8 with BOM, formula-like text escaped) at ``path``."""
    import pandas as pd

    from csi.report.export import escape_frame

    frame = pd.DataFrame([{c: getattr(p, c, None) for c in PROBLEM_COLUMNS} for p in problems],
                         columns=PROBLEM_COLUMNS)
    frame["row"] = frame["row"].astype("Int64")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(escape_frame(frame).to_csv(index=False, lineterminator="\n").encode("utf-8-sig"))
    return path
