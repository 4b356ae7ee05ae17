"""Reading workbooks: every cell form the contract accepts, every way a member's file goes wrong."""
from __future__ import annotations

import dataclasses
import re
import shutil
import zipfile
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
import xlsxwriter
from hypothesis import given, strategies as st
from openpyxl import Workbook as OpenpyxlWorkbook

from batch import cells, read, sheetreach, sheetxml
from batch.model import Default, NewGuarantee, Product, Recovery, Repayment
from batch.read import ISSUE_CODES, read_filing, read_workbook
from batch.schema import (COVER, DEFAULT, FILING_SHEETS, MEMBERS, NEW, PRODUCTS, RECOVER,
                          REFERENCE_SHEETS, REPAY, SETTINGS)

FIXTURES = Path(__file__).parent / "fixtures"
COVER_ROWS = [["机构编号", "M001"], ["机构名称", "济南市融资担保有限公司"], ["报送期间", "2026-03"],
              ["报送类型", "正常"]]
NEW_HEADERS = [c.header for c in NEW.columns]


def new_row(**changes: object) -> list[object]:
    """One valid 新增业务 row, in schema order, with some cells replaced."""
    values = dict(guarantee_id="G1", borrower_name="泉城食品", borrower_id="91370100MA3C4XYZ1K",
                  borrower_type="小型企业", industry="C", city="济南市", county="历下区", bank_id="B01",
                  loan_contract_no="JK-1", loan_amount=3750000, guaranteed_amount=3000000,
                  fee_rate=0.017, start_date=date(2026, 3, 2), maturity_date=date(2027, 3, 1),
                  product="BL", fund_cover="是", reguarantor_share=None, counter_amount=None)
    values.update(changes)
    return [values[c.key] for c in NEW.columns]


def xlsx(path: Path, sheets: dict[str, list[list[object]]], origin: dict[str, str] | None = None,
         formats: dict[tuple[str, str], str] | None = None) -> Path:
    """A workbook written by openpyxl; ``origin`` moves a sheet's first cell (e.g. "C3")."""
    book = OpenpyxlWorkbook()
    book.remove(book.active)
    for title, rows in sheets.items():
        sheet = book.create_sheet(title)
        top, left = _origin((origin or {}).get(title, "A1"))
        for r, values in enumerate(rows):
            for c, value in enumerate(values):
                if value is not None:
                    sheet.cell(top + r, left + c, value)
    for (title, ref), fmt in (formats or {}).items():
        book[title][ref].number_format = fmt
    book.save(path)
    return path


def _origin(ref: str) -> tuple[int, int]:
    letters = ref.rstrip("0123456789")
    return int(ref[len(letters):]), ord(letters) - 64


def filing(tmp_path: Path, **sheets: list[list[object]]) -> Path:
    """A filing with the standard cover and the given data sheets (keyword = Chinese sheet name)."""
    return xlsx(tmp_path / "f.xlsx", {"封面": COVER_ROWS, **sheets})


def issues_of(rows) -> list[tuple[int, str, str]]:
    """(row, column letter, code) of every cell issue: how the tests read."""
    return [(i.where.row, i.where.column, i.code) for r in rows for i in r.issues]


def new_sheet(tmp_path: Path, *rows: list[object]):
    book = read_filing(filing(tmp_path, 新增业务=[NEW_HEADERS, *rows]), "M001/f.xlsx", "sha")
    return book.rows["new"]


# ---- office-suite files read like our own ------------------------------------------------

def facts(result) -> list[tuple]:
    out = []
    for key, rows in result.rows.items():
        for row in rows:
            record = {f.name: getattr(row.record, f.name) for f in dataclasses.fields(row.record)
                      if f.name != "where"}
            out.append((key, row.where.row, row.cells, record))
    return out


@pytest.mark.parametrize("name", ["filing_lo.xlsx", "filing_lo.xls", "filing_lo.ods"])
def test_libreoffice_copies_read_to_the_same_records_as_the_original(name):
    original = read_filing(FIXTURES / "lo" / "filing_openpyxl.xlsx", "original.xlsx", "a")
    copy = read_filing(FIXTURES / "lo" / name, name, "b")
    assert copy.issues == () and original.issues == ()
    assert copy.cover == original.cover
    assert copy.cover.member_id == "M001" and copy.cover.period == "2026-03"
    assert facts(copy) == facts(original)
    assert [len(copy.rows[k]) for k in ("new", "repay", "default", "recover", "balance")] == \
        [3, 1, 0, 0, 0]
    first = copy.rows["new"][0].record
    assert first.fee_rate == Decimal("0.017") and first.start_date == date(2026, 3, 2)
    assert copy.rows["new"][1].record.loan_amount == Decimal("500000.00")
    assert copy.rows["new"][2].record.reguarantor_share == Decimal("0.6")


@pytest.mark.parametrize("name", ["errors_lo.xlsx", "errors_lo.ods"])
def test_error_values_saved_by_libreoffice_are_cell_errors_not_blanks(name):
    rows = read_workbook(FIXTURES / "lo" / name, [DEFAULT], name).rows["default"]
    assert issues_of(rows) == [(2, "C", "cell.error"), (2, "D", "cell.error")]
    assert rows[0].cells[2:4] == ("#N/A", "#DIV/0!")
    assert rows[1].record.interest == Decimal("1234.50")      # a formula with its result is fine


def test_error_values_in_xls_read_as_blank_a_documented_limit():
    rows = read_workbook(FIXTURES / "lo" / "errors_lo.xls", [DEFAULT], "e.xls").rows["default"]
    assert issues_of(rows) == [(2, "C", "cell.required")]


# ---- where rows are ----------------------------------------------------------------------

def test_row_numbers_are_excels_with_leading_empty_rows_and_columns(tmp_path):
    path = xlsx(tmp_path / "f.xlsx", {"封面": COVER_ROWS, "新增业务": [
        NEW_HEADERS, new_row(), new_row(guarantee_id="G2", loan_amount="1万")]},
        origin={"新增业务": "C3"})
    rows = read_filing(path, "M001/f.xlsx", "sha").rows["new"]
    assert [r.where.row for r in rows] == [4, 5]
    assert rows[0].where.sheet == "新增业务" and rows[0].where.file == "M001/f.xlsx"
    assert issues_of(rows) == [(5, "L", "cell.money")]          # 贷款金额 is the 10th column: C+9
    assert rows[1].where.at("loan_amount").field == "贷款金额"


def test_a_title_row_above_the_header_and_blank_rows_between_data(tmp_path):
    rows = new_sheet(tmp_path, new_row(), [], new_row(guarantee_id="G2"))   # header in row 1
    assert [r.where.row for r in rows] == [2, 4]
    path = filing(tmp_path, 新增业务=[["2026年3月新增业务报送表"], [], NEW_HEADERS, new_row()])
    result = read_filing(path, "f.xlsx", "sha")
    assert [r.where.row for r in result.rows["new"]] == [4]
    assert result.issues == ()


def test_columns_in_any_order_found_by_alias_or_full_width_header(tmp_path):
    headers = NEW_HEADERS[::-1]
    headers[headers.index("贷款金额")] = "loan_amount"
    headers[headers.index("担保金额")] = " 担保金额　"                 # ideographic space
    headers[headers.index("再担保产品")] = "ＰＲＯＤＵＣＴ"             # full-width alias
    rows = read_filing(filing(tmp_path, 新增业务=[headers, new_row()[::-1]]), "f", "s").rows["new"]
    record = rows[0].record
    assert record.loan_amount == Decimal("3750000.00") and record.product is Product.BL
    assert rows[0].where.at("loan_amount").column == _letter_of(headers, "loan_amount")
    assert rows[0].cells[NEW_HEADERS.index("借款人名称")] == "泉城食品"   # cells in schema order


def _letter_of(headers: list[str], text: str) -> str:
    return chr(65 + headers.index(text))


def test_header_problems(tmp_path):
    missing = [h for h in NEW_HEADERS if h != "贷款金额"] + ["备注"]
    result = read_filing(filing(tmp_path, 新增业务=[missing, new_row()[:9] + new_row()[10:] + ["x"]]),
                         "f.xlsx", "sha")
    assert [(i.code, i.where.column, i.where.field) for i in result.issues] == [
        ("header.extra", "R", "备注"), ("header.missing", "", "贷款金额")]
    assert result.rows["new"] == () and not result.readable
    missing_issue = next(i for i in result.issues if i.code == "header.missing")
    assert "贷款金额" in missing_issue.message and missing_issue.where.row == 1
    assert next(i for i in result.issues if i.code == "header.extra").severity == "warning"
    twice = read_filing(filing(tmp_path, 还款解保=[["业务编号", "还款日期", "还款本金", "date"],
                                                ["G1", date(2026, 3, 1), 1, date(2026, 3, 2)]]),
                        "f.xlsx", "sha")
    assert [(i.code, i.where.column) for i in twice.issues] == [("header.duplicate", "D")]
    assert twice.rows["repay"] == ()
    lost = read_filing(filing(tmp_path, 还款解保=[["说明"], ["本表无数据"]]), "f.xlsx", "sha")
    assert [i.code for i in lost.issues] == ["header.notfound"]


def test_an_empty_or_absent_sheet_is_a_nil_return(tmp_path):
    result = read_filing(filing(tmp_path, 新增业务=[]), "f.xlsx", "sha")
    assert result.issues == () and result.rows["new"] == () and result.rows["repay"] == ()
    assert result.readable


def test_sheet_names_match_like_headers(tmp_path):
    path = xlsx(tmp_path / "f.xlsx", {"封面": COVER_ROWS, " 新增业务 ": [NEW_HEADERS, new_row()],
                                      "repay": [["业务编号", "还款日期", "还款本金"],
                                                ["G1", "2026-03-09", 5]]})
    result = read_filing(path, "f.xlsx", "sha")
    assert len(result.rows["new"]) == 1 and result.rows["repay"][0].record.settled is False
    twice = xlsx(tmp_path / "g.xlsx", {"封面": COVER_ROWS, "代偿": [], "代偿 ": []})
    assert [i.code for i in read_filing(twice, "g.xlsx", "sha").issues] == ["sheet.duplicate"]


# ---- cells -------------------------------------------------------------------------------

def test_every_date_form(tmp_path):
    good = [date(2026, 3, 7), datetime(2026, 3, 7, 0, 0), "2026-03-07", "2026/3/7", "2026年3月7日",
            "２０２６－０３－０７", " 2026-3-7 "]
    bad = ["2026.3.7", "20260307", 46088, "2026-02-30", "明天", "3/7/2026"]
    rows = read_workbook(filing(tmp_path, 还款解保=[REPAY_HEADER] + [["G1", d, 1] for d in good + bad]),
                         [REPAY], "f").rows["repay"]
    assert [r.record.date for r in rows[:len(good)]] == [date(2026, 3, 7)] * len(good)
    assert issues_of(rows[len(good):]) == [(r, "B", "cell.date") for r in range(9, 15)]
    assert "请把单元格设为日期格式" in rows[len(good) + 2].issues[0].message


REPAY_HEADER = ["业务编号", "还款日期", "还款本金", "是否结清"]


def test_every_money_form(tmp_path):
    good = [(1234567.89, "1234567.89"), ("1,234,567.89", "1234567.89"), ("１２３４５６７.８９", "1234567.89"),
            (100, "100.00"), ("  500 ", "500.00"), (0.1, "0.10")]
    bad = ["100万元", "1.234", -5, "12,34", "¥100", "", True]
    rows = read_workbook(filing(tmp_path, 还款解保=[REPAY_HEADER] +
                                [["G1", "2026-03-07", v] for v, _ in good] +
                                [["G1", "2026-03-07", v] for v in bad]), [REPAY], "f").rows["repay"]
    assert [r.record.principal for r in rows[:len(good)]] == [Decimal(t) for _, t in good]
    assert issues_of(rows[len(good):]) == [
        (8, "C", "cell.money"), (9, "C", "cell.money"), (10, "C", "cell.money"),
        (11, "C", "cell.money"), (12, "C", "cell.money"), (13, "C", "cell.required"),
        (14, "C", "cell.money")]
    assert "不要带「万」" in rows[len(good)].issues[0].message
    assert rows[len(good)].cells[2] == "100万元"                  # echoed as typed


def test_every_ratio_form(tmp_path):
    fees = [0.017, "1.7%", "１.７％", " 0.017 ", 0.017]
    path = xlsx(tmp_path / "f.xlsx", {"封面": COVER_ROWS, "新增业务": [NEW_HEADERS] + [
        new_row(guarantee_id=f"G{i}", fee_rate=f) for i, f in enumerate(fees + [1.7, "abc", -0.01])]},
        formats={("新增业务", "L6"): "0.0%"})                      # an Excel percent cell
    rows = read_filing(path, "f", "s").rows["new"]
    assert [r.record.fee_rate for r in rows[:5]] == [Decimal("0.017")] * 5
    assert issues_of(rows[5:]) == [(7, "L", "cell.ratio"), (8, "L", "cell.ratio"),
                                   (9, "L", "cell.ratio")]


def test_numeric_identity_number_is_rejected_other_codes_become_text(tmp_path):
    rows = new_sheet(tmp_path,
                     new_row(borrower_id=370102198001011234, bank_id=123.0, guarantee_id="Ｇ２０２６００１"),
                     new_row(borrower_id=" 91370100ma3c4xyz1k ", bank_id=7, loan_contract_no=123456789012345678))
    assert issues_of(rows) == [(2, "C", "id.numeric"), (3, "I", "code.numeric")]
    assert "设为文本格式" in rows[0].issues[0].message
    assert rows[0].cells[:3] == ("Ｇ２０２６００１", "泉城食品", "370102198001011000")   # as Excel shows
    first = read_workbook(filing(tmp_path, 新增业务=[NEW_HEADERS, new_row(
        guarantee_id="Ｇ２０２６００１", bank_id=123.0)]), [NEW], "f").rows["new"][0].record
    assert first.guarantee_id == "G2026001" and first.bank_id == "123"


def test_choices_and_yes_no(tmp_path):
    yes = ["是", "Y", "yes", "TRUE", 1, True, "ｙｅｓ"]
    no = ["否", "n", "No", "false", 0, False]
    rows = new_sheet(tmp_path, *[new_row(guarantee_id=f"G{i}", fund_cover=v, product="bl")
                                 for i, v in enumerate(yes + no)],
                     new_row(fund_cover="也许"), new_row(borrower_type="大型企业", industry="Z"))
    assert [r.record.fund_cover for r in rows[:13]] == [True] * 7 + [False] * 6
    assert {r.record.product for r in rows[:13]} == {Product.BL}
    assert issues_of(rows[13:]) == [(15, "P", "cell.yesno"), (16, "D", "cell.choice"),
                                    (16, "E", "cell.choice")]
    assert "中型企业、小型企业" in rows[14].issues[0].message


def test_required_blank_optional_defaults_and_every_bad_cell_listed(tmp_path):
    rows = new_sheet(tmp_path, new_row(borrower_name=None, fund_cover=None, loan_amount="x",
                                       start_date="?"),
                     new_row(fund_cover=None, industry=None, county="   "))
    assert issues_of(rows[:1]) == [(2, "B", "cell.required"), (2, "J", "cell.money"),
                                   (2, "M", "cell.date")]
    assert rows[0].record is None and rows[0].cells[9] == "x"
    ok = rows[1].record
    assert isinstance(ok, NewGuarantee)
    assert (ok.fund_cover, ok.industry, ok.county, ok.counter_amount, ok.reguarantor_share) == \
        (False, None, None, None, None)
    result = read_filing(filing(tmp_path, 代偿=[["业务编号", "代偿日期", "代偿本金", "是否申请补偿"],
                                                ["G1", "2026-03-07", 10, "否"]],
                                追偿=[["业务编号", "回收日期", "回收金额", "追偿费用"],
                                      ["G1", "2026-03-08", 5, None]]), "f", "s")
    default, recovery = result.rows["default"][0].record, result.rows["recover"][0].record
    assert isinstance(default, Default) and default.interest == Decimal("0.00") and not default.claim
    assert isinstance(recovery, Recovery) and recovery.costs == Decimal("0.00")


def test_formula_without_a_stored_result(tmp_path):
    path = filing(tmp_path, 还款解保=[REPAY_HEADER, ["G1", "2026-03-07", "=1000*2", "是"],
                                    ["G2", "2026-03-07", "#N/A", "否"]])
    rows = read_filing(path, "f", "s").rows["repay"]
    assert issues_of(rows) == [(2, "C", "cell.formula"), (3, "C", "cell.error")]
    assert "公式" in rows[0].issues[0].message


def test_xlsxwriter_formulas_cache_zero_unless_told_otherwise(tmp_path):
    path = tmp_path / "w.xlsx"
    book = xlsxwriter.Workbook(str(path))
    for title in ("封面", "还款解保"):
        book.add_worksheet(title)
    cover, repay = book.worksheets()
    for r, (label, value) in enumerate(COVER_ROWS):
        cover.write_row(r, 0, [label, value])
    repay.write_row(0, 0, REPAY_HEADER)
    repay.write_row(1, 0, ["G1", "2026-03-07"])
    repay.write_formula(1, 2, "=A9*2")                   # xlsxwriter stores 0 as the result
    repay.write_row(2, 0, ["G2", "2026-03-07"])
    repay.write_formula(2, 2, "=A9*2", None, "")          # no stored result
    repay.write_row(3, 0, ["G3", "2026-03-07"])
    repay.write_formula(3, 2, "=1/0", None, "#DIV/0!")
    repay.write_row(4, 0, ["G4", "2026-03-07", "#VALUE!"])   # an error pasted as text
    book.close()
    rows = read_filing(path, "f", "s").rows["repay"]
    assert rows[0].record.principal == Decimal("0.00")
    assert issues_of(rows[1:]) == [(3, "C", "cell.formula"), (4, "C", "cell.error"),
                                   (5, "C", "cell.error")]


def test_reference_sheets_list_int_number_and_settings_defaults(tmp_path):
    members = [[c.header for c in MEMBERS.columns],
               ["M001", "甲", "济南市", "正常", "2020-01-01", None, 1e8, 15, "BL,ZY；LD 、YB", None, "8%"]]
    products = [["产品代码", "产品名称", "生效日期", "银行比例", "担保机构比例", "再担保比例", "补偿基金比例",
                 "地方财政比例", "再担保费率", "最长期限(月)"],
                ["BL", "比例分险", "2018-01-01", 0.2, 0.4, 0.25, 0.15, 0, "0.5%", "36"],
                ["ZY", "政银担", "2018-01-01", 0.2, 0.4, 0.3, 0, 0.1, 0.005, 36.5]]
    path = xlsx(tmp_path / "ref.xlsx", {"体系成员": members, "产品规则": products,
                                        "参数": [["参数说明"], ["单户集中度上限", "12%"]]})
    book = read_workbook(path, [MEMBERS, PRODUCTS, SETTINGS], "基础数据.xlsx")
    member = book.rows["members"][0].record
    assert member["products"] == ("BL", "ZY", "LD", "YB") and member["emails"] == ()
    assert member["leverage_cap"] == Decimal("15") and member["concentration_cap"] == Decimal("0.08")
    assert member["where"].row == 2 and member["terminated"] is None
    assert book.rows["products"][0].record["max_term_months"] == 36
    assert book.rows["products"][0].record["borrower_cap"] is None        # a blank cap is no cap
    assert book.rows["products"][0].record["borrower_types"] == ()
    assert issues_of(book.rows["products"]) == [(3, "J", "cell.int")]
    assert book.labels["settings"] == {"assumed_default_rate": Decimal("0.05"),
                                       "assumed_fund_share": Decimal("0.15"),
                                       "leverage_warning": Decimal("0.9"),
                                       "concentration_cap": Decimal("0.12")}
    assert book.label_where["settings"]["concentration_cap"].row == 2
    assert book.present == frozenset({"members", "products", "settings"})
    assert book.headers["products"][-1] == "最长期限(月)"


# ---- the cover -------------------------------------------------------------------------

def cover_of(tmp_path: Path, rows: list[list[object]], name: str = "c.xlsx"):
    return read_filing(xlsx(tmp_path / name, {"封面": rows}), name, "sha")


def test_cover_read_with_period_forms_and_defaults(tmp_path):
    for period in ("2026-03", "2026/03", "2026年3月", date(2026, 3, 1), "２０２６－０３"):
        result = cover_of(tmp_path, [["业务报送表"], ["机构编号 ", " M001"], ["机构名称", "甲"],
                                     ["报送期间", period], ["報送類型"], ["报送类型", "更正"],
                                     ["模板版本", 1]])
        assert result.issues == () and result.readable
        assert result.cover.period == "2026-03" and result.cover.kind == "更正"
        assert result.cover.member_id == "M001" and result.cover.template_version == "1"
    blank_version = cover_of(tmp_path, COVER_ROWS)
    assert blank_version.cover.template_version == "1.0" and blank_version.issues == ()


def test_cover_problems(tmp_path):
    missing = read_filing(xlsx(tmp_path / "m.xlsx", {"新增业务": []}), "m.xlsx", "s")
    assert missing.cover is None and [i.code for i in missing.issues] == ["cover.missing"]
    no_id = cover_of(tmp_path, COVER_ROWS[1:])
    assert no_id.cover is None and [i.code for i in no_id.issues] == ["label.required"]
    assert "机构编号" in no_id.issues[0].message
    bad = cover_of(tmp_path, [["机构编号", "M001"], ["机构名称", "甲"], ["报送期间", "2026-13"],
                              ["报送类型", "补报"]])
    assert bad.cover is None
    assert [(i.where.row, i.where.column, i.code) for i in bad.issues] == [
        (3, "B", "cell.period"), (4, "B", "cell.choice")]
    version = cover_of(tmp_path, COVER_ROWS + [["模板版本", "2.0"]])
    assert [i.code for i in version.issues] == ["cover.version"] and not version.readable
    assert version.cover.member_id == "M001"            # still names the member for the receipt
    twice = cover_of(tmp_path, COVER_ROWS + [["机构编号", "M002"]])
    assert [i.code for i in twice.issues] == ["label.duplicate"] and twice.cover.member_id == "M001"


# ---- files that cannot be read -----------------------------------------------------------

@pytest.mark.parametrize("content", [b"", b"hello, not a workbook", b"PK\x03\x04 truncated zip",
                                     b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600])
def test_unreadable_file_is_one_issue(tmp_path, content):
    path = tmp_path / "bad.xlsx"
    path.write_bytes(content)
    result = read_filing(path, "M001/bad.xlsx", "sha")
    assert [(i.code, i.where.file) for i in result.issues] == [("file.unreadable", "M001/bad.xlsx")]
    assert result.cover is None and not result.readable
    assert "另存为 .xlsx" in result.issues[0].message
    assert all(rows == () for rows in result.rows.values())


def test_truncated_real_workbook_and_missing_file(tmp_path):
    whole = (FIXTURES / "lo" / "filing_lo.xlsx").read_bytes()
    (tmp_path / "cut.xlsx").write_bytes(whole[: len(whole) // 2])
    for path in (tmp_path / "cut.xlsx", tmp_path / "nowhere.xlsx"):
        assert [i.code for i in read_filing(path, "x", "s").issues] == ["file.unreadable"]


def test_a_zip_that_is_not_a_workbook(tmp_path):
    with zipfile.ZipFile(tmp_path / "z.xlsx", "w") as archive:
        archive.writestr("readme.txt", "hi")
    assert [i.code for i in read_filing(tmp_path / "z.xlsx", "z", "s").issues] == ["file.unreadable"]


@pytest.mark.parametrize("name", ["encrypted.xlsx", "encrypted.xls", "encrypted.ods"])
def test_password_protected_files(name, tmp_path):
    result = read_filing(FIXTURES / "encrypted" / name, name, "sha")
    assert [i.code for i in result.issues] == ["file.encrypted"] and result.cover is None
    renamed = tmp_path / "renamed.xls"                         # encrypted OOXML saved as .xls
    shutil.copyfile(FIXTURES / "encrypted" / "encrypted.xlsx", renamed)
    assert [i.code for i in read_filing(renamed, "r", "s").issues] == ["file.encrypted"]


def test_a_renamed_xls_still_reads(tmp_path):
    renamed = tmp_path / "filing.xlsx"
    shutil.copyfile(FIXTURES / "lo" / "filing_lo.xls", renamed)
    result = read_filing(renamed, "filing.xlsx", "sha")
    assert result.issues == () and len(result.rows["new"]) == 3


# ---- codes and properties ----------------------------------------------------------------

def test_every_emitted_code_is_documented():
    source = "".join((Path(read.__file__).parent / f).read_text()
                     for f in ("read.py", "grid.py", "cells.py"))
    emitted = set(re.findall(r'(?:Issue|Bad)\(\s*"([a-z]+\.[a-z_]+)"', source))
    assert emitted and emitted <= set(ISSUE_CODES)
    assert {"file.unreadable", "file.encrypted", "cover.missing", "cover.version", "id.numeric",
            "cell.formula", "cell.error", "header.missing", "header.duplicate"} <= emitted
    assert all(re.search(r"[\u4e00-\u9fff]", meaning) for meaning in ISSUE_CODES.values())


@given(st.decimals(min_value=0, max_value=Decimal("9999999999999.99"), places=2))
def test_a_money_number_cell_reads_back_exactly(amount):
    column = REPAY.column("principal")
    assert cells.parse(column, float(amount)) == amount
    assert cells.parse(column, f"{amount:,}") == amount


@given(st.dates(min_value=date(1990, 1, 1), max_value=date(2099, 12, 31)))
def test_text_dates_read_back(day):
    column = REPAY.column("date")
    for text in (day.isoformat(), f"{day.year}/{day.month}/{day.day}",
                 f"{day.year}年{day.month}月{day.day}日"):
        assert cells.parse(column, text) == day


def test_filing_sheets_and_cover_schema_are_what_the_reader_expects():
    assert FILING_SHEETS[0] is COVER and COVER.labels
    assert {s.record for s in (NEW, REPAY, DEFAULT, RECOVER)} == \
        {NewGuarantee, Repayment, Default, Recovery}


# ---- the XML scan for what calamine reads as blank ---------------------------------------

def _zip_xlsx(sheet_xml: str) -> bytes:
    import io
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("xl/workbook.xml",
                         '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
                         ' xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/'
                         'relationships"><sheets><sheet name="S" sheetId="1" r:id="rId1"/></sheets>'
                         '</workbook>')
        archive.writestr("xl/_rels/workbook.xml.rels",
                         '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/'
                         'relationships"><Relationship Id="rId1" Target="/xl/worksheets/s.xml"/>'
                         '</Relationships>')
        archive.writestr("xl/worksheets/s.xml", sheet_xml)
    return buffer.getvalue()


MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
CELLS = ('<c r="B2" t="e"><f>1/0</f><v>#DIV/0!</v></c><c r="C2"><f>A1</f><v/></c>'
         '<c r="D2" t="str"><f>""</f><v></v></c><c r="E2"><f>A1</f><v>3</v></c>'
         '<c r="F2" t="e"><v>#N/A</v></c><c r="G2" t="s"><v>0</v></c>')
EXPECTED = {(1, 1): ("error", "#DIV/0!"), (1, 2): ("formula", ""), (1, 5): ("error", "#N/A")}


def test_scan_finds_errors_and_formulas_without_results():
    plain = f'<worksheet xmlns="{MAIN}"><sheetData><row r="2">{CELLS}</row></sheetData></worksheet>'
    assert sheetxml.scan(_zip_xlsx(plain), {"S"}) == {"S": EXPECTED}
    assert sheetxml.scan(_zip_xlsx(plain), {"other"}) == {}


def test_scan_falls_back_to_the_full_parser_for_prefixes_and_cells_without_ref():
    prefixed = (f'<x:worksheet xmlns:x="{MAIN}"><x:sheetData><x:row r="2">'
                + CELLS.replace("<", "<x:").replace("<x:/", "</x:") + "</x:row></x:sheetData></x:worksheet>")
    assert sheetxml.scan(_zip_xlsx(prefixed), {"S"}) == {"S": EXPECTED}
    no_ref = (f'<worksheet xmlns="{MAIN}"><sheetData><row><c><v>1</v></c><c><f>A1</f></c></row>'
              '<row><c t="e"><v>#REF!</v></c></row></sheetData></worksheet>')
    assert sheetxml.scan(_zip_xlsx(no_ref), {"S"}) == {"S": {(0, 1): ("formula", ""),
                                                            (1, 0): ("error", "#REF!")}}


def test_scan_ignores_what_it_cannot_read():
    assert sheetxml.scan(b"not a zip", {"S"}) == {}
    assert sheetxml.scan(_zip_xlsx("<worksheet><sheetData><row"), {"S"}) == {}


def test_scan_an_error_cell_without_ref():
    no_ref = (f'<worksheet xmlns="{MAIN}"><sheetData><row r="3"><c><v>1</v></c><c t="e"><v>#REF!</v>'
              '</c></row></sheetData></worksheet>')
    assert sheetxml.scan(_zip_xlsx(no_ref), {"S"}) == {"S": {(2, 1): ("error", "#REF!")}}


def test_scan_ods_repeated_cells_and_formula_without_value():
    import io
    table = "urn:oasis:names:tc:opendocument:xmlns:table:1.0"
    content = (
        '<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0"'
        f' xmlns:table="{table}" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"'
        ' xmlns:calcext="urn:org:documentfoundation:names:experimental:calc:xmlns:calcext:1.0">'
        '<office:body><office:spreadsheet><table:table table:name="S">'
        '<table:table-row table:number-rows-repeated="2"><table:table-cell/></table:table-row>'
        '<table:table-row><table:table-cell table:number-columns-repeated="2"/>'
        '<table:table-cell table:formula="of:=[.A1]"/>'
        '<table:table-cell table:formula="of:=NA()" office:value-type="string"'
        ' calcext:value-type="error"><text:p>#N/A</text:p></table:table-cell>'
        '<table:table-cell table:formula="of:=1" office:value-type="float" office:value="1"/>'
        '</table:table-row></table:table></office:spreadsheet></office:body>'
        '</office:document-content>')
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet")
        archive.writestr("content.xml", content)
    assert sheetxml.scan(buffer.getvalue(), {"S"}) == {
        "S": {(2, 2): ("formula", ""), (2, 3): ("error", "#N/A")}}


def test_an_xlsm_reads_like_an_xlsx(tmp_path):
    macro = tmp_path / "filing.xlsm"
    shutil.copyfile(FIXTURES / "lo" / "filing_lo.xlsx", macro)
    result = read_filing(macro, "filing.xlsm", "sha")
    assert result.issues == () and len(result.rows["new"]) == 3


# ---- the fast way gives the long way's answer --------------------------------------------

# One column of each way a column can read (kind, required, default, choices, identity).
COLUMN_KINDS = list({(c.kind, c.required, c.default, c.choices, c.key in cells.IDENTITY_KEYS): c
                     for sheet in (*FILING_SHEETS, *REFERENCE_SHEETS)
                     for c in sheet.columns}.values())
cell_values = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["", "  ", "#N/A", " #REF! ", "a\x01b", "\r\nx", "Ｍ００１", " M001 ", "是", "bl",
                     "1,234.50", "1.7%", "2026-03-07", "2026年3月", "x" * 30, "是否"]),
    st.floats(), st.sampled_from([0.0, -0.0, 1.0, 0.5, 0.017, 1234.5, 420000.0, 1e15,
                                  999999999999999.9, 1e-7, 0.1 + 0.2, float("nan")]),
    st.integers(-10**16, 10**16), st.booleans(), st.dates(), st.datetimes(), st.times())


def _answer(cell: cells.Cell) -> tuple:
    """A cell read, comparable: values by repr (Decimal("1.0") == Decimal("1.00")), Bad by text."""
    typed, shown, bad, blank = cell
    return repr(typed), shown, bad and (bad.code, bad.message), blank


def _through(converter: cells.Converter, value: object) -> cells.Cell:
    """How a row reads one cell: the memo, then the shortcut, then the long way."""
    memo, shortcut, slow = converter
    cell = memo.get(value)
    return cell if cell is not None else shortcut(value) or slow(value)


@pytest.mark.parametrize("column", COLUMN_KINDS, ids=lambda c: c.key)
@given(values=st.lists(cell_values, max_size=8), needed=st.booleans(),
       max_chars=st.sampled_from([3, 12, 2000]))
def test_a_converter_reads_any_cells_in_any_order_as_convert_does(column, values, needed,
                                                                   max_chars):
    converter = cells.converter(column, needed, max_chars)
    for value in values * 2:                      # the second time round, from the memo
        assert _answer(_through(converter, value)) == \
            _answer(cells.convert(column, value, needed, max_chars)), value


def test_equal_values_of_different_types_never_share_a_memo_entry():
    values = [0.5, 1.0, 1, True, 0.0, -0.0, 0, False, "1", date(2026, 3, 7),
              datetime(2026, 3, 7), float("nan"), float("inf")]
    for column in (NEW.column("fee_rate"), NEW.column("loan_amount"), NEW.column("fund_cover"),
                   REPAY.column("date"), NEW.column("guarantee_id")):
        converter = cells.converter(column, True, 2000)
        for value in values * 2:
            assert _answer(_through(converter, value)) == \
                _answer(cells.convert(column, value, True, 2000)), (column.key, value)


def test_repeated_cells_share_one_value(tmp_path):
    rows = new_sheet(tmp_path, new_row(), new_row(guarantee_id="G2"))
    first, second = (r.record for r in rows)
    assert first.start_date is second.start_date and first.fee_rate is second.fee_rate
    assert first.guarantee_id == "G1" and second.guarantee_id == "G2"


def test_a_failure_while_calamine_hands_over_rows_makes_the_file_unreadable(tmp_path, monkeypatch):
    class Panic(BaseException):                   # what a Rust panic arrives as
        pass

    def failing(lines, name):
        def rows():
            yield next(lines)
            raise Panic("boom")
        return guarded(rows(), name)
    guarded = read._guarded
    monkeypatch.setattr(read, "_guarded", failing)
    loans = [new_row(guarantee_id=f"G{n}") for n in range(15)]    # past the rows held for a header
    result = read_filing(filing(tmp_path, 新增业务=[NEW_HEADERS, *loans]), "f.xlsx", "sha")
    assert [i.code for i in result.issues] == ["file.unreadable"] and "Panic: boom" in \
        result.issues[0].message
    assert result.cover is None and result.rows["new"] == ()
    lines = guarded(iter([["a"], ["b"]]), "f.xlsx")
    assert next(lines) == ["a"]
    lines.close()                                 # left early: no error


def test_only_sheets_that_may_hold_marks_are_scanned():
    import io
    for row, expected in (('<c r="B2"><v>1</v></c>', frozenset({"S"})), (CELLS, frozenset())):
        xml = f'<worksheet xmlns="{MAIN}"><sheetData><row r="2">{row}</row></sheetData></worksheet>'
        assert sheetreach.survey(zipfile.ZipFile(io.BytesIO(_zip_xlsx(xml)))).plain == expected
    filters = [f.pattern for f in sheetxml._HINT_FILTERS] + [b"'"]
    assert all(any(f in hint for f in filters) for hint in sheetxml._XLSX_HINTS)
    assert all(any(f in needle for f in sheetreach.DTD_FILTER) for needle in sheetreach.DTD)


@pytest.mark.parametrize("row", [
    '<c r="B2"><v>1</v></c><c r="AB7" s="3"/>',                 # an empty styled cell is no reach
    '<c r="B2" s="1" t="n"><v>1</v></c><c r="C2" t="inlineStr"><is><t>x</t></is></c>',
    '<c s="1" r="B2"><v>1</v></c>',                              # r not first
    '<c  r="C3"\tt="n" ><v>1</v></c>',                           # other whitespace
    '<c r="D4" cm="1"><v>1</v></c>',                             # another attribute
    "<c r='D4'><v>1</v></c>",                                    # single quotes: parsed
    '<c><v>1</v></c><c><v>2</v></c>',                            # no r: parsed
])
def test_the_quick_extent_is_the_parsers_for_every_spelling(row):
    import io
    xml = (f'<worksheet xmlns="{MAIN}"><sheetData><row r="2" hidden="1">{row}</row></sheetData>'
           '</worksheet>')
    expected = sheetreach._xlsx_full_extent(io.BytesIO(xml.encode()))
    assert sheetreach.extents(zipfile.ZipFile(io.BytesIO(_zip_xlsx(xml)))) == {"S": expected}
