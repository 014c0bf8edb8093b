"""Storage: schema, engine, migrations, embedded PostgreSQL, ingestion and maintained loan state."""
