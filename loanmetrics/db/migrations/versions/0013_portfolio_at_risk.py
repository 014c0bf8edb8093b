"""Portfolio at risk (SPEC §3, §5.5): gross_loan_portfolio and PAR1/30/60/90 with amounts and
counts in the daily tables and the fine groups; the metric functions the registry replaced.

- ``officer_metrics_daily`` and ``branch_metrics_daily`` gain gross_loan_portfolio, parN_amount,
  parN_count and parN (N = 1, 30, 60, 90); ``metric_fine_daily`` the additive ones, in cents.
- The SQL functions that spelled definitions (penalty weights and inputs, the risk score, DQI,
  band shapes, bucket edges) are dropped: the engine and the readers generate that SQL from the
  metric registry (``calculators/registry.py``, ``db/metric_sql.py``), so the database holds no
  second definition. The arithmetic helpers (``lm_ratio``, ``lm_term``, ``lm_fraction_sum``,
  ``lm_round_fraction``, ``lm_clamp``) and the loan-state functions stay.
- Every calculated date is queued for restatement: its stored rows have no PAR yet, so the fine
  groups (which incremental runs add deltas to) are dropped and the next recalculation restates
  each calculated date whole from ``loan_state``.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05
"""

import importlib
from collections.abc import Sequence

from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LEVELS = (1, 30, 60, 90)
DAILY = (
    ("gross_loan_portfolio", "numeric(15,2) NOT NULL"),
    *(column for n in LEVELS for column in (
        (f"par{n}_amount", "numeric(15,2) NOT NULL"), (f"par{n}_count", "integer NOT NULL"), (f"par{n}", "numeric(20,6)"),
    )),
)
FINE = ("gross_loan_portfolio", *(f"par{n}_{part}" for n in LEVELS for part in ("amount", "count")))

SUPERSEDED = (
    "lm_penalty_inputs(numeric, numeric, numeric, numeric, numeric, numeric, numeric, numeric, numeric, numeric,"
    " numeric, numeric, numeric, numeric, numeric, boolean)",
    "lm_penalty_points(numeric[])",
    "lm_risk_score(numeric, numeric, numeric, numeric, numeric, numeric, numeric, numeric, numeric, numeric,"
    " numeric, numeric, numeric, numeric, numeric, boolean)",
    "lm_dqi(integer, numeric, numeric, numeric, numeric, numeric, numeric, boolean)",
    "lm_band_at_most(numeric, numeric, numeric, numeric)",
    "lm_band_at_least(numeric, numeric, numeric, numeric)",
    "lm_risk_band(integer, integer, integer, integer)",
    "lm_dqi_band(integer, integer, integer)",
    "lm_bucket(integer)",
)


def upgrade() -> None:
    for table in ("officer_metrics_daily", "branch_metrics_daily"):
        for name, kind in DAILY:
            default = " DEFAULT 0" if "NOT NULL" in kind else ""
            op.execute(f"ALTER TABLE {table} ADD COLUMN {name} {kind}{default}")
            if default:
                op.execute(f"ALTER TABLE {table} ALTER COLUMN {name} DROP DEFAULT")
    for name in FINE:
        op.execute(f"ALTER TABLE metric_fine_daily ADD COLUMN {name} bigint NOT NULL DEFAULT 0")
        op.execute(f"ALTER TABLE metric_fine_daily ALTER COLUMN {name} DROP DEFAULT")
    for signature in SUPERSEDED:
        op.execute(f"DROP FUNCTION IF EXISTS {signature}")
    # restate every calculated date whole at the next run (its rows have no PAR yet)
    op.execute("DELETE FROM metric_fine_daily")
    op.execute("DELETE FROM metric_calculated_dates")
    op.execute("""
        INSERT INTO metric_dirty (officer_id, branch, region, from_date, sync_id)
        SELECT NULL, NULL, NULL, DATE '0001-01-01', 'migration 0012: portfolio at risk'
        WHERE EXISTS (SELECT 1 FROM officer_metrics_daily) OR EXISTS (SELECT 1 FROM branch_metrics_daily)
    """)


def downgrade() -> None:
    for table in ("officer_metrics_daily", "branch_metrics_daily"):
        for name, _ in DAILY:
            op.execute(f"ALTER TABLE {table} DROP COLUMN {name}")
    for name in FINE:
        op.execute(f"ALTER TABLE metric_fine_daily DROP COLUMN {name}")
    # the dropped functions, as 0002 and 0003 created them
    versions = "loanmetrics.db.migrations.versions"
    loan_state = importlib.import_module(f"{versions}.0002_loan_state_functions")
    metrics = importlib.import_module(f"{versions}.0003_metric_functions")
    names = {signature.split("(")[0] for signature in SUPERSEDED}
    statements = [*loan_state.FUNCTIONS.split(";\n"), *metrics.STATEMENTS]
    for statement in statements:
        created = statement.split("FUNCTION", 1)[1].split("(")[0].strip() if "FUNCTION" in statement else ""
        if created in names:
            op.execute(statement)
