"""The pages a person opens in a browser: the landing page ``/``, GraphiQL (GET ``/graphql`` asking
for HTML) and the REST API's Swagger UI (``/api/v1/docs``), with their static assets.

SPEC §10 makes them public: they carry no data (queries from them still need a token). SPEC §6:
every script, style and font they load is served from ``/static`` (``assets.py``), never from
elsewhere, because lenders run the server on networks without internet access.
"""

from __future__ import annotations

import asyncio
import html
import logging
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from string import Template
from urllib.parse import parse_qsl

import orjson
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from loanmetrics import __version__
from loanmetrics.graph import assets
from loanmetrics.graph.context import application_of
from loanmetrics.scheduler.calculation_log import RunSummary, latest_runs

log = logging.getLogger(__name__)

GRAPHQL_PATH = "/graphql"
API_DOCS_PATH = "/api/v1/docs"
OPENAPI_PATH = "/api/v1/openapi.json"
"""The REST layer's OpenAPI document (public, like the pages that read it)."""
PUBLIC_PAGES = frozenset({"/", API_DOCS_PATH})
TEMPLATES = Path(__file__).with_name("templates")
LANDING_DATABASE_TIMEOUT = 2.0

# GraphiQL's opening query: the riskiest officers of the default window (month to date of the
# latest calculated day). One selection per line, so each is easy to find and change.
OFFICER_METRICS_SELECTION = (
    "calculationDate",
    "riskScore",
    "riskBand",
    "fimr { value numerator denominator band }",
    "par30 { value band }",
    "porr { value }",
)
DEFAULT_QUERY_BODY = (
    "query RiskiestOfficers {\n"
    "  officers(\n"
    "    first: 10\n"
    "    sort: {field: RISK_SCORE, direction: ASC}\n"
    "  ) {\n"
    "    totalCount\n"
    "    nodes {\n"
    "      officerId\n"
    "      officerName\n"
    "      branch\n"
    "      metrics {\n"
    + "".join(f"        {line}\n" for line in OFFICER_METRICS_SELECTION)
    + "      }\n"
    "      audit { auditStatus assigneeName }\n"
    "    }\n"
    "  }\n"
    "}\n"
)
TOKEN_PLACEHOLDER = "paste a token from: loanmetrics token create --role viewer"


def default_query(auth_enabled: bool) -> str:
    """The opening query with a comment on what it shows and how to authenticate (lines short
    enough for the editor pane)."""
    lines = [
        "# The ten riskiest loan officers this month (month to",
        "# date of the latest calculated day), lowest risk score",
        "# first, with risk band, FIMR and audit status.",
        "# Run it: Ctrl-Enter or the \u25b6 button. The Docs and",
        "# Explorer panes (left bar) list every field.",
        "#",
    ]
    if auth_enabled:
        lines += [
            "# Queries need a bearer token: in Headers (below) put",
            '#   {"Authorization": "Bearer <token>"}',
            "# with a token from: loanmetrics token create --role viewer",
        ]
    else:
        lines.append("# Authentication is disabled here (the local demo).")
    return "\n".join(lines) + "\n\n" + DEFAULT_QUERY_BODY


def wants_graphiql(scope: Scope) -> bool:
    """GET /graphql from a browser: HTML accepted and no ``query`` (or persisted-query ``extensions``)
    parameter. The page is public; a GET that carries a query, and every POST, is a GraphQL request
    and needs a token."""
    if scope["path"] != GRAPHQL_PATH or scope["method"] not in {"GET", "HEAD"}:
        return False
    accept = b""
    for name, value in scope["headers"]:
        if name == b"accept":
            accept += value + b","
    if b"text/html" not in accept:
        return False
    return all(key not in {"query", "extensions"} for key, _ in parse_qsl(scope["query_string"].decode("latin-1")))


def is_public_page(scope: Scope) -> bool:
    """The pages and assets anyone may load (SPEC §10): no data is on them."""
    path: str = scope["path"]
    return path in PUBLIC_PAGES or path.startswith(assets.STATIC_PREFIX + "/") or wants_graphiql(scope)


async def landing(request: Request) -> Response:
    """What this server is and whether it is working: version, business date, latest calculation
    run (when and how it ended: operational facts, no figures from the book), and links."""
    application = application_of(request)
    settings = application.settings
    try:
        async with asyncio.timeout(LANDING_DATABASE_TIMEOUT):
            latest, completed = await latest_runs(application.db)
        run = _describe_runs(latest, completed)
    except Exception:  # the page must still render: it is where an operator looks first
        log.warning("landing page: the calculation log could not be read", exc_info=True)
        run = '<span class="status-failed">unknown: the database is unavailable (see /readyz)</span>'
    authentication = (
        "enabled: queries need a bearer token" if settings.auth_enabled
        else "disabled (local demo on a loopback address)"
    )
    page = _template("landing.html").substitute(
        favicon=assets.FAVICON.url,
        site_css=assets.SITE_CSS.url,
        version=html.escape(__version__),
        business_date=html.escape(f"{application.clock.today().isoformat()} ({settings.timezone})"),
        latest_run=run,
        authentication=html.escape(authentication),
    )
    return HTMLResponse(page, headers={"Cache-Control": "no-store"})


def _describe_runs(latest: RunSummary | None, completed: RunSummary | None) -> str:
    if latest is None:
        return "none yet"
    text = _describe_run(latest)
    if completed is not None and completed != latest:
        text += f"; the latest completed: {_describe_run(completed)}"
    return text


def _describe_run(run: RunSummary) -> str:
    status = html.escape(run.status)
    moment = f"at {_timestamp(run.end_time)}" if run.end_time else f"since {_timestamp(run.start_time)}"
    what = html.escape(f"{run.calculation_type} run for {run.calculation_date.isoformat()}")
    return f'<span class="status-{status.lower()}">{status}</span> {moment} ({what})'


def _timestamp(moment: datetime) -> str:
    return html.escape(moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"))


def graphiql_page(request: Request) -> Response:
    """GraphiQL with the domain query and, when authentication is on, a headers template."""
    auth_enabled = application_of(request).settings.auth_enabled
    headers = orjson.dumps({"Authorization": f"Bearer <{TOKEN_PLACEHOLDER}>"}, option=orjson.OPT_INDENT_2)
    config = {
        "endpoint": GRAPHQL_PATH,
        "query": default_query(auth_enabled),
        "headers": headers.decode() if auth_enabled else "",
    }
    page = _template("graphiql.html").substitute(
        favicon=assets.FAVICON.url,
        config=_script_json(config),
        start=assets.GRAPHIQL_START.url,
        **_tag_values("graphiql_css", assets.GRAPHIQL_CSS),
        **_tag_values("explorer_css", assets.EXPLORER_CSS),
        **_tag_values("react", assets.REACT),
        **_tag_values("react_dom", assets.REACT_DOM),
        **_tag_values("graphiql_js", assets.GRAPHIQL_JS),
        **_tag_values("explorer_js", assets.EXPLORER_JS),
    )
    return HTMLResponse(page, headers={"Cache-Control": "no-cache"})


async def api_docs(request: Request) -> Response:
    """Swagger UI over ``/api/v1/openapi.json``."""
    page = _template("api-docs.html").substitute(
        favicon=assets.FAVICON.url,
        config=_script_json({"openapi": OPENAPI_PATH}),
        start=assets.API_DOCS_START.url,
        **_tag_values("swagger_css", assets.SWAGGER_UI_CSS),
        **_tag_values("swagger_js", assets.SWAGGER_UI_JS),
    )
    return HTMLResponse(page, headers={"Cache-Control": "no-cache"})


class StaticAssets(StaticFiles):
    """The package's static files. Vendored files live under versioned paths, so browsers may
    keep them; the pages' own scripts are revalidated (ETag) on each load."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        if response.status_code == 200:
            immutable = path.startswith("vendor/")
            response.headers["Cache-Control"] = "public, max-age=31536000, immutable" if immutable else "no-cache"
        return response


def static_mount() -> Mount:
    return Mount(assets.STATIC_PREFIX, app=StaticAssets(directory=assets.STATIC_DIRECTORY), name="static")


def _tag_values(name: str, asset: assets.Asset) -> dict[str, str]:
    return {name: asset.url, f"{name}_integrity": asset.integrity or ""}


def _script_json(value: object) -> str:
    """JSON safe inside a <script> element: no '<' can close it early."""
    return orjson.dumps(value).decode().replace("<", "\\u003c")


@cache
def _template(name: str) -> Template:
    return Template((TEMPLATES / name).read_text(encoding="utf-8"))
