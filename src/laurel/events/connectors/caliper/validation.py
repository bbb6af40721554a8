"""Caliper envelope and event checks (Caliper Analytics 1.2; 1.1 as Canvas sends it).

The endpoint rules decide the status: a body that is not an envelope of well-formed events is a
400, an envelope of a ``dataVersion`` Laurel does not read is a 422.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from laurel.kit.clock import as_utc
from laurel.kit.errors import AppError

V1P2 = "http://purl.imsglobal.org/ctx/caliper/v1p2"
V1P1 = "http://purl.imsglobal.org/ctx/caliper/v1p1"
DATA_VERSIONS = (V1P2, V1P1)

# Caliper 1.2 event types and the actions each profile allows for them.
ACTIONS: dict[str, frozenset[str]] = {
    "AnnotationEvent": frozenset({"Bookmarked", "Highlighted", "Shared", "Tagged"}),
    "AssessmentEvent": frozenset(
        {"Started", "Paused", "Resumed", "Restarted", "Reset", "Submitted"}
    ),
    "AssessmentItemEvent": frozenset({"Started", "Skipped", "Completed"}),
    "AssignableEvent": frozenset(
        {"Activated", "Deactivated", "Started", "Completed", "Submitted", "Reviewed"}
    ),
    "FeedbackEvent": frozenset({"Commented", "Ranked"}),
    "ForumEvent": frozenset({"Subscribed", "Unsubscribed"}),
    "GradeEvent": frozenset({"Graded"}),
    "MediaEvent": frozenset(
        {
            "Started",
            "Ended",
            "Paused",
            "Resumed",
            "Restarted",
            "ForwardedTo",
            "JumpedTo",
            "ChangedResolution",
            "ChangedSize",
            "ChangedSpeed",
            "ChangedVolume",
            "EnabledClosedCaptioning",
            "DisabledClosedCaptioning",
            "EnteredFullScreen",
            "ExitedFullScreen",
            "Muted",
            "Unmuted",
            "OpenedPopout",
            "ClosedPopout",
        }
    ),
    "MessageEvent": frozenset({"Posted", "MarkedAsRead", "MarkedAsUnRead"}),
    "NavigationEvent": frozenset({"NavigatedTo"}),
    "QuestionnaireEvent": frozenset({"Started", "Submitted"}),
    "QuestionnaireItemEvent": frozenset({"Started", "Skipped", "Completed"}),
    "ResourceManagementEvent": frozenset(
        {
            "Archived",
            "Copied",
            "Created",
            "Deleted",
            "Described",
            "Downloaded",
            "Modified",
            "Printed",
            "Published",
            "Restored",
            "Retrieved",
            "Saved",
            "Submitted",
            "Unpublished",
            "Uploaded",
        }
    ),
    "SearchEvent": frozenset({"Searched"}),
    "SessionEvent": frozenset({"LoggedIn", "LoggedOut", "TimedOut"}),
    "SurveyEvent": frozenset({"OptedIn", "OptedOut"}),
    "SurveyInvitationEvent": frozenset({"Accepted", "Declined", "Sent"}),
    "ThreadEvent": frozenset({"MarkedAsRead", "MarkedAsUnRead"}),
    "ToolLaunchEvent": frozenset({"Launched", "Returned"}),
    "ToolUseEvent": frozenset({"Used"}),
    "ViewEvent": frozenset({"Viewed"}),
}
# The generic Event takes any action of the vocabulary.
ACTIONS["Event"] = frozenset().union(*ACTIONS.values())

_URN_UUID = re.compile(
    r"^urn:uuid:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
)
_IRI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:\S+$")


class MalformedEnvelope(AppError):
    status = 400
    code = "malformed_envelope"


class UnsupportedDataVersion(AppError):
    status = 422
    code = "unsupported_data_version"


def _time(value: Any) -> bool:
    if not isinstance(value, str) or "T" not in value:
        return False
    try:
        as_utc(parsed := datetime.fromisoformat(value))
    except ValueError:  # unreadable, or no UTC time Python can hold
        return False
    return parsed.tzinfo is not None


def _reference(value: Any) -> bool:
    """An entity given whole (with an ``id``) or by its IRI alone."""
    if isinstance(value, str):
        return bool(_IRI.match(value))
    return isinstance(value, dict) and isinstance(value.get("id"), str) and bool(value["id"])


def check_envelope(envelope: Any) -> list[Any]:
    """The envelope's data, or an error naming what is wrong with it."""
    if not isinstance(envelope, dict):
        raise MalformedEnvelope("the body must be a Caliper envelope (a JSON object)")
    missing = [k for k in ("sensor", "sendTime", "dataVersion", "data") if k not in envelope]
    if missing:
        raise MalformedEnvelope(f"the envelope lacks {', '.join(missing)}")
    if not isinstance(envelope["sensor"], str) or not envelope["sensor"]:
        raise MalformedEnvelope("sensor must be the sensor's IRI")
    if not _time(envelope["sendTime"]):
        raise MalformedEnvelope("sendTime must be an ISO 8601 date and time with a timezone")
    if envelope["dataVersion"] not in DATA_VERSIONS:
        raise UnsupportedDataVersion(
            f"dataVersion {envelope['dataVersion']!r} is not supported; send {V1P2} (or {V1P1})"
        )
    data = envelope["data"]
    if not isinstance(data, list) or not data:
        raise MalformedEnvelope("data must be a non-empty array of events or entities")
    return data


def is_event(item: dict[str, Any]) -> bool:
    kind = item.get("type")
    return isinstance(kind, str) and (kind.endswith("Event") or "action" in item)


def check_item(item: Any, index: int) -> list[dict[str, Any]]:
    """Problems of one data item (event or entity), each naming its field."""
    where = f"data[{index}]"
    if not isinstance(item, dict):
        return [{"field": where, "message": "must be a JSON object"}]
    problems: list[dict[str, Any]] = []

    def fail(field: str, message: str) -> None:
        problems.append({"field": f"{where}.{field}", "message": message})

    if not isinstance(item.get("type"), str):
        fail("type", "is required")
    if not isinstance(item.get("id"), str) or not item["id"]:
        fail("id", "is required")
    if not is_event(item):
        return problems
    if isinstance(item.get("id"), str) and not _URN_UUID.match(item["id"]):
        fail("id", "an event id must be a urn:uuid: URI")
    kind = item["type"]
    allowed = ACTIONS.get(kind)
    if allowed is None:
        fail("type", f"{kind} is not a Caliper event type")
    action = item.get("action")
    if not isinstance(action, str):
        fail("action", "is required")
    elif action not in ACTIONS["Event"]:
        fail("action", f"{action} is not a Caliper action")
    elif allowed is not None and action not in allowed:
        fail(
            "action", f"{action} is not an action of {kind} (allowed: {', '.join(sorted(allowed))})"
        )
    for key in ("actor", "object"):
        if key not in item:
            fail(key, "is required")
        elif not _reference(item[key]):
            fail(key, "must be an entity with an id, or an IRI")
    if not _time(item.get("eventTime")):
        fail("eventTime", "is required: an ISO 8601 date and time with a timezone")
    return problems
