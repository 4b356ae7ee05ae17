"""Pre-flight: what a file really is, and whether it is safe to hand to a parser, before one runs.

calamine (Rust) reads whatever it is given in full, and for .xls and .ods it expands every sheet
into a dense grid the moment the file is opened: a 5 KB .xls with one value in A1 and one in
IV65536 costs 1 GB of memory, and so does a 5 KB .xlsx with a cell at Z1048576 once its sheet is
loaded (measured). So the reader asks this module first, and a file it refuses is never opened:

- size: a file over ``limits.max_file_bytes`` is refused from its directory entry, never read;
- the real format from the first bytes, whatever the extension says: zip (xlsx/xlsm/ods), OLE2
  (xls, or an encrypted OOXML package), PDF, a web page, anything else;
- zip: the central directory, read with ``zipfile`` and nothing extracted: encrypted members, the
  sum of the declared uncompressed sizes (``max_unzipped_bytes``) and each large part's ratio
  (``max_compression_ratio``). calamine's zip reader stops at a part's declared size ("File is
  larger than its declared uncompressed size"; tests/test_hostile.py), and so does ``zipfile``,
  so the declared sizes bound what any parser unpacks;
- every XML part, streamed within those bounds, for ``<!DOCTYPE``/``<!ENTITY``. No OOXML or ODF
  part ever carries a DTD: one in a filing is an attack (billion laughs, external entities) and
  the file is refused with ``file.xml_entity``, whichever parser would have met it;
- how far each sheet's cells reach (``sheetreach.extents``; BIFF cell records for .xls): a sheet
  beyond ``max_rows`` rows, or ``max_rows × CELLS_PER_ROW`` cells of used range, is refused with
  ``file.too_many_rows``. A sheet's ``<dimension>`` is only a claim: calamine allocates nothing
  from it (tested), so a false one is harmless and ignored; the cells decide.

An .xlsx worksheet is inflated once for both the DTD check and its extent (``sheetreach.survey``),
which also finds the sheets that hold no formula and no error value: the reader never scans those.

An .xls that is really a web page (what many banking and ERP systems export as "Excel") is refused
with ``file.html`` and asked to be re-saved as .xlsx. Reading its table would mean parsing
untrusted HTML and guessing each cell's type from display text -- dates, amounts with units,
identity numbers shown as 3.7E+17 -- exactly the guessing the contract forbids; opening it in
Excel or WPS and saving as .xlsx takes the member a minute and yields typed cells.
"""
from __future__ import annotations

import io
import struct
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from . import sheetreach, sheetxml
from .config import Limits
from .model import Issue, Where

RESAVE = "请用 Excel 或 WPS 打开后另存为 .xlsx 格式，再重新报送"
ENCRYPTED = "文件设置了打开密码，无法读取；请取消密码（文件 → 信息 → 保护工作簿）后重新报送"
GUARD_CODES: dict[str, str] = {
    "file.too_large": "文件超过大小上限",
    "file.html": "文件实为网页（HTML）导出，不是 Excel 工作簿",
    "file.zip_bomb": "文件解压后过大或压缩比异常（疑似压缩炸弹）",
    "file.xml_entity": "文件中含有 XML 实体或 DTD 声明（正常表格文件不会有）",
    "file.too_many_rows": "工作表的行数或使用范围超过上限",
}
OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
MAX_PARTS = 10_000              # a workbook has tens of parts; a directory of millions is an attack
RATIO_FLOOR = 1 << 20           # a part smaller than this unpacked is harmless whatever its ratio
CELLS_PER_ROW = 32              # used range allowed: max_rows × this many cells
_XML_PARTS = (".xml", ".rels", ".vml")
_ZIP_FAILURES = (zipfile.BadZipFile, zipfile.LargeZipFile, KeyError, OSError, EOFError,
                 zlib.error, NotImplementedError, RuntimeError, ValueError)


@dataclass(frozen=True, slots=True)
class Preflight:
    """The file's bytes, each sheet's hidden rows and the sheets that hold no formula or error
    value (`sheetxml.scan` need not look at them), or the one Issue that says why not to open."""
    data: bytes = b""
    issue: Issue | None = None
    hidden_rows: dict[str, tuple[int, ...]] = field(default_factory=dict)
    plain: frozenset[str] = frozenset()


def inspect(path: Path, name: str, limits: Limits) -> Preflight:
    """Look before anything parses: size, real format, zip and XML bombs, the sheets' reach."""
    try:
        data = _bounded_read(path, limits.max_file_bytes)
    except OSError as error:
        return Preflight(issue=unreadable(name, f"{type(error).__name__}: {error}"))
    if data is None:
        return Preflight(issue=refuse("file.too_large", name,
                                      f"文件超过大小上限 {_mb(limits.max_file_bytes)}；请删除无关的"
                                      "工作表、图片后重新报送，或分成多个文件报送"))
    try:
        issue, reach, plain = _examine(data, name, limits)
    except Exception as error:  # noqa: BLE001 -- a structure too broken to follow is no workbook
        return Preflight(data, unreadable(name, f"{type(error).__name__}: {error}"))
    issue = issue or _too_far(reach, name, limits)
    return Preflight(data, issue, {sheet: ext[2] for sheet, ext in reach.items() if ext[2]}, plain)


def _bounded_read(path: Path, limit: int) -> bytes | None:
    """The file's bytes, or None when it is over ``limit``: judged by its size first, and never
    more than limit + 1 bytes read, whatever the size said (a file still growing)."""
    if path.stat().st_size > limit:
        return None
    with path.open("rb") as handle:
        data = handle.read(limit + 1)
    return None if len(data) > limit else data


def refuse(code: str, name: str, message: str) -> Issue:
    return Issue(code, Where(name), message)


def unreadable(name: str, why: str) -> Issue:
    return Issue("file.unreadable", Where(name),
                 f"无法读取文件（{why}）；文件可能已损坏或不是 Excel/WPS 表格。{RESAVE}")


def encrypted(name: str) -> Issue:
    return Issue("file.encrypted", Where(name), ENCRYPTED)


def sheet_too_far(name: str, sheet: str, rows: int, cols: int, limits: Limits) -> Issue | None:
    """``file.too_many_rows`` when a sheet reaches past the row limit or the used-range limit."""
    cells = limits.max_rows * CELLS_PER_ROW
    if rows <= limits.max_rows and rows * cols <= cells:
        return None
    reach = f"工作表「{sheet}」有内容的单元格延伸到 {sheetxml.column_letters(max(cols, 1))}{rows}"
    over = (f"共 {rows:,} 行，超过每表 {limits.max_rows:,} 行的上限" if rows > limits.max_rows else
            f"使用范围 {rows:,} 行 × {cols:,} 列，超过 {cells:,} 个单元格的上限")
    return refuse("file.too_many_rows", name,
                  f"{reach}，{over}；请删除表格下方或右侧误填的单元格后重新报送，"
                  "数据确实很多时请分成多个文件报送")


def _mb(size: int) -> str:
    return f"{size / (1 << 20):,.1f} MB"


def _too_far(reach: sheetreach.Extents, name: str, limits: Limits) -> Issue | None:
    for sheet, (rows, cols, _hidden) in reach.items():
        if (issue := sheet_too_far(name, sheet, rows, cols, limits)) is not None:
            return issue
    return None


# ---- the real format ---------------------------------------------------------------------

def sniff(data: bytes) -> str:
    """zip, ole2, pdf, html, xml2003, empty or other: from the bytes, never the extension."""
    if not data:
        return "empty"
    if data.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return "zip"
    if data.startswith(OLE2):
        return "ole2"
    if b"%PDF-" in data[:1024]:
        return "pdf"
    head = _text_head(data)
    if "urn:schemas-microsoft-com:office:spreadsheet" in head:
        return "xml2003"
    if any(mark in head for mark in ("<html", "<!doctype html", "<table", "<body", "<meta ",
                                     "mime-version:", "content-type: text/html")):
        return "html"
    return "other"


def _text_head(data: bytes) -> str:
    head = data[:4096]
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return head.decode("utf-16", "ignore").lower()
    return head.decode("utf-8", "ignore").lower()


_NOT_WORKBOOK = {
    "empty": "文件是空的（0 字节），可能上传或拷贝时中断",
    "pdf": "这是 PDF 文件，不是表格",
    "xml2003": "这是「XML 电子表格 2003」格式，不是 Excel 工作簿",
    "other": "文件内容不是 Excel/WPS/ODS 工作簿（可能是文本、CSV 或其他文件改了扩展名）",
}


def _examine(data: bytes, name: str,
             limits: Limits) -> tuple[Issue | None, sheetreach.Extents, frozenset[str]]:
    """The one Issue or None, how far each sheet reaches, and the sheets known to hold no mark."""
    kind = sniff(data)
    if kind == "zip":
        return _zip(data, name, limits)
    if kind == "ole2":
        return *_ole2(data, name), frozenset()
    if kind == "html":
        return refuse("file.html", name,
                      "文件实际是网页（HTML）格式，只是扩展名为 .xls（很多系统这样“导出 Excel”）；"
                      f"其中的日期、金额和证件号码无法可靠识别。{RESAVE}"), {}, frozenset()
    return unreadable(name, _NOT_WORKBOOK[kind]), {}, frozenset()


# ---- zip packages: xlsx, xlsm, ods -------------------------------------------------------

def _zip(data: bytes, name: str,
         limits: Limits) -> tuple[Issue | None, sheetreach.Extents, frozenset[str]]:
    """Each worksheet is streamed once (`sheetreach.survey`) for its DTDs, extent and marks."""
    if _declared_parts(data) > MAX_PARTS:
        return refuse("file.zip_bomb", name, f"压缩包内的部件超过 {MAX_PARTS:,} 个，不是正常的表格文件；"
                                             f"{RESAVE}"), {}, frozenset()
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except _ZIP_FAILURES:
        return unreadable(name, "压缩结构不完整，文件可能在传输中被截断"), {}, frozenset()
    with archive:
        parts = archive.infolist()
        if any(part.flag_bits & 0x1 for part in parts) or _odf_encrypted(archive):
            return encrypted(name), {}, frozenset()
        issue = _sizes(parts, name, limits) or _package_kind(archive, name)
        if issue is not None:
            return issue, {}, frozenset()
        surveyed = sheetreach.survey(archive)
        issue = _dtd(archive, parts, name, surveyed.dtd)
        return issue, ({} if issue else sheetreach.extents(archive, surveyed)), surveyed.plain


def _declared_parts(data: bytes) -> int:
    """Entries the end-of-central-directory record announces, read before zipfile builds them."""
    end = data.rfind(b"PK\x05\x06", max(0, len(data) - 65_557))
    if end < 0 or end + 22 > len(data):
        return 0
    count = struct.unpack_from("<H", data, end + 10)[0]
    return 0 if count == 0xFFFF else count          # Zip64: the real count is elsewhere


def _sizes(parts: list[zipfile.ZipInfo], name: str, limits: Limits) -> Issue | None:
    total = sum(part.file_size for part in parts)
    if total > limits.max_unzipped_bytes:
        return refuse("file.zip_bomb", name, f"文件解压后达 {_mb(total)}，超过上限 "
                                             f"{_mb(limits.max_unzipped_bytes)}（疑似压缩炸弹）；{RESAVE}")
    for part in parts:
        ratio = part.file_size / max(part.compress_size, 1)
        if part.file_size > RATIO_FLOOR and ratio > limits.max_compression_ratio:
            return refuse("file.zip_bomb", name,
                          f"部件「{part.filename[:80]}」压缩比 {ratio:,.0f}:1，远超正常表格"
                          f"（上限 {limits.max_compression_ratio}:1），疑似压缩炸弹；{RESAVE}")
    return None


def _package_kind(archive: zipfile.ZipFile, name: str) -> Issue | None:
    names = set(archive.namelist())
    if "xl/workbook.xml" in names or "content.xml" in names:
        return None
    if "xl/workbook.bin" in names:
        return unreadable(name, "这是 Excel 二进制工作簿（.xlsb），本系统不接收")
    return unreadable(name, "这是一个压缩包（或 Word 等其他文档），里面没有工作簿")


def _odf_encrypted(archive: zipfile.ZipFile) -> bool:
    """An encrypted ODF package lists encryption-data in its manifest."""
    try:
        info = archive.getinfo("META-INF/manifest.xml")
    except KeyError:
        return False
    return info.file_size <= RATIO_FLOOR and b"encryption-data" in archive.read(info)


def _dtd(archive: zipfile.ZipFile, parts: list[zipfile.ZipInfo], name: str,
         known: dict[zipfile.ZipInfo, bool]) -> Issue | None:
    """The first XML part, in the zip's order, that declares a DTD; ``known``: parts already read
    (`sheetreach.survey`)."""
    for part in (p for p in parts if p.filename.lower().endswith(_XML_PARTS)):
        found = known.get(part)
        if found is None:
            found = sheetxml.mentions(archive, part, sheetreach.DTD, sheetreach.DTD_FILTER)
        if found:
            return refuse("file.xml_entity", name,
                          f"部件「{part.filename[:80]}」含有 XML 实体/DTD 声明（<!DOCTYPE 或 <!ENTITY）；"
                          f"正常的 Excel/WPS 文件不会有，可能是恶意构造的文件，已拒收。{RESAVE}")
    return None


# ---- OLE2: legacy .xls (BIFF8/BIFF5), or encrypted OOXML ---------------------------------

def _ole2(data: bytes, name: str) -> tuple[Issue | None, sheetreach.Extents]:
    if "EncryptedPackage".encode("utf-16-le") in data:
        return encrypted(name), {}
    stream = cfb_stream(data, ("Workbook", "Book"))
    if stream is None:
        return unreadable(name, "这是 Word 等其他 Office 文件，不是 Excel 工作簿"), {}
    reach = biff_extents(stream)
    return (encrypted(name), {}) if reach is None else (None, reach)


def cfb_stream(data: bytes, wanted: tuple[str, ...]) -> bytes | None:
    """A named stream of an OLE2 compound file (MS-CFB), or None when there is none.

    Only what finding the workbook stream needs: header, DIFAT, FAT, directory, mini stream. Every
    chain is followed at most once per sector, so a cyclic or lying file cannot loop or grow."""
    shift = _u16(data, 30)
    if shift not in (9, 12):
        raise ValueError("OLE2 扇区大小无效")
    size = 1 << shift

    def sector(i: int) -> bytes:
        return data[(i + 1) * size:(i + 2) * size]

    fat = _fat(data, sector)
    entries = _directory(_chain(_u32(data, 48), fat, sector))
    for entry_name, kind, start, length in entries:
        if kind == 2 and entry_name in wanted:
            if length >= _u32(data, 56):                # at or over the cutoff: ordinary sectors
                return _chain(start, fat, sector)[:length]
            return _mini_chain(data, start, entries[0][2], fat, sector)[:length]
    return None


def _mini_chain(data: bytes, start: int, root: int, fat: list[int], sector) -> bytes:
    """A small stream: 64-byte sectors inside the root entry's mini stream, chained by the
    mini FAT."""
    mini = _chain(root, fat, sector)
    minifat = _u32s(_chain(_u32(data, 60), fat, sector))
    return _chain(start, minifat, lambda i: mini[i * 64:(i + 1) * 64])


def _u16(data: bytes, at: int) -> int:
    return struct.unpack_from("<H", data, at)[0]


def _u32(data: bytes, at: int) -> int:
    return struct.unpack_from("<I", data, at)[0]


def _u32s(block: bytes) -> list[int]:
    return list(struct.unpack(f"<{len(block) // 4}I", block[: len(block) // 4 * 4]))


_SPECIAL = 0xFFFFFFFA                  # end of chain, free, FAT and DIFAT markers


def _fat(data: bytes, sector) -> list[int]:
    difat = _u32s(data[76:512])
    following, count = _u32(data, 68), _u32(data, 72)
    for _ in range(min(count, len(data))):
        block = _u32s(sector(following)) if following < _SPECIAL else []
        if not block:
            break
        difat, following = difat + block[:-1], block[-1]
    return [entry for s in difat if s < _SPECIAL for entry in _u32s(sector(s))]


def _chain(start: int, table: list[int], read) -> bytes:
    out, seen = [], set()
    while start < _SPECIAL and start < len(table) and start not in seen:
        seen.add(start)
        out.append(read(start))
        start = table[start]
    return b"".join(out)


def _directory(raw: bytes) -> list[tuple[str, int, int, int]]:
    """(name, type, first sector, size) of each 128-byte directory entry; type 2 is a stream."""
    entries = []
    for at in range(0, len(raw) - 127, 128):
        length = min(_u16(raw, at + 64), 64)
        label = raw[at:at + max(length - 2, 0)].decode("utf-16-le", "replace")
        entries.append((label, raw[at + 66], _u32(raw, at + 116), _u32(raw, at + 120)))
    return entries


_BOF, _BOUNDSHEET, _FILEPASS, _ROW, _MULRK = 0x0809, 0x0085, 0x002F, 0x0208, 0x00BD
_VALUE_RECORDS = frozenset({0x0006, 0x0203, 0x027E, 0x00FD, 0x0204, 0x00D6, 0x0205, _MULRK})
_SCANNED = _VALUE_RECORDS | {_ROW}


def biff_extents(stream: bytes) -> sheetreach.Extents | None:
    """How far each sheet's value records reach (1-based), and its hidden rows; None when the
    workbook is encrypted (FILEPASS: everything after it is ciphertext)."""
    names: dict[int, str] = {}
    reach: dict[str, list] = {}
    unicode = len(stream) >= 6 and _u16(stream, 4) >= 0x0600      # BIFF8; BIFF5 names are ANSI
    current, pos = None, 0
    while pos + 4 <= len(stream):
        kind, size = struct.unpack_from("<HH", stream, pos)
        body = pos + 4
        if kind == _BOF:
            current = names.get(pos, current)             # a chart inside a sheet keeps the sheet
        elif kind == _FILEPASS and current is None:
            return None
        elif kind == _BOUNDSHEET and size >= 8:
            names[_u32(stream, body)] = _sheet_name(stream[body + 6:body + size], unicode)
        elif current is not None and size >= 4 and kind in _SCANNED:
            _biff_cell(reach.setdefault(current, [0, 0, []]), kind, stream[body:body + size])
        pos = body + size
    return {sheet: (rows, cols, tuple(hidden)) for sheet, (rows, cols, hidden) in reach.items()}


def _biff_cell(found: list, kind: int, body: bytes) -> None:
    row, col = struct.unpack_from("<HH", body)
    if kind == _ROW:
        if len(body) >= 14 and _u16(body, 12) & 0x20 and len(found[2]) < sheetreach.MAX_HIDDEN:
            found[2].append(row + 1)            # fDyZero: the row is hidden
        return
    last = _u16(body, len(body) - 2) if kind == _MULRK and len(body) >= 6 else col
    found[0], found[1] = max(found[0], row + 1), max(found[1], last + 1)


def _sheet_name(raw: bytes, unicode: bool) -> str:
    if not raw:
        return ""
    length = raw[0]
    if not unicode:
        return raw[1:1 + length].decode("gbk", "replace")
    wide = len(raw) > 1 and raw[1] & 0x1
    text = raw[2:2 + length * (2 if wide else 1)]
    return text.decode("utf-16-le" if wide else "latin-1", "replace")
