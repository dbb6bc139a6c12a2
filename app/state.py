"""Cached loaders: the only place the app touches the database or runs an estimator.

Rules (Streamlit's guidance, and our architecture notes):

* nothing runs at import time;
* ``st.cache_resource`` holds ONE read-only DuckDB connection per database file
  (never mutated; each read takes a short-lived cursor under a lock because a DuckDB
  connection object is not meant for concurrent use from several script threads);
* analyst writes go through :func:`writer`: the read-only connection is released, a
  short-lived read-write connection does the write, then every cache is cleared;
* ``st.cache_data(max_entries=...)`` caches results keyed by plain arguments:
  database path, data version, waves, filters, model syntax, method and settings;
* SQL only through :mod:`csi.store` (bound parameters).
"""
from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path

import pandas as pd
import streamlit as st

from .jobs import JobRegistry

DEMO_SEED = 20240601
MIN_RESPONDENTS = 30
SEGMENTS = ("brand", "region", "channel")

_READ_LOCK = threading.RLock()
_WRITE_LOCK = threading.Lock()


def db_path() -> str:
    """The database file: ``$CSI_DB`` or ``data/csi.duckdb``, as an absolute path string."""
    return str(Path(os.environ.get("CSI_DB") or Path("data") / "csi.duckdb").resolve())


def bootstrap_default() -> int:
    """Resamples for on-page bootstraps (``$CSI_APP_BOOTSTRAP``; tests use a small number)."""
    try:
        return max(0, int(os.environ.get("CSI_APP_BOOTSTRAP", "500")))
    except ValueError:
        return 500


# ------------------------------------------------------------------ resources
@st.cache_resource(show_spinner=False)
def ensure_database(path: str) -> bool:
    """Build the demo database on first start when the file is absent. Returns True if built."""
    if Path(path).exists():
        return False
    from csi import demo

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with _WRITE_LOCK:
        if not Path(path).exists():
            demo.build_demo_database(path, seed=DEMO_SEED)
            return True
    return False


def _close(con) -> None:
    with contextlib.suppress(Exception):
        con.close()


@st.cache_resource(show_spinner=False, on_release=_close)
def _reader(path: str):
    from csi import store

    return store.connect(path, read_only=True)


@contextlib.contextmanager
def reading(path: str):
    """A cursor on the shared read-only connection, for one short read."""
    with _READ_LOCK:
        cur = _reader(path).cursor()
        try:
            yield cur
        finally:
            _close(cur)


@contextlib.contextmanager
def writer(path: str):
    """A short-lived read-write connection; every cache is cleared afterwards.

    DuckDB refuses a read-write and a read-only connection to the same file in one
    process, so the shared reader is released first and reopened lazily later.
    """
    from csi import store

    with _WRITE_LOCK, _READ_LOCK:
        _reader.clear()
        con = store.connect(path, read_only=False)
        try:
            yield con
        finally:
            _close(con)
            clear_caches()


def clear_caches() -> None:
    st.cache_data.clear()
    _reader.clear()


@st.cache_resource(show_spinner=False)
def jobs() -> JobRegistry:
    return JobRegistry(workers=1)


# ----------------------------------------------------------------- plain data
def data_version(path: str) -> str:
    """Changes whenever the stored data change (cheap; read on every run, never cached)."""
    from csi import store

    with reading(path) as con:
        return str(store.data_version(con))


@st.cache_data(max_entries=16, show_spinner=False)
def waves(path: str, version: str) -> pd.DataFrame:
    from csi import store

    with reading(path) as con:
        return store.list_waves(con)


@st.cache_data(max_entries=16, show_spinner=False)
def item_dictionary(path: str, version: str) -> pd.DataFrame:
    from csi import store

    with reading(path) as con:
        return store.item_dictionary(con)


@st.cache_data(max_entries=8, show_spinner=False)
def settings(path: str, version: str, keys: tuple[str, ...]) -> dict:
    from csi import store

    with reading(path) as con:
        return {k: store.get_setting(con, k) for k in keys}


@st.cache_data(max_entries=32, show_spinner=False)
def responses(path: str, version: str, wave_labels: tuple[str, ...] | None = None,
              filters: tuple[tuple[str, tuple[str, ...]], ...] = ()) -> pd.DataFrame:
    """Respondents of the selected waves, filtered by segment values (empty = all)."""
    from csi import store

    with reading(path) as con:
        df = store.load_responses(con, waves=list(wave_labels) if wave_labels else None)
    return apply_filters(df, filters)


@st.cache_data(max_entries=16, show_spinner=False)
def wave_scales(path: str, version: str, wave_labels: tuple[str, ...]) -> pd.DataFrame:
    from csi import store

    with reading(path) as con:
        return store.wave_scales(con, list(wave_labels))


@st.cache_data(max_entries=16, show_spinner=False)
def segment_values(path: str, version: str) -> dict[str, list[str]]:
    """Distinct values of each filter segment over all waves (for the sidebar)."""
    df = responses(path, version)
    return {s: sorted(df[s].dropna().astype(str).unique().tolist()) for s in SEGMENTS if s in df.columns}


def apply_filters(df: pd.DataFrame, filters) -> pd.DataFrame:
    """Keep rows whose segment columns take one of the selected values (pure pandas)."""
    mask = pd.Series(True, index=df.index)
    for col, values in filters:
        if values and col in df.columns:
            mask &= df[col].astype(str).isin(list(values))
    return df.loc[mask].reset_index(drop=True)
