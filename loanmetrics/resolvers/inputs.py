"""What the queries accept: the enums of the API and the shapes of periods, filters and sorts.

The enums are plain Python enums; ``graph/types/inputs.py`` registers them with Strawberry (as it
does the registry's ``Band``), so GraphQL, REST and the queries share one definition. Filters
and sorts are Protocols of read-only attributes: the GraphQL input types satisfy them as they
are, with no conversion per request, and the queries never see a Strawberry type.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import Enum
from typing import Protocol

from loanmetrics.calculators import registry
from loanmetrics.calculators.registry import Band


class AuditStatus(Enum):
    NOT_ASSIGNED = "Not Assigned"
    ASSIGNED = "Assigned"
    IN_PROGRESS = "In Progress"
    RESOLVED = "Resolved"


class SortDirection(Enum):
    ASC = "asc"
    DESC = "desc"


SORT_FIELDS = ("risk_score", "dqi", *(r.name for r in registry.RATIOS),
               *(c.name for c in registry.COMPONENTS if c.portfolio), "officer_name", "officer_id")
"""The scores, every registry ratio and every Portfolio component (all but the buckets), then
name and id: one sort field each."""


class OfficerSortField(Enum):
    """One member per name of ``SORT_FIELDS`` (the Enum's ``_ignore_`` recipe for generated members)."""

    _ignore_ = "_name"
    for _name in SORT_FIELDS:
        vars()[_name.upper()] = _name


class LoanSortField(Enum):
    CURRENT_DPD = "current_dpd"
    DISBURSEMENT_DATE = "disbursement_date"
    LOAN_AMOUNT = "loan_amount"
    TOTAL_OUTSTANDING = "total_outstanding"
    DAYS_LATE = "days_late"


class Period(Protocol):
    @property
    def start_date(self) -> date | None: ...

    @property
    def end_date(self) -> date | None: ...


class OfficerFilter(Protocol):
    """On the officer's own attributes (SPEC §6)."""

    @property
    def region(self) -> str | None: ...

    @property
    def branch(self) -> str | None: ...

    @property
    def officer_id(self) -> str | None: ...

    @property
    def risk_band(self) -> Band | None: ...

    @property
    def audit_status(self) -> AuditStatus | None: ...

    @property
    def search(self) -> str | None: ...


class OfficerSort(Protocol):
    @property
    def field(self) -> OfficerSortField: ...

    @property
    def direction(self) -> SortDirection: ...


class BranchFilter(Protocol):
    @property
    def region(self) -> str | None: ...

    @property
    def branch(self) -> str | None: ...


class LoanFilter(Protocol):
    """On the loan's own attributes (SPEC §6)."""

    @property
    def region(self) -> str | None: ...

    @property
    def branch(self) -> str | None: ...

    @property
    def officer_id(self) -> str | None: ...

    @property
    def status(self) -> str | None: ...

    @property
    def channel(self) -> str | None: ...

    @property
    def disbursed_from(self) -> date | None: ...

    @property
    def disbursed_to(self) -> date | None: ...

    @property
    def dpd_min(self) -> int | None: ...

    @property
    def dpd_max(self) -> int | None: ...

    @property
    def search(self) -> str | None: ...

    @property
    def fimr_tagged(self) -> bool | None: ...

    @property
    def early_indicator_tagged(self) -> bool | None: ...


class LoanSort(Protocol):
    @property
    def field(self) -> LoanSortField: ...

    @property
    def direction(self) -> SortDirection: ...


@dataclass(frozen=True)
class OfficerOrder:
    field: OfficerSortField = OfficerSortField("risk_score")  # noqa: RUF009 - an enum member, immutable
    direction: SortDirection = SortDirection.DESC


@dataclass(frozen=True)
class LoanOrder:
    field: LoanSortField = LoanSortField.CURRENT_DPD
    direction: SortDirection = SortDirection.DESC


@dataclass(frozen=True)
class LoanGroup:
    """A LoanFilter on officer, branch and region only (the drilldown totals' groups)."""

    region: str | None = None
    branch: str | None = None
    officer_id: str | None = None
    status: str | None = None
    channel: str | None = None
    disbursed_from: date | None = None
    disbursed_to: date | None = None
    dpd_min: int | None = None
    dpd_max: int | None = None
    search: str | None = None
    fimr_tagged: bool | None = None
    early_indicator_tagged: bool | None = None
