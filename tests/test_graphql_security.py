"""GraphQL security through the real HTTP app (SPEC §10): authentication before anything runs,
roles on every mutation (nothing written when refused), branch and region scope in every list,
lookup, drilldown and aggregate, masked customer phones, masked unexpected errors, GraphiQL and
GET requests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from loanmetrics.db import metric_engine as engine
from tests.conftest import JWT_SECRET
from tests.graphql_support import (
    CUSTOM,
    CUSTOM_PERIOD,
    EXPECTED_LOANS,
    LOAN_FIELDS,
    METRICS_FIELDS,
    MTD,
    PAYLOAD,
    Book,
    engine_metrics,
    expected_loan,
    expected_metrics,
    loaded_book,
    mask_phone,
)

OFFICERS = {o["officer_id"]: o for o in PAYLOAD["officers"]}
LOANS = {loan["loan_id"]: loan for loan in PAYLOAD["loans"]}
WINDOWS = {"default": (None, MTD), "custom": (CUSTOM_PERIOD, CUSTOM)}

MUTATIONS = {
    "assignAuditor": 'mutation { assignAuditor(officerId: "OFF0001", assigneeId: "TM1") { version } }',
    "updateAuditStatus": 'mutation { updateAuditStatus(officerId: "OFF0001", status: IN_PROGRESS) { version } }',
    "recordAuditAction": 'mutation { recordAuditAction(officerId: "OFF0001", actionType: "call") { id } }',
    "recalculate": "mutation { recalculate { id } }",
    "upsertTeamMember": 'mutation { upsertTeamMember(memberId: "TM7", memberName: "Seven") { memberId } }',
}


@pytest.fixture(scope="module")
async def book() -> AsyncIterator[Book]:
    async with loaded_book() as loaded:
        yield loaded


@pytest.fixture(autouse=True)
async def _fresh_audit(book: Book) -> None:
    await book.reset_audit()


# --- authentication and roles -----------------------------------------------------------------


def expired_token() -> str:
    import time

    import jwt

    now = int(time.time())
    return jwt.encode({"sub": "old", "role": "admin", "iat": now - 7200, "exp": now - 3600}, JWT_SECRET,
                      algorithm="HS256")


async def test_no_valid_token_is_401_before_anything_runs(book: Book) -> None:
    import jwt

    query = {"query": "{ regions { region } }"}
    bad_headers: list[dict[str, str]] = [
        {}, {"Authorization": "Bearer"}, {"Authorization": "Basic YWRtaW46YWRtaW4="},
        {"Authorization": "Bearer not.a.token"}, {"Authorization": f"Bearer {expired_token()}"},
        {"Authorization": "Bearer " + jwt.encode({"sub": "x", "role": "admin", "exp": 4102444800},
                                                 "another-secret-of-the-same-length-as-ours", algorithm="HS256")},
        {"Authorization": "Bearer " + jwt.encode({"sub": "x", "role": "root", "exp": 4102444800}, JWT_SECRET,
                                                 algorithm="HS256")},
    ]
    for headers in bad_headers:
        for response in (
            await book.http.post("/graphql", json=query, headers=headers),
            await book.http.post("/graphql", content=b"{not json", headers=headers),
            await book.http.post("/graphql", json={"query": MUTATIONS["recalculate"]}, headers=headers),
            await book.http.get("/graphql", params=query, headers=headers),
            await book.http.get("/graphql", params=query, headers={**headers, "Accept": "text/html"}),
            await book.http.get("/graphql", headers={**headers, "Accept": "application/json"}),
        ):
            assert response.status_code == 401, (headers, response.text)
            assert response.json()["error"]["code"] == "UNAUTHENTICATED"
            assert response.headers["WWW-Authenticate"] == "Bearer"
    assert (await book.http.get("/healthz")).status_code == 200
    # the GraphiQL page itself is public and carries no data (SPEC §10)
    assert (await book.http.get("/graphql", headers={"Accept": "text/html"})).status_code == 200


async def test_an_etl_token_is_403_whatever_it_sends(book: Book) -> None:
    headers = book.headers("etl")
    before = await book.counts()
    for response in (
        await book.http.post("/graphql", json={"query": "{ regions { region } }"}, headers=headers),
        await book.http.post("/graphql", json={"query": MUTATIONS["recalculate"]}, headers=headers),
        await book.http.post("/graphql", content=b"{not json", headers=headers),
        await book.http.post("/graphql", content=b"x" * (2 << 20), headers=headers),
        await book.http.get("/graphql", params={"query": "{ regions { region } }"}, headers=headers),
        await book.http.get("/graphql", headers={**headers, "Accept": "application/json"}),
    ):
        assert response.status_code == 403, response.text
        assert response.json()["error"]["code"] == "FORBIDDEN"
    assert await book.counts() == before


@pytest.mark.parametrize("name", MUTATIONS)
async def test_a_viewer_may_run_no_mutation(book: Book, name: str) -> None:
    before = await book.counts()
    response = await book.post(MUTATIONS[name], role="viewer")
    assert response.status_code == 200
    document = response.json()
    assert document["data"] is None
    assert [(e["extensions"]["code"], e["path"]) for e in document["errors"]] == [("FORBIDDEN", [name])]
    assert await book.counts() == before


@pytest.mark.parametrize("name", ["recalculate", "upsertTeamMember"])
async def test_an_auditor_may_not_recalculate_or_manage_the_team(book: Book, name: str) -> None:
    before = await book.counts()
    errors = await book.errors(MUTATIONS[name], role="auditor")
    assert errors[0]["extensions"]["code"] == "FORBIDDEN"
    assert await book.counts() == before
    # an admin may
    assert "errors" not in (await book.post(MUTATIONS[name], role="admin")).json()


@pytest.mark.parametrize("name", ["assignAuditor", "recordAuditAction"])
async def test_an_auditor_may_audit(book: Book, name: str) -> None:
    response = await book.post(MUTATIONS[name], role="auditor")
    assert "errors" not in response.json(), response.text


# --- scope --------------------------------------------------------------------------------------

SCOPES: dict[str, dict[str, tuple[str, ...]]] = {
    "surulere": {"branches": ("Surulere",)},
    "lekki": {"branches": ("Lekki",)},  # a branch with loans but no officer of its own
    "wuse+yaba": {"branches": ("Wuse", "Yaba")},
    "abuja": {"regions": ("Abuja",)},
    "lagos+ikeja": {"regions": ("Lagos",), "branches": ("Ikeja",)},
}


def sees(scope: dict[str, tuple[str, ...]], branch: str, region: str) -> bool:
    return (not scope.get("branches") or branch in scope["branches"]) and (
        not scope.get("regions") or region in scope["regions"])


def visible_officers(scope: dict[str, tuple[str, ...]]) -> set[str]:
    return {k for k, o in OFFICERS.items() if sees(scope, o["branch"], o["region"])}


def visible_loans(scope: dict[str, tuple[str, ...]]) -> set[str]:
    return {k for k, loan in LOANS.items() if sees(scope, loan["branch"], loan["region"])}


@pytest.mark.parametrize("window", WINDOWS)
@pytest.mark.parametrize("name", SCOPES)
async def test_scoped_officer_lists_and_lookups(book: Book, name: str, window: str) -> None:
    scope = SCOPES[name]
    period, spec = WINDOWS[window]
    officers = visible_officers(scope)
    data = await book.gql(
        f"""query($period: PeriodInput) {{
              officers(period: $period) {{ totalCount nodes {{ officerId rank metrics {{ {METRICS_FIELDS} }} }} }}
              yaba: officers(period: $period, filter: {{branch: "Yaba"}}) {{ totalCount }}
              {" ".join(f'{k}: officer(officerId: "{k}") {{ officerId }}' for k in OFFICERS)}
            }}""",
        {"period": period}, role="viewer", scope=scope,
    )
    assert {n["officerId"] for n in data["officers"]["nodes"]} == officers
    assert data["officers"]["totalCount"] == len(officers)
    # an officer's metrics count its loans in the scope only (SPEC §10): the engine over them, by hand
    in_scope = engine.Scope(officers=tuple(officers), branches=scope.get("branches"), regions=scope.get("regions"))
    async with book.app.db.raw_reader() as conn:
        rows = {row["group_key"]: row for row in await engine.compute(
            conn, "officer", [(date.fromisoformat(spec["start"]), date.fromisoformat(spec["end"]))], scope=in_scope)}
    loans = visible_loans(scope)
    for node in data["officers"]["nodes"]:
        key = node["officerId"]
        assert node["metrics"] == engine_metrics(rows[key])
        if all(k in loans for k, loan in LOANS.items() if loan["officer_id"] == key):  # its whole book is in scope
            assert node["metrics"] == expected_metrics(spec["officer"][key])
    assert data["yaba"]["totalCount"] == (1 if "OFF0006" in officers else 0)  # a filter never widens a scope
    for key in OFFICERS:
        assert data[key] == ({"officerId": key} if key in officers else None), key


@pytest.mark.parametrize("name", SCOPES)
async def test_scoped_loans_in_every_list_and_lookup(book: Book, name: str) -> None:
    scope = SCOPES[name]
    loans = visible_loans(scope)
    fields = f"{LOAN_FIELDS} officer {{ officerId }}"
    data = await book.gql(
        f"""{{
          fimr: fimrDrilldown(first: 500) {{ totalCount nodes {{ {fields} }} }}
          untagged: fimrDrilldown(first: 500, filter: {{fimrTagged: false}}) {{ totalCount nodes {{ loanId }} }}
          early: earlyIndicatorsDrilldown(first: 500) {{ totalCount nodes {{ {fields} }} }}
          other: fimrDrilldown(first: 500, filter: {{branch: "Garki"}}) {{ totalCount }}
          officers(first: 6) {{ nodes {{ officerId loans(first: 100) {{ totalCount nodes {{ loanId }} }} }} }}
        }}""",
        role="viewer", scope=scope,
    )
    fimr = {k for k in loans if EXPECTED_LOANS[k]["fimr_tagged"]}
    early = {k for k in loans if EXPECTED_LOANS[k]["early_indicator_tagged"]}
    assert {n["loanId"] for n in data["fimr"]["nodes"]} == fimr
    assert data["fimr"]["totalCount"] == len(fimr)
    assert {n["loanId"] for n in data["untagged"]["nodes"]} == loans - fimr
    assert {n["loanId"] for n in data["early"]["nodes"]} == early
    assert data["other"]["totalCount"] == len({k for k in fimr if LOANS[k]["branch"] == "Garki"})
    for node in data["fimr"]["nodes"] + data["early"]["nodes"]:
        # SPEC §6 Loan.officer is non-null: the loan's own officer, in scope or not
        assert node.pop("officer") == {"officerId": LOANS[node["loanId"]]["officer_id"]}
        assert node == expected_loan(node["loanId"], masked=True)
    for node in data["officers"]["nodes"]:
        mine = {k for k in loans if LOANS[k]["officer_id"] == node["officerId"]}
        assert {n["loanId"] for n in node["loans"]["nodes"]} == mine
        assert node["loans"]["totalCount"] == len(mine)
    # one loan of every branch, by id
    samples = {min(k for k, loan in LOANS.items() if loan["branch"] == branch)
               for branch in {loan["branch"] for loan in LOANS.values()}}
    lookup = await book.gql(
        "{ " + " ".join(f'{k}: loan(loanId: "{k}") {{ loanId officer {{ officerId }} }}' for k in sorted(samples))
        + " }", role="auditor", scope=scope)
    for key in samples:
        if key in loans:
            assert lookup[key] == {"loanId": key, "officer": {"officerId": LOANS[key]["officer_id"]}}
        else:
            assert lookup[key] is None, key


def officer_identity(officer_id: str) -> dict[str, Any]:
    """An officer outside the caller's scope: its id and name only (SPEC §10; branch and region are
    non-null in SPEC §6, so empty)."""
    o = OFFICERS[officer_id]
    return {"officerId": officer_id, "officerName": o["officer_name"], "officerPhone": None, "region": "",
            "branch": "", "employmentStatus": None, "primaryChannel": None}


LOAN_OFFICER = f"""officerId officerName officerPhone region branch employmentStatus primaryChannel rank
    audit {{ auditStatus assigneeId }}
    metrics {{ {METRICS_FIELDS} }}
    custom: metrics(period: $custom) {{ {METRICS_FIELDS} }}
    history(startDate: "2026-08-25", endDate: "2026-09-18") {{
      calculationDate periodStart riskScore dqi portfolio {{ activeLoans totalPortfolio disbursedCount }} }}
    loans(first: 500) {{ totalCount nodes {{ loanId }} }}"""


@pytest.mark.parametrize("name", SCOPES)
async def test_a_loans_officer_outside_the_scope_counts_only_loans_in_scope(book: Book, name: str) -> None:
    """A loan in scope whose officer's own branch/region is not: Loan.officer (non-null, SPEC §6)
    gives the officer's id and name only, no audit record, and metrics, history and loans over the
    loans in the caller's scope only (SPEC §10), never the officer's whole book."""
    scope = SCOPES[name]
    loans, officers = visible_loans(scope), visible_officers(scope)
    samples: dict[str, str] = {}  # officer outside the scope -> one of its loans in the scope
    for key in sorted(loans):
        samples.setdefault(LOANS[key]["officer_id"], key)
    samples = {owner: key for owner, key in samples.items() if owner not in officers}
    assert samples, name
    for officer_id in OFFICERS:  # give every officer an audit record that must not leak
        await book.gql(f'mutation {{ assignAuditor(officerId: "{officer_id}", assigneeId: "TM1") {{ version }} }}')
    query = ("query($custom: PeriodInput) { "
             + " ".join(f'{owner}: loan(loanId: "{key}") {{ officerId officer {{ {LOAN_OFFICER} }} }}'
                        for owner, key in samples.items()) + " }")
    data = await book.gql(query, {"custom": CUSTOM_PERIOD}, role="viewer", scope=scope)
    wide = await book.gql(query, {"custom": CUSTOM_PERIOD}, role="admin")
    days = [date(2026, 8, 25 + n) if n < 7 else date(2026, 9, n - 6) for n in range(25)]
    for owner in samples:
        officer = data[owner]["officer"]
        assert data[owner]["officerId"] == owner
        assert {k: officer[k] for k in officer_identity(owner)} == officer_identity(owner)
        assert (officer["rank"], officer["audit"]) == (None, None)
        mine = {k for k in loans if LOANS[k]["officer_id"] == owner}
        assert {n["loanId"] for n in officer["loans"]["nodes"]} == mine
        assert officer["loans"]["totalCount"] == len(mine)
        # metrics: the engine over this officer's loans in the scope, by hand ...
        in_scope = engine.Scope(officers=(owner,), branches=scope.get("branches"), regions=scope.get("regions"))
        async with book.app.db.raw_reader() as conn:
            mtd, custom = [
                await engine.compute(conn, "officer", [(date.fromisoformat(spec["start"]),
                                                        date.fromisoformat(spec["end"]))], scope=in_scope)
                for spec in (MTD, CUSTOM)]
            history = await engine.compute(conn, "officer", [(day.replace(day=1), day) for day in days],
                                           scope=in_scope)
        assert officer["metrics"] == engine_metrics(mtd[0])
        assert officer["custom"] == engine_metrics(custom[0])
        # ... and from the expected loans: the active ones, their balances, September's disbursements
        active = sorted(k for k in mine if EXPECTED_LOANS[k]["active"])
        portfolio = officer["metrics"]["portfolio"]
        assert portfolio["activeLoans"] == len(active)
        assert portfolio["totalPortfolio"] == pytest.approx(
            float(sum(Decimal(EXPECTED_LOANS[k]["total_outstanding"]) for k in active)), abs=1e-6)
        assert portfolio["disbursedCount"] == sum(1 for k in mine if LOANS[k]["disbursement_date"] >= "2026-09-01")
        assert portfolio["activeLoans"] < MTD["officer"][owner]["active_loans"]  # not the whole book
        # history: the calculated days with an in-scope loan disbursed, each over the scope only
        assert officer["history"] == [
            {"calculationDate": row["calculation_date"].isoformat(), "periodStart": row["period_start"].isoformat(),
             "riskScore": row["risk_score"], "dqi": row["dqi"],
             "portfolio": {"activeLoans": row["active_loans"], "totalPortfolio": row["total_portfolio"] / 100,
                           "disbursedCount": row["disbursed_count"]}}
            for row in sorted(history, key=lambda row: row["calculation_date"])]
        assert [h["calculationDate"] for h in officer["history"]] == [
            day.isoformat() for day in days if any(LOANS[k]["disbursement_date"] <= day.isoformat() for k in mine)]
        # an unscoped caller reading the same loan gets the officer's whole book and audit record
        whole = wide[owner]["officer"]
        assert whole["metrics"] == expected_metrics(MTD["officer"][owner])
        assert whole["custom"] == expected_metrics(CUSTOM["officer"][owner])
        assert whole["audit"] == {"auditStatus": "ASSIGNED", "assigneeId": "TM1"}
        assert whole["loans"]["totalCount"] == sum(1 for loan in LOANS.values() if loan["officer_id"] == owner)


@pytest.mark.parametrize("window", WINDOWS)
@pytest.mark.parametrize("name", SCOPES)
async def test_scoped_aggregates_count_only_the_scope(book: Book, name: str, window: str) -> None:
    scope = SCOPES[name]
    period, spec = WINDOWS[window]
    loans = visible_loans(scope)
    data = await book.gql(
        f"""query($period: PeriodInput) {{
              branches(period: $period) {{ branch totalOfficers {METRICS_FIELDS} }}
              garki: branches(period: $period, filter: {{branch: "Garki"}}) {{ branch }}
              regions(period: $period) {{ region totalOfficers {METRICS_FIELDS} }}
            }}""",
        {"period": period}, role="viewer", scope=scope,
    )
    branches = sorted({LOANS[k]["branch"] for k in loans})
    assert [b["branch"] for b in data["branches"]] == branches
    for row in data["branches"]:  # each visible branch's loans all lie in the scope here
        want = spec["branch"][row.pop("branch")]
        assert row.pop("totalOfficers") == want["total_officers"]
        assert row == expected_metrics(want)
    assert data["garki"] == ([{"branch": "Garki"}] if "Garki" in branches else [])
    # regions over the scope's loans only: the engine's figures for the same scope, by hand
    start = date.fromisoformat(spec["start"])
    end = date.fromisoformat(spec["end"])
    async with book.app.db.raw_reader() as conn:
        rows = await engine.compute(conn, "region", [(start, end)], scope=engine.Scope(
            branches=scope.get("branches"), regions=scope.get("regions")))
    by_region = {row["group_key"]: row for row in rows}
    assert [r["region"] for r in data["regions"]] == sorted({LOANS[k]["region"] for k in loans})
    assert sorted(by_region) == [r["region"] for r in data["regions"]]
    for row in data["regions"]:
        want = by_region[row.pop("region")]
        assert row.pop("totalOfficers") == want["total_officers"]
        assert row == engine_metrics(want)
        active = sum(1 for k in loans if LOANS[k]["region"] == want["group_key"] and EXPECTED_LOANS[k]["active"])
        assert row["portfolio"]["activeLoans"] == active
    if scope == {"regions": ("Abuja",)}:  # a whole region in scope: the book's own figures
        (abuja,) = data["regions"]
        assert abuja == expected_metrics(spec["region"]["Abuja"])


@pytest.mark.parametrize("name", SCOPES)
async def test_scoped_filter_options(book: Book, name: str) -> None:
    scope = SCOPES[name]
    data = await book.gql("{ filterOptions { regions branches channels officers { officerId } } }",
                          role="viewer", scope=scope)
    options = data["filterOptions"]
    loans, officers = visible_loans(scope), visible_officers(scope)
    assert options["branches"] == sorted({LOANS[k]["branch"] for k in loans}
                                         | {OFFICERS[k]["branch"] for k in officers})
    assert options["regions"] == sorted({LOANS[k]["region"] for k in loans} | {OFFICERS[k]["region"] for k in officers})
    assert options["channels"] == sorted({LOANS[k]["channel"] for k in loans})
    assert {o["officerId"] for o in options["officers"]} == officers


async def test_a_scoped_reader_never_gets_a_wider_cached_answer(book: Book) -> None:
    query = "{ officers { totalCount } fimrDrilldown { totalCount } regions { region } }"
    wide = await book.gql(query, role="viewer")
    narrow = await book.gql(query, role="viewer", scope={"branches": ("Surulere",)})
    again = await book.gql(query, role="viewer")
    assert wide == again
    assert narrow["officers"]["totalCount"] == 1
    assert wide["officers"]["totalCount"] == 6
    assert narrow["fimrDrilldown"]["totalCount"] < wide["fimrDrilldown"]["totalCount"]


async def test_a_scoped_auditor_audits_only_its_officers(book: Book) -> None:
    before = await book.counts()
    scope = {"branches": ("Surulere",)}
    for name in ("assignAuditor", "updateAuditStatus", "recordAuditAction"):
        errors = await book.errors(MUTATIONS[name], role="auditor", scope=scope)  # OFF0001 is in Wuse
        assert errors[0]["extensions"]["code"] == "NOT_FOUND", name
    assert await book.counts() == before
    data = await book.gql('mutation { assignAuditor(officerId: "OFF0005", assigneeId: "TM1") { auditStatus } }',
                          role="auditor", scope=scope)
    assert data["assignAuditor"]["auditStatus"] == "ASSIGNED"


# --- customer phones ------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["viewer", "auditor", "admin"])
async def test_customer_phones_are_masked_for_non_admins(book: Book, role: str) -> None:
    data = await book.gql(
        """{ fimrDrilldown(first: 500) { nodes { loanId customerPhone } }
             earlyIndicatorsDrilldown(first: 500) { nodes { loanId customerPhone } }
             loan(loanId: "LN0000001") { loanId customerPhone }
             officer(officerId: "OFF0001") { loans(first: 500) { nodes { loanId customerPhone } } } }""",
        role=role,
    )
    nodes = (data["fimrDrilldown"]["nodes"] + data["earlyIndicatorsDrilldown"]["nodes"] + [data["loan"]]
             + data["officer"]["loans"]["nodes"])
    assert len(nodes) > 100
    for node in nodes:
        clear = LOANS[node["loanId"]]["customer_phone"]
        if role == "admin":
            assert node["customerPhone"] == clear
        else:
            assert node["customerPhone"] == mask_phone(clear)
            assert node["customerPhone"] != clear
            assert node["customerPhone"].count("*") == len(clear) - 7


# --- masked errors ------------------------------------------------------------------------------


async def test_an_unexpected_error_is_masked_with_the_request_id(book: Book, monkeypatch: pytest.MonkeyPatch,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    from loanmetrics.resolvers import operations

    async def broken(ctx: Any) -> Any:
        raise RuntimeError("SELECT secret FROM pg_shadow -- boom")

    monkeypatch.setattr(operations, "filter_options", broken)
    for headers in ({}, {"X-Request-ID": "trace-me-123"}):
        response = await book.http.post("/graphql", json={"query": "{ filterOptions { regions } }"},
                                        headers={**book.headers("viewer"), **headers})
        assert response.status_code == 200
        request_id = response.headers["X-Request-ID"]
        if headers:
            assert request_id == "trace-me-123"
        (error,) = response.json()["errors"]
        assert error["extensions"] == {"code": "INTERNAL", "requestId": request_id}
        assert request_id in error["message"]
        assert error["path"] == ["filterOptions"]
        for leak in ("secret", "pg_shadow", "RuntimeError", "Traceback", "File "):
            assert leak not in response.text
    # the full detail goes to the server log, under the same id
    assert any("unexpected error" in record.getMessage() and record.exc_info for record in caplog.records)
    # and an unmasked request afterwards works (the response was not cached)
    monkeypatch.undo()
    data = await book.gql("{ filterOptions { regions } }", role="viewer")
    assert data["filterOptions"]["regions"] == ["Abuja", "Lagos"]


async def test_every_response_carries_a_request_id(book: Book) -> None:
    for response in (
        await book.http.post("/graphql", json={"query": "{ regions { region } }"}, headers=book.headers()),
        await book.http.post("/graphql", json={"query": "{ regions { region } }"}),
        await book.http.post("/graphql", content=b"nope", headers=book.headers()),
    ):
        assert len(response.headers["X-Request-ID"]) >= 16


# --- GraphiQL and GET -----------------------------------------------------------------------


async def test_a_browser_get_returns_graphiql(book: Book) -> None:
    for headers in ({"Accept": "text/html"}, {**book.headers("etl"), "Accept": "text/html"}):
        response = await book.http.get("/graphql", headers=headers)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/html")
        assert 'id="graphiql"' in response.text


async def test_get_runs_queries_and_refuses_mutations(book: Book) -> None:
    headers = book.headers("admin")
    response = await book.http.get("/graphql", params={
        "query": "query Q($n: Int) { officers(first: $n) { totalCount nodes { officerId } } }",
        "variables": '{"n": 2}', "operationName": "Q"}, headers=headers)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    officers = response.json()["data"]["officers"]
    assert officers["totalCount"] == 6
    assert len(officers["nodes"]) == 2
    before = await book.counts()
    for name, document in MUTATIONS.items():
        response = await book.http.get("/graphql", params={"query": document}, headers=headers)
        assert response.status_code == 405, name
        assert response.json()["errors"][0]["extensions"]["code"] == "METHOD_NOT_ALLOWED"
    mixed = "query Q { regions { region } } mutation M { recalculate { id } }"
    response = await book.http.get("/graphql", params={"query": mixed, "operationName": "M"}, headers=headers)
    assert response.status_code == 405
    response = await book.http.get("/graphql", params={"query": mixed, "operationName": "Q"}, headers=headers)
    assert response.json()["data"]["regions"] == [{"region": "Abuja"}, {"region": "Lagos"}]
    assert await book.counts() == before
    for params in ({"query": ""}, {"query": "{ regions { region } }", "variables": "[1]"},
                   {"query": "{ regions { region } }", "variables": "{oops"},
                   {"query": "{ regions { region } }", "operationName": "Nope"}):
        response = await book.http.get("/graphql", params=params, headers=headers)
        assert response.status_code == 400, params
        assert response.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
