"""The metrics generation becomes a table bumped inside each write's own transaction.

The sequence ``metrics_generation`` was bumped after the write committed: a connection lost or a
process killed between the two left the write without its bump, and a client's retry of the same
batch changed nothing and bumped nothing, so cached answers stayed stale for their whole TTL.
A sequence cannot simply move into the transaction either: ``nextval`` is not transactional, so
readers would see the new generation before the data it stands for, and cache pre-commit answers
under it. A row updated in the write's own transaction is visible exactly when the write is.

One row per kind of writer (ingestion, audit, recalculation, loan refresh), the generation being
their sum: a recalculation runs in REPEATABLE READ, and updating a row another transaction
changed after its snapshot would fail it; only recalculations (serialised by their advisory lock,
taken before the snapshot) update theirs. The sum starts from the sequence's last value, so no
cached entry of the old numbering can be read again.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SOURCES = ("ingestion", "audit", "recalculation", "loan_refresh")


def upgrade() -> None:
    op.create_table(
        "metrics_generation_rows",
        sa.Column("source", sa.Text(), primary_key=True),
        sa.Column("generation", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.execute(
        "INSERT INTO metrics_generation_rows (source, generation) "
        "SELECT 'ingestion', CASE WHEN is_called THEN last_value ELSE 0 END FROM metrics_generation"
    )
    op.execute("DROP SEQUENCE metrics_generation")
    op.rename_table("metrics_generation_rows", "metrics_generation")
    op.execute("ALTER INDEX metrics_generation_rows_pkey RENAME TO metrics_generation_pkey")
    op.execute(
        "INSERT INTO metrics_generation (source) SELECT unnest(ARRAY['" + "', '".join(SOURCES[1:]) + "'])"
    )


def downgrade() -> None:
    op.rename_table("metrics_generation", "metrics_generation_rows")
    op.execute("CREATE SEQUENCE metrics_generation")
    op.execute(
        "SELECT setval('metrics_generation', greatest(sum(generation), 1)) FROM metrics_generation_rows"
    )
    op.drop_table("metrics_generation_rows")
