"""Per-request dataloaders: what fields look up one object at a time is batched into one
statement per kind (no N+1). They answer rows and metric snapshots; ``graph/types`` turns those
into Strawberry objects."""

from __future__ import annotations

import functools
from collections import defaultdict
from datetime import date
from typing import TYPE_CHECKING

import asyncpg
from aiodataloader import DataLoader

from loanmetrics.resolvers import audit, loans, officers
from loanmetrics.resolvers.metric_rows import MetricSnapshot
from loanmetrics.resolvers.windows import Window

if TYPE_CHECKING:
    from loanmetrics.resolvers.context import RequestContext

MetricKey = tuple[str, date, date]


class Loaders:
    """Created lazily for each request (never shared between callers: scope differs)."""

    def __init__(self, ctx: RequestContext) -> None:
        self.ctx = ctx
        self.audit: DataLoader[str, asyncpg.Record] = DataLoader(functools.partial(officers.audit_rows, ctx))
        self.audit_actions: DataLoader[str, list[asyncpg.Record]] = DataLoader(
            functools.partial(audit.action_rows, ctx))
        self.officer_metrics: DataLoader[MetricKey, MetricSnapshot | None] = DataLoader(self._officer_metrics)
        self.officer_history: DataLoader[MetricKey, list[MetricSnapshot]] = DataLoader(self._officer_history)
        # officers outside the caller's scope (reached through an in-scope loan): only the days
        # with a loan of the scope
        self.scoped_officer_history: DataLoader[MetricKey, list[MetricSnapshot]] = DataLoader(
            self._scoped_officer_history)
        self.officer_loans: DataLoader[loans.OfficerLoansKey, loans.LoanPage] = DataLoader(
            functools.partial(loans.officer_loan_pages, ctx))
        self.schedules: DataLoader[str, list[asyncpg.Record]] = DataLoader(functools.partial(loans.schedule_rows, ctx))
        self.repayments: DataLoader[str, list[asyncpg.Record]] = DataLoader(
            functools.partial(loans.repayment_rows, ctx))

    async def _officer_metrics(self, keys: list[MetricKey]) -> list[MetricSnapshot | None]:
        by_window: dict[tuple[date, date], list[str]] = defaultdict(list)
        for officer_id, start, end in keys:
            by_window[(start, end)].append(officer_id)
        found: dict[MetricKey, MetricSnapshot] = {}
        for (start, end), officer_ids in by_window.items():
            snapshots = await officers.metrics_for(self.ctx, officer_ids, Window(start, end))
            found.update({(key, start, end): snapshot for key, snapshot in snapshots.items()})
        return [found.get(key) for key in keys]

    async def _officer_history(self, keys: list[MetricKey]) -> list[list[MetricSnapshot]]:
        return await self._history(keys, loans_in_scope_only=False)

    async def _scoped_officer_history(self, keys: list[MetricKey]) -> list[list[MetricSnapshot]]:
        return await self._history(keys, loans_in_scope_only=True)

    async def _history(self, keys: list[MetricKey], *, loans_in_scope_only: bool) -> list[list[MetricSnapshot]]:
        """The officers' daily snapshots per date range, over the caller's loans (SPEC §10)."""
        by_range: dict[tuple[date, date], list[str]] = defaultdict(list)
        for officer_id, start, end in keys:
            by_range[(start, end)].append(officer_id)
        found: dict[MetricKey, list[MetricSnapshot]] = {}
        for (start, end), officer_ids in by_range.items():
            snapshots = await officers.history_snapshots(self.ctx, officer_ids, start, end,
                                                         loans_in_scope_only=loans_in_scope_only)
            found.update({(key, start, end): rows for key, rows in snapshots.items()})
        return [found.get(key, []) for key in keys]
