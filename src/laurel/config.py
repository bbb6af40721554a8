"""One typed settings class; every value comes from ``LAUREL_*`` environment variables."""

from __future__ import annotations

from enum import StrEnum
from functools import lru_cache

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

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
    imports_dir: str = Field(
        default="laurel-imports",
        description="Where uploaded import files wait until their import completes",
    )
    import_max_bytes: int = Field(
        default=50 * 1024 * 1024,
        ge=1024,
        description="Largest file POST /api/v1/imports accepts (it is imported in the request)",
    )

    @model_validator(mode="after")
    def _refuse_default_secret(self) -> Settings:
        if self.environment is Environment.production and self.secret_key == DEFAULT_SECRET:
            raise ValueError("LAUREL_SECRET_KEY must be set in production")
        return self


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
