"""Long work (bootstrap, all-segment runs) in background threads.

Why threads and not only ``@st.fragment``: a Streamlit script run is interrupted
as soon as the user changes page or widget, which would throw away a half-done
bootstrap. A job instead runs in a worker thread owned by the process; pages
poll its status from a fragment (``run_every``) and show ``st.progress``, so
the user can keep working on other pages meanwhile and the finished result is
picked up by whichever session asks for the same key (keys are plain tuples
of data version, spec and settings, so equal requests share one job).

The queue (the machine has two cores, shared by all sessions):

* **two lanes**, each with its own worker thread: ``interactive`` (the overview's
  and the other pages' default bootstraps) and ``long`` (a researcher's own
  resample count, downloads, MGA), so a long bootstrap never holds up the overview;
* **bounded**: at most ``max_queued`` jobs wait per lane; a submission beyond that
  fails at once with :class:`JobsBusy` (a page shows "busy, try again" and the next
  run of the page submits again);
* **de-duplicated** by key: an equal request joins the queued, running or finished job;
* **cancellable**: each submission may name an ``owner`` (a session and a purpose,
  e.g. ``(session_id, "overview")``). A new submission of the same owner with another
  key (a new selection, a new data version) releases the owner's older jobs; a job no
  owner wants any more is cancelled: taken off the queue, or - when running - stopped
  at its next progress report (the progress callback raises :class:`Cancelled`, which
  unwinds the estimator's bootstrap loop; ``csi.engine.bootstrap`` reports after every chunk);
* **no sleeping in a worker**: ``delay`` only sets the earliest start; the worker runs
  other ready jobs meanwhile and waits on a condition (woken by every submission).
"""
from __future__ import annotations

import heapq
import itertools
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable, Hashable

from csi.errors import CSIError

LANES = ("interactive", "long")
FINISHED = ("done", "failed", "cancelled")
IDLE_SECONDS = 60.0


class Cancelled(Exception):
    """Raised inside a job (by its progress callback) once nobody wants its result any more."""


class JobsBusy(CSIError):
    """Too many jobs wait in a lane; the request was not queued."""

    message_zh = "服务器正忙（后台任务已排满），请稍后再试。"


@dataclass
class Job:
    key: Hashable
    total: int = 0
    done: int = 0
    state: str = "queued"  # queued | running | done | failed | cancelled
    result: Any = None
    error: str | None = None
    started: float = field(default_factory=time.time)
    finished: float | None = None
    exc: BaseException | None = None
    lane: str = "interactive"
    owners: set = field(default_factory=set)
    cancel_event: threading.Event = field(default_factory=threading.Event, repr=False)
    ended: threading.Event = field(default_factory=threading.Event, repr=False)
    trace: str = ""

    @property
    def fraction(self) -> float:
        return 1.0 if self.state == "done" else (self.done / self.total if self.total else 0.0)

    @property
    def finished_state(self) -> bool:
        return self.state in FINISHED


class _Lane:
    """One worker thread over a priority queue ordered by earliest start, then submission order."""

    def __init__(self, name: str, registry: "JobRegistry", max_queued: int):
        self.name, self.registry, self.max_queued = name, registry, int(max_queued)
        self.heap: list[tuple[float, int, Job, Callable]] = []
        self.cond = threading.Condition(registry._lock)
        self.thread: threading.Thread | None = None
        self.running: Job | None = None

    def waiting(self) -> int:
        return sum(1 for _, _, j, _ in self.heap if j.state == "queued")

    def push(self, when: float, seq: int, job: Job, run: Callable) -> None:  # caller holds the lock
        heapq.heappush(self.heap, (when, seq, job, run))
        if self.thread is None:
            self.thread = threading.Thread(target=self._loop, name=f"csi-job-{self.name}", daemon=True)
            self.thread.start()
        self.cond.notify_all()

    def _next(self) -> tuple[Job, Callable] | None:  # caller holds the lock
        while True:
            while self.heap and self.heap[0][2].state != "queued":
                heapq.heappop(self.heap)  # cancelled while queued
            if self.registry._closed:
                self.thread = None
                return None
            if not self.heap:  # idle: the thread ends after a while (the next submission starts another)
                if not self.cond.wait(timeout=IDLE_SECONDS) and not self.heap:
                    self.thread = None
                    return None
                continue
            when = self.heap[0][0]
            now = time.monotonic()
            if when > now:  # not due yet: wait for it or for a new submission (not busy, not occupied)
                self.cond.wait(timeout=when - now)
                continue
            _, _, job, run = heapq.heappop(self.heap)
            job.state = "running"
            self.running = job
            return job, run

    def _loop(self) -> None:
        while True:
            with self.registry._lock:
                got = self._next()
            if got is None:
                return
            job, run = got
            try:
                run()
            finally:
                with self.registry._lock:
                    self.running = None


class JobRegistry:
    """Process-wide registry of background jobs keyed by a hashable request key."""

    def __init__(self, workers: int = 1, keep: int = 32, max_queued: int = 8):
        # ``workers`` is kept for callers of the old signature: there is one worker per lane.
        self._lock = threading.RLock()
        self._jobs: dict[Hashable, Job] = {}
        self._keep = keep
        self._seq = itertools.count()
        self._closed = False
        self._lanes = {name: _Lane(name, self, max_queued) for name in LANES}

    # ------------------------------------------------------------------ look-ups
    def get(self, key: Hashable) -> Job | None:
        """The job of ``key``; None when there is none or it was cancelled (a cancelled job is not a result)."""
        with self._lock:
            job = self._jobs.get(key)
            return None if job is None or job.state == "cancelled" else job

    def queued(self, lane: str | None = None) -> list[Job]:
        with self._lock:
            return [j for j in self._jobs.values() if j.state == "queued" and (lane is None or j.lane == lane)]

    # ------------------------------------------------------------------ submit / cancel
    def submit(self, key: Hashable, fn: Callable[[Callable[[int, int], None]], Any], total: int = 0,
               delay: float = 0.0, *, lane: str = "interactive", owner: Hashable | None = None) -> Job:
        """Queue ``fn(progress)`` unless a job with ``key`` is queued, running or done (then join it).

        ``delay``: the earliest start, in seconds from now (the overview lets the browser draw its charts
        first); the worker does not wait for it, it runs other due jobs meanwhile. ``lane``: "interactive" or
        "long". ``owner``: who wants the result (see the module text); the owner's older jobs of another key
        are released, and cancelled when nobody else wants them.

        ``progress(done, total)`` may be called from the worker thread at any rate; it raises
        :class:`Cancelled` once the job was cancelled. A failed or cancelled job is replaced by a fresh attempt.
        A full lane gives a failed job whose ``exc`` is :class:`JobsBusy`.
        """
        if lane not in self._lanes:
            raise ValueError(f"unknown lane {lane!r}; choose one of {LANES}")
        with self._lock:
            if owner is not None:
                self._release(owner, keep=key)
            job = self._jobs.get(key)
            if job is not None and job.state not in ("failed", "cancelled") and not job.cancel_event.is_set():
                if owner is not None:
                    job.owners.add(owner)
                return job
            job = Job(key=key, total=total, lane=lane)
            if owner is not None:
                job.owners.add(owner)
            self._jobs[key] = job
            self._closed = False  # a registry closed by a cache release still serves a late submission
            ln = self._lanes[lane]
            if ln.waiting() >= ln.max_queued:
                job.state, job.exc = "failed", JobsBusy(f"the {lane} job queue is full ({ln.max_queued} waiting)")
                job.error, job.finished = str(job.exc), time.time()
                job.ended.set()
                self._trim()
                return job
            self._trim()
            ln.push(time.monotonic() + max(0.0, float(delay)), next(self._seq), job, self._runner(job, fn))
        return job

    def join(self, key: Hashable, owner: Hashable | None) -> Job | None:
        """``owner`` wants the existing job of ``key`` too (its other jobs are released as by :meth:`submit`)."""
        with self._lock:
            job = self._jobs.get(key)
            if owner is not None and job is not None and not job.finished_state and not job.cancel_event.is_set():
                self._release(owner, keep=key)
                job.owners.add(owner)
            return self.get(key)

    def release(self, owner: Hashable, keep: Hashable | None = None) -> list[Job]:
        """``owner`` no longer wants its jobs (except ``keep``); returns the jobs this cancelled."""
        with self._lock:
            return self._release(owner, keep)

    def cancel(self, key: Hashable) -> bool:
        """Cancel the job of ``key`` whoever wants it; True if it was queued or running."""
        with self._lock:
            job = self._jobs.get(key)
            if job is None or job.finished_state:
                return False
            self._cancel(job)
            return True

    def cancel_where(self, stale: Callable[[Hashable], bool]) -> list[Job]:
        """Cancel every queued or running job whose key ``stale(key)`` says is out of date (a new data
        version: nobody can use a result of the old one), whoever owns it."""
        with self._lock:
            out = [j for k, j in self._jobs.items() if not j.finished_state and not j.cancel_event.is_set()
                   and stale(k)]
            for job in out:
                self._cancel(job)
            return out

    def _release(self, owner, keep) -> list[Job]:
        out = []
        for k, job in list(self._jobs.items()):
            if k == keep or owner not in job.owners:
                continue
            job.owners.discard(owner)
            if not job.owners and not job.finished_state:
                self._cancel(job)
                out.append(job)
        return out

    def _cancel(self, job: Job) -> None:  # caller holds the lock
        job.cancel_event.set()
        if job.state == "queued":  # never started: the worker skips it
            job.state, job.finished = "cancelled", time.time()
            job.ended.set()
        self._lanes[job.lane].cond.notify_all()

    def _runner(self, job: Job, fn) -> Callable[[], None]:
        def progress(done: int, total_: int | None = None) -> None:
            if job.cancel_event.is_set():
                raise Cancelled(repr(job.key))
            job.done = int(done)
            if total_:
                job.total = int(total_)

        def run() -> None:
            try:
                if job.cancel_event.is_set():
                    raise Cancelled(repr(job.key))
                result = fn(progress)
                if job.cancel_event.is_set():  # finished after its cancellation: nobody wants it
                    raise Cancelled(repr(job.key))
                job.result = result
                job.state = "done"
            except Cancelled:
                job.state = "cancelled"
            except Exception as e:  # kept for display; CSIError messages are user-facing
                job.error = str(e) or type(e).__name__
                job.exc = e  # the page translates expected (CSIError) messages
                job.trace = traceback.format_exc()
                job.state = "failed"
            finally:
                job.finished = time.time()
                job.ended.set()
        return run

    # ------------------------------------------------------------------ housekeeping
    def wait(self, key: Hashable, timeout: float = 60.0) -> Job | None:
        """Block until the job ends (tests and the CLI-like paths only; never called by a worker)."""
        with self._lock:
            job = self._jobs.get(key)
        if job is not None:
            job.ended.wait(timeout)
        return job

    def clear(self) -> None:
        with self._lock:
            self._jobs = {k: j for k, j in self._jobs.items() if j.state in ("queued", "running")}

    def close(self) -> None:
        """Cancel the queued jobs and let the workers end after their current job (a cache release, tests);
        a later submission starts a worker again."""
        with self._lock:
            self._closed = True
            for job in self._jobs.values():
                if job.state == "queued":
                    self._cancel(job)
            for ln in self._lanes.values():
                ln.cond.notify_all()

    def _trim(self) -> None:
        finished = [k for k, j in self._jobs.items() if j.finished_state]
        for k in finished[: max(0, len(self._jobs) - self._keep)]:
            del self._jobs[k]
