"""Recoded (merged) segment values: ``East`` = ``华东`` = ``east`` shown and analysed as one value.

The mapping is a store setting (:data:`SETTING_KEY`, JSON ``{segment: {from: to}}``), applied where responses
are read for analysis (:func:`csi.data.store.load_responses` and :func:`csi.data.store.segment_values`), so the
dashboard, ``python -m csi report``, the brief and publish all see the merged values while the stored rows
stay as imported (the mapping is a view: removing it brings the original values back).

Validation (:func:`check_recodes`): segment names and values are non-empty text, no value maps to an empty
target, the survey weight is never recoded, and chains resolve without cycles (``a→b, b→c`` means ``a→c``;
``a→b, b→a`` is refused). A value mapped to itself is dropped.
"""
from __future__ import annotations

import json
from typing import Iterable, Mapping

import pandas as pd

from csi.errors import SpecError

SETTING_KEY = "segment_recodes"
_WEIGHT = "weight"  # csi.data.store.WEIGHT_SEGMENT (not imported: the store imports this module)


def check_recodes(mapping: Mapping) -> dict[str, dict[str, str]]:
    """The validated mapping ``{segment: {from: to}}`` as given (trimmed; self-maps and empty segments dropped).
    Raises :class:`SpecError` naming the segment and value of the first problem."""
    if not isinstance(mapping, Mapping):
        raise SpecError("segment recodes must map each segment to {from: to}")
    out: dict[str, dict[str, str]] = {}
    for seg, pairs in mapping.items():
        seg = str(seg).strip()
        if not seg:
            raise SpecError("segment recodes: a segment name is empty")
        if seg == _WEIGHT:
            raise SpecError("the survey weight is a number, not a segment: it cannot be recoded")
        if not isinstance(pairs, Mapping):
            raise SpecError(f"segment recodes of {seg!r} must map values to values")
        clean: dict[str, str] = {}
        for src, dst in pairs.items():
            src = str(src).strip()
            dst = "" if dst is None else str(dst).strip()
            if not src:
                raise SpecError(f"segment {seg!r}: a recoded value is empty")
            if not dst:
                raise SpecError(f"segment {seg!r}: value {src!r} is recoded to an empty value")
            if src != dst:
                clean[src] = dst
        _resolve(seg, clean)  # refuses cycles
        if clean:
            out[seg] = clean
    return out


def _resolve(seg: str, pairs: Mapping[str, str]) -> dict[str, str]:
    """Each source value → its final value, following chains; a cycle raises :class:`SpecError`."""
    final: dict[str, str] = {}
    for src in pairs:
        seen = [src]
        v = pairs[src]
        while v in pairs:
            if v in seen:
                raise SpecError(f"segment {seg!r}: recodes form a cycle ({' → '.join([*seen, v])})")
            seen.append(v)
            v = pairs[v]
        final[src] = v
    return final


def resolved(mapping: Mapping[str, Mapping[str, str]]) -> dict[str, dict[str, str]]:
    """``{segment: {from: final value}}`` of a validated mapping (chains followed)."""
    return {seg: _resolve(seg, pairs) for seg, pairs in mapping.items()}


def parse_recodes(text: str | None) -> dict[str, dict[str, str]]:
    """The stored setting → validated mapping (``{}`` when unset)."""
    if not text:
        return {}
    try:
        data = json.loads(text)
    except ValueError:
        raise SpecError("the stored segment recodes are not valid JSON") from None
    return check_recodes(data)


def dump_recodes(mapping: Mapping) -> str | None:
    """The setting text of a mapping (validated first); None when it is empty (the setting is removed)."""
    clean = check_recodes(mapping)
    return json.dumps(clean, ensure_ascii=False, sort_keys=True) if clean else None


def parse_pairs(texts: Iterable[str]) -> dict[str, str]:
    """``["East=华东", "east=华东"]`` (the CLI's ``--map``) → ``{"East": "华东", "east": "华东"}``."""
    out: dict[str, str] = {}
    for text in texts:
        src, sep, dst = str(text).partition("=")
        if not sep:
            raise SpecError(f"--map must look like FROM=TO, got {text!r}")
        out[src.strip()] = dst.strip()
    return out


def from_table(stored: Mapping[str, Mapping[str, str]], catalogue: Mapping[str, Iterable[str]],
               rows: Iterable[tuple[str, str, str | None]]) -> dict[str, dict[str, str]]:
    """The mapping an editor table gives (the Data page): ``rows`` of (segment, stored value, shown as; blank =
    itself) decide every value of ``catalogue`` (the stored values per segment); the ``stored`` mapping's pairs of
    values no longer stored (a deleted wave) are kept. Validated (:func:`check_recodes`)."""
    known = {seg: {str(v) for v in values} for seg, values in catalogue.items()}
    out = {seg: {v: to for v, to in pairs.items() if v not in known.get(seg, set())} for seg, pairs in stored.items()}
    for seg, value, shown in rows:
        to = "" if shown is None or shown != shown else str(shown).strip()  # None/NaN: blank
        if to and to != value:
            out.setdefault(str(seg), {})[str(value)] = to
    return check_recodes(out)


def recode_frame(frame: pd.DataFrame, mapping: Mapping[str, Mapping[str, str]]) -> pd.DataFrame:
    """``frame`` with each mapped segment column's values replaced by their final values (in place; returned)."""
    for seg, final in resolved(mapping).items():
        if seg in frame.columns and final:
            col = frame[seg]
            frame[seg] = col.map(lambda v: final.get(v, v) if isinstance(v, str) else v).astype(col.dtype)
    return frame


def recode_values(seg: str, values: Iterable[str], mapping: Mapping[str, Mapping[str, str]]) -> list[str]:
    """The distinct values of ``seg`` after recoding, sorted."""
    final = resolved({seg: mapping.get(seg, {})})[seg] if seg in mapping else {}
    return sorted({final.get(v, v) for v in values})


def stored_values_for(seg: str, wanted: Iterable[str], mapping: Mapping[str, Mapping[str, str]]) -> list[str]:
    """The stored values of ``seg`` whose recoded value is one of ``wanted`` (a filter on merged values, run on
    the stored rows): the wanted values no recode replaces, plus every source value recoded to a wanted one."""
    wanted = [str(v) for v in wanted]
    final = resolved({seg: mapping[seg]})[seg] if seg in mapping else {}
    keep = {v for v in wanted if v not in final}
    keep |= {src for src, dst in final.items() if dst in set(wanted)}
    return sorted(keep)
