"""Model specification in lavaan syntax ⇄ a frozen :class:`ModelSpec`.

Supported subset of lavaan's model syntax (what a CSI model needs)::

    # comments start with '#' or '!'
    IMAG =~ imag1 + imag2 + imag3      # reflective block (PLS mode A)
    VAL  <~ val1 + val2                # formative/composite block (PLS mode B)
    SAT  ~ IMAG + EXPE + QUAL + VAL    # structural regressions
    LOY  ~ SAT ; EXPE ~ IMAG           # ';' separates statements on one line

A statement may continue on the next line after a trailing or leading '+'.
Coefficient labels/fixed values (``0.5*x``), intercepts and covariances
(``~~``) are refused with a clear message: they have no meaning in PLS and
the CB-SEM adapter generates what it needs itself.

The spec is one parameter table (``lhs, op, rhs``), as in lavaan; everything
else (construct order, adjacency, predecessors) is derived from it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property
from typing import Iterable, Literal

import numpy as np
import pandas as pd

from csi.errors import SpecError

Mode = Literal["A", "B"]
_NAME = re.compile(r"^[A-Za-z_\u4e00-\u9fff][A-Za-z0-9_.\u4e00-\u9fff]*$")
_OPS = ("=~", "<~", "~~", "~")


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

    def __post_init__(self) -> None:
        _validate(self.params)

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
    def blocks(self) -> dict[str, tuple[str, ...]]:
        """Construct → indicators, constructs in topological order."""
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
        p = [(rhs, lhs) for lhs, op, rhs in self.params if op == "~"]
        return tuple(sorted(p, key=lambda ft: (order[ft[1]], order[ft[0]])))

    @cached_property
    def constructs(self) -> tuple[str, ...]:
        """Constructs in a topological order (stable w.r.t. declaration order)."""
        declared: list[str] = []
        for lhs, op, _ in self.params:
            if op in ("=~", "<~") and lhs not in declared:
                declared.append(lhs)
        return _toposort(declared, [(rhs, lhs) for lhs, op, rhs in self.params if op == "~"])

    @property
    def indicators(self) -> tuple[str, ...]:
        return tuple(i for c in self.constructs for i in self.blocks[c])

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
        have = set(available)
        rows = [r for r in self.params if r[1] == "~" or r[2] in have]
        return ModelSpec(tuple(rows), name=self.name)

    # ----------------------------------------------------------------- output
    def to_syntax(self) -> str:
        lines = [f"# {self.name} model", "# measurement model"]
        for c in self.constructs:
            op = "<~" if self.modes[c] == "B" else "=~"
            lines.append(f"{c} {op} {' + '.join(self.blocks[c])}")
        lines.append("# structural model")
        for c in self.endogenous:
            lines.append(f"{c} ~ {' + '.join(self.predecessors(c))}")
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
            if not _NAME.match(t):
                raise SpecError(f"line {lineno}: {t!r} is not a valid name in {stmt!r}")
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
    for c in constructs:
        if c in owner:
            raise SpecError(f"{c!r} is used both as a construct and as an indicator")
    seen_paths: set[tuple[str, str]] = set()
    for lhs, op, rhs in params:
        if op != "~":
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
    if len(constructs) > 1:
        connected = {n for p in seen_paths for n in p}
        loose = [c for c in constructs if c not in connected]
        if loose:
            raise SpecError(f"construct{'s' if len(loose) > 1 else ''} {', '.join(map(repr, loose))} "
                            "not connected to the structural model (no path in or out)")
    _toposort(list(constructs), list(seen_paths))  # raises on a cycle


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
