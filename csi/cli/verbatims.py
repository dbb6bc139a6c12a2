"""``python -m csi verbatims``: the stored open-text answers of a selection next to their satisfaction, and the
theme counts per driver (csi.analytics.verbatims through the report engine's selection and scores)."""
from __future__ import annotations

import json
import sys

import pandas as pd

from csi.cli.main import default_db


def verbatims_view(db, waves=None, segments=None, search=None, bands=None):
    """(comments, themes) of a store: the selection's verbatims matching ``search`` and ``bands`` with wave,
    segments and satisfaction (0-100 from the engine's point fits), and their theme counts per driver."""
    from csi.analytics.verbatims import filter_verbatims, theme_counts
    from csi.report.build import Selection, Settings, prepare, read_texts, verbatims_joined, wave_fits

    prep = prepare(db, Selection.of(waves, segments, own_brand_by_default=False), Settings(bootstrap=0))
    texts = read_texts(db, prep, search=search)
    joined = verbatims_joined(prep, wave_fits(prep) if len(texts) else {}, texts)
    joined = filter_verbatims(joined, bands=bands)
    return joined, theme_counts(joined)


def run(args) -> int:
    db = args.db or default_db()
    comments, themes = verbatims_view(db, args.wave, args.segment, args.search, args.band)
    shown = comments.head(args.limit) if args.limit else comments
    if args.json:
        out = {"n_comments": int(len(comments)), "search": args.search, "waves": args.wave,
               "themes": json.loads(themes.to_json(orient="records", force_ascii=False)),
               "comments": json.loads(shown.to_json(orient="records", force_ascii=False))}
        print(json.dumps(out, ensure_ascii=False, indent=2))
        return 0
    print(f"{len(comments):,} comment{'s' if len(comments) != 1 else ''}"
          + (f" containing {args.search!r}" if args.search else ""))
    if len(comments):
        tab = themes[["driver", "theme", "mentions", "share", "mean_sat_mentioning", "mean_sat_not"]]
        print(tab.to_string(index=False, float_format=lambda v: f"{v:.2f}"))
        print()
        for r in shown.itertuples(index=False):
            sat = "" if pd.isna(r.satisfaction) else f" SAT {r.satisfaction:.0f}"
            text = str(r.value).replace("\r", " ").replace("\n", " ")
            print(f"[{r.wave} {r.respondent_id}{sat}] {r.name}: {text}")
        if len(shown) < len(comments):
            print(f"... and {len(comments) - len(shown):,} more (--limit 0 prints all)", file=sys.stderr)
    return 0
