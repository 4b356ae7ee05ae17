"""run_once: the only place the stages are chained.

reference → ledger → fund inputs → each filing (read → check → post) → one ledger transaction →
outputs (written aside, then renamed into place) → inputs moved to archive/ or quarantine/.
The ledger commits before any input moves, so a crash never loses a filing; a filing whose bytes
the ledger already holds is never posted twice.
"""
from __future__ import annotations

import logging
import os
import shutil
from dataclasses import dataclass, replace
from datetime import date, datetime
from pathlib import Path
from typing import Callable, Iterable, Sequence

from . import intake, recovery, store, summary
from .config import load_config
from .home import Home, REFERENCE_NAME
from .lock import HomeLock
from .runlog import run_log
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
log = logging.getLogger("reguarantee")


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
    settle_seconds: float | None = None          # None: the home's setting (reguarantee.toml)
    wait_seconds: float = 0.0                   # for another run holding the home's lock
    track: Track = lambda items: items
    should_stop: Callable[[], bool] = lambda: False   # checked between filings, never inside one
    fault: Callable[[str], None] = lambda step: None  # test hook: crash at a named step


@dataclass(frozen=True)
class NoRun:
    """Nothing new to do: the inbox was empty and no fund movement was due (a rerun after a crash
    may still have finished the crashed run's outputs and moves: ``resumed`` names it)."""
    exit_code: int = 0
    resumed: str = ""

    def summary(self) -> str:
        if self.resumed:
            return f"已完成上次中断的运行 {self.resumed}（台账此前已入账，本次补齐输出和文件归档）；没有新文件"
        return "收件箱没有待处理的文件，资金账户也没有新的变动：本次未生成运行"


def run_once(home: Home, run_date: date, clock: Callable[[], datetime] = datetime.now,
             options: Options = Options()) -> RunOutcome | NoRun:
    """One batch over everything waiting in the inbox, under the home's lock."""
    with HomeLock(home.root, options.wait_seconds):
        params = load_params(home)
        home.make_folders()
        config = load_config(home.root)
        engine = store.open_engine(home.ledger)
        settle = config.intake.settle_seconds if options.settle_seconds is None else options.settle_seconds
        started = clock()
        ready, _waiting = intake.scan(home.inbox, started.timestamp(), settle)
        finished, ready = recovery.finish_committed(home, engine, ready)
        resumed = NoRun(recovery.exit_code(home, finished[-1]), finished[-1]) if finished else NoRun()
        run_id = _run_id(home, started)
        with run_log(home.outbox / f".{run_id}.partial"):
            log.info("运行 %s 开始，处理日 %s，待处理文件 %d 个", run_id, run_date, len(ready))
            outcome = _run(home, engine, params, run_id, run_date, started, clock, ready, options)
        if outcome is None:
            shutil.rmtree(home.outbox / f".{run_id}.partial", ignore_errors=True)
        return outcome or resumed


def _run(home, engine, params, run_id, run_date, started, clock, ready, options
         ) -> RunOutcome | None:
    loaded = store.load(engine)
    options.fault("loaded")
    night = Night(params, loaded.book, loaded.fund, run_date)
    opening = loaded.fund.balance
    exceptions = post_fund_inputs(night, loaded.fund_input_keys)
    if not ready and not night.fund_moves and not exceptions:
        log.info("没有待处理的文件和资金变动，不生成运行")
        return None
    seen = dict(loaded.posted)
    filings, taken = [], []
    for incoming in options.track(ready):
        if options.should_stop():
            log.warning("收到停止信号：其余 %d 个文件留待下次运行", len(ready) - len(taken))
            break
        outcome = take(incoming, night, seen)
        log.info("%s：%s", incoming.name, outcome.status)
        if outcome.status not in (REJECTED, DUPLICATE):
            seen.setdefault(incoming.sha256, incoming.name)
        filings.append(outcome)
        taken.append(incoming)
        options.fault(f"took {incoming.name}")
    filings = place(filings, home, run_date)
    outcome = assemble(run_id, run_date, started, clock(), filings, night, opening,
                       loaded.fund_history, exceptions)
    publish(home, outcome, engine, night, taken, options.fault)
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


def write_outputs(folder: Path, run: RunOutcome, fault: Callable[[str], None]) -> None:
    for f in run.filings:
        (folder / f.receipt).parent.mkdir(parents=True, exist_ok=True)
        write_receipt(folder / f.receipt, f, run.run_id, run.run_date)
        fault(f"receipt {f.receipt}")
    write_reconciliation(folder / "对账汇总.xlsx", run)
    fault("reconciliation")
    write_fund_statement(folder / "代偿补偿资金对账单.xlsx", run)
    fault("fund statement")
    write_run_json(folder / "run.json", run)
    fault("run.json")


def publish(home: Home, run: RunOutcome, engine, night: Night,
            taken: list[intake.Incoming], fault: Callable[[str], None]) -> None:
    """Outputs aside, ledger commit, outputs into place, then (only then) inputs moved.

    A crash before the commit leaves the inbox as it was and the outputs aside (deleted by the
    next run); after it, the next run finds the run in the ledger and finishes the rest.
    """
    partial = home.outbox / f".{run.run_id}.partial"
    write_outputs(partial, run, fault)
    store.save_run(engine, store.RunRecord(run.run_id, run.run_date, run.started_at,
                                           run.finished_at, run.filings, tuple(night.fund_moves),
                                           tuple(night.claim_changes)))
    log.info("台账已入账（%d 个文件）", len(run.filings))
    fault("committed")
    os.replace(partial, home.outbox / run.run_id)
    fault("published")
    by_name = {i.name: i for i in taken}
    for f in run.filings:
        intake.move(by_name[f.path].path, home.root / f.destination)
        fault(f"moved {f.path}")
    log.info("运行 %s 完成：输出在 outbox/%s", run.run_id, run.run_id)


def _run_id(home: Home, started: datetime) -> str:
    base = started.strftime("%Y%m%d-%H%M%S")
    run_id, n = base, 1
    while (home.outbox / run_id).exists():
        run_id, n = f"{base}-{n}", n + 1
    return run_id


ISSUE_CODES = {
    "ref.missing": "找不到基础数据工作簿，运行中止",
    "file.type": "不是受支持的工作簿类型（.xlsx/.xlsm/.xls/.ods）",
    "fund.negative": "资金账户的负数调整超过余额，未入账（对账汇总异常清单）",
}
