"""Provenance: the versions block of every manifest (one implementation for fit, report, app and batch)."""
from __future__ import annotations

import functools
import platform
from importlib import metadata

DEPENDENCIES = ("numpy", "pandas", "scipy", "semopy", "duckdb")


def versions() -> dict[str, str | None]:
    """``{"csi", "python", numpy, pandas, scipy, semopy, duckdb}`` -> version (None when not installed).

    Read once per process (a fresh dict each call): the versions are those of the code this process imported,
    and reading the installed packages' metadata parses their files (about 40 ms, on every fit before)."""
    return dict(_versions())


@functools.lru_cache(maxsize=1)
def _versions() -> dict[str, str | None]:
    from csi import __version__

    out: dict[str, str | None] = {"csi": __version__, "python": platform.python_version()}
    for pkg in DEPENDENCIES:
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = None
    return out
