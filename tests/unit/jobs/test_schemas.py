"""Input schemas: every RPC method and consumed event, bounded, with clear errors."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.jobs.schemas import (
    CONSUMED_EVENT_SCHEMAS,
    RPC_SCHEMAS,
    CreateJobSchema,
    SaveSearchSchema,
    SearchFiltersSchema,
    SearchJobsSchema,
    UpdateJobSchema,
)
from services.jobs.search import filters_data
from shared.errors import ValidationError
from shared.money import Money
from shared.schemas import load

DESIGN_METHODS = {
    "create_job",
    "update_job",
    "publish_job",
    "close_job",
    "get_job",
    "search_jobs",
    "recommend_jobs",
    "invite_freelancer",
    "save_search",
    "list_saved_searches",
}
MUTATING = {
    "create_job",
    "update_job",
    "publish_job",
    "close_job",
    "invite_freelancer",
    "save_search",
    "decline_invitation",
    "delete_saved_search",
}
USD = {"amount": 2500, "currency": "USD"}


def job_input(**overrides) -> dict:
    body = {
        "title": "Build a Django booking site",
        "description": "We need a booking site for a small chain of yoga studios, with payments.",
        "category": "web-mobile-software-dev",
        "subcategory": "web-development",
        "skills": ["Python", "Django"],
        "experience_level": "expert",
        "project_length": "3_to_6_months",
        "hours_per_week": "more_than_30",
        "budget": {"type": "hourly", "min": USD, "max": {"amount": 6000, "currency": "USD"}},
    }
    body.update(overrides)
    return body


def errors_of(schema, data) -> dict:
    with pytest.raises(ValidationError) as caught:
        load(schema, data)
    return caught.value.fields


def test_every_design_method_has_a_schema():
    assert DESIGN_METHODS <= set(RPC_SCHEMAS)


@pytest.mark.parametrize("method", sorted(MUTATING))
def test_mutating_methods_take_an_optional_idempotency_key(method):
    schema = RPC_SCHEMAS[method]()
    assert "idempotency_key" in schema.fields
    assert schema.fields["idempotency_key"].load_default is None


@pytest.mark.parametrize("method", sorted(RPC_SCHEMAS))
def test_every_method_refuses_unknown_fields(method):
    assert "sneaky" in errors_of(RPC_SCHEMAS[method](), {"sneaky": 1})


def test_create_job_loads_with_defaults():
    loaded = load(CreateJobSchema(), job_input())
    assert loaded["budget"]["min"] == Money(2500, "USD")
    assert loaded["visibility"] == "public"
    assert loaded["screening_questions"] == [] and loaded["attachments"] == []
    assert loaded["publish"] is False and loaded["idempotency_key"] is None


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"title": "x" * 100_000}, "title"),
        ({"title": 42}, "title"),
        ({"description": "x" * 10_001}, "description"),
        ({"skills": ["x" * 65]}, "skills"),
        ({"skills": ["s"] * 16}, "skills"),
        ({"experience_level": "guru"}, "experience_level"),
        ({"visibility": "secret"}, "visibility"),
        ({"screening_questions": ["Question?"] * 11}, "screening_questions"),
        ({"attachments": [{"file_id": "f", "name": "n", "url": "http://x"}]}, "attachments"),
        ({"contract_to_hire": "maybe"}, "contract_to_hire"),
        ({"budget": {"type": "fixed", "amount": {"amount": 10.5, "currency": "USD"}}}, "budget"),
        ({"budget": {"type": "fixed", "amount": {"amount": 100, "currency": "XXX"}}}, "budget"),
        ({"budget": {"type": "fixed", "amount": {"amount": -1, "currency": "USD"}}}, "budget"),
        ({"budget": {"type": "fixed", "amount": USD, "min": USD}}, "budget"),
        ({"budget": {"type": "hourly", "min": USD}}, "budget"),
        (
            {"budget": {"type": "hourly", "min": {"amount": 9000, "currency": "USD"}, "max": USD}},
            "budget",
        ),
        (
            {"budget": {"type": "hourly", "min": USD, "max": {"amount": 9000, "currency": "EUR"}}},
            "budget",
        ),
        (
            {"budget": {"type": "hourly", "min": USD, "max": {"amount": True, "currency": "USD"}}},
            "budget",
        ),
    ],
)
def test_create_job_refuses_bad_input(overrides, field):
    assert field in errors_of(CreateJobSchema(), job_input(**overrides))


def test_budget_min_above_max_names_the_problem():
    fields = errors_of(
        CreateJobSchema(),
        job_input(
            budget={"type": "hourly", "min": {"amount": 9000, "currency": "USD"}, "max": USD}
        ),
    )
    assert "min rate is above the max" in str(fields["budget"])


def test_update_job_takes_some_fields_and_no_defaults():
    loaded = load(UpdateJobSchema(), {"job_id": "job-1", "changes": {"visibility": "invite_only"}})
    assert loaded["changes"] == {"visibility": "invite_only"}
    assert "changes" in errors_of(UpdateJobSchema(), {"job_id": "job-1", "changes": {}})
    assert "changes" in errors_of(UpdateJobSchema(), {"job_id": "j", "changes": {"x": 1}})
    assert "job_id" in errors_of(
        UpdateJobSchema(), {"job_id": "j" * 65, "changes": {"title": "A good new title"}}
    )


@pytest.mark.parametrize(
    "keywords",
    [
        "'; DROP TABLE job_search; --",
        "1' OR '1'='1",
        "python; SELECT * FROM users",
        "python\\",
        "python\x00",
        "x" * 201,
    ],
)
def test_sql_like_or_oversized_keywords_get_a_clear_error(keywords):
    assert "keywords" in errors_of(SearchJobsSchema(), {"keywords": keywords})


@pytest.mark.parametrize(
    "keywords",
    ["C++ developer", "C# .NET", "node.js", '"exact phrase" -wordpress', "Ελληνικά UI/UX", "R&D"],
)
def test_real_keywords_pass(keywords):
    assert load(SearchJobsSchema(), {"keywords": keywords})["keywords"] == keywords


@pytest.mark.parametrize(
    ("data", "field"),
    [
        (
            {
                "budget_min": {"amount": 500, "currency": "USD"},
                "budget_max": {"amount": 100, "currency": "USD"},
            },
            "budget_min",
        ),
        (
            {
                "budget_min": {"amount": 5, "currency": "USD"},
                "budget_max": {"amount": 100, "currency": "EUR"},
            },
            "budget_max",
        ),
        ({"budget_min": {"amount": -5, "currency": "USD"}}, "budget_min"),
        ({"sort": "relevance"}, "sort"),
        ({"sort": "relevance", "keywords": "   "}, "sort"),
        ({"sort": "cheapest"}, "sort"),
        ({"limit": 0}, "limit"),
        ({"limit": 51}, "limit"),
        ({"limit": "10"}, "limit"),
        ({"limit": 10.0}, "limit"),
        ({"cursor": "c" * 1025}, "cursor"),
        ({"experience_levels": ["entry", "entry"]}, "experience_levels"),
        ({"proposal_bands": ["lots"]}, "proposal_bands"),
        ({"client_history": ["rich"]}, "client_history"),
        ({"skills": ["s"] * 16}, "skills"),
        ({"subcategory": "web-development"}, "category"),
        ({"posted_since": "yesterday"}, "posted_since"),
        ({"payment_verified": "sure"}, "payment_verified"),
    ],
)
def test_search_refuses_bad_filters(data, field):
    assert field in errors_of(SearchJobsSchema(), data)


def test_search_defaults():
    loaded = load(SearchJobsSchema(), {})
    assert loaded["limit"] == 20 and loaded["sort"] is None and loaded["cursor"] is None


def test_saved_search_query_round_trips_through_its_json_form():
    query = {
        "keywords": "django",
        "skills": ["Python"],
        "budget_min": {"amount": 1000, "currency": "USD"},
        "posted_since": "2026-03-01T00:00:00+00:00",
        "client_history": ["10_plus_hires"],
        "payment_verified": True,
    }
    loaded = load(SaveSearchSchema(), {"name": "Django", "query": query})
    as_json = filters_data(loaded["query"])
    assert as_json == query
    assert load(SearchFiltersSchema(), as_json) == loaded["query"]


@given(
    limit=st.one_of(st.integers(), st.floats(allow_nan=False), st.booleans(), st.text(max_size=3)),
)
@settings(max_examples=80)
def test_limit_accepts_only_integers_in_range(limit):
    try:
        loaded = load(SearchJobsSchema(), {"limit": limit})
    except ValidationError as exc:
        assert "limit" in exc.fields
    else:
        assert type(limit) is int and 1 <= limit <= 50 and loaded["limit"] == limit


# --- consumed events ----------------------------------------------------------------------

AT = "2026-03-02T09:00:00+00:00"
# The producers' real shapes (their README.md and domain code); fields jobs does not use are
# still listed, so an event of another shape is refused.
PAID = {"amount": 50_000, "currency": "USD"}
GOOD_EVENTS = {
    ("identity", "UserSuspended"): {
        "user_id": "u1",
        "reason": "fraud",
        "by": "op1",
        "suspended_at": AT,
    },
    ("identity", "UserReinstated"): {
        "user_id": "u1",
        "reason": "appeal upheld",
        "by": "op1",
        "reinstated_at": AT,
    },
    ("identity", "PaymentMethodVerified"): {
        "user_id": "u1",
        "provider_reference": "pm_1",
        "verified_at": AT,
        "by": "u1",
    },
    ("identity", "ProfileUpdated"): {
        "user_id": "f1",
        "profile": {
            "display_name": "Fran",
            "freelancer": {"hourly_rate": {"amount": 4000, "currency": "USD"}, "skills": ["Go"]},
            "client": None,
        },
        "changed": ["freelancer.skills"],
        "updated_at": AT,
        "by": "f1",
    },
    ("bidding", "ListingProposalEntered"): {
        "job_id": "j1",
        "proposal_id": "p1",
        "freelancer_id": "f1",
        "boost": 0,
        "spend_id": None,
        "invited": False,
        "entered_at": AT,
    },
    ("bidding", "ListingProposalWithdrawn"): {
        "job_id": "j1",
        "proposal_id": "p1",
        "freelancer_id": "f1",
        "withdrawn_at": AT,
    },
    ("escrow", "ContractOpened"): {
        "contract_id": "c1",
        "offer_id": "o1",
        "proposal_id": "p1",
        "job_id": "j1",
        "client_id": "u1",
        "freelancer_id": "f1",
        "kind": "fixed",
        "currency": "USD",
        "start_date": None,
        "fees": {"freelancer_fee_bps": 1000, "client_fee_bps": 300},
        "hourly_rate": None,
        "weekly_limit_hours": None,
        "manual_time_allowed": False,
        "opened_at": AT,
    },
    ("escrow", "MilestoneReleased"): {
        "contract_id": "c1",
        "client_id": "u1",
        "freelancer_id": "f1",
        "milestone_id": "m1",
        "payment_id": "pay1",
        "gross": PAID,
        "net": PAID,
        "fee": PAID,
        "automatic": False,
        "released_at": AT,
        "security_period_seconds": 432000,
        "available_at": AT,
    },
    ("escrow", "HourlyWeekReleased"): {
        "contract_id": "c1",
        "client_id": "u1",
        "freelancer_id": "f1",
        "week_start": "2026-03-02",
        "payment_id": "pay2",
        "gross": PAID,
        "net": PAID,
        "fee": PAID,
        "released_at": AT,
        "available_at": AT,
    },
    ("escrow", "BonusPaid"): {
        "contract_id": "c1",
        "client_id": "u1",
        "freelancer_id": "f1",
        "bonus_id": "b1",
        "payment_id": "pay3",
        "amount": PAID,
        "client_fee": PAID,
        "net": PAID,
        "fee": PAID,
        "reason": "thanks",
        "paid_at": AT,
        "security_period_seconds": 432000,
        "available_at": AT,
    },
    ("escrow", "DisputeResolved"): {
        "contract_id": "c1",
        "client_id": "u1",
        "freelancer_id": "f1",
        "dispute_id": "d1",
        "target": {"kind": "milestone", "id": "m1"},
        "milestone_id": "m1",
        "week_start": None,
        "refund": PAID,
        "release": PAID,
        "net": PAID,
        "fee": PAID,
        "payment_id": "pay4",
        "note": "split",
        "resolved_by": "op1",
        "resolved_at": AT,
        "security_period_seconds": 432000,
        "available_at": AT,
    },
    ("reputation", "ClientRatingUpdated"): {
        "client_id": "u1",
        "average_rating_centi": 467,
        "rating_count": 3,
        "updated_at": AT,
    },
}


def test_every_consumed_event_has_an_example():
    assert set(GOOD_EVENTS) == set(CONSUMED_EVENT_SCHEMAS)


@pytest.mark.parametrize("key", sorted(GOOD_EVENTS))
def test_consumed_events_load(key):
    loaded = load(CONSUMED_EVENT_SCHEMAS[key](), GOOD_EVENTS[key])
    times = [v for v in loaded.values() if isinstance(v, datetime)]
    assert times and all(t.tzinfo is not None for t in times)


@pytest.mark.parametrize("key", sorted(GOOD_EVENTS))
def test_consumed_events_refuse_unknown_and_missing_fields(key):
    schema = CONSUMED_EVENT_SCHEMAS[key]()
    assert "extra" in errors_of(schema, {**GOOD_EVENTS[key], "extra": 1})
    first = next(iter(GOOD_EVENTS[key]))
    broken = dict(GOOD_EVENTS[key])
    del broken[first]
    assert first in errors_of(schema, broken)


@pytest.mark.parametrize(
    ("key", "field", "value"),
    [
        (("escrow", "MilestoneReleased"), "gross", {"amount": 12.5, "currency": "USD"}),
        (("escrow", "MilestoneReleased"), "gross", {"amount": 0, "currency": "USD"}),
        (("escrow", "BonusPaid"), "amount", {"amount": -5, "currency": "USD"}),
        (("escrow", "DisputeResolved"), "release", None),
        (("escrow", "ContractOpened"), "opened_at", "yesterday"),
        (("identity", "ProfileUpdated"), "profile", {"freelancer": {"skills": "Go"}}),
        (("bidding", "ListingProposalEntered"), "job_id", "j" * 65),
        (("identity", "UserSuspended"), "suspended_at", "not a time"),
        (("reputation", "ClientRatingUpdated"), "average_rating_centi", 4.67),
        (("reputation", "ClientRatingUpdated"), "average_rating_centi", 501),
        (("reputation", "ClientRatingUpdated"), "average_rating_centi", None),
        (("reputation", "ClientRatingUpdated"), "rating_count", -1),
    ],
)
def test_consumed_events_refuse_bad_values(key, field, value):
    assert field in errors_of(CONSUMED_EVENT_SCHEMAS[key](), {**GOOD_EVENTS[key], field: value})


def test_naive_times_in_consumed_events_are_taken_as_utc():
    data = {**GOOD_EVENTS[("identity", "UserReinstated")], "reinstated_at": "2026-03-02T09:00:00"}
    loaded = load(CONSUMED_EVENT_SCHEMAS[("identity", "UserReinstated")](), data)
    assert loaded["reinstated_at"] == datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


# escrow composes payment ids (services/escrow/domain.py): an hourly week's is
# ``week:<contract id>:<ISO week start>`` (67 characters) and a bonus's
# ``bonus:<contract id>:<bonus id>`` (79), longer than the 64 of a plain id.
CONTRACT_ID = "0f9c3a52-3c0e-5d4e-9d1b-6f1b2a3c4d5e"
WEEK_PAYMENT_ID = f"week:{CONTRACT_ID}:2026-03-02T00:00:00+00:00"
BONUS_PAYMENT_ID = f"bonus:{CONTRACT_ID}:5b2e1f44-8a0c-4f7e-9d3b-2c1a0e9f8d7c"


@pytest.mark.parametrize(
    ("key", "payment_id"),
    [
        (("escrow", "HourlyWeekReleased"), WEEK_PAYMENT_ID),
        (("escrow", "MilestoneReleased"), "milestone:5b2e1f44-8a0c-4f7e-9d3b-2c1a0e9f8d7c:1"),
        (("escrow", "BonusPaid"), BONUS_PAYMENT_ID),
    ],
)
def test_escrow_payment_ids_load_as_escrow_composes_them(key, payment_id):
    assert len(WEEK_PAYMENT_ID) > 64 and len(BONUS_PAYMENT_ID) > 64
    loaded = load(CONSUMED_EVENT_SCHEMAS[key](), {**GOOD_EVENTS[key], "payment_id": payment_id})
    assert loaded["payment_id"] == payment_id
    too_long = {**GOOD_EVENTS[key], "payment_id": "p" * 201}
    assert "payment_id" in errors_of(CONSUMED_EVENT_SCHEMAS[key](), too_long)
