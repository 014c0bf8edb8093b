"""Declarative GraphQL -> REST field maps: one table per REST object drives three things.

An ``Out`` names a REST key, the GraphQL path it reads (``metrics.fimr.value``) and its JSON kind.
From a table we build the GraphQL selection (so a document asks for exactly what the REST object
shows), reshape the GraphQL answer into snake_case REST objects, and write the JSON schema of the
OpenAPI document: the three cannot disagree. Selections are built once, at import, from these
constants, so every REST document is a constant with variables, never text built from user input.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from loanmetrics.calculators.registry import Band
from loanmetrics.graph.types import AuditStatus


class Json(StrEnum):
    """How a GraphQL leaf becomes a REST value (and how the OpenAPI document types it)."""

    STRING = "string"
    INTEGER = "integer"
    NUMBER = "number"
    BOOLEAN = "boolean"
    DATE = "date"
    DATETIME = "date-time"
    BAND = "band"  # GraphQL 'GREEN' -> REST 'Green'
    AUDIT_STATUS = "audit-status"  # GraphQL 'IN_PROGRESS' -> REST 'In Progress'


@dataclass(frozen=True)
class Out:
    """One REST key. ``source`` is a dotted GraphQL path (tokens may carry an alias and arguments,
    e.g. ``current: metrics(period: $period)``); None when the handler fills the key itself."""

    key: str
    source: str | None
    kind: Json = Json.STRING
    nullable: bool = False
    children: tuple[Out, ...] = ()
    many: bool = False
    description: str = ""


def response_key(token: str) -> str:
    """The key GraphQL answers a selection token under: its alias, else its field name."""
    head = token.split("(", 1)[0]
    return head.split(":", 1)[0].strip()


def selection(fields: Sequence[Out]) -> str:
    """The GraphQL selection set (without braces) that ``reshape`` reads ``fields`` from."""
    tree: dict[str, Any] = {}
    _grow(tree, fields)
    return _render(tree)


def _grow(tree: dict[str, Any], fields: Sequence[Out]) -> None:
    for field in fields:
        if field.source is None:
            raise ValueError(f"REST key {field.key} has no GraphQL source")
        node = tree
        for token in field.source.split("."):
            node = node.setdefault(token, {})
        if field.children:
            _grow(node, field.children)


def _render(tree: Mapping[str, Any]) -> str:
    return " ".join(token if not sub else f"{token} {{ {_render(sub)} }}" for token, sub in tree.items())


def reshape(node: Mapping[str, Any] | None, fields: Sequence[Out]) -> dict[str, Any]:
    """A GraphQL object (decoded JSON) -> the REST object of ``fields``, keys in table order."""
    return {field.key: _value(node, field) for field in fields}


def _value(node: Mapping[str, Any] | None, field: Out) -> Any:
    value: Any = node
    for token in (field.source or "").split("."):
        if value is None:
            return None
        value = value[response_key(token)]
    if value is None:
        return None
    if field.children:
        if field.many:
            return [reshape(item, field.children) for item in value]
        return reshape(value, field.children)
    if field.many:
        return [convert(field.kind, item) for item in value]
    return convert(field.kind, value)


def convert(kind: Json, value: Any) -> Any:
    """GraphQL enum names to the REST (and daily-table) spellings; everything else as is."""
    if value is None:
        return None
    if kind == Json.BAND:
        return Band[value].title_case
    if kind == Json.AUDIT_STATUS:
        return AuditStatus[value].value
    return value


_LEAF: dict[Json, dict[str, Any]] = {
    Json.STRING: {"type": "string"},
    Json.INTEGER: {"type": "integer"},
    Json.NUMBER: {"type": "number"},
    Json.BOOLEAN: {"type": "boolean"},
    Json.DATE: {"type": "string", "format": "date"},
    Json.DATETIME: {"type": "string", "format": "date-time"},
    Json.BAND: {"type": "string", "enum": [band.title_case for band in Band]},
    Json.AUDIT_STATUS: {"type": "string", "enum": [status.value for status in AuditStatus]},
}


def object_schema(fields: Sequence[Out]) -> dict[str, Any]:
    """A closed JSON schema object: every key present (maybe null), no others."""
    return {
        "type": "object",
        "properties": {field.key: schema(field) for field in fields},
        "required": [field.key for field in fields],
        "additionalProperties": False,
    }


def schema(field: Out) -> dict[str, Any]:
    """The JSON schema (OpenAPI 3.1 dialect) of one REST key."""
    item = object_schema(field.children) if field.children else dict(_LEAF[field.kind])
    if field.many:
        item = {"type": "array", "items": item}
    if field.nullable:
        item["type"] = [item["type"], "null"]
        if "enum" in item:
            item["enum"] = [*item["enum"], None]
    if field.description:
        item["description"] = field.description
    return item
