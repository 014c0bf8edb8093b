"""Audit workflow (SPEC §7): assignment, status moves with optimistic concurrency, actions, and
the team. Every change appends to audit_actions (the history the original design lost).
audit_tracking.version guards the assignment and the status: assignments and status moves
increment it; recording an action (a call, a visit) adds to the history and changes neither, so
an auditor's next move with the version they read still goes through.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import asyncpg

from loanmetrics.db import generation
from loanmetrics.principal import ADMIN_ROLES, AUDIT_ROLES, Principal, Role
from loanmetrics.resolvers.errors import bad_request, conflict, forbidden, not_found
from loanmetrics.resolvers.inputs import AuditStatus
from loanmetrics.resolvers.officers import AUDIT_COLUMNS
from loanmetrics.resolvers.sql import rows_by_key

if TYPE_CHECKING:
    from loanmetrics.resolvers.context import RequestContext

# SPEC §7: Not Assigned -> Assigned (by an assignment) -> In Progress -> Resolved; Resolved -> Assigned.
STATUS_MOVES = {
    ("Assigned", "In Progress"),
    ("In Progress", "Resolved"),
    ("Resolved", "Assigned"),
}


def _require(principal: Principal, roles: frozenset[Role]) -> None:
    if principal.role not in roles:
        raise forbidden(f"role '{principal.role}' may not do this")


def _text(value: str | None, name: str, limit: int = 2000) -> str | None:
    if value is not None and len(value) > limit:
        raise bad_request(f"{name} is longer than {limit} characters", argument=name)
    return value


async def _lock_officer(conn: asyncpg.Connection, ctx: RequestContext, officer_id: str) -> asyncpg.Record:
    """The officer's audit row, created if missing and locked; the officer must be in scope."""
    principal = ctx.principal
    officer = await conn.fetchrow(
        "SELECT officer_id, branch, region FROM officers WHERE officer_id = $1", officer_id
    )
    if officer is None or (principal.branches and officer["branch"] not in principal.branches) or (
        principal.regions and officer["region"] not in principal.regions
    ):
        raise not_found(f"officer {officer_id} not found")
    await conn.execute(
        "INSERT INTO audit_tracking (officer_id) VALUES ($1) ON CONFLICT (officer_id) DO NOTHING", officer_id
    )
    row = await conn.fetchrow(
        "SELECT * FROM audit_tracking WHERE officer_id = $1 FOR UPDATE", officer_id
    )
    assert row is not None
    return row


async def _audit_info(conn: asyncpg.Connection, officer_id: str) -> asyncpg.Record:
    """The officer's audit record as the API reads it (``AUDIT_COLUMNS``)."""
    row = await conn.fetchrow(
        f"SELECT o.officer_id, {AUDIT_COLUMNS} FROM officers o "
        "LEFT JOIN audit_tracking a ON a.officer_id = o.officer_id WHERE o.officer_id = $1",
        officer_id,
    )
    assert row is not None  # the officer was locked in this transaction
    return row


async def _history(conn: asyncpg.Connection, officer_id: str, kind: str, action_type: str, actor: str,
                   from_status: str | None, to_status: str | None, assignee_id: str | None,
                   notes: str | None) -> asyncpg.Record:
    row = await conn.fetchrow(
        """
        INSERT INTO audit_actions (officer_id, action_kind, action_type, actor, from_status, to_status,
                                   assignee_id, notes)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING *
        """,
        officer_id, kind, action_type, actor, from_status, to_status, assignee_id, notes,
    )
    assert row is not None
    return row


async def assign_auditor(ctx: RequestContext, officer_id: str, assignee_id: str) -> asyncpg.Record:
    _require(ctx.principal, AUDIT_ROLES)
    async with ctx.application.db.raw_transaction() as conn:
        current = await _lock_officer(conn, ctx, officer_id)
        member = await conn.fetchrow(
            "SELECT member_id, member_name FROM team_members WHERE member_id = $1 AND is_active", assignee_id
        )
        if member is None:
            raise not_found(f"active team member {assignee_id} not found")
        status = current["audit_status"]
        new_status = "Assigned" if status in ("Not Assigned", "Resolved") else status
        await conn.execute(
            """
            UPDATE audit_tracking
            SET assignee_id = $2, assignee_name = $3, assigned_date = now(), audit_status = $4,
                status_changed_date = CASE WHEN $4 <> audit_status THEN now() ELSE status_changed_date END,
                version = version + 1, updated_at = now()
            WHERE officer_id = $1
            """,
            officer_id, member["member_id"], member["member_name"], new_status,
        )
        await _history(conn, officer_id, "assignment", "assign", ctx.principal.subject, status, new_status,
                       assignee_id, None)
        info = await _audit_info(conn, officer_id)
        await generation.bump(conn, generation.Source.AUDIT)
    await ctx.application.after_commit()
    return info


async def update_audit_status(
    ctx: RequestContext, officer_id: str, status: AuditStatus, notes: str | None, expected_version: int | None
) -> asyncpg.Record:
    _require(ctx.principal, AUDIT_ROLES)
    notes = _text(notes, "notes")
    async with ctx.application.db.raw_transaction() as conn:
        current = await _lock_officer(conn, ctx, officer_id)
        if expected_version is not None and current["version"] != expected_version:
            raise conflict(
                f"the audit record changed (version {current['version']}, expected {expected_version})",
                currentVersion=current["version"],
            )
        old, new = current["audit_status"], status.value
        if (old, new) not in STATUS_MOVES:
            hint = " (assign an auditor first)" if old == "Not Assigned" else ""
            raise conflict(f"cannot move an audit from '{old}' to '{new}'{hint}", currentStatus=old)
        await conn.execute(
            """
            UPDATE audit_tracking
            SET audit_status = $2, status_changed_date = now(), audit_notes = coalesce($3, audit_notes),
                last_audit_date = CASE WHEN $2 = 'Resolved' THEN $4 ELSE last_audit_date END,
                version = version + 1, updated_at = now()
            WHERE officer_id = $1
            """,
            officer_id, new, notes, ctx.business_date,
        )
        await _history(conn, officer_id, "status_change", "status", ctx.principal.subject, old, new, None, notes)
        info = await _audit_info(conn, officer_id)
        await generation.bump(conn, generation.Source.AUDIT)
    await ctx.application.after_commit()
    return info


async def record_audit_action(ctx: RequestContext, officer_id: str, action_type: str,
                              notes: str | None) -> asyncpg.Record:
    _require(ctx.principal, AUDIT_ROLES)
    if not action_type.strip() or len(action_type) > 100:
        raise bad_request("actionType must be 1 to 100 characters", argument="actionType")
    notes = _text(notes, "notes")
    async with ctx.application.db.raw_transaction() as conn:
        await _lock_officer(conn, ctx, officer_id)
        row = await _history(conn, officer_id, "action", action_type, ctx.principal.subject, None, None, None, notes)
        await conn.execute(
            """
            UPDATE audit_tracking
            SET action_type = $2, action_date = $3, action_notes = $4, updated_at = now()
            WHERE officer_id = $1
            """,
            officer_id, action_type, row["action_date"], notes,
        )
        await generation.bump(conn, generation.Source.AUDIT)
    await ctx.application.after_commit()
    return row


async def action_rows(ctx: RequestContext, officer_ids: list[str]) -> list[list[asyncpg.Record]]:
    """Each officer's audit history (audit_actions rows), newest first, in the order asked."""
    rows = await ctx.fetch(
        "SELECT * FROM audit_actions WHERE officer_id = ANY($1::text[]) ORDER BY action_date DESC, id DESC",
        officer_ids,
    )
    return rows_by_key(rows, "officer_id", officer_ids)


async def team_members(ctx: RequestContext, active_only: bool) -> list[asyncpg.Record]:
    return await ctx.fetch(
        "SELECT * FROM team_members WHERE ($1::boolean IS FALSE OR is_active) ORDER BY member_name, member_id",
        active_only,
    )


async def upsert_team_member(
    ctx: RequestContext, member_id: str, member_name: str, member_email: str | None, role: str | None,
    department: str | None, is_active: bool, member_phone: str | None = None,
) -> asyncpg.Record:
    _require(ctx.principal, ADMIN_ROLES)
    for name, value, limit in (("memberId", member_id, 100), ("memberName", member_name, 200)):
        if not value.strip() or len(value) > limit:
            raise bad_request(f"{name} must be 1 to {limit} characters", argument=name)
    for name, text in (("memberEmail", member_email), ("memberPhone", member_phone), ("role", role),
                       ("department", department)):
        _text(text, name, 200)
    async with ctx.application.db.raw_transaction() as conn:
        row = await conn.fetchrow(
            """
            INSERT INTO team_members AS m (member_id, member_name, member_email, role, department, is_active,
                                           member_phone)
            VALUES ($1, $2, $3, $4, $5, $6, $7)
            ON CONFLICT (member_id) DO UPDATE SET member_name = EXCLUDED.member_name,
                member_email = EXCLUDED.member_email, role = EXCLUDED.role, department = EXCLUDED.department,
                is_active = EXCLUDED.is_active, member_phone = EXCLUDED.member_phone, updated_at = now()
            RETURNING *
            """,
            member_id, member_name, member_email, role, department, is_active, member_phone,
        )
        await generation.bump(conn, generation.Source.AUDIT)
    await ctx.application.after_commit()
    assert row is not None
    return row
