"""Background bootstraps in the job lanes' worker processes (app/jobs.py ``Remote``; issue 9).

The work is the dashboard's own (app.state._estimate / _estimate_remote on a small seeded demo store): the
worker's fits must equal the in-process fits bit for bit, progress and cancellation are relayed between the
lane thread and the worker, a killed worker fails its job and the next job gets a fresh worker, and the test
process's stdout, warnings filters, logging handlers and BLAS threads are never touched. No timing asserts:
waits are bounded by generous timeouts and the assertions are on states.
"""
from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
import warnings
from dataclasses import replace

import numpy as np
import pytest

from app import jobs as jobs_mod
from app.jobs import JobRegistry, Remote, WorkerLost
from csi.runtime.cache import FitCache

TIMEOUT = 300.0


@pytest.fixture(scope="module")
def small_db(tmp_path_factory):
    from conftest import build_small_demo

    return build_small_demo(tmp_path_factory.mktemp("jobsproc") / "csi.duckdb", 150, waves=2)


@pytest.fixture(scope="module")
def prep(small_db):
    from csi.report.build import Selection, prepare

    p = prepare(str(small_db), Selection())
    return replace(p, settings=replace(p.settings, bootstrap=100, seed=7))


@pytest.fixture()
def reg():
    r = JobRegistry()
    yield r
    r.close()


def _state():
    from threadpoolctl import threadpool_info

    return (sys.stdout, list(warnings.filters), list(logging.getLogger().handlers),
            sorted((i.get("user_api"), i.get("num_threads")) for i in threadpool_info()),
            dict(os.environ))


def _submit(reg, key, prep, scope, n_boot, cache, lane="interactive"):
    from app.state import _estimate, _estimate_remote

    return reg.submit(key, lambda progress: _estimate(prep, scope, n_boot, cache, progress=progress),
                      lane=lane, remote=_estimate_remote(prep, scope, n_boot, cache))


def _same_fits(a: dict, b: dict, atol: float | None = None) -> None:
    """Every resample's estimates bit for bit (``atol`` None) or within ``atol``."""
    assert list(a) == list(b) and a
    for k in a:
        fa, fb = a[k], b[k]
        assert fa.ok and fb.ok
        assert fa.seed == fb.seed and fa.n == fb.n
        assert set(fa.boot.draws) == set(fb.boot.draws)
        pairs = [(fa.boot.draws[kind], fb.boot.draws[kind]) for kind in fa.boot.draws]
        pairs += [(fa.index_draws, fb.index_draws), (fa.index, fb.index)]
        for x, y in pairs:
            if atol is None:
                assert x.equals(y)
            else:
                assert x.shape == y.shape and list(x.columns) == list(y.columns)
                np.testing.assert_allclose(x.select_dtypes("number").to_numpy(float),
                                           y.select_dtypes("number").to_numpy(float), rtol=0, atol=atol)


# The worker runs BLAS on one thread (every pool worker of the project does); this process's OpenBLAS runs two,
# and then a few matrix products sum in another order: on 1,000 respondents a wave the draws differ from the
# plain in-process run by up to 1.1e-15 (in the last bit), on one BLAS thread they are identical.
ULP_TOL = 1e-14


def test_worker_results_equal_in_process_and_land_in_the_parent_cache(reg, prep, tmp_path, monkeypatch):
    from threadpoolctl import threadpool_limits

    from app.state import _estimate

    plain = _estimate(prep, ("waves",), 60, FitCache(None))  # in this process, nothing cached
    with threadpool_limits(1):
        here = _estimate(prep, ("waves",), 60, FitCache(None))
    before = _state()  # after the in-process run: the libraries' own import-time settings are made by then
    cache = FitCache(tmp_path / "cache")
    job = _submit(reg, "k1", prep, ("waves",), 60, cache)
    reg.wait("k1", TIMEOUT)
    assert job.state == "done", job.trace
    pids = reg.worker_pids()["interactive"]
    assert pids and os.getpid() not in pids
    _same_fits(here, job.result)
    _same_fits(plain, job.result, atol=ULP_TOL)
    # the parent's cache holds the worker's fits (memory), so the in-process path is served from it
    assert len(cache) >= len(job.result)
    hits = cache.hits
    again = _estimate(prep, ("waves",), 60, cache)
    assert cache.hits - hits == len(job.result)
    _same_fits(here, again)
    # the in-process switch runs the same work here
    monkeypatch.setattr(jobs_mod, "IN_PROCESS", True)
    job2 = _submit(reg, "k2", prep, ("waves",), 60, FitCache(None))
    reg.wait("k2", TIMEOUT)
    assert job2.state == "done" and reg.worker_pids()["interactive"] == pids
    _same_fits(plain, job2.result)
    assert _state() == before


def test_progress_reaches_the_total_and_moves_more_than_once(reg, prep):
    seen = []
    job = _submit(reg, "p", prep, ("waves",), 400, None)
    stop = threading.Event()

    def watch():
        while not stop.is_set():
            seen.append(job.done)
            stop.wait(0.02)

    t = threading.Thread(target=watch, daemon=True)
    t.start()
    reg.wait("p", TIMEOUT)
    stop.set()
    t.join()
    assert job.state == "done", job.trace
    assert job.total == 2 * 400 and job.done == job.total  # two waves, 400 resamples each
    distinct = {d for d in seen if 0 < d < job.total}
    assert len(distinct) >= 2  # the bar moved more than once before the end


def _wait_running(job, at_least: int = 1) -> None:
    ev = threading.Event()
    while not (job.state == "running" and job.done >= at_least) and not job.finished_state:
        ev.wait(0.02)
        if job.started + TIMEOUT < time.time():
            raise AssertionError("the job never reported progress")


def test_cancel_stops_a_running_remote_job(reg, prep):
    job = _submit(reg, "c", prep, ("waves",), 20000, None)
    _wait_running(job)
    assert reg.cancel("c")
    reg.wait("c", TIMEOUT)
    assert job.state == "cancelled"
    assert job.done < job.total  # stopped within a chunk, long before the 40,000 resamples
    pids = reg.worker_pids()["interactive"]
    job2 = _submit(reg, "c2", prep, ("wave", prep.focus_wave), 20, None)  # the same worker serves the next job
    reg.wait("c2", TIMEOUT)
    assert job2.state == "done" and reg.worker_pids()["interactive"] == pids


def test_a_killed_worker_fails_its_job_and_the_next_job_gets_a_new_worker(reg, prep):
    job = _submit(reg, "x", prep, ("waves",), 20000, None)
    _wait_running(job)
    (pid,) = reg.worker_pids()["interactive"]
    os.kill(pid, signal.SIGKILL)
    reg.wait("x", TIMEOUT)
    assert job.state == "failed" and isinstance(job.exc, WorkerLost)
    assert "worker process" in job.error
    job2 = _submit(reg, "y", prep, ("wave", prep.focus_wave), 20, None)
    reg.wait("y", TIMEOUT)
    assert job2.state == "done", job2.trace
    assert reg.worker_pids()["interactive"] and reg.worker_pids()["interactive"] != [pid]


def test_lanes_have_workers_of_their_own(reg, prep):
    a = _submit(reg, "la", prep, ("wave", prep.focus_wave), 20, None, lane="interactive")
    b = _submit(reg, "lb", prep, ("wave", prep.focus_wave), 20, None, lane="long")
    reg.wait("la", TIMEOUT)
    reg.wait("lb", TIMEOUT)
    assert a.state == b.state == "done"
    _same_fits(a.result, b.result)
    pids = reg.worker_pids()
    assert pids["interactive"] and pids["long"] and set(pids["interactive"]).isdisjoint(pids["long"])


def test_a_remote_job_without_picklable_work_fails_with_its_error(reg, prep):
    job = reg.submit("bad", lambda progress: 1, remote=Remote(lambda progress: 1))  # a lambda cannot be pickled
    reg.wait("bad", TIMEOUT)
    assert job.state == "failed" and job.error
    ok = _submit(reg, "good", prep, ("wave", prep.focus_wave), 20, None)  # the lane's worker still serves
    reg.wait("good", TIMEOUT)
    assert ok.state == "done", ok.trace


def test_the_model_pages_full_fit_job_equals_in_process(reg, prep):
    """analyze_selection in the long lane's worker: the same tables and draws as in this process. The worker
    runs BLAS on one thread (as every pool worker does); with this process's multi-threaded OpenBLAS a few
    matrix products sum in another order, so against the plain in-process run the figures agree to the last bit or so
    (measured up to 6e-16; see ULP_TOL) and against an in-process run on one BLAS thread they agree bit for bit."""
    from functools import partial

    from threadpoolctl import threadpool_limits

    from csi.report.build import analyze_selection

    here = analyze_selection(prepared=prep)
    with threadpool_limits(1):
        one = analyze_selection(prepared=prep)
    job = reg.submit("fit", lambda progress: analyze_selection(prepared=prep, progress=progress), lane="long",
                     remote=Remote(partial(analyze_selection, prepared=prep)))
    reg.wait("fit", TIMEOUT)
    assert job.state == "done", job.trace
    assert job.total == prep.settings.bootstrap and job.done == job.total
    got = job.result
    assert set(got.tables) == set(here.tables) and set(got.boot.draws) == set(here.boot.draws)
    for name, df in one.tables.items():
        assert df.equals(got.tables[name]), name
    for kind, df in one.boot.draws.items():
        assert df.equals(got.boot.draws[kind]), kind
        np.testing.assert_allclose(got.boot.draws[kind].to_numpy(float), here.boot.draws[kind].to_numpy(float),
                                   rtol=0, atol=ULP_TOL)


_EXIT_SCRIPT = """
import sys
from app.jobs import JobRegistry
from app.state import _estimate_remote
from csi.report.build import Selection, prepare
from csi.runtime.cache import FitCache
if __name__ == "__main__":
    p = prepare(sys.argv[1], Selection())
    reg = JobRegistry()
    cache = FitCache(sys.argv[2])
    job = reg.submit("x", lambda progress: None, remote=_estimate_remote(p, ("waves",), 100000, cache))
    while job.done == 0 and not job.finished_state:
        job.ended.wait(0.05)
    print(job.state, reg.worker_pids()["interactive"][0], flush=True)
"""  # exits with the bootstrap (2 x 100,000 resamples) still running in the worker, which writes the cache


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/status") as fh:
            return not any(line.startswith("State:") and "Z" in line.split()[1] for line in fh)
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads /proc")
def test_the_workers_end_with_the_interpreter(small_db, tmp_path):
    import subprocess

    script = tmp_path / "exit_with_a_running_job.py"
    script.write_text(_EXIT_SCRIPT)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    folder = tmp_path / "cache"
    out = subprocess.run([sys.executable, str(script), str(small_db), str(folder)], cwd=root, capture_output=True, text=True,
                         timeout=TIMEOUT, env={**os.environ, "PYTHONPATH": root})
    assert out.returncode == 0, out.stderr
    state, pid = out.stdout.split()
    assert state == "running"
    ev = threading.Event()
    for _ in range(200):  # the terminated worker may take a moment to go
        if not _alive(int(pid)):
            break
        ev.wait(0.05)
    assert not _alive(int(pid))
    assert not list(folder.glob("*.pkl"))  # ended at exit, not after finishing its bootstrap (no fit written)
