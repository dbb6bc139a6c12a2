"""Covariance-based SEM (maximum likelihood) through semopy — the only module that imports semopy.

:func:`estimate_cbsem` builds a FRESH semopy model from a :class:`~csi.syntax.ModelSpec` on every call
(semopy warm-starts refits of the same object), fits it by ML, checks convergence itself (semopy only
logs a failure), renames everything to the product's snake_case tables and recomputes the fit
statistics in lavaan's conventions, because semopy 2.3.11 differs from lavaan in several of them.

Choices, stated once:

* **Measurement model.** Every block is reflective (``=~``); the first indicator is the marker (loading
  fixed to 1), as in lavaan. Exogenous constructs covary freely. A formative block (``<~``) is refused
  with :class:`SpecError`: a composite is not identified in ML CB-SEM without extra constraints (each
  needs two or more emitted paths and fixed disturbances) and silently turning it into a reflective
  factor would change what the construct means. A single-item construct gets its indicator's residual
  variance fixed to 0 (the construct *is* the item), which is what identifies it.
* **Missing data.** ``"listwise"`` drops incomplete rows (``fit["n"]`` and ``info`` report how many
  remain); ``"fiml"`` uses semopy's ``ModelMeans`` full-information ML (adds one intercept per
  indicator). Under FIML the χ² is ``2 (logL_H1 − logL_H0)`` with the saturated H1 estimated by EM
  here, as lavaan does.
* **Standard errors.** Listwise ML: the expected information (semopy's, lavaan's default for complete
  data). FIML: the observed information, as lavaan's ``missing = "ml"`` default — the Hessian of the
  casewise FIML log-likelihood at the estimate, computed as Richardson-extrapolated central differences
  of the analytic gradient (:func:`_observed_information_fiml`; agrees with an independent
  function-value Hessian to ~10⁻⁶ relative). semopy's own FIML SEs use the complete-data expected
  information and are off by up to 30 % on lavaan's HS.missing test data. With complete data FIML
  equals lavaan's ML with ``information = "observed"``; observed and expected information coincide only
  when the model reproduces the sample moments exactly.
* **Parameter table and intervals.** ``CBSEMResult.params`` is lavaan's parameterEstimates joined to
  standardizedSolution (std.all): unstandardized estimate with its Wald se/z/p/95 % interval, and
  std.all with its own delta-method se (numerical Jacobian of the standardisation times the parameter
  covariance) and interval. The wide tables are views of it; in every table an interval belongs to the
  estimate beside it (``estimate``/``loading`` = std.all with ``std_error`` … ``ci_high``; ``*_unstd``
  with ``std_error_unstd`` … ``ci_high_unstd``).
* **Survey weights.** semopy has no weighted ML; ``weights`` other than ``None`` raise
  :class:`DataError` rather than being silently ignored (use PLS for weighted estimates).
* **Fit statistics (lavaan, ``likelihood = "normal"``).** ``S`` is the ML covariance (divisor n);
  ``F_ML = ln|Σ̂| + tr(S Σ̂⁻¹) − ln|S| − p``; ``χ² = n · F_ML`` (lavaan's default; not (n−1));
  ``df = p(p+1)/2 − q``; baseline = independence model, ``χ²_b = n (Σ ln s_ii − ln|S|)``,
  ``df_b = p(p−1)/2``; ``CFI = 1 − max(χ²−df, 0) / max(χ²−df, χ²_b−df_b, 0)``;
  ``TLI = (χ²_b/df_b − χ²/df) / (χ²_b/df_b − 1)``; ``RMSEA = sqrt(max(χ²−df, 0) / (df · n))`` (lavaan uses
  n; semopy uses n−1); ``SRMR`` = Bentler's (lavaan ``srmr``): root mean square over the p(p+1)/2
  lower-triangle elements of ``(s_ij − σ̂_ij) / sqrt(s_ii s_jj)`` (under FIML against the EM
  estimates, mean residuals ``(m_i − μ̂_i)/sqrt(s_ii)`` included as lavaan does with a mean structure);
  ``logL = −n/2 [p ln 2π + ln|Σ̂| + tr(S Σ̂⁻¹)]``, ``AIC = −2 logL + 2q``, ``BIC = −2 logL + q ln n`` (semopy's
  own log-likelihood/AIC/BIC are on another scale and are not used).
* **Heywood cases.** semopy bounds variances at 0, so an improper solution shows as a variance stuck at
  0 (lavaan would report it negative); either is flagged.

Diagnostics are plain-language :class:`Diagnostic` records (English ``message`` and Chinese
``message_zh``) in ``CBSEMResult.diagnostics``; ``fit["warnings"]`` repeats the English messages.
"""
from __future__ import annotations

import atexit
import logging
import re
import threading
import warnings as _warnings
from dataclasses import dataclass, field
from typing import Literal, get_args

import numpy as np
import pandas as pd
from scipy import stats as _st

from csi.errors import DataError, EstimationError, SpecError
from csi.model.syntax import ModelSpec

Missing = Literal["listwise", "fiml"]
Severity = Literal["error", "warning", "info"]
MISSING: tuple[str, ...] = get_args(Missing)

FTOL = 1e-12          # SLSQP's relative tolerance; semopy's default (1e-6) stops visibly early
MAX_ITER = 10000
GRAD_TOL = 1e-3       # largest |gradient| of a free, interior parameter accepted as converged
POOR_FIT = {"cfi": 0.90, "rmsea": 0.10, "srmr": 0.08}
MIN_OBS_PER_PARAM = 5  # Bentler & Chou (1987)
CI_LEVEL = 0.95        # Wald intervals, lavaan's default level
PARAMS_COLUMNS: tuple[str, ...] = ("lhs", "op", "rhs", "estimate", "std_error", "t", "p_value", "ci_low", "ci_high",
                                   "std_estimate", "std_estimate_se", "std_ci_low", "std_ci_high")


@dataclass(frozen=True)
class Diagnostic:
    """One finding about a CB-SEM solution, in plain words (English and Chinese)."""

    code: str
    severity: Severity
    message: str
    message_zh: str

    def as_dict(self) -> dict:
        return {"code": self.code, "severity": self.severity, "message": self.message,
                "message_zh": self.message_zh}


@dataclass(frozen=True)
class CBSEMResult:
    """An ML CB-SEM fit as tidy tables.

    ``params`` is the one source of truth: lavaan's parameterEstimates + standardizedSolution in one long
    table, columns :data:`PARAMS_COLUMNS` then ``std_z``, ``std_p_value``, ``free``. ``op`` is ``=~``
    (lhs construct, rhs indicator), ``~`` (lhs outcome, rhs predictor), ``~~`` ((residual) variances and
    covariances) or ``~1`` (intercepts, FIML only). ``estimate`` is unstandardized and ``std_error``, ``t``
    (= z), ``p_value``, ``ci_low``, ``ci_high`` belong to it; ``std_estimate`` is lavaan's std.all with
    its own delta-method ``std_estimate_se`` and interval. Fixed parameters (markers, fixed variances)
    have se 0, z and p NaN and the interval [estimate, estimate], as lavaan prints them.

    The wide tables are views of ``params``: ``paths`` (from, to, estimate [std.all], estimate_unstd,
    std_error, z, p_value, ci_low, ci_high [all of the standardized estimate], std_error_unstd, z_unstd,
    p_value_unstd, ci_low_unstd, ci_high_unstd [of estimate_unstd]); ``outer`` (construct, indicator,
    loading [std], loading_unstd, then the same statistics); ``variances`` (variable, kind
    [indicator|construct], residual [bool], estimate [std], estimate_unstd, statistics); ``covariances``
    (var_1, var_2, estimate [correlation], estimate_unstd, statistics). ``constructs`` (construct, r2);
    ``fit`` dict (chi2, df, p_value, cfi, tli, rmsea, srmr, aic, bic, loglik, baseline_chi2, baseline_df, n,
    npar, estimator, converged, warnings); ``diagnostics`` tuple of :class:`Diagnostic`; ``info``
    (settings, counts, optimizer report, information used, versions); ``vcov`` the covariance matrix of
    the free parameters, in the order of the ``free`` rows of ``params``.
    """

    paths: pd.DataFrame
    outer: pd.DataFrame
    variances: pd.DataFrame
    covariances: pd.DataFrame
    constructs: pd.DataFrame
    fit: dict
    diagnostics: tuple[Diagnostic, ...]
    spec: ModelSpec | None
    info: dict = field(default_factory=dict)
    params: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=list(PARAMS_COLUMNS)))
    vcov: np.ndarray | None = None

    @property
    def warnings(self) -> list[str]:
        """English messages of every warning- or error-level diagnostic."""
        return [d.message for d in self.diagnostics if d.severity != "info"]

    @property
    def converged(self) -> bool:
        return bool(self.info.get("converged", False))

    def diagnostics_table(self) -> pd.DataFrame:
        return pd.DataFrame([d.as_dict() for d in self.diagnostics],
                            columns=["code", "severity", "message", "message_zh"])


# =============================================================================== front door
def estimate_cbsem(data: pd.DataFrame, spec: ModelSpec, *, missing: Missing = "listwise",
                   weights=None) -> CBSEMResult:
    """Fit ``spec`` to ``data`` by maximum likelihood (semopy), lavaan-compatible statistics.

    data: DataFrame with (at least) every indicator of ``spec`` as a numeric column; other columns
    are ignored. missing: ``"listwise"`` or ``"fiml"``. weights: must be ``None`` (see module doc).
    The fit runs in the package's CB-SEM worker process (see :func:`_in_worker`): the caller's stdout,
    warnings filters, logging handlers and BLAS threads are never touched (the dashboard serves sessions on
    threads).
    """
    if missing not in MISSING:
        raise SpecError(f"unknown missing-data treatment {missing!r}; choose one of {', '.join(MISSING)}")
    if not isinstance(spec, ModelSpec):
        raise SpecError(f"spec must be a ModelSpec (see csi.syntax.parse_model), got {type(spec).__name__}")
    if weights is not None:
        raise DataError("CB-SEM (semopy) cannot use survey weights: its maximum-likelihood estimator has no "
                        "weighted form. Fit the model without weights, or use PLS, which supports them.")
    if spec.interactions:
        raise SpecError("interaction terms (" + ", ".join(t for t, *_ in spec.interactions) + ") cannot be "
                        "estimated by CB-SEM here: latent interactions need LMS/QML, which semopy lacks. "
                        "Use PLS (two-stage, product-indicator or orthogonal interaction terms).")
    formative = [c for c, m in spec.modes.items() if m == "B"]
    if formative:
        raise SpecError(
            f"formative block{'s' if len(formative) > 1 else ''} {', '.join(formative)} ('<~') cannot be "
            "estimated by CB-SEM here: a composite is not identified as a common factor without extra "
            "constraints. Declare the block reflective ('=~') if its items measure one common cause, or use PLS.")
    if not isinstance(data, pd.DataFrame):
        raise DataError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    spec.check_columns(data.columns)
    items = list(spec.indicators)
    bad = [c for c in items if not pd.api.types.is_numeric_dtype(data[c])]
    if bad:
        raise DataError(f"non-numeric indicator column{'s' if len(bad) > 1 else ''} {', '.join(bad)}: "
                        "CB-SEM needs numbers")
    X = data[items].astype(float)
    if np.isinf(X.to_numpy()).any():
        raise DataError(f"infinite values in {', '.join(c for c in items if np.isinf(X[c]).any())}")
    n_total = len(X)
    if missing == "listwise":
        X = X.dropna()
    else:
        empty = X.isna().all(axis=1)
        X = X[~empty]
    n = len(X)
    if n < 3:
        raise DataError(f"too few usable rows for CB-SEM: {n} of {n_total} after {missing} treatment")
    sd = X.std(ddof=1)
    zero = [c for c in items if not (sd[c] > 0)]
    if zero:
        raise DataError(f"indicator{'s' if len(zero) > 1 else ''} {', '.join(zero)} "
                        f"{'have' if len(zero) > 1 else 'has'} no variance in the rows used")
    desc = model_description(spec)
    kw = dict(latents=list(spec.constructs), fiml=missing == "fiml", spec=spec, max_iter=MAX_ITER)
    res = _estimate(desc, X, **kw)
    res.info.update(missing=missing, n_total=n_total, n_used=n, n_dropped=n_total - n, description=desc)
    return res


def model_description(spec: ModelSpec) -> str:
    """semopy/lavaan syntax of ``spec``: reflective blocks, regressions, single-item residuals fixed to 0."""
    lines = [f"{c} =~ {' + '.join(spec.blocks[c])}" for c in spec.constructs]
    lines += [f"{c} ~ {' + '.join(spec.predecessors(c))}" for c in spec.endogenous]
    lines += [f"{spec.blocks[c][0]} ~~ 0*{spec.blocks[c][0]}" for c in spec.constructs if len(spec.blocks[c]) == 1]
    return "\n".join(lines)


# =============================================================================== worker
_POOL = None
_POOL_LOCK = threading.Lock()


class _DropSemopy(logging.Filter):
    """Drops the records semopy logs through the root logger (installed in the worker process only)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "semopy" not in record.pathname


def _worker_init() -> None:
    """Start-up of the CB-SEM worker, a process that runs nothing but semopy fits.

    semopy logs through the root logger (``logging.warning`` installs a stderr handler when there is none),
    prints, and numpy warns during the optimisation; and BLAS threads on these small matrices only contend
    (10x slower on a busy 2-core machine). Silencing all that needs process-wide settings, which is why they
    are made here, once, in this process of its own, and never in the process that calls
    :func:`estimate_cbsem`: a NullHandler and a semopy filter on the root logger, warnings ignored, stdout to
    the null device, one BLAS thread."""
    import os
    import sys

    from threadpoolctl import threadpool_limits

    from csi.runtime.execution import worker_only

    worker_only("the CB-SEM worker's start-up")  # never in a serving process (tests/test_cbsem.py)
    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(logging.NullHandler())
    root.addFilter(_DropSemopy())
    _warnings.simplefilter("ignore")
    sys.stdout = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115 - lives as long as the worker
    threadpool_limits(1)


def _shutdown_worker() -> None:
    global _POOL
    with _POOL_LOCK:
        pool, _POOL = _POOL, None
    if pool is not None:
        pool.shutdown(wait=True, cancel_futures=True)


def _in_worker(fn, *args, **kwargs):
    """``fn(*args, **kwargs)`` in the CB-SEM worker process (one, started on first use with ``spawn`` and
    reused; concurrent requests queue). A worker that died is replaced and the request fails with a clear
    EstimationError."""
    global _POOL
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"),
                                        initializer=_worker_init)
            atexit.register(_shutdown_worker)  # before interpreter teardown, or the executor's thread complains
        pool = _POOL
    try:
        return pool.submit(fn, *args, **kwargs).result()
    except BrokenProcessPool:
        with _POOL_LOCK:
            if _POOL is pool:
                _POOL = None
        raise EstimationError("the CB-SEM worker process stopped unexpectedly (out of memory?); try again, "
                              "or fit a smaller model") from None


def _estimate(desc: str, X: pd.DataFrame, **kw) -> CBSEMResult:
    """Fit semopy syntax ``desc`` to X (n x p; NaN allowed only with ``fiml``) in the CB-SEM worker process.

    Used by :func:`estimate_cbsem` and, with syntax a ModelSpec cannot express (residual covariances,
    pure CFA), by the reference tests. Keywords as :func:`_fit`.
    """
    return _in_worker(_fit, desc, X, **kw)


def _fit(desc: str, X: pd.DataFrame, *, latents: list[str], fiml: bool = False,
         spec: ModelSpec | None = None, max_iter: int | None = None) -> CBSEMResult:
    """The fit itself; runs in the worker process (:func:`_worker_init` keeps semopy quiet there)."""
    import semopy  # the only place

    diags: list[Diagnostic] = []
    model = semopy.ModelMeans(desc) if fiml else semopy.Model(desc)
    obs = list(model.vars["observed"])
    unknown = [v for v in obs if v not in X.columns]
    if unknown:
        raise SpecError(f"variables {', '.join(unknown)} are not in the data")
    Xo = X[obs]
    q_free = sum(1 for prm in model.parameters.values() if prm.active)
    moments = len(obs) * (len(obs) + 1) // 2 + (len(obs) if fiml else 0)
    if q_free > moments:
        raise SpecError(f"the model is not identified: {q_free} free parameters but only {moments} "
                        "variances, covariances" + (" and means" if fiml else "") + " to fit them "
                        f"(degrees of freedom {moments - q_free}); add indicators or remove paths")
    S_ml, sample_pd = _sample_cov_check(Xo)
    if not sample_pd:
        diags.append(_d("sample_cov_not_pd", "error",
                        "The sample covariance matrix of the indicators is not positive definite (some items "
                        "are exact linear combinations of others, or there are fewer complete rows than items). "
                        "semopy replaced it by the nearest positive-definite matrix, so the estimates describe "
                        "slightly different data. Remove redundant items or collect more responses.",
                        "指标的样本协方差矩阵不是正定矩阵（部分题项是其他题项的线性组合，或完整样本少于题项数）。"
                        "semopy 已用最接近的正定矩阵代替，估计结果对应的数据略有不同。请删除冗余题项或增加样本。"))
    if fiml:
        _install_fast_fiml(model)
        opt = model.fit(Xo, obj="ML", solver="SLSQP", options={"ftol": FTOL, "maxiter": max_iter or MAX_ITER})
        grad = model.grad_fiml(model.param_vals)
        scale = max(1.0, len(Xo))
    else:
        opt = model.fit(Xo, obj="MLW", solver="SLSQP", options={"ftol": FTOL, "maxiter": max_iter or MAX_ITER})
        grad = model.grad_mlw(model.param_vals)
        scale = 1.0
    sigma, (lam_c, cmat) = model.calc_sigma()
    inner = list(model.vars["inner"]) if "inner" in model.vars else []
    mean_hat = model.calc_mean(lam_c)[:, 0] if fiml else None
    x_hat = np.asarray(model.param_vals, dtype=float).copy()
    rows = _parameter_rows(model)
    if fiml:
        info_mx = _observed_information_fiml(model.grad_fiml, x_hat, model.get_bounds())
    else:
        info_mx = model.calc_fim(inverse=False)
    vcov, info_pd = _invert_information(info_mx)
    std_hat, std_vcov = _standardized(model, rows, x_hat, vcov, model.get_bounds())
    model.update_matrices(x_hat)

    if not info_pd:
        diags.append(_d("information_not_pd", "warning",
                        "The information matrix is singular at the solution, so the standard errors, z and p "
                        "values are unreliable (the model is empirically under-identified: some parameters "
                        "cannot be told apart in these data).",
                        "解处的信息矩阵奇异，标准误、z 值和 p 值不可靠（模型在经验上识别不足：数据无法区分部分参数）。"))

    # ---------------------------------------------------------------- convergence
    bounds = model.get_bounds()
    x = np.asarray(model.param_vals, dtype=float)
    g = np.asarray(grad, dtype=float) / scale
    interior = np.array([not ((lo is not None and x[k] - lo < 1e-8 and g[k] > 0) or
                              (hi is not None and hi - x[k] < 1e-8 and g[k] < 0))
                         for k, (lo, hi) in enumerate(bounds)], dtype=bool)
    max_grad = float(np.max(np.abs(g[interior]))) if interior.any() else 0.0
    # first-order condition decides: SLSQP at a tight ftol sometimes ends with "positive directional
    # derivative" at the optimum (success False); a large gradient is non-convergence whatever it says
    converged = bool(np.isfinite(opt.fun)) and max_grad < GRAD_TOL
    if not converged:
        diags.append(_d("not_converged", "error",
                        f"The ML optimizer did not converge ({opt.message}; largest gradient {max_grad:.2g}). "
                        "The estimates below are not a maximum-likelihood solution and must not be interpreted. "
                        "This often means the model does not suit the data; PLS path modeling is more robust.",
                        f"最大似然优化未收敛（{opt.message}；最大梯度 {max_grad:.2g}）。以下估计不是最大似然解，"
                        "不能用于解释。这通常说明模型与数据不匹配；PLS 路径模型更稳健。"))

    # ---------------------------------------------------------------- tables
    latent_set = set(latents)
    params = _params_table(rows, x_hat, vcov, std_hat, std_vcov)
    observed_order = [c for c in X.columns if c in set(obs)]
    params = _order_params(params, [*latents, *observed_order], observed_order,
                           spec.paths if spec is not None else ())
    # vcov in the order of params' free rows (semopy keeps one entry per free parameter)
    perm = params.loc[params["free"], "_free_index"].to_numpy()
    if len(perm) == len(vcov) and sorted(perm) == list(range(len(vcov))):
        vcov = vcov[np.ix_(perm, perm)]
    params = params.drop(columns="_free_index")
    outer, paths, variances, covariances = _wide_tables(params, latent_set, set(obs))
    endo_lat = set(paths["to"])
    r2 = []
    for c in latents:
        v = variances[(variances.variable == c)]
        r2.append(1.0 - float(v["estimate"].iloc[0]) if c in endo_lat and len(v) else np.nan)
    constructs = pd.DataFrame({"construct": latents, "r2": r2})

    # ---------------------------------------------------------------- fit statistics
    n = len(Xo)
    p = len(obs)
    q = int(len(x))
    if fiml:
        fit = _fit_fiml(Xo.to_numpy(), sigma, mean_hat, q)
    else:
        fit = _fit_ml(S_ml, sigma, n, q)
    fit.update(n=n, estimator="FIML" if fiml else "ML", converged=converged)

    # ---------------------------------------------------------------- diagnostics
    fixed_zero = set(re.findall(r"^\s*([\w.]+)\s*~~\s*0\s*\*\s*\1\s*$", desc, flags=re.M))
    diags += _diagnose(outer, paths, variances, covariances, fit, sigma, cmat, model, inner, latents,
                       obs, S_ml, n, fixed_zero)
    fit = {k: (float(v) if isinstance(v, (float, np.floating)) else v) for k, v in fit.items()}
    fit["warnings"] = [d.message for d in diags if d.severity != "info"]
    info = {"converged": converged, "iterations": int(opt.n_it) if np.isfinite(opt.n_it) else None,
            "optimizer_message": str(opt.message), "objective": "FIML" if fiml else "MLW",
            "objective_value": float(opt.fun), "max_gradient": max_grad, "solver": "SLSQP", "ftol": FTOL,
            "n_parameters": q, "n_observed": p, "versions": {"semopy": getattr(semopy, "__version__", "?"),
                                                              "numpy": np.__version__, "pandas": pd.__version__}}
    info.update(information="observed (numerical Hessian of the FIML log-likelihood)" if fiml else "expected",
                ci_level=CI_LEVEL)
    return CBSEMResult(paths=paths, outer=outer, variances=variances, covariances=covariances,
                       constructs=constructs, fit=fit, diagnostics=tuple(diags), spec=spec, info=info,
                       params=params, vcov=vcov)


# ------------------------------------------------------------------------- parameter table, SEs, delta method
@dataclass(frozen=True)
class _Row:
    """One model parameter: lavaan names, the semopy matrix it sits in and its free index (None = fixed)."""

    lhs: str
    op: str
    rhs: str
    kind: str          # lambda | beta | psi | theta | gamma1 | gamma2
    i: int
    j: int
    free: int | None
    value: float       # at the estimate (the fixed value for a fixed parameter)


_MATRICES = (("lambda", "=~"), ("beta", "~"), ("psi", "~~"), ("theta", "~~"), ("gamma2", "~1"), ("gamma1", "~1"))


def _parameter_rows(model) -> list[_Row]:
    """Every parameter of a semopy model (free and fixed) in lavaan's terms, semopy's order within a matrix."""
    active = {k: n for n, k in enumerate(k for k, prm in model.parameters.items() if prm.active)}
    out: list[_Row] = []
    for kind, op in _MATRICES:
        mx = getattr(model, f"mx_{kind}", None)
        if mx is None:
            continue
        names = getattr(model, f"names_{kind}")
        for name, prm in model.parameters.items():
            for loc in prm.locations:
                if loc.matrix is not mx:
                    continue
                i, j = loc.indices
                a, b = names[0][i], names[1][j]
                lhs, rhs = (b, a) if kind == "lambda" else (a, "") if kind.startswith("gamma") else (a, b)
                out.append(_Row(lhs, op, rhs, kind, int(i), int(j), active.get(name) if prm.active else None,
                                float(mx[i, j])))
    return out


def _std_all(model, rows: list[_Row], x: np.ndarray) -> np.ndarray:
    """lavaan's std.all of every row at parameter vector ``x`` (the model's matrices are left at ``x``).

    Loadings λ·sd(η)/sd(y); regressions β·sd(x)/sd(y); variances by the total variance; covariances by
    the two residual variances (lavaan's ``cov.std = TRUE``); intercepts by the total sd.
    """
    model.update_matrices(x)
    sigma, (_, c) = model.calc_sigma()
    with np.errstate(invalid="ignore", divide="ignore"):
        var_in = np.diag(c @ model.mx_psi @ c.T)
        var_ob = np.diag(sigma)
        sd_in, sd_ob = np.sqrt(var_in), np.sqrt(var_ob)
        psi_d, th_d = np.diag(model.mx_psi), np.diag(model.mx_theta)
        out = np.empty(len(rows))
        for k, r in enumerate(rows):
            v = getattr(model, f"mx_{r.kind}")[r.i, r.j]
            if r.kind == "lambda":
                out[k] = v * sd_in[r.j] / sd_ob[r.i]
            elif r.kind == "beta":
                out[k] = v * sd_in[r.j] / sd_in[r.i]
            elif r.kind in ("psi", "theta"):
                tot, res = (var_in, psi_d) if r.kind == "psi" else (var_ob, th_d)
                out[k] = v / tot[r.i] if r.i == r.j else v / np.sqrt(res[r.i] * res[r.j])
            elif r.kind == "gamma2":
                out[k] = v / sd_ob[r.i]
            else:
                out[k] = v / sd_in[r.i]
    return out


def _steps(x: np.ndarray, bounds, rel: float, floor: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-parameter step h_j = rel·max(|x_j|, floor) and whether a central difference stays in bounds."""
    h = rel * np.maximum(np.abs(x), floor)
    central = np.array([(lo is None or x[k] - 2 * h[k] > lo) and (hi is None or x[k] + 2 * h[k] < hi)
                        for k, (lo, hi) in enumerate(bounds)], dtype=bool)
    return h, central


def _jacobian(f, x: np.ndarray, bounds, rel: float = 2e-3, floor: float = 0.1) -> np.ndarray:
    """Numerical Jacobian of vector function f at x: columns by Richardson-extrapolated differences.

    Central differences D(h) = (f(x+h) − f(x−h)) / 2h at h and h/2, combined as (4 D(h/2) − D(h)) / 3, so the
    truncation error is O(h⁴) (h = 2·10⁻³ relative: ~10⁻¹¹ relative); a parameter within 2h of a bound
    (a variance stuck at 0) gets forward differences extrapolated the same way, (2 F(h/2) − F(h)), O(h²).
    """
    h, central = _steps(x, bounds, rel, floor)
    f0 = None
    cols = []
    for k in range(len(x)):
        def at(step):
            e = x.copy()
            e[k] += step
            return np.asarray(f(e), dtype=float)
        if central[k]:
            d1 = (at(h[k]) - at(-h[k])) / (2 * h[k])
            d2 = (at(h[k] / 2) - at(-h[k] / 2)) / h[k]
            cols.append((4 * d2 - d1) / 3)
        else:
            if f0 is None:
                f0 = np.asarray(f(x.copy()), dtype=float)
            s = h[k] if bounds[k][1] is None or x[k] + 2 * h[k] < bounds[k][1] else -h[k]
            d1 = (at(s) - f0) / s
            d2 = (at(s / 2) - f0) / (s / 2)
            cols.append(2 * d2 - d1)
    return np.column_stack(cols) if cols else np.zeros((0, 0))


def _observed_information_fiml(grad, x: np.ndarray, bounds) -> np.ndarray:
    """Observed information of the FIML fit: the Hessian of −logL at the estimate (lavaan's default).

    ``grad`` is the analytic gradient of semopy's FIML objective Σ_rows [ln|Σ_oo| + c_o'Σ_oo⁻¹c_o] = −2 logL + const,
    so the information is half its Jacobian (:func:`_jacobian`, Richardson-extrapolated central differences of
    the analytic gradient), symmetrised.
    """
    H = _jacobian(grad, x, bounds) / 2.0
    return (H + H.T) / 2.0


def _invert_information(info: np.ndarray) -> tuple[np.ndarray, bool]:
    """(covariance matrix of the estimates, whether the information was positive definite)."""
    info = (info + info.T) / 2.0
    try:
        np.linalg.cholesky(info)
        return np.linalg.inv(info), True
    except np.linalg.LinAlgError:
        return np.linalg.pinv(info), False


def _standardized(model, rows, x, vcov, bounds) -> tuple[np.ndarray, np.ndarray]:
    """std.all values and their delta-method covariance J V J' (J numerical, as lavaan's standardizedSolution)."""
    std = _std_all(model, rows, x)
    if len(x) == 0:
        return std, np.zeros((len(rows), len(rows)))
    J = _jacobian(lambda v: _std_all(model, rows, v), x, bounds, rel=1e-4, floor=1.0)
    model.update_matrices(x)
    return std, J @ vcov @ J.T


def _wald(est: np.ndarray, se: np.ndarray, free: np.ndarray) -> tuple[np.ndarray, ...]:
    """(se, z, p, ci_low, ci_high): fixed values (or se 0) get se 0, z and p NaN and the interval [est, est]."""
    se = np.where(free, se, 0.0)
    tiny = se <= 1e-10 * np.maximum(1.0, np.abs(est))
    se = np.where(tiny, 0.0, se)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.where(tiny, np.nan, est / se)
    p = np.where(np.isnan(z), np.nan, 2.0 * _st.norm.sf(np.abs(z)))
    zc = float(_st.norm.ppf(0.5 + CI_LEVEL / 2))
    return se, z, p, est - zc * se, est + zc * se


def _params_table(rows, x, vcov, std_hat, std_vcov) -> pd.DataFrame:
    """The long lavaan-style table (:data:`PARAMS_COLUMNS`, then std_z, std_p_value, free)."""
    est = np.array([x[r.free] if r.free is not None else r.value for r in rows], dtype=float)
    free = np.array([r.free is not None for r in rows], dtype=bool)
    se = np.full(len(rows), np.nan)
    for k, r in enumerate(rows):
        if r.free is not None and vcov[r.free, r.free] >= 0:
            se[k] = np.sqrt(vcov[r.free, r.free])
    se, z, p, lo, hi = _wald(est, se, free)
    dv = np.diag(std_vcov) if len(std_vcov) else np.zeros(len(rows))
    std_se = np.where(dv >= 0, np.sqrt(np.abs(dv)), np.nan)
    std_se, std_z, std_p, std_lo, std_hi = _wald(std_hat, std_se, np.ones(len(rows), dtype=bool))
    return pd.DataFrame({"lhs": [r.lhs for r in rows], "op": [r.op for r in rows], "rhs": [r.rhs for r in rows],
                         "estimate": est, "std_error": se, "t": z, "p_value": p, "ci_low": lo, "ci_high": hi,
                         "std_estimate": std_hat, "std_estimate_se": std_se, "std_ci_low": std_lo,
                         "std_ci_high": std_hi, "std_z": std_z, "std_p_value": std_p, "free": free,
                         "_free_index": [-1 if r.free is None else r.free for r in rows]})



def _order_params(params: pd.DataFrame, variables: list[str], observed, paths=()) -> pd.DataFrame:
    """Deterministic lavaan-like order (semopy's internal order follows set iteration, i.e. the hash seed).

    ``variables``: constructs then indicators in declaration order. A covariance is written with the earlier
    variable as lhs. Rows: loadings (construct, item), regressions (``paths`` order, then declaration),
    indicator (residual) (co)variances, construct (co)variances, intercepts.
    """
    pos = {v: k for k, v in enumerate(variables)}
    big = len(pos)
    observed = set(observed)
    path = {(f, t): k for k, (f, t) in enumerate(paths)}
    lhs, rhs = params["lhs"].to_numpy(dtype=object).copy(), params["rhs"].to_numpy(dtype=object).copy()
    for k, op in enumerate(params["op"]):
        if op == "~~" and pos.get(rhs[k], big) < pos.get(lhs[k], big):
            lhs[k], rhs[k] = rhs[k], lhs[k]
    params = params.assign(lhs=lhs, rhs=rhs)
    ops = {"=~": 0, "~": 1, "~~": 2, "~1": 3}
    key = []
    for r in params.itertuples():
        a, b = pos.get(r.lhs, big), pos.get(r.rhs, big)
        if r.op == "~":
            key.append((1, path.get((r.rhs, r.lhs), len(path)), a, b))
        elif r.op == "~~":
            key.append((2, -1 if r.lhs in observed else 0, a, b))
        else:
            key.append((ops.get(r.op, 4), 0, a, b))
    order = sorted(range(len(key)), key=lambda n: (key[n], n))
    return params.iloc[order].reset_index(drop=True)


_STD_COLS = {"std_estimate_se": "std_error", "std_z": "z", "std_p_value": "p_value", "std_ci_low": "ci_low",
             "std_ci_high": "ci_high"}
_UNSTD_COLS = {"std_error": "std_error_unstd", "t": "z_unstd", "p_value": "p_value_unstd",
               "ci_low": "ci_low_unstd", "ci_high": "ci_high_unstd"}
WIDE_STATS = ("std_error", "z", "p_value", "ci_low", "ci_high")
WIDE_STATS_UNSTD = tuple(_UNSTD_COLS.values())


def _wide(sub: pd.DataFrame, keys: dict, est: str) -> pd.DataFrame:
    """Wide table from params rows ``sub``: key columns, ``est`` [std] and ``est``_unstd, std stats, unstd stats."""
    out = pd.DataFrame({new: sub[old].to_numpy() for new, old in keys.items()})
    out[est] = sub["std_estimate"].to_numpy()
    out[f"{est}_unstd"] = sub["estimate"].to_numpy()
    for old, new in _STD_COLS.items():
        out[new] = sub[old].to_numpy()
    for old, new in _UNSTD_COLS.items():
        out[new] = sub[old].to_numpy()
    return out


def _wide_tables(params: pd.DataFrame, latent_set: set, obs_set: set):
    """outer, paths, variances, covariances — views of ``params`` (one source of truth)."""
    lo = params[(params.op == "=~") & params.rhs.isin(obs_set)]
    outer = _wide(lo, {"construct": "lhs", "indicator": "rhs"}, "loading")
    pa = params[(params.op == "~") & params.lhs.isin(latent_set) & params.rhs.isin(latent_set)]
    paths = _wide(pa, {"from": "rhs", "to": "lhs"}, "estimate")
    endo = set(pa["lhs"])
    va = params[(params.op == "~~") & (params.lhs == params.rhs)]
    variances = _wide(va, {"variable": "lhs"}, "estimate")
    variances.insert(1, "kind", ["construct" if v in latent_set else "indicator" for v in variances["variable"]])
    variances.insert(2, "residual", [v in obs_set or v in endo for v in variances["variable"]])
    cv = params[(params.op == "~~") & (params.lhs != params.rhs)]
    covariances = _wide(cv, {"var_1": "lhs", "var_2": "rhs"}, "estimate")
    return outer, paths, variances, covariances


def _install_fast_fiml(model) -> None:
    """Replace semopy's FIML objective and gradient by algebraically equal, vectorised ones.

    semopy loops over missingness patterns (and, in the gradient, over patterns × parameters): with
    ~250 distinct patterns and ~90 parameters one fit took minutes. Here every row's observed-part
    inverse comes from the full precision matrix P = Σ⁻¹ by the Schur complement,
    ``Σ_oo⁻¹ = P_oo − P_om P_mm⁻¹ P_mo`` and ``ln|Σ_oo| = ln|Σ| + ln|P_mm|``, batched over rows with
    the same number k of missing items (k is small), so the objective (semopy's, without constants)
    ``Σ_rows [ln|Σ_oo| + c_o' Σ_oo⁻¹ c_o]`` costs a few array operations. The gradient uses that the
    trace terms are linear in dΣ and dμ: ``∂/∂θ_j = tr(W dΣ_j) − 2 U·dμ_j`` with
    ``W = Σ_rows (A_r − v_r v_r')``, ``U = Σ_rows v_r``, ``A_r`` the zero-padded Σ_oo⁻¹ and ``v_r = A_r c_r``.
    Valid when the mean structure is intercepts only (our models); otherwise semopy's code is kept.
    The data are read lazily because semopy loads them inside ``fit``.
    """
    slow_obj, slow_grad = model.obj_fiml, model.grad_fiml
    cache: dict = {}

    def prepared():
        data = model.mx_data
        if cache.get("data") is not data:
            obs = ~np.isnan(data)
            k = (~obs).sum(axis=1)
            groups = []
            for kk in np.unique(k):
                rows = np.where(k == kk)[0]
                M = np.array([np.where(~obs[r])[0] for r in rows], dtype=int).reshape(len(rows), kk)
                groups.append((rows, M))
            cache.update(data=data, obs=obs, groups=groups,
                         simple=model.mx_g.shape[0] == 1 and bool(np.all(model.mx_g == 1.0)))
        return cache

    def one_column(fn, *args):
        # the intercept design is a row of ones (1 x n): one column carries all the information
        g = model.mx_g
        model.mx_g = g[:, :1]
        try:
            return fn(*args)
        finally:
            model.mx_g = g

    def pieces(x: np.ndarray, want_grad: bool):
        model.update_matrices(x)
        sigma, (m, c) = model.calc_sigma()
        mu = one_column(model.calc_mean, m)[:, 0]
        try:
            L = np.linalg.cholesky(sigma)
        except np.linalg.LinAlgError:
            return None
        P = np.linalg.inv(sigma)
        P = (P + P.T) / 2
        logdet = 2.0 * np.log(np.diag(L)).sum()
        d = prepared()
        C = np.where(d["obs"], model.mx_data - mu, 0.0)          # (n x p) centred, 0 where missing
        PC = C @ P                                                # rows: P c_r
        total = 0.0
        W = np.zeros_like(P)
        U = np.zeros(len(P))
        for rows, M in d["groups"]:
            c_r, pc = C[rows], PC[rows]
            quad = np.einsum("ri,ri->r", c_r, pc)                 # c'Pc
            total += len(rows) * logdet + quad.sum()
            if M.shape[1] == 0:
                v = pc
                if want_grad:
                    W += len(rows) * P
            else:
                Pmm = P[M[:, :, None], M[:, None, :]]             # (G x k x k)
                Pm = P[M]                                         # (G x k x p)
                sign, ld = np.linalg.slogdet(Pmm)
                if np.any(sign <= 0):
                    return None
                y = np.take_along_axis(pc, M, axis=1)             # P_m. c  (G x k)
                sol = np.linalg.solve(Pmm, y[:, :, None])[:, :, 0]
                total += ld.sum() - np.einsum("rk,rk->r", y, sol).sum()
                v = pc - np.einsum("rkp,rk->rp", Pm, sol)
                if want_grad:
                    W += len(rows) * P - np.tensordot(Pm, np.linalg.solve(Pmm, Pm), axes=([0, 1], [0, 1]))
            if want_grad:
                W -= v.T @ v
                U += v.sum(axis=0)
        return total, W, U, m, c

    def obj(x: np.ndarray) -> float:
        if not prepared()["simple"]:
            return slow_obj(x)
        out = pieces(x, False)
        if out is None or out[0] < 0:
            return np.inf
        return float(out[0])

    def grad(x: np.ndarray) -> np.ndarray:
        if not prepared()["simple"]:
            return slow_grad(x)
        out = pieces(x, True)
        if out is None:
            return np.full(len(x), np.inf)
        _, W, U, m, c = out
        res = np.empty(len(model.mx_diffs))
        for j, (s_g, m_g) in enumerate(zip(model.calc_sigma_grad(m, c), one_column(model.calc_mean_grad, m, c))):
            val = 0.0
            if np.ndim(s_g):
                val += float(np.sum(W * s_g.T))
            if np.ndim(m_g):
                val -= 2.0 * float(U @ m_g[:, 0])
            res[j] = val
        return res

    model.objectives["FIML"] = (obj, grad)
    model.obj_fiml, model.grad_fiml = obj, grad


def _d(code: str, severity: Severity, en: str, zh: str) -> Diagnostic:
    return Diagnostic(code, severity, en, zh)


def _sample_cov_check(X: pd.DataFrame) -> tuple[np.ndarray, bool]:
    """ML (divisor n) covariance of X (n x p) — pairwise when X has holes — and whether it is PD."""
    A = X.to_numpy(dtype=float)
    if np.isnan(A).any():
        S = X.cov(ddof=0).to_numpy()
    else:
        c = A - A.mean(axis=0)
        S = c.T @ c / len(A)
    ev = np.linalg.eigvalsh(S)
    return S, bool(ev.min() > 1e-10 * max(ev.max(), 1e-300)) and np.isfinite(S).all()


# ------------------------------------------------------------------------- fit in lavaan's conventions
def _logdet(M: np.ndarray) -> float:
    sign, ld = np.linalg.slogdet(M)
    return ld if sign > 0 else np.nan


def _indices(chi2: float, df: int, chi2_b: float, df_b: int, n: int) -> dict:
    out = {"chi2": chi2, "df": df, "p_value": float(_st.chi2.sf(chi2, df)) if df > 0 else np.nan,
           "baseline_chi2": chi2_b, "baseline_df": df_b}
    num = max(chi2 - df, 0.0)
    den = max(chi2 - df, chi2_b - df_b, 0.0)
    out["cfi"] = 1.0 - num / den if den > 0 else 1.0
    out["tli"] = ((chi2_b / df_b - chi2 / df) / (chi2_b / df_b - 1.0)) if df > 0 and df_b > 0 else np.nan
    out["rmsea"] = float(np.sqrt(num / (df * n))) if df > 0 else np.nan
    return out


def _srmr(S: np.ndarray, Sigma: np.ndarray, m: np.ndarray | None = None, mu: np.ndarray | None = None) -> float:
    d = np.sqrt(np.diag(S))
    R = (S - Sigma) / np.outer(d, d)
    il = np.tril_indices(len(S))
    sq = list(R[il] ** 2)
    if m is not None:
        sq += list(((m - mu) / d) ** 2)
    return float(np.sqrt(np.mean(sq)))


def _fit_ml(S: np.ndarray, Sigma: np.ndarray, n: int, q: int) -> dict:
    """lavaan's ML statistics from the ML covariance S (p x p), implied Σ̂ (p x p), n rows, q free params."""
    p = len(S)
    Si = np.linalg.inv(Sigma)
    ld_sig, ld_s = _logdet(Sigma), _logdet(S)
    tr = float(np.trace(S @ Si))
    F = ld_sig + tr - ld_s - p
    chi2 = max(n * F, 0.0)
    df = p * (p + 1) // 2 - q
    chi2_b = n * (float(np.sum(np.log(np.diag(S)))) - ld_s)
    out = _indices(chi2, df, chi2_b, p * (p - 1) // 2, n)
    loglik = -n / 2 * (p * np.log(2 * np.pi) + ld_sig + tr)
    out.update(srmr=_srmr(S, Sigma), loglik=loglik, aic=-2 * loglik + 2 * q, bic=-2 * loglik + q * np.log(n),
               npar=q, f_ml=F)
    return out


def em_saturated(X: np.ndarray, tol: float = 1e-10, max_iter: int = 10000) -> tuple[np.ndarray, np.ndarray, float]:
    """ML mean (p,) and covariance (p x p) of X (n x p, NaN = missing) by EM; returns (mu, S, logL).

    E-step per row with the precision matrix P = S⁻¹: the missing part's conditional mean is
    ``μ_m − P_mm⁻¹ P_mo (x_o − μ_o)`` and its conditional covariance ``P_mm⁻¹``, batched over rows
    with the same number of missing items.
    """
    n, p = X.shape
    obs = ~np.isnan(X)
    k = (~obs).sum(axis=1)
    groups = []
    for kk in np.unique(k):
        rows = np.where(k == kk)[0]
        groups.append((rows, np.array([np.where(~obs[r])[0] for r in rows], dtype=int).reshape(len(rows), kk)))
    mu = np.nanmean(X, axis=0)
    S = np.diag(np.nanvar(X, axis=0))
    for _ in range(max_iter):
        P = np.linalg.inv(S)
        C = np.where(obs, X - mu, 0.0)           # centred, 0 where missing
        T2 = np.zeros((p, p))
        for rows, M in groups:
            if M.shape[1] == 0:
                continue
            Pmm_inv = np.linalg.inv(P[M[:, :, None], M[:, None, :]])      # (G x k x k) = cond. cov
            y = np.take_along_axis(C[rows] @ P, M, axis=1)               # P_m. c (zeros at m) = P_mo c_o
            fill = -np.einsum("rkl,rl->rk", Pmm_inv, y)                  # conditional mean minus μ_m
            Cr = C[rows]
            np.put_along_axis(Cr, M, fill, axis=1)
            C[rows] = Cr
            # add each row's conditional covariance P_mm⁻¹ at (m, m); element [r, a, b] goes to (M[r,a], M[r,b])
            ii = np.repeat(M, M.shape[1], axis=1).ravel()
            jj = np.tile(M, (1, M.shape[1])).ravel()
            np.add.at(T2, (ii, jj), Pmm_inv.ravel())
        shift = C.mean(axis=0)
        mu_new = mu + shift
        Cc = C - shift
        S_new = (Cc.T @ Cc + T2) / n
        delta = max(np.abs(mu_new - mu).max(), np.abs(S_new - S).max())
        mu, S = mu_new, S_new
        if delta < tol:
            break
    return mu, S, _loglik_missing(X, mu, S)


def _loglik_missing(X: np.ndarray, mu: np.ndarray, S: np.ndarray, groups=None) -> float:
    """Normal log-likelihood of X (n x p, NaN = missing) under N(mu, S), each row on its observed part."""
    if groups is None:
        obs = ~np.isnan(X)
        pat: dict[bytes, list[int]] = {}
        for i in range(len(X)):
            pat.setdefault(obs[i].tobytes(), []).append(i)
        groups = [(obs[r[0]], np.array(r)) for r in pat.values()]
    ll = 0.0
    for o, rows in groups:
        if not o.any():
            continue
        So = S[np.ix_(o, o)]
        c = X[np.ix_(rows, np.where(o)[0])] - mu[o]
        ll += -0.5 * (len(rows) * (o.sum() * np.log(2 * np.pi) + _logdet(So))
                      + np.einsum("ij,jk,ik->", c, np.linalg.inv(So), c))
    return float(ll)


def _fit_fiml(X: np.ndarray, Sigma: np.ndarray, mu: np.ndarray, q: int) -> dict:
    """lavaan-style FIML statistics: χ² = 2(logL_H1 − logL_H0), H1 by EM; q counts the intercepts."""
    n, p = X.shape
    mu1, S1, ll1 = em_saturated(X)
    ll0 = _loglik_missing(X, mu, Sigma)
    chi2 = max(2 * (ll1 - ll0), 0.0)
    df = p * (p + 3) // 2 - q
    # independence model: per-variable available-case ML mean and variance maximise its likelihood
    llb = 0.0
    for j in range(p):
        v = X[~np.isnan(X[:, j]), j]
        llb += -0.5 * len(v) * (np.log(2 * np.pi) + np.log(v.var()) + 1.0)
    chi2_b = 2 * (ll1 - llb)
    out = _indices(chi2, df, chi2_b, p * (p - 1) // 2, n)
    out.update(srmr=_srmr(S1, Sigma, mu1, mu), loglik=ll0, aic=-2 * ll0 + 2 * q, bic=-2 * ll0 + q * np.log(n),
               npar=q, loglik_h1=ll1)
    return out


# ------------------------------------------------------------------------- diagnostics
def _diagnose(outer, paths, variances, covariances, fit, sigma, cmat, model, inner, latents, obs, S, n,
              fixed_zero: set[str]):
    """Plain-language findings; ``fixed_zero`` = variables whose variance is fixed at 0 on purpose."""
    out: list[Diagnostic] = []
    # Heywood cases: negative variances, or variances stuck at semopy's 0 bound
    scale = {v: S[k, k] for k, v in enumerate(obs)}
    for r in variances.itertuples():
        if r.variable in fixed_zero:
            continue
        ref = scale.get(r.variable, 1.0)
        if r.estimate_unstd < 0 or r.estimate_unstd <= 1e-6 * ref:
            what = "residual variance" if r.residual else "variance"
            out.append(_d("heywood", "warning",
                          f"Improper solution (Heywood case): the {what} of {r.variable} is estimated at "
                          f"{r.estimate_unstd:.3g} (a variance cannot be negative; semopy stops at 0). The model "
                          "over-explains this variable — usually too few items, a near-duplicate item or "
                          "near-collinear constructs. Its estimates are not trustworthy; consider PLS.",
                          f"不当解（Heywood 情形）：{r.variable} 的{'残差方差' if r.residual else '方差'}估计为 "
                          f"{r.estimate_unstd:.3g}（方差不能为负；semopy 在 0 处截断）。模型对该变量解释过度，"
                          "通常源于题项过少、题项几乎重复或构念高度共线。相关估计不可信，建议使用 PLS。"))
    for frm, to, std in zip(paths["from"], paths["to"], paths["estimate"]):
        if abs(std) > 1:
            out.append(_d("std_beyond_one", "warning",
                          f"The standardized path {frm} → {to} is {std:.2f}, beyond ±1. A standardized "
                          "coefficient this large signals that the predictors of "
                          f"{to} are nearly collinear constructs (the model cannot separate their effects); "
                          "the CB-SEM paths are not interpretable. Use the PLS estimates, or merge/drop one of "
                          "the overlapping constructs.",
                          f"标准化路径 {frm} → {to} 为 {std:.2f}，超出 ±1。这说明 {to} 的前因构念"
                          "高度共线，模型无法区分它们的作用，CB-SEM 路径系数不可解释。请使用 PLS 估计，"
                          "或合并/删除相互重叠的构念。"))
    for r in outer.itertuples():
        if abs(r.loading) > 1:
            out.append(_d("std_beyond_one", "warning",
                          f"The standardized loading of {r.indicator} on {r.construct} is {r.loading:.2f}, beyond ±1 "
                          "— an improper solution; consider PLS.",
                          f"{r.indicator} 在 {r.construct} 上的标准化载荷为 {r.loading:.2f}，超出 ±1，属于不当解；"
                          "建议使用 PLS。"))
    for r in covariances.itertuples():
        if r.var_1 in latents and r.var_2 in latents and abs(r.estimate) > 1:
            out.append(_d("std_beyond_one", "warning",
                          f"The estimated correlation of {r.var_1} and {r.var_2} is {r.estimate:.2f}, beyond ±1 — "
                          "the two constructs are not distinct in these data; consider PLS or merging them.",
                          f"{r.var_1} 与 {r.var_2} 的相关估计为 {r.estimate:.2f}，超出 ±1，两个构念在数据中无法区分；"
                          "建议使用 PLS 或合并构念。"))
    ev = np.linalg.eigvalsh((sigma + sigma.T) / 2)
    if ev.min() <= 1e-10 * max(ev.max(), 1e-300):
        out.append(_d("implied_cov_not_pd", "error",
                      "The model-implied covariance matrix of the indicators is not positive definite: the solution "
                      "is improper and its fit statistics are not valid.",
                      "模型隐含的指标协方差矩阵不是正定矩阵：该解不当，拟合指标无效。"))
    try:
        idx = [inner.index(c) for c in latents if c in inner]
        phi = (cmat @ model.mx_psi @ cmat.T)[np.ix_(idx, idx)]
        lev = np.linalg.eigvalsh((phi + phi.T) / 2)
        if lev.min() <= 1e-8 * max(lev.max(), 1e-300):
            out.append(_d("latent_cov_not_pd", "warning",
                          "The covariance matrix of the constructs is not positive definite: at least one construct "
                          "is (almost) an exact linear combination of others. The structural estimates are not "
                          "reliable; PLS path modeling handles such overlap more gracefully.",
                          "构念协方差矩阵不是正定矩阵：至少一个构念（几乎）是其他构念的线性组合。结构估计不可靠，"
                          "PLS 路径模型对这种重叠更稳健。"))
    except (ValueError, AttributeError, np.linalg.LinAlgError):  # pragma: no cover - semopy internals
        pass
    bad = []
    if fit.get("cfi", 1) < POOR_FIT["cfi"]:
        bad.append(f"CFI {fit['cfi']:.3f} < {POOR_FIT['cfi']}")
    if fit.get("rmsea", 0) > POOR_FIT["rmsea"]:
        bad.append(f"RMSEA {fit['rmsea']:.3f} > {POOR_FIT['rmsea']}")
    if fit.get("srmr", 0) > POOR_FIT["srmr"]:
        bad.append(f"SRMR {fit['srmr']:.3f} > {POOR_FIT['srmr']}")
    if bad:
        out.append(_d("poor_fit", "warning",
                      f"The model fits the data poorly ({'; '.join(bad)}; thresholds of Hu & Bentler 1999 and Browne "
                      "& Cudeck 1993). Its estimates describe a model the data do not support.",
                      f"模型与数据拟合较差（{'；'.join(bad)}）。这些估计所描述的模型并未得到数据支持。"))
    q = fit.get("npar", 0)
    if q and n / q < MIN_OBS_PER_PARAM:
        out.append(_d("few_observations", "warning",
                      f"Only {n / q:.1f} observations per free parameter ({n} rows, {q} parameters); ML CB-SEM "
                      f"needs at least {MIN_OBS_PER_PARAM} (Bentler & Chou 1987). Standard errors and the χ² test "
                      "are unreliable; collect more data or use PLS.",
                      f"每个自由参数仅有 {n / q:.1f} 个观测（{n} 行，{q} 个参数）；CB-SEM 至少需要 "
                      f"{MIN_OBS_PER_PARAM} 个。标准误和 χ² 检验不可靠；请增加样本或使用 PLS。"))
    if fit.get("df", 1) == 0:
        out.append(_d("just_identified", "info",
                      "The model is just-identified (0 degrees of freedom): it reproduces the data exactly, so "
                      "χ², CFI, TLI and RMSEA say nothing about fit.",
                      "模型恰好识别（自由度为 0）：它完全复现数据，χ²、CFI、TLI、RMSEA 无法反映拟合。"))
    return out
