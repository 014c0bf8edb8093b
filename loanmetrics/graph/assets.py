"""The browser assets the server's pages load, all served from this package under ``/static``.

Vendored files are pinned by their SHA-384 digest (the value of the ``integrity`` attribute), so
a page refuses a file that is not the one recorded here; ``static/vendor/README.md`` says where
each comes from and under which licence.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

STATIC_DIRECTORY = Path(__file__).with_name("static")
STATIC_PREFIX = "/static"


@dataclass(frozen=True)
class Asset:
    """A file under ``static/``; ``integrity`` is set for vendored files."""

    path: str
    integrity: str | None = None

    @property
    def url(self) -> str:
        return f"{STATIC_PREFIX}/{self.path}"

    @property
    def file(self) -> Path:
        return STATIC_DIRECTORY / self.path


REACT = Asset(
    "vendor/react-18.2.0/react.production.min.js",
    "sha384-tMH8h3BGESGckSAVGZ82T9n90ztNXxvdwvdM6UoR56cYcf+0iGXBliJ29D+wZ/x8",
)
REACT_DOM = Asset(
    "vendor/react-dom-18.2.0/react-dom.production.min.js",
    "sha384-bm7MnzvK++ykSwVJ2tynSE5TRdN+xL418osEVF2DE/L/gfWHj91J2Sphe582B1Bh",
)
GRAPHIQL_JS = Asset(
    "vendor/graphiql-3.8.3/graphiql.min.js",
    "sha384-HbRVEFG0JGJZeAHCJ9Xm2+tpknBQ7QZmNlO/DgZtkZ0aJSypT96YYGRNod99l9Ie",
)
GRAPHIQL_CSS = Asset(
    "vendor/graphiql-3.8.3/graphiql.min.css",
    "sha384-Mq3vbRBY71jfjQAt/DcjxUIYY33ksal4cgdRt9U/hNPvHBCaT2JfJ/PTRiPKf0aM",
)
EXPLORER_JS = Asset(
    "vendor/graphiql-plugin-explorer-1.0.2/index.umd.js",
    "sha384-2oonKe47vfHIZnmB6ZZ10vl7T0Y+qrHQF2cmNTaFDuPshpKqpUMGMc9jgj9MLDZ9",
)
EXPLORER_CSS = Asset(
    "vendor/graphiql-plugin-explorer-1.0.2/style.css",
    "sha384-5DFJlDPW2tSATRbM8kzoP1j194jexLswuNmClWoRr2Q0x7R68JIQzPHZ02Faktwi",
)
SWAGGER_UI_JS = Asset(
    "vendor/swagger-ui-dist-5.36.0/swagger-ui-bundle.js",
    "sha384-fUpRgC19yPykTqzdrUbdAg8NTiu16NEKf9U12J+IJWCg8/1mEI8f2+PEIz60Wyd+",
)
SWAGGER_UI_CSS = Asset(
    "vendor/swagger-ui-dist-5.36.0/swagger-ui.css",
    "sha384-z/AtSaOHGn5MJ5auAHXUypohywlIWLBZo1jeGmhdpVIbCnFhxAH92cwdV41oyINc",
)
VENDORED = (REACT, REACT_DOM, GRAPHIQL_JS, GRAPHIQL_CSS, EXPLORER_JS, EXPLORER_CSS, SWAGGER_UI_JS, SWAGGER_UI_CSS)

SITE_CSS = Asset("pages/site.css")
FAVICON = Asset("pages/favicon.svg")
GRAPHIQL_START = Asset("pages/graphiql.js")
API_DOCS_START = Asset("pages/api-docs.js")
