"""One typed settings class; every value comes from ``LAUREL_*`` environment variables."""

from __future__ import annotations

import re
from enum import StrEnum
from functools import lru_cache
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from laurel.kit import currency

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
    fx_rates_url: str | None = Field(
        default=None,
        description="Rates file for `laurel fx refresh`, e.g. the ECB's "
        "https://www.ecb.europa.eu/stats/eurofxref/eurofxref.zip; unset: no download",
    )

    @field_validator("screening_countries")
    @classmethod
    def _iso_codes(cls, value: str) -> str:
        bad = [c for c in value.split(",") if c.strip() and not _ISO_3166.match(c.strip().upper())]
        if bad:
            raise ValueError(f"not ISO 3166 codes: {', '.join(bad)}")
        return value

    @field_validator("fx_country_currencies")
    @classmethod
    def _country_currencies(cls, value: dict[str, str]) -> dict[str, str]:
        cleaned = {k.strip().upper(): v.strip().upper() for k, v in value.items()}
        bad = [f"{k}:{v}" for k, v in cleaned.items() if not _ISO_3166.match(k)]
        bad += [f"{k}:{v}" for k, v in cleaned.items() if not currency.is_known(v)]
        if bad:
            raise ValueError(f"use ISO 3166 country: ISO 4217 currency, not {', '.join(bad)}")
        return cleaned

    @field_validator("sandbox_currencies")
    @classmethod
    def _sandbox_currencies(cls, value: list[str]) -> list[str]:
        cleaned = [v.strip().upper() for v in value]
        bad = [v for v in cleaned if not currency.is_known(v) or v == currency.POINTS]
        if bad:
            raise ValueError(f"not ISO 4217 currencies: {', '.join(bad)}")
        return cleaned

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

    public_url: str = Field(
        default="http://127.0.0.1:8000",
        description="Base URL people reach this deployment at: reward links, password reset "
        "links and the SSO redirect URI start here",
    )
    link_lifetime_days: int = Field(
        default=30,
        ge=1,
        le=3650,
        description="How long a reward link lasts unless its program says",
    )
    link_redeem_lease_seconds: float = Field(
        default=60.0,
        gt=0,
        description="A redemption left unfinished this long (crash, provider timeout) is finished "
        "by the next visit to the link",
    )
    tax_form_link_days: int = Field(
        default=30, ge=1, le=365, description="How long a tax form request link stays valid"
    )
    smtp_host: str | None = Field(
        default=None, description="SMTP server for email; unset: the outbox waits, nothing is sent"
    )
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_security: Literal["starttls", "tls", "none"] = Field(
        default="starttls",
        description="starttls (port 587), tls (implicit TLS, port 465) or none (loopback relays)",
    )
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_timeout_seconds: float = Field(default=30.0, gt=0, le=300)
    smtp_ca_file: str | None = Field(
        default=None,
        description="PEM file of the CA that signed the SMTP server's certificate (a private "
        "relay); unset: the system's trusted CAs",
    )
    email_from: str = Field(
        default="no-reply@localhost",
        description="From address for organizations that set none of their own",
    )
    email_max_attempts: int = Field(default=8, ge=1, le=50)
    webhook_timeout_seconds: float = Field(
        default=15.0, gt=0, le=120, description="How long a receiver has to answer"
    )
    webhook_retry_schedule: str = Field(
        default="5,300,1800,7200,18000,36000,50400,72000,86400",
        description="Seconds to wait after each failed attempt (the first is immediate); "
        "when the list runs out the message fails",
    )
    webhook_allow_http: bool = Field(
        default=False,
        description="Accept http:// webhook URLs in production (https only otherwise)",
    )

    @field_validator("webhook_retry_schedule")
    @classmethod
    def _schedule(cls, value: str) -> str:
        try:
            delays = [float(part) for part in value.split(",") if part.strip()]
        except ValueError:
            raise ValueError("a comma-separated list of seconds, such as 5,300,1800") from None
        if any(d < 0 for d in delays):
            raise ValueError("delays must not be negative")
        return value

    @property
    def webhook_retry_delays(self) -> list[float]:
        return [float(part) for part in self.webhook_retry_schedule.split(",") if part.strip()]

    approval_valid_hours: float = Field(
        default=168.0,
        gt=0,
        description="How long an approval (threshold or FCPA) stays good for a reward that has "
        "not started issuing; after that it expires and needs a new decision",
    )
    approval_sweep_seconds: float = Field(
        default=60.0, gt=0, description="How often the worker expires lapsed approvals"
    )
    fcpa_event_limit_usd: str = Field(
        default="250.00",
        pattern=r"^\d+(\.\d{1,2})?$",
        description="A reward to a non-US channel partner above this USD amount needs "
        "compliance approval",
    )
    fcpa_yearly_limit_usd: str = Field(
        default="1000.00",
        pattern=r"^\d+(\.\d{1,2})?$",
        description="Rewards to one non-US channel partner in a calendar year above this USD "
        "total need compliance approval",
    )
    session_hours: float = Field(default=12.0, gt=0, description="Sign-in session lifetime")
    sign_in_max_failures: int = Field(
        default=5, ge=1, description="Failed sign-ins in a row that lock an account"
    )
    sign_in_lockout_minutes: float = Field(
        default=15.0, gt=0, description="How long a locked account stays locked"
    )
    password_reset_minutes: float = Field(
        default=60.0, gt=0, description="How long an emailed password reset link works"
    )
    learner_link_minutes: float = Field(
        default=15.0, gt=0, description="How long an emailed learner sign-in link works"
    )
    learner_session_hours: float = Field(
        default=12.0, gt=0, description="Learner sign-in session lifetime"
    )
    learner_links_per_hour: int = Field(
        default=5,
        ge=1,
        description="Sign-in links mailed to one learner in an hour; more requests mail nothing",
    )
    inventory_low_stock: int = Field(
        default=10,
        ge=0,
        description="Alert when fewer inventory codes of one brand and value are left "
        "(a per-denomination threshold set through the API overrides it)",
    )
    fx_country_currencies: dict[str, str] = Field(
        default_factory=dict,
        description="Override the currency a learner's country is paid in, JSON: "
        '{"XK": "EUR"} (otherwise CLDR\'s legal tender; docs/fx.md)',
    )
    xapi_cors_origins: list[str] = Field(
        default_factory=lambda: ["*"],
        description="Origins whose browser content may call /xapi/ (xAPI content posting "
        'statements from the LMS page), JSON: ["https://lms.example.com"]; ["*"] (default) '
        "every origin, [] none (docs/connectors/xapi.md)",
    )
    sandbox_currencies: list[str] = Field(
        default_factory=list,
        description="Currencies the sandbox pays converted rewards in, JSON: "
        '["EUR", "GBP"]; empty: it pays in the program\'s currency (docs/providers.md)',
    )
    email_body_retention_days: float = Field(
        default=30.0,
        gt=0,
        description="Days a sent or skipped email keeps its content (context, address); the "
        "row itself is kept for email_log_retention_days",
    )
    email_log_retention_days: float = Field(
        default=365.0, gt=0, description="Days a settled email row is kept at all"
    )
    webhook_body_retention_days: float = Field(
        default=30.0,
        gt=0,
        description="Days a delivered webhook message keeps its body (the learner's ids)",
    )
    webhook_log_retention_days: float = Field(
        default=90.0,
        gt=0,
        description="Days a settled webhook message and its attempt log are kept at all",
    )
    report_refresh_seconds: float = Field(
        default=300.0,
        ge=0,
        description="How old a stored report (a program's lift, completion rates by ISO week "
        "or off month bounds) may be before it is computed again (the worker refreshes those "
        "read lately before then); 0: always computed live",
    )
    outbox_purge_seconds: float = Field(
        default=3600.0, gt=0, description="How often the worker purges settled outbox rows"
    )
    tango_base_url: str | None = Field(
        default=None,
        description="Tango RaaS v2 base URL, e.g. https://integration-api.tangocard.com/raas/v2 "
        "(sandbox); unset: no tango provider",
    )
    tango_platform_name: str = Field(default="", description="Tango Basic-auth user name")
    tango_api_key: str = Field(default="", description="Tango Basic-auth password (RaaS key)")
    tango_customer_identifier: str = ""
    tango_account_identifier: str = ""
    tango_utids: dict[str, str] = Field(
        default_factory=dict,
        description="Tango item per reward kind when the learner chose none, JSON: "
        '{"gift_card": "U561593"}',
    )
    tango_timeout_seconds: float = Field(default=15.0, gt=0)
    tango_requests_per_second: float | None = Field(
        default=1.0, gt=0, description="Pace this process's Tango calls (Tango allows 1/s)"
    )
    tremendous_base_url: str | None = Field(
        default=None,
        description="Tremendous v2 base URL, e.g. https://testflight.tremendous.com/api/v2 "
        "(sandbox); unset: no tremendous provider",
    )
    tremendous_api_key: str = Field(default="", description="Tremendous Bearer API key")
    tremendous_funding_source_id: str = Field(default="balance")
    tremendous_products: dict[str, str] = Field(
        default_factory=dict,
        description="Tremendous product per reward kind when the learner chose none, JSON: "
        '{"prepaid_card": "Q24BD9EZ332JT"}',
    )
    tremendous_campaign_id: str | None = Field(
        default=None, description="Campaign used when no product is known for a reward"
    )
    tremendous_timeout_seconds: float = Field(default=15.0, gt=0)
    tremendous_requests_per_second: float | None = Field(
        default=10.0, gt=0, description="Pace this process's Tremendous calls (10/s allowed)"
    )
    audit_signing_key: SecretStr | None = Field(
        default=None,
        description="ed25519 private key (PEM, or base64 of its 32 bytes) that signs exported "
        "audit chain heads; `laurel audit keygen` makes one",
    )

    encryption_keys: SecretStr | None = Field(
        default=None,
        description="Key ring for data encrypted at rest: `id:base64-32-bytes` comma-separated, "
        "the first encrypts; unset: one key derived from LAUREL_SECRET_KEY",
    )
    roster_keep: int = Field(
        default=3,
        ge=1,
        le=1000,
        description="HR rosters kept per organization (the newest completed ones); older "
        "rosters, their entries and their rejected lines are deleted by the privacy sweep",
    )
    privacy_sweep_interval_seconds: float = Field(
        default=3600.0,
        ge=0,
        description="How often `serve` and `worker` remind privacy requests near their deadline "
        "and apply retention; 0 turns the sweep off",
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
