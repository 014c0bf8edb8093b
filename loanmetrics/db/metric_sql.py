"""SQL text generated from the metric registry (``calculators/registry.py``): the one place the
engine, the daily tables and the API readers get their per-loan quantities, component sums,
ratios, risk score, DQI, penalty inputs, bands and bucket labels from.

Expressions read a group's components through ``col`` (a function from a component name to its
SQL, e.g. ``m.total_portfolio``), so the same text serves the engine's rows (money in cents)
and the daily tables (money in NUMERIC): ratios, scores and bands do not depend on the scale.
Thresholds and the DQI toggle are deployment settings, validated numbers, written as literals.
Exact arithmetic: ratios at 40 decimals for display, scores as exact sums of fractions written
inline (a 40-digit decimal sum can land a hair below an exact .5; a PL/pgSQL fraction sum cost
0.7 ms a group), bands by the exact comparison ``numerator <= threshold * denominator``.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from fractions import Fraction

from loanmetrics.calculators import registry as r
from loanmetrics.calculators.bands import BandThresholds

Column = Callable[[str], str]


def columns(alias: str | None = None) -> Column:
    """Component names as columns of ``alias`` (unqualified without one)."""
    if alias is None:
        return lambda name: name
    return lambda name: f"{alias}.{name}"


def number(value: Decimal | int | Fraction) -> str:
    """A literal (a validated setting or a registry constant: never user input)."""
    if isinstance(value, Fraction):
        if value.denominator == 1:
            return str(value.numerator)
        return f"({value.numerator}::numeric / {value.denominator})"
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"not a finite threshold: {value}")
        return format(value, "f")
    return str(int(value))


def _clamp(value: Fraction) -> Fraction:
    return min(Fraction(1), max(Fraction(0), value))


# --- the engine's per-loan row and fine groups ------------------------------------------------------


def quantity_columns() -> str:
    """The per-loan quantities, one column each."""
    return ",\n           ".join(f"{q.sql} AS {q.name}" for q in r.QUANTITIES)


def condition(where: tuple[r.Condition, ...]) -> str:
    return " AND ".join(c.sql for c in where)


def component_sum(component: r.Component) -> str:
    """The aggregate of one component over the per-loan rows of a group."""
    where = f" FILTER (WHERE {condition(component.where)})" if component.where else ""
    if component.sums is None:
        return f"count(*){where}"
    # lm_sum_c: a bigint sum with a bigint state (sum(bigint) keeps a 128-bit state and returns
    # numeric: measurably slower over 50 aggregates a loan)
    return f"coalesce(lm_sum_c({component.sums}){where}, 0)"


def component_sums() -> str:
    return ",\n           ".join(f"{component_sum(c)} AS {c.name}" for c in r.COMPONENTS)


# --- ratios --------------------------------------------------------------------------------------


def ratio_value(ratio: r.Ratio, col: Column) -> str:
    """numerator / denominator at 40 decimals; null (or ``when_empty``) when the denominator is 0."""
    value = f"lm_ratio({col(ratio.numerator)}, {col(ratio.denominator)})"
    return value if ratio.when_empty is None else f"coalesce({value}, {number(ratio.when_empty)})"


def ratio_values(col: Column) -> str:
    return ",\n       ".join(f"{ratio_value(ratio, col)} AS {ratio.name}" for ratio in r.RATIOS)


# --- bands -------------------------------------------------------------------------------------


def _band_of(rule: r.BandRule, value: Fraction, thresholds: BandThresholds) -> r.Band:
    for band, threshold in thresholds.levels(rule):
        if (value >= Fraction(threshold)) if rule.higher_is_better else (value <= Fraction(threshold)):
            return band
    return rule.otherwise


def score_band(rule_name: str, score: str, thresholds: BandThresholds) -> str:
    """The band (title case) of the score expression ``score``."""
    rule = r.BAND_RULE[rule_name]
    op = ">=" if rule.higher_is_better else "<="
    cases = " ".join(f"WHEN {score} {op} {number(t)} THEN '{band.title_case}'" for band, t in thresholds.levels(rule))
    return f"CASE {cases} ELSE '{rule.otherwise.title_case}' END"


def ratio_band(ratio: r.Ratio, col: Column, thresholds: BandThresholds) -> str | None:
    """The band (title case) of a banded ratio by exact comparison of its parts; None unbanded."""
    if ratio.band is None:
        return None
    rule = r.BAND_RULE[ratio.band]
    n, d = col(ratio.numerator), col(ratio.denominator)
    op = ">=" if rule.higher_is_better else "<="
    empty = "NULL" if ratio.when_empty is None else f"'{_band_of(rule, ratio.when_empty, thresholds).title_case}'"
    cases = " ".join(f"WHEN {n} {op} {number(t)} * {d} THEN '{band.title_case}'" for band, t in thresholds.levels(rule))
    return f"CASE WHEN {d} = 0 THEN {empty}::text {cases} ELSE '{rule.otherwise.title_case}' END"


def ratio_bands(col: Column, thresholds: BandThresholds) -> dict[str, str]:
    """``<ratio>_band`` -> SQL for every banded ratio."""
    out = {}
    for ratio in r.RATIOS:
        band = ratio_band(ratio, col, thresholds)
        if band is not None:
            out[f"{ratio.name}_band"] = band
    return out


# --- risk score, penalties, DQI ------------------------------------------------------------------


Fraction_ = tuple[str, str]
"""An exact fraction as the SQL of its numerator and its (non-zero) denominator, both numeric."""


def _term(weight: int, numerator: str, denominator: str, shortfall: bool, empty: Fraction) -> Fraction_:
    """weight · c(x) as an exact fraction, x = numerator / denominator (``empty`` when the
    denominator is 0), or 1 − x for a shortfall. Over the denominator itself where it is not 0,
    so terms sharing a denominator add without cross-multiplying."""
    n, d = f"({numerator})::numeric", f"({denominator})::numeric"
    at_empty = weight * _clamp(1 - empty if shortfall else empty)
    if shortfall:
        num = (f"CASE WHEN {d} = 0 THEN {at_empty.numerator} WHEN {d} - {n} <= 0 THEN 0 "
               f"WHEN {n} <= 0 THEN {weight} * {d} ELSE {weight} * ({d} - {n}) END")
    else:
        num = (f"CASE WHEN {d} = 0 THEN {at_empty.numerator} WHEN {n} <= 0 THEN 0 "
               f"WHEN {n} >= {d} THEN {weight} * {d} ELSE {weight} * {n} END")
    return num, f"CASE WHEN {d} = 0 THEN {at_empty.denominator} ELSE {d} END"


def _fraction_sum(terms: list[Fraction_]) -> Fraction_:
    """Σ of fractions, exactly and inline (no function call per group): terms over one
    denominator are added first, then each group's numerator is multiplied by the other groups'
    denominators (numeric multiplication is exact)."""
    groups: dict[str, list[str]] = {}
    for num, den in terms:
        groups.setdefault(den, []).append(num)
    dens = [den for den in groups if den != "1"]
    parts = []
    for den, nums in groups.items():
        others = [f"({other})" for other in dens if other != den]
        parts.append(" * ".join([f"({' + '.join(nums)})", *others]))
    return " + ".join(parts), " * ".join(f"({den})" for den in dens) or "1"


def _round_half_up(num: str, den: str) -> str:
    """round half up of num / den as an integer, exactly: div truncates (2 num + den) / (2 den) =
    num / den + 1/2, which depends only on the value, not on how the parts are scaled."""
    return f"div(2 * ({num}) + ({den}), 2 * ({den}))::integer"


def risk_score(col: Column) -> str:
    """max(0, round(100 − Σ weight · c(input))) as an exact fraction, rounded half up."""
    terms: list[Fraction_] = [(str(r.MAX_SCORE), "1")]
    for p in r.PENALTIES:
        if p.flag is not None:
            terms.append((f"CASE WHEN {col(p.flag)} THEN {-p.weight} ELSE 0 END", "1"))
        else:
            numerator, denominator = p.parts
            num, den = _term(p.weight, col(numerator), col(denominator), p.shortfall, p.neutral)
            terms.append((f"-({num})", den))
    return f"greatest(0, {_round_half_up(*_fraction_sum(terms))})"


def penalty_inputs(col: Column) -> str:
    """The penalties' inputs x (before clamping), in registry order, as numeric[]."""
    inputs = []
    for p in r.PENALTIES:
        if p.flag is not None:
            inputs.append(f"CASE WHEN {col(p.flag)} THEN 1 ELSE 0 END")
            continue
        numerator, denominator = p.parts
        x = f"coalesce(lm_ratio({col(numerator)}, {col(denominator)}), {number(p.neutral)})"
        inputs.append(f"1 - {x}" if p.shortfall else x)
    return f"ARRAY[{', '.join(inputs)}]::numeric[]"


def penalty_points(inputs: str) -> str:
    """weight · c(input) of each penalty, from an array of their inputs."""
    points = (f"{p.weight} * greatest(0, least(1, ({inputs})[{n}]))" for n, p in enumerate(r.PENALTIES, start=1))
    return f"ARRAY[{', '.join(points)}]::numeric[]"


def _ratio_fraction(ratio: r.Ratio, col: Column) -> tuple[str, str, Fraction]:
    empty = ratio.value_when_empty()
    assert empty is not None, f"ratio {ratio.name} in the DQI needs a neutral value"
    return col(ratio.numerator), col(ratio.denominator), empty


def dqi(col: Column, score: str, *, channel_purity_in_dqi: bool) -> str:
    """round(Σ weight · c(x) · CP') (SPEC §5.6) as an exact fraction, rounded half up; ``score`` is
    the SQL of the group's risk score."""
    terms: list[Fraction_] = []
    for term in r.DQI_TERMS:
        if term.ratio is None:  # RQ = risk_score / 100
            terms.append((f"{term.weight} * least(greatest({score}, 0), {r.MAX_SCORE})::numeric", str(r.MAX_SCORE)))
        else:
            n, d, empty = _ratio_fraction(r.RATIO[term.ratio], col)
            terms.append(_term(term.weight, n, d, term.shortfall, empty))
    q_num, q_den = _fraction_sum(terms)
    if channel_purity_in_dqi:
        n, d, empty = _ratio_fraction(r.RATIO[r.DQI_FACTOR], col)
        n, d = f"({n})::numeric", f"({d})::numeric"
        cp = _clamp(empty)
        cp_num = f"CASE WHEN {d} = 0 THEN {cp.numerator} WHEN {n} >= {d} THEN {d} WHEN {n} <= 0 THEN 0 ELSE {n} END"
        cp_den = f"CASE WHEN {d} = 0 THEN {cp.denominator} ELSE {d} END"
        return _round_half_up(f"({q_num}) * ({cp_num})", f"({q_den}) * ({cp_den})")
    return _round_half_up(q_num, q_den)


# --- buckets -------------------------------------------------------------------------------------


def bucket_label(dpd: str) -> str:
    """The DPD bucket label of the DPD expression ``dpd``."""
    cases = " ".join(f"WHEN {dpd} <= {b.high} THEN '{b.label}'" for b in r.BUCKETS if b.high is not None)
    last = r.BUCKETS[-1]
    return f"CASE {cases} ELSE '{last.label}' END"
