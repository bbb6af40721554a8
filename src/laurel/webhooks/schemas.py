from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from laurel.webhooks.models import Attempt, EventType, Message, MessageStatus, Subscription


class SubscriptionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(max_length=2000, examples=["https://hr.example.com/hooks/laurel"])
    event_types: list[EventType] = Field(min_length=1, examples=[["reward.delivered"]])
    description: str | None = Field(default=None, max_length=200)


class SubscriptionUpdate(BaseModel):
    """Fields left out keep their value. ``enabled: true`` revives a subscription that a
    receiver's 410 Gone turned off."""

    model_config = ConfigDict(extra="forbid")

    url: str | None = Field(default=None, max_length=2000)
    event_types: list[EventType] | None = Field(default=None, min_length=1)
    description: str | None = Field(default=None, max_length=200)
    enabled: bool | None = None


class SubscriptionOut(BaseModel):
    id: uuid.UUID
    url: str
    event_types: list[str]
    description: str | None
    livemode: bool
    enabled: bool
    disabled_reason: str | None
    disabled_at: datetime | None
    secret_hint: str = Field(description="Last four characters of the signing secret")
    created_at: datetime

    @classmethod
    def of(cls, row: Subscription) -> SubscriptionOut:
        return cls(
            id=row.id,
            url=row.url,
            event_types=list(row.event_types),
            description=row.description,
            livemode=row.livemode,
            enabled=row.enabled,
            disabled_reason=row.disabled_reason,
            disabled_at=row.disabled_at,
            secret_hint=row.secret_hint,
            created_at=row.created_at,
        )


class SubscriptionCreated(SubscriptionOut):
    secret: str = Field(
        description="The whsec_ signing secret. Shown this once: store it with the receiver."
    )


class AttemptOut(BaseModel):
    number: int
    trigger: str
    at: datetime
    status_code: int | None
    latency_ms: int
    succeeded: bool
    response_excerpt: str | None
    error: str | None

    @classmethod
    def of(cls, row: Attempt) -> AttemptOut:
        return cls(
            number=row.number,
            trigger=row.trigger,
            at=row.created_at,
            status_code=row.status_code,
            latency_ms=row.latency_ms,
            succeeded=row.succeeded,
            response_excerpt=row.response_excerpt,
            error=row.error,
        )


class MessageOut(BaseModel):
    id: uuid.UUID
    event_id: str = Field(description="The webhook-id header: the same on every attempt")
    event_type: str
    subscription_id: uuid.UUID
    reward_id: uuid.UUID | None
    status: MessageStatus
    attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    succeeded_at: datetime | None
    payload: dict[str, Any]
    attempt_log: list[AttemptOut] | None = Field(
        default=None, description="Every attempt, oldest first (on the single-message route)"
    )

    @classmethod
    def of(cls, row: Message, attempts: list[Attempt] | None = None) -> MessageOut:
        return cls(
            id=row.id,
            event_id=row.event_id,
            event_type=row.event_type,
            subscription_id=row.subscription_id,
            reward_id=row.reward_id,
            status=MessageStatus(row.status),
            attempts=row.attempts,
            next_attempt_at=row.next_attempt_at,
            last_status_code=row.last_status_code,
            last_error=row.last_error,
            created_at=row.created_at,
            succeeded_at=row.succeeded_at,
            payload=json.loads(row.body),
            attempt_log=[AttemptOut.of(a) for a in attempts] if attempts is not None else None,
        )
