"""Access tokens: Ed25519 signing keys, the key ring that rotates them, issuing and JWKS.

Access tokens are EdDSA JWTs with the key id in the header (``kid``) and the claims ``sub``,
``roles``, ``sid`` (the session, so logout works from the access token alone), ``iat``,
``exp``, ``jti``, ``iss`` and ``aud``. Other services verify them from ``public_keys()`` (a
JWKS) with PyJWT, with no call to identity per request.

Rotation keeps every retired key published until the last token it signed has expired (plus a
small grace for clock skew), so rotating never logs anyone out.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from shared.errors import NotAuthenticated

ISSUER = "marketplace-identity"
AUDIENCE = "marketplace"
ALGORITHM = "EdDSA"
REQUIRED_CLAIMS = ("sub", "roles", "iat", "exp", "jti", "iss", "aud")


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class SigningKey:
    """An Ed25519 key pair (or a public key alone, for verification) and its key id.

    The key id is the RFC 7638 thumbprint of the public key, so it is stable across restarts
    and the same key always gets the same id.
    """

    kid: str
    public_key: Ed25519PublicKey
    private_key: Ed25519PrivateKey | None = None

    @classmethod
    def generate(cls) -> SigningKey:
        """A fresh key pair from the operating system's random source."""
        return cls.from_private_key(Ed25519PrivateKey.generate())

    @classmethod
    def from_private_key(cls, private_key: Ed25519PrivateKey) -> SigningKey:
        public_key = private_key.public_key()
        return cls(kid=_thumbprint(public_key), public_key=public_key, private_key=private_key)

    @classmethod
    def from_private_pem(cls, pem: str) -> SigningKey:
        """Load a key pair stored with ``private_pem()``."""
        key = serialization.load_pem_private_key(pem.encode("ascii"), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError("not an Ed25519 private key")
        return cls.from_private_key(key)

    @classmethod
    def from_public_pem(cls, pem: str) -> SigningKey:
        """Load a verification-only key stored with ``public_pem()``."""
        key = serialization.load_pem_public_key(pem.encode("ascii"))
        if not isinstance(key, Ed25519PublicKey):
            raise ValueError("not an Ed25519 public key")
        return cls(kid=_thumbprint(key), public_key=key)

    def private_pem(self) -> str:
        """PKCS#8 PEM of the private key, unencrypted: it lives in a private event."""
        if self.private_key is None:
            raise ValueError(f"key {self.kid} has no private part")
        return self.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode("ascii")

    def public_pem(self) -> str:
        return self.public_key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode("ascii")

    def public_jwk(self) -> dict:
        """The public key as a JWK (RFC 8037), the form PyJWT's PyJWK reads."""
        return {
            "kty": "OKP",
            "crv": "Ed25519",
            "x": _b64url(_raw_public(self.public_key)),
            "kid": self.kid,
            "alg": ALGORITHM,
            "use": "sig",
        }


def _raw_public(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _thumbprint(public_key: Ed25519PublicKey) -> str:
    # RFC 7638: SHA-256 over the required members in lexicographic order, no whitespace.
    members = {"crv": "Ed25519", "kty": "OKP", "x": _b64url(_raw_public(public_key))}
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True)
    return _b64url(hashlib.sha256(canonical.encode("ascii")).digest())


@dataclass(frozen=True)
class RetiredKey:
    """A key no longer signing, still published until ``verify_until``."""

    key: SigningKey
    retired_at: datetime
    verify_until: datetime


@dataclass(frozen=True)
class KeyRing:
    """The current signing key and the retired keys still needed for verification."""

    current: SigningKey | None = None
    retired: tuple[RetiredKey, ...] = ()

    def rotate(
        self,
        new_key: SigningKey,
        now: datetime,
        access_token_lifetime: timedelta,
        grace: timedelta = timedelta(0),
    ) -> KeyRing:
        """A ring signing with ``new_key`` from ``now``.

        The key it replaces stays verifiable until ``now + access_token_lifetime + grace``:
        it signed its last token before ``now``, and that token expires before then.
        Retired keys whose window has closed by ``now`` are dropped.
        """
        if new_key.private_key is None:
            raise ValueError("a signing key needs its private part")
        if self.current is not None and new_key.kid == self.current.kid:
            raise ValueError("the new key is the current key")
        retired = [r for r in self.retired if now < r.verify_until and r.key.kid != new_key.kid]
        if self.current is not None:
            until = now + access_token_lifetime + grace
            retired.append(RetiredKey(self.current, retired_at=now, verify_until=until))
        return KeyRing(current=new_key, retired=tuple(retired))

    def verification_keys(self, now: datetime) -> list[SigningKey]:
        """The keys a token may be signed with at ``now``: current first, then retired."""
        keys = [self.current] if self.current is not None else []
        return keys + [r.key for r in self.retired if now < r.verify_until]

    def public_keys(self, now: datetime) -> dict:
        """The JWKS other services verify with: ``{"keys": [jwk, ...]}``."""
        return {"keys": [key.public_jwk() for key in self.verification_keys(now)]}

    def signing_key(self) -> SigningKey:
        if self.current is None:
            raise RuntimeError("the key ring has no signing key yet; rotate once first")
        return self.current


def public_keys(ring: KeyRing, now: datetime) -> dict:
    """The JWKS of ``ring`` at ``now`` (current and still-valid retired keys)."""
    return ring.public_keys(now)


@dataclass(frozen=True)
class AccessToken:
    token: str
    claims: dict
    kid: str
    expires_at: datetime


def issue_access_token(
    ring: KeyRing,
    *,
    user_id: str,
    roles: list[str],
    session_id: str,
    now: datetime,
    lifetime: timedelta,
    token_id: str | None = None,
) -> AccessToken:
    """Sign an access token for ``user_id`` with the ring's current key.

    ``iat`` is ``now`` in whole seconds and ``exp`` is ``iat + lifetime``; ``token_id``
    (the ``jti``) is a random UUID unless given.
    """
    key = ring.signing_key()
    issued_at = int(now.timestamp())
    expires = issued_at + int(lifetime.total_seconds())
    claims = {
        "sub": user_id,
        "roles": sorted(roles),
        "sid": session_id,
        "iat": issued_at,
        "exp": expires,
        "jti": token_id or str(uuid.uuid4()),
        "iss": ISSUER,
        "aud": AUDIENCE,
    }
    token = jwt.encode(claims, key.private_key, algorithm=ALGORITHM, headers={"kid": key.kid})
    return AccessToken(
        token=token,
        claims=claims,
        kid=key.kid,
        expires_at=datetime.fromtimestamp(expires, tz=UTC),
    )


def verify_access_token(token: str, jwks: dict, now: datetime) -> dict:
    """The claims of ``token`` if a key in ``jwks`` signed it and it is valid at ``now``.

    Mirrors what the common verifier checks (signature, ``iss``, ``aud``, ``exp``), with the
    time passed in: a token is expired from its ``exp`` second on. Raises NotAuthenticated.
    """
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise NotAuthenticated("malformed access token") from None
    match = [k for k in jwks.get("keys", []) if k.get("kid") == header.get("kid")]
    if not match:
        raise NotAuthenticated("access token signed by an unknown key")
    try:
        claims = jwt.decode(
            token,
            jwt.PyJWK(match[0]).key,
            algorithms=[ALGORITHM],
            audience=AUDIENCE,
            issuer=ISSUER,
            options={"verify_exp": False, "verify_iat": False, "require": list(REQUIRED_CLAIMS)},
        )
    except jwt.PyJWTError as exc:
        raise NotAuthenticated(f"invalid access token: {exc}") from None
    if now.timestamp() >= claims["exp"]:
        raise NotAuthenticated("access token expired")
    return claims


def new_refresh_token(session_id: str) -> str:
    """An opaque refresh token ``<session id>.<256 random bits>``.

    The session id in front lets the service find the session's stream without an index;
    only ``token_digest`` of the whole token is ever recorded.
    """
    return f"{session_id}.{secrets.token_urlsafe(32)}"


def session_of_refresh_token(token: str) -> str:
    """The session id a refresh token names; NotAuthenticated when it has none."""
    session_id, dot, secret = token.partition(".")
    if not dot or not session_id or not secret:
        raise NotAuthenticated("malformed refresh token")
    return session_id


def new_email_code() -> str:
    """A one-time email verification code (128 random bits, URL-safe)."""
    return secrets.token_urlsafe(16)


def token_digest(token: str) -> str:
    """SHA-256 hex of a secret token: what events record instead of the token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
