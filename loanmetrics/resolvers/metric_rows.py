"""Metric snapshots for the API: one shape whether they come from the daily tables or the
on-demand engine, so every GraphQL and REST field reads the same values.

The default window (month to date) of a calculated date reads officer_metrics_daily /
branch_metrics_daily; any other window (and regions, which have no daily table) runs the
metric engine with the caller's scope. Bands and penalty inputs are computed in SQL at read time
with the current thresholds: ratio bands from the exact numerators and denominators (SPEC §3:
stored ratios are for reading only), risk and DQI bands from the stored scores.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import cached_property
from typing import Any

import asyncpg

from loanmetrics.calculators import registry
from loanmetrics.calculators.bands import BandThresholds
from loanmetrics.db import metric_engine as engine
from loanmetrics.db import metric_sql
from loanmetrics.db.params import Params, Statement
from loanmetrics.principal import Principal
from loanmetrics.resolvers.sql import scope_predicate

PENALTIES = tuple((p.name, p.weight) for p in registry.PENALTIES)
BANDED = tuple(r.name for r in registry.RATIOS if r.band is not None)
BUCKET_LABELS = tuple((b.key, b.label) for b in registry.BUCKETS)


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
            # daily-table money is NUMERIC(20,2) already; engine money is integer cents
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
            definition = registry.RATIO[name]
            num, den = self.component(definition.numerator), self.component(definition.denominator)
            band = self._row[f"{name}_band"] if name in BANDED else None
            cached = self._ratio_cache[name] = RatioValue(Decimal(num), Decimal(den), self.ratio_value(name), band)
        return cached

    def ratio_value(self, name: str) -> float | None:
        """The ratio's display value alone (what a list page selects), without the exact parts."""
        definition = registry.RATIO[name]
        row = self._row
        return _display(definition, row[definition.numerator], row[definition.denominator])

    @cached_property
    def ratios(self) -> Mapping[str, RatioValue]:
        return {ratio.name: self.ratio(ratio.name) for ratio in registry.RATIOS}

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
_WHEN_EMPTY = {r.name: None if r.when_empty is None else float(r.when_empty) for r in registry.RATIOS}


def _display(ratio: registry.Ratio, numerator: Decimal | int, denominator: Decimal | int) -> float | None:
    """numerator / denominator for display (SPEC §5.5: null when the denominator is 0, unless the
    registry gives the ratio a value then, as channel purity's 1). Scaling money from cents
    cancels in the quotient, so engine rows need no conversion here."""
    if denominator == 0:
        return _WHEN_EMPTY[ratio.name]
    return float(numerator) / float(denominator)


def risk_band_sql(score: str, bands: BandThresholds) -> str:
    """SQL: the risk band of the score expression ``score`` under the current thresholds."""
    return metric_sql.score_band(registry.RISK_BAND, score, bands)


def dqi_band_sql(dqi: str, bands: BandThresholds) -> str:
    """SQL: the DQI band of the expression ``dqi`` under the current thresholds."""
    return metric_sql.score_band(registry.DQI_BAND, dqi, bands)


def band_expressions(alias: str, bands: BandThresholds) -> dict[str, str]:
    """SQL per band of a daily-table row ``alias`` under the current thresholds (the stored
    risk_band/dqi_band are those of the recalculation that wrote the row): score bands from the
    stored scores, ratio bands from the exact parts. Keys: ``risk_band``, ``dqi_band`` and
    ``<ratio>_band`` for the banded ratios."""
    return {
        "risk_band": risk_band_sql(f"{alias}.risk_score", bands),
        "dqi_band": dqi_band_sql(f"{alias}.dqi", bands),
        **metric_sql.ratio_bands(metric_sql.columns(alias), bands),
    }


def penalty_inputs_sql(alias: str) -> str:
    """SQL: the penalty inputs (SPEC §5.6, in ``PENALTIES`` order) of a daily-table row."""
    return f"{metric_sql.penalty_inputs(metric_sql.columns(alias))}::float8[]"


def band_columns(alias: str, bands: BandThresholds) -> str:
    """SQL columns: every band and the penalty inputs of a daily-table row ``alias``."""
    columns = [f"{expression} AS {name}" for name, expression in band_expressions(alias, bands).items()]
    return ", ".join([*columns, f"{penalty_inputs_sql(alias)} AS penalty_inputs"])


_DAILY_MONEY = tuple(c.name for c in registry.COMPONENTS if c.daily and c.money)
_DAILY_COUNTS = tuple(c.name for c in registry.COMPONENTS if c.daily and not c.money)


def daily_snapshot_columns(alias: str, bands: BandThresholds, *, float_gap: bool = True) -> str:
    """SQL columns: what a snapshot reads from a daily-table row ``alias``, in the engine's form
    (money as integer cents, so ``cents=True``). Decoding 21 NUMERIC columns per row cost more
    than the rest of a list page; cents are exact and int8 decodes about ten times faster."""
    a = alias
    return ", ".join([
        f"{a}.calculation_date", f"{a}.period_start",
        *(f"({a}.{name} * 100)::int8 AS {name}" for name in _DAILY_MONEY),
        *(f"{a}.{name}" for name in _DAILY_COUNTS),
        *([f"{a}.had_float_gap"] if float_gap else []),
        f"{a}.risk_score", f"{a}.dqi",
        band_columns(a, bands),
    ])


_FINE_SUMS = ", ".join(f"sum(f.{c.name})::bigint AS {c.name}" for c in registry.COMPONENTS if c.daily)
_IN_SCOPE_COMPONENTS = ", ".join(f"coalesce(s.{c.name}, 0) AS {c.name}" for c in registry.COMPONENTS if c.daily)
_STORED_FORM = ", ".join([
    *(f"(sc.{c.name} / 100.0)::numeric(20,2) AS {c.name}" if c.money else f"sc.{c.name}"
      for c in registry.COMPONENTS if c.daily),
    *(f"CASE WHEN abs(sc.{r.name}) < 100000000000000 THEN round(sc.{r.name}, 6) END::numeric(20,6) AS {r.name}"
      for r in registry.RATIOS),
])


def scoped_daily_sql(
    principal: Principal, params: Params, options: engine.EngineOptions, *,
    officers: Callable[[str], str], days: Callable[[str], str],
) -> str:
    """CTEs ending in ``scoped_daily``: the officer_metrics_daily rows selected by ``officers`` and
    ``days`` (conditions on an officer_id and a calculation_date column) with every component,
    ratio and score counting only the loans in the caller's scope (SPEC §10), rolled up at read
    time from the officer's fine groups (metric_fine_daily) in the caller's branches and regions.
    Same columns and forms as the daily table (money NUMERIC, ratios as stored), plus
    ``scoped_loans``: the officer's loans in scope that day (0: none, every component 0)."""
    in_scope = scope_predicate(principal, params, branch="f.branch", region="f.region")
    ratios = ", ".join(f"{metric_sql.ratio_value(r, metric_sql.columns('c'))} AS {r.name}" for r in registry.RATIOS)
    return f"""
        scoped_sums AS (
            SELECT f.calculation_date, f.officer_id, sum(f.loans)::bigint AS scoped_loans, {_FINE_SUMS}
            FROM metric_fine_daily f
            WHERE {days("f.calculation_date")} AND {officers("f.officer_id")} AND {in_scope}
            GROUP BY f.calculation_date, f.officer_id
        ),
        scoped_components AS (
            SELECT m0.officer_id, m0.calculation_date, m0.period_start, m0.had_float_gap,
                   coalesce(s.scoped_loans, 0) AS scoped_loans, {_IN_SCOPE_COMPONENTS}
            FROM officer_metrics_daily m0
            LEFT JOIN scoped_sums s ON s.calculation_date = m0.calculation_date AND s.officer_id = m0.officer_id
            WHERE {days("m0.calculation_date")} AND {officers("m0.officer_id")}
        ),
        scoped_scored AS (
            SELECT c.*, {ratios}, {metric_sql.risk_score(metric_sql.columns("c"))} AS risk_score
            FROM scoped_components c
        ),
        scoped_daily AS (
            SELECT sc.officer_id, sc.calculation_date, sc.period_start, sc.had_float_gap, sc.scoped_loans,
                   {_STORED_FORM}, sc.risk_score,
                   {metric_sql.dqi(metric_sql.columns("sc"), "sc.risk_score",
                                   channel_purity_in_dqi=options.channel_purity_in_dqi)} AS dqi
            FROM scoped_scored sc
        )"""


def snapshot_from_row(row: SnapshotRow, *, key_column: str, cents: bool) -> MetricSnapshot:
    """A snapshot from a daily-table row (money in Decimal) or an engine row (money in cents)."""
    return MetricSnapshot(row, key_column=key_column, cents=cents)


async def latest_calculated_date(conn: asyncpg.Connection, business_date: date) -> date | None:
    """The latest calculated date not after the business date: rows dated later (written before
    the business date was set back, or by hand) never become the default window."""
    value: date | None = await conn.fetchval(latest_calculated_sql("$1"), business_date)
    return value


def latest_calculated_sql(business_date: str) -> str:
    """SQL: ``latest_calculated_date`` of the business-date expression ``business_date`` (NULL
    when nothing is calculated), for statements that fold the lookup in."""
    return f"SELECT max(calculation_date) FROM officer_metrics_daily WHERE calculation_date <= {business_date}"


async def empty_snapshot(
    conn: asyncpg.Connection, key: str, start: date, end: date, *, had_float_gap: bool, options: engine.EngineOptions
) -> MetricSnapshot:
    """The metrics of a group with no loans in play: zeros, null ratios, neutral composites."""
    return (await empty_snapshots(conn, {key: had_float_gap}, start, end, options=options))[key]


async def empty_snapshots(
    conn: asyncpg.Connection, float_gaps: Mapping[str, bool], start: date, end: date, *, options: engine.EngineOptions
) -> dict[str, MetricSnapshot]:
    """``empty_snapshot`` of several groups (key -> its float-gap flag) in one statement."""
    if not float_gaps:
        return {}
    statement = _empty_statement(options)
    keys = list(float_gaps)
    rows = await conn.fetch(statement.sql, *statement.args(
        keys=keys, float_gaps=[float_gaps[key] for key in keys], end=end, start=start))
    return {row["group_key"]: snapshot_from_row(row, key_column="group_key", cents=True) for row in rows}


@functools.lru_cache(maxsize=16)
def _empty_statement(options: engine.EngineOptions) -> Statement:
    """The snapshots of groups (``keys``, with ``float_gaps``) that have no loans in play over
    [``start``, ``end``]: zero components, neutral composites, bands under ``options``."""
    params = Params()
    zeros = ", ".join(f"0::bigint AS {c.name}" for c in registry.COMPONENTS)
    return Statement(f"""
        WITH zero AS (
            SELECT z.group_key, z.had_float_gap, 0::bigint AS total_officers, {zeros}
            FROM unnest({params.slot("keys", "text[]")}, {params.slot("float_gaps", "bool[]")})
                AS z(group_key, had_float_gap)
        ),
        scored AS (SELECT z.*, {metric_sql.risk_score(metric_sql.columns("z"))} AS risk_score FROM zero z),
        rated AS (
            SELECT s.*, {metric_sql.dqi(metric_sql.columns("s"), "s.risk_score",
                                        channel_purity_in_dqi=options.channel_purity_in_dqi)} AS dqi
            FROM scored s
        )
        SELECT r.*, {params.slot("end", "date")} AS calculation_date, {params.slot("start", "date")} AS period_start,
               {metric_sql.score_band(registry.RISK_BAND, "r.risk_score", options.bands)} AS risk_band,
               {metric_sql.score_band(registry.DQI_BAND, "r.dqi", options.bands)} AS dqi_band,
               {", ".join(f"{sql} AS {name}" for name, sql in metric_sql.ratio_bands(metric_sql.columns("r"),
                                                                                    options.bands).items())},
               {metric_sql.penalty_inputs(metric_sql.columns("r"))} AS penalty_inputs
        FROM rated r
    """, params)
