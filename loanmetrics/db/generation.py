"""The metrics generation (SPEC §9): bumped inside every write's own transaction.

The response cache keys its entries on this number, so a write must change it exactly when its
data becomes visible: in its transaction (a lost connection or a crash after the commit can no
longer leave the write without its bump), and not before its commit (a reader could otherwise
take the new number, read the old data and cache it under the new number). Each kind of writer
has its own row (migration 0012 says why); the generation is their sum, which every commit of a
bumping write raises by one.
"""

from __future__ import annotations

from enum import StrEnum

import asyncpg

CURRENT = "SELECT coalesce(sum(generation), 0)::bigint FROM metrics_generation"


class Source(StrEnum):
    """Who bumps: each writer kind updates only its own row."""

    INGESTION = "ingestion"
    AUDIT = "audit"  # audit mutations and team members
    RECALCULATION = "recalculation"  # runs in REPEATABLE READ: nothing else may update its row
    LOAN_REFRESH = "loan_refresh"  # the daily (and `refresh-loans`) refresh of the loans' as-of fields


async def bump(conn: asyncpg.Connection, source: Source) -> None:
    """Raise the generation by one as part of the transaction open on ``conn``: call it last, just
    before the commit, so the row stays locked only for the commit itself."""
    await conn.execute(
        """
        INSERT INTO metrics_generation AS g (source, generation) VALUES ($1, 1)
        ON CONFLICT (source) DO UPDATE SET generation = g.generation + 1, updated_at = now()
        """,
        source.value,
    )


async def current(conn: asyncpg.Connection) -> int:
    value: int = await conn.fetchval(CURRENT)
    return value
