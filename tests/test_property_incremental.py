"""Property test: an incremental run leaves exactly what recomputing every loan would.

Random loan books are calculated on a few dates; then late and corrected records arrive
(repayments, reversals, restructured schedules, closures, a loan moved to another officer and
branch, an officer's channel and float-gap flag, a new backdated loan) and the 15-minute job
brings the dates up to date from before-images and stored fine groups. Every daily row, fine
group, transition and PAR15 snapshot must equal a from-scratch restatement of the same dates.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loanmetrics.db import daily_metrics
from loanmetrics.db import metric_engine as engine
from loanmetrics.db.engine import Database
from loanmetrics.db.ingestion.payload import payload_from_document
from loanmetrics.db.ingestion.service import ingest
from loanmetrics.scheduler.recalculation import recalculate
from tests.strategies import BUSINESS_DATE, CHANNELS, REGIONS, cents, loan_books
from tests.test_property_loan_state import _ingest_batches, assert_tag_counts

OPTIONS = engine.EngineOptions()
CALCULABLE = (BUSINESS_DATE, BUSINESS_DATE - timedelta(days=1), date(2026, 9, 15), date(2026, 9, 11),
              date(2026, 9, 1), date(2026, 8, 31), date(2026, 8, 15), date(2026, 8, 2))
TABLES = {
    "officer_metrics_daily": ("officer_id", "calculation_date"),
    "branch_metrics_daily": ("branch", "calculation_date"),
    "metric_fine_daily": ("calculation_date", "officer_id", "branch", "region"),
    "dpd_transitions": ("loan_id", "transition_date"),
    "par15_snapshots": ("officer_id", "snapshot_date"),
}
VOLATILE = {"id", "created_at", "updated_at", "calculated_at"}


@st.composite
def later_changes(draw: st.DrawFn, batches: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Batches that arrive after the first calculation: corrections of what the book holds."""
    first = batches[0]["data"]
    officers, loans = first["officers"], first["loans"]
    out: list[dict[str, Any]] = []
    if draw(st.booleans()):  # a loan moves to another officer, branch and region
        loan = dict(draw(st.sampled_from(loans)))
        officer = draw(st.sampled_from(officers))
        region = draw(st.sampled_from(sorted(REGIONS)))
        loan.update(officer_id=officer["officer_id"], officer_name=officer["officer_name"], region=region,
                    branch=draw(st.sampled_from(REGIONS[region])))
        out.append({"data": {"loans": [loan]}})
    if draw(st.booleans()):  # an officer's own attributes: every loan of theirs is recomputed
        officer = dict(draw(st.sampled_from(officers)))
        officer.update(primary_channel=draw(st.none() | st.sampled_from(CHANNELS)),
                       had_float_gap=not officer["had_float_gap"])
        out.append({"data": {"officers": [officer]}})
    if draw(st.booleans()):  # a backdated repayment on an existing loan
        loan = draw(st.sampled_from(loans))
        disbursed = date.fromisoformat(loan["disbursement_date"])
        paid_on = disbursed + timedelta(days=draw(st.integers(0, (BUSINESS_DATE - disbursed).days)))
        amount = draw(st.integers(1, 60_000))
        late = {
            "repayment_id": f"LATE-{loan['loan_id']}", "loan_id": loan["loan_id"],
            "payment_date": paid_on.isoformat(), "payment_amount": cents(amount), "principal_paid": cents(amount),
            "interest_paid": "0", "fees_paid": "0", "payment_method": "Cash", "is_reversed": False,
            "is_backdated": True,
        }
        out.append({"data": {"repayments": [late]}})
        if draw(st.booleans()):  # corrected again in a later batch: the loan has two before-images
            again = draw(st.integers(1, 60_000))
            out.append({"data": {"repayments": [dict(late, payment_amount=cents(again), principal_paid=cents(again),
                                                     payment_date=BUSINESS_DATE.isoformat())]}})
    if draw(st.booleans()):  # a new loan disbursed in the past, with a schedule
        officer = draw(st.sampled_from(officers))
        disbursed = BUSINESS_DATE - timedelta(days=draw(st.integers(0, 60)))
        due = disbursed + timedelta(days=draw(st.integers(1, 30)))
        out.append({"data": {
            "loans": [{
                "loan_id": "NEW", "customer_id": "C0", "customer_name": "Customer 0",
                "officer_id": officer["officer_id"], "officer_name": officer["officer_name"],
                "region": officer["region"], "branch": officer["branch"], "loan_amount": "500.00",
                "disbursement_date": disbursed.isoformat(), "maturity_date": due.isoformat(),
                "loan_term_days": (due - disbursed).days, "channel": draw(st.sampled_from(CHANNELS)),
                "status": "Active",
            }],
            "loan_schedules": [{"loan_id": "NEW", "installment_number": 1, "due_date": due.isoformat(),
                                "principal_due": "500.00", "interest_due": "10.00", "fee_due": "5.00",
                                "total_due": "515.00"}],
        }})
    return out


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[date]]:
    batches = draw(loan_books())
    split = draw(st.integers(1, len(batches)))
    later = batches[split:] + draw(later_changes(batches))
    days = sorted(draw(st.sets(st.sampled_from(CALCULABLE), min_size=1, max_size=4)))
    return batches[:split], later, days


async def _tables(database: Database) -> dict[str, list[tuple[Any, ...]]]:
    out = {}
    async with database.raw_reader() as conn:
        for table, order in TABLES.items():
            rows = await conn.fetch(f"SELECT * FROM {table} ORDER BY {', '.join(order)}")
            out[table] = [tuple((k, v) for k, v in row.items() if k not in VOLATILE) for row in rows]
    return out


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(scenario=scenarios())
async def test_incremental_runs_equal_a_full_restatement(
    db: Database, scenario: tuple[list[dict[str, Any]], list[dict[str, Any]], list[date]]
) -> None:
    first, later, days = scenario
    await _ingest_batches(db, first)
    for day in days:
        assert (await recalculate(db, OPTIONS, as_of=day)).status == "Completed"
    for batch in later:
        result = await ingest(db, payload_from_document(batch, max_records=10_000), BUSINESS_DATE)
        assert result.errors == [], result.errors
    await assert_tag_counts(db)  # loans moved between officers, branches and regions take their tags along
    run = await recalculate(db, OPTIONS, as_of=days[-1], incremental=True)
    assert run.status == "Completed", run.error
    incremental = await _tables(db)
    async with db.raw_transaction() as conn:
        assert await conn.fetchval("SELECT count(*) FROM loan_state_prior") == 0
        assert await conn.fetchval("SELECT count(*) FROM metric_dirty") == 0
        await daily_metrics.restate(conn, days, options=OPTIONS)
    assert incremental == await _tables(db)


async def test_a_loan_changed_by_two_batches_between_runs(db: Database) -> None:
    """The run subtracts what the daily rows hold (the first before-image), not the second."""
    book = {"data": {
        "officers": [{"officer_id": "OF1", "officer_name": "Ada", "region": "North", "branch": "Alpha"}],
        "loans": [{"loan_id": "L1", "customer_id": "C1", "customer_name": "Bola", "officer_id": "OF1",
                   "officer_name": "Ada", "region": "North", "branch": "Alpha", "loan_amount": "1000.00",
                   "disbursement_date": "2026-08-01", "maturity_date": "2026-09-01", "loan_term_days": 31,
                   "channel": "Agent", "status": "Active"}],
        "loan_schedules": [{"loan_id": "L1", "installment_number": 1, "due_date": "2026-09-01",
                            "principal_due": "1000.00", "interest_due": "0", "fee_due": "0",
                            "total_due": "1000.00"}],
    }}
    await _ingest_batches(db, [book])
    assert (await recalculate(db, OPTIONS, as_of=BUSINESS_DATE)).status == "Completed"
    payment = {"repayment_id": "R1", "loan_id": "L1", "payment_date": "2026-09-10", "payment_amount": "300.00",
               "principal_paid": "300.00", "interest_paid": "0", "fees_paid": "0", "payment_method": "Cash",
               "is_reversed": False}
    for amount in ("300.00", "450.00"):
        batch = {"data": {"repayments": [dict(payment, payment_amount=amount, principal_paid=amount)]}}
        assert (await ingest(db, payload_from_document(batch, max_records=10), BUSINESS_DATE)).errors == []
    async with db.raw_reader() as conn:
        assert await conn.fetchval("SELECT count(*) FROM loan_state_prior WHERE loan_id = 'L1'") == 2
    assert (await recalculate(db, OPTIONS, as_of=BUSINESS_DATE, incremental=True)).status == "Completed"
    async with db.raw_reader() as conn:
        row = await conn.fetchrow("SELECT total_portfolio, active_loans FROM officer_metrics_daily")
    assert row is not None
    assert (row["total_portfolio"], row["active_loans"]) == (550, 1)  # 1000 - 450 outstanding
