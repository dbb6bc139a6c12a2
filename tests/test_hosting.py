"""Hosting (issue 9): the background job queue, fail-closed start, brand scopes, deep links, no network.

Job tests use fake jobs that block on events (no timing asserts); app tests drive streamlit_app.py through
Streamlit's AppTest as tests/test_app.py does.
"""
from __future__ import annotations

import threading
from pathlib import Path

import pytest

from app.jobs import Cancelled, JobRegistry, JobsBusy

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "streamlit_app.py")
WAIT = 30.0  # generous upper bound for an event; never a measured time


@pytest.fixture()
def reg():
    r = JobRegistry(max_queued=3)
    yield r
    r.close()


def _blocker(started: threading.Event, release: threading.Event, steps: int = 0, log=None):
    """A fake job: reports progress once, says it started, then waits for ``release`` reporting progress
    (so that a cancellation reaches it) until released."""
    def fn(progress):
        progress(0, 1)
        started.set()
        n = 0
        while not release.wait(0.01):
            n += 1
            progress(min(n, 1), 1)
        if log is not None:
            log.append("finished")
        return "result"
    return fn


def test_equal_keys_share_one_job(reg):
    started, release = threading.Event(), threading.Event()
    calls = []

    def fn(progress):
        calls.append(1)
        return _blocker(started, release)(progress)

    a = reg.submit("k", fn)
    b = reg.submit("k", fn)
    assert a is b
    assert started.wait(WAIT)
    release.set()
    assert reg.wait("k", WAIT).state == "done" and a.result == "result"
    assert reg.submit("k", fn) is a and len(calls) == 1  # a finished job is reused, not rerun


def test_the_queue_is_bounded(reg):
    started, release = threading.Event(), threading.Event()
    reg.submit("run", _blocker(started, release))
    assert started.wait(WAIT)
    queued = [reg.submit(("q", i), lambda p: i) for i in range(3)]
    assert [j.state for j in queued] == ["queued"] * 3
    over = reg.submit(("q", 3), lambda p: 3)
    assert over.state == "failed" and isinstance(over.exc, JobsBusy)
    other_lane = reg.submit("long", lambda p: "ok", lane="long")  # the other lane has its own bound
    assert reg.wait("long", WAIT).state == "done" and other_lane.result == "ok"
    release.set()
    for i in range(3):
        assert reg.wait(("q", i), WAIT).state == "done"
    again = reg.submit(("q", 3), lambda p: 3)  # a refused request is tried afresh once there is room
    assert again is not over and reg.wait(("q", 3), WAIT).state == "done"


def test_a_new_selection_cancels_the_stale_running_job(reg):
    started, release = threading.Event(), threading.Event()
    log: list[str] = []
    old = reg.submit(("boot", "v1", "brand=A"), _blocker(started, release, log=log), owner=("s1", "overview"))
    assert started.wait(WAIT)
    queued_stale = reg.submit(("boot", "v1", "brand=B"), lambda p: "B", owner=("s1", "overview"))
    # the second submission released the first: it stops at its next progress report
    assert reg.wait(old.key, WAIT) is old and old.state == "cancelled" and log == []
    assert reg.get(old.key) is None  # a cancelled job is no result
    new = reg.submit(("boot", "v2", "brand=B"), lambda p: "B2", owner=("s1", "overview"))  # a new data version
    assert reg.wait(new.key, WAIT).state == "done" and new.result == "B2"
    assert queued_stale.state in ("cancelled", "done")  # superseded while queued, or finished before that
    assert queued_stale.state == "cancelled" or queued_stale.result == "B"


def test_a_queued_job_is_cancelled_without_running(reg):
    started, release = threading.Event(), threading.Event()
    reg.submit("blocker", _blocker(started, release))
    assert started.wait(WAIT)
    ran = []
    stale = reg.submit("stale", lambda p: ran.append(1), owner=("s1", "model"))
    fresh = reg.submit("fresh", lambda p: "x", owner=("s1", "model"))
    assert stale.state == "cancelled" and fresh.state == "queued"
    release.set()
    assert reg.wait("fresh", WAIT).state == "done"
    assert ran == []


def test_a_job_another_session_wants_is_not_cancelled(reg):
    started, release = threading.Event(), threading.Event()
    job = reg.submit("shared", _blocker(started, release), owner=("s1", "overview"))
    assert reg.submit("shared", lambda p: None, owner=("s2", "overview")) is job
    assert started.wait(WAIT)
    reg.submit("s1-new", lambda p: None, owner=("s1", "overview"))
    assert not job.cancel_event.is_set() and job.state == "running"
    release.set()
    assert reg.wait("shared", WAIT).state == "done"
    # once the last owner moves on, a running job is cancelled
    started2, release2 = threading.Event(), threading.Event()
    j2 = reg.submit("only", _blocker(started2, release2), owner=("s3", "p"))
    assert started2.wait(WAIT)
    assert reg.join("only", ("s4", "p")) is j2
    reg.release(("s3", "p"))
    assert not j2.cancel_event.is_set()
    reg.release(("s4", "p"))
    assert reg.wait("only", WAIT).state == "cancelled"


def test_a_delayed_job_does_not_occupy_the_worker(reg):
    """The overview's delayed start: a job due later does not hold up a job submitted after it."""
    gate = threading.Event()
    reg.submit("later", lambda p: "late", delay=3600.0)
    quick = reg.submit("now", lambda p: gate.set() or "now")
    assert gate.wait(WAIT) and reg.wait("now", WAIT).state == "done" and quick.result == "now"
    assert reg._jobs["later"].state == "queued"


def test_a_long_bootstrap_cannot_starve_the_interactive_lane(reg):
    started, release = threading.Event(), threading.Event()
    long_job = reg.submit("researcher", _blocker(started, release), lane="long")
    assert started.wait(WAIT)
    ov = reg.submit("overview", lambda p: "overview done")
    assert reg.wait("overview", WAIT).state == "done" and ov.result == "overview done"
    assert long_job.state == "running"  # still busy: the overview did not wait for it
    release.set()
    assert reg.wait("researcher", WAIT).state == "done"


def test_a_resubmitted_cancelled_job_runs_afresh(reg):
    started, release = threading.Event(), threading.Event()
    job = reg.submit("k", _blocker(started, release), owner=("s", "p"))
    assert started.wait(WAIT)
    reg.cancel("k")
    again = reg.submit("k", lambda p: "second")  # asked again while the old run is still unwinding
    assert again is not job
    assert reg.wait("k", WAIT).state == "done" and again.result == "second"
    assert job.ended.wait(WAIT) and job.state == "cancelled"


def test_failures_are_kept_with_their_exception(reg):
    def boom(progress):
        raise ValueError("bad")

    job = reg.submit("x", boom)
    assert reg.wait("x", WAIT).state == "failed" and isinstance(job.exc, ValueError) and "ValueError" in job.trace


def test_cancellation_unwinds_the_engine_bootstrap():
    """The progress callback's Cancelled stops csi.engine.bootstrap between chunks: later chunks never run."""
    import numpy as np
    import pandas as pd

    from csi.engine import bootstrap
    from csi.model.syntax import parse_model

    rng = np.random.default_rng(3)
    n = 120
    x = rng.normal(size=n)
    y = 0.6 * x + rng.normal(scale=0.8, size=n)
    df = pd.DataFrame({f"x{i}": x + rng.normal(scale=0.5, size=n) for i in (1, 2, 3)}
                      | {f"y{i}": y + rng.normal(scale=0.5, size=n) for i in (1, 2, 3)})
    spec = parse_model("X =~ x1 + x2 + x3\nY =~ y1 + y2 + y3\nY ~ X")
    seen = []

    def progress(done, total):
        seen.append(done)
        if done >= 10:
            raise Cancelled("stop")

    with pytest.raises(Cancelled):
        bootstrap.bootstrap_pls(df, spec, n_boot=200, seed=1, chunk_size=10, threads=1, progress=progress,
                                jackknife=False)
    assert seen == [10]
