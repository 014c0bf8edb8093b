"""The recalculation job (SPEC §8): backfill, incremental restatement of late data, the
calculation log, failure handling, the metrics generation and the scheduler's leader lock."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from typing import Any

from loanmetrics.application import Application, create_application
from loanmetrics.db.engine import Database
from loanmetrics.db.ingestion.payload import payload_from_document
from loanmetrics.db.ingestion.service import ingest
from loanmetrics.scheduler.recalculation import recalculate
from loanmetrics.scheduler.service import SchedulerService
from tests.conftest import BUSINESS_DATE, make_settings

FIRST = date(2026, 9, 10)


async def _load(db: Database, payload: dict[str, Any]) -> None:
    result = await ingest(db, payload_from_document(payload, max_records=100_000), BUSINESS_DATE)
    assert result.errors == []


async def _daily(db: Database, table: str) -> dict[tuple[str, date], Any]:
    key = "officer_id" if table == "officer_metrics_daily" else "branch"
    async with db.raw_reader() as conn:
        return {(r[key], r["calculation_date"]): r for r in await conn.fetch(f"SELECT * FROM {table}")}


async def _log(db: Database) -> list[Any]:
    async with db.raw_reader() as conn:
        return await conn.fetch("SELECT * FROM metric_calculation_log ORDER BY id")


def _values(row: Any) -> dict[str, Any]:
    return {k: v for k, v in dict(row).items() if k not in ("id", "calculated_at", "created_at", "updated_at")}


def _backdated_payment(payload: dict[str, Any]) -> tuple[dict[str, Any], str, str]:
    """A new repayment on an officer's loan, dated 2026-09-12 and sent late."""
    loan = next(x for x in payload["data"]["loans"]
                if x["officer_id"] == "OFF0002" and x["disbursement_date"] <= "2026-09-01" and x["status"] == "Active")
    payment = {
        "repayment_id": "LATE-1", "loan_id": loan["loan_id"], "payment_date": "2026-09-12",
        "payment_amount": "500.00", "principal_paid": "400.00", "interest_paid": "60.00", "fees_paid": "40.00",
        "payment_method": "Cash", "is_reversed": False, "is_backdated": True,
    }
    return payment, loan["officer_id"], loan["branch"]


async def test_backfill_writes_every_date_and_logs_one_run(app: Application, example_payload):
    db = app.db
    await _load(db, example_payload)
    generation = await app.metrics_generation()
    result = await recalculate(db, app.engine_options, as_of=BUSINESS_DATE, start=FIRST, calculation_type="backfill")
    assert (result.status, result.dates) == ("Completed", 9)
    officers = await _daily(db, "officer_metrics_daily")
    assert {d for _, d in officers} == {FIRST + timedelta(days=n) for n in range(9)}
    assert len({o for o, _ in officers}) == 6
    assert all(row["period_start"] == date(2026, 9, 1) for row in officers.values())
    (run,) = await _log(db)
    assert (run["status"], run["calculation_type"], run["calculation_date"], run["start_date"]) == (
        "Completed", "backfill", BUSINESS_DATE, FIRST)
    assert run["records_processed"] == 9
    assert run["records_updated"] == result.rows_written > 0
    assert run["end_time"] >= run["start_time"]
    assert await app.metrics_generation() == generation + 1  # the run's own transaction bumped it
    async with db.raw_reader() as conn:
        snapshots = await conn.fetch("SELECT * FROM par15_snapshots ORDER BY officer_id")
        transitions = await conn.fetchval("SELECT count(*) FROM dpd_transitions")
        remaining = await conn.fetchval("SELECT count(*) FROM metric_dirty")
    # the 15th was calculated: one PAR15 snapshot per officer, equal to that day's overdue_15d
    assert len(snapshots) == 6
    for snap in snapshots:
        row = officers[(snap["officer_id"], date(2026, 9, 15))]
        assert (snap["par15_exposure"], snap["par15_count"]) == (row["overdue_15d_amount"], row["overdue_15d_count"])
    assert transitions > 0
    assert remaining == 0


async def test_late_data_restates_history_only_for_the_affected_officer(app: Application, example_payload):
    db = app.db
    await _load(db, example_payload)
    assert (await recalculate(db, app.engine_options, as_of=BUSINESS_DATE, start=FIRST)).status == "Completed"
    before_officers = await _daily(db, "officer_metrics_daily")
    before_branches = await _daily(db, "branch_metrics_daily")

    payment, officer, branch = _backdated_payment(example_payload)
    result = await ingest(db, payload_from_document({"data": {"repayments": [payment]}}, max_records=10),
                          BUSINESS_DATE)
    assert result.results["repayments"]["inserted"] == 1
    run = await recalculate(db, app.engine_options, as_of=BUSINESS_DATE)
    assert run.status == "Completed"
    after_officers = await _daily(db, "officer_metrics_daily")
    after_branches = await _daily(db, "branch_metrics_daily")
    assert set(after_officers) == set(before_officers)

    for (who, day), row in after_officers.items():
        old = before_officers[(who, day)]
        if who != officer:
            if day < BUSINESS_DATE:
                assert row["id"] == old["id"], (who, day)  # untouched, not even rewritten
            else:  # the business date is restated for everyone, with the same values
                assert _values(row) == _values(old), (who, day)
            continue
        if day < date(2026, 9, 12):
            assert (row["fees_collected"], row["total_entries"]) == (old["fees_collected"], old["total_entries"])
        else:  # the late repayment is counted from its own date on
            assert row["fees_collected"] == old["fees_collected"] + 40
            assert row["interest_collected"] == old["interest_collected"] + 60
            assert row["total_entries"] == old["total_entries"] + 1
            assert row["backdated_count"] == old["backdated_count"] + 1
    for (name, day), row in after_branches.items():
        old = before_branches[(name, day)]
        if name != branch:
            assert row["id"] == old["id"] if day < BUSINESS_DATE else _values(row) == _values(old), (name, day)
        elif day >= date(2026, 9, 12):
            assert row["total_entries"] == old["total_entries"] + 1
    async with db.raw_reader() as conn:
        assert await conn.fetchval("SELECT count(*) FROM metric_dirty") == 0


async def test_a_failed_run_is_logged_and_leaves_previous_results(app: Application, example_payload):
    db = app.db
    await _load(db, example_payload)
    assert (await recalculate(db, app.engine_options, as_of=BUSINESS_DATE)).status == "Completed"
    before = await _daily(db, "officer_metrics_daily")
    payment, _, _ = _backdated_payment(example_payload)
    await ingest(db, payload_from_document({"data": {"repayments": [payment]}}, max_records=10), BUSINESS_DATE)
    async with db.raw_transaction() as conn:  # every new daily row now violates a constraint
        await conn.execute("ALTER TABLE officer_metrics_daily ADD CONSTRAINT forced_failure CHECK (risk_score < 0) "
                           "NOT VALID")
    failed = await recalculate(db, app.engine_options, as_of=BUSINESS_DATE)
    assert failed.status == "Failed"
    assert "forced_failure" in (failed.error or "")
    assert await _daily(db, "officer_metrics_daily") == before
    runs = await _log(db)
    assert [r["status"] for r in runs] == ["Completed", "Failed"]
    assert "forced_failure" in runs[1]["error_message"]
    async with db.raw_transaction() as conn:
        assert await conn.fetchval("SELECT count(*) FROM metric_dirty") > 0  # the change is still pending
        await conn.execute("ALTER TABLE officer_metrics_daily DROP CONSTRAINT forced_failure")
    again = await recalculate(db, app.engine_options, as_of=BUSINESS_DATE)
    assert again.status == "Completed"
    assert [r["status"] for r in await _log(db)] == ["Completed", "Failed", "Completed"]
    after = await _daily(db, "officer_metrics_daily")
    assert after != before


async def test_two_schedulers_on_one_database_run_each_job_once(app: Application, example_payload):
    await _load(app.db, example_payload)
    other = create_application(make_settings(app.settings.database_url))
    await other.start(migrate_schema=False)
    first, second = SchedulerService(app), SchedulerService(other)
    try:
        results = await asyncio.gather(first.recalculation_job(), second.recalculation_job())
        assert sum(result is not None for result in results) == 1
        assert len(await _log(app.db)) == 1
        leader, follower = (first, second) if results[0] is not None else (second, first)
        assert await follower.recalculation_job() is None  # the leader keeps the lock
        assert len(await _log(app.db)) == 1
        await leader.leader.release()  # the leader goes away: the other takes over
        assert (await follower.recalculation_job()) is not None
        assert await leader.recalculation_job() is None
        assert len(await _log(app.db)) == 2
    finally:
        await first.stop()
        await second.stop()
        await other.stop()


async def test_start_after_as_of_is_refused(app: Application):
    import pytest

    with pytest.raises(ValueError, match="after"):
        await recalculate(app.db, app.engine_options, as_of=FIRST, start=BUSINESS_DATE)


async def test_daily_job_refreshes_loans_and_finalises_yesterday(app: Application, example_payload):
    await _load(app.db, example_payload)
    service = SchedulerService(app)
    try:
        result = await service.daily_job()
    finally:
        await service.stop()
    assert result is not None
    assert result.status == "Completed"
    (run,) = await _log(app.db)
    assert (run["calculation_type"], run["calculation_date"]) == ("daily", BUSINESS_DATE - timedelta(days=1))
    officers = await _daily(app.db, "officer_metrics_daily")
    assert {d for _, d in officers} == {BUSINESS_DATE - timedelta(days=1)}


async def test_scheduler_registers_the_configured_jobs(clean_database_url):
    settings = make_settings(clean_database_url, recalc_interval_minutes=5, daily_refresh_hour=1,
                             daily_refresh_minute=30, timezone="Africa/Lagos")
    application = create_application(settings)
    await application.start(migrate_schema=False)
    service = SchedulerService(application)
    service.start()
    try:
        assert service.scheduler is not None
        recalculation = service.scheduler.get_job("recalculation")
        daily = service.scheduler.get_job("daily_refresh")
        assert recalculation.trigger.interval == timedelta(minutes=5)
        assert str(daily.trigger) == "cron[hour='1', minute='30']"
        assert str(daily.trigger.timezone) == "Africa/Lagos"
    finally:
        await service.stop()
        await application.stop()


def test_recalc_command_backfills_with_a_progress_bar(clean_database_url, monkeypatch, capsys, example_payload):
    from loanmetrics.cli import main

    monkeypatch.setenv("DATABASE_URL", clean_database_url)
    monkeypatch.setenv("LOANMETRICS_TODAY", "2026-09-18")

    async def load() -> None:
        database = Database.connect(clean_database_url)
        try:
            await _load(database, example_payload)
        finally:
            await database.dispose()

    asyncio.run(load())
    assert main(["recalc", "--as-of", "2026-09-18", "--from", "2026-09-16"]) == 0
    assert "recalculated 3 dates" in capsys.readouterr().err
    assert main(["recalc", "--as-of", "2026-09-01", "--from", "2026-09-16"]) == 2
    assert "is after --as-of" in capsys.readouterr().err


async def test_incremental_runs_restate_only_what_changed(app: Application, example_payload):
    db = app.db
    await _load(db, example_payload)
    first = await recalculate(db, app.engine_options, as_of=BUSINESS_DATE, incremental=True)
    assert (first.status, first.dates) == ("Completed", 1)  # never calculated: everyone
    before = await _daily(db, "officer_metrics_daily")
    idle = await recalculate(db, app.engine_options, as_of=BUSINESS_DATE, incremental=True)
    assert (idle.status, idle.dates, idle.rows_written) == ("Completed", 0, 0)
    assert await _daily(db, "officer_metrics_daily") == before

    payment, officer, _ = _backdated_payment(example_payload)
    await ingest(db, payload_from_document({"data": {"repayments": [payment]}}, max_records=10), BUSINESS_DATE)
    changed = await recalculate(db, app.engine_options, as_of=BUSINESS_DATE, incremental=True)
    assert (changed.status, changed.dates) == ("Completed", 1)
    after = await _daily(db, "officer_metrics_daily")
    for (who, day), row in after.items():
        if who == officer:
            assert row["id"] != before[(who, day)]["id"]
            assert row["total_entries"] == before[(who, day)]["total_entries"] + 1
        else:
            assert row["id"] == before[(who, day)]["id"]  # not rewritten


async def test_a_restatement_request_restates_every_calculated_date_from_its_date_whole(
    app: Application, example_payload
):
    """A change-log row naming no officer, branch or region (what a migration adding a metric
    writes) makes the next incremental run restate each calculated date from its date from every
    loan, fine groups included, even where those groups were wrong; earlier dates stay as they are."""
    db = app.db
    await _load(db, example_payload)
    assert (await recalculate(db, app.engine_options, as_of=BUSINESS_DATE, start=FIRST)).status == "Completed"
    fresh = await _daily(db, "officer_metrics_daily")
    async with db.raw_reader() as conn:
        fine = [dict(r) for r in await conn.fetch(
            "SELECT * FROM metric_fine_daily ORDER BY calculation_date, officer_id, branch, region")]
    async with db.raw_transaction() as conn:  # stored figures no delta could repair
        await conn.execute("UPDATE metric_fine_daily SET active_loans = active_loans + 7, total_portfolio = 0")
        await conn.execute("UPDATE officer_metrics_daily SET active_loans = 0")
        await conn.execute("INSERT INTO metric_dirty (officer_id, branch, region, from_date, sync_id) "
                           "VALUES (NULL, NULL, NULL, '2026-09-16', 'a migration adding a metric')")
    run = await recalculate(db, app.engine_options, as_of=BUSINESS_DATE, incremental=True)
    assert (run.status, run.dates) == ("Completed", 3)
    restated = await _daily(db, "officer_metrics_daily")
    for key, row in restated.items():
        if key[1] >= date(2026, 9, 16):
            assert _values(row) == _values(fresh[key])
        else:
            assert row["active_loans"] == 0
    async with db.raw_reader() as conn:
        after = [dict(r) for r in await conn.fetch(
            "SELECT * FROM metric_fine_daily WHERE calculation_date >= '2026-09-16' "
            "ORDER BY calculation_date, officer_id, branch, region")]
        assert await conn.fetchval("SELECT count(*) FROM metric_dirty") == 0
    volatile = ("created_at", "updated_at")
    assert [{k: v for k, v in r.items() if k not in volatile} for r in after] == [
        {k: v for k, v in r.items() if k not in volatile} for r in fine if r["calculation_date"] >= date(2026, 9, 16)]
