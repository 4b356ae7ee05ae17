"""The least any night must do with a load's rows, against what 8× the naive pipeline leaves.

`python bench/floor.py --load a` (the load's home must exist: `bench/run.py --load a` builds it).

Whatever its design, a night that keeps the contract must (1) read every cell of every filing,
(2) split each new loan into its five shares exactly to the fen, (3) write every row back in the
filing's receipt with its 状态, 说明, shares and fee, and (4) store a posting for each row in
the ledger. This script times each of those alone, on one core, with the fastest means this
project has: calamine's values, `money.allocate`, the batch's own streamed writer
(`FastGrid.typed_rows`, its bulk path), and one `executemany` into a copy of the load's ledger
(the postings table and its indexes, the store's pragmas, one commit). Then it runs the naive
pipeline on the same filings and prints both cores' share of the floor next to naive ÷ 8.

It checks nothing, guards against nothing, keeps no balance and writes no report: it is a
floor under every design, not a design. What it leaves between the floor and naive ÷ 8 is all a
night has, on two cores, for the checks, the ledger's balances, the fund and the reports.
"""
from __future__ import annotations

import argparse
import shutil
import sqlite3
import sys
import tempfile
import time
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from python_calamine import CalamineWorkbook  # noqa: E402

from batch import codec, store as ledger_store  # noqa: E402
from batch.model import PARTIES, TIE_ORDER, Where  # noqa: E402
from batch.money import allocate  # noqa: E402
from batch.reports.fastxlsx import FastBook  # noqa: E402
from bench.run import naive  # noqa: E402

# Each product's five weights (bank, member, re-guarantor, fund, local finance): the naive
# pipeline's four plus local finance, so both split the same amounts.
WEIGHTS = {"BL": (20, 40, 25, 15, 0), "ZY": (20, 40, 30, 0, 10), "LD": (0, 50, 50, 0, 0),
           "YB": (0, 60, 40, 0, 0), "LH": (0, 50, 50, 0, 0), "FD": (0, 100, 0, 0, 0)}
STORE_BATCH = 50_000
RECEIPT_EXTRA = 8                   # 状态, 说明, five shares, 再担保费


def filing_steps(path: Path, out: Path, clock: dict[str, float]) -> int:
    """One filing read, its new loans split and every row written back; each step's CPU added to
    ``clock``. Returns its data rows. A filing at a time, so memory stays flat on load (c)."""
    started = time.process_time()
    book = CalamineWorkbook.from_path(str(path))
    sheets = {name: book.get_sheet_by_name(name).to_python()
              for name in book.sheet_names if name != "封面"}
    read = time.process_time()
    split = _shares(sheets.get("新增业务") or [[]])
    splitting = time.process_time()
    _receipt(sheets, split, out)
    clock["read"] += read - started
    clock["split"] += splitting - read
    clock["write"] += time.process_time() - splitting
    return sum(max(len(rows) - 1, 0) for rows in sheets.values())


def _shares(rows: list[list]) -> dict[int, list[Decimal]]:
    """Each new loan's 贷款金额 split five ways to the fen, by the row's position."""
    if len(rows) < 2:
        return {}
    amount_at, product_at = rows[0].index("贷款金额"), rows[0].index("再担保产品")
    split = {}
    for n, row in enumerate(rows[1:], 1):
        weights = dict(zip(PARTIES, WEIGHTS.get(row[product_at], WEIGHTS["FD"])))
        parts = allocate(Decimal(str(row[amount_at])), weights, TIE_ORDER)
        split[n] = [parts[p] for p in PARTIES]
    return split


def _receipt(sheets: dict[str, list[list]], split: dict[int, list[Decimal]], out: Path) -> None:
    """Every row back with its status, shares and fee (blank where there are none)."""
    none = [None] * (RECEIPT_EXTRA - 2)
    book = FastBook(out)
    for name, rows in sheets.items():
        if len(rows) < 2:
            continue
        shares = split if name == "新增业务" else {}
        kinds = [_kind(v) for v in rows[1]] + ["text", "text"] + ["number"] * 6
        styles = (0,) * len(kinds)
        book.sheet(name).typed_rows(1, kinds, ((row + ["通过", ""] + shares.get(n, none), styles)
                                               for n, row in enumerate(rows[1:], 1)))
    book.close()


def _kind(value: object) -> str:
    return ("date" if isinstance(value, (date, datetime))
            else "text" if isinstance(value, str) else "number")


def store(ledger: Path | None, sample: Path, rows: int) -> float:
    """``rows`` postings inserted in one transaction into a copy of the load's ledger (or, for a
    load with none, an empty one made by the store): copies of the registration postings held in
    ``sample`` (the heaviest rows, with their detail), under new keys. Only the inserts and the
    commit are timed, not making the rows."""
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "ledger.db"
        if ledger is not None:
            shutil.copyfile(ledger, db)
        else:
            ledger_store.open_engine(f"sqlite:///{db}").dispose()
        names = [r[1] for r in _connect(sample).execute("PRAGMA table_info(postings)")
                 if r[1] != "id"]
        columns = ", ".join(f'"{n}"' for n in names)
        have = _as_stored_now(names, _connect(sample).execute(
            f"SELECT {columns} FROM postings WHERE kind = 'register' LIMIT 100000").fetchall())
        key, guarantee = names.index("key"), names.index("guarantee_id")
        sql = f"INSERT INTO postings ({columns}) VALUES ({', '.join('?' * len(names))})"
        conn = _connect(db)
        conn.execute("BEGIN")
        seconds = 0.0
        for first in range(0, rows, STORE_BATCH):
            batch = []
            for n in range(first, min(first + STORE_BATCH, rows)):
                values = list(have[n % len(have)])
                values[key] = f"{values[key]}#floor{n}"
                values[guarantee] = f"{values[guarantee]}#floor{n}"
                batch.append(tuple(values))
            started = time.perf_counter()
            conn.executemany(sql, batch)
            seconds += time.perf_counter() - started
        started = time.perf_counter()
        conn.execute("COMMIT")
        seconds += time.perf_counter() - started
        conn.close()
    return seconds


def _as_stored_now(names: list[str], rows: list[tuple]) -> list[tuple]:
    """The rows with each registration's JSON as a night stores it now (a ledger seeded before
    session 7 holds the longer named form)."""
    at = {name: names.index(name) for name in ("detail", "file", "sheet", "row", "guarantee_id")}

    def now(row: tuple) -> tuple:
        where = Where(row[at["file"]], row[at["sheet"]], row[at["row"]])
        g = codec.detail_from(row[at["detail"]], where, row[at["guarantee_id"]])
        return (*row[:at["detail"]], codec.detail_json(g), *row[at["detail"] + 1:])
    return [now(row) for row in rows]


def _connect(db: Path) -> sqlite3.Connection:
    """With the store's own pragmas, and transactions begun by hand."""
    conn = sqlite3.connect(db, isolation_level=None)
    ledger_store._sqlite_pragmas(conn, None)
    return conn


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--load", default="a", choices=("a", "b", "c"))
    parser.add_argument("--naive-seconds", type=float,
                        help="use this time for the naive pipeline instead of running it")
    args = parser.parse_args()
    home = ROOT / "bench" / ".cache" / args.load
    paths = sorted((home / "inbox").rglob("*.xlsx"))
    if not paths:
        sys.exit(f"no filings in {home}: run `python bench/run.py --load {args.load}` first")
    clock = {"read": 0.0, "split": 0.0, "write": 0.0}
    with tempfile.TemporaryDirectory() as out:
        rows = sum(filing_steps(path, Path(out) / "receipt.xlsx", clock) for path in paths)
    sample = ROOT / "bench" / ".cache" / "a" / "ledger.db"
    if not sample.exists():
        sys.exit("the registration postings are taken from load (a)'s ledger: "
                 "run `python bench/run.py --load a` first")
    ledger = home / "ledger.db"
    storing = store(ledger if ledger.exists() else None, sample, rows)
    with tempfile.TemporaryDirectory() as out:
        naive_seconds = args.naive_seconds or naive(home, Path(out))[0]
    steps = [("read every cell (calamine)", clock["read"]),
             ("split new loans five ways", clock["split"]),
             ("write every row back (batch's streamed writer)", clock["write"]),
             ("store a posting a row (one executemany, commit)", storing)]
    total = sum(s for _, s in steps)
    print(f"load {args.load}: {len(paths)} filings, {rows:,} data rows")
    for label, seconds in steps:
        print(f"  {label:<50} {seconds:7.2f} s  {seconds / rows * 1e6:6.1f} µs a row")
    print(f"  {'all four, one core':<50} {total:7.2f} s  {total / rows * 1e6:6.1f} µs a row")
    print(f"  {'the floor on two cores (÷ 2, perfectly shared)':<50} {total / 2:7.2f} s")
    print(f"naive pipeline {naive_seconds:.2f} s; 8x it leaves {naive_seconds / 8:.2f} s, "
          f"{naive_seconds / 8 - total / 2:.2f} s beyond the floor for everything else "
          f"({(naive_seconds / 8 - total / 2) * 2 / rows * 1e6:.1f} µs of CPU a row on two cores)")


if __name__ == "__main__":
    main()
