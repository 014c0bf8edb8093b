"""``/api/v1/metrics/branches`` over the GraphQL ``branches`` field (SPEC §5.7 and §7): branch
rows carry the officer row's metric keys, computed from the branch's summed components."""

from __future__ import annotations

from loanmetrics.graph.rest.common import Call, Endpoint, Success
from loanmetrics.graph.rest.csv_export import FORMAT, CsvExport
from loanmetrics.graph.rest.fields import BRANCH_ROW
from loanmetrics.graph.rest.params import REGION, Kind, Param, window_failure
from loanmetrics.graph.rest.shapes import Json, Out, reshape, selection

DATE = Param("date", Kind.DATE, "metrics as of this date (month-to-date window); default: the latest calculated "
             "date", until_business_date=True)
DOCUMENT = f"""
query RestBranches($filter: BranchFilter, $period: PeriodInput) {{
  branches(filter: $filter, period: $period) {{ calculationDate periodStart periodEnd {selection(BRANCH_ROW)} }}
}}
"""


async def list_branches(call: Call) -> Success:
    region, day = call.query["region"], call.query["date"]
    variables = {
        "filter": {"region": region} if region is not None else None,
        "period": {"endDate": day.isoformat()} if day is not None else None,
    }
    rows = (await call.graphql(DOCUMENT, "RestBranches", variables))["branches"]
    first = rows[0] if rows else {}
    meta = {
        "total": len(rows),
        "calculation_date": first.get("calculationDate", day.isoformat() if day else None),
        "period_start": first.get("periodStart"),
        "period_end": first.get("periodEnd", day.isoformat() if day else None),
    }
    return Success([reshape(row, BRANCH_ROW) for row in rows], meta)


ENDPOINTS = (
    Endpoint(
        "GET", "/api/v1/metrics/branches", "Branches with their metrics (month to date), in branch order",
        list_branches, data=Out("data", None, children=BRANCH_ROW, many=True),
        meta=(Out("total", None, Json.INTEGER), Out("calculation_date", None, Json.DATE, nullable=True),
              Out("period_start", None, Json.DATE, nullable=True), Out("period_end", None, Json.DATE, nullable=True)),
        query=(REGION, DATE, FORMAT), graphql="branches", csv=CsvExport("branches", BRANCH_ROW),
        renamed=window_failure,
    ),
)
