"""Group fits (parallel, seeded, cached), trends and differences, MGA on data with a known difference."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from csi.runtime.cache import FitCache
from csi.compare.groups import (competitor_gap, estimate_groups, group_seed, henseler_p, mga, mga_bootstrap,
                         mga_permutation, trend, wave_change)
from csi.errors import DataError
from csi.model.syntax import parse_model
from csi.model.templates import template

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data" / "ecsi_satisfaction.csv"

MODEL = parse_model("X =~ x1 + x2 + x3\nM =~ m1 + m2 + m3\nY =~ y1 + y2 + y3\nM ~ X\nY ~ X + M")


def population_cov(b_xm, b_my, b_xy, loading=0.8):
    """Indicator covariance (9 × 9) of X → M → Y, X → Y with standardized latents, 3 items of loading 0.8 each."""
    r_xm = b_xm
    r_xy = b_xy + b_my * r_xm
    r_my = b_my + b_xy * r_xm
    phi = np.array([[1, r_xm, r_xy], [r_xm, 1, r_my], [r_xy, r_my, 1.0]])
    lam = np.kron(np.eye(3), np.full((3, 1), loading))
    return lam @ phi @ lam.T + np.eye(9) * (1 - loading**2)


def simulate(n, b_xm, b_my, b_xy, seed, exact=True):
    """Data whose sample covariance equals the population one EXACTLY (cSEM's trick) when ``exact``."""
    sigma = population_cov(b_xm, b_my, b_xy)
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, 9))
    if exact:
        z = z - z.mean(axis=0)
        z = z @ np.linalg.inv(np.linalg.cholesky(np.cov(z, rowvar=False)).T)   # sample cov = I
    x = z @ np.linalg.cholesky(sigma).T
    cols = [f"{c}{k}" for c in "xmy" for k in (1, 2, 3)]
    return pd.DataFrame(x, columns=cols)


def test_group_seed_is_stable_and_distinct():
    a = group_seed(1, ("2025Q1", "North"))
    assert a == group_seed(1, ("2025Q1", "North"))
    assert a != group_seed(1, ("2025Q1", "East")) and a != group_seed(2, ("2025Q1", "North"))
    # same value in a fresh interpreter (Python's hash() would differ between processes)
    code = "from csi.compare.groups import group_seed; print(group_seed(1, ('2025Q1', 'North')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert int(out.stdout.strip()) == a


def test_henseler_p_matches_brute_force():
    rng = np.random.default_rng(5)
    a = rng.normal(0.5, 0.1, 300)
    b = rng.normal(0.45, 0.12, 300)
    # seminr: 1 - sum(Theta(2*mean(a) - a_i - 2*mean(b) + b_j)) / J^2 over expand.grid(a, b)
    s = 2 * a.mean() - a[:, None] - 2 * b.mean() + b[None, :]
    assert henseler_p(a, b) == pytest.approx(1 - (s > 0).sum() / 300**2, abs=1e-15)
    assert henseler_p(a + 1, b) < 0.001 and henseler_p(a - 1, b) > 0.999


def test_mga_permutation_finds_the_one_true_difference():
    """Exact-covariance groups: PLSc recovers the true paths, so the only real difference is M->Y."""
    a = simulate(400, 0.5, 0.55, 0.2, seed=11)
    b = simulate(400, 0.5, 0.10, 0.2, seed=12)
    out = mga_permutation(a, b, MODEL, n_perm=300, seed=4, plsc=True)
    assert list(out.columns[:3]) == ["from", "to", "estimate_a"]
    out = out.set_index(["from", "to"])
    xm, my, xy = ("X", "M"), ("M", "Y"), ("X", "Y")
    np.testing.assert_allclose(out.loc[[xm, my, xy], "estimate_a"], [0.5, 0.55, 0.2], atol=1e-9)
    np.testing.assert_allclose(out.loc[[xm, my, xy], "estimate_b"], [0.5, 0.10, 0.2], atol=1e-9)
    assert out.loc[my, "diff"] == pytest.approx(0.45)
    assert out.loc[my, "p_permutation"] < 0.01 and out.loc[my, "significant"]
    assert out.loc[xm, "p_permutation"] > 0.05 and out.loc[xy, "p_permutation"] > 0.05
    again = mga_permutation(a, b, MODEL, n_perm=300, seed=4, plsc=True).set_index(["from", "to"])
    pd.testing.assert_frame_equal(out, again)                      # seeded


def test_batched_permutations_equal_front_door_refits():
    """The batched kernel must give what estimate_pls gives on each permuted pseudo-group."""
    from csi.engine.pls import estimate_pls
    a = simulate(120, 0.5, 0.55, 0.2, seed=1, exact=False)
    b = simulate(90, 0.5, 0.10, 0.2, seed=2, exact=False)
    n_perm = 25
    out = mga_permutation(a, b, MODEL, n_perm=n_perm, seed=8, chunk_size=n_perm).set_index(["from", "to"])
    pooled = pd.concat([a, b], ignore_index=True)
    rng = np.random.default_rng(8)
    perms = np.argsort(rng.random((n_perm, len(pooled))), axis=1)   # the documented permutation draw
    obs = out["diff"]
    exceed = pd.Series(0, index=obs.index)
    for perm in perms:
        pa = estimate_pls(pooled.iloc[np.sort(perm[:120])], MODEL).paths
        pb = estimate_pls(pooled.iloc[np.sort(perm[120:])], MODEL).paths
        d = pd.Series(pa["estimate"].to_numpy() - pb["estimate"].to_numpy(),
                      index=pd.MultiIndex.from_frame(pa[["from", "to"]]))
        exceed += (d.abs() >= obs.abs() - 1e-12).astype(int)
    np.testing.assert_allclose(out["p_permutation"], ((exceed + 1) / (n_perm + 1))[out.index])


def test_mga_permutation_null_p_values_are_uniform_ish():
    """Same population in both groups: the test should not reject most of the time."""
    rejections = 0
    for k in range(6):
        a = simulate(200, 0.5, 0.4, 0.2, seed=100 + k, exact=False)
        b = simulate(200, 0.5, 0.4, 0.2, seed=200 + k, exact=False)
        out = mga_permutation(a, b, MODEL, n_perm=99, seed=k)
        rejections += int((out["p_permutation"] < 0.05).sum())
    assert rejections <= 3                                           # 18 tests at 5 %: ~0.9 expected


def test_mga_bootstrap_finds_the_one_true_difference():
    import csi.engine.bootstrap as bootstrap
    a = simulate(400, 0.5, 0.55, 0.2, seed=11)
    b = simulate(400, 0.5, 0.10, 0.2, seed=12)
    ba = bootstrap.bootstrap_pls(a, MODEL, n_boot=300, seed=1, plsc=True)
    bb = bootstrap.bootstrap_pls(b, MODEL, n_boot=300, seed=2, plsc=True)
    out = mga_bootstrap(ba, bb)
    assert list(out.columns[:3]) == ["from", "to", "estimate_a"]
    out = out.set_index(["from", "to"])
    assert out.loc[("M", "Y"), "p_bootstrap"] < 0.01 and out.loc[("M", "Y"), "p_henseler"] < 0.01
    assert out.loc[("X", "M"), "p_bootstrap"] > 0.05 and out.loc[("X", "Y"), "p_bootstrap"] > 0.05
    # each p is henseler_p of the two groups' draws of that path, looked up by (from, to)
    for (frm, to), row in out.iterrows():
        assert row["p_henseler"] == henseler_p(ba.draws["paths"][(frm, to)], bb.draws["paths"][(frm, to)])
        assert row["estimate_a"] == ba.estimates["paths"][(frm, to)]


def test_mga_combines_both_tests():
    a = simulate(400, 0.5, 0.55, 0.2, seed=11)
    b = simulate(400, 0.5, 0.10, 0.2, seed=12)
    out = mga(a, b, MODEL, n_perm=200, n_boot=200, seed=3, plsc=True)
    assert list(out.columns) == ["from", "to", "estimate_a", "estimate_b", "diff", "p_permutation", "p_bootstrap",
                                 "p_henseler", "significant"]
    out = out.set_index(["from", "to"])
    assert list(out.index[out["significant"]]) == [("M", "Y")]
    assert out.loc[("M", "Y"), "p_bootstrap"] < 0.01
    np.testing.assert_allclose(out["diff"], out["estimate_a"] - out["estimate_b"])


@pytest.fixture(scope="module")
def ecsi():
    d = pd.read_csv(DATA, index_col=0)
    spec = template("ecsi")
    return d, spec, {i: (0.0, 10.0) for i in spec.indicators}


def test_estimate_groups_parallel_equals_serial_and_caches(ecsi, tmp_path):
    d, spec, scales = ecsi
    n_boot = 50 if _has_bootstrap() else 0
    serial = estimate_groups(d, spec, ["gender"], scales, n_boot=n_boot, seed=9, workers=1)
    cache = FitCache(tmp_path / "cache")
    par = estimate_groups(d, spec, ["gender"], scales, n_boot=n_boot, seed=9, workers=2, cache=cache)
    assert list(par) == [("female",), ("male",)]
    for k in serial:
        pd.testing.assert_frame_equal(serial[k].index, par[k].index)
        assert serial[k].seed == par[k].seed == group_seed(9, k)
    assert cache.misses == 2 and cache.hits == 0
    again = estimate_groups(d, spec, ["gender"], scales, n_boot=n_boot, seed=9, workers=2, cache=cache)
    assert cache.hits == 2 and cache.misses == 2
    assert again[("male",)] is par[("male",)]                       # nothing fitted twice
    fresh = FitCache(tmp_path / "cache")                             # a new process would find the files
    estimate_groups(d, spec, ["gender"], scales, n_boot=n_boot, seed=9, workers=1, cache=fresh)
    assert fresh.hits == 2
    other = estimate_groups(d, spec, ["gender"], scales, n_boot=n_boot, seed=10, workers=1, cache=fresh)
    assert fresh.misses == 2 and other[("male",)].seed != par[("male",)].seed
    n = {k: g.n for k, g in par.items()}
    assert sum(n.values()) == 250


def test_small_groups_are_reported_not_fatal(ecsi):
    d, spec, scales = ecsi
    d2 = d.copy()
    d2["grp"] = ["tiny"] * 10 + ["big"] * 240
    fits = estimate_groups(d2, spec, ["grp"], scales, workers=1)
    assert fits[("tiny",)].error and "10 respondents" in fits[("tiny",)].error
    assert fits[("big",)].ok
    t = trend(fits)
    assert list(t.columns) == ["grp", "construct", "index", "ci_low", "ci_high", "n"]
    assert set(t["grp"]) == {"big"}
    with pytest.raises(DataError, match="nogroup"):
        estimate_groups(d2, spec, ["nogroup"], scales)


def test_differences_between_groups(ecsi):
    d, spec, scales = ecsi
    fits = estimate_groups(d, spec, ["gender"], scales, n_boot=200, seed=2, workers=1)
    f, m = fits[("female",)], fits[("male",)]
    ch = wave_change(f, m)
    assert list(ch.columns) == ["construct", "index_a", "index_b", "change", "ci_low", "ci_high", "significant",
                                "verdict_en", "verdict_zh"]
    np.testing.assert_allclose(ch["change"], ch["index_b"] - ch["index_a"])
    k = min(len(f.index_draws), len(m.index_draws))
    diff = m.index_draws["SAT"].to_numpy()[:k] - f.index_draws["SAT"].to_numpy()[:k]
    row = ch.set_index("construct").loc["SAT"]
    assert row["ci_low"] == pytest.approx(np.quantile(diff, 0.025))
    assert row["verdict_en"] == ("significant" if row["significant"] else "not significant")
    gap = competitor_gap(own=m, competitor=f)
    np.testing.assert_allclose(gap["gap"], ch["change"])          # own = male = b, competitor = female = a
    np.testing.assert_allclose(gap["ci_low"].to_numpy(), ch["ci_low"].to_numpy())
    same = wave_change(m, m)
    assert (same["change"] == 0).all() and not same["significant"].any()


def test_shifted_group_is_significant(ecsi):
    """A group whose ratings are all one point higher must show a significant positive change."""
    d, spec, scales = ecsi
    d2 = d.copy()
    d2[list(spec.indicators)] = d2[list(spec.indicators)].clip(upper=9)
    later = d2.copy()
    later[list(spec.indicators)] = later[list(spec.indicators)] + 1
    both = pd.concat([d2.assign(wave="w1"), later.assign(wave="w2")], ignore_index=True)
    fits = estimate_groups(both, spec, ["wave"], scales, n_boot=100, seed=1, workers=1)
    ch = wave_change(fits[("w1",)], fits[("w2",)]).set_index("construct")
    np.testing.assert_allclose(ch["change"], 10.0, atol=1e-9)      # +1 on 0–10 = +10 points, weights unchanged
    assert ch["significant"].all() and (ch["verdict_zh"] == "显著").all()


def _has_bootstrap():
    try:
        import csi.bootstrap  # noqa: F401
        return True
    except ImportError:
        return False


def test_fit_cache_lru_disk_and_corrupt_files(tmp_path):
    from csi.runtime.cache import cache_key
    k1, k2 = cache_key(a=1, b=[1, 2]), cache_key(b=[1, 2], a=1)
    assert k1 == k2 and k1 != cache_key(a=1, b=[2, 1])
    c = FitCache(tmp_path, max_items=2)
    for i in range(3):
        c.put(f"k{i}", {"i": i})
    assert len(c) == 2 and c.get("k0") == {"i": 0}                # evicted from memory, back from disk
    (tmp_path / "bad.pkl").write_bytes(b"not a pickle")
    assert c.get("bad") is None and c.misses == 1                # a corrupt file is a miss, not an error
    assert FitCache(None).get("k1") is None


def test_boot_progress_reports_resamples_and_stays_out_of_the_cache_key(ecsi):
    d, spec, scales = ecsi
    seen: list[tuple[int, int]] = []
    cache = FitCache()
    first = estimate_groups(d, spec, ["gender"], scales, n_boot=40, seed=3, workers=1, cache=cache,
                            boot_options={"chunk_size": 10}, boot_progress=lambda done, n: seen.append((done, n)))
    assert seen and seen[-1] == (40, 40) and len({n for _, n in seen}) == 1 and len(seen) >= 8  # 4 chunks × 2 groups
    seen.clear()
    again = estimate_groups(d, spec, ["gender"], scales, n_boot=40, seed=3, workers=1, cache=cache,
                            boot_options={"chunk_size": 25}, boot_progress=lambda done, n: seen.append((done, n)))
    assert not seen  # served from the cache: chunking and progress do not change the draws
    for key in first:
        np.testing.assert_array_equal(first[key].boot.draws["paths"].to_numpy(), again[key].boot.draws["paths"].to_numpy())


def test_code_fingerprint_covers_every_module_of_the_package(tmp_path):
    """An edit anywhere in csi/ (here the quality criteria, which the first release's list left out) changes
    the fit-cache key, so a stale fit is never served."""
    import shutil

    src = Path(__file__).resolve().parents[1] / "csi"
    code = "from csi.runtime.cache import code_fingerprint; print(code_fingerprint())"

    def fp(root):
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root,
                           env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"})
        assert r.returncode == 0, r.stderr
        return r.stdout.strip()

    shutil.copytree(src, tmp_path / "a" / "csi", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(src, tmp_path / "b" / "csi", ignore=shutil.ignore_patterns("__pycache__"))
    f = tmp_path / "b" / "csi" / "evaluate" / "assess.py"
    f.write_text(f.read_text(encoding="utf-8") + "\n# an edit\n", encoding="utf-8")
    assert fp(tmp_path / "a") == fp(tmp_path / "a")
    assert fp(tmp_path / "a") != fp(tmp_path / "b")


def test_fit_cache_folder_is_capped(tmp_path):
    big = np.zeros(20_000)  # ~160 kB pickled
    c = FitCache(tmp_path, max_items=2, max_files=3)
    for i in range(6):
        c.put(f"k{i}", {"i": i})
    assert sorted(p.stem for p in tmp_path.glob("*.pkl")) == ["k3", "k4", "k5"]
    d = FitCache(tmp_path / "bytes", max_bytes=400_000)
    for i in range(5):
        d.put(f"b{i}", big + i)
    files = list((tmp_path / "bytes").glob("*.pkl"))
    assert sum(p.stat().st_size for p in files) <= 400_000 and len(files) == 2
    assert d.get("b4") is not None and float(d.get("b4")[0]) == 4.0
