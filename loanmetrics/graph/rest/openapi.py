"""``GET /api/v1/openapi.json``: the OpenAPI 3.1 document of the REST layer.

Built from the same ``Endpoint`` declarations the routes serve (parameters, bodies, response
shapes, roles, statuses), so documentation and behaviour cannot drift; the ETL route, which is not
a GraphQL wrapper, is described from its payload module's constants. Like every route but
``/healthz`` it needs a token; any authenticated role may read it.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from datetime import date
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from loanmetrics.db.ingestion.payload import ENTITIES, SYNC_TYPES
from loanmetrics.db.ingestion.records import MAX_MONEY
from loanmetrics.graph.context import application_of
from loanmetrics.graph.rest.common import Endpoint
from loanmetrics.graph.rest.params import EARLIEST_DATE, Kind, Param, Where
from loanmetrics.graph.rest.shapes import object_schema, schema
from loanmetrics.principal import ETL_ROLES, Role

ERRORS = {
    400: "a parameter or the body is invalid (details name it), or the GraphQL request was refused",
    401: "no valid bearer token",
    403: "the caller's role may not do this",
    404: "the officer does not exist or is outside the caller's scope",
    405: "the method is not allowed on this path",
    409: "a forbidden audit-status move, or expected_version is stale",
    413: "the body is too large",
    500: "internal error (details carry the request id)",
    503: "the database is unavailable; retry shortly",
}
_PARAM_TYPES = {Kind.INTEGER: "integer", Kind.BOOLEAN: "boolean", Kind.STRING: "string", Kind.CHOICE: "string",
                Kind.DATE: "string"}


# Text: no NUL (PostgreSQL cannot store it) and, unless it may be empty, one character outside
# params.BLANK (the server strips those before checking the length).
_NO_NUL = r"^[^\u0000]*$"
_NOT_BLANK = r"^[^\u0000]*[^ \t\n\r\f\v\u0000][^\u0000]*$"


def parameter_schema(param: Param, today: date) -> dict[str, Any]:
    """The JSON schema of a parameter as the server parses it (params.py); an optional query text
    or choice may be empty (the dashboard's "All": not given)."""
    value: dict[str, Any] = {"type": _PARAM_TYPES[param.kind]}
    blank_allowed = param.where == Where.QUERY and not param.required
    if param.kind == Kind.DATE:
        latest = today if param.until_business_date else date.max
        value.update(format="date", pattern=date_pattern(EARLIEST_DATE, latest))
    elif param.kind == Kind.CHOICE:
        value["enum"] = [*param.choices, ""] if blank_allowed else list(param.choices)
    elif param.kind == Kind.INTEGER:
        value.update({key: limit for key, limit in (("minimum", param.minimum), ("maximum", param.maximum))
                      if limit is not None})
    elif param.kind == Kind.STRING:
        pattern = _NOT_BLANK if param.min_length > 0 else _NO_NUL
        value.update(minLength=0 if blank_allowed else param.min_length, maxLength=param.max_length,
                     pattern=f"^$|{pattern}" if blank_allowed and param.min_length > 0 else pattern)
    if param.default is not None:
        value["default"] = param.default
    return value


def date_pattern(low: date, high: date) -> str:
    """A regular expression of the YYYY-MM-DD texts from ``low`` to ``high`` (both included):
    JSON Schema cannot compare dates, but fixed-width texts compare like the dates they name."""
    return f"^{_text_range(low.isoformat(), high.isoformat())}$"


def _text_range(low: str, high: str) -> str:
    """Texts of the shape of ``low`` and ``high`` (digits and fixed separators) between them."""
    if low == high:
        return re.escape(low)
    if low[0] == high[0]:
        return re.escape(low[0]) + _text_range(low[1:], high[1:])
    rest_low, rest_high = low[1:], high[1:]
    smallest = "".join("0" if c.isdigit() else c for c in rest_low)
    largest = "".join("9" if c.isdigit() else c for c in rest_high)
    any_rest = "".join("[0-9]" if c.isdigit() else re.escape(c) for c in rest_low)
    parts = [low[0] + "(?:" + _text_range(rest_low, largest) + ")"]
    if int(high[0]) - int(low[0]) > 1:
        parts.append(f"[{int(low[0]) + 1}-{int(high[0]) - 1}]" + any_rest)
    parts.append(high[0] + "(?:" + _text_range(smallest, rest_high) + ")")
    return "(?:" + "|".join(parts) + ")"


def _parameter(param: Param, today: date) -> dict[str, Any]:
    return {"name": param.name, "in": param.where.value, "required": param.required or param.where == Where.PATH,
            "description": param.description, "schema": parameter_schema(param, today)}


def _body(fields: Sequence[Param], today: date) -> dict[str, Any]:
    properties = {}
    for field in fields:
        value = parameter_schema(field, today)
        if not field.required:
            value["type"] = [value["type"], "null"]
            if "enum" in value:
                value["enum"] = [*value["enum"], None]
        properties[field.name] = {**value, "description": field.description}
    body = {"type": "object", "properties": properties, "required": [f.name for f in fields if f.required],
            "additionalProperties": False}
    return {"required": True, "content": {"application/json": {"schema": body}}}


def _envelope(endpoint: Endpoint) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {"success": {"const": True}, "data": schema(endpoint.data), "meta": object_schema(endpoint.meta)},
        "required": ["success", "data", "meta"],
        "additionalProperties": False,
    }


def _roles(roles: frozenset[Role]) -> str:
    return "Roles: " + ", ".join(sorted(role.value for role in roles)) + "."


def _operation(endpoint: Endpoint, today: date) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": endpoint.handler.__name__,
        "summary": endpoint.summary,
        "description": f"Runs the GraphQL field `{endpoint.graphql}`. {_roles(endpoint.roles)}",
        "tags": [endpoint.path.split("/")[3]],
        "parameters": [_parameter(param, today) for param in (*endpoint.path_params, *endpoint.query)],
        "responses": {
            str(endpoint.status): {"description": "success",
                                   "content": {"application/json": {"schema": _envelope(endpoint)}}},
            **{str(code): {"$ref": f"#/components/responses/Error{code}"} for code in endpoint.errors},
        },
    }
    if endpoint.rules:
        operation["description"] += " " + " ".join(endpoint.rules)
        operation["x-rules"] = list(endpoint.rules)
    if endpoint.csv is not None:
        operation["responses"][str(endpoint.status)]["content"]["text/csv"] = {
            "schema": {"type": "string", "description": "the same rows as CSV: a header of the JSON row keys, then "
                                                        "one line per row (format=csv or Accept: text/csv)"}}
    if endpoint.body is not None:
        operation["requestBody"] = _body(endpoint.body, today)
    return operation


def _etl_sync() -> dict[str, Any]:
    # the envelope is checked whole (400); each record is checked on its own and a bad one is
    # listed in errors (207), so the document does not constrain the records
    record_lists = {name: {"type": ["array", "null"], "items": {}} for name in ENTITIES}
    counts = {"type": "object", "properties": {k: {"type": "integer"} for k in
                                               ("inserted", "updated", "unchanged", "failed")}}
    result = {
        "type": "object",
        "properties": {
            "status": {"type": "string"}, "sync_id": {"type": "string"}, "timestamp": {"type": "string"},
            "results": {"type": "object", "properties": dict.fromkeys(ENTITIES, counts)},
            "errors": {"type": "array", "items": {"type": "object", "properties": {
                k: {"type": ["string", "null"]} for k in
                ("entity_type", "entity_id", "field", "error_code", "error_message")}}},
            "computed_fields_updated": {"type": "object", "properties": {
                "loans_affected": {"type": "integer"}, "computation_time_ms": {"type": "number"}}},
        },
    }
    body = {
        "type": "object",
        "properties": {
            "sync_timestamp": {"type": ["string", "null"], "description": "when the core produced the batch "
                               "(ISO 8601, kept as sent)"},
            "sync_type": {"type": "string", "enum": list(SYNC_TYPES), "default": SYNC_TYPES[0]},
            "data": {"type": "object", "properties": record_lists, "additionalProperties": False},
            "metadata": {"type": ["object", "null"]},
        },
        "required": ["data"],
        "description": "Other top-level keys are ignored.",
    }
    content = {"application/json": {"schema": result}}
    return {"post": {
        "operationId": "etl_sync",
        "summary": "Ingest one ETL batch (SPEC §4): validate, upsert, derive the computed loan fields",
        "description": "Not a GraphQL wrapper. Money fields (loan_amount, fee_amount, payment_amount, principal_paid, "
                       "interest_paid, fees_paid, penalty_paid, waiver_amount, principal_due, interest_due, fee_due, "
                       f"total_due) are JSON numbers or decimal strings in whole cents from 0 to {MAX_MONEY}; a "
                       "larger one, or a loan whose interest_rate implies more interest than that, is rejected "
                       f"with AMOUNT_TOO_LARGE and its field path. {_roles(ETL_ROLES)}",
        "tags": ["etl"],
        "requestBody": {"required": True, "content": {"application/json": {"schema": body}}},
        "responses": {
            "200": {"description": "every record accepted", "content": content},
            "207": {"description": "some records rejected (listed in errors)", "content": content},
            **{str(code): {"$ref": f"#/components/responses/Error{code}"} for code in (400, 401, 403, 413, 503)},
        },
    }}


def _package_version() -> str:
    try:
        return version("loanmetrics")
    except PackageNotFoundError:
        return "0"


def build_document(endpoints: Sequence[Endpoint], today: date) -> dict[str, Any]:
    """The document as of ``today`` (the business date bounds the window dates)."""
    paths: dict[str, dict[str, Any]] = {}
    for endpoint in endpoints:
        paths.setdefault(endpoint.path, {})[endpoint.method.lower()] = _operation(endpoint, today)
    paths["/api/v1/etl/sync"] = _etl_sync()
    error = {
        "type": "object",
        "properties": {
            "success": {"const": False},
            "error": {"type": "object", "properties": {"code": {"type": "string"}, "message": {"type": "string"},
                                                       "details": {}},
                      "required": ["code", "message", "details"]},
        },
        "required": ["success", "error"],
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "Loan officer metrics: REST compatibility layer", "version": _package_version(),
                 "description": "The original dashboard endpoints, each a thin wrapper over a GraphQL operation "
                                "on /graphql (same auth, limits, cache and scope). Envelope: "
                                "{success, data, meta}; errors {success: false, error: {code, message, details}}. "
                                "Parameters are parsed strictly: a wrong type, an out-of-range value, an unknown or "
                                "repeated parameter is a 400 naming it; an empty text or choice parameter (?region=) "
                                "means not given; jQuery's cache-buster `_` is ignored on every route. Rules "
                                "that join several parameters, which JSON Schema cannot state, are in each "
                                "operation's description and its `x-rules` list."},
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
            "schemas": {"Error": error},
            "responses": {f"Error{code}": {"description": text, "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
                for code, text in ERRORS.items()},
        },
    }


def openapi_json(endpoints: Sequence[Endpoint]) -> Callable[[Request], Awaitable[Response]]:
    """The route answering the document of ``endpoints``, encoded once per business date."""

    @lru_cache(maxsize=4)
    def encoded(today: date) -> bytes:
        return orjson.dumps(build_document(endpoints, today))

    async def answer(request: Request) -> Response:
        return Response(encoded(application_of(request).clock.today()), media_type="application/json")

    return answer
