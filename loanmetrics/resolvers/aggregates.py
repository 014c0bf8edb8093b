"""Branch and region metrics (SPEC §5.7): ratios from summed components, never averages.

Branches of the default window come from branch_metrics_daily when the caller may see whole
branches; anything else (custom windows, regions, region-scoped callers) runs the metric engine
restricted to the caller's scope, so an aggregate never includes loans the caller may not see.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import asyncpg

from loanmetrics.db import metric_engine as engine
from loanmetrics.db.params import Params
from loanmetrics.resolvers.inputs import BranchFilter, Period
from loanmetrics.resolvers.metric_rows import (
    MetricSnapshot,
    daily_snapshot_columns,
    latest_calculated_sql,
    snapshot_from_row,
)
from loanmetrics.resolvers.sql import scope_predicate
from loanmetrics.resolvers.windows import (
    Window,
    daily_rows_exist,
    latest_unread,
    remember_latest,
    resolve_window,
)

if TYPE_CHECKING:
    from loanmetrics.resolvers.context import RequestContext


def _scope(ctx: RequestContext, filter: BranchFilter | None) -> engine.Scope:
    """The caller's scope narrowed by a branch filter (a filter never widens a scope). A region
    filter restricts no loans: it selects branches by their region (``list_branches``)."""
    branches = set(ctx.principal.branches) or None
    regions = set(ctx.principal.regions) or None
    if filter is not None and filter.branch is not None:
        branches = {filter.branch} & branches if branches is not None else {filter.branch}
    return engine.Scope(
        branches=tuple(sorted(branches)) if branches is not None else None,
        regions=tuple(sorted(regions)) if regions is not None else None,
    )


@dataclass(frozen=True)
class Branches:
    """A branches answer: snapshots, or (``node_json`` asked and the daily rows serve the caller)
    each branch's whole answer as JSON text built in SQL (resolvers/officer_json.py)."""

    snapshots: list[MetricSnapshot]
    node_json: list[str] | None = None


async def list_branches(
    ctx: RequestContext, filter: BranchFilter | None, period: Period | None, *, node_json: str | None = None
) -> Branches:
    """Branches with their whole metrics (within the caller's scope); ``filter.region`` keeps the
    branches whose region (SPEC §3: the region most of their loans carry) is that region.
    ``node_json``: SQL of one node's answer over a branch_metrics_daily row ``m``."""
    scope = _scope(ctx, filter)
    region = filter.region if filter is not None else None
    whole_branches = scope.regions is None  # a region scope needs loan-level restriction
    if whole_branches and latest_unread(ctx, period):
        branches = await _latest_daily_branches(ctx, scope, region, node_json)
        if branches is not None:
            return branches
    window = await resolve_window(ctx, period)
    if whole_branches and window.default and await daily_rows_exist(ctx, "branch_metrics_daily", window.end):
        params = Params()
        where = [f"m.calculation_date = {params.add(window.end, 'date')}", *_daily_filters(params, scope, region)]
        rows = await ctx.fetch(
            f"SELECT {_daily_columns(ctx, node_json)} FROM branch_metrics_daily m "
            f"WHERE {' AND '.join(where)} ORDER BY m.branch",
            *params.values,
        )
        return _daily_branches(rows, node_json)
    if region is not None:
        # A branch whose region is R has a loan in R (disbursed by D, in scope): the engine runs
        # for those branches only, and keeps the ones whose main region is R.
        params = Params()
        where = [f"l.region = {params.add(region)}", f"l.disbursement_date <= {params.add(window.end, 'date')}",
                 scope_predicate(ctx.principal, params, branch="l.branch", region="l.region")]
        if scope.branches is not None:
            where.append(f"l.branch = ANY({params.add(list(scope.branches), 'text[]')})")
        candidates = await ctx.fetch(f"SELECT DISTINCT l.branch FROM loans l WHERE {' AND '.join(where)}",
                                     *params.values)
        if not candidates:
            return Branches([])
        scope = engine.Scope(branches=tuple(sorted(row["branch"] for row in candidates)), regions=scope.regions)
    rows = await _engine(ctx, "branch", window, scope)
    if region is not None:
        rows = [row for row in rows if row["main_region"] == region]
    return Branches([snapshot_from_row(row, key_column="group_key", cents=True) for row in rows])


async def _latest_daily_branches(
    ctx: RequestContext, scope: engine.Scope, region: str | None, node_json: str | None
) -> Branches | None:
    """The default window's branches in one statement: the latest calculated date, whether its
    branch rows exist, and the rows (three round trips otherwise, most of a branches request's
    cost). None when that date has no branch rows (the engine computes them)."""
    params = Params()
    business_date = params.add(ctx.business_date, "date")
    filters = " ".join(f"AND {condition}" for condition in _daily_filters(params, scope, region))
    rows = await ctx.fetch(
        f"""WITH latest AS (SELECT ({latest_calculated_sql(business_date)}) AS calculated),
                 d AS (SELECT calculated, coalesce(calculated, {business_date}) AS day FROM latest)
            SELECT d.calculated, d.day,
                   EXISTS (SELECT 1 FROM branch_metrics_daily x WHERE x.calculation_date = d.day) AS present,
                   m.branch AS found, {_daily_columns(ctx, node_json)}
            FROM d LEFT JOIN branch_metrics_daily m ON m.calculation_date = d.day {filters}
            ORDER BY m.branch""",
        *params.values,
    )
    first = rows[0]  # d has one row: the LEFT JOIN keeps it when no branch matches
    day = remember_latest(ctx, first["calculated"])
    ctx.memo[f"daily:branch_metrics_daily:{day.isoformat()}"] = first["present"]
    if not first["present"]:
        return None
    return _daily_branches([row for row in rows if row["found"] is not None], node_json)


def _daily_filters(params: Params, scope: engine.Scope, region: str | None) -> list[str]:
    """Conditions on a branch_metrics_daily row ``m``: the caller's branches and the region filter."""
    where = []
    if scope.branches is not None:
        where.append(f"m.branch = ANY({params.add(list(scope.branches), 'text[]')})")
    if region is not None:
        where.append(f"m.region = {params.add(region)}")
    return where


def _daily_columns(ctx: RequestContext, node_json: str | None) -> str:
    if node_json:
        return f"{node_json} AS node_json"
    return (f"m.branch, m.region, m.total_officers, "
            f"{daily_snapshot_columns('m', ctx.application.settings.bands)}")


def _daily_branches(rows: Sequence[asyncpg.Record], node_json: str | None) -> Branches:
    if node_json:
        return Branches([], [row["node_json"] for row in rows])
    return Branches([snapshot_from_row(row, key_column="branch", cents=True) for row in rows])


async def list_regions(ctx: RequestContext, period: Period | None) -> list[MetricSnapshot]:
    window = await resolve_window(ctx, period)
    rows = await _engine(ctx, "region", window, _scope(ctx, None))
    return [snapshot_from_row(row, key_column="group_key", cents=True) for row in rows]


async def _engine(
    ctx: RequestContext, kind: engine.GroupKind, window: Window, scope: engine.Scope
) -> list[asyncpg.Record]:
    options = ctx.application.engine_options
    rows = await ctx.use(lambda conn: engine.compute(conn, kind, [window.key], scope=scope, options=options))
    return sorted(rows, key=lambda row: row["group_key"])
