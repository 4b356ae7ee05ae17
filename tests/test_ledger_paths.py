"""``Book.apply`` takes a short path for a guarantee's first registration (most of a night's
postings); whatever the postings, it must leave the book exactly as the general path does: the
same guarantees, totals (to the digit: ``Decimal`` keeps its exponent) and dirty keys."""
from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal

import builders
from hypothesis import given, settings
from hypothesis import strategies as st

from batch.ledger import Book
from batch.model import PARTIES, Kind, Posting, Product, Source

TOTALS = ("guarantees", "borrower_outstanding", "member_borrower", "borrower_type",
          "member_weighted", "member_bank", "registered_principal", "defaulted_principal",
          "contracts", "positions", "postings_by_source")

fen = st.integers(0, 10**9).map(lambda n: Decimal(n) / 100)
money = st.one_of(fen, fen, st.integers(0, 10**6).map(Decimal))      # now and then no decimals


@st.composite
def postings(draw) -> list[Posting]:
    made: list[Posting] = []
    for n in range(draw(st.integers(1, 25))):
        gid = f"G{draw(st.integers(0, 5))}"
        kind = draw(st.sampled_from([Kind.REGISTER] * 3 + [Kind.REPAY, Kind.DEFAULT, Kind.RECOVER]))
        if made and draw(st.integers(0, 5)) == 0:            # a correction withdraws one
            made.append(replace(draw(st.sampled_from(made)), sign=-1))
            continue
        principal = draw(money)
        split = draw(st.sampled_from(["whole", "scattered", "none"]))
        if split == "whole":                                  # shares summing to the principal
            cut = sorted(draw(st.lists(st.integers(0, int(principal * 100)), min_size=4,
                                       max_size=4)))
            edges = [0, *cut, int(principal * 100)]
            shares = {p: Decimal(b - a) / 100 for p, a, b in zip(PARTIES, edges, edges[1:])}
        elif split == "scattered":
            shares = {p: draw(money) for p in PARTIES if draw(st.booleans())}
        else:
            shares = {}
        detail = builders.new(
            gid, loan=str(principal), guaranteed=str(draw(money)), borrower=draw(st.integers(1, 3)),
            borrower_type=draw(st.sampled_from(["小型企业", "农户", "中型企业"])),
            bank=draw(st.sampled_from(["B01", "B02"])), product=draw(st.sampled_from(list(Product))))
        made.append(Posting(kind, "M001", gid, date(2026, 3, 1), Source("sha", "f", "s", n),
                            principal, shares, detail=detail if kind is Kind.REGISTER else None,
                            settled=draw(st.booleans())))
    return made


def state(book: Book) -> dict:
    return {name: (sorted((repr(k), repr(v)) for k, v in getattr(book, name).items()),
                   sorted(map(repr, getattr(book, name).dirty)))
            for name in TOTALS} | {"shrunk": sorted(book.contracts_shrunk)}


def applied(book: Book, posting: Posting) -> str:
    """The exception's name, if a book made of random postings cannot split an amount."""
    try:
        book.apply(posting)
    except (ArithmeticError, ValueError) as error:
        return type(error).__name__
    return ""


@settings(deadline=None, max_examples=300)
@given(postings())
def test_a_first_registration_books_as_the_general_path_does(made):
    quick, general = Book(), Book()
    general._open = lambda key, p: general._change(key, None, p)
    for posting in made:
        failed = applied(quick, posting)
        assert failed == applied(general, posting)
        if failed:
            return
        assert state(quick) == state(general)



def values(book: Book) -> dict:
    """The book's figures, leaving out which keys are dirty (an undo leaves them to be
    rewritten) and what a check only looked up and found empty (None, no members, zero)."""
    return {name: sorted((repr(k), repr(v)) for k, v in getattr(book, name).items() if v)
            for name in TOTALS}


def test_a_correction_rejected_whole_leaves_the_book_and_fund_as_they_were():
    """A correction withdraws the period's earlier filings (their postings mirrored, newest
    first) and, when none of its own rows is acceptable, undoes all of it: the book's figures,
    the fund, and each source's list of postings (the very objects, in order) are as before."""
    n = builders.night(fund="10000.00")
    rows = [builders.new(f"G{i}", row=i + 2, loan="100000.00", borrower=i + 1) for i in range(40)]
    first = builders.post(n, *rows, builders.repay("G3", "50000.00"), name="a.xlsx")
    second = builders.post(n, builders.default("G5", "100000.00"), name="b.xlsx")
    assert first.status == second.status == "accepted" and n.fund.claims
    before, fund = values(n.book), n.fund
    held = {sha: list(n.book.postings_by_source[sha]) for sha in (first.filing.sha256,
                                                                  second.filing.sha256)}
    fixed = builders.post(n, builders.new("X1", loan="-5.00"), kind="更正", name="fix.xlsx")
    assert fixed.status == "rejected" and not fixed.reversals
    assert values(n.book) == before and n.fund == fund
    for sha, postings in held.items():
        assert len(n.book.postings_by_source[sha]) == len(postings)
        assert all(a is b for a, b in zip(n.book.postings_by_source[sha], postings))
