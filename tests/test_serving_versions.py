"""Serving the previous data version while a new one is prepared (app.state.data_version).

After a wave is published, a dashboard process keeps showing the version it showed (its results are in memory)
while one background thread prepares the new version for the selections shown recently; then it switches and
every page reruns on the new data. Reads of the previous version read that version's own file, never the newer
one under the older key; the writing session sees its new version at once."""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from app import state  # noqa: E402
from csi.data import store  # noqa: E402


def _new_wave(db, label: str, n: int = 150) -> None:
    from csi.data import demo
    from csi.data.ingest import ingest_frame

    df = demo.generate(20240601).waves["2025Q4"].iloc[200:200 + n].copy()
    df["respondent_id"] = [f"{label}-{i:04d}" for i in range(len(df))]
    raw = df.astype(object).where(df.notna(), "").astype(str)
    with store.writing(str(db), actor="test", action="ingest") as con:
        ingest_frame(con, raw, wave=label, source_name=f"{label}.csv")


def _labels(con) -> list[str]:
    return [str(w) for w in store.list_waves(con)["label"]]


@pytest.fixture(scope="module")
def small_db(tmp_path_factory):
    from conftest import build_small_demo

    return build_small_demo(tmp_path_factory.mktemp("servedb") / "csi.duckdb", 150, waves=3)


@pytest.fixture()
def db(small_db, tmp_path, monkeypatch):
    from conftest import app_environment, clear_streamlit_caches

    monkeypatch.setenv(state.STALE_ENV, "60")
    env = app_environment(monkeypatch, tmp_path, copy_of=small_db, bootstrap=0, clear=True)
    with store.writing(str(env.db), actor="test", action="settings") as con:  # a versioned store, as served
        store.set_setting(con, "note", "versioned")
    yield str(env.db)
    clear_streamlit_caches()


def test_the_served_version_is_read_from_its_own_file_after_newer_ones_are_published(db):
    state._RECENT[db] = {((), ("x",), (), "ccsi", "", "pls", True): None}  # something shown: serve stale
    v1 = state.data_version(db)
    with state.reading(db, v1) as con:
        before = _labels(con)
    _new_wave(db, "2027Q1")
    v2 = state.current_version(db)
    assert v2 != v1 and state.data_version(db) == v1  # served: v1, while v2 is prepared
    with state.reading(db, v2) as con:
        assert _labels(con) == before + ["2027Q1"]
    with state.reading(db, v1) as con:  # the served version's connection is kept open: its own rows
        assert _labels(con) == before
    with state.reading(db) as con:
        assert _labels(con) == before + ["2027Q1"]
    _new_wave(db, "2027Q2")  # another version while still serving v1
    v3 = state.current_version(db)
    with state.reading(db, v1) as con:
        assert _labels(con) == before
    with state.reading(db, v2) as con:  # neither served nor current: not kept, the current version's rows
        assert _labels(con) == before + ["2027Q1", "2027Q2"]
    assert state.data_version(db) == v1  # still v1: now v3 is prepared
    assert state._SERVING[db].next == v3 and state._SERVING[db].ready.wait(120)
    assert state.data_version(db) == v3  # switched: the kept connection is released
    assert state._connection(db).kept is None
    with state.reading(db, v1) as con:
        assert _labels(con) == before + ["2027Q1", "2027Q2"]


def test_the_previous_version_is_served_until_the_new_one_is_prepared(db):
    from conftest import app_test

    at = app_test()
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    waves_before = list(at.sidebar.multiselect(key="f_waves").value)
    v1 = state.data_version(db)
    _new_wave(db, "2027Q1")
    at.run()  # the process still serves v1 and prepares the new version in the background
    assert not at.exception, [e.message for e in at.exception]
    assert list(at.sidebar.multiselect(key="f_waves").options) == waves_before
    serving = state._SERVING[db]
    v2 = state.current_version(db)
    assert serving.version == v1 and serving.next == v2
    assert serving.ready.wait(120), "the new version was not prepared"
    # prepared in the background: the new version's engine tables exist before any page asked for them
    prepared = {k: e[1] for k, e in list(state._TABLES.entries.items()) if e[2] == v2}
    assert prepared
    at.run()  # now the process switches: the new wave joins the selection
    assert not at.exception, [e.message for e in at.exception]
    assert list(at.sidebar.multiselect(key="f_waves").value) == waves_before + ["2027Q1"]
    assert state.data_version(db) == v2 and state._SERVING[db].version == v2
    # the switch kept what was prepared for the new version and dropped the old version's tables
    entries = dict(state._TABLES.entries)
    assert all(k in entries and entries[k][1] is v for k, v in prepared.items())  # used as prepared, not redone
    assert v1 not in {e[2] for e in entries.values()}
    _new_wave(db, "2027Q2")  # the next version is served stale again (not switched by the last one's readiness)
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    assert "2027Q2" not in list(at.sidebar.multiselect(key="f_waves").options)
    assert state._SERVING[db].ready.wait(120)
    at.run()
    assert list(at.sidebar.multiselect(key="f_waves").value)[-2:] == ["2027Q1", "2027Q2"]


def test_the_writing_session_sees_its_version_at_once_and_stale_0_switches_at_once(db, monkeypatch):
    state._RECENT[db] = {((), ("x",), (), "ccsi", "", "pls", True): None}  # something shown: serve stale
    v1 = state.data_version(db)
    _new_wave(db, "2027Q1")
    v2 = state.current_version(db)
    monkeypatch.setattr(state, "_fresh", lambda: True)
    assert state.data_version(db) == v2 and state._SERVING[db].version == v1  # the writer: the new version
    monkeypatch.setattr(state, "_fresh", lambda: False)
    state._SERVING[db].ready.wait(120)
    monkeypatch.setenv(state.STALE_ENV, "0")
    _new_wave(db, "2027Q2")
    v3 = state.current_version(db)
    assert state.data_version(db) == v3 and state._SERVING[db].version == v3


def test_a_new_wave_joins_the_selection_by_one_rule():
    assert state.next_wave_selection(["a", "b"], ("a", "b", "c"), ("a", "b", "c", "d")) == ["a", "b", "d"]
    assert state.next_wave_selection(["a", "x"], ("a", "x"), ("a", "d")) == ["a", "d"]
    assert state.next_wave_selection(["x"], ("x",), ("a",)) == ["a"]  # nothing left: every wave
