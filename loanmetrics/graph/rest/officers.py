"""``/api/v1/metrics/officers`` and ``/api/v1/metrics/officers/{officer_id}`` over the GraphQL
``officers`` and ``officer`` fields (SPEC §7)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import orjson

from loanmetrics.calculators import registry
from loanmetrics.graph import types as t
from loanmetrics.graph.rest.common import PAGE_META, Call, Endpoint, Success, page_meta
from loanmetrics.graph.rest.csv_export import FORMAT, CsvExport, keyset_document
from loanmetrics.graph.rest.fields import AUDIT_INFO, METRICS, OFFICER_ROW, OFFICER_ROW_KEYS, TREND_POINT
from loanmetrics.graph.rest.params import (
    BRANCH,
    OFFICER_ID,
    OFFICER_PATH,
    REGION,
    Kind,
    Param,
    RestError,
    check_order,
    page_params,
    window_failure,
)
from loanmetrics.graph.rest.shapes import Json, Out, reshape, row_keys, selection
from loanmetrics.resolvers.pagination import MAX_PAGE_SIZE

TREND_DAYS = 30
# REST sort keys are the officer row's keys; each maps to the GraphQL sort field of the same
# metric (derived from the enum, so a key exists only where GraphQL can sort). rank is risk score
# the other way round (rank 1 = highest score).
_SORT_ALIASES = {
    **{r.rest_key: r.name for r in registry.RATIOS if r.rest_key},
    **{c.rest_key: c.name for c in registry.COMPONENTS if c.rest_key},
}
_SORTABLE = {field.value: field.name for field in t.OfficerSortField}
SORTS: dict[str, tuple[str, bool]] = {
    key: (_SORTABLE[_SORT_ALIASES.get(key, key)], False)
    for key in OFFICER_ROW_KEYS if _SORT_ALIASES.get(key, key) in _SORTABLE
}
SORTS["rank"] = ("RISK_SCORE", True)

DATE = Param("date", Kind.DATE, "metrics as of this date (month-to-date window); default: the latest calculated "
             "date", until_business_date=True)
START_DATE = Param("start_date", Kind.DATE, "start of a custom window (default: the first of the end date's month)",
                   until_business_date=True)
END_DATE = Param("end_date", Kind.DATE, "end of a custom window (same as date; give one of them)",
                 until_business_date=True)
RISK_BAND = Param("risk_band", Kind.CHOICE, "only officers in this risk band",
                  choices=("Green", "Watch", "Amber", "Red"))
SORT = Param("sort", Kind.CHOICE, "the officer-row key to sort on", default="risk_score", choices=tuple(SORTS))
ORDER = Param("order", Kind.CHOICE, "sort direction", default="desc", choices=("asc", "desc"))
PAGE, PER_PAGE = page_params(MAX_PAGE_SIZE)

LIST_DOCUMENT = f"""
query RestOfficers($filter: OfficerFilter, $period: PeriodInput, $sort: OfficerSort, $first: Int!, $offset: Int!) {{
  officers(filter: $filter, period: $period, sort: $sort, first: $first, offset: $offset) {{
    totalCount calculationDate periodStart nodes {{ {selection(OFFICER_ROW)} }}
  }}
}}
"""

IDENTITY = (
    Out("officer_id", "officerId"),
    Out("officer_name", "officerName"),
    Out("officer_phone", "officerPhone", nullable=True),
    Out("region", "region"),
    Out("branch", "branch"),
    Out("employment_status", "employmentStatus", nullable=True),
    Out("primary_channel", "primaryChannel", nullable=True),
)
CURRENT = Out("current", "current: metrics(period: $period)", children=METRICS,
              description="month to date on the latest calculated date (or date)")
PREVIOUS = Out("previous_month", "previousMonth: metrics(period: $previous)", children=METRICS,
               description="the whole previous calendar month")
TREND = Out("trend", "history(startDate: $trendStart, endDate: $trendEnd)", children=TREND_POINT, many=True,
            description=f"daily rows of the last {TREND_DAYS} days, oldest first")
AUDIT = Out("audit_info", "audit", children=AUDIT_INFO)
DETAIL = (*IDENTITY, CURRENT, PREVIOUS, TREND, AUDIT)
# Two operations: the second's windows (previous month, trend) depend on the date the first
# resolves (the latest calculated date when none is given).
CURRENT_DOCUMENT = f"""
query RestOfficer($officerId: ID!, $period: PeriodInput) {{
  officer(officerId: $officerId) {{ {selection((*IDENTITY, CURRENT))} }}
}}
"""
HISTORY_DOCUMENT = f"""
query RestOfficerHistory($officerId: ID!, $previous: PeriodInput!, $trendStart: Date!, $trendEnd: Date!) {{
  officer(officerId: $officerId) {{ {selection((PREVIOUS, TREND, AUDIT))} }}
}}
"""


def period_variable(query: dict[str, Any]) -> dict[str, str] | None:
    """date / start_date / end_date -> PeriodInput (null: the default window)."""
    if query["date"] is not None and query["end_date"] is not None:
        raise RestError(400, "BAD_REQUEST", "give date or end_date, not both", {"parameter": "end_date"})
    end: date | None = query["date"] or query["end_date"]
    start: date | None = query["start_date"]
    check_order(START_DATE, start, END_DATE if query["end_date"] else DATE, end)
    period = {name: day.isoformat() for name, day in (("startDate", start), ("endDate", end)) if day is not None}
    return period or None


def _compact(values: dict[str, Any]) -> dict[str, Any] | None:
    kept = {key: value for key, value in values.items() if value is not None}
    return kept or None


def list_variables(query: dict[str, Any]) -> dict[str, Any]:
    """The officer list's GraphQL variables: filters, window, sort and page."""
    field, inverted = SORTS[query["sort"]]
    descending = (query["order"] == "desc") != inverted
    band = query["risk_band"]
    return {
        "filter": _compact({"region": query["region"], "branch": query["branch"], "officerId": query["officer_id"],
                            "riskBand": band.upper() if band else None}),
        "period": period_variable(query),
        "sort": {"field": field, "direction": "DESC" if descending else "ASC"},
        "first": query["per_page"],
        "offset": (query["page"] - 1) * query["per_page"],
    }


async def list_officers(call: Call) -> Success:
    query = call.query
    data = (await call.graphql(LIST_DOCUMENT, "RestOfficers", list_variables(query),
                               officer_rows=None if call.csv else OFFICER_ROW_SQL))["officers"]
    meta = page_meta(query["page"], query["per_page"], data["totalCount"])
    meta.update(calculation_date=data["calculationDate"], period_start=data["periodStart"],
                period_end=data["calculationDate"])
    return Success([node if _is_row(node) else reshape(node, OFFICER_ROW) for node in data["nodes"]], meta)


OFFICER_ROW_SQL = row_keys(OFFICER_ROW)
"""The REST officer row as the officer list's SQL builds it (the GraphQL answer then holds rows)."""


def _is_row(node: Any) -> bool:
    """A row SQL built (spliced as is, or decoded from a cached answer), not a GraphQL node."""
    return isinstance(node, orjson.Fragment) or "officer_id" in node


def _previous_month(day: date) -> tuple[date, date]:
    end = day.replace(day=1) - timedelta(days=1)
    return end.replace(day=1), end


async def officer_detail(call: Call) -> Success:
    officer_id = call.path["officer_id"]
    day = call.query["date"]
    period = {"endDate": day.isoformat()} if day is not None else None
    current = (await call.graphql(CURRENT_DOCUMENT, "RestOfficer", {"officerId": officer_id, "period": period}))
    officer = current["officer"]
    if officer is None:
        raise _not_found(officer_id)
    end = date.fromisoformat(officer["current"]["calculationDate"])
    previous_start, previous_end = _previous_month(end)
    trend_start = end - timedelta(days=TREND_DAYS - 1)
    history = await call.graphql(HISTORY_DOCUMENT, "RestOfficerHistory", {
        "officerId": officer_id,
        "previous": {"startDate": previous_start.isoformat(), "endDate": previous_end.isoformat()},
        "trendStart": trend_start.isoformat(), "trendEnd": end.isoformat(),
    })
    if history["officer"] is None:
        raise _not_found(officer_id)
    data = reshape({**officer, **history["officer"]}, DETAIL)
    meta = {
        "calculation_date": end.isoformat(), "period_start": data["current"]["period_start"],
        "period_end": data["current"]["period_end"], "previous_month_start": previous_start.isoformat(),
        "previous_month_end": previous_end.isoformat(), "trend_start": trend_start.isoformat(),
        "trend_end": end.isoformat(),
    }
    return Success(data, meta)


def _not_found(officer_id: str) -> RestError:
    """Absent and out of scope look the same (a scoped caller learns nothing about other branches)."""
    return RestError(404, "NOT_FOUND", f"officer {officer_id} not found", {"officer_id": officer_id})


WINDOW_RULES = (
    "date and end_date name the same window end: give at most one of them (400).",
    "start_date must not be after the window's end: end_date or date, else the latest calculated date (400).",
)
WINDOW_META = (Out("calculation_date", None, Json.DATE, nullable=True),
               Out("period_start", None, Json.DATE, nullable=True),
               Out("period_end", None, Json.DATE, nullable=True))

ENDPOINTS = (
    Endpoint(
        "GET", "/api/v1/metrics/officers", "Officers with their metrics, ranked, filtered, sorted and paged",
        list_officers, data=Out("data", None, children=OFFICER_ROW, many=True),
        meta=(*PAGE_META, *WINDOW_META),
        query=(REGION, BRANCH, OFFICER_ID, DATE, START_DATE, END_DATE, RISK_BAND, PAGE, PER_PAGE, SORT, ORDER, FORMAT),
        graphql="officers", rules=WINDOW_RULES, renamed=window_failure,
        csv=CsvExport("officers", OFFICER_ROW, "officers", *keyset_document(LIST_DOCUMENT, "RestOfficers"),
                      variables=list_variables),
    ),
    Endpoint(
        "GET", "/api/v1/metrics/officers/{officer_id}",
        "One officer: current and previous-month metrics, 30-day trend and audit information",
        officer_detail, data=Out("data", None, children=DETAIL),
        meta=(Out("calculation_date", None, Json.DATE), Out("period_start", None, Json.DATE),
              Out("period_end", None, Json.DATE), Out("previous_month_start", None, Json.DATE),
              Out("previous_month_end", None, Json.DATE), Out("trend_start", None, Json.DATE),
              Out("trend_end", None, Json.DATE)),
        query=(DATE,), path_params=(OFFICER_PATH,), errors=(400, 401, 403, 404, 500, 503), graphql="officer",
        renamed=window_failure,
    ),
)
