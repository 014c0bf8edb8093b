"""Metric windows (SPEC §5.4): resolving a PeriodInput and telling the default window apart."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from loanmetrics.resolvers.errors import bad_request
from loanmetrics.resolvers.inputs import Period
from loanmetrics.resolvers.metric_rows import latest_calculated_date

if TYPE_CHECKING:
    from loanmetrics.resolvers.context import RequestContext


@dataclass(frozen=True)
class Window:
    start: date
    end: date

    @property
    def default(self) -> bool:
        """Month to date: what the daily tables hold."""
        return self.start == self.end.replace(day=1)

    @property
    def key(self) -> tuple[date, date]:
        return (self.start, self.end)


async def latest_date(ctx: RequestContext) -> date:
    """The latest calculated date up to the business date, or the business date when nothing is
    calculated yet."""
    if "latest" not in ctx.memo:
        business_date = ctx.business_date
        calculated = await ctx.use(lambda conn: latest_calculated_date(conn, business_date), custom_plans=False)
        remember_latest(ctx, calculated)
    latest: date = ctx.memo["latest"]
    return latest


def latest_unread(ctx: RequestContext, period: Period | None) -> bool:
    """Whether ``period`` means the default window of the latest calculated date and this request
    has not read that date yet: a page's statement may then look it up itself (``remember_latest``)."""
    no_period = period is None or (period.start_date is None and period.end_date is None)
    return no_period and "latest" not in ctx.memo


def remember_latest(ctx: RequestContext, calculated: date | None) -> date:
    """Record what ``latest_date`` answers for this request, given the latest calculated date
    (``latest_calculated_date``), by whichever statement read it."""
    if calculated is not None:  # read from officer_metrics_daily: its rows for that date exist
        ctx.memo[f"daily:officer_metrics_daily:{calculated.isoformat()}"] = True
    latest: date = calculated or ctx.business_date
    ctx.memo["latest"] = latest
    return latest


async def resolve_window(ctx: RequestContext, period: Period | None) -> Window:
    """[S, D] of a PeriodInput. Only S after D (SPEC §5.4) and D after the business date are
    errors: the engine's cost does not grow with the window's length (flows are differences of
    cumulative arrays at S - 1 and D), so a long window needs no limit."""
    end = period.end_date if period is not None and period.end_date is not None else await latest_date(ctx)
    start = period.start_date if period is not None and period.start_date is not None else end.replace(day=1)
    if start > end:
        raise bad_request("period.startDate is after period.endDate", argument="period")
    if end > ctx.business_date:
        raise bad_request("period.endDate is after the business date", argument="period")
    return Window(start, end)


async def daily_rows_exist(ctx: RequestContext, table: str, day: date) -> bool:
    """Whether the recalculation has written ``table`` rows for ``day`` (memoised per request)."""
    key = f"daily:{table}:{day.isoformat()}"
    if key not in ctx.memo:
        ctx.memo[key] = bool(await ctx.fetchval(
            f"SELECT EXISTS (SELECT 1 FROM {table} WHERE calculation_date = $1)", day
        ))
    exists: bool = ctx.memo[key]
    return exists


async def fine_groups_kept(ctx: RequestContext, day: date) -> bool:
    """Whether ``day``'s fine groups (metric_fine_daily) are kept, so a scoped caller's metrics
    can be rolled up from them. A restatement writes them with the daily rows; a date without
    them (rows removed by hand) is computed by the engine rather than read as zeros."""
    key = f"fine:{day.isoformat()}"
    if key not in ctx.memo:
        ctx.memo[key] = bool(await ctx.fetchval(
            "SELECT EXISTS (SELECT 1 FROM metric_calculated_dates WHERE calculation_date = $1)", day
        ))
    kept: bool = ctx.memo[key]
    return kept
