"""The two one-cent tolerances of the contract, at their edges (SPEC §4, §5.2).

- Settlement (§5.2): installment i settles at the first payment date with paid(L, t) ≥ C_i − 0.01.
  A repayment 0.01 short settles it (status Paid, payment date set, DPD 0); 0.02 short does not.
  Checked in the stored schedule (the SQL schedule writer and the payment and schedule passes:
  repayments in the loan's own batch, in a later batch, and a schedule re-sent over stored
  repayments) and in the Python reference.
- Ingestion (§4): payment_amount = Σ parts (penalty included) and total_due = Σ parts, each within
  0.01: off by 0.01 either way is accepted, off by 0.02 is rejected with AMOUNT_MISMATCH.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from loanmetrics.calculators import loan_state as ref
from loanmetrics.calculators.book import Book
from loanmetrics.db.engine import Database
from loanmetrics.db.ingestion.payload import payload_from_document
from loanmetrics.db.ingestion.service import ingest
from tests.conftest import BUSINESS_DATE

Json = dict[str, Any]
DUE = date(2026, 9, 1)  # installment 1; installment 2 falls due after the business date
PAID_ON = date(2026, 8, 30)


def _officer() -> Json:
    return {"officer_id": "O1", "officer_name": "Officer O1", "region": "North", "branch": "Alpha"}


def _loan(loan_id: str) -> Json:
    return {
        "loan_id": loan_id, "customer_id": "C1", "customer_name": "Customer", "officer_id": "O1",
        "officer_name": "Officer O1", "region": "North", "branch": "Alpha", "loan_amount": "1000.00",
        "disbursement_date": "2026-08-01", "maturity_date": "2026-10-01", "loan_term_days": 61,
        "channel": "Branch", "status": "Active",
    }


def _schedule(loan_id: str) -> list[Json]:
    # C_1 = 525.00, C_2 = 1050.00
    return [
        {"loan_id": loan_id, "installment_number": 1, "due_date": DUE.isoformat(), "principal_due": "500.00",
         "interest_due": "20.00", "fee_due": "5.00", "total_due": "525.00"},
        {"loan_id": loan_id, "installment_number": 2, "due_date": "2026-10-01", "principal_due": "500.00",
         "interest_due": "20.00", "fee_due": "5.00", "total_due": "525.00"},
    ]


def _repayment(loan_id: str, coverage: Decimal, *, penalty: str = "3.00") -> Json:
    """One repayment covering ``coverage`` (principal, then 20.00 interest and 5.00 fees), plus a
    penalty that counts in payment_amount but settles nothing."""
    principal = coverage - Decimal("25.00")
    amount = coverage + Decimal(penalty)
    return {
        "repayment_id": f"{loan_id}-R1", "loan_id": loan_id, "payment_date": PAID_ON.isoformat(),
        "payment_amount": str(amount), "principal_paid": str(principal), "interest_paid": "20.00",
        "fees_paid": "5.00", "penalty_paid": penalty, "payment_method": "Cash", "is_reversed": False,
    }


def _batch(**data: list[Json]) -> Json:
    return {"sync_type": "incremental", "data": data}


async def _load(db: Database, *batches: Json) -> None:
    for document in batches:
        result = await ingest(db, payload_from_document(document, max_records=10_000), BUSINESS_DATE)
        assert result.errors == [], result.errors


SHORT = {"exact": Decimal("525.00"), "cent_short": Decimal("524.99"), "two_cents_short": Decimal("524.98")}
# (status, payment date, DPD on the business date) of installment 1
SETTLED = ("Paid", PAID_ON, 0)
UNSETTLED = ("Overdue", None, (BUSINESS_DATE - DUE).days)  # 17 days past due
EXPECTED = {"exact": SETTLED, "cent_short": SETTLED, "two_cents_short": UNSETTLED}


def _batches(path: str, coverage: Decimal) -> list[Json]:
    """The same final book through each SQL path that writes the schedule's computed fields."""
    officer, loan, rows, payment = _officer(), _loan("L1"), _schedule("L1"), _repayment("L1", coverage)
    if path == "one_batch":  # new loan: the schedule writer's own statement, then the payment pass
        return [_batch(officers=[officer], loans=[loan], loan_schedules=rows, repayments=[payment])]
    if path == "later_repayments":  # a stored loan whose repayments alone changed (PAYMENTS_PASS)
        return [_batch(officers=[officer], loans=[loan], loan_schedules=rows), _batch(repayments=[payment])]
    # a stored loan with repayments whose schedule is re-sent (the schedule pass)
    return [
        _batch(officers=[officer], loans=[loan], loan_schedules=rows, repayments=[payment]),
        _batch(loan_schedules=[dict(row, principal_due="499.00", interest_due="21.00") for row in rows]),
    ]


@pytest.mark.parametrize("path", ["one_batch", "later_repayments", "schedule_resent"])
@pytest.mark.parametrize("short", list(SHORT))
async def test_settlement_tolerance_in_the_stored_schedule_and_the_reference(
    db: Database, path: str, short: str
) -> None:
    batches = _batches(path, SHORT[short])
    await _load(db, *batches)
    async with db.raw_reader() as conn:
        row = await conn.fetchrow(
            "SELECT payment_status, payment_date, amount_paid FROM loan_schedule"
            " WHERE loan_id = 'L1' AND installment_number = 1")
        loan = await conn.fetchrow("SELECT current_dpd, early_indicator_tagged FROM loans WHERE loan_id = 'L1'")
        second = await conn.fetchrow(
            "SELECT payment_status, amount_paid FROM loan_schedule WHERE loan_id = 'L1' AND installment_number = 2")
    assert row is not None
    assert loan is not None
    assert second is not None
    status, paid_on, dpd = EXPECTED[short]
    assert (row["payment_status"], row["payment_date"], loan["current_dpd"]) == (status, paid_on, dpd)
    # alloc: a settled installment counts whole; an unsettled one what was paid past C_0
    assert row["amount_paid"] == (Decimal("525.00") if status == "Paid" else SHORT[short])
    assert (second["payment_status"], second["amount_paid"]) == ("Pending", Decimal("0.00"))

    h = ref.loan_history(Book.from_payloads(batches), "L1")
    first = ref.schedule_state(h, BUSINESS_DATE)[0]
    assert (first.payment_status, first.payment_date, ref.dpd(h, BUSINESS_DATE)) == (status, paid_on, dpd)
    assert first.amount_paid == row["amount_paid"]


# --- ingestion: Σ parts within 0.01 ----------------------------------------------------------------


@pytest.mark.parametrize(("off", "accepted"), [
    (Decimal("0.01"), True), (Decimal("-0.01"), True), (Decimal("0.02"), False), (Decimal("-0.02"), False),
])
async def test_repayment_parts_within_a_cent_of_the_amount(db: Database, off: Decimal, accepted: bool) -> None:
    """payment_amount = principal + interest + fees + penalty (3.00 here) within 0.01."""
    payment = _repayment("L1", Decimal("525.00"))
    payment["payment_amount"] = str(Decimal(payment["payment_amount"]) + off)  # 528.00 + off
    document = _batch(officers=[_officer()], loans=[_loan("L1")], loan_schedules=_schedule("L1"),
                      repayments=[payment])
    result = await ingest(db, payload_from_document(document, max_records=10_000), BUSINESS_DATE)
    async with db.raw_reader() as conn:
        stored = await conn.fetchval("SELECT payment_amount FROM repayments WHERE repayment_id = 'L1-R1'")
    if accepted:
        assert result.errors == []
        assert stored == Decimal("528.00") + off
    else:
        assert [(e["entity_id"], e["field"], e["error_code"]) for e in result.errors] == [
            ("L1-R1", "data.repayments[0].payment_amount", "AMOUNT_MISMATCH")]
        assert stored is None
        assert result.results["repayments"]["failed"] == 1


@pytest.mark.parametrize(("off", "accepted"), [
    (Decimal("0.01"), True), (Decimal("-0.01"), True), (Decimal("0.02"), False), (Decimal("-0.02"), False),
])
async def test_schedule_parts_within_a_cent_of_the_total(db: Database, off: Decimal, accepted: bool) -> None:
    """total_due = principal_due + interest_due + fee_due within 0.01."""
    rows = _schedule("L1")
    rows[1]["total_due"] = str(Decimal(rows[1]["total_due"]) + off)  # 525.00 + off
    document = _batch(officers=[_officer()], loans=[_loan("L1")], loan_schedules=rows)
    result = await ingest(db, payload_from_document(document, max_records=10_000), BUSINESS_DATE)
    async with db.raw_reader() as conn:
        stored = [r["total_due"] for r in await conn.fetch(
            "SELECT total_due FROM loan_schedule WHERE loan_id = 'L1' ORDER BY installment_number")]
    if accepted:
        assert result.errors == []
        assert stored == [Decimal("525.00"), Decimal("525.00") + off]
    else:
        codes = {(e["entity_id"], e["field"], e["error_code"]) for e in result.errors}
        assert ("L1#2", "data.loan_schedules[1].total_due", "AMOUNT_MISMATCH") in codes
        assert ("L1#1", "data.loan_schedules[0]", "SCHEDULE_INCOMPLETE") in {
            (e["entity_id"], e["field"], e["error_code"]) for e in result.errors}
        assert stored == []
