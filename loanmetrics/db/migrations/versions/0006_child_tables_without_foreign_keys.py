"""loan_schedule, repayments and loan_state reference loans without foreign-key constraints.

A foreign key is a per-row trigger: on a 10k-record batch it cost about 50 ms per table, a
sixth of the batch (loan_state's, checked on every state update, a few ms more). Ingestion is
the only writer of these tables and already checks every
reference (``db.ingestion.validation.check_references``) inside the batch's transaction, under
the ingestion lock, and nothing deletes loans, so a reference cannot dangle.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_constraint("loan_schedule_loan_id_fkey", "loan_schedule", type_="foreignkey")
    op.drop_constraint("repayments_loan_id_fkey", "repayments", type_="foreignkey")
    op.drop_constraint("loan_state_loan_id_fkey", "loan_state", type_="foreignkey")


def downgrade() -> None:
    op.create_foreign_key("loan_schedule_loan_id_fkey", "loan_schedule", "loans", ["loan_id"], ["loan_id"])
    op.create_foreign_key("repayments_loan_id_fkey", "repayments", "loans", ["loan_id"], ["loan_id"])
    op.create_foreign_key(
        "loan_state_loan_id_fkey", "loan_state", "loans", ["loan_id"], ["loan_id"], ondelete="CASCADE"
    )
