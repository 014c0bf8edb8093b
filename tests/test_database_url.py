"""DATABASE_URL with libpq query parameters (docs/ARCHITECTURE.md, "Database URLs"): the common
ones are translated for asyncpg on every connection path, any other is refused in one line."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import httpx
import pytest

from loanmetrics.application import create_application
from loanmetrics.db.url import ConnectOptions, UnsupportedUrlError, split_url
from loanmetrics.graph.app import create_app
from tests.conftest import bearer, make_settings
from tests.test_cli_failures import one_line, run

BASE = "postgresql://u:p@db.example:5433/lm"


def test_libpq_parameters_translate_to_asyncpg_keywords() -> None:
    url, options = split_url(f"{BASE}?sslmode=verify-full&connect_timeout=7&application_name=etl%20box")
    assert url == BASE
    assert options == ConnectOptions(ssl="verify-full", timeout=7.0, server_settings={"application_name": "etl box"})
    assert options.kwargs({"jit": "off", "application_name": "loanmetrics"}, timeout=5) == {
        "ssl": "verify-full", "timeout": 7.0, "server_settings": {"jit": "off", "application_name": "etl box"}}
    assert split_url(BASE) == (BASE, ConnectOptions())
    socket = "postgresql://postgres:@/postgres?host=%2Ftmp%2Fpg&port=5444"  # the embedded server's form
    assert split_url(f"{socket}&sslmode=disable") == (socket, ConnectOptions(ssl="disable"))
    assert split_url(f"{BASE}?connect_timeout=0")[1].kwargs({}, timeout=5) == {"server_settings": {}, "timeout": 5}


@pytest.mark.parametrize(("query", "message"), [
    ("foo=bar",
     "unsupported query parameter 'foo' (supported: sslmode, connect_timeout, application_name, host, port)"),
    ("sslmode=sometimes", "sslmode='sometimes' is not one of disable, allow, prefer, require, verify-ca, verify-full"),
    ("connect_timeout=soon", "connect_timeout='soon' is not a whole number of seconds"),
])
def test_parameters_that_cannot_be_honoured_are_refused(query: str, message: str) -> None:
    with pytest.raises(UnsupportedUrlError) as caught:
        split_url(f"{BASE}?{query}")
    assert str(caught.value) == message


async def test_the_server_runs_on_a_url_with_libpq_parameters(clean_database_url: str) -> None:
    url = f"{clean_database_url}?sslmode=disable&application_name=lm-url-test&connect_timeout=10"
    application = create_application(make_settings(url))
    await application.start(migrate_schema=True)
    try:
        transport = httpx.ASGITransport(app=create_app(application))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            assert (await client.get("/readyz")).status_code == 200
            response = await client.post("/graphql", json={"query": "{ officers { totalCount } }"},
                                         headers=bearer(application, "admin"))
            assert response.json()["data"] == {"officers": {"totalCount": 0}}
            conn = await asyncpg.connect(clean_database_url)
            try:
                names = {r["application_name"] for r in await conn.fetch(
                    "SELECT application_name FROM pg_stat_activity WHERE datname = current_database() "
                    "AND pid <> pg_backend_pid()")}
            finally:
                await conn.close()
            assert names == {"lm-url-test"}
    finally:
        await application.stop()


def test_the_cli_runs_on_a_url_with_libpq_parameters(tmp_path: Path, clean_database_url: str) -> None:
    url = f"{clean_database_url}?sslmode=disable&application_name=x"
    for command in (["migrate"], ["recalc"]):
        result = run(command, tmp_path, DATABASE_URL=url)
        assert result.returncode == 0, result.stderr
        assert "Traceback" not in result.stderr


@pytest.mark.parametrize("command", [["migrate"], ["recalc"], ["serve", "--no-migrate", "--port", "FREE"]])
def test_an_unknown_parameter_is_one_line_naming_database_url(tmp_path: Path, clean_database_url: str,
                                                              command: list[str]) -> None:
    result = run(command, tmp_path, DATABASE_URL=f"{clean_database_url}?sslmode=disable&foo=bar",
                 LOANMETRICS_JWT_SECRET="x" * 40)
    assert result.returncode != 0
    assert one_line(result) == ("configuration error: DATABASE_URL: Value error, unsupported query parameter "
                                "'foo' (supported: sslmode, connect_timeout, application_name, host, port)")
