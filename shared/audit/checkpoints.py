"""Signed checkpoints of a log's chain head.

A checkpoint says "at ``taken_at`` the log of ``service`` had ``position`` events and the
chain hash ``hash`` there", signed with the auditor's Ed25519 key. The chain is a hash of
everything before it, so a later log whose hash at ``position`` still equals the signed one
has only grown since; one that is shorter was truncated, one whose hash differs was rewritten.

The key is a 32-byte seed in hex (``AUDIT_SIGNING_KEY``); its public half verifies, and
``key_id`` names it (the first 16 hex digits of the SHA-256 of the public key).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import psycopg
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from shared.eventstore.hashing import GENESIS_HASH, canonical_time

_DOMAIN = b"marketplace-audit-checkpoint\x00"


@dataclass(frozen=True)
class Checkpoint:
    service: str
    position: int
    hash: bytes
    taken_at: datetime
    key_id: str
    signature: bytes

    def message(self) -> bytes:
        return signed_message(self.service, self.position, self.hash, self.taken_at)


def signed_message(service: str, position: int, head: bytes, taken_at: datetime) -> bytes:
    """The bytes a checkpoint's signature covers."""
    return b"".join(
        [
            _DOMAIN,
            service.encode(),
            b"\x00",
            position.to_bytes(8, "big"),
            head,
            canonical_time(taken_at).encode(),
        ]
    )


def key_id_of(public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


class CheckpointSigner:
    """Signs checkpoints with one Ed25519 key."""

    def __init__(self, private_key: Ed25519PrivateKey):
        self.private_key = private_key
        self.public_key = private_key.public_key()
        self.key_id = key_id_of(self.public_key)

    @classmethod
    def from_seed(cls, seed_hex: str) -> CheckpointSigner:
        return cls(Ed25519PrivateKey.from_private_bytes(bytes.fromhex(seed_hex)))

    @classmethod
    def from_env(cls) -> CheckpointSigner:
        seed = os.environ.get("AUDIT_SIGNING_KEY")
        if not seed:
            raise RuntimeError("AUDIT_SIGNING_KEY (a 32-byte Ed25519 seed in hex) is not set")
        return cls.from_seed(seed)

    def sign(self, service: str, position: int, head: bytes, taken_at: datetime) -> Checkpoint:
        signature = self.private_key.sign(signed_message(service, position, head, taken_at))
        return Checkpoint(service, position, head, taken_at, self.key_id, signature)


def signature_ok(checkpoint: Checkpoint, keys: Iterable[Ed25519PublicKey]) -> bool:
    """True if one of ``keys`` (matched by key id) signed ``checkpoint``."""
    for key in keys:
        if key_id_of(key) != checkpoint.key_id:
            continue
        try:
            key.verify(checkpoint.signature, checkpoint.message())
            return True
        except InvalidSignature:
            return False
    return False


def take_checkpoint(
    conn: psycopg.Connection, service: str, signer: CheckpointSigner, taken_at: datetime
) -> Checkpoint:
    """Sign the log's current head and store it in ``audit_checkpoints``.

    The head is re-read from the log, not trusted from elsewhere; run ``verify`` first if
    the checkpoint is to vouch for the whole chain.
    """
    row = conn.execute(
        "SELECT position, hash FROM events ORDER BY position DESC LIMIT 1"
    ).fetchone()
    position, head = (row[0], bytes(row[1])) if row else (0, GENESIS_HASH)
    checkpoint = signer.sign(service, position, head, taken_at)
    conn.execute(
        "INSERT INTO audit_checkpoints (service, position, hash, taken_at, key_id, signature)"
        " VALUES (%s, %s, %s, %s, %s, %s)",
        (service, position, head, taken_at, checkpoint.key_id, checkpoint.signature),
    )
    return checkpoint


def stored_checkpoints(conn: psycopg.Connection, service: str) -> list[Checkpoint]:
    rows = conn.execute(
        "SELECT service, position, hash, taken_at, key_id, signature FROM audit_checkpoints"
        " WHERE service = %s ORDER BY position, id",
        (service,),
    ).fetchall()
    return [Checkpoint(s, p, bytes(h), t, k, bytes(sig)) for s, p, h, t, k, sig in rows]
