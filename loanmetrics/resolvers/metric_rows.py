"""Metric snapshots for the API: one shape whether they come from the daily tables or the
on-demand engine, so every GraphQL and REST field reads the same values.

The default window (month to date) of a calculated date reads officer_metrics_daily /
branch_metrics_daily; any other window (and regions, which have no daily table) runs the
metric engine with the caller's scope. Bands and penalty inputs are computed in SQL at read time
with the current thresholds: ratio bands from the exact numerators and denominators (SPEC §3:
stored ratios are for reading only), risk and DQI bands from the stored scores.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import cached_property
from typing import Any

import asyncpg

from loanmetrics.db import metric_engine as engine
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


SnapshotRow = Mapping[str, Any] | asyncpg.Record
"""A daily-table row, an engine row, or a plain dict of the same columns."""


class MetricSnapshot:
    """Every SPEC §5.5-5.7 quantity of one group over one window, read from one SQL row (a
    daily-table row with money in Decimal, or an engine row with money in integer cents).

    Each quantity is derived when first read: a dashboard page asks for a handful of the ~60
    and converting all of them eagerly cost more than the rest of the request."""

    def __init__(self, row: SnapshotRow, *, key_column: str, cents: bool) -> None:
        self._row = row
        self._key_column = key_column
        self._cents = cents
        self._ratio_cache: dict[str, RatioValue] = {}

    @property
    def group_key(self) -> str:
        return str(self._row[self._key_column])

    @property
    def calculation_date(self) -> date:
        value: date = self._row["calculation_date"]
        return value

    @property
    def period_start(self) -> date:
        value: date = self._row["period_start"]
        return value

    @property
    def risk_score(self) -> int:
        return int(self._row["risk_score"])

    @property
    def risk_band(self) -> str:
        return str(self._row["risk_band"])

    @property
    def dqi(self) -> int:
        return int(self._row["dqi"])

    @property
    def dqi_band(self) -> str:
        return str(self._row["dqi_band"])

    @property
    def had_float_gap(self) -> bool:
        return bool(self._row["had_float_gap"])

    @property
    def total_officers(self) -> int | None:
        return int(self._row["total_officers"]) if "total_officers" in self._row else None

    @property
    def region(self) -> str | None:
        row = self._row
        value = row.get("region") if "region" in row else row.get("main_region")
        return None if value is None else str(value)

    def component(self, name: str) -> Decimal | int:
        """One money amount (exact Decimal) or count."""
        value = self._row[name]
        if name in _MONEY:
            # daily-table money is NUMERIC(15,2) already; engine money is integer cents
            return engine.cents(value) if self._cents else Decimal(value)
        return int(value)

    def amount(self, name: str) -> float:
        """A money amount as the API's Float: cents / 100 is the double nearest the exact
        amount, the same as float() of its Decimal, without building the Decimal."""
        value = self._row[name]
        return value / 100 if self._cents else float(value)

    @cached_property
    def components(self) -> Mapping[str, Decimal | int]:
        names = [*engine.MONEY_COMPONENTS, *(n for n in engine.COUNT_COMPONENTS if n in self._row)]
        return {name: self.component(name) for name in names}

    def ratio(self, name: str) -> RatioValue:
        cached = self._ratio_cache.get(name)
        if cached is None:
            numerator, denominator = engine.RATIOS[name]
            num, den = self.component(numerator), self.component(denominator)
            band = self._row[f"{name}_band"] if name in BANDED else None
            cached = self._ratio_cache[name] = RatioValue(Decimal(num), Decimal(den), self.ratio_value(name), band)
        return cached

    def ratio_value(self, name: str) -> float | None:
        """The ratio's display value alone (what a list page selects), without the exact parts."""
        numerator, denominator = engine.RATIOS[name]
        row = self._row
        return _display(name, row[numerator], row[denominator])

    @cached_property
    def ratios(self) -> Mapping[str, RatioValue]:
        return {name: self.ratio(name) for name in engine.RATIOS}

    @cached_property
    def penalties(self) -> tuple[Penalty, ...]:
        inputs = [float(x) for x in self._row["penalty_inputs"]]
        return tuple(
            Penalty(name, weight, value, weight * min(1.0, max(0.0, value)))
            for (name, weight), value in zip(PENALTIES, inputs, strict=True)
        )

    @cached_property
    def buckets(self) -> tuple[tuple[str, int, Decimal], ...]:
        return tuple(
            (label, int(self._row[f"bucket_{column}_count"]), Decimal(self.component(f"bucket_{column}_balance")))
            for column, label in BUCKET_LABELS
        )


_MONEY = frozenset(engine.MONEY_COMPONENTS)


def _display(name: str, numerator: Decimal | int, denominator: Decimal | int) -> float | None:
    """numerator / denominator for display (SPEC §5.5: null when the denominator is 0, except
    channel purity, which is 1 for an officer with no active loans). Scaling money from cents
    cancels in the quotient, so engine rows need no conversion here."""
    if denominator == 0:
        return 1.0 if name == "channel_purity" else None
    return float(numerator) / float(denominator)


def risk_band_sql(score: str, bands: BandSettings) -> str:
    """SQL: the risk band of the score expression ``score`` under the current thresholds."""
    return f"lm_risk_band({score}, {int(bands.risk_green)}, {int(bands.risk_watch)}, {int(bands.risk_amber)})"


def dqi_band_sql(dqi: str, bands: BandSettings) -> str:
    """SQL: the DQI band of the expression ``dqi`` under the current thresholds."""
    return f"lm_dqi_band({dqi}, {int(bands.dqi_green)}, {int(bands.dqi_watch)})"


def band_expressions(alias: str, bands: BandSettings) -> dict[str, str]:
    """SQL per band of a daily-table row ``alias`` under the current thresholds (the stored
    risk_band/dqi_band are those of the recalculation that wrote the row): score bands from the
    stored scores, ratio bands from the exact parts. Keys: ``risk_band``, ``dqi_band`` and
    ``<ratio>_band`` for the banded ratios."""
    a = alias

    def at_most(n: str, d: str, green: float, watch: float) -> str:
        return f"lm_band_at_most({a}.{n}, {a}.{d}, {Decimal(str(green))}, {Decimal(str(watch))})"

    return {
        "risk_band": risk_band_sql(f"{a}.risk_score", bands),
        "dqi_band": dqi_band_sql(f"{a}.dqi", bands),
        "fimr_band": at_most("first_miss_count", "fimr_cohort_count", bands.fimr_green, bands.fimr_watch),
        "all_time_fimr_band": at_most("all_time_first_miss_count", "all_time_fimr_cohort_count",
                                      bands.fimr_green, bands.fimr_watch),
        "d06_slippage_band": at_most("dpd_1to6_balance", "amount_due_7d", bands.slippage_green,
                                     bands.slippage_watch),
        "roll_band": at_most("moved_to_7to30", "prev_dpd_1to6_balance", bands.roll_green, bands.roll_watch),
        "ayr_band": f"lm_band_at_least({a}.total_yield, {a}.par15_mid_month, {Decimal(str(bands.ayr_green))}, "
                    f"{Decimal(str(bands.ayr_watch))})",
    }


def penalty_inputs_sql(alias: str) -> str:
    """SQL: the nine penalty inputs (SPEC §5.6, in ``PENALTIES`` order) of a daily-table row."""
    a = alias
    return (
        f"lm_penalty_inputs({a}.overdue_15d_amount, {a}.total_portfolio, {a}.first_miss_count, "
        f"{a}.fimr_cohort_count, {a}.moved_to_7to30, {a}.prev_dpd_1to6_balance, {a}.waivers_amount, "
        f"{a}.amount_due_7d, {a}.backdated_count, {a}.reversals_count, {a}.total_entries, {a}.fees_collected, "
        f"{a}.fees_due, {a}.channel_pure_count, {a}.active_loans, {a}.had_float_gap)::float8[]"
    )


def band_columns(alias: str, bands: BandSettings) -> str:
    """SQL columns: every band and the penalty inputs of a daily-table row ``alias``."""
    columns = [f"{expression} AS {name}" for name, expression in band_expressions(alias, bands).items()]
    return ", ".join([*columns, f"{penalty_inputs_sql(alias)} AS penalty_inputs"])


_DAILY_COUNTS = tuple(name for name in engine.COUNT_COMPONENTS
                      if name not in ("total_officers", "par15_mid_month_count"))


def daily_snapshot_columns(alias: str, bands: BandSettings, *, float_gap: bool = True) -> str:
    """SQL columns: what a snapshot reads from a daily-table row ``alias``, in the engine's form
    (money as integer cents, so ``cents=True``). Decoding 21 NUMERIC columns per row cost more
    than the rest of a list page; cents are exact and int8 decodes about ten times faster."""
    a = alias
    return ", ".join([
        f"{a}.calculation_date", f"{a}.period_start",
        *(f"({a}.{name} * 100)::int8 AS {name}" for name in engine.MONEY_COMPONENTS),
        *(f"{a}.{name}" for name in _DAILY_COUNTS),
        *([f"{a}.had_float_gap"] if float_gap else []),
        f"{a}.risk_score", f"{a}.dqi",
        band_columns(a, bands),
    ])


def snapshot_from_row(row: SnapshotRow, *, key_column: str, cents: bool) -> MetricSnapshot:
    """A snapshot from a daily-table row (money in Decimal) or an engine row (money in cents)."""
    return MetricSnapshot(row, key_column=key_column, cents=cents)


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
