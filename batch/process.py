"""One filing against the night's book: whole-file checks, corrections, then row by row.

Rows are taken in sheet order (new business, repayments, defaults, recoveries, balances) and in
row order within a sheet; each accepted row is applied to the book at once, so a later row sees
it (a repayment filed with its own registration works; two rows that together break a cap are
rejected in filing order). New business's checks that need no ledger (``precheck``) may have run
already, beside the reading; their issues come first, in the registry's order, as before.

The stored ledger is met a chunk of rows at a time (``Ledger``): what a chunk will ask of the book
is fetched before it, and a big filing's accepted postings are stored after each chunk but the
last, so a 300,000-row filing holds one chunk of guarantees and postings at a time. Rows see the
same book either way: what was stored is fetched back when a later row asks for it.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Callable, Mapping, Sequence
from decimal import Decimal
from operator import itemgetter

from . import codec, rules
from .fund import Fund
from .ledger import Book
from .model import (Claim, Default, Filing, FundKind, FundMove, Issue, Kind, NewGuarantee, Party,
                    PARTIES, Posting, Recovery, Repayment, Row, Source, Where, any_error,
                    record)
from .money import ZERO
from .outcome import ACCEPTED, PARTIAL, REJECTED, FilingOutcome, RowOutcome
from .params import Params
from .schema import DATA_SHEETS
from . import validate
from .validate import Context, Held

# New-business checks that read no ledger come first in validate's registry: they run beside the
# reading (in a worker process on a big night), the rest here against the book.
PURE_NEW_CHECKS = (validate.check_member_may_register, validate.check_rule,
                   validate.check_product_terms, validate.check_identity,
                   validate.check_borrower_type, validate.check_guaranteed_amount,
                   validate.check_fee_rate, validate.check_dates)
assert validate.NEW_CHECKS[:len(PURE_NEW_CHECKS)] == PURE_NEW_CHECKS, "pure checks come first"
BOOK_NEW_CHECKS = validate.NEW_CHECKS[len(PURE_NEW_CHECKS):]
BY_PARTY = itemgetter(*PARTIES)                  # {party: amount} -> amounts in PARTIES order


@record
class Prechecked:
    """A new-business row's ledger-free verdict and, when it passed, its registration figures
    (shares of the loan and re-guarantee fee): pure, so computed where the row was read.
    A ``record``: one crosses from the worker for every new-business row."""
    issues: tuple[Issue, ...]
    exposures: tuple[Decimal, ...] | None = None     # per party, in PARTIES order
    fee: Decimal | None = None
    detail_json: str | None = None               # the registration as the ledger stores it


def precheck(filing: Filing, params: Params, run_date: date, *,
             with_json: bool = True) -> dict[int, Prechecked]:
    """The pure part of every new-business row's checks, by row index (none if the cover names
    no member: the whole file is rejected then). ``with_json``: also the registration's JSON
    (worth it in a worker; in one process it would only be held longer)."""
    member = params.members.get(filing.cover.member_id) if filing.cover else None
    if member is None:
        return {}
    ctx = Context(params, None, member, run_date)       # type: ignore[arg-type]
    found = {}
    for i, row in enumerate(filing.rows.get("new", ())):
        g = row.record
        if not isinstance(g, NewGuarantee):         # None: a cell issue rejected the row
            continue
        issues = _checked(PURE_NEW_CHECKS, g, ctx)
        rule = ctx.rule(g)
        if rule is None or any_error(issues):
            found[i] = Prechecked(issues)
        else:
            exposures = rules.registration_exposures(g, rule)
            found[i] = Prechecked(issues, BY_PARTY(exposures),
                                  rules.reguarantee_fee(g, rule),
                                  codec.detail_json(g) if with_json else None)
    return found

SHEET_NAMES = {s.key: s.name for s in DATA_SHEETS}
CHECK_FAILED = "本行校验时出现意外错误，本行已退回；请联系再担保公司核查（详情在运行日志中）"
log = logging.getLogger("reguarantee")


def _checked(checks, record, ctx: Context) -> tuple[Issue, ...]:
    """The issues ``checks`` find in one row. A check that fails unexpectedly (a library's bug on
    a strange cell, as python-stdnum's on a line break in an ID) rejects that row, logged in
    full, instead of stopping every member's night: nothing of the row is in the book yet."""
    found: list[Issue] = []
    try:
        for check in checks:       # loops, not tuple(genexpr) nor extend: a third quicker
            for issue in check(record, ctx):
                found.append(issue)  # noqa: PERF402 -- most checks yield nothing
        return tuple(found)
    except Exception:  # noqa: BLE001 -- one odd row must not stop the night
        log.exception("校验 %s 时出现意外错误，本行按退回处理", record.where.render())
        return (Issue("check.failed", record.where, CHECK_FAILED),)


@dataclass
class Night:
    """The working state of one run; only the pipeline creates it, only this module changes it."""
    params: Params
    book: Book
    fund: Fund
    run_date: date
    fund_moves: list[tuple[FundMove, str | None]] = field(default_factory=list)
    claim_changes: list[tuple[Claim, Decimal]] = field(default_factory=list)

    def receive(self, kind: FundKind, amount: Decimal, *, input_key: str | None = None,
                on: date | None = None, member_id: str = "", guarantee_id: str = "",
                source: Source | None = None, note: str = "") -> None:
        self.fund, moves = self.fund.receive(on or self.run_date, kind, amount, member_id=member_id,
                                             guarantee_id=guarantee_id, source=source, note=note)
        self.fund_moves.extend((m, input_key if i == 0 else None) for i, m in enumerate(moves))

    def claim(self, claim: Claim, kind: FundKind = FundKind.CLAIM_PAID) -> None:
        self.fund, moves = self.fund.claim(claim, kind)
        self.fund_moves.extend((m, None) for m in moves)
        self.claim_changes.append((claim, claim.amount))

    def cancel(self, claim_id: str) -> Decimal:
        waiting = self.fund.waiting(claim_id)
        if waiting is None:                        # paid already, or never waited
            return ZERO
        self.fund, rest = self.fund.cancel(claim_id)
        self.claim_changes.append((waiting, -rest))
        return rest

    def checkpoint(self) -> tuple:
        return self.fund, len(self.fund_moves), len(self.claim_changes)

    def rollback(self, point: tuple) -> None:
        self.fund, moves, changes = point
        del self.fund_moves[moves:], self.claim_changes[changes:]


def _reject(filing: Filing, path: str, sender: str | None, issues: list[Issue],
            member_name: str = "") -> FilingOutcome:
    """The whole file goes back: every row says so, pointing at the reason on the summary."""
    cover = filing.cover
    reason = "；".join(i.message for i in issues if i.is_error)
    whole = lambda r: Issue("file.rejected", r.where, f"整个文件被退回，本行未处理：{reason}")
    return FilingOutcome(path=path, filing=filing, sender=sender,
                         member_id=cover.member_id if cover else (sender or ""),
                         member_name=member_name or (cover.member_name if cover else ""),
                         period=cover.period if cover else "", kind=cover.kind if cover else "",
                         status=REJECTED, issues=tuple(issues),
                         rows={k: tuple(RowOutcome(r, (*r.issues, whole(r))) for r in rows)
                               for k, rows in filing.rows.items()})


def whole_file_issues(filing: Filing, sender: str | None, night: Night) -> list[Issue]:
    """Checks that reject a file outright: unreadable, unknown member, filing for another."""
    issues = [i for i in filing.issues if i.is_error]
    if issues or filing.cover is None:
        return issues or [Issue("cover.missing", Where(filing.name), "无法读取封面")]
    cover, where = filing.cover, Where(filing.name, "封面")
    member = night.params.members.get(cover.member_id)
    if sender is not None and sender != cover.member_id:
        issues.append(Issue("member.sender", where, f"封面机构编号「{cover.member_id}」与报送来源"
                            f"「{sender}」不一致；每家机构只能报送本机构的业务"))
    elif member is None:
        issues.append(Issue("member.unknown", where,
                            f"机构编号「{cover.member_id}」不是体系成员，请核对封面"))
    elif member.admitted > night.run_date:
        issues.append(Issue("member.not_admitted", where, f"机构准入日期为 {member.admitted}，尚未准入"))
    return issues


CHUNK_ROWS = 20_000     # rows checked between two stores of a big filing: memory stays flat


@dataclass(frozen=True)
class Ledger:
    """How a filing meets the stored ledger while it is checked (none: a book held in memory):
    ``fetch(member_id, rows)`` loads what some rows will ask of the book, a chunk at a time;
    ``store(postings)`` stores accepted postings before the filing ends and lets go of what the
    book held for them, so a 300,000-row filing costs what one chunk does."""
    fetch: Callable[[str, Sequence[tuple[str, int, Row]]], None] = lambda member_id, rows: None
    store: Callable[[list[Posting]], None] | None = None


def process_filing(filing: Filing, path: str, sender: str | None, night: Night,
                   prechecked: Mapping[int, Prechecked] | None = None,
                   ledger: Ledger = Ledger()) -> FilingOutcome:
    issues = whole_file_issues(filing, sender, night)
    if issues:
        return _reject(filing, path, sender, issues)
    cover = filing.cover
    assert cover is not None, "whole_file_issues rejects a filing without a cover"
    member = night.params.members[cover.member_id]
    point = night.checkpoint()
    period_key = (member.member_id, cover.period)
    earlier = list(night.book.filings_by_period.get(period_key, []))
    withdrawn = earlier if cover.kind == "更正" else []
    reversals = reverse_period(member.member_id, cover.period, night) if withdrawn else []
    ctx = Context(night.params, night.book, member, night.run_date)
    postings: list[Posting] = []
    outcomes: dict[str, list[RowOutcome]] = {sheet.key: [] for sheet in DATA_SHEETS}
    pre = prechecked or {}
    # A correction is never stored early: rejected whole, everything it did is undone.
    early = ledger.store if cover.kind != "更正" else None
    rows = [(sheet.key, i, row) for sheet in DATA_SHEETS
            for i, row in enumerate(filing.rows.get(sheet.key, ()))]
    for start in range(0, len(rows), CHUNK_ROWS):
        chunk = rows[start:start + CHUNK_ROWS]
        ledger.fetch(member.member_id, chunk)
        for key, i, row in chunk:
            outcomes[key].append(_row(key, row, ctx, filing, cover.period, night, postings,
                                      pre.get(i) if key == "new" else None, early is None))
        if early is not None and start + CHUNK_ROWS < len(rows):
            early(postings)
            postings = []
    outcome_rows = {key: tuple(found) for key, found in outcomes.items()}
    status = _status(outcome_rows)
    if status == REJECTED and reversals:
        # A correction with nothing acceptable withdraws nothing: undo tonight's work on it.
        night.book.undo(reversals + postings)
        night.rollback(point)
        night.book.filings_by_period[period_key] = earlier
        postings, reversals, withdrawn = [], [], []
    if status != REJECTED:
        night.book.filings_by_period.setdefault(period_key, []).append(filing.sha256)
    return FilingOutcome(path=path, filing=filing, sender=sender, member_id=member.member_id,
                         member_name=member.name, period=cover.period, kind=cover.kind,
                         status=status, rows=outcome_rows, postings=tuple(postings),
                         reversals=tuple(reversals), withdrawn=tuple(withdrawn),
                         issues=tuple(filing.issues) + tuple(_leverage_warning(member, night, filing)))


def _status(outcomes) -> str:
    rows = [r for rs in outcomes.values() for r in rs]
    accepted = sum(1 for r in rows if r.accepted)
    if accepted == len(rows):
        return ACCEPTED
    return REJECTED if accepted == 0 else PARTIAL


def _leverage_warning(member, night: Night, filing: Filing) -> list[Issue]:
    cap = member.net_assets * member.leverage_cap
    used = night.book.member_liability(member.member_id)
    if cap > 0 and used >= cap * night.params.settings.leverage_warning:
        return [Issue("leverage.warning", Where(filing.name), f"融资担保责任余额 {used:,.2f}元 已达放大倍数"
                      f"上限的 {used / cap:.1%}，接近上限 {cap:,.2f}元", "warning")]
    return []


def _row(sheet: str, row, ctx: Context, filing: Filing, period: str, night: Night,
         postings: list[Posting], pre: Prechecked | None = None,
         undoable: bool = True) -> RowOutcome:
    """One row checked and, when accepted, posted to the book (``undoable``: remembered by its
    filing, which a correction rejected whole needs to undo it)."""
    if row.record is None:
        return RowOutcome(row, row.issues)
    if pre is None:
        issues = _checked(validate.CHECKS[sheet], row.record, ctx)
    else:
        issues = _checked(BOOK_NEW_CHECKS, row.record, ctx)
        if pre.issues:
            issues = pre.issues + issues
    if row.issues:                       # most rows have none: no tuples to join then
        issues = tuple(row.issues) + issues
    if sheet == "balance" or any_error(issues):
        return RowOutcome(row, issues)
    source = filing.source(row.where)
    posting, note = POSTERS[sheet](row.record, ctx, source, period, pre)
    night.book.apply(posting, record=undoable)
    fund_effects(posting, night)
    postings.append(posting)
    return RowOutcome(row, issues, posting.shares,
                      posting.fee if posting.kind is Kind.REGISTER else None, note)


# ---- one accepted row -> one posting ------------------------------------------------------

def _post_new(g: NewGuarantee, ctx: Context, source: Source, period: str,
              pre: Prechecked | None = None) -> tuple[Posting, str]:
    if pre is not None and pre.exposures is not None and pre.fee is not None:   # set together
        exposures, fee = dict(zip(PARTIES, pre.exposures)), pre.fee
    else:
        rule = ctx.rule(g)
        assert rule is not None, "the row's checks passed: its product has a rule on its date"
        exposures, fee = rules.registration_exposures(g, rule), rules.reguarantee_fee(g, rule)
    return registration(g, ctx.member.member_id, source, period, exposures, fee), ""


def registration(g: NewGuarantee, member_id: str, source: Source, period: str,
                 exposures: Mapping[Party, Decimal], fee: Decimal) -> Posting:
    """The posting an accepted new loan makes: here, and in the worker that read the row,
    which draws its 明细 line from the row and its verdict (``work.registration_lines``)."""
    return Posting(Kind.REGISTER, member_id, g.guarantee_id, g.start_date, source,
                   g.loan_amount, exposures, fee=fee, detail=g, period=period)


def _held(ctx: Context, guarantee_id: str) -> Held:
    """The guarantee an accepted repayment, default or recovery names: its checks found it."""
    g = ctx.book.guarantee(ctx.member.member_id, guarantee_id)
    assert g is not None, "an accepted event row names a guarantee the ledger holds"
    return g


def _post_repay(e: Repayment, ctx: Context, source: Source, period: str,
                _pre=None) -> tuple[Posting, str]:
    g = _held(ctx, e.guarantee_id)
    settled = e.settled or e.principal == g.outstanding
    return Posting(Kind.REPAY, ctx.member.member_id, e.guarantee_id, e.date, source, e.principal,
                   dict.fromkeys(PARTIES, ZERO), settled=settled, period=period), \
        "已结清解保" if settled else ""


def _post_default(e: Default, ctx: Context, source: Source, period: str,
                  _pre=None) -> tuple[Posting, str]:
    g = _held(ctx, e.guarantee_id)
    detail = g.detail
    assert detail is not None, "a guarantee the ledger holds is registered"
    rule = ctx.params.rule(detail.product, detail.start_date)
    assert rule is not None, "the rule its registration was checked against"
    rate = ctx.book.compensation_rate(ctx.member.member_id, detail.product.value)
    within = rule.compensation_ceiling is None or rate is None or rate <= rule.compensation_ceiling
    counter_left = (detail.counter_amount or ZERO) - g.bore[Party.REGUARANTOR]
    shares = rules.default_split(detail, rule, e.principal, claim=e.claim, within_ceiling=within,
                                 counter_left=counter_left)
    note = "未申请补偿，损失由担保机构承担" if not e.claim else (
        "" if within else f"代偿率 {rate:.2%} 已超过上限 {rule.compensation_ceiling:.2%}，"
                          "再担保和补偿基金不再分担，由担保机构承担")
    return Posting(Kind.DEFAULT, ctx.member.member_id, e.guarantee_id, e.date, source, e.principal,
                   shares, interest=e.interest, claimed=e.claim and within, period=period), note


def _post_recover(e: Recovery, ctx: Context, source: Source, period: str,
                  _pre=None) -> tuple[Posting, str]:
    g = _held(ctx, e.guarantee_id)
    net = e.amount - e.costs
    shares = rules.recovery_split(net, g.bore)
    return Posting(Kind.RECOVER, ctx.member.member_id, e.guarantee_id, e.date, source, net,
                   shares, gross=e.amount, period=period), ""


# Each takes its own sheet's record, which a dict's type cannot say: hence the ``...``.
POSTERS: dict[str, Callable[..., tuple[Posting, str]]] = {
    "new": _post_new, "repay": _post_repay, "default": _post_default, "recover": _post_recover}


# ---- the fund and corrections ------------------------------------------------------------

def fund_effects(posting: Posting, night: Night) -> None:
    """What a posting (or its reversal) moves in the fund account."""
    if posting.kind is not Kind.DEFAULT and posting.kind is not Kind.RECOVER:
        return
    share = posting.shares.get(Party.FUND, ZERO)
    if share == 0:
        return
    member_id, guarantee_id, source = posting.member_id, posting.guarantee_id, posting.source
    if posting.kind is Kind.DEFAULT and posting.sign > 0:
        night.claim(Claim(posting.key, night.run_date, member_id, guarantee_id, share, share,
                          source))
    elif posting.kind is Kind.RECOVER and posting.sign > 0:
        night.receive(FundKind.RECOVERY, share, source=source, member_id=member_id,
                      guarantee_id=guarantee_id)
    elif posting.kind is Kind.DEFAULT:
        unpaid = night.cancel(posting.reverses)
        if share - unpaid > 0:
            night.receive(FundKind.REVERSAL, share - unpaid, source=source, member_id=member_id,
                          guarantee_id=guarantee_id, note="更正撤销代偿，已付补偿冲回")
    else:
        night.claim(Claim(posting.key, night.run_date, member_id, guarantee_id, share, share,
                          source), FundKind.REVERSAL)


def reverse_period(member_id: str, period: str, night: Night) -> list[Posting]:
    """Withdraw every earlier accepted filing of this member and period, newest row first."""
    reversals: list[Posting] = []
    for sha in night.book.filings_by_period.pop((member_id, period), []):
        originals = [p for p in night.book.postings_by_source.get(sha, []) if p.sign > 0]
        for original in reversed(originals):
            mirror = replace(original, sign=-1, reverses=original.key)
            night.book.apply(mirror)
            fund_effects(mirror, night)
            reversals.append(mirror)
    return reversals


ISSUE_CODES = {
    "check.failed": "本行校验时出现意外错误（程序问题，已记入运行日志），本行退回",
    "file.rejected": "整个文件被退回（原因见回执汇总页），该行未处理",
    "member.sender": "封面机构编号与报送来源（收件箱子目录或发件邮箱）不一致",
    "member.unknown": "封面机构编号不是体系成员",
    "member.not_admitted": "机构尚未准入",
    "leverage.warning": "（提示）融资担保放大倍数已达上限的预警比例（默认 90%）",
}
