"""Test-session setup shared by every test module.

The browser test needs Debian's Chromium and a CJK font (so Chinese renders in screenshots), and the proxy test
runs the shipped deploy/nginx.conf through Debian's nginx (``nginx -t``). A fresh machine has none of them, so the
session installs them with apt-get when it runs as root and the whole suite (or the browser test) is part of the
run; set ``CSI_NO_APT=1`` to skip that (those tests are then skipped with their reason).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

# A dashboard process keeps serving the previous data version for a few seconds while it prepares a new one
# (app.state.data_version). Tests that write to a store and read it back in the next run expect the new version
# at once: the test session switches at once unless a test sets CSI_APP_STALE_SECONDS itself
# (tests/test_serving_versions.py does). Servers started by tests inherit it; bench/bench_load.py does not.
os.environ.setdefault("CSI_APP_STALE_SECONDS", "0")

ROOT = Path(__file__).resolve().parents[1]


def _wants_browser(config) -> bool:
    args = [str(a) for a in config.args]
    return not args or any("test_browser" in a or a.rstrip("/").endswith("tests") or a in (".", "") for a in args)


def pytest_configure(config) -> None:
    if os.environ.get("CSI_NO_APT") or not _wants_browser(config):
        return
    have_font = os.path.exists("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")
    have_nginx = bool(shutil.which("nginx") or os.path.exists("/usr/sbin/nginx"))
    have_poppler = bool(shutil.which("pdffonts") and shutil.which("pdftotext"))  # the brief's PDF checks
    if (shutil.which("chromium") or shutil.which("chromium-browser")) and have_font and have_nginx and have_poppler:
        return
    if not sys.platform.startswith("linux") or os.geteuid() != 0 or not shutil.which("apt-get"):
        return
    print("\ninstalling Debian's chromium, fonts-noto-cjk, nginx-light and poppler-utils for the browser, proxy and "
          "PDF tests ...",
          file=sys.stderr)
    # RUNLEVEL=1: the package's init script must not start an nginx service (the test runs its own, on loopback)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive", "RUNLEVEL": "1"}
    try:
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env, timeout=900,
                       stdout=subprocess.DEVNULL)
        subprocess.run(["apt-get", "install", "-y", "-qq", "chromium", "fonts-noto-cjk", "nginx-light",
                        "poppler-utils"],
                       check=True, env=env, timeout=1800, stdout=subprocess.DEVNULL)
    except (subprocess.SubprocessError, OSError) as e:  # the browser test then skips and says why
        print(f"could not install chromium: {e}", file=sys.stderr)


def build_small_demo(path, per_wave: int, waves: int | None = None):
    """A store of the seeded demo's waves (the last ``waves`` of them; all when None), ``per_wave`` respondents
    each, loaded through the ordinary ingest with the demo's brand settings: what the app tests need."""
    from csi.data import demo, store
    from csi.data.ingest import ingest_frame

    survey = demo.generate(20240601)
    labels = list(survey.waves)[-waves:] if waves else list(survey.waves)
    con = store.connect(path)
    try:
        for label in labels:
            df = survey.waves[label].head(per_wave)
            raw = df.astype(object).where(df.notna(), "").astype(str)
            a, b = demo.WAVE_DATES[label]
            ingest_frame(con, raw, wave=label, source_name=f"demo_{label}.csv", field_start=a, field_end=b)
        store.set_setting(con, "own_brand", survey.own_brand)
        store.set_setting(con, "competitor", survey.competitor)
        store.set_setting(con, "brand_column", "brand")
    finally:
        con.close()
    return path


# ------------------------------------------------------------------ the app's environment (AppTest tests)
@dataclass
class AppEnv:
    """What :func:`app_environment` set up: the database and cache folder the app uses, and (with
    ``stub_cookies``) the browser's cookies the app reads and the ``(name, value, ttl)`` of each it writes."""

    db: Path
    cache: Path | None
    cookies: dict = field(default_factory=dict)
    written: list = field(default_factory=list)


def app_environment(monkeypatch, tmp_path, *, db=None, copy_of=None, bootstrap="0", cache=True, chdir=True,
                    open_mode=False, stub_cookies=False, clear=False) -> AppEnv:
    """The dashboard's environment for one test, through ``monkeypatch`` (undone after the test).

    ``CSI_DB`` is ``db`` (default ``tmp_path/"csi.duckdb"``); with ``copy_of``, a private copy of that database
    is made there first (a test that writes must not leak into others). ``CSI_CACHE_DIR`` is
    ``tmp_path/"cache"`` (``cache=False``: left as it is) and ``CSI_APP_BOOTSTRAP`` is ``bootstrap`` (a string or
    number; ``None``: left as it is). ``chdir``: the working directory is the repository, as ``streamlit run``
    is started there. ``open_mode``: ``CSI_REQUIRE_AUTH`` is dropped (the open mode of a machine with no users,
    whatever the developer's shell sets). ``stub_cookies``: the app's cookie reader and writer read
    ``AppEnv.cookies`` and append to ``AppEnv.written`` (AppTest has no browser). ``clear``: Streamlit's caches
    are emptied (cached connections of an earlier test's file must go)."""
    db = Path(db) if db is not None else tmp_path / "csi.duckdb"
    if copy_of is not None:
        shutil.copy(copy_of, db)
    monkeypatch.setenv("CSI_DB", str(db))
    cache_dir = tmp_path / "cache" if cache else None
    if cache_dir is not None:
        monkeypatch.setenv("CSI_CACHE_DIR", str(cache_dir))
    if bootstrap is not None:
        monkeypatch.setenv("CSI_APP_BOOTSTRAP", str(bootstrap))
    env = AppEnv(db, cache_dir)
    if open_mode or stub_cookies:
        from app import auth

        if open_mode:
            monkeypatch.delenv(auth.REQUIRE_AUTH_ENV, raising=False)
        if stub_cookies:
            monkeypatch.setattr(auth, "_request_cookie", lambda name: env.cookies.get(name))
            monkeypatch.setattr(auth, "_write_cookie", lambda cs, value, ttl: env.written.append((cs.name, value, ttl)))
    if chdir:
        monkeypatch.chdir(ROOT)
    if clear:
        clear_streamlit_caches()
    return env


def clear_streamlit_caches() -> None:
    """Streamlit's data and resource caches emptied: the app's shared connection and cached results go."""
    import streamlit as st

    st.cache_data.clear()
    st.cache_resource.clear()


def app_test(page: str = "streamlit_app.py", *, secrets: dict | None = None, timeout: float = 180):
    """An AppTest of the app's ``page`` (a path below the repository) with ``secrets`` as its secrets."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / page), default_timeout=timeout)
    for k, v in (secrets or {}).items():
        at.secrets[k] = v
    return at
