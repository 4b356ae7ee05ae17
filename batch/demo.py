"""The demo home: four March nights of filings from Shandong members, run one night at a time.

``build_demo`` writes 基础数据 (22 members in the 16 cities, 5 banks, credit lines, the default
product rules, the fund) and each night's filings into ``demo-staging/<date>/``; ``run_demo``
moves a night's files into the inbox just before its run. One ``random.Random(seed)`` drives
everything. The story follows examples.md (the article's 375万元 loan defaults with fund cover and
is partly recovered); a few rows and files are wrong on purpose so that every receipt kind appears.
"""
from __future__ import annotations

import itertools
import os
import random
import shutil
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import NamedTuple

from . import pipeline
from .demodata import (BANK_CODES, BANKS, OPENING, PLACES, SUSPENDED, People, credit_lines,
                       make_uscc, members, write_reference, yuan)
from .home import Home
from .model import BORROWER_TYPES
from .money import round_fen
from .outcome import RunOutcome
from .reports.templates import DEFAULT_PRODUCT_RULES, write_filing_template
from .setup import write_templates

STAGING = "demo-staging"
RUN_AT = time(2, 0)
NIGHTS = (OPENING, date(2026, 3, 9), date(2026, 3, 16), date(2026, 3, 23))
FEBRUARY = (date(2026, 2, 2), date(2026, 2, 27))
UNKNOWN_BANK = "B08"
RULES = {r["product"]: r for r in DEFAULT_PRODUCT_RULES}
LOAN_WAN = {"BL": (30, 480), "ZY": (100, 1000), "LD": (100, 800), "YB": (100, 800),
            "LH": (50, 600), "FD": (100, 800)}
PART_REPAID = ("0.1", "0.2", "0.25", "0.5")
FEE_RATES = ("0.010", "0.012", "0.015", "0.015", "0.017", "0.018", "0.020")


class Night(NamedTuple):
    run_date: date
    files: list[Path]


@dataclass
class Loan:
    """What the demo expects the ledger to hold for one accepted registration."""
    member_id: str
    row: dict
    outstanding: Decimal

    @property
    def key(self) -> tuple[str, str]:
        return self.member_id, self.row["guarantee_id"]


@dataclass
class Plan:
    """One filing to write: its inbox path, cover and rows (or the bytes of an earlier plan)."""
    night: date
    name: str
    cover: dict
    rows: dict = field(default_factory=dict)
    copy_of: "Plan | None" = None


def add_months(start: date, months: int) -> date:
    year, month = divmod(start.month - 1 + months, 12)
    return date(start.year + year, month + 1, min(start.day, 28))


# ---- the business -----------------------------------------------------------------------

class Demo:
    """The demo's own idea of the ledger, so every filed event refers to real, open business."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.members = {m["member_id"]: m for m in members(self.rng)}
        self.credit = credit_lines(self.rng, list(self.members.values()))
        self.loans: dict[tuple[str, str], Loan] = {}
        self.frozen: set[tuple[str, str]] = set()      # kept for a scripted event
        self.seq: dict[str, int] = {}
        self.people = People(self.rng)
        self.contracts = itertools.count(101)
        self.plans: list[Plan] = []
        self.article: Loan | None = None            # the article's loan: defaults, then recovers
        self.near_cap: dict = {}                    # a borrower at 400万 of the 500万 BL cap
        self.earlier: dict[str, Plan] = {}          # filings re-sent or corrected later

    def new_row(self, member_id: str, on: date, product: str, *, borrower: dict | None = None,
                loan: Decimal | None = None, commit: bool = True, **fixed: object) -> dict:
        rng, member = self.rng, self.members[member_id]
        types = RULES[product]["borrower_types"] or BORROWER_TYPES
        assert isinstance(types, tuple)     # the default rules hold them as a tuple of names
        borrower = borrower or self.people.borrower(member["city"], rng.choice(types))
        low, high = LOAN_WAN[product]
        loan = loan or yuan(rng.randrange(low, high + 1, 5))
        self.seq[member_id] = self.seq.get(member_id, 0) + 1
        bank_id = rng.choice(BANKS)[0]
        row = borrower | {
            "guarantee_id": f"DB{on:%Y%m}{self.seq[member_id]:04d}", "bank_id": bank_id,
            "loan_contract_no": f"{BANK_CODES[bank_id]}{on:%Y}{next(self.contracts):06d}",
            "fee_rate": Decimal(rng.choice(FEE_RATES)), "start_date": on,
            "maturity_date": add_months(on, rng.choice((12, 12, 12, 24, 36))), "product": product}
        row |= amounts(product, loan, rng) | fixed
        if commit:
            self.commit(member_id, row)
        return row

    def commit(self, member_id: str, row: dict) -> None:
        loan = Loan(member_id, row, row["loan_amount"])
        self.loans[loan.key] = loan

    def new_rows(self, member_id: str, window: tuple[date, date], count: int, *extra: dict,
                 commit: bool = True) -> list[dict]:
        """``count`` new loans, every authorised product at least once, plus ``extra`` rows."""
        products = self.members[member_id]["products"].split(",")
        chosen = products + [self.rng.choice(products) for _ in range(count - len(products))]
        rows = [self.new_row(member_id, self.day(window), p, commit=commit) for p in chosen]
        return sorted(rows + list(extra), key=lambda r: (r["start_date"], r["guarantee_id"]))

    def day(self, window: tuple[date, date]) -> date:
        first, last = window
        return first + timedelta(days=self.rng.randint(0, (last - first).days))

    def open_loans(self, member_id: str, before: date) -> list[Loan]:
        return [l for l in self.loans.values() if l.member_id == member_id and l.outstanding > 0
                and l.row["start_date"] < before and l.key not in self.frozen]

    def repayments(self, member_id: str, window: tuple[date, date], count: int) -> list[dict]:
        loans = self.open_loans(member_id, window[0])
        chosen, rows = self.rng.sample(loans, min(count, len(loans))), []
        for n, loan in enumerate(chosen):
            settled = n == 0
            share = Decimal(1) if settled else Decimal(self.rng.choice(PART_REPAID))
            part = round_fen(loan.outstanding * share)
            loan.outstanding -= part
            rows.append({"guarantee_id": loan.row["guarantee_id"], "date": self.day(window),
                         "principal": part, "settled": "是" if settled else "否"})
        return sorted(rows, key=lambda r: (r["date"], r["guarantee_id"]))

    def default(self, loan: Loan, on: date, principal: Decimal, claim: bool) -> dict:
        loan.outstanding -= principal
        interest = round_fen(principal * Decimal("0.0435") * 30 / 360)
        return {"guarantee_id": loan.row["guarantee_id"], "date": on, "principal": principal,
                "interest": interest, "claim": "是" if claim else "否"}

    def balances(self, member_id: str) -> list[dict]:
        return [{"guarantee_id": l.row["guarantee_id"], "outstanding": l.outstanding}
                for l in sorted(self.loans.values(), key=lambda l: l.row["guarantee_id"])
                if l.member_id == member_id and l.outstanding > 0]

    def file(self, night: date, member_id: str, period: str, rows: dict, *, kind: str = "正常",
             folder: bool = True, name: str = "") -> Plan:
        member = self.members[member_id]
        cover = {"member_id": member_id, "member_name": member["member_name"], "period": period,
                 "kind": kind, "contact": self.people.person(),
                 "phone": f"{PLACES[member['city']][1]}-{self.rng.randint(6000000, 8999999)}"}
        name = name or f"{period}业务报送表{'（更正）' if kind == '更正' else ''}_{night:%m%d}.xlsx"
        plan = Plan(night, f"{member_id}/{name}" if folder else f"{member_id}_{name}", cover,
                    {k: v for k, v in rows.items() if v})
        self.plans.append(plan)
        return plan


def amounts(product: str, loan: Decimal, rng: random.Random) -> dict:
    """Guarantee and product terms: BL/ZY the loan less the bank's share, exactly."""
    bank = bank_share(product)
    guaranteed = round_fen(loan * (1 - bank)) if product in ("BL", "ZY", "FD") else loan
    terms: dict[str, object] = {"loan_amount": loan, "guaranteed_amount": guaranteed}
    if product == "BL":
        terms["fund_cover"] = "是" if rng.random() < 0.8 else "否"
    if product == "LH":
        terms["reguarantor_share"] = Decimal(rng.choice(("0.3", "0.4", "0.5")))
    if product == "FD":
        terms["counter_amount"] = round_fen(guaranteed * Decimal(rng.choice(("0.3", "0.4", "0.5"))))
    return terms


def bank_share(product: str) -> Decimal:
    """The bank's share of a product's default rule, typed (the rules are dicts of objects)."""
    share = RULES[product]["bank"]
    assert isinstance(share, Decimal)
    return share


def windows(index: int) -> tuple[date, date]:
    return FEBRUARY if index == 0 else (NIGHTS[index - 1], NIGHTS[index] - timedelta(days=1))


# ---- the four nights --------------------------------------------------------------------

def night_one(d: Demo) -> None:
    """February's business: the article's 375万元 loan, a borrower near the BL cap, two bad rows."""
    night, period, rng = NIGHTS[0], "2026-02", d.rng
    qiju = {"borrower_name": "济南齐聚新型建材有限公司", "borrower_type": "小型企业",
            "borrower_id": make_uscc(rng, "91", "370102"), "industry": "C", "city": "济南市",
            "county": "历下区"}
    article = d.new_row("M001", date(2026, 2, 6), "BL", borrower=qiju, loan=yuan(375),
                        bank_id="B01", fee_rate=Decimal("0.017"), fund_cover="是",
                        maturity_date=date(2027, 2, 6))
    d.article = d.loans["M001", article["guarantee_id"]]
    d.near_cap = d.people.borrower("济南市", "小型企业")
    near_cap = d.new_row("M001", date(2026, 2, 12), "BL", borrower=d.near_cap, loan=yuan(400))
    d.frozen |= {("M001", article["guarantee_id"]), ("M001", near_cap["guarantee_id"])}
    d.file(night, "M001", period, {"new": d.new_rows("M001", FEBRUARY, 24, article, near_cap)})
    bad_id = d.new_row("M002", d.day(FEBRUARY), "BL", commit=False)
    typo = "1" if bad_id["borrower_id"][-1] != "1" else "2"       # a wrong check digit
    bad_id["borrower_id"] = bad_id["borrower_id"][:-1] + typo
    d.earlier["M002"] = d.file(night, "M002", period,
                               {"new": d.new_rows("M002", FEBRUARY, 26, bad_id)})
    d.file(night, "M003", period, {"new": d.new_rows("M003", FEBRUARY, 22),
                                   "balance": d.balances("M003")})
    not_80 = d.new_row("M004", d.day(FEBRUARY), "BL", loan=yuan(200), commit=False,
                       guaranteed_amount=yuan(150))
    d.file(night, "M004", period, {"new": d.new_rows("M004", FEBRUARY, 28, not_80)}, folder=False)
    d.earlier["M005"] = d.file(night, "M005", period, {"new": d.new_rows("M005", FEBRUARY, 20)})
    d.frozen |= {l.key for l in d.loans.values() if l.member_id == "M005"}
    for member_id in ("M006", "M007", "M009"):
        rows = {"new": d.new_rows(member_id, FEBRUARY, rng.randint(20, 32))}
        d.file(night, member_id, period, rows, folder=member_id != "M007")


def weekly(d: Demo, index: int, member_id: str, *, new: int, repay: int, extra: tuple = (),
           **sheets: list) -> dict:
    """A March weekly filing's sheets: new business, repayments on earlier loans, and more."""
    window = windows(index)
    return {"new": d.new_rows(member_id, window, new, *extra),
            "repay": d.repayments(member_id, window, repay)} | sheets


def night_two(d: Demo) -> None:
    """The article's loan defaults with fund cover; an unknown bank, the cap, a suspended member."""
    night, period, rng = NIGHTS[1], "2026-03", d.rng
    article = d.article
    assert article is not None              # night_one files it
    default = d.default(article, date(2026, 3, 5), article.outstanding, claim=True)
    d.file(night, "M001", period, weekly(d, 1, "M001", new=18, repay=5, default=[default]))
    unknown = d.new_row("M003", d.day(windows(1)), "ZY", commit=False, bank_id=UNKNOWN_BANK)
    d.file(night, "M003", period, weekly(d, 1, "M003", new=16, repay=4, extra=(unknown,)),
           folder=False)
    over_cap = d.new_row("M006", d.day(windows(1)), "BL", borrower=d.near_cap, loan=yuan(150),
                         commit=False)
    d.file(night, "M006", period, weekly(d, 1, "M006", new=20, repay=6, extra=(over_cap,)))
    for member_id in ("M008", "M010", "M012"):
        d.file(night, member_id, period, weekly(d, 1, member_id, new=rng.randint(18, 30), repay=3),
               folder=member_id != "M010")
    d.file(night, SUSPENDED, period, {"new": d.new_rows(SUSPENDED, windows(1), 20, commit=False)})
    original = d.earlier["M002"]
    d.plans.append(Plan(night, "M002_2026-02业务报送表（重发）.xlsx", original.cover,
                        copy_of=original))


def night_three(d: Demo) -> None:
    """A default without a claim, a duplicate 业务编号, a balance difference, M005's correction."""
    night, period, window = NIGHTS[2], "2026-03", windows(2)
    loans = d.open_loans("M002", window[0])
    target = next((l for l in loans if l.row["product"] != "BL"), loans[0])
    d.frozen.add(target.key)
    default = d.default(target, d.day(window), round_fen(target.outstanding * Decimal("0.6")),
                        claim=False)
    d.file(night, "M002", period, weekly(d, 2, "M002", new=15, repay=4, default=[default]))
    taken = next(l.row["guarantee_id"] for l in d.loans.values() if l.member_id == "M003")
    duplicate = d.new_row("M003", d.day(window), "BL", commit=False, guarantee_id=taken)
    d.file(night, "M003", period, weekly(d, 2, "M003", new=17, repay=5, extra=(duplicate,)))
    d.file(night, "M004", period, weekly(d, 2, "M004", new=22, repay=5), folder=False)
    sheets = weekly(d, 2, "M007", new=14, repay=4)
    balances = d.balances("M007")[:20]
    balances[0] = balances[0] | {"outstanding": balances[0]["outstanding"] + yuan(5)}
    d.file(night, "M007", period, sheets | {"balance": balances})
    d.file(night, "M011", period, weekly(d, 2, "M011", new=25, repay=0), folder=False)
    correct_february(d, night)


def correct_february(d: Demo, night: date) -> None:
    """M005 restates February: one loan was 20万元 larger, the last row should not have been filed."""
    rows = [dict(r) for r in d.earlier["M005"].rows["new"][:-1]]
    first = rows[0]
    loan = first["loan_amount"] + yuan(20)
    share = 1 - bank_share(first["product"]) if first["product"] in ("BL", "ZY", "FD") else 1
    first |= {"loan_amount": loan, "guaranteed_amount": round_fen(loan * share)}
    for key in [k for k in d.loans if k[0] == "M005" and d.loans[k].row["start_date"] < NIGHTS[0]]:
        del d.loans[key]
        d.frozen.discard(key)
    for row in rows:
        d.commit("M005", row)
    d.file(night, "M005", "2026-02", {"new": rows}, kind="更正")


def night_four(d: Demo) -> None:
    """Money back on the article's loan, a claimed LD default, balances that agree."""
    night, period, window = NIGHTS[3], "2026-03", windows(3)
    assert d.article is not None            # night_one files it
    recovery = {"guarantee_id": d.article.row["guarantee_id"], "date": date(2026, 3, 18),
                "amount": yuan(100), "costs": yuan(0)}
    d.file(night, "M001", period, weekly(d, 3, "M001", new=16, repay=5, recover=[recovery]))
    loans = d.open_loans("M004", window[0])
    target = next((l for l in loans if l.row["product"] == "LD"), loans[-1])
    d.frozen.add(target.key)
    default = d.default(target, d.day(window), target.outstanding, claim=True)
    d.file(night, "M004", period, weekly(d, 3, "M004", new=15, repay=4, default=[default]))
    d.file(night, "M005", period, weekly(d, 3, "M005", new=18, repay=4))
    sheets = weekly(d, 3, "M006", new=12, repay=4)
    d.file(night, "M006", period, sheets | {"balance": d.balances("M006")}, folder=False)
    d.file(night, "M013", period, weekly(d, 3, "M013", new=24, repay=0))


SCRIPT = (night_one, night_two, night_three, night_four)


# ---- writing, staging, running ------------------------------------------------------------

def staging(root: Path, night: date) -> Path:
    return root / STAGING / night.isoformat()


def write_plans(root: Path, plans: list[Plan]) -> list[Night]:
    written: dict[int, Path] = {}
    nights: dict[date, list[Path]] = {n: [] for n in NIGHTS}
    for plan in plans:
        path = staging(root, plan.night) / plan.name
        path.parent.mkdir(parents=True, exist_ok=True)
        if plan.copy_of is not None:
            shutil.copyfile(written[id(plan.copy_of)], path)
        else:
            write_filing_template(path, banks=BANKS, cover=plan.cover, rows=plan.rows)
        written[id(plan)] = path
        nights[plan.night].append(path)
    return [Night(n, files) for n, files in nights.items()]


def plan(seed: int = 7) -> Demo:
    """The whole story as data: members, then each night's filings, nothing written yet."""
    demo = Demo(seed)
    for night in SCRIPT:
        night(demo)
    return demo


def build_demo(root: Path, *, seed: int = 7) -> list[Night]:
    """A demo home with its reference workbook and templates; the filings wait in demo-staging/."""
    home, demo = Home(root), plan(seed)
    home.make_folders()
    write_reference(home, list(demo.members.values()), demo.credit)
    write_templates(home, BANKS)
    return write_plans(root, demo.plans)


def stage_night(root: Path, night: Night) -> list[Path]:
    """Move one night's filings into the inbox, dated the evening before in filing order."""
    home, evening = Home(root), datetime.combine(night.run_date - timedelta(days=1), time(18, 0))
    placed = []
    for n, path in enumerate(night.files):
        target = home.inbox / path.relative_to(staging(root, night.run_date))
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(path), str(target))
        stamp = (evening + timedelta(minutes=7 * n)).timestamp()
        os.utime(target, (stamp, stamp))
        placed.append(target)
    for folder in sorted(staging(root, night.run_date).glob("**/"), reverse=True):
        folder.rmdir()
    return placed


def run_night(root: Path, night: Night) -> RunOutcome:
    """Stage one night and run it on a clock reading run_date 02:00, a second later each call."""
    stage_night(root, night)
    ticks, start = itertools.count(), datetime.combine(night.run_date, RUN_AT)
    outcome = pipeline.run_once(Home(root), night.run_date,
                                clock=lambda: start + timedelta(seconds=next(ticks)),
                                options=pipeline.Options(settle_seconds=0))
    assert isinstance(outcome, RunOutcome)  # its filings are in the inbox, so it is a run
    return outcome


def run_demo(root: Path, *, seed: int = 7) -> list[RunOutcome]:
    """Build the demo home in ``root`` and run its nights in order, each on its own filings."""
    outcomes = [run_night(root, night) for night in build_demo(root, seed=seed)]
    (root / STAGING).rmdir()
    return outcomes
