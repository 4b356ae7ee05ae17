"""The streamed writer's bulk rows: rendered a chunk at a time, column by column, they must be what
a cell-by-cell writer would write — every text escaped and kept as typed, every column as wide as
its widest cell (CJK counting double), whatever the chunk boundaries."""
from __future__ import annotations

import tempfile
from datetime import date
from decimal import Decimal as D
from pathlib import Path
from unittest.mock import patch

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from batch.reports import fastxlsx
from batch.reports.fastxlsx import render_rows
from batch.reports.xlsx import text_width


def one_cell(tmp_path: Path, kind: str, value: object, style: int = 0) -> str:
    path = tmp_path / "part.xml"
    render_rows(path, 1, [kind], [([value], [style])])
    return path.read_text(encoding="utf-8")


@pytest.mark.parametrize(("value", "t"), [
    ("G001", "<t>G001</t>"),
    ("  前导空格", '<t xml:space="preserve">  前导空格</t>'),
    ("a_x0041_b", "<t>a_x005F_x0041_b</t>"),
    ("<&>\x01", "<t>&lt;&amp;&gt;_x0001_</t>"),
    ("\ud800", "<t>\ufffd</t>"),
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
    return path.read_text(encoding="utf-8"), widths


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
