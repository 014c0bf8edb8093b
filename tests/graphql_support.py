"""Shared helpers of the GraphQL API tests: the example book loaded into its own database once per
module, an HTTP client on the real ASGI app, and the expected values of the example book
(book-expected-metrics.json, book-expected-loans.json) in the shape GraphQL returns them."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import httpx
import jiter
import pytest

from loanmetrics.application import Application, create_application
from loanmetrics.db.ingestion.payload import payload_from_document
from loanmetrics.db.ingestion.service import ingest
from loanmetrics.scheduler.recalculation import recalculate
from tests.conftest import BUSINESS_DATE, EXAMPLES, bearer, create_database, drop_database, make_settings

EXPECTED_METRICS: dict[str, Any] = json.loads((EXAMPLES / "book-expected-metrics.json").read_text())
EXPECTED_LOANS: dict[str, Any] = json.loads((EXAMPLES / "book-expected-loans.json").read_text())
PAYLOAD: dict[str, Any] = json.loads((EXAMPLES / "book-payload.json").read_text())["data"]

MTD = EXPECTED_METRICS["windows"]["month_to_date"]
CUSTOM = EXPECTED_METRICS["windows"]["custom"]
CUSTOM_PERIOD = {"startDate": CUSTOM["start"], "endDate": CUSTOM["end"]}
HISTORY_START = date(2026, 8, 25)  # the module book has daily rows from here to BUSINESS_DATE
AUDIT_TABLES = ("audit_tracking", "audit_actions", "team_members")
COUNTED_TABLES = ("officers", "customers", "loans", "loan_schedule", "repayments", "officer_metrics_daily",
                  "branch_metrics_daily", "metric_calculation_log", *AUDIT_TABLES)

RATIOS = {"fimr": "fimr", "allTimeFimr": "all_time_fimr", "d06Slippage": "d06_slippage", "roll": "roll",
          "frr": "frr", "ayr": "ayr", "porr": "porr", "onTimeRate": "on_time_rate", "channelPurity": "channel_purity"}
MONEY = {"totalPortfolio": "total_portfolio", "overdue15dAmount": "overdue_15d_amount",
         "disbursedAmount": "disbursed_amount", "totalYield": "total_yield", "interestCollected": "interest_collected",
         "feesCollected": "fees_collected", "feesDue": "fees_due", "waiversAmount": "waivers_amount",
         "amountDue7d": "amount_due_7d", "par15MidMonth": "par15_mid_month"}
COUNTS = {"activeLoans": "active_loans", "overdue15dCount": "overdue_15d_count", "disbursedCount": "disbursed_count",
          "totalEntries": "total_entries", "backdatedCount": "backdated_count", "reversalsCount": "reversals_count"}
BUCKETS = ("0", "1-6", "7-30", "31-60", "61-90", "90+")
# the expected file names two penalties by what they measure; SPEC §5.6 fixes the API names
PENALTY_NAMES = {"frr_shortfall": "frr", "channel_impurity": "channel_purity"}

RATIO_FIELDS = "value numerator denominator band"
METRICS_FIELDS = (
    "calculationDate periodStart periodEnd "
    + " ".join(f"{name} {{ {RATIO_FIELDS} }}" for name in RATIOS)
    + " riskScore riskBand dqi dqiBand riskPenalties { name weight input points } portfolio { "
    + " ".join([*MONEY, *COUNTS])
    + " buckets { bucket count balance } }"
)
LOAN_FIELDS = (
    "loanId customerId customerName customerPhone region branch channel status loanAmount disbursementDate "
    "maturityDate currentDpd maxDpdEver firstPaymentDueDate firstPaymentReceivedDate daysLate fimrTagged "
    "earlyIndicatorTagged totalOutstanding lastPaymentDate nextPaymentDue officerId officerName"
)


def approx(value: str | None) -> Any:
    """An exact decimal of the expected files as the float GraphQL returns (to 1e-12 relative)."""
    return None if value is None else pytest.approx(float(Decimal(value)), rel=1e-12, abs=1e-12)


def money(value: str) -> float:
    return float(Decimal(value))


def expected_metrics(want: dict[str, Any]) -> dict[str, Any]:
    """One group of book-expected-metrics.json in the shape of OfficerMetrics."""
    result: dict[str, Any] = {
        "calculationDate": want["period_end"], "periodStart": want["period_start"], "periodEnd": want["period_end"],
    }
    for field, name in RATIOS.items():
        ratio = want[name]
        result[field] = {"value": approx(ratio["value"]), "numerator": money(str(ratio["numerator"])),
                         "denominator": money(str(ratio["denominator"])), "band": ratio["band"]}
    result.update(riskScore=want["risk_score"], riskBand=want["risk_band"], dqi=want["dqi"], dqiBand=want["dqi_band"])
    result["riskPenalties"] = [
        {"name": PENALTY_NAMES.get(p["name"], p["name"]), "weight": p["weight"], "input": approx(p["input"]),
         "points": approx(p["points"])}
        for p in want["risk_penalties"]
    ]
    portfolio: dict[str, Any] = {field: money(want[name]) for field, name in MONEY.items()}
    portfolio.update({field: want[name] for field, name in COUNTS.items()})
    portfolio["buckets"] = [{"bucket": label, "count": want["buckets"][label]["count"],
                             "balance": money(want["buckets"][label]["balance"])} for label in BUCKETS]
    result["portfolio"] = portfolio
    return result


API_PENALTIES = (("porr", 20), ("fimr", 15), ("roll", 10), ("waivers", 10), ("backdated", 10), ("reversals", 10),
                 ("frr", 10), ("channel_purity", 5), ("float_gap", 10))
BANDED = ("fimr", "all_time_fimr", "d06_slippage", "roll", "ayr")


def engine_metrics(row: Any) -> dict[str, Any]:
    """An on-demand engine row (money in cents) in the shape of OfficerMetrics: the hand check
    of aggregates the API computes for a scoped caller."""
    from loanmetrics.db import metric_engine as engine

    def component(name: str) -> float | int:
        return float(engine.cents(row[name])) if name in engine.MONEY_COMPONENTS else int(row[name])

    result: dict[str, Any] = {"calculationDate": row["calculation_date"].isoformat(),
                              "periodStart": row["period_start"].isoformat(),
                              "periodEnd": row["calculation_date"].isoformat()}
    for field, name in RATIOS.items():
        numerator, denominator = engine.RATIOS[name]
        value = row[name]
        result[field] = {"value": None if value is None else approx(str(value)),
                         "numerator": float(component(numerator)), "denominator": float(component(denominator)),
                         "band": row[f"{name}_band"].upper() if name in BANDED and row[f"{name}_band"] else None}
    result.update(riskScore=row["risk_score"], riskBand=row["risk_band"].upper(), dqi=row["dqi"],
                  dqiBand=row["dqi_band"].upper())
    result["riskPenalties"] = [
        {"name": name, "weight": weight, "input": approx(str(x)),
         "points": approx(str(weight * min(Decimal(1), max(Decimal(0), Decimal(x)))))}
        for (name, weight), x in zip(API_PENALTIES, row["penalty_inputs"], strict=True)
    ]
    portfolio: dict[str, Any] = {field: component(name) for field, name in (*MONEY.items(), *COUNTS.items())}
    portfolio["buckets"] = [
        {"bucket": label, "count": component(f"bucket_{column}_count"),
         "balance": component(f"bucket_{column}_balance")}
        for label, column in zip(BUCKETS, ("0", "1_6", "7_30", "31_60", "61_90", "90_plus"), strict=True)
    ]
    result["portfolio"] = portfolio
    return result


def main_region(branch: str) -> str:
    """The region most of the branch's loans carry (ties: alphabetical)."""
    from collections import Counter

    counts = Counter(loan["region"] for loan in PAYLOAD["loans"] if loan["branch"] == branch)
    return str(min(counts, key=lambda region: (-counts[region], region)))


_LOANS = {loan["loan_id"]: loan for loan in PAYLOAD["loans"]}


def mask_phone(phone: str | None) -> str | None:
    """SPEC §10 for non-admins: the country prefix and the last three digits stay visible."""
    if phone is None:
        return None
    return phone[:4] + "*" * (len(phone) - 7) + phone[-3:]


def expected_loan(loan_id: str, *, masked: bool = False) -> dict[str, Any]:
    """A loan of the example book in the shape of Loan (LOAN_FIELDS), as of BUSINESS_DATE."""
    source, want = _LOANS[loan_id], EXPECTED_LOANS[loan_id]
    paid = [r["payment_date"] for r in PAYLOAD["repayments"]
            if r["loan_id"] == loan_id and not r["is_reversed"] and r["payment_date"] <= BUSINESS_DATE.isoformat()]
    unsettled = [i["due_date"] for i in want["schedule"] if not i["ignored"] and i["payment_status"] != "Paid"]
    phone = source["customer_phone"]
    return {
        "loanId": loan_id, "customerId": source["customer_id"], "customerName": source["customer_name"],
        "customerPhone": mask_phone(phone) if masked else phone, "region": source["region"],
        "branch": source["branch"], "channel": source["channel"], "status": source["status"],
        "loanAmount": money(source["loan_amount"]), "disbursementDate": source["disbursement_date"],
        "maturityDate": source["maturity_date"], "currentDpd": want["current_dpd"],
        "maxDpdEver": want["max_dpd_ever"], "firstPaymentDueDate": want["first_payment_due_date"],
        "firstPaymentReceivedDate": want["first_payment_received_date"], "daysLate": want["days_late"],
        "fimrTagged": want["fimr_tagged"], "earlyIndicatorTagged": want["early_indicator_tagged"],
        "totalOutstanding": money(want["total_outstanding"]), "lastPaymentDate": max(paid) if paid else None,
        "nextPaymentDue": min(unsettled) if unsettled else None, "officerId": source["officer_id"],
        "officerName": source["officer_name"],
    }


def expected_schedule(loan_id: str) -> list[dict[str, Any]]:
    """The stored schedule rows (an implied bullet installment is not a stored row)."""
    return [
        {"installmentNumber": i["installment_number"], "dueDate": i["due_date"],
         "principalDue": money(i["principal_due"]), "interestDue": money(i["interest_due"]),
         "feeDue": money(i["fee_due"]), "totalDue": money(i["total_due"]),
         "amountPaid": None if i["ignored"] else money(i["amount_paid"]),
         "paymentDate": None if i["ignored"] else i["payment_date"],
         "paymentStatus": None if i["ignored"] else i["payment_status"]}
        for i in EXPECTED_LOANS[loan_id]["schedule"] if not i["implied"]
    ]


def expected_repayments(loan_id: str) -> list[dict[str, Any]]:
    rows = sorted((r for r in PAYLOAD["repayments"] if r["loan_id"] == loan_id),
                  key=lambda r: (r["payment_date"], r["repayment_id"]))

    def optional(value: str | None) -> float | None:
        return None if value is None else money(value)

    return [
        {"repaymentId": r["repayment_id"], "paymentDate": r["payment_date"],
         "paymentAmount": money(r["payment_amount"]),
         "principalPaid": money(r["principal_paid"]), "interestPaid": money(r["interest_paid"]),
         "feesPaid": money(r["fees_paid"]), "penaltyPaid": optional(r["penalty_paid"]),
         "paymentMethod": r["payment_method"], "paymentChannel": r["payment_channel"],
         "isBackdated": r["is_backdated"], "isReversed": r["is_reversed"], "reversalDate": r["reversal_date"],
         "reversalReason": r["reversal_reason"], "waiverAmount": optional(r["waiver_amount"]),
         "waiverType": r["waiver_type"]}
        for r in rows
    ]


REPAYMENT_FIELDS = (
    "repaymentId paymentDate paymentAmount principalPaid interestPaid feesPaid penaltyPaid paymentMethod "
    "paymentChannel isBackdated isReversed reversalDate reversalReason waiverAmount waiverType"
)
SCHEDULE_FIELDS = (
    "installmentNumber dueDate principalDue interestDue feeDue totalDue amountPaid paymentDate paymentStatus"
)


def loan_sort_key(loan_id: str, field: str) -> tuple[Any, ...]:
    """The drilldowns' default orders: the field descending (nulls last), then outstanding
    descending, then loan id."""
    want = EXPECTED_LOANS[loan_id]
    source = _LOANS[loan_id]
    value = source["disbursement_date"] if field == "disbursement_date" else want[field]
    return value, Decimal(want["total_outstanding"]), loan_id


Scope = Mapping[str, tuple[str, ...]]  # "branches" / "regions" claims of a token


@dataclass
class Book:
    """The started application with the example book loaded, and an HTTP client on its ASGI app."""

    app: Application
    http: httpx.AsyncClient
    url: str

    def headers(self, role: str = "admin", scope: Scope | None = None) -> dict[str, str]:
        return bearer(self.app, role, **(scope or {}))

    async def post(self, query: str, variables: dict[str, Any] | None = None, *, role: str = "admin",
                   scope: Scope | None = None) -> httpx.Response:
        body: dict[str, Any] = {"query": query}
        if variables is not None:
            body["variables"] = variables
        return await self.http.post("/graphql", json=body, headers=self.headers(role, scope))

    async def gql(self, query: str, variables: dict[str, Any] | None = None, *, role: str = "admin",
                  scope: Scope | None = None) -> dict[str, Any]:
        """The data of a successful operation (HTTP 200, no errors)."""
        response = await self.post(query, variables, role=role, scope=scope)
        assert response.status_code == 200, response.text
        document: dict[str, Any] = response.json()
        assert "errors" not in document, document["errors"]
        data: dict[str, Any] = document["data"]
        return data

    async def errors(self, query: str, variables: dict[str, Any] | None = None, *, role: str = "admin",
                     scope: Scope | None = None) -> list[dict[str, Any]]:
        """The GraphQL errors of a failing operation (HTTP 200 or 4xx, never 5xx or INTERNAL)."""
        response = await self.post(query, variables, role=role, scope=scope)
        assert response.status_code < 500, response.text
        document: dict[str, Any] = response.json()
        assert document.get("errors"), document
        errors: list[dict[str, Any]] = document["errors"]
        assert all(e.get("extensions", {}).get("code") != "INTERNAL" for e in errors), errors
        return errors

    async def counts(self) -> dict[str, int]:
        async with self.app.db.raw_reader() as conn:
            return {table: int(await conn.fetchval(f"SELECT count(*) FROM {table}")) for table in COUNTED_TABLES}

    async def reset_audit(self) -> None:
        """Forget every audit change (tests that write share the module's book)."""
        async with self.app.db.raw_transaction() as conn:
            await conn.execute("TRUNCATE audit_actions, audit_tracking, team_members RESTART IDENTITY")
            await conn.executemany(
                "INSERT INTO team_members (member_id, member_name, member_email, role, department, is_active) "
                "VALUES ($1, $2, $3, $4, $5, $6)",
                TEAM,
            )
        await self.app.data_changed()


TEAM = [
    ("TM1", "Ada Auditor", "ada@lender.example", "Auditor", "Internal Audit", True),
    ("TM2", "Bayo Reviewer", "bayo@lender.example", "Reviewer", "Risk", True),
    ("TM3", "Chi Former", None, None, None, False),
]


@asynccontextmanager
async def loaded_book(*, history_from: date = HISTORY_START, document: Any = None) -> AsyncIterator[Book]:
    """A private database with the example book (or ``document``, an ETL payload) ingested and
    daily rows from ``history_from`` to BUSINESS_DATE, a started application on it and a client on
    the real HTTP app."""
    from loanmetrics.graph.app import create_app

    url = await create_database("lm_gql")
    application = create_application(make_settings(url, redis_url=None))
    await application.start(migrate_schema=False)
    try:
        if document is None:
            document = jiter.from_json((EXAMPLES / "book-payload.json").read_bytes(), float_mode="decimal")
        result = await ingest(application.db, payload_from_document(document, max_records=100_000), BUSINESS_DATE)
        assert result.errors == []
        run = await recalculate(application.db, application.engine_options, as_of=BUSINESS_DATE, start=history_from)
        assert run.status == "Completed"
        book = Book(application, httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(application)),
                                                   base_url="http://testserver"), url)
        await book.reset_audit()
        async with book.http:
            yield book
    finally:
        await application.stop()
        await drop_database(url)


@asynccontextmanager
async def same_book_with(book: Book, **overrides: Any) -> AsyncIterator[Book]:
    """A second application on ``book``'s database with other settings (band thresholds, for
    one), with its own cache, and a client on its HTTP app."""
    from loanmetrics.graph.app import create_app

    application = create_application(make_settings(book.url, redis_url=None, **overrides))
    await application.start(migrate_schema=False)
    try:
        other = Book(application, httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(application)),
                                                    base_url="http://testserver"), book.url)
        async with other.http:
            yield other
    finally:
        await application.stop()


def band_of_score(score: int, green: int, watch: int, amber: int | None = None) -> str:
    """SPEC §5.6 score bands, boundaries inclusive (GraphQL spelling); DQI has no amber band."""
    if score >= green:
        return "GREEN"
    if score >= watch:
        return "WATCH"
    if amber is None:
        return "FLAG"
    return "AMBER" if score >= amber else "RED"


def band_of_ratio(name: str, numerator: Decimal | float | str, denominator: Decimal | float | str,
                  bands: Any) -> str | None:
    """SPEC §5.6 ratio bands, compared exactly (Fractions) with the thresholds of ``bands``."""
    from fractions import Fraction

    n, d = Fraction(str(numerator)), Fraction(str(denominator))
    if d == 0:
        return None
    green, watch = {"fimr": (bands.fimr_green, bands.fimr_watch),
                    "all_time_fimr": (bands.fimr_green, bands.fimr_watch),
                    "d06_slippage": (bands.slippage_green, bands.slippage_watch),
                    "roll": (bands.roll_green, bands.roll_watch),
                    "ayr": (bands.ayr_green, bands.ayr_watch)}[name]
    value = n / d
    if name == "ayr":  # higher is better
        return "GREEN" if value >= Fraction(str(green)) else "WATCH" if value >= Fraction(str(watch)) else "FLAG"
    return "GREEN" if value <= Fraction(str(green)) else "WATCH" if value <= Fraction(str(watch)) else "FLAG"


def rebanded(metrics: dict[str, Any], bands: Any) -> dict[str, Any]:
    """OfficerMetrics as GraphQL returned them, with every band recomputed under ``bands`` from
    the answer's own scores and exact ratio parts."""
    result = {**metrics}
    for field, name in RATIOS.items():
        if field in result and name in BANDED:
            ratio = result[field]
            result[field] = {**ratio, "band": band_of_ratio(name, ratio["numerator"], ratio["denominator"], bands)}
    if "riskScore" in result:
        result["riskBand"] = band_of_score(result["riskScore"], bands.risk_green, bands.risk_watch, bands.risk_amber)
    if "dqi" in result:
        result["dqiBand"] = band_of_score(result["dqi"], bands.dqi_green, bands.dqi_watch)
    return result
