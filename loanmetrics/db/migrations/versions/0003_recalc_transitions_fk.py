"""dpd_transitions without its foreign key to loans.

The key was a per-row trigger on every transition a recalculation writes: one lookup in
``loans`` per row (about 20 ms of a one-date run at 100k loans, 2,000 rows; 1.8 s of a 90-day
backfill). The baseline already leaves ``loan_schedule``, ``repayments`` and ``loan_state``
without one for the same reason, and the same guarantee holds here: transitions are written
only by the metric engine, from ``loan_state`` rows in the recalculation's own transaction, and
a ``loan_state`` row exists only for a loan ingestion wrote (and nothing deletes loans), so a
transition cannot name a missing loan. Its ``ON DELETE CASCADE`` had nothing to cascade from.

Revision ID: 0003_recalc_transitions_fk
Revises: 0002_wide_money_sums
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0003_recalc_transitions_fk"
down_revision: str | None = "0002_wide_money_sums"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("ALTER TABLE dpd_transitions DROP CONSTRAINT dpd_transitions_loan_id_fkey")


def downgrade() -> None:
    op.execute("ALTER TABLE dpd_transitions ADD CONSTRAINT dpd_transitions_loan_id_fkey "
               "FOREIGN KEY (loan_id) REFERENCES loans (loan_id) ON DELETE CASCADE")
