"""Bad tokens are refused everywhere: expired, tampered, signed with the wrong key, and a
refresh token used twice (which also revokes its whole family), with identity's real
tokens and every service verifying them on its own."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import timedelta

import jwt
import pytest

from shared.auth import AUDIENCE, ISSUER, bearer
from shared.clock import manual_clock
from shared.errors import NotAuthenticated
from shared.testing import TokenMint
from tests.reliability.conftest import PASSWORD, wait_until

# one signed-in read per service: what a valid token may do, and a bad one may not
PROBES = {
    "identity": ("me", {}),
    "jobs": ("list_saved_searches", {}),
    "bidding": ("my_proposals", {}),
    "escrow": ("wallet", {}),
    "messaging": ("list_rooms", {}),
    "reputation": ("list_feedback", {"user_id": "someone"}),
}


def new_session(platform) -> dict:
    email = f"t-{uuid.uuid4().hex[:10]}@reliability.test"
    with platform.rpc() as rpc:
        rpc.identity.register(
            email=email, password=PASSWORD, display_name="Tess", roles=["freelancer"]
        )
        return rpc.identity.login(email=email, password=PASSWORD)


def probe(platform, service: str, token: str):
    method, args = PROBES[service]
    with platform.rpc(bearer(token)) as rpc:
        return getattr(getattr(rpc, service), method)(**args)


def assert_refused_everywhere(platform, token: str, tally, case: str) -> None:
    for service in PROBES:
        with pytest.raises(NotAuthenticated):
            probe(platform, service, token)
        tally.token_cases[case] += 1


def segments(token: str) -> list[str]:
    return token.split(".")


def b64(data: dict) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def unb64(segment: str) -> dict:
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


@pytest.fixture
def session(platform, world) -> dict:
    tokens = new_session(platform)
    # the services learn identity's current key on first sight of it (the matrix rotates it)
    for service in PROBES:
        wait_until(
            lambda s=service: probe(platform, s, tokens["access_token"]) is not None,
            what=f"{service} accepts a fresh token",
        )
    return tokens


def test_an_expired_token_is_refused_by_every_service(platform, session, tally):
    start = manual_clock.now()
    manual_clock.set(start + timedelta(minutes=15, seconds=1))
    try:
        assert_refused_everywhere(platform, session["access_token"], tally, "expired")
    finally:
        manual_clock.set(start)
    # and the same token is good again once the clock is back inside its lifetime
    assert probe(platform, "jobs", session["access_token"]) is not None


def test_a_tampered_token_is_refused_by_every_service(platform, world, session, tally):
    header, payload, signature = segments(session["access_token"])
    claims = unb64(payload)
    # claim to be the operator, keep the signature
    forged_claims = {**claims, "sub": world.uid("operator"), "roles": ["operator"]}
    assert_refused_everywhere(
        platform, f"{header}.{b64(forged_claims)}.{signature}", tally, "tampered"
    )
    # extend its life, keep the signature
    longer = {**claims, "exp": claims["exp"] + 86400}
    assert_refused_everywhere(platform, f"{header}.{b64(longer)}.{signature}", tally, "tampered")
    # flip one signature character
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    assert_refused_everywhere(platform, f"{header}.{payload}.{flipped}", tally, "tampered")
    # no signature at all: alg none
    unsigned = b64({"alg": "none", "typ": "JWT", "kid": unb64(header)["kid"]})
    assert_refused_everywhere(platform, f"{unsigned}.{payload}.", tally, "tampered")
    # not a token
    assert_refused_everywhere(platform, "not-a-jwt", tally, "tampered")


def test_a_token_signed_with_another_key_is_refused_by_every_service(
    platform, world, session, tally
):
    kid = unb64(segments(session["access_token"])[0])["kid"]
    claims = unb64(segments(session["access_token"])[1])
    stranger = TokenMint(kid=kid)  # a key identity never made, under identity's key id
    forged = jwt.encode(claims, stranger.private_key, algorithm="EdDSA", headers={"kid": kid})
    assert_refused_everywhere(platform, forged, tally, "wrong_key")
    # an unknown key id: the services ask identity, which does not know it either
    unknown = TokenMint(kid="not-identitys-key")
    assert_refused_everywhere(
        platform, unknown.token(world.uid("operator"), "operator"), tally, "wrong_key"
    )
    # a symmetric token keyed with identity's public key (algorithm confusion)
    public = next(k for k in (probe_keys(platform))["keys"] if k["kid"] == kid)
    confused = jwt.encode(
        {**claims, "iss": ISSUER, "aud": AUDIENCE},
        public["x"].encode(),
        algorithm="HS256",
        headers={"kid": kid},
    )
    assert_refused_everywhere(platform, confused, tally, "wrong_key")


def probe_keys(platform) -> dict:
    with platform.rpc() as rpc:
        return rpc.identity.public_keys()


def test_a_reused_refresh_token_is_refused_and_revokes_the_family(platform, session, tally):
    first = session["refresh_token"]
    with platform.rpc() as rpc:
        second = rpc.identity.refresh(refresh_token=first)
        assert second["refresh_token"] != first
        # the old refresh token again: refused, the whole session revoked
        with pytest.raises(NotAuthenticated) as reused:
            rpc.identity.refresh(refresh_token=first)
        assert reused.value.details == {"reason": "refresh_token_reused"}
        tally.token_cases["refresh_reused"] += 1
        # the refresh token the family had moved on to is dead too
        with pytest.raises(NotAuthenticated):
            rpc.identity.refresh(refresh_token=second["refresh_token"])
        tally.token_cases["refresh_family_revoked"] += 1
        # logging out with it ends nothing: the session is already over
        assert rpc.identity.logout(refresh_token=second["refresh_token"])["revoked"] is False
    # the expired refresh window: a fresh session's refresh token 31 days on
    later = new_session(platform)
    start = manual_clock.now()
    manual_clock.set(start + timedelta(days=31))
    try:
        with platform.rpc() as rpc, pytest.raises(NotAuthenticated):
            rpc.identity.refresh(refresh_token=later["refresh_token"])
        tally.token_cases["refresh_expired"] += 1
    finally:
        manual_clock.set(start)


def test_a_bearer_header_in_the_wrong_shape_is_refused(platform, session, tally):
    for authorization in (
        f"Basic {session['access_token']}",
        "Bearer ",
        f"Token {session['access_token']}",
    ):
        for service in ("jobs", "escrow", "identity"):
            method, args = PROBES[service]
            with platform.rpc({"authorization": authorization}) as rpc:
                with pytest.raises(NotAuthenticated):
                    getattr(getattr(rpc, service), method)(**args)
            tally.token_cases["malformed_header"] += 1
