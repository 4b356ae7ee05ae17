"""The compensation fund account as a value: what comes in, the claims it pays, what waits.

Kept apart from the Book: the fund moves by money received and claims made, in the order the
night makes them, and never reads a guarantee.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal

from .model import Claim, FundKind, FundMove, Source
from .money import ZERO

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
        """Pay waiting claims oldest first while money lasts; once it is gone the rest wait as
        they are (a national night can hold thousands of waiting claims: touch only the paid)."""
        balance, moves, left = self.balance, [], []
        for i, c in enumerate(self.claims):
            if balance <= 0:
                left.extend(self.claims[i:])
                break
            pay = min(balance, c.unpaid)
            if pay > 0:
                balance -= pay
                moves.append(FundMove(on, FundKind.PENDING_PAID, -pay, c.member_id,
                                      c.guarantee_id, c.source, c.claim_id,
                                      f"支付 {c.on} 的待补偿", balance))
            if c.unpaid - pay > 0:
                left.append(replace(c, unpaid=c.unpaid - pay) if pay > 0 else c)
        return Fund(balance, tuple(left)), moves
