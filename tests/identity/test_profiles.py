"""Profiles: updates, completeness, visibility, bad input, and the read-model rebuild."""

from __future__ import annotations

import psycopg
import pytest
from nameko.testing.services import entrypoint_hook

from services.identity.projections import PROJECTIONS
from shared.errors import Forbidden, NotAuthenticated, NotFound, ValidationError
from shared.eventstore import PostgresEventStore

SKILLS = ["Python", "django", "PostgreSQL"]
OVERVIEW = "I build and run event-sourced back ends in Python, from the schema to the pager. " * 2


def test_profile_updates_and_completeness(client):
    me = client.signed_up(roles=["freelancer"])
    assert client.call("me", me["access_token"])["completeness"]["freelancer"]["percent"] == 0
    result = client.call(
        "update_profile",
        me["access_token"],
        freelancer={
            "title": "Backend engineer",
            "overview": OVERVIEW,
            "hourly_rate": {"amount": 8500, "currency": "USD"},
            "skills": SKILLS,
            "languages": [{"language": "English", "proficiency": "native"}],
            "availability": "as_needed",
        },
    )
    assert sorted(result["changed"]) == [
        "freelancer.availability",
        "freelancer.hourly_rate",
        "freelancer.languages",
        "freelancer.overview",
        "freelancer.skills",
        "freelancer.title",
    ]
    assert result["completeness"]["freelancer"]["percent"] == 65
    missing = {m["field"] for m in result["completeness"]["freelancer"]["missing"]}
    assert missing == {
        "freelancer.portfolio",
        "freelancer.employment",
        "freelancer.education",
        "freelancer.certifications",
        "verifications.email",
    }
    profile = client.call("get_profile", user_id=me["user_id"])
    assert profile["freelancer"]["skills"] == ["Python", "Django", "PostgreSQL"]
    assert profile["freelancer"]["hourly_rate"] == {"amount": 8500, "currency": "USD"}
    assert "completeness" not in profile  # only the holder and staff see it
    # nothing changes, nothing is recorded
    before = client.log_length()
    again = client.call(
        "update_profile", me["access_token"], freelancer={"title": "Backend engineer"}
    )
    assert again["changed"] == [] and client.log_length() == before


def test_visibility(client):
    owner = client.signed_up(roles=["client"])
    other = client.signed_up()
    client.call("update_profile", owner["access_token"], visibility="signed_in")
    with pytest.raises(NotAuthenticated):
        client.call("get_profile", user_id=owner["user_id"])
    assert client.call("get_profile", other["access_token"], user_id=owner["user_id"])
    client.call("update_profile", owner["access_token"], visibility="private")
    with pytest.raises(NotFound):
        client.call("get_profile", other["access_token"], user_id=owner["user_id"])
    own = client.call("get_profile", owner["access_token"], user_id=owner["user_id"])
    assert own["visibility"] == "private" and "completeness" in own
    with pytest.raises(NotFound):
        client.call("get_profile", user_id="no-such-user")


def test_only_the_holder_or_an_operator_edits_a_profile(client):
    owner = client.signed_up()
    other = client.signed_up()
    before = client.log_length()
    with pytest.raises(Forbidden):
        client.call(
            "update_profile", other["access_token"], user_id=owner["user_id"], visibility="private"
        )
    with pytest.raises(NotAuthenticated):
        client.call("update_profile", user_id=owner["user_id"], visibility="private")
    assert client.log_length() == before
    operator = client.operator()
    done = client.call(
        "update_profile", operator["access_token"], user_id=owner["user_id"], display_name="Renamed"
    )
    assert done["changed"] == ["display_name"]


BAD_INPUT = [
    (
        "register",
        {"password": "a long passphrase", "display_name": "X", "roles": ["client"]},
        "email",
    ),
    (
        "register",
        {
            "email": "a@b.test",
            "password": "a long passphrase",
            "display_name": "X",
            "roles": ["client"],
            "is_admin": True,
        },
        "is_admin",
    ),
    (
        "register",
        {
            "email": "not-an-email",
            "password": "a long passphrase",
            "display_name": "X",
            "roles": ["client"],
        },
        "email",
    ),
    (
        "register",
        {
            "email": "a@b.test",
            "password": "a long passphrase",
            "display_name": "X" * 81,
            "roles": ["client"],
        },
        "display_name",
    ),
    (
        "register",
        {"email": "a@b.test", "password": "short", "display_name": "X", "roles": ["client"]},
        "password",
    ),
    ("login", {"email": "a@b.test"}, "password"),
]

BAD_PROFILE = [
    ({"freelancer": {"skills": [f"skill {n}" for n in range(16)]}}, "freelancer"),
    ({"freelancer": {"hourly_rate": {"amount": -500, "currency": "USD"}}}, "freelancer"),
    ({"freelancer": {"title": "T" * 71}}, "freelancer"),
    ({"freelancer": {"colour": "blue"}}, "freelancer"),
    ({"freelancer": {"skills": ["Python", "Basket weaving on Mars"]}}, "freelancer.skills"),
    ({"freelancer": {"hourly_rate": {"amount": 100, "currency": "USD"}}}, "freelancer.hourly_rate"),
    ({"client": {"company_name": "Acme"}}, "client"),
    ({}, "_schema"),
]


@pytest.mark.parametrize(("method", "args", "field"), BAD_INPUT)
def test_bad_input_names_the_field_and_writes_nothing(client, method, args, field):
    before = client.log_length()
    with pytest.raises(ValidationError) as error:
        client.call(method, **args)
    assert field in error.value.details
    assert client.log_length() == before


def test_bad_profile_input_names_the_field_and_writes_nothing(client):
    me = client.signed_up(roles=["freelancer"])
    before = client.log_length()
    for changes, field in BAD_PROFILE:
        with pytest.raises(ValidationError) as error:
            client.call("update_profile", me["access_token"], **changes)
        assert field in error.value.details, (changes, error.value.details)
    with pytest.raises(ValidationError) as positional:
        with entrypoint_hook(client.container, "update_profile") as hook:
            hook({"display_name": "X"})
    assert "_schema" in positional.value.details
    assert client.log_length() == before


def _read_models(dsn: str) -> dict:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return {
            "user_profiles": conn.execute(
                "SELECT user_id, email, status, roles, row, updated_at FROM user_profiles ORDER BY user_id"
            ).fetchall(),
            "suspended_users": conn.execute(
                "SELECT user_id, reason, suspended_at FROM suspended_users ORDER BY user_id"
            ).fetchall(),
        }


def test_read_models_rebuild_from_the_log_identically(client, identity_dsn):
    operator = client.operator()
    kept = client.signed_up(roles=["client", "freelancer"])
    gone = client.signed_up(roles=["client"])
    client.call(
        "update_profile",
        kept["access_token"],
        visibility="signed_in",
        freelancer={"title": "Data engineer", "skills": SKILLS},
        client={"company_name": "Kept Ltd", "location": {"country": "DE", "city": "Berlin"}},
    )
    client.call(
        "verify_identity", operator["access_token"], user_id=kept["user_id"], method="manual_review"
    )
    client.call(
        "verify_payment_method",
        operator["access_token"],
        user_id=gone["user_id"],
        provider_reference="pm_123",
    )
    client.call("suspend", operator["access_token"], user_id=gone["user_id"], reason="fraud")
    client.call("suspend", operator["access_token"], user_id=kept["user_id"], reason="check")
    client.call("reinstate", operator["access_token"], user_id=kept["user_id"], reason="cleared")
    live = _read_models(identity_dsn)
    assert len(live["user_profiles"]) == 3 and len(live["suspended_users"]) == 1

    store = PostgresEventStore.connect(identity_dsn, projections=PROJECTIONS)
    try:
        with store.transaction() as uow:
            uow.execute("TRUNCATE " + ", ".join(t for p in PROJECTIONS for t in p.tables))
            for event in store.iter_all():
                for projection in store.projections:
                    projection.apply(uow.cursor, event)
    finally:
        store.close()
    assert _read_models(identity_dsn) == live
