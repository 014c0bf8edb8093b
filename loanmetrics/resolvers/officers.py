"""Officer queries: the ranked, filtered, sorted officer list, one officer, metrics and history.

The default window reads officer_metrics_daily and filters, sorts and pages in SQL (one
statement, audit info joined in). Custom windows run the metric engine for the officers in the
caller's scope and sort and page those rows in memory, with the same cursors. A scoped caller's
aggregates count only the loans in its scope (SPEC §10): the default window rolls the officers'
fine groups up within the scope (``metric_rows.scoped_daily_sql``), the engine restricts the loans.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

import asyncpg

from loanmetrics.db import metric_engine as engine
from loanmetrics.db.params import Params
from loanmetrics.resolvers.errors import bad_request
from loanmetrics.resolvers.inputs import OfficerFilter, OfficerOrder, OfficerSort, Period, SortDirection
from loanmetrics.resolvers.metric_rows import (
    MetricSnapshot,
    daily_snapshot_columns,
    empty_snapshot,
    empty_snapshots,
    latest_calculated_sql,
    risk_band_sql,
    scoped_daily_sql,
    snapshot_from_row,
)
from loanmetrics.resolvers.pagination import (
    Cursor,
    OrderTerm,
    after_in_memory,
    after_predicate,
    check_page_size,
    decode_cursor,
    encode_cursor,
    order_by,
    sort_in_memory,
)
from loanmetrics.resolvers.sql import like_pattern, scope_predicate
from loanmetrics.resolvers.windows import (
    Window,
    daily_rows_exist,
    fine_groups_kept,
    latest_unread,
    remember_latest,
    resolve_window,
)

if TYPE_CHECKING:
    from loanmetrics.resolvers.context import RequestContext

OFFICER_COLUMNS = (
    "o.officer_id, o.officer_name, o.officer_phone, o.region, o.branch, o.employment_status, "
    "o.primary_channel, o.had_float_gap"
)
AUDIT_COLUMNS = (
    "a.officer_id IS NOT NULL AS has_audit_row, a.assignee_id, a.assignee_name, a.assigned_date, "
    "coalesce(a.audit_status, 'Not Assigned') AS audit_status, a.status_changed_date, a.last_audit_date, "
    "a.audit_notes, a.risk_level, a.action_type, a.action_date, a.action_notes, coalesce(a.version, 0) AS audit_version"
)
TEXT_SORTS = {"officer_name", "officer_id"}
# sort field -> SQL expression on the daily row (m) or the officer (o), and its cast for cursors
_SORT_SQL = {
    "officer_name": ("o.officer_name", "text"),
    "officer_id": ("o.officer_id", "text"),
}


def _sort_sql(field: str) -> tuple[str, str]:
    return _SORT_SQL.get(field, (f"m.{field}", "numeric"))


def _snapshot_value(snapshot: MetricSnapshot, field: str) -> float | int | None:
    if field in snapshot.ratios:
        return snapshot.ratios[field].value
    if field in ("risk_score", "dqi"):
        return getattr(snapshot, field)  # type: ignore[no-any-return]
    value = snapshot.components[field]
    return float(value) if not isinstance(value, int) else value


@dataclass(frozen=True)
class OfficerPage:
    """One page of the officer list: per officer its cursor, row (``OFFICER_COLUMNS`` and
    ``AUDIT_COLUMNS``), metrics of the window and rank by risk score. With ``node_json`` each row
    holds instead the node's whole answer as JSON built in SQL (column ``node_json``; no metrics)."""

    items: list[tuple[Cursor | str, asyncpg.Record, MetricSnapshot | None, int | None]]
    total_count: int
    has_next: bool
    has_previous: bool
    window: Window
    node_json: bool = False


def _filters(filter: OfficerFilter | None, params: Params) -> list[str]:
    """Officer filters (SPEC §6: on the officer's own branch and region)."""
    if filter is None:
        return []
    where = []
    if filter.region is not None:
        where.append(f"o.region = {params.add(filter.region)}")
    if filter.branch is not None:
        where.append(f"o.branch = {params.add(filter.branch)}")
    if filter.officer_id is not None:
        where.append(f"o.officer_id = {params.add(str(filter.officer_id))}")
    if filter.audit_status is not None:
        where.append(f"coalesce(a.audit_status, 'Not Assigned') = {params.add(filter.audit_status.value)}")
    if filter.search:
        pattern = params.add(like_pattern(filter.search))
        where.append(f"(o.officer_name ILIKE {pattern} OR o.officer_id ILIKE {pattern})")
    return where


async def list_officers(
    ctx: RequestContext,
    filter: OfficerFilter | None,
    period: Period | None,
    sort: OfficerSort | None,
    first: int,
    after: str | None,
    offset: int = 0,
    *,
    node_json: str | None = None,
) -> OfficerPage:
    """``node_json``: SQL of each node's whole answer (``officer_json.officer_node_sql``; default
    window only), when the caller's executor splices it in."""
    check_page_size(first)
    if offset < 0:
        raise bad_request("offset must not be negative", argument="offset")
    sort = sort or OfficerOrder()
    if not ctx.principal.scoped and latest_unread(ctx, period):
        # the dashboard's page: the latest calculated date looked up in the list's own statement
        folded = await _list_from_daily(ctx, filter, None, sort, first, after, offset, node_json)
        if folded is not None:
            return folded
    window = await resolve_window(ctx, period)
    connection: OfficerPage | None
    if await _from_daily(ctx, window):
        connection = await _list_from_daily(ctx, filter, window, sort, first, after, offset, node_json)
        assert connection is not None  # a window given: the date is known
    else:
        connection = await _list_on_demand(ctx, filter, window, sort, first, after, offset)
    if connection.total_count == 0:
        await explain_empty(ctx, window, "officers")
    return connection


async def explain_empty(ctx: RequestContext, window: Window, field: str) -> None:
    """An empty list for a date before any data says so in the response's extensions (a
    dashboard can tell "no officers match" from "nothing calculated that far back")."""
    earliest: date | None = await ctx.fetchval("SELECT min(calculation_date) FROM officer_metrics_daily")
    if earliest is None:
        message = "no metrics have been calculated yet"
    elif window.end < earliest:
        message = (f"no metrics are calculated on or before {window.end.isoformat()}: "
                   f"the earliest calculated date is {earliest.isoformat()}")
    else:
        return
    ctx.notices.append({"code": "NO_DATA_FOR_DATE", "message": message, "path": [field],
                        "date": window.end.isoformat(),
                        "earliestCalculatedDate": earliest.isoformat() if earliest else None})


async def _from_daily(ctx: RequestContext, window: Window) -> bool:
    """Whether the officers' metrics of ``window`` come from the daily tables: the default
    window of a calculated date, and, for a scoped caller, a date whose fine groups are kept
    (rolled up over the caller's loans); otherwise the engine computes them."""
    if not window.default or not await daily_rows_exist(ctx, "officer_metrics_daily", window.end):
        return False
    return not ctx.principal.scoped or await fine_groups_kept(ctx, window.end)


def _in_scope_officers(ctx: RequestContext, params: Params) -> Callable[[str], str]:
    """SQL: an officer_id column names an officer of the caller's scope (its own branch/region)."""
    condition = scope_predicate(ctx.principal, params, branch="so.branch", region="so.region")
    return lambda column: f"{column} IN (SELECT so.officer_id FROM officers so WHERE {condition})"


def _terms(sort: OfficerSort) -> list[OrderTerm]:
    field = sort.field.value
    expression, _ = _sort_sql(field)
    descending = sort.direction == SortDirection.DESC
    return [OrderTerm(expression, descending, field), OrderTerm("o.officer_id", False, "officer_id")]


async def _list_from_daily(
    ctx: RequestContext, filter: OfficerFilter | None, window: Window | None, sort: OfficerSort,
    first: int, after: str | None, offset: int, node_json: str | None = None,
) -> OfficerPage | None:
    """The page from the daily rows of ``window``; ``window`` None (unscoped callers): of the
    latest calculated date, which the statement looks up itself (None when nothing is calculated)."""
    params = Params()
    source, ctes = "officer_metrics_daily", ""
    if window is None:
        ctes = f"latest AS (SELECT ({latest_calculated_sql(params.add(ctx.business_date, 'date'))}) AS calculated),"
        day = "(SELECT calculated FROM latest)"
    else:
        day = params.add(window.end, "date")
    if ctx.principal.scoped:  # every aggregate over the caller's loans only (SPEC §10)
        assert window is not None
        source = "scoped_daily"
        ctes = scoped_daily_sql(ctx.principal, params, ctx.application.engine_options,
                                officers=_in_scope_officers(ctx, params), days=lambda column: f"{column} = {day}")
        ctes += ","
    where = [f"m.calculation_date = {day}",
             scope_predicate(ctx.principal, params, branch="o.branch", region="o.region"),
             *_filters(filter, params)]
    bands = ctx.application.settings.bands
    if filter is not None and filter.risk_band is not None:  # the band under the current thresholds
        where.append(f"{risk_band_sql('m.risk_score', bands)} = {params.add(filter.risk_band.title_case)}")
    terms = _terms(sort)
    outer_terms = [OrderTerm(term.expression.replace("m.", "f.").replace("o.", "f."), term.descending, term.key)
                   for term in terms]
    keyset = "TRUE"
    if after:
        casts = [_sort_sql(t_.key)[1] for t_ in terms]
        keyset = after_predicate(outer_terms, decode_cursor(after, terms, casts), params, casts)
    sort_columns = ", ".join(dict.fromkeys(f"{term.expression} AS {term.key}" for term in terms))
    # the values a cursor records, as stored (money columns below are read as cents)
    sort_values = "".join(f", {term.expression} AS cursor_{i}" for i, term in enumerate(terms))
    # Rank, filter and page on narrow rows; read the wide daily row, the officer and the audit
    # record only for the page (materialising 200 rows of ~120 columns cost more than the rest).
    sql = f"""
        WITH {ctes} filtered AS (
            SELECT {sort_columns}, rank() OVER (ORDER BY m.risk_score DESC) AS risk_rank
            FROM {source} m
            JOIN officers o ON o.officer_id = m.officer_id
            LEFT JOIN audit_tracking a ON a.officer_id = m.officer_id
            WHERE {" AND ".join(where)}
        )
        , page AS (
            SELECT f.officer_id, f.risk_rank, row_number() OVER (ORDER BY {order_by(outer_terms)}) AS position
            FROM filtered f
            WHERE {keyset}
            ORDER BY {order_by(outer_terms)}
            LIMIT {Params.count(first + 1)} OFFSET {Params.count(offset)}
        )
        SELECT (SELECT count(*) FROM filtered) AS total_count, {day} AS calculated, rows.*
        FROM (SELECT 1) AS one
        LEFT JOIN (
            SELECT page.position, page.risk_rank, {OFFICER_COLUMNS}{sort_values},
                   {f"{node_json} AS node_json" if node_json else
                    f"{AUDIT_COLUMNS}, {daily_snapshot_columns('m', bands, float_gap=False)}"}
            FROM page
            JOIN {source} m ON m.officer_id = page.officer_id AND m.calculation_date = {day}
            JOIN officers o ON o.officer_id = page.officer_id
            LEFT JOIN audit_tracking a ON a.officer_id = page.officer_id
        ) AS rows ON TRUE
        ORDER BY rows.position
    """
    rows = await ctx.fetch(sql, *params.values)
    if window is None:
        calculated: date | None = rows[0]["calculated"]
        latest = remember_latest(ctx, calculated)
        if calculated is None:
            return None
        window = Window(latest.replace(day=1), latest)
    total = int(rows[0]["total_count"])
    rows = [row for row in rows if row["officer_id"] is not None]
    columns = [f"cursor_{i}" for i in range(len(terms))]
    items: list[tuple[Cursor | str, asyncpg.Record, MetricSnapshot | None, int | None]] = [
        (Cursor(row, columns, terms), row,
         None if node_json else snapshot_from_row(row, key_column="officer_id", cents=True), row["risk_rank"])
        for row in rows[:first]
    ]
    return OfficerPage(items, total, has_next=len(rows) > first, has_previous=after is not None or offset > 0,
                       window=window, node_json=node_json is not None)


async def _list_on_demand(
    ctx: RequestContext, filter: OfficerFilter | None, window: Window, sort: OfficerSort,
    first: int, after: str | None, offset: int,
) -> OfficerPage:
    params = Params()
    where = [scope_predicate(ctx.principal, params, branch="o.branch", region="o.region"),
             *_filters(filter, params)]
    officer_rows = await ctx.fetch(
        f"SELECT {OFFICER_COLUMNS}, {AUDIT_COLUMNS} FROM officers o "
        f"LEFT JOIN audit_tracking a ON a.officer_id = o.officer_id WHERE {' AND '.join(where)}",
        *params.values,
    )
    by_id = {row["officer_id"]: row for row in officer_rows}
    snapshots = await metrics_for(ctx, list(by_id), window) if by_id else {}
    if ctx.principal.scoped:  # an officer of the scope with loans by D, none of them in scope: zeros
        snapshots.update(await _without_loans_in_scope(ctx, [by_id[key] for key in by_id if key not in snapshots],
                                                       window))
    rows = [(by_id[key], snapshot) for key, snapshot in snapshots.items()]
    if filter is not None and filter.risk_band is not None:
        rows = [(row, snap) for row, snap in rows if snap.risk_band == filter.risk_band.title_case]
    ranks: dict[str, int] = {}
    first_position: dict[int, int] = {}
    for position, (row, snap) in enumerate(sorted(rows, key=lambda item: -item[1].risk_score), start=1):
        ranks[row["officer_id"]] = first_position.setdefault(snap.risk_score, position)
    field = sort.field.value
    descending = sort.direction == SortDirection.DESC
    keys: list[tuple[Callable[[Any], Any], bool]] = [
        ((lambda item: item[0][field]) if field in TEXT_SORTS else (lambda item: _snapshot_value(item[1], field)),
         descending),
        (lambda item: item[0]["officer_id"], False),
    ]
    ordered = sort_in_memory(rows, keys)
    terms = _terms(sort)
    if after:
        casts = [_sort_sql(t_.key)[1] for t_ in terms]
        ordered = after_in_memory(ordered, keys, decode_cursor(after, terms, casts))
    ordered = ordered[offset:]
    items: list[tuple[Cursor | str, asyncpg.Record, MetricSnapshot | None, int | None]] = [
        (encode_cursor([read(item) for read, _ in keys], terms), item[0], item[1], ranks[item[0]["officer_id"]])
        for item in ordered[:first]
    ]
    return OfficerPage(items, len(rows), has_next=len(ordered) > first,
                       has_previous=after is not None or offset > 0, window=window)


async def metrics_for(ctx: RequestContext, officer_ids: Sequence[str], window: Window) -> dict[str, MetricSnapshot]:
    """Officer snapshots for one window, over the loans in the caller's scope (SPEC §10): daily
    rows when calculated (rolled up from the fine groups for a scoped caller), else the engine.
    An officer without loans in play that day has none."""
    bands = ctx.application.settings.bands
    if await _from_daily(ctx, window):
        if not ctx.principal.scoped:
            rows = await ctx.fetch(
                f"SELECT m.officer_id, {daily_snapshot_columns('m', bands)} FROM officer_metrics_daily m "
                "WHERE m.calculation_date = $1 AND m.officer_id = ANY($2::text[])",
                window.end, list(officer_ids),
            )
        else:
            params = Params()
            day, ids = params.add(window.end, "date"), params.add(list(officer_ids), "text[]")
            ctes = scoped_daily_sql(ctx.principal, params, ctx.application.engine_options,
                                    officers=lambda column: f"{column} = ANY({ids})",
                                    days=lambda column: f"{column} = {day}")
            rows = await ctx.fetch(
                f"WITH {ctes} SELECT m.officer_id, {daily_snapshot_columns('m', bands)} FROM scoped_daily m",
                *params.values,
            )
        return {row["officer_id"]: snapshot_from_row(row, key_column="officer_id", cents=True) for row in rows}
    return {key: snapshot for (key, _), snapshot in (await _engine(ctx, officer_ids, [window.key])).items()}


async def _engine(
    ctx: RequestContext, officer_ids: Sequence[str], windows: Sequence[tuple[date, date]]
) -> dict[tuple[str, date], MetricSnapshot]:
    """Officer snapshots from the engine, keyed by (officer, D), over the loans in the caller's
    scope: the engine restricts the loans by their own branch and region in SQL (SPEC §10)."""
    principal = ctx.principal
    scope = engine.Scope(officers=tuple(officer_ids), branches=principal.branches or None,
                         regions=principal.regions or None)
    options = ctx.application.engine_options
    rows = await ctx.use(lambda conn: engine.compute(conn, "officer", windows, scope=scope, options=options))
    return {(row["group_key"], row["calculation_date"]): snapshot_from_row(row, key_column="group_key", cents=True)
            for row in rows}


async def _without_loans_in_scope(ctx: RequestContext, officers: Sequence[Any], window: Window
                                  ) -> dict[str, MetricSnapshot]:
    """Empty snapshots of the ``officers`` (rows with officer_id and had_float_gap) that have a
    loan disbursed by D: they have a daily row, so a scoped caller's list shows them, with no loan
    of theirs in its scope to count."""
    if not officers:
        return {}
    rows = await ctx.fetch(
        "SELECT DISTINCT officer_id FROM loan_state WHERE officer_id = ANY($1::text[]) AND disbursement_date <= $2",
        [row["officer_id"] for row in officers], window.end,
    )
    with_loans = {row["officer_id"] for row in rows}
    float_gaps = {row["officer_id"]: bool(row["had_float_gap"]) for row in officers if row["officer_id"] in with_loans}
    options = ctx.application.engine_options
    return await ctx.use(lambda conn: empty_snapshots(conn, float_gaps, window.start, window.end, options=options))


async def history_snapshots(
    ctx: RequestContext, officer_ids: Sequence[str], start: date, end: date, *, loans_in_scope_only: bool
) -> dict[str, list[MetricSnapshot]]:
    """Each officer's daily snapshots between the dates, oldest first: the days of its daily rows
    (for ``loans_in_scope_only``, those with a loan of the caller's scope disbursed), counting the
    loans in the caller's scope only (SPEC §10)."""
    bands = ctx.application.settings.bands
    found: dict[str, list[MetricSnapshot]] = {key: [] for key in officer_ids}
    if not ctx.principal.scoped:
        rows = await ctx.fetch(
            f"SELECT m.officer_id, {daily_snapshot_columns('m', bands)} FROM officer_metrics_daily m "
            "WHERE m.officer_id = ANY($1::text[]) AND m.calculation_date BETWEEN $2 AND $3 "
            "ORDER BY m.calculation_date",
            list(officer_ids), start, end,
        )
        for row in rows:
            found[row["officer_id"]].append(snapshot_from_row(row, key_column="officer_id", cents=True))
        return found
    params = Params()
    ids, first, last = params.add(list(officer_ids), "text[]"), params.add(start, "date"), params.add(end, "date")
    ctes = scoped_daily_sql(ctx.principal, params, ctx.application.engine_options,
                            officers=lambda column: f"{column} = ANY({ids})",
                            days=lambda column: f"{column} BETWEEN {first} AND {last}")
    rows = await ctx.fetch(
        f"""WITH {ctes}
        SELECT m.officer_id, m.scoped_loans, k.calculation_date IS NOT NULL AS kept,
               {daily_snapshot_columns('m', bands)}
        FROM scoped_daily m LEFT JOIN metric_calculated_dates k ON k.calculation_date = m.calculation_date
        ORDER BY m.calculation_date""",
        *params.values,
    )
    # a day whose fine groups are missing (removed by hand) is computed by the engine, not read as zeros
    unkept = sorted({row["calculation_date"] for row in rows if not row["kept"]})
    computed = await _engine(ctx, officer_ids, [(day.replace(day=1), day) for day in unkept]) if unkept else {}
    if not loans_in_scope_only:  # an officer of the scope without loans in it that day: zeros
        missing = [row for row in rows if not row["kept"] and (row["officer_id"], row["calculation_date"]) not in
                   computed]
        computed.update(await _empty_on_days(ctx, missing))
    for row in rows:
        key, day = row["officer_id"], row["calculation_date"]
        if not row["kept"]:
            if (key, day) in computed:
                found[key].append(computed[(key, day)])
        elif not loans_in_scope_only or row["scoped_loans"] > 0:
            found[key].append(snapshot_from_row(row, key_column="officer_id", cents=True))
    return found


async def _empty_on_days(ctx: RequestContext, rows: Sequence[Any]) -> dict[tuple[str, date], MetricSnapshot]:
    """Empty snapshots of (officer_id, calculation_date, had_float_gap) rows, one statement per day."""
    by_day: dict[date, dict[str, bool]] = {}
    for row in rows:
        by_day.setdefault(row["calculation_date"], {})[row["officer_id"]] = bool(row["had_float_gap"])
    options = ctx.application.engine_options
    out: dict[tuple[str, date], MetricSnapshot] = {}
    for day, float_gaps in by_day.items():
        snapshots = await ctx.use(functools.partial(empty_snapshots, float_gaps=float_gaps, start=day.replace(day=1),
                                                    end=day, options=options))
        out.update({(key, day): snapshot for key, snapshot in snapshots.items()})
    return out


@dataclass(frozen=True)
class FoundOfficer:
    """One officer's row (``OFFICER_COLUMNS``, ``AUDIT_COLUMNS``) and, when the same statement
    read them, its metrics of the default window (``window``)."""

    row: asyncpg.Record
    metrics: MetricSnapshot | None = None
    window: Window | None = None


async def get_officer(ctx: RequestContext, officer_id: str) -> FoundOfficer | None:
    """The officer, when in the caller's scope. For an unscoped caller whose request has not yet
    looked up the latest calculated date, one statement also reads that date and the officer's
    daily row (what ``metrics_for`` would read for the default window): an officer page then
    costs one round trip fewer for the date and one for its metrics."""
    params = Params()
    where = [f"o.officer_id = {params.add(officer_id)}",
             scope_predicate(ctx.principal, params, branch="o.branch", region="o.region")]
    if ctx.principal.scoped or "latest" in ctx.memo:
        row = await ctx.fetchrow(
            f"SELECT {OFFICER_COLUMNS}, {AUDIT_COLUMNS} FROM officers o "
            f"LEFT JOIN audit_tracking a ON a.officer_id = o.officer_id WHERE {' AND '.join(where)}",
            *params.values,
        )
        return FoundOfficer(row) if row is not None else None
    business_date = params.add(ctx.business_date, "date")
    bands = ctx.application.settings.bands
    row = await ctx.fetchrow(
        f"""WITH latest AS (SELECT ({latest_calculated_sql(business_date)}) AS calculated)
            SELECT latest.calculated, m.officer_id IS NOT NULL AS has_metrics, {OFFICER_COLUMNS}, {AUDIT_COLUMNS},
                   {daily_snapshot_columns('m', bands, float_gap=False)}
            FROM officers o CROSS JOIN latest
            LEFT JOIN audit_tracking a ON a.officer_id = o.officer_id
            LEFT JOIN officer_metrics_daily m ON m.officer_id = o.officer_id AND m.calculation_date = latest.calculated
            WHERE {' AND '.join(where)}""",
        *params.values,
    )
    if row is None:
        return None
    latest = remember_latest(ctx, row["calculated"])
    if not row["has_metrics"]:  # no daily row of the officer's that day: metrics_for decides
        return FoundOfficer(row)
    return FoundOfficer(row, snapshot_from_row(row, key_column="officer_id", cents=True),
                        Window(latest.replace(day=1), latest))


async def audit_rows(ctx: RequestContext, officer_ids: list[str]) -> list[asyncpg.Record]:
    """The officers' audit records (``AUDIT_COLUMNS``, defaults when none exists), in the order asked."""
    rows = await ctx.fetch(
        f"SELECT o.officer_id, {AUDIT_COLUMNS} FROM officers o "
        "LEFT JOIN audit_tracking a ON a.officer_id = o.officer_id WHERE o.officer_id = ANY($1::text[])",
        officer_ids,
    )
    found = {row["officer_id"]: row for row in rows}
    return [found[key] for key in officer_ids]


async def officer_metrics(
    ctx: RequestContext, officer_id: str, period: Period | None, *, had_float_gap: bool,
    prefetched: MetricSnapshot | None = None, prefetched_window: tuple[date, date] | None = None,
) -> MetricSnapshot:
    """The officer's metrics over ``period`` (batched across the officers of a page), or the
    ``prefetched`` ones when they are that window's; an officer without loans in play gets zeros."""
    window = await resolve_window(ctx, period)
    if prefetched is not None and (period is None or prefetched_window == window.key):
        return prefetched
    snapshot = await ctx.loaders.officer_metrics.load((officer_id, window.start, window.end))
    if snapshot is None:
        snapshot = await ctx.use(lambda conn: empty_snapshot(
            conn, officer_id, window.start, window.end, had_float_gap=had_float_gap,
            options=ctx.application.engine_options))
    return snapshot


async def officer_history(ctx: RequestContext, officer_id: str, start: date, end: date, *,
                          outside_scope: bool = False) -> list[MetricSnapshot]:
    if start > end:
        raise bad_request("startDate is after endDate", argument="startDate")
    if (end - start).days > 366:  # one row per day: the length is the cost
        raise bad_request("history spans at most 366 days", argument="endDate")
    loader = ctx.loaders.scoped_officer_history if outside_scope else ctx.loaders.officer_history
    return await loader.load((officer_id, start, end))
