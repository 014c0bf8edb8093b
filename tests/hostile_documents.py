"""Hostile and heavy GraphQL documents shared by the limit tests and the HTTP hostile-input tests."""

from __future__ import annotations

from graphql import GraphQLObjectType, get_named_type

from loanmetrics.graph.schema import build_schema
from tests.conftest import make_settings

SCHEMA = build_schema(make_settings(None))._schema


def every_field(type_name: str) -> str:
    """The selection of every field of a type, objects recursively (fields without arguments)."""
    object_type = SCHEMA.get_type(type_name)
    assert isinstance(object_type, GraphQLObjectType)
    parts = []
    for name, field in object_type.fields.items():
        if field.args:
            continue
        named = get_named_type(field.type)
        parts.append(f"{name} {{ {every_field(named.name)} }}" if isinstance(named, GraphQLObjectType) else name)
    return " ".join(parts)


EVERY_METRIC = every_field("OfficerMetrics")
TWO_WINDOWS = (
    "{ officers(first: 500) { totalCount nodes { officerId officerName officerPhone region branch "
    f"employmentStatus primaryChannel metrics {{ {EVERY_METRIC} }} "
    f'custom: metrics(period: {{startDate: "2026-08-01", endDate: "2026-08-31"}}) {{ {EVERY_METRIC} }} }} }} }}'
)
"""A full page of 500 officers with every metric field in the default window and a custom one."""


def bomb(n: int, leaf: str = "__typename") -> str:
    """The issue's 1 KB document: fragment i spreads fragment i-1 twice (2**n leaves)."""
    fragments = [f"fragment F0 on Query {{ {leaf} }}"]
    fragments += [f"fragment F{i} on Query {{ ...F{i - 1} ...F{i - 1} }}" for i in range(1, n + 1)]
    return f"{{ ...F{n} }} " + " ".join(fragments)
