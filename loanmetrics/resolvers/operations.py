"""Operations: the calculation log, on-demand recalculation, and the dashboard's filter choices."""

from __future__ import annotations

from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

import strawberry

from loanmetrics.calculators.registry import BAND_RULE, RISK_BAND
from loanmetrics.db.params import Params
from loanmetrics.graph import types as t
from loanmetrics.graph.auth import ADMIN_ROLES
from loanmetrics.graph.errors import bad_request, forbidden
from loanmetrics.resolvers.sql import scope_predicate
from loanmetrics.scheduler.recalculation import recalculate as run_recalculation

if TYPE_CHECKING:
    from loanmetrics.graph.request import RequestContext

MAX_RECALCULATION_DAYS = 93

_RISK = BAND_RULE[RISK_BAND]


def run_from_row(row: Any) -> t.CalculationRun:
    return t.CalculationRun(
        id=strawberry.ID(str(row["id"])), calculation_type=row["calculation_type"],
        calculation_date=row["calculation_date"], start_date=row["start_date"], start_time=row["start_time"],
        end_time=row["end_time"], duration_seconds=float(row["duration"]) if row["duration"] is not None else None,
        records_processed=row["records_processed"], records_updated=row["records_updated"],
        records_failed=row["records_failed"], status=row["status"], error_message=row["error_message"],
    )


async def calculation_runs(ctx: RequestContext, first: int) -> list[t.CalculationRun]:
    if not 0 <= first <= 500:
        raise bad_request("first must be between 0 and 500", argument="first")
    rows = await ctx.fetch("SELECT * FROM metric_calculation_log ORDER BY id DESC LIMIT $1", first)
    return [run_from_row(row) for row in rows]


async def recalculate(ctx: RequestContext, as_of: date | None, start: date | None) -> t.CalculationRun:
    """Admin: run the recalculation job now (synchronously; long backfills belong to the CLI)."""
    if ctx.principal.role not in ADMIN_ROLES:
        raise forbidden("only admins may recalculate")
    as_of = as_of or ctx.business_date
    if as_of > ctx.business_date:
        raise bad_request("asOfDate is after the business date", argument="asOfDate")
    if start is not None and start > as_of:
        raise bad_request("startDate is after asOfDate", argument="startDate")
    if start is not None and (as_of - start) > timedelta(days=MAX_RECALCULATION_DAYS - 1):
        raise bad_request(
            f"at most {MAX_RECALCULATION_DAYS} days per call; use `loanmetrics recalc` for backfills",
            argument="startDate",
        )
    application = ctx.application
    result = await run_recalculation(application.db, application.engine_options, as_of=as_of, start=start,
                                     calculation_type="manual")
    if result.status == "Completed":
        await application.after_commit()
    row = await ctx.fetchrow("SELECT * FROM metric_calculation_log WHERE id = $1", result.run_id)
    return run_from_row(row)


async def filter_options(ctx: RequestContext) -> t.FilterOptions:
    params = Params()
    officer_scope = scope_predicate(ctx.principal, params, branch="o.branch", region="o.region")
    loan_scope = scope_predicate(ctx.principal, params, branch="l.branch", region="l.region")
    row = await ctx.fetchrow(
        f"""
        WITH loan_values AS (  -- one pass over the loans in scope (a branch may have no officer of its own)
            SELECT array_agg(DISTINCT l.region) AS regions, array_agg(DISTINCT l.branch) AS branches,
                   array_agg(DISTINCT l.channel) AS channels
            FROM loans l WHERE {loan_scope}
        )
        SELECT
          (SELECT coalesce(array_agg(DISTINCT r ORDER BY r), '{{}}') FROM (
              SELECT o.region FROM officers o WHERE {officer_scope}
              UNION SELECT unnest(regions) FROM loan_values) AS regions(r)) AS regions,
          (SELECT coalesce(array_agg(DISTINCT b ORDER BY b), '{{}}') FROM (
              SELECT o.branch FROM officers o WHERE {officer_scope}
              UNION SELECT unnest(branches) FROM loan_values) AS branches(b)) AS branches,
          (SELECT coalesce(array_agg(ARRAY[o.officer_id, o.officer_name, o.branch, o.region]
                                     ORDER BY o.officer_name, o.officer_id), '{{}}')
           FROM officers o WHERE {officer_scope}) AS officers,
          (SELECT coalesce(channels, '{{}}') FROM loan_values) AS channels,
          (SELECT coalesce(array_agg(d ORDER BY d DESC), '{{}}') FROM (
              SELECT DISTINCT calculation_date AS d FROM officer_metrics_daily ORDER BY 1 DESC LIMIT 120) dates
          ) AS dates
        """,
        *params.values,
    )
    assert row is not None
    return t.FilterOptions(
        regions=list(row["regions"]), branches=list(row["branches"]),
        officers=[t.OfficerOption(officer_id=strawberry.ID(o[0]), officer_name=o[1], branch=o[2], region=o[3])
                  for o in row["officers"]],
        channels=list(row["channels"]),
        loan_statuses=["Active", "Closed", "Written Off"],
        risk_bands=[*(band for band, _ in _RISK.levels), _RISK.otherwise],
        audit_statuses=list(t.AuditStatus),
        calculated_dates=list(row["dates"]),
    )
