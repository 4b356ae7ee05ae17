"""The SQLite ledger's upkeep outside a night: an online backup, and a one-time compaction.

Both work on the file itself through the sqlite3 driver (the ledger's tables are not involved):
a backup is SQLite's own page-by-page copy, a compaction its VACUUM.
"""
from __future__ import annotations

import sqlite3
from pathlib import Path

from .home import Home
from .lock import HomeLock
from .store import PAGE_BYTES

BUSY_SECONDS = 30     # for a backup still reading the file


def sqlite_file(home: Home, command: str) -> Path:
    """The ledger's file; a server database has its own tools for this."""
    url = home.ledger
    if not url.startswith("sqlite:///"):
        raise SystemExit(f"{command} 仅适用于 SQLite 台账；服务器数据库请用其自带的工具"
                         "（如 pg_dump、VACUUM）")
    return Path(url.removeprefix("sqlite:///"))


def backup_ledger(home: Home, target: Path) -> Path:
    """SQLite's online backup: a consistent copy even while a run writes (WAL mode)."""
    source = sqlite3.connect(sqlite_file(home, "backup"))
    dest = sqlite3.connect(target)
    try:
        with dest:
            source.backup(dest)
    finally:
        dest.close()
        source.close()
    return target


def compact_ledger(home: Home) -> tuple[int, int]:
    """The ledger rewritten whole in the page size a new ledger gets (``store.PAGE_BYTES``) and
    without free pages; the page sizes before and after. Once after an upgrade: a ledger
    written in 4 KiB pages runs every night slower. Under the home's lock, so no run writes
    meanwhile; VACUUM is one transaction, so a crash in it leaves the ledger as it was. SQLite
    changes a page size only outside WAL mode: the ledger leaves it for the VACUUM and returns
    to it after, whether the VACUUM succeeded or not."""
    path = sqlite_file(home, "compact")
    if not path.exists():
        raise SystemExit(f"找不到台账文件 {path}")
    with HomeLock(home.root):
        conn = sqlite3.connect(path, isolation_level=None, timeout=BUSY_SECONDS)
        try:
            before = conn.execute("PRAGMA page_size").fetchone()[0]
            if conn.execute("PRAGMA journal_mode=DELETE").fetchone()[0] != "delete":
                raise sqlite3.OperationalError("database is locked")
            try:
                conn.execute(f"PRAGMA page_size={PAGE_BYTES}")
                conn.execute("VACUUM")
            finally:
                conn.execute("PRAGMA journal_mode=WAL")
            after = conn.execute("PRAGMA page_size").fetchone()[0]
        except sqlite3.OperationalError as error:
            raise SystemExit(_not_done(error)) from None
        finally:
            conn.close()
    return before, after


def _not_done(error: sqlite3.OperationalError) -> str:
    if "locked" in str(error) or "busy" in str(error):
        return "台账正被其他程序打开（如正在进行的 backup），未整理，台账保持原样；请稍后再试"
    return f"台账整理未完成，台账保持原样：{error}（常见原因：磁盘空间不足，需约两倍台账大小）"
