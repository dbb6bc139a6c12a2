"""What a background bootstrap costs the dashboard's serving process: in-process job thread vs the lane's worker.

    python bench/bench_job_worker.py [--db STORE] [--runs 3] [--boot 500]

The overview's bootstrap job (every wave of the demo, ``--boot`` resamples, nothing cached) runs in a job lane
of a fresh ``app.jobs.JobRegistry``: once in the serving process (``app.jobs.IN_PROCESS``, the path before
issue 9) and once in the lane's worker process (warm: the worker is started by a small job first, as it is
after the server's first bootstrap). Meanwhile this thread plays a session's script runs: a fixed pure-Python
+ pandas task of about 0.02 s CPU, again and again. Printed per mode, median of ``--runs`` runs:

* ``serving CPU``: CPU seconds of this whole process (every thread) while the job ran, minus the script runs'
  own CPU - what the job took from the process that serves every session;
* ``job wall``: seconds from submission to the job's end;
* ``script wall p50 / p95``: wall seconds of one script run while the job ran (idle figure first): the GIL
  wait a viewer feels. Wall-clock figures need a quiet box; the CPU figures hold on a busy one.

The store is ``--db`` or a fresh ``python -m csi demo`` store in a temporary folder (removed at the end).
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def _script_run(frame) -> None:
    """A stand-in for a cached script run: Python-level work under the GIL (~0.02 s CPU)."""
    out = 0
    for i in range(200000):
        out += i % 7
    frame.groupby("wave", observed=True).size()


def _q(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p * (len(xs) - 1))))]


def _one(reg, prep, scope, n_boot, mode: str, key) -> dict:
    from app import jobs as jobs_mod
    from app.state import _estimate, _estimate_remote
    from csi.runtime.cache import FitCache

    jobs_mod.IN_PROCESS = mode == "in-process"
    cache = FitCache(None)
    runs, runs_cpu = [], 0.0
    c0, w0 = time.process_time(), time.perf_counter()
    job = reg.submit(key, lambda progress: _estimate(prep, scope, n_boot, cache, progress=progress),
                     remote=_estimate_remote(prep, scope, n_boot, cache))
    while not job.ended.is_set():
        t, tc = time.perf_counter(), time.thread_time()
        _script_run(prep.frame)
        runs.append(time.perf_counter() - t)
        runs_cpu += time.thread_time() - tc
    wall = time.perf_counter() - w0
    cpu = time.process_time() - c0 - runs_cpu
    assert job.state == "done", job.error
    return {"cpu": cpu, "wall": wall, "runs": runs}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--db", type=Path, default=None)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--boot", type=int, default=500)
    args = ap.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="csi-bench-jobs-"))
    try:
        db = tmp / "csi.duckdb"
        if args.db is not None:
            shutil.copy(args.db, db)
        else:  # the command line's demo store, made in this process
            from csi.cli.main import main as cli

            if cli(["demo", "--db", str(db)]) != 0:
                raise SystemExit("python -m csi demo failed")
        from app.jobs import JobRegistry
        from csi.report.build import Selection, prepare

        p = prepare(str(db), Selection())
        prep = replace(p, settings=replace(p.settings, bootstrap=args.boot, seed=1))
        idle = []
        for _ in range(50):
            t = time.perf_counter()
            _script_run(prep.frame)
            idle.append(time.perf_counter() - t)
        reg = JobRegistry()
        _one(reg, replace(p, settings=replace(p.settings, bootstrap=20, seed=1)), ("wave", p.focus_wave), 20,
             "worker", "warm")  # start the lane's worker (a running server has one after its first bootstrap)
        print(f"load average before: {os.getloadavg()}; waves: {prep.frame['wave'].nunique()}"
              f"; resamples per group: {args.boot}")
        print(f"script wall idle: p50 {_q(idle, .5):.4f} s, p95 {_q(idle, .95):.4f} s")
        for mode in ("in-process", "worker"):
            # a new seed each run: neither the serving process's nor the worker's memory cache can serve it
            res = [_one(reg, replace(prep, settings=replace(prep.settings, seed=100 + i)), ("waves",), args.boot,
                        mode, (mode, i)) for i in range(args.runs)]
            runs = [r for x in res for r in x["runs"]]
            print(f"{mode:10s}: serving CPU {statistics.median(x['cpu'] for x in res):6.2f} s, "
                  f"job wall {statistics.median(x['wall'] for x in res):6.2f} s, "
                  f"script wall p50 {_q(runs, .5):.4f} s p95 {_q(runs, .95):.4f} s ({len(runs)} runs)")
        reg.close()
        print(f"load average after: {os.getloadavg()}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
