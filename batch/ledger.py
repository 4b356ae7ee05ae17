"""State derived from postings: guarantees, exposures, the figures the checks need, the fund.

``Book.apply`` is the only way state changes, for a posting replayed from the store and for one
made tonight alike, so a night's checks see exactly what a replay of the whole ledger would.
A reversal (sign -1) subtracts what its original added.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from operator import add, sub

from .model import (FARMERS, SMALL_MICRO, Claim, FundKind, FundMove, Kind, NewGuarantee, Party,
                    PARTIES, Posting, Source, TIE_ORDER)
from .money import ZERO, allocate, round_fen

SMALL_MICRO_WEIGHT_LIMIT = Decimal("5000000")
FARMER_WEIGHT_LIMIT = Decimal("2000000")
REDUCED_WEIGHT = Decimal("0.75")


def _zero_parties() -> dict[Party, Decimal]:
    return {p: ZERO for p in PARTIES}


PositionKey = tuple[str, str, str, str]           # member, bank, product, city
NO_POSITION = (0, ZERO, ZERO, ZERO, ZERO, ZERO, ZERO)   # count, outstanding, 5 exposures


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
    weight_total: Decimal = ZERO         # sum of exposure_weights, asked on every posting
    lost: dict[Party, Decimal] | None = None         # bore / recovered_by, made on first use:
    got: dict[Party, Decimal] | None = None          # most guarantees never default
    settled: bool = False
    liability: Decimal = ZERO            # cached, to update aggregates by difference
    open_principal: Decimal = ZERO       # cached outstanding counted in aggregates
    position: tuple = ()                 # cached (key, (count, outstanding, exposures...)) counted

    @property
    def active(self) -> bool:
        return self.registered > 0 and self.detail is not None

    @property
    def bore(self) -> dict[Party, Decimal]:
        """Each party's share of the defaulted principal so far."""
        return self.lost if self.lost is not None else _zero_parties()

    @property
    def recovered_by(self) -> dict[Party, Decimal]:
        """Each party's share of the net recoveries so far."""
        return self.got if self.got is not None else _zero_parties()

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
        outstanding = self.outstanding
        if outstanding == self.loan:          # nothing repaid: exactly the guaranteed amount
            return self.guaranteed
        return round_fen(self.guaranteed * outstanding / self.loan)

    def exposures(self) -> dict[Party, Decimal]:
        """Each party's contingent liability on what is still outstanding."""
        outstanding, weights = self.outstanding, self.exposure_weights
        if outstanding <= 0 or not any(weights.values()):
            return _zero_parties()
        if self.weight_total == outstanding:          # nothing repaid: the weights themselves
            return dict(weights)
        return allocate(outstanding, weights, TIE_ORDER)


def liability_weight(borrower_type: str, liability: Decimal) -> Decimal:
    """融资担保责任余额计量办法 (2018): small/micro ≤ 500万 and farmers ≤ 200万 count 75%."""
    if borrower_type in SMALL_MICRO and liability <= SMALL_MICRO_WEIGHT_LIMIT:
        return REDUCED_WEIGHT
    if borrower_type in FARMERS and liability <= FARMER_WEIGHT_LIMIT:
        return REDUCED_WEIGHT
    return Decimal(1)


class Cached(dict):
    """A running total keyed as the checks ask for it: a missing key is fetched from the stored
    ledger (``fetch``; None when the ledger has none) or starts at ``make()``; every key set is
    remembered in ``dirty`` so the store writes back only what a night changed.

    With no ``fetch`` (a book built in memory, as the tests do) it is a plain defaultdict."""

    def __init__(self, make=None, fetch=None) -> None:
        super().__init__()
        self.make, self.fetch = make, fetch
        self.dirty: set = set()

    def __missing__(self, key):
        value = self.fetch(key) if self.fetch is not None else None
        if value is None and self.make is not None:
            value = self.make()
        dict.__setitem__(self, key, value)
        return value

    def __setitem__(self, key, value) -> None:
        dict.__setitem__(self, key, value)
        self.dirty.add(key)

    def get(self, key, default=None):
        value = self[key]
        return default if value is None else value

    def fill(self, found, keys=()) -> None:
        """Bulk-load: the ``found`` entries, and the default for ``keys`` the ledger lacks."""
        for key, value in found.items():
            if not dict.__contains__(self, key):
                dict.__setitem__(self, key, value)
        for key in keys:
            if not dict.__contains__(self, key):
                dict.__setitem__(self, key, self.make() if self.make is not None else None)

    def touch(self, key) -> None:
        self.dirty.add(key)

    def changed(self) -> dict:
        return {k: dict.__getitem__(self, k) for k in self.dirty}

    def evict(self) -> None:
        self.clear()
        self.dirty.clear()


def _zero() -> Decimal:
    return ZERO


class Book:
    """Every guarantee and the running aggregates the checks read.

    In memory (``Book()``) it starts empty. Backed by a stored ledger (``Book(fetch)``, see
    ``session.py``) each total is fetched by key the first time a night needs it, so a night
    costs what it touches, not what the ledger holds.
    """

    def __init__(self, fetch=None) -> None:
        f = fetch or {}
        self.guarantees: Cached = Cached(None, f.get("guarantees"))
        self.borrower_outstanding: Cached = Cached(_zero, f.get("borrower_outstanding"))
        self.member_borrower: Cached = Cached(_zero, f.get("member_borrower"))
        self.borrower_type: Cached = Cached(None, f.get("borrower_type"))
        self.member_weighted: Cached = Cached(_zero, f.get("member_weighted"))
        self.member_bank: Cached = Cached(_zero, f.get("member_bank"))
        self.registered_principal: Cached = Cached(_zero, f.get("registered_principal"))
        self.defaulted_principal: Cached = Cached(_zero, f.get("defaulted_principal"))
        self.contracts: Cached = Cached(set, f.get("contracts"))
        self.contracts_shrunk: set[tuple[str, str]] = set()    # a member withdrawn from one
        self.positions: Cached = Cached(lambda: NO_POSITION, f.get("positions"))
        self.postings_by_source: Cached = Cached(list, f.get("postings_by_source"))
        self.filings_by_period: Cached = Cached(list, f.get("filings_by_period"))

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
        advance(g, posting)
        if posting.kind is Kind.REGISTER:
            self._register(posting)
        elif posting.kind is Kind.DEFAULT and g.detail is not None:
            self.defaulted_principal[(posting.member_id, g.detail.product.value)] += \
                posting.signed(posting.principal)
        self._refresh(g)
        self.guarantees.touch(key)
        if record:
            self.postings_by_source[posting.source.sha256].append(posting)

    def undo(self, postings: list[Posting]) -> None:
        """Take back postings applied tonight and not yet stored (a correction rejected whole)."""
        for posting in reversed(postings):
            self.apply(replace(posting, sign=-posting.sign), record=False)
            self.postings_by_source[posting.source.sha256].remove(posting)

    def _register(self, p: Posting) -> None:
        detail = p.detail
        product_key = (p.member_id, detail.product.value)
        self.registered_principal[product_key] += p.signed(p.principal)
        contract_key = (detail.bank_id, detail.loan_contract_no)
        contract = self.contracts[contract_key]
        if p.sign > 0:
            contract.add(p.member_id)
        else:
            contract.discard(p.member_id)
            self.contracts_shrunk.add(contract_key)
        self.contracts.touch(contract_key)

    def _refresh(self, g: Guarantee) -> None:
        """Move the aggregates by what this guarantee's outstanding and liability changed."""
        if g.detail is None:
            return
        d = g.detail
        outstanding = g.outstanding if not g.settled else ZERO
        liability = g.current_liability() if not g.settled else ZERO
        if outstanding != g.open_principal:
            self.borrower_outstanding[d.borrower_id] += outstanding - g.open_principal
        if liability != g.liability or (g.member_id, d.borrower_id) not in self.borrower_type \
                or self.borrower_type[(g.member_id, d.borrower_id)] != d.borrower_type:
            self._refresh_liability(g, d, liability)
        self._refresh_position(g, d)
        g.open_principal, g.liability = outstanding, liability

    def _refresh_liability(self, g: Guarantee, d: NewGuarantee, liability: Decimal) -> None:
        if liability != g.liability:
            self.member_bank[(g.member_id, d.bank_id)] += liability - g.liability
        key = (g.member_id, d.borrower_id)
        before = self.member_borrower[key]
        after = before + liability - g.liability
        old_type = self.borrower_type.get(key, d.borrower_type)
        delta = (after * liability_weight(d.borrower_type, after)
                 - before * liability_weight(old_type, before))
        if delta:
            self.member_weighted[g.member_id] += delta
        if after != before:
            self.member_borrower[key] = after
        self.borrower_type[key] = d.borrower_type

    def _refresh_position(self, g: Guarantee, d: NewGuarantee) -> None:
        """Keep the open book by member, bank, product and city (for finance's reconciliation)."""
        now = position_of(g)
        was = g.position
        if now == was:
            return
        positions = self.positions
        if was:
            positions[was[0]] = tuple(map(sub, positions[was[0]], was[1]))
        if now:
            positions[now[0]] = tuple(map(add, positions[now[0]], now[1]))
        g.position = now


def position_of(g: Guarantee) -> tuple:
    """What an open guarantee adds to the open book: (group key, (1, outstanding, exposures))."""
    d = g.detail
    if g.registered <= 0 or d is None or g.settled:
        return ()
    outstanding = g.loan - g.repaid - g.defaulted
    if outstanding <= 0:
        return ()
    weights = g.exposure_weights
    if not any(weights.values()):
        exposures = (ZERO,) * len(PARTIES)
    elif g.weight_total == outstanding:
        exposures = tuple(weights[p] for p in PARTIES)
    else:
        parts = allocate(outstanding, weights, TIE_ORDER)
        exposures = tuple(parts[p] for p in PARTIES)
    return (g.member_id, d.bank_id, d.product.value, d.city), (1, outstanding, *exposures)


def advance(g: Guarantee, p: Posting) -> None:
    """One posting's effect on its own guarantee (the Book adds what it does to the totals)."""
    if p.kind is Kind.REGISTER:
        detail = p.detail
        assert detail is not None, "a registration carries its guarantee"
        if g.registered == 0 and p.sign > 0 and not g.loan and not any(g.exposure_weights.values()):
            # a first registration: share the posting's amounts (a night holds many of these)
            g.registered, g.loan, g.guaranteed = 1, p.principal, detail.guaranteed_amount
            g.exposure_weights = {party: p.shares.get(party, ZERO) for party in PARTIES}
            g.weight_total = sum(g.exposure_weights.values(), ZERO)
            g.detail, g.settled = detail, False
            return
        g.registered += p.sign
        g.loan += p.signed(p.principal)
        g.guaranteed += p.signed(detail.guaranteed_amount)
        for party in PARTIES:
            g.exposure_weights[party] += p.signed(p.shares.get(party, ZERO))
        g.weight_total = sum(g.exposure_weights.values(), ZERO)
        if p.sign > 0:
            g.detail = detail
            g.settled = False
    elif p.kind is Kind.REPAY:
        g.repaid += p.signed(p.principal)
        if p.settled:
            g.settled = p.sign > 0
    elif p.kind is Kind.DEFAULT:
        g.defaulted += p.signed(p.principal)
        g.lost = g.bore
        for party in PARTIES:
            g.lost[party] += p.signed(p.shares.get(party, ZERO))
    else:
        g.recovered += p.signed(p.principal)
        g.got = g.recovered_by
        for party in PARTIES:
            g.got[party] += p.signed(p.shares.get(party, ZERO))


def restore(member_id: str, guarantee_id: str, postings: list[Posting]) -> Guarantee:
    """A guarantee as its stored postings (oldest first) leave it, with the figures the Book
    counted for it in its totals: what a full replay would hold for it."""
    g = Guarantee(member_id, guarantee_id)
    for p in postings:
        advance(g, p)
    if g.detail is not None:
        g.open_principal = g.outstanding if not g.settled else ZERO
        g.liability = g.current_liability() if not g.settled else ZERO
        g.position = position_of(g)
    return g


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
