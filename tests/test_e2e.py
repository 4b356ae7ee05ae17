"""The command line on a home whose workbooks were saved by LibreOffice (.xlsx, .xls, .ods).

Every output is re-opened by openpyxl (not our own reader) and checked against the others:
the reconciliation's totals equal the sums of the receipts, and the fund statement balances.
"""
from __future__ import annotations

import json
import shutil
import subprocess
from decimal import Decimal as D
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner

from batch.cli import cli
from batch.reports.figures import TOTAL_LABELS

LO_HOME = Path(__file__).parent / "fixtures" / "lo_home"
SHARE_COLUMNS = ("银行分担", "担保机构分担", "再担保分担", "补偿基金分担", "地方财政分担", "再担保费")


@pytest.fixture(scope="module")
def night(tmp_path_factory):
    home = tmp_path_factory.mktemp("home")
    shutil.copytree(LO_HOME, home, dirs_exist_ok=True)
    result = CliRunner().invoke(cli, ["--home", str(home), "run", "--date", "2026-03-31",
                                      "--settle", "0"])
    run_dir = next((home / "outbox").iterdir())
    return home, result, run_dir, json.loads((run_dir / "run.json").read_text("utf-8"))


def test_exit_code_and_file_verdicts(night):
    home, result, _, run = night
    assert result.exit_code == 1, result.output              # some rows were rejected
    assert {f["name"]: f["status"] for f in run["files"]} == {
        "M001/M001_2026-03.xlsx": "partial", "M002/M002_2026-03.xls": "partial",
        "M003_2026-03.ods": "accepted"}
    assert not [p for p in (home / "inbox").rglob("*") if p.is_file()]
    for f in run["files"]:
        assert (home / f["destination"]).is_file()
        assert f["destination"].startswith("archive/2026-03-31/")


def test_run_json_totals_are_the_worked_numbers(night):
    totals = night[3]["totals"]
    assert totals["new_count"] == 4
    assert totals["new_loan_principal"] == "16750000.00"   # 375万 + 1000万 + 200万 + 100万
    assert totals["compensation_reguarantor"] == "937500.00"
    assert totals["compensation_fund"] == "562500.00"
    assert totals["recovery_total"] == "1000000.00"
    assert totals["recovery_fund"] == "150000.00"
    assert totals["fund_opening"] == "0.00"
    assert totals["fund_closing"] == "222587500.00"       # 2.23亿 − 56.25万 + 15万
    assert totals["fund_pending"] == "0.00"
    assert totals["fund_capacity"] == "29678333333.33"


def receipt_rows(path: Path, sheet: str) -> list[dict]:
    ws = openpyxl.load_workbook(path)[sheet]
    rows = list(ws.iter_rows(values_only=True))
    return [dict(zip(rows[0], r)) for r in rows[1:] if r[0] is not None and r[0] != "合计"]


def test_receipts_name_row_column_and_reason(night):
    _, _, run_dir, _ = night
    rows = receipt_rows(run_dir / "回执" / "M001_2026-03_1.xlsx", "新增业务")
    assert [(r["原行号"], r["状态"]) for r in rows] == [(2, "通过"), (3, "通过"), (4, "退回")]
    assert "证件号码" in rows[2]["说明"] and "校验" in rows[2]["说明"]
    assert rows[0]["再担保分担"] == 937500 and rows[0]["补偿基金分担"] == 562500
    m002 = receipt_rows(run_dir / "回执" / "M002_2026-03_1.xlsx", "新增业务")
    assert m002[1]["状态"] == "退回" and "B09" in m002[1]["说明"]


def summary_figures(path: Path) -> dict[str, object]:
    ws = openpyxl.load_workbook(path)["汇总"]
    return {r[0]: r[1] for r in ws.iter_rows(values_only=True) if r and r[0]}


def test_reconciliation_totals_equal_the_sum_of_the_receipts(night):
    _, _, run_dir, _ = night
    sums = {c: D(0) for c in SHARE_COLUMNS}
    for receipt in (run_dir / "回执").iterdir():
        for sheet in ("代偿",):
            for r in receipt_rows(receipt, sheet) if sheet in openpyxl.load_workbook(receipt).sheetnames else ():
                if r["状态"] == "通过":
                    for c in SHARE_COLUMNS[:5]:
                        sums[c] += D(str(r[c] or 0))
        wb = openpyxl.load_workbook(receipt)
        if "新增业务" in wb.sheetnames:
            sums["再担保费"] += sum(D(str(r["再担保费"] or 0)) for r in receipt_rows(receipt, "新增业务")
                                  if r["状态"] == "通过")
    figures = summary_figures(run_dir / "对账汇总.xlsx")
    assert D(str(figures[TOTAL_LABELS["compensation_reguarantor"]])) == sums["再担保分担"]
    assert D(str(figures[TOTAL_LABELS["compensation_fund"]])) == sums["补偿基金分担"]
    assert D(str(figures[TOTAL_LABELS["fees"]])) == sums["再担保费"]
    by_member = openpyxl.load_workbook(run_dir / "对账汇总.xlsx")["按机构"]
    rows = list(by_member.iter_rows(values_only=True))
    header, total = rows[0], next(r for r in rows if r[0] == "合计")
    body = [r for r in rows[1:] if r[0] not in (None, "合计")]
    for i, name in enumerate(header):
        if isinstance(total[i], (int, float)) and name not in ("放大倍数", "放大倍数上限"):
            assert D(str(total[i])) == sum(D(str(r[i] or 0)) for r in body), name


def test_fund_statement_balances(night):
    _, _, run_dir, run = night
    ws = openpyxl.load_workbook(run_dir / "代偿补偿资金对账单.xlsx")["对账单"]
    values = list(ws.iter_rows(values_only=True))

    def figure(label: str) -> D:
        """The number right of ``label`` in the statement's summary block."""
        for r in values:
            if label in r and isinstance(r[r.index(label) + 1], (int, float)):
                return D(str(r[r.index(label) + 1]))
        raise KeyError(label)

    opening, closing = figure("期初余额"), figure("期末余额")
    header_at = next(i for i, r in enumerate(values) if r and "金额" in r and "日期" in r)
    amount_col = values[header_at].index("金额")
    moves = [D(str(r[amount_col])) for r in values[header_at + 1:]
             if r and isinstance(r[amount_col], (int, float)) and r[0] not in (None, "合计")]
    assert opening + sum(m for m in moves if m > 0) - sum(-m for m in moves if m < 0) == closing
    assert closing == D(run["totals"]["fund_closing"])
    assert figure("本期流入") == D("223150000") and figure("本期流出") == D("562500")
    dates = [r[0].date().isoformat() for r in values[header_at + 1:] if r and r[0] is not None
             and hasattr(r[0], "date")]
    assert dates == ["2026-01-01", "2026-03-31", "2026-03-31"]   # finance's own date is kept


def test_money_cells_are_numbers_with_a_money_format(night):
    _, _, run_dir, _ = night
    ws = openpyxl.load_workbook(run_dir / "对账汇总.xlsx")["明细"]
    header = [c.value for c in ws[1]]
    money = ws.cell(row=2, column=header.index("金额") + 1)
    assert money.value == 3750000 and "#,##0.00" in money.number_format
    day = ws.cell(row=2, column=header.index("日期") + 1)
    assert day.is_date and day.value.date().isoformat() == "2026-01-05"
    assert ws.freeze_panes is not None


def test_a_second_run_takes_the_same_bytes_as_duplicates(night, tmp_path):
    home = night[0]
    again = home / "inbox" / "M001" / "再次报送.xlsx"
    again.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(LO_HOME / "inbox" / "M001" / "M001_2026-03.xlsx", again)
    result = CliRunner().invoke(cli, ["--home", str(home), "run", "--date", "2026-04-01",
                                      "--settle", "0"])
    assert result.exit_code == 0, result.output
    latest = sorted((home / "outbox").iterdir())[-1]
    run = json.loads((latest / "run.json").read_text("utf-8"))
    assert [f["status"] for f in run["files"]] == ["duplicate"]
    assert run["totals"]["new_count"] == 0 and run["totals"]["fund_closing"] == "222587500.00"


def test_outputs_open_in_libreoffice(night, tmp_path):
    _, _, run_dir, _ = night
    for name in ("对账汇总.xlsx", "代偿补偿资金对账单.xlsx"):
        subprocess.run(["soffice", "--headless", "--convert-to", "pdf", "--outdir", str(tmp_path),
                        str(run_dir / name)], check=True, capture_output=True, timeout=240)
        pdf = tmp_path / name.replace(".xlsx", ".pdf")
        assert pdf.stat().st_size > 5000 and pdf.read_bytes().startswith(b"%PDF")
