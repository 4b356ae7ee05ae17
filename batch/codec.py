"""Rows of the ledger's tables and the records they hold, both ways.

Money is stored as integer fen (exact in every SQL engine) and read back as two-decimal yuan; a
guarantee's filed attributes (its ``NewGuarantee``) are JSON. Kept apart from the store so the
SQL and the shapes can each be read on their own.
"""
from __future__ import annotations

import json
from dataclasses import fields
from datetime import date
from decimal import Decimal
from typing import Mapping

from .model import PARTIES, Kind, NewGuarantee, Posting, Product, Source, Where

_DECIMALS = ("loan_amount", "guaranteed_amount", "fee_rate", "reguarantor_share", "counter_amount")
_FIELDS = tuple(f.name for f in fields(NewGuarantee))


def fen(amount: Decimal) -> int:
    return int(amount.scaleb(2))


def yuan(value: int | None) -> Decimal:
    return Decimal(value or 0).scaleb(-2)


def detail_from(text: str | None) -> NewGuarantee | None:
    if not text:
        return None
    data = json.loads(text)
    for key in _DECIMALS:
        if data.get(key) is not None:
            data[key] = Decimal(data[key])
    for key in ("start_date", "maturity_date"):
        data[key] = date.fromisoformat(data[key])
    data["product"] = Product(data["product"])
    data["where"] = Where(**data["where"])
    return NewGuarantee(**data)


def detail_json(g: NewGuarantee | None) -> str | None:
    if g is None:
        return None
    data = {name: getattr(g, name) for name in _FIELDS}
    w = g.where
    data["where"] = {"file": w.file, "sheet": w.sheet, "row": w.row}
    return json.dumps(data, default=str, ensure_ascii=False)


# ---- postings ------------------------------------------------------------------------------

def posting_from(m: Mapping) -> Posting:
    return Posting(Kind(m["kind"]), m["member_id"], m["guarantee_id"], m["on"],
                   Source(m["sha256"], m["file"], m["sheet"], m["row"]), yuan(m["principal"]),
                   {p: yuan(m[p.value]) for p in PARTIES}, fee=yuan(m["fee"]),
                   detail=detail_from(m["detail"]), settled=m["settled"],
                   interest=yuan(m["interest"]), gross=yuan(m["gross"]), claimed=m["claimed"],
                   period=m["period"] or "", sign=m["sign"], reverses=m["reverses"] or "")


def detail_text(detail: NewGuarantee | None, memo: dict | None) -> str | None:
    """The JSON of a detail, once per object: a registration's posting and its guarantee's
    balance row carry the same one."""
    if memo is None or detail is None:
        return detail_json(detail)
    text = memo.get(id(detail))
    if text is None:
        text = memo[id(detail)] = detail_json(detail)
    return text


def posting_row(p: Posting, run_id: str, filing_sha: str, attrs: tuple | None,
                memo: dict | None = None) -> dict:
    """A posting as stored, with the bank, product and city of its guarantee (for 明细)."""
    s = p.source
    bank, product, city = attrs or (None, None, None)
    shares = p.shares
    return {"run_id": run_id, "filing_sha256": filing_sha, "key": p.key, "kind": p.kind.value,
            "member_id": p.member_id, "guarantee_id": p.guarantee_id, "on": p.on,
            "sha256": s.sha256, "file": s.file, "sheet": s.sheet, "row": s.row, "period": p.period,
            "principal": fen(p.principal),
            **{q.value: fen(shares[q]) if q in shares else 0 for q in PARTIES},
            "fee": fen(p.fee), "interest": fen(p.interest), "gross": fen(p.gross),
            "settled": p.settled, "claimed": p.claimed, "sign": p.sign, "reverses": p.reverses,
            "detail": detail_text(p.detail, memo), "bank_id": bank, "product": product, "city": city}


# ---- balances --------------------------------------------------------------------------------

def position_from(m: Mapping) -> tuple:
    return (m["count"], yuan(m["outstanding"]), *(yuan(m["e_" + p.value]) for p in PARTIES))


def position_row(key: tuple, totals: tuple) -> dict:
    count, outstanding, *exposures = totals
    return {"member_id": key[0], "bank_id": key[1], "product": key[2], "city": key[3],
            "count": count, "outstanding": fen(outstanding),
            **{"e_" + p.value: fen(e) for p, e in zip(PARTIES, exposures)}}
