"""Verbatims: open-text answers read next to the scores (pure: pandas in, pandas out; nothing leaves the machine).

* :func:`join_verbatims` — the stored texts (``csi.data.store.load_texts``) joined to the analysed respondents
  (their segments) and their satisfaction score (0-100, from the report engine: ``csi.report.build.
  respondent_scores``); respondents outside the selection (other brands, other filters) drop out here.
* :func:`satisfaction_band` — low / mid / high on the CSI bands of :data:`csi.analytics.scales.BANDS`: low = up to
  60 (very dissatisfied, dissatisfied, neutral), mid = (60, 80] (fairly satisfied), high = above 80 (very satisfied).
* :func:`filter_verbatims` — by wave, segment values, band and a search term (case-insensitive substring).
* :func:`match_themes` / :func:`theme_counts` — a keyword count per theme and driver with the built-in bilingual
  lexicon ``verbatim_themes.json`` (data, not code): an ASCII keyword matches case-insensitively at the start of
  a word (``wait`` → "waiting"), a Chinese keyword anywhere as a substring (no segmentation library). For each
  theme (or driver): comments mentioning it, their share of all comments, and the mean satisfaction of those
  mentioning it against those not.
"""
from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from csi.analytics.scales import band_index

LEXICON_FILE = Path(__file__).with_name("verbatim_themes.json")
BANDS3 = ("low", "mid", "high")
SCORE = "satisfaction"
_BAND_OF = np.array(["low", "low", "low", "mid", "high"], dtype=object)  # the five CSI bands → three


@lru_cache(maxsize=4)
def _read_lexicon(path: str) -> tuple[dict, tuple[dict, ...]]:
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    return dict(data["drivers"]), tuple(data["themes"])


def lexicon(path: str | Path | None = None) -> pd.DataFrame:
    """The theme lexicon, one row per keyword: ``theme, driver, label_en, label_zh, driver_en, driver_zh,
    keyword`` (lower case)."""
    drivers, themes = _read_lexicon(str(path or LEXICON_FILE))
    rows = [{"theme": th["theme"], "driver": th["driver"], "label_en": th["label_en"], "label_zh": th["label_zh"],
             "driver_en": drivers.get(th["driver"], (th["driver"],) * 2)[0],
             "driver_zh": drivers.get(th["driver"], (th["driver"],) * 2)[1], "keyword": str(kw).lower()}
            for th in themes for kw in th["keywords"]]
    return pd.DataFrame(rows)


def _pattern(keywords: Sequence[str]) -> re.Pattern:
    """One case-insensitive pattern: ASCII keywords at a word start, the others as plain substrings."""
    parts = [(r"(?<![A-Za-z0-9])" if kw.isascii() and kw[:1].isalnum() else "") + re.escape(kw)
             for kw in sorted(set(keywords), key=len, reverse=True)]
    return re.compile("|".join(parts), flags=re.IGNORECASE)


def match_themes(texts: pd.Series, lex: pd.DataFrame | None = None) -> pd.DataFrame:
    """Booleans (one column per theme, index = ``texts.index``): does the comment mention the theme."""
    lex = lexicon() if lex is None else lex
    s = texts.astype(object).where(texts.notna(), "").astype(str)
    codes, uniq = pd.factorize(s)  # each distinct text is matched once
    out = {}
    for theme, kws in lex.groupby("theme", sort=False)["keyword"]:
        pat = _pattern(list(kws))
        found = np.fromiter((pat.search(v) is not None for v in uniq), dtype=bool, count=len(uniq))
        out[theme] = found[codes] if len(codes) else np.zeros(0, dtype=bool)
    return pd.DataFrame(out, index=texts.index)


def satisfaction_band(scores) -> np.ndarray:
    """``low`` / ``mid`` / ``high`` per 0-100 score (object array; None where the score is missing)."""
    b = band_index(np.asarray(scores, dtype=float))
    out = _BAND_OF[np.clip(b, 0, 4)].copy()
    out[b < 0] = None
    return out


def join_verbatims(texts: pd.DataFrame, respondents: pd.DataFrame, scores: pd.DataFrame | None = None,
                   segments: Sequence[str] = ()) -> pd.DataFrame:
    """``texts`` (wave, respondent_id, name, value, ...) of the respondents in ``respondents`` (the analysed
    selection: wave, respondent_id and the ``segments`` columns), with ``satisfaction`` (0-100, from ``scores``:
    wave, respondent_id, satisfaction; NaN when not scored) and its ``band``. Columns: wave, respondent_id,
    the segments, name, value, satisfaction, band; the texts' order is kept."""
    segs = [s for s in segments if s in respondents.columns and s not in ("wave", "respondent_id")]
    key = ["wave", "respondent_id"]
    who = respondents[key + segs].copy()
    for k in key:
        who[k] = who[k].astype(str)
    t = texts[key + ["name", "value"]].copy()
    for k in key:
        t[k] = t[k].astype(str)
    out = t.merge(who.drop_duplicates(key), on=key, how="inner")
    if scores is not None and len(scores):
        sc = scores[key + [SCORE]].copy()
        for k in key:
            sc[k] = sc[k].astype(str)
        out = out.merge(sc.drop_duplicates(key), on=key, how="left")
    else:
        out[SCORE] = np.nan
    out[SCORE] = out[SCORE].astype(float)
    out["band"] = satisfaction_band(out[SCORE].to_numpy())
    return out[key + segs + ["name", "value", SCORE, "band"]].reset_index(drop=True)


def filter_verbatims(joined: pd.DataFrame, *, waves: Sequence[str] | None = None,
                     segments: Mapping[str, Sequence[str]] | None = None, bands: Sequence[str] | None = None,
                     search: str | None = None, names: Sequence[str] | None = None) -> pd.DataFrame:
    """The rows of :func:`join_verbatims` in ``waves``, with the ``segments`` values (OR within a column, AND
    across), in the satisfaction ``bands`` (low/mid/high), of the text columns ``names``, whose text contains
    ``search`` (case-insensitive, literal: ``%`` and ``_`` are characters like any other)."""
    mask = pd.Series(True, index=joined.index)
    if waves:
        mask &= joined["wave"].astype(str).isin([str(w) for w in waves])
    for col, values in dict(segments or {}).items():
        if values:
            mask &= joined[col].astype(str).isin([str(v) for v in values])
    if bands:
        unknown = set(bands) - set(BANDS3)
        if unknown:
            raise ValueError(f"unknown satisfaction band(s) {sorted(unknown)}; choose from {BANDS3}")
        mask &= joined["band"].isin(list(bands))
    if names:
        mask &= joined["name"].isin(list(names))
    if search is not None and str(search).strip():
        term = str(search).strip().casefold()
        mask &= joined["value"].astype(str).map(lambda v: term in v.casefold())
    return joined.loc[mask].reset_index(drop=True)


THEME_COLUMNS = ["driver", "driver_en", "driver_zh", "theme", "label_en", "label_zh", "mentions", "comments",
                 "share", "mean_sat_mentioning", "mean_sat_not", "difference"]
DRIVER_COLUMNS = ["driver", "driver_en", "driver_zh", "themes", "mentions", "comments", "share",
                  "mean_sat_mentioning", "mean_sat_not", "difference"]


def _mean(x: np.ndarray) -> float:
    x = x[~np.isnan(x)]
    return float(x.mean()) if x.size else float("nan")


def theme_counts(joined: pd.DataFrame, lex: pd.DataFrame | None = None, by: str = "theme",
                 hits: pd.DataFrame | None = None) -> pd.DataFrame:
    """Mentions per theme (``by="theme"``, columns :data:`THEME_COLUMNS`) or per driver (``by="driver"``: a
    comment mentioning any theme of the driver, :data:`DRIVER_COLUMNS`), in lexicon order. ``mentions`` =
    comments mentioning it; ``comments`` = all comments; ``share`` = mentions / comments; mean satisfaction
    (0-100) of the comments mentioning it and of the others (NaN without scores); ``difference`` = mentioning
    minus not. ``hits``: :func:`match_themes` of ``joined["value"]`` when already computed."""
    if by not in ("theme", "driver"):
        raise ValueError("by must be 'theme' or 'driver'")
    lex = lexicon() if lex is None else lex
    if hits is None:
        hits = match_themes(joined["value"], lex)
    sat = joined[SCORE].to_numpy(float) if SCORE in joined.columns else np.full(len(joined), np.nan)
    n = len(joined)
    meta = lex.drop(columns="keyword").drop_duplicates("theme")
    rows = []
    groups = ([(r.theme, [r.theme], r._asdict()) for r in meta.itertuples(index=False)] if by == "theme" else
              [(d, list(g["theme"]), g.iloc[0].to_dict()) for d, g in meta.groupby("driver", sort=False)])
    for key, themes, info in groups:
        m = hits[themes].any(axis=1).to_numpy(bool) if n else np.zeros(0, dtype=bool)
        yes, no = _mean(sat[m]), _mean(sat[~m])
        row = {"driver": info["driver"], "driver_en": info["driver_en"], "driver_zh": info["driver_zh"],
               "mentions": int(m.sum()), "comments": n, "share": (m.sum() / n) if n else float("nan"),
               "mean_sat_mentioning": yes, "mean_sat_not": no, "difference": yes - no}
        if by == "theme":
            row.update(theme=key, label_en=info["label_en"], label_zh=info["label_zh"])
        else:
            row["themes"] = ", ".join(themes)
        rows.append(row)
    return pd.DataFrame(rows, columns=THEME_COLUMNS if by == "theme" else DRIVER_COLUMNS)
