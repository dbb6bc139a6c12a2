"""The survey store: one DuckDB database file, versioned schema, bound parameters only.

Tables (schema version 1, see ``_MIGRATIONS``):

* ``waves``        one row per imported wave: label, field dates, source file, sha256, counts, import time.
* ``items``        the item dictionary (item code → construct, texts en/zh, scale, missing codes, kind, attribute).
* ``wave_items``   the items a wave contains and the scale in force for that wave (``--scale`` overrides).
* ``respondents``  (wave_id, resp_key, respondent_id, source_row) — ``resp_key`` is the row's ordinal in the wave.
* ``segments``     long table (wave_id, resp_key, name, value) — brand, region, channel, weight, … as text;
                   the segment named ``weight`` (:data:`WEIGHT_SEGMENT`) is the survey weight: ingest stores a
                   column named weight/weights/权重 under that name after checking it is a non-negative number.
* ``answers``      one row per respondent: ``vals DOUBLE[]`` aligned with ``wave_items.position`` (NULL = missing).
                   A million respondents × 30 items load in seconds this way; the view ``answers_long``
                   (wave_id, resp_key, item, value) gives the tidy long form for SQL users.
* ``meta``         key/value settings (``own_brand``, ``brand_column``) and ``data_version``.

Every write happens in one transaction and bumps ``data_version`` so caches keyed by it stay honest.
DuckDB lets one process hold a file read-write, or many processes read-only; within one process all
connections to a file must share one configuration, so the app keeps a single connection and takes
``con.cursor()`` per use.
"""
from __future__ import annotations

import os
import re
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator, Mapping, Sequence

import duckdb
import numpy as np
import pandas as pd

from csi.errors import StoreError

SCHEMA_VERSION = 2
WEIGHT_SEGMENT = "weight"  # the segment holding the survey weight; load_responses returns it as float64

_MIGRATIONS: list[tuple[int, str, str]] = [
    (1, "initial schema", """
        CREATE TABLE meta (key VARCHAR PRIMARY KEY, value VARCHAR);
        CREATE TABLE waves (
            wave_id       INTEGER PRIMARY KEY,
            label         VARCHAR NOT NULL UNIQUE,
            field_start   DATE,
            field_end     DATE,
            source_file   VARCHAR,
            sha256        VARCHAR UNIQUE,
            n_respondents INTEGER NOT NULL,
            n_items       INTEGER NOT NULL,
            imported_at   TIMESTAMP NOT NULL,
            ordinal       INTEGER NOT NULL
        );
        CREATE TABLE items (
            item          VARCHAR PRIMARY KEY,
            construct     VARCHAR,
            text_en       VARCHAR,
            text_zh       VARCHAR,
            scale_min     DOUBLE NOT NULL,
            scale_max     DOUBLE NOT NULL,
            missing_codes VARCHAR,
            kind          VARCHAR NOT NULL DEFAULT 'rating',
            attribute     VARCHAR,
            CHECK (scale_min < scale_max)
        );
        CREATE TABLE wave_items (
            wave_id       INTEGER NOT NULL,
            item          VARCHAR NOT NULL,
            scale_min     DOUBLE NOT NULL,
            scale_max     DOUBLE NOT NULL,
            source_column VARCHAR,
            position      INTEGER NOT NULL,
            PRIMARY KEY (wave_id, item)
        );
        CREATE TABLE respondents (
            wave_id       INTEGER NOT NULL,
            resp_key      INTEGER NOT NULL,
            respondent_id VARCHAR NOT NULL,
            source_row    INTEGER
        );
        CREATE TABLE segments (
            wave_id  INTEGER NOT NULL,
            resp_key INTEGER NOT NULL,
            name     VARCHAR NOT NULL,
            value    VARCHAR
        );
        CREATE TABLE answers (
            wave_id  INTEGER NOT NULL,
            resp_key INTEGER NOT NULL,
            vals     DOUBLE[] NOT NULL
        );
        CREATE VIEW answers_long AS
            SELECT a.wave_id, a.resp_key, wi.item, a.vals[wi.position] AS value
            FROM answers a JOIN wave_items wi ON wi.wave_id = a.wave_id
            WHERE a.vals[wi.position] IS NOT NULL;
    """),
    (2, "item dictionary edit time", """
        ALTER TABLE items ADD COLUMN updated_at TIMESTAMP;
    """),
]

ITEM_COLUMNS = ["item", "construct", "text_en", "text_zh", "scale_min", "scale_max",
                "missing_codes", "kind", "attribute"]


# --------------------------------------------------------------------------- connection
def connect(path: str | os.PathLike, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open (and, unless read-only, create and migrate) the database at ``path``.

    A new database is seeded with the built-in item dictionary. Messages name the database by its
    file name only; DuckDB's own text (the full path, the process holding the lock, its
    interpreter) goes to the "csi" log under the incident id the message quotes. Debris of a killed
    demo build beside the file (``.NAME.tmp-PID-*``) is removed first (:func:`sweep_debris`).
    """
    from csi.errors import quiet

    path = Path(path)
    name = path.name
    sweep_debris(path)
    if read_only and not path.exists():
        raise StoreError(f"database {name} does not exist (create it with 'python -m csi demo' or ingest a wave)")
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    try:
        con = duckdb.connect(str(path), read_only=read_only)
    except duckdb.Error as e:
        if _is_lock_error(e):
            raise quiet(StoreError(in_use_message(name)), e) from None
        raise quiet(StoreError(f"cannot open database {name}: it is not a database this program can read, or the "
                               "disk refused access"), e) from None
    if read_only:
        if _schema_version(con) < SCHEMA_VERSION:
            con.close()
            raise StoreError(f"database {name} has an older schema; open it once read-write to migrate")
    else:
        migrate(con)
    return con


def in_use_message(name: str) -> str:
    return (f"the database {name} is in use by another program (a running dashboard or ingest); "
            "try again when it has finished")


def _is_lock_error(e: BaseException) -> bool:
    text = str(e).lower()
    return ("could not set lock" in text or "conflicting lock" in text
            or "different configuration" in text)  # the same file open in this process with other settings


def _first_line(e: BaseException) -> str:
    return str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__


# Temporary files of a build beside the database: ``.NAME.tmp-PID-HEX`` (and its ``.wal``); the
# older ``.NAME.building-PID`` too. A SIGKILL skips every ``finally``, so the next connect or demo
# build removes those whose process is gone and whose lock nobody holds.
_DEBRIS = re.compile(r"^\.(?P<name>.+)\.(?:tmp-(?P<pid>\d+)-[0-9a-f]+|building-(?P<bpid>\d+))(?:\.wal)?$")


def debris_name(path: Path) -> Path:
    """A fresh temporary file name beside ``path`` for building a replacement."""
    import secrets

    return path.with_name(f".{path.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}")


def sweep_debris(path: str | os.PathLike) -> list[Path]:
    """Remove the temporary files of dead builds of ``path``; returns those removed."""
    path = Path(path)
    removed = []
    try:
        entries = list(path.parent.iterdir()) if path.parent.is_dir() else []
    except OSError:
        return removed
    for p in entries:
        m = _DEBRIS.match(p.name)
        if not m or m.group("name") != path.name:
            continue
        pid = int(m.group("pid") or m.group("bpid"))
        if pid == os.getpid() or _alive(pid) or _locked(p):
            continue
        try:
            p.unlink()
            removed.append(p)
        except OSError:
            pass
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def _locked(p: Path) -> bool:
    """True when some process holds a lock on ``p`` (DuckDB locks its files with fcntl)."""
    try:
        import fcntl
    except ImportError:  # no POSIX locks here: the dead-process test alone decides
        return False
    try:
        fd = os.open(p, os.O_RDWR)
    except OSError:
        return True  # cannot check: leave it
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.lockf(fd, fcntl.LOCK_UN)
        return False
    except OSError:
        return True
    finally:
        os.close(fd)


@contextmanager
def held_exclusively(path: str | os.PathLike) -> Iterator[None]:
    """Hold the write lock of the database file ``path`` for the duration (to replace the file), or
    raise :class:`StoreError` when another process has it open, read-only or read-write.

    DuckDB locks its database file with POSIX record locks (``fcntl``): read-write connections take
    a write lock, read-only ones a read lock. Taking a non-blocking write lock therefore fails
    exactly while any other process (a dashboard, an ingest) has the file open, and holding it
    keeps them out until the new file is in place. It reads nothing of the file (no WAL replay, no
    migration), so it works on a damaged file too. POSIX locks belong to a process: this does not
    see connections of the calling process itself, and must not be used while the caller holds
    the file open (closing the descriptor would drop the caller's own locks). A missing file needs
    no lock.
    """
    path = Path(path)
    try:
        import fcntl
    except ImportError:  # not POSIX: probe with DuckDB itself
        if path.exists():
            try:
                duckdb.connect(str(path)).close()
            except duckdb.Error as e:
                if _is_lock_error(e):
                    from csi.errors import quiet

                    raise quiet(StoreError(in_use_message(path.name)), e) from None
        yield
        return
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        yield
        return
    except OSError as e:
        from csi.errors import quiet

        raise quiet(StoreError(f"cannot open database {path.name} for writing (permission?)"), e) from None
    try:
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            from csi.errors import quiet

            raise quiet(StoreError(in_use_message(path.name)), e) from None
        yield
    finally:
        os.close(fd)


def _schema_version(con) -> int:
    has = con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_migrations'").fetchone()[0]
    if not has:
        return 0
    return int(con.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()[0])


def migrate(con) -> int:
    """Apply pending numbered migrations, each in its own transaction. Returns the schema version."""
    con.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name VARCHAR, applied_at TIMESTAMP)")
    current = _schema_version(con)
    for version, name, sql in _MIGRATIONS:
        if version <= current:
            continue
        with transaction(con):
            for stmt in [s for s in sql.split(";") if s.strip()]:
                con.execute(stmt)
            con.execute("INSERT INTO schema_migrations VALUES (?, ?, ?)", [version, name, _now()])
            if version == 1:
                _seed_dictionary(con)
                con.execute("INSERT INTO meta VALUES ('data_version', '0')")
    return _schema_version(con)


def _seed_dictionary(con) -> None:
    from csi.model.dictionary import DEFAULT_ITEMS

    df = DEFAULT_ITEMS[ITEM_COLUMNS].copy()
    con.register("_seed_items", df)
    try:
        con.execute(f"INSERT INTO items ({', '.join(ITEM_COLUMNS)}) SELECT {', '.join(ITEM_COLUMNS)} FROM _seed_items")
    finally:
        con.unregister("_seed_items")


@contextmanager
def transaction(con) -> Iterator[None]:
    """All-or-nothing block: commit on success, roll back on any exception (including KeyboardInterrupt)."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield
    except BaseException:
        con.execute("ROLLBACK")
        raise
    else:
        con.execute("COMMIT")


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def bump_version(con) -> None:
    """Call inside a write transaction: every change of data or dictionary gets a new version."""
    con.execute("UPDATE meta SET value = CAST(CAST(value AS BIGINT) + 1 AS VARCHAR) WHERE key = 'data_version'")


def data_version(con) -> int:
    row = con.execute("SELECT value FROM meta WHERE key = 'data_version'").fetchone()
    return int(row[0]) if row else 0


# --------------------------------------------------------------------------- settings
def get_setting(con, key: str, default: str | None = None) -> str | None:
    row = con.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchone()
    return row[0] if row else default


def set_setting(con, key: str, value: str | None) -> None:
    if key == "data_version":
        raise StoreError("data_version is maintained by the store")
    with transaction(con):
        con.execute("DELETE FROM meta WHERE key = ?", [key])
        if value is not None:
            con.execute("INSERT INTO meta VALUES (?, ?)", [key, str(value)])
        bump_version(con)


# --------------------------------------------------------------------------- dictionary
def item_dictionary(con) -> pd.DataFrame:
    return con.execute(f"SELECT {', '.join(ITEM_COLUMNS)} FROM items ORDER BY item").df()


def update_item(con, item: str, **fields) -> None:
    """Edit one dictionary entry (texts, construct, scale, missing codes, kind, attribute); inserts if new."""
    update_items(con, {item: fields})


def update_items(con, changes: Mapping[str, Mapping[str, object]]) -> None:
    """Edit several dictionary entries in ONE transaction: all edits are saved, or none (the first bad one
    raises :class:`StoreError` and everything is rolled back)."""
    with transaction(con):
        for item, fields in changes.items():
            _update_item(con, item, dict(fields))
        bump_version(con)


def _update_item(con, item: str, fields: dict) -> None:
    bad = set(fields) - set(ITEM_COLUMNS[1:])
    if bad:
        raise StoreError(f"unknown dictionary field(s): {', '.join(sorted(bad))}")
    item = str(item).strip()
    if not item:
        raise StoreError("item code is empty")
    # runs inside update_items' transaction
    exists = con.execute("SELECT count(*) FROM items WHERE item = ?", [item]).fetchone()[0]
    if not exists:
        if "scale_min" not in fields or "scale_max" not in fields:
            raise StoreError(f"new item {item!r} needs scale_min and scale_max")
        if not float(fields["scale_min"]) < float(fields["scale_max"]):
            raise StoreError(f"item {item!r}: scale_min must be below scale_max")
        con.execute("INSERT INTO items (item, scale_min, scale_max) VALUES (?, ?, ?)",
                    [item, fields["scale_min"], fields["scale_max"]])
    lo, hi = con.execute("SELECT scale_min, scale_max FROM items WHERE item = ?", [item]).fetchone()
    lo, hi = float(fields.get("scale_min", lo)), float(fields.get("scale_max", hi))
    if not lo < hi:
        raise StoreError(f"item {item!r}: scale_min must be below scale_max (got {lo:g} and {hi:g})")
    # column names come from ITEM_COLUMNS (checked above), never from the caller's text
    sets = ", ".join(f"{col} = ?" for col in fields)
    con.execute(f"UPDATE items SET {sets}, updated_at = ? WHERE item = ?", [*fields.values(), _now(), item])


# --------------------------------------------------------------------------- waves
def list_waves(con) -> pd.DataFrame:
    """Waves in their order (field start date, then import order) with respondent and item counts."""
    return con.execute("""
        SELECT label, field_start, field_end, n_respondents, n_items, source_file, sha256, imported_at, wave_id
        FROM waves ORDER BY ordinal
    """).df()


def wave_labels(con) -> list[str]:
    return [r[0] for r in con.execute("SELECT label FROM waves ORDER BY ordinal").fetchall()]


def _wave_id(con, label: str) -> int:
    row = con.execute("SELECT wave_id FROM waves WHERE label = ?", [label]).fetchone()
    if not row:
        known = ", ".join(wave_labels(con)) or "none"
        raise StoreError(f"no wave labelled {label!r} (waves: {known})")
    return int(row[0])


def rename_wave(con, old: str, new: str) -> None:
    new = validate_label(new)
    with transaction(con):
        wid = _wave_id(con, old)
        if con.execute("SELECT count(*) FROM waves WHERE label = ?", [new]).fetchone()[0]:
            raise StoreError(f"a wave labelled {new!r} already exists")
        con.execute("UPDATE waves SET label = ? WHERE wave_id = ?", [new, wid])
        bump_version(con)


def delete_wave(con, label: str) -> int:
    """Delete a wave and everything it holds; returns the number of respondents removed."""
    with transaction(con):
        wid = _wave_id(con, label)
        n = con.execute("SELECT n_respondents FROM waves WHERE wave_id = ?", [wid]).fetchone()[0]
        for table in ("answers", "segments", "respondents", "wave_items", "waves"):
            con.execute(f"DELETE FROM {table} WHERE wave_id = ?", [wid])
        bump_version(con)
    return int(n)


def validate_label(label: str) -> str:
    label = str(label or "").strip()
    if not label:
        raise StoreError("the wave label is empty")
    if len(label) > 64:
        raise StoreError(f"the wave label is too long ({len(label)} characters, at most 64)")
    return label


def reorder_waves(con) -> None:
    """Order waves by field start date (unknown dates last), then by import order."""
    con.execute("""
        UPDATE waves SET ordinal = o.rn FROM (
            SELECT wave_id, row_number() OVER (ORDER BY field_start NULLS LAST, imported_at, wave_id) AS rn FROM waves
        ) o WHERE waves.wave_id = o.wave_id
    """)


# --------------------------------------------------------------------------- reading data
def segment_columns(con, waves: Sequence[str] | None = None) -> list[str]:
    sql = "SELECT DISTINCT s.name FROM segments s JOIN waves w USING (wave_id)"
    params: list = []
    if waves:
        sql += " WHERE w.label IN (SELECT unnest(?))"
        params.append(list(waves))
    return sorted(r[0] for r in con.execute(sql, params).fetchall())


def segment_values(con, name: str, waves: Sequence[str] | None = None) -> list[str]:
    sql = "SELECT DISTINCT s.value FROM segments s JOIN waves w USING (wave_id) WHERE s.name = ? AND s.value IS NOT NULL"
    params: list = [name]
    if waves:
        sql += " AND w.label IN (SELECT unnest(?))"
        params.append(list(waves))
    return sorted(r[0] for r in con.execute(sql, params).fetchall())


def wave_scales(con, waves: Sequence[str] | None = None) -> pd.DataFrame:
    sql = """SELECT w.label AS wave, wi.item, wi.scale_min, wi.scale_max FROM wave_items wi
             JOIN waves w USING (wave_id)"""
    params: list = []
    if waves:
        sql += " WHERE w.label IN (SELECT unnest(?))"
        params.append(list(waves))
    return con.execute(sql + " ORDER BY w.ordinal, wi.item", params).df()


def load_responses(
    con,
    waves: Sequence[str] | None = None,
    segments: Mapping[str, str | Sequence[str]] | Sequence[tuple[str, str]] | None = None,
    items: Sequence[str] | None = None,
) -> pd.DataFrame:
    """One row per respondent of the selected waves and segments.

    Columns: ``wave`` (ordered categorical in wave order), ``respondent_id``, every segment column present in
    the selection (text, except the survey weight :data:`WEIGHT_SEGMENT`, float64 with NaN = no weight), then
    every item (float, NaN = missing), items in dictionary order.
    ``segments`` maps a column to one value or several (OR within a column, AND across columns); a list of
    ``(column, value)`` pairs as the CLI's ``--segment`` gives is accepted too.
    """
    all_labels = wave_labels(con)
    if waves:
        unknown = [w for w in waves if w not in all_labels]
        if unknown:
            raise StoreError(f"unknown wave{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))} "
                             f"(waves: {', '.join(all_labels) or 'none'})")
    filters = _segment_filters(segments)
    where = ["1=1"]
    params: list = []
    if waves:
        where.append("w.label IN (SELECT unnest(?))")
        params.append(list(waves))
    for name, values in filters.items():
        where.append("EXISTS (SELECT 1 FROM segments s WHERE s.wave_id = r.wave_id AND s.resp_key = r.resp_key "
                     "AND s.name = ? AND s.value IN (SELECT unnest(?)))")
        params += [name, values]
    sel = f"""SELECT r.wave_id, r.resp_key, w.label AS wave, w.ordinal, r.respondent_id
              FROM respondents r JOIN waves w USING (wave_id) WHERE {' AND '.join(where)}"""
    con.execute(f"CREATE OR REPLACE TEMP TABLE _sel AS {sel}", params)
    try:
        base = con.execute("SELECT wave_id, resp_key, wave, respondent_id FROM _sel ORDER BY ordinal, resp_key").df()
        seg = con.execute("""SELECT s.wave_id, s.resp_key, s.name, s.value FROM segments s
                             JOIN _sel USING (wave_id, resp_key)""").df()
        positions = con.execute("""SELECT wi.wave_id, wi.item, wi.position FROM wave_items wi
                                   WHERE wi.wave_id IN (SELECT DISTINCT wave_id FROM _sel)""").fetchall()
        ans_tbl = con.sql("""SELECT a.wave_id, a.resp_key, a.vals FROM answers a
                             JOIN _sel USING (wave_id, resp_key) ORDER BY _sel.ordinal, a.resp_key""").to_arrow_table()
    finally:
        con.execute("DROP TABLE IF EXISTS _sel")
    key = ["wave_id", "resp_key"]
    out = base
    if len(seg):
        wide = seg.pivot(index=key, columns="name", values="value")
        wide.columns = [str(c) for c in wide.columns]
        out = out.merge(wide, left_on=key, right_index=True, how="left")
    item_cols: list[str] = sorted({p[1] for p in positions}, key=_item_sort_key)
    if items:
        item_cols = [c for c in item_cols if c in set(items)]
    if ans_tbl.num_rows:
        out = out.merge(_answers_wide(ans_tbl, positions, item_cols), on=key, how="left")
    else:
        for c in item_cols:
            out[c] = np.nan
    if items:
        for it in items:
            if it not in out.columns:
                out[it] = np.nan
        item_cols = list(items)
    seg_cols = [c for c in out.columns if c not in {"wave_id", "resp_key", "wave", "respondent_id", *item_cols}]
    out = out[["wave", "respondent_id", *seg_cols, *item_cols]].reset_index(drop=True)
    present = set(pd.unique(out["wave"].to_numpy(dtype=object)))
    out["wave"] = pd.Categorical(out["wave"], categories=[w for w in all_labels if w in present] or None, ordered=True)
    for c in seg_cols:
        out[c] = out[c].astype(object)
    if WEIGHT_SEGMENT in seg_cols:
        out[WEIGHT_SEGMENT] = _weights(out[WEIGHT_SEGMENT], out["wave"])
    return out


def _weights(text: pd.Series, wave: pd.Series) -> pd.Series:
    """The stored weight text → float64; ingest refuses non-numbers, so one here means a damaged store."""
    values = pd.to_numeric(text, errors="coerce").astype("float64")
    bad = values.isna() & text.notna()
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise StoreError(f"wave {wave.iloc[i]!r}: survey weight {text.iloc[i]!r} is not a number "
                         f"({int(bad.sum())} such values); delete and re-import that wave")
    return values


def _answers_wide(tbl, positions, item_cols: list[str]) -> pd.DataFrame:
    """Arrow (wave_id, resp_key, vals list) → wide float frame; each wave's lists have one fixed length."""
    wave_ids = tbl.column("wave_id").to_numpy()
    keys = tbl.column("resp_key").to_numpy()
    lists = tbl.column("vals").combine_chunks()
    offsets = lists.offsets.to_numpy()
    flat = lists.flatten().to_numpy(zero_copy_only=False).astype(float)  # NULL → NaN
    col_of = {c: j for j, c in enumerate(item_cols)}
    out = np.full((len(keys), len(item_cols)), np.nan)
    by_wave: dict[int, list[tuple[int, int]]] = {}
    for wid, item, pos in positions:
        if item in col_of:
            by_wave.setdefault(int(wid), []).append((col_of[item], int(pos) - 1))
    for wid, pairs in by_wave.items():
        rows = np.flatnonzero(wave_ids == wid)
        if rows.size:
            cols, pos = (np.array(v) for v in zip(*pairs))
            # one fancy index per wave: row r, item at list position p → flat[offsets[r] + p]
            out[rows[:, None], cols[None, :]] = flat[offsets[rows][:, None] + pos[None, :]]
    frame = pd.DataFrame(out, columns=item_cols)
    frame.insert(0, "resp_key", keys)
    frame.insert(0, "wave_id", wave_ids)
    return frame


def _item_sort_key(code: str, dictionary_order: list[str] | None = None) -> tuple:
    # group by construct prefix in the CSI chain order, then by number: imag1, imag2, ..., expe1, ...
    prefixes = ["imag", "expe", "qual", "val", "sat", "comp", "loy"]
    head = code.rstrip("0123456789")
    num = code[len(head):]
    return (prefixes.index(head) if head in prefixes else len(prefixes), head, int(num) if num else -1, code)


def _segment_filters(segments) -> dict[str, list[str]]:
    if not segments:
        return {}
    pairs = segments.items() if isinstance(segments, Mapping) else segments
    out: dict[str, list[str]] = {}
    for name, value in pairs:
        values = [value] if isinstance(value, str) or not isinstance(value, Sequence) else list(value)
        out.setdefault(str(name), []).extend(str(v) for v in values)
    return out


def item_scales(con, waves: Sequence[str] | None = None) -> dict[str, tuple[float, float]]:
    """The scale of every item over the selected waves: the wave-specific scale when all selected waves agree,
    otherwise raises :class:`StoreError` (items on different scales cannot be pooled without rescaling)."""
    ws = wave_scales(con, waves)
    out: dict[str, tuple[float, float]] = {}
    for item, g in ws.groupby("item", sort=False):
        pairs = set(zip(g["scale_min"], g["scale_max"]))
        if len(pairs) > 1:
            detail = "; ".join(f"{r.wave}: {r.scale_min:g}-{r.scale_max:g}" for r in g.itertuples())
            raise StoreError(f"item {item!r} is on different scales in the selected waves ({detail}); "
                             "analyse those waves separately")
        out[str(item)] = tuple(float(v) for v in next(iter(pairs)))  # type: ignore[assignment]
    return out
