"""One typed settings class; every value comes from ``LAUREL_*`` environment variables."""

from __future__ import annotations

import re
from enum import StrEnum
from functools import lru_cache
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_ISO_3166 = re.compile(r"^[A-Z]{2}(-[A-Z0-9]{1,3})?$")
_ENTRY_TYPES = frozenset({"individual", "entity", "vessel", "aircraft"})
DEFAULT_SECRET = "development-only-secret-change-me"  # noqa: S105 - refused in production


class Environment(StrEnum):
    development = "development"
    test = "test"
    production = "production"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LAUREL_", extra="ignore")

    environment: Environment = Environment.development
    database_url: str = Field(
        default="sqlite:///laurel.db",
        description="SQLAlchemy URL: sqlite:///path.db (default) or postgresql+psycopg://...",
    )
    secret_key: str = DEFAULT_SECRET
    worker_batch_size: int = Field(default=50, ge=1, le=1000)
    worker_concurrency: int = Field(
        default=8,
        ge=1,
        le=64,
        description="Provider calls one worker makes at the same time",
    )
    worker_poll_seconds: float = Field(default=0.5, gt=0)
    worker_lease_seconds: float = Field(
        default=60.0, gt=0, description="How long a claimed reward stays with one worker"
    )
    worker_max_attempts: int = Field(default=8, ge=1)
    worker_backoff_base_seconds: float = Field(default=1.0, gt=0)
    worker_backoff_max_seconds: float = Field(default=300.0, gt=0)
    log_level: str = "INFO"
    poll_interval_seconds: float = Field(
        default=300.0,
        ge=0,
        description="How often `serve` and `worker` poll sources that cannot push (TalentLMS); "
        "0 turns polling off",
    )
    screening_threshold: float = Field(
        default=0.91,
        ge=0.5,
        le=1.0,
        description="Name score (0-1) at or above which a listed entry is a possible match",
    )
    screening_countries: str = Field(
        default="CU,IR,KP,SY,UA-43,UA-14,UA-09",
        description="Comprehensively sanctioned jurisdictions: ISO 3166-1 alpha-2 or 3166-2 codes",
    )
    screening_entry_types: str = Field(
        default="individual,entity",
        description="SDN types screened: individual, entity, vessel, aircraft",
    )
    screening_without_list: Literal["pass", "hold"] = Field(
        default="pass",
        description="Before any list is imported: pass rewards with a warning, or hold them",
    )
    screening_list_url: str | None = Field(
        default=None,
        description="Base URL of OFAC's CSV files for `laurel sdn refresh`; unset: no download",
    )

    @field_validator("screening_countries")
    @classmethod
    def _iso_codes(cls, value: str) -> str:
        bad = [c for c in value.split(",") if c.strip() and not _ISO_3166.match(c.strip().upper())]
        if bad:
            raise ValueError(f"not ISO 3166 codes: {', '.join(bad)}")
        return value

    @field_validator("screening_entry_types")
    @classmethod
    def _entry_types(cls, value: str) -> str:
        types = {t.strip() for t in value.split(",") if t.strip()}
        unknown = sorted(types - _ENTRY_TYPES)
        if unknown or not types:
            raise ValueError(f"use some of individual, entity, vessel, aircraft (not {unknown})")
        return value

    imports_dir: str = Field(
        default="laurel-imports",
        description="Where uploaded import files wait until their import completes",
    )
    import_max_bytes: int = Field(
        default=50 * 1024 * 1024,
        ge=1024,
        description="Largest file POST /api/v1/imports accepts (it is imported in the request)",
    )

    points_badge_signing_key: str | None = Field(
        default=None,
        description="Ed25519 private key (PEM, or base64url 32-byte seed) that signs Open Badges "
        "3.0 credentials; unset: derived from LAUREL_SECRET_KEY",
    )
    points_issuer_url: str | None = Field(
        default=None,
        description="Public base URL named in badge credentials; unset: the request's base URL",
    )

    @model_validator(mode="after")
    def _refuse_default_secret(self) -> Settings:
        if self.environment is Environment.production and self.secret_key == DEFAULT_SECRET:
            raise ValueError("LAUREL_SECRET_KEY must be set in production")
        return self


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
