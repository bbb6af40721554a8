"""The permission table decides every route: it covers them all, and real calls obey it.

The matrix signs in one user per role and makes one key per scope and mode, calls every row's
route, and compares the answer with the row: granted means the call got past authorization
(anything but 401/403), refused means 403. Hand-written expectations then pin what the table
must say for each role, so a wrong row fails even though the matrix echoes the table.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import APIRouter, FastAPI, Request
from fastapi.testclient import TestClient

from laurel.auth import service as keys
from laurel.auth.permissions import PERMISSIONS, KeyScope, Role, Rule, check_table
from laurel.db import Database
from laurel.kit.http import Reader, route_of
from tests.auth.routes import app_routes, call, fill, openapi_routes
from tests.auth.support import Browser, make_user, plain_client
from tests.conftest import Tenant

# Ends the caller's own session: checked in test_users, not in the matrix.
SKIPPED = {("POST", "/api/v1/auth/sign-out")}


def test_every_route_has_exactly_one_row(app: FastAPI) -> None:
    routes = app_routes(app)
    missing = sorted(routes - set(PERMISSIONS))
    assert not missing, (
        "routes without a row in laurel.auth.permissions.PERMISSIONS (add one per route): "
        f"{missing}"
    )
    stale = sorted(set(PERMISSIONS) - routes)
    assert not stale, f"rows for routes that do not exist: {stale}"
    # Everything in the OpenAPI document is a route (the document is what clients see).
    assert openapi_routes(app) <= routes


def _granted_to_user(rule: Rule, role: Role) -> bool:
    return rule.public or role in rule.roles


def _granted_to_key(rule: Rule, scope: KeyScope, livemode: bool) -> bool:
    if rule.public:
        return True
    if not rule.keys or (scope is not KeyScope.admin and scope not in rule.keys):
        return False
    return livemode or not rule.live


def _outcome(response: Any) -> str:
    """For a caller with valid credentials, 401 is a refusal too: the route does not take
    that kind of credential (the xAPI endpoint resolves keys only, not sessions)."""
    if response.status_code in {401, 403}:
        return "refused"
    return "granted"


@pytest.fixture
def callers(app: FastAPI, tenant: Tenant, database: Database) -> dict[str, Any]:
    """One signed-in browser per role, one key per (scope, mode)."""
    found: dict[str, Any] = {}
    for role in Role:
        make_user(database, tenant.id, f"{role}@acme.test", [role], departments=["Sales"])
        browser = Browser(app)
        browser.sign_in("acme", f"{role}@acme.test")
        found[f"role:{role}"] = browser
    with database.session() as session:
        for scope in KeyScope:
            for live in (True, False):
                created = keys.create_key(
                    session, organization_id=tenant.id, scopes=[scope], livemode=live, actor="t"
                )
                found[f"key:{scope}:{'live' if live else 'test'}"] = created.secret
    return found


def _ask(app: FastAPI, caller: Any, method: str, path: str) -> str:
    if isinstance(caller, Browser):
        return _outcome(call(caller.client, method, path, headers=caller.headers))
    with plain_client(app, base_url="https://testserver") as client:
        return _outcome(call(client, method, path, headers={"Authorization": f"Bearer {caller}"}))


def test_each_role_and_key_gets_exactly_what_the_table_grants(
    app: FastAPI, callers: dict[str, Any]
) -> None:
    wrong: list[str] = []
    keyed = TestClient(app, base_url="https://testserver")
    for (method, template), rule in sorted(PERMISSIONS.items()):
        if (method, template) in SKIPPED or rule.public:
            continue
        path = fill(template)
        for role in Role:
            browser: Browser = callers[f"role:{role}"]
            got = _outcome(call(browser.client, method, path, headers=browser.headers))
            want = "granted" if _granted_to_user(rule, role) else "refused"
            if got != want:
                wrong.append(f"{role}: {method} {template} {got}, table says {want}")
        for scope in KeyScope:
            for live in (True, False):
                secret = callers[f"key:{scope}:{'live' if live else 'test'}"]
                response = call(keyed, method, path, headers={"Authorization": f"Bearer {secret}"})
                got = _outcome(response)
                want = "granted" if _granted_to_key(rule, scope, live) else "refused"
                if got != want:
                    mode = "live" if live else "test"
                    wrong.append(f"{scope} {mode} key: {method} {template} {got}, table: {want}")
        # Nobody: every non-public route wants a caller.
        anonymous = TestClient(app, base_url="https://testserver")
        if call(anonymous, method, path).status_code != 401:
            wrong.append(f"anonymous: {method} {template} not refused with 401")
    assert not wrong, "\n".join(wrong)


# What each role must (and must not) be able to do, written out by hand from the issue.
EXPECTED: list[tuple[str, str, str, bool]] = [
    ("org_admin", "POST", "/api/v1/programs", True),
    ("org_admin", "POST", "/api/v1/users", True),
    ("org_admin", "GET", "/api/v1/audit", True),
    ("program_manager", "POST", "/api/v1/programs", True),
    ("program_manager", "PATCH", "/api/v1/rules/{rule_id}", True),
    ("program_manager", "POST", "/api/v1/rewards/{reward_id}/approve", False),
    ("program_manager", "GET", "/api/v1/audit", False),
    ("program_manager", "POST", "/api/v1/users", False),
    ("department_manager", "GET", "/api/v1/learners", True),
    ("department_manager", "GET", "/api/v1/rewards/{reward_id}", True),
    ("department_manager", "GET", "/api/v1/programs", False),
    ("department_manager", "POST", "/api/v1/rewards/{reward_id}/approve", False),
    ("department_manager", "GET", "/api/v1/audit", False),
    ("finance", "POST", "/api/v1/rewards/{reward_id}/approve", True),
    ("finance", "POST", "/api/v1/rewards/{reward_id}/reject", True),
    ("finance", "GET", "/api/v1/rewards", True),
    ("finance", "POST", "/api/v1/programs", False),
    ("finance", "POST", "/api/v1/screening/cases/{case_id}/clear", False),
    ("compliance", "POST", "/api/v1/screening/cases/{case_id}/clear", True),
    ("compliance", "GET", "/api/v1/audit", True),
    ("compliance", "POST", "/api/v1/audit/verify", True),
    # Compliance decides FCPA holds through the same route (the service checks the kind).
    ("compliance", "POST", "/api/v1/rewards/{reward_id}/approve", True),
    ("compliance", "POST", "/api/v1/programs", False),
    ("auditor", "GET", "/api/v1/audit", True),
    ("auditor", "GET", "/api/v1/api-keys", True),
    ("auditor", "GET", "/api/v1/users", True),
    ("auditor", "GET", "/api/v1/screening/cases", True),
    ("auditor", "GET", "/api/v1/programs", True),
    ("auditor", "POST", "/api/v1/programs", False),
    ("auditor", "PATCH", "/api/v1/learners/{learner_id}", False),
    ("auditor", "POST", "/api/v1/rewards/{reward_id}/approve", False),
    ("auditor", "DELETE", "/api/v1/api-keys/{key_id}", False),
    ("learner", "GET", "/api/v1/rewards", True),
    ("learner", "GET", "/api/v1/rewards/{reward_id}", True),
    ("learner", "GET", "/api/v1/auth/me", True),
    ("learner", "GET", "/api/v1/programs", False),
    ("learner", "GET", "/api/v1/audit", False),
    ("learner", "POST", "/api/v1/rewards/{reward_id}/cancel", False),
    ("key:read:live", "GET", "/api/v1/rewards", True),
    ("key:read:live", "POST", "/api/v1/programs", False),
    ("key:read:live", "GET", "/api/v1/audit", False),
    ("key:events:write:live", "POST", "/api/v1/completions", True),
    ("key:events:write:live", "GET", "/api/v1/rewards", False),
    ("key:admin:test", "POST", "/api/v1/programs", False),
    ("key:admin:test", "GET", "/api/v1/audit", False),
    ("key:admin:test", "POST", "/api/v1/learners", True),
    ("key:admin:live", "GET", "/api/v1/audit", True),
    ("key:admin:live", "POST", "/api/v1/users", True),
]


def test_hand_written_expectations(app: FastAPI, callers: dict[str, Any]) -> None:
    wrong = []
    for who, method, template, allowed in EXPECTED:
        caller = callers[who if who.startswith("key:") else f"role:{who}"]
        got = _ask(app, caller, method, fill(template))
        if (got == "granted") != allowed:
            wrong.append(f"{who} {method} {template}: {got}, expected allowed={allowed}")
    assert not wrong, "\n".join(wrong)


def test_can_answers_as_the_table() -> None:
    import uuid

    from laurel.auth.permissions import can
    from laurel.kit.actor import Actor

    org = uuid.uuid4()
    finance = Actor(name="user:1", organization_id=org, roles=frozenset({"finance"}))
    assert can(finance, "POST", "/api/v1/rewards/{reward_id}/approve")
    assert not can(finance, "POST", "/api/v1/programs")
    assert not can(finance, "GET", "/api/v1/no-such-route")
    test_key = Actor(
        name="apikey:1", organization_id=org, livemode=False, scopes=frozenset({"admin"})
    )
    assert can(test_key, "POST", "/api/v1/learners")
    assert not can(test_key, "GET", "/api/v1/audit")


def test_department_and_learner_roles_only_on_scoped_routes() -> None:
    for (method, path), rule in PERMISSIONS.items():
        if rule.roles & {Role.department_manager, Role.learner}:
            assert rule.scoped, f"{method} {path}"
    wrong = {("GET", "/api/v1/programs"): Rule(roles=frozenset({Role.learner}))}
    with pytest.raises(ValueError, match="scoped route"):
        check_table(wrong)


def test_a_route_without_a_row_is_caught_and_keeps_its_dependency_meaning(
    app: FastAPI, tenant: Tenant, database: Database
) -> None:
    """A route another change adds with ``Reader`` before the table has its row: the
    coverage check names it, and meanwhile it means what ``Reader`` meant (read keys,
    org admins), never more."""

    @app.get("/api/v1/unmapped-example")
    def unmapped_example(actor: Reader) -> dict[str, str]:
        return {"actor": actor.name}

    assert ("GET", "/api/v1/unmapped-example") in app_routes(app) - set(PERMISSIONS)
    with database.session() as session:
        reader = keys.create_key(
            session, organization_id=tenant.id, scopes=["read"], livemode=True, actor="t"
        ).secret
        writer = keys.create_key(
            session, organization_id=tenant.id, scopes=["events:write"], livemode=True, actor="t"
        ).secret
    make_user(database, tenant.id, "fin@acme.test", ["finance"])
    make_user(database, tenant.id, "adm@acme.test", ["org_admin"])
    with plain_client(app, base_url="https://testserver") as client:
        path = "/api/v1/unmapped-example"
        assert client.get(path, headers={"Authorization": f"Bearer {reader}"}).status_code == 200
        assert client.get(path, headers={"Authorization": f"Bearer {writer}"}).status_code == 403
    finance = Browser(app)
    finance.sign_in("acme", "fin@acme.test")
    assert finance.client.get("/api/v1/unmapped-example").status_code == 403
    admin = Browser(app)
    admin.sign_in("acme", "adm@acme.test")
    assert admin.client.get("/api/v1/unmapped-example").status_code == 200


def test_the_route_template_includes_a_router_prefix() -> None:
    seen: list[tuple[str, str]] = []
    inner = APIRouter(prefix="/things")

    @inner.get("/{thing_id}")
    def get_thing(thing_id: str, request: Request) -> dict[str, str]:
        seen.append(route_of(request))
        return {}

    app = FastAPI()
    app.include_router(inner, prefix="/api/v9")
    with plain_client(app) as client:
        assert client.get("/api/v9/things/1").status_code == 200
    assert seen[0] == ("GET", "/api/v9/things/{thing_id}")
    assert ("GET", "/api/v9/things/{thing_id}") in app_routes(app)
