"""Pluggable execution (local pool, Dask LocalCluster), the reduction, published partitions, the result store."""
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("distributed")

from csi.compare.groups import estimate_groups, estimate_partitions, group_seed  # noqa: E402
from csi.data import store  # noqa: E402
from csi.data.national import build_national_database  # noqa: E402
from csi.data.publish import manifest, partitions, publish, read_partition  # noqa: E402
from csi.errors import DataError  # noqa: E402
from csi.model.templates import template  # noqa: E402
from csi.report.build import Selection, Settings, prepare  # noqa: E402
from csi.runtime.execution import executor_for, executor_workers, parse_spec  # noqa: E402
from csi.runtime.results import ResultStore  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SIZE = {"n_industries": 2, "n_companies": 3, "waves": ("2025Q1", "2025Q2"), "n_range": (250, 350)}


@pytest.fixture(scope="module")
def ecsi():
    d = pd.read_csv(ROOT / "data" / "ecsi_satisfaction.csv", index_col=0)
    spec = template("ecsi")
    return d, spec, {i: (0.0, 10.0) for i in spec.indicators}


@pytest.fixture(scope="module")
def cluster():
    with executor_for("dask-local:2") as ex:
        yield ex


@pytest.fixture(scope="module")
def national(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("national")
    db = build_national_database(tmp / "nat.duckdb", seed=11, **SIZE)
    ds = tmp / "dataset"
    publish(db, ds)
    return db, ds


def test_execution_specs():
    assert parse_spec(None) == ("local", 2) and parse_spec("local:3") == ("local", 3)
    assert parse_spec("dask-local") == ("dask-local", 2) and parse_spec("dask-local:1") == ("dask-local", 1)
    assert parse_spec("dask://10.0.0.5:8786") == ("dask", "tcp://10.0.0.5:8786")
    assert parse_spec("tcp://sched:8786") == ("dask", "tcp://sched:8786")
    for bad in ("local:0", "spark://x", "local:two", ""):
        if bad == "":
            assert parse_spec(bad) == ("local", 2)
            continue
        with pytest.raises(DataError):
            parse_spec(bad)
    with executor_for("local:1") as ex:
        assert ex is None and executor_workers(ex) == 1


def test_localcluster_is_bit_identical_to_the_local_pool(ecsi, cluster):
    d, spec, scales = ecsi
    local = estimate_groups(d, spec, ["gender"], scales, n_boot=60, seed=4, workers=2)
    assert executor_workers(cluster) == 2
    stats: dict = {}
    dask = estimate_groups(d, spec, ["gender"], scales, n_boot=60, seed=4, executor=cluster, stats=stats)
    assert list(dask) == list(local) == [("female",), ("male",)]
    for k in local:
        assert dask[k].seed == local[k].seed == group_seed(4, k)
        pd.testing.assert_frame_equal(local[k].index, dask[k].index, check_exact=True)
        pd.testing.assert_frame_equal(local[k].index_draws, dask[k].index_draws, check_exact=True)
        for part in ("paths", "weights", "loadings"):
            np.testing.assert_array_equal(local[k].boot.draws[part].to_numpy(), dask[k].boot.draws[part].to_numpy())
    # the reduction: same index and draws, no model result, a fraction of the bytes
    small: dict = {}
    red = estimate_groups(d, spec, ["gender"], scales, n_boot=60, seed=4, executor=cluster, keep="index",
                          stats=small)
    for k in local:
        assert red[k].result is None and red[k].boot is None
        pd.testing.assert_frame_equal(local[k].index_draws, red[k].index_draws, check_exact=True)
    assert max(small["bytes_out"]) * 5 < min(stats["bytes_out"])
    assert abs(len(pickle.dumps(red[("male",)], protocol=pickle.HIGHEST_PROTOCOL)) - small["bytes_out"][1]) < 500


def test_mga_permutation_on_an_executor_is_identical(ecsi, cluster):
    from csi.compare.groups import mga_permutation

    d, spec, _ = ecsi
    a, b = d[d["gender"] == "female"], d[d["gender"] == "male"]
    here = mga_permutation(a, b, spec, n_perm=120, seed=3, chunk_size=50)
    there = mga_permutation(a, b, spec, n_perm=120, seed=3, chunk_size=50, executor=cluster)
    pd.testing.assert_frame_equal(here, there, check_exact=True)


def test_publish_writes_the_store_rows_by_partition(national):
    db, ds = national
    man = manifest(ds)
    con = store.connect(db, read_only=True)
    try:
        frame = store.load_responses(con)
        assert man["data_version"] == store.data_version(con)
    finally:
        con.close()
    assert sum(p["rows"] for p in man["partitions"]) == len(frame)
    assert len(man["partitions"]) == 2 * 2 * 3          # waves x industries x companies
    part = partitions(ds, wave="2025Q2", brand="Banking B")[0]
    assert part["filter"] == {"wave": "2025Q2", "industry": "Banking", "brand": "Banking B"}
    got = read_partition(ds, part["filter"], ["sat1", "qual3", "respondent_id"])
    want = frame[(frame["wave"] == "2025Q2") & (frame["brand"] == "Banking B")]
    assert list(got["respondent_id"]) == list(want["respondent_id"])
    np.testing.assert_array_equal(got["sat1"].to_numpy(), want["sat1"].to_numpy())
    assert got["sat1"].dtype == np.float64
    with pytest.raises(DataError):
        read_partition(ds, {"wave": "1999Q1"})


def test_workers_reading_partitions_equal_shipped_frames_and_results_are_stored(national, cluster, tmp_path):
    db, ds = national
    prep = prepare(db, Selection(own_brand_by_default=False), Settings(bootstrap=40, seed=5))
    settings = prep.estimator_settings
    shipped = estimate_groups(prep.brand_frame, prep.spec, ["wave", "brand"], prep.scales, n_boot=40, seed=5,
                              workers=2, keep="index", **settings)
    rs = ResultStore(tmp_path / "results")
    stats: dict = {}
    read = estimate_partitions(ds, prep.spec, prep.scales, 40, 5, executor=cluster, results=rs, stats=stats,
                               **settings)
    assert set(read) == set(shipped) and len(read) == 12
    for k in shipped:
        pd.testing.assert_frame_equal(shipped[k].index, read[k].index, check_exact=True)
        pd.testing.assert_frame_equal(shipped[k].index_draws, read[k].index_draws, check_exact=True)
    assert stats["tasks"] == 12 and max(stats["bytes_in"]) < 20_000    # no respondents shipped
    keys = list(rs.keys())
    assert len(keys) == 12 and all(len(k) == 64 for k in keys)
    # a second run finds every result in the store: nothing is submitted
    again: dict = {}
    hit = estimate_partitions(ds, prep.spec, prep.scales, 40, 5, executor=cluster, results=rs, stats=again,
                              **settings)
    assert again.get("tasks", 0) == 0
    for k in shipped:
        pd.testing.assert_frame_equal(hit[k].index, read[k].index, check_exact=True)
        pd.testing.assert_frame_equal(hit[k].index_draws, read[k].index_draws, check_exact=True)
    # another seed is another key; the dashboard's view of the store lists every group
    estimate_partitions(ds, prep.spec, prep.scales, 40, 6, match={"wave": "2025Q1"}, results=rs, **settings)
    assert len(list(rs.keys())) == 18
    assert set(rs.table()["brand"]) == {p["filter"]["brand"] for p in manifest(ds)["partitions"]}
    with pytest.raises(ValueError):
        rs.get("../../etc/passwd")


def test_result_keys_follow_the_partition_content(national, tmp_path):
    db, _ = national
    prep = prepare(db, Selection(own_brand_by_default=False), Settings(bootstrap=0))
    ds1, ds2 = tmp_path / "a", tmp_path / "b"
    publish(db, ds1)
    publish(db, ds2)
    rs1, rs2 = ResultStore(tmp_path / "r1"), ResultStore(tmp_path / "r2")
    match = {"wave": "2025Q1", "brand": "Airlines A"}
    estimate_partitions(ds1, prep.spec, prep.scales, 0, 1, match=match, results=rs1, **prep.estimator_settings)
    estimate_partitions(ds2, prep.spec, prep.scales, 0, 1, match=match, results=rs2, **prep.estimator_settings)
    assert list(rs1.keys()) == list(rs2.keys())                # same content, another folder: same key
    # change one respondent of that partition: its key changes
    p = partitions(ds2, **match)[0]
    f = read_partition(ds2, p["filter"])
    f.loc[0, "sat1"] = 1.0 if f.loc[0, "sat1"] != 1.0 else 2.0
    f.to_parquet(ds2 / p["path"], index=False)
    import json

    from csi.data.publish import _sha256
    man = json.loads((ds2 / "dataset.json").read_text())
    for q in man["partitions"]:
        if q["path"] == p["path"]:
            q["sha256"] = _sha256(ds2 / p["path"])
    (ds2 / "dataset.json").write_text(json.dumps(man))
    estimate_partitions(ds2, prep.spec, prep.scales, 0, 1, match=match, results=rs2, **prep.estimator_settings)
    assert len(list(rs2.keys())) == 2


def test_cli_report_on_dask_equals_the_local_run(national, tmp_path):
    db, ds = national
    base = [sys.executable, "-m", "csi", "report", "--db", str(db), "--bootstrap", "30"]
    local, dask = tmp_path / "local", tmp_path / "dask"
    r1 = subprocess.run(base + ["--out", str(local)], capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert r1.returncode == 0, r1.stderr
    r2 = subprocess.run(base + ["--out", str(dask), "--dask", "local:2", "--dataset", str(ds), "--results",
                                str(tmp_path / "rs")], capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert r2.returncode == 0, r2.stderr
    files = sorted(p.relative_to(local).as_posix() for p in local.rglob("*.csv"))
    assert "industry.csv" in files and "league.csv" in files
    for name in files:
        assert (local / name).read_bytes() == (dask / name).read_bytes(), name
    league = pd.read_csv(local / "league.csv")
    assert set(league["company"]) == {f"{i} {c}" for i in ("Airlines", "Banking") for c in "ABC"}
    bad = subprocess.run(base + ["--out", str(tmp_path / "x"), "--dask", "spark://nowhere"], capture_output=True,
                         text=True, cwd=ROOT, timeout=120)
    assert bad.returncode == 2 and "unknown execution" in bad.stderr


def test_workers_run_with_the_worker_config_and_leave_the_callers_environment():
    """The causes of the ~1.8x CPU per fit inside a Dask worker (csi.runtime.execution's module text): the
    nanny's MALLOC_TRIM_THRESHOLD_ froze glibc's mmap threshold (10x page faults) and the profiler sampled the
    task. Workers started by executor_for run without both; the nanny no longer writes its pre-spawn variables
    into this process's environment."""
    import os

    from csi.runtime.execution import WORKER_CONFIG, worker_report

    before = dict(os.environ)
    with executor_for("dask-local:1") as ex:
        during = dict(os.environ)
        info = list(worker_report(ex._csi_client).values())  # noqa: SLF001
    leaked = {k for k in set(before) | set(during) if before.get(k) != during.get(k)}
    assert not leaked & {"MALLOC_TRIM_THRESHOLD_", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"}
    assert leaked <= {"PYTHONHASHSEED", "__DASK_PARENT_PID"}       # Dask's own, documented
    assert WORKER_CONFIG["distributed.worker.profile.enabled"] is False
    assert len(info) == 1
    w = info[0]
    assert w["pid"] != os.getpid() and w["nthreads"] == 1 and w["profile"] is False and w["blas_threads"] == [1]
    assert w["malloc_trim_threshold"] == before.get("MALLOC_TRIM_THRESHOLD_")   # nothing added by the nanny
    assert w["malloc_thresholds_set"] == [32 << 20, 64 << 20] or w["malloc_thresholds_set"] == (32 << 20, 64 << 20)


def test_a_default_dask_worker_gets_its_malloc_thresholds_back(cluster):
    """A worker started with Dask's default configuration (MALLOC_TRIM_THRESHOLD_=65536, as `dask worker` does
    on a real cluster): the OneBlasThread plugin sets fixed thresholds, and a fit then makes a fraction of the
    page faults it makes with the frozen threshold (measured: ~33,000 -> ~500 per 1,000-resample fit)."""
    import dask
    from distributed import Client, LocalCluster

    from csi.runtime.execution import OneBlasThread, worker_report

    with dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": 65536}):
        lc = LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None,
                          silence_logs=40)
    try:
        with Client(lc) as client:
            assert next(iter(worker_report(client).values()))["malloc_thresholds_set"] is None
            client.register_plugin(OneBlasThread())
            w = next(iter(worker_report(client).values()))
            assert w["malloc_trim_threshold"] == "65536" and tuple(w["malloc_thresholds_set"]) == (32 << 20,
                                                                                                  64 << 20)
    finally:
        lc.close()


def test_chunked_tasks_give_the_same_fits_in_the_same_order(national, cluster):
    from csi.compare.groups import groups_per_task

    assert groups_per_task(480, 2) == 8 and groups_per_task(60, 2) == 3 and groups_per_task(10, 2) == 1
    assert groups_per_task(5, 0) == 1
    db, ds = national
    prep = prepare(db, Selection(own_brand_by_default=False), Settings(bootstrap=20, seed=9))
    settings = prep.estimator_settings
    runs = {}
    for chunk in (1, 5, None):
        stats: dict = {}
        runs[chunk] = estimate_partitions(ds, prep.spec, prep.scales, 20, 9, executor=cluster, chunk=chunk,
                                          stats=stats, **settings)
        assert stats["tasks"] == 12
        assert stats["submits"] == {1: 12, 5: 3, None: 12}[chunk]     # 12 groups on 2 workers: one per task
    assert list(runs[1]) == list(runs[5]) == list(runs[None])
    for k in runs[1]:
        pd.testing.assert_frame_equal(runs[1][k].index, runs[5][k].index, check_exact=True)
        pd.testing.assert_frame_equal(runs[1][k].index_draws, runs[5][k].index_draws, check_exact=True)
    # the local pool with chunks: the same fits as one group per task
    shipped = estimate_groups(prep.brand_frame, prep.spec, ["wave", "brand"], prep.scales, n_boot=20, seed=9,
                              workers=2, keep="index", chunk=4, **settings)
    for k in runs[1]:
        pd.testing.assert_frame_equal(shipped[k].index_draws, runs[1][k].index_draws, check_exact=True)


def test_groups_table_permutations_run_on_the_executor_with_the_same_result(national, cluster):
    """groups.csv: the MGA permutation test's chunks run on the report's executor; the table is bit-identical
    to the serial run and to the local pool."""
    from csi.report import build

    db, _ = national
    prep = prepare(db, Selection(own_brand="Airlines A", competitor="Airlines B"), Settings(bootstrap=40, seed=3))
    bfits = build.brand_fits(prep, workers=2)
    serial = build.mga_table(prep, bfits, n_perm=130)
    on_dask = build.mga_table(prep, bfits, n_perm=130, executor=cluster)
    from csi.runtime.execution import local_pool

    on_pool = build.mga_table(prep, bfits, n_perm=130, executor=local_pool(2))
    assert len(serial) > 0 and serial["p_permutation"].notna().all()
    pd.testing.assert_frame_equal(serial, on_dask, check_exact=True)
    pd.testing.assert_frame_equal(serial, on_pool, check_exact=True)
    # the dashboard's group test takes an executor too
    a = build.group_test(prep, "brand", "Airlines A", "Airlines C", n_perm=60)
    b = build.group_test(prep, "brand", "Airlines A", "Airlines C", n_perm=60, executor=cluster)
    pd.testing.assert_frame_equal(a["mga"], b["mga"], check_exact=True)
