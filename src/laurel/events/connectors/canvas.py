"""Canvas LMS Live Events (Canvas format) over HTTPS: ``course_completed``, ``grade_change``,
``course_grade_change``.

Canvas lets the admin set only the endpoint URL, so the secret travels in it (``?token=``).
When "Sign Payload" is on, the body is an RS256 JWT whose claims are the event; with the
organization's JWKS in ``mapping.options.jwks`` its signature is checked too. Canvas events
carry no id: one is derived from (root account, learner, course, event, completion time).
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from laurel.events.connectors.base import (
    Connector,
    Ignored,
    Incoming,
    Result,
    Unmapped,
    UnreadableBody,
    build,
    counts,
    derived_id,
    dig,
    parse_time,
    scaled,
    text,
)
from laurel.events.connectors.mapping import ConnectorMapping
from laurel.events.connectors.verify import Bearer, HeaderToken, QueryToken
from laurel.events.models import Outcome

# Canvas global ids are shard * 10**13 + local id; course_completed uses local ids.
_SHARD = 10**13


def local_id(value: Any) -> str | None:
    raw = text(value)
    if raw is None or not raw.isdigit():
        return raw
    return str(int(raw) % _SHARD)


def _b64url(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _is_jwt(body: bytes) -> bool:
    return body.lstrip().startswith(b"eyJ") and body.count(b".") == 2


def jwt_claims(body: bytes) -> dict[str, Any]:
    try:
        claims = json.loads(_b64url(body.strip().decode().split(".")[1]))
    except (ValueError, UnicodeDecodeError, binascii.Error) as exc:
        raise UnreadableBody(f"the signed payload (JWT) cannot be decoded: {exc}") from exc
    if not isinstance(claims, dict):
        raise UnreadableBody("the signed payload (JWT) claims are not an object")
    return claims


def jwt_problem(body: bytes, jwks: Any) -> str | None:
    """Why an RS256 JWT does not verify against a JWKS, or None when it does."""
    try:
        head_b64, claims_b64, sig_b64 = body.strip().decode().split(".")
        header = json.loads(_b64url(head_b64))
        signature = _b64url(sig_b64)
    except (ValueError, UnicodeDecodeError, binascii.Error):
        return "the signed payload is not a well-formed JWT"
    if header.get("alg") != "RS256":
        return f"JWT algorithm {header.get('alg')!r} is not RS256"
    keys = jwks.get("keys", []) if isinstance(jwks, dict) else []
    key = next((k for k in keys if isinstance(k, dict) and k.get("kid") == header.get("kid")), None)
    if key is None:
        return f"no key {header.get('kid')!r} in the configured JWKS"
    try:
        public = rsa.RSAPublicNumbers(
            int.from_bytes(_b64url(key["e"]), "big"), int.from_bytes(_b64url(key["n"]), "big")
        ).public_key()
        public.verify(
            signature,
            f"{head_b64}.{claims_b64}".encode(),
            padding.PKCS1v15(),
            hashes.SHA256(),
        )
    except (KeyError, ValueError, binascii.Error):
        return f"key {header.get('kid')!r} in the configured JWKS is not an RSA key"
    except InvalidSignature:
        return "the JWT signature does not verify"
    return None


class Canvas(Connector):
    name = "canvas"
    title = "Canvas LMS (Live Events)"
    accepts = (QueryToken(), Bearer(), HeaderToken())
    learner_keys = ("user_id", "email", "sis_id")
    course_keys = ("course_id", "sis_source_id")

    def check_body(self, incoming: Incoming, mapping: ConnectorMapping) -> str | None:
        jwks = mapping.options.get("jwks")
        if not _is_jwt(incoming.body):
            return (
                "unsigned payload refused: this organization requires signed Live Events"
                if (jwks and mapping.options.get("require_signed"))
                else None
            )
        return jwt_problem(incoming.body, jwks) if jwks else None

    def parse(self, incoming: Incoming, mapping: ConnectorMapping) -> list[Result]:
        if _is_jwt(incoming.body):
            event: Any = jwt_claims(incoming.body)
        else:
            try:
                event = json.loads(incoming.body)
            except (ValueError, UnicodeDecodeError) as exc:
                raise UnreadableBody(f"the body is neither JSON nor a signed JWT: {exc}") from exc
        if not isinstance(event, dict) or not isinstance(event.get("metadata"), dict):
            raise UnreadableBody("expected a Live Event: an object with metadata and body")
        name = dig(event, "metadata.event_name")
        if name == "course_completed":
            return [self._course_completed(event, mapping)]
        if name == "course_grade_change":
            return [self._course_grade(event, mapping)]
        if name == "grade_change":
            return [self._grade(event, mapping)]
        return [Ignored(0, f"{name} is not an event Laurel reads")]

    def _learner(self, event: dict[str, Any], mapping: ConnectorMapping, grade: bool) -> Any:
        key = self.learner_key(mapping)
        if key == "user_id":
            return (
                ("body.user_id", local_id(dig(event, "body.user_id")))
                if grade
                else ("body.user.id", local_id(dig(event, "body.user.id")))
            )
        if key == "email":
            return ("body.user.email", None if grade else text(dig(event, "body.user.email")))
        return (
            ("body.student_sis_id", text(dig(event, "body.student_sis_id")))
            if grade
            else ("metadata.user_sis_id", text(dig(event, "metadata.user_sis_id")))
        )

    def _course_completed(self, event: dict[str, Any], mapping: ConnectorMapping) -> Result:
        learner_field, learner = self._learner(event, mapping, grade=False)
        if self.course_key(mapping) == "sis_source_id":
            course_field, course = (
                "body.course.sis_source_id",
                text(dig(event, "body.course.sis_source_id")),
            )
        else:
            course_field, course = "body.course.id", local_id(dig(event, "body.course.id"))
        if not counts(mapping, course):
            return Ignored(0, f"course {course} is not in this organization's course_ids")
        completed_at = dig(event, "body.progress.completed_at")
        return build(
            0,
            event_id=derived_id(
                self.name,
                dig(event, "metadata.root_account_uuid"),
                learner,
                course,
                "course_completed",
                completed_at,
            ),
            occurred_at=parse_time(completed_at),
            outcome=Outcome.completed,
            learner={
                "external_id": learner,
                "email": text(dig(event, "body.user.email")),
                "name": text(dig(event, "body.user.name")),
            },
            course={"external_id": course, "title": text(dig(event, "body.course.name"))},
            payload=event,
            names={
                "learner.external_id": learner_field,
                "course.external_id": course_field,
                "occurred_at": "body.progress.completed_at",
                "learner.email": "body.user.email",
            },
        )

    def _course_grade(self, event: dict[str, Any], mapping: ConnectorMapping) -> Result:
        if dig(event, "body.workflow_state") == "deleted":
            return Ignored(0, "the course score was deleted")
        learner_field, learner = self._learner(event, mapping, grade=True)
        if learner is None:
            return Unmapped(0, learner_field, "course_grade_change carries no such learner field")
        course = local_id(dig(event, "body.course_id"))
        if not counts(mapping, course):
            return Ignored(0, f"course {course} is not in this organization's course_ids")
        raw = dig(event, "body.final_score")
        score = scaled(raw, mapping.score_scale or 100)
        if raw is not None and score is None:
            return Unmapped(0, "body.final_score", f"not a number: {raw!r}")
        passed = (
            mapping.pass_score is not None and score is not None and score >= mapping.pass_score
        )
        when = dig(event, "body.updated_at") or dig(event, "metadata.event_time")
        return build(
            0,
            event_id=derived_id(
                self.name,
                dig(event, "metadata.root_account_uuid"),
                learner,
                course,
                "course_grade_change",
                when,
                raw,
            ),
            occurred_at=parse_time(when),
            outcome=Outcome.passed if passed else Outcome.in_progress,
            score=score,
            learner={"external_id": learner},
            course={"external_id": course},
            payload=event,
            names={
                "learner.external_id": learner_field,
                "course.external_id": "body.course_id",
                "occurred_at": "body.updated_at",
            },
        )

    def _grade(self, event: dict[str, Any], mapping: ConnectorMapping) -> Result:
        if dig(event, "body.muted") is True:
            return Ignored(0, "the grade is muted (not visible to the student)")
        if dig(event, "body.grading_complete") is False:
            return Ignored(0, "grading is not complete")
        learner_field, learner = self._learner(event, mapping, grade=True)
        if learner is None:
            return Unmapped(0, learner_field, "grade_change carries no such learner field")
        course = (
            local_id(dig(event, "metadata.context_id"))
            if dig(event, "metadata.context_type") == "Course"
            else None
        )
        if course is not None and not counts(mapping, course):
            return Ignored(0, f"course {course} is not in this organization's course_ids")
        points = dig(event, "body.points_possible")
        possible = points if isinstance(points, int | float) and not isinstance(points, bool) else 0
        # No points possible (an ungraded or pass/fail assignment): no score, not an error.
        score = scaled(dig(event, "body.score"), float(possible)) if possible else None
        when = dig(event, "metadata.event_time")
        # An assignment grade is progress within a course: recorded, never paid.
        return build(
            0,
            event_id=derived_id(
                self.name,
                dig(event, "metadata.root_account_uuid"),
                learner,
                dig(event, "body.submission_id"),
                "grade_change",
                when,
                dig(event, "body.score"),
            ),
            occurred_at=parse_time(when),
            outcome=Outcome.in_progress,
            score=score,
            learner={"external_id": learner},
            course={"external_id": course},
            payload=event,
            names={
                "learner.external_id": learner_field,
                "course.external_id": "metadata.context_id",
                "occurred_at": "metadata.event_time",
            },
        )
