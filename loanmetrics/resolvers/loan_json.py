"""The drilldowns' loan nodes as JSON built by PostgreSQL, for plain-data selections.

A drilldown page built a ``Loan``, its ``Officer`` and ``AuditInfo`` per row for the compiled
plans to read: about a quarter of the server's CPU on the page (issue 13). When every field under
the connection's Loan selection is a plain Loan field, ``officer`` with plain fields and its
``audit`` without ``actions`` (no arguments, fragments or directives; not ``schedule``,
``repayments``, nor the officer's ``metrics``, ``history`` or ``loans``, which take statements of
their own), the page statement builds each node over the very row the Python path reads
(``loans.PAGE_ROW``: ``loan_columns``, the ``o_``-prefixed officer, ``o_in_scope``,
``AUDIT_COLUMNS``) with ``officer_json``'s ``json_build_object`` and the executor splices it.
Values are the Python path's: the customer phone as the caller's role may see it, the officer
outside the caller's scope as ``Officer.from_row(..., outside_scope=True)`` shows it, and amounts
as the text orjson writes for ``float(amount)``. ``tests/test_loan_json.py`` holds the two paths
to equal answers.
"""

from __future__ import annotations

from collections.abc import Sequence

from graphql import FieldNode, SelectionSetNode
from strawberry.utils.str_converters import to_camel_case

from loanmetrics.calculators.bands import BandThresholds
from loanmetrics.principal import Role
from loanmetrics.resolvers.loans import PAGE_ROW, customer_phone_sql
from loanmetrics.resolvers.officer_json import Aliases, audit_object, json_object, node_selection


def money_json(column: str) -> str:
    """A NUMERIC(15,2) amount as the JSON text orjson writes for ``float(amount)``: at most 15
    significant digits, so the double's shortest repr is the decimal itself, trailing zeros
    dropped, ``.0`` kept for whole amounts (``50000.0``; PostgreSQL's float8 would write ``50000``)."""
    return (f"(CASE WHEN {column} = trunc({column}) THEN trunc({column})::text || '.0' "
            f"ELSE trim_scale({column})::text END)::json")


def _loan_leaves(role: Role) -> dict[str, str]:
    y = PAGE_ROW
    plain = ("loan_id", "officer_id", "customer_id", "customer_name", "region", "branch", "channel", "status",
             "disbursement_date", "maturity_date", "current_dpd", "max_dpd_ever", "first_payment_due_date",
             "first_payment_received_date", "days_late", "fimr_tagged", "early_indicator_tagged",
             "last_payment_date", "next_payment_due", "officer_name")
    leaves = {to_camel_case(column): f"{y}.{column}" for column in plain}
    leaves.update(customerPhone=customer_phone_sql(f"{y}.customer_phone", role),
                  loanAmount=money_json(f"{y}.loan_amount"), totalOutstanding=money_json(f"{y}.total_outstanding"))
    return leaves


def _in_scope(expression: str, outside: str) -> str:
    return f"CASE WHEN {PAGE_ROW}.o_in_scope THEN {expression} ELSE {outside} END"


def _officer_audit(aliases: Aliases, selection_set: SelectionSetNode | None) -> str | None:
    """The audit record of an officer in scope; null outside it (the page joins none there)."""
    audit = audit_object(aliases, selection_set)
    return None if audit is None else _in_scope(audit, "NULL::json")


def _officer(aliases: Aliases, selection_set: SelectionSetNode | None) -> str | None:
    """``Officer.from_loan_row``: identity always, the rest in scope only (region, branch empty)."""
    y = PAGE_ROW
    leaves = {
        "officerId": f"{y}.officer_id",
        "officerName": f"{y}.o_officer_name",
        "officerPhone": _in_scope(f"{y}.o_officer_phone", "NULL::text"),
        "region": _in_scope(f"{y}.o_region", "''::text"),
        "branch": _in_scope(f"{y}.o_branch", "''::text"),
        "employmentStatus": _in_scope(f"{y}.o_employment_status", "NULL::text"),
        "primaryChannel": _in_scope(f"{y}.o_primary_channel", "NULL::text"),
        "rank": "NULL::int",
    }
    return json_object(aliases, selection_set, "Officer", leaves.get, {"audit": _officer_audit})


def loan_node_sql(field_nodes: Sequence[FieldNode], bands: BandThresholds, role: Role) -> str | None:
    """SQL for one loan node's JSON under this drilldown field, as a caller of ``role`` sees it,
    over the page row ``loans.PAGE_ROW``; None when the selection is anything but plain fields."""
    selection = node_selection(field_nodes)
    if selection is None:
        return None
    # the page row holds the officer and its audit record (``AUDIT_COLUMNS``), no metrics
    row = Aliases(bands=bands, officer=PAGE_ROW, daily=PAGE_ROW, audit=PAGE_ROW, audit_version="audit_version")
    return json_object(row, selection, "Loan", _loan_leaves(role).get, {"officer": _officer})
