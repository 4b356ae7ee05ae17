"""回执: the workbook returned to a member for one filing.

A 汇总 sheet on top (who, which file, the verdict, counts, whole-file findings), then one sheet per
data sheet that had rows: 原行号, the member's own cells as text, 状态 and 说明, the computed shares
and fee. Rejected rows are tinted; each cell an issue points at is red with the message as a
comment, so the member can find and fix it in their own file.
"""
from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Sequence

from .. import schema
from ..model import PARTIES, Issue, Party
from ..money import ZERO, normalise_text
from ..outcome import FilingOutcome, RowOutcome
from .figures import file_issues, status_text
from .xlsx import Col, GridLike, atomic_fast_workbook, write_pairs, write_table

AUTHOR = "省再担保"
SHARE_SHEETS = frozenset({"new", "default", "recover"})   # rows that carry computed shares
FEE_SHEETS = frozenset({"new"})


def write_receipt(path: Path, filing: FilingOutcome, run_id: str, run_date: date) -> None:
    """Write the member's receipt for ``filing`` to ``path`` (atomically)."""
    with atomic_fast_workbook(path) as book:
        _summary(book.sheet("汇总"), filing, run_id, run_date)
        for sheet in schema.DATA_SHEETS:
            rows = filing.rows.get(sheet.key, ())
            if rows:
                _data_sheet(book.sheet(sheet.name), sheet, rows)
        if filing.reversals:
            _corrections(book.sheet("更正对比"), filing)


# ---- 更正对比: what a correction changed ------------------------------------------------------

CHANGE_COLS = (Col("业务类型"), Col("业务编号"), Col("变动"), Col("更正前金额", "money"),
               Col("更正后金额", "money"), Col("差额", "money"), Col("更正前再担保分担", "money"),
               Col("更正后再担保分担", "money"), Col("更正前补偿基金分担", "money"),
               Col("更正后补偿基金分担", "money"))


def correction_changes(filing: FilingOutcome) -> list[tuple]:
    """Per event type and 业务编号: the withdrawn figures against the restated ones."""
    before: dict[tuple, list[Decimal]] = {}
    after: dict[tuple, list[Decimal]] = {}
    for target, postings in ((before, filing.reversals), (after, filing.postings)):
        for p in postings:
            figures = target.setdefault((p.kind, p.guarantee_id), [ZERO, ZERO, ZERO])
            for i, amount in enumerate((p.principal, p.shares[Party.REGUARANTOR],
                                        p.shares[Party.FUND])):
                figures[i] += amount
    rows = []
    for key in sorted(set(before) | set(after), key=lambda k: (k[0].value, k[1])):
        b, a = before.get(key), after.get(key)
        change = "撤销" if a is None else "新增" if b is None else "未变" if a == b else "修改"
        b, a = b or [ZERO] * 3, a or [ZERO] * 3
        rows.append((key[0].label, key[1], change, b[0], a[0], a[0] - b[0], b[1], a[1], b[2], a[2]))
    return rows


def _corrections(grid: GridLike, filing: FilingOutcome) -> None:
    write_table(grid, CHANGE_COLS, correction_changes(filing), total=True)


# ---- 汇总 -----------------------------------------------------------------------------------

def _summary(grid: GridLike, filing: FilingOutcome, run_id: str, run_date: date) -> None:
    grid.title(0, 0, "业务报送回执")
    pairs = [("机构编号", "text", filing.member_id), ("机构名称", "text", filing.member_name),
             ("报送期间", "text", filing.period), ("报送类型", "text", filing.kind),
             ("文件名", "text", filing.filing.name or filing.path),
             ("文件校验码", "text", _short(filing.filing.sha256)),
             ("处理结果", "text", status_text(filing)),
             ("处理批次", "text", run_id), ("处理日期", "date", run_date)]
    row = write_pairs(grid, pairs, top=2) + 1
    counts = [(s.name, *filing.counts(s.key)) for s in schema.DATA_SHEETS]
    row = write_table(grid, [Col("工作表"), Col("通过行数", "int"), Col("退回行数", "int"),
                             Col("合计", "int")],
                      [(name, ok, bad, ok + bad) for name, ok, bad in counts],
                      top=row, total=True, frame=False) + 1
    grid.text(row, 0, "文件级问题与提示", "bold")
    issues = file_issues(filing)
    if issues:
        write_table(grid, [Col("级别"), Col("代码"), Col("位置"), Col("说明")],
                    [(_level(i), i.code, i.where.render(), i.message) for i in issues],
                    top=row + 1, frame=False)
    else:
        grid.text(row + 1, 0, "无")
    grid.finish(header_row=None)


def _short(sha256: str) -> str:
    return f"{sha256[:16]}…" if len(sha256) > 16 else sha256


def _level(issue: Issue) -> str:
    return "错误" if issue.is_error else "提示"


# ---- one sheet per data sheet ---------------------------------------------------------------

def _data_sheet(grid, sheet: schema.Sheet, rows: Sequence[RowOutcome]) -> None:
    shares = sheet.key in SHARE_SHEETS or any(r.shares for r in rows)
    fee = sheet.key in FEE_SHEETS or any(r.fee is not None for r in rows)
    headers = ["原行号", *(c.header for c in sheet.columns), schema.RECEIPT_STATUS,
               schema.RECEIPT_NOTE]
    headers += list(schema.RECEIPT_SHARES) * shares + [schema.RECEIPT_FEE] * fee
    grid.header(0, headers)
    kinds = ["int", *["text"] * (len(sheet.columns) + 2), *["money"] * (len(headers) - 3
                                                                           - len(sheet.columns))]
    styles = {}
    for tint, verdict in (("", "good"), ("rejected", "bad")):
        styles[tint] = [grid.book.fmt(k if k != "text" else "", tint) for k in kinds]
        styles[tint][len(sheet.columns) + 1] = grid.book.fmt(tint, verdict)
    grid.typed_rows(1, kinds, (_data_row(grid, r, sheet, outcome, shares, fee, styles)
                               for r, outcome in enumerate(rows, start=1)))
    grid.finish(header_row=0, ncols=len(headers), last_row=len(rows), freeze_cols=1)


def _data_row(grid, r: int, sheet: schema.Sheet, outcome: RowOutcome, shares: bool, fee: bool,
              styles: dict[str, list[int]]) -> tuple[list[object], list[int]]:
    """One filed row's values and styles: 原行号, the member's cells (bad ones red, the message
    put on the grid as a comment), 状态, 说明, the shares and the fee; a rejected row tinted."""
    row = outcome.row
    accepted = outcome.accepted
    tint = "" if accepted else "rejected"
    row_styles = styles[tint]
    issues = _row_issues(outcome) if outcome.issues or row.issues else ()
    marked = _marked_cells(sheet, issues) if issues else {}
    status = schema.ACCEPTED if accepted else schema.REJECTED
    values: list[object] = [row.where.row or None, *_member_cells(sheet, row.cells), status,
                            _note(issues, outcome.note) if issues else outcome.note]
    if shares:
        values += list(map(outcome.shares.get, PARTIES)) if outcome.shares else [None] * len(PARTIES)
    if fee:
        values.append(outcome.fee)
    if marked:
        row_styles = list(row_styles)
        for index in marked:
            row_styles[index + 1] = grid.book.fmt(tint, "error")
    for index, messages in marked.items():
        grid.comment(r, index + 1, "\n".join(messages))
    return values, row_styles


def _row_issues(outcome: RowOutcome) -> tuple[Issue, ...]:
    """The verdict's issues and the reader's, each once."""
    seen, found = set(), []
    for issue in (*outcome.row.issues, *outcome.issues):
        key = (issue.code, issue.where.column, issue.where.field, issue.message)
        if key not in seen:
            seen.add(key)
            found.append(issue)
    return tuple(found)


def _note(issues: Sequence[Issue], note: str) -> str:
    parts = [i.message if i.is_error else f"提示：{i.message}" for i in issues]
    return "；".join([*parts, note] if note else parts)


def _member_cells(sheet: schema.Sheet, cells: Sequence[str]) -> list[str]:
    """The row's cells as the reader keeps them: in schema column order, whatever the file's."""
    texts = [c if c.__class__ is str else "" if c is None else str(c) for c in cells]
    missing = len(sheet.columns) - len(texts)
    return texts + [""] * missing if missing > 0 else texts[: len(sheet.columns)]


def _schema_index(sheet: schema.Sheet, name: str) -> int | None:
    wanted = normalise_text(name or "")
    for i, col in enumerate(sheet.columns):
        if wanted and wanted in (col.header, col.key, normalise_text(col.header)):
            return i
    return None


def _marked_cells(sheet: schema.Sheet, issues: Sequence[Issue]) -> dict[int, list[str]]:
    """Schema column index → messages of the issues that point at that cell."""
    marked: dict[int, list[str]] = {}
    for issue in issues:
        index = _issue_index(sheet, issue)
        if index is not None:
            marked.setdefault(index, []).append(issue.message)
    return marked


def _issue_index(sheet: schema.Sheet, issue: Issue) -> int | None:
    """Which schema column an issue points at: by its field (header or key), else by finding its
    column letter in the row's layout."""
    where = issue.where
    index = _schema_index(sheet, where.field)
    if index is None and where.column:
        keys = [k for k, (letter, _) in where.layout.items() if letter == where.column]
        index = _schema_index(sheet, keys[0]) if keys else None
    return index
