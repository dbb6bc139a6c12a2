"""One place for the errors the package raises on purpose.

Every error a user can cause (a bad file, a bad model string, unusable data)
is a :class:`CSIError`. The command line turns these into a message and exit
code 2; the app turns them into a friendly notice. Anything else is a bug.
"""
from __future__ import annotations

from dataclasses import dataclass


class CSIError(Exception):
    """Base class of every expected, user-caused error."""


@dataclass(frozen=True)
class Problem:
    """One validation finding, precise enough to fix the input by hand.

    ``row`` is the 1-based data row as a spreadsheet shows it counting the
    header as row 1 (so the first respondent is row 2); ``None`` when the
    problem concerns the whole file or a whole column.
    """

    file: str
    reason: str
    row: int | None = None
    column: str | None = None
    value: str | None = None
    severity: str = "error"  # "error" rejects the file, "warning" only informs
    reason_zh: str | None = None  # the same reason in Simplified Chinese (see csi.messages)
    code: str | None = None  # stable message code from csi.messages

    def __str__(self) -> str:
        where = [self.file]
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column is not None:
            where.append(f"column {self.column!r}")
        if self.value is not None:
            where.append(f"value {self.value!r}")
        return f"{', '.join(where)}: {self.reason}"

    def as_dict(self) -> dict:
        return {
            "severity": self.severity,
            "file": self.file,
            "row": self.row,
            "column": self.column,
            "value": self.value,
            "reason": self.reason,
            "reason_zh": self.reason_zh or self.reason,
            "code": self.code,
        }


class InputError(CSIError):
    """A data file was rejected; ``problems`` lists every reason found."""

    def __init__(self, problems: list[Problem] | Problem | str, file: str = ""):
        if isinstance(problems, str):
            problems = [Problem(file=file, reason=problems)]
        elif isinstance(problems, Problem):
            problems = [problems]
        self.problems = list(problems)
        errors = [p for p in self.problems if p.severity == "error"] or self.problems
        head = str(errors[0])
        more = len(errors) - 1
        super().__init__(head + (f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""))


class SpecError(CSIError):
    """A model specification cannot be used (syntax or structure)."""


class DataError(CSIError):
    """Data are present but unusable for the requested analysis."""


class EstimationError(CSIError):
    """An estimator failed in a way the user should hear about."""


class StoreError(CSIError):
    """A database operation was refused (unknown wave, duplicate label, ...)."""
