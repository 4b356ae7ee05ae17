"""The run's figures, summed from its postings and positions: one place for every total.

The reconciliation groups these by member, bank, product and city; run.json and the summary sheet
use the same sums as a fallback and as a cross-check of ``run.totals``. A reversal (sign −1)
counts negatively everywhere, so a correction nets out against what it withdrew.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Iterator, Mapping, Sequence

from .. import schema
from ..model import PARTIES, Issue, Kind, Party, Posting
from ..money import ZERO
from ..outcome import (ACCEPTED, DUPLICATE, PARTIAL, REJECTED, FilingOutcome,
                       RunOutcome)

UNKNOWN = "（未知）"
_SHEET_NAMES = {s.key: s.name for s in schema.FILING_SHEETS}


def sheet_name(sheet: str) -> str:
    """A sheet key ('new') as its Chinese name; a name passes through."""
    return _SHEET_NAMES.get(sheet, sheet)


@dataclass(frozen=True, slots=True)
class Attrs:
    """What a guarantee is grouped by."""
    bank: str = UNKNOWN
    product: str = UNKNOWN
    city: str = UNKNOWN


def run_postings(run: RunOutcome) -> Iterator[tuple[FilingOutcome, Posting]]:
    """Every posting of the run with its filing: a correction's reversals first, then its postings
    (a posting listed in both is taken once)."""
    for filing in run.filings:
        seen: set[str] = set()
        for posting in (*filing.reversals, *filing.postings):
            if posting.key not in seen:
                seen.add(posting.key)
                yield filing, posting


def attributes(run: RunOutcome) -> dict[tuple[str, str], Attrs]:
    """(member, 业务编号) → bank/product/city, from this run's registrations (a run built in
    memory; a streamed run's postings carry their attributes from the ledger)."""
    found: dict[tuple[str, str], Attrs] = {}
    for _, posting in run_postings(run):
        d = posting.detail
        if posting.kind is Kind.REGISTER and d is not None:
            found.setdefault((posting.member_id, posting.guarantee_id), Attrs(*d.grouping))
    return found


@dataclass(slots=True)
class Tally:
    """Running sums for one group (or the whole run)."""
    new_count: int = 0
    new_loan: Decimal = ZERO
    repaid: Decimal = ZERO
    outstanding: Decimal = ZERO
    exposure: dict[Party, Decimal] = field(default_factory=lambda: {p: ZERO for p in PARTIES})
    defaulted: Decimal = ZERO
    compensation: dict[Party, Decimal] = field(default_factory=lambda: {p: ZERO for p in PARTIES})
    recovered: Decimal = ZERO
    recovered_fund: Decimal = ZERO
    fees: Decimal = ZERO

    def add_posting(self, p: Posting) -> None:
        self.fees += p.signed(p.fee)
        if p.kind is Kind.REGISTER:
            self.new_count += p.sign
            self.new_loan += p.signed(p.principal)
        elif p.kind is Kind.REPAY:
            self.repaid += p.signed(p.principal)
        elif p.kind is Kind.DEFAULT:
            self.defaulted += p.signed(p.principal)
            for party in PARTIES:
                self.compensation[party] += p.signed(p.shares.get(party, ZERO))
        elif p.kind is Kind.RECOVER:
            self.recovered += p.signed(p.principal)
            self.recovered_fund += p.signed(p.shares.get(Party.FUND, ZERO))

    def merge(self, other: "Tally") -> None:
        self.new_count += other.new_count
        self.new_loan += other.new_loan
        self.repaid += other.repaid
        self.outstanding += other.outstanding
        self.defaulted += other.defaulted
        self.recovered += other.recovered
        self.recovered_fund += other.recovered_fund
        self.fees += other.fees
        for party in PARTIES:
            self.exposure[party] += other.exposure[party]
            self.compensation[party] += other.compensation[party]

    def add_open(self, outstanding: Decimal, exposures: Sequence[Decimal]) -> None:
        """Open guarantees' outstanding and each party's exposure (in PARTIES order)."""
        self.outstanding += outstanding
        for party, amount in zip(PARTIES, exposures):
            self.exposure[party] += amount


GROUP_INDEX = {"member": 0, "bank": 1, "product": 2, "city": 3}


def activity(run: RunOutcome, by: str) -> dict[str, Tally]:
    """The night's posting figures by ``by`` ('member', 'bank', 'product', 'city' or 'all'), as
    the ledger summed them or, for a run built in memory, posting by posting."""
    if run.activity is not None:
        return dict(run.activity[by])          # type: ignore[arg-type]
    lookup = attributes(run)
    found: dict[str, Tally] = {}
    for _, p in run_postings(run):
        a = lookup.get((p.member_id, p.guarantee_id), Attrs())
        key = (p.member_id, a.bank, a.product, a.city)[GROUP_INDEX[by]] if by in GROUP_INDEX else ""
        found.setdefault(key, Tally()).add_posting(p)
    return found


def group(run: RunOutcome, by: str) -> dict[str, Tally]:
    """Tallies keyed by ``by``: 'member', 'bank', 'product' or 'city'."""
    tallies: dict[str, Tally] = {}
    for key, tally in activity(run, by).items():
        tallies.setdefault(key or UNKNOWN, Tally()).merge(tally)
    for key, outstanding, *exposures in open_book(run, by):
        tallies.setdefault(key or UNKNOWN, Tally()).add_open(outstanding, exposures)
    return tallies


def whole_run(run: RunOutcome) -> Tally:
    tally = Tally()
    for part in activity(run, "all").values():
        tally.merge(part)
    for _key, outstanding, *exposures in open_book(run, "all"):
        tally.add_open(outstanding, exposures)
    return tally


def open_book(run: RunOutcome, by: str) -> Iterator[tuple]:
    """The open book by ``by`` (or 'all'): (key, outstanding, five exposures), as the ledger
    summed it or, for a run built in memory, position by position."""
    if run.open_book is not None:
        yield from run.open_book[by]
        return
    for p in run.positions:
        keys = (p.member_id, p.bank_id, p.product, p.city)
        yield (keys[GROUP_INDEX[by]] if by in GROUP_INDEX else "", p.outstanding,
               *(p.exposures.get(party, ZERO) for party in PARTIES))


def activity_from_sums(sums: Mapping[str, Sequence[tuple]]) -> dict[str, dict[str, Tally]]:
    """Tallies from the ledger's sums of the night's postings (``store.night_sums``): ``by`` ->
    key -> Tally."""
    return {by: _tallies(rows) for by, rows in sums.items()}


def _tallies(rows: Sequence[tuple]) -> dict[str, Tally]:
    found: dict[str, Tally] = {}
    for key, kind, count, principal, fee, *shares in rows:
        t = found.setdefault(key or "", Tally())
        t.fees += fee
        if kind == Kind.REGISTER.value:
            t.new_count += count
            t.new_loan += principal
        elif kind == Kind.REPAY.value:
            t.repaid += principal
        elif kind == Kind.DEFAULT.value:
            t.defaulted += principal
            for party, amount in zip(PARTIES, shares):
                t.compensation[party] += amount
        else:
            t.recovered += principal
            t.recovered_fund += shares[PARTIES.index(Party.FUND)]
    return found


def detail_lines(run: RunOutcome) -> Iterator[Sequence[object]]:
    """Every posting of a run built in memory as a 明细 line (see ``posting_line``)."""
    lookup = attributes(run)
    for _, p in run_postings(run):
        a = lookup.get((p.member_id, p.guarantee_id), Attrs())
        yield posting_line(p, (a.bank, a.product, a.city))


_KIND_LABELS = {k: k.label for k in Kind}           # .label builds a dict on every call
_NO_ATTRS = (UNKNOWN, UNKNOWN, UNKNOWN)


def posting_line(p: Posting, attrs: tuple | None) -> tuple:
    """A posting as a 明细 line: file, sheet, row, type, reversal, date, member, 业务编号, period,
    bank, product, city, amount, the five shares (None where not shared), fee."""
    bank, product, city = attrs or _NO_ATTRS
    s, share = p.source, p.shares.get
    amounts = (p.principal, *map(share, PARTIES), p.fee)
    if not p.sign > 0:                              # as p.signed(), for the amounts shared
        amounts = tuple(None if a is None else -a for a in amounts)
    return (s.file, sheet_name(s.sheet), s.row or None, _KIND_LABELS[p.kind],
            p.sign < 0, p.on, p.member_id, p.guarantee_id, p.period, bank or UNKNOWN,
            product or UNKNOWN, city or UNKNOWN, *amounts)


def computed_totals(run: RunOutcome) -> dict[str, Decimal | int]:
    """The contract's totals as this run's postings and fund figures give them."""
    t = whole_run(run)
    return {
        "new_count": t.new_count,
        "new_loan_principal": t.new_loan,
        "compensation_reguarantor": t.compensation[Party.REGUARANTOR],
        "compensation_fund": t.compensation[Party.FUND],
        "compensation_local": t.compensation[Party.LOCAL],
        "recovery_total": t.recovered,
        "recovery_fund": t.recovered_fund,
        "fees": t.fees,
        "repaid_principal": t.repaid,
        "default_principal": t.defaulted,
        "member_borne": t.compensation[Party.MEMBER],
        "fund_opening": run.fund_opening,
        "fund_closing": run.fund_closing,
        "fund_pending": run.fund_pending,
        "fund_capacity": run.capacity_loans,
    }


def totals(run: RunOutcome) -> dict[str, Decimal | int]:
    """``run.totals`` as the pipeline gave them, any missing contract key filled in by computing it."""
    return {**computed_totals(run), **run.totals}


TOTAL_LABELS: dict[str, str] = {
    "new_count": "新增业务笔数",
    "new_loan_principal": "新增贷款金额",
    "compensation_reguarantor": "再担保应付代偿",
    "compensation_fund": "补偿基金应付代偿",
    "compensation_local": "地方财政分担代偿",
    "recovery_total": "追偿回收净额",
    "recovery_fund": "其中：补偿基金回收",
    "fees": "应收再担保费",
    "repaid_principal": "还款本金",
    "default_principal": "代偿本金",
    "member_borne": "担保机构承担代偿",
    "fund_opening": "补偿基金期初余额",
    "fund_closing": "补偿基金期末余额",
    "fund_pending": "待补偿合计",
    "fund_capacity": "可撬动贷款",
}

STATUS_LABELS: dict[str, str] = {ACCEPTED: "全部通过", PARTIAL: "部分退回", REJECTED: "整体退回",
                                 DUPLICATE: "重复报送"}


def status_text(filing: FilingOutcome) -> str:
    """The file's status in Chinese; a duplicate names the filing it repeats."""
    label = STATUS_LABELS.get(filing.status, filing.status)
    if filing.status == DUPLICATE and filing.duplicate_of:
        return f"{label}（与 {filing.duplicate_of} 相同）"
    return label


def file_issues(filing: FilingOutcome) -> tuple[Issue, ...]:
    """Whole-file findings: the outcome's and the reader's, each once, in order."""
    seen: set[tuple[str, str, str]] = set()
    found = []
    for issue in (*filing.filing.issues, *filing.issues):
        key = (issue.code, issue.where.render(), issue.message)
        if key not in seen:
            seen.add(key)
            found.append(issue)
    return tuple(found)
