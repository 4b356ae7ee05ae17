"""The ledger on disk: SQLite by default, any SQLAlchemy URL in its place.

All storage is behind this module, so a server database can replace SQLite without touching the
rules. Money is stored as integer fen (exact in every SQL engine). Rows are only ever inserted:
a correction is a reversing posting, a withdrawn claim a negative claim row. One run writes
everything it decided in one transaction.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from datetime import date, datetime
from decimal import Decimal
from typing import Iterable

from sqlalchemy import (BigInteger, Boolean, Column, Date, Integer, MetaData, String, Table, Text,
                        create_engine, event, func, insert, select)
from sqlalchemy.engine import Connection, Engine

from .ledger import Book, Fund
from .model import Claim, FundKind, FundMove, Kind, NewGuarantee, PARTIES, Party, Posting, Product, Source
from .money import FEN, ZERO
from .outcome import ACCEPTED, PARTIAL, FilingOutcome

meta = MetaData()


def _money(name: str) -> Column:
    return Column(name, BigInteger, nullable=False, default=0)


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
              Column("duplicate_of", Text))

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
                 Column("detail", Text))

fund_moves = Table("fund_moves", meta,
                   Column("id", Integer, primary_key=True, autoincrement=True),
                   Column("run_id", String(40), nullable=False),
                   Column("on", Date, nullable=False), Column("kind", String(12), nullable=False),
                   _money("amount"), _money("balance_after"),
                   Column("member_id", String(40)), Column("guarantee_id", String(80)),
                   Column("sha256", String(64)), Column("file", Text), Column("sheet", String(20)),
                   Column("row", Integer), Column("claim_id", String(200), index=True),
                   Column("note", Text), Column("input_key", Text))

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


def fen(amount: Decimal) -> int:
    return int(amount / FEN)


def yuan(value: int | None) -> Decimal:
    return (Decimal(value or 0) * FEN).quantize(FEN)


def open_engine(url: str) -> Engine:
    engine = create_engine(url, future=True)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    meta.create_all(engine)
    return engine


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


# ---- loading ---------------------------------------------------------------------------

@dataclass
class Loaded:
    """Everything a night needs from the ledger."""
    book: Book
    fund: Fund
    posted: dict[str, str]          # sha256 -> name of the filing that posted those bytes
    fund_input_keys: set[str]
    fund_history: list[tuple[date, Decimal]]


def load(engine: Engine) -> Loaded:
    with engine.connect() as conn:
        book = Book()
        for row in conn.execute(select(postings).order_by(postings.c.id)):
            book.apply(_posting(row._mapping))
        out = _withdrawn(conn)
        posted: dict[str, str] = {}
        for row in conn.execute(select(files).order_by(files.c.seq)):
            if row.status in (ACCEPTED, PARTIAL):
                posted.setdefault(row.sha256, row.name)
                if row.sha256 not in out:
                    book.filings_by_period.setdefault((row.member_id, row.period), []).append(row.sha256)
        return Loaded(book, _fund(conn), posted, _input_keys(conn), _history(conn))


def _withdrawn(conn: Connection) -> set[str]:
    return {r.sha256 for r in conn.execute(select(withdrawn.c.sha256))}


def _input_keys(conn: Connection) -> set[str]:
    q = select(fund_moves.c.input_key).where(fund_moves.c.input_key.is_not(None))
    return {r.input_key for r in conn.execute(q)}


def _fund(conn: Connection) -> Fund:
    balance = yuan(conn.execute(select(func.sum(fund_moves.c.amount))).scalar())
    paid = dict(conn.execute(select(fund_moves.c.claim_id, func.sum(fund_moves.c.amount))
                             .where(fund_moves.c.claim_id.is_not(None))
                             .group_by(fund_moves.c.claim_id)).all())
    waiting: dict[str, Claim] = {}
    for r in conn.execute(select(claims).order_by(claims.c.id)):
        c = waiting.get(r.claim_id)
        if c is None:
            source = Source(r.sha256, r.file, r.sheet, r.row) if r.sha256 else None
            waiting[r.claim_id] = Claim(r.claim_id, r.on, r.member_id, r.guarantee_id,
                                        yuan(r.amount), ZERO, source)
        else:
            waiting[r.claim_id] = Claim(c.claim_id, c.on, c.member_id, c.guarantee_id,
                                        c.amount + yuan(r.amount), ZERO, c.source)
    open_claims = []
    for c in waiting.values():
        unpaid = c.amount + yuan(paid.get(c.claim_id, 0))
        if unpaid > 0:
            open_claims.append(Claim(c.claim_id, c.on, c.member_id, c.guarantee_id, c.amount,
                                     unpaid, c.source))
    return Fund(balance, tuple(open_claims))


def _history(conn: Connection) -> list[tuple[date, Decimal]]:
    """The balance at the end of every day that had a movement."""
    q = select(fund_moves.c.on, func.sum(fund_moves.c.amount)).group_by(fund_moves.c.on) \
        .order_by(fund_moves.c.on)
    balance, out = ZERO, []
    for on, amount in conn.execute(q):
        balance += yuan(amount)
        out.append((on, balance))
    return out


def _detail(text: str | None) -> NewGuarantee | None:
    if not text:
        return None
    data = json.loads(text)
    for key in ("loan_amount", "guaranteed_amount", "fee_rate", "reguarantor_share", "counter_amount"):
        if data.get(key) is not None:
            data[key] = Decimal(data[key])
    for key in ("start_date", "maturity_date"):
        data[key] = date.fromisoformat(data[key])
    data["product"] = Product(data["product"])
    from .model import Where
    data["where"] = Where(**data["where"])
    return NewGuarantee(**data)


def _detail_json(g: NewGuarantee | None) -> str | None:
    if g is None:
        return None
    data = {f.name: getattr(g, f.name) for f in fields(g)}
    data["where"] = {k: getattr(g.where, k) for k in ("file", "sheet", "row")}
    return json.dumps(data, default=str, ensure_ascii=False)


def _posting(m) -> Posting:
    return Posting(Kind(m["kind"]), m["member_id"], m["guarantee_id"], m["on"],
                   Source(m["sha256"], m["file"], m["sheet"], m["row"]), yuan(m["principal"]),
                   {p: yuan(m[p.value]) for p in PARTIES}, fee=yuan(m["fee"]),
                   detail=_detail(m["detail"]), settled=m["settled"], interest=yuan(m["interest"]),
                   gross=yuan(m["gross"]), claimed=m["claimed"], period=m["period"] or "",
                   sign=m["sign"], reverses=m["reverses"] or "")


# ---- saving ----------------------------------------------------------------------------

def _posting_row(p: Posting, run_id: str, filing_sha: str) -> dict:
    s = p.source
    return {"run_id": run_id, "filing_sha256": filing_sha, "key": p.key, "kind": p.kind.value,
            "member_id": p.member_id, "guarantee_id": p.guarantee_id, "on": p.on,
            "sha256": s.sha256, "file": s.file, "sheet": s.sheet, "row": s.row, "period": p.period,
            "principal": fen(p.principal), **{q.value: fen(p.shares.get(q, ZERO)) for q in PARTIES},
            "fee": fen(p.fee), "interest": fen(p.interest), "gross": fen(p.gross),
            "settled": p.settled, "claimed": p.claimed, "sign": p.sign, "reverses": p.reverses,
            "detail": _detail_json(p.detail)}


def _move_row(m: FundMove, run_id: str, input_key: str | None) -> dict:
    s = m.source
    return {"run_id": run_id, "on": m.on, "kind": m.kind.value, "amount": fen(m.amount),
            "balance_after": fen(m.balance_after), "member_id": m.member_id,
            "guarantee_id": m.guarantee_id, "sha256": s.sha256 if s else None,
            "file": s.file if s else None, "sheet": s.sheet if s else None,
            "row": s.row if s else None, "claim_id": m.claim_id or None, "note": m.note,
            "input_key": input_key}


def _claim_row(c: Claim, amount: Decimal, run_id: str) -> dict:
    s = c.source
    return {"run_id": run_id, "claim_id": c.claim_id, "on": c.on, "member_id": c.member_id,
            "guarantee_id": c.guarantee_id, "amount": fen(amount),
            "sha256": s.sha256 if s else None, "file": s.file if s else None,
            "sheet": s.sheet if s else None, "row": s.row if s else None}


@dataclass(frozen=True)
class RunRecord:
    run_id: str
    run_date: date
    started_at: datetime
    finished_at: datetime
    filings: tuple[FilingOutcome, ...]
    fund_moves: tuple[tuple[FundMove, str | None], ...]    # with the reference input key, if any
    claim_changes: tuple[tuple[Claim, Decimal], ...]        # +amount created, -rest withdrawn


def save_run(engine: Engine, record: RunRecord) -> None:
    """Everything one run decided, in one transaction: all of it lands, or none of it."""
    with engine.begin() as conn:
        conn.execute(insert(runs), [{"run_id": record.run_id, "run_date": record.run_date,
                                     "started_at": record.started_at.isoformat(),
                                     "finished_at": record.finished_at.isoformat()}])
        _insert(conn, files, [_file_row(f, record.run_id) for f in record.filings])
        rows = [_posting_row(p, record.run_id, f.filing.sha256)
                for f in record.filings for p in (*f.reversals, *f.postings)]
        _insert(conn, postings, rows)
        _insert(conn, fund_moves, [_move_row(m, record.run_id, k) for m, k in record.fund_moves])
        _insert(conn, claims, [_claim_row(c, a, record.run_id) for c, a in record.claim_changes])
        _insert(conn, withdrawn, [{"sha256": sha, "by_sha256": f.filing.sha256,
                                   "run_id": record.run_id}
                                  for f in record.filings for sha in _withdrawn_by(f)])


def _withdrawn_by(f: FilingOutcome) -> Iterable[str]:
    return f.withdrawn


def _insert(conn: Connection, table: Table, rows: list[dict]) -> None:
    if rows:
        conn.execute(insert(table), rows)


def _file_row(f: FilingOutcome, run_id: str) -> dict:
    return {"run_id": run_id, "sha256": f.filing.sha256, "name": f.path,
            "member_id": f.member_id, "period": f.period, "kind": f.kind, "status": f.status,
            "receipt": f.receipt, "destination": f.destination, "duplicate_of": f.duplicate_of}


def last_run_date(engine: Engine) -> date | None:
    with engine.connect() as conn:
        return conn.execute(select(func.max(runs.c.run_date))).scalar()


def run_ids(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        return {r.run_id for r in conn.execute(select(runs.c.run_id))}


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
        return _fund(conn)
