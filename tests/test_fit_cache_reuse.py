"""The fit cache is keyed on content, not on the store's data version: after a new wave is ingested (a new data
version), the other waves' fits and bootstraps come from the cache and equal fresh ones; a changed row is a new
fit. What makes a loaded dashboard's slow tail after an ingest short (bench/bench_load.py)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from csi.report.build import Selection, Settings, prepare, wave_fits
from csi.runtime.cache import FitCache


def _add_wave(db, label: str, rows: pd.DataFrame) -> None:
    from csi.data import store
    from csi.data.ingest import ingest_frame

    raw = rows.astype(object).where(rows.notna(), "").astype(str)
    with store.writing(db, actor="test", action="ingest") as con:
        ingest_frame(con, raw, wave=label, source_name=f"{label}.csv")


def test_a_new_wave_reuses_the_other_waves_fits_and_a_changed_row_does_not(tmp_path):
    from conftest import build_small_demo
    from csi.data import demo

    db = build_small_demo(tmp_path / "csi.duckdb", 120, waves=3)
    settings = Settings(bootstrap=30, seed=3)
    cache = FitCache(None)
    before = prepare(str(db), Selection(), settings)
    first = wave_fits(before, cache=cache)
    assert cache.misses == 3 and cache.hits == 0

    survey = demo.generate(20240601)
    new = survey.waves["2025Q4"].iloc[200:330].copy()
    new["respondent_id"] = [f"N-{i:04d}" for i in range(len(new))]
    _add_wave(db, "2026Q1", new)
    after = prepare(str(db), Selection(), settings)
    assert after.data_version != before.data_version and len(after.waves) == 4
    hits0, misses0 = cache.hits, cache.misses
    second = wave_fits(after, cache=cache)
    assert cache.hits - hits0 == 3 and cache.misses - misses0 == 1  # only the new wave was fitted
    fresh = wave_fits(after)                                     # no cache at all: the same numbers
    for key in first:
        assert second[key] is first[key]
        pd.testing.assert_frame_equal(second[key].index, fresh[key].index)
        np.testing.assert_array_equal(second[key].index_draws.to_numpy(), fresh[key].index_draws.to_numpy())

    # one changed answer in an old wave is another fit (the rows' hash is in the key); the others still hit
    frame = after.frame.copy()
    plain = prepare(frame, Selection(), settings)
    wave_fits(plain, cache=cache)
    item, row = plain.items[0], frame.index[frame["wave"] == plain.waves[0]][0]
    frame.loc[row, item] = 1.0 if frame.loc[row, item] != 1.0 else 2.0
    hits1, misses1 = cache.hits, cache.misses
    wave_fits(prepare(frame, Selection(), settings), cache=cache)
    assert (cache.hits - hits1, cache.misses - misses1) == (3, 1)
