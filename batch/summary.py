"""Figures for finance from the ledger's running totals: the open book, leverage, capacity.

(The night's posting totals are summed in SQL and tallied in ``reports.figures``.)"""
from __future__ import annotations

from decimal import Decimal
from typing import Iterable

from .ledger import Book
from .model import PARTIES
from . import rules
from .outcome import MemberPosition, Position
from .params import Params


def positions(totals: Iterable[tuple[tuple[str, str, str, str], tuple]]) -> tuple[Position, ...]:
    """The open book by member, bank, product and city, from the ledger's running totals
    (key → count, outstanding, five exposures); groups with nothing open are left out."""
    out = []
    for (member_id, bank_id, product, city), (count, outstanding, *exposures) in sorted(totals):
        if count or outstanding:
            out.append(Position(member_id, bank_id, product, city, count, outstanding,
                                dict(zip(PARTIES, exposures))))
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


def capacity_figures(balance: Decimal, params: Params) -> tuple[Decimal, Decimal]:
    """可撬动代偿 and 可撬动贷款 with finance's assumed fund share and default rate."""
    return rules.capacity(balance, params.settings.assumed_fund_share,
                          params.settings.assumed_default_rate)
