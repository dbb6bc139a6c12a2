"""csi — customer-satisfaction-index analytics.

Survey waves → DuckDB store → ACSI/ECSI/China-CSI structural models (PLS path
modeling and CB-SEM) → 0–100 indices and improvement priorities.

The package is pure Python and never imports streamlit; the dashboard
(``streamlit_app.py``) is a thin layer on top of it.
"""
__version__ = "0.1.0"
