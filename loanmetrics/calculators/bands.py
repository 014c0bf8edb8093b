"""Bands of SPEC §5.6: thresholds (configurable, inclusive boundaries) and the band of each value."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction


class Band(StrEnum):
    """A band, spelled as the GraphQL enum spells it (REST and the tables use title case)."""

    GREEN = "GREEN"
    WATCH = "WATCH"
    AMBER = "AMBER"
    RED = "RED"
    FLAG = "FLAG"

    @property
    def title_case(self) -> str:
        """The title-case spelling stored in the tables and returned by REST ('Green', ...)."""
        return self.value.capitalize()


@dataclass(frozen=True)
class BandThresholds:
    """Per-deployment band thresholds; the defaults are SPEC §5.6's. All boundaries are inclusive."""

    risk_green_min: int = 80
    risk_watch_min: int = 60
    risk_amber_min: int = 40
    dqi_green_min: int = 75
    dqi_watch_min: int = 65
    fimr_green_max: Fraction = Fraction(3, 100)
    fimr_watch_max: Fraction = Fraction(6, 100)
    slippage_green_max: Fraction = Fraction(5, 100)
    slippage_watch_max: Fraction = Fraction(8, 100)
    roll_green_max: Fraction = Fraction(25, 100)
    roll_watch_max: Fraction = Fraction(35, 100)
    ayr_green_min: Fraction = Fraction(50, 100)
    ayr_watch_min: Fraction = Fraction(30, 100)


DEFAULT_THRESHOLDS = BandThresholds()

# The ratios of §5.5 that carry a band, and those that never do.
BANDED_RATIOS: tuple[str, ...] = ("fimr", "all_time_fimr", "d06_slippage", "roll", "ayr")
UNBANDED_RATIOS: tuple[str, ...] = ("porr", "frr", "on_time_rate", "channel_purity")


def risk_band(risk_score: int, t: BandThresholds = DEFAULT_THRESHOLDS) -> Band:
    """Green ≥ 80, Watch 60–79, Amber 40–59, Red < 40 (defaults)."""
    if risk_score >= t.risk_green_min:
        return Band.GREEN
    if risk_score >= t.risk_watch_min:
        return Band.WATCH
    if risk_score >= t.risk_amber_min:
        return Band.AMBER
    return Band.RED


def dqi_band(dqi: int, t: BandThresholds = DEFAULT_THRESHOLDS) -> Band:
    """Green ≥ 75, Watch 65–74, Flag < 65 (defaults)."""
    if dqi >= t.dqi_green_min:
        return Band.GREEN
    if dqi >= t.dqi_watch_min:
        return Band.WATCH
    return Band.FLAG


def ratio_band(name: str, value: Fraction | None, t: BandThresholds = DEFAULT_THRESHOLDS) -> Band | None:
    """The band of ratio `name` (a §5.5 ratio name); None for a null value or an unbanded ratio."""
    if value is None or name in UNBANDED_RATIOS:
        return None
    if name in ("fimr", "all_time_fimr"):
        return _at_most(value, t.fimr_green_max, t.fimr_watch_max)
    if name == "d06_slippage":
        return _at_most(value, t.slippage_green_max, t.slippage_watch_max)
    if name == "roll":
        return _at_most(value, t.roll_green_max, t.roll_watch_max)
    if name == "ayr":
        return _at_least(value, t.ayr_green_min, t.ayr_watch_min)
    raise ValueError(f"unknown ratio {name!r}")


def _at_most(value: Fraction, green_max: Fraction, watch_max: Fraction) -> Band:
    if value <= green_max:
        return Band.GREEN
    if value <= watch_max:
        return Band.WATCH
    return Band.FLAG


def _at_least(value: Fraction, green_min: Fraction, watch_min: Fraction) -> Band:
    if value >= green_min:
        return Band.GREEN
    if value >= watch_min:
        return Band.WATCH
    return Band.FLAG
