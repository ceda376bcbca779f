"""Registration, sign-in, sessions and standing, through the real identity entrypoints."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.identity.service import IdentityService
from shared.errors import Conflict, Forbidden, NotAuthenticated, NotFound, ValidationError
from tests.identity.conftest import OPERATOR_EMAIL, PASSWORD, identity_config


def test_register_login_and_me(client):
    account = client.register(email="Grace.Hopper@Example.TEST", roles=["client", "freelancer"])
    tokens = client.login("grace.hopper@example.test")
    assert tokens["user_id"] == account["user_id"]
    assert tokens["roles"] == ["client", "freelancer"] and tokens["token_type"] == "Bearer"
    me = client.call("me", tokens["access_token"])
    assert me["email"] == "grace.hopper@example.test"
    assert me["status"] == "active"
    assert set(me["completeness"]) == {"client", "freelancer"}
    assert client.event_types(f"user-{account['user_id']}") == [
        "UserRegistered",
        "CredentialsRecorded",
    ]
    # no password or hash anywhere in the read model
    assert "argon2" not in str(client.scalar("SELECT row::text FROM user_profiles"))


def test_an_email_is_unique_whatever_its_case(client):
    client.register(email="dup@example.test")
    before = client.log_length()
    with pytest.raises(Conflict) as error:
        client.register(email="DUP@example.test")
    assert "email" in error.value.details
    assert client.log_length() == before


def test_wrong_password_and_unknown_email_get_the_same_answer(client):
    account = client.register()
    with pytest.raises(NotAuthenticated) as wrong:
        client.login(account["email"], "not the password at all")
    with pytest.raises(NotAuthenticated) as unknown:
        client.login("nobody@example.test", PASSWORD)
    assert wrong.value.message == unknown.value.message == "wrong email or password"


def test_me_needs_a_token(client):
    with pytest.raises(NotAuthenticated):
        client.call("me")


def test_refresh_rotates_and_a_reused_token_revokes_the_family(client):
    first = client.signed_up()
    second = client.call("refresh", refresh_token=first["refresh_token"])
    assert second["refresh_token"] != first["refresh_token"]
    assert second["session_id"] == first["session_id"]
    client.call("me", second["access_token"])

    with pytest.raises(NotAuthenticated) as reused:
        client.call("refresh", refresh_token=first["refresh_token"])
    assert reused.value.details == {"reason": "refresh_token_reused"}
    # the revocation was committed: the newest token of the family is dead too
    with pytest.raises(NotAuthenticated):
        client.call("refresh", refresh_token=second["refresh_token"])
    assert client.event_types(f"session-{first['session_id']}") == [
        "SessionStarted",
        "RefreshTokenRotated",
        "SessionRevoked",
    ]


def test_a_guessed_refresh_token_records_nothing(client):
    tokens = client.signed_up()
    before = client.log_length()
    with pytest.raises(NotAuthenticated):
        client.call("refresh", refresh_token=f"{tokens['session_id']}.guessed")
    with pytest.raises(NotAuthenticated):
        client.call("refresh", refresh_token="no-dot-at-all")
    assert client.log_length() == before


def test_access_token_expires_with_the_clock(client, clock):
    tokens = client.signed_up()
    clock.advance(seconds=899)
    client.call("me", tokens["access_token"])
    clock.advance(seconds=1)
    with pytest.raises(NotAuthenticated) as expired:
        client.call("me", tokens["access_token"])
    assert "expired" in expired.value.message
    # the refresh token still works and gives a fresh access token
    fresh = client.call("refresh", refresh_token=tokens["refresh_token"])
    client.call("me", fresh["access_token"])


def test_refresh_token_expires_after_its_lifetime(client, clock):
    tokens = client.signed_up()
    clock.advance(timedelta(days=30) - timedelta(seconds=1))
    rotated = client.call("refresh", refresh_token=tokens["refresh_token"])
    clock.advance(days=30)
    with pytest.raises(NotAuthenticated):
        client.call("refresh", refresh_token=rotated["refresh_token"])


def test_logout_ends_the_session(client):
    tokens = client.signed_up()
    assert client.call("logout", tokens["access_token"]) == {
        "session_id": tokens["session_id"],
        "revoked": True,
    }
    with pytest.raises(NotAuthenticated):
        client.call("refresh", refresh_token=tokens["refresh_token"])
    other = client.login(tokens["email"])
    assert client.call("logout", refresh_token=other["refresh_token"])["revoked"] is True
    assert client.call("logout", other["access_token"])["revoked"] is False


def test_only_an_operator_suspends_and_suspension_blocks_sign_in(client):
    member = client.signed_up()
    other = client.signed_up()
    with pytest.raises(Forbidden):
        client.call("suspend", other["access_token"], user_id=member["user_id"], reason="spam")

    operator = client.operator()
    result = client.call(
        "suspend", operator["access_token"], user_id=member["user_id"], reason="  spam  "
    )
    assert result == {"user_id": member["user_id"], "status": "suspended"}
    with pytest.raises(Forbidden) as refused:
        client.login(member["email"])
    assert refused.value.details == {"reason": "spam"}
    # identity refuses the suspended user's live tokens at once
    with pytest.raises(NotAuthenticated):
        client.call("me", member["access_token"])
    with pytest.raises(Forbidden):
        client.call("refresh", refresh_token=member["refresh_token"])
    with pytest.raises(Conflict):
        client.call("suspend", operator["access_token"], user_id=member["user_id"], reason="x")
    # hidden from others, visible to staff
    with pytest.raises(NotFound):
        client.call("get_profile", other["access_token"], user_id=member["user_id"])
    seen = client.call("get_profile", operator["access_token"], user_id=member["user_id"])
    assert seen["status"] == "suspended"

    client.call("reinstate", operator["access_token"], user_id=member["user_id"], reason="appeal")
    tokens = client.login(member["email"])
    assert client.call("me", tokens["access_token"])["status"] == "active"


def test_operator_verifies_identity_once(client):
    member = client.signed_up()
    with pytest.raises(Forbidden):
        client.call(
            "verify_identity",
            member["access_token"],
            user_id=member["user_id"],
            method="government_id",
        )
    operator = client.operator()
    done = client.call(
        "verify_identity", operator["access_token"], user_id=member["user_id"], method="video_call"
    )
    assert done["verified"]["by"] == operator["user_id"]
    with pytest.raises(Conflict):
        client.call(
            "verify_identity",
            operator["access_token"],
            user_id=member["user_id"],
            method="video_call",
        )
    assert client.call("me", member["access_token"])["verifications"]["identity"] is not None
    with pytest.raises(NotFound):
        client.call("suspend", operator["access_token"], user_id="nobody", reason="x")


def test_idempotency_key_replays_the_first_result(client):
    args = {
        "email": "once@example.test",
        "password": PASSWORD,
        "display_name": "Once",
        "roles": ["client"],
        "idempotency_key": "signup-1",
    }
    first = client.call("register", **args)
    before = client.log_length()
    assert client.call("register", **args) == first
    assert client.log_length() == before
    with pytest.raises(Conflict) as reused:
        client.call("register", **{**args, "display_name": "Twice"})
    assert "idempotency_key" in reused.value.details

    tokens = client.login("once@example.test")
    change = {"display_name": "Once Again", "idempotency_key": "rename-1"}
    answer = client.call("update_profile", tokens["access_token"], **change)
    assert client.call("update_profile", tokens["access_token"], **change) == answer
    assert client.event_types(f"user-{first['user_id']}").count("ProfileUpdated") == 1


def test_staff_accounts_are_seeded_once_and_staff_roles_are_not_self_service(
    client, container_factory, rabbit_config
):
    operator = client.operator()
    assert operator["roles"] == ["operator"]
    # a second replica starting on the same database seeds nothing again
    replica = container_factory(IdentityService, identity_config(rabbit_config, client.dsn))
    replica.start()
    assert client.scalar("SELECT count(*) FROM events WHERE type = 'SigningKeyActivated'") == 1
    assert client.scalar("SELECT count(*) FROM events WHERE type = 'UserRegistered'") == 1
    assert client.scalar("SELECT row->'roles' FROM user_profiles") == ["operator"]
    created = client.call(
        "create_staff_account",
        operator["access_token"],
        email="audit@marketplace.test",
        password="ledger watcher 77",
        display_name="Audit",
        roles=["auditor"],
    )
    auditor = client.login("audit@marketplace.test", "ledger watcher 77")
    assert auditor["user_id"] == created["user_id"] and auditor["roles"] == ["auditor"]
    with pytest.raises(Forbidden):
        client.call(
            "create_staff_account",
            auditor["access_token"],
            email="x@marketplace.test",
            password="another passphrase",
            display_name="X",
            roles=["operator"],
        )
    with pytest.raises(ValidationError) as error:
        client.register(roles=["operator"])
    assert "roles" in str(error.value.details)
    with pytest.raises(Conflict):
        client.register(email=OPERATOR_EMAIL)


def test_add_role_and_change_password(client):
    me = client.signed_up(roles=["freelancer"])
    assert client.call("add_role", me["access_token"], role="client")["roles"] == [
        "client",
        "freelancer",
    ]
    with pytest.raises(Conflict):
        client.call("add_role", me["access_token"], role="client")
    refreshed = client.call("refresh", refresh_token=me["refresh_token"])
    assert refreshed["roles"] == ["client", "freelancer"]

    before = client.log_length()
    with pytest.raises(ValidationError) as wrong:
        client.call(
            "change_password",
            me["access_token"],
            current_password="not my password",
            new_password="a brand new passphrase",
        )
    assert "current_password" in wrong.value.details and client.log_length() == before
    client.call(
        "change_password",
        me["access_token"],
        current_password=PASSWORD,
        new_password="a brand new passphrase",
    )
    with pytest.raises(NotAuthenticated):
        client.login(me["email"])
    assert client.login(me["email"], "a brand new passphrase")["user_id"] == me["user_id"]
