"""A small cache of fitted models so nothing is estimated twice.

Keys are SHA-256 digests of a canonical JSON of everything that determines a
fit: the data (a version string from the store or a content hash of the rows),
the model syntax, the settings, the group and the seed. Values live in memory
(LRU, ``max_items``) and, when ``directory`` is given, as pickle files there
(written atomically: a half-written file is never read). Pickles are only ever
read from a directory the product itself writes; do not point it at files from
elsewhere.

The dashboard puts its own cache on top; this one serves the command line,
the benchmark and repeated calls inside one process.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pickle
import tempfile
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["FitCache", "cache_key", "frame_fingerprint", "code_fingerprint"]

_code_fp: str | None = None


def code_fingerprint() -> str:
    """SHA-256 over the source of EVERY module of the package, its version and the versions of the
    numerical dependencies.

    Part of every fit key, so a disk cache written by older code (other formulas, other result classes,
    another numpy) is never served after an update. The whole package is hashed on purpose: a list of
    "modules that matter" goes stale the day a formula moves (the first release's list left out the
    quality criteria and the scales).
    """
    global _code_fp
    if _code_fp is None:
        from csi.runtime.provenance import versions

        root = Path(__file__).resolve().parent.parent
        h = hashlib.sha256(json.dumps(versions(), sort_keys=True).encode())
        for f in sorted(root.rglob("*.py")):
            h.update(f.relative_to(root).as_posix().encode())
            h.update(f.read_bytes())
        _code_fp = h.hexdigest()
    return _code_fp


def _canon(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _canon(v) for k, v in sorted(obj.items(), key=lambda kv: str(kv[0]))}
    if isinstance(obj, (list, tuple)):
        return [_canon(v) for v in obj]
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating,)):
        return float(obj)
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return obj
    return repr(obj)


def cache_key(**parts: Any) -> str:
    """SHA-256 hex digest of the canonical JSON of ``parts`` (order-independent)."""
    text = json.dumps(_canon(parts), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def frame_fingerprint(frame: pd.DataFrame) -> str:
    """SHA-256 of a frame's column names and values (row order matters, index does not)."""
    h = hashlib.sha256()
    h.update(json.dumps([str(c) for c in frame.columns]).encode())
    h.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return h.hexdigest()


class FitCache:
    """In-memory LRU + optional on-disk pickle store, thread-safe; memory holds ``max_items`` fits, the
    folder at most ``max_files`` files and ``max_bytes`` bytes.

    >>> cache = FitCache()              # memory only
    >>> cache = FitCache("out/.cache")  # also persisted between runs
    """

    def __init__(self, directory: str | Path | None = None, max_items: int = 512, max_bytes: int = 2 << 30,
                 max_files: int = 4096):
        self.directory = Path(directory) if directory is not None else None
        self.max_bytes, self.max_files = int(max_bytes), int(max_files)  # caps of the folder; oldest go first
        if self.directory is not None:
            self.directory.mkdir(parents=True, exist_ok=True)
        self.max_items = int(max_items)
        self._mem: OrderedDict[str, Any] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def _path(self, key: str) -> Path:
        assert self.directory is not None
        return self.directory / f"{key}.pkl"

    def get(self, key: str) -> Any | None:
        with self._lock:
            if key in self._mem:
                self._mem.move_to_end(key)
                self.hits += 1
                return self._mem[key]
        if self.directory is not None and self._path(key).is_file():
            try:
                with open(self._path(key), "rb") as fh:
                    value = pickle.load(fh)
            except Exception:  # noqa: BLE001 - a corrupt/old cache file is a miss, never an error
                value = None
            if value is not None:
                with contextlib.suppress(OSError):  # recently used: the size cap removes it last
                    os.utime(self._path(key))
                self._remember(key, value)
                with self._lock:
                    self.hits += 1
                return value
        with self._lock:
            self.misses += 1
        return None

    def put(self, key: str, value: Any) -> None:
        self._remember(key, value)
        if self.directory is not None:
            fd, tmp = tempfile.mkstemp(dir=self.directory, suffix=".tmp")
            try:
                with os.fdopen(fd, "wb") as fh:
                    pickle.dump(value, fh, protocol=pickle.HIGHEST_PROTOCOL)
                os.replace(tmp, self._path(key))
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
            self._trim_disk()

    def _trim_disk(self) -> None:
        """Keep the folder under ``max_bytes`` and ``max_files`` files: least recently written go first."""
        assert self.directory is not None
        files = []
        for f in self.directory.glob("*.pkl"):
            try:
                st = f.stat()
            except OSError:
                continue
            files.append((st.st_mtime, st.st_size, f))
        files.sort()
        total = sum(s for _, s, _ in files)
        while files and (total > self.max_bytes or len(files) > self.max_files):
            _, size, f = files.pop(0)
            f.unlink(missing_ok=True)
            total -= size

    def _remember(self, key: str, value: Any) -> None:
        with self._lock:
            self._mem[key] = value
            self._mem.move_to_end(key)
            while len(self._mem) > self.max_items:
                self._mem.popitem(last=False)

    def __contains__(self, key: str) -> bool:
        with self._lock:
            if key in self._mem:
                return True
        return self.directory is not None and self._path(key).is_file()

    def __len__(self) -> int:
        return len(self._mem)

    def clear(self) -> None:
        with self._lock:
            self._mem.clear()
        if self.directory is not None:
            for p in self.directory.glob("*.pkl"):
                p.unlink(missing_ok=True)
