"""Cells calamine reads as blank although they are not: error values and formulas with no result.

python-calamine returns '' both for an empty cell, for an error value (#N/A, #DIV/0!) and for a
formula whose result was never stored (files written by openpyxl and other libraries that have no
calculation engine). Taking those as blank would silently turn a broken 代偿利息 into 0.00, so the
reader asks this module where they are.

- .xlsx/.xlsm: the sheet XML is streamed from the zip in blocks of whole rows. C-speed byte search
  finds each ``<f>`` and ``t="e"``; only the cell around a hit is parsed (defusedxml). A sheet of
  plain values costs one inflate and a few ``bytes.find`` passes (~0.2 s for 50,000 rows of 16
  columns); a full defusedxml iterparse measured 5 s for the same sheet, so it is kept only as the
  fallback for sheets this shortcut cannot follow (namespace prefixes, cells without ``r``).
- .ods: a byte search of content.xml for ``:formula=`` / ``value-type="error"`` first; only a file
  with one is parsed whole with iterparse (slower, ~6 µs a cell, but .ods filings are rare).
  Repeated columns are expanded; a mark inside a repeated row is recorded for its first row only.
- .xls (BIFF): not scanned. A BIFF formula always stores its result, so "no cached value" cannot
  occur, but an error value reads as blank there: a required cell is reported as 未填写, an optional
  one takes its default. Saving the file as .xlsx avoids that.

Anything unexpected in the XML makes the scan return nothing: calamine has already read the values,
and the scan can only add findings, never lose data.

`extents` answers a different question, for `guard`, before calamine opens the file: how far each
sheet's cells reach (calamine builds a dense grid up to the farthest one) and which rows are hidden.
There, what cannot be followed is an error, never an empty answer. `survey` reads each worksheet of
an .xlsx once for all that guard and `scan` need to know first: DTD declarations, the quick extent,
and whether the sheet can hold a mark at all (most cannot: `scan` then never opens it).
"""
from __future__ import annotations

import io
import posixpath
import re
import zipfile
import zlib
from dataclasses import dataclass, field
from typing import IO, Collection, Iterator
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring, iterparse

Mark = tuple[str, str]                  # ("error", "#N/A") or ("formula", "")
Marks = dict[str, dict[tuple[int, int], Mark]]   # sheet name -> (row, col), 0-based -> mark

_FORMULA = (b"<f>", b"<f ", b"<f/>")
_ERROR = (b' t="e"', b" t='e'")
_XLSX_HINTS = (*_FORMULA, *_ERROR, b":f>", b":f ")
DTD = (b"<!DOCTYPE", b"<!ENTITY", b"<!doctype", b"<!entity")   # no OOXML or ODF part has one
DTD_FILTER = (b"!",)                        # one byte, found by memchr; rare in a sheet's XML
# Each of _XLSX_HINTS holds one of these. A regex finds a short needle about twice as fast as
# `in` does in sheet XML, a single byte ("'") is a memchr (measured).
_HINT_FILTERS = (re.compile(rb"<f"), re.compile(rb":f"), re.compile(rb'"e"'))
_ODS_HINTS = (b":formula=", b'value-type="error"', b"value-type='error'")
_TABLE = "{urn:oasis:names:tc:opendocument:xmlns:table:1.0}"
_OFFICE = "{urn:oasis:names:tc:opendocument:xmlns:office:1.0}"
_CALCEXT = "{urn:org:documentfoundation:names:experimental:calc:xmlns:calcext:1.0}"
_CHUNK = 1 << 20
_FAILURES = (zipfile.BadZipFile, KeyError, ValueError, ParseError, DefusedXmlException, OSError,
             EOFError, zlib.error, RuntimeError)


def scan(data: bytes, names: Collection[str]) -> Marks:
    """Marks per sheet (only the sheets named) for a workbook's bytes; {} for .xls or on trouble."""
    if not names or not data.startswith(b"PK"):
        return {}
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = set(archive.namelist())
            if "xl/workbook.xml" in members:
                return _scan_xlsx(archive, names)
            if "content.xml" in members:
                return _scan_ods(archive, names)
    except _FAILURES:
        pass
    return {}


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def mentions(archive: zipfile.ZipFile, member: str | zipfile.ZipInfo,
             needles: tuple[bytes, ...], filters: tuple[bytes, ...] = ()) -> bool:
    """Whether the member holds any needle, streamed in chunks (never inflated whole), with an
    overlap so a needle split across two chunks is still found. ``filters`` (each needle contains
    one) are looked for first: a block holding none of them is passed over in fewer scans."""
    tail = b""
    with archive.open(member) as stream:
        while chunk := stream.read(_CHUNK):
            block = tail + chunk
            if ((not filters or any(part in block for part in filters))
                    and any(needle in block for needle in needles)):
                return True
            tail = chunk[-32:]
    return False


def _sheet_paths(archive: zipfile.ZipFile) -> dict[str, str]:
    """Sheet name -> path of its XML in the zip, through the workbook relationships."""
    rels = fromstring(archive.read("xl/_rels/workbook.xml.rels"))
    targets = {r.get("Id"): r.get("Target", "") for r in rels.iter()
               if _local(r.tag) == "Relationship"}
    paths = {}
    for sheet in fromstring(archive.read("xl/workbook.xml")).iter():
        if _local(sheet.tag) != "sheet":
            continue
        rid = next((v for k, v in sheet.attrib.items() if _local(k) == "id"), None)
        target = targets.get(rid, "")
        if target:
            paths[sheet.get("name", "")] = (target.lstrip("/") if target.startswith("/")
                                            else posixpath.normpath("xl/" + target))
    return paths


def _scan_xlsx(archive: zipfile.ZipFile, names: Collection[str]) -> Marks:
    marks: Marks = {}
    for name, member in _sheet_paths(archive).items():
        if name in names and mentions(archive, member, _XLSX_HINTS):
            with archive.open(member) as stream:
                found = _xlsx_quick(stream)
            if found is None:
                with archive.open(member) as stream:
                    found = dict(_xlsx_marks(stream))
            marks[name] = found
    return marks


def _row_blocks(stream: IO[bytes]) -> Iterator[bytes]:
    """The sheet XML in blocks that end after a ``</row>``, so no cell is cut in two."""
    carry = b""
    while chunk := stream.read(_CHUNK):
        block = carry + chunk
        cut = block.rfind(b"</row>")
        if cut < 0:
            carry = block
            continue
        yield block[:cut + 6]
        carry = block[cut + 6:]
    yield carry


def _xlsx_quick(stream: IO[bytes]) -> dict[tuple[int, int], Mark] | None:
    """Marks found by byte search; None when the XML is not the plain shape this relies on."""
    marks: dict[tuple[int, int], Mark] = {}
    for number, block in enumerate(_row_blocks(stream)):
        if number == 0 and b"<sheetData" not in block:
            return None                             # prefixed namespace: use the full parser
        for needle in (*_FORMULA, *_ERROR):
            at = block.find(needle)
            while at >= 0:
                found = _cell_around(block, at)
                if found is None:
                    return None                     # a cell without "r": use the full parser
                if found[1] is not None:
                    marks[found[0]] = found[1]
                at = block.find(needle, at + 1)
    return marks


def _cell_around(block: bytes, at: int) -> tuple[tuple[int, int], Mark | None] | None:
    """The cell whose XML contains offset ``at``, parsed on its own; None if there is none."""
    start = block.rfind(b"<c ", 0, at)
    if start < 0:
        return None
    head_end = block.find(b">", start)
    end = head_end + 1 if block[head_end - 1:head_end] == b"/" else block.find(b"</c>", start) + 4
    if not start < at < end:
        return None
    try:
        cell = fromstring(block[start:end])
    except (ParseError, DefusedXmlException):
        return None
    ref = cell.get("r")
    return (_cell_ref(ref), _xlsx_mark(cell)) if ref else None


def _cell_ref(ref: str) -> tuple[int, int]:
    letters = ref.rstrip("0123456789")
    col = 0
    for letter in letters.upper():
        col = col * 26 + ord(letter) - 64
    return int(ref[len(letters):]) - 1, col - 1


def _xlsx_marks(stream: IO[bytes]) -> Iterator[tuple[tuple[int, int], Mark]]:
    row, col, rows_parent = -1, -1, None
    for event, element in iterparse(stream, events=("start", "end")):
        tag = _local(element.tag)
        if event == "start":
            if tag == "row":
                row, col = int(element.get("r", row + 2)) - 1, -1
            elif tag == "sheetData":
                rows_parent = element
        elif tag == "c":
            ref = element.get("r")
            row, col = _cell_ref(ref) if ref else (row, col + 1)
            if (mark := _xlsx_mark(element)) is not None:
                yield (row, col), mark
        elif tag == "row" and rows_parent is not None:
            rows_parent.clear()                  # keep memory flat on long sheets


def _xlsx_mark(cell: Element) -> Mark | None:
    children = {_local(child.tag): child for child in cell}
    value = children.get("v")
    if cell.get("t") == "e":
        return "error", (value.text or "").strip() if value is not None else ""
    if "f" not in children:
        return None
    if value is None or (not value.text and cell.get("t") != "str"):  # t="str": result is ""
        return "formula", ""
    return None


def _scan_ods(archive: zipfile.ZipFile, names: Collection[str]) -> Marks:
    if not mentions(archive, "content.xml", _ODS_HINTS):
        return {}
    marks: Marks = {}
    target: dict[tuple[int, int], Mark] | None = None
    row = col = 0
    with archive.open("content.xml") as stream:
        for event, element in iterparse(stream, events=("start", "end")):
            tag = element.tag
            if event == "start":
                if tag == _TABLE + "table":
                    name = element.get(_TABLE + "name", "")
                    target = marks.setdefault(name, {}) if name in names else None
                    row = 0
                elif tag == _TABLE + "table-row":
                    col = 0
            elif tag in (_TABLE + "table-cell", _TABLE + "covered-table-cell"):
                repeat = int(element.get(_TABLE + "number-columns-repeated", "1"))
                if target is not None and (mark := _ods_mark(element)) is not None:
                    target.update(((row, col + i), mark) for i in range(min(repeat, 1024)))
                col += repeat
                element.clear()
            elif tag == _TABLE + "table-row":
                row += int(element.get(_TABLE + "number-rows-repeated", "1"))
                element.clear()
    return {name: found for name, found in marks.items() if found}


def _ods_mark(cell: Element) -> Mark | None:
    if cell.get(_CALCEXT + "value-type") == "error":
        return "error", "".join(cell.itertext()).strip()
    if cell.get(_TABLE + "formula") is not None and cell.get(_OFFICE + "value-type") is None:
        return "formula", ""
    return None


# ---- how far the cells reach (for guard) ---------------------------------------------------

Extent = tuple[int, int, tuple[int, ...]]   # rows, columns reached (1-based), hidden rows
Extents = dict[str, Extent]                 # sheet name -> extent
MAX_HIDDEN = 1000                           # hidden row numbers kept per sheet

_ATTRIBUTE = rb'\s++(?!r=)[\w:.-]++="[^"]*+"'   # possessive: nothing here ever backtracks
_REF = rb'[A-Z]{1,3}[0-9]{1,7}'
# A cell start tag, well-formed and double-quoted only: the reference of a filled cell, b"" for an
# empty (self-closing) one.
_CELL_TAG = re.compile(rb'<c(?:%s)*+\s++r="(?:(%s)"(?:%s)*+\s*+>|%s"(?:%s)*+\s*+/>)'
                       % (_ATTRIBUTE, _REF, _ATTRIBUTE, _REF, _ATTRIBUTE))
# The same for the spelling every writer uses (r first, single spaces, only s and t after it), a
# third faster. It reads a subset of _CELL_TAG's tags, the same way, so when it reads every start
# tag of a block, _CELL_TAG would have read the same ones.
_PLAIN_CELL_TAG = re.compile(rb'<c r="(?:(%s)"(?: [st]="[^"]*+")*+>|%s"(?: [st]="[^"]*+")*+/>)'
                             % (_REF, _REF))
_CELL_STARTS = (b"<c ", b"<c\t", b"<c\n", b"<c\r", b"<c>", b"<c/>")
_ODD_START = re.compile(rb"<c[\t\n\r>/]")          # any start but the usual "<c "
_DIGITS, _LETTERS = b"0123456789", b"ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_HIDDEN_ROW = re.compile(rb'<row\s[^>]*?\bhidden="(?:1|true)"[^>]*>')
_ROW_REF = re.compile(rb'\br="([0-9]{1,7})"')
_HIDDEN = re.compile(rb"hidden=")
_PREFIXED = re.compile(rb':(?:c|row)[\s/>]')
_ODS_CELLS = (_TABLE + "table-cell", _TABLE + "covered-table-cell")


def column_letters(number: int) -> str:
    """1 -> A, 27 -> AA, as Excel names columns."""
    letters = ""
    while number > 0:
        number, rest = divmod(number - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def _column_number(letters: bytes) -> int:
    number = 0
    for letter in letters:
        number = number * 26 + letter - 64
    return number


@dataclass(frozen=True, slots=True)
class Survey:
    """What one streamed pass over each worksheet of an .xlsx found, before any parser saw it.
    A sheet the pass could not read to its end is in none of these: it is read the long way."""
    paths: dict[str, str] = field(default_factory=dict)            # sheet -> its XML's member
    dtd: dict[zipfile.ZipInfo, bool] = field(default_factory=dict)  # part -> declares a DTD
    quick: dict[str, Extent | None] = field(default_factory=dict)  # sheet -> extent; None: parse
    plain: frozenset[str] = frozenset()         # sheets with no formula and no error value at all


def survey(archive: zipfile.ZipFile) -> Survey:
    """Each worksheet streamed once for its DTD declarations, its quick extent and any sign of a
    mark. Never raises: what it cannot follow (a workbook part defusedxml refuses, a broken
    stream) it leaves out, and the checks that do raise meet it in their usual order."""
    members = set(archive.namelist())
    dtd, quick, plain = {}, {}, set()
    try:
        paths = _sheet_paths(archive) if "xl/workbook.xml" in members else {}
    except Exception:  # noqa: BLE001 -- left to `extents`, after every part's DTD check
        paths = {}
    for name, member in paths.items():
        found = _survey_sheet(archive, member) if member in members else None
        if found is not None:
            dtd[archive.getinfo(member)], quick[name], hinted = found
            if not hinted:
                plain.add(name)
    return Survey(paths, dtd, quick, frozenset(plain))


def _survey_sheet(archive: zipfile.ZipFile,
                  member: str) -> tuple[bool, Extent | None, bool] | None:
    """(declares a DTD, quick extent, may hold a mark), or None when it cannot be read through."""
    reach, dtd, hinted = _Reading(), False, False
    try:
        with archive.open(member) as stream:
            for block in _tag_blocks(stream):               # no needle holds a '>' but at its end
                if block is None:
                    return None
                dtd = dtd or (b"!" in block and any(needle in block for needle in DTD))
                hinted = hinted or b"'" in block or any(f.search(block) for f in _HINT_FILTERS)
                reach.add(block)
    except Exception:  # noqa: BLE001 -- read again, the long way, where it raises in order
        return None
    return dtd, reach.extent(), hinted


def extents(archive: zipfile.ZipFile, surveyed: Survey | None = None) -> Extents:
    """How far each sheet's non-empty cells reach and which of its rows are hidden, from the XML.

    xlsx: what `survey` found by C-speed regex over the start tags (~0.3 s for 800,000 cells); a
    sheet it cannot vouch for (a cell without ``r``, prefixed names) is parsed with defusedxml.
    ods: parsed (~2 µs an element). Raises on XML that cannot be followed."""
    members = set(archive.namelist())
    if "xl/workbook.xml" in members:
        surveyed = survey(archive) if surveyed is None else surveyed
        quick = surveyed.quick
        return {name: _xlsx_extent(archive, path, quick[name] if name in quick else
                                   _xlsx_quick_extent(archive, path))
                for name, path in (surveyed.paths or _sheet_paths(archive)).items()
                if path in members}
    if "content.xml" in members:
        with archive.open("content.xml") as stream:
            return _ods_extents(stream)
    return {}


def _xlsx_extent(archive: zipfile.ZipFile, member: str, quick: Extent | None) -> Extent:
    if quick is not None:
        return quick
    with archive.open(member) as stream:
        return _xlsx_full_extent(stream)


def _tag_blocks(stream: IO[bytes]) -> Iterator[bytes | None]:
    """The XML in blocks cut just after a '>', so no start tag is cut in two; None when a block
    has no tag end at all (a giant text or tag): the caller parses instead."""
    carry = b""
    while chunk := stream.read(_CHUNK):
        block = carry + chunk
        cut = block.rfind(b">") + 1
        if not cut and len(block) > 4 * _CHUNK:
            yield None
            return
        yield block[:cut]
        carry = block[cut:]
    yield carry


def _xlsx_quick_extent(archive: zipfile.ZipFile, member: str) -> Extent | None:
    reach = _Reading()
    with archive.open(member) as stream:
        for block in _tag_blocks(stream):
            if block is None:
                return None
            reach.add(block)
    return reach.extent()


@dataclass(slots=True)
class _Reading:
    """One sheet's quick extent, block by block. It gives up (`extent` is None) unless every cell
    start tag in the sheet is one the strict pattern read whole: any other spelling (no ``r``,
    single quotes, a prefix) sends the sheet to the full parser."""
    rows: int = 0
    letters: set[bytes] = field(default_factory=set)
    hidden: list[int] = field(default_factory=list)
    lost: bool = False

    def add(self, block: bytes) -> None:
        if self.lost or _PREFIXED.search(block):
            self.lost = True
            return
        starts = _cell_starts(block)
        refs = _PLAIN_CELL_TAG.findall(block)
        if len(refs) != starts:
            refs = _CELL_TAG.findall(block)
        if len(refs) != starts:
            self.lost = True
            return
        filled = b" ".join(refs)                    # the empty cells' b"" are only more spaces
        rows = filled.translate(None, _LETTERS).split()
        self.rows = max(self.rows, max(map(int, set(rows)), default=0))
        self.letters.update(filled.translate(None, _DIGITS).split())
        if _HIDDEN.search(block):
            refs = (_ROW_REF.search(match.group()) for match in _HIDDEN_ROW.finditer(block))
            room = MAX_HIDDEN - len(self.hidden)
            self.hidden += [int(ref.group(1)) for ref in refs if ref][:room]

    def extent(self) -> Extent | None:
        if self.lost:
            return None
        return self.rows, max(map(_column_number, self.letters), default=0), tuple(self.hidden)


def _cell_starts(block: bytes) -> int:
    if _ODD_START.search(block) is None:              # one count instead of six, nearly always
        return block.count(b"<c ")
    return sum(block.count(start) for start in _CELL_STARTS)


def _xlsx_full_extent(stream: IO[bytes]) -> Extent:
    """The same answer by calamine's own rules: a cell without ``r`` is the next one along."""
    rows = cols = row = col = 0
    hidden: list[int] = []
    rows_parent = None
    for event, element in iterparse(stream, events=("start", "end")):
        tag = _local(element.tag)
        if event == "start" and tag == "row":
            row, col = int(element.get("r", row + 1)), 0
            if element.get("hidden") in ("1", "true") and len(hidden) < MAX_HIDDEN:
                hidden.append(row)
        elif event == "start" and tag == "sheetData":
            rows_parent = element
        elif event == "end" and tag == "c":
            ref = element.get("r")
            if ref:
                row, col = (n + 1 for n in _cell_ref(ref))
            else:
                col += 1
            if len(element):
                rows, cols = max(rows, row), max(cols, col)
            element.clear()
        elif event == "end" and tag == "row" and rows_parent is not None:
            rows_parent.clear()
    return rows, cols, tuple(hidden)


@dataclass(slots=True)
class _Reach:
    """One ods table being walked: repeats expanded, only cells holding something count."""
    rows: int = 0
    cols: int = 0
    row: int = 0
    col: int = 0
    filled: int = 0
    hidden: list[int] = field(default_factory=list)

    def cell(self, element: Element) -> None:
        repeat = _repeat(element, "number-columns-repeated")
        if (element.get(_OFFICE + "value-type") or element.get(_TABLE + "formula")
                or len(element)):
            self.filled = self.col + repeat
        self.col += repeat

    def end_row(self, element: Element) -> None:
        repeat = _repeat(element, "number-rows-repeated")
        if self.filled:
            self.rows, self.cols = self.row + repeat, max(self.cols, self.filled)
            if element.get(_TABLE + "visibility", "visible") != "visible":
                room = max(MAX_HIDDEN - len(self.hidden), 0)
                self.hidden += range(self.row + 1, self.row + 1 + min(repeat, room))
        self.row += repeat
        self.col = self.filled = 0

    def extent(self) -> Extent:
        return self.rows, self.cols, tuple(self.hidden)


def _repeat(element: Element, attribute: str) -> int:
    return max(int(element.get(_TABLE + attribute, "1")), 1)


def _ods_extents(stream: IO[bytes]) -> Extents:
    found: Extents = {}
    reach, name, stack = _Reach(), "", []
    for event, element in iterparse(stream, events=("start", "end")):
        if event == "start":
            stack.append(element)
            if element.tag == _TABLE + "table":
                reach, name = _Reach(), element.get(_TABLE + "name", "")
            continue
        stack.pop()
        if element.tag in _ODS_CELLS:
            reach.cell(element)
            element.clear()
        elif element.tag == _TABLE + "table-row":
            reach.end_row(element)
            if stack:
                stack[-1].remove(element)        # keep memory flat on long tables
        elif element.tag == _TABLE + "table":
            found[name] = reach.extent()
            element.clear()
    return found
