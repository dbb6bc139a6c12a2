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
    try:
        from csi.data.ingest import read_survey
    except ImportError:          # the ingest module is optional for a CSV
        read_survey = None
    if not path.is_file():
        raise DataError(f"data file {str(path)!r} not found")
    raw = read_survey(path) if read_survey is not None else pd.read_csv(path, dtype=str, keep_default_na=False)
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
        spec = load_model(args.model, [c for c in raw.columns])
        data = _frame_for(raw, idcol, spec, args.weights, source)
    else:
        from csi.data import store
        con = store.connect(args.db, read_only=True)
        try:
            frame = store.load_responses(con, args.wave, args.segment)
            if args.scale is None:
                try:
                    scales = store.item_scales(con, args.wave)
                except CSIError as e:   # mixed scales across waves: fit anyway, without 0-100 indices
                    print(f"warning: {e}; no 0-100 indices (give --scale)", file=sys.stderr)
        finally:
            con.close()
        if frame.empty:
            raise DataError("no respondents in the selected waves and segments")
        source = str(args.db)
        spec = load_model(args.model, [str(c) for c in frame.columns])
        if args.weights is not None and args.weights not in frame.columns:
            raise DataError(f"survey-weight column {args.weights!r} not found in {source}")
        spec.check_columns(frame.columns, source=source)
        data = frame.copy()
        if args.weights is not None and not pd.api.types.is_numeric_dtype(data[args.weights]):
            data[args.weights] = _numeric(data, [args.weights], source)[args.weights]
        if "respondent_id" in data.columns:
            data.index = pd.Index((data["wave"].astype(str) + "/" + data["respondent_id"].astype(str)).to_numpy()
                                  if "wave" in data.columns else data["respondent_id"].astype(str).to_numpy(),
                                  name="row")

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
    last = [0.0]

    def progress(done: int, total: int) -> None:
        if sys.stderr.isatty() and time.perf_counter() - last[0] > 0.5:
            last[0] = time.perf_counter()
            print(f"\rbootstrap {done}/{total}", end="", file=sys.stderr)

    fit = fit_model(data, spec, method=args.method, bootstrap=args.bootstrap, seed=args.seed, scale=scale,
                    target=args.target, progress=progress, ci=args.ci, **settings)
    if sys.stderr.isatty() and args.bootstrap:
        print("", file=sys.stderr)
    written = write_results(fit, args.out)
    m = fit.manifest
    print(f"{args.method.upper()} fit of model {spec.name!r} on {source}: n = {m['n']} "
          f"(of {m['n_total']}; {m['n_dropped']} dropped), {time.perf_counter() - t0:.1f} s")
    p = fit.tables["paths"]
    for r in p.itertuples():
        if "estimate_unstd" in p.columns:      # CB-SEM: standardized estimate, p of the unstandardized one
            extra = f"  (p = {r.p_value:.3g})" if np.isfinite(r.p_value) else ""
        else:
            extra = f"  [{r.ci_low:.3f}, {r.ci_high:.3f}]" if np.isfinite(r.ci_low) else ""
        print(f"  {r._1:>6} -> {r.to:<6} {r.estimate: .3f}{extra}")
    cons = fit.tables["constructs"]
    if "r2" in cons:
        r2 = ", ".join(f"{c} {v:.3f}" for c, v in zip(cons["construct"], cons["r2"]) if np.isfinite(v))
        print(f"  R²: {r2}")
    if "index" in cons:
        print("  index: " + ", ".join(f"{c} {v:.1f}" for c, v in zip(cons["construct"], cons["index"])
                                      if np.isfinite(v)))
    for w in m.get("warnings", []):
        print(f"  warning: {w}", file=sys.stderr)
    print(f"wrote {len(written)} files to {args.out}")
    return 0
