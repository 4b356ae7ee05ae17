"""The ledger on disk: SQLite by default, any SQLAlchemy URL in its place.

All storage is behind this module (and ``ledgerdb`` for the Book's running totals), so a server
database can replace SQLite without touching the rules. Money is stored as integer fen. Postings,
files, fund movements and claims are only ever inserted: a correction is a reversing posting, a
withdrawn claim a negative claim row; the balance tables beside them are rewritten per key (see
``tables.py``). One run writes everything it decided in one transaction.
"""
from __future__ import annotations

from collections.abc import Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Iterator, Sequence

from sqlalchemy import (ColumnElement, bindparam, create_engine, delete, event, func, insert, inspect,
                        literal, or_, select, text)
from sqlalchemy.engine import Connection, Engine

from . import codec, funddb, guaranteedb
from .codec import fen, yuan  # noqa: F401  (re-exported: money as stored)
from .fund import Fund
from .ledger import Book
from .ledgerdb import StoredBook, bulk_insert, insert_rows, last_posting
from .model import PARTIES, Claim, FundMove, Kind, Posting
from .outcome import ACCEPTED, PARTIAL, FilingOutcome
from .tables import (BALANCE_TABLES, claims, files, fund_moves, member_totals, meta,  # noqa: F401
                     position_totals, postings, runs, withdrawn)

LABELS = {k.value: k.label for k in Kind}
UNKNOWN = "（未知）"
ADDED_COLUMNS = {"postings": ("bank_id VARCHAR(40)", "product VARCHAR(4)", "city VARCHAR(20)")}


def open_engine(url: str) -> Engine:
    engine = create_engine(url, future=True)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    meta.create_all(engine)
    _migrate(engine)
    return engine


@contextmanager
def opened(url: str) -> Iterator[Engine]:
    """An engine for one task, its connections closed after: a process that lives on between
    nights (``reguarantee schedule``) must not keep the ledger's file open, or ``reguarantee
    compact`` could never have it to itself."""
    engine = open_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()


# SQLite's default page cache is 2 MB. On the national load (c) of bench/ (a 1.1 GB ledger, a
# million postings inserted into its indexes) 64 MB ran the night in 152 s instead of 160 s, for
# ~65 MB of memory; on a provincial night it makes no measurable difference.
PAGE_CACHE_KIB = 65536


# SQLite's default page is 4 KiB. In 16 KiB pages the ledger's trees are shallower and a night
# reads and writes fewer pages: alternating nights on copies of bench/'s ledgers, 5–6 % less
# time on the national one (c), ~3 % on the provincial one (a); 32 and 64 KiB no better. A new
# ledger gets it; an older one keeps its pages until ``reguarantee compact``
# (``upkeep.compact_ledger``) rewrites it once.
PAGE_BYTES = 16384


def old_pages(conn: Connection) -> str | None:
    """What to tell the operator of a SQLite ledger still in the pages of an earlier version
    (None: nothing; a server database, or a ledger in today's pages)."""
    if conn.dialect.name != "sqlite":
        return None
    size = conn.exec_driver_sql("PRAGMA page_size").scalar()
    if size == PAGE_BYTES:
        return None
    return (f"台账页大小为 {size} 字节（新版为 {PAGE_BYTES}）：停下定时任务后运行一次 "
            "reguarantee compact，夜间运行可快约 5%")


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA page_size={PAGE_BYTES}")      # takes effect on a new file only
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute(f"PRAGMA cache_size=-{PAGE_CACHE_KIB}")
    cursor.close()


def _migrate(engine: Engine) -> None:
    """A ledger written by an earlier version: add the new columns and indexes, derive the
    balances from its postings once, and whenever the record has moved past what the kept
    states include, the fund's state from its movements and claims and the guarantees' states
    from the postings past their mark."""
    have = {c["name"] for c in inspect(engine).get_columns("postings")}
    missing = [c for c in ADDED_COLUMNS["postings"] if c.split()[0] not in have]
    with engine.begin() as conn:
        for column in missing:
            conn.execute(text(f"ALTER TABLE postings ADD COLUMN {column}"))
        for table in meta.sorted_tables:          # create_all adds only whole tables
            for index in table.indexes:
                index.create(conn, checkfirst=True)
        if _empty(conn, member_totals) and not _empty(conn, postings):
            rebuild(conn)
            return
        if not funddb.current(conn):
            funddb.rewrite(conn, *funddb.derive(conn))
        if not guaranteedb.current(conn):
            guaranteedb.catch_up(conn)


def _empty(conn: Connection, table) -> bool:
    return conn.execute(select(literal(1)).select_from(table).limit(1)).first() is None


def rebuild(conn: Connection) -> None:
    """Derive every balance again from the record alone: the fund's state from its movements
    and claims, the guarantees' states and the Book's totals from the postings, oldest first
    (a full replay)."""
    funddb.rewrite(conn, *funddb.derive(conn))
    for table in BALANCE_TABLES:
        conn.execute(delete(table))
    stored = StoredBook(conn)
    book = stored.book()
    for batch in guaranteedb.postings_after(conn, 0):
        for posting_id, posting in batch:
            # A guarantee fetched now: its state as the last batch wrote it, or replayed from
            # its postings before this one.
            stored.upto = posting_id - 1
            book.apply(posting, record=False)
        stored.write_back(book, batch[-1][0])
    guaranteedb.keep(conn)


# ---- loading ---------------------------------------------------------------------------

@dataclass
class Loaded:
    """Everything a night needs from the ledger; the book fetches what it touches, lazily."""
    book: Book
    fund: Fund
    posted: Mapping[str, str]       # sha256 -> name of the filing that posted those bytes
    fund_input_keys: set[str]
    fund_history: list[tuple[date, Decimal]]
    stored: StoredBook


def _posted_query():
    return select(files.c.sha256, files.c.name).where(
        files.c.status.in_((ACCEPTED, PARTIAL))).order_by(files.c.seq)


# Built once: building the statement cost more than running it (~1.8 ms a filing).
_POSTED_AS = _posted_query().where(files.c.sha256 == bindparam("sha256")).limit(1)


class Posted(Mapping):
    """Which bytes were posted before, asked one sha256 at a time (never the whole list)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def __getitem__(self, sha256: str) -> str:
        row = self.conn.execute(_POSTED_AS, {"sha256": sha256}).first()
        if row is None:
            raise KeyError(sha256)
        return row.name

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys(r.sha256 for r in self.conn.execute(_posted_query())))

    def __len__(self) -> int:
        return sum(1 for _ in self)


def load(engine: Engine) -> Loaded:
    """The ledger as it stands, on a connection of its own (kept open for the book's fetches)."""
    return load_on(engine.connect())


def load_on(conn: Connection) -> Loaded:
    stored = StoredBook(conn)
    return Loaded(stored.book(), funddb.fund(conn), Posted(conn), funddb.input_keys(conn),
                  funddb.history(conn),
                  stored)


# ---- saving ----------------------------------------------------------------------------

def file_row(f: FilingOutcome, run_id: str) -> dict:
    return {"run_id": run_id, "sha256": f.filing.sha256, "name": f.path,
            "member_id": f.member_id, "period": f.period, "kind": f.kind, "status": f.status,
            "receipt": f.receipt, "destination": f.destination, "duplicate_of": f.duplicate_of}


@dataclass(frozen=True)
class RunRecord:
    run_id: str
    run_date: date
    started_at: datetime
    finished_at: datetime
    filings: tuple[FilingOutcome, ...]
    fund_moves: tuple[tuple[FundMove, str | None], ...]    # with the reference input key, if any
    claim_changes: tuple[tuple[Claim, Decimal], ...]        # +amount created, -rest withdrawn
    waiting: tuple[Claim, ...]                              # the 待补偿 queue after the run


def post_filing(conn: Connection, stored: StoredBook, book: Book, f: FilingOutcome,
                run_id: str, attrs: Sequence[tuple | None] | None = None) -> None:
    """One filing's rows of the ledger: its file line, postings (with their guarantee's bank,
    product and city: ``attrs`` if the caller has them), the filings it withdrew; then the totals
    it changed."""
    conn.execute(insert(files), [file_row(f, run_id)])
    if f.withdrawn:
        conn.execute(insert(withdrawn), [{"sha256": sha, "by_sha256": f.filing.sha256,
                                          "run_id": run_id} for sha in f.withdrawn])
    post_postings(conn, stored, book, (*f.reversals, *f.postings), run_id, f.filing.sha256,
                  attrs)


def post_postings(conn: Connection, stored: StoredBook, book: Book, found: Sequence[Posting],
                  run_id: str, filing_sha: str,
                  attrs: Sequence[tuple | None] | None = None) -> None:
    """Postings of a filing (all, or a big filing's first chunks), with their guarantee's bank,
    product and city (``attrs``, one for each of ``found``, when the caller has them: 明细 asked
    for them too); then the totals they changed, and the book lets go of their guarantees."""
    if attrs is None:
        attrs = [attributes(book, p) for p in found]
    bulk_insert(conn, postings, codec.POSTING_COLUMNS,
                (codec.posting_row(p, run_id, filing_sha, a, stored.details)
                 for p, a in zip(found, attrs, strict=True)))
    stored.write_back(book, last_posting(conn))


def attributes(book: Book, p) -> tuple | None:
    """Bank, product and city of a posting's guarantee (while the book still holds it)."""
    g = dict.get(book.guarantees, (p.member_id, p.guarantee_id))
    d = (g.detail if g is not None else None) or p.detail
    return d.grouping if d is not None else None


def finish_run(conn: Connection, record: RunRecord) -> None:
    """The run's own line, its fund movements and claims, and the fund's state they leave: the
    last rows before the commit."""
    conn.execute(insert(runs), [{"run_id": record.run_id, "run_date": record.run_date,
                                 "started_at": record.started_at.isoformat(),
                                 "finished_at": record.finished_at.isoformat()}])
    run_id = record.run_id
    insert_rows(conn, fund_moves, [codec.move_row(m, run_id, k) for m, k in record.fund_moves])
    insert_rows(conn, claims, [codec.claim_row(c, a, run_id) for c, a in record.claim_changes])
    funddb.keep(conn, [m for m, _key in record.fund_moves], record.waiting)
    guaranteedb.keep(conn)


def save_run(engine: Engine, record: RunRecord) -> None:
    """A run decided in memory (tests, tools), stored in one transaction: its postings are
    applied to the stored balances in order, as a night does filing by filing."""
    with engine.begin() as conn:
        stored = StoredBook(conn)
        book = stored.book()
        for f in record.filings:
            for p in (*f.reversals, *f.postings):
                book.apply(p, record=False)
            post_filing(conn, stored, book, f, record.run_id)
        finish_run(conn, record)


def night_sums(conn: Connection, run_id: str) -> dict[str, list[tuple]]:
    """The run's postings summed by member, bank, product and city, and in all: ``by`` ->
    [(key, kind, count, principal, fee, five shares in PARTIES order)], signed, in yuan.

    Tonight's postings are read once, into per-group sums in a temporary table (tens of
    thousands of rows, not the postings' hundred thousand wide ones); the five groupings are
    summed from that."""
    amounts = ["principal", "fee", *(party.value for party in PARTIES)]
    keys = "member_id, bank_id, product, city, kind"
    conn.execute(text("DROP TABLE IF EXISTS night_groups"))
    conn.execute(text(f"CREATE TEMPORARY TABLE night_groups AS SELECT {keys}, SUM(sign) AS n, "
                      + ", ".join(f'SUM(sign * "{a}") AS "{a}"' for a in amounts)
                      + f" FROM postings WHERE run_id = :run GROUP BY {keys}"), {"run": run_id})
    found = {}
    for by, column in _groupings(postings.c):
        key, group = ("''", "kind") if by == "all" else (column.name, f"{column.name}, kind")
        q = text(f"SELECT {key}, kind, SUM(n), " + ", ".join(f'SUM("{a}")' for a in amounts)
                 + f" FROM night_groups GROUP BY {group}")   # PostgreSQL: no constant in GROUP BY
        found[by] = [(*r[:2], int(r[2]), *(yuan(v) for v in r[3:])) for r in conn.execute(q)]
    conn.execute(text("DROP TABLE night_groups"))
    return found


def _groupings(c) -> tuple[tuple[str, ColumnElement], ...]:
    """How finance's figures are grouped: a table's member, bank, product and city columns, and
    one group of everything."""
    return (("member", c.member_id), ("bank", c.bank_id), ("product", c.product),
            ("city", c.city), ("all", literal("").label("all")))


def open_book(conn: Connection) -> dict[str, list[tuple]]:
    """The open book after the night summed by member, bank, product and city, and in all:
    ``by`` -> [(key, outstanding, five exposures in PARTIES order)] in yuan, from the running
    totals the night kept (its last filing's are written back by now). Groups with nothing open
    are left out; counts and amounts never go below zero, so a zero sum means nothing open."""
    c = position_totals.c
    sums = (func.sum(c.outstanding), *(func.sum(c["e_" + party.value]) for party in PARTIES))
    found = {}
    for by, column in _groupings(c):
        q = (select(column, *sums).group_by(column)
             .having(or_(func.sum(c.count) != 0, func.sum(c.outstanding) != 0)))
        found[by] = [(key, *(yuan(v) for v in amounts)) for key, *amounts in conn.execute(q)]
    return found


def last_run_date(engine: Engine) -> date | None:
    with engine.connect() as conn:
        return conn.execute(select(func.max(runs.c.run_date))).scalar()


def committed(engine: Engine, run_ids: Sequence[str]) -> set[str]:
    """Which of these runs the ledger holds (committed), asked by key."""
    if not run_ids:
        return set()
    with engine.connect() as conn:
        q = select(runs.c.run_id).where(runs.c.run_id.in_(list(run_ids)))
        return {r.run_id for r in conn.execute(q)}


def recorded_destinations(engine: Engine, keys: list[tuple[str, str]]
                          ) -> dict[tuple[str, str], tuple[str, str]]:
    """(inbox name, sha256) -> (run id, destination) for files a committed run recorded."""
    if not keys:
        return {}
    wanted = set(keys)
    q = select(files.c.name, files.c.sha256, files.c.run_id, files.c.destination) \
        .where(files.c.sha256.in_({sha for _, sha in keys})).order_by(files.c.seq)
    with engine.connect() as conn:
        return {(r.name, r.sha256): (r.run_id, r.destination) for r in conn.execute(q)
                if (r.name, r.sha256) in wanted}


def recent_runs(engine: Engine, limit: int = 10) -> list[dict]:
    """The newest runs with their file count and statuses, for `status`."""
    with engine.connect() as conn:
        q = select(runs).order_by(runs.c.started_at.desc()).limit(limit)
        out = []
        for r in conn.execute(q):
            counts = conn.execute(select(files.c.status, func.count()).where(
                files.c.run_id == r.run_id).group_by(files.c.status)).all()
            out.append(dict(r._mapping) | {"files": sum(n for _, n in counts),
                                           "statuses": "，".join(f"{s} {n}" for s, n in counts)})
        return out


def load_fund(engine: Engine) -> Fund:
    with engine.connect() as conn:
        return funddb.fund(conn)
