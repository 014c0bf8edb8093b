"""A database that cannot be used, said in one line: which server, and what went wrong.

The drivers report these as tracebacks deep inside SQLAlchemy and asyncpg; an operator needs the
address they configured and the reason (refused, unknown host, no such database, login refused).
Also here: which errors mean the database was lost mid-request (``is_database_unavailable``: a
503 the client retries), shared by the HTTP middleware and the GraphQL endpoint.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError


class DatabaseUnavailableError(Exception):
    """The configured database cannot be reached or used; the message is one line for the operator."""


def where(url: str | None) -> str:
    """The server and database a URL names, without its password; the embedded server when none."""
    if url is None:
        return "the embedded PostgreSQL"
    try:
        parsed = make_url(url)
    except ArgumentError:
        return "DATABASE_URL"
    host = parsed.host or parsed.query.get("host") or "localhost"
    if isinstance(host, tuple):
        host = host[0]
    address = f"{host}:{parsed.port or 5432}" if not str(host).startswith("/") else str(host)
    return f"PostgreSQL at {address}, database {parsed.database or '(default)'!r}"


def squashed_schema(revision: str, url: str | None, data_dir: Path | None) -> str:
    """One line for a database made by a development build before its migrations were squashed
    (``migrate.SquashedSchemaError``): where it is, why it cannot be upgraded, what to do."""
    if url is None and data_dir is not None:
        target, remedy = f"the embedded PostgreSQL in {data_dir}", f"move {data_dir} aside (it is recreated empty)"
    else:
        target, remedy = where(url), "point DATABASE_URL at a new, empty database"
    return (f"{target} holds the schema of a development build of loanmetrics (migration {revision}, since "
            f"squashed into the first release's baseline) and cannot be upgraded: {remedy}, then load the data "
            "again with 'loanmetrics ingest'")


def describe(exc: BaseException, url: str | None, *, from_driver: bool = False) -> str | None:
    """One line naming the database and the reason, when ``exc`` (or what caused it) is a failure
    to connect to or log in to the database; None for anything else. ``from_driver``: count a
    socket error only when the database driver raised or wrapped it (not, say, Redis)."""
    target = where(url)
    causes = list(_chain(exc))
    if from_driver and not any(type(cause).__module__.startswith(("asyncpg", "sqlalchemy")) for cause in causes):
        return None
    for cause in causes:
        if isinstance(cause, asyncpg.InvalidCatalogNameError):
            return f"{target}: {cause} (create it, or correct DATABASE_URL)"
        if isinstance(cause, asyncpg.InvalidPasswordError | asyncpg.InvalidAuthorizationSpecificationError):
            return f"{target}: the login was refused: {cause}"
        if isinstance(cause, asyncpg.CannotConnectNowError | asyncpg.TooManyConnectionsError):
            return f"{target}: the server refuses connections now: {cause}"
        if isinstance(cause, socket.gaierror):
            return f"cannot reach {target}: unknown host ({cause.strerror})"
        if isinstance(cause, ConnectionRefusedError):
            return f"cannot reach {target}: connection refused (is PostgreSQL running there?)"
        if isinstance(cause, TimeoutError):
            return f"cannot reach {target}: no answer (timed out)"
        if isinstance(cause, ConnectionError | asyncpg.ConnectionDoesNotExistError):
            return f"lost the connection to {target}: {cause}"
    return None


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """The exception, what caused it, and SQLAlchemy's wrapped driver errors (``.orig``)."""
    seen: set[int] = set()
    pending: list[BaseException] = [exc]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        for nested in (getattr(current, "orig", None), current.__cause__, current.__context__):
            if isinstance(nested, BaseException):
                pending.append(nested)


# asyncpg's InterfaceError texts for a connection or pool that is gone: closed by the server, a
# pool proxy detached when its lost connection was released ("connection has been released back
# to the pool"), a pool closed under the request at shutdown. Others ("another operation is in
# progress") are faults of our code, not outages.
CLOSED_CONNECTION = ("connection is closed", "connection was closed", "released back to the pool",
                     "pool is closing", "pool is closed")
# SQLSTATE class 08 (connection exceptions: lost, refused, rejected, resolution unknown) and the
# class 57 errors that end a session (not 57014, a cancelled statement: a statement timeout).
_LOST = (
    asyncpg.exceptions.PostgresConnectionError, asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.AdminShutdownError, asyncpg.exceptions.CrashShutdownError,
    asyncpg.exceptions.DatabaseDroppedError, asyncpg.exceptions.IdleSessionTimeoutError,
)


def is_database_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` (or its cause) means the database could not be reached or the connection
    was lost (a 503 the client retries), as opposed to a fault of the request or of our code."""
    if isinstance(exc, (OperationalError, ConnectionError, OSError, *_LOST)):
        return True
    # a connection dropped mid-operation leaves asyncpg's protocol in a state it cannot leave
    # ("cannot switch to state 12"); a stale statement cache is no outage
    if isinstance(exc, asyncpg.exceptions.InternalClientError) and not isinstance(
        exc, asyncpg.exceptions.OutdatedSchemaCacheError
    ):
        return True
    if isinstance(exc, asyncpg.exceptions.InterfaceError) and any(text in str(exc) for text in CLOSED_CONNECTION):
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    cause = exc.__cause__ or exc.__context__
    return cause is not None and cause is not exc and is_database_unavailable(cause)
