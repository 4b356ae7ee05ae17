"""Workbooks generated from batch/schema.py: the filing template (业务报送表) and 基础数据.

One writer serves blank templates, the demo's filings and test fixtures: given ``cover``/``rows``
(or ``data``/``settings``) keyed by schema column keys, it writes them as real cells (Decimal as a
number, date as a date, bool as 是/否, str as text). Every sheet carries the schema's headers,
widths, cell formats and data validation (dropdowns, dates, amounts) for ``ROWS`` rows.
"""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Mapping, Sequence

from .. import schema
from ..model import PRODUCT_LABELS, Product
from .xlsx import NO, YES, Book, Grid, as_text, atomic_workbook, display_width

ROWS = 500
HELP_SHEET = "填报说明"
LISTS_SHEET = "下拉选项"
INLINE_LIMIT = 255            # Excel's limit on an inline dropdown list, in characters
EARLIEST, LATEST = date(1990, 1, 1), date(2099, 12, 31)

KIND_STYLE = {"text": "text", "code": "text", "period": "text", "list": "text", "money": "money",
              "date": "date", "ratio": "percent", "int": "int", "number": "", "choice": "",
              "yesno": ""}
KIND_HINT = {"text": "文本", "code": "文本（请保持文本格式，勿改为数字）", "period": "文本，YYYY-MM",
             "list": "多个值用英文逗号分隔", "money": "金额（元，最多两位小数）",
             "date": "日期，如 2026-03-07", "ratio": "比例，如 0.2 或 20%", "int": "整数",
             "number": "数字", "choice": "从下拉列表选择", "yesno": "是 / 否"}

FILING_INTRO = (
    "一个工作簿即一次报送。请勿修改工作表名称和表头文字；列的顺序可以调整。",
    "封面：A 列为项目，B 列填写内容。机构编号、机构名称、报送期间、报送类型必须填写；模板版本请勿修改。",
    "报送类型：“正常”为本期新增报送，同一期间可多次报送并累加；“更正”将整体替换本机构本期此前的全部报送。",
    "没有业务的工作表可以留空或删除。表头为红色的列必须填写。",
    "金额单位为元，最多两位小数，请勿在单元格中写“万元”等单位；比例可填 0.017 或 1.7%。",
    "日期请填写为日期，如 2026-03-07。",
    "证件号码、业务编号、借款合同编号已设为文本格式：请勿改为数字格式，否则 18 位号码会丢失精度而被退回。",
    "处理结果以回执为准：回执逐行列出状态（通过/退回）、说明和各方分担金额，退回的单元格标红并附批注。",
)
REFERENCE_INTRO = (
    "本工作簿由财务部门维护，每晚批处理开始前读取；内容有误时当晚批处理停止，并提示需要修改的位置。",
    "比例可填小数（0.2）或百分比（20%）；每条产品规则五方比例之和须为 100%。",
    "产品规则按生效日期生效，一种产品可有多行（不同版本）；每笔业务按其放款日期适用当时有效的规则。",
    "单户上限、担保费率上限等留空表示不设上限。",
    "资金账户只填期初余额、财政注资、利息收入、其他调整；代偿支出、追偿回收由系统根据报送自动记录。",
    "参数：A 列为项目，B 列为数值，留空取缺省值。",
)


def _rule(code: str, shares: tuple[str, str, str, str, str], cap: str | None = None,
          types: tuple[str, ...] = ()) -> dict[str, object]:
    parties = dict(zip(("bank", "member", "reguarantor", "fund", "local"), map(Decimal, shares)))
    return {"product": code, "name": PRODUCT_LABELS[Product(code)],
            "effective_from": date(2015, 1, 1), "until": None, **parties,
            "borrower_cap": Decimal(cap) if cap else None, "fee_rate_cap": Decimal("0.02"),
            "reguarantee_fee_rate": Decimal("0.005"), "compensation_ceiling": Decimal("0.05"),
            "max_term_months": 36, "borrower_types": types}


DEFAULT_PRODUCT_RULES: list[dict[str, object]] = [
    _rule("BL", ("0.20", "0.40", "0.25", "0.15", "0"), "5000000.00",
          ("小型企业", "微型企业", "个体工商户", "农户", "新型农业经营主体")),
    _rule("ZY", ("0.20", "0.40", "0.30", "0", "0.10"), "20000000.00"),
    _rule("LD", ("0", "0.5", "0.5", "0", "0")),
    _rule("YB", ("0", "0.6", "0.4", "0", "0")),
    _rule("LH", ("0", "0.5", "0.5", "0", "0")),
    _rule("FD", ("0", "1", "0", "0", "0")),      # the re-guarantor's amount is filed per row
]


def write_filing_template(path: Path, *, banks: Sequence[tuple[str, str]] = (),
                          cover: Mapping[str, object] | None = None,
                          rows: Mapping[str, Sequence[Mapping[str, object]]] | None = None) -> None:
    """业务报送表: 填报说明, 封面 and the data sheets, blank or filled with ``cover``/``rows``."""
    lists_for = {("new", "bank_id"): [b for b, _ in banks]} if banks else {}
    with atomic_workbook(path) as book:
        lists = Lists()
        _help(book.sheet(HELP_SHEET), schema.FILING_SHEETS, FILING_INTRO, banks)
        _label_sheet(book, lists, schema.COVER, cover or {})
        for sheet in schema.DATA_SHEETS:
            _table_sheet(book, lists, sheet, (rows or {}).get(sheet.key, ()), lists_for)
        lists.write(book)


def write_reference_template(path: Path, *,
                             data: Mapping[str, Sequence[Mapping[str, object]]] | None = None,
                             settings: Mapping[str, object] | None = None) -> None:
    """基础数据: 填报说明 and every reference sheet, blank or filled with ``data``/``settings``.

    Product rules are written only as given: pass ``{"products": DEFAULT_PRODUCT_RULES}`` for the
    domain's defaults. The 参数 sheet shows each setting's default unless ``settings`` says else."""
    data = data or {}
    banks = [(as_text(b.get("bank_id")), as_text(b.get("bank_name"))) for b in data.get("banks", ())]
    lists_for = {("credit", "bank_id"): [b for b, _ in banks],
                 ("credit", "member_id"): [as_text(m.get("member_id"))
                                           for m in data.get("members", ())]}
    with atomic_workbook(path) as book:
        lists = Lists()
        _help(book.sheet(HELP_SHEET), schema.REFERENCE_SHEETS, REFERENCE_INTRO, ())
        for sheet in schema.REFERENCE_SHEETS:
            if sheet.labels:
                _label_sheet(book, lists, sheet, settings or {})
            else:
                _table_sheet(book, lists, sheet, data.get(sheet.key, ()),
                             {k: v for k, v in lists_for.items() if v})
        lists.write(book)


# ---- dropdown lists -------------------------------------------------------------------------

class Lists:
    """Dropdown sources: inline when short, else a column of the hidden 下拉选项 sheet."""

    def __init__(self) -> None:
        self.columns: list[tuple[str, list[str]]] = []

    def source(self, title: str, choices: Sequence[str]) -> list[str] | str:
        values = [str(c) for c in choices]
        if len(",".join(values)) <= INLINE_LIMIT and not any("," in v for v in values):
            return values
        self.columns.append((title, values))
        letter = _letter(len(self.columns) - 1)
        return f"='{LISTS_SHEET}'!${letter}$2:${letter}${len(values) + 1}"

    def write(self, book: Book) -> None:
        if not self.columns:
            return
        grid = book.sheet(LISTS_SHEET)
        for c, (title, values) in enumerate(self.columns):
            grid.text(0, c, title, "header")
            for r, value in enumerate(values, start=1):
                grid.text(r, c, value)
        grid.finish(header_row=None)
        grid.ws.hide()


def _letter(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


def _validation(col: schema.Column, lists: Lists,
                choices: Sequence[str] | None) -> dict[str, object] | None:
    """Data validation for one column: dropdowns, dates, amounts and ratios."""
    if choices is None and col.kind in ("choice", "yesno"):
        choices = col.choices
    if choices:
        rule: dict[str, object] = {"validate": "list", "source": lists.source(col.header, choices),
                                   "error_title": "请从下拉列表中选择",
                                   "error_message": f"“{col.header}”只能填写下拉列表中的值。"}
    elif col.kind == "date":
        rule = {"validate": "date", "criteria": "between", "minimum": EARLIEST, "maximum": LATEST,
                "error_type": "warning", "error_message": "请填写日期，如 2026-03-07。"}
    elif col.kind in ("money", "number"):
        rule = {"validate": "decimal", "criteria": ">=", "value": 0, "error_type": "warning",
                "error_message": "请填写不小于 0 的数字；金额以元为单位，最多两位小数。"}
    elif col.kind == "ratio":
        rule = {"validate": "decimal", "criteria": "between", "minimum": 0, "maximum": 1,
                "error_type": "warning", "error_message": "请填写 0 到 1 之间的比例，如 0.017 或 1.7%。"}
    elif col.kind == "int":
        rule = {"validate": "integer", "criteria": ">=", "value": 0, "error_type": "warning",
                "error_message": "请填写不小于 0 的整数。"}
    else:
        return None
    if col.note:
        rule.update(input_title=col.header[:32], input_message=col.note[:255])
    return rule


# ---- sheets -----------------------------------------------------------------------------------

def _table_sheet(book: Book, lists: Lists, sheet: schema.Sheet,
                 rows: Sequence[Mapping[str, object]],
                 lists_for: Mapping[tuple[str, str], Sequence[str]]) -> None:
    grid = book.sheet(sheet.name)
    last = max(ROWS, len(rows))
    for c, col in enumerate(sheet.columns):
        width = max(col.width, display_width(col.header) + 2)
        grid.ws.set_column(c, c, width, book.fmt(KIND_STYLE.get(col.kind, "")))
        grid.ws.write_string(0, c, col.header, book.fmt("header", "required" if col.required else ""))
        rule = _validation(col, lists, lists_for.get((sheet.key, col.key)))
        if rule:
            grid.ws.data_validation(1, c, last, c, rule)
    for r, values in enumerate(rows, start=1):
        for c, col in enumerate(sheet.columns):
            put(grid, r, c, col, values.get(col.key))
    grid.ws.freeze_panes(1, 0)


def _label_sheet(book: Book, lists: Lists, sheet: schema.Sheet,
                 values: Mapping[str, object]) -> None:
    """Label in column A, value in column B (defaults prefilled), the note in column C."""
    grid = book.sheet(sheet.name)
    for r, col in enumerate(sheet.columns):
        grid.text(r, 0, col.header, "label", "required" if col.required else "")
        value = values.get(col.key, _default(col))
        grid.blank(r, 1, KIND_STYLE.get(col.kind, ""))
        put(grid, r, 1, col, value)
        rule = _validation(col, lists, None)
        if rule:
            grid.ws.data_validation(r, 1, r, 1, rule)
        grid.text(r, 2, _describe(col))
    grid.finish(header_row=None, widths={1: max(c.width for c in sheet.columns) + 2})


def _default(col: schema.Column) -> object:
    if col.default is None:
        return None
    if col.kind in ("ratio", "money", "number") and isinstance(col.default, str):
        return Decimal(col.default)
    return col.default


def put(grid: Grid, r: int, c: int, col: schema.Column, value: object) -> None:
    """Write one value into a template cell, typed as the value is (None leaves it blank)."""
    style = KIND_STYLE.get(col.kind, "")
    if value is None:
        return
    if isinstance(value, bool):
        grid.text(r, c, YES if value else NO, style)
    elif isinstance(value, (Decimal, int, float)):
        grid.number(r, c, value, kind=style if style != "text" else "")  # type: ignore[arg-type]
    elif isinstance(value, (date, datetime)):
        grid.day(r, c, value)
    elif isinstance(value, (tuple, list, set, frozenset)):
        grid.text(r, c, ",".join(as_text(v) for v in value), style)
    elif isinstance(value, Enum):
        grid.text(r, c, value.value, style)
    else:
        grid.text(r, c, str(value), style)


# ---- 填报说明 ---------------------------------------------------------------------------------

def _describe(col: schema.Column) -> str:
    parts = ["必填" if col.required else "选填", KIND_HINT.get(col.kind, "")]
    if col.default not in (None, ""):
        parts.append(f"缺省：{as_text(col.default)}")
    if col.note:
        parts.append(col.note)
    return "；".join(p for p in parts if p)


def _choices_text(col: schema.Column) -> str:
    if col.choices == schema.PRODUCT_CODES:
        return "、".join(f"{p.value} {p.label}" for p in Product)
    return "、".join(col.choices)


def _help(grid: Grid, sheets: Sequence[schema.Sheet], intro: Sequence[str],
          banks: Sequence[tuple[str, str]]) -> None:
    grid.title(0, 0, HELP_SHEET)
    for r, line in enumerate(intro, start=2):
        grid.ws.write_string(r, 0, f"{r - 1}. {line}")     # long lines run over: not sized
    top = len(intro) + 3
    grid.header(top, ["工作表", "列名", "英文别名", "是否必填", "填写格式", "可选值", "说明"])
    r = top
    for sheet in sheets:
        for col in sheet.columns:
            r += 1
            for c, text in enumerate((sheet.name, col.header, col.key,
                                      "必填" if col.required else "选填",
                                      KIND_HINT.get(col.kind, ""), _choices_text(col),
                                      col.note)):
                grid.text(r, c, text, "required" if c == 3 and col.required else "")
    grid.ws.autofilter(top, 0, r, 6)
    if banks:
        r += 2
        grid.header(r, ["合作银行编号", "银行名称"])
        for r, (bank_id, name) in enumerate(banks, start=r + 1):
            grid.text(r, 0, bank_id)
            grid.text(r, 1, name)
    grid.finish(header_row=None)
