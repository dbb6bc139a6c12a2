"""Test-session setup shared by every test module.

The browser test needs Debian's Chromium and a CJK font (so Chinese renders in screenshots). A fresh
machine does not have them, so the session installs them with apt-get when it runs as root and the
browser test is part of the run; set ``CSI_NO_APT=1`` to skip that (the browser test is then skipped
with its reason).
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
    if (shutil.which("chromium") or shutil.which("chromium-browser")) and have_font:
        return
    if not sys.platform.startswith("linux") or os.geteuid() != 0 or not shutil.which("apt-get"):
        return
    print("\ninstalling Debian's chromium and fonts-noto-cjk for the browser test ...", file=sys.stderr)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env, timeout=900,
                       stdout=subprocess.DEVNULL)
        subprocess.run(["apt-get", "install", "-y", "-qq", "chromium", "fonts-noto-cjk"],
                       check=True, env=env, timeout=1800, stdout=subprocess.DEVNULL)
    except (subprocess.SubprocessError, OSError) as e:  # the browser test then skips and says why
        print(f"could not install chromium: {e}", file=sys.stderr)
