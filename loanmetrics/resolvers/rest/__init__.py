"""The REST compatibility layer (SPEC §7): the original dashboard routes as thin wrappers over
GraphQL documents, plus their OpenAPI document. ``routes`` is what the ASGI app mounts."""

from __future__ import annotations

from starlette.routing import Route

from loanmetrics.resolvers.rest import audit, branches, filters, loans, officers
from loanmetrics.resolvers.rest.common import Endpoint, routes_for
from loanmetrics.resolvers.rest.openapi import openapi_json

ENDPOINTS: tuple[Endpoint, ...] = (
    *officers.ENDPOINTS,
    *loans.ENDPOINTS,
    *branches.ENDPOINTS,
    *audit.ENDPOINTS,
    *filters.ENDPOINTS,
)
OPENAPI_PATH = "/api/v1/openapi.json"

routes: list[Route] = [*routes_for(ENDPOINTS), Route(OPENAPI_PATH, openapi_json, methods=["GET"])]
