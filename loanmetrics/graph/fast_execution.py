"""A graphql-core executor that completes plain-data subtrees without per-field resolution.

ENGINEERING.md measured about 3-4 µs for every resolved field, which dominates wide lists
(50 officers x 25 metric fields). Our metric, ratio, portfolio and audit objects are plain data:
every selected field uses Strawberry's default resolver (an attribute read) and returns a
scalar, an enum, or another such object. For those subtrees this executor compiles the
selection into a plan (generated Python, shared by later requests with the same document) that
builds the result dicts directly, serialising leaves with the schema's own scalar and enum
serialisers. tests/test_fast_execution.py holds it to graphql-core's own answers. A field with a resolver joins the plan
when it is declared with ``metadata={PREFETCHED: "attribute"}`` and selected without arguments:
the plan reads that attribute, and ``NOT_PREFETCHED`` there means "run the resolver". Anything
else (a real resolver or arguments, ``__typename`` on abstract types, a null in a non-null
position) falls back to graphql-core's normal path, which also produces its error.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from math import isfinite
from typing import Any

from graphql import (
    GraphQLEnumType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLScalarType,
    Node,
    OperationDefinitionNode,
)
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

Builder = Callable[[Any], Any]
BASIC_RESOLVER = "_get_basic_result"
DEFINITION = "strawberry-definition"
PREBUILT = "prebuilt_json"
"""Attribute of an object type's values that may hold the node's answer as an ``orjson.Fragment``
(the resolver compiled this very selection to SQL: resolvers/officer_json.py)."""
PREFETCHED = "loanmetrics.prefetched"
"""Field metadata key: the attribute holding the resolver's answer when it is already known."""


class Prebuilt:
    """A node whose resolver built its whole answer for this very selection (``PREBUILT``): the
    compiled plan splices it and reads nothing else, so the node carries nothing else."""

    __slots__ = (PREBUILT,)

    def __init__(self, prebuilt_json: Any) -> None:
        self.prebuilt_json = prebuilt_json


class _NotPrefetched:
    def __repr__(self) -> str:
        return "NOT_PREFETCHED"


NOT_PREFETCHED: Any = _NotPrefetched()
"""What a PREFETCHED attribute holds when only the resolver can answer."""


class _Fallback(Exception):
    """A value the plan cannot complete (a null where the schema forbids one)."""


class PlanCache:
    """Compiled plans shared by the requests of one schema, least recently used evicted first.

    A plan depends on the selection (the document's AST nodes, kept alive by the entry so their
    ids stay unique) and, when the document uses directives such as ``@skip(if: $x)``, on the
    variables; compiling costs about as much as completing a page, so plans outlive a request."""

    def __init__(self, max_entries: int = 512) -> None:
        self.max_entries = max_entries
        self._plans: OrderedDict[Hashable, tuple[Any, Builder | None]] = OrderedDict()
        self._directives: dict[int, tuple[Any, bool]] = {}

    def get(self, key: Hashable) -> tuple[Any, Builder | None] | None:
        entry = self._plans.get(key)
        if entry is not None:
            self._plans.move_to_end(key)
        return entry

    def put(self, key: Hashable, keep_alive: Any, build: Builder | None) -> None:
        self._plans[key] = (keep_alive, build)
        if len(self._plans) > self.max_entries:
            self._plans.popitem(last=False)

    def uses_directives(self, operation: OperationDefinitionNode, fragments: dict[str, Any]) -> bool:
        """Whether the operation (or a fragment) carries any directive: then selections vary
        with the variables."""
        key = id(operation)
        known = self._directives.get(key)
        if known is not None and known[0] is operation:
            return known[1]
        found = _has_directives(operation) or any(_has_directives(f) for f in fragments.values())
        if len(self._directives) >= self.max_entries:
            self._directives.clear()
        self._directives[key] = (operation, found)
        return found


def _has_directives(node: Node) -> bool:
    if getattr(node, "directives", None):
        return True
    selection_set = getattr(node, "selection_set", None)
    return selection_set is not None and any(_has_directives(child) for child in selection_set.selections)


class FastExecutionContext(StrawberryGraphQLCoreExecutionContext):
    """Strawberry's executor plus compiled plans for plain-data object selections."""

    plan_cache: PlanCache | None = None

    @classmethod
    def with_plan_cache(cls, cache: PlanCache) -> type[FastExecutionContext]:
        """A subclass whose plans outlive the request (one per schema)."""
        return type("CachedPlanExecutionContext", (cls,), {"plan_cache": cache})

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._plans: dict[tuple[GraphQLObjectType, int], tuple[Any, Builder | None]] = {}
        self._plan_scope: Hashable | None = None

    def collect_and_execute_subfields(
        self, return_type: GraphQLObjectType, field_details_list: Any, path: Any, result: Any,
        position_context: Any,
    ) -> Any:
        build = self._plan(return_type, field_details_list)
        if build is not None:
            try:
                return build(result)
            except _Fallback:
                pass
        return super().collect_and_execute_subfields(return_type, field_details_list, path, result,
                                                     position_context)

    def _plan(self, return_type: GraphQLObjectType, field_details_list: Any) -> Builder | None:
        key = (return_type, id(field_details_list))
        cached = self._plans.get(key)
        if cached is not None:
            return cached[1]
        shared = self.plan_cache
        shared_key: Hashable | None = None
        if shared is not None:
            nodes = tuple(id(details.node) for details in field_details_list)
            shared_key = (return_type.name, nodes, self._shared_scope(shared))
            entry = shared.get(shared_key)
            if entry is not None:
                self._plans[key] = (field_details_list, entry[1])
                return entry[1]
        build = self._compile(return_type, field_details_list, depth=0)
        self._plans[key] = (field_details_list, build)  # keep the list alive: its id is the key
        if shared is not None and shared_key is not None:
            shared.put(shared_key, (self.operation, field_details_list), build)
        return build

    def _shared_scope(self, shared: PlanCache) -> Hashable:
        """What besides the AST nodes a plan depends on: the variables, if directives use them."""
        if self._plan_scope is None:
            scope: Hashable = id(self.operation)
            variables = self.variable_values.coerced
            if variables and shared.uses_directives(self.operation, self.fragments):
                scope = (scope, repr(sorted(variables.items())))
            self._plan_scope = scope
        return self._plan_scope

    def _compile(self, object_type: GraphQLObjectType, field_details_list: Any, depth: int) -> Builder | None:
        writer = _PlanWriter(self)
        name = writer.object(object_type, field_details_list, depth)
        return writer.finish(name) if name is not None else None


class _PlanWriter:
    """Writes one plan as Python source: a function per object selection that reads each
    attribute once and builds the result dict in one literal, with the common leaf cases
    (a str for String/ID, an int in range for Int, a finite float for Float, a bool) inlined
    and everything else (nulls, enums, custom scalars) through helper calls."""

    def __init__(self, context: FastExecutionContext) -> None:
        self.context = context
        self.namespace: dict[str, Any] = {"_Fallback": _Fallback, "NOT_PREFETCHED": NOT_PREFETCHED,
                                          "isfinite": isfinite}
        self.functions: list[str] = []

    def finish(self, name: str) -> Builder:
        exec("\n\n".join(self.functions), self.namespace)  # aliases are GraphQL Names, written with repr()
        build: Builder = self.namespace[name]
        return build

    def _name(self, prefix: str, value: Any = None) -> str:
        name = f"{prefix}{len(self.namespace)}"
        self.namespace[name] = value
        return name

    def object(self, object_type: GraphQLObjectType, field_details_list: Any, depth: int) -> str | None:
        """The name of a function completing ``object_type`` for this selection, or None."""
        if depth > 16 or object_type.is_type_of is not None:
            return None
        grouped, new_defer_usages, _ = self.context.collect_subfields(object_type, field_details_list)
        if new_defer_usages:
            return None
        lines: list[str] = []
        entries: list[str] = []
        for index, (response_key, details) in enumerate(grouped.items()):
            node = details[0].node
            if node.name.value == "__typename":
                entries.append(f"{response_key!r}: {object_type.name!r}")
                continue
            field = object_type.fields.get(node.name.value)
            if field is None or node.arguments:
                return None
            definition = field.extensions.get(DEFINITION)
            if getattr(field.resolve, "__name__", "") == BASIC_RESOLVER:
                attribute = getattr(definition, "python_name", None) or getattr(definition, "name", None)
                prefetched = False
            else:
                attribute = (getattr(definition, "metadata", None) or {}).get(PREFETCHED)
                prefetched = True
            if not attribute or not str(attribute).isidentifier():
                return None
            variable = f"x{index}"
            expression = self.value(field.type, details, variable, depth)
            if expression is None:
                return None
            lines.append(f"    {variable} = value.{attribute}")
            if prefetched:
                lines.append(f"    if {variable} is NOT_PREFETCHED:\n        raise _Fallback")
            entries.append(f"{response_key!r}: {expression}")
        if _declares_prebuilt(object_type):
            # the resolver already holds this node's whole answer as JSON built in SQL
            lines.insert(0, f"    pre = value.{PREBUILT}\n    if pre is not None:\n        return pre")
        name = self._name("build")
        body = "\n".join(lines)
        self.functions.append(f"def {name}(value):\n{body}\n    return {{{', '.join(entries)}}}")
        return name

    def value(self, type_: GraphQLOutputType, details: Any, variable: str, depth: int) -> str | None:
        """An expression completing ``variable`` as ``type_`` (raising _Fallback on a null in a
        non-null position), or None when the plan cannot handle the type."""
        nullable = not isinstance(type_, GraphQLNonNull)
        if isinstance(type_, GraphQLNonNull):
            type_ = type_.of_type
        null = self._name("null", _null_value if nullable else _null_fallback)
        if isinstance(type_, GraphQLScalarType | GraphQLEnumType):
            slow = self._name("leaf", _leaf(type_.serialize, nullable))
            fast = _INLINE_CHECKS.get(type_.name)
            if fast is None:
                return f"{slow}({variable})"
            return f"({variable} if {fast.format(v=variable)} else {slow}({variable}))"
        if isinstance(type_, GraphQLList):
            item = f"item{depth}"
            inner = self.value(type_.of_type, details, item, depth + 1)
            if inner is None:
                return None
            return f"([{inner} for {item} in {variable}] if {variable} is not None else {null}())"
        if isinstance(type_, GraphQLObjectType):
            build = self.object(type_, details, depth + 1)
            if build is None:
                return None
            return f"({build}({variable}) if {variable} is not None else {null}())"
        return None


def _declares_prebuilt(object_type: GraphQLObjectType) -> bool:
    definition = object_type.extensions.get(DEFINITION)
    origin = getattr(definition, "origin", None)
    return origin is not None and PREBUILT in getattr(origin, "__dataclass_fields__", {})


def _null_value() -> None:
    return None


def _null_fallback() -> None:
    raise _Fallback


def _leaf(serialize: Builder, nullable: bool) -> Builder:
    def complete(value: Any) -> Any:
        if value is None:
            if nullable:
                return None
            raise _Fallback
        return serialize(value)

    return complete


# Built-in scalars whose value already has the output type need no serialiser call.
_INLINE_CHECKS = {
    "String": "{v}.__class__ is str",
    "ID": "{v}.__class__ is str",
    "Boolean": "{v}.__class__ is bool",
    "Int": "{v}.__class__ is int and -2147483648 <= {v} <= 2147483647",
    "Float": "{v}.__class__ is float and isfinite({v})",
}
