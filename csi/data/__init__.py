"""Data in and out of the DuckDB store.

``store`` (ALL SQL: connections, migrations, bound parameters only), ``ingest`` (read, decode, validate and
the all-or-nothing wave write) and ``demo`` (the seeded telecom survey). May import ``csi.model`` (the item
dictionary), ``csi.text`` and ``csi.errors``; never an estimator.
"""
