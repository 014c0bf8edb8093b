"""Plain-Python reference implementation of the SPEC §5 calculation contract (exact arithmetic)."""
