"""Random histories of nights on one ledger: whatever is filed, corrected or refused, night after
night, the balances and guarantee states the ledger keeps are what a full replay of its postings
gives, and a night fetches every guarantee as its postings make it.

This is the double count the kept balances could introduce (a posting counted in a state and
again on top of it, or a withdrawn one still counted), searched for across histories rather than
in the cases we thought of. Each night goes the way the pipeline goes: filings checked against the
ledger-backed book, each stored after it is decided (``store.post_filing``), then the run closed
(``store.finish_run``) and committed.
"""
from __future__ import annotations

import tempfile
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from decimal import Decimal as D
from pathlib import Path

from hypothesis import HealthCheck, given, settings, strategies as st
from sqlalchemy import select

from batch import guarantee, guaranteedb, store, tables
from batch.model import FundKind
from batch.process import Night
from builders import balance, default, new, params, post, recover, repay
from test_parallel import balances, rebuilt

IDS = [f"G{n}" for n in range(6)]              # few, so that rows keep meeting the same guarantees
PERIODS = ["2026-01", "2026-02", "2026-03"]
amounts = st.integers(1, 40).map(lambda n: f"{n * 10_000}.00")
loans = st.integers(20, 400).map(lambda n: f"{n * 10_000}.00")      # amounts stay below most
registrations = st.tuples(st.just("new"), st.sampled_from(IDS), loans, st.integers(1, 3),
                          st.sampled_from(["B01", "B02"]))
repayments = st.tuples(st.just("repay"), st.sampled_from(IDS), amounts, st.booleans())
records = st.one_of(
    registrations, registrations, repayments, repayments,
    st.tuples(st.just("default"), st.sampled_from(IDS), amounts, st.booleans()),
    st.tuples(st.just("recover"), st.sampled_from(IDS), amounts),
    st.tuples(st.just("balance"), st.sampled_from(IDS), amounts))
filings = st.tuples(st.sampled_from(PERIODS), st.sampled_from(["正常", "正常", "更正"]),
                    st.lists(records, min_size=1, max_size=5))
histories = st.lists(st.lists(filings, min_size=1, max_size=3), min_size=1, max_size=5)


def built(spec: tuple, row: int):
    """A record of the builders from its drawn values, on its own row of its sheet."""
    kind, gid, *rest = spec
    if kind == "new":
        loan, borrower, bank = rest
        return new(gid, row=row, loan=loan, borrower=borrower, bank=bank)
    if kind == "repay":
        return repay(gid, rest[0], row=row, settled=rest[1])
    if kind == "default":
        return default(gid, rest[0], row=row, claim=rest[1])
    if kind == "recover":
        return recover(gid, rest[0], row=row)
    return balance(gid, rest[0], row=row)


def run_night(engine, number: int, night_filings: list) -> int:
    """One night as the pipeline runs it; returns how many postings it stored."""
    loaded = store.load(engine)
    n = Night(params(), loaded.book, loaded.fund, date(2026, 11, 27) + timedelta(days=number))
    if number == 0:
        n.receive(FundKind.OPENING, D("100000000.00"))
    conn, outcomes = loaded.stored.conn, []
    for index, (period, kind, specs) in enumerate(night_filings):
        rows = [built(spec, row) for row, spec in enumerate(specs, start=2)]
        outcome = post(n, *rows, period=period, kind=kind, name=f"n{number}_{index}.xlsx")
        store.post_filing(conn, loaded.stored, loaded.book, outcome, f"run{number}")
        outcomes.append(outcome)
    store.finish_run(conn, store.RunRecord(
        f"run{number}", n.run_date, datetime(2026, 3, 1, 2), datetime(2026, 3, 1, 2, 1),
        tuple(outcomes), tuple(n.fund_moves), tuple(n.claim_changes), n.fund.claims))
    conn.commit()
    conn.close()
    return sum(len(o.postings) + len(o.reversals) for o in outcomes)


def assert_kept_is_replayed(engine, db: Path, tmp: Path) -> None:
    assert balances(db) == rebuilt(db, tmp)
    with engine.connect() as conn:
        assert guaranteedb.kept(conn) == guaranteedb.derive(conn)
        stored = store.StoredBook(conn)
        assert stored._guarantees("M001", IDS) == stored.replayed("M001", IDS)


@contextmanager
def states_kept_past(postings: int):
    """Guarantees' states kept once they have more than ``postings`` postings (hypothesis runs
    many examples in one test, so pytest's monkeypatch would not undo it between them)."""
    before, guarantee.REPLAY_LIMIT = guarantee.REPLAY_LIMIT, postings
    try:
        yield
    finally:
        guarantee.REPLAY_LIMIT = before


@settings(deadline=None, max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(history=histories, replay_limit=st.sampled_from([0, 1, guarantee.REPLAY_LIMIT]))
def test_after_every_night_the_kept_balances_are_a_replay_of_the_postings(history, replay_limit):
    with states_kept_past(replay_limit), tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "ledger.db"
        engine = store.open_engine(f"sqlite:///{db}")
        for number, night_filings in enumerate(history):
            run_night(engine, number, night_filings)
            assert_kept_is_replayed(engine, db, Path(tmp))
        engine.dispose()


def test_a_history_that_corrects_and_keeps_states_stores_what_it_should(tmp_path):
    """The random histories above are only worth their invariant if rows get through: one
    history drawn by hand, with a correction of a period whose guarantee has a kept state,
    stores postings and reversals, and its states are kept and equal their replay."""
    registered = [("new", "G0", "2000000.00", 1, "B01"), ("new", "G1", "900000.00", 2, "B02")]
    moved = [("repay", "G0", "100000.00", False), ("default", "G1", "300000.00", True)]
    corrected = [("repay", "G0", "150000.00", False)]
    db = tmp_path / "ledger.db"
    with states_kept_past(1):
        engine = store.open_engine(f"sqlite:///{db}")
        stored = [run_night(engine, 0, [("2026-01", "正常", registered)]),
                  run_night(engine, 1, [("2026-02", "正常", moved)]),
                  run_night(engine, 2, [("2026-02", "更正", corrected),
                                        ("2026-03", "正常", [("recover", "G1", "50000.00")])])]
        # the correction withdraws the repayment and the default and files one repayment; the
        # recovery then finds no default on G1 and is refused
        assert stored == [2, 2, 3]
        assert_kept_is_replayed(engine, db, tmp_path)
        with engine.connect() as conn:
            kept = {row.guarantee_id: row for row in conn.execute(select(tables.guarantee_states))}
            reversals = conn.execute(select(tables.postings.c.key)
                                     .where(tables.postings.c.sign == -1)).all()
    assert sorted(kept) == ["G0", "G1"] and len(reversals) == 2
    assert kept["G0"].repaid == 15_000_000         # 150,000.00 in fen: the corrected amount
