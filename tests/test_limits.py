"""The document limits (graph/limits.py, SPEC §10) on their own: every limit in time linear in the
document, fragments measured once, cycles refused before anything could follow them, and the
cost counting objects (lists and connections multiply, scalars are free)."""

from __future__ import annotations

import gc
import time
from typing import Any

import pytest
from graphql import get_introspection_query, parse, validate

from loanmetrics.calculators import registry
from loanmetrics.graph.limits import DocumentLimits, Limits
from loanmetrics.graph.schema import build_schema
from tests.conftest import make_settings
from tests.hostile_documents import TWO_WINDOWS, bomb

SETTINGS = make_settings(None)
SCHEMA = build_schema(SETTINGS)._schema


def check(document: str, variables: dict[str, Any] | None = None, *, limits: Limits | None = None,
          operation: str | None = None) -> dict[str, Any] | None:
    """The refusal's extensions (with its message), or None when the document passes."""
    checker = DocumentLimits(limits or Limits.of(SETTINGS))
    error = checker.check(SCHEMA, parse(document), operation, variables)
    return None if error is None else {"message": error.message, **(error.extensions or {})}


@pytest.mark.parametrize("n", [20, 40, 1000])
def test_a_fragment_bomb_is_refused_in_milliseconds(n: int) -> None:
    document = parse(bomb(n))
    gc.collect()  # the parse's garbage is not the check's time (the server freezes its start-up heap)
    started = time.perf_counter()
    error = DocumentLimits(Limits.of(SETTINGS)).check(SCHEMA, document, None, None)
    elapsed = time.perf_counter() - started
    assert error is not None
    assert error.extensions == {"code": "QUERY_TOO_COMPLEX", "measure": "selections", "value": min(2**n, 1 << 62),
                                "limit": 5_000}
    assert elapsed < 0.1


def test_a_bomb_of_objects_and_aliases_is_refused_too() -> None:
    for leaf in ("officers { nodes { officerId } }", "a: __typename"):
        refused = check(bomb(30, leaf))
        assert refused is not None
        assert refused["code"] == "QUERY_TOO_COMPLEX"


def test_the_expanded_size_is_a_setting() -> None:
    def limits(selections: int) -> Limits:
        return Limits.of(make_settings(None, max_selections=selections, max_field_overlaps=10**9))

    assert check(bomb(10), limits=limits(1024)) is None  # 1,024 selections
    refused = check(bomb(10), limits=limits(1023))
    assert refused is not None
    assert (refused["measure"], refused["value"], refused["limit"]) == ("selections", 1024, 1023)


def test_a_long_chain_of_fragments_neither_recurses_nor_loops() -> None:
    fragments = ["fragment F0 on Query { __typename }"]
    fragments += [f"fragment F{i} on Query {{ ...F{i - 1} }}" for i in range(1, 1500)]
    document = parse("{ ...F1499 } " + " ".join(fragments))
    started = time.perf_counter()
    assert DocumentLimits(Limits.of(SETTINGS)).check(SCHEMA, document, None, None) is None
    assert time.perf_counter() - started < 0.5


@pytest.mark.parametrize("document", [
    "{ ...A } fragment A on Query { ...A }",
    "{ ...A } fragment A on Query { ...B } fragment B on Query { ... on Query { ...A } }",
    "{ __typename } fragment A on Query { regions { ...B } } fragment B on RegionMetrics { region ...A }",
])
def test_fragment_cycles_are_refused(document: str) -> None:
    refused = check(document)
    assert refused is not None
    assert refused["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert "within itself" in refused["message"]


def test_depth_counts_through_fragments() -> None:
    chain = '{ officer(officerId: "A") { ...L1 } } ' + " ".join(
        f"fragment L{i} on Officer {{ loans(first: 1) {{ nodes {{ officer {{ ...L{i + 1} }} }} }} }}"
        for i in range(1, 4)
    )
    # officer at level 0, three levels per fragment: L4 is spread at level 10
    assert check(chain + " fragment L4 on Officer { loans(first: 1) { nodes { loanId } } }") is None
    refused = check(chain + " fragment L4 on Officer { loans(first: 1) { nodes { officer { officerId } } } }")
    assert refused is not None
    assert (refused["code"], refused["measure"], refused["value"], refused["limit"]) == (
        "QUERY_TOO_COMPLEX", "depth", 13, 12)
    assert "depth" in refused["message"]


def test_aliases_count_every_expansion() -> None:
    fragment = "fragment A on Query { " + " ".join(f"a{i}: __typename" for i in range(10)) + " }"
    assert check("{ ...A ...A ...A } " + fragment) is None  # 30 aliases: the limit itself
    spread = "{ x: regions { ...R } y: regions { ...R } z: regions { ...R } w: regions { ...R } } " \
             "fragment R on RegionMetrics { " + " ".join(f"r{i}: region" for i in range(7)) + " }"
    refused = check(spread)
    assert refused is not None
    assert (refused["measure"], refused["value"], refused["limit"]) == ("aliases", 32, 30)


def test_repeated_fields_are_bounded_before_validation() -> None:
    """graphql-core compares every pair of selections with one response name: 400 copies of a
    field took over a second to validate. Refused first; the largest accepted stays fast."""
    copies = "{ " + 'officer(officerId: "A") { officerId } ' * 400 + "}"
    refused = check(copies)
    assert refused is not None
    assert (refused["code"], refused["measure"]) == ("QUERY_TOO_COMPLEX", "overlaps")
    accepted = "{ " + 'officer(officerId: "A") { officerId } ' * 32 + "}"
    assert check(accepted) is None
    started = time.perf_counter()
    assert validate(SCHEMA, parse(accepted)) == []
    assert time.perf_counter() - started < 0.5
    layered = "{ " + ("officers { " + ("nodes { " + ("metrics { " + "dqi " * 5 + "} ") * 5 + "} ") * 5 + "} ") * 5 + "}"
    refused = check(layered)
    assert refused is not None
    assert refused["measure"] == "overlaps"


def test_the_introspection_query_passes() -> None:
    """GraphiQL's schema query is 14 levels deep: introspection counts in the cost, not the depth."""
    assert check(get_introspection_query(descriptions=True, specified_by_url=True, directive_is_repeatable=True,
                                         schema_description=True, input_value_deprecation=True)) is None
    deep = "{ __schema { types { fields { type { fields { type { fields { type { fields { type { fields { name " \
           "} } } } } } } } } } } }"
    refused = check(deep)
    assert refused is not None
    assert refused["code"] == "QUERY_TOO_COSTLY"


def test_a_full_officer_page_in_two_windows_passes() -> None:
    """500 officers, each with 2 x (metrics + every ratio + 9 penalties + portfolio + 6 buckets)
    objects, scalars free: 30,501 with the 13 ratios of SPEC §5 (the field-counting estimate
    charged 59,001 before PAR)."""
    per_window = 1 + len(registry.RATIOS) + len(registry.PENALTIES) + 1 + len(registry.BUCKETS)
    cost = 1 + 500 * (1 + 2 * per_window)
    assert cost == 30_501
    checker = DocumentLimits(Limits.of(SETTINGS))
    document = parse(TWO_WINDOWS)
    assert checker.check(SCHEMA, document, None, None) is None
    tighter = DocumentLimits(Limits.of(make_settings(None, max_query_cost=cost - 1)))
    error = tighter.check(SCHEMA, document, None, None)
    assert error is not None
    assert error.extensions == {"code": "QUERY_TOO_COSTLY", "cost": cost, "limit": cost - 1}


@pytest.mark.parametrize(("document", "variables", "cost"), [
    ("{ officers(first: 500) { nodes { loans(first: 500) { nodes { repayments { paymentAmount } } } } } }", None,
     1 + 500 + 500 * (1 + 500 + 500 * 20)),
    ("query($n: Int) { officers(first: $n) { nodes { loans { nodes { schedule { dueDate } } } } } }", {"n": 100},
     1 + 100 + 100 * (1 + 50 + 50 * 25)),
    ("{ officers(first: 200) { edges { node { history(startDate: \"2026-01-01\", endDate: \"2026-09-18\") "
     "{ dqi riskPenalties { name } } } } } }", None, 1 + 200 + 200 + 200 * 261 * (1 + 9)),
])
def test_nested_pages_multiply_and_are_refused(document: str, variables: dict[str, Any] | None, cost: int) -> None:
    refused = check(document, variables)
    assert refused is not None
    assert refused["code"] == "QUERY_TOO_COSTLY"
    assert (refused["cost"], refused["limit"]) == (cost, 50_000)


@pytest.mark.parametrize(("document", "variables"), [
    ("query($n: Int) { officers(first: $n) { totalCount } }", {"n": 501}),
    ("query($n: Int = 501) { officers(first: $n) { totalCount } }", {}),
    ("query($n: Int = 501) { officers(first: $n) { totalCount } }", None),
    ('{ officer(officerId: "A") { loans(first: 1000000) { totalCount } } }', None),
    ("{ calculationRuns(first: -1) { id } }", None),
])
def test_page_sizes_out_of_range_are_refused(document: str, variables: dict[str, Any] | None) -> None:
    refused = check(document, variables)
    assert refused is not None
    assert (refused["code"], refused["argument"], refused["limit"]) == ("BAD_REQUEST", "first", 500)


def test_the_cost_follows_the_variables_of_each_request() -> None:
    checker = DocumentLimits(Limits.of(SETTINGS))
    document = parse("query($n: Int, $m: Int) { officers(first: $n) { nodes { loans(first: $m) { nodes { loanId } "
                     "} } } }")
    assert checker.check(SCHEMA, document, None, {"n": 10, "m": 10}) is None
    error = checker.check(SCHEMA, document, None, {"n": 500, "m": 500})
    assert error is not None
    assert error.extensions is not None
    assert error.extensions["cost"] == 1 + 500 + 500 * (1 + 500)
    assert checker.check(SCHEMA, document, None, {"n": 10, "m": 10}) is None


def test_validation_is_remembered_by_the_parsed_documents_identity() -> None:
    """The parser cache hands back the same AST for the same text; validation results are found
    by its identity, never by hashing the whole tree again on every request (issue 13)."""
    from loanmetrics.graph.limits import LimitedValidation

    schema = build_schema(SETTINGS)
    validation = next(ext for ext in (factory() for factory in schema.extensions)
                      if isinstance(ext, LimitedValidation))
    assert not validation._validated
    for _ in range(3):
        assert schema.execute_sync("{ __typename }").data == {"__typename": "Query"}
    assert len(validation._validated) == 1
    for _ in range(2):
        result = schema.execute_sync("{ __typename noSuchField }")
        assert result.errors is not None
        assert "Cannot query field 'noSuchField' on type 'Query'." in [error.message for error in result.errors]
    assert len(validation._validated) == 2
