"""One workbook -> typed rows and `Issue`s; never raises on what a member sent.

Every format the contract accepts (.xlsx, .xlsm, .xls, .ods) is read by python-calamine from the
file's bytes, so a .xls renamed to .xlsx still reads -- but only bytes `guard` has passed: a file
too big, not a workbook, encrypted, a zip or XML bomb, or a sheet reaching past the row limit is
one file-level Issue and calamine never sees it. calamine drops leading empty rows and columns;
`sheet.start` gives the offset back, so every `Where` names the row and column Excel shows. What
calamine reads as blank although it is not (error values, formulas without a stored result) comes
from `sheetxml`. Cell conversion lives in `cells`; this module finds sheets, headers and labels,
and turns every problem into an Issue with a stable code listed in `ISSUE_CODES`.

A table's rows are taken from calamine one at a time and converted by a plan made once per sheet
(where each column sits, its converter, how the record is built), so a 300,000-row sheet never
exists as Python lists beside its typed rows.
"""
from __future__ import annotations

import io
import logging
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from itertools import chain, islice
from operator import itemgetter
from pathlib import Path
from typing import Callable, Iterator, Mapping, Sequence

from python_calamine import CalamineWorkbook, PasswordError, SheetVisibleEnum

from . import cells, guard, sheetxml
from .cells import Bad
from .config import Limits
from .model import Cover, Filing, Issue, Row, Where
from .money import normalise_text
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
HEADER_SEARCH_ROWS = 10
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


@dataclass(slots=True)
class _Grid:
    """A sheet's cells with absolute 0-based positions (calamine's `start` added back). Only the
    first rows are held as Python lists (`head`: where a header is looked for; all of a label
    sheet); the `rest` are read once, in order, by `rows_below`."""
    head: list[list[object]]
    rest: Iterator[list[object]]
    top: int
    left: int
    width: int
    marks: Mapping[tuple[int, int], sheetxml.Mark]
    max_chars: int = Limits.max_cell_chars

    def get(self, row: int, col: int) -> object:
        r, c = row - self.top, col - self.left
        if 0 <= r < len(self.head) and 0 <= c < len(self.head[r]):
            return cells.clean(self.head[r][c])
        return ""

    def row_numbers(self) -> range:
        return range(self.top, self.top + len(self.head))

    def rows_below(self, row: int) -> Iterator[tuple[int, list[object]]]:
        """(row, cells) of every row below ``row``: the held ones, then the rest as calamine
        gives them (so this can be asked once)."""
        below = row - self.top + 1
        return enumerate(chain(self.head[below:], self.rest), self.top + below)


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
    book, problem = _open(preflight, name)
    if problem is not None:
        return Workbook(issues=(problem,))
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
            labels[sheet.key], label_where[sheet.key], more = _read_labels(sheet, grid, name)
        else:
            try:
                headers[sheet.key], rows[sheet.key], more = _read_table(sheet, grid, name)
            except _Broken as broken:
                return Workbook(issues=(broken.issue,))
        hidden = _read_hidden(hidden_rows.get(found[sheet.key], ()), sheet, label_where, rows)
        issues.extend((*more, *_hidden(book, found[sheet.key], hidden, name)))
    return Workbook(labels, label_where, rows, headers, frozenset(found), tuple(issues))


def _open(preflight: guard.Preflight, name: str) -> tuple[CalamineWorkbook | None, Issue | None]:
    """calamine on the very bytes the guard passed (sniffed, so a .xls renamed to .xlsx still
    reads), or the one Issue that explains why there is no workbook."""
    if preflight.issue is not None:
        return None, preflight.issue
    try:
        return CalamineWorkbook.from_filelike(io.BytesIO(preflight.data)), None
    except PasswordError:
        return None, Issue("file.encrypted", Where(name), guard.ENCRYPTED)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as error:      # a Rust panic inside calamine arrives as a BaseException
        return None, _unreadable(name, error)


def _grid(book: CalamineWorkbook, sheet_name: str, marks: sheetxml.Marks, limits: Limits,
          name: str, head: int | None) -> _Grid | Issue:
    """The sheet's cells; its size is checked again before Python objects are made of them.
    The first ``head`` rows (None: all) are made now, the rest as they are read."""
    try:
        raw = book.get_sheet_by_name(sheet_name)
        rows, cols = (raw.end[0] + 1, raw.end[1] + 1) if raw.end else (0, 0)
        if (too_far := guard.sheet_too_far(name, sheet_name, rows, cols, limits)) is not None:
            return too_far
        top, left = raw.start or (0, 0)
        lines = islice(raw.iter_rows(), top, None)      # iter_rows starts at row 0, not `start`
        return _Grid(list(islice(lines, head)), _guarded(lines, name), top, left, raw.width,
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


def _normal(text: object) -> str:
    """How headers, labels and sheet names are compared: NFKC, no spaces, no '*', any case."""
    return "".join(normalise_text(cells.display(text)).split()).strip("*").casefold()


def _match_sheets(names: Sequence[str], sheets: Sequence[Sheet],
                  file: str) -> tuple[dict[str, str], list[Issue]]:
    """Schema key -> sheet name as found; the Chinese name, the key or an alias all match."""
    found: dict[str, str] = {}
    issues: list[Issue] = []
    for sheet in sheets:
        wanted = {_normal(n) for n in (sheet.name, sheet.key, *sheet.aliases)}
        matches = [n for n in names if _normal(n) in wanted]
        if matches:
            found[sheet.key] = matches[0]
        if len(matches) > 1:
            issues.append(Issue("sheet.duplicate", Where(file, sheet.name),
                                f"工作表「{sheet.name}」出现了{len(matches)}次（"
                                f"{'、'.join(matches)}）；请只保留一个后重新报送"))
    return found, issues


# ---- one cell ----------------------------------------------------------------------------

def _marked(cell: cells.Cell, mark: sheetxml.Mark) -> cells.Cell:
    """A cell calamine read as blank that is an error value or a formula without a stored result:
    bad whatever it seems to hold (only a text too long says more); an error echoes as #N/A."""
    _typed, shown, bad, _blank = cell
    if bad is None or bad.code != "cell.too_long":
        bad = (Bad("cell.error", f"单元格是错误值 {mark[1]}；请修正公式或改填数值")
               if mark[0] == "error" else
               Bad("cell.formula", "公式没有保存计算结果（文件由程序生成、未经 Excel 计算）；"
                                   "请在 Excel/WPS 中打开并保存，或把公式改为数值"))
    return None, mark[1] or shown, bad, False


def _needed_fields(record: type | None) -> frozenset[str]:
    """Record fields that cannot hold None (a blank 代偿利息 is 0.00); a dict record (reference
    sheets) needs none, so a blank cap stays None: no cap."""
    fields = getattr(record, "__dataclass_fields__", {})
    return frozenset(k for k, f in fields.items() if "None" not in str(f.type))


# ---- label sheets (cover, settings) ------------------------------------------------------

def _read_labels(sheet: Sheet, grid: _Grid,
                 file: str) -> tuple[dict[str, object], dict[str, Where], list[Issue]]:
    """Label in column A, value in column B. A key is missing from the result only when its value
    was bad or a required label was absent, and an issue says so; blanks take the default."""
    rows, issues = _label_rows(sheet, grid, file)
    labels, where = {}, {}
    for column in sheet.columns:
        row = rows.get(column.key)
        if row is None and column.required:
            issues.append(Issue("label.required", Where(file, sheet.name, field=column.header),
                                f"「{sheet.name}」缺少「{column.header}」一行；请按模板在 A 列填写"
                                f"「{column.header}」，B 列填写其内容"))
            continue
        spot = (Where(file, sheet.name, field=column.header) if row is None else
                Where(file, sheet.name, row + 1, "B", column.header))
        cell = cells.convert(column, "" if row is None else grid.get(row, 1), False, grid.max_chars)
        if (mark := grid.marks.get((row, 1))) is not None:         # an absent row has none
            cell = _marked(cell, mark)
        typed, _shown, bad, _blank = cell
        if bad is None:
            labels[column.key], where[column.key] = typed, spot
        else:
            issues.append(Issue(bad.code, spot, bad.message))
    return labels, where, issues


def _label_rows(sheet: Sheet, grid: _Grid, file: str) -> tuple[dict[str, int], list[Issue]]:
    """Key -> the row of its label; unknown labels are the template's notes and are ignored."""
    keys = _header_keys(sheet)
    rows: dict[str, int] = {}
    issues: list[Issue] = []
    for row in grid.row_numbers():
        key = keys.get(_normal(grid.get(row, 0)))
        if key is not None and key in rows:
            issues.append(Issue("label.duplicate", Where(file, sheet.name, row + 1, "A"),
                                f"「{sheet.column(key).header}」出现两次（第{rows[key] + 1}行和"
                                f"第{row + 1}行），无法判断以哪一行为准；请删除多余的一行"))
        elif key is not None:
            rows[key] = row
    return rows, issues


# ---- table sheets ------------------------------------------------------------------------

def _header_keys(sheet: Sheet) -> dict[str, str]:
    keys = {_normal(c.key): c.key for c in sheet.columns}
    keys.update({_normal(c.header): c.key for c in sheet.columns})
    return keys


def _find_header(sheet: Sheet, grid: _Grid) -> int | None:
    """The first of the first rows holding at least half the required headers (a title row above
    the header, or a blank first row, is common in members' own copies of the template)."""
    keys = _header_keys(sheet)
    required = {c.key for c in sheet.columns if c.required}
    for row in grid.row_numbers()[:HEADER_SEARCH_ROWS]:
        seen = {keys.get(_normal(v)) for v in grid.head[row - grid.top]}
        hits = len(seen & required) if required else len(seen - {None})
        if hits and hits * 2 >= max(len(required), 1):
            return row
    return None


def _letter(col: int) -> str:
    return sheetxml.column_letters(col + 1)


def _layout(sheet: Sheet, grid: _Grid, header: int,
            file: str) -> tuple[dict[str, int], tuple[str, ...], list[Issue]]:
    """Column key -> 0-based column, the headers as found, and header issues."""
    keys = _header_keys(sheet)
    positions: dict[str, int] = {}
    found: list[str] = []
    issues: list[Issue] = []
    for col in range(grid.left, grid.left + grid.width):
        text = cells.display(grid.get(header, col))
        if not text:
            continue
        found.append(text)
        key, spot = keys.get(_normal(text)), Where(file, sheet.name, header + 1, _letter(col), text)
        if key is None:
            issues.append(Issue("header.extra", spot, f"「{text}」不是模板中的列，已忽略", "warning"))
        elif key in positions:
            issues.append(Issue("header.duplicate", spot,
                                f"「{sheet.column(key).header}」列出现两次（{_letter(positions[key])}"
                                f"列和{_letter(col)}列），无法判断以哪列为准，本表数据未读取；请删除多余的一列"))
        else:
            positions[key] = col
    for column in sheet.columns:
        if column.required and column.key not in positions:
            spot = Where(file, sheet.name, header + 1, "", column.header)
            issues.append(Issue("header.missing", spot,
                                f"缺少必填列「{column.header}」，本表数据未读取；请按模板补上该列"))
    return positions, tuple(found), issues


def _read_table(sheet: Sheet, grid: _Grid,
                file: str) -> tuple[tuple[str, ...], tuple[Row, ...], list[Issue]]:
    """Headers as found, data rows below the header, and the sheet's header issues."""
    if not grid.head:
        return (), (), []                              # an absent or empty sheet is a nil return
    header = _find_header(sheet, grid)
    if header is None:
        names = "、".join(c.header for c in sheet.columns if c.required)
        return (), (), [Issue("header.notfound", Where(file, sheet.name),
                              f"前{HEADER_SEARCH_ROWS}行中找不到表头，本表数据未读取；表头应包含：{names}")]
    positions, headers, issues = _layout(sheet, grid, header, file)
    if any(i.is_error for i in issues):
        return headers, (), issues
    plan = _plan(sheet, grid, positions, file)
    marked = {r for r, _c in grid.marks}
    rows = (_read_row(plan, r, line, grid.marks if r in marked else None)
            for r, line in grid.rows_below(header))
    return headers, tuple(row for row in rows if row is not None), issues


@dataclass(frozen=True, slots=True)
class _Plan:
    """How every data row of one table is read, resolved once for the sheet."""
    file: str
    sheet: str
    layout: Mapping[str, tuple[str, str]]             # key -> (column letter, header), for Where
    keys: tuple[str, ...]
    pick: Callable[[list[object]], tuple[object, ...]]    # the row's cells at their spots (the
                                      # index in calamine's row; its width for an absent column)
    places: tuple[int, ...]           # the absolute column, for marks; -1 for an absent column
    memos: tuple[dict[object, cells.Cell], ...]          # each column's cells.converter, in steps
    shortcuts: tuple[Callable[[object], cells.Cell | None], ...]
    converters: tuple[Callable[[object], cells.Cell], ...]
    build: Callable[[Where, tuple[object, ...]], object] | None     # the record from typed values


def _plan(sheet: Sheet, grid: _Grid, positions: Mapping[str, int], file: str) -> _Plan:
    """Where each column sits, how it converts and how the record is made: asked once per sheet,
    not once per cell (an absent optional column reads the "" every row gets at its end)."""
    layout = {c.key: (_letter(positions[c.key]) if c.key in positions else "", c.header)
              for c in sheet.columns}
    needed = _needed_fields(sheet.record)
    memos, shortcuts, converters = zip(*(cells.converter(c, c.key in needed, grid.max_chars)
                                         for c in sheet.columns))
    keys = tuple(c.key for c in sheet.columns)
    places = tuple(positions.get(key, -1) for key in keys)
    spots = tuple(p - grid.left if p >= 0 else grid.width for p in places)
    pick = itemgetter(*spots) if len(spots) > 1 else lambda line: (line[spots[0]],)
    return _Plan(file, sheet.name, layout, keys, pick, places, memos, shortcuts, converters,
                 _builder(sheet.record, keys))


def _builder(record: type | None,
             keys: tuple[str, ...]) -> Callable[[Where, tuple[object, ...]], object] | None:
    """How typed values become the row's record: ``record(where=..., **values)``; positionally when
    the record's fields are where and the columns in order (the data sheets: a third faster)."""
    if record is None:
        return None
    if tuple(getattr(record, "__dataclass_fields__", ())) == ("where", *keys):
        return lambda where, typed: record(where, *typed)
    return lambda where, typed: record(where=where, **dict(zip(keys, typed)))


def _read_row(plan: _Plan, row: int, line: list[object],
              marks: Mapping[tuple[int, int], sheetxml.Mark] | None) -> Row | None:
    """One data row; None when every schema cell is blank (blank rows are skipped). ``marks`` only
    when the row has some."""
    line.append("")                                     # what an absent column reads (its spot)
    values = plan.pick(line)
    read = [cell if cell is not None else shortcut(value) or convert(value)
            for cell, shortcut, convert, value
            in zip(map(dict.get, plan.memos, values), plan.shortcuts, plan.converters, values)]
    if marks:
        read = [cell if (mark := marks.get((row, place))) is None else _marked(cell, mark)
                for cell, place in zip(read, plan.places)]
    typed, shown, bad, blank = zip(*read)
    if all(blank):
        return None
    where = Where(plan.file, plan.sheet, row + 1, "", "", plan.layout)     # positional: faster
    if not any(bad):
        return Row(where, shown, plan.build(where, typed) if plan.build else None)
    issues = tuple(Issue(b.code, where.at(key), b.message)
                   for key, b in zip(plan.keys, bad) if b is not None)
    return Row(where, shown, None, issues)


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
