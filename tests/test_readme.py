"""The README works as written (issue 11, part 9): it starts with the two commands, every
``loanmetrics`` command it shows parses, every file it names exists, and its walkthrough (the
sample batch, a recalculation, the officer list) gives what it promises. Also: the wheel carries
every file the pages serve."""

from __future__ import annotations

import argparse
import fnmatch
import os
import re
import shlex
import tomllib
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from loanmetrics.cli import build_parser
from tests.conftest import bearer, make_settings

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
SAMPLE = ROOT / "examples" / "batch.json"
SAMPLE_DATE = date(2026, 9, 30)  # the README's LOANMETRICS_TODAY for the sample


def shell_blocks() -> list[str]:
    return re.findall(r"```sh\n(.*?)```", README, re.S)


def loanmetrics_invocations() -> list[list[str]]:
    """The arguments of every ``loanmetrics`` command in the README's shell blocks, also those
    inside ``$( )`` (up to the end of the command: a quote, a parenthesis, an operator, a comment)."""
    text = "\n".join(shell_blocks()).replace("\\\n", " ")
    return [shlex.split(match) for match in re.findall(r"(?<![\w/.-])loanmetrics((?: +[^\s)\"'#&|;]+)*)", text)]


def test_the_readme_starts_with_the_two_commands() -> None:
    first = shell_blocks()[0]
    assert README.index("```sh") < README.index("\n## ")  # before any section
    assert [line.split()[0] for line in first.strip().splitlines()] == ["./scripts/demo", "./scripts/test"]
    for script in ("demo", "test", "browser-check", "vendor-assets"):
        path = ROOT / "scripts" / script
        assert path.is_file()
        assert os.access(path, os.X_OK), script


def test_every_command_the_readme_shows_exists() -> None:
    parser = build_parser()
    invocations = loanmetrics_invocations()
    assert ["serve"] in invocations
    assert ["token", "create", "--role", "etl"] in invocations
    for arguments in invocations:
        parser.parse_args(arguments)  # SystemExit (a failed test) on an unknown command or flag
    text = "\n".join(shell_blocks())
    for script in re.findall(r"\./scripts/[\w-]+", README):
        assert (ROOT / script).is_file(), script
    for name in re.findall(r"@([\w./-]+)", text):
        assert (ROOT / name).is_file(), name
    for program in ("curl", "python3", "kill", "until"):
        assert re.search(rf"(^|[\s(]){program} ", text, re.M), program
    # the commands table: every command and flag it names exists
    for command, flags in re.findall(r"^\| `([a-z-]+(?: create)?)((?: \[?--[a-z-]+[^`]*)?)`", README, re.M):
        names = re.findall(r"--[a-z-]+", flags)
        actions = _subparser(parser, command.split())._option_string_actions
        assert [name for name in names if name not in actions] == [], command


def _subparser(parser: argparse.ArgumentParser, path: list[str]) -> argparse.ArgumentParser:
    for name in path:
        action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parser = action.choices[name]
    return parser


@pytest.fixture
async def sample_server(clean_database_url: str) -> AsyncIterator[tuple[httpx.AsyncClient, Any]]:
    from loanmetrics.application import create_application
    from loanmetrics.graph.app import create_app

    application = create_application(make_settings(clean_database_url, today=SAMPLE_DATE))
    await application.start(migrate_schema=False)
    try:
        transport = httpx.ASGITransport(app=create_app(application))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http, application
    finally:
        await application.stop()


async def test_the_walkthrough_ingests_the_sample_and_lists_its_officers(sample_server: Any) -> None:
    http, application = sample_server
    sent = await http.post("/api/v1/etl/sync", content=SAMPLE.read_bytes(),
                           headers={**bearer(application, "etl"), "Content-Type": "application/json"})
    assert sent.status_code == 200, sent.text
    body = sent.json()
    assert body["status"] == "success"
    assert body["errors"] == []
    assert {entity: counts["inserted"] for entity, counts in body["results"].items()} == {
        "officers": 2, "customers": 4, "loans": 4, "loan_schedules": 104, "repayments": 22}
    again = await http.post("/api/v1/etl/sync", content=SAMPLE.read_bytes(),
                            headers={**bearer(application, "etl"), "Content-Type": "application/json"})
    assert all(counts["unchanged"] == counts["inserted"] + counts["unchanged"]
               for counts in again.json()["results"].values())  # idempotent

    run = await http.post("/graphql", json={"query": "mutation { recalculate { status calculationDate } }"},
                          headers=bearer(application, "admin"))
    assert run.json() == {"data": {"recalculate": {"status": "Completed", "calculationDate": "2026-09-30"}}}

    listed = await http.get("/api/v1/metrics/officers", headers=bearer(application, "viewer"))
    assert listed.status_code == 200, listed.text
    rows = {row["officer_id"]: row for row in listed.json()["data"]}
    assert set(rows) == {"OF-LAG-01", "OF-ABJ-01"}
    # each officer has two active loans, one of which missed its first installment (LN-0002 paid
    # five days late, LN-0004 skipped it): all-time FIMR 1/2
    for row in rows.values():
        assert row["active_loans"] == 2
        assert row["all_time_fimr"] == 0.5
        assert row["portfolio_total"] > 0


def test_the_sample_batch_is_dated_on_or_before_the_readme_business_date() -> None:
    document = orjson.loads(SAMPLE.read_bytes())
    dates = [record[key] for records in document["data"].values() for record in records
             for key in ("disbursement_date", "payment_date") if key in record]
    assert max(dates) <= SAMPLE_DATE.isoformat()
    assert f"LOANMETRICS_TODAY={SAMPLE_DATE.isoformat()}" in README


def test_the_wheel_carries_every_file_the_pages_serve() -> None:
    """pyproject's package-data globs (setuptools matches each within the package directory,
    ``*`` not crossing a ``/``) cover every file under the graph package's static and templates."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["loanmetrics.graph"]
    package = ROOT / "loanmetrics" / "graph"
    files = [path.relative_to(package).as_posix() for folder in ("static", "templates")
             for path in (package / folder).rglob("*") if path.is_file()]
    assert len(files) > 20
    uncovered = [name for name in files
                 if not any(fnmatch.fnmatch(name, pattern) and name.count("/") == pattern.count("/")
                            for pattern in patterns)]
    assert uncovered == []
    assert (ROOT / "LICENSE").read_text().lstrip().startswith("Apache License")
    assert config["project"]["license"] == "Apache-2.0"


def test_every_setting_is_documented() -> None:
    """A setting nobody can find is a setting nobody sets: DEPLOYMENT.md's table names each one."""
    from loanmetrics.settings import Settings

    deployment = (ROOT / "docs" / "DEPLOYMENT.md").read_text()
    missing = []
    for name, field in Settings.model_fields.items():
        aliases = [str(a) for a in getattr(field.validation_alias, "choices", [])]
        names = [a for a in aliases if a.isupper()] or [f"LOANMETRICS_{name.upper()}"]
        short = f"_{name.upper()}"  # a row may list siblings as `LOANMETRICS_GZIP_LEVEL`, `_BROTLI_QUALITY`
        if not any(n in deployment for n in names) and f"`{short}`" not in deployment:
            missing.append(names[0])
    assert missing == []
