"""Long work (bootstrap, all-segment runs) in background threads.

Why threads and not only ``@st.fragment``: a Streamlit script run is interrupted
as soon as the user changes page or widget, which would throw away a half-done
bootstrap. A job instead runs in a worker thread owned by the process; pages
poll its status from a fragment (``run_every``) and show ``st.progress``, so
the user can keep working on other pages meanwhile and the finished result is
picked up by whichever session asks for the same key (keys are plain tuples
of data version, spec and settings, so equal requests share one job).

One worker (the machine has two cores, shared by all sessions).
"""
from __future__ import annotations

import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Hashable


@dataclass
class Job:
    key: Hashable
    total: int = 0
    done: int = 0
    state: str = "queued"  # queued | running | done | failed
    result: Any = None
    error: str | None = None
    started: float = field(default_factory=time.time)
    finished: float | None = None
    exc: BaseException | None = None

    @property
    def fraction(self) -> float:
        return 1.0 if self.state == "done" else (self.done / self.total if self.total else 0.0)


class JobRegistry:
    """Process-wide registry of background jobs keyed by a hashable request key."""

    def __init__(self, workers: int = 1, keep: int = 32):
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="csi-job")
        self._jobs: dict[Hashable, Job] = {}
        self._lock = threading.Lock()
        self._keep = keep

    def get(self, key: Hashable) -> Job | None:
        with self._lock:
            return self._jobs.get(key)

    def submit(self, key: Hashable, fn: Callable[[Callable[[int, int], None]], Any], total: int = 0,
               delay: float = 0.0) -> Job:
        """Start ``fn(progress)`` unless a job with ``key`` is queued, running or done.

        ``delay`` seconds pass before the work starts (the overview lets the browser draw its charts
        first: on a two-core box a bootstrap started at once slowed the first paint by seconds).

        ``progress(done, total)`` may be called from the worker thread at any rate.
        A failed job is replaced by a fresh attempt.
        """
        with self._lock:
            job = self._jobs.get(key)
            if job is not None and job.state != "failed":
                return job
            job = Job(key=key, total=total)
            self._jobs[key] = job
            self._trim()

        def progress(done: int, total_: int | None = None) -> None:
            job.done = int(done)
            if total_:
                job.total = int(total_)

        def run() -> None:
            if delay > 0:
                time.sleep(delay)
            job.state = "running"
            try:
                job.result = fn(progress)
                job.state = "done"
            except Exception as e:  # kept for display; CSIError messages are user-facing
                job.error = str(e) or type(e).__name__
                job.exc = e  # the page translates expected (CSIError) messages
                job.trace = traceback.format_exc()
                job.state = "failed"
            finally:
                job.finished = time.time()

        self._pool.submit(run)
        return job

    def wait(self, key: Hashable, timeout: float = 60.0) -> Job | None:
        """Block until the job ends (tests and the CLI-like paths only)."""
        end = time.time() + timeout
        while time.time() < end:
            job = self.get(key)
            if job is None or job.state in ("done", "failed"):
                return job
            time.sleep(0.05)
        return self.get(key)

    def clear(self) -> None:
        with self._lock:
            self._jobs = {k: j for k, j in self._jobs.items() if j.state in ("queued", "running")}

    def _trim(self) -> None:
        finished = [k for k, j in self._jobs.items() if j.state in ("done", "failed")]
        for k in finished[: max(0, len(self._jobs) - self._keep)]:
            del self._jobs[k]
