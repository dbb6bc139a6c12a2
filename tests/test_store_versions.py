"""The versioned store: writers publish immutable versions behind an atomic pointer while readers read.

Issue 9, items 2, 3 and the kill tests of 8: a CLI ingest succeeds while another process reads; two writers
queue; a writer that cannot get the lock says who holds it; a killed writer leaves the previous version;
trash/restore gives back identical rows; the audit log names the actor; backup + restore round-trips.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from csi.data import store
from csi.data.ingest import ingest_frame
from csi.errors import StoreError

ROOT = Path(__file__).resolve().parents[1]


def _frame(n: int, seed: int, brand: str = "A") -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"respondent_id": [f"{brand}{seed}-{i}" for i in range(n)], "brand": brand,
                         "region": rng.choice(["North", "South"], n),
                         **{f"sat{k}": rng.integers(1, 11, n).astype(str) for k in (1, 2, 3)}})


def _csv(folder: Path, name: str, n: int, seed: int) -> Path:
    p = folder / name
    _frame(n, seed).to_csv(p, index=False)
    return p


def _cli(*args, env=None, timeout=300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "csi", *map(str, args)], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=timeout)


def _popen(*args, env=None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "csi", *map(str, args)], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, **(env or {})})


def _wait_for(flag: Path, proc: subprocess.Popen, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not flag.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the writer never reached the pause"
        time.sleep(0.05)


def _labels(path: Path) -> list[str]:
    con = store.connect(path, read_only=True)
    try:
        return store.wave_labels(con)
    finally:
        con.close()


@pytest.fixture
def db(tmp_path) -> Path:
    """A versioned store holding wave W1 (30 respondents), written the one way writers write."""
    path = tmp_path / "csi.duckdb"
    with store.writing(path, actor="setup", action="ingest") as con:
        ingest_frame(con, _frame(30, 1), "W1", "w1.csv")
    return path


def test_a_write_publishes_a_new_immutable_version_behind_a_symlink(db):
    assert db.is_symlink() and store.current_version(db) == 1
    first = store.version_file(db)
    assert first.parent == store.versions_dir(db)
    assert oct(first.stat().st_mode & 0o777) == "0o444"
    before = hashlib.sha256(first.read_bytes()).hexdigest()
    with store.writing(db, actor="t", action="rename") as con:
        store.rename_wave(con, "W1", "W1b")
    assert store.current_version(db) == 2 and _labels(db) == ["W1b"]
    assert hashlib.sha256(first.read_bytes()).hexdigest() == before  # the old version is untouched
    with pytest.raises(StoreError, match="versioned store"):
        store.connect(db)  # no in-place writes of a published version


def test_cli_ingest_succeeds_while_another_process_reads_and_the_reader_sees_it(db, tmp_path):
    reader = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys
        from csi.data import store
        con = store.connect({str(db)!r}, read_only=True)
        v0 = store.current_version({str(db)!r})
        print("open", v0, store.wave_labels(con), flush=True)
        sys.stdin.readline()
        print("old", store.wave_labels(con), flush=True)   # the open connection still reads its version
        v1 = store.current_version({str(db)!r})
        if v1 != v0:
            con = store.connect({str(db)!r}, read_only=True)
        print("new", v1, store.wave_labels(con), flush=True)
    """)], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert reader.stdout.readline().split()[:2] == ["open", "1"]
        r = _cli("ingest", _csv(tmp_path, "w2.csv", 40, 2), "--wave", "W2", "--db", db)
        assert r.returncode == 0, r.stderr
        r = _cli("rename-wave", "W2", "W2b", "--db", db)
        assert r.returncode == 0, r.stderr
        out, err = reader.communicate("go\n", timeout=60)
    finally:
        reader.kill()
    assert reader.returncode == 0, err
    lines = out.splitlines()
    assert lines[0] == "old ['W1']"
    assert lines[1] == "new 3 ['W1', 'W2b']"


def test_two_concurrent_writer_processes_both_succeed_in_turn(db, tmp_path):
    flag = tmp_path / "paused"
    slow = _popen("ingest", _csv(tmp_path, "a.csv", 20, 3), "--wave", "A", "--db", db,
                  env={"CSI_WRITE_FAULT": "body:pause=1.5", "CSI_WRITE_FAULT_FLAG": str(flag), "CSI_ACTOR": "slow"})
    _wait_for(flag, slow)  # A holds the lock, inside its write
    fast = _popen("ingest", _csv(tmp_path, "b.csv", 25, 4), "--wave", "B", "--db", db, env={"CSI_ACTOR": "fast"})
    out_a, err_a = slow.communicate(timeout=120)
    out_b, err_b = fast.communicate(timeout=120)
    assert slow.returncode == 0, err_a
    assert fast.returncode == 0, err_b
    con = store.connect(db, read_only=True)
    try:
        waves = store.list_waves(con).set_index("label")
        log = store.audit_log(con)
    finally:
        con.close()
    assert sorted(waves.index) == ["A", "B", "W1"]
    assert waves.loc["A", "n_respondents"] == 20 and waves.loc["B", "n_respondents"] == 25
    ingests = log[log["action"] == "ingest"]
    assert list(ingests["actor"])[:2] == ["fast", "slow"]  # newest first: B waited for A
    assert store.current_version(db) == 3


def test_a_writer_that_cannot_get_the_lock_names_the_holder_and_writes_nothing(db, tmp_path):
    flag = tmp_path / "paused"
    holder = _popen("rename-wave", "W1", "W1x", "--db", db,
                    env={"CSI_WRITE_FAULT": "body:hang", "CSI_WRITE_FAULT_FLAG": str(flag), "CSI_ACTOR": "nightly-job"})
    try:
        _wait_for(flag, holder)
        t0 = time.monotonic()
        r = _cli("ingest", _csv(tmp_path, "c.csv", 20, 5), "--wave", "C", "--db", db, env={"CSI_WRITE_TIMEOUT": "0.5"})
        waited = time.monotonic() - t0
    finally:
        holder.kill()
        holder.wait(30)
    assert r.returncode == 2, r.stderr
    assert "is busy: nightly-job is writing (rename) since" in r.stderr and "nothing was written" in r.stderr
    shown = re.sub(r"incident [0-9a-f]{6}", "", r.stderr)
    assert str(holder.pid) not in shown and str(tmp_path) not in shown
    assert waited < 60  # bounded (the wait itself is 0.5 s; the rest is interpreter start-up)
    assert _labels(db) == ["W1"] and store.current_version(db) == 1
    with pytest.raises(StoreError, match="busy"):  # the library call the same way, with its own timeout
        with store.write_lock(db, "me", "x"):
            with store.writing(db, actor="me", action="x", timeout=0.1):
                pass


@pytest.mark.parametrize("fault", ["CSI_INGEST_FAULT=answers:hang", "CSI_WRITE_FAULT=body:hang",
                                   "CSI_WRITE_FAULT=published:hang"])
def test_a_killed_writer_leaves_the_previous_version_and_the_next_write_succeeds(db, tmp_path, fault):
    flag = tmp_path / "paused"
    var, value = fault.split("=")
    env = {var: value, "CSI_INGEST_FAULT_FLAG": str(flag), "CSI_WRITE_FAULT_FLAG": str(flag)}
    proc = _popen("ingest", _csv(tmp_path, "k.csv", 50, 6), "--wave", "K", "--db", db, env=env)
    _wait_for(flag, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    debris = [p.name for p in tmp_path.iterdir() if p.name.startswith(".csi.duckdb.tmp-")]
    if "published" not in fault:
        assert debris, "the kill landed after the write finished"
    assert _labels(db) == ["W1"] and store.current_version(db) == 1  # the store opens; K absent, W1 whole
    con = store.connect(db, read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM respondents").fetchone()[0] == 30
        assert con.execute("SELECT count(*) FROM answers").fetchone()[0] == 30
    finally:
        con.close()
    r = _cli("ingest", _csv(tmp_path, "k.csv", 50, 6), "--wave", "K", "--db", db)
    assert r.returncode == 0, r.stderr
    assert _labels(db) == ["W1", "K"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".csi.duckdb.tmp-")]  # debris swept
    # a version file published by the killed writer but never pointed to was removed, not reused
    assert store.current_version(db) == 2 and [p.name for p in sorted(store.versions_dir(db).iterdir())] == [
        "000001.duckdb", "000002.duckdb"]


def _wave_rows(con, label: str) -> dict[str, list[tuple]]:
    wid = con.execute("SELECT wave_id FROM waves WHERE label = ?", [label]).fetchone()[0]
    out = {"waves": con.execute("SELECT * EXCLUDE (ordinal) FROM waves WHERE wave_id = ?", [wid]).fetchall()}
    for table, order in (("wave_items", "item"), ("respondents", "resp_key"), ("segments", "resp_key, name"),
                         ("answers", "resp_key")):
        out[table] = con.execute(f"SELECT * FROM {table} WHERE wave_id = ? ORDER BY {order}", [wid]).fetchall()
    return out


def test_delete_moves_to_the_trash_and_restore_gives_back_identical_rows(db, tmp_path):
    frame = _frame(60, 7)
    frame.loc[3, "sat2"] = ""  # a missing answer survives the round trip as NULL
    with store.writing(db, actor="t", action="ingest") as con:
        ingest_frame(con, frame, "W2", "w2.csv", field_start="2025-04-01")
        ingest_frame(con, _frame(20, 8), "W3", "w3.csv", field_start="2025-07-01")
        before = _wave_rows(con, "W2")
        responses = store.load_responses(con, waves=["W2"])
    assert len(before["answers"]) == 60 and len(before["segments"]) == 120
    r = _cli("delete-wave", "W2", "--confirm", "W2", "--db", db, env={"CSI_ACTOR": "carol"})
    assert r.returncode == 0 and "trash" in r.stdout, r.stderr
    con = store.connect(db, read_only=True)
    try:
        assert store.wave_labels(con) == ["W3", "W1"]  # readers never see a deleted wave (W1 has no field date)
        assert "W2" not in set(store.load_responses(con)["wave"].astype(str))
        assert con.execute("SELECT count(*) FROM answers_long al JOIN waves w USING (wave_id) "
                           "WHERE w.label = 'W2'").fetchone()[0] == 0
        trash = store.list_trash(con)
    finally:
        con.close()
    assert list(trash["label"]) == ["W2"] and trash["deleted_by"].iloc[0] == "carol"
    assert int(trash["n_respondents"].iloc[0]) == 60
    r = _cli("trash", "--db", db)
    assert r.returncode == 0 and "W2" in r.stdout and "carol" in r.stdout and "60" in r.stdout, r.stderr
    r = _cli("restore-wave", "W2", "--db", db)
    assert r.returncode == 0, r.stderr
    con = store.connect(db, read_only=True)
    try:
        after = _wave_rows(con, "W2")
        back = store.load_responses(con, waves=["W2"])
        assert store.wave_labels(con) == ["W2", "W3", "W1"] and store.list_trash(con).empty
    finally:
        con.close()
    assert after == before  # row for row, same wave_id
    pd.testing.assert_frame_equal(back, responses)


def test_restore_refuses_a_label_clash_and_purge_empties_the_trash(db, tmp_path):
    with store.writing(db, actor="t", action="delete") as con:
        store.delete_wave(con, "W1", by="t")
        ingest_frame(con, _frame(10, 9), "W1", "other.csv")  # a new wave takes the label
    r = _cli("restore-wave", "W1", "--db", db)
    assert r.returncode == 2 and "a wave with that label exists now" in r.stderr, r.stderr
    r = _cli("restore-wave", "nope", "--db", db)
    assert r.returncode == 2 and "no wave labelled 'nope' in the trash" in r.stderr, r.stderr
    r = _cli("purge-trash", "--older-than", "1", "--db", db)  # deleted just now: kept
    assert r.returncode == 0 and "purged 0 waves" in r.stdout, r.stderr
    r = _cli("purge-trash", "--db", db)
    assert r.returncode == 0 and "purged 1 wave" in r.stdout and "W1" in r.stdout, r.stderr
    con = store.connect(db, read_only=True)
    try:
        assert store.list_trash(con).empty
        assert con.execute("SELECT count(*) FROM trash_answers").fetchone()[0] == 0
        assert store.wave_labels(con) == ["W1"]
    finally:
        con.close()


def test_audit_entries_name_the_actor_file_and_checksum(db, tmp_path):
    f = _csv(tmp_path, "wave2.csv", 30, 10)
    r = _cli("ingest", f, "--wave", "W2", "--db", db, env={"CSI_ACTOR": "alice"})
    assert r.returncode == 0, r.stderr
    r = _cli("target", "SAT", "75", "--db", db, env={"CSI_ACTOR": "bob"})
    assert r.returncode == 0, r.stderr
    from app.actions import commit_upload

    raw = _frame(12, 11)
    commit_upload(db, raw, "W3", "upload.csv", actor="dana@example.org", sha256="ab" * 32)
    with store.writing(db, actor="erin", action="dictionary", detail={"items": ["sat1"]}) as con:
        store.update_items(con, {"sat1": {"text_en": "Overall satisfaction (edited)"}})
    r = _cli("audit", "--json", "--db", db)
    assert r.returncode == 0, r.stderr
    log = json.loads(r.stdout)
    assert [e["action"] for e in log] == ["dictionary", "ingest", "settings", "ingest", "ingest"]
    assert [e["actor"] for e in log] == ["erin", "dana@example.org", "bob", "alice", "setup"]
    cli_ingest = log[3]
    assert cli_ingest["wave"] == "W2" and cli_ingest["detail"]["file"] == "wave2.csv"
    assert cli_ingest["detail"]["sha256"] == hashlib.sha256(f.read_bytes()).hexdigest()
    assert cli_ingest["detail"]["n"] == 30
    assert log[2]["detail"]["settings"] == {"targets": '{"SAT": 75.0}'}
    assert log[1]["detail"]["via"] == "app" and log[1]["detail"]["n"] == 12
    r = _cli("audit", "--limit", "2", "--db", db)
    assert r.returncode == 0 and "erin" in r.stdout and "alice" not in r.stdout, r.stderr


def test_backup_while_a_reader_is_open_and_restore_round_trip(db, tmp_path):
    with store.writing(db, actor="t", action="ingest") as con:
        ingest_frame(con, _frame(40, 12), "W2", "w2.csv")
        rows = {w: _wave_rows(con, w) for w in ("W1", "W2")}
    reader = store.connect(db, read_only=True)  # a dashboard has the store open meanwhile
    try:
        r = _cli("backup", tmp_path / "bk", "--db", db)
        assert r.returncode == 0, r.stderr
    finally:
        reader.close()
    copies = sorted((tmp_path / "bk").glob("*.duckdb"))
    assert len(copies) == 1
    manifest = json.loads(copies[0].with_name(copies[0].name + ".json").read_text())
    assert manifest["sha256"] == hashlib.sha256(copies[0].read_bytes()).hexdigest()
    assert manifest["waves"] == ["W1", "W2"] and manifest["schema"] == store.SCHEMA_VERSION
    assert manifest["version"] == store.current_version(db)
    # disaster: both waves deleted and purged
    for w in ("W1", "W2"):
        assert _cli("delete-wave", w, "--confirm", w, "--db", db).returncode == 0
    assert _cli("purge-trash", "--db", db).returncode == 0
    assert _labels(db) == []
    r = _cli("restore-backup", copies[0], "--db", db, env={"CSI_ACTOR": "ops"})
    assert r.returncode == 0, r.stderr
    con = store.connect(db, read_only=True)
    try:
        assert {w: _wave_rows(con, w) for w in ("W1", "W2")} == rows
        log = store.audit_log(con)
    finally:
        con.close()
    assert log["action"].iloc[0] == "restore-backup" and log["actor"].iloc[0] == "ops"
    # a damaged or altered backup is refused
    bad = tmp_path / "bk" / "bad.duckdb"
    bad.write_bytes(copies[0].read_bytes())
    (tmp_path / "bk" / "bad.duckdb.json").write_text(json.dumps({**manifest, "sha256": "0" * 64}))
    r = _cli("restore-backup", bad, "--db", db)
    assert r.returncode == 2 and "does not match its manifest" in r.stderr, r.stderr


def test_a_legacy_file_is_read_while_held_and_converted_by_the_first_write(tmp_path):
    path = tmp_path / "old.duckdb"
    con = store.connect(path)  # the first release's layout: one file written in place
    ingest_frame(con, _frame(20, 13), "L1", "l1.csv")
    con.close()
    assert not path.is_symlink() and store.current_version(path) == 0
    reader = store.connect(path, read_only=True)  # a dashboard of this process reads the legacy file
    try:
        r = _cli("ingest", _csv(tmp_path, "l2.csv", 15, 14), "--wave", "L2", "--db", path)
        assert r.returncode == 0, r.stderr
        assert store.wave_labels(reader) == ["L1"]  # still reading what it opened
    finally:
        reader.close()
    assert path.is_symlink() and store.current_version(path) == 1 and _labels(path) == ["L1", "L2"]


def test_migration_from_schema_2_on_the_first_write(tmp_path, monkeypatch):
    path = tmp_path / "v2.duckdb"
    monkeypatch.setattr(store, "_MIGRATIONS", store._MIGRATIONS[:2])
    con = store.connect(path)
    ingest_frame(con, _frame(20, 15), "V2", "v2.csv")
    assert store._schema_version(con) == 2
    con.close()
    monkeypatch.undo()
    con = store.connect(path, read_only=True)  # an old store still opens read-only
    try:
        assert store.wave_labels(con) == ["V2"] and store.audit_log(con).empty and store.list_trash(con).empty
    finally:
        con.close()
    with store.writing(path, actor="t", action="delete") as con:
        store.delete_wave(con, "V2", by="t")
    con = store.connect(path, read_only=True)
    try:
        assert store._schema_version(con) == store.SCHEMA_VERSION >= 3  # every migration since, too
        assert list(store.list_trash(con)["label"]) == ["V2"]
        assert list(store.audit_log(con)["action"]) == ["delete"]
    finally:
        con.close()


def test_old_versions_are_pruned_but_an_open_reader_keeps_reading(db, monkeypatch):
    oldest = store.connect(db, read_only=True)
    monkeypatch.setattr(store, "GRACE_SECONDS", 0.0)
    try:
        for k in range(2, 9):
            with store.writing(db, actor="t", action="settings") as con:
                store.set_setting(con, "n", str(k))
        nums = sorted(p.name for p in store.versions_dir(db).iterdir())
        assert len(nums) == store.KEEP_VERSIONS and nums[-1] == "000008.duckdb"
        assert not (store.versions_dir(db) / "000001.duckdb").exists()
        assert store.wave_labels(oldest) == ["W1"]  # the pruned file is still readable through the open handle
    finally:
        oldest.close()


def test_the_apps_reader_switches_to_a_new_version_and_closes_the_old_one_after_its_last_read(db, tmp_path):
    from app import state

    p = str(db)
    v0 = state.data_version(p)
    versions = state._connection(p)
    pin, cur = versions.acquire()  # a read of another session, still running when the new version appears
    try:
        r = _cli("ingest", _csv(tmp_path, "w2.csv", 25, 16), "--wave", "W2", "--db", db)
        assert r.returncode == 0, r.stderr
        assert state.data_version(p) != v0  # the next run of any session sees the new version ...
        with state.reading(p) as con:
            assert store.wave_labels(con) == ["W1", "W2"]
        assert store.wave_labels(cur) == ["W1"]  # ... while the running read finishes on its own version
        assert pin.retired and versions.current is not pin
    finally:
        cur.close()
        versions.release(pin)
    with pytest.raises(Exception, match="closed"):
        pin.con.execute("SELECT 1")  # the superseded version's connection is closed after its last read
    with state.writer(p, action="rename") as con:  # the app's own write: audited as the app's actor
        store.rename_wave(con, "W2", "W2b")
    with state.writer(p) as con:  # a settings editor (app/editors.py) names no action
        store.set_setting(con, "own_brand", "A")
    with state.reading(p) as con:
        assert store.wave_labels(con) == ["W1", "W2b"]
        log = store.audit_log(con, limit=2)
    assert list(log["action"]) == ["settings", "rename"] and set(log["actor"]) == {state.actor()}
    assert json.loads(log["detail"].iloc[0]) == {"settings": {"own_brand": "A"}}
    versions.close()


def test_the_data_page_deletes_to_the_trash_restores_and_shows_the_audit_log(tmp_path, monkeypatch):
    pytest.importorskip("streamlit")
    import streamlit as st

    from app.i18n import t
    from conftest import app_environment, app_test, build_small_demo

    path = build_small_demo(tmp_path / "csi.duckdb", 60, waves=2)  # a legacy file: converted by the first write
    app_environment(monkeypatch, tmp_path, db=path, clear=True)
    at = app_test()
    at.run()
    at.switch_page("app_pages/data.py")
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    victim = _labels(path)[0]
    at.selectbox(key="da_delete_label").set_value(victim)
    at.text_input(key="da_delete_typed").input(victim)
    [b for b in at.button if b.label == t("da_delete_btn", "en")][0].click()
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    assert victim not in _labels(path) and path.is_symlink()
    assert at.selectbox(key="da_restore_label").value == victim  # the trash tab offers it
    [b for b in at.button if b.label == t("da_restore_btn", "en")][0].click()
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    assert victim in _labels(path)
    con = store.connect(path, read_only=True)
    try:
        log = store.audit_log(con)
    finally:
        con.close()
    assert list(log["action"]) == ["restore", "delete"] and set(log["actor"]) == {"demo"}  # the open mode's user
    shown = [df.value for df in at.dataframe]
    assert any("restore" in set(map(str, d.iloc[:, 2])) for d in shown if d.shape[1] == 5)  # the audit tab
    st.cache_resource.clear()


def test_the_data_page_trash_lists_audit_periods_and_restores_a_replaced_one(tmp_path, monkeypatch):
    """ingest-audit --replace keeps the old version in the trash; the Trash tab lists it beside a deleted wave
    (kind column in both languages) and its restore button brings it back through app.state.writer, audited
    as the signed-in user: refused (translated message, nothing written) while the label is taken, then with
    the replace box ticked the old rows come back unchanged and the newer version goes to the trash."""
    pytest.importorskip("streamlit")
    import streamlit as st

    from app.i18n import t
    from conftest import app_environment, app_test, build_small_demo
    from csi.data.audit import ingest_audit_into
    from test_audit import _tables as _audit_rows  # every row of audit_periods and audits, in a fixed order

    path = build_small_demo(tmp_path / "csi.duckdb", 40, waves=2)
    old = tmp_path / "old.csv"
    old.write_text("outlet,category,possible,obtained,note\nNorth-1,environment,10,8,dusty\n"
                   "North-1,staff competence,20,17,\nWest-1,environment,10,9,\n", encoding="utf-8")
    new = tmp_path / "new.csv"
    new.write_text("outlet,category,possible,obtained\nNorth-1,environment,10,4\nWest-1,environment,10,5\n",
                   encoding="utf-8")
    ingest_audit_into(path, old, "2025H1", actor="analyst")
    snapshot = _audit_rows(path)
    assert ingest_audit_into(path, new, "2025H1", replace=True, actor="analyst").trash_id == 1
    newer = _audit_rows(path)
    wave = _labels(path)[0]
    with store.writing(path, actor="analyst", action="delete", detail={"wave": wave}) as con:
        store.delete_wave(con, wave, by="analyst")
    app_environment(monkeypatch, tmp_path, db=path, clear=True)
    at = app_test()
    at.run()
    at.session_state["lang"] = "zh"
    at.switch_page("app_pages/data.py")
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    (tab,) = [x for x in at.tabs if x.label == t("da_trash", "zh")]
    (shown,) = [d.value for d in tab.dataframe]
    assert list(shown.columns) == [t(k, "zh") for k in ("da_trash_kind", "da_trash_label", "da_deleted_by",
                                                         "da_deleted_at", "da_trash_n")]
    assert sorted(shown[t("da_trash_kind", "zh")]) == sorted([t("wave", "zh"), t("au_period", "zh")])
    assert dict(zip(shown[t("da_trash_label", "zh")], shown[t("da_trash_n", "zh")].astype(int)))["2025H1"] == 3
    (option,) = at.selectbox(key="da_restore_audit_id").options
    assert "2025H1" in option and "analyst" in option and "3 行" in option
    from test_i18n import leaks

    texts = [option, *map(str, shown.columns), *map(str, shown.iloc[:, 0]), *[c.value for c in tab.caption],
             *[w.label for w in (*tab.selectbox, *tab.checkbox, *tab.button)]]
    assert not sorted({w for x in texts for w in leaks(x, "zh", [wave, "analyst", "UTC"])}), texts
    at.session_state["lang"] = "en"
    at.run()
    pick = at.selectbox(key="da_restore_audit_id")
    assert pick.value == 1 and len(pick.options) == 1 and "(deleted " in pick.options[0]
    assert at.selectbox(key="da_restore_label").value == wave  # the waves' own restore is still there
    version = store.current_version(path)
    [b for b in at.button if b.label == t("da_restore_audit_btn", "en")][0].click()
    at.run()  # the label is taken by the new import: refused in words, nothing written
    assert not at.exception, [e.message for e in at.exception]
    assert t("da_restore_audit_taken", "en", label="2025H1") in [e.value for e in at.error]
    assert store.current_version(path) == version
    at.checkbox(key="da_restore_audit_replace").check()
    [b for b in at.button if b.label == t("da_restore_audit_btn", "en")][0].click()
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    back = _audit_rows(path)
    pd.testing.assert_frame_equal(back[0], snapshot[0])  # the old version, every column as it was
    pd.testing.assert_frame_equal(back[1], snapshot[1])
    assert t("da_audit_restored_swap", "en", label="2025H1", n=3) in [e.value for e in at.success]
    con = store.connect(path, read_only=True)
    try:
        trash = store.list_audit_trash(con)
        log = store.audit_log(con, limit=1)
        kept = con.execute("SELECT * FROM trash_audits ORDER BY outlet, category").df()
    finally:
        con.close()
    assert list(trash["trash_id"]) == [2] and list(trash["rows"]) == [2] and list(trash["deleted_by"]) == ["demo"]
    pd.testing.assert_frame_equal(kept.drop(columns="trash_id"), newer[1])  # the newer version kept in the trash
    assert (log.iloc[0]["action"], log.iloc[0]["actor"]) == ("restore-audit", "demo")  # the open mode's user
    detail = json.loads(log.iloc[0]["detail"])
    assert (detail["audit_period"], detail["trash_id"], detail["replaced"], detail["rows"]) == ("2025H1", 1, True, 3)
    assert at.selectbox(key="da_restore_audit_id").value == 2  # the newer version can be brought back the same way
    st.cache_resource.clear()


def test_the_app_keeps_the_stores_name_and_never_writes_a_version_file(db, monkeypatch):
    """The app once resolved $CSI_DB, which follows the symlink: it stayed on version 1 for good and aimed
    its writes at a version file. The path is absolute but unresolved, and a version file refuses writers."""
    from app import state

    monkeypatch.chdir(db.parent)
    monkeypatch.setenv("CSI_DB", db.name)
    assert state.db_path() == str(db) and Path(state.db_path()).is_symlink()
    with pytest.raises(StoreError, match="one published version"):
        with store.writing(store.version_file(db), actor="t", action="rename") as con:
            store.rename_wave(con, "W1", "X")
    assert _labels(db) == ["W1"] and store.current_version(db) == 1
