"""The ASGI application factory: routes, authentication, request ids and error masking.

``create_app`` takes an explicit ``Application``; ``create_app_from_env`` is the uvicorn factory
for worker processes, which read their settings from the environment.
"""

from __future__ import annotations

import gc
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from sqlalchemy.exc import DBAPIError, OperationalError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from loanmetrics.application import Application, check_serving, create_application
from loanmetrics.graph.auth import AuthError, TokenVerifier
from loanmetrics.graph.endpoint import graphql_endpoint
from loanmetrics.graph.etl import etl_sync
from loanmetrics.graph.health import healthz, readyz
from loanmetrics.graph.pages import API_DOCS_PATH, api_docs, is_public_page, landing, static_mount
from loanmetrics.graph.responses import error_response
from loanmetrics.graph.schema import build_schema
from loanmetrics.graph.scrape import metrics
from loanmetrics.graph.telemetry import Telemetry, operation_of
from loanmetrics.logs import configure_logging, request_id_var
from loanmetrics.resolvers.rest import routes as rest_routes
from loanmetrics.scheduler.service import SchedulerService
from loanmetrics.settings import load_settings

log = logging.getLogger(__name__)

PUBLIC_PATHS = frozenset({"/healthz"})
UNMATCHED_ROUTE = "unmatched"
Startup = Callable[[Application], Awaitable[None]]


class RequestContextMiddleware:
    """Request id, authentication (401 before anything else runs), masked 5xx errors and the
    request-latency sample (route template, GraphQL operation) of every HTTP request."""

    def __init__(
        self, app: ASGIApp, verifier: TokenVerifier, telemetry: Telemetry, known_paths: frozenset[str] = frozenset()
    ) -> None:
        self.app = app
        self.verifier = verifier
        self.telemetry = telemetry
        self.known_paths = known_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        request_id = headers.get(b"x-request-id", b"").decode("latin-1")[:64] or os.urandom(16).hex()
        token = request_id_var.set(request_id)
        scope["request_id"] = request_id
        started = False
        began = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message.setdefault("headers", []).append((b"x-request-id", request_id.encode()))
            await send(message)

        try:
            if scope["path"] not in PUBLIC_PATHS and not is_public_page(scope):
                authorization = headers.get(b"authorization", b"").decode("latin-1") or None
                scope["principal"] = self.verifier.authenticate(authorization)
            await self.app(scope, receive, send_with_id)
        except AuthError as exc:
            await _auth_error(exc)(scope, receive, send_with_id)
        except Exception as exc:
            if started:
                raise
            await _masked_error(exc, request_id)(scope, receive, send_with_id)
        finally:
            request_id_var.reset(token)
            self.telemetry.observe_request(self._route(scope), operation_of(scope), time.perf_counter() - began)

    def _route(self, scope: Scope) -> str:
        """The matched route's path template; a known path when routing never ran (401); else a
        fixed label, so scanners cannot grow the label set."""
        path = getattr(scope.get("route"), "path", None)
        if isinstance(path, str):
            return path
        return scope["path"] if scope["path"] in self.known_paths else UNMATCHED_ROUTE


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


def is_database_unavailable(exc: BaseException) -> bool:
    if isinstance(exc, OperationalError | ConnectionError | OSError | asyncpg.exceptions.ConnectionDoesNotExistError):
        return True
    if isinstance(exc, asyncpg.exceptions.CannotConnectNowError | asyncpg.exceptions.AdminShutdownError):
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    cause = exc.__cause__ or exc.__context__
    return cause is not None and cause is not exc and is_database_unavailable(cause)


async def _auth_exception_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AuthError)
    return _auth_error(exc)


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
    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers={AuthError: _auth_exception_handler})
    app.state.application = application
    app.state.schema = build_schema(application.settings)
    app.add_middleware(
        RequestContextMiddleware,
        verifier=TokenVerifier(application.settings),
        telemetry=application.telemetry,
        known_paths=frozenset(route.path for route in routes if isinstance(route, Route)),
    )
    return app


def create_app_from_env() -> Starlette:
    """uvicorn ``--factory`` entry point for worker processes."""
    settings = load_settings()
    configure_logging(settings.log_level, settings.log_json)
    check_serving(settings, settings.host)
    return create_app(create_application(settings))
