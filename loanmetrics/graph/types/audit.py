"""GraphQL audit types (SPEC §6, §7): the team, an officer's audit record and its history, each
built from the row the queries read (``resolvers/audit.py``, ``officers.AUDIT_COLUMNS``)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import strawberry
from strawberry.types import Info

from loanmetrics.graph.types.inputs import AuditStatus
from loanmetrics.resolvers.context import RequestContext


@strawberry.type
class TeamMember:
    member_id: strawberry.ID
    member_name: str
    member_email: str | None
    member_phone: str | None
    role: str | None
    department: str | None
    is_active: bool

    @classmethod
    def from_row(cls, row: Any) -> TeamMember:
        """From a team_members row."""
        return cls(
            member_id=row["member_id"], member_name=row["member_name"], member_email=row["member_email"],
            member_phone=row["member_phone"], role=row["role"], department=row["department"],
            is_active=row["is_active"],
        )


@strawberry.type
class AuditAction:
    id: strawberry.ID
    officer_id: strawberry.ID
    action_kind: str
    action_type: str
    actor: str | None
    action_date: datetime
    from_status: AuditStatus | None
    to_status: AuditStatus | None
    assignee_id: strawberry.ID | None
    notes: str | None

    @classmethod
    def from_row(cls, row: Any) -> AuditAction:
        """From an audit_actions row."""
        return cls(
            id=strawberry.ID(str(row["id"])), officer_id=row["officer_id"], action_kind=row["action_kind"],
            action_type=row["action_type"], actor=row["actor"], action_date=row["action_date"],
            from_status=AuditStatus(row["from_status"]) if row["from_status"] else None,
            to_status=AuditStatus(row["to_status"]) if row["to_status"] else None,
            assignee_id=row["assignee_id"], notes=row["notes"],
        )


@strawberry.type
class AuditInfo:
    officer_id: strawberry.ID
    assignee_id: strawberry.ID | None
    assignee_name: str | None
    assigned_date: datetime | None
    audit_status: AuditStatus
    status_changed_date: datetime | None
    last_audit_date: date | None
    audit_notes: str | None
    risk_level: str | None
    action_type: str | None
    action_date: datetime | None
    action_notes: str | None
    version: int

    @classmethod
    def from_row(cls, row: Any) -> AuditInfo:
        """From a row with ``officer_id`` and the queries' ``AUDIT_COLUMNS``."""
        return cls(
            officer_id=row["officer_id"], assignee_id=row["assignee_id"], assignee_name=row["assignee_name"],
            assigned_date=row["assigned_date"], audit_status=AuditStatus(row["audit_status"]),
            status_changed_date=row["status_changed_date"], last_audit_date=row["last_audit_date"],
            audit_notes=row["audit_notes"], risk_level=row["risk_level"], action_type=row["action_type"],
            action_date=row["action_date"], action_notes=row["action_notes"], version=row["audit_version"],
        )

    @strawberry.field(description="Every assignment, status change and action, newest first.")
    async def actions(self, info: Info[RequestContext, None]) -> list[AuditAction]:
        rows = await info.context.loaders.audit_actions.load(str(self.officer_id))
        return [AuditAction.from_row(row) for row in rows]
