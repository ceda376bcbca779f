"""Signing keys, rotation windows, JWKS and access tokens."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt
import pytest

from services.identity.domain import CONFIG_SEED, PRIVATE_EVENT_TYPES, SigningKeys
from services.identity.settings import IdentitySettings
from services.identity.tokens import (
    AUDIENCE,
    ISSUER,
    KeyRing,
    SigningKey,
    issue_access_token,
    public_keys,
    verify_access_token,
)
from shared.errors import Conflict, Forbidden, NotAuthenticated

from .conftest import SECOND, SETTINGS, T0, given, new_events, types

KEY_A = SigningKey.generate()
KEY_B = SigningKey.generate()
KEY_C = SigningKey.generate()
FIFTEEN_MINUTES = SETTINGS.access_token_lifetime
GRACE = SETTINGS.key_retirement_grace
OPERATOR = {"actor_id": "op-1", "actor_roles": ["operator"]}


def seeded(now=T0, settings=SETTINGS):
    keys = SigningKeys("identity")
    keys.rotate(new_key=KEY_A, actor_id=CONFIG_SEED, actor_roles=[], now=now, settings=settings)
    return new_events(keys)


def rotated(at, settings=SETTINGS):
    history = seeded()
    keys = given(SigningKeys, "identity", history)
    keys.rotate(new_key=KEY_B, now=at, settings=settings, **OPERATOR)
    return history + new_events(keys)


def issue(ring, now, **kw):
    return issue_access_token(
        ring,
        user_id="u-1",
        roles=["freelancer", "client"],
        session_id="s-1",
        now=now,
        lifetime=FIFTEEN_MINUTES,
        **kw,
    )


def test_seeding_records_the_first_key_privately():
    events = seeded()
    assert types(events) == ["SigningKeyActivated"]
    data = events[0].data
    assert data["kid"] == KEY_A.kid
    assert data["private_key_pem"].startswith("-----BEGIN PRIVATE KEY-----")
    assert data["previous_kid"] is None and data["previous_verify_until"] is None
    assert data["access_token_lifetime_seconds"] == 900
    assert data["retirement_grace_seconds"] == 60
    assert data["by"] == CONFIG_SEED
    assert "SigningKeyActivated" in PRIVATE_EVENT_TYPES
    keys = given(SigningKeys, "identity", events)
    assert keys.ring.current.kid == KEY_A.kid


def test_seeding_twice_and_rotation_by_non_operators_are_refused():
    keys = given(SigningKeys, "identity", seeded())
    with pytest.raises(Conflict):
        keys.rotate(new_key=KEY_B, actor_id=CONFIG_SEED, actor_roles=[], now=T0, settings=SETTINGS)
    with pytest.raises(Forbidden):
        keys.rotate(
            new_key=KEY_B, actor_id="u-1", actor_roles=["client"], now=T0, settings=SETTINGS
        )
    with pytest.raises(Conflict):
        keys.rotate(new_key=KEY_A, now=T0, settings=SETTINGS, **OPERATOR)


def test_rotation_records_how_long_the_old_key_stays():
    events = rotated(T0 + SECOND)
    data = events[-1].data
    assert data["kid"] == KEY_B.kid and data["previous_kid"] == KEY_A.kid
    assert data["previous_verify_until"] == (T0 + SECOND + FIFTEEN_MINUTES + GRACE).isoformat()


@pytest.mark.parametrize(
    ("offset", "published"),
    [(-SECOND, True), (0 * SECOND, False), (SECOND, False)],
    ids=["T-1s", "T", "T+1s"],
)
def test_old_key_is_published_until_its_last_token_expires(offset, published):
    keys = given(SigningKeys, "identity", rotated(T0))
    verify_until = T0 + FIFTEEN_MINUTES + GRACE
    kids = [k["kid"] for k in public_keys(keys.ring, verify_until + offset)["keys"]]
    assert kids[0] == KEY_B.kid
    assert (KEY_A.kid in kids) is published


def test_rotation_does_not_log_anyone_out():
    ring = KeyRing().rotate(KEY_A, T0, FIFTEEN_MINUTES)
    signed_just_before = issue(ring, T0 + FIFTEEN_MINUTES - SECOND)
    ring = ring.rotate(KEY_B, T0 + FIFTEEN_MINUTES, FIFTEEN_MINUTES, GRACE)
    last_valid = signed_just_before.expires_at - SECOND
    claims = verify_access_token(signed_just_before.token, ring.public_keys(last_valid), last_valid)
    assert claims["sub"] == "u-1"
    fresh = issue(ring, T0 + FIFTEEN_MINUTES)
    assert jwt.get_unverified_header(fresh.token)["kid"] == KEY_B.kid


def test_window_recorded_at_rotation_holds_after_settings_change():
    long_lived = IdentitySettings(access_token_lifetime=timedelta(hours=1))
    keys = given(SigningKeys, "identity", rotated(T0, settings=long_lived))
    still = T0 + timedelta(hours=1) + GRACE - SECOND
    assert len(public_keys(keys.ring, still)["keys"]) == 2


def test_rapid_rotations_keep_every_key_still_needed_and_drop_expired_ones():
    ring = KeyRing().rotate(KEY_A, T0, FIFTEEN_MINUTES)
    ring = ring.rotate(KEY_B, T0 + SECOND, FIFTEEN_MINUTES)
    ring = ring.rotate(KEY_C, T0 + 2 * SECOND, FIFTEEN_MINUTES)
    assert [k.kid for k in ring.verification_keys(T0 + 2 * SECOND)] == [
        KEY_C.kid,
        KEY_A.kid,
        KEY_B.kid,
    ]
    later = ring.rotate(KEY_A, T0 + FIFTEEN_MINUTES + 2 * SECOND, FIFTEEN_MINUTES)
    assert [r.key.kid for r in later.retired] == [KEY_C.kid]


def test_jwks_has_exactly_the_agreed_shape():
    ring = KeyRing().rotate(KEY_A, T0, FIFTEEN_MINUTES)
    jwks = public_keys(ring, T0)
    assert set(jwks) == {"keys"}
    (jwk,) = jwks["keys"]
    assert set(jwk) == {"kty", "crv", "x", "kid", "alg", "use"}
    assert (jwk["kty"], jwk["crv"], jwk["alg"], jwk["use"]) == ("OKP", "Ed25519", "EdDSA", "sig")
    assert "=" not in jwk["x"] and "d" not in jwk


def test_access_token_claims_and_header():
    ring = KeyRing().rotate(KEY_A, T0, FIFTEEN_MINUTES)
    token = issue(ring, T0.replace(microsecond=700_000), token_id="jti-1")
    assert jwt.get_unverified_header(token.token) == {
        "alg": "EdDSA",
        "kid": KEY_A.kid,
        "typ": "JWT",
    }
    iat = int(T0.timestamp())
    assert token.claims == {
        "sub": "u-1",
        "roles": ["client", "freelancer"],
        "sid": "s-1",
        "iat": iat,
        "exp": iat + 900,
        "jti": "jti-1",
        "iss": ISSUER,
        "aud": AUDIENCE,
    }
    assert token.expires_at == T0 + FIFTEEN_MINUTES


@pytest.mark.parametrize(
    ("offset", "valid"),
    [(-SECOND, True), (0 * SECOND, False), (SECOND, False)],
    ids=["T-1s", "T", "T+1s"],
)
def test_access_token_expiry_boundary(offset, valid):
    ring = KeyRing().rotate(KEY_A, T0, FIFTEEN_MINUTES)
    token = issue(ring, T0)
    at = T0 + FIFTEEN_MINUTES + offset
    if valid:
        assert verify_access_token(token.token, ring.public_keys(at), at)["sub"] == "u-1"
    else:
        with pytest.raises(NotAuthenticated, match="expired"):
            verify_access_token(token.token, ring.public_keys(at), at)


def test_tampered_unknown_key_and_wrong_audience_tokens_are_refused():
    ring = KeyRing().rotate(KEY_A, T0, FIFTEEN_MINUTES)
    jwks = ring.public_keys(T0)
    token = issue(ring, T0).token
    head, body, signature = token.split(".")
    forged_body = jwt.utils.base64url_encode(b'{"sub":"admin"}').decode()
    with pytest.raises(NotAuthenticated):
        verify_access_token(f"{head}.{forged_body}.{signature}", jwks, T0)
    other = issue(KeyRing().rotate(KEY_B, T0, FIFTEEN_MINUTES), T0).token
    with pytest.raises(NotAuthenticated, match="unknown key"):
        verify_access_token(other, jwks, T0)
    wrong_aud = jwt.encode(
        {"sub": "u", "aud": "elsewhere", "iss": ISSUER},
        KEY_A.private_key,
        algorithm="EdDSA",
        headers={"kid": KEY_A.kid},
    )
    with pytest.raises(NotAuthenticated):
        verify_access_token(wrong_aud, jwks, T0)
    with pytest.raises(NotAuthenticated, match="malformed"):
        verify_access_token("not a token", jwks, T0)


def test_plain_pyjwt_verifies_from_the_jwks_as_the_common_verifier_will():
    # The common verifier checks exp against the real clock, so this one test issues at the
    # real current time instead of a fixed one.
    now = datetime.now(UTC)
    ring = KeyRing().rotate(KEY_A, now, FIFTEEN_MINUTES)
    token = issue(ring, now).token
    jwks = jwt.PyJWKSet.from_dict(ring.public_keys(now))
    key = jwks[jwt.get_unverified_header(token)["kid"]]
    claims = jwt.decode(token, key.key, algorithms=["EdDSA"], audience=AUDIENCE, issuer=ISSUER)
    assert claims["roles"] == ["client", "freelancer"]


def test_keys_round_trip_through_pem():
    again = SigningKey.from_private_pem(KEY_A.private_pem())
    assert again.kid == KEY_A.kid
    public_only = SigningKey.from_public_pem(KEY_A.public_pem())
    assert public_only.kid == KEY_A.kid and public_only.private_key is None
    with pytest.raises(ValueError):
        public_only.private_pem()
    with pytest.raises(ValueError):
        KeyRing().rotate(public_only, T0, FIFTEEN_MINUTES)
    with pytest.raises(RuntimeError):
        KeyRing().signing_key()
