"""Loan queries: the FIMR and early-indicator drilldowns, one loan, and an officer's loans.

All are keyset-paginated on the loans table (with its partial indexes on the tagged loans),
scoped by the loan's own branch and region, with customer phones masked for non-admins.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import asyncpg

from loanmetrics.db.params import Params
from loanmetrics.principal import Role
from loanmetrics.resolvers.errors import bad_request
from loanmetrics.resolvers.inputs import LoanFilter, LoanGroup, LoanOrder, LoanSort, LoanSortField, SortDirection
from loanmetrics.resolvers.officers import AUDIT_COLUMNS
from loanmetrics.resolvers.pagination import (
    Cursor,
    OrderTerm,
    after_predicate,
    check_page_size,
    decode_cursor,
    order_by,
)
from loanmetrics.resolvers.sql import like_pattern, rows_by_key, scope_predicate

if TYPE_CHECKING:
    from loanmetrics.resolvers.context import RequestContext

_SORTS: dict[LoanSortField, tuple[str, str]] = {
    LoanSortField.CURRENT_DPD: ("l.current_dpd", "int"),
    LoanSortField.DISBURSEMENT_DATE: ("l.disbursement_date", "date"),
    LoanSortField.LOAN_AMOUNT: ("l.loan_amount", "numeric"),
    LoanSortField.TOTAL_OUTSTANDING: ("l.total_outstanding", "numeric"),
    LoanSortField.DAYS_LATE: ("days_late", "int"),
}


@dataclass(frozen=True)
class LoanPage:
    """One page of loans: per loan its cursor and row (``loan_columns``). With ``officers_joined``
    each row also carries the loan's officer (``o_``-prefixed ``OFFICER_KEYS``, ``o_in_scope``)
    and, in scope, its audit record (``AUDIT_COLUMNS``)."""

    items: list[tuple[Cursor, asyncpg.Record]]
    total_count: int
    has_next: bool
    has_previous: bool
    officers_joined: bool = False
    node_json: bool = False
    """Rows hold the sort keys and ``node_json``, each node's whole answer built in SQL
    (resolvers/loan_json.py), instead of the loan columns."""


def days_late_sql(day: str) -> str:
    """SPEC §5.3 days_late on the business date ``day`` (a placeholder), from the loan row alone."""
    return f"""CASE WHEN l.first_payment_due_date IS NULL THEN NULL
             WHEN l.first_payment_received_date IS NOT NULL
                  THEN l.first_payment_received_date - l.first_payment_due_date
             ELSE {day} - l.first_payment_due_date END"""


_LOAN_ROW_COLUMNS = """l.loan_id, l.officer_id, l.officer_name, l.customer_id, l.customer_name, l.customer_phone,
        l.region, l.branch, l.channel, l.status, l.loan_amount, l.disbursement_date, l.maturity_date, l.current_dpd,
        l.max_dpd_ever, l.first_payment_due_date, l.first_payment_received_date, l.fimr_tagged,
        l.early_indicator_tagged, l.total_outstanding"""


def loan_columns(params: Params, business_date: object, day: str | None = None, *, state: bool = True) -> str:
    """The Loan fields; days_late from the loan row, last payment and next due from the maintained
    state ``st`` (``state=False``: NULL, for pages that select neither and skip its join)."""
    day = day or params.add(business_date, "date")
    if not state:
        return f"""
        {_LOAN_ROW_COLUMNS},
        {days_late_sql(day)} AS days_late,
        NULL::date AS last_payment_date, NULL::date AS next_payment_due"""
    return f"""
        {_LOAN_ROW_COLUMNS},
        {days_late_sql(day)} AS days_late,
        st.pay_dates[array_length(st.pay_dates, 1)] AS last_payment_date,
        st.suffix_min_due[width_bucket(lm_paid_c(st.pay_dates, st.pay_cum, {day}), st.settle_thresholds) + 1]
            AS next_payment_due"""


def mask_phone(phone: str | None) -> str | None:
    """Keep the country prefix and the last three digits (SPEC §10: non-admins see masked phones)."""
    if not phone:
        return phone
    if len(phone) <= 7:
        return "*" * len(phone)
    return phone[:4] + "*" * (len(phone) - 7) + phone[-3:]


def customer_phone(phone: str | None, role: Role) -> str | None:
    """The customer phone a caller of ``role`` may see: whole for admins, masked for the others."""
    return phone if role == Role.ADMIN else mask_phone(phone)


def customer_phone_sql(phone: str, role: Role) -> str:
    """``customer_phone`` in SQL over the text column ``phone`` (lengths in characters, as Python's)."""
    if role == Role.ADMIN:
        return phone
    return (f"CASE WHEN {phone} IS NULL OR {phone} = '' THEN {phone} "
            f"WHEN length({phone}) <= 7 THEN repeat('*', length({phone})) "
            f"ELSE left({phone}, 4) || repeat('*', length({phone}) - 7) || right({phone}, 3) END")


def loan_filters(filter: LoanFilter | None, params: Params) -> list[str]:
    """LoanFilter on the loan's own attributes (SPEC §6)."""
    if filter is None:
        return []
    where = []
    for column, value in (("l.region", filter.region), ("l.branch", filter.branch),
                          ("l.officer_id", filter.officer_id), ("l.status", filter.status),
                          ("l.channel", filter.channel)):
        if value is not None:
            where.append(f"{column} = {params.add(str(value))}")
    if filter.disbursed_from is not None:
        where.append(f"l.disbursement_date >= {params.add(filter.disbursed_from, 'date')}")
    if filter.disbursed_to is not None:
        where.append(f"l.disbursement_date <= {params.add(filter.disbursed_to, 'date')}")
    if filter.dpd_min is not None:
        where.append(f"l.current_dpd >= {params.add(filter.dpd_min, 'int')}")
    if filter.dpd_max is not None:
        where.append(f"l.current_dpd <= {params.add(filter.dpd_max, 'int')}")
    if filter.search:
        pattern = params.add(like_pattern(filter.search))
        where.append(f"(l.customer_name ILIKE {pattern} OR l.loan_id ILIKE {pattern})")
    if filter.fimr_tagged is not None:
        where.append(f"l.fimr_tagged = {params.add(filter.fimr_tagged, 'boolean')}")
    if filter.early_indicator_tagged is not None:
        where.append(f"l.early_indicator_tagged = {params.add(filter.early_indicator_tagged, 'boolean')}")
    return where


def _terms(sort: LoanSort) -> list[OrderTerm]:
    expression, _ = _SORTS[sort.field]
    descending = sort.direction == SortDirection.DESC
    terms = [OrderTerm(expression, descending, sort.field.value)]
    if sort.field != LoanSortField.TOTAL_OUTSTANDING:
        terms.append(OrderTerm("l.total_outstanding", True, "total_outstanding"))
    terms.append(OrderTerm("l.loan_id", False, "loan_id"))
    return terms


def _casts(terms: list[OrderTerm]) -> list[str]:
    known = dict(_SORTS.values())
    return [known.get(term.expression, "text") for term in terms]


async def loan_page(
    ctx: RequestContext, where: list[str], params: Params, sort: LoanSort, first: int, after: str | None,
    offset: int = 0, *, count_sql: str | None = None, state: bool = True, node_json: str | None = None,
) -> LoanPage:
    """One page of loans matching ``where`` (already parameterised in ``params``).

    The page is chosen on the narrow loans rows alone (filters, scope and sort keys are loan
    columns; the tagged drilldowns have partial indexes in their default order); the wide
    columns and the maintained state are read for the page's rows only. ``node_json``: SQL of
    one node's answer over the page row ``PAGE_ROW`` (the row the Python path reads)."""
    check_page_size(first)
    if offset < 0:
        raise bad_request("offset must not be negative", argument="offset")
    day = params.add(ctx.business_date, "date")
    columns = loan_columns(params, ctx.business_date, day, state=state)
    where = [*where, scope_predicate(ctx.principal, params, branch="l.branch", region="l.region")]
    officer_in_scope = scope_predicate(ctx.principal, params, branch="o.branch", region="o.region")
    terms = _terms(sort)
    inner = [OrderTerm(days_late_sql(day) if term.key == "days_late" else term.expression, term.descending, term.key)
             for term in terms]
    outer = [OrderTerm(f"x.{term.key}", term.descending, term.key) for term in terms]
    casts = _casts(terms)
    keyset = after_predicate(inner, decode_cursor(after, terms, casts), params, casts) if after else "TRUE"
    condition = " AND ".join(where)
    page_rows = (f"SELECT {columns}, {_OFFICER_COLUMNS}, {officer_in_scope} AS o_in_scope, {AUDIT_COLUMNS}"
                 f" FROM page p JOIN loans l ON l.loan_id = p.loan_id{_STATE_JOIN if state else ''}"
                 f" JOIN officers o ON o.officer_id = l.officer_id"
                 f" LEFT JOIN audit_tracking a ON a.officer_id = o.officer_id AND {officer_in_scope}")
    if node_json:  # the sort keys for the cursors, and the node as JSON
        keys = ", ".join(f"{PAGE_ROW}.{key}" for key in dict.fromkeys(term.key for term in terms))
        page_rows = f"SELECT {keys}, {node_json} AS node_json FROM ({page_rows}) {PAGE_ROW}"
    rows = await ctx.fetch(
        f"""
        WITH page AS (
            SELECT l.loan_id
            FROM loans l
            WHERE {condition} AND {keyset}
            ORDER BY {order_by(inner)}
            LIMIT {Params.count(first + 1)} OFFSET {Params.count(offset)}
        )
        SELECT ({count_sql or f"SELECT count(*) FROM loans l WHERE {condition}"}) AS total_count, x.*
        FROM (SELECT 1) AS one
        LEFT JOIN ({page_rows}) x ON TRUE
        ORDER BY {order_by(outer)}
        """,
        *params.values,
    )
    total = int(rows[0]["total_count"])
    rows = [row for row in rows if row["loan_id"] is not None]
    items = [(Cursor(row, [term.key for term in terms], terms), row) for row in rows[:first]]
    return LoanPage(items, total, has_next=len(rows) > first, has_previous=after is not None or offset > 0,
                    officers_joined=True, node_json=bool(node_json))


_STATE_JOIN = " JOIN loan_state st ON st.loan_id = p.loan_id"
PAGE_ROW = "y"
"""The alias of a page row (``loan_columns``, the officer's, ``o_in_scope``, ``AUDIT_COLUMNS``) in
the statement's node JSON."""

# The loan's officer as stored (the loan row carries its own copies of name, branch and region).
OFFICER_KEYS = ("officer_name", "officer_phone", "region", "branch", "employment_status", "primary_channel",
                "had_float_gap")
_OFFICER_COLUMNS = ", ".join(f"o.{name} AS o_{name}" for name in OFFICER_KEYS)


async def drilldown(
    ctx: RequestContext, tag: str, filter: LoanFilter | None, first: int, after: str | None, offset: int,
    sort: LoanSort, *, state: bool = True, node_json: str | None = None,
) -> LoanPage:
    """``state=False``: no loan's last payment or next due is asked for (read as NULL), so the
    page skips the maintained state (a third of a drilldown page's PostgreSQL time).
    ``node_json``: as in ``loan_page``."""
    params = Params()
    where = loan_filters(filter, params)
    explicit = getattr(filter, tag, None) if filter is not None else None
    if explicit is None:
        where.append(f"l.{tag}")
    return await loan_page(ctx, where, params, sort, first, after, offset,
                           count_sql=_tag_count_sql(ctx, tag, filter, params), state=state, node_json=node_json)


_COUNT_COLUMNS = {"fimr_tagged": "fimr_count", "early_indicator_tagged": "early_count"}


def _tag_count_sql(ctx: RequestContext, tag: str, filter: LoanFilter | None, params: Params) -> str | None:
    """The drilldown's total from ``loan_tag_counts`` when its filters are only officer, branch
    and region (the counts' own columns, aliased ``l`` like the loans) and the caller's scope;
    None when another filter needs the loans counted."""
    if filter is not None:
        other = next(name for name in _COUNT_COLUMNS if name != tag)
        if any((filter.status, filter.channel, filter.disbursed_from, filter.disbursed_to, filter.search)) \
                or filter.dpd_min is not None or filter.dpd_max is not None \
                or getattr(filter, other) is not None or getattr(filter, tag) is False:
            return None
    grouping = LoanGroup(region=filter.region, branch=filter.branch, officer_id=filter.officer_id) \
        if filter is not None else None
    where = [*loan_filters(grouping, params),
             scope_predicate(ctx.principal, params, branch="l.branch", region="l.region")]
    return f"SELECT coalesce(sum(l.{_COUNT_COLUMNS[tag]}), 0) FROM loan_tag_counts l WHERE {' AND '.join(where)}"


async def get_loan(ctx: RequestContext, loan_id: str) -> asyncpg.Record | None:
    """The loan's row with its officer joined (``LoanPage.officers_joined``), when in scope."""
    params = Params()
    where = [f"l.loan_id = {params.add(loan_id)}"]
    page = await loan_page(ctx, where, params, LoanOrder(), 1, None)
    return page.items[0][1] if page.items else None


@dataclass(frozen=True)
class OfficerLoansKey:
    officer_id: str
    arguments: tuple[str, int, str | None, str, bool]


async def officer_loans(
    ctx: RequestContext, officer_id: str, filter: LoanFilter | None, first: int, after: str | None,
    sort: LoanSort | None, *, state: bool = True,
) -> LoanPage:
    """An officer's loans; pages for many officers in one list are fetched in one statement
    (``state=False``: without last payment and next due, as in ``drilldown``)."""
    check_page_size(first)
    arguments = (repr(filter), first, after, repr(sort), state)
    ctx.memo.setdefault("officer_loans_arguments", {})[arguments] = (filter, sort or LoanOrder())
    return await ctx.loaders.officer_loans.load(OfficerLoansKey(officer_id, arguments))


async def officer_loan_pages(ctx: RequestContext, keys: list[OfficerLoansKey]) -> list[LoanPage]:
    """Keys share their arguments almost always (one page of officers): one statement per group."""
    groups: dict[tuple[str, int, str | None, str, bool], list[str]] = defaultdict(list)
    for key in keys:
        groups[key.arguments].append(key.officer_id)
    found: dict[OfficerLoansKey, LoanPage] = {}
    for arguments, officer_ids in groups.items():
        _, first, after, _, state = arguments
        filter, sort = ctx.memo["officer_loans_arguments"][arguments]
        params = Params()
        day = params.add(ctx.business_date, "date")
        ids = params.add(officer_ids, "text[]")
        where = [*loan_filters(filter, params),
                 scope_predicate(ctx.principal, params, branch="l.branch", region="l.region")]
        terms = _terms(sort)
        inner = [OrderTerm(days_late_sql(day) if term.key == "days_late" else term.expression, term.descending,
                           term.key) for term in terms]
        outer = [OrderTerm(f"x.{term.key}", term.descending, term.key) for term in terms]
        casts = _casts(terms)
        keyset = after_predicate(inner, decode_cursor(after, terms, casts), params, casts) if after else "TRUE"
        condition = " AND ".join(where)
        # each officer's page on its narrow rows (an index scan per officer in the default order),
        # the counts apart, the wide columns and state for the page rows only
        rows = await ctx.fetch(
            f"""
            WITH chosen AS (SELECT unnest({ids}::text[]) AS officer_id),
            page AS (
                SELECT p.loan_id
                FROM chosen c
                CROSS JOIN LATERAL (
                    SELECT l.loan_id FROM loans l
                    WHERE l.officer_id = c.officer_id AND {condition} AND {keyset}
                    ORDER BY {order_by(inner)}
                    LIMIT {Params.count(first + 1)}
                ) p
            ),
            totals AS (
                SELECT l.officer_id, count(*) AS total_count FROM loans l
                WHERE l.officer_id = ANY({ids}::text[]) AND {condition}
                GROUP BY l.officer_id
            )
            SELECT totals.officer_id AS counted_officer, totals.total_count, x.*
            FROM totals
            LEFT JOIN (
                SELECT {loan_columns(params, ctx.business_date, day, state=state)}
                FROM page p JOIN loans l ON l.loan_id = p.loan_id{_STATE_JOIN if state else ""}
            ) x ON x.officer_id = totals.officer_id
            ORDER BY totals.officer_id, {order_by(outer)}
            """,
            *params.values,
        )
        by_officer: dict[str, list[Any]] = defaultdict(list)
        totals: dict[str, int] = {}
        for row in rows:
            totals[row["counted_officer"]] = int(row["total_count"])
            if row["loan_id"] is not None:
                by_officer[row["officer_id"]].append(row)
        for officer_id in officer_ids:
            page = by_officer.get(officer_id, [])
            items = [(Cursor(row, [term.key for term in terms], terms), row) for row in page[:first]]
            found[OfficerLoansKey(officer_id, arguments)] = LoanPage(
                items, totals.get(officer_id, 0), has_next=len(page) > first, has_previous=after is not None)
    return [found[key] for key in keys]


async def schedule_rows(ctx: RequestContext, loan_ids: list[str]) -> list[list[asyncpg.Record]]:
    """Each loan's schedule rows in installment order, in the order asked."""
    rows = await ctx.fetch(
        "SELECT * FROM loan_schedule WHERE loan_id = ANY($1::text[]) ORDER BY loan_id, installment_number", loan_ids
    )
    return rows_by_key(rows, "loan_id", loan_ids)


async def repayment_rows(ctx: RequestContext, loan_ids: list[str]) -> list[list[asyncpg.Record]]:
    """Each loan's repayments by payment date, in the order asked."""
    rows = await ctx.fetch(
        "SELECT * FROM repayments WHERE loan_id = ANY($1::text[]) ORDER BY loan_id, payment_date, repayment_id",
        loan_ids,
    )
    return rows_by_key(rows, "loan_id", loan_ids)
