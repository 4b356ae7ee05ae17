"""Pure money rules: who bears what of a loan, a default and a recovery; the re-guarantee fee.

Every function takes the figures it needs and returns amounts that sum exactly to the whole
(largest-remainder allocation), so nothing here can create or lose a fen.
"""
from __future__ import annotations

from datetime import date
from decimal import Decimal
from functools import lru_cache
from typing import Mapping

from .model import NewGuarantee, Party, PARTIES, Product, TIE_ORDER
from .money import ZERO, allocate, round_fen
from .params import ProductRule

DEFAULT_JOINT_SHARE = Decimal("0.5")
SYSTEM_PARTIES = (Party.REGUARANTOR, Party.FUND)     # what the compensation ceiling stops
CLAIMED_PARTIES = (Party.REGUARANTOR, Party.FUND, Party.LOCAL)


def fund_applies(g: NewGuarantee, rule: ProductRule) -> bool:
    """The fund shares only when the row asks and the borrower type is eligible."""
    eligible = not rule.borrower_types or g.borrower_type in rule.borrower_types
    return g.fund_cover and eligible and rule.shares[Party.FUND] > 0


def share_weights(g: NewGuarantee, rule: ProductRule) -> dict[Party, Decimal]:
    """The fraction of a loss each party bears under this guarantee's own terms.

    BL without fund cover: the fund's share falls to the member (20/55/25/0/0). LH: the filed
    re-guarantor share s, the member 1-s. FD is handled by amount, see ``counter_split``.
    """
    weights = {p: rule.shares[p] for p in PARTIES}
    if not fund_applies(g, rule):
        weights[Party.MEMBER] += weights[Party.FUND]
        weights[Party.FUND] = ZERO
    if g.product is Product.LH:
        s = g.reguarantor_share if g.reguarantor_share is not None else DEFAULT_JOINT_SHARE
        weights = {p: ZERO for p in PARTIES} | {Party.MEMBER: 1 - s, Party.REGUARANTOR: s}
    return weights


def counter_split(amount: Decimal, counter_left: Decimal) -> dict[Party, Decimal]:
    """FD: the re-guarantor bears up to what is left of the counter-guarantee, the member the rest."""
    reguarantor = min(max(counter_left, ZERO), amount)
    return {p: ZERO for p in PARTIES} | {Party.REGUARANTOR: reguarantor,
                                         Party.MEMBER: amount - reguarantor}


def split(amount: Decimal, weights: Mapping[Party, Decimal]) -> dict[Party, Decimal]:
    """Exact allocation over all five parties, parties without weight getting 0.00."""
    live = {p: w for p, w in weights.items() if w > 0}
    if not live or amount == 0:
        return dict.fromkeys(PARTIES, ZERO)
    return dict.fromkeys(PARTIES, ZERO) | allocate(amount, live, TIE_ORDER)


def registration_exposures(g: NewGuarantee, rule: ProductRule) -> dict[Party, Decimal]:
    """Each party's contingent liability at registration: its share of the loan amount."""
    if g.product is Product.FD:
        return counter_split(g.loan_amount, g.counter_amount or ZERO)
    return split(g.loan_amount, share_weights(g, rule))


def expected_guarantee(g: NewGuarantee, rule: ProductRule) -> Decimal:
    """担保金额 for BL/ZY: the member guarantees the loan less the bank's share."""
    return round_fen(g.loan_amount * (1 - rule.shares[Party.BANK]))


@lru_cache(maxsize=4096)
def term_years(start: date, maturity: date) -> Decimal:
    """Whole calendar months count as twelfths; days left over count as days ÷ 365.

    A one-year loan is exactly 1 whatever leap day it spans, which is what finance expects.
    Remembered: a filing's loans share a few start and maturity dates, and both the term check
    and the fee ask.
    """
    months = (maturity.year - start.year) * 12 + maturity.month - start.month
    if maturity.day < start.day:
        months -= 1
    anchor_year, anchor_month = divmod(start.month - 1 + months, 12)
    anchor = _same_day(start.year + anchor_year, anchor_month + 1, start.day)
    return Decimal(months) / 12 + Decimal((maturity - anchor).days) / 365


def _same_day(year: int, month: int, day: int) -> date:
    while True:
        try:
            return date(year, month, day)
        except ValueError:
            day -= 1


def term_months(start: date, maturity: date) -> Decimal:
    return term_years(start, maturity) * 12


def reguarantee_fee(g: NewGuarantee, rule: ProductRule) -> Decimal:
    """再担保费 = rate × guaranteed amount × term in years, half-up to the fen."""
    return round_fen(rule.reguarantee_fee_rate * g.guaranteed_amount
                     * term_years(g.start_date, g.maturity_date))


def default_split(g: NewGuarantee, rule: ProductRule, principal: Decimal, *, claim: bool,
                  within_ceiling: bool, counter_left: Decimal) -> dict[Party, Decimal]:
    """Who finally bears a defaulted principal.

    Not claimed: the re-guarantor, the fund and local government bear nothing, the member bears
    their part. Above the compensation ceiling: the re-guarantor and the fund bear nothing.
    The bank always keeps its agreed share.
    """
    if g.product is Product.FD:
        left = counter_left if (claim and within_ceiling) else ZERO
        return counter_split(principal, left)
    weights = share_weights(g, rule)
    stopped = CLAIMED_PARTIES if not claim else (SYSTEM_PARTIES if not within_ceiling else ())
    for party in stopped:
        weights[Party.MEMBER] += weights[party]
        weights[party] = ZERO
    return split(principal, weights)


def recovery_split(net: Decimal, bore: Mapping[Party, Decimal]) -> dict[Party, Decimal]:
    """Money recovered, net of costs, goes back in the proportions the loss was borne."""
    return split(net, bore)


def capacity(balance: Decimal, fund_share: Decimal, default_rate: Decimal) -> tuple[Decimal, Decimal]:
    """The article's reach: balance ÷ fund share = defaults covered; ÷ default rate = loans."""
    if fund_share <= 0 or default_rate <= 0:
        return ZERO, ZERO
    defaults = balance / fund_share
    return round_fen(defaults), round_fen(defaults / default_rate)
