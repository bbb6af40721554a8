"""HTTP for points: wallets, history, grants, policies, badges, leaderboards, marketplace.

Every route is scoped to the API key's organization and mode. Learner-facing reads take the
learner's id until learner sign-in exists (the governance work maps them to the learner role).
"""

from __future__ import annotations

import uuid
from typing import Annotated

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import APIRouter, Query, Request

from laurel.db import Database
from laurel.kit.actor import Actor
from laurel.kit.http import (
    Admin,
    Cursor,
    DatabaseDep,
    Limit,
    LiveAdmin,
    Reader,
    errors,
    read_only,
    unit_of_work,
)
from laurel.kit.schemas import PageOut
from laurel.learners import service as learners
from laurel.organizations import service as organizations
from laurel.points import (
    badges,
    earning,
    expiry,
    grants,
    leaderboards,
    ledger,
    marketplace,
    openbadges,
    setup,
)
from laurel.points.leaderboards import BoardScope
from laurel.points.models import GrantState
from laurel.points.schemas import (
    AwardOut,
    BadgeIn,
    BadgeOut,
    BoardOut,
    CredentialOut,
    EvaluateIn,
    ExpiryRunOut,
    GrantIn,
    GrantOut,
    LotOut,
    OfferIn,
    OfferOut,
    PolicyIn,
    PolicyOut,
    PreferenceIn,
    PreferenceOut,
    ReconcileOut,
    RedeemIn,
    RedemptionOut,
    RejectIn,
    ReverseIn,
    SettingsIn,
    SettingsOut,
    TransactionOut,
    WalletOut,
)

router = APIRouter(prefix="/api/v1/points", tags=["points"])


def _scope(actor: Actor) -> ledger.Scope:
    return ledger.Scope(actor.organization_id, actor.livemode)


def wallet_of(db: Database, actor: Actor, learner_id: uuid.UUID) -> WalletOut:
    with read_only(db) as session:
        learners.get(session, actor, learner_id)
        sc = _scope(actor)
        return WalletOut(
            learner_id=learner_id,
            balance=ledger.balance(session, sc, learner_id),
            expiring=[
                LotOut(points=p, expires_at=e) for p, e in ledger.expiring(session, sc, learner_id)
            ],
            badges=len(badges.awards_of(session, sc, learner_id)),
        )


@router.get(
    "/learners/{learner_id}/wallet",
    response_model=WalletOut,
    responses=errors(401, 403, 404),
    summary="A learner's points balance and the points that expire soonest",
)
def get_wallet(learner_id: uuid.UUID, actor: Reader, db: DatabaseDep) -> WalletOut:
    return wallet_of(db, actor, learner_id)


@router.get(
    "/learners/{learner_id}/transactions",
    response_model=PageOut[TransactionOut],
    responses=errors(401, 403, 404, 422),
    summary="A learner's points history, newest first",
)
def list_transactions(
    learner_id: uuid.UUID, actor: Reader, db: DatabaseDep, limit: Limit = 50, cursor: Cursor = None
) -> PageOut[TransactionOut]:
    with read_only(db) as session:
        learners.get(session, actor, learner_id)
        page = ledger.history(session, _scope(actor), learner_id, limit=limit, cursor=cursor)
        return PageOut[TransactionOut](
            data=[TransactionOut.of(t) for t in page.items],
            next_cursor=str(page.next_cursor) if page.next_cursor else None,
        )


@router.post(
    "/transactions/{transaction_id}/reverse",
    response_model=TransactionOut,
    status_code=201,
    responses=errors(401, 403, 404, 409, 422),
    summary="Correct a movement with a new one that moves it back (idempotent)",
)
def reverse_transaction(
    transaction_id: uuid.UUID, body: ReverseIn, actor: Admin, db: DatabaseDep
) -> TransactionOut:
    with unit_of_work(db) as session:
        posting = ledger.reverse(
            session, _scope(actor), transaction_id, actor=actor.name, reason=body.reason
        )
        return TransactionOut.of(posting.transaction)


@router.post(
    "/grants",
    response_model=GrantOut,
    status_code=201,
    responses=errors(401, 403, 404, 409, 422),
    summary="Grant points for an activity without an LMS event (held above the threshold)",
)
def create_grant(body: GrantIn, actor: Admin, db: DatabaseDep) -> GrantOut:
    with unit_of_work(db) as session:
        grant = grants.request_grant(
            session,
            actor,
            learner_id=body.learner_id,
            points=body.points,
            reason=body.reason,
            activity=body.activity,
            program_id=body.program_id,
            request_key=body.request_key,
        )
        return GrantOut.of(grant)


@router.get(
    "/grants",
    response_model=list[GrantOut],
    responses=errors(401, 403, 422),
    summary="Grants, newest first (up to 500)",
)
def list_grants(actor: Admin, db: DatabaseDep, state: GrantState | None = None) -> list[GrantOut]:
    with read_only(db) as session:
        return [GrantOut.of(g) for g in grants.list_grants(session, actor, state)]


@router.post(
    "/grants/{grant_id}/approve",
    response_model=GrantOut,
    responses=errors(401, 403, 404, 409),
    summary="Approve a held grant (not by the admin who asked for it)",
)
def approve_grant(grant_id: uuid.UUID, actor: Admin, db: DatabaseDep) -> GrantOut:
    with unit_of_work(db) as session:
        return GrantOut.of(grants.approve(session, actor, grant_id))


@router.post(
    "/grants/{grant_id}/reject",
    response_model=GrantOut,
    responses=errors(401, 403, 404, 409, 422),
    summary="Reject a held grant",
)
def reject_grant(grant_id: uuid.UUID, body: RejectIn, actor: Admin, db: DatabaseDep) -> GrantOut:
    with unit_of_work(db) as session:
        return GrantOut.of(grants.reject(session, actor, grant_id, body.reason))


@router.put(
    "/programs/{program_id}/policy",
    response_model=PolicyOut,
    responses=errors(401, 403, 404, 422),
    summary="Set a points program's multipliers, caps, streak bonus and expiry",
)
def put_policy(
    program_id: uuid.UUID, body: PolicyIn, actor: LiveAdmin, db: DatabaseDep
) -> PolicyOut:
    with unit_of_work(db) as session:
        return PolicyOut.of(earning.set_policy(session, actor, program_id, body.to_fields()))


@router.get(
    "/programs/{program_id}/policy",
    response_model=PolicyOut,
    responses=errors(401, 403, 404),
    summary="A points program's policy",
)
def get_policy(program_id: uuid.UUID, actor: Reader, db: DatabaseDep) -> PolicyOut:
    with read_only(db) as session:
        policy = earning.get_policy(session, actor.organization_id, program_id)
        if policy is None:
            raise earning.PolicyNotFound(f"program {program_id} has no points policy")
        return PolicyOut.of(policy)


@router.get(
    "/settings", response_model=SettingsOut, responses=errors(401, 403), summary="Points settings"
)
def get_settings(actor: Reader, db: DatabaseDep) -> SettingsOut:
    with read_only(db) as session:
        return SettingsOut.of(setup.get(session, actor.organization_id))


@router.patch(
    "/settings",
    response_model=SettingsOut,
    responses=errors(401, 403, 404, 422),
    summary="Change the marketplace rate and program, grant approvals, privacy countries",
)
def patch_settings(body: SettingsIn, actor: LiveAdmin, db: DatabaseDep) -> SettingsOut:
    with unit_of_work(db) as session:
        changes = body.model_dump(exclude_unset=True)
        if "private_countries" in changes:
            changes["private_countries"] = [c.upper() for c in changes["private_countries"] or []]
        return SettingsOut.of(setup.update(session, actor, changes))


@router.post(
    "/badges",
    response_model=BadgeOut,
    status_code=201,
    responses=errors(401, 403, 409, 422),
    summary="Define a badge and its criteria",
)
def create_badge(body: BadgeIn, actor: LiveAdmin, db: DatabaseDep) -> BadgeOut:
    with unit_of_work(db) as session:
        badge = badges.create_badge(
            session,
            actor,
            key=body.key,
            name=body.name,
            description=body.description,
            criteria=body.criteria,
            image_url=body.image_url,
        )
        return BadgeOut.of(badge)


@router.get("/badges", response_model=list[BadgeOut], responses=errors(401, 403), summary="Badges")
def list_badges(actor: Reader, db: DatabaseDep) -> list[BadgeOut]:
    with read_only(db) as session:
        return [BadgeOut.of(b) for b in badges.list_badges(session, actor.organization_id)]


@router.post(
    "/badges/evaluate",
    response_model=list[AwardOut],
    responses=errors(401, 403, 422),
    summary="Award the badges these learners now meet (also done on every points credit)",
)
def evaluate_badges(body: EvaluateIn, actor: Admin, db: DatabaseDep) -> list[AwardOut]:
    with unit_of_work(db) as session:
        new = badges.evaluate(session, _scope(actor), body.learner_ids, actor=actor.name)
        known = {b.id: b for b in badges.list_badges(session, actor.organization_id)}
        return [AwardOut.of(a, known[a.badge_id]) for a in new]


@router.get(
    "/learners/{learner_id}/badges",
    response_model=list[AwardOut],
    responses=errors(401, 403, 404),
    summary="A learner's badges, newest first",
)
def list_learner_badges(learner_id: uuid.UUID, actor: Reader, db: DatabaseDep) -> list[AwardOut]:
    with read_only(db) as session:
        learners.get(session, actor, learner_id)
        return [AwardOut.of(a, b) for a, b in badges.awards_of(session, _scope(actor), learner_id)]


def _issuer(
    request: Request, organization_id: uuid.UUID, name: str
) -> tuple[openbadges.Issuer, str]:
    configured = request.app.state.settings.points_issuer_url
    base = (configured or str(request.base_url)).rstrip("/")
    issuer = openbadges.Issuer(id=f"{base}/api/v1/points/issuers/{organization_id}", name=name)
    return issuer, base


def _signing_key(request: Request) -> Ed25519PrivateKey:
    settings = request.app.state.settings
    return openbadges.load_key(settings.points_badge_signing_key, settings.secret_key)


@router.get(
    "/awards/{award_id}/credential",
    response_model=CredentialOut,
    responses=errors(401, 403, 404),
    summary="A badge award as a signed Open Badges 3.0 credential (VC-JWT, EdDSA)",
)
def get_credential(
    award_id: uuid.UUID, request: Request, actor: Reader, db: DatabaseDep
) -> CredentialOut:
    with read_only(db) as session:
        award, badge = badges.get_award(session, _scope(actor), award_id)
        org = organizations.get(session, actor.organization_id)
        person = learners.get(session, actor, award.learner_id)
        issuer, base = _issuer(request, org.id, str(org.brand.get("name") or org.name))
        body = openbadges.credential(
            award,
            badge,
            issuer,
            base_url=base,
            recipient_email=person.email,
            recipient_name=person.name,
        )
        return CredentialOut(
            credential=body, jwt=openbadges.sign(body, _signing_key(request), issuer)
        )


@router.get(
    "/issuers/{organization_id}/jwks",
    summary="The badge issuer's public keys (JWK Set), for anyone verifying a credential",
    responses=errors(404),
)
def get_issuer_keys(
    organization_id: uuid.UUID, request: Request, db: DatabaseDep
) -> dict[str, object]:
    with read_only(db) as session:
        org = organizations.get(session, organization_id)
        issuer, _ = _issuer(request, org.id, org.name)
    return {"keys": [openbadges.public_jwk(_signing_key(request).public_key(), issuer.kid)]}


@router.get(
    "/leaderboards",
    response_model=BoardOut,
    responses=errors(401, 403, 422),
    summary="Points earned in a period, by organization, department or program",
)
def get_leaderboard(
    actor: Reader,
    db: DatabaseDep,
    period: Annotated[str, Query(description="2026, 2026-Q4 or 2026-11", examples=["2026-11"])],
    scope: BoardScope = BoardScope.organization,
    department: str | None = None,
    program_id: uuid.UUID | None = None,
    learner: Annotated[
        uuid.UUID | None, Query(description="Also answer this learner's place")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
) -> BoardOut:
    with read_only(db) as session:
        board = leaderboards.leaderboard(
            session,
            _scope(actor),
            board=scope,
            period=period,
            department=department,
            program_id=program_id,
            limit=limit,
            viewer=learner,
        )
        return BoardOut.of(board)


@router.put(
    "/learners/{learner_id}/preferences",
    response_model=PreferenceOut,
    responses=errors(401, 403, 404, 422),
    summary="A learner's leaderboard opt-out and name display",
)
def put_preferences(
    learner_id: uuid.UUID, body: PreferenceIn, actor: Admin, db: DatabaseDep
) -> PreferenceOut:
    with unit_of_work(db) as session:
        pref = leaderboards.set_preference(
            session,
            actor,
            learner_id,
            leaderboard_opt_out=body.leaderboard_opt_out,
            show_name=body.show_name,
            clear_show_name="show_name" in body.model_fields_set and body.show_name is None,
        )
        return PreferenceOut.of(pref)


@router.post(
    "/offers",
    response_model=OfferOut,
    status_code=201,
    responses=errors(401, 403, 409, 422),
    summary="Offer a catalog item for points (priced at the organization's rate)",
)
def create_offer(body: OfferIn, actor: LiveAdmin, db: DatabaseDep) -> OfferOut:
    with unit_of_work(db) as session:
        offer = marketplace.create_offer(
            session,
            actor,
            catalog_item_id=body.catalog_item_id,
            name=body.name,
            value=body.value.to_money(),
            sku=body.sku,
        )
        return OfferOut.of(offer)


@router.get(
    "/offers", response_model=list[OfferOut], responses=errors(401, 403), summary="Active offers"
)
def list_offers(actor: Reader, db: DatabaseDep) -> list[OfferOut]:
    with read_only(db) as session:
        return [OfferOut.of(o) for o in marketplace.list_offers(session, actor.organization_id)]


@router.post(
    "/redemptions",
    response_model=RedemptionOut,
    status_code=201,
    responses=errors(401, 403, 404, 409, 422),
    summary="Spend a learner's points on an offer: it becomes a reward (idempotent by key)",
)
def create_redemption(body: RedeemIn, actor: Admin, db: DatabaseDep) -> RedemptionOut:
    with unit_of_work(db) as session:
        made = marketplace.redeem(
            session,
            actor,
            learner_id=body.learner_id,
            offer_id=body.offer_id,
            request_key=body.request_key,
        )
        return RedemptionOut.of(made)


@router.get(
    "/redemptions/{redemption_id}",
    response_model=RedemptionOut,
    responses=errors(401, 403, 404),
    summary="A redemption and its state (pending, delivered, returned)",
)
def get_redemption(redemption_id: uuid.UUID, actor: Reader, db: DatabaseDep) -> RedemptionOut:
    with read_only(db) as session:
        return RedemptionOut.of(marketplace.get_redemption(session, actor, redemption_id))


@router.post(
    "/expiry/run",
    response_model=ExpiryRunOut,
    responses=errors(401, 403),
    summary="Expire due points and record expiry notices for this organization now",
)
def run_expiry(actor: Admin, db: DatabaseDep) -> ExpiryRunOut:
    with unit_of_work(db) as session:
        expired = expiry.expire_due(
            session, organization_id=actor.organization_id, actor=actor.name
        )
        notices = expiry.record_notices(session, organization_id=actor.organization_id)
        return ExpiryRunOut(expired_lots=expired, notices=len(notices))


@router.get(
    "/reconcile",
    response_model=ReconcileOut,
    responses=errors(401, 403),
    summary="Prove the organization's points books balance",
)
def reconcile(actor: Admin, db: DatabaseDep) -> ReconcileOut:
    with read_only(db) as session:
        check = ledger.reconcile(session, actor.organization_id)
    return ReconcileOut(
        ok=check.ok,
        transactions=check.transactions,
        entries=check.entries,
        total=check.total,
        unbalanced=check.unbalanced,
        drifted=[{"account_id": a, "balance": b, "entries": e} for a, b, e in check.drifted],
        negative_wallets=check.negative_wallets,
        lot_mismatches=[
            {"learner_id": a, "wallet": b, "lots": c} for a, b, c in check.lot_mismatches
        ],
    )
