"""Property tests: the SQL loan state agrees with the Python reference to the cent (SPEC §5.1-5.3, 5.8)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import asyncpg
from hypothesis import HealthCheck, given, settings

from loanmetrics.calculators import loan_state as ref
from loanmetrics.calculators.book import Book
from loanmetrics.db import loan_state
from loanmetrics.db.engine import Database
from loanmetrics.db.ingestion.payload import payload_from_document
from loanmetrics.db.ingestion.service import ingest
from tests.conftest import TRUNCATE
from tests.strategies import BUSINESS_DATE, loan_books

LOAN_FIELDS = (
    "current_dpd", "max_dpd_ever", "first_payment_missed", "first_payment_due_date",
    "first_payment_received_date", "principal_outstanding", "interest_outstanding", "fees_outstanding",
    "total_outstanding", "total_principal_paid", "total_interest_paid", "total_fees_paid", "fimr_tagged",
    "early_indicator_tagged",
)
PROBE_OFFSETS = (-130, -60, -21, -7, -3, -1, 0, 5)

# DPD, the settlement level and total_out on arbitrary dates, read from loan_state the way the
# metric engine reads it.
ON_DATES = """
SELECT st.loan_id, d.day,
       lm_dpd(st.settle_thresholds, st.suffix_min_due, lm_paid_c(st.pay_dates, st.pay_cum, d.day), d.day) AS dpd,
       lm_total_out_c(st.principal_c, st.interest_due_c, st.fee_due_c, st.pay_cum_principal,
                      st.pay_cum_interest, st.pay_cum_fees, lm_pay_index(st.pay_dates, d.day)) AS total_out_c
FROM loan_state st CROSS JOIN unnest($1::date[]) AS d(day)
"""


async def _ingest_batches(database: Database, batches: list[dict[str, Any]]) -> None:
    async with database.raw_transaction() as conn:
        await conn.execute(TRUNCATE)
    for batch in batches:
        result = await ingest(database, payload_from_document(batch, max_records=10_000), BUSINESS_DATE)
        assert result.errors == [], result.errors


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=loan_books())
async def test_sql_loan_state_matches_reference(db: Database, batches: list[dict[str, Any]]) -> None:
    await _ingest_batches(db, batches)
    book = Book.from_payloads(batches)
    async with db.raw_reader() as conn:
        loans = {row["loan_id"]: row for row in await conn.fetch("SELECT * FROM loans")}
        rows = await conn.fetch("SELECT * FROM loan_schedule ORDER BY loan_id, installment_number")
        probes = [BUSINESS_DATE + timedelta(days=n) for n in PROBE_OFFSETS]
        on_dates = await conn.fetch(ON_DATES, probes)
    assert set(loans) == set(book.loans)
    for loan_id in book.loans:
        expected = ref.loan_fields(book, loan_id, BUSINESS_DATE)
        got = {name: loans[loan_id][name] for name in LOAN_FIELDS}
        assert got == {name: getattr(expected, name) for name in LOAN_FIELDS}, loan_id
    _assert_schedule(book, rows)
    _assert_on_dates(book, on_dates)
    await assert_tag_counts(db)
    async with db.raw_transaction() as conn:  # the daily refresh moves tags with the calendar
        await loan_state.refresh_for_date(conn, BUSINESS_DATE + timedelta(days=9))
    await assert_tag_counts(db)


TAG_COUNTS = """
SELECT officer_id, branch, region, count(*) FILTER (WHERE fimr_tagged) AS fimr_count,
       count(*) FILTER (WHERE early_indicator_tagged) AS early_count
FROM loans GROUP BY officer_id, branch, region
"""


async def assert_tag_counts(database: Database) -> None:
    """loan_tag_counts equals a count of the loans (groups with no tagged loan may be absent or 0)."""
    async with database.raw_reader() as conn:
        want = {(r["officer_id"], r["branch"], r["region"]): (r["fimr_count"], r["early_count"])
                for r in await conn.fetch(TAG_COUNTS)}
        kept = {(r["officer_id"], r["branch"], r["region"]): (r["fimr_count"], r["early_count"])
                for r in await conn.fetch("SELECT * FROM loan_tag_counts")}
    assert {k: v for k, v in kept.items() if v != (0, 0)} == {k: v for k, v in want.items() if v != (0, 0)}


def _assert_schedule(book: Book, rows: list[asyncpg.Record]) -> None:
    stored = {(row["loan_id"], row["installment_number"]): row for row in rows}
    for loan_id in book.loans:
        history = ref.loan_history(book, loan_id)
        if not history.rows:
            continue
        for state in ref.schedule_state(history, BUSINESS_DATE):
            row = stored[(loan_id, state.installment_number)]
            got = (row["amount_paid"], row["payment_date"], row["payment_status"], row["cumulative_due"])
            want = (state.amount_paid, state.payment_date, state.payment_status, state.cumulative_due)
            assert got == want, (loan_id, state.installment_number)


def _assert_on_dates(book: Book, on_dates: list[asyncpg.Record]) -> None:
    histories = ref.loan_histories(book)
    for row in on_dates:
        history = histories[row["loan_id"]]
        assert row["dpd"] == ref.dpd(history, row["day"]), (row["loan_id"], row["day"])
        assert Decimal(row["total_out_c"]) / 100 == ref.total_out(history, row["day"]), (row["loan_id"], row["day"])
