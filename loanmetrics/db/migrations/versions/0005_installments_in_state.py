"""Installments live in loan_state's due-date arrays: drop the effective_installments view and
the separate implied-installment columns they replaced.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ("implied_due_date", "implied_total_due_c", "implied_fee_due_c", "implied_paid_by_due_c")


def upgrade() -> None:
    op.execute("DROP VIEW IF EXISTS effective_installments")
    op.drop_index("ix_loan_state_implied_due", table_name="loan_state")
    for column in COLUMNS:
        op.drop_column("loan_state", column)


def downgrade() -> None:
    import sqlalchemy as sa

    op.add_column("loan_state", sa.Column("implied_due_date", sa.Date()))
    for column in COLUMNS[1:]:
        op.add_column("loan_state", sa.Column(column, sa.BigInteger()))
    op.create_index("ix_loan_state_implied_due", "loan_state", ["implied_due_date"],
                    postgresql_where=sa.text("implied"))
