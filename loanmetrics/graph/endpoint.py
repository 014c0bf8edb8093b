"""``/graphql``: GraphiQL on a browser GET, execution on POST (and GET for queries).

One path for GraphQL and the REST layer (``execute_document``): role check, the whole-response
cache keyed on document, variables, caller scope and metrics generation, execution with the
per-request context, error masking with the request id, orjson encoding. The HTTP side (media
types, GET and POST parameters) is ``graphql_http.py``; persisted queries ``persisted_queries.py``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import asyncpg
import orjson
from graphql import GraphQLError, OperationDefinitionNode, OperationType, parse
from starlette.requests import Request
from starlette.responses import Response
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError

from loanmetrics.db.failures import is_database_unavailable
from loanmetrics.graph.auth import AuthError
from loanmetrics.graph.cache_key import MEMO_MAX_CHARS
from loanmetrics.graph.context import application_of, principal_of
from loanmetrics.graph.graphql_http import (
    GRAPHQL_RESPONSE,
    JSON,
    GraphQLRequest,
    RequestRefused,
    error_body,
    from_body,
    from_query_params,
    negotiate,
)
from loanmetrics.graph.pages import graphiql_page, wants_graphiql
from loanmetrics.graph.persisted_queries import NOT_FOUND, PersistedQueryError, requested
from loanmetrics.graph.telemetry import label_operation
from loanmetrics.principal import READ_ROLES, Principal
from loanmetrics.resolvers.context import RequestContext
from loanmetrics.resolvers.officer_json import RowKey

if TYPE_CHECKING:
    import strawberry

    from loanmetrics.application import Application

log = logging.getLogger(__name__)

# the client's text, not our SQL: PostgreSQL refuses NUL characters in text values
UNSTORABLE_TEXT = (asyncpg.exceptions.CharacterNotInRepertoireError, asyncpg.exceptions.UntranslatableCharacterError)


@dataclass(frozen=True)
class Outcome:
    """An executed (or cached) GraphQL response: status and encoded body. ``request_error``: the
    request failed before execution (no ``data``), which GraphQL over HTTP answers with
    ``status`` under application/graphql-response+json and with 200 under application/json."""

    status: int
    body: bytes
    cached: bool = False
    request_error: bool = False
    data: dict[str, Any] | None = None
    """The executed answer's ``data`` as executed (prebuilt nodes as ``orjson.Fragment``), when it
    was executed here without errors: what an internal caller reads instead of decoding ``body``."""

    def payload(self) -> dict[str, Any]:
        document: dict[str, Any] = orjson.loads(self.body)
        return document

    def status_for(self, media_type: str) -> int:
        return 200 if self.request_error and media_type == JSON else self.status


_error_body = error_body
# graphql-core's variable-coercion messages (a request error with input at fault, not the document)
_COERCION = re.compile(r"^Variable '\$\w+' (has|got) invalid value")


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
    use_cache: bool = True,
    officer_rows: Sequence[RowKey] | None = None,
) -> Outcome:
    """Run one GraphQL operation for a caller (the GraphQL route and every REST route use this).
    ``use_cache=False``: neither read nor fill the response cache (the pages of a CSV export).
    ``officer_rows``: the REST shim's officer row shape (``RequestContext.officer_rows``); such
    answers are cached under a key of their own, never served to a GraphQL request."""
    if principal.role not in READ_ROLES:
        raise AuthError(403, "FORBIDDEN", f"role '{principal.role}' may not use the API")
    kind = operation_kind(document, operation_name, application.settings.max_tokens)
    if kind == AMBIGUOUS:
        return Outcome(400, _error_body("operationName is required when the document holds several operations",
                                        "BAD_REQUEST"))
    if kind == "mutation" and not allow_mutations:
        return Outcome(405, _error_body("mutations need POST", "METHOD_NOT_ALLOWED"))
    cache = application.cache if use_cache else None
    cache_key: str | None = None
    generation = 0
    if kind == OperationType.QUERY.value and cache is not None:
        cache_key = cache.key(document, variables, principal.scope_key(), operation_name)
        if officer_rows is not None:
            cache_key = f"rows:{cache_key}"
        generation, cached = await cache.lookup(cache_key)
        if cached is not None:
            return Outcome(200, cached, cached=True)
    context = RequestContext(application=application, principal=principal, request_id=request_id,
                             officer_rows=officer_rows)
    try:
        result = await schema.execute(document, variable_values=variables, context_value=context,
                                      operation_name=operation_name)
    except (CannotGetOperationTypeError, InvalidOperationTypeError):
        name = f" named {operation_name!r}" if operation_name is not None else ""
        return Outcome(400, _error_body(f"the document has no operation{name} to run", "BAD_REQUEST"))
    finally:
        await context.close()
    errors = [_masked(error, request_id) for error in result.errors or ()]
    if result.data is None and errors and not any(error.get("path") for error in errors):
        # refused before execution: parse, validation or variable coercion (GraphQL over HTTP)
        return Outcome(400, orjson.dumps({"errors": [_with_code(error) for error in errors]}), request_error=True)
    body: dict[str, Any] = {"data": result.data}
    if errors:
        body["errors"] = errors
    if context.notices:
        body["extensions"] = {"notices": context.notices}
    encoded = orjson.dumps(body)
    # a field that could not reach the database is no answer: a null there would read as "not found"
    unavailable = any(e.get("extensions", {}).get("code") == "SERVICE_UNAVAILABLE" for e in errors)
    status = 503 if unavailable else 200
    if cache_key is not None and cache is not None and not errors:
        await cache.store(generation, cache_key, encoded)
    return Outcome(status, encoded, data=result.data if not errors else None)


def _with_code(error: dict[str, Any]) -> dict[str, Any]:
    """A request error gets a code clients can branch on; graphql-core's message (with its "Did
    you mean" suggestions) is kept."""
    extensions = error.get("extensions") or {}
    if "code" in extensions:
        return error
    message = str(error.get("message", ""))
    if message.startswith("Syntax Error"):
        code = "GRAPHQL_PARSE_FAILED"
    elif _COERCION.match(message):
        code = "BAD_USER_INPUT"
    else:
        code = "GRAPHQL_VALIDATION_FAILED"
    return {**error, "extensions": {**extensions, "code": code}}


def _masked(error: GraphQLError, request_id: str) -> dict[str, Any]:
    """Client errors pass through; anything unexpected is logged and replaced (SPEC §10)."""
    original = error.original_error
    if original is None or isinstance(original, GraphQLError):
        formatted: dict[str, Any] = dict(error.formatted)
        return formatted
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
    if request.method == "GET" and not {"query", "extensions"} & set(request.query_params):
        return Response(_error_body("a GET request needs a query parameter (GraphiQL is served to browsers "
                                    "that accept text/html)", "BAD_REQUEST"), 400, media_type=JSON)
    media_type = negotiate(request.headers.get("accept"))
    if media_type is None:
        return Response(_error_body(f"answers are {GRAPHQL_RESPONSE} or {JSON}: accept one of them",
                                    "NOT_ACCEPTABLE"), 406, media_type=JSON)
    try:
        parts = from_query_params(request.query_params) if request.method == "GET" else await from_body(request)
        outcome = await _run(application, schema, principal, request_id, parts, allow_mutations=request.method != "GET")
    except RequestRefused as refused:
        return Response(refused.body(), refused.status, media_type=media_type, headers=NO_STORE)
    label_operation(request.scope, parts.operation_name)
    headers = ALLOW_POST if outcome.status == 405 else NO_STORE if outcome.request_error else None
    return Response(outcome.body, outcome.status_for(media_type), media_type=media_type, headers=headers)


NO_STORE = {"Cache-Control": "no-store"}
ALLOW_POST = {"Allow": "POST", **NO_STORE}


async def _run(application: Application, schema: strawberry.Schema, principal: Principal, request_id: str,
               parts: GraphQLRequest, *, allow_mutations: bool) -> Outcome:
    """Execute a request, resolving (and registering) an automatic persisted query."""
    try:
        persisted = requested(parts.extensions)
    except PersistedQueryError as exc:
        raise RequestRefused(400, "BAD_REQUEST", exc.message) from None
    store = application.persisted_queries
    document = parts.document
    if persisted is not None and store is not None:
        if document is None:
            document = await store.get(persisted.sha256)
            if document is None:
                # Apollo's clients retry with the document on this code (a 200 under application/json)
                return Outcome(404, _error_body("PersistedQueryNotFound", NOT_FOUND), request_error=True)
        elif not persisted.matches(document):
            raise RequestRefused(400, "BAD_REQUEST", "provided sha256Hash does not match query")
    if document is None:
        raise RequestRefused(400, "BAD_REQUEST", "query must be a non-empty string")
    outcome = await execute_document(application, schema, principal, request_id, document, parts.variables,
                                     parts.operation_name, allow_mutations=allow_mutations)
    if persisted is not None and store is not None and parts.document is not None and not outcome.request_error:
        await store.put(persisted.sha256, document)
    return outcome
