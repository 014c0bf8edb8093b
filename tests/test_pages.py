"""The pages a browser opens (SPEC §6, §7, §10): ``/``, GraphiQL and ``/api/v1/docs`` are public,
carry no data, and load every script, style and font from the server itself."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import AsyncIterator
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin, urlsplit

import orjson
import pytest

from loanmetrics import __version__
from loanmetrics.graph import assets
from loanmetrics.graph.pages import DEFAULT_QUERY_BODY, default_query
from tests.conftest import BUSINESS_DATE
from tests.graphql_support import Book, loaded_book

HTML = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
PAGES = ("/", "/graphql", "/api/v1/docs")
KNOWN_CDNS = ("unpkg.com", "cdn.jsdelivr.net", "cdnjs.cloudflare.com", "fonts.googleapis.com", "fonts.gstatic.com")
CONTENT_TYPES = {
    "script": ("application/javascript", "text/javascript"),
    "stylesheet": ("text/css",),
    "icon": ("image/svg+xml",),
}


@pytest.fixture(scope="module")
async def book() -> AsyncIterator[Book]:
    async with loaded_book() as loaded:
        yield loaded


# --- what an HTML page, a stylesheet and a script load ------------------------------------------


class PageLinks(HTMLParser):
    """Every URL an HTML page names: what it loads (scripts, styles, icons, images, frames) and
    where it links; plus its inline styles and scripts."""

    def __init__(self) -> None:
        super().__init__()
        self.loads: list[tuple[str, str]] = []  # (kind, url)
        self.links: list[str] = []
        self.inline_css: list[str] = []
        self.inline_js: list[str] = []
        self._in: str | None = None
        self._script_type = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "script":
            self._in, self._script_type = "script", values.get("type", "")
            if "src" in values:
                self.loads.append(("script", values["src"]))
        elif tag == "style":
            self._in = "style"
        elif tag == "link" and "href" in values:
            rel = values.get("rel", "")
            kind = "stylesheet" if "stylesheet" in rel else "icon" if "icon" in rel else rel
            self.loads.append((kind, values["href"]))
        elif tag == "a" and "href" in values:
            self.links.append(values["href"])
        for name in ("src", "srcset", "poster", "data", "action", "formaction"):
            if name in values and tag not in {"script"}:
                for candidate in values[name].split(","):
                    self.loads.append((tag, candidate.strip().split(" ")[0]))
        if "style" in values:
            self.inline_css.append(values["style"])

    def handle_endtag(self, tag: str) -> None:
        if tag in {"script", "style"}:
            self._in = None

    def handle_data(self, data: str) -> None:
        if self._in == "style":
            self.inline_css.append(data)
        elif self._in == "script" and "json" not in self._script_type:
            self.inline_js.append(data)


CSS_URL = re.compile(r"""url\(\s*(['"]?)(.*?)\1\s*\)""", re.IGNORECASE | re.DOTALL)
CSS_IMPORT = re.compile(r"""@import\s+(?:url\(\s*)?['"]?([^'")\s;]+)""", re.IGNORECASE)
JS_LOADS = re.compile(
    r"""(?:\bimport\s*\(\s*|\bfrom\s*|\bimportScripts\s*\(\s*|\bnew\s+(?:Shared)?Worker\s*\(\s*|"""
    r"""\bfetch\s*\(\s*|\.src\s*=\s*)['"`]((?:https?:)?//[^'"`]+)['"`]"""
)


def css_references(text: str) -> list[str]:
    return [m.group(2) for m in CSS_URL.finditer(text)] + [m.group(1) for m in CSS_IMPORT.finditer(text)]


def external_js_loads(text: str) -> list[str]:
    """Scripts, modules, workers and fetches a script starts from an absolute URL."""
    return [m.group(1) for m in JS_LOADS.finditer(text)]


def is_elsewhere(url: str) -> bool:
    """True for a URL that leaves this server: a scheme other than data:, or //host."""
    parts = urlsplit(url)
    return bool(parts.netloc) or parts.scheme not in {"", "data"}


async def crawl(book: Book, page: str) -> dict[str, Any]:
    """Load a page as a browser would, with every asset it and its stylesheets name; return what
    was fetched and everything named that leaves the server."""
    response = await book.http.get(page, headers=HTML)
    assert response.status_code == 200, (page, response.text[:300])
    assert response.headers["content-type"].startswith("text/html")
    parser = PageLinks()
    parser.feed(response.text)
    elsewhere = [url for _, url in parser.loads if is_elsewhere(url)]
    elsewhere += [url for url in parser.links if is_elsewhere(url)]
    elsewhere += [url for css in parser.inline_css for url in css_references(css) if is_elsewhere(url)]
    elsewhere += [url for js in parser.inline_js for url in external_js_loads(js)]
    fetched: dict[str, str] = {}
    pending = [(kind, urljoin(page, url)) for kind, url in parser.loads
               if not is_elsewhere(url) and not url.startswith("data:")]
    texts = [response.text]
    while pending:
        kind, url = pending.pop()
        if url in fetched:
            continue
        asset = await book.http.get(url)
        assert asset.status_code == 200, (page, url, asset.status_code)
        content_type = asset.headers["content-type"].split(";")[0]
        assert content_type in CONTENT_TYPES.get(kind, (content_type,)), (url, content_type)
        fetched[url] = content_type
        texts.append(asset.text)
        if content_type == "text/css":
            for reference in css_references(asset.text):
                if is_elsewhere(reference):
                    elsewhere.append(reference)
                elif not reference.startswith("data:"):
                    pending.append(("css-url", urljoin(url, reference)))
        elif "javascript" in content_type:
            elsewhere += external_js_loads(asset.text)
    cdn_mentions = [cdn for text in texts for cdn in KNOWN_CDNS if cdn in text]
    return {"fetched": fetched, "elsewhere": elsewhere, "cdn_mentions": cdn_mentions, "parser": parser}


# --- tests -----------------------------------------------------------------------------------


@pytest.mark.parametrize("page", PAGES)
async def test_every_page_loads_only_from_the_server(book: Book, page: str) -> None:
    crawled = await crawl(book, page)
    assert crawled["elsewhere"] == []
    assert crawled["cdn_mentions"] == []
    fetched = crawled["fetched"]
    assert fetched, "the page loads its styles and scripts from /static"
    assert all(url.startswith("/static/") for url in fetched)
    assert assets.FAVICON.url in fetched


async def test_graphiql_loads_react_graphiql_and_the_explorer_from_the_server(book: Book) -> None:
    fetched = (await crawl(book, "/graphql"))["fetched"]
    expected = {assets.REACT, assets.REACT_DOM, assets.GRAPHIQL_JS, assets.GRAPHIQL_CSS, assets.EXPLORER_JS,
                assets.EXPLORER_CSS, assets.GRAPHIQL_START, assets.FAVICON}
    assert set(fetched) == {asset.url for asset in expected}
    docs = (await crawl(book, "/api/v1/docs"))["fetched"]
    assert set(docs) == {asset.url for asset in (assets.SWAGGER_UI_JS, assets.SWAGGER_UI_CSS, assets.API_DOCS_START,
                                                  assets.FAVICON)}


def test_the_checker_finds_what_leaves_the_server() -> None:
    """The crawler's rules catch each way a page could load from elsewhere."""
    parser = PageLinks()
    parser.feed('<link rel="stylesheet" href="https://unpkg.com/x.css"><script src="//cdn.example/x.js"></script>'
                '<img srcset="/a.png 1x, http://x.example/b.png 2x"><style>@import "https://f.example/f.css";'
                'body { background: url(http://x.example/y.png) }</style><script>import("https://m.example/m.js")'
                '</script>')
    found = [url for _, url in parser.loads if is_elsewhere(url)]
    found += [url for css in parser.inline_css for url in css_references(css) if is_elsewhere(url)]
    found += [url for js in parser.inline_js for url in external_js_loads(js)]
    assert sorted(found) == sorted(["https://unpkg.com/x.css", "//cdn.example/x.js", "http://x.example/b.png",
                                    "https://f.example/f.css", "http://x.example/y.png", "https://m.example/m.js"])
    assert not is_elsewhere("/static/a.js")
    assert not is_elsewhere("data:font/woff2;base64,AAAA")
    assert external_js_loads('importScripts("https://w.example/w.js"); new Worker("//w.example/x.js")') == [
        "https://w.example/w.js", "//w.example/x.js"]


def test_vendored_files_are_the_recorded_ones() -> None:
    """Each vendored file has the SHA-384 digest recorded (and sent as its integrity attribute),
    which for GraphiQL's set is also the digest Strawberry pins; each ships with its licence."""
    for asset in assets.VENDORED:
        digest = base64.b64encode(hashlib.sha384(asset.file.read_bytes()).digest()).decode()
        assert asset.integrity == f"sha384-{digest}", asset.path
        assert (asset.file.parent / "LICENSE").is_file(), asset.path


async def test_pages_are_public_and_queries_still_need_a_token(book: Book) -> None:
    for page in PAGES:
        response = await book.http.get(page, headers=HTML)  # no token
        assert response.status_code == 200, page
    assert (await book.http.get(assets.GRAPHIQL_JS.url)).status_code == 200
    assert (await book.http.get("/static/vendor/nope.js")).status_code == 404
    query = {"query": "{ officers { totalCount } }"}
    for response in (
        await book.http.post("/graphql", json=query, headers=HTML),
        await book.http.get("/graphql", params=query, headers=HTML),  # a query is a request, not the page
        await book.http.get("/graphql"),  # no HTML asked for: a GraphQL request without a query
        await book.http.get("/graphql", headers={"Accept": "application/json"}),
        await book.http.post("/graphql", headers=HTML),
    ):
        assert response.status_code == 401, response.text
        assert response.json()["error"]["code"] == "UNAUTHENTICATED"
    response = await book.http.get("/graphql", headers={**book.headers("viewer"), "Accept": "application/json"})
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"


async def test_landing_page_names_version_business_date_and_the_latest_run(book: Book) -> None:
    async with book.app.db.raw_reader() as conn:
        run = await conn.fetchrow(
            "SELECT calculation_type, calculation_date, end_time FROM metric_calculation_log "
            "WHERE status = 'Completed' ORDER BY id DESC LIMIT 1"
        )
    assert run is not None
    response = await book.http.get("/")
    assert response.status_code == 200
    parser = PageLinks()
    parser.feed(response.text)
    text = response.text
    assert f'<dd id="version">{__version__}</dd>' in text
    assert f'<dd id="business-date">{BUSINESS_DATE.isoformat()} (UTC)</dd>' in text
    finished = run["end_time"].strftime("%Y-%m-%d %H:%M:%S UTC")
    assert (f'<span class="status-completed">Completed</span> at {finished} '
            f'({run["calculation_type"]} run for {run["calculation_date"].isoformat()})') in text
    assert set(parser.links) >= {"/graphql", "/api/v1/docs", "/api/v1/openapi.json", "/healthz", "/readyz", "/metrics"}
    # operational facts only: no officer, branch or figure from the book
    async with book.app.db.raw_reader() as conn:
        names = [row["officer_name"] for row in await conn.fetch("SELECT officer_name FROM officers")]
        branches = [row["branch"] for row in await conn.fetch("SELECT DISTINCT branch FROM loans")]
    assert not [word for word in (*names, *branches) if word in text]


async def test_landing_page_renders_when_the_database_is_gone(clean_database_url: str) -> None:
    import httpx

    from loanmetrics.application import create_application
    from loanmetrics.graph.app import create_app
    from tests.conftest import make_settings

    application = create_application(make_settings(clean_database_url))
    await application.start(migrate_schema=False)
    transport = httpx.ASGITransport(app=create_app(application))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        fresh = await http.get("/")
        assert fresh.status_code == 200
        assert '<dd id="latest-run">none yet</dd>' in fresh.text
        await application.stop()  # no database any more
        gone = await http.get("/")
    assert gone.status_code == 200
    assert "unknown: the database is unavailable" in gone.text


async def test_graphiql_opens_on_the_riskiest_officers_query_and_it_runs(book: Book) -> None:
    response = await book.http.get("/graphql", headers=HTML)
    match = re.search(r'<script id="graphiql-config" type="application/json">(.*?)</script>', response.text, re.S)
    assert match is not None
    config = orjson.loads(match.group(1))
    assert config["endpoint"] == "/graphql"
    assert config["query"] == default_query(auth_enabled=True)
    assert config["query"].endswith(DEFAULT_QUERY_BODY)
    assert orjson.loads(config["headers"]) == {
        "Authorization": "Bearer <paste a token from: loanmetrics token create --role viewer>"}
    data = await book.gql(config["query"], role="viewer")
    officers = data["officers"]
    assert officers["totalCount"] == 6
    nodes = officers["nodes"]
    assert len(nodes) == 6
    scores = [node["metrics"]["riskScore"] for node in nodes]
    assert scores == sorted(scores)  # riskiest (lowest score) first
    first = nodes[0]
    assert set(first) == {"officerId", "officerName", "branch", "metrics", "audit"}
    assert first["metrics"]["calculationDate"] == BUSINESS_DATE.isoformat()
    assert first["metrics"]["riskBand"] in {"GREEN", "WATCH", "AMBER", "RED"}
    assert set(first["metrics"]["fimr"]) == {"value", "numerator", "denominator", "band"}
    assert first["audit"]["auditStatus"] == "NOT_ASSIGNED"
    assert "Authentication is disabled here" in default_query(auth_enabled=False)


async def test_the_pages_keep_no_token_in_browser_storage(book: Book) -> None:
    """GraphiQL's headers and Swagger UI's authorisation hold bearer tokens: neither start script
    lets its library persist them, and neither writes browser storage itself."""
    scripts = {}
    for page, asset in (("/graphql", assets.GRAPHIQL_START), ("/api/v1/docs", assets.API_DOCS_START)):
        assert asset.url in (await crawl(book, page))["fetched"]
        response = await book.http.get(asset.url)
        assert response.status_code == 200
        scripts[page] = response.text
    options = re.findall(r"^\s*(shouldPersistHeaders|persistAuthorization):\s*(\w+),$", "\n".join(scripts.values()),
                         re.M)
    assert options == [("shouldPersistHeaders", "false"), ("persistAuthorization", "false")]
    for text in scripts.values():
        code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("//"))
        assert not re.search(r"localStorage|sessionStorage|indexedDB|document\.cookie", code)
