"""Load test: N concurrent dashboard viewers while an analyst uploads a wave and a CLI ingest runs.

    python bench/bench_load.py [--viewers 20] [--duration 75] [--deadline 420] [--json OUT.json]

Everything runs on loopback and stops by itself:

1. a temporary demo store (``python -m csi demo --db TMP``) and two new survey files;
2. ``streamlit run streamlit_app.py`` on 127.0.0.1 (a free port) on that store, open mode (a temporary
   HOME and no ``CSI_*`` variables from the caller, so no secrets are read), ``CSI_APP_TIMING=1``; with
   ``--replicas N`` (> 1, or ``--proxy nginx``) N such servers on the same store behind a loopback nginx with
   the sticky routing of deploy/nginx.conf (a ``csi_sticky`` cookie hashed to a replica; a websocket viewer
   without cookies lands on a random replica, a browser stays on its replica for its page, websocket and
   uploads), so the viewers are spread over the replicas;
3. one warm-up visit in chromium (its time is printed as "cold"; with replicas one more per replica, directly),
   then ``--viewers`` viewers arriving
   ``--stagger`` s apart (0.5) and pausing ``--think`` s (2) between steps: real Streamlit websocket
   sessions (``--clients ws``, the default: the frontend's protocol, BackMsg/ForwardMsg, no rendering)
   or chromium contexts (``--clients browser``; on 2 cores 20 renderers starve the server). Each opens
   the overview (first page time), then loops until ``--duration`` is over: add a Region filter (filter
   time, "new"), open Drivers, back to Overview (page times), remove the filter, add and remove it
   again (filter times, "cached": selections this session computed before);
4. meanwhile an analyst context commits an upload (wave 2026Q1) on the Data page, and
   ``python -m csi ingest`` stores another file (wave 2026Q2) into the same store;
5. afterwards every viewer reruns its page until its sidebar lists both new waves (at most
   ``--see-timeout`` s), and the store is checked: both new waves whole, the demo waves unchanged.

It prints errors (page exceptions, Streamlit error boxes, time-outs, the upload's and the CLI's
outcome, tracebacks in the server log), p50/p95 of page and filter times (client side: from the click
until the run ended and the page shows its content) and the server's own run times, and whether every
viewer saw the new waves. Targets (issue 9): 0 errors, 0 lost or partial waves, 0 lost uploads, p95 page
time <= 3 s, cached filter change <= 1 s. With 2 cores the browser's rendering of 20 pages competes with
the server for the CPU: the client-side figures include that. ``--deadline`` is a hard limit: when it
passes, the server's process group is killed and the bench exits 3. Exit code: 0 when every target was
met, 1 otherwise, 2 when the bench could not run (no playwright or chromium).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # python bench/bench_load.py: the repo is the import root
    sys.path.insert(0, str(ROOT))
UP_WAVE, CLI_WAVE = "2026Q1", "2026Q2"  # later than the demo's waves, so they join every viewer's selection
REGION_LABEL = "Region"
STEP_TIMEOUT = 90.0  # seconds one page load, click or filter change may take before it counts as an error


@dataclass
class Results:
    page: list[float] = field(default_factory=list)          # overview / drivers page times (s)
    first_page: list[float] = field(default_factory=list)    # a viewer's first overview (new session)
    filter_new: list[float] = field(default_factory=list)
    filter_cached: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    upload: dict = field(default_factory=dict)
    cli: dict = field(default_factory=dict)
    saw_new_waves: dict = field(default_factory=dict)         # viewer -> seconds until seen, or None
    cold: float | None = None
    server_runs: list[float] = field(default_factory=list)
    server_by_page: dict = field(default_factory=dict)
    server_tracebacks: int = 0
    store_check: dict = field(default_factory=dict)
    loops: int = 0
    replicas: int = 1
    server_warnings: list = field(default_factory=list)  # WARNING lines of the servers' logs
    server_mem: list = field(default_factory=list)  # per replica: (RSS, peak RSS) MiB of the server process
    server_cpu: list = field(default_factory=list)  # per replica: (server CPU s, job workers' CPU s) of the load
    memo: list = field(default_factory=list)
    samples: list = field(default_factory=list)     # (monotonic end time, seconds, step) of every timed step
    events: dict = field(default_factory=dict)      # "load start", "upload stored", "cli stored" -> monotonic time   # per replica: "tables h/m/w views h/m/w" after its last run
    per_replica: list = field(default_factory=list)        # script runs each replica served
    load: tuple = ("?", "?")  # the machine's 1-minute load average before and after the load phase

    def error(self, who: str, what: str) -> None:
        self.errors.append(f"{who}: {what[:300]}")


def pct(xs: list[float], q: float) -> float | None:
    """The q-quantile (linear interpolation, numpy's default) of ``xs``; None when empty."""
    if not xs:
        return None
    s = sorted(xs)
    pos = (len(s) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def _fmt(xs: list[float]) -> str:
    if not xs:
        return "no samples"
    return (f"n={len(xs)}, p50 {pct(xs, 0.5):.2f} s, p95 {pct(xs, 0.95):.2f} s, max {max(xs):.2f} s, "
            f"median {statistics.median(xs):.2f} s")


# ---------------------------------------------------------------------------- setup
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _clean_env(tmp: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CSI_")}
    env.update({"HOME": str(tmp / "home"), "PYTHONPATH": str(ROOT)})
    return env


def make_files(tmp: Path) -> dict[str, tuple[Path, int]]:
    """The analyst's upload and the CLI's file: demo-like respondents with fresh ids."""
    from csi.data import demo

    gen = demo.generate(20260101)
    out = {}
    for wave, n, prefix in ((UP_WAVE, 1200, "UP"), (CLI_WAVE, 1500, "CLI")):
        df = gen.waves["2025Q4"].sample(n=n, random_state=7 if prefix == "UP" else 8).copy()
        df["respondent_id"] = [f"{prefix}-{i:05d}" for i in range(len(df))]
        path = tmp / f"bench_{wave}.csv"
        df.astype(object).where(df.notna(), "").astype(str).to_csv(path, index=False)
        out[wave] = (path, n)
    return out


def wave_counts(db: Path) -> dict[str, int]:
    from csi.cli.inbox import wave_sizes

    return wave_sizes(db)


def start_server(tmp: Path, db: Path, port: int, log_path: Path) -> subprocess.Popen:
    env = _clean_env(tmp)
    env.update({"CSI_DB": str(db), "CSI_CACHE_DIR": str(tmp / "cache"), "CSI_APP_TIMING": "1"})
    log = open(log_path, "w")
    return subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.headless", "true",
         "--server.port", str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false",
         "--server.fileWatcherType", "none"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds the process itself has used so far (/proc/PID/stat; its children not counted:
    the job-lane workers' bootstraps are reported apart)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


def peak_rss_mib(pid: int) -> tuple[float, float]:
    """(resident, peak resident) MiB of the process itself (/proc/PID/status VmRSS, VmHWM)."""
    out = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(("VmRSS:", "VmHWM:")):
                out[line[:5]] = int(line.split()[1]) / 1024
    except OSError:
        pass
    return out.get("VmRSS", float("nan")), out.get("VmHWM", float("nan"))


def children_cpu_seconds(pid: int) -> float:
    """CPU seconds of the process's living child processes (the job-lane workers)."""
    total = 0.0
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            kids = (task / "children").read_text().split()
        except OSError:
            continue
        total += sum(cpu_seconds(int(k)) for k in kids)
    return total


def wait_healthy(url: str, proc: subprocess.Popen, timeout: float) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError("the streamlit server exited")
        try:
            if urllib.request.urlopen(url + "/_stcore/health", timeout=1).read() == b"ok":
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("the streamlit server did not become healthy")


def stop_server(proc: subprocess.Popen | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)  # the server's own process group only
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)
    except ProcessLookupError:
        pass


NGINX_CONF = """# written by bench/bench_load.py: loopback only, the sticky routing of deploy/nginx.conf, no TLS
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx_error.log warn;
daemon off;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    # no temp files: nginx's workers run as another user than a root master and could not write into the bench's
    # private folder (a 5 MB script chunk was cut off); loopback only, so request and response stay in memory
    proxy_max_temp_file_size 0;
    client_body_buffer_size 210m;
    client_body_temp_path {tmp}/nginx_body;
    proxy_temp_path {tmp}/nginx_proxy;
    fastcgi_temp_path {tmp}/nginx_fastcgi;
    uwsgi_temp_path {tmp}/nginx_uwsgi;
    scgi_temp_path {tmp}/nginx_scgi;
    map $http_upgrade $connection_upgrade {{ default upgrade; '' close; }}
    map $cookie_csi_sticky $csi_sticky {{ "" $request_id; default $cookie_csi_sticky; }}
    upstream csi_streamlit {{
        hash $csi_sticky consistent;
{servers}
    }}
    server {{
        listen 127.0.0.1:{port};
        client_max_body_size 200m;
        add_header Set-Cookie "csi_sticky=$csi_sticky; Path=/; HttpOnly; SameSite=Lax" always;
        proxy_http_version 1.1;
        proxy_set_header Host $host;
        location / {{ proxy_pass http://csi_streamlit; }}
        location /_stcore/stream {{
            proxy_pass http://csi_streamlit;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_buffering off;
            proxy_read_timeout 3600s;
        }}
    }}
}}
"""


def nginx_binary() -> str | None:
    return shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if Path(p).exists()), None)


def start_proxy(tmp: Path, ports: list[int], port: int) -> subprocess.Popen:
    """nginx on 127.0.0.1:``port`` in front of the replicas (its own process group; stopped like a server)."""
    conf = tmp / "nginx.conf"
    conf.write_text(NGINX_CONF.format(tmp=tmp, port=port,
                                      servers="\n".join(f"        server 127.0.0.1:{p};" for p in ports)))
    log = open(tmp / "nginx.log", "w")
    return subprocess.Popen([nginx_binary(), "-p", f"{tmp}/", "-c", str(conf), "-e", str(tmp / "nginx_error.log")],
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


# ---------------------------------------------------------------------------- page helpers
RUN_STATE = '[data-testid="stApp"]'


async def _run_finished(page, started_timeout: float = 3.0, timeout: float = STEP_TIMEOUT) -> None:
    """Wait for the script run a click started: it shows 'running' (briefly) and then 'notRunning'."""
    try:
        await page.wait_for_function(
            f"() => {{ const a = document.querySelector('{RUN_STATE}'); "
            "return a && a.getAttribute('data-test-script-state') !== 'notRunning'; }",
            timeout=started_timeout * 1000, polling=50)
    except Exception:  # noqa: BLE001 - the run may already be over (a cached page is fast)
        pass
    await page.wait_for_function(
        f"() => {{ const a = document.querySelector('{RUN_STATE}'); "
        "return a && a.getAttribute('data-test-script-state') === 'notRunning'; }",
        timeout=timeout * 1000, polling=50)


async def _problems(page) -> list[str]:
    """Visible failures on the page: exceptions, error boxes, Streamlit's crash screen."""
    found = []
    for sel in ('[data-testid="stException"]', '[data-testid="stAlertContentError"]'):
        loc = page.locator(sel)
        for i in range(await loc.count()):
            try:
                found.append((await loc.nth(i).inner_text(timeout=2000)).strip().splitlines()[0][:200])
            except Exception:  # noqa: BLE001 - gone meanwhile
                pass
    try:
        body = await page.inner_text("body", timeout=5000)
    except Exception:  # noqa: BLE001
        body = ""
    if "This app has encountered an error" in body:
        found.append("This app has encountered an error")
    return found


async def _overview_shown(page, timeout: float = STEP_TIMEOUT) -> None:
    await page.locator('[data-testid="stMetricValue"]').first.wait_for(timeout=timeout * 1000)
    await page.locator(".js-plotly-plot").first.wait_for(timeout=timeout * 1000)


async def open_overview(page, url: str) -> float:
    t0 = time.perf_counter()
    await page.goto(url, wait_until="domcontentloaded")
    await _overview_shown(page)
    return time.perf_counter() - t0


def nav_link(page, name: str):
    """The top navigation's link to the page titled ``name`` (its accessible name also holds the icon's)."""
    return page.locator('a[data-testid="stTopNavLink"]').filter(has=page.locator(f'span[label="{name}"]')).first


async def click_page(page, name: str, ready_selector: str) -> float:
    t0 = time.perf_counter()
    await nav_link(page, name).click()
    await _run_finished(page)
    await page.locator(ready_selector).first.wait_for(timeout=STEP_TIMEOUT * 1000)
    return time.perf_counter() - t0


async def change_region(page, value: str | None) -> float:
    """Add ``value`` to the Region filter, or (None) remove the last chosen region; time until the run ends."""
    box = page.get_by_label(REGION_LABEL).first
    await box.click()
    t0 = time.perf_counter()
    if value is None:
        await box.press("Backspace")
    else:
        await box.fill(value)
        await box.press("Enter")
    await box.press("Escape")
    await _run_finished(page)
    await _overview_shown(page)
    return time.perf_counter() - t0


async def sees_waves(page, waves: tuple[str, ...], timeout: float) -> float | None:
    """Seconds until the sidebar lists every wave of ``waves`` (rerunning the page now and then)."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        try:
            await nav_link(page, "Overview").click()
            await _run_finished(page, timeout=60)
            side = await page.locator('[data-testid="stSidebar"]').inner_text(timeout=10_000)
            if all(w in side for w in waves):
                return time.perf_counter() - t0
        except Exception:  # noqa: BLE001 - a slow run: try again until the timeout
            pass
        await asyncio.sleep(2.0)
    return None


# ---------------------------------------------------------------------------- websocket viewers
class WsViewer:
    """A real Streamlit session without a browser: the websocket protocol the frontend speaks
    (``BackMsg.rerun_script`` with the widget states; ``ForwardMsg`` deltas until ``script_finished``).
    Page and filter times are from the request until the run finished (the server's work and the
    transfer, no rendering), so 20 of them do not compete with the server for the CPU as 20 browsers do."""

    def __init__(self, url: str, who: str, res: Results):
        self.url, self.who, self.res = url, who, res
        self.ws = None
        self.pages: dict[str, str] = {}      # url path -> page_script_hash
        self.page_hash = ""
        self.widgets: dict[str, object] = {}  # label -> multiselect element of the last run
        self.states: dict[str, object] = {}   # widget id -> WidgetState to send
        self.metrics: list[str] = []

    async def connect(self) -> None:
        import websockets

        ws_url = self.url.replace("http://", "ws://") + "/_stcore/stream"
        self.ws = await websockets.connect(ws_url, subprotocols=["streamlit"], max_size=None,
                                           origin=self.url, open_timeout=STEP_TIMEOUT, ping_interval=None)

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()

    async def run(self, page: str | None = None, region: list[str] | None = None) -> tuple[float, list[str]]:
        """One script run (optionally on ``page``, with the Region filter set to ``region``); returns its
        time and the problems it showed (exceptions, error boxes)."""
        from streamlit.proto.BackMsg_pb2 import BackMsg
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        if page is not None:
            self.page_hash = self.pages.get(page, self.page_hash)
        if region is not None and REGION_LABEL in self.widgets:
            from streamlit.proto.WidgetStates_pb2 import WidgetState

            wid = self.widgets[REGION_LABEL].id
            st_ = WidgetState(id=wid)
            st_.string_array_value.data.extend(region)
            self.states[wid] = st_
        msg = BackMsg()
        cs = msg.rerun_script
        cs.query_string = ""
        cs.page_script_hash = self.page_hash
        cs.widget_states.widgets.extend(self.states.values())
        t0 = time.perf_counter()
        await self.ws.send(msg.SerializeToString())
        problems: list[str] = []
        widgets: dict[str, object] = {}
        metrics: list[str] = []
        deadline = time.monotonic() + STEP_TIMEOUT
        while True:
            raw = await asyncio.wait_for(self.ws.recv(), timeout=max(0.1, deadline - time.monotonic()))
            fm = ForwardMsg()
            fm.ParseFromString(raw)
            kind = fm.WhichOneof("type")
            if kind == "navigation":
                self.pages = {p.url_pathname or "overview": p.page_script_hash for p in fm.navigation.app_pages}
                self.page_hash = fm.navigation.page_script_hash or self.page_hash
            elif kind == "delta" and fm.delta.WhichOneof("type") == "new_element":
                el = fm.delta.new_element
                et = el.WhichOneof("type")
                if et == "multiselect":
                    widgets[el.multiselect.label] = el.multiselect
                elif et == "metric":
                    metrics.append(el.metric.body)
                elif et == "exception":
                    problems.append(f"exception: {el.exception.type}: {el.exception.message[:150]}")
                elif et == "alert" and el.alert.format == 1:  # ERROR
                    problems.append(el.alert.body.splitlines()[0][:200] if el.alert.body else "error box")
            elif kind == "script_finished":
                status = fm.script_finished
                if status == ForwardMsg.FINISHED_SUCCESSFULLY:
                    break
                if status == ForwardMsg.FINISHED_WITH_COMPILE_ERROR:
                    problems.append("script compile error")
                    break
                # FINISHED_EARLY_FOR_RERUN (st.rerun, switch_page) and fragment runs: keep reading
            elif kind == "page_not_found":
                problems.append("page not found")
        if widgets:
            self.widgets = widgets
        self.metrics = metrics  # the headline figures of this run (a filter changes them)
        return time.perf_counter() - t0, problems

    def options(self, label: str) -> list[str]:
        el = self.widgets.get(label)
        return list(el.options) if el is not None else []


async def ws_viewer(i: int, url: str, stop_at: float, regions: list[str], res: Results, sessions: list,
                    args) -> None:
    who = f"viewer {i}"
    await asyncio.sleep(args.stagger * i)
    v = WsViewer(url, who, res)
    step = "connect"
    try:
        await v.connect()
        sessions.append(v)
        step = "overview"
        t, probs = await v.run()
        res.first_page.append(t)
        for p in probs:
            res.error(who, f"{step}: {p}")
        region = regions[i % len(regions)]
        while time.monotonic() < stop_at:
            plan = [("filter (new)", res.filter_new, None, [region]),
                    ("drivers", res.page, "drivers", None),
                    ("overview (nav)", res.page, "overview", None),
                    ("filter (cached)", res.filter_cached, None, []),
                    ("filter (cached, again)", res.filter_cached, None, [region]),
                    ("filter (cached, again)", res.filter_cached, None, [])]
            for step, bucket, page, reg in plan:
                await asyncio.sleep(args.think)
                t, probs = await v.run(page=page, region=reg)
                bucket.append(t)
                res.samples.append((time.monotonic(), t, step))
                for p in probs:
                    res.error(who, f"{step}: {p}")
            res.loops += 1
    except Exception as e:  # noqa: BLE001 - a time-out or a dropped connection is an error of the run
        res.error(who, f"{step}: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")


async def ws_sees_waves(v: WsViewer, waves: tuple[str, ...], timeout: float) -> float | None:
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        try:
            await v.run(page="overview")
            if all(w in v.options("Waves") for w in waves):
                return time.perf_counter() - t0
        except Exception:  # noqa: BLE001
            pass
        await asyncio.sleep(2.0)
    return None


# ---------------------------------------------------------------------------- actors
async def new_page(browser, who: str, contexts: list, height: int = 900):
    ctx = await browser.new_context(viewport={"width": 1280, "height": height}, locale="en-US")
    ctx.set_default_timeout(STEP_TIMEOUT * 1000)
    ctx.set_default_navigation_timeout(STEP_TIMEOUT * 1000)
    contexts.append((who, ctx))
    return await ctx.new_page()


async def viewer(i: int, browser, url: str, stop_at: float, regions: list[str], res: Results,
                 contexts: list, args) -> None:
    who = f"viewer {i}"
    await asyncio.sleep(args.stagger * i)
    page = await new_page(browser, who, contexts)
    think = args.think

    async def pause():
        await asyncio.sleep(think)
    page.on("pageerror", lambda e: res.error(who, f"page error: {e}"))
    region = regions[i % len(regions)]
    first = True
    while time.monotonic() < stop_at:
        step = "overview"
        try:
            t = await open_overview(page, url)
            (res.first_page if first else res.page).append(t)
            first = False
            await pause()
            step = "filter (new)"
            res.filter_new.append(await change_region(page, region))
            await pause()
            step = "drivers"
            res.page.append(await click_page(page, "Drivers", ".js-plotly-plot, [data-testid='stDataFrame']"))
            await pause()
            step = "overview (nav)"
            res.page.append(await click_page(page, "Overview", '[data-testid="stMetricValue"]'))
            await pause()
            step = "filter (cached)"
            res.filter_cached.append(await change_region(page, None))
            res.loops += 1
            if time.monotonic() >= stop_at:
                break
            await pause()
            step = "filter (cached, again)"
            res.filter_cached.append(await change_region(page, region))  # computed by this session before
            await pause()
            res.filter_cached.append(await change_region(page, None))
            await pause()
        except Exception as e:  # noqa: BLE001 - a time-out or a vanished element is an error of the run
            res.error(who, f"{step}: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
        for p in await _problems(page):
            res.error(who, f"{step}: {p}")


async def analyst(browser, url: str, start_at: float, csv: Path, n: int, res: Results, contexts: list) -> None:
    who = "analyst"
    page = await new_page(browser, who, contexts, height=1400)
    page.on("pageerror", lambda e: res.error(who, f"page error: {e}"))
    res.upload = {"wave": UP_WAVE, "ok": False}
    t0 = time.perf_counter()
    try:
        await page.goto(url, wait_until="domcontentloaded")
        await _overview_shown(page)
        await asyncio.sleep(max(0.0, start_at - time.monotonic()))
        t0 = time.perf_counter()
        await nav_link(page, "Data").click()
        await page.get_by_text("Survey data").first.wait_for(timeout=STEP_TIMEOUT * 1000)
        await page.locator('input[type="file"]').first.set_input_files(str(csv))
        await page.get_by_text("No errors:", exact=False).first.wait_for(timeout=120_000)
        label = page.get_by_label("Label of the new wave")
        await label.fill(UP_WAVE)
        await label.press("Enter")
        await _run_finished(page)
        t_commit = time.perf_counter()
        await page.get_by_role("button", name="Commit as a new wave").click()
        await page.get_by_text(f"Wave {UP_WAVE} stored", exact=False).first.wait_for(timeout=120_000)
        res.upload.update(ok=True, seconds=time.perf_counter() - t0, commit_seconds=time.perf_counter() - t_commit)
        res.events["upload stored"] = time.monotonic()
    except Exception as e:  # noqa: BLE001
        res.upload.update(seconds=time.perf_counter() - t0, error=f"{type(e).__name__}: {str(e).splitlines()[0]}")
        res.error(who, f"upload: {res.upload['error']}")
    for p in await _problems(page):
        res.error(who, f"upload: {p}")
        res.upload.setdefault("messages", []).append(p)


async def cli_ingest(db: Path, csv: Path, start_at: float, env: dict, res: Results) -> None:
    await asyncio.sleep(max(0.0, start_at - time.monotonic()))
    t0 = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "csi", "ingest", str(csv), "--wave", CLI_WAVE, "--db", str(db),
        cwd=str(ROOT), env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout=180)
    except asyncio.TimeoutError:
        proc.kill()
        out, err = await proc.communicate()
    if proc.returncode == 0:
        res.events["cli stored"] = time.monotonic()
    res.cli = {"wave": CLI_WAVE, "rc": proc.returncode, "seconds": time.perf_counter() - t0,
               "stderr": err.decode(errors="replace").strip()[-400:]}
    if proc.returncode != 0:
        res.error("cli ingest", f"exit {proc.returncode}: {res.cli['stderr']}")


# ---------------------------------------------------------------------------- main
async def run_load(args, url: str, db: Path, files: dict, env: dict, res: Results,
                   replica_urls: list[str] = ()) -> None:
    from playwright.async_api import async_playwright

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=chromium, headless=True,
                                          args=["--headless", "--no-sandbox", "--disable-gpu",
                                                "--disable-background-networking", "--disable-dev-shm-usage"])
        contexts: list = []
        try:
            # warm-up: the first visit fills the server's caches (what a first user of the day pays)
            page = await new_page(browser, "warm-up", [])
            ctx = page.context
            res.cold = await open_overview(page, url)
            regions = []
            box = page.get_by_label(REGION_LABEL).first
            await box.click()
            for o in await page.get_by_role("option").all_inner_texts():
                if o.strip():
                    regions.append(o.strip())
            await box.press("Escape")
            await ctx.close()
            # with several replicas each gets its own warm-up visit (directly, not through the proxy, which chose
            # one of them for the visit above): caches are per process
            for other in (list(replica_urls) if len(replica_urls) > 1 else []):
                page = await new_page(browser, "warm-up", [])
                await open_overview(page, other)
                await page.context.close()
            if not regions:
                raise RuntimeError("no Region options on the overview")
            t_start = time.monotonic()
            stop_at = t_start + args.duration
            res.events["load start"] = t_start
            sessions: list[WsViewer] = []
            if args.clients == "ws":
                tasks = [asyncio.create_task(ws_viewer(i, url, stop_at, regions, res, sessions, args))
                         for i in range(args.viewers)]
            else:
                tasks = [asyncio.create_task(viewer(i, browser, url, stop_at, regions, res, contexts, args))
                         for i in range(args.viewers)]
            tasks.append(asyncio.create_task(analyst(browser, url, t_start + args.upload_at, files[UP_WAVE][0],
                                                     files[UP_WAVE][1], res, contexts)))
            tasks.append(asyncio.create_task(cli_ingest(db, files[CLI_WAVE][0], t_start + args.cli_at, env, res)))
            for outcome in await asyncio.gather(*tasks, return_exceptions=True):
                if isinstance(outcome, BaseException):
                    res.error("bench", f"an actor failed: {type(outcome).__name__}: {outcome}")
            # afterwards: does every viewer's open session list the new waves (no reload)?
            viewers = [(w, c) for w, c in dict(contexts).items() if w.startswith("viewer")]

            async def check(who, c):
                pages = c.pages
                res.saw_new_waves[who] = (await sees_waves(pages[0], (UP_WAVE, CLI_WAVE), args.see_timeout)
                                          if pages else None)
            await asyncio.gather(*(check(w, c) for w, c in viewers))

            async def ws_check(v):
                res.saw_new_waves[v.who] = await ws_sees_waves(v, (UP_WAVE, CLI_WAVE), args.see_timeout)
            await asyncio.gather(*(ws_check(v) for v in sessions))
            for v in sessions:
                await v.close()
        finally:
            for _, c in dict(contexts).items():
                try:
                    await c.close()
                except Exception:  # noqa: BLE001
                    pass
            await browser.close()


def report(res: Results, args, before: dict, files: dict) -> int:
    print(f"\nload test: {args.viewers} {'websocket' if args.clients == 'ws' else 'browser'} viewers for {args.duration:g} s (arriving {args.stagger:g} s apart, "
          f"{args.think:g} s pauses), 1 in-app upload, 1 CLI ingest ({os.cpu_count()} cores)")
    print(f"  cold first overview (warm-up visit): {res.cold:.2f} s" if res.cold is not None else "  no warm-up")
    print(f"  viewer loops completed: {res.loops}; load average before/after: {res.load[0]} / {res.load[1]}")
    if len(res.per_replica) > 1:
        print(f"  replicas: {len(res.per_replica)} behind nginx; script runs per replica: {res.per_replica}")
    print(f"  first overview of each session:  {_fmt(res.first_page)}")
    print(f"  page times (overview, drivers):   {_fmt(res.page)}")
    print(f"  filter change, new selection:    {_fmt(res.filter_new)}")
    print(f"  filter change, cached selection: {_fmt(res.filter_cached)}")
    print(f"  server script runs (CSI_APP_TIMING): {_fmt(res.server_runs)}")
    for name, xs in sorted(res.server_by_page.items()):
        print(f"    {name}: {_fmt(xs)}")
    up = res.upload
    print(f"  in-app upload of {UP_WAVE}: " + (f"ok in {up['seconds']:.1f} s (commit {up['commit_seconds']:.1f} s)"
                                             if up.get("ok") else f"FAILED: {up.get('error') or up.get('messages')}"))
    cli = res.cli
    print(f"  CLI ingest of {CLI_WAVE}: exit {cli.get('rc')} in {cli.get('seconds', float('nan')):.1f} s"
          + (f" - {cli['stderr']}" if cli.get("rc") else ""))
    seen = res.saw_new_waves
    missing = [w for w, s in seen.items() if s is None]
    shown = [s for s in seen.values() if s is not None]
    print(f"  viewers that see both new waves without a reload: {len(shown)}/{len(seen)}"
          + (f" (within {max(shown):.1f} s)" if shown else "") + (f"; not: {', '.join(missing)}" if missing else ""))
    sc = res.store_check
    print(f"  store afterwards: {sc}")
    slow = [(end, sec, step) for end, sec, step in res.samples if sec > 3.0]
    if res.samples:  # where the slow tail comes from: the first cold selections or a new data version
        def phase(end: float, sec: float) -> str:
            start = end - sec
            for name in ("upload stored", "cli stored"):
                at = res.events.get(name)
                if at is not None and at - 2.0 <= start <= at + 15.0:
                    return f"within 15 s of '{name}'"
            at = res.events.get("load start")
            return "first 20 s of the load" if at is not None and start <= at + 20.0 else "other times"
        by: dict[str, int] = {}
        for end, sec, _ in slow:
            by[phase(end, sec)] = by.get(phase(end, sec), 0) + 1
        print(f"  steps over 3 s: {len(slow)} of {len(res.samples)}"
              + (" (" + ", ".join(f"{n} {k}" for k, n in sorted(by.items())) + ")" if by else ""))
    if res.server_cpu and res.server_runs:
        own = sum(a for a, _ in res.server_cpu)
        kids = sum(b for _, b in res.server_cpu)
        print(f"  server CPU during the load: {own:.1f} s in the server process(es), {kids:.1f} s in job workers; "
              f"{own / len(res.server_runs) * 1000:.0f} ms of server CPU per script run")
    print(f"  server memo hits/misses/waits: {'; '.join(res.memo)}")
    if res.server_mem:
        print("  server memory (RSS / peak, MiB): " + "; ".join(f"{a:.0f} / {b:.0f}" for a, b in res.server_mem))
    print(f"  server log tracebacks: {res.server_tracebacks}; warnings: {len(res.server_warnings)}")
    kinds: dict[str, int] = {}
    for ln in res.server_warnings:  # the message without its time stamp, once per kind
        text = re.sub(r"^\S+ \S+ WARNING \S+: ", "", ln)[:120]
        kinds[text] = kinds.get(text, 0) + 1
    for text, n in sorted(kinds.items(), key=lambda kv: -kv[1])[:5]:
        print(f"    {n} x {text}")
    print(f"  errors: {len(res.errors)}")
    for e in res.errors[:25]:
        print(f"    {e}")
    if len(res.errors) > 25:
        print(f"    ... and {len(res.errors) - 25} more")
    targets = {
        "0 errors": not res.errors and res.server_tracebacks == 0,
        "0 lost or partial waves": bool(sc.get("whole")),
        "0 lost uploads": bool(up.get("ok")) and sc.get(UP_WAVE) == files[UP_WAVE][1],
        "CLI ingest exit 0": cli.get("rc") == 0,
        "every viewer sees the new waves": bool(seen) and not missing,
        "p95 page time <= 3 s": (pct(res.page + res.first_page, 0.95) or 1e9) <= 3.0,
        "cached filter change p95 <= 1 s": (pct(res.filter_cached, 0.95) or 1e9) <= 1.0,
    }
    print("  targets: " + "; ".join(f"{k}: {'met' if v else 'NOT met'}" for k, v in targets.items()))
    if args.json:
        Path(args.json).write_text(json.dumps({
            "viewers": args.viewers, "replicas": args.replicas, "per_replica": res.per_replica,
            "duration": args.duration, "cold": res.cold, "loops": res.loops,
            "first_page": res.first_page, "page": res.page, "filter_new": res.filter_new,
            "filter_cached": res.filter_cached, "server_runs": res.server_runs, "upload": up, "cli": cli,
            "saw_new_waves": seen, "store": sc, "errors": res.errors, "targets": targets,
            "server_cpu": res.server_cpu, "server_mem": res.server_mem, "memo": res.memo,
            "samples": res.samples, "events": res.events}, indent=1))
    return 0 if all(targets.values()) else 1


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--viewers", type=int, default=20)
    ap.add_argument("--duration", type=float, default=75.0, help="seconds of load (viewers loop until then)")
    ap.add_argument("--upload-at", type=float, default=15.0, help="seconds into the load when the analyst uploads")
    ap.add_argument("--cli-at", type=float, default=18.0, help="seconds into the load when the CLI ingest starts")
    ap.add_argument("--clients", choices=["ws", "browser"], default="ws",
                    help="viewers as Streamlit websocket sessions (default; no rendering) or chromium contexts")
    ap.add_argument("--stagger", type=float, default=0.5, help="seconds between two viewers' arrivals")
    ap.add_argument("--think", type=float, default=2.0, help="seconds a viewer pauses between two steps")
    ap.add_argument("--see-timeout", type=float, default=30.0, help="seconds each viewer may take to see the new waves")
    ap.add_argument("--deadline", type=float, default=420.0, help="hard limit of the whole bench (seconds)")
    ap.add_argument("--json", default=None, help="also write the figures to this JSON file")
    ap.add_argument("--replicas", type=int, default=1,
                    help="Streamlit servers on the same store; more than one are put behind a loopback nginx")
    ap.add_argument("--proxy", choices=["auto", "nginx", "none"], default="auto",
                    help="auto: nginx when --replicas > 1; nginx: always (also for one replica, to measure the proxy)")
    ap.add_argument("--root", type=Path, default=None,
                    help="serve and ingest with the code of this folder (e.g. a `git archive HEAD` copy, so "
                         "colleagues' half-done edits of the work tree do not count); default this repository")
    args = ap.parse_args(argv)
    global ROOT
    if args.root is not None:
        ROOT = args.root.resolve()
        if not (ROOT / "streamlit_app.py").is_file():
            print(f"--root {ROOT} holds no streamlit_app.py", file=sys.stderr)
            return 2
        sys.path.insert(0, str(ROOT))  # csi (demo files, the store check) from the same code
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        print("needs the playwright Python package (requirements-dev.txt)", file=sys.stderr)
        return 2
    if not (shutil.which("chromium") or shutil.which("chromium-browser")):
        print("needs Debian's chromium (apt-get install -y chromium)", file=sys.stderr)
        return 2
    use_proxy = args.proxy == "nginx" or (args.proxy == "auto" and args.replicas > 1)
    if args.replicas < 1 or (args.replicas > 1 and args.proxy == "none"):
        print("--replicas must be >= 1, and several replicas need the proxy", file=sys.stderr)
        return 2
    if use_proxy and nginx_binary() is None:
        print("--replicas > 1 needs nginx (Debian: apt-get install nginx-light)", file=sys.stderr)
        return 2
    if (ROOT / ".streamlit" / "secrets.toml").exists():
        print("note: .streamlit/secrets.toml exists; the bench expects the open (no users) mode", file=sys.stderr)

    tmp = Path(tempfile.mkdtemp(prefix="csi-bench-load-"))
    (tmp / "home").mkdir()
    procs: list[subprocess.Popen] = []  # the replicas and the proxy: everything the bench started
    t_begin = time.monotonic()

    def _hard_stop():  # the deadline: kill what the bench started and leave
        print(f"\nhard deadline of {args.deadline:g} s reached: stopping", file=sys.stderr, flush=True)
        for p in procs:
            stop_server(p)
        shutil.rmtree(tmp, ignore_errors=True)
        os._exit(3)

    timer = threading.Timer(args.deadline, _hard_stop)
    timer.daemon = True
    timer.start()
    res = Results()
    try:
        db = tmp / "csi.duckdb"
        env = _clean_env(tmp)
        r = subprocess.run([sys.executable, "-m", "csi", "demo", "--db", str(db)], cwd=ROOT, env=env,
                           capture_output=True, text=True, timeout=300)
        if r.returncode != 0:
            print(f"demo store failed: {r.stderr}", file=sys.stderr)
            return 1
        before = wave_counts(db)
        files = make_files(tmp)
        ports = [_free_port() for _ in range(args.replicas)]
        log_paths = [tmp / f"server{k}.log" for k in range(args.replicas)]
        for port, log_path in zip(ports, log_paths):
            procs.append(start_server(tmp, db, port, log_path))
        for port, proc in zip(ports, procs):
            wait_healthy(f"http://127.0.0.1:{port}", proc, timeout=120)
        url = f"http://127.0.0.1:{ports[0]}"
        if use_proxy:
            pport = _free_port()
            procs.append(start_proxy(tmp, ports, pport))
            url = f"http://127.0.0.1:{pport}"
            wait_healthy(url, procs[-1], timeout=30)
        print(f"setup {time.monotonic() - t_begin:.1f} s; {args.replicas} server(s)"
              + (" behind nginx" if use_proxy else "") + f" on {url}; store {len(before)} waves", flush=True)
        remaining = args.deadline - (time.monotonic() - t_begin) - 20
        load0 = f"{os.getloadavg()[0]:.1f}"
        servers = procs[:args.replicas]
        cpu0 = [(cpu_seconds(p.pid), children_cpu_seconds(p.pid)) for p in servers]
        try:
            asyncio.run(asyncio.wait_for(run_load(args, url, db, files, env, res,
                                                     [f"http://127.0.0.1:{p}" for p in ports]), timeout=max(10.0, remaining)))
        except asyncio.TimeoutError:
            res.error("bench", "the load phase ran past the deadline")
        except Exception as e:  # noqa: BLE001 - the bench itself failed: say so, still report
            res.error("bench", f"{type(e).__name__}: {e}")
        res.load = (load0, f"{os.getloadavg()[0]:.1f}")
        res.server_cpu = [(cpu_seconds(p.pid) - a, children_cpu_seconds(p.pid) - b) for p, (a, b) in zip(servers, cpu0)]
        log = "\n".join(p.read_text(errors="replace") for p in log_paths)
        runs = re.findall(r"csi-timing page=(\S+) seconds=([0-9.]+)", log)
        res.per_replica = [len(re.findall(r"csi-timing page=", p.read_text(errors="replace"))) for p in log_paths]
        res.server_runs = [float(x) for _, x in runs]
        for name, x in runs:
            res.server_by_page.setdefault(name, []).append(float(x))
        res.memo = [(re.findall(r"csi-timing \S+ \S+ memo=(tables \S+ views \d+/\d+/\d+)",
                                 p.read_text(errors="replace")) or ["-"])[-1] for p in log_paths]
        res.server_mem = [peak_rss_mib(p.pid) for p in servers]
        res.server_tracebacks = log.count("Traceback (most recent call last)")
        res.server_warnings = [ln for ln in log.splitlines() if " WARNING " in ln or "missing ScriptRunContext" in ln]
        if res.server_tracebacks:
            i = log.index("Traceback (most recent call last)")
            res.error("server log", log[i:i + 600].replace("\n", " | "))
        after = wave_counts(db)
        res.store_check = {
            "demo waves unchanged": all(after.get(w) == n for w, n in before.items()),
            UP_WAVE: after.get(UP_WAVE), CLI_WAVE: after.get(CLI_WAVE),
            "expected": {UP_WAVE: files[UP_WAVE][1], CLI_WAVE: files[CLI_WAVE][1]},
        }
        res.store_check["whole"] = (res.store_check["demo waves unchanged"]
                                    and after.get(UP_WAVE) in (None, files[UP_WAVE][1])
                                    and after.get(CLI_WAVE) in (None, files[CLI_WAVE][1])
                                    and after.get(UP_WAVE) is not None and after.get(CLI_WAVE) is not None)
        return report(res, args, before, files)
    finally:
        for p in reversed(procs):  # the proxy first, then the replicas
            stop_server(p)
        timer.cancel()
        shutil.rmtree(tmp, ignore_errors=True)
        print(f"bench finished in {time.monotonic() - t_begin:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
