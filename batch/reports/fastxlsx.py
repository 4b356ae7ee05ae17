"""A small streamed SpreadsheetML writer for the bulk sheets (receipts' rows, the posting detail).

xlsxwriter spends ~270 µs of Python per 25-cell row (3,500–3,800 rows/s on this machine), which
capped a night at that rate; this writer renders the rows' XML a chunk at a time (a few µs a
row) and streams it to a temporary file. It writes only what our bulk sheets need: inline strings,
numbers, dates, a fixed vocabulary of styles (the same ``STYLES`` names as ``xlsx``), frozen
panes, an autofilter, column widths and cell comments (with their VML shapes, which Excel needs
to show them). The part layout mirrors xlsxwriter's output (constant_memory mode: inline
strings), so Excel, WPS and LibreOffice open the files as they open xlsxwriter's. A sheet's rows
are deflated as they are written (``deflated``) and only copied into the zip on ``close``; rows
rendered in another process (``render_rows``) arrive already deflated and are copied as they are.

``FastBook``/``FastGrid`` have the same calls as ``xlsx.Book``/``xlsx.Grid``, so a report is
written by either; rows must arrive in ascending order (cells within a row in any order). The bulk
rows go through ``typed_rows``/``render_rows`` instead, which render a chunk of rows column by
column: a column's kind is resolved once per chunk, its distinct texts searched for characters
to escape in one pass, and only the texts that could be its widest are measured; then a row
function compiled for the chunk's shape and the row's styles builds each row
in one f-string (`rowfuncs.py`).
"""
from __future__ import annotations

import re
import tempfile
import zipfile
from datetime import date, datetime
from decimal import Decimal
from itertools import count, islice
from operator import call, itemgetter
from pathlib import Path
from typing import Iterable, Iterator, Sequence, SupportsFloat

from .xlsx import MAX_WIDTH, MIN_WIDTH, STYLES, TypedCells, as_text, text_width
from . import deflated, fastxml
from .rowfuncs import BLANK, EITHER, VALUE, row_function

EPOCH = datetime(1899, 12, 30)
EPOCH_ORDINAL = EPOCH.toordinal()
EXACT_INT = 2 ** 53                 # ints a float holds exactly: ``%.16G`` prints them as ``str``
EXCEL_MAX_CHARS = 32767
CHUNK_ROWS = 1000                   # rows rendered together: pays for the set-up, keeps memory flat
_NEEDS_ESCAPE = re.compile('[&<>\x00-\x08\x0b-\x1f\ud800-\udfff\ufffe\uffff]|_x[0-9a-fA-F]{4}_')
_EDGE = " \t\n"                     # a text starting or ending with one keeps it: xml:space
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f]")
_LONE = re.compile("[\ud800-\udfff\ufffe\uffff]")


def column_letter(col: int) -> str:
    letters, col = "", col + 1
    while col:
        col, rest = divmod(col - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


LETTERS = [column_letter(i) for i in range(16384)]


def escape(text: str) -> str:
    """Text as XML character data, with Excel's _xHHHH_ escapes for control characters."""
    if len(text) > EXCEL_MAX_CHARS:
        text = text[:EXCEL_MAX_CHARS]
    if not _NEEDS_ESCAPE.search(text):
        return text
    text = re.sub(r"(_x[0-9a-fA-F]{4}_)", r"_x005F\1", text)
    text = _CONTROL.sub(lambda m: f"_x{ord(m.group(0)):04X}_", text)
    text = _LONE.sub("\ufffd", text)
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def serial(value: date) -> float:
    """An Excel date serial number (1900 system)."""
    if isinstance(value, datetime):
        delta = value.replace(tzinfo=None) - EPOCH
        return delta.days + delta.seconds / 86400 + delta.microseconds / 86400e6
    return float((value - EPOCH.date()).days)  # float ok: an Excel date serial, not money


def number_text(value: SupportsFloat) -> str:
    """A number as xlsxwriter writes it (``%.16G``), so every reader sees the same cell."""
    return f"{float(value):.16G}"  # float ok: a cell value, exact to 15 digits


def col_width(width: float) -> float:
    """xlsxwriter's conversion of a character width to the stored <col width>."""
    pixels = int(width * 7 + 0.5) + 5 if width >= 1 else int(width * 12 + 0.5)
    return int(pixels / 7 * 256) / 256


class FastBook:
    """A workbook whose sheets stream, deflated, to temporary files and are zipped on ``close``."""

    def __init__(self, filename: Path) -> None:
        self.filename = Path(filename)
        self.sheets: list[FastGrid] = []
        self.styles = fastxml.StyleTable(STYLES)
        self.vml_block = 1                   # the next free block of 1,024 note shape ids

    def fmt(self, *styles: str) -> int:
        return self.styles.xf(tuple(s for s in styles if s))

    def sheet(self, name: str) -> "FastGrid":
        grid = FastGrid(self, name, len(self.sheets))
        self.sheets.append(grid)
        return grid

    def close(self) -> None:
        with zipfile.ZipFile(self.filename, "w", zipfile.ZIP_DEFLATED,
                             compresslevel=deflated.LEVEL) as z:
            for grid in self.sheets:
                grid.flush()
            fastxml.write_package(z, self.sheets, self.styles)
            for grid in self.sheets:
                grid.write_parts(z)
        self.sheets.clear()     # a sheet points back at its book: no cycle left for the collector

    def discard(self) -> None:
        for grid in self.sheets:
            grid.body.close()
        self.sheets.clear()     # a sheet points back at its book: no cycle left for the collector


def render_rows(path: Path, first_row: int, kinds: Sequence[str],
                rows: Iterable[tuple[Sequence[object], Sequence[int]]]) -> dict[int, int]:
    """Rows (values, style ids) rendered as sheet XML from ``first_row`` on and deflated to
    ``path`` (``deflated.write_part``), for a sheet assembled later with ``FastGrid.adopt``:
    the process that renders them compresses them too. Returns the columns' widths."""
    widths: dict[int, int] = {}
    deflated.write_part(path, (xml.encode("utf-8")
                               for _last, xml in rendered(first_row, kinds, rows, widths)))
    return widths


def rendered(first_row: int, kinds: Sequence[str],
             rows: Iterable[tuple[Sequence[object], Sequence[int]]],
             widths: dict[int, int]) -> Iterator[tuple[int, str]]:
    """Rows (values, style ids; one of each per kind) from sheet row ``first_row`` on, as sheet
    XML a chunk at a time with the chunk's last row; ``widths`` grows to fit them."""
    source = iter(rows)
    while chunk := list(islice(source, CHUNK_ROWS)):
        yield first_row + len(chunk) - 1, _chunk_xml(first_row, kinds, chunk, widths)
        first_row += len(chunk)


def _chunk_xml(first_row: int, kinds: Sequence[str],
               chunk: list[tuple[Sequence[object], Sequence[int]]], widths: dict[int, int]) -> str:
    """A chunk of rows, rendered column by column, then joined row by row by a compiled row
    function (`rowfuncs.row_function`) for each distinct row of styles in the chunk."""
    numbers = [str(n) for n in range(first_row + 1, first_row + len(chunk) + 1)]
    row_styles = [styles for _, styles in chunk]
    shape, args = [], [numbers]
    for col, kind, values in zip(count(), kinds, zip(*(values for values, _ in chunk))):
        texts, value_open, value_close, width = COLUMN_KINDS.get(kind, _number_column)(values)
        if width is not None and width + 2 > widths.get(col, 0):
            widths[col] = width + 2
        filled = VALUE if all(texts) else BLANK if not any(texts) else EITHER
        shape.append((LETTERS[col], value_open, value_close, filled))
        if filled != BLANK:
            args.append(texts)
    functions = {key: row_function(tuple(shape), tuple(styles))
                 for key, styles in {id(s): s for s in row_styles}.items()}
    return "".join(map(call, map(functions.__getitem__, map(id, row_styles)), *args))


# A column's kind renders its values to (each cell's value text, "" for a blank; what opens a
# value; what closes it; the width of the widest value, None if all are blank).
ColumnValues = tuple[list[str], str, str, int | None]


def _text_column(values: Sequence[object]) -> ColumnValues:
    """Texts as inline strings: escaped, and kept as typed (xml:space) where they start or end
    with white space. Each distinct text is checked once, and only if the column's texts together
    have a character that could need it."""
    texts = [v if v.__class__ is str else as_text(v) for v in values]
    distinct = set(texts)
    distinct.discard("")
    joined = "".join(distinct)
    if _maybe_escaped(joined):
        escaped = {t: escape(t) for t in distinct if _NEEDS_ESCAPE.search(t)}
        texts = [escaped.get(t, t) for t in texts]
        distinct = {escaped.get(t, t) for t in distinct}
        joined = "".join(distinct)
    width = _widest(distinct, joined)
    spaced = ({t for t in distinct if t[0] in _EDGE or t[-1] in _EDGE}
              if " " in joined or "\t" in joined or "\n" in joined else ())
    if not spaced:
        return texts, ' t="inlineStr"><is><t>', "</t></is></c>", width
    texts = [(' xml:space="preserve">' if t in spaced else ">") + t if t else t for t in texts]
    return texts, ' t="inlineStr"><is><t', "</t></is></c>", width


def _maybe_escaped(text: str) -> bool:
    """Whether `escape` might change some of ``text``: it has "&", "<", ">", "_x" (an "_xHHHH_"
    is escaped too) or a character that is not printable (every control character, lone
    surrogate and non-character is not; tab and newline are not either, and need nothing). Twice
    as fast as searching it for those characters."""
    return (not text.isprintable() or "&" in text or "<" in text or ">" in text
            or "_x" in text)


def _number_column(values: Sequence[object]) -> ColumnValues:
    """Money and figures (``_number``, its common cases first)."""
    return _numbers(values, [str(v) if v.__class__ is Decimal else "" if v is None else _number(v)
                             for v in values])


def _int_column(values: Sequence[object]) -> ColumnValues:
    """Counts and row numbers (``_number``; an int a float holds exactly prints as itself)."""
    return _numbers(values, [str(v) if v.__class__ is int and -EXACT_INT < v < EXACT_INT else
                             _number(v) for v in values])


def _number(value: object) -> str:
    """A number cell's value: a Decimal as it prints (exact), anything else as ``number_text``;
    "" for a blank."""
    if value.__class__ is Decimal:
        return str(value)
    # Else a number: the column's kind says so, which the rows' type cannot.
    return "" if value is None or value == "" else number_text(value)  # type: ignore[arg-type]


def _numbers(values: Sequence[object], texts: list[str]) -> ColumnValues:
    """A number column's cells, with room for thousands commas in its width."""
    if "E" in "".join(texts):             # a Decimal printed with an exponent: as a float instead
        # v is a number ("E" is only in a number's text), which the rows' type cannot say.
        texts = [number_text(v) if "E" in t else t for v, t in zip(values, texts)]  # type: ignore[arg-type]
    longest = max(map(len, texts), default=0)
    return texts, "><v>", "</v></c>", longest + longest // 3 + 1 if longest else None


def _date_column(values: Sequence[object]) -> ColumnValues:
    """Dates as Excel serial numbers, ten characters wide (yyyy-mm-dd)."""
    # Else a datetime (or another date): the column's kind says so, which the rows' type cannot.
    texts = [str(v.toordinal() - EPOCH_ORDINAL) if v.__class__ is date else
             "" if v is None or v == "" else number_text(serial(v)) for v in values]  # type: ignore[arg-type]
    return texts, "><v>", "</v></c>", 10 if any(texts) else None


COLUMN_KINDS = {"text": _text_column, "date": _date_column, "int": _int_column}  # else a number


def _widest(distinct: set[str], joined: str) -> int | None:
    """The width (``text_width``) of the widest of the ``distinct`` texts (none empty; ``joined``
    is them joined), None if there are none. A text is at most as wide as its length plus its
    non-ASCII characters: only texts whose bound beats the widest measured so far are measured."""
    if not distinct:
        return None
    if joined.isascii() and "\n" not in joined:
        return max(map(len, distinct))
    bounds = sorted(((2 * len(t) - len(t.encode("ascii", "ignore")), t) for t in distinct),
                    key=itemgetter(0), reverse=True)
    best = -1
    for bound, text in bounds:
        if bound <= best:
            break
        best = max(best, text_width(text))
    return best


class FastGrid(TypedCells[int]):
    """One sheet: typed cell writers that buffer the current row and track column widths."""

    book: FastBook

    def __init__(self, book: FastBook, name: str, index: int) -> None:
        self.book, self.name, self.index = book, name, index
        self.body = deflated.Deflated(tempfile.TemporaryFile())
        self.widths: dict[int, int] = {}
        self.row_at = -1
        self.cells: dict[int, str] = {}
        self.chunks: list[str] = []
        self.max_row = self.max_col = -1
        self.comments: list[tuple[int, int, str]] = []
        self.frozen: tuple[int, int] | None = None
        self.filter: tuple[int, int, int, int] | None = None
        self.col_widths: dict[int, float] = {}

    # ---- rows ------------------------------------------------------------------------------

    def _put(self, row: int, col: int, xml: str) -> None:
        if row != self.row_at:
            if row < self.row_at:
                raise ValueError(f"{self.name}: row {row + 1} written after row {self.row_at + 1}")
            self._end_row()
            self.row_at = row
        self.cells[col] = xml
        if col > self.max_col:
            self.max_col = col

    def _end_row(self) -> None:
        if self.cells:
            cells = self.cells
            body = "".join(cells[c] for c in sorted(cells)) if len(cells) > 1 else \
                next(iter(cells.values()))
            self.chunks.append(f'<row r="{self.row_at + 1}">{body}</row>')
            self.max_row = self.row_at
            self.cells = {}
            if len(self.chunks) >= 512:
                self.flush_chunks()

    def flush_chunks(self) -> None:
        self.body.write("".join(self.chunks).encode("utf-8"))
        self.chunks = []

    def flush(self) -> None:
        self._end_row()
        self.flush_chunks()

    def adopt(self, part: Path, last_row: int, last_col: int, widths: dict[int, int]) -> None:
        """Rows rendered elsewhere (a worker's ``render_rows`` file), appended still deflated."""
        self._end_row()
        self.flush_chunks()
        self.body.append(part)
        self.row_at = self.max_row = max(self.max_row, last_row)
        self.max_col = max(self.max_col, last_col)
        for col, width in widths.items():
            if width > self.widths.get(col, 0):
                self.widths[col] = width

    def typed_rows(self, first_row: int, kinds: Sequence[str],
                   rows: Iterable[tuple[Sequence[object], Sequence[int]]]) -> None:
        """Whole rows from ``first_row`` on, each (values, style ids from ``book.fmt``) with one
        of each per kind (text, money, date, int, number): the bulk sheets' fast path, a few
        hundred nanoseconds a cell against ~10 µs through the per-cell calls."""
        if first_row <= self.row_at:
            raise ValueError(f"{self.name}: row {first_row + 1} written after "
                             f"row {self.row_at + 1}")
        self.flush()
        for last, xml in rendered(first_row, kinds, rows, self.widths):
            self.body.write(xml.encode("utf-8"))
            self.row_at = self.max_row = last
            self.max_col = max(self.max_col, len(kinds) - 1)

    # ---- cells (the same calls as xlsx.Grid) -------------------------------------------------

    def fit(self, col: int, text: str, pad: int = 2) -> None:
        known = self.widths.get(col, 0)
        if len(text) * 2 + pad > known:          # else it cannot be wider: skip measuring
            self.widths[col] = max(known, text_width(text) + pad)

    def string_xml(self, row: int, col: int, text: str, style: int) -> str:
        s = f' s="{style}"' if style else ""
        if not text:
            return f'<c r="{LETTERS[col]}{row + 1}"{s}/>' if style else ""
        space = ' xml:space="preserve"' if text[0].isspace() or text[-1].isspace() else ""
        return f'<c r="{LETTERS[col]}{row + 1}"{s} t="inlineStr"><is><t{space}>{escape(text)}</t></is></c>'

    def number_xml(self, row: int, col: int, value: Decimal | float, style: int) -> str:
        s = f' s="{style}"' if style else ""
        return f'<c r="{LETTERS[col]}{row + 1}"{s}><v>{number_text(value)}</v></c>'

    def text(self, row: int, col: int, value: object, *styles: str) -> None:
        text = as_text(value)
        xml = self.string_xml(row, col, text, self.book.fmt(*styles))
        if xml:
            self._put(row, col, xml)
        self.fit(col, text)

    def title(self, row: int, col: int, text: str) -> None:
        self._put(row, col, self.string_xml(row, col, text, self.book.fmt("title")))

    def put_number(self, row: int, col: int, value: Decimal | int, style: int) -> None:
        self._put(row, col, self.number_xml(row, col, value, style))

    def put_date(self, row: int, col: int, value: date, style: int) -> None:
        self._put(row, col, self.number_xml(row, col, serial(value), style))

    def blank(self, row: int, col: int, *styles: str) -> None:
        style = self.book.fmt(*styles)
        if style:
            self._put(row, col, f'<c r="{LETTERS[col]}{row + 1}" s="{style}"/>')

    def header(self, row: int, headers: Sequence[str], *styles: str, col: int = 0) -> None:
        style = self.book.fmt("header", *styles)
        for i, title in enumerate(headers):
            self._put(row, col + i, self.string_xml(row, col + i, title, style))
            self.fit(col + i, title, pad=4)

    def comment(self, row: int, col: int, text: str) -> None:
        self.comments.append((row, col, text))

    def finish(self, *, header_row: int | None = 0, ncols: int = 0, last_row: int | None = None,
               freeze_cols: int = 0, widths: dict[int, int] | None = None) -> None:
        for col, width in sorted({**self.widths, **(widths or {})}.items()):
            self.col_widths[col] = min(max(width, MIN_WIDTH), MAX_WIDTH)
        if header_row is None:
            return
        self.frozen = (header_row + 1, freeze_cols)
        if ncols:
            bottom = header_row if last_row is None else max(last_row, header_row)
            self.filter = (header_row, 0, bottom, ncols - 1)

    # ---- the sheet's parts -------------------------------------------------------------------

    def write_parts(self, z: zipfile.ZipFile) -> None:
        n = self.index + 1
        head, tail = fastxml.sheet_frame(self)
        deflated.write_member(z, f"xl/worksheets/sheet{n}.xml", head.encode("utf-8"), self.body,
                              tail.encode("utf-8"))
        self.body.close()
        if self.comments:
            self.book.vml_block = fastxml.write_comments(z, self, n, self.book.vml_block)
