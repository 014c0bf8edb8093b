"""POST /api/v1/etl/sync end to end: statuses, bodies and database state (SPEC §4)."""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

import orjson
import pytest

from tests.conftest import bearer

SYNC = "/api/v1/etl/sync"
COUNTED = ("officers", "customers", "loans", "loan_schedule", "repayments", "loan_state")


def small_book() -> dict[str, Any]:
    """One officer, two loans (one with a three-installment schedule, one bullet), two repayments."""
    return {
        "sync_timestamp": "2026-09-18T12:00:00Z",
        "sync_type": "incremental",
        "data": {
            "officers": [{"officer_id": "OF1", "officer_name": "Ada", "region": "North", "branch": "Alpha",
                          "primary_channel": "Branch"}],
            "customers": [{"customer_id": "C1", "customer_name": "Bola"}],
            "loans": [
                {"loan_id": "L1", "customer_id": "C1", "customer_name": "Bola", "officer_id": "OF1",
                 "officer_name": "Ada", "region": "North", "branch": "Alpha", "loan_amount": "3000.00",
                 "disbursement_date": "2026-08-01", "maturity_date": "2026-09-05", "loan_term_days": 35,
                 "interest_rate": "0.10", "fee_amount": "30.00", "channel": "Branch", "status": "Active"},
                {"loan_id": "L2", "customer_id": "C2", "customer_name": "Chi", "officer_id": "OF2",
                 "officer_name": "Dayo", "officer_phone": "+234", "region": "South", "branch": "Gamma",
                 "loan_amount": 1000, "disbursement_date": "2026-09-01", "maturity_date": "2026-09-10",
                 "loan_term_days": 9, "channel": "Agent", "status": "Active"},
            ],
            "loan_schedules": [
                {"loan_id": "L1", "installment_number": n, "due_date": due, "principal_due": "1000.00",
                 "interest_due": "10.00", "fee_due": "10.00", "total_due": "1020.00"}
                for n, due in ((1, "2026-08-15"), (2, "2026-08-25"), (3, "2026-09-05"))
            ],
            "repayments": [
                {"repayment_id": "R1", "loan_id": "L1", "payment_date": "2026-08-15", "payment_amount": "1020.00",
                 "principal_paid": "1000.00", "interest_paid": "10.00", "fees_paid": "10.00", "penalty_paid": "0",
                 "payment_method": "Cash", "is_reversed": False},
                {"repayment_id": "R2", "loan_id": "L1", "payment_date": "2026-08-30", "payment_amount": "1020.00",
                 "principal_paid": "1000.00", "interest_paid": "10.00", "fees_paid": "10.00",
                 "payment_method": "Transfer", "is_reversed": False},
            ],
        },
        "metadata": {"source_system": "core", "etl_version": "1.0.0"},
    }


async def counts(db) -> dict[str, int]:
    async with db.raw_reader() as conn:
        return {table: await conn.fetchval(f"SELECT count(*) FROM {table}") for table in COUNTED}


async def loan(db, loan_id: str):
    async with db.raw_reader() as conn:
        return await conn.fetchrow("SELECT * FROM loans WHERE loan_id = $1", loan_id)


async def test_first_sync_inserts_everything_with_computed_fields(client, app, db):
    response = await client.post(SYNC, json=small_book(), headers=bearer(app, "etl"))
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "success"
    assert body["errors"] == []
    assert body["results"] == {
        "officers": {"inserted": 2, "updated": 0, "unchanged": 0, "failed": 0},  # OF2 created from loan L2
        "customers": {"inserted": 2, "updated": 0, "unchanged": 0, "failed": 0},
        "loans": {"inserted": 2, "updated": 0, "unchanged": 0, "failed": 0},
        "loan_schedules": {"inserted": 3, "updated": 0, "unchanged": 0, "failed": 0},
        "repayments": {"inserted": 2, "updated": 0, "unchanged": 0, "failed": 0},
    }
    assert body["computed_fields_updated"]["loans_affected"] == 2
    assert set(body) == {"status", "sync_id", "timestamp", "results", "errors", "computed_fields_updated"}
    assert await counts(db) == {"officers": 2, "customers": 2, "loans": 2, "loan_schedule": 3, "repayments": 2,
                                "loan_state": 2}
    l1 = await loan(db, "L1")
    # installments 1 and 2 paid; 3 (due 2026-09-05) unpaid: DPD on 2026-09-18 = 13
    assert l1["current_dpd"] == 13
    assert l1["total_outstanding"] == Decimal("1020.00")
    assert l1["principal_outstanding"] == Decimal("1000.00")
    assert l1["total_principal_paid"] == Decimal("2000.00")
    assert l1["first_payment_missed"] is False
    assert l1["early_indicator_tagged"] is False
    l2 = await loan(db, "L2")
    # bullet loan, no rate: 1000 due 2026-09-10, unpaid: DPD 8, first payment missed
    assert (l2["current_dpd"], l2["fimr_tagged"], l2["first_payment_due_date"].isoformat()) == (8, True, "2026-09-10")
    async with db.raw_reader() as conn:
        officer = await conn.fetchrow("SELECT * FROM officers WHERE officer_id = 'OF2'")
        statuses = [r["payment_status"] for r in await conn.fetch(
            "SELECT payment_status FROM loan_schedule WHERE loan_id = 'L1' ORDER BY installment_number")]
    assert (officer["officer_name"], officer["officer_phone"], officer["branch"]) == ("Dayo", "+234", "Gamma")
    assert statuses == ["Paid", "Paid", "Overdue"]


async def test_same_batch_twice_changes_nothing(client, app, db):
    headers = bearer(app, "etl")
    assert (await client.post(SYNC, json=small_book(), headers=headers)).status_code == 200
    before = await counts(db)
    again = await client.post(SYNC, json=small_book(), headers=headers)
    assert again.status_code == 200
    results = again.json()["results"]
    assert all(r["inserted"] == 0 and r["updated"] == 0 and r["failed"] == 0 for r in results.values())
    assert results["loans"]["unchanged"] == 2
    assert results["loan_schedules"]["unchanged"] == 3
    assert again.json()["computed_fields_updated"]["loans_affected"] == 0
    assert await counts(db) == before


async def test_partial_batch_reports_exactly_the_invalid_records(client, app, db):
    book = small_book()
    data = book["data"]
    data["repayments"].append({  # components do not add up
        "repayment_id": "R3", "loan_id": "L1", "payment_date": "2026-09-01", "payment_amount": "50.00",
        "principal_paid": "10.00", "interest_paid": "0", "fees_paid": "0", "payment_method": "Cash",
        "is_reversed": False})
    data["repayments"].append({  # unknown loan, date after the business date
        "repayment_id": "R4", "loan_id": "NOPE", "payment_date": "2026-10-01", "payment_amount": "1.00",
        "principal_paid": "1.00", "interest_paid": "0", "fees_paid": "0", "payment_method": "Cash",
        "is_reversed": False})
    data["loans"].append({**data["loans"][0], "loan_id": "L3", "loan_amount": "-5", "status": "Closed"})
    response = await client.post(SYNC, json=book, headers=bearer(app, "admin"))
    assert response.status_code == 207
    body = response.json()
    assert body["status"] == "partial_success"
    errors = {(e["entity_type"], e["entity_id"], e["field"], e["error_code"]) for e in body["errors"]}
    assert errors == {
        ("repayment", "R3", "data.repayments[2].payment_amount", "AMOUNT_MISMATCH"),
        ("repayment", "R4", "data.repayments[3].payment_date", "FUTURE_DATE"),
        ("loan", "L3", "data.loans[2].loan_amount", "NEGATIVE_AMOUNT"),
    }
    assert all(e["error_message"] for e in body["errors"])
    assert body["results"]["repayments"] == {"inserted": 2, "updated": 0, "unchanged": 0, "failed": 2}
    assert body["results"]["loans"] == {"inserted": 2, "updated": 0, "unchanged": 0, "failed": 1}
    assert await counts(db) == {"officers": 2, "customers": 2, "loans": 2, "loan_schedule": 3, "repayments": 2,
                                "loan_state": 2}
    assert (await loan(db, "L1"))["current_dpd"] == 13


async def test_cross_record_rules_and_conflicting_duplicates(client, app, db):
    book = small_book()
    data = book["data"]
    bad_row = dict(data["loan_schedules"][1], due_date="2026-07-01")  # before disbursement
    data["loan_schedules"][1] = bad_row
    data["repayments"].append(dict(data["repayments"][0], payment_amount="1020.00", payment_method="Card"))
    data["repayments"].append({  # reversed without a reason
        "repayment_id": "R9", "loan_id": "L2", "payment_date": "2026-09-02", "payment_amount": "10.00",
        "principal_paid": "10.00", "interest_paid": "0", "fees_paid": "0", "payment_method": "Cash",
        "is_reversed": True, "reversal_date": "2026-09-01"})
    data["customers"].append(dict(data["customers"][0]))  # identical copy: merged, not an error
    response = await client.post(SYNC, json=book, headers=bearer(app, "etl"))
    assert response.status_code == 207
    errors = sorted((e["entity_id"], e["field"], e["error_code"]) for e in response.json()["errors"])
    assert errors == sorted([
        ("L1#2", "data.loan_schedules[1].due_date", "DUE_BEFORE_DISBURSEMENT"),
        ("L1#1", "data.loan_schedules[0]", "SCHEDULE_INCOMPLETE"),
        ("L1#3", "data.loan_schedules[2]", "SCHEDULE_INCOMPLETE"),
        ("R1", "data.repayments[0]", "DUPLICATE_CONFLICT"),
        ("R1", "data.repayments[2]", "DUPLICATE_CONFLICT"),
        ("R9", "data.repayments[3].reversal_date", "DATE_ORDER"),
        ("R9", "data.repayments[3].reversal_reason", "MISSING_REVERSAL_REASON"),
    ])
    results = response.json()["results"]
    assert results["customers"] == {"inserted": 2, "updated": 0, "unchanged": 0, "failed": 0}
    assert results["loan_schedules"]["failed"] == 3
    assert (await counts(db))["loan_schedule"] == 0
    # L1 now has no schedule rows: one implied bullet installment due at maturity 2026-09-05,
    # and R2 (2026-08-30) is its only counted repayment.
    l1 = await loan(db, "L1")
    assert l1["first_payment_due_date"].isoformat() == "2026-09-05"
    assert l1["total_principal_paid"] == Decimal("1000.00")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"{not json", None),
        (b"[]", None),
        (orjson.dumps({"data": []}), "data"),
        (orjson.dumps({"data": {"loans": {}}}), "data.loans"),
        (orjson.dumps({"data": {"widgets": []}}), "data.widgets"),
        (orjson.dumps({"sync_type": "sometimes", "data": {}}), "sync_type"),
    ],
)
async def test_malformed_body_is_400(client, app, db, body, field):
    response = await client.post(SYNC, content=body, headers=bearer(app, "etl"))
    assert response.status_code == 400
    payload = response.json()
    assert payload["success"] is False
    assert payload["error"]["code"] == "VALIDATION_ERROR"
    assert (payload["error"]["details"] or {}).get("field") == field
    assert (await counts(db))["loans"] == 0


async def test_record_type_errors_carry_field_paths(client, app, db):
    book = {"data": {"loans": [
        "not an object",
        {"loan_id": 7, "customer_id": "C", "customer_name": "x", "officer_id": "O", "officer_name": "y",
         "region": "r", "branch": "b", "loan_amount": "1.005", "disbursement_date": "18/09/2026",
         "maturity_date": "2026-09-30", "loan_term_days": "30", "channel": "Agent", "status": "Active"},
    ]}}
    response = await client.post(SYNC, json=book, headers=bearer(app, "etl"))
    assert response.status_code == 207
    found = {(e["field"], e["error_code"]) for e in response.json()["errors"]}
    assert found == {
        ("data.loans[0]", "INVALID_RECORD"),
        ("data.loans[1].loan_id", "INVALID_TYPE"),
        ("data.loans[1].loan_amount", "NOT_WHOLE_CENTS"),
        ("data.loans[1].disbursement_date", "INVALID_DATE"),
        ("data.loans[1].loan_term_days", "INVALID_TYPE"),
    }


async def test_too_many_records_is_413(app, db):
    import httpx

    from loanmetrics.application import create_application
    from loanmetrics.graph.app import create_app
    from tests.conftest import make_settings

    small = create_application(make_settings(app.settings.database_url, max_batch_records=5, max_body_bytes=4096))
    small.database = app.database
    transport = httpx.ASGITransport(app=create_app(small))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        too_many = await http.post(SYNC, json=small_book(), headers=bearer(app, "etl"))
        assert too_many.status_code == 413
        assert too_many.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"
        big = {"data": {"officers": [{"officer_id": "X", "officer_name": "x" * 5000, "region": "r", "branch": "b"}]}}
        too_big = await http.post(SYNC, json=big, headers=bearer(app, "etl"))
        assert too_big.status_code == 413
    assert (await counts(db))["officers"] == 0


async def test_auth_401_and_403_before_the_body_is_read(client, app, db):
    no_token = await client.post(SYNC, content=b"{not json")
    assert no_token.status_code == 401
    assert no_token.json()["error"]["code"] == "UNAUTHENTICATED"
    bad_token = await client.post(SYNC, json=small_book(), headers={"Authorization": "Bearer nonsense"})
    assert bad_token.status_code == 401
    for role in ("viewer", "auditor"):
        forbidden = await client.post(SYNC, content=b"{not json", headers=bearer(app, role))
        assert forbidden.status_code == 403
        assert forbidden.json()["error"]["code"] == "FORBIDDEN"
    assert (await counts(db))["loans"] == 0
    assert (await client.get("/healthz")).status_code == 200


async def test_reversal_restores_balances_and_dpd(client, app, db):
    headers = bearer(app, "etl")
    book = small_book()
    assert (await client.post(SYNC, json=book, headers=headers)).status_code == 200
    reversal = copy.deepcopy(book["data"]["repayments"][1])  # R2 settled installment 2
    reversal.update(is_reversed=True, reversal_date="2026-09-02", reversal_reason="cheque bounced")
    response = await client.post(SYNC, json={"data": {"repayments": [reversal]}}, headers=headers)
    assert response.status_code == 200
    assert response.json()["results"]["repayments"] == {"inserted": 0, "updated": 1, "unchanged": 0, "failed": 0}
    l1 = await loan(db, "L1")
    # installment 2 (due 2026-08-25) is unpaid again: DPD = 2026-09-18 - 2026-08-25 = 24
    assert l1["current_dpd"] == 24
    assert l1["max_dpd_ever"] == 24
    assert l1["total_outstanding"] == Decimal("2040.00")
    assert l1["total_principal_paid"] == Decimal("1000.00")
    async with db.raw_reader() as conn:
        row = await conn.fetchrow("SELECT * FROM loan_schedule WHERE loan_id = 'L1' AND installment_number = 2")
    assert (row["payment_status"], row["amount_paid"], row["payment_date"]) == ("Overdue", Decimal("0.00"), None)


async def test_new_schedule_replaces_the_old_one(client, app, db):
    headers = bearer(app, "etl")
    assert (await client.post(SYNC, json=small_book(), headers=headers)).status_code == 200
    restructured = [  # two installments instead of three; the second falls due later
        {"loan_id": "L1", "installment_number": 1, "due_date": "2026-08-15", "principal_due": "1000.00",
         "interest_due": "10.00", "fee_due": "10.00", "total_due": "1020.00"},
        {"loan_id": "L1", "installment_number": 2, "due_date": "2026-09-15", "principal_due": "2000.00",
         "interest_due": "20.00", "fee_due": "20.00", "total_due": "2040.00"},
    ]
    response = await client.post(SYNC, json={"data": {"loan_schedules": restructured}}, headers=headers)
    assert response.status_code == 200
    assert response.json()["results"]["loan_schedules"] == {"inserted": 0, "updated": 1, "unchanged": 1, "failed": 0}
    async with db.raw_reader() as conn:
        rows = await conn.fetch("SELECT * FROM loan_schedule WHERE loan_id = 'L1' ORDER BY installment_number")
    assert [r["installment_number"] for r in rows] == [1, 2]
    # paid 2040 covers 1020 + 1020 of the 2040 second installment: partial, overdue since 2026-09-15
    assert [(r["payment_status"], r["amount_paid"]) for r in rows] == [
        ("Paid", Decimal("1020.00")), ("Overdue", Decimal("1020.00"))]
    assert (await loan(db, "L1"))["current_dpd"] == 3


async def test_failure_mid_batch_leaves_nothing(app, db):
    from loanmetrics.db.ingestion.payload import payload_from_document
    from loanmetrics.db.ingestion.service import ingest
    from tests.conftest import BUSINESS_DATE

    async def explode(stage: str) -> None:
        if stage == "loan_schedules":
            raise RuntimeError("connection lost (simulated)")

    with pytest.raises(RuntimeError, match="simulated"):
        await ingest(db, payload_from_document(small_book(), max_records=100), BUSINESS_DATE, checkpoint=explode)
    assert await counts(db) == dict.fromkeys(COUNTED, 0)
    async with db.raw_reader() as conn:
        assert await conn.fetchval("SELECT count(*) FROM metric_dirty") == 0
    # the client retries the same batch: everything lands once
    result = await ingest(db, payload_from_document(small_book(), max_records=100), BUSINESS_DATE)
    assert result.http_status == 200
    assert (await counts(db))["repayments"] == 2


async def test_concurrent_batches_on_the_same_loans_queue_without_deadlock(client, app, db):
    import asyncio

    headers = bearer(app, "etl")
    assert (await client.post(SYNC, json=small_book(), headers=headers)).status_code == 200
    third = {"repayment_id": "R3", "loan_id": "L1", "payment_date": "2026-09-10", "payment_amount": "1020.00",
             "principal_paid": "1000.00", "interest_paid": "10.00", "fees_paid": "10.00",
             "payment_method": "Cash", "is_reversed": False}
    bullet = {"repayment_id": "R4", "loan_id": "L2", "payment_date": "2026-09-12", "payment_amount": "1000.00",
              "principal_paid": "1000.00", "interest_paid": "0", "fees_paid": "0", "payment_method": "Cash",
              "is_reversed": False}
    restructure = {"loan_schedules": [
        {"loan_id": "L1", "installment_number": n, "due_date": due, "principal_due": "750.00",
         "interest_due": "7.50", "fee_due": "7.50", "total_due": "765.00"}
        for n, due in ((1, "2026-08-15"), (2, "2026-08-25"), (3, "2026-09-05"), (4, "2026-09-15"))]}
    batches = [{"data": {"repayments": [third, bullet]}}, {"data": restructure}] * 3
    responses = await asyncio.gather(*(client.post(SYNC, json=b, headers=headers) for b in batches))
    assert [r.status_code for r in responses] == [200] * 6
    l1, l2 = await loan(db, "L1"), await loan(db, "L2")
    # L1: 3060 paid against four installments of 765 -> all four settled, nothing outstanding
    assert (l1["current_dpd"], l1["total_outstanding"]) == (0, Decimal("0.00"))
    assert (l2["current_dpd"], l2["total_outstanding"]) == (0, Decimal("0.00"))
    assert (await counts(db))["repayments"] == 4


async def test_nul_characters_in_text_are_rejected_with_their_path(client, app, db):
    book = small_book()
    book["data"]["customers"][0]["customer_name"] = "Bo\x00la"
    response = await client.post(SYNC, json=book, headers=bearer(app, "etl"))
    assert response.status_code == 207
    assert [(e["entity_id"], e["field"], e["error_code"]) for e in response.json()["errors"]] == [
        ("C1", "data.customers[0].customer_name", "INVALID_TEXT")]
    async with db.raw_reader() as conn:  # the loan still creates its minimal customer, with a clean name
        assert await conn.fetchval("SELECT customer_name FROM customers WHERE customer_id = 'C1'") == "Bola"


async def test_a_later_disbursement_date_must_not_strand_stored_records(client, app, db):
    headers = bearer(app, "etl")
    assert (await client.post(SYNC, json=small_book(), headers=headers)).status_code == 200
    stored = await loan(db, "L1")
    # L1's stored repayments are dated 2026-08-15 and 2026-08-30: moving disbursement past them is refused
    moved = {"data": {"loans": [dict(small_book()["data"]["loans"][0], disbursement_date="2026-08-20")]}}
    response = await client.post(SYNC, json=moved, headers=headers)
    assert response.status_code == 207
    [error] = response.json()["errors"]
    assert (error["entity_id"], error["field"], error["error_code"]) == (
        "L1", "data.loans[0].disbursement_date", "DISBURSEMENT_AFTER_RECORDS")
    assert "2026-08-15" in error["error_message"]
    assert (await loan(db, "L1"))["disbursement_date"] == stored["disbursement_date"]
    # re-sending the early repayment with a later date in the same batch makes the move valid,
    # but the stored installments (due 2026-08-15 onward) still stand in the way until replaced
    book = small_book()
    book["data"]["loans"] = [dict(book["data"]["loans"][0], disbursement_date="2026-08-14")]
    book["data"]["repayments"] = []
    book["data"]["loan_schedules"] = []
    moved_a_day = await client.post(SYNC, json=book, headers=headers)
    assert moved_a_day.status_code == 200
    assert (await loan(db, "L1"))["disbursement_date"].isoformat() == "2026-08-14"
    book["data"]["loans"] = [dict(book["data"]["loans"][0], disbursement_date="2026-08-16")]
    book["data"]["repayments"] = [dict(small_book()["data"]["repayments"][0], payment_date="2026-08-16")]
    blocked = await client.post(SYNC, json=book, headers=headers)
    assert blocked.status_code == 207
    [error] = blocked.json()["errors"]
    assert (error["error_code"], "2026-08-15" in error["error_message"]) == ("DISBURSEMENT_AFTER_RECORDS", True)
    assert "installment" in error["error_message"]
    # the repayment itself is checked against the stored disbursement date and accepted
    assert blocked.json()["results"]["repayments"]["updated"] == 1


async def test_a_schedule_that_only_loses_rows_is_seen_by_the_next_read(client, app, db):
    headers = bearer(app, "etl")
    assert (await client.post(SYNC, json=small_book(), headers=headers)).status_code == 200
    query = {"query": '{ loan(loanId: "L1") { totalOutstanding schedule { installmentNumber } } }'}
    reader = bearer(app, "admin")
    first = (await client.post("/graphql", json=query, headers=reader)).json()["data"]["loan"]
    assert [row["installmentNumber"] for row in first["schedule"]] == [1, 2, 3]
    shorter = {"data": {"loan_schedules": small_book()["data"]["loan_schedules"][:2]}}
    response = await client.post(SYNC, json=shorter, headers=headers)
    assert response.status_code == 200
    assert response.json()["results"]["loan_schedules"] == {"inserted": 0, "updated": 0, "unchanged": 2, "failed": 0}
    assert response.json()["computed_fields_updated"]["loans_affected"] == 1
    second = (await client.post("/graphql", json=query, headers=reader)).json()["data"]["loan"]
    assert [row["installmentNumber"] for row in second["schedule"]] == [1, 2]
    # principal stays loan_amount - paid (3000 - 2000); interest and fees due drop to what the two
    # paid installments carried (20 + 20), all paid: total_out 1000 + 10 + 10 before, 1000 after
    assert (first["totalOutstanding"], second["totalOutstanding"]) == (1020.0, 1000.0)


BIG = "100000000000000000000000000000"


@pytest.mark.parametrize("value", [BIG, "-" + BIG, "1e400", "-1e400"])
async def test_huge_numbers_in_the_envelope_are_400_naming_the_field(client, app, db, value):
    loan = orjson.dumps(small_book()["data"]["loans"][1]).decode()
    body = f'{{"data": {{"loans": [{loan}]}}, "sync_type": {value}}}'
    response = await client.post(SYNC, content=body.encode(), headers=bearer(app, "etl"))
    assert response.status_code == 400, response.text
    assert response.json()["error"]["details"]["field"] == "sync_type"
    assert (await counts(db))["loans"] == 0


@pytest.mark.parametrize(("name", "value", "code"), [
    ("loan_amount", BIG, "AMOUNT_TOO_LARGE"), ("loan_amount", "1e400", "AMOUNT_TOO_LARGE"),
    ("loan_amount", "-1e400", "NEGATIVE_AMOUNT"), ("loan_term_days", BIG, "OUT_OF_RANGE"),
    ("loan_term_days", "1e400", "INVALID_TYPE"), ("interest_rate", BIG, "INVALID_RATE"),
    ("interest_rate", "1e400", "INVALID_RATE"), ("loan_id", BIG, "INVALID_TYPE"),
])
async def test_huge_numbers_in_a_record_are_rejected_with_their_path(client, app, db, name, value, code):
    loan = dict(small_book()["data"]["loans"][1], **{name: "PLACEHOLDER"})
    body = orjson.dumps({"data": {"loans": [loan]}}).replace(b'"PLACEHOLDER"', value.encode())
    response = await client.post(SYNC, content=body, headers=bearer(app, "etl"))
    assert response.status_code == 207, response.text
    assert [(e["field"], e["error_code"]) for e in response.json()["errors"]] == [(f"data.loans[0].{name}", code)]
    assert (await counts(db))["loans"] == 0
