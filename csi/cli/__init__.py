"""The command line, ``python -m csi COMMAND``.

``main`` parses arguments and dispatches; ``data`` (demo, ingest, waves, items, rename, delete), ``fit`` and
``report`` turn arguments into a selection and settings, call ``csi.report`` and write files. No analysis
happens here.
"""
from csi.cli.main import build_parser, default_db, main

__all__ = ["build_parser", "default_db", "main"]
