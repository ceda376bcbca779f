"""Token verification as every service does it, with no call to identity."""

from __future__ import annotations

import base64
import json

import jwt
import pytest

from shared.auth import KeySet, TokenVerifier
from shared.clock import ManualClock
from shared.errors import Forbidden, NotAuthenticated
from shared.testing import TokenMint


@pytest.fixture
def clock():
    return ManualClock()


@pytest.fixture
def mint(clock):
    return TokenMint(clock)


@pytest.fixture
def verifier(mint, clock):
    return TokenVerifier(KeySet(jwks=mint.jwks()), clock)


def test_a_valid_token_gives_the_caller(verifier, mint):
    caller = verifier.caller(
        "Bearer " + mint.token("u-1", "client", "freelancer", "wizard", sid="s-1")
    )
    assert caller.user_id == "u-1"
    assert caller.roles == {"client", "freelancer"}  # unknown roles are dropped
    assert caller.session_id == "s-1"
    caller.require_role("client")
    with pytest.raises(Forbidden):
        caller.require_role("operator")
    caller.require_user("u-1", "u-2")
    with pytest.raises(Forbidden):
        caller.require_user("u-3")


def test_no_token_is_the_anonymous_caller(verifier):
    assert verifier.caller(None).is_anonymous


def test_expiry_is_judged_by_the_injected_clock(verifier, mint, clock):
    token = mint.token("u-1", "client", ttl=60)
    clock.advance(seconds=59)
    assert verifier.caller("Bearer " + token).user_id == "u-1"
    clock.advance(seconds=1)
    with pytest.raises(NotAuthenticated, match="expired"):
        verifier.caller("Bearer " + token)


def test_a_tampered_token_is_refused(verifier, mint):
    header, payload, signature = mint.token("u-1", "client").split(".")
    claims = jwt.decode(mint.token("u-1", "client"), options={"verify_signature": False})
    claims["roles"] = ["operator"]
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    with pytest.raises(NotAuthenticated, match="invalid token"):
        verifier.caller(f"Bearer {header}.{forged}.{signature}")


def test_a_token_signed_by_an_unknown_key_is_refused(verifier, clock):
    stranger = TokenMint(clock, kid="stranger")
    with pytest.raises(NotAuthenticated, match="unknown key"):
        verifier.caller("Bearer " + stranger.token("u-1", "operator"))
    impostor = TokenMint(clock, kid="test-key")  # same key id, different key
    with pytest.raises(NotAuthenticated, match="invalid token"):
        verifier.caller("Bearer " + impostor.token("u-1", "operator"))


def test_wrong_issuer_or_audience_is_refused(verifier, mint):
    for claims in ({"iss": "somebody-else"}, {"aud": "another-platform"}):
        with pytest.raises(NotAuthenticated):
            verifier.caller("Bearer " + mint.token("u-1", "client", **claims))


def test_malformed_headers_are_refused(verifier):
    for value in ("Basic abc", "Bearer ", "Bearer not.a.jwt", "token"):
        with pytest.raises(NotAuthenticated):
            verifier.caller(value)


def test_a_suspended_user_is_refused(verifier, mint):
    with pytest.raises(NotAuthenticated, match="suspended"):
        verifier.caller(
            "Bearer " + mint.token("u-9", "client"), is_suspended=lambda uid: uid == "u-9"
        )


def test_unknown_key_ids_fetch_the_key_set_again_at_most_so_often(mint, clock):
    fetched = []

    def fetch():
        fetched.append(1)
        return mint.jwks()

    verifier = TokenVerifier(KeySet(fetch=fetch, min_interval=3600), clock)
    assert verifier.caller("Bearer " + mint.token("u-1", "client")).user_id == "u-1"
    stranger = TokenMint(clock, kid="rotated-in-later")
    for _ in range(5):
        with pytest.raises(NotAuthenticated):
            verifier.caller("Bearer " + stranger.token("u-1", "client"))
    assert len(fetched) == 1


def test_a_remembered_token_still_expires_by_the_clock(verifier, mint, clock):
    token = "Bearer " + mint.token("u-1", "client", ttl=60)
    assert verifier.caller(token).user_id == "u-1"
    assert verifier.caller(token).user_id == "u-1"  # from the cache
    clock.advance(seconds=60)
    with pytest.raises(NotAuthenticated, match="expired"):
        verifier.caller(token)


def test_the_signature_is_checked_once_per_token_and_refusals_are_not_remembered(
    mint, clock, monkeypatch
):
    verifier = TokenVerifier(KeySet(jwks=mint.jwks()), clock, cache_size=2)
    decoded = []
    real_decode = jwt.decode
    monkeypatch.setattr(jwt, "decode", lambda *a, **k: decoded.append(1) or real_decode(*a, **k))
    first, second, third = (mint.token(f"u-{n}", "client") for n in (1, 2, 3))
    for _ in range(3):
        verifier.caller("Bearer " + first)
    assert len(decoded) == 1
    verifier.caller("Bearer " + second)
    verifier.caller("Bearer " + first)  # first is now the most recently used
    verifier.caller("Bearer " + third)  # over the size of 2: second goes
    assert len(decoded) == 3
    verifier.caller("Bearer " + first)
    assert len(decoded) == 3
    verifier.caller("Bearer " + second)
    assert len(decoded) == 4
    header, payload, signature = first.split(".")
    forged = f"{header}.{payload}.{signature[:-4]}AAAA"
    for _ in range(2):
        with pytest.raises(NotAuthenticated, match="invalid token"):
            verifier.caller("Bearer " + forged)
    assert len(decoded) == 6
