"""Configuration: environment variables and an optional TOML file, validated by pydantic-settings.

Every setting is read once into an immutable ``Settings`` object that the application object
carries; nothing reads the environment after start-up.
"""

from __future__ import annotations

import ipaddress
import os
from datetime import date
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from loanmetrics.calculators.bands import BandThresholds


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
    jwt_issuer: str = "loanmetrics"

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

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_json: bool = True

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
        return value

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


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach (the demo's auth-disabled mode needs one)."""
    if host in {"localhost"}:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
