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
* ``texts``        open-text answers (schema 5): (wave_id, resp_key, name, value) — verbatims kept exactly as
                   answered (outer whitespace trimmed), one row per non-empty answer; ``trash_texts`` beside them.
* ``meta``         key/value settings (``own_brand``, ``brand_column``) and ``data_version``.

* ``trash_*``     deleted waves (schema 3): the rows of ``waves``, ``wave_items``, ``respondents``, ``segments``
                   and ``answers`` moved aside with a ``trash_id``, who deleted them and when.
* ``audit``        one row per write through :func:`writing`: when (UTC), who, what, and a JSON detail.
* ``audit_periods`` mystery-shopping audit periods (schema 4): label, source file, sha256, when, by whom, order.
* ``audits``       one row per outlet x category of a period: points possible and obtained, note, region
                   (:mod:`csi.data.audit` validates the files; :func:`load_audits` reads them back).
* ``trash_audit_periods``, ``trash_audits`` deleted or replaced audit periods (schema 6): rows moved aside with a
                   ``trash_id``, who deleted them and when (:func:`restore_audit_period` brings them back).

Every write bumps ``data_version`` so caches keyed by it stay honest.

**Versions** (see docs/ARCHITECTURE.md, *Store*): the path a user names (``data/csi.duckdb``) is a symlink
to an immutable version file ``data/csi.duckdb.versions/000042.duckdb``. :func:`writing` serialises writers
on ``data/csi.duckdb.lock`` (``flock``, bounded wait), copies the current version to a private file, runs
the change there, checkpoints, fsyncs and publishes it by replacing the symlink atomically. Readers open
the current version read-only (:func:`connect`) and never wait for a writer; :func:`current_version` tells
them cheaply when a newer one exists. A legacy single-file store is converted by its first write.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import time
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterator, Mapping, Sequence

import duckdb
import numpy as np
import pandas as pd

from csi.errors import StoreError

SCHEMA_VERSION = 6  # the highest entry of _MIGRATIONS
MIN_READ_SCHEMA = 2  # readers need waves, items, answers; the trash and audit tables came with 3
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
    (3, "trash and audit log", """
        CREATE TABLE trash_waves (
            trash_id      INTEGER PRIMARY KEY,
            deleted_at    TIMESTAMP NOT NULL,
            deleted_by    VARCHAR,
            wave_id       INTEGER NOT NULL,
            label         VARCHAR NOT NULL,
            field_start   DATE,
            field_end     DATE,
            source_file   VARCHAR,
            sha256        VARCHAR,
            n_respondents INTEGER NOT NULL,
            n_items       INTEGER NOT NULL,
            imported_at   TIMESTAMP NOT NULL,
            ordinal       INTEGER NOT NULL
        );
        CREATE TABLE trash_wave_items (trash_id INTEGER NOT NULL, wave_id INTEGER NOT NULL, item VARCHAR NOT NULL,
            scale_min DOUBLE NOT NULL, scale_max DOUBLE NOT NULL, source_column VARCHAR, position INTEGER NOT NULL);
        CREATE TABLE trash_respondents (trash_id INTEGER NOT NULL, wave_id INTEGER NOT NULL, resp_key INTEGER NOT NULL,
            respondent_id VARCHAR NOT NULL, source_row INTEGER);
        CREATE TABLE trash_segments (trash_id INTEGER NOT NULL, wave_id INTEGER NOT NULL, resp_key INTEGER NOT NULL,
            name VARCHAR NOT NULL, value VARCHAR);
        CREATE TABLE trash_answers (trash_id INTEGER NOT NULL, wave_id INTEGER NOT NULL, resp_key INTEGER NOT NULL,
            vals DOUBLE[] NOT NULL);
        CREATE TABLE audit (
            entry_id BIGINT PRIMARY KEY,
            at_utc   TIMESTAMP NOT NULL,
            actor    VARCHAR NOT NULL,
            action   VARCHAR NOT NULL,
            wave     VARCHAR,
            detail   VARCHAR
        );
    """),
    (4, "mystery-shopping audits", """
        CREATE TABLE audit_periods (
            period_id   INTEGER PRIMARY KEY,
            label       VARCHAR NOT NULL UNIQUE,
            source_file VARCHAR,
            sha256      VARCHAR,
            imported_at TIMESTAMP NOT NULL,
            imported_by VARCHAR,
            ordinal     INTEGER NOT NULL
        );
        CREATE TABLE audits (
            period_id INTEGER NOT NULL,
            outlet    VARCHAR NOT NULL,
            category  VARCHAR NOT NULL,
            possible  DOUBLE NOT NULL,
            obtained  DOUBLE NOT NULL,
            note      VARCHAR,
            region    VARCHAR,
            PRIMARY KEY (period_id, outlet, category),
            CHECK (possible > 0 AND obtained >= 0 AND obtained <= possible)
        );
    """),
    (5, "open-text answers (verbatims)", """
        CREATE TABLE texts (wave_id INTEGER NOT NULL, resp_key INTEGER NOT NULL, name VARCHAR NOT NULL,
            value VARCHAR NOT NULL);
        CREATE TABLE trash_texts (trash_id INTEGER NOT NULL, wave_id INTEGER NOT NULL, resp_key INTEGER NOT NULL,
            name VARCHAR NOT NULL, value VARCHAR NOT NULL);
    """),
    (6, "trash of audit periods", """
        CREATE TABLE trash_audit_periods (
            trash_id    INTEGER PRIMARY KEY,
            deleted_at  TIMESTAMP NOT NULL,
            deleted_by  VARCHAR,
            period_id   INTEGER NOT NULL,
            label       VARCHAR NOT NULL,
            source_file VARCHAR,
            sha256      VARCHAR,
            imported_at TIMESTAMP NOT NULL,
            imported_by VARCHAR,
            ordinal     INTEGER NOT NULL
        );
        CREATE TABLE trash_audits (trash_id INTEGER NOT NULL, period_id INTEGER NOT NULL, outlet VARCHAR NOT NULL,
            category VARCHAR NOT NULL, possible DOUBLE NOT NULL, obtained DOUBLE NOT NULL, note VARCHAR,
            region VARCHAR);
    """),
]

ITEM_COLUMNS = ["item", "construct", "text_en", "text_zh", "scale_min", "scale_max",
                "missing_codes", "kind", "attribute"]


# --------------------------------------------------------------------------- connection
def connect(path: str | os.PathLike, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open the database at ``path``: read-only, the current version (never waits for a writer); read-write,
    a legacy single-file store or a new file (created, migrated and seeded with the built-in dictionary).

    Write a versioned store through :func:`writing` (a read-write ``connect`` of one is refused: its
    versions are immutable). Messages name the database by its file name only; DuckDB's own text (the
    full path, the process holding the lock, its interpreter) goes to the "csi" log under the incident id
    the message quotes. Debris of a killed build beside the file (``.NAME.tmp-PID-*``) is removed first
    (:func:`sweep_debris`).
    """
    path = Path(path)
    name = path.name
    sweep_debris(path)
    if read_only:
        return open_current(path)[0]
    if path.is_symlink():
        raise StoreError(f"database {name} is a versioned store: write to it with store.writing() "
                         "(or python -m csi ingest / rename-wave / delete-wave)")
    path.parent.mkdir(parents=True, exist_ok=True)
    con = _open(path, name, read_only=False)
    migrate(con)
    return con


def open_current(path: str | os.PathLike) -> tuple[duckdb.DuckDBPyConnection, Path]:
    """A read-only connection to the current version of ``path`` and that version's file (what a reader
    caches: one connection per version file). Never waits for a writer."""
    path = Path(path)
    name = path.name
    for _ in range(5):  # a version pruned between reading the pointer and opening it: read the pointer again
        target = version_file(path)
        if not target.exists():
            if not path.is_symlink():
                raise StoreError(f"database {name} does not exist (create it with 'python -m csi demo' or "
                                 "ingest a wave)")
            continue
        try:
            con = _open(target, name, read_only=True)
        except StoreError:
            if target.exists():
                raise
            continue
        if _schema_version(con) < MIN_READ_SCHEMA:
            con.close()
            raise StoreError(f"database {name} has an older schema; write to it once (any write migrates it)")
        return con, target
    raise StoreError(f"database {name}: its current version vanished while opening it; try again")


def _open(path: Path, name: str, read_only: bool) -> duckdb.DuckDBPyConnection:
    from csi.errors import quiet

    try:
        return duckdb.connect(str(path), read_only=read_only)
    except duckdb.Error as e:
        if _is_lock_error(e):
            raise quiet(StoreError(in_use_message(name)), e) from None
        raise quiet(StoreError(f"cannot open database {name}: it is not a database this program can read, or the "
                               "disk refused access"), e) from None


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
        if pid == os.getpid() or _alive(pid):
            continue
        if not p.is_symlink() and _locked(p):  # a pointer being swapped: never open (and lock) what it names
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


# --------------------------------------------------------------------------- versions and writers
KEEP_VERSIONS = 5          # published versions kept besides any younger than the grace period
GRACE_SECONDS = 300.0      # a version superseded less than this long ago is kept (a reader may be opening it)
WRITE_TIMEOUT = 30.0       # seconds a writer waits for another writer; $CSI_WRITE_TIMEOUT overrides
_VERSION_FILE = re.compile(r"^(?P<n>\d{6,})\.duckdb$")


def versions_dir(path: str | os.PathLike) -> Path:
    path = Path(path)
    return path.with_name(path.name + ".versions")


def lock_path(path: str | os.PathLike) -> Path:
    path = Path(path)
    return path.with_name(path.name + ".lock")


def version_file(path: str | os.PathLike) -> Path:
    """The file holding the current data: the version the pointer (symlink) names, or a legacy file itself."""
    path = Path(path)
    try:
        target = Path(os.readlink(path))
    except OSError:  # not a symlink (a legacy store), or absent
        return path
    return target if target.is_absolute() else path.parent / target


def current_version(path: str | os.PathLike) -> int | None:
    """The number of the current version (one ``readlink``): 0 for a legacy single-file store, None when
    there is no store. A reader compares it with the version it has open to notice a new one."""
    path = Path(path)
    try:
        target = os.readlink(path)
    except FileNotFoundError:
        return None
    except OSError:
        return 0 if path.exists() else None
    m = _VERSION_FILE.match(Path(target).name)
    return int(m.group("n")) if m else 0


def _version_numbers(path: Path) -> list[int]:
    try:
        names = os.listdir(versions_dir(path))
    except OSError:
        return []
    return sorted(int(m.group("n")) for m in map(_VERSION_FILE.match, names) if m)


def default_actor() -> str:
    """Who writes from a command line: ``$CSI_ACTOR`` (a scheduled job names itself), else the OS user."""
    import getpass

    actor = os.environ.get("CSI_ACTOR", "").strip()
    if actor:
        return actor
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name in this environment (a container with a bare uid)
        return f"uid {os.getuid()}" if hasattr(os, "getuid") else "unknown"


def write_timeout() -> float:
    try:
        return max(0.0, float(os.environ.get("CSI_WRITE_TIMEOUT", WRITE_TIMEOUT)))
    except ValueError:
        return WRITE_TIMEOUT


@contextmanager
def write_lock(path: str | os.PathLike, actor: str, action: str, timeout: float | None = None) -> Iterator[None]:
    """Hold the writers' lock of the store ``path`` (``flock`` on ``NAME.lock``), waiting at most ``timeout``
    seconds (default :func:`write_timeout`); on time-out a :class:`StoreError` names who holds it and since
    when (the holder's process id only in the logged detail). The lock dies with its process: a killed
    writer never leaves the store locked."""
    import fcntl

    from csi.errors import quiet

    path = Path(path)
    timeout = write_timeout() if timeout is None else max(0.0, float(timeout))
    lp = lock_path(path)
    fd = os.open(lp, os.O_RDWR | os.O_CREAT, 0o664)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = _holder(lp)
                    who = holder.get("actor") or "another writer"
                    what = f" ({holder['action']})" if holder.get("action") else ""
                    since = f" since {holder['since']} UTC" if holder.get("since") else ""
                    raise quiet(StoreError(
                        f"the database {path.name} is busy: {who} is writing{what}{since}; waited {timeout:g} s, "
                        "nothing was written - try again when it has finished"), f"lock holder {holder}") from None
                time.sleep(0.05)
        info = {"actor": str(actor), "action": str(action), "pid": os.getpid(),
                "since": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode("utf-8"), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
    finally:
        os.close(fd)  # releases the flock


def _holder(lp: Path) -> dict:
    try:
        return json.loads(lp.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        return {}


def _fsync(path: Path, directory: bool = False) -> None:
    fd = os.open(path, os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if directory else 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove(p: Path) -> None:
    for f in (p, p.with_name(p.name + ".wal")):
        try:
            f.unlink()
        except FileNotFoundError:
            pass


def _write_fault(point: str) -> None:
    """Test hook: CSI_WRITE_FAULT=<point>:hang|exit|pause=SECONDS stops (dies, waits) inside a write before it is
    published;
    CSI_WRITE_FAULT_FLAG names a file written when the pause starts. Points: ``body`` (after the change,
    before the audit entry and checkpoint), ``published`` (version file in place, pointer not yet swapped)."""
    spec = os.environ.get("CSI_WRITE_FAULT", "")
    if not spec.startswith(point + ":"):
        return
    flag = os.environ.get("CSI_WRITE_FAULT_FLAG")
    if flag:
        Path(flag).write_text(point)
    action = spec.split(":", 1)[1]
    if action == "exit":
        os._exit(3)
    time.sleep(float(action[6:]) if action.startswith("pause=") else 600)


@contextmanager
def writing(path: str | os.PathLike, *, actor: str | None = None, action: str | None, detail: dict | None = None,
            timeout: float | None = None, base: str | os.PathLike | None = None,
            fresh: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    """THE write path: ``with store.writing(path, actor=..., action="ingest", detail={...}) as con: ...``.

    Waits (bounded) for the writers' lock, copies the current version (or ``base``, a backup to restore;
    nothing when ``fresh``: a new empty store) to a private file beside the store, migrates it and yields a
    read-write connection to it. When the block ends without an exception an audit entry (``actor``,
    ``action``, ``detail`` - a dict the block may still fill in) is added, the file is checkpointed, closed,
    fsynced, moved into ``NAME.versions/`` and published by replacing the pointer atomically; on any
    exception (or a kill) nothing is published and the previous version stays current. A legacy
    single-file store is converted by its first write. ``actor`` defaults to :func:`default_actor`; an
    ``action`` of None is recorded as "settings" when the block changed settings, else as "write".
    """
    path = Path(path)
    if path.is_dir():
        raise StoreError(f"{path.name} is a folder; give the path of a database file")
    if _VERSION_FILE.match(path.name) and path.parent.name.endswith(".versions"):
        # a resolved symlink: writing here would turn one immutable version into a second store
        raise StoreError(f"{path.name} is one published version of the store {path.parent.name[:-9]}; "
                         "write through the store's own name, not its versions folder")
    actor = str(actor or default_actor())
    detail = {} if detail is None else detail
    path.parent.mkdir(parents=True, exist_ok=True)
    with write_lock(path, actor, action or "write", timeout):
        if path.is_symlink() and not path.exists() and base is None and not fresh:
            raise StoreError(f"database {path.name}: its current version file is missing; restore a backup "
                             "(python -m csi restore-backup) or point it at a file of its versions folder")
        sweep_debris(path)
        prune_versions(path)
        src = Path(base) if base is not None else (None if fresh or not path.exists() else version_file(path))
        legacy = path.exists() and not path.is_symlink()
        if legacy and src is not None and base is None:
            _probe_legacy(path)
        # a fresh store or a restored backup continues the current data_version, so caches keyed by it never
        # mistake the new content for an older one with the same number
        floor = _peek_data_version(version_file(path)) if (fresh or base is not None) and path.exists() else None
        tmp = debris_name(path)
        try:
            if src is not None:
                shutil.copyfile(src, tmp)
                wal = src.with_name(src.name + ".wal")
                if wal.exists():  # a legacy file's un-checkpointed changes: replayed into the copy when opened
                    shutil.copyfile(wal, tmp.with_name(tmp.name + ".wal"))
            con = _open(tmp, path.name, read_only=False)
            try:
                migrate(con)
                before = _settings(con)
                yield con
                _write_fault("body")
                changed = {k: v for k, v in _settings(con).items() if before.get(k) != v}
                changed.update({k: None for k in before if k not in _settings(con)})
                if changed and "settings" not in detail:
                    detail["settings"] = changed
                if floor is not None and data_version(con) <= floor:
                    con.execute("UPDATE meta SET value = ? WHERE key = 'data_version'", [str(floor + 1)])
                record_audit(con, actor, action or ("settings" if "settings" in detail else "write"), detail)
                con.execute("CHECKPOINT")
            finally:
                con.close()
            _remove(tmp.with_name(tmp.name + ".wal"))  # closed after a checkpoint: everything is in tmp
            _fsync(tmp)
            _publish(path, tmp)
        finally:
            _remove(tmp)
        prune_versions(path)


def _settings(con) -> dict:
    return dict(con.execute("SELECT key, value FROM meta WHERE key <> 'data_version'").fetchall())


def _peek_data_version(f: Path) -> int | None:
    try:
        con = duckdb.connect(str(f), read_only=True)
    except duckdb.Error:
        return None
    try:
        return data_version(con)
    except duckdb.Error:
        return None
    finally:
        con.close()


def _probe_legacy(path: Path) -> None:
    """Refuse to convert a legacy file that an old-style program has open read-write (its changes would be
    lost): DuckDB's own lock says so. Read-only holders (a running dashboard) are fine."""
    con = _open(path, path.name, read_only=True)
    con.close()


def _publish(path: Path, tmp: Path) -> Path:
    vdir = versions_dir(path)
    vdir.mkdir(exist_ok=True)
    n = max([current_version(path) or 0, *_version_numbers(path)]) + 1
    target = vdir / f"{n:06d}.duckdb"
    os.chmod(tmp, 0o444)  # immutable from now on
    os.replace(tmp, target)
    _fsync(vdir, directory=True)
    _write_fault("published")
    link = debris_name(path)
    os.symlink(os.path.join(vdir.name, target.name), link)
    os.replace(link, path)  # atomic: a reader sees the old version or the new one
    _fsync(path.parent, directory=True)
    _remove(path.with_name(path.name + ".wal"))  # a converted legacy file's log must never be replayed again
    return target


def prune_versions(path: str | os.PathLike, keep: int | None = None, grace: float | None = None) -> list[Path]:
    """Delete old version files: all but the newest ``keep`` published ones, except any superseded less than
    ``grace`` seconds ago; and files newer than the pointer (a writer killed before publishing). Call it
    holding the writers' lock. A reader with a pruned file open keeps reading it (POSIX keeps the inode)."""
    path = Path(path)
    keep = KEEP_VERSIONS if keep is None else int(keep)
    grace = GRACE_SECONDS if grace is None else float(grace)
    cur = current_version(path)
    nums = _version_numbers(path)
    vdir = versions_dir(path)
    removed = []
    if cur is None or not nums:
        return removed
    now = time.time()
    published = [n for n in nums if n <= cur]
    doomed = [n for n in nums if n > cur]
    for i, n in enumerate(published[:-keep] if keep > 0 else published):
        try:
            superseded = (vdir / f"{published[i + 1]:06d}.duckdb").stat().st_mtime
        except OSError:
            continue
        if now - superseded > grace:
            doomed.append(n)
    for n in doomed:
        p = vdir / f"{n:06d}.duckdb"
        try:
            p.unlink()
            removed.append(p)
        except OSError:
            pass
    return removed


def record_audit(con, actor: str, action: str, detail: Mapping | None = None) -> None:
    """One audit entry (call inside a write); ``detail['wave']`` fills the wave column."""
    detail = dict(detail or {})
    con.execute("INSERT INTO audit SELECT coalesce(max(entry_id), 0) + 1, ?, ?, ?, ?, ? FROM audit",
                [_now(), str(actor), str(action), None if detail.get("wave") is None else str(detail["wave"]),
                 json.dumps(detail, ensure_ascii=False, sort_keys=True, default=str)])


def audit_log(con, limit: int | None = None) -> pd.DataFrame:
    """The audit log, newest first: entry_id, at_utc, actor, action, wave, detail (JSON text)."""
    if not _has_table(con, "audit"):
        return pd.DataFrame(columns=["entry_id", "at_utc", "actor", "action", "wave", "detail"])
    sql = "SELECT entry_id, at_utc, actor, action, wave, detail FROM audit ORDER BY entry_id DESC"
    if limit is not None:
        return con.execute(sql + " LIMIT ?", [max(0, int(limit))]).df()
    return con.execute(sql).df()


def _has_table(con, name: str) -> bool:
    return bool(con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [name]).fetchone()[0])


def _schema_version(con) -> int:
    has = con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_migrations'").fetchone()[0]
    if not has:
        return 0
    return int(con.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()[0])


def migrate(con) -> int:
    """Apply pending numbered migrations, each in its own transaction. Returns the schema version."""
    con.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name VARCHAR, applied_at TIMESTAMP)")
    applied = {int(r[0]) for r in con.execute("SELECT version FROM schema_migrations").fetchall()}
    for version, name, sql in _MIGRATIONS:
        if version in applied:  # by number, not "up to the highest": a store may have 5 before 4 existed
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


_WAVE_COLS = ["wave_id", "label", "field_start", "field_end", "source_file", "sha256", "n_respondents", "n_items",
              "imported_at", "ordinal"]
_WAVE_TABLES = {  # table -> its columns (explicit lists: a later migration adding a column cannot shift them)
    "wave_items": ["wave_id", "item", "scale_min", "scale_max", "source_column", "position"],
    "respondents": ["wave_id", "resp_key", "respondent_id", "source_row"],
    "segments": ["wave_id", "resp_key", "name", "value"],
    "answers": ["wave_id", "resp_key", "vals"],
    "texts": ["wave_id", "resp_key", "name", "value"],  # schema 5: open-text answers
}


def delete_wave(con, label: str, by: str | None = None) -> int:
    """Move a wave and everything it holds to the trash (:func:`restore_wave` brings it back; the readers'
    lists and analyses no longer see it). Returns the number of respondents moved."""
    with transaction(con):
        wid = _wave_id(con, label)
        n = con.execute("SELECT n_respondents FROM waves WHERE wave_id = ?", [wid]).fetchone()[0]
        tid = int(con.execute("SELECT coalesce(max(trash_id), 0) + 1 FROM trash_waves").fetchone()[0])
        cols = ", ".join(_WAVE_COLS)
        con.execute(f"INSERT INTO trash_waves (trash_id, deleted_at, deleted_by, {cols}) "
                    f"SELECT ?, ?, ?, {cols} FROM waves WHERE wave_id = ?", [tid, _now(), by, wid])
        for table, tcols in _WAVE_TABLES.items():
            c = ", ".join(tcols)
            con.execute(f"INSERT INTO trash_{table} (trash_id, {c}) SELECT ?, {c} FROM {table} WHERE wave_id = ?",
                        [tid, wid])
        for table in ("texts", "answers", "segments", "respondents", "wave_items", "waves"):
            con.execute(f"DELETE FROM {table} WHERE wave_id = ?", [wid])
        bump_version(con)
    return int(n)


def list_trash(con) -> pd.DataFrame:
    """Deleted waves, newest first: label, deleted_by, deleted_at (UTC), n_respondents, n_items, trash_id."""
    if not _has_table(con, "trash_waves"):
        return pd.DataFrame(columns=["label", "deleted_by", "deleted_at", "n_respondents", "n_items", "trash_id"])
    return con.execute("""SELECT label, deleted_by, deleted_at, n_respondents, n_items, source_file, trash_id
                          FROM trash_waves ORDER BY deleted_at DESC, trash_id DESC""").df()


def restore_wave(con, label: str, trash_id: int | None = None) -> int:
    """Bring a deleted wave back from the trash with identical rows (its most recent deletion when the
    label was deleted more than once; ``trash_id`` picks another). Refused with a clear message when a
    wave of that label, or of that file, exists meanwhile. Returns the number of respondents restored."""
    with transaction(con):
        if trash_id is None:
            row = con.execute("SELECT max(trash_id) FROM trash_waves WHERE label = ?", [label]).fetchone()
            trash_id = row[0] if row else None
        if trash_id is None or not con.execute("SELECT count(*) FROM trash_waves WHERE trash_id = ? AND label = ?",
                                               [int(trash_id), label]).fetchone()[0]:
            known = ", ".join(r[0] for r in con.execute("SELECT DISTINCT label FROM trash_waves ORDER BY 1").fetchall())
            raise StoreError(f"no wave labelled {label!r} in the trash (trash: {known or 'empty'})")
        tid = int(trash_id)
        if con.execute("SELECT count(*) FROM waves WHERE label = ?", [label]).fetchone()[0]:
            raise StoreError(f"cannot restore {label!r}: a wave with that label exists now; rename it first "
                             "(python -m csi rename-wave)")
        sha, old_id, n = con.execute("SELECT sha256, wave_id, n_respondents FROM trash_waves WHERE trash_id = ?",
                                     [tid]).fetchone()
        if sha is not None:
            clash = con.execute("SELECT label FROM waves WHERE sha256 = ?", [sha]).fetchone()
            if clash:
                raise StoreError(f"cannot restore {label!r}: the same file is stored now as wave {clash[0]!r}")
        taken = con.execute("SELECT count(*) FROM waves WHERE wave_id = ?", [old_id]).fetchone()[0]
        wid = int(con.execute("SELECT coalesce(max(wave_id), 0) + 1 FROM waves").fetchone()[0]) if taken else int(old_id)
        others = ", ".join(c for c in _WAVE_COLS if c != "wave_id")
        con.execute(f"INSERT INTO waves (wave_id, {others}) SELECT ?, {others} FROM trash_waves WHERE trash_id = ?",
                    [wid, tid])
        for table, tcols in _WAVE_TABLES.items():
            rest = ", ".join(c for c in tcols if c != "wave_id")
            con.execute(f"INSERT INTO {table} (wave_id, {rest}) SELECT ?, {rest} FROM trash_{table} WHERE trash_id = ?",
                        [wid, tid])
            con.execute(f"DELETE FROM trash_{table} WHERE trash_id = ?", [tid])
        con.execute("DELETE FROM trash_waves WHERE trash_id = ?", [tid])
        reorder_waves(con)
        bump_version(con)
    return int(n)


def purge_trash(con, older_than_days: float | None = None) -> list[str]:
    """Delete trashed waves for good (all, or those deleted more than ``older_than_days`` days ago);
    returns their labels."""
    where, params = _older_than(older_than_days)
    with transaction(con):
        rows = con.execute(f"SELECT trash_id, label FROM trash_waves{where} ORDER BY trash_id", params).fetchall()
        ids = [int(r[0]) for r in rows]
        if ids:
            for table in ("trash_texts", "trash_answers", "trash_segments", "trash_respondents", "trash_wave_items",
                          "trash_waves"):
                con.execute(f"DELETE FROM {table} WHERE trash_id IN (SELECT unnest(?))", [ids])
    return [str(r[1]) for r in rows]


def _older_than(older_than_days: float | None) -> tuple[str, list]:
    """The WHERE clause and parameters of a purge: everything, or what was deleted more than N days ago."""
    if older_than_days is None:
        return "", []
    if older_than_days < 0:
        raise StoreError("--older-than must be zero or more days")
    return " WHERE deleted_at < ?", [_now() - timedelta(days=float(older_than_days))]


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


# --------------------------------------------------------------------------- mystery-shopping audits
AUDIT_COLUMNS = ["period", "outlet", "category", "possible", "obtained", "note", "region"]


def load_audits(con) -> pd.DataFrame:
    """Every stored audit row: period (ordered categorical in import order), outlet, category, possible, obtained,
    note, region; empty (same columns) when the store has no audits or predates schema 4."""
    order = audit_period_labels(con)
    if not order:
        df = pd.DataFrame({c: pd.Series(dtype=float if c in ("possible", "obtained") else object)
                           for c in AUDIT_COLUMNS})
    else:
        df = con.execute("""SELECT p.label AS period, a.outlet, a.category, a.possible, a.obtained, a.note, a.region
                            FROM audits a JOIN audit_periods p USING (period_id)
                            ORDER BY p.ordinal, a.outlet, a.category""").df()
        for c in ("outlet", "category", "note", "region"):
            df[c] = df[c].astype(object).where(df[c].notna(), None)
    df["period"] = pd.Categorical(df["period"].astype(object), categories=order, ordered=True)
    return df


def list_audit_periods(con) -> pd.DataFrame:
    """Audit periods in import order: label, source_file, sha256, imported_at, imported_by, rows, outlets."""
    cols = ["label", "source_file", "sha256", "imported_at", "imported_by", "rows", "outlets"]
    if not _has_table(con, "audit_periods"):
        return pd.DataFrame(columns=cols)
    return con.execute("""SELECT p.label, p.source_file, p.sha256, p.imported_at, p.imported_by,
                                 count(a.outlet) AS rows, count(DISTINCT a.outlet) AS outlets
                          FROM audit_periods p LEFT JOIN audits a USING (period_id)
                          GROUP BY p.label, p.source_file, p.sha256, p.imported_at, p.imported_by, p.ordinal
                          ORDER BY p.ordinal""").df()[cols]


def audit_period_labels(con) -> list[str]:
    if not _has_table(con, "audit_periods"):
        return []
    return [r[0] for r in con.execute("SELECT label FROM audit_periods ORDER BY ordinal").fetchall()]


def audit_outlets(con) -> list[str]:
    """Outlets of every stored audit period (the "known outlets" a new file is checked against)."""
    if not _has_table(con, "audits"):
        return []
    return sorted(r[0] for r in con.execute("SELECT DISTINCT outlet FROM audits").fetchall())


def write_audit_period(con, label: str, rows: pd.DataFrame, *, source_file: str | None = None,
                       sha256: str | None = None, by: str | None = None, replace: bool = False) -> int | None:
    """Store one audit period (call inside :func:`writing`; ``rows``: outlet, category, possible, obtained, note,
    region, already validated by :mod:`csi.data.audit`). An existing label is refused unless ``replace``, which
    moves that period to the trash (deleted by ``by``; :func:`restore_audit_period` with ``replace`` brings it
    back) and puts the new rows in its place in the order, in the same transaction. Returns the trash id of the
    replaced period, None when nothing was replaced."""
    label = validate_label(label)
    with transaction(con):
        row = con.execute("SELECT period_id, ordinal FROM audit_periods WHERE label = ?", [label]).fetchone()
        if row and not replace:
            raise StoreError(f"an audit period labelled {label!r} already exists; use --replace to replace it")
        trashed = None
        if row:
            pid, ordinal = int(row[0]), int(row[1])
            trashed = _trash_audit_period(con, pid, by)[0]
        else:
            pid, ordinal = (int(v) for v in con.execute(
                "SELECT coalesce(max(period_id), 0) + 1, coalesce(max(ordinal), 0) + 1 FROM audit_periods").fetchone())
        con.execute("INSERT INTO audit_periods VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [pid, label, source_file, sha256, _now(), by, ordinal])
        df = pd.DataFrame({"outlet": rows["outlet"].astype(str).to_numpy(),
                           "category": rows["category"].astype(str).to_numpy(),
                           "possible": rows["possible"].to_numpy(float), "obtained": rows["obtained"].to_numpy(float),
                           **{c: [None if v is None or v != v or v == "" else str(v)
                                  for v in (rows[c] if c in rows.columns else [None] * len(rows))]
                              for c in ("note", "region")}})
        con.register("_audit_rows", df)
        try:
            con.execute("INSERT INTO audits SELECT ?, outlet, category, possible, obtained, note, region "
                        "FROM _audit_rows", [pid])
        finally:
            con.unregister("_audit_rows")
        bump_version(con)
    return trashed


_PERIOD_COLS = ["period_id", "label", "source_file", "sha256", "imported_at", "imported_by", "ordinal"]
_AUDIT_ROW_COLS = ["period_id", "outlet", "category", "possible", "obtained", "note", "region"]


def _trash_audit_period(con, pid: int, by: str | None) -> tuple[int, int]:
    """Move audit period ``pid`` and its rows to the trash, deleted by ``by`` now (inside a transaction of the
    caller); returns its trash id and the rows moved."""
    n = int(con.execute("SELECT count(*) FROM audits WHERE period_id = ?", [pid]).fetchone()[0])
    tid = int(con.execute("SELECT coalesce(max(trash_id), 0) + 1 FROM trash_audit_periods").fetchone()[0])
    cols, rows = ", ".join(_PERIOD_COLS), ", ".join(_AUDIT_ROW_COLS)
    con.execute(f"INSERT INTO trash_audit_periods (trash_id, deleted_at, deleted_by, {cols}) "
                f"SELECT ?, ?, ?, {cols} FROM audit_periods WHERE period_id = ?", [tid, _now(), by, pid])
    con.execute(f"INSERT INTO trash_audits (trash_id, {rows}) SELECT ?, {rows} FROM audits WHERE period_id = ?",
                [tid, pid])
    con.execute("DELETE FROM audits WHERE period_id = ?", [pid])
    con.execute("DELETE FROM audit_periods WHERE period_id = ?", [pid])
    return tid, n


def delete_audit_period(con, label: str, by: str | None = None) -> int:
    """Move an audit period and its rows to the trash (call inside :func:`writing`, which audits it;
    :func:`restore_audit_period` brings it back); returns the rows moved."""
    known = audit_period_labels(con)
    if label not in known:
        raise StoreError(f"no audit period labelled {label!r} (periods: {', '.join(known) or 'none'})")
    with transaction(con):
        pid = int(con.execute("SELECT period_id FROM audit_periods WHERE label = ?", [label]).fetchone()[0])
        n = _trash_audit_period(con, pid, by)[1]
        bump_version(con)
    return n


def list_audit_trash(con) -> pd.DataFrame:
    """Deleted audit periods, newest first: label, deleted_by, deleted_at (UTC), rows, outlets, source_file,
    trash_id (empty, same columns, on a store before schema 6)."""
    cols = ["label", "deleted_by", "deleted_at", "rows", "outlets", "source_file", "trash_id"]
    if not _has_table(con, "trash_audit_periods"):
        return pd.DataFrame(columns=cols)
    return con.execute("""SELECT p.label, p.deleted_by, p.deleted_at, count(a.outlet) AS rows,
                                 count(DISTINCT a.outlet) AS outlets, p.source_file, p.trash_id
                          FROM trash_audit_periods p LEFT JOIN trash_audits a USING (trash_id)
                          GROUP BY ALL ORDER BY p.deleted_at DESC, p.trash_id DESC""").df()[cols]


def list_trash_all(con) -> pd.DataFrame:
    """Everything in the trash, newest first: kind (``wave`` or ``audit period``), label, deleted_by,
    deleted_at (UTC), n (respondents of a wave, rows of an audit period), trash_id (per kind)."""
    cols = ["kind", "label", "deleted_by", "deleted_at", "n", "trash_id"]
    parts = [f.rename(columns={"n_respondents": "n", "rows": "n"}).assign(kind=kind)[cols]
             for kind, f in (("wave", list_trash(con)), ("audit period", list_audit_trash(con))) if len(f)]
    if not parts:
        return pd.DataFrame(columns=cols)
    out = pd.concat(parts, ignore_index=True)
    out["deleted_at"] = pd.to_datetime(out["deleted_at"])
    return out.sort_values(["deleted_at", "trash_id"], ascending=False, kind="stable").reset_index(drop=True)


def restore_audit_period(con, label: str, trash_id: int | None = None, *, replace: bool = False,
                         by: str | None = None) -> int:
    """Bring a deleted audit period back from the trash with identical rows (its most recent deletion when the
    label was deleted more than once; ``trash_id`` picks another), in its place in the period order (its old
    ordinal; a period imported meanwhile with the same ordinal comes after it). When a period of that label
    exists now it is refused with a clear message, unless ``replace``: then the current period goes to the
    trash (deleted by ``by``) in the same transaction, so a second restore with ``replace`` swaps them back
    (the undo of ``ingest-audit --replace``). Returns the rows restored."""
    with transaction(con):
        has = _has_table(con, "trash_audit_periods")
        if trash_id is None and has:
            row = con.execute("SELECT max(trash_id) FROM trash_audit_periods WHERE label = ?", [label]).fetchone()
            trash_id = row[0] if row else None
        if trash_id is None or not has or not con.execute(
                "SELECT count(*) FROM trash_audit_periods WHERE trash_id = ? AND label = ?",
                [int(trash_id), label]).fetchone()[0]:
            known = ", ".join(r[0] for r in con.execute(
                "SELECT DISTINCT label FROM trash_audit_periods ORDER BY 1").fetchall()) if has else ""
            raise StoreError(f"no audit period labelled {label!r} in the trash (trashed periods: {known or 'none'})")
        tid = int(trash_id)
        current = con.execute("SELECT period_id FROM audit_periods WHERE label = ?", [label]).fetchone()
        if current and not replace:
            raise StoreError(f"cannot restore audit period {label!r}: a period with that label exists now "
                             "(imported after the deletion); nothing restored (restore-audit --replace moves the "
                             "current one to the trash and brings this one back)")
        if current:
            _trash_audit_period(con, int(current[0]), by)
        old_id = int(con.execute("SELECT period_id FROM trash_audit_periods WHERE trash_id = ?", [tid]).fetchone()[0])
        taken = con.execute("SELECT count(*) FROM audit_periods WHERE period_id = ?", [old_id]).fetchone()[0]
        pid = int(con.execute("SELECT coalesce(max(period_id), 0) + 1 FROM audit_periods").fetchone()[0]) \
            if taken else old_id
        others = ", ".join(c for c in _PERIOD_COLS if c != "period_id")
        rest = ", ".join(c for c in _AUDIT_ROW_COLS if c != "period_id")
        con.execute(f"INSERT INTO audit_periods (period_id, {others}) SELECT ?, {others} FROM trash_audit_periods "
                    "WHERE trash_id = ?", [pid, tid])
        con.execute(f"INSERT INTO audits (period_id, {rest}) SELECT ?, {rest} FROM trash_audits WHERE trash_id = ?",
                    [pid, tid])
        n = int(con.execute("SELECT count(*) FROM trash_audits WHERE trash_id = ?", [tid]).fetchone()[0])
        con.execute("DELETE FROM trash_audits WHERE trash_id = ?", [tid])
        con.execute("DELETE FROM trash_audit_periods WHERE trash_id = ?", [tid])
        # ties (a period imported meanwhile took the old ordinal): the earlier import first; gaps closed
        con.execute("""UPDATE audit_periods SET ordinal = o.rn FROM (
                           SELECT period_id, row_number() OVER (ORDER BY ordinal, imported_at, period_id) AS rn
                           FROM audit_periods) o
                       WHERE audit_periods.period_id = o.period_id AND audit_periods.ordinal <> o.rn""")
        bump_version(con)
    return n


def purge_audit_trash(con, older_than_days: float | None = None) -> list[str]:
    """Delete trashed audit periods for good (all, or those deleted more than ``older_than_days`` days ago);
    returns their labels."""
    if not _has_table(con, "trash_audit_periods"):
        _older_than(older_than_days)  # the same check of the argument
        return []
    where, params = _older_than(older_than_days)
    with transaction(con):
        rows = con.execute(f"SELECT trash_id, label FROM trash_audit_periods{where} ORDER BY trash_id",
                           params).fetchall()
        ids = [int(r[0]) for r in rows]
        if ids:
            for table in ("trash_audits", "trash_audit_periods"):
                con.execute(f"DELETE FROM {table} WHERE trash_id IN (SELECT unnest(?))", [ids])
    return [str(r[1]) for r in rows]


# --------------------------------------------------------------------------- reading data
def _names(con, table: str, waves: Sequence[str] | None) -> list[str]:
    """The distinct ``name`` values of a long table (``segments``, ``texts``) in the waves, sorted."""
    sql = f"SELECT DISTINCT x.name FROM {table} x JOIN waves w USING (wave_id)"
    params: list = []
    if waves:
        sql += " WHERE w.label IN (SELECT unnest(?))"
        params.append(list(waves))
    return sorted(r[0] for r in con.execute(sql, params).fetchall())


def segment_columns(con, waves: Sequence[str] | None = None) -> list[str]:
    return _names(con, "segments", waves)


def segment_values(con, name: str, waves: Sequence[str] | None = None, *, recode: bool = True) -> list[str]:
    """Distinct values of segment ``name``; with ``recode`` (default) as the analyst merged them (the setting
    ``segment_recodes``, :mod:`csi.data.recodes`), else as stored."""
    sql = "SELECT DISTINCT s.value FROM segments s JOIN waves w USING (wave_id) WHERE s.name = ? AND s.value IS NOT NULL"
    params: list = [name]
    if waves:
        sql += " AND w.label IN (SELECT unnest(?))"
        params.append(list(waves))
    values = sorted(r[0] for r in con.execute(sql, params).fetchall())
    if recode:
        from csi.data import recodes

        values = recodes.recode_values(name, values, segment_recodes(con))
    return values


def segment_recodes(con) -> dict[str, dict[str, str]]:
    """The analyst's merged segment values ``{segment: {from: to}}`` (setting ``segment_recodes``; ``{}``)."""
    from csi.data import recodes

    return recodes.parse_recodes(get_setting(con, recodes.SETTING_KEY))


def text_columns(con, waves: Sequence[str] | None = None) -> list[str]:
    """Names of the open-text columns stored (verbatims), sorted; [] for a store older than schema 5."""
    return _names(con, "texts", waves) if _has_table(con, "texts") else []


def like_pattern(term: str) -> str:
    """``%term%`` for ``LIKE/ILIKE ... ESCAPE '\\'``: the user's ``%``, ``_`` and backslash match literally."""
    esc = str(term).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{esc}%"


TEXT_COLUMNS = ["wave", "respondent_id", "resp_key", "name", "value"]


def load_texts(con, waves: Sequence[str] | None = None, names: Sequence[str] | None = None,
               search: str | None = None) -> pd.DataFrame:
    """Open-text answers: ``wave`` (label), ``respondent_id``, ``resp_key``, ``name`` (the column), ``value``
    (the text as answered), in wave order, then respondent, then column. ``search``: case-insensitive substring
    (ILIKE, bound parameter; ``%`` and ``_`` are literal); Chinese matches as a plain substring. A store older
    than schema 5 has none (an empty frame)."""
    if not _has_table(con, "texts"):
        return pd.DataFrame({c: pd.Series(dtype="int32" if c == "resp_key" else object) for c in TEXT_COLUMNS})
    where, params = ["1=1"], []
    if waves is not None:
        where.append("w.label IN (SELECT unnest(?))")
        params.append([str(w) for w in waves])
    if names is not None:
        where.append("t.name IN (SELECT unnest(?))")
        params.append([str(n) for n in names])
    if search is not None and str(search).strip():
        where.append("t.value ILIKE ? ESCAPE '\\'")
        params.append(like_pattern(str(search).strip()))
    df = con.execute(f"""SELECT w.label AS wave, r.respondent_id, t.resp_key, t.name, t.value
                         FROM texts t JOIN waves w USING (wave_id)
                         JOIN respondents r ON r.wave_id = t.wave_id AND r.resp_key = t.resp_key
                         WHERE {' AND '.join(where)} ORDER BY w.ordinal, t.resp_key, t.name""", params).df()
    for c in ("wave", "respondent_id", "name", "value"):
        df[c] = df[c].astype(object)
    return df[TEXT_COLUMNS]


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
    *,
    recode: bool = True,
) -> pd.DataFrame:
    """One row per respondent of the selected waves and segments.

    Columns: ``wave`` (ordered categorical in wave order), ``respondent_id``, every segment column present in
    the selection (text, except the survey weight :data:`WEIGHT_SEGMENT`, float64 with NaN = no weight), then
    every item (float, NaN = missing), items in dictionary order.
    ``segments`` maps a column to one value or several (OR within a column, AND across columns); a list of
    ``(column, value)`` pairs as the CLI's ``--segment`` gives is accepted too.
    ``recode`` (default): segment values as the analyst merged them (setting ``segment_recodes``, applied here,
    the one place analyses read responses; ``segments`` filters name merged values); False: as stored (raw export).
    """
    all_labels = wave_labels(con)
    mapping = segment_recodes(con) if recode else {}
    if waves:
        unknown = [w for w in waves if w not in all_labels]
        if unknown:
            raise StoreError(f"unknown wave{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))} "
                             f"(waves: {', '.join(all_labels) or 'none'})")
    filters = _segment_filters(segments)
    if mapping:
        from csi.data.recodes import stored_values_for

        filters = {name: stored_values_for(name, values, mapping) for name, values in filters.items()}
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
    if mapping:
        from csi.data.recodes import recode_frame

        recode_frame(out, mapping)
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



# --------------------------------------------------------------------------- backup
def file_sha256(path: str | os.PathLike) -> str:
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def backup(path: str | os.PathLike, folder: str | os.PathLike) -> dict:
    """Copy the current version of the store ``path`` into ``folder`` (consistent while dashboards and
    writers run: a published version never changes) with a manifest ``<copy>.json`` (version, sha256,
    schema, waves, data_version, time). A legacy single-file store is copied under the writers' lock.
    Returns the manifest, with ``file`` and ``manifest`` naming the two files written."""
    path, folder = Path(path), Path(folder)
    if not path.exists():
        raise StoreError(f"database {path.name} does not exist")
    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    version = current_version(path) or 0
    out = folder / f"{path.stem}-v{version:06d}-{stamp}.duckdb"
    tmp = folder / f".{out.name}.tmp-{os.getpid()}"
    try:
        if version:
            shutil.copyfile(version_file(path), tmp)
        else:  # legacy: no writer of ours may change it meanwhile; fold a pending WAL into the copy
            with write_lock(path, default_actor(), "backup"):
                shutil.copyfile(path, tmp)
                wal = path.with_name(path.name + ".wal")
                if wal.exists():
                    shutil.copyfile(wal, tmp.with_name(tmp.name + ".wal"))
                c = duckdb.connect(str(tmp))
                c.execute("CHECKPOINT")
                c.close()
                _remove(tmp.with_name(tmp.name + ".wal"))
        con = duckdb.connect(str(tmp), read_only=True)
        try:
            manifest = {"database": path.name, "version": version, "schema": _schema_version(con),
                        "data_version": data_version(con), "waves": wave_labels(con),
                        "created_utc": stamp}
        finally:
            con.close()
        manifest["sha256"] = file_sha256(tmp)
        manifest["file"] = out.name
        _fsync(tmp)
        os.replace(tmp, out)
        man = out.with_name(out.name + ".json")
        man.write_text(json.dumps(manifest, indent=2, ensure_ascii=False), encoding="utf-8")
        _fsync(folder, directory=True)
    finally:
        _remove(tmp)
    return {**manifest, "manifest": man.name}


def restore_backup(file: str | os.PathLike, path: str | os.PathLike, *, actor: str | None = None,
                   timeout: float | None = None) -> dict:
    """Make the backup ``file`` the current version of the store ``path`` (an ordinary audited write: the
    version it replaces stays in ``NAME.versions/`` until pruned). The manifest beside it, when present,
    must match the file's SHA-256. Returns the manifest (or what is known of the file)."""
    file, path = Path(file), Path(path)
    if not file.is_file():
        raise StoreError(f"backup {file.name} does not exist")
    sha = file_sha256(file)
    man = file.with_name(file.name + ".json")
    manifest = {}
    if man.exists():
        try:
            manifest = json.loads(man.read_text(encoding="utf-8"))
        except ValueError:
            raise StoreError(f"the manifest {man.name} is not valid JSON") from None
        if manifest.get("sha256") != sha:
            raise StoreError(f"backup {file.name} does not match its manifest (SHA-256 differs): damaged or altered")
    try:
        probe = duckdb.connect(str(file), read_only=True)
        probe.close()
    except duckdb.Error as e:
        from csi.errors import quiet

        raise quiet(StoreError(f"backup {file.name} is not a database this program can read"), e) from None
    detail = {"file": file.name, "sha256": sha, "version": manifest.get("version")}
    with writing(path, actor=actor, action="restore-backup", detail=detail, timeout=timeout, base=file) as con:
        detail["waves"] = wave_labels(con)
    return {**manifest, "sha256": sha, "waves": detail["waves"]}
