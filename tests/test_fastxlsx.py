"""The streamed writer's bulk rows: rendered a chunk at a time, column by column, they must be what
a cell-by-cell writer would write — every text escaped and kept as typed, every column as wide as
its widest cell (CJK counting double), whatever the chunk boundaries. Deflated in pieces (some in
another process) and assembled without inflating them, a sheet must unzip to the same bytes."""
from __future__ import annotations

import tempfile
import zipfile
import zlib
from datetime import date
from decimal import Decimal as D
from pathlib import Path
from unittest.mock import patch

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from batch.reports import fastxlsx
from batch.reports.deflated import PART_HEAD, Deflated, crc32_combine, write_member, write_part
from batch.reports.fastxlsx import render_rows
from batch.reports.xlsx import text_width


def part_xml(path: Path) -> str:
    """A rendered part inflated, after checking the CRC-32 and length its header gives."""
    data = path.read_bytes()
    crc, size = PART_HEAD.unpack_from(data)
    inflate = zlib.decompressobj(-zlib.MAX_WBITS)        # no final block: a part goes on
    xml = inflate.decompress(data[PART_HEAD.size:])
    assert not inflate.eof and not inflate.unconsumed_tail
    assert (zlib.crc32(xml), len(xml)) == (crc, size)
    return xml.decode("utf-8")


def one_cell(tmp_path: Path, kind: str, value: object, style: int = 0) -> str:
    path = tmp_path / "part.xml"
    render_rows(path, 1, [kind], [([value], [style])])
    return part_xml(path)


@pytest.mark.parametrize(("value", "t"), [
    ("G001", "<t>G001</t>"),
    ("  前导空格", '<t xml:space="preserve">  前导空格</t>'),
    ("a_x0041_b", "<t>a_x005F_x0041_b</t>"),
    ("<&>\x01", "<t>&lt;&amp;&gt;_x0001_</t>"),
    ("\ud800", "<t>\ufffd</t>"),
    ("{n}{a0}'\"\"\"\\", "<t>{n}{a0}'\"\"\"\\</t>"),     # only ever an argument of a row function
])
def test_text_cells_escaped_and_kept_as_typed(tmp_path: Path, value: str, t: str) -> None:
    assert one_cell(tmp_path, "text", value) == \
        f'<row r="2"><c r="A2" t="inlineStr"><is>{t}</is></c></row>'


def test_blank_text_is_a_cell_only_when_styled(tmp_path: Path) -> None:
    assert one_cell(tmp_path, "text", "") == '<row r="2"></row>'
    assert one_cell(tmp_path, "text", None, style=4) == '<row r="2"><c r="A2" s="4"/></row>'


@pytest.mark.parametrize(("kind", "value", "xml"), [
    ("money", D("1234.50"), '<c r="A2" s="3"><v>1234.50</v></c>'),
    ("money", D("1E+2"), '<c r="A2" s="3"><v>100</v></c>'),
    ("money", None, '<c r="A2" s="3"/>'),
    ("int", 7, '<c r="A2" s="3"><v>7</v></c>'),
    ("int", 10 ** 17 + 1, '<c r="A2" s="3"><v>1E+17</v></c>'),
    ("date", date(2026, 3, 31), '<c r="A2" s="3"><v>46112</v></c>'),
])
def test_numbers_and_dates(tmp_path: Path, kind: str, value: object, xml: str) -> None:
    assert one_cell(tmp_path, kind, value, style=3) == f'<row r="2">{xml}</row>'


TEXT = st.text(st.sampled_from("aZ9 _x\n\t中文（Ａ）·😀é\x01&"), max_size=12)


def text_rows(texts: list[str], folder: Path) -> tuple[str, dict[int, int]]:
    path = folder / "part.xml"
    widths = render_rows(path, 1, ["text"], [([t], [0]) for t in texts])
    return part_xml(path), widths


@settings(max_examples=200, deadline=None)
@given(st.lists(TEXT, min_size=1, max_size=30), st.integers(1, 7))
def test_any_chunking_renders_cell_by_cell(texts: list[str], chunk: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        xml, widths = text_rows(texts, Path(tmp))
        with patch.object(fastxlsx, "CHUNK_ROWS", chunk):
            assert text_rows(texts, Path(tmp)) == (xml, widths)
        cells = [one_cell(Path(tmp), "text", t) for t in texts]
    assert xml == "".join(c.replace('r="2"', f'r="{n}"').replace('"A2"', f'"A{n}"')
                          for n, c in enumerate(cells, start=2))
    shown = [fastxlsx.escape(t) for t in texts if t]
    assert widths == ({0: max(map(text_width, shown)) + 2} if shown else {})


# ---- deflated pieces -------------------------------------------------------------------------

@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300), st.binary(max_size=3000))
def test_crc32_combine_is_the_crc_of_both(a: bytes, b: bytes) -> None:
    assert crc32_combine(zlib.crc32(a), zlib.crc32(b), len(b)) == zlib.crc32(a + b)


def test_crc32_combine_over_a_long_run() -> None:
    """A length of tens of MB (a 明细 sheet's), through the higher powers of x."""
    length = 50_000_017
    expected = zlib.crc32(memoryview(bytes(length)), zlib.crc32(b"head"))
    assert crc32_combine(zlib.crc32(b"head"), zlib.crc32(bytes(length)), length) == expected


PIECES = st.lists(st.one_of(st.binary(max_size=200), st.lists(st.binary(max_size=200),
                                                                max_size=4)), max_size=6)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=100), PIECES, st.binary(max_size=100))
def test_a_member_from_own_bytes_and_parts_unzips_to_them_all(head: bytes, pieces: list,
                                                               tail: bytes) -> None:
    """Bytes written here (``bytes``) and parts deflated apart (``list``), in any order and
    any of them empty, make one member: zipfile checks its CRC-32 and length as it reads."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        body, expected = Deflated(tempfile.TemporaryFile()), head
        for i, piece in enumerate(pieces):
            if isinstance(piece, bytes):
                body.write(piece)
                expected += piece
            else:
                write_part(folder / f"{i}.part", iter(piece))
                body.append(folder / f"{i}.part")
                expected += b"".join(piece)
        expected += tail
        with zipfile.ZipFile(folder / "x.zip", "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr("before.txt", "前")
            write_member(z, "sheet.xml", head, body, tail)
            z.writestr("after.txt", "后")
        body.close()
        with zipfile.ZipFile(folder / "x.zip") as z:
            assert z.testzip() is None
            assert z.read("sheet.xml") == expected
            assert z.read("before.txt") == "前".encode() and z.read("after.txt") == "后".encode()


def test_a_member_past_the_zip64_limit_says_so(tmp_path: Path) -> None:
    body = Deflated(tempfile.TemporaryFile())
    body.write(b"x" * 5000)
    with patch.object(zipfile, "ZIP64_LIMIT", 1000):
        with zipfile.ZipFile(tmp_path / "x.zip", "w", zipfile.ZIP_DEFLATED) as z:
            write_member(z, "sheet.xml", b"<a>", body, b"</a>")
        with zipfile.ZipFile(tmp_path / "x.zip") as z:
            assert z.testzip() is None and z.read("sheet.xml") == b"<a>" + b"x" * 5000 + b"</a>"
            assert z.getinfo("sheet.xml").extract_version >= zipfile.ZIP64_VERSION
    body.close()


def test_a_sheet_with_adopted_parts_is_the_sheet_written_here(tmp_path: Path) -> None:
    """The same rows, some rendered to parts and adopted between rows written here, or all
    written here: the workbooks unzip to the same bytes, member by member."""
    rows = [([f"G{n:03d}", D(n) / 7, date(2026, 3, n % 28 + 1), n], [0, 1, 2, 3])
            for n in range(40)]
    kinds = ["text", "money", "date", "int"]
    books = {}
    for how in ("here", "parts"):
        book = fastxlsx.FastBook(tmp_path / f"{how}.xlsx")
        for style in (("money",), ("date",), ("int",)):
            book.fmt(*style)
        grid = book.sheet("明细")
        grid.header(0, ["业务编号", "金额", "日期", "行号"])
        if how == "here":
            grid.typed_rows(1, kinds, rows)
        else:
            grid.typed_rows(1, kinds, rows[:5])
            for first, last in ((6, 20), (21, 21), (22, 30)):
                widths = render_rows(tmp_path / f"{first}.part", first, kinds, rows[first - 1:last])
                grid.adopt(tmp_path / f"{first}.part", last, len(kinds) - 1, widths)
            grid.typed_rows(31, kinds, rows[30:])
        grid.finish(header_row=0, ncols=len(kinds), last_row=grid.max_row, freeze_cols=1)
        book.close()
        with zipfile.ZipFile(tmp_path / f"{how}.xlsx") as z:
            assert z.testzip() is None
            books[how] = {name: z.read(name) for name in z.namelist()}
    assert books["parts"] == books["here"]
    assert books["here"]["xl/worksheets/sheet1.xml"].count(b"<row ") == 41


NOTES = {"汇总": 0, "新增业务": 1500, "还款解保": 3, "代偿": 0, "追偿": 1024, "在保余额": 2}


def note_shapes(path: Path) -> list[tuple[str, list[str]]]:
    """Each VML drawing in sheet order: its o:idmap blocks and its shapes' ids."""
    import re
    with zipfile.ZipFile(path) as z:
        def sheet_no(name: str) -> int:
            return int(re.search(r"(\d+)\.vml$", name).group(1))
        found = []
        for name in sorted((n for n in z.namelist() if n.endswith(".vml")), key=sheet_no):
            vml = z.read(name).decode("utf-8")
            found.append((re.search(r'<o:idmap v:ext="edit" data="([\d,]+)"', vml).group(1),
                          re.findall(r'<v:shape id="_x0000_s(\d+)"', vml)))
        return found


def test_note_shapes_take_the_ids_xlsxwriter_gives_them(tmp_path: Path) -> None:
    """Sheets with more than 1,024 notes claim more than one block of shape ids: the ids and the
    blocks each drawing names are xlsxwriter's, so no two drawings share an id (Excel repairs a
    workbook whose notes do)."""
    import xlsxwriter
    ours = fastxlsx.FastBook(tmp_path / "ours.xlsx")
    theirs = xlsxwriter.Workbook(str(tmp_path / "theirs.xlsx"))
    for name, count in NOTES.items():
        grid, sheet = ours.sheet(name), theirs.add_worksheet(name)
        for i in range(max(count, 1)):
            grid.text(i + 1, 0, f"行{i}")
            sheet.write_string(i + 1, 0, f"行{i}")
        for i in range(count):
            grid.comment(i + 1, 0, f"第{i}条")
            sheet.write_comment(i + 1, 0, f"第{i}条")
        grid.finish(header_row=None)
    ours.close()
    theirs.close()
    shapes = note_shapes(tmp_path / "ours.xlsx")
    assert shapes == note_shapes(tmp_path / "theirs.xlsx")
    assert [blocks for blocks, _ids in shapes] == ["1,2", "3", "4,5", "6"]
    ids = [i for _blocks, found in shapes for i in found]
    assert len(ids) == len(set(ids)) == sum(NOTES.values())
