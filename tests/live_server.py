"""A real server for tests that need a socket: ``loanmetrics serve`` (uvicorn) in a subprocess on a
free port, against a test database. Tests that stall or break the server (a fragment bomb on the
old code, a client that stops reading) must not stall the test process itself."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx

from loanmetrics.graph.auth import create_token
from loanmetrics.principal import Role
from tests.conftest import JWT_SECRET, make_settings


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def token(role: str, **settings: str) -> str:
    """A token signed with the test secret (the server's), with the given issuer/audience settings."""
    return create_token(make_settings(None, **settings), role=Role(role), subject=f"live-{role}",
                        ttl=timedelta(hours=1))


@dataclass
class LiveServer:
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def headers(self, role: str = "admin") -> dict[str, str]:
        return {"Authorization": f"Bearer {token(role)}"}

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@contextmanager
def live_server(database_url: str, log: Path | None = None, **env: str) -> Iterator[LiveServer]:
    """The server on ``database_url`` (already migrated), its output written to ``log`` (a
    temporary file when none is given)."""
    if log is None:
        log = Path(tempfile.mkstemp(prefix="lm-live-server-", suffix=".log")[1])
    port = free_port()
    environment = {k: v for k, v in os.environ.items()
                   if not k.startswith("LOANMETRICS_") and k not in ("REDIS_URL", "DATABASE_URL", "DATABASE_READ_URL")}
    environment.update(DATABASE_URL=database_url, LOANMETRICS_JWT_SECRET=JWT_SECRET,
                       LOANMETRICS_TODAY="2026-09-18", LOANMETRICS_LOG_LEVEL="WARNING", **env)
    binary = str(Path(sys.executable).parent / "loanmetrics")
    with log.open("wb") as sink:
        process = subprocess.Popen([binary, "serve", "--port", str(port), "--no-scheduler", "--no-migrate"],
                                   env=environment, stdout=sink, stderr=subprocess.STDOUT)
    server = LiveServer(process, port, log)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{server.url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the server did not start:\n{server.output()}")
            time.sleep(0.1)
        yield server
    finally:
        if process.poll() is None:
            process.kill()  # a server stuck on the old code's work would never stop on SIGTERM
        process.wait(timeout=30)
