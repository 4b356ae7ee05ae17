"""How a night grows with the history of the guarantees it touches.

    python bench/depth.py 0 12 24                       # this tree
    python bench/depth.py 0 24 --before /path/to/older/checkout

For each depth K: load (a)'s home (`bench/run.py --load a` builds it), its ledger given K more
postings on every one of its 104,000 guarantees (repayments of 0.01 yuan, each followed by its
reversal, so every balance stays exactly what it was: K = 24 is two years of monthly activity
in count), opened once by this tree's store (which keeps the states it needs), then the same
night as `bench/run.py` runs, timed twice on fresh copies. With ``--before``, the older
checkout's night on the same ledger, alternating with this tree's.
"""
from __future__ import annotations

import argparse
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from batch import store  # noqa: E402
from bench.run import fresh_copy, ours  # noqa: E402

LOAD_A = ROOT / "bench" / ".cache" / "a"
COLUMNS = ("run_id", "filing_sha256", "key", "kind", "member_id", "guarantee_id", "on", "sha256",
           "file", "sheet", "row", "period", "principal", "settled", "claimed", "sign",
           "reverses", "bank_id", "product", "city", "bank", "member", "reguarantor", "fund",
           "local", "fee", "interest", "gross")


def deepen(home: Path, depth: int) -> None:
    """``depth`` postings more on every registered guarantee, netting to nothing."""
    conn = sqlite3.connect(home / "ledger.db", isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("BEGIN")
    registered = conn.execute("SELECT member_id, guarantee_id, bank_id, product, city FROM "
                              "postings WHERE kind = 'register' ORDER BY id").fetchall()
    sql = (f"INSERT INTO postings ({', '.join(f'{chr(34)}{c}{chr(34)}' for c in COLUMNS)}) "
           f"VALUES ({', '.join('?' * len(COLUMNS))})")
    for k in range(depth):
        on = f"{2024 + k // 12}-{k % 12 + 1:02d}-15"
        sign = 1 if k % 2 == 0 else -1
        conn.executemany(sql, [
            ("depth", "depth", f"depth:{m}:{g}:{k}", "repay", m, g, on, "depth", "depth.xlsx",
             "还款解保", k + 2, on[:7], 1, 0, 0, sign,
             f"depth:{m}:{g}:{k - 1}" if sign < 0 else None, bank, product, city,
             0, 0, 0, 0, 0, 0, 0, 0)
            for m, g, bank, product, city in registered])
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")    # as a ledger at rest is, between nights
    conn.close()


def night_seconds(code: Path | None, home: Path, copy: Path) -> float:
    """One night on a fresh copy of ``home``, run as `bench/run.py` runs it (``code``: an older
    checkout's command line)."""
    wall, _peak, _out = ours(fresh_copy(home, copy), None, code, None)
    return wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("depths", type=int, nargs="+")
    parser.add_argument("--before", type=Path, help="an older checkout to time on the same ledger")
    args = parser.parse_args()
    if not (LOAD_A / "manifest.json").exists():
        sys.exit("run `python bench/run.py --load a` first: its home is the base")
    with tempfile.TemporaryDirectory() as tmp:
        for depth in args.depths:
            home = Path(tmp) / f"depth{depth}"
            fresh_copy(LOAD_A, home)
            deepen(home, depth)
            started = time.perf_counter()
            store.open_engine(f"sqlite:///{home / 'ledger.db'}").dispose()
            opened = time.perf_counter() - started
            times: dict[str, list[float]] = {"now": [], "before": []}
            for _ in range(2):
                if args.before:
                    times["before"].append(night_seconds(args.before, home, Path(tmp) / "w"))
                times["now"].append(night_seconds(None, home, Path(tmp) / "w"))
            line = (f"K={depth:3d}: {1 + depth} postings a guarantee; first opening {opened:5.1f} s;"
                    f" night {' / '.join(f'{t:.1f}' for t in times['now'])} s")
            if args.before:
                line += f"; before {' / '.join(f'{t:.1f}' for t in times['before'])} s"
            print(line, flush=True)
            shutil.rmtree(home)


if __name__ == "__main__":
    main()
