"""Schema assembly (SPEC §6): Query and Mutation roots over the resolvers, plus the limits.

Resolvers live in ``resolvers/``; these roots unpack arguments, pass the request context, and
turn the rows, pages and snapshots the queries return into the types of ``graph/types``.
Extensions are the measured-cheap ones (ENGINEERING.md): the parser cache with its token limit,
and the validation cache behind the document limits (graph/limits.py: depth, aliases, expanded
size, overlaps, cost, all linear in the document); no custom directives and no async per-field
hooks.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from datetime import date
from typing import Annotated, Any

import strawberry
from graphql import FieldNode, GraphQLError
from strawberry.extensions import MaxTokensLimiter, ParserCache, SchemaExtension
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.types import ExecutionContext, Info

from loanmetrics.calculators.bands import BandThresholds
from loanmetrics.graph import types as t
from loanmetrics.graph.fast_execution import FastExecutionContext, PlanCache
from loanmetrics.graph.limits import DocumentLimits, LimitedValidation, Limits
from loanmetrics.graph.selection import LOAN_STATE_FIELDS, selects_any
from loanmetrics.resolvers import aggregates, audit, loans, officers, operations
from loanmetrics.resolvers.context import RequestContext
from loanmetrics.resolvers.loan_json import loan_node_sql
from loanmetrics.resolvers.officer_json import branch_node_sql, officer_node_sql, officer_row_sql
from loanmetrics.settings import Settings

NodeCompiler = Callable[[Sequence[FieldNode], BandThresholds], str | None]

Ctx = Info[RequestContext, None]


@strawberry.type
class Query:
    @strawberry.field(description="Officers in the caller's scope with their metrics, ranked and paged.")
    async def officers(
        self, info: Ctx, filter: t.OfficerFilter | None = None, period: t.PeriodInput | None = None,
        sort: t.OfficerSort | None = None, first: int | None = 50, after: str | None = None,
        offset: Annotated[int, strawberry.argument(description="Rows to skip after the cursor (REST pages).")] = 0,
    ) -> t.OfficerConnection:
        rows = info.context.officer_rows
        node_json = node_json_sql(info) if rows is None else _node_sql(
            info, f"officer_row_sql:{id(rows)}", lambda nodes, bands: officer_row_sql(nodes, bands, rows))
        page = await officers.list_officers(info.context, filter, period, sort, 50 if first is None else first, after,
                                            offset, node_json=node_json)
        return t.OfficerConnection.from_page(page)

    @strawberry.field
    async def officer(self, info: Ctx, officer_id: strawberry.ID) -> t.Officer | None:
        found = await officers.get_officer(info.context, str(officer_id))
        return t.Officer.from_row(found.row, found.metrics, found.window) if found is not None else None

    @strawberry.field
    async def branches(
        self, info: Ctx, filter: t.BranchFilter | None = None, period: t.PeriodInput | None = None
    ) -> list[t.BranchMetrics]:
        node_json = _node_sql(info, "branch_node_sql", branch_node_sql)
        branches = await aggregates.list_branches(info.context, filter, period, node_json=node_json)
        if branches.node_json is not None:
            return [t.BranchMetrics.prebuilt(node) for node in branches.node_json]
        return [t.BranchMetrics.of(snapshot) for snapshot in branches.snapshots]

    @strawberry.field
    async def regions(self, info: Ctx, period: t.PeriodInput | None = None) -> list[t.RegionMetrics]:
        return [t.RegionMetrics.of(snapshot) for snapshot in await aggregates.list_regions(info.context, period)]

    @strawberry.field(description="Loans that missed their first installment (filter.fimrTagged false: the others).")
    async def fimr_drilldown(
        self, info: Ctx, filter: t.LoanFilter | None = None, first: int | None = 50, after: str | None = None,
        offset: int = 0, sort: t.LoanSort | None = None,
    ) -> t.LoanConnection:
        order = sort or t.LoanSort(field=t.LoanSortField.DISBURSEMENT_DATE)
        size = 50 if first is None else first
        page = await loans.drilldown(info.context, "fimr_tagged", filter, size, after, offset, order,
                                     state=selects_any(info, LOAN_STATE_FIELDS), node_json=_loan_node_sql(info))
        return t.drilldown_connection(page, info.context)

    @strawberry.field(description="Loans 1 to 6 days past due.")
    async def early_indicators_drilldown(
        self, info: Ctx, filter: t.LoanFilter | None = None, first: int | None = 50, after: str | None = None,
        offset: int = 0, sort: t.LoanSort | None = None,
    ) -> t.LoanConnection:
        order = sort or t.LoanSort(field=t.LoanSortField.CURRENT_DPD)
        size = 50 if first is None else first
        page = await loans.drilldown(info.context, "early_indicator_tagged", filter, size, after, offset, order,
                                     state=selects_any(info, LOAN_STATE_FIELDS), node_json=_loan_node_sql(info))
        return t.drilldown_connection(page, info.context)

    @strawberry.field
    async def loan(self, info: Ctx, loan_id: strawberry.ID) -> t.Loan | None:
        row = await loans.get_loan(info.context, str(loan_id))
        if row is None:
            return None
        return t.Loan.from_row(row, info.context.principal.role, t.Officer.from_loan_row(row))

    @strawberry.field
    async def team_members(self, info: Ctx, active_only: bool | None = True) -> list[t.TeamMember]:
        return [t.TeamMember.from_row(row) for row in await audit.team_members(info.context, active_only is not False)]

    @strawberry.field
    async def filter_options(self, info: Ctx) -> t.FilterOptions:
        return t.FilterOptions.of(await operations.filter_options(info.context))

    @strawberry.field
    async def calculation_runs(self, info: Ctx, first: int | None = 20) -> list[t.CalculationRun]:
        rows = await operations.calculation_runs(info.context, 20 if first is None else first)
        return [t.CalculationRun.from_row(row) for row in rows]


@strawberry.type
class Mutation:
    @strawberry.mutation(description="Auditor or admin: assign a team member (Not Assigned/Resolved -> Assigned).")
    async def assign_auditor(self, info: Ctx, officer_id: strawberry.ID, assignee_id: strawberry.ID) -> t.AuditInfo:
        return t.AuditInfo.from_row(await audit.assign_auditor(info.context, str(officer_id), str(assignee_id)))

    @strawberry.mutation(description="Auditor or admin: move the audit status; expectedVersion guards stale edits.")
    async def update_audit_status(
        self, info: Ctx, officer_id: strawberry.ID, status: t.AuditStatus, notes: str | None = None,
        expected_version: int | None = None,
    ) -> t.AuditInfo:
        row = await audit.update_audit_status(info.context, str(officer_id), status, notes, expected_version)
        return t.AuditInfo.from_row(row)

    @strawberry.mutation(description="Auditor or admin: record an audit action (kept in the history; the audit "
                                     "version, which guards assignment and status, does not change).")
    async def record_audit_action(
        self, info: Ctx, officer_id: strawberry.ID, action_type: str, notes: str | None = None
    ) -> t.AuditAction:
        row = await audit.record_audit_action(info.context, str(officer_id), action_type, notes)
        return t.AuditAction.from_row(row)

    @strawberry.mutation(description="Admin: recalculate the daily metrics now.")
    async def recalculate(
        self, info: Ctx, as_of_date: date | None = None, start_date: date | None = None
    ) -> t.CalculationRun:
        return t.CalculationRun.from_row(await operations.recalculate(info.context, as_of_date, start_date))

    @strawberry.mutation(description="Admin: create or update a dashboard team member.")
    async def upsert_team_member(
        self, info: Ctx, member_id: strawberry.ID, member_name: str, member_email: str | None = None,
        role: str | None = None, department: str | None = None, is_active: bool | None = True,
        member_phone: str | None = None,
    ) -> t.TeamMember:
        row = await audit.upsert_team_member(
            info.context, str(member_id), member_name, member_email, role, department, is_active is not False,
            member_phone,
        )
        return t.TeamMember.from_row(row)


def node_json_sql(info: Info[RequestContext, None]) -> str | None:
    """The SQL of this ``officers`` field's node JSON (resolvers/officer_json.py)."""
    return _node_sql(info, "officer_node_sql", officer_node_sql)


def _loan_node_sql(info: Info[RequestContext, None]) -> str | None:
    """The SQL of this drilldown field's node JSON (resolvers/loan_json.py) for the caller's role
    (customer phones)."""
    role = info.context.principal.role
    return _node_sql(info, f"loan_node_sql:{role.value}",
                     lambda nodes, bands: loan_node_sql(nodes, bands, role))


def _node_sql(info: Info[RequestContext, None], kind: str, compiler: NodeCompiler) -> str | None:
    """This field's node SQL by ``compiler``, compiled once per parsed document (the parser cache
    hands back the same AST nodes) and kept by the schema under ``kind``; None without compiled
    plans (graphql-core's own executor never splices prebuilt JSON)."""
    if not getattr(info.schema, "compiled_plans", False):
        return None
    nodes = info._raw_info.field_nodes  # graphql-core's view: Strawberry's selected_fields converts
    cache: dict[tuple[int, ...], tuple[Any, str | None]] = info.schema.__dict__.setdefault(kind, {})
    key = tuple(id(node) for node in nodes)
    found = cache.get(key)
    if found is not None and len(found[0]) == len(nodes) and all(a is b for a, b in zip(found[0], nodes, strict=True)):
        return found[1]
    compiled = compiler(nodes, info.context.application.settings.bands)
    if len(cache) >= NODE_SQL_ENTRIES:
        cache.pop(next(iter(cache)))
    cache[key] = (list(nodes), compiled)  # the nodes stay alive, so their ids stay theirs
    return compiled


NODE_SQL_ENTRIES = 256


class Schema(strawberry.Schema):
    """Errors are logged by the endpoint with the request id; Strawberry's own logging of every
    expected client error (bad arguments, conflicts) would only add noise. ``compiled_plans``:
    whether the executor splices prebuilt node JSON (graph/fast_execution.py)."""

    compiled_plans: bool = True

    def process_errors(self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None) -> None:
        return None


def _per_request(prototype: SchemaExtension) -> Callable[[], SchemaExtension]:
    """A factory of shallow copies: each request gets its own extension instance (its own
    execution context), while the limiters' validation-rule classes stay the same objects, so
    the validation cache (keyed on the rules) keeps hitting."""
    return lambda: copy.copy(prototype)


def build_schema(settings: Settings, *, compiled_plans: bool = True) -> strawberry.Schema:
    """The schema with this deployment's limits (``compiled_plans=False``: graphql-core's own
    executor, which the tests use as the reference for the compiled one)."""
    schema = Schema(
        query=Query,
        mutation=Mutation,
        execution_context_class=(FastExecutionContext.with_plan_cache(PlanCache()) if compiled_plans
                                 else StrawberryGraphQLCoreExecutionContext),

        extensions=[_per_request(extension) for extension in (
            ParserCache(maxsize=256),
            MaxTokensLimiter(max_token_count=settings.max_tokens),
            LimitedValidation(DocumentLimits(Limits.of(settings)), maxsize=256),
        )],
    )
    schema.compiled_plans = compiled_plans
    return schema
