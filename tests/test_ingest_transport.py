"""The writer's transport and write paths: records reach PostgreSQL exactly, new and stored keys alike.

A batch's records travel as one JSON array of arrays (column order) read by position from jsonb;
new keys are inserted plainly and stored ones rewritten only when a field differs. These tests pin
the edge values of that transport (NULLs, absent optional fields, escapes, non-ASCII text, the
largest amounts and counts) and the counts and stored rows when one statement holds both kinds.
"""

from __future__ import annotations

import copy
from datetime import date
from decimal import Decimal
from typing import Any, get_type_hints

import pytest

from loanmetrics.db.engine import Database
from loanmetrics.db.ingestion import records as record_types
from loanmetrics.db.ingestion.writer import ENTITY_COLUMNS, Rows
from tests.conftest import bearer
from tests.test_etl_http import SYNC, loan, small_book

TYPES = {
    "officers": record_types.OfficerRecord,
    "customers": record_types.CustomerRecord,
    "loans": record_types.LoanRecord,
    "loan_schedules": record_types.ScheduleRecord,
    "repayments": record_types.RepaymentRecord,
}
AWKWARD_TEXT = ["tab\there", "new\nline", "carriage\rreturn", "back\\slash", "\\N", "\\.", '"quoted"', "it's",
                "null", "", "  spaces  ", "Ọ̀yọ́ — ₦ 漢字 🙂", "{\"json\": [1, 2]}", "a" * 1000]


def test_every_record_field_is_a_column() -> None:
    """The document is built by column position: a record field without a column would be lost,
    and the one-call path for complete records needs exactly the columns' fields."""
    for entity, columns in ENTITY_COLUMNS.items():
        assert set(get_type_hints(TYPES[entity])) == set(columns.names), entity
        assert len(columns.names) == len(set(columns.names)), entity


def _repayment(repayment_id: str, **fields: Any) -> dict[str, Any]:
    record = {
        "repayment_id": repayment_id, "loan_id": "L1", "payment_date": date(2026, 8, 15),
        "payment_amount": Decimal("9999999999999.99"), "principal_paid": Decimal("9999999999999.99"),
        "interest_paid": Decimal("0"), "fees_paid": Decimal("0.00"), "payment_method": "Cash", "is_reversed": False,
    }
    record.update(fields)
    return record


async def _read_back(db: Database, entity: str, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    columns = ENTITY_COLUMNS[entity]
    async with db.raw_reader() as conn:
        rows = await conn.fetch(f"SELECT * FROM ({columns.incoming()}) AS r", Rows.of(entity, records).document)
    return [dict(row) for row in rows]


async def test_text_values_arrive_exactly(db: Database) -> None:
    sent = [_repayment(f"R{n}", payment_reference=text, reversal_reason=text, waiver_type=None)
            for n, text in enumerate(AWKWARD_TEXT)]
    got = await _read_back(db, "repayments", sent)
    assert [(row["payment_reference"], row["reversal_reason"], row["waiver_type"]) for row in got] == [
        (text, text, None) for text in AWKWARD_TEXT]


async def test_absent_and_null_optional_fields(db: Database) -> None:
    complete = _repayment("FULL", penalty_paid=Decimal("0.01"), payment_reference="REF", payment_channel="Mobile",
                          dpd_at_payment=2_000_000_000, is_backdated=True, reversal_date=date(2026, 8, 16),
                          reversal_reason="bounced", waiver_amount=Decimal("12.30"), waiver_type="Fee",
                          waiver_approved_by="M1")
    sparse = _repayment("SPARSE")  # optional fields absent: null, is_backdated takes its default
    nulls = _repayment("NULLS", penalty_paid=None, is_backdated=None, dpd_at_payment=None, waiver_amount=None)
    got = {row["repayment_id"]: row for row in await _read_back(db, "repayments", [complete, sparse, nulls])}
    assert got["FULL"] == complete
    for key in ("SPARSE", "NULLS"):
        assert got[key]["is_backdated"] is False
        assert [got[key][name] for name in ("penalty_paid", "dpd_at_payment", "reversal_date", "waiver_amount",
                                            "payment_reference")] == [None] * 5


async def test_amounts_dates_and_counts_keep_their_values(db: Database) -> None:
    loans = [{
        "loan_id": "L-édge", "customer_id": "C\t1", "customer_name": "Ada \"Lovelace\"", "officer_id": "O\\1",
        "officer_name": "Ọ̀ṣun", "region": "North", "branch": "Alpha", "loan_amount": Decimal("9999999999999.99"),
        "disbursement_date": date(2020, 2, 29), "maturity_date": date(2099, 12, 31), "loan_term_days": 2_000_000_000,
        "interest_rate": Decimal("999.12345678"), "fee_amount": Decimal("1E+2"), "channel": "Agent",
        "status": "Closed", "closed_date": date(2021, 1, 1),
    }]
    got = await _read_back(db, "loans", loans)
    assert got == [{name: loans[0].get(name) for name in ENTITY_COLUMNS["loans"].names}]
    assert got[0]["fee_amount"] == Decimal("100")
    schedule = [{"loan_id": "L1", "installment_number": 100_000, "due_date": date(2026, 9, 1),
                 "principal_due": Decimal("0.01"), "interest_due": Decimal("0"), "fee_due": Decimal("0.00"),
                 "total_due": Decimal("0.01")}]
    assert await _read_back(db, "loan_schedules", schedule) == schedule


async def test_one_statement_inserts_new_keys_and_rewrites_changed_ones(client, app, db) -> None:
    """Repayments and loans: new, changed and unchanged keys in one batch (and one statement)."""
    headers = bearer(app, "etl")
    book = small_book()
    assert (await client.post(SYNC, json=book, headers=headers)).status_code == 200
    r1, r2 = copy.deepcopy(book["data"]["repayments"])
    r2.update(payment_date="2026-08-20")  # changed: installment 2 is now paid before its due date
    r3 = dict(r1, repayment_id="R3", payment_date="2026-09-05", payment_amount="1020.00")
    l1, l2 = copy.deepcopy(book["data"]["loans"])
    l2.update(officer_name="Dayo Renamed")  # a name only: restates nothing
    l3 = dict(l2, loan_id="L3", customer_id="C3", customer_name="Ebo")
    response = await client.post(SYNC, json={"data": {"loans": [l1, l2, l3], "repayments": [r1, r2, r3]}},
                                 headers=headers)
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert results["repayments"] == {"inserted": 1, "updated": 1, "unchanged": 1, "failed": 0}
    assert results["loans"] == {"inserted": 1, "updated": 1, "unchanged": 1, "failed": 0}
    assert results["customers"]["inserted"] == 1  # C3, named by the new loan
    async with db.raw_reader() as conn:
        payments = {row["repayment_id"]: row["payment_date"] for row in await conn.fetch(
            "SELECT repayment_id, payment_date FROM repayments")}
        names = {row["loan_id"]: row["officer_name"] for row in await conn.fetch("SELECT * FROM loans")}
        schedule = await conn.fetch("SELECT * FROM loan_schedule WHERE loan_id = 'L1' ORDER BY installment_number")
    assert payments == {"R1": date(2026, 8, 15), "R2": date(2026, 8, 20), "R3": date(2026, 9, 5)}
    assert names == {"L1": "Ada", "L2": "Dayo Renamed", "L3": "Dayo Renamed"}
    assert [(row["payment_status"], row["payment_date"]) for row in schedule] == [
        ("Paid", date(2026, 8, 15)), ("Paid", date(2026, 8, 20)), ("Paid", date(2026, 9, 5))]
    assert (await loan(db, "L1"))["total_outstanding"] == Decimal("0.00")
    assert (await loan(db, "L3"))["total_outstanding"] == Decimal("1000.00")


@pytest.mark.parametrize("chunk_records", [1, 1_000])
async def test_a_new_loans_schedule_and_a_restructure_in_one_chunk(client, app, db, chunk_records) -> None:
    """A chunk holding both a loan the batch creates and a stored loan's new schedule."""
    from loanmetrics.db.ingestion.payload import payload_from_document
    from loanmetrics.db.ingestion.service import ingest
    from tests.conftest import BUSINESS_DATE

    headers = bearer(app, "etl")
    book = small_book()
    assert (await client.post(SYNC, json=book, headers=headers)).status_code == 200
    l4 = dict(book["data"]["loans"][0], loan_id="L4")
    rows = [
        {"loan_id": "L4", "installment_number": 1, "due_date": "2026-08-20", "principal_due": "3000.00",
         "interest_due": "0", "fee_due": "0", "total_due": "3000.00"},
        {"loan_id": "L1", "installment_number": 1, "due_date": "2026-08-15", "principal_due": "1000.00",
         "interest_due": "10.00", "fee_due": "10.00", "total_due": "1020.00"},
        {"loan_id": "L1", "installment_number": 2, "due_date": "2026-09-15", "principal_due": "2000.00",
         "interest_due": "20.00", "fee_due": "20.00", "total_due": "2040.00"},
    ]
    document = {"data": {"loans": [l4], "loan_schedules": rows}}
    result = await ingest(db, payload_from_document(document, max_records=100), BUSINESS_DATE,
                          chunk_records=chunk_records)
    assert result.errors == []
    assert result.results["loan_schedules"] == {"inserted": 1, "updated": 1, "unchanged": 1, "failed": 0}
    assert result.results["loans"]["inserted"] == 1
    async with db.raw_reader() as conn:
        stored = [(r["loan_id"], r["installment_number"], r["payment_status"], r["amount_paid"]) for r in
                  await conn.fetch("SELECT * FROM loan_schedule WHERE loan_id IN ('L1', 'L4') "
                                   "ORDER BY loan_id, installment_number")]
        priors = {r["loan_id"]: r["existed"] for r in await conn.fetch("SELECT * FROM loan_state_prior ORDER BY id")}
    assert stored == [("L1", 1, "Paid", Decimal("1020.00")), ("L1", 2, "Overdue", Decimal("1020.00")),
                      ("L4", 1, "Overdue", Decimal("0.00"))]
    assert (priors["L4"], priors["L1"]) == (False, True)
    l4_now = await loan(db, "L4")
    assert (l4_now["current_dpd"], l4_now["total_outstanding"]) == (29, Decimal("3000.00"))


async def test_a_new_loan_whose_schedule_is_rejected_is_still_written(client, app, db) -> None:
    """New loans with schedule rows are written by the schedule statement, with their computed
    fields; one whose rows are all rejected is still written, as a loan without a schedule (its
    implied bullet installment), exactly as if it had been sent without rows."""
    headers = bearer(app, "etl")
    book = small_book()
    l1, l2 = book["data"]["loans"]
    l3 = dict(l1, loan_id="L3")
    rows = [dict(row, loan_id="L3") for row in book["data"]["loan_schedules"]]
    rows[1]["total_due"] = "-1.00"  # rejected: the rest of L3's schedule is then incomplete
    document = {"data": {"loans": [l1, l2, l3], "loan_schedules": [*book["data"]["loan_schedules"], *rows]}}
    response = await client.post(SYNC, json=document, headers=headers)
    assert response.status_code == 207, response.text
    body = response.json()
    assert body["results"]["loans"] == {"inserted": 3, "updated": 0, "unchanged": 0, "failed": 0}
    assert body["results"]["loan_schedules"] == {"inserted": 3, "updated": 0, "unchanged": 0, "failed": 3}
    assert body["computed_fields_updated"]["loans_affected"] == 3
    plain = dict(l1, loan_id="L4")  # the same loan sent without schedule rows
    assert (await client.post(SYNC, json={"data": {"loans": [plain]}}, headers=headers)).status_code == 200
    computed = ("current_dpd", "max_dpd_ever", "first_payment_missed", "first_payment_due_date",
                "principal_outstanding", "interest_outstanding", "fees_outstanding", "total_outstanding",
                "fimr_tagged", "early_indicator_tagged")
    l3_row, l4_row, l1_row = await loan(db, "L3"), await loan(db, "L4"), await loan(db, "L1")
    assert {name: l3_row[name] for name in computed} == {name: l4_row[name] for name in computed}
    # implied interest round2(3000 × 0.10 × 35 / 365) = 28.77, fee 30
    assert l3_row["total_outstanding"] == Decimal("3058.77")
    assert l1_row["total_outstanding"] == Decimal("3060.00")  # its schedule's interest and fees
    async with db.raw_reader() as conn:
        implied = {r["loan_id"]: r["implied"] for r in await conn.fetch("SELECT loan_id, implied FROM loan_state")}
        priors = await conn.fetch("SELECT loan_id, existed FROM loan_state_prior ORDER BY id")
        tags = await conn.fetch("SELECT * FROM loan_tag_counts")
    assert implied == {"L1": False, "L2": True, "L3": True, "L4": True}
    assert sorted((r["loan_id"], r["existed"]) for r in priors) == [
        ("L1", False), ("L2", False), ("L3", False), ("L4", False)]
    assert sum(r["fimr_count"] for r in tags) == sum(
        [l1_row["fimr_tagged"], l3_row["fimr_tagged"], l4_row["fimr_tagged"], (await loan(db, "L2"))["fimr_tagged"]])


def test_every_batch_statement_stays_a_cached_prepared_statement() -> None:
    """asyncpg prepares a statement longer than ``max_cacheable_statement_size`` again on every
    execution: a second round trip, after which the statement waits for the Python work it was
    sent to overlap. Every statement a batch runs must fit."""
    import inspect

    import asyncpg

    from loanmetrics.db import loan_state
    from loanmetrics.db.ingestion import writer

    limit = inspect.signature(asyncpg.connect).parameters["max_cacheable_statement_size"].default
    assert limit == writer.CACHEABLE_STATEMENT_CHARS
    statements = {name: value for module in (writer, loan_state) for name, value in vars(module).items()
                  if name.isupper() and isinstance(value, str)
                  and value.lstrip().upper().startswith(("WITH", "INSERT"))}
    statements.update({f"ALL[{key}]": value for key, value in loan_state.ALL.items()})
    assert "_REPAYMENTS_FINISHING_SQL" in statements
    assert len(statements) > 12
    assert {name: len(sql) for name, sql in statements.items() if len(sql) > limit} == {}


def test_compact_keeps_literals_and_drops_comments() -> None:
    from loanmetrics.db.ingestion.writer import compact

    sql = "SELECT  'a  -- not a comment\n  b', x  -- a comment\n  FROM t -- trailing"
    assert compact(sql) == "SELECT 'a  -- not a comment\n  b', x FROM t"


async def test_a_full_sync_takes_each_before_image_once(client, app, db) -> None:
    """A ``full`` sync rebuilds every loan after its writes; loans whose state the batch's own
    statements already built or finished keep their one before-image (new: none before)."""
    headers = bearer(app, "etl")
    book = small_book()
    book["sync_type"] = "full"
    response = await client.post(SYNC, json=book, headers=headers)
    assert response.status_code == 200, response.text
    async with db.raw_reader() as conn:
        priors = [(r["loan_id"], r["existed"]) for r in await conn.fetch(
            "SELECT loan_id, existed FROM loan_state_prior ORDER BY loan_id, id")]
    assert priors == [("L1", False), ("L2", False)]
    l1_full = await loan(db, "L1")
    # sent again as full: nothing changes, but every loan gets a before-image
    again = await client.post(SYNC, json=book, headers=headers)
    assert again.status_code == 200
    assert again.json()["computed_fields_updated"]["loans_affected"] == 2
    async with db.raw_reader() as conn:
        priors = [(r["loan_id"], r["existed"]) for r in await conn.fetch(
            "SELECT loan_id, existed FROM loan_state_prior ORDER BY loan_id, id")]
    assert priors == [("L1", False), ("L1", True), ("L2", False), ("L2", True)]
    assert await loan(db, "L1") == l1_full
    assert l1_full["total_outstanding"] == Decimal("1020.00")  # 3060 due, two installments paid
