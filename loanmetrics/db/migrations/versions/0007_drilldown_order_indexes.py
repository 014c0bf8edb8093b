"""Drilldown pages in their default order straight from partial indexes.

The FIMR drilldown lists tagged loans newest disbursement first, the early-indicator drilldown by
DPD, each then by balance and loan id (NULLS LAST, as every keyset order here). With partial indexes in exactly that order a page is
an index scan of ``first`` entries and ``totalCount`` an index-only count, instead of a sort of
every tagged loan; the officer-keyed ones serve an officer's drilldown the same way, and an
officer's own loans page (``Officer.loans``) likewise.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FIMR_ORDER = "disbursement_date DESC NULLS LAST, total_outstanding DESC NULLS LAST, loan_id"
EARLY_ORDER = "current_dpd DESC NULLS LAST, total_outstanding DESC NULLS LAST, loan_id"


def upgrade() -> None:
    op.execute("DROP INDEX IF EXISTS ix_loans_fimr_tagged")
    op.execute("DROP INDEX IF EXISTS ix_loans_early_indicator")
    op.execute(f"CREATE INDEX ix_loans_fimr_order ON loans ({FIMR_ORDER}) WHERE fimr_tagged")
    op.execute(f"CREATE INDEX ix_loans_fimr_officer ON loans (officer_id, {FIMR_ORDER}) WHERE fimr_tagged")
    op.execute(f"CREATE INDEX ix_loans_early_order ON loans ({EARLY_ORDER}) WHERE early_indicator_tagged")
    op.execute(
        f"CREATE INDEX ix_loans_early_officer ON loans (officer_id, {EARLY_ORDER}) WHERE early_indicator_tagged"
    )
    # an officer's loans page (default order: DPD, balance) is an index scan per officer
    op.execute("DROP INDEX IF EXISTS ix_loans_officer")
    op.execute(f"CREATE INDEX ix_loans_officer_order ON loans (officer_id, {EARLY_ORDER})")


def downgrade() -> None:
    for name in ("ix_loans_fimr_order", "ix_loans_fimr_officer", "ix_loans_early_order", "ix_loans_early_officer",
                 "ix_loans_officer_order"):
        op.execute(f"DROP INDEX IF EXISTS {name}")
    op.execute("CREATE INDEX ix_loans_officer ON loans (officer_id, disbursement_date)")
    op.execute("CREATE INDEX ix_loans_fimr_tagged ON loans (officer_id, disbursement_date) WHERE fimr_tagged")
    op.execute(
        "CREATE INDEX ix_loans_early_indicator ON loans (officer_id, current_dpd) WHERE early_indicator_tagged"
    )
