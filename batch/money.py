"""Yuan as Decimal: parsing from a cell, rounding, and exact allocation.

Money never passes through float arithmetic. An Excel number arrives as a Python float; its
shortest ``repr`` is the decimal the user typed, so that is what we parse. Anything with more than
two decimals is an error for the cell, never a silent rounding.
"""
from __future__ import annotations

import re
import unicodedata
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from fractions import Fraction
from functools import lru_cache
from math import lcm
from typing import Hashable, Mapping, Sequence, TypeVar

FEN = Decimal("0.01")
ZERO = Decimal("0.00")
K = TypeVar("K", bound=Hashable)

_THOUSANDS = re.compile(r"^[+-]?\d{1,3}(,\d{3})+(\.\d+)?$")


def normalise_text(text: str) -> str:
    """Full-width to half-width (NFKC), trimmed; what a cell 'says' regardless of the input method."""
    return unicodedata.normalize("NFKC", text).strip()


def _number_text(value: object) -> str:
    if isinstance(value, bool):
        raise ValueError("是布尔值，不是数字")
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):  # float ok: NaN/inf test
            raise ValueError("不是有效数字")
        return repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal):
        return str(value)
    text = normalise_text(str(value)).replace(" ", "").replace("\u00a0", "")
    if "," in text:
        if not _THOUSANDS.match(text):
            raise ValueError("千分位分隔符位置不对")
        text = text.replace(",", "")
    return text


def parse_decimal(value: object) -> Decimal:
    """Any numeric cell (number, text with thousands separators or full-width digits) as Decimal."""
    text = _number_text(value)
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise ValueError("不是数字") from None
    if not number.is_finite():
        raise ValueError("不是有效数字")
    return number


def parse_yuan(value: object) -> Decimal:
    """A money cell as yuan with exactly two decimals; more decimals or units are errors."""
    amount = parse_decimal(value)
    try:
        fen = amount.quantize(FEN)
    except InvalidOperation:                  # more digits than the context holds
        raise ValueError("金额过大") from None
    if amount != fen:
        raise ValueError("金额超过两位小数")
    return fen


def parse_ratio(value: object) -> Decimal:
    """A ratio written as a fraction (0.2), a percentage text (20%) or an Excel percent cell."""
    if isinstance(value, str):
        text = normalise_text(value).replace(" ", "")
        if text.endswith("%"):
            return parse_decimal(text[:-1]) / 100
    return parse_decimal(value)


def round_fen(amount: Decimal) -> Decimal:
    """Half-up to the fen: how finance rounds a single computed amount."""
    return amount.quantize(FEN, rounding=ROUND_HALF_UP)


def yuan_text(amount: Decimal) -> str:
    """Money for machine-readable output: a string with exactly two decimals."""
    return str(amount.quantize(FEN))


def allocate(total: Decimal, weights: Mapping[K, Decimal | Fraction | int],
             tie_order: Sequence[K] = ()) -> dict[K, Decimal]:
    """Split ``total`` in proportion to ``weights`` so the parts sum to it exactly, to the fen.

    Largest remainder: every part gets its floor in fen, the fen left over go to the largest
    fractional remainders; ties go by ``tie_order`` (keys not named there come after, in the order
    given). Negative totals are split as the negation of the positive split, so a reversal is the
    exact mirror of its original.
    """
    if total < 0:
        return {k: -v for k, v in allocate(-total, weights, tie_order).items()}
    numerators, whole = _integer_weights(tuple(weights.values()))
    if whole <= 0:
        raise ValueError("分配比例之和必须大于零")
    fen = int(total.quantize(FEN).scaleb(2))
    parts = [fen * n // whole for n in numerators]
    left = fen - sum(parts)
    if left:                                  # none when the amount divides evenly
        # Every remainder fen × n mod whole shares the denominator ``whole``, so comparing the
        # integer remainders orders the fractional parts exactly.
        ties = _tie_ranks(tuple(weights), tuple(tie_order))
        order = sorted((-(fen * n % whole), *tie) for n, tie in zip(numerators, ties))
        for _r, _rank, i in order[:left]:
            parts[i] += 1
    return dict(zip(weights, map(FEN.__mul__, parts)))    # n fen as yuan (Decimal × int: exact)


@lru_cache(maxsize=256)
def _integer_weights(weights: tuple[Decimal | Fraction | int, ...]) -> tuple[tuple[int, ...], int]:
    """The weights scaled by one common factor to integers (exact; proportions unchanged), and
    their sum. Remembered: a night's registrations and defaults split by a few share tables."""
    ratios = [w.as_integer_ratio() for w in weights]
    scale = lcm(*[d for _n, d in ratios])
    numerators = tuple([n * (scale // d) for n, d in ratios])
    return numerators, sum(numerators)


@lru_cache(maxsize=64)
def _tie_ranks(keys: tuple[K, ...], tie_order: tuple[K, ...]) -> tuple[tuple[int, int], ...]:
    """Each key's place among equal remainders: by ``tie_order``, then in the order given.
    Remembered: the splits of a night name the same parties in the same tie order."""
    rank = {k: i for i, k in enumerate(tie_order)}
    return tuple([(rank.get(k, len(rank)), i) for i, k in enumerate(keys)])
