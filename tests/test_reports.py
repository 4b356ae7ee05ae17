"""Reports: every workbook re-opened with openpyxl and read like finance or a member would."""
from __future__ import annotations

import json
import zipfile
from dataclasses import replace
from datetime import date, datetime
from decimal import Decimal as D
from pathlib import Path

import openpyxl
import pytest

from batch import behind, pipeline, schema
from batch.home import Home
from batch.model import (PARTIES, Claim, Cover, Filing, FundKind, FundMove, Issue, Kind,
                         NewGuarantee, Party, Posting, Product, Row, Source, Where)
from batch.outcome import (FilingOutcome, MemberPosition, Position, RowOutcome, RunOutcome)
from batch.reports import (DEFAULT_PRODUCT_RULES, write_filing_template, write_fund_statement,
                           write_receipt, write_reconciliation, write_reference_template,
                           write_run_json)
from batch.reports import reconciliation
from batch.reports.figures import detail_lines
from batch.reports.xlsx import atomic_workbook, display_width

MONEY = "#,##0.00"
NASTY = ("=1+1", "+86 531", "-5", "@SUM(A1)", "http://example.com")
FILE = "M001_2026-03.xlsx"
SHA = "ab" * 32


def shares(*amounts: str) -> dict[Party, D]:
    return dict(zip(PARTIES, map(D, amounts)))


def new_layout() -> dict[str, tuple[str, str]]:
    return {c.key: (chr(ord("A") + i), c.header) for i, c in enumerate(schema.NEW.columns)}


def new_cells(gid: str, name: str, borrower_id: str) -> tuple[str, ...]:
    return (gid, name, borrower_id, "小型企业", "C", "济南市", "历下区", "B001", "HT-001",
            "3750000", "3000000", "0.017", "2016-03-07", "2017-03-06", "BL", "是", "", "")


def guarantee(where: Where) -> NewGuarantee:
    return NewGuarantee(where, "G001", "山东齐聚建材", "91370100MA3C0000X1", "小型企业", "C",
                        "济南市", "历下区", "B001", "HT-001", D("3750000.00"), D("3000000.00"),
                        D("0.017"), date(2016, 3, 7), date(2017, 3, 6), Product.BL, True)


def src(sheet: str, row: int, file: str = FILE) -> Source:
    return Source(SHA, file, sheet, row)


def member_filing() -> FilingOutcome:
    layout = new_layout()
    w2 = Where(FILE, "新增业务", 2, layout=layout)
    w3 = Where(FILE, "新增业务", 3, layout=layout)
    g = guarantee(w2)
    ok = RowOutcome(Row(w2, new_cells("G001", "山东齐聚建材", "91370100MA3C0000X1"), g),
                    issues=(Issue("lev.warning", w2, "杠杆已达上限的 90%", "warning"),),
                    shares=shares("750000", "1500000", "937500", "562500", "0"),
                    fee=D("15000.00"), note="已备案")
    bad = RowOutcome(Row(w3, new_cells("G002", NASTY[0], NASTY[1]), None),
                     issues=(Issue("id.check", w3.at("borrower_id"), "证件号码校验位不对"),
                             Issue("date.order", w3.at("start_date"), "放款日期晚于到期日期")))
    wd = Where(FILE, "代偿", 2)
    default = RowOutcome(Row(wd, ("G001", "2026-03-10", "3750000", "0", "是"), None),
                         shares=shares("750000", "1500000", "937500", "562500", "0"))
    wr = Where(FILE, "追偿", 2)
    recover = RowOutcome(Row(wr, ("G001", "2026-03-20", "1000000", NASTY[3]), None),
                         shares=shares("200000", "400000", "250000", "150000", "0"))
    cover = Cover("M001", "济南担保", "2026-03", "正常")
    filing = Filing(FILE, SHA, cover, {}, issues=(), headers={})
    postings = (
        Posting(Kind.REGISTER, "M001", "G001", date(2016, 3, 7), src("new", 2), D("3750000.00"),
                shares("750000", "1500000", "937500", "562500", "0"), fee=D("15000.00"),
                detail=g),
        Posting(Kind.DEFAULT, "M001", "G001", date(2026, 3, 10), src("default", 2),
                D("3750000.00"), shares("750000", "1500000", "937500", "562500", "0")),
        Posting(Kind.RECOVER, "M001", "G001", date(2026, 3, 20), src("recover", 2),
                D("1000000.00"), shares("200000", "400000", "250000", "150000", "0")),
    )
    reversal = Posting(Kind.REGISTER, "M001", "G000", date(2026, 2, 1), src("new", 5, "old.xlsx"),
                       D("100000.00"), shares("20000", "40000", "25000", "15000", "0"),
                       fee=D("500.00"), sign=-1, reverses=f"{SHA}:新增业务:5:1")
    return FilingOutcome(FILE, filing, "M001", "M001", "济南担保", "2026-03", "正常", "partial",
                         rows={"new": (ok, bad), "default": (default,), "recover": (recover,)},
                         issues=(Issue("cover.phone", Where(FILE, "封面", 7, "B", "联系电话"),
                                       "联系电话格式不对", "warning"),),
                         postings=postings, reversals=(reversal,),
                         receipt="回执/M001_2026-03_1.xlsx", destination="archive/2026/M001.xlsx")


def other_filings() -> tuple[FilingOutcome, FilingOutcome]:
    dup = FilingOutcome("dup.xlsx", Filing("dup.xlsx", SHA, None, {}), "M001", "M001", "济南担保",
                        "2026-03", "正常", "duplicate", duplicate_of=FILE,
                        receipt="回执/dup.xlsx", destination="archive/dup.xlsx")
    broken = Issue("file.unreadable", Where("bad.xlsx"), "文件无法打开")
    rejected = FilingOutcome("bad.xlsx", Filing("bad.xlsx", "cd" * 32, None, {}, (broken,)),
                             None, "", "", "", "", "rejected", destination="quarantine/bad.xlsx")
    return dup, rejected


@pytest.fixture
def run() -> RunOutcome:
    filings = (member_filing(), *other_filings())
    moves = (FundMove(date(2026, 3, 10), FundKind.CLAIM_PAID, D("-562500.00"), "M001", "G001",
                      src("default", 2), balance_after=D("222437500.00")),
             FundMove(date(2026, 3, 20), FundKind.RECOVERY, D("150000.00"), "M001", "G001",
                      src("recover", 2), note=NASTY[0], balance_after=D("222587500.00")))
    positions = (      # the open book as the ledger keeps it: by member, bank, product, city
        Position("M002", "B002", "ZY", "青岛市", 1, D("8000000.00"),
                 shares("1600000", "3200000", "2400000", "0", "800000")),
        Position("M001", "B001", "LD", "济南市", 1, D("500000.00"),
                 shares("0", "250000", "250000", "0", "0")),
    )
    members = (MemberPosition("M001", "济南担保", "济南市", "正常", D("10000000.00"), D("10"),
                              D("91000000.00"), D("9.1"), True),
               MemberPosition("M002", "青岛担保", "青岛市", "正常", D("50000000.00"), D("15"),
                              D("6400000.00"), D("0.128"), False))
    claim = Claim("C001", date(2026, 3, 12), "M002", "Z1", D("150000.00"), D("50000.00"),
                  src("default", 3, "M002.xlsx"))
    return RunOutcome(
        "20260321-0200", date(2026, 3, 21), datetime(2026, 3, 21, 2, 0), datetime(2026, 3, 21, 2, 5),
        filings, D("223000000.00"), D("222587500.00"), D("50000.00"), moves,
        ((date(2026, 3, 1), D("223000000.00")), (date(2026, 3, 10), D("222437500.00")),
         (date(2026, 3, 20), D("222587500.00"))), (claim,),
        D("1483916666.67"), D("29678333333.33"), D("0.15"), D("0.05"), positions, members,
        bank_names={"B001": "天津银行", "B002": "青岛银行"},
        exceptions=(Issue("balance.diff", Where("M002.xlsx", "在保余额", 4, "B", "期末在保余额"),
                          "在保余额与台账不符"),),
        totals={"new_count": 0, "new_loan_principal": D("3650000.00"),
                "compensation_reguarantor": D("937500.00")})


def headers(ws, row: int = 1) -> list[object]:
    return [c.value for c in ws[row] if c.value is not None]


def find_row(ws, col: int, value: object) -> int:
    return next(r for r in range(1, ws.max_row + 1) if ws.cell(r, col).value == value)


# ---- receipt --------------------------------------------------------------------------------

def test_receipt_sheets_headers_and_cells(tmp_path: Path, run: RunOutcome) -> None:
    path = tmp_path / "回执" / "M001_2026-03_1.xlsx"
    write_receipt(path, run.filings[0], run.run_id, run.run_date)
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == ["汇总", "新增业务", "代偿", "追偿", "更正对比"]   # it reverses
    ws = wb["新增业务"]
    expected = ["原行号", *(c.header for c in schema.NEW.columns), "状态", "说明",
                *schema.RECEIPT_SHARES, "再担保费"]
    assert headers(ws) == expected
    assert ws.freeze_panes == "B2" and ws.auto_filter.ref
    assert ws["A2"].value == 2 and ws["A3"].value == 3
    status, note = expected.index("状态") + 1, expected.index("说明") + 1
    assert ws.cell(2, status).value == "通过" and ws.cell(3, status).value == "退回"
    assert ws.cell(2, note).value == "提示：杠杆已达上限的 90%；已备案"
    assert ws.cell(3, note).value == "证件号码校验位不对；放款日期晚于到期日期"
    bank = ws.cell(2, expected.index("银行分担") + 1)
    assert bank.value == 750000 and bank.number_format == MONEY and bank.data_type == "n"
    assert ws.cell(2, len(expected)).value == 15000
    assert ws.cell(3, expected.index("银行分担") + 1).value is None


def test_receipt_marks_error_cells_and_keeps_text(tmp_path: Path, run: RunOutcome) -> None:
    path = tmp_path / "r.xlsx"
    write_receipt(path, run.filings[0], run.run_id, run.run_date)
    ws = openpyxl.load_workbook(path)["新增业务"]
    id_cell = ws.cell(3, 1 + 1 + [c.key for c in schema.NEW.columns].index("borrower_id"))
    assert id_cell.comment is not None and "校验位" in id_cell.comment.text
    assert id_cell.fill.fgColor.rgb.endswith("FF9999")
    name = ws.cell(3, 3)
    assert (name.value, name.data_type) == ("=1+1", "s") and name.comment is None
    assert (id_cell.value, id_cell.data_type) == ("+86 531", "s")
    assert ws.cell(3, 1).fill.fgColor.rgb.endswith("FCE4D6")       # rejected row tinted
    assert ws.cell(2, 1).fill.fgColor.rgb in ("00000000", None)
    recover = openpyxl.load_workbook(path)["追偿"]
    assert recover.cell(2, 5).value == "@SUM(A1)" and recover.cell(2, 5).data_type == "s"


def test_receipt_summary(tmp_path: Path, run: RunOutcome) -> None:
    path = tmp_path / "r.xlsx"
    write_receipt(path, run.filings[0], run.run_id, run.run_date)
    ws = openpyxl.load_workbook(path)["汇总"]
    values = {ws.cell(r, 1).value: ws.cell(r, 2).value for r in range(1, ws.max_row + 1)}
    assert values["处理结果"] == "部分退回" and values["机构编号"] == "M001"
    assert values["处理日期"] == datetime(2026, 3, 21)
    total = find_row(ws, 1, "合计")
    assert [ws.cell(total, c).value for c in (2, 3, 4)] == [3, 1, 4]
    assert [ws.cell(total - 5, c).value for c in (1, 2, 3)] == ["新增业务", 1, 1]
    texts = [c.value for row in ws.iter_rows() for c in row if isinstance(c.value, str)]
    assert any("工作表「封面」 第7行 B列（联系电话）" in t for t in texts)


def test_receipt_duplicate_and_rejected(tmp_path: Path, run: RunOutcome) -> None:
    dup, rejected = run.filings[1:]
    write_receipt(tmp_path / "d.xlsx", dup, run.run_id, run.run_date)
    write_receipt(tmp_path / "x.xlsx", rejected, run.run_id, run.run_date)
    wb = openpyxl.load_workbook(tmp_path / "d.xlsx")
    assert wb.sheetnames == ["汇总"]
    texts = [c.value for row in wb["汇总"].iter_rows() for c in row]
    assert f"重复报送（与 {FILE} 相同）" in texts
    texts = [c.value for row in openpyxl.load_workbook(tmp_path / "x.xlsx")["汇总"].iter_rows()
             for c in row]
    assert "整体退回" in texts and "文件无法打开" in texts


# ---- reconciliation -------------------------------------------------------------------------

def test_reconciliation_sheets_and_totals(tmp_path: Path, run: RunOutcome) -> None:
    path = tmp_path / "对账汇总.xlsx"
    write_reconciliation(path, run)
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == ["汇总", "按机构", "按银行", "按产品", "按城市", "文件清单",
                             "异常清单", "明细"]
    for name in ("按机构", "按银行", "按产品", "按城市", "文件清单"):
        ws = wb[name]
        assert ws.freeze_panes.endswith("2") and ws.auto_filter.ref
        total = find_row(ws, 1, "合计")
        for col in range(2, ws.max_column + 1):
            if isinstance(ws.cell(total, col).value, (int, float)):
                column = [ws.cell(r, col).value or 0 for r in range(2, total)]
                assert ws.cell(total, col).value == pytest.approx(sum(column), abs=1e-6)
                if ws.cell(1, col).value.endswith(("金额", "余额", "敞口", "代偿", "回收", "费")):
                    assert ws.cell(total, col).number_format == MONEY


def test_reconciliation_figures(tmp_path: Path, run: RunOutcome) -> None:
    path = tmp_path / "对账汇总.xlsx"
    write_reconciliation(path, run)
    wb = openpyxl.load_workbook(path)
    member = wb["按机构"]
    cols = headers(member)
    m001 = find_row(member, 1, "M001")
    get = lambda header: member.cell(m001, cols.index(header) + 1).value  # noqa: E731
    assert get("新增笔数") == 0                      # one registration, one reversal
    assert get("新增贷款金额") == 3650000
    assert get("再担保代偿") == 937500 and get("补偿基金代偿") == 562500
    assert get("追偿回收") == 1000000 and get("再担保费") == 14500
    assert get("在保余额") == 500000 and get("杠杆预警") == "是"
    assert get("放大倍数") == pytest.approx(9.1)
    bank = wb["按银行"]
    assert bank.cell(find_row(bank, 1, "B002"), 2).value == "青岛银行"
    summary = wb["汇总"]
    check = {summary.cell(r, 1).value: summary.cell(r, 3).value
             for r in range(1, summary.max_row + 1)}
    assert check["新增业务笔数"] == "一致" and check["再担保应付代偿"] == "一致"
    assert check["补偿基金应付代偿"] == "按明细计算"
    detail = wb["明细"]
    assert detail.max_row == 1 + 4
    cols = headers(detail)
    amounts = [detail.cell(r, cols.index("金额") + 1).value for r in range(2, 6)]
    assert amounts == [-100000, 3750000, 3750000, 1000000]          # the reversal comes first
    assert detail.cell(2, cols.index("冲回") + 1).value == "是"
    assert detail.cell(3, cols.index("日期") + 1).value == datetime(2016, 3, 7)
    assert detail.cell(2, cols.index("补偿基金分担") + 1).value == -15000


def test_reconciliation_lists(tmp_path: Path, run: RunOutcome) -> None:
    path = tmp_path / "对账汇总.xlsx"
    write_reconciliation(path, run)
    wb = openpyxl.load_workbook(path)
    files = wb["文件清单"]
    assert [files.cell(r, 1).value for r in range(2, 5)] == [FILE, "dup.xlsx", "bad.xlsx"]
    assert files.cell(2, 6).value == "部分退回" and files.cell(4, 10).value == "quarantine/bad.xlsx"
    exceptions = wb["异常清单"]
    codes = [exceptions.cell(r, 8).value for r in range(2, exceptions.max_row + 1)]
    assert codes == ["cover.phone", "lev.warning", "id.check", "date.order", "file.unreadable",
                     "balance.diff"]
    row = find_row(exceptions, 8, "id.check")
    assert [exceptions.cell(row, c).value for c in (3, 4, 5, 6)] == ["新增业务", 3, "C", "证件号码"]


def unzipped(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as z:
        assert z.testzip() is None
        return {name: z.read(name) for name in z.namelist()}


def rendered_parts(run: RunOutcome, folder: Path, sheet_rows: int) -> tuple:
    """The run's 明细 lines rendered as the workers do, one or two a part, none across sheets."""
    lines, parts, index = list(detail_lines(run)), [], 0
    while index < len(lines):
        sheet_no, row = divmod(index, sheet_rows)
        size = min(2 if index % 3 == 0 else 1, sheet_rows - row, len(lines) - index)
        path = folder / f"{index:06d}.part"
        widths = reconciliation.detail_part(path, row + 1, lines[index:index + size])
        parts.append((sheet_no + 1, path, row + size, widths))
        index += size
    return tuple(parts)


@pytest.mark.parametrize("sheet_rows", [reconciliation.SHEET_ROWS, 3, 2])
def test_detail_from_rendered_parts_unzips_to_the_detail_written_here(
        tmp_path: Path, run: RunOutcome, monkeypatch, sheet_rows: int) -> None:
    """明细 rendered in parts (deflated, as in the workers) and assembled, or written here line
    by line: the workbooks unzip to the same bytes, member by member, split over sheets or not."""
    monkeypatch.setattr(reconciliation, "SHEET_ROWS", sheet_rows)
    write_reconciliation(tmp_path / "here.xlsx", run)
    parts = rendered_parts(run, tmp_path, sheet_rows)
    write_reconciliation(tmp_path / "parts.xlsx", replace(run, detail_parts=parts))
    here = unzipped(tmp_path / "here.xlsx")
    assert unzipped(tmp_path / "parts.xlsx") == here
    sheets = 8 + (4 - 1) // sheet_rows
    assert sum(name.startswith("xl/worksheets/sheet") for name in here) == sheets


def test_a_night_past_a_sheets_last_row_goes_on_in_the_next_sheet(tmp_path: Path,
                                                                  monkeypatch) -> None:
    """A night through the pipeline with room for 3 lines a 明细 sheet (a filing's lines split
    between sheets, rendered by two worker processes): 明细, 明细(2), ... read in order are
    the 明细 of the same night on one sheet."""
    from test_crash import make_home

    def night(root: Path, workers: int) -> openpyxl.Workbook:
        pipeline.run_once(Home(root), date(2026, 3, 31),
                          options=pipeline.Options(settle_seconds=0, workers=workers))
        folder = next(p for p in (root / "outbox").iterdir() if not p.name.startswith("."))
        unzipped(folder / "对账汇总.xlsx")                          # a valid zip, CRCs right
        return openpyxl.load_workbook(folder / "对账汇总.xlsx")

    whole = night(make_home(tmp_path / "whole"), 0)["明细"]
    monkeypatch.setattr(reconciliation, "SHEET_ROWS", 3)
    monkeypatch.setattr(behind, "SHEET_ROWS", 3)
    split = night(make_home(tmp_path / "split"), 2)
    names = [n for n in split.sheetnames if n.startswith("明细")]
    assert names == ["明细"] + [f"明细({n})" for n in range(2, len(names) + 1)]
    rows = [[c.value for c in r] for r in whole.iter_rows()]
    assert len(names) == -(-(len(rows) - 1) // 3) > 2
    joined = [[c.value for c in r] for r in split["明细"].iter_rows()][:1]
    for name in names:
        ws = split[name]
        mine = [[c.value for c in r] for r in ws.iter_rows()]
        assert mine[0] == rows[0] and 2 <= len(mine) <= 4
        assert ws.auto_filter.ref == f"A1:{ws.cell(1, len(rows[0])).column_letter}{len(mine)}"
        assert ws.freeze_panes == "B2"
        joined += mine[1:]
    assert joined == rows


# ---- fund statement -------------------------------------------------------------------------

def test_fund_statement_identity_and_capacity(tmp_path: Path, run: RunOutcome) -> None:
    path = tmp_path / "代偿补偿资金对账单.xlsx"
    write_fund_statement(path, run)
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == ["对账单", "待补偿", "余额走势"]
    ws = wb["对账单"]
    assert ws.freeze_panes == "A6"
    assert headers(ws, 5)[:7] == ["日期", "类型", "机构编号", "机构名称", "业务编号", "金额", "余额"]
    opening, closing = find_row(ws, 2, "期初余额"), find_row(ws, 2, "期末余额")
    amounts = [ws.cell(r, 6).value for r in range(opening + 1, closing)]
    assert ws.cell(opening, 7).value + sum(amounts) == ws.cell(closing, 7).value == 222587500
    assert ws.cell(opening + 1, 1).value == datetime(2026, 3, 10)
    assert ws.cell(opening + 1, 6).number_format == MONEY
    assert ws.cell(closing - 1, 11).value == "=1+1" and ws.cell(closing - 1, 11).data_type == "s"
    values = {ws.cell(r, 5).value: ws.cell(r, 6).value for r in range(closing + 1, ws.max_row + 1)}
    assert values["核对：期初 + 流入 − 流出 = 期末"] == "平衡"
    assert values["本期流入"] == 150000 and values["本期流出"] == 562500
    assert values["可撬动贷款（余额 ÷ 基金比例 ÷ 代偿率）"] == pytest.approx(29678333333.33)
    assert values["测算基金比例"] == pytest.approx(0.15)


def test_fund_statement_pending_and_chart(tmp_path: Path, run: RunOutcome) -> None:
    path = tmp_path / "f.xlsx"
    write_fund_statement(path, run)
    wb = openpyxl.load_workbook(path)
    pending = wb["待补偿"]
    assert headers(pending)[:8] == ["补偿单号", "代偿日期", "机构编号", "机构名称", "业务编号",
                                    "应补偿金额", "已支付", "待补偿"]
    assert [pending.cell(2, c).value for c in (6, 7, 8)] == [150000, 100000, 50000]
    assert pending.cell(3, 1).value == "合计" and pending.cell(3, 8).value == 50000
    history = wb["余额走势"]
    assert history["A4"].value == datetime(2026, 3, 20) and history["B4"].value == 222587500
    with zipfile.ZipFile(path) as z:
        chart = z.read("xl/charts/chart1.xml").decode()
    assert "lineChart" in chart and "余额走势" in chart


# ---- run.json -------------------------------------------------------------------------------

def test_run_json(tmp_path: Path, run: RunOutcome) -> None:
    path = tmp_path / "run.json"
    write_run_json(path, run)
    text = path.read_text(encoding="utf-8")
    assert "济南" not in text or "\\u" not in text
    doc = json.loads(text)
    assert doc["run_id"] == run.run_id and doc["started_at"] == "2026-03-21T02:00:00"
    first = doc["files"][0]
    assert first["status"] == "partial" and first["rows"]["new"] == {"accepted": 1, "rejected": 1}
    assert first["receipt"] == "回执/M001_2026-03_1.xlsx" and first["issues"] == []
    assert doc["files"][1]["duplicate_of"] == FILE
    assert doc["files"][2]["issues"][0]["code"] == "file.unreadable"
    totals = doc["totals"]
    assert totals["new_count"] == 0 and totals["new_loan_principal"] == "3650000.00"
    assert totals["compensation_fund"] == "562500.00" and totals["recovery_fund"] == "150000.00"
    assert totals["fund_opening"] == "223000000.00" and totals["fund_capacity"] == "29678333333.33"
    assert all(isinstance(v, (str, int)) for v in totals.values())
    assert [p.name for p in tmp_path.iterdir()] == ["run.json"]


# ---- templates ------------------------------------------------------------------------------

def test_blank_filing_template(tmp_path: Path) -> None:
    path = tmp_path / "业务报送表.xlsx"
    write_filing_template(path, banks=[("B001", "天津银行")])
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == ["填报说明", *(s.name for s in schema.FILING_SHEETS)]
    cover = wb["封面"]
    assert [cover.cell(r, 1).value for r in range(1, 8)] == [c.header for c in schema.COVER.columns]
    assert cover["B7"].value == schema.TEMPLATE_VERSION and cover["B3"].number_format == "@"
    new = wb["新增业务"]
    assert headers(new) == [c.header for c in schema.NEW.columns]
    assert new.freeze_panes == "A2"
    assert new.column_dimensions["C"].number_format == "@"         # 证件号码
    assert new.column_dimensions["J"].number_format == MONEY
    rules = {str(dv.sqref): dv for dv in new.data_validations.dataValidation}
    assert rules["D2:D501"].type == "list" and "小型企业" in rules["D2:D501"].formula1
    assert rules["H2:H501"].formula1 == '"B001"'
    assert rules["M2:M501"].type == "date" and rules["J2:J501"].type == "decimal"
    assert rules["P2:P501"].formula1 == '"是,否"'
    assert any(dv.type == "list" for dv in cover.data_validations.dataValidation)
    help_text = [c.value for row in wb["填报说明"].iter_rows() for c in row]
    assert "证件号码" in help_text and "天津银行" in help_text


def test_filing_template_with_data_reads_back(tmp_path: Path) -> None:
    path = tmp_path / "filing.xlsx"
    row = {"guarantee_id": "G001", "borrower_name": "=cmd|' /C calc'!A0",
           "borrower_id": "370102198001010011", "borrower_type": "农户", "city": "济南市",
           "bank_id": "B001", "loan_contract_no": "0012345678901234567890",
           "loan_amount": D("3750000.00"), "guaranteed_amount": D("3000000.00"),
           "fee_rate": D("0.017"), "start_date": date(2016, 3, 7),
           "maturity_date": date(2017, 3, 6), "product": Product.BL, "fund_cover": True}
    write_filing_template(path, cover={"member_id": "M001", "member_name": "济南担保",
                                       "period": "2026-03", "kind": "正常"},
                          rows={"new": [row], "repay": [{"guarantee_id": "G001",
                                                        "date": date(2026, 3, 1),
                                                        "principal": D("1000.5"),
                                                        "settled": False}]})
    wb = openpyxl.load_workbook(path)
    cover = wb["封面"]
    assert [cover.cell(r, 2).value for r in range(1, 5)] == ["M001", "济南担保", "2026-03", "正常"]
    assert cover["B3"].data_type == "s"
    new = wb["新增业务"]
    values = {c.header: new.cell(2, i + 1) for i, c in enumerate(schema.NEW.columns)}
    assert values["借款人名称"].value == "=cmd|' /C calc'!A0"
    assert values["借款人名称"].data_type == "s"
    assert values["证件号码"].value == "370102198001010011"
    assert values["证件号码"].number_format == "@"
    assert values["借款合同编号"].value == "0012345678901234567890"
    assert values["贷款金额"].value == 3750000 and values["贷款金额"].number_format == MONEY
    assert values["担保费率"].value == pytest.approx(0.017)
    assert values["放款日期"].value == datetime(2016, 3, 7)
    assert values["再担保产品"].value == "BL" and values["申请代偿补偿"].value == "是"
    assert values["区县"].value is None
    repay = wb["还款解保"]
    assert [repay.cell(2, c).value for c in range(1, 5)] == [
        "G001", datetime(2026, 3, 1), 1000.5, "否"]


def test_long_dropdown_goes_to_hidden_sheet(tmp_path: Path) -> None:
    banks = [(f"B{i:03d}", f"银行{i}") for i in range(80)]
    path = tmp_path / "t.xlsx"
    write_filing_template(path, banks=banks)
    wb = openpyxl.load_workbook(path)
    lists = wb["下拉选项"]
    assert lists.sheet_state == "hidden" and lists["A81"].value == "B079"
    rules = {str(dv.sqref): dv for dv in wb["新增业务"].data_validations.dataValidation}
    assert rules["H2:H501"].formula1 == "'下拉选项'!$A$2:$A$81"


def test_reference_template(tmp_path: Path) -> None:
    path = tmp_path / "基础数据.xlsx"
    data = {"products": DEFAULT_PRODUCT_RULES,
            "members": [{"member_id": "M001", "member_name": "济南担保", "city": "济南市",
                         "status": "正常", "admitted": date(2015, 6, 1),
                         "net_assets": D("10000000.00"), "products": ("BL", "ZY"),
                         "leverage_cap": D("10")}],
            "banks": [{"bank_id": "B001", "bank_name": "天津银行"}]}
    write_reference_template(path, data=data, settings={"assumed_default_rate": D("0.04")})
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == ["填报说明", *(s.name for s in schema.REFERENCE_SHEETS)]
    products = wb["产品规则"]
    assert headers(products) == [c.header for c in schema.PRODUCTS.columns]
    bl = {c.header: products.cell(2, i + 1) for i, c in enumerate(schema.PRODUCTS.columns)}
    assert bl["产品代码"].value == "BL" and bl["产品名称"].value == "比例分险"
    assert bl["再担保比例"].value == pytest.approx(0.25)
    assert bl["再担保比例"].number_format == "0.00%"
    assert bl["单户上限"].value == 5000000 and bl["生效日期"].value == datetime(2015, 1, 1)
    assert bl["适用借款人类型"].value == "小型企业,微型企业,个体工商户,农户,新型农业经营主体"
    assert bl["最长期限(月)"].value == 36 and bl["失效日期"].value is None
    assert products.cell(7, 1).value == "FD" and products.cell(8, 1).value is None
    members = wb["体系成员"]
    assert members["I2"].value == "BL,ZY"
    settings = wb["参数"]
    assert settings["B1"].value == pytest.approx(0.04) and settings["B2"].value == pytest.approx(0.15)
    assert settings["B1"].number_format == "0.00%"
    credit = {str(dv.sqref): dv for dv in wb["授信额度"].data_validations.dataValidation}
    assert credit["B2:B501"].formula1 == '"B001"' and credit["A2:A501"].formula1 == '"M001"'
    assert wb["合作银行"].data_validations.dataValidation == [] or all(
        dv.type != "list" for dv in wb["合作银行"].data_validations.dataValidation)


def test_default_product_rules_sum_to_one() -> None:
    assert [r["product"] for r in DEFAULT_PRODUCT_RULES] == ["BL", "ZY", "LD", "YB", "LH", "FD"]
    keys = {c.key for c in schema.PRODUCTS.columns}
    for rule in DEFAULT_PRODUCT_RULES:
        assert set(rule) <= keys
        assert sum(rule[p.value] for p in PARTIES) == 1


# ---- plumbing -------------------------------------------------------------------------------

def test_atomic_write_leaves_nothing_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "x.xlsx"
    with pytest.raises(RuntimeError):
        with atomic_workbook(target) as book:
            book.sheet("a").text(0, 0, "x")
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_display_width_counts_cjk_double() -> None:
    assert display_width("业务编号") == 8 and display_width("G001") == 4
    assert display_width("（Ａ）") == 6
