"""The REST objects of SPEC §7 as field tables over the GraphQL types (see ``shapes.py``).

Shared by several routes: officer and branch rows, the full metric object of the officer
detail, loan rows (drilldowns and the audit action's top loans), audit info and actions.
"""

from __future__ import annotations

from strawberry.utils.str_converters import to_camel_case

from loanmetrics.calculators import registry
from loanmetrics.graph.rest.shapes import Json, Out

J = Json

RATIO = (
    Out("value", "value", J.NUMBER, nullable=True, description="null when the denominator is 0"),
    Out("numerator", "numerator", J.NUMBER),
    Out("denominator", "denominator", J.NUMBER),
    Out("band", "band", J.BAND, nullable=True),
)
RATIO_NAMES = tuple((r.name, to_camel_case(r.name)) for r in registry.RATIOS)
PENALTY = (Out("name", "name"), Out("weight", "weight", J.INTEGER), Out("input", "input", J.NUMBER),
           Out("points", "points", J.NUMBER))
BUCKET = (Out("bucket", "bucket"), Out("count", "count", J.INTEGER), Out("balance", "balance", J.NUMBER))
PORTFOLIO = (
    *(Out(c.name, to_camel_case(c.name), J.NUMBER if c.money else J.INTEGER, description=c.description)
      for c in registry.COMPONENTS if c.portfolio),
    Out("buckets", "buckets", children=BUCKET, many=True),
)
# Every metric of one window (OfficerMetrics): the officer detail's current and previous_month.
METRICS = (
    Out("calculation_date", "calculationDate", J.DATE),
    Out("period_start", "periodStart", J.DATE),
    Out("period_end", "periodEnd", J.DATE),
    Out("risk_score", "riskScore", J.INTEGER),
    Out("risk_band", "riskBand", J.BAND),
    Out("dqi", "dqi", J.INTEGER),
    Out("dqi_band", "dqiBand", J.BAND),
    *(Out(key, name, children=RATIO) for key, name in RATIO_NAMES),
    Out("risk_penalties", "riskPenalties", children=PENALTY, many=True),
    Out("portfolio", "portfolio", children=PORTFOLIO),
)


def metric_column(key: str, prefix: str) -> Out:
    """A flat metric column of the officer and branch rows, read under ``prefix``."""
    ratios = {r.rest_key: r for r in registry.RATIOS if r.rest_key}
    if key in ratios:
        return Out(key, f"{prefix}{to_camel_case(ratios[key].name)}.value", J.NUMBER, nullable=True,
                   description=ratios[key].description)
    source, kind = _FLAT[key]
    return Out(key, prefix + source, kind)


_FLAT = {
    "risk_score": ("riskScore", J.INTEGER),
    "risk_band": ("riskBand", J.BAND),
    "dqi": ("dqi", J.INTEGER),
    **{c.rest_key: (f"portfolio.{to_camel_case(c.name)}", J.NUMBER if c.money else J.INTEGER)
       for c in registry.COMPONENTS if c.rest_key},
}
_OFFICER_OWN = {
    "officer_id": Out("officer_id", "officerId"),
    "officer_name": Out("officer_name", "officerName"),
    "region": Out("region", "region"),
    "branch": Out("branch", "branch"),
    "assignee": Out("assignee", "audit.assigneeName", nullable=True, description="the assigned team member's name"),
    "audit_status": Out("audit_status", "audit.auditStatus", J.AUDIT_STATUS),
    "last_audit_date": Out("last_audit_date", "audit.lastAuditDate", J.DATE, nullable=True),
    "channel": Out("channel", "primaryChannel", nullable=True, description="the officer's primary channel"),
    "rank": Out("rank", "rank", J.INTEGER, nullable=True, description="by risk score, highest first (ties share)"),
}
# The original design's officer row (SPEC §7), then every other registry metric with a REST key
# (registry order: ratios, then components), then the rank.
_ORIGINAL_ROW = ("officer_id", "officer_name", "region", "branch", "risk_score", "risk_band", "assignee",
                 "audit_status", "last_audit_date", "ayr", "dqi", "fimr", "all_time_fimr", "d06_slippage", "roll",
                 "frr", "portfolio_total", "overdue_15d", "active_loans", "channel", "yield", "porr",
                 "channel_purity")
REGISTRY_REST_KEYS = (*(r.rest_key for r in registry.RATIOS if r.rest_key),
                      *(c.rest_key for c in registry.COMPONENTS if c.rest_key))
OFFICER_ROW_KEYS = (*_ORIGINAL_ROW, *(key for key in REGISTRY_REST_KEYS if key not in _ORIGINAL_ROW), "rank")
OFFICER_ROW = tuple(_OFFICER_OWN[key] if key in _OFFICER_OWN else metric_column(key, "metrics.")
                    for key in OFFICER_ROW_KEYS)
BRANCH_METRIC_KEYS = tuple(key for key in OFFICER_ROW_KEYS if key not in _OFFICER_OWN)
BRANCH_ROW = (
    Out("branch", "branch"),
    Out("region", "region", nullable=True, description="the region most of the branch's loans carry"),
    Out("total_officers", "totalOfficers", J.INTEGER),
    *(metric_column(key, "") for key in BRANCH_METRIC_KEYS),
)
TREND_POINT = (
    Out("date", "calculationDate", J.DATE),
    Out("risk_score", "riskScore", J.INTEGER),
    Out("dqi", "dqi", J.INTEGER),
    *(metric_column(key, "") for key in ("fimr", "porr", "d06_slippage", "roll")),
)
LOAN_ROW = (
    Out("loan_id", "loanId"),
    Out("customer_name", "customerName"),
    Out("customer_phone", "customerPhone", nullable=True, description="masked unless the caller is an admin"),
    Out("officer_id", "officerId"),
    Out("officer_name", "officerName"),
    Out("region", "region"),
    Out("branch", "branch"),
    Out("disbursement_date", "disbursementDate", J.DATE),
    Out("loan_amount", "loanAmount", J.NUMBER),
    Out("first_payment_due_date", "firstPaymentDueDate", J.DATE, nullable=True),
    Out("first_payment_received_date", "firstPaymentReceivedDate", J.DATE, nullable=True),
    Out("days_late", "daysLate", J.INTEGER, nullable=True),
    Out("fimr_tagged", "fimrTagged", J.BOOLEAN),
    Out("current_dpd", "currentDpd", J.INTEGER),
    Out("status", "status"),
    Out("outstanding_balance", "totalOutstanding", J.NUMBER),
)
EARLY_LOAN_ROW = (
    *LOAN_ROW,
    Out("last_payment_date", "lastPaymentDate", J.DATE, nullable=True),
    Out("next_payment_due", "nextPaymentDue", J.DATE, nullable=True),
    Out("early_indicator_tagged", "earlyIndicatorTagged", J.BOOLEAN),
)
AUDIT_ACTION = (
    Out("id", "id"),
    Out("officer_id", "officerId"),
    Out("action_kind", "actionKind", description="assignment, status_change or action"),
    Out("action_type", "actionType"),
    Out("actor", "actor", nullable=True),
    Out("action_date", "actionDate", J.DATETIME),
    Out("from_status", "fromStatus", J.AUDIT_STATUS, nullable=True),
    Out("to_status", "toStatus", J.AUDIT_STATUS, nullable=True),
    Out("assignee_id", "assigneeId", nullable=True),
    Out("notes", "notes", nullable=True),
)
AUDIT_INFO = (
    Out("assignee_id", "assigneeId", nullable=True),
    Out("assignee_name", "assigneeName", nullable=True),
    Out("assigned_date", "assignedDate", J.DATETIME, nullable=True),
    Out("audit_status", "auditStatus", J.AUDIT_STATUS),
    Out("status_changed_date", "statusChangedDate", J.DATETIME, nullable=True),
    Out("last_audit_date", "lastAuditDate", J.DATE, nullable=True),
    Out("audit_notes", "auditNotes", nullable=True),
    Out("risk_level", "riskLevel", nullable=True),
    Out("action_type", "actionType", nullable=True),
    Out("action_date", "actionDate", J.DATETIME, nullable=True),
    Out("action_notes", "actionNotes", nullable=True),
    Out("version", "version", J.INTEGER, description="send as expected_version to guard a status change"),
    Out("actions", "actions", children=AUDIT_ACTION, many=True, description="the full history, newest first"),
)
AUDIT_RESULT = (Out("officer_id", "officerId"), *AUDIT_INFO)
