"""State derived from postings: guarantees, exposures, the figures the checks need, the fund.

``Book.apply`` is the only way state changes, for a posting replayed from the store and for one
made tonight alike, so a night's checks see exactly what a replay of the whole ledger would.
A reversal (sign -1) subtracts what its original added.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal

from .model import (FARMERS, SMALL_MICRO, Claim, FundKind, FundMove, Kind, NewGuarantee, Party,
                    PARTIES, Posting, Source, TIE_ORDER)
from .money import ZERO, allocate, round_fen

SMALL_MICRO_WEIGHT_LIMIT = Decimal("5000000")
FARMER_WEIGHT_LIMIT = Decimal("2000000")
REDUCED_WEIGHT = Decimal("0.75")


def _zero_parties() -> dict[Party, Decimal]:
    return {p: ZERO for p in PARTIES}


@dataclass(slots=True)
class Guarantee:
    """One member's guarantee as the postings so far make it."""
    member_id: str
    guarantee_id: str
    detail: NewGuarantee | None = None
    registered: int = 0
    loan: Decimal = ZERO
    guaranteed: Decimal = ZERO
    repaid: Decimal = ZERO
    defaulted: Decimal = ZERO
    recovered: Decimal = ZERO
    exposure_weights: dict[Party, Decimal] = field(default_factory=_zero_parties)
    bore: dict[Party, Decimal] = field(default_factory=_zero_parties)
    recovered_by: dict[Party, Decimal] = field(default_factory=_zero_parties)
    settled: bool = False
    liability: Decimal = ZERO            # cached, to update aggregates by difference
    open_principal: Decimal = ZERO       # cached outstanding counted in aggregates

    @property
    def active(self) -> bool:
        return self.registered > 0 and self.detail is not None

    @property
    def outstanding(self) -> Decimal:
        return self.loan - self.repaid - self.defaulted if self.active else ZERO

    @property
    def is_open(self) -> bool:
        return self.active and self.outstanding > 0 and not self.settled

    def current_liability(self) -> Decimal:
        """融资担保责任余额 of this guarantee: guaranteed × outstanding ÷ loan."""
        if not self.active or self.loan <= 0:
            return ZERO
        return round_fen(self.guaranteed * self.outstanding / self.loan)

    def exposures(self) -> dict[Party, Decimal]:
        """Each party's contingent liability on what is still outstanding."""
        if self.outstanding <= 0 or not any(self.exposure_weights.values()):
            return _zero_parties()
        return allocate(self.outstanding, self.exposure_weights, TIE_ORDER)


def liability_weight(borrower_type: str, liability: Decimal) -> Decimal:
    """融资担保责任余额计量办法 (2018): small/micro ≤ 500万 and farmers ≤ 200万 count 75%."""
    if borrower_type in SMALL_MICRO and liability <= SMALL_MICRO_WEIGHT_LIMIT:
        return REDUCED_WEIGHT
    if borrower_type in FARMERS and liability <= FARMER_WEIGHT_LIMIT:
        return REDUCED_WEIGHT
    return Decimal(1)


class Book:
    """Every guarantee and the running aggregates the checks read."""

    def __init__(self) -> None:
        self.guarantees: dict[tuple[str, str], Guarantee] = {}
        self.borrower_outstanding: dict[str, Decimal] = defaultdict(lambda: ZERO)
        self.member_borrower: dict[tuple[str, str], Decimal] = defaultdict(lambda: ZERO)
        self.borrower_type: dict[tuple[str, str], str] = {}
        self.member_weighted: dict[str, Decimal] = defaultdict(lambda: ZERO)
        self.member_bank: dict[tuple[str, str], Decimal] = defaultdict(lambda: ZERO)
        self.registered_principal: dict[tuple[str, str], Decimal] = defaultdict(lambda: ZERO)
        self.defaulted_principal: dict[tuple[str, str], Decimal] = defaultdict(lambda: ZERO)
        self.contracts: dict[tuple[str, str], set[str]] = defaultdict(set)
        self.postings_by_source: dict[str, list[Posting]] = defaultdict(list)
        self.filings_by_period: dict[tuple[str, str], list[str]] = {}

    # ---- read-only view used by the checks -------------------------------------------------

    def guarantee(self, member_id: str, guarantee_id: str) -> Guarantee | None:
        g = self.guarantees.get((member_id, guarantee_id))
        return g if g is not None and g.active else None

    def member_liability(self, member_id: str) -> Decimal:
        return self.member_weighted[member_id]

    def weighted(self, member_id: str, borrower_id: str, borrower_type: str,
                 extra: Decimal) -> Decimal:
        """The member's weighted liability if ``extra`` were added for this borrower."""
        key = (member_id, borrower_id)
        before = self.member_borrower[key]
        old_type = self.borrower_type.get(key, borrower_type)
        return (self.member_weighted[member_id] - before * liability_weight(old_type, before)
                + (before + extra) * liability_weight(borrower_type, before + extra))

    def compensation_rate(self, member_id: str, product: str) -> Decimal | None:
        registered = self.registered_principal[(member_id, product)]
        if registered <= 0:
            return None
        return self.defaulted_principal[(member_id, product)] / registered

    # ---- the one way state changes ----------------------------------------------------------

    def apply(self, posting: Posting, *, record: bool = True) -> None:
        key = (posting.member_id, posting.guarantee_id)
        g = self.guarantees.get(key)
        if g is None:
            g = self.guarantees[key] = Guarantee(posting.member_id, posting.guarantee_id)
        _APPLY[posting.kind](self, g, posting)
        self._refresh(g)
        if record:
            self.postings_by_source[posting.source.sha256].append(posting)

    def undo(self, postings: list[Posting]) -> None:
        """Take back postings applied tonight and not yet stored (a correction rejected whole)."""
        for posting in reversed(postings):
            self.apply(replace(posting, sign=-posting.sign), record=False)
            self.postings_by_source[posting.source.sha256].remove(posting)

    def _register(self, g: Guarantee, p: Posting) -> None:
        detail = p.detail
        assert detail is not None, "a registration carries its guarantee"
        g.registered += p.sign
        g.loan += p.signed(p.principal)
        g.guaranteed += p.signed(detail.guaranteed_amount)
        for party in PARTIES:
            g.exposure_weights[party] += p.signed(p.shares.get(party, ZERO))
        if p.sign > 0:
            g.detail = detail
            g.settled = False
        product_key = (p.member_id, detail.product.value)
        self.registered_principal[product_key] += p.signed(p.principal)
        contract = self.contracts[(detail.bank_id, detail.loan_contract_no)]
        (contract.add if p.sign > 0 else contract.discard)(p.member_id)

    def _repay(self, g: Guarantee, p: Posting) -> None:
        g.repaid += p.signed(p.principal)
        if p.settled:
            g.settled = p.sign > 0

    def _default(self, g: Guarantee, p: Posting) -> None:
        g.defaulted += p.signed(p.principal)
        for party in PARTIES:
            g.bore[party] += p.signed(p.shares.get(party, ZERO))
        if g.detail is not None:
            self.defaulted_principal[(p.member_id, g.detail.product.value)] += p.signed(p.principal)

    def _recover(self, g: Guarantee, p: Posting) -> None:
        g.recovered += p.signed(p.principal)
        for party in PARTIES:
            g.recovered_by[party] += p.signed(p.shares.get(party, ZERO))

    def _refresh(self, g: Guarantee) -> None:
        """Move the aggregates by what this guarantee's outstanding and liability changed."""
        if g.detail is None:
            return
        d = g.detail
        outstanding = g.outstanding if not g.settled else ZERO
        liability = g.current_liability() if not g.settled else ZERO
        self.borrower_outstanding[d.borrower_id] += outstanding - g.open_principal
        self.member_bank[(g.member_id, d.bank_id)] += liability - g.liability
        key = (g.member_id, d.borrower_id)
        before = self.member_borrower[key]
        after = before + liability - g.liability
        old_type = self.borrower_type.get(key, d.borrower_type)
        self.member_weighted[g.member_id] += (after * liability_weight(d.borrower_type, after)
                                              - before * liability_weight(old_type, before))
        self.member_borrower[key] = after
        self.borrower_type[key] = d.borrower_type
        g.open_principal, g.liability = outstanding, liability


_APPLY = {Kind.REGISTER: Book._register, Kind.REPAY: Book._repay,
          Kind.DEFAULT: Book._default, Kind.RECOVER: Book._recover}


# ---- the fund account --------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Fund:
    """The compensation fund as a value: money in hand and claims waiting, oldest first.

    The balance never goes negative: a claim larger than the balance is paid in part and the rest
    waits as 待补偿, paid first-come first-served from the next money that arrives.
    """
    balance: Decimal = ZERO
    claims: tuple[Claim, ...] = ()

    @property
    def pending(self) -> Decimal:
        return sum((c.unpaid for c in self.claims), ZERO)

    def receive(self, on: date, kind: FundKind, amount: Decimal, *, member_id: str = "",
                guarantee_id: str = "", source: Source | None = None,
                note: str = "") -> tuple["Fund", list[FundMove]]:
        balance = self.balance + amount
        moves = [FundMove(on, kind, amount, member_id, guarantee_id, source, "", note, balance)]
        fund, paid = Fund(balance, self.claims)._pay_waiting(on)
        return fund, moves + paid

    def claim(self, claim: Claim, kind: FundKind = FundKind.CLAIM_PAID) -> tuple["Fund", list[FundMove]]:
        paid = min(self.balance, claim.amount)
        balance = self.balance - paid
        moves = [FundMove(claim.on, kind, -paid, claim.member_id, claim.guarantee_id,
                          claim.source, claim.claim_id,
                          "" if paid == claim.amount else f"余额不足，待补偿 {claim.amount - paid}",
                          balance)]
        waiting = self.claims + ((replace(claim, unpaid=claim.amount - paid),)
                                 if paid < claim.amount else ())
        return Fund(balance, waiting), moves

    def cancel(self, claim_id: str) -> tuple["Fund", Decimal]:
        """Withdraw a claim's unpaid rest (a correction reversed its default); returns that rest."""
        rest = sum((c.unpaid for c in self.claims if c.claim_id == claim_id), ZERO)
        return Fund(self.balance, tuple(c for c in self.claims if c.claim_id != claim_id)), rest

    def _pay_waiting(self, on: date) -> tuple["Fund", list[FundMove]]:
        balance, moves, left = self.balance, [], []
        for c in self.claims:
            pay = min(balance, c.unpaid)
            if pay > 0:
                balance -= pay
                moves.append(FundMove(on, FundKind.PENDING_PAID, -pay, c.member_id,
                                      c.guarantee_id, c.source, c.claim_id,
                                      f"支付 {c.on} 的待补偿", balance))
            if c.unpaid - pay > 0:
                left.append(replace(c, unpaid=c.unpaid - pay))
        return Fund(balance, tuple(left)), moves
