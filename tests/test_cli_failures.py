"""A failure a user can cause ends in one line on stderr and a non-zero exit, never a traceback
(issue 11, part 8). Each command runs as a real process, as an operator would run it."""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from loanmetrics.cli import build_parser
from tests.conftest import BUSINESS_DATE, JWT_SECRET, admin_url

BIN = Path(sys.executable).parent


def _closed_port() -> int:
    """A loopback port nothing listens on (connection refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run(args: list[str], tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    args = [str(_closed_port()) if arg == "FREE" else arg for arg in args]
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith("LOANMETRICS_") and k not in {"DATABASE_URL", "DATABASE_READ_URL", "REDIS_URL"}}
    clean.update(LOANMETRICS_DATA_DIR=str(tmp_path / "state"), LOANMETRICS_TODAY=BUSINESS_DATE.isoformat(),
                 LOANMETRICS_LOG_JSON="false")
    clean.update(env)
    return subprocess.run([str(BIN / "loanmetrics"), *args], env=clean, capture_output=True, text=True, timeout=120,
                          cwd=tmp_path)


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    """The whole of stderr, asserted to be one line without a traceback."""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


@pytest.fixture
def payload_file(tmp_path: Path) -> Path:
    path = tmp_path / "batch.json"
    path.write_text(json.dumps({"data": {"officers": [
        {"officer_id": "OF1", "officer_name": "Ada", "region": "North", "branch": "Alpha"}]}}))
    return path


COMMANDS = {
    "migrate": ["migrate"],
    "serve": ["serve", "--no-migrate", "--port", "FREE"],
    "ingest": ["ingest", "batch.json"],
    "seed": ["seed", "--officers", "1", "--loans", "1", "--days", "1"],
    "recalc": ["recalc"],
    "refresh-loans": ["refresh-loans"],
}


@pytest.mark.parametrize("command", COMMANDS)
def test_an_unreachable_database_is_one_line(tmp_path, payload_file, command):
    port = _closed_port()
    result = run(COMMANDS[command], tmp_path, DATABASE_URL=f"postgresql://postgres@127.0.0.1:{port}/lm",
                 LOANMETRICS_JWT_SECRET=JWT_SECRET)
    assert result.returncode == 1
    assert one_line(result) == (
        f"error: cannot reach PostgreSQL at 127.0.0.1:{port}, database 'lm': connection refused "
        "(is PostgreSQL running there?)"
    )


@pytest.mark.parametrize("command", ["migrate", "serve", "ingest"])
async def test_a_database_that_does_not_exist_is_one_line(tmp_path, payload_file, command):
    server = make_url(await admin_url())
    name = f"lm_missing_{uuid.uuid4().hex[:8]}"
    url = server.set(database=name).render_as_string(hide_password=False)
    result = run(COMMANDS[command], tmp_path, DATABASE_URL=url, LOANMETRICS_JWT_SECRET=JWT_SECRET)
    assert result.returncode == 1
    assert one_line(result) == (
        f"error: PostgreSQL at {server.host}:{server.port or 5432}, database '{name}': "
        f'database "{name}" does not exist (create it, or correct DATABASE_URL)'
    )


@pytest.mark.parametrize("args", [["serve"], ["token", "create", "--role", "viewer"]])
@pytest.mark.parametrize("secret", ["", "   "])
def test_an_empty_jwt_secret_is_refused_at_start(tmp_path, args, secret):
    result = run(args, tmp_path, LOANMETRICS_JWT_SECRET=secret)
    assert result.returncode == 2
    assert one_line(result).startswith("configuration error: LOANMETRICS_JWT_SECRET: is empty;")
    assert result.stdout == ""  # no token printed


def test_a_port_out_of_range_names_the_flag(tmp_path):
    result = run(["serve", "--port", "70000"], tmp_path, LOANMETRICS_JWT_SECRET=JWT_SECRET)
    assert result.returncode == 2
    line = one_line(result)
    assert line.startswith("loanmetrics serve: error: argument --port: 70000 is not a port number (1 to 65535)")
    assert "LOANMETRICS_PORT" not in line
    for args in (["serve", "--workers", "0"], ["demo", "--port", "http"], ["ingest", "x.json", "--batch-records", "0"],
                 ["recalc", "--as-of", "18/09/2026"]):
        result = run(args, tmp_path)
        assert result.returncode == 2, args
        assert f"argument {args[-2]}:" in one_line(result), args


NOT_PAYLOADS = {
    "malformed.json": ('{"data": {"officers": [{"officer_id": "OF9", "officer_name": "Bo", "region": "N", '
                       '"branch": "B"},', "not valid JSON: parse error: premature EOF"),
    "trailing-comma.json": ('{"data": {"officers": [],}}', "not valid JSON: parse error: invalid object key"),
    "array.json": ("[]", "the file must be a JSON object (an ETL payload"),
    "hello.json": ('{"hello": 1}', "data must be an object holding the record lists"),
    "wrong-list.json": ('{"data": {"officers": {"OF1": {}}}}', "data.officers must be a list"),
    "two-payloads.json": ('{"data": {}}\n{"data": {}}', "not valid JSON: parse error: trailing garbage"),
    # after the good line the test puts first
    "bad-line.ndjson": ('{"data": {}}\n[]\n', "line 3: the line must be a JSON object"),
    "broken-line.ndjson": ('{"data": {}}\n{"data": \n',
                           "line 3 is not valid JSON: EOF while parsing a value at column 8"),
}


@pytest.mark.parametrize("name", NOT_PAYLOADS)
async def test_an_ingest_file_that_is_not_a_payload_is_refused_before_anything_is_written(
        clean_database_url, tmp_path, name):
    text, reason = NOT_PAYLOADS[name]
    path = tmp_path / name
    # valid records first, in batches of one: none may be written when the file is refused
    good = [{"officer_id": f"OK{i}", "officer_name": "Fine", "region": "N", "branch": "B"} for i in range(3)]
    if name.endswith(".ndjson"):
        text = json.dumps({"data": {"officers": good}}) + "\n" + text
    else:
        text = text.replace('"officers": [{', '"officers": [' + ", ".join(json.dumps(o) for o in good) + ", {", 1)
    path.write_text(text)
    result = run(["ingest", str(path), "--batch-records", "1"], tmp_path, DATABASE_URL=clean_database_url)
    assert result.returncode == 2, result.stderr
    line = one_line(result)
    assert line.startswith(f"error: {path}: {reason}"), line
    conn = await asyncpg.connect(clean_database_url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM officers") == 0
    finally:
        await conn.close()


async def test_the_etl_route_refuses_the_same_documents(client, app):
    from tests.conftest import bearer

    for body in ("[]", '{"hello": 1}'):
        response = await client.post("/api/v1/etl/sync", content=body, headers=bearer(app, "etl"))
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "VALIDATION_ERROR"


def test_every_option_of_every_command_says_its_default():
    parser = build_parser()
    missing: list[str] = []

    def visit(current: argparse.ArgumentParser, prog: str) -> None:
        for action in current._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    visit(sub, f"{prog} {name}")
            elif action.option_strings and not isinstance(action, argparse._HelpAction | argparse._VersionAction):
                if action.required:
                    if not action.help or "required" not in action.help:
                        missing.append(f"{prog} {action.option_strings[0]} (required)")
                elif not action.help or "(default: " not in action.help:
                    missing.append(f"{prog} {action.option_strings[0]}")
            elif not action.option_strings and not action.help:
                missing.append(f"{prog} {action.dest}")

    visit(parser, "loanmetrics")
    assert missing == []


def test_version_and_python_dash_m(tmp_path):
    from loanmetrics import __version__

    script = run(["--version"], tmp_path)
    module = subprocess.run([sys.executable, "-m", "loanmetrics", "--version"], capture_output=True, text=True,
                            timeout=60)
    assert script.returncode == module.returncode == 0
    assert script.stdout == module.stdout == f"loanmetrics {__version__}\n"
    assert __version__ == "0.1.0"
    helped = subprocess.run([sys.executable, "-m", "loanmetrics", "--help"], capture_output=True, text=True,
                            timeout=60)
    assert helped.stdout.startswith("usage: loanmetrics ")
