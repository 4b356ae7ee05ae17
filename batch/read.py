"""One workbook -> typed rows and `Issue`s; never raises on what a member sent.

Every format the contract accepts (.xlsx, .xlsm, .xls, .ods) is read by python-calamine from the
file's bytes, so a .xls renamed to .xlsx still reads -- but only bytes `guard` has passed: a file
too big, not a workbook, encrypted, a zip or XML bomb, or a sheet reaching past the row limit is
one file-level Issue and calamine never sees it. calamine drops leading empty rows and columns;
`sheet.start` gives the offset back, so every `Where` names the row and column Excel shows. What
calamine reads as blank although it is not (error values, formulas without a stored result) comes
from `sheetxml`. This module finds the sheets and hands each to `grid` (headers, labels, rows;
cell conversion lives in `cells`), and turns every problem into an Issue with a stable code listed
in `ISSUE_CODES`.
"""
from __future__ import annotations

import io
import logging
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from itertools import islice
from pathlib import Path
from typing import Iterator, Mapping, Sequence

from python_calamine import CalamineWorkbook, PasswordError, SheetVisibleEnum

from . import cells, guard, sheetxml
from .config import Limits
from .grid import HEADER_SEARCH_ROWS, Grid, match_key, read_labels, read_table
from .model import Cover, Filing, Issue, Row, Where
from .schema import COVER, DATA_SHEETS, FILING_SHEETS, SUPPORTED_TEMPLATE_VERSIONS, Sheet

ISSUE_CODES: dict[str, str] = {
    "file.unreadable": "文件无法读取（不是有效的 Excel/WPS/ODS 文件，或已损坏）",
    "file.encrypted": "文件设置了打开密码，无法读取",
    "sheet.duplicate": "同一工作表出现了两次（名称只差空格或全半角）",
    "header.notfound": "前10行中找不到表头",
    "header.missing": "缺少必填列，该表数据无法读取",
    "header.duplicate": "同一列标题出现两次，该表数据无法读取",
    "header.extra": "模板以外的列，已忽略（提示）",
    "label.required": "封面或参数表缺少必填项目",
    "label.duplicate": "封面或参数表的项目出现两次",
    "cover.missing": "缺少「封面」工作表",
    "cover.version": "模板版本不受支持",
    "cell.required": "必填单元格为空",
    "cell.formula": "公式没有保存计算结果",
    "cell.too_long": "单元格内容超过长度上限",
    "sheet.hidden": "隐藏的工作表或行，已照常读取（提示）",
    **guard.GUARD_CODES,
    **cells.CELL_CODES,
}
DEFAULT_LIMITS = Limits()              # the pipeline passes the home's (reguarantee.toml)
log = logging.getLogger("reguarantee")


@dataclass(frozen=True, slots=True)
class Workbook:
    """What one workbook says, sheet by sheet, before any business rule looks at it."""
    labels: dict[str, dict[str, object]] = field(default_factory=dict)
    label_where: dict[str, dict[str, Where]] = field(default_factory=dict)
    rows: dict[str, tuple[Row, ...]] = field(default_factory=dict)
    headers: dict[str, tuple[str, ...]] = field(default_factory=dict)
    present: frozenset[str] = frozenset()
    issues: tuple[Issue, ...] = ()


class _Broken(Exception):
    """calamine failed while handing over a sheet's rows: the file is unreadable after all."""

    def __init__(self, issue: Issue) -> None:
        super().__init__(issue.message)
        self.issue = issue


# ---- the file ----------------------------------------------------------------------------

def read_workbook(path: Path, sheets: Sequence[Sheet], name: str, *,
                  limits: Limits = DEFAULT_LIMITS) -> Workbook:
    """Read the sheets named by the schema; a file that cannot be opened is one Issue.

    Never raises: `guard` refuses what is unsafe or not a workbook before calamine sees it, and
    anything calamine still fails on becomes ``file.unreadable``; so does any other surprise, since
    one odd file must not stop the night's other filings."""
    try:
        return _read(Path(path), sheets, name, limits)
    except Exception as error:          # one odd file must not stop the night
        log.exception("读取 %s 时出现意外错误，按无法读取处理", name)
        return Workbook(issues=(_unreadable(name, error),))


def _read(path: Path, sheets: Sequence[Sheet], name: str, limits: Limits) -> Workbook:
    preflight = guard.inspect(path, name, limits)
    book = _open(preflight, name)
    if isinstance(book, Issue):
        return Workbook(issues=(book,))
    found, issues = _match_sheets(book.sheet_names, sheets, name)
    marks = sheetxml.scan(preflight.data, set(found.values()) - preflight.plain)
    hidden_rows = preflight.hidden_rows
    del preflight                   # calamine copied the bytes: ours need not outlive the sheets
    labels, label_where, rows, headers = {}, {}, {}, {}
    for sheet in (s for s in sheets if s.key in found):
        grid = _grid(book, found[sheet.key], marks, limits, name,
                     None if sheet.labels else HEADER_SEARCH_ROWS)
        if isinstance(grid, Issue):                     # a corrupt sheet inside a readable zip
            return Workbook(issues=(grid,))
        if sheet.labels:
            labels[sheet.key], label_where[sheet.key], more = read_labels(sheet, grid, name)
        else:
            try:
                headers[sheet.key], rows[sheet.key], more = read_table(sheet, grid, name)
            except _Broken as broken:
                return Workbook(issues=(broken.issue,))
        hidden = _read_hidden(hidden_rows.get(found[sheet.key], ()), sheet, label_where, rows)
        issues.extend((*more, *_hidden(book, found[sheet.key], hidden, name)))
    return Workbook(labels, label_where, rows, headers, frozenset(found), tuple(issues))


def _open(preflight: guard.Preflight, name: str) -> CalamineWorkbook | Issue:
    """calamine on the very bytes the guard passed (sniffed, so a .xls renamed to .xlsx still
    reads), or the one Issue that explains why there is no workbook."""
    if preflight.issue is not None:
        return preflight.issue
    try:
        return CalamineWorkbook.from_filelike(io.BytesIO(preflight.data))
    except PasswordError:
        return Issue("file.encrypted", Where(name), guard.ENCRYPTED)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as error:      # a Rust panic inside calamine arrives as a BaseException
        return _unreadable(name, error)


def _grid(book: CalamineWorkbook, sheet_name: str, marks: sheetxml.Marks, limits: Limits,
          name: str, head: int | None) -> Grid | Issue:
    """The sheet's cells; its size is checked again before Python objects are made of them.
    The first ``head`` rows (None: all) are made now, the rest as they are read."""
    try:
        raw = book.get_sheet_by_name(sheet_name)
        rows, cols = (raw.end[0] + 1, raw.end[1] + 1) if raw.end else (0, 0)
        if (too_far := guard.sheet_too_far(name, sheet_name, rows, cols, limits)) is not None:
            return too_far
        top, left = raw.start or (0, 0)
        lines = islice(raw.iter_rows(), top, None)      # iter_rows starts at row 0, not `start`
        return Grid(list(islice(lines, head)), _guarded(lines, name), top, left, raw.width,
                     marks.get(sheet_name, {}), limits.max_cell_chars)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as error:      # calamine parses a sheet lazily, on first access
        return _unreadable(name, error)


def _guarded(lines: Iterator[list[object]], name: str) -> Iterator[list[object]]:
    """calamine's rows, with a failure while converting them (a Rust panic arrives as a
    BaseException) turned into the file's one Issue, as a failure on opening the sheet is."""
    try:
        yield from lines
    except (KeyboardInterrupt, SystemExit, GeneratorExit):
        raise
    except BaseException as error:
        raise _Broken(_unreadable(name, error)) from None


def _read_hidden(hidden: Sequence[int], sheet: Sheet, label_where: Mapping[str, Mapping[str, Where]],
                 rows: Mapping[str, Sequence[Row]]) -> Sequence[int]:
    """The hidden rows that were read (a label's or a data row): the rows read are gathered only
    when some are hidden."""
    if not hidden:
        return ()
    shown = ({w.row for w in label_where[sheet.key].values()} if sheet.labels else
             {r.where.row for r in rows[sheet.key]})
    return [r for r in hidden if r in shown]


def _hidden(book: CalamineWorkbook, sheet: str, rows: Sequence[int], file: str) -> list[Issue]:
    """Hidden sheets and rows are read like visible ones (data is data); the member is told."""
    issues = []
    state = next((m.visible for m in book.sheets_metadata if m.name == sheet), None)
    if state not in (None, SheetVisibleEnum.Visible):
        issues.append(Issue("sheet.hidden", Where(file, sheet),
                            f"工作表「{sheet}」处于隐藏状态，其中的数据已照常读取；如不应报送，请删除该表",
                            "warning"))
    if rows:
        listed = "、".join(str(r) for r in rows[:10]) + ("等" if len(rows) > 10 else "")
        issues.append(Issue("sheet.hidden", Where(file, sheet),
                            f"工作表「{sheet}」第 {listed} 行被隐藏或筛选隐藏，已照常读取；"
                            "如不应报送，请删除这些行", "warning"))
    return issues


def _unreadable(name: str, error: BaseException) -> Issue:
    return Issue("file.unreadable", Where(name),
                 f"无法读取文件（{type(error).__name__}: {error}）；文件可能已损坏或不是 Excel/WPS "
                 f"表格。{guard.RESAVE}")


def _match_sheets(names: Sequence[str], sheets: Sequence[Sheet],
                  file: str) -> tuple[dict[str, str], list[Issue]]:
    """Schema key -> sheet name as found; the Chinese name, the key or an alias all match."""
    found: dict[str, str] = {}
    issues: list[Issue] = []
    for sheet in sheets:
        wanted = {match_key(n) for n in (sheet.name, sheet.key, *sheet.aliases)}
        matches = [n for n in names if match_key(n) in wanted]
        if matches:
            found[sheet.key] = matches[0]
        if len(matches) > 1:
            issues.append(Issue("sheet.duplicate", Where(file, sheet.name),
                                f"工作表「{sheet.name}」出现了{len(matches)}次（"
                                f"{'、'.join(matches)}）；请只保留一个后重新报送"))
    return found, issues


# ---- a filing ----------------------------------------------------------------------------

def read_filing(path: Path, name: str, sha256: str, *, limits: Limits = DEFAULT_LIMITS) -> Filing:
    """A member's filing: its cover (None when missing or unusable; the issues say why) and rows."""
    book = read_workbook(path, FILING_SHEETS, name, limits=limits)
    cover, issues = _cover(book, name)
    rows = {sheet.key: book.rows.get(sheet.key, ()) for sheet in DATA_SHEETS}
    return Filing(name, sha256, cover, rows, book.issues + issues, dict(book.headers))


def _cover(book: Workbook, name: str) -> tuple[Cover | None, tuple[Issue, ...]]:
    if any(i.code.startswith("file.") for i in book.issues):
        return None, ()
    if COVER.key not in book.present:
        return None, (Issue("cover.missing", Where(name, COVER.name),
                            "缺少「封面」工作表，无法确定报送机构和期间；请使用最新模板填报"),)
    labels = book.labels[COVER.key]
    if any(labels.get(k) in (None, "") for k in ("member_id", "period", "kind")):
        return None, ()                            # label.required / cell.* issues say why
    issues = _version_issue(labels.get("template_version"), book.label_where[COVER.key], name)
    cover = Cover(**{c.key: str(labels.get(c.key) or "") for c in COVER.columns})
    return cover, issues


def _version_issue(version: object, where: Mapping[str, Where], name: str) -> tuple[Issue, ...]:
    """Blank means the current version; "1" typed into a number cell is the same as "1.0"."""
    text = str(version or "").strip()
    if not text or text in SUPPORTED_TEMPLATE_VERSIONS or _same_number(text):
        return ()
    spot = where.get("template_version", Where(name, COVER.name))
    supported = "、".join(sorted(SUPPORTED_TEMPLATE_VERSIONS))
    return (Issue("cover.version", spot, f"模板版本「{text}」不受支持（支持：{supported}）；"
                                         "请下载最新模板重新填报"),)


def _same_number(text: str) -> bool:
    try:
        number = Decimal(text)
        return any(number == Decimal(v) for v in SUPPORTED_TEMPLATE_VERSIONS)
    except InvalidOperation:
        return False
