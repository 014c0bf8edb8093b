"""``loanmetrics demo`` (SPEC §11): embedded database, a synthetic book with history, then the server
with auth disabled on loopback; a second run reuses the data. A small book keeps this fast."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from loanmetrics.application import ensure_database
from loanmetrics.db import migrate
from loanmetrics.db.embedded import EmbeddedPostgres
from loanmetrics.db.engine import create_engine, libpq_url
from loanmetrics.demo import OFFICERS_QUERY

pytestmark = pytest.mark.embedded

BIN = Path(sys.executable).parent
BUSINESS_DATE = date(2026, 9, 18)
OFFICERS, LOANS, DAYS = 5, 300, 30


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _environment(data_dir: Path) -> dict[str, str]:
    drop = {"DATABASE_URL", "DATABASE_READ_URL", "REDIS_URL"}
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOANMETRICS_") and k not in drop}
    env.update(LOANMETRICS_DATA_DIR=str(data_dir), LOANMETRICS_TODAY=BUSINESS_DATE.isoformat(),
               LOANMETRICS_LOG_LEVEL="WARNING")
    return env


class Demo:
    """One ``loanmetrics demo`` process with its output in files (pipes could fill and block it)."""

    def __init__(self, env: dict[str, str], port: int, logs: Path) -> None:
        self.port = port
        self.stdout_path, self.stderr_path = logs / "stdout.txt", logs / "stderr.txt"
        logs.mkdir(parents=True, exist_ok=True)
        with self.stdout_path.open("wb") as out, self.stderr_path.open("wb") as err:
            self.process = subprocess.Popen(
                [str(BIN / "loanmetrics"), "demo", "--port", str(port),
                 "--officers", str(OFFICERS), "--loans", str(LOANS), "--days", str(DAYS)],
                env=env, stdout=out, stderr=err,
            )

    @property
    def stdout(self) -> str:
        return self.stdout_path.read_text()

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text()

    def wait_until_serving(self, timeout: float = 240) -> float:
        """Seconds until /healthz answered and the banner (printed once the port is open) is out."""
        started = time.monotonic()
        deadline = started + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"the demo exited during start-up:\n{self.stderr}"
            try:
                healthy = httpx.get(self.url("/healthz"), timeout=1).status_code == 200
            except httpx.HTTPError:
                healthy = False
            if healthy and "database:" in self.stdout:
                return time.monotonic() - started
            time.sleep(0.3)
        self.process.kill()
        raise AssertionError(f"the demo did not start within {timeout} s:\n{self.stderr}")

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def database_url(self) -> str:
        match = re.search(r"^\s*database:\s+(\S+)\s*$", self.stdout, re.MULTILINE)
        assert match, self.stdout
        return match.group(1)

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=60)


def _postmaster_running(pgdata: Path) -> bool:
    pid_file = pgdata / "postmaster.pid"
    if not pid_file.exists():
        return False
    pid = int(pid_file.read_text().splitlines()[0])
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by the server's own user
        return True
    return True


def _database_facts(url: str) -> dict[str, Any]:
    async def run() -> dict[str, Any]:
        conn = await asyncpg.connect(libpq_url(url))
        try:
            return {
                "loans": await conn.fetchval("SELECT count(*) FROM loans"),
                "officers": await conn.fetchval("SELECT count(*) FROM officers"),
                "team_members": await conn.fetchval("SELECT count(*) FROM team_members"),
                "first_day": await conn.fetchval("SELECT min(calculation_date) FROM officer_metrics_daily"),
                "last_day_rows": await conn.fetchval(
                    "SELECT count(*) FROM officer_metrics_daily WHERE calculation_date = $1", BUSINESS_DATE
                ),
                "backfills": await conn.fetchval(
                    "SELECT count(*) FROM metric_calculation_log WHERE calculation_type = 'backfill' "
                    "AND status = 'Completed'"
                ),
            }
        finally:
            await conn.close()

    return asyncio.run(run())


def test_demo_seeds_backfills_serves_and_reuses_its_data(tmp_path):
    env = _environment(tmp_path / "state")
    pgdata = tmp_path / "state" / "pgdata"
    port = _free_port()

    demo = Demo(env, port, tmp_path / "first")
    graphql: httpx.Response | None = None
    try:
        demo.wait_until_serving()
        assert _postmaster_running(pgdata)
        assert "seeding a synthetic book" in demo.stderr
        assert f"http://127.0.0.1:{port}/graphql" in demo.stdout
        assert "officers(first: 5" in demo.stdout
        # no token: authentication is disabled for the loopback demo
        ready = httpx.get(demo.url("/readyz"), timeout=10)
        assert ready.status_code == 200
        assert ready.json()["checks"] == {"migrations": "current", "database": "ok"}
        facts = _database_facts(demo.database_url())
        assert facts == {
            "loans": LOANS, "officers": OFFICERS, "team_members": 5,
            "first_day": BUSINESS_DATE - timedelta(days=DAYS - 1), "last_day_rows": OFFICERS, "backfills": 1,
        }
        graphql = httpx.post(demo.url("/graphql"), json={"query": OFFICERS_QUERY}, timeout=30)
    finally:
        code = demo.stop()
    assert code == 0, demo.stderr
    assert not _postmaster_running(pgdata)

    # the second run reuses the book: no seeding, no second backfill, same data
    again = Demo(env, port, tmp_path / "second")
    try:
        again.wait_until_serving()
        assert "reusing them" in again.stderr
        assert "seeding" not in again.stderr
        facts = _database_facts(again.database_url())
        assert (facts["loans"], facts["backfills"]) == (LOANS, 1)
    finally:
        code = again.stop()
    assert code == 0, again.stderr
    assert not _postmaster_running(pgdata)

    # the GraphQL API (checked last so the lifecycle assertions above run even before it exists)
    assert graphql is not None
    assert graphql.status_code == 200, graphql.text
    body = graphql.json()
    assert "errors" not in body, body
    assert body["data"]["officers"]["totalCount"] == OFFICERS
    nodes = body["data"]["officers"]["nodes"]
    assert len(nodes) == OFFICERS


def _development_data_directory(pgdata: Path, *, demo_book: bool) -> None:
    """An embedded data directory as a development build left it: the schema of migrations
    0001-0013 (revision 0013, no record of SQL files) with one loan, and the demo's marker when
    ``demo_book``."""

    async def build(server_url: str) -> None:
        url = await ensure_database(server_url)
        engine = create_engine(url, pool_size=1)
        try:
            await migrate.upgrade(engine)
        finally:
            await engine.dispose()
        conn = await asyncpg.connect(libpq_url(url))
        try:
            await conn.execute("UPDATE alembic_version SET version_num = '0013'")
            await conn.execute("DROP TABLE applied_sql_files")
            await conn.execute(
                "INSERT INTO loans (loan_id, customer_id, customer_name, officer_id, officer_name, region, branch,"
                " loan_amount, disbursement_date, maturity_date, loan_term_days, channel, status)"
                " VALUES ('L1', 'C1', 'Ada', 'O1', 'Bola', 'North', 'Alpha', 100, '2026-01-01', '2026-06-30', 180,"
                " 'Branch', 'Active')")
            if demo_book:
                await conn.execute("INSERT INTO app_state (key, value) VALUES ('demo_book', $1::jsonb)",
                                   '{"status": "seeded"}')
        finally:
            await conn.close()

    embedded = EmbeddedPostgres(pgdata)
    try:
        asyncio.run(build(embedded.start()))
    finally:
        embedded.stop()


def test_serve_refuses_a_development_data_directory_and_the_demo_makes_its_own_again(tmp_path):
    """Made before the migrations were squashed: ``serve`` refuses the directory in one line and
    leaves it alone; the demo, whose book is synthetic, deletes it and starts from nothing."""
    env = _environment(tmp_path / "state")
    pgdata = tmp_path / "state" / "pgdata"
    _development_data_directory(pgdata, demo_book=True)

    refused = subprocess.run([str(BIN / "loanmetrics"), "serve", "--port", str(_free_port())],
                             env={**env, "LOANMETRICS_JWT_SECRET": "x" * 40}, capture_output=True, text=True,
                             timeout=120)
    assert refused.returncode == 1, refused.stderr
    assert refused.stderr.strip().splitlines() == [
        f"error: the embedded PostgreSQL in {pgdata} holds the schema of a development build of loanmetrics "
        f"(migration 0013, since squashed into the first release's baseline) and cannot be upgraded: move "
        f"{pgdata} aside (it is recreated empty), then load the data again with 'loanmetrics ingest'"], refused.stderr
    assert not _postmaster_running(pgdata)

    demo = Demo(env, _free_port(), tmp_path / "rebuilt")
    try:
        demo.wait_until_serving()
        assert f"{pgdata} holds a development build's schema (migration 0013): deleting it" in demo.stderr
        assert "seeding a synthetic book" in demo.stderr
        ready = httpx.get(demo.url("/readyz"), timeout=10)
        assert (ready.status_code, ready.json()["checks"]) == (200, {"migrations": "current", "database": "ok"})
        facts = _database_facts(demo.database_url())
        assert (facts["loans"], facts["officers"], facts["backfills"]) == (LOANS, OFFICERS, 1)
    finally:
        code = demo.stop()
    assert code == 0, demo.stderr
    assert not _postmaster_running(pgdata)


def test_the_demo_refuses_a_development_data_directory_holding_other_loans(tmp_path):
    """Loans without the demo's marker may be a lender's (a LOANMETRICS_DATA_DIR shared with
    ``serve``): the demo refuses them like ``serve`` and deletes nothing."""
    env = _environment(tmp_path / "state")
    pgdata = tmp_path / "state" / "pgdata"
    _development_data_directory(pgdata, demo_book=False)
    result = subprocess.run([str(BIN / "loanmetrics"), "demo", "--port", str(_free_port())], env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1, result.stderr
    assert f"error: the embedded PostgreSQL in {pgdata} holds the schema of a development build" in result.stderr
    assert "Traceback" not in result.stderr
    assert (pgdata / "PG_VERSION").is_file()
    assert not _postmaster_running(pgdata)
