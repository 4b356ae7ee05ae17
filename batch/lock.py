"""One run per home at a time: an exclusive lock on <home>/.reguarantee.lock.

The kernel releases the lock when the process dies, even by kill -9, so a crash never leaves a
stale lock behind; the file only tells who holds it.
"""
from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path

LOCK_NAME = ".reguarantee.lock"


class Busy(Exception):
    """Another process is running on this home."""


class HomeLock:
    def __init__(self, root: Path, wait_seconds: float = 0.0):
        self.path = root / LOCK_NAME
        self.wait_seconds = wait_seconds
        self._fd: int | None = None

    def __enter__(self) -> "HomeLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + self.wait_seconds
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    raise Busy(f"另一个运行正在处理此工作目录（{holder(self.path.parent) or '未知进程'}），"
                               "请等它结束后再试") from None
                time.sleep(0.2)
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()} since {time.strftime('%Y-%m-%d %H:%M:%S')}\n".encode())
        self._fd = fd
        return self

    def __exit__(self, *_exc) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def holder(root: Path) -> str:
    """Who holds the lock now, or "" when nobody does."""
    path = root / LOCK_NAME
    if not path.exists():
        return ""
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return path.read_text().strip() or "pid ?"
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return ""
    finally:
        os.close(fd)
