"""One guarantee's own state, advanced posting by posting: what its postings make of it.

The Book (``ledger``) keeps the totals across guarantees; it asks here what one guarantee
counts in them (its outstanding, its liability, its place in the open book). ``restore`` is a
guarantee fetched from the stored ledger: its postings replayed, oldest first.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from operator import itemgetter

from .model import Kind, NewGuarantee, Party, PARTIES, Posting, TIE_ORDER
from .money import ZERO, allocate, round_fen


def _zero_parties() -> dict[Party, Decimal]:
    return {p: ZERO for p in PARTIES}


NO_EXPOSURES = (ZERO,) * len(PARTIES)
_BY_PARTY = itemgetter(*PARTIES)                        # a full {party: amount} as a tuple


@dataclass(slots=True)
class Guarantee:
    """One member's guarantee as the postings so far make it."""
    member_id: str
    guarantee_id: str
    detail: NewGuarantee | None = None
    detail_key: str | None = None        # the key of the registration posting ``detail`` is from
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
    postings: int = 0                    # how many postings made it (applied tonight included)

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


def figures(g: Guarantee) -> tuple[Decimal, Decimal]:
    """What a registered guarantee counts in the totals: its outstanding and its liability,
    nothing once settled."""
    if g.settled or g.registered <= 0:
        return ZERO, ZERO
    outstanding = g.loan - g.repaid - g.defaulted
    return outstanding, _liability(g, outstanding)


def _liability(g: Guarantee, outstanding: Decimal) -> Decimal:
    """融资担保责任余额 of an active guarantee: guaranteed × outstanding ÷ loan."""
    loan = g.loan
    if loan <= 0:
        return ZERO
    if outstanding == loan:              # nothing repaid: exactly the guaranteed amount
        return g.guaranteed
    return round_fen(g.guaranteed * outstanding / loan)


def position(g: Guarantee, d: NewGuarantee, outstanding: Decimal) -> tuple:
    """What a guarantee with this ``outstanding`` (ZERO once settled or withdrawn) adds to the
    open book: (group key, (1, outstanding, exposures)), or () if nothing."""
    if outstanding <= 0:
        return ()
    weights = g.exposure_weights
    if g.weight_total == outstanding and any(weights.values()):
        exposures = _BY_PARTY(weights)
    elif not any(weights.values()):
        exposures = NO_EXPOSURES
    else:
        exposures = _BY_PARTY(allocate(outstanding, weights, TIE_ORDER))
    return (g.member_id, d.bank_id, d.product._value_, d.city), (1, outstanding, *exposures)


def advance(g: Guarantee, p: Posting) -> None:
    """One posting's effect on its own guarantee (the Book adds what it does to the totals)."""
    g.postings += 1
    kind = p.kind
    if kind is Kind.REGISTER:
        _advance_register(g, p)
    elif kind is Kind.REPAY:
        g.repaid += p.signed(p.principal)
        if p.settled:
            g.settled = p.sign > 0
    elif kind is Kind.DEFAULT:
        g.defaulted += p.signed(p.principal)
        g.lost = g.bore
        for party in PARTIES:
            g.lost[party] += p.signed(p.shares.get(party, ZERO))
    else:
        g.recovered += p.signed(p.principal)
        g.got = g.recovered_by
        for party in PARTIES:
            g.got[party] += p.signed(p.shares.get(party, ZERO))


def _advance_register(g: Guarantee, p: Posting) -> None:
    detail = p.detail
    assert detail is not None, "a registration carries its guarantee"
    shares = party_shares(p)
    if g.registered == 0 and p.sign > 0 and not g.loan and not any(g.exposure_weights.values()):
        first_registration(g, p, shares)
        return
    g.registered += p.sign
    g.loan += p.signed(p.principal)
    g.guaranteed += p.signed(detail.guaranteed_amount)
    weights = g.exposure_weights
    for party, share in zip(PARTIES, shares):
        weights[party] += p.signed(share)
    g.weight_total = sum(weights.values(), ZERO)
    if p.sign > 0:
        g.detail, g.detail_key = detail, p.key
        g.settled = False


def party_shares(p: Posting) -> tuple[Decimal, ...]:
    """A posting's share for each party, in PARTIES order, 0.00 where it has none."""
    return tuple(map(p.shares.get, PARTIES, NO_EXPOSURES))


def first_registration(g: Guarantee, p: Posting, shares: tuple[Decimal, ...]) -> None:
    """A guarantee's first registration: its figures are the posting's (a night holds many of
    these; ``Book._open`` and a replay both come here)."""
    assert p.detail is not None, "a registration posting carries its guarantee's detail"
    g.registered, g.loan, g.guaranteed = 1, p.principal, p.detail.guaranteed_amount
    g.exposure_weights = dict(zip(PARTIES, shares))
    g.weight_total = sum(shares, ZERO)
    g.detail, g.detail_key, g.settled = p.detail, p.key, False


def restore(member_id: str, guarantee_id: str, postings: list[Posting]) -> Guarantee:
    """A guarantee as its stored postings (oldest first) leave it, with the figures the Book
    counted for it in its totals: what a full replay would hold for it."""
    g = Guarantee(member_id, guarantee_id)
    for p in postings:
        advance(g, p)
    return counted(g)


def counted(g: Guarantee) -> Guarantee:
    """``g`` with the figures the Book counts for it in its totals, as a fetched guarantee must
    arrive (replayed from its postings, or read from its kept state)."""
    if g.detail is not None:
        g.open_principal, g.liability = figures(g)
        g.position = position(g, g.detail, g.open_principal)
    return g


# A guarantee with at most this many postings is replayed from them when a night touches it:
# reading a few rows costs about what reading its kept state and writing it back would. Past it,
# its state is kept (``guaranteedb``), so a night's cost stays flat however long the history.
REPLAY_LIMIT = 4


def worth_keeping(g: Guarantee) -> bool:
    """Whether the ledger keeps this guarantee's state: once its postings are more than a replay
    reads cheaply. A night's new business (most of its rows) and young guarantees write none."""
    return g.postings > REPLAY_LIMIT
