"""Figures for finance from the night's postings and the book: positions, leverage, totals."""
from __future__ import annotations

from decimal import Decimal
from typing import Iterable

from .ledger import Book
from .model import Kind, Party, Posting
from . import rules
from .money import ZERO
from .outcome import FilingOutcome, MemberPosition, Position
from .params import Params


def positions(book: Book) -> tuple[Position, ...]:
    """Every guarantee still outstanding, with each party's exposure on what is left."""
    out = []
    for (member_id, guarantee_id), g in sorted(book.guarantees.items()):
        if not g.is_open:
            continue
        d = g.detail
        out.append(Position(member_id, guarantee_id, d.bank_id, d.product.value, d.city,
                            d.borrower_id, d.borrower_name, g.loan, g.outstanding, g.exposures()))
    return tuple(out)


def member_positions(book: Book, params: Params) -> tuple[MemberPosition, ...]:
    out = []
    for member in sorted(params.members.values(), key=lambda m: m.member_id):
        liability = book.member_liability(member.member_id)
        leverage = (liability / member.net_assets).quantize(Decimal("0.0001"))
        out.append(MemberPosition(
            member.member_id, member.name, member.city, member.status, member.net_assets,
            member.leverage_cap, liability, leverage,
            liability >= member.net_assets * member.leverage_cap * params.settings.leverage_warning))
    return tuple(out)


def night_postings(filings: Iterable[FilingOutcome]) -> list[Posting]:
    return [p for f in filings for p in (*f.reversals, *f.postings)]


def posting_totals(postings: Iterable[Posting]) -> dict[str, Decimal | int]:
    """Net figures of the night: a reversal counts against what it cancels."""
    t: dict[str, Decimal | int] = {
        "new_count": 0, "new_loan_principal": ZERO, "fees": ZERO, "repaid_principal": ZERO,
        "default_principal": ZERO, "compensation_reguarantor": ZERO, "compensation_fund": ZERO,
        "compensation_local": ZERO, "member_borne": ZERO, "recovery_total": ZERO,
        "recovery_fund": ZERO}
    for p in postings:
        if p.kind is Kind.REGISTER:
            t["new_count"] += p.sign
            t["new_loan_principal"] += p.signed(p.principal)
            t["fees"] += p.signed(p.fee)
        elif p.kind is Kind.REPAY:
            t["repaid_principal"] += p.signed(p.principal)
        elif p.kind is Kind.DEFAULT:
            t["default_principal"] += p.signed(p.principal)
            t["compensation_reguarantor"] += p.signed(p.shares[Party.REGUARANTOR])
            t["compensation_fund"] += p.signed(p.shares[Party.FUND])
            t["compensation_local"] += p.signed(p.shares[Party.LOCAL])
            t["member_borne"] += p.signed(p.shares[Party.MEMBER])
        else:
            t["recovery_total"] += p.signed(p.principal)
            t["recovery_fund"] += p.signed(p.shares[Party.FUND])
    return t


def capacity_figures(balance: Decimal, params: Params) -> tuple[Decimal, Decimal]:
    """可撬动代偿 and 可撬动贷款 with finance's assumed fund share and default rate."""
    return rules.capacity(balance, params.settings.assumed_fund_share,
                          params.settings.assumed_default_rate)
