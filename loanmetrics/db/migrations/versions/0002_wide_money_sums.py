"""Money columns that hold sums over loans are NUMERIC(20,2).

A record's money field is at most ``MAX_MONEY`` (9,999,999,999.99; ingestion refuses more), so
one record, and a loan's own running totals, fit NUMERIC(15,2) (SPEC §3); a sum over loans need
not (1,001 loans at the maximum pass 10^13, and the recalculation then failed on every later
run). The columns holding sums over loans are widened to NUMERIC(20,2) (below 10^18): the daily
tables' money components (an officer's or branch's loans) and the PAR15 snapshot (an officer's).
The engine sums integer cents in bigint (below 9.2 * 10^16 currency units), which stays the
binding limit: 9.2 million loans at the maximum in one group. Raising a numeric's precision at
the same scale rewrites nothing, so the migration is instant at any size.

Revision ID: 0002_wide_money_sums
Revises: 0001_baseline
Create Date: 2026-12-07
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002_wide_money_sums"
down_revision: str | None = "0001_baseline"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The daily tables' money components as of this revision (written out: a migration must not
# follow later changes of the registry).
DAILY_MONEY = (
    "total_portfolio", "gross_loan_portfolio", "overdue_15d_amount", "disbursed_amount", "total_yield",
    "interest_collected", "fees_collected", "fees_due", "waivers_amount", "amount_due_7d", "par15_mid_month",
    "par1_amount", "par30_amount", "par60_amount", "par90_amount", "dpd_1to6_balance", "prev_dpd_1to6_balance",
    "moved_to_7to30", "on_time_paid", "on_time_due", "bucket_0_balance", "bucket_1_6_balance",
    "bucket_7_30_balance", "bucket_31_60_balance", "bucket_61_90_balance", "bucket_90_plus_balance",
)
WIDENED: dict[str, tuple[str, ...]] = {
    "officer_metrics_daily": DAILY_MONEY,
    "branch_metrics_daily": DAILY_MONEY,
    "par15_snapshots": ("par15_exposure",),
}


def _alter(precision: int) -> None:
    for table, columns in WIDENED.items():
        changes = ", ".join(f"ALTER COLUMN {column} TYPE numeric({precision},2)" for column in columns)
        op.execute(f"ALTER TABLE {table} {changes}")


def upgrade() -> None:
    _alter(20)


def downgrade() -> None:
    _alter(15)  # fails, changing nothing, while a stored sum is 10^13 or more
