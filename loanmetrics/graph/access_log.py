"""The outermost middleware: request id, one access log line and one latency sample per request.

Every HTTP request, whatever answers it (a route, the 401 of the authentication middleware, a CORS
preflight, a 404), gets an ``X-Request-ID`` (the client's, when it sent one) and exactly one JSON
line on the ``loanmetrics.access`` logger: method, path, status, duration, GraphQL operation,
caller's role and request id (SPEC §11). uvicorn's own access log is off (``loanmetrics serve``).
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from loanmetrics.graph.telemetry import Telemetry, operation_of
from loanmetrics.logs import request_id_var

ACCESS_LOGGER = "loanmetrics.access"
UNMATCHED_ROUTE = "unmatched"
MAX_REQUEST_ID = 64


class AccessMiddleware:
    """Assigns the request id, then records the request once its response is done."""

    def __init__(self, app: ASGIApp, telemetry: Telemetry, known_paths: frozenset[str] = frozenset()) -> None:
        self.app = app
        self.telemetry = telemetry
        self.known_paths = known_paths
        self.log = logging.getLogger(ACCESS_LOGGER)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        scope["request_id"] = request_id
        token = request_id_var.set(request_id)
        status = 500  # what the server answers when the app raises before responding
        header = (b"x-request-id", request_id.encode("latin-1"))

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        began = time.perf_counter()
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - began
            operation = operation_of(scope)
            self.telemetry.observe_request(self._route(scope), scope["method"], status, operation, seconds)
            if self.log.isEnabledFor(logging.INFO):
                self.log.info("%s %s %d", scope["method"], scope["path"], status, extra=_fields(
                    scope, status, seconds, operation, request_id))
            request_id_var.reset(token)

    def _route(self, scope: Scope) -> str:
        """The matched route's path template; a known path when routing never ran (401); else a
        fixed label, so scanners cannot grow the label set."""
        path = getattr(scope.get("route"), "path", None)
        if isinstance(path, str):
            return path
        return scope["path"] if scope["path"] in self.known_paths else UNMATCHED_ROUTE


def _request_id(scope: Scope) -> str:
    """The client's X-Request-ID (printable ASCII, at most 64 characters), else a random one."""
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            text: str = value.decode("latin-1")[:MAX_REQUEST_ID]
            if text and text.isprintable() and text.isascii():
                return text
            break
    return os.urandom(16).hex()


def _fields(scope: Scope, status: int, seconds: float, operation: str, request_id: str) -> dict[str, Any]:
    principal = scope.get("principal")
    return {
        "method": scope["method"],
        "path": scope["path"],
        "status": status,
        "duration_ms": round(seconds * 1000, 3),
        "operation": operation or None,
        "role": str(principal.role) if principal is not None else None,
        "request_id": request_id,
    }
