"""``python -m csi fit``: estimate a CSI model and write tidy result files (see :mod:`csi.export`)."""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from csi.errors import CSIError, DataError, SpecError

_ID_COLUMNS = ("respondent_id", "id", "")


def _numeric(raw: pd.DataFrame, columns: list[str], source: str) -> pd.DataFrame:
    """Text cells → floats for ``columns`` (empty cells → NaN); every non-number is reported with its row."""
    from csi.data.ingest import parse_numeric

    return parse_numeric(raw, columns, source)


def _load_file(path: Path) -> tuple[pd.DataFrame, str | None]:
    from csi.data.ingest import read_survey

    if not path.is_file():
        raise DataError(f"data file {str(path)!r} not found")
    raw = read_survey(path)
    raw.columns = [str(c).strip() for c in raw.columns]
    idcol = next((c for c in _ID_COLUMNS if c in raw.columns), None)
    return raw, idcol


def _frame_for(raw: pd.DataFrame, idcol: str | None, spec, weights: str | None, source: str) -> pd.DataFrame:
    cols = list(spec.indicators)
    spec.check_columns(raw.columns, source=source)
    if weights is not None and weights not in raw.columns:
        raise DataError(f"survey-weight column {weights!r} not found in {source}")
    df = _numeric(raw, cols + ([weights] if weights else []), source)
    if idcol is not None:
        ids = raw[idcol].astype(str)
        if not ids.duplicated().any():
            df.index = pd.Index(ids.to_numpy(), name="row")
    return df


def run(args) -> int:
    from csi.report.analyze import fit_model
    from csi.report.export import write_results
    from csi.model.templates import load_model

    scales = None
    if args.data is not None:
        raw, idcol = _load_file(args.data)
        source = str(args.data)
        spec = _methods(load_model(args.model, [c for c in raw.columns]), args)
        weights = args.weights  # a named column is checked cell by cell below (row-level messages)
        if weights is None and not args.no_weights and args.method == "pls":
            from csi.report.build import survey_weights  # the report engine's rule: used when complete and valid

            notes: list = []
            weights = survey_weights(raw[[c for c in raw.columns if c == "weight"]].copy(), True, notes)
            for n in notes:
                print(f"note: {n['message']}", file=sys.stderr)
        args.weights = weights
        data = _frame_for(raw, idcol, spec, weights, source)
    else:
        if args.scale is not None:
            raise SpecError("--scale is for --data files; the database keeps each wave's scale")
        return _run_db(args)

    if args.method == "pls" and args.missing == "fiml":
        raise SpecError("--missing fiml is a CB-SEM option (--method cbsem); PLS offers listwise or mean")
    if args.method == "cbsem" and args.missing == "mean":
        raise SpecError("--missing mean is a PLS option; CB-SEM offers listwise or fiml")
    settings: dict = {"missing": args.missing}
    if args.method == "pls":
        settings.update(scheme=args.scheme, standardize=not args.no_standardize, plsc=bool(args.plsc))
    if args.weights is not None:
        settings["weights"] = args.weights
    scale = args.scale if args.scale is not None else scales
    t0 = time.perf_counter()
    _check_research(args)
    research = _research_options(args)
    fit = fit_model(data, spec, method=args.method, bootstrap=args.bootstrap, seed=args.seed, scale=scale,
                    target=args.target, progress=_progress(), ci=args.ci,
                    fit_bootstrap=args.bootstrap if args.method == "pls" else 0, **research, **settings)
    if sys.stderr.isatty() and args.bootstrap:
        print("", file=sys.stderr)
    written = write_results(fit, args.out)
    written.update(_write_slopes(fit, args.out))
    _summary(args, fit, spec, source, t0, written)
    return 0


def _methods(spec, args):
    """``--hoc`` / ``--interaction``: how the model's higher-order constructs and interaction terms are estimated."""
    return spec.with_methods(hoc=getattr(args, "hoc", None), interaction=getattr(args, "interaction", None))


def _write_slopes(fit, out) -> dict[str, int]:
    """``simple_slopes.csv`` for a model with interaction terms (csi.engine.interaction)."""
    from csi.report.build import simple_slopes_table
    from csi.report.export import safe_csv

    slopes = simple_slopes_table(fit)
    if slopes is None:
        return {}
    Path(out).mkdir(parents=True, exist_ok=True)
    safe_csv(slopes, Path(out) / "simple_slopes.csv")
    return {"simple_slopes.csv": int(len(slopes))}


def _check_research(args) -> None:
    """``--predict`` / ``--nca`` / ``--folds`` / ``--reps``: PLS only, sensible counts."""
    if args.method != "pls" and (getattr(args, "predict", False) or getattr(args, "nca", False)):
        raise SpecError("--predict and --nca are PLS methods (--method pls)")
    if getattr(args, "predict", False):
        if args.folds < 2:
            raise SpecError(f"--folds must be at least 2, got {args.folds}")
        if args.reps < 1:
            raise SpecError(f"--reps must be at least 1, got {args.reps}")


def _research_options(args) -> dict:
    """The analyze() keywords of the research flags (PLSpredict folds/repetitions, cIPMA)."""
    out: dict = {}
    if getattr(args, "predict", False):
        out["predict"] = {"folds": int(args.folds), "reps": int(args.reps)}
    if getattr(args, "nca", False):
        out["nca"] = True
    return out


def _progress():
    last = [0.0]

    def progress(done: int, total: int) -> None:
        if sys.stderr.isatty() and time.perf_counter() - last[0] > 0.5:
            last[0] = time.perf_counter()
            print(f"\rbootstrap {done}/{total}", end="", file=sys.stderr)
    return progress


def _summary(args, fit, spec, source: str, t0: float, written) -> None:
    m = fit.manifest
    print(f"{args.method.upper()} fit of model {spec.name!r} on {source}: n = {m['n']} "
          f"(of {m['n_total']}; {m['n_dropped']} dropped), {time.perf_counter() - t0:.1f} s")
    p = fit.tables["paths"]
    for r in p.itertuples():
        extra = f"  [{r.ci_low:.3f}, {r.ci_high:.3f}]" if np.isfinite(r.ci_low) else ""
        print(f"  {r._1:>6} -> {r.to:<6} {r.estimate: .3f}{extra}")
    cons = fit.tables["constructs"]
    if "r2" in cons:
        r2 = ", ".join(f"{c} {v:.3f}" for c, v in zip(cons["construct"], cons["r2"]) if np.isfinite(v))
        print(f"  R²: {r2}")
    if "index" in cons:
        print("  index: " + ", ".join(f"{c} {v:.1f}" for c, v in zip(cons["construct"], cons["index"])
                                      if np.isfinite(v)))
    est = (fit.fit or {}).get("estimated") if args.method == "pls" else None
    if est:
        hi = f" (HI95 {est['srmr_hi95']:.3f})" if est.get("srmr_hi95") is not None else ""
        print(f"  SRMR: saturated {fit.fit['saturated']['srmr']:.3f}, estimated {est['srmr']:.3f}{hi}")
    pr = m.get("research", {}).get("predict")
    if pr:
        print(f"  PLSpredict ({pr['folds']} folds x {pr['reps']}): predictive power {pr['predictive_power_rmse']} "
              f"(PLS vs LM by RMSE)")
    if "nca" in fit.tables:
        nec = fit.tables["nca"].query("level == 'construct' and necessary")["driver"].tolist()
        print(f"  necessary conditions (cIPMA): {', '.join(nec) if nec else 'none'}")
    for w in m.get("warnings", []):
        print(f"  warning: {w}", file=sys.stderr)
    print(f"wrote {len(written)} files to {args.out}")


def _run_db(args) -> int:
    """``fit --db``: the report engine's selection (latest wave and own brand by default, survey weights whenever
    complete, items answered in every selected wave), so the numbers equal the dashboard's Model page."""
    from csi.cli.report import selection_and_settings
    from csi.report.build import analyze_selection, prepare
    from csi.report.export import write_results

    if args.method == "pls" and args.missing == "fiml":
        raise SpecError("--missing fiml is a CB-SEM option (--method cbsem); PLS offers listwise or mean")
    if args.method == "cbsem" and args.missing == "mean":
        raise SpecError("--missing mean is a PLS option; CB-SEM offers listwise or fiml")
    _check_research(args)
    sel, settings = selection_and_settings(args)
    prep = prepare(args.db, sel, settings)
    if prep.spec.is_extended:
        from dataclasses import replace

        prep = replace(prep, spec=_methods(prep.spec, args))
    wave = "all" if args.wave and len(set(args.wave)) > 1 else None
    t0 = time.perf_counter()
    fit = analyze_selection(prepared=prep, wave=wave, progress=_progress())
    research = _research_options(args)
    if args.method == "pls" and (research or args.bootstrap):
        from csi.report.analyze import research_tables
        from csi.report.build import analysis_rows, pooled_scales

        rows = analysis_rows(prep, wave)
        scales = pooled_scales(prep, [str(w) for w in rows["wave"].astype(str).unique()])
        fit = research_tables(fit, rows, fit_bootstrap=int(args.bootstrap), seed=int(args.seed), scale=scales,
                              target=args.target, **research)
    if sys.stderr.isatty() and args.bootstrap:
        print("", file=sys.stderr)
    written = write_results(fit, args.out)
    written.update(_write_slopes(fit, args.out))
    what = f"wave {prep.focus_wave}" if wave is None else f"waves {', '.join(prep.waves)} pooled"
    _summary(args, fit, prep.spec, f"{args.db} ({what}"
             f"{', ' + prep.focus_brand if prep.focus_brand else ''}"
             f"{', weighted by ' + prep.weight_col if prep.weight_col and args.method == 'pls' else ', unweighted'})",
             t0, written)
    return 0
