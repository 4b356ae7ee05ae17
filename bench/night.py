"""One night on a home, as `reguarantee run` does it, with the reader processes chosen here."""
from __future__ import annotations

import sys
from datetime import date, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(home: str, workers: str = "") -> int:
    # Imported here, as the CLI does: spawned workers import this script again.
    from batch import pipeline
    from batch.home import Home
    options = pipeline.Options(settle_seconds=0, workers=int(workers) if workers else None)
    result = pipeline.run_once(Home(Path(home)), date(2026, 3, 31), clock=datetime.now,
                               options=options)
    print(len(getattr(result, "filings", ())))
    return result.exit_code


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
