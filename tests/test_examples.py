"""The worked cases of spec/examples.md, by their numbers."""
from __future__ import annotations

from datetime import date
from decimal import Decimal as D

from batch import rules
from batch.model import Claim, FundKind, Party, Product, TIE_ORDER
from batch.fund import Fund
from batch.money import allocate
from builders import codes, default, member, new, night, params, post, recover, rule, uscc

B, M, R, F, L = Party.BANK, Party.MEMBER, Party.REGUARANTOR, Party.FUND, Party.LOCAL


def money(shares) -> dict:
    return {p: str(v) for p, v in shares.items() if v}


def test_case1_article_registration_default_and_recovery():
    n = night()
    registered = post(n, new("G001", loan="3750000.00", guaranteed="3000000.00"))
    assert codes(registered) == [(2, ())]
    assert money(registered.postings[0].shares) == {
        B: "750000.00", M: "1500000.00", R: "937500.00", F: "562500.00"}
    assert sum(registered.postings[0].shares.values()) == D("3750000.00")

    defaulted = post(n, default("G001", "3750000.00"), name="default.xlsx")
    split = defaulted.postings[0].shares
    assert (split[R], split[F], split[M], split[B]) == (
        D("937500.00"), D("562500.00"), D("1500000.00"), D("750000.00"))
    assert D("3750000.00") - split[B] == D("3000000.00")          # the member pays the bank 80%
    assert n.fund.balance == D("222437500.00")

    recovered = post(n, recover("G001", "1000000.00"), name="recovery.xlsx")
    assert money(recovered.postings[0].shares) == {
        B: "200000.00", M: "400000.00", R: "250000.00", F: "150000.00"}
    assert n.fund.balance == D("222587500.00")


def test_case2_without_fund_cover_member_bears_55_percent():
    n = night()
    post(n, new("G001", fund_cover=False))
    out = post(n, default("G001", "3750000.00"), name="d.xlsx")
    split = out.postings[0].shares
    assert (split[R], split[F], split[M]) == (D("937500.00"), D("0.00"), D("2062500.00"))
    assert n.fund.balance == D("223000000.00")


def test_case3_zhengyindan_4321():
    n = night()
    g = new("Z001", loan="10000000.00", guaranteed="8000000.00", product=Product.ZY,
            borrower_type="中型企业", start=date(2025, 1, 1), maturity=date(2026, 1, 1))
    assert codes(post(n, g)) == [(2, ())]
    out = post(n, default("Z001", "10000000.00", on=date(2025, 6, 1)), name="d.xlsx")
    assert money(out.postings[0].shares) == {
        B: "2000000.00", M: "4000000.00", R: "3000000.00", L: "1000000.00"}


def test_case4_exact_allocation_of_an_odd_fen():
    weights = {B: D("0.20"), M: D("0.40"), R: D("0.25"), F: D("0.15")}
    parts = allocate(D("1000000.01"), weights, TIE_ORDER)
    assert sum(parts.values()) == D("1000000.01")
    # the member has the largest fraction (.004 of a yuan), so it takes the extra fen
    assert parts == {B: D("200000.00"), M: D("400000.01"), R: D("250000.00"), F: D("150000.00")}


def test_case4_ties_go_to_the_reguarantor_first():
    parts = allocate(D("0.01"), {B: 1, M: 1, R: 1, F: 1}, TIE_ORDER)
    assert parts[R] == D("0.01") and sum(parts.values()) == D("0.01")


def test_case5_the_funds_reach():
    assert rules.capacity(D("100000000"), D("0.15"), D("0.05")) == (
        D("666666666.67"), D("13333333333.33"))
    assert rules.capacity(D("223000000"), D("0.15"), D("0.05"))[1] == D("29733333333.33")


def test_case6_pending_claims_are_paid_first_from_new_money():
    fund = Fund(D("100000.00"))
    fund, moves = fund.claim(Claim("c1", date(2026, 3, 1), "M001", "G1", D("150000.00"),
                                   D("150000.00")))
    assert moves[0].amount == D("-100000.00")
    assert fund.balance == D("0.00") and fund.pending == D("50000.00")
    fund, moves = fund.receive(date(2026, 3, 2), FundKind.CONTRIBUTION, D("1000000.00"))
    assert [m.kind for m in moves] == [FundKind.CONTRIBUTION, FundKind.PENDING_PAID]
    assert moves[1].amount == D("-50000.00")
    assert fund.balance == D("950000.00") and fund.pending == D("0.00")


def test_case6_through_a_default_row():
    n = night(fund="100000.00")
    post(n, new("G001", loan="1000000.00"))
    post(n, default("G001", "1000000.00"), name="d.xlsx")   # fund share 150,000.00
    assert n.fund.balance == D("0.00") and n.fund.pending == D("50000.00")
    n.receive(FundKind.CONTRIBUTION, D("1000000.00"))
    assert n.fund.balance == D("950000.00") and n.fund.pending == D("0.00")


def test_case7_leverage_then_concentration():
    m = member(net_assets=D("10000000.00"), leverage_cap=D("10"))
    n = night(params(m))
    existing = [new(f"E{i:03d}", row=i + 2, loan="990000.00", product=Product.LD,
                    borrower=100 + i, borrower_type="中型企业", start=date(2026, 1, 5),
                    maturity=date(2027, 1, 5)) for i in range(100)]
    assert all(c == () for _, c in codes(post(n, *existing, name="history.xlsx")))
    assert n.book.member_liability("M001") == D("99000000.00")
    out = post(n, *[new(gid, row=row, loan=amount, product=Product.LD, borrower=b,
                        borrower_type="中型企业", start=date(2026, 2, 1), maturity=date(2027, 2, 1))
                    for gid, row, amount, b in (("N1", 2, "800000.00", 1), ("N2", 3, "500000.00", 2),
                                                ("N3", 4, "1200000.00", 3))], name="new.xlsx")
    got = dict(codes(out))
    assert got[2] == ()
    assert got[3] == ("leverage.cap",)
    assert "concentration" in got[4]
    assert n.book.member_liability("M001") == D("99800000.00")
    assert out.status == "partial"


def test_fee_is_rate_times_guarantee_times_years():
    g = new(start=date(2016, 3, 7), maturity=date(2017, 3, 7))
    assert rules.reguarantee_fee(g, rule(Product.BL)) == D("15000.00")   # 0.5% × 300万 × 1


def test_identity_helper_is_valid():
    from stdnum.cn import uscc as u
    assert u.is_valid(uscc(1))
