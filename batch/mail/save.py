"""Putting one attachment into inbox/<member id>/ so that a crash at any point is harmless.

Order: bytes to a hidden temporary name in the same folder, fsync, journal record, rename, fsync
the folder. The inbox scan skips hidden names, so a half-written file is never taken; the journal
knows the sender before the file becomes visible, so its receipt can always find the way back.
The name is fixed per (message, part): fetching the same message again finds its own copy (same
bytes: nothing to do) instead of making a second one; a different file under that name is never
overwritten, the new one gets a numbered name.
"""
from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass
from pathlib import Path

from ..intake import fsync_dir, sha256_of
from .journal import Journal, Saved
from .message import Attachment, MailIn
from .names import tagged_name

MAX_NUMBERED = 1000
SETTLED_AGE_SECONDS = 3600


@dataclass(frozen=True, slots=True)
class SavedFile:
    name: str                 # relative to the inbox, "M001/三月报送_1a2b3c4d.xlsx"
    original: str             # as the sender named it
    sha256: str
    sender: str
    member_id: str
    message_id: str
    already_there: bool       # a re-fetch found its own earlier copy


def _place(folder: Path, name: str, data: bytes, digest: str) -> tuple[Path, bool]:
    """Where these bytes go: the fixed name, or the same name numbered; True if already there."""
    stem, dot, suffix = name.rpartition(".")
    for n in range(MAX_NUMBERED):
        candidate = folder / (name if n == 0 else f"{stem}({n}){dot}{suffix}")
        if not candidate.exists():
            return candidate, False
        if candidate.stat().st_size == len(data) and sha256_of(candidate) == digest:
            return candidate, True
    raise OSError(f"{folder} 中同名文件过多：{name}")


def _write_hidden(target: Path, data: bytes) -> Path:
    temporary = target.with_name(f".{target.name}.part")
    with temporary.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    return temporary





def _backdate(path: Path, sent: float | None) -> None:
    """Date the file an hour before the message was sent: the inbox's settle check (meant for
    files still being copied in) then takes it at once, since it was complete when it appeared,
    and the night's filings are taken in the order the members sent them."""
    now = time.time()
    stamp = min(sent or now, now) - SETTLED_AGE_SECONDS
    os.utime(path, (stamp, stamp))


def save_attachment(inbox: Path, journal: Journal, mail: MailIn, attachment: Attachment,
                    member_id: str) -> SavedFile:
    """Save one workbook of an accepted message; raises OSError when the disk says no."""
    folder = inbox / member_id
    folder.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256(attachment.data).hexdigest()
    target, already_there = _place(folder, tagged_name(attachment.name, mail.key, attachment.part),
                                   attachment.data, digest)
    name = f"{member_id}/{target.name}"
    record = Saved(mail.key, attachment.part, name, attachment.name, digest, mail.sender,
                   member_id, mail.message_id, mail.subject)
    if already_there:
        journal.record(record)
    else:
        temporary = _write_hidden(target, attachment.data)
        journal.record(record)
        _backdate(temporary, mail.sent)
        os.replace(temporary, target)
        fsync_dir(folder)
    return SavedFile(name, attachment.name, digest, mail.sender, member_id, mail.message_id,
                     already_there)
