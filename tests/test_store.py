"""The ledger on disk: what a night saves is what the next night loads."""
from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime
from decimal import Decimal as D

from sqlalchemy import func, select

from batch import store
from batch.model import Party
from batch.process import Night
from builders import default, new, night, post, recover, repay
from test_parallel import balances


def save(engine, n: Night, outcomes, run_id: str) -> None:
    placed = [replace(o, destination=f"archive/{o.path}", receipt=f"回执/{o.path}") for o in outcomes]
    store.save_run(engine, store.RunRecord(run_id, n.run_date, datetime(2026, 3, 1, 2),
                                           datetime(2026, 3, 1, 2, 1), tuple(placed),
                                           tuple(n.fund_moves), tuple(n.claim_changes)))


def test_saved_night_reloads_to_the_same_book(tmp_path):
    engine = store.open_engine(f"sqlite:///{tmp_path / 'ledger.db'}")
    n = night(fund="100000.00")
    outcomes = [post(n, new("G1", loan="1000000.00"), new("G2", row=3, loan="500000.00", borrower=2)),
                post(n, repay("G2", "100000.00"), default("G1", "1000000.00"), name="b.xlsx")]
    save(engine, n, outcomes, "r1")
    loaded = store.load(engine)
    assert loaded.fund.balance == n.fund.balance == D("0.00")
    assert loaded.fund.pending == n.fund.pending == D("50000.00")
    g1, g2 = loaded.book.guarantee("M001", "G1"), loaded.book.guarantee("M001", "G2")
    assert g1.defaulted == D("1000000.00") and g1.bore[Party.FUND] == D("150000.00")
    assert g2.outstanding == D("400000.00")
    assert loaded.book.member_liability("M001") == n.book.member_liability("M001")
    assert set(loaded.posted) == {o.filing.sha256 for o in outcomes}

    # next night: the recovery brings money back and pays the waiting claim first
    n2 = Night(n.params, loaded.book, loaded.fund, date(2026, 11, 28))
    post(n2, recover("G1", "100000.00"), name="c.xlsx")
    assert n2.fund.pending == D("35000.00")      # 15,000.00 back, paid to the waiting claim
    assert n2.fund.balance == D("0.00")


def test_money_is_stored_as_integer_fen(tmp_path):
    engine = store.open_engine(f"sqlite:///{tmp_path / 'ledger.db'}")
    n = night()
    save(engine, n, [post(n, new("G1", loan="1000000.01", guaranteed="800000.01"))], "r1")
    with engine.connect() as conn:
        assert conn.execute(select(func.sum(store.postings.c.principal))).scalar() == 100000001
    assert store.load(engine).book.guarantee("M001", "G1").loan == D("1000000.01")


def test_a_correction_reverses_and_survives_reload(tmp_path):
    engine = store.open_engine(f"sqlite:///{tmp_path / 'ledger.db'}")
    n = night()
    first = post(n, new("G1", loan="1000000.00"), new("G2", row=3, loan="2000000.00", borrower=2))
    save(engine, n, [first], "r1")
    loaded = store.load(engine)
    n2 = Night(n.params, loaded.book, loaded.fund, n.run_date)
    fixed = post(n2, new("G1", loan="1200000.00"), kind="更正", name="fix.xlsx")
    assert fixed.status == "accepted"
    assert {p.guarantee_id for p in fixed.reversals} == {"G1", "G2"}
    assert n2.book.guarantee("M001", "G2") is None
    assert n2.book.guarantee("M001", "G1").loan == D("1200000.00")
    save(engine, n2, [fixed], "r2")
    again = store.load(engine)
    assert again.book.guarantee("M001", "G2") is None
    assert again.book.guarantee("M001", "G1").loan == D("1200000.00")
    assert again.book.filings_by_period[("M001", "2026-03")] == [fixed.filing.sha256]


def _with_rowids(db) -> None:
    """The balance tables as ledgers made before WITHOUT ROWID have them."""
    import sqlite3
    conn = sqlite3.connect(db)
    for table in store.BALANCE_TABLES:
        (ddl,) = conn.execute("SELECT sql FROM sqlite_master WHERE name = ?", (table.name,)).fetchone()
        assert ddl.rstrip().endswith("WITHOUT ROWID")
        conn.execute(f"ALTER TABLE {table.name} RENAME TO old_{table.name}")
        conn.execute(ddl.rstrip()[:-len("WITHOUT ROWID")])
        conn.execute(f"INSERT INTO {table.name} SELECT * FROM old_{table.name}")
        conn.execute(f"DROP TABLE old_{table.name}")
    conn.commit()
    conn.close()


def test_a_ledger_with_rowid_balance_tables_keeps_the_same_books(tmp_path):
    """New ledgers keep their balances WITHOUT ROWID; one made before, with rowids, must load,
    check and post exactly as they do."""
    engines = {}
    for layout in ("new", "old"):
        db = tmp_path / f"{layout}.db"
        store.open_engine(f"sqlite:///{db}").dispose()
        if layout == "old":
            _with_rowids(db)
        engine = engines[layout] = store.open_engine(f"sqlite:///{db}")
        n = night(fund="100000.00")
        save(engine, n, [post(n, new("G1", loan="1000000.00"),
                              new("G2", row=3, loan="500000.00", borrower=2))], "r1")
        loaded = store.load(engine)
        n2 = Night(n.params, loaded.book, loaded.fund, n.run_date)
        save(engine, n2, [post(n2, repay("G2", "100000.00"), default("G1", "1000000.00"),
                               name="b.xlsx")], "r2")
    with engines["old"].connect() as conn:
        ddl = conn.exec_driver_sql("SELECT sql FROM sqlite_master WHERE name = 'borrower_totals'")
        assert "WITHOUT ROWID" not in ddl.scalar()
    kept = balances(tmp_path / "new.db")
    assert kept == balances(tmp_path / "old.db")
    assert kept["borrower_totals"]                              # something was kept to compare
    old, new_ = store.load(engines["old"]), store.load(engines["new"])
    assert old.book.member_liability("M001") == new_.book.member_liability("M001")
    assert old.book.guarantee("M001", "G2").outstanding == D("400000.00")
