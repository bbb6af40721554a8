"""Statements with attachment content: ``multipart/mixed`` requests and signed statements.

xAPI Communication 1.5.2: a request whose statements carry attachments without a ``fileUrl``
is ``multipart/mixed`` (RFC 2046). The first part is the statements (``application/json``);
every further part is one attachment's raw octets with ``X-Experience-API-Hash`` (its SHA-2)
and ``Content-Transfer-Encoding: binary``. Parts are matched to attachment objects by hash
and no other way. An attachment with neither a ``fileUrl`` nor a matching part, a part no
attachment names, or a part whose content does not hash to its header refuses the request.

Signed statements (Data 2.6) carry a JWS (compact serialization) as an attachment of usage
``http://adlnet.gov/expapi/attachments/signature``: its algorithm must be RS256/384/512, its
payload the statement as it was before the signature was added, and when its header holds an
X.509 chain (``x5c``) the signature must verify against the first certificate. Like the
specification, Laurel treats that check as catching mistakes, not as proof of who signed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from email.message import Message
from email.parser import BytesHeaderParser
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from laurel.events.connectors import strict_json
from laurel.events.connectors.xapi import compare
from laurel.kit.errors import AppError, BodyTooLarge

SIGNATURE = "http://adlnet.gov/expapi/attachments/signature"
MAX_BYTES = 32 * 1024 * 1024
"""Largest multipart request read (xAPI lets an LRS refuse larger ones, Communication 1.5.2)."""
_HASHES = {56: hashlib.sha224, 64: hashlib.sha256, 96: hashlib.sha384, 128: hashlib.sha512}
_ALGORITHMS: dict[str, Callable[[], hashes.HashAlgorithm]] = {
    "RS256": hashes.SHA256,
    "RS384": hashes.SHA384,
    "RS512": hashes.SHA512,
}


class AttachmentInvalid(AppError):
    status = 400
    code = "invalid_attachment"


@dataclass(frozen=True, slots=True)
class Part:
    """One attachment part: its declared hash (lower case), content type and octets."""

    sha2: str
    content_type: str
    content: bytes


def parse(content_type: str, body: bytes) -> tuple[bytes, dict[str, Part]]:
    """Split a ``multipart/mixed`` request into the statements' JSON and its parts by hash."""
    if len(body) > MAX_BYTES:
        raise BodyTooLarge(f"the request is {len(body)} bytes; at most {MAX_BYTES} are read")
    boundary = _boundary(content_type)
    parts = _split(body, boundary)
    if not parts:
        raise AttachmentInvalid("the multipart body holds no parts")
    first_headers, first = parts[0]
    first_type = first_headers.get_content_type()
    if first_type != "application/json":
        raise AttachmentInvalid(
            f"the first part must be the statements as application/json (got {first_type})"
        )
    found: dict[str, Part] = {}
    for number, (headers, content) in enumerate(parts[1:], 2):
        part = _part(number, headers, content)
        found.setdefault(part.sha2, part)
    return first, found


def _boundary(content_type: str) -> str:
    message = Message()
    message["content-type"] = content_type
    boundary = message.get_param("boundary")
    if not isinstance(boundary, str) or not boundary:
        raise AttachmentInvalid("multipart/mixed needs a boundary parameter in Content-Type")
    if len(boundary) > 70 or not boundary.isascii():
        # RFC 2046 §5.1.1: 1 to 70 characters of a subset of ASCII.
        raise AttachmentInvalid("the multipart boundary must be 1 to 70 ASCII characters")
    return boundary


def _split(body: bytes, boundary: str) -> list[tuple[Message, bytes]]:
    """RFC 2046 §5.1.1: parts sit between ``CRLF--boundary`` lines; the last ends with ``--``.

    The first delimiter may open the body without a CRLF before it, and text before it (the
    preamble) or after the closing one (the epilogue) is ignored.
    """
    delimiter = b"--" + boundary.encode("ascii")
    text = b"\r\n" + body
    pieces = text.split(b"\r\n" + delimiter)
    if len(pieces) < 2:
        raise AttachmentInvalid(f"the body has no part delimited by --{boundary}")
    parts: list[tuple[Message, bytes]] = []
    closed = False
    for piece in pieces[1:]:
        if piece.startswith(b"--"):
            closed = True
            break
        # The rest of the delimiter line (transport padding) ends at its CRLF.
        line_end = piece.find(b"\r\n")
        if line_end < 0 or piece[:line_end].strip(b" \t"):
            raise AttachmentInvalid("a part delimiter line carries text after the boundary")
        raw = piece[line_end + 2 :]
        head_end = raw.find(b"\r\n\r\n")
        if raw.startswith(b"\r\n"):
            head, content = b"", raw[2:]
        elif head_end >= 0:
            head, content = raw[:head_end], raw[head_end + 4 :]
        else:
            raise AttachmentInvalid(f"part {len(parts) + 1} has no blank line after its headers")
        parts.append((BytesHeaderParser().parsebytes(head + b"\r\n\r\n"), content))
    if not closed:
        raise AttachmentInvalid(f"the body does not end with the closing --{boundary}--")
    return parts


def _part(number: int, headers: Message, content: bytes) -> Part:
    declared = str(headers.get("X-Experience-API-Hash") or "").strip().lower()
    if not declared:
        raise AttachmentInvalid(f"part {number} has no X-Experience-API-Hash header")
    sent_encoding = headers.get("Content-Transfer-Encoding")
    # Senders must name it (Communication 1.5.2); an LRS should assume binary when they do not.
    encoding = None if sent_encoding is None else str(sent_encoding)
    if encoding is not None and encoding.strip().lower() != "binary":
        raise AttachmentInvalid(
            f"part {number} has Content-Transfer-Encoding {encoding.strip()!r}; "
            "attachment parts are sent as binary"
        )
    algorithm = _HASHES.get(len(declared))
    if algorithm is None or algorithm(content).hexdigest() != declared:
        raise AttachmentInvalid(
            f"part {number}: its content does not hash to its X-Experience-API-Hash {declared}"
        )
    return Part(declared, headers.get_content_type(), content)


def check(statements: list[dict[str, Any]], parts: dict[str, Part]) -> list[list[Part]]:
    """Match every attachment to its part; check signatures. Answers each statement's parts.

    ``parts`` is empty for an ``application/json`` request, where every attachment needs a
    ``fileUrl``. Raises :class:`AttachmentInvalid` naming the statement and attachment.
    """
    used: set[str] = set()
    mine: list[list[Part]] = []
    multiple = len(statements) > 1
    for index, statement in enumerate(statements):
        where = f"statement {index}: " if multiple else ""
        own: list[Part] = []
        for number, attachment in enumerate(statement.get("attachments") or []):
            sha2 = str(attachment["sha2"]).lower()
            part = parts.get(sha2)
            name = f"{where}attachments[{number}]"
            if part is None:
                if attachment.get("usageType") == SIGNATURE:
                    raise AttachmentInvalid(
                        f"{name} is a signature: its JWS must be sent as a part with "
                        f"X-Experience-API-Hash {sha2}"
                    )
                if "fileUrl" not in attachment:
                    how = "a multipart/mixed part" if parts else "multipart/mixed with a part"
                    raise AttachmentInvalid(
                        f"{name} has no fileUrl: send its content as {how} whose "
                        f"X-Experience-API-Hash is {sha2}"
                    )
                continue
            used.add(sha2)
            if all(p.sha2 != sha2 for p in own):
                # Kept under the attachment's own contentType: a part's header must match it
                # (Communication 1.5.2) and is what a reader of the statement expects back.
                own.append(Part(sha2, str(attachment["contentType"]), part.content))
            if attachment.get("usageType") == SIGNATURE:
                _check_signature(statement, attachment, part, name)
        mine.append(own)
    unused = sorted(set(parts) - used)
    if unused:
        raise AttachmentInvalid(
            f"the part with X-Experience-API-Hash {unused[0]} matches no attachment's sha2"
        )
    return mine


def _check_signature(
    statement: dict[str, Any], attachment: dict[str, Any], part: Part, name: str
) -> None:
    if attachment.get("contentType") != "application/octet-stream":
        raise AttachmentInvalid(f"{name}: a signature's contentType is application/octet-stream")
    try:
        token = part.content.decode("ascii").strip()
    except UnicodeDecodeError:
        raise AttachmentInvalid(f"{name}: the signature is not a JWS") from None
    pieces = token.split(".")
    if len(pieces) != 3:
        raise AttachmentInvalid(
            f"{name}: the signature is not a JWS in compact serialization (header.payload.sig)"
        )
    try:
        header = strict_json.loads(_unbase64url(pieces[0]))
        payload = strict_json.loads(_unbase64url(pieces[1]))
        signature = _unbase64url(pieces[2])
    except (AppError, ValueError):
        raise AttachmentInvalid(f"{name}: the JWS header or payload is not base64 JSON") from None
    if not isinstance(header, dict) or header.get("alg") not in _ALGORITHMS:
        alg = header.get("alg") if isinstance(header, dict) else None
        raise AttachmentInvalid(f"{name}: the JWS algorithm is {alg!r}; use RS256, RS384 or RS512")
    if not isinstance(payload, dict) or not compare.equivalent(payload, statement):
        raise AttachmentInvalid(
            f"{name}: the signed statement differs from the statement sent with it"
        )
    chain = header.get("x5c")
    if chain is not None:
        _verify(chain, header["alg"], f"{pieces[0]}.{pieces[1]}".encode(), signature, name)


def _verify(chain: Any, alg: str, signed: bytes, signature: bytes, name: str) -> None:
    if not isinstance(chain, list) or not chain or not isinstance(chain[0], str):
        raise AttachmentInvalid(f"{name}: the JWS x5c is not a list of certificates")
    try:
        certificate = x509.load_der_x509_certificate(base64.b64decode(chain[0], validate=True))
    except (ValueError, binascii.Error):
        raise AttachmentInvalid(f"{name}: the first x5c certificate does not load") from None
    try:
        key = certificate.public_key()
    except (UnsupportedAlgorithm, ValueError):
        raise AttachmentInvalid(f"{name}: the x5c certificate's key cannot be read") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise AttachmentInvalid(f"{name}: the x5c certificate holds no RSA key for {alg}")
    try:
        key.verify(signature, signed, padding.PKCS1v15(), _ALGORITHMS[alg]())
    except InvalidSignature:
        raise AttachmentInvalid(
            f"{name}: the signature does not verify against its x5c certificate"
        ) from None


def _unbase64url(text: str) -> bytes:
    if not text or "=" in text:
        raise ValueError("base64url without padding expected")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def seal_form(parts: list[Part]) -> list[dict[str, str]] | None:
    """What is kept of a statement's parts (sealed with it); None when it had none."""
    if not parts:
        return None
    return [
        {
            "sha2": p.sha2,
            "contentType": p.content_type,
            "content": base64.b64encode(p.content).decode(),
        }
        for p in parts
    ]


def parts_of(kept: Any) -> list[Part]:
    """The parts of :func:`seal_form`, opened (none for a statement without, or erased)."""
    if not isinstance(kept, list):
        return []
    return [Part(p["sha2"], p["contentType"], base64.b64decode(p["content"])) for p in kept]


def multipart(statement_json: bytes, parts: list[Part], boundary: str) -> bytes:
    """The transmission format (Communication 1.5.2) of one statement and its parts."""
    out = [f"--{boundary}\r\nContent-Type: application/json\r\n\r\n".encode() + statement_json]
    for part in parts:
        out.append(
            (
                f"--{boundary}\r\nContent-Type: {part.content_type}\r\n"
                "Content-Transfer-Encoding: binary\r\n"
                f"X-Experience-API-Hash: {part.sha2}\r\n\r\n"
            ).encode()
            + part.content
        )
    return b"\r\n".join(out) + f"\r\n--{boundary}--\r\n".encode()
