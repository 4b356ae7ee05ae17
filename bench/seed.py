"""A ledger that already holds N guarantees, built in bulk (not through N/1000 nights).

Each seeded guarantee is one registration posting applied to a ledger-backed Book and written
with the store's own code (``store.post_filing``'s pieces: posting rows and ``write_back``) in
chunks of 20,000, so the balance tables are exactly what nights of filings would have left; only
reading workbooks and writing outputs are skipped. The loans are those ``generate.Rows.seeded``
describes, so the benchmark's filings can repay and default them.
"""
from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import insert

from batch import codec, guaranteedb, rules, store
from batch.ledgerdb import StoredBook, bulk_insert, last_posting
from batch.model import Kind, NewGuarantee, Posting, Product, Source, Where
from batch.params import Params

from .generate import BANK_SHARE, TYPES, Rows, member_ids

CHUNK = 20_000
SEED_RUN = "seed"


def seed_ledger(url: str, params: Params, members: int, per_member: int) -> int:
    """``per_member`` guarantees for each of ``members`` members; returns how many."""
    engine = store.open_engine(url)
    gen, total = Rows(0), 0
    with engine.begin() as conn:
        conn.execute(insert(store.runs), [{"run_id": SEED_RUN, "run_date": date(2025, 12, 31),
                                           "started_at": "seed", "finished_at": "seed"}])
        stored = StoredBook(conn)
        book = stored.book()
        for member in member_ids(members):
            for start in range(0, per_member, CHUNK):
                batch = [_registration(gen, params, member, n)
                         for n in range(start, min(start + CHUNK, per_member))]
                _post(conn, stored, book, member, batch)
                total += len(batch)
        guaranteedb.keep(conn)
    return total


def _registration(gen: Rows, params: Params, member: str, n: int) -> Posting:
    loan = gen.seeded(member, n)
    rng = random.Random(f"b:{member}:{n}")
    product = Product(loan.product)
    guaranteed = (loan.loan * (1 - BANK_SHARE.get(loan.product, Decimal(0)))).quantize(Decimal("0.01"))
    where = Where(f"seed_{member}.xlsx", "新增业务", n + 2)
    g = NewGuarantee(where, loan.guarantee_id, f"借款人{member}{n}", f"SEED{member}{n:09d}",
                     rng.choice(TYPES), "C", "济南市", "历下区", rng.choice(("B01", "B02", "B03")),
                     f"HT-{loan.guarantee_id}", loan.loan, guaranteed, Decimal("0.015"),
                     loan.start, loan.start + timedelta(days=730), product, product is Product.BL,
                     Decimal("0.4") if product is Product.LH else None,
                     (guaranteed * Decimal("0.3")).quantize(Decimal("0.01"))
                     if product is Product.FD else None)
    rule = params.rule(product, loan.start)
    return Posting(Kind.REGISTER, member, g.guarantee_id, g.start_date,
                   Source("seed" + member, where.file, where.sheet, where.row), g.loan_amount,
                   rules.registration_exposures(g, rule), fee=rules.reguarantee_fee(g, rule),
                   detail=g, period="2025-12")


def _post(conn, stored: StoredBook, book, member: str, batch: list[Posting]) -> None:
    stored._member(book, member)
    new = [p.detail for p in batch]
    book.guarantees.fill({}, [(member, d.guarantee_id) for d in new])      # all new keys
    book.borrower_outstanding.fill({}, [d.borrower_id for d in new])
    book.member_borrower.fill({}, [(member, d.borrower_id) for d in new])
    book.borrower_type.fill({}, [(member, d.borrower_id) for d in new])
    book.contracts.fill({}, [(d.bank_id, d.loan_contract_no) for d in new])
    for p in batch:
        book.apply(p, record=False)
    rows = [codec.posting_row(p, SEED_RUN, p.source.sha256,
                              (p.detail.bank_id, p.detail.product.value, p.detail.city))
            for p in batch]
    bulk_insert(conn, store.postings, codec.POSTING_COLUMNS, rows)
    stored.write_back(book, last_posting(conn))

