"""The tax gate (order 200): decides each reward's tax treatment, records it, asks for the
learner's form when needed and holds what must not be paid without one.

- Wages (employees, by default) pass: they go through payroll.
- Contractors and channel partners without a W-9 (W-8BEN if non-US) are held
  (``tax_form_required``) from their first reward, and asked for the form.
- Anyone else without the form passes until the reward would take their year total (USD,
  per form type, paid plus committed) to the threshold or over it; that reward is held, or,
  when the organization's policy is ``backup_withholding``, passed with 24 % flagged.
- Reaching the request amount (default $500) sends a form request (at most one open per
  learner).
- No exchange rate for the reward's currency: held ``fx_rate_unavailable`` when the amount
  matters (a learner without the form); otherwise passed, the USD amount left to delivery.
- Points pass without a record: they are income when redeemed (the points domain records the
  redemption through ``records.record_points_redemption``).

Idempotent: a re-run rewrites the reward's own record (still ``gated``) and counts every
other payment, never this one twice. Set-based: one read each for settings, learners, forms,
records, totals and open requests per batch; learners who could be held are locked first on
PostgreSQL (advisory locks, in one statement), so two transactions cannot both pass rewards
that together cross a threshold.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session
from sqlalchemy.types import BigInteger

from laurel.kit import currency
from laurel.kit.clock import utcnow
from laurel.kit.money import Money
from laurel.rewards import gates
from laurel.rewards.gates import GateResult, Verdict, register
from laurel.rewards.models import Reward
from laurel.tax import aggregation, forms, payer, rates, records, requests, thresholds, treatment
from laurel.tax.models import RecordStatus, TaxForm

TAX_FORM_REQUIRED = forms.TAX_FORM_REQUIRED
FX_RATE_UNAVAILABLE = "fx_rate_unavailable"
GATE_ACTOR = "gate:tax"

_LOCKS = text(
    "SELECT count(pg_advisory_xact_lock(k)) FROM (SELECT unnest(:keys) AS k ORDER BY 1) AS s"
).bindparams(bindparam("keys", type_=ARRAY(BigInteger())))


def _lock_key(organization_id: uuid.UUID, learner_id: uuid.UUID) -> int:
    digest = hashlib.sha256(b"laurel/tax/" + organization_id.bytes + learner_id.bytes).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _usd(minor: int) -> str:
    return f"${Money(minor, 'USD').as_decimal():,.2f}"


class TaxGate:
    name = "tax"
    order = 200
    commits_money = False

    def check(self, session: Session, reward: Reward) -> GateResult:
        return self.check_many(session, [reward])[0]

    def check_many(self, session: Session, rewards: Sequence[Reward]) -> list[GateResult]:
        results: dict[uuid.UUID, GateResult] = {}
        groups: dict[tuple[uuid.UUID, bool], list[Reward]] = {}
        for reward in rewards:
            groups.setdefault((reward.organization_id, reward.livemode), []).append(reward)
        for (organization_id, livemode), items in groups.items():
            results.update(_judge_group(session, organization_id, livemode, items))
        return [results[r.id] for r in rewards]


def _judge_group(  # noqa: PLR0915 - one ordered pass: running totals must see every earlier reward
    session: Session, organization_id: uuid.UUID, livemode: bool, items: list[Reward]
) -> dict[uuid.UUID, GateResult]:
    policy = payer.policy(session, organization_id)
    today = aggregation.payment_date(utcnow(), policy.timezone)
    year = today.year
    learner_ids = {r.learner_id for r in items}
    people = records.learners_of(session, organization_id, learner_ids)
    on_file = forms.facts_for(session, organization_id, livemode, learner_ids)
    fresh = gates.new_rewards(session)
    known = records.existing(session, organization_id, [r.id for r in items if r.id not in fresh])

    decided: list[tuple[Reward, str, treatment.Decision]] = []
    needy: set[uuid.UUID] = set()
    for reward in items:
        person = people.get(reward.learner_id)
        classification = person.classification if person else "employee"
        facts = on_file.get(reward.learner_id)
        decision = treatment.decide(
            classification=classification,
            country=person.country if person else None,
            form_on_file=facts.form if facts else None,
            employee_treatment=policy.employee_treatment,
            program_income=policy.program_income.get(str(reward.program_id)),
        )
        decided.append((reward, classification, decision))
        if (
            decision.reportable
            and reward.currency != currency.POINTS
            and not _has_form(facts, decision)
        ):
            needy.add(reward.learner_id)

    if needy and session.get_bind().dialect.name == "postgresql":
        keys = sorted({_lock_key(organization_id, lid) for lid in needy})
        session.execute(_LOCKS, {"keys": keys})
    base = aggregation.committed(session, organization_id, livemode, needy, {year})
    limits = thresholds.for_years(session, organization_id, {year})
    open_requests = requests.open_for(session, organization_id, livemode, needy)
    conversions: dict[tuple[str, int], rates.Usd] = {}

    running: dict[aggregation.Key, int] = {}
    asked: set[uuid.UUID] = set()
    rows: list[dict[str, Any]] = []
    out: dict[uuid.UUID, GateResult] = {}

    def ask(reward: Reward, decision: treatment.Decision, reason: str) -> None:
        if reward.learner_id in asked or decision.needed_form is None:
            return
        asked.add(reward.learner_id)
        person = people.get(reward.learner_id)
        requests.issue(
            session,
            organization_id=organization_id,
            livemode=livemode,
            learner_id=reward.learner_id,
            form=decision.needed_form.value,
            reason=reason,
            locale=person.locale if person else None,
            email=person.email if person else None,
            actor=GATE_ACTOR,
            current=open_requests.get(reward.learner_id),
        )

    for reward, classification, decision in decided:
        if reward.currency == currency.POINTS:
            # Points are income when redeemed (records.record_points_redemption), not earned.
            out[reward.id] = GateResult.ok()
            continue
        amount = Money(reward.amount_minor, reward.currency)
        try:
            usd = conversions.get((amount.currency, amount.minor))
            if usd is None:
                usd = rates.to_usd(session, organization_id, amount, today)
                conversions[(amount.currency, amount.minor)] = usd
        except rates.RateUnavailable as exc:
            if reward.learner_id in needy:
                out[reward.id] = GateResult(Verdict.hold, FX_RATE_UNAVAILABLE, str(exc.detail))
                continue
            # Nothing here depends on the amount (wages, or a form on file): pass, and let
            # delivery convert at the rate of the payment date.
            usd = rates.Usd(0, "", None)
        backup = False
        verdict: GateResult = GateResult.ok()
        facts = on_file.get(reward.learner_id)
        if decision.reportable and not _has_form(facts, decision):
            key = (reward.learner_id, year, decision.form_type.value)
            total = base.get(key, 0) + running.get(key, 0) + usd.minor
            limit = limits[year].amount_minor
            form = decision.needed_form.value if decision.needed_form else "form"
            if decision.form_before_first:
                verdict = GateResult(
                    Verdict.hold,
                    TAX_FORM_REQUIRED,
                    f"{classification.replace('_', ' ')}s need a {form} on file before "
                    "their first reward; a form request was sent",
                )
                ask(reward, decision, "first_reward")
            elif total >= limit:
                if policy.missing_tin_policy == "backup_withholding" and (
                    decision.needed_form is TaxForm.w9
                ):
                    backup = True
                else:
                    verdict = GateResult(
                        Verdict.hold,
                        TAX_FORM_REQUIRED,
                        f"this reward takes the learner's {year} {decision.form_type.value} "
                        f"total to {_usd(total)}, at or over the {_usd(limit)} threshold, "
                        f"and no {form} is on file; a form request was sent",
                    )
                ask(reward, decision, "threshold")
            elif total >= policy.request_at_minor:
                ask(reward, decision, "threshold")
            if verdict.verdict is Verdict.passed:
                running[key] = running.get(key, 0) + usd.minor
        out[reward.id] = verdict
        if verdict.verdict is Verdict.passed:
            rows.append(
                records.row_for(
                    organization_id=organization_id,
                    livemode=livemode,
                    source=records.REWARD,
                    source_id=str(reward.id),
                    reward_id=reward.id,
                    learner_id=reward.learner_id,
                    program_id=reward.program_id,
                    classification=classification,
                    decision=decision,
                    amount=amount,
                    usd=usd,
                    paid_on=today,
                    status=RecordStatus.gated,
                    backup=backup,
                )
            )
    records.write(session, rows, known)
    return out


def _has_form(facts: forms.Facts | None, decision: treatment.Decision) -> bool:
    if facts is None or decision.needed_form is None:
        return decision.needed_form is None
    if facts.form != decision.needed_form:
        return False
    # A W-9 always carries a TIN; a W-8BEN is complete without a US TIN.
    return facts.has_tin or facts.form == TaxForm.w8ben


register(TaxGate())
