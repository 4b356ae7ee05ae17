"""对账汇总: the finance team's reconciliation of one run.

汇总 (the run's figures with a cross-check against the postings), 按机构/按银行/按产品/按城市 (the
same figures grouped, with a 合计 row that is the exact column sum), 文件清单, 异常清单 and 明细
(every posting traced to its file, sheet and row). Pure function of the RunOutcome.
"""
from __future__ import annotations

from decimal import Decimal
from itertools import chain, count, islice
from pathlib import Path
from typing import Callable, Sequence

from .. import schema
from ..model import PARTIES, Issue, Product
from ..outcome import ACCEPTED, DUPLICATE, PARTIAL, REJECTED, RunOutcome
from .figures import (STATUS_LABELS, TOTAL_LABELS, Tally, computed_totals, detail_lines,
                      file_issues, group, sheet_name, status_text, totals, whole_run)
from .fastxlsx import FastGrid, render_rows
from .xlsx import YES, NO, Col, GridLike, atomic_fast_workbook, write_pairs, write_table

METRICS: tuple[Col, ...] = (
    Col("新增笔数", "int"), Col("新增贷款金额", "money"), Col("还款本金", "money"),
    Col("在保余额", "money"),
    *(Col(f"{p.label}敞口", "money") for p in PARTIES),
    Col("代偿本金", "money"), Col("再担保代偿", "money"), Col("补偿基金代偿", "money"),
    Col("地方财政代偿", "money"), Col("追偿回收", "money"), Col("其中：基金回收", "money"),
    Col("再担保费", "money"))
CHECKED = ("new_count", "new_loan_principal", "compensation_reguarantor", "compensation_fund",
           "compensation_local", "recovery_total", "recovery_fund", "fees", "repaid_principal",
           "default_principal", "member_borne")


def write_reconciliation(path: Path, run: RunOutcome) -> None:
    """Write 对账汇总.xlsx for ``run`` to ``path`` (atomically)."""
    with atomic_fast_workbook(path, PRESET) as book:
        _summary(book.sheet("汇总"), run)
        _by_member(book.sheet("按机构"), run)
        _by_simple(book.sheet("按银行"), run, "bank", ("银行编号", "银行名称"),
                   lambda k: run.bank_names.get(k, ""))
        _by_simple(book.sheet("按产品"), run, "product", ("产品代码", "产品名称"), _product_name)
        _by_simple(book.sheet("按城市"), run, "city", ("所在市",), None)
        _files(book.sheet("文件清单"), run)
        _exceptions(book.sheet("异常清单"), run)
        _detail(book, run)


def metric_values(t: Tally) -> list[object]:
    return [t.new_count, t.new_loan, t.repaid, t.outstanding, *(t.exposure[p] for p in PARTIES),
            t.defaulted, *(t.compensation[p] for p in PARTIES[2:]), t.recovered,
            t.recovered_fund, t.fees]


# ---- 汇总 -----------------------------------------------------------------------------------

def _summary(grid: GridLike, run: RunOutcome) -> None:
    grid.title(0, 0, "对账汇总")
    row = write_pairs(grid, [("处理批次", "text", run.run_id), ("处理日期", "date", run.run_date),
                             ("开始时间", "date", run.started_at),
                             ("结束时间", "date", run.finished_at)], top=2) + 1
    by_status = [(STATUS_LABELS[s], sum(1 for f in run.filings if f.status == s))
                 for s in (ACCEPTED, PARTIAL, REJECTED, DUPLICATE)]
    row = write_table(grid, [Col("处理结果"), Col("文件数", "int")], by_status, top=row,
                      total=True, frame=False) + 1
    grid.header(row, ["项目", "金额 / 数量", "明细核对"])
    for r, (label, kind, value, check) in enumerate(_figures(run), start=row + 1):
        grid.text(r, 0, label, "label")
        grid.cell(r, 1, kind, value)
        grid.text(r, 2, check, "bad" if check.startswith("不一致") else "")
    grid.finish(header_row=None)


def _figures(run: RunOutcome) -> list[tuple[str, str, Decimal | int, str]]:
    figures, computed = totals(run), computed_totals(run)
    lines = []
    for key, value in figures.items():
        label = TOTAL_LABELS.get(key, key)
        kind = "int" if isinstance(value, int) and not isinstance(value, bool) else "money"
        lines.append((label, kind, value, _check(key, run, computed)))
    rejected = sum(f.counts(s.key)[1] for f in run.filings for s in schema.DATA_SHEETS)
    lines += [("在保余额合计", "money", whole_run(run).outstanding, ""),
              ("可撬动代偿", "money", run.capacity_defaults, ""),
              ("退回行数", "int", rejected, ""),
              ("异常条数", "int", len(_exception_rows(run)), "")]
    return lines


def _check(key: str, run: RunOutcome, computed: dict[str, Decimal | int]) -> str:
    if key not in CHECKED:
        return ""
    if key not in run.totals:
        return "按明细计算"
    if run.totals[key] == computed[key]:
        return "一致"
    return f"不一致：明细合计 {computed[key]}"


# ---- grouped sheets -------------------------------------------------------------------------

def _by_member(grid: GridLike, run: RunOutcome) -> None:
    tallies = group(run, "member")
    members = {m.member_id: m for m in run.members}
    names = {f.member_id: f.member_name for f in run.filings}
    cols = [Col("机构编号"), Col("机构名称"), Col("所在市"), Col("状态"), *METRICS,
            Col("净资产", "money"), Col("融资担保责任余额", "money"),
            Col("放大倍数", "number", total=False), Col("放大倍数上限", "number", total=False),
            Col("杠杆预警")]
    rows, styles = [], []
    for key in sorted(set(tallies) | set(members)):
        m = members.get(key)
        head = [key, m.member_name if m else names.get(key, ""), m.city if m else "",
                m.status if m else ""]
        tail = ([m.net_assets, m.liability, m.leverage, m.leverage_cap, YES if m.warning else NO]
                if m else [None, None, None, None, ""])
        rows.append([*head, *metric_values(tallies.get(key, Tally())), *tail])
        styles.append(("warning",) if m and m.warning else ())
    write_table(grid, cols, rows, total=True, freeze_cols=2, row_styles=styles)


def _by_simple(grid: GridLike, run: RunOutcome, by: str, keys: Sequence[str],
               name: Callable[[str], str] | None) -> None:
    tallies = group(run, by)
    cols = [*(Col(k) for k in keys), *METRICS]
    rows = [[key, *([name(key)] if name else []), *metric_values(tallies[key])]
            for key in sorted(tallies)]
    write_table(grid, cols, rows, total=True, freeze_cols=len(keys))


def _product_name(code: str) -> str:
    try:
        return Product(code).label
    except ValueError:
        return ""


# ---- lists ----------------------------------------------------------------------------------

def _files(grid: GridLike, run: RunOutcome) -> None:
    cols = [Col("文件"), Col("机构编号"), Col("机构名称"), Col("报送期间"), Col("报送类型"),
            Col("处理结果"), Col("通过行数", "int"), Col("退回行数", "int"), Col("回执"),
            Col("去向"), Col("报送来源"), Col("文件校验码")]
    rows = []
    for f in run.filings:
        counts = [f.counts(s.key) for s in schema.DATA_SHEETS]
        rows.append([f.path, f.member_id, f.member_name, f.period, f.kind, status_text(f),
                     sum(c[0] for c in counts), sum(c[1] for c in counts), f.receipt,
                     f.destination, f.sender or "人工放入", f.filing.sha256])
    write_table(grid, cols, rows, total=True, freeze_cols=1)


def _exception_rows(run: RunOutcome) -> list[list[object]]:
    rows: list[list[object]] = []
    for f in run.filings:
        for issue in file_issues(f):
            rows.append(_issue_row(issue, f.path, f.member_id))
        for sheet in schema.DATA_SHEETS:
            for outcome in f.rows.get(sheet.key, ()):
                issues = dict.fromkeys((*outcome.row.issues, *outcome.issues))
                rows.extend(_issue_row(i, f.path, f.member_id) for i in issues)
    rows.extend(_issue_row(i, "", "") for i in run.exceptions)
    return rows


def _issue_row(issue: Issue, path: str, member_id: str) -> list[object]:
    w = issue.where
    return [w.file or path, member_id, sheet_name(w.sheet), w.row or None,
            w.column, w.field, "错误" if issue.is_error else "提示", issue.code, issue.message]


def _exceptions(grid: GridLike, run: RunOutcome) -> None:
    cols = [Col("文件"), Col("机构编号"), Col("工作表"), Col("行号", "int", total=False),
            Col("列"), Col("字段"), Col("级别"), Col("代码"), Col("说明")]
    rows = _exception_rows(run)
    write_table(grid, cols, rows, freeze_cols=1,
                row_styles=[("rejected",) if r[6] == "错误" else () for r in rows])


DETAIL_COLS = (Col("来源文件"), Col("工作表"), Col("行号", "int", total=False), Col("类型"),
               Col("冲回"), Col("日期", "date"), Col("机构编号"), Col("业务编号"), Col("报送期间"),
               Col("银行"), Col("产品"), Col("所在市"), Col("金额", "money"),
               *(Col(h, "money") for h in schema.RECEIPT_SHARES),
               Col(schema.RECEIPT_FEE, "money"))
DETAIL_KINDS = [c.kind if c.kind in ("money", "date", "int") else "text" for c in DETAIL_COLS]
SHEET_ROWS = 1_048_575          # Excel's last row less the header: more goes on 明细(2), ...
# The 明细 styles are registered first in the workbook, so rows rendered in a worker process
# before the workbook exists (``detail_part``) carry the right style numbers.
PRESET: tuple[tuple[str, ...], ...] = tuple(dict.fromkeys(
    key for kind in DETAIL_KINDS for key in (((kind,) if kind != "text" else ()),
                                             ((kind, "warning") if kind != "text" else ("warning",)))
    if key))
_PRESET_ID = {key: i + 1 for i, key in enumerate(PRESET)}


def _detail_styles(reversal: bool) -> list[int]:
    keys = [((k,) if k != "text" else ()) + (("warning",) if reversal else ()) for k in DETAIL_KINDS]
    return [_PRESET_ID.get(k, 0) for k in keys]


PLAIN, REVERSED = _detail_styles(False), _detail_styles(True)


def _detail_row(line) -> tuple[list, list[int]]:
    values = list(line)
    values[4] = YES if line[4] else ""
    return values, (REVERSED if line[4] else PLAIN)


def detail_part(path: Path, first_row: int, lines) -> dict[int, int]:
    """Some 明细 lines rendered from sheet row ``first_row`` on and deflated (in a worker, during
    the night, so the main process need not compress them); the reconciliation copies the file
    into its zip as it is. Returns the columns' widths."""
    return render_rows(path, first_row, DETAIL_KINDS, map(_detail_row, lines))


def _detail(book, run: RunOutcome) -> None:
    """Every posting: rendered during the night (``run.detail_parts``) or, for a run built in
    memory, here line by line. More than Excel's rows go on 明细(2), 明细(3), ..."""
    grids: dict[int, FastGrid] = {}

    def sheet(part: int):
        if part not in grids:
            grids[part] = book.sheet("明细" if part == 1 else f"明细({part})")
            grids[part].header(0, [c.header for c in DETAIL_COLS])
        return grids[part]

    sheet(1)
    if run.detail_parts is not None:
        for part, path, last_row, widths in run.detail_parts:
            sheet(part).adopt(path, last_row, len(DETAIL_COLS) - 1, widths)
    else:
        lines = iter(detail_lines(run))
        for part in count(1):
            first = next(lines, None)
            if first is None:                           # every line written
                break
            rows = chain([first], islice(lines, SHEET_ROWS - 1))
            sheet(part).typed_rows(1, DETAIL_KINDS, map(_detail_row, rows))
    for grid in grids.values():
        grid.finish(header_row=0, ncols=len(DETAIL_COLS), last_row=max(grid.max_row, 0),
                    freeze_cols=1)
