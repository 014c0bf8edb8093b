"""Bearer-token verification: a verified token is remembered, but its validity window is not."""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest

from loanmetrics.graph import auth
from loanmetrics.graph.auth import AuthError, TokenVerifier
from loanmetrics.principal import Role
from tests.conftest import JWT_SECRET, make_settings


def token(**claims: object) -> str:
    return jwt.encode({"sub": "dash", "role": "viewer", **claims}, JWT_SECRET, algorithm="HS256")


def test_a_remembered_token_still_expires(monkeypatch):
    verifier = TokenVerifier(make_settings(None))
    now = time.time()
    text = token(exp=int(now) + 10, branches=["Ikeja"])
    first = verifier.authenticate(f"Bearer {text}")
    assert (first.role, first.branches) == (Role.VIEWER, ("Ikeja",))
    calls: list[str] = []
    real_decode = jwt.decode
    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append("decode")
        return real_decode(*args, **kwargs)

    monkeypatch.setattr(jwt, "decode", counted)
    assert verifier.authenticate(f"Bearer {text}") is first  # remembered: no second signature check
    assert calls == []
    monkeypatch.setattr(time, "time", lambda: now + 11)  # past exp: the token goes back to PyJWT
    verifier.authenticate(f"Bearer {text}")
    assert calls == ["decode"]


def test_an_expired_token_is_refused_after_it_was_remembered():
    verifier = TokenVerifier(make_settings(None))
    text = token(exp=int(time.time()) + 1)
    verifier.authenticate(f"Bearer {text}")
    time.sleep(max(0.0, int(time.time()) + 1.05 - time.time()))
    with pytest.raises(AuthError) as expired:
        verifier.authenticate(f"Bearer {text}")
    assert (expired.value.status, expired.value.message) == (401, "the token has expired")


def test_a_remembered_token_is_not_valid_before_its_nbf(monkeypatch):
    verifier = TokenVerifier(make_settings(None))
    now = time.time()
    early = token(exp=int(now) + 100, nbf=int(now) - 1)
    verifier.authenticate(f"Bearer {early}")
    calls: list[str] = []
    def stub(*args: Any, **kwargs: Any) -> dict[str, Any]:
        calls.append("decode")
        return {}

    monkeypatch.setattr(jwt, "decode", stub)
    monkeypatch.setattr(time, "time", lambda: now - 5)
    with pytest.raises(AuthError):  # not served from memory; the stub's empty claims have no role
        verifier.authenticate(f"Bearer {early}")
    assert calls == ["decode"]


def test_bad_tokens_are_never_remembered():
    verifier = TokenVerifier(make_settings(None))
    claims = {"sub": "x", "role": "admin", "exp": int(time.time()) + 60}
    forged = jwt.encode(claims, "another-secret-of-32-bytes-or-more", algorithm="HS256")
    for _ in range(2):
        with pytest.raises(AuthError) as refused:
            verifier.authenticate(f"Bearer {forged}")
        assert refused.value.message == "the token is not valid"
    assert len(verifier._verified) == 0


def test_the_memory_is_bounded(monkeypatch):
    monkeypatch.setattr(auth, "VERIFIED_TOKENS", 3)
    verifier = TokenVerifier(make_settings(None))
    texts = [token(exp=int(time.time()) + 60, jti=str(n)) for n in range(5)]
    for text in texts:
        verifier.authenticate(f"Bearer {text}")
    assert list(verifier._verified) == texts[2:]


def _refusal(verifier: TokenVerifier, text: str) -> str:
    with pytest.raises(AuthError) as refused:
        verifier.authenticate(f"Bearer {text}")
    assert refused.value.status == 401
    return refused.value.message


def test_issuer_and_audience_are_checked_when_configured():
    later = int(time.time()) + 60
    strict = TokenVerifier(make_settings(None, jwt_issuer="https://idp.lender.example",
                                         jwt_audience="loanmetrics-api"))
    good = token(exp=later, iss="https://idp.lender.example", aud="loanmetrics-api")
    assert strict.authenticate(f"Bearer {good}").role == Role.VIEWER
    among = token(exp=later, iss="https://idp.lender.example", aud=["crm", "loanmetrics-api"])
    assert strict.authenticate(f"Bearer {among}").role == Role.VIEWER
    assert _refusal(strict, token(exp=later, iss="https://other.example", aud="loanmetrics-api")) == (
        "the token is not for this server (its issuer)")
    assert _refusal(strict, token(exp=later, iss="https://idp.lender.example", aud="crm")) == (
        "the token is not for this server (its audience)")
    assert _refusal(strict, token(exp=later, aud="loanmetrics-api")) == "the token has no 'iss' claim"
    assert _refusal(strict, token(exp=later, iss="https://idp.lender.example")) == "the token has no 'aud' claim"
    assert len(strict._verified) == 2


def test_without_configured_checks_any_issuer_and_audience_pass():
    """The default: tokens minted before these settings existed (iss 'loanmetrics') and tokens of
    an identity provider that names an audience keep working."""
    lenient = TokenVerifier(make_settings(None))
    later = int(time.time()) + 60
    for claims in ({"iss": "loanmetrics"}, {"iss": "https://anyone.example"}, {"aud": "crm"}, {}):
        assert lenient.authenticate(f"Bearer {token(exp=later, **claims)}").role == Role.VIEWER


def test_minted_tokens_carry_the_configured_issuer_and_audience():
    plain = jwt.decode(auth.create_token(make_settings(None), role=Role.ETL, subject="core",
                                         ttl=auth.parse_ttl("1h")), JWT_SECRET, algorithms=["HS256"])
    assert plain["iss"] == "loanmetrics"
    assert "aud" not in plain
    settings = make_settings(None, jwt_issuer="lender", jwt_audience="loanmetrics-api")
    minted = auth.create_token(settings, role=Role.ETL, subject="core", ttl=auth.parse_ttl("1h"))
    assert TokenVerifier(settings).authenticate(f"Bearer {minted}").role == Role.ETL
    claims = jwt.decode(minted, JWT_SECRET, algorithms=["HS256"], audience="loanmetrics-api")
    assert (claims["iss"], claims["aud"]) == ("lender", "loanmetrics-api")
    assert "issuer" in _refusal(TokenVerifier(make_settings(None, jwt_issuer="someone-else")), minted)


async def test_a_token_for_another_issuer_is_401_over_http(clean_database_url):
    import httpx

    from loanmetrics.application import create_application
    from loanmetrics.graph.app import create_app

    application = create_application(make_settings(clean_database_url, jwt_issuer="lender"))
    await application.start(migrate_schema=False)
    try:
        transport = httpx.ASGITransport(app=create_app(application))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            query = {"query": "{ teamMembers { memberId } }"}
            later = int(time.time()) + 60
            ours = await client.post("/graphql", json=query, headers={
                "Authorization": f"Bearer {token(exp=later, iss='lender')}"})
            assert ours.status_code == 200
            theirs = await client.post("/graphql", json=query, headers={
                "Authorization": f"Bearer {token(exp=later, iss='loanmetrics')}"})
            assert theirs.status_code == 401
            assert theirs.json()["error"]["message"] == "the token is not for this server (its issuer)"
    finally:
        await application.stop()


@pytest.mark.parametrize("claims", [{"branches": []}, {"regions": []}, {"branches": ""}, {"regions": " "},
                                    {"branches": ["Ikeja", ""]}, {"branches": [], "regions": ["Lagos"]}])
def test_a_present_but_empty_scope_claim_is_refused(claims):
    """An empty scope is not "every branch": the token is refused rather than read as unscoped."""
    verifier = TokenVerifier(make_settings(None))
    assert _refusal(verifier, token(exp=int(time.time()) + 60, **claims)) == "the token's scope claims are empty"
    # absent claims are unscoped, as before
    unscoped = verifier.authenticate(f"Bearer {token(exp=int(time.time()) + 60)}")
    assert (unscoped.branches, unscoped.regions) == ((), ())


async def test_an_empty_scope_claim_is_401_over_http(clean_database_url):
    import httpx

    from loanmetrics.application import create_application
    from loanmetrics.graph.app import create_app

    application = create_application(make_settings(clean_database_url))
    await application.start(migrate_schema=False)
    try:
        transport = httpx.ASGITransport(app=create_app(application))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            later = int(time.time()) + 60
            for path in ("/api/v1/filters/options", "/api/v1/metrics/officers"):
                response = await client.get(path, headers={"Authorization": f"Bearer {token(exp=later, branches=[])}"})
                assert response.status_code == 401
                assert response.json()["error"] == {"code": "UNAUTHENTICATED", "details": None,
                                                    "message": "the token's scope claims are empty"}
            graphql = await client.post("/graphql", json={"query": "{ teamMembers { memberId } }"},
                                        headers={"Authorization": f"Bearer {token(exp=later, regions=[])}"})
            assert graphql.status_code == 401
    finally:
        await application.stop()
