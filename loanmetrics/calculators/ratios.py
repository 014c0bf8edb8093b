"""The ratios of SPEC §5.5 (the registry's) as exact numerator, denominator and value, from
summed components."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

from loanmetrics.calculators.components import Components
from loanmetrics.calculators.registry import RATIO, RATIOS


@dataclass(frozen=True)
class Ratio:
    """A ratio as reported everywhere: numerator, denominator and the exact value (None when 0/0)."""

    numerator: Decimal | int
    denominator: Decimal | int
    value: Fraction | None


class Ratios:
    """Every registry ratio of one group, as attributes named like the officer_metrics_daily columns."""

    def __init__(self, values: dict[str, Ratio]) -> None:
        self.__dict__.update(values)

    def __getattr__(self, name: str) -> Ratio:
        raise AttributeError(name)

    def by_name(self) -> dict[str, Ratio]:
        """The ratios keyed by their column name, in registry order."""
        return {r.name: self.__dict__[r.name] for r in RATIOS}


def ratio(numerator: Decimal | int, denominator: Decimal | int, when_empty: Fraction | None = None) -> Ratio:
    """numerator / denominator exactly; ``when_empty`` (None: null) when the denominator is 0 (§5.5)."""
    value = when_empty if denominator == 0 else Fraction(numerator) / Fraction(denominator)
    return Ratio(numerator=numerator, denominator=denominator, value=value)


def channel_purity(pure_count: int, active_loans: int) -> Ratio:
    """CP = pure active loans / active loans, with value 1 when there are no active loans (§5.5)."""
    return ratio(pure_count, active_loans, RATIO["channel_purity"].when_empty)


def compute_ratios(c: Components) -> Ratios:
    """Every ratio of a group from its components (never an average of other ratios, §5.7)."""
    return Ratios({r.name: ratio(c.of(r.numerator), c.of(r.denominator), r.when_empty) for r in RATIOS})
