"""How a night grows with the fund's history.

    python bench/history.py --days 250 1500 15000 --queue 30000 300000

The start: for each claims-per-day figure, a ledger holding ``days`` days of paid claims (each a
claim row and a payment, one a day left waiting); the seconds (best of 3) to read the fund from
its kept state, as a night does, against deriving it from every movement and claim ever made (what
every night did before the state was kept, and what ``store.rebuild`` still does).

The queue: for each ``--queue`` length, a fund run dry with that many claims waiting; the seconds
a national night's 15,000 new claims take to queue, and its 5,000 recoveries to pay from the
front.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy import insert

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from batch import funddb, store  # noqa: E402
from batch.fund import Fund  # noqa: E402
from batch.model import Claim, FundKind  # noqa: E402


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


def queue_seconds(waiting: int, claims: int = 15_000, recoveries: int = 5_000,
                  withdrawals: int = 100) -> tuple[float, float, float]:
    """Seconds to queue ``claims`` new claims behind ``waiting`` ones, to pay ``recoveries``
    small receipts from the front, then to withdraw ``withdrawals`` claims from all along the
    queue (a correction reversing defaults, as ``Night.cancel`` does it)."""
    def claim(n: int) -> Claim:
        amount = Decimal("1500.00")
        return Claim(f"c{n}", date(2026, 1, 1), "M001", f"G{n}", amount, amount)
    fund = Fund(Decimal("0.00"), tuple(claim(n) for n in range(waiting)))
    started = time.perf_counter()
    for n in range(claims):
        fund, _moves = fund.claim(claim(waiting + n))
    queued = time.perf_counter() - started
    started = time.perf_counter()
    for _ in range(recoveries):
        fund, _moves = fund.receive(date(2026, 1, 2), FundKind.RECOVERY, Decimal("300.00"))
    paid = time.perf_counter() - started
    started = time.perf_counter()
    for n in range(waiting // 2, waiting + claims, (waiting // 2 + claims) // withdrawals):
        if hasattr(fund, "waiting"):
            fund.waiting(f"c{n}")
        else:                                      # the fund before it could find a claim
            next((c for c in fund.claims if c.claim_id == f"c{n}"), None)
        fund, _rest = fund.cancel(f"c{n}")
    return queued, paid, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("per_day", type=int, nargs="*", help="claims paid a day")
    parser.add_argument("--queue", type=int, nargs="*", default=[], help="claims waiting")
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
    for waiting in args.queue:
        queued, paid, withdrawn = queue_seconds(waiting)
        print(f"{waiting:,} claims waiting: 15,000 more queued in {queued:.2f} s, "
              f"5,000 recoveries paid from the front in {paid:.2f} s, "
              f"100 withdrawn in {withdrawn:.2f} s")


if __name__ == "__main__":
    main()
