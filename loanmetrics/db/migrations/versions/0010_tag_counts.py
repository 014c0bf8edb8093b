"""Tagged-loan counts per (officer, branch, region) for the drilldowns' totals.

``totalCount`` of a FIMR drilldown counted every tagged loan in scope: an index-only scan of
the partial index, about 20 ms of PostgreSQL per request at 1M loans (244k tagged), the whole of
the page's cost. The counts are kept exact by the statements that change a loan's tags (the
as-of loan fields, db/loan_state.py) or its group (the loan upsert, db/ingestion/writer.py);
a drilldown whose filters are only officer, branch and region (and the caller's scope) sums them.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("""
CREATE TABLE loan_tag_counts (
    officer_id text NOT NULL,
    branch text NOT NULL,
    region text NOT NULL,
    fimr_count bigint NOT NULL,
    early_count bigint NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_loan_tag_counts PRIMARY KEY (officer_id, branch, region)
)""")
    op.execute("""
INSERT INTO loan_tag_counts (officer_id, branch, region, fimr_count, early_count)
SELECT officer_id, branch, region, count(*) FILTER (WHERE fimr_tagged), count(*) FILTER (WHERE early_indicator_tagged)
FROM loans WHERE fimr_tagged OR early_indicator_tagged
GROUP BY officer_id, branch, region""")


def downgrade() -> None:
    op.execute("DROP TABLE loan_tag_counts")
