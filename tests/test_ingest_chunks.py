"""Chunked ingestion: checking chunk k+1 while chunk k is written gives exactly the unchunked result.

The example book, with invalid records planted across its lists, is ingested with chunks of 1,
7 and 1,000,000 records: response bodies (errors in the same order) and every stored row must
be identical.
"""

from __future__ import annotations

import copy
import random
from decimal import Decimal
from typing import Any

import asyncpg
import orjson

from loanmetrics.db.engine import Database
from loanmetrics.db.ingestion.payload import payload_from_document
from loanmetrics.db.ingestion.service import ingest
from loanmetrics.db.ingestion.validation import ValidatedBatch, chunks
from tests.conftest import BUSINESS_DATE, TRUNCATE

CHUNK_SIZES = (1, 7, 1_000_000)
VOLATILE = {"id", "created_at", "updated_at", "sync_id", "captured_at"}
TABLES = {
    name: f"SELECT to_jsonb(t) AS row FROM {name} t"
    for name in ("officers", "customers", "loans", "loan_schedule", "repayments", "loan_state", "loan_state_prior",
                 "loan_tag_counts")
}
# each statement notes the groups it dirtied; what the recalculation reads is each group's earliest date
TABLES["metric_dirty"] = (
    "SELECT to_jsonb(t) AS row FROM (SELECT officer_id, branch, region, min(from_date) AS from_date "
    "FROM metric_dirty GROUP BY 1, 2, 3) t"
)


def flawed_book(example: dict[str, Any]) -> dict[str, Any]:
    """The example book with errors of both phases in several chunks of every chunk size."""
    document = copy.deepcopy(example)
    data = document["data"]
    loans, schedules, repayments = data["loans"], data["loan_schedules"], data["repayments"]
    schedules[5]["total_due"] = "-1.00"  # phase one; the rest of that loan's schedule: SCHEDULE_INCOMPLETE
    schedules[40]["due_date"] = "1999-01-01"  # phase two: due before disbursement
    schedules[41]["installment_number"] = "two"  # a type error (phase one)
    schedules.append({**schedules[100], "loan_id": "NO-SUCH-LOAN"})  # phase two: unknown loan
    repayments[3]["payment_date"] = "2026-02-30"  # phase one: no such date
    repayments[500]["payment_date"] = "2000-01-01"  # phase two: before disbursement
    repayments[900]["loan_id"] = "NO-SUCH-LOAN"
    del repayments[901]["is_reversed"]  # phase one: missing field
    loans[3]["loan_amount"] = "0"  # a rejected loan: its schedule rows and repayments are then unknown
    return document


async def _ingest_fresh(db: Database, document: dict[str, Any], size: int) -> tuple[dict[str, Any], dict[str, Any]]:
    async with db.raw_session() as conn:
        await conn.execute(TRUNCATE)
    result = await ingest(db, payload_from_document(copy.deepcopy(document), max_records=1_000_000),
                          BUSINESS_DATE, chunk_records=size)
    body = result.body()
    for key in ("sync_id", "timestamp"):
        body.pop(key)
    body["computed_fields_updated"].pop("computation_time_ms")
    return body, await _snapshot(db)


async def _snapshot(db: Database) -> dict[str, Any]:
    tables: dict[str, Any] = {}
    async with db.raw_reader() as conn:
        for table, query in TABLES.items():
            rows: list[asyncpg.Record] = await conn.fetch(query)
            tables[table] = sorted(
                repr(sorted((k, v) for k, v in orjson.loads(row["row"]).items() if k not in VOLATILE)) for row in rows
            )
    return tables


async def test_chunk_size_changes_nothing(db: Database, example_payload: dict[str, Any]) -> None:
    document = flawed_book(example_payload)
    outcomes = [await _ingest_fresh(db, document, size) for size in CHUNK_SIZES]
    body, state = outcomes[-1]
    codes = {error["error_code"] for error in body["errors"]}
    assert codes >= {"NEGATIVE_AMOUNT", "SCHEDULE_INCOMPLETE", "DUE_BEFORE_DISBURSEMENT", "UNKNOWN_LOAN",
                     "INVALID_DATE", "PAYMENT_BEFORE_DISBURSEMENT", "MISSING_FIELD", "INVALID_AMOUNT"}
    assert body["status"] == "partial_success"
    assert len(state["loans"]) == len(document["data"]["loans"]) - 1
    assert len(state["loan_state"]) == len(state["loans"])
    for other_body, other_state in outcomes[:-1]:
        assert other_body == body
        assert other_state == state


async def test_repeated_keys_are_judged_across_the_whole_list(db: Database, example_payload: dict[str, Any]) -> None:
    document = copy.deepcopy(example_payload)
    repayments = document["data"]["repayments"]
    repayments.append(copy.deepcopy(repayments[10]))  # identical copy: merged into the first
    changed = copy.deepcopy(repayments[20])
    changed["payment_method"] = "Changed"
    repayments.append(changed)  # differing copy: both rejected
    batch = ValidatedBatch.of(payload_from_document(document, max_records=1_000_000))
    assert chunks(batch, "repayments", 7) is None
    outcomes = [await _ingest_fresh(db, document, size) for size in (7, 1_000_000)]
    assert outcomes[0] == outcomes[1]
    body = outcomes[1][0]
    assert [error["error_code"] for error in body["errors"]] == ["DUPLICATE_CONFLICT", "DUPLICATE_CONFLICT"]
    assert body["results"]["repayments"]["failed"] == 2


def test_schedule_chunks_keep_each_loan_whole(example_payload: dict[str, Any]) -> None:
    document = copy.deepcopy(example_payload)
    schedules = document["data"]["loan_schedules"]
    schedules.reverse()  # rows of one loan need not be adjacent
    schedules.insert(17, schedules.pop(0))
    batch = ValidatedBatch.of(payload_from_document(document, max_records=1_000_000))
    planned = chunks(batch, "loan_schedules", 50)
    assert planned is not None
    assert len(planned) > 10
    assert sorted(i for chunk in planned for i in chunk) == list(range(len(schedules)))
    owner: dict[str, int] = {}
    for number, chunk in enumerate(planned):
        for index in chunk:
            assert owner.setdefault(schedules[index]["loan_id"], number) == number
    assert len(planned[0]) >= 50 // 4
    assert all(len(chunk) >= 50 for chunk in planned[1:-1])


def later_repayments(example: dict[str, Any]) -> dict[str, Any]:
    """A second batch for the stored example book: reversals, corrections, a repayment moved to
    another loan and new repayments, shuffled so that most loans' repayments span chunks."""
    data = copy.deepcopy(example["data"])
    disbursed = {loan["loan_id"]: loan["disbursement_date"] for loan in data["loans"]}
    out: list[dict[str, Any]] = []
    for n, payment in enumerate(data["repayments"]):
        if n % 5 == 0:  # reversed (the same id re-sent)
            out.append(dict(payment, is_reversed=True, reversal_date=BUSINESS_DATE.isoformat(),
                            reversal_reason="cheque bounced"))
        elif n % 7 == 0:  # corrected amount: the principal doubles
            principal = Decimal(payment["principal_paid"]) * 2
            total = principal + Decimal(payment["interest_paid"]) + Decimal(payment["fees_paid"]) + Decimal(
                payment["penalty_paid"] or 0)
            out.append(dict(payment, principal_paid=str(principal), payment_amount=str(total)))
        elif n % 11 == 0:  # a new repayment on the business date
            out.append(dict(payment, repayment_id=f"{payment['repayment_id']}-B",
                            payment_date=BUSINESS_DATE.isoformat(), is_reversed=False, reversal_date=None,
                            reversal_reason=None))
        elif n % 13 == 0:  # moved to the earliest-disbursed loan it cannot precede
            target = min((loan_id for loan_id, day in disbursed.items()
                          if day <= payment["payment_date"] and loan_id != payment["loan_id"]), default=None)
            if target is not None:
                out.append(dict(payment, loan_id=target))
    random.Random(7).shuffle(out)
    return {"data": {"repayments": out}}


async def test_chunked_repayments_on_stored_loans_change_nothing(db: Database, example_payload: dict[str, Any]) -> None:
    """Each repayment chunk's statement also finishes the loans no later chunk names (before-image,
    payments pass, as-of fields): any chunk size leaves the same rows, before-images included."""
    later = later_repayments(example_payload)
    outcomes = []
    for size in CHUNK_SIZES:
        await _ingest_fresh(db, example_payload, 1_000_000)
        result = await ingest(db, payload_from_document(copy.deepcopy(later), max_records=1_000_000),
                              BUSINESS_DATE, chunk_records=size)
        assert result.errors == []
        outcomes.append((result.results, result.loans_affected, await _snapshot(db)))
    results, affected, state = outcomes[-1]
    assert results["repayments"]["updated"] > 100
    assert results["repayments"]["inserted"] > 50
    assert affected > 100
    for other in outcomes[:-1]:
        assert other == (results, affected, state)
