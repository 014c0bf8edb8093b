"""Filling a database with a synthetic book and its metric history, shared by ``loanmetrics seed``,
``loanmetrics recalc`` and ``loanmetrics demo``.

The book goes through ``db.ingestion.service.ingest`` batch by batch, exactly like an ETL client's
data, so the demo exercises the production write path (validation, upserts, loan state, change
log) instead of a shortcut that could drift from it. The progress bars live here too so that every
command shows the same thing for the same work.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

from loanmetrics.db import generation
from loanmetrics.db.ingestion.payload import payload_from_document
from loanmetrics.db.ingestion.service import ingest
from loanmetrics.db.statistics import analyze_tables
from loanmetrics.db.team_members import upsert_team_members
from loanmetrics.scheduler.recalculation import RunResult, recalculate
from loanmetrics.synthetic import BookShape, generate_batches, team_members

if TYPE_CHECKING:
    from loanmetrics.application import Application


@dataclass
class SeedResult:
    """Per-entity counts (inserted/updated/unchanged/failed) and the rejected records."""

    totals: dict[str, dict[str, int]] = field(default_factory=dict)
    errors: list[dict[str, Any]] = field(default_factory=list)


async def seed_book(
    application: Application,
    shape: BookShape,
    *,
    batch_records: int = 10_000,
    progress: Callable[[int], None] | None = None,
) -> SeedResult:
    """Ingest ``shape``'s book, add the sample team members, refresh planner statistics and bump
    the metrics generation. ``progress`` receives the number of records of each ingested batch."""
    result = SeedResult()
    today = application.clock.today()
    for document in generate_batches(shape, batch_records=batch_records):
        payload = payload_from_document(document, max_records=application.settings.max_batch_records)
        outcome = await ingest(application.db, payload, today)
        accumulate(result.totals, outcome.results)
        result.errors.extend(outcome.errors)
        if progress is not None:
            progress(payload.record_count)
    async with application.db.raw_transaction() as conn:
        await upsert_team_members(conn, team_members(shape.seed))
        await generation.bump(conn, generation.Source.AUDIT)
    async with application.db.raw_session() as conn:
        await analyze_tables(conn)
    await application.after_commit()
    return result


async def seed_with_progress(application: Application, shape: BookShape, *, batch_records: int = 10_000) -> SeedResult:
    """``seed_book`` behind a spinner counting records (the batch count is not known upfront)."""
    with Progress(
        SpinnerColumn(), TextColumn("seeding"), TextColumn("{task.completed:,.0f} records"), TimeElapsedColumn(),
    ) as bar:
        task = bar.add_task("seed", total=None)
        return await seed_book(
            application, shape, batch_records=batch_records, progress=lambda records: bar.advance(task, records)
        )


async def recalculate_with_progress(
    application: Application, *, as_of: date, start: date | None, calculation_type: str, incremental: bool = False
) -> RunResult:
    """One recalculation run behind a dates bar; bumps the metrics generation when it completed."""
    with Progress(
        TextColumn("recalculating"), BarColumn(), MofNCompleteColumn(), TextColumn("dates"), TimeElapsedColumn(),
    ) as bar:
        task = bar.add_task("recalc", total=None)
        result = await recalculate(
            application.db, application.engine_options, as_of=as_of, start=start,
            calculation_type=calculation_type, incremental=incremental,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    if result.status == "Completed":
        await application.after_commit()
    return result


def accumulate(totals: dict[str, dict[str, int]], results: dict[str, dict[str, int]]) -> None:
    """Add one batch's per-entity counts to the running totals."""
    for entity, counts in results.items():
        target = totals.setdefault(entity, dict.fromkeys(counts, 0))
        for key, value in counts.items():
            target[key] += value


def print_totals(totals: dict[str, dict[str, int]], errors: list[dict[str, Any]]) -> None:
    """Counts per entity and the first rejected records, on stderr (stdout stays for data)."""
    lines = []
    for entity, counts in totals.items():
        summary = ", ".join(f"{key} {value:,}" for key, value in counts.items())
        lines.append(f"{entity}: {summary}")
    lines.extend(
        f"rejected {error['entity_type']} {error['entity_id']} at {error['field']}: "
        f"{error['error_code']} {error['error_message']}"
        for error in errors[:20]
    )
    if len(errors) > 20:
        lines.append(f"... and {len(errors) - 20} more rejected records")
    sys.stderr.write("".join(line + "\n" for line in lines))
