"""schemathesis hooks (loaded through SCHEMATHESIS_HOOKS by tests/test_openapi_conformance.py):
the rules of the OpenAPI document's ``x-rules`` that JSON Schema cannot state, applied to the
requests schemathesis generates as valid."""

from __future__ import annotations

from typing import Any

import schemathesis


@schemathesis.hook
def filter_case(context: Any, case: Any) -> bool:
    """Keep the generated requests that respect the documented cross-parameter rules (every
    phase, the coverage phase included, applies this hook)."""
    query = case.query
    if not query:
        return True
    end = query.get("end_date") or None
    day = query.get("date") or None
    if end is not None and day is not None:
        return False  # the officer list: date and end_date are one window end
    start = query.get("start_date") or None
    bound = end or day
    return not (start is not None and bound is not None and str(start) > str(bound))
