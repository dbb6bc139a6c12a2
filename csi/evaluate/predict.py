"""PLSpredict (Shmueli, Ray, Velasquez Estrada & Chatla 2016; Shmueli et al. 2019): out-of-sample prediction of
the indicators of the endogenous constructs, against the linear-model (LM) and the naive benchmarks.

Procedure (``k``-fold cross-validation, ``reps`` repetitions, seeded):

* The rows are shuffled (``numpy.random.default_rng(seed)``, one permutation per repetition) and split into ``k``
  folds of nearly equal size (``numpy.array_split``). ``folds=n`` is leave-one-out: one repetition, no
  randomness, so the result does not depend on the seed.
* For every fold the model is estimated on the other folds (the training rows; survey weights, if any, weight the
  training moments) — all folds in one batch on the PLS kernel (:func:`csi.engine.pls._kernel`). The held-out
  rows are standardised with the training means and SDs.
* PLS prediction, ``approach="earliest"`` (default; Shmueli et al. 2016, SmartPLS, cSEM's default): the scores
  of the exogenous constructs from the training weights, the endogenous scores as exogenous scores × the
  training total effects; ``approach="direct"`` (seminr's ``predict_DA``): each endogenous score from the
  held-out scores of its direct predictors × the training paths. An indicator is predicted as
  ``mean + sd · loading · score`` (training mean, SD and loading).
* LM benchmark: OLS (with intercept, training rows) of each endogenous indicator on **all** indicators of the
  exogenous constructs.
* Naive benchmark: the training mean of the indicator.
* Each row's prediction is the mean over the repetitions of its out-of-fold predictions (seminr and SmartPLS
  average predictions over repetitions); the errors are ``y - ŷ`` on the analysed rows (unweighted).
  ``RMSE = sqrt(mean e²)``, ``MAE = mean |e|``, ``Q²predict = 1 - Σ e²_PLS / Σ e²_naive``.
* Reading (Shmueli et al. 2019, by RMSE, or MAE for strongly skewed errors): PLS lower than LM for all indicators
  → high predictive power; for the majority → medium; for a minority → low; for none → PLS lacks predictive
  power; any Q²predict ≤ 0 means the naive mean predicts that indicator better.
"""
from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from csi.engine.kernel_math import count_moments, cov_to_corr, pair_products
from csi.errors import DataError, EstimationError, SpecError

__all__ = ["plspredict", "predictive_power", "APPROACHES"]

Approach = Literal["earliest", "direct"]
APPROACHES = ("earliest", "direct")
#: the Shmueli et al. (2019) verdicts, by the share of indicators where PLS beats LM
POWER = ("high", "medium", "low", "none")


def _lm_predict(mean: np.ndarray, cov: np.ndarray, Xt: np.ndarray, xin: np.ndarray, yout: np.ndarray) -> np.ndarray:
    """OLS predictions of columns ``yout`` from columns ``xin`` for rows ``Xt``, from training moments."""
    b = np.linalg.lstsq(cov[np.ix_(xin, xin)], cov[np.ix_(xin, yout)], rcond=None)[0]
    return mean[yout] + (Xt[:, xin] - mean[xin]) @ b


def plspredict(data: pd.DataFrame, spec, *, folds: int = 10, reps: int = 10, seed: int = 1,
               approach: Approach = "earliest", scheme: str = "path", standardize: bool = True,
               plsc: bool = False, weights=None, missing: str = "listwise", tol: float = 1e-7,
               max_iter: int = 300) -> pd.DataFrame:
    """PLSpredict table: one row per indicator of an endogenous construct with construct, indicator,
    pls_rmse, pls_mae, q2_predict, lm_rmse, lm_mae, lm_q2_predict, pls_beats_lm_rmse, pls_beats_lm_mae,
    and in ``attrs``: folds, reps, seed (None for LOO), approach, n.

    ``folds``: 2 … n (``n`` = leave-one-out, deterministic); ``reps`` repetitions (1 under LOO)."""
    from csi.engine.pls import _check_options, _check_variance, _derive, _Design, _kernel, _moments, _prepare

    _check_options(scheme, missing, standardize, plsc, tol, max_iter)
    if approach not in APPROACHES:
        raise SpecError(f"unknown prediction approach {approach!r}; choose earliest or direct")
    for name, v in (("folds", folds), ("reps", reps), ("seed", seed)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise SpecError(f"{name} must be an integer, got {v!r}")
    prep = _prepare(data, spec, weights, missing)
    X, f = prep.X, prep.f
    n, p = X.shape
    if not 2 <= folds <= n:
        raise SpecError(f"folds must be between 2 and the number of rows used ({n}), got {folds}")
    if reps < 1:
        raise SpecError(f"reps must be at least 1, got {reps}")
    loo = folds == n
    if loo:
        reps = 1
    if getattr(spec, "is_extended", False):
        if plsc:
            raise SpecError("PLSpredict of a higher-order or interaction model uses plain PLS (plsc=False), as its "
                            "estimation does")
        return _extended_predict(X, f if prep.weighted else None, spec, folds, reps, seed, approach, loo,
                                 {"scheme": scheme, "standardize": standardize, "tol": tol, "max_iter": max_iter})
    d = _Design.from_spec(spec)
    J = len(d.constructs)
    exo = [j for j in range(J) if d.preds[j].size == 0]
    endo = [j for j in range(J) if d.preds[j].size > 0]
    if not endo:
        raise SpecError("the model has no endogenous construct to predict")
    xin = np.concatenate([d.items[j] for j in exo])
    yout = np.concatenate([d.items[j] for j in endo])
    _check_variance(np.sqrt(np.diag(_moments(X, f)[1])), d.indicators)
    if len(xin) + 2 > n - int(np.ceil(n / folds)):
        raise DataError(f"too few training rows for the LM benchmark on {len(xin)} exogenous indicators")

    rng = np.random.default_rng(seed)
    m0 = f @ X / n
    Xc = X - m0
    O, iu = pair_products(Xc)
    pls_sum = np.zeros((n, len(yout)))
    lm_sum = np.zeros((n, len(yout)))
    naive_sum = np.zeros((n, len(yout)))
    for _ in range(reps):
        order = np.arange(n) if loo else rng.permutation(n)
        parts = np.array_split(order, folds)
        F = np.repeat(f[None, :], folds, axis=0)
        for k, rows in enumerate(parts):
            F[k, rows] = 0.0
        m = F.sum(axis=1, keepdims=True)
        F *= (n - np.array([len(r) for r in parts]))[:, None] / m      # training size, weights normalised
        mean, cov = count_moments(F, Xc, O, iu)
        mean = mean + m0
        R, sd = cov_to_corr(cov)
        if not np.all(sd > 1e-12 * np.maximum(sd.max(axis=1, keepdims=True), 1.0)):
            raise DataError("an indicator has no variance in a training fold; use fewer folds")
        S = R if standardize else cov
        w, _, conv = _kernel(S, d, scheme, tol, max_iter)
        if not conv.all():
            raise EstimationError(f"PLS did not converge in {int((~conv).sum())} training folds")
        out = _derive(S, w, d, plsc)
        for k, rows in enumerate(parts):
            Xt = X[rows]
            Z = (Xt - mean[k]) / sd[k] if standardize else Xt - mean[k]
            scores = Z @ (w[k][:, None] * d.member)                       # held-out scores (n_k x J)
            eta = np.zeros_like(scores)
            if approach == "earliest":
                eta[:, endo] = scores[:, exo] @ out["total"][k][np.ix_(exo, endo)]
            else:
                eta[:, endo] = scores @ out["beta"][k][:, endo]
            load = out["loading"][k]
            zhat = load[yout] * eta[:, d.block[yout]]
            pls_sum[rows] += mean[k][yout] + sd[k][yout] * zhat
            lm_sum[rows] += _lm_predict(mean[k], cov[k], Xt, xin, yout)
            naive_sum[rows] += mean[k][yout]
    Y = X[:, yout]
    tab = _table(Y, pls_sum / reps, lm_sum / reps, naive_sum / reps, [d.constructs[d.block[i]] for i in yout],
                 [d.indicators[i] for i in yout])
    tab.attrs.update(folds=int(folds), reps=int(reps), seed=None if loo else int(seed), approach=approach, n=int(n))
    return tab


def _table(Y, pls, lm, naive, constructs, indicators) -> pd.DataFrame:
    """The PLSpredict table from the observed targets and the mean out-of-fold predictions."""
    e_pls, e_lm, e_nv = Y - pls, Y - lm, Y - naive
    rmse = lambda e: np.sqrt(np.mean(e ** 2, axis=0))  # noqa: E731
    mae = lambda e: np.mean(np.abs(e), axis=0)  # noqa: E731
    sse_nv = np.sum(e_nv ** 2, axis=0)
    tab = pd.DataFrame({
        "construct": list(constructs), "indicator": list(indicators),
        "pls_rmse": rmse(e_pls), "pls_mae": mae(e_pls), "q2_predict": 1 - np.sum(e_pls ** 2, axis=0) / sse_nv,
        "lm_rmse": rmse(e_lm), "lm_mae": mae(e_lm), "lm_q2_predict": 1 - np.sum(e_lm ** 2, axis=0) / sse_nv,
    })
    tab["pls_beats_lm_rmse"] = tab["pls_rmse"] < tab["lm_rmse"]
    tab["pls_beats_lm_mae"] = tab["pls_mae"] < tab["lm_mae"]
    return tab


def _extended_roles(spec, plain) -> tuple[list[str], list[tuple[str, str, str, str | None]]]:
    """PLSpredict roles in an extended model: (LM inputs, targets). Inputs: the manifest items of the plain model's
    exogenous constructs (a repeated copy counts as its item, a two-stage dimension as its items, a product term
    is no input). Targets ``(construct, item, plain column, dimension or None)``: the manifest items of the
    endogenous constructs; a two-stage HOC's items are its dimensions' items (``dimension`` set: predicted through
    the stage-2 and the stage-1 loadings); a repeated HOC's copies are no targets; an item that is also an input
    (a repeated HOC's dimensions under an exogenous HOC) is no target."""
    from csi.engine.hoc import repeated_indicators

    manifest = set(spec.indicators)
    copies = repeated_indicators(spec)[1] if spec.higher_order and spec.hoc_method == "repeated" else {}
    dims = {d: spec.blocks[d] for ds in spec.higher_order.values() for d in ds} if spec.hoc_method == "two_stage" \
        else {}
    inputs: list[str] = []
    targets = []
    for c in plain.constructs:
        exo = not plain.predecessors(c)
        for col in plain.blocks[c]:
            if exo:
                items = [col] if col in manifest else [copies[col][0]] if col in copies else list(dims.get(col, ()))
                inputs += [i for i in items if i not in inputs]
            elif col in manifest:
                targets.append((c, col, col, None))
            elif col in dims:
                targets += [(col, i, col, col) for i in dims[col]]
    return inputs, [t for t in targets if t[1] not in inputs]


def _extended_predict(X: np.ndarray, f, spec, folds: int, reps: int, seed: int, approach: str, loo: bool,
                      kw: dict) -> pd.DataFrame:
    """PLSpredict of a higher-order / interaction model: on every training fold the whole procedure is re-run
    (both stages, :func:`csi.engine.hoc.expand` + the plain model); the held-out rows get the plain model's columns
    from the training stages (:func:`csi.engine.hoc.plain_frame`) and are predicted as in the plain case."""
    from csi.engine.hoc import expand, plain_frame, quick_fit
    from csi.engine.kernel_math import weighted_moments

    items = list(spec.indicators)
    n = len(X)
    frame = pd.DataFrame(X, columns=items)
    plain = expand(frame, spec, weights=f, fit=quick_fit, prepared=True, **kw).spec
    inputs, targets = _extended_roles(spec, plain)
    if not targets:
        raise SpecError("the model has no endogenous construct with indicators of its own to predict")
    pos = {c: k for k, c in enumerate(items)}
    xin = np.array([pos[i] for i in inputs])
    yout = np.array([pos[t[1]] for t in targets])
    if len(xin) + 2 > n - int(np.ceil(n / folds)):
        raise DataError(f"too few training rows for the LM benchmark on {len(xin)} exogenous indicators")
    cons = list(plain.constructs)
    exo = [j for j, c in enumerate(cons) if not plain.predecessors(c)]
    endo = [j for j, c in enumerate(cons) if plain.predecessors(c)]
    std = kw.get("standardize", True)
    rng = np.random.default_rng(seed)
    pls_sum, lm_sum, naive_sum = (np.zeros((n, len(targets))) for _ in range(3))
    for _ in range(reps):
        order = np.arange(n) if loo else rng.permutation(n)
        for rows in np.array_split(order, folds):
            train = np.setdiff1d(np.arange(n), rows)
            ft = None if f is None else f[train] * (len(train) / f[train].sum())
            try:
                ex = expand(frame.iloc[train].reset_index(drop=True), spec, weights=ft, fit=quick_fit, prepared=True,
                            **kw)
                r = quick_fit(ex.data, ex.spec, weights=ex.weights, **kw)
            except (EstimationError, DataError) as exc:
                raise type(exc)(f"PLSpredict: a training fold could not be estimated ({exc}); use fewer folds") \
                    from exc
            test = plain_frame(frame.iloc[rows].reset_index(drop=True), spec, ex.stages, standardize=std,
                               ref=ex.data, ref_weights=ex.weights)
            Zt = test[list(r.indicators)].to_numpy(float) - r.mean
            scores = (Zt / r.sd if std else Zt) @ (r.weight[:, None] * (r.block[:, None] == np.arange(len(cons))))
            eta = np.zeros_like(scores)
            if approach == "earliest":
                eta[:, endo] = scores[:, exo] @ r.total[np.ix_(exo, endo)]
            else:
                eta[:, endo] = scores @ r.beta[:, endo]
            col = {c: k for k, c in enumerate(r.indicators)}
            first = ex.stages.get("hoc_first")
            fcol = {c: k for k, c in enumerate(first.indicators)} if first is not None else {}
            for t, (con, item, pc, dim) in enumerate(targets):
                k = col[pc]
                z = r.loading[k] * eta[:, r.block[k]]
                if dim is None:
                    m_, s_ = r.mean[k], r.sd[k]
                else:                                            # stage-1 loading of the item on its dimension
                    a = fcol[item]
                    z, m_, s_ = first.loading[a] * z, first.mean[a], first.sd[a]
                pls_sum[rows, t] += m_ + s_ * z
            w = np.ones(len(train)) if ft is None else ft
            mean, cov = weighted_moments(X[train], w)
            lm_sum[rows] += _lm_predict(mean, cov, X[rows], xin, yout)
            naive_sum[rows] += mean[yout]
    tab = _table(X[:, yout], pls_sum / reps, lm_sum / reps, naive_sum / reps, [t[0] for t in targets],
                 [t[1] for t in targets])
    tab.attrs.update(folds=int(folds), reps=int(reps), seed=None if loo else int(seed), approach=approach, n=int(n),
                     extended=True)
    return tab


def predictive_power(table: pd.DataFrame, by: Literal["rmse", "mae"] = "rmse") -> str:
    """Shmueli et al. (2019) verdict from a :func:`plspredict` table: ``high`` (PLS beats LM on every
    indicator), ``medium`` (a majority), ``low`` (a minority), ``none`` (no indicator), or ``none`` when
    any Q²predict ≤ 0 (the model does not outperform the naive mean there)."""
    col = f"pls_beats_lm_{by}"
    if col not in table:
        raise SpecError(f"unknown error measure {by!r}; choose rmse or mae")
    if len(table) == 0 or (table["q2_predict"] <= 0).any():
        return "none"
    share = float(table[col].mean())
    return "high" if share == 1 else "medium" if share > 0.5 else "low" if share > 0 else "none"
