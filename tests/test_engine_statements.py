"""The shape of the metric engine's statements that its speed rests on (issue 13 part 6):
docs/ARCHITECTURE.md, "Metric engine". The results themselves are held to the Python reference by
the property and golden tests; these hold the statements to what keeps a one-date run within 4x
a scan of the base tables."""

from __future__ import annotations

import re

from loanmetrics.db import daily_metrics, metric_engine, metric_sql
from loanmetrics.db.engine import Database


def _statements() -> dict[str, str]:
    options = metric_engine.EngineOptions()
    return {
        "compute": metric_engine.components_sql(("officer", "branch", "region", "all"), options).sql,
        "restate": daily_metrics._restate_all_statement(options).sql,
        "roll-up": daily_metrics._roll_up_statement("officer", options).sql,
        "delta": daily_metrics._DELTA.sql,
    }


async def test_the_engine_calls_no_procedural_function(db: Database) -> None:
    """Every lm_* function the statements call is plain SQL, which the planner inlines: a PL/pgSQL
    call per group (the exact fraction sum of the scores) cost 0.7 ms each."""
    called = {name for sql in _statements().values() for name in re.findall(r"\b(lm_\w+)\(", sql)}
    assert {"lm_dpd", "lm_total_out_c", "lm_ratio"} <= called
    async with db.raw_reader() as conn:
        languages = {row["proname"]: row["lanname"] for row in await conn.fetch(
            "SELECT p.proname, l.lanname FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang"
            " WHERE p.proname = ANY($1::text[])", sorted(called))}
    assert set(languages) == called
    assert {name: lang for name, lang in languages.items() if lang not in ("sql", "internal")} == {}


def test_loan_rows_stream_into_the_aggregate() -> None:
    """The per-loan quantities are a subquery the aggregate reads as it streams, never a
    MATERIALIZED CTE (100k rows into a tuplestore and back, spilled to disk for a week's dates),
    and the dates are materialised once (inlined, their arithmetic ran once per loan)."""
    for name, sql in _statements().items():
        for match in re.finditer(r"(\w*)loan_days AS (MATERIALIZED )?\((.*?)\n\)", sql, re.DOTALL):
            assert match.group(2) is None, (name, match.group(1))
            assert match.group(3).rstrip().endswith("OFFSET 0"), (name, match.group(1))
        if "dates AS" in sql:
            assert "dates AS MATERIALIZED" in sql, name
    assert all(re.search(r"loan_days AS", sql) for name, sql in _statements().items() if name != "roll-up")
    sums = metric_sql.component_sums()
    assert "lm_sum_c(" in sums
    assert "sum(" not in sums.replace("lm_sum_c(", "")


async def test_transitions_are_written_without_a_per_row_trigger(db: Database) -> None:
    """dpd_transitions has no foreign key (a trigger per row a recalculation writes): migration
    0003_recalc_transitions_fk; the engine writes them only from loan_state."""
    async with db.raw_reader() as conn:
        keys = await conn.fetch("SELECT conname FROM pg_constraint WHERE conrelid = 'dpd_transitions'::regclass"
                                " AND contype = 'f'")
        triggers = await conn.fetchval("SELECT count(*) FROM pg_trigger WHERE tgrelid = 'dpd_transitions'::regclass")
    assert (keys, triggers) == ([], 0)
