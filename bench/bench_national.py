"""National programme on Dask: CPU per fit, models per second, the whole programme, scaling, bytes per task.

    python bench/bench_national.py [--boot 1000] [--repeat 3] [--quick] [--db PATH]

Builds the national demo (10 industries x 12 companies x 4 waves = 480 company-waves, 250-1,000
respondents each; ``python -m csi demo --national``) in a temporary folder unless ``--db`` names one,
publishes it as a Parquet dataset, then fits one model per company-wave with ``--boot`` resamples, tasks
returning the reduction (index + index draws), workers reading their own partitions:

0. CPU per fit measured inside the task (csi.runtime.execution.timed: process CPU, system time, minor page
   faults) on the first 20 company-waves: in this process, in a local pool worker, in a Dask worker with
   Dask's default worker configuration and with csi.runtime.execution.WORKER_CONFIG (what executor_for uses);
   this is the figure that shows why Dask was slower (see execution.py's module text);
1. models/s on the first 60 company-waves: the local 2-process pool (frames shipped), a LocalCluster of
   1 worker and of 2 workers (partitions read by the workers); median of ``--repeat`` runs; the speed-up of
   2 workers over 1; one-group tasks vs chunks (csi.compare.groups.groups_per_task);
2. time and worker memory (RSS now and peak) for 60 / 120 / 240 / 480 company-waves on 2 workers; the
   last line is the whole programme;
3. bytes pickled per task, in and out: a frame shipped vs a partition reference; a full fit vs the reduction.

Targets (issue 10): 480 models x 1,000 resamples <= 60 s on 2 cores; 2 workers >= 1.7x one; memory per
worker flat in the number of companies. ``--quick``: 200 resamples, 60/120 company-waves, one run.
No cache or result store: every run fits everything. Wall-clock figures need a quiet machine (the load
average is printed); CPU per fit and page faults are robust to other jobs.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _cpu() -> float:
    import psutil

    t = psutil.Process().cpu_times()
    return t.user + t.system


def _pool_cpu(pool) -> float:
    import psutil

    return sum(_safe_cpu(psutil, pid) for pid in list(getattr(pool, "_processes", {}) or {}))


def _safe_cpu(psutil, pid) -> float:
    try:
        t = psutil.Process(pid).cpu_times()
        return t.user + t.system
    except psutil.Error:
        return 0.0


def _rss() -> tuple[int, int]:
    import resource

    import psutil

    return psutil.Process().memory_info().rss, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _load() -> str:
    return f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"


def _costs_line(name: str, costs: list[dict]) -> str:
    m = {k: statistics.median(c[k] for c in costs) for k in costs[0]}
    return (f"  {name:<44s} {m['cpu']:.3f} CPU-s per fit (user {m['user']:.2f}, system {m['system']:.2f}), "
            f"{m['minor_faults']:,.0f} minor page faults")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", type=Path, default=None)
    ap.add_argument("--boot", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    boot = 200 if args.quick else args.boot
    repeat = 1 if args.quick else args.repeat
    sizes = (60, 120) if args.quick else (60, 120, 240, 480)

    import dask
    from distributed import Client, LocalCluster

    from csi.compare.groups import _fit_one, estimate_groups, estimate_partitions, group_seed, _scales_for
    from csi.data.national import build_national_database
    from csi.data.publish import manifest, publish
    from csi.report.build import Selection, Settings, prepare
    from csi.runtime.execution import (OneBlasThread, executor_for, local_cluster, local_pool, timed,
                                       worker_report)

    tmp = tempfile.TemporaryDirectory()
    db = args.db
    t0 = time.perf_counter()
    if db is None:
        db = Path(tmp.name) / "national.duckdb"
        build_national_database(db, seed=20240601)
    ds = Path(tmp.name) / "dataset"
    publish(db, ds)
    prep = prepare(db, Selection(own_brand_by_default=False), Settings(bootstrap=boot))
    settings = prep.estimator_settings
    parts = manifest(ds)["partitions"]
    print(f"national demo: {len(parts)} company-waves, {sum(p['rows'] for p in parts):,} respondents "
          f"(built and published in {time.perf_counter() - t0:.1f} s); {boot} resamples per model; {_load()}")

    def subset(n):
        keep = parts[:n]
        return {"wave": sorted({p["filter"]["wave"] for p in keep}),
                "brand": sorted({p["filter"]["brand"] for p in keep})}, keep

    def frame_of(keep):
        pairs = {(p["filter"]["wave"], p["filter"]["brand"]) for p in keep}
        f = prep.brand_frame
        m = [(str(w), str(b)) in pairs for w, b in zip(f["wave"], f["brand"])]
        return f[m]

    def run_parts(ex, n, chunk=None):
        match, keep = subset(n)
        out = estimate_partitions(ds, prep.spec, prep.scales, boot, 1, match=match, executor=ex, chunk=chunk,
                                  **settings)
        return len([k for k in out if (k[0], k[1]) in {(p["filter"]["wave"], p["filter"]["brand"]) for p in keep}])

    # 0. CPU per fit inside the task
    cols = list(prep.spec.indicators)
    payloads = []
    for p in parts[:20]:
        key = (str(p["filter"]["wave"]), str(p["filter"]["brand"]))
        labels = {"wave": key[0], "brand": key[1]}
        payloads.append({"part": {"dataset": str(ds), "filter": dict(p["filter"]), "columns": cols},
                         "spec": prep.spec, "key": key, "labels": labels, "settings": settings, "n_boot": boot,
                         "seed": group_seed(1, key), "scales": _scales_for(prep.scales, labels, cols),
                         "boot_options": {"jackknife": False, "threads": 1}, "keep": "index"})
    print(f"0. CPU per fit inside the task ({len(payloads)} company-waves, {boot} resamples, one BLAS thread):")
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):  # this benchmark's own process only
        timed(_fit_one, payloads[0])
        print(_costs_line("this process", [timed(_fit_one, p)[1] for p in payloads]))
    pool = local_pool(1)
    list(pool.map(timed, [_fit_one] * 2, payloads[:2]))
    print(_costs_line("local pool worker", [c for _, c in pool.map(timed, [_fit_one] * len(payloads), payloads)]))
    def _blas_only():  # the workers' state before this fix: BLAS limited, nothing else
        from threadpoolctl import threadpool_limits as _limits

        _limits(1)

    for name, config, plugin in (("Dask worker, WORKER_CONFIG + plugin (executor_for)", None, True),
                                 ("Dask worker, Dask's defaults, BLAS limited only", {}, False),
                                 ("Dask worker, Dask's defaults + OneBlasThread plugin", {}, True)):
        if config is None:
            cluster = local_cluster(1)
        else:
            with dask.config.set(config):
                cluster = LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None,
                                       silence_logs=40)
        client = Client(cluster)
        try:
            if plugin:
                client.register_plugin(OneBlasThread())
            else:
                client.run(_blas_only)
            info = next(iter(worker_report(client).values()))
            [f.result() for f in [client.submit(timed, _fit_one, p, pure=False) for p in payloads[:2]]]
            costs = [f.result()[1] for f in [client.submit(timed, _fit_one, p, pure=False) for p in payloads]]
            print(_costs_line(name, costs) + f"; worker: MALLOC_TRIM_THRESHOLD_={info['malloc_trim_threshold']}, "
                  f"thresholds set {info['malloc_thresholds_set']}, profiler {'on' if info['profile'] else 'off'}, "
                  f"BLAS threads {info['blas_threads']}, {info['nthreads']} thread")
        finally:
            client.close()
            cluster.close()
    print("   (after the first default LocalCluster this process's own environment holds MALLOC_TRIM_THRESHOLD_: "
          "Dask's nanny writes it there; executor_for's clusters do not)")

    # 1. models per second
    n0 = sizes[0]
    _, keep0 = subset(n0)
    rows0 = frame_of(keep0)
    pool = local_pool(2)
    estimate_groups(frame_of(keep0[:4]), prep.spec, ["wave", "brand"], prep.scales, n_boot=boot, seed=1,
                    workers=2, keep="index", **settings)  # warm the pool
    times, cpus = [], []
    for _ in range(repeat):
        c = _pool_cpu(pool) + _cpu()
        t = time.perf_counter()
        estimate_groups(rows0, prep.spec, ["wave", "brand"], prep.scales, n_boot=boot, seed=1, workers=2,
                        keep="index", **settings)
        times.append(time.perf_counter() - t)
        cpus.append(_pool_cpu(pool) + _cpu() - c)
    local = statistics.median(times)
    print(f"1. local pool, 2 processes: {n0} models in {local:.2f} s = {n0 / local:.2f} models/s; "
          f"{statistics.median(cpus) / n0:.3f} CPU-s per model, all processes (median of {repeat}; {_load()})")
    per_workers = {}
    for nw, chunk in ((1, None), (2, None), (2, 1)):
        with executor_for(f"dask-local:{nw}") as ex:
            run_parts(ex, 2 * nw)  # warm the workers (imports)
            times, wcpus, ccpus = [], [], []
            client = ex._csi_client  # noqa: SLF001
            for _ in range(repeat):
                w, c = sum(client.run(_cpu).values()), _cpu()
                t = time.perf_counter()
                run_parts(ex, n0, chunk)
                times.append(time.perf_counter() - t)
                wcpus.append(sum(client.run(_cpu).values()) - w)
                ccpus.append(_cpu() - c)
        dt = statistics.median(times)
        what = "one group per task" if chunk == 1 else "chunked tasks"
        if chunk is None:
            per_workers[nw] = dt
        wc, cc = statistics.median(wcpus) / n0, statistics.median(ccpus) / n0
        print(f"   LocalCluster, {nw} worker{'s' if nw > 1 else ''} ({what}): {n0} models in {dt:.2f} s = "
              f"{n0 / dt:.2f} models/s; CPU-s per model: workers {wc:.3f}, scheduler + client {cc:.3f}; on "
              f"{os.cpu_count()} idle cores at most {min(nw / wc, os.cpu_count() / (wc + cc)):.2f} models/s "
              f"(median of {repeat}; {_load()})")
    print(f"   speed-up 2 workers vs 1: {per_workers[1] / per_workers[2]:.2f}x (target >= 1.7x)")

    # 2. scaling and the whole programme on 2 workers; worker memory after each size
    cluster = local_cluster(2)
    client = Client(cluster)
    try:
        client.register_plugin(OneBlasThread())
        ex = client.get_executor(pure=False)  # as executor_for
        ex._csi_client = client  # noqa: SLF001 - chunks by the number of workers, as executor_for's
        run_parts(ex, 4)
        for n in sizes:
            c = sum(client.run(_cpu).values())
            t = time.perf_counter()
            done = run_parts(ex, n)
            dt = time.perf_counter() - t
            cpu = sum(client.run(_cpu).values()) - c
            mem = client.run(_rss)
            now = max(v[0] for v in mem.values()) / 2**20
            peak = max(v[1] for v in mem.values()) / 2**20
            print(f"2. {done:4d} company-waves x {boot} resamples: {dt:6.1f} s ({done / dt:.2f} models/s; worker "
                  f"CPU {cpu:.1f} s = {cpu / 2:.1f} s on 2 idle cores); worker RSS now {now:.0f} MiB, peak "
                  f"{peak:.0f} MiB; {_load()}")
        if sizes[-1] == 480 and boot == 1000:
            print(f"   whole programme (480 x 1,000) on 2 workers: {dt:.1f} s (target <= 60 s)")
    finally:
        client.close()
        cluster.close()

    # 3. bytes per task
    p = keep0[0]
    stats_frame: dict = {}
    stats_full: dict = {}
    one = frame_of([p])
    estimate_groups(one, prep.spec, ["wave", "brand"], prep.scales, n_boot=boot, seed=1, workers=1,
                    stats=stats_full, **settings)
    estimate_groups(one, prep.spec, ["wave", "brand"], prep.scales, n_boot=boot, seed=1, workers=1,
                    keep="index", stats=stats_frame, **settings)
    stats_part: dict = {}
    estimate_partitions(ds, prep.spec, prep.scales, boot, 1, match={"wave": p["filter"]["wave"],
                        "brand": p["filter"]["brand"]}, stats=stats_part, **settings)
    print(f"3. bytes per group ({p['rows']} respondents, {boot} resamples): in {stats_frame['bytes_in'][0]:,} with "
          f"the frame shipped, {stats_part['bytes_in'][0]:,} with a partition reference; out "
          f"{stats_full['bytes_out'][0]:,} for a full fit, {stats_part['bytes_out'][0]:,} for the reduction")
    tmp.cleanup()


if __name__ == "__main__":
    main()
