"""Benchmark: 5,000 bootstrap resamples of the ECSI model (250 × 27, path scheme).

Target: ≤ 2 s wall on a 2-core machine. Prints the median of ≥ 5 runs of
  (a) the call ``bootstrap_pls(...)`` in this process (jackknife off and on),
  (b) the whole process ``python -c 'bootstrap_pls(...)'`` (imports included),
and, if the ``plspm`` package (0.5.7) is importable, its time on a smaller B with the ratio per resample.
No assertions: figures only.

    python bench/bench_bootstrap.py [--runs 5] [--n-boot 5000] [--plspm-boot 100]
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import pandas as pd  # noqa: E402

from csi.engine.bootstrap import bootstrap_pls  # noqa: E402
from csi.model.templates import template  # noqa: E402

DATA = ROOT / "data" / "ecsi_satisfaction.csv"


def median_time(fn, runs: int) -> tuple[float, list[float]]:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), times


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--n-boot", type=int, default=5000)
    ap.add_argument("--plspm-boot", type=int, default=100)
    a = ap.parse_args()
    df = pd.read_csv(DATA, index_col=0)
    spec = template("ecsi")
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}")
    bootstrap_pls(df, spec, n_boot=50, seed=0)          # warm-up (imports, BLAS init)

    for jk in (False, True):
        med, ts = median_time(lambda: bootstrap_pls(df, spec, n_boot=a.n_boot, seed=1, jackknife=jk), a.runs)
        print(f"call  bootstrap_pls B={a.n_boot} jackknife={jk!s:5}: median {med:.3f} s  "
              f"(runs {', '.join(f'{t:.2f}' for t in ts)})")
    for threads in (1,):
        med, _ = median_time(lambda: bootstrap_pls(df, spec, n_boot=a.n_boot, seed=1, jackknife=False,
                                                   threads=threads), a.runs)
        print(f"call  bootstrap_pls B={a.n_boot} threads={threads}: median {med:.3f} s")

    code = ("import pandas as pd; from csi.engine.bootstrap import bootstrap_pls; from csi.model.templates import template; "
            f"bootstrap_pls(pd.read_csv({str(DATA)!r}, index_col=0), template('ecsi'), n_boot={a.n_boot}, seed=1)")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    med, ts = median_time(lambda: subprocess.run([sys.executable, "-c", code], env=env, check=True), a.runs)
    print(f"process python -c bootstrap_pls(B={a.n_boot}): median {med:.3f} s  "
          f"(runs {', '.join(f'{t:.2f}' for t in ts)})")

    try:
        import plspm.config as c
        from plspm.mode import Mode
        from plspm.plspm import Plspm
        from plspm.scheme import Scheme
    except Exception as e:  # noqa: BLE001 - any import problem means "not available"
        print(f"plspm not importable ({type(e).__name__}); no ratio")
        return
    order = list(spec.constructs)
    path = pd.DataFrame(0, index=order, columns=order)
    for f, t in spec.paths:
        path.loc[t, f] = 1
    cfg = c.Config(path, scaled=False)
    for lv in order:
        cfg.add_lv(lv, Mode.A, *[c.MV(m) for m in spec.blocks[lv]])
    x = df[list(spec.indicators)].astype(float)
    x = (x - x.mean()) / x.std()
    t = time.perf_counter()
    Plspm(x, cfg, Scheme.PATH, bootstrap=True, bootstrap_iterations=a.plspm_boot, processes=2)
    tp = time.perf_counter() - t
    ours, _ = median_time(lambda: bootstrap_pls(df, spec, n_boot=a.plspm_boot, seed=1, jackknife=False), 3)
    print(f"plspm 0.5.7 B={a.plspm_boot}: {tp:.2f} s ({tp / a.plspm_boot * 1000:.1f} ms/resample, "
          f"≈ {tp / a.plspm_boot * 5000 / 60:.1f} min for 5,000); csi B={a.plspm_boot}: {ours:.3f} s; "
          f"per-resample ratio ≈ {tp / ours:.0f}×")


if __name__ == "__main__":
    main()
