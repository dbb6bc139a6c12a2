"""Kill test of the store's write path (issue 9, item 8): SIGKILL writers at random points, then check.

Two kinds of writer, ``--kills`` times each (default 20):

* ``cli``: ``python -m csi ingest FILE --wave LABEL --db STORE`` (the command line, a scheduled job);
* ``app``: a process running the app's commit path, :func:`app.actions.commit_upload` (what the Data page's
  commit button calls), on the same store.

Every other kill lands at a uniformly random moment within the writer's measured uncontested run time
(start-up, reading, validation, the write on the private copy, publishing); the others at a random moment
of the write itself (from the moment the writer's private copy exists to the measured end of the run). After every kill it checks that the store
opens, that every wave is whole (``waves.n_respondents`` = its respondents = its answer rows, and every wave
item has a position in the answer lists) and the killed wave whole or absent, then that the next write
succeeds (the same wave is written again when absent). It prints the counts and the median run time.

Local files only (a temporary folder; nothing listens on a socket); bounded: ``--kills`` per kind and a
``--deadline`` in seconds after which it stops by itself and reports what it did.

    python bench/bench_kill.py [--kills 20] [--seed 1] [--deadline 600]
"""
from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

APP_WRITER = """
import sys
import pandas as pd
from app.actions import commit_upload
path, csv, label = sys.argv[1:4]
frame = pd.read_csv(csv, dtype=str, keep_default_na=False)
commit_upload(path, frame, label, csv.rsplit('/', 1)[-1], actor="bench-app", sha256=None)
"""


def _frame(n: int, seed: int):
    import numpy as np
    import pandas as pd

    from csi.data import demo

    survey = demo.generate(20240601)
    wave = next(iter(survey.waves.values()))
    rng = np.random.default_rng(seed)
    df = wave.sample(n=n, replace=True, random_state=int(rng.integers(1 << 31))).reset_index(drop=True)
    df["respondent_id"] = [f"s{seed}-{i}" for i in range(n)]
    return demo.as_text(df)


def _command(kind: str, db: Path, csv: Path, label: str) -> list[str]:
    if kind == "cli":
        return [sys.executable, "-m", "csi", "ingest", str(csv), "--wave", label, "--db", str(db)]
    return [sys.executable, "-c", APP_WRITER, str(db), str(csv), label]


def _write_started(proc: subprocess.Popen, work: Path) -> float | None:
    """Poll until the writer's private copy (``.csi.duckdb.tmp-PID-*``) exists: the write has begun (the
    lock is held). Returns that moment (perf_counter), or None when the process ended first."""
    prefix = f".csi.duckdb.tmp-{proc.pid}-"
    while proc.poll() is None:
        if any(name.startswith(prefix) for name in os.listdir(work)):
            return time.perf_counter()
        time.sleep(0.002)
    return None


def _check(db: Path, label: str) -> tuple[bool, bool, str]:
    """(store opened, every wave whole, state of ``label``: 'whole', 'absent' or 'PARTIAL')."""
    from csi.data import store

    try:
        con = store.connect(db, read_only=True)
    except Exception as e:  # noqa: BLE001 - the figure to report
        print(f"  store did not open: {type(e).__name__}: {e}")
        return False, False, "?"
    try:
        rows = con.execute("""
            SELECT w.label, w.n_respondents,
                   (SELECT count(*) FROM respondents r WHERE r.wave_id = w.wave_id),
                   (SELECT count(*) FROM answers a WHERE a.wave_id = w.wave_id),
                   (SELECT count(*) FROM wave_items wi WHERE wi.wave_id = w.wave_id),
                   (SELECT coalesce(min(len(a.vals)), 0) FROM answers a WHERE a.wave_id = w.wave_id)
            FROM waves w""").fetchall()
    finally:
        con.close()
    whole = {lab: n == nr == na and ni == nl for lab, n, nr, na, ni, nl in rows}
    state = "absent" if label not in whole else ("whole" if whole[label] else "PARTIAL")
    return True, all(whole.values()), state


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kills", type=int, default=20, help="kills per kind of writer")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--rows", type=int, default=800, help="respondents per written wave")
    ap.add_argument("--deadline", type=float, default=600.0, help="stop after this many seconds")
    args = ap.parse_args(argv)
    rng = random.Random(args.seed)
    t_end = time.monotonic() + args.deadline

    from csi.data import store
    from csi.data.ingest import ingest_frame

    work = Path(tempfile.mkdtemp(prefix="csi-kill-"))
    db = work / "csi.duckdb"
    try:
        with store.writing(db, actor="bench", action="ingest") as con:
            ingest_frame(con, _frame(args.rows, 0), "BASE", "base.csv")
        csvs = []
        for k in range(2):  # one file per kind of writer: the write is the same each time, the label differs
            p = work / f"wave{k}.csv"
            _frame(args.rows, k + 1).to_csv(p, index=False)
            csvs.append(p)
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        results = {}
        for kind, csv in (("cli", csvs[0]), ("app", csvs[1])):
            # the uncontested run time of this writer: the window the kills are drawn from
            runs, writes = [], []
            for j in range(3):
                t0 = time.perf_counter()
                proc = subprocess.Popen(_command(kind, db, csv, f"{kind}-timing-{j}"), cwd=ROOT, env=env,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                t_write = _write_started(proc, work)
                err = proc.communicate(timeout=300)[1]
                runs.append(time.perf_counter() - t0)
                writes.append(time.perf_counter() - (t_write or t0))
                assert proc.returncode == 0, err
                with store.writing(db, actor="bench", action="delete") as con:  # the file may be stored again
                    store.delete_wave(con, f"{kind}-timing-{j}", by="bench")
                    store.purge_trash(con)
            window, write_window = statistics.median(runs), statistics.median(writes)
            res = {"kills": 0, "inside_write": 0, "write_s": write_window, "opened": 0, "waves_whole": 0, "killed_absent": 0, "killed_whole": 0,
                   "partial": 0, "next_write_ok": 0, "window_s": window}
            for i in range(args.kills):
                if time.monotonic() > t_end:
                    print(f"deadline reached: {kind} stopped after {i} kills")
                    break
                label = f"{kind}-{i:02d}"
                proc = subprocess.Popen(_command(kind, db, csv, label), cwd=ROOT, env=env,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                if i % 2 == 0:  # anywhere in the run: start-up, reading, validation, the write, publishing
                    time.sleep(rng.uniform(0.0, window))
                else:  # inside the write: from the moment its private copy exists to its measured end
                    _write_started(proc, work)
                    time.sleep(rng.uniform(0.0, write_window))
                proc.send_signal(signal.SIGKILL)
                proc.wait(60)
                res["kills"] += 1
                # a kill after the writer made its private copy (inside the write) leaves that copy as debris
                res["inside_write"] += any(p.name.startswith(f".csi.duckdb.tmp-{proc.pid}-") for p in work.iterdir())
                opened, whole, state = _check(db, label)
                res["opened"] += opened
                res["waves_whole"] += whole
                res["killed_absent"] += state == "absent"
                res["killed_whole"] += state == "whole"
                res["partial"] += state == "PARTIAL"
                # the next write: the same wave again when it is absent, otherwise move it aside
                try:
                    with store.writing(db, actor="bench", action="next-write", timeout=30) as con:
                        if state == "absent":
                            import pandas as pd

                            ingest_frame(con, pd.read_csv(csv, dtype=str, keep_default_na=False), label, csv.name)
                        store.delete_wave(con, label, by="bench")  # free the file's checksum for the next kill
                        store.purge_trash(con)
                    res["next_write_ok"] += 1
                except Exception as e:  # noqa: BLE001 - the figure to report
                    print(f"  next write after kill {label} failed: {type(e).__name__}: {e}")
            results[kind] = res
        left = sorted(p.name for p in work.iterdir() if p.name.startswith(".csi.duckdb.tmp-"))
        versions = len(list(store.versions_dir(db).iterdir()))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for kind, res in results.items():
        n = res["kills"]
        print(f"{kind:>3}: {n} SIGKILLs (half anywhere in a {res['window_s']:.2f} s uncontested run, half inside "
              f"its {res['write_s']:.2f} s write; medians of 3), "
              f"{res['inside_write']} of them inside the write (private copy made, not published): "
              f"store opened {res['opened']}/{n}, every wave whole {res['waves_whole']}/{n}, killed wave "
              f"absent {res['killed_absent']} / whole {res['killed_whole']} / partial {res['partial']}, "
              f"next write ok {res['next_write_ok']}/{n}")
    print(f"debris left after the last write: {len(left)} files; version files kept: {versions}")
    bad = any(r["opened"] < r["kills"] or r["waves_whole"] < r["kills"] or r["partial"] or
              r["next_write_ok"] < r["kills"] for r in results.values())
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
