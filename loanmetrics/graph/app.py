"""The ASGI application factory: routes, authentication, request ids and error masking.

``create_app`` takes an explicit ``Application``; ``create_app_from_env`` is the uvicorn factory
for worker processes, which read their settings from the environment.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from loanmetrics.application import Application, check_serving, create_application
from loanmetrics.db.failures import is_database_unavailable
from loanmetrics.graph.access_log import AccessMiddleware
from loanmetrics.graph.auth import AuthError, TokenVerifier
from loanmetrics.graph.endpoint import graphql_endpoint
from loanmetrics.graph.etl import etl_sync
from loanmetrics.graph.health import healthz, readyz
from loanmetrics.graph.http_middleware import add_http_middleware
from loanmetrics.graph.pages import API_DOCS_PATH, OPENAPI_PATH, api_docs, is_public_page, landing, static_mount
from loanmetrics.graph.request_body import TrackedBody
from loanmetrics.graph.responses import error_response
from loanmetrics.graph.rest import routes as rest_routes
from loanmetrics.graph.schema import build_schema
from loanmetrics.graph.scrape import metrics
from loanmetrics.logs import configure_logging
from loanmetrics.scheduler.service import SchedulerService
from loanmetrics.settings import load_settings

log = logging.getLogger(__name__)

PUBLIC_PATHS = frozenset({"/healthz", "/readyz", OPENAPI_PATH})
"""Routes that return no data and need no token (SPEC §10): the probes and the API's own
description. Every other path authenticates first (401 before anything else runs)."""
Startup = Callable[[Application], Awaitable[None]]


class RequestContextMiddleware:
    """Authentication (401 before anything else runs) and masked 5xx errors of every HTTP request;
    the request id, access log line and latency sample come from ``AccessMiddleware`` outside it."""

    def __init__(self, app: ASGIApp, verifier: TokenVerifier, max_body_bytes: int = 64 * 1024 * 1024) -> None:
        self.app = app
        self.verifier = verifier
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id: str = scope.get("request_id", "")
        started = False
        body = TrackedBody(scope, receive, self.max_body_bytes)
        receive = body.receive

        async def send_started(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                if message["status"] >= 400:
                    await body.drain()  # so the client reads this answer, not a reset (SPEC §10)
            await send(message)

        try:
            if scope["path"] not in PUBLIC_PATHS and not is_public_page(scope):
                authorization = _header(scope, b"authorization")
                scope["principal"] = self.verifier.authenticate(authorization)
            await self.app(scope, receive, send_started)
        except AuthError as exc:
            await _auth_error(exc)(scope, receive, send_started)
        except Exception as exc:
            if started:
                raise
            await _masked_error(exc, request_id)(scope, receive, send_started)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1") or None
    return None


def _auth_error(exc: AuthError) -> Response:
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
    return error_response(exc.status, exc.code, exc.message, headers=headers)


def _masked_error(exc: Exception, request_id: str) -> Response:
    """Clients get a code and the request id; the log gets the full detail under the same id."""
    if is_database_unavailable(exc):
        log.warning("database unavailable", exc_info=exc)
        return error_response(
            503, "SERVICE_UNAVAILABLE", "the database is unavailable; retry shortly", {"request_id": request_id}
        )
    log.error("unhandled error", exc_info=exc)
    return error_response(500, "INTERNAL_ERROR", "internal error", {"request_id": request_id})


async def _auth_exception_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AuthError)
    return _auth_error(exc)


REST_PREFIX = "/api/v1/"


async def _http_exception_handler(request: Request, exc: Exception) -> Response:
    """Starlette's own 404 (no route) and 405 (a route without that method): under /api/v1 in the
    REST error envelope, like every other REST error; elsewhere Starlette's plain text as before."""
    assert isinstance(exc, HTTPException)
    headers = dict(exc.headers or {})
    path = request.url.path
    if not (path + "/").startswith(REST_PREFIX) or exc.status_code not in (404, 405):
        if exc.status_code in {204, 304}:
            return Response(status_code=exc.status_code, headers=headers)
        return PlainTextResponse(exc.detail, status_code=exc.status_code, headers=headers)
    if exc.status_code == 404:
        return error_response(404, "NOT_FOUND", f"no route {path[:200]}", {"path": path[:200]}, headers=headers)
    allowed = sorted(method.strip() for method in headers.get("Allow", "").split(",") if method.strip())
    return error_response(405, "METHOD_NOT_ALLOWED", f"use {', '.join(allowed)}", {"allowed": allowed},
                          headers=headers)


def create_app(application: Application, *, on_startup: list[Startup] | None = None) -> Starlette:
    """Build the ASGI app around an unstarted application; the lifespan starts and stops it."""
    hooks = list(on_startup or [])

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        await application.start()
        scheduler = SchedulerService(application) if application.settings.scheduler_enabled else None
        if scheduler is not None:
            scheduler.start()
        for hook in hooks:
            await hook(application)
        # The schema, modules and pools live as long as the process: moved out of the collector's
        # reach, they no longer make every full collection walk them (a pause of tens of ms that
        # showed as the p99 of cached requests).
        gc.freeze()
        try:
            yield {}
        finally:
            if scheduler is not None:
                await scheduler.stop()
            await application.stop()

    routes: list[BaseRoute] = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/api/v1/etl/sync", etl_sync, methods=["POST"]),
        Route("/metrics", metrics, methods=["GET"]),
        Route("/graphql", graphql_endpoint, methods=["GET", "POST"]),
        Route("/", landing, methods=["GET"]),
        Route(API_DOCS_PATH, api_docs, methods=["GET"]),
        static_mount(),
        *rest_routes,
    ]
    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers={
        AuthError: _auth_exception_handler, HTTPException: _http_exception_handler})
    app.state.application = application
    app.state.schema = build_schema(application.settings)
    app.add_middleware(RequestContextMiddleware, verifier=TokenVerifier(application.settings),
                       max_body_bytes=application.settings.max_body_bytes)
    add_http_middleware(app, application.settings)
    app.add_middleware(AccessMiddleware, telemetry=application.telemetry,
                       known_paths=frozenset(route.path for route in routes if isinstance(route, Route)))
    return app


def create_app_from_env() -> Starlette:
    """uvicorn ``--factory`` entry point for worker processes."""
    settings = load_settings()
    configure_logging(settings.log_level, settings.log_json)
    check_serving(settings, settings.host)
    return create_app(create_application(settings))
