"""Shapes of the connector, secret, webhook and dead-letter endpoints."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from laurel.events.connectors.mapping import ConnectorMapping


class SecretOut(BaseModel):
    id: uuid.UUID
    livemode: bool
    name: str
    hint: str = Field(description="The secret's last four characters")
    created_at: datetime
    last_used_at: datetime | None
    retired_at: datetime | None


class SecretCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] = ""
    livemode: bool = Field(default=True, description="Which mode's events this secret lets in")
    secret: Annotated[str, StringConstraints(min_length=16, max_length=500)] | None = Field(
        default=None,
        description="A secret the source generated (Cornerstone's x-api-key, a TalentLMS API "
        "key). Omit it and Laurel generates one.",
    )


class SecretCreated(SecretOut):
    secret: str = Field(description="Shown once: store it in the LMS now")


class PollOut(BaseModel):
    """Where polling of a source stands (polled connectors only), in the key's mode."""

    since: datetime | None = Field(
        description="Every completion stamped before this has been read (None: never polled)"
    )
    last_polled_at: datetime | None
    last_error: str | None = Field(description="Why the last poll stopped or missed courses")
    round_open: bool = Field(
        description="True while a round still lacks some courses (a poll failed part way)"
    )


class ConnectorOut(BaseModel):
    name: str
    title: str
    polled: bool = Field(description="True when Laurel polls this source instead of receiving")
    webhook_path: str | None = Field(description="Where the LMS posts, with ?org=<slug>")
    credentials: list[str] = Field(description="How the source may prove itself, in order")
    learner_keys: list[str] = Field(description="Choices for mapping.learner_id (first: default)")
    course_keys: list[str] = Field(description="Choices for mapping.course_id (first: default)")
    mapping: ConnectorMapping
    secrets: list[SecretOut]
    poll: PollOut | None = Field(
        default=None, description="Polled connectors: where polling stands, and its last error"
    )


class DeliveryOut(BaseModel):
    accepted: int = Field(description="New events stored")
    replayed: int = Field(description="Events already stored (a retried delivery)")
    ignored: int = Field(description="Events that are not completions or not for counted courses")
    dead_letter_id: uuid.UUID | None = Field(
        description="Set when part or all of the delivery was kept as a dead letter"
    )
    results: list[dict[str, Any]] = Field(description="One entry per event in the delivery")


class DeadLetterOut(BaseModel):
    id: uuid.UUID
    connector: str
    livemode: bool
    state: str = Field(description="open (waiting for a replay) or resolved")
    reason: str = Field(description="unreadable_body, unmapped or refused")
    message: str
    errors: list[dict[str, Any]]
    body: str = Field(description="The body as received (UTF-8; undecodable bytes replaced)")
    headers: dict[str, Any]
    query: dict[str, Any]
    received_at: datetime
    replays: int
    last_replayed_at: datetime | None
    resolved_at: datetime | None
    event_ids: list[str]


class ReplayOut(BaseModel):
    dead_letter: DeadLetterOut
    delivery: DeliveryOut
