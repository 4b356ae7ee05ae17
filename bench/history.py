"""How a night's start grows with the fund's history: reading the fund from its kept state (what a
night does) against deriving it from every movement and claim ever made (what every night did
before the state was kept, and what ``store.rebuild`` still does).

    python bench/history.py --days 250 --per-day 1500 15000

For each claims-per-day figure it builds a ledger holding ``days`` days of paid claims (each a
claim row and a payment, a few left waiting), then prints the seconds of each read, best of 3.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

from sqlalchemy import insert

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from batch import funddb, store  # noqa: E402


def build(db: Path, days: int, per_day: int) -> None:
    """``days`` days of ``per_day`` claims paid in full, and one left waiting each day."""
    engine = store.open_engine(f"sqlite:///{db}")
    first = date(2020, 1, 1)
    with engine.begin() as conn:
        opening = {"run_id": "seed", "on": first, "kind": "期初余额", "amount": 10**13,
                   "balance_after": 10**13, "input_key": "opening"}
        conn.execute(insert(store.fund_moves), [opening])
        for day in range(days):
            on = first + timedelta(days=day)
            claims, moves = [], []
            for n in range(per_day + 1):
                claim_id = f"{day:05d}:{n:06d}"
                claims.append({"run_id": "seed", "claim_id": claim_id, "on": on,
                               "member_id": "M001", "guarantee_id": claim_id, "amount": 1500000})
                if n < per_day:                       # the day's last claim waits
                    moves.append({"run_id": "seed", "on": on, "kind": "代偿补偿",
                                  "amount": -1500000, "balance_after": 0, "member_id": "M001",
                                  "guarantee_id": claim_id, "claim_id": claim_id})
            conn.execute(insert(store.claims), claims)
            conn.execute(insert(store.fund_moves), moves)
        store.rebuild(conn)          # the fund's kept state derived, as a migrated ledger has it
    engine.dispose()


def best_of(read, conn, times: int = 3) -> float:
    best = float("inf")
    for _ in range(times):
        started = time.perf_counter()
        read(conn)
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("per_day", type=int, nargs="+", help="claims paid a day")
    parser.add_argument("--days", type=int, default=250, help="days of history (250: a year)")
    args = parser.parse_args()
    for per_day in args.per_day:
        with tempfile.TemporaryDirectory() as folder:
            db = Path(folder) / "ledger.db"
            build(db, args.days, per_day)
            engine = store.open_engine(f"sqlite:///{db}")
            with engine.connect() as conn:
                kept = best_of(store.load_on, conn)
                derived = best_of(funddb.derive, conn)
                waiting = len(store.load_on(conn).fund.claims)
            engine.dispose()
            moves = args.days * per_day
            print(f"{args.days} days × {per_day:,} claims a day ({moves:,} movements, "
                  f"{waiting:,} waiting): a night's start {kept:.3f} s; "
                  f"the fund derived from all history {derived:.3f} s")


if __name__ == "__main__":
    main()
