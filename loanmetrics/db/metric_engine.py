"""The metric engine (SPEC §5.4-5.7): every component, ratio, score and band, set-based in SQL.

One statement computes a set of (date D, window start S) pairs for the groups of one or more
kinds (officer, branch, region, all), optionally restricted to some officers, branches or
regions, in a single pass over the maintained ``loan_state`` (never the raw tables):
- stocks per loan and date by binary search in its arrays: DPD and total_out on D, D-7 and the
  mid-month M;
- flows as differences of cumulative arrays at the window's ends: collections, waivers and entry
  counts by payment date, fees due and on-time amounts by due date (capped at the closing date),
  and amount_due_7d over the installments due in [D, D+6] with alloc_i(D);
- per-loan values summed to (date, officer, branch, region), then rolled up per group kind;
- ratios at 40 decimals, risk score and DQI by exact fractions, bands by exact comparison,
  all generated from the metric registry (``db/metric_sql.py``).
Money is handled in integer cents and returned as Decimal with two places.
``calculators/`` is the Python reference these statements are property-tested against.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Literal

import asyncpg
from sqlalchemy import ARRAY

from loanmetrics.calculators import registry
from loanmetrics.calculators.bands import BandThresholds
from loanmetrics.db import metric_sql, models
from loanmetrics.db.params import Params, Statement

GroupKind = Literal["officer", "branch", "region", "all"]

MONEY_COMPONENTS = tuple(c.name for c in registry.COMPONENTS if c.money)
COUNT_COMPONENTS = (*(c.name for c in registry.COMPONENTS if not c.money), "total_officers")
RATIOS: dict[str, tuple[str, str]] = {r.name: (r.numerator, r.denominator) for r in registry.RATIOS}
"""ratio name -> (numerator, denominator): the registry's, for readers of engine rows."""


def dates_cte(params: Params) -> str:
    """The CTE ``dates``: the window dates D (``dates``) and their starts S (``starts``, one per D).
    Materialised: inlined into the per-loan join, its date arithmetic (date_trunc on a timestamp
    with time zone) would run once per loan (a quarter of a second at 100k loans)."""
    return f"""dates AS MATERIALIZED (
    SELECT d, s, d - 7 AS d7, lm_mid_month(d) AS m, date_trunc('month', d)::date AS month_start
    FROM unnest({params.slot("dates", "date[]")}, {params.slot("starts", "date[]")}) AS t(d, s)
)"""

# One pass over a loan-state relation for every (D, S) pair down to the fine groups
# (date, officer, branch, region). ``{source}`` is loan_state or a set of before-images,
# ``{where}`` restricts its loans, ``{p}`` prefixes the CTE names (two passes in one statement).
# Per loan, once: its arrays detoasted (``a``); per loan and date: the binary searches (``i``),
# then the quantities (``loan_days``), aggregated as they stream (no tuplestore in between).
_LOAN_FINE = """
{p}positions AS (
    SELECT dt.d, dt.s, dt.d7, dt.m, {scalars}, o.primary_channel, coalesce(o.had_float_gap, false) AS float_gap,
           a.*, i.*
    FROM {source} st
    LEFT JOIN officers o ON o.officer_id = st.officer_id
    -- each array once per loan as a plain value: read from the row, an array of under 127 bytes
    -- (most of them) is copied and a compressed one decompressed at every subscript and search
    -- (array_cat with NULL returns its first argument detoasted). OFFSET 0 keeps these
    -- subqueries from being pulled up, so each is computed once per row, not per reference
    CROSS JOIN LATERAL (SELECT {arrays} OFFSET 0) a
    -- the dates after the loan (lateral: the loan is read once, not once per date)
    CROSS JOIN LATERAL (SELECT * FROM dates WHERE dates.d >= st.disbursement_date OFFSET 0) dt
    -- each binary search once per loan and date
    CROSS JOIN LATERAL (
        SELECT width_bucket(dt.d, a.pay_dates) AS i_d,
               width_bucket(dt.d7, a.pay_dates) AS i_7,
               width_bucket(dt.m, a.pay_dates) AS i_m,
               width_bucket(dt.s - 1, a.pay_dates) AS i_s,
               width_bucket(dt.month_start - 1, a.pay_dates) AS i_month,
               width_bucket(dt.d, a.entry_dates) AS e_d,
               width_bucket(dt.s - 1, a.entry_dates) AS e_s,
               -- one search: the count of due dates at or below a point only grows with it
               width_bucket(greatest(dt.s, st.disbursement_date) - 1, a.due_dates) AS u_lo,
               width_bucket(least(dt.d, st.closed_date - 1), a.due_dates) AS u_hi,
               width_bucket(least(dt.d - 1, st.closed_date - 1), a.due_dates) AS u_hi_on_time,
               width_bucket(dt.d - 1, a.due_dates) AS w_lo,
               width_bucket(dt.d + 6, a.due_dates) AS w_hi
        OFFSET 0
    ) i
    WHERE {where}
),
{p}loan_days AS (  -- OFFSET 0: each quantity computed once per row, however many aggregates read it
    SELECT d, officer_id, branch, region, float_gap,{transition_columns}
           {quantities}
    FROM {p}positions
    OFFSET 0
),
{p}fine AS (
    SELECT d, officer_id, branch, region,
           bool_or(float_gap) AS had_float_gap,
           count(*) AS loans,{transition_aggregates}
           {components}
    FROM {p}loan_days
    GROUP BY d, officer_id, branch, region
)
"""

_STATE_ARRAYS = tuple(column.name for column in models.loan_state.columns if isinstance(column.type, ARRAY))
_STATE_SCALARS = tuple(column.name for column in models.loan_state.columns
                       if column.name not in _STATE_ARRAYS and column.name != "updated_at")


def scope_where(params: Params) -> str:
    """The loans of the ``officers``, ``branches`` and ``regions`` bound (null: no restriction)."""
    conditions = []
    for name, column in (("officers", "officer_id"), ("branches", "branch"), ("regions", "region")):
        value = params.slot(name, "text[]")
        conditions.append(f"({value} IS NULL OR st.{column} = ANY({value}))")
    return "\n      AND ".join(conditions)


# What dpd_transitions needs besides DPD and total_out on D: the loan and its state on D - 1.
_TRANSITION_COLUMNS = """
           loan_id, lm_active(disbursement_date, closed_date, d - 1) AS active_prev,
           lm_dpd(settle_thresholds, suffix_min_due,
                  -- the payment dates on or before D - 1: those on or before D but D itself
                  coalesce(pay_cum[CASE WHEN pay_dates[i_d] = d THEN i_d - 1 ELSE i_d END], -1), d - 1) AS dpd_prev,"""


def _transition_aggregates() -> str:
    """Per fine group, its loans whose DPD bucket moved from D - 1 to D (active on both), with
    both DPDs and total_out on D: dpd_transitions without a second pass over the loan rows."""
    moved = (f"active_prev AND active_d AND dpd_prev <> dpd_d AND "
             f"{metric_sql.bucket_label('dpd_prev')} <> {metric_sql.bucket_label('dpd_d')}")
    return "".join(f"\n           array_agg({column}) FILTER (WHERE {moved}) AS {name},"
                   for column, name in (("loan_id", "moved_loans"), ("dpd_prev", "moved_from"),
                                        ("dpd_d", "moved_to"), ("out_d", "moved_out")))


def loan_fine_sql(
    params: Params, prefix: str = "", source: str = "loan_state", where: str | None = None, *,
    transitions: bool = False,
) -> str:
    """The CTEs ``{prefix}positions``, ``{prefix}loan_days`` and ``{prefix}fine`` (after ``dates``)
    over the loans of ``source`` meeting ``where`` (default: ``scope_where``); ``transitions``:
    each fine group also carries its loans' DPD-bucket moves from D - 1 to D (``moved_loans``,
    ``moved_from``, ``moved_to``, ``moved_out``: loan ids, both DPDs, total_out on D in cents)."""
    where = scope_where(params) if where is None else where
    return _LOAN_FINE.format(
        p=prefix, source=source, where=where, quantities=metric_sql.quantity_columns(),
        components=metric_sql.component_sums(),
        scalars=", ".join(f"st.{name}" for name in _STATE_SCALARS),
        arrays=", ".join(f"array_cat(st.{name}, NULL) AS {name}" for name in _STATE_ARRAYS),
        transition_columns=_TRANSITION_COLUMNS if transitions else "",
        transition_aggregates=_transition_aggregates() if transitions else "",
    )


# One rollup of the fine groups into the groups of one kind.
_ROLLUP = """
SELECT '{kind}'::text AS group_kind, f.d AS calculation_date, dt.s AS period_start, {group} AS group_key,
       {main_region} AS main_region,
       {float_gap} AS had_float_gap,
       count(DISTINCT f.officer_id) FILTER (WHERE f.active_loans > 0) AS total_officers,
       {summed}
FROM fine f JOIN dates dt ON dt.d = f.d
GROUP BY f.d, dt.s, {group}
"""

_MAIN_REGION = """(
    SELECT r.region FROM fine r WHERE r.d = f.d AND r.branch = f.branch
    GROUP BY r.region ORDER BY sum(r.loans) DESC, r.region LIMIT 1
)"""

_SCORED = """
, components AS ({rollups}),
scored AS (
    SELECT c.*, {risk_score} AS risk_score
    FROM components c
),
rated AS (
    SELECT sc.*, {dqi} AS dqi
    FROM scored sc
)
SELECT rt.*,
       {ratios},
       {bands},
       {risk_band} AS risk_band,
       {dqi_band} AS dqi_band,
       {penalty_inputs} AS penalty_inputs
FROM rated rt
"""


def _rollup(kind: GroupKind) -> str:
    return _ROLLUP.format(
        kind=kind,
        group={"officer": "f.officer_id", "branch": "f.branch", "region": "f.region", "all": "'all'::text"}[kind],
        main_region=_MAIN_REGION if kind == "branch" else "NULL::text",
        float_gap="bool_or(f.had_float_gap)" if kind == "officer" else "false",
        summed=",\n       ".join(f"sum(f.{c.name})::bigint AS {c.name}" for c in registry.COMPONENTS),
    )


# For the transaction running the engine. Memoize would cache the per-loan binary searches keyed
# on the loan's arrays: hashing them cost more than the searches (1M loans: 14 s against 9 s).
# Sorting: the planner cannot see through the loan rows how few fine groups there are (200
# officers: it guesses a tenth of the rows) and sorted 100k wide rows to group them (0.3 s at
# 100k loans) where a hash table of the groups streams them.
PLANNER_SETTINGS = "SET LOCAL enable_memoize = off; SET LOCAL enable_sort = off"


def scored_sql(kinds: tuple[GroupKind, ...], options: EngineOptions) -> str:
    """The CTEs and final SELECT that roll a ``fine`` CTE up to each kind and score the groups."""
    rollups = "\nUNION ALL\n".join(_rollup(kind) for kind in kinds)
    plain = metric_sql.columns()
    bands = metric_sql.ratio_bands(plain, options.bands)
    return _SCORED.format(
        rollups=rollups,
        risk_score=metric_sql.risk_score(metric_sql.columns("c")),
        dqi=metric_sql.dqi(metric_sql.columns("sc"), "sc.risk_score",
                           channel_purity_in_dqi=options.channel_purity_in_dqi),
        ratios=metric_sql.ratio_values(plain),
        bands=",\n       ".join(f"{sql} AS {name}" for name, sql in bands.items()),
        risk_band=metric_sql.score_band(registry.RISK_BAND, "risk_score", options.bands),
        dqi_band=metric_sql.score_band(registry.DQI_BAND, "dqi", options.bands),
        penalty_inputs=metric_sql.penalty_inputs(plain),
    )


@functools.lru_cache(maxsize=64)
def components_sql(kinds: tuple[GroupKind, ...], options: EngineOptions) -> Statement:
    """One statement computing every group of each kind in ``kinds`` (rows tagged ``group_kind``),
    for the ``dates`` and ``starts`` bound, within the scope bound (``Scope.bindings``)."""
    params = Params()
    return Statement(f"WITH {dates_cte(params)},{loan_fine_sql(params)}" + scored_sql(kinds, options), params)


@dataclass(frozen=True)
class Scope:
    """Restricts the loans counted (SPEC §10 scope, or the groups an incremental run restates)."""

    officers: tuple[str, ...] | None = None
    branches: tuple[str, ...] | None = None
    regions: tuple[str, ...] | None = None

    def bindings(self) -> dict[str, list[str] | None]:
        """The values of ``scope_where``'s parameters."""
        return {name: list(value) if value is not None else None
                for name, value in (("officers", self.officers), ("branches", self.branches),
                                    ("regions", self.regions))}


@dataclass(frozen=True)
class EngineOptions:
    """Deployment choices that change results: band thresholds and the DQI channel-purity toggle."""

    bands: BandThresholds = field(default_factory=BandThresholds)
    channel_purity_in_dqi: bool = True


async def compute(
    conn: asyncpg.Connection,
    kind: GroupKind | tuple[GroupKind, ...],
    windows: Sequence[tuple[date, date]],
    *,
    scope: Scope = Scope(),
    options: EngineOptions = EngineOptions(),
) -> list[asyncpg.Record]:
    """Rows of components (money in cents), ratios, scores and bands per (group kind, D, group).

    ``windows`` are (S, D) pairs, one per date D; S after D is the caller's error (checked here).
    """
    kinds = (kind,) if isinstance(kind, str) else kind
    for start, end in windows:
        if start > end:
            raise ValueError(f"window start {start} is after its end {end}")
    ends = [end for _, end in windows]
    if len(set(ends)) != len(ends):
        raise ValueError("one window per date")
    starts = [start for start, _ in windows]
    statement = components_sql(kinds, options)
    # PLANNER_SETTINGS is SET LOCAL: it needs a transaction, the caller's or one of its own
    async with contextlib.nullcontext() if conn.is_in_transaction() else conn.transaction():
        await conn.execute(PLANNER_SETTINGS)
        return await conn.fetch(statement.sql, *statement.args(dates=ends, starts=starts, **scope.bindings()))


def cents(value: int | Decimal) -> Decimal:
    """Integer cents from the engine to a two-place Decimal."""
    return (Decimal(value) / 100).quantize(Decimal("0.01"))
