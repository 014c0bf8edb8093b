"""GraphQL enums and input types (SPEC §6).

The enums are the queries' own (``resolvers/inputs.py``) and the registry's ``Band``, registered
with Strawberry here; the input types satisfy the queries' Protocols as they are.
"""

from __future__ import annotations

from datetime import date

import strawberry

from loanmetrics.calculators.registry import Band
from loanmetrics.resolvers.inputs import AuditStatus, LoanSortField, OfficerSortField, SortDirection

__all__ = ["AuditStatus", "Band", "BranchFilter", "LoanFilter", "LoanSort", "LoanSortField", "OfficerFilter",
           "OfficerSort", "OfficerSortField", "PeriodInput", "SortDirection"]

strawberry.enum(Band, description="Risk and quality bands (REST and the daily tables spell them in title case).")
strawberry.enum(AuditStatus)
strawberry.enum(SortDirection)
strawberry.enum(OfficerSortField, description="Every metric the officer list can sort on (the scores, every ratio and "
                                              "every Portfolio amount and count but the buckets), plus name and id.")
strawberry.enum(LoanSortField, description="Orderings of loan lists.")


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
