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
from functools import lru_cache
from operator import attrgetter
from typing import Mapping

from .model import PARTIES, Kind, NewGuarantee, Posting, Product, Source, Where
from .money import FEN

_DECIMALS = ("loan_amount", "guaranteed_amount", "fee_rate", "reguarantor_share", "counter_amount")
_FIELDS = tuple(f.name for f in fields(NewGuarantee))


_HUNDRED = Decimal(100)


def fen(amount: Decimal) -> int:
    return int(amount * _HUNDRED)           # as .scaleb(2), a little quicker (six a row)


def yuan(value: int | None) -> Decimal:
    return Decimal(value or 0) * FEN


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


# detail_json renders what json.dumps(data, default=str, ensure_ascii=False) would, value by value
# by exact type, without the encoder json sets up on every call (a sixth of a row's checks); a
# value of any other type goes through json itself.
_JSON_TEXT = json.encoder.encode_basestring        # a str as ensure_ascii=False writes it
_QUOTED = '"{!s}"'.format                          # default=str; a Decimal's or date's str is ASCII
_AS_JSON = {str: _JSON_TEXT, Product: _JSON_TEXT, Decimal: _QUOTED,
            date: lru_cache(maxsize=4096)(_QUOTED),   # a filing has few distinct dates
            int: int.__repr__, bool: {True: "true", False: "false"}.__getitem__,
            type(None): "null".format}
assert _FIELDS[0] == "where", "the layout below puts the location first, as the dataclass does"
_DETAIL_LAYOUT = ('{"where": {"file": %s, "sheet": %s, "row": %s}, '
                  + ", ".join(f'"{name}": %s' for name in _FIELDS[1:]) + "}")
_DETAIL_VALUES = attrgetter(*_FIELDS[1:])


def _any_json(value: object) -> str:
    return json.dumps(value, default=str, ensure_ascii=False)


def detail_json(g: NewGuarantee | None) -> str | None:
    if g is None:
        return None
    w = g.where
    values = (w.file, w.sheet, w.row, *_DETAIL_VALUES(g))
    return _DETAIL_LAYOUT % tuple([_AS_JSON.get(type(v), _any_json)(v) for v in values])


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


POSTING_COLUMNS = ("run_id", "filing_sha256", "key", "kind", "member_id", "guarantee_id", "on",
                   "sha256", "file", "sheet", "row", "period", "principal",
                   *(q.value for q in PARTIES), "fee", "interest", "gross", "settled", "claimed",
                   "sign", "reverses", "detail", "bank_id", "product", "city")


def posting_row(p: Posting, run_id: str, filing_sha: str, attrs: tuple | None,
                memo: dict | None = None) -> tuple:
    """A posting as stored (values for POSTING_COLUMNS), with the bank, product and city of its
    guarantee (for 明细)."""
    s = p.source
    bank, product, city = attrs or (None, None, None)
    shares = p.shares
    return (run_id, filing_sha, p.key, p.kind.value, p.member_id, p.guarantee_id, p.on,
            s.sha256, s.file, s.sheet, s.row, p.period, fen(p.principal),
            *(fen(shares[q]) if q in shares else 0 for q in PARTIES),
            fen(p.fee), fen(p.interest), fen(p.gross), p.settled, p.claimed, p.sign, p.reverses,
            detail_text(p.detail, memo), bank, product, city)


# ---- balances --------------------------------------------------------------------------------

def position_from(m: Mapping) -> tuple:
    return (m["count"], yuan(m["outstanding"]), *(yuan(m["e_" + p.value]) for p in PARTIES))


POSITION_COLUMNS = ("member_id", "bank_id", "product", "city", "count", "outstanding",
                    *("e_" + p.value for p in PARTIES))


def position_row(key: tuple, totals: tuple) -> tuple:
    """Values for POSITION_COLUMNS."""
    count, outstanding, *exposures = totals
    return (*key, count, fen(outstanding), *map(fen, exposures))
