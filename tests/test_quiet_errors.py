"""Quiet errors, plain user text and safe maintenance commands.

* Messages to users carry no file-system path, process id or interpreter detail: ``csi.errors.public_message``
  is checked on DuckDB's real lock message (a second process holds the file), ``store.connect`` turns that lock
  into a StoreError naming the file only, the CLI's exit-2 lines are clean, and a page whose code fails shows an
  incident id while the "csi" log keeps the detail.
* User text (item texts, wave labels, brand names) reaches Markdown escaped (``app.ui.plain``): the AppTest sees
  the escaped source on the overview and the drivers page; a real browser (when Chromium and Playwright are
  installed) confirms it renders as typed.
* ``python -m csi demo --force`` refuses while another process has the database open, and a build killed with
  SIGKILL leaves the old store intact and no debris after the next run.
"""
from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from conftest import app_environment, clear_streamlit_caches
from csi.data import store
from csi.errors import StoreError, public_message, public_text

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "streamlit_app.py")
HOSTILE_HTTP = "Visit http://evil.example -- now *now* \\back"
# the overview shows an item's short name, the head before a colon: a text without one keeps it whole
HOSTILE_WWW = "Visit www.evil.example -- now *now* \\back"
_PATHLIKE = re.compile(r"(?<![\w.:/])/[\w.~-]+/")  # an absolute path with at least two components


# ------------------------------------------------------------------ helpers
class Holder:
    """A second process holding ``path`` open (read-write by default) until closed."""

    def __init__(self, path: Path, read_only: bool = False):
        code = textwrap.dedent(f"""
            import sys, duckdb
            con = duckdb.connect({str(path)!r}, read_only={read_only!r})
            print("ready", flush=True)
            sys.stdin.readline()
        """)
        self.proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True)
        line = self.proc.stdout.readline()
        assert line.strip() == "ready", line

    def close(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            self.proc.wait(30)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _cli(*args, env=None, timeout=300):
    return subprocess.run([sys.executable, "-m", "csi", *map(str, args)], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=timeout)


def _assert_quiet(text: str, *secrets: str) -> None:
    # the incident id is random hex: it may contain a PID's digits by chance ("e77d50" holds "77"), so the
    # secrets are looked for in the text without it
    text = re.sub(r"incident [0-9a-f]{6}", "incident ……", text)
    assert not _PATHLIKE.search(text), text
    assert "PID" not in text and "pid " not in text.lower(), text
    assert sys.executable not in text and "python3" not in text, text
    for s in secrets:
        assert s not in text, (s, text)


@pytest.fixture()
def small_db(tmp_path):
    """A store with two demo waves of 300 respondents (the app needs data; the demo's full size is not needed)."""
    from conftest import build_small_demo

    return build_small_demo(tmp_path / "csi.duckdb", 300, waves=2)


# ------------------------------------------------------------------ the scrubber
def test_public_message_on_duckdbs_real_lock_message(tmp_path):
    import duckdb

    path = tmp_path / "deep folder" / "csi.duckdb"
    path.parent.mkdir()
    duckdb.connect(str(path)).close()
    with Holder(path) as h:
        with pytest.raises(duckdb.IOException) as info:
            duckdb.connect(str(path))
        raw = str(info.value)
        pid = str(h.proc.pid)
    # the raw message is what leaked: the full path, the interpreter, the PID
    assert str(path) in raw and f"PID {pid}" in raw, raw
    clean = public_message(raw)
    _assert_quiet(clean, str(tmp_path), pid, "deep folder")
    assert '"csi.duckdb"' in clean and "held by another program" in clean, clean


@pytest.mark.parametrize("raw, expected", [
    ("[Errno 2] No such file or directory: '/srv/csi/data/wave 3.csv'", "[Errno 2] No such file or directory: 'wave 3.csv'"),
    ('File "/usr/lib/python3/dist-packages/pandas/io.py", line 3', 'File "io.py", line 3'),
    (r"cannot open C:\Users\anna\csi.duckdb: denied", "cannot open csi.duckdb: denied"),
    ("worker pid=4242 died", "worker died"),
    ("lock held (PID 99) now", "lock held now"),
    ("read ~/surveys/q3.csv", "read q3.csv"),
    ("file:///home/anna/q3.csv is empty", "q3.csv is empty"),
    # ordinary text survives: ratios, scales, URLs, options
    ("73.0/100 (1/2) and/or 3 / 4", "73.0/100 (1/2) and/or 3 / 4"),
    ("--scale must look like MIN-MAX (e.g. 1-10)", "--scale must look like MIN-MAX (e.g. 1-10)"),
    ("see https://example.com/docs/page", "see https://example.com/docs/page"),
    ("客服热线服务：接通速度", "客服热线服务：接通速度"),
])
def test_public_message_cases(raw, expected):
    assert public_message(raw) == expected


def test_public_text_logs_what_it_removed_under_the_incident_it_quotes(caplog):
    err = StoreError('cannot read "/srv/secret/place/x.csv" (PID 77)')
    with caplog.at_level(logging.ERROR, logger="csi"):
        shown = public_text(err)
        again = public_text(err)
    m = re.search(r"\(incident ([0-9a-f]{6})\)$", shown)
    assert m, shown
    _assert_quiet(shown, "/srv/secret", "77")
    assert again == shown  # the same incident, logged once
    records = [r for r in caplog.records if r.name == "csi"]
    assert len(records) == 1 and m.group(1) in records[0].getMessage()
    assert "/srv/secret/place/x.csv" in records[0].getMessage()
    assert public_text(StoreError("unknown wave '2025Q9'")) == "unknown wave '2025Q9'"  # nothing to hide


# ------------------------------------------------------------------ the store
@pytest.mark.parametrize("holder_read_only, read_only", [(False, False), (False, True), (True, False)])
def test_connect_names_the_file_only_when_the_database_is_in_use(tmp_path, caplog, holder_read_only, read_only):
    path = tmp_path / "csi.duckdb"
    store.connect(path).close()
    with Holder(path, read_only=holder_read_only) as h:
        with pytest.raises(StoreError) as info:
            store.connect(path, read_only=read_only)
        pid = str(h.proc.pid)
    with caplog.at_level(logging.ERROR, logger="csi"):
        shown = public_text(info.value)
    _assert_quiet(shown, str(tmp_path), pid)
    assert shown.startswith("the database csi.duckdb is in use by another program (a running dashboard or ingest)")
    assert "try again when it has finished" in shown
    incident = re.search(r"\(incident ([0-9a-f]{6})\)", shown).group(1)
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name == "csi")
    assert incident in logged and f"PID {pid}" in logged  # the administrator still gets DuckDB's text


def test_cli_exit_2_messages_are_quiet(tmp_path):
    path = tmp_path / "csi.duckdb"
    store.connect(path).close()
    with Holder(path) as h:
        for args in (("rename-wave", "a", "b"), ("waves",), ("items",), ("delete-wave", "a", "--confirm", "a")):
            r = _cli(*args, "--db", path)
            assert r.returncode == 2, (args, r.stderr)
            _assert_quiet(r.stderr, str(tmp_path), str(h.proc.pid))
            assert "csi.duckdb is in use by another program" in r.stderr and "(incident " in r.stderr, r.stderr
            assert "Traceback" not in r.stderr
    r = _cli("waves", "--db", tmp_path / "missing" / "none.duckdb")
    assert r.returncode == 2 and "none.duckdb does not exist" in r.stderr
    _assert_quiet(r.stderr, str(tmp_path))


# ------------------------------------------------------------------ safe demo rebuilds
_STORE_FILES = ["csi.duckdb", "csi.duckdb.lock", "csi.duckdb.versions"]  # the pointer, writers' lock, versions


def test_demo_force_replaces_while_a_dashboard_reads_and_waits_boundedly_for_a_writer(tmp_path, monkeypatch):
    # issue 9: the store is versioned; a rebuild is published as a new version while dashboards keep reading
    # the old one, and a busy writer makes it wait a bounded time, then refuse quietly
    path = tmp_path / "csi.duckdb"
    r = _cli("demo", "--db", path, "--seed", "3")
    assert r.returncode == 0, r.stderr
    first = store.version_file(path)
    before = _sha(first)
    with Holder(path, read_only=True) as h:  # a dashboard reads (DuckDB follows the symlink)
        r = _cli("demo", "--db", path, "--force", "--seed", "4")
        pid = str(h.proc.pid)
    assert r.returncode == 0, r.stderr
    _assert_quiet(r.stderr, str(tmp_path), pid)
    assert _sha(first) == before and store.version_file(path) != first  # the old version was not touched
    assert sorted(p.name for p in tmp_path.iterdir()) == _STORE_FILES
    from csi.data import demo

    monkeypatch.setenv("CSI_WRITE_TIMEOUT", "0.3")  # the CLI (it inherits it) and the library call
    with store.write_lock(path, "nightly-job", "ingest"):  # another writer is at work
        r = _cli("demo", "--db", path, "--force", "--seed", "5")
        with pytest.raises(StoreError, match="is busy: nightly-job is writing"):
            demo.build_demo_database(path, seed=5, force=True)
    assert r.returncode == 2, r.stderr
    assert "csi.duckdb is busy: nightly-job is writing (ingest)" in r.stderr, r.stderr
    _assert_quiet(r.stderr, str(tmp_path), str(os.getpid()))
    con = store.connect(path, read_only=True)
    try:
        assert store.get_setting(con, "demo_seed") == "4"
    finally:
        con.close()


def test_a_killed_demo_build_leaves_the_old_store_intact_and_no_debris(tmp_path):
    path = tmp_path / "csi.duckdb"
    r = _cli("demo", "--db", path, "--seed", "10")
    assert r.returncode == 0, r.stderr
    old = _sha(store.version_file(path))
    debris_seen = 0
    for k, delay in enumerate((0.0, 0.3, 0.8, 1.5, 3.0)):
        proc = subprocess.Popen([sys.executable, "-m", "csi", "demo", "--db", str(path), "--force", "--seed", "11"],
                                cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # the delays count from the moment the build's private copy exists (start-up time varies with load)
        while proc.poll() is None and not any(p.name.startswith(f".csi.duckdb.tmp-{proc.pid}-")
                                              for p in tmp_path.iterdir()):
            time.sleep(0.01)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        others = sorted(p.name for p in tmp_path.iterdir() if p.name not in _STORE_FILES)
        # only the temporary files of this build can be there (the previous ones were swept by it)
        assert all(re.fullmatch(rf"\.csi\.duckdb\.tmp-{proc.pid}-[0-9a-f]+(\.wal)?", n) for n in others), others
        debris_seen += bool(others)
        con = store.connect(path, read_only=True)  # the old store (or, if the build had finished, the new one)
        try:
            seed = store.get_setting(con, "demo_seed")
            assert len(store.list_waves(con)) == 6
        finally:
            con.close()
        assert (seed == "10" and _sha(store.version_file(path)) == old) or seed == "11", (seed, k)
        assert sorted(p.name for p in tmp_path.iterdir()) == _STORE_FILES  # connect swept the debris
        if seed == "11":
            break
    assert debris_seen, "no kill landed mid-build: the delays no longer match the build time"
    r = _cli("demo", "--db", path, "--force", "--seed", "12")
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == _STORE_FILES


def test_sweep_keeps_the_files_of_a_live_build(tmp_path):
    path = tmp_path / "csi.duckdb"
    live = tmp_path / f".csi.duckdb.tmp-{os.getpid()}-abcd"  # this process: a build in another thread
    dead = tmp_path / ".csi.duckdb.tmp-999999999-abcd"        # no such process
    old_style = tmp_path / ".csi.duckdb.building-999999999"
    other = tmp_path / ".other.duckdb.tmp-999999999-abcd"     # another database's build
    for p in (live, dead, dead.with_name(dead.name + ".wal"), old_style, other):
        p.write_bytes(b"x")
    removed = store.sweep_debris(path)
    assert sorted(p.name for p in removed) == sorted([dead.name, dead.name + ".wal", old_style.name])
    assert live.exists() and other.exists()


# ------------------------------------------------------------------ the app
@pytest.fixture()
def fresh_streamlit():
    pytest.importorskip("streamlit")
    clear_streamlit_caches()
    yield
    clear_streamlit_caches()


def _shown(at) -> str:
    parts = [e.value for e in at.error] + [e.value for e in at.warning] + [e.value for e in at.info]
    parts += [e.value for e in at.markdown] + [e.value for e in at.caption] + [m.label for m in at.metric]
    return "\n".join(str(p) for p in parts)


def test_a_failing_page_shows_an_incident_not_the_exception(small_db, tmp_path, monkeypatch, caplog,
                                                             fresh_streamlit):
    from streamlit.testing.v1 import AppTest

    from app.i18n import t
    from csi.report import build

    app_environment(monkeypatch, tmp_path, db=small_db)
    secret = 'IO Error: Could not set lock on file "/srv/csi/private/csi.duckdb": held in /usr/bin/python3 (PID 4321)'

    def broken(*a, **k):
        raise RuntimeError(secret)

    monkeypatch.setattr(build, "priorities_table", broken)
    at = AppTest.from_file(APP, default_timeout=180)
    with caplog.at_level(logging.ERROR, logger="csi"):
        at.run()
        at.switch_page("app_pages/drivers.py")
        at.run()
    assert not at.exception, [e.message for e in at.exception]
    errors = [e.value for e in at.error]
    m = [re.search(r"incident ([0-9a-f]{6})", e) for e in errors]
    assert any(m), errors
    incident = next(x.group(1) for x in m if x)
    assert t("err_internal", "en", incident=incident) in errors
    _assert_quiet(_shown(at), "/srv/csi", "4321", "RuntimeError")
    logged = "\n".join(r.getMessage() + (r.exc_text or "") for r in caplog.records if r.name == "csi")
    assert incident in logged and secret in logged


def test_a_locked_database_is_a_message_in_the_app(small_db, tmp_path, monkeypatch, caplog, fresh_streamlit):
    from streamlit.testing.v1 import AppTest

    app_environment(monkeypatch, tmp_path, db=small_db)
    with Holder(small_db) as h:
        at = AppTest.from_file(APP, default_timeout=180)
        with caplog.at_level(logging.ERROR, logger="csi"):
            at.run()
        pid = str(h.proc.pid)
    assert not at.exception, [e.message for e in at.exception]
    errors = [e.value for e in at.error]
    assert any("csi.duckdb is in use by another program" in e and "(incident " in e for e in errors), errors
    _assert_quiet(_shown(at), str(tmp_path), pid)
    assert f"PID {pid}" in "\n".join(r.getMessage() for r in caplog.records if r.name == "csi")


def _set_item_text(db: Path, item: str | None, text: str) -> None:
    """One item's English text, or every item's (``item=None``: the text then ends with the item code)."""
    con = store.connect(db)
    try:
        items = [item] if item else list(store.item_dictionary(con)["item"])
        store.update_items(con, {i: {"text_en": text if item else f"{text} {i}"} for i in items})
    finally:
        con.close()


def _escaped(src: str, text: str) -> None:
    """``text`` (containing a URL or www., "--", *emphasis* and a backslash) reached ``src`` escaped."""
    assert "\\*now\\*" in src and not re.search(r"(?<!\\)\*now", src), src
    assert "\\\\back" in src, src                      # renders as one backslash
    assert "-\u2060-" in src and " -- " not in src, src  # the renderer's "--" → "—" cannot apply
    if "http" in text:
        assert "http\u2060\\://evil" in src and "http://" not in src, src
    else:
        assert "www\u2060\\.evil" in src or "www\u2060.evil" in src, src
        assert "www.evil" not in src, src
    # what a reader sees is the text as typed
    shown = src.replace("\u2060", "")
    shown = re.sub(r"\\(.)", r"\1", shown)
    assert text in shown, shown


def test_item_texts_reach_markdown_escaped(small_db, tmp_path, monkeypatch, fresh_streamlit):
    from streamlit.testing.v1 import AppTest

    app_environment(monkeypatch, tmp_path, db=small_db)
    _set_item_text(small_db, "qual3", HOSTILE_WWW)  # the demo's planted weak spot: named in the action list
    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    lists = [m.value for m in at.markdown if "now" in m.value]
    assert lists, [m.value for m in at.markdown]
    for src in lists:
        _escaped(src, HOSTILE_WWW)

    clear_streamlit_caches()  # the app's shared read-only connection: a writer in this process needs it closed
    _set_item_text(small_db, None, HOSTILE_HTTP)  # whichever items the drivers page ranks first
    at.switch_page("app_pages/drivers.py")
    at.run()
    at.radio(key="dr_level").set_value("indicator").run()
    assert not at.exception, [e.message for e in at.exception]
    lists = [m.value for m in at.markdown if "now" in m.value]
    assert lists, [m.value for m in at.markdown]
    for src in lists:
        _escaped(src, HOSTILE_HTTP)
    # the existing wording is untouched by escaping
    from app.ui import plain

    assert plain("Customer-service hotline") == "Customer-service hotline" and plain("客服热线服务") == "客服热线服务"


def test_wave_and_brand_names_are_escaped_in_labels_and_captions():
    from app.ui import plain, tp

    assert tp("ov_index", "en", wave="*Q4* -- http://x.y") == "Satisfaction index (\\*Q4\\* -\u2060- http\u2060\\://x.y)"
    assert tp("ov_change_sig", "en", prev="[a](b)", lo=1.0, hi=2.0).startswith("The change vs \\[a\\](b) is")
    assert plain("- a\n# b") == "\\- a \\# b"
    assert plain("1. a") == "1\\. a"
    assert plain("$x$ :red[y] <b> a@b.example") == "\\$x\\$ \\:red\\[y\\] \\<b\\> a\u2060@b.example"


def test_plain_renders_as_typed_in_a_real_browser(tmp_path):
    """Streamlit's renderer itself (headless Chromium): no link, no emphasis, no dash, no lost backslash."""
    playwright = pytest.importorskip("playwright.sync_api", reason="the playwright Python package is not installed")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("Debian's chromium is not installed")
    import socket

    texts = [HOSTILE_HTTP, HOSTILE_WWW, "a@b.example $x$ :red[hi] :smile: <b>x</b> &amp; ~~s~~ `c` [l](http://e.x)",
             "- not a list", "1. not a list", "# not a heading", "Customer-service hotline", "客服热线服务"]
    script = tmp_path / "probe.py"
    script.write_text(textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(ROOT)!r})
        import streamlit as st
        from app.ui import plain
        for k, s in enumerate({texts!r}):
            st.markdown(f"P{{k}}: " + plain(s))
        st.markdown("probe-end")
    """))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(script), "--server.headless", "true",
                               "--server.port", str(port), "--server.address", "127.0.0.1",
                               "--browser.gatherUsageStats", "false"], cwd=tmp_path,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        with playwright.sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium)
            page = browser.new_page()
            for _ in range(60):
                try:
                    page.goto(f"http://127.0.0.1:{port}", timeout=5000)
                    break
                except Exception:
                    time.sleep(0.5)
            page.wait_for_selector("text=probe-end", timeout=60000)
            shown = {}
            for el in page.query_selector_all('[data-testid="stMarkdownContainer"]'):
                html, text = el.inner_html(), el.inner_text()
                m = re.match(r"P(\d+): ", text)
                if m:
                    shown[int(m.group(1))] = (html, text[len(m.group(0)):])
            browser.close()
    finally:
        server.kill()
        server.wait(30)
    assert sorted(shown) == list(range(len(texts)))
    for k, s in enumerate(texts):
        html, text = shown[k]
        for tag in ("<a ", "<em", "<strong", "<del", "<code", "katex", "<h1", "<ul", "<ol", "<li"):
            assert tag not in html, (s, html)
        assert text.replace("\u2060", "") == s, (s, text)
