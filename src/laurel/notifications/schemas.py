from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from laurel.learners import sealing
from laurel.notifications.models import EmailSettings, OutboxEmail, OutboxStatus


class EmailSettingsIn(BaseModel):
    """Fields left out keep their value; ``null`` clears an address."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool | None = Field(default=None, description="Send reward emails at all")
    sender_address: str | None = Field(
        default=None, max_length=320, description="From address; null: LAUREL_EMAIL_FROM"
    )
    sender_name: str | None = Field(
        default=None, max_length=200, description="From name; null: the brand or organization name"
    )
    reply_to: str | None = Field(default=None, max_length=320)
    admin_recipients: list[str] | None = Field(
        default=None,
        max_length=20,
        description="Told about held and failed rewards (one email per batch, never the learner)",
    )
    learner_emails: bool | None = Field(
        default=None, description="Tell learners their reward was delivered"
    )
    test_mode: bool | None = Field(
        default=None, description="Also email for test-mode rewards (off by default)"
    )
    admin_locale: str | None = Field(
        default=None,
        max_length=35,
        description="Language of operator emails (held and failed rewards, low stock) to "
        "addresses whose user set none (BCP 47, e.g. de, pt-BR); null: English",
    )


class EmailSettingsOut(BaseModel):
    enabled: bool
    sender_address: str | None
    sender_name: str | None
    reply_to: str | None
    admin_recipients: list[str]
    learner_emails: bool
    test_mode: bool
    admin_locale: str | None = None
    updated_at: datetime | None

    @classmethod
    def of(cls, row: EmailSettings | None) -> EmailSettingsOut:
        if row is None:
            return cls(
                enabled=False,
                sender_address=None,
                sender_name=None,
                reply_to=None,
                admin_recipients=[],
                learner_emails=True,
                test_mode=False,
                updated_at=None,
            )
        return cls(
            enabled=row.enabled,
            sender_address=row.sender_address,
            sender_name=row.sender_name,
            reply_to=row.reply_to,
            admin_recipients=list(row.admin_recipients or []),
            learner_emails=row.learner_emails,
            test_mode=row.test_mode,
            admin_locale=row.admin_locale,
            updated_at=row.updated_at,
        )


class EmailOut(BaseModel):
    id: uuid.UUID
    template: str
    status: OutboxStatus
    reward_id: uuid.UUID | None
    recipient: str | None = Field(description="Known once sent, for learner emails")
    locale: str | None = Field(description="The catalog the email was written in, once sent")
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None
    message_id: str | None
    created_at: datetime
    sent_at: datetime | None
    purged_at: datetime | None = Field(
        default=None, description="When retention emptied its content (docs/privacy.md)"
    )

    @classmethod
    def of(cls, row: OutboxEmail) -> EmailOut:
        data: dict[str, Any] = {name: getattr(row, name) for name in cls.model_fields}
        data["recipient"] = sealing.value_of(row, sealing.OUTBOX_RECIPIENT)
        return cls(**data)
