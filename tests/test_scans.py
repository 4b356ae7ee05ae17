"""A night reads the ledger by key: no statement it runs scans a table that grows with the
ledger, so a night's time follows the rows it touches, not the years of history behind them.

Every statement a night sends to SQLite (through SQLAlchemy or straight through the driver) is
recorded, then asked for its query plan on the ledger the night left. A full scan is allowed only
of the tables whose size does not follow the ledger's history (``BOUNDED``).
"""
from __future__ import annotations

import re
import shutil
import sqlite3
from datetime import date, datetime
from pathlib import Path

from sqlalchemy import event

from batch import guarantee, pipeline, store, tables
from batch.home import Home
from test_parallel import generated_home, template  # noqa: F401 -- template: built once a module

# Tables a night may read whole, and why their size does not follow the ledger's history.
BOUNDED = {
    "position_totals": "the open book: a row per member, bank, product and city",
    "fund_days": "the fund's net movement: a row per day that had one",
    "pending_claims": "the 待补偿 queue: claims still waiting for money",
}
TEMPORARY = {"night_groups"}     # tonight's postings summed per group (store.night_sums)


def traced_night(root: Path, monkeypatch) -> dict[str, str]:
    """Run a night on ``root``; every distinct statement (its literals masked) -> one example."""
    seen: dict[str, str] = {}
    opened = store.open_engine

    def open_engine(url: str):
        engine = opened(url)

        @event.listens_for(engine, "checkout")
        def trace(dbapi_connection, _record, _proxy) -> None:
            def record(sql: str) -> None:
                shape = " ".join(re.sub(r"'[^']*'|\b\d+\b", "?", sql).split())
                seen.setdefault(re.sub(r"\?(, \?)+", "?...", shape), sql)
            dbapi_connection.set_trace_callback(record)
        return engine

    monkeypatch.setattr(store, "open_engine", open_engine)
    (root / "outbox" / ".20990101-000000.partial").mkdir(parents=True)   # a crashed run's rest
    outcome = pipeline.run_once(Home(root), date(2026, 3, 31),
                                clock=lambda: datetime(2027, 1, 1, 2),
                                options=pipeline.Options(settle_seconds=0, workers=0))
    assert outcome.fund_moves and outcome.pending_claims == ()     # the fund paid claims tonight
    return seen


def scanned(ledger: Path, statements: dict[str, str]) -> dict[str, list[str]]:
    """Ledger table -> the statements whose plan scans it whole."""
    found: dict[str, list[str]] = {}
    db = sqlite3.connect(ledger)
    for shape, sql in statements.items():
        if not re.match(r"(SELECT|INSERT|UPDATE|DELETE|WITH|CREATE TEMPORARY)\b", sql, re.I):
            continue                                   # PRAGMA, BEGIN, COMMIT, DDL
        try:
            plan = db.execute("EXPLAIN QUERY PLAN " + sql).fetchall()
        except sqlite3.OperationalError as error:
            assert str(error) in {f"no such table: {t}" for t in TEMPORARY}, (shape, error)
            continue
        for *_ids, detail in plan:
            match = re.match(r"SCAN (?:TABLE )?(\w+)", detail)     # SQLite < 3.36 says TABLE
            if match and match.group(1) in tables.meta.tables:
                found.setdefault(match.group(1), []).append(shape)
    db.close()
    return found


def test_a_night_scans_no_table_that_grows_with_the_ledger(template, tmp_path,  # noqa: F811
                                                           monkeypatch):
    root = tmp_path / "home"
    shutil.copytree(template, root)
    statements = traced_night(root, monkeypatch)
    reads = [s for s in statements if s.startswith("SELECT")]
    assert any("FROM postings" in s for s in reads)          # the trace saw the driver's reads
    assert any("FROM fund_days" in s for s in reads) and any("runs.run_id IN" in s for s in reads)
    whole = scanned(root / "ledger.db", statements)
    assert set(whole) <= set(BOUNDED), {t: whole[t] for t in set(whole) - set(BOUNDED)}
    assert "position_totals" in whole                        # the check can see a scan


def test_nor_does_one_that_reads_and_writes_kept_guarantee_states(tmp_path, monkeypatch):
    """The same with every guarantee's state kept (REPLAY_LIMIT 0, the home seeded so): the
    states a night reads and writes back, and the registrations' details it fetches for them,
    are all found by key."""
    monkeypatch.setattr(guarantee, "REPLAY_LIMIT", 0)
    root = generated_home(tmp_path / "home")
    statements = traced_night(root, monkeypatch)
    assert any("FROM guarantee_states" in s for s in statements)
    assert any('INTO "guarantee_states"' in s for s in statements)
    assert any('FROM postings WHERE "key" IN' in s for s in statements)
    whole = scanned(root / "ledger.db", statements)
    assert set(whole) <= set(BOUNDED), {t: whole[t] for t in set(whole) - set(BOUNDED)}
