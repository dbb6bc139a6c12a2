"""``python -m csi ingest-inbox DIR``: move every survey file dropped into an inbox folder into the store.

Meant for a scheduled job (``compose.yaml``'s ``ingest`` service, cron, a systemd timer):

* **Which files**: every regular file of ``DIR`` (not its sub-folders) whose suffix ``ingest`` reads
  (CSV/TSV/TXT, XLSX, SAV). Hidden files (``.name``), ``*.part``/``*.tmp`` and files changed during
  the last ``--settle`` seconds (still being copied) are left for a later run. Files go in name order.
* **Wave label**: from a sidecar ``NAME.json`` beside the file (``{"wave": "2026Q1"}``, optionally
  ``scale`` "1-10", ``missing``, ``field_start``, ``field_end``, ``require_all_items``, ``keep_columns``),
  else from the file name (``--pattern``: a regular expression with a group ``wave``; the default
  finds ``2026Q1``, ``2026-Q1``, ``2026_H2``, ``2026-03`` and gives ``2026Q1``, ``2026Q1``, ``2026H2``,
  ``2026-03``). A file with neither is rejected.
* **All or nothing**: each file is one ``ingest`` (one transaction); on any error nothing of it is
  written. A file whose exact bytes are already stored (same SHA-256, e.g. after a crash between the
  commit and the move) is archived without a second write.
* **Afterwards**: an accepted file (and its sidecar) moves to ``--archive`` (default ``DIR/archive``);
  a rejected one moves to ``--failed`` (default ``DIR/failed``) with ``NAME.reasons.txt`` listing every
  reason. When the store is busy (another writer holds it past its bounded wait) the file stays in
  the inbox for the next run; so does every file when another ``ingest-inbox`` is working on ``DIR``.
* **Exit code** (of the whole command, every run of ``--every`` included): 0 when nothing was rejected
  and nothing had to wait, 2 when at least one file was rejected, 3 when none was rejected but at
  least one stayed for a retry (store busy, or the inbox locked by another run).
* **Loop**: ``--every SECONDS`` repeats the scan; ``--max-runs N`` stops after N scans (tests,
  one-shot schedulers). Without ``--every`` it scans once.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import signal
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from csi.errors import CSIError, InputError, StoreError, public_message, public_text

# The default file-name pattern: a year and a quarter, half or month, separated or not.
DEFAULT_PATTERN = r"(?<![0-9])(?P<year>(?:19|20)[0-9]{2})[-_ ]?(?P<period>[Qq][1-4]|[Hh][12]|(?:0[1-9]|1[0-2]))(?![0-9])"
SIDECAR_KEYS = frozenset({"wave", "scale", "missing", "field_start", "field_end", "require_all_items",
                          "keep_columns"})
LOCK_NAME = ".ingest-inbox.lock"
EXIT_OK, EXIT_REJECTED, EXIT_RETRY = 0, 2, 3


@dataclass
class RunSummary:
    """What one scan of the inbox did; ``name -> detail`` for each outcome."""
    accepted: dict[str, str] = field(default_factory=dict)
    rejected: dict[str, list[str]] = field(default_factory=dict)
    waiting: dict[str, str] = field(default_factory=dict)
    locked: bool = False

    def exit_code(self) -> int:
        if self.rejected:
            return EXIT_REJECTED
        if self.waiting or self.locked:
            return EXIT_RETRY
        return EXIT_OK


def survey_suffixes() -> frozenset[str]:
    from csi.data import ingest

    return frozenset(ingest._SUFFIXES)  # the formats `ingest` reads (one list, owned by ingest)


def wave_from_name(name: str, pattern: str | None = None) -> str | None:
    """The wave label a file name carries, or None. A custom ``pattern`` must have a group ``wave``;
    the default's year and period are joined (``2026-q1`` → ``2026Q1``; a month stays ``2026-03``)."""
    stem = Path(name).stem
    if pattern:
        m = re.search(pattern, stem)
        return m.group("wave") if m and m.group("wave") else None
    m = re.search(DEFAULT_PATTERN, stem)
    if not m:
        return None
    period = m.group("period").upper()
    return f"{m.group('year')}{period}" if period[0] in "QH" else f"{m.group('year')}-{period}"


def read_sidecar(path: Path) -> dict | None:
    """``NAME.json`` beside ``NAME.csv``: the ingest options; None when absent. Raises ValueError for a
    sidecar that is not a JSON object of known keys."""
    side = path.with_suffix(".json")
    if not side.is_file():
        return None
    try:
        data = json.loads(side.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"sidecar {side.name} is not readable JSON ({type(e).__name__})") from None
    if not isinstance(data, dict):
        raise ValueError(f"sidecar {side.name} must hold a JSON object")
    unknown = sorted(set(data) - SIDECAR_KEYS)
    if unknown:
        raise ValueError(f"sidecar {side.name} has unknown keys: {', '.join(unknown)} "
                         f"(known: {', '.join(sorted(SIDECAR_KEYS))})")
    return data


def pending_files(inbox: Path, settle: float, now: float | None = None) -> list[Path]:
    """Survey files of ``inbox`` ready to ingest, in name order."""
    now = time.time() if now is None else now
    suffixes = survey_suffixes()
    out = []
    for p in sorted(inbox.iterdir(), key=lambda q: q.name):
        if p.name.startswith(".") or p.suffix.lower() not in suffixes or not p.is_file():
            continue
        try:
            if now - p.stat().st_mtime < settle:
                continue  # still being written
        except OSError:
            continue
        out.append(p)
    return out


def _move(src: Path, folder: Path) -> Path:
    """Move ``src`` into ``folder`` without overwriting: a taken name gets a UTC time stamp."""
    folder.mkdir(parents=True, exist_ok=True)
    dest = folder / src.name
    if dest.exists():
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
        dest = folder / f"{src.stem}.{stamp}{src.suffix}"
    os.replace(src, dest) if src.stat().st_dev == folder.stat().st_dev else shutil.move(str(src), str(dest))
    return dest


def _options(args, side: dict | None) -> dict:
    """ingest keywords: the command line's, overridden per file by the sidecar."""
    from csi.cli.main import _scale

    opts = {"scale": args.scale, "missing": args.missing, "require_all_items": args.require_all_items,
            "keep_columns": args.keep_column, "field_start": None, "field_end": None}
    for k, v in (side or {}).items():
        if k == "wave":
            continue
        if k == "scale" and isinstance(v, str):
            try:
                v = _scale(v)
            except Exception:  # noqa: BLE001 - argparse's type error
                raise ValueError(f"sidecar scale must look like MIN-MAX, got {v!r}") from None
        elif k == "scale" and v is not None:
            if not (isinstance(v, list) and len(v) == 2 and all(isinstance(x, (int, float)) for x in v)):
                raise ValueError(f"sidecar scale must be \"MIN-MAX\" or [MIN, MAX], got {v!r}")
            v = (float(v[0]), float(v[1]))
        elif k == "keep_columns" and isinstance(v, str):
            v = [v]
        opts[k] = v
    return opts


def _reasons(e: BaseException) -> list[str]:
    if isinstance(e, InputError):
        errors = [p for p in e.problems if p.severity == "error"]
        ordered = errors + [p for p in e.problems if p.severity != "error"]
        return [f"{p.severity}: {public_message(p)}" for p in ordered]
    if isinstance(e, CSIError):
        return [f"error: {public_text(e)}"]
    return [f"error: {public_message(e)}"]


def stored_waves(db: str | os.PathLike):
    """``store.list_waves`` of the current version of ``db`` (a short read-only connection)."""
    from csi.data import store

    con = store.connect(db, read_only=True)
    try:
        return store.list_waves(con)
    finally:
        con.close()


def wave_sizes(db: str | os.PathLike) -> dict[str, int]:
    """Respondents per stored wave: label -> count."""
    waves = stored_waves(db)
    return {str(k): int(v) for k, v in zip(waves["label"], waves["n_respondents"])}


def _stored_sha(db: Path) -> dict[str, str]:
    """SHA-256 of every stored wave's source file -> the wave's label."""
    if not db.exists():
        return {}
    waves = stored_waves(db)
    return {str(s): str(w) for s, w in zip(waves["sha256"], waves["label"]) if isinstance(s, str)}


def _busy(e: StoreError, db: Path) -> bool:
    """A refusal because another program is writing (worth a retry), not because of the file."""
    from csi.data import store

    text = str(e)
    return f"database {db.name} is busy" in text or text == store.in_use_message(db.name)


def ingest_one(path: Path, db: Path, args) -> tuple[str, object]:
    """One file: ``("accepted", summary)``, ``("rejected", [reasons])`` or ``("waiting", why)``."""
    from csi.data import store
    from csi.data.ingest import ingest_into

    try:
        side = read_sidecar(path)
        wave = (side or {}).get("wave") or wave_from_name(path.name, args.pattern)
        if not wave:
            return "rejected", [f"error: no wave label: add {path.with_suffix('.json').name} with "
                                '{"wave": "LABEL"} or put the label in the file name (e.g. survey_2026Q1.csv)']
        if not isinstance(wave, str):
            return "rejected", [f"error: the sidecar's wave must be a text label, got {wave!r}"]
        opts = _options(args, side)
    except ValueError as e:
        return "rejected", [f"error: {e}"]
    try:
        sha = hashlib.sha256(path.read_bytes()).hexdigest()
        if _stored_sha(db).get(sha) == wave:  # a crash between the commit and the move: done already
            return "accepted", f"already stored as wave {wave!r} (same SHA-256 {sha[:12]}); archived without a second write"
    except StoreError as e:
        return "waiting", public_text(e)
    except OSError as e:
        return "waiting", f"cannot read the file now ({type(e).__name__})"
    try:  # one audited write, published whole or not at all (csi.data.store.writing), bounded wait
        report = ingest_into(db, path, wave, actor=store.default_actor(), **opts)
    except StoreError as e:
        if _busy(e, db):  # another writer held the store past the bounded wait: retry on the next run
            return "waiting", public_text(e)
        return "rejected", _reasons(e)
    except (InputError, ValueError, TypeError) as e:
        return "rejected", _reasons(e)
    return "accepted", report.summary()


def _inbox_lock(inbox: Path):
    """Non-blocking exclusive lock on ``DIR/.ingest-inbox.lock``: one run per inbox at a time."""
    fd = os.open(inbox / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def scan(inbox: Path, db: Path, args, out=sys.stdout) -> RunSummary:
    """One pass over the inbox."""
    summary = RunSummary()
    archive = Path(args.archive) if args.archive else inbox / "archive"
    failed = Path(args.failed) if args.failed else inbox / "failed"
    fd = _inbox_lock(inbox)
    if fd is None:
        summary.locked = True
        print(f"inbox {inbox.name}: another ingest-inbox is working on it; skipped this run", file=out)
        return summary
    try:
        for path in pending_files(inbox, args.settle):
            outcome, detail = ingest_one(path, db, args)
            side = path.with_suffix(".json")
            if outcome == "accepted":
                dest = _move(path, archive)
                if side.is_file():
                    _move(side, archive)
                summary.accepted[path.name] = str(detail)
                print(f"accepted {path.name} -> {archive.name}/{dest.name}: {detail}", file=out)
            elif outcome == "rejected":
                dest = _move(path, failed)
                if side.is_file():
                    _move(side, failed)
                reasons = list(detail)
                (failed / f"{dest.name}.reasons.txt").write_text(
                    f"{path.name} was rejected at {datetime.now(timezone.utc):%Y-%m-%d %H:%M:%S} UTC; "
                    "nothing of it was written.\n" + "\n".join(reasons) + "\n", encoding="utf-8")
                summary.rejected[path.name] = reasons
                print(f"rejected {path.name} -> {failed.name}/{dest.name} ({len(reasons)} reason"
                      f"{'s' if len(reasons) != 1 else ''}; see {dest.name}.reasons.txt)", file=out)
            else:
                summary.waiting[path.name] = str(detail)
                print(f"waiting {path.name}: {detail}; left in the inbox for the next run", file=out)
    finally:
        os.close(fd)
    return summary


def run(args) -> int:
    from csi.cli.main import default_db

    inbox = Path(args.inbox)
    if not inbox.is_dir():
        raise StoreError(f"inbox folder {inbox.name} does not exist")
    db = Path(args.db or default_db())
    if args.every is not None and args.every <= 0:
        raise StoreError("--every must be a positive number of seconds")
    if args.max_runs is not None and args.max_runs < 1:
        raise StoreError("--max-runs must be at least 1")
    runs = args.max_runs if args.max_runs is not None else (1 if args.every is None else None)
    stop = {"now": False}

    def _stop(signum, frame):  # a container stop (SIGTERM) ends the loop after the current file
        stop["now"] = True

    old = signal.signal(signal.SIGTERM, _stop) if args.every is not None else None
    worst, done = EXIT_OK, 0
    try:
        while not stop["now"]:
            summary = scan(inbox, db, args)
            done += 1
            code = summary.exit_code()
            worst = EXIT_REJECTED if EXIT_REJECTED in (worst, code) else max(worst, code)
            if not (summary.accepted or summary.rejected or summary.waiting or summary.locked) and args.every is None:
                print(f"inbox {inbox.name}: nothing to ingest")
            sys.stdout.flush()
            if runs is not None and done >= runs:
                break
            deadline = time.monotonic() + args.every
            while not stop["now"] and time.monotonic() < deadline:
                time.sleep(min(0.5, max(0.0, deadline - time.monotonic())))
    finally:
        if old is not None:
            signal.signal(signal.SIGTERM, old)
    return worst
