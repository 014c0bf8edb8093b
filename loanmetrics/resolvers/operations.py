"""Operations: the calculation log, on-demand recalculation, and the dashboard's filter choices."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

import asyncpg

from loanmetrics.calculators.registry import BAND_RULE, RISK_BAND, Band
from loanmetrics.db.params import Params
from loanmetrics.principal import ADMIN_ROLES
from loanmetrics.resolvers.errors import bad_request, forbidden
from loanmetrics.resolvers.inputs import AuditStatus
from loanmetrics.resolvers.sql import scope_predicate
from loanmetrics.scheduler.recalculation import recalculate as run_recalculation

if TYPE_CHECKING:
    from loanmetrics.resolvers.context import RequestContext

MAX_RECALCULATION_DAYS = 93

_RISK = BAND_RULE[RISK_BAND]


@dataclass(frozen=True)
class FilterChoices:
    """What the dashboard's filters offer the caller (within its scope)."""

    regions: list[str]
    branches: list[str]
    officers: list[tuple[str, str, str, str]]
    """(officer_id, officer_name, branch, region), by name."""
    channels: list[str]
    loan_statuses: list[str]
    risk_bands: list[Band]
    audit_statuses: list[AuditStatus]
    calculated_dates: list[date]


HIDDEN_RUN_ERROR = "the run failed; its error is shown to administrators"


async def calculation_runs(ctx: RequestContext, first: int) -> list[Mapping[str, Any]]:
    """The newest metric_calculation_log rows. A failed run's error_message is the database's own
    text (statements, column names, values): only an admin sees it, others a generic line."""
    if not 0 <= first <= 500:
        raise bad_request("first must be between 0 and 500", argument="first")
    rows = await ctx.fetch("SELECT * FROM metric_calculation_log ORDER BY id DESC LIMIT $1", first)
    if ctx.principal.role in ADMIN_ROLES:
        return [dict(row) for row in rows]
    return [{**dict(row), "error_message": None if row["error_message"] is None else HIDDEN_RUN_ERROR}
            for row in rows]


async def recalculate(ctx: RequestContext, as_of: date | None, start: date | None) -> asyncpg.Record:
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
    assert row is not None  # the run logged itself before it returned
    return row


async def filter_options(ctx: RequestContext) -> FilterChoices:
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
    return FilterChoices(
        regions=list(row["regions"]), branches=list(row["branches"]),
        officers=[(o[0], o[1], o[2], o[3]) for o in row["officers"]],
        channels=list(row["channels"]),
        loan_statuses=["Active", "Closed", "Written Off"],
        risk_bands=[*(band for band, _ in _RISK.levels), _RISK.otherwise],
        audit_statuses=list(AuditStatus),
        calculated_dates=list(row["dates"]),
    )
