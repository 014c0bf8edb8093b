"""Golden test: the example book ingested on 2026-09-18 gives every expected loan and schedule field."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from loanmetrics.db.ingestion.payload import payload_from_document
from loanmetrics.db.ingestion.service import ingest
from tests.conftest import BUSINESS_DATE, EXAMPLES

LOAN_FIELDS = (
    "current_dpd", "max_dpd_ever", "first_payment_missed", "first_payment_due_date",
    "first_payment_received_date", "principal_outstanding", "interest_outstanding", "fees_outstanding",
    "total_outstanding", "total_principal_paid", "total_interest_paid", "total_fees_paid", "fimr_tagged",
    "early_indicator_tagged",
)


def _norm(value: Any) -> Any:
    if isinstance(value, Decimal):
        return value.normalize()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def _expected(value: Any, stored: Any) -> Any:
    if isinstance(stored, Decimal) and value is not None:
        return Decimal(value).normalize()
    return value


async def test_example_book_loan_and_schedule_fields(db, example_payload):
    payload = payload_from_document(example_payload, max_records=100_000)
    result = await ingest(db, payload, BUSINESS_DATE)
    assert result.errors == []
    assert result.results["loans"]["inserted"] == 240
    await assert_example_loans(db)


async def assert_example_loans(db) -> None:
    """Every loan and schedule field of book-expected-loans.json, to the cent."""
    expected = json.loads((EXAMPLES / "book-expected-loans.json").read_text())
    async with db.raw_reader() as conn:
        loans = {row["loan_id"]: row for row in await conn.fetch("SELECT * FROM loans")}
        schedule = {
            (row["loan_id"], row["installment_number"]): row
            for row in await conn.fetch("SELECT * FROM loan_schedule")
        }
    mismatches: list[tuple[Any, ...]] = []
    for loan_id, exp in expected.items():
        row = loans[loan_id]
        for name in LOAN_FIELDS:
            got, want = _norm(row[name]), _expected(exp[name], row[name])
            if got != want:
                mismatches.append((loan_id, name, got, want))
        for inst in exp["schedule"]:
            if inst["implied"]:
                continue
            srow = schedule[(loan_id, inst["installment_number"])]
            for name in ("amount_paid", "payment_date", "payment_status"):
                want = None if inst["ignored"] else inst[name]
                got, want = _norm(srow[name]), _expected(want, srow[name])
                if got != want:
                    mismatches.append((loan_id, inst["installment_number"], name, got, want))
    assert mismatches == []
