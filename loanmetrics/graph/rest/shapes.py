"""Declarative GraphQL -> REST field maps: one table per REST object drives three things.

An ``Out`` names a REST key, the GraphQL path it reads (``metrics.fimr.value``) and its JSON kind.
From a table we build the GraphQL selection (so a document asks for exactly what the REST object
shows), reshape the GraphQL answer into snake_case REST objects, and write the JSON schema of the
OpenAPI document: the three cannot disagree. Selections are built once, at import, from these
constants, so every REST document is a constant with variables, never text built from user input.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from loanmetrics.calculators.registry import Band
from loanmetrics.graph.types import AuditStatus
from loanmetrics.resolvers.officer_json import RowKey


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
    return reshaper(fields)(node)


def reshape_slowly(node: Mapping[str, Any] | None, fields: Sequence[Out]) -> dict[str, Any]:
    """What ``reshape`` does, read off the table field by field (the reference its tests hold
    the compiled reshapers to)."""
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
            return [reshape_slowly(item, field.children) for item in value]
        return reshape_slowly(value, field.children)
    if field.many:
        return [convert(field.kind, item) for item in value]
    return convert(field.kind, value)


Reshaper = Callable[[Mapping[str, Any] | None], dict[str, Any]]
_RESHAPERS: dict[int, tuple[Sequence[Out], Reshaper]] = {}


def reshaper(fields: Sequence[Out]) -> Reshaper:
    """``fields`` compiled to one Python function (generated once per table, like the executor's
    plans): each GraphQL path read once per object, shared prefixes once, the REST dict built in
    one literal. Reading the table field by field cost 1.5 ms for a page of 50 officer rows,
    about as much as the GraphQL request it reshapes (issue 13)."""
    found = _RESHAPERS.get(id(fields))
    if found is not None and found[0] is fields:
        return found[1]
    writer = _ReshapeWriter()
    compiled = writer.finish(writer.function(fields))
    _RESHAPERS[id(fields)] = (fields, compiled)  # the table stays alive, so its id stays its own
    return compiled


BAND_SPELLINGS = {band.name: band.title_case for band in Band}
STATUS_SPELLINGS = {status.name: status.value for status in AuditStatus}
_SPELLINGS = {Json.BAND: BAND_SPELLINGS, Json.AUDIT_STATUS: STATUS_SPELLINGS}


def row_keys(fields: Sequence[Out]) -> tuple[RowKey, ...]:
    """A flat table as the officer list's SQL row shape (``officer_json.officer_row_sql``): each
    key, the response-key path it reads, and its enum spellings, as ``reshape`` would apply them."""
    if any(field.children or field.many or field.source is None for field in fields):
        raise ValueError("only a flat table of sourced leaves has a SQL row shape")
    return tuple((field.key, tuple(response_key(token) for token in str(field.source).split(".")),
                  _SPELLINGS.get(field.kind)) for field in fields)


class _ReshapeWriter:
    def __init__(self) -> None:
        self.namespace: dict[str, Any] = {"BANDS": BAND_SPELLINGS, "STATUSES": STATUS_SPELLINGS}
        self.functions: list[str] = []

    def finish(self, name: str) -> Reshaper:
        exec("\n\n".join(self.functions), self.namespace)  # keys and paths are written with repr()
        compiled: Reshaper = self.namespace[name]
        return compiled

    def function(self, fields: Sequence[Out]) -> str:
        name = f"reshape{len(self.functions)}"
        self.functions.append("")  # reserve the slot: children are written after, in their own
        lines: list[str] = []
        prefixes: dict[tuple[str, ...], str] = {(): "node"}
        entries: list[str] = []
        for index, field in enumerate(fields):
            path = tuple(response_key(token) for token in (field.source or "").split("."))
            for depth in range(1, len(path) + 1):
                prefix = path[:depth]
                if prefix in prefixes:
                    continue
                parent, variable = prefixes[path[:depth - 1]], f"p{len(prefixes)}"
                read = f"{parent}[{prefix[-1]!r}]"
                lines.append(f"    {variable} = {read}" if parent == "node" else
                             f"    {variable} = None if {parent} is None else {read}")
                prefixes[prefix] = variable
            value = prefixes[path]
            expression = self.expression(field, value)
            if expression == value:  # a leaf passed as it is
                entries.append(f"{field.key!r}: {value}")
                continue
            lines.append(f"    v{index} = None if {value} is None else {expression}")
            entries.append(f"{field.key!r}: v{index}")
        nulls = ", ".join(f"{field.key!r}: None" for field in fields)
        body = "\n".join(lines)
        self.functions[self.functions.index("")] = (
            f"def {name}(node):\n    if node is None:\n        return {{{nulls}}}\n{body}\n"
            f"    return {{{', '.join(entries)}}}"
        )
        return name

    def expression(self, field: Out, value: str) -> str:
        if field.children:
            child = self.function(field.children)
            return f"[{child}(item) for item in {value}]" if field.many else f"{child}({value})"
        if field.many:
            item = self.leaf(field.kind, "item")
            return f"[{item if item == 'item' else f'None if item is None else {item}'} for item in {value}]"
        return self.leaf(field.kind, value)

    @staticmethod
    def leaf(kind: Json, value: str) -> str:
        """``convert`` inlined, for a value known not to be None (an unknown name: KeyError, as there)."""
        if kind == Json.BAND:
            return f"BANDS[{value}]"
        if kind == Json.AUDIT_STATUS:
            return f"STATUSES[{value}]"
        return value


def convert(kind: Json, value: Any) -> Any:
    """GraphQL enum names to the REST (and daily-table) spellings; everything else as is."""
    if value is None:
        return None
    spellings = _SPELLINGS.get(kind)
    return value if spellings is None else spellings[value]


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
