"""Workbook plumbing every report shares: atomic writes, formats, typed cells, sized columns.

Every cell goes through ``Grid`` so that money is written as a number in exactly one place, text is
always ``write_string`` (never a formula or a link, whatever the member typed), dates are real dates
and each column remembers how wide its widest cell is (CJK characters count double).
"""
from __future__ import annotations

import os
import unicodedata
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Generic, Iterator, Protocol, Sequence, TypeVar

import xlsxwriter

if TYPE_CHECKING:
    from .fastxlsx import FastBook

OPTIONS = {"strings_to_formulas": False, "strings_to_urls": False, "strings_to_numbers": False,
           "remove_timezone": True}

MONEY = "#,##0.00"
DATE = "yyyy-mm-dd"
DATETIME = "yyyy-mm-dd hh:mm:ss"
PERCENT = "0.00%"
TEXT = "@"
YES, NO = "是", "否"
TOTAL_LABEL = "合计"

STYLES: dict[str, dict[str, object]] = {
    "header": {"bold": True, "bg_color": "#DDEBF7", "border": 1, "text_wrap": True,
               "valign": "vcenter"},
    "required": {"font_color": "#C00000"},
    "title": {"bold": True, "font_size": 14},
    "bold": {"bold": True},
    "label": {"bold": True, "bg_color": "#F2F2F2"},
    "total": {"bold": True, "top": 1, "bg_color": "#F2F2F2"},
    "rejected": {"bg_color": "#FCE4D6"},
    "error": {"bg_color": "#FF9999", "font_color": "#9C0006", "bold": True},
    "warning": {"bg_color": "#FFF2CC"},
    "good": {"font_color": "#006100"},
    "bad": {"font_color": "#9C0006", "bold": True},
    "wrap": {"text_wrap": True, "valign": "top"},
    "money": {"num_format": MONEY},
    "date": {"num_format": DATE},
    "datetime": {"num_format": DATETIME},
    "percent": {"num_format": PERCENT},
    "number": {"num_format": "0.00"},
    "int": {"num_format": "0"},
    "text": {"num_format": TEXT},
}
MIN_WIDTH, MAX_WIDTH = 6, 60


def display_width(text: str) -> int:
    """Columns a string needs on screen: wide (CJK, full-width) characters count two."""
    if text.isascii():                   # no wide character: skip the per-character lookup
        return len(text)
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def text_width(text: str) -> int:
    """Columns a cell's text needs: its widest line."""
    if "\n" not in text:
        return display_width(text)
    return max(display_width(line) for line in text.split("\n"))


def as_text(value: object) -> str:
    """How a value reads as text in a cell (enums by value, None as blank)."""
    if value is None:
        return ""
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, bool):
        return YES if value else NO
    return str(value)


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A temporary name beside ``path``; renamed onto it only if the block finishes."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


class Book:
    """An xlsxwriter workbook with named, cached, combinable formats."""

    def __init__(self, filename: Path) -> None:
        self.workbook = xlsxwriter.Workbook(str(filename), OPTIONS)
        self._formats: dict[tuple[str, ...], object] = {}

    def fmt(self, *styles: str):
        key = tuple(s for s in styles if s)
        if key not in self._formats:
            merged: dict[str, object] = {}
            for name in key:
                merged.update(STYLES[name])
            self._formats[key] = self.workbook.add_format(merged) if merged else None
        return self._formats[key]

    def sheet(self, name: str) -> "Grid":
        """A new sheet that prints as finance reads it: landscape, one page wide."""
        ws = self.workbook.add_worksheet(name)
        ws.set_landscape()
        ws.set_paper(9)                      # A4
        ws.fit_to_pages(1, 0)
        return Grid(self, ws)


@contextmanager
def atomic_workbook(path: Path) -> Iterator[Book]:
    """Build a workbook under a temporary name in the same folder, then rename it into place."""
    with atomic_path(path) as tmp:
        book = Book(tmp)
        try:
            yield book
        except BaseException:
            book.workbook.fileclosed = True     # nothing half-built is ever written
            raise
        book.workbook.close()


@contextmanager
def atomic_fast_workbook(path: Path, preset: Sequence[tuple[str, ...]] = ()) -> Iterator["FastBook"]:
    """The same for a bulk workbook written by the streamed writer (``fastxlsx``); ``preset``
    style combinations take the first style numbers, in order."""
    from .fastxlsx import FastBook
    with atomic_path(path) as tmp:
        book = FastBook(tmp)
        for key in preset:
            book.fmt(*key)
        try:
            yield book
        except BaseException:
            book.discard()
            raise
        book.close()


Style = TypeVar("Style")                    # a cell format: xlsxwriter's Format, or a style number
Style_co = TypeVar("Style_co", covariant=True)


class Formats(Protocol[Style_co]):
    """A grid's book as ``TypedCells`` uses it: ``fmt`` gives the format ``put_*`` take."""

    def fmt(self, *styles: str) -> Style_co: ...


class TypedCells(Generic[Style]):
    """What both grids share: the typed cell writers (each grid supplies ``put_number``,
    ``put_date``, ``blank`` and ``fit``), the dispatch from a column kind to them, and how wide a
    number or a date shows (for column sizing)."""

    if TYPE_CHECKING:                       # supplied by each grid (``Style``: its book's formats)
        book: Formats[Style]
        def fit(self, col: int, text: str, pad: int = 2) -> None: ...
        def text(self, row: int, col: int, value: object, *styles: str) -> None: ...
        def blank(self, row: int, col: int, *styles: str) -> None: ...
        def put_number(self, row: int, col: int, value: Decimal | int, fmt: Style, /) -> None: ...
        def put_date(self, row: int, col: int, value: date, fmt: Style, /) -> None: ...

    def fit_number(self, col: int, value: Decimal | int, kind: str) -> None:
        shown = {"percent": f"{float(value):.2%}", "int": str(value)}.get(kind)  # float ok
        self.fit(col, shown if shown is not None else f"{float(value):,.2f}")  # float ok

    def fit_day(self, col: int, kind: str) -> None:
        self.fit(col, "0000-00-00 00:00:00" if kind == "datetime" else "0000-00-00")

    def money(self, row: int, col: int, amount: Decimal | None, *styles: str) -> None:
        if amount is None:
            self.blank(row, col, "money", *styles)
            return
        self.put_number(row, col, amount, self.book.fmt("money", *styles))
        self.fit(col, f"{amount:,.2f}")

    def number(self, row: int, col: int, value: Decimal | int | None, *styles: str,
               kind: str = "number") -> None:
        """A ratio (kind 'percent'), a count ('int') or a plain figure ('number')."""
        if value is None:
            self.blank(row, col, kind, *styles)
            return
        self.put_number(row, col, value, self.book.fmt(kind, *styles))
        self.fit_number(col, value, kind)

    def day(self, row: int, col: int, value: date | None, *styles: str) -> None:
        if value is None:
            self.blank(row, col, "date", *styles)
            return
        kind = "datetime" if isinstance(value, datetime) else "date"
        self.put_date(row, col, value, self.book.fmt(kind, *styles))
        self.fit_day(col, kind)

    def cell(self, row: int, col: int, kind: str, value: object, *styles: str) -> None:
        """Write ``value`` as a cell of ``kind``: text, money, date, int, number, percent."""
        if kind == "money":
            self.money(row, col, value, *styles)  # type: ignore[arg-type]
        elif kind in ("int", "number", "percent"):
            self.number(row, col, value, *styles, kind=kind)  # type: ignore[arg-type]
        elif kind == "date":
            self.day(row, col, value, *styles)  # type: ignore[arg-type]
        else:
            self.text(row, col, value, *styles)


class GridLike(Protocol):
    """The calls a report's sheet makes, whichever writer it has: ``Grid`` (xlsxwriter) or
    ``fastxlsx.FastGrid`` (the streamed one)."""

    def title(self, row: int, col: int, text: str) -> None: ...
    def text(self, row: int, col: int, value: object, *styles: str) -> None: ...
    def blank(self, row: int, col: int, *styles: str) -> None: ...
    def cell(self, row: int, col: int, kind: str, value: object, *styles: str) -> None: ...
    def header(self, row: int, headers: Sequence[str], *styles: str, col: int = 0) -> None: ...
    def finish(self, *, header_row: int | None = 0, ncols: int = 0, last_row: int | None = None,
               freeze_cols: int = 0, widths: dict[int, int] | None = None) -> None: ...


class Grid(TypedCells[object]):
    """One worksheet: typed cell writers that also track each column's width."""

    book: Book

    def __init__(self, book: Book, ws) -> None:
        self.book = book
        self.ws = ws
        self.widths: dict[int, int] = {}

    def fit(self, col: int, text: str, pad: int = 2) -> None:
        self.widths[col] = max(self.widths.get(col, 0), text_width(text) + pad)

    def text(self, row: int, col: int, value: object, *styles: str) -> None:
        text = as_text(value)
        self.ws.write_string(row, col, text, self.book.fmt(*styles))
        self.fit(col, text)

    def title(self, row: int, col: int, text: str) -> None:
        """A heading that may run over the cells beside it: not counted in the column's width."""
        self.ws.write_string(row, col, text, self.book.fmt("title"))

    def put_number(self, row: int, col: int, value: Decimal | int, fmt) -> None:
        self.ws.write_number(row, col, float(value), fmt)  # float ok: xlsxwriter's cell value

    def put_date(self, row: int, col: int, value: date, fmt) -> None:
        self.ws.write_datetime(row, col, value, fmt)

    def blank(self, row: int, col: int, *styles: str) -> None:
        self.ws.write_blank(row, col, None, self.book.fmt(*styles))

    def comment(self, row: int, col: int, text: str) -> None:
        self.ws.write_comment(row, col, text, {"author": "省再担保", "x_scale": 2, "y_scale": 1.5})

    def header(self, row: int, headers: Sequence[str], *styles: str, col: int = 0) -> None:
        for i, title in enumerate(headers):
            self.ws.write_string(row, col + i, title, self.book.fmt("header", *styles))
            self.fit(col + i, title, pad=4)         # room for the filter button

    def finish(self, *, header_row: int | None = 0, ncols: int = 0, last_row: int | None = None,
               freeze_cols: int = 0, widths: dict[int, int] | None = None) -> None:
        """Size the columns; freeze the header and put a filter on the table below it."""
        for col, width in sorted({**self.widths, **(widths or {})}.items()):
            self.ws.set_column(col, col, min(max(width, MIN_WIDTH), MAX_WIDTH))
        if header_row is None:
            return
        self.ws.freeze_panes(header_row + 1, freeze_cols)
        if ncols:
            bottom = header_row if last_row is None else max(last_row, header_row)
            self.ws.autofilter(header_row, 0, bottom, ncols - 1)


@dataclass(frozen=True, slots=True)
class Col:
    """A report column: its Chinese header and the kind of its cells."""
    header: str
    kind: str = "text"          # text, money, date, int, number, percent
    total: bool | None = None   # summed in the 合计 row; default: money and int columns


def column_sum(rows: Sequence[Sequence[object]], index: int) -> Decimal | int:
    # A summed column holds money or counts (its ``Col.kind``), which the rows' type cannot say.
    values: list[Decimal | int] = [r[index] for r in rows if r[index] is not None]  # type: ignore[misc]
    return sum(values, Decimal("0.00") if any(isinstance(v, Decimal) for v in values) else 0)


def write_table(grid: GridLike, cols: Sequence[Col], rows: Sequence[Sequence[object]], *,
                top: int = 0, total: bool = False, freeze_cols: int = 0, frame: bool = True,
                row_styles: Sequence[Sequence[str]] | None = None) -> int:
    """A header, its rows and (optionally) a 合计 row computed in Python; returns the next row.

    ``frame`` freezes the header, filters the table and sizes the columns: the sheet's one table.
    A sheet with several small tables passes False and calls ``grid.finish(header_row=None)``."""
    grid.header(top, [c.header for c in cols])
    for r, values in enumerate(rows, start=top + 1):
        styles = row_styles[r - top - 1] if row_styles else ()
        for c, (col, value) in enumerate(zip(cols, values)):
            grid.cell(r, c, col.kind, value, *styles)
    last = top + len(rows)
    if total:
        _total_row(grid, cols, rows, last + 1)
    if frame:
        grid.finish(header_row=top, ncols=len(cols), last_row=last, freeze_cols=freeze_cols)
    return last + (2 if total else 1)


def _total_row(grid: GridLike, cols: Sequence[Col], rows: Sequence[Sequence[object]],
               r: int) -> None:
    for c, col in enumerate(cols):
        summed = col.total if col.total is not None else col.kind in ("money", "int")
        if c == 0:
            grid.text(r, 0, TOTAL_LABEL, "total")
        elif summed:
            grid.cell(r, c, col.kind, column_sum(rows, c), "total")
        else:
            grid.blank(r, c, "total")


def write_pairs(grid: GridLike, pairs: Sequence[tuple[str, str, object]], *, top: int = 0,
                col: int = 0) -> int:
    """Label / value lines (label bold in ``col``, typed value beside it); returns the next row."""
    for r, (label, kind, value) in enumerate(pairs, start=top):
        grid.text(r, col, label, "label")
        grid.cell(r, col + 1, kind, value)
    return top + len(pairs)
