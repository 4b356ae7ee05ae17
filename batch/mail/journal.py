"""The mail state under <home>/mail/mail.db: which attachment came from whom, and what waits to be
sent.

Two small tables in one SQLite file, separate from the ledger on purpose: mail is an optional way
in and out, and losing this file loses no business data (only who to e-mail a receipt to).

- ``saved``: one row per (message, part) saved into the inbox: inbox-relative name, sha256, sender,
  Message-ID, and the run whose receipt answered it. Receipts find their sender by sha256, because
  the run moves and may rename the file.
- ``outgoing``: every message we mean to send, as the exact bytes, until the server takes it. A
  unique key (the receipt or the refused message) keeps one thing from being queued twice.
"""
from __future__ import annotations

import sqlite3
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

QUEUED, SENT, FAILED = "queued", "sent", "failed"

SCHEMA = """
CREATE TABLE IF NOT EXISTS saved (
    message_key TEXT NOT NULL, part INTEGER NOT NULL, name TEXT NOT NULL, original TEXT NOT NULL,
    sha256 TEXT NOT NULL, sender TEXT NOT NULL, member_id TEXT NOT NULL, message_id TEXT NOT NULL,
    subject TEXT NOT NULL, saved_at TEXT NOT NULL, answered_run TEXT,
    PRIMARY KEY (message_key, part));
CREATE INDEX IF NOT EXISTS saved_sha ON saved (sha256);
CREATE TABLE IF NOT EXISTS outgoing (
    id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE, recipient TEXT NOT NULL,
    subject TEXT NOT NULL, message BLOB NOT NULL, state TEXT NOT NULL, queued_at TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT NOT NULL DEFAULT '', sent_at TEXT);
CREATE INDEX IF NOT EXISTS outgoing_state ON outgoing (state, id);
"""


@dataclass(frozen=True, slots=True)
class Saved:
    message_key: str
    part: int
    name: str                 # relative to the inbox: "M001/三月报送_1a2b3c4d.xlsx"
    original: str             # the attachment's name as sent
    sha256: str
    sender: str
    member_id: str
    message_id: str
    subject: str


@dataclass(frozen=True, slots=True)
class Outgoing:
    id: int
    key: str
    recipient: str
    subject: str
    message: bytes
    attempts: int


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class Journal:
    """A short-lived handle: every method is its own transaction, so a crash loses at most the
    step in progress."""

    def __init__(self, home_root: Path):
        self.path = home_root / "mail" / "mail.db"

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with closing(sqlite3.connect(self.path, timeout=30)) as db:
            db.executescript(SCHEMA)
            with db:
                yield db

    def record(self, saved: Saved) -> None:
        """Remember a saved attachment; a message fetched again keeps its first record."""
        with self._db() as db:
            db.execute("INSERT OR IGNORE INTO saved VALUES (?,?,?,?,?,?,?,?,?,?,NULL)",
                       (saved.message_key, saved.part, saved.name, saved.original, saved.sha256,
                        saved.sender, saved.member_id, saved.message_id, saved.subject, _now()))

    def unanswered(self, sha256: str, name: str) -> Saved | None:
        """The oldest attachment with these bytes whose sender has no receipt yet, the one saved
        under this inbox name first."""
        with self._db() as db:
            row = db.execute(
                "SELECT message_key, part, name, original, sha256, sender, member_id, message_id,"
                " subject FROM saved WHERE sha256 = ? AND answered_run IS NULL"
                " ORDER BY name != ?, saved_at, rowid LIMIT 1", (sha256, name)).fetchone()
        return Saved(*row) if row else None

    def answered(self, saved: Saved, run_id: str) -> None:
        with self._db() as db:
            db.execute("UPDATE saved SET answered_run = ? WHERE message_key = ? AND part = ?",
                       (run_id, saved.message_key, saved.part))

    def enqueue(self, key: str, recipient: str, subject: str, message: bytes) -> bool:
        """Queue a message once per key; False when that key was queued before."""
        with self._db() as db:
            cursor = db.execute(
                "INSERT OR IGNORE INTO outgoing (key, recipient, subject, message, state, queued_at)"
                " VALUES (?,?,?,?,?,?)", (key, recipient, subject, message, QUEUED, _now()))
            return cursor.rowcount == 1

    def queued(self) -> list[Outgoing]:
        with self._db() as db:
            rows = db.execute("SELECT id, key, recipient, subject, message, attempts FROM outgoing"
                              " WHERE state = ? ORDER BY id", (QUEUED,)).fetchall()
        return [Outgoing(*row) for row in rows]

    def sent(self, item: Outgoing) -> None:
        with self._db() as db:
            db.execute("UPDATE outgoing SET state = ?, sent_at = ?, attempts = attempts + 1,"
                       " message = x'' WHERE id = ?", (SENT, _now(), item.id))

    def attempt_failed(self, item: Outgoing, error: str, permanent: bool) -> None:
        """Count a failed try; a permanent refusal (5xx) is not tried again."""
        with self._db() as db:
            db.execute("UPDATE outgoing SET attempts = attempts + 1, last_error = ?, state = ?"
                       " WHERE id = ?", (error[:500], FAILED if permanent else QUEUED, item.id))
