"""The audit routes (SPEC §7) over ``teamMembers`` and the audit mutations.

Status changes speak the REST spellings ('In Progress'); the GraphQL resolvers own the workflow,
the optimistic-concurrency check and scope, so a forbidden move or a stale ``expected_version``
arrives here as a GraphQL CONFLICT and leaves as a 409. The role is checked first (SPEC §10: a
caller without the role gets 403 whatever body it sends); GraphQL checks it again.
"""

from __future__ import annotations

from typing import Any

from loanmetrics.graph import types as t
from loanmetrics.graph.rest.common import Call, Endpoint, Success
from loanmetrics.graph.rest.fields import AUDIT_ACTION, AUDIT_RESULT, EARLY_LOAN_ROW
from loanmetrics.graph.rest.params import INT32_MAX, OFFICER_PATH, Kind, Param, Where
from loanmetrics.graph.rest.shapes import Json, Out, reshape, selection
from loanmetrics.principal import AUDIT_ROLES

TOP_LOANS = 20
NOTES_LIMIT = 2000  # the GraphQL resolvers' limit; they check it again

TEAM_MEMBER = (
    Out("member_id", "memberId"),
    Out("member_name", "memberName"),
    Out("member_email", "memberEmail", nullable=True),
    Out("member_phone", "memberPhone", nullable=True),
    Out("role", "role", nullable=True),
    Out("department", "department", nullable=True),
    Out("is_active", "isActive", Json.BOOLEAN),
)
ACTIVE_ONLY = Param("active_only", Kind.BOOLEAN, "only active team members", default=True)
ASSIGNEE_ID = Param("assignee_id", Kind.STRING, "the team member to assign", where=Where.BODY, required=True,
                    max_length=100)
STATUS = Param("status", Kind.CHOICE, "the new audit status", where=Where.BODY, required=True,
               choices=tuple(status.value for status in t.AuditStatus))
NOTES = Param("notes", Kind.STRING, "free text", where=Where.BODY, min_length=0, max_length=NOTES_LIMIT)
EXPECTED_VERSION = Param("expected_version", Kind.INTEGER, "the audit version the change is based on (409 when "
                         "the record has moved on)", where=Where.BODY, minimum=0, maximum=INT32_MAX)
ACTION_TYPE = Param("action_type", Kind.STRING, "what was done (e.g. 'call', 'visit', 'warning')",
                    where=Where.BODY, required=True, max_length=100)

TEAM_DOCUMENT = f"query RestTeamMembers($activeOnly: Boolean) {{ teamMembers(activeOnly: $activeOnly) {{ " \
                f"{selection(TEAM_MEMBER)} }} }}"
ASSIGN_DOCUMENT = f"""
mutation RestAssignAuditor($officerId: ID!, $assigneeId: ID!) {{
  assignAuditor(officerId: $officerId, assigneeId: $assigneeId) {{ {selection(AUDIT_RESULT)} }}
}}
"""
STATUS_DOCUMENT = f"""
mutation RestUpdateAuditStatus($officerId: ID!, $status: AuditStatus!, $notes: String, $expectedVersion: Int) {{
  updateAuditStatus(officerId: $officerId, status: $status, notes: $notes, expectedVersion: $expectedVersion) {{
    {selection(AUDIT_RESULT)}
  }}
}}
"""
ACTION_DOCUMENT = f"""
mutation RestRecordAuditAction($officerId: ID!, $actionType: String!, $notes: String) {{
  recordAuditAction(officerId: $officerId, actionType: $actionType, notes: $notes) {{ {selection(AUDIT_ACTION)} }}
}}
"""
TOP_LOANS_DOCUMENT = f"""
query RestOfficerTopLoans($officerId: ID!) {{
  officer(officerId: $officerId) {{
    loans(first: {TOP_LOANS}, sort: {{field: CURRENT_DPD, direction: DESC}}) {{
      totalCount nodes {{ {selection(EARLY_LOAN_ROW)} }}
    }}
  }}
}}
"""


async def team_members(call: Call) -> Success:
    data = await call.graphql(TEAM_DOCUMENT, "RestTeamMembers", {"activeOnly": call.query["active_only"]})
    members = [reshape(member, TEAM_MEMBER) for member in data["teamMembers"]]
    return Success(members, {"total": len(members)})


async def assign_auditor(call: Call) -> Success:
    variables = {"officerId": call.path["officer_id"], "assigneeId": call.body["assignee_id"]}
    data = await call.graphql(ASSIGN_DOCUMENT, "RestAssignAuditor", variables)
    return Success(reshape(data["assignAuditor"], AUDIT_RESULT))


async def update_status(call: Call) -> Success:
    body = call.body
    variables = {
        "officerId": call.path["officer_id"], "status": t.AuditStatus(body["status"]).name,
        "notes": body["notes"], "expectedVersion": body["expected_version"],
    }
    data = await call.graphql(STATUS_DOCUMENT, "RestUpdateAuditStatus", variables)
    return Success(reshape(data["updateAuditStatus"], AUDIT_RESULT))


async def record_action(call: Call) -> Success:
    """The recorded action, then the officer's top loans by DPD then balance (what an auditor
    looks at next), in the caller's scope."""
    officer_id = call.path["officer_id"]
    variables = {"officerId": officer_id, "actionType": call.body["action_type"], "notes": call.body["notes"]}
    action = (await call.graphql(ACTION_DOCUMENT, "RestRecordAuditAction", variables))["recordAuditAction"]
    officer = (await call.graphql(TOP_LOANS_DOCUMENT, "RestOfficerTopLoans", {"officerId": officer_id}))["officer"]
    loans: dict[str, Any] = officer["loans"] if officer is not None else {"totalCount": 0, "nodes": []}
    rows = [reshape(loan, EARLY_LOAN_ROW) for loan in loans["nodes"]]
    return Success({"action": reshape(action, AUDIT_ACTION), "loans": rows}, {"loans_total": loans["totalCount"]})


_WRITE_ERRORS = (400, 401, 403, 404, 409, 413, 500, 503)
ENDPOINTS = (
    Endpoint("GET", "/api/v1/audit/team-members", "The audit team (the dashboard's own users)", team_members,
             data=Out("data", None, children=TEAM_MEMBER, many=True), meta=(Out("total", None, Json.INTEGER),),
             query=(ACTIVE_ONLY,), graphql="teamMembers"),
    Endpoint("PUT", "/api/v1/audit/officers/{officer_id}/assignee",
             "Assign a team member (Not Assigned or Resolved -> Assigned)", assign_auditor,
             data=Out("data", None, children=AUDIT_RESULT), path_params=(OFFICER_PATH,), body=(ASSIGNEE_ID,),
             roles=AUDIT_ROLES, errors=_WRITE_ERRORS, graphql="assignAuditor"),
    Endpoint("PUT", "/api/v1/audit/officers/{officer_id}/status",
             "Move the audit status (Assigned -> In Progress -> Resolved); 409 on a forbidden move or a stale "
             "expected_version", update_status,
             data=Out("data", None, children=AUDIT_RESULT), path_params=(OFFICER_PATH,),
             body=(STATUS, NOTES, EXPECTED_VERSION), roles=AUDIT_ROLES, errors=_WRITE_ERRORS,
             graphql="updateAuditStatus"),
    Endpoint("POST", "/api/v1/audit/officers/{officer_id}/actions",
             f"Record an audit action; answers it with the officer's top {TOP_LOANS} loans by DPD, then balance",
             record_action,
             data=Out("data", None, children=(Out("action", None, children=AUDIT_ACTION),
                                              Out("loans", None, children=EARLY_LOAN_ROW, many=True))),
             meta=(Out("loans_total", None, Json.INTEGER, description="all the officer's loans in scope"),),
             path_params=(OFFICER_PATH,), body=(ACTION_TYPE, NOTES), roles=AUDIT_ROLES, status=201,
             errors=_WRITE_ERRORS, graphql="recordAuditAction"),
)
