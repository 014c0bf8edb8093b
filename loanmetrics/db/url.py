"""libpq query parameters of DATABASE_URL translated for asyncpg (docs/ARCHITECTURE.md,
"Database URLs").

Operators copy libpq URLs (``?sslmode=require&application_name=x``); SQLAlchemy's asyncpg dialect
hands each query parameter to ``asyncpg.connect`` as a keyword, which rejects them, so the process
died at start-up with a traceback. The common ones are translated here, once for every connection
path (engines, the query pool, the leader lock, the generation listener); any other is refused
when the settings are read, in one line naming the setting.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
SUPPORTED = ("sslmode", "connect_timeout", "application_name")
# Kept in the URL: SQLAlchemy's asyncpg dialect and asyncpg both read them from there (a Unix
# socket directory, as the embedded server's URL carries: ``postgresql://postgres:@/postgres?host=/dir``).
KEPT = ("host", "port")


class UnsupportedUrlError(ValueError):
    """A query parameter of a database URL that cannot be honoured (the message says which)."""


@dataclass(frozen=True)
class ConnectOptions:
    """What a database URL's query asks of each connection, in asyncpg's terms."""

    ssl: str | None = None
    timeout: float | None = None
    server_settings: dict[str, str] = field(default_factory=dict)

    def kwargs(self, server_settings: dict[str, str], *, timeout: float | None = None) -> dict[str, Any]:
        """``asyncpg.connect`` / ``create_pool`` keywords: ``server_settings`` overlaid with the
        URL's own (its application_name wins), the URL's ssl mode and timeout (else ``timeout``)."""
        found: dict[str, Any] = {"server_settings": {**server_settings, **self.server_settings}}
        if self.ssl is not None:
            found["ssl"] = self.ssl
        chosen = self.timeout if self.timeout is not None else timeout
        if chosen is not None:
            found["timeout"] = chosen
        return found


def split_url(url: str) -> tuple[str, ConnectOptions]:
    """``url`` without the query parameters it translates, and what they ask; UnsupportedUrlError
    for a parameter or value this service cannot honour."""
    parts = urlsplit(url)
    options: dict[str, Any] = {"server_settings": {}}
    kept: list[tuple[str, str]] = []
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if name in KEPT:
            kept.append((name, value))
        elif name == "sslmode":
            if value not in SSL_MODES:
                raise UnsupportedUrlError(f"sslmode={value!r} is not one of {', '.join(SSL_MODES)}")
            options["ssl"] = value
        elif name == "connect_timeout":
            try:
                seconds = int(value)
            except ValueError:
                raise UnsupportedUrlError(f"connect_timeout={value!r} is not a whole number of seconds") from None
            if seconds < 0:
                raise UnsupportedUrlError(f"connect_timeout={value!r} is negative")
            options["timeout"] = float(seconds) if seconds > 0 else None  # libpq: 0 waits forever
        elif name == "application_name":
            options["server_settings"]["application_name"] = value
        else:
            raise UnsupportedUrlError(
                f"unsupported query parameter {name!r} (supported: {', '.join((*SUPPORTED, *KEPT))})")
    return urlunsplit(parts._replace(query=urlencode(kept))), ConnectOptions(**options)
