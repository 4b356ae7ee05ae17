"""Reading filings on every core, handing them back in filing order.

``read_filing`` is pure (a path in, a Filing out), so worker processes can parse and
cell-validate the next filings while the main process posts the current one; the ledger still
sees the filings one by one, in inbox order, so a night's results are those of a serial run.
At most ``window`` parsed filings wait at any time: memory does not grow with the inbox.

Workers are *spawned* (not forked), so they inherit neither the home's lock nor the ledger's
connection, and each asks the kernel to end it with the main process, so a killed run leaves no
worker behind holding the terminal's pipes.
"""
from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Callable, Iterable, Iterator, TypeVar

T = TypeVar("T")
R = TypeVar("R")
PARALLEL_FROM_BYTES = 2 << 20       # below ~2 MB of filings a night is faster on one core
PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """Linux: SIGKILL this worker when the process that spawned it dies (kill -9 included)."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass
    signal.signal(signal.SIGINT, signal.SIG_IGN)     # the main process decides when to stop


def worker_count(total_bytes: int, files: int, wanted: int | None) -> int:
    """``wanted`` if given, else, for a night big enough to gain from it, one worker per core
    but the main process's own (measured on 2 cores: 1 worker 24 s, 2 workers 26 s for a
    provincial night; the main process, posting in order, is the critical path)."""
    if wanted is not None:
        return max(wanted, 0)
    if files < 2 or total_bytes < PARALLEL_FROM_BYTES:
        return 0
    return max((os.cpu_count() or 1) - 1, 1)


class Workers:
    """Worker processes (none: everything runs here, at once) for reading filings ahead, in
    order, and for writing their outputs behind; ``close`` waits for what is still running."""

    def __init__(self, count: int) -> None:
        self.pool = (ProcessPoolExecutor(count, mp_context=multiprocessing.get_context("spawn"),
                                         initializer=_die_with_parent) if count > 0 else None)
        self.window = 2 * count + 1

    def submit(self, work: Callable[..., R], *args, **kwargs) -> Future:
        if self.pool is not None:
            return self.pool.submit(work, *args, **kwargs)
        done: Future = Future()
        try:
            done.set_result(work(*args, **kwargs))
        except Exception as error:                # re-raised by .result(), as from a worker
            done.set_exception(error)
        return done

    def in_order(self, items: Iterable[T], work: Callable[[T], R]) -> Iterator[tuple[T, R]]:
        """``(item, work(item))`` in the order of ``items``, at most ``window`` computed ahead."""
        if self.pool is None:
            for item in items:
                yield item, work(item)
            return
        pending: deque[tuple[T, Future]] = deque()
        source = iter(items)
        for item in source:
            pending.append((item, self.pool.submit(work, item)))
            if len(pending) >= self.window:
                break
        while pending:
            item, future = pending.popleft()
            result = future.result()
            for following in source:
                pending.append((following, self.pool.submit(work, following)))
                break
            yield item, result

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
