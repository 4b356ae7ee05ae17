"""The ledger on disk: what a night saves is what the next night loads."""
from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime
from decimal import Decimal as D

from sqlalchemy import func, select

from batch import funddb, store, tables
from batch.model import FundKind, Party
from batch.process import Night
from builders import default, new, night, post, recover, repay
from test_parallel import balances


def save(engine, n: Night, outcomes, run_id: str) -> None:
    placed = [replace(o, destination=f"archive/{o.path}", receipt=f"回执/{o.path}") for o in outcomes]
    store.save_run(engine, store.RunRecord(run_id, n.run_date, datetime(2026, 3, 1, 2),
                                           datetime(2026, 3, 1, 2, 1), tuple(placed),
                                           tuple(n.fund_moves), tuple(n.claim_changes),
                                           n.fund.claims))


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


def kept_fund(engine) -> tuple[list, list]:
    """The fund's state as the ledger keeps it: each day's net in fen, the waiting claims."""
    with engine.connect() as conn:
        q = select(tables.fund_days).order_by(tables.fund_days.c.on)
        days = [tuple(r) for r in conn.execute(q)]
    fund = store.load_fund(engine)
    return days, list(fund.claims)


def derived_fund(engine) -> tuple[list, list]:
    with engine.connect() as conn:
        days, waiting = funddb.derive(conn)
    return [tuple(d) for d in days], waiting


def test_the_funds_kept_state_is_what_its_movements_and_claims_derive(tmp_path):
    """Each night keeps the fund's balance by day and its 待补偿 queue beside the movements (so a
    night never sums them all); after nights that pay in part, pay a waiting claim from new
    money, and take in a back-dated finance input, the kept state equals a derivation from the
    movements and claims alone."""
    engine = store.open_engine(f"sqlite:///{tmp_path / 'ledger.db'}")
    n = night(fund="100000.00")
    save(engine, n, [post(n, new("G1", loan="1000000.00"), new("G2", row=3, loan="500000.00",
                                                                 borrower=2)),
                     post(n, default("G1", "1000000.00"), name="b.xlsx")], "r1")
    days, waiting = kept_fund(engine)
    assert (days, waiting) == derived_fund(engine)
    assert days == [(n.run_date, 0)]                   # 100,000.00 in, 100,000.00 paid out
    assert [(c.amount, c.unpaid) for c in waiting] == [(D("150000.00"), D("50000.00"))]

    loaded = store.load(engine)
    n2 = Night(n.params, loaded.book, loaded.fund, date(2026, 11, 28))
    n2.receive(FundKind.CONTRIBUTION, D("20000.00"), on=date(2026, 11, 20))   # back-dated
    save(engine, n2, [post(n2, recover("G1", "100000.00"), name="c.xlsx")], "r2")
    days, waiting = kept_fund(engine)
    assert (days, waiting) == derived_fund(engine)
    # 20,000 in on 11-20 and 15,000 recovered on 11-28, each paid to the waiting claim at once
    assert days == [(date(2026, 11, 20), 0), (n.run_date, 0), (date(2026, 11, 28), 0)]
    assert [c.unpaid for c in waiting] == [D("15000.00")]
    assert store.load_fund(engine) == n2.fund

    loaded = store.load(engine)
    n3 = Night(n.params, loaded.book, loaded.fund, date(2026, 11, 29))
    n3.receive(FundKind.CONTRIBUTION, D("40000.00"), on=date(2026, 11, 21))   # between days held
    n3.receive(FundKind.INTEREST, D("1000.00"), on=date(2026, 11, 28))        # onto a day held
    save(engine, n3, [], "r3")
    days, waiting = kept_fund(engine)
    assert (days, waiting) == derived_fund(engine) and waiting == []
    assert days[1] == (date(2026, 11, 21), 2500000)             # 40,000 in, 15,000 paid out
    assert days[-1] == (date(2026, 11, 28), 100000)
    assert store.load(engine).fund_history == [
        (date(2026, 11, 20), D("0.00")), (date(2026, 11, 21), D("25000.00")),
        (n.run_date, D("25000.00")), (date(2026, 11, 28), D("26000.00"))]
    assert store.load_fund(engine) == n3.fund


def test_a_ledger_from_before_the_kept_fund_state_derives_it_once(tmp_path):
    """A ledger whose fund tables are empty though it holds movements and claims (made by an
    earlier version) gets them derived when it is opened, and loads the same fund."""
    db = tmp_path / "ledger.db"
    engine = store.open_engine(f"sqlite:///{db}")
    n = night(fund="100000.00")
    save(engine, n, [post(n, new("G1", loan="1000000.00")),
                     post(n, default("G1", "1000000.00"), name="b.xlsx")], "r1")
    before = store.load_fund(engine)
    with engine.begin() as conn:
        for table in tables.FUND_TABLES:
            conn.execute(table.delete())
        conn.exec_driver_sql("DROP INDEX ix_fund_moves_input_key")
    engine.dispose()
    again = store.open_engine(f"sqlite:///{db}")
    assert store.load_fund(again) == before and before.pending == D("50000.00")
    assert kept_fund(again) == derived_fund(again)
    with again.connect() as conn:
        q = "SELECT name FROM sqlite_master WHERE type = 'index'"
        names = {r[0] for r in conn.exec_driver_sql(q)}
    assert "ix_fund_moves_input_key" in names


def test_movements_written_past_the_kept_state_make_it_derived_again(tmp_path):
    """Movements or claims stored by anything that does not keep the state (an older version of
    this program, an administrator's SQL) are noticed when the ledger is next opened: the state
    is derived again, so the balance and the queue are never stale."""
    db = tmp_path / "ledger.db"
    engine = store.open_engine(f"sqlite:///{db}")
    n = night(fund="100000.00")
    save(engine, n, [post(n, new("G1", loan="1000000.00")),
                     post(n, default("G1", "1000000.00"), name="b.xlsx")], "r1")
    with engine.begin() as conn:
        conn.execute(tables.fund_moves.insert(), [{
            "run_id": "old", "on": date(2026, 12, 1), "kind": "财政注资", "amount": 2000000,
            "balance_after": 2000000}])
    assert store.load_fund(engine).balance == D("0.00")          # not yet noticed
    engine.dispose()
    again = store.open_engine(f"sqlite:///{db}")
    assert kept_fund(again) == derived_fund(again)
    assert store.load_fund(again).balance == D("20000.00")
