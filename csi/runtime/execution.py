"""Where group fits and permutation tests run: any :class:`concurrent.futures.Executor`.

:func:`executor_for` turns a short text into a context manager that yields an executor (or ``None`` for
"fit here, in this process"):

* ``"local"`` / ``"local:N"`` - N persistent spawn worker processes of this machine (default N = 2, the
  product's behaviour before Dask; ``local:1`` = in this process). The pool is started once per process and
  reused (worker start-up imports numpy/pandas/scipy and costs about a second).
* ``"dask://HOST:PORT"`` or ``"tcp://HOST:PORT"`` - an existing Dask distributed scheduler
  (``dask scheduler`` + ``dask worker``, dask-kubernetes, dask-jobqueue: see docs/SCALE.md), through
  ``distributed.Client(address).get_executor()``.
* ``"dask-local"`` / ``"dask-local:N"`` - a :class:`distributed.LocalCluster` of N single-threaded worker
  processes on this machine, torn down when the block ends.

Every worker limits BLAS to one thread for itself (the local pool through its initializer, Dask workers
through :class:`OneBlasThread`, a worker plugin): N workers on N cores must not fight over them. The caller's
process, its environment and its BLAS are never touched.

Results do not depend on the executor: each group carries its own seed, and results are collected in
submission order (tested bit for bit against the local pool with a LocalCluster in tests/test_dask.py).

Why a fit cost about 1.8x the CPU inside a Dask worker, and what :data:`WORKER_CONFIG` changes (measured with
the CPU time of each task, inside the task; bench/bench_national.py):

* Dask's nanny starts every worker with ``MALLOC_TRIM_THRESHOLD_=65536`` (its
  ``distributed.nanny.pre-spawn-environ``). Setting any glibc malloc threshold switches off glibc's dynamic
  mmap threshold, so every array above 128 KiB is mmap-ed and unmapped again: a bootstrap of 1,000 resamples
  took 10x the page faults (33,000 instead of 3,200 per fit) and 0.07 s of system time instead of 0.01 s.
  Every worker (pool or Dask, through :class:`OneBlasThread`) now sets fixed thresholds itself
  (:func:`_malloc_thresholds`: under 100 faults per fit in a Dask or pool worker), whatever started it.
  The LocalCluster started here also gets an empty pre-spawn environment (BLAS is limited by the plugin, not
  by OMP/MKL/OPENBLAS_NUM_THREADS): the nanny writes those variables into its OWN process's ``os.environ``
  before it spawns, i.e. into the caller's, where every later child process (the local pool's too) would
  inherit them. Dask still sets ``PYTHONHASHSEED`` there (a fixed value for its own hashing) and
  ``__DASK_PARENT_PID`` on import; neither changes a result here (``hash()`` is never used for seeds).
* The worker's statistical profiler samples every thread's stack each 10 ms while it holds the GIL: about
  0.02 CPU-s per fit; it is switched off (``distributed.worker.profile.enabled``).

For workers started elsewhere (``dask worker``, dask-kubernetes, dask-jobqueue) put the same settings in the
workers' Dask configuration (docs/SCALE.md); :func:`worker_report` shows what every worker runs with.
"""
from __future__ import annotations

import atexit
import contextlib
import multiprocessing as mp
import os
import re
import threading
import time
from concurrent.futures import Executor, ProcessPoolExecutor
from typing import Iterator

from csi.errors import DataError

__all__ = ["executor_for", "parse_spec", "local_pool", "drop_local_pool", "one_blas_thread", "OneBlasThread",
           "executor_workers", "worker_only", "local_cluster", "worker_report", "WORKER_CONFIG", "timed",
           "stream_states"]

DEFAULT_LOCAL_WORKERS = 2

# Dask configuration of the workers this module starts (see the module text for the figures); keys are leaves
# of Dask's own configuration, set with dask.config.set for the cluster's creation only.
WORKER_CONFIG = {
    "distributed.nanny.pre-spawn-environ": {},        # no MALLOC_TRIM_THRESHOLD_ (and nothing in our environ)
    "distributed.worker.profile.enabled": False,      # no stack sampling of the running task
}


def worker_only(what: str) -> None:
    """Refuse unless this is a child process started by :mod:`multiprocessing` (a pool's or a Dask nanny's
    worker). Process-wide settings (BLAS limits, warnings filters, stdout, logging) are made only in such
    processes of their own: the dashboard's and the command line's processes are never children, so a
    call that would change a serving process fails instead of leaking into every session's thread."""
    if mp.parent_process() is None:
        raise RuntimeError(f"{what} changes process-wide state; it runs only in a worker process of its own, "
                           "never in the process that serves or calls the analysis")


def _limit_blas() -> None:
    # numpy and scipy.linalg are imported first: threadpoolctl limits only the BLAS libraries already loaded,
    # and a spawn child started by ``python -m csi`` has imported nothing yet (its ``__main__`` is skipped), so
    # without the imports the limit silently did nothing and the workers ran multi-threaded BLAS.
    import numpy  # noqa: F401 - loads numpy's BLAS
    import scipy.linalg  # noqa: F401 - loads scipy's BLAS
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)


# glibc mallopt parameters (malloc.h) and the values its dynamic thresholds settle at on 64-bit machines
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_MMAP_THRESHOLD, _TRIM_THRESHOLD = 32 << 20, 64 << 20
_MALLOC_STATE = {"thresholds": None}


def _malloc_thresholds() -> bool:
    """A worker process's glibc malloc thresholds: mmap 32 MiB, trim 64 MiB (the values glibc's dynamic rule
    settles at on 64-bit machines), unless ``MALLOC_MMAP_THRESHOLD_`` chooses otherwise. Dask's nanny starts
    workers with ``MALLOC_TRIM_THRESHOLD_=65536`` (and a process that ran a default LocalCluster passes it on
    to every child it spawns); any set threshold freezes the mmap threshold at 128 KiB, and every larger array
    is then mapped and unmapped again: ten times the page faults of a fit. Fixed thresholds also spare the
    fresh worker glibc's warm-up (a pool worker: up to 3,600 faults per fit before, under 10 after). True when
    set; False elsewhere (not glibc, or an explicit mmap threshold)."""
    if "MALLOC_MMAP_THRESHOLD_" in os.environ:
        return False
    import ctypes

    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    ok = bool(mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD)) and bool(mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD))
    _MALLOC_STATE["thresholds"] = (_MMAP_THRESHOLD, _TRIM_THRESHOLD) if ok else None
    return ok


def _worker_process_settings(what: str, dask_worker=None, client_pid: int | None = None) -> bool:
    """The one place the pools' and Dask's worker processes get their process-wide settings: one BLAS thread
    (:func:`_limit_blas`) and fixed malloc thresholds (:func:`_malloc_thresholds`). The check sits here, next to
    the change, so no caller can skip it:

    * a local pool's (or the dashboard's job lanes') worker: only in a process :mod:`multiprocessing` started
      (:func:`worker_only` raises anywhere else, e.g. in a serving dashboard or the CLI);
    * a Dask worker (``client_pid`` given, from the plugin's ``setup``): only when the worker is a process of
      its own - not the process that registered the plugin (``client_pid``) and not an ``inproc://`` worker,
      which shares its process with whoever started it (a threaded LocalCluster); such a process is left alone
      and False returned. (``dask worker --no-nanny`` is a process of its own that multiprocessing did not
      start, hence the separate rule.)
    """
    if client_pid is None:
        worker_only(what)
    elif os.getpid() == client_pid or str(getattr(dask_worker, "address", "")).startswith("inproc://"):
        return False
    _limit_blas()
    _malloc_thresholds()
    return True


def one_blas_thread() -> None:
    """Start-up of a local pool's worker: one BLAS thread and fixed malloc thresholds in THIS worker process
    (refused elsewhere: :func:`_worker_process_settings`)."""
    _worker_process_settings("one_blas_thread")


def _dask_plugin_base():
    from distributed import WorkerPlugin

    return WorkerPlugin


class _LazyPlugin:
    """Built on first use so that importing this module never imports distributed."""

    _cls = None

    @classmethod
    def cls(cls):
        if cls._cls is None:
            base = _dask_plugin_base()

            class OneBlasThreadPlugin(base):
                """Dask worker plugin: the worker process runs BLAS on one thread (tasks are single-threaded:
                the workers are started with one thread each)."""

                name = "csi-one-blas-thread"

                def __init__(self):
                    self.client_pid = os.getpid()  # the process that registers the plugin

                def setup(self, worker):  # noqa: D401 - Dask's hook
                    # only a worker process of its own; one sharing a process with the dashboard's or CLI's
                    # threads (the registering process, an inproc:// worker) is left alone
                    _worker_process_settings("the Dask worker plugin", dask_worker=worker,
                                             client_pid=self.client_pid)

            cls._cls = OneBlasThreadPlugin
        return cls._cls


def OneBlasThread():  # noqa: N802 - reads like a class at the call site
    """A fresh instance of the worker plugin (``client.register_plugin(OneBlasThread())``)."""
    return _LazyPlugin.cls()()


# ------------------------------------------------------------------ local pool
_POOLS: dict[int, ProcessPoolExecutor] = {}
_POOL_LOCK = threading.Lock()


def local_pool(workers: int) -> ProcessPoolExecutor:
    """A persistent pool of ``workers`` spawn processes ("spawn": children start clean, with no copied locks or
    threads of a server process such as the dashboard's), BLAS limited to one thread in each."""
    with _POOL_LOCK:
        pool = _POOLS.get(workers)
        if pool is None:
            pool = ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn"),
                                       initializer=one_blas_thread)
            _POOLS[workers] = pool
        return pool


def drop_local_pool(workers: int) -> None:
    with _POOL_LOCK:
        pool = _POOLS.pop(workers, None)
    if pool is not None:
        pool.shutdown(wait=False, cancel_futures=True)


@atexit.register
def _shutdown_pools() -> None:
    for w in list(_POOLS):
        drop_local_pool(w)


# ------------------------------------------------------------------- specs
_SPEC = re.compile(r"^(?P<kind>local|dask-local)(?::(?P<n>\d+))?$")


def parse_spec(spec: str | None) -> tuple[str, object]:
    """``(kind, arg)``: ("local", N), ("dask-local", N) or ("dask", "tcp://HOST:PORT")."""
    text = (spec or "local").strip()
    m = _SPEC.match(text)
    if m:
        n = int(m.group("n")) if m.group("n") else DEFAULT_LOCAL_WORKERS
        if n < 1:
            raise DataError(f"the number of workers must be at least 1, got {text!r}")
        return m.group("kind"), n
    if text.startswith("dask://"):
        return "dask", "tcp://" + text[len("dask://"):]
    if re.match(r"^(tcp|tls|inproc|ucx|ws|wss)://\S+$", text):
        return "dask", text
    raise DataError(f"unknown execution {text!r}: use local[:N], dask-local[:N], dask://HOST:PORT or tcp://HOST:PORT")


def _dask_missing() -> DataError:
    return DataError("Dask is not installed: pip install 'dask[distributed]' (see requirements-dask.txt)")


@contextlib.contextmanager
def executor_for(spec: str | None = None, *, dashboard: bool = False) -> Iterator[Executor | None]:
    """The executor named by ``spec`` (see the module text) for the duration of a ``with`` block.

    ``None`` is yielded for ``local:1`` (fit in this process). A Dask client (and a LocalCluster it started)
    is closed when the block ends; the local pool stays up for the next call.
    """
    kind, arg = parse_spec(spec)
    if kind == "local":
        yield None if arg == 1 else local_pool(int(arg))
        return
    try:
        from distributed import Client
    except ImportError:
        raise _dask_missing() from None
    cluster = None
    if kind == "dask-local":
        cluster = local_cluster(int(arg), dashboard=dashboard)
        client = Client(cluster)
    else:
        client = Client(str(arg))
    try:
        client.register_plugin(OneBlasThread())
        # pure=False: every task is unique (its own group and seed), and Dask's default key is a token of the
        # arguments - a deep walk of the model and the scales costing ~0.2 s per submit in the caller
        ex = client.get_executor(pure=False)
        ex._csi_client = client  # noqa: SLF001 - lets executor_workers() count the workers
        yield ex
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def local_cluster(workers: int, *, dashboard: bool = False):
    """A :class:`distributed.LocalCluster` of ``workers`` single-threaded worker processes started with
    :data:`WORKER_CONFIG` (the caller closes it). Register :func:`OneBlasThread` on its client."""
    import dask
    from distributed import LocalCluster

    # Dask's configuration is process-wide; the change lasts only while the cluster is built (the nanny reads it
    # then), and only the CLI's `report --dask local[:N]` and the benches build one - the dashboard never does.
    # Without it the nanny would write its pre-spawn variables into this process's os.environ (tests/test_dask.py).
    with dask.config.set(WORKER_CONFIG):
        return LocalCluster(n_workers=int(workers), threads_per_worker=1, processes=True,
                            dashboard_address=":0" if dashboard else None, silence_logs=40)


def _worker_state(dask_worker=None) -> dict:
    """Run on a worker by :func:`worker_report` (``client.run`` passes the worker as ``dask_worker``)."""
    import dask
    from threadpoolctl import threadpool_info

    nthreads = getattr(dask_worker, "nthreads", None) or getattr(getattr(dask_worker, "state", None), "nthreads",
                                                                  None)
    return {"pid": os.getpid(), "nthreads": nthreads,
            "malloc_trim_threshold": os.environ.get("MALLOC_TRIM_THRESHOLD_"),
            "malloc_thresholds_set": _MALLOC_STATE["thresholds"],
            "profile": bool(dask.config.get("distributed.worker.profile.enabled", default=True)),
            "blas_threads": sorted({int(i.get("num_threads", 0)) for i in threadpool_info()
                                    if i.get("user_api") == "blas"})}


def worker_report(client) -> dict:
    """``{worker address: {pid, nthreads, malloc_trim_threshold, malloc_thresholds_set, profile,
    blas_threads}}`` of a Dask client's workers: what they actually run with (expected: 1 thread, no trim
    threshold in the environment or the thresholds set back by the plugin, profiler off, BLAS [1])."""
    return client.run(_worker_state)


def timed(fn, *args) -> tuple:
    """``(fn(*args), costs)`` with the CPU this process spent while ``fn`` ran, measured inside the task:
    ``costs = {cpu, user, system, minor_faults}`` (every thread of the process: a bootstrap runs its chunks in
    threads of its own). For benchmarks: submit ``timed, fn, arg`` to any executor."""
    import resource

    a, ra = os.times(), resource.getrusage(resource.RUSAGE_SELF)
    c0 = time.process_time()
    out = fn(*args)
    c1 = time.process_time()
    b, rb = os.times(), resource.getrusage(resource.RUSAGE_SELF)
    return out, {"cpu": c1 - c0, "user": b.user - a.user, "system": b.system - a.system,
                 "minor_faults": rb.ru_minflt - ra.ru_minflt}


def stream_states(rng, sizes, draws_per_item: int) -> list[dict]:
    """Where each chunk of a chunked random loop starts in the serial stream of ``rng`` (a PCG64
    ``numpy.random.Generator``): chunk k of ``sizes[k]`` items, each item drawing ``draws_per_item`` doubles (one
    64-bit output each), starts at ``rng``'s state advanced past the earlier chunks' draws. A worker rebuilds its
    generator from the state (``bg = PCG64(); bg.state = s``) and draws exactly the serial loop's numbers, so
    the permutation tests' chunks give the serial result on any executor. ``rng`` itself is not advanced."""
    import numpy as np

    states, offset = [], 0
    for m in sizes:
        bg = np.random.PCG64()
        bg.state = rng.bit_generator.state
        bg.advance(offset * draws_per_item)
        states.append(bg.state)
        offset += m
    return states


def executor_workers(executor: Executor | None) -> int:
    """How many tasks run at once on ``executor`` (1 for None)."""
    if executor is None:
        return 1
    client = getattr(executor, "_csi_client", None)
    if client is not None:
        info = client.scheduler_info()
        return max(1, sum(int(w.get("nthreads", 1)) for w in info.get("workers", {}).values()))
    return int(getattr(executor, "_max_workers", 2) or 2)
