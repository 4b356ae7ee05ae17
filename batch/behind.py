"""What the workers write behind the ledger, as the main process hands it out: each filing's
receipt and its 明细 rows, in filing order.

Kept apart from ``pipeline`` so the chaining of a night's stages reads on its own; this is only
the bookkeeping of the writes in flight (where each 明细 row lands, which worker writes it).
"""
from __future__ import annotations

from collections import deque
from datetime import date
from pathlib import Path
from typing import Callable

from .outcome import FilingOutcome
from .parallel import Workers
from .reports.reconciliation import SHEET_ROWS
from .work import write_filing

DETAIL_PARTS = ".明细"             # rows of the reconciliation's 明细, rendered during the night


class Writes:
    """Receipts and 明细 rows being written behind the ledger, in filing order: at most a few
    at a time, so memory stays flat; each finished one passes the run's kill point."""

    def __init__(self, folder: Path, run_id: str, run_date: date, fault: Callable[[str], None],
                 workers: Workers) -> None:
        self.folder, self.run_id, self.run_date, self.fault = folder, run_id, run_date, fault
        self.workers = workers
        self.window = workers.window if workers.parallel else 0
        self.pending: deque = deque()
        self.lines = 0                                      # 明细 lines given out so far
        self.files = 0                                      # 明细 part files named so far
        self.parts: list[tuple[int, Path, int, dict]] = []

    def submit(self, f: FilingOutcome | None, lines: list, worker: int,
               known: dict | None = None) -> None:
        """Write ``f``'s receipt and 明细 ``lines`` in ``worker``, the process that read it
        (``f`` None: only lines, a big filing's chunk stored before the filing ends)."""
        if f is not None:
            (self.folder / f.receipt).parent.mkdir(parents=True, exist_ok=True)
        parts = []
        for sheet_no, first_row, chunk in self._split(lines):
            self.files += 1
            path = self.folder / DETAIL_PARTS / f"{self.files:06d}.part"     # deflated XML
            path.parent.mkdir(exist_ok=True)
            parts.append((sheet_no, path, first_row, chunk))
        payload = (None if f is None else
                   f.for_receipt(known) if self.workers.parallel else (f, None))   # light to send
        future = self.workers.submit(worker, write_filing, self.folder, payload,
                                     self.run_id, self.run_date,
                                     [(p, first, chunk) for _n, p, first, chunk in parts])
        self.pending.append((f and f.receipt, future, parts))
        while len(self.pending) > self.window:
            self._collect()

    def _split(self, lines: list):
        """Lines to (sheet number, first row, lines) so no 明细 sheet passes Excel's last row."""
        while lines:
            sheet_no, index = divmod(self.lines, SHEET_ROWS)
            room = SHEET_ROWS - index
            yield sheet_no + 1, index + 1, lines[:room]
            self.lines += min(room, len(lines))
            lines = lines[room:]

    def _collect(self) -> None:
        receipt, future, parts = self.pending.popleft()
        widths = future.result()
        for (sheet_no, path, first_row, chunk), w in zip(parts, widths):
            self.parts.append((sheet_no, path, first_row + len(chunk) - 1, w))
        if receipt is not None:
            self.fault(f"receipt {receipt}")

    def drain(self) -> None:
        while self.pending:
            self._collect()
