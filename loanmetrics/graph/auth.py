"""Bearer-JWT authentication and role checks (SPEC §10).

A request carries a ``Principal`` (``loanmetrics/principal.py``): who is calling, with which role
and which branch/region scope. Scope is applied in SQL by the queries; this module only
establishes it.
"""

from __future__ import annotations

import re
import time
from datetime import timedelta
from pathlib import Path

import jwt
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from loanmetrics.principal import LOCAL_ADMIN, Principal, Role
from loanmetrics.settings import ConfigurationError, Settings


class AuthError(Exception):
    """Authentication failed (401) or the role is not allowed (403)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


DEFAULT_ISSUER = "loanmetrics"
"""The ``iss`` of minted tokens when no issuer is configured (none is then checked)."""

VERIFIED_TOKENS = 4096
"""Verified tokens remembered per process (oldest forgotten first)."""


class TokenVerifier:
    """Verifies bearer tokens with the configured HS256 secret or RS256 public key, and their
    issuer and audience when those are configured (an identity provider's RS256 tokens meant for
    other services then fail here)."""

    def __init__(self, settings: Settings) -> None:
        self.enabled = settings.auth_enabled
        self.issuer = settings.jwt_issuer
        self.audience = settings.jwt_audience
        if self.enabled and settings.jwt_public_key is not None:
            self.key: str | bytes = verification_key(settings)
            self.algorithms = ["RS256"]
        else:
            secret = settings.jwt_secret.get_secret_value() if settings.jwt_secret else ""
            self.key = secret
            self.algorithms = ["HS256"]
        self._verified: dict[str, tuple[Principal, float, float]] = {}

    def authenticate(self, authorization: str | None) -> Principal:
        if not self.enabled:
            return LOCAL_ADMIN
        if not authorization or not authorization.lower().startswith("bearer "):
            raise AuthError(401, "UNAUTHENTICATED", "a bearer token is required")
        token = authorization[7:].strip()
        # A dashboard sends the same token with every request: its signature was checked once;
        # only the time-dependent claims need checking again.
        known = self._verified.get(token)
        if known is not None:
            principal, not_before, expires = known
            now = time.time()
            if not_before <= now < expires:
                return principal
            del self._verified[token]
        principal, not_before, expires = self._verify(token)
        if len(self._verified) >= VERIFIED_TOKENS:
            self._verified.pop(next(iter(self._verified)))
        self._verified[token] = (principal, not_before, expires)
        return principal

    def _verify(self, token: str) -> tuple[Principal, float, float]:
        """The token's principal and validity interval, or AuthError."""
        try:
            claims = jwt.decode(
                token,
                self.key,
                algorithms=self.algorithms,
                issuer=self.issuer,
                audience=self.audience,
                # without a configured audience any ``aud`` is accepted (PyJWT would refuse them all)
                options={"require": ["sub", "exp"], "verify_aud": self.audience is not None},
            )
        except jwt.ExpiredSignatureError:
            raise AuthError(401, "UNAUTHENTICATED", "the token has expired") from None
        except (jwt.InvalidIssuerError, jwt.InvalidAudienceError) as exc:
            claim = "issuer" if isinstance(exc, jwt.InvalidIssuerError) else "audience"
            raise AuthError(401, "UNAUTHENTICATED", f"the token is not for this server (its {claim})") from None
        except jwt.MissingRequiredClaimError as exc:
            raise AuthError(401, "UNAUTHENTICATED", f"the token has no {exc.claim!r} claim") from None
        except jwt.PyJWTError:
            raise AuthError(401, "UNAUTHENTICATED", "the token is not valid") from None
        try:
            role = Role(str(claims.get("role")))
        except ValueError:
            raise AuthError(401, "UNAUTHENTICATED", "the token carries no known role") from None
        principal = Principal(
            subject=str(claims["sub"]),
            role=role,
            branches=_string_tuple(claims.get("branches")),
            regions=_string_tuple(claims.get("regions")),
        )
        # PyJWT allows no leeway here, so the cached interval is exactly what it checked
        return principal, float(claims.get("nbf", float("-inf"))), float(claims["exp"])


def verification_key(settings: Settings) -> str:
    """The RS256 public key as PEM text (the setting holds the text or a file's path), checked at
    start to be an RSA public key: a missing or wrong key would otherwise answer every request 401."""
    value = (settings.jwt_public_key or "").strip()
    name = "configuration error: LOANMETRICS_JWT_PUBLIC_KEY"
    if not value:
        raise ConfigurationError(f"{name}: is empty")
    if value.startswith("-----"):
        text = value
    else:
        try:
            text = Path(value).expanduser().read_text()
        except FileNotFoundError:
            raise ConfigurationError(f"{name}: no such file {value!r} (give PEM text or a PEM file's path)") from None
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not a text file"
            raise ConfigurationError(f"{name}: cannot read {value!r}: {reason}") from None
    try:
        key = serialization.load_pem_public_key(text.encode())
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise ConfigurationError(f"{name}: not a PEM public key (-----BEGIN PUBLIC KEY-----)") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise ConfigurationError(f"{name}: not an RSA public key (tokens are verified with RS256)")
    return text


def require_role(principal: Principal, allowed: frozenset[Role]) -> None:
    if principal.role not in allowed:
        raise AuthError(403, "FORBIDDEN", f"role '{principal.role}' may not do this")


def _string_tuple(value: object) -> tuple[str, ...]:
    """A scope claim's names. Absent (None) is unscoped; present it must name at least one branch
    or region: an empty list or name would otherwise read as "no restriction", all access."""
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        if not value or not all(item.strip() for item in value):
            raise AuthError(401, "UNAUTHENTICATED", "the token's scope claims are empty")
        return tuple(value)
    raise AuthError(401, "UNAUTHENTICATED", "the token's scope claims are malformed")


_TTL = re.compile(r"^(\d+)([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_ttl(text: str) -> timedelta:
    """'30d', '12h', '45m', '3600s', '2w' -> timedelta."""
    match = _TTL.match(text.strip())
    if not match:
        raise ValueError(f"bad TTL {text!r}: use a number and one of s, m, h, d, w (e.g. 30d)")
    try:
        return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    except OverflowError:
        raise ValueError(f"bad TTL {text!r}: too long (at most {timedelta.max.days}d)") from None


def create_token(
    settings: Settings,
    *,
    role: Role,
    subject: str,
    ttl: timedelta,
    branches: tuple[str, ...] = (),
    regions: tuple[str, ...] = (),
) -> str:
    """Mint an HS256 token signed with the server's secret (``loanmetrics token create``); a
    ConfigurationError when the secret is unset or blank."""
    secret = settings.signing_secret()
    now = int(time.time())
    claims: dict[str, object] = {
        "sub": subject,
        "role": role.value,
        "iss": settings.jwt_issuer or DEFAULT_ISSUER,
        "iat": now,
        "exp": now + int(ttl.total_seconds()),
    }
    if settings.jwt_audience:
        claims["aud"] = settings.jwt_audience
    if branches:
        claims["branches"] = list(branches)
    if regions:
        claims["regions"] = list(regions)
    return jwt.encode(claims, secret, algorithm="HS256")
