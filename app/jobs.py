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
  other ready jobs meanwhile and waits on a condition (woken by every submission);
* **bootstraps off the serving process's GIL**: a job submitted with ``remote=Remote(call, finish)`` runs
  ``call(progress=...)`` in ONE long-lived spawn worker process of its lane (started at the lane's first
  remote job, BLAS limited to one thread there; shut down at interpreter exit). The lane's thread still owns
  the job: it submits the call, waits on it in bounded steps (:data:`POLL_SECONDS`), copies the worker's
  progress from a small shared counter into the job and, once the job is cancelled, sets a shared event that
  the worker's progress callback checks (it raises :class:`Cancelled` there, so a stale bootstrap stops within
  one chunk). The pickled result goes through ``finish`` in this process (e.g. into the parent's fit cache).
  A worker that dies fails its job with :class:`WorkerLost`; the lane's next remote job starts a new worker.
  ``CSI_JOBS_INPROC=1`` (read once at import; tests may set :data:`IN_PROCESS`) runs every job in-process.
"""
from __future__ import annotations

import atexit
import contextlib
import heapq
import itertools
import multiprocessing as mp
import os
import threading
import time
import traceback
import weakref
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures import wait as _wait_futures
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any, Callable, Hashable

from csi.errors import CSIError

LANES = ("interactive", "long")
FINISHED = ("done", "failed", "cancelled")
IDLE_SECONDS = 60.0
POLL_SECONDS = 0.1  # the lane thread's bounded wait on a remote call (progress and cancellation relay)
IN_PROCESS = os.environ.get("CSI_JOBS_INPROC", "").strip() == "1"  # read once; tests may set the constant


class Cancelled(Exception):
    """Raised inside a job (by its progress callback) once nobody wants its result any more."""


class JobsBusy(CSIError):
    """Too many jobs wait in a lane; the request was not queued."""

    message_zh = "服务器正忙（后台任务已排满），请稍后再试。"


class WorkerLost(CSIError):
    """The worker process running a background job ended unexpectedly (killed, out of memory)."""

    message_zh = "后台计算进程意外终止，请重试（将自动启动新的计算进程）。"


@dataclass(frozen=True)
class Remote:
    """A job's work for the lane's worker process: ``call(progress=...)`` (picklable: a module-level function
    or a functools.partial of one, with picklable arguments; it must not import streamlit) returns a picklable
    value, which ``finish`` (run in this process, may be None) turns into the job's result."""

    call: Callable[..., Any]
    finish: Callable[[Any], Any] | None = None


# ------------------------------------------------------------------ the lanes' worker processes
_W: dict = {}  # inside a worker process: its shared progress counter and cancel event


def _worker_start(counter, cancel) -> None:
    """Initializer of a lane's worker process (spawned by multiprocessing, so process-wide settings are its own)."""
    from csi.runtime.execution import one_blas_thread

    one_blas_thread()
    _W["counter"], _W["cancel"] = counter, cancel


def _worker_progress(done: int, total: int | None = None) -> None:
    if _W["cancel"].is_set():
        raise Cancelled("cancelled by the serving process")
    c = _W["counter"]
    c[0] = int(done)
    if total:
        c[1] = int(total)


def _worker_call(call: Callable[..., Any]):
    """Runs in the worker: the call with a progress callback that writes the shared counter."""
    if _W["cancel"].is_set():
        raise Cancelled("cancelled by the serving process")
    return call(progress=_worker_progress)


class _Worker:
    """One long-lived spawn process of a lane (max_workers=1) and the state it shares with the lane thread."""

    def __init__(self):
        ctx = mp.get_context("spawn")
        self.counter = ctx.Array("q", 2, lock=False)  # [done, total]; one writer (the worker), one reader
        self.cancel = ctx.Event()
        self.pool = ProcessPoolExecutor(max_workers=1, mp_context=ctx, initializer=_worker_start,
                                        initargs=(self.counter, self.cancel))
        _LIVE_WORKERS.add(self)

    def pids(self) -> list[int]:
        return [p.pid for p in (getattr(self.pool, "_processes", None) or {}).values()]

    def shutdown(self, kill: bool = False) -> None:
        """Stop the worker: a running call stops at its next progress report (``kill``: at once; it holds
        nothing worth saving - fit-cache files are written whole or not at all)."""
        self.cancel.set()
        if kill:
            for proc in list((getattr(self.pool, "_processes", None) or {}).values()):
                with contextlib.suppress(Exception):
                    proc.terminate()
        self.pool.shutdown(wait=False, cancel_futures=True)


_LIVE_WORKERS: "weakref.WeakSet[_Worker]" = weakref.WeakSet()


def _shutdown_workers() -> None:
    for w in list(_LIVE_WORKERS):
        w.shutdown(kill=True)


# At interpreter exit concurrent.futures joins its pools' manager threads (a threading-exit hook, run before the
# atexit hooks) and so would wait for a running bootstrap to finish; the workers are ended first. threading's
# exit hooks run last-registered first, and concurrent.futures.process registered its hook when it was imported
# above. (threading._register_atexit is what concurrent.futures itself uses; atexit is the fallback.)
_register_exit = getattr(threading, "_register_atexit", None)
try:
    if _register_exit is None:
        raise RuntimeError("no threading exit hook")
    _register_exit(_shutdown_workers)
except RuntimeError:  # no hook, or the interpreter is already shutting down
    atexit.register(_shutdown_workers)


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
        self.heap: list[tuple[float, int, Job, Callable]] = []  # run() callables take the lane
        self.cond = threading.Condition(registry._lock)
        self.thread: threading.Thread | None = None
        self.running: Job | None = None
        self.worker: _Worker | None = None  # started at the lane's first remote job

    def remote(self, job: Job, remote: Remote, progress: Callable) -> Any:
        """Run ``remote.call`` in the lane's worker process (from the lane thread, which owns the job)."""
        w = self.worker
        if w is None:
            w = self.worker = _Worker()
        w.counter[0] = w.counter[1] = 0
        w.cancel.clear()
        try:
            fut = w.pool.submit(_worker_call, remote.call)
        except (BrokenProcessPool, RuntimeError):  # a dead or shut-down pool: a fresh worker
            w.shutdown()
            w = self.worker = _Worker()
            fut = w.pool.submit(_worker_call, remote.call)
        while True:
            done, _ = _wait_futures([fut], timeout=POLL_SECONDS)
            if job.cancel_event.is_set():
                w.cancel.set()  # the worker's progress callback raises Cancelled at its next report
            else:
                d, t = int(w.counter[0]), int(w.counter[1])
                if d or t:
                    with contextlib.suppress(Cancelled):
                        progress(d, t or None)
            if done:
                break
        try:
            raw = fut.result()
        except BrokenProcessPool:
            w.shutdown()
            if self.worker is w:
                self.worker = None
            if job.cancel_event.is_set():
                raise Cancelled(repr(job.key)) from None
            raise WorkerLost("the background worker process ended unexpectedly; please try again") from None
        return remote.finish(raw) if remote.finish is not None else raw

    def stop_worker(self) -> None:
        if self.worker is not None:
            self.worker.shutdown()
            self.worker = None

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
                run(self)
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
               delay: float = 0.0, *, lane: str = "interactive", owner: Hashable | None = None,
               remote: Remote | None = None) -> Job:
        """Queue ``fn(progress)`` unless a job with ``key`` is queued, running or done (then join it).

        ``delay``: the earliest start, in seconds from now (the overview lets the browser draw its charts
        first); the worker does not wait for it, it runs other due jobs meanwhile. ``lane``: "interactive" or
        "long". ``owner``: who wants the result (see the module text); the owner's older jobs of another key
        are released, and cancelled when nobody else wants them.

        ``progress(done, total)`` may be called from the worker thread at any rate; it raises
        :class:`Cancelled` once the job was cancelled. A failed or cancelled job is replaced by a fresh attempt.
        A full lane gives a failed job whose ``exc`` is :class:`JobsBusy`.

        ``remote``: the same work as a :class:`Remote`, run in the lane's worker process instead of
        ``fn`` (unless :data:`IN_PROCESS`); its result must equal ``fn``'s.
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
            ln.push(time.monotonic() + max(0.0, float(delay)), next(self._seq), job, self._runner(job, fn, remote))
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

    def _runner(self, job: Job, fn, remote: Remote | None = None) -> Callable[["_Lane"], None]:
        def progress(done: int, total_: int | None = None) -> None:
            if job.cancel_event.is_set():
                raise Cancelled(repr(job.key))
            job.done = int(done)
            if total_:
                job.total = int(total_)

        def run(lane: "_Lane") -> None:
            try:
                if job.cancel_event.is_set():
                    raise Cancelled(repr(job.key))
                if remote is not None and not IN_PROCESS:
                    result = lane.remote(job, remote, progress)
                else:
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
                if ln.running is None:  # a running remote job keeps its worker until it ends
                    ln.stop_worker()

    def worker_pids(self) -> dict[str, list[int]]:
        """The lanes' worker process ids (empty lists before a lane's first remote job)."""
        with self._lock:
            return {n: (ln.worker.pids() if ln.worker is not None else []) for n, ln in self._lanes.items()}

    def _trim(self) -> None:
        finished = [k for k, j in self._jobs.items() if j.finished_state]
        for k in finished[: max(0, len(self._jobs) - self._keep)]:
            del self._jobs[k]


# ------------------------------------------------------------------ the bootstrap work of the lanes
# (no streamlit here: the worker process imports this module, not app.state)
class BootProgress:
    """Resamples done over all groups of a grouped bootstrap, for a job's progress bar.

    ``csi.compare.estimate_groups`` reports groups done; the bar would jump from 0 to done for a
    single wave. This object is also handed to each group's ``csi.engine.bootstrap.bootstrap_pls``
    and turns its ``progress(done, n_boot)`` into ``report(resamples done, total)``.
    """

    def __init__(self, report, n_boot: int, n_groups: int):
        self.report, self.n_boot = report, int(n_boot)
        self.base, self.total = 0, max(1, int(n_groups)) * self.n_boot

    def __call__(self, done: int, total: int | None = None) -> None:  # one group's bootstrap
        self.report(min(self.base + int(done), self.total), self.total)

    def group_done(self, done: int, total: int) -> None:  # estimate_groups: groups still to fit, done
        self.base, self.total = int(done) * self.n_boot, max(1, int(total)) * self.n_boot
        self.report(self.base, self.total)


def fit_frame_groups(prep, by: list, frame, n_boot: int, cache, progress=None) -> dict:
    """The engine's group fits of ``frame`` by ``by`` (csi.report.build.fit_groups, one worker: spawned
    processes cost seconds to start and would take both cores of the box away from the sessions served)."""
    from csi.report.build import fit_groups

    if frame is None or frame.empty:
        return {}
    extra = {}
    if n_boot > 0:
        bp = BootProgress(progress or (lambda done, total: None), n_boot,
                          frame.groupby(by, observed=True, dropna=False).ngroups)
        # ~20 chunks so the bar moves (the bootstrap reports once per chunk; its draws do not depend
        # on the chunk size, which csi.compare leaves out of the fit-cache key)
        chunk = max(25, -(-int(n_boot) // 20))
        extra = {"progress": bp.group_done, "boot_progress": bp, "boot_options": {"chunk_size": chunk}}
    elif progress is not None:
        extra = {"progress": progress}
    return fit_groups(prep, by, frame=frame, n_boot=n_boot, cache=cache, workers=1, **extra)


_WORKER_CACHES: dict = {}  # inside a worker process: one FitCache per cache folder (None = memory only)
WORKER_CACHE_ITEMS = 64


class _RecordingCache:
    """The worker's view of the parent's fit cache: reads and writes the same folder, and records what it
    stores so that the parent can keep the new fits in its memory too (:func:`adopt_fits`)."""

    def __init__(self, inner):
        self.inner, self.stored = inner, []

    def get(self, key):
        return self.inner.get(key)

    def put(self, key, value) -> None:
        self.inner.put(key, value)
        self.stored.append((key, value))

    def __contains__(self, key) -> bool:
        return key in self.inner


def fit_groups_remote(prep, by: list, frame, n_boot: int, cache_dir: str | None, progress=None) -> tuple:
    """In the lane's worker: :func:`fit_frame_groups` with a cache over ``cache_dir``; returns
    ``(fits, [(cache key, fit) stored])`` for :func:`adopt_fits`."""
    from csi.runtime.cache import FitCache

    inner = _WORKER_CACHES.get(cache_dir)
    if inner is None:
        try:
            inner = FitCache(cache_dir, max_items=WORKER_CACHE_ITEMS)
        except OSError:
            inner = FitCache(None, max_items=WORKER_CACHE_ITEMS)
        inner = _WORKER_CACHES.setdefault(cache_dir, inner)
    rec = _RecordingCache(inner)
    return fit_frame_groups(prep, by, frame, n_boot, rec, progress=progress), rec.stored


def adopt_fits(cache, raw: tuple) -> dict:
    """In the serving process: keep the fits a worker stored in ``cache`` (its memory; the worker already
    wrote them to the shared folder) and return the fits."""
    fits, stored = raw
    if cache is not None:
        same_folder = getattr(cache, "directory", None) is not None
        for key, fit in stored:
            remember = getattr(cache, "_remember", None) if same_folder else None
            (remember or cache.put)(key, fit)
    return fits
