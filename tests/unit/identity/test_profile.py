"""Profile updates: every field rule, the skills cap, rates, dates against the clock."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.identity.domain import User
from services.identity.settings import IdentitySettings
from shared.errors import Forbidden, ValidationError
from shared.money import Money

from .conftest import SECOND, SETTINGS, T0, given, new_events, register_events, types


def update(user, changes, now=T0, actor_id="u-1", actor_roles=("freelancer",), **kw):
    return user.update_profile(
        changes,
        actor_id=actor_id,
        actor_roles=list(actor_roles),
        now=now,
        settings=kw.get("settings", SETTINGS),
        taxonomy=kw["taxonomy"],
    )


def freelancer(roles=("freelancer",)):
    return given(User, "u-1", register_events(roles=roles))


def field_errors(user, changes, taxonomy, now=T0, **kw) -> dict:
    with pytest.raises(ValidationError) as error:
        update(user, changes, now=now, taxonomy=taxonomy, **kw)
    assert user.pending == []
    return error.value.fields


def test_profile_update_records_the_whole_public_profile(taxonomy):
    user = freelancer()
    changed = update(
        user,
        {
            "freelancer": {
                "title": "  Python engineer ",
                "hourly_rate": Money(4500, "USD"),
                "skills": ["python", " JS ", "k8s"],
                "languages": [{"language": "English", "proficiency": "native"}],
            },
            "visibility": "signed_in",
        },
        taxonomy=taxonomy,
    )
    events = new_events(user)
    assert types(events) == ["ProfileUpdated"]
    data = events[0].data
    assert data["user_id"] == "u-1" and data["by"] == "u-1"
    assert data["updated_at"] == T0.isoformat()
    assert (
        changed
        == data["changed"]
        == [
            "visibility",
            "freelancer.title",
            "freelancer.hourly_rate",
            "freelancer.skills",
            "freelancer.languages",
        ]
    )
    section = data["profile"]["freelancer"]
    assert section["title"] == "Python engineer"
    assert section["hourly_rate"] == {"amount": 4500, "currency": "USD"}
    assert section["skills"] == ["Python", "JavaScript", "Kubernetes"]
    assert data["profile"]["visibility"] == "signed_in"
    assert data["profile"]["display_name"] == "Ada Lovelace"


def test_an_update_that_changes_nothing_records_nothing(taxonomy):
    user = freelancer()
    update(user, {"freelancer": {"skills": ["Python"]}}, taxonomy=taxonomy)
    user.take_pending()
    assert update(user, {"freelancer": {"skills": ["python"]}}, taxonomy=taxonomy) == []
    assert new_events(user) == []


def test_none_clears_a_field(taxonomy):
    user = freelancer()
    update(user, {"freelancer": {"title": "Writer"}}, taxonomy=taxonomy)
    update(user, {"freelancer": {"title": None}}, taxonomy=taxonomy)
    assert user.profile["freelancer"]["title"] is None


@pytest.mark.parametrize("count", [14, 15, 16])
def test_at_most_fifteen_skills(count, taxonomy):
    names = list(taxonomy.categories()["Programming Languages"])[:count]
    user = freelancer()
    if count <= 15:
        update(user, {"freelancer": {"skills": names}}, taxonomy=taxonomy)
        assert len(user.profile["freelancer"]["skills"]) == count
    else:
        errors = field_errors(user, {"freelancer": {"skills": names}}, taxonomy)
        assert errors["freelancer.skills"] == ["At most 15 skills."]


def test_unknown_and_duplicate_skills_are_named(taxonomy):
    errors = field_errors(
        freelancer(), {"freelancer": {"skills": ["JavaScript", "js", "Basket weaving"]}}, taxonomy
    )
    assert errors["freelancer.skills"] == [
        "JavaScript is listed twice.",
        "Unknown skill 'Basket weaving'; pick one from the skills list.",
    ]


@pytest.mark.parametrize(
    ("amount", "currency", "ok"),
    [
        (299, "USD", False),
        (300, "USD", True),
        (99_999, "USD", True),
        (100_000, "USD", False),
        (-500, "USD", False),
        (5000, "EUR", False),
    ],
)
def test_hourly_rate_bounds(amount, currency, ok, taxonomy):
    user = freelancer()
    changes = {"freelancer": {"hourly_rate": Money(amount, currency)}}
    if ok:
        update(user, changes, taxonomy=taxonomy)
        assert user.profile["freelancer"]["hourly_rate"] == {"amount": amount, "currency": "USD"}
    else:
        assert "freelancer.hourly_rate" in field_errors(user, changes, taxonomy)


def test_hourly_rate_bounds_are_settings(taxonomy):
    cheap = IdentitySettings(min_hourly_rate=Money(100, "USD"))
    user = freelancer()
    update(
        user,
        {"freelancer": {"hourly_rate": {"amount": 100, "currency": "USD"}}},
        taxonomy=taxonomy,
        settings=cheap,
    )


def test_sections_need_their_role(taxonomy):
    errors = field_errors(freelancer(), {"client": {"company_name": "Acme"}}, taxonomy)
    assert "client" in errors
    client = freelancer(roles=("client",))
    errors = field_errors(client, {"freelancer": {"title": "x"}}, taxonomy, actor_roles=("client",))
    assert "freelancer" in errors


def test_client_profile(taxonomy):
    user = freelancer(roles=("client",))
    update(
        user,
        {
            "client": {
                "company_name": "Acme",
                "company_size": "10_to_99",
                "location": {"country": "DE", "city": " Berlin "},
            }
        },
        taxonomy=taxonomy,
        actor_roles=("client",),
    )
    assert user.profile["client"] == {
        "company_name": "Acme",
        "company_size": "10_to_99",
        "location": {"country": "DE", "city": "Berlin"},
    }
    user.take_pending()
    errors = field_errors(
        user, {"client": {"company_size": "huge", "location": {"country": "Germany"}}}, taxonomy
    )
    assert set(errors) == {"client.company_size", "client.location.country"}


def test_only_holder_or_operator_edits(taxonomy):
    user = freelancer()
    with pytest.raises(Forbidden):
        update(user, {"display_name": "X"}, actor_id="u-2", taxonomy=taxonomy)
    update(
        user,
        {"display_name": "Moderated"},
        actor_id="op-1",
        actor_roles=["operator"],
        taxonomy=taxonomy,
    )
    assert new_events(user)[0].data["by"] == "op-1"


def test_suspended_holder_cannot_edit(taxonomy):
    user = freelancer()
    user.suspend(actor_id="op-1", actor_roles=["operator"], reason="spam", now=T0)
    with pytest.raises(Forbidden):
        update(user, {"display_name": "X"}, taxonomy=taxonomy)


def test_unknown_visibility_availability_and_blank_name(taxonomy):
    errors = field_errors(
        freelancer(),
        {
            "visibility": "friends",
            "display_name": " ",
            "freelancer": {"availability": "sometimes", "colour": "red"},
            "extra": 1,
        },
        taxonomy,
    )
    assert set(errors) == {
        "visibility",
        "display_name",
        "freelancer.availability",
        "freelancer.colour",
        "extra",
    }


# -- dates against the clock: month granularity, boundary at the first second of a month ----

MONTH_START = datetime(2026, 4, 1, 0, 0, 0, tzinfo=UTC)  # "2026-04" begins here


@pytest.mark.parametrize(
    ("now", "ok"),
    [(MONTH_START - SECOND, False), (MONTH_START, True), (MONTH_START + SECOND, True)],
    ids=["T-1s", "T", "T+1s"],
)
def test_employment_may_not_start_in_a_future_month(now, ok, taxonomy):
    job = {"company": "Acme", "title": "Engineer", "started_on": "2026-04", "ended_on": None}
    user = freelancer()
    if ok:
        update(user, {"freelancer": {"employment": [job]}}, now=now, taxonomy=taxonomy)
    else:
        errors = field_errors(user, {"freelancer": {"employment": [job]}}, taxonomy, now=now)
        assert errors == {"freelancer.employment.0.started_on": ["Must not be in the future."]}


def test_employment_end_rules(taxonomy):
    jobs = [
        {"company": "A", "title": "T", "started_on": "2020-05", "ended_on": "2020-04"},
        {"company": "B", "title": "T", "started_on": "2020-05", "ended_on": "2030-01"},
        {"company": " ", "title": "T", "started_on": "20-05"},
        {"company": "C", "title": "T", "started_on": "1899-12"},
    ]
    errors = field_errors(freelancer(), {"freelancer": {"employment": jobs}}, taxonomy)
    assert set(errors) == {
        "freelancer.employment.0.ended_on",
        "freelancer.employment.1.ended_on",
        "freelancer.employment.2.company",
        "freelancer.employment.2.started_on",
        "freelancer.employment.3.started_on",
    }


DAY_START = datetime(2026, 3, 11, 0, 0, 0, tzinfo=UTC)  # "2026-03-11" begins here


@pytest.mark.parametrize(
    ("now", "ok"),
    [(DAY_START - SECOND, False), (DAY_START, True), (DAY_START + SECOND, True)],
    ids=["T-1s", "T", "T+1s"],
)
def test_certification_may_not_be_issued_in_the_future(now, ok, taxonomy):
    cert = {"name": "AWS SA", "issuer": "Amazon", "issued_on": "2026-03-11"}
    user = freelancer()
    if ok:
        update(user, {"freelancer": {"certifications": [cert]}}, now=now, taxonomy=taxonomy)
        assert user.profile["freelancer"]["certifications"][0]["issued_on"] == "2026-03-11"
    else:
        errors = field_errors(user, {"freelancer": {"certifications": [cert]}}, taxonomy, now=now)
        assert "freelancer.certifications.0.issued_on" in errors


def test_certification_rules(taxonomy):
    from datetime import date

    certs = [
        {"name": "X", "issuer": "Y", "issued_on": date(2020, 1, 2), "expires_on": "2019-01-01"},
        {
            "name": "X",
            "issuer": "Y",
            "issued_on": "not a date",
            "credential_url": "ftp://example.com",
        },
        {"name": "X", "issuer": "Y"},
    ]
    errors = field_errors(freelancer(), {"freelancer": {"certifications": certs}}, taxonomy)
    assert set(errors) == {
        "freelancer.certifications.0.expires_on",
        "freelancer.certifications.1.issued_on",
        "freelancer.certifications.1.credential_url",
        "freelancer.certifications.2.issued_on",
    }


YEAR_START = datetime(2027, 1, 1, 0, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("now", "ok"),
    [(YEAR_START - SECOND, False), (YEAR_START, True), (YEAR_START + SECOND, True)],
    ids=["T-1s", "T", "T+1s"],
)
def test_education_may_not_start_in_a_future_year(now, ok, taxonomy):
    school = {"school": "MIT", "start_year": 2027, "end_year": 2031}
    user = freelancer()
    if ok:
        update(user, {"freelancer": {"education": [school]}}, now=now, taxonomy=taxonomy)
    else:
        errors = field_errors(user, {"freelancer": {"education": [school]}}, taxonomy, now=now)
        assert "freelancer.education.0.start_year" in errors


def test_education_rules(taxonomy):
    schools = [
        {"school": "A", "start_year": 2010, "end_year": 2009},
        {"school": "B", "start_year": 2020, "end_year": 2037},
        {"school": "", "start_year": 1800},
    ]
    errors = field_errors(freelancer(), {"freelancer": {"education": schools}}, taxonomy)
    assert set(errors) == {
        "freelancer.education.0.end_year",
        "freelancer.education.1.end_year",
        "freelancer.education.2.school",
        "freelancer.education.2.start_year",
    }


def test_languages_and_portfolio_rules(taxonomy):
    errors = field_errors(
        freelancer(),
        {
            "freelancer": {
                "languages": [
                    {"language": "English", "proficiency": "native"},
                    {"language": "english", "proficiency": "fluent"},
                    {"language": "French", "proficiency": "expert"},
                ],
                "portfolio": [
                    {"title": "Shop", "url": "javascript:alert(1)", "completed_on": "2099-01"},
                    {"title": " "},
                ],
            }
        },
        taxonomy,
    )
    assert set(errors) == {
        "freelancer.languages.1.language",
        "freelancer.languages.2.proficiency",
        "freelancer.portfolio.0.url",
        "freelancer.portfolio.0.completed_on",
        "freelancer.portfolio.1.title",
    }
