"""`check FILE`: one filing against the ledger as it stands, receipt written, nothing posted."""
from __future__ import annotations

from dataclasses import replace
from datetime import date
from pathlib import Path

from . import store
from .home import Home
from .intake import sha256_of
from .outcome import FilingOutcome
from .pipeline import load_params
from .process import Night, process_filing
from .read import read_filing
from .reports.receipt import write_receipt


def check_file(home: Home, path: Path, run_date: date, member: str | None,
               out: Path | None) -> tuple[FilingOutcome, Path]:
    params = load_params(home)
    filing = read_filing(path, path.name, sha256_of(path))
    with store.opened(home.ledger) as engine, engine.connect() as conn:
        loaded = store.load_on(conn)
        night = Night(params, loaded.book, loaded.fund, run_date)
        outcome = process_filing(filing, path.name, member, night)
    receipt = out or path.with_name(f"{path.stem}_检查回执.xlsx")
    write_receipt(receipt, replace(outcome, receipt=receipt.name), "检查", run_date)
    return outcome, receipt
