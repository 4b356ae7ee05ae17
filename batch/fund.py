"""The compensation fund account as a value: what comes in, the claims it pays, what waits.

Kept apart from the Book: the fund moves by money received and claims made, in the order the
night makes them, and never reads a guarantee.
"""
from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal
from typing import Sequence

from .model import Claim, FundKind, FundMove, Source
from .money import ZERO


class Fund:
    """The compensation fund as a value: money in hand and claims waiting, oldest first.

    The balance never goes negative: a claim larger than the balance is paid in part and the rest
    waits as 待补偿, paid first-come first-served from the next money that arrives.

    The queue is persistent: successive values share one append-only list of claims (and an
    index of where each claim id was appended), each value seeing its own stretch of it
    (``_start``..``_end``, its first claim perhaps paid in part: ``_front``, the ids withdrawn
    from it: ``_gone``). A claim added, paid or withdrawn touches only itself, so a night that
    adds, pays or withdraws thousands of claims on a long queue (a national fund run dry) stays
    linear, where a tuple copied the whole queue for each (bench/history.py --queue). An older
    value, such as the checkpoint a rejected correction rolls back to, stays valid: appending to
    it again copies its stretch first. Two funds are equal when their balances and waiting claims
    are.
    """
    __slots__ = ("balance", "pending", "_log", "_where", "_start", "_end", "_front", "_gone")

    def __init__(self, balance: Decimal = ZERO, claims: Sequence[Claim] = ()) -> None:
        log = list(claims)
        self._set(balance, sum((c.unpaid for c in log), ZERO), log,
                  {c.claim_id: i for i, c in enumerate(log)}, 0, len(log), None, frozenset())

    def _set(self, balance: Decimal, pending: Decimal, log: list[Claim], where: dict[str, int],
             start: int, end: int, front: Claim | None, gone: frozenset[str]) -> None:
        self.balance, self.pending = balance, pending        # pending: the waiting claims' sum
        self._log, self._where, self._start, self._end = log, where, start, end
        self._front, self._gone = front, gone

    def _with(self, **changed) -> "Fund":
        """This value with some of its fields changed (the list itself is shared, not copied)."""
        fields = {"balance": self.balance, "pending": self.pending, "log": self._log,
                  "where": self._where, "start": self._start, "end": self._end,
                  "front": self._front, "gone": self._gone, **changed}
        fund = Fund.__new__(Fund)
        fund._set(**fields)
        return fund

    @property
    def claims(self) -> tuple[Claim, ...]:
        """The waiting claims, oldest first (a copy: the night's outputs read it once)."""
        if self._start == self._end:
            return ()
        found = (self._front or self._log[self._start], *self._log[self._start + 1:self._end])
        return tuple(c for c in found if c.claim_id not in self._gone) if self._gone else found

    def waiting(self, claim_id: str) -> Claim | None:
        """The claim of this id while it waits, with what it is still owed."""
        at = self._where.get(claim_id)
        if at is None or not self._start <= at < self._end or claim_id in self._gone \
                or self._log[at].claim_id != claim_id:
            return None
        return self._front if at == self._start and self._front else self._log[at]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Fund):
            return NotImplemented
        return self.balance == other.balance and self.claims == other.claims

    __hash__ = None                                                  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Fund(balance={self.balance!r}, claims={self.claims!r})"

    def receive(self, on: date, kind: FundKind, amount: Decimal, *, member_id: str = "",
                guarantee_id: str = "", source: Source | None = None,
                note: str = "") -> tuple["Fund", list[FundMove]]:
        balance = self.balance + amount
        moves = [FundMove(on, kind, amount, member_id, guarantee_id, source, "", note, balance)]
        fund, paid = self._with(balance=balance)._pay_waiting(on)
        return fund, moves + paid

    def claim(self, claim: Claim, kind: FundKind = FundKind.CLAIM_PAID) -> tuple["Fund", list[FundMove]]:
        paid = min(self.balance, claim.amount)
        balance = self.balance - paid
        moves = [FundMove(claim.on, kind, -paid, claim.member_id, claim.guarantee_id,
                          claim.source, claim.claim_id,
                          "" if paid == claim.amount else f"余额不足，待补偿 {claim.amount - paid}",
                          balance)]
        if paid >= claim.amount:
            return self._with(balance=balance), moves
        waiting = replace(claim, unpaid=claim.amount - paid)
        log, where, start = self._log, self._where, self._start
        if self._end != len(log):          # another value appended past this one: copy ours
            log, start = log[start:self._end], 0
            where = {c.claim_id: i for i, c in enumerate(log)}
        where[waiting.claim_id] = len(log)
        log.append(waiting)
        return self._with(balance=balance, pending=self.pending + waiting.unpaid, log=log,
                          where=where, start=start, end=len(log)), moves

    def cancel(self, claim_id: str) -> tuple["Fund", Decimal]:
        """Withdraw a claim's unpaid rest (a correction reversed its default); returns that rest
        (nothing if it no longer waits)."""
        claim = self.waiting(claim_id)
        if claim is None:
            return self, ZERO
        return self._with(pending=self.pending - claim.unpaid,
                          gone=self._gone | {claim_id}), claim.unpaid

    def _pay_waiting(self, on: date) -> tuple["Fund", list[FundMove]]:
        """Pay waiting claims oldest first while money lasts; once it is gone the rest wait as
        they are, untouched."""
        balance, pending, moves = self.balance, self.pending, []
        log, start, end, front = self._log, self._start, self._end, self._front
        gone = self._gone
        while balance > 0 and start < end:
            c = front or log[start]
            if c.claim_id in gone:                     # withdrawn: step over it
                start, front, gone = start + 1, None, gone - {c.claim_id}
                continue
            pay = min(balance, c.unpaid)
            balance -= pay
            pending -= pay
            moves.append(FundMove(on, FundKind.PENDING_PAID, -pay, c.member_id, c.guarantee_id,
                                  c.source, c.claim_id, f"支付 {c.on} 的待补偿", balance))
            if pay < c.unpaid:
                front = replace(c, unpaid=c.unpaid - pay)
            else:
                start, front = start + 1, None
        return self._with(balance=balance, pending=pending, start=start, front=front,
                          gone=gone), moves
