"""API statements stay cheap for PostgreSQL (issue 13): pages keep their prepared statement's
generic plan instead of being planned again on every execution, and a loan page that selects
neither last payment nor next due answers the same without reading the maintained state."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from loanmetrics.db.params import Params
from loanmetrics.principal import Principal, Role
from loanmetrics.resolvers import loans, officers
from loanmetrics.resolvers.context import RequestContext
from loanmetrics.resolvers.inputs import LoanOrder, LoanSortField
from tests.graphql_support import Book, loaded_book

EXECUTIONS = 8  # PostgreSQL plans the first five executions of a prepared statement for their values


@pytest.fixture(scope="module")
async def book() -> AsyncIterator[Book]:
    async with loaded_book() as loaded:
        yield loaded


async def _plans(ctx: RequestContext, marker: str) -> tuple[int, int]:
    """(generic, custom) plans of this session's prepared statements whose text holds ``marker``."""
    row = await ctx.fetchrow(
        "SELECT coalesce(sum(generic_plans), 0)::int AS generic, coalesce(sum(custom_plans), 0)::int AS custom "
        "FROM pg_prepared_statements WHERE strpos(statement, $1) > 0 AND strpos(statement, 'pg_prepared') = 0",
        marker,
    )
    assert row is not None
    return row["generic"], row["custom"]


def _context(book: Book) -> RequestContext:
    return RequestContext(application=book.app, principal=Principal(subject="t", role=Role.VIEWER), request_id="p")


@pytest.mark.parametrize("tag", ["fimr_tagged", "early_indicator_tagged"])
async def test_a_drilldown_page_is_not_planned_again_on_every_execution(book: Book, tag: str) -> None:
    ctx = _context(book)  # one context: one connection, whose prepared statements we read
    marker = f"l.{tag} AND"
    try:
        before = await _plans(ctx, marker)
        for _ in range(EXECUTIONS):
            page = await loans.drilldown(ctx, tag, None, 3, None, 2, LoanOrder(field=LoanSortField.DISBURSEMENT_DATE))
            assert len(page.items) == 3
        after = await _plans(ctx, marker)
    finally:
        await ctx.close()
    generic, custom = after[0] - before[0], after[1] - before[1]
    assert custom + generic == EXECUTIONS
    assert generic >= EXECUTIONS - 5


async def test_the_officer_list_is_not_planned_again_on_every_execution(book: Book) -> None:
    ctx = _context(book)
    try:
        before = await _plans(ctx, "risk_rank")
        for _ in range(EXECUTIONS):
            page = await officers.list_officers(ctx, None, None, None, 4, None, 1)
            assert len(page.items) == 4
        after = await _plans(ctx, "risk_rank")
    finally:
        await ctx.close()
    generic, custom = after[0] - before[0], after[1] - before[1]
    assert custom + generic == EXECUTIONS
    assert generic >= EXECUTIONS - 5


def test_page_counts_are_integers_only() -> None:
    assert Params.count(51) == "51"
    assert Params.count(0) == "0"
    for bad in (-1, "51", 5.0, True, None):
        with pytest.raises(ValueError):
            Params.count(bad)  # type: ignore[arg-type]


LOAN_FIELDS = "loanId customerName customerPhone currentDpd daysLate totalOutstanding status disbursementDate"
STATE = "lastPaymentDate nextPaymentDue"


def _without_state(nodes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{key: value for key, value in node.items() if key not in ("lastPaymentDate", "nextPaymentDue")}
            for node in nodes]


@pytest.mark.parametrize("field", ["fimrDrilldown", "earlyIndicatorsDrilldown"])
async def test_a_drilldown_without_state_fields_answers_the_same(book: Book, field: str) -> None:
    with_state = (await book.gql(f"{{ {field}(first: 20) {{ totalCount nodes {{ {LOAN_FIELDS} {STATE} }} }} }}"))
    without = (await book.gql(f"{{ {field}(first: 20) {{ totalCount nodes {{ {LOAN_FIELDS} }} }} }}"))
    assert without[field]["totalCount"] == with_state[field]["totalCount"] > 0
    assert without[field]["nodes"] == _without_state(with_state[field]["nodes"])
    # the state fields still come from the maintained state, in a fragment too
    via_fragment = await book.gql(f"{{ {field}(first: 20) {{ nodes {{ ...L }} }} }} "
                                  f"fragment L on Loan {{ {LOAN_FIELDS} {STATE} }}")
    assert via_fragment[field]["nodes"] == with_state[field]["nodes"]
    assert any(node["lastPaymentDate"] is not None for node in with_state[field]["nodes"])
    for node in with_state[field]["nodes"][:5]:
        one = await book.gql(f'{{ loan(loanId: "{node["loanId"]}") {{ {STATE} }} }}')
        assert (one["loan"]["lastPaymentDate"], one["loan"]["nextPaymentDue"]) == (
            node["lastPaymentDate"], node["nextPaymentDue"])


async def test_an_officers_loans_without_state_fields_answer_the_same(book: Book) -> None:
    document = "{ officers(first: 3) { nodes { officerId loans(first: 10) { totalCount nodes { %s } } } } }"
    with_state = await book.gql(document % f"{LOAN_FIELDS} {STATE}")
    without = await book.gql(document % LOAN_FIELDS)
    assert [n["loans"]["totalCount"] for n in without["officers"]["nodes"]] == \
        [n["loans"]["totalCount"] for n in with_state["officers"]["nodes"]]
    for plain, full in zip(without["officers"]["nodes"], with_state["officers"]["nodes"], strict=True):
        assert plain["loans"]["nodes"] == _without_state(full["loans"]["nodes"])
    assert any(loan["lastPaymentDate"] is not None
               for node in with_state["officers"]["nodes"] for loan in node["loans"]["nodes"])

