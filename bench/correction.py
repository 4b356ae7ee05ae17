"""How long a correction rejected whole takes to undo what it withdrew, against the size of the
filing it withdrew (the tests' builders make the rows; no workbook is read or written).

    python bench/correction.py 2000 8000 50000
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import builders  # noqa: E402


def seconds(rows: int) -> float:
    """A filing of ``rows`` registrations, then a correction of its period whose one row is
    rejected: the whole correction is undone."""
    night = builders.night(fund="1000000000.00")
    filed = [builders.new(f"G{i}", row=i + 2, loan="100000.00", borrower=i + 1)
             for i in range(rows)]
    assert builders.post(night, *filed, name="a.xlsx").status == "accepted"
    started = time.perf_counter()
    fixed = builders.post(night, builders.new("X1", loan="-5.00"), kind="更正", name="fix.xlsx")
    assert fixed.status == "rejected"
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rows", type=int, nargs="+", help="rows of the withdrawn filing")
    for rows in parser.parse_args().rows:
        print(f"a correction withdrawing {rows:,} rows, rejected whole: {seconds(rows):.2f} s")


if __name__ == "__main__":
    main()
