"""Figures for finance from the ledger's running totals: leverage and capacity.

(The night's posting totals and the open book are summed in SQL, ``store.night_sums`` and
``store.open_book``, and tallied in ``reports.figures``.)"""
from __future__ import annotations

from decimal import Decimal

from .ledger import Book
from . import rules
from .outcome import MemberPosition
from .params import Params


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
