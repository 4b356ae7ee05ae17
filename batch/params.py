"""The reference workbook (基础数据) as effective-dated rules, members, banks and credit lines.

Every number finance can change lives here, read from the workbook; nothing in the rules is a
constant in code. A broken reference workbook stops the run before anything is posted.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Iterable, Mapping

from .model import Issue, Party, PARTIES, Product, Where

FAR_FUTURE = date(9999, 12, 31)
DEFAULT_LEVERAGE_CAP = Decimal("10")


@dataclass(frozen=True, slots=True)
class ProductRule:
    product: Product
    name: str
    effective_from: date
    until: date                          # exclusive
    shares: Mapping[Party, Decimal]
    borrower_cap: Decimal | None
    fee_rate_cap: Decimal | None
    reguarantee_fee_rate: Decimal
    compensation_ceiling: Decimal | None
    max_term_months: int | None
    borrower_types: frozenset[str]       # empty = any


@dataclass(frozen=True, slots=True)
class Member:
    member_id: str
    name: str
    city: str
    status: str
    admitted: date
    terminated: date | None
    net_assets: Decimal
    leverage_cap: Decimal
    products: frozenset[Product]
    emails: frozenset[str]
    concentration_cap: Decimal


@dataclass(frozen=True, slots=True)
class CreditLine:
    member_id: str
    bank_id: str
    amount: Decimal
    start: date
    end: date                            # inclusive: the line's last day


@dataclass(frozen=True, slots=True)
class FundInput:
    """A movement finance records (opening balance, contribution, interest, adjustment)."""
    on: date
    kind: str
    amount: Decimal
    note: str
    where: Where

    @property
    def key(self) -> str:
        """Identifies the line across nights so it is posted once, whatever its row number."""
        return f"{self.on.isoformat()}|{self.kind}|{self.amount}|{self.note}"


@dataclass(frozen=True, slots=True)
class Settings:
    assumed_default_rate: Decimal = Decimal("0.05")
    assumed_fund_share: Decimal = Decimal("0.15")
    leverage_warning: Decimal = Decimal("0.9")
    concentration_cap: Decimal = Decimal("0.10")


@dataclass(frozen=True, slots=True)
class Params:
    members: Mapping[str, Member]
    banks: Mapping[str, str]
    credit_lines: tuple[CreditLine, ...]
    rules: tuple[ProductRule, ...]
    fund_inputs: tuple[FundInput, ...]
    settings: Settings

    _memo: dict = field(default_factory=dict, compare=False, repr=False)

    def rule(self, product: Product, on: date) -> ProductRule | None:
        """The share table in force on ``on`` (the loan's own start date, never 'today')."""
        key = ("rule", product, on)
        try:                                 # a night asks the same few (product, day) pairs
            return self._memo[key]           # (several times a row: one look-up each)
        except KeyError:
            live = [r for r in self.rules
                    if r.product is product and r.effective_from <= on < r.until]
            found = self._memo[key] = max(live, key=lambda r: r.effective_from) if live else None
            return found

    def credit_line(self, member_id: str, bank_id: str, on: date) -> CreditLine | None:
        key = ("credit", member_id, bank_id, on)
        if key not in self._memo:
            if "lines" not in self._memo:    # index the lines once by (member, bank)
                index: dict[tuple[str, str], list[CreditLine]] = {}
                for c in self.credit_lines:
                    index.setdefault((c.member_id, c.bank_id), []).append(c)
                self._memo["lines"] = index
            live = [c for c in self._memo["lines"].get((member_id, bank_id), ())
                    if c.start <= on <= c.end]
            self._memo[key] = max(live, key=lambda c: c.start) if live else None
        return self._memo[key]

    def member_by_email(self, address: str) -> Member | None:
        address = address.strip().lower()
        return next((m for m in self.members.values() if address in m.emails), None)


def _issue(code: str, where: Where, message: str) -> Issue:
    return Issue(code, where, message)


def _rule(fields: Mapping, issues: list[Issue]) -> ProductRule | None:
    where: Where = fields["where"]
    shares = {p: fields[p.value] for p in PARTIES}
    if sum(shares.values()) != 1:
        issues.append(_issue("ref.shares", where.at("bank"),
                             f"各方比例之和为 {sum(shares.values())}，应等于 1（100%）"))
        return None
    until = fields.get("until") or FAR_FUTURE
    if until <= fields["effective_from"]:
        issues.append(_issue("ref.dates", where.at("until"), "失效日期应晚于生效日期"))
        return None
    return ProductRule(
        product=fields["product"] if isinstance(fields["product"], Product) else Product(fields["product"]),
        name=fields["name"], effective_from=fields["effective_from"], until=until, shares=shares,
        borrower_cap=fields.get("borrower_cap"), fee_rate_cap=fields.get("fee_rate_cap"),
        reguarantee_fee_rate=fields["reguarantee_fee_rate"],
        compensation_ceiling=fields.get("compensation_ceiling"),
        max_term_months=fields.get("max_term_months"),
        borrower_types=frozenset(fields.get("borrower_types") or ()))


def _member(fields: Mapping, settings: Settings, issues: list[Issue]) -> Member | None:
    where: Where = fields["where"]
    products = set()
    for code in fields.get("products") or ():
        try:
            products.add(Product(code.upper()))
        except ValueError:
            issues.append(_issue("ref.product", where.at("products"),
                                 f"授权产品「{code}」不存在，应为 BL/ZY/LD/YB/LH/FD"))
            return None
    if fields["net_assets"] <= 0:
        issues.append(_issue("ref.net_assets", where.at("net_assets"), "净资产应大于零"))
        return None
    return Member(
        member_id=fields["member_id"], name=fields["member_name"], city=fields["city"],
        status=fields["status"], admitted=fields["admitted"], terminated=fields.get("terminated"),
        net_assets=fields["net_assets"],
        leverage_cap=Decimal(fields.get("leverage_cap") or DEFAULT_LEVERAGE_CAP),
        products=frozenset(products),
        emails=frozenset(e.strip().lower() for e in fields.get("emails") or ()),
        concentration_cap=fields.get("concentration_cap") or settings.concentration_cap)


def _settings(values: Mapping[str, object]) -> Settings:
    known = {k: Decimal(str(v)) for k, v in values.items()
             if k in Settings.__dataclass_fields__ and v not in (None, "")}
    return Settings(**known)


def _unique(records: Iterable[Mapping], key: str, label: str, issues: list[Issue]) -> dict:
    seen: dict = {}
    for fields in records:
        if fields[key] in seen:
            issues.append(_issue("ref.duplicate", fields["where"].at(key),
                                 f"{label}「{fields[key]}」重复出现"))
        seen[fields[key]] = fields
    return seen


def _records(rows) -> list[Mapping]:
    return [r.record for r in rows if r.record is not None]


def params_from_workbook(workbook) -> tuple[Params | None, tuple[Issue, ...]]:
    """Build the rules from a read reference workbook; any error means no Params at all."""
    issues: list[Issue] = [i for i in workbook.issues if i.is_error]
    for rows in workbook.rows.values():
        issues.extend(i for r in rows for i in r.issues if i.is_error)
    settings = _settings(workbook.labels.get("settings", {}))
    banks = {k: f["bank_name"] for k, f in
             _unique(_records(workbook.rows.get("banks", ())), "bank_id", "银行编号", issues).items()}
    members = {}
    for key, fields in _unique(_records(workbook.rows.get("members", ())), "member_id",
                               "机构编号", issues).items():
        if (member := _member(fields, settings, issues)) is not None:
            members[key] = member
    rules = tuple(r for f in _records(workbook.rows.get("products", ()))
                  if (r := _rule(f, issues)) is not None)
    credit = tuple(CreditLine(f["member_id"], f["bank_id"], f["amount"], f["start"], f["end"])
                   for f in _records(workbook.rows.get("credit", ())))
    fund = tuple(FundInput(f["date"], f["kind"], f["amount"], f.get("note") or "", f["where"])
                 for f in _records(workbook.rows.get("fund", ())))
    for line in credit:
        if line.member_id not in members or line.bank_id not in banks:
            issues.append(Issue("ref.unknown", Where(workbook_name(workbook), "授信额度"),
                                f"授信额度引用了不存在的机构「{line.member_id}」或银行「{line.bank_id}」"))
    if not rules:
        issues.append(Issue("ref.no_rules", Where(workbook_name(workbook), "产品规则"),
                            "产品规则表没有可用的规则，请至少填写一行"))
    if issues:
        return None, tuple(issues)
    return Params(members, banks, credit, rules, fund, settings), ()


def workbook_name(workbook) -> str:
    for rows in workbook.rows.values():
        for row in rows:
            return row.where.file
    return "基础数据.xlsx"


ISSUE_CODES = {
    "ref.shares": "基础数据：产品规则各方比例之和不等于 1",
    "ref.dates": "基础数据：失效日期不晚于生效日期",
    "ref.product": "基础数据：授权产品代码不存在",
    "ref.net_assets": "基础数据：净资产不大于零",
    "ref.duplicate": "基础数据：机构编号或银行编号重复",
    "ref.unknown": "基础数据：授信额度引用了不存在的机构或银行",
    "ref.no_rules": "基础数据：没有产品规则",
}
