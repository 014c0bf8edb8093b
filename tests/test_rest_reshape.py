"""The REST shim's compiled reshapers (graph/rest/shapes.py) answer what reading each table field
by field answers: every route's table, with nulls at every level of every path."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from loanmetrics.graph.rest.audit import TEAM_MEMBER
from loanmetrics.graph.rest.fields import (
    AUDIT_ACTION,
    AUDIT_RESULT,
    BRANCH_ROW,
    EARLY_LOAN_ROW,
    LOAN_ROW,
    OFFICER_ROW,
)
from loanmetrics.graph.rest.filters import OPTIONS
from loanmetrics.graph.rest.officers import DETAIL
from loanmetrics.graph.rest.shapes import Json, Out, reshape, reshape_slowly, reshaper, response_key

LEAVES: dict[Json, Any] = {
    Json.STRING: "text", Json.INTEGER: 7, Json.NUMBER: 0.125, Json.BOOLEAN: True, Json.DATE: "2026-09-18",
    Json.DATETIME: "2026-09-18T08:30:00+00:00", Json.BAND: "AMBER", Json.AUDIT_STATUS: "IN_PROGRESS",
}
TABLES = {"officer row": OFFICER_ROW, "officer detail": DETAIL, "branch row": BRANCH_ROW, "loan row": LOAN_ROW,
          "early loan row": EARLY_LOAN_ROW, "audit result": AUDIT_RESULT, "audit action": AUDIT_ACTION,
          "team member": TEAM_MEMBER, "filter options": OPTIONS}


def _answer(fields: Sequence[Out]) -> dict[str, Any]:
    """A GraphQL answer holding every path of ``fields`` (lists of two items, the second null)."""
    node: dict[str, Any] = {}
    for field in fields:
        *parents, last = [response_key(token) for token in (field.source or "").split(".")]
        holder = node
        for key in parents:
            holder = holder.setdefault(key, {})
        if field.children:
            holder[last] = [_answer(field.children), None] if field.many else _answer(field.children)
        else:
            holder[last] = [LEAVES[field.kind], None] if field.many else LEAVES[field.kind]
    return node


def _paths(node: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    if not isinstance(node, dict):
        return []
    out = []
    for key, value in node.items():
        out.append((*prefix, key))
        out += _paths(value, (*prefix, key))
    return out


def _nulled(node: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any]:
    if len(path) == 1:
        return {**node, path[0]: None}
    return {**node, path[0]: _nulled(node[path[0]], path[1:])}


@pytest.mark.parametrize("name", TABLES)
def test_compiled_reshape_equals_the_table_read_field_by_field(name: str) -> None:
    fields = TABLES[name]
    full = _answer(fields)
    variants = [full, None, *(_nulled(full, path) for path in _paths(full))]
    assert len(variants) > len(fields)
    for node in variants:
        assert reshape(node, fields) == reshape_slowly(node, fields)
    assert reshaper(fields) is reshaper(fields)  # compiled once per table


def test_officer_row_values() -> None:
    row = reshape(_answer(OFFICER_ROW), OFFICER_ROW)
    assert list(row) == [field.key for field in OFFICER_ROW]
    assert row["officer_id"] == "text"
    assert row["risk_band"] == "Amber"
    assert row["audit_status"] == "In Progress"
    assert row["fimr"] == 0.125
    assert row["active_loans"] == 7
    no_audit = reshape({**_answer(OFFICER_ROW), "audit": None}, OFFICER_ROW)
    assert (no_audit["assignee"], no_audit["audit_status"], no_audit["last_audit_date"]) == (None, None, None)


def test_unknown_enum_name_fails_like_the_table_reader() -> None:
    node = {**_answer(OFFICER_ROW), "metrics": {**_answer(OFFICER_ROW)["metrics"], "riskBand": "PURPLE"}}
    with pytest.raises(KeyError):
        reshape_slowly(node, OFFICER_ROW)
    with pytest.raises(KeyError):
        reshape(node, OFFICER_ROW)
