"""Registration, email reservation, roles and staff accounts."""

from __future__ import annotations

import pytest
from hypothesis import given as for_all
from hypothesis import strategies as st

from services.identity.domain import (
    CONFIG_SEED,
    PRIVATE_EVENT_TYPES,
    EmailReservation,
    User,
    create_staff_account,
    email_key,
    normalise_email,
    register_user,
    seed_staff_account,
)
from shared.errors import Conflict, Forbidden, ValidationError

from .conftest import (
    GOOD_PASSWORD,
    HASHER,
    POLICY,
    T0,
    given,
    new_events,
    register_events,
    types,
)


def _register(user, reservation, **overrides):
    args = dict(
        email="Ada@Example.com",
        password=GOOD_PASSWORD,
        display_name="Ada Lovelace",
        roles=["client", "freelancer"],
        now=T0,
        hasher=HASHER,
        policy=POLICY,
    )
    args.update(overrides)
    register_user(user, reservation, **args)


def test_registration_records_public_registration_and_private_credentials():
    user, reservation = User("u-1"), EmailReservation(email_key("ada@example.com"))
    _register(user, reservation)

    events = new_events(user)
    assert types(events) == ["UserRegistered", "CredentialsRecorded"]
    assert events[0].data == {
        "user_id": "u-1",
        "roles": ["client", "freelancer"],
        "display_name": "Ada Lovelace",
        "registered_at": "2026-03-10T12:00:00+00:00",
        "by": "u-1",
    }
    assert events[1].data["email"] == "ada@example.com"
    assert events[1].data["password_hash"].startswith("$argon2id$")
    assert GOOD_PASSWORD not in str(events)
    assert "UserRegistered" not in PRIVATE_EVENT_TYPES
    assert "CredentialsRecorded" in PRIVATE_EVENT_TYPES
    reserved = new_events(reservation)
    assert types(reserved) == ["EmailReserved"]
    assert reserved[0].stream == f"email-{email_key('ada@example.com')}"
    assert reserved[0].data == {"user_id": "u-1", "reserved_at": "2026-03-10T12:00:00+00:00"}
    assert "EmailReserved" in PRIVATE_EVENT_TYPES


def test_email_is_unique_case_insensitively():
    taken = given(EmailReservation, email_key("ada@example.com"), register_and_reserve("u-1"))
    assert taken.user_id == "u-1"
    # The reservation stream for "ADA@example.COM " is the same stream.
    assert email_key(" ADA@example.COM ") == email_key("ada@example.com")
    with pytest.raises(Conflict) as error:
        _register(User("u-2"), taken, email=" ADA@example.COM ")
    assert error.value.details == {"email": ["An account with this email already exists."]}


def register_and_reserve(user_id):
    reservation = EmailReservation(email_key("ada@example.com"))
    reservation.reserve(user_id, T0)
    return reservation.take_pending()


def test_registering_an_existing_user_id_is_a_conflict():
    user = given(User, "u-1", register_events())
    with pytest.raises(Conflict):
        _register(user, EmailReservation(email_key("other@example.com")), email="o@example.com")


@pytest.mark.parametrize("email", ["not-an-email", "a@b", "two@@example.com", "sp ace@ex.com", ""])
def test_malformed_email_is_refused_naming_the_field(email):
    with pytest.raises(ValidationError) as error:
        normalise_email(email)
    assert "email" in error.value.fields


def test_weak_password_is_refused_and_nothing_is_recorded():
    user, reservation = User("u-1"), EmailReservation(email_key("ada@example.com"))
    with pytest.raises(ValidationError) as error:
        _register(user, reservation, password="short")
    assert "password" in error.value.fields
    assert user.pending == [] and reservation.pending == []


@pytest.mark.parametrize("roles", [["operator"], ["auditor"], ["client", "operator"], ["admin"]])
def test_self_registration_cannot_take_staff_or_unknown_roles(roles):
    with pytest.raises(ValidationError) as error:
        _register(User("u-1"), EmailReservation("x"), roles=roles)
    assert "roles" in error.value.fields


def test_blank_display_name_is_refused():
    with pytest.raises(ValidationError) as error:
        _register(User("u-1"), EmailReservation("x"), display_name="   ")
    assert "display_name" in error.value.fields


def test_register_without_roles_is_refused():
    with pytest.raises(ValidationError) as error:
        _register(User("u-1"), EmailReservation("x"), roles=[])
    assert "roles" in error.value.fields


def test_operator_creates_staff_account():
    user, reservation = User("op-2"), EmailReservation(email_key("ops@example.com"))
    create_staff_account(
        user,
        reservation,
        actor_id="op-1",
        actor_roles=["operator"],
        email="ops@example.com",
        password=GOOD_PASSWORD,
        display_name="Second Operator",
        roles=["operator", "auditor"],
        now=T0,
        hasher=HASHER,
        policy=POLICY,
    )
    registered = new_events(user)[0]
    assert registered.data["roles"] == ["auditor", "operator"]
    assert registered.data["by"] == "op-1"


@pytest.mark.parametrize(
    ("actor_roles", "roles", "error"),
    [
        (["client"], ["operator"], Forbidden),
        (["auditor"], ["auditor"], Forbidden),
        (["operator"], ["freelancer"], ValidationError),
        (["operator"], [], ValidationError),
    ],
)
def test_staff_account_rules(actor_roles, roles, error):
    with pytest.raises(error):
        create_staff_account(
            User("s-1"),
            EmailReservation("x"),
            actor_id="a-1",
            actor_roles=actor_roles,
            email="staff@example.com",
            password=GOOD_PASSWORD,
            display_name="Staff",
            roles=roles,
            now=T0,
            hasher=HASHER,
            policy=POLICY,
        )


def test_seeded_staff_account_is_recorded_by_the_config_seed():
    user = User("op-1")
    seed_staff_account(
        user,
        EmailReservation(email_key("root@example.com")),
        email="Root@Example.com",
        password_hash=HASHER.hash(GOOD_PASSWORD),
        display_name="First Operator",
        roles=["operator"],
        now=T0,
    )
    events = new_events(user)
    assert events[0].data["by"] == CONFIG_SEED
    assert events[1].data["email"] == "root@example.com"
    with pytest.raises(ValidationError):
        seed_staff_account(
            User("x"),
            EmailReservation("y"),
            email="a@example.com",
            password_hash="h",
            display_name="X",
            roles=["client"],
            now=T0,
        )


def test_a_client_adds_the_freelancer_role():
    user = given(User, "u-1", register_events(roles=["client"]))
    user.add_role("freelancer", actor_id="u-1", now=T0)
    events = new_events(user)
    assert types(events) == ["RoleAdded"]
    assert events[0].data == {
        "user_id": "u-1",
        "role": "freelancer",
        "added_at": T0.isoformat(),
        "by": "u-1",
    }
    assert user.roles == ["client", "freelancer"]


@pytest.mark.parametrize(
    ("actor", "role", "error"),
    [
        ("u-2", "client", Forbidden),
        ("u-1", "operator", ValidationError),
        ("u-1", "freelancer", Conflict),
    ],
)
def test_add_role_rules(actor, role, error):
    user = given(User, "u-1", register_events(roles=["freelancer"]))
    with pytest.raises(error):
        user.add_role(role, actor_id=actor, now=T0)


@for_all(
    local=st.text(
        alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._+-",
        min_size=1,
        max_size=30,
    ),
    domain=st.sampled_from(["example.com", "Mail.Example.ORG", "uni.ac.uk"]),
)
def test_email_normalisation_is_idempotent_and_case_blind(local, domain):
    email = f"{local}@{domain}"
    normalised = normalise_email(email)
    assert normalise_email(normalised) == normalised
    assert email_key(email.upper()) == email_key(email.lower()) == email_key(f"  {email} ")


@pytest.mark.parametrize(
    "overrides",
    [{"display_name": " "}, {"email": "taken@example.com"}, {"roles": []}],
)
def test_a_refused_registration_leaves_neither_stream_touched(overrides):
    taken = EmailReservation(email_key("taken@example.com"))
    taken.reserve("u-0", T0)
    reservation = given(EmailReservation, taken.id, taken.take_pending())
    if overrides.get("email") != "taken@example.com":
        reservation = EmailReservation(email_key("free@example.com"))
        overrides = {"email": "free@example.com", **overrides}
    user = User("u-1")
    with pytest.raises((ValidationError, Conflict)):
        _register(user, reservation, **overrides)
    assert user.pending == [] and reservation.pending == []
