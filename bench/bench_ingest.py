"""Whole-process ingest benchmark: a 1,000,000-respondent CSV with 30 rating items.

    python bench/bench_ingest.py [--rows 1000000] [--runs 3]

Writes the CSV once (bench/out/), then runs `python -m csi ingest` in a fresh database several times and
prints wall time and peak resident memory (max RSS of the child process) for each run, and the median.
Targets from the issue: under 20 s and under 2 GB.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
ITEMS = ([f"imag{i}" for i in range(1, 5)] + [f"expe{i}" for i in range(1, 4)] + [f"qual{i}" for i in range(1, 7)]
         + [f"val{i}" for i in range(1, 4)] + [f"sat{i}" for i in range(1, 4)] + [f"loy{i}" for i in range(1, 4)]
         + ["imag5", "expe4", "expe5", "val4", "sat4", "loy4", "comp1", "comp2"])  # 30 distinct items


def make_csv(path: Path, n: int, seed: int = 7) -> None:
    rng = np.random.default_rng(seed)
    latent = rng.normal(size=n)
    cols = {"respondent_id": np.char.add("R", np.arange(n).astype(str)),
            "brand": rng.choice(["Skyline Mobile", "Horizon Telecom"], n),
            "region": rng.choice(["North", "East", "South", "West"], n),
            "channel": rng.choice(["Online", "Retail shop", "Hotline"], n)}
    for it in ITEMS:
        if it == "comp1":  # complained yes/no
            cols[it] = (rng.random(n) < 0.15).astype(int)
            continue
        lo = 0 if it == "loy3" else 1
        x = np.clip(np.rint(7.5 + 1.5 * (0.8 * latent + 0.6 * rng.normal(size=n))), lo, 10).astype(int)
        cols[it] = x
    df = pd.DataFrame(cols)
    df.loc[rng.random(n) < 0.01, "qual3"] = 99  # declared "don't know" code
    df.to_csv(path, index=False)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    csv_path = OUT / f"survey_{args.rows}.csv"
    if not csv_path.exists():
        t = time.perf_counter()
        make_csv(csv_path, args.rows)
        print(f"wrote {csv_path} ({csv_path.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - t:.1f} s")
    walls, rss = [], []
    for run in range(args.runs):
        db = OUT / f"bench_{run}.duckdb"
        for p in (db, Path(str(db) + ".wal")):
            p.unlink(missing_ok=True)
        t = time.perf_counter()
        pid = os.fork()
        if pid == 0:  # child: exec the real command line so RSS is measured for that process alone
            os.execv(sys.executable, [sys.executable, "-m", "csi", "ingest", str(csv_path), "--wave", "BIG",
                                      "--db", str(db)])
        _, status, usage = os.wait4(pid, 0)
        wall = time.perf_counter() - t
        assert os.waitstatus_to_exitcode(status) == 0, "ingest failed"
        walls.append(wall)
        rss.append(usage.ru_maxrss / 1024)  # KiB → MiB on Linux
        print(f"run {run + 1}: {wall:6.2f} s wall, peak RSS {rss[-1]:7.0f} MiB, db {db.stat().st_size / 1e6:.0f} MB")
        db.unlink(missing_ok=True)
    print(f"median of {args.runs}: {statistics.median(walls):.2f} s wall, peak RSS {statistics.median(rss):.0f} MiB "
          f"({args.rows:,} respondents x {len(ITEMS)} items)")


if __name__ == "__main__":
    main()
