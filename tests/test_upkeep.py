"""The ledger's page size: what a new ledger gets, and `reguarantee compact` for an older one."""
from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from batch import pipeline, store, upkeep
from batch.cli import cli
from batch.home import Home
from batch.lock import Busy, HomeLock
from batch.status import status_lines
from test_runner import RUN_DATE, lo_home

OLD_PAGE = 4096


def pragma(path: Path, name: str):
    conn = sqlite3.connect(path)
    try:
        return conn.execute(f"PRAGMA {name}").fetchone()[0]
    finally:
        conn.close()


def every_row(path: Path) -> dict[str, list]:
    conn = sqlite3.connect(path)
    try:
        tables = [t for (t,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {t: sorted(conn.execute(f'SELECT * FROM "{t}"'), key=repr) for t in tables}
    finally:
        conn.close()


def old_ledger(home: Home) -> Path:
    """A ledger file as versions before store.PAGE_BYTES made it: 4 KiB pages, WAL."""
    path = home.root / "ledger.db"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA page_size={OLD_PAGE}")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.close()
    return path


def run_log(home: Home, run) -> str:
    return (home.outbox / run.run_id / "run.log").read_text("utf-8")


def night(home: Home):
    return pipeline.run_once(home, RUN_DATE, options=pipeline.Options(settle_seconds=0))


def test_a_new_ledger_is_written_in_large_pages(tmp_path):
    store.open_engine(f"sqlite:///{tmp_path / 'ledger.db'}").dispose()
    assert pragma(tmp_path / "ledger.db", "page_size") == store.PAGE_BYTES != OLD_PAGE


def test_compact_rewrites_an_old_ledger_keeping_every_row(tmp_path):
    home = lo_home(tmp_path)
    path = old_ledger(home)
    first = night(home)
    assert pragma(path, "page_size") == OLD_PAGE          # opening it did not change it
    assert "reguarantee compact" in "\n".join(status_lines(home))
    assert "reguarantee compact" in run_log(home, first)
    rows = every_row(path)
    assert len(rows["files"]) == 3 and rows["postings"]

    # in this same process: the night and status have let go of the file, as a scheduler
    # waiting for the next night must
    result = CliRunner().invoke(cli, ["--home", str(home.root), "compact"])

    assert result.exit_code == 0, result.output
    assert f"页大小 {OLD_PAGE} → {store.PAGE_BYTES} 字节" in result.output
    assert pragma(path, "page_size") == store.PAGE_BYTES
    assert pragma(path, "journal_mode") == "wal"
    assert pragma(path, "integrity_check") == "ok"
    assert every_row(path) == rows
    assert "compact" not in "\n".join(status_lines(home))
    # the ledger still knows every filing: one filed again is a duplicate
    again = home.root / first.filings[0].destination
    shutil.copy(again, home.inbox / again.name)
    second = night(home)
    assert [f.status for f in second.filings] == ["duplicate"]
    assert "compact" not in run_log(home, second)


def test_compact_waits_for_no_run_and_changes_nothing_meanwhile(tmp_path):
    home = lo_home(tmp_path)
    path = old_ledger(home)
    night(home)
    with HomeLock(home.root), pytest.raises(Busy):
        upkeep.compact_ledger(home)
    assert pragma(path, "page_size") == OLD_PAGE


def test_compact_refuses_a_ledger_another_program_has_open(tmp_path, monkeypatch):
    home = lo_home(tmp_path)
    path = old_ledger(home)
    night(home)
    rows = every_row(path)
    monkeypatch.setattr(upkeep, "BUSY_SECONDS", 0.1)
    reader = sqlite3.connect(path)
    reader.execute("SELECT count(*) FROM postings").fetchone()
    try:
        with pytest.raises(SystemExit, match="台账正被其他程序打开.*台账保持原样"):
            upkeep.compact_ledger(home)
    finally:
        reader.close()
    assert pragma(path, "page_size") == OLD_PAGE
    assert pragma(path, "journal_mode") == "wal"
    assert every_row(path) == rows


class FailingVacuum:
    """A connection whose VACUUM fails as a full disk would make it."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def execute(self, sql: str):
        if sql == "VACUUM":
            raise sqlite3.OperationalError("database or disk is full")
        return self.conn.execute(sql)

    def close(self) -> None:
        self.conn.close()


def test_a_compaction_that_fails_leaves_the_ledger_as_it_was(tmp_path, monkeypatch):
    home = lo_home(tmp_path)
    path = old_ledger(home)
    night(home)
    rows = every_row(path)
    connect = sqlite3.connect
    monkeypatch.setattr(upkeep.sqlite3, "connect", lambda *a, **k: FailingVacuum(connect(*a, **k)))
    with pytest.raises(SystemExit, match="台账保持原样.*disk is full.*磁盘空间"):
        upkeep.compact_ledger(home)
    monkeypatch.undo()
    assert pragma(path, "journal_mode") == "wal"
    assert pragma(path, "page_size") == OLD_PAGE
    assert every_row(path) == rows


def test_compact_and_backup_are_for_sqlite_only(tmp_path):
    home = Home(tmp_path, "postgresql://localhost/ledger")
    with pytest.raises(SystemExit, match="compact 仅适用于 SQLite 台账"):
        upkeep.compact_ledger(home)
    with pytest.raises(SystemExit, match="backup 仅适用于 SQLite 台账"):
        upkeep.backup_ledger(home, tmp_path / "copy.db")
