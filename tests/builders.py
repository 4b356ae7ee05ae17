"""Small builders so a test reads like the business: params, rows and filings in a few lines."""
from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import date
from decimal import Decimal as D

from batch.fund import Fund
from batch.ledger import Book
from batch.model import (FundKind, BalanceLine, Cover, Default, Filing, NewGuarantee, Party, Product,
                         Recovery, Repayment, Row, Where)
from batch.params import CreditLine, Member, Params, ProductRule, Settings
from batch.process import Night, process_filing

FAR = date(9999, 12, 31)
SHARES = {
    Product.BL: ("0.20", "0.40", "0.25", "0.15", "0"),
    Product.ZY: ("0.20", "0.40", "0.30", "0", "0.10"),
    Product.LD: ("0", "0.5", "0.5", "0", "0"),
    Product.YB: ("0", "0.6", "0.4", "0", "0"),
    Product.LH: ("0", "0.5", "0.5", "0", "0"),
    Product.FD: ("0", "1", "0", "0", "0"),
}
SMALL = frozenset({"小型企业", "微型企业", "个体工商户", "农户", "新型农业经营主体"})
CAPS = {Product.BL: D("5000000"), Product.ZY: D("20000000")}

# valid 统一社会信用代码, one per borrower index
def uscc(n: int) -> str:
    from stdnum.cn.uscc import calc_check_digit
    body = f"91370100MA{n:07d}"[:17]
    return body + calc_check_digit(body)


def rule(product: Product, **overrides) -> ProductRule:
    parties = (Party.BANK, Party.MEMBER, Party.REGUARANTOR, Party.FUND, Party.LOCAL)
    base = ProductRule(product, product.label, date(2015, 1, 1), FAR,
                       {p: D(s) for p, s in zip(parties, SHARES[product])},
                       CAPS.get(product), D("0.02"), D("0.005"), D("0.05"), 36,
                       SMALL if product is Product.BL else frozenset())
    return replace(base, **overrides)


def member(member_id: str = "M001", **overrides) -> Member:
    base = Member(member_id, "济南市中小企业融资担保有限公司", "济南市", "正常", date(2015, 1, 1), None,
                  D("200000000"), D("10"), frozenset(Product), frozenset({"m001@example.cn"}),
                  D("0.10"))
    return replace(base, **overrides)


def params(*members: Member, rules: tuple[ProductRule, ...] | None = None,
           credit: D = D("10000000000"), fund_inputs=()) -> Params:
    members = members or (member(),)
    banks = {"B01": "天津银行", "B02": "齐鲁银行"}
    lines = tuple(CreditLine(m.member_id, b, credit, date(2015, 1, 1), FAR)
                  for m in members for b in banks)
    return Params({m.member_id: m for m in members}, banks, lines,
                  rules or tuple(rule(p) for p in Product), tuple(fund_inputs), Settings())


def where(sheet: str, row: int, file: str = "M001_2026-03.xlsx") -> Where:
    return Where(file, sheet, row)


def new(gid: str = "G001", *, row: int = 2, loan: str = "3750000.00", guaranteed: str | None = None,
        product: Product = Product.BL, fund_cover: bool = True, borrower: int = 1,
        borrower_type: str = "小型企业", start: date = date(2016, 3, 7),
        maturity: date = date(2017, 3, 7), bank: str = "B01", share: str | None = None,
        counter: str | None = None, fee_rate: str = "0.017") -> NewGuarantee:
    loan_d = D(loan)
    if guaranteed is None:
        guaranteed = str(loan_d * D("0.8")) if product in (Product.BL, Product.ZY) else loan
    return NewGuarantee(where("新增业务", row), gid, f"借款人{borrower}", uscc(borrower),
                        borrower_type, "C", "济南市", "历下区", bank, f"HT-{gid}", loan_d,
                        D(guaranteed).quantize(D("0.01")), D(fee_rate), start, maturity, product,
                        fund_cover, D(share) if share else None, D(counter) if counter else None)


def repay(gid: str, principal: str, *, row: int = 2, on: date = date(2016, 6, 1),
          settled: bool = False) -> Repayment:
    return Repayment(where("还款解保", row), gid, on, D(principal), settled)


def default(gid: str, principal: str, *, row: int = 2, on: date = date(2017, 3, 10),
            claim: bool = True, interest: str = "0.00") -> Default:
    return Default(where("代偿", row), gid, on, D(principal), D(interest), claim)


def recover(gid: str, amount: str, *, row: int = 2, on: date = date(2017, 6, 1),
            costs: str = "0.00") -> Recovery:
    return Recovery(where("追偿", row), gid, on, D(amount), D(costs))


def balance(gid: str, outstanding: str, *, row: int = 2) -> BalanceLine:
    return BalanceLine(where("在保余额", row), gid, D(outstanding))


SHEET_OF = {NewGuarantee: "new", Repayment: "repay", Default: "default", Recovery: "recover",
            BalanceLine: "balance"}


def filing(*records, member_id: str = "M001", period: str = "2026-03", kind: str = "正常",
           name: str | None = None) -> Filing:
    rows: dict[str, list[Row]] = {}
    for r in records:
        rows.setdefault(SHEET_OF[type(r)], []).append(Row(r.where, (), r))
    body = repr((member_id, period, kind, name, records)).encode()
    return Filing(name or f"{member_id}_{period}.xlsx", hashlib.sha256(body).hexdigest(),
                  Cover(member_id, "测试机构", period, kind), {k: tuple(v) for k, v in rows.items()})


def night(p: Params | None = None, *, fund: str = "223000000.00",
          run_date: date = date(2026, 11, 27)) -> Night:
    n = Night(p or params(), Book(), Fund(), run_date)
    n.receive(FundKind.OPENING, D(fund))
    return n


def post(n: Night, *records, **kw):
    """Process one filing built from ``records`` on night ``n``; returns its outcome."""
    f = filing(*records, **kw)
    return process_filing(f, f.name, None, n)


def codes(outcome, sheet: str = "new") -> list[tuple[int, tuple[str, ...]]]:
    """(row, error codes) of every row of one sheet: what the receipt says."""
    return [(r.row.where.row, tuple(i.code for i in r.issues if i.is_error))
            for r in outcome.rows.get(sheet, ())]
