"""Expert weights for the weighted hierarchy and the fuzzy evaluation: direct entry or AHP.

* :func:`ahp_weights` — Saaty's analytic hierarchy process on one pairwise comparison matrix:
  principal-eigenvector weights, λmax, the consistency index CI = (λmax − n)/(n − 1) and the
  consistency ratio CR = CI / RI(n); a matrix with CR ≥ 0.10 is refused unless ``allow_inconsistent``.
* :func:`check_direct_weights` — weights typed in by experts, validated to sum to 1 per level.
* :func:`expert_weights` — a whole study's expert weights (first level plus one set per first-level
  attribute, each entered directly or as a matrix) validated into ``(hierarchy, first_level_weights)``
  for :func:`csi.analytics.classic.weighted_hierarchy` and :func:`csi.analytics.classic.fuzzy_evaluation`;
  stored per study as the setting JSON ``expert_weights`` (see :data:`SETTING_KEY`).

Random index: Saaty's table (Saaty 1980, *The Analytic Hierarchy Process*, McGraw-Hill; reproduced e.g.
in Saaty 1990, EJOR 48:9-26): n = 1…10 → 0, 0, 0.58, 0.90, 1.12, 1.24, 1.32, 1.41, 1.45, 1.49.
For n ≤ 2 a reciprocal matrix is always consistent (CR = 0).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from csi.errors import SpecError

SETTING_KEY = "expert_weights"
CR_LIMIT = 0.10
RANDOM_INDEX: dict[int, float] = {1: 0.0, 2: 0.0, 3: 0.58, 4: 0.90, 5: 1.12, 6: 1.24, 7: 1.32, 8: 1.41,
                                  9: 1.45, 10: 1.49}
RI_SOURCE = "Saaty (1980), The Analytic Hierarchy Process, McGraw-Hill: RI for n = 1..10"
_SUM_TOL = 1e-6


@dataclass(frozen=True)
class AHPResult:
    """``weights`` (name → weight, sum 1), ``lambda_max``, ``ci``, ``cr`` (NaN when n > 10: no RI), ``n``,
    ``ri``, ``consistent`` (cr < 0.10)."""

    weights: dict[str, float]
    lambda_max: float
    ci: float
    cr: float
    ri: float
    n: int
    consistent: bool

    def as_dict(self) -> dict:
        return {"weights": dict(self.weights), "lambda_max": self.lambda_max, "ci": self.ci, "cr": self.cr,
                "ri": self.ri, "n": self.n, "consistent": self.consistent, "ri_source": RI_SOURCE,
                "method": "principal right eigenvector (normalised to sum 1)"}


def _as_matrix(matrix, names: Sequence[str] | None) -> tuple[np.ndarray, list[str]]:
    if isinstance(matrix, pd.DataFrame):
        if names is None:
            names = [str(c) for c in matrix.columns]
        if [str(i) for i in matrix.index] != [str(c) for c in matrix.columns] and \
                not isinstance(matrix.index, pd.RangeIndex):
            raise SpecError("AHP matrix: row names must equal the column names, in the same order")
        values = matrix.to_numpy()
    else:
        values = matrix
    try:
        a = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise SpecError("AHP matrix: every entry must be a number") from None
    if a.ndim != 2 or a.shape[0] != a.shape[1] or a.shape[0] < 1:
        raise SpecError(f"AHP matrix must be square, got shape {a.shape}")
    n = a.shape[0]
    names = [f"c{i + 1}" for i in range(n)] if names is None else [str(x) for x in names]
    if len(names) != n or len(set(names)) != n:
        raise SpecError(f"AHP matrix: give {n} distinct names, got {names!r}")
    return a, names


def check_pairwise(a: np.ndarray, names: Sequence[str], tol: float = 0.02) -> None:
    """Refuse a matrix that is not positive reciprocal (a_ii = 1, a_ji = 1/a_ij within a relative ``tol``: 0.02 accepts 1/3 typed as 0.33)."""
    if not np.isfinite(a).all() or (a <= 0).any():
        i, j = np.argwhere(~np.isfinite(a) | (a <= 0))[0]
        raise SpecError(f"AHP matrix: entry ({names[i]}, {names[j]}) = {a[i, j]!r} must be a positive number")
    diag = np.abs(np.diag(a) - 1.0) > tol
    if diag.any():
        i = int(np.argmax(diag))
        raise SpecError(f"AHP matrix: diagonal entry ({names[i]}, {names[i]}) = {a[i, i]:g} must be 1")
    bad = np.abs(a * a.T - 1.0) > tol
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise SpecError(f"AHP matrix is not reciprocal: ({names[i]}, {names[j]}) = {a[i, j]:g} but "
                        f"({names[j]}, {names[i]}) = {a[j, i]:g}, expected {1 / a[i, j]:g}")


def ahp_weights(matrix, names: Sequence[str] | None = None, allow_inconsistent: bool = False) -> AHPResult:
    """Saaty's AHP on a positive reciprocal pairwise matrix (a_ij = importance of i over j, 1–9 scale).

    Weights = the principal right eigenvector w (A w = λmax w) scaled to sum 1; CI = (λmax − n)/(n − 1),
    CR = CI / RI(n) (:data:`RANDOM_INDEX`). CR ≥ 0.10 raises :class:`~csi.errors.SpecError` unless
    ``allow_inconsistent``; n > 10 has no tabulated RI (CR NaN, allowed only with ``allow_inconsistent``).
    """
    a, names = _as_matrix(matrix, names)
    check_pairwise(a, names)
    n = len(names)
    if n == 1:
        return AHPResult({names[0]: 1.0}, 1.0, 0.0, 0.0, 0.0, 1, True)
    vals, vecs = np.linalg.eig(a)
    k = int(np.argmax(vals.real))
    lam = float(vals[k].real)
    w = np.abs(vecs[:, k].real)
    w = w / w.sum()
    ci = max((lam - n) / (n - 1), 0.0)
    ri = RANDOM_INDEX.get(n, float("nan"))
    cr = 0.0 if n <= 2 else (ci / ri if math.isfinite(ri) else float("nan"))
    consistent = bool(cr < CR_LIMIT) if math.isfinite(cr) else False
    if not consistent and not allow_inconsistent:
        why = (f"CR = {cr:.3f} ≥ {CR_LIMIT:.2f}" if math.isfinite(cr)
               else f"no random index for n = {n} > 10")
        raise SpecError(f"AHP judgements are too inconsistent ({why}; λmax = {lam:.3f}, CI = {ci:.3f}): "
                        "revise the comparisons or override explicitly")
    return AHPResult({nm: float(x) for nm, x in zip(names, w)}, lam, ci, cr, ri, n, consistent)


def read_matrix_csv(path, text: str | None = None) -> pd.DataFrame:
    """A pairwise matrix from CSV: first row = names, first column = the same names (or blank header).

    ``path``: the file (or, with ``text``, only its name in messages); ``text``: the CSV itself (the dashboard)."""
    import io
    from pathlib import Path

    p = Path(path)
    if text is None and not p.is_file():
        raise SpecError(f"AHP matrix file {p.name!r} not found")
    try:
        src = io.StringIO(text) if text is not None else p
        df = pd.read_csv(src, index_col=0, encoding="utf-8-sig", dtype=str)
    except (OSError, ValueError, UnicodeDecodeError, pd.errors.ParserError) as e:
        raise SpecError(f"AHP matrix file {p.name!r} cannot be read: {e}") from None
    df.index = [str(i).strip() for i in df.index]
    df.columns = [str(c).strip() for c in df.columns]
    if list(df.index) != list(df.columns):
        raise SpecError(f"AHP matrix file {p.name!r}: the first column must list the column names in the same order")
    return df.apply(lambda col: col.map(_parse_cell))


def _parse_cell(v) -> float:
    """'3', '1/3', '0.333' → float; anything else → NaN (refused by :func:`check_pairwise`)."""
    s = str(v).strip()
    try:
        if "/" in s:
            num, den = s.split("/", 1)
            return float(num) / float(den)
        return float(s)
    except (ValueError, ZeroDivisionError):
        return float("nan")


def check_direct_weights(weights: Mapping, what: str = "weights") -> dict[str, float]:
    """Weights entered directly: finite, non-negative, summing to 1 (± 1e-6). Returns them as floats."""
    from csi.analytics.classic import weight_values

    out = {str(k): v for k, v in weight_values(weights, what).items()}
    total = sum(out.values())
    if abs(total - 1.0) > _SUM_TOL:
        raise SpecError(f"{what} must sum to 1, they sum to {total:.6g}")
    return out


def _level(spec, what: str, allow_inconsistent: bool) -> tuple[dict[str, float], dict | None]:
    """One level's weights from ``{"weights": {...}}`` or ``{"matrix": [[...]], "names": [...]}``."""
    if isinstance(spec, Mapping) and "matrix" in spec:
        r = ahp_weights(spec["matrix"], spec.get("names"), allow_inconsistent=allow_inconsistent
                        or bool(spec.get("allow_inconsistent", False)))
        return r.weights, r.as_dict()
    if isinstance(spec, Mapping) and "weights" in spec:
        return check_direct_weights(spec["weights"], what), None
    if isinstance(spec, Mapping):
        return check_direct_weights(spec, what), None
    raise SpecError(f"{what}: give weights or an AHP matrix")


def expert_weights(config: Mapping, allow_inconsistent: bool = False
                   ) -> tuple[dict[str, dict[str, float]], dict[str, float], dict]:
    """A study's expert weights: ``{"first_level": LEVEL, "items": {attribute: LEVEL}}``.

    ``LEVEL`` = ``{"weights": {name: w}}`` (must sum to 1) or ``{"matrix": [[…]], "names": [...]}`` (AHP).
    Returns ``(hierarchy, first_level_weights, record)``: the hierarchy ``{attribute: {item: w}}`` and the
    first-level weights for :func:`csi.analytics.classic.weighted_hierarchy`, and a JSON-able record (the
    weights plus λmax, CI, CR of every AHP level) for the report manifest.
    """
    if not isinstance(config, Mapping) or "first_level" not in config or "items" not in config:
        raise SpecError("expert weights need 'first_level' and 'items' (one entry per first-level attribute)")
    top, top_ahp = _level(config["first_level"], "first-level weights", allow_inconsistent)
    items_cfg = config["items"]
    if not isinstance(items_cfg, Mapping):
        raise SpecError("expert weights: 'items' must map each first-level attribute to its item weights")
    from csi.analytics.classic import check_same_levels

    check_same_levels(items_cfg, top, "expert weights: first level and items disagree",
                      "item weights for unknown attribute(s)", "no item weights for attribute(s)")
    hierarchy, record = {}, {"first_level": {"weights": top, "ahp": top_ahp}, "items": {}}
    for attr, spec in items_cfg.items():
        w, info = _level(spec, f"item weights of {attr!r}", allow_inconsistent)
        hierarchy[str(attr)] = w
        record["items"][str(attr)] = {"weights": w, "ahp": info}
    return hierarchy, top, record


def dump_setting(config: Mapping) -> str:
    """The setting JSON stored under :data:`SETTING_KEY` (validated first)."""
    expert_weights(config, allow_inconsistent=bool(config.get("allow_inconsistent", False)))
    return json.dumps(dict(config), ensure_ascii=False, sort_keys=True)


def load_setting(text: str | None):
    """``(hierarchy, first_level_weights, record)`` from the stored setting, or None when unset."""
    if not text:
        return None
    try:
        config = json.loads(text)
    except ValueError:
        raise SpecError("the stored expert weights are not valid JSON") from None
    return expert_weights(config, allow_inconsistent=bool(config.get("allow_inconsistent", False)))
