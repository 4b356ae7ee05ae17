"""What a run decided, as plain data: the only thing the report writers see.

The pipeline fills these; receipts, the reconciliation, the fund statement and run.json are pure
functions of them, so every figure in an output comes from one place.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Mapping

from .model import Claim, Filing, FundMove, Issue, Party, Posting, Row

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
        return not any(i.is_error for i in self.issues)


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

    def counts(self, sheet: str) -> tuple[int, int]:
        rows = self.rows.get(sheet, ())
        accepted = sum(1 for r in rows if r.accepted)
        return accepted, len(rows) - accepted


@dataclass(frozen=True, slots=True)
class Position:
    """One open guarantee after the run, for the reconciliation."""
    member_id: str
    guarantee_id: str
    bank_id: str
    product: str
    city: str
    borrower_id: str
    borrower_name: str
    loan_amount: Decimal
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

    @property
    def exit_code(self) -> int:
        bad = {REJECTED, PARTIAL}
        return 1 if any(f.status in bad for f in self.filings) else 0
