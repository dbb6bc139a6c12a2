"""The DuckDB store: migrations, dictionary, filters, scales."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from csi.data import store
from csi.errors import StoreError
from csi.data.ingest import ingest_frame


@pytest.fixture
def con(tmp_path):
    c = store.connect(tmp_path / "s.duckdb")
    yield c
    c.close()


def _wave(n, brand, start, seed):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"respondent_id": [f"{brand}{i}" for i in range(n)], "brand": brand,
                         "region": rng.choice(["North", "South"], n),
                         **{f"sat{k}": rng.integers(1, 11, n).astype(str) for k in (1, 2, 3)}})


def test_migrations_are_numbered_and_idempotent(tmp_path):
    path = tmp_path / "m.duckdb"
    con = store.connect(path)
    versions = [r[0] for r in con.execute("SELECT version FROM schema_migrations ORDER BY version").fetchall()]
    con.close()
    assert versions == list(range(1, store.SCHEMA_VERSION + 1))
    con = store.connect(path)  # reopening applies nothing twice
    assert con.execute("SELECT count(*) FROM schema_migrations").fetchone()[0] == store.SCHEMA_VERSION
    con.close()


def test_default_dictionary_is_seeded_with_both_languages(con):
    d = store.item_dictionary(con)
    assert {"imag1", "qual2", "sat1", "loy3", "comp1"} <= set(d["item"])
    assert d["text_en"].str.len().gt(0).all() and d["text_zh"].str.len().gt(0).all()
    assert (d["scale_min"] < d["scale_max"]).all()


def test_read_only_missing_database_is_a_clear_error(tmp_path):
    with pytest.raises(StoreError, match="does not exist"):
        store.connect(tmp_path / "nope.duckdb", read_only=True)


def test_load_responses_filters_and_orders_waves(con):
    ingest_frame(con, _wave(30, "A", None, 1), "2025Q2", "q2a.csv", field_start="2025-04-01")
    ingest_frame(con, _wave(20, "A", None, 2), "2025Q1", "q1a.csv", field_start="2025-01-01")
    assert store.wave_labels(con) == ["2025Q1", "2025Q2"]  # ordered by field date, not import order
    d = store.load_responses(con)
    assert list(d["wave"].cat.categories) == ["2025Q1", "2025Q2"]
    assert d["wave"].iloc[0] == "2025Q1" and len(d) == 50
    north = store.load_responses(con, segments={"region": "North"})
    assert set(north["region"]) == {"North"} and 0 < len(north) < 50
    q2_north = store.load_responses(con, waves=["2025Q2"], segments=[("region", "North")])
    assert set(q2_north["wave"]) == {"2025Q2"} and set(q2_north["region"]) == {"North"}
    both = store.load_responses(con, segments={"region": ["North", "South"]})
    assert len(both) == 50
    with pytest.raises(StoreError, match="unknown wave"):
        store.load_responses(con, waves=["2030Q1"])
    assert store.segment_columns(con) == ["brand", "region"]
    assert store.segment_values(con, "region") == ["North", "South"]


def test_item_scales_refuse_pooling_different_scales(con):
    ingest_frame(con, _wave(10, "A", None, 1), "W1", "a.csv")
    ingest_frame(con, _wave(10, "B", None, 2), "W2", "b.csv", scale=(0, 10))
    assert store.item_scales(con, ["W1"])["sat1"] == (1.0, 10.0)
    assert store.item_scales(con, ["W2"])["sat1"] == (0.0, 10.0)
    with pytest.raises(StoreError, match="different scales"):
        store.item_scales(con)


def test_update_item_validates(con):
    store.update_item(con, "sat1", text_zh="总体而言，您对该运营商满意吗？")
    d = store.item_dictionary(con).set_index("item")
    assert d.loc["sat1", "text_zh"].startswith("总体而言")
    with pytest.raises(StoreError, match="unknown dictionary field"):
        store.update_item(con, "sat1", colour="red")
    with pytest.raises(StoreError, match="scale_min must be below"):
        store.update_item(con, "sat1", scale_min=11)
    assert store.item_dictionary(con).set_index("item").loc["sat1", "scale_min"] == 1  # rolled back


def test_settings(con):
    store.set_setting(con, "own_brand", "Skyline Mobile")
    assert store.get_setting(con, "own_brand") == "Skyline Mobile"
    assert store.get_setting(con, "nope", "x") == "x"


def test_update_items_is_all_or_nothing(con):
    before = store.item_dictionary(con)
    v0 = store.data_version(con)
    with pytest.raises(StoreError, match="scale_min must be below"):
        store.update_items(con, {"sat1": {"text_en": "changed"}, "sat2": {"scale_min": 20}})
    assert store.item_dictionary(con).equals(before) and store.data_version(con) == v0
    store.update_items(con, {"sat1": {"text_en": "A"}, "sat2": {"text_zh": "乙"}})
    d = store.item_dictionary(con).set_index("item")
    assert d.loc["sat1", "text_en"] == "A" and d.loc["sat2", "text_zh"] == "乙"
    assert store.data_version(con) == v0 + 1


def test_load_responses_returns_the_weight_as_float(con):
    weights = ["0.5", "1.25", "2", "0.333333", "1e0", " 3 "]
    frame = pd.DataFrame({"respondent_id": [f"r{i}" for i in range(6)], "region": ["N", "S"] * 3,
                          "weight": weights, "sat1": ["7"] * 6})
    ingest_frame(con, frame, "W1", "w1.csv")
    ingest_frame(con, _wave(4, "B", None, 3), "W2", "w2.csv")  # a wave without weights
    d = store.load_responses(con)
    assert d["weight"].dtype == np.float64
    np.testing.assert_array_equal(d["weight"].to_numpy()[:6], [0.5, 1.25, 2.0, 0.333333, 1.0, 3.0])
    assert d["weight"].iloc[6:].isna().all()
    assert d["region"].dtype == object and list(d["region"].iloc[:6]) == ["N", "S"] * 3
    one = store.load_responses(con, waves=["W1"], segments={"region": "S"})
    np.testing.assert_array_equal(one["weight"].to_numpy(), [1.25, 0.333333, 3.0])
    assert store.load_responses(con, waves=["W2"]).columns.tolist().count("weight") == 0


def test_a_damaged_weight_in_the_store_is_an_error_not_nan(con):
    frame = pd.DataFrame({"respondent_id": ["r1", "r2"], "weight": ["1", "2"], "sat1": ["7", "8"]})
    ingest_frame(con, frame, "W1", "w1.csv")
    con.execute("UPDATE segments SET value = 'x' WHERE name = 'weight' AND resp_key = 2")  # bypasses ingest
    with pytest.raises(StoreError, match="survey weight 'x' is not a number"):
        store.load_responses(con)


def test_delete_wave_keeps_the_rows_in_the_trash_until_purged(con):
    ingest_frame(con, _wave(12, "A", None, 4), "W1", "a.csv")
    ingest_frame(con, _wave(8, "B", None, 5), "W2", "b.csv")
    v0 = store.data_version(con)
    assert store.delete_wave(con, "W1", by="tester") == 12
    assert store.wave_labels(con) == ["W2"] and store.data_version(con) == v0 + 1
    assert len(store.load_responses(con)) == 8
    assert con.execute("SELECT count(*) FROM trash_answers").fetchone()[0] == 12
    assert con.execute("SELECT count(*) FROM trash_segments").fetchone()[0] == 24  # brand and region
    t = store.list_trash(con)
    assert list(t["label"]) == ["W1"] and list(t["deleted_by"]) == ["tester"]
    with pytest.raises(StoreError, match="no wave labelled 'W9' in the trash"):
        store.restore_wave(con, "W9")
    assert store.purge_trash(con, older_than_days=1) == []
    assert store.purge_trash(con) == ["W1"]
    assert store.list_trash(con).empty and con.execute("SELECT count(*) FROM trash_answers").fetchone()[0] == 0


def test_current_version_of_a_legacy_file_and_of_no_store(tmp_path):
    assert store.current_version(tmp_path / "none.duckdb") is None
    store.connect(tmp_path / "old.duckdb").close()
    assert store.current_version(tmp_path / "old.duckdb") == 0
    assert store.version_file(tmp_path / "old.duckdb") == tmp_path / "old.duckdb"
