"""What browsers and proxies expect of the HTTP layer (SPEC §11): CORS for the configured origins
and compressed responses for clients that accept them.

CORS is Starlette's ``CORSMiddleware``, outside authentication, so a preflight (which never
carries a token) is answered by it: 200 for a configured origin, 400 for any other. Without
``LOANMETRICS_CORS_ORIGINS`` there is no CORS middleware at all and browsers keep their
same-origin rule. Compression is ``starlette-compress`` (zstd, br or gzip, by what the client
accepts), for bodies of at least ``LOANMETRICS_COMPRESS_MIN_BYTES``; smaller bodies, the cached
officer list's hot path included when the client asks for none, pass through untouched.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.middleware.cors import CORSMiddleware
from starlette_compress import CompressMiddleware, add_compress_type

from loanmetrics.settings import Settings

CORS_METHODS = ("GET", "HEAD", "POST", "PUT", "OPTIONS")
CORS_HEADERS = ("Authorization", "Content-Type", "Accept", "X-Request-ID")
CORS_MAX_AGE = 600
# the media types of our own bodies that starlette-compress does not know
COMPRESSIBLE = ("application/graphql-response+json", "text/csv")


def add_http_middleware(app: Starlette, settings: Settings) -> None:
    """Compression inside CORS (both outside authentication): call before the outer middleware."""
    for media_type in COMPRESSIBLE:
        add_compress_type(media_type)
    app.add_middleware(
        CompressMiddleware,
        minimum_size=settings.compress_min_bytes,
        gzip_level=settings.gzip_level,
        brotli_quality=settings.brotli_quality,
        zstd_level=settings.zstd_level,
    )
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=list(CORS_METHODS),
            allow_headers=list(CORS_HEADERS),
            expose_headers=["X-Request-ID"],
            allow_credentials=False,  # bearer tokens, never cookies
            max_age=CORS_MAX_AGE,
        )
