"""A content-keyed store of reduced group fits that workers, the command line and the dashboard share.

A folder (a shared file system or a mounted bucket in a cluster; see docs/SCALE.md) of plain files, no
pickles, so a dashboard may read a store written by cluster workers::

    ROOT/ab/abcdef....json            labels, group key, n, seed (written last: its presence = complete)
    ROOT/ab/abcdef....index.parquet   the group's index table (construct, index, ci_low, ci_high, n, ...)
    ROOT/ab/abcdef....draws.parquet   its bootstrap index draws (B x constructs), when it has them

The key is :func:`csi.runtime.cache.cache_key` of everything that determines the fit (data content hash,
model syntax, settings, group, resamples, group seed, scales, code fingerprint), so a changed input or a
new release never serves an old result. Files are written to a temporary name and moved into place, so a
reader never sees half a result; two workers writing the same key write the same content.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Iterator

import pandas as pd

__all__ = ["ResultStore"]


class ResultStore:
    """``put(key, fit)`` / ``get(key)`` of reduced :class:`csi.compare.groups.GroupFit` objects."""

    def __init__(self, root: str | os.PathLike, shared: bool = True):
        self.root = Path(root)
        self.shared = bool(shared)  # workers reach the same folder (one machine, NFS, a mounted bucket)
        self.root.mkdir(parents=True, exist_ok=True)

    def _base(self, key: str) -> Path:
        if len(key) != 64 or any(c not in "0123456789abcdef" for c in key):
            raise ValueError(f"not a result key: {key!r}")
        return self.root / key[:2] / key

    def __contains__(self, key: str) -> bool:
        return self._base(key).with_suffix(".json").is_file()

    def keys(self) -> Iterator[str]:
        for p in sorted(self.root.glob("??/*.json")):
            yield p.stem

    def _write(self, path: Path, write) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        os.close(fd)
        try:
            write(tmp)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    def put(self, key: str, fit) -> None:
        base = self._base(key)
        self._write(base.with_suffix(".index.parquet"), lambda t: fit.index.to_parquet(t))
        if fit.index_draws is not None:
            self._write(base.with_suffix(".draws.parquet"), lambda t: fit.index_draws.to_parquet(t))
        meta = {"key": list(fit.key), "labels": dict(fit.labels), "n": int(fit.n),
                "seed": None if fit.seed is None else int(fit.seed), "draws": fit.index_draws is not None}
        self._write(base.with_suffix(".json"),
                    lambda t: Path(t).write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8"))

    def get(self, key: str):
        """The reduced fit stored under ``key``, or None (missing or unreadable: a miss, never an error)."""
        from csi.compare.groups import GroupFit

        base = self._base(key)
        try:
            meta = json.loads(base.with_suffix(".json").read_text(encoding="utf-8"))
            index = pd.read_parquet(base.with_suffix(".index.parquet"))
            draws = pd.read_parquet(base.with_suffix(".draws.parquet")) if meta.get("draws") else None
        except (OSError, ValueError):
            return None
        return GroupFit(key=tuple(meta["key"]), labels=dict(meta["labels"]), n=int(meta["n"]), index=index,
                        index_draws=draws, seed=meta.get("seed"))

    def table(self) -> pd.DataFrame:
        """Every stored group's index table, labelled: the dashboard's view of the store."""
        frames = []
        for k in self.keys():
            fit = self.get(k)
            if fit is None:
                continue
            t = fit.index.copy()
            for i, (col, val) in enumerate(fit.labels.items()):
                t.insert(i, col, val)
            t.insert(0, "result_key", k)
            frames.append(t)
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["result_key"])
