"""Canvas LMS Live Events (Canvas format) over HTTPS: ``course_completed``, ``grade_change``,
``course_grade_change``.

Canvas lets the admin set only the endpoint URL, so the secret travels in it (``?token=``).
When "Sign Payload" is on, the body is an RS256 JWT whose claims are the event: its signature
is checked against the organization's JWKS (fetched from ``mapping.options.jwks_url`` and
cached, see ``jwks.py``, or a set pasted in ``mapping.options.jwks``) and its time claims
(``exp``, ``nbf``, ``iat``, with leeway) and, where configured, ``iss`` and ``aud``. Canvas
events carry no id: one is derived from (root account, learner, course, event, completion time).
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from joserfc import jws, jwt
from joserfc.errors import (
    BadSignatureError,
    ExpiredTokenError,
    InvalidClaimError,
    InvalidKeyIdError,
    JoseError,
    MissingClaimError,
)
from joserfc.jwk import KeySet
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from laurel.events.connectors import jwks as jwks_cache
from laurel.events.connectors import strict_json
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
        claims = strict_json.lenient(_b64url(body.strip().decode().split(".")[1]))
    except (ValueError, UnicodeDecodeError, binascii.Error) as exc:
        raise UnreadableBody(f"the signed payload (JWT) cannot be decoded: {exc}") from exc
    if not isinstance(claims, dict):
        raise UnreadableBody("the signed payload (JWT) claims are not an object")
    return claims


class Signing(BaseModel):
    """The signing options of ``mapping.options`` (other options are left to the mapping)."""

    model_config = ConfigDict(extra="ignore")

    jwks_url: str | None = None
    jwks: dict[str, Any] | None = None
    require_signed: bool = False
    jwt_issuer: str | None = Field(default=None, min_length=1, max_length=500)
    jwt_audience: str | None = Field(default=None, min_length=1, max_length=500)
    jwt_leeway_seconds: int = Field(default=60, ge=0, le=600)

    @field_validator("jwks_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and (problem := jwks_cache.url_problem(value)) is not None:
            raise ValueError(problem)
        return value

    @property
    def configured(self) -> bool:
        return self.jwks_url is not None or self.jwks is not None


def signing_of(mapping: ConnectorMapping) -> Signing:
    return Signing.model_validate(mapping.options)


def _key_set(signing: Signing, kid: str | None) -> KeySet:
    if signing.jwks_url is not None:
        return jwks_cache.CACHE.key_set(signing.jwks_url, kid).keys
    usable = [k for k in (signing.jwks or {}).get("keys", []) if isinstance(k, dict)]
    try:
        return KeySet.import_key_set({"keys": usable})
    except (JoseError, ValueError, TypeError):
        return KeySet([])


def jwt_problem(body: bytes, signing: Signing) -> str | None:
    """Why an RS256 JWT does not verify (signature, then claims), or None when it does."""
    try:
        header = jws.extract_compact(body.strip()).headers()
    except (JoseError, ValueError, UnicodeDecodeError, binascii.Error):
        return "the signed payload is not a well-formed JWT"
    if header.get("alg") != "RS256":
        return f"JWT algorithm {header.get('alg')!r} is not RS256"
    kid = header.get("kid")
    keys = _key_set(signing, kid if isinstance(kid, str) else None)
    try:
        token = jwt.decode(body.strip(), keys, algorithms=["RS256"])
    except InvalidKeyIdError:
        return f"no key {kid!r} in the configured JWKS"
    except BadSignatureError:
        return "the JWT signature does not verify"
    except (JoseError, ValueError) as exc:
        return f"the signed payload does not verify: {exc}"
    wanted: dict[str, Any] = {}
    if signing.jwt_issuer is not None:
        wanted["iss"] = {"essential": True, "value": signing.jwt_issuer}
    if signing.jwt_audience is not None:
        wanted["aud"] = {"essential": True, "value": signing.jwt_audience}
    try:
        jwt.JWTClaimsRegistry(leeway=signing.jwt_leeway_seconds, **wanted).validate(token.claims)
    except ExpiredTokenError:
        return "the JWT has expired (exp)"
    except MissingClaimError as exc:
        return f"the JWT lacks a required claim: {exc.description}"
    except InvalidClaimError as exc:
        return f"a JWT claim is refused: {exc.description}"
    except JoseError as exc:
        return f"the JWT claims are refused: {exc}"
    return None


def options_problem(options: dict[str, Any]) -> tuple[str, str] | None:
    """(option, reason) when the signing options cannot work."""
    try:
        Signing.model_validate(options)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        return f"options.{where}", str(first["msg"]).removeprefix("Value error, ")
    return None


class Canvas(Connector):
    name = "canvas"
    title = "Canvas LMS (Live Events)"
    accepts = (QueryToken(), Bearer(), HeaderToken())
    learner_keys = ("user_id", "email", "sis_id")
    course_keys = ("course_id", "sis_source_id")

    def check_body(self, incoming: Incoming, mapping: ConnectorMapping) -> str | None:
        signing = signing_of(mapping)
        if not _is_jwt(incoming.body):
            return (
                "unsigned payload refused: this organization requires signed Live Events"
                if signing.require_signed
                else None
            )
        if not signing.configured:
            return (
                "signed payload refused: no JWKS is configured to verify it"
                if signing.require_signed
                else None
            )
        return jwt_problem(incoming.body, signing)

    def options_problem(self, options: dict[str, Any]) -> tuple[str, str] | None:
        return options_problem(options)

    def parse(self, incoming: Incoming, mapping: ConnectorMapping) -> list[Result]:
        if _is_jwt(incoming.body):
            event: Any = jwt_claims(incoming.body)
        else:
            try:
                event = strict_json.lenient(incoming.body)
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

    def _learner(
        self, event: dict[str, Any], mapping: ConnectorMapping, name: str
    ) -> tuple[str, str | None, str | None]:
        """(source field, learner id, why this event can never carry it) for ``learner_id``.

        Only the body names the learner: ``metadata.user_id`` / ``user_sis_id`` describe the
        user whose action emitted the event (a teacher, an admin), and are absent from events a
        background job emits.
        """
        key = self.learner_key(mapping)
        if name == "course_completed":
            if key == "user_id":
                return "body.user.id", local_id(dig(event, "body.user.id")), None
            if key == "email":
                return "body.user.email", text(dig(event, "body.user.email")), None
            return (
                "body.user",
                None,
                "course_completed carries no SIS id for the learner (body.user has only id, "
                "name and email; metadata.user_sis_id is whoever acted, not the learner): set "
                "mapping.learner_id to user_id or email",
            )
        if key == "user_id":
            return "body.user_id", local_id(dig(event, "body.user_id")), None
        if key == "email":
            instead = "user_id or sis_id" if name == "grade_change" else "user_id"
            return (
                "body.user.email",
                None,
                f"{name} carries no e-mail for the student: set mapping.learner_id to {instead}",
            )
        if name == "course_grade_change":
            return (
                "body.student_sis_id",
                None,
                "course_grade_change carries no SIS id for the student (its body has only "
                "user_id): set mapping.learner_id to user_id",
            )
        return "body.student_sis_id", text(dig(event, "body.student_sis_id")), None

    def _course_completed(self, event: dict[str, Any], mapping: ConnectorMapping) -> Result:
        learner_field, learner, never = self._learner(event, mapping, "course_completed")
        if self.course_key(mapping) == "sis_source_id":
            course_field, course = (
                "body.course.sis_source_id",
                text(dig(event, "body.course.sis_source_id")),
            )
        else:
            course_field, course = "body.course.id", local_id(dig(event, "body.course.id"))
        if not counts(mapping, course):
            return Ignored(0, f"course {course} is not in this organization's course_ids")
        if never is not None:
            return Unmapped(0, learner_field, never)
        completed_at = dig(event, "body.progress.completed_at")
        occurred_at = parse_time(completed_at)
        return build(
            0,
            event_id=derived_id(
                self.name,
                dig(event, "metadata.root_account_uuid"),
                learner,
                course,
                "course_completed",
                occurred_at or completed_at,
            ),
            occurred_at=occurred_at,
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
        learner_field, learner, never = self._learner(event, mapping, "course_grade_change")
        if learner is None:
            return Unmapped(0, learner_field, never or f"{learner_field} is missing")
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
        occurred_at = parse_time(when)
        return build(
            0,
            event_id=derived_id(
                self.name,
                dig(event, "metadata.root_account_uuid"),
                learner,
                course,
                "course_grade_change",
                occurred_at or when,
                raw,
            ),
            occurred_at=occurred_at,
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
        learner_field, learner, never = self._learner(event, mapping, "grade_change")
        if learner is None:
            return Unmapped(0, learner_field, never or f"{learner_field} is missing")
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
        occurred_at = parse_time(when)
        # An assignment grade is progress within a course: recorded, never paid.
        return build(
            0,
            event_id=derived_id(
                self.name,
                dig(event, "metadata.root_account_uuid"),
                learner,
                dig(event, "body.submission_id"),
                "grade_change",
                occurred_at or when,
                dig(event, "body.score"),
            ),
            occurred_at=occurred_at,
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
