"""Keep planner statistics current during bulk loads.

Autovacuum analyzes a table once 10% of it changed, but only on its next round; a bulk load
through many batches outruns it, and stale row counts turn the per-batch index probes into
full-table scans. After each batch we analyze the tables that changed by more than 30%.
"""

from __future__ import annotations

import asyncpg

# The columns the batch statements join and filter on: analyzing only these keeps ANALYZE cheap.
WATCHED = {
    "loans": ("loan_id", "officer_id", "branch", "region", "disbursement_date"),
    "loan_schedule": ("loan_id", "due_date", "total_due"),
    "repayments": ("repayment_id", "loan_id", "payment_date"),
    "loan_state": ("loan_id", "officer_id", "branch"),
    "customers": ("customer_id",),
    "officers": ("officer_id",),
}

_STALE = """
SELECT s.relname
FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid
WHERE s.relname = ANY($1::text[])
  AND s.n_mod_since_analyze > greatest(5000, 0.3 * greatest(c.reltuples, 0))
"""


async def analyze_stale_tables(conn: asyncpg.Connection) -> list[str]:
    """ANALYZE the watched tables whose statistics lag far behind; returns their names."""
    stale = [row["relname"] for row in await conn.fetch(_STALE, list(WATCHED))]
    if stale:
        # a tenth of the default sample: enough for row counts and key cardinality, and
        # autovacuum's own ANALYZE refines it later
        await conn.execute("SET LOCAL default_statistics_target = 10")
    for table in stale:
        await conn.execute(f'ANALYZE "{table}" ({", ".join(WATCHED[table])})')
    return stale
