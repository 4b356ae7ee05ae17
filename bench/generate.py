"""Realistic homes for the benchmarks: a reference workbook, members' filings, optionally a ledger.

Filings follow contract.md: a 封面 and the data sheets with the template's Chinese headers,
valid 统一社会信用代码 / resident ID numbers (demodata.py's helpers), real date cells, amounts as
numbers. A night's mix per filing: ~72% new business, ~20% repayments, ~1.5% defaults with a
claim, ~0.5% recoveries, ~2% balance lines, and about 1% of rows wrong on purpose (a bad check
digit, an unknown 业务编号). Filings are written by the batch's own streamed writer (fastxlsx): the
same .xlsx any reader opens, about 8× faster to make than with xlsxwriter.

Events refer to guarantees the ledger already holds (``existing`` > 0: seeded by ``seed_ledger``)
or, on an empty ledger, to registrations earlier in the same filing.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from batch import schema
from batch.demodata import BANKS, make_uscc, resident_id
from batch.model import CITIES
from batch.reports.fastxlsx import FastBook
from batch.reports.templates import DEFAULT_PRODUCT_RULES, write_reference_template

RUN_DATE = date(2026, 3, 31)
PERIOD = "2026-03"
SEED_START = date(2025, 6, 1)
PRODUCTS = ("BL", "BL", "BL", "ZY", "LD", "YB", "LH", "FD")
BANK_SHARE = {"BL": Decimal("0.2"), "ZY": Decimal("0.2")}
TYPES = ("小型企业", "微型企业", "个体工商户", "农户", "新型农业经营主体")
REGIONS = ("370102", "370202", "370303", "370402", "370502", "370602", "370705", "370811")
FEN = Decimal("0.01")


def member_ids(count: int) -> list[str]:
    return [f"M{n:03d}" for n in range(1, count + 1)]


def write_reference(path: Path, members: int) -> None:
    """Members able to carry a national-scale book: large net assets and credit lines."""
    rows = [{"member_id": m, "member_name": f"{CITIES[i % 16]}第{i + 1}融资担保有限公司",
             "city": CITIES[i % 16], "status": "正常", "admitted": date(2018, 1, 1),
             "net_assets": Decimal("20000000000.00"), "leverage_cap": 15,
             "products": "BL,ZY,LD,YB,LH,FD", "emails": f"{m.lower()}@example.cn"}
            for i, m in enumerate(member_ids(members))]
    credit = [{"member_id": m, "bank_id": b, "amount": Decimal("1000000000000.00"),
               "start": date(2020, 1, 1), "end": date(2030, 12, 31)}
              for m in member_ids(members) for b, _ in BANKS]
    fund = [{"date": date(2025, 1, 1), "kind": "期初余额", "amount": Decimal("223000000.00"),
             "note": "中央及省级财政拨入代偿补偿资金"}]
    write_reference_template(path, data={
        "members": rows, "banks": [{"bank_id": b, "bank_name": n} for b, n in BANKS],
        "credit": credit, "products": DEFAULT_PRODUCT_RULES, "fund": fund})


@dataclass
class Loan:
    """What the generator knows of one registered guarantee."""
    guarantee_id: str
    loan: Decimal
    product: str
    start: date


class Rows:
    """Random but valid rows, reproducible from a seed."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.contract = 0

    def borrower(self) -> dict:
        rng = self.rng
        kind = rng.choice(TYPES)
        region = rng.choice(REGIONS)
        if kind in ("个体工商户", "农户") and rng.random() < 0.5:
            number = resident_id(rng, region)
            name = rng.choice("王李张刘陈杨赵黄周吴") + rng.choice(("建国", "红梅", "志强", "秀英"))
        else:
            number = make_uscc(rng, "92" if kind == "个体工商户" else "91", region)
            name = f"山东{rng.choice(('鑫达', '恒源', '瑞丰', '宏图'))}{number[-6:]}有限公司"
        return {"borrower_name": name, "borrower_id": number, "borrower_type": kind}

    def new(self, gid: str, start: date) -> dict:
        rng = self.rng
        product = rng.choice(PRODUCTS)
        loan = Decimal(rng.randrange(10, 301)) * 10000
        guaranteed = (loan * (1 - BANK_SHARE.get(product, Decimal(0)))).quantize(FEN)
        bank = rng.choice(BANKS)[0]
        self.contract += 1
        row = {"guarantee_id": gid, **self.borrower(), "industry": rng.choice("ACFG"),
               "city": rng.choice(CITIES), "county": "市辖区", "bank_id": bank,
               "loan_contract_no": f"{bank}-{gid}-{self.contract}", "loan_amount": loan,
               "guaranteed_amount": guaranteed, "fee_rate": Decimal("0.015"),
               "start_date": start, "maturity_date": start + timedelta(days=365),
               "product": product, "fund_cover": "是" if product == "BL" else "否"}
        if product == "LH":
            row["reguarantor_share"] = Decimal("0.4")
        if product == "FD":
            row["counter_amount"] = (guaranteed * Decimal("0.3")).quantize(FEN)
        return row

    def seeded(self, member: str, n: int) -> Loan:
        """The n-th guarantee ``seed_ledger`` registered for ``member`` (same formula)."""
        rng = random.Random(f"{member}:{n}")
        return Loan(f"S{member}{n:07d}", Decimal(rng.randrange(10, 301)) * 10000,
                    rng.choice(PRODUCTS), SEED_START + timedelta(days=n % 200))


def filing_rows(gen: Rows, member: str, index: int, count: int, existing: int,
                used: set[int]) -> dict[str, list[dict]]:
    """One filing's sheets: new business first, then events on older or same-filing loans."""
    n_new = max(1, int(count * 0.72))
    n_default, n_recover = max(1, count * 15 // 1000), max(1, count * 5 // 1000)
    n_balance = count * 2 // 100
    n_repay = count - n_new - n_default - n_recover - n_balance
    start = date(2026, 3, 1) + timedelta(days=index % 28)
    new = [gen.new(f"F{index:05d}{member}{i:06d}", start) for i in range(n_new)]
    for row in new[::100]:                                   # ~1%: a wrong check digit
        row["borrower_id"] = row["borrower_id"][:-1] + ("1" if row["borrower_id"][-1] != "1" else "2")
    targets = _targets(gen, member, new, existing, used, n_repay + n_default + n_balance)
    repay = [{"guarantee_id": t.guarantee_id, "date": RUN_DATE - timedelta(days=2),
              "principal": (t.loan * Decimal("0.1")).quantize(FEN), "settled": "否"}
             for t in targets[:n_repay]]
    if repay:
        repay[-1]["guarantee_id"] = f"未知{index}"             # an unknown 业务编号
    defaults = [{"guarantee_id": t.guarantee_id, "date": RUN_DATE - timedelta(days=1),
                 "principal": t.loan, "interest": Decimal("1200.00"), "claim": "是"}
                for t in targets[n_repay:n_repay + n_default]]
    recover = [{"guarantee_id": d["guarantee_id"], "date": RUN_DATE, "amount":
                (d["principal"] * Decimal("0.2")).quantize(FEN), "costs": Decimal("0.00")}
               for d in defaults[:n_recover]]
    balance = [{"guarantee_id": t.guarantee_id, "outstanding": t.loan}
               for t in targets[n_repay + n_default:]]
    return {"new": new, "repay": repay, "default": defaults, "recover": recover,
            "balance": balance}


def _targets(gen: Rows, member: str, new: list[dict], existing: int, used: set[int],
             count: int) -> list[Loan]:
    """Distinct loans for the events: seeded ones when there are, else this filing's own."""
    if existing:
        picks = []
        while len(picks) < count:
            n = gen.rng.randrange(existing)
            if n not in used:
                used.add(n)
                picks.append(gen.seeded(member, n))
        return picks
    ok = [r for i, r in enumerate(new) if i % 100]          # rows with a valid identity
    return [Loan(r["guarantee_id"], r["loan_amount"], r["product"], r["start_date"])
            for r in gen.rng.sample(ok, min(count, len(ok)))]


def write_filing(path: Path, cover: dict, rows: dict[str, list[dict]]) -> None:
    """A member's 业务报送表 with the template's sheets and headers (streamed writer)."""
    book = FastBook(path)
    grid = book.sheet(schema.COVER.name)
    for r, col in enumerate(schema.COVER.columns):
        grid.text(r, 0, col.header, "label")
        grid.text(r, 1, cover.get(col.key, ""), "text")
    grid.finish(header_row=None)
    for sheet in schema.DATA_SHEETS:
        grid = book.sheet(sheet.name)
        grid.header(0, [c.header for c in sheet.columns])
        for r, row in enumerate(rows.get(sheet.key, ()), start=1):
            for c, col in enumerate(sheet.columns):
                _put(grid, r, c, col, row.get(col.key))
        grid.finish(header_row=0)
    book.close()


def _put(grid, r: int, c: int, col: schema.Column, value: object) -> None:
    if value is None:
        return
    if isinstance(value, date):
        grid.day(r, c, value)
    elif col.kind == "money" and isinstance(value, Decimal):
        grid.money(r, c, value)
    elif col.kind == "ratio" and isinstance(value, Decimal):
        grid.number(r, c, value)
    else:
        grid.text(r, c, value, "text" if col.kind == "code" else "")


def write_filings(inbox: Path, members: int, filings: int, rows: int, existing: int,
                  seed: int = 1) -> list[Path]:
    """``filings`` filings of ``rows`` rows each, members taking turns, in inbox/<member>/."""
    gen, ids, used = Rows(seed), member_ids(members), {m: set() for m in member_ids(members)}
    paths = []
    for index in range(filings):
        member = ids[index % len(ids)]
        cover = {"member_id": member, "member_name": f"{member}融资担保有限公司", "period": PERIOD, "kind": "正常",
                 "contact": "王建国", "phone": "0531-6000000", "template_version": "1.0"}
        path = inbox / member / f"{PERIOD}业务报送表_{index:05d}.xlsx"
        path.parent.mkdir(parents=True, exist_ok=True)
        write_filing(path, cover, filing_rows(gen, member, index, rows, existing, used[member]))
        paths.append(path)
    return paths
