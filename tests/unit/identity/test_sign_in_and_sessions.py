"""Signing in, refresh-token rotation and reuse detection, logout."""

from __future__ import annotations

import pytest

from services.identity.domain import (
    PRIVATE_EVENT_TYPES,
    RefreshTokenReused,
    Session,
    User,
)
from services.identity.passwords import PasswordHasher
from services.identity.settings import IdentitySettings
from services.identity.tokens import (
    new_refresh_token,
    session_of_refresh_token,
    token_digest,
)
from shared.errors import Conflict, Forbidden, NotAuthenticated, NotFound

from .conftest import (
    GOOD_PASSWORD,
    HASHER,
    SECOND,
    SETTINGS,
    T0,
    given,
    new_events,
    register_events,
    types,
)

THIRTY_DAYS = SETTINGS.refresh_token_lifetime


def suspended_events():
    user = given(User, "u-1", register_events())
    user.suspend(actor_id="op-1", actor_roles=["operator"], reason="fraud", now=T0)
    return register_events() + user.take_pending()


def test_sign_in_with_the_right_password_records_nothing():
    user = given(User, "u-1", register_events())
    user.sign_in(GOOD_PASSWORD, HASHER, T0)
    assert new_events(user) == []


@pytest.mark.parametrize("password", ["wrong password!", "", GOOD_PASSWORD.upper()])
def test_wrong_password_is_not_authenticated(password):
    user = given(User, "u-1", register_events())
    with pytest.raises(NotAuthenticated, match="wrong email or password"):
        user.sign_in(password, HASHER, T0)


def test_unknown_account_gets_the_same_message_as_a_wrong_password():
    with pytest.raises(NotAuthenticated, match="wrong email or password"):
        User("nobody").sign_in(GOOD_PASSWORD, HASHER, T0)


def test_suspended_account_cannot_sign_in():
    user = given(User, "u-1", suspended_events())
    with pytest.raises(Forbidden) as error:
        user.sign_in(GOOD_PASSWORD, HASHER, T0)
    assert error.value.details == {"reason": "fraud"}
    with pytest.raises(Forbidden):
        user.ensure_can_sign_in()


def test_suspended_account_with_a_wrong_password_learns_nothing_about_suspension():
    user = given(User, "u-1", suspended_events())
    with pytest.raises(NotAuthenticated):
        user.sign_in("not the password", HASHER, T0)


def test_reinstated_account_can_sign_in_again():
    user = given(User, "u-1", suspended_events())
    user.reinstate(actor_id="op-1", actor_roles=["operator"], reason="appeal upheld", now=T0)
    user.sign_in(GOOD_PASSWORD, HASHER, T0)


def test_hash_with_old_parameters_is_upgraded_at_sign_in():
    user = given(User, "u-1", register_events())
    stronger = PasswordHasher(time_cost=2, memory_cost=16, parallelism=1)
    user.sign_in(GOOD_PASSWORD, stronger, T0)
    events = new_events(user)
    assert types(events) == ["PasswordRehashed"]
    assert "PasswordRehashed" in PRIVATE_EVENT_TYPES
    assert not stronger.needs_rehash(user.password_hash)
    user.sign_in(GOOD_PASSWORD, stronger, T0)
    assert new_events(user) == []


# -- sessions ---------------------------------------------------------------------------


def started(session_id="s-1", token="s-1.first", now=T0, settings=SETTINGS):
    session = Session(session_id)
    session.start(user_id="u-1", token_digest=token_digest(token), now=now, settings=settings)
    return session.take_pending()


def test_session_start_records_digest_and_lifetime():
    events = started()
    assert types(events) == ["SessionStarted"]
    assert events[0].data == {
        "session_id": "s-1",
        "user_id": "u-1",
        "refresh_token_digest": token_digest("s-1.first"),
        "started_at": T0.isoformat(),
        "expires_at": (T0 + THIRTY_DAYS).isoformat(),
        "refresh_token_lifetime_seconds": 30 * 24 * 3600,
    }
    assert "s-1.first" not in str(events)
    assert {"SessionStarted", "RefreshTokenRotated", "SessionRevoked"} <= PRIVATE_EVENT_TYPES


def test_session_cannot_start_twice():
    session = given(Session, "s-1", started())
    with pytest.raises(Conflict):
        session.start(user_id="u-1", token_digest="d", now=T0, settings=SETTINGS)


def refresh(session, presented, new, now):
    session.refresh(
        presented_digest=token_digest(presented),
        new_digest=token_digest(new),
        now=now,
        settings=SETTINGS,
    )


def test_refresh_rotates_the_token():
    session = given(Session, "s-1", started())
    refresh(session, "s-1.first", "s-1.second", T0 + SECOND)
    events = new_events(session)
    assert types(events) == ["RefreshTokenRotated"]
    assert events[0].data["previous_digest"] == token_digest("s-1.first")
    assert events[0].data["refresh_token_digest"] == token_digest("s-1.second")
    assert events[0].data["expires_at"] == (T0 + SECOND + THIRTY_DAYS).isoformat()


@pytest.mark.parametrize(
    ("offset", "accepted"),
    [(-SECOND, True), (0 * SECOND, False), (SECOND, False)],
    ids=["T-1s", "T", "T+1s"],
)
def test_refresh_token_lifetime_boundary(offset, accepted):
    session = given(Session, "s-1", started())
    now = T0 + THIRTY_DAYS + offset
    if accepted:
        refresh(session, "s-1.first", "s-1.second", now)
        assert types(new_events(session)) == ["RefreshTokenRotated"]
    else:
        with pytest.raises(NotAuthenticated, match="expired"):
            refresh(session, "s-1.first", "s-1.second", now)
        assert new_events(session) == []


def test_lifetime_in_force_at_start_decides_even_after_settings_change():
    short = IdentitySettings(refresh_token_lifetime=SECOND * 60)
    events = started(settings=short)
    session = given(Session, "s-1", events)
    with pytest.raises(NotAuthenticated, match="expired"):
        refresh(session, "s-1.first", "s-1.second", T0 + SECOND * 60)


def test_rotated_token_expiry_counts_from_its_rotation():
    session = given(Session, "s-1", started())
    rotated_at = T0 + THIRTY_DAYS - SECOND
    refresh(session, "s-1.first", "s-1.second", rotated_at)
    refresh(session, "s-1.second", "s-1.third", rotated_at + THIRTY_DAYS - SECOND)
    with pytest.raises(NotAuthenticated, match="expired"):
        refresh(session, "s-1.third", "s-1.fourth", rotated_at + 2 * THIRTY_DAYS - SECOND)


def test_reusing_an_old_refresh_token_revokes_the_family():
    session = given(Session, "s-1", started())
    refresh(session, "s-1.first", "s-1.second", T0 + SECOND)
    history = started() + session.take_pending()

    session = given(Session, "s-1", history)
    with pytest.raises(RefreshTokenReused):
        refresh(session, "s-1.first", "s-1.attacker", T0 + 2 * SECOND)
    events = new_events(session)
    assert types(events) == ["SessionRevoked"]
    assert events[0].data["reason"] == "refresh_token_reused"
    assert issubclass(RefreshTokenReused, NotAuthenticated)

    # The legitimate holder's current token is dead too.
    session = given(Session, "s-1", history + events)
    with pytest.raises(NotAuthenticated, match="session ended"):
        refresh(session, "s-1.second", "s-1.third", T0 + 3 * SECOND)
    assert new_events(session) == []


def test_an_unknown_token_is_refused_without_revoking():
    session = given(Session, "s-1", started())
    with pytest.raises(NotAuthenticated, match="unknown"):
        refresh(session, "s-1.forged", "s-1.second", T0 + SECOND)
    assert new_events(session) == []
    assert session.active


def test_refresh_of_a_session_that_never_started():
    with pytest.raises(NotAuthenticated):
        refresh(Session("s-9"), "s-9.x", "s-9.y", T0)


def test_logout_revokes_and_is_harmless_twice():
    session = given(Session, "s-1", started())
    assert session.revoke(actor_id="u-1", actor_roles=["freelancer"], now=T0) is True
    events = new_events(session)
    assert types(events) == ["SessionRevoked"]
    assert events[0].data == {
        "session_id": "s-1",
        "user_id": "u-1",
        "reason": "logout",
        "revoked_at": T0.isoformat(),
        "by": "u-1",
    }
    session = given(Session, "s-1", started() + events)
    assert session.revoke(actor_id="u-1", actor_roles=[], now=T0) is False
    assert new_events(session) == []
    with pytest.raises(NotAuthenticated):
        refresh(session, "s-1.first", "s-1.second", T0)


def test_only_the_holder_or_an_operator_may_end_a_session():
    session = given(Session, "s-1", started())
    with pytest.raises(Forbidden):
        session.revoke(actor_id="u-2", actor_roles=["client"], now=T0)
    assert session.revoke(actor_id="op-1", actor_roles=["operator"], now=T0)
    with pytest.raises(NotFound):
        Session("s-2").revoke(actor_id="u-1", actor_roles=[], now=T0)


def test_refresh_tokens_name_their_session():
    token = new_refresh_token("s-42")
    assert session_of_refresh_token(token) == "s-42"
    assert token != new_refresh_token("s-42")
    assert len(token_digest(token)) == 64
    for bad in ("no-dot", ".secret", "s-1.", ""):
        with pytest.raises(NotAuthenticated):
            session_of_refresh_token(bad)
