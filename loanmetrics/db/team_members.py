"""The dashboard's own users (audit team members): upserts shared by seed, demo and the API."""

from __future__ import annotations

from typing import Any

import asyncpg

_UPSERT = """
INSERT INTO team_members AS t (member_id, member_name, member_email, member_phone, role, department, is_active)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::boolean[])
ON CONFLICT (member_id) DO UPDATE SET
    member_name = EXCLUDED.member_name, member_email = EXCLUDED.member_email,
    member_phone = EXCLUDED.member_phone, role = EXCLUDED.role, department = EXCLUDED.department,
    is_active = EXCLUDED.is_active, updated_at = now()
"""

FIELDS = ("member_id", "member_name", "member_email", "member_phone", "role", "department", "is_active")


async def upsert_team_members(conn: asyncpg.Connection, members: list[dict[str, Any]]) -> None:
    await conn.execute(_UPSERT, *[[member.get(name) for member in members] for name in FIELDS])
