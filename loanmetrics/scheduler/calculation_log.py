"""metric_calculation_log: one row per job run, Running until it ends Completed or Failed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import asyncpg

from loanmetrics.db.engine import Database


async def open_run(database: Database, calculation_type: str, calculation_date: date, start_date: date | None) -> int:
    """Insert the Running row in its own transaction, so it is visible while the run works."""
    async with database.raw_transaction() as conn:
        run_id: int = await conn.fetchval(
            "INSERT INTO metric_calculation_log (calculation_type, calculation_date, start_date, status) "
            "VALUES ($1, $2, $3, 'Running') RETURNING id",
            calculation_type, calculation_date, start_date,
        )
    return run_id


async def complete_run(conn: asyncpg.Connection, run_id: int, *, processed: int, updated: int) -> None:
    """Mark the run Completed inside the transaction that writes its results."""
    await conn.execute(
        """
        UPDATE metric_calculation_log
        SET status = 'Completed', end_time = clock_timestamp(),
            duration = extract(epoch FROM clock_timestamp() - start_time),
            records_processed = $2, records_updated = $3, updated_at = now()
        WHERE id = $1
        """,
        run_id, processed, updated,
    )


async def fail_run(database: Database, run_id: int, error: str) -> None:
    """Mark the run Failed with its error, after its transaction rolled back."""
    async with database.raw_transaction() as conn:
        await conn.execute(
            """
            UPDATE metric_calculation_log
            SET status = 'Failed', end_time = clock_timestamp(),
                duration = extract(epoch FROM clock_timestamp() - start_time),
                records_failed = 1, error_message = $2, updated_at = now()
            WHERE id = $1
            """,
            run_id, error[:4000],
        )


@dataclass(frozen=True)
class RunSummary:
    """When a run started and ended and how: what an operator checks first, and no figures."""

    calculation_type: str
    calculation_date: date
    status: str
    start_time: datetime
    end_time: datetime | None


async def latest_runs(database: Database) -> tuple[RunSummary | None, RunSummary | None]:
    """The latest run, and the latest completed one (the same run when it completed)."""
    async with database.raw_reader() as conn:
        rows = await conn.fetch(
            """
            (SELECT 'latest' AS which, calculation_type, calculation_date, status, start_time, end_time
             FROM metric_calculation_log ORDER BY id DESC LIMIT 1)
            UNION ALL
            (SELECT 'completed', calculation_type, calculation_date, status, start_time, end_time
             FROM metric_calculation_log WHERE status = 'Completed' ORDER BY id DESC LIMIT 1)
            """
        )
    found = {
        row["which"]: RunSummary(
            calculation_type=row["calculation_type"], calculation_date=row["calculation_date"], status=row["status"],
            start_time=row["start_time"], end_time=row["end_time"],
        )
        for row in rows
    }
    return found.get("latest"), found.get("completed")
