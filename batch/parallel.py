"""Reading filings on every core, handing them back in filing order.

``read_filing`` is pure (a path in, a Filing out), so worker processes can parse and
cell-validate the next filings while the main process posts the current one; the ledger still
sees the filings one by one, in inbox order, so a night's results are those of a serial run.
At most ``window`` parsed filings wait at any time: memory does not grow with the inbox.

Each worker is a pool of one process, and a filing's outputs are written by the worker that read
it (``in_order`` says which): it keeps the filed cells, so they cross between processes once.

Workers are *spawned* (not forked), so they inherit neither the home's lock nor the ledger's
connection, and each asks the kernel to end it with the main process, so a killed run leaves no
worker behind holding the terminal's pipes. The garbage collector runs less often in every
process of a night (``NIGHT_GC``).
"""
from __future__ import annotations

import ctypes
import gc
import multiprocessing
import os
import pickle
import signal
import uuid
from collections import deque
from contextlib import contextmanager
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Callable, Iterable, Iterator, TypeVar

T = TypeVar("T")
R = TypeVar("R")
PARALLEL_FROM_BYTES = 2 << 20       # below ~2 MB of filings a night is faster on one core
PR_SET_PDEATHSIG = 1


# A night makes millions of short-lived objects and keeps few: collecting the young generation
# every 700 allocations (Python's default) made the collector rescan the growing heap often
# enough to cost ~15 % of a night (measured on load a of bench/). Cycles are still collected.
NIGHT_GC = (50_000, 20, 10)


@contextmanager
def relaxed_gc() -> Iterator[None]:
    """The night's collector thresholds here, the old ones back after (``serve`` runs on)."""
    before = gc.get_threshold()
    gc.set_threshold(*NIGHT_GC)
    try:
        yield
    finally:
        gc.set_threshold(*before)


def _worker_start() -> None:
    """Linux: SIGKILL this worker when the process that spawned it dies (kill -9 included)."""
    gc.set_threshold(*NIGHT_GC)
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass
    signal.signal(signal.SIGINT, signal.SIG_IGN)     # the main process decides when to stop


def worker_count(total_bytes: int, files: int, wanted: int | None) -> int:
    """``wanted`` if given, else, for a night big enough to gain from it, one worker per core
    but the main process's own (measured on 2 cores, a provincial night: 1 worker 16.2–16.3 s,
    2 workers 16.0–16.4 s and 70 MB more; the main process, posting in order, is the critical
    path)."""
    if wanted is not None:
        return max(wanted, 0)
    if files < 2 or total_bytes < PARALLEL_FROM_BYTES:
        return 0
    return max((os.cpu_count() or 1) - 1, 1)


_RECEIVED: dict[str, object] = {}        # in a worker: the shared values of its night


def _received(token: str, blob: bytes) -> object:
    if token not in _RECEIVED:
        _RECEIVED.clear()                                 # a worker serves one night
        _RECEIVED[token] = pickle.loads(blob)
    return _RECEIVED[token]


class _Shared:
    """Pickles as its value's bytes, made once, and a token; unpickles as the value itself."""

    def __init__(self, value: object) -> None:
        self.value, self.token, self.blob = value, uuid.uuid4().hex, b""

    def __reduce__(self):
        if not self.blob:
            self.blob = pickle.dumps(self.value, pickle.HIGHEST_PROTOCOL)
        return _received, (self.token, self.blob)


class Workers:
    """Worker processes (none: everything runs here, at once) for reading filings ahead, in
    order, and for writing their outputs behind; ``close`` waits for what is still running."""

    def __init__(self, count: int) -> None:
        spawn = multiprocessing.get_context("spawn")
        self.pools = [ProcessPoolExecutor(1, mp_context=spawn, initializer=_worker_start)
                      for _ in range(max(count, 0))]
        self.window = 2 * len(self.pools) + 1

    @property
    def parallel(self) -> bool:
        return bool(self.pools)

    def share(self, value: T) -> T:
        """``value`` as every task's arguments should carry it: to the workers, pickled once
        here and unpickled once in each worker (a night's reference data sent with each of
        104 filings cost ~4 ms a filing both ways); here, itself."""
        return _Shared(value) if self.pools else value    # type: ignore[return-value]

    def submit(self, worker: int, work: Callable[..., R], *args, **kwargs) -> Future:
        """``work`` in the given worker (the one ``in_order`` named for a filing), or here."""
        if self.pools:
            return self.pools[worker].submit(work, *args, **kwargs)
        done: Future = Future()
        try:
            done.set_result(work(*args, **kwargs))
        except Exception as error:                # re-raised by .result(), as from a worker
            done.set_exception(error)
        return done

    def in_order(self, items: Iterable[T], work: Callable[[T], R]
                 ) -> Iterator[tuple[T, R, int]]:
        """``(item, work(item), worker)`` in the order of ``items``, at most ``window`` computed
        ahead; the workers take the items in turn."""
        if not self.pools:
            for item in items:
                yield item, work(item), 0
            return
        pending: deque[tuple[T, Future, int]] = deque()
        numbered = enumerate(items)

        def send(n: int, item: T) -> None:
            worker = n % len(self.pools)
            pending.append((item, self.pools[worker].submit(work, item), worker))

        for n, item in numbered:
            send(n, item)
            if len(pending) >= self.window:
                break
        while pending:
            item, future, worker = pending.popleft()
            result = future.result()
            for n, following in numbered:
                send(n, following)
                break
            yield item, result, worker

    def close(self) -> None:
        for pool in self.pools:
            pool.shutdown(wait=True, cancel_futures=True)
