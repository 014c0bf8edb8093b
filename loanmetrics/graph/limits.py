"""Document limits (SPEC §10): depth, aliases, expanded size, field overlaps and cost, computed in
time linear in the document, before graphql-core validates or executes it.

A fragment spread twice inside a fragment spread twice... doubles the work of any walk that
follows spreads: 20 such fragments are a 1 KB document and a million fields. So nothing here
follows a spread more than once. The document is measured in two passes:

1. **Shape** (linear): each definition's own fields are counted once, without following
   spreads; fragments are then combined in dependency order (a spread adds the fragment's
   already computed totals, multiplied by how often it is spread), so every fragment is measured
   once. Fragment cycles are refused here, before anything could loop on them. This gives each
   operation's depth, its aliases and the number of field selections it expands to.
2. **Expansion** (bounded by pass 1): once the expanded size is known to be at most
   ``max_selections``, the document is walked with spreads expanded to count the pairs of
   selections that land on one response path (graphql-core's OverlappingFieldsCanBeMerged rule
   compares each such pair: quadratic, 1 s for 400 copies of one field) and the cost of the
   operation to run: the objects it can return, each list or connection multiplying what it
   contains by its page size, scalars free.

Both walks use explicit stacks (a chain of 500 fragments must not exhaust Python's recursion
limit). The shape and the overlap count depend only on the document and are remembered per
parsed document (the parser cache hands back the same object for the same text); the cost also
depends on the page-size variables and is remembered per document and their values.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLEnumType,
    GraphQLError,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    NullValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    StringValueNode,
    ValueNode,
    VariableNode,
    get_named_type,
)
from graphql.type.introspection import SchemaMetaFieldDef, TypeMetaFieldDef
from strawberry.extensions import ValidationCache

from loanmetrics.settings import Settings

SATURATED = 1 << 62
"""Counts stop growing here: a 40-fragment bomb is refused all the same, without 2**40-sized
arithmetic on every spread."""

LIST_SIZES = {"schedule": 25, "repayments": 20, "actions": 20, "riskPenalties": 9, "buckets": 6, "branches": 50,
              "regions": 10, "teamMembers": 20, "officers": 200}
"""Objects assumed for a list field without a page size: SPEC §12's book shape (about 25
installments and 20 repayments per loan), the nine risk penalties and six DPD buckets, and
generous counts of branches, regions, team members and filter options."""
DEFAULT_LIST_SIZE = 50
CONNECTION_LISTS = frozenset({"nodes", "edges"})
HISTORY_DAYS = 366
"""``Officer.history`` returns one row per day of its range, at most 366 (the resolver's limit)."""
INTROSPECTION_ROOTS = frozenset({"__schema", "__type"})
COST_ARGUMENTS = frozenset({"first", "startDate", "endDate"})
MEMO_DOCUMENTS = 256
MEMO_COSTS_PER_DOCUMENT = 16


class LimitExceeded(Exception):
    """The document breaks a limit; ``error`` is the GraphQL error the client gets."""

    def __init__(self, error: GraphQLError) -> None:
        super().__init__(error.message)
        self.error = error


def _too_complex(message: str, measure: str, value: int, limit: int) -> LimitExceeded:
    return LimitExceeded(GraphQLError(
        message, extensions={"code": "QUERY_TOO_COMPLEX", "measure": measure, "value": value, "limit": limit}))


@dataclass(frozen=True)
class Limits:
    """This deployment's limits (``LOANMETRICS_MAX_*`` settings)."""

    max_depth: int
    max_aliases: int
    max_selections: int
    max_overlaps: int
    max_cost: int
    max_page_size: int

    @classmethod
    def of(cls, settings: Settings) -> Limits:
        return cls(max_depth=settings.max_query_depth, max_aliases=settings.max_aliases,
                   max_selections=settings.max_selections, max_overlaps=settings.max_field_overlaps,
                   max_cost=settings.max_query_cost, max_page_size=settings.max_page_size)


# --- pass 1: shape ---------------------------------------------------------------------------


@dataclass
class _Local:
    """What a definition holds itself, spreads not followed."""

    fields: int = 0
    aliases: int = 0
    depth: int = 0
    spreads: list[tuple[str, int | None]] = field(default_factory=list)  # (fragment, level; None: introspection)


@dataclass(frozen=True)
class _Totals:
    """A definition with its spreads expanded: selections, aliases and the deepest level."""

    selections: int
    aliases: int
    depth: int


def _local(selection_set: SelectionSetNode, introspection: bool = False) -> _Local:
    """One walk of a definition's own selections (levels: its top-level fields are at 0).
    Introspection (``__schema``, ``__type`` and fragments on ``__*`` types) counts everywhere but
    in the depth, as with Strawberry's depth limiter: the standard introspection query is 14
    levels deep, and the cost (with the schema's real list sizes) bounds it instead."""
    local = _Local()
    stack: list[tuple[SelectionSetNode, int, bool]] = [(selection_set, 0, introspection)]
    while stack:
        selections, level, inside = stack.pop()
        for node in selections.selections:
            if isinstance(node, FieldNode):
                local.fields += 1
                if node.alias is not None:
                    local.aliases += 1
                meta = inside or node.name.value in INTROSPECTION_ROOTS
                if not meta:
                    local.depth = max(local.depth, level)
                if node.selection_set is not None:
                    stack.append((node.selection_set, level + 1, meta))
            elif isinstance(node, InlineFragmentNode):
                stack.append((node.selection_set, level, inside))
            elif isinstance(node, FragmentSpreadNode):
                local.spreads.append((node.name.value, None if inside else level))
    return local


def _on_introspection_type(fragment: FragmentDefinitionNode) -> bool:
    return fragment.type_condition.name.value.startswith("__")


def _dependency_order(locals_: Mapping[str, _Local]) -> list[str]:
    """Fragment names, each after every fragment it spreads (iterative depth-first search);
    a cycle is refused: graphql-core's validation would refuse it too, and no walk may follow it."""
    order: list[str] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for root in locals_:
        if state.get(root):
            continue
        state[root] = 1
        stack: list[tuple[str, Iterator[tuple[str, int | None]]]] = [(root, iter(locals_[root].spreads))]
        while stack:
            name, spreads = stack[-1]
            for spread, _ in spreads:
                if spread not in locals_:
                    continue  # unknown fragment: validation names it
                seen = state.get(spread)
                if seen == 1:
                    raise LimitExceeded(GraphQLError(
                        f"Cannot spread fragment '{spread}' within itself.",
                        extensions={"code": "GRAPHQL_VALIDATION_FAILED"}))
                if seen is None:
                    state[spread] = 1
                    stack.append((spread, iter(locals_[spread].spreads)))
                    break
            else:
                stack.pop()
                state[name] = 2
                order.append(name)
    return order


def _totals(local: _Local, known: Mapping[str, _Totals]) -> _Totals:
    selections, aliases, depth = local.fields, local.aliases, local.depth
    for name, level in local.spreads:
        fragment = known.get(name)
        if fragment is not None:
            selections = min(SATURATED, selections + fragment.selections)
            aliases = min(SATURATED, aliases + fragment.aliases)
            if level is not None:
                depth = max(depth, level + fragment.depth)
    return _Totals(selections, aliases, depth)


# --- pass 2: expansion (bounded by pass 1) -----------------------------------------------------

_Trie = dict[str, list[Any]]  # response key -> [selections on this path, child trie]


def _overlaps(selection_set: SelectionSetNode, fragments: Mapping[str, FragmentDefinitionNode]) -> int:
    """Pairs of expanded selections sharing a response path (what field merging compares)."""
    root: _Trie = {}
    stack: list[tuple[SelectionSetNode, _Trie]] = [(selection_set, root)]
    while stack:
        selections, trie = stack.pop()
        for node in selections.selections:
            if isinstance(node, FieldNode):
                key = node.alias.value if node.alias is not None else node.name.value
                entry = trie.get(key)
                if entry is None:
                    entry = trie[key] = [0, {}]
                entry[0] += 1
                if node.selection_set is not None:
                    stack.append((node.selection_set, entry[1]))
            elif isinstance(node, InlineFragmentNode):
                stack.append((node.selection_set, trie))
            elif isinstance(node, FragmentSpreadNode) and node.name.value in fragments:
                stack.append((fragments[node.name.value].selection_set, trie))
    pairs = 0
    tries = [root]
    while tries:
        for count, child in tries.pop().values():
            pairs += count * (count - 1) // 2
            if child:
                tries.append(child)
    return pairs


@dataclass(frozen=True)
class _Verdict:
    """The variable-independent part of a document's check, remembered per document."""

    error: LimitExceeded | None
    page_variables: frozenset[str]  # variables whose values change the cost


def _page_variables(document: DocumentNode) -> frozenset[str]:
    names: set[str] = set()
    stack = [d.selection_set for d in document.definitions
             if isinstance(d, OperationDefinitionNode | FragmentDefinitionNode)]
    while stack:
        for node in stack.pop().selections:
            if isinstance(node, FieldNode):
                for argument in node.arguments or ():
                    if argument.name.value in COST_ARGUMENTS and isinstance(argument.value, VariableNode):
                        names.add(argument.value.name.value)
                if node.selection_set is not None:
                    stack.append(node.selection_set)
            elif isinstance(node, InlineFragmentNode):
                stack.append(node.selection_set)
    return frozenset(names)


class DocumentLimits:
    """Checks documents against ``limits``; the verdicts are remembered per parsed document."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self._memo: OrderedDict[int, tuple[DocumentNode, _Verdict, OrderedDict[Any, int | LimitExceeded]]] = (
            OrderedDict())

    def check(self, schema: GraphQLSchema, document: DocumentNode, operation_name: str | None,
              variables: Mapping[str, Any] | None) -> GraphQLError | None:
        """The error refusing this request, or None."""
        entry = self._memo.get(id(document))
        if entry is None or entry[0] is not document:
            entry = (document, self._verdict(document), OrderedDict())
            self._memo[id(document)] = entry
            if len(self._memo) > MEMO_DOCUMENTS:
                self._memo.popitem(last=False)
        else:
            self._memo.move_to_end(id(document))
        _, verdict, costs = entry
        if verdict.error is not None:
            return verdict.error.error
        operation = _chosen(document, operation_name)
        if operation is None:
            return None  # Strawberry reports a missing operation before validation runs
        values = variables or {}
        key = (id(operation), tuple(sorted((name, repr(values.get(name))) for name in verdict.page_variables
                                           if name in values)))
        outcome = costs.get(key)
        if outcome is None:
            try:
                outcome = _Cost(schema, document, values, self.limits.max_page_size).of(operation)
            except LimitExceeded as exc:
                outcome = exc
            costs[key] = outcome
            if len(costs) > MEMO_COSTS_PER_DOCUMENT:
                costs.popitem(last=False)
        if isinstance(outcome, LimitExceeded):
            return outcome.error
        if outcome > self.limits.max_cost:
            return GraphQLError(
                f"query cost {outcome} exceeds the limit of {self.limits.max_cost}: request smaller pages",
                extensions={"code": "QUERY_TOO_COSTLY", "cost": outcome, "limit": self.limits.max_cost},
            )
        return None

    def _verdict(self, document: DocumentNode) -> _Verdict:
        try:
            self._check_shape(document)
        except LimitExceeded as exc:
            return _Verdict(exc, frozenset())
        return _Verdict(None, _page_variables(document))

    def _check_shape(self, document: DocumentNode) -> None:
        limits = self.limits
        fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
        operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
        fragment_locals = {name: _local(d.selection_set, _on_introspection_type(d)) for name, d in fragments.items()}
        known: dict[str, _Totals] = {}
        for name in _dependency_order(fragment_locals):
            known[name] = _totals(fragment_locals[name], known)
        operation_locals = [_local(op.selection_set) for op in operations]
        roots: list[tuple[str, SelectionSetNode, _Totals]] = [
            (f"operation '{op.name.value}'" if op.name else "the operation", op.selection_set, _totals(local, known))
            for op, local in zip(operations, operation_locals, strict=True)
        ]
        spread = {name for local in (*fragment_locals.values(), *operation_locals) for name, _ in local.spreads}
        roots += [(f"fragment '{name}'", fragments[name].selection_set, known[name])
                  for name in fragments if name not in spread]
        for what, _, totals in roots:
            if totals.depth > limits.max_depth:
                raise _too_complex(f"{what} is nested {totals.depth} levels deep: the query depth limit is "
                                   f"{limits.max_depth}", "depth", totals.depth, limits.max_depth)
            if totals.aliases > limits.max_aliases:
                raise _too_complex(f"{what} uses {totals.aliases} aliases once its fragments are expanded; at "
                                   f"most {limits.max_aliases} are allowed", "aliases", totals.aliases,
                                   limits.max_aliases)
        selections = min(SATURATED, sum(totals.selections for _, _, totals in roots))
        if selections > limits.max_selections:
            raise _too_complex(f"the document selects {selections} fields once its fragments are expanded; the "
                               f"limit is {limits.max_selections}", "selections", selections, limits.max_selections)
        overlaps = sum(_overlaps(selection_set, fragments) for _, selection_set, _ in roots)
        if overlaps > limits.max_overlaps:
            raise _too_complex(f"the document selects the same fields {overlaps} times over (pairs of selections "
                               f"with one response name); the limit is {limits.max_overlaps}", "overlaps",
                               overlaps, limits.max_overlaps)


def _chosen(document: DocumentNode, operation_name: str | None) -> OperationDefinitionNode | None:
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode) and (
            operation_name is None or (definition.name is not None and definition.name.value == operation_name)
        ):
            return definition
    return None


class _Cost:
    """The objects an operation can return (pass 2: its expansion is bounded by pass 1)."""

    def __init__(self, schema: GraphQLSchema, document: DocumentNode, variables: Mapping[str, Any],
                 max_page_size: int) -> None:
        self.schema = schema
        self.introspection = introspection_sizes(schema)
        self.fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
        self.variables = variables
        self.max_page_size = max_page_size
        self.defaults: dict[str, ValueNode] = {}

    def of(self, operation: OperationDefinitionNode) -> int:
        self.defaults = {d.variable.name.value: d.default_value for d in operation.variable_definitions or ()
                         if d.default_value is not None}
        root = self.schema.get_root_type(operation.operation)
        if root is None:
            return 0
        total = 0
        # (selections, their type, objects of that type, page size of the enclosing connection)
        stack: list[tuple[SelectionSetNode, GraphQLObjectType, int, int]] = [(operation.selection_set, root, 1, 1)]
        while stack:
            selections, parent, count, page = stack.pop()
            for node in selections.selections:
                if isinstance(node, InlineFragmentNode):
                    stack.append((node.selection_set, parent, count, page))
                elif isinstance(node, FragmentSpreadNode):
                    fragment = self.fragments.get(node.name.value)
                    if fragment is not None:
                        stack.append((fragment.selection_set, parent, count, page))
                elif isinstance(node, FieldNode) and node.name.value != "__typename":
                    child = self._field(node, parent, count, page)
                    if child is not None:
                        objects, object_type, child_page = child
                        total = min(SATURATED, total + objects)
                        if node.selection_set is not None:
                            stack.append((node.selection_set, object_type, objects, child_page))
        return total

    def _field(self, node: FieldNode, parent: GraphQLObjectType, count: int, page: int
               ) -> tuple[int, GraphQLObjectType, int] | None:
        """(objects this field returns in all, their type, page size for its connection lists),
        or None for scalars and unknown fields (validation names those)."""
        name = node.name.value
        definition = parent.fields.get(name) if name not in INTROSPECTION_ROOTS else META_FIELDS[name]
        if definition is None:
            return None
        field_type: Any = definition.type
        if isinstance(field_type, GraphQLNonNull):
            field_type = field_type.of_type
        many = isinstance(field_type, GraphQLList)
        item = get_named_type(field_type)
        own_page = self._page_size(node, definition.args["first"].default_value) if "first" in definition.args \
            else None
        if not isinstance(item, GraphQLObjectType):
            return None
        size = 1
        if many:
            if own_page is not None:
                size = own_page
            elif parent.name.startswith("__"):
                size = self.introspection.get(name, DEFAULT_LIST_SIZE)
            elif name in CONNECTION_LISTS:
                size = page
            elif name == "history":
                size = self._days(node)
            else:
                size = LIST_SIZES.get(name, DEFAULT_LIST_SIZE)
        return min(SATURATED, count * size), item, own_page if own_page is not None else 1

    def _argument(self, node: FieldNode, name: str) -> Any:
        """The argument's value (a literal, a variable's value or its default), or None."""
        for argument in node.arguments or ():
            if argument.name.value == name:
                value: ValueNode | None = argument.value
                if isinstance(value, VariableNode):
                    variable = value.name.value
                    if variable in self.variables:
                        return self.variables[variable]
                    value = self.defaults.get(variable)
                if isinstance(value, IntValueNode):
                    return int(value.value)
                if isinstance(value, StringValueNode):
                    return value.value
                if value is None or isinstance(value, NullValueNode):
                    return None
                return _UNREADABLE
        return None

    def _page_size(self, node: FieldNode, default: Any) -> int:
        """``first`` as requested (its default when absent or null); out of range is refused
        before any resolver runs (SPEC §10: an error, never clamped)."""
        size = self._argument(node, "first")
        if size is None:
            size = default if isinstance(default, int) else 1
        if size is _UNREADABLE:
            return 1  # a literal of the wrong type: validation reports it
        if not isinstance(size, int) or isinstance(size, bool) or size < 0 or size > self.max_page_size:
            raise LimitExceeded(GraphQLError(
                f"first must be between 0 and {self.max_page_size}",
                extensions={"code": "BAD_REQUEST", "argument": "first", "limit": self.max_page_size},
            ))
        return size

    def _days(self, node: FieldNode) -> int:
        start, end = self._argument(node, "startDate"), self._argument(node, "endDate")
        try:
            days = (date.fromisoformat(end) - date.fromisoformat(start)).days + 1
        except (TypeError, ValueError):
            return HISTORY_DAYS
        return min(max(days, 1), HISTORY_DAYS)


_UNREADABLE = object()
META_FIELDS = {"__schema": SchemaMetaFieldDef, "__type": TypeMetaFieldDef}


@lru_cache(maxsize=8)
def introspection_sizes(schema: GraphQLSchema) -> dict[str, int]:
    """Lists of the introspection types, sized from the schema itself (averages, rounded up):
    the standard introspection query costs a few thousand objects, while nesting
    ``types { fields { type { fields ...`` multiplies like any other list."""
    types = list(schema.type_map.values())
    with_fields = [t for t in types if isinstance(t, GraphQLObjectType | GraphQLInterfaceType)]
    fields = sum(len(t.fields) for t in with_fields)
    arguments = sum(len(f.args) for t in with_fields for f in t.fields.values())
    inputs = sum(len(t.fields) for t in types if isinstance(t, GraphQLInputObjectType))
    values = sum(len(t.values) for t in types if isinstance(t, GraphQLEnumType))

    def per(total: int, count: int) -> int:
        return max(1, -(-total // max(count, 1)))

    return {"types": len(types), "fields": per(fields, len(types)), "args": per(arguments, fields),
            "inputFields": per(inputs, len(types)), "enumValues": per(values, len(types)), "interfaces": 1,
            "possibleTypes": 1, "directives": len(schema.directives)}


class LimitedValidation(ValidationCache):
    """Strawberry's validation cache, behind the document limits: a refused document never
    reaches graphql-core's validation rules (some are quadratic) nor its executor. A synchronous
    hook on validation, not a per-field one (ENGINEERING.md).

    Validation results are remembered by the parsed document's identity (the parser cache hands
    back the same AST for the same text): Strawberry's ``lru_cache`` keys on the document
    itself, and hashing an AST walks every node of it on every request (0.1-0.3 ms for the
    officer list, issue 13). Per-request copies share the memo (``copy.copy``)."""

    def __init__(self, limits: DocumentLimits, maxsize: int) -> None:
        super().__init__(maxsize=maxsize)
        self.limits = limits
        self.maxsize = maxsize
        self._validated: OrderedDict[int, tuple[DocumentNode, GraphQLSchema, tuple[Any, ...], list[GraphQLError]]] = (
            OrderedDict())

    def _validate(self, schema: GraphQLSchema, document: DocumentNode, rules: Any) -> list[GraphQLError]:
        rules = tuple(rules)
        entry = self._validated.get(id(document))
        if entry is not None and entry[0] is document and entry[1] is schema and entry[2] == rules:
            self._validated.move_to_end(id(document))
            return entry[3]
        errors: list[GraphQLError] = self.cached_validate_document(schema, document, rules)
        self._validated[id(document)] = (document, schema, rules, errors)  # the document stays alive
        if len(self._validated) > self.maxsize:
            self._validated.popitem(last=False)
        return errors

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        if document is not None:
            error = self.limits.check(context.schema._schema, document, context.operation_name, context.variables)
            if error is not None:
                context.pre_execution_errors = [error]
                yield
                return
            context.pre_execution_errors = self._validate(context.schema._schema, document,
                                                          context.validation_rules)
            yield
            return
        yield from super().on_validate()
