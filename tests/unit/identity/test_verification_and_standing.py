"""Email, identity and payment-method verification; suspension and reinstatement;
password change."""

from __future__ import annotations

import pytest

from services.identity.domain import PRIVATE_EVENT_TYPES, User
from services.identity.settings import IdentitySettings
from services.identity.tokens import token_digest
from shared.errors import Conflict, Forbidden, NotFound, ValidationError

from .conftest import (
    GOOD_PASSWORD,
    HASHER,
    POLICY,
    SECOND,
    SETTINGS,
    T0,
    given,
    new_events,
    register_events,
    types,
)

DAY = SETTINGS.email_verification_lifetime
OPERATOR = {"actor_id": "op-1", "actor_roles": ["operator"]}


def code_requested(code="code-1", now=T0, settings=SETTINGS, roles=("freelancer",)):
    history = register_events(roles=roles)
    user = given(User, "u-1", history)
    user.request_email_verification(token_digest(code), now, settings)
    return history + user.take_pending()


def test_request_email_verification_records_digest_and_window():
    user = given(User, "u-1", register_events())
    user.request_email_verification(token_digest("code-1"), T0, SETTINGS)
    events = new_events(user)
    assert types(events) == ["EmailVerificationRequested"]
    assert events[0].data == {
        "user_id": "u-1",
        "code_digest": token_digest("code-1"),
        "requested_at": T0.isoformat(),
        "expires_at": (T0 + DAY).isoformat(),
        "lifetime_seconds": 86400,
    }
    assert "EmailVerificationRequested" in PRIVATE_EVENT_TYPES


@pytest.mark.parametrize(
    ("offset", "accepted"),
    [(-SECOND, True), (0 * SECOND, False), (SECOND, False)],
    ids=["T-1s", "T", "T+1s"],
)
def test_email_code_window_boundary(offset, accepted):
    user = given(User, "u-1", code_requested())
    now = T0 + DAY + offset
    if accepted:
        user.verify_email(token_digest("code-1"), now)
        events = new_events(user)
        assert types(events) == ["EmailVerified"]
        assert events[0].data == {"user_id": "u-1", "verified_at": now.isoformat(), "by": "u-1"}
        assert "EmailVerified" not in PRIVATE_EVENT_TYPES
    else:
        with pytest.raises(ValidationError) as error:
            user.verify_email(token_digest("code-1"), now)
        assert "code" in error.value.fields


def test_window_recorded_at_request_holds_after_settings_change():
    short = IdentitySettings(email_verification_lifetime=SECOND * 600)
    user = given(User, "u-1", code_requested(settings=short))
    with pytest.raises(ValidationError):
        user.verify_email(token_digest("code-1"), T0 + SECOND * 600)


def test_wrong_code_is_refused():
    user = given(User, "u-1", code_requested())
    with pytest.raises(ValidationError, match="wrong code"):
        user.verify_email(token_digest("code-2"), T0)


def test_only_the_latest_code_works():
    history = code_requested("code-1")
    user = given(User, "u-1", history)
    user.request_email_verification(token_digest("code-2"), T0 + SECOND, SETTINGS)
    user = given(User, "u-1", history + user.take_pending())
    with pytest.raises(ValidationError):
        user.verify_email(token_digest("code-1"), T0 + 2 * SECOND)
    user.verify_email(token_digest("code-2"), T0 + 2 * SECOND)


def test_verify_without_request_and_twice_are_conflicts():
    with pytest.raises(Conflict, match="request one"):
        given(User, "u-1", register_events()).verify_email(token_digest("x"), T0)
    history = code_requested()
    user = given(User, "u-1", history)
    user.verify_email(token_digest("code-1"), T0)
    verified = history + user.take_pending()
    with pytest.raises(Conflict, match="already verified"):
        given(User, "u-1", verified).verify_email(token_digest("code-1"), T0)
    with pytest.raises(Conflict, match="already verified"):
        given(User, "u-1", verified).request_email_verification("d", T0, SETTINGS)


def test_operator_verifies_identity_with_who_and_when():
    user = given(User, "u-1", register_events())
    user.verify_identity(method="government_id", now=T0, **OPERATOR)
    events = new_events(user)
    assert types(events) == ["IdentityVerified"]
    assert events[0].data == {
        "user_id": "u-1",
        "method": "government_id",
        "verified_at": T0.isoformat(),
        "by": "op-1",
    }
    with pytest.raises(Conflict):
        user.verify_identity(method="video_call", now=T0, **OPERATOR)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"actor_id": "u-1", "actor_roles": ["freelancer"], "method": "video_call"}, Forbidden),
        ({"actor_id": "a-1", "actor_roles": ["auditor"], "method": "video_call"}, Forbidden),
        ({**OPERATOR, "method": "selfie"}, ValidationError),
    ],
)
def test_identity_verification_rules(kwargs, error):
    with pytest.raises(error):
        given(User, "u-1", register_events()).verify_identity(now=T0, **kwargs)


def test_identity_of_a_missing_account_is_not_found():
    with pytest.raises(NotFound):
        User("ghost").verify_identity(method="video_call", now=T0, **OPERATOR)


def test_client_payment_method_verified_by_holder_or_operator():
    for actor in ({"actor_id": "u-1", "actor_roles": ["client"]}, OPERATOR):
        user = given(User, "u-1", register_events(roles=["client"]))
        user.verify_payment_method(provider_reference="pm_123", now=T0, **actor)
        events = new_events(user)
        assert types(events) == ["PaymentMethodVerified"]
        assert events[0].data == {
            "user_id": "u-1",
            "provider_reference": "pm_123",
            "verified_at": T0.isoformat(),
            "by": actor["actor_id"],
        }


def test_payment_method_rules():
    freelancer = given(User, "u-1", register_events(roles=["freelancer"]))
    with pytest.raises(Conflict, match="client"):
        freelancer.verify_payment_method(provider_reference="pm", now=T0, **OPERATOR)
    client = given(User, "u-1", register_events(roles=["client"]))
    with pytest.raises(Forbidden):
        client.verify_payment_method(
            provider_reference="pm", now=T0, actor_id="u-2", actor_roles=["client"]
        )
    client.verify_payment_method(provider_reference="pm", now=T0, **OPERATOR)
    with pytest.raises(Conflict, match="already"):
        client.verify_payment_method(provider_reference="pm", now=T0, **OPERATOR)


def test_suspend_and_reinstate_record_reason_who_and_when():
    user = given(User, "u-1", register_events())
    user.suspend(reason="  chargeback fraud ", now=T0, **OPERATOR)
    user.reinstate(reason="bank error", now=T0 + SECOND, **OPERATOR)
    events = new_events(user)
    assert types(events) == ["UserSuspended", "UserReinstated"]
    assert events[0].data == {
        "user_id": "u-1",
        "reason": "chargeback fraud",
        "by": "op-1",
        "suspended_at": T0.isoformat(),
    }
    assert events[1].data == {
        "user_id": "u-1",
        "reason": "bank error",
        "by": "op-1",
        "reinstated_at": (T0 + SECOND).isoformat(),
    }
    assert not {"UserSuspended", "UserReinstated"} & PRIVATE_EVENT_TYPES


def test_suspension_rules():
    user = given(User, "u-1", register_events())
    with pytest.raises(Forbidden):
        user.suspend(reason="x", now=T0, actor_id="u-2", actor_roles=["client", "freelancer"])
    with pytest.raises(ValidationError) as error:
        user.suspend(reason="   ", now=T0, **OPERATOR)
    assert "reason" in error.value.fields
    with pytest.raises(Conflict, match="not suspended"):
        user.reinstate(reason="x", now=T0, **OPERATOR)
    with pytest.raises(Forbidden):
        user.reinstate(reason="x", now=T0, actor_id="a", actor_roles=["auditor"])
    user.suspend(reason="spam", now=T0, **OPERATOR)
    with pytest.raises(Conflict, match="already suspended"):
        user.suspend(reason="spam", now=T0, **OPERATOR)


def test_an_operator_cannot_suspend_themselves():
    operator = given(User, "op-1", register_events("op-1"))
    with pytest.raises(Conflict):
        operator.suspend(reason="oops", now=T0, **OPERATOR)


def test_change_password():
    user = given(User, "u-1", register_events())
    new = "an entirely new passphrase"
    user.change_password(
        current_password=GOOD_PASSWORD,
        new_password=new,
        hasher=HASHER,
        policy=POLICY,
        actor_id="u-1",
        now=T0,
    )
    events = new_events(user)
    assert types(events) == ["PasswordChanged"]
    assert "PasswordChanged" in PRIVATE_EVENT_TYPES
    user.sign_in(new, HASHER, T0)


@pytest.mark.parametrize(
    ("actor", "current", "new", "error", "field"),
    [
        ("u-2", GOOD_PASSWORD, "an entirely new passphrase", Forbidden, None),
        ("u-1", "not it at all", "an entirely new passphrase", ValidationError, "current_password"),
        ("u-1", GOOD_PASSWORD, "short", ValidationError, "new_password"),
        ("u-1", GOOD_PASSWORD, GOOD_PASSWORD, ValidationError, "new_password"),
    ],
)
def test_change_password_rules(actor, current, new, error, field):
    user = given(User, "u-1", register_events())
    with pytest.raises(error) as raised:
        user.change_password(
            current_password=current,
            new_password=new,
            hasher=HASHER,
            policy=POLICY,
            actor_id=actor,
            now=T0,
        )
    if field:
        assert field in raised.value.fields
    assert user.pending == []
