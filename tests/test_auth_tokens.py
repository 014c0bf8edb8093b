"""Bearer-token verification: a verified token is remembered, but its validity window is not."""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest

from loanmetrics.graph import auth
from loanmetrics.graph.auth import AuthError, Role, TokenVerifier
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
