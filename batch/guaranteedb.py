"""Each guarantee's kept state (``guarantee_states``): what a replay of its postings gives, so a
night reads one row for a guarantee it touches, however long its history.

Until it was kept, a night rebuilt every guarantee it touched from all of its postings: after
two years of monthly repayments a repayment filed tonight meant 25 postings fetched and replayed,
and a provincial night took 15.9 s instead of 9.4 s (``bench/history.py --depth``). Only a state
worth keeping is kept (``guarantee.worth_keeping``): one with more postings than a replay reads
cheaply (``REPLAY_LIMIT``, 4). A night's new business (most of its rows) and young guarantees
are replayed from their few postings, as cheaply as a state would be read, and cost the night
no extra write. The Book's ``write_back`` rewrites the states of the guarantees each filing moved,
in the run's transaction, each with ``upto``: the last posting id it includes (every posting of
its guarantee up to there is in, none after). ``keep`` then marks the last posting of the run
(``guarantees_kept``).

Whenever the ledger is opened and its postings have moved past the mark (a ledger made before
the states were kept, or nights run by an older version of this program), ``catch_up`` folds
the postings past it into the states, oldest first, with the same ``guarantee.advance`` a replay
uses, skipping any posting a state already includes (so nothing is ever counted twice); with no
mark at all every state is derived afresh. ``derive`` gives the states from the postings alone,
for the tests that hold the kept ones to it.
"""
from __future__ import annotations

from typing import Iterator

from sqlalchemy import delete, func, select
from sqlalchemy.engine import Connection

from . import codec, guarantee
from .guarantee import Guarantee, advance, worth_keeping
from .ledgerdb import StoredBook, insert_rows, last_posting, write_states
from .model import Posting
from .tables import guarantee_states, guarantees_kept, postings

BATCH = 20_000          # postings folded between two writes: memory stays flat on a big ledger
UPTO = codec.STATE_COLUMNS.index("upto")


def current(conn: Connection) -> bool:
    """Whether the kept states include every posting (two lookups at the ends of keys)."""
    return _mark(conn) == last_posting(conn)


def keep(conn: Connection) -> None:
    """The states now include every posting: mark the last one (the run's last write)."""
    conn.execute(delete(guarantees_kept))
    insert_rows(conn, guarantees_kept, [{"postings_upto": last_posting(conn)}])


def catch_up(conn: Connection) -> None:
    """Fold the postings past the mark into the kept states (with no mark, or postings taken
    away from under it, all of them into fresh states), then mark them included."""
    mark = _mark(conn)
    if mark is None or mark > last_posting(conn):
        _derive_all(conn)
        keep(conn)
        return
    for batch in _postings_after(conn, mark):
        last = batch[-1][0]
        found = _states(conn, {(p.member_id, p.guarantee_id) for _id, p in batch}, last)
        for posting_id, p in batch:
            g, upto = found[(p.member_id, p.guarantee_id)]
            if posting_id > upto:                  # not in the state already
                advance(g, p)
        write_states(conn, [found[k][0] for k in sorted(found)], last)
    keep(conn)


def _derive_all(conn: Connection) -> None:
    """Every state worth keeping derived afresh: the guarantees with more postings than
    REPLAY_LIMIT are found by counting on the index of member and 业务编号 (not reading a
    posting), and only they are replayed."""
    conn.execute(delete(guarantee_states))
    last, p = last_posting(conn), postings.c
    counted = (select(p.member_id, p.guarantee_id).group_by(p.member_id, p.guarantee_id)
               .having(func.count() > guarantee.REPLAY_LIMIT).order_by(p.member_id, p.guarantee_id))
    by_member: dict[str, list[str]] = {}
    for member_id, guarantee_id in conn.execute(counted):
        by_member.setdefault(member_id, []).append(guarantee_id)
    stored = StoredBook(conn)
    for member_id, ids in by_member.items():
        for start in range(0, len(ids), BATCH):
            found = stored.replayed(member_id, ids[start:start + BATCH])
            write_states(conn, [found[k] for k in sorted(found)], last)


def derive(conn: Connection) -> list[tuple]:
    """Every kept guarantee's state from its postings alone, as STATE_COLUMNS values in key
    order, without ``upto`` (which says when a state was written, not what it is): what the
    kept states must always equal."""
    found: dict[tuple[str, str], Guarantee] = {}
    for batch in _postings_after(conn, 0):
        for _id, p in batch:
            key = (p.member_id, p.guarantee_id)
            advance(found.get(key) or found.setdefault(key, Guarantee(*key)), p)
    return [codec.state_row(found[k], 0)[:UPTO] for k in sorted(found)
            if worth_keeping(found[k])]


def kept(conn: Connection) -> list[tuple]:
    """The kept states as ``derive`` gives them: in key order, without ``upto``."""
    c = guarantee_states.c
    q = select(*(c[n] for n in codec.STATE_COLUMNS[:UPTO])).order_by(c.member_id,
                                                                      c.guarantee_id)
    return [tuple(row) for row in conn.execute(q)]


def _states(conn: Connection, keys: set[tuple[str, str]],
            last: int) -> dict[tuple[str, str], tuple[Guarantee, int]]:
    """Some guarantees' states, each with the last posting id it includes: the kept ones (their
    details are not needed to fold postings), the others replayed from their postings up to
    ``last``."""
    by_member: dict[str, list[str]] = {}
    for member_id, guarantee_id in sorted(keys):
        by_member.setdefault(member_id, []).append(guarantee_id)
    c = guarantee_states.c
    columns = [c[n] for n in codec.STATE_COLUMNS]
    stored = StoredBook(conn)
    stored.upto = last
    found = {}
    for member_id, ids in by_member.items():
        for start in range(0, len(ids), 500):
            q = select(*columns).where(c.member_id == member_id,
                                       c.guarantee_id.in_(ids[start:start + 500]))
            for row in conn.execute(q):
                found[(row.member_id, row.guarantee_id)] = (codec.guarantee_from(row, None),
                                                            row.upto)
        others = [g for g in ids if (member_id, g) not in found]
        for key, g in stored.replayed(member_id, others).items():
            found[key] = (g, last)
    return found


def _postings_after(conn: Connection, mark: int) -> Iterator[list[tuple[int, Posting]]]:
    """The postings after ``mark`` with their ids, oldest first, a batch at a time."""
    columns = (postings.c.id, *(postings.c[n] for n in codec.POSTING_FIELDS))
    while True:
        rows = conn.execute(select(*columns).where(postings.c.id > mark)
                            .order_by(postings.c.id).limit(BATCH)).all()
        if not rows:
            return
        yield [(row.id, codec.posting_from(row[1:])) for row in rows]
        mark = rows[-1].id


def _mark(conn: Connection) -> int | None:
    return conn.execute(select(guarantees_kept.c.postings_upto)).scalar()
