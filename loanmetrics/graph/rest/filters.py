"""``/api/v1/filters/options`` over the GraphQL ``filterOptions`` field: the dashboard's choices,
restricted to the caller's scope, with bands and audit statuses in their REST spellings."""

from __future__ import annotations

from loanmetrics.graph.rest.common import Call, Endpoint, Success
from loanmetrics.graph.rest.shapes import Json, Out, reshape, selection

OFFICER_OPTION = (Out("officer_id", "officerId"), Out("officer_name", "officerName"), Out("branch", "branch"),
                  Out("region", "region"))
OPTIONS = (
    Out("regions", "regions", many=True),
    Out("branches", "branches", many=True),
    Out("officers", "officers", children=OFFICER_OPTION, many=True),
    Out("channels", "channels", many=True),
    Out("loan_statuses", "loanStatuses", many=True),
    Out("risk_bands", "riskBands", Json.BAND, many=True),
    Out("audit_statuses", "auditStatuses", Json.AUDIT_STATUS, many=True),
    Out("calculated_dates", "calculatedDates", Json.DATE, many=True, description="newest first (up to 120)"),
)
DOCUMENT = f"query RestFilterOptions {{ filterOptions {{ {selection(OPTIONS)} }} }}"


async def filter_options(call: Call) -> Success:
    data = await call.graphql(DOCUMENT, "RestFilterOptions", {})
    return Success(reshape(data["filterOptions"], OPTIONS))


ENDPOINTS = (
    Endpoint("GET", "/api/v1/filters/options", "Filter choices for the dashboard (within the caller's scope)",
             filter_options, data=Out("data", None, children=OPTIONS), graphql="filterOptions"),
)
