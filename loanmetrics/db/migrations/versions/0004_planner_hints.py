"""Planner hints: rows per loan in the child tables.

Per-batch statements probe loan_schedule and repayments by loan id; their plans hinge on how
many rows one loan has. ANALYZE's sample misjudges that while a bulk load grows the tables,
which flipped index probes into full scans. A fixed ratio of distinct loan ids to rows (about
20 installments and 10 repayments per loan, conservative for lending books) keeps the estimate
right at any size.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("ALTER TABLE loan_schedule ALTER COLUMN loan_id SET (n_distinct = -0.05)")
    op.execute("ALTER TABLE repayments ALTER COLUMN loan_id SET (n_distinct = -0.1)")


def downgrade() -> None:
    op.execute("ALTER TABLE loan_schedule ALTER COLUMN loan_id RESET (n_distinct)")
    op.execute("ALTER TABLE repayments ALTER COLUMN loan_id RESET (n_distinct)")
