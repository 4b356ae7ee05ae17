"""Properties that must hold for any input, checked on inputs hypothesis makes up.

- Money: an allocation's parts sum exactly to the whole, each within a fen of its exact share, and
  a negative total splits as the mirror of the positive one; the fund never goes negative and its
  balance is always the opening plus every movement.
- The reader: random bytes, truncated and bit-flipped workbooks never raise; it answers with
  documented codes. Its pre-flight extent of a sheet agrees with what calamine then builds.
- A night: random filings (valid rows with random amounts, some cells replaced by hostile values)
  run through pipeline.run_once: nothing crashes, every input file is in run.json exactly once and
  sits, unchanged, where run.json says; every accepted row's shares sum to its amount on the
  receipt; the totals are the sums of those rows and the fund balance identity holds.
"""
from __future__ import annotations

import hashlib
import io
import json
import math
import shutil
import tempfile
import zipfile
from dataclasses import fields
from datetime import date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import builders
import openpyxl
import xlsxwriter
from fixtures.hostile import make_hostile as hostile
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from openpyxl import Workbook
from python_calamine import CalamineWorkbook

from batch import codec, guard, sheetreach
from batch.home import Home
from batch.fund import Fund
from batch.model import Claim, FundKind, NewGuarantee, Product, Where
from batch.money import FEN, ZERO, allocate, parse_yuan, round_fen
from batch.pipeline import Options, run_once
from batch.read import ISSUE_CODES, read_filing
from batch.schema import DEFAULT, NEW, RECEIPT_SHARES, RECOVER

FIXTURES = Path(__file__).parent / "fixtures"
LO_HOME = FIXTURES / "lo_home"
FAST = settings(deadline=None, max_examples=60)
SLOW = settings(deadline=None, max_examples=25, suppress_health_check=[HealthCheck.too_slow])

fen_amounts = st.integers(min_value=0, max_value=10**13).map(lambda n: Decimal(n) * FEN)


# ---- money -------------------------------------------------------------------------------

@FAST
@given(total=fen_amounts, first=st.fractions(min_value=Fraction(1, 1000), max_value=10),
       rest=st.lists(st.fractions(min_value=0, max_value=10), max_size=5), negative=st.booleans())
def test_allocation_is_exact(total, first, rest, negative):
    weights = [first, *rest]
    keys = list(range(len(weights)))
    total = -total if negative else total
    parts = allocate(total, dict(zip(keys, weights)), keys[::-1])
    assert sum(parts.values(), ZERO) == total
    whole = sum(weights, Fraction(0))
    for k, w in zip(keys, weights):
        exact = Fraction(total) * w / whole
        assert abs(Fraction(parts[k]) - exact) < Fraction(1, 100)
        assert parts[k] == parts[k].quantize(FEN)
    if negative:
        assert parts == {k: -v for k, v in allocate(-total, dict(zip(keys, weights)),
                                                    keys[::-1]).items()}


def largest_remainder(total: Decimal, weights: dict, tie_order) -> dict:
    """The allocation rule spelled out in exact fractions, as plainly as it reads."""
    if total < 0:
        return {k: -v for k, v in largest_remainder(-total, weights, tie_order).items()}
    fen = int(total.quantize(FEN) / FEN)
    whole = sum(map(Fraction, weights.values()), Fraction(0))
    exact = {k: fen * Fraction(w) / whole for k, w in weights.items()}
    parts = {k: math.floor(x) for k, x in exact.items()}
    rank = {k: i for i, k in enumerate(tie_order)}
    in_order = list(weights)
    by_remainder = sorted(weights, key=lambda k: (parts[k] - exact[k], rank.get(k, len(rank)),
                                                  in_order.index(k)))
    for k in by_remainder[:fen - sum(parts.values())]:
        parts[k] += 1
    return {k: Decimal(n).scaleb(-2) for k, n in parts.items()}


# A few weights, some equal in value but not in type, so remembered plans are reused.
share_values = st.sampled_from([0, 1, 3, Decimal("0.2"), Decimal("0.25"), Decimal("0.250"),
                                Fraction(1, 4), Fraction(1, 3), Decimal("0.55"),
                                Decimal("412345.67"), Decimal("-0.1")])


@settings(deadline=None, max_examples=400)
@given(weights=st.dictionaries(st.sampled_from("abcde"), share_values, min_size=1),
       total=st.integers(-10**9, 10**9).map(lambda n: Decimal(n).scaleb(-3)),
       tie_order=st.permutations("abcde").flatmap(lambda p: st.sampled_from([p, p[:2], ()])))
def test_allocation_is_the_largest_remainder_rule(weights, total, tie_order):
    assume(sum(map(Fraction, weights.values())) > 0)
    expected = largest_remainder(total, weights, tie_order)
    for _ in range(2):                                     # the second time from memory
        parts = allocate(total, weights, tie_order)
        assert list(parts.items()) == list(expected.items())
        assert [str(v) for v in parts.values()] == [str(v) for v in expected.values()]


operations = st.lists(st.tuples(st.sampled_from(["in", "claim", "cancel"]), fen_amounts,
                                st.integers(0, 5)), max_size=25)


@FAST
@given(opening=fen_amounts, ops=operations)
def test_the_fund_never_goes_negative_and_always_balances(opening, ops):
    """balance = opening + inflows - paid at every step; every fen claimed is paid, waiting or
    withdrawn; the balance and every movement's running balance stay at or above zero."""
    fund, inflows, paid, claimed, cancelled = Fund(opening), ZERO, ZERO, ZERO, ZERO
    for n, (op, amount, which) in enumerate(ops):
        moves = []
        if op == "in":
            fund, moves = fund.receive(date(2026, 3, 1), FundKind.CONTRIBUTION, amount)
        elif op == "claim":
            fund, moves = fund.claim(Claim(f"c{n}", date(2026, 3, 1), "M001", "G1", amount, amount))
            claimed += amount
        elif fund.claims:
            fund, rest = fund.cancel(fund.claims[which % len(fund.claims)].claim_id)
            cancelled += rest
        inflows += sum((m.amount for m in moves if m.amount > 0), ZERO)
        paid -= sum((m.amount for m in moves if m.amount < 0), ZERO)
        assert fund.balance == opening + inflows - paid >= 0
        assert all(m.balance_after >= 0 for m in moves) and all(c.unpaid > 0 for c in fund.claims)
        assert claimed == paid + fund.pending + cancelled
        assert fund.pending == 0 or fund.balance == 0          # nothing waits while money is there


def waiting_after(ops, opening: Decimal) -> list[tuple[Decimal, tuple]]:
    """The plain model of the fund: a list of [claim id, unpaid], paid oldest first, appended
    to, withdrawn from. After each op: (balance, waiting claims)."""
    balance, queue, states = opening, [], []
    for n, (op, amount, which) in enumerate(ops):
        if op == "in":
            balance += amount
            while balance > 0 and queue:
                pay = min(balance, queue[0][1])
                balance -= pay
                queue[0][1] -= pay
                if queue[0][1] == 0:
                    queue.pop(0)
        elif op == "claim":
            paid = min(balance, amount)
            balance -= paid
            if paid < amount:
                queue.append([f"c{n}", amount - paid])
        elif queue:
            queue.pop(which % len(queue))
        states.append((balance, tuple((c, u) for c, u in queue)))
    return states


def apply(fund: Fund, n: int, op: str, amount: Decimal, which: int) -> Fund:
    if op == "in":
        return fund.receive(date(2026, 3, 1), FundKind.CONTRIBUTION, amount)[0]
    if op == "claim":
        return fund.claim(Claim(f"c{n}", date(2026, 3, 1), "M001", "G1", amount, amount))[0]
    if fund.claims:
        return fund.cancel(fund.claims[which % len(fund.claims)].claim_id)[0]
    return fund


@FAST
@given(opening=fen_amounts, ops=operations, branch=st.integers(0, 25), again=operations)
def test_the_fund_queue_shared_between_values_behaves_as_a_plain_list(opening, ops, branch,
                                                                        again):
    """Fund values share one list of claims. Whatever the operations (withdrawals included),
    each value shows what a plain list would hold and finds each waiting claim by its id; and
    going on from an earlier value (a rolled-back checkpoint) with other operations changes
    neither that branch's view nor the values made before."""
    values = [Fund(opening)]
    for n, (op, amount, which) in enumerate(ops):
        values.append(apply(values[-1], n, op, amount, which))
    expected = waiting_after(ops, opening)

    def seen(fund: Fund) -> tuple[Decimal, tuple]:
        assert fund.pending == sum((c.unpaid for c in fund.claims), ZERO)
        assert all(fund.waiting(c.claim_id) == c for c in fund.claims)
        waiting = {c.claim_id for c in fund.claims}
        assert all(fund.waiting(f"c{n}") is None for n in range(60) if f"c{n}" not in waiting)
        return fund.balance, tuple((c.claim_id, c.unpaid) for c in fund.claims)

    assert [seen(v) for v in values[1:]] == expected
    start = branch % len(values)
    fund = values[start]
    for n, (op, amount, which) in enumerate(again, start=start):
        fund = apply(fund, n, op, amount, which)
        assert seen(fund) == waiting_after([*ops[:start], *again[:n - start + 1]], opening)[-1]
    assert [seen(v) for v in values[1:]] == expected          # earlier values unchanged


@FAST
@given(amount=st.decimals(allow_nan=False, allow_infinity=False), fen=st.integers(-10**30, 10**30))
def test_fen_and_yuan_are_a_shift_of_two_places(amount, fen):
    assert codec.fen(amount) == int(amount.scaleb(2))
    assert str(codec.yuan(fen)) == str(Decimal(fen).scaleb(-2))


# ---- a registration as the ledger stores it ------------------------------------------------

def detail_by_json(g: NewGuarantee) -> str:
    """What the ledger stores: json.dumps of the record's fields after the location and the
    业务编号, in order, compactly."""
    return json.dumps([getattr(g, name) for name in codec.DETAIL_FIELDS], default=str,
                      ensure_ascii=False, separators=(",", ":"))


def detail_named(g: NewGuarantee) -> str:
    """What ledgers before session 7 stored: json.dumps of every field, location first."""
    data = {f.name: getattr(g, f.name) for f in fields(NewGuarantee)}
    data["where"] = {"file": g.where.file, "sheet": g.where.sheet, "row": g.where.row}
    return json.dumps(data, default=str, ensure_ascii=False)


text = st.text(st.characters(codec="utf-8"), max_size=12)        # quotes, controls, CJK, ...
decimals = st.decimals(allow_nan=True, allow_infinity=True)
# Now and then a value of a type the record does not declare: it must still render as json does.
stray = st.one_of(st.integers(), st.floats(), st.booleans(), st.none(), st.dates(), decimals,
                  st.lists(st.integers(), max_size=2), st.sampled_from(list(Product)))
records = st.builds(
    NewGuarantee,
    where=st.builds(Where, file=text, sheet=text, row=st.integers() | stray),
    guarantee_id=text | stray, borrower_name=text, borrower_id=text, borrower_type=text,
    industry=st.none() | text, city=text, county=st.none() | text, bank_id=text,
    loan_contract_no=text, loan_amount=decimals | stray, guaranteed_amount=decimals,
    fee_rate=decimals, start_date=st.dates(), maturity_date=st.dates() | stray,
    product=st.sampled_from(list(Product)), fund_cover=st.booleans() | stray,
    reguarantor_share=st.none() | decimals, counter_amount=st.none() | decimals | stray)


@settings(deadline=None, max_examples=500)
@given(g=records)
def test_detail_json_is_json_dumps_byte_for_byte(g):
    assert codec.detail_json(g) == detail_by_json(g)


finite = st.decimals(allow_nan=False, allow_infinity=False)
typed = st.builds(
    NewGuarantee,
    where=st.builds(Where, file=text, sheet=text, row=st.integers(1, 1_048_576)),
    guarantee_id=text, borrower_name=text, borrower_id=text, borrower_type=text,
    industry=st.none() | text, city=text, county=st.none() | text, bank_id=text,
    loan_contract_no=text, loan_amount=finite, guaranteed_amount=finite, fee_rate=finite,
    start_date=st.dates(), maturity_date=st.dates(), product=st.sampled_from(list(Product)),
    fund_cover=st.booleans(), reguarantor_share=st.none() | finite,
    counter_amount=st.none() | finite)


@settings(deadline=None, max_examples=300)
@given(g=typed)
def test_a_stored_registration_reads_back_as_filed_in_either_layout(g):
    """Stored now (an array; the location and 业务编号 from the posting's columns) or as ledgers
    before session 7 stored it (named, with both inside): the same record comes back."""
    here = Where(g.where.file, g.where.sheet, g.where.row)
    assert codec.detail_from(codec.detail_json(g), here, g.guarantee_id) == g
    assert codec.detail_from(detail_named(g), Where("其他文件"), "其他编号") == g


# ---- the reader on garbage -----------------------------------------------------------------

GOOD = (FIXTURES / "lo" / "filing_lo.xlsx").read_bytes()
GOOD_XLS = (FIXTURES / "lo" / "filing_lo.xls").read_bytes()
prefixes = st.sampled_from([b"", b"PK\x03\x04", guard.OLE2, b"<html>", b"%PDF-1.4", b"\xef\xbb\xbf"])


def assert_answers(path: Path) -> None:
    result = read_filing(path, path.name, "sha")
    assert all(i.code in ISSUE_CODES for i in result.issues)
    if result.cover is None:
        assert result.issues and not result.readable


@FAST
@given(prefix=prefixes, body=st.binary(max_size=3000))
def test_random_bytes_never_crash_the_reader(prefix, body):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "f.xlsx"
        path.write_bytes(prefix + body)
        assert_answers(path)


@FAST
@given(source=st.sampled_from([GOOD, GOOD_XLS]), cut=st.floats(0, 1),
       flips=st.lists(st.tuples(st.floats(0, 1), st.integers(1, 255)), max_size=8))
def test_truncated_and_bit_flipped_workbooks_never_crash_the_reader(source, cut, flips):
    data = bytearray(source[: max(1, int(len(source) * cut))] if cut < 0.9 else source)
    for where, xor in flips:
        data[int(where * (len(data) - 1))] ^= xor
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "f.xlsx"
        path.write_bytes(bytes(data))
        assert_answers(path)


cells = st.lists(st.tuples(st.integers(0, 1500), st.integers(0, 40), st.booleans()), max_size=30)


@FAST
@given(spots=cells, hidden=st.lists(st.integers(1, 1500), max_size=5))
def test_the_preflight_extent_is_what_calamine_builds(spots, hidden):
    """Cells with values (and styled empty ones, which build nothing) anywhere on a sheet."""
    book = Workbook()
    sheet = book.active
    sheet.title = "S"
    for row, col, filled in spots:
        cell = sheet.cell(row + 1, col + 1)
        if filled:
            cell.value = row * 100 + col
        else:
            cell.number_format = "0.00"
    for row in hidden:
        sheet.row_dimensions[row].hidden = True
    buffer = io.BytesIO()
    book.save(buffer)
    rows, cols, found_hidden = sheetreach.extents(zipfile.ZipFile(buffer))["S"]
    raw = CalamineWorkbook.from_filelike(io.BytesIO(buffer.getvalue())).get_sheet_by_name("S")
    filled = [(r, c) for r, c, f in spots if f]
    assert (rows, cols) == ((raw.end[0] + 1, raw.end[1] + 1) if filled else (0, 0))
    assert set(found_hidden) == set(hidden)


ods_rows = st.lists(st.tuples(st.integers(1, 4), st.lists(st.tuples(st.integers(1, 4), st.booleans()),
                                                          max_size=5)), max_size=8)


@FAST
@given(rows=ods_rows)
def test_the_ods_extent_expands_repeats_like_calamine(rows):
    body = ""
    for repeat, row_cells in rows:
        cells_xml = "".join(
            f'<table:table-cell table:number-columns-repeated="{n}"'
            + (' office:value-type="float" office:value="1"/>' if filled else "/>")
            for n, filled in row_cells) or "<table:table-cell/>"
        body += f'<table:table-row table:number-rows-repeated="{repeat}">{cells_xml}</table:table-row>'
    content = ('<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0"'
               ' xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0"><office:body>'
               f'<office:spreadsheet><table:table table:name="S">{body}</table:table>'
               '</office:spreadsheet></office:body></office:document-content>')
    buffer = io.BytesIO()
    hostile.ods_package(buffer, content)
    rows_found, cols_found, _ = sheetreach.extents(zipfile.ZipFile(buffer))["S"]
    raw = CalamineWorkbook.from_filelike(io.BytesIO(buffer.getvalue())).get_sheet_by_name("S")
    expected = (raw.end[0] + 1, raw.end[1] + 1) if raw.end and raw.height else (0, 0)
    assert (rows_found, cols_found) == expected


# ---- random nights -------------------------------------------------------------------------

NEW_HEADERS = [c.header for c in NEW.columns]
DEFAULT_HEADERS = [c.header for c in DEFAULT.columns]
RECOVER_HEADERS = [c.header for c in RECOVER.columns]
HOSTILE_VALUES = st.one_of(
    st.sampled_from(["", "#N/A", "=1+1", "+SUM(1)", "-1", "@A1", "1万元", "1.234", "2026-02-30",
                     "1899-12-31", "😀", "\x01\x02", "长" * 3000, " ", "ＴＲＵＥ"]),
    st.booleans(), st.floats(allow_nan=True, allow_infinity=True), st.integers(-10**20, 10**20),
    st.text(max_size=40))
MEMBERS = {"M001": ("BL", "0.8"), "M002": ("LD", "1"), "M003": ("YB", "1")}


@st.composite
def loans(draw, member: str, n: int) -> list[list[object]]:
    """A valid loan of ``member`` with random amounts, maybe a default and a recovery on it."""
    product, guaranteed_share = MEMBERS[member]
    amount = draw(st.integers(100_000, 400_000_000)) * FEN
    start = date(2026, 1, 1) + timedelta(days=draw(st.integers(0, 80)))
    row = hostile.loan(n, guarantee_id=f"P{n}", bank_id=draw(st.sampled_from(["B01", "B02"])),
                       borrower_id=builders.uscc(1000 + n), loan_amount=float(amount),
                       guaranteed_amount=float(round_fen(amount * Decimal(guaranteed_share))),
                       start_date=start, maturity_date=start.replace(year=2027), product=product,
                       fund_cover=draw(st.sampled_from(["是", "否"])), borrower_type="小型企业")
    for _ in range(draw(st.integers(0, 2))):               # a few cells turn hostile
        row[draw(st.integers(0, len(row) - 1))] = draw(HOSTILE_VALUES)
    return row


@st.composite
def filings(draw) -> tuple[str, list[list[object]], list[list[object]], list[list[object]]]:
    member = draw(st.sampled_from(["M001", "M001", "M002", "M003"]))   # M001: BL, the fund
    count = draw(st.integers(0, 3))
    new = [draw(loans(member, n)) for n in range(count)]
    defaults, recoveries = [], []
    for row in new:
        amount = row[9]
        if isinstance(amount, float) and 0 < amount < 1e13 and draw(st.booleans()):
            principal = Decimal(repr(amount)) * Decimal(draw(st.integers(1, 100))) / 100
            defaults.append([row[0], "2026-03-20", float(round_fen(principal)),
                             draw(st.integers(0, 50_000)), draw(st.sampled_from(["是", "否"]))])
            if draw(st.booleans()):
                recoveries.append([row[0], "2026-03-25", float(round_fen(principal / 3)),
                                   draw(st.integers(0, 1000))])
    return member, new, defaults, recoveries


def write_filing(path: Path, member: str, new, defaults, recoveries) -> None:
    """NaN and infinity become error cells (#NUM!, #DIV/0!), as Excel would show them."""
    wb = xlsxwriter.Workbook(str(path), {"nan_inf_to_errors": True})
    hostile.write_rows(wb, wb.add_worksheet("封面"), hostile.cover(member))
    for title, headers, rows in (("新增业务", NEW_HEADERS, new), ("代偿", DEFAULT_HEADERS, defaults),
                                 ("追偿", RECOVER_HEADERS, recoveries)):
        hostile.write_rows(wb, wb.add_worksheet(title), [headers, *rows])
    wb.close()


@SLOW
@given(night=st.lists(filings(), min_size=1, max_size=3),
       junk=st.lists(st.binary(max_size=200), max_size=2))
def test_a_random_night_never_crashes_loses_nothing_and_adds_up(night, junk):
    with tempfile.TemporaryDirectory() as tmp:
        home = Home(Path(tmp) / "home")
        shutil.copytree(LO_HOME / "reference", home.root / "reference")
        home.inbox.mkdir(parents=True)
        for n, (member, new, defaults, recoveries) in enumerate(night):
            write_filing(home.inbox / f"{member}_{n}.xlsx", member, new, defaults, recoveries)
        for n, data in enumerate(junk):
            (home.inbox / f"junk_{n}.xlsx").write_bytes(data)
        sent = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in home.inbox.iterdir()}
        outcome = run_once(home, date(2026, 3, 31), clock=datetime.now,
                           options=Options(settle_seconds=0))
        document = json.loads((home.outbox / outcome.run_id / "run.json").read_text("utf-8"))
        assert_accounted(home, document, sent)
        assert_adds_up(outcome, document, home.outbox / outcome.run_id)


def assert_accounted(home: Home, document: dict, sent: dict[str, str]) -> None:
    assert sorted(f["name"] for f in document["files"]) == sorted(sent)
    assert not any(home.inbox.iterdir())
    for f in document["files"]:
        kept = home.root / f["destination"]
        assert hashlib.sha256(kept.read_bytes()).hexdigest() == sent[f["name"]] == f["sha256"]
        assert f["destination"].startswith("quarantine/" if f["status"] == "rejected" else "archive/")


def accepted_rows(run_dir: Path, sheet: str) -> list[dict]:
    """Every 通过 row of one data sheet over all receipts: the member's cells and our shares."""
    rows = []
    for receipt in sorted((run_dir / "回执").iterdir()):
        book = openpyxl.load_workbook(receipt)
        if sheet in book.sheetnames:
            values = list(book[sheet].iter_rows(values_only=True))
            rows += [dict(zip(values[0], r)) for r in values[1:] if r[0] is not None]
    return [r for r in rows if r.get("状态") == "通过"]


def yuan(value: object) -> Decimal:
    return ZERO if value in (None, "") else parse_yuan(value)


def assert_adds_up(outcome, document: dict, run_dir: Path) -> None:
    """Every accepted row's five shares sum exactly to its amount; the totals are their sums; the
    fund's closing balance is its opening plus every movement, and never negative."""
    new, defaults = accepted_rows(run_dir, "新增业务"), accepted_rows(run_dir, "代偿")
    recoveries = accepted_rows(run_dir, "追偿")
    for rows, amount in ((new, lambda r: yuan(r["贷款金额"])), (defaults, lambda r: yuan(r["代偿本金"])),
                         (recoveries, lambda r: yuan(r["回收金额"]) - yuan(r["追偿费用"]))):
        for r in rows:
            assert sum((yuan(r[c]) for c in RECEIPT_SHARES), ZERO) == amount(r), r
    totals = document["totals"]
    assert totals["new_count"] == len(new)
    assert Decimal(totals["new_loan_principal"]) == sum((yuan(r["贷款金额"]) for r in new), ZERO)
    assert Decimal(totals["compensation_fund"]) == sum((yuan(r["补偿基金分担"]) for r in defaults), ZERO)
    assert Decimal(totals["recovery_fund"]) == sum((yuan(r["补偿基金分担"]) for r in recoveries), ZERO)
    moved = sum((m.amount for m in outcome.fund_moves), ZERO)
    assert outcome.fund_closing == outcome.fund_opening + moved >= 0
    assert Decimal(totals["fund_closing"]) == outcome.fund_closing
    assert Decimal(totals["fund_pending"]) == sum((c.unpaid for c in outcome.pending_claims), ZERO)
