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
- ratios at 40 decimals, risk score and DQI by exact fractions, bands by exact comparison
  (the lm_* functions of migrations 0002-0003).
Money is handled in integer cents and returned as Decimal with two places.
``calculators/`` is the Python reference these statements are property-tested against.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, Literal

import asyncpg

from loanmetrics.settings import BandSettings

GroupKind = Literal["officer", "branch", "region", "all"]

BUCKET_RANGES = (("0", 0, 0), ("1_6", 1, 6), ("7_30", 7, 30), ("31_60", 31, 60), ("61_90", 61, 90),
                 ("90_plus", 91, None))

MONEY_COMPONENTS = (
    "total_portfolio", "overdue_15d_amount", "dpd_1to6_balance", "amount_due_7d", "prev_dpd_1to6_balance",
    "moved_to_7to30", "par15_mid_month", "disbursed_amount", "fees_collected", "fees_due", "interest_collected",
    "total_yield", "on_time_paid", "on_time_due", "waivers_amount",
    *(f"bucket_{name}_balance" for name, _, _ in BUCKET_RANGES),
)
COUNT_COMPONENTS = (
    "active_loans", "overdue_15d_count", "disbursed_count", "fimr_cohort_count", "first_miss_count",
    "all_time_fimr_cohort_count", "all_time_first_miss_count", "total_entries", "backdated_count",
    "reversals_count", "channel_pure_count", "par15_mid_month_count", "total_officers",
    *(f"bucket_{name}_count" for name, _, _ in BUCKET_RANGES),
)

# ratio name -> (numerator, denominator)
RATIOS: dict[str, tuple[str, str]] = {
    "porr": ("overdue_15d_amount", "total_portfolio"),
    "d06_slippage": ("dpd_1to6_balance", "amount_due_7d"),
    "roll": ("moved_to_7to30", "prev_dpd_1to6_balance"),
    "channel_purity": ("channel_pure_count", "active_loans"),
    "fimr": ("first_miss_count", "fimr_cohort_count"),
    "all_time_fimr": ("all_time_first_miss_count", "all_time_fimr_cohort_count"),
    "frr": ("fees_collected", "fees_due"),
    "ayr": ("total_yield", "par15_mid_month"),
    "on_time_rate": ("on_time_paid", "on_time_due"),
}


def _bucket_filters() -> str:
    parts = []
    for name, low, high in BUCKET_RANGES:
        condition = f"active_d AND dpd_d >= {low}" + (f" AND dpd_d <= {high}" if high is not None else "")
        parts.append(f"count(*) FILTER (WHERE {condition}) AS bucket_{name}_count")
        parts.append(f"coalesce(sum(out_d) FILTER (WHERE {condition}), 0) AS bucket_{name}_balance")
    return ",\n           ".join(parts)


# The window dates: $1 dates D, $2 window starts S (one per D).
DATES_CTE = """dates AS (
    SELECT d, s, d - 7 AS d7, lm_mid_month(d) AS m, date_trunc('month', d)::date AS month_start
    FROM unnest($1::date[], $2::date[]) AS t(d, s)
)"""

# One pass over a loan-state relation for every (D, S) pair down to the fine groups
# (date, officer, branch, region). ``{source}`` is loan_state or a set of before-images,
# ``{where}`` restricts its loans, ``{p}`` prefixes the CTE names (two passes in one statement).
_LOAN_FINE = """
{p}positions AS (
    SELECT dt.d, dt.s, dt.d7, dt.m, st.*, o.primary_channel, coalesce(o.had_float_gap, false) AS float_gap, i.*
    FROM dates dt
    JOIN {source} st ON st.disbursement_date <= dt.d
    LEFT JOIN officers o ON o.officer_id = st.officer_id
    -- each binary search once per loan and date (OFFSET 0 keeps the planner from inlining them
    -- into every expression that reads them)
    CROSS JOIN LATERAL (
        SELECT width_bucket(dt.d, st.pay_dates) AS i_d,
               width_bucket(dt.d7, st.pay_dates) AS i_7,
               width_bucket(dt.m, st.pay_dates) AS i_m,
               width_bucket(dt.s - 1, st.pay_dates) AS i_s,
               width_bucket(dt.month_start - 1, st.pay_dates) AS i_month,
               width_bucket(dt.d, st.entry_dates) AS e_d,
               width_bucket(dt.s - 1, st.entry_dates) AS e_s,
               greatest(width_bucket(dt.s - 1, st.due_dates),
                        width_bucket(st.disbursement_date - 1, st.due_dates)) AS u_lo,
               width_bucket(least(dt.d, st.closed_date - 1), st.due_dates) AS u_hi,
               width_bucket(least(dt.d - 1, st.closed_date - 1), st.due_dates) AS u_hi_on_time,
               width_bucket(dt.d - 1, st.due_dates) AS w_lo,
               width_bucket(dt.d + 6, st.due_dates) AS w_hi
        OFFSET 0
    ) i
    WHERE {where}
),
{p}loan_days AS MATERIALIZED (
    SELECT d, officer_id, branch, region, float_gap, principal_c,{transition_columns}
           lm_active(disbursement_date, closed_date, d) AS active_d,
           lm_dpd(settle_thresholds, suffix_min_due, coalesce(pay_cum[i_d], -1), d) AS dpd_d,
           lm_total_out_c(principal_c, interest_due_c, fee_due_c, pay_cum_principal, pay_cum_interest,
                          pay_cum_fees, i_d) AS out_d,
           lm_active(disbursement_date, closed_date, d7) AS active_7,
           lm_dpd(settle_thresholds, suffix_min_due, coalesce(pay_cum[i_7], -1), d7) AS dpd_7,
           lm_total_out_c(principal_c, interest_due_c, fee_due_c, pay_cum_principal, pay_cum_interest,
                          pay_cum_fees, i_7) AS out_7,
           lm_active(disbursement_date, closed_date, m) AS active_m,
           lm_dpd(settle_thresholds, suffix_min_due, coalesce(pay_cum[i_m], -1), m) AS dpd_m,
           lm_total_out_c(principal_c, interest_due_c, fee_due_c, pay_cum_principal, pay_cum_interest,
                          pay_cum_fees, i_m) AS out_m,
           primary_channel IS NULL OR channel = primary_channel AS pure,
           disbursement_date >= s AS disbursed_in_window,
           first_due_date < d AS eligible,
           first_due_date < d AND (first_received_date IS NULL OR first_received_date > first_due_date) AS missed,
           coalesce(pay_cum_fees[i_d], 0) - coalesce(pay_cum_fees[i_s], 0) AS fees_collected,
           coalesce(pay_cum_interest[i_d], 0) - coalesce(pay_cum_interest[i_s], 0) AS interest_collected,
           coalesce(pay_cum_interest[i_d], 0) + coalesce(pay_cum_fees[i_d], 0)
             - coalesce(pay_cum_interest[i_month], 0) - coalesce(pay_cum_fees[i_month], 0) AS total_yield,
           coalesce(pay_cum_waivers[i_d], 0) - coalesce(pay_cum_waivers[i_s], 0) AS waivers_amount,
           coalesce(entry_cum[e_d], 0) - coalesce(entry_cum[e_s], 0) AS total_entries,
           coalesce(entry_backdated_cum[e_d], 0) - coalesce(entry_backdated_cum[e_s], 0) AS backdated_count,
           coalesce(entry_reversed_cum[e_d], 0) - coalesce(entry_reversed_cum[e_s], 0) AS reversals_count,
           greatest(0, coalesce(due_fee_cum[u_hi], 0) - coalesce(due_fee_cum[u_lo], 0)) AS fees_due,
           greatest(0, coalesce(due_on_time_cum[u_hi_on_time], 0) - coalesce(due_on_time_cum[u_lo], 0))
             AS on_time_paid,
           greatest(0, coalesce(due_total_cum[u_hi_on_time], 0) - coalesce(due_total_cum[u_lo], 0))
             AS on_time_due,
           CASE WHEN w_hi > w_lo AND lm_active(disbursement_date, closed_date, d) THEN
               coalesce(due_total_cum[w_hi], 0) - coalesce(due_total_cum[w_lo], 0)
               - (SELECT sum(lm_alloc_c(u.total_c, u.cum_c, coalesce(pay_cum[i_d], -1)))
                  FROM unnest(due_total[w_lo + 1:w_hi], due_cumulative[w_lo + 1:w_hi]) AS u(total_c, cum_c))
           ELSE 0 END AS amount_due_7d
    FROM {p}positions
),
{p}fine AS (
    SELECT d, officer_id, branch, region,
           bool_or(float_gap) AS had_float_gap,
           count(*) AS loans,
           count(*) FILTER (WHERE active_d) AS active_loans,
           coalesce(sum(out_d) FILTER (WHERE active_d), 0) AS total_portfolio,
           {buckets},
           coalesce(sum(out_d) FILTER (WHERE active_d AND dpd_d > 15), 0) AS overdue_15d_amount,
           count(*) FILTER (WHERE active_d AND dpd_d > 15) AS overdue_15d_count,
           coalesce(sum(out_d) FILTER (WHERE active_d AND dpd_d BETWEEN 1 AND 6), 0) AS dpd_1to6_balance,
           coalesce(sum(out_7) FILTER (WHERE active_7 AND dpd_7 BETWEEN 1 AND 6), 0) AS prev_dpd_1to6_balance,
           coalesce(sum(out_7) FILTER (WHERE active_7 AND dpd_7 BETWEEN 1 AND 6
                                           AND active_d AND dpd_d BETWEEN 7 AND 30), 0) AS moved_to_7to30,
           coalesce(sum(out_m) FILTER (WHERE active_m AND dpd_m > 15), 0) AS par15_mid_month,
           count(*) FILTER (WHERE active_m AND dpd_m > 15) AS par15_mid_month_count,
           count(*) FILTER (WHERE active_d AND pure) AS channel_pure_count,
           count(*) FILTER (WHERE disbursed_in_window) AS disbursed_count,
           coalesce(sum(principal_c) FILTER (WHERE disbursed_in_window), 0) AS disbursed_amount,
           count(*) FILTER (WHERE disbursed_in_window AND eligible) AS fimr_cohort_count,
           count(*) FILTER (WHERE disbursed_in_window AND missed) AS first_miss_count,
           count(*) FILTER (WHERE eligible) AS all_time_fimr_cohort_count,
           count(*) FILTER (WHERE missed) AS all_time_first_miss_count,
           sum(amount_due_7d) AS amount_due_7d,
           sum(fees_collected) AS fees_collected, sum(interest_collected) AS interest_collected,
           sum(total_yield) AS total_yield, sum(waivers_amount) AS waivers_amount,
           sum(total_entries) AS total_entries, sum(backdated_count) AS backdated_count,
           sum(reversals_count) AS reversals_count, sum(fees_due) AS fees_due,
           sum(on_time_paid) AS on_time_paid, sum(on_time_due) AS on_time_due
    FROM {p}loan_days
    GROUP BY d, officer_id, branch, region
)
"""

# $3 officers, $4 branches, $5 regions (null = no restriction); then $6-$11 risk and DQI band
# thresholds and the DQI channel-purity toggle, $12-$19 ratio band thresholds (``_SCORED``).
SCOPE_WHERE = """($3::text[] IS NULL OR st.officer_id = ANY($3::text[]))
      AND ($4::text[] IS NULL OR st.branch = ANY($4::text[]))
      AND ($5::text[] IS NULL OR st.region = ANY($5::text[]))"""


# What dpd_transitions needs besides DPD and total_out on D: the loan and its state on D - 1.
_TRANSITION_COLUMNS = """
           loan_id, lm_active(disbursement_date, closed_date, d - 1) AS active_prev,
           lm_dpd(settle_thresholds, suffix_min_due, coalesce(pay_cum[width_bucket(d - 1, pay_dates)], -1), d - 1)
             AS dpd_prev,"""


def loan_fine_sql(
    prefix: str = "", source: str = "loan_state", where: str = SCOPE_WHERE, *, transitions: bool = False
) -> str:
    """The CTEs ``{prefix}positions``, ``{prefix}loan_days`` and ``{prefix}fine`` (after ``dates``);
    ``transitions``: loan_days also carries ``loan_id``, ``active_prev`` and ``dpd_prev`` (D - 1)."""
    return _LOAN_FINE.format(p=prefix, source=source, where=where, buckets=_bucket_filters(),
                             transition_columns=_TRANSITION_COLUMNS if transitions else "")


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
    SELECT c.*,
           lm_risk_score(overdue_15d_amount, total_portfolio, first_miss_count, fimr_cohort_count,
                         moved_to_7to30, prev_dpd_1to6_balance, waivers_amount, amount_due_7d,
                         backdated_count, reversals_count, total_entries, fees_collected, fees_due,
                         channel_pure_count, active_loans, had_float_gap) AS risk_score
    FROM components c
)
SELECT sc.*,
       {ratios},
       lm_band_at_most(first_miss_count, fimr_cohort_count, $12, $13) AS fimr_band,
       lm_band_at_most(all_time_first_miss_count, all_time_fimr_cohort_count, $12, $13) AS all_time_fimr_band,
       lm_band_at_most(dpd_1to6_balance, amount_due_7d, $14, $15) AS d06_slippage_band,
       lm_band_at_most(moved_to_7to30, prev_dpd_1to6_balance, $16, $17) AS roll_band,
       lm_band_at_least(total_yield, par15_mid_month, $18, $19) AS ayr_band,
       lm_risk_band(risk_score, $6, $7, $8) AS risk_band,
       lm_dqi(risk_score, on_time_paid, on_time_due, first_miss_count, fimr_cohort_count,
              channel_pure_count, active_loans, $9) AS dqi,
       lm_dqi_band(lm_dqi(risk_score, on_time_paid, on_time_due, first_miss_count, fimr_cohort_count,
                          channel_pure_count, active_loans, $9), $10, $11) AS dqi_band,
       lm_penalty_inputs(overdue_15d_amount, total_portfolio, first_miss_count, fimr_cohort_count,
                         moved_to_7to30, prev_dpd_1to6_balance, waivers_amount, amount_due_7d,
                         backdated_count, reversals_count, total_entries, fees_collected, fees_due,
                         channel_pure_count, active_loans, had_float_gap) AS penalty_inputs
FROM scored sc
"""

_SUMMED = (
    "active_loans", "total_portfolio",
    *(f"bucket_{name}_{part}" for name, _, _ in BUCKET_RANGES for part in ("count", "balance")),
    "overdue_15d_amount", "overdue_15d_count", "dpd_1to6_balance", "prev_dpd_1to6_balance", "moved_to_7to30",
    "par15_mid_month", "par15_mid_month_count", "channel_pure_count", "disbursed_count", "disbursed_amount",
    "fimr_cohort_count", "first_miss_count", "all_time_fimr_cohort_count", "all_time_first_miss_count",
    "amount_due_7d", "fees_collected", "interest_collected", "total_yield", "waivers_amount", "total_entries",
    "backdated_count", "reversals_count", "fees_due", "on_time_paid", "on_time_due",
)


def _rollup(kind: GroupKind) -> str:
    return _ROLLUP.format(
        kind=kind,
        group={"officer": "f.officer_id", "branch": "f.branch", "region": "f.region", "all": "'all'::text"}[kind],
        main_region=_MAIN_REGION if kind == "branch" else "NULL::text",
        float_gap="bool_or(f.had_float_gap)" if kind == "officer" else "false",
        summed=",\n       ".join(f"sum(f.{name})::bigint AS {name}" for name in _SUMMED),
    )


def _ratio_columns() -> str:
    parts = []
    for name, (numerator, denominator) in RATIOS.items():
        if name == "channel_purity":
            parts.append(f"coalesce(lm_ratio({numerator}, {denominator}), 1) AS {name}")
        else:
            parts.append(f"lm_ratio({numerator}, {denominator}) AS {name}")
    return ",\n       ".join(parts)


# For the transaction running the engine. Memoize would cache the per-loan binary searches keyed
# on the loan's arrays: hashing them cost more than the searches (1M loans: 14 s against 9 s).
PLANNER_SETTINGS = "SET LOCAL enable_memoize = off"


def scored_sql(kinds: tuple[GroupKind, ...]) -> str:
    """The CTEs and final SELECT that roll a ``fine`` CTE up to each kind and score the groups."""
    rollups = "\nUNION ALL\n".join(_rollup(kind) for kind in kinds)
    return _SCORED.format(rollups=rollups, ratios=_ratio_columns())


def components_sql(kinds: tuple[GroupKind, ...]) -> str:
    """One statement computing every group of each kind in ``kinds`` (rows tagged ``group_kind``)."""
    return f"WITH {DATES_CTE},{loan_fine_sql()}" + scored_sql(kinds)


STATEMENTS: dict[tuple[GroupKind, ...], str] = {
    kinds: components_sql(kinds)
    for kinds in (("officer",), ("branch",), ("region",), ("all",), ("officer", "branch"))
}


@dataclass(frozen=True)
class Scope:
    """Restricts the loans counted (SPEC §10 scope, or the groups an incremental run restates)."""

    officers: tuple[str, ...] | None = None
    branches: tuple[str, ...] | None = None
    regions: tuple[str, ...] | None = None

    def parameters(self) -> list[list[str] | None]:
        return [list(v) if v is not None else None for v in (self.officers, self.branches, self.regions)]


@dataclass(frozen=True)
class EngineOptions:
    """Deployment choices that change results: band thresholds and the DQI channel-purity toggle."""

    bands: BandSettings = field(default_factory=BandSettings)
    channel_purity_in_dqi: bool = True

    def parameters(self) -> list[Any]:
        b = self.bands
        return [
            b.risk_green, b.risk_watch, b.risk_amber, self.channel_purity_in_dqi, b.dqi_green, b.dqi_watch,
            *(Decimal(str(v)) for v in (b.fimr_green, b.fimr_watch, b.slippage_green, b.slippage_watch,
                                         b.roll_green, b.roll_watch, b.ayr_green, b.ayr_watch)),
        ]


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
    sql = STATEMENTS.get(kinds) or components_sql(kinds)
    # PLANNER_SETTINGS is SET LOCAL: it needs a transaction, the caller's or one of its own
    async with contextlib.nullcontext() if conn.is_in_transaction() else conn.transaction():
        await conn.execute(PLANNER_SETTINGS)
        return await conn.fetch(sql, ends, starts, *scope.parameters(), *options.parameters())


def cents(value: int | Decimal) -> Decimal:
    """Integer cents from the engine to a two-place Decimal."""
    return (Decimal(value) / 100).quantize(Decimal("0.01"))
