"""Compiled plans (graph/fast_execution.py) answer exactly what graphql-core's own executor does.

Each document runs twice on the loaded example book: through the production schema (compiled
plans, plans shared across requests) and through the same schema on graphql-core's executor.
The two answers must be equal, including errors, aliases, ``__typename``, directives driven by
variables (a plan shared across requests must not leak one request's @include into another's)
and fields with arguments, which leave the compiled path.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
import strawberry

from loanmetrics.graph.schema import build_schema
from loanmetrics.principal import Principal, Role
from loanmetrics.resolvers.context import RequestContext
from tests.graphql_support import Book, loaded_book


@pytest.fixture(scope="module")
async def book() -> AsyncIterator[Book]:
    async with loaded_book() as loaded:
        yield loaded


METRICS = """riskScore riskBand dqi dqiBand calculationDate periodStart periodEnd
  fimr { value numerator denominator band } allTimeFimr { value band } d06Slippage { value band }
  roll { value } frr { value } ayr { value band } porr { value } onTimeRate { value numerator }
  channelPurity { value denominator } riskPenalties { name weight input points }
  portfolio { activeLoans totalPortfolio overdue15dAmount overdue15dCount disbursedCount disbursedAmount
              totalYield interestCollected feesCollected feesDue waiversAmount totalEntries backdatedCount
              reversalsCount amountDue7d par15MidMonth buckets { bucket count balance } }"""

DOCUMENTS: list[tuple[str, dict[str, Any] | None]] = [
    (f"""{{ officers(first: 6) {{ totalCount calculationDate periodStart
          pageInfo {{ hasNextPage hasPreviousPage startCursor endCursor }}
          edges {{ cursor node {{ officerId officerName officerPhone region branch employmentStatus
                                  primaryChannel rank metrics {{ {METRICS} }}
                                  audit {{ assigneeId assigneeName auditStatus lastAuditDate version }} }} }} }} }}""",
     None),
    (f"""{{ officers(first: 4, sort: {{field: DQI, direction: ASC}}) {{ nodes {{ officerId
          metrics {{ {METRICS} }} }} }} }}""", None),
    ("""{ list: officers(first: 3) { __typename nodes { __typename id: officerId name: officerName
          m: metrics { __typename score: riskScore f: fimr { __typename v: value } p: portfolio { a: activeLoans } }
          a: audit { s: auditStatus } } } }""", None),
    ("""query($withMetrics: Boolean!, $skipAudit: Boolean!) { officers(first: 6) { nodes { officerId
          metrics @include(if: $withMetrics) { riskScore fimr { value } }
          audit @skip(if: $skipAudit) { auditStatus } } } }""", {"withMetrics": True, "skipAudit": False}),
    ("""query($withMetrics: Boolean!, $skipAudit: Boolean!) { officers(first: 6) { nodes { officerId
          metrics @include(if: $withMetrics) { riskScore fimr { value } }
          audit @skip(if: $skipAudit) { auditStatus } } } }""", {"withMetrics": False, "skipAudit": True}),
    ("""{ officers(first: 6) { nodes { officerId
          metrics(period: {startDate: "2026-09-01", endDate: "2026-09-12"}) { riskScore fimr { value } }
          custom: metrics(period: {startDate: "2026-08-25", endDate: "2026-09-18"}) {
            riskScore roll { value } } } } }""",
     None),
    (f"""{{ branches {{ branch region totalOfficers {METRICS} }} regions {{ region totalOfficers {METRICS} }} }}""",
     None),
    (f"""{{ officer(officerId: "OFF0001") {{ officerId metrics {{ {METRICS} }}
          history(startDate: "2026-09-10", endDate: "2026-09-18") {{ calculationDate riskScore fimr {{ value }} }}
          loans(first: 5) {{ totalCount nodes {{ loanId customerName currentDpd totalOutstanding status
                                                  officer {{ officerId }} }} }} }} }}""", None),
    ("""{ fimrDrilldown(first: 10) { totalCount edges { cursor node { loanId customerPhone officerId officerName
          disbursementDate firstPaymentDueDate firstPaymentReceivedDate daysLate fimrTagged currentDpd
          totalOutstanding schedule { installmentNumber dueDate totalDue amountPaid paymentStatus } } } } }""", None),
]


Schemas = dict[bool, strawberry.Schema]


async def _execute(book: Book, schemas: Schemas, compiled: bool, document: str, variables: dict[str, Any] | None,
                   role: Role = Role.ADMIN, branches: tuple[str, ...] = ()) -> tuple[Any, list[Any]]:
    schema = schemas[compiled]
    context = RequestContext(application=book.app, principal=Principal(subject="test", role=role, branches=branches),
                             request_id="fast-execution-test")
    try:
        result = await schema.execute(document, variable_values=variables, context_value=context)
    finally:
        await context.close()
    # compared as clients receive it: nodes the list built as JSON in SQL are orjson fragments
    return orjson.loads(orjson.dumps(result.data)), [(e.message, e.path) for e in result.errors or ()]


@pytest.fixture(scope="module")
def schemas(book: Book) -> Schemas:
    """The production schema (compiled plans) and the same schema on graphql-core's executor."""
    return {compiled: build_schema(book.app.settings, compiled_plans=compiled) for compiled in (True, False)}


@pytest.mark.parametrize("index", range(len(DOCUMENTS)))
async def test_compiled_plans_answer_like_graphql_core(book: Book, schemas: Schemas, index: int) -> None:
    document, variables = DOCUMENTS[index]
    reference = await _execute(book, schemas, False, document, variables)
    assert reference[1] == [], reference[1]
    for _ in range(3):  # the first run compiles, the others reuse the shared plans
        assert await _execute(book, schemas, True, document, variables) == reference


async def test_directive_variables_do_not_leak_between_requests(book: Book, schemas: Schemas) -> None:
    document, _ = DOCUMENTS[3]
    for with_metrics, skip_audit in ((True, False), (False, True), (True, True), (False, False), (True, False)):
        variables = {"withMetrics": with_metrics, "skipAudit": skip_audit}
        data, errors = await _execute(book, schemas, True, document, variables)
        assert errors == []
        for node in data["officers"]["nodes"]:
            assert ("metrics" in node) is with_metrics
            assert ("audit" in node) is not skip_audit


async def test_a_viewer_sees_the_same_answer_on_both_paths(book: Book, schemas: Schemas) -> None:
    document, variables = DOCUMENTS[0]
    reference = await _execute(book, schemas, False, document, variables, Role.VIEWER)
    assert reference[1] == []
    assert await _execute(book, schemas, True, document, variables, Role.VIEWER) == reference


async def test_a_loans_officer_outside_the_scope_on_both_paths(book: Book, schemas: Schemas) -> None:
    """Lekki has loans but no officer of its own: its loans' officers are outside a Lekki scope;
    both executors answer their identity, a null audit and metrics over the Lekki loans only."""
    document = f"""{{ fimrDrilldown(first: 50, filter: {{fimrTagged: false}}) {{ nodes {{ loanId officerId
          officer {{ officerId officerName branch rank audit {{ auditStatus }} metrics {{ {METRICS} }}
                     loans(first: 5) {{ totalCount nodes {{ loanId branch }} }} }} }} }} }}"""
    reference = await _execute(book, schemas, False, document, None, Role.VIEWER, ("Lekki",))
    assert reference[1] == []
    nodes = reference[0]["fimrDrilldown"]["nodes"]
    assert {node["officer"]["officerId"] for node in nodes} == {"OFF0002", "OFF0004"}
    for node in nodes:
        officer = node["officer"]
        assert officer["officerId"] == node["officerId"]
        assert officer["branch"] != "Lekki"
        assert (officer["rank"], officer["audit"]) == (None, None)
        assert officer["metrics"]["portfolio"]["activeLoans"] <= 1  # one Lekki loan each
        assert {loan["branch"] for loan in officer["loans"]["nodes"]} == {"Lekki"}
        assert officer["loans"]["totalCount"] == 1
    for _ in range(2):
        assert await _execute(book, schemas, True, document, None, Role.VIEWER, ("Lekki",)) == reference


async def test_an_officers_loans_carry_that_officer_masked_like_a_joined_one(book: Book, schemas: Schemas) -> None:
    """An officer's loans page joins no officer: each loan's ``officer`` is the officer whose page
    it is, as its own row reads (outside the scope: masked exactly as the drilldown's join masks it)."""
    identity = "officerId officerName officerPhone branch region employmentStatus primaryChannel rank " \
               "audit { auditStatus version }"
    document = f"""{{ fimrDrilldown(first: 50, filter: {{fimrTagged: false}}) {{ nodes {{ officer {{ {identity}
          loans(first: 5) {{ nodes {{ loanId officer {{ {identity} }} }} }} }} }} }} }}"""
    for compiled in (False, True):
        data, errors = await _execute(book, schemas, compiled, document, None, Role.VIEWER, ("Lekki",))
        assert errors == []
        nodes = data["fimrDrilldown"]["nodes"]
        assert nodes
        for node in nodes:
            joined = {key: value for key, value in node["officer"].items() if key != "loans"}
            assert (joined["branch"], joined["region"], joined["audit"], joined["officerPhone"]) == ("", "", None, None)
            for loan in node["officer"]["loans"]["nodes"]:
                assert loan["officer"] == joined


async def test_a_listed_officers_loans_carry_the_officer_without_the_lists_rank_and_window(
    book: Book, schemas: Schemas
) -> None:
    """The officer of a listed officer's loans is the officer as ``officer(officerId)`` reads it:
    no rank (it is in no list there) and ``metrics`` of the default window, not the list's."""
    custom = '{startDate: "2026-09-01", endDate: "2026-09-12"}'
    document = f"""{{ officers(first: 3, period: {custom}) {{ nodes {{ officerId rank metrics {{ riskScore
          fimr {{ value }} }} loans(first: 2) {{ nodes {{ officer {{ officerId rank
          metrics {{ riskScore fimr {{ value }} }} }} }} }} }} }} }}"""
    for compiled in (False, True):
        data, errors = await _execute(book, schemas, compiled, document, None)
        assert errors == []
        for node in data["officers"]["nodes"]:
            alone, alone_errors = await _execute(
                book, schemas, compiled, f'{{ officer(officerId: "{node["officerId"]}") {{ officerId rank '
                                         "metrics { riskScore fimr { value } } } }", None)
            assert alone_errors == []
            assert node["rank"] is not None
            assert node["loans"]["nodes"]
            for loan in node["loans"]["nodes"]:
                assert loan["officer"] == alone["officer"]
