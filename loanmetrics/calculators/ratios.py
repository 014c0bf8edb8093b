"""The ratios of SPEC §5.5 as exact numerator, denominator and value, from summed components."""

from __future__ import annotations

from dataclasses import dataclass, fields
from decimal import Decimal
from fractions import Fraction

from loanmetrics.calculators.components import Components


@dataclass(frozen=True)
class Ratio:
    """A ratio as reported everywhere: numerator, denominator and the exact value (None when 0/0)."""

    numerator: Decimal | int
    denominator: Decimal | int
    value: Fraction | None


@dataclass(frozen=True)
class Ratios:
    """The nine ratios of §5.5, named as in officer_metrics_daily."""

    porr: Ratio
    d06_slippage: Ratio
    roll: Ratio
    channel_purity: Ratio
    fimr: Ratio
    all_time_fimr: Ratio
    frr: Ratio
    ayr: Ratio
    on_time_rate: Ratio

    def by_name(self) -> dict[str, Ratio]:
        """The ratios keyed by their column name."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


def ratio(numerator: Decimal | int, denominator: Decimal | int) -> Ratio:
    """numerator / denominator exactly; value None when the denominator is 0 (§5.5)."""
    value = None if denominator == 0 else Fraction(numerator) / Fraction(denominator)
    return Ratio(numerator=numerator, denominator=denominator, value=value)


def channel_purity(pure_count: int, active_loans: int) -> Ratio:
    """CP = pure active loans / active loans, with value 1 when there are no active loans (§5.5)."""
    value = Fraction(1) if active_loans == 0 else Fraction(pure_count, active_loans)
    return Ratio(numerator=pure_count, denominator=active_loans, value=value)


def compute_ratios(c: Components) -> Ratios:
    """Every §5.5 ratio of a group from its components (never an average of other ratios, §5.7)."""
    return Ratios(
        porr=ratio(c.overdue_15d_amount, c.total_portfolio),
        d06_slippage=ratio(c.dpd_1to6_balance, c.amount_due_7d),
        roll=ratio(c.moved_to_7to30, c.prev_dpd_1to6_balance),
        channel_purity=channel_purity(c.channel_pure_count, c.active_loans),
        fimr=ratio(c.first_miss_count, c.fimr_cohort_count),
        all_time_fimr=ratio(c.all_time_first_miss_count, c.all_time_fimr_cohort_count),
        frr=ratio(c.fees_collected, c.fees_due),
        ayr=ratio(c.total_yield, c.par15_mid_month),
        on_time_rate=ratio(c.on_time_paid, c.on_time_due),
    )
