"""Statements with attachment content (multipart/mixed) and signed statements, over HTTP."""

from __future__ import annotations

import base64
import copy
import datetime as dt
import hashlib
import json
import uuid
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from laurel.db import Database
from laurel.events.connectors.xapi import attachments
from laurel.kit.clock import utcnow
from laurel.privacy import erasure
from tests.conftest import Tenant
from tests.events.connectors.xapi.support import VERSION, basic, statement
from tests.events.connectors.xapi.test_api import event_of, rewards_of
from tests.factories import fixed_program, table_counts

SIGNATURE = "http://adlnet.gov/expapi/attachments/signature"
CERTIFICATE = "http://example.com/attachment-usage/certificate"
# The boundary of the specification's own example (Communication 1.5.2): every character class.
BOUNDARY = "abcABC0123'()+_,-./:=?"


def _sha(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def attachment(
    content: bytes, *, usage: str = CERTIFICATE, kind: str = "text/plain"
) -> dict[str, Any]:
    return {
        "usageType": usage,
        "display": {"en-US": "A certificate"},
        "contentType": kind,
        "length": len(content),
        "sha2": _sha(content),
    }


def part(content: bytes, *, kind: str = "text/plain", **headers: str) -> bytes:
    lines = [f"Content-Type:{kind}"]
    if "encoding" not in headers:
        lines.append("Content-Transfer-Encoding:binary")
    elif headers["encoding"]:
        lines.append(f"Content-Transfer-Encoding:{headers['encoding']}")
    lines.append(f"X-Experience-API-Hash:{headers.get('sha2', _sha(content))}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + content


def multipart(statements: Any, *parts: bytes, first_type: str = "application/json") -> bytes:
    first = f"Content-Type:{first_type}\r\n\r\n".encode() + json.dumps(statements).encode()
    pieces = [first, *parts]
    delimiter = f"--{BOUNDARY}".encode()
    return b"\r\n".join(delimiter + b"\r\n" + p for p in pieces) + b"\r\n" + delimiter + b"--\r\n"


def headers(tenant: Tenant, version: str = "1.0.3") -> dict[str, str]:
    found = basic(tenant.live_key)
    found["X-Experience-API-Version"] = version
    found["Content-Type"] = f'multipart/mixed; boundary="{BOUNDARY}"'
    return found


def send(client: TestClient, tenant: Tenant, body: bytes, **kw: Any) -> Any:
    return client.post("/xapi/statements", content=body, headers=headers(tenant, **kw))


def test_a_statement_with_an_attachment_pays_and_reads_back(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    fixed_program(client, tenant, amount="25.00")
    content = b"here is a simple attachment"
    body = statement("completed", timestamp=utcnow().isoformat())
    body["attachments"] = [attachment(content, kind="text/plain; charset=ascii")]
    response = send(client, tenant, multipart(body, part(content)))
    assert response.status_code == 200, response.text
    assert response.json() == [body["id"]]
    event = event_of(database, body["id"])
    assert event is not None
    assert [r["state"] for r in rewards_of(client, tenant, event)] == ["ready"]

    read = client.get(
        "/xapi/statements",
        params={"statementId": body["id"], "attachments": "true"},
        headers=basic(tenant.live_key),
    )
    assert read.status_code == 200
    boundary = read.headers["content-type"].split("boundary=")[1]
    pieces = read.content.split(f"--{boundary}".encode())
    # preamble, statement, attachment, closing "--"
    assert len(pieces) == 4
    assert json.loads(pieces[1].split(b"\r\n\r\n", 1)[1])["id"] == body["id"]
    head, got = pieces[2].split(b"\r\n\r\n", 1)
    assert got == content + b"\r\n"
    assert f"X-Experience-API-Hash: {_sha(content)}".encode() in head
    assert b"Content-Transfer-Encoding: binary" in head

    # A replay of the same request is accepted and pays nothing more.
    again = send(client, tenant, multipart(body, part(content)))
    assert again.status_code == 200, again.text
    assert len(rewards_of(client, tenant, event)) == 1


def test_a_batch_shares_one_part_and_attachments_with_file_urls_need_none(
    client: TestClient, tenant: Tenant
) -> None:
    content = b"%PDF-1.4 certificate \x00\xff binary octets"
    one = statement("completed", email="ana@example.com")
    two = statement("completed", email="bo@example.com")
    one["attachments"] = [attachment(content, kind="application/pdf")]
    two["attachments"] = [
        attachment(content, kind="application/pdf"),
        {**attachment(b"elsewhere"), "fileUrl": "https://lms.example.com/files/1"},
    ]
    response = send(client, tenant, multipart([one, two], part(content, kind="application/pdf")))
    assert response.status_code == 200, response.text
    assert response.json() == [one["id"], two["id"]]
    for sent in (one, two):
        read = client.get(
            "/xapi/statements",
            params={"statementId": sent["id"], "attachments": "true"},
            headers=basic(tenant.live_key),
        )
        assert content in read.content


def test_multipart_without_attachments_and_json_with_file_urls_are_accepted(
    client: TestClient, tenant: Tenant
) -> None:
    plain = statement("completed")
    assert send(client, tenant, multipart(plain)).status_code == 200
    linked = statement("completed", email="cy@example.com")
    linked["attachments"] = [{**attachment(b"x"), "fileUrl": "https://lms.example.com/f/2"}]
    response = client.post("/xapi/statements", json=linked, headers=basic(tenant.live_key))
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (
            lambda s, c: multipart(s),
            "has no fileUrl: send its content as multipart/mixed with a part",
        ),
        (
            lambda s, c: multipart(s, part(c, sha2=_sha(b"other"))),
            "does not hash to its X-Experience-API-Hash",
        ),
        (lambda s, c: multipart(s, part(c, encoding="base64")), "'base64'"),
        (
            lambda s, c: multipart(s, part(c), part(b"stray")),
            f"{_sha(b'stray')} matches no attachment",
        ),
        (lambda s, c: multipart(s, part(c), first_type="text/plain"), "application/json"),
        (lambda s, c: multipart(s, part(c))[:-8], "does not end with the closing"),
        (
            lambda s, c: multipart(s, part(c).replace(b"X-Experience-API-Hash", b"X-Hash")),
            "no X-Experience-API-Hash header",
        ),
    ],
)
def test_bad_multipart_requests_are_refused_and_nothing_is_kept(
    client: TestClient, tenant: Tenant, database: Database, build: Any, message: str
) -> None:
    content = b"here is a simple attachment"
    body = statement("completed")
    body["attachments"] = [attachment(content)]
    before = table_counts(database)
    response = send(client, tenant, build(body, content))
    assert response.status_code == 400, response.text
    assert message in json.dumps(response.json()["detail"])
    assert response.headers["X-Experience-API-Version"] == "1.0.3"
    assert table_counts(database) == before


def test_json_attachment_without_file_url_is_refused(client: TestClient, tenant: Tenant) -> None:
    body = statement("completed")
    body["attachments"] = [attachment(b"content")]
    response = client.post("/xapi/statements", json=body, headers=basic(tenant.live_key))
    assert response.status_code == 400
    assert "no fileUrl" in response.json()["detail"]


@pytest.mark.parametrize("version", ["1.0.3", "2.0.0"])
def test_a_part_without_transfer_encoding_is_taken_as_binary(
    client: TestClient, tenant: Tenant, version: str
) -> None:
    """Communication 1.5.2: senders must name it; the LRS should assume binary if they do not."""
    content = b"no encoding header"
    body = statement("completed")
    body["attachments"] = [attachment(content)]
    response = send(client, tenant, multipart(body, part(content, encoding="")), version=version)
    assert response.status_code == 200, response.text


def test_boundary_and_content_type_errors(client: TestClient, tenant: Tenant) -> None:
    found = headers(tenant)
    found["Content-Type"] = "multipart/mixed"
    response = client.post("/xapi/statements", content=b"--x--", headers=found)
    assert response.status_code == 400
    assert "boundary" in response.json()["detail"]
    found["Content-Type"] = "text/plain"
    response = client.post("/xapi/statements", content=b"{}", headers=found)
    assert response.status_code == 400
    assert "multipart/mixed" in response.json()["detail"]


def test_oversized_multipart_is_413(
    client: TestClient, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(attachments, "MAX_BYTES", 100)
    content = b"x" * 200
    body = statement("completed")
    body["attachments"] = [attachment(content)]
    response = send(client, tenant, multipart(body, part(content)))
    assert response.status_code == 413


# ---------------------------------------------------------------- signed statements


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def x5c(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> str:
    """A self-signed certificate of ``key``, as one ``x5c`` entry (base64 DER)."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "LMS signer")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    return base64.b64encode(certificate.public_bytes(serialization.Encoding.DER)).decode()


@pytest.fixture(scope="module")
def signer() -> tuple[rsa.RSAPrivateKey, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key, x5c(key)


def jws(
    payload: dict[str, Any],
    key: rsa.RSAPrivateKey,
    chain: str | None,
    *,
    alg: str = "RS256",
) -> bytes:
    header: dict[str, Any] = {"alg": alg}
    if chain is not None:
        header["x5c"] = [chain]
    signing = f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(payload).encode())}"
    algorithm = {"RS256": hashes.SHA256(), "RS384": hashes.SHA384(), "RS512": hashes.SHA512()}
    chosen = algorithm.get(alg, hashes.SHA256())
    signature = key.sign(signing.encode(), padding.PKCS1v15(), chosen)
    return f"{signing}.{_b64url(signature)}".encode()


def signed(original: dict[str, Any], token: bytes) -> dict[str, Any]:
    sent = copy.deepcopy(original)
    sent.setdefault("attachments", []).append(
        attachment(token, usage=SIGNATURE, kind="application/octet-stream")
    )
    return sent


@pytest.mark.parametrize("alg", ["RS256", "RS384", "RS512"])
def test_a_signed_statement_is_accepted(
    client: TestClient, tenant: Tenant, signer: tuple[rsa.RSAPrivateKey, str], alg: str
) -> None:
    key, chain = signer
    original = statement("completed", timestamp=utcnow().isoformat())
    token = jws(original, key, chain, alg=alg)
    sent = signed(original, token)
    response = send(client, tenant, multipart(sent, part(token, kind="application/octet-stream")))
    assert response.status_code == 200, response.text


def test_a_signed_statement_without_id_gets_one(
    client: TestClient, tenant: Tenant, signer: tuple[rsa.RSAPrivateKey, str]
) -> None:
    key, _ = signer
    original = statement("completed")
    del original["id"]
    token = jws(original, key, None)
    sent = signed(original, token)
    response = send(client, tenant, multipart(sent, part(token, kind="application/octet-stream")))
    assert response.status_code == 200, response.text
    assert uuid.UUID(response.json()[0])


def test_bad_signatures_are_refused(
    client: TestClient,
    tenant: Tenant,
    database: Database,
    signer: tuple[rsa.RSAPrivateKey, str],
) -> None:
    key, chain = signer
    original = statement("completed", timestamp=utcnow().isoformat())
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    changed = {**original, "verb": {"id": "http://adlnet.gov/expapi/verbs/passed"}}
    hs_header = _b64url(json.dumps({"alg": "HS256"}).encode())
    hs256 = f"{hs_header}.{_b64url(json.dumps(original).encode())}.c2ln".encode()
    cases = {
        "differs from the statement": jws(changed, key, chain),
        "does not verify against its x5c": jws(original, other_key, chain),
        "use RS256, RS384 or RS512": hs256,
        "not a JWS in compact serialization": b"not-a-jws",
    }
    before = table_counts(database)
    for message, token in cases.items():
        sent = signed(original, token)
        response = send(
            client, tenant, multipart(sent, part(token, kind="application/octet-stream"))
        )
        assert response.status_code == 400, (message, response.text)
        assert message in response.json()["detail"], response.text
    wrong_type = copy.deepcopy(original)
    good = jws(original, key, chain)
    wrong_type["attachments"] = [attachment(good, usage=SIGNATURE, kind="text/plain")]
    response = send(client, tenant, multipart(wrong_type, part(good)))
    assert response.status_code == 400
    assert "application/octet-stream" in response.json()["detail"]
    assert table_counts(database) == before


def test_an_ec_certificate_cannot_check_an_rs256_signature(
    client: TestClient, tenant: Tenant, signer: tuple[rsa.RSAPrivateKey, str]
) -> None:
    key, _ = signer
    chain = x5c(ec.generate_private_key(ec.SECP256R1()))
    original = statement("completed")
    token = jws(original, key, chain)
    sent = signed(original, token)
    response = send(client, tenant, multipart(sent, part(token, kind="application/octet-stream")))
    assert response.status_code == 400
    assert "no RSA key" in response.json()["detail"]


def test_erasure_takes_the_attachments(
    client: TestClient, tenant: Tenant, database: Database
) -> None:
    content = b"personal certificate"
    body = statement("completed", timestamp=utcnow().isoformat())
    body["attachments"] = [attachment(content)]
    assert send(client, tenant, multipart(body, part(content))).status_code == 200
    event = event_of(database, body["id"])
    assert event is not None
    with database.session() as session:
        erasure.erase(
            session, tenant.id, event.learner_id, actor="test", now=utcnow(), reason="test"
        )
    read = client.get(
        "/xapi/statements",
        params={"statementId": body["id"], "attachments": "true"},
        headers={**basic(tenant.live_key), **VERSION},
    )
    assert content not in read.content


@settings(max_examples=300, deadline=None)
@given(
    body=st.binary(max_size=400),
    boundary=st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=255), max_size=80),
)
def test_any_body_is_parsed_or_refused_by_name(body: bytes, boundary: str) -> None:
    """Whatever arrives, the parser answers parts or an AttachmentInvalid, never a crash."""
    quoted = boundary.replace("\\", "").replace('"', "")
    try:
        first, parts = attachments.parse(f'multipart/mixed; boundary="{quoted}"', body)
    except attachments.AttachmentInvalid:
        return
    assert isinstance(first, bytes)
    assert all(p.sha2 == _sha(p.content) or len(p.sha2) != 64 for p in parts.values())


def test_a_wellformed_body_with_a_preamble_parses() -> None:
    content = b"octets\r\n--not-the-boundary\r\n"
    body = b"preamble text\r\n" + multipart({"a": 1}, part(content)) + b"epilogue"
    first, parts = attachments.parse(f'multipart/mixed; boundary="{BOUNDARY}"', body)
    assert json.loads(first) == {"a": 1}
    assert parts[_sha(content)].content == content
    encoded = "multipart/mixed; boundary*=utf-8''%E2%82%AC"
    with pytest.raises(attachments.AttachmentInvalid, match="boundary"):
        attachments.parse(encoded, body)
