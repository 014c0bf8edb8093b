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

from loanmetrics.db import daily_metrics, generation
from loanmetrics.db.engine import Database
from loanmetrics.db.metric_engine import PLANNER_SETTINGS, EngineOptions
from loanmetrics.scheduler.calculation_log import complete_run, fail_run, open_run

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


async def recalculate(
    database: Database,
    options: EngineOptions,
    *,
    as_of: date,
    start: date | None = None,
    calculation_type: str = "scheduled",
    incremental: bool = False,
    progress: Progress | None = None,
) -> RunResult:
    """Restate [start, as_of] for everyone (just as_of without start), and bring every other
    calculated date on or after the earliest change up to date with the records changed since
    the last run. ``incremental`` (the 15-minute job) restates as_of for everyone only when it
    has never been calculated: within one business date the metrics move only with the data, so
    the changes alone bring it up to date. Returns the run's outcome; a failure is logged,
    never half-written."""
    if start is not None and start > as_of:
        raise ValueError(f"start {start} is after as-of date {as_of}")
    run_id = await open_run(database, calculation_type, as_of, start)
    try:
        async with database.raw_session() as conn:
            # Serialise runs with a session lock taken before the snapshot, so each run's
            # snapshot includes everything the previous run committed.
            await conn.execute("SELECT pg_advisory_lock($1)", RECALC_LOCK_KEY)
            try:
                total, written = await _run(conn, options, run_id, as_of, start, incremental, progress)
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
    incremental: bool,
    progress: Progress | None,
) -> tuple[int, int]:
    """The run's one transaction: restate, apply and consume the changes, complete the log row.

    Every run consumes every change its snapshot sees (a date restated for everyone already
    holds them; every other calculated date gets them as deltas), so no change is applied twice
    or lost; batches committed after the snapshot wait for the next run."""
    async with conn.transaction(isolation="repeatable_read"):
        await conn.execute("SET LOCAL work_mem = '64MB'")
        await conn.execute(PLANNER_SETTINGS)
        full_dates = _days(start or as_of, as_of)
        if incremental and await _calculated(conn, as_of):
            full_dates = []
        changes = await _pending_changes(conn)
        delta_dates: list[date] = []
        if changes.restate_from is not None:  # a request to restate whole (a migration adding a metric)
            requested = await daily_metrics.calculated_dates(conn, _earliest(changes.restate_from), as_of)
            full_dates = sorted({*full_dates, *requested})
        if changes.from_date is not None:
            restated = set(full_dates)
            delta_dates = [d for d in await daily_metrics.calculated_dates(conn, _earliest(changes.from_date), as_of)
                           if d not in restated]
        total = len(full_dates) + len(delta_dates)
        done = written = 0
        for chunk in _chunks(full_dates):
            written += (await daily_metrics.restate(conn, chunk, options=options)).total
            done += len(chunk)
            if progress:
                progress(done, total)
        for chunk in _chunks(delta_dates):
            result = await daily_metrics.apply_changes(
                conn, chunk, prior_ids=changes.prior_ids, loans=changes.loans, options=options
            )
            result += await daily_metrics.restate(conn, chunk, officers=changes.officer_wide, options=options)
            written += result.total
            done += len(chunk)
            if progress:
                progress(done, total)
        await conn.execute("DELETE FROM metric_dirty WHERE id = ANY($1::bigint[])", changes.ids)
        await conn.execute("DELETE FROM loan_state_prior WHERE id = ANY($1::bigint[])", changes.prior_ids)
        await complete_run(conn, run_id, processed=total, updated=written)
        await generation.bump(conn, generation.Source.RECALCULATION)
    return total, written


@dataclass(frozen=True)
class Changes:
    """What this run's snapshot says changed since the last run: the change-log rows and the
    earliest date they touch, the officers whose own attributes changed (every loan of theirs
    is recomputed), the before-images of the loans ingestion changed, and the earliest date of a
    request to restate every calculated date from there whole (``restate_from``): a change-log
    row naming no officer, branch or region, which ingestion never writes. A migration that adds
    a component to the fine groups ends with one, since its stored groups cannot take deltas."""

    ids: list[int]
    from_date: date | None
    officer_wide: list[str]
    prior_ids: list[int]
    loans: list[str]
    restate_from: date | None = None


async def _pending_changes(conn: asyncpg.Connection) -> Changes:
    rows = await conn.fetch("SELECT id, officer_id, branch, region, from_date FROM metric_dirty")
    prior = await conn.fetch("SELECT id, loan_id FROM loan_state_prior")
    from_dates = [r["from_date"] for r in rows if r["from_date"] is not None]
    requests = [r["from_date"] for r in rows if r["from_date"] is not None
                and r["officer_id"] is None and r["branch"] is None and r["region"] is None]
    return Changes(
        ids=[r["id"] for r in rows],
        from_date=min(from_dates) if from_dates else None,
        officer_wide=sorted({r["officer_id"] for r in rows if r["branch"] is None and r["officer_id"] is not None}),
        prior_ids=[r["id"] for r in prior],
        loans=sorted({r["loan_id"] for r in prior}),
        restate_from=min(requests) if requests else None,
    )


def _earliest(day: date) -> date:
    """A change-log date as a bound for the calculated dates ('-infinity' reads as date.min)."""
    return day if day != date.min else date(1900, 1, 1)


async def _calculated(conn: asyncpg.Connection, day: date) -> bool:
    """Whether a completed run already calculated ``day``."""
    return bool(await daily_metrics.calculated_dates(conn, day, day))


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def _chunks(days: list[date]) -> list[list[date]]:
    return [days[i : i + DATES_PER_STATEMENT] for i in range(0, len(days), DATES_PER_STATEMENT)]
