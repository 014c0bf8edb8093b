"""Strawberry types of SPEC §6: enums, inputs, metric and domain types, Relay connections.

Types hold plain values; fields that need more data (another period, audit history, an
officer's loans) resolve through the request's dataloaders in ``resolvers/``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from enum import Enum
from typing import Any, TypeVar, cast

import strawberry
from strawberry.types import Info

from loanmetrics.calculators import registry
from loanmetrics.calculators.registry import Band
from loanmetrics.graph.fast_execution import NOT_PREFETCHED, PREFETCHED
from loanmetrics.graph.request import RequestContext
from loanmetrics.resolvers.metric_rows import MetricSnapshot

strawberry.enum(Band, description="Risk and quality bands (REST and the daily tables spell them in title case).")


@strawberry.enum
class AuditStatus(Enum):
    NOT_ASSIGNED = "Not Assigned"
    ASSIGNED = "Assigned"
    IN_PROGRESS = "In Progress"
    RESOLVED = "Resolved"


@strawberry.enum
class SortDirection(Enum):
    ASC = "asc"
    DESC = "desc"


SORT_FIELDS = ("risk_score", "dqi", *(r.name for r in registry.RATIOS),
               *(c.name for c in registry.COMPONENTS if c.portfolio), "officer_name", "officer_id")
"""The scores, every registry ratio and every Portfolio component (all but the buckets), then
name and id: one sort field each."""


@strawberry.enum(description="Every metric the officer list can sort on (the scores, every ratio and every "
                             "Portfolio amount and count but the buckets), plus name and id.")
class OfficerSortField(Enum):
    """One member per name of ``SORT_FIELDS`` (the Enum's ``_ignore_`` recipe for generated members)."""

    _ignore_ = "_name"
    for _name in SORT_FIELDS:
        vars()[_name.upper()] = _name


@strawberry.enum(description="Orderings of loan lists.")
class LoanSortField(Enum):
    CURRENT_DPD = "current_dpd"
    DISBURSEMENT_DATE = "disbursement_date"
    LOAN_AMOUNT = "loan_amount"
    TOTAL_OUTSTANDING = "total_outstanding"
    DAYS_LATE = "days_late"


@strawberry.input(description="endDate defaults to the latest calculated date; startDate to the first of its month.")
class PeriodInput:
    start_date: date | None = None
    end_date: date | None = None


@strawberry.input
class OfficerFilter:
    region: str | None = None
    branch: str | None = None
    officer_id: strawberry.ID | None = None
    risk_band: Band | None = None
    audit_status: AuditStatus | None = None
    search: str | None = strawberry.field(default=None, description="Part of the officer's name or id.")


@strawberry.input
class OfficerSort:
    field: OfficerSortField = OfficerSortField("risk_score")
    direction: SortDirection = SortDirection.DESC


@strawberry.input
class BranchFilter:
    region: str | None = None
    branch: str | None = None


@strawberry.input
class LoanFilter:
    region: str | None = None
    branch: str | None = None
    officer_id: strawberry.ID | None = None
    status: str | None = strawberry.field(default=None, description="'Active', 'Closed' or 'Written Off'.")
    channel: str | None = None
    disbursed_from: date | None = None
    disbursed_to: date | None = None
    dpd_min: int | None = None
    dpd_max: int | None = None
    search: str | None = strawberry.field(default=None, description="Part of the customer's name or the loan id.")
    fimr_tagged: bool | None = None
    early_indicator_tagged: bool | None = None


@strawberry.input
class LoanSort:
    field: LoanSortField = LoanSortField.CURRENT_DPD
    direction: SortDirection = SortDirection.DESC


@strawberry.type(description="A ratio with its exact parts; value is null when the denominator is 0.")
class Ratio:
    value: float | None
    numerator: float
    denominator: float
    band: Band | None


@strawberry.type(description="One term of the risk score: weight * clamp(input) points.")
class RiskPenalty:
    name: str
    weight: int
    input: float
    points: float


@strawberry.type
class BucketBalance:
    bucket: str
    count: int
    balance: float


T = TypeVar("T")


def _registry_fields(after: str | None, fields: dict[str, tuple[str, str]]) -> Callable[[type[T]], type[T]]:
    """A class decorator (under ``@strawberry.type``) adding registry-derived fields, name ->
    (annotation, description), after the field ``after`` (None: first), in registry order."""

    def add(cls: type[T]) -> type[T]:
        added = {name: annotation for name, (annotation, _) in fields.items()}
        annotations: dict[str, object] = dict(added) if after is None else {}
        for name, annotation in cls.__annotations__.items():
            annotations[name] = annotation
            if name == after:
                annotations.update(added)
        cls.__annotations__ = annotations
        for name, (_, description) in fields.items():
            setattr(cls, name, strawberry.field(description=description))
        return cls

    return add


PORTFOLIO_FIELDS = {c.name: ("float" if c.money else "int", c.description)
                    for c in registry.COMPONENTS if c.portfolio}
RATIO_FIELDS = {r.name: ("Ratio", r.description) for r in registry.RATIOS}


@strawberry.type
@_registry_fields(None, PORTFOLIO_FIELDS)  # money as Float, counts as Int
class Portfolio:
    buckets: list[BucketBalance]


BANDS = {band.title_case: band for band in registry.Band}  # title case (as stored) -> the enum; cheaper than a call


class _RatioView:
    """Ratio's fields over a snapshot: a page usually selects only ``value``."""

    __slots__ = ("_name", "_snapshot")

    def __init__(self, snapshot: MetricSnapshot, name: str) -> None:
        self._snapshot = snapshot
        self._name = name

    @property
    def value(self) -> float | None:
        return self._snapshot.ratio_value(self._name)

    @property
    def numerator(self) -> float:
        return float(self._snapshot.ratio(self._name).numerator)

    @property
    def denominator(self) -> float:
        return float(self._snapshot.ratio(self._name).denominator)

    @property
    def band(self) -> Band | None:
        band = self._snapshot.ratio(self._name).band
        return BANDS[band] if band else None


def _ratio(snapshot: MetricSnapshot, name: str) -> Ratio:
    return cast(Ratio, _RatioView(snapshot, name))


def _money(name: str) -> property:
    return property(lambda view: view._snapshot.amount(name))


def _count(name: str) -> property:
    return property(lambda view: int(view._snapshot.component(name)))


class _PortfolioView:
    """Portfolio's fields over a snapshot, each converted only when selected (duck-typed: the
    executor reads attributes, and Portfolio has no interfaces, so no isinstance check runs).
    One property per registry portfolio component, set below."""

    __slots__ = ("_snapshot",)

    def __init__(self, snapshot: MetricSnapshot) -> None:
        self._snapshot = snapshot

    @property
    def buckets(self) -> list[BucketBalance]:
        return [BucketBalance(bucket=label, count=count, balance=float(balance))
                for label, count, balance in self._snapshot.buckets]


for _component in registry.COMPONENTS:
    if _component.portfolio:
        setattr(_PortfolioView, _component.name, (_money if _component.money else _count)(_component.name))


def _ratio_field(name: str) -> property:
    return property(lambda view: _ratio(view._snapshot, name))


class _MetricsView:
    """OfficerMetrics' fields over a snapshot, each derived only when the query selects it."""

    __slots__ = ("_snapshot",)

    def __init__(self, snapshot: MetricSnapshot) -> None:
        self._snapshot = snapshot

    calculation_date = property(lambda view: view._snapshot.calculation_date)
    period_start = property(lambda view: view._snapshot.period_start)
    period_end = property(lambda view: view._snapshot.calculation_date)
    risk_score = property(lambda view: view._snapshot.risk_score)
    risk_band = property(lambda view: BANDS[view._snapshot.risk_band])
    dqi = property(lambda view: view._snapshot.dqi)
    dqi_band = property(lambda view: BANDS[view._snapshot.dqi_band])

    @property
    def risk_penalties(self) -> list[RiskPenalty]:
        return [RiskPenalty(name=p.name, weight=p.weight, input=p.input, points=p.points)
                for p in self._snapshot.penalties]

    @property
    def portfolio(self) -> Portfolio:
        return cast(Portfolio, _PortfolioView(self._snapshot))


for _ratio_definition in registry.RATIOS:
    setattr(_MetricsView, _ratio_definition.name, _ratio_field(_ratio_definition.name))


class _BranchMetricsView(_MetricsView):
    __slots__ = ()
    branch = property(lambda view: view._snapshot.group_key)
    region = property(lambda view: view._snapshot.region)
    total_officers = property(lambda view: view._snapshot.total_officers or 0)


class _RegionMetricsView(_MetricsView):
    __slots__ = ()
    region = property(lambda view: view._snapshot.group_key)
    total_officers = property(lambda view: view._snapshot.total_officers or 0)


@strawberry.type
@_registry_fields("period_end", RATIO_FIELDS)
class OfficerMetrics:
    calculation_date: date
    period_start: date
    period_end: date
    risk_score: int
    risk_band: Band
    dqi: int
    dqi_band: Band
    risk_penalties: list[RiskPenalty]
    portfolio: Portfolio

    @classmethod
    def of(cls, snapshot: MetricSnapshot) -> OfficerMetrics:
        """A view that derives each field from the snapshot when it is read."""
        return cast(OfficerMetrics, _MetricsView(snapshot))


@strawberry.type
class BranchMetrics(OfficerMetrics):
    branch: str
    region: str | None
    total_officers: int

    @classmethod
    def of(cls, snapshot: MetricSnapshot) -> BranchMetrics:
        return cast(BranchMetrics, _BranchMetricsView(snapshot))


@strawberry.type
class RegionMetrics(OfficerMetrics):
    region: str
    total_officers: int

    @classmethod
    def of(cls, snapshot: MetricSnapshot) -> RegionMetrics:
        return cast(RegionMetrics, _RegionMetricsView(snapshot))


@strawberry.type
class TeamMember:
    member_id: strawberry.ID
    member_name: str
    member_email: str | None
    member_phone: str | None
    role: str | None
    department: str | None
    is_active: bool


@strawberry.type
class AuditAction:
    id: strawberry.ID
    officer_id: strawberry.ID
    action_kind: str
    action_type: str
    actor: str | None
    action_date: datetime
    from_status: AuditStatus | None
    to_status: AuditStatus | None
    assignee_id: strawberry.ID | None
    notes: str | None


@strawberry.type
class AuditInfo:
    officer_id: strawberry.ID
    assignee_id: strawberry.ID | None
    assignee_name: str | None
    assigned_date: datetime | None
    audit_status: AuditStatus
    status_changed_date: datetime | None
    last_audit_date: date | None
    audit_notes: str | None
    risk_level: str | None
    action_type: str | None
    action_date: datetime | None
    action_notes: str | None
    version: int

    @strawberry.field(description="Every assignment, status change and action, newest first.")
    async def actions(self, info: Info[RequestContext, None]) -> list[AuditAction]:
        return await info.context.loaders.audit_actions.load(str(self.officer_id))


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


@strawberry.type
class Installment:
    installment_number: int
    due_date: date
    principal_due: float
    interest_due: float
    fee_due: float
    total_due: float
    amount_paid: float | None
    payment_date: date | None
    payment_status: str | None


@strawberry.type
class Repayment:
    repayment_id: strawberry.ID
    payment_date: date
    payment_amount: float
    principal_paid: float
    interest_paid: float
    fees_paid: float
    penalty_paid: float | None
    payment_method: str
    payment_channel: str | None
    is_backdated: bool
    is_reversed: bool
    reversal_date: date | None
    reversal_reason: str | None
    waiver_amount: float | None
    waiver_type: str | None


@strawberry.type
class Loan:
    loan_id: strawberry.ID
    officer_id: strawberry.ID = strawberry.field(description="The loan's officer, also when out of the caller's scope.")
    customer_id: strawberry.ID
    customer_name: str
    customer_phone: str | None
    region: str
    branch: str
    channel: str | None
    status: str
    loan_amount: float
    disbursement_date: date
    maturity_date: date
    current_dpd: int
    max_dpd_ever: int
    first_payment_due_date: date | None
    first_payment_received_date: date | None
    days_late: int | None
    fimr_tagged: bool
    early_indicator_tagged: bool
    total_outstanding: float
    last_payment_date: date | None
    next_payment_due: date | None
    officer_name: str
    prefetched_officer: strawberry.Private[Officer | None] = None
    """The loan's officer when the page's statement joined it (the drilldowns)."""

    @property
    def prefetched_officer_view(self) -> Officer:
        """The answer of ``officer`` when the page fetched it (compiled plans)."""
        return self.prefetched_officer if self.prefetched_officer is not None else cast(Officer, NOT_PREFETCHED)

    @strawberry.field(description="The loan's officer. When the officer's own branch or region is outside the "
                      "caller's scope (a loan of a scoped branch may belong to another branch's officer), only its "
                      "id and name are given (phone, employment status and primary channel null, branch and "
                      "region empty), audit is null, and its metrics, history and loans count only loans in the "
                      "caller's scope, as every officer's do for a scoped caller.",
                      metadata={PREFETCHED: "prefetched_officer_view"})
    def officer(self, info: Info[RequestContext, None]) -> Officer:
        if self.prefetched_officer is not None:
            return self.prefetched_officer
        return cast(Officer, info.context.loaders.loan_officers.load(str(self.officer_id)))

    @strawberry.field
    async def schedule(self, info: Info[RequestContext, None]) -> list[Installment]:
        return await info.context.loaders.schedules.load(str(self.loan_id))

    @strawberry.field
    async def repayments(self, info: Info[RequestContext, None]) -> list[Repayment]:
        return await info.context.loaders.repayments.load(str(self.loan_id))


@strawberry.type
class LoanEdge:
    cursor: str
    node: Loan


@strawberry.type
class LoanConnection:
    edges: list[LoanEdge]
    page_info: PageInfo
    total_count: int

    @property
    def node_list(self) -> list[Loan]:
        return [edge.node for edge in self.edges]

    @strawberry.field(description="The nodes of the edges, without cursors.", metadata={PREFETCHED: "node_list"})
    def nodes(self) -> list[Loan]:
        return self.node_list


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
        # coroutine per officer); otherwise returns the loader's awaitable, which the executor
        # awaits like any async resolver's result.
        if self.prefetched_metrics is not None and period is None:
            return OfficerMetrics.of(self.prefetched_metrics)
        from loanmetrics.resolvers.officers import officer_metrics

        return cast(OfficerMetrics, officer_metrics(info.context, self, period))

    @strawberry.field(description="Daily rows (month-to-date windows) between the dates, oldest first.")
    async def history(self, info: Info[RequestContext, None], start_date: date, end_date: date) -> list[OfficerMetrics]:
        from loanmetrics.resolvers.officers import officer_history

        return await officer_history(info.context, str(self.officer_id), start_date, end_date,
                                     outside_scope=self.outside_scope)

    @strawberry.field(metadata={PREFETCHED: "prefetched_audit_view"})
    def audit(self, info: Info[RequestContext, None]) -> AuditInfo | None:
        if self.has_audit:  # joined into the officer query: no coroutine, no statement
            return self.prefetched_audit
        return cast(AuditInfo, info.context.loaders.audit.load(str(self.officer_id)))

    @strawberry.field
    async def loans(
        self, info: Info[RequestContext, None], filter: LoanFilter | None = None, first: int | None = 50,
        after: str | None = None, sort: LoanSort | None = None,
    ) -> LoanConnection:
        from loanmetrics.resolvers.loans import officer_loans

        size = 50 if first is None else first
        return await officer_loans(info.context, str(self.officer_id), filter, size, after, sort)


@strawberry.type
class OfficerEdge:
    cursor: str
    node: Officer


@strawberry.type
class OfficerConnection:
    edges: list[OfficerEdge]
    page_info: PageInfo
    total_count: int
    calculation_date: date | None = strawberry.field(description="The date D of the metrics in this list.")
    period_start: date | None = None

    @property
    def node_list(self) -> list[Officer]:
        return [edge.node for edge in self.edges]

    @strawberry.field(description="The nodes of the edges, without cursors.", metadata={PREFETCHED: "node_list"})
    def nodes(self) -> list[Officer]:
        return self.node_list


@strawberry.type
class FilterOptions:
    regions: list[str]
    branches: list[str]
    officers: list[OfficerOption]
    channels: list[str]
    loan_statuses: list[str]
    risk_bands: list[Band]
    audit_statuses: list[AuditStatus]
    calculated_dates: list[date] = strawberry.field(description="Dates with daily metrics, newest first (up to 120).")


@strawberry.type(description="A loan officer as a filter choice (id, name, own branch and region).")
class OfficerOption:
    officer_id: strawberry.ID
    officer_name: str
    branch: str
    region: str


@strawberry.type
class CalculationRun:
    id: strawberry.ID
    calculation_type: str
    calculation_date: date
    start_date: date | None
    start_time: datetime
    end_time: datetime | None
    duration_seconds: float | None
    records_processed: int
    records_updated: int
    records_failed: int
    status: str
    error_message: str | None
