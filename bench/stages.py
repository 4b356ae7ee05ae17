"""Where the main process's CPU goes in a night, stage by stage.

`python bench/stages.py --load c` (the load's home must exist: `bench/run.py` builds it).

A night runs on a fresh copy of the load's home, as `bench/run.py` runs it, with each stage of
the main thread wrapped in a clock of that thread's own CPU time. A profiler that samples the
main thread (pyinstrument) charges to a SQL call the time another thread of the process held
the interpreter meanwhile (the executor's thread unpickling a filing from the worker; see
bench/README.md, Profile); a thread's CPU clock does not. What the main thread's stages do not
account for is printed as the rest: the start, the commit and its checkpoint, and the other
threads of the main process. With `--workers 0` the whole night runs in the main thread, so
the reading and the receipts are split out too.

Stages are nested as printed; a stage's time includes the stages under it.
"""
from __future__ import annotations

import argparse
import resource
import shutil
import sys
import time
from datetime import date, datetime
from functools import wraps
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from batch import behind, ledgerdb, pipeline, store, work  # noqa: E402
from batch.home import Home  # noqa: E402
from bench.run import CACHE, fresh_copy  # noqa: E402

# (module or class, attribute, label, depth): each function replaced where its caller looks it
# up (the module that imported it by name).
STAGES = (
    (pipeline, "take_all", "the filings (take_all)", 0),
    (pipeline, "read_incoming", "reading and the ledger-free checks", 1),
    (work, "read_filing", "reading", 2),
    (work, "precheck", "ledger-free checks and figures of new loans", 2),
    (pipeline, "take", "checks against the ledger and posting (process_filing)", 1),
    (ledgerdb.StoredBook, "prefetch", "fetching what a chunk touches (prefetch)", 2),
    (ledgerdb.StoredBook, "_guarantees", "guarantees", 3),
    (ledgerdb.StoredBook, "posting_rows", "their postings (SQL)", 4),
    (ledgerdb.StoredBook, "_borrowers", "borrowers", 3),
    (ledgerdb.StoredBook, "_contracts", "contracts", 3),
    (pipeline, "_detail_lines", "明细 lines", 1),
    (store, "bulk_insert", "inserting postings (bulk_insert)", 1),
    (ledgerdb.StoredBook, "write_back", "balances written back (write_back)", 1),
    (behind, "write_filing", "receipts and 明细 rows", 1),
    (work, "write_receipt", "receipts", 2),
    (pipeline, "assemble", "night sums, open book (assemble)", 0),
    (pipeline, "publish", "reconciliation, fund statement, run.json (publish)", 0),
)


def clocked(seconds: dict[str, float]) -> None:
    """Wrap every stage so its thread's CPU time adds up under its label."""
    for owner, name, label, _depth in STAGES:
        original = getattr(owner, name)

        @wraps(original)
        def timed(*args, _original=original, _label=label, **kwargs):
            started = time.thread_time()
            try:
                return _original(*args, **kwargs)
            finally:
                seconds[_label] += time.thread_time() - started

        setattr(owner, name, timed)
        if not isinstance(owner, type):
            # also in the module that defines it: a function sent to a worker process is
            # pickled by its name there, and must be this very object
            setattr(sys.modules[original.__module__], name, timed)
        seconds[label] = 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--load", default="a", choices=("a", "b", "c"))
    parser.add_argument("--workers", type=int, default=None,
                        help="worker processes (default: the batch decides; 0: all here)")
    args = parser.parse_args()
    cached = CACHE / args.load
    if not (cached / "manifest.json").exists():
        sys.exit(f"no home for load {args.load}: run `python bench/run.py --load {args.load}`")
    home = fresh_copy(cached, CACHE / "work" / f"stages-{args.load}")
    seconds: dict[str, float] = {}
    clocked(seconds)
    wall, cpu = time.perf_counter(), time.process_time()
    pipeline.run_once(Home(home), date(2026, 3, 31), clock=datetime.now,
                      options=pipeline.Options(settle_seconds=0, workers=args.workers))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    shutil.rmtree(home, ignore_errors=True)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(f"load {args.load}: wall {wall:.1f} s; CPU: main process {cpu:.1f} s, worker "
          f"processes {children.ru_utime + children.ru_stime:.1f} s")
    print(f"{'stage of the main thread':60} {'CPU s':>7}")
    for _owner, _name, label, depth in STAGES:
        if seconds[label]:
            print(f"{'  ' * depth + label:60} {seconds[label]:7.2f}")
    top = sum(seconds[label] for *_, label, depth in STAGES if depth == 0)
    print(f"{'the rest of the main process (start, commit, other threads)':60} {cpu - top:7.2f}")


if __name__ == "__main__":
    main()
