"""CPU time of one dashboard script run (AppTest), per page and for a cached filter change.

    python bench/bench_app_runs.py [--db STORE] [--runs 5] [--profile 25] [--pages overview,drivers]

The figure that decides how many sessions one server process can serve: Streamlit runs every session's
script in one process under the GIL, so a server does at most ~1 / (CPU s per run) runs per second.
CPU time of the script thread (``time.thread_time``) is measured, not wall-clock time, so the figures hold on a
busy box; each figure is the median of ``--runs`` runs once the caches are warm (first runs and the
background bootstraps finished before measuring, so the cached runs show intervals, as a viewer's do).
``--profile N`` prints the top N functions (cumulative time) of the cached runs of each scenario.

The store is ``--db`` (copied to a temporary folder) or a fresh ``python -m csi demo`` store (the one
bench/bench_load.py serves). Loopback only, nothing is written outside the temporary folder.
"""
from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

PAGES = ("overview", "model", "drivers", "compare", "classic", "industry", "data", "downloads")


class ScriptClock:
    """CPU seconds and an optional cProfile of the AppTest script thread (the thread Streamlit runs a script on)."""

    def __init__(self):
        self.cpu: list[float] = []
        self.profile: cProfile.Profile | None = None

    def install(self):
        from streamlit.testing.v1 import local_script_runner as lsr

        clock, original = self, lsr.LocalScriptRunner._run_script_thread

        def timed(runner):
            prof = clock.profile
            t0 = time.thread_time()
            if prof is not None:
                prof.enable()
            try:
                return original(runner)
            finally:
                if prof is not None:
                    prof.disable()
                clock.cpu.append(time.thread_time() - t0)

        lsr.LocalScriptRunner._run_script_thread = timed
        # AppTest gives every run a new ScriptCache (the page scripts are compiled again each run); a server has
        # one per process, so the scripts are compiled once: share one here too
        from streamlit.testing.v1 import app_test

        shared = lsr.ScriptCache()
        lsr.ScriptCache = app_test.ScriptCache = lambda: shared
        return original

    def last(self) -> float:
        return self.cpu[-1]


def _wait_jobs():
    from app import state

    reg = state.jobs()
    for key in list(reg._jobs):
        reg.wait(key, 600)


def _settle(at, page: str | None):
    """Run until the background bootstraps of this selection are done and the page shows them."""
    for _ in range(3):
        at.run()
        _wait_jobs()
    assert not at.exception, [e.message for e in at.exception]


def measure(at, clock: ScriptClock, runs: int, step, prof_top: int, name: str, callers: str = "") -> float:
    """Median CPU seconds of ``runs`` calls of ``step`` (each one script run); prints a profile when asked."""
    clock.profile = cProfile.Profile() if prof_top else None
    xs = []
    for _ in range(runs):
        step()
        xs.append(clock.last())
    assert not at.exception, [e.message for e in at.exception]
    med = statistics.median(xs)
    print(f"{name}: median {med:.3f} s CPU (runs: {', '.join(f'{x:.3f}' for x in xs)})", flush=True)
    if prof_top and clock.profile is not None:
        out = io.StringIO()
        stats = pstats.Stats(clock.profile, stream=out)
        stats.sort_stats("cumulative").print_stats(prof_top)
        if callers:
            stats.print_callers(callers)
        print("\n".join(out.getvalue().splitlines()[6:]), flush=True)
        clock.profile = None
    return med


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--db", type=Path, default=None, help="a store to copy (default: a fresh demo store)")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--profile", type=int, default=0, help="print the top N functions of each scenario")
    ap.add_argument("--pages", default="overview,filter," + ",".join(p for p in PAGES if p != "overview"),
                    help="comma-separated scenarios: page names and 'filter' (a cached Region change)")
    ap.add_argument("--callers", default="", help="with --profile: also print the callers of functions matching this")
    ap.add_argument("--root", type=Path, default=None,
                    help="run the app of this folder (e.g. a `git archive` copy of an older commit, for before/after)")
    ap.add_argument("--bootstrap", type=int, default=None, help="CSI_APP_BOOTSTRAP (default: the app's)")
    args = ap.parse_args(argv)
    global ROOT
    if args.root is not None:
        ROOT = args.root.resolve()
        sys.path.insert(0, str(ROOT))

    tmp = Path(tempfile.mkdtemp(prefix="csi-bench-runs-"))
    try:
        db = tmp / "csi.duckdb"
        if args.db is not None:
            shutil.copy(args.db, db)
        else:
            env = {k: v for k, v in os.environ.items() if not k.startswith("CSI_")}
            subprocess.run([sys.executable, "-m", "csi", "demo", "--db", str(db)], cwd=ROOT, env=env,
                           check=True, capture_output=True, timeout=600)
        for k in [k for k in os.environ if k.startswith("CSI_")]:
            del os.environ[k]
        os.environ.update({"CSI_DB": str(db), "CSI_CACHE_DIR": str(tmp / "cache")})
        if args.bootstrap is not None:
            os.environ["CSI_APP_BOOTSTRAP"] = str(args.bootstrap)
        os.chdir(ROOT)
        from streamlit.testing.v1 import AppTest

        clock = ScriptClock()
        clock.install()
        wanted = [s.strip() for s in args.pages.split(",") if s.strip()]
        print(f"store {db.name}; {args.runs} cached runs per scenario; load average {os.getloadavg()[0]:.1f}",
              flush=True)
        results = {}
        at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=600)
        t0 = time.thread_time()
        at.run()
        print(f"first overview run: {clock.last():.3f} s CPU", flush=True)
        _settle(at, None)
        region = None
        for name in wanted:
            if name == "filter":
                box = at.sidebar.multiselect(key="f_region")
                region = region or box.options[0]
                for value in ([region], []):  # both selections computed (and bootstrapped) once
                    at.sidebar.multiselect(key="f_region").set_value(value)
                    _settle(at, None)
                state = {"v": []}

                def flip():
                    state["v"] = [] if state["v"] else [region]
                    at.sidebar.multiselect(key="f_region").set_value(state["v"]).run()
                results[name] = measure(at, clock, args.runs, flip, args.profile, "cached filter change", args.callers)
                at.sidebar.multiselect(key="f_region").set_value([]).run()
                continue
            if name not in PAGES:
                print(f"unknown scenario {name!r}", file=sys.stderr)
                continue
            if name != "overview":
                at.switch_page(f"app_pages/{name}.py")
            _settle(at, name)
            results[name] = measure(at, clock, args.runs, at.run, args.profile, f"cached {name} run", args.callers)
        print("summary (median CPU s per cached run): "
              + "; ".join(f"{k} {v:.3f}" for k, v in results.items()), flush=True)
        del t0
        return 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
