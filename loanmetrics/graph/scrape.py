"""``GET /metrics``: the Prometheus exposition of this process's telemetry (SPEC §11)."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import Response

from loanmetrics.graph.auth import require_role
from loanmetrics.graph.context import application_of, principal_of
from loanmetrics.principal import READ_ROLES


async def metrics(request: Request) -> Response:
    """Any authenticated role but etl; the data-freshness gauge is refreshed at scrape time."""
    require_role(principal_of(request), READ_ROLES)
    application = application_of(request)
    if application.database is not None:
        await application.telemetry.refresh_freshness(application.database)
    return Response(application.telemetry.render(), media_type=CONTENT_TYPE_LATEST)
