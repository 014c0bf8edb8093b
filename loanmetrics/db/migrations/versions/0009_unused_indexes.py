"""Drop the indexes no query uses: every insert of a batch paid for them.

The metric engine reads ``loan_state``, never ``loan_schedule`` by due date or ``repayments`` by
payment date; loans are never looked up by customer, and a disbursement-date range is always
combined with a tag, an officer or a branch that has its own index (migration 0007, ``ix_loans_branch``).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DROPPED = {
    "ix_repayments_date": "repayments (payment_date)",
    "ix_loan_schedule_due": "loan_schedule (due_date)",
    "ix_loans_customer": "loans (customer_id)",
    "ix_loans_disbursement": "loans (disbursement_date)",
}


def upgrade() -> None:
    for name in DROPPED:
        op.execute(f"DROP INDEX IF EXISTS {name}")


def downgrade() -> None:
    for name, target in DROPPED.items():
        op.execute(f"CREATE INDEX {name} ON {target}")
