"""More failures a user can cause, each one line on stderr and a non-zero exit through the real
command (review fixes): a malformed TOML file, an unusable RS256 key, a recalculation that fails
part way, an overflowing token lifetime and a data directory that cannot hold the embedded database."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from loanmetrics.settings import Settings
from tests.conftest import BUSINESS_DATE, JWT_SECRET, create_database, drop_database
from tests.test_cli_failures import _closed_port, one_line, run

UNREACHABLE = "postgresql://postgres@127.0.0.1:{port}/lm"


@pytest.mark.parametrize("args", [["token", "create", "--role", "viewer"], ["migrate"], ["serve", "--no-migrate"]])
def test_a_malformed_toml_config_file_is_one_line(tmp_path, args):
    config = tmp_path / "loanmetrics.toml"
    config.write_text('port = 8000\ntimezone = "UTC\n')
    result = run(args, tmp_path, LOANMETRICS_CONFIG=str(config), LOANMETRICS_JWT_SECRET=JWT_SECRET)
    assert result.returncode == 2
    assert one_line(result) == (
        f"configuration error: LOANMETRICS_CONFIG: {config}: not valid TOML: "
        "Illegal character '\\n' (at line 2, column 16)"
    )
    assert result.stdout == ""


def test_a_toml_config_file_that_is_not_text_is_one_line(tmp_path):
    config = tmp_path / "loanmetrics.toml"
    config.write_bytes(b"\xff\xfe\x00port = 1")
    result = run(["token", "create", "--role", "viewer"], tmp_path, LOANMETRICS_CONFIG=str(config),
                 LOANMETRICS_JWT_SECRET=JWT_SECRET)
    assert result.returncode == 2
    assert one_line(result) == f"configuration error: LOANMETRICS_CONFIG: cannot read {config}: not UTF-8 text"


def _pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> str:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def _bad_keys(tmp_path: Path) -> dict[str, tuple[str, str]]:
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a key at all\n")
    binary = tmp_path / "binary.pem"
    binary.write_bytes(b"\x80\x81\x82")
    missing = tmp_path / "missing.pem"
    ec_key = _pem(ec.generate_private_key(ec.SECP256R1()))
    return {
        "missing file": (str(missing), f"no such file {str(missing)!r} (give PEM text or a PEM file's path)"),
        "garbage file": (str(garbage), "not a PEM public key (-----BEGIN PUBLIC KEY-----)"),
        "binary file": (str(binary), f"cannot read {str(binary)!r}: not a text file"),
        "garbage PEM": ("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
                        "not a PEM public key (-----BEGIN PUBLIC KEY-----)"),
        "EC key": (ec_key, "not an RSA public key (tokens are verified with RS256)"),
        "blank": ("  ", "is empty"),
    }


@pytest.mark.parametrize("case", ["missing file", "garbage file", "binary file", "garbage PEM", "EC key", "blank"])
def test_an_unusable_jwt_public_key_is_one_line_before_the_database(tmp_path, case):
    value, reason = _bad_keys(tmp_path)[case]
    # the key is checked before anything else: the unreachable database is never tried
    result = run(["serve", "--no-migrate", "--port", "FREE"], tmp_path, LOANMETRICS_JWT_PUBLIC_KEY=value,
                 DATABASE_URL=UNREACHABLE.format(port=_closed_port()))
    assert result.returncode == 2
    assert one_line(result) == f"configuration error: LOANMETRICS_JWT_PUBLIC_KEY: {reason}"


async def test_an_rs256_key_file_verifies_tokens(clean_database_url, tmp_path):
    """The checked key still verifies: a token of the matching private key is accepted, another refused."""
    import time

    import httpx
    import jwt

    from loanmetrics.application import create_application
    from loanmetrics.graph.app import create_app

    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = tmp_path / "public.pem"
    path.write_text(_pem(private))
    settings = Settings(database_url=clean_database_url, jwt_public_key=str(path), scheduler_enabled=False,
                        log_json=False, today=BUSINESS_DATE)
    application = create_application(settings)
    await application.start(migrate_schema=False)
    try:
        app = create_app(application)
        claims = {"sub": "idp-user", "role": "viewer", "exp": int(time.time()) + 600}
        good = jwt.encode(claims, private, algorithm="RS256")
        other = jwt.encode(claims, rsa.generate_private_key(public_exponent=65537, key_size=2048), algorithm="RS256")
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
            ok = await client.get("/api/v1/filters/options", headers={"Authorization": f"Bearer {good}"})
            refused = await client.get("/api/v1/filters/options", headers={"Authorization": f"Bearer {other}"})
    finally:
        await application.stop()
    assert ok.status_code == 200, ok.text
    assert refused.status_code == 401


@pytest.mark.parametrize("ttl", [str(10**20) + "d", str(10**20) + "s", "9999999999w"])
def test_an_overflowing_token_lifetime_is_one_line(tmp_path, ttl):
    result = run(["token", "create", "--role", "viewer", "--ttl", ttl], tmp_path, LOANMETRICS_JWT_SECRET=JWT_SECRET)
    assert result.returncode == 2
    assert one_line(result) == f"error: bad TTL {ttl!r}: too long (at most 999999999d)"
    assert result.stdout == ""


@pytest.mark.parametrize("command", [["serve", "--port", "FREE"], ["demo", "--port", "FREE"], ["migrate"]])
@pytest.mark.parametrize("where", ["under a file", "read-only"])
def test_an_unwritable_data_dir_is_one_line(tmp_path, command, where):
    if where == "under a file":
        (tmp_path / "a-file").write_text("")
        data_dir, reason = tmp_path / "a-file" / "state", "Not a directory"
    else:
        data_dir, reason = Path("/sys/loanmetrics-test-state"), "Operation not permitted"
        if data_dir.parent.exists() and not _unwritable(data_dir):
            pytest.skip("/sys is writable here")
    result = run(command, tmp_path, LOANMETRICS_DATA_DIR=str(data_dir), LOANMETRICS_JWT_SECRET=JWT_SECRET)
    assert result.returncode == 2
    assert one_line(result) == (
        f"configuration error: LOANMETRICS_DATA_DIR: cannot write to {data_dir}: {reason} "
        "(set LOANMETRICS_DATA_DIR to a writable directory, or DATABASE_URL)"
    )


def _unwritable(path: Path) -> bool:
    try:
        path.mkdir()
    except PermissionError:
        return True
    path.rmdir()
    return False


async def test_a_recalculation_that_fails_part_way_is_one_line_naming_the_run(tmp_path):
    url = await create_database("lm_recalc_fail")
    try:
        conn = await asyncpg.connect(url)
        try:
            # a database error inside the run's transaction, after the run was opened
            await conn.execute(
                "ALTER TABLE metric_calculated_dates ADD CONSTRAINT lm_test_refuse CHECK (false) NOT VALID")
        finally:
            await conn.close()
        result = run(["recalc"], tmp_path, DATABASE_URL=url)
        assert result.returncode == 1
        conn = await asyncpg.connect(url)
        try:
            runs = [tuple(r) for r in await conn.fetch(
                "SELECT id, status, error_message IS NOT NULL FROM metric_calculation_log ORDER BY id")]
            written = await conn.fetchval("SELECT count(*) FROM metric_calculated_dates")
        finally:
            await conn.close()
        assert runs == [(1, "Failed", True)]
        assert written == 0
        line = one_line(result)
        assert line.startswith("error: recalculation run 1 failed (recorded as Failed): CheckViolationError: "), line
        assert "lm_test_refuse" in line
    finally:
        await drop_database(url)
