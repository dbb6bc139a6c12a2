"""A real browser against a real server: Playwright driving Debian's Chromium (headless).

Starts ``streamlit run streamlit_app.py`` on a free port with ``CSI_DB`` pointing at a database file
that does not exist yet (so the app builds the demo on first start, as a new user's would), then:
opens the overview (timed), switches to Chinese, uploads a new wave on the data page, sees it in the
trend, downloads the Excel workbook and checks it with openpyxl. Screenshots go to
``docs/screenshots/``.

Needs ``pip install playwright`` and ``apt-get install -y chromium fonts-noto-cjk`` (``npx playwright
install`` is not used); skipped with the reason when either is missing.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Screenshots go to a temporary folder so a test run leaves the work tree clean;
# CSI_SCREENSHOTS=docs/screenshots retakes the ones the README shows.
SHOTS = Path(os.environ.get("CSI_SCREENSHOTS") or tempfile.mkdtemp(prefix="csi-screenshots-"))
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

playwright_api = pytest.importorskip("playwright.sync_api", reason="the playwright Python package is not installed")
if CHROMIUM is None:
    pytest.skip("Debian's chromium is not installed (apt-get install -y chromium fonts-noto-cjk)",
                allow_module_level=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("browser")
    port = _free_port()
    # the server runs as deployed: after the CLI ingest below it serves the previous version while it prepares
    # the new one (app.state.data_version; the test session's CSI_APP_STALE_SECONDS=0 is not passed on)
    env = {**{k: v for k, v in os.environ.items() if k != "CSI_APP_STALE_SECONDS"},
           "CSI_DB": str(tmp / "fresh" / "csi.duckdb"), "CSI_CACHE_DIR": str(tmp / "cache"),
           "CSI_APP_BOOTSTRAP": "100", "PYTHONPATH": str(ROOT)}
    log = open(tmp / "server.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.headless", "true",
         "--server.port", str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    t0 = time.perf_counter()
    try:
        for _ in range(300):
            try:
                if urllib.request.urlopen(url + "/_stcore/health", timeout=1).read() == b"ok":
                    break
            except OSError:
                time.sleep(0.2)
        else:
            pytest.fail("the streamlit server did not start: " + (tmp / "server.log").read_text()[-2000:])
        print(f"\nserver up in {time.perf_counter() - t0:.1f} s")
        yield {"url": url, "tmp": tmp, "db": Path(env["CSI_DB"])}
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # the server and its own children only
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                              args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        yield b
        b.close()


def _wait_idle(page, timeout=120_000):
    """Streamlit shows a running indicator while a script runs; wait until it is gone."""
    page.wait_for_timeout(300)
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=timeout)


def _new_wave_csv(path: Path) -> Path:
    from csi.data import demo

    df = demo.generate(11).waves["2025Q4"].head(1200).copy()
    df["respondent_id"] = [f"B-{i:05d}" for i in range(len(df))]
    df.astype(object).where(df.notna(), "").astype(str).to_csv(path, index=False)
    return path


def test_end_to_end_in_a_real_browser(server, browser):
    SHOTS.mkdir(parents=True, exist_ok=True)
    ctx = browser.new_context(viewport={"width": 1500, "height": 1900}, accept_downloads=True, locale="en-US")
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))

    # ---- first visit: the demo database is built, then the overview renders
    t0 = time.perf_counter()
    page.goto(server["url"], wait_until="domcontentloaded")
    page.get_by_text("Customer satisfaction at a glance").wait_for(timeout=180_000)
    page.locator('[data-testid="stMetricValue"]').first.wait_for(timeout=180_000)
    page.locator(".js-plotly-plot").first.wait_for(timeout=180_000)
    first = time.perf_counter() - t0
    assert server["db"].exists()
    # reload: the server is warm, caches are not (new session, same process)
    t0 = time.perf_counter()
    page.reload(wait_until="domcontentloaded")
    page.locator('[data-testid="stMetricValue"]').first.wait_for(timeout=60_000)
    page.locator(".js-plotly-plot").first.wait_for(timeout=60_000)
    warm = time.perf_counter() - t0
    # wait for the background bootstrap to bring the intervals
    page.get_by_text("bootstrap resamples", exact=False).last.wait_for(timeout=240_000)
    _wait_idle(page)
    page.wait_for_timeout(1500)
    page.screenshot(path=str(SHOTS / "overview_en.png"), full_page=True)

    # ---- filter change on a cached selection
    region = page.get_by_label("Region").first if page.get_by_label("Region").count() else None
    t_filter = None
    if region is not None:
        t0 = time.perf_counter()
        page.get_by_text("Satisfaction index (2025Q4)").wait_for()
        t_filter = time.perf_counter() - t0

    # ---- Chinese
    page.get_by_role("radio", name="简体中文").click()
    page.get_by_text("顾客满意度一览").wait_for(timeout=60_000)
    _wait_idle(page)
    page.get_by_text("满意度指数（2025Q4）").wait_for(timeout=60_000)
    page.get_by_text("偏最小二乘路径模型 (PLS)").wait_for(timeout=60_000)  # the sidebar is redrawn too
    _wait_idle(page)
    page.wait_for_timeout(2500)
    body = page.inner_text("body")
    assert "优先改进" in body or "继续保持" in body  # the plain-language actions are Chinese
    page.screenshot(path=str(SHOTS / "overview_zh.png"), full_page=True)

    # ---- upload a new wave (data page, in Chinese)
    page.get_by_role("link", name="数据管理").click()
    page.get_by_text("调查数据").first.wait_for(timeout=60_000)
    csv = _new_wave_csv(server["tmp"] / "wave_2026Q1.csv")
    page.locator('input[type="file"]').first.set_input_files(str(csv))
    page.get_by_text("没有错误", exact=False).wait_for(timeout=120_000)
    label = page.get_by_label("新一期标签")
    label.fill("2026Q1")
    label.press("Enter")
    _wait_idle(page)
    page.screenshot(path=str(SHOTS / "data_upload_zh.png"), full_page=True)
    page.get_by_role("button", name="提交为新一期").click()
    page.get_by_text("已保存调查期 2026Q1", exact=False).wait_for(timeout=120_000)

    # ---- the new wave is in the trend
    page.get_by_role("link", name="总览").click()
    page.get_by_text("满意度指数（2026Q1）").wait_for(timeout=120_000)
    page.locator(".js-plotly-plot").first.wait_for(timeout=60_000)
    _wait_idle(page)
    page.wait_for_timeout(1500)
    ticks = page.locator(".js-plotly-plot .xtick text").all_text_contents()
    assert "2026Q1" in ticks, ticks
    page.screenshot(path=str(SHOTS / "overview_zh_new_wave.png"), full_page=True)

    # ---- download the Excel workbook
    page.get_by_role("link", name="下载").click()
    page.get_by_text("下载结果").first.wait_for(timeout=60_000)
    button = page.get_by_role("button", name="Excel 工作簿（全部表格）")
    button.wait_for(timeout=180_000)
    with page.expect_download(timeout=120_000) as dl:
        button.click()
    path = server["tmp"] / "workbook.xlsx"
    dl.value.save_as(str(path))
    import openpyxl

    wb = openpyxl.load_workbook(path)
    for sheet in ("paths", "outer", "constructs", "effects", "scores", "trend", "priorities"):
        assert sheet in wb.sheetnames, wb.sheetnames
    trend_waves = {r[0] for r in wb["trend"].iter_rows(min_row=2, values_only=True)}
    assert "2026Q1" in trend_waves
    page.screenshot(path=str(SHOTS / "downloads_zh.png"), full_page=True)
    with page.expect_download(timeout=120_000) as dl:
        page.get_by_role("button", name="含图表的 HTML 报告").click()
    report = server["tmp"] / "report.html"
    dl.value.save_as(str(report))
    html = report.read_text(encoding="utf-8")
    assert "顾客满意度报告" in html and "js-plotly-plot" not in html or "Plotly.newPlot" in html
    assert not __import__("re").search(r"<script[^>]*\bsrc=", html)  # opens offline: plotly.js inline

    # ---- every other page opens without an exception
    for name in ("模型", "驱动因素", "对比", "传统方法"):
        page.get_by_role("link", name=name).click()
        _wait_idle(page)
        page.wait_for_timeout(800)
        assert page.locator('[data-testid="stException"]').count() == 0, name
    page.get_by_role("link", name="模型").click()
    _wait_idle(page)
    page.locator(".js-plotly-plot").first.wait_for(timeout=60_000)
    page.wait_for_timeout(1500)
    page.screenshot(path=str(SHOTS / "model_zh.png"), full_page=True)
    assert page.locator('[data-testid="stException"]').count() == 0
    # ---- every page in both languages, at 1024 px (Chinese) and 1440 px (English): no raw codes, no English in
    # the Chinese UI, no chart label outside its chart or on top of another
    t0 = time.perf_counter()
    problems = _every_page_checked(page, server["url"])
    print(f"\nevery page in both languages checked in {time.perf_counter() - t0:.1f} s")
    assert not problems, problems
    print(f"\noverview on a fresh database (demo built on first start): {first:.1f} s; "
          f"on a warm server, new session: {warm:.1f} s")
    assert not errors, errors
    ctx.close()


# ------------------------------------------------------------------ every page, both languages (issue 12)
# The rendered page's text without icon ligatures (a material icon is the text "keyboard_arrow_right"), without
# the file uploader's built-in instructions (Streamlit's own English, not the app's) and without code spans (a
# command or a column name shown as code is meant as typed).
_MAIN_TEXT = """() => {
  const m = document.querySelector("[data-testid='stMain']").cloneNode(true);
  m.querySelectorAll("[data-testid^='stIcon'], [data-testid$='Icon'], "
                     + "[data-testid='stFileUploaderDropzoneInstructions'], "
                     + "[data-testid='stFileUploaderDropzone'] button, code").forEach(e => e.remove());
  document.body.appendChild(m);
  // any other icon ligature (e.g. an expander's icon while the element is redrawn) is set in a Material font
  [...m.querySelectorAll('span, i')].filter(e => /Material/i.test(getComputedStyle(e).fontFamily))
    .forEach(e => e.remove());
  const s = m.innerText; m.remove(); return s;
}"""
# Chart labels that leave their chart (clipped) or sit on another label (point labels, annotations, axis ticks,
# legend entries; rotated tick labels are plotly's own answer to crowding and are left out).
_CHART_GEOMETRY = """() => {
  const out = [];
  const inside = (r, b) => r.left >= b.left - 2 && r.right <= b.right + 2 && r.top >= b.top - 2 && r.bottom <= b.bottom + 2;
  const hit = (a, b) => a.left < b.right - 1 && b.left < a.right - 1 && a.top < b.bottom - 1 && b.top < a.bottom - 1;
  document.querySelectorAll('.js-plotly-plot').forEach((plot, k) => {
    const svg = plot.querySelector('svg.main-svg');
    if (!svg) return;
    const box = svg.getBoundingClientRect();
    const texts = [...plot.querySelectorAll('text')].filter(t => t.textContent.trim() && t.getBBox().width > 0);
    texts.forEach(t => { if (!inside(t.getBoundingClientRect(), box)) out.push(`chart ${k}: "${t.textContent}" clipped`); });
    const labels = [...plot.querySelectorAll('.textpoint text, .annotation-text, .xtick text, .ytick text, .legendtext')]
      .filter(t => t.textContent.trim() && !/rotate/.test(t.getAttribute('transform') || ''));
    for (let i = 0; i < labels.length; i++) for (let j = i + 1; j < labels.length; j++) {
      const a = labels[i].getBoundingClientRect(), b = labels[j].getBoundingClientRect();
      if (a.width && b.width && hit(a, b)) out.push(`chart ${k}: "${labels[i].textContent}" on "${labels[j].textContent}"`);
    }
  });
  return out;
}"""


def test_an_open_dashboard_shows_a_wave_ingested_by_the_cli(server, browser):
    """Issue 9's "done when": with a dashboard open on the store, `python -m csi ingest` of a new wave exits 0
    and the open page shows the wave by itself (no reload, no click) within a few seconds."""
    ctx = browser.new_context(viewport={"width": 1440, "height": 1400}, locale="en-US")
    page = ctx.new_page()
    try:
        page.goto(server["url"], wait_until="domcontentloaded")
        page.locator('[data-testid="stMetricValue"]').first.wait_for(timeout=180_000)
        # the overview's bootstrap ends first: its poller's rerun must not be what shows the wave
        page.get_by_text("bootstrap resamples", exact=False).last.wait_for(timeout=240_000)
        _wait_idle(page)
        page.wait_for_timeout(1000)
        assert page.get_by_text("2026Q3").count() == 0
        from csi.data import demo

        df = demo.generate(23).waves["2025Q4"].head(400).copy()
        df["respondent_id"] = [f"C-{i:05d}" for i in range(len(df))]
        csv = server["tmp"] / "wave_2026Q3.csv"
        df.astype(object).where(df.notna(), "").astype(str).to_csv(csv, index=False)
        run = subprocess.run([sys.executable, "-m", "csi", "ingest", str(csv), "--wave", "2026Q3",
                              "--db", str(server["db"])], cwd=ROOT, capture_output=True, text=True, timeout=300,
                             env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert run.returncode == 0, run.stderr
        t0 = time.perf_counter()
        page.get_by_text("2026Q3").first.wait_for(timeout=30_000)  # the store watcher reruns the page
        print(f"\nnew wave on the open page {time.perf_counter() - t0:.1f} s after the ingest exited")
    finally:
        ctx.close()


def _page_keys() -> list[str]:
    import ast

    tree = ast.parse((ROOT / "streamlit_app.py").read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "PAGE_FILES":
            return [k.value for k in node.value.keys]
    return ["overview", "model", "drivers", "compare", "classic", "data", "downloads"]


def _every_page_checked(page, url: str) -> dict:
    """Open every page by its deep link (page and language in the URL: no navigation menu to fold away at 1024 px)
    and collect raw codes, stray English (Chinese UI) and misplaced chart labels. Returns {(lang, page): [...]}.
    Result tables are canvases here; tests/test_app.py reads their cells."""
    from test_i18n import leaks

    found = {}
    for lang, width in (("zh", 1024), ("en", 1440)):
        page.set_viewport_size({"width": width, "height": 1600})
        for key in _page_keys():
            page.goto(f"{url}/?page={key}&lang={lang}", wait_until="domcontentloaded")
            page.locator("h1").first.wait_for(timeout=120_000)
            _wait_idle(page)
            try:  # every chart drawn (plotly draws after the script run ends)
                page.wait_for_function("() => [...document.querySelectorAll('[data-testid=\"stPlotlyChart\"]')]"
                                       ".every(e => e.querySelector('svg.main-svg'))", timeout=30_000)
            except playwright_api.TimeoutError:
                found.setdefault((lang, key), []).append("a chart was not drawn within 30 s")
            page.wait_for_timeout(600)
            bad = sorted(set(leaks(page.evaluate(_MAIN_TEXT), lang, ("Skyline Mobile", "Horizon Telecom"))))
            bad += page.evaluate(_CHART_GEOMETRY)
            if page.locator('[data-testid="stException"]').count():
                bad.append("exception")
            if bad:
                found.setdefault((lang, key), []).extend(bad)
            page.screenshot(path=str(SHOTS / f"page_{key}_{lang}_{width}.png"), full_page=True)
    return found
