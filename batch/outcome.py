"""What a run decided, as plain data: the only thing the report writers see.

The pipeline fills these; receipts, the reconciliation, the fund statement and run.json are pure
functions of them, so every figure in an output comes from one place.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Mapping, Sequence

from .model import PARTIES, Claim, Filing, FundMove, Issue, Party, Posting, Row, any_error

ACCEPTED = "accepted"
PARTIAL = "partial"
REJECTED = "rejected"
DUPLICATE = "duplicate"


@dataclass(frozen=True, slots=True)
class RowOutcome:
    """One filed row with its verdict: every issue (errors reject, warnings inform) and, when
    accepted, the computed shares and re-guarantee fee shown on the receipt."""
    row: Row
    issues: tuple[Issue, ...] = ()
    shares: Mapping[Party, Decimal] | None = None
    fee: Decimal | None = None
    note: str = ""                      # an informative remark for an accepted row

    @property
    def accepted(self) -> bool:
        return not any_error(self.issues)


@dataclass(frozen=True, slots=True)
class FilingOutcome:
    """One input file from intake to its final folder."""
    path: str                           # as found, relative to the inbox
    filing: Filing
    sender: str | None                  # member folder or e-mail sender; None = staff drop
    member_id: str
    member_name: str
    period: str
    kind: str                           # 正常 / 更正
    status: str                         # accepted / partial / rejected / duplicate
    rows: Mapping[str, tuple[RowOutcome, ...]] = field(default_factory=dict)  # sheet key -> rows
    issues: tuple[Issue, ...] = ()      # whole-file findings (errors and warnings)
    postings: tuple[Posting, ...] = ()
    reversals: tuple[Posting, ...] = ()  # what a 更正 filing withdrew
    withdrawn: tuple[str, ...] = ()     # sha256 of the earlier filings a 更正 replaced
    duplicate_of: str = ""              # name of the earlier filing with the same bytes
    receipt: str = ""                   # path of the receipt, relative to the run folder
    destination: str = ""               # archive/... or quarantine/..., relative to the home
    row_counts: Mapping[str, tuple[int, int]] | None = None   # kept when the rows are let go

    def counts(self, sheet: str) -> tuple[int, int]:
        if self.row_counts is not None:
            return self.row_counts.get(sheet, (0, 0))
        rows = self.rows.get(sheet, ())
        accepted = sum(1 for r in rows if r.accepted)
        return accepted, len(rows) - accepted

    def for_receipt(self, known: Mapping[int, tuple] | None = None
                    ) -> tuple["FilingOutcome", dict[str, tuple]]:
        """What writing the receipt needs besides the filed rows, light to send to the worker
        that read the filing and still holds them: the outcome without rows (its postings only
        for a correction, for the 更正对比 sheet) and each row's verdict, in row order (None: no
        issue, share, fee or note). ``known``: new-business rows' (shares, fee) by row index, as
        the worker computed them beside the reading; a verdict with the same figures says
        KNOWN instead of sending them back (a sixth of a night's pickling). ``with_rows`` puts
        the two together again."""
        keep = bool(self.reversals)
        light = replace(self, filing=replace(self.filing, rows={}), rows={},
                        postings=self.postings if keep else (),
                        reversals=self.reversals if keep else ())
        known = known or {}
        return light, {s: tuple(_verdict(r, known.get(i)) for i, r in enumerate(rows))
                       if s == "new" and known else tuple(map(_verdict, rows))
                       for s, rows in self.rows.items()}

    def with_rows(self, filing: Filing | None, verdicts: Mapping[str, tuple],
                  known: Mapping[int, tuple] | None = None) -> "FilingOutcome":
        """The outcome whole again: the filed rows (``filing`` as read, kept by the worker) with
        the verdicts ``for_receipt`` sent, and the figures ``known`` here."""
        if filing is None:
            return replace(self, rows={})
        known = known or {}
        rows = {s: tuple(_row_outcome(row, v, known.get(i) if s == "new" else None)
                         for i, (row, v) in enumerate(zip(filing.rows[s], vs)))
                for s, vs in verdicts.items()}
        return replace(self, rows=rows)

    def slim(self) -> "FilingOutcome":
        """What the run still needs once the receipt is written and the postings are stored:
        counts, whole-file findings and the rows that have an issue (for 异常清单). A night's
        memory then does not grow with the rows it has finished."""
        counts = {s: self.counts(s) for s in self.rows}
        kept = {s: tuple(RowOutcome(Row(r.row.where, (), None, r.row.issues), r.issues)
                         for r in rows if r.issues or r.row.issues)
                for s, rows in self.rows.items()}
        filing = Filing(self.filing.name, self.filing.sha256, self.filing.cover, {},
                        self.filing.issues, self.filing.headers)
        return replace(self, filing=filing, rows=kept, row_counts=counts, postings=(),
                       reversals=())


KNOWN = "known"         # a verdict's shares and fee: those the receiving worker computed


def _verdict(r: RowOutcome, known: tuple | None = None) -> tuple | None:
    if not r.issues and r.shares is None and r.fee is None and not r.note:
        return None
    if (known is not None and r.shares is not None and r.fee == known[1]
            and tuple(r.shares.values()) == known[0] and tuple(r.shares) == PARTIES):
        return r.issues, KNOWN, None, r.note
    return r.issues, None if r.shares is None else tuple(r.shares.items()), r.fee, r.note


def _row_outcome(row: Row, verdict: tuple | None, known: tuple | None = None) -> RowOutcome:
    if verdict is None:
        return RowOutcome(row)
    issues, shares, fee, note = verdict
    if shares == KNOWN:
        assert known is not None, "KNOWN is only sent for rows whose figures the receiver has"
        shares, fee = tuple(zip(PARTIES, known[0])), known[1]
    return RowOutcome(row, issues, None if shares is None else dict(shares), fee, note)


@dataclass(frozen=True, slots=True)
class Position:
    """The open guarantees of one member, bank, product and city after the run (a running total
    the ledger keeps, so the reconciliation never reads every guarantee)."""
    member_id: str
    bank_id: str
    product: str
    city: str
    count: int
    outstanding: Decimal
    exposures: Mapping[Party, Decimal]


@dataclass(frozen=True, slots=True)
class MemberPosition:
    member_id: str
    member_name: str
    city: str
    status: str
    net_assets: Decimal
    leverage_cap: Decimal
    liability: Decimal                  # weighted 融资担保责任余额
    leverage: Decimal                   # liability / net assets
    warning: bool                       # at or above the warning share of its cap


@dataclass(frozen=True, slots=True)
class RunOutcome:
    run_id: str
    run_date: date
    started_at: datetime
    finished_at: datetime
    filings: tuple[FilingOutcome, ...]
    fund_opening: Decimal
    fund_closing: Decimal
    fund_pending: Decimal
    fund_moves: tuple[FundMove, ...]            # this run's movements, in order
    fund_history: tuple[tuple[date, Decimal], ...]  # balance at the end of each day with a movement
    pending_claims: tuple[Claim, ...]
    capacity_defaults: Decimal                  # balance / fund share
    capacity_loans: Decimal                     # ... / assumed default rate: 可撬动贷款
    assumed_fund_share: Decimal
    assumed_default_rate: Decimal
    positions: tuple[Position, ...]
    members: tuple[MemberPosition, ...]
    bank_names: Mapping[str, str] = field(default_factory=dict)
    exceptions: tuple[Issue, ...] = ()          # run-wide findings for finance
    totals: Mapping[str, Decimal | int] = field(default_factory=dict)
    # A streamed run keeps its postings in the ledger, not here: ``activity`` holds the night's
    # posting figures summed by 'member', 'bank', 'product', 'city' and 'all' (by -> key ->
    # figures), ``detail_parts`` the 明细 rows rendered during the night. None: both are derived
    # from the filings' postings (a run built in memory).
    activity: Mapping[str, Mapping[str, object]] | None = None
    # The open book summed in the ledger by 'member', 'bank', 'product', 'city' and 'all':
    # (key, outstanding, five exposures); None: summed from ``positions`` (a run built in memory).
    open_book: Mapping[str, Sequence[tuple]] | None = None
    # (sheet number, file of rendered rows, last row, column widths) for 明细
    detail_parts: tuple[tuple[int, Path, int, Mapping[int, int]], ...] | None = None

    @property
    def exit_code(self) -> int:
        bad = {REJECTED, PARTIAL}
        return 1 if any(f.status in bad for f in self.filings) else 0
