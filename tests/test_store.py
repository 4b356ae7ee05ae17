"""The ledger on disk: what a night saves is what the next night loads."""
from __future__ import annotations

import shutil
import sqlite3
from dataclasses import replace
from datetime import date, datetime, timedelta
from decimal import Decimal as D

import pytest
from sqlalchemy import create_engine, func, select, text

from batch import codec, funddb, guarantee, guaranteedb, store, tables
from batch.guarantee import REPLAY_LIMIT
from batch.ledgerdb import StoredBook
from batch.model import FundKind, Party, Where
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


# ---- each guarantee's kept state -------------------------------------------------------------

def states(engine) -> tuple[list, list]:
    """The guarantees' states as the ledger keeps them, and as its postings alone derive them."""
    with engine.connect() as conn:
        return guaranteedb.kept(conn), guaranteedb.derive(conn)


def fetched_and_replayed(engine, *ids: str) -> tuple[dict, dict]:
    """Guarantees as a night fetches them (kept states where there are), and replayed from all
    of their postings: the two must be the same objects to the last field."""
    with engine.connect() as conn:
        stored = StoredBook(conn)
        return stored._guarantees("M001", list(ids)), stored.replayed("M001", list(ids))


def nights_of_repayments(engine, n: Night, count: int) -> Night:
    """``count`` more nights, each repaying 10,000.00 of G1 in a filing of its own period."""
    for _ in range(count):
        loaded = store.load(engine)
        n = Night(n.params, loaded.book, loaded.fund, n.run_date + timedelta(days=1))
        k = (n.run_date - date(2026, 11, 27)).days
        save(engine, n, [post(n, repay("G1", "10000.00"), period=f"{2024 + k // 12}-{k % 12 + 1:02d}",
                              name=f"repay{k}.xlsx")], f"night{k}")
    return n


def test_a_guarantee_with_a_long_history_has_its_state_kept_equal_to_its_replay(tmp_path):
    """Past REPLAY_LIMIT postings a guarantee's state is kept beside them (a night then reads one
    row for it, however many postings it has); the state is what replaying all of them gives,
    after repayments, a default with a claim and a recovery, and a night fetches the same
    guarantee either way. A young guarantee has none kept."""
    engine = store.open_engine(f"sqlite:///{tmp_path / 'ledger.db'}")
    n = night(fund="100000.00")
    save(engine, n, [post(n, new("G1", loan="1000000.00"),
                          new("G2", row=3, loan="500000.00", borrower=2))], "r1")
    n = nights_of_repayments(engine, n, REPLAY_LIMIT - 1)     # G1 has REPLAY_LIMIT postings
    kept, derived = states(engine)
    assert kept == derived == [] and guarantee.REPLAY_LIMIT == REPLAY_LIMIT == 4

    n = nights_of_repayments(engine, n, 1)                    # one more
    kept, derived = states(engine)
    assert kept == derived and [(s[1], s[-1]) for s in kept] == [("G1", REPLAY_LIMIT + 1)]
    fetched, replayed = fetched_and_replayed(engine, "G1", "G2")
    assert fetched == replayed and fetched[("M001", "G1")].repaid == D("40000.00")

    loaded = store.load(engine)
    n = Night(n.params, loaded.book, loaded.fund, n.run_date + timedelta(days=1))
    save(engine, n, [post(n, default("G1", "950000.00"), period="2025-10", name="d.xlsx")], "rd")
    loaded = store.load(engine)
    n = Night(n.params, loaded.book, loaded.fund, n.run_date + timedelta(days=1))
    save(engine, n, [post(n, recover("G1", "100000.00"), period="2025-11", name="c.xlsx")], "rc")
    kept, derived = states(engine)
    assert kept == derived and kept[0][1] == "G1"
    fetched, replayed = fetched_and_replayed(engine, "G1", "G2")
    assert fetched == replayed
    g1 = fetched[("M001", "G1")]
    assert g1.defaulted == D("950000.00") and g1.bore[Party.FUND] == D("142500.00")
    assert g1.recovered == D("100000.00") and sum(g1.recovered_by.values()) == D("100000.00")
    assert store.load(engine).book.guarantee("M001", "G1") is not None


def test_a_correction_rejected_whole_leaves_a_kept_state_as_its_postings_make_it(tmp_path):
    """A correction that withdraws a kept guarantee's filing and is then rejected whole is undone
    in the night's own (ledger-backed) book, which then writes the guarantee back, as a night
    does: its state still counts only its stored postings."""
    engine = store.open_engine(f"sqlite:///{tmp_path / 'ledger.db'}")
    n = night()
    save(engine, n, [post(n, new("G1", loan="1000000.00"))], "r1")
    n = nights_of_repayments(engine, n, REPLAY_LIMIT + 1)
    before = states(engine)[0]
    loaded = store.load(engine)
    n = Night(n.params, loaded.book, loaded.fund, n.run_date + timedelta(days=1))
    refused = post(n, repay("G9", "1.00"), period="2024-02", kind="更正", name="fix.xlsx")
    assert refused.status == "rejected" and not refused.reversals
    assert ("M001", "G1") in loaded.book.guarantees.dirty       # withdrawn, then restored
    conn = loaded.stored.conn
    store.post_filing(conn, loaded.stored, loaded.book, refused, "rx")
    store.finish_run(conn, store.RunRecord("rx", n.run_date, datetime(2026, 3, 1, 2),
                                           datetime(2026, 3, 1, 2, 1), (refused,), (), (), ()))
    conn.commit()
    kept, derived = states(engine)
    assert kept == derived == before


def test_postings_stored_past_the_kept_states_are_folded_in_when_the_ledger_is_opened(tmp_path):
    """Postings stored by anything that does not keep the states (an older version of this
    program) are noticed at the next opening and folded into the states once; a ledger whose
    states were never kept (made before them) has them all derived."""
    db = tmp_path / "ledger.db"
    engine = store.open_engine(f"sqlite:///{db}")
    n = night()
    save(engine, n, [post(n, new("G1", loan="1000000.00"))], "r1")
    nights_of_repayments(engine, n, REPLAY_LIMIT + 1)
    with engine.begin() as conn:                  # a repayment posted by an older version
        row = conn.execute(select(tables.postings).where(tables.postings.c.kind == "repay")
                           .order_by(tables.postings.c.id.desc()).limit(1)).mappings().one()
        conn.execute(tables.postings.insert(), [{**row, "id": None, "key": "old:1",
                                                 "principal": 2500000}])
    assert fetched_and_replayed(engine, "G1")[0][("M001", "G1")].repaid == D("50000.00")  # stale
    engine.dispose()
    for _ in range(2):                            # folded in once, not again at the next opening
        again = store.open_engine(f"sqlite:///{db}")
        kept, derived = states(again)
        assert kept == derived
        fetched, replayed = fetched_and_replayed(again, "G1")
        assert fetched == replayed and fetched[("M001", "G1")].repaid == D("75000.00")
        again.dispose()

    with store.open_engine(f"sqlite:///{db}").begin() as conn:     # as before states were kept
        conn.execute(tables.guarantee_states.delete())
        conn.execute(tables.guarantees_kept.delete())
    again = store.open_engine(f"sqlite:///{db}")
    kept, derived = states(again)
    assert kept == derived and len(kept) == 1


def test_a_state_written_ahead_of_the_mark_is_not_folded_again(tmp_path):
    """States written back without the run's mark following (as a tool storing postings through
    the Book might leave them) already include postings past the mark: catching up skips those,
    so the repayment is counted once."""
    db = tmp_path / "ledger.db"
    engine = store.open_engine(f"sqlite:///{db}")
    n = night()
    save(engine, n, [post(n, new("G1", loan="1000000.00"))], "r1")
    n = nights_of_repayments(engine, n, REPLAY_LIMIT + 1)
    loaded = store.load(engine)
    n = Night(n.params, loaded.book, loaded.fund, n.run_date + timedelta(days=1))
    paid = post(n, repay("G1", "30000.00"), period="2023-01", name="ahead.xlsx")
    conn = loaded.stored.conn
    store.post_filing(conn, loaded.stored, loaded.book, paid, "ahead")     # no finish_run
    conn.commit()
    engine.dispose()
    again = store.open_engine(f"sqlite:///{db}")
    kept, derived = states(again)
    assert kept == derived
    assert fetched_and_replayed(again, "G1")[0][("M001", "G1")].repaid == D("80000.00")


POSTINGS = text("SELECT " + ", ".join(f'"{n}"' for n in codec.POSTING_FIELDS)
                + " FROM postings ORDER BY id")


def _named_details(db) -> int:
    """Every registration's JSON rewritten as ledgers before session 7 stored it."""
    from test_properties import detail_named
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT id, detail, file, sheet, row, guarantee_id FROM postings "
                            "WHERE detail IS NOT NULL").fetchall()
        conn.executemany("UPDATE postings SET detail = ? WHERE id = ?", [
            (detail_named(codec.detail_from(text, Where(file, sheet, row), gid)), pid)
            for pid, text, file, sheet, row, gid in rows])
    return len(rows)


@pytest.mark.parametrize("replay_limit", [REPLAY_LIMIT, 0])
def test_registrations_stored_named_before_session_7_give_the_same_night(
        tmp_path, monkeypatch, replay_limit):
    """A ledger whose registrations are stored the older way (a named JSON object, location and
    业务编号 inside) runs the same night as one storing them as arrays, whether its guarantees
    are replayed from their postings or read from their kept states: the same outputs, the same
    balances, the same postings but for the seeded registrations' text, which read back alike."""
    from test_crash import snapshot
    from test_parallel import generated_home, run
    monkeypatch.setattr(guarantee, "REPLAY_LIMIT", replay_limit)
    home = generated_home(tmp_path / "gen" / "home")
    arrays, named = tmp_path / "arrays", tmp_path / "named"
    shutil.copytree(home, arrays)
    shutil.copytree(home, named)
    assert _named_details(named / "ledger.db") > 1000
    assert run(arrays, 0).totals == run(named, 0).totals
    ours, theirs = snapshot(arrays), snapshot(named)
    old_rows = [dict(r) for r in theirs["ledger"].pop("postings")]
    new_rows = [dict(r) for r in ours["ledger"].pop("postings")]
    assert ours == theirs and balances(arrays / "ledger.db") == balances(named / "ledger.db")
    assert [{**r, "detail": None} for r in old_rows] == [{**r, "detail": None} for r in new_rows]
    assert sum(r["detail"] != s["detail"] for r, s in zip(old_rows, new_rows)) > 1000
    with create_engine(f"sqlite:///{named / 'ledger.db'}").connect() as conn:
        assert guaranteedb.kept(conn) == guaranteedb.derive(conn)
        assert ([codec.posting_from(r) for r in conn.execute(POSTINGS)]
                == [codec.posting_from(r) for r in create_engine(
                    f"sqlite:///{arrays / 'ledger.db'}").connect().execute(POSTINGS)])


def test_a_registration_stored_with_other_fields_is_refused_by_name():
    """A ledger written by a later version, whose registrations carry more fields, stops the
    night with the posting named, instead of reading values into the wrong fields."""
    stored = codec.detail_json(new("G1"))[:-1] + ',"新字段"]'
    with pytest.raises(ValueError, match=r"业务编号 G1（M001\.xlsx 工作表「新增业务」 第5行）"
                                         r"的登记信息有 18 个字段，应为 17 个"):
        codec.detail_from(stored, Where("M001.xlsx", "新增业务", 5), "G1")
