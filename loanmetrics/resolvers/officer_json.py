"""The officer list's and the branches' nodes as JSON built by PostgreSQL, for plain-data
selections.

A dashboard page of 50 officers selects a few dozen plain fields per officer (identity, the
metrics of the default window, the audit record): ENGINEERING.md measured about 3 µs of Python
per resolved field, which even the compiled plans of ``graph/fast_execution.py`` only halve.
When every field under the connection's Officer selection is one this module knows (no
arguments, fragments or directives, no ``actions``, ``loans`` or ``history``), the list
statement returns each node as a JSON text built with ``json_build_object`` in selection order,
and the executor splices it into the response (``orjson.Fragment``) instead of completing the
node. Every value is the one the Python path produces: the same IEEE divisions on the same
integers for ratio values, the correctly rounded double of each exact amount, the same
timestamp text. ``tests/test_officer_json.py`` holds the two paths to equal answers.

The ``branches`` list of the default window does the same from ``branch_metrics_daily``: its
statement otherwise decoded every registry column of every branch row, selected or not. The
drilldowns' loan nodes (``resolvers/loan_json.py``) reuse ``node_selection``, ``json_object`` and
``audit_object`` over their page row.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

from graphql import FieldNode, SelectionSetNode
from strawberry.utils.str_converters import to_camel_case

from loanmetrics.calculators import registry
from loanmetrics.calculators.bands import BandThresholds
from loanmetrics.resolvers.metric_rows import BANDED, BUCKET_LABELS, PENALTIES, band_expressions, penalty_inputs_sql

MAX_KEYS = 50  # json_build_object takes at most 100 arguments


@dataclass(frozen=True)
class Aliases:
    """The SQL names the node expression reads: officer ``o``, daily row ``m``, audit ``a`` (its
    version column ``audit_version``), rank ``rank``, and the current band thresholds."""

    bands: BandThresholds
    officer: str = "o"
    daily: str = "m"
    audit: str = "a"
    rank: str = "risk_rank"
    audit_version: str = "version"
    flat: list[tuple[tuple[str, ...], str]] | None = dataclasses.field(default=None, compare=False)
    """When set, every leaf's (response-key path, SQL) is also recorded here (``officer_row_sql``)."""
    path: tuple[str, ...] = ()


Compiler = Callable[[Aliases, SelectionSetNode | None], str | None]
"""An object field's JSON expression over the aliases, or None when its selection is not plain."""


def _fields(selection_set: SelectionSetNode | None) -> list[tuple[str, FieldNode]] | None:
    """(response key, field) in order; None for anything but plain, distinct, directive-free fields."""
    if selection_set is None:
        return None
    out: list[tuple[str, FieldNode]] = []
    seen: set[str] = set()
    for selection in selection_set.selections:
        if not isinstance(selection, FieldNode) or selection.directives:
            return None
        key = selection.alias.value if selection.alias else selection.name.value
        if key in seen:
            return None
        seen.add(key)
        out.append((key, selection))
    return out if 0 < len(out) <= MAX_KEYS else None


def json_object(
    aliases: Aliases, selection_set: SelectionSetNode | None, type_name: str,
    leaf: Callable[[str], str | None],
    nested: dict[str, Compiler] | None = None,
) -> str | None:
    """json_build_object over the selection: leaves by ``leaf(name)``, objects by ``nested``."""
    fields = _fields(selection_set)
    if fields is None:
        return None
    parts: list[str] = []
    for key, field in fields:
        name = field.name.value
        if field.arguments:
            return None
        is_object = bool(nested and name in nested)
        if name == "__typename":
            expression: str | None = f"'{type_name}'::text"
        elif nested and name in nested:
            inner = aliases if aliases.flat is None else replace(aliases, path=(*aliases.path, key))
            expression = nested[name](inner, field.selection_set)
        elif field.selection_set is None:
            expression = leaf(name)
        else:
            expression = None
        if expression is None:
            return None
        if aliases.flat is not None and not is_object:
            aliases.flat.append(((*aliases.path, key), expression))
        parts.append(f"'{key}', {expression}")
    return f"json_build_object({', '.join(parts)})"


def _money(aliases: Aliases, column: str) -> str:
    """A stored NUMERIC(20,2) amount as the double nearest its exact value (Python: cents / 100)."""
    return f"{aliases.daily}.{column}::float8"


def _exact(aliases: Aliases, component: str) -> str:
    """A component as the exact integer the Python path divides (money in cents)."""
    if registry.COMPONENT[component].money:
        return f"({aliases.daily}.{component} * 100)::int8"
    return f"{aliases.daily}.{component}"


def _ratio(name: str) -> Compiler:
    definition = registry.RATIO[name]
    numerator, denominator = definition.numerator, definition.denominator

    def compile_ratio(aliases: Aliases, selection_set: SelectionSetNode | None) -> str | None:
        num, den = _exact(aliases, numerator), _exact(aliases, denominator)
        when_empty = definition.when_empty
        # the Python path's float(Fraction): exact for the registry's small constants
        empty = "NULL::float8" if when_empty is None else f"{float(when_empty)!r}::float8"
        band = band_expressions(aliases.daily, aliases.bands).get(f"{name}_band") if name in BANDED else None
        leaves = {
            "value": f"CASE WHEN {den} = 0 THEN {empty} ELSE {num}::float8 / {den}::float8 END",
            "numerator": f"{aliases.daily}.{numerator}::float8",
            "denominator": f"{aliases.daily}.{denominator}::float8",
            "band": f"upper({band})" if band else "NULL::text",
        }
        return json_object(aliases, selection_set, "Ratio", leaves.get)

    return compile_ratio


def _penalties(aliases: Aliases, selection_set: SelectionSetNode | None) -> str | None:
    if aliases.flat is not None:  # a list has no one value per row
        return None
    leaves = {
        "name": "w.name",
        "weight": "w.weight",
        "input": "p.x",
        "points": "w.weight::float8 * least(1.0::float8, greatest(0.0::float8, p.x))",
    }
    item = json_object(aliases, selection_set, "RiskPenalty", leaves.get)
    if item is None:
        return None
    weights = ", ".join(f"({n}, '{name}', {weight})" for n, (name, weight) in enumerate(PENALTIES, start=1))
    return (
        f"(SELECT json_agg({item} ORDER BY p.n) "
        f"FROM unnest({penalty_inputs_sql(aliases.daily)}) WITH ORDINALITY AS p(x, n) "
        f"JOIN (VALUES {weights}) AS w(n, name, weight) ON w.n = p.n)"
    )


def _buckets(aliases: Aliases, selection_set: SelectionSetNode | None) -> str | None:
    if aliases.flat is not None:  # a list has no one value per row
        return None
    items = []
    for column, label in BUCKET_LABELS:
        leaves = {
            "bucket": f"'{label}'::text",
            "count": f"{aliases.daily}.bucket_{column}_count",
            "balance": _money(aliases, f"bucket_{column}_balance"),
        }
        item = json_object(aliases, selection_set, "BucketBalance", leaves.get)
        if item is None:
            return None
        items.append(item)
    return f"json_build_array({', '.join(items)})"


_PORTFOLIO = {to_camel_case(c.name): c for c in registry.COMPONENTS if c.portfolio}


def _portfolio(aliases: Aliases, selection_set: SelectionSetNode | None) -> str | None:
    def leaf(name: str) -> str | None:
        component = _PORTFOLIO.get(name)
        if component is None:
            return None
        return _money(aliases, component.name) if component.money else f"{aliases.daily}.{component.name}"

    return json_object(aliases, selection_set, "Portfolio", leaf, {"buckets": _buckets})


_RATIO_FIELDS = {to_camel_case(r.name): r.name for r in registry.RATIOS}


def _metric_leaves(aliases: Aliases) -> dict[str, str]:
    """The plain OfficerMetrics fields of daily row ``aliases.daily`` (bands under the current thresholds)."""
    m = aliases.daily
    bands = band_expressions(m, aliases.bands)
    return {
        "calculationDate": f"{m}.calculation_date",
        "periodStart": f"{m}.period_start",
        "periodEnd": f"{m}.calculation_date",
        "riskScore": f"{m}.risk_score",
        "riskBand": f"upper({bands['risk_band']})",
        "dqi": f"{m}.dqi",
        "dqiBand": f"upper({bands['dqi_band']})",
    }


_METRIC_OBJECTS: dict[str, Compiler] = {
    **{key: _ratio(name) for key, name in _RATIO_FIELDS.items()},
    "riskPenalties": _penalties,
    "portfolio": _portfolio,
}


def _metrics(aliases: Aliases, selection_set: SelectionSetNode | None) -> str | None:
    return json_object(aliases, selection_set, "OfficerMetrics", _metric_leaves(aliases).get, _METRIC_OBJECTS)


def _branch(aliases: Aliases, selection_set: SelectionSetNode | None) -> str | None:
    """A BranchMetrics node: the branch row's identity and every OfficerMetrics field, from
    branch_metrics_daily (same metric columns as the officer's daily row)."""
    m = aliases.daily
    leaves = {**_metric_leaves(aliases), "branch": f"{m}.branch", "region": f"{m}.region",
              "totalOfficers": f"{m}.total_officers"}
    return json_object(aliases, selection_set, "BranchMetrics", leaves.get, _METRIC_OBJECTS)


def _timestamp(column: str) -> str:
    """Python's isoformat of an aware UTC datetime: microseconds only when non-zero."""
    utc = f"({column} AT TIME ZONE 'UTC')"
    return (
        f"CASE WHEN {column} IS NULL THEN NULL ELSE to_char({utc}, 'YYYY-MM-DD\"T\"HH24:MI:SS') || "
        f"CASE WHEN extract(microseconds FROM {utc})::int8 % 1000000 = 0 THEN '' ELSE '.' || to_char({utc}, 'US') END"
        f" || '+00:00' END"
    )


def audit_object(aliases: Aliases, selection_set: SelectionSetNode | None) -> str | None:
    a, o = aliases.audit, aliases.officer
    leaves = {
        "officerId": f"{o}.officer_id",
        "assigneeId": f"{a}.assignee_id",
        "assigneeName": f"{a}.assignee_name",
        "assignedDate": _timestamp(f"{a}.assigned_date"),
        "auditStatus": f"upper(replace(coalesce({a}.audit_status, 'Not Assigned'), ' ', '_'))",
        "statusChangedDate": _timestamp(f"{a}.status_changed_date"),
        "lastAuditDate": f"{a}.last_audit_date",
        "auditNotes": f"{a}.audit_notes",
        "riskLevel": f"{a}.risk_level",
        "actionType": f"{a}.action_type",
        "actionDate": _timestamp(f"{a}.action_date"),
        "actionNotes": f"{a}.action_notes",
        "version": f"coalesce({a}.{aliases.audit_version}, 0)",
    }
    return json_object(aliases, selection_set, "AuditInfo", leaves.get)


def _officer(aliases: Aliases, selection_set: SelectionSetNode | None) -> str | None:
    o = aliases.officer
    leaves = {
        "officerId": f"{o}.officer_id",
        "officerName": f"{o}.officer_name",
        "officerPhone": f"{o}.officer_phone",
        "region": f"{o}.region",
        "branch": f"{o}.branch",
        "employmentStatus": f"{o}.employment_status",
        "primaryChannel": f"{o}.primary_channel",
        "rank": aliases.rank,
    }
    return json_object(aliases, selection_set, "Officer", leaves.get, {"metrics": _metrics, "audit": audit_object})


def node_selection(field_nodes: Sequence[FieldNode]) -> SelectionSetNode | None:
    """The one node selection under this connection field (``nodes`` or ``edges { node }``, not
    both), or None when there is anything but plain fields on the way to it."""
    if len(field_nodes) != 1:
        return None
    connection = _fields(field_nodes[0].selection_set)
    if connection is None:
        return None
    node_selections = []
    for _, field in connection:
        name = field.name.value
        if name == "nodes":
            node_selections.append(field.selection_set)
        elif name == "edges":
            edge = _fields(field.selection_set)
            if edge is None:
                return None
            node_selections += [f.selection_set for _, f in edge if f.name.value == "node"]
    if len(node_selections) != 1:
        return None
    return node_selections[0]


def officer_node_sql(field_nodes: Sequence[FieldNode], bands: BandThresholds) -> str | None:
    """SQL for one officer node's JSON under this ``officers`` field, or None when the selection
    is anything but one plain Officer selection."""
    selection = node_selection(field_nodes)
    return None if selection is None else _officer(Aliases(bands=bands), selection)


RowKey = tuple[str, tuple[str, ...], Mapping[str, str] | None]
"""One key of a flat row: its name, the response-key path it reads under the node, and the
spelling of each GraphQL enum value there (None: the value as GraphQL answers it)."""


def officer_row_sql(field_nodes: Sequence[FieldNode], bands: BandThresholds, row: Sequence[RowKey]) -> str | None:
    """SQL for one officer of this ``officers`` field as a flat JSON object keyed as ``row`` says
    (the REST officer row, ``graph/rest``): each key the value the node's own JSON would hold at
    its path, enum values respelled. The shim then splices the rows instead of decoding a GraphQL
    answer, reshaping and encoding it again (a third of a REST page's server time). None when the
    node selection does not compile or lacks a path."""
    selection = node_selection(field_nodes)
    if selection is None:
        return None
    found: list[tuple[tuple[str, ...], str]] = []
    if _officer(Aliases(bands=bands, flat=found), selection) is None:
        return None
    leaves = dict(found)
    parts = []
    for key, path, spelling in row:
        expression = leaves.get(path)
        if expression is None:
            return None
        if spelling:
            cases = " ".join(f"WHEN {_literal(name)} THEN {_literal(text)}" for name, text in spelling.items())
            expression = f"CASE {expression} {cases} END"
        parts.append(f"{_literal(key)}, {expression}")
    if not 0 < len(parts) <= MAX_KEYS:
        return None
    return f"json_build_object({', '.join(parts)})"


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def branch_node_sql(field_nodes: Sequence[FieldNode], bands: BandThresholds) -> str | None:
    """SQL for one branch node's JSON under this ``branches`` field (a row ``m`` of
    branch_metrics_daily), or None when the selection is anything but plain fields."""
    if len(field_nodes) != 1:
        return None
    return _branch(Aliases(bands=bands), field_nodes[0].selection_set)
