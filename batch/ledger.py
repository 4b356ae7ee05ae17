"""The Book: the totals across guarantees that the checks need (per borrower, member, bank,
product, contract, and the open book), moved by each guarantee's postings (``guarantee``).

``Book.apply`` is the only way state changes, for a posting replayed from the store and for one
made tonight alike, so a night's checks see exactly what a replay of the whole ledger would.
A reversal (sign -1) subtracts what its original added.
"""
from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from .guarantee import Guarantee, advance, figures, first_registration, party_shares, position
from .model import FARMERS, SMALL_MICRO, Kind, NewGuarantee, Posting
from .money import ZERO

SMALL_MICRO_WEIGHT_LIMIT = Decimal("5000000")
FARMER_WEIGHT_LIMIT = Decimal("2000000")
REDUCED_WEIGHT = Decimal("0.75")
FULL_WEIGHT = Decimal(1)
NO_POSITION = (0, ZERO, ZERO, ZERO, ZERO, ZERO, ZERO)   # count, outstanding, 5 exposures


def liability_weight(borrower_type: str, liability: Decimal) -> Decimal:
    """融资担保责任余额计量办法 (2018): small/micro ≤ 500万 and farmers ≤ 200万 count 75%."""
    if borrower_type in SMALL_MICRO and liability <= SMALL_MICRO_WEIGHT_LIMIT:
        return REDUCED_WEIGHT
    if borrower_type in FARMERS and liability <= FARMER_WEIGHT_LIMIT:
        return REDUCED_WEIGHT
    return FULL_WEIGHT


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
        """Bulk-load: the ``found`` entries, and the default for ``keys`` the ledger lacks; keys
        already held keep their value. (``dict.update`` bypasses ``__setitem__``: not dirty.)"""
        held = found.keys() & self.keys()          # rarely any: then no copy of ``found``
        dict.update(self, {k: v for k, v in found.items() if k not in held} if held else found)
        make = self.make
        dict.update(self, {k: make() if make is not None else None for k in keys if k not in self})

    def changed(self) -> dict:
        dirty = self.dirty
        return dict(zip(dirty, map(self.__getitem__, dirty)))

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
        g = self.guarantees[(member_id, guarantee_id)]        # None if the ledger has none
        return g if g is not None and g.active else None

    def member_liability(self, member_id: str) -> Decimal:
        return self.member_weighted[member_id]

    def weighted(self, member_id: str, borrower_id: str, borrower_type: str,
                 extra: Decimal) -> Decimal:
        """The member's weighted liability if ``extra`` were added for this borrower."""
        key = (member_id, borrower_id)
        before = self.member_borrower[key]
        known_type = self.borrower_type[key]
        old_type = borrower_type if known_type is None else known_type
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
        guarantees = self.guarantees
        g = guarantees[key]                  # fetched from the stored ledger the first time
        if g is None and posting.kind is Kind.REGISTER and posting.sign > 0 \
                and posting.detail is not None:
            self._open(key, posting)         # most of a night's postings
        else:
            self._change(key, g, posting)
        guarantees.dirty.add(key)
        if record:
            self.postings_by_source[posting.source.sha256].append(posting)

    def _change(self, key: tuple[str, str], g: Guarantee | None, posting: Posting) -> None:
        """Any posting: its effect on its guarantee, then on the totals."""
        if g is None:
            g = Guarantee(posting.member_id, posting.guarantee_id)
            _set(self.guarantees, key, g)
        advance(g, posting)
        if posting.kind is Kind.REGISTER:
            self._register(posting)
        elif posting.kind is Kind.DEFAULT and g.detail is not None:
            _add(self.defaulted_principal, (posting.member_id, g.detail.product._value_),
                 posting.signed(posting.principal))
        if g.detail is not None:
            self._refresh(g, g.detail)

    def _open(self, key: tuple[str, str], p: Posting) -> None:
        """The first registration of a guarantee the ledger has never held: what ``_change``
        does, in fewer steps. Nothing was counted for it, and while nothing is repaid its
        exposures are the posting's shares: no allocation (the tests hold the two equal)."""
        d = p.detail
        assert d is not None, "a registration posting carries its guarantee's detail"
        shares = party_shares(p)
        g = Guarantee(p.member_id, p.guarantee_id, postings=1)
        first_registration(g, p, shares)
        _set(self.guarantees, key, g)
        self._register(p)
        outstanding = g.loan - g.repaid - g.defaulted      # as _refresh has it, to the digit
        if outstanding > 0 and g.weight_total == outstanding and any(shares):
            group = (p.member_id, d.bank_id, d.product._value_, d.city)
            self._count(g, d, outstanding, g.guaranteed, (group, (1, outstanding, *shares)))
        else:
            self._refresh(g, d)

    def undo(self, postings: list[Posting]) -> None:
        """Take back postings applied tonight and not yet stored (a correction rejected whole),
        newest first. Each is found from the end of its source's list, where it was appended:
        searching from the front, by equality, made a correction of 8,000 rows take 26 s."""
        for posting in reversed(postings):
            self.apply(replace(posting, sign=-posting.sign), record=False)
            # Neither the posting nor its mirror is ever stored: the guarantee's count forgets both.
            g = dict.__getitem__(self.guarantees, (posting.member_id, posting.guarantee_id))
            g.postings -= 2
            recorded = self.postings_by_source[posting.source.sha256]
            at = next(i for i in range(len(recorded) - 1, -1, -1) if recorded[i] is posting)
            del recorded[at]

    def _register(self, p: Posting) -> None:
        detail = p.detail
        assert detail is not None, "a registration posting carries its guarantee's detail"
        _add(self.registered_principal, (p.member_id, detail.product._value_),
             p.signed(p.principal))
        contract_key = (detail.bank_id, detail.loan_contract_no)
        contracts = self.contracts
        contract = contracts[contract_key]
        if p.sign > 0:
            contract.add(p.member_id)
        else:
            contract.discard(p.member_id)
            self.contracts_shrunk.add(contract_key)
        contracts.dirty.add(contract_key)

    def _refresh(self, g: Guarantee, d: NewGuarantee) -> None:
        """Move the aggregates by what this guarantee's outstanding and liability changed."""
        outstanding, liability = figures(g)
        self._count(g, d, outstanding, liability, position(g, d, outstanding))

    def _count(self, g: Guarantee, d: NewGuarantee, outstanding: Decimal, liability: Decimal,
               now: tuple) -> None:
        """Count ``g`` in the totals at these figures instead of those it was counted at."""
        if outstanding != g.open_principal:
            _add(self.borrower_outstanding, d.borrower_id, outstanding - g.open_principal)
        key = (g.member_id, d.borrower_id)
        known_type = _get(self.borrower_type, key, _ABSENT)
        if liability != g.liability or known_type != d.borrower_type:
            self._refresh_liability(g, d, key, liability, known_type)
        if now != g.position:
            self._move_position(g.position, now)
            g.position = now
        g.open_principal, g.liability = outstanding, liability

    def _refresh_liability(self, g: Guarantee, d: NewGuarantee, key: tuple[str, str],
                           liability: Decimal, known_type) -> None:
        """``known_type``: the borrower type held for ``key``, ``_ABSENT`` if not yet asked."""
        if liability != g.liability:
            _add(self.member_bank, (g.member_id, d.bank_id), liability - g.liability)
        before = self.member_borrower[key]
        after = before + liability - g.liability
        if known_type is _ABSENT:
            known_type = self.borrower_type[key]           # fetched, as ``Cached.get`` would
        old_type = d.borrower_type if known_type is None else known_type
        delta = (after * liability_weight(d.borrower_type, after)
                 - before * liability_weight(old_type, before))
        if delta:
            _add(self.member_weighted, g.member_id, delta)
        if after != before:
            _put(self.member_borrower, key, after)
        _put(self.borrower_type, key, d.borrower_type)

    def _move_position(self, was: tuple, now: tuple) -> None:
        """Keep the open book by member, bank, product and city (for finance's reconciliation):
        take out what the guarantee counted, add what it counts now."""
        positions = self.positions
        if was and now and was[0] == now[0]:      # the same group: one read, one write
            key = now[0]
            _put(positions, key, _plus(_minus(positions[key], was[1]), now[1]))
            return
        if was:
            _put(positions, was[0], _minus(positions[was[0]], was[1]))
        if now:
            _put(positions, now[0], _plus(positions[now[0]], now[1]))


_ABSENT = object()
_set, _get = dict.__setitem__, dict.get       # a Cached's own dict, past its methods: no fetch


def _add(totals: Cached, key, amount: Decimal) -> None:
    """``totals[key] += amount``, without the round trips through ``Cached``'s methods."""
    _set(totals, key, totals[key] + amount)
    totals.dirty.add(key)


def _put(totals: Cached, key, value) -> None:
    """``totals[key] = value`` (``Cached.__setitem__``, inline: several a posting)."""
    _set(totals, key, value)
    totals.dirty.add(key)


def _plus(a: tuple, b: tuple) -> tuple:
    """Two open-book counts (count, outstanding, 5 exposures) added; spelled out, as it is
    twice as quick as ``map``."""
    return (a[0] + b[0], a[1] + b[1], a[2] + b[2], a[3] + b[3], a[4] + b[4], a[5] + b[5],
            a[6] + b[6])


def _minus(a: tuple, b: tuple) -> tuple:
    return (a[0] - b[0], a[1] - b[1], a[2] - b[2], a[3] - b[3], a[4] - b[4], a[5] - b[5],
            a[6] - b[6])


assert len(NO_POSITION) == 7, "_plus and _minus spell out an open-book count"


