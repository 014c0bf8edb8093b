"""Risk score and DQI of SPEC §5.6 (the registry's penalties and terms), in exact Fractions,
with the penalties itemised in SPEC order."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from loanmetrics.calculators import registry
from loanmetrics.calculators.components import Components
from loanmetrics.calculators.money import clamp, round_half_up
from loanmetrics.calculators.ratios import Ratios

PENALTY_WEIGHTS: tuple[tuple[str, int], ...] = tuple((p.name, p.weight) for p in registry.PENALTIES)


@dataclass(frozen=True)
class Penalty:
    """One term of the penalty sum: weight · c(input), with the input before clamping."""

    name: str
    weight: int
    input: Fraction
    points: Fraction


def neutral(value: Fraction | None, default: Fraction | int) -> Fraction:
    """A ratio's value, or its neutral stand-in when null (0 for risks, 1 for FRR, OTI, CP)."""
    return Fraction(default) if value is None else value


def share(numerator: int | Fraction, denominator: int | Fraction) -> Fraction | None:
    """numerator / denominator, None when the denominator is 0."""
    return None if denominator == 0 else Fraction(numerator) / Fraction(denominator)


def penalty_input(p: registry.Penalty, c: Components) -> Fraction:
    """The penalty's input x before clamping: the fraction (neutral when empty), 1 − it for a
    shortfall, or the flag as 0/1."""
    if p.flag is not None:
        return Fraction(1 if getattr(c, p.flag) else 0)
    numerator, denominator = p.parts
    x = neutral(share(Fraction(c.of(numerator)), Fraction(c.of(denominator))), p.neutral)
    return 1 - x if p.shortfall else x


def risk_penalties(c: Components, r: Ratios | None = None) -> tuple[Penalty, ...]:
    """The penalty terms of §5.6 in SPEC order (neutral values stand in for null ratios)."""
    out = []
    for p in registry.PENALTIES:
        x = penalty_input(p, c)
        out.append(Penalty(name=p.name, weight=p.weight, input=x, points=p.weight * clamp(x)))
    return tuple(out)


def penalties_total(penalties: tuple[Penalty, ...]) -> Fraction:
    """The sum of the penalty points."""
    return sum((p.points for p in penalties), Fraction(0))


def risk_score(penalties: tuple[Penalty, ...]) -> int:
    """risk_score = max(0, round(100 − penalties)) (§5.6)."""
    return max(0, round_half_up(registry.MAX_SCORE - penalties_total(penalties)))


def _ratio_value(r: Ratios, name: str) -> Fraction:
    definition = registry.RATIO[name]
    empty = definition.value_when_empty()
    if empty is None:
        raise ValueError(f"ratio {name} in the DQI needs a neutral value")
    return neutral(r.by_name()[name].value, empty)


def dqi_raw(score: int, r: Ratios, *, channel_purity_in_dqi: bool = True) -> Fraction:
    """100 · (0.4·c(RQ) + 0.35·c(OTI) + 0.25·(1 − c(FIMR))) · CP', unrounded (§5.6).

    RQ is the rounded risk score / 100; CP' is c(CP), or 1 when the channel-purity toggle is off.
    """
    quality = Fraction(0)
    for term in registry.DQI_TERMS:
        x = Fraction(score, registry.MAX_SCORE) if term.ratio is None else _ratio_value(r, term.ratio)
        quality += term.weight * (1 - clamp(x) if term.shortfall else clamp(x))
    factor = clamp(_ratio_value(r, registry.DQI_FACTOR)) if channel_purity_in_dqi else Fraction(1)
    return quality * factor


def dqi(score: int, r: Ratios, *, channel_purity_in_dqi: bool = True) -> int:
    """DQI = round(dqi_raw) (§5.6)."""
    return round_half_up(dqi_raw(score, r, channel_purity_in_dqi=channel_purity_in_dqi))
