"""代偿补偿资金对账单: the fund account's statement for one run.

对账单: opening balance, every movement of the run with its balance and source, closing balance,
the identity check (期初 + 流入 − 流出 = 期末) and the article's capacity figure. 待补偿: the claims
still waiting for money. 余额走势: the balance over time, with a line chart of it.
"""
from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from ..money import ZERO
from ..outcome import RunOutcome
from .figures import sheet_name
from .xlsx import Col, Grid, atomic_workbook, write_pairs, write_table

MOVE_COLS = (Col("日期", "date"), Col("类型"), Col("机构编号"), Col("机构名称"), Col("业务编号"),
             Col("金额", "money"), Col("余额", "money"), Col("来源文件"), Col("工作表"),
             Col("行号", "int"), Col("说明"))
AMOUNT, BALANCE = 5, 6
HISTORY = "余额走势"


def write_fund_statement(path: Path, run: RunOutcome) -> None:
    """Write 代偿补偿资金对账单.xlsx for ``run`` to ``path`` (atomically)."""
    with atomic_workbook(path) as book:
        _statement(book.sheet("对账单"), run)
        _pending(book.sheet("待补偿"), run)
        _history(book.sheet(HISTORY), run)


def flows(run: RunOutcome) -> tuple[Decimal, Decimal]:
    """This run's inflow and outflow (both positive)."""
    inflow = sum((m.amount for m in run.fund_moves if m.amount > 0), ZERO)
    outflow = -sum((m.amount for m in run.fund_moves if m.amount < 0), ZERO)
    return inflow, outflow


def _statement(grid: Grid, run: RunOutcome) -> None:
    grid.title(0, 0, "代偿补偿资金对账单")
    write_pairs(grid, [("处理批次", "text", run.run_id), ("对账日期", "date", run.run_date)], top=1)
    names = {m.member_id: m.member_name for m in run.members}
    top = 4
    grid.header(top, [c.header for c in MOVE_COLS])
    _balance_line(grid, top + 1, "期初余额", run.fund_opening)
    r = top + 1
    for r, m in enumerate(run.fund_moves, start=top + 2):
        src = m.source
        values = [m.on, m.kind.value, m.member_id, names.get(m.member_id, ""), m.guarantee_id,
                  m.amount, m.balance_after, src.file if src else "",
                  sheet_name(src.sheet) if src else "",
                  (src.row or None) if src else None, m.note]
        style = "" if m.amount >= 0 else "rejected"
        for c, (col, value) in enumerate(zip(MOVE_COLS, values)):
            grid.cell(r, c, col.kind, value, style)
    _balance_line(grid, r + 1, "期末余额", run.fund_closing)
    _checks(grid, run, r + 3)
    grid.finish(header_row=top, ncols=len(MOVE_COLS), last_row=r + 1)


def _balance_line(grid: Grid, r: int, label: str, balance: Decimal) -> None:
    for c in range(len(MOVE_COLS)):
        grid.blank(r, c, "total")
    grid.text(r, 1, label, "total")
    grid.money(r, BALANCE, balance, "total")


def _checks(grid: Grid, run: RunOutcome, top: int) -> None:
    inflow, outflow = flows(run)
    gap = run.fund_opening + inflow - outflow - run.fund_closing
    verdict = "平衡" if gap == 0 else f"不平衡：差额 {gap}"
    lines = [("期初余额", "money", run.fund_opening), ("本期流入", "money", inflow),
             ("本期流出", "money", outflow), ("期末余额", "money", run.fund_closing),
             ("核对：期初 + 流入 − 流出 = 期末", "text", verdict),
             ("待补偿合计", "money", run.fund_pending),
             ("测算基金比例", "percent", run.assumed_fund_share),
             ("测算代偿率", "percent", run.assumed_default_rate),
             ("可撬动代偿（余额 ÷ 基金比例）", "money", run.capacity_defaults),
             ("可撬动贷款（余额 ÷ 基金比例 ÷ 代偿率）", "money", run.capacity_loans)]
    write_pairs(grid, lines, top=top, col=AMOUNT - 1)


def _pending(grid: Grid, run: RunOutcome) -> None:
    names = {m.member_id: m.member_name for m in run.members}
    cols = [Col("补偿单号"), Col("代偿日期", "date"), Col("机构编号"), Col("机构名称"),
            Col("业务编号"), Col("应补偿金额", "money"), Col("已支付", "money"),
            Col("待补偿", "money"), Col("来源文件"), Col("工作表"), Col("行号", "int", total=False)]
    rows = []
    for c in run.pending_claims:
        src = c.source
        rows.append([c.claim_id, c.on, c.member_id, names.get(c.member_id, ""), c.guarantee_id,
                     c.amount, c.amount - c.unpaid, c.unpaid, src.file if src else "",
                     sheet_name(src.sheet) if src else "",
                     (src.row or None) if src else None])
    write_table(grid, cols, rows, total=True, freeze_cols=1)


def _history(grid: Grid, run: RunOutcome) -> None:
    points = list(run.fund_history)
    write_table(grid, [Col("日期", "date"), Col("余额", "money")], points)
    if not points:
        grid.text(1, 0, "暂无余额记录")
        return
    chart = grid.book.workbook.add_chart({"type": "line"})
    n = len(points)
    chart.add_series({"name": "补偿基金余额", "categories": [HISTORY, 1, 0, n, 0],
                      "values": [HISTORY, 1, 1, n, 1], "marker": {"type": "circle", "size": 4}})
    chart.set_title({"name": "代偿补偿资金余额走势"})
    chart.set_x_axis({"date_axis": True, "num_format": "yyyy-mm-dd", "name": "日期"})
    chart.set_y_axis({"num_format": "#,##0", "name": "余额（元）"})
    chart.set_legend({"none": True})
    chart.set_size({"width": 760, "height": 380})
    grid.ws.insert_chart(1, 3, chart)
