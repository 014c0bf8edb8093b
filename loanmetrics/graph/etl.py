"""``POST /api/v1/etl/sync``: the HTTP face of ingestion (SPEC §4)."""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import Response

from loanmetrics.db.ingestion.payload import PayloadError, parse_body
from loanmetrics.db.ingestion.service import ingest
from loanmetrics.graph.auth import require_role
from loanmetrics.graph.context import application_of, principal_of
from loanmetrics.graph.responses import OrjsonResponse, error_response
from loanmetrics.principal import ETL_ROLES

log = logging.getLogger(__name__)


async def read_limited_body(request: Request, limit: int) -> bytes:
    """The request body, refusing (413) before reading past ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise PayloadError("Content-Length must be a number of bytes")
        if int(declared) > limit:
            raise PayloadError(f"body exceeds the {limit}-byte limit: split the batch", status=413)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadError(f"body exceeds the {limit}-byte limit: split the batch", status=413)
        chunks.append(chunk)
    return b"".join(chunks)


async def etl_sync(request: Request) -> Response:
    """Authenticate and authorise first, then read, validate and ingest one batch."""
    require_role(principal_of(request), ETL_ROLES)
    application = application_of(request)
    settings = application.settings
    try:
        body = await read_limited_body(request, settings.max_body_bytes)
        payload = parse_body(body, max_records=settings.max_batch_records)
    except PayloadError as exc:
        code = "PAYLOAD_TOO_LARGE" if exc.status == 413 else "VALIDATION_ERROR"
        return error_response(exc.status, code, exc.message, {"field": exc.field} if exc.field else None)
    result = await ingest(application.db, payload, application.clock.today())
    application.telemetry.count_etl(result.results)
    # The batch's generation bump committed with it. The Redis mirror follows here after every
    # batch, changed or not: a retry of a batch whose first answer was lost brings it up to date.
    await application.after_commit()
    log.info(
        "etl batch ingested",
        extra={"sync_id": result.sync_id, "status": result.status, "loans_affected": result.loans_affected},
    )
    return OrjsonResponse(result.body(), status_code=result.http_status)
