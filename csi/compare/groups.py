"""Waves, segments, competitors: one model per group, fitted once, compared honestly.

* :func:`estimate_groups` fits the model independently in every group (wave,
  brand, region, …) — in parallel worker processes, each group with its own
  seed derived from ``(seed, group key)`` through ``numpy.random.SeedSequence``
  (stable across processes and runs; Python's ``hash()`` is salted per process
  and never used) — and caches every fit under (data, model syntax, settings,
  group, seed) so nothing is estimated twice.
* :func:`trend`, :func:`wave_change`, :func:`competitor_gap` turn the fits into
  tables. Groups are independent samples, so the bootstrap distribution of a
  difference is the distribution of differences of independent draws
  (draw i of one group minus draw i of the other; the draws are independent,
  so the pairing is arbitrary); the interval is its percentile interval and a
  difference is "significant" when the interval excludes 0.
* Multi-group analysis of path coefficients between two groups:
  :func:`mga_permutation` (Chin & Dibbern 2010: pool the two groups, permute
  group membership, re-estimate, compare |difference| with its permutation
  distribution; p = (#{|d*| ≥ |d|} + 1) / (n_perm + 1)) and
  :func:`mga_bootstrap` (Henseler, Ringle & Sinkovics 2009 PLS-MGA, as in
  seminr's ``estimate_pls_mga``: p₁ = 1 − Σᵢⱼ Θ(2θ̄¹ − θ¹ᵢ − 2θ̄² + θ²ⱼ) / J²
  with θ̄ the bootstrap means and J the common number of draws; p₁ is the
  one-sided probability for "group a's path is NOT larger"; we report the
  two-sided ``p_bootstrap = 2·min(p₁, 1 − p₁)``). :func:`mga` runs both;
  ``significant`` follows the permutation test (distribution-free, exact size),
  at ``alpha``.
"""
from __future__ import annotations

import hashlib
import json
from concurrent.futures import Executor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from csi.runtime.cache import FitCache, cache_key, code_fingerprint, frame_fingerprint
from csi.errors import CSIError, DataError
from csi.analytics.index import check_scales, index_draws, index_scores
from csi.engine.kernel_math import count_moments, cov_to_corr, pair_products, percentile_interval, weighted_moments

__all__ = [
    "GroupFit", "estimate_groups", "estimate_partitions", "group_seed", "trend", "wave_change", "competitor_gap",
    "mga_permutation", "mga_bootstrap", "mga", "henseler_p",
]

GroupKey = tuple  # values of the `by` columns, in `by` order (strings)

VERDICT = {True: ("significant", "显著"), False: ("not significant", "不显著")}


@dataclass(frozen=True)
class GroupFit:
    """One group's fit. ``result``/``boot`` are None when the group could not be fitted (see ``error``).

    ``index`` is :func:`csi.index.index_scores` of the group; ``index_draws`` its
    bootstrap draws (B × J) or None without bootstrap.
    """

    key: GroupKey
    labels: dict
    n: int
    result: Any = None
    boot: Any = None
    index: pd.DataFrame | None = None
    index_draws: pd.DataFrame | None = None
    seed: int | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


# --------------------------------------------------------------------- seeds
def group_seed(seed: int, key: Iterable) -> int:
    """A 63-bit seed for one group from the master ``seed`` and the group key.

    The key's text is digested with SHA-256 (stable everywhere) and fed with the
    seed to ``numpy.random.SeedSequence``; different groups get independent streams.
    """
    text = json.dumps([str(k) for k in key], ensure_ascii=False)
    words = np.frombuffer(hashlib.sha256(text.encode("utf-8")).digest(), dtype=np.uint32)
    ss = np.random.SeedSequence(entropy=[int(seed) & 0xFFFFFFFF, int(seed) >> 32 & 0xFFFFFFFF, *map(int, words)])
    return int(ss.generate_state(2, dtype=np.uint64)[0] >> np.uint64(1))


# ------------------------------------------------------------------ fitting
def _scales_for(scales, labels: Mapping[str, str], items: Sequence[str]) -> dict[str, tuple[float, float]]:
    """Accept ``{item: (min, max)}`` or a ``wave_scales`` table (wave, item, scale_min, scale_max)."""
    if isinstance(scales, pd.DataFrame):
        tab = scales
        if "wave" in labels and "wave" in tab.columns:
            tab = tab[tab["wave"].astype(str) == str(labels["wave"])]
        out: dict[str, tuple[float, float]] = {}
        for r in tab.itertuples(index=False):
            pair = (float(r.scale_min), float(r.scale_max))
            if r.item in out and out[r.item] != pair:
                raise DataError(f"item {r.item!r} has different scales in the pooled waves; "
                                "compare waves separately (by=['wave', ...])")
            out[str(r.item)] = pair
        return check_scales(items, out)
    return check_scales(items, scales)


def _scales_memo(scales, items: Sequence[str]) -> Callable[[Mapping[str, str]], dict]:
    """:func:`_scales_for` of one call's groups, computed once per wave (a wave_scales table depends only on
    the wave: filtering it per group cost ~50 ms each, more than Dask's whole per-task cost); errors too."""
    memo: dict = {}

    def of(labels: Mapping[str, str]) -> dict:
        k = str(labels.get("wave")) if isinstance(scales, pd.DataFrame) else None
        if k not in memo:
            try:
                memo[k] = _scales_for(scales, labels, items)
            except CSIError as e:
                memo[k] = e
        hit = memo[k]
        if isinstance(hit, CSIError):
            raise hit
        return dict(hit)

    return of


# bootstrap options that never change the draws: left out of the fit-cache key
_NOT_IN_KEY = frozenset({"progress", "chunk_size", "threads"})


def _payload_data(payload: dict) -> pd.DataFrame:
    """The group's rows: shipped in the payload (``data``) or read by the worker from its partition of a
    published dataset (``part`` = {dataset, filter, columns, weights}; see csi.data.publish)."""
    if "data" in payload:
        return payload["data"]
    from csi.data.publish import read_partition

    part = payload["part"]
    return read_partition(part["dataset"], part["filter"], part["columns"])


def _reduced(fit: GroupFit) -> GroupFit:
    """What a report needs of a fit: the index table (with intervals) and the index draws that differences
    and industry aggregates combine; no model result, no parameter draws."""
    return GroupFit(key=fit.key, labels=fit.labels, n=fit.n, index=fit.index, index_draws=fit.index_draws,
                    seed=fit.seed, error=fit.error)


def _fit_one(payload: dict) -> GroupFit:
    """Worker: fit one group (runs in a worker process, on a Dask worker, or inline).

    ``payload["keep"]``: "full" (model result and every bootstrap draw, the default) or "index" (the
    reduction: index table + index draws). With ``payload["results"]`` (a result-store folder every worker
    can reach) and ``payload["result_key"]`` the worker writes the reduced fit there itself.
    """
    from csi.engine.pls import estimate_pls

    spec, key, labels = payload["spec"], payload["key"], payload["labels"]
    settings, n_boot, seed = payload["settings"], payload["n_boot"], payload["seed"]
    data = _payload_data(payload)
    try:
        result = estimate_pls(data, spec, **settings)
        boot = None
        if n_boot > 0:
            from csi.engine.bootstrap import bootstrap_pls
            boot = bootstrap_pls(data, spec, n_boot=n_boot, seed=seed, **settings, **payload["boot_options"])
        scales = payload["scales"]
        if getattr(spec, "is_extended", False):  # higher-order / interaction model (csi.engine.hoc)
            from csi.engine.hoc import extended_index, extended_scales
            scales = extended_scales(result, scales)
        idx = index_scores(result, scales, boot)
        draws = index_draws(result, scales, boot) if boot is not None else None
        if getattr(spec, "is_extended", False):
            idx, draws = extended_index(result, idx, draws)
        fit = GroupFit(key=key, labels=labels, n=len(data), result=result, boot=boot, index=idx,
                       index_draws=draws, seed=seed)
    except CSIError as e:
        fit = GroupFit(key=key, labels=labels, n=len(data), seed=seed, error=str(e))
    if payload.get("keep", "full") == "index":
        fit = _reduced(fit)
        if payload.get("results") and payload.get("result_key") and fit.ok:
            from csi.runtime.results import ResultStore

            ResultStore(payload["results"]).put(payload["result_key"], fit)
    return fit


def _boot_accepts(name: str) -> bool:
    import inspect

    from csi.engine.bootstrap import bootstrap_pls
    return name in inspect.signature(bootstrap_pls).parameters


def _pool(workers: int):
    """The persistent local pool of ``workers`` processes (csi.runtime.execution.local_pool)."""
    from csi.runtime.execution import local_pool

    return local_pool(workers)


def _drop_pool(workers: int) -> None:
    from csi.runtime.execution import drop_local_pool

    drop_local_pool(workers)


def _fit_many(payloads: list[dict]) -> list[GroupFit]:
    """Worker: fit several groups, one after the other (one task of a chunk; see :func:`groups_per_task`)."""
    return [_fit_one(p) for p in payloads]


# Chunks: a task of a few tenths of a second pays Dask's per-task cost (scheduling, a round trip, the
# client's bookkeeping) on cores it shares with the workers on a small machine; several groups per task make
# that a small share. At least TASKS_PER_WORKER tasks per worker are kept so the last ones still balance.
TASKS_PER_WORKER = 8
MAX_CHUNK = 8


def groups_per_task(groups: int, workers: int) -> int:
    """Groups per task: ``groups / (TASKS_PER_WORKER * workers)``, between 1 and :data:`MAX_CHUNK`."""
    return max(1, min(MAX_CHUNK, int(groups) // (TASKS_PER_WORKER * max(1, int(workers)))))


def _run_payloads(payloads: list[dict], executor, store: Callable[[GroupFit, Any], None], out: dict,
                  fallback_workers: int | None = None, chunk: int | None = None) -> None:
    """Run ``_fit_one`` on every payload on ``executor`` (results taken in submission order, so the output is
    that of a serial run); ``None`` = here, serially. ``chunk`` groups go in one task (None: :func:`groups_per_task`
    of the executor's workers); each group keeps its own seed, so chunking never changes a result. A local
    pool that cannot start (e.g. a parent run from stdin) is not fatal: the groups not yet fitted are fitted
    here with the same seeds."""
    strip = [{k: v for k, v in p.items() if k != "_ck"} for p in payloads]
    if executor is None:
        for p, sp in zip(payloads, strip):
            store(_fit_one(sp), p["_ck"])
        return
    if chunk is None:
        from csi.runtime.execution import executor_workers

        chunk = groups_per_task(len(strip), executor_workers(executor))
    chunk = max(1, int(chunk))
    try:
        futures = [executor.submit(_fit_many, strip[i:i + chunk]) for i in range(0, len(strip), chunk)]
        for i, fut in zip(range(0, len(strip), chunk), futures):
            for p, fit in zip(payloads[i:i + chunk], fut.result()):
                store(fit, p["_ck"])
    except BrokenProcessPool:
        if fallback_workers is not None:
            _drop_pool(fallback_workers)
        for p, sp in zip(payloads, strip):
            if out.get(p["key"]) is None:
                store(_fit_one(sp), p["_ck"])


def estimate_groups(
    frame: pd.DataFrame,
    spec,
    by: Sequence[str],
    scales,
    n_boot: int = 0,
    seed: int = 1,
    *,
    cache: FitCache | None = None,
    data_version: str | int | None = None,
    workers: int = 2,
    min_n: int = 30,
    progress: Callable[[int, int], None] | None = None,
    boot_options: Mapping[str, Any] | None = None,
    boot_progress: Callable[[int, int], None] | None = None,
    executor: Executor | None = None,
    keep: str = "full",
    results=None,
    stats: dict | None = None,
    chunk: int | None = None,
    **settings,
) -> dict[GroupKey, GroupFit]:
    """Fit ``spec`` independently in every group of ``frame`` defined by the ``by`` columns.

    ``frame``: respondents × (by columns, indicators[, weight column]) as
    :func:`csi.store.load_responses` returns. ``scales``: ``{item: (min, max)}`` or a
    ``wave_scales`` table (then each wave uses its own bounds). ``settings`` go to
    ``estimate_pls``/``bootstrap_pls`` (scheme, standardize, plsc, weights, missing).
    Groups smaller than ``min_n`` and groups the estimator rejects come back with
    ``error`` set instead of failing the whole call. Returns ``{key: GroupFit}`` in
    group order (the order of ``by`` values, waves in wave order); ``key`` is the
    tuple of the group's ``by`` values as strings.

    ``cache`` (a :class:`FitCache`) keys each fit by a content hash of the group's rows
    (plus ``data_version`` when given, e.g. ``store.data_version(con)``), the model
    syntax, the settings, the scales, the group, ``n_boot`` and the group seed.
    Worker processes (``workers`` > 1) are started once and reused across calls.

    ``progress(groups_done, groups)`` reports finished groups; ``boot_progress(resamples_done, n_boot)``
    is handed to each group's bootstrap when groups are fitted in this process (``workers=1``).
    Options that cannot change the draws (``progress``, ``chunk_size``, ``threads``) are not part of
    the cache key, so the dashboard and the command line share cached fits.

    ``executor``: any :class:`concurrent.futures.Executor` (a Dask ``client.get_executor()``, see
    :func:`csi.runtime.execution.executor_for`) instead of the local pool; results are identical.
    ``keep="index"``: each task returns only the index table and the index draws (:func:`_reduced`), not
    the model result and every parameter draw. ``results`` (a :class:`csi.runtime.results.ResultStore` or
    folder; with ``keep="index"``): reduced fits are looked up there first and written there. ``stats``:
    a dict that receives ``bytes_in``/``bytes_out`` (pickled bytes per group, lists) and ``tasks`` (groups
    fitted) and ``submits`` (tasks submitted). ``chunk``: groups per task on an executor (None:
    :func:`groups_per_task`); results never depend on it.
    """
    if keep not in ("full", "index"):
        raise DataError(f"keep must be 'full' or 'index', got {keep!r}")
    boot_options = {"jackknife": False, **(dict(boot_options) if boot_options else {})}
    by = list(by)
    if not by:
        raise DataError("estimate_groups needs at least one grouping column (by=[...])")
    missing = [c for c in by if c not in frame.columns]
    if missing:
        raise DataError(f"grouping column{'s' if len(missing) > 1 else ''} {', '.join(missing)} not in the data")
    if n_boot < 0:
        raise DataError(f"n_boot must be ≥ 0, got {n_boot}")
    spec.check_columns(frame.columns)
    wcol = settings.get("weights")
    cols = list(spec.indicators) + ([wcol] if isinstance(wcol, str) else [])
    syntax = spec.to_syntax()
    payloads, out = [], {}
    scales_of = _scales_memo(scales, list(spec.indicators))
    grouped = frame.groupby(by, observed=True, sort=True, dropna=False)
    for raw_key, sub in grouped:
        raw_key = raw_key if isinstance(raw_key, tuple) else (raw_key,)
        key = tuple(str(k) for k in raw_key)
        labels = dict(zip(by, key))
        gseed = group_seed(seed, key)
        data = sub.loc[:, cols]
        if isinstance(wcol, str):  # the store keeps segment columns (weight included) as text
            data = data.assign(**{wcol: pd.to_numeric(data[wcol], errors="coerce")})
        try:
            sc = scales_of(labels)
        except CSIError as e:
            out[key] = GroupFit(key=key, labels=labels, n=len(sub), seed=gseed, error=str(e))
            continue
        if len(sub) < min_n:
            out[key] = GroupFit(key=key, labels=labels, n=len(sub), seed=gseed,
                                error=f"only {len(sub)} respondents (at least {min_n} needed)")
            continue
        payload = {"data": data, "spec": spec, "key": key, "labels": labels, "settings": settings,
                   "n_boot": int(n_boot), "seed": gseed, "scales": sc, "boot_options": boot_options, "keep": keep}
        # the rows themselves are hashed even when a data version is given: the same version and group
        # labels can hold different rows when the caller filtered the frame (segments)
        if _lookup(payload, out, cache, results, data_version, syntax, frame_fingerprint(data)
                   if (cache is not None or results is not None) else None):
            payloads.append(payload)
    _execute(payloads, out, cache, results, executor, workers, n_boot, boot_options, progress, boot_progress,
             stats, chunk)
    return out


def estimate_partitions(
    dataset,
    spec,
    scales,
    n_boot: int = 0,
    seed: int = 1,
    *,
    by: Sequence[str] = ("wave", "brand"),
    match: Mapping[str, Any] | None = None,
    executor: Executor | None = None,
    keep: str = "index",
    results=None,
    cache: FitCache | None = None,
    workers: int = 1,
    min_n: int = 30,
    boot_options: Mapping[str, Any] | None = None,
    progress: Callable[[int, int], None] | None = None,
    stats: dict | None = None,
    chunk: int | None = None,
    **settings,
) -> dict[GroupKey, GroupFit]:
    """:func:`estimate_groups` over the partitions of a published dataset (:mod:`csi.data.publish`): each task
    carries (dataset path, partition filter, columns) and the worker reads its rows itself, so nothing but
    the model and the settings is shipped. ``by`` names the filter columns that form the group key (seeds
    are ``group_seed(seed, key)``, as in :func:`estimate_groups`: the same rows give the same fit);
    ``match`` selects partitions (column -> value or values). The fit key hashes the partition file's
    SHA-256 from the manifest. Defaults to ``keep="index"`` (the reduction)."""
    from csi.data.publish import partitions

    if keep not in ("full", "index"):
        raise DataError(f"keep must be 'full' or 'index', got {keep!r}")
    boot_options = {"jackknife": False, **(dict(boot_options) if boot_options else {})}
    wcol = settings.get("weights")
    cols = list(spec.indicators) + ([wcol] if isinstance(wcol, str) else [])
    syntax = spec.to_syntax()
    payloads, out = [], {}
    scales_of = _scales_memo(scales, list(spec.indicators))
    for part in partitions(dataset, **dict(match or {})):
        key = tuple(str(part["filter"][b]) for b in by)
        labels = dict(zip(by, key))
        gseed = group_seed(seed, key)
        try:
            sc = scales_of(labels)
        except CSIError as e:
            out[key] = GroupFit(key=key, labels=labels, n=part["rows"], seed=gseed, error=str(e))
            continue
        if part["rows"] < min_n:
            out[key] = GroupFit(key=key, labels=labels, n=part["rows"], seed=gseed,
                                error=f"only {part['rows']} respondents (at least {min_n} needed)")
            continue
        payload = {"part": {"dataset": str(dataset), "filter": dict(part["filter"]), "columns": cols},
                   "spec": spec, "key": key, "labels": labels, "settings": settings, "n_boot": int(n_boot),
                   "seed": gseed, "scales": sc, "boot_options": boot_options, "keep": keep}
        data_fp = cache_key(partition=part["sha256"], columns=cols)
        if _lookup(payload, out, cache, results, None, syntax, data_fp):
            payloads.append(payload)
    _execute(payloads, out, cache, results, executor, workers, n_boot, boot_options, progress, None, stats, chunk)
    return out


def _fit_key(payload: dict, data_version, syntax: str, data_fp: str) -> str:
    """Content key of one fit: code version, data (rows' hash or partition file hash), model, settings, group,
    resamples, seed, scales, draw-changing bootstrap options and what is kept."""
    return cache_key(kind="group_fit" if payload["keep"] == "full" else "group_index", code=code_fingerprint(),
                     version=None if data_version is None else str(data_version),
                     data=data_fp, model=syntax, settings=payload["settings"], group=payload["labels"],
                     n_boot=payload["n_boot"], seed=payload["seed"], scales=payload["scales"],
                     boot_options={k: v for k, v in payload["boot_options"].items() if k not in _NOT_IN_KEY})


def _lookup(payload: dict, out: dict, cache, results, data_version, syntax: str, data_fp: str | None) -> bool:
    """Serve the group from the cache / result store (False) or mark it to be fitted (True, ``_ck`` set)."""
    key = payload["key"]
    ck = None
    if data_fp is not None:
        ck = _fit_key(payload, data_version, syntax, data_fp)
        hit = cache.get(ck) if cache is not None else None
        if hit is None and results is not None and payload["keep"] == "index":
            hit = _as_store(results).get(ck)
        if hit is not None:
            out[key] = hit
            return False
    out[key] = None  # placeholder keeps group order
    payload["_ck"] = ck
    return True


def _as_store(results):
    from csi.runtime.results import ResultStore

    return results if isinstance(results, ResultStore) else ResultStore(results)


def _execute(payloads: list[dict], out: dict, cache, results, executor, workers: int, n_boot: int,
             boot_options: Mapping, progress, boot_progress, stats: dict | None, chunk: int | None = None) -> None:
    done = 0
    total = len(payloads)
    store_ = _as_store(results) if results is not None and payloads and payloads[0]["keep"] == "index" else None

    def _store(fit: GroupFit, ck):
        nonlocal done
        out[fit.key] = fit
        if cache is not None and ck is not None and fit.ok:
            cache.put(ck, fit)
        if store_ is not None and ck is not None and fit.ok and ck not in store_:
            store_.put(ck, fit)
        done += 1
        if stats is not None:
            import pickle

            stats.setdefault("bytes_out", []).append(len(pickle.dumps(fit, protocol=pickle.HIGHEST_PROTOCOL)))
        if progress is not None:
            progress(done, total)

    fallback = None
    if executor is None and workers > 1 and total > 1:
        executor, fallback = _pool(workers), workers
    parallel = executor is not None
    if parallel and n_boot > 0 and "threads" not in boot_options and _boot_accepts("threads"):
        # one process per core already: the bootstrap's own chunk threads would oversubscribe them
        for p in payloads:
            p["boot_options"] = {**p["boot_options"], "threads": 1}
    if not parallel and boot_progress is not None and n_boot > 0:
        for p in payloads:
            p["boot_options"] = {**p["boot_options"], "progress": boot_progress}
    if store_ is not None and executor is not None and store_.shared:
        for p in payloads:  # the workers write the store themselves
            p["results"], p["result_key"] = str(store_.root), p["_ck"]
    if stats is not None:
        import pickle

        stats["tasks"] = stats.get("tasks", 0) + total
        stats.setdefault("bytes_in", []).extend(
            len(pickle.dumps({k: v for k, v in p.items() if k != "_ck"}, protocol=pickle.HIGHEST_PROTOCOL))
            for p in payloads)
    if stats is not None and executor is not None and total:
        from csi.runtime.execution import executor_workers

        c = chunk if chunk is not None else groups_per_task(total, executor_workers(executor))
        stats["submits"] = stats.get("submits", 0) + -(-total // max(1, int(c)))
        chunk = c
    _run_payloads(payloads, executor, _store, out, fallback, chunk)


# ------------------------------------------------------------------- tables
def trend(fits: Mapping[GroupKey, GroupFit]) -> pd.DataFrame:
    """Index per group and construct: DataFrame(<by columns>, construct, index, ci_low, ci_high, n).

    With ``by=["wave"]`` this is (wave, construct, index, ci_low, ci_high, n), waves
    in wave order. Groups that could not be fitted are left out.
    """
    frames = []
    for fit in fits.values():
        if not fit.ok:
            continue
        t = fit.index[["construct", "index", "ci_low", "ci_high", "n"]].copy()
        for i, (col, val) in enumerate(fit.labels.items()):
            t.insert(i, col, val)
        frames.append(t)
    if not frames:
        return pd.DataFrame(columns=["construct", "index", "ci_low", "ci_high", "n"])
    return pd.concat(frames, ignore_index=True)


def _diff_table(a: GroupFit, b: GroupFit, alpha: float) -> pd.DataFrame:
    """b − a per construct with the percentile interval of independent-draw differences."""
    for g, name in ((a, "first"), (b, "second")):
        if not g.ok:
            raise DataError(f"the {name} group ({', '.join(g.key)}) has no fit: {g.error}")
    if not 0 < alpha < 1:
        raise DataError(f"alpha must be between 0 and 1, got {alpha!r}")
    # plain arrays: this runs for every pair of consecutive waves on every dashboard selection, and label-based
    # pandas lookups of six constructs cost more than the arithmetic
    ia = dict(zip(a.index["construct"], a.index["index"].to_numpy(float)))
    ib = dict(zip(b.index["construct"], b.index["index"].to_numpy(float)))
    cons = [c for c in ia if c in ib]
    va, vb = np.array([ia[c] for c in cons], float), np.array([ib[c] for c in cons], float)
    lo, hi = np.full(len(cons), np.nan), np.full(len(cons), np.nan)
    if a.index_draws is not None and b.index_draws is not None:
        m = min(len(a.index_draws), len(b.index_draws))
        d = b.index_draws[cons].to_numpy()[:m] - a.index_draws[cons].to_numpy()[:m]
        lo[:], hi[:] = percentile_interval(d, alpha)
    sig = pd.array([pd.NA if not (np.isfinite(l) and np.isfinite(h)) else bool(l > 0 or h < 0)
                    for l, h in zip(lo, hi)], dtype="boolean")
    return pd.DataFrame({"construct": cons, "a": va, "b": vb, "diff": vb - va, "ci_low": lo,
                         "ci_high": hi, "significant": sig})


def wave_change(a: GroupFit, b: GroupFit, alpha: float = 0.05) -> pd.DataFrame:
    """Change of every index from group ``a`` (earlier wave) to ``b`` (later wave).

    DataFrame(construct, index_a, index_b, change, ci_low, ci_high, significant,
    verdict_en, verdict_zh); change = b − a; ``significant`` is NA without bootstrap
    draws. Verdicts: "significant"/"not significant", "显著"/"不显著" (empty when NA).
    """
    t = _diff_table(a, b, alpha).rename(columns={"a": "index_a", "b": "index_b", "diff": "change"})
    t["verdict_en"] = [VERDICT[bool(s)][0] if s is not pd.NA else "" for s in t["significant"]]
    t["verdict_zh"] = [VERDICT[bool(s)][1] if s is not pd.NA else "" for s in t["significant"]]
    return t


def competitor_gap(own: GroupFit, competitor: GroupFit, alpha: float = 0.05) -> pd.DataFrame:
    """Own brand minus competitor per construct.

    DataFrame(construct, own, competitor, gap, ci_low, ci_high, significant);
    gap = own − competitor, interval from independent bootstrap draws.
    """
    t = _diff_table(competitor, own, alpha)
    return t.rename(columns={"a": "competitor", "b": "own", "diff": "gap"})[
        ["construct", "own", "competitor", "gap", "ci_low", "ci_high", "significant"]]


# ---------------------------------------------------------------------- MGA
_PATH_KEYS = ["from", "to"]   # a path is keyed (from, to), as the bootstrap's draws["paths"] columns


def _paths_of(result) -> pd.Series:
    """A fit's path estimates, indexed by the MultiIndex (from, to)."""
    p = result.paths
    return pd.Series(p["estimate"].to_numpy(float), index=pd.MultiIndex.from_frame(p[_PATH_KEYS]))


def henseler_p(draws_a: np.ndarray, draws_b: np.ndarray) -> float:
    """Henseler et al. (2009) one-sided PLS-MGA p for one parameter (seminr's formula).

    ``1 − #{(i, j): 2·mean(a) − a_i − 2·mean(b) + b_j > 0} / J²`` over the first J
    draws of each group, J = min(len(a), len(b)); counted in O(J log J) by sorting.
    """
    a = np.asarray(draws_a, float)
    b = np.asarray(draws_b, float)
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    J = min(len(a), len(b))
    if J == 0:
        return float("nan")
    a, b = a[:J], b[:J]
    u = 2 * a.mean() - a        # Θ(u_i − v_j) with u_i = 2ā − a_i, v_j = 2b̄ − b_j
    v = np.sort(2 * b.mean() - b)
    count = np.searchsorted(v, u, side="left").sum()  # #{j: v_j < u_i}
    return float(1.0 - count / J**2)


def mga_bootstrap(boot_a, boot_b, estimates_a: pd.Series | None = None,
                  estimates_b: pd.Series | None = None, alpha: float = 0.05) -> pd.DataFrame:
    """Henseler's bootstrap MGA of path coefficients from two groups' bootstrap results.

    DataFrame(from, to, estimate_a, estimate_b, diff, p_henseler, p_bootstrap, significant);
    ``p_henseler`` one-sided (small: a > b, large: a < b), ``p_bootstrap`` two-sided.
    Point estimates come from ``estimates_*`` (Series indexed by the MultiIndex (from, to), as
    ``draws["paths"]`` columns) or from the bootstrap results' full-sample ``estimates["paths"]``;
    diff = a − b.
    """
    pa, pb = boot_a.draws["paths"], boot_b.draws["paths"]
    paths = [c for c in pa.columns if c in pb.columns]
    ea = estimates_a if estimates_a is not None else boot_a.estimates["paths"]
    eb = estimates_b if estimates_b is not None else boot_b.estimates["paths"]
    rows = []
    for frm, to in paths:
        ph = henseler_p(pa[(frm, to)].to_numpy(), pb[(frm, to)].to_numpy())
        p2 = min(1.0, 2 * min(ph, 1 - ph)) if np.isfinite(ph) else np.nan
        a_, b_ = float(ea.get((frm, to), np.nan)), float(eb.get((frm, to), np.nan))
        rows.append({"from": frm, "to": to, "estimate_a": a_, "estimate_b": b_, "diff": a_ - b_,
                     "p_henseler": ph, "p_bootstrap": p2, "significant": bool(p2 < alpha)})
    return pd.DataFrame(rows, columns=[*_PATH_KEYS, "estimate_a", "estimate_b", "diff", "p_henseler",
                                       "p_bootstrap", "significant"])


def _complete(data: pd.DataFrame, spec, settings: Mapping) -> pd.DataFrame:
    cols = list(spec.indicators)
    w = settings.get("weights")
    if isinstance(w, str):
        cols.append(w)
    d = data.loc[:, cols].apply(pd.to_numeric, errors="coerce")
    if settings.get("missing", "listwise") == "listwise":
        d = d.dropna()
    return d


def _perm_setup(ctx: dict) -> dict:
    """The pooled rows' design, centred data and pair products of a permutation test (recomputed by a worker)."""
    from csi.engine.pls import _Design, _prepare

    prep = _prepare(ctx["pooled"], ctx["spec"], ctx["weights"], ctx["missing"])
    d = _Design.from_spec(ctx["spec"])
    X, f = prep.X, prep.f
    n = X.shape[0]
    na = int((np.asarray(prep.index) < ctx["na_rows"]).sum())
    mean0, _ = weighted_moments(X, f)
    Xc = X - mean0
    O, iu = pair_products(Xc)                            # (n x p(p+1)/2) row-wise products
    order = [(d.constructs[i], d.constructs[k]) for i, k in d.paths]
    pos = [order.index(tuple(key)) for key in ctx["names"]]
    return {"d": d, "f": f, "n": n, "na": na, "nb": n - na, "Xc": Xc, "O": O, "iu": iu, "pos": pos}


def _perm_count(setup: dict, ctx: dict, rng: np.random.Generator, m: int) -> tuple[np.ndarray, int]:
    """m permutations drawn from ``rng``: (#{|d*| ≥ |d|} per path, permutations estimated)."""
    from csi.engine.pls import _derive, _kernel

    d, f, n, na, nb = setup["d"], setup["f"], setup["n"], setup["na"], setup["nb"]

    def paths_of(F: np.ndarray):
        _, cov = count_moments(F, setup["Xc"], setup["O"], setup["iu"])
        R, sd = cov_to_corr(cov)
        S = R if ctx["standardize"] else cov
        ok = np.all(sd > 1e-12 * np.maximum(sd.max(axis=1, keepdims=True), 1.0), axis=1)
        beta = np.full((len(F), len(d.paths)), np.nan)
        if ok.any():
            w, _, conv = _kernel(S[ok], d, ctx["scheme"], ctx["tol"], ctx["max_iter"])
            out = _derive(S[ok], w, d, ctx["plsc"])
            bt = np.stack([out["beta"][:, i, k] for i, k in d.paths], axis=1)
            bt[~conv] = np.nan
            beta[ok] = bt
        return beta

    perms = np.argsort(rng.random((m, n)), axis=1)     # m independent uniform permutations
    mask = np.zeros((m, n), dtype=bool)
    np.put_along_axis(mask, perms[:, :na], True, axis=1)
    FA = np.where(mask, f[None, :], 0.0)
    FB = np.where(mask, 0.0, f[None, :])
    FA *= na / FA.sum(axis=1, keepdims=True)
    FB *= nb / FB.sum(axis=1, keepdims=True)
    diff = (paths_of(FA) - paths_of(FB))[:, setup["pos"]]
    good = np.all(np.isfinite(diff), axis=1)
    exceed = (np.abs(diff[good]) >= np.abs(ctx["obs"])[None, :] - 1e-12).sum(axis=0)
    return exceed, int(good.sum())


def _perm_task(ctx: dict, state: dict, m: int) -> tuple[np.ndarray, int]:
    """Worker: one chunk of a permutation test from a given generator state."""
    bg = np.random.PCG64()
    bg.state = state
    return _perm_count(_perm_setup(ctx), ctx, np.random.Generator(bg), m)


def mga_permutation(data_a: pd.DataFrame, data_b: pd.DataFrame, spec, n_perm: int = 1000, seed: int = 1,
                    *, alpha: float = 0.05, chunk_size: int = 250,
                    progress: Callable[[int, int], None] | None = None, executor: Executor | None = None,
                    **settings) -> pd.DataFrame:
    """Chin & Dibbern (2010) permutation test of path differences between two groups.

    ``data_a``/``data_b``: respondents × indicators of each group. Under
    ``missing="listwise"`` incomplete rows are dropped first, so every permutation
    uses the same respondents (under ``"mean"`` the permuted fits impute the pooled
    mean). Each permutation shuffles group membership of the pooled rows
    (``default_rng(seed)``), keeps the original group sizes, re-estimates both
    pseudo-groups and records |a − b|. The observed estimates come from
    :func:`csi.pls.estimate_pls` on each group; the permuted fits run on the same
    batched covariance kernel (one covariance matrix per pseudo-group, computed as
    frequency-weighted moments of the pooled rows, survey weights renormalised
    within each pseudo-group). A permutation the kernel cannot estimate (no
    convergence, zero variance) is skipped and counted in the ``n_perm_used``
    column. Returns DataFrame(from, to, estimate_a, estimate_b, diff, p_permutation,
    significant, n_perm_used); p = (#{|d*| ≥ |d|} + 1)/(n_used + 1). ``executor``: chunks of permutations
    run there (each from the serial stream's position, so the result is identical).
    """
    from csi.engine.pls import _check_options, estimate_pls

    if isinstance(n_perm, bool) or not isinstance(n_perm, (int, np.integer)) or n_perm < 1:
        raise DataError(f"n_perm must be a positive integer, got {n_perm!r}")
    scheme = settings.get("scheme", "path")
    standardize = settings.get("standardize", True)
    plsc = settings.get("plsc", False)
    tol, max_iter = settings.get("tol", 1e-7), settings.get("max_iter", 300)
    missing = settings.get("missing", "listwise")
    _check_options(scheme, missing, standardize, plsc, tol, max_iter)
    a = _complete(data_a, spec, settings)
    b = _complete(data_b, spec, settings)
    ea = _paths_of(estimate_pls(a, spec, **settings))
    eb = _paths_of(estimate_pls(b, spec, **settings))
    names = ea.index                                     # MultiIndex (from, to)
    obs = (ea - eb.reindex(names)).to_numpy()

    pooled = pd.concat([a, b], ignore_index=True)
    ctx = {"pooled": pooled, "spec": spec, "weights": settings.get("weights"), "missing": missing, "na_rows": len(a),
           "scheme": scheme, "standardize": standardize, "plsc": plsc, "tol": tol, "max_iter": max_iter,
           "names": list(names), "obs": obs}
    setup = _perm_setup(ctx)
    rng = np.random.default_rng(seed)
    exceed = np.zeros(len(names))
    used = 0
    sizes = [min(chunk_size, n_perm - k) for k in range(0, n_perm, chunk_size)]
    if executor is None:
        done = 0
        for m in sizes:
            e, u = _perm_count(setup, ctx, rng, m)
            exceed += e
            used += u
            done += m
            if progress is not None:
                progress(done, n_perm)
    else:
        # chunk k draws from the same stream as the serial loop: the generator advanced past the earlier
        # chunks' m x n doubles (one 64-bit output each), so every chunk's permutations are the serial ones
        from csi.runtime.execution import stream_states

        states = stream_states(rng, sizes, setup["n"])
        futures = [executor.submit(_perm_task, ctx, st, m) for st, m in zip(states, sizes)]
        done = 0
        for fut, m in zip(futures, sizes):
            e, u = fut.result()
            exceed += e
            used += u
            done += m
            if progress is not None:
                progress(done, n_perm)
    if used == 0:
        raise DataError("no permutation of the pooled groups could be estimated")
    pval = (exceed + 1) / (used + 1)
    return names.to_frame(index=False).assign(
        estimate_a=ea.to_numpy(), estimate_b=eb.reindex(names).to_numpy(), diff=obs, p_permutation=pval,
        significant=pval < alpha, n_perm_used=used)


def mga(data_a: pd.DataFrame, data_b: pd.DataFrame, spec, *, n_perm: int = 1000, n_boot: int = 1000,
        seed: int = 1, alpha: float = 0.05, boot_a=None, boot_b=None, executor: Executor | None = None,
        **settings) -> pd.DataFrame:
    """Both MGA tests side by side: DataFrame(from, to, estimate_a, estimate_b, diff,
    p_permutation, p_bootstrap, p_henseler, significant). ``significant`` follows the
    permutation test. Pass ``boot_a``/``boot_b`` to reuse existing bootstraps; otherwise
    each group is bootstrapped with a seed derived from (seed, "a"/"b"). ``executor``: the permutation
    test's chunks run there (:func:`mga_permutation`; the same result)."""
    from csi.engine.bootstrap import bootstrap_pls

    perm = mga_permutation(data_a, data_b, spec, n_perm=n_perm, seed=seed, alpha=alpha, executor=executor,
                           **settings)
    if boot_a is None:
        boot_a = bootstrap_pls(_complete(data_a, spec, settings), spec, n_boot=n_boot,
                               seed=group_seed(seed, ("mga", "a")), jackknife=False, **settings)
    if boot_b is None:
        boot_b = bootstrap_pls(_complete(data_b, spec, settings), spec, n_boot=n_boot,
                               seed=group_seed(seed, ("mga", "b")), jackknife=False, **settings)
    keys = pd.MultiIndex.from_frame(perm[_PATH_KEYS])
    est_a = pd.Series(perm["estimate_a"].to_numpy(), index=keys)
    est_b = pd.Series(perm["estimate_b"].to_numpy(), index=keys)
    bt = mga_bootstrap(boot_a, boot_b, est_a, est_b, alpha=alpha)
    out = perm.drop(columns=["significant", "n_perm_used"]).merge(
        bt[[*_PATH_KEYS, "p_bootstrap", "p_henseler"]], on=_PATH_KEYS, how="left")
    out["significant"] = out["p_permutation"] < alpha
    return out[[*_PATH_KEYS, "estimate_a", "estimate_b", "diff", "p_permutation", "p_bootstrap", "p_henseler",
                "significant"]]
