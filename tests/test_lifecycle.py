"""Process lifecycle of the embedded PostgreSQL (issue 11, part 7): SIGHUP, SIGTERM and SIGINT to
``loanmetrics serve`` and ``demo`` stop it, and a start stops one orphaned by a crashed run. Real
signals to real processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from tests.conftest import JWT_SECRET
from tests.test_demo import Demo, _environment, _free_port

pytestmark = pytest.mark.embedded

BIN = Path(sys.executable).parent


class Server:
    """``loanmetrics serve`` on the embedded PostgreSQL, output in files."""

    def __init__(self, data_dir: Path, logs: Path) -> None:
        self.port = _free_port()
        self.pgdata = data_dir / "pgdata"
        env = {k: v for k, v in os.environ.items() if not k.startswith("LOANMETRICS_") and k != "DATABASE_URL"}
        env.update(LOANMETRICS_DATA_DIR=str(data_dir), LOANMETRICS_JWT_SECRET=JWT_SECRET,
                   LOANMETRICS_TODAY="2026-09-18", LOANMETRICS_LOG_LEVEL="WARNING")
        logs.mkdir(parents=True, exist_ok=True)
        self.stderr_path = logs / "stderr.txt"
        with self.stderr_path.open("wb") as err:
            self.process = subprocess.Popen(
                [str(BIN / "loanmetrics"), "serve", "--port", str(self.port), "--no-scheduler"],
                env=env, stdout=subprocess.DEVNULL, stderr=err,
            )

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text()

    def wait_until_serving(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"serve exited during start-up:\n{self.stderr}"
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.3)
        self.process.kill()
        raise AssertionError(f"serve did not answer within {timeout} s:\n{self.stderr}")


def postmaster(pgdata: Path) -> psutil.Process | None:
    """The running postmaster of the data directory, if any."""
    from loanmetrics.db.embedded import running_postmaster

    return running_postmaster(pgdata.resolve())


def owners(pgdata: Path) -> list[int]:
    path = pgdata / ".handle_pids.json"
    return json.loads(path.read_text() or "[]") if path.exists() else []


def assert_stopped(pgdata: Path, was: psutil.Process) -> None:
    """The postmaster has exited and left no owner behind (checked for a while: PostgreSQL's
    children finish after the postmaster's pid file goes)."""
    deadline = time.monotonic() + 30
    while was.is_running() and was.status() != psutil.STATUS_ZOMBIE and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not was.is_running() or was.status() == psutil.STATUS_ZOMBIE
    assert postmaster(pgdata) is None
    assert owners(pgdata) == []


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One data directory for the module (initdb once); any server left running is stopped."""
    path = tmp_path_factory.mktemp("lifecycle") / "state"
    yield path
    left = postmaster(path / "pgdata")
    if left is not None:
        left.send_signal(signal.SIGINT)


@pytest.mark.parametrize("signum", [signal.SIGHUP, signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_serve_and_its_postgres(data_dir: Path, tmp_path: Path, signum: int) -> None:
    server = Server(data_dir, tmp_path)
    server.wait_until_serving()
    running = postmaster(server.pgdata)
    assert running is not None
    assert owners(server.pgdata) == [server.process.pid]
    server.process.send_signal(signum)
    assert server.process.wait(timeout=60) == 0, server.stderr  # uvicorn ends Ctrl-C's interrupt itself
    assert_stopped(server.pgdata, running)
    assert "Traceback" not in server.stderr


def test_a_start_stops_the_postgres_a_crashed_run_left(data_dir: Path, tmp_path: Path) -> None:
    crashed = Server(data_dir, tmp_path / "crashed")
    crashed.wait_until_serving()
    orphan = postmaster(crashed.pgdata)
    assert orphan is not None
    crashed.process.kill()  # no handler runs: the postmaster is left with no owner
    crashed.process.wait(timeout=30)
    time.sleep(0.5)
    assert orphan.is_running()
    assert owners(crashed.pgdata) == [crashed.process.pid]

    server = Server(data_dir, tmp_path / "next")
    server.wait_until_serving()
    assert f"stopped an embedded PostgreSQL (pid {orphan.pid}) left running in" in server.stderr
    assert not orphan.is_running()
    fresh = postmaster(server.pgdata)
    assert fresh is not None
    assert fresh.pid != orphan.pid
    assert owners(server.pgdata) == [server.process.pid]  # the dead owner is gone from the list
    # and this run, now the only owner, stops its server on the way out
    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(timeout=60) == 0, server.stderr
    assert_stopped(server.pgdata, fresh)


def test_a_hang_up_stops_the_demo_and_its_postgres(tmp_path: Path) -> None:
    demo = Demo(_environment(tmp_path / "state"), _free_port(), tmp_path / "logs")
    demo.wait_until_serving()
    pgdata = tmp_path / "state" / "pgdata"
    running = postmaster(pgdata)
    assert running is not None
    demo.process.send_signal(signal.SIGHUP)
    assert demo.process.wait(timeout=60) == 0, demo.stderr
    assert_stopped(pgdata, running)


def test_a_hang_up_while_seeding_stops_the_demo_and_its_postgres(tmp_path: Path) -> None:
    env = _environment(tmp_path / "state")
    logs = tmp_path / "logs"
    logs.mkdir()
    with (logs / "stderr.txt").open("wb") as err:
        process = subprocess.Popen(
            [str(BIN / "loanmetrics"), "demo", "--port", str(_free_port()), "--officers", "20", "--loans", "4000",
             "--days", "60"], env=env, stdout=subprocess.DEVNULL, stderr=err,
        )
    pgdata = tmp_path / "state" / "pgdata"
    deadline = time.monotonic() + 120
    while "seeding a synthetic book" not in (logs / "stderr.txt").read_text():
        assert process.poll() is None, (logs / "stderr.txt").read_text()
        assert time.monotonic() < deadline, "the demo never started seeding"
        time.sleep(0.1)
    running = postmaster(pgdata)
    assert running is not None
    process.send_signal(signal.SIGHUP)
    assert process.wait(timeout=60) == 0, (logs / "stderr.txt").read_text()
    assert "seeded" not in (logs / "stderr.txt").read_text().replace("seeding", "")  # it stopped mid-seed
    assert_stopped(pgdata, running)
