"""Mystery-shopping audit files: read, validate and store one audit period — all or nothing.

An auditor visits an outlet and scores categories (environment, signage, facilities, VIP area, staff appearance,
staff competence, business handling): points possible and points obtained. A file has one row per outlet x
category. Columns (case-insensitive; Chinese headers too):

========== ============================================================ ========
column     headers accepted                                              required
========== ============================================================ ========
outlet     outlet, store, branch, shop, 门店, 网点, 营业厅                 yes
category   category, item, 类别, 项目                                     yes
possible   possible, points_possible, max_points, full_marks, 满分, 应得分  yes
obtained   obtained, points_obtained, score, 得分, 实得分                  yes
note       note, notes, comment, remarks, 备注                            no
total      total, stated_total, total_obtained, 总分, 合计                 no
region     region, area, 地区, 区域                                        no
========== ============================================================ ========

``total`` is the outlet's stated total of points obtained (repeated on its rows, or on one of them): the
categories' points obtained must add up to it. Checks: numbers parse; possible > 0; 0 <= obtained <= possible;
no outlet x category twice; the stated total adds up; outlets new to the store are a warning (an error with
``strict_outlets``). Every problem names file, row (spreadsheet rows: header = row 1), column, value and
reason in English and Chinese (codes ``audit_*`` in :mod:`csi.text.messages`).

Files are read by :func:`csi.data.ingest.read_survey` (encodings incl. GBK/GB18030, XLSX, reading limits).
:func:`store_audit` validates and writes inside a write of the store; :func:`ingest_audit_into` is
``python -m csi ingest-audit`` (one audited :func:`csi.data.store.writing`: a bad file publishes nothing);
:func:`delete_audit_period_from` moves a period to the trash and :func:`restore_audit_period_from` brings it back.
Nothing is lost: ``--replace`` moves the period's old version to the trash in the same write as the new one.
"""
from __future__ import annotations

import math
import os
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Mapping, Sequence

import numpy as np
import pandas as pd

from csi.data import store
from csi.data.ingest import ValidationReport
from csi.errors import InputError, Problem, StoreError
from csi.text.messages import problem

COLUMNS: dict[str, tuple[str, ...]] = {
    "outlet": ("outlet", "store", "branch", "shop", "outlet_name", "门店", "网点", "营业厅", "门店名称", "网点名称"),
    "category": ("category", "item", "audit_category", "类别", "项目", "检查项目", "考核项目"),
    "possible": ("possible", "points_possible", "max_points", "max", "full_marks", "满分", "应得分"),
    "obtained": ("obtained", "points_obtained", "score", "points", "得分", "实得分"),
    "note": ("note", "notes", "comment", "comments", "remarks", "备注"),
    "total": ("total", "stated_total", "total_obtained", "总分", "合计"),
    "region": ("region", "area", "地区", "区域"),
}
REQUIRED = ("outlet", "category", "possible", "obtained")
_NAMES_ZH = {"outlet": "门店/网点", "category": "类别/项目", "possible": "满分/应得分", "obtained": "得分/实得分"}
_TOTAL_TOLERANCE = 1e-6  # points: stated totals are exact sums of the categories (half points allowed)


def _report(source_name: str, problems: list[Problem], frame: pd.DataFrame | None = None,
            columns: dict[str, str] | None = None) -> ValidationReport:
    """What :func:`validate_audit` found, as the survey ingest reports it (``problems``, ``ok``, ``errors``,
    ``warnings``, ``problems_frame()``): ``frame`` (outlet, category, possible, obtained, note, region, row) is the
    clean data, meaningful only when ``ok``; ``source_columns`` maps each role (outlet, ...) to its header."""
    return ValidationReport(source_name=source_name, problems=problems, frame=frame, source_columns=dict(columns or {}))


@dataclass(frozen=True)
class AuditImport:
    period: str
    source_name: str
    n_rows: int
    n_outlets: int
    n_categories: int
    replaced: bool
    percent: float
    warnings: tuple[Problem, ...] = ()
    trash_id: int | None = None  # the replaced version's entry in the trash (``replaced`` only)
    trashed_rows: int = 0  # its rows

    def summary(self) -> str:
        verb = "replaced" if self.replaced else "stored"
        lines = [f"audit period {self.period!r} {verb}: {self.n_outlets} outlets, {self.n_categories} categories, "
                 f"{self.n_rows} rows, {self.percent:.1f}% of points obtained (from {self.source_name})"]
        if self.replaced:
            lines.append(f"  the replaced version ({self.trashed_rows} rows) is in the trash: python -m csi "
                         f"restore-audit {self.period!r} --replace brings it back (and moves this one there)")
        lines += [f"  warning: {w}" for w in self.warnings]
        return "\n".join(lines)


def read_audit(source: str | os.PathLike | bytes | BinaryIO, name: str | None = None,
               limits: Mapping[str, int] | None = None) -> pd.DataFrame:
    """The file's text cells (CSV in any encoding :func:`csi.data.ingest.read_survey` reads, or XLSX)."""
    from csi.data.ingest import read_survey

    if name is None and isinstance(source, (str, os.PathLike)):
        name = Path(source).name
    return read_survey(source, name=name or "audit file", limits=limits)


def _roles(raw: pd.DataFrame, name: str) -> tuple[dict[str, str], list[Problem]]:
    from csi.data.ingest import _norm_header

    wanted = {_norm_header(a): role for role, aliases in COLUMNS.items() for a in aliases}
    roles: dict[str, str] = {}
    for col in raw.columns:
        role = wanted.get(_norm_header(col))
        if role is not None and role not in roles:
            roles[role] = str(col)
    probs = [problem(name, "audit_missing_column", name=f"{r} ({_NAMES_ZH[r]})",
                     names=", ".join(COLUMNS[r])) for r in REQUIRED if r not in roles]
    return roles, probs


def _number(cell: str) -> float | None:
    text = unicodedata.normalize("NFKC", str(cell)).strip()  # full-width digits too; "1,5" is not a number
    try:
        v = float(text)
    except ValueError:
        return None
    return v if math.isfinite(v) else None


def validate_audit(raw: pd.DataFrame, name: str, *, known_outlets: Sequence[str] = (),
                   strict_outlets: bool = False) -> ValidationReport:
    """Check an audit file's cells (never writes). ``known_outlets``: the store's outlets of earlier periods
    (empty: every outlet is new and nothing is said); a new outlet is a warning, an error if ``strict_outlets``."""
    from csi.data.ingest import _text

    if raw.shape[1] == 0 or len(raw) == 0:
        return _report(name, [problem(name, "header_only")])
    roles, probs = _roles(raw, name)
    if probs:
        return _report(name, probs, columns=roles)
    n = len(raw)
    rows = np.arange(n) + 2
    text = {r: _text(raw[c]).to_numpy(dtype=object) for r, c in roles.items()}
    num: dict[str, np.ndarray] = {}
    for role in ("possible", "obtained", "total"):
        if role not in roles:
            continue
        vals = np.full(n, np.nan)
        col = roles[role]
        for i, cell in enumerate(text[role]):
            if cell == "":
                if role != "total":
                    probs.append(problem(name, "audit_empty_cell", row=int(rows[i]), column=col))
                continue
            v = _number(cell)
            if v is None:
                probs.append(problem(name, "audit_not_number", row=int(rows[i]), column=col, value=str(cell)))
            elif v < 0:
                probs.append(problem(name, "audit_negative", row=int(rows[i]), column=col, value=str(cell)))
            else:
                vals[i] = v
        num[role] = vals
    poss, obt = num["possible"], num["obtained"]
    for i in range(n):
        if poss[i] == 0:
            probs.append(problem(name, "audit_possible_zero", row=int(rows[i]), column=roles["possible"],
                                 value=str(text["possible"][i])))
        elif np.isfinite(poss[i]) and np.isfinite(obt[i]) and obt[i] > poss[i]:
            probs.append(problem(name, "audit_over_possible", row=int(rows[i]), column=roles["obtained"],
                                 value=str(text["obtained"][i]), obtained=float(obt[i]), possible=float(poss[i])))
    seen: dict[tuple[str, str], int] = {}
    for i in range(n):
        o, c = str(text["outlet"][i]), str(text["category"][i])
        for role, v in (("outlet", o), ("category", c)):
            if v == "":
                probs.append(problem(name, "audit_empty_cell", row=int(rows[i]), column=roles[role]))
        if o == "" or c == "":
            continue
        if (o, c) in seen:
            probs.append(problem(name, "audit_duplicate", row=int(rows[i]), column=roles["category"], value=c,
                                 outlet=o, category=c, first=seen[(o, c)]))
        else:
            seen[(o, c)] = int(rows[i])
    outlets = pd.Series(text["outlet"])
    if "total" in num:
        tot = num["total"]
        for o, idx in outlets.groupby(outlets, sort=False).groups.items():
            if o == "":
                continue
            idx = np.asarray(idx)
            stated = sorted(set(tot[idx][np.isfinite(tot[idx])].tolist()))
            if len(stated) > 1:
                probs.append(problem(name, "audit_total_varies", row=int(rows[idx[0]]), column=roles["total"],
                                     outlet=o, totals=", ".join(f"{v:g}" for v in stated)))
            elif len(stated) == 1 and np.isfinite(obt[idx]).all():
                s = float(obt[idx].sum())
                if abs(s - stated[0]) > _TOTAL_TOLERANCE:
                    where = idx[np.isfinite(tot[idx])][0]
                    probs.append(problem(name, "audit_total_mismatch", row=int(rows[where]), column=roles["total"],
                                         value=str(text["total"][where]), outlet=o, sum=s, total=stated[0]))
    known = set(known_outlets)
    if known:
        shown = ", ".join(sorted(known)[:8]) + (", ..." if len(known) > 8 else "")
        for o in dict.fromkeys(v for v in text["outlet"] if v and v not in known):
            i = int(np.flatnonzero(text["outlet"] == o)[0])
            probs.append(problem(name, "audit_new_outlet", row=int(rows[i]), column=roles["outlet"], value=o,
                                 severity="error" if strict_outlets else "warning", outlet=o, known=shown))
    frame = pd.DataFrame({
        "outlet": text["outlet"], "category": text["category"], "possible": poss, "obtained": obt,
        "note": text["note"] if "note" in text else [None] * n,
        "region": text["region"] if "region" in text else [None] * n,
        "row": rows})
    for c in ("note", "region"):
        frame[c] = [None if v is None or v == "" else str(v) for v in frame[c]]
    # errors first, in file order; warnings after
    probs.sort(key=lambda p: (p.severity != "error", p.row or 0))
    return _report(name, probs, frame=frame, columns=roles)


def _label_problem(name: str, period: str) -> str:
    try:
        return store.validate_label(period)
    except StoreError as e:
        raise InputError(problem(name, "audit_bad_label", value=str(period),
                                 detail=str(e).replace("wave", "audit period"))) from None


def check_audit(con, raw: pd.DataFrame, period: str, name: str, *, replace: bool = False,
                strict_outlets: bool = False) -> ValidationReport:
    """Validate ``raw`` as audit period ``period`` against the store ``con`` (read-only is fine): the label, a
    period that exists without ``replace``, the cells, the known outlets (those of the OTHER periods)."""
    label = _label_problem(name, period)
    report = validate_audit(raw, name, known_outlets=_known(con, label), strict_outlets=strict_outlets)
    if label in store.audit_period_labels(con) and not replace:
        report.problems.insert(0, problem(name, "audit_period_exists", value=label, label=label))
    return report


def _known(con, label: str) -> list[str]:
    if label not in store.audit_period_labels(con):
        return store.audit_outlets(con)
    rows = con.execute("""SELECT DISTINCT a.outlet FROM audits a JOIN audit_periods p USING (period_id)
                          WHERE p.label <> ?""", [label]).fetchall()
    return sorted(r[0] for r in rows)


def store_audit(con, raw: pd.DataFrame, period: str, name: str, *, replace: bool = False,
                strict_outlets: bool = False, by: str | None = None, sha256: str | None = None) -> AuditImport:
    """Validate and store one audit period on a write connection (inside :func:`csi.data.store.writing`); any
    error raises :class:`InputError` with every problem and writes nothing."""
    from csi.data.ingest import frame_sha256

    report = check_audit(con, raw, period, name, replace=replace, strict_outlets=strict_outlets)
    if not report.ok:
        raise InputError(report.problems)
    label = store.validate_label(period)
    f = report.frame
    tid = store.write_audit_period(con, label, f, source_file=name, sha256=sha256 or frame_sha256(raw), by=by,
                                   replace=replace)  # a replaced period goes to the trash in the same write
    trashed = 0 if tid is None else int(con.execute(
        "SELECT count(*) FROM trash_audits WHERE trash_id = ?", [tid]).fetchone()[0])
    return AuditImport(period=label, source_name=name, n_rows=int(len(f)), n_outlets=int(f["outlet"].nunique()),
                       n_categories=int(f["category"].nunique()), replaced=tid is not None,
                       percent=float(100.0 * f["obtained"].sum() / f["possible"].sum()),
                       warnings=tuple(report.warnings), trash_id=tid, trashed_rows=trashed)


def ingest_audit_into(db: str | os.PathLike, source: str | os.PathLike | bytes | BinaryIO, period: str, *,
                      name: str | None = None, replace: bool = False, strict_outlets: bool = False,
                      actor: str | None = None, timeout: float | None = None,
                      limits: Mapping[str, int] | None = None) -> AuditImport:
    """``python -m csi ingest-audit``: read the file (outside any lock), then validate and store it as audit
    period ``period`` in ONE audited write of the store ``db`` (published whole or not at all). With ``replace``
    the period's old version moves to the trash in that same write (the audit detail names its ``trash_id`` and
    ``trashed_rows``); ``restore-audit PERIOD --replace`` swaps it back."""
    raw = read_audit(source, name, limits)
    name = name or (Path(source).name if isinstance(source, (str, os.PathLike)) else "audit file")
    _label_problem(name, period)
    from csi.data.ingest import frame_sha256

    sha = frame_sha256(raw)
    detail: dict = {"file": name, "sha256": sha, "audit_period": str(period).strip(), "replace": bool(replace)}
    actor = actor or store.default_actor()
    with store.writing(db, actor=actor, action="ingest-audit", detail=detail, timeout=timeout) as con:
        result = store_audit(con, raw, period, name, replace=replace, strict_outlets=strict_outlets, by=actor,
                             sha256=sha)
        detail.update(rows=result.n_rows, outlets=result.n_outlets, replaced=result.replaced)
        if result.replaced:
            detail.update(trash_id=result.trash_id, trashed_rows=result.trashed_rows)
    return result


def delete_audit_period_from(db: str | os.PathLike, period: str, *, actor: str | None = None) -> int:
    """``python -m csi delete-audit``: move an audit period to the trash (one audited write; ``restore-audit``
    brings it back); returns the rows moved."""
    actor = actor or store.default_actor()
    detail: dict = {"audit_period": period}
    with store.writing(db, actor=actor, action="delete-audit", detail=detail) as con:
        n = store.delete_audit_period(con, period, by=actor)
        detail["rows"] = n
    return n


def restore_audit(con, period: str, *, trash_id: int | None = None, replace: bool = False, by: str | None = None,
                  detail: dict | None = None) -> int:
    """Bring an audit period back from the trash on a write connection (inside :func:`csi.data.store.writing`, or
    the dashboard's ``app.state.writer``): its most recent version there, or the entry ``trash_id``. A period of
    that label that exists now is refused unless ``replace``, which moves it to the trash in the same transaction
    (deleted by ``by``; the same call again swaps back). Fills the audit ``detail`` (rows, replace, replaced,
    trash_id) and returns the rows restored."""
    detail = {} if detail is None else detail
    replaced = bool(replace) and period in store.audit_period_labels(con)
    n = store.restore_audit_period(con, period, trash_id, replace=replace, by=by)
    detail.update(audit_period=period, rows=n, replace=bool(replace), replaced=replaced)
    if trash_id is not None:
        detail["trash_id"] = int(trash_id)
    return n


def restore_audit_period_from(db: str | os.PathLike, period: str, *, actor: str | None = None,
                              replace: bool = False) -> tuple[int, bool]:
    """``python -m csi restore-audit``: :func:`restore_audit` of the period's most recent version in the trash, rows
    unchanged, as one audited write (the dashboard's Trash tab picks any version). Returns the rows restored and
    whether a current period of that label went to the trash (``replace``)."""
    actor = actor or store.default_actor()
    detail: dict = {"audit_period": period, "replace": bool(replace)}
    with store.writing(db, actor=actor, action="restore-audit", detail=detail) as con:
        n = restore_audit(con, period, replace=replace, by=actor, detail=detail)
    return n, detail["replaced"]
