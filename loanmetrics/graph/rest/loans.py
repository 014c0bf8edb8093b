"""``/api/v1/loans/fimr-drilldown`` and ``/api/v1/loans/early-indicators-drilldown`` over the
GraphQL drilldowns (SPEC §7): loans filtered on their own region, branch and officer, scoped by the
loan's branch and region, customer phones masked for non-admins (all done by GraphQL)."""

from __future__ import annotations

from typing import Any

from loanmetrics.graph.rest.common import PAGE_META, Call, Endpoint, Success, page_meta
from loanmetrics.graph.rest.csv_export import FORMAT, CsvExport, keyset_document
from loanmetrics.graph.rest.fields import EARLY_LOAN_ROW, LOAN_ROW
from loanmetrics.graph.rest.params import BRANCH, OFFICER_ID, REGION, Kind, Param, check_order, page_params
from loanmetrics.graph.rest.shapes import Out, reshape, selection
from loanmetrics.resolvers.pagination import MAX_PAGE_SIZE

START_DATE = Param("start_date", Kind.DATE, "loans disbursed on or after this date")
END_DATE = Param("end_date", Kind.DATE, "loans disbursed on or before this date")
FIMR_TAGGED = Param("fimr_tagged", Kind.BOOLEAN, "true: loans that missed their first installment; false: the others",
                    default=True)
EARLY_TAGGED = Param("early_indicator_tagged", Kind.BOOLEAN, "true: loans 1 to 6 days past due; false: the others",
                     default=True)
PAGE, PER_PAGE = page_params(MAX_PAGE_SIZE)


def _document(name: str, field: str, row: tuple[Out, ...]) -> str:
    return f"""
query {name}($filter: LoanFilter, $first: Int!, $offset: Int!) {{
  {field}(filter: $filter, first: $first, offset: $offset) {{ totalCount nodes {{ {selection(row)} }} }}
}}
"""


FIMR_DOCUMENT = _document("RestFimrDrilldown", "fimrDrilldown", LOAN_ROW)
EARLY_DOCUMENT = _document("RestEarlyIndicatorsDrilldown", "earlyIndicatorsDrilldown", EARLY_LOAN_ROW)


def _variables(query: dict[str, Any], tag: str, flag: str) -> dict[str, Any]:
    check_order(START_DATE, query["start_date"], END_DATE, query["end_date"])
    loan_filter = {
        "region": query["region"], "branch": query["branch"], "officerId": query["officer_id"],
        "disbursedFrom": query["start_date"].isoformat() if query["start_date"] else None,
        "disbursedTo": query["end_date"].isoformat() if query["end_date"] else None,
        tag: query[flag],
    }
    return {
        "filter": {key: value for key, value in loan_filter.items() if value is not None},
        "first": query["per_page"],
        "offset": (query["page"] - 1) * query["per_page"],
    }


async def fimr_drilldown(call: Call) -> Success:
    variables = _variables(call.query, "fimrTagged", "fimr_tagged")
    data = (await call.graphql(FIMR_DOCUMENT, "RestFimrDrilldown", variables))["fimrDrilldown"]
    meta = page_meta(call.query["page"], call.query["per_page"], data["totalCount"])
    return Success([reshape(node, LOAN_ROW) for node in data["nodes"]], meta)


async def early_indicators_drilldown(call: Call) -> Success:
    variables = _variables(call.query, "earlyIndicatorTagged", "early_indicator_tagged")
    data = (await call.graphql(EARLY_DOCUMENT, "RestEarlyIndicatorsDrilldown", variables))["earlyIndicatorsDrilldown"]
    meta = page_meta(call.query["page"], call.query["per_page"], data["totalCount"])
    return Success([reshape(node, EARLY_LOAN_ROW) for node in data["nodes"]], meta)


_COMMON = (REGION, BRANCH, OFFICER_ID, START_DATE, END_DATE)
RULES = ("start_date must not be after end_date (400).",)
ENDPOINTS = (
    Endpoint(
        "GET", "/api/v1/loans/fimr-drilldown", "Loans that missed their first installment (newest disbursement first)",
        fimr_drilldown, data=Out("data", None, children=LOAN_ROW, many=True), meta=PAGE_META,
        query=(*_COMMON, FIMR_TAGGED, PAGE, PER_PAGE, FORMAT), graphql="fimrDrilldown", rules=RULES,
        csv=CsvExport("fimr-drilldown", LOAN_ROW, "fimrDrilldown", *keyset_document(FIMR_DOCUMENT, "RestFimrDrilldown"),
                      variables=lambda query: _variables(query, "fimrTagged", "fimr_tagged")),
    ),
    Endpoint(
        "GET", "/api/v1/loans/early-indicators-drilldown", "Loans 1 to 6 days past due (highest DPD first)",
        early_indicators_drilldown, data=Out("data", None, children=EARLY_LOAN_ROW, many=True), meta=PAGE_META,
        query=(*_COMMON, EARLY_TAGGED, PAGE, PER_PAGE, FORMAT), graphql="earlyIndicatorsDrilldown", rules=RULES,
        csv=CsvExport("early-indicators-drilldown", EARLY_LOAN_ROW, "earlyIndicatorsDrilldown",
                      *keyset_document(EARLY_DOCUMENT, "RestEarlyIndicatorsDrilldown"),
                      variables=lambda query: _variables(query, "earlyIndicatorTagged", "early_indicator_tagged")),
    ),
)
