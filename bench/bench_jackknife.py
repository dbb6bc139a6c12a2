"""Benchmark: the whole ``python -m csi fit --ci bca`` process at large n (peak memory of the jackknife).

Target: ``python -m csi fit --data <csv> --model ccsi --bootstrap 200 --ci bca --out <dir>`` on
40,000 respondents stays under 1.5 GB peak RSS for the whole process (the BCa jackknife's n
leave-one-out fits used to hold an n × n weight matrix: 2.6 GB at 16,000 respondents).

The data are one seeded demo cell (``csi.data.demo``'s generator: Skyline Mobile, first wave; known
truth) of n respondents, "don't know" codes (99) blanked, written to a temporary CSV. Each run is a
fresh process; wall time is measured around it and peak RSS is the child's ``ru_maxrss`` (Linux:
kilobytes), read with ``resource.getrusage(RUSAGE_CHILDREN)`` from a one-run wrapper process so
that the runs do not mask each other. Prints the median of ``--runs`` runs per n. No assertions:
figures only.

    python bench/bench_jackknife.py [--runs 3] [--n 16000 40000] [--bootstrap 200] [--ci bca]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from csi.data import demo  # noqa: E402

# one run of a command in a wrapper process: its wall time and its child's peak RSS, as JSON
_WRAPPER = """
import json, resource, subprocess, sys, time
t = time.perf_counter()
rc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode
wall = time.perf_counter() - t
print(json.dumps({"rc": rc, "wall": wall, "maxrss_kb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))
"""


def write_data(n: int, path: Path, seed: int = 20240601) -> None:
    """n respondents of one demo cell (seeded), 99 ("don't know") blanked, as a CSV."""
    frame = demo._draw_cell(np.random.default_rng(seed), demo.OWN_BRAND, demo.WAVES[0], n)
    items = [c for c in frame.columns if c in demo.ITEMS]
    frame[items] = frame[items].mask(frame[items] == 99)
    frame.insert(0, "respondent_id", [f"R{i:06d}" for i in range(1, n + 1)])
    demo.as_text(frame).to_csv(path, index=False)


def one_run(cmd: list[str], env: dict) -> dict:
    out = subprocess.run([sys.executable, "-c", _WRAPPER, *cmd], env=env, check=True, capture_output=True, text=True)
    res = json.loads(out.stdout.strip().splitlines()[-1])
    if res["rc"] != 0:
        raise SystemExit(f"command failed ({res['rc']}): {' '.join(cmd)}")
    return res


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--n", type=int, nargs="+", default=[16000, 40000])
    ap.add_argument("--bootstrap", type=int, default=200)
    ap.add_argument("--ci", default="bca", choices=["bca", "percentile"])
    ap.add_argument("--model", default="ccsi")
    a = ap.parse_args()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory(prefix="bench_jk_") as tmp:
        for n in a.n:
            csv = Path(tmp) / f"survey_{n}.csv"
            write_data(n, csv)
            cmd = [sys.executable, "-m", "csi", "fit", "--data", str(csv), "--model", a.model,
                   "--bootstrap", str(a.bootstrap), "--ci", a.ci, "--out", str(Path(tmp) / f"out_{n}")]
            runs = [one_run(cmd, env) for _ in range(a.runs)]
            wall = statistics.median(r["wall"] for r in runs)
            rss = statistics.median(r["maxrss_kb"] for r in runs) / 1024
            print(f"n={n:6d} fit --bootstrap {a.bootstrap} --ci {a.ci}: median wall {wall:6.2f} s, "
                  f"median peak RSS {rss:7.0f} MB  (runs: "
                  + ", ".join(f"{r['wall']:.2f} s / {r['maxrss_kb'] / 1024:.0f} MB" for r in runs) + ")")


if __name__ == "__main__":
    main()
