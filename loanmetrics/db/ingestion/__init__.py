"""ETL ingestion (SPEC §4): parse, validate, upsert and recompute loan state, one transaction a batch."""
