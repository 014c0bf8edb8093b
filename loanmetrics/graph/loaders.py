"""Per-request dataloaders: every lookup a field makes is batched into one statement per kind."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from typing import TYPE_CHECKING, Any

import strawberry
from aiodataloader import DataLoader

from loanmetrics.db.params import Params
from loanmetrics.graph import types as t
from loanmetrics.resolvers.metric_rows import MetricSnapshot
from loanmetrics.resolvers.sql import scope_predicate
from loanmetrics.resolvers.windows import Window

if TYPE_CHECKING:
    from loanmetrics.graph.request import RequestContext

MetricKey = tuple[str, date, date]


class Loaders:
    """Created lazily for each request (never shared between callers: scope differs)."""

    def __init__(self, ctx: RequestContext) -> None:
        self.ctx = ctx
        self.loan_officers: DataLoader[str, t.Officer] = DataLoader(self._loan_officers)
        self.audit: DataLoader[str, t.AuditInfo] = DataLoader(self._audit)
        self.audit_actions: DataLoader[str, list[t.AuditAction]] = DataLoader(self._audit_actions)
        self.officer_metrics: DataLoader[MetricKey, MetricSnapshot | None] = DataLoader(self._officer_metrics)
        self.officer_history: DataLoader[MetricKey, list[MetricSnapshot]] = DataLoader(self._officer_history)
        # officers outside the caller's scope (reached through an in-scope loan): only the days
        # with a loan of the scope
        self.scoped_officer_history: DataLoader[MetricKey, list[MetricSnapshot]] = DataLoader(
            self._scoped_officer_history)
        self.schedules: DataLoader[str, list[t.Installment]] = DataLoader(self._schedules)
        self.repayments: DataLoader[str, list[t.Repayment]] = DataLoader(self._repayments)

    async def _loan_officers(self, keys: list[str]) -> list[t.Officer]:
        """Loans' officers (a loan only ever reaches here when it is in scope). An officer whose
        own branch/region is outside the caller's scope shows its id and name only, no audit
        record (the join is scoped in SQL), and its history only the days with loans in scope."""
        from loanmetrics.resolvers.officers import AUDIT_COLUMNS, OFFICER_COLUMNS, officer_from_row

        params = Params()
        in_scope = scope_predicate(self.ctx.principal, params, branch="o.branch", region="o.region")
        rows = await self.ctx.fetch(
            f"SELECT {OFFICER_COLUMNS}, {AUDIT_COLUMNS}, {in_scope} AS in_scope FROM officers o "
            f"LEFT JOIN audit_tracking a ON a.officer_id = o.officer_id AND {in_scope} "
            f"WHERE o.officer_id = ANY({params.add(keys, 'text[]')})",
            *params.values,
        )
        found = {row["officer_id"]: officer_from_row(row, None, None, outside_scope=not row["in_scope"])
                 for row in rows}
        return [found[key] for key in keys]  # loans.officer_id references officers

    async def _audit(self, keys: list[str]) -> list[t.AuditInfo]:
        from loanmetrics.resolvers.officers import AUDIT_COLUMNS, audit_from_row

        rows = await self.ctx.fetch(
            f"SELECT o.officer_id, {AUDIT_COLUMNS} FROM officers o "
            "LEFT JOIN audit_tracking a ON a.officer_id = o.officer_id WHERE o.officer_id = ANY($1::text[])",
            keys,
        )
        found = {row["officer_id"]: audit_from_row(row) for row in rows}
        return [found[key] for key in keys]

    async def _audit_actions(self, keys: list[str]) -> list[list[t.AuditAction]]:
        rows = await self.ctx.fetch(
            "SELECT * FROM audit_actions WHERE officer_id = ANY($1::text[]) ORDER BY action_date DESC, id DESC",
            keys,
        )
        grouped: dict[str, list[t.AuditAction]] = defaultdict(list)
        for row in rows:
            grouped[row["officer_id"]].append(t.AuditAction(
                id=strawberry.ID(str(row["id"])), officer_id=row["officer_id"], action_kind=row["action_kind"],
                action_type=row["action_type"], actor=row["actor"], action_date=row["action_date"],
                from_status=t.AuditStatus(row["from_status"]) if row["from_status"] else None,
                to_status=t.AuditStatus(row["to_status"]) if row["to_status"] else None,
                assignee_id=row["assignee_id"], notes=row["notes"],
            ))
        return [grouped.get(key, []) for key in keys]

    async def _officer_metrics(self, keys: list[MetricKey]) -> list[MetricSnapshot | None]:
        from loanmetrics.resolvers.officers import metrics_for

        by_window: dict[tuple[date, date], list[str]] = defaultdict(list)
        for officer_id, start, end in keys:
            by_window[(start, end)].append(officer_id)
        found: dict[MetricKey, MetricSnapshot] = {}
        for (start, end), officer_ids in by_window.items():
            snapshots = await metrics_for(self.ctx, officer_ids, Window(start, end))
            found.update({(key, start, end): snapshot for key, snapshot in snapshots.items()})
        return [found.get(key) for key in keys]

    async def _officer_history(self, keys: list[MetricKey]) -> list[list[MetricSnapshot]]:
        return await self._history(keys, loans_in_scope_only=False)

    async def _scoped_officer_history(self, keys: list[MetricKey]) -> list[list[MetricSnapshot]]:
        return await self._history(keys, loans_in_scope_only=True)

    async def _history(self, keys: list[MetricKey], *, loans_in_scope_only: bool) -> list[list[MetricSnapshot]]:
        """The officers' daily snapshots per date range, over the caller's loans (SPEC §10)."""
        from loanmetrics.resolvers.officers import history_snapshots

        by_range: dict[tuple[date, date], list[str]] = defaultdict(list)
        for officer_id, start, end in keys:
            by_range[(start, end)].append(officer_id)
        found: dict[MetricKey, list[MetricSnapshot]] = {}
        for (start, end), officer_ids in by_range.items():
            snapshots = await history_snapshots(self.ctx, officer_ids, start, end,
                                                loans_in_scope_only=loans_in_scope_only)
            found.update({(key, start, end): rows for key, rows in snapshots.items()})
        return [found.get(key, []) for key in keys]

    async def _schedules(self, keys: list[str]) -> list[list[t.Installment]]:
        rows = await self.ctx.fetch(
            "SELECT * FROM loan_schedule WHERE loan_id = ANY($1::text[]) ORDER BY loan_id, installment_number", keys
        )
        grouped: dict[str, list[t.Installment]] = defaultdict(list)
        for row in rows:
            grouped[row["loan_id"]].append(t.Installment(
                installment_number=row["installment_number"], due_date=row["due_date"],
                principal_due=float(row["principal_due"]), interest_due=float(row["interest_due"]),
                fee_due=float(row["fee_due"]), total_due=float(row["total_due"]),
                amount_paid=_money(row["amount_paid"]), payment_date=row["payment_date"],
                payment_status=row["payment_status"],
            ))
        return [grouped.get(key, []) for key in keys]

    async def _repayments(self, keys: list[str]) -> list[list[t.Repayment]]:
        rows = await self.ctx.fetch(
            "SELECT * FROM repayments WHERE loan_id = ANY($1::text[]) ORDER BY loan_id, payment_date, repayment_id",
            keys,
        )
        grouped: dict[str, list[t.Repayment]] = defaultdict(list)
        for row in rows:
            grouped[row["loan_id"]].append(t.Repayment(
                repayment_id=row["repayment_id"], payment_date=row["payment_date"],
                payment_amount=float(row["payment_amount"]), principal_paid=float(row["principal_paid"]),
                interest_paid=float(row["interest_paid"]), fees_paid=float(row["fees_paid"]),
                penalty_paid=_money(row["penalty_paid"]), payment_method=row["payment_method"],
                payment_channel=row["payment_channel"], is_backdated=row["is_backdated"],
                is_reversed=row["is_reversed"], reversal_date=row["reversal_date"],
                reversal_reason=row["reversal_reason"], waiver_amount=_money(row["waiver_amount"]),
                waiver_type=row["waiver_type"],
            ))
        return [grouped.get(key, []) for key in keys]


def _money(value: Any) -> float | None:
    return None if value is None else float(value)
