"""Published waves as a partitioned Parquet dataset: the input cluster workers read for themselves.

``python -m csi publish DIR --db PATH`` writes one Parquet file per wave x industry x company (wave x brand
without an industry segment; ``--by wave``: one per wave) and ``DIR/dataset.json``, the manifest::

    DIR/wave=2025Q1/industry=Airlines/brand=Airlines%20A/part-0.parquet
    DIR/dataset.json   {data_version, columns, by, scales, partitions: [{filter, path, rows, sha256, ...}]}

Values in paths are percent-encoded (hive style). Rows keep the store's order and dtypes
(:func:`csi.data.store.load_responses`: segments as text, the weight and the items as float64), so a
worker that reads its partition fits exactly the rows the caller would have shipped. Each partition's
SHA-256 is in the manifest: result keys use it, so republishing unchanged data reuses every result.
Files are written under a temporary folder and the manifest last, so a reader never sees half a dataset.
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Mapping, Sequence
from urllib.parse import quote

import pandas as pd

from csi.errors import DataError

MANIFEST = "dataset.json"
__all__ = ["publish", "manifest", "read_partition", "partitions", "MANIFEST"]


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def publish(db, out: str | os.PathLike, by: str = "company") -> dict:
    """Write the store ``db`` (path or connection) as a dataset in ``out``; returns the manifest."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from csi.data import store

    own = not hasattr(db, "execute")
    con = store.connect(db, read_only=True) if own else db
    try:
        waves = store.wave_labels(con)
        if not waves:
            raise DataError("the store has no waves to publish")
        scales = store.wave_scales(con)
        version = int(store.data_version(con))
        brand_col = store.get_setting(con, "brand_column") or "brand"
        out = Path(out)
        if out.exists() and not (out / MANIFEST).is_file() and any(out.iterdir()):
            raise DataError(f"{out.name} exists and is not a published dataset; choose an empty folder")
        tmp = out.with_name(f".{out.name}.publishing-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        parts, columns = [], None
        for wave in waves:
            frame = store.load_responses(con, waves=[wave])
            frame["wave"] = frame["wave"].astype(str)
            keys = ["wave"]
            if by == "company" and brand_col in frame.columns:
                keys += (["industry"] if "industry" in frame.columns else []) + [brand_col]
            columns = columns or [str(c) for c in frame.columns]
            for key, sub in frame.groupby(keys, sort=True, observed=True, dropna=False):
                key = key if isinstance(key, tuple) else (key,)
                filt = {k: str(v) for k, v in zip(keys, key)}
                rel = Path(*[f"{k}={quote(v, safe='')}" for k, v in filt.items()], "part-0.parquet")
                path = tmp / rel
                path.parent.mkdir(parents=True, exist_ok=True)
                pq.write_table(pa.Table.from_pandas(sub.reset_index(drop=True), preserve_index=False), path)
                entry = {"filter": filt, "path": rel.as_posix(), "rows": int(len(sub)), "sha256": _sha256(path),
                         "bytes": path.stat().st_size}
                if "market_share" in sub.columns:
                    share = pd.to_numeric(sub["market_share"], errors="coerce")
                    entry["market_share"] = float(share.iloc[0]) if share.notna().all() and share.nunique() == 1 \
                        else None
                parts.append(entry)
        man = {"format": "csi-dataset/1", "data_version": version, "brand_column": brand_col, "by": by,
               "columns": columns, "scales": scales.assign(wave=scales["wave"].astype(str)).to_dict("records"),
               "partitions": parts}
        (tmp / MANIFEST).write_text(json.dumps(man, ensure_ascii=False, indent=1), encoding="utf-8")
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        if out.exists():
            os.replace(out, old)
        os.replace(tmp, out)
        shutil.rmtree(old, ignore_errors=True)
        return man
    finally:
        if own:
            con.close()


def manifest(dataset: str | os.PathLike) -> dict:
    """The dataset's manifest (parsed once per process and file version: a worker reads many partitions;
    shared, never mutate it)."""
    path = Path(dataset) / MANIFEST
    try:
        st = path.stat()
    except FileNotFoundError:
        raise DataError(f"{Path(dataset).name} is not a published dataset (no {MANIFEST}; "
                        "create one with: python -m csi publish DIR --db PATH)") from None
    return _manifest(str(path.resolve()), st.st_mtime_ns, st.st_size, st.st_ino)


@functools.lru_cache(maxsize=8)
def _manifest(path: str, mtime_ns: int, size: int, inode: int) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def partitions(dataset: str | os.PathLike, **match: str | Sequence[str]) -> list[dict]:
    """Manifest entries whose filter matches ``match`` (column -> value or values)."""
    want = {k: {v} if isinstance(v, str) else {str(x) for x in v} for k, v in match.items() if v is not None}
    return [p for p in manifest(dataset)["partitions"]
            if all(str(p["filter"].get(k)) in vals for k, vals in want.items())]


def read_partition(dataset: str | os.PathLike, filt: Mapping[str, str],
                   columns: Sequence[str] | None = None) -> pd.DataFrame:
    """The rows of the partition ``filt`` names (exactly its filter), only ``columns`` when given."""
    import pyarrow.parquet as pq

    hits = [p for p in manifest(dataset)["partitions"] if p["filter"] == dict(filt)]
    if not hits:
        raise DataError(f"no partition {dict(filt)} in the dataset")
    table = pq.read_table(Path(dataset) / hits[0]["path"], columns=list(columns) if columns else None)
    return table.to_pandas()


def run_cli(args) -> int:
    """``python -m csi publish DIR --db PATH``."""
    from csi.cli.main import default_db

    db = Path(args.db) if args.db is not None else default_db()
    if not db.exists():
        raise DataError(f"database {db.name!r} not found")
    man = publish(db, args.dir, by=args.by)
    rows = sum(p["rows"] for p in man["partitions"])
    size = sum(p["bytes"] for p in man["partitions"])
    print(f"published {rows:,} respondents in {len(man['partitions'])} partitions ({size / 1e6:.1f} MB) to "
          f"{args.dir} (data version {man['data_version']})")
    return 0
