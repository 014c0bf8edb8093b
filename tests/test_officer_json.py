"""Officer and branch nodes built as JSON in SQL (resolvers/officer_json.py) answer exactly what
the resolvers do, and are used only for selections they can answer.

Each document runs on the production schema and on graphql-core's own executor (which never
splices prebuilt JSON) over the example book; answers are compared as clients receive them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
import strawberry
from strawberry.utils.str_converters import to_camel_case

from loanmetrics.calculators import registry
from loanmetrics.graph.rest.fields import OFFICER_ROW
from loanmetrics.graph.rest.officers import LIST_DOCUMENT, OFFICER_ROW_SQL, list_variables
from loanmetrics.graph.rest.shapes import reshape
from loanmetrics.principal import Principal, Role
from loanmetrics.resolvers.context import RequestContext
from tests.graphql_support import METRICS_FIELDS, Book, loaded_book
from tests.node_json_support import assign_with_timestamps, both_schemas, prebuilt_count, run_document

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

REGISTRY_BRANCH = REGISTRY_METRICS.removeprefix("metrics { ").removesuffix(" }")
BRANCHES_COMPILED = [
    f"{{ branches {{ __typename branch region totalOfficers {TYPED_METRICS} }} }}",
    f"{{ branches {{ branch {REGISTRY_BRANCH} }} }}",
    """{ b: branches(filter: {region: "Lagos"}) { name: branch n: totalOfficers r: riskScore
         f: fimr { v: value b: band } p: portfolio { t: totalPortfolio buckets { bucket balance } } } }""",
    """{ branches(filter: {branch: "Yaba"}) { branch riskBand dqiBand riskPenalties { name points } } }""",
]
BRANCHES_NOT_COMPILED = [  # custom windows run the engine; fragments and directives take the resolvers
    """{ branches(period: {startDate: "2026-09-02"}) { branch riskScore fimr { value } } }""",
    """{ branches { ...B } } fragment B on BranchMetrics { branch riskScore }""",
    """{ branches { branch riskScore @include(if: true) } }""",
]
SCOPES = {
    "unscoped": Principal(subject="t", role=Role.VIEWER),
    "branches": Principal(subject="t", role=Role.VIEWER, branches=("Yaba", "Wuse")),
    "region": Principal(subject="t", role=Role.VIEWER, regions=("Lagos",)),  # engine path: no prebuilt nodes
}


@pytest.fixture(scope="module")
async def book() -> AsyncIterator[Book]:
    async with loaded_book() as loaded:
        await _audit_records(loaded)
        yield loaded


async def _audit_records(book: Book) -> None:
    """Audit rows whose timestamps exercise every isoformat case: microseconds, none, trailing zeros."""
    await assign_with_timestamps(book)
    await book.gql('mutation { recordAuditAction(officerId: "OFF0002", actionType: "call", notes: "n") '
                   '{ actionType } }')


@pytest.fixture(scope="module")
def schemas(book: Book) -> dict[bool, strawberry.Schema]:
    return both_schemas(book)




@pytest.mark.parametrize("document", COMPILED)
async def test_sql_built_nodes_equal_the_resolvers(book: Book, schemas: dict[bool, strawberry.Schema],
                                                   document: str) -> None:
    reference = await run_document(book, schemas[False], document)
    for role in (Role.ADMIN, Role.VIEWER):
        data = await run_document(book, schemas[True], document, role)
        assert prebuilt_count(data) > 0
        assert orjson.loads(orjson.dumps(data)) == reference


async def test_timestamps_are_written_like_isoformat(book: Book, schemas: dict[bool, strawberry.Schema]) -> None:
    document = COMPILED[0]
    nodes = orjson.loads(orjson.dumps(await run_document(book, schemas[True], document)))["officers"]["nodes"]
    audit = {node["officerId"]: node["audit"] for node in nodes}
    assert audit["OFF0001"]["assignedDate"] == "2026-09-18T08:30:00+00:00"
    assert audit["OFF0001"]["statusChangedDate"] == "2026-09-18T08:30:05.120000+00:00"
    assert audit["OFF0002"]["actionType"] == "call"


@pytest.mark.parametrize("document", NOT_COMPILED)
async def test_other_selections_take_the_resolver_path(book: Book, schemas: dict[bool, strawberry.Schema],
                                                       document: str) -> None:
    data = await run_document(book, schemas[True], document)
    assert prebuilt_count(data) == 0
    assert data == await run_document(book, schemas[False], document)


@pytest.mark.parametrize("document", BRANCHES_COMPILED)
@pytest.mark.parametrize("scope", SCOPES)
async def test_sql_built_branches_equal_the_resolvers(book: Book, schemas: dict[bool, strawberry.Schema],
                                                      document: str, scope: str) -> None:
    principal = SCOPES[scope]
    reference = await run_document(book, schemas[False], document, principal=principal)
    data = await run_document(book, schemas[True], document, principal=principal)
    (rows,) = reference.values()
    assert rows, "every document selects at least one branch"
    assert prebuilt_count(data) == (0 if scope == "region" else len(rows))
    assert orjson.loads(orjson.dumps(data)) == reference


async def test_sql_built_branches_hold_the_book(book: Book, schemas: dict[bool, strawberry.Schema]) -> None:
    """The prebuilt nodes carry the branch rows themselves, not only the same shape."""
    data = orjson.loads(orjson.dumps(await run_document(
        book, schemas[True], "{ branches { branch region totalOfficers fimr { numerator denominator } } }")))
    rows = {row["branch"]: row for row in data["branches"]}
    assert set(rows) == {"Garki", "Ikeja", "Kubwa", "Lekki", "Surulere", "Wuse", "Yaba"}
    assert rows["Yaba"]["region"] == "Lagos"
    async with book.app.db.raw_transaction() as conn:
        expected = await conn.fetchrow(
            "SELECT first_miss_count::float8 AS n, fimr_cohort_count::float8 AS d, total_officers "
            "FROM branch_metrics_daily "
            "WHERE branch = 'Yaba' ORDER BY calculation_date DESC LIMIT 1")
    assert expected is not None
    assert rows["Yaba"]["totalOfficers"] == expected["total_officers"] > 1  # officers of other branches lend there
    assert rows["Yaba"]["fimr"] == {"numerator": expected["n"], "denominator": expected["d"]}
    assert expected["d"] > 0


@pytest.mark.parametrize("document", BRANCHES_NOT_COMPILED)
async def test_other_branch_selections_take_the_resolver_path(book: Book, schemas: dict[bool, strawberry.Schema],
                                                              document: str) -> None:
    data = await run_document(book, schemas[True], document)
    assert prebuilt_count(data) == 0
    assert data == await run_document(book, schemas[False], document)


async def test_lists_without_daily_rows_are_computed(schemas: dict[bool, strawberry.Schema]) -> None:
    """The default window's one-statement read finds no branch rows for the latest date (or nothing
    calculated at all): the engine computes the branches, the same numbers the daily rows held."""
    document = "{ branches { branch region totalOfficers riskScore dqi fimr { numerator denominator } } }"
    async with loaded_book() as fresh:
        from_daily = await run_document(fresh, schemas[True], document)
        assert prebuilt_count(from_daily) == len(from_daily["branches"]) == 7
        async with fresh.app.db.raw_transaction() as conn:
            await conn.execute("DELETE FROM branch_metrics_daily WHERE calculation_date = "
                               "(SELECT max(calculation_date) FROM branch_metrics_daily)")
        computed = await run_document(fresh, schemas[True], document)
        assert prebuilt_count(computed) == 0
        assert computed == await run_document(fresh, schemas[False], document)
        assert orjson.loads(orjson.dumps(from_daily)) == computed
        async with fresh.app.db.raw_transaction() as conn:
            await conn.execute("DELETE FROM officer_metrics_daily")
        nothing_calculated = await run_document(fresh, schemas[True], document)
        assert prebuilt_count(nothing_calculated) == 0
        assert nothing_calculated == await run_document(fresh, schemas[False], document)
        # the officer list's one-statement read finds no date either: the engine ranks the officers
        officers = "{ officers(first: 3) { totalCount calculationDate nodes { officerId metrics { riskScore } } } }"
        listed = await run_document(fresh, schemas[True], officers)
        assert listed["officers"]["totalCount"] == 6
        assert listed["officers"]["calculationDate"] == fresh.app.clock.today().isoformat()
        assert listed == await run_document(fresh, schemas[False], officers)


@pytest.mark.parametrize("scope", SCOPES)
async def test_officer_detail_metrics_equal_the_list(book: Book, schemas: dict[bool, strawberry.Schema],
                                                     scope: str) -> None:
    """An officer page reads its default-window metrics in the officer's own statement (one round
    trip): every metric equals the officer list's node, which reads them another way."""
    principal = SCOPES[scope]
    listed = orjson.loads(orjson.dumps(await run_document(
        book, schemas[True], f"{{ officers(first: 50) {{ nodes {{ officerId {REGISTRY_METRICS} }} }} }}",
        principal=principal)))["officers"]["nodes"]
    assert listed
    for node in listed:
        detail = await run_document(book, schemas[True],
                            f'{{ officer(officerId: "{node["officerId"]}") {{ officerId {REGISTRY_METRICS} }} }}',
                            principal=principal)
        assert orjson.loads(orjson.dumps(detail))["officer"] == node


REST_DEFAULTS = {"region": None, "branch": None, "officer_id": None, "risk_band": None, "date": None,
                 "start_date": None, "end_date": None, "sort": "risk_score", "order": "desc", "per_page": 50, "page": 1}


@pytest.mark.parametrize("scope", SCOPES)
async def test_rest_rows_built_in_sql_equal_the_reshaped_answer(book: Book, schemas: dict[bool, strawberry.Schema],
                                                                scope: str) -> None:
    """The REST officer rows PostgreSQL builds (``officer_row_sql``) are the reshaped GraphQL nodes."""
    principal = SCOPES[scope]
    variables = list_variables(dict(REST_DEFAULTS))
    context = RequestContext(application=book.app, principal=principal, request_id="r", officer_rows=OFFICER_ROW_SQL)
    try:
        result = await schemas[True].execute(LIST_DOCUMENT, variable_values=variables, context_value=context)
    finally:
        await context.close()
    assert not result.errors, result.errors
    assert result.data is not None
    rows = result.data["officers"]["nodes"]
    assert rows
    assert all(isinstance(row, orjson.Fragment) for row in rows)
    reference_context = RequestContext(application=book.app, principal=principal, request_id="g")
    try:
        reference = await schemas[False].execute(LIST_DOCUMENT, variable_values=variables,
                                                 context_value=reference_context)
    finally:
        await reference_context.close()
    assert reference.data is not None
    expected = [reshape(node, OFFICER_ROW) for node in reference.data["officers"]["nodes"]]
    if scope == "unscoped":  # both spellings of the status go through the SQL's respelling
        assert {row["audit_status"] for row in expected} >= {"Not Assigned", "Assigned"}
    assert orjson.loads(orjson.dumps(rows)) == expected


async def test_rest_rows_are_cached_apart_from_graphql_answers(book: Book) -> None:
    """The REST route's answer (rows in the GraphQL body) is cached under a key of its own: the
    same document posted to /graphql after the REST answer was cached gets GraphQL nodes."""
    body = {"query": LIST_DOCUMENT, "variables": list_variables(dict(REST_DEFAULTS)), "operationName": "RestOfficers"}

    async def graphql() -> Any:
        response = await book.http.post("/graphql", json=body, headers=book.headers())
        assert response.status_code == 200
        return response.json()["data"]

    first = await book.http.get("/api/v1/metrics/officers?per_page=50", headers=book.headers())
    again = await book.http.get("/api/v1/metrics/officers?per_page=50", headers=book.headers())
    after = await graphql()  # the REST answer is cached by now: it must not be this one
    assert first.status_code == again.status_code == 200
    assert "officerId" in after["officers"]["nodes"][0]
    assert first.json()["data"] == again.json()["data"] == [reshape(n, OFFICER_ROW) for n in after["officers"]["nodes"]]
    assert await graphql() == after
