"""One ETL batch end to end: validate, write, recompute loan state, all in one transaction.

The HTTP route and ``loanmetrics ingest`` both call ``ingest``; nothing else writes ETL data.
Batches are serialised by a transaction-level advisory lock, so concurrent batches touching the
same loans queue instead of deadlocking, and each sees what the previous one committed.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, TypeVar

import asyncpg

from loanmetrics.db import generation, loan_state
from loanmetrics.db.engine import Database
from loanmetrics.db.ingestion import writer
from loanmetrics.db.ingestion.payload import ENTITIES, Payload
from loanmetrics.db.ingestion.validation import ValidatedBatch, check_records, check_references, chunks, reject_loans

INGEST_LOCK_KEY = 0x4C4D_0002
# The batch's sorts (a repayment batch's installments in due order, ~20k rows) stay in memory
# instead of spilling at the default 4 MB; batches run one at a time (the lock), so one at most.
BATCH_WORK_MEM = "64MB"
_BEGIN_BATCH = "SELECT pg_advisory_xact_lock($1), set_config('work_mem', $2, true)"

Checkpoint = Callable[[str], Awaitable[None]]


async def _no_checkpoint(stage: str) -> None:
    return None


@dataclass
class SyncResult:
    """The SPEC §4 response body, plus whether anything changed (for cache invalidation)."""

    sync_id: str
    results: dict[str, dict[str, int]]
    errors: list[dict[str, Any]]
    loans_affected: int
    computation_time_ms: int
    timestamp: str = field(default_factory=lambda: datetime.now(UTC).isoformat())

    @property
    def status(self) -> str:
        return "partial_success" if self.errors else "success"

    @property
    def http_status(self) -> int:
        return 207 if self.errors else 200

    @property
    def changed(self) -> bool:
        """Whether readers may see something new: a written record, or recomputed loan state (a
        schedule replacement that only deleted rows, a ``full`` sync on a new business date).
        Such a batch bumped the metrics generation in its own transaction."""
        return self.loans_affected > 0 or any(
            counts["inserted"] or counts["updated"] for counts in self.results.values()
        )

    def body(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "sync_id": self.sync_id,
            "timestamp": self.timestamp,
            "results": self.results,
            "errors": self.errors,
            "computed_fields_updated": {
                "loans_affected": self.loans_affected,
                "computation_time_ms": self.computation_time_ms,
            },
        }


CHUNK_RECORDS = 2_000
# Checked whole before anything is written: a loan's stored and new disbursement dates decide
# which schedule rows and repayments are acceptable.
_CHECKED_FIRST = ("officers", "customers", "loans")
_KNOWN_LOANS = "SELECT loan_id, disbursement_date FROM loans WHERE loan_id = ANY($1::text[])"

T = TypeVar("T")
R = TypeVar("R")


async def ingest(
    database: Database,
    payload: Payload,
    business_date: date,
    *,
    checkpoint: Checkpoint = _no_checkpoint,
    chunk_records: int = CHUNK_RECORDS,
) -> SyncResult:
    """Commit every valid record of ``payload`` with the recomputed state of the loans it touches.

    Schedule rows and repayments are checked and written in chunks, each chunk checked while
    PostgreSQL writes the one before it: the server's validation and the database's writes,
    the two halves of a batch, overlap instead of adding up."""
    sync_id = str(uuid.uuid4())
    batch = ValidatedBatch.of(payload)
    counts = {name: {"inserted": 0, "updated": 0, "unchanged": 0, "failed": 0} for name in ENTITIES}
    async with database.raw_transaction() as conn:
        await conn.execute(_BEGIN_BATCH, INGEST_LOCK_KEY, BATCH_WORK_MEM)
        named = batch.named_loan_ids()
        stored, _ = await alongside(
            conn.fetch(_KNOWN_LOANS, named) if named else _nothing(),
            lambda: [check_records(batch, name, business_date) for name in _CHECKED_FIRST if batch.raw[name]],
        )
        known: dict[str, date] = {row["loan_id"]: row["disbursement_date"] for row in stored}
        units = await _plan(conn, batch, known, business_date, chunk_records)
        disbursed = {**known, **{loan["loan_id"]: loan["disbursement_date"] for loan in batch.valid("loans")}}
        stage = _Stage(conn, batch, sync_id, business_date, known, disbursed, _named_later(batch, units))

        done = 0  # checkpoints reached, in entity order
        prepared = stage.prepare(units[0]) if units else None
        for position, unit in enumerate(units):
            following = units[position + 1] if position + 1 < len(units) else None
            assert prepared is not None
            _, prepared = await alongside(stage.write(position, unit, prepared), stage.preparer(following))
            if following is None or following.name != unit.name:
                reached = ENTITIES.index(unit.name) + 1
                for name in ENTITIES[done:reached]:
                    await checkpoint(name)
                done = reached
        for name in ENTITIES[done:]:
            await checkpoint(name)

        started = time.perf_counter()  # the loan-state work left after the last record is written
        loans = stage.loans
        if payload.sync_type == "full":
            await loan_state.rebuild_all(conn, business_date, sorted(loans.fresh), loans.captured)
            affected = int(await conn.fetchval("SELECT count(*) FROM loans") or 0)
        else:
            await loans.complete(conn, business_date)
            affected = len(loans.touched)
        computation_ms = round((time.perf_counter() - started) * 1000)
        if affected or stage.wrote_anything():
            await generation.bump(conn, generation.Source.INGESTION)  # committed with the batch (SPEC §9)
        await checkpoint("loan_state")

    for name in ENTITIES:
        _fill(counts[name], batch, name, stage.written[name], stage.created.get(name, 0))
    return SyncResult(
        sync_id=sync_id,
        results=counts,
        errors=[error.as_dict() for error in batch.ordered_errors()],
        loans_affected=affected,
        computation_time_ms=computation_ms,
    )


async def _nothing() -> list[asyncpg.Record]:
    return []


async def alongside(statement: Awaitable[T], work: Callable[[], R] | None) -> tuple[T, R | None]:
    """Await ``statement`` while running ``work`` (CPU-bound Python) as PostgreSQL executes it.

    The statement is started first and given one turn of the event loop to send its query;
    ``work`` then runs while the database computes, and the result is read afterwards."""
    if work is None:
        return await statement, None
    task = asyncio.ensure_future(statement)
    await asyncio.sleep(0)
    try:
        result = work()
    except BaseException:
        await asyncio.gather(task, return_exceptions=True)  # the connection must be idle before unwinding
        raise
    return await task, result


@dataclass
class _Unit:
    """Records of one entity written by one statement: a chunk, or the whole list."""

    name: str
    indexes: list[int] | None = None  # positions in the entity's list; None: all of them
    checked: bool = False  # phase one already done (it is then the whole list)


async def _plan(
    conn: asyncpg.Connection, batch: ValidatedBatch, known: dict[str, date], business_date: date, size: int
) -> list[_Unit]:
    """The write units in dependency order, after the check that needs the whole batch at once."""
    units = [_Unit(name, checked=True) for name in _CHECKED_FIRST if batch.raw[name]]
    later = [loan for loan in batch.valid("loans")
             if loan["loan_id"] in known and loan["disbursement_date"] > known[loan["loan_id"]]]
    for name in ("loan_schedules", "repayments"):
        if not batch.raw[name]:
            continue
        if later:  # rare: the check needs every accepted schedule row and repayment first
            check_records(batch, name, business_date)
            units.append(_Unit(name, checked=True))
            continue
        chunked = chunks(batch, name, size)
        units.extend([_Unit(name)] if chunked is None else [_Unit(name, indexes) for indexes in chunked])
    if later:
        await _check_later_disbursements(conn, batch, later)
    return units


def _named_by(batch: ValidatedBatch, unit: _Unit) -> set[str]:
    """The loan ids the unit's records name, as sent (rejected records included)."""
    raws = batch.raw[unit.name]
    positions = range(len(raws)) if unit.indexes is None else unit.indexes
    return {loan_id for i in positions
            if isinstance(raws[i], dict) and isinstance(loan_id := raws[i].get("loan_id"), str)}


def _named_later(batch: ValidatedBatch, units: list[_Unit]) -> list[set[str]]:
    """Per unit position, the loans that repayments of this or a later unit name: a loan none of
    them names has all its repayments written, and its state can be finished."""
    later: set[str] = set()
    named: list[set[str]] = []
    for unit in reversed(units):
        if unit.name == "repayments":
            later = later | _named_by(batch, unit)
        named.append(later)
    return named[::-1]


@dataclass
class _Stage:
    """Checks and writes the units of one batch inside its transaction, keeping the counts."""

    conn: asyncpg.Connection
    batch: ValidatedBatch
    sync_id: str
    business_date: date
    known: dict[str, date]
    disbursed: dict[str, date]
    named_later: list[set[str]]  # per unit position (``_named_later``)
    written: dict[str, writer.Written] = field(default_factory=lambda: {name: writer.Written() for name in ENTITIES})
    created: dict[str, int] = field(default_factory=dict)  # minimal officers and customers named by loans
    loans: loan_state.BatchLoans = field(default_factory=loan_state.BatchLoans)
    # new loans whose schedule rows the batch holds: written with those rows (and their computed
    # fields) by the schedule unit that holds them, not by the loans statement
    deferred: dict[str, Any] = field(default_factory=dict)

    def wrote_anything(self) -> bool:
        """Whether a record was inserted or updated (minimal officers and customers included)."""
        return any(self.created.values()) or any(w.inserted or w.updated for w in self.written.values())

    def preparer(self, unit: _Unit | None) -> Callable[[], writer.Rows] | None:
        return None if unit is None else lambda: self.prepare(unit)

    def prepare(self, unit: _Unit) -> writer.Rows:
        """The unit's records that pass both phases (Python only: this runs beside a write)."""
        name, batch = unit.name, self.batch
        items = batch.accepted[name] if unit.checked else check_records(batch, name, self.business_date, unit.indexes)
        if name in ("loan_schedules", "repayments"):
            items = check_references(batch, name, items, self.disbursed, unit.indexes)
        return writer.Rows.of(name, [record for _, record in items])

    async def write(self, position: int, unit: _Unit, rows: writer.Rows) -> None:
        conn, sync_id = self.conn, self.sync_id
        # repayments: the statement also finishes the loans whose repayments are all written
        finish = self.loans.finishable(self.named_later[position]) if unit.name == "repayments" else None
        new_loans = ([self.deferred[loan_id] for loan_id in sorted(_named_by(self.batch, unit))
                      if loan_id in self.deferred] if unit.name == "loan_schedules" and self.deferred else [])
        if not rows.records and not new_loans:
            if finish is not None:
                await conn.execute(loan_state.FINISH_PAYMENTS, self.business_date, finish.loan_ids,
                                   finish.capture_ids, finish.fresh)
            return
        if unit.name == "officers":
            result = await writer.write_officers(conn, rows, sync_id)
        elif unit.name == "customers":
            result = await writer.write_customers(conn, rows)
        elif unit.name == "loans":
            if self.batch.raw["loan_schedules"]:
                scheduled = _named_by(self.batch, _Unit("loan_schedules"))
                self.deferred = {loan["loan_id"]: loan for loan in rows.records
                                 if loan["loan_id"] not in self.known and loan["loan_id"] in scheduled}
            result, officers, customers = await writer.write_loans(conn, rows, sync_id, self.deferred.keys())
            self.created["officers"] = self.created.get("officers", 0) + officers
            self.created["customers"] = self.created.get("customers", 0) + customers
            self.loans.schedule_changed.update(result.loan_ids)
        elif unit.name == "loan_schedules":
            stored = sorted({row["loan_id"] for row in rows.records if row["loan_id"] in self.known})
            result, inserted = await writer.write_schedules(conn, rows, sync_id, self.business_date, stored,
                                                            writer.Rows.of("loans", new_loans))
            self.written["loans"] = self.written["loans"] + inserted
            self.loans.schedule_changed.update(result.loan_ids)
            self.loans.created(result.fresh)
        else:
            result = await writer.write_repayments(conn, rows, sync_id, self.business_date, finish)
            self.loans.paid(result.loan_ids)
        self.written[unit.name] = self.written[unit.name] + result


_RECORDS_BEFORE = """
SELECT l.loan_id, 'repayment' AS kind, min(r.payment_date) AS earliest
FROM unnest($1::text[], $2::date[]) AS l(loan_id, disbursed)
JOIN repayments r ON r.loan_id = l.loan_id AND r.payment_date < l.disbursed AND r.repayment_id <> ALL($3::text[])
GROUP BY l.loan_id
UNION ALL
SELECT l.loan_id, 'schedule', min(s.due_date)
FROM unnest($1::text[], $2::date[]) AS l(loan_id, disbursed)
JOIN loan_schedule s ON s.loan_id = l.loan_id AND s.due_date < l.disbursed
WHERE l.loan_id <> ALL($4::text[])
GROUP BY l.loan_id
"""


async def _check_later_disbursements(conn: asyncpg.Connection, batch: ValidatedBatch, later: list[Any]) -> None:
    """A stored loan re-sent with a later disbursement date must not leave its stored
    repayments or (unreplaced) schedule rows dated before it (SPEC §4 date rules)."""
    rows = await conn.fetch(
        _RECORDS_BEFORE,
        [loan["loan_id"] for loan in later],
        [loan["disbursement_date"] for loan in later],
        [payment["repayment_id"] for payment in batch.valid("repayments")],
        sorted({row["loan_id"] for row in batch.valid("loan_schedules")}),
    )
    problems: dict[str, str] = {}
    for row in rows:
        what = "a stored repayment is dated" if row["kind"] == "repayment" else "a stored installment is due"
        problems.setdefault(row["loan_id"], f"{what} {row['earliest'].isoformat()}, before the new disbursement_date")
    reject_loans(batch, problems)


def _fill(counts: dict[str, int], batch: ValidatedBatch, name: str, result: writer.Written, extra: int) -> None:
    accepted = len(batch.valid(name))
    counts["inserted"] = result.inserted + extra
    counts["updated"] = result.updated
    counts["unchanged"] = accepted - result.inserted - result.updated
    counts["failed"] = batch.failed(name)
