"""The REST compatibility layer (SPEC §7): the original dashboard routes as thin wrappers over
GraphQL documents, plus their OpenAPI document. ``routes`` is what the ASGI app mounts.

Transport, under ``graph/`` (docs/ARCHITECTURE.md, "Layering"): each handler parses an HTTP
request, runs GraphQL documents through the endpoint's ``execute_document`` and reshapes the
answer; it reads no table itself."""

from __future__ import annotations

from starlette.routing import Route

from loanmetrics.graph.pages import OPENAPI_PATH
from loanmetrics.graph.rest import audit, branches, filters, loans, officers
from loanmetrics.graph.rest.common import Endpoint, routes_for
from loanmetrics.graph.rest.openapi import openapi_json

ENDPOINTS: tuple[Endpoint, ...] = (
    *officers.ENDPOINTS,
    *loans.ENDPOINTS,
    *branches.ENDPOINTS,
    *audit.ENDPOINTS,
    *filters.ENDPOINTS,
)
routes: list[Route] = [*routes_for(ENDPOINTS), Route(OPENAPI_PATH, openapi_json(ENDPOINTS), methods=["GET"])]
