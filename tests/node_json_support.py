"""What the tests of SQL-built nodes share (tests/test_officer_json.py, tests/test_loan_json.py):
running a document on a schema as a caller, counting the prebuilt answers in it, and audit
records whose timestamps exercise every isoformat case."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import strawberry

from loanmetrics.graph.schema import build_schema
from loanmetrics.principal import Principal, Role
from loanmetrics.resolvers.context import RequestContext
from tests.graphql_support import Book


def both_schemas(book: Book) -> dict[bool, strawberry.Schema]:
    """The production schema (True: compiled plans, prebuilt JSON) and graphql-core's own executor."""
    return {compiled: build_schema(book.app.settings, compiled_plans=compiled) for compiled in (True, False)}


async def run_document(book: Book, schema: strawberry.Schema, document: str, role: Role = Role.ADMIN,
                       principal: Principal | None = None) -> Any:
    """The ``data`` of ``document`` run on ``schema`` for the caller (no errors allowed)."""
    principal = principal or Principal(subject="t", role=role)
    context = RequestContext(application=book.app, principal=principal, request_id="j")
    try:
        result = await schema.execute(document, context_value=context)
    finally:
        await context.close()
    assert not result.errors, result.errors
    return result.data


def prebuilt_count(data: Any) -> int:
    """How many values of the answer are prebuilt JSON."""
    if isinstance(data, orjson.Fragment):
        return 1
    if isinstance(data, dict):
        return sum(prebuilt_count(v) for v in data.values())
    if isinstance(data, list):
        return sum(prebuilt_count(v) for v in data)
    return 0


async def assign_with_timestamps(book: Book) -> None:
    """Two officers assigned; OFF0001's timestamps one without and one with microseconds."""
    await book.gql('mutation { assignAuditor(officerId: "OFF0001", assigneeId: "TM1") { version } }')
    await book.gql('mutation { assignAuditor(officerId: "OFF0002", assigneeId: "TM2") { version } }')
    async with book.app.db.raw_transaction() as conn:
        await conn.execute(
            "UPDATE audit_tracking SET assigned_date = $1, status_changed_date = $2 WHERE officer_id = 'OFF0001'",
            datetime(2026, 9, 18, 8, 30, tzinfo=UTC), datetime(2026, 9, 18, 8, 30, 5, 120000, tzinfo=UTC),
        )
