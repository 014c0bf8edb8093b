"""One ETL batch end to end: validate, write, recompute loan state, all in one transaction.

The HTTP route and ``loanmetrics ingest`` both call ``ingest``; nothing else writes ETL data.
Batches are serialised by a transaction-level advisory lock, so concurrent batches touching the
same loans queue instead of deadlocking, and each sees what the previous one committed.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import asyncpg

from db import loan_state
from db.engine import Database
from db.ingestion import writer
from db.ingestion.payload import ENTITIES, Payload
from db.ingestion.validation import ValidatedBatch, check_references, reject_loans, validate_records

INGEST_LOCK_KEY = 0x4C4D_0002

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
        schedule replacement that only deleted rows, a ``full`` sync on a new business date)."""
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


async def ingest(
    database: Database,
    payload: Payload,
    business_date: date,
    *,
    checkpoint: Checkpoint = _no_checkpoint,
) -> SyncResult:
    """Commit every valid record of ``payload`` with the recomputed state of the loans it touches."""
    sync_id = str(uuid.uuid4())
    batch = validate_records(payload, business_date)
    counts = {name: {"inserted": 0, "updated": 0, "unchanged": 0, "failed": 0} for name in ENTITIES}
    async with database.raw_transaction() as conn:
        await conn.execute("SELECT pg_advisory_xact_lock($1)", INGEST_LOCK_KEY)
        named = sorted(batch.named_loans())
        known = {}
        if named:
            rows = await conn.fetch(
                "SELECT loan_id, disbursement_date FROM loans WHERE loan_id = ANY($1::text[])", named
            )
            known = {row["loan_id"]: row["disbursement_date"] for row in rows}
        await _check_later_disbursements(conn, batch, known)
        check_references(batch, known)

        schedule_changed: set[str] = set()
        payments_changed: set[str] = set()
        officers = writer.Written()
        if batch.valid("officers"):
            officers = await writer.write_officers(conn, batch.valid("officers"), sync_id)
        await checkpoint("officers")
        customers = writer.Written()
        if batch.valid("customers"):
            customers = await writer.write_customers(conn, batch.valid("customers"))
        await checkpoint("customers")
        new_officers = new_customers = 0
        loans = writer.Written()
        if batch.valid("loans"):
            new_officers, new_customers = await writer.create_minimal_parties(conn, batch.valid("loans"))
            loans = await writer.write_loans(conn, batch.valid("loans"), sync_id)
            schedule_changed.update(loans.loan_ids)
        await checkpoint("loans")
        schedules = writer.Written()
        if batch.valid("loan_schedules"):
            schedules = await writer.write_schedules(conn, batch.valid("loan_schedules"), sync_id, business_date)
            schedule_changed.update(schedules.loan_ids)
        await checkpoint("loan_schedules")
        repayments = writer.Written()
        if batch.valid("repayments"):
            repayments = await writer.write_repayments(conn, batch.valid("repayments"), sync_id)
            payments_changed.update(repayments.loan_ids)
        await checkpoint("repayments")

        started = time.perf_counter()
        if payload.sync_type == "full":
            await loan_state.rebuild_all(conn, business_date)
            affected = int(await conn.fetchval("SELECT count(*) FROM loans") or 0)
        else:
            touched = await loan_state.rebuild_loans(
                conn,
                schedule_changed=sorted(schedule_changed),
                payments_changed=sorted(payments_changed),
                business_date=business_date,
            )
            affected = len(touched)
        computation_ms = round((time.perf_counter() - started) * 1000)
        await checkpoint("loan_state")

    written = {
        "officers": (officers, new_officers),
        "customers": (customers, new_customers),
        "loans": (loans, 0),
        "loan_schedules": (schedules, 0),
        "repayments": (repayments, 0),
    }
    for name, (result, extra) in written.items():
        _fill(counts[name], batch, name, result, extra)
    return SyncResult(
        sync_id=sync_id,
        results=counts,
        errors=[error.as_dict() for error in batch.errors],
        loans_affected=affected,
        computation_time_ms=computation_ms,
    )


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


async def _check_later_disbursements(
    conn: asyncpg.Connection, batch: ValidatedBatch, stored: dict[str, date]
) -> None:
    """A stored loan re-sent with a later disbursement date must not leave its stored
    repayments or (unreplaced) schedule rows dated before it (SPEC §4 date rules)."""
    later = [loan for loan in batch.valid("loans")
             if loan["loan_id"] in stored and loan["disbursement_date"] > stored[loan["loan_id"]]]
    if not later:
        return
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
