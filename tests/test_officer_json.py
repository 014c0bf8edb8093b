"""Officer nodes built as JSON in SQL (resolvers/officer_json.py) answer exactly what the
resolvers do, and are used only for selections they can answer.

Each document runs on the production schema and on graphql-core's own executor (which never
splices prebuilt JSON) over the example book; answers are compared as clients receive them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
import strawberry
from strawberry.utils.str_converters import to_camel_case

from loanmetrics.calculators import registry
from loanmetrics.graph.schema import build_schema
from loanmetrics.principal import Principal, Role
from loanmetrics.resolvers.context import RequestContext
from tests.graphql_support import METRICS_FIELDS, Book, loaded_book

AUDIT = """audit { __typename officerId assigneeId assigneeName assignedDate auditStatus statusChangedDate
                   lastAuditDate auditNotes riskLevel actionType actionDate actionNotes version }"""
TYPED_METRICS = (METRICS_FIELDS.replace("riskPenalties {", "riskPenalties { __typename")
                 .replace("portfolio {", "portfolio { __typename").replace("buckets {", "buckets { __typename")
                 .replace("fimr { ", "fimr { __typename "))
EVERYTHING = f"""__typename officerId officerName officerPhone region branch employmentStatus primaryChannel rank
                 metrics {{ __typename {TYPED_METRICS} }} {AUDIT}"""

# every metric the registry declares (a field the SQL-built nodes did not know would not compile)
REGISTRY_METRICS = (
    "metrics { "
    + " ".join(f"{to_camel_case(r.name)} {{ value numerator denominator band }}" for r in registry.RATIOS)
    + " riskScore riskBand dqi dqiBand riskPenalties { name weight input points } portfolio { "
    + " ".join(to_camel_case(c.name) for c in registry.COMPONENTS if c.portfolio)
    + " buckets { bucket count balance } } }"
)

COMPILED = [
    f"{{ officers(first: 8) {{ totalCount nodes {{ {EVERYTHING} }} }} }}",
    f"{{ officers(first: 8) {{ nodes {{ officerId {REGISTRY_METRICS} }} }} }}",
    f"{{ officers(first: 8, sort: {{field: DQI, direction: ASC}}) {{ edges {{ cursor node {{ {EVERYTHING} }} }} }} }}",
    """{ list: officers(first: 5, filter: {region: "Lagos"}) { pageInfo { hasNextPage endCursor }
         nodes { id: officerId score: metrics { r: riskScore f: fimr { v: value b: band }
                                                p: portfolio { t: totalPortfolio } }
                 a: audit { s: auditStatus d: assignedDate } } } }""",
]
NOT_COMPILED = [  # arguments, fragments, directives, resolvers with their own queries: the resolver path
    """{ officers(first: 3) { nodes { officerId metrics(period: {startDate: "2026-09-02"}) { riskScore } } } }""",
    """{ officers(first: 3) { nodes { ...O } } } fragment O on Officer { officerId metrics { riskScore } }""",
    """{ officers(first: 3) { nodes { officerId audit @include(if: true) { auditStatus } } } }""",
    """{ officers(first: 3) { nodes { officerId audit { actions { actionType } } } } }""",
    """{ officers(first: 3) { nodes { officerId } edges { node { officerName } } } }""",
    """{ officers(first: 2) { nodes { officerId loans(first: 2) { totalCount } } } }""",
]


@pytest.fixture(scope="module")
async def book() -> AsyncIterator[Book]:
    async with loaded_book() as loaded:
        await _audit_records(loaded)
        yield loaded


async def _audit_records(book: Book) -> None:
    """Audit rows whose timestamps exercise every isoformat case: microseconds, none, trailing zeros."""
    await book.gql('mutation { assignAuditor(officerId: "OFF0001", assigneeId: "TM1") { version } }')
    await book.gql('mutation { assignAuditor(officerId: "OFF0002", assigneeId: "TM2") { version } }')
    await book.gql('mutation { recordAuditAction(officerId: "OFF0002", actionType: "call", notes: "n") '
                   '{ actionType } }')
    async with book.app.db.raw_transaction() as conn:
        await conn.execute(
            "UPDATE audit_tracking SET assigned_date = $1, status_changed_date = $2 WHERE officer_id = 'OFF0001'",
            datetime(2026, 9, 18, 8, 30, tzinfo=UTC), datetime(2026, 9, 18, 8, 30, 5, 120000, tzinfo=UTC),
        )


@pytest.fixture(scope="module")
def schemas(book: Book) -> dict[bool, strawberry.Schema]:
    return {compiled: build_schema(book.app.settings, compiled_plans=compiled) for compiled in (True, False)}


async def _run(book: Book, schema: strawberry.Schema, document: str, role: Role = Role.ADMIN) -> Any:
    context = RequestContext(application=book.app, principal=Principal(subject="t", role=role), request_id="j")
    try:
        result = await schema.execute(document, context_value=context)
    finally:
        await context.close()
    assert not result.errors, result.errors
    return result.data


def _fragments(data: Any) -> int:
    """How many values of the answer are prebuilt JSON."""
    if isinstance(data, orjson.Fragment):
        return 1
    if isinstance(data, dict):
        return sum(_fragments(v) for v in data.values())
    if isinstance(data, list):
        return sum(_fragments(v) for v in data)
    return 0


@pytest.mark.parametrize("document", COMPILED)
async def test_sql_built_nodes_equal_the_resolvers(book: Book, schemas: dict[bool, strawberry.Schema],
                                                   document: str) -> None:
    reference = await _run(book, schemas[False], document)
    for role in (Role.ADMIN, Role.VIEWER):
        data = await _run(book, schemas[True], document, role)
        assert _fragments(data) > 0
        assert orjson.loads(orjson.dumps(data)) == reference


async def test_timestamps_are_written_like_isoformat(book: Book, schemas: dict[bool, strawberry.Schema]) -> None:
    document = COMPILED[0]
    nodes = orjson.loads(orjson.dumps(await _run(book, schemas[True], document)))["officers"]["nodes"]
    audit = {node["officerId"]: node["audit"] for node in nodes}
    assert audit["OFF0001"]["assignedDate"] == "2026-09-18T08:30:00+00:00"
    assert audit["OFF0001"]["statusChangedDate"] == "2026-09-18T08:30:05.120000+00:00"
    assert audit["OFF0002"]["actionType"] == "call"


@pytest.mark.parametrize("document", NOT_COMPILED)
async def test_other_selections_take_the_resolver_path(book: Book, schemas: dict[bool, strawberry.Schema],
                                                       document: str) -> None:
    data = await _run(book, schemas[True], document)
    assert _fragments(data) == 0
    assert data == await _run(book, schemas[False], document)
