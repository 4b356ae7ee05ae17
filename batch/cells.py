"""One cell as calamine returns it -> the typed value its column asks for, or a `Bad` cell.

A member's cell may arrive as a str, float, int, bool, date, datetime, time or timedelta, whatever
the member's office suite stored. Each column kind accepts the forms the contract names and turns
everything else into a stable code with a Chinese message saying what to type instead: a cell is
never guessed at (no unit conversion, no rounding, no serial-number dates).

`convert` applies every rule to one cell and says what the receipt echoes; `converter` gives the
same answer for one column of one sheet, fast: a sheet's cells repeat (choices, banks, dates, rates,
blanks), so each distinct one is converted once and then found in a memo, and the common unique
cells (plain text, a plain amount) take a shortcut that a test holds to `convert`'s answer.
"""
from __future__ import annotations

import re
from datetime import date, datetime, time
from decimal import Decimal
from functools import lru_cache, partial
from typing import Callable, TypeGuard, overload

from .model import Product
from .money import FEN, ZERO, normalise_text, parse_decimal, parse_ratio, parse_yuan
from .schema import PRODUCT_CODES, Column

# What Excel, WPS and LibreOffice show for an error value; a text cell holding exactly one of these
# is a formula result pasted as text, not data.
ERROR_LITERALS = frozenset({"#N/A", "#DIV/0!", "#VALUE!", "#REF!", "#NAME?", "#NUM!", "#NULL!",
                            "#GETTING_DATA", "#SPILL!", "#CALC!", "#FIELD!", "#BLOCKED!",
                            "#UNKNOWN!", "#BUSY!", "#CONNECT!", "#PYTHON!", "ERR:502", "ERR:504"})
IDENTITY_KEYS = frozenset({"borrower_id"})     # code columns where a number cell is always corrupt
EXACT_DIGITS = 1e15                            # Excel keeps 15 significant digits of a number
MAX_YUAN = Decimal("1E15")                     # a thousand trillion yuan: beyond any real amount,
                                               # and where Decimal sums would start to round
MEMO_LIMIT = 4096                              # cells remembered a column: a few years of dates,
                                               # and a bound on what a column of ids costs
YES_WORDS = frozenset({"是", "y", "yes", "true", "1"})
NO_WORDS = frozenset({"否", "n", "no", "false", "0"})

_DATE_TEXT = (re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$"),
              re.compile(r"^(\d{4})/(\d{1,2})/(\d{1,2})$"),
              re.compile(r"^(\d{4})年(\d{1,2})月(\d{1,2})日$"))
_MIDNIGHT = re.compile(r"\s+0{1,2}:00(:00)?$")
_PERIOD_TEXT = re.compile(r"^(\d{4})\s*(?:-|/|年)\s*(\d{1,2})\s*月?$")
_LIST_SPLIT = re.compile(r"[,，;；、\s]+")
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")   # C0 controls but tab and newline, and DEL
_UNITS = ("万", "元", "亿", "¥", "￥", "%")
_REMEMBERED = frozenset({str, date, datetime})
# float ok: a bound to compare calamine's float cells with before they become Decimal (1e15 is
# exact as a double); the amount itself is Decimal(repr(value)), never a float.
_MAX_YUAN_FLOAT = float(MAX_YUAN)  # float ok


class Bad(ValueError):
    """A cell that cannot become its column's value: a stable code and what to do about it."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# One cell read: its typed value (None when bad), what the receipt echoes, the problem, and whether
# it is blank (a row of blank cells is no row).
Cell = tuple[object, str, Bad | None, bool]


@overload
def clean(value: str) -> str: ...
@overload
def clean(value: object) -> object: ...


def clean(value: object) -> object:
    """Text without control characters: invisible to the member, they break XML writers (a NUL
    cannot appear in XML at all) and come back from xlsxwriter as literal ``_x0001_``. Tab and
    newline (Alt+Enter) stay; a carriage return from a Windows paste goes."""
    if type(value) is str and _CONTROLS.search(value):
        return _CONTROLS.sub("", value)
    return value


def clip(text: str, limit: int) -> str:
    """At most ``limit`` characters of a cell echoed on a receipt (the cell's own error says why)."""
    return text if len(text) <= limit else text[:limit] + "…"


def is_blank(value: object) -> bool:
    """calamine gives '' for an empty cell; a cell of spaces is empty too."""
    return value is None or (isinstance(value, str) and not value.strip())


def display(value: object) -> str:
    """The cell as the member sees it, for the receipt: 123.0 -> "123", a date -> 2026-03-07."""
    if type(value) is str:
        return clean(value).strip()
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        return _float_text(value)
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time() else value.isoformat(" ")
    if isinstance(value, (date, time)):
        return value.isoformat()
    return str(value).strip()


def _float_text(value: float) -> str:
    if not value.is_integer():
        return repr(value)
    if abs(value) < EXACT_DIGITS:
        return str(int(value))
    return str(int(Decimal(f"{value:.15g}")))    # as Excel's formula bar shows it: ...011000


def _is_number(value: object) -> TypeGuard[float]:
    """A numeric cell: calamine gives int or float (an int is a float to the type checker)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _text(column: Column, value: object) -> str:
    return display(value)


def _code(column: Column, value: object) -> str:
    """Codes are compared, so they are NFKC-normalised (a full-width Ｍ００１ is M001)."""
    if _is_number(value):
        if column.key in IDENTITY_KEYS:
            raise Bad("id.numeric", "证件号码被存为数字，Excel 只保留15位有效数字，原值已损坏；"
                                    "请把该列设为文本格式后重新录入")
        if abs(value) >= EXACT_DIGITS:
            raise Bad("code.numeric", f"{column.header}被存为数字 {display(value)}，超过15位的部分已被"
                                      "Excel 改写；请把该列设为文本格式后重新录入")
    return normalise_text(display(value))


def _money(column: Column, value: object) -> Decimal:
    if not isinstance(value, (str, int, float, Decimal)) or isinstance(value, bool):
        raise Bad("cell.money", f"「{display(value)}」不是金额；请填写以元为单位的数字，如 1234567.89")
    try:
        amount = parse_yuan(value)
    except ValueError as error:
        unit = next((u for u in _UNITS if isinstance(value, str) and u in value), "")
        hint = f"不要带「{unit}」，" if unit else ""
        raise Bad("cell.money", f"金额「{display(value)}」无法识别（{error}）；{hint}"
                                "请只填以元为单位的数字，最多两位小数") from None
    except ArithmeticError:               # Decimal precision exceeded: 1E+30 and the like
        amount = MAX_YUAN
    if amount >= MAX_YUAN:
        raise Bad("cell.money", f"金额「{clip(display(value), 40)}」超出合理范围（应小于 "
                                f"{MAX_YUAN:,.0f} 元）；请核对单位是否为元")
    if amount < 0:
        raise Bad("cell.money", f"金额「{display(value)}」为负数；请填写不小于零的金额")
    return amount


def _ratio(column: Column, value: object) -> Decimal:
    if not isinstance(value, (str, int, float, Decimal)) or isinstance(value, bool):
        raise Bad("cell.ratio", f"「{display(value)}」不是比例；请填写如 0.017 或 1.7%")
    try:
        ratio = parse_ratio(value)
    except ValueError as error:
        raise Bad("cell.ratio", f"比例「{display(value)}」无法识别（{error}）；"
                                "请填写如 0.017 或 1.7%") from None
    if not 0 <= ratio <= 1:
        raise Bad("cell.ratio", f"比例「{display(value)}」应在 0 到 1（0% 到 100%）之间；"
                                "如 1.7% 请填 0.017 或 1.7%")
    return ratio


def _date_from_text(text: str) -> date | None:
    text = _MIDNIGHT.sub("", normalise_text(text))
    for pattern in _DATE_TEXT:
        if match := pattern.match(text):
            try:
                return date(*(int(part) for part in match.groups()))
            except ValueError:
                return None
    return None


def _date(column: Column, value: object) -> date:
    """Real date cells, or text 2026-03-07, 2026/3/7, 2026年3月7日; a bare number never."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str) and (day := _date_from_text(value)) is not None:
        return day
    if _is_number(value):
        raise Bad("cell.date", f"「{display(value)}」是数字，不是日期；请把单元格设为日期格式，"
                               "或填写如 2026-03-07 的日期")
    raise Bad("cell.date", f"「{display(value)}」不是有效日期；请填写如 2026-03-07、2026/3/7 "
                           "或 2026年3月7日")


def _period(column: Column, value: object) -> str:
    """YYYY-MM; Excel turns a typed 2026-03 into the date 2026-03-01, so a date cell is fine."""
    if isinstance(value, (date, datetime)):
        return f"{value.year:04d}-{value.month:02d}"
    if isinstance(value, str):
        text = normalise_text(value)
        match = _PERIOD_TEXT.match(text)
        day = None if match else _date_from_text(text)
        year, month = (int(match[1]), int(match[2])) if match else (
            (day.year, day.month) if day else (0, 0))
        if 2000 <= year <= 2999 and 1 <= month <= 12:
            return f"{year:04d}-{month:02d}"
    raise Bad("cell.period", f"「{display(value)}」不是有效的期间；请填写如 2026-03 的年月")


@lru_cache(maxsize=256)
def _choices(choices: tuple[str, ...]) -> dict[str, str | Product]:
    products = choices == PRODUCT_CODES
    return {normalise_text(c).casefold(): Product(c) if products else c for c in choices}


def _choice(column: Column, value: object) -> str | Product:
    """One of the column's choices, ignoring width and case; product codes become `Product`."""
    text = normalise_text(display(value))
    found = _choices(column.choices).get(text.casefold())
    if found is not None:
        return found
    allowed = "、".join(column.choices)
    raise Bad("cell.choice", f"「{text}」不是可选值；请从以下选择：{allowed}")


def _yesno(column: Column, value: object) -> bool:
    word = display(value) if not isinstance(value, bool) else ("1" if value else "0")
    word = normalise_text(word).casefold()
    if word in YES_WORDS:
        return True
    if word in NO_WORDS:
        return False
    raise Bad("cell.yesno", f"「{display(value)}」不是“是”或“否”；请填写 是 或 否")


def _int(column: Column, value: object) -> int:
    try:
        number = parse_decimal(value)
    except ValueError:
        number = None
    if number is None or number != number.to_integral_value():
        raise Bad("cell.int", f"「{display(value)}」不是整数；请填写如 36 的整数")
    return int(number)


def _number(column: Column, value: object) -> Decimal:
    try:
        return parse_decimal(value)
    except ValueError:
        raise Bad("cell.number", f"「{display(value)}」不是数字；请只填写数字") from None


def _list(column: Column, value: object) -> tuple[str, ...]:
    parts = _LIST_SPLIT.split(normalise_text(display(value)))
    return tuple(part for part in parts if part)


PARSERS: dict[str, Callable[[Column, object], object]] = {
    "text": _text, "code": _code, "money": _money, "ratio": _ratio, "date": _date,
    "period": _period, "choice": _choice, "yesno": _yesno, "int": _int, "number": _number,
    "list": _list,
}


def parse(column: Column, value: object) -> object:
    """A non-blank cell as its column's type; raises `Bad` (never anything else) when it is not."""
    if isinstance(value, str) and value.strip() in ERROR_LITERALS:
        raise Bad("cell.error", f"单元格是错误值 {value.strip()}；请修正公式或改填数值")
    return PARSERS[column.kind](column, value)


def convert(column: Column, value: object, needed: bool, max_chars: int) -> Cell:
    """One cell as calamine gave it, every rule applied: cleaned, too long, blank (required, or the
    default; ``needed`` as for `default`), else parsed; the echo is clipped to ``max_chars``."""
    value = clean(value)
    blank = is_blank(value)
    shown = clip(display(value), max_chars)
    try:
        return _typed(column, value, blank, needed, max_chars), shown, None, blank
    except Bad as bad:
        return None, shown, bad, blank


def _typed(column: Column, value: object, blank: bool, needed: bool, max_chars: int) -> object:
    if isinstance(value, str) and len(value) > max_chars:
        raise Bad("cell.too_long", f"内容长达 {len(value):,} 个字符，超过上限 {max_chars:,}；"
                                   "请精简后重新报送（说明性文字请勿填入数据表）")
    if not blank:
        return parse(column, value)
    if column.required:
        raise Bad("cell.required", f"「{column.header}」为必填项，请填写")
    return default(column, needed)


Converter = tuple[dict[object, Cell], Callable[[object], Cell | None], Callable[[object], Cell]]


def converter(column: Column, needed: bool, max_chars: int) -> Converter:
    """`convert` for one column of one sheet as three steps, each taken only when the one before
    had no answer: the memo (``memo.get``: a whole row is looked up at once, in C), the kind's
    shortcut for a common unique cell (None when it does not apply), and `convert`, which
    remembers what it read (up to ``MEMO_LIMIT`` cells a column) when equal values are sure to
    read alike: text, dates, and floats that are not whole (a whole float equals an int or a bool,
    and -0.0 equals 0.0, yet they read differently). Repeated cells then share one value."""
    memo: dict[object, Cell] = {}

    def slow(value: object) -> Cell:
        cell = convert(column, value, needed, max_chars)
        if len(memo) < MEMO_LIMIT and (type(value) in _REMEMBERED or
                                       type(value) is float and not value.is_integer()):
            memo[value] = cell
        return cell
    return memo, SHORTCUTS.get(column.kind, _no_shortcut)(max_chars), slow


def _plain_text(max_chars: int, code: bool = False) -> Callable[[object], Cell | None]:
    """Text that needs no cleaning or clipping and is no error literal: itself, trimmed (a code
    also normalised; ASCII needs no normalising). A closure, not a partial: it runs for every
    unique cell (ids, names), where a partial's call costs a third of the work."""
    def shortcut(value: object) -> Cell | None:
        if value.__class__ is not str or len(value) > max_chars or not value.isprintable():
            return None                              # printable: no control character in it
        text = value.strip()
        if not text or text in ERROR_LITERALS:
            return None
        return (normalise_text(text) if code and not text.isascii() else text), text, None, False
    return shortcut


def _plain_money(max_chars: int) -> Callable[[object], Cell | None]:
    """An Excel number that is a valid amount: finite, above zero (-0.0 reads as -0.00), in range,
    whole fen, short enough to echo whole. A whole number of yuan needs no rounding check, and is
    remembered apart from `converter`'s memo: only a float above zero is ever looked up in it, so
    1.0 never meets 1 or True there."""
    whole: dict[float, Cell | None] = {}

    def shortcut(value: object) -> Cell | None:
        if value.__class__ is not float or not 0 < value < _MAX_YUAN_FLOAT:
            return None
        if value.is_integer():
            cell = whole.get(value)
            if cell is None:
                text = str(int(value))
                cell = (Decimal(text + ".00"), text, None, False) if len(text) <= max_chars else None
                if len(whole) < MEMO_LIMIT:
                    whole[value] = cell
            return cell
        text = repr(value)
        amount = Decimal(text)
        fen = amount.quantize(FEN)
        return (fen, text, None, False) if fen == amount and len(text) <= max_chars else None
    return shortcut


def _no_shortcut(max_chars: int) -> Callable[[object], None]:
    return _nothing


def _nothing(value: object) -> None:
    return None


# Kind -> the shortcut for a column (from its ``max_chars``): `convert`'s answer for the common
# cell, or None to take the long way.
SHORTCUTS: dict[str, Callable[[int], Callable[[object], Cell | None]]] = {
    "text": _plain_text, "code": partial(_plain_text, code=True), "money": _plain_money,
}


def default(column: Column, needed: bool) -> object:
    """What a blank optional cell means: the column's default (a text default is parsed like a cell,
    so a settings default "0.05" is a Decimal), else 0.00 for money the record cannot leave empty
    (``needed``: 代偿利息, 追偿费用), () for a list, else None (a blank cap is no cap)."""
    if column.default is not None:
        if isinstance(column.default, str) and column.kind not in ("text", "code", "choice"):
            return parse(column, column.default)
        return column.default
    if column.kind == "money" and needed:
        return ZERO
    return () if column.kind == "list" else None


# Every code this module can raise, for read.ISSUE_CODES.
CELL_CODES: dict[str, str] = {
    "cell.money": "金额无法识别：带单位、超过两位小数、负数或不是数字",
    "cell.ratio": "比例无法识别或不在 0 到 1 之间",
    "cell.date": "日期无法识别（支持日期格式单元格、2026-03-07、2026/3/7、2026年3月7日）",
    "cell.period": "期间无法识别（应为 YYYY-MM）",
    "cell.choice": "不是该列的可选值",
    "cell.yesno": "不是“是”或“否”",
    "cell.int": "不是整数",
    "cell.number": "不是数字",
    "cell.error": "单元格是错误值（#N/A、#DIV/0! 等）",
    "id.numeric": "证件号码存成了数字，Excel 已损坏原值",
    "code.numeric": "编号存成了超过15位的数字，Excel 已损坏原值",
}
