"""Attachments and signed statements against the letter of xAPI and the ADL conformance suite.

Each test names the rule it checks (xAPI Communication 1.5.2, Data 2.3.1 and 2.6, the suite's
``configs/attachments.js`` and ``helper.signStatement``), and inputs that must be a 400, never a
crash: payloads nested too deeply, certificates whose key cannot be read.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from fastapi.testclient import TestClient

from laurel.events.connectors.xapi import attachments
from laurel.kit.clock import utcnow
from tests.conftest import Tenant
from tests.events.connectors.xapi.support import basic, statement
from tests.events.connectors.xapi.test_attachments import x5c

SIGNATURE = attachments.SIGNATURE
OLD_BOUNDARY = "laurel-xapi-statement"  # the fixed boundary answers once had


def _sha(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _certificate_der(key: rsa.RSAPrivateKey) -> bytes:
    return base64.b64decode(x5c(key))


def _jws(header: dict[str, Any], payload: bytes, key: rsa.RSAPrivateKey) -> bytes:
    signing = f"{_b64url(json.dumps(header).encode())}.{_b64url(payload)}"
    signature = key.sign(signing.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing}.{_b64url(signature)}".encode()


def _signature_attachment(token: bytes) -> dict[str, Any]:
    return {
        "usageType": SIGNATURE,
        "display": {"en-US": "Signature"},
        "contentType": "application/octet-stream",
        "length": len(token),
        "sha2": _sha(token),
    }


def _check_signed(sent: dict[str, Any], token: bytes) -> list[list[attachments.Part]]:
    """``attachments.check`` of ``sent`` carrying ``token`` as its signature part."""
    sent = copy.deepcopy(sent)
    sent.setdefault("attachments", []).append(_signature_attachment(token))
    part = attachments.Part(_sha(token), "application/octet-stream", token)
    return attachments.check([sent], {part.sha2: part})


def _base() -> dict[str, Any]:
    return {
        "id": "33cff416-e331-4c9d-969e-5373a1756120",
        "actor": {"objectType": "Agent", "name": "Ana", "mbox": "mailto:ana@example.com"},
        "verb": {"id": "http://adlnet.gov/expapi/verbs/completed", "display": {"en-US": "done"}},
        "object": {
            "objectType": "Activity",
            "id": "https://lms.example.com/courses/SEC-101",
            "definition": {"name": {"en-US": "Security Awareness"}},
        },
        "timestamp": "2013-04-01T12:00:00Z",
    }


# ------------------------------------------------------------------ 500s instead of 400s


def test_a_deeply_nested_jws_payload_is_refused_not_a_crash(key: rsa.RSAPrivateKey) -> None:
    """A payload that nests past the parser's recursion is a malformed signature (Data
    2.6.s5.b1: 400), not a RecursionError."""
    token = _jws({"alg": "RS256"}, b"[" * 100_000, key)
    with pytest.raises(attachments.AttachmentInvalid):
        _check_signed(_base(), token)


def test_an_x5c_certificate_with_an_unknown_key_type_is_refused_not_a_crash(
    key: rsa.RSAPrivateKey,
) -> None:
    """A certificate whose key the LRS cannot read (cryptography's UnsupportedAlgorithm) is a
    malformed signature (400)."""
    der = _certificate_der(key)
    rsa_encryption = bytes.fromhex("06092A864886F70D010101")
    assert der.count(rsa_encryption) == 1
    unknown = der.replace(rsa_encryption, bytes.fromhex("06092A864886F70D01017F"))
    header = {"alg": "RS256", "x5c": [base64.b64encode(unknown).decode()]}
    token = _jws(header, json.dumps(_base()).encode(), key)
    with pytest.raises(attachments.AttachmentInvalid):
        _check_signed(_base(), token)


def test_a_deeply_nested_first_part_is_a_400_not_a_500(client: TestClient, tenant: Tenant) -> None:
    """The statements part nests too deeply: 400, as for an application/json body."""
    boundary = "b0undary"
    body = (
        f"--{boundary}\r\nContent-Type: application/json\r\n\r\n".encode()
        + b"[" * 100_000
        + f"\r\n--{boundary}--\r\n".encode()
    )
    headers = {**basic(tenant.live_key), "Content-Type": f"multipart/mixed; boundary={boundary}"}
    try:
        response = client.post("/xapi/statements", content=body, headers=headers)
    except RecursionError:
        pytest.fail("RecursionError escaped the handler (a 500)")
    assert response.status_code == 400


# ------------------------------------------------- signed statements: Data 2.3.1 comparison
#
# Data 2.6.s5.b3.b2: the payload must be "logically equivalent" to the statement, per the
# Statement Comparison Requirements (Data 2.3.1.s9): differences that could have been caused by
# the exceptions to immutability MUST be ignored: LRS assignment of id, authority, stored,
# *timestamp*, version (b1); Activity Definitions (b2); Verb display (b3); Timestamp
# serialization (b4); Group member order (b5); Attachments (b6); case of case-insensitive
# values (b7). ``compare.equivalent`` ignores each of them.


def _forwarded(original: dict[str, Any]) -> dict[str, Any]:
    """The statement as another LRS returns it (and pushes it on, Communication 1.5.2.s3.b3)."""
    sent = copy.deepcopy(original)
    sent["stored"] = "2013-04-01T12:00:01.000Z"
    sent["authority"] = {"objectType": "Agent", "mbox": "mailto:lrs@example.com"}
    sent["version"] = "1.0.0"
    return sent


@pytest.mark.parametrize(
    ("case", "change"),
    [
        # b1: the first LRS assigned the timestamp the signer left out.
        ("timestamp assigned by an LRS", lambda s: s.update(timestamp="2013-04-01T12:00:00Z")),
        # b4 / Data 4.5.s1.b5: the same instant returned in another zone / precision.
        ("timestamp in UTC+2", lambda s: s.update(timestamp="2013-04-01T14:00:00+02:00")),
        ("timestamp with milliseconds", lambda s: s.update(timestamp="2013-04-01T12:00:00.000Z")),
        # b7: a UUID in another case.
        ("id upper case", lambda s: s.update(id=s["id"].upper())),
        # b7: the domain of an e-mail address is case insensitive (Data 2.4.2.3.s4.b1).
        ("mbox domain case", lambda s: s["actor"].update(mbox="mailto:ana@EXAMPLE.com")),
        # b3: the Verb's display is not part of the statement.
        ("verb display", lambda s: s["verb"].update(display={"en-GB": "completed"})),
        # b2: the Activity Definition is not part of the statement.
        ("activity definition", lambda s: s["object"].pop("definition")),
    ],
)
def test_signed_payload_equivalence_ignores_what_data_2_3_1_says_to_ignore(
    key: rsa.RSAPrivateKey, case: str, change: Any
) -> None:
    signed = _base()
    if case == "timestamp assigned by an LRS":
        del signed["timestamp"]
    token = _jws({"alg": "RS256"}, json.dumps(signed).encode(), key)
    sent = _forwarded(signed)
    change(sent)
    try:
        _check_signed(sent, token)
    except attachments.AttachmentInvalid as exc:
        pytest.fail(f"{case}: refused although Data 2.3.1 says to ignore it: {exc.detail}")


def test_signed_payload_equivalence_ignores_group_member_order(key: rsa.RSAPrivateKey) -> None:
    signed = _base()
    signed["actor"] = {
        "objectType": "Group",
        "name": "Team",
        "mbox": "mailto:team@example.com",
        "member": [
            {"objectType": "Agent", "mbox": "mailto:a@example.com"},
            {"objectType": "Agent", "mbox": "mailto:b@example.com"},
        ],
    }
    token = _jws({"alg": "RS256"}, json.dumps(signed).encode(), key)
    sent = copy.deepcopy(signed)
    sent["actor"]["member"].reverse()  # Data 2.3.1.b5, 2.4.2.2.s3.b4
    _check_signed(sent, token)


# ------------------------------------------------------------ transmission format (HTTP)


def _part(content: bytes, kind: str, *, encoding: str | None = "binary") -> bytes:
    lines = [f"Content-Type: {kind}"]
    if encoding is not None:
        lines.append(f"Content-Transfer-Encoding: {encoding}")
    lines.append(f"X-Experience-API-Hash: {_sha(content)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + content


def _multipart(statement_json: bytes, *parts: bytes, boundary: str = "xyzzy") -> bytes:
    pieces = [b"Content-Type: application/json\r\n\r\n" + statement_json, *parts]
    delimiter = f"--{boundary}".encode()
    return b"\r\n".join(delimiter + b"\r\n" + p for p in pieces) + b"\r\n" + delimiter + b"--\r\n"


def _with_attachment(content: bytes, kind: str) -> dict[str, Any]:
    body = statement("completed", timestamp=utcnow().isoformat())
    body["attachments"] = [
        {
            "usageType": "http://example.com/attachment-usage/certificate",
            "display": {"en-US": "A certificate"},
            "contentType": kind,
            "length": len(content),
            "sha2": _sha(content),
        }
    ]
    return body


def _post(client: TestClient, tenant: Tenant, body: bytes, boundary: str = "xyzzy") -> Any:
    headers = {**basic(tenant.live_key), "Content-Type": f"multipart/mixed; boundary={boundary}"}
    return client.post("/xapi/statements", content=body, headers=headers)


def _read(client: TestClient, tenant: Tenant, statement_id: str) -> Any:
    return client.get(
        "/xapi/statements",
        params={"statementId": statement_id, "attachments": "true"},
        headers=basic(tenant.live_key),
    )


def test_attachments_true_survives_content_holding_the_fixed_boundary(
    client: TestClient, tenant: Tenant
) -> None:
    """Attachment octets are the client's and may hold any fixed delimiter (RFC 2046 5.1.1:
    the boundary must occur in no part): each answer draws its own boundary, and the
    attachment reads back whole (Communication 1.5.2.s3.b1)."""
    content = b"before\r\n--" + OLD_BOUNDARY.encode() + b"--\r\nafter"
    body = _with_attachment(content, "application/octet-stream")
    sent = _post(client, tenant, _multipart(json.dumps(body).encode(), _part(content, "x/y")))
    assert sent.status_code == 200, sent.text
    read = _read(client, tenant, body["id"])
    assert read.status_code == 200
    try:
        _, parts = attachments.parse(read.headers["content-type"], read.content)
    except attachments.AttachmentInvalid as exc:
        pytest.fail(f"the attachments=true answer is not a valid multipart body: {exc.detail}")
    assert parts.get(_sha(content)) is not None
    assert parts[_sha(content)].content == content


def test_attachments_true_part_content_type_matches_the_attachment(
    client: TestClient, tenant: Tenant
) -> None:
    """Communication 1.5.2.s2.b2.b7: where a part parameter has a corresponding attachment
    property, both MUST match: the answer's part carries the attachment's contentType, its
    parameters included."""
    content = b"here is a simple attachment"
    kind = "text/plain; charset=ascii"
    body = _with_attachment(content, kind)
    sent = _post(client, tenant, _multipart(json.dumps(body).encode(), _part(content, kind)))
    assert sent.status_code == 200, sent.text
    read = _read(client, tenant, body["id"])
    assert f"Content-Type: {kind}\r\n".encode() in read.content


# ------------------------------------------------------------ the suite's own requests


def test_the_conformance_suites_signed_statement_body_is_accepted(
    client: TestClient, tenant: Tenant, key: rsa.RSAPrivateKey
) -> None:
    """The shape of helper.signStatement (lrs-conformance-test-suite test/helper.js): leading
    CRLF, unquoted boundary of dashes and digits, no space after header colons, no CRLF after
    the closing delimiter, JWS without x5c over the statement with its id."""
    data = statement("completed", timestamp=utcnow().isoformat())
    token = _jws({"alg": "RS256"}, json.dumps(data).encode(), key)
    data["attachments"] = [_signature_attachment(token)]
    boundary = "-------------" + str(uuid.uuid4().int % 0xFFFFFFFF)
    body = (
        f"\r\n--{boundary}\r\nContent-Type:application/json\r\n\r\n".encode()
        + json.dumps(data).encode()
        + f"\r\n--{boundary}\r\nContent-Type:application/octet-stream\r\n"
        "Content-Transfer-Encoding:binary\r\n"
        f"X-Experience-API-Hash:{_sha(token)}\r\n\r\n".encode()
        + token
        + f"\r\n--{boundary}--".encode()
    )
    assert _post(client, tenant, body, boundary).status_code == 200


def test_put_with_multipart(client: TestClient, tenant: Tenant) -> None:
    content = b"here is a simple attachment"
    body = _with_attachment(content, "text/plain")
    statement_id = body.pop("id")
    headers = {**basic(tenant.live_key), "Content-Type": "multipart/mixed; boundary=xyzzy"}
    response = client.put(
        "/xapi/statements",
        params={"statementId": statement_id},
        content=_multipart(json.dumps(body).encode(), _part(content, "text/plain")),
        headers=headers,
    )
    assert response.status_code == 204, response.text
    assert content in _read(client, tenant, statement_id).content


# ------------------------------------------- attachment object types (validation.py, adjacent)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("sha2", 12345),  # XAPI-00103
        ("length", "should fail"),  # XAPI-00102
        ("usageType", "should fail"),  # XAPI-00107
        ("contentType", 999),  # XAPI-00105 (2.0 suite)
        ("fileUrl", "should fail"),  # XAPI-00104
        ("display", "should fail"),  # XAPI-00106
        ("description", 12345),  # XAPI-00106
    ],
)
def test_attachment_object_property_types_are_checked(field: str, value: Any) -> None:
    """The ADL suite's configs/attachments.js expects 400 for each (XAPI-00102 to 00107)."""
    from laurel.events.connectors.xapi.validation import check_statement

    body = _base()
    body["attachments"] = [
        {
            "usageType": "http://example.com/attachment-usage/test",
            "display": {"en-US": "A test attachment"},
            "contentType": "text/plain; charset=ascii",
            "length": 27,
            "sha2": "495395e777cd98da653df9615d09c0fd6bb2f8d4788394cd53c56a3bfdcd848a",
            "fileUrl": "http://over.there.com/file.txt",
            field: value,
        }
    ]
    assert check_statement(body), f"attachments[0].{field} = {value!r} was accepted"


def test_signed_payload_that_really_differs_is_refused(key: rsa.RSAPrivateKey) -> None:
    """What Data 2.3.1 does not excuse still counts: another verb, learner, score or object."""
    signed = _base()
    token = _jws({"alg": "RS256"}, json.dumps(signed).encode(), key)
    changes: list[Callable[[dict[str, Any]], None]] = [
        lambda s: s["verb"].update(id="http://adlnet.gov/expapi/verbs/passed"),
        lambda s: s["actor"].update(mbox="mailto:bo@example.com"),
        lambda s: s.update(result={"score": {"scaled": 0.5}}),
        lambda s: s["object"].update(id="https://lms.example.com/courses/OTHER"),
        lambda s: s.update(timestamp="2013-04-01T12:00:01Z"),
    ]
    for change in changes:
        sent = copy.deepcopy(signed)
        change(sent)
        with pytest.raises(attachments.AttachmentInvalid, match="differs"):
            _check_signed(sent, token)


def test_a_signed_payload_with_an_odd_object_type_is_refused_not_a_crash(
    key: rsa.RSAPrivateKey,
) -> None:
    """The JWS payload is compared, never validated: an objectType that is a list or an
    object makes it differ from the statement (400), not a TypeError."""
    kinds: list[Any] = [[], {"a": 1}]
    for kind in kinds:
        signed = _base()
        signed["object"]["objectType"] = kind
        token = _jws({"alg": "RS256"}, json.dumps(signed).encode(), key)
        with pytest.raises(attachments.AttachmentInvalid, match="differs"):
            _check_signed(_base(), token)
