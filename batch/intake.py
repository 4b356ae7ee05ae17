"""The inbox: which files are ready, who sent them, their fingerprint, and where they end up.

A file still being written (modified within the settle time, an Office lock file, a temporary
name) is left for the next pass. Every file taken ends in exactly one of archive/ or quarantine/,
never overwriting another and never deleted.
"""
from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import dataclass
from datetime import date
from pathlib import Path

ACCEPTED_SUFFIXES = frozenset({".xlsx", ".xlsm", ".xls", ".ods"})
TEMPORARY_SUFFIXES = (".tmp", ".part", ".crdownload", ".download", ".partial", "~")


@dataclass(frozen=True, slots=True)
class Incoming:
    path: Path
    name: str                 # relative to the inbox, with "/" separators: "M001/3月.xlsx"
    sender: str | None        # the member folder it was dropped in; None = staff drop
    sha256: str
    size: int

    @property
    def supported(self) -> bool:
        return self.path.suffix.lower() in ACCEPTED_SUFFIXES


def is_temporary(path: Path) -> bool:
    name = path.name
    return (name.startswith(("~$", ".", ".~lock")) or name.lower().endswith(TEMPORARY_SUFFIXES))


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def scan(inbox: Path, now: float, settle_seconds: float) -> tuple[list[Incoming], list[Path]]:
    """Files ready to take, in a stable order (oldest first), and files still settling."""
    ready, waiting = [], []
    for path in sorted(p for p in inbox.rglob("*") if p.is_file()):
        if is_temporary(path) or any(part.startswith(".") for part in path.relative_to(inbox).parts):
            continue
        stat = path.stat()
        if now - stat.st_mtime < settle_seconds:
            waiting.append(path)
            continue
        relative = path.relative_to(inbox)
        sender = relative.parts[0] if len(relative.parts) > 1 else None
        ready.append((stat.st_mtime_ns, relative.as_posix(),
                      Incoming(path, relative.as_posix(), sender, sha256_of(path), stat.st_size)))
    ready.sort(key=lambda item: (item[0], item[1]))
    return [item[2] for item in ready], waiting


def destination(root: Path, run_date: date, name: str) -> Path:
    """archive|quarantine/<date>/<name>, with a numeric suffix rather than overwrite."""
    target = root / run_date.isoformat() / name
    stem, suffix, n = target.stem, target.suffix, 1
    while target.exists():
        target = target.with_name(f"{stem}({n}){suffix}")
        n += 1
    return target


def move(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(source), str(target))
    fsync_dir(target.parent)


def fsync_dir(folder: Path) -> None:
    """Make a rename durable (the folder entry), where the platform allows it."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
