"""Each guarantee's kept state (``guarantee_states``): what a replay of its postings gives, so a
night reads one row for a guarantee it touches, however long its history.

Until it was kept, a night rebuilt every guarantee it touched from all of its postings: after
two years of monthly activity a repayment filed tonight meant 25 postings fetched and replayed,
and a provincial night took 16.1 s instead of 10.8 s (``bench/depth.py``). Only a state
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
mark at all, the guarantees with more postings than ``REPLAY_LIMIT`` are counted on the index
and only their states are derived, afresh. ``derive`` gives the states from the postings alone,
for the tests that hold the kept ones to it.
"""
from __future__ import annotations

from typing import Iterator

from sqlalchemy import delete, func, select
from sqlalchemy.engine import Connection

from . import codec, guarantee
from .guarantee import Guarantee, advance, worth_keeping
from .ledgerdb import StoredBook, grouped, insert_rows, last_posting, write_states
from .model import Posting
from .tables import guarantee_states, guarantees_kept, postings

BATCH = 20_000          # postings read at a time by ``derive``
CHUNK = 500             # guarantees brought up to date together: memory stays flat
UPTO = codec.STATE_COLUMNS.index("upto")


def current(conn: Connection) -> bool:
    """Whether the kept states include every posting (two lookups at the ends of keys)."""
    return _mark(conn) == last_posting(conn)


def keep(conn: Connection) -> None:
    """The states now include every posting: mark the last one (the run's last write)."""
    conn.execute(delete(guarantees_kept))
    insert_rows(conn, guarantees_kept, [{"postings_upto": last_posting(conn)}])


def catch_up(conn: Connection) -> None:
    """Bring the kept states up to every posting, then mark them so: each guarantee with postings
    past the mark once, a kept state folding the postings past its own ``upto``, any other
    replayed whole (with no mark, or postings taken away from under it, ``_derive_all``)."""
    mark, last = _mark(conn), last_posting(conn)
    if mark is None or mark > last:
        _derive_all(conn, last)
    else:
        p = postings.c
        moved = select(p.member_id, p.guarantee_id).where(p.id > mark).distinct()
        _bring_up(conn, sorted(tuple(k) for k in conn.execute(moved)), mark, last)
    keep(conn)


def _bring_up(conn: Connection, keys: list[tuple[str, str]], mark: int, last: int) -> None:
    """These guarantees' states as all their postings up to ``last`` leave them, written where
    worth keeping. A kept state includes all of its guarantee's postings up to the mark (and
    any later ones up to its ``upto``), so only the postings past the mark are read for it."""
    stored = StoredBook(conn)
    for member_id, ids in grouped(keys).items():
        for start in range(0, len(ids), CHUNK):
            part = ids[start:start + CHUNK]
            held = _held(stored, member_id, part)
            found = list(stored.replayed(member_id, [i for i in part if i not in held]).values())
            for values in stored.posting_rows(member_id, list(held), after=mark):
                posting = codec.posting_from(values[1:])
                g, upto = held[posting.guarantee_id]
                if values[0] > upto:                   # not in the state already
                    advance(g, posting)
            write_states(conn, sorted((*found, *(g for g, _ in held.values())),
                                      key=lambda g: g.guarantee_id), last)


def _derive_all(conn: Connection, last: int) -> None:
    """Every state worth keeping derived afresh: the guarantees with more postings than
    REPLAY_LIMIT are found by counting on the index of member and 业务编号 (not reading a
    posting), and only they are replayed."""
    conn.execute(delete(guarantee_states))
    p = postings.c
    long_lived = (select(p.member_id, p.guarantee_id).group_by(p.member_id, p.guarantee_id)
                  .having(func.count() > guarantee.REPLAY_LIMIT)
                  .order_by(p.member_id, p.guarantee_id))
    stored = StoredBook(conn)
    for member_id, ids in grouped(conn.execute(long_lived)).items():
        for start in range(0, len(ids), CHUNK):
            found = stored.replayed(member_id, ids[start:start + CHUNK])
            write_states(conn, [found[k] for k in sorted(found)], last)


def derive(conn: Connection) -> list[tuple]:
    """Every kept guarantee's state from its postings alone, as STATE_COLUMNS values in key
    order, without ``upto`` (which says when a state was written, not what it is): what the
    kept states must always equal."""
    found: dict[tuple[str, str], Guarantee] = {}
    for batch in postings_after(conn, 0):
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


def _held(stored: StoredBook, member_id: str,
          ids: list[str]) -> dict[str, tuple[Guarantee, int]]:
    """The kept states among some guarantees, each with the last posting id it includes (their
    details are not needed to fold postings)."""
    return {row[1]: (codec.guarantee_from(row, None), row[UPTO])
            for row in stored.state_rows(member_id, ids)}


def postings_after(conn: Connection, mark: int) -> Iterator[list[tuple[int, Posting]]]:
    """The postings after ``mark`` with their ids, oldest first, a batch at a time (the next
    batch is read only when asked for: a caller may write between batches)."""
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
