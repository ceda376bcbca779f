"""Every RPC input schema: unknown fields, required fields, bounds; errors name the field."""

from __future__ import annotations

import pytest

from services.identity import schemas
from services.identity.schemas import RPC_SCHEMAS, profile_changes
from shared.errors import ValidationError
from shared.money import Money
from shared.schemas import load

DESIGN_METHODS = {
    "register",
    "login",
    "refresh",
    "me",
    "get_profile",
    "update_profile",
    "verify_identity",
    "suspend",
    "reinstate",
    "public_keys",
}
MUTATING_WITH_KEY = {
    "register",
    "create_staff_account",
    "logout",
    "request_email_verification",
    "verify_email",
    "update_profile",
    "add_role",
    "change_password",
    "verify_identity",
    "verify_payment_method",
    "suspend",
    "reinstate",
    "rotate_keys",
}

VALID = {
    "register": {
        "email": "a@example.com",
        "password": "pw",
        "display_name": "A",
        "roles": ["client"],
    },
    "create_staff_account": {
        "email": "a@example.com",
        "password": "pw",
        "display_name": "A",
        "roles": ["auditor"],
    },
    "login": {"email": "a@example.com", "password": "pw"},
    "refresh": {"refresh_token": "s.x"},
    "logout": {},
    "me": {},
    "public_keys": {},
    "request_email_verification": {},
    "verify_email": {"user_id": "u-1", "code": "c"},
    "get_profile": {"user_id": "u-1"},
    "update_profile": {"display_name": "B"},
    "add_role": {"role": "freelancer"},
    "change_password": {"current_password": "a", "new_password": "b"},
    "verify_identity": {"user_id": "u-1", "method": "video_call"},
    "verify_payment_method": {"provider_reference": "pm_1"},
    "suspend": {"user_id": "u-1", "reason": "spam"},
    "reinstate": {"user_id": "u-1", "reason": "ok"},
    "rotate_keys": {},
    "list_skills": {},
}


def errors(schema_class, data) -> dict:
    with pytest.raises(ValidationError) as error:
        load(schema_class(), data)
    return error.value.fields


def test_every_design_method_has_a_schema():
    assert DESIGN_METHODS <= set(RPC_SCHEMAS)
    assert set(VALID) == set(RPC_SCHEMAS)


@pytest.mark.parametrize("method", sorted(RPC_SCHEMAS))
def test_valid_input_loads_and_unknown_fields_are_refused(method):
    loaded = load(RPC_SCHEMAS[method](), VALID[method])
    assert ("idempotency_key" in loaded) is (method in MUTATING_WITH_KEY)
    assert errors(RPC_SCHEMAS[method], {**VALID[method], "surprise": 1}) == {
        "surprise": ["Unknown field."]
    }


@pytest.mark.parametrize("method", sorted(MUTATING_WITH_KEY))
def test_idempotency_key_is_optional_and_bounded(method):
    schema = RPC_SCHEMAS[method]
    assert load(schema(), {**VALID[method], "idempotency_key": "k-1"})["idempotency_key"] == "k-1"
    assert "idempotency_key" in errors(schema, {**VALID[method], "idempotency_key": "k" * 129})


@pytest.mark.parametrize("method", sorted(m for m, v in VALID.items() if v))
def test_missing_required_fields_are_named(method):
    required = [name for name, f in RPC_SCHEMAS[method]().fields.items() if f.required]
    found = errors(RPC_SCHEMAS[method], {}) if required else {}
    assert set(required) <= set(found) or method == "update_profile"


def test_update_profile_needs_something_to_change():
    assert errors(schemas.UpdateProfileSchema, {}) == {"_schema": ["Nothing to change."]}


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"email": "not-an-email"}, "email"),
        ({"email": "a" * 250 + "@example.com"}, "email"),
        ({"password": "p" * 129}, "password"),
        ({"password": ""}, "password"),
        ({"display_name": "n" * 81}, "display_name"),
        ({"roles": ["operator"]}, "roles"),
        ({"roles": []}, "roles"),
        ({"roles": "client"}, "roles"),
    ],
)
def test_register_bounds(data, field):
    assert field in errors(schemas.RegisterSchema, {**VALID["register"], **data})


SKILLS_16 = [f"skill {n}" for n in range(16)]


@pytest.mark.parametrize(
    ("freelancer", "path"),
    [
        ({"skills": SKILLS_16}, ["skills"]),
        ({"skills": ["s" * 61]}, ["skills", 0]),
        ({"title": "t" * 71}, ["title"]),
        ({"overview": "o" * 5001}, ["overview"]),
        ({"hourly_rate": {"amount": -100, "currency": "USD"}}, ["hourly_rate"]),
        ({"hourly_rate": {"amount": 0, "currency": "USD"}}, ["hourly_rate"]),
        ({"hourly_rate": {"amount": 10.5, "currency": "USD"}}, ["hourly_rate", "amount"]),
        ({"hourly_rate": {"amount": 1000, "currency": "XXX"}}, ["hourly_rate", "currency"]),
        ({"availability": "sometimes"}, ["availability"]),
        (
            {"languages": [{"language": "English", "proficiency": "expert"}]},
            ["languages", 0, "proficiency"],
        ),
        ({"languages": [{"language": "English"}]}, ["languages", 0, "proficiency"]),
        ({"portfolio": [{"title": "x", "url": "ftp://x.org"}]}, ["portfolio", 0, "url"]),
        ({"portfolio": [{"title": "x"}] * 21}, ["portfolio"]),
        (
            {"employment": [{"company": "c", "title": "t", "started_on": "2020-13"}]},
            ["employment", 0, "started_on"],
        ),
        ({"education": [{"school": "s", "start_year": "2020"}]}, ["education", 0, "start_year"]),
        (
            {"certifications": [{"name": "n", "issuer": "i", "issued_on": "yesterday"}]},
            ["certifications", 0, "issued_on"],
        ),
        ({"hobbies": ["chess"]}, ["hobbies"]),
    ],
)
def test_freelancer_profile_bounds(freelancer, path):
    found = errors(schemas.UpdateProfileSchema, {"freelancer": freelancer})
    node = found["freelancer"]
    for key in path:
        assert key in node, (key, node)
        node = node[key]


def test_client_profile_bounds():
    found = errors(
        schemas.UpdateProfileSchema,
        {
            "client": {
                "company_size": "huge",
                "location": {"country": "usa"},
                "company_name": "c" * 101,
            }
        },
    )
    assert set(found["client"]) == {"company_size", "location", "company_name"}


def test_loaded_profile_changes_are_what_the_domain_takes():
    loaded = load(
        schemas.UpdateProfileSchema(),
        {
            "freelancer": {"hourly_rate": {"amount": 5000, "currency": "USD"}},
            "user_id": "u-9",
            "idempotency_key": "k",
        },
    )
    assert profile_changes(loaded) == {"freelancer": {"hourly_rate": Money(5000, "USD")}}


def test_suspend_reason_is_required_and_bounded():
    assert "reason" in errors(schemas.SuspendSchema, {"user_id": "u", "reason": ""})
    assert "reason" in errors(schemas.ReinstateSchema, {"user_id": "u", "reason": "r" * 501})


def test_token_inputs_are_bounded():
    assert "refresh_token" in errors(schemas.RefreshSchema, {"refresh_token": "x" * 257})
    assert "code" in errors(schemas.VerifyEmailSchema, {"user_id": "u", "code": "c" * 65})
    assert "user_id" in errors(schemas.GetProfileSchema, {"user_id": "u" * 65})
