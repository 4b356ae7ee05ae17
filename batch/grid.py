"""One sheet's cells -> its label values (cover, settings) or its table's typed rows, with Issues.

`read` opens the workbook and hands each sheet over as a `Grid`; this module finds the header or
the labels and converts every cell (through `cells`), so each problem becomes an Issue at the row
and column Excel shows. A cell calamine read as blank although it is an error value or a formula
without a stored result (`sheetxml` marks) is reported, never taken as blank.

A table's rows are taken from calamine one at a time and converted by a plan made once per sheet
(where each column sits, its converter, how the record is built), so a 300,000-row sheet never
exists as Python lists beside its typed rows.
"""
from __future__ import annotations

from dataclasses import dataclass
from itertools import chain
from operator import itemgetter
from typing import Callable, Iterator, Mapping

from . import cells, sheetxml
from .cells import Bad
from .model import Issue, Record, Row, Where, any_error
from .money import normalise_text
from .schema import Sheet

HEADER_SEARCH_ROWS = 10                 # a table's header is looked for in its first rows


@dataclass(slots=True)
class Grid:
    """A sheet's cells with absolute 0-based positions (calamine's `start` added back). Only the
    first rows are held as Python lists (`head`: where a header is looked for; all of a label
    sheet); the `rest` are read once, in order, by `rows_below`."""
    head: list[list[object]]
    rest: Iterator[list[object]]
    top: int
    left: int
    width: int
    marks: Mapping[tuple[int, int], sheetxml.Mark]
    max_chars: int                      # the longest text a cell may hold (Limits.max_cell_chars)

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


def match_key(text: object) -> str:
    """How headers, labels and sheet names are compared: NFKC, no spaces, no '*', any case."""
    return "".join(normalise_text(cells.display(text)).split()).strip("*").casefold()


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

def read_labels(sheet: Sheet, grid: Grid,
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
        if row is not None and (mark := grid.marks.get((row, 1))) is not None:
            cell = _marked(cell, mark)
        typed, _shown, bad, _blank = cell
        if bad is None:
            labels[column.key], where[column.key] = typed, spot
        else:
            issues.append(Issue(bad.code, spot, bad.message))
    return labels, where, issues


def _label_rows(sheet: Sheet, grid: Grid, file: str) -> tuple[dict[str, int], list[Issue]]:
    """Key -> the row of its label; unknown labels are the template's notes and are ignored."""
    keys = _header_keys(sheet)
    rows: dict[str, int] = {}
    issues: list[Issue] = []
    for row in grid.row_numbers():
        key = keys.get(match_key(grid.get(row, 0)))
        if key is not None and key in rows:
            issues.append(Issue("label.duplicate", Where(file, sheet.name, row + 1, "A"),
                                f"「{sheet.column(key).header}」出现两次（第{rows[key] + 1}行和"
                                f"第{row + 1}行），无法判断以哪一行为准；请删除多余的一行"))
        elif key is not None:
            rows[key] = row
    return rows, issues


# ---- table sheets ------------------------------------------------------------------------

def _header_keys(sheet: Sheet) -> dict[str, str]:
    keys = {match_key(c.key): c.key for c in sheet.columns}
    keys.update({match_key(c.header): c.key for c in sheet.columns})
    return keys


def _find_header(sheet: Sheet, grid: Grid) -> int | None:
    """The first of the first rows holding at least half the required headers (a title row above
    the header, or a blank first row, is common in members' own copies of the template)."""
    keys = _header_keys(sheet)
    required = {c.key for c in sheet.columns if c.required}
    for row in grid.row_numbers()[:HEADER_SEARCH_ROWS]:
        seen = {keys.get(match_key(v)) for v in grid.head[row - grid.top]}
        hits = len(seen & required) if required else len(seen - {None})
        if hits and hits * 2 >= max(len(required), 1):
            return row
    return None


def _letter(col: int) -> str:
    return sheetxml.column_letters(col + 1)


def _layout(sheet: Sheet, grid: Grid, header: int,
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
        key = keys.get(match_key(text))
        spot = Where(file, sheet.name, header + 1, _letter(col), text)
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


def read_table(sheet: Sheet, grid: Grid,
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
    if any_error(issues):
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
    build: Callable[[Where, tuple[object, ...]], Record] | None     # the record from typed values


def _plan(sheet: Sheet, grid: Grid, positions: Mapping[str, int], file: str) -> _Plan:
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


def _builder(record: Callable[..., Record] | None,
             keys: tuple[str, ...]) -> Callable[[Where, tuple[object, ...]], Record] | None:
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
