"""Drilldown loan nodes built as JSON in SQL (resolvers/loan_json.py) answer exactly what the
resolvers do, for every role and scope, and are used only for selections they can answer.

Each document runs on the production schema and on graphql-core's own executor (which never
splices prebuilt JSON) over the example book, whose loans are given phones of every masking case
and amounts of every decimal shape; answers are compared as clients receive them, number types
included (``50000.0`` is not ``50000``: the REST and CSV routes re-encode these values).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
import strawberry

from bench.api import FIMR_DRILLDOWN as BENCH_FIMR_DRILLDOWN
from loanmetrics.principal import Principal, Role
from loanmetrics.resolvers.context import RequestContext
from loanmetrics.resolvers.loans import mask_phone
from tests.graphql_support import Book, loaded_book
from tests.node_json_support import assign_with_timestamps, both_schemas, prebuilt_count, run_document

LOAN_FIELDS = """loanId officerId customerId customerName customerPhone region branch channel status loanAmount
                 disbursementDate maturityDate currentDpd maxDpdEver firstPaymentDueDate firstPaymentReceivedDate
                 daysLate fimrTagged earlyIndicatorTagged totalOutstanding lastPaymentDate nextPaymentDue
                 officerName"""
OFFICER = """officer { __typename officerId officerName officerPhone region branch employmentStatus primaryChannel
                       rank audit { __typename officerId assigneeId assigneeName assignedDate auditStatus
                                    statusChangedDate lastAuditDate auditNotes riskLevel actionType actionDate
                                    actionNotes version } }"""
EVERYTHING = f"__typename {LOAN_FIELDS} {OFFICER}"
COMPILED = [
    BENCH_FIMR_DRILLDOWN,
    f"{{ fimrDrilldown(first: 50) {{ totalCount nodes {{ {EVERYTHING} }} }} }}",
    f"{{ fimrDrilldown(first: 50, filter: {{fimrTagged: false}}) {{ totalCount nodes {{ {EVERYTHING} }} }} }}",
    f"{{ earlyIndicatorsDrilldown(first: 50) {{ totalCount nodes {{ {EVERYTHING} }} }} }}",
    f"""{{ earlyIndicatorsDrilldown(first: 50, filter: {{earlyIndicatorTagged: false}}) {{
           __typename totalCount pageInfo {{ hasNextPage hasPreviousPage startCursor endCursor }}
           edges {{ cursor node {{ {EVERYTHING} }} }} }} }}""",
    """{ f: fimrDrilldown(first: 7, filter: {fimrTagged: false, region: "Lagos"}, sort: {field: LOAN_AMOUNT}) {
           n: totalCount list: nodes { id: loanId amount: loanAmount late: daysLate t: __typename
                                       who: officer { id: officerId name: officerName r: region
                                                      a: audit { s: auditStatus v: version } } } }
         e: earlyIndicatorsDrilldown(first: 3, offset: 1, sort: {field: TOTAL_OUTSTANDING, direction: ASC},
                                     filter: {earlyIndicatorTagged: false}) {
           edges { node { loanId totalOutstanding nextPaymentDue } cursor } } }""",
    """{ fimrDrilldown(first: 10, filter: {fimrTagged: false, dpdMin: 0, dpdMax: 90},
                      sort: {field: DAYS_LATE, direction: DESC}) { totalCount pageInfo { endCursor }
           nodes { loanId daysLate customerPhone officer { branch audit { assignedDate } } } } }""",
    """{ fimrDrilldown(first: 10, filter: {fimrTagged: false, search: "a", status: "Active"},
                      sort: {field: CURRENT_DPD}) { totalCount nodes { loanId currentDpd status customerName } } }""",
]
NOT_COMPILED = [  # fragments, directives, arguments, fields with their own statements: the resolver path
    """{ fimrDrilldown(first: 5) { nodes { ...L } } } fragment L on Loan { loanId loanAmount }""",
    """{ fimrDrilldown(first: 5) { nodes { loanId ... on Loan { customerPhone } } } }""",
    """{ fimrDrilldown(first: 5) { nodes { loanId customerPhone @include(if: true) } } }""",
    """{ fimrDrilldown(first: 5) { nodes { loanId schedule { installmentNumber totalDue } } } }""",
    """{ fimrDrilldown(first: 5) { nodes { loanId repayments { paymentAmount } } } }""",
    """{ fimrDrilldown(first: 5) { nodes { loanId officer { officerId metrics { riskScore } } } } }""",
    """{ fimrDrilldown(first: 5) { nodes { loanId officer { audit { actions { actionType } } } } } }""",
    """{ fimrDrilldown(first: 5) { nodes { loanId officer { loans(first: 1) { totalCount } } } } }""",
    """{ earlyIndicatorsDrilldown(first: 5) { nodes { loanId } edges { node { customerName } } } }""",
]
PRINCIPALS = {
    "admin": Principal(subject="t", role=Role.ADMIN),
    "viewer": Principal(subject="t", role=Role.VIEWER),
    "auditor": Principal(subject="t", role=Role.AUDITOR),
    "branch viewer": Principal(subject="t", role=Role.VIEWER, branches=("Yaba", "Wuse")),
    "region admin": Principal(subject="t", role=Role.ADMIN, regions=("Lagos",)),
}
PHONES = [None, "", "1", "1234567", "12345678", "+2348012345678", "+234 801 ÄÖÜ 5678"]
AMOUNTS = ["50000.00", "1234.50", "0.05", "0.10", "9999999999999.99", "1000000.01", "7.00"]


@pytest.fixture(scope="module")
async def book() -> AsyncIterator[Book]:
    async with loaded_book() as loaded:
        await _variety(loaded)
        yield loaded


async def _variety(book: Book) -> None:
    """Phones of every masking case, amounts of every decimal shape, audit timestamps with and
    without microseconds, spread over the loans in id order."""
    await assign_with_timestamps(book)
    async with book.app.db.raw_transaction() as conn:
        loan_ids = [row["loan_id"] for row in await conn.fetch("SELECT loan_id FROM loans ORDER BY loan_id")]
        for n, loan_id in enumerate(loan_ids):
            await conn.execute(
                "UPDATE loans SET customer_phone = $2, loan_amount = $3::numeric, "
                "total_outstanding = $4::numeric WHERE loan_id = $1",
                loan_id, PHONES[n % len(PHONES)], AMOUNTS[n % len(AMOUNTS)], AMOUNTS[(n + 3) % len(AMOUNTS)])


@pytest.fixture(scope="module")
def schemas(book: Book) -> dict[bool, strawberry.Schema]:
    return both_schemas(book)


def _as_sent(data: Any) -> bytes:
    """The answer's bytes as a client decodes and re-encodes them: whitespace aside, every value
    and its JSON number type (``orjson`` writes floats with a fraction or exponent)."""
    return orjson.dumps(orjson.loads(orjson.dumps(data)))


@pytest.mark.parametrize("document", COMPILED)
@pytest.mark.parametrize("who", PRINCIPALS)
async def test_sql_built_loans_equal_the_resolvers(book: Book, schemas: dict[bool, strawberry.Schema],
                                                   document: str, who: str) -> None:
    principal = PRINCIPALS[who]
    reference = await run_document(book, schemas[False], document, principal=principal)
    data = await run_document(book, schemas[True], document, principal=principal)
    assert prebuilt_count(data) > 0
    assert _as_sent(data) == _as_sent(reference)


async def test_the_book_covers_every_case(book: Book, schemas: dict[bool, strawberry.Schema]) -> None:
    """The comparisons above meet every phone mask, amount shape, and officers in and out of scope."""
    document = COMPILED[2].replace("first: 50", "first: 200")
    seen = orjson.loads(orjson.dumps(await run_document(book, schemas[True], document,
                                                principal=PRINCIPALS["branch viewer"])))
    nodes = seen["fimrDrilldown"]["nodes"]
    assert len(nodes) == seen["fimrDrilldown"]["totalCount"] >= 2 * len(AMOUNTS)
    assert {node["customerPhone"] for node in nodes} == {mask_phone(phone) for phone in PHONES}
    assert {repr(node["loanAmount"]) for node in nodes} == {repr(float(amount)) for amount in AMOUNTS}
    outside = [node["officer"] for node in nodes if node["officer"]["branch"] == ""]
    inside = [node["officer"] for node in nodes if node["officer"]["branch"] != ""]
    assert outside
    assert inside
    assert all(officer["audit"] is None and officer["officerPhone"] is None and officer["region"] == ""
               for officer in outside)
    assert all(officer["audit"] is not None for officer in inside)
    stamps = {node["officer"]["audit"]["statusChangedDate"] for node in nodes if node["officer"]["audit"]}
    assert "2026-09-18T08:30:05.120000+00:00" in stamps


async def test_pages_follow_the_cursors(book: Book, schemas: dict[bool, strawberry.Schema]) -> None:
    """Cursors of prebuilt pages are the resolvers' and lead to the same next pages."""
    document = """query($after: String) { fimrDrilldown(first: 4, after: $after, filter: {fimrTagged: false},
                    sort: {field: DAYS_LATE}) { pageInfo { hasNextPage endCursor }
                    edges { cursor node { loanId } } } }"""
    after: str | None = None
    pages = 0
    while True:
        answers = []
        for compiled in (True, False):
            context = RequestContext(application=book.app, principal=PRINCIPALS["viewer"], request_id="j")
            try:
                result = await schemas[compiled].execute(document, variable_values={"after": after},
                                                         context_value=context)
            finally:
                await context.close()
            assert not result.errors, result.errors
            assert result.data is not None
            answers.append(result.data)
        assert prebuilt_count(answers[0]) > 0
        assert _as_sent(answers[0]) == _as_sent(answers[1])
        page = answers[1]["fimrDrilldown"]
        pages += 1
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert pages > 2


@pytest.mark.parametrize("document", NOT_COMPILED)
async def test_other_loan_selections_take_the_resolver_path(book: Book, schemas: dict[bool, strawberry.Schema],
                                                            document: str) -> None:
    for principal in (PRINCIPALS["admin"], PRINCIPALS["branch viewer"]):
        data = await run_document(book, schemas[True], document, principal=principal)
        assert prebuilt_count(data) == 0
        assert _as_sent(data) == _as_sent(await run_document(book, schemas[False], document, principal=principal))


async def test_amounts_fit_the_exact_text(book: Book) -> None:
    """``loan_json.money_json`` writes the decimal itself, exact while amounts have at most 15
    significant digits (NUMERIC(15,2)): a wider column must change it."""
    async with book.app.db.raw_transaction() as conn:
        rows = await conn.fetch(
            "SELECT column_name, numeric_precision, numeric_scale FROM information_schema.columns "
            "WHERE table_name = 'loans' AND column_name IN ('loan_amount', 'total_outstanding') ORDER BY 1")
    assert [tuple(row) for row in rows] == [("loan_amount", 15, 2), ("total_outstanding", 15, 2)]
