"""One place for the errors the package raises on purpose.

Every error a user can cause (a bad file, a bad model string, unusable data)
is a :class:`CSIError`. The command line turns these into a message and exit
code 2; the app turns them into a friendly notice. Anything else is a bug.
"""
from __future__ import annotations

import logging as _logging
import re as _re
import secrets as _secrets
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
        # keep the list object itself: the reader's list carries ``omitted`` (problems a "... and N more" line
        # stands for), so the true counts survive
        self.problems = problems if isinstance(problems, list) else list(problems)
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


# --------------------------------------------------------------------------- quiet errors
# Messages reach people who must not learn the server's layout: an analyst in the dashboard, an
# anonymous visitor on the sign-in page, a log scraped from a CI run. ``public_message`` removes
# what a message has no business telling them (absolute paths, process ids, the interpreter);
# the full text goes to the server log under the logger "csi" with a short incident id that the
# public message quotes, so an administrator can find it.
LOG = _logging.getLogger("csi")

_QUOTED_PATH = _re.compile(r"""(["'])((?:[A-Za-z]:[\\/]|[\\/]|~[\\/])[^"'\n]*)\1""")
_WIN_PATH = _re.compile(r"(?<![\w/\\])[A-Za-z]:[\\/][^\s\"'<>|]*")
# two or more components, not inside a URL (``https://host/x``: each '/' follows ':', '/' or a letter)
_POSIX_PATH = _re.compile(r"(?<![\w.:/\\~-])(?:~?/)[\w.@%+=~-]+(?:/[\w.@%+=~ -]*?[\w.@%+=~-])+/?(?=$|[\s\"'),;:\]>}])"
                          r"|(?<![\w.:/\\~-])~/[\w.@%+=~-]+")
_FILE_URL = _re.compile(r"file://\S+")
_LOCK_HOLDER = _re.compile(r"\bis held in\s.*?\(PID\s*\d+\)", _re.I)
_PID = _re.compile(r"\s*\(\s*PID\s*[:=]?\s*\d+\s*\)|\bPID\s*[:=]?\s*\d+|\bpid\s*[:=]\s*\d+", _re.I)
_PYTHON = _re.compile(r"\bPython\s+\d+\.\d+(?:\.\d+)?\S*|\b(?:site|dist)-packages\b", _re.I)
_DUCKDB_HINT = _re.compile(r"\s*However, you would be able to open this database in read-only mode.*$|"
                           r"\s*See also https?://\S+", _re.I | _re.S)


def _basename(path: str) -> str:
    parts = [p for p in _re.split(r"[\\/]+", path.strip()) if p]
    return parts[-1] if parts else ""


def public_message(text: object) -> str:
    """``text`` without absolute file-system paths (each shown by its last component, the file's
    name), process ids, interpreter paths and versions, and DuckDB's lock hints.

    >>> public_message('Could not set lock on file "/srv/csi/data/csi.duckdb": Conflicting lock '
    ...                'is held in /usr/bin/python3 (PID 1234).')
    'Could not set lock on file "csi.duckdb": Conflicting lock is held by another program.'
    """
    s = str(text)
    s = _DUCKDB_HINT.sub("", s)
    s = _LOCK_HOLDER.sub("is held by another program", s)
    s = _FILE_URL.sub(lambda m: _basename(m.group(0)[len("file://"):]), s)
    s = _QUOTED_PATH.sub(lambda m: m.group(1) + _basename(m.group(2)) + m.group(1), s)
    s = _WIN_PATH.sub(lambda m: _basename(m.group(0)), s)
    s = _POSIX_PATH.sub(lambda m: _basename(m.group(0)), s)
    s = _PID.sub("", s)
    s = _PYTHON.sub("", s)
    return _re.sub(r"[ \t]{2,}", " ", s).strip()


def new_incident() -> str:
    """A short random id (6 hex digits) naming one logged failure."""
    return _secrets.token_hex(3)


def log_incident(detail: object, exc: BaseException | None = None, incident: str | None = None) -> str:
    """Write ``detail`` (and the traceback of ``exc``) to the "csi" log at ERROR level; return the
    incident id the public message should quote. Uses the logging configuration of the process as
    it is (a server without one writes it to its stderr)."""
    incident = incident or new_incident()
    LOG.error("incident %s: %s", incident, detail,
              exc_info=(type(exc), exc, exc.__traceback__) if exc is not None else None)
    return incident


def with_incident(message: str, incident: str) -> str:
    return f"{message} (incident {incident})"


def public_text(err: BaseException, log: bool = True) -> str:
    """The message of an expected error (:class:`CSIError`) fit to show to anyone.

    A message the scrubber had to change, or an error carrying a private ``detail`` (see
    :func:`quiet`), is logged in full once under an incident id that the returned text quotes."""
    raw = str(err)
    shown = public_message(raw)
    incident = getattr(err, "incident", None)
    detail = getattr(err, "detail", None)
    if incident is None and shown != raw:
        incident = new_incident()
        detail = raw
        _remember(err, incident, detail)
    if incident is not None and log and not getattr(err, "_incident_logged", False):
        log_incident(detail if detail is not None else raw, incident=incident)
        _remember(err, incident, detail, logged=True)
    if incident is not None and f"(incident {incident})" not in shown:
        shown = with_incident(shown, incident)
    return shown


def _remember(err: BaseException, incident: str, detail, logged: bool = False) -> None:
    try:
        err.incident = incident
        err.detail = detail
        if logged:
            err._incident_logged = True
    except AttributeError:  # an exception type with __slots__: nothing to remember it by
        pass


def quiet(err: CSIError, detail: object) -> CSIError:
    """Attach private technical ``detail`` and an incident id to ``err`` (whose message must already
    be public); the detail is logged when the error is shown (:func:`public_text`)."""
    err.detail = str(detail)
    err.incident = new_incident()
    return err
