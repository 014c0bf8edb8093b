"""Refresh planner statistics after a bulk load.

Autovacuum analyzes a table once 10% of it changed, but only on its next round; after
``loanmetrics seed`` or ``ingest`` the API's first queries would be planned on stale row counts,
so those commands analyze the tables they filled.
"""

from __future__ import annotations

import asyncpg

TABLES = ("officers", "customers", "loans", "loan_schedule", "repayments", "loan_state")


async def analyze_tables(conn: asyncpg.Connection) -> None:
    for table in TABLES:
        await conn.execute(f'ANALYZE "{table}"')
