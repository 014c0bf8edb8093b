"""``/graphql``: GraphiQL on a browser GET, execution on POST (and GET for queries).

One path for GraphQL and the REST layer (``execute_document``): role check, the whole-response
cache keyed on document, variables, caller scope and metrics generation, execution with the
per-request context, error masking with the request id, orjson encoding.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import asyncpg
import orjson
from graphql import GraphQLError, OperationDefinitionNode, OperationType, parse
from starlette.requests import Request
from starlette.responses import Response
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError

from loanmetrics.graph.auth import READ_ROLES, AuthError, Principal
from loanmetrics.graph.cache_key import MEMO_MAX_CHARS
from loanmetrics.graph.context import application_of, principal_of
from loanmetrics.graph.pages import graphiql_page, wants_graphiql
from loanmetrics.graph.request import RequestContext
from loanmetrics.graph.telemetry import label_operation

if TYPE_CHECKING:
    import strawberry

    from loanmetrics.application import Application

log = logging.getLogger(__name__)

MAX_REQUEST_BYTES = 1024 * 1024
# the client's text, not our SQL: PostgreSQL refuses NUL characters in text values
UNSTORABLE_TEXT = (asyncpg.exceptions.CharacterNotInRepertoireError, asyncpg.exceptions.UntranslatableCharacterError)
JSON = "application/json"


@dataclass(frozen=True)
class Outcome:
    """An executed (or cached) GraphQL response: status and encoded body."""

    status: int
    body: bytes
    cached: bool = False

    def payload(self) -> dict[str, Any]:
        document: dict[str, Any] = orjson.loads(self.body)
        return document


def _error_body(message: str, code: str, **extra: Any) -> bytes:
    return orjson.dumps({"errors": [{"message": message, "extensions": {"code": code, **extra}}]})


AMBIGUOUS = "ambiguous"
"""The kind reported for a document with several operations and no operationName (GraphQL spec:
a request error, where Strawberry would silently run the first one)."""


def operation_kind(document: str, operation_name: str | None, max_tokens: int | None = None) -> str | None:
    """'query', 'mutation' or 'subscription' of the operation to run; None when unparsable or
    longer than ``max_tokens`` (the schema's token limit refuses such a document anyway: an
    unbounded parse of a 1 MiB document would hold the event loop for seconds). Short documents
    are memoised; long ones are not kept."""
    if len(document) <= MEMO_MAX_CHARS:
        return _memoised_kind(document, operation_name, max_tokens)
    return _operation_kind(document, operation_name, max_tokens)


def _operation_kind(document: str, operation_name: str | None, max_tokens: int | None) -> str | None:
    try:
        parsed = parse(document, max_tokens=max_tokens)
    except GraphQLError:
        return None
    operations = [d for d in parsed.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name is None and len(operations) > 1:
        return AMBIGUOUS
    for op in operations:
        if operation_name is None or (op.name is not None and op.name.value == operation_name):
            return op.operation.value
    return None


_memoised_kind = lru_cache(maxsize=1024)(_operation_kind)


async def execute_document(
    application: Application,
    schema: strawberry.Schema,
    principal: Principal,
    request_id: str,
    document: str,
    variables: dict[str, Any] | None = None,
    operation_name: str | None = None,
    *,
    allow_mutations: bool = True,
) -> Outcome:
    """Run one GraphQL operation for a caller (the GraphQL route and every REST route use this)."""
    if principal.role not in READ_ROLES:
        raise AuthError(403, "FORBIDDEN", f"role '{principal.role}' may not use the API")
    kind = operation_kind(document, operation_name, application.settings.max_tokens)
    if kind == AMBIGUOUS:
        return Outcome(400, _error_body("operationName is required when the document holds several operations",
                                        "BAD_REQUEST"))
    if kind == "mutation" and not allow_mutations:
        return Outcome(405, _error_body("mutations need POST", "METHOD_NOT_ALLOWED"))
    cache = application.cache
    cache_key: str | None = None
    generation = 0
    if kind == OperationType.QUERY.value and cache is not None:
        cache_key = cache.key(document, variables, principal.scope_key(), operation_name)
        generation, cached = await cache.lookup(cache_key)
        if cached is not None:
            return Outcome(200, cached, cached=True)
    context = RequestContext(application=application, principal=principal, request_id=request_id)
    try:
        result = await schema.execute(document, variable_values=variables, context_value=context,
                                      operation_name=operation_name)
    except (CannotGetOperationTypeError, InvalidOperationTypeError):
        name = f" named {operation_name!r}" if operation_name is not None else ""
        return Outcome(400, _error_body(f"the document has no operation{name} to run", "BAD_REQUEST"))
    finally:
        await context.close()
    errors = [_masked(error, request_id) for error in result.errors or ()]
    body: dict[str, Any] = {"data": result.data}
    if errors:
        body["errors"] = errors
    encoded = orjson.dumps(body)
    unavailable = any(e.get("extensions", {}).get("code") == "SERVICE_UNAVAILABLE" for e in errors)
    status = 503 if unavailable and result.data is None else 200
    if cache_key is not None and cache is not None and not errors:
        await cache.store(generation, cache_key, encoded)
    return Outcome(status, encoded)


def _masked(error: GraphQLError, request_id: str) -> dict[str, Any]:
    """Client errors pass through; anything unexpected is logged and replaced (SPEC §10)."""
    original = error.original_error
    if original is None or isinstance(original, GraphQLError):
        formatted: dict[str, Any] = dict(error.formatted)
        return formatted
    from loanmetrics.graph.app import is_database_unavailable

    if isinstance(original, UNSTORABLE_TEXT):
        return {
            "message": "a string argument holds a character the database cannot store (such as NUL)",
            "path": error.path,
            "extensions": {"code": "BAD_REQUEST", "requestId": request_id},
        }
    if is_database_unavailable(original):
        log.warning("database unavailable during a GraphQL request", exc_info=original)
        code, message = "SERVICE_UNAVAILABLE", "the database is unavailable; retry shortly"
    else:
        log.error("unexpected error in a GraphQL resolver", exc_info=original)
        code, message = "INTERNAL", "internal error"
    return {
        "message": f"{message} (request {request_id})",
        "path": error.path,
        "extensions": {"code": code, "requestId": request_id},
    }


async def graphql_endpoint(request: Request) -> Response:
    if wants_graphiql(request.scope):
        return graphiql_page(request)  # public: the page carries no data (SPEC §10)
    application = application_of(request)
    principal = principal_of(request)
    request_id: str = request.scope.get("request_id", "")
    if principal.role not in READ_ROLES:
        raise AuthError(403, "FORBIDDEN", f"role '{principal.role}' may not use the API")
    schema = request.app.state.schema
    if request.method == "GET":
        if "query" not in request.query_params:
            return Response(_error_body("a GET request needs a query parameter (GraphiQL is served to browsers "
                                        "that accept text/html)", "BAD_REQUEST"), 400, media_type=JSON)
        variables_text = request.query_params.get("variables")
        try:
            raw_variables = orjson.loads(variables_text) if variables_text else None
        except orjson.JSONDecodeError:
            return Response(_error_body("variables is not JSON", "BAD_REQUEST"), 400, media_type=JSON)
        checked = _checked(request.query_params["query"], raw_variables, request.query_params.get("operationName"))
        if isinstance(checked, Response):
            return checked
        document, variables, operation_name = checked
        outcome = await execute_document(application, schema, principal, request_id, document, variables,
                                         operation_name, allow_mutations=False)
    else:
        parsed = await _read_body(request)
        if isinstance(parsed, Response):
            return parsed
        document, variables, operation_name = parsed
        outcome = await execute_document(application, schema, principal, request_id, document, variables,
                                         operation_name)
    label_operation(request.scope, operation_name)
    return Response(outcome.body, outcome.status, media_type=JSON)


Parts = tuple[str, dict[str, Any] | None, str | None]


async def _read_body(request: Request) -> Parts | Response:
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > MAX_REQUEST_BYTES):
        return Response(_error_body("request body too large", "PAYLOAD_TOO_LARGE"), 413, media_type=JSON)
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_REQUEST_BYTES:
            return Response(_error_body("request body too large", "PAYLOAD_TOO_LARGE"), 413, media_type=JSON)
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        return Response(_error_body("body is not valid JSON", "BAD_REQUEST"), 400, media_type=JSON)
    if not isinstance(payload, dict):
        return Response(_error_body("body must be a JSON object", "BAD_REQUEST"), 400, media_type=JSON)
    return _checked(payload.get("query"), payload.get("variables"), payload.get("operationName"))


def _checked(document: Any, variables: Any, operation_name: Any) -> Parts | Response:
    """The parts of a GraphQL request (POST body or GET parameters), or a 400 naming the bad one."""
    if not isinstance(document, str) or not document.strip():
        return Response(_error_body("query must be a non-empty string", "BAD_REQUEST"), 400, media_type=JSON)
    if variables is not None and not isinstance(variables, dict):
        return Response(_error_body("variables must be an object", "BAD_REQUEST"), 400, media_type=JSON)
    if operation_name is not None and not isinstance(operation_name, str):
        return Response(_error_body("operationName must be a string", "BAD_REQUEST"), 400, media_type=JSON)
    return document, variables, operation_name
