"""run_once: the only place the stages are chained.

reference → ledger → fund inputs → each filing (read → check → post) → one ledger transaction →
outputs (written aside, then renamed into place) → inputs moved to archive/ or quarantine/.
The ledger commits before any input moves, so a crash never loses a filing; a filing whose bytes
the ledger already holds is never posted twice.
"""
from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, replace
from datetime import date, datetime
from pathlib import Path
from typing import Callable, Iterable, Sequence

from . import intake, store, summary
from .home import Home, REFERENCE_NAME
from .ledger import Fund
from .model import Filing, FundKind, Issue, Where
from .outcome import DUPLICATE, REJECTED, FilingOutcome, RunOutcome
from .params import Params, params_from_workbook
from .process import Night, process_filing
from .read import read_filing, read_workbook
from .reports.fund_statement import write_fund_statement
from .reports.receipt import write_receipt
from .reports.reconciliation import write_reconciliation
from .reports.runjson import write_run_json
from .schema import REFERENCE_SHEETS

Track = Callable[[Sequence], Iterable]


class RunAborted(Exception):
    """The run could not proceed (exit code 2); nothing was posted."""

    def __init__(self, issues: Sequence[Issue]):
        super().__init__("\n".join(i.render() for i in issues))
        self.issues = tuple(issues)


def load_params(home: Home) -> Params:
    if not home.reference.exists():
        raise RunAborted([Issue("ref.missing", Where(str(home.reference)),
                                "找不到基础数据工作簿，请先运行 reguarantee init 或放入 reference/基础数据.xlsx")])
    params, issues = params_from_workbook(read_workbook(home.reference, REFERENCE_SHEETS,
                                                        REFERENCE_NAME))
    if params is None:
        raise RunAborted(issues)
    return params


@dataclass(frozen=True)
class Options:
    settle_seconds: float = 5.0
    track: Track = lambda items: items


def run_once(home: Home, run_date: date, clock: Callable[[], datetime] = datetime.now,
             options: Options = Options()) -> RunOutcome:
    started = clock()
    params = load_params(home)
    home.make_folders()
    engine = store.open_engine(home.ledger)
    loaded = store.load(engine)
    night = Night(params, loaded.book, loaded.fund, run_date)
    opening = loaded.fund.balance
    exceptions = post_fund_inputs(night, loaded.fund_input_keys)
    ready, _waiting = intake.scan(home.inbox, started.timestamp(), options.settle_seconds)
    seen = dict(loaded.posted)
    filings = []
    for incoming in options.track(ready):
        outcome = take(incoming, night, seen)
        if outcome.status != REJECTED and outcome.status != DUPLICATE:
            seen.setdefault(incoming.sha256, incoming.name)
        filings.append(outcome)
    run_id = _run_id(home, started)
    filings = place(filings, home, run_date)
    outcome = assemble(run_id, run_date, started, clock(), filings, night, opening,
                       loaded.fund_history, exceptions)
    publish(home, outcome, engine, night, ready)
    return outcome


def take(incoming: intake.Incoming, night: Night, seen: dict[str, str]) -> FilingOutcome:
    """One inbox file to its verdict; nothing here touches the disk but reading the file."""
    if not incoming.supported:
        issue = Issue("file.type", Where(incoming.name),
                      f"不支持的文件类型「{incoming.path.suffix}」，请报送 .xlsx、.xlsm、.xls 或 .ods 工作簿")
        filing = Filing(incoming.name, incoming.sha256, None, {}, (issue,))
        return process_filing(filing, incoming.name, incoming.sender, night)
    filing = read_filing(incoming.path, incoming.name, incoming.sha256)
    if incoming.sha256 in seen:
        cover = filing.cover
        return FilingOutcome(path=incoming.name, filing=filing, sender=incoming.sender,
                             member_id=cover.member_id if cover else (incoming.sender or ""),
                             member_name=cover.member_name if cover else "",
                             period=cover.period if cover else "", kind=cover.kind if cover else "",
                             status=DUPLICATE, duplicate_of=seen[incoming.sha256])
    return process_filing(filing, incoming.name, incoming.sender, night)


def post_fund_inputs(night: Night, posted_keys: set[str]) -> list[Issue]:
    """Finance's movements dated up to the run date and not yet in the ledger, oldest first."""
    exceptions = []
    due = sorted((f for f in night.params.fund_inputs
                  if f.on <= night.run_date and f.key not in posted_keys), key=lambda f: f.on)
    for entry in due:
        if night.fund.balance + entry.amount < 0:
            exceptions.append(Issue("fund.negative", entry.where,
                                    f"调整后资金余额将为负（余额 {night.fund.balance:,.2f}元），本笔未入账"))
            continue
        night.receive(FundKind(entry.kind), entry.amount, input_key=entry.key, on=entry.on,
                      note=entry.note)
    return exceptions


def place(filings: list[FilingOutcome], home: Home, run_date: date) -> list[FilingOutcome]:
    """Name each receipt and choose each file's final folder (rejected files to quarantine)."""
    counts: dict[str, int] = {}
    placed, taken = [], set()
    for f in filings:
        stem = f"{f.member_id or '未知机构'}_{f.period or '未知期间'}"
        counts[stem] = counts.get(stem, 0) + 1
        folder = home.quarantine if f.status == REJECTED else home.archive
        target = intake.destination(folder, run_date, f.path)
        while target in taken:
            target = target.with_name("_" + target.name)
        taken.add(target)
        placed.append(replace(f, receipt=f"回执/{stem}_{counts[stem]}.xlsx",
                              destination=target.relative_to(home.root).as_posix()))
    return placed


def assemble(run_id: str, run_date: date, started: datetime, finished: datetime,
             filings: list[FilingOutcome], night: Night, opening, history, exceptions) -> RunOutcome:
    fund: Fund = night.fund
    moves = tuple(m for m, _key in night.fund_moves)
    days = dict(history)
    for m in moves:
        days[m.on] = m.balance_after
    capacity_defaults, capacity_loans = summary.capacity_figures(fund.balance, night.params)
    totals = summary.posting_totals(summary.night_postings(filings)) | {
        "fund_opening": opening, "fund_closing": fund.balance, "fund_pending": fund.pending,
        "fund_capacity": capacity_loans}
    return RunOutcome(
        run_id=run_id, run_date=run_date, started_at=started, finished_at=finished,
        filings=tuple(filings), fund_opening=opening, fund_closing=fund.balance,
        fund_pending=fund.pending, fund_moves=moves, fund_history=tuple(sorted(days.items())),
        pending_claims=fund.claims, capacity_defaults=capacity_defaults,
        capacity_loans=capacity_loans, assumed_fund_share=night.params.settings.assumed_fund_share,
        assumed_default_rate=night.params.settings.assumed_default_rate,
        positions=summary.positions(night.book),
        members=summary.member_positions(night.book, night.params),
        bank_names=dict(night.params.banks), exceptions=tuple(exceptions), totals=totals)


def write_outputs(folder: Path, run: RunOutcome) -> None:
    for f in run.filings:
        (folder / f.receipt).parent.mkdir(parents=True, exist_ok=True)
        write_receipt(folder / f.receipt, f, run.run_id, run.run_date)
    write_reconciliation(folder / "对账汇总.xlsx", run)
    write_fund_statement(folder / "代偿补偿资金对账单.xlsx", run)
    write_run_json(folder / "run.json", run)


def publish(home: Home, run: RunOutcome, engine, night: Night,
            ready: list[intake.Incoming]) -> None:
    """Outputs aside, ledger commit, outputs into place, then (only then) inputs moved."""
    final = home.outbox / run.run_id
    partial = home.outbox / f".{run.run_id}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    write_outputs(partial, run)
    store.save_run(engine, store.RunRecord(run.run_id, run.run_date, run.started_at,
                                           run.finished_at, run.filings, tuple(night.fund_moves),
                                           tuple(night.claim_changes)))
    os.replace(partial, final)
    by_name = {i.name: i for i in ready}
    for f in run.filings:
        intake.move(by_name[f.path].path, home.root / f.destination)


def _run_id(home: Home, started: datetime) -> str:
    base = started.strftime("%Y%m%d-%H%M%S")
    run_id, n = base, 1
    while (home.outbox / run_id).exists():
        run_id, n = f"{base}-{n}", n + 1
    return run_id
