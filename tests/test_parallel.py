"""Reading in worker processes changes nothing: a parallel night equals a serial one.

Two homes: the crash test's (a correction, duplicate bytes, a broken file, a member folder) and
a generated one on a ledger that already holds guarantees (repayments, defaults, recoveries and
balance lines on them). Each runs once serially and once with two reader processes; the ledger,
run.json, every workbook and where every file went must be the same. The balances the night
kept by key must also equal a full replay of the ledger's postings.
"""
from __future__ import annotations

import shutil
from functools import partial
import sqlite3
from datetime import date, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select

from batch import guarantee, guaranteedb, pipeline, store, tables
from batch.home import Home
from batch.pipeline import load_params
from test_crash import make_home, snapshot

ROOT = Path(__file__).resolve().parents[1]


def run(root: Path, workers: int, run_date: date = date(2026, 3, 31)):
    return pipeline.run_once(Home(root), run_date, clock=lambda: datetime(2027, 1, 1, 2),
                             options=pipeline.Options(settle_seconds=0, workers=workers))


def generated_home(root: Path) -> Path:
    import sys
    sys.path.insert(0, str(ROOT))
    from bench.generate import write_filings, write_reference
    from bench.seed import seed_ledger
    (root / "reference").mkdir(parents=True)
    write_reference(root / "reference" / "基础数据.xlsx", 3)
    seed_ledger(f"sqlite:///{root / 'ledger.db'}", load_params(Home(root)), 3, 400)
    write_filings(root / "inbox", 3, 7, 120, 400, seed=5)
    return root


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    return generated_home(tmp_path_factory.mktemp("gen") / "home")


def balances(db: Path) -> dict:
    """Every balance row; a guarantee's state without ``upto``, which says when it was written
    (a night writes after each filing, a replay after each batch of postings), not what it is."""
    engine = create_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        return {t.name: sorted(tuple(r) for r in conn.execute(
                    select(*(c for c in t.columns if c.name != "upto"))))
                for t in tables.BALANCE_TABLES}


def rebuilt(db: Path, tmp: Path) -> dict:
    copy = tmp / "replayed.db"
    with sqlite3.connect(db) as source, sqlite3.connect(copy) as target:
        source.backup(target)                 # the WAL's pages too
    engine = store.open_engine(f"sqlite:///{copy}")
    with engine.begin() as conn:
        store.rebuild(conn)
    return balances(copy)


def test_a_parallel_night_equals_a_serial_one(tmp_path):
    serial, parallel = make_home(tmp_path / "serial"), make_home(tmp_path / "parallel")
    assert run(serial, 0).exit_code == run(parallel, 2).exit_code == 1
    assert snapshot(serial) == snapshot(parallel)


def test_on_a_held_ledger_too_and_the_balances_equal_a_replay(template, tmp_path):
    serial = tmp_path / "serial"
    parallel = tmp_path / "parallel"
    shutil.copytree(template, serial)
    shutil.copytree(template, parallel)
    first, second = run(serial, 0), run(parallel, 2)
    assert [f.status for f in first.filings] == [f.status for f in second.filings]
    assert {f.status for f in first.filings} == {"partial"}      # the deliberate bad rows
    assert first.totals == second.totals and first.totals["new_count"] > 500
    assert snapshot(serial) == snapshot(parallel)
    assert balances(serial / "ledger.db") == balances(parallel / "ledger.db")
    assert balances(serial / "ledger.db") == rebuilt(serial / "ledger.db", tmp_path)
    with create_engine(f"sqlite:///{serial / 'ledger.db'}").connect() as conn:
        assert guaranteedb.kept(conn) == guaranteedb.derive(conn)


def test_with_every_state_kept_a_night_still_equals_a_replay(tmp_path, monkeypatch):
    """A ledger whose guarantees all have their states kept (REPLAY_LIMIT 0: as if every one had
    a long history): the night reads those states and writes back every one it moves; serial
    and parallel agree, each state equals a replay of its guarantee's postings, and every
    balance equals a full replay's."""
    monkeypatch.setattr(guarantee, "REPLAY_LIMIT", 0)
    home = generated_home(tmp_path / "gen" / "home")
    serial, parallel = tmp_path / "serial", tmp_path / "parallel"
    shutil.copytree(home, serial)
    shutil.copytree(home, parallel)
    with create_engine(f"sqlite:///{home / 'ledger.db'}").connect() as conn:
        seeded = guaranteedb.kept(conn)
    assert len(seeded) > 1000                           # every seeded guarantee's state is kept
    first, second = run(serial, 0), run(parallel, 2)
    assert first.totals == second.totals and first.totals["new_count"] > 500
    assert snapshot(serial) == snapshot(parallel)
    assert balances(serial / "ledger.db") == rebuilt(serial / "ledger.db", tmp_path)
    with create_engine(f"sqlite:///{serial / 'ledger.db'}").connect() as conn:
        kept = guaranteedb.kept(conn)
        assert kept == guaranteedb.derive(conn) and len(kept) > len(seeded)
    assert kept != seeded                               # tonight moved some of them


def test_a_big_filing_stored_chunk_by_chunk_equals_one_stored_whole(template, tmp_path,
                                                                    monkeypatch):
    """A filing past CHUNK_ROWS is stored (and its guarantees let go) every CHUNK_ROWS rows:
    later rows fetch what earlier chunks stored. At 7 rows a chunk every filing here has ~17
    chunks; nothing may change."""
    from batch import process
    whole, chunked, both = tmp_path / "whole", tmp_path / "chunked", tmp_path / "both"
    for home in (whole, chunked, both):
        shutil.copytree(template, home)
    first = run(whole, 0)
    monkeypatch.setattr(process, "CHUNK_ROWS", 7)
    stored_early = []
    original = store.post_postings
    monkeypatch.setattr(store, "post_postings",
                        lambda *a, **k: (stored_early.append(len(a[3])), original(*a, **k))[1])
    second = run(chunked, 0)
    assert len(stored_early) > 7 * len(second.filings)          # really stored chunk by chunk
    assert first.totals == second.totals
    assert snapshot(whole) == snapshot(chunked)
    assert balances(whole / "ledger.db") == balances(chunked / "ledger.db")
    assert balances(chunked / "ledger.db") == rebuilt(chunked / "ledger.db", tmp_path)
    run(both, 2)              # chunks' 明细 lines written by the worker that read the filing
    assert snapshot(whole) == snapshot(both)


def test_corrections_are_never_stored_early(tmp_path, monkeypatch):
    """The crash test's home (a correction, duplicate bytes, a broken file) at 2 rows a chunk:
    the same night; a correction rejected whole must still undo everything it did."""
    from batch import process
    whole, chunked = make_home(tmp_path / "whole"), make_home(tmp_path / "chunked")
    assert run(whole, 0).exit_code == 1
    monkeypatch.setattr(process, "CHUNK_ROWS", 2)
    assert run(chunked, 0).exit_code == 1
    assert snapshot(whole) == snapshot(chunked)


_MADE = [0]                    # in a worker: how many Counted it has unpickled


class Counted:
    def __reduce__(self):
        return _made, ()


def _made() -> Counted:
    _MADE[0] += 1
    return Counted()


def _unpickled_so_far(_value: Counted, _item: int) -> int:
    return _MADE[0]


def test_a_shared_value_reaches_each_worker_once_and_stays_itself_here():
    """The night's reference data goes with every filing read; a worker unpickles it once."""
    from batch import parallel
    value = Counted()
    assert parallel.Workers(0).share(value) is value
    workers = parallel.Workers(1)
    try:
        counts = [result for _item, result, _w in
                  workers.in_order(range(4), partial(_unpickled_so_far, workers.share(value)))]
    finally:
        workers.close()
    assert counts == [1, 1, 1, 1]


def test_a_worker_draws_the_registration_lines_the_main_process_would_have_sent(tmp_path):
    """A parallel night leaves each registration's 明细 line to the worker that read its row:
    drawn from the rows and their verdicts, they are the lines of the postings themselves, in
    order; a count that does not match the accepted rows stops the night."""
    from batch import work
    from batch.reports.figures import posting_line
    from builders import new, night, post
    n = night()
    f = post(n, new("G1", row=2), new("G2", row=3, borrower=2, bank="B02"),
             new("G3", row=4, loan="-5.00"), new("G4", row=5, borrower=3))
    assert [r.accepted for r in f.rows["new"]] == [True, True, False, True]
    sent = [posting_line(p, p.detail.grouping) for p in f.postings]
    assert work.registration_lines(f) == sent and len(sent) == 3
    part = tmp_path / "1.part"
    assert work._drawn([(part, 2, [None, None]), (part, 4, [None])], f) == [
        (part, 2, sent[:2]), (part, 4, sent[2:])]
    with pytest.raises(RuntimeError, match="明细的登记行（4）与回执的通过行（3）不符"):
        work._drawn([(part, 2, [None, None, None, None])], f)
    assert work._drawn([(part, 2, ["a line"])], None) == [(part, 2, ["a line"])]
