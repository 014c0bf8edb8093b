"""Benchmark harness (SPEC §12): real server subprocesses against a real PostgreSQL. Not part of the product."""
