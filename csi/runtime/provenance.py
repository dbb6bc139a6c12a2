"""Provenance: the versions block of every manifest (one implementation for fit, report, app and batch)."""
from __future__ import annotations

import platform
from importlib import metadata

DEPENDENCIES = ("numpy", "pandas", "scipy", "semopy", "duckdb")


def versions() -> dict[str, str | None]:
    """``{"csi", "python", numpy, pandas, scipy, semopy, duckdb}`` -> version (None when not installed)."""
    from csi import __version__

    out: dict[str, str | None] = {"csi": __version__, "python": platform.python_version()}
    for pkg in DEPENDENCIES:
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = None
    return out
