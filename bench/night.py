"""One night on a home, as `reguarantee run` does it, with the reader processes chosen here.

Prints the filings taken, then the CPU seconds of this (the main) process and of its worker
processes: which of the two is a night's critical path."""
from __future__ import annotations

import resource
import sys
import time
from datetime import date, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(home: str, workers: str = "") -> int:
    # Imported here, as the CLI does: spawned workers import this script again.
    from batch import pipeline
    from batch.home import Home
    options = pipeline.Options(settle_seconds=0, workers=int(workers) if workers else None)
    started = time.process_time()
    result = pipeline.run_once(Home(Path(home)), date(2026, 3, 31), clock=datetime.now,
                               options=options)
    workers_cpu = resource.getrusage(resource.RUSAGE_CHILDREN)    # they ended with the night
    print(len(getattr(result, "filings", ())), round(time.process_time() - started, 2),
          round(workers_cpu.ru_utime + workers_cpu.ru_stime, 2))
    return result.exit_code


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
