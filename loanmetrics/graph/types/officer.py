"""GraphQL officer types (SPEC §6): an officer with its metrics, history, audit record and loans,
and the officer list, built from the rows and pages the queries read (``resolvers/officers.py``).

An officer outside the caller's scope (reached through a loan in scope) shows its id and name
only: phone, employment status and primary channel null, and, because SPEC §6 makes region and
branch non-null, empty strings; no audit record (the queries join it in scope only).
"""

from __future__ import annotations

import dataclasses
from datetime import date
from typing import Any, cast

import orjson
import strawberry
from strawberry.types import Info

from loanmetrics.graph.fast_execution import NOT_PREFETCHED, PREFETCHED
from loanmetrics.graph.selection import LOAN_STATE_FIELDS, selects_any
from loanmetrics.graph.types.audit import AuditInfo
from loanmetrics.graph.types.connections import PageInfo
from loanmetrics.graph.types.inputs import LoanFilter, LoanSort, PeriodInput
from loanmetrics.graph.types.loan import LoanConnection
from loanmetrics.graph.types.metrics import OfficerMetrics
from loanmetrics.resolvers import loans, officers
from loanmetrics.resolvers.context import RequestContext
from loanmetrics.resolvers.metric_rows import MetricSnapshot
from loanmetrics.resolvers.officers import OfficerPage
from loanmetrics.resolvers.pagination import Cursor
from loanmetrics.resolvers.windows import Window

_AUDIT_KEYS = ("assignee_id", "assignee_name", "assigned_date", "audit_status", "status_changed_date",
               "last_audit_date", "audit_notes", "risk_level", "action_type", "action_date", "action_notes",
               "audit_version")
"""The audit record of a loan page's officer (``officers.AUDIT_COLUMNS``, joined in scope only)."""


@strawberry.type
class Officer:
    officer_id: strawberry.ID
    officer_name: str
    officer_phone: str | None
    region: str
    branch: str
    employment_status: str | None
    primary_channel: str | None
    rank: int | None = strawberry.field(
        default=None, description="Position by risk score in the list it came from (1 = highest)."
    )
    prefetched_metrics: strawberry.Private[MetricSnapshot | None] = None
    prefetched_audit: strawberry.Private[AuditInfo | None] = None
    has_audit: strawberry.Private[bool] = False
    had_float_gap: strawberry.Private[bool] = False
    window: strawberry.Private[tuple[date, date] | None] = None
    outside_scope: strawberry.Private[bool] = False
    """Reached through an in-scope loan while the officer's own branch/region is outside the
    caller's scope: its history keeps the days with loans in scope only."""
    prebuilt_json: strawberry.Private[Any] = None
    """The node's whole answer as JSON built in SQL (resolvers/officer_json.py), or None."""

    @classmethod
    def from_row(cls, row: Any, snapshot: MetricSnapshot | None = None, window: Window | None = None,
                 rank: int | None = None, *, outside_scope: bool = False) -> Officer:
        """From a row of the queries' ``OFFICER_COLUMNS`` and ``AUDIT_COLUMNS`` (the audit record
        joined: no statement for ``audit``), with the list's metrics of ``window`` and rank."""
        if outside_scope:
            return cls(
                officer_id=row["officer_id"], officer_name=row["officer_name"], officer_phone=None, region="",
                branch="", employment_status=None, primary_channel=None, rank=None, prefetched_metrics=snapshot,
                prefetched_audit=None, has_audit=True, had_float_gap=row["had_float_gap"],
                window=window.key if window else None, outside_scope=True,
            )
        return cls(
            officer_id=row["officer_id"], officer_name=row["officer_name"], officer_phone=row["officer_phone"],
            region=row["region"], branch=row["branch"], employment_status=row["employment_status"],
            primary_channel=row["primary_channel"], rank=rank, prefetched_metrics=snapshot,
            prefetched_audit=AuditInfo.from_row(row), has_audit=True,
            had_float_gap=row["had_float_gap"], window=window.key if window else None,
        )

    @classmethod
    def from_json_row(cls, row: Any, window: Window) -> Officer:
        """A node of the officer list whose whole answer the list statement built as JSON."""
        return cls(
            officer_id=row["officer_id"], officer_name=row["officer_name"], officer_phone=row["officer_phone"],
            region=row["region"], branch=row["branch"], employment_status=row["employment_status"],
            primary_channel=row["primary_channel"], rank=row["risk_rank"], had_float_gap=row["had_float_gap"],
            window=window.key, prebuilt_json=orjson.Fragment(row["node_json"]),
        )

    @classmethod
    def from_loan_row(cls, row: Any) -> Officer:
        """The officer a loan page's statement joined (``LoanPage.officers_joined``): in scope with
        its audit record, outside it with its identity only."""
        officer = {name: row[f"o_{name}"] for name in loans.OFFICER_KEYS}
        officer.update({name: row[name] for name in _AUDIT_KEYS}, officer_id=row["officer_id"])
        return cls.from_row(officer, outside_scope=not row["o_in_scope"])

    def as_loans_officer(self) -> Officer:
        """This officer as its own loans' ``officer``: what the officer's row says, without the
        rank and metrics of the list it came from (``metrics`` then means the default window)."""
        return dataclasses.replace(self, rank=None, prefetched_metrics=None, window=None, prebuilt_json=None)

    @property
    def prefetched_metrics_view(self) -> OfficerMetrics:
        """The answer of ``metrics`` without arguments when the list fetched it (compiled plans)."""
        if self.prefetched_metrics is None:
            return cast(OfficerMetrics, NOT_PREFETCHED)
        return OfficerMetrics.of(self.prefetched_metrics)

    @property
    def prefetched_audit_view(self) -> AuditInfo | None:
        """The answer of ``audit`` when the officer query joined it (compiled plans)."""
        return self.prefetched_audit if self.has_audit else cast(AuditInfo, NOT_PREFETCHED)

    @strawberry.field(metadata={PREFETCHED: "prefetched_metrics_view"})
    def metrics(self, info: Info[RequestContext, None], period: PeriodInput | None = None) -> OfficerMetrics:
        # Synchronous when the list already fetched this window's metrics (the common case: no
        # coroutine per officer); otherwise returns a coroutine, which the executor awaits like
        # any async resolver's result.
        if self.prefetched_metrics is not None and period is None:
            return OfficerMetrics.of(self.prefetched_metrics)
        return cast(OfficerMetrics, _metrics(info.context, self, period))

    @strawberry.field(description="Daily rows (month-to-date windows) between the dates, oldest first.")
    async def history(self, info: Info[RequestContext, None], start_date: date, end_date: date) -> list[OfficerMetrics]:
        snapshots = await officers.officer_history(info.context, str(self.officer_id), start_date, end_date,
                                                   outside_scope=self.outside_scope)
        return [OfficerMetrics.of(snapshot) for snapshot in snapshots]

    @strawberry.field(metadata={PREFETCHED: "prefetched_audit_view"})
    def audit(self, info: Info[RequestContext, None]) -> AuditInfo | None:
        if self.has_audit:  # joined into the officer query: no coroutine, no statement
            return self.prefetched_audit
        return cast(AuditInfo, _audit(info.context, str(self.officer_id)))

    @strawberry.field
    async def loans(
        self, info: Info[RequestContext, None], filter: LoanFilter | None = None, first: int | None = 50,
        after: str | None = None, sort: LoanSort | None = None,
    ) -> LoanConnection:
        size = 50 if first is None else first
        page = await loans.officer_loans(info.context, str(self.officer_id), filter, size, after, sort,
                                         state=selects_any(info, LOAN_STATE_FIELDS))
        officer = self.as_loans_officer()
        return LoanConnection.from_page(page, info.context.principal.role, lambda row: officer)


async def _metrics(ctx: RequestContext, officer: Officer, period: PeriodInput | None) -> OfficerMetrics:
    snapshot = await officers.officer_metrics(
        ctx, str(officer.officer_id), period, had_float_gap=officer.had_float_gap,
        prefetched=officer.prefetched_metrics, prefetched_window=officer.window)
    return OfficerMetrics.of(snapshot)


async def _audit(ctx: RequestContext, officer_id: str) -> AuditInfo:
    return AuditInfo.from_row(await ctx.loaders.audit.load(officer_id))


def _edge_cursor(root: OfficerEdge) -> str:
    return root.cursor_text


@strawberry.type
class OfficerEdge:
    cursor: str = strawberry.field(resolver=_edge_cursor, metadata={PREFETCHED: "cursor_text"})
    node: Officer
    lazy_cursor: strawberry.Private[Cursor | str]

    @property
    def cursor_text(self) -> str:
        """Encoded when selected (``resolvers.pagination.Cursor``)."""
        return str(self.lazy_cursor)


@strawberry.type
class OfficerConnection:
    edges: list[OfficerEdge]
    page_info: PageInfo
    total_count: int
    calculation_date: date | None = strawberry.field(description="The date D of the metrics in this list.")
    period_start: date | None = None

    @classmethod
    def from_page(cls, page: OfficerPage) -> OfficerConnection:
        window = page.window
        if page.node_json:
            edges = [OfficerEdge(lazy_cursor=cursor, node=Officer.from_json_row(row, window))
                     for cursor, row, _, _ in page.items]
        else:
            edges = [OfficerEdge(lazy_cursor=cursor, node=Officer.from_row(row, snapshot, window, rank))
                     for cursor, row, snapshot, rank in page.items]
        return cls(edges=edges, total_count=page.total_count, calculation_date=window.end,
                   period_start=window.start,
                   page_info=PageInfo.of(page.items, has_next=page.has_next, has_previous=page.has_previous))

    @property
    def node_list(self) -> list[Officer]:
        return [edge.node for edge in self.edges]

    @strawberry.field(description="The nodes of the edges, without cursors.", metadata={PREFETCHED: "node_list"})
    def nodes(self) -> list[Officer]:
        return self.node_list


def drilldown_connection(page: loans.LoanPage, ctx: RequestContext) -> LoanConnection:
    """A loan page whose statement joined each loan's officer (drilldowns, one loan)."""
    return LoanConnection.from_page(page, ctx.principal.role, Officer.from_loan_row)
