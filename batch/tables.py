"""The ledger's tables. Postings, files, fund movements and claims are the record: rows are only
ever inserted. A guarantee is its postings. Beside them the *balances* keep what the postings
add up to, keyed as the checks ask for it: each guarantee's own state (what a replay of its
postings gives: a night reads one row for a guarantee it touches, however long its history),
and the Book's running totals that span guarantees (per borrower, member and borrower, member,
member and bank, member and product, contract, and the open book by member, bank, product and
city). Each run rewrites the keys it changed, in the same transaction as the postings that
changed them. The fund's state is kept the same way: each day's net movement (the balance and
its history) and the queue of claims still waiting. ``store.rebuild`` derives all of them again
from the record alone.
"""
from __future__ import annotations

from sqlalchemy import (BigInteger, Boolean, Column, Date, Index, Integer, MetaData, String, Table,
                        Text, text)

from .model import PARTIES

meta = MetaData()


def _money(name: str) -> Column:
    return Column(name, BigInteger, nullable=False, default=0)


def _balance(name: str, *columns: Column) -> Table:
    """A balance table: small rows found by their whole key, so on SQLite the key is the table
    (WITHOUT ROWID: one B-tree to search and write instead of a rowid table and its key's index).
    Ledgers made before keep their rowid tables; they read and write the same."""
    return Table(name, meta, *columns, sqlite_with_rowid=False)


def _parties(prefix: str) -> list[Column]:
    return [_money(f"{prefix}{p.value}") for p in PARTIES]


runs = Table("runs", meta,
             Column("run_id", String(40), primary_key=True),
             Column("run_date", Date, nullable=False),
             Column("started_at", String(40), nullable=False),
             Column("finished_at", String(40), nullable=False))

files = Table("files", meta,
              Column("seq", Integer, primary_key=True, autoincrement=True),
              Column("run_id", String(40), nullable=False, index=True),
              Column("sha256", String(64), nullable=False, index=True),
              Column("name", Text, nullable=False),
              Column("member_id", String(40)), Column("period", String(7)),
              Column("kind", String(8)), Column("status", String(12), nullable=False),
              Column("receipt", Text), Column("destination", Text),
              Column("duplicate_of", Text),
              Index("ix_files_period", "member_id", "period"))

postings = Table("postings", meta,
                 Column("id", Integer, primary_key=True, autoincrement=True),
                 Column("run_id", String(40), nullable=False),
                 Column("filing_sha256", String(64), nullable=False),
                 Column("key", String(200), nullable=False, unique=True),
                 Column("kind", String(10), nullable=False),
                 Column("member_id", String(40), nullable=False),
                 Column("guarantee_id", String(80), nullable=False),
                 Column("on", Date, nullable=False),
                 Column("sha256", String(64), nullable=False, index=True),
                 Column("file", Text, nullable=False), Column("sheet", String(20)),
                 Column("row", Integer), Column("period", String(7)),
                 _money("principal"), *[_money(p.value) for p in PARTIES], _money("fee"),
                 _money("interest"), _money("gross"),
                 Column("settled", Boolean, nullable=False), Column("claimed", Boolean, nullable=False),
                 Column("sign", Integer, nullable=False), Column("reverses", String(200)),
                 Column("detail", Text),
                 Column("bank_id", String(40)), Column("product", String(4)),
                 Column("city", String(20)),
                 Index("ix_postings_guarantee", "member_id", "guarantee_id"),
                 Index("ix_postings_run", "run_id"))

fund_moves = Table("fund_moves", meta,
                   Column("id", Integer, primary_key=True, autoincrement=True),
                   Column("run_id", String(40), nullable=False),
                   Column("on", Date, nullable=False), Column("kind", String(12), nullable=False),
                   _money("amount"), _money("balance_after"),
                   Column("member_id", String(40)), Column("guarantee_id", String(80)),
                   Column("sha256", String(64)), Column("file", Text), Column("sheet", String(20)),
                   Column("row", Integer), Column("claim_id", String(200), index=True),
                   Column("note", Text), Column("input_key", Text),
                   # finance's inputs already posted (a handful among millions of claim moves)
                   Index("ix_fund_moves_input_key", "input_key",
                         sqlite_where=text("input_key IS NOT NULL"),
                         postgresql_where=text("input_key IS NOT NULL")))

claims = Table("claims", meta,
               Column("id", Integer, primary_key=True, autoincrement=True),
               Column("run_id", String(40), nullable=False),
               Column("claim_id", String(200), nullable=False, index=True),
               Column("on", Date, nullable=False),
               Column("member_id", String(40)), Column("guarantee_id", String(80)),
               _money("amount"),
               Column("sha256", String(64)), Column("file", Text), Column("sheet", String(20)),
               Column("row", Integer))

withdrawn = Table("withdrawn", meta,
                  Column("sha256", String(64), primary_key=True),
                  Column("by_sha256", String(64), nullable=False),
                  Column("run_id", String(40), nullable=False))


# ---- balances: the Book's running totals ----------------------------------------------------

borrower_totals = _balance("borrower_totals",
                           Column("borrower_id", String(40), primary_key=True),
                           _money("outstanding"))

member_borrowers = _balance("member_borrowers",
                            Column("member_id", String(40), primary_key=True),
                            Column("borrower_id", String(40), primary_key=True),
                            _money("liability"), Column("borrower_type", String(20)))

member_totals = _balance("member_totals",
                         Column("member_id", String(40), primary_key=True),
                         Column("weighted", String(40), nullable=False))    # exact decimal text

member_banks = _balance("member_banks",
                        Column("member_id", String(40), primary_key=True),
                        Column("bank_id", String(40), primary_key=True), _money("liability"))

member_products = _balance("member_products",
                           Column("member_id", String(40), primary_key=True),
                           Column("product", String(4), primary_key=True),
                           _money("registered"), _money("defaulted"))

contract_members = _balance("contract_members",
                            Column("bank_id", String(40), primary_key=True),
                            Column("contract_no", String(80), primary_key=True),
                            Column("member_id", String(40), primary_key=True))

position_totals = _balance("position_totals",
                           Column("member_id", String(40), primary_key=True),
                           Column("bank_id", String(40), primary_key=True),
                           Column("product", String(4), primary_key=True),
                           Column("city", String(20), primary_key=True),
                           Column("count", Integer, nullable=False), _money("outstanding"),
                           *_parties("e_"))

# A guarantee's own state, what a replay of its postings gives, kept once it has more postings
# than a replay reads cheaply (``guaranteedb``): figures in fen, each party's share of its
# exposure, of its defaults and of its recoveries (null: none yet), the key of the registration
# posting whose filed details it carries, how many postings made it, and the last posting id it
# includes of its guarantee's (``upto``: none after it is in, none before it is missing).
guarantee_states = _balance("guarantee_states",
                            Column("member_id", String(40), primary_key=True),
                            Column("guarantee_id", String(80), primary_key=True),
                            Column("registered", Integer, nullable=False),
                            _money("loan"), _money("guaranteed"), _money("repaid"),
                            _money("defaulted"), _money("recovered"), *_parties("w_"),
                            *[Column(f"lost_{p.value}", BigInteger) for p in PARTIES],
                            *[Column(f"got_{p.value}", BigInteger) for p in PARTIES],
                            Column("settled", Boolean, nullable=False),
                            Column("detail_key", String(200)),
                            Column("postings", Integer, nullable=False),
                            Column("upto", Integer, nullable=False))   # see guaranteedb

guarantees_kept = Table("guarantees_kept", meta,   # one row: the postings the states include
                        Column("postings_upto", Integer, nullable=False))   # the last posting id

BALANCE_TABLES = (borrower_totals, member_borrowers, member_totals, member_banks,
                  member_products, contract_members, position_totals, guarantee_states)


# ---- the fund's running state: derived from fund_moves and claims (funddb.derive) --------

fund_days = _balance("fund_days",
                     Column("on", Date, primary_key=True),
                     _money("net"))           # the day's movements summed: in less what went out

pending_claims = Table("pending_claims", meta,                     # the 待补偿 queue after a run
                       Column("seq", Integer, primary_key=True),   # oldest first
                       Column("claim_id", String(200), nullable=False),
                       Column("on", Date, nullable=False),
                       Column("member_id", String(40)), Column("guarantee_id", String(80)),
                       _money("amount"), _money("unpaid"),
                       Column("sha256", String(64)), Column("file", Text),
                       Column("sheet", String(20)), Column("row", Integer))

fund_kept = Table("fund_kept", meta,             # one row: the record the state above includes
                  Column("moves_upto", Integer, nullable=False),     # the last fund_moves id
                  Column("claims_upto", Integer, nullable=False))    # the last claims id

FUND_TABLES = (fund_days, pending_claims, fund_kept)
