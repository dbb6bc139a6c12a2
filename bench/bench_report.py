"""Throughput of the group fits behind the report: every wave × brand × region of the demo database.

    python bench/bench_report.py [--db PATH] [--boot 1000] [--repeat 3]

Builds the demo database in a temporary folder when ``--db`` is not given, then fits the China-CSI
model independently in every wave × brand × region group (6 × 2 × 4 = 48 models) with ``--boot``
bootstrap resamples each, and prints the median wall time of ``--repeat`` runs for the 2-process
pool (``workers=2``, the product's setting) and for one process (``workers=1``; the bootstrap then
uses its own 2 chunk threads). No cache: every run fits everything. Also times the whole
``python -m csi report`` command once. Target: < 60 s for ≥ 32 models × 1,000 resamples.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", type=Path, default=None)
    ap.add_argument("--boot", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--report", action=argparse.BooleanOptionalAction, default=True)
    args = ap.parse_args()

    from csi.data import store
    from csi.compare.groups import estimate_groups
    from csi.model.templates import template

    tmp = tempfile.TemporaryDirectory()
    db = args.db
    if db is None:
        from csi.data.demo import build_demo_database
        db = Path(tmp.name) / "demo.duckdb"
        t = time.perf_counter()
        build_demo_database(db)
        print(f"demo database built in {time.perf_counter() - t:.1f} s")
    con = store.connect(db, read_only=True)
    frame = store.load_responses(con)
    scales = store.wave_scales(con)
    con.close()
    kinds_rating = [c for c in frame.columns if c.rstrip("0123456789") in ("imag", "expe", "qual", "val", "sat", "loy")]
    spec = template("ccsi", kinds_rating)
    by = ["wave", "brand", "region"]
    n_groups = frame.groupby(by, observed=True).ngroups
    print(f"{len(frame)} respondents, {n_groups} groups ({' × '.join(by)}), "
          f"{len(spec.indicators)} indicators, {args.boot} resamples per group, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")

    for workers in (2, 1):
        times = []
        for r in range(args.repeat):
            t = time.perf_counter()
            fits = estimate_groups(frame, spec, by, scales, n_boot=args.boot, seed=r + 1, workers=workers)
            times.append(time.perf_counter() - t)
            bad = [k for k, f in fits.items() if not f.ok]
            assert not bad, f"groups not fitted: {bad}"
            assert all(f.boot.n_kept >= 0.99 * args.boot for f in fits.values())
        print(f"workers={workers}: median {statistics.median(times):.2f} s over {args.repeat} runs "
              f"({', '.join(f'{x:.2f}' for x in times)}); {len(fits)} models, "
              f"{statistics.median(times) / len(fits) * 1000:.0f} ms per model")

    if args.report:
        out = Path(tmp.name) / "report"
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "csi", "report", "--db", str(db), "--bootstrap", str(args.boot),
                        "--out", str(out)], check=True, cwd=ROOT, capture_output=True)
        print(f"python -m csi report --bootstrap {args.boot} (waves, brands and segments of the demo, MGA, classic): "
              f"{time.perf_counter() - t:.2f} s wall, whole process")
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
