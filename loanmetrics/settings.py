"""Configuration: environment variables and an optional TOML file, validated by pydantic-settings.

Every setting is read once into an immutable ``Settings`` object that the application object
carries; nothing reads the environment after start-up.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from loanmetrics.calculators.bands import BandThresholds
from loanmetrics.db.url import split_url

_ORIGIN = re.compile(r"https?://[A-Za-z0-9.\-]+(:\d{1,5})?|https?://\[[0-9A-Fa-f:.]+\](:\d{1,5})?")


class Settings(BaseSettings):
    """All runtime configuration. Field names map to ``LOANMETRICS_<NAME>`` unless aliased."""

    model_config = SettingsConfigDict(
        env_prefix="LOANMETRICS_",
        env_nested_delimiter="__",
        extra="ignore",
        frozen=True,
        populate_by_name=True,
    )

    database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("DATABASE_URL", "database_url")
    )
    database_read_url: str | None = Field(
        default=None, validation_alias=AliasChoices("DATABASE_READ_URL", "database_read_url")
    )
    redis_url: str | None = Field(default=None, validation_alias=AliasChoices("REDIS_URL", "redis_url"))

    today: date | None = None
    timezone: str = "UTC"
    data_dir: Path = Path(".loanmetrics")

    auth: Literal["enabled", "disabled"] = "enabled"
    jwt_secret: SecretStr | None = None
    jwt_public_key: str | None = None
    jwt_issuer: str | None = None
    """When set, a token's ``iss`` must equal it; ``token create`` writes it (else "loanmetrics")."""
    jwt_audience: str | None = None
    """When set, a token's ``aud`` must name it; ``token create`` writes it."""

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    workers: int = Field(default=1, ge=1, le=64)
    scheduler_enabled: bool = True
    migrate_on_start: bool = True

    max_batch_records: int = Field(default=50_000, ge=1)
    max_body_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)

    cache_enabled: bool = True
    """False: no response cache at all (benchmarks of uncached execution, debugging)."""
    cache_ttl_seconds: int = Field(default=900, ge=1)
    cache_max_entries: int = Field(default=5_000, ge=1)
    redis_timeout_ms: int = Field(default=50, ge=1)
    apq_max_entries: int = Field(default=2_000, ge=1)
    """Automatic persisted queries kept per process (the documents dashboards send by hash)."""
    apq_ttl_seconds: int = Field(default=7 * 86_400, ge=60)
    """How long a persisted query stays in Redis (and the local LRU) after it was last sent whole."""

    recalc_interval_minutes: float = Field(default=15, gt=0)
    daily_refresh_hour: int = Field(default=0, ge=0, le=23)
    daily_refresh_minute: int = Field(default=5, ge=0, le=59)

    channel_purity_in_dqi: bool = True
    bands: BandThresholds = BandThresholds()
    """Band thresholds (SPEC §5.6): the registry's defaults, each overridable (``LOANMETRICS_BANDS__RISK_GREEN``)."""

    max_page_size: int = Field(default=500, ge=1)
    max_query_depth: int = Field(default=12, ge=2)
    max_aliases: int = Field(default=30, ge=1)
    max_tokens: int = Field(default=4_000, ge=10)
    max_query_cost: int = Field(default=50_000, ge=1)
    """Objects a query can return: lists and connections multiply what they hold by their size."""
    max_selections: int = Field(default=5_000, ge=10)
    """Field selections a document holds once its fragments are expanded (a fragment bomb)."""
    max_field_overlaps: int = Field(default=1_000, ge=0)
    """Pairs of expanded selections with one response path (quadratic to validate)."""

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_json: bool = True

    cors_origins: Annotated[tuple[str, ...], NoDecode] = ()
    """Browser origins allowed to call the API (comma-separated, e.g. https://dash.lender.example);
    none by default. ``*`` allows any origin (tokens travel in a header, never in cookies)."""
    compress_min_bytes: int = Field(default=2048, ge=0)
    gzip_level: int = Field(default=4, ge=1, le=9)
    brotli_quality: int = Field(default=4, ge=0, le=11)
    zstd_level: int = Field(default=3, ge=1, le=22)

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _origins(cls, value: object) -> object:
        """A comma-separated list (the environment's form) or a list (TOML); each an origin:
        scheme, host and optional port, no path."""
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, list | tuple):
            return value
        origins = []
        for item in items:
            origin = str(item).strip().rstrip("/")
            if not origin:
                continue
            if origin != "*" and not _ORIGIN.fullmatch(origin):
                raise ValueError(f"{origin!r} is not an origin (scheme://host[:port], no path)")
            origins.append(origin)
        return tuple(origins)

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @field_validator("database_url", "database_read_url")
    @classmethod
    def _postgres_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if not value.startswith(("postgresql://", "postgres://", "postgresql+asyncpg://")):
            raise ValueError("must be a postgresql:// URL")
        split_url(value)  # an UnsupportedUrlError (a ValueError) names the query parameter
        return value

    @field_validator("jwt_issuer", "jwt_audience")
    @classmethod
    def _optional_text(cls, value: str | None) -> str | None:
        return value or None

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must be a redis:// URL")
        return value

    @property
    def pgdata(self) -> Path:
        return self.data_dir / "pgdata"

    @property
    def auth_enabled(self) -> bool:
        return self.auth == "enabled"

    def signing_secret(self) -> str:
        """The HS256 secret, refused when unset or blank: an empty key signs tokens anyone can forge,
        and a server holding one would answer every request 401."""
        if self.jwt_secret is None:
            raise ConfigurationError(
                "configuration error: LOANMETRICS_JWT_SECRET: required when LOANMETRICS_AUTH=enabled "
                "(or set LOANMETRICS_JWT_PUBLIC_KEY for RS256)"
            )
        secret = self.jwt_secret.get_secret_value()
        if not secret.strip():
            raise ConfigurationError(
                "configuration error: LOANMETRICS_JWT_SECRET: is empty; set a long random value "
                "(for example the output of: openssl rand -hex 32)"
            )
        return secret

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = os.environ.get("LOANMETRICS_CONFIG")
        if config_file:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(config_file)))
        return tuple(sources)


class ConfigurationError(Exception):
    """A bad setting: the message is one line naming the setting."""


_ALIASES = {"database_url": "DATABASE_URL", "database_read_url": "DATABASE_READ_URL", "redis_url": "REDIS_URL"}


def describe_validation_error(error: ValidationError) -> str:
    """One line per bad setting, named the way the operator sets it."""
    lines = []
    for item in error.errors():
        loc = [str(part) for part in item["loc"]]
        name = loc[0] if loc else "?"
        known = name in _ALIASES.values()
        env_name = name if known else _ALIASES.get(name, "LOANMETRICS_" + "__".join(loc).upper())
        lines.append(f"configuration error: {env_name}: {item['msg']}")
    return "; ".join(lines)


def load_settings(**overrides: Any) -> Settings:
    """Read the settings, turning validation errors into one clear ConfigurationError."""
    config_file = os.environ.get("LOANMETRICS_CONFIG")
    if config_file and not Path(config_file).is_file():
        raise ConfigurationError(f"configuration error: LOANMETRICS_CONFIG: no such file {config_file!r}")
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise ConfigurationError(describe_validation_error(exc)) from None
    except tomllib.TOMLDecodeError as exc:  # the file is read while the settings are built
        raise ConfigurationError(f"{_CONFIG_ERROR}: {config_file}: not valid TOML: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not UTF-8 text"
        raise ConfigurationError(f"{_CONFIG_ERROR}: cannot read {config_file}: {reason}") from None


_CONFIG_ERROR = "configuration error: LOANMETRICS_CONFIG"


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach (the demo's auth-disabled mode needs one)."""
    if host in {"localhost"}:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
