"""Pre-aggregated daily rows (SPEC §3): officer_metrics_daily, branch_metrics_daily,
dpd_transitions and par15_snapshots, written set-based from the metric engine.

Each call restates a set of calculation dates, either for everyone or for some officers and
branches (an incremental run): the engine's rows land in a temporary table, the old rows of
that scope are deleted and the new ones inserted, all in the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import asyncpg

from db import metric_engine as engine

RATIO_LIMIT = "100000000000000"  # NUMERIC(20,6) holds |x| < 1e14; larger stored ratios read as null

_DAILY_COLUMNS = (
    "period_start",
    *engine.MONEY_COMPONENTS,
    *(name for name in engine.COUNT_COMPONENTS if name not in ("total_officers", "par15_mid_month_count")),
    *engine.RATIOS,
    "had_float_gap", "risk_score", "risk_band", "dqi", "dqi_band",
)


def _select_columns() -> str:
    parts = ["period_start"]
    for name in _DAILY_COLUMNS[1:]:
        if name in engine.MONEY_COMPONENTS:
            parts.append(f"{name} / 100.0")
        elif name in engine.RATIOS:
            parts.append(f"CASE WHEN abs({name}) < {RATIO_LIMIT} THEN round({name}, 6) END")
        else:
            parts.append(name)
    return ", ".join(parts)


@dataclass(frozen=True)
class Restated:
    """How many rows one restatement wrote."""

    officer_rows: int
    branch_rows: int
    transitions: int
    snapshots: int

    @property
    def total(self) -> int:
        return self.officer_rows + self.branch_rows + self.transitions + self.snapshots


_TRANSITIONS = """
WITH days AS (SELECT unnest($1::date[]) AS d)
INSERT INTO dpd_transitions (loan_id, officer_id, branch, transition_date, from_dpd_bucket, to_dpd_bucket,
                             outstanding_balance)
SELECT loan_id, officer_id, branch, d, from_bucket, to_bucket, out_c / 100.0
FROM (
    SELECT st.loan_id, st.officer_id, st.branch, days.d,
           lm_bucket(lm_dpd(st.settle_thresholds, st.suffix_min_due,
                            lm_paid_c(st.pay_dates, st.pay_cum, days.d - 1), days.d - 1)) AS from_bucket,
           lm_bucket(lm_dpd(st.settle_thresholds, st.suffix_min_due,
                            lm_paid_c(st.pay_dates, st.pay_cum, days.d), days.d)) AS to_bucket,
           lm_total_out_c(st.principal_c, st.interest_due_c, st.fee_due_c, st.pay_cum_principal,
                          st.pay_cum_interest, st.pay_cum_fees, lm_pay_index(st.pay_dates, days.d)) AS out_c
    FROM days JOIN loan_state st ON st.disbursement_date <= days.d - 1
    WHERE lm_active(st.disbursement_date, st.closed_date, days.d - 1)
      AND lm_active(st.disbursement_date, st.closed_date, days.d)
      AND ($2::text[] IS NULL OR st.officer_id = ANY($2::text[]))
) moves
WHERE from_bucket <> to_bucket
"""


async def restate(
    conn: asyncpg.Connection,
    dates: Sequence[date],
    *,
    officers: Sequence[str] | None = None,
    branches: Sequence[str] | None = None,
    options: engine.EngineOptions,
) -> Restated:
    """Recompute the daily rows of ``dates`` (default window: month to date).

    ``officers``/``branches`` None means everyone; a list restates only those officers' rows
    (and transitions and snapshots) and those branches' rows.
    """
    if not dates:
        return Restated(0, 0, 0, 0)
    days = sorted(set(dates))
    windows = [(date(d.year, d.month, 1), d) for d in days]
    officer_list = list(officers) if officers is not None else None
    branch_list = list(branches) if branches is not None else None
    officer_rows = branch_rows = 0
    if officer_list is None and branch_list is None:
        officer_rows, branch_rows = await _replace_all_rows(conn, windows, options)
    if officer_list:
        scope = engine.Scope(officers=tuple(officer_list))
        officer_rows = await _replace_rows(conn, "officer", windows, scope, options)
    if branch_list:
        scope = engine.Scope(branches=tuple(branch_list))
        branch_rows = await _replace_rows(conn, "branch", windows, scope, options)
    transitions = snapshots = 0
    if officer_list is None or officer_list:
        await conn.execute(
            "DELETE FROM dpd_transitions WHERE transition_date = ANY($1::date[])"
            " AND ($2::text[] IS NULL OR officer_id = ANY($2::text[]))", days, officer_list,
        )
        transitions = _count(await conn.execute(_TRANSITIONS, days, officer_list))
        snapshots = await _replace_snapshots(conn, [d for d in days if d.day == 15], officer_list)
    return Restated(officer_rows, branch_rows, transitions, snapshots)


_TABLES = {
    "officer": ("officer_metrics_daily", "officer_id", ""),
    "branch": ("branch_metrics_daily", "branch", "region, total_officers, "),
}
_EXTRA_VALUES = {"officer": "", "branch": "main_region, total_officers, "}


async def _replace_rows(
    conn: asyncpg.Connection,
    kind: engine.GroupKind,
    windows: list[tuple[date, date]],
    scope: engine.Scope,
    options: engine.EngineOptions,
) -> int:
    """Delete the scope's rows for the dates, then insert the engine's (one statement each)."""
    table, key, extra = _TABLES[kind]
    ends = [end for _, end in windows]
    chosen = scope.officers if kind == "officer" else scope.branches
    restricted = list(chosen) if chosen is not None else None
    await conn.execute(
        f"DELETE FROM {table} WHERE calculation_date = ANY($1::date[])"
        f" AND ($2::text[] IS NULL OR {key} = ANY($2::text[]))", ends, restricted,
    )
    columns = ", ".join(_DAILY_COLUMNS)
    status = await conn.execute(
        f"INSERT INTO {table} ({key}, calculation_date, {extra}{columns}) "
        f"SELECT group_key, calculation_date, {_EXTRA_VALUES[kind]}{_select_columns()} "
        f"FROM ({engine.components_sql((kind,))}) computed",
        ends, [start for start, _ in windows], *scope.parameters(), *options.parameters(),
    )
    return _count(status)


async def _replace_snapshots(conn: asyncpg.Connection, fifteenths: list[date], officers: list[str] | None) -> int:
    """PAR15 on each 15th restated, per officer (SPEC §3 par15_snapshots), from its daily rows."""
    if not fifteenths:
        return 0
    await conn.execute(
        "DELETE FROM par15_snapshots WHERE snapshot_date = ANY($1::date[])"
        " AND ($2::text[] IS NULL OR officer_id = ANY($2::text[]))", fifteenths, officers,
    )
    return _count(await conn.execute(
        """
        INSERT INTO par15_snapshots (officer_id, snapshot_date, par15_exposure, par15_count)
        SELECT officer_id, calculation_date, overdue_15d_amount, overdue_15d_count
        FROM officer_metrics_daily
        WHERE calculation_date = ANY($1::date[]) AND ($2::text[] IS NULL OR officer_id = ANY($2::text[]))
        """,
        fifteenths, officers,
    ))


async def _replace_all_rows(
    conn: asyncpg.Connection, windows: list[tuple[date, date]], options: engine.EngineOptions
) -> tuple[int, int]:
    """Everyone's officer and branch rows from one engine pass (the loans are read once)."""
    ends = [end for _, end in windows]
    for table in ("officer_metrics_daily", "branch_metrics_daily"):
        await conn.execute(f"DELETE FROM {table} WHERE calculation_date = ANY($1::date[])", ends)
    columns = ", ".join(_DAILY_COLUMNS)
    values = _select_columns()
    row = await conn.fetchrow(
        f"""
        WITH computed AS ({engine.components_sql(("officer", "branch"))}),
        officer_rows AS (
            INSERT INTO officer_metrics_daily (officer_id, calculation_date, {columns})
            SELECT group_key, calculation_date, {values} FROM computed WHERE group_kind = 'officer'
            RETURNING 1
        ),
        branch_rows AS (
            INSERT INTO branch_metrics_daily (branch, calculation_date, region, total_officers, {columns})
            SELECT group_key, calculation_date, main_region, total_officers, {values}
            FROM computed WHERE group_kind = 'branch'
            RETURNING 1
        )
        SELECT (SELECT count(*) FROM officer_rows) AS officers, (SELECT count(*) FROM branch_rows) AS branches
        """,
        ends, [start for start, _ in windows], None, None, None, *options.parameters(),
    )
    assert row is not None
    return int(row["officers"]), int(row["branches"])


def _count(status: str) -> int:
    """Rows affected, from a command tag such as 'INSERT 0 42'."""
    return int(status.rsplit(" ", 1)[-1])
