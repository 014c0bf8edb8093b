"""Every GraphQL mutation through the real HTTP app: the audit workflow (assignments, every legal
and illegal status move, optimistic concurrency, the kept action history), recalculation and
team members; after each write a repeated read (cached before it) returns the new state."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import date
from typing import Any

import pytest

from tests.conftest import BUSINESS_DATE
from tests.graphql_support import Book, loaded_book

STATUSES = ("NOT_ASSIGNED", "ASSIGNED", "IN_PROGRESS", "RESOLVED")
LEGAL = {("ASSIGNED", "IN_PROGRESS"), ("IN_PROGRESS", "RESOLVED"), ("RESOLVED", "ASSIGNED")}
AUDIT_FIELDS = """officerId assigneeId assigneeName assignedDate auditStatus statusChangedDate lastAuditDate
                  auditNotes riskLevel actionType actionDate actionNotes version"""
ACTION_FIELDS = "id officerId actionKind actionType actor actionDate fromStatus toStatus assigneeId notes"

ASSIGN = f"""mutation($officer: ID!, $member: ID!) {{
  assignAuditor(officerId: $officer, assigneeId: $member) {{ {AUDIT_FIELDS} actions {{ {ACTION_FIELDS} }} }}
}}"""
MOVE = f"""mutation($officer: ID!, $status: AuditStatus!, $notes: String, $version: Int) {{
  updateAuditStatus(officerId: $officer, status: $status, notes: $notes, expectedVersion: $version) {{
    {AUDIT_FIELDS} actions {{ {ACTION_FIELDS} }} }}
}}"""
ACTION = f"""mutation($officer: ID!, $type: String!, $notes: String) {{
  recordAuditAction(officerId: $officer, actionType: $type, notes: $notes) {{ {ACTION_FIELDS} }}
}}"""
READ_AUDIT = f"""query($officer: ID!) {{
  officer(officerId: $officer) {{ audit {{ {AUDIT_FIELDS} actions {{ {ACTION_FIELDS} }} }} }}
}}"""
LIST_AUDIT = """query($status: AuditStatus) {
  officers(filter: {auditStatus: $status}) { totalCount nodes { officerId audit { auditStatus version assigneeId } } }
}"""


@pytest.fixture(scope="module")
async def book() -> AsyncIterator[Book]:
    async with loaded_book() as loaded:
        yield loaded


@pytest.fixture(autouse=True)
async def _fresh_audit(book: Book) -> None:
    await book.reset_audit()


async def audit_of(book: Book, officer_id: str, role: str = "viewer") -> dict[str, Any]:
    data = await book.gql(READ_AUDIT, {"officer": officer_id}, role=role)
    audit: dict[str, Any] = data["officer"]["audit"]
    return audit


async def assign(book: Book, officer_id: str, member: str = "TM1", role: str = "auditor") -> dict[str, Any]:
    data = await book.gql(ASSIGN, {"officer": officer_id, "member": member}, role=role)
    info: dict[str, Any] = data["assignAuditor"]
    return info


async def move(book: Book, officer_id: str, status: str, notes: str | None = None, version: int | None = None,
               role: str = "auditor") -> dict[str, Any]:
    data = await book.gql(MOVE, {"officer": officer_id, "status": status, "notes": notes, "version": version},
                          role=role)
    info: dict[str, Any] = data["updateAuditStatus"]
    return info


async def put_in(book: Book, officer_id: str, status: str) -> None:
    """Drive an officer's audit to ``status`` through legal moves."""
    if status == "NOT_ASSIGNED":
        return
    await assign(book, officer_id)
    for step in ("IN_PROGRESS", "RESOLVED"):
        if status == "ASSIGNED" or (status == "IN_PROGRESS" and step == "RESOLVED"):
            return
        await move(book, officer_id, step)


async def audit_rows(book: Book) -> tuple[int, int, list[Any]]:
    async with book.app.db.raw_reader() as conn:
        actions = await conn.fetchval("SELECT count(*) FROM audit_actions")
        versions = await conn.fetchval("SELECT coalesce(sum(version), 0) FROM audit_tracking")
        rows = [tuple(r) for r in await conn.fetch(
            "SELECT officer_id, audit_status, version, assignee_id FROM audit_tracking ORDER BY officer_id")]
    return int(actions), int(versions), rows


def without_times(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k not in ("id", "actionDate", "assignedDate", "statusChangedDate")}


# --- assignAuditor ---------------------------------------------------------------------------


async def test_assign_auditor_and_read_it_back(book: Book) -> None:
    before = await audit_of(book, "OFF0003")  # cached read of the unassigned state
    assert before["auditStatus"] == "NOT_ASSIGNED"
    assert before["version"] == 0
    assert before["actions"] == []
    listed = await book.gql(LIST_AUDIT, {"status": "ASSIGNED"}, role="viewer")
    assert listed["officers"]["totalCount"] == 0

    info = await assign(book, "OFF0003")
    assert without_times(info) == {
        "officerId": "OFF0003", "assigneeId": "TM1", "assigneeName": "Ada Auditor", "auditStatus": "ASSIGNED",
        "lastAuditDate": None, "auditNotes": None, "riskLevel": None, "actionType": None, "actionNotes": None,
        "version": 1,
        "actions": [{"id": info["actions"][0]["id"], "officerId": "OFF0003", "actionKind": "assignment",
                     "actionType": "assign", "actor": "test-auditor", "actionDate": info["actions"][0]["actionDate"],
                     "fromStatus": "NOT_ASSIGNED", "toStatus": "ASSIGNED", "assigneeId": "TM1", "notes": None}],
    }
    assert info["assignedDate"] is not None
    assert info["statusChangedDate"] is not None
    # repeated reads see the new state at once (the write bumped the cache generation)
    assert await audit_of(book, "OFF0003") == info
    listed = await book.gql(LIST_AUDIT, {"status": "ASSIGNED"}, role="viewer")
    assert listed["officers"]["nodes"] == [
        {"officerId": "OFF0003", "audit": {"auditStatus": "ASSIGNED", "version": 1, "assigneeId": "TM1"}}]
    listed = await book.gql(LIST_AUDIT, {"status": "NOT_ASSIGNED"}, role="viewer")
    assert listed["officers"]["totalCount"] == 5
    # the custom-window list reads the same audit state
    custom = await book.gql("""{ officers(period: {startDate: "2026-08-25"}, filter: {auditStatus: ASSIGNED}) {
                                   nodes { officerId audit { assigneeName } } } }""")
    assert custom["officers"]["nodes"] == [{"officerId": "OFF0003", "audit": {"assigneeName": "Ada Auditor"}}]


async def test_reassignment_keeps_an_open_audit_and_reopens_a_resolved_one(book: Book) -> None:
    await put_in(book, "OFF0001", "IN_PROGRESS")
    info = await assign(book, "OFF0001", "TM2", role="admin")
    assert (info["auditStatus"], info["assigneeId"], info["assigneeName"]) == ("IN_PROGRESS", "TM2", "Bayo Reviewer")
    assert info["actions"][0]["fromStatus"] == info["actions"][0]["toStatus"] == "IN_PROGRESS"
    await move(book, "OFF0001", "RESOLVED")
    info = await assign(book, "OFF0001", "TM1")
    assert (info["auditStatus"], info["assigneeId"], info["version"]) == ("ASSIGNED", "TM1", 5)
    assert [(a["fromStatus"], a["toStatus"]) for a in info["actions"]] == [
        ("RESOLVED", "ASSIGNED"), ("IN_PROGRESS", "RESOLVED"), ("IN_PROGRESS", "IN_PROGRESS"),
        ("ASSIGNED", "IN_PROGRESS"), ("NOT_ASSIGNED", "ASSIGNED")]


async def test_assignment_errors_write_nothing(book: Book) -> None:
    before = await audit_rows(book)
    for officer, member, code in (("OFF0001", "TM3", "NOT_FOUND"),  # inactive member
                                  ("OFF0001", "TM404", "NOT_FOUND"),
                                  ("OFF9999", "TM1", "NOT_FOUND")):
        errors = await book.errors(ASSIGN, {"officer": officer, "member": member}, role="auditor")
        assert errors[0]["extensions"]["code"] == code, (officer, member)
    after = await audit_rows(book)
    assert (after[0], after[1]) == (before[0], before[1])
    assert all(row[1] == "Not Assigned" and row[2] == 0 for row in after[2])


# --- updateAuditStatus ------------------------------------------------------------------------


async def test_every_legal_move_and_the_history(book: Book) -> None:
    officer = "OFF0002"
    await assign(book, officer)
    first = await move(book, officer, "IN_PROGRESS", notes="looking at FIMR")
    assert (first["auditStatus"], first["version"], first["auditNotes"]) == ("IN_PROGRESS", 2, "looking at FIMR")
    assert first["lastAuditDate"] is None
    resolved = await move(book, officer, "RESOLVED", version=2)
    assert (resolved["auditStatus"], resolved["version"]) == ("RESOLVED", 3)
    assert resolved["auditNotes"] == "looking at FIMR"  # no notes keeps the last ones
    assert resolved["lastAuditDate"] == BUSINESS_DATE.isoformat()
    reopened = await move(book, officer, "ASSIGNED", notes="new signals")
    assert (reopened["auditStatus"], reopened["version"], reopened["auditNotes"]) == ("ASSIGNED", 4, "new signals")
    assert reopened["assigneeId"] == "TM1"
    again = await move(book, officer, "IN_PROGRESS")
    assert again["statusChangedDate"] >= reopened["statusChangedDate"]
    history = (await audit_of(book, officer))["actions"]
    assert [(a["actionKind"], a["fromStatus"], a["toStatus"], a["notes"]) for a in history] == [
        ("status_change", "ASSIGNED", "IN_PROGRESS", None),
        ("status_change", "RESOLVED", "ASSIGNED", "new signals"),
        ("status_change", "IN_PROGRESS", "RESOLVED", None),
        ("status_change", "ASSIGNED", "IN_PROGRESS", "looking at FIMR"),
        ("assignment", "NOT_ASSIGNED", "ASSIGNED", None),
    ]
    assert [a["actionDate"] for a in history] == sorted((a["actionDate"] for a in history), reverse=True)
    assert len({a["id"] for a in history}) == 5
    assert all(a["actor"] == "test-auditor" for a in history)


async def test_every_illegal_move_is_a_conflict_and_writes_nothing(book: Book) -> None:
    officers = dict(zip(STATUSES, ("OFF0001", "OFF0002", "OFF0003", "OFF0004"), strict=True))
    for status, officer in officers.items():
        await put_in(book, officer, status)
    before = await audit_rows(book)
    illegal = [(old, new) for old in STATUSES for new in STATUSES if (old, new) not in LEGAL]
    assert len(illegal) == 13
    for old, new in illegal:
        errors = await book.errors(MOVE, {"officer": officers[old], "status": new}, role="auditor")
        assert errors[0]["extensions"]["code"] == "CONFLICT", (old, new)
        assert errors[0]["extensions"]["currentStatus"] == (
            {"NOT_ASSIGNED": "Not Assigned", "ASSIGNED": "Assigned", "IN_PROGRESS": "In Progress",
             "RESOLVED": "Resolved"}[old])
        assert errors[0]["path"] == ["updateAuditStatus"]
    assert await audit_rows(book) == before
    for status, officer in officers.items():
        assert (await audit_of(book, officer))["auditStatus"] == status


async def test_a_stale_expected_version_is_a_conflict_with_the_current_version(book: Book) -> None:
    await assign(book, "OFF0005")
    await book.gql(ACTION, {"officer": "OFF0005", "type": "call"}, role="auditor")  # leaves the version
    current = (await audit_of(book, "OFF0005"))["version"]
    assert current == 1
    before = await audit_rows(book)
    for stale in (0, 2, 3, -1):
        errors = await book.errors(MOVE, {"officer": "OFF0005", "status": "IN_PROGRESS", "version": stale},
                                   role="auditor")
        assert errors[0]["extensions"]["code"] == "CONFLICT"
        assert errors[0]["extensions"]["currentVersion"] == current
    assert await audit_rows(book) == before
    info = await move(book, "OFF0005", "IN_PROGRESS", version=current)
    assert info["version"] == current + 1
    errors = await book.errors(MOVE, {"officer": "OFF0005", "status": "RESOLVED", "version": current},
                               role="auditor")
    assert errors[0]["extensions"]["currentVersion"] == current + 1


async def test_concurrent_moves_on_one_version_let_exactly_one_through(book: Book) -> None:
    await assign(book, "OFF0003")
    responses = await asyncio.gather(*(
        book.post(MOVE, {"officer": "OFF0003", "status": "IN_PROGRESS", "version": 1, "notes": f"try {n}"},
                  role="auditor")
        for n in range(6)))
    documents = [response.json() for response in responses]
    assert sum("errors" not in document for document in documents) == 1
    assert [document["errors"][0]["extensions"]["code"] for document in documents if "errors" in document] == [
        "CONFLICT"] * 5
    audit = await audit_of(book, "OFF0003")
    assert (audit["auditStatus"], audit["version"], len(audit["actions"])) == ("IN_PROGRESS", 2, 2)


async def test_update_status_of_an_unknown_officer(book: Book) -> None:
    errors = await book.errors(MOVE, {"officer": "OFF9999", "status": "IN_PROGRESS"}, role="auditor")
    assert errors[0]["extensions"]["code"] == "NOT_FOUND"
    errors = await book.errors(MOVE, {"officer": "OFF0001", "status": "IN_PROGRESS", "notes": "x" * 2001},
                               role="auditor")
    assert errors[0]["extensions"]["code"] == "BAD_REQUEST"
    assert (await audit_rows(book))[0] == 0


# --- recordAuditAction ------------------------------------------------------------------------


async def test_record_audit_actions_keeps_the_whole_history(book: Book) -> None:
    cached = await audit_of(book, "OFF0006")
    assert cached["actions"] == []
    recorded = []
    for kind, notes in (("call", "no answer"), ("visit", None), ("call", "answered"), ("escalate", "to risk")):
        data = await book.gql(ACTION, {"officer": "OFF0006", "type": kind, "notes": notes}, role="auditor")
        action = data["recordAuditAction"]
        assert without_times(action) == {"officerId": "OFF0006", "actionKind": "action", "actionType": kind,
                                         "actor": "test-auditor", "fromStatus": None, "toStatus": None,
                                         "assigneeId": None, "notes": notes}
        recorded.append(action)
        audit = await audit_of(book, "OFF0006")
        assert audit["version"] == 0  # an action guards nothing: the version stays
        assert (audit["actionType"], audit["actionNotes"], audit["actionDate"]) == (
            kind, notes, action["actionDate"])
        assert audit["auditStatus"] == "NOT_ASSIGNED"  # an action does not move the status
        assert audit["actions"] == list(reversed(recorded))  # every action, newest first
    await assign(book, "OFF0006", role="admin")
    audit = await audit_of(book, "OFF0006", role="auditor")
    assert [a["actionType"] for a in audit["actions"]] == ["assign", "escalate", "call", "visit", "call"]
    # the officer list shows the same history
    data = await book.gql('{ officers(filter: {officerId: "OFF0006"}) { nodes { audit { actions { actionType } } } } }')
    assert [a["actionType"] for a in data["officers"]["nodes"][0]["audit"]["actions"]] == [
        "assign", "escalate", "call", "visit", "call"]


async def test_an_action_between_status_moves_keeps_the_version(book: Book) -> None:
    """assign -> v1; IN_PROGRESS on v1 -> v2; record an action; RESOLVED on v2 goes through (it
    was a CONFLICT 'version 3, expected 2' when an action bumped the version)."""
    assert (await assign(book, "OFF0004"))["version"] == 1
    assert (await move(book, "OFF0004", "IN_PROGRESS", version=1))["version"] == 2
    data = await book.gql(ACTION, {"officer": "OFF0004", "type": "visit", "notes": "branch visit"}, role="auditor")
    assert data["recordAuditAction"]["actionType"] == "visit"
    assert (await audit_of(book, "OFF0004"))["version"] == 2
    resolved = await move(book, "OFF0004", "RESOLVED", version=2)
    assert (resolved["auditStatus"], resolved["version"]) == ("RESOLVED", 3)
    assert [a["actionType"] for a in resolved["actions"]] == ["status", "visit", "status", "assign"]


async def test_bad_audit_actions(book: Book) -> None:
    for variables in ({"officer": "OFF0001", "type": ""}, {"officer": "OFF0001", "type": "   "},
                      {"officer": "OFF0001", "type": "x" * 101}, {"officer": "OFF0001", "type": "call",
                                                                  "notes": "n" * 2001}):
        errors = await book.errors(ACTION, variables, role="auditor")
        assert errors[0]["extensions"]["code"] == "BAD_REQUEST", variables
    errors = await book.errors(ACTION, {"officer": "OFF9999", "type": "call"}, role="auditor")
    assert errors[0]["extensions"]["code"] == "NOT_FOUND"
    assert (await audit_rows(book))[0] == 0


# --- recalculate ------------------------------------------------------------------------------

RECALCULATE = """mutation($asOf: Date, $start: Date) {
  recalculate(asOfDate: $asOf, startDate: $start) {
    id calculationType calculationDate startDate status errorMessage recordsProcessed recordsFailed } }"""
RUNS = "{ calculationRuns { id calculationType calculationDate startDate status } }"


async def test_recalculate_writes_a_run_and_readers_see_it(book: Book) -> None:
    before = (await book.gql(RUNS, role="viewer"))["calculationRuns"]
    data = await book.gql(RECALCULATE, {"asOf": None, "start": None})
    run = data["recalculate"]
    assert {k: v for k, v in run.items() if k not in ("id", "recordsProcessed")} == {
        "calculationType": "manual", "calculationDate": BUSINESS_DATE.isoformat(), "startDate": None,
        "status": "Completed", "errorMessage": None, "recordsFailed": 0}
    after = (await book.gql(RUNS, role="viewer"))["calculationRuns"]
    assert after[0] == {k: run[k] for k in ("id", "calculationType", "calculationDate", "startDate", "status")}
    assert after[1:] == before
    data = await book.gql(RECALCULATE, {"asOf": "2026-09-10", "start": "2026-09-08"})
    assert (data["recalculate"]["calculationDate"], data["recalculate"]["startDate"],
            data["recalculate"]["status"]) == ("2026-09-10", "2026-09-08", "Completed")
    async with book.app.db.raw_reader() as conn:
        logged = await conn.fetch("SELECT id, calculation_type, status FROM metric_calculation_log ORDER BY id")
    assert [(str(r["id"]), r["calculation_type"], r["status"]) for r in logged][-2:] == [
        (run["id"], "manual", "Completed"), (data["recalculate"]["id"], "manual", "Completed")]
    # the metrics are unchanged by a restatement of the same data
    officers = await book.gql("{ officers { nodes { officerId metrics { riskScore } } } }")
    assert {n["officerId"]: n["metrics"]["riskScore"] for n in officers["officers"]["nodes"]} == {
        "OFF0001": 88, "OFF0002": 85, "OFF0003": 80, "OFF0004": 79, "OFF0005": 48, "OFF0006": 93}


async def test_recalculate_refuses_bad_dates(book: Book) -> None:
    async with book.app.db.raw_reader() as conn:
        runs = await conn.fetchval("SELECT count(*) FROM metric_calculation_log")
    for variables in ({"asOf": "2026-09-19"}, {"asOf": "2026-09-10", "start": "2026-09-11"},
                      {"asOf": "2026-09-18", "start": "2026-01-01"}):
        errors = await book.errors(RECALCULATE, variables)
        assert errors[0]["extensions"]["code"] == "BAD_REQUEST", variables
    async with book.app.db.raw_reader() as conn:
        assert await conn.fetchval("SELECT count(*) FROM metric_calculation_log") == runs


# --- upsertTeamMember -------------------------------------------------------------------------

UPSERT = """mutation($id: ID!, $name: String!, $email: String, $role: String, $department: String, $active: Boolean) {
  upsertTeamMember(memberId: $id, memberName: $name, memberEmail: $email, role: $role, department: $department,
                   isActive: $active) { memberId memberName memberEmail memberPhone role department isActive } }"""
TEAM = "{ teamMembers { memberId memberName isActive } }"


async def test_upsert_team_member(book: Book) -> None:
    before = (await book.gql(TEAM, role="viewer"))["teamMembers"]
    assert [m["memberId"] for m in before] == ["TM1", "TM2"]
    data = await book.gql(UPSERT, {"id": "TM9", "name": "Zainab Lead", "email": "z@lender.example",
                                   "role": "Lead", "department": "Audit", "active": True})
    assert data["upsertTeamMember"] == {"memberId": "TM9", "memberName": "Zainab Lead",
                                        "memberEmail": "z@lender.example", "memberPhone": None, "role": "Lead",
                                        "department": "Audit", "isActive": True}
    assert [m["memberId"] for m in (await book.gql(TEAM, role="viewer"))["teamMembers"]] == ["TM1", "TM2", "TM9"]
    # the new member can be assigned
    assert (await assign(book, "OFF0004", "TM9"))["assigneeName"] == "Zainab Lead"
    # update: rename and deactivate
    data = await book.gql(UPSERT, {"id": "TM9", "name": "Zainab Former", "active": False})
    assert data["upsertTeamMember"]["isActive"] is False
    assert data["upsertTeamMember"]["memberEmail"] is None
    assert [m["memberId"] for m in (await book.gql(TEAM, role="viewer"))["teamMembers"]] == ["TM1", "TM2"]
    everyone = await book.gql("{ teamMembers(activeOnly: false) { memberId memberName } }", role="viewer")
    assert {"memberId": "TM9", "memberName": "Zainab Former"} in everyone["teamMembers"]
    errors = await book.errors(ASSIGN, {"officer": "OFF0001", "member": "TM9"}, role="auditor")
    assert errors[0]["extensions"]["code"] == "NOT_FOUND"
    # defaults: isActive true when omitted
    data = await book.gql("""mutation { upsertTeamMember(memberId: "TM10", memberName: "Ten") { isActive } }""")
    assert data["upsertTeamMember"]["isActive"] is True


async def test_bad_team_members_write_nothing(book: Book) -> None:
    for variables in ({"id": "", "name": "X"}, {"id": "TM11", "name": " "}, {"id": "T" * 101, "name": "X"},
                      {"id": "TM11", "name": "X" * 201}, {"id": "TM11", "name": "X", "email": "e" * 201}):
        errors = await book.errors(UPSERT, variables)
        assert errors[0]["extensions"]["code"] == "BAD_REQUEST", variables
    everyone = await book.gql("{ teamMembers(activeOnly: false) { memberId } }")
    assert [m["memberId"] for m in everyone["teamMembers"]] == ["TM1", "TM2", "TM3"]


async def test_mutations_are_not_cached(book: Book) -> None:
    """Two identical action mutations record two actions."""
    for _ in range(2):
        await book.gql(ACTION, {"officer": "OFF0001", "type": "call"}, role="auditor")
    assert len((await audit_of(book, "OFF0001"))["actions"]) == 2
    assert date.fromisoformat((await audit_of(book, "OFF0001"))["actionDate"][:10]) is not None
