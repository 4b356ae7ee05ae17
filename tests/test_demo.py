"""The demo: a realistic home, four nights run one at a time, every kind of outcome on show."""
from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from stdnum.cn import uscc

from batch.demo import NIGHTS, STAGING, build_demo, plan, run_demo, run_night
from batch.home import Home
from batch.model import CITIES, PERSON_TYPES, FundKind, Product
from batch.pipeline import load_params
from batch.validate import valid_resident_id

OUTPUTS = ("run.json", "对账汇总.xlsx", "代偿补偿资金对账单.xlsx")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """Build once, run night by night, noting what the inbox held after each run."""
    root = tmp_path_factory.mktemp("demo")
    nights = build_demo(root)
    outcomes, left = [], []
    for night in nights:
        outcomes.append(run_night(root, night))
        left.append(sorted(p for p in Home(root).inbox.rglob("*") if p.is_file()))
    return root, nights, outcomes, left


def all_filings(outcomes):
    return [f for run in outcomes for f in run.filings]


def test_reference_is_realistic(demo):
    root, *_ = demo
    params = load_params(Home(root))
    members = params.members.values()
    assert len(params.members) >= 20 and {m.city for m in members} == set(CITIES)
    assert [m.status for m in members].count("暂停") == 1
    assert set().union(*(m.products for m in members)) == set(Product)
    assert all(Decimal(10**8) <= m.net_assets <= Decimal(5 * 10**8) for m in members)
    assert {m.leverage_cap for m in members} == {Decimal(10), Decimal(15)}
    assert len(params.banks) == 5 and all(m.emails for m in members)
    assert all(params.credit_line(m, b, NIGHTS[0]) for m in params.members for b in params.banks)


def test_identifiers_are_valid_except_the_deliberate_one():
    rows = [r for p in plan().plans for r in p.rows.get("new", ())]
    bad = [r for r in rows if not uscc.is_valid(r["borrower_id"])
           and not (r["borrower_type"] in PERSON_TYPES and valid_resident_id(r["borrower_id"]))]
    assert len(bad) == 1
    assert all(r["start_date"] <= p.night for p in plan().plans for r in p.rows.get("new", ()))


def test_the_plan_is_deterministic():
    first, second = plan(7), plan(7)
    assert [(p.name, p.cover, p.rows) for p in first.plans] == \
        [(p.name, p.cover, p.rows) for p in second.plans]
    assert 20 <= len(first.plans) <= 30


def test_every_night_writes_its_outputs(demo):
    root, nights, outcomes, _ = demo
    assert [run.run_date for run in outcomes] == list(NIGHTS)
    for run in outcomes:
        folder = root / "outbox" / run.run_id
        assert all((folder / name).is_file() for name in OUTPUTS)
        receipts = sorted((folder / "回执").glob("*.xlsx"))
        assert len(receipts) == len(run.filings) > 0
        document = json.loads((folder / "run.json").read_text(encoding="utf-8"))
        assert [f["status"] for f in document["files"]] == [f.status for f in run.filings]


def test_the_inbox_is_empty_after_each_night(demo):
    root, nights, outcomes, left = demo
    assert left == [[] for _ in nights]
    assert [len(run.filings) for run in outcomes] == [len(n.files) for n in nights]
    assert not any((root / STAGING).rglob("*.xlsx"))


def test_every_status_appears(demo):
    statuses = {f.status for f in all_filings(demo[2])}
    assert statuses >= {"accepted", "partial", "rejected", "duplicate"}


def test_each_deliberate_mistake_is_caught(demo):
    codes = {i.code for f in all_filings(demo[2]) for rows in f.rows.values()
             for r in rows for i in r.issues if i.is_error}
    assert codes >= {"id.check", "amount.guarantee", "bank.unknown", "member.status",
                     "cap.borrower", "dup.guarantee", "balance.diff"}
    senders = {f.sender for f in all_filings(demo[2])}
    assert None in senders and len(senders) > 3       # staff drops and member folders


def test_the_fund_pays_the_claimed_default_and_gets_its_recovery(demo):
    runs = demo[2]
    paid = next(run for run in runs if any(m.kind is FundKind.CLAIM_PAID for m in run.fund_moves))
    inflows = sum(m.amount for m in paid.fund_moves if m.amount > 0)
    assert paid.fund_closing < paid.fund_opening + inflows
    assert paid.fund_closing == paid.fund_opening + sum(m.amount for m in paid.fund_moves)
    assert paid.totals["compensation_fund"] == Decimal("562500.00")
    assert runs[0].fund_closing == Decimal("223000000.00")
    assert sum(run.totals["recovery_fund"] for run in runs) == Decimal("150000.00")
    assert runs[-1].fund_closing == runs[0].fund_closing - Decimal("562500.00") \
        + Decimal("20000000.00") + Decimal("612350.00") + Decimal("150000.00")


def test_the_correction_reverses_the_earlier_filing(demo):
    filings = all_filings(demo[2])
    correction = next(f for f in filings if f.kind == "更正")
    earlier = next(f for f in filings if f.member_id == correction.member_id
                   and f.period == correction.period and f.kind == "正常")
    assert correction.status == "accepted"
    assert correction.withdrawn == (earlier.filing.sha256,)
    # a run keeps its postings in the ledger, not in memory: count them there
    reversals, originals = ledger_postings(demo[0], correction), ledger_postings(demo[0], earlier)
    reversals = [p for p in reversals if p.reverses]
    assert len(reversals) == len([p for p in originals if p.sign == 1]) > 0
    assert all(p.sign == -1 for p in reversals)


def ledger_postings(root: Path, filing) -> list:
    engine = create_engine(f"sqlite:///{root / 'ledger.db'}")
    with engine.connect() as conn:
        return conn.execute(text("select sign, reverses from postings where filing_sha256 = :sha"),
                            {"sha": filing.filing.sha256}).all()


def test_run_demo_builds_and_runs_everything(tmp_path: Path):
    outcomes = run_demo(tmp_path / "home")
    assert len(outcomes) == len(NIGHTS)
    assert not (tmp_path / "home" / STAGING).exists()
    assert not any(p.is_file() for p in (tmp_path / "home" / "inbox").rglob("*"))
