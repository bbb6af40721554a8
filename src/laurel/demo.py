"""Seed data for ``laurel demo``: one organization that shows every program type at work."""

from __future__ import annotations

import random
import secrets
import uuid
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from laurel.auth import service as auth
from laurel.auth import users
from laurel.auth.models import User
from laurel.catalog import service as catalog
from laurel.courses import service as courses
from laurel.courses.models import CourseType
from laurel.courses.schemas import CourseCreate
from laurel.db import Database
from laurel.delivery.providers.sandbox import SandboxProvider
from laurel.kit.actor import Actor
from laurel.kit.schemas import MoneyIn
from laurel.learners import service as learners
from laurel.learners.models import Classification, Learner
from laurel.learners.schemas import LearnerCreate
from laurel.organizations import service as organizations
from laurel.organizations.models import Organization
from laurel.programs import service as programs
from laurel.programs.schemas import ProgramCreate
from laurel.programs.templates import TEMPLATES

ORG = "demo"
ACTOR = "cli:demo"
ADMIN_EMAIL = "admin@demo.example"
"""The demo organization's dashboard user (``org_admin``); its password is new on every run."""

COURSES: list[tuple[str, str, CourseType, int, str | None, list[str]]] = [
    ("SEC-101", "Security Awareness 2026", CourseType.compliance, 45, "2.0", ["security"]),
    ("HAR-201", "Preventing Workplace Harassment", CourseType.compliance, 60, "2.0", ["hr"]),
    ("ABC-110", "Anti-Bribery and Corruption", CourseType.compliance, 40, "3.0", ["fcpa"]),
    ("DPR-120", "Data Privacy Essentials", CourseType.compliance, 30, "1.5", ["privacy"]),
    (
        "CRT-300",
        "Platform Administrator Certification",
        CourseType.certification,
        480,
        "3.0",
        ["product"],
    ),
    (
        "CRT-310",
        "Analytics Specialist Certification",
        CourseType.certification,
        360,
        "2.5",
        ["product"],
    ),
    (
        "CRT-320",
        "Integration Developer Certification",
        CourseType.certification,
        600,
        "3.5",
        ["product", "developer"],
    ),
    ("LDR-400", "First-Time Manager", CourseType.leadership, 960, "3.0", ["management"]),
    ("LDR-410", "Coaching for Performance", CourseType.leadership, 240, "2.0", ["management"]),
    ("LDR-420", "Strategic Leadership", CourseType.leadership, 1440, "4.0", ["executive"]),
    (
        "PRT-500",
        "Partner Sales Certification",
        CourseType.partner_certification,
        180,
        "2.0",
        ["partner", "sales"],
    ),
    (
        "PRT-510",
        "Partner Technical Certification",
        CourseType.partner_certification,
        300,
        "2.5",
        ["partner"],
    ),
    ("ONB-600", "Getting Started with the Platform", CourseType.onboarding, 30, None, ["customer"]),
    ("ONB-610", "Admin Onboarding", CourseType.onboarding, 90, "1.5", ["customer"]),
    ("MIC-700", "Five-Minute Phishing Drill", CourseType.microlearning, 5, None, ["security"]),
    ("MIC-710", "Giving Feedback in 10 Minutes", CourseType.microlearning, 10, None, ["soft"]),
    ("MIC-720", "Spreadsheet Shortcuts", CourseType.microlearning, 8, None, ["productivity"]),
    ("ELC-800", "Public Speaking Basics", CourseType.elective, 120, None, ["soft"]),
    ("ELC-810", "Python for Analysts", CourseType.elective, 720, "1.5", ["technical"]),
    ("ELC-820", "Negotiation Skills", CourseType.elective, 180, None, ["sales"]),
]

FIRST = [
    "Ana",
    "Liam",
    "Sofía",
    "Noah",
    "Aisha",
    "Mateo",
    "Yuki",
    "Olivia",
    "Chen",
    "Lucas",
    "Priya",
    "Emma",
    "Jonas",
    "Fatima",
    "Diego",
    "Zoë",
    "Kwame",
    "Ingrid",
    "Rafael",
    "Mei",
]
LAST = [
    "Díaz",
    "Smith",
    "Müller",
    "Okafor",
    "García",
    "Tanaka",
    "Brown",
    "Singh",
    "Rossi",
    "Kowalski",
    "Nguyen",
    "Dubois",
    "Silva",
    "Johansson",
    "Haddad",
    "O'Brien",
    "Kim",
    "Costa",
]
DEPARTMENTS = ["Sales", "Engineering", "Support", "Finance", "Marketing", "Operations", "HR"]
COUNTRIES = [
    ("US", "en-US"),
    ("US", "es-US"),
    ("CA", "fr-CA"),
    ("GB", "en-GB"),
    ("DE", "de-DE"),
    ("MX", "es-MX"),
    ("IN", "en-IN"),
    ("BR", "pt-BR"),
]
MIX = [
    (Classification.employee, 300),
    (Classification.contractor, 80),
    (Classification.channel_partner, 70),
    (Classification.customer, 50),
]


@dataclass(frozen=True, slots=True)
class DemoSummary:
    org_slug: str
    created: bool
    programs: int
    courses: int
    learners: int
    live_key: str
    test_key: str
    admin_email: str
    admin_password: str


def _learners(rng: random.Random) -> list[LearnerCreate]:
    people = []
    number = 1001
    for classification, count in MIX:
        for _ in range(count):
            first, last = rng.choice(FIRST), rng.choice(LAST)
            country, locale = rng.choice(COUNTRIES)
            handle = f"{first}.{last}".lower().replace("'", "")
            people.append(
                LearnerCreate(
                    external_id=f"E{number}",
                    email=f"{handle}.{number}@example.com",
                    name=f"{first} {last}",
                    classification=classification,
                    department=rng.choice(DEPARTMENTS)
                    if classification in {Classification.employee, Classification.contractor}
                    else None,
                    country=country,
                    locale=locale,
                )
            )
            number += 1
    return people


def seed(database: Database) -> DemoSummary:
    """Create the demo organization once; later runs reuse it and only mint fresh keys."""
    with database.session() as session:
        org = session.scalar(select(Organization).where(Organization.slug == ORG))
        created = org is None
        if org is None:
            org = organizations.create(session, slug=ORG, name="Demo Corp", actor=ACTOR)
            actor = Actor(name=ACTOR, organization_id=org.id)
            for key, title, kind, minutes, importance, tags in COURSES:
                courses.create(
                    session,
                    actor,
                    CourseCreate(
                        external_id=key,
                        title=title,
                        type=kind,
                        duration_minutes=minutes,
                        importance=importance,
                        tags=tags,
                    ),
                )
            for person in _learners(random.Random(2026)):  # noqa: S311 - demo data
                learners.create(session, actor, person)
            for template in TEMPLATES.values():
                budget = None if template.currency else MoneyIn(amount="50000.00", currency="USD")
                programs.create_program(
                    session,
                    actor,
                    ProgramCreate(
                        key=template.key.replace("_", "-"), template=template.key, budget=budget
                    ),
                    org.default_currency,
                )
            # The sandbox's catalog, so link programs have choices to offer at once.
            offers = SandboxProvider(database).catalog()
            catalog.apply(session, org.id, [catalog.Fetched("sandbox", offers)], actor=ACTOR)
        live = auth.create_key(
            session,
            organization_id=org.id,
            scopes=["admin"],
            livemode=True,
            actor=ACTOR,
            name="demo (live)",
        )
        test = auth.create_key(
            session,
            organization_id=org.id,
            scopes=["admin"],
            livemode=False,
            actor=ACTOR,
            name="demo (test)",
        )
        password = _admin(session, org.id)
        learner_count = session.scalar(
            select(func.count()).select_from(Learner).where(Learner.organization_id == org.id)
        )
    return DemoSummary(
        ORG,
        created,
        len(TEMPLATES),
        len(COURSES),
        learner_count or 0,
        live.secret,
        test.secret,
        ADMIN_EMAIL,
        password,
    )


def _admin(session: Session, organization_id: uuid.UUID) -> str:
    """Create the demo's org admin, or give the existing one a fresh password (printed like
    the fresh keys: a password from an earlier run cannot be shown again, only its hash is
    kept). Answers the password."""
    password = secrets.token_urlsafe(12)
    found = session.scalar(
        select(User).where(User.organization_id == organization_id, User.email == ADMIN_EMAIL)
    )
    if found is None:
        users.create(
            session,
            organization_id=organization_id,
            email=ADMIN_EMAIL,
            name="Demo Admin",
            roles=["org_admin"],
            password=password,
            actor=ACTOR,
        )
    else:
        users.update_user(
            session,
            organization_id,
            found.id,
            actor=ACTOR,
            roles=sorted({*found.roles, "org_admin"}),
            password=password,
            disabled=False,
        )
    return password
