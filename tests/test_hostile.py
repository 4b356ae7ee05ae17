"""Bad input gets a clear answer, never a crash, a leak or a loss (issue 5).

The corpus is tests/fixtures/hostile/ (built by make_hostile.py, whose EXPECTED is the answer
key); bombs are built here into tmp_path. One test per kind of trouble, then a night in which all
of them arrive with the good filings of tests/fixtures/lo_home, which must post exactly as they
do alone.
"""
from __future__ import annotations

import io
import json
import os
import re
import resource
import shutil
import time
import zipfile
from dataclasses import replace
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import builders
import openpyxl
import pytest
import xlsxwriter
from defusedxml import DefusedXmlException
from fixtures.hostile import make_hostile as hostile
from python_calamine import CalamineWorkbook

from batch import guard, read, sheetreach, sheetxml
from batch.config import Limits
from batch.home import Home
from batch.pipeline import Options, run_once
from batch.read import read_filing

HOSTILE = Path(__file__).parent / "fixtures" / "hostile"
FIXTURES = Path(__file__).parent / "fixtures"
LO_HOME = FIXTURES / "lo_home"
CJK = re.compile(r"[\u4e00-\u9fff]")
DEFAULTS = Limits()


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def refused(path: Path, name: str | None = None, limits: Limits = DEFAULTS) -> tuple[str, str]:
    """(code, message) of the one issue a refused file gets; fast, small, never a crash."""
    before, start = peak_mb(), time.monotonic()
    result = read_filing(path, name or path.name, "sha", limits=limits)
    assert time.monotonic() - start < 3 and peak_mb() - before < 200
    assert len(result.issues) == 1 and result.cover is None and not result.readable
    assert all(rows == () for rows in result.rows.values())
    issue = result.issues[0]
    assert issue.is_error and CJK.search(issue.message) and issue.where.file == (name or path.name)
    return issue.code, issue.message


def new_rows(name: str):
    return read_filing(HOSTILE / name, name, "sha").rows["new"]


def row_codes(rows) -> list[tuple[int, str, str]]:
    return [(i.where.row, i.where.column, i.code) for r in rows for i in r.issues]


# ---- the corpus ------------------------------------------------------------------------------

def test_the_corpus_is_what_the_script_builds_and_is_small():
    committed = {p.name for p in HOSTILE.iterdir() if p.suffix in (".xlsx", ".xls", ".ods")}
    assert committed == set(hostile.BUILDERS) == set(hostile.EXPECTED)
    assert all((HOSTILE / n).stat().st_size < 10_000 for n in committed)


@pytest.mark.parametrize("name", [n for n, code in hostile.EXPECTED.items() if code])
def test_every_refused_file_is_one_clear_issue(name):
    code, _ = refused(HOSTILE / name)
    assert code == hostile.EXPECTED[name]


def test_every_new_code_is_registered_and_chinese():
    source = (Path(guard.__file__)).read_text("utf-8")
    emitted = set(re.findall(r'(?:refuse|Issue)\(\s*"([a-z]+\.[a-z_]+)"', source))
    assert emitted and emitted <= set(read.ISSUE_CODES)
    assert {"file.too_large", "file.html", "file.zip_bomb", "file.xml_entity", "file.too_many_rows",
            "sheet.hidden", "cell.too_long"} <= set(read.ISSUE_CODES)
    assert all(CJK.search(read.ISSUE_CODES[c]) for c in guard.GUARD_CODES)


# ---- not a workbook ----------------------------------------------------------------------------

def test_empty_text_and_pdf_say_what_they_are():
    assert "空" in refused(HOSTILE / "empty.xlsx")[1]
    assert "文本" in refused(HOSTILE / "text.xlsx")[1]
    assert "PDF" in refused(HOSTILE / "pdf.xlsx")[1]
    for name in ("empty.xlsx", "text.xlsx", "pdf.xlsx", "truncated.xlsx"):
        assert "另存为 .xlsx" in refused(HOSTILE / name)[1]


def test_a_truncated_zip_is_unreadable_with_a_reason():
    code, message = refused(HOSTILE / "truncated.xlsx")
    assert code == "file.unreadable" and "截断" in message


@pytest.mark.parametrize("name", ["export_html.xls", "export_html_utf16.xls", "export_mhtml.xls"])
def test_an_xls_that_is_really_a_web_page_is_refused_with_a_resave_message(name):
    """The documented choice (guard's docstring): refuse, never guess cell types from HTML."""
    code, message = refused(HOSTILE / name)
    assert code == "file.html" and "网页" in message and "另存为 .xlsx" in message


def test_xml_spreadsheet_2003_and_xlsb_are_named():
    assert "XML 电子表格 2003" in refused(HOSTILE / "xml2003.xls")[1]
    assert ".xlsb" in refused(HOSTILE / "xlsb.xlsx")[1]


@pytest.mark.parametrize("path", [FIXTURES / "encrypted" / "encrypted.xlsx",
                                  FIXTURES / "encrypted" / "encrypted.xls",
                                  FIXTURES / "encrypted" / "encrypted.ods",
                                  HOSTILE / "encrypted_part.xlsx"])
def test_encrypted_workbooks(path):
    code, message = refused(path)
    assert code == "file.encrypted" and "密码" in message


def test_a_file_over_the_size_limit_is_never_read(tmp_path, monkeypatch):
    big = tmp_path / "big.xlsx"
    with big.open("wb") as handle:                     # sparse: 60 MB on paper, nothing on disk
        handle.truncate(60 << 20)
    monkeypatch.setattr(Path, "open", lambda *a, **k: pytest.fail("opened a refused file"))
    code, message = refused(big)
    assert code == "file.too_large" and "50.0 MB" in message
    small = replace(Limits(), max_file_bytes=1000)
    assert refused(HOSTILE / "hidden.xlsx", limits=small)[0] == "file.too_large"


# ---- XML and zip bombs -----------------------------------------------------------------------

@pytest.mark.parametrize("name", ["laughs_shared.xlsx", "laughs_sheet.xlsx", "external_entity.xlsx"])
def test_entities_are_refused_before_any_parser(name):
    code, message = refused(HOSTILE / name)
    assert code == "file.xml_entity" and "<!DOCTYPE" in message


@pytest.mark.parametrize("name", ["laughs_shared.xlsx", "laughs_sheet.xlsx", "external_entity.xlsx"])
def test_no_parser_we_use_would_expand_them_either(name):
    """Belt and braces: calamine's quick-xml does not expand entities, openpyxl and sheetxml go
    through defusedxml. A billion laughs that expanded would take 3 GB and minutes."""
    data = (HOSTILE / name).read_bytes()
    before, start = peak_mb(), time.monotonic()
    with pytest.raises(Exception) as calamine_error:
        book = CalamineWorkbook.from_filelike(io.BytesIO(data))
        for sheet in book.sheet_names:
            book.get_sheet_by_name(sheet).to_python()
    assert re.search(r"entity|detect", str(calamine_error.value))
    with pytest.raises(ValueError, match="Unable to read workbook"):
        openpyxl.load_workbook(io.BytesIO(data))
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        parts = [archive.read(n) for n in archive.namelist() if b"<!DOCTYPE" in archive.read(n)]
    assert parts
    for part in parts:                                  # the parser sheetxml uses is defused
        with pytest.raises(DefusedXmlException):
            sheetxml.fromstring(part)
    assert time.monotonic() - start < 2 and peak_mb() - before < 100


def test_every_xml_parse_goes_through_defusedxml():
    """openpyxl uses defusedxml when it is installed; our own code may import from the standard
    library only what parses nothing: element and error types, and saxutils' escaping."""
    assert openpyxl.DEFUSEDXML is True
    harmless = {"xml.etree.ElementTree": {"Element", "ParseError"},
                "xml.sax.saxutils": {"escape", "quoteattr", "unescape", "xml_escape", "as"}}
    imports = re.compile(r"^\s*(?:from\s+(\S+)\s+import\s+(.+)|import\s+(\S+))$", re.MULTILINE)
    for path in Path(guard.__file__).parent.rglob("*.py"):
        for module, names, plain in imports.findall(path.read_text("utf-8")):
            module = module or plain
            if re.match(r"(xml|lxml|expat|pyexpat)\b", module):
                allowed = harmless.get(module, set())
                assert set(re.findall(r"\w+", names)) <= allowed and names, (path.name, module)


def test_a_dtd_in_a_part_shadowed_by_a_later_one_of_the_same_name_is_still_refused(tmp_path):
    """Sheets are read once for their DTDs and their extent; a zip may hold two parts of one name
    (opened by name, the later wins), and the earlier must still be looked at."""
    good = (LO_HOME / "inbox" / "M001" / "M001_2026-03.xlsx").read_bytes()
    path = tmp_path / "twice.xlsx"
    with zipfile.ZipFile(io.BytesIO(good)) as source, zipfile.ZipFile(path, "w") as target:
        for info in source.infolist():
            if info.filename == "xl/worksheets/sheet2.xml":
                with pytest.warns(UserWarning, match="Duplicate name"):
                    target.writestr(info.filename, b'<!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>')
                    target.writestr(info.filename, source.read(info))
            else:
                target.writestr(info, source.read(info))
    code, message = refused(path)
    assert code == "file.xml_entity" and "sheet2.xml" in message


def test_a_zip_bomb_is_refused_from_its_directory(tmp_path):
    bomb = hostile.zip_bomb(tmp_path / "bomb.xlsx")
    assert bomb.stat().st_size < 3 << 20
    with zipfile.ZipFile(bomb) as archive:
        assert sum(i.file_size for i in archive.infolist()) > 2 << 30
    code, message = refused(bomb)
    assert code == "file.zip_bomb" and "MB" in message


def test_a_high_ratio_part_is_refused_below_the_total_limit(tmp_path):
    bomb = hostile.zip_bomb(tmp_path / "ratio.xlsx", unpacked=64 << 20)
    code, message = refused(bomb)
    assert code == "file.zip_bomb" and "压缩比" in message and "sheet2.xml" in message


def test_declared_sizes_bind_calamine_so_a_lying_part_cannot_expand(tmp_path):
    liar = hostile.lying_size(tmp_path / "liar.xlsx")
    book = CalamineWorkbook.from_filelike(io.BytesIO(liar.read_bytes()))
    with pytest.raises(Exception, match="larger than its declared"):
        book.get_sheet_by_name("新增业务").to_python()
    code, message = refused(liar)
    assert code == "file.unreadable" and "另存为 .xlsx" in message      # cut off at 1,000 bytes


def test_a_zip_of_too_many_parts(tmp_path):
    path = tmp_path / "parts.xlsx"
    with zipfile.ZipFile(path, "w") as archive:
        for n in range(guard.MAX_PARTS + 1):
            archive.writestr(f"p/{n}", b"")
    assert refused(path)[0] == "file.zip_bomb"


# ---- sheets that reach too far -----------------------------------------------------------

def test_a_real_cell_at_row_1048576_is_refused_before_calamine_builds_the_grid():
    code, message = refused(HOSTILE / "far_cell.xlsx")
    assert code == "file.too_many_rows" and "Z1048576" in message and "300,000" in message


@pytest.mark.parametrize("name", ["far_column.xlsx", "corner.xls", "corner.ods"])
def test_a_used_range_too_large_is_refused_in_every_format(name):
    code, message = refused(HOSTILE / name)
    assert code == "file.too_many_rows" and ("单元格的上限" in message or "行的上限" in message)


def test_a_dimension_that_claims_a_million_rows_is_only_a_claim():
    with zipfile.ZipFile(HOSTILE / "dimension_claim.xlsx") as archive:
        assert b'ref="A1:Z1048576"' in archive.read("xl/worksheets/sheet2.xml")
    result = read_filing(HOSTILE / "dimension_claim.xlsx", "d.xlsx", "sha")
    assert result.issues == () and result.rows["new"][0].record.guarantee_id == "H001"


def test_the_row_limit_is_a_setting(tmp_path):
    path = tmp_path / "rows.xlsx"
    hostile.filing(*(hostile.loan(n) for n in range(1, 13))).save(path)      # header + 12 rows
    assert refused(path, limits=replace(Limits(), max_rows=12))[0] == "file.too_many_rows"
    assert len(read_filing(path, "f", "s", limits=replace(Limits(), max_rows=13)).rows["new"]) == 12


def test_sheet_extents_match_calamine_for_ordinary_files():
    for path in [*(FIXTURES / "lo").glob("filing_lo.*"), LO_HOME / "inbox" / "M001" / "M001_2026-03.xlsx"]:
        data = path.read_bytes()
        reach = (guard.biff_extents(guard.cfb_stream(data, ("Workbook",))) if path.suffix == ".xls"
                 else sheetreach.extents(zipfile.ZipFile(io.BytesIO(data))))
        book = CalamineWorkbook.from_path(str(path))
        for name in book.sheet_names:
            sheet = book.get_sheet_by_name(name)
            expected = (sheet.end[0] + 1, sheet.end[1] + 1) if sheet.end else (0, 0)
            assert reach.get(name, (0, 0, ()))[:2] == expected, (path.name, name)


def test_the_ole2_reader_agrees_with_olefile():
    import olefile          # test extra: an independent OLE2 reader to check ours against
    for path in FIXTURES.rglob("*.xls"):
        data = path.read_bytes()
        if not data.startswith(guard.OLE2):
            continue
        ole = olefile.OleFileIO(io.BytesIO(data))
        if ole.exists("Workbook"):
            assert guard.cfb_stream(data, ("Workbook",)) == ole.openstream("Workbook").read()


# ---- awkward but readable ----------------------------------------------------------------

def test_missing_sheets_are_a_nil_return_and_a_missing_cover_is_said():
    zero = read_filing(HOSTILE / "zero_rows.xlsx", "z", "s")
    assert zero.readable and zero.issues == () and all(r == () for r in zero.rows.values())
    no_cover = read_filing(HOSTILE / "missing_cover.xlsx", "m", "s")
    assert [i.code for i in no_cover.issues] == ["cover.missing"]


def test_headers_renamed_extra_below_a_title_with_filter_and_frozen_panes():
    result = read_filing(HOSTILE / "layout.xlsx", "l", "s")
    assert [(i.code, i.severity, i.where.field) for i in result.issues] == [
        ("header.extra", "warning", "备注")]
    assert [r.where.row for r in result.rows["new"]] == [4, 5]
    assert result.rows["new"][0].record.loan_amount == Decimal("1000000.00")


def test_a_duplicated_header_stops_only_that_sheet():
    result = read_filing(HOSTILE / "duplicate_header.xlsx", "d", "s")
    assert [i.code for i in result.issues] == ["header.duplicate"] and result.rows["new"] == ()
    assert result.cover.member_id == "M001"


def test_hidden_sheets_and_rows_are_read_and_the_member_is_told():
    result = read_filing(HOSTILE / "hidden.xlsx", "h", "s")
    warnings = [(i.code, i.severity, i.where.sheet) for i in result.issues]
    assert warnings == [("sheet.hidden", "warning", "新增业务"), ("sheet.hidden", "warning", "还款解保")]
    assert "第 3 行" in result.issues[0].message and "隐藏" in result.issues[1].message
    assert len(result.rows["new"]) == 3 and len(result.rows["repay"]) == 1
    assert result.readable


def test_merged_cells_leave_the_value_top_left_and_the_rest_blank():
    rows = new_rows("merged.xlsx")
    assert rows[1].record.borrower_type == "小型企业"                      # D3, the merge's value
    assert row_codes(rows[2:3]) == [(4, "D", "cell.required")]           # D4, covered by it
    assert rows[3].cells[0] == "注：以上为本月全部新增"                       # a note row is a row


def test_formulas_with_and_without_results_and_error_values():
    rows = new_rows("formulas.xlsx")
    assert rows[0].record.loan_amount == Decimal("1000000.00")            # cached result
    assert row_codes(rows[1:]) == [(3, "J", "cell.formula"), (4, "J", "cell.error"),
                                   (5, "K", "cell.error")]
    assert rows[2].cells[9] == "#N/A" and rows[3].cells[10] == "#DIV/0!"


def test_the_1904_date_system():
    with zipfile.ZipFile(HOSTILE / "date1904.xlsx") as archive:
        assert b'date1904="1"' in archive.read("xl/workbook.xml")
    record = new_rows("date1904.xlsx")[0].record
    assert (record.start_date, record.maturity_date) == (date(2026, 3, 2), date(2027, 3, 1))


def test_odd_cells_dates_before_1900_text_numbers_booleans_long_text_controls_emoji():
    rows = new_rows("odd_cells.xlsx")
    assert rows[0].record.start_date == date(1899, 12, 31)                # then checks reject it
    assert (rows[1].record.loan_amount, rows[1].record.guaranteed_amount) == \
        (Decimal("1000000.00"), Decimal("800000.00"))
    assert row_codes(rows[2:4]) == [(4, "J", "cell.money"), (5, "B", "cell.too_long")]
    assert rows[3].cells[1] == "长" * 2000 + "…"                           # clipped on the receipt
    assert rows[4].record.borrower_name == "泉城食品有限公司" and rows[4].record.county == "历下\t区"
    assert rows[5].record.borrower_name == "😀 表情符号企业 🏦" and rows[5].record.county == "𠀀区"
    night = builders.night()
    f = builders.filing(replace(builders.new(), start_date=date(1899, 12, 31)))
    outcome = builders.process_filing(f, f.name, None, night)
    assert outcome.status == "rejected" and outcome.rows["new"][0].issues


def test_the_cell_length_limit_is_a_setting(tmp_path):
    path = tmp_path / "long.xlsx"
    hostile.filing(hostile.loan(1, borrower_name="长" * 30)).save(path)
    rows = read_filing(path, "l", "s", limits=replace(Limits(), max_cell_chars=20)).rows["new"]
    assert row_codes(rows) == [(2, "B", "cell.too_long")]


# ---- outputs: no formula, no link, no control character --------------------------------------

def output_workbooks(run_dir: Path) -> list[Path]:
    return sorted(run_dir.rglob("*.xlsx"))


def assert_inert(path: Path) -> None:
    """No formula, hyperlink or external link anywhere in a workbook we wrote."""
    with zipfile.ZipFile(path) as archive:
        for name in archive.namelist():
            xml = archive.read(name)
            assert not re.search(rb"<f[ >]", xml), (path.name, name)
            assert b"<hyperlink" not in xml and b"externalLink" not in xml, (path.name, name)
            if not name.endswith(".vml"):              # VML's own shape ids look like _x0000_
                assert not re.search(rb"_x00[01][0-9A-F]_", xml), (path.name, name)
    for sheet in openpyxl.load_workbook(path).worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                assert cell.data_type != "f" and cell.hyperlink is None, (path.name, cell.coordinate)


def make_home(root: Path, *, good: bool = True) -> Home:
    shutil.copytree(LO_HOME, root, dirs_exist_ok=True)
    if not good:
        shutil.rmtree(root / "inbox")
        (root / "inbox").mkdir()
    return Home(root)


def run(home: Home, moment: datetime):
    return run_once(home, date(2026, 3, 31), clock=lambda: moment,
                    options=Options(settle_seconds=0))


def test_text_that_looks_like_a_formula_never_becomes_one(tmp_path):
    home = make_home(tmp_path / "home", good=False)
    shutil.copy(HOSTILE / "injection.xlsx", home.inbox / "=injection.xlsx")
    (home.inbox / "M002").mkdir()
    shutil.copy(HOSTILE / "injection.xlsx", home.inbox / "M002" / "+other.xlsx")   # cover: M001
    shutil.copy(HOSTILE / "odd_cells.xlsx", home.inbox / "odd.xlsx")
    accepted = hostile.loan(9, guarantee_id="@G9", bank_id="B01", borrower_id=builders.uscc(77),
                            borrower_name=hostile.INJECTIONS[0], county=hostile.INJECTIONS[3],
                            loan_contract_no=hostile.INJECTIONS[1])
    book = xlsxwriter.Workbook(str(home.inbox / "-accepted.xlsx"))    # text stays text
    hostile.write_rows(book, book.add_worksheet("封面"), hostile.cover())
    hostile.write_rows(book, book.add_worksheet("新增业务"), [hostile.NEW_HEADERS, accepted])
    book.close()
    outcome = run(home, datetime.now())
    run_dir = home.outbox / outcome.run_id
    for path in output_workbooks(run_dir):
        assert_inert(path)
    texts = {c.value for p in output_workbooks(run_dir)
             for ws in openpyxl.load_workbook(p).worksheets for r in ws.iter_rows() for c in r}
    assert set(hostile.INJECTIONS) <= texts                      # echoed, as text
    assert {"=injection.xlsx", "M002/+other.xlsx", "-accepted.xlsx", "@G9"} <= texts
    assert "泉城食品有限公司" in texts and "😀 表情符号企业 🏦" in texts
    document = json.loads((run_dir / "run.json").read_text("utf-8"))
    assert {f["name"]: f["status"] for f in document["files"]} == {
        "=injection.xlsx": "rejected", "M002/+other.xlsx": "rejected", "odd.xlsx": "rejected",
        "-accepted.xlsx": "accepted"}


# ---- a night with all of it -------------------------------------------------------------

def hostile_inbox(inbox: Path) -> set[str]:
    """Every kind of trouble dropped into ``inbox``; returns the names as the run will list them."""
    for name in hostile.BUILDERS:
        target = inbox / ("M002" if name == "other_member.xlsx" else "") / name
        shutil.copy(HOSTILE / name, target)
    for path in (FIXTURES / "encrypted").iterdir():
        shutil.copy(path, inbox / path.name)
    hostile.zip_bomb(inbox / "zip_bomb.xlsx")
    hostile.zip_bomb(inbox / "ratio_bomb.xlsx", unpacked=64 << 20)
    hostile.lying_size(inbox / "lying_size.xlsx")
    return {p.relative_to(inbox).as_posix() for p in inbox.rglob("*") if p.is_file()}


def receipt_values(path: Path) -> dict[str, list[tuple]]:
    return {ws.title: list(ws.iter_rows(values_only=True)) for ws in openpyxl.load_workbook(path)}


def test_a_night_with_every_hostile_file_posts_the_good_ones_exactly_as_alone(tmp_path):
    moment = datetime.now().replace(microsecond=0)
    alone_home, night_home = make_home(tmp_path / "alone"), make_home(tmp_path / "night")
    good = {p.relative_to(night_home.inbox).as_posix() for p in night_home.inbox.rglob("*")
            if p.is_file()}
    bad = hostile_inbox(night_home.inbox) - good
    stamp = moment.timestamp()
    for path in night_home.inbox.rglob("*"):                 # the hostile files are taken first
        name = path.relative_to(night_home.inbox).as_posix()
        if path.is_file():
            os.utime(path, (stamp - (50 if name in good else 100),) * 2)
    alone, night = run(alone_home, moment), run(night_home, moment)

    document = json.loads((night_home.outbox / night.run_id / "run.json").read_text("utf-8"))
    listed = [f["name"] for f in document["files"]]
    assert sorted(listed) == sorted(good | bad)                                # nothing lost
    assert not [p for p in night_home.inbox.rglob("*") if p.is_file()]
    by_name = {f["name"]: f for f in document["files"]}
    for name in bad:
        entry = by_name[name]
        assert (night_home.root / entry["destination"]).is_file()
        if name == "zero_rows.xlsx":
            assert entry["status"] == "accepted" and entry["destination"].startswith("archive/")
            continue
        assert entry["status"] == "rejected" and entry["destination"].startswith("quarantine/")
        if hostile.EXPECTED.get(name) or name.endswith(("bomb.xlsx", "size.xlsx")) or \
                name.startswith("encrypted"):
            assert entry["issues"] and all(CJK.search(i["message"]) for i in entry["issues"])
    expected_codes = {n: c for n, c in hostile.EXPECTED.items() if c}
    expected_codes |= {"zip_bomb.xlsx": "file.zip_bomb", "ratio_bomb.xlsx": "file.zip_bomb",
                       "lying_size.xlsx": "file.unreadable", "encrypted.xlsx": "file.encrypted",
                       "encrypted.xls": "file.encrypted", "encrypted.ods": "file.encrypted",
                       "M002/other_member.xlsx": "member.sender",
                       "wrong_version.xlsx": "cover.version", "missing_cover.xlsx": "cover.missing",
                       "duplicate_header.xlsx": "header.duplicate"}
    for name, code in expected_codes.items():
        assert code in [i["code"] for i in by_name[name]["issues"]], name

    alone_doc = json.loads((alone_home.outbox / alone.run_id / "run.json").read_text("utf-8"))
    assert document["totals"] == alone_doc["totals"]
    alone_files = {f["name"]: f for f in alone_doc["files"]}
    night_filings = {f.path: f for f in night.filings}
    for f in alone.filings:
        other = night_filings[f.path]
        assert (other.status, other.postings, other.rows) == (f.status, f.postings, f.rows)
        assert {**by_name[f.path], "receipt": ""} == {**alone_files[f.path], "receipt": ""}
        assert receipt_values(night_home.outbox / night.run_id / other.receipt) == \
            receipt_values(alone_home.outbox / alone.run_id / f.receipt)
    night_dir, alone_dir = night_home.outbox / night.run_id, alone_home.outbox / alone.run_id
    fund = "代偿补偿资金对账单.xlsx"
    assert receipt_values(night_dir / fund) == receipt_values(alone_dir / fund)
    postings = {k: v for k, v in receipt_values(night_dir / "对账汇总.xlsx").items()
                if k not in ("汇总", "文件清单", "异常清单")}          # the hostile files are listed
    assert postings == {k: v for k, v in receipt_values(alone_dir / "对账汇总.xlsx").items()
                        if k in postings} and "明细" in postings
