"""run_once: the only place the stages are chained.

reference → ledger (fetched by key as filings need it, never replayed) → fund inputs → each
filing in inbox order: read and checked as far as no ledger is needed (in worker processes on a
big night) → checked against the ledger and posted here, its rows stored in the run's one open
transaction → its receipt and 明细 rows written aside (by the workers) → reconciliation, fund
statement and run.json aside → commit → outputs renamed into place → inputs moved to archive/ or
quarantine/. The ledger commits before any input moves, so a crash never loses a filing; a
filing whose bytes the ledger already holds is never posted twice.
"""
from __future__ import annotations

import logging
import os
import shutil
from collections import ChainMap
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from functools import partial
from pathlib import Path
from typing import Callable, Iterable, Mapping, Sequence

from sqlalchemy.engine import Connection

from . import intake, parallel, recovery, store, summary
from .behind import DETAIL_PARTS, Writes
from .config import Limits, load_config
from .home import Home, REFERENCE_NAME
from .lock import HomeLock
from .runlog import run_log
from .fund import Fund
from .model import Filing, FundKind, Issue, Kind, Where
from .outcome import DUPLICATE, REJECTED, FilingOutcome, RunOutcome
from .params import Params, params_from_workbook
from .process import Ledger, Night, process_filing
from .read import read_workbook
from .reports.figures import activity_from_sums, computed_totals, posting_line
from .reports.fund_statement import write_fund_statement
from .reports.reconciliation import write_reconciliation
from .reports.runjson import write_run_json
from .schema import REFERENCE_SHEETS
from .work import known_figures, read_incoming

Track = Callable[[Sequence], Iterable]
log = logging.getLogger("reguarantee")


class RunAborted(Exception):
    """The run could not proceed (exit code 2); nothing was posted."""

    def __init__(self, issues: Sequence[Issue]):
        super().__init__("\n".join(i.render() for i in issues))
        self.issues = tuple(issues)


def load_params(home: Home, limits: Limits | None = None) -> Params:
    """Finance's reference workbook, read with the same limits as a filing; broken → RunAborted."""
    if not home.reference.exists():
        raise RunAborted([Issue("ref.missing", Where(str(home.reference)),
                                "找不到基础数据工作簿，请先运行 reguarantee init 或放入 reference/基础数据.xlsx")])
    workbook = read_workbook(home.reference, REFERENCE_SHEETS, REFERENCE_NAME,
                             limits=limits or load_config(home.root).limits)
    params, issues = params_from_workbook(workbook)
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
    workers: int | None = None                  # reader processes; None: every core for a big night


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


@dataclass
class Run:
    """One run's fixed facts and its open ledger transaction."""
    home: Home
    run_id: str
    run_date: date
    started: datetime
    options: Options
    limits: Limits
    conn: Connection
    taken: list = field(default_factory=list)       # inbox files taken, in order
    detail_parts: tuple = ()                        # 明细 rows rendered during the night

    @property
    def folder(self) -> Path:
        return self.home.outbox / f".{self.run_id}.partial"


def run_once(home: Home, run_date: date, clock: Callable[[], datetime] = datetime.now,
             options: Options = Options()) -> RunOutcome | NoRun:
    """One batch over everything waiting in the inbox, under the home's lock."""
    with HomeLock(home.root, options.wait_seconds), parallel.relaxed_gc():
        params = load_params(home)
        home.make_folders()
        config = load_config(home.root)
        settle = config.intake.settle_seconds if options.settle_seconds is None else options.settle_seconds
        with store.opened(home.ledger) as engine:
            started = clock()
            ready, _waiting = intake.scan(home.inbox, started.timestamp(), settle)
            finished, ready = recovery.finish_committed(home, engine, ready)
            resumed = NoRun(recovery.exit_code(home, finished[-1]), finished[-1]) if finished else NoRun()
            with engine.connect() as conn:
                run = Run(home, _run_id(home, started), run_date, started, options, config.limits,
                          conn)
                outcome = _transact(run, params, clock, ready)
        if outcome is None:
            shutil.rmtree(run.folder, ignore_errors=True)
        return outcome or resumed


def _transact(run: Run, params: Params, clock, ready) -> RunOutcome | None:
    """The run's one transaction, logged in its folder; then, only once it has committed, its
    outputs into place and its inputs moved."""
    with run_log(run.folder):
        log.info("运行 %s 开始，处理日 %s，待处理文件 %d 个", run.run_id, run.run_date, len(ready))
        with run.conn.begin():               # the whole run is one transaction
            if advice := store.old_pages(run.conn):
                log.info("%s", advice)
            outcome = _run(run, params, clock, ready)
        if outcome is not None:
            _place_outputs(run, outcome)
    return outcome


def _run(run: Run, params: Params, clock, ready) -> RunOutcome | None:
    loaded = store.load_on(run.conn)
    run.options.fault("loaded")
    night = Night(params, loaded.book, loaded.fund, run.run_date)
    opening = loaded.fund.balance
    exceptions = post_fund_inputs(night, loaded.fund_input_keys)
    if not ready and not night.fund_moves and not exceptions:
        log.info("没有待处理的文件和资金变动，不生成运行")
        return None
    filings, taken = take_all(run, loaded, night, ready)
    outcome = assemble(run, clock(), filings, night, loaded, opening, exceptions)
    publish(run, outcome, night)
    run.taken = taken
    return outcome


def take_all(run: Run, loaded: store.Loaded, night: Night, ready: list[intake.Incoming]
             ) -> tuple[list[FilingOutcome], list[intake.Incoming]]:
    """Every inbox file, in order: read (by worker processes on a big night, a few files ahead),
    checked and posted here, one at a time; its receipt and 明细 rows written behind (by the
    workers too); then only its summary is kept."""
    # ChainMap only writes to maps[0]; typeshed wants every map mutable, Posted is read-only
    seen: ChainMap = ChainMap({}, loaded.posted)  # type: ignore[arg-type]
    places = Places(run.home, run.run_date)
    workers = parallel.Workers(parallel.worker_count(sum(i.size for i in ready), len(ready),
                                                     run.options.workers))
    writes = Writes(run.folder, run.run_id, run.run_date, run.options.fault, workers)
    read = partial(read_incoming, limits=run.limits, params=workers.share(night.params),
                   run_date=run.run_date, keep=workers.parallel)
    filings, taken = [], []
    try:
        todo = [] if run.options.should_stop() else ready
        for incoming, (filing, prechecked), worker in workers.in_order(run.options.track(todo),
                                                                       read):
            ledger = _ledger(run, loaded, night, writes, worker, incoming.sha256, prechecked)
            outcome = places.place(take(incoming, filing, night, seen, ledger, prechecked))
            known = known_figures(prechecked) if workers.parallel and prechecked else None
            del filing, prechecked, ledger               # the outcome holds what is still needed
            log.info("%s：%s", incoming.name, outcome.status)
            if outcome.status not in (REJECTED, DUPLICATE):
                seen.maps[0].setdefault(incoming.sha256, incoming.name)
            run.options.fault(f"took {incoming.name}")
            attrs, lines = _detail_lines(night.book, _postings(outcome),
                                         behind=workers.parallel and _drawn_behind(outcome))
            # the ledger stores the same postings, unless a correction's were deduplicated
            store.post_filing(run.conn, loaded.stored, night.book, outcome, run.run_id,
                              None if outcome.reversals else attrs)
            writes.submit(outcome, lines, worker, known)
            filings.append(outcome.slim())
            taken.append(incoming)
            if run.options.should_stop() and len(taken) < len(ready):
                log.warning("收到停止信号：其余 %d 个文件留待下次运行", len(ready) - len(taken))
                break
        writes.drain()
    finally:
        workers.close()
    run.detail_parts = tuple(writes.parts)
    return filings, taken


def _detail_lines(book, postings: list, behind: bool = False) -> tuple[list, list]:
    """Postings' bank, product and city (while the book holds their guarantees), and their 明细
    lines: the ledger stores the same attributes, so they are looked up once. ``behind``: a
    registration's line is None, drawn by the worker that read its row
    (``work.registration_lines``)."""
    attrs = [store.attributes(book, p) for p in postings]
    if behind:
        return attrs, [None if p.kind is Kind.REGISTER else posting_line(p, a)
                       for p, a in zip(postings, attrs)]
    return attrs, list(map(posting_line, postings, attrs))


def _drawn_behind(f: FilingOutcome) -> bool:
    """Whether the worker can draw this filing's registration lines: its postings hold one for
    every accepted new-business row (not a correction, nor a big filing stored in chunks)."""
    registered = sum(1 for p in f.postings if p.kind is Kind.REGISTER)
    return not f.reversals and registered == f.counts("new")[0]


def _postings(f: FilingOutcome) -> list:
    """A filing's postings in 明细 order: a correction's reversals first, each posting once."""
    if not f.reversals:
        return list(f.postings)                  # each filed row posts once: nothing to drop
    seen: set[str] = set()
    found = []
    for p in (*f.reversals, *f.postings):
        if p.key not in seen:
            seen.add(p.key)
            found.append(p)
    return found


def take(incoming: intake.Incoming, filing: Filing | None, night: Night,
         seen: Mapping[str, str], ledger: Ledger = Ledger(), prechecked=None) -> FilingOutcome:
    """One inbox file (already read) to its verdict; nothing here touches the disk."""
    if filing is None:
        issue = Issue("file.type", Where(incoming.name),
                      f"不支持的文件类型「{incoming.path.suffix}」，请报送 .xlsx、.xlsm、.xls 或 .ods 工作簿")
        filing = Filing(incoming.name, incoming.sha256, None, {}, (issue,))
        return process_filing(filing, incoming.name, incoming.sender, night)
    if incoming.sha256 in seen:
        cover = filing.cover
        return FilingOutcome(path=incoming.name, filing=filing, sender=incoming.sender,
                             member_id=cover.member_id if cover else (incoming.sender or ""),
                             member_name=cover.member_name if cover else "",
                             period=cover.period if cover else "", kind=cover.kind if cover else "",
                             status=DUPLICATE, duplicate_of=seen[incoming.sha256])
    return process_filing(filing, incoming.name, incoming.sender, night, prechecked, ledger)


def _ledger(run: Run, loaded: store.Loaded, night: Night, writes: Writes, worker: int, sha: str,
            prechecked: Mapping | None) -> Ledger:
    """The stored ledger as one filing meets it: fetched a chunk of rows at a time (with the
    registrations' JSON made beside the reading); a big filing's first chunks stored, and their
    明细 lines written, before it ends."""
    stored, book, pre = loaded.stored, night.book, prechecked or {}

    def fetch(member_id: str, rows) -> None:
        records = [row.record for _key, _i, row in rows if row.record is not None]
        for key, i, row in rows:
            json = pre[i].detail_json if key == "new" and i in pre else None
            if json is not None:
                stored.details[id(row.record)] = json
        stored.prefetch(book, member_id, records)

    def store_early(postings: list) -> None:
        attrs, lines = _detail_lines(book, postings)
        store.post_postings(run.conn, stored, book, postings, run.run_id, sha, attrs)
        writes.submit(None, lines, worker)
    return Ledger(fetch, store_early)


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


class Places:
    """Names each receipt and chooses each file's final folder (rejected files to quarantine),
    one filing at a time, as the filings come."""

    def __init__(self, home: Home, run_date: date) -> None:
        self.home, self.run_date = home, run_date
        self.counts: dict[str, int] = {}
        self.taken: set[Path] = set()

    def place(self, f: FilingOutcome) -> FilingOutcome:
        stem = f"{f.member_id or '未知机构'}_{f.period or '未知期间'}"
        self.counts[stem] = self.counts.get(stem, 0) + 1
        folder = self.home.quarantine if f.status == REJECTED else self.home.archive
        target = intake.destination(folder, self.run_date, f.path)
        while target in self.taken:
            target = target.with_name("_" + target.name)
        self.taken.add(target)
        return replace(f, receipt=f"回执/{stem}_{self.counts[stem]}.xlsx",
                       destination=target.relative_to(self.home.root).as_posix())


def assemble(run: Run, finished: datetime, filings: list[FilingOutcome], night: Night,
             loaded: store.Loaded, opening, exceptions) -> RunOutcome:
    """The run's figures: tonight's postings summed in SQL, the open book and members' leverage
    from the running totals, the fund from the night's movements."""
    fund: Fund = night.fund
    moves = tuple(m for m, _key in night.fund_moves)
    days = dict(loaded.fund_history)
    for m in moves:
        days[m.on] = m.balance_after
    capacity_defaults, capacity_loans = summary.capacity_figures(fund.balance, night.params)
    stored, conn, run_id = loaded.stored, run.conn, run.run_id
    stored.member_weights(night.book, night.params.members)
    outcome = RunOutcome(
        run_id=run_id, run_date=run.run_date, started_at=run.started, finished_at=finished,
        filings=tuple(filings), fund_opening=opening, fund_closing=fund.balance,
        fund_pending=fund.pending, fund_moves=moves, fund_history=tuple(sorted(days.items())),
        pending_claims=fund.claims, capacity_defaults=capacity_defaults,
        capacity_loans=capacity_loans, assumed_fund_share=night.params.settings.assumed_fund_share,
        assumed_default_rate=night.params.settings.assumed_default_rate,
        positions=(), open_book=store.open_book(conn),
        members=summary.member_positions(night.book, night.params),
        bank_names=dict(night.params.banks), exceptions=tuple(exceptions),
        activity=activity_from_sums(store.night_sums(conn, run_id)),
        detail_parts=run.detail_parts)
    return replace(outcome, totals=computed_totals(outcome))


def publish(run: Run, outcome: RunOutcome, night: Night) -> None:
    """The run's reports aside (receipts are there already), then the ledger's last rows; the
    transaction commits when ``run_once`` leaves it. A crash before the commit leaves the inbox
    as it was and the outputs aside (deleted by the next run); after it, the next run finds the
    run in the ledger and finishes the rest."""
    fault = run.options.fault
    write_reconciliation(run.folder / "对账汇总.xlsx", outcome)
    shutil.rmtree(run.folder / DETAIL_PARTS, ignore_errors=True)
    fault("reconciliation")
    write_fund_statement(run.folder / "代偿补偿资金对账单.xlsx", outcome)
    fault("fund statement")
    write_run_json(run.folder / "run.json", outcome)
    fault("run.json")
    store.finish_run(run.conn, store.RunRecord(
        outcome.run_id, outcome.run_date, outcome.started_at, outcome.finished_at,
        outcome.filings, tuple(night.fund_moves), tuple(night.claim_changes), night.fund.claims))


def _place_outputs(run: Run, outcome: RunOutcome) -> None:
    """After the commit: the outputs into place, then (only then) the inputs moved."""
    fault, home = run.options.fault, run.home
    log.info("台账已入账（%d 个文件）", len(outcome.filings))
    fault("committed")
    os.replace(run.folder, home.outbox / outcome.run_id)
    fault("published")
    by_name = {i.name: i for i in run.taken}
    for f in outcome.filings:
        intake.move(by_name[f.path].path, home.root / f.destination)
        fault(f"moved {f.path}")
    log.info("运行 %s 完成：输出在 outbox/%s", outcome.run_id, outcome.run_id)


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
