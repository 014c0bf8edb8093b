"""Small API gaps closed before the first release: a team member's phone in GraphQL (read and
written), the officer filter choice named for what it is, and a hint in the response extensions
when a date lies before any data."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.graphql_support import Book, loaded_book


@pytest.fixture(scope="module")
async def book() -> AsyncIterator[Book]:
    async with loaded_book() as loaded:
        yield loaded


async def test_team_member_phone_is_read_and_written(book: Book) -> None:
    mutation = """mutation { upsertTeamMember(memberId: "TM9", memberName: "Nia", memberPhone: "+2348000000009")
                  { memberId memberPhone } }"""
    assert await book.gql(mutation) == {"upsertTeamMember": {"memberId": "TM9", "memberPhone": "+2348000000009"}}
    members = (await book.gql("{ teamMembers { memberId memberPhone } }", role="viewer"))["teamMembers"]
    assert {"memberId": "TM9", "memberPhone": "+2348000000009"} in members
    rest = await book.http.get("/api/v1/audit/team-members", headers=book.headers("viewer"))
    assert {"TM9": "+2348000000009"}.items() <= {m["member_id"]: m["member_phone"] for m in rest.json()["data"]}.items()
    await book.reset_audit()


async def test_the_officer_choice_is_an_officer_option(book: Book) -> None:
    data = await book.gql("{ filterOptions { officers { __typename officerId } } }", role="viewer")
    assert {option["__typename"] for option in data["filterOptions"]["officers"]} == {"OfficerOption"}
    answer = await book.gql("{ __type(name: \"TeamMemberOption\") { name } }")
    assert answer == {"__type": None}


async def test_a_date_before_any_data_says_why_it_is_empty(book: Book) -> None:
    query = "query Old($end: Date!) { officers(period: {endDate: $end}) { totalCount nodes { officerId } } }"
    response = await book.post(query, {"end": "2020-01-31"}, role="viewer")
    assert response.status_code == 200
    document = response.json()
    assert document["data"] == {"officers": {"totalCount": 0, "nodes": []}}
    assert "errors" not in document
    (notice,) = document["extensions"]["notices"]
    assert notice == {
        "code": "NO_DATA_FOR_DATE", "path": ["officers"], "date": "2020-01-31", "earliestCalculatedDate": "2026-08-25",
        "message": "no metrics are calculated on or before 2020-01-31: the earliest calculated date is 2026-08-25",
    }
    # a list empty for another reason (a filter) carries no notice
    other = (await book.post("{ officers(filter: {region: \"Nowhere\"}) { totalCount } }", role="viewer")).json()
    assert other == {"data": {"officers": {"totalCount": 0}}}
    # and a list with rows none either
    assert "extensions" not in (await book.post("{ officers { totalCount } }", role="viewer")).json()
