"""Strawberry types of SPEC §6, one module per concept: ``inputs`` (enums and input types),
``metrics``, ``officer``, ``loan``, ``audit``, ``operations`` (filter choices, calculation runs)
and ``connections`` (page info).

Types hold plain values and build themselves from the rows, pages and metric snapshots the
queries (``resolvers/``) return; fields that need more data (another period, audit history, an
officer's loans) call the queries with the request context.
"""

from loanmetrics.graph.types.audit import AuditAction, AuditInfo, TeamMember
from loanmetrics.graph.types.connections import PageInfo
from loanmetrics.graph.types.inputs import (
    AuditStatus,
    Band,
    BranchFilter,
    LoanFilter,
    LoanSort,
    LoanSortField,
    OfficerFilter,
    OfficerSort,
    OfficerSortField,
    PeriodInput,
    SortDirection,
)
from loanmetrics.graph.types.loan import Installment, Loan, LoanConnection, LoanEdge, Repayment
from loanmetrics.graph.types.metrics import (
    BranchMetrics,
    BucketBalance,
    OfficerMetrics,
    Portfolio,
    Ratio,
    RegionMetrics,
    RiskPenalty,
)
from loanmetrics.graph.types.officer import Officer, OfficerConnection, OfficerEdge, drilldown_connection
from loanmetrics.graph.types.operations import CalculationRun, FilterOptions, OfficerOption

__all__ = [
    "AuditAction", "AuditInfo", "AuditStatus", "Band", "BranchFilter", "BranchMetrics", "BucketBalance",
    "CalculationRun", "FilterOptions", "Installment", "Loan", "LoanConnection", "LoanEdge", "LoanFilter",
    "LoanSort", "LoanSortField", "Officer", "OfficerConnection", "OfficerEdge", "OfficerFilter", "OfficerMetrics",
    "OfficerOption", "OfficerSort", "OfficerSortField", "PageInfo", "PeriodInput", "Portfolio", "Ratio",
    "RegionMetrics", "Repayment", "RiskPenalty", "SortDirection", "TeamMember", "drilldown_connection",
]
