"""Exact rounding and clamping helpers of SPEC §5: round2 (cents), round (integer), c(x).

Everything here is exact: Decimal and Fraction in, Decimal/Fraction/int out, never a float.
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

CENT = Decimal("0.01")
ZERO = Decimal("0")


def round_half_up(x: Fraction | Decimal | int) -> int:
    """Round to the nearest integer, halves away from zero (SPEC §5 `round`)."""
    q = Fraction(x)
    magnitude = abs(q)
    rounded = int(magnitude + Fraction(1, 2))  # int() truncates a non-negative number = floor
    return rounded if q >= 0 else -rounded


def round2(x: Fraction | Decimal | int) -> Decimal:
    """Round to whole cents, halves away from zero (SPEC §5.1 `round2`)."""
    return Decimal(round_half_up(Fraction(x) * 100)).scaleb(-2)


def clamp(x: Fraction) -> Fraction:
    """SPEC §5 `c(x)`: x clamped to the interval [0, 1]."""
    return min(Fraction(1), max(Fraction(0), x))
