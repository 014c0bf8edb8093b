"""``/healthz`` (process up) and ``/readyz`` (database, migrations, Redis) for load balancers."""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import Response

from loanmetrics.db import migrate
from loanmetrics.graph.context import application_of
from loanmetrics.graph.responses import OrjsonResponse


async def healthz(request: Request) -> Response:
    return OrjsonResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    application = application_of(request)
    checks: dict[str, str] = {}
    try:
        async with asyncio.timeout(2):
            checks["migrations"] = "current" if await migrate.is_current(application.db.engine) else "pending"
            checks["database"] = "ok"
    except Exception as exc:  # any failure means "not ready", with the reason
        checks["database"] = f"unavailable: {type(exc).__name__}"
    if application.settings.redis_url:
        checks["redis"] = "ok" if await application.redis_ok() else "unavailable"
    ready = (
        checks.get("database") == "ok"
        and checks.get("migrations") == "current"
        and checks.get("redis", "ok") == "ok"
    )
    body = {"status": "ready" if ready else "not ready", "checks": checks}
    return OrjsonResponse(body, status_code=200 if ready else 503)
