"""The ``loanmetrics`` command line: ingest files, tokens and configuration errors (SPEC §11)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import jwt
import pytest

from loanmetrics.cli import main
from loanmetrics.db.engine import Database
from tests.conftest import EXAMPLES, JWT_SECRET
from tests.test_golden_loans import assert_example_loans


def _env(monkeypatch: pytest.MonkeyPatch, database_url: str) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("LOANMETRICS_TODAY", "2026-09-18")
    monkeypatch.setenv("LOANMETRICS_LOG_JSON", "false")


def _check(database_url: str, check: Any) -> Any:
    async def run() -> Any:
        database = Database.connect(database_url)
        try:
            return await check(database)
        finally:
            await database.dispose()

    return asyncio.run(run())


def _json_default(value: Any) -> str:
    assert isinstance(value, Decimal)
    return str(value)


def test_ingest_json_file_in_small_batches_gives_the_golden_loans(clean_database_url, monkeypatch, tmp_path):
    _env(monkeypatch, clean_database_url)
    source = EXAMPLES / "book-payload.json"
    assert main(["ingest", str(source), "--batch-records", "500"]) == 0
    _check(clean_database_url, assert_example_loans)
    # the same file again changes nothing
    assert main(["ingest", str(source), "--batch-records", "700"]) == 0

    async def counts(database: Database) -> tuple[int, int]:
        async with database.raw_reader() as conn:
            return (await conn.fetchval("SELECT count(*) FROM loan_schedule"),
                    await conn.fetchval("SELECT count(*) FROM repayments"))

    assert _check(clean_database_url, counts) == (2859, 995)


def test_ingest_ndjson_batches(clean_database_url, monkeypatch, tmp_path, example_payload):
    _env(monkeypatch, clean_database_url)
    lines = [
        {"sync_type": "incremental", "data": {entity: example_payload["data"][entity]}}
        for entity in ("officers", "customers", "loans", "loan_schedules", "repayments")
    ]
    path = tmp_path / "book.ndjson"
    path.write_text("\n".join(json.dumps(line, default=_json_default) for line in lines) + "\n")
    assert main(["ingest", str(path), "--batch-records", "1000"]) == 0
    _check(clean_database_url, assert_example_loans)


def test_ingest_reports_rejected_records_with_exit_status_1(clean_database_url, monkeypatch, tmp_path, capsys):
    _env(monkeypatch, clean_database_url)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"data": {"officers": [
        {"officer_id": "OF1", "officer_name": "Ada", "region": "North", "branch": "Alpha"},
        {"officer_id": "OF2", "officer_name": "Bo", "region": "North"},
    ]}}))
    assert main(["ingest", str(path)]) == 1
    err = capsys.readouterr().err
    assert "officers: inserted 1, updated 0, unchanged 0, failed 1" in err
    assert "rejected officer OF2 at data.officers[1].branch: MISSING_FIELD" in err


def test_ingest_refuses_a_file_with_a_split_schedule(clean_database_url, monkeypatch, tmp_path, capsys):
    _env(monkeypatch, clean_database_url)
    row = {"loan_id": "L1", "installment_number": 1, "due_date": "2026-09-01", "principal_due": "1",
           "interest_due": "0", "fee_due": "0", "total_due": "1"}
    other = dict(row, loan_id="L2")
    path = tmp_path / "split.json"
    path.write_text(json.dumps({"data": {"loan_schedules": [row, other, dict(row, installment_number=2)]}}))
    assert main(["ingest", str(path), "--batch-records", "1"]) == 2
    assert "not contiguous" in capsys.readouterr().err


def test_token_create_signs_role_scope_and_expiry(monkeypatch, capsys):
    monkeypatch.setenv("LOANMETRICS_JWT_SECRET", JWT_SECRET)
    assert main(["token", "create", "--role", "viewer", "--branch", "Wuse", "--branch", "Garki",
                 "--ttl", "2h"]) == 0
    token = capsys.readouterr().out.strip()
    claims = jwt.decode(token, JWT_SECRET, algorithms=["HS256"])
    assert claims["role"] == "viewer"
    assert claims["branches"] == ["Wuse", "Garki"]
    assert claims["exp"] - claims["iat"] == 7200
    assert main(["token", "create", "--role", "viewer", "--ttl", "forever"]) == 2
    assert claims["iss"] == "loanmetrics"
    monkeypatch.setenv("LOANMETRICS_JWT_ISSUER", "https://lender.example")
    monkeypatch.setenv("LOANMETRICS_JWT_AUDIENCE", "loanmetrics-api")
    assert main(["token", "create", "--role", "etl"]) == 0
    claims = jwt.decode(capsys.readouterr().out.strip(), JWT_SECRET, algorithms=["HS256"],
                        audience="loanmetrics-api", issuer="https://lender.example")
    assert (claims["role"], claims["iss"], claims["aud"]) == ("etl", "https://lender.example", "loanmetrics-api")


@pytest.mark.parametrize(
    ("env", "args", "expected"),
    [
        ({"LOANMETRICS_TODAY": "18/09/2026"}, ["serve"], "configuration error: LOANMETRICS_TODAY:"),
        ({"LOANMETRICS_PORT": "99999"}, ["serve"], "configuration error: LOANMETRICS_PORT:"),
        ({"DATABASE_URL": "mysql://x"}, ["serve"], "configuration error: DATABASE_URL: "),
        ({"LOANMETRICS_TIMEZONE": "Mars/Olympus"}, ["serve"], "configuration error: LOANMETRICS_TIMEZONE:"),
        ({}, ["serve"], "configuration error: LOANMETRICS_JWT_SECRET: required"),
        ({"LOANMETRICS_AUTH": "disabled"}, ["serve", "--host", "0.0.0.0"], "configuration error: LOANMETRICS_AUTH:"),
        ({"LOANMETRICS_CONFIG": "/nonexistent.toml"}, ["serve"], "configuration error: LOANMETRICS_CONFIG:"),
    ],
)
def test_bad_configuration_stops_with_one_line(monkeypatch, capsys, env, args, expected):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(expected)
    assert len(err.splitlines()) == 1


def test_toml_configuration_file(monkeypatch, tmp_path):
    from loanmetrics.settings import load_settings

    config = tmp_path / "loanmetrics.toml"
    config.write_text('today = "2026-01-31"\nmax_batch_records = 123\n[bands]\nrisk_green = 85\n')
    monkeypatch.setenv("LOANMETRICS_CONFIG", str(config))
    monkeypatch.setenv("LOANMETRICS_MAX_BATCH_RECORDS", "456")  # the environment wins over the file
    settings = load_settings()
    assert str(settings.today) == "2026-01-31"
    assert settings.max_batch_records == 456
    assert settings.bands.risk_green == 85


def test_console_script_is_installed():
    out = subprocess.run([str(Path(sys.executable).parent / "loanmetrics"), "--help"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0
    for command in ("serve", "migrate", "ingest", "seed", "refresh-loans", "token"):
        assert command in out.stdout
