"""Metric snapshots for the API: one shape whether they come from the daily tables or the
on-demand engine, so every GraphQL and REST field reads the same values.

The default window (month to date) of a calculated date reads officer_metrics_daily /
branch_metrics_daily; any other window (and regions, which have no daily table) runs the
metric engine with the caller's scope. Bands and penalty inputs are computed in SQL from the
exact numerators and denominators (SPEC §3: stored ratios are for reading only).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

import asyncpg

from db import metric_engine as engine
from loanmetrics.settings import BandSettings

PENALTIES = (("porr", 20), ("fimr", 15), ("roll", 10), ("waivers", 10), ("backdated", 10), ("reversals", 10),
             ("frr", 10), ("channel_purity", 5), ("float_gap", 10))
BANDED = ("fimr", "all_time_fimr", "d06_slippage", "roll", "ayr")
BUCKET_LABELS = (("0", "0"), ("1_6", "1-6"), ("7_30", "7-30"), ("31_60", "31-60"), ("61_90", "61-90"),
                 ("90_plus", "90+"))


@dataclass(frozen=True)
class RatioValue:
    numerator: Decimal
    denominator: Decimal
    value: float | None
    band: str | None


@dataclass(frozen=True)
class Penalty:
    name: str
    weight: int
    input: float
    points: float


@dataclass(frozen=True)
class MetricSnapshot:
    """Every SPEC §5.5-5.7 quantity of one group over one window, money as exact Decimals."""

    group_key: str
    calculation_date: date
    period_start: date
    components: Mapping[str, Decimal | int]
    ratios: Mapping[str, RatioValue]
    risk_score: int
    risk_band: str
    dqi: int
    dqi_band: str
    penalties: tuple[Penalty, ...]
    had_float_gap: bool = False
    total_officers: int | None = None
    region: str | None = None
    buckets: tuple[tuple[str, int, Decimal], ...] = field(default=())


def band_columns(alias: str, bands: BandSettings) -> str:
    """SQL columns: the ratio bands and penalty inputs of a daily-table row ``alias``."""
    a = alias

    def at_most(n: str, d: str, green: float, watch: float) -> str:
        return f"lm_band_at_most({a}.{n}, {a}.{d}, {Decimal(str(green))}, {Decimal(str(watch))})"

    return ", ".join([
        f"{at_most('first_miss_count', 'fimr_cohort_count', bands.fimr_green, bands.fimr_watch)} AS fimr_band",
        f"{at_most('all_time_first_miss_count', 'all_time_fimr_cohort_count', bands.fimr_green, bands.fimr_watch)}"
        " AS all_time_fimr_band",
        f"{at_most('dpd_1to6_balance', 'amount_due_7d', bands.slippage_green, bands.slippage_watch)}"
        " AS d06_slippage_band",
        f"{at_most('moved_to_7to30', 'prev_dpd_1to6_balance', bands.roll_green, bands.roll_watch)} AS roll_band",
        f"lm_band_at_least({a}.total_yield, {a}.par15_mid_month, {Decimal(str(bands.ayr_green))}, "
        f"{Decimal(str(bands.ayr_watch))}) AS ayr_band",
        f"lm_penalty_inputs({a}.overdue_15d_amount, {a}.total_portfolio, {a}.first_miss_count, "
        f"{a}.fimr_cohort_count, {a}.moved_to_7to30, {a}.prev_dpd_1to6_balance, {a}.waivers_amount, "
        f"{a}.amount_due_7d, {a}.backdated_count, {a}.reversals_count, {a}.total_entries, {a}.fees_collected, "
        f"{a}.fees_due, {a}.channel_pure_count, {a}.active_loans, {a}.had_float_gap) AS penalty_inputs",
    ])


def snapshot_from_row(row: Any, *, key_column: str, cents: bool) -> MetricSnapshot:
    """A snapshot from a daily-table row (money in Decimal) or an engine row (money in cents)."""

    def money(name: str) -> Decimal:
        value = row[name]
        # daily-table money is NUMERIC(15,2) already; engine money is integer cents
        return engine.cents(value) if cents else value

    components: dict[str, Decimal | int] = {name: money(name) for name in engine.MONEY_COMPONENTS}
    for name in engine.COUNT_COMPONENTS:
        if name in row:
            components[name] = row[name]
    ratios = {}
    for name, (numerator, denominator) in engine.RATIOS.items():
        num, den = components[numerator], components[denominator]
        if den == 0:
            value: float | None = 1.0 if name == "channel_purity" else None
        else:
            value = float(num) / float(den)  # for display; exact parts travel beside it
        band = row[f"{name}_band"] if name in BANDED else None
        ratios[name] = RatioValue(Decimal(num), Decimal(den), value, band)
    inputs = [float(x) for x in row["penalty_inputs"]]
    penalties = tuple(
        Penalty(name, weight, value, weight * min(1.0, max(0.0, value)))
        for (name, weight), value in zip(PENALTIES, inputs, strict=True)
    )
    buckets = tuple(
        (label, int(row[f"bucket_{column}_count"]), money(f"bucket_{column}_balance"))
        for column, label in BUCKET_LABELS
    )
    return MetricSnapshot(
        group_key=str(row[key_column]),
        calculation_date=row["calculation_date"],
        period_start=row["period_start"],
        components=components,
        ratios=ratios,
        risk_score=int(row["risk_score"]),
        risk_band=str(row["risk_band"]),
        dqi=int(row["dqi"]),
        dqi_band=str(row["dqi_band"]),
        penalties=penalties,
        had_float_gap=bool(row["had_float_gap"]),
        total_officers=int(row["total_officers"]) if "total_officers" in row else None,
        region=row.get("region") if "region" in row else row.get("main_region"),
        buckets=buckets,
    )


async def latest_calculated_date(conn: asyncpg.Connection) -> date | None:
    value: date | None = await conn.fetchval("SELECT max(calculation_date) FROM officer_metrics_daily")
    return value


async def empty_snapshot(
    conn: asyncpg.Connection, key: str, start: date, end: date, *, had_float_gap: bool, options: engine.EngineOptions
) -> MetricSnapshot:
    """The metrics of a group with no loans in play: zeros, null ratios, neutral composites."""
    row = await conn.fetchrow(
        """
        SELECT lm_risk_score(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, $1) AS risk_score,
               lm_penalty_inputs(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, $1) AS penalty_inputs
        """,
        had_float_gap,
    )
    assert row is not None
    risk = int(row["risk_score"])
    quality = await conn.fetchval("SELECT lm_dqi($1, 0, 0, 0, 0, 0, 0, $2)", risk, options.channel_purity_in_dqi)
    bands = await conn.fetchrow(
        "SELECT lm_risk_band($1, $2, $3, $4) AS risk_band, lm_dqi_band($5, $6, $7) AS dqi_band",
        risk, options.bands.risk_green, options.bands.risk_watch, options.bands.risk_amber,
        quality, options.bands.dqi_green, options.bands.dqi_watch,
    )
    assert bands is not None
    zero: dict[str, Any] = dict.fromkeys((*engine.MONEY_COMPONENTS, *engine.COUNT_COMPONENTS), 0)
    zero.update({f"{name}_band": None for name in BANDED})
    zero.update({
        "calculation_date": end, "period_start": start, "group_key": key, "risk_score": risk,
        "risk_band": bands["risk_band"], "dqi": int(quality), "dqi_band": bands["dqi_band"],
        "penalty_inputs": row["penalty_inputs"], "had_float_gap": had_float_gap, "total_officers": 0,
    })
    return snapshot_from_row(zero, key_column="group_key", cents=True)
