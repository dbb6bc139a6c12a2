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
