"""The fund's state in the ledger: kept beside its movements and claims, so a night reads one
row a day and one a waiting claim instead of every movement ever made.

``fund_days`` holds each day's net movement (the balance is their sum, the statement's history
their running sum); ``pending_claims`` the 待补偿 queue as the last run left it; ``fund_kept``
the last movement and claim they include. Each run adds to the first, rewrites the second and
moves the third on, in its own transaction (``keep``). ``derive`` computes the state from the
movements and claims alone: for ``store.rebuild``, for the tests that hold the kept state to it,
and whenever the ledger is opened and the record has moved past what the state includes (a
ledger made before the state was kept, or movements written by anything else, an older version
of this program say), so the kept state is never stale.
"""
from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Sequence

from sqlalchemy import delete, func, select
from sqlalchemy.engine import Connection

from . import codec
from .fund import Fund
from .ledgerdb import insert_rows
from .model import Claim, FundMove, Source
from .money import ZERO
from .tables import claims, fund_days, fund_kept, fund_moves, pending_claims


def input_keys(conn: Connection) -> set[str]:
    """Finance's inputs already posted (found by their partial index, not among the claims)."""
    q = select(fund_moves.c.input_key).where(fund_moves.c.input_key.is_not(None))
    return {r.input_key for r in conn.execute(q)}


def fund(conn: Connection) -> Fund:
    """The balance (the days' net movements summed) and the claims still waiting, oldest first,
    as the last run left them: a night reads one row a day and one a waiting claim, never the
    movements."""
    balance = codec.yuan(conn.execute(select(func.sum(fund_days.c.net))).scalar())
    c = pending_claims.c
    q = select(c.claim_id, c.on, c.member_id, c.guarantee_id, c.amount, c.unpaid, c.sha256,
               c.file, c.sheet, c.row).order_by(c.seq)
    return Fund(balance, tuple(_claim(r, r.amount, r.unpaid) for r in conn.execute(q)))


def _claim(r, amount: int, unpaid: int) -> Claim:
    source = Source(r.sha256, r.file, r.sheet, r.row) if r.sha256 else None
    return Claim(r.claim_id, r.on, r.member_id, r.guarantee_id, codec.yuan(amount),
                 codec.yuan(unpaid), source)


def history(conn: Connection) -> list[tuple[date, Decimal]]:
    """The balance at the end of every day that had a movement."""
    balance, out = ZERO, []
    days = select(fund_days.c.on, fund_days.c.net).order_by(fund_days.c.on)
    for on, net in conn.execute(days):
        balance += codec.yuan(net)
        out.append((on, balance))
    return out


def derive(conn: Connection) -> tuple[list[tuple[date, int]], list[Claim]]:
    """The fund's state from the record alone, in SQL over every movement and claim: each day's
    net movement in fen, and the claims still waiting, oldest first (a claim's rows summed, less
    what was paid on it). What the kept state must always equal (the tests hold it to this)."""
    days = conn.execute(select(fund_moves.c.on, func.sum(fund_moves.c.amount))
                        .group_by(fund_moves.c.on).order_by(fund_moves.c.on)).all()
    paid = (select(fund_moves.c.claim_id, func.sum(fund_moves.c.amount).label("paid"))
            .where(fund_moves.c.claim_id.is_not(None)).group_by(fund_moves.c.claim_id)
            .subquery())
    owed = (select(claims.c.claim_id, func.min(claims.c.id).label("first"),
                   func.sum(claims.c.amount).label("amount"))
            .group_by(claims.c.claim_id).subquery())
    q = (select(owed.c.claim_id, owed.c.amount, func.coalesce(paid.c.paid, 0).label("paid"),
                claims.c.on, claims.c.member_id, claims.c.guarantee_id, claims.c.sha256,
                claims.c.file, claims.c.sheet, claims.c.row)
         .join(claims, claims.c.id == owed.c.first)
         .outerjoin(paid, paid.c.claim_id == owed.c.claim_id)
         .where(owed.c.amount + func.coalesce(paid.c.paid, 0) > 0).order_by(owed.c.first))
    waiting = [_claim(r, r.amount, r.amount + r.paid) for r in conn.execute(q)]
    return [(on, net) for on, net in days], waiting


def rewrite(conn: Connection, days: list[tuple[date, int]], waiting: Sequence[Claim]) -> None:
    """The fund's kept state replaced whole by a derivation."""
    conn.execute(delete(fund_days))
    insert_rows(conn, fund_days, [{"on": on, "net": net} for on, net in days])
    _write_waiting(conn, waiting)
    _mark(conn)


def current(conn: Connection) -> bool:
    """Whether the kept state includes the whole record: its mark is the last movement and the
    last claim (two lookups at the ends of the tables' keys)."""
    mark = conn.execute(select(fund_kept.c.moves_upto, fund_kept.c.claims_upto)).first()
    return mark is not None and tuple(mark) == _last_ids(conn)


def _last_ids(conn: Connection) -> tuple[int, int]:
    return (conn.execute(select(func.max(fund_moves.c.id))).scalar() or 0,
            conn.execute(select(func.max(claims.c.id))).scalar() or 0)


def _mark(conn: Connection) -> None:
    moves, claimed = _last_ids(conn)
    conn.execute(delete(fund_kept))
    insert_rows(conn, fund_kept, [{"moves_upto": moves, "claims_upto": claimed}])


def _write_waiting(conn: Connection, waiting: Sequence[Claim]) -> None:
    """The 待补偿 queue as it now stands, in its order: rewritten whole, as the night holds all
    of it anyway (loaded at its start, listed in the fund statement)."""
    conn.execute(delete(pending_claims))
    insert_rows(conn, pending_claims,
                [codec.pending_row(seq, c) for seq, c in enumerate(waiting, 1)])


def _add_days(conn: Connection, moves: Sequence[FundMove]) -> None:
    """A run's movements added to the nets of their days (a few days a night)."""
    nets: dict[date, int] = {}
    for m in moves:
        nets[m.on] = nets.get(m.on, 0) + codec.fen(m.amount)
    if not nets:
        return
    on = fund_days.c.on
    held = dict(conn.execute(select(on, fund_days.c.net).where(on.in_(list(nets)))).all())
    conn.execute(delete(fund_days).where(on.in_(list(nets))))
    insert_rows(conn, fund_days, [{"on": day, "net": held.get(day, 0) + net}
                                  for day, net in sorted(nets.items())])


def keep(conn: Connection, moves: Sequence[FundMove], waiting: Sequence[Claim]) -> None:
    """A run's movements (stored just before) added to their days, and the queue it leaves."""
    _add_days(conn, moves)
    _write_waiting(conn, waiting)
    _mark(conn)
