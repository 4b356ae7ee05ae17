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

How far each sheet's cells reach, for `guard`, is `sheetreach`'s question; it reads the same zip
with the public helpers here (`sheet_paths`, `mentions`, `cell_position`, `may_hold_mark`).
"""
from __future__ import annotations

import io
import posixpath
import re
import zipfile
import zlib
from typing import IO, Collection, Iterator
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring, iterparse

Mark = tuple[str, str]                  # ("error", "#N/A") or ("formula", "")
Marks = dict[str, dict[tuple[int, int], Mark]]   # sheet name -> (row, col), 0-based -> mark

_FORMULA = (b"<f>", b"<f ", b"<f/>")
_ERROR = (b' t="e"', b" t='e'")
_XLSX_HINTS = (*_FORMULA, *_ERROR, b":f>", b":f ")
# Each of _XLSX_HINTS holds one of these. A regex finds a short needle about twice as fast as
# `in` does in sheet XML, a single byte ("'") is a memchr (measured).
_HINT_FILTERS = (re.compile(rb"<f"), re.compile(rb":f"), re.compile(rb'"e"'))
_ODS_HINTS = (b":formula=", b'value-type="error"', b"value-type='error'")
ODF_TABLE = "{urn:oasis:names:tc:opendocument:xmlns:table:1.0}"    # ODF namespaces, as
ODF_OFFICE = "{urn:oasis:names:tc:opendocument:xmlns:office:1.0}"  # ElementTree spells tags
_CALCEXT = "{urn:org:documentfoundation:names:experimental:calc:xmlns:calcext:1.0}"
CHUNK_BYTES = 1 << 20                       # how much of a zip member is read at a time
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


def local_name(tag: str) -> str:
    """An ElementTree tag or attribute name without its ``{namespace}``, as prefixes vary."""
    return tag.rsplit("}", 1)[-1]


def mentions(archive: zipfile.ZipFile, member: str | zipfile.ZipInfo,
             needles: tuple[bytes, ...], filters: tuple[bytes, ...] = ()) -> bool:
    """Whether the member holds any needle, streamed in chunks (never inflated whole), with an
    overlap so a needle split across two chunks is still found. ``filters`` (each needle contains
    one) are looked for first: a block holding none of them is passed over in fewer scans."""
    tail = b""
    with archive.open(member) as stream:
        while chunk := stream.read(CHUNK_BYTES):
            block = tail + chunk
            if ((not filters or any(part in block for part in filters))
                    and any(needle in block for needle in needles)):
                return True
            tail = chunk[-32:]
    return False


def may_hold_mark(block: bytes) -> bool:
    """Whether a block of .xlsx sheet XML shows any sign of a formula or an error value: cheap,
    and never False where `scan` would find a mark (so a sheet with no sign need not be scanned)."""
    return b"'" in block or any(f.search(block) for f in _HINT_FILTERS)


def sheet_paths(archive: zipfile.ZipFile) -> dict[str, str]:
    """Sheet name -> path of its XML in the zip, through the workbook relationships."""
    rels = fromstring(archive.read("xl/_rels/workbook.xml.rels"))
    targets = {r.get("Id"): r.get("Target", "") for r in rels.iter()
               if local_name(r.tag) == "Relationship"}
    paths = {}
    for sheet in fromstring(archive.read("xl/workbook.xml")).iter():
        if local_name(sheet.tag) != "sheet":
            continue
        rid = next((v for k, v in sheet.attrib.items() if local_name(k) == "id"), None)
        target = targets.get(rid, "")
        if target:
            paths[sheet.get("name", "")] = (target.lstrip("/") if target.startswith("/")
                                            else posixpath.normpath("xl/" + target))
    return paths


def _scan_xlsx(archive: zipfile.ZipFile, names: Collection[str]) -> Marks:
    marks: Marks = {}
    for name, member in sheet_paths(archive).items():
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
    while chunk := stream.read(CHUNK_BYTES):
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
    return (cell_position(ref), _xlsx_mark(cell)) if ref else None


def cell_position(ref: str) -> tuple[int, int]:
    """"B3" -> (2, 1): the 0-based row and column an A1 reference names."""
    letters = ref.rstrip("0123456789")
    col = 0
    for letter in letters.upper():
        col = col * 26 + ord(letter) - 64
    return int(ref[len(letters):]) - 1, col - 1


def column_letters(number: int) -> str:
    """1 -> A, 27 -> AA, as Excel names columns."""
    letters = ""
    while number > 0:
        number, rest = divmod(number - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def _xlsx_marks(stream: IO[bytes]) -> Iterator[tuple[tuple[int, int], Mark]]:
    row, col, rows_parent = -1, -1, None
    for event, element in iterparse(stream, events=("start", "end")):
        tag = local_name(element.tag)
        if event == "start":
            if tag == "row":
                row, col = int(element.get("r", row + 2)) - 1, -1
            elif tag == "sheetData":
                rows_parent = element
        elif tag == "c":
            ref = element.get("r")
            row, col = cell_position(ref) if ref else (row, col + 1)
            if (mark := _xlsx_mark(element)) is not None:
                yield (row, col), mark
        elif tag == "row" and rows_parent is not None:
            rows_parent.clear()                  # keep memory flat on long sheets


def _xlsx_mark(cell: Element) -> Mark | None:
    children = {local_name(child.tag): child for child in cell}
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
                if tag == ODF_TABLE + "table":
                    name = element.get(ODF_TABLE + "name", "")
                    target = marks.setdefault(name, {}) if name in names else None
                    row = 0
                elif tag == ODF_TABLE + "table-row":
                    col = 0
            elif tag in (ODF_TABLE + "table-cell", ODF_TABLE + "covered-table-cell"):
                repeat = int(element.get(ODF_TABLE + "number-columns-repeated", "1"))
                if target is not None and (mark := _ods_mark(element)) is not None:
                    target.update(((row, col + i), mark) for i in range(min(repeat, 1024)))
                col += repeat
                element.clear()
            elif tag == ODF_TABLE + "table-row":
                row += int(element.get(ODF_TABLE + "number-rows-repeated", "1"))
                element.clear()
    return {name: found for name, found in marks.items() if found}


def _ods_mark(cell: Element) -> Mark | None:
    if cell.get(_CALCEXT + "value-type") == "error":
        return "error", "".join(cell.itertext()).strip()
    if cell.get(ODF_TABLE + "formula") is not None and cell.get(ODF_OFFICE + "value-type") is None:
        return "formula", ""
    return None
