"""GraphQL over HTTP (SPEC §6): media types, and the parts of a request from a GET or a POST.

The response media type follows the client's ``Accept`` (quality values honoured, the first listed
winning a tie): ``application/graphql-response+json`` when asked for, ``application/json`` for
``application/json``, ``*/*``, ``application/*`` or no ``Accept`` at all, 406 when neither is
acceptable. Under ``application/graphql-response+json`` a request that fails before execution
(parse, validation, variable coercion, unknown persisted query) is a 4xx without a ``data`` key;
under ``application/json`` it is a 200 with the errors (the legacy behaviour the spec keeps).
A request the server cannot read (not JSON, ``query`` not a string, a bad ``variables``) is a 400
under both, a POST without a JSON ``Content-Type`` a 415.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import orjson
from starlette.requests import Request

JSON = "application/json"
GRAPHQL_RESPONSE = "application/graphql-response+json"
MAX_REQUEST_BYTES = 1024 * 1024
_WILDCARDS = frozenset({"*/*", "application/*"})
_UTF8 = frozenset({"utf-8", "utf8"})


class RequestRefused(Exception):
    """The HTTP request is not a readable GraphQL request: status, code and message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def body(self) -> bytes:
        return error_body(self.message, self.code)


def error_body(message: str, code: str, **extra: Any) -> bytes:
    """A GraphQL response of one error and no ``data`` (nothing was executed)."""
    return orjson.dumps({"errors": [{"message": message, "extensions": {"code": code, **extra}}]})


@dataclass(frozen=True)
class GraphQLRequest:
    """The parameters of a GraphQL-over-HTTP request (``document`` None: a persisted query by hash)."""

    document: str | None
    variables: dict[str, Any] | None
    operation_name: str | None
    extensions: dict[str, Any] | None


@lru_cache(maxsize=256)
def negotiate(accept: str | None) -> str | None:
    """The media type to answer in, or None when the client accepts neither JSON type (406)."""
    if accept is None or not accept.strip():
        return JSON
    best: str | None = None
    best_quality = 0.0
    for item in accept.split(","):
        media_type, *parameters = (part.strip() for part in item.split(";"))
        media_type = media_type.lower()
        if media_type == GRAPHQL_RESPONSE:
            candidate = GRAPHQL_RESPONSE
        elif media_type == JSON or media_type in _WILDCARDS:
            candidate = JSON
        else:
            continue
        quality = _quality(parameters)
        if quality is not None and quality > best_quality:
            best, best_quality = candidate, quality
    return best


def _quality(parameters: list[str]) -> float | None:
    """The q value (1 when absent), None when the entry is unusable (not UTF-8, malformed q)."""
    quality = 1.0
    for parameter in parameters:
        name, _, value = parameter.partition("=")
        name, value = name.strip().lower(), value.strip().strip('"').lower()
        if name == "charset" and value not in _UTF8:
            return None
        if name == "q":
            try:
                quality = float(value)
            except ValueError:
                return None
    return quality if 0 < quality <= 1 else None


def from_query_params(params: Mapping[str, str]) -> GraphQLRequest:
    """A GET: ``query``, ``variables`` and ``extensions`` (JSON text) and ``operationName``."""
    return checked(params.get("query"), _json_parameter(params, "variables"), params.get("operationName"),
                   _json_parameter(params, "extensions"))


def _json_parameter(params: Mapping[str, str], name: str) -> Any:
    text = params.get(name)
    if not text:
        return None
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        raise RequestRefused(400, "BAD_REQUEST", f"{name} is not JSON") from None


async def from_body(request: Request) -> GraphQLRequest:
    """A POST: a JSON object of at most MAX_REQUEST_BYTES with a JSON Content-Type."""
    body = await _read_limited(request)
    if not _is_json(request.headers.get("content-type")):
        raise RequestRefused(415, "UNSUPPORTED_MEDIA_TYPE", "a POST body must be JSON: Content-Type: application/json")
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise RequestRefused(400, "BAD_REQUEST", "body is not valid JSON") from None
    if not isinstance(payload, dict):
        raise RequestRefused(400, "BAD_REQUEST", "body must be a JSON object")
    return checked(payload.get("query"), payload.get("variables"), payload.get("operationName"),
                   payload.get("extensions"))


async def _read_limited(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > MAX_REQUEST_BYTES):
        raise RequestRefused(413, "PAYLOAD_TOO_LARGE", "request body too large")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_REQUEST_BYTES:
            raise RequestRefused(413, "PAYLOAD_TOO_LARGE", "request body too large")
    return body


@lru_cache(maxsize=64)
def _is_json(content_type: str | None) -> bool:
    """application/json (or a +json type such as application/graphql+json), in UTF-8."""
    if not content_type:
        return False
    media_type, *parameters = (part.strip() for part in content_type.split(";"))
    media_type = media_type.lower()
    if media_type != JSON and not (media_type.startswith("application/") and media_type.endswith("+json")):
        return False
    for parameter in parameters:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset" and value.strip().strip('"').lower() not in _UTF8:
            return False
    return True


def checked(document: Any, variables: Any, operation_name: Any, extensions: Any) -> GraphQLRequest:
    """The parts of a GraphQL request, or a 400 naming the bad one. ``query`` may be absent only
    when a persisted query names the document."""
    if variables is not None and not isinstance(variables, dict):
        raise RequestRefused(400, "BAD_REQUEST", "variables must be an object")
    if operation_name is not None and not isinstance(operation_name, str):
        raise RequestRefused(400, "BAD_REQUEST", "operationName must be a string")
    if extensions is not None and not isinstance(extensions, dict):
        raise RequestRefused(400, "BAD_REQUEST", "extensions must be an object")
    if document is None and extensions is not None and extensions.get("persistedQuery") is not None:
        return GraphQLRequest(None, variables, operation_name, extensions)
    if not isinstance(document, str) or not document.strip():
        raise RequestRefused(400, "BAD_REQUEST", "query must be a non-empty string")
    return GraphQLRequest(document, variables, operation_name, extensions)
