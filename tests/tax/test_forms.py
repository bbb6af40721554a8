"""The secure form page and the forms on file: languages, precise errors, one submission per
link, expiry, the TIN sealed at rest, masked and audited views."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select, text, update

from laurel.audit.models import AuditEntry
from laurel.config import Settings
from laurel.db import Database
from laurel.kit.clock import utcnow
from laurel.tax import tins
from laurel.tax.models import TaxFormRequest, TaxProfile
from tests.conftest import Tenant
from tests.factories import fixed_program
from tests.tax.support import W8BEN, W9, Outbox, earn


def _ask(client: TestClient, tenant: Tenant, outbox: Outbox, **learner: Any) -> str:
    """A contractor's first reward asks for the form: the token of the link."""
    fixed_program(client, tenant, amount="25.00")
    earn(client, tenant, "e-1", classification="contractor", **learner)
    return outbox.token()


def test_the_page_speaks_the_learners_language(
    client: TestClient, tenant: Tenant, outbox: Outbox
) -> None:
    token = _ask(client, tenant, outbox, locale="es-MX")
    page = client.get(f"/tax/forms/{token}")
    assert page.status_code == 200
    assert '<html lang="es">' in page.text
    assert "Formulario W-9: Solicitud de número de identificación" in page.text
    assert "Acme necesita este formulario" in page.text
    assert page.headers["referrer-policy"] == "no-referrer"
    assert page.headers["cache-control"] == "no-store"
    japanese = client.get(f"/tax/forms/{token}?lang=ja")
    assert "フォーム W-9" in japanese.text
    brazil = client.get(f"/tax/forms/{token}?lang=pt-BR")
    assert '<html lang="pt-BR">' in brazil.text
    assert "Enviar" in brazil.text
    # A language without a catalog falls back to the learner's, then to English.
    unknown = client.get(f"/tax/forms/{token}?lang=sw")
    assert '<html lang="es">' in unknown.text


def test_languages_fall_back_to_english() -> None:
    from laurel.tax.i18n import LANGUAGES, Translator, catalog, negotiate

    assert negotiate("sw", None) == "en"
    assert negotiate(None, "pt-PT") == "pt_BR"
    assert negotiate("es-MX") == "es"
    assert negotiate("ja_JP") == "ja"
    english = Translator("en")
    assert english("Submit") == "Submit"
    assert Translator("sw")("This field is required.") == "This field is required."
    # Every catalog translates every string the English one lists.
    ids = set(catalog("en")) | set(catalog("es"))
    for language in LANGUAGES[1:]:
        assert set(catalog(language)) == ids, language
    assert Translator("fr")("No EIN starts with %(prefix)s.", prefix="07") == (
        "Aucun EIN ne commence par 07."
    )


def test_errors_are_precise_translated_and_never_echo_the_tin(
    client: TestClient, tenant: Tenant, outbox: Outbox, database: Database
) -> None:
    token = _ask(client, tenant, outbox, locale="de-DE")
    bad = {**W9, "tin": "12345678", "state": "Texas", "postal_code": "787", "certify": ""}
    page = client.post(f"/tax/forms/{token}", data=bad)
    assert page.status_code == 422
    assert "Eine SSN hat 9 Ziffern; diese hat 8." in page.text
    assert "Verwenden Sie einen zweistelligen US-Bundesstaatscode wie NY." in page.text
    assert "Ein ZIP-Code hat 5 Ziffern oder 9 (12345-6789)." in page.text
    assert "Sie müssen bestätigen, dass die Angaben richtig sind." in page.text
    assert "12345678" not in page.text
    assert 'value="Austin"' in page.text  # valid parts are kept
    with database.session() as session:
        assert session.scalars(select(TaxProfile)).all() == []
        request = session.scalars(select(TaxFormRequest)).one()
        assert request.status == "open"  # a bad submission does not use the link up
    ok = client.post(f"/tax/forms/{token}", data=W9)
    assert ok.status_code == 200
    assert "Vielen Dank. Ihr Formular ist eingegangen." in ok.text


def test_the_tin_is_sealed_at_rest_and_views_are_masked_and_audited(
    client: TestClient, tenant: Tenant, outbox: Outbox, database: Database
) -> None:
    token = _ask(client, tenant, outbox)
    assert client.post(f"/tax/forms/{token}", data=W9).status_code == 200
    learner_id = outbox.notices[0].learner_id
    with database.session() as session:
        profile = session.scalars(select(TaxProfile)).one()
        assert profile.tin_last4 == "6780"
        assert profile.tin_sealed is not None
        stored = session.execute(text("SELECT tin_sealed FROM tax_profiles")).scalar_one()
        assert "123456780" not in stored
        assert "123-45-6780" not in stored
        assert tins.unseal(stored) == "123456780"
    masked = client.get(f"/api/v1/tax/learners/{learner_id}/form", headers=tenant.headers)
    assert masked.status_code == 200
    assert masked.json()["tin"] == "***-**-6780"
    assert masked.json()["name"] == "Ana Díaz"
    revealed = client.get(
        f"/api/v1/tax/learners/{learner_id}/form?reveal=true", headers=tenant.headers
    )
    assert revealed.json()["tin"] == "123456780"
    with database.session() as session:
        actions = [
            (e.action, e.details)
            for e in session.scalars(
                select(AuditEntry)
                .where(AuditEntry.action.like("tax:profile:%"))
                .order_by(AuditEntry.seq)
            )
        ]
    assert [a for a, _ in actions] == [
        "tax:profile:received",
        "tax:profile:view",
        "tax:profile:reveal",
    ]
    assert actions[0][1]["tin"] == "***-**-6780"
    assert all("123456780" not in str(d) for _, d in actions)


def test_expired_used_and_unknown_links(
    client: TestClient, tenant: Tenant, outbox: Outbox, database: Database
) -> None:
    token = _ask(client, tenant, outbox, locale="fr-CA")
    with database.session() as session:
        session.execute(update(TaxFormRequest).values(expires_at=utcnow() - timedelta(minutes=1)))
    expired = client.get(f"/tax/forms/{token}")
    assert expired.status_code == 410
    assert "Ce lien a expiré." in expired.text
    posted = client.post(f"/tax/forms/{token}", data=W9)
    assert posted.status_code == 410
    unknown = client.get("/tax/forms/not-a-token", headers={"Accept-Language": "es-ES,es;q=0.9"})
    assert unknown.status_code == 404
    assert "Este enlace no es válido." in unknown.text
    # The next reward asks again with a fresh link; the expired request is closed.
    earn(client, tenant, "e-2", classification="contractor", locale="fr-CA")
    assert len(outbox.notices) == 2
    fresh = outbox.token()
    assert fresh != token
    assert client.get(f"/tax/forms/{fresh}").status_code == 200
    with database.session() as session:
        statuses = sorted(r.status for r in session.scalars(select(TaxFormRequest)))
    assert statuses == ["cancelled", "open"]


def test_two_submissions_racing_on_one_link_store_one_form(
    client: TestClient, tenant: Tenant, outbox: Outbox, database: Database
) -> None:
    token = _ask(client, tenant, outbox)
    barrier = threading.Barrier(2)
    codes: list[int] = []

    def submit(name: str) -> None:
        barrier.wait(timeout=10)
        codes.append(client.post(f"/tax/forms/{token}", data={**W9, "city": name}).status_code)

    threads = [threading.Thread(target=submit, args=(c,)) for c in ("Austin", "Dallas")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(codes) == [200, 410]
    with database.session() as session:
        assert len(session.scalars(select(TaxProfile)).all()) == 1


def test_w8ben_refuses_a_us_residence(client: TestClient, tenant: Tenant, outbox: Outbox) -> None:
    fixed_program(client, tenant, amount="2500.00")
    earn(client, tenant, "e-1", country="FR", locale="fr-FR")
    page = client.post(f"/tax/forms/{outbox.token()}", data={**W8BEN, "country": "US"})
    assert page.status_code == 422
    assert "Le W-8BEN est destiné aux personnes hors des États-Unis" in page.text


def test_finance_can_ask_again_and_gets_the_link_once(
    client: TestClient, tenant: Tenant, outbox: Outbox, database: Database
) -> None:
    token = _ask(client, tenant, outbox)
    learner_id = outbox.notices[0].learner_id
    response = client.post(
        f"/api/v1/tax/learners/{learner_id}/form-requests", json={}, headers=tenant.headers
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["form"] == "W-9"
    assert body["reason"] == "manual"
    assert body["link"].startswith(Settings().public_url.rstrip("/") + "/tax/forms/")
    assert client.get(f"/tax/forms/{token}").status_code == 410  # the old link was replaced
    new_token = body["link"].rsplit("/", 1)[-1]
    assert client.get(f"/tax/forms/{new_token}").status_code == 200


def test_api_entry_names_each_bad_field(client: TestClient, tenant: Tenant, outbox: Outbox) -> None:
    _ask(client, tenant, outbox)
    learner_id = outbox.notices[0].learner_id
    response = client.put(
        f"/api/v1/tax/learners/{learner_id}/form",
        json={"form": "W-9", "first_name": "Ana", "tin": "12-3456780", "certify": True},
        headers=tenant.headers,
    )
    assert response.status_code == 422
    detail = {d["field"]: d["message"] for d in response.json()["detail"]}
    assert detail["tin"] == "Write the SSN as 9 digits or as 123-45-6789."
    assert detail["last_name"] == "This field is required."
    assert set(detail) == {
        "tin",
        "last_name",
        "address",
        "city",
        "state",
        "postal_code",
        "signed_name",
    }
