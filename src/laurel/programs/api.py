from __future__ import annotations

import uuid

from fastapi import APIRouter, Request, status

from laurel.budgets.service import BudgetView
from laurel.kit.http import DatabaseDep, LiveAdmin, Reader, errors, read_only, unit_of_work
from laurel.kit.money import Money
from laurel.kit.schemas import MoneyOut
from laurel.organizations import service as organizations
from laurel.programs import schemas, service
from laurel.programs.models import ProgramVersion, RewardRuleVersion

router = APIRouter(prefix="/api/v1", tags=["programs"])


def rule_out(r: RewardRuleVersion) -> schemas.RuleOut:
    return schemas.RuleOut(
        id=r.rule_id,
        program_id=r.program_id,
        version_id=r.id,
        version=r.version,
        effective_from=r.effective_from,
        name=r.name,
        priority=r.priority,
        enabled=r.enabled,
        conditions=schemas.RuleConditions.model_validate(r.conditions),
        value=r.value,
    )


def _providers(request: Request) -> list[str]:
    names: list[str] = request.app.state.worker.providers.names()
    return names


def _money(minor: int | None, code: str) -> MoneyOut | None:
    return None if minor is None else MoneyOut.of(minor, code)


def _budget(view: BudgetView | None) -> schemas.BudgetOut | None:
    if view is None:
        return None
    return schemas.BudgetOut(
        limit=MoneyOut(**view.limit.to_json()),
        reserved=MoneyOut(**view.reserved.to_json()),
        spent=MoneyOut(**view.spent.to_json()),
        available=MoneyOut(**view.available.to_json()),
    )


def program_out(
    view: service.ProgramView, version: ProgramVersion | None = None
) -> schemas.ProgramOut:
    v = version or view.version
    return schemas.ProgramOut(
        id=view.program.id,
        key=view.program.key,
        version_id=v.id,
        version=v.version,
        effective_from=v.effective_from,
        name=v.name,
        template=v.template,
        active=v.active,
        currency=v.currency,
        dedupe_period=v.dedupe_period,
        delivery=v.delivery,
        reward_kind=v.reward_kind,
        provider=v.provider,
        approval_threshold=_money(v.approval_threshold_minor, v.currency),
        approval_expiry_days=v.approval_expiry_days,
        eligibility=schemas.Eligibility.model_validate(v.eligibility),
        segment_factors={k: str(f) for k, f in v.segment_factors.items()},
        holdout_bps=v.holdout_bps,
        budget=_budget(view.budget),
        rules=[rule_out(r) for r in view.rules],
        created_at=view.program.created_at,
    )


@router.get(
    "/program-templates",
    response_model=list[schemas.TemplateOut],
    responses=errors(401, 403),
    summary="The ready-made program types",
)
def list_program_templates(actor: Reader) -> list[schemas.TemplateOut]:
    del actor
    out = []
    for t in service.list_templates():
        code = t.currency or "USD"
        out.append(
            schemas.TemplateOut(
                key=t.key,
                name=t.name,
                description=t.description,
                course_types=list(t.course_types),
                outcomes=[str(o) for o in t.outcomes],
                classifications=list(t.classifications),
                value_range=(
                    MoneyOut(**Money.parse(t.low, code).to_json()),
                    MoneyOut(**Money.parse(t.high, code).to_json()),
                ),
                dedupe_period=t.dedupe_period,
                reward_kind=t.reward_kind,
                delivery=t.delivery,
            )
        )
    return out


@router.get(
    "/programs",
    response_model=list[schemas.ProgramOut],
    responses=errors(401, 403),
    summary="List programs with the version in force and their rules",
)
def list_programs(actor: Reader, db: DatabaseDep) -> list[schemas.ProgramOut]:
    with read_only(db) as session:
        return [program_out(v) for v in service.list_programs(session, actor)]


@router.post(
    "/programs",
    status_code=status.HTTP_201_CREATED,
    response_model=schemas.ProgramOut,
    responses=errors(401, 403, 409, 422),
    summary="Create a program",
)
def create_program(
    body: schemas.ProgramCreate, actor: LiveAdmin, db: DatabaseDep, request: Request
) -> schemas.ProgramOut:
    with unit_of_work(db) as session:
        org = organizations.get(session, actor.organization_id)
        return program_out(
            service.create_program(session, actor, body, org.default_currency, _providers(request))
        )


@router.get(
    "/programs/{program_id}",
    response_model=schemas.ProgramOut,
    responses=errors(401, 403, 404),
    summary="Get a program",
)
def get_program(program_id: uuid.UUID, actor: Reader, db: DatabaseDep) -> schemas.ProgramOut:
    with read_only(db) as session:
        return program_out(service.get(session, actor, program_id))


@router.patch(
    "/programs/{program_id}",
    response_model=schemas.ProgramOut,
    responses=errors(401, 403, 404, 422),
    summary="Change a program: a new version from `effective_from` (default now)",
)
def update_program(
    program_id: uuid.UUID,
    body: schemas.ProgramUpdate,
    actor: LiveAdmin,
    db: DatabaseDep,
    request: Request,
) -> schemas.ProgramOut:
    with unit_of_work(db) as session:
        return program_out(
            service.update_program(session, actor, program_id, body, _providers(request))
        )


@router.delete(
    "/programs/{program_id}",
    response_model=schemas.ProgramOut,
    responses=errors(401, 403, 404),
    summary="Switch a program off from now on (its history stays)",
)
def deactivate_program(
    program_id: uuid.UUID, actor: LiveAdmin, db: DatabaseDep
) -> schemas.ProgramOut:
    with unit_of_work(db) as session:
        return program_out(
            service.update_program(session, actor, program_id, schemas.ProgramUpdate(active=False))
        )


@router.get(
    "/programs/{program_id}/versions",
    response_model=list[schemas.ProgramOut],
    responses=errors(401, 403, 404),
    summary="Every version of a program",
)
def list_program_versions(
    program_id: uuid.UUID, actor: Reader, db: DatabaseDep
) -> list[schemas.ProgramOut]:
    with read_only(db) as session:
        view = service.get(session, actor, program_id)
        return [program_out(view, v) for v in service.list_versions(session, actor, program_id)]


@router.get(
    "/programs/{program_id}/rules",
    response_model=list[schemas.RuleOut],
    responses=errors(401, 403, 404),
    summary="A program's rules in priority order",
)
def list_rules(program_id: uuid.UUID, actor: Reader, db: DatabaseDep) -> list[schemas.RuleOut]:
    with read_only(db) as session:
        return [rule_out(r) for r in service.list_rules(session, actor, program_id)]


@router.post(
    "/programs/{program_id}/rules",
    status_code=status.HTTP_201_CREATED,
    response_model=schemas.RuleOut,
    responses=errors(401, 403, 404, 422),
    summary="Add a rule to a program",
)
def create_rule(
    program_id: uuid.UUID, body: schemas.RuleCreate, actor: LiveAdmin, db: DatabaseDep
) -> schemas.RuleOut:
    with unit_of_work(db) as session:
        return rule_out(service.create_rule(session, actor, program_id, body))


@router.get(
    "/rules/{rule_id}",
    response_model=schemas.RuleOut,
    responses=errors(401, 403, 404),
    summary="Get a rule (the version in force)",
)
def get_rule(rule_id: uuid.UUID, actor: Reader, db: DatabaseDep) -> schemas.RuleOut:
    with read_only(db) as session:
        return rule_out(service.get_rule(session, actor, rule_id))


@router.get(
    "/rules/{rule_id}/versions",
    response_model=list[schemas.RuleOut],
    responses=errors(401, 403, 404),
    summary="Every version of a rule",
)
def list_rule_versions(rule_id: uuid.UUID, actor: Reader, db: DatabaseDep) -> list[schemas.RuleOut]:
    with read_only(db) as session:
        return [rule_out(r) for r in service.rule_history(session, actor, rule_id)]


@router.patch(
    "/rules/{rule_id}",
    response_model=schemas.RuleOut,
    responses=errors(401, 403, 404, 422),
    summary="Change a rule: a new version from `effective_from` (default now)",
)
def update_rule(
    rule_id: uuid.UUID, body: schemas.RuleUpdate, actor: LiveAdmin, db: DatabaseDep
) -> schemas.RuleOut:
    with unit_of_work(db) as session:
        return rule_out(service.update_rule(session, actor, rule_id, body))


@router.delete(
    "/rules/{rule_id}",
    response_model=schemas.RuleOut,
    responses=errors(401, 403, 404),
    summary="Disable a rule from now on",
)
def disable_rule(rule_id: uuid.UUID, actor: LiveAdmin, db: DatabaseDep) -> schemas.RuleOut:
    with unit_of_work(db) as session:
        return rule_out(
            service.update_rule(session, actor, rule_id, schemas.RuleUpdate(enabled=False))
        )
