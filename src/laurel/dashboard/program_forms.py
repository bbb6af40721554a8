"""The program and rule forms: what they show for a version, and the API body a post becomes.

The bodies are exactly what ``POST/PATCH /api/v1/programs`` and ``/rules`` take, validated by
the same schemas and handed to the same service functions, so a page can do nothing the API
would refuse and a new version applies from its effective time, as through the API.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from laurel.dashboard.forms import Values, items, moment, money
from laurel.kit.money import Money
from laurel.learners.models import Classification
from laurel.programs.models import ProgramVersion, RewardRuleVersion

PROGRAM_MULTI = ("eligibility.classifications",)
RULE_MULTI = ("conditions.course_types", "conditions.outcomes", "conditions.classifications")
FACTORS = ("importance", "time_investment", "behavioural_lift", "segment")


def _local(value: str | datetime | None) -> str:
    """An ISO time as a ``datetime-local`` input shows it (UTC, to the minute)."""
    if not value:
        return ""
    text = value.isoformat() if isinstance(value, datetime) else value
    return text[:16]


def _amount(minor: int | None, currency: str) -> str:
    return "" if minor is None else Money(minor, currency).format_amount()


def program_values(version: ProgramVersion, budget_limit: Money | None) -> Values:
    eligibility = version.eligibility or {}
    values: Values = {
        "name": version.name,
        "active": "on" if version.active else "",
        "currency": version.currency,
        "dedupe_period": version.dedupe_period,
        "delivery": version.delivery,
        "reward_kind": version.reward_kind,
        "provider": version.provider,
        "approval_threshold": _amount(version.approval_threshold_minor, version.currency),
        "holdout_bps": str(version.holdout_bps),
        "budget": budget_limit.format_amount() if budget_limit else "",
        "effective_from": "",
        "eligibility.classifications": list(eligibility.get("classifications") or []),
        "eligibility.departments": ", ".join(eligibility.get("departments") or []),
        "eligibility.countries": ", ".join(eligibility.get("countries") or []),
        "eligibility.starts_at": _local(eligibility.get("starts_at")),
        "eligibility.ends_at": _local(eligibility.get("ends_at")),
        "eligibility.roster_verified": "on" if eligibility.get("roster_verified") else "",
    }
    for name in Classification:
        factor = (version.segment_factors or {}).get(name)
        values[f"segment_factors.{name}"] = "" if factor is None else str(factor)
    return values


def _eligibility(values: Values) -> dict[str, Any]:
    return {
        "classifications": values.get("eligibility.classifications") or [],
        "departments": items(values.get("eligibility.departments")),
        "countries": [c.upper() for c in items(values.get("eligibility.countries"))],
        "starts_at": moment(values.get("eligibility.starts_at")),
        "ends_at": moment(values.get("eligibility.ends_at")),
        "roster_verified": bool(values.get("eligibility.roster_verified")),
    }


def program_body(values: Values, *, creating: bool, currency: str) -> dict[str, Any]:
    """The API body. Creating, an empty field is left out (a template or the default fills
    it); changing, every setting is sent as shown, so clearing a field clears the setting."""
    body: dict[str, Any] = {}
    for name in ("name", "dedupe_period", "delivery", "reward_kind", "provider"):
        if values.get(name) or not creating:
            body[name] = values.get(name) or None
    body["active"] = bool(values.get("active"))
    body["approval_threshold"] = money(values.get("approval_threshold"), currency)
    holdout = values.get("holdout_bps")
    if holdout or not creating:
        body["holdout_bps"] = holdout or 0
    factors = {
        str(name): values[f"segment_factors.{name}"]
        for name in Classification
        if values.get(f"segment_factors.{name}")
    }
    if factors or not creating:
        body["segment_factors"] = factors
    eligibility = _eligibility(values)
    if not creating or any(eligibility.values()):
        body["eligibility"] = eligibility
    budget = money(values.get("budget"), currency)
    if budget is not None:
        body["budget"] = budget
    body["effective_from"] = moment(values.get("effective_from"))
    if creating:
        body["key"] = values.get("key", "")
        body["currency"] = currency
        if values.get("template"):
            body["template"] = values["template"]
        if not body["approval_threshold"]:
            body.pop("approval_threshold")
    return {k: v for k, v in body.items() if v is not None or k == "approval_threshold"}


def rule_values(rule: RewardRuleVersion) -> Values:
    conditions = rule.conditions or {}
    value = rule.value or {}
    values: Values = {
        "name": rule.name,
        "priority": str(rule.priority),
        "enabled": "on" if rule.enabled else "",
        "effective_from": "",
        "conditions.course_ids": ", ".join(conditions.get("course_ids") or []),
        "conditions.course_types": list(conditions.get("course_types") or []),
        "conditions.tags": ", ".join(conditions.get("tags") or []),
        "conditions.outcomes": list(conditions.get("outcomes") or []),
        "conditions.min_score": ""
        if conditions.get("min_score") is None
        else str(conditions["min_score"]),
        "conditions.classifications": list(conditions.get("classifications") or []),
        "conditions.departments": ", ".join(conditions.get("departments") or []),
        "conditions.countries": ", ".join(conditions.get("countries") or []),
        "value.kind": value.get("kind", "fixed"),
        "value.amount": (value.get("amount") or {}).get("amount", ""),
        "value.base": (value.get("base") or {}).get("amount", ""),
        "value.cap": (value.get("cap") or {}).get("amount", ""),
    }
    for factor in FACTORS:
        found = value.get(factor)
        values[f"value.{factor}"] = "" if found is None else str(found)
    return values


def new_rule_values() -> Values:
    return {
        "priority": "100",
        "enabled": "on",
        "value.kind": "fixed",
        "conditions.outcomes": ["completed", "passed"],
    }


def rule_body(values: Values, currency: str) -> dict[str, Any]:
    kind = values.get("value.kind") or "fixed"
    value: dict[str, Any] = {"kind": kind}
    if kind == "fixed":
        value["amount"] = money(values.get("value.amount"), currency)
    else:
        value["base"] = money(values.get("value.base"), currency)
        value["cap"] = money(values.get("value.cap"), currency)
        for factor in FACTORS:
            value[factor] = values.get(f"value.{factor}") or None
    body: dict[str, Any] = {
        "name": values.get("name", ""),
        "priority": values.get("priority") or 100,
        "enabled": bool(values.get("enabled")),
        "conditions": {
            "course_ids": items(values.get("conditions.course_ids")),
            "course_types": values.get("conditions.course_types") or [],
            "tags": items(values.get("conditions.tags")),
            "outcomes": values.get("conditions.outcomes") or [],
            "min_score": values.get("conditions.min_score") or None,
            "classifications": values.get("conditions.classifications") or [],
            "departments": items(values.get("conditions.departments")),
            "countries": [c.upper() for c in items(values.get("conditions.countries"))],
        },
        "value": {k: v for k, v in value.items() if v is not None},
    }
    when = moment(values.get("effective_from"))
    if when:
        body["effective_from"] = when
    return body
