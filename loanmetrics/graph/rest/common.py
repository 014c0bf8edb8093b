"""The REST shim's plumbing (SPEC §7): route specs, the request pipeline, GraphQL execution and
the reshaping of its answers and errors into the original envelope.

Every route is an ``Endpoint``: its parameters, body fields, response shape and handler, declared
once and used both to serve and to document (``openapi.py``). A request goes: authenticated by the
middleware -> role check (SPEC §10: before anything is validated) -> path, query and body parsing
-> the handler, which runs constant GraphQL documents through ``execute_document`` (the same role
checks, limits, cache, scope and masking as ``/graphql``) -> ``{"success", "data", "meta"}``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from loanmetrics.db.ingestion.payload import PayloadError
from loanmetrics.graph.auth import require_role
from loanmetrics.graph.context import application_of, principal_of
from loanmetrics.graph.endpoint import execute_document
from loanmetrics.graph.etl import read_limited_body
from loanmetrics.graph.responses import OrjsonResponse, error_response
from loanmetrics.graph.rest.params import (
    Param,
    RestError,
    check_business_date,
    parse_body,
    parse_path,
    parse_query,
)
from loanmetrics.graph.rest.shapes import Json, Out
from loanmetrics.graph.telemetry import label_operation
from loanmetrics.principal import READ_ROLES, Principal, Role
from loanmetrics.resolvers.officer_json import RowKey

if TYPE_CHECKING:
    import strawberry

    from loanmetrics.application import Application
    from loanmetrics.graph.rest.csv_export import CsvExport

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024
HTTP_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
# GraphQL error codes (extensions.code) -> HTTP status; an error without a code is a GraphQL
# validation or variable-coercion failure, i.e. the request's fault.
STATUS_BY_CODE = {
    "BAD_REQUEST": 400,
    "GRAPHQL_PARSE_FAILED": 400,
    "GRAPHQL_VALIDATION_FAILED": 400,
    "BAD_USER_INPUT": 400,
    "QUERY_TOO_COSTLY": 400,
    "QUERY_TOO_COMPLEX": 400,
    "UNAUTHENTICATED": 401,
    "FORBIDDEN": 403,
    "NOT_FOUND": 404,
    "METHOD_NOT_ALLOWED": 405,
    "CONFLICT": 409,
    "PAYLOAD_TOO_LARGE": 413,
    "INTERNAL": 500,
    "SERVICE_UNAVAILABLE": 503,
}


@dataclass(frozen=True)
class Call:
    """One parsed REST request, as a handler sees it."""

    request: Request
    principal: Principal
    path: dict[str, Any]
    query: dict[str, Any]
    body: dict[str, Any]
    csv: bool = False
    """Answering with CSV: handlers return plain rows (no prebuilt JSON)."""

    @property
    def application(self) -> Application:
        return application_of(self.request)

    @property
    def schema(self) -> strawberry.Schema:
        schema: strawberry.Schema = self.request.app.state.schema
        return schema

    async def graphql(self, document: str, operation: str, variables: Mapping[str, Any], *,
                      use_cache: bool = True, officer_rows: Sequence[RowKey] | None = None) -> dict[str, Any]:
        """Run one of the shim's constant documents; its ``data``, or the mapped RestError.
        ``officer_rows``: the officer list's nodes as rows of that shape where SQL built them
        (``orjson.Fragment``, or dicts with the row's keys when read from the cache)."""
        label_operation(self.request.scope, operation)
        outcome = await execute_document(
            self.application, self.schema, self.principal, self.request.scope.get("request_id", ""),
            document, dict(variables), operation, use_cache=use_cache, officer_rows=officer_rows,
        )
        if officer_rows is not None and outcome.data is not None and outcome.status == 200:
            return outcome.data
        payload = outcome.payload()
        if payload.get("errors"):
            raise graphql_failure(payload["errors"])
        data: dict[str, Any] = payload["data"]
        return data


@dataclass(frozen=True)
class Success:
    """What a handler answers: the envelope's data and meta (meta checked against the declaration)."""

    data: Any
    meta: dict[str, Any] = field(default_factory=dict)


Handler = Callable[[Call], Awaitable[Success]]


@dataclass(frozen=True)
class Endpoint:
    """A REST route: what it accepts, what it answers, who may call it, and its handler."""

    method: str
    path: str
    summary: str
    handler: Handler
    data: Out
    meta: tuple[Out, ...] = ()
    query: tuple[Param, ...] = ()
    path_params: tuple[Param, ...] = ()
    body: tuple[Param, ...] | None = None
    roles: frozenset[Role] = READ_ROLES
    status: int = 200
    errors: tuple[int, ...] = (400, 401, 403, 500, 503)
    graphql: str = ""
    rules: tuple[str, ...] = ()
    """Rules joining several parameters (JSON Schema states each parameter alone): the OpenAPI
    document lists them in the operation's description and ``x-rules``."""
    csv: CsvExport | None = None
    """List routes: how the same rows are exported as CSV (``format=csv`` or ``Accept: text/csv``)."""
    renamed: Callable[[RestError, Mapping[str, Any]], RestError] | None = None
    """A GraphQL error about an argument the route fills from its own parameters (a window's
    ``period``), restated naming those parameters (given the failure and the parsed query)."""


def graphql_failure(errors: Sequence[Mapping[str, Any]]) -> RestError:
    """The most severe GraphQL error as a REST error (SPEC §7 status mapping)."""
    mapped = []
    for error in errors:
        extensions = dict(error.get("extensions") or {})
        code = str(extensions.pop("code", "BAD_REQUEST"))
        status = STATUS_BY_CODE.get(code)
        if status is None:
            log.warning("GraphQL error code without a REST status", extra={"code": code})
            status = 500
        details = {snake(key): value for key, value in extensions.items()} or None
        mapped.append(RestError(status, code, str(error.get("message", "")), details))
    return max(mapped, key=lambda failure: failure.status)


def snake(name: str) -> str:
    """camelCase extension keys (requestId) -> REST snake_case (request_id)."""
    return "".join(f"_{char.lower()}" if char.isupper() else char for char in name)


PAGE_META = (Out("page", None, Json.INTEGER), Out("per_page", None, Json.INTEGER),
             Out("total", None, Json.INTEGER), Out("total_pages", None, Json.INTEGER))


def page_meta(page: int, per_page: int, total: int) -> dict[str, Any]:
    return {"page": page, "per_page": per_page, "total": total, "total_pages": -(-total // per_page)}


def make_meta(endpoint: Endpoint, values: Mapping[str, Any]) -> dict[str, Any]:
    """Meta in the declared key order; a handler that drifts from its declaration fails loudly."""
    declared = [out.key for out in endpoint.meta]
    if set(values) != set(declared):
        raise AssertionError(f"{endpoint.path} meta {sorted(values)} != declared {sorted(declared)}")
    return {key: values[key] for key in declared}


async def _read_json(request: Request) -> Any:
    try:
        body = await read_limited_body(request, MAX_BODY_BYTES)
    except PayloadError as exc:
        raise RestError(exc.status, "PAYLOAD_TOO_LARGE" if exc.status == 413 else "BAD_REQUEST", exc.message) from None
    if not body.strip():
        raise RestError(400, "BAD_REQUEST", "a JSON body is required", {"expected": "object"})
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise RestError(400, "BAD_REQUEST", "the body is not valid JSON", {"error": str(exc)[:200]}) from None


async def _serve(endpoint: Endpoint, request: Request) -> Response:
    principal = principal_of(request)
    require_role(principal, endpoint.roles)
    query: dict[str, Any] = {}
    try:
        path = parse_path(endpoint.path_params, request.path_params)
        query = parse_query(endpoint.query, request.query_params.multi_items())
        check_business_date(endpoint.query, query, application_of(request).clock.today())
        body = parse_body(endpoint.body, await _read_json(request)) if endpoint.body is not None else {}
        call = Call(request, principal, path, query, body)
        if endpoint.csv is not None and endpoint.csv.wanted(request, query):
            return await endpoint.csv.respond(replace(call, csv=True), endpoint.handler)
        result = await endpoint.handler(call)
    except RestError as failure:
        if endpoint.renamed is not None:
            failure = endpoint.renamed(failure, query)
        return error_response(failure.status, failure.code, failure.message, failure.details)
    meta = make_meta(endpoint, result.meta)
    return OrjsonResponse({"success": True, "data": result.data, "meta": meta}, status_code=endpoint.status)


def routes_for(endpoints: Sequence[Endpoint]) -> list[Route]:
    """One Starlette route per path; other methods get a 405 in the envelope, with Allow."""
    by_path: dict[str, dict[str, Endpoint]] = {}
    for endpoint in endpoints:
        by_path.setdefault(endpoint.path, {})[endpoint.method] = endpoint
    return [Route(path, _dispatcher(methods), methods=HTTP_METHODS) for path, methods in by_path.items()]


def _dispatcher(methods: dict[str, Endpoint]) -> Callable[[Request], Awaitable[Response]]:
    allowed = ", ".join(sorted(methods))

    async def dispatch(request: Request) -> Response:
        method = "GET" if request.method == "HEAD" else request.method
        endpoint = methods.get(method)
        if endpoint is None:
            return error_response(405, "METHOD_NOT_ALLOWED", f"use {allowed}", {"allowed": sorted(methods)},
                                  headers={"Allow": allowed})
        return await _serve(endpoint, request)

    return dispatch
