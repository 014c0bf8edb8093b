"""``/healthz`` (process up) and ``/readyz`` (database, migrations, Redis) for load balancers.

Both are public (SPEC §10: probes carry no token). Readiness follows what requests need: the
database reachable and its schema current (the head revision, and every SQL file of ``db/sql/``
applied at the shipped version: a release that changes an ``lm_*`` function needs ``migrate`` as
much as one that adds a column). Redis is reported, as ``degraded`` when it is
down or slower than ``redis_timeout_ms``, without failing readiness: requests are served from
the database then, and a load balancer gating on Redis would pull every replica at once.
A probe is two short statements on one pooled connection and a Redis PING: a few milliseconds,
nothing logged.
"""

from __future__ import annotations

import asyncio

import asyncpg
from starlette.requests import Request
from starlette.responses import Response

from loanmetrics.db import migrate
from loanmetrics.graph.context import application_of
from loanmetrics.graph.responses import OrjsonResponse

DATABASE_SECONDS = 2.0


async def healthz(request: Request) -> Response:
    return OrjsonResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    application = application_of(request)
    checks: dict[str, str] = {}
    try:
        async with asyncio.timeout(DATABASE_SECONDS), application.db.raw_session() as conn:
            try:
                state = await conn.fetchrow(migrate.STATE_SQL)
            except asyncpg.exceptions.UndefinedTableError:  # never migrated (or a squashed development schema)
                state = None
        checks["database"] = "ok"
        current = state is not None and migrate.is_current_state(state["revisions"], state["sql_files"])
        checks["migrations"] = "current" if current else "pending"
    except Exception as exc:  # any failure means "not ready", with the reason
        checks["database"] = f"unavailable: {type(exc).__name__}"
    if application.settings.redis_url:
        checks["redis"] = "ok" if await _redis_answers(request) else "degraded"
    ready = checks["database"] == "ok" and checks.get("migrations") == "current"
    body = {"status": "ready" if ready else "not ready", "checks": checks}
    return OrjsonResponse(body, status_code=200 if ready else 503)


async def _redis_answers(request: Request) -> bool:
    application = application_of(request)
    try:
        async with asyncio.timeout(application.settings.redis_timeout_ms / 1000):
            return await application.redis_ok()
    except TimeoutError:
        return False
