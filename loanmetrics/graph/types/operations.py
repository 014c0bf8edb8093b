"""GraphQL operations types (SPEC §6, §8): the dashboard's filter choices and the calculation log."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import strawberry

from loanmetrics.graph.types.inputs import AuditStatus, Band
from loanmetrics.resolvers.operations import FilterChoices


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

    @classmethod
    def of(cls, choices: FilterChoices) -> FilterOptions:
        return cls(
            regions=choices.regions, branches=choices.branches,
            officers=[OfficerOption(officer_id=strawberry.ID(officer), officer_name=name, branch=branch, region=region)
                      for officer, name, branch, region in choices.officers],
            channels=choices.channels, loan_statuses=choices.loan_statuses, risk_bands=choices.risk_bands,
            audit_statuses=choices.audit_statuses, calculated_dates=choices.calculated_dates,
        )


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

    @classmethod
    def from_row(cls, row: Any) -> CalculationRun:
        """From a metric_calculation_log row."""
        return cls(
            id=strawberry.ID(str(row["id"])), calculation_type=row["calculation_type"],
            calculation_date=row["calculation_date"], start_date=row["start_date"], start_time=row["start_time"],
            end_time=row["end_time"], duration_seconds=float(row["duration"]) if row["duration"] is not None else None,
            records_processed=row["records_processed"], records_updated=row["records_updated"],
            records_failed=row["records_failed"], status=row["status"], error_message=row["error_message"],
        )
