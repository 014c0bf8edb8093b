"""The migrations are the schema: they create the SPEC §3 tables and match the models exactly."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from loanmetrics.db import migrate
from loanmetrics.db.models import SPEC_TABLES, metadata


async def test_migrations_create_every_spec_table_and_match_the_models(app):
    engine = app.db.engine
    assert await migrate.is_current(engine)

    def differences(connection):
        return compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True}), metadata)

    async with engine.connect() as conn:
        assert await conn.run_sync(differences) == []
    async with app.db.raw_reader() as conn:
        rows = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        tables = {row["tablename"] for row in rows}
        assert set(SPEC_TABLES) <= tables
        for table in SPEC_TABLES:
            columns = {r["column_name"] for r in await conn.fetch(
                "SELECT column_name FROM information_schema.columns WHERE table_name = $1", table)}
            assert {"created_at", "updated_at"} <= columns, table
        money = await conn.fetch(
            "SELECT table_name, column_name, numeric_precision, numeric_scale FROM information_schema.columns "
            "WHERE column_name IN ('loan_amount', 'payment_amount', 'total_due', 'total_outstanding', 'porr', 'ayr')")
        assert {(r["column_name"], r["numeric_precision"], r["numeric_scale"]) for r in money} == {
            ("loan_amount", 15, 2), ("payment_amount", 15, 2), ("total_due", 15, 2),
            ("total_outstanding", 15, 2), ("porr", 20, 6), ("ayr", 20, 6)}


async def test_a_second_upgrade_is_a_no_op(app):
    await migrate.upgrade(app.db.engine)
    assert await migrate.current_revision(app.db.engine) == migrate.head_revision()
