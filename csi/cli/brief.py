"""``python -m csi brief``: the board brief of a wave and brand as PPTX or PDF (format from the ``--out`` suffix).

The numbers are the report engine's (:mod:`csi.report.build`), the headline the dashboard's Overview shows:
``--wave W`` makes W the focus wave (the selection is every wave up to and including W, so the brief has a
previous wave, a year-ago wave and a trend); ``--brand B`` is whose brief it is (default the store's own brand).
Unknown waves or brands exit with code 2 and name the valid ones.
"""
from __future__ import annotations

from pathlib import Path

from csi.errors import DataError


def run(args) -> int:
    from csi.cli.main import default_db
    from csi.data import store
    from csi.report.brief import make_brief, write_brief
    from csi.report.build import Selection, Settings
    from csi.runtime.cache import FitCache

    db = Path(args.db) if args.db is not None else default_db()
    out = Path(args.out)
    if out.suffix.lower() not in (".pptx", ".pdf"):
        raise DataError(f"--out must end in .pptx or .pdf, got {out.name!r}")
    n_boot = int(args.bootstrap)
    if n_boot != 0 and n_boot < 2:
        raise DataError(f"--bootstrap must be 0 or at least 2, got {n_boot}")
    if not db.is_file():
        raise DataError(f"database {str(db)!r} not found (create one with: python -m csi demo --db {db})")
    con = store.connect(db, read_only=True)
    try:
        waves = store.wave_labels(con)
        brand_col = store.get_setting(con, "brand_column") or "brand"
        brands = []
        if args.brand is not None and waves:
            frame = store.load_responses(con, waves)
            if brand_col in frame.columns:
                brands = sorted(map(str, frame[brand_col].dropna().unique()))
    finally:
        con.close()
    if not waves:
        raise DataError("the database holds no waves yet (load one with: python -m csi ingest FILE --wave LABEL)")
    if args.wave is not None and args.wave not in waves:
        raise DataError(f"unknown wave {args.wave!r} (waves: {', '.join(waves)})")
    if args.brand is not None and args.brand not in brands:
        raise DataError(f"unknown brand {args.brand!r} (brands: {', '.join(brands) or 'none: no brand column'})")
    upto = waves[: waves.index(args.wave) + 1] if args.wave else waves
    sel = Selection.of(waves=upto, segments={brand_col: args.brand} if args.brand else None)
    settings = Settings(model=args.model, bootstrap=n_boot, seed=int(args.seed))
    rep, brief = make_brief(db, sel, settings, lang=args.lang, cache=FitCache(), workers=2)
    write_brief(brief, out)
    h = brief.headline
    print(f"brief for {rep.prepared.focus_wave}{' / ' + str(rep.prepared.focus_brand) if rep.prepared.focus_brand else ''}"
          f" ({args.lang}): {h['target']} {h['index']['value']:.1f}, n {h['n']}; wrote {out}")
    return 0
