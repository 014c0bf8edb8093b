"""Bands of SPEC §5.6 (the rules are the registry's): the thresholds type, and the band of a value.

``BandThresholds`` is the one threshold type: the registry's default thresholds, one field per
rule and level (``risk_green``, ``fimr_watch``...), overridable per deployment through the
settings (``LOANMETRICS_BANDS__FIMR_GREEN``) and read by the reference and the engine alike.
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, create_model

from loanmetrics.calculators.registry import BAND_RULE, BAND_RULES, DQI_BAND, RATIO, RISK_BAND, Band, BandRule

__all__ = ["DEFAULT_THRESHOLDS", "Band", "BandThresholds", "band_of", "dqi_band", "ratio_band", "risk_band"]


class _Thresholds(BaseModel):
    """Per-deployment band thresholds, inclusive; the fields come from the registry's rules."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    if TYPE_CHECKING:  # the fields are the registry's: typed here for the type checker only
        def __init__(self, **thresholds: int | float | str | Decimal) -> None: ...

        def __getattr__(self, name: str) -> Any: ...

    def levels(self, rule: BandRule) -> tuple[tuple[Band, Decimal | int], ...]:
        """The rule's levels with this deployment's thresholds, best first."""
        return tuple((band, getattr(self, rule.setting(band))) for band, _ in rule.levels)


def _field(default: Decimal | int) -> Any:
    if isinstance(default, int):
        return (Annotated[int, Field(ge=0)], default)
    return (Annotated[Decimal, Field(ge=0, allow_inf_nan=False)], default)


if TYPE_CHECKING:
    BandThresholds = _Thresholds
else:
    BandThresholds = create_model(
        "BandThresholds",
        __base__=_Thresholds,
        __doc__=_Thresholds.__doc__,
        **{rule.setting(band): _field(default) for rule in BAND_RULES for band, default in rule.levels},
    )

DEFAULT_THRESHOLDS = BandThresholds()


def band_of(rule: BandRule, value: Fraction | int, t: BandThresholds = DEFAULT_THRESHOLDS) -> Band:
    """The band of ``value`` under ``rule`` with thresholds ``t``."""
    for band, threshold in t.levels(rule):
        limit = Fraction(threshold)
        if (value >= limit) if rule.higher_is_better else (value <= limit):
            return band
    return rule.otherwise


def risk_band(risk_score: int, t: BandThresholds = DEFAULT_THRESHOLDS) -> Band:
    """Green ≥ 80, Watch 60–79, Amber 40–59, Red < 40 (defaults)."""
    return band_of(BAND_RULE[RISK_BAND], risk_score, t)


def dqi_band(dqi: int, t: BandThresholds = DEFAULT_THRESHOLDS) -> Band:
    """Green ≥ 75, Watch 65–74, Flag < 65 (defaults)."""
    return band_of(BAND_RULE[DQI_BAND], dqi, t)


def ratio_band(name: str, value: Fraction | None, t: BandThresholds = DEFAULT_THRESHOLDS) -> Band | None:
    """The band of ratio ``name``; None for a null value or a ratio without a band."""
    if name not in RATIO:
        raise ValueError(f"unknown ratio {name!r}")
    rule = RATIO[name].band
    if value is None or rule is None:
        return None
    return band_of(BAND_RULE[rule], value, t)
