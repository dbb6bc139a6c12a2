"""App layer of the dashboard: translation table, roles, cached loaders, charts, report builders.

Everything here may import streamlit except :mod:`app.i18n`, :mod:`app.charts` and
:mod:`app.report_html`, which are pure and tested without a Streamlit runtime.
Statistics never live here: the app only calls :mod:`csi`.
"""
