"""Model specification in lavaan syntax ⇄ a frozen :class:`ModelSpec`.

Supported subset of lavaan's model syntax (what a CSI model needs)::

    # comments start with '#' or '!'
    IMAG =~ imag1 + imag2 + imag3      # reflective block (PLS mode A)
    VAL  <~ val1 + val2                # formative/composite block (PLS mode B)
    SAT  ~ IMAG + EXPE + QUAL + VAL    # structural regressions
    LOY  ~ SAT ; EXPE ~ IMAG           # ';' separates statements on one line

Higher-order constructs: a block whose indicators are all declared constructs (``SQ =~ TANG + REL +
RESP``) is a higher-order construct (HOC) of those first-order dimensions (``=~`` reflective, ``<~``
formative HOC). Interaction terms: ``SAT ~ VAL + PRICE + VAL:PRICE`` (two-way, both main effects
listed for the same target). A spec with either is *extended* (:attr:`ModelSpec.is_extended`):
:mod:`csi.engine.hoc` / :mod:`csi.engine.interaction` turn it into a plain model to estimate.

A statement may continue on the next line after a trailing or leading '+'.
Coefficient labels/fixed values (``0.5*x``), intercepts and covariances
(``~~``) are refused with a clear message: they have no meaning in PLS and
the CB-SEM adapter generates what it needs itself.

The spec is one parameter table (``lhs, op, rhs``), as in lavaan; everything
else (construct order, adjacency, predecessors) is derived from it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Iterable, Literal

import numpy as np
import pandas as pd

from csi.errors import SpecError

Mode = Literal["A", "B"]
_NAME = re.compile(r"^[A-Za-z_\u4e00-\u9fff][A-Za-z0-9_.\u4e00-\u9fff]*$")
_OPS = ("=~", "<~", "~~", "~")
HOC_METHODS = ("two_stage", "repeated")
INTERACTION_METHODS = ("two_stage", "product", "orthogonal")


@dataclass(frozen=True)
class ModelSpec:
    """A validated PLS/SEM model.

    ``params`` is a tuple of ``(lhs, op, rhs)`` rows: ``=~``/``<~`` rows map a
    construct (lhs) to an indicator (rhs); ``~`` rows mean ``rhs -> lhs``.
    Build it with :func:`parse_model` or :meth:`from_parts`; the constructor
    validates.
    """

    params: tuple[tuple[str, str, str], ...]
    name: str = "custom"
    #: how higher-order constructs are estimated: ``two_stage`` (seminr's default) or ``repeated``
    hoc_method: str = "two_stage"
    #: how interaction terms are built: ``two_stage`` (default), ``product`` or ``orthogonal``
    interaction_method: str = "two_stage"

    def __post_init__(self) -> None:
        _validate(self.params)
        if self.hoc_method not in HOC_METHODS:
            raise SpecError(f"unknown higher-order approach {self.hoc_method!r}; choose {' or '.join(HOC_METHODS)}")
        if self.interaction_method not in INTERACTION_METHODS:
            raise SpecError(f"unknown interaction method {self.interaction_method!r}; choose one of "
                            f"{', '.join(INTERACTION_METHODS)}")

    def with_methods(self, hoc: str | None = None, interaction: str | None = None) -> "ModelSpec":
        """The same model estimated with another higher-order approach / interaction method."""
        return replace(self, hoc_method=hoc or self.hoc_method,
                       interaction_method=interaction or self.interaction_method)

    # ------------------------------------------------------------------ build
    @classmethod
    def from_parts(
        cls,
        blocks: dict[str, Iterable[str]],
        paths: Iterable[tuple[str, str]],
        modes: dict[str, Mode] | None = None,
        name: str = "custom",
    ) -> "ModelSpec":
        """Blocks ``{construct: indicators}``, paths ``(from, to)``, modes ``{construct: 'A'|'B'}``."""
        modes = modes or {}
        rows: list[tuple[str, str, str]] = []
        for c, items in blocks.items():
            op = "<~" if modes.get(c, "A") == "B" else "=~"
            items = list(items)
            if not items:
                raise SpecError(f"construct {c!r} has no indicators")
            rows += [(c, op, i) for i in items]
        rows += [(to, "~", frm) for frm, to in paths]
        return cls(tuple(rows), name=name)

    # ------------------------------------------------------------ derived views
    @cached_property
    def higher_order(self) -> dict[str, tuple[str, ...]]:
        """Higher-order construct → its first-order dimensions (blocks whose indicators are constructs)."""
        declared = {lhs for lhs, op, _ in self.params if op in ("=~", "<~")}
        out: dict[str, list[str]] = {}
        for lhs, op, rhs in self.params:
            if op in ("=~", "<~") and rhs in declared:
                out.setdefault(lhs, []).append(rhs)
        return {c: tuple(v) for c, v in out.items()}

    @cached_property
    def interactions(self) -> tuple[tuple[str, str, str, str], ...]:
        """Interaction terms as ``(term, iv, moderator, target)``; ``term`` is ``"IV:MOD"`` as written."""
        declared = set(self.modes)
        return tuple((rhs, *rhs.split(":"), lhs) for lhs, op, rhs in self.params
                     if op == "~" and ":" in rhs and rhs not in declared)

    @property
    def is_extended(self) -> bool:
        """True when the model has higher-order constructs or interaction terms."""
        return bool(self.higher_order or self.interactions)

    @cached_property
    def blocks(self) -> dict[str, tuple[str, ...]]:
        """Construct → indicators (a higher-order construct's are its dimensions), topological order."""
        raw: dict[str, list[str]] = {}
        for lhs, op, rhs in self.params:
            if op in ("=~", "<~"):
                raw.setdefault(lhs, []).append(rhs)
        return {c: tuple(raw[c]) for c in self.constructs}

    @cached_property
    def modes(self) -> dict[str, Mode]:
        m: dict[str, Mode] = {}
        for lhs, op, _ in self.params:
            if op in ("=~", "<~"):
                m[lhs] = "B" if op == "<~" else "A"
        return {c: m[c] for c in self.constructs}

    @cached_property
    def paths(self) -> tuple[tuple[str, str], ...]:
        """Structural paths as ``(from, to)``, ordered by target then source order."""
        order = {c: i for i, c in enumerate(self.constructs)}
        terms = {t for t, *_ in self.interactions}
        p = [(rhs, lhs) for lhs, op, rhs in self.params if op == "~" and rhs not in terms]
        return tuple(sorted(p, key=lambda ft: (order[ft[1]], order[ft[0]])))

    @cached_property
    def constructs(self) -> tuple[str, ...]:
        """Constructs in a topological order (stable w.r.t. declaration order)."""
        declared: list[str] = []
        for lhs, op, _ in self.params:
            if op in ("=~", "<~") and lhs not in declared:
                declared.append(lhs)
        return _toposort(declared, [(rhs, lhs) for lhs, op, rhs in self.params
                                    if op == "~" and (":" not in rhs or rhs in declared)])

    @property
    def indicators(self) -> tuple[str, ...]:
        """The manifest items (columns of the data); a higher-order block's dimensions are not items."""
        hoc = self.higher_order
        return tuple(i for c in self.constructs if c not in hoc for i in self.blocks[c])

    @property
    def endogenous(self) -> tuple[str, ...]:
        targets = {t for _, t in self.paths}
        return tuple(c for c in self.constructs if c in targets)

    @property
    def exogenous(self) -> tuple[str, ...]:
        targets = {t for _, t in self.paths}
        return tuple(c for c in self.constructs if c not in targets)

    def predecessors(self, construct: str) -> tuple[str, ...]:
        return tuple(f for f, t in self.paths if t == construct)

    def successors(self, construct: str) -> tuple[str, ...]:
        return tuple(t for f, t in self.paths if f == construct)

    def ancestors(self, construct: str) -> tuple[str, ...]:
        """Every construct with a directed path into ``construct``, in topological order."""
        return self._reach(construct, self.predecessors)

    def descendants(self, construct: str) -> tuple[str, ...]:
        """Every construct reached from ``construct`` along the paths, in topological order."""
        return self._reach(construct, self.successors)

    def _reach(self, start: str, step) -> tuple[str, ...]:
        found: set[str] = set()
        todo = [start]
        while todo:
            for nxt in step(todo.pop()):
                if nxt not in found:
                    found.add(nxt)
                    todo.append(nxt)
        return tuple(c for c in self.constructs if c in found)

    def construct_of(self, indicator: str) -> str:
        for c, items in self.blocks.items():
            if indicator in items:
                return c
        raise KeyError(indicator)

    @cached_property
    def adjacency(self) -> np.ndarray:
        """(J x J) 0/1 matrix, ``[i, j] = 1`` when construct i → construct j."""
        idx = {c: k for k, c in enumerate(self.constructs)}
        a = np.zeros((len(idx), len(idx)))
        for f, t in self.paths:
            a[idx[f], idx[t]] = 1.0
        return a

    def parameter_table(self) -> pd.DataFrame:
        return pd.DataFrame(list(self.params), columns=["lhs", "op", "rhs"])

    # --------------------------------------------------------------- checking
    def check_columns(self, columns: Iterable[str], source: str = "the data") -> None:
        """Raise :class:`SpecError` naming every indicator missing from ``columns``."""
        have = set(columns)
        missing = [i for i in self.indicators if i not in have]
        if missing:
            raise SpecError(
                f"unknown indicator{'s' if len(missing) > 1 else ''} {', '.join(missing)}: "
                f"not found in {source}"
            )

    def with_items(self, available: Iterable[str]) -> "ModelSpec":
        """The same model with indicators absent from ``available`` removed.

        Raises :class:`SpecError` when a block would be left empty.
        """
        have = set(available) | set(self.blocks)
        rows = [r for r in self.params if r[1] == "~" or r[2] in have]
        return replace(self, params=tuple(rows))

    # ----------------------------------------------------------------- output
    def to_syntax(self) -> str:
        lines = [f"# {self.name} model", "# measurement model"]
        for c in self.constructs:
            op = "<~" if self.modes[c] == "B" else "=~"
            lines.append(f"{c} {op} {' + '.join(self.blocks[c])}")
        lines.append("# structural model")
        for c in self.endogenous:
            terms = [*self.predecessors(c), *(t for t, _, _, tgt in self.interactions if tgt == c)]
            lines.append(f"{c} ~ {' + '.join(terms)}")
        return "\n".join(lines) + "\n"

    def __str__(self) -> str:  # pragma: no cover - convenience
        return self.to_syntax()


# ---------------------------------------------------------------------------
def parse_model(text: str, name: str = "custom") -> ModelSpec:
    """Parse lavaan-style model syntax into a :class:`ModelSpec`.

    Errors name the line number and the offending text.
    """
    if not isinstance(text, str) or not text.strip():
        raise SpecError("the model syntax is empty")
    statements: list[tuple[int, str]] = []
    pending: tuple[int, str] | None = None
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = re.split(r"[#!]", raw, maxsplit=1)[0].strip()
        for part in [p.strip() for p in line.split(";")]:
            if not part:
                continue
            if pending is not None and (pending[1].endswith("+") or part.startswith("+")):
                pending = (pending[0], pending[1] + " " + part)
                continue
            if pending is not None:
                statements.append(pending)
            pending = (lineno, part)
    if pending is not None:
        statements.append(pending)
    if not statements:
        raise SpecError("the model syntax has no statements (only comments or blank lines)")

    rows: list[tuple[str, str, str]] = []
    for lineno, stmt in statements:
        op = next((o for o in _OPS if o in stmt), None)
        if op is None:
            raise SpecError(f"line {lineno}: no operator (=~, <~ or ~) in {stmt!r}")
        if op == "~~":
            raise SpecError(f"line {lineno}: covariances ('~~') are not supported: {stmt!r}")
        lhs, rhs = (s.strip() for s in stmt.split(op, 1))
        if any(o in rhs for o in _OPS):
            raise SpecError(f"line {lineno}: more than one operator in {stmt!r}")
        if not lhs:
            raise SpecError(f"line {lineno}: nothing on the left of {op!r} in {stmt!r}")
        if "*" in lhs or "*" in rhs:
            raise SpecError(f"line {lineno}: coefficient labels or fixed values ('*') are not supported: {stmt!r}")
        if rhs.endswith("+") or rhs.startswith("+") or "++" in rhs.replace(" ", ""):
            raise SpecError(f"line {lineno}: dangling '+' in {stmt!r}")
        terms = [t.strip() for t in rhs.split("+")]
        if not rhs or any(not t for t in terms):
            what = "indicators" if op in ("=~", "<~") else "predictors"
            raise SpecError(f"line {lineno}: {lhs!r} {op} has no {what}")
        for t in [lhs, *terms]:
            parts = t.split(":") if op == "~" and t is not lhs else [t]
            if len(parts) > 2:
                raise SpecError(f"line {lineno}: only two-way interactions are supported, not {t!r}")
            for part in parts:
                if not _NAME.match(part.strip()):
                    raise SpecError(f"line {lineno}: {t!r} is not a valid name in {stmt!r}")
        terms = [":".join(x.strip() for x in t.split(":")) for t in terms]
        rows += [(lhs, op, t) for t in terms]
    return ModelSpec(tuple(rows), name=name)


def _validate(params: tuple[tuple[str, str, str], ...]) -> None:
    if not params:
        raise SpecError("the model is empty")
    constructs: dict[str, str] = {}
    owner: dict[str, str] = {}
    for lhs, op, rhs in params:
        if op not in ("=~", "<~", "~"):
            raise SpecError(f"unsupported operator {op!r}")
        if op in ("=~", "<~"):
            if constructs.setdefault(lhs, op) != op:
                raise SpecError(f"construct {lhs!r} is declared both reflective (=~) and formative (<~)")
            if rhs in owner and owner[rhs] != lhs:
                raise SpecError(f"indicator {rhs!r} is in two blocks: {owner[rhs]!r} and {lhs!r}")
            if rhs in owner:
                raise SpecError(f"indicator {rhs!r} is listed twice in block {lhs!r}")
            owner[rhs] = lhs
    hoc = _validate_higher_order(params, constructs, owner)
    seen_paths: set[tuple[str, str]] = set()
    terms: list[tuple[str, str, str]] = []
    for lhs, op, rhs in params:
        if op != "~":
            continue
        if ":" in rhs and rhs not in constructs:
            terms.append((lhs, op, rhs))
            continue
        for name in (lhs, rhs):
            if name not in constructs:
                hint = f" (it is an indicator of {owner[name]!r})" if name in owner else ""
                raise SpecError(f"structural path {rhs} -> {lhs}: {name!r} is not a declared construct{hint}; "
                                f"declare it with '{name} =~ item1 + item2'")
        if lhs == rhs:
            raise SpecError(f"construct {lhs!r} cannot predict itself")
        if (rhs, lhs) in seen_paths:
            raise SpecError(f"structural path {rhs} -> {lhs} is listed twice")
        seen_paths.add((rhs, lhs))
    for p in seen_paths:
        for a, b in (p, p[::-1]):
            if a in hoc.get(b, ()):
                raise SpecError(f"higher-order construct {b!r} cannot share a structural path with its own "
                                f"dimension {a!r}")
    _validate_interactions(terms, constructs, seen_paths)
    if len(constructs) > 1:
        connected = {n for p in seen_paths for n in p} | {d for ds in hoc.values() for d in ds}
        loose = [c for c in constructs if c not in connected]
        if loose:
            raise SpecError(f"construct{'s' if len(loose) > 1 else ''} {', '.join(map(repr, loose))} "
                            "not connected to the structural model (no path in or out)")
    _toposort(list(constructs), list(seen_paths))  # raises on a cycle


def _validate_higher_order(params, constructs: dict[str, str], owner: dict[str, str]) -> dict[str, list[str]]:
    """Blocks whose indicators are constructs: all of them (no mixing), ≥ 2 first-order dimensions each."""
    hoc: dict[str, list[str]] = {}
    for lhs, op, rhs in params:
        if op in ("=~", "<~") and rhs in constructs:
            hoc.setdefault(lhs, []).append(rhs)
    for h, dims in hoc.items():
        items = [rhs for lhs, op, rhs in params if op in ("=~", "<~") and lhs == h]
        mixed = [i for i in items if i not in constructs]
        if mixed:
            raise SpecError(f"{h!r} mixes constructs ({', '.join(dims)}) and items ({', '.join(mixed)}) in one "
                            "block; a higher-order construct's indicators must all be constructs")
        if len(dims) < 2:
            raise SpecError(f"higher-order construct {h!r} needs at least two dimensions, got {dims[0]!r} "
                            "(with one dimension it is that construct)")
        deep = [d for d in dims if d in hoc]
        if deep:
            raise SpecError(f"{h!r} has higher-order dimensions ({', '.join(deep)}); only second-order "
                            "constructs are supported")
    return hoc


def _validate_interactions(terms, constructs: dict[str, str], seen_paths: set[tuple[str, str]]) -> None:
    """``target ~ A:B``: A, B declared and distinct, both main effects in the same target's regression."""
    seen: set[tuple[str, frozenset]] = set()
    for lhs, _, rhs in terms:
        a, b = rhs.split(":")
        for name in (lhs, a, b):
            if name not in constructs:
                raise SpecError(f"interaction {rhs} -> {lhs}: {name!r} is not a declared construct")
        if a == b:
            raise SpecError(f"interaction {rhs}: quadratic terms are not supported")
        if lhs in (a, b):
            raise SpecError(f"interaction {rhs} -> {lhs}: a construct cannot moderate its own regression")
        missing = [m for m in (a, b) if (m, lhs) not in seen_paths]
        if missing:
            raise SpecError(f"interaction {rhs} -> {lhs}: add the main effect{'s' if len(missing) > 1 else ''} "
                            f"{' + '.join(missing)} to {lhs}'s regression ({lhs} ~ {a} + {b} + {rhs})")
        key = (lhs, frozenset((a, b)))
        if key in seen:
            raise SpecError(f"interaction {rhs} -> {lhs} is listed twice")
        seen.add(key)


def _toposort(nodes: list[str], edges: list[tuple[str, str]]) -> tuple[str, ...]:
    """Kahn's algorithm, ties broken by declaration order; raises on a cycle."""
    indeg = {n: 0 for n in nodes}
    for f, t in edges:
        indeg[t] += 1
    order: list[str] = []
    ready = [n for n in nodes if indeg[n] == 0]
    while ready:
        n = ready.pop(0)
        order.append(n)
        for f, t in edges:
            if f == n:
                indeg[t] -= 1
                if indeg[t] == 0:
                    ready.append(t)
        ready.sort(key=nodes.index)
    if len(order) < len(nodes):
        cyc = [n for n in nodes if n not in order]
        raise SpecError(f"the structural model has a cycle among {', '.join(cyc)}; "
                        "PLS path models must be recursive")
    return tuple(order)
