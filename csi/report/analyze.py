"""One data set, every table: estimate → (bootstrap) → assess → indices/priorities (``csi.analyze``).

:func:`analyze` (``fit_model`` is its first-release name) fits one data frame. For a selection of a store (waves,
segments, own brand, survey weights, items answered in every wave) use :func:`csi.report.build.analyze_selection`,
which binds the selection and calls this. It returns a frozen :class:`FitResult` whose ``tables`` are named like
the files :func:`csi.report.export.write_results` writes. Every step runs: a missing module is a packaging error,
never a silently shorter result.

Tables (PLS):

* ``params``: the lavaan-style parameter table (:mod:`csi.engine.params`): lhs, op, rhs, estimate, std_error, t,
  p_value, ci_low, ci_high, std_estimate, std_estimate_se, std_ci_low, std_ci_high; ``paths`` and ``outer`` are
  derived from it.

* ``paths``: from, to, estimate, std_error, t, p_value, ci_low, ci_high (bootstrap columns NaN
  without ``bootstrap``; percentile intervals at ``alpha``).
* ``outer``: construct, indicator, weight, loading, communality, + bootstrap std_error/ci of weight
  and loading.
* ``constructs``: construct, r2, r2_adj, alpha, rho_a, rho_c, ave, label_en, label_zh, mode,
  n_indicators, + index, index_ci_low, index_ci_high when scales are known.
* ``effects``: from, to, direct, indirect, total, + total_std_error, total_ci_low, total_ci_high.
* ``htmt`` (from ``assess_pls``), ``f2``, ``scores`` (respondent row label, the data's ``wave`` and
  ``respondent_id`` when present, + constructs; :func:`scores_table`),
  ``cross_loadings`` (indicator + constructs), ``priorities`` (IPMA, construct level, for ``target``).
* ``indirect`` (with a bootstrap): every specific indirect effect and each pair's total indirect effect with
  bootstrap intervals and the Zhao-Lynch-Chen mediation type (:mod:`csi.analytics.mediation`).
* on request (:func:`research_tables`, also through ``analyze(predict=..., nca=...)``): ``predict`` (PLSpredict,
  :mod:`csi.evaluate.predict`), ``nca`` and ``bottlenecks`` (cIPMA, :mod:`csi.analytics.nca`).

``fit`` (PLS): SRMR, d_ULS, d_G, NFI of the saturated and estimated model (:mod:`csi.evaluate.modelfit`), with
Bollen-Stine HI95/HI99 when ``fit_bootstrap`` resamples are asked for.

Tables (CB-SEM): ``params`` (same columns; ``estimate`` unstandardized, ``std_estimate`` lavaan's std.all),
``paths`` (from, to, estimate [standardized] with ITS standard error, z, p and interval, estimate_unstd and its
own), ``outer``, ``constructs`` and ``fit``.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable, Literal, Mapping

import numpy as np
import pandas as pd

from csi.errors import DataError, SpecError
from csi.model.syntax import ModelSpec
from csi.model.templates import CONSTRUCT_LABELS, load_model
from csi.runtime.provenance import versions

Method = Literal["pls", "cbsem"]
METHODS = ("pls", "cbsem")
_PLS_SETTINGS = {"scheme", "standardize", "plsc", "weights", "missing", "tol", "max_iter"}


@dataclass(frozen=True)
class FitResult:
    """``tables`` {name: DataFrame}; ``fit`` CB-SEM fit statistics ({} for PLS); ``manifest`` settings,
    seed, versions, data fingerprint, n, timestamp, model syntax, warnings; ``result`` the estimator's
    own result (PLSResult / CBSEMResult) and ``boot`` the BootstrapResult (or None)."""

    tables: dict[str, pd.DataFrame]
    fit: dict
    manifest: dict
    result: object = field(repr=False, default=None)
    boot: object = field(repr=False, default=None)


def data_fingerprint(data: pd.DataFrame, rows: pd.Index, columns: list[str]) -> str:
    """sha256 of the analysed numeric matrix: the rows used × ``columns`` as C-ordered float64 bytes
    (missing cells as NaN, before any imputation), followed by the row count and column names."""
    X = np.ascontiguousarray(data.loc[rows, columns].to_numpy(dtype=float, na_value=np.nan))
    h = hashlib.sha256(X.tobytes())
    h.update(f"|{X.shape[0]}|{','.join(columns)}".encode())
    return h.hexdigest()


def _scales(scale, items: list[str], data: pd.DataFrame, rows: pd.Index, warnings: list[str]
            ) -> dict[str, tuple[float, float]] | None:
    """Theoretical (min, max) per item: ``scale`` as one pair for every item or a mapping; else the
    built-in dictionary's bounds when every item is in it and the data respect them; else None."""
    if scale is not None:
        if isinstance(scale, Mapping):
            return {i: tuple(map(float, scale[i])) for i in items if i in scale} or None
        lo, hi = (float(v) for v in scale)
        if not lo < hi:
            raise SpecError(f"scale minimum must be below the maximum, got {scale!r}")
        x = data.loc[rows, items].to_numpy(float)
        out_of = [i for k, i in enumerate(items) if np.nanmin(x[:, k]) < lo or np.nanmax(x[:, k]) > hi]
        if out_of:
            raise DataError(f"values outside the scale {lo:g}-{hi:g} in {', '.join(out_of)}")
        return {i: (lo, hi) for i in items}
    from csi.model.dictionary import DEFAULT_ITEMS

    d = DEFAULT_ITEMS.set_index("item")
    if all(i in d.index for i in items):
        sc = {i: (float(d.at[i, "scale_min"]), float(d.at[i, "scale_max"])) for i in items}
        x = data.loc[rows, items].to_numpy(float)
        if all(sc[i][0] <= np.nanmin(x[:, k]) and np.nanmax(x[:, k]) <= sc[i][1] for k, i in enumerate(items)):
            return sc
        warnings.append("the data leave the item dictionary's scales; give the scale (e.g. --scale 0-10) "
                        "to get 0-100 indices and priorities")
        return None
    warnings.append("no theoretical item scale known; give one (e.g. --scale 1-10) to get 0-100 indices")
    return None


def analyze(data: pd.DataFrame, spec: ModelSpec | str, *, method: Method = "pls", bootstrap: int = 0,
              seed: int = 1, scale=None, target: str | None = None,
              progress: Callable[[int, int], None] | None = None, alpha: float = 0.05,
              ci: Literal["percentile", "bca"] = "percentile", labels: Mapping[str, tuple[str, str]] | None = None,
              predict=None, nca: bool = False, fit_bootstrap: int = 0, **settings) -> FitResult:
    """Estimate ``spec`` on ``data`` and build every result table; returns a :class:`FitResult`.

    ``result.tables``: ``params`` (lavaan-style), ``paths``, ``outer``, ``constructs`` (R², reliability, 0–100
    index with interval), ``effects``, ``htmt``, ``f2``, ``scores``, ``cross_loadings`` and ``priorities``
    (PLS); ``params``, ``paths``, ``outer``, ``constructs`` and ``fit`` (CB-SEM). ``result.manifest``: settings,
    seed, versions, data fingerprint, n, model syntax, warnings.

    ``spec``: a :class:`ModelSpec`, or a template name / ``.lavaan`` path / syntax (templates bind to
    ``data``'s columns). ``settings``: those of :func:`csi.pls.estimate_pls` (``scheme``,
    ``standardize``, ``plsc``, ``weights``, ``missing``, ``tol``, ``max_iter``); CB-SEM uses
    ``missing`` (``listwise`` or ``fiml``) and refuses weights. ``scale``: (min, max) for every item or
    ``{item: (min, max)}``, for the 0–100 indices and IPMA. ``target``: IPMA target construct (default
    SAT when present, else the last endogenous construct). ``ci``: bootstrap interval of the paths,
    weights, loadings and total effects in the tables (``bca`` adds the jackknife, n more kernel runs);
    indices and IPMA importances always carry percentile intervals.
    ``predict`` (PLS): ``True`` (10 folds x 10 repetitions), a number of folds, or ``{"folds", "reps"}`` adds the
    ``predict`` table; ``nca=True`` adds ``nca`` and ``bottlenecks`` (cIPMA, needs the item scales);
    ``fit_bootstrap``: Bollen-Stine resamples for the model-fit quantiles in ``fit`` (0 = none). All seeded by ``seed``.
    """
    if ci not in ("percentile", "bca"):
        raise SpecError(f"unknown confidence interval {ci!r}; choose percentile or bca")
    if method not in METHODS:
        raise SpecError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    unknown = sorted(set(settings) - _PLS_SETTINGS)
    if unknown:
        raise SpecError(f"unknown setting{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}")
    if isinstance(bootstrap, bool) or not isinstance(bootstrap, (int, np.integer)) or bootstrap < 0 or bootstrap == 1:
        raise SpecError(f"bootstrap must be 0 (none) or a number of resamples ≥ 2, got {bootstrap!r}")
    if not isinstance(data, pd.DataFrame):
        raise DataError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    if not isinstance(spec, ModelSpec):
        spec = load_model(spec, [str(c) for c in data.columns])
    if method == "cbsem" and (predict or nca or fit_bootstrap):
        raise SpecError("PLSpredict, cIPMA and the Bollen-Stine model-fit bootstrap are PLS methods (method='pls')")
    warnings: list[str] = []
    started = datetime.now(timezone.utc)
    if method == "cbsem":
        tables, fit, result, boot, rows, info = _fit_cbsem(data, spec, settings, bootstrap, warnings)
    else:
        tables, result, boot, rows, info = _fit_pls(data, spec, settings, bootstrap, seed, progress, alpha,
                                                    scale, target, warnings, ci, labels)
        fit = _model_fit(data, spec, int(fit_bootstrap), int(seed), settings, warnings)
    weights = settings.get("weights")
    manifest = {
        "method": method,
        "settings": {**{k: (v if not isinstance(v, np.ndarray) else "array") for k, v in settings.items()},
                     "bootstrap": int(bootstrap), "alpha": alpha},
        "seed": int(seed) if bootstrap else None,
        "versions": versions(),
        "data_fingerprint": data_fingerprint(data, rows, list(spec.indicators)
                                             + ([weights] if isinstance(weights, str) else [])),
        "n_total": int(info.get("n_total", len(data))),
        "n": int(info.get("n_used", len(rows))),
        "n_dropped": int(info.get("n_dropped", len(data) - len(rows))),
        "timestamp": started.isoformat(timespec="seconds"),
        "model_name": spec.name,
        "model_syntax": spec.to_syntax(),
        "warnings": warnings,
    }
    if boot is not None:
        manifest["bootstrap"] = {"n_boot": boot.n_boot, "n_kept": boot.n_kept, "dropped": dict(boot.dropped),
                                 "n_kept_by_kind": dict(getattr(boot, "n_kept_by_kind", {}) or {}),
                                 "notes": [dict(n) for n in getattr(boot, "notes", ()) or ()],
                                 "ci": ci if method == "pls" else None}
    if method == "pls":
        manifest["estimation"] = {k: info[k] for k in ("iterations", "converged") if k in info}
        manifest["scores"] = {"id_columns": ["row", *[c for c in ID_COLUMNS if c in tables["scores"].columns]],
                              "rows": f"the {manifest['n']} respondents the model was estimated on; the "
                                      f"{manifest['n_dropped']} dropped for missing answers are absent"}
    out = FitResult(tables=tables, fit=fit, manifest=manifest, result=result, boot=boot)
    if method == "pls" and (predict or nca):
        out = research_tables(out, data, predict=predict, nca=nca, seed=seed, scale=scale, target=target)
    return out


def result_settings(result) -> dict:
    """The :func:`csi.engine.pls.estimate_pls` settings a PLS result was fitted with (its ``info``), to run another
    method (PLSpredict, model fit, cIPMA) on the same data with the same estimator."""
    info = getattr(result, "info", None) or {}
    if info.get("weights") == "array":
        raise SpecError("this fit used survey weights given as an array; pass them as a column name")
    return {k: info[k] for k in _PLS_SETTINGS if k in info}


def _predict_options(predict) -> dict:
    if predict is True:
        return {"folds": 10, "reps": 10}
    if isinstance(predict, (int, np.integer)) and not isinstance(predict, bool):
        return {"folds": int(predict), "reps": 10}
    if isinstance(predict, Mapping):
        unknown = sorted(set(predict) - {"folds", "reps", "approach"})
        if unknown:
            raise SpecError(f"unknown PLSpredict option{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}")
        return {"folds": 10, "reps": 10, **dict(predict)}
    raise SpecError(f"predict must be True, a number of folds or {{'folds', 'reps'}}, got {predict!r}")


def research_tables(fit: FitResult, data: pd.DataFrame, *, predict=None, nca: bool = False,
                    fit_bootstrap: int = 0, seed: int | None = None, scale=None, target: str | None = None,
                    n_perm: int = 1000) -> FitResult:
    """``fit`` (a PLS :class:`FitResult` of ``data``) with the on-request research tables added: ``predict``
    (PLSpredict; ``predict`` as in :func:`analyze`), ``nca`` + ``bottlenecks`` (cIPMA at construct and item
    level for the IPMA target; ``n_perm`` permutations) and, with ``fit_bootstrap`` resamples, the Bollen-Stine
    quantiles in ``fit.fit``. ``seed`` defaults to the fit's; ``scale`` as in :func:`analyze` (or a mapping
    ``{item: (min, max)}``). The estimation settings are the fit's own (its manifest)."""
    from dataclasses import replace

    if fit.manifest.get("method") != "pls":
        raise SpecError("PLSpredict, cIPMA and the PLS model fit are PLS methods (use --method pls)")
    from csi.engine.hoc import original_spec

    res = fit.result
    spec = original_spec(res) or res.spec         # an extended model: its own spec (res.spec is the plain model)
    settings = {k: v for k, v in fit.manifest.get("settings", {}).items() if k in _PLS_SETTINGS}
    if settings.get("weights") == "array":
        raise SpecError("research tables need the survey weights as a column name, not an array")
    seed = int(fit.manifest.get("seed") or 1) if seed is None else int(seed)
    tables = dict(fit.tables)
    manifest = dict(fit.manifest)
    warnings = list(manifest.get("warnings", []))
    research = dict(manifest.get("research", {}))
    fit_stats = dict(fit.fit)
    if predict:
        from csi.evaluate.predict import plspredict, predictive_power

        opts = _predict_options(predict)
        folds = opts["folds"]
        n = int(manifest.get("n", len(res.scores)))
        folds = min(int(folds), n)
        tab = plspredict(data, spec, folds=folds, reps=int(opts["reps"]), seed=seed,
                         approach=opts.get("approach", "earliest"), **settings)
        tables["predict"] = tab
        research["predict"] = {**tab.attrs, "predictive_power_rmse": predictive_power(tab, "rmse"),
                               "predictive_power_mae": predictive_power(tab, "mae")}
    if nca:
        from csi.analytics.nca import cipma

        scales = _scales(scale, list(spec.indicators), data, res.scores.index, warnings)
        if scales is None:
            raise SpecError("cIPMA needs the items' theoretical scales (give --scale MIN-MAX)")
        cons = list(res.spec.constructs)
        tgt = target or ("SAT" if "SAT" in cons else res.spec.endogenous[-1])
        if tgt not in cons:
            raise SpecError(f"cIPMA target {tgt!r} is not a construct of the model ({', '.join(cons)})")
        parts, bns = [], []
        for level in ("construct", "indicator"):
            pr = tables.get("priorities")
            ip = pr if level == "construct" and pr is not None and (pr["target"] == tgt).all() else None
            a, b = cipma(res, data, scales, target=tgt, level=level, n_perm=n_perm, seed=seed, ipma_table=ip)
            parts.append(a)
            bns.append(b)
        tables["nca"] = pd.concat(parts, ignore_index=True)
        tables["bottlenecks"] = pd.concat(bns, ignore_index=True)
        research["nca"] = {"target": tgt, "n_perm": int(n_perm), "seed": seed, "ceiling": "CE-FDH",
                           "scope": "empirical", "necessary_if": "d >= 0.1 and p < 0.05"}
        excluded = parts[0].attrs.get("excluded", [])
        if excluded:
            from csi.text.i18n import t

            research["nca"]["excluded"] = list(excluded)
            warnings.append(t("ext_nca_term_excluded", "en", terms=", ".join(excluded)))
    if fit_bootstrap:
        fit_stats = _model_fit(data, spec, int(fit_bootstrap), seed, settings, warnings)
    manifest["research"] = research
    manifest["warnings"] = warnings
    return replace(fit, tables=tables, manifest=manifest, fit=fit_stats)


def _model_fit(data, spec, n_boot: int, seed: int, settings, warnings: list) -> dict:
    """``fit`` of a PLS analysis: :func:`csi.evaluate.modelfit.model_fit` (plain and higher-order models, the
    latter on the manifest items); a model with interaction terms gets no statistics, the reason instead (en + zh)
    and a warning."""
    from csi.evaluate.modelfit import model_fit

    if spec.interactions:
        from csi.text.i18n import t

        reason = t("ext_fit_interaction", "en")
        if reason not in warnings:
            warnings.append(reason)
        return {"available": False, "reason": reason, "reason_zh": t("ext_fit_interaction", "zh")}
    return model_fit(data, spec, n_boot=n_boot, seed=seed, **settings).as_dict()


def _labels(cons) -> tuple[list[str], list[str]]:
    return ([CONSTRUCT_LABELS.get(c, (c, c))[0] for c in cons], [CONSTRUCT_LABELS.get(c, (c, c))[1] for c in cons])


def _fit_pls(data, spec, settings, bootstrap, seed, progress, alpha, scale, target, warnings, ci="percentile",
             labels=None):
    from csi.analytics.index import index_scores
    from csi.analytics.priorities import ipma
    from csi.engine.bootstrap import bootstrap_pls
    from csi.engine.params import outer_wide, paths_wide, pls_params
    from csi.engine.pls import estimate_pls
    from csi.evaluate.assess import assess_pls

    res = estimate_pls(data, spec, **settings)
    boot = None
    if bootstrap:
        boot = bootstrap_pls(data, spec, n_boot=int(bootstrap), seed=seed, progress=progress, alpha=alpha,
                             jackknife=(ci == "bca"), **settings)
        if boot.dropped:
            scope = (" from the PLSc-corrected statistics (paths, loadings, effects, R²; weights, HTMT and item "
                     "moments keep every converged resample)" if settings.get("plsc") else "")
            warnings.append(f"{sum(boot.dropped.values())} of {boot.n_boot} bootstrap resamples dropped{scope}: "
                            + ", ".join(f"{k} ({v})" for k, v in boot.dropped.items()))
        warnings.extend(n["message"] for n in getattr(boot, "notes", ()) or ())  # e.g. small-n coverage
    extended = spec.is_extended
    items = list(spec.indicators)
    if extended:  # higher-order / interaction model (csi.engine.hoc): the tables follow the estimated plain model
        spec = res.spec
    cons = list(spec.constructs)

    params = pls_params(res, boot, ci=ci)
    paths = paths_wide(params)
    outer = outer_wide(params, res)
    effects = res.effects.copy()
    if boot is not None and "total_effects" in boot.draws:
        te = boot.summary("total_effects", ci=ci)[["from", "to", "std_error", "ci_low", "ci_high"]]
        effects = effects.merge(te.rename(columns={"std_error": "total_std_error", "ci_low": "total_ci_low",
                                                   "ci_high": "total_ci_high"}), on=["from", "to"], how="left")
    else:
        effects = effects.assign(total_std_error=np.nan, total_ci_low=np.nan, total_ci_high=np.nan)

    constructs = res.constructs.copy()
    en, zh = _labels(cons)
    constructs.insert(1, "label_en", en)
    constructs.insert(2, "label_zh", zh)
    tables: dict[str, pd.DataFrame] = {}
    a = assess_pls(res, boot)
    rel = a["reliability"].set_index("construct")
    for col in ("alpha", "rho_a", "rho_c", "ave"):
        constructs[col] = rel[col].reindex(cons).to_numpy() if col in rel else np.nan
    tables["htmt"] = a["htmt"]

    scales = _scales(scale, items, data, res.scores.index, warnings)
    if scales is not None and extended:  # bounds of the added indicators; no index for an interaction term
        from csi.engine.hoc import extended_index, extended_scales
        scales = extended_scales(res, scales)
    if scales is not None:
        idx = index_scores(res, scales, boot, alpha=alpha)
        idx = (extended_index(res, idx, None)[0] if extended else idx).set_index("construct")
        constructs["index"] = idx["index"].reindex(cons).to_numpy()
        constructs["index_ci_low"] = idx["ci_low"].reindex(cons).to_numpy()
        constructs["index_ci_high"] = idx["ci_high"].reindex(cons).to_numpy()
        for note in idx["note"].dropna():
            if note:
                warnings.append(note)
    if scales is not None and spec.endogenous:  # extended models: the HOC is a driver, an interaction term is not
        tgt = target or ("SAT" if "SAT" in cons else spec.endogenous[-1])
        if tgt not in cons:
            raise SpecError(f"IPMA target {tgt!r} is not a construct of the model ({', '.join(cons)})")
        tables["priorities"] = ipma(res, scales, target=tgt, boot=boot, alpha=alpha, labels=labels)

    lead = ["construct", "r2", "r2_adj", "alpha", "rho_a", "rho_c", "ave"]
    constructs = constructs[lead + [c for c in constructs.columns if c not in lead]]
    cross = res.cross_loadings.reset_index()
    tables.update(params=params, paths=paths, outer=outer, constructs=constructs, effects=effects, f2=res.f2.copy(),
                  scores=scores_table(res.scores, data), cross_loadings=cross)
    if boot is not None:
        from csi.analytics.mediation import indirect_effects

        ind = indirect_effects(res, boot, alpha=alpha)
        if len(ind):
            tables["indirect"] = ind
    return tables, res, boot, res.scores.index, res.info


#: respondent columns of the data carried into ``scores`` (the store's frame has ``wave`` and ``respondent_id``)
ID_COLUMNS = ("wave", "respondent_id")


def scores_table(scores: pd.DataFrame, data: pd.DataFrame) -> pd.DataFrame:
    """The construct scores as a table a researcher can join back to the raw data: ``row`` (the data's row label),
    then the data's :data:`ID_COLUMNS` present (the respondent's wave and id, as text), then the constructs. Rows the
    estimator dropped (missing answers, listwise) are absent."""
    out = scores.copy()
    out.index.name = "row"
    out = out.reset_index()
    ids = [c for c in ID_COLUMNS if c in data.columns and c not in out.columns]
    for k, c in enumerate(ids, start=1):
        out.insert(k, c, data.loc[scores.index, c].astype(object).astype(str).to_numpy())
    return out


def _fit_cbsem(data, spec, settings, bootstrap, warnings):
    from csi.engine.cbsem import estimate_cbsem

    extra = sorted(k for k in settings if k not in ("missing", "weights") and settings[k] is not None)
    ignored = [k for k in extra if not (k == "scheme" and settings[k] == "path")
               and not (k == "standardize" and settings[k] is True) and not (k == "plsc" and settings[k] is False)
               and k not in ("tol", "max_iter")]
    if ignored:
        raise SpecError(f"setting{'s' if len(ignored) > 1 else ''} {', '.join(ignored)} "
                        "apply to PLS only, not to CB-SEM")
    if bootstrap:
        warnings.append("bootstrap is a PLS option; CB-SEM reports ML standard errors")
    kw = {"missing": settings.get("missing", "listwise")}
    if settings.get("weights") is not None:
        kw["weights"] = settings["weights"]
    res = estimate_cbsem(data, spec, **kw)
    # CB-SEM's own views of its parameter table: every interval belongs to the estimate beside it
    # (standardized estimate with its delta-method se/z/p/interval; *_unstd columns for the unstandardized)
    paths = res.paths.rename(columns={"z": "t", "z_unstd": "t_unstd"})
    constructs = res.constructs.copy()
    en, zh = _labels(list(constructs["construct"]))
    constructs.insert(1, "label_en", en)
    constructs.insert(2, "label_zh", zh)
    warnings.extend(res.warnings)
    tables = {"params": res.params.copy(), "paths": paths, "outer": res.outer.copy(), "constructs": constructs}
    info = dict(res.info)
    items = list(spec.indicators)
    X = data[items]
    rows = X.dropna().index if kw["missing"] == "listwise" else X.index[~X.isna().all(axis=1)]
    return tables, dict(res.fit), res, None, rows, info


#: the first release's name of :func:`analyze`
fit_model = analyze
