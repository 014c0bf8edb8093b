"""Query cost limit (SPEC §10): Strawberry has none, so we estimate before executing.

Cost is the number of objects a query can return: every field counts once per parent object,
and a field with a page size (``first``) multiplies what is below it. Requested page sizes
above the maximum are refused here too, before any resolver runs. A synchronous hook, so the
fast path of execution stays synchronous (ENGINEERING.md).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from graphql import (
    ExecutionResult,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
)
from strawberry.extensions import SchemaExtension

PAGED_DEFAULTS = {"officers": 50, "fimrDrilldown": 50, "earlyIndicatorsDrilldown": 50, "loans": 50,
                  "calculationRuns": 20}


class QueryCostLimiter(SchemaExtension):
    def __init__(self, *, max_cost: int, max_page_size: int) -> None:
        self.max_cost = max_cost
        self.max_page_size = max_page_size

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        if document is not None and not context.result:
            fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
            operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
            chosen = [op for op in operations
                      if context.operation_name is None or (op.name and op.name.value == context.operation_name)]
            try:
                cost = sum(self._cost(op.selection_set, 1, fragments, context.variables or {}, 0) for op in chosen)
            except GraphQLError as error:
                context.result = ExecutionResult(data=None, errors=[error])
            else:
                if cost > self.max_cost:
                    context.result = ExecutionResult(data=None, errors=[GraphQLError(
                        f"query cost {cost} exceeds the limit of {self.max_cost}: request smaller pages",
                        extensions={"code": "QUERY_TOO_COSTLY", "cost": cost, "limit": self.max_cost},
                    )])
        yield

    def _cost(self, selection: SelectionSetNode | None, multiplier: int, fragments: Mapping[str, Any],
              variables: Mapping[str, Any], depth: int) -> int:
        if selection is None or depth > 64:
            return 0
        total = 0
        for node in selection.selections:
            if isinstance(node, FieldNode):
                size = self._page_size(node, variables)
                total += multiplier
                total += self._cost(node.selection_set, multiplier * size, fragments, variables, depth + 1)
            elif isinstance(node, InlineFragmentNode):
                total += self._cost(node.selection_set, multiplier, fragments, variables, depth + 1)
            elif isinstance(node, FragmentSpreadNode) and node.name.value in fragments:
                total += self._cost(fragments[node.name.value].selection_set, multiplier, fragments, variables,
                                    depth + 1)
        return total

    def _page_size(self, node: FieldNode, variables: Mapping[str, Any]) -> int:
        size: Any = PAGED_DEFAULTS.get(node.name.value, 1)
        for argument in node.arguments or ():
            if argument.name.value != "first":
                continue
            if isinstance(argument.value, IntValueNode):
                size = int(argument.value.value)
            elif isinstance(argument.value, VariableNode):
                size = variables.get(argument.value.name.value, size)
        if not isinstance(size, int) or size < 0 or size > self.max_page_size:
            raise GraphQLError(
                f"first must be between 0 and {self.max_page_size}",
                extensions={"code": "BAD_REQUEST", "argument": "first", "limit": self.max_page_size},
            )
        return max(size, 1)
