"""The embedded default (SPEC §11): ``loanmetrics serve`` with no DATABASE_URL starts a private
PostgreSQL, migrates, ingests, stops it cleanly on shutdown, and reuses the data next time."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import JWT_SECRET
from tests.test_etl_http import small_book

pytestmark = pytest.mark.embedded

BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _environment(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOANMETRICS_") and k not in {"DATABASE_URL"}}
    env.update(LOANMETRICS_DATA_DIR=str(data_dir), LOANMETRICS_JWT_SECRET=JWT_SECRET,
               LOANMETRICS_TODAY="2026-09-18", LOANMETRICS_LOG_LEVEL="WARNING")
    return env


def _start(env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    server = subprocess.Popen([str(BIN / "loanmetrics"), "serve", "--port", str(port), "--no-scheduler"], env=env)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert server.poll() is None, "the server exited during start-up"
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            time.sleep(0.3)
    server.kill()
    raise AssertionError("the server did not answer /healthz within 120 s")


def _stop(server: subprocess.Popen[bytes]) -> None:
    server.send_signal(signal.SIGTERM)
    assert server.wait(timeout=60) == 0


def _postmaster_running(pgdata: Path) -> bool:
    pid_file = pgdata / "postmaster.pid"
    if not pid_file.exists():
        return False
    pid = int(pid_file.read_text().splitlines()[0])
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_serve_on_embedded_postgres_migrates_ingests_and_stops(tmp_path):
    env = _environment(tmp_path / "state")
    token = subprocess.run([str(BIN / "loanmetrics"), "token", "create", "--role", "etl"], env=env,
                           capture_output=True, text=True, check=True, timeout=60).stdout.strip()
    headers = {"Authorization": f"Bearer {token}"}
    port = _free_port()
    pgdata = tmp_path / "state" / "pgdata"

    server = _start(env, port)
    try:
        assert (pgdata / "PG_VERSION").is_file()
        assert _postmaster_running(pgdata)
        ready = httpx.get(f"http://127.0.0.1:{port}/readyz", headers=headers, timeout=10)
        assert ready.status_code == 200
        assert ready.json()["checks"] == {"migrations": "current", "database": "ok"}
        first = httpx.post(f"http://127.0.0.1:{port}/api/v1/etl/sync", json=small_book(), headers=headers, timeout=60)
        assert first.status_code == 200
        assert first.json()["results"]["loans"]["inserted"] == 2
    finally:
        _stop(server)
    assert not _postmaster_running(pgdata)

    # second start reuses the data directory: the same batch is now unchanged
    server = _start(env, port)
    try:
        again = httpx.post(f"http://127.0.0.1:{port}/api/v1/etl/sync", json=small_book(), headers=headers, timeout=60)
        assert again.status_code == 200
        assert again.json()["results"]["loans"] == {"inserted": 0, "updated": 0, "unchanged": 2, "failed": 0}
    finally:
        _stop(server)
    assert not _postmaster_running(pgdata)
