"""Frozen records every stage shares: parties, products, locations, issues, filing rows, postings.

Nothing here does work; these are the nouns of the business, so that each later stage can be a
pure function from one set of them to the next.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from dataclasses import field as _field
from operator import attrgetter
from datetime import date
from decimal import Decimal
from enum import Enum
from typing import Any, Mapping, Sequence, TypeVar, dataclass_transform


class Party(str, Enum):
    """Who finally bears a share of a defaulted principal."""
    BANK = "bank"
    MEMBER = "member"
    REGUARANTOR = "reguarantor"
    FUND = "fund"
    LOCAL = "local"

    @property
    def label(self) -> str:
        return PARTY_LABELS[self]


PARTY_LABELS = {Party.BANK: "银行", Party.MEMBER: "担保机构", Party.REGUARANTOR: "再担保",
                Party.FUND: "补偿基金", Party.LOCAL: "地方财政"}
PARTIES: tuple[Party, ...] = (Party.BANK, Party.MEMBER, Party.REGUARANTOR, Party.FUND, Party.LOCAL)
# Who gets a leftover fen when remainders tie (examples.md case 4): the re-guarantor first, the
# bank last, so rounding never moves money onto the weaker side of a claim by accident.
TIE_ORDER: tuple[Party, ...] = (Party.REGUARANTOR, Party.FUND, Party.LOCAL, Party.MEMBER, Party.BANK)


class Product(str, Enum):
    BL = "BL"   # 比例分险
    ZY = "ZY"   # 政银担
    LD = "LD"   # 连带责任再担保
    YB = "YB"   # 一般保证再担保
    LH = "LH"   # 联合担保
    FD = "FD"   # 体系反担保

    @property
    def label(self) -> str:
        return PRODUCT_LABELS[self]


PRODUCT_LABELS = {Product.BL: "比例分险", Product.ZY: "政银担", Product.LD: "连带责任再担保",
                  Product.YB: "一般保证再担保", Product.LH: "联合担保", Product.FD: "体系反担保"}

BORROWER_TYPES = ("中型企业", "小型企业", "微型企业", "个体工商户", "农户", "新型农业经营主体")
SMALL_MICRO = frozenset({"小型企业", "微型企业", "个体工商户", "新型农业经营主体"})
FARMERS = frozenset({"农户"})
PERSON_TYPES = frozenset({"个体工商户", "农户"})   # may give a resident ID instead of a USCC

CITIES = ("济南市", "青岛市", "淄博市", "枣庄市", "东营市", "烟台市", "潍坊市", "济宁市",
          "泰安市", "威海市", "日照市", "临沂市", "德州市", "聊城市", "滨州市", "菏泽市")
INDUSTRIES = tuple("ABCDEFGHIJKLMNOPQRST")

MEMBER_STATES = ("正常", "暂停", "终止")
FILING_KINDS = ("正常", "更正")
FUND_INPUT_KINDS = ("期初余额", "财政注资", "利息收入", "其他调整")


_Record = TypeVar("_Record")


@dataclass_transform(frozen_default=True)
def record(cls: type[_Record]) -> type[_Record]:
    """A frozen, slotted dataclass that pickles as its class and field values. Filings and their
    verdicts cross between processes every night; the slots default (``fields()`` looked up for
    every object, both ways) made that cost ~30 µs a row, about a third more than this."""
    made: Any = dataclass(frozen=True, slots=True)(cls)   # typed for callers by dataclass_transform
    values = attrgetter(*(f.name for f in fields(made)))

    def __reduce__(self: object) -> tuple[type, tuple[object, ...]]:
        return made, values(self)
    made.__reduce__ = __reduce__
    return made


@record
class Where:
    """A place in an input workbook, as Excel shows it (1-based row, column letter)."""
    file: str
    sheet: str = ""
    row: int = 0
    column: str = ""
    field: str = ""
    layout: Mapping[str, tuple[str, str]] = _field(default_factory=dict, compare=False,
                                                   hash=False, repr=False)

    def at(self, key: str) -> "Where":
        """The same row, pointing at one field (column letter and Chinese header)."""
        letter, header = self.layout.get(key, ("", key))
        return replace(self, column=letter, field=header)

    def render(self) -> str:
        parts = [self.file]
        if self.sheet:
            parts.append(f"工作表「{self.sheet}」")
        if self.row:
            parts.append(f"第{self.row}行")
        if self.column or self.field:
            label = f"{self.column}列" if self.column else ""
            parts.append(f"{label}（{self.field}）" if self.field else label)
        return " ".join(parts)


@record
class Issue:
    """One finding: a stable code (listed in the README), where, and what to do, in Chinese."""
    code: str
    where: Where
    message: str
    severity: str = "error"     # "error" rejects the row (or file); "warning" only informs

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    def render(self) -> str:
        return f"{self.where.render()}：{self.message}"


def any_error(issues: Sequence[Issue]) -> bool:
    """Whether any of ``issues`` rejects its row or file. Most rows have no issue at all: then
    no generator is made (a row's verdict asks this several times)."""
    return bool(issues) and any(i.is_error for i in issues)


# ---- filing rows -------------------------------------------------------------------------

@record
class Cover:
    member_id: str
    member_name: str
    period: str
    kind: str
    contact: str = ""
    phone: str = ""
    template_version: str = ""


@record
class NewGuarantee:
    where: Where
    guarantee_id: str
    borrower_name: str
    borrower_id: str
    borrower_type: str
    industry: str | None
    city: str
    county: str | None
    bank_id: str
    loan_contract_no: str
    loan_amount: Decimal
    guaranteed_amount: Decimal
    fee_rate: Decimal
    start_date: date
    maturity_date: date
    product: Product
    fund_cover: bool
    reguarantor_share: Decimal | None = None
    counter_amount: Decimal | None = None

    @property
    def grouping(self) -> tuple[str, str, str]:
        """Bank, product code and city: what its postings are stored and summed by (明细)."""
        return self.bank_id, self.product._value_, self.city     # .value is a property call


@record
class Repayment:
    where: Where
    guarantee_id: str
    date: date
    principal: Decimal
    settled: bool


@record
class Default:
    where: Where
    guarantee_id: str
    date: date
    principal: Decimal
    interest: Decimal
    claim: bool


@record
class Recovery:
    where: Where
    guarantee_id: str
    date: date
    amount: Decimal
    costs: Decimal


@record
class BalanceLine:
    where: Where
    guarantee_id: str
    outstanding: Decimal


Record = NewGuarantee | Repayment | Default | Recovery | BalanceLine


@record
class Row:
    """One data row as filed: its cells as the member typed them, and the typed record if every
    cell parsed (``record`` is None when a cell issue rejects the row before any rule sees it)."""
    where: Where
    cells: tuple[str, ...]
    record: Record | None
    issues: tuple[Issue, ...] = ()


@record
class Filing:
    """One input workbook as read: the cover, its rows per sheet in order, whole-file issues."""
    name: str
    sha256: str
    cover: Cover | None
    rows: Mapping[str, tuple[Row, ...]]          # sheet key -> rows
    issues: tuple[Issue, ...] = ()               # file-level (unreadable, missing cover, ...)
    headers: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # sheet key -> headers

    @property
    def readable(self) -> bool:
        return self.cover is not None and not any_error(self.issues)

    def source(self, where: Where) -> Source:
        """Where the posting of the row at ``where`` comes from (made in the main process and,
        for its 明细 line, in the worker that read the row: the same either way)."""
        return Source(self.sha256, self.name, where.sheet, where.row)

    def without_cells(self) -> "Filing":
        """What the ledger's checks need, light to send between processes: the typed records
        without the filed cells (those stay with the worker that read them, for the receipt)."""
        rows = {k: tuple(Row(r.where, (), r.record, r.issues) for r in rs)
                for k, rs in self.rows.items()}
        return Filing(self.name, self.sha256, self.cover, rows, self.issues, self.headers)


# ---- what the rules produce --------------------------------------------------------------

class Kind(str, Enum):
    REGISTER = "register"
    REPAY = "repay"
    DEFAULT = "default"
    RECOVER = "recover"

    @property
    def label(self) -> str:
        return {"register": "新增备案", "repay": "还款解保", "default": "代偿",
                "recover": "追偿"}[self.value]


@record
class Source:
    """Where a posting came from: the filing's bytes and the row in it."""
    sha256: str
    file: str
    sheet: str
    row: int


@record
class Posting:
    """One accepted event on one guarantee. Never changed: a reversal is a new Posting with
    ``sign = -1`` that mirrors the one it cancels (``reverses`` names it)."""
    kind: Kind
    member_id: str
    guarantee_id: str
    on: date
    source: Source
    principal: Decimal                      # loan / repaid / defaulted / net recovered
    shares: Mapping[Party, Decimal]         # exposures, loss split or recovery split
    fee: Decimal = Decimal("0.00")
    detail: NewGuarantee | None = None      # the registered attributes, REGISTER only
    settled: bool = False
    interest: Decimal = Decimal("0.00")
    gross: Decimal = Decimal("0.00")        # recovery before costs
    claimed: bool = False                   # default shared with re-guarantor/fund/local
    period: str = ""
    sign: int = 1
    reverses: str = ""                      # key of the posting a reversal cancels

    @property
    def key(self) -> str:
        """Natural identity: one posting per filed row, one reversal of it."""
        return f"{self.source.sha256}:{self.source.sheet}:{self.source.row}:{self.sign}"

    def signed(self, amount: Decimal) -> Decimal:
        return amount if self.sign > 0 else -amount


class FundKind(str, Enum):
    OPENING = "期初余额"
    CONTRIBUTION = "财政注资"
    INTEREST = "利息收入"
    ADJUSTMENT = "其他调整"
    CLAIM_PAID = "代偿补偿支出"
    PENDING_PAID = "待补偿支付"
    RECOVERY = "追偿回收"
    REVERSAL = "更正冲回"


@record
class FundMove:
    """One movement of the fund account; ``amount`` is signed (inflow +, outflow -)."""
    on: date
    kind: FundKind
    amount: Decimal
    member_id: str = ""
    guarantee_id: str = ""
    source: Source | None = None
    claim_id: str = ""
    note: str = ""
    balance_after: Decimal = Decimal("0.00")


@record
class Claim:
    """A fund share owed to a member; ``unpaid`` waits as 待补偿, first come first served."""
    claim_id: str
    on: date
    member_id: str
    guarantee_id: str
    amount: Decimal
    unpaid: Decimal
    source: Source | None = None
