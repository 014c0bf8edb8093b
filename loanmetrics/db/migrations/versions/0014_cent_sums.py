"""``lm_sum_c(bigint)``: a sum of integer cents that stays a bigint.

The loan-state statements (db/loan_state.py) build running sums of cents over every repayment
and installment of the loans a batch touches. PostgreSQL's ``sum(bigint)`` accumulates and
returns ``numeric`` (then cast back to bigint): as a running window sum, its numeric result is
built for every row. ``int8pl`` as the transition keeps the state a plain bigint, exact, and
raises on overflow like the cast did. NULL inputs are skipped and an all-NULL group gives NULL,
as with ``sum``.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("""
CREATE AGGREGATE lm_sum_c(bigint) (
    sfunc = int8pl, stype = bigint, combinefunc = int8pl, parallel = safe
)""")


def downgrade() -> None:
    op.execute("DROP AGGREGATE lm_sum_c(bigint)")
