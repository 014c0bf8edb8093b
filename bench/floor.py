"""The floor of the API benchmark (SPEC §12): one asyncpg fetch of a page's rows, encoded with orjson.

A bare Starlette app with one route per ``bench.api`` scenario. Each route runs one statement that
returns the same rows the GraphQL query returns (same date, filter, order and page size, the
fields the REST rows carry) and encodes them with orjson: no authentication, no GraphQL, no
per-field work. ``bench.api`` serves it with uvicorn (one worker) and drives it with the same load
generator as the real server, so the ratio of the two is the cost of everything the product adds.

Configuration from the environment: ``BENCH_FLOOR_DATABASE_URL`` (required), ``BENCH_FLOOR_TODAY``
(the business date for ``days_late``, ISO), ``BENCH_FLOOR_POOL_SIZE`` (default 10, plus as many
overflow connections: the product's pool). Run by hand with::

    BENCH_FLOOR_DATABASE_URL=postgresql://... .venv/bin/uvicorn bench.floor:create_app --factory
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date
from typing import Any

import asyncpg
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

# the product's session settings (db/engine.py), so both plan and execute alike
SERVER_SETTINGS = {"jit": "off", "random_page_cost": "1.1", "application_name": "lmbench-floor"}

LATEST = "(SELECT max(calculation_date) FROM officer_metrics_daily)"

METRIC_COLUMNS = """
    m.risk_score, m.risk_band, m.dqi, m.fimr::float8 AS fimr, m.all_time_fimr::float8 AS all_time_fimr,
    m.d06_slippage::float8 AS d06_slippage, m.roll::float8 AS roll, m.frr::float8 AS frr, m.ayr::float8 AS ayr,
    m.porr::float8 AS porr, coalesce(m.channel_purity, 1)::float8 AS channel_purity,
    m.total_portfolio::float8 AS total_portfolio, m.overdue_15d_amount::float8 AS overdue_15d_amount,
    m.active_loans, m.total_yield::float8 AS total_yield"""

OFFICER_LIST_SQL = f"""
    SELECT count(*) OVER () AS total_count,
           o.officer_id, o.officer_name, o.region, o.branch, o.primary_channel, {METRIC_COLUMNS},
           a.assignee_name, coalesce(a.audit_status, 'Not Assigned') AS audit_status, a.last_audit_date,
           rank() OVER (ORDER BY m.risk_score DESC) AS rank
    FROM officer_metrics_daily m
    JOIN officers o ON o.officer_id = m.officer_id
    LEFT JOIN audit_tracking a ON a.officer_id = m.officer_id
    WHERE m.calculation_date = {LATEST}
    ORDER BY m.risk_score DESC, o.officer_id
    LIMIT 50
"""

OFFICER_KEYS = (
    "officer_id", "officer_name", "officer_phone", "region", "branch", "employment_status", "primary_channel",
    "risk_score", "risk_band", "dqi", "dqi_band", "fimr", "all_time_fimr", "d06_slippage", "roll", "frr", "ayr",
    "porr", "channel_purity", "total_portfolio", "overdue_15d_amount", "active_loans", "total_yield",
    "assignee_name", "audit_status", "last_audit_date", "audit_notes", "audit_version", "loans_total",
)
LOAN_KEYS = ("loan_id", "customer_name", "current_dpd", "total_outstanding", "status", "disbursement_date",
             "loan_amount")

OFFICER_DETAIL_SQL = f"""
    SELECT o.officer_id, o.officer_name, o.officer_phone, o.region, o.branch, o.employment_status,
           o.primary_channel, {METRIC_COLUMNS}, m.dqi_band,
           a.assignee_name, coalesce(a.audit_status, 'Not Assigned') AS audit_status, a.last_audit_date,
           a.audit_notes, coalesce(a.version, 0) AS audit_version,
           l.loan_id, l.customer_name, l.current_dpd, l.total_outstanding, l.status, l.disbursement_date,
           l.loan_amount, l.loans_total
    FROM officers o
    LEFT JOIN officer_metrics_daily m ON m.officer_id = o.officer_id AND m.calculation_date = {LATEST}
    LEFT JOIN audit_tracking a ON a.officer_id = o.officer_id
    LEFT JOIN LATERAL (
        SELECT l.loan_id, l.customer_name, l.current_dpd, l.total_outstanding::float8 AS total_outstanding,
               l.status, l.disbursement_date, l.loan_amount::float8 AS loan_amount,
               count(*) OVER () AS loans_total
        FROM loans l
        WHERE l.officer_id = o.officer_id
        ORDER BY l.current_dpd DESC NULLS LAST, l.total_outstanding DESC NULLS LAST, l.loan_id
        LIMIT 20
    ) l ON TRUE
    WHERE o.officer_id = $1
    ORDER BY l.current_dpd DESC, l.total_outstanding DESC, l.loan_id
"""

BRANCHES_SQL = f"""
    SELECT m.branch, m.region, m.total_officers, {METRIC_COLUMNS}
    FROM branch_metrics_daily m
    WHERE m.calculation_date = {LATEST}
    ORDER BY m.branch
"""

FIMR_SQL = """
    -- the product's order (NULLS LAST), which its partial indexes serve
    -- the total from the same per-group counts the product keeps (migration 0010)
    SELECT (SELECT coalesce(sum(fimr_count), 0)::int8 FROM loan_tag_counts) AS total_count,
           l.loan_id, l.customer_name, l.customer_phone, l.officer_id, l.officer_name, l.region, l.branch,
           l.disbursement_date, l.loan_amount::float8 AS loan_amount, l.first_payment_due_date,
           l.first_payment_received_date,
           CASE WHEN l.first_payment_due_date IS NULL THEN NULL
                WHEN l.first_payment_received_date IS NOT NULL
                     THEN l.first_payment_received_date - l.first_payment_due_date
                ELSE $1::date - l.first_payment_due_date END AS days_late,
           l.fimr_tagged, l.current_dpd, l.status, l.total_outstanding::float8 AS outstanding_balance
    FROM loans l
    WHERE l.fimr_tagged
    ORDER BY l.disbursement_date DESC NULLS LAST, l.total_outstanding DESC NULLS LAST, l.loan_id
    LIMIT 50
"""

JSON = "application/json"


def mask_phone(phone: str | None) -> str | None:
    """As the product masks phones for non-admin callers (the benchmark's token is a viewer)."""
    if not phone:
        return phone
    if len(phone) <= 7:
        return "*" * len(phone)
    return phone[:4] + "*" * (len(phone) - 7) + phone[-3:]


def _json(document: Any) -> Response:
    return Response(orjson.dumps(document), media_type=JSON)


def _page(records: list[asyncpg.Record]) -> dict[str, Any]:
    total = records[0]["total_count"] if records else 0
    return {"totalCount": total, "nodes": [dict(record) for record in records]}


def _pool(request: Request) -> asyncpg.Pool:
    pool: asyncpg.Pool = request.app.state.pool
    return pool


async def healthz(request: Request) -> Response:
    return Response(b'{"status":"ok"}', media_type=JSON)


async def officers(request: Request) -> Response:
    records = await _pool(request).fetch(OFFICER_LIST_SQL)
    return _json({"data": {"officers": _page(records)}})


async def officers_cached(request: Request) -> Response:
    """The cache-hit floor: the officer page's bytes, encoded once, served from memory."""
    body: bytes | None = request.app.state.cached_officers
    if body is None:
        records = await _pool(request).fetch(OFFICER_LIST_SQL)
        body = request.app.state.cached_officers = orjson.dumps({"data": {"officers": _page(records)}})
    return Response(body, media_type=JSON)


async def officer_detail(request: Request) -> Response:
    records = await _pool(request).fetch(OFFICER_DETAIL_SQL, request.path_params["officer_id"])
    if not records:
        return _json({"data": {"officer": None}})
    head = records[0]
    officer = {key: head[key] for key in OFFICER_KEYS}
    officer["loans"] = [{key: record[key] for key in LOAN_KEYS} for record in records if record["loan_id"] is not None]
    return _json({"data": {"officer": officer}})


async def branches(request: Request) -> Response:
    records = await _pool(request).fetch(BRANCHES_SQL)
    return _json({"data": {"branches": [dict(record) for record in records]}})


async def fimr_drilldown(request: Request) -> Response:
    records = await _pool(request).fetch(FIMR_SQL, request.app.state.today)
    page = _page(records)
    for node in page["nodes"]:
        node["customer_phone"] = mask_phone(node["customer_phone"])
    return _json({"data": {"fimrDrilldown": page}})


def create_app() -> Starlette:
    url = os.environ["BENCH_FLOOR_DATABASE_URL"]
    today = date.fromisoformat(os.environ.get("BENCH_FLOOR_TODAY") or date.today().isoformat())
    size = int(os.environ.get("BENCH_FLOOR_POOL_SIZE", "10"))

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        app.state.pool = await asyncpg.create_pool(
            url, min_size=size, max_size=2 * size, server_settings=dict(SERVER_SETTINGS)
        )
        try:
            yield
        finally:
            await app.state.pool.close()

    app = Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/officers", officers),
            Route("/officers/cached", officers_cached),
            Route("/officers/{officer_id}", officer_detail),
            Route("/branches", branches),
            Route("/fimr-drilldown", fimr_drilldown),
        ],
        lifespan=lifespan,
    )
    app.state.today = today
    app.state.cached_officers = None
    return app
