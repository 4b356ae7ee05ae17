"""Small pure checks, one business rule each, collected in registries and never raised.

A check takes one typed row and a read-only context and yields Issues with a stable code and a
Chinese message saying what is wrong and how to fix it. History (caps, leverage, credit lines,
duplicates) is read through the context's ``book``, so the checks hold across nights and members.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import AbstractSet, Callable, Iterator, Mapping, Protocol

from stdnum.cn import ric, uscc
from stdnum.exceptions import ValidationError

from .model import (PERSON_TYPES, Default, Issue, NewGuarantee, Party, Product, Recovery,
                    Repayment, BalanceLine)
from .money import FEN, ZERO
from .params import Member, Params, ProductRule
from . import rules


class Held(Protocol):
    """What the checks read of a guarantee the ledger holds (registered, so ``detail`` is set)."""
    @property
    def detail(self) -> NewGuarantee | None: ...
    @property
    def outstanding(self) -> Decimal: ...
    @property
    def defaulted(self) -> Decimal: ...
    @property
    def recovered(self) -> Decimal: ...
    @property
    def is_open(self) -> bool: ...
    @property
    def bore(self) -> Mapping[Party, Decimal]: ...


class View(Protocol):
    """What the checks may know of the ledger: read-only figures, never the postings."""
    @property
    def borrower_outstanding(self) -> Mapping[str, Decimal]: ...
    @property
    def member_borrower(self) -> Mapping[tuple[str, str], Decimal]: ...
    @property
    def member_bank(self) -> Mapping[tuple[str, str], Decimal]: ...
    @property
    def contracts(self) -> Mapping[tuple[str, str], AbstractSet[str]]: ...

    def guarantee(self, member_id: str, guarantee_id: str) -> Held | None: ...
    def weighted(self, member_id: str, borrower_id: str, borrower_type: str,
                 extra: Decimal) -> Decimal: ...
    def compensation_rate(self, member_id: str, product: str) -> Decimal | None: ...


NO_HOLDERS: AbstractSet[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Context:
    params: Params
    book: View
    member: Member
    run_date: date
    _rules: dict = field(default_factory=dict, compare=False, repr=False)
    _lines: dict = field(default_factory=dict, compare=False, repr=False)

    def rule(self, g: NewGuarantee) -> ProductRule | None:
        """The row's product rule on its own start date; remembered here too, as most checks of
        every row ask."""
        key = g.product, g.start_date
        try:
            return self._rules[key]
        except KeyError:
            found = self._rules[key] = self.params.rule(*key)
            return found

    def credit_line(self, bank_id: str, on: date):
        """The member's credit line at a bank on a day, remembered as ``rule`` is."""
        key = bank_id, on
        try:
            return self._lines[key]
        except KeyError:
            found = self._lines[key] = self.params.credit_line(self.member.member_id, bank_id, on)
            return found


def _wan(amount: Decimal) -> str:
    return f"{amount:,.2f}元"


# ---- new business ------------------------------------------------------------------------

def check_member_may_register(g: NewGuarantee, ctx: Context) -> Iterator[Issue]:
    m = ctx.member
    if m.status != "正常":
        yield Issue("member.status", g.where, f"机构状态为「{m.status}」，不能报送新增业务，"
                    "只能报送还款、代偿和追偿")
    elif g.product not in m.products:
        yield Issue("member.product", g.where.at("product"),
                    f"本机构未获授权开展 {g.product.value}（{g.product.label}）业务，"
                    f"已授权：{','.join(sorted(p.value for p in m.products)) or '无'}")


def check_rule(g: NewGuarantee, ctx: Context) -> Iterator[Issue]:
    if ctx.rule(g) is None:
        yield Issue("product.no_rule", g.where.at("start_date"),
                    f"{g.product.value} 在放款日期 {g.start_date} 没有生效的分险规则，请核对放款日期")


# Nearly every ID arrives in its plain form, with nothing for stdnum's generic cleaning (separators,
# full-width or look-alike characters) to undo: those are checked here, the rest by stdnum itself.
_PLAIN_USCC = re.compile(r"[0-9]{8}[0-9A-HJ-NP-RTUWXY]{10}")
_PLAIN_RESIDENT_ID = re.compile(r"[0-9]{17}[0-9X]")
_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
# GB 32100 weighs the i-th character by 3^i mod 31; since 34 ≡ 3 (mod 31) the weighted sum is, mod
# 31, the first 17 characters reversed and read in base 34 (stdnum's ric reads base 13 ≡ 2 mod 11).
_USCC_AS_BASE34 = str.maketrans(_USCC_ALPHABET, "0123456789ABCDEFGHIJKLMNOPQRSTU")


def valid_uscc(number: str) -> bool:
    """``stdnum.cn.uscc.is_valid``, without its cleaning layers (a third of a row's checks) for
    the plain form; tests hold the two equal."""
    if _PLAIN_USCC.fullmatch(number) is None:
        try:
            return uscc.is_valid(number)
        except ValueError:      # stdnum 2.x: a character outside its alphabet (a line break
            return False        # typed with Alt+Enter) raises instead of being invalid
    total = int(number[16::-1].translate(_USCC_AS_BASE34), 34)
    return number[17] == _USCC_ALPHABET[-total % 31]


def valid_resident_id(number: str) -> bool:
    """GB 11643: check digit and birth date only; an unfamiliar region code is not an error."""
    if _PLAIN_RESIDENT_ID.fullmatch(number) is not None:
        return number[17] == ric.calc_check_digit(number) and _is_date(number[6:14])
    try:
        number = ric.compact(number)
        if len(number) != 18 or not number[:-1].isdigit():
            return False
        ric.get_birth_date(number)
        return number[-1] == ric.calc_check_digit(number)
    except ValidationError:
        return False


def _is_date(yyyymmdd: str) -> bool:
    try:
        date(int(yyyymmdd[:4]), int(yyyymmdd[4:6]), int(yyyymmdd[6:]))
    except ValueError:
        return False
    return True


def check_identity(g: NewGuarantee, ctx: Context) -> Iterator[Issue]:
    number = g.borrower_id.upper()
    if valid_uscc(number):
        return
    if g.borrower_type in PERSON_TYPES and valid_resident_id(number):
        return
    allowed = "统一社会信用代码或居民身份证号码" if g.borrower_type in PERSON_TYPES else "统一社会信用代码"
    yield Issue("id.check", g.where.at("borrower_id"),
                f"证件号码「{g.borrower_id}」校验不通过，应为18位{allowed}，请核对后重填")


def check_borrower_type(g: NewGuarantee, ctx: Context) -> Iterator[Issue]:
    rule = ctx.rule(g)
    if rule and rule.borrower_types and g.borrower_type not in rule.borrower_types:
        yield Issue("borrower.type", g.where.at("borrower_type"),
                    f"{g.product.value} 只适用于：{'、'.join(sorted(rule.borrower_types))}；"
                    f"「{g.borrower_type}」不符合")
    if rule and g.fund_cover and rule.shares[Party.FUND] == 0:
        yield Issue("fund.not_applicable", g.where.at("fund_cover"),
                    f"{g.product.value} 不含补偿基金分担，申请代偿补偿不起作用", "warning")


def check_borrower_cap(g: NewGuarantee, ctx: Context) -> Iterator[Issue]:
    rule = ctx.rule(g)
    if rule is None or rule.borrower_cap is None:
        return
    total = ctx.book.borrower_outstanding.get(g.borrower_id, ZERO) + g.loan_amount
    if total > rule.borrower_cap:
        yield Issue("cap.borrower", g.where.at("loan_amount"),
                    f"该借款人在体系内的贷款余额合计 {_wan(total)}（含本笔），超过 {g.product.value} "
                    f"单户上限 {_wan(rule.borrower_cap)}")


def check_guaranteed_amount(g: NewGuarantee, ctx: Context) -> Iterator[Issue]:
    rule = ctx.rule(g)
    if g.loan_amount <= 0:
        yield Issue("amount.loan", g.where.at("loan_amount"), "贷款金额应大于零")
    elif rule and g.product in (Product.BL, Product.ZY):
        expected = rules.expected_guarantee(g, rule)
        if abs(g.guaranteed_amount - expected) > FEN:
            yield Issue("amount.guarantee", g.where.at("guaranteed_amount"),
                        f"担保金额应为贷款金额×(1－银行比例{rule.shares[Party.BANK]:.0%})＝{_wan(expected)}，"
                        f"填报为 {_wan(g.guaranteed_amount)}")
    elif not ZERO < g.guaranteed_amount <= g.loan_amount:
        yield Issue("amount.guarantee", g.where.at("guaranteed_amount"),
                    "担保金额应大于零且不超过贷款金额")


def check_fee_rate(g: NewGuarantee, ctx: Context) -> Iterator[Issue]:
    rule = ctx.rule(g)
    if g.fee_rate < 0 or g.fee_rate >= 1:
        yield Issue("fee.rate", g.where.at("fee_rate"), "担保费率应在 0 到 100% 之间，如 0.017 或 1.7%")
    elif rule and rule.fee_rate_cap is not None and g.fee_rate > rule.fee_rate_cap:
        yield Issue("fee.cap", g.where.at("fee_rate"),
                    f"担保费率 {g.fee_rate:.2%} 超过 {g.product.value} 上限 {rule.fee_rate_cap:.2%}")


def check_dates(g: NewGuarantee, ctx: Context) -> Iterator[Issue]:
    rule = ctx.rule(g)
    if g.start_date > g.maturity_date:
        yield Issue("date.order", g.where.at("maturity_date"), "到期日期早于放款日期，请核对")
    if g.start_date > ctx.run_date:
        yield Issue("date.future", g.where.at("start_date"),
                    f"放款日期 {g.start_date} 晚于处理日 {ctx.run_date}，尚未放款的业务请放款后再报")
    if rule and rule.max_term_months and g.start_date <= g.maturity_date:
        months = rules.term_months(g.start_date, g.maturity_date)
        if months > rule.max_term_months:
            yield Issue("date.term", g.where.at("maturity_date"),
                        f"期限约 {months:.1f} 个月，超过 {g.product.value} 最长期限 {rule.max_term_months} 个月")


def check_credit_line(g: NewGuarantee, ctx: Context) -> Iterator[Issue]:
    if g.bank_id not in ctx.params.banks:
        yield Issue("bank.unknown", g.where.at("bank_id"),
                    f"「{g.bank_id}」不是合作银行编号，请按基础数据中的银行编号填写")
        return
    line = ctx.credit_line(g.bank_id, g.start_date)
    if line is None:
        yield Issue("credit.none", g.where.at("bank_id"),
                    f"放款日 {g.start_date} 本机构在{ctx.params.banks[g.bank_id]}没有有效授信")
        return
    used = ctx.book.member_bank.get((ctx.member.member_id, g.bank_id), ZERO) + g.guaranteed_amount
    if used > line.amount:
        yield Issue("credit.exceeded", g.where.at("guaranteed_amount"),
                    f"本机构在{ctx.params.banks[g.bank_id]}的担保余额将达 {_wan(used)}（含本笔），"
                    f"超过授信额度 {_wan(line.amount)}")


def check_leverage(g: NewGuarantee, ctx: Context) -> Iterator[Issue]:
    m = ctx.member
    cap = m.net_assets * m.leverage_cap
    after = ctx.book.weighted(m.member_id, g.borrower_id, g.borrower_type, g.guaranteed_amount)
    if after > cap:
        yield Issue("leverage.cap", g.where.at("guaranteed_amount"),
                    f"加入本笔后融资担保责任余额 {_wan(after)} 超过净资产 {m.leverage_cap} 倍"
                    f"上限 {_wan(cap)}，本笔不予备案")


def check_concentration(g: NewGuarantee, ctx: Context) -> Iterator[Issue]:
    m = ctx.member
    limit = m.net_assets * m.concentration_cap
    after = ctx.book.member_borrower.get((m.member_id, g.borrower_id), ZERO) + g.guaranteed_amount
    if after > limit:
        yield Issue("concentration", g.where.at("guaranteed_amount"),
                    f"该借款人在本机构的担保余额将达 {_wan(after)}，超过净资产的 "
                    f"{m.concentration_cap:.0%}（{_wan(limit)}）")


def check_duplicate(g: NewGuarantee, ctx: Context) -> Iterator[Issue]:
    member_id = ctx.member.member_id
    if ctx.book.guarantee(member_id, g.guarantee_id) is not None:
        yield Issue("dup.guarantee", g.where.at("guarantee_id"),
                    f"业务编号「{g.guarantee_id}」已备案，不能重复报送；如需修改请报送更正")
    holders = ctx.book.contracts.get((g.bank_id, g.loan_contract_no), NO_HOLDERS)
    if len(holders) > (member_id in holders):         # a member besides this one (rare)
        others = holders - {member_id}
        yield Issue("dup.contract", g.where.at("loan_contract_no"),
                    f"同一银行借款合同已由机构 {'、'.join(sorted(others))} 报送，请核实是否重复担保",
                    "warning")


def check_product_terms(g: NewGuarantee, ctx: Context) -> Iterator[Issue]:
    if g.product is Product.LH and g.reguarantor_share is not None \
            and not ZERO < g.reguarantor_share < 1:
        yield Issue("lh.share", g.where.at("reguarantor_share"), "再担保比例应大于 0 且小于 100%")
    if g.product is Product.FD and not (g.counter_amount and g.counter_amount > 0):
        yield Issue("fd.counter", g.where.at("counter_amount"), "体系反担保（FD）须填写大于零的反担保金额")


# Order matters only for reading: cheap shape checks first, history checks last.
NEW_CHECKS: tuple[Callable[[NewGuarantee, Context], Iterator[Issue]], ...] = (
    check_member_may_register, check_rule, check_product_terms, check_identity,
    check_borrower_type, check_guaranteed_amount, check_fee_rate, check_dates, check_duplicate,
    check_borrower_cap, check_credit_line, check_concentration, check_leverage)


# ---- events on registered guarantees ----------------------------------------------------

def check_known(e, ctx: Context) -> Iterator[Issue]:
    if ctx.book.guarantee(ctx.member.member_id, e.guarantee_id) is None:
        yield Issue("event.unknown", e.where.at("guarantee_id"),
                    f"业务编号「{e.guarantee_id}」未在本机构备案（或已被更正撤销），请先报送新增业务")


def check_event_date(e, ctx: Context) -> Iterator[Issue]:
    g = ctx.book.guarantee(ctx.member.member_id, e.guarantee_id)
    if e.date > ctx.run_date:
        yield Issue("date.future", e.where.at("date"), f"日期 {e.date} 晚于处理日 {ctx.run_date}")
    elif g is not None and g.detail is not None and e.date < g.detail.start_date:
        yield Issue("event.date", e.where.at("date"), f"日期 {e.date} 早于放款日期 {g.detail.start_date}")


def _beyond_outstanding(e: Repayment | Default, g: Held, action: str, code: str) -> list[Issue]:
    """A repayment or default needs an open guarantee and at most its outstanding principal."""
    if not g.is_open:
        return [Issue("event.closed", e.where.at("guarantee_id"),
                      f"该笔业务已结清或已全部代偿，不能再{action}")]
    if not ZERO < e.principal <= g.outstanding:
        return [Issue(code, e.where.at("principal"),
                      f"{action}本金应大于零且不超过在保余额 {_wan(g.outstanding)}")]
    return []


def check_repayment(e: Repayment, ctx: Context) -> Iterator[Issue]:
    g = ctx.book.guarantee(ctx.member.member_id, e.guarantee_id)
    if g is None:
        return
    problems = _beyond_outstanding(e, g, "还款", "repay.exceeds")
    yield from problems
    if not problems and e.settled and e.principal != g.outstanding:
        yield Issue("repay.settled", e.where.at("settled"),
                    f"标记结清但还款后仍有余额 {_wan(g.outstanding - e.principal)}，请核对还款本金或是否结清")


def check_default(e: Default, ctx: Context) -> Iterator[Issue]:
    g = ctx.book.guarantee(ctx.member.member_id, e.guarantee_id)
    if g is not None:
        yield from _beyond_outstanding(e, g, "代偿", "default.exceeds")


def check_recovery(e: Recovery, ctx: Context) -> Iterator[Issue]:
    g = ctx.book.guarantee(ctx.member.member_id, e.guarantee_id)
    if g is None:
        return
    if g.defaulted <= 0:
        yield Issue("recover.nothing", e.where.at("guarantee_id"), "该笔业务没有代偿记录，不能报送追偿")
    elif e.costs > e.amount or e.amount <= 0:
        yield Issue("recover.costs", e.where.at("costs"), "回收金额应大于零，追偿费用不能超过回收金额")
    elif g.recovered + e.amount - e.costs > g.defaulted:
        yield Issue("recover.exceeds", e.where.at("amount"),
                    f"累计净回收将超过代偿本金 {_wan(g.defaulted)}（已回收 {_wan(g.recovered)}）")


def check_balance(e: BalanceLine, ctx: Context) -> Iterator[Issue]:
    g = ctx.book.guarantee(ctx.member.member_id, e.guarantee_id)
    if g is not None and e.outstanding != g.outstanding:
        yield Issue("balance.diff", e.where.at("outstanding"),
                    f"期末在保余额与系统记录不符：报送 {_wan(e.outstanding)}，系统 {_wan(g.outstanding)}，"
                    f"差额 {_wan(e.outstanding - g.outstanding)}")


EVENT_CHECKS = {
    "repay": (check_known, check_event_date, check_repayment),
    "default": (check_known, check_event_date, check_default),
    "recover": (check_known, check_event_date, check_recovery),
    "balance": (check_known, check_balance),
}
CHECKS = {"new": NEW_CHECKS, **EVENT_CHECKS}


ISSUE_CODES = {
    "member.status": "机构暂停或终止，不能报送新增业务",
    "member.product": "机构未获授权开展该产品",
    "product.no_rule": "放款日期没有生效的产品规则",
    "id.check": "证件号码校验位或出生日期不对",
    "borrower.type": "借款人类型不适用于该产品",
    "fund.not_applicable": "（提示）该产品不含补偿基金分担",
    "cap.borrower": "借款人在体系内贷款余额超过单户上限",
    "amount.loan": "贷款金额不大于零",
    "amount.guarantee": "担保金额与贷款金额、银行比例不符",
    "fee.rate": "担保费率不在 0–100% 之间",
    "fee.cap": "担保费率超过产品上限",
    "date.order": "到期日期早于放款日期",
    "date.future": "日期晚于处理日",
    "date.term": "期限超过产品最长期限",
    "bank.unknown": "不是合作银行",
    "credit.none": "放款日没有有效授信",
    "credit.exceeded": "担保余额超过该银行授信额度",
    "leverage.cap": "融资担保放大倍数超过上限",
    "concentration": "单一借款人担保余额超过净资产集中度上限",
    "dup.guarantee": "业务编号已备案",
    "dup.contract": "（提示）同一银行借款合同已由其他机构报送",
    "lh.share": "联合担保再担保比例不在 0–100% 之间",
    "fd.counter": "体系反担保未填反担保金额",
    "event.unknown": "业务编号未备案或已被更正撤销",
    "event.closed": "业务已结清或已全部代偿",
    "event.date": "日期早于放款日期",
    "repay.exceeds": "还款本金超过在保余额",
    "repay.settled": "标记结清但仍有余额",
    "default.exceeds": "代偿本金超过在保余额",
    "recover.nothing": "没有代偿记录却报送追偿",
    "recover.costs": "追偿费用超过回收金额",
    "recover.exceeds": "累计净回收超过代偿本金",
    "balance.diff": "期末在保余额与系统记录不符",
}
