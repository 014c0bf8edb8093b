"""The REST compatibility layer (SPEC §7) on the real app with the example book recalculated for
2026-09-18: envelopes, exact key sets (each answer is also checked against the route's schema in
/api/v1/openapi.json), values equal to the GraphQL answers after renaming, paging, the audit
workflow, roles, scope, masking and strict parameter parsing."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import httpx
import pytest

from loanmetrics.application import Application
from loanmetrics.calculators.bands import BandThresholds
from loanmetrics.db.ingestion.payload import payload_from_document
from loanmetrics.db.ingestion.service import ingest
from loanmetrics.db.metric_engine import EngineOptions
from loanmetrics.db.team_members import upsert_team_members
from loanmetrics.graph.rest.common import graphql_failure
from loanmetrics.scheduler.recalculation import recalculate
from tests.conftest import BUSINESS_DATE, bearer
from tests.graphql_support import band_of_ratio, band_of_score

HISTORY_FROM = date(2026, 8, 19)  # daily rows from here: the trend's 30 days and August's last day
OFFICER_ROW_KEYS = [
    "officer_id", "officer_name", "region", "branch", "risk_score", "risk_band", "assignee", "audit_status",
    "last_audit_date", "ayr", "dqi", "fimr", "all_time_fimr", "d06_slippage", "roll", "frr", "portfolio_total",
    "overdue_15d", "active_loans", "channel", "yield", "porr", "channel_purity", "par1", "par30", "par60", "par90",
    "gross_loan_portfolio", "rank",
]
FIMR_ROW_KEYS = [
    "loan_id", "customer_name", "customer_phone", "officer_id", "officer_name", "region", "branch",
    "disbursement_date", "loan_amount", "first_payment_due_date", "first_payment_received_date", "days_late",
    "fimr_tagged", "current_dpd", "status", "outstanding_balance",
]
EARLY_ROW_KEYS = [*FIMR_ROW_KEYS, "last_payment_date", "next_payment_due", "early_indicator_tagged"]
PAGE_META_KEYS = ["page", "per_page", "total", "total_pages"]
TEAM: list[dict[str, Any]] = [
    {"member_id": "TM1", "member_name": "Ada Obi", "member_email": "ada@lender.example",
     "member_phone": "+2348000000001", "role": "auditor", "department": "Risk", "is_active": True},
    {"member_id": "TM2", "member_name": "Bayo Ade", "member_email": None, "member_phone": None, "role": "lead",
     "department": "Audit", "is_active": True},
    {"member_id": "TM3", "member_name": "Chika Eze", "member_email": None, "member_phone": None, "role": None,
     "department": None, "is_active": False},
]
ROUTES = [
    ("GET", "/api/v1/metrics/officers"),
    ("GET", "/api/v1/metrics/officers/OFF0001"),
    ("GET", "/api/v1/loans/fimr-drilldown"),
    ("GET", "/api/v1/loans/early-indicators-drilldown"),
    ("GET", "/api/v1/metrics/branches"),
    ("GET", "/api/v1/audit/team-members"),
    ("PUT", "/api/v1/audit/officers/OFF0001/assignee"),
    ("PUT", "/api/v1/audit/officers/OFF0001/status"),
    ("POST", "/api/v1/audit/officers/OFF0001/actions"),
    ("GET", "/api/v1/filters/options"),
]
"""The data routes (the OpenAPI document is public: SPEC §10)."""


@pytest.fixture
async def book(app: Application, example_payload: dict[str, Any]) -> Application:
    result = await ingest(app.db, payload_from_document(example_payload, max_records=100_000), BUSINESS_DATE)
    assert result.errors == []
    run = await recalculate(app.db, EngineOptions(), as_of=BUSINESS_DATE, start=HISTORY_FROM)
    assert run.status == "Completed"
    async with app.db.raw_session() as conn:
        await upsert_team_members(conn, TEAM)
    return app


# --- helpers --------------------------------------------------------------------------------------


async def graphql(client: httpx.AsyncClient, headers: dict[str, str], query: str, **variables: Any) -> Any:
    response = await client.post("/graphql", json={"query": query, "variables": variables}, headers=headers)
    body = response.json()
    assert response.status_code == 200, body
    assert "errors" not in body, body
    return body["data"]


class Rest:
    """Calls REST routes and checks every success against its schema in the OpenAPI document."""

    def __init__(self, client: httpx.AsyncClient, app: Application) -> None:
        self.client = client
        self.app = app
        self.document: dict[str, Any] | None = None

    async def call(self, method: str, url: str, role: str = "admin", *, status: int = 200,
                   json: Any = None, content: bytes | None = None, **scope: Any) -> dict[str, Any]:
        headers = bearer(self.app, role, **scope)
        response = await self.client.request(method, url, headers=headers, json=json, content=content)
        body: dict[str, Any] = response.json()
        assert response.status_code == status, body
        assert response.headers["content-type"].startswith("application/json")
        if status < 300:
            assert body["success"] is True
            assert set(body) == {"success", "data", "meta"}
            await self.conforms(method, url, status, body)
        else:
            assert body["success"] is False
            assert set(body) == {"success", "error"}
            assert set(body["error"]) == {"code", "message", "details"}
        return body

    async def get(self, url: str, role: str = "admin", **kwargs: Any) -> dict[str, Any]:
        return await self.call("GET", url, role, **kwargs)

    async def error(self, method: str, url: str, status: int, role: str = "admin", **kwargs: Any) -> dict[str, Any]:
        error: dict[str, Any] = (await self.call(method, url, role, status=status, **kwargs))["error"]
        return error

    async def conforms(self, method: str, url: str, status: int, body: dict[str, Any]) -> None:
        if self.document is None:
            response = await self.client.get("/api/v1/openapi.json", headers=bearer(self.app, "viewer"))
            self.document = response.json()
        path = url.split("?")[0]
        for template, operations in self.document["paths"].items():
            if re.fullmatch(re.sub(r"\{[^}]+\}", "[^/]+", template), path) and method.lower() in operations:
                schema = operations[method.lower()]["responses"][str(status)]["content"]["application/json"]["schema"]
                validate(body, schema, "$")
                return
        raise AssertionError(f"{method} {path} is not in the OpenAPI document")


def validate(value: Any, schema: dict[str, Any], where: str) -> None:
    """The JSON-schema subset the OpenAPI document uses (types, closed objects, enums, dates)."""
    if "const" in schema:
        assert value == schema["const"], where
        return
    types = schema.get("type")
    allowed = [types] if isinstance(types, str) else list(types or [])
    python = {"object": dict, "array": list, "string": str, "boolean": bool, "null": type(None)}
    if allowed:
        ok = any((kind == "integer" and isinstance(value, int) and not isinstance(value, bool))
                 or (kind == "number" and isinstance(value, int | float) and not isinstance(value, bool))
                 or (kind in python and isinstance(value, python[kind])) for kind in allowed)
        assert ok, f"{where}: {value!r} is not {allowed}"
    if "enum" in schema:
        assert value in schema["enum"], f"{where}: {value!r} not in {schema['enum']}"
    if isinstance(value, str) and schema.get("format") == "date":
        date.fromisoformat(value)
    if isinstance(value, dict) and "properties" in schema:
        assert set(value) == set(schema["properties"]), f"{where}: keys {sorted(value)}"
        for key, item in value.items():
            validate(item, schema["properties"][key], f"{where}.{key}")
    if isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            validate(item, schema["items"], f"{where}[{index}]")


@pytest.fixture
def rest(client: httpx.AsyncClient, book: Application) -> Rest:
    return Rest(client, book)


def title(name: str | None) -> str | None:
    """GraphQL enum names -> REST spellings ('IN_PROGRESS' -> 'In Progress', 'GREEN' -> 'Green')."""
    return None if name is None else name.replace("_", " ").title()


def value(ratio: dict[str, Any]) -> Any:
    return ratio["value"]


# REST key -> the GraphQL officer node it comes from (written independently of the shim's tables)
OFFICER_FROM_GRAPHQL = {
    "officer_id": lambda n: n["officerId"],
    "officer_name": lambda n: n["officerName"],
    "region": lambda n: n["region"],
    "branch": lambda n: n["branch"],
    "risk_score": lambda n: n["metrics"]["riskScore"],
    "risk_band": lambda n: title(n["metrics"]["riskBand"]),
    "assignee": lambda n: n["audit"]["assigneeName"],
    "audit_status": lambda n: title(n["audit"]["auditStatus"]),
    "last_audit_date": lambda n: n["audit"]["lastAuditDate"],
    "ayr": lambda n: value(n["metrics"]["ayr"]),
    "dqi": lambda n: n["metrics"]["dqi"],
    "fimr": lambda n: value(n["metrics"]["fimr"]),
    "all_time_fimr": lambda n: value(n["metrics"]["allTimeFimr"]),
    "d06_slippage": lambda n: value(n["metrics"]["d06Slippage"]),
    "roll": lambda n: value(n["metrics"]["roll"]),
    "frr": lambda n: value(n["metrics"]["frr"]),
    "portfolio_total": lambda n: n["metrics"]["portfolio"]["totalPortfolio"],
    "overdue_15d": lambda n: n["metrics"]["portfolio"]["overdue15dAmount"],
    "active_loans": lambda n: n["metrics"]["portfolio"]["activeLoans"],
    "channel": lambda n: n["primaryChannel"],
    "yield": lambda n: n["metrics"]["portfolio"]["totalYield"],
    "porr": lambda n: value(n["metrics"]["porr"]),
    "channel_purity": lambda n: value(n["metrics"]["channelPurity"]),
    "par1": lambda n: value(n["metrics"]["par1"]),
    "par30": lambda n: value(n["metrics"]["par30"]),
    "par60": lambda n: value(n["metrics"]["par60"]),
    "par90": lambda n: value(n["metrics"]["par90"]),
    "gross_loan_portfolio": lambda n: n["metrics"]["portfolio"]["grossLoanPortfolio"],
    "rank": lambda n: n["rank"],
}
OFFICERS_QUERY = """
query($filter: OfficerFilter, $period: PeriodInput, $sort: OfficerSort, $first: Int) {
  officers(filter: $filter, period: $period, sort: $sort, first: $first) {
    totalCount calculationDate periodStart
    nodes {
      officerId officerName region branch primaryChannel rank
      audit { assigneeName auditStatus lastAuditDate }
      metrics {
        riskScore riskBand dqi
        ayr { value } fimr { value } allTimeFimr { value } d06Slippage { value } roll { value } frr { value }
        porr { value } channelPurity { value } par1 { value } par30 { value } par60 { value } par90 { value }
        portfolio { totalPortfolio overdue15dAmount activeLoans totalYield grossLoanPortfolio }
      }
    }
  }
}
"""
LOAN_FROM_GRAPHQL = {
    "loan_id": "loanId", "customer_name": "customerName", "customer_phone": "customerPhone",
    "officer_id": "officerId", "officer_name": "officerName", "region": "region", "branch": "branch",
    "disbursement_date": "disbursementDate", "loan_amount": "loanAmount",
    "first_payment_due_date": "firstPaymentDueDate", "first_payment_received_date": "firstPaymentReceivedDate",
    "days_late": "daysLate", "fimr_tagged": "fimrTagged", "current_dpd": "currentDpd", "status": "status",
    "outstanding_balance": "totalOutstanding", "last_payment_date": "lastPaymentDate",
    "next_payment_due": "nextPaymentDue", "early_indicator_tagged": "earlyIndicatorTagged",
}
LOAN_FIELDS = " ".join(LOAN_FROM_GRAPHQL.values())


def officer_rows(nodes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{key: read(node) for key, read in OFFICER_FROM_GRAPHQL.items()} for node in nodes]


def loan_rows(nodes: list[dict[str, Any]], keys: list[str]) -> list[dict[str, Any]]:
    return [{key: node[LOAN_FROM_GRAPHQL[key]] for key in keys} for node in nodes]


_IRREGULAR = {"overdue15dAmount": "overdue_15d_amount", "overdue15dCount": "overdue_15d_count",
              "amountDue7d": "amount_due_7d", "par15MidMonth": "par15_mid_month", "d06Slippage": "d06_slippage"}


def snake(document: Any, key: str = "") -> Any:
    """A GraphQL answer with snake_case keys and REST spellings of bands and statuses."""
    if isinstance(document, dict):
        return {_IRREGULAR.get(k) or re.sub(r"(?<!^)([A-Z])", r"_\1", k).lower(): snake(v, k)
                for k, v in document.items()}
    if isinstance(document, list):
        return [snake(item, key) for item in document]
    if isinstance(document, str) and (key.lower().endswith("band") or key.endswith("Status") or key == "auditStatus"):
        return title(document)
    return document


# --- officers -------------------------------------------------------------------------------------


async def test_officer_list_equals_graphql(rest: Rest, client: httpx.AsyncClient, book: Application) -> None:
    body = await rest.get("/api/v1/metrics/officers")
    expected = (await graphql(client, bearer(book, "admin"), OFFICERS_QUERY))["officers"]
    assert [list(row) for row in body["data"]] == [OFFICER_ROW_KEYS] * 6
    assert body["data"] == officer_rows(expected["nodes"])
    assert body["meta"] == {"page": 1, "per_page": 50, "total": 6, "total_pages": 1,
                            "calculation_date": "2026-09-18", "period_start": "2026-09-01",
                            "period_end": "2026-09-18"}
    first = body["data"][0]
    assert first["rank"] == 1
    assert first["risk_band"] in {"Green", "Watch", "Amber", "Red"}
    assert {row["audit_status"] for row in body["data"]} == {"Not Assigned"}
    scores = [row["risk_score"] for row in body["data"]]
    assert scores == sorted(scores, reverse=True)


async def test_officer_list_pages_are_slices_of_the_sorted_list(rest: Rest) -> None:
    for sort in ("risk_score", "officer_name", "portfolio_total", "fimr"):
        for order in ("asc", "desc"):
            everyone = (await rest.get(f"/api/v1/metrics/officers?sort={sort}&order={order}"))["data"]
            page = await rest.get(f"/api/v1/metrics/officers?sort={sort}&order={order}&page=2&per_page=2")
            assert page["data"] == everyone[2:4]
            assert {k: page["meta"][k] for k in PAGE_META_KEYS} == {"page": 2, "per_page": 2, "total": 6,
                                                                   "total_pages": 3}
    past_the_end = await rest.get("/api/v1/metrics/officers?page=9&per_page=2")
    assert past_the_end["data"] == []
    assert past_the_end["meta"]["total"] == 6


async def test_officer_list_sorts_and_filters_like_graphql(rest: Rest, client: httpx.AsyncClient,
                                                          book: Application) -> None:
    admin = bearer(book, "admin")
    cases = [
        ("sort=portfolio_total&order=asc", {"sort": {"field": "TOTAL_PORTFOLIO", "direction": "ASC"}}),
        ("sort=yield", {"sort": {"field": "TOTAL_YIELD", "direction": "DESC"}}),
        ("sort=overdue_15d&order=asc", {"sort": {"field": "OVERDUE_15D_AMOUNT", "direction": "ASC"}}),
        ("sort=rank&order=asc", {"sort": {"field": "RISK_SCORE", "direction": "DESC"}}),
        ("sort=officer_name&order=asc", {"sort": {"field": "OFFICER_NAME", "direction": "ASC"}}),
        ("risk_band=Green", {"filter": {"riskBand": "GREEN"}}),
        ("risk_band=Red", {"filter": {"riskBand": "RED"}}),
        ("region=Lagos&branch=Yaba", {"filter": {"region": "Lagos", "branch": "Yaba"}}),
        ("officer_id=OFF0003", {"filter": {"officerId": "OFF0003"}}),
        ("region=&branch=", {}),  # a dashboard's "All" choice
        ("date=2026-09-10", {"period": {"endDate": "2026-09-10"}}),
        ("start_date=2026-08-25&end_date=2026-09-18", {"period": {"startDate": "2026-08-25", "endDate": "2026-09-18"}}),
        ("start_date=2026-08-25&date=2026-09-12", {"period": {"startDate": "2026-08-25", "endDate": "2026-09-12"}}),
    ]
    for query, variables in cases:
        body = await rest.get(f"/api/v1/metrics/officers?{query}")
        expected = (await graphql(client, admin, OFFICERS_QUERY, **variables))["officers"]
        assert body["data"] == officer_rows(expected["nodes"]), query
        assert body["meta"]["total"] == expected["totalCount"]
        assert body["meta"]["calculation_date"] == expected["calculationDate"]
        assert body["meta"]["period_start"] == expected["periodStart"]
    custom = await rest.get("/api/v1/metrics/officers?start_date=2026-08-25")
    assert (custom["meta"]["period_start"], custom["meta"]["period_end"]) == ("2026-08-25", "2026-09-18")
    assert (await rest.get("/api/v1/metrics/officers?risk_band=Green"))["data"] == [
        row for row in (await rest.get("/api/v1/metrics/officers"))["data"] if row["risk_band"] == "Green"]


DETAIL_QUERY = """
query($id: ID!, $previous: PeriodInput!, $period: PeriodInput, $from: Date!, $to: Date!) {
  officer(officerId: $id) {
    officerId officerName officerPhone region branch employmentStatus primaryChannel
    current: metrics(period: $period) { ...M }
    previousMonth: metrics(period: $previous) { ...M }
    trend: history(startDate: $from, endDate: $to) {
      calculationDate riskScore dqi fimr { value } porr { value } d06Slippage { value } roll { value }
    }
    audit {
      assigneeId assigneeName assignedDate auditStatus statusChangedDate lastAuditDate auditNotes riskLevel
      actionType actionDate actionNotes version
      actions { id officerId actionKind actionType actor actionDate fromStatus toStatus assigneeId notes }
    }
  }
}
fragment M on OfficerMetrics {
  calculationDate periodStart periodEnd riskScore riskBand dqi dqiBand
  fimr { ...R } allTimeFimr { ...R } d06Slippage { ...R } roll { ...R } frr { ...R } ayr { ...R } porr { ...R }
  onTimeRate { ...R } channelPurity { ...R } par1 { ...R } par30 { ...R } par60 { ...R } par90 { ...R }
  riskPenalties { name weight input points }
  portfolio {
    activeLoans totalPortfolio grossLoanPortfolio overdue15dAmount overdue15dCount disbursedCount disbursedAmount
    totalYield interestCollected feesCollected feesDue waiversAmount totalEntries backdatedCount reversalsCount
    amountDue7d par15MidMonth par1Amount par1Count par30Amount par30Count par60Amount par60Count par90Amount
    par90Count buckets { bucket count balance }
  }
}
fragment R on Ratio { value numerator denominator band }
"""


async def expected_detail(client: httpx.AsyncClient, headers: dict[str, str], officer_id: str, end: str,
                          dated: bool) -> dict[str, Any]:
    day = date.fromisoformat(end)
    previous_end = day.replace(day=1).toordinal() - 1
    previous = date.fromordinal(previous_end)
    data = await graphql(client, headers, DETAIL_QUERY, id=officer_id,
                         period={"endDate": end} if dated else None,
                         previous={"startDate": previous.replace(day=1).isoformat(), "endDate": previous.isoformat()},
                         **{"from": date.fromordinal(day.toordinal() - 29).isoformat(), "to": end})
    officer = snake(data["officer"])
    officer["audit_info"] = officer.pop("audit")
    for point in officer["trend"]:
        point["date"] = point.pop("calculation_date")
        for ratio in ("fimr", "porr", "d06_slippage", "roll"):
            point[ratio] = point[ratio]["value"]
    result: dict[str, Any] = officer
    return result


async def test_officer_detail_equals_graphql(rest: Rest, client: httpx.AsyncClient, book: Application) -> None:
    body = await rest.get("/api/v1/metrics/officers/OFF0003")
    data = body["data"]
    assert list(data) == ["officer_id", "officer_name", "officer_phone", "region", "branch", "employment_status",
                          "primary_channel", "current", "previous_month", "trend", "audit_info"]
    expected = await expected_detail(client, bearer(book, "admin"), "OFF0003", "2026-09-18", dated=False)
    assert data == expected
    assert (data["current"]["period_start"], data["current"]["period_end"]) == ("2026-09-01", "2026-09-18")
    assert (data["previous_month"]["period_start"], data["previous_month"]["period_end"]) == ("2026-08-01",
                                                                                              "2026-08-31")
    assert [point["date"] for point in data["trend"]] == [
        date.fromordinal(BUSINESS_DATE.toordinal() - n).isoformat() for n in range(29, -1, -1)]
    assert set(data["current"]["fimr"]) == {"value", "numerator", "denominator", "band"}
    assert data["current"]["risk_band"] in {"Green", "Watch", "Amber", "Red"}
    assert list(data["audit_info"]) == [
        "assignee_id", "assignee_name", "assigned_date", "audit_status", "status_changed_date", "last_audit_date",
        "audit_notes", "risk_level", "action_type", "action_date", "action_notes", "version", "actions"]
    assert data["audit_info"]["audit_status"] == "Not Assigned"
    assert body["meta"] == {"calculation_date": "2026-09-18", "period_start": "2026-09-01",
                            "period_end": "2026-09-18", "previous_month_start": "2026-08-01",
                            "previous_month_end": "2026-08-31", "trend_start": "2026-08-20",
                            "trend_end": "2026-09-18"}
    # the officer row of the list and the detail agree
    row = next(r for r in (await rest.get("/api/v1/metrics/officers"))["data"] if r["officer_id"] == "OFF0003")
    assert (row["risk_score"], row["dqi"], row["fimr"]) == (
        data["current"]["risk_score"], data["current"]["dqi"], data["current"]["fimr"]["value"])


async def test_officer_detail_on_a_date(rest: Rest, client: httpx.AsyncClient, book: Application) -> None:
    body = await rest.get("/api/v1/metrics/officers/OFF0006?date=2026-09-05")
    expected = await expected_detail(client, bearer(book, "admin"), "OFF0006", "2026-09-05", dated=True)
    assert body["data"] == expected
    assert body["meta"]["trend_start"] == "2026-08-07"
    assert body["meta"]["previous_month_end"] == "2026-08-31"
    assert body["data"]["trend"][0]["date"] == HISTORY_FROM.isoformat()  # only calculated days


# thresholds that move most bands of the example book away from the defaults'
OTHER_BANDS = BandThresholds(risk_green=90, risk_watch=85, risk_amber=80, dqi_green=60, dqi_watch=30,
                           fimr_green=0.3, fimr_watch=0.6, slippage_green=0.6, slippage_watch=1.0,
                           roll_green=0.1, roll_watch=0.3, ayr_green=0.2, ayr_watch=0.1)


async def test_every_band_follows_the_current_thresholds(rest: Rest, book: Application) -> None:
    """The daily rows were written under the default thresholds; a server started with others
    answers risk, DQI and ratio bands alike under its own, in rows, filters, details and branches."""
    from loanmetrics.application import create_application
    from loanmetrics.graph.app import create_app
    from tests.conftest import make_settings

    other = create_application(make_settings(book.settings.database_url, bands=OTHER_BANDS))
    await other.start(migrate_schema=False)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(other)),
                                     base_url="http://testserver") as http:
            shifted = Rest(http, other)
            rows = (await shifted.get("/api/v1/metrics/officers"))["data"]
            red = (await shifted.get("/api/v1/metrics/officers?risk_band=Red"))["data"]
            detail = (await shifted.get("/api/v1/metrics/officers/OFF0003"))["data"]
            branches = (await shifted.get("/api/v1/metrics/branches"))["data"]
    finally:
        await other.stop()
    # scores 88, 85, 80, 79, 48, 93 under green >= 90, watch >= 85, amber >= 80
    assert {row["officer_id"]: (row["risk_score"], row["risk_band"]) for row in rows} == {
        "OFF0001": (88, "Watch"), "OFF0002": (85, "Watch"), "OFF0003": (80, "Amber"), "OFF0004": (79, "Red"),
        "OFF0005": (48, "Red"), "OFF0006": (93, "Green")}
    assert [row["officer_id"] for row in red] == ["OFF0004", "OFF0005"]
    # the default server still answers the stored bands' thresholds
    default = {row["officer_id"]: row["risk_band"] for row in (await rest.get("/api/v1/metrics/officers"))["data"]}
    assert default == {"OFF0001": "Green", "OFF0002": "Green", "OFF0003": "Green", "OFF0004": "Watch",
                       "OFF0005": "Amber", "OFF0006": "Green"}
    # OFF0003: risk 80, DQI 50 (watch >= 30), FIMR 1/3 (green <= 0.3, watch <= 0.6), roll 0.0878 (green <= 0.1),
    # AYR 0.154 (watch >= 0.1), slippage 9.53 (flag)
    current = detail["current"]
    assert (current["risk_band"], current["dqi"], current["dqi_band"]) == ("Amber", 50, "Watch")
    assert {key: current[key]["band"] for key in ("fimr", "roll", "ayr", "d06_slippage")} == {
        "fimr": "Watch", "roll": "Green", "ayr": "Watch", "d06_slippage": "Flag"}
    for window in (detail["current"], detail["previous_month"]):
        assert window["risk_band"] == title(band_of_score(window["risk_score"], 90, 85, 80))
        assert window["dqi_band"] == title(band_of_score(window["dqi"], 60, 30))
        for key, ratio in (("fimr", "fimr"), ("all_time_fimr", "all_time_fimr"), ("d06_slippage", "d06_slippage"),
                           ("roll", "roll"), ("ayr", "ayr")):
            part = window[key]
            assert part["band"] == title(band_of_ratio(ratio, part["numerator"], part["denominator"], OTHER_BANDS))
    for row in branches:
        assert row["risk_band"] == title(band_of_score(row["risk_score"], 90, 85, 80)), row["branch"]
    assert {row["branch"]: row["risk_band"] for row in branches}["Garki"] == "Green"  # 92
    assert {row["branch"]: row["risk_band"] for row in branches}["Ikeja"] == "Red"  # 78


async def test_unknown_or_out_of_scope_officer_is_404(rest: Rest) -> None:
    error = await rest.error("GET", "/api/v1/metrics/officers/NOPE", 404)
    assert error["code"] == "NOT_FOUND"
    assert error["details"] == {"officer_id": "NOPE"}
    await rest.error("GET", "/api/v1/metrics/officers/OFF0002", 404, branches=("Wuse",))
    await rest.get("/api/v1/metrics/officers/OFF0001", branches=("Wuse",))


# --- loans ----------------------------------------------------------------------------------------

FIMR_QUERY = f"""query($filter: LoanFilter, $first: Int, $offset: Int!) {{
  fimrDrilldown(filter: $filter, first: $first, offset: $offset) {{ totalCount nodes {{ {LOAN_FIELDS} }} }} }}"""
EARLY_QUERY = f"""query($filter: LoanFilter, $first: Int, $offset: Int!) {{
  earlyIndicatorsDrilldown(filter: $filter, first: $first, offset: $offset) {{
    totalCount nodes {{ {LOAN_FIELDS} }} }} }}"""


@pytest.mark.parametrize(("route", "query", "field", "flag", "keys"), [
    ("fimr-drilldown", FIMR_QUERY, "fimrDrilldown", "fimrTagged", FIMR_ROW_KEYS),
    ("early-indicators-drilldown", EARLY_QUERY, "earlyIndicatorsDrilldown", "earlyIndicatorTagged", EARLY_ROW_KEYS),
])
async def test_drilldowns_equal_graphql(rest: Rest, client: httpx.AsyncClient, book: Application, route: str,
                                        query: str, field: str, flag: str, keys: list[str]) -> None:
    admin = bearer(book, "admin")
    tag = "fimr_tagged" if flag == "fimrTagged" else "early_indicator_tagged"
    cases: list[tuple[str, dict[str, Any], int, int]] = [
        ("", {flag: True}, 1, 50),
        (f"{tag}=false&per_page=500", {flag: False}, 1, 500),
        (f"{tag}=false&page=2&per_page=7", {flag: False}, 2, 7),
        ("region=Lagos&start_date=2026-08-01&end_date=2026-09-18",
         {flag: True, "region": "Lagos", "disbursedFrom": "2026-08-01", "disbursedTo": "2026-09-18"}, 1, 50),
        ("branch=Yaba&officer_id=OFF0006", {flag: True, "branch": "Yaba", "officerId": "OFF0006"}, 1, 50),
    ]
    for params, loan_filter, page, per_page in cases:
        body = await rest.get(f"/api/v1/loans/{route}?{params}")
        expected = (await graphql(client, admin, query, filter=loan_filter, first=per_page,
                                  offset=(page - 1) * per_page))[field]
        assert expected["nodes"] or "officer_id" in params, params
        assert all(list(row) == keys for row in body["data"])
        assert body["data"] == loan_rows(expected["nodes"], keys), params
        total = expected["totalCount"]
        assert body["meta"] == {"page": page, "per_page": per_page, "total": total,
                                "total_pages": -(-total // per_page)}
        assert all(row[tag] is loan_filter[flag] for row in body["data"])


async def test_customer_phones_are_masked_except_for_admins(rest: Rest, example_payload: dict[str, Any]) -> None:
    phones = {loan["loan_id"]: loan["customer_phone"] for loan in example_payload["data"]["loans"]}
    for route in ("fimr-drilldown", "early-indicators-drilldown"):
        admin = (await rest.get(f"/api/v1/loans/{route}?per_page=500"))["data"]
        viewer = (await rest.get(f"/api/v1/loans/{route}?per_page=500", "viewer"))["data"]
        assert admin
        assert [row["loan_id"] for row in admin] == [row["loan_id"] for row in viewer]
        for clear, masked in zip(admin, viewer, strict=True):
            assert clear["customer_phone"] == phones[clear["loan_id"]]
            if clear["customer_phone"]:
                assert masked["customer_phone"] != clear["customer_phone"]
                assert "*" in masked["customer_phone"]
                assert masked["customer_phone"][-3:] == clear["customer_phone"][-3:]


# --- branches, team, filters ----------------------------------------------------------------------

BRANCHES_QUERY = """query($filter: BranchFilter, $period: PeriodInput) {
  branches(filter: $filter, period: $period) {
    branch region totalOfficers calculationDate periodStart periodEnd riskScore riskBand dqi
    ayr { value } fimr { value } allTimeFimr { value } d06Slippage { value } roll { value } frr { value }
    porr { value } channelPurity { value } par1 { value } par30 { value } par60 { value } par90 { value }
    portfolio { totalPortfolio overdue15dAmount activeLoans totalYield grossLoanPortfolio }
  }
}"""


async def test_branches_equal_graphql(rest: Rest, client: httpx.AsyncClient, book: Application) -> None:
    admin = bearer(book, "admin")
    for params, variables in [("", {}), ("region=Abuja", {"filter": {"region": "Abuja"}}),
                              ("date=2026-09-01", {"period": {"endDate": "2026-09-01"}})]:
        body = await rest.get(f"/api/v1/metrics/branches?{params}")
        branches = (await graphql(client, admin, BRANCHES_QUERY, **variables))["branches"]
        expected = []
        for b in branches:
            node = {"metrics": b, "officerId": None, "officerName": None, "region": None, "branch": None,
                    "primaryChannel": None, "rank": None, "audit": {}}
            row = {key: OFFICER_FROM_GRAPHQL[key](node) for key in OFFICER_ROW_KEYS if key not in
                   ("officer_id", "officer_name", "region", "branch", "assignee", "audit_status", "last_audit_date",
                    "channel", "rank")}
            expected.append({"branch": b["branch"], "region": b["region"], "total_officers": b["totalOfficers"],
                             **row})
        assert body["data"] == expected, params
        assert body["meta"] == {"total": len(branches), "calculation_date": branches[0]["calculationDate"],
                                "period_start": branches[0]["periodStart"], "period_end": branches[0]["periodEnd"]}
    keys = list((await rest.get("/api/v1/metrics/branches"))["data"][0])
    assert keys == ["branch", "region", "total_officers", "risk_score", "risk_band", "ayr", "dqi", "fimr",
                    "all_time_fimr", "d06_slippage", "roll", "frr", "portfolio_total", "overdue_15d", "active_loans",
                    "yield", "porr", "channel_purity", "par1", "par30", "par60", "par90", "gross_loan_portfolio"]


async def test_team_members(rest: Rest) -> None:
    active = await rest.get("/api/v1/audit/team-members", "viewer")
    assert active["data"] == [member for member in TEAM if member["is_active"]]
    assert active["meta"] == {"total": 2}
    everyone = await rest.get("/api/v1/audit/team-members?active_only=false")
    assert everyone["data"] == TEAM
    assert everyone["meta"] == {"total": 3}


async def test_filter_options_equal_graphql(rest: Rest, client: httpx.AsyncClient, book: Application) -> None:
    query = """{ filterOptions { regions branches officers { officerId officerName branch region } channels
                 loanStatuses riskBands auditStatuses calculatedDates } }"""
    for scope in ({}, {"branches": ("Wuse",)}):
        body = await rest.get("/api/v1/filters/options", "viewer", **scope)
        expected = snake((await graphql(client, bearer(book, "viewer", **scope), query))["filterOptions"])
        expected["risk_bands"] = [title(band) for band in expected["risk_bands"]]
        expected["audit_statuses"] = [title(status) for status in expected["audit_statuses"]]
        assert body["data"] == expected
        assert body["meta"] == {}
    assert body["data"]["branches"] == ["Wuse"]
    assert body["data"]["risk_bands"] == ["Green", "Watch", "Amber", "Red"]
    assert body["data"]["audit_statuses"] == ["Not Assigned", "Assigned", "In Progress", "Resolved"]


# --- audit ----------------------------------------------------------------------------------------

ASSIGNEE = "/api/v1/audit/officers/OFF0002/assignee"
STATUS = "/api/v1/audit/officers/OFF0002/status"
ACTIONS = "/api/v1/audit/officers/OFF0002/actions"


async def test_audit_workflow(rest: Rest) -> None:
    put = rest.call
    # Not Assigned -> In Progress needs an assignment first
    error = await rest.error("PUT", STATUS, 409, "auditor", json={"status": "In Progress"})
    assert error["code"] == "CONFLICT"
    assert error["details"]["current_status"] == "Not Assigned"
    assigned = (await put("PUT", ASSIGNEE, "auditor", json={"assignee_id": "TM1"}))["data"]
    assert list(assigned) == ["officer_id", "assignee_id", "assignee_name", "assigned_date", "audit_status",
                              "status_changed_date", "last_audit_date", "audit_notes", "risk_level", "action_type",
                              "action_date", "action_notes", "version", "actions"]
    assert (assigned["officer_id"], assigned["assignee_id"], assigned["assignee_name"], assigned["audit_status"]) == (
        "OFF0002", "TM1", "Ada Obi", "Assigned")
    version = assigned["version"]
    # an illegal move (Assigned -> Resolved) and a stale version are conflicts
    assert (await rest.error("PUT", STATUS, 409, "auditor", json={"status": "Resolved"}))["code"] == "CONFLICT"
    stale = await rest.error("PUT", STATUS, 409, "auditor",
                             json={"status": "In Progress", "expected_version": version - 1})
    assert stale["details"]["current_version"] == version
    # the status is exactly one of the documented spellings
    refused = await rest.error("PUT", STATUS, 400, "auditor",
                               json={"status": "in progress", "notes": "looking", "expected_version": version})
    assert (refused["details"]["field"], refused["details"]["allowed"]) == (
        "status", ["Not Assigned", "Assigned", "In Progress", "Resolved"])
    progress = (await put("PUT", STATUS, "auditor",
                          json={"status": "In Progress", "notes": "looking", "expected_version": version}))["data"]
    assert (progress["audit_status"], progress["audit_notes"], progress["version"]) == (
        "In Progress", "looking", version + 1)
    resolved = (await put("PUT", STATUS, "admin", json={"status": "Resolved", "notes": None}))["data"]
    assert resolved["audit_status"] == "Resolved"
    assert resolved["last_audit_date"] == BUSINESS_DATE.isoformat()
    assert resolved["audit_notes"] == "looking"
    # reassigning a resolved audit reopens it
    reopened = (await put("PUT", ASSIGNEE, "auditor", json={"assignee_id": "TM2"}))["data"]
    assert (reopened["audit_status"], reopened["assignee_name"]) == ("Assigned", "Bayo Ade")
    history = reopened["actions"]
    assert [(a["action_kind"], a["from_status"], a["to_status"]) for a in history] == [
        ("assignment", "Resolved", "Assigned"), ("status_change", "In Progress", "Resolved"),
        ("status_change", "Assigned", "In Progress"), ("assignment", "Not Assigned", "Assigned")]
    # readers see the change at once (the cache is keyed on the metrics generation)
    detail = (await rest.get("/api/v1/metrics/officers/OFF0002", "viewer"))["data"]["audit_info"]
    assert detail == {k: v for k, v in reopened.items() if k != "officer_id"}
    row = next(r for r in (await rest.get("/api/v1/metrics/officers", "viewer"))["data"]
               if r["officer_id"] == "OFF0002")
    assert (row["assignee"], row["audit_status"], row["last_audit_date"]) == ("Bayo Ade", "Assigned", "2026-09-18")
    filtered = await rest.get("/api/v1/metrics/officers?officer_id=OFF0002", "viewer")
    assert filtered["data"] == [{**row, "rank": 1}]  # rank is the position in the (filtered) list
    # an unknown or inactive team member, or an unknown officer, is a 404
    assert (await rest.error("PUT", ASSIGNEE, 404, "auditor", json={"assignee_id": "TM3"}))["code"] == "NOT_FOUND"
    await rest.error("PUT", "/api/v1/audit/officers/NOPE/assignee", 404, "auditor", json={"assignee_id": "TM1"})


async def test_an_action_between_status_moves_keeps_the_version(rest: Rest) -> None:
    assigned = (await rest.call("PUT", ASSIGNEE, "auditor", json={"assignee_id": "TM1"}))["data"]
    assert assigned["version"] == 1
    progress = (await rest.call("PUT", STATUS, "auditor", json={"status": "In Progress", "expected_version": 1}))
    assert progress["data"]["version"] == 2
    action = (await rest.call("POST", ACTIONS, "auditor", status=201, json={"action_type": "call"}))["data"]
    assert action["action"]["action_type"] == "call"
    resolved = (await rest.call("PUT", STATUS, "auditor", json={"status": "Resolved", "expected_version": 2}))["data"]
    assert (resolved["audit_status"], resolved["version"]) == ("Resolved", 3)
    assert [a["action_type"] for a in resolved["actions"]] == ["status", "call", "status", "assign"]


async def test_audit_action_answers_with_the_top_loans(rest: Rest, client: httpx.AsyncClient,
                                                       book: Application) -> None:
    body = await rest.call("POST", ACTIONS, "auditor", status=201, json={"action_type": "call", "notes": "rang"})
    action = body["data"]["action"]
    assert list(body["data"]) == ["action", "loans"]
    assert list(action) == ["id", "officer_id", "action_kind", "action_type", "actor", "action_date", "from_status",
                            "to_status", "assignee_id", "notes"]
    assert (action["officer_id"], action["action_kind"], action["action_type"], action["notes"], action["actor"]) == (
        "OFF0002", "action", "call", "rang", "test-auditor")
    query = f"""query {{ officer(officerId: "OFF0002") {{
        loans(first: 20, sort: {{field: CURRENT_DPD, direction: DESC}}) {{ totalCount nodes {{ {LOAN_FIELDS} }} }}
    }} }}"""
    loans = (await graphql(client, bearer(book, "auditor"), query))["officer"]["loans"]
    assert body["data"]["loans"] == loan_rows(loans["nodes"], EARLY_ROW_KEYS)
    assert len(body["data"]["loans"]) == 20
    assert body["meta"] == {"loans_total": loans["totalCount"]}
    order = [(-row["current_dpd"], -row["outstanding_balance"]) for row in body["data"]["loans"]]
    assert order == sorted(order)
    detail = (await rest.get("/api/v1/metrics/officers/OFF0002"))["data"]["audit_info"]
    assert (detail["action_type"], detail["action_notes"], detail["actions"][0]) == ("call", "rang", action)


async def test_roles_and_tokens(rest: Rest, client: httpx.AsyncClient) -> None:
    for method, url in ROUTES:
        response = await client.request(method, url)
        assert response.status_code == 401, url
        assert response.json()["error"]["code"] == "UNAUTHENTICATED"
        bad = await client.request(method, url, headers={"Authorization": "Bearer not-a-token"})
        assert bad.status_code == 401
    writes = [("PUT", ASSIGNEE, {"assignee_id": "TM1"}), ("PUT", STATUS, {"status": "In Progress"}),
              ("POST", ACTIONS, {"action_type": "call"})]
    for method, url, body in writes:
        error = await rest.error(method, url, 403, "viewer", json=body)
        assert error["code"] == "FORBIDDEN"
        # roles are checked before the body is looked at (SPEC §10)
        assert (await rest.error(method, url, 403, "viewer", content=b"{not json"))["code"] == "FORBIDDEN"
    for method, url in ROUTES[:6] + ROUTES[9:10]:
        assert (await rest.error(method, url, 403, "etl"))["code"] == "FORBIDDEN"
    await rest.get("/api/v1/audit/team-members", "viewer")
    assert (await rest.get("/api/v1/metrics/officers", "viewer"))["meta"]["total"] == 6


async def test_a_branch_scoped_caller_sees_only_its_branch(rest: Rest) -> None:
    scope: dict[str, Any] = {"branches": ("Wuse",)}
    officers = (await rest.get("/api/v1/metrics/officers", "viewer", **scope))["data"]
    assert [row["officer_id"] for row in officers] == ["OFF0001"]
    assert (await rest.get("/api/v1/metrics/officers?branch=Yaba", "viewer", **scope))["data"] == []
    for route, tag in (("fimr-drilldown", "fimr_tagged"), ("early-indicators-drilldown", "early_indicator_tagged")):
        for flag in ("true", "false"):
            rows = (await rest.get(f"/api/v1/loans/{route}?{tag}={flag}&per_page=500", "viewer", **scope))["data"]
            assert rows
            assert {row["branch"] for row in rows} == {"Wuse"}
            everyone = (await rest.get(f"/api/v1/loans/{route}?{tag}={flag}&per_page=500"))["data"]
            assert [row["loan_id"] for row in rows] == [row["loan_id"] for row in everyone if row["branch"] == "Wuse"]
        other = await rest.get(f"/api/v1/loans/{route}?branch=Yaba", "viewer", **scope)
        assert other["data"] == []
        assert other["meta"]["total"] == 0
    branches = (await rest.get("/api/v1/metrics/branches", "viewer", **scope))["data"]
    assert [row["branch"] for row in branches] == ["Wuse"]
    assert (await rest.get("/api/v1/metrics/branches?region=Lagos", "viewer", **scope))["data"] == []
    await rest.error("GET", "/api/v1/metrics/officers/OFF0006", 404, "viewer", **scope)
    await rest.error("PUT", "/api/v1/audit/officers/OFF0006/assignee", 404, "auditor", json={"assignee_id": "TM1"},
                     **scope)
    await rest.error("POST", "/api/v1/audit/officers/OFF0006/actions", 404, "auditor", json={"action_type": "call"},
                     **scope)
    action = await rest.call("POST", "/api/v1/audit/officers/OFF0001/actions", "auditor", status=201,
                             json={"action_type": "visit"}, **scope)
    assert action["data"]["loans"]
    assert {row["branch"] for row in action["data"]["loans"]} == {"Wuse"}


# --- strict parsing and error mapping -------------------------------------------------------------

BAD_QUERIES = [
    ("/api/v1/metrics/officers?page=abc", "page"),
    ("/api/v1/metrics/officers?page=0", "page"),
    ("/api/v1/metrics/officers?page=1.5", "page"),
    ("/api/v1/metrics/officers?page=99999999999999", "page"),
    ("/api/v1/metrics/officers?per_page=501", "per_page"),
    ("/api/v1/metrics/officers?per_page=0", "per_page"),
    ("/api/v1/metrics/officers?per_page=", "per_page"),
    ("/api/v1/metrics/officers?date=2026-13-01", "date"),
    ("/api/v1/metrics/officers?date=2026-02-30", "date"),
    ("/api/v1/metrics/officers?date=20260918", "date"),
    ("/api/v1/metrics/officers?date=yesterday", "date"),
    ("/api/v1/metrics/officers?risk_band=Purple", "risk_band"),
    ("/api/v1/metrics/officers?risk_band=Flag", "risk_band"),
    ("/api/v1/metrics/officers?sort=bogus", "sort"),
    ("/api/v1/metrics/officers?sort=region", "sort"),
    ("/api/v1/metrics/officers?sort=risk_score;DROP TABLE loans", "sort"),
    ("/api/v1/metrics/officers?order=up", "order"),
    ("/api/v1/metrics/officers?page=1&page=2", "page"),
    ("/api/v1/metrics/officers?perpage=10", "perpage"),
    ("/api/v1/metrics/officers?start_date=2026-09-10&end_date=2026-09-01", "start_date"),
    ("/api/v1/metrics/officers?date=2026-09-10&end_date=2026-09-10", "end_date"),
    ("/api/v1/metrics/officers?region=" + "x" * 201, "region"),
    ("/api/v1/metrics/officers/OFF0001?date=2026-9-1", "date"),
    ("/api/v1/metrics/officers/OFF0001?page=1", "page"),
    ("/api/v1/metrics/officers/" + "X" * 101, "officer_id"),
    ("/api/v1/loans/fimr-drilldown?fimr_tagged=maybe", "fimr_tagged"),
    ("/api/v1/loans/fimr-drilldown?per_page=501", "per_page"),
    ("/api/v1/loans/fimr-drilldown?start_date=2026-09-02&end_date=2026-09-01", "start_date"),
    ("/api/v1/loans/fimr-drilldown?early_indicator_tagged=true", "early_indicator_tagged"),
    ("/api/v1/loans/early-indicators-drilldown?early_indicator_tagged=yes", "early_indicator_tagged"),
    ("/api/v1/loans/early-indicators-drilldown?page=-1", "page"),
    ("/api/v1/metrics/branches?date=2026-09-31", "date"),
    ("/api/v1/metrics/branches?page=2", "page"),
    ("/api/v1/audit/team-members?active_only=2", "active_only"),
    ("/api/v1/filters/options?region=Lagos", "region"),
]


@pytest.mark.parametrize(("url", "parameter"), BAD_QUERIES)
async def test_bad_query_parameters_are_400_naming_the_parameter(rest: Rest, url: str, parameter: str) -> None:
    error = await rest.error("GET", url, 400, "viewer")
    assert error["code"] == "BAD_REQUEST"
    assert error["details"]["parameter"] == parameter, error


BAD_BODIES = [
    (ASSIGNEE, b"{not json", None),
    (ASSIGNEE, b"", None),
    (ASSIGNEE, b"[1, 2]", None),
    (ASSIGNEE, b"{}", "assignee_id"),
    (ASSIGNEE, b'{"assignee_id": 7}', "assignee_id"),
    (ASSIGNEE, b'{"assignee_id": ""}', "assignee_id"),
    (ASSIGNEE, b'{"assignee_id": "TM1", "extra": 1}', "extra"),
    (STATUS, b'{"status": "Done"}', "status"),
    (STATUS, b'{"status": "IN_PROGRESS"}', "status"),
    (STATUS, b'{"notes": "x"}', "status"),
    (STATUS, b'{"status": "Resolved", "expected_version": "3"}', "expected_version"),
    (STATUS, b'{"status": "Resolved", "expected_version": true}', "expected_version"),
    (STATUS, b'{"status": "Resolved", "expected_version": 1.5}', "expected_version"),
    (STATUS, b'{"status": "Resolved", "expected_version": 99999999999}', "expected_version"),
    (STATUS, b'{"status": "Resolved", "expected_version": 100000000000000000000000000000}', "expected_version"),
    (STATUS, b'{"status": "Resolved", "expected_version": -18446744073709551616}', "expected_version"),
    (STATUS, b'{"status": "Resolved", "expected_version": 1e300}', "expected_version"),
    (STATUS, b'{"status": "Resolved", "expected_version": 1e400}', None),
    (STATUS, b'{"status": "Resolved", "expected_version": -1e400}', None),
    (ACTIONS, b'{"action_type": "call", "notes": 1e400}', None),
    (ASSIGNEE, b'{"assignee_id": 100000000000000000000000000000}', "assignee_id"),
    (STATUS, b'{"status": "Resolved", "notes": 5}', "notes"),
    (STATUS, b'{"status": "Resolved", "notes": "' + b"n" * 2001 + b'"}', "notes"),
    (ACTIONS, b'{"notes": "x"}', "action_type"),
    (ACTIONS, b'{"action_type": ["call"]}', "action_type"),
    (ACTIONS, b'{"action_type": "' + b"a" * 101 + b'"}', "action_type"),
]


@pytest.mark.parametrize(("url", "body", "field"), BAD_BODIES)
async def test_bad_bodies_are_400_naming_the_field(rest: Rest, url: str, body: bytes, field: str | None) -> None:
    method = "POST" if url == ACTIONS else "PUT"
    error = await rest.error(method, url, 400, "auditor", content=body)
    assert error["code"] == "BAD_REQUEST"
    if field is not None:
        assert error["details"]["field"] == field, error


async def test_oversized_body_is_413(rest: Rest) -> None:
    body = b'{"action_type": "call", "notes": "' + b"x" * 70_000 + b'"}'
    assert (await rest.error("POST", ACTIONS, 413, "auditor", content=body))["code"] == "PAYLOAD_TOO_LARGE"


async def test_graphql_errors_keep_their_code_and_status(rest: Rest) -> None:
    future = await rest.error("GET", "/api/v1/metrics/officers?date=2026-09-30", 400)
    assert future["code"] == "BAD_REQUEST"
    # refused while parsing, naming the REST parameter (not GraphQL's period argument)
    assert future["message"] == "date is after the business date (2026-09-18)"
    assert future["details"] == {"parameter": "date", "value": "2026-09-30",
                                 "expected": "a date YYYY-MM-DD from 1900-01-01 to the business date"}
    await rest.error("GET", "/api/v1/metrics/branches?date=2027-01-01", 400)
    await rest.error("GET", "/api/v1/metrics/officers/OFF0001?date=2027-01-01", 400)
    reversed_window = await rest.error("GET", "/api/v1/metrics/officers?start_date=2026-09-10&end_date=2026-09-01",
                                       400)
    assert reversed_window["code"] == "BAD_REQUEST"
    assert reversed_window["details"] == {"parameter": "start_date", "value": "2026-09-10", "end_date": "2026-09-01"}
    # SPEC §5.4 limits only S after D: a window of several years is served (every loan disbursed in it)
    wide = await rest.get("/api/v1/metrics/officers?start_date=2020-01-01&end_date=2026-09-18&per_page=10")
    assert (wide["meta"]["total"], wide["meta"]["period_start"]) == (6, "2020-01-01")
    assert {row["officer_id"] for row in wide["data"]} == {f"OFF000{n}" for n in range(1, 7)}
    method = await rest.error("DELETE", "/api/v1/metrics/officers", 405)
    assert method["code"] == "METHOD_NOT_ALLOWED"
    assert method["details"] == {"allowed": ["GET"]}


@pytest.mark.parametrize(("code", "status"), [
    ("BAD_REQUEST", 400), ("QUERY_TOO_COSTLY", 400), ("UNAUTHENTICATED", 401), ("FORBIDDEN", 403),
    ("NOT_FOUND", 404), ("CONFLICT", 409), ("INTERNAL", 500), ("SERVICE_UNAVAILABLE", 503), (None, 400),
])
def test_graphql_error_codes_map_to_http_statuses(code: str | None, status: int) -> None:
    extensions = {"code": code, "requestId": "r1"} if code else {}
    failure = graphql_failure([{"message": "m", "extensions": extensions}])
    assert (failure.status, failure.code, failure.message) == (status, code or "BAD_REQUEST", "m")
    assert failure.details == ({"request_id": "r1"} if code else None)
    worst = graphql_failure([{"message": "a", "extensions": {"code": "NOT_FOUND"}},
                             {"message": "b", "extensions": {"code": "INTERNAL"}}])
    assert (worst.status, worst.message) == (500, "b")


# --- OpenAPI --------------------------------------------------------------------------------------


async def test_openapi_document_lists_exactly_the_eleven_paths(rest: Rest, client: httpx.AsyncClient,
                                                               book: Application) -> None:
    response = await client.get("/api/v1/openapi.json")  # public (SPEC §10): no token needed
    assert response.status_code == 200
    assert (await client.get("/api/v1/openapi.json", headers=bearer(book, "etl"))).json() == response.json()
    document = response.json()
    assert document["openapi"].startswith("3.1")
    methods = {path: sorted(operations) for path, operations in document["paths"].items()}
    assert methods == {
        "/api/v1/metrics/officers": ["get"],
        "/api/v1/metrics/officers/{officer_id}": ["get"],
        "/api/v1/loans/fimr-drilldown": ["get"],
        "/api/v1/loans/early-indicators-drilldown": ["get"],
        "/api/v1/metrics/branches": ["get"],
        "/api/v1/audit/team-members": ["get"],
        "/api/v1/audit/officers/{officer_id}/assignee": ["put"],
        "/api/v1/audit/officers/{officer_id}/status": ["put"],
        "/api/v1/audit/officers/{officer_id}/actions": ["post"],
        "/api/v1/filters/options": ["get"],
        "/api/v1/etl/sync": ["post"],
    }
    officers = document["paths"]["/api/v1/metrics/officers"]["get"]
    assert [p["name"] for p in officers["parameters"]] == [
        "region", "branch", "officer_id", "date", "start_date", "end_date", "risk_band", "page", "per_page", "sort",
        "order", "format"]
    assert "text/csv" in officers["responses"]["200"]["content"]
    per_page = next(p for p in officers["parameters"] if p["name"] == "per_page")["schema"]
    assert (per_page["maximum"], per_page["default"]) == (500, 50)
    row = officers["responses"]["200"]["content"]["application/json"]["schema"]["properties"]["data"]["items"]
    assert list(row["properties"]) == OFFICER_ROW_KEYS
    status = document["paths"]["/api/v1/audit/officers/{officer_id}/status"]["put"]
    body = status["requestBody"]["content"]["application/json"]["schema"]
    assert body["required"] == ["status"]
    assert set(body["properties"]) == {"status", "notes", "expected_version"}
    assert "409" in status["responses"]


async def test_a_huge_integer_is_shown_as_its_digits(rest: Rest) -> None:
    """orjson reads 10^29 as a whole float; the value in the details must still encode (a 500 before)."""
    body = b'{"status": "Resolved", "expected_version": 100000000000000000000000000000}'
    error = await rest.error("PUT", STATUS, 400, "auditor", content=body)
    assert error["details"] == {"field": "expected_version", "expected": "an integer >= 0 and <= 2147483647",
                                "value": "99999999999999991433150857216"}
