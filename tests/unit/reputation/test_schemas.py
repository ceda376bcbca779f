"""Every RPC argument set and every consumed event passes its schema; bad input is named."""

from __future__ import annotations

import pytest
from hypothesis import given as hgiven
from hypothesis import strategies as st

from services.reputation import schemas as s
from services.reputation.projections import resolve_as_of
from shared.errors import ValidationError
from shared.money import Money
from shared.schemas import load

from .helpers import DAY, SECOND, T0

GOOD_FEEDBACK = {
    "contract_id": "k1",
    "rating": 5,
    "criteria": {"skills": 5, "quality": 4},
    "comment": "Great work.",
    "private_feedback": {"end_reason": "work_completed", "would_recommend": 10},
}


def refused(schema, data) -> dict:
    with pytest.raises(ValidationError) as err:
        load(schema(), data)
    return err.value.fields


def test_leave_feedback_loads_with_defaults():
    loaded = load(
        s.LeaveFeedbackSchema(), {k: v for k, v in GOOD_FEEDBACK.items() if k != "comment"}
    )
    assert loaded["comment"] == ""
    assert loaded["idempotency_key"] is None


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"rating": 0}, "rating"),
        ({"rating": 6}, "rating"),
        ({"rating": 4.5}, "rating"),
        ({"rating": "5"}, "rating"),
        ({"rating": True}, "rating"),
        ({"comment": "x" * 2_001}, "comment"),
        ({"criteria": {"skills": 0}}, "criteria"),
        ({"criteria": {"charm": 5}}, "criteria"),
        ({"criteria": {}}, "criteria"),
        ({"private_feedback": {"end_reason": "other", "would_recommend": 11}}, "private_feedback"),
        ({"private_feedback": {"end_reason": "nope", "would_recommend": 5}}, "private_feedback"),
        ({"private_feedback": {"end_reason": "other"}}, "private_feedback"),
        ({"contract_id": ""}, "contract_id"),
        ({"contract_id": "k" * 65}, "contract_id"),
        ({"idempotency_key": "k" * 129}, "idempotency_key"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_leave_feedback_refuses_bad_input(change, field):
    assert field in refused(s.LeaveFeedbackSchema, {**GOOD_FEEDBACK, **change})


def test_a_comment_of_exactly_the_limit_is_accepted():
    assert load(s.LeaveFeedbackSchema(), {**GOOD_FEEDBACK, "comment": "x" * 2_000})


def test_reply_bounds():
    assert load(s.ReplyToFeedbackSchema(), {"contract_id": "k", "text": "t" * 1_000})
    assert "text" in refused(s.ReplyToFeedbackSchema, {"contract_id": "k", "text": "t" * 1_001})
    assert "text" in refused(s.ReplyToFeedbackSchema, {"contract_id": "k", "text": ""})


def test_read_methods_take_an_optional_aware_as_of():
    for schema, key in (
        (s.GetFeedbackSchema, "contract_id"),
        (s.GetScoreSchema, "freelancer_id"),
        (s.ExplainScoreSchema, "freelancer_id"),
        (s.ClientStatsSchema, "client_id"),
    ):
        assert load(schema(), {key: "u"})["as_of"] is None
        assert load(schema(), {key: "u", "as_of": "2026-03-02T12:00:00+00:00"})["as_of"] == T0
        assert "as_of" in refused(schema, {key: "u", "as_of": "yesterday"})
        assert key in refused(schema, {})


def test_list_feedback_paging_bounds():
    assert load(s.ListFeedbackSchema(), {"user_id": "u"})["limit"] == 20
    assert "limit" in refused(s.ListFeedbackSchema, {"user_id": "u", "limit": 101})
    assert "limit" in refused(s.ListFeedbackSchema, {"user_id": "u", "limit": 0})
    assert "offset" in refused(s.ListFeedbackSchema, {"user_id": "u", "offset": -1})
    assert "about_role" in refused(s.ListFeedbackSchema, {"user_id": "u", "about_role": "x"})


def test_every_rpc_method_of_the_design_has_a_schema():
    assert {"leave_feedback", "get_feedback", "get_score", "explain_score", "client_stats"} <= set(
        s.RPC_SCHEMAS
    )
    for schema in s.RPC_SCHEMAS.values():
        assert "unknown" in refused(schema, {"unknown": 1})


def test_mutating_methods_take_an_idempotency_key():
    for name in ("leave_feedback", "reply_to_feedback"):
        assert "idempotency_key" in s.RPC_SCHEMAS[name]().fields


def test_non_object_input_is_refused():
    with pytest.raises(ValidationError):
        load(s.GetScoreSchema(), ["f1"])


# -- consumed events -------------------------------------------------------------------

USD = {"amount": 1_000, "currency": "USD"}
ZERO = {"amount": 0, "currency": "USD"}
AT = "2026-03-02T12:00:00+00:00"
PARTIES = {"contract_id": "k", "client_id": "c", "freelancer_id": "f"}
# Exactly the fields each producer records (escrow, identity, jobs domain code).
GOOD_EVENTS = {
    ("escrow", "ContractOpened"): {
        **PARTIES,
        "offer_id": "o",
        "proposal_id": None,
        "job_id": "j",
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
        **PARTIES,
        "milestone_id": "m",
        "payment_id": "p",
        "gross": USD,
        "net": {"amount": 900, "currency": "USD"},
        "fee": {"amount": 100, "currency": "USD"},
        "automatic": False,
        "released_at": AT,
        "security_period_seconds": 432000,
        "available_at": AT,
    },
    ("escrow", "HourlyWeekReleased"): {
        **PARTIES,
        "week_start": AT,
        "payment_id": "p",
        "gross": USD,
        "net": USD,
        "fee": ZERO,
        "released_at": AT,
        "available_at": AT,
    },
    ("escrow", "BonusPaid"): {
        **PARTIES,
        "bonus_id": "b",
        "payment_id": "p",
        "amount": USD,
        "client_fee": ZERO,
        "net": USD,
        "fee": ZERO,
        "reason": "thanks",
        "paid_at": AT,
        "security_period_seconds": 0,
        "available_at": AT,
    },
    ("escrow", "EscrowRefunded"): {
        **PARTIES,
        "refund_id": None,
        "milestone_id": "m",
        "amount": USD,
        "how": "freelancer_ended",
        "refunded_at": AT,
        "resumes": None,
    },
    ("escrow", "DisputeResolved"): {
        **PARTIES,
        "dispute_id": "d",
        "target": {"kind": "milestone", "id": "m"},
        "milestone_id": "m",
        "week_start": None,
        "refund": ZERO,
        "release": USD,
        "net": USD,
        "fee": ZERO,
        "payment_id": "p",
        "note": "split",
        "resolved_by": "op",
        "resolved_at": AT,
        "security_period_seconds": 0,
        "available_at": AT,
    },
    ("escrow", "ContractEnded"): {
        **PARTIES,
        "job_id": "j",
        "ended_by": "c",
        "reason": "Work done, thanks.",
        "ended_at": AT,
    },
    ("identity", "UserRegistered"): {
        "user_id": "u",
        "roles": ["freelancer"],
        "display_name": "Ada",
        "registered_at": AT,
        "by": "u",
    },
    ("identity", "UserSuspended"): {
        "user_id": "u",
        "reason": "spam",
        "by": "op",
        "suspended_at": AT,
    },
    ("identity", "UserReinstated"): {
        "user_id": "u",
        "reason": "ok",
        "by": "op",
        "reinstated_at": AT,
    },
    ("identity", "PaymentMethodVerified"): {
        "user_id": "u",
        "provider_reference": "card-1",
        "verified_at": AT,
        "by": "u",
    },
    ("jobs", "JobPublished"): {
        "job_id": "j",
        "client_id": "c",
        "details": {"title": "A job"},
        "published_at": AT,
        "expires_at": AT,
        "expiry_warning_at": AT,
        "expire_after_seconds": 2592000,
        "warn_before_seconds": 432000,
    },
}


def test_every_consumed_event_has_a_schema_and_a_good_example():
    assert set(GOOD_EVENTS) == set(s.CONSUMED_EVENT_SCHEMAS)


@pytest.mark.parametrize("key", sorted(GOOD_EVENTS))
def test_consumed_events_load_and_refuse_unknown_or_missing_fields(key):
    schema = s.CONSUMED_EVENT_SCHEMAS[key]
    good = GOOD_EVENTS[key]
    load(schema(), good)
    assert "extra" in refused(schema, {**good, "extra": 1})
    for field in good:
        assert field in refused(schema, {k: v for k, v in good.items() if k != field})


def test_consumed_money_is_loaded_as_money_and_bounded():
    released = GOOD_EVENTS[("escrow", "MilestoneReleased")]
    loaded = load(s.MilestoneReleasedSchema(), released)
    assert loaded["gross"] == Money(1_000, "USD")
    bad = {**released, "gross": ZERO}
    assert "gross" in refused(s.MilestoneReleasedSchema, bad)
    bad["gross"] = {"amount": 10.5, "currency": "USD"}
    assert "gross" in refused(s.MilestoneReleasedSchema, bad)


def test_consumed_event_rules():
    opened = GOOD_EVENTS[("escrow", "ContractOpened")]
    assert "freelancer_id" in refused(s.ContractOpenedSchema, {**opened, "freelancer_id": "c"})
    assert "kind" in refused(s.ContractOpenedSchema, {**opened, "kind": "barter"})
    ended = GOOD_EVENTS[("escrow", "ContractEnded")]
    assert "reason" in refused(s.ContractEndedSchema, {**ended, "reason": "x" * 2_001})
    dispute = GOOD_EVENTS[("escrow", "DisputeResolved")]
    euros = {**dispute, "refund": {"amount": 1, "currency": "EUR"}}
    assert "refund" in refused(s.DisputeResolvedSchema, euros)
    registered = GOOD_EVENTS[("identity", "UserRegistered")]
    assert "roles" in refused(s.UserRegisteredSchema, {**registered, "roles": ["king"]})
    assert "roles" in refused(s.UserRegisteredSchema, {**registered, "roles": []})


@hgiven(st.dictionaries(st.text(max_size=10), st.integers() | st.text(max_size=5), max_size=5))
def test_arbitrary_input_either_loads_or_raises_a_validation_error(data):
    for schema in list(s.RPC_SCHEMAS.values()) + list(s.CONSUMED_EVENT_SCHEMAS.values()):
        try:
            load(schema(), data)
        except ValidationError as err:
            assert err.fields


@pytest.mark.parametrize(
    ("requested", "ok"), [(T0 - SECOND, True), (T0, True), (T0 + SECOND, False), (None, True)]
)
def test_as_of_may_not_be_in_the_future(requested, ok):
    if ok:
        assert resolve_as_of(requested, T0) == (requested or T0)
    else:
        with pytest.raises(ValidationError):
            resolve_as_of(requested, T0)


def test_resolve_as_of_accepts_the_distant_past():
    assert resolve_as_of(T0 - 3_000 * DAY, T0) == T0 - 3_000 * DAY


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
        (("escrow", "DisputeResolved"), "dispute:5b2e1f44-8a0c-4f7e-9d3b-2c1a0e9f8d7c"),
    ],
)
def test_escrow_payment_ids_load_as_escrow_composes_them(key, payment_id):
    assert len(WEEK_PAYMENT_ID) > 64 and len(BONUS_PAYMENT_ID) > 64
    schema = s.CONSUMED_EVENT_SCHEMAS[key]
    loaded = load(schema(), {**GOOD_EVENTS[key], "payment_id": payment_id})
    assert loaded["payment_id"] == payment_id
    assert "payment_id" in refused(schema, {**GOOD_EVENTS[key], "payment_id": "p" * 201})


def test_a_resolution_without_a_release_has_no_payment_id():
    schema = s.CONSUMED_EVENT_SCHEMAS[("escrow", "DisputeResolved")]
    load(schema(), {**GOOD_EVENTS[("escrow", "DisputeResolved")], "payment_id": None})
