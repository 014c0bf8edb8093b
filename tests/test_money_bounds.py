"""Money bounds (docs/ARCHITECTURE.md, "Money bounds"): every money field of a record is at most
MAX_MONEY, and the daily tables' aggregate columns hold any sum of such records, so neither a
record nor a sum of records can overflow a column: the recalculation never fails on them and the
exact totals are served."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson

from loanmetrics.application import Application
from loanmetrics.db.ingestion.payload import payload_from_document
from loanmetrics.db.ingestion.records import MAX_MONEY
from loanmetrics.db.ingestion.service import ingest
from loanmetrics.scheduler.recalculation import recalculate
from tests.conftest import BUSINESS_DATE, bearer
from tests.test_cli_failures import run

SYNC = "/api/v1/etl/sync"
TOP = "9999999999.99"
OVER = "10000000000.00"


def _loans(n: int, amount: str, *, prefix: str = "L") -> list[dict[str, Any]]:
    """``n`` bullet loans of one officer, disbursed 2026-08-01, due 2026-08-25 and unpaid (DPD 24)."""
    return [
        {"loan_id": f"{prefix}{i}", "customer_id": f"C{i}", "customer_name": "c", "officer_id": "OF1",
         "officer_name": "Ada", "region": "North", "branch": "Alpha", "loan_amount": amount,
         "disbursement_date": "2026-08-01", "maturity_date": "2026-08-25", "loan_term_days": 24,
         "fee_amount": amount, "channel": "Branch", "status": "Active"}
        for i in range(n)
    ]


async def _counts(app: Application) -> dict[str, int]:
    async with app.db.raw_reader() as conn:
        return {t: await conn.fetchval(f"SELECT count(*) FROM {t}") for t in ("officers", "loans", "loan_state")}


def test_the_documented_maximum() -> None:
    assert Decimal(TOP) == MAX_MONEY


async def test_sums_of_loans_at_the_maximum_fit_and_are_served_exactly(app: Application, client: Any) -> None:
    n = 1001  # principal 1001 x MAX_MONEY > 10^13, total_out (principal + fee) twice that
    result = await ingest(app.db, payload_from_document({"data": {"loans": _loans(n, TOP)}}, max_records=10_000),
                          BUSINESS_DATE)
    assert result.errors == []
    run_ = await recalculate(app.db, app.engine_options, as_of=BUSINESS_DATE, start=date(2026, 9, 15),
                             calculation_type="backfill")
    assert (run_.status, run_.error) == ("Completed", None)
    principal = n * MAX_MONEY
    assert principal > 10**13
    async with app.db.raw_reader() as conn:
        row = await conn.fetchrow("SELECT total_portfolio, gross_loan_portfolio, par1_amount, overdue_15d_amount "
                                  "FROM officer_metrics_daily WHERE officer_id = 'OF1' AND calculation_date = $1",
                                  BUSINESS_DATE)
        branch = await conn.fetchval("SELECT total_portfolio FROM branch_metrics_daily WHERE branch = 'Alpha' "
                                     "AND calculation_date = $1", BUSINESS_DATE)
        snapshot = await conn.fetchval("SELECT par15_exposure FROM par15_snapshots")  # the 15th: DPD 21
    assert row is not None
    assert dict(row) == {"total_portfolio": 2 * principal, "gross_loan_portfolio": principal,
                         "par1_amount": principal, "overdue_15d_amount": 2 * principal}
    assert branch == 2 * principal
    assert snapshot == 2 * principal
    query = """{ officers { nodes { officerId metrics { portfolio { totalPortfolio grossLoanPortfolio
                  overdue15dAmount } par1 { value numerator denominator } } } }
                 branches { branch portfolio { totalPortfolio } }
                 regions { region portfolio { totalPortfolio } } }"""
    for role in ("admin", "viewer"):
        response = await client.post("/graphql", json={"query": query}, headers=bearer(app, role))
        assert response.status_code == 200, response.text
        data = response.json()["data"]
        (officer,) = data["officers"]["nodes"]
        assert officer["officerId"] == "OF1"
        assert officer["metrics"]["portfolio"] == {"totalPortfolio": float(2 * principal),
                                                   "grossLoanPortfolio": float(principal),
                                                   "overdue15dAmount": float(2 * principal)}
        assert officer["metrics"]["par1"] == {"value": 1.0, "numerator": float(principal),
                                              "denominator": float(principal)}
        assert data["branches"] == [{"branch": "Alpha", "portfolio": {"totalPortfolio": float(2 * principal)}}]
        assert data["regions"] == [{"region": "North", "portfolio": {"totalPortfolio": float(2 * principal)}}]
    # a custom window is summed on the fly from the fine table: the same totals
    custom = await client.post("/graphql", headers=bearer(app, "admin"), json={"query": """{ officers(period:
        {startDate: "2026-08-01", endDate: "2026-09-18"}) { nodes { metrics { portfolio { totalPortfolio } } } } }"""})
    assert custom.json()["data"]["officers"]["nodes"][0]["metrics"]["portfolio"] == {
        "totalPortfolio": float(2 * principal)}


async def test_a_money_field_above_the_maximum_is_rejected_with_its_path(app: Application, client: Any) -> None:
    over = OVER
    loans = _loans(1, over)
    response = await client.post(SYNC, json={"data": {"loans": loans}}, headers=bearer(app, "etl"))
    assert response.status_code == 207  # SPEC §4: a rejected record is reported, the rest commit
    body = response.json()
    assert sorted((e["field"], e["error_code"]) for e in body["errors"]) == [
        ("data.loans[0].fee_amount", "AMOUNT_TOO_LARGE"), ("data.loans[0].loan_amount", "AMOUNT_TOO_LARGE")]
    assert all("9999999999.99" in e["error_message"] for e in body["errors"])
    assert body["results"]["loans"] == {"inserted": 0, "updated": 0, "unchanged": 0, "failed": 1}
    schedule = {"loan_id": "L0", "installment_number": 1, "due_date": "2026-09-10", "principal_due": "1.00",
                "interest_due": over, "fee_due": "0", "total_due": str(Decimal(over) + 1)}
    payment = {"repayment_id": "R1", "loan_id": "L0", "payment_date": "2026-09-05", "payment_amount": over,
               "principal_paid": "0", "interest_paid": "0", "fees_paid": "0", "penalty_paid": over,
               "waiver_amount": over, "payment_method": "Cash", "is_reversed": False}
    mixed = await client.post(SYNC, json={"data": {"loans": _loans(1, TOP), "loan_schedules": [schedule],
                                                   "repayments": [payment]}}, headers=bearer(app, "etl"))
    assert mixed.status_code == 207
    assert sorted((e["field"], e["error_code"]) for e in mixed.json()["errors"]) == [
        ("data.loan_schedules[0].interest_due", "AMOUNT_TOO_LARGE"),
        ("data.loan_schedules[0].total_due", "AMOUNT_TOO_LARGE"),
        ("data.repayments[0].payment_amount", "AMOUNT_TOO_LARGE"),
        ("data.repayments[0].penalty_paid", "AMOUNT_TOO_LARGE"),
        ("data.repayments[0].waiver_amount", "AMOUNT_TOO_LARGE"),
    ]
    async with app.db.raw_reader() as conn:
        assert await conn.fetchval("SELECT count(*) FROM loan_schedule") == 0
        assert await conn.fetchval("SELECT count(*) FROM repayments") == 0
        assert await conn.fetchval("SELECT loan_amount FROM loans") == MAX_MONEY  # the valid loan committed


async def test_implied_interest_above_the_maximum_is_rejected(app: Application, client: Any) -> None:
    """A loan without a schedule owes round2(amount x rate x days / 365): rate and term must not
    carry it past the maximum either."""
    loan = dict(_loans(1, "1000000.00")[0], interest_rate="1000", loan_term_days=36500,
                maturity_date="2126-09-01")
    response = await client.post(SYNC, json={"data": {"loans": [loan]}}, headers=bearer(app, "etl"))
    assert response.status_code == 207, response.text
    assert [(e["field"], e["error_code"]) for e in response.json()["errors"]] == [
        ("data.loans[0].interest_rate", "AMOUNT_TOO_LARGE")]
    assert await _counts(app) == {"officers": 0, "loans": 0, "loan_state": 0}


async def test_cli_ingest_rejects_a_money_field_above_the_maximum(app: Application, tmp_path: Path) -> None:
    over = OVER
    path = tmp_path / "batch.json"
    path.write_bytes(orjson.dumps({"data": {"loans": _loans(1, over)}}))
    result = run(["ingest", str(path)], tmp_path, DATABASE_URL=str(app.settings.database_url))
    assert result.returncode != 0
    assert "data.loans[0].loan_amount" in result.stdout + result.stderr
    assert "AMOUNT_TOO_LARGE" in result.stdout + result.stderr
    assert await _counts(app) == {"officers": 0, "loans": 0, "loan_state": 0}
