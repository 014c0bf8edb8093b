"""A real ``loanmetrics serve`` (uvicorn) on a loopback port, for the tests that drive the server
from another program (the graphql-http audit in Node, schemathesis)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.conftest import BUSINESS_DATE, JWT_SECRET

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def server_environment(database_url: str, **settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("LOANMETRICS_") and k not in {"DATABASE_URL", "REDIS_URL", "DATABASE_READ_URL"}}
    env.update(DATABASE_URL=database_url, LOANMETRICS_JWT_SECRET=JWT_SECRET,
               LOANMETRICS_TODAY=BUSINESS_DATE.isoformat(), LOANMETRICS_LOG_LEVEL="WARNING")
    env.update(settings)
    return env


def token(env: dict[str, str], role: str) -> str:
    return subprocess.run([str(BIN / "loanmetrics"), "token", "create", "--role", role], env=env,
                          capture_output=True, text=True, check=True, timeout=60).stdout.strip()


@contextmanager
def live_server(database_url: str, **settings: str) -> Iterator[tuple[str, dict[str, str]]]:
    """(base URL, environment) of a started server; stopped (SIGTERM) on exit."""
    port = free_port()
    env = server_environment(database_url, **settings)
    process = subprocess.Popen([str(BIN / "loanmetrics"), "serve", "--port", str(port), "--no-scheduler",
                                "--no-migrate"], env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, "the server exited during start-up"
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the server did not answer /healthz within 60 s"
            time.sleep(0.2)
        yield base, env
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
