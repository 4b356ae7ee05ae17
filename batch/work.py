"""What a worker process does for a night: read a filing ahead of the ledger, and later write
its receipt and 明细 rows behind it.

Kept apart from ``pipeline`` so that a worker imports only the reader, the ledger-free checks
and the writers: a worker is spawned, and importing the whole pipeline (SQLAlchemy and the
store) made its first filing ~0.2 s later on a 2-core night.
"""
from __future__ import annotations

from datetime import date
from pathlib import Path

from . import intake
from .config import Limits
from .model import Filing, NewGuarantee
from .outcome import FilingOutcome
from .params import Params
from .process import precheck, registration
from .read import read_filing
from .reports.figures import posting_line
from .reports.receipt import write_receipt
from .reports.reconciliation import detail_part

# In a worker process: the filings it read, with their cells and the figures it computed,
# until it writes their receipts.
_READ_HERE: dict[str, tuple[Filing, dict[int, tuple]]] = {}


def read_incoming(incoming: intake.Incoming, limits: Limits, params: Params,
                  run_date: date, keep: bool = False) -> tuple[Filing | None, dict]:
    """One inbox file parsed and cell-checked, and its new business checked as far as no ledger
    is needed (in a worker process on a big night); no Filing when it is not a workbook type.
    ``keep``: this is a worker; it keeps the filed cells for the receipt and sends the rest."""
    if not incoming.supported:
        return None, {}
    filing = read_filing(incoming.path, incoming.name, incoming.sha256, limits=limits)
    prechecked = precheck(filing, params, run_date, with_json=keep)
    if keep:
        _READ_HERE[incoming.name] = filing, known_figures(prechecked)
        filing = filing.without_cells()
    return filing, prechecked


def known_figures(prechecked: dict) -> dict[int, tuple]:
    """New-business rows' shares and fee as the worker computed them, by row index: what a
    verdict need not send back (``FilingOutcome.for_receipt``)."""
    return {i: (p.exposures, p.fee) for i, p in prechecked.items() if p.exposures is not None}


def write_filing(folder: Path, payload: tuple[FilingOutcome, dict | None] | None, run_id: str,
                 run_date: date, parts: list) -> list[dict]:
    """A worker's share of one filing's outputs: its receipt and its 明细 rows. ``payload`` is
    the outcome, or (from another process) the outcome without rows and the rows' verdicts;
    None: 明细 rows only."""
    f = None
    if payload is not None:
        f, verdicts = payload
        if verdicts is not None:
            filing, known = _READ_HERE.pop(f.path, (None, None))
            f = f.with_rows(filing, verdicts, known)
        write_receipt(folder / f.receipt, f, run_id, run_date)
    return [detail_part(path, first_row, lines) for path, first_row, lines in _drawn(parts, f)]


def _drawn(parts: list, f: FilingOutcome | None) -> list:
    """The 明细 parts with the registrations' lines the main process left as None drawn here,
    in order; as many as the filing has accepted new-business rows, or the night stops."""
    left = sum(line is None for *_, lines in parts for line in lines)
    if not left:
        return parts
    drawn = registration_lines(f) if f is not None else []
    if len(drawn) != left:
        raise RuntimeError(f"{f.path if f else ''}：明细的登记行（{left}）与回执的通过行"
                           f"（{len(drawn)}）不符")
    lines_of = iter(drawn)
    return [(path, first_row, [next(lines_of) if line is None else line for line in lines])
            for path, first_row, lines in parts]


def registration_lines(f: FilingOutcome) -> list[tuple]:
    """The 明细 lines of a filing's registrations, in row order, drawn from its accepted
    new-business rows and their verdicts. The main process sends a None for each: pickling a
    line's seven amounts there cost ~5 µs, on the process that holds a night back."""
    filing, lines = f.filing, []
    for r in f.rows.get("new", ()):
        if r.accepted:
            g = r.row.record
            assert isinstance(g, NewGuarantee) and r.shares is not None and r.fee is not None, \
                "an accepted new-business row is a registration with its figures"
            lines.append(posting_line(registration(g, f.member_id, filing.source(r.row.where),
                                                   f.period, r.shares, r.fee), g.grouping))
    return lines
