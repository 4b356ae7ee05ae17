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
from typing import Any, Callable, Sequence

from .guarantee import Guarantee
from .model import PARTIES, Claim, FundMove, Kind, NewGuarantee, Posting, Product, Source, Where
from .money import FEN, ZERO

_FIELDS = tuple(f.name for f in fields(NewGuarantee))
assert _FIELDS[:2] == ("where", "guarantee_id"), "the posting's columns hold these two"
# The fields of a registration its posting's JSON holds, in order (README, Performance).
DETAIL_FIELDS = _FIELDS[2:]
_DECIMALS_AT = tuple(DETAIL_FIELDS.index(n) for n in (
    "loan_amount", "guaranteed_amount", "fee_rate", "reguarantor_share", "counter_amount"))
_DATES_AT = (DETAIL_FIELDS.index("start_date"), DETAIL_FIELDS.index("maturity_date"))
_PRODUCT_AT = DETAIL_FIELDS.index("product")


_HUNDRED = Decimal(100)


def fen(amount: Decimal) -> int:
    """As .scaleb(2), a little quicker; most of a posting's nine amounts are zero."""
    return int(amount * _HUNDRED) if amount else 0


def yuan(value: int | None) -> Decimal:
    return Decimal(value) * FEN if value else ZERO


def fens(amounts) -> list[int]:
    """``fen`` of each, in one call: a posting has nine amounts, and a call each cost more than
    the conversion."""
    return [int(a * _HUNDRED) if a else 0 for a in amounts]


def yuans(values) -> list[Decimal]:
    """``yuan`` of each, in one call (as ``fens``)."""
    return [Decimal(v) * FEN if v else ZERO for v in values]


_PRODUCTS = {p.value: p for p in Product}        # Product(text) costs an Enum call; a row has one


def detail_from(text: str | None, where: Where, guarantee_id: str) -> NewGuarantee | None:
    """The registration a posting stored, at the posting's own location and 业务编号 (the
    JSON leaves both to its columns); ledgers written before session 7 stored it named, with
    both inside, and read as they always did."""
    if not text:
        return None
    values = json.loads(text)
    if isinstance(values, dict):
        values, where, guarantee_id = _named(values)
    if len(values) != len(DETAIL_FIELDS):
        raise ValueError(f"账本中业务编号 {guarantee_id}（{where.render()}）的登记信息有 "
                         f"{len(values)} 个字段，应为 {len(DETAIL_FIELDS)} 个：账本可能由更新的"
                         "版本写入，请使用该版本或恢复升级前的备份")
    for at in _DECIMALS_AT:
        if values[at] is not None:
            values[at] = Decimal(values[at])
    for at in _DATES_AT:
        values[at] = date.fromisoformat(values[at])
    values[_PRODUCT_AT] = _PRODUCTS[values[_PRODUCT_AT]]
    return NewGuarantee(where, guarantee_id, *values)      # positional: keywords cost twice as much


def _named(data: dict) -> tuple[list, Where, str]:
    """A detail as ledgers before session 7 stored it: a JSON object, location first."""
    w = data["where"]
    return [data.get(name) for name in DETAIL_FIELDS], Where(w["file"], w["sheet"], w["row"]), \
        data["guarantee_id"]


# detail_json renders what json.dumps(values, default=str, ensure_ascii=False,
# separators=(",", ":")) would, value by value by exact type, without the encoder json sets up on
# every call (a sixth of a row's checks); a value of any other type goes through json itself.
_JSON_TEXT = json.encoder.encode_basestring        # a str as ensure_ascii=False writes it
_QUOTED = '"{!s}"'.format                          # default=str; a Decimal's or date's str is ASCII
# Each renderer takes values of its key's type, which a dict's type cannot say: hence Any.
_AS_JSON: dict[type, Callable[[Any], str]] = {
    str: _JSON_TEXT, Product: _JSON_TEXT, Decimal: _QUOTED,
    date: lru_cache(maxsize=4096)(_QUOTED),   # a filing has few distinct dates
    int: int.__repr__, bool: {True: "true", False: "false"}.__getitem__,
    type(None): "null".format}
_DETAIL_LAYOUT = "[" + ",".join(["%s"] * len(DETAIL_FIELDS)) + "]"
_DETAIL_VALUES = attrgetter(*DETAIL_FIELDS)


def _any_json(value: object) -> str:
    return json.dumps(value, default=str, ensure_ascii=False, separators=(",", ":"))


def detail_json(g: NewGuarantee | None) -> str | None:
    """A registration as its posting stores it: a JSON array of the fields after the location
    and the 业务编号 (``DETAIL_FIELDS``), which the posting's own columns hold. Named fields
    cost 560 bytes a registration, these 190: a million of them wrote 955 MB to the WAL
    instead of 542 MB (bench/README.md, session 7)."""
    if g is None:
        return None
    return _DETAIL_LAYOUT % tuple([_AS_JSON.get(type(v), _any_json)(v) for v in _DETAIL_VALUES(g)])


# ---- postings ------------------------------------------------------------------------------

_KINDS = {k.value: k for k in Kind}
_KIND_VALUES = {k: k.value for k in Kind}
# What a Posting is made of, as stored: the columns to select for ``posting_from``.
POSTING_FIELDS = ("kind", "member_id", "guarantee_id", "on", "sha256", "file", "sheet", "row",
                  "principal", "fee", "detail", "settled", "interest", "gross", "claimed",
                  "period", "sign", "reverses", *(q.value for q in PARTIES))


def posting_from(values: Sequence) -> Posting:
    """A posting from the values of POSTING_FIELDS: a SQLAlchemy row, or the driver's tuple
    (its date as ISO text, its flags as 0/1). Every party gets a share, zero if none."""
    (kind, member_id, guarantee_id, on, sha256, file, sheet, row, principal, fee, detail,
     settled, interest, gross, claimed, period, sign, reverses, *shares) = values
    principal, fee, interest, gross, *shares = yuans((principal, fee, interest, gross, *shares))
    return Posting(_KINDS[kind], member_id, guarantee_id,
                   on if isinstance(on, date) else date.fromisoformat(on),
                   Source(sha256, file, sheet, row), principal, dict(zip(PARTIES, shares)), fee,
                   detail_from(detail, Where(file, sheet, row), guarantee_id), bool(settled),
                   interest, gross, bool(claimed), period or "", sign, reverses or "")


def detail_text(detail: NewGuarantee | None, made: dict | None) -> str | None:
    """The JSON of a detail: the one the worker made beside the reading (``made``, by object),
    or else made here."""
    text = made.get(id(detail)) if made and detail is not None else None
    return text if text is not None else detail_json(detail)


POSTING_COLUMNS = ("run_id", "filing_sha256", "key", "kind", "member_id", "guarantee_id", "on",
                   "sha256", "file", "sheet", "row", "period", "principal",
                   *(q.value for q in PARTIES), "fee", "interest", "gross", "settled", "claimed",
                   "sign", "reverses", "detail", "bank_id", "product", "city")


def posting_row(p: Posting, run_id: str, filing_sha: str, attrs: tuple | None,
                made: dict | None = None) -> tuple:
    """A posting as stored (values for POSTING_COLUMNS, its date as ISO text), with the bank,
    product and city of its guarantee (for 明细); ``made``: registrations' JSON made already."""
    s = p.source
    bank, product, city = attrs or (None, None, None)
    amounts = (p.principal, *map(p.shares.get, PARTIES), p.fee, p.interest, p.gross)
    return (run_id, filing_sha, p.key, _KIND_VALUES[p.kind], p.member_id, p.guarantee_id,
            p.on.isoformat(), s.sha256, s.file, s.sheet, s.row, p.period,
            *fens(amounts),
            p.settled, p.claimed, p.sign, p.reverses,
            None if p.detail is None else detail_text(p.detail, made), bank, product, city)


# ---- balances --------------------------------------------------------------------------------

def position_from(values: Sequence) -> tuple:
    """Totals from the values of POSITION_COLUMNS after the key (count, outstanding, exposures)."""
    count, *amounts = values
    return (count, *yuans(amounts))


POSITION_COLUMNS = ("member_id", "bank_id", "product", "city", "count", "outstanding",
                    *("e_" + p.value for p in PARTIES))


def position_row(key: tuple, totals: tuple) -> tuple:
    """Values for POSITION_COLUMNS."""
    count, *amounts = totals
    return (*key, count, *fens(amounts))


# ---- a guarantee's kept state ----------------------------------------------------------------

STATE_COLUMNS = ("member_id", "guarantee_id", "registered", "loan", "guaranteed", "repaid",
                 "defaulted", "recovered", *("w_" + p.value for p in PARTIES),
                 *("lost_" + p.value for p in PARTIES), *("got_" + p.value for p in PARTIES),
                 "settled", "detail_key", "postings", "upto")
_PARTY_COUNT = len(PARTIES)


def state_row(g: Guarantee, upto: int) -> tuple:
    """Values for STATE_COLUMNS: a guarantee's own figures as its postings up to the posting id
    ``upto`` leave them (the figures the Book counted it at follow from these,
    ``guarantee.counted``)."""
    none = (None,) * _PARTY_COUNT
    return (g.member_id, g.guarantee_id, g.registered,
            *fens((g.loan, g.guaranteed, g.repaid, g.defaulted, g.recovered)),
            *fens(map(g.exposure_weights.__getitem__, PARTIES)),
            *(fens(map(g.lost.__getitem__, PARTIES)) if g.lost is not None else none),
            *(fens(map(g.got.__getitem__, PARTIES)) if g.got is not None else none),
            bool(g.settled), g.detail_key, g.postings, upto)


def guarantee_from(values: Sequence, detail: NewGuarantee | None) -> Guarantee:
    """A guarantee from the values of STATE_COLUMNS and the details its registration filed."""
    member_id, guarantee_id, registered, *rest = values
    loan, guaranteed, repaid, defaulted, recovered = yuans(rest[:5])
    n = _PARTY_COUNT
    weights, lost, got = rest[5:5 + n], rest[5 + n:5 + 2 * n], rest[5 + 2 * n:5 + 3 * n]
    settled, detail_key, count, _upto = rest[5 + 3 * n:]
    exposure = dict(zip(PARTIES, yuans(weights)))
    return Guarantee(member_id, guarantee_id, detail, detail_key, registered, loan, guaranteed,
                     repaid, defaulted, recovered, exposure, sum(exposure.values(), ZERO),
                     None if lost[0] is None else dict(zip(PARTIES, yuans(lost))),
                     None if got[0] is None else dict(zip(PARTIES, yuans(got))), bool(settled),
                     postings=count)


# ---- the fund's movements and claims ------------------------------------------------------

def source_columns(s: Source | None) -> dict:
    """Where a movement or claim was filed (none for finance's own inputs)."""
    if s is None:
        return {"sha256": None, "file": None, "sheet": None, "row": None}
    return {"sha256": s.sha256, "file": s.file, "sheet": s.sheet, "row": s.row}


def move_row(m: FundMove, run_id: str, input_key: str | None) -> dict:
    return {"run_id": run_id, "on": m.on, "kind": m.kind.value, "amount": fen(m.amount),
            "balance_after": fen(m.balance_after), "member_id": m.member_id,
            "guarantee_id": m.guarantee_id, **source_columns(m.source),
            "claim_id": m.claim_id or None, "note": m.note, "input_key": input_key}


def claim_row(c: Claim, amount: Decimal, run_id: str) -> dict:
    return {"run_id": run_id, "claim_id": c.claim_id, "on": c.on, "member_id": c.member_id,
            "guarantee_id": c.guarantee_id, "amount": fen(amount), **source_columns(c.source)}


def pending_row(seq: int, c: Claim) -> dict:
    """A waiting claim as the 待补偿 queue keeps it, ``seq`` its place (oldest first)."""
    return {"seq": seq, "claim_id": c.claim_id, "on": c.on, "member_id": c.member_id,
            "guarantee_id": c.guarantee_id, "amount": fen(c.amount), "unpaid": fen(c.unpaid),
            **source_columns(c.source)}
