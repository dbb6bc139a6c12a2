"""csi — customer-satisfaction-index analytics.

Survey waves → DuckDB store → ACSI/ECSI/China-CSI structural models (PLS path modeling and CB-SEM) → 0–100
indices and improvement priorities. The package is pure Python and never imports streamlit; the dashboard
(``streamlit_app.py``) is a thin layer on top of it.

The folders follow the pipeline (``docs/ARCHITECTURE.md``)::

    model/     specify   syntax, templates, item dictionary
    engine/    estimate  PLS kernel, bootstrap, CB-SEM, the parameter table
    evaluate/  assess    quality criteria
    analytics/           0-100 indices, priorities, loyalty, classic views
    compare/             groups, changes, gaps, multi-group analysis
    report/              analyze (one data set) and build_report (a selection): the one report engine
    data/                store, ingest, demo
    runtime/             fit cache
    cli/                 python -m csi
    text/                messages in English and Chinese

Front door::

    import csi
    fit = csi.analyze(frame, "ccsi", bootstrap=1000, seed=7)        # one data set -> every table
    rep = csi.build_report("data/csi.duckdb")                        # a selection of a store -> the report

Imports are lazy: ``import csi`` loads no numpy, pandas or semopy until a name is used.
"""
from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys

__version__ = "0.2.0"

# Public names of the front door -> the module that defines them.
_API = {
    "analyze": "csi.report.analyze", "fit_model": "csi.report.analyze", "FitResult": "csi.report.analyze",
    "build_report": "csi.report.build", "Report": "csi.report.build", "Selection": "csi.report.build",
    "Settings": "csi.report.build",
    "parse_model": "csi.model.syntax", "ModelSpec": "csi.model.syntax",
    "template": "csi.model.templates", "load_model": "csi.model.templates",
    "estimate_pls": "csi.engine.pls", "bootstrap_pls": "csi.engine.bootstrap", "estimate_cbsem": "csi.engine.cbsem",
    "assess_pls": "csi.evaluate.assess", "index_scores": "csi.analytics.index", "ipma": "csi.analytics.priorities",
    "CSIError": "csi.errors", "InputError": "csi.errors", "DataError": "csi.errors", "SpecError": "csi.errors",
    "EstimationError": "csi.errors", "StoreError": "csi.errors",
    # research methods (issue 11): PLSpredict, PLS model fit, mediation, cIPMA
    "plspredict": "csi.evaluate.predict", "model_fit": "csi.evaluate.modelfit",
    "indirect_effects": "csi.analytics.mediation", "cipma": "csi.analytics.nca",
    "research_tables": "csi.report.analyze",
}

# The first release's flat module names, kept working: ``from csi import store``, ``import csi.pls``.
MOVED = {
    "messages": "csi.text.messages",
    "syntax": "csi.model.syntax", "templates": "csi.model.templates", "dictionary": "csi.model.dictionary",
    "pls": "csi.engine.pls", "bootstrap": "csi.engine.bootstrap", "cbsem": "csi.engine.cbsem",
    "assess": "csi.evaluate.assess",
    "scales": "csi.analytics.scales", "index": "csi.analytics.index", "priorities": "csi.analytics.priorities",
    "loyalty": "csi.analytics.loyalty", "classic": "csi.analytics.classic",
    "fit": "csi.report.analyze", "export": "csi.report.export",
    "analysis_cache": "csi.runtime.cache",
    "store": "csi.data.store", "ingest": "csi.data.ingest", "demo": "csi.data.demo",
    "cli_data": "csi.cli.data", "cli_fit": "csi.cli.fit", "cli_report": "csi.cli.report",
}

__all__ = sorted(_API)


class _MovedFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Resolves ``csi.<old name>`` to the module's staged home (one module object under both names)."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname.startswith("csi.") and fullname[4:] in MOVED:
            return importlib.util.spec_from_loader(fullname, self)
        return None

    def create_module(self, spec):
        return importlib.import_module(MOVED[spec.name[4:]])

    def exec_module(self, module):  # already executed under its staged name
        pass


if not any(isinstance(f, _MovedFinder) for f in sys.meta_path):
    sys.meta_path.append(_MovedFinder())


def __getattr__(name: str):
    if name in _API:
        return getattr(importlib.import_module(_API[name]), name)
    if name in MOVED:
        return importlib.import_module(MOVED[name])
    raise AttributeError(f"module 'csi' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_API) | set(MOVED))
