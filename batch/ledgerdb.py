"""The Book's running totals in SQL: fetched by key, prefetched a filing at a time, written back.

Replaying every posting into a Book each night cost time and memory in proportion to the whole
ledger (a national fund holds millions of guarantees). Instead the store keeps each of the Book's
totals in a balance table (``tables.py``) and a night's Book fetches only the keys its filings
touch: ``prefetch`` loads a filing's guarantees (their kept states, or their few postings
replayed: ``guaranteedb``), borrowers, banks, contracts and its member's totals with a few
indexed IN-queries; a key missed there is fetched alone (``Book`` asks through ``Cached``).
``write_back`` stores what the filing changed (guarantees' states and the totals) in the
night's open transaction and lets go of the per-guarantee entries, so memory stays flat however
many filings a night holds.
The Book's arithmetic is unchanged: the totals equal a full replay (``rebuild`` does one, and a
test compares the two).
"""
from __future__ import annotations

from decimal import Decimal
from typing import Iterable, Iterator, Protocol, Sequence

from functools import lru_cache
from itertools import islice

from sqlalchemy import delete, func, insert, select, text
from sqlalchemy.engine import Connection

from . import codec
from .guarantee import Guarantee, counted, restore, worth_keeping
from .ledger import Book
from .model import Posting, Where
from .outcome import ACCEPTED, PARTIAL
from .tables import (borrower_totals, contract_members, files, guarantee_states, member_banks,
                     member_borrowers, member_products, member_totals, position_totals, postings,
                     withdrawn)

CHUNK = 500
_STATES_SQL = (f"SELECT {', '.join(codec.STATE_COLUMNS)} FROM guarantee_states "
               f"WHERE member_id = ? AND guarantee_id IN ({{}})")
_DETAIL_KEY = codec.STATE_COLUMNS.index("detail_key")
PER_GUARANTEE = ("guarantees", "borrower_outstanding", "member_borrower", "borrower_type",
                 "contracts", "postings_by_source")


def _chunks(items: list, size: int = CHUNK) -> Iterable[list]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


class _Rows(Protocol):
    """A query's rows, as both sqlite3's cursor and SQLAlchemy's result give them."""
    def __iter__(self) -> Iterator[tuple]: ...
    def fetchone(self) -> tuple | None: ...


class StoredBook:
    """One connection's view of the balances; the Book it makes reads through it."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.members_loaded: set[str] = set()
        self.details: dict[int, str | None] = {}      # detail JSON by object, until written
        self.upto: int | None = None                  # replaying: postings stored so far
        # On SQLite the lookups go straight to the driver (same connection, same transaction):
        # SQLAlchemy's result machinery cost more than the indexed queries themselves.
        self.raw = conn.connection.driver_connection if conn.dialect.name == "sqlite" else None

    def book(self) -> Book:
        member = self._unless_loaded
        return Book({"guarantees": self.guarantee, "borrower_outstanding": self.borrower,
                     "member_borrower": lambda k: self.member_borrower(k, 0),
                     "borrower_type": lambda k: self.member_borrower(k, 1),
                     "member_weighted": member(lambda k: self.weighted(k), whole=True),
                     "member_bank": member(self.member_bank),
                     "registered_principal": member(lambda k: self.member_product(k, 0)),
                     "defaulted_principal": member(lambda k: self.member_product(k, 1)),
                     "contracts": self.contract, "positions": member(self.position),
                     "postings_by_source": self.postings_of,
                     "filings_by_period": self.period_filings})

    def _unless_loaded(self, fetch, whole: bool = False):
        """A member-level key of a member whose totals are all loaded is known to be absent."""
        def fetch_key(key):
            member = key if whole else key[0]
            return None if member in self.members_loaded else fetch(key)
        return fetch_key

    # ---- one key at a time (what prefetch did not foresee) ---------------------------------

    def guarantee(self, key: tuple[str, str]) -> Guarantee | None:
        return self._guarantees(key[0], [key[1]]).get(key)

    def _guarantees(self, member_id: str, ids: list[str], moved: set[str] | None = None) -> dict:
        """Guarantees as their kept states have them (one row, however long the history), with
        the details their registrations filed; one with no state kept (a few postings only:
        ``guarantee.worth_keeping``) replayed from its postings. Only the ids in ``moved`` (all,
        if None) are looked for among the states: a new loan's 业务编号 is found, if it exists
        at all, by its postings, which tells the duplicate check all it asks."""
        asked = ids if moved is None else [g for g in ids if g in moved]
        found = self._kept(member_id, asked) if asked else {}
        missing = [g for g in ids if (member_id, g) not in found] if found else ids
        found.update(self.replayed(member_id, missing))
        return found

    def state_rows(self, member_id: str, ids: list[str]) -> list[tuple]:
        """Values of ``codec.STATE_COLUMNS`` of the kept states among some guarantees."""
        return self._select_in(_STATES_SQL, (member_id,), ids)

    def _kept(self, member_id: str, ids: list[str]) -> dict:
        states = self.state_rows(member_id, ids)
        if not states:
            return {}
        keys = sorted({row[_DETAIL_KEY] for row in states if row[_DETAIL_KEY] is not None})
        stored = {row[0]: row[1:] for row in self._select_in(
            'SELECT "key", detail, file, sheet, "row", guarantee_id FROM postings '
            'WHERE "key" IN ({})', (), keys)}
        if len(stored) != len(keys):
            missing = sorted(set(keys) - stored.keys())[:3]
            raise LookupError(f"账本不一致：担保状态引用的登记记录不存在（{'、'.join(missing)}）。"
                              "请技术人员清空 guarantees_kept 表，下次打开账本时将从记账记录"
                              "重新推导全部担保状态")
        details = {k: codec.detail_from(text, Where(file, sheet, row), guarantee_id)
                   for k, (text, file, sheet, row, guarantee_id) in stored.items()}
        return {(member_id, row[1]):
                counted(codec.guarantee_from(row, details.get(row[_DETAIL_KEY])))
                for row in states}

    def replayed(self, member_id: str, ids: list[str]) -> dict:
        """Guarantees rebuilt from their postings (the index on member and 业务编号 finds them);
        ``upto`` limits them to postings already replayed (``store.rebuild``)."""
        history: dict[str, list[Posting]] = {}
        for values in self.posting_rows(member_id, ids):
            p = codec.posting_from(values[1:])
            history.setdefault(p.guarantee_id, []).append(p)
        return {(member_id, g): restore(member_id, g, ps) for g, ps in history.items()}

    def posting_rows(self, member_id: str, ids: list[str], after: int = 0) -> list[tuple]:
        """The id and the values of ``codec.POSTING_FIELDS`` of the postings of some guarantees
        past the posting id ``after`` (and up to ``upto``, replaying), oldest first within a
        chunk of them."""
        names = ", ".join(f'"{n}"' for n in codec.POSTING_FIELDS)
        upto = " AND id <= ?" if self.upto is not None else ""
        sql = (f"SELECT id, {names} FROM postings "
               f"WHERE member_id = ? AND id > ?{upto} AND guarantee_id IN ({{}}) ORDER BY id")
        fixed = (member_id, after) + ((self.upto,) if self.upto is not None else ())
        return self._select_in(sql, fixed, ids)

    def _select_in(self, sql: str, fixed: tuple, ids: list) -> list[tuple]:
        """``sql`` (qmark style) ends in ``IN ({})``: its rows over ``ids``, a chunk at a time."""
        found: list[tuple] = []          # a list, not a generator: no resume per row
        for part in _chunks(ids):
            found.extend(self._query(sql.format(", ".join("?" * len(part))), (*fixed, *part)))
        return found

    def _query(self, sql: str, args: tuple) -> _Rows:
        """The rows of a qmark-style query; on SQLite straight through the driver."""
        if self.raw is not None:
            return self.raw.execute(sql, args)
        pieces = sql.split("?")
        named = "".join(f"{piece}:p{i}" for i, piece in enumerate(pieces[:-1])) + pieces[-1]
        return self.conn.execute(text(named), {f"p{i}": v for i, v in enumerate(args)})

    def borrower(self, borrower_id: str) -> Decimal | None:
        value = self.conn.execute(select(borrower_totals.c.outstanding).where(
            borrower_totals.c.borrower_id == borrower_id)).scalar()
        return None if value is None else codec.yuan(value)

    def member_borrower(self, key: tuple[str, str], part: int):
        row = self.conn.execute(select(member_borrowers.c.liability, member_borrowers.c.borrower_type)
                                .where(member_borrowers.c.member_id == key[0],
                                       member_borrowers.c.borrower_id == key[1])).first()
        if row is None:
            return None
        return codec.yuan(row[0]) if part == 0 else row[1]

    def weighted(self, member_id: str) -> Decimal | None:
        value = self.conn.execute(select(member_totals.c.weighted).where(
            member_totals.c.member_id == member_id)).scalar()
        return None if value is None else Decimal(value)

    def member_bank(self, key: tuple[str, str]) -> Decimal | None:
        value = self.conn.execute(select(member_banks.c.liability).where(
            member_banks.c.member_id == key[0], member_banks.c.bank_id == key[1])).scalar()
        return None if value is None else codec.yuan(value)

    def member_product(self, key: tuple[str, str], part: int) -> Decimal | None:
        row = self.conn.execute(select(member_products.c.registered, member_products.c.defaulted)
                                .where(member_products.c.member_id == key[0],
                                       member_products.c.product == key[1])).first()
        return None if row is None else codec.yuan(row[part])

    def contract(self, key: tuple[str, str]) -> set[str] | None:
        found = {r[0] for r in self.conn.execute(select(contract_members.c.member_id).where(
            contract_members.c.bank_id == key[0], contract_members.c.contract_no == key[1]))}
        return found or None

    def position(self, key: tuple[str, str, str, str]) -> tuple | None:
        c = position_totals.c
        row = self.conn.execute(select(position_totals).where(
            c.member_id == key[0], c.bank_id == key[1], c.product == key[2],
            c.city == key[3])).first()
        return codec.position_from(row[4:]) if row else None

    def postings_of(self, sha256: str) -> list[Posting]:
        q = (select(*(postings.c[n] for n in codec.POSTING_FIELDS))
             .where(postings.c.sha256 == sha256).order_by(postings.c.id))
        return [codec.posting_from(r) for r in self.conn.execute(q)]

    def period_filings(self, key: tuple[str, str]) -> list[str]:
        """The accepted filings of a member and period not withdrawn by a correction."""
        q = (select(files.c.sha256).where(files.c.member_id == key[0], files.c.period == key[1],
                                          files.c.status.in_((ACCEPTED, PARTIAL)),
                                          files.c.sha256.not_in(select(withdrawn.c.sha256)))
             .order_by(files.c.seq))
        found: list[str] = []
        for (sha,) in self.conn.execute(q):
            if sha not in found:
                found.append(sha)
        return found

    def member_weights(self, book: Book, member_ids: Iterable[str]) -> None:
        """Load every member's weighted liability at once (the reconciliation lists them all)."""
        ids = [m for m in member_ids if not dict.__contains__(book.member_weighted, m)]
        found = {}
        for part in _chunks(ids):
            found.update({m: Decimal(w) for m, w in self.conn.execute(
                select(member_totals.c.member_id, member_totals.c.weighted)
                .where(member_totals.c.member_id.in_(part)))})
        book.member_weighted.fill(found, ids)

    # ---- a filing's keys in a few queries ---------------------------------------------------

    def prefetch(self, book: Book, member_id: str, records: list) -> None:
        """Load what some of a filing's typed rows will ask of the book: their guarantees, their
        borrowers and contracts, and (once a night) the member's own totals."""
        gids = sorted({r.guarantee_id for r in records})
        keys = [(member_id, g) for g in gids if not dict.__contains__(book.guarantees,
                                                                        (member_id, g))]
        new = [r for r in records if hasattr(r, "borrower_id")]
        moved = {r.guarantee_id for r in records if not hasattr(r, "borrower_id")}
        found = self._guarantees(member_id, [k[1] for k in keys], moved)
        book.guarantees.fill(found, keys)
        details = new + [g.detail for g in found.values() if g.detail is not None]
        self._borrowers(book, member_id, {d.borrower_id for d in details})
        self._contracts(book, {(d.bank_id, d.loan_contract_no) for d in new})
        self._member(book, member_id)

    def _borrowers(self, book: Book, member_id: str, ids: set[str]) -> None:
        todo = sorted(b for b in ids if not dict.__contains__(book.borrower_outstanding, b))
        found = {b: codec.yuan(v) for b, v in self._select_in(
            "SELECT borrower_id, outstanding FROM borrower_totals WHERE borrower_id IN ({})",
            (), todo)}
        book.borrower_outstanding.fill(found, todo)
        todo = sorted(b for b in ids
                      if not dict.__contains__(book.member_borrower, (member_id, b)))
        liability, kind = {}, {}
        for b, value, borrower_type in self._select_in(
                "SELECT borrower_id, liability, borrower_type FROM member_borrowers "
                "WHERE member_id = ? AND borrower_id IN ({})", (member_id,), todo):
            liability[(member_id, b)] = codec.yuan(value)
            kind[(member_id, b)] = borrower_type
        keys = [(member_id, b) for b in todo]
        book.member_borrower.fill(liability, keys)
        book.borrower_type.fill(kind, keys)

    def _contracts(self, book: Book, keys: set[tuple[str, str]]) -> None:
        todo = sorted(k for k in keys if not dict.__contains__(book.contracts, k))
        found: dict = {}
        for bank, numbers in grouped(todo).items():
            for number, member in self._select_in(
                    "SELECT contract_no, member_id FROM contract_members "
                    "WHERE bank_id = ? AND contract_no IN ({})", (bank,), numbers):
                found.setdefault((bank, number), set()).add(member)
        book.contracts.fill(found, todo)

    def _member(self, book: Book, member_id: str) -> None:
        """A member's totals: weighted liability, by bank, by product, its open book."""
        if member_id in self.members_loaded:
            return
        self.members_loaded.add(member_id)
        m, query, yuan = member_id, self._query, codec.yuan
        row = query("SELECT weighted FROM member_totals WHERE member_id = ?", (m,)).fetchone()
        book.member_weighted.fill({m: Decimal(row[0])} if row and row[0] else {}, [m])
        banks = {(m, b): yuan(v) for b, v in query(
            "SELECT bank_id, liability FROM member_banks WHERE member_id = ?", (m,))}
        book.member_bank.fill(banks, banks)
        products = list(query("SELECT product, registered, defaulted FROM member_products "
                              "WHERE member_id = ?", (m,)))
        keys = [(m, product) for product, _, _ in products]
        book.registered_principal.fill({(m, p): yuan(r) for p, r, _ in products}, keys)
        book.defaulted_principal.fill({(m, p): yuan(d) for p, _, d in products}, keys)
        columns = ", ".join(f'"{n}"' for n in codec.POSITION_COLUMNS[1:])
        book.positions.fill({(m, bank, product, city): codec.position_from(totals)
                             for bank, product, city, *totals in query(
                                 f"SELECT {columns} FROM position_totals WHERE member_id = ?",
                                 (m,))})

    # ---- what a filing changed --------------------------------------------------------------

    def write_back(self, book: Book, upto: int) -> None:
        """Store every state and total the book changed since the last write (the postings that
        changed them, up to the posting id ``upto``, are stored by the caller, just before); let
        go of per-guarantee entries."""
        conn, fen = self.conn, codec.fen
        self.details.clear()
        write_states(conn, [dict.__getitem__(book.guarantees, k)        # in key order: locality
                            for k in sorted(book.guarantees.dirty)], upto)
        upsert(conn, borrower_totals, ("borrower_id", "outstanding"),
               ((b, fen(v)) for b, v in book.borrower_outstanding.changed().items()))
        pairs = book.member_borrower.dirty | book.borrower_type.dirty
        liability, kind = book.member_borrower, book.borrower_type
        upsert(conn, member_borrowers, ("member_id", "borrower_id", "liability", "borrower_type"),
               ((k[0], k[1], fen(liability[k]), kind[k])
                for k in pairs))
        upsert(conn, member_totals, ("member_id", "weighted"),
               ((m, str(v)) for m, v in book.member_weighted.changed().items()))
        upsert(conn, member_banks, ("member_id", "bank_id", "liability"),
               ((k[0], k[1], fen(v)) for k, v in book.member_bank.changed().items()))
        products = book.registered_principal.dirty | book.defaulted_principal.dirty
        upsert(conn, member_products, ("member_id", "product", "registered", "defaulted"),
               ((k[0], k[1], fen(book.registered_principal[k]), fen(book.defaulted_principal[k]))
                for k in products))
        upsert(conn, position_totals, codec.POSITION_COLUMNS,
               (codec.position_row(k, v) for k, v in book.positions.changed().items()))
        self._write_contracts(book.contracts.changed(), book.contracts_shrunk)
        book.contracts_shrunk.clear()
        for name in ("member_weighted", "member_bank", "registered_principal",
                     "defaulted_principal", "positions", "filings_by_period"):
            getattr(book, name).dirty.clear()
        for name in PER_GUARANTEE:
            getattr(book, name).evict()

    def _write_contracts(self, changed: dict, shrunk: set) -> None:
        """Members added to a contract are inserted (kept if already there); a contract a
        member was withdrawn from (a correction) is rewritten whole."""
        c = contract_members.c
        rewrite = sorted(k for k in changed if k in shrunk)
        for bank, numbers in grouped(rewrite).items():
            for part in _chunks(numbers):
                self.conn.execute(delete(contract_members).where(c.bank_id == bank,
                                                                 c.contract_no.in_(part)))
        upsert(self.conn, contract_members, ("bank_id", "contract_no", "member_id"),
               ((k[0], k[1], m) for k in sorted(changed) for m in sorted(changed[k] or ())))


def last_posting(conn: Connection) -> int:
    """The id of the last posting stored (the end of the key: one lookup)."""
    return conn.execute(select(func.max(postings.c.id))).scalar() or 0


def write_states(conn: Connection, found: Iterable[Guarantee], upto: int) -> None:
    """The states worth keeping among ``found``, as their postings up to the posting id ``upto``
    leave them. (A guarantee's postings only ever grow in number, so a state once kept is kept
    on: none is ever removed.)"""
    upsert(conn, guarantee_states, codec.STATE_COLUMNS,
           (codec.state_row(g, upto) for g in found if worth_keeping(g)))


def grouped(pairs: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    """Pairs grouped by their first part (bank and contract, member and 业务编号), in order."""
    found: dict[str, list[str]] = {}
    for first, second in pairs:
        found.setdefault(first, []).append(second)
    return found


BATCH = 5000          # rows per executemany: a 300,000-row filing never builds them all at once


def upsert(conn: Connection, table, names: Sequence[str], rows: Iterable[tuple]) -> None:
    """Insert or replace by primary key: ``rows`` of values for the columns ``names`` (SQLite and
    PostgreSQL natively, others by delete+insert)."""
    pk = [c.name for c in table.primary_key]
    for part in _batches(rows):
        if conn.dialect.name == "sqlite":
            _sqlite_many(conn, table, names, part, pk)
            continue
        mapped = [dict(zip(names, values)) for values in part]
        if conn.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert
            stmt = pg_insert(table)
            rest = {c.name: stmt.excluded[c.name] for c in table.columns if c.name not in pk}
            stmt = (stmt.on_conflict_do_update(index_elements=pk, set_=rest) if rest
                    else stmt.on_conflict_do_nothing(index_elements=pk))
            conn.execute(stmt, mapped)
        else:
            for row in mapped:
                conn.execute(delete(table).where(*(table.c[k] == row[k] for k in pk)))
            conn.execute(insert(table), mapped)


def insert_rows(conn: Connection, table, rows: list[dict]) -> None:
    """A few rows through SQLAlchemy Core (none: no statement)."""
    if rows:
        conn.execute(insert(table), rows)


def bulk_insert(conn: Connection, table, names: Sequence[str], rows: Iterable[tuple]) -> None:
    """Many rows of values for the columns ``names``, a batch per executemany (on SQLite straight
    through the driver: the Core path costs ~4× more per row, which matters at a million
    postings a night)."""
    for part in _batches(rows):
        if conn.dialect.name == "sqlite":
            _sqlite_many(conn, table, names, part, None)
        else:
            conn.execute(insert(table), [dict(zip(names, values)) for values in part])


def _batches(rows: Iterable[tuple]) -> Iterable[list[tuple]]:
    rows = iter(rows)
    while part := list(islice(rows, BATCH)):
        yield part


def _sqlite_many(conn: Connection, table, names: Sequence[str], values: list[tuple],
                 pk: list[str] | None) -> None:
    """Values as the driver stores them: the one dated table on this path, postings, brings its
    date as ISO text (``codec.posting_row``), as SQLAlchemy writes a Date on SQLite."""
    conn.connection.driver_connection.executemany(
        _sqlite_insert(table, tuple(names), None if pk is None else tuple(pk)), values)


@lru_cache(maxsize=64)
def _sqlite_insert(table, names: tuple[str, ...], pk: tuple[str, ...] | None) -> str:
    """INSERT for ``names``; with a primary key, an upsert (or a no-op when only keys are set)."""
    sql = (f'INSERT INTO "{table.name}" ({", ".join(f"{chr(34)}{n}{chr(34)}" for n in names)}) '
           f'VALUES ({", ".join("?" * len(names))})')
    rest = [n for n in names if n not in (pk or ())]
    if pk is not None and rest:
        sql += (f' ON CONFLICT ({", ".join(pk)}) DO UPDATE SET '
                + ", ".join(f'"{n}" = excluded."{n}"' for n in rest))
    elif pk is not None:
        sql += " ON CONFLICT DO NOTHING"
    return sql
