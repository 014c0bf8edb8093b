"""What a field's selection asks for, read off the parsed document (memoised per document).

Resolvers whose statement can skip work no field asks for (a loan page's maintained state) ask
here. The answer is conservative: a name anywhere under the field, through fragments and nested
objects, counts as selected."""

from __future__ import annotations

from typing import Any

from graphql import FieldNode, FragmentSpreadNode, InlineFragmentNode, SelectionSetNode

LOAN_STATE_FIELDS = frozenset({"lastPaymentDate", "nextPaymentDue"})
"""The Loan fields read from ``loan_state`` (resolvers/loans.py ``loan_columns``)."""

_ENTRIES = 256


def selects_any(info: Any, names: frozenset[str]) -> bool:
    """Whether any of ``names`` is selected under this field (Strawberry's ``Info``)."""
    raw = info._raw_info  # graphql-core's view: the AST nodes the parser cache hands back
    nodes = raw.field_nodes
    cache: dict[tuple[Any, ...], tuple[list[Any], bool]] = info.schema.__dict__.setdefault("selects_any", {})
    key = (names, *(id(node) for node in nodes))
    found = cache.get(key)
    if found is not None and len(found[0]) == len(nodes) and all(a is b for a, b in zip(found[0], nodes, strict=True)):
        return found[1]
    answer = any(_mentions(node.selection_set, names, raw.fragments, set()) for node in nodes)
    if len(cache) >= _ENTRIES:
        cache.pop(next(iter(cache)))
    cache[key] = (list(nodes), answer)  # the nodes stay alive, so their ids stay theirs
    return answer


def _mentions(selection_set: SelectionSetNode | None, names: frozenset[str], fragments: dict[str, Any],
              seen: set[str]) -> bool:
    if selection_set is None:
        return False
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            if selection.name.value in names or _mentions(selection.selection_set, names, fragments, seen):
                return True
        elif isinstance(selection, InlineFragmentNode):
            if _mentions(selection.selection_set, names, fragments, seen):
                return True
        elif isinstance(selection, FragmentSpreadNode) and selection.name.value not in seen:
            seen.add(selection.name.value)
            fragment = fragments.get(selection.name.value)
            if fragment is None or _mentions(fragment.selection_set, names, fragments, seen):
                return True
    return False
