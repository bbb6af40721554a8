"""Statement validation after the xAPI 1.0.3 data model and ADL's conformance rules.

Each check names the field (``result.score.scaled``) and says why. Validation collects every
problem of a statement rather than stopping at the first, so one round trip fixes a client.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from laurel.kit.clock import as_utc

VOIDED = "http://adlnet.gov/expapi/verbs/voided"

_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
# ISO 8601 date-time as xAPI uses it: a full date and time, an optional fraction and an offset.
# ISO 8601 date and time, extended (2026-03-01T14:05:00) or basic (20260301T140500) form, not
# mixed; the zone is group "zone". xAPI 1.0.3 only says a timestamp SHOULD carry a zone (and
# ADL's conformance requirement XAPI-00123 refuses only what is neither form); 2.0 requires one.
_ZONE = r"(?P<zone>[Zz]|[+-]\d{2}(:?\d{2})?)?"
_TIMESTAMP = re.compile(
    r"^(\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}(:\d{2}([.,]\d+)?)?"
    r"|\d{8}[Tt]\d{4}(\d{2}([.,]\d+)?)?)" + _ZONE + "$"
)
# ISO 8601 duration: PnYnMnDTnHnMnS (each part optional, seconds may carry a fraction) or PnW.
_DURATION = re.compile(
    r"^P(?!$)(\d+(\.\d+)?Y)?(\d+(\.\d+)?M)?(\d+(\.\d+)?W)?(\d+(\.\d+)?D)?"
    r"(T(?=\d)(\d+(\.\d+)?H)?(\d+(\.\d+)?M)?(\d+(\.\d+)?S)?)?$"
)
_FRACTION = re.compile(r"(\.\d{6})\d+")
_IRI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:\S+$")
_SHA1 = re.compile(r"^[0-9a-fA-F]{40}$")
_LANGUAGE = re.compile(r"^[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8})*$")
_VERSION = re.compile(r"^(1\.0|2\.0)(\.\d+)?$")

_STATEMENT_KEYS = frozenset(
    {
        "id",
        "actor",
        "verb",
        "object",
        "result",
        "context",
        "timestamp",
        "stored",
        "authority",
        "version",
        "attachments",
    }
)
_SUBSTATEMENT_KEYS = frozenset(
    {"objectType", "actor", "verb", "object", "result", "context", "timestamp", "attachments"}
)
_AGENT_KEYS = frozenset({"objectType", "name", "mbox", "mbox_sha1sum", "openid", "account"})
_IFIS = ("mbox", "mbox_sha1sum", "openid", "account")
_RESULT_KEYS = frozenset({"score", "success", "completion", "response", "duration", "extensions"})
_SCORE_KEYS = frozenset({"scaled", "raw", "min", "max"})
_CONTEXT_KEYS = frozenset(
    {
        "registration",
        "instructor",
        "team",
        "contextActivities",
        "revision",
        "platform",
        "language",
        "statement",
        "extensions",
        "contextAgents",
        "contextGroups",
    }
)
_CONTEXT_ACTIVITY_KEYS = frozenset({"parent", "grouping", "category", "other"})
_ACTIVITY_KEYS = frozenset({"objectType", "id", "definition"})
_DEFINITION_KEYS = frozenset(
    {
        "name",
        "description",
        "type",
        "moreInfo",
        "extensions",
        "interactionType",
        "correctResponsesPattern",
        "choices",
        "scale",
        "source",
        "target",
        "steps",
    }
)
_SHA2 = re.compile(r"^(?:[0-9a-fA-F]{56}|[0-9a-fA-F]{64}|[0-9a-fA-F]{96}|[0-9a-fA-F]{128})$")
_ATTACHMENT_KEYS = frozenset(
    {"usageType", "display", "description", "contentType", "length", "sha2", "fileUrl"}
)


@dataclass(frozen=True, slots=True)
class Problem:
    field: str
    message: str

    def to_json(self, index: int | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {"field": self.field, "message": self.message}
        if index is not None:
            out["statement"] = index
        return out


class _Checker:
    def __init__(self, *, zone_required: bool) -> None:
        self.problems: list[Problem] = []
        self.zone_required = zone_required

    def fail(self, field: str, message: str) -> None:
        self.problems.append(Problem(field, message))

    # ------------------------------------------------------------------ primitives

    def obj(self, value: Any, field: str) -> bool:
        if not isinstance(value, dict):
            self.fail(field, "must be a JSON object")
            return False
        return True

    def keys(self, value: dict[str, Any], allowed: frozenset[str], field: str) -> None:
        for key in sorted(set(value) - allowed):
            self.fail(_join(field, key), "is not a property xAPI allows here")

    def string(self, value: Any, field: str) -> bool:
        if not isinstance(value, str):
            self.fail(field, "must be a string")
            return False
        return True

    def boolean(self, value: Any, field: str) -> None:
        if not isinstance(value, bool):
            self.fail(field, "must be true or false")

    def number(self, value: Any, field: str) -> bool:
        # JSON true/false are ints to Python; xAPI numbers are never booleans.
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.fail(field, "must be a number")
            return False
        return True

    def iri(self, value: Any, field: str) -> None:
        if self.string(value, field) and not _IRI.match(value):
            self.fail(field, "must be an absolute IRI (scheme:…)")

    def uuid(self, value: Any, field: str) -> None:
        if self.string(value, field) and not _UUID.match(value):
            self.fail(field, "must be a UUID in its standard string form (8-4-4-4-12 hex digits)")

    def timestamp(self, value: Any, field: str) -> None:
        if not self.string(value, field):
            return
        found = _TIMESTAMP.match(value)
        if not found:
            self.fail(field, "must be an ISO 8601 date and time (extended or basic form)")
        elif self.zone_required and not found.group("zone"):
            self.fail(field, "must carry a timezone offset (xAPI 2.0): add Z or +hh:mm")
        elif value.endswith("-00:00") or value.endswith("-0000") or value.endswith("-00"):
            # RFC 3339 reserves -00:00 for "offset unknown"; xAPI forbids it.
            self.fail(field, "the offset -00:00 is not allowed; use Z or +00:00")
        else:
            try:
                parse_timestamp(value)
            except ValueError as exc:
                self.fail(field, f"is not a valid date and time: {exc}")

    def language_map(self, value: Any, field: str) -> None:
        if not self.obj(value, field):
            return
        for tag, text in value.items():
            if not _LANGUAGE.match(tag):
                self.fail(_join(field, tag), "is not a language tag (RFC 5646)")
            self.string(text, _join(field, tag))

    def extensions(self, value: Any, field: str) -> None:
        if not self.obj(value, field):
            return
        for key in value:
            if not _IRI.match(key):
                self.fail(_join(field, key), "extension keys must be absolute IRIs")

    # ------------------------------------------------------------------ parts

    def agent(self, value: Any, field: str, *, group_allowed: bool = True) -> None:
        if not self.obj(value, field):
            return
        kind = value.get("objectType", "Agent")
        if kind == "Group" and group_allowed:
            self.group(value, field)
            return
        if kind != "Agent":
            allowed = "Agent or Group" if group_allowed else "Agent"
            self.fail(_join(field, "objectType"), f"must be {allowed}")
            return
        self.keys(value, _AGENT_KEYS, field)
        ifis = [k for k in _IFIS if k in value]
        if len(ifis) != 1:
            self.fail(
                field,
                "an Agent needs exactly one identifier: mbox, mbox_sha1sum, openid or account"
                + (f" (got {', '.join(ifis)})" if ifis else ""),
            )
        self.ifis(value, field)
        if "name" in value:
            self.string(value["name"], _join(field, "name"))

    def group(self, value: dict[str, Any], field: str) -> None:
        self.keys(value, _AGENT_KEYS | {"member"}, field)
        ifis = [k for k in _IFIS if k in value]
        if len(ifis) > 1:
            self.fail(field, f"a Group has at most one identifier (got {', '.join(ifis)})")
        self.ifis(value, field)
        members = value.get("member")
        if not ifis and members is None:
            self.fail(_join(field, "member"), "an anonymous Group must list its members")
        if members is not None:
            if not isinstance(members, list):
                self.fail(_join(field, "member"), "must be an array of Agents")
            else:
                for i, member in enumerate(members):
                    self.agent(member, f"{_join(field, 'member')}[{i}]", group_allowed=False)

    def ifis(self, value: dict[str, Any], field: str) -> None:
        if "mbox" in value and self.string(value["mbox"], _join(field, "mbox")):
            mbox = value["mbox"]
            if not mbox.startswith("mailto:") or "@" not in mbox:
                self.fail(_join(field, "mbox"), "must be a mailto: IRI with an email address")
        if (
            "mbox_sha1sum" in value
            and self.string(value["mbox_sha1sum"], _join(field, "mbox_sha1sum"))
            and not _SHA1.match(value["mbox_sha1sum"])
        ):
            self.fail(_join(field, "mbox_sha1sum"), "must be 40 hexadecimal digits (SHA-1)")
        if "openid" in value:
            self.iri(value["openid"], _join(field, "openid"))
        if "account" in value:
            account = value["account"]
            where = _join(field, "account")
            if self.obj(account, where):
                self.keys(account, frozenset({"homePage", "name"}), where)
                if "homePage" not in account:
                    self.fail(_join(where, "homePage"), "is required")
                else:
                    self.iri(account["homePage"], _join(where, "homePage"))
                if "name" not in account:
                    self.fail(_join(where, "name"), "is required")
                else:
                    self.string(account["name"], _join(where, "name"))

    def verb(self, value: Any, field: str) -> None:
        if not self.obj(value, field):
            return
        self.keys(value, frozenset({"id", "display"}), field)
        if "id" not in value:
            self.fail(_join(field, "id"), "is required")
        else:
            self.iri(value["id"], _join(field, "id"))
        if "display" in value:
            self.language_map(value["display"], _join(field, "display"))

    def activity(self, value: Any, field: str) -> None:
        if not self.obj(value, field):
            return
        self.keys(value, _ACTIVITY_KEYS, field)
        if value.get("objectType", "Activity") != "Activity":
            self.fail(_join(field, "objectType"), "must be Activity")
        if "id" not in value:
            self.fail(_join(field, "id"), "is required")
        else:
            self.iri(value["id"], _join(field, "id"))
        definition = value.get("definition")
        if definition is None:
            return
        where = _join(field, "definition")
        if not self.obj(definition, where):
            return
        self.keys(definition, _DEFINITION_KEYS, where)
        for key in ("name", "description"):
            if key in definition:
                self.language_map(definition[key], _join(where, key))
        for key in ("type", "moreInfo"):
            if key in definition:
                self.iri(definition[key], _join(where, key))
        if "extensions" in definition:
            self.extensions(definition["extensions"], _join(where, "extensions"))

    def statement_ref(self, value: dict[str, Any], field: str) -> None:
        self.keys(value, frozenset({"objectType", "id"}), field)
        if "id" not in value:
            self.fail(_join(field, "id"), "is required")
        else:
            self.uuid(value["id"], _join(field, "id"))

    def object(self, value: Any, field: str, *, inside_substatement: bool) -> None:
        if not self.obj(value, field):
            return
        kind = value.get("objectType", "Activity")
        if kind == "Activity":
            self.activity(value, field)
        elif kind in ("Agent", "Group"):  # a tuple: a list or object sent here is not hashable
            self.agent(value, field)
        elif kind == "StatementRef":
            self.statement_ref(value, field)
        elif kind == "SubStatement":
            if inside_substatement:
                self.fail(_join(field, "objectType"), "a SubStatement cannot contain another")
                return
            self.keys(value, _SUBSTATEMENT_KEYS, field)
            self.body(value, field, substatement=True)
        else:
            self.fail(
                _join(field, "objectType"),
                "must be Activity, Agent, Group, StatementRef or SubStatement",
            )

    def result(self, value: Any, field: str) -> None:
        if not self.obj(value, field):
            return
        self.keys(value, _RESULT_KEYS, field)
        for key in ("success", "completion"):
            if key in value:
                self.boolean(value[key], _join(field, key))
        if "response" in value:
            self.string(value["response"], _join(field, "response"))
        if (
            "duration" in value
            and self.string(value["duration"], _join(field, "duration"))
            and not _DURATION.match(value["duration"])
        ):
            self.fail(_join(field, "duration"), "must be an ISO 8601 duration such as PT20M34S")
        if "extensions" in value:
            self.extensions(value["extensions"], _join(field, "extensions"))
        if "score" in value:
            self.score(value["score"], _join(field, "score"))

    def score(self, value: Any, field: str) -> None:
        if not self.obj(value, field):
            return
        self.keys(value, _SCORE_KEYS, field)
        numbers = {k: value[k] for k in _SCORE_KEYS if k in value}
        valid = {k: v for k, v in numbers.items() if self.number(v, _join(field, k))}
        scaled = valid.get("scaled")
        if scaled is not None and not -1 <= scaled <= 1:
            self.fail(_join(field, "scaled"), f"must be between -1 and 1 (got {scaled})")
        low, high, raw = valid.get("min"), valid.get("max"), valid.get("raw")
        if low is not None and high is not None and low >= high:
            self.fail(_join(field, "min"), f"must be less than max ({low} >= {high})")
        if raw is not None and low is not None and raw < low:
            self.fail(_join(field, "raw"), f"must not be below min ({raw} < {low})")
        if raw is not None and high is not None and raw > high:
            self.fail(_join(field, "raw"), f"must not be above max ({raw} > {high})")

    def context(self, value: Any, field: str) -> None:
        if not self.obj(value, field):
            return
        self.keys(value, _CONTEXT_KEYS, field)
        if "registration" in value:
            self.uuid(value["registration"], _join(field, "registration"))
        if "instructor" in value:
            self.agent(value["instructor"], _join(field, "instructor"))
        if "team" in value:
            team = value["team"]
            where = _join(field, "team")
            if self.obj(team, where):
                if team.get("objectType") != "Group":
                    self.fail(_join(where, "objectType"), "a team must be a Group")
                else:
                    self.group(team, where)
        for key in ("revision", "platform", "language"):
            if key in value:
                self.string(value[key], _join(field, key))
        if "statement" in value:
            ref = value["statement"]
            where = _join(field, "statement")
            if self.obj(ref, where):
                if ref.get("objectType") != "StatementRef":
                    self.fail(_join(where, "objectType"), "must be StatementRef")
                self.statement_ref(ref, where)
        if "extensions" in value:
            self.extensions(value["extensions"], _join(field, "extensions"))
        activities = value.get("contextActivities")
        if activities is not None:
            where = _join(field, "contextActivities")
            if self.obj(activities, where):
                self.keys(activities, _CONTEXT_ACTIVITY_KEYS, where)
                for key in _CONTEXT_ACTIVITY_KEYS & set(activities):
                    items = activities[key]
                    # 0.95 clients send one activity instead of an array; 1.0 allows it.
                    for i, item in enumerate(items if isinstance(items, list) else [items]):
                        self.activity(item, f"{_join(where, key)}[{i}]")

    def attachments(self, value: Any, field: str) -> None:
        if not isinstance(value, list):
            self.fail(field, "must be an array")
            return
        for i, item in enumerate(value):
            where = f"{field}[{i}]"
            if not self.obj(item, where):
                continue
            self.keys(item, _ATTACHMENT_KEYS, where)
            for key in ("usageType", "display", "contentType", "length", "sha2"):
                if key not in item:
                    self.fail(_join(where, key), "is required")
            self.attachment_values(item, where)

    def attachment_values(self, item: dict[str, Any], where: str) -> None:
        if "usageType" in item:
            self.iri(item["usageType"], _join(where, "usageType"))
        for key in ("display", "description"):
            if key in item:
                self.language_map(item[key], _join(where, key))
        if "contentType" in item:
            field = _join(where, "contentType")
            if self.string(item["contentType"], field) and "/" not in item["contentType"]:
                self.fail(field, "must be an Internet media type (type/subtype)")
        if "length" in item:
            length = item["length"]
            if isinstance(length, bool) or not isinstance(length, int) or length < 0:
                self.fail(_join(where, "length"), "must be a whole number of octets (0 or more)")
        if "sha2" in item:
            field = _join(where, "sha2")
            if self.string(item["sha2"], field) and not _SHA2.match(item["sha2"]):
                self.fail(field, "must be a SHA-2 hash in hexadecimal (SHA-224 to SHA-512)")
        if "fileUrl" in item:
            self.iri(item["fileUrl"], _join(where, "fileUrl"))

    def body(self, value: dict[str, Any], field: str, *, substatement: bool) -> None:
        for key in ("actor", "verb", "object"):
            if key not in value:
                self.fail(_join(field, key), "is required")
        if "actor" in value:
            self.agent(value["actor"], _join(field, "actor"))
        if "verb" in value:
            self.verb(value["verb"], _join(field, "verb"))
        if "object" in value:
            self.object(value["object"], _join(field, "object"), inside_substatement=substatement)
        if "result" in value:
            self.result(value["result"], _join(field, "result"))
        if "context" in value:
            self.context(value["context"], _join(field, "context"))
        if "timestamp" in value:
            self.timestamp(value["timestamp"], _join(field, "timestamp"))
        if "attachments" in value:
            self.attachments(value["attachments"], _join(field, "attachments"))


def parse_timestamp(value: str) -> datetime:
    """ISO 8601 as xAPI sends it, always aware: a time without a zone (allowed by 1.0.3) is
    read as UTC. Fractions beyond microseconds are dropped."""
    moment = datetime.fromisoformat(_FRACTION.sub(r"\1", value.upper().replace(",", ".")))
    moment = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    as_utc(moment)  # OutOfRange (a ValueError) when there is no such time in UTC
    return moment


def _join(field: str, key: str) -> str:
    return f"{field}.{key}" if field else key


def check_statement(value: Any, *, version: str = "1.0.3") -> list[Problem]:
    """Every problem with one statement sent under ``version`` (the request's
    X-Experience-API-Version); an empty list means it is valid. The rules of 2.0 apply when
    either the request or the statement's own ``version`` says 2.0."""
    if not isinstance(value, dict):
        checker = _Checker(zone_required=False)
        checker.obj(value, "(statement)")
        return checker.problems
    declared = value.get("version")
    two = version.startswith("2") or (isinstance(declared, str) and declared.startswith("2"))
    checker = _Checker(zone_required=two)
    checker.keys(value, _STATEMENT_KEYS, "")
    if "id" in value:
        checker.uuid(value["id"], "id")
    checker.body(value, "", substatement=False)
    if "stored" in value:
        checker.timestamp(value["stored"], "stored")
    if "authority" in value:
        checker.agent(value["authority"], "authority")
    if (
        "version" in value
        and checker.string(value["version"], "version")
        and not _VERSION.match(value["version"])
    ):
        checker.fail("version", "must be 1.0.x or 2.0.x")
    verb = value.get("verb")
    target = value.get("object")
    if (
        isinstance(verb, dict)
        and verb.get("id") == VOIDED
        and not (isinstance(target, dict) and target.get("objectType") == "StatementRef")
    ):
        checker.fail("object.objectType", "a voiding statement's object must be a StatementRef")
    return checker.problems


def is_voiding(statement: dict[str, Any]) -> bool:
    verb = statement.get("verb")
    return isinstance(verb, dict) and verb.get("id") == VOIDED
