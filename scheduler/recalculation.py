"""The recalculation job (SPEC §8): daily rows for the business date for everyone, and for
earlier dates where records changed since the last completed run, in one transaction.

Runs: ``scheduled`` (business date + changes), ``backfill`` (every date of a range), ``manual``
(the GraphQL mutation) and ``daily`` (yesterday finalised after midnight). A run that fails is
logged Failed with its error and leaves the previous results in place.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

import asyncpg

from db import daily_metrics
from db.engine import Database
from db.metric_engine import EngineOptions
from scheduler.calculation_log import complete_run, fail_run, open_run

log = logging.getLogger(__name__)

RECALC_LOCK_KEY = 0x4C4D_0003
DATES_PER_STATEMENT = 7

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class RunResult:
    """What a finished run did (also what ``calculationRuns`` shows)."""

    run_id: int
    status: str
    dates: int
    rows_written: int
    error: str | None = None


@dataclass(frozen=True)
class Changes:
    """What metric_dirty says changed: the scope to restate and from which date."""

    ids: list[int]
    officers: list[str]
    branches: list[str]
    from_date: date | None


async def recalculate(
    database: Database,
    options: EngineOptions,
    *,
    as_of: date,
    start: date | None = None,
    calculation_type: str = "scheduled",
    include_changes: bool = True,
    incremental: bool = False,
    progress: Progress | None = None,
) -> RunResult:
    """Restate [start, as_of] for everyone (just as_of without start) plus, when
    ``include_changes``, the calculated dates on or after the earliest change for the officers
    and branches whose records changed. ``incremental`` (the 15-minute job) restates as_of for
    everyone only when it has never been calculated: within one business date the metrics
    move only with the data, so the changes alone bring it up to date. Returns the run's
    outcome; a failure is logged, never half-written."""
    if start is not None and start > as_of:
        raise ValueError(f"start {start} is after as-of date {as_of}")
    run_id = await open_run(database, calculation_type, as_of, start)
    try:
        async with database.raw_session() as conn:
            # Serialise runs with a session lock taken before the snapshot, so each run's
            # snapshot includes everything the previous run committed.
            await conn.execute("SELECT pg_advisory_lock($1)", RECALC_LOCK_KEY)
            try:
                total, written = await _run(
                    conn, options, run_id, as_of, start, include_changes, incremental, progress
                )
            finally:
                await conn.execute("SELECT pg_advisory_unlock($1)", RECALC_LOCK_KEY)
    except Exception as exc:
        log.exception("recalculation failed", extra={"run_id": run_id})
        await fail_run(database, run_id, f"{type(exc).__name__}: {exc}")
        return RunResult(run_id, "Failed", 0, 0, f"{type(exc).__name__}: {exc}")
    log.info("recalculation completed", extra={"run_id": run_id, "dates": total, "rows": written})
    return RunResult(run_id, "Completed", total, written)


async def _run(
    conn: asyncpg.Connection,
    options: EngineOptions,
    run_id: int,
    as_of: date,
    start: date | None,
    include_changes: bool,
    incremental: bool,
    progress: Progress | None,
) -> tuple[int, int]:
    """The run's one transaction: restate, consume the change log, complete the log row."""
    async with conn.transaction(isolation="repeatable_read"):
        await conn.execute("SET LOCAL work_mem = '64MB'")
        full_dates = _days(start or as_of, as_of)
        if incremental and await _calculated(conn, as_of):
            full_dates = []
        changes = await _pending_changes(conn) if include_changes else None
        earlier = (
            await _restated_dates(conn, changes, through=as_of, exclude=set(full_dates)) if changes else []
        )
        total = len(full_dates) + len(earlier)
        done = written = 0
        for chunk in _chunks(full_dates):
            written += (await daily_metrics.restate(conn, chunk, options=options)).total
            done += len(chunk)
            if progress:
                progress(done, total)
        for chunk in _chunks(earlier):
            assert changes is not None
            result = await daily_metrics.restate(
                conn, chunk, officers=changes.officers, branches=changes.branches, options=options
            )
            written += result.total
            done += len(chunk)
            if progress:
                progress(done, total)
        if changes and changes.ids:
            await conn.execute("DELETE FROM metric_dirty WHERE id = ANY($1::bigint[])", changes.ids)
        await complete_run(conn, run_id, processed=total, updated=written)
    return total, written


async def _pending_changes(conn: asyncpg.Connection) -> Changes | None:
    """The change log as this run's snapshot sees it; officer-wide changes reach their branches."""
    rows = await conn.fetch("SELECT id, officer_id, branch, from_date FROM metric_dirty")
    if not rows:
        return None
    officers = sorted({r["officer_id"] for r in rows if r["officer_id"] is not None})
    branches = {r["branch"] for r in rows if r["branch"] is not None}
    officer_wide = [r["officer_id"] for r in rows if r["branch"] is None and r["officer_id"] is not None]
    if officer_wide:
        found = await conn.fetch(
            "SELECT DISTINCT branch FROM loan_state WHERE officer_id = ANY($1::text[])", officer_wide
        )
        branches |= {r["branch"] for r in found}
    from_dates = [r["from_date"] for r in rows if r["from_date"] is not None]
    return Changes(
        ids=[r["id"] for r in rows],
        officers=officers,
        branches=sorted(branches),
        from_date=min(from_dates) if from_dates else None,
    )


async def _restated_dates(
    conn: asyncpg.Connection, changes: Changes, *, through: date, exclude: set[date]
) -> list[date]:
    """Calculated dates from the earliest change through ``through``, except those restated
    for everyone anyway."""
    if changes.from_date is None:
        return []
    rows = await conn.fetch(
        """
        SELECT calculation_date FROM officer_metrics_daily WHERE calculation_date BETWEEN $1 AND $2
        UNION
        SELECT calculation_date FROM branch_metrics_daily WHERE calculation_date BETWEEN $1 AND $2
        ORDER BY 1
        """,
        changes.from_date if changes.from_date != date.min else date(1900, 1, 1), through,
    )
    return [r["calculation_date"] for r in rows if r["calculation_date"] not in exclude]


async def _calculated(conn: asyncpg.Connection, day: date) -> bool:
    """Whether a completed run already wrote the daily rows of ``day``."""
    return bool(await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM officer_metrics_daily WHERE calculation_date = $1)", day
    ))


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def _chunks(days: list[date]) -> list[list[date]]:
    return [days[i : i + DATES_PER_STATEMENT] for i in range(0, len(days), DATES_PER_STATEMENT)]
