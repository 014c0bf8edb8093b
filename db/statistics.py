"""Keep planner statistics current during bulk loads.

Autovacuum analyzes a table once 10% of it changed, but only on its next round; a bulk load
through many batches outruns it, leaving the API's queries planned on stale row counts. After
each batch we analyze the tables that changed by more than 30% since their last analysis.
"""

from __future__ import annotations

import asyncpg

WATCHED = ("loans", "loan_schedule", "repayments", "loan_state", "customers", "officers")

_STALE = """
SELECT s.relname
FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid
WHERE s.relname = ANY($1::text[])
  AND s.n_mod_since_analyze > greatest(5000, 0.3 * greatest(c.reltuples, 0))
"""


async def analyze_stale_tables(conn: asyncpg.Connection) -> list[str]:
    """ANALYZE the watched tables whose statistics lag far behind; returns their names."""
    stale = [row["relname"] for row in await conn.fetch(_STALE, list(WATCHED))]
    # All columns: an ANALYZE with a column list does not reset the counter the check reads.
    for table in stale:
        await conn.execute(f'ANALYZE "{table}"')
    return stale
