"""Signed chain heads: a statement, signed with the deployment's ed25519 key, that an
organization's chain had ``seq`` entries ending in ``hash`` at a point in time.

Someone outside the deployment keeps these statements. Later, with the public key and the
log (the database, or an export of it as JSON lines), anyone can recompute the chain and
check that entry ``seq`` still has that hash: any entry altered, removed or reordered up to
that point, or a chain rewritten from scratch with fresh hashes, no longer reaches it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy.orm import Session

from laurel.audit import service as audit
from laurel.audit.service import ChainCheck, ChainEntry
from laurel.kit.canonical import canonical_json
from laurel.kit.clock import utcnow
from laurel.kit.errors import Conflict, Invalid
from laurel.organizations import service as organizations

FORMAT = "laurel-audit-head/1"


class SigningKeyError(Invalid):
    code = "signing_key_invalid"


def generate_key() -> tuple[str, str]:
    """A new key pair: the private key as base64 (for ``LAUREL_AUDIT_SIGNING_KEY``) and the
    public key as PEM (to hand to whoever will verify)."""
    key = Ed25519PrivateKey.generate()
    raw = key.private_bytes(
        serialization.Encoding.Raw,
        serialization.PrivateFormat.Raw,
        serialization.NoEncryption(),
    )
    return base64.b64encode(raw).decode(), public_pem(key.public_key())


def public_pem(key: Ed25519PublicKey) -> str:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def key_id(key: Ed25519PublicKey) -> str:
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def load_private_key(text: str) -> Ed25519PrivateKey:
    """A PEM (PKCS #8) private key, or the base64 of its 32 raw bytes."""
    text = text.strip()
    try:
        if text.startswith("-----BEGIN"):
            key = serialization.load_pem_private_key(text.encode(), password=None)
            if not isinstance(key, Ed25519PrivateKey):
                raise SigningKeyError("the audit signing key is not an ed25519 key")
            return key
        return Ed25519PrivateKey.from_private_bytes(base64.b64decode(text, validate=True))
    except (ValueError, binascii.Error) as exc:
        raise SigningKeyError(f"the audit signing key cannot be read: {exc}") from None


def load_public_key(text: str) -> Ed25519PublicKey:
    """A PEM public key, the base64 of its DER form (the PEM's body), or of its 32 raw bytes."""
    text = text.strip()
    try:
        if text.startswith("-----BEGIN"):
            key = serialization.load_pem_public_key(text.encode())
            if not isinstance(key, Ed25519PublicKey):
                raise SigningKeyError("the public key is not an ed25519 key")
            return key
        raw = base64.b64decode(text, validate=True)
        if len(raw) == 32:
            return Ed25519PublicKey.from_public_bytes(raw)
        der = serialization.load_der_public_key(raw)
        if not isinstance(der, Ed25519PublicKey):
            raise SigningKeyError("the public key is not an ed25519 key")
        return der
    except (ValueError, binascii.Error) as exc:
        raise SigningKeyError(f"the public key cannot be read: {exc}") from None


def _payload(document: dict[str, Any]) -> bytes:
    return canonical_json({k: v for k, v in document.items() if k != "signature"}).encode()


def sign_head(
    key: Ed25519PrivateKey,
    *,
    organization_id: uuid.UUID,
    organization: str,
    seq: int,
    hash_: str,
    signed_at: datetime,
) -> dict[str, Any]:
    document: dict[str, Any] = {
        "format": FORMAT,
        "organization_id": str(organization_id),
        "organization": organization,
        "seq": seq,
        "hash": hash_,
        "signed_at": signed_at.isoformat(timespec="seconds"),
        "key_id": key_id(key.public_key()),
    }
    document["signature"] = base64.b64encode(key.sign(_payload(document))).decode()
    return document


@dataclass(frozen=True, slots=True)
class SignedHead:
    organization_id: uuid.UUID
    organization: str
    seq: int
    hash: str
    signed_at: str


class HeadInvalid(Invalid):
    code = "audit_head_invalid"


def check_signature(document: dict[str, Any], key: Ed25519PublicKey) -> SignedHead:
    """The head the document states, once its signature holds under ``key``."""
    try:
        if document.get("format") != FORMAT:
            raise HeadInvalid(f"not a {FORMAT} document")
        signature = base64.b64decode(str(document["signature"]), validate=True)
        key.verify(signature, _payload(document))
        return SignedHead(
            organization_id=uuid.UUID(str(document["organization_id"])),
            organization=str(document["organization"]),
            seq=int(document["seq"]),
            hash=str(document["hash"]),
            signed_at=str(document["signed_at"]),
        )
    except InvalidSignature:
        raise HeadInvalid(
            "the signature does not hold: the document was changed or signed by another key"
        ) from None
    except (KeyError, ValueError, binascii.Error) as exc:
        raise HeadInvalid(f"malformed signed head: {exc}") from None


@dataclass(frozen=True, slots=True)
class HeadCheck:
    ok: bool
    head_seq: int
    entries: int
    """Entries of the chain that verified (may go beyond the signed head)."""
    reason: str | None = None


def check_head(head: SignedHead, entries: Iterable[ChainEntry]) -> HeadCheck:
    """Recompute the chain over ``entries`` (in order) and check it reaches the signed head."""
    hashes = {head.seq: ""}
    check = ChainCheck(head.organization_id, hashes=hashes)
    for entry in entries:
        if not check.feed(entry):
            break
    if check.broken_seq is not None and check.broken_seq <= head.seq:
        return HeadCheck(
            False,
            head.seq,
            check.entries,
            f"entry {check.broken_seq} breaks the chain: {check.reason}",
        )
    if head.seq > 0 and check.entries < head.seq:
        return HeadCheck(
            False,
            head.seq,
            check.entries,
            f"the signed head has {head.seq} entries but only {check.entries} remain "
            "(entries were removed)",
        )
    if head.seq > 0 and hashes[head.seq] != head.hash:
        return HeadCheck(
            False,
            head.seq,
            check.entries,
            f"entry {head.seq} does not have the signed hash (the chain was rewritten)",
        )
    if check.broken_seq is not None:
        return HeadCheck(
            False,
            head.seq,
            check.entries,
            f"entries up to the signed head hold, but entry {check.broken_seq} after it "
            f"breaks the chain: {check.reason}",
        )
    return HeadCheck(True, head.seq, check.entries)


@dataclass(frozen=True, slots=True)
class ExportedEntry:
    """An entry read back from a JSON lines export."""

    seq: int
    actor: str
    action: str
    target_type: str
    target_id: str
    details: dict[str, Any]
    created_at: datetime
    prev_hash: str
    hash: str


def read_export(stream: IO[str], organization_id: uuid.UUID) -> Iterator[ExportedEntry]:
    """The entries of one organization from an export (`laurel audit export --format jsonl`)."""
    for number, line in enumerate(stream, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            if uuid.UUID(str(row["organization_id"])) != organization_id:
                continue
            yield ExportedEntry(
                seq=int(row["seq"]),
                actor=row["actor"],
                action=row["action"],
                target_type=row["target_type"],
                target_id=row["target_id"],
                details=row["details"],
                created_at=datetime.fromisoformat(row["created_at"]),
                prev_hash=row["prev_hash"],
                hash=row["hash"],
            )
        except (KeyError, ValueError, TypeError) as exc:
            raise HeadInvalid(f"export line {number} is not an audit entry: {exc}") from None


class ChainBroken(Conflict):
    code = "audit_chain_broken"


def export_head(
    session: Session, organization_id: uuid.UUID, key: Ed25519PrivateKey, *, actor: str
) -> dict[str, Any]:
    """Sign the organization's current head, after checking the whole chain up to it.

    The head's row lock is held while the chain is read, so no entry is appended between the
    check and the signature. A broken chain is never signed. The export is itself audited (as
    the next entry, after the signed head).
    """
    organization = organizations.get(session, organization_id)
    seq, hash_ = audit.lock_head(session, organization_id)
    result = audit.verify_chain(session, organization_id)
    if not result.ok:
        raise ChainBroken(
            f"the chain breaks at entry {result.broken_seq} ({result.reason}); "
            "a broken chain is not signed"
        )
    document = sign_head(
        key,
        organization_id=organization_id,
        organization=organization.slug,
        seq=seq,
        hash_=hash_,
        signed_at=utcnow(),
    )
    audit.record(
        session,
        organization_id=organization_id,
        actor=actor,
        action="audit:head:export",
        target_type="audit_head",
        target_id=organization_id,
        details={"seq": seq, "hash": hash_, "key_id": document["key_id"]},
    )
    return document


def verify_head(session: Session, document: dict[str, Any], key: Ed25519PublicKey) -> HeadCheck:
    """Check a signed head against the database's chain."""
    head = check_signature(document, key)
    return check_head(head, audit.entries(session, head.organization_id))
