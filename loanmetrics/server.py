"""Running the HTTP server: the database (embedded or configured) made ready, then uvicorn.

``loanmetrics serve`` and ``loanmetrics demo`` both run through ``serve`` here, so the demo cannot
drift from how production starts; the embedded PostgreSQL is stopped however the server ends.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from datetime import date
from typing import Any

import uvicorn

from loanmetrics.application import check_serving, ensure_database
from loanmetrics.db import failures, migrate
from loanmetrics.db.embedded import EmbeddedPostgres
from loanmetrics.db.engine import create_engine
from loanmetrics.settings import ConfigurationError, Settings, load_settings

Prepare = Callable[[Settings, str], None]
"""Runs in the parent after migrations and before uvicorn starts: (settings, database URL)."""

Disposable = Callable[[str], bool]
"""Whether the embedded database at this URL, made by a development build before the migrations
were squashed, may be deleted and made again (the demo's synthetic book may)."""


def serve(
    overrides: dict[str, Any] | None = None,
    *,
    migrate_schema: bool = True,
    prepare: Prepare | None = None,
    on_listening: Callable[[Settings], None] | None = None,
    disposable: Disposable | None = None,
) -> int:
    """The HTTP server with ``overrides`` on top of the environment's settings: start the embedded
    PostgreSQL when no DATABASE_URL is set, migrate, run ``prepare``, then uvicorn; the embedded
    server is stopped however this ends. ``on_listening`` is called (from a thread) once the port
    accepts connections. A database of the squashed development chain is refused in one line,
    unless it is embedded and ``disposable`` says its data may go: then its data directory is
    made again from nothing."""
    overrides = dict(overrides or {})
    settings = load_settings(**overrides)
    check_serving(settings, settings.host)
    _check_port_free(settings.host, settings.port)
    # uvicorn shuts down gracefully on SIGTERM, then re-raises it; exit normally instead so the
    # embedded PostgreSQL below is stopped too. A hang-up (the terminal closed) is a SIGTERM here;
    # SIGINT ends in KeyboardInterrupt, which unwinds the same way. Installed before the embedded
    # server starts so a signal during migrations or the demo's seeding also stops it.
    previous = {
        signal.SIGTERM: signal.signal(signal.SIGTERM, _exit_normally),
        signal.SIGHUP: signal.signal(signal.SIGHUP, _hang_up),
    }
    embedded: EmbeddedPostgres | None = None
    try:
        url = settings.database_url
        if url is None:
            embedded = EmbeddedPostgres(settings.pgdata)
            url = _start_embedded(embedded)
        try:
            asyncio.run(_prepare_database(url, settings.database_url, migrate_schema=migrate_schema))
        except migrate.SquashedSchemaError as exc:
            if embedded is None or disposable is None or not disposable(url):
                data_dir = embedded.pgdata if embedded is not None else None
                raise failures.DatabaseUnavailableError(
                    failures.squashed_schema(exc.revision, settings.database_url, data_dir)) from None
            sys.stderr.write(f"{embedded.pgdata} holds a development build's schema (migration {exc.revision}): "
                             "deleting it and starting again\n")
            embedded.stop()
            shutil.rmtree(embedded.pgdata)
            url = _start_embedded(embedded)
            asyncio.run(_prepare_database(url, settings.database_url, migrate_schema=True))
        if embedded is not None:
            sys.stderr.write(f"embedded PostgreSQL running from {embedded.pgdata}\n")
        if prepare is not None:
            prepare(settings, url)
        # Worker processes read their settings from the environment.
        os.environ["DATABASE_URL"] = url
        os.environ["LOANMETRICS_MIGRATE_ON_START"] = "false"
        os.environ["LOANMETRICS_HOST"] = settings.host
        os.environ["LOANMETRICS_SCHEDULER_ENABLED"] = _env_value(settings.scheduler_enabled)
        for name in overrides:
            if name not in {"database_url", "database_read_url", "redis_url"}:
                os.environ[f"LOANMETRICS_{name.upper()}"] = _env_value(getattr(settings, name))
        if on_listening is not None:
            _notify_when_listening(settings, on_listening)
        uvicorn.run(
            "loanmetrics.graph.app:create_app_from_env",
            factory=True,
            host=settings.host,
            port=settings.port,
            workers=settings.workers,
            log_config=None,
            access_log=False,
            lifespan="on",
        )
    finally:
        # A second signal must not interrupt stopping the embedded server half way.
        interrupt = signal.signal(signal.SIGINT, signal.SIG_IGN)
        for signum in previous:
            signal.signal(signum, signal.SIG_IGN)
        if embedded is not None:
            embedded.stop()
        signal.signal(signal.SIGINT, interrupt)
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return 0


def _start_embedded(embedded: EmbeddedPostgres) -> str:
    return asyncio.run(ensure_database(embedded.start()))


def _env_value(value: object) -> str:
    """A setting as its environment variable spells it (pydantic parses these back)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _check_port_free(host: str, port: int) -> None:
    """Fail before the (possibly long) start-up work rather than after it, when the port is taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise ConfigurationError(
                f"configuration error: LOANMETRICS_PORT: cannot listen on {host}:{port}: {exc.strerror}"
            ) from None


def _notify_when_listening(settings: Settings, callback: Callable[[Settings], None], timeout: float = 120) -> None:
    """Call ``callback`` from a daemon thread once the server accepts connections, so a banner
    prints after uvicorn's start-up lines instead of before a port that is not open yet."""
    host = "127.0.0.1" if settings.host in {"0.0.0.0", "localhost"} else settings.host
    host = "::1" if host == "::" else host

    def wait() -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with socket.create_connection((host, settings.port), timeout=0.5):
                    callback(settings)
                    return
            except OSError:
                time.sleep(0.2)

    threading.Thread(target=wait, name="listening-notice", daemon=True).start()


def _exit_normally(signum: int, frame: object) -> None:
    raise SystemExit(0)


def _hang_up(signum: int, frame: object) -> None:
    """SIGHUP as SIGTERM: whichever handler SIGTERM has now runs (uvicorn's graceful shutdown
    while serving, ``_exit_normally`` before and after). With several workers uvicorn's supervisor
    keeps its own meaning of SIGHUP: restart the workers."""
    signal.raise_signal(signal.SIGTERM)


async def _prepare_database(url: str, configured_url: str | None, *, migrate_schema: bool) -> None:
    """Connect once (so an unusable database fails here, in one line, not in every worker), refuse
    a schema of the squashed development chain (``migrate.SquashedSchemaError``), then apply
    pending migrations unless told not to."""
    engine = create_engine(url, pool_size=1)
    try:
        async with engine.connect() as conn:
            await conn.exec_driver_sql("SELECT 1")
            await migrate.refuse_squashed(conn)
        if migrate_schema:
            await migrate.upgrade(engine)
    except migrate.SquashedSchemaError:
        raise
    except Exception as exc:
        failure = failures.describe(exc, configured_url)
        if failure is None:
            raise
        raise failures.DatabaseUnavailableError(failure) from exc
    finally:
        await engine.dispose()
