"""Risk score and DQI of SPEC §5.6, in exact Fractions, with the penalties itemised in SPEC order."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from loanmetrics.calculators.components import Components
from loanmetrics.calculators.money import clamp, round_half_up
from loanmetrics.calculators.ratios import Ratios

PENALTY_WEIGHTS: tuple[tuple[str, int], ...] = (
    ("porr", 20),
    ("fimr", 15),
    ("roll", 10),
    ("waivers", 10),
    ("backdated", 10),
    ("reversals", 10),
    ("frr", 10),
    ("channel_purity", 5),
    ("float_gap", 10),
)


@dataclass(frozen=True)
class Penalty:
    """One term of the penalty sum: weight · c(input), with the input before clamping."""

    name: str
    weight: int
    input: Fraction
    points: Fraction


def neutral(value: Fraction | None, default: int) -> Fraction:
    """A ratio's value, or its neutral stand-in when null (0 for risks, 1 for FRR, OTI, CP)."""
    return Fraction(default) if value is None else value


def share(numerator: int | Fraction, denominator: int | Fraction) -> Fraction | None:
    """numerator / denominator, None when the denominator is 0 (the waiver and entry ratios)."""
    return None if denominator == 0 else Fraction(numerator) / Fraction(denominator)


def risk_penalties(c: Components, r: Ratios) -> tuple[Penalty, ...]:
    """The nine penalty terms of §5.6 in SPEC order (neutral values stand in for null ratios)."""
    inputs = {
        "porr": neutral(r.porr.value, 0),
        "fimr": neutral(r.fimr.value, 0),
        "roll": neutral(r.roll.value, 0),
        "waivers": neutral(share(Fraction(c.waivers_amount), Fraction(c.amount_due_7d)), 0),
        "backdated": neutral(share(c.backdated_count, c.total_entries), 0),
        "reversals": neutral(share(c.reversals_count, c.total_entries), 0),
        "frr": 1 - neutral(r.frr.value, 1),
        "channel_purity": 1 - neutral(r.channel_purity.value, 1),
        "float_gap": Fraction(1 if c.had_float_gap else 0),
    }
    return tuple(
        Penalty(name=name, weight=weight, input=inputs[name], points=weight * clamp(inputs[name]))
        for name, weight in PENALTY_WEIGHTS
    )


def penalties_total(penalties: tuple[Penalty, ...]) -> Fraction:
    """The sum of the penalty points."""
    return sum((p.points for p in penalties), Fraction(0))


def risk_score(penalties: tuple[Penalty, ...]) -> int:
    """risk_score = max(0, round(100 − penalties)) (§5.6)."""
    return max(0, round_half_up(100 - penalties_total(penalties)))


def dqi_raw(score: int, r: Ratios, *, channel_purity_in_dqi: bool = True) -> Fraction:
    """100 · (0.4·c(RQ) + 0.35·c(OTI) + 0.25·(1 − c(FIMR))) · CP', unrounded (§5.6).

    RQ is the rounded risk score / 100; CP' is c(CP), or 1 when the channel-purity toggle is off.
    """
    rq = Fraction(score, 100)
    oti = neutral(r.on_time_rate.value, 1)
    fimr = neutral(r.fimr.value, 0)
    cp_prime = clamp(neutral(r.channel_purity.value, 1)) if channel_purity_in_dqi else Fraction(1)
    quality = Fraction(4, 10) * clamp(rq) + Fraction(35, 100) * clamp(oti) + Fraction(25, 100) * (1 - clamp(fimr))
    return 100 * quality * cp_prime


def dqi(score: int, r: Ratios, *, channel_purity_in_dqi: bool = True) -> int:
    """DQI = round(dqi_raw) (§5.6)."""
    return round_half_up(dqi_raw(score, r, channel_purity_in_dqi=channel_purity_in_dqi))
