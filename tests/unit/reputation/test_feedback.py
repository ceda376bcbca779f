"""ContractFeedback: given events, when a command, then new events (or an error)."""

from __future__ import annotations

import pytest

from services.reputation.domain import ContractFeedback
from services.reputation.settings import FeedbackSettings
from shared.clock import iso
from shared.errors import Conflict, Forbidden, NotFound, ValidationError

from .helpers import (
    DAY,
    SECOND,
    SETTINGS,
    T0,
    feedback_args,
    given,
    revealed,
    submitted,
    tracked,
    types,
    usd,
    window_opened,
)

END = T0 + 10 * DAY
CLOSES = END + 14 * DAY


def ended_contract(*more):
    return given(ContractFeedback, "k1", [tracked(), window_opened(END), *more])


# -- facts from escrow -----------------------------------------------------------------


def test_tracking_a_started_contract_records_the_inactivity_limit_in_force():
    agg = given(ContractFeedback, "k1", [])
    agg.track_contract(
        source_event_id="es-1",
        client_id="c1",
        freelancer_id="f1",
        kind="hourly",
        started_at=T0,
        job_id="j1",
        settings=FeedbackSettings(inactivity_days=60),
    )
    [event] = agg.pending
    assert event.type == "ContractTracked"
    assert event.stream == "feedback-k1"
    assert event.data == {
        "contract_id": "k1",
        "client_id": "c1",
        "freelancer_id": "f1",
        "kind": "hourly",
        "job_id": "j1",
        "started_at": iso(T0),
        "inactivity_days": 60,
        "source_event_id": "es-1",
    }


def test_the_same_started_event_twice_records_nothing():
    agg = given(ContractFeedback, "k1", [tracked(source="es-1")])
    agg.track_contract(
        source_event_id="es-1",
        client_id="c1",
        freelancer_id="f1",
        kind="fixed",
        started_at=T0,
        job_id="j1",
        settings=SETTINGS,
    )
    assert agg.pending == []


def test_a_different_start_for_a_tracked_contract_is_a_conflict():
    agg = given(ContractFeedback, "k1", [tracked(source="es-1")])
    with pytest.raises(Conflict):
        agg.track_contract(
            source_event_id="es-9",
            client_id="c1",
            freelancer_id="f1",
            kind="fixed",
            started_at=T0,
            job_id=None,
            settings=SETTINGS,
        )


def test_a_contract_with_oneself_is_refused():
    agg = given(ContractFeedback, "k1", [])
    with pytest.raises(ValidationError):
        agg.track_contract(
            source_event_id="es-1",
            client_id="u1",
            freelancer_id="u1",
            kind="fixed",
            started_at=T0,
            job_id=None,
            settings=SETTINGS,
        )


def test_payments_refunds_and_disputes_are_noted_once_per_source_event():
    agg = given(ContractFeedback, "k1", [tracked()])
    for _ in range(2):
        agg.note_payment(source_event_id="p1", amount=usd(5000), paid_at=T0 + DAY)
        agg.note_refund(source_event_id="r1", amount=usd(700), refunded_at=T0 + DAY)
        agg.note_dispute_resolved(
            source_event_id="d1",
            dispute_id="d",
            released=usd(400),
            refunded=usd(600),
            resolved_at=T0 + 2 * DAY,
        )
    assert types(agg) == ["PaymentNoted", "RefundNoted", "DisputeOutcomeNoted"]
    assert agg.pending[0].data == {
        "amount": {"amount": 5000, "currency": "USD"},
        "paid_at": iso(T0 + DAY),
        "source_event_id": "p1",
    }
    assert agg.pending[2].data["freelancer_lost"] is True


@pytest.mark.parametrize(
    ("released", "refunded", "lost"), [(500, 500, False), (501, 500, False), (499, 500, True)]
)
def test_the_freelancer_loses_a_dispute_when_the_client_gets_back_more(released, refunded, lost):
    agg = given(ContractFeedback, "k1", [tracked()])
    agg.note_dispute_resolved(
        source_event_id="d1",
        dispute_id="d",
        released=usd(released),
        refunded=usd(refunded),
        resolved_at=T0,
    )
    assert agg.pending[0].data["freelancer_lost"] is lost


def test_facts_about_an_unknown_contract_are_not_found():
    agg = given(ContractFeedback, "k1", [])
    with pytest.raises(NotFound):
        agg.note_payment(source_event_id="p1", amount=usd(1), paid_at=T0)
    with pytest.raises(NotFound):
        agg.note_contract_ended(
            source_event_id="e", ended_at=T0, end_reason="completed", settings=SETTINGS
        )


def test_a_zero_payment_is_refused():
    agg = given(ContractFeedback, "k1", [tracked()])
    with pytest.raises(ValidationError):
        agg.note_payment(source_event_id="p1", amount=usd(0), paid_at=T0)


def test_the_end_opens_the_window_from_the_end_with_the_days_in_force():
    agg = given(ContractFeedback, "k1", [tracked()])
    # Consumed late: the window still runs from the contract's end.
    agg.note_contract_ended(
        source_event_id="es-end",
        ended_at=END,
        end_reason="completed",
        settings=FeedbackSettings(feedback_window_days=7),
    )
    [event] = agg.pending
    assert event.type == "FeedbackWindowOpened"
    assert event.data == {
        "ended_at": iso(END),
        "end_reason": "completed",
        "window_days": 7,
        "closes_at": iso(END + 7 * DAY),
        "source_event_id": "es-end",
    }
    assert agg.deadline == END + 7 * DAY


def test_the_end_consumed_twice_records_once_and_a_second_end_conflicts():
    agg = ended_contract()
    agg.note_contract_ended(
        source_event_id="es-end", ended_at=END, end_reason="completed", settings=SETTINGS
    )
    assert agg.pending == []
    with pytest.raises(Conflict):
        agg.note_contract_ended(
            source_event_id="other", ended_at=END, end_reason="completed", settings=SETTINGS
        )


def test_an_end_before_the_start_is_refused():
    agg = given(ContractFeedback, "k1", [tracked(started_at=T0)])
    with pytest.raises(ValidationError):
        agg.note_contract_ended(
            source_event_id="e", ended_at=T0 - SECOND, end_reason="completed", settings=SETTINGS
        )


def test_a_window_recorded_under_old_settings_keeps_its_length():
    # Recorded with 14 days; the configuration now says 3: the replay still closes at 14.
    agg = ended_contract()
    assert agg.deadline == CLOSES
    agg.leave_feedback(
        **feedback_args("c1", END + 10 * DAY, settings=FeedbackSettings(feedback_window_days=3))
    )
    assert types(agg) == ["FeedbackSubmitted"]


# -- leaving feedback ------------------------------------------------------------------


def test_the_client_leaves_feedback_and_nothing_is_revealed_yet():
    agg = ended_contract()
    agg.leave_feedback(**feedback_args("c1", END + DAY, rating=4, recommend=8))
    [event] = agg.pending
    assert event.type == "FeedbackSubmitted"
    assert event.data["side"] == "client"
    assert event.data["author_id"] == "c1"
    assert event.data["subject_id"] == "f1"
    assert event.data["rating"] == 4
    assert event.data["private"] == {"end_reason": "work_completed", "would_recommend": 8}
    assert event.data["submitted_at"] == iso(END + DAY)
    assert set(event.data["criteria"]) == {
        "skills",
        "quality",
        "availability",
        "deadlines",
        "communication",
        "cooperation",
    }


def test_both_sides_submitted_reveals_both_at_once():
    agg = ended_contract(submitted("client", END + DAY))
    agg.leave_feedback(**feedback_args("f1", END + 2 * DAY))
    assert types(agg) == ["FeedbackSubmitted", "FeedbackRevealed"]
    assert agg.pending[0].data["side"] == "freelancer"
    assert agg.pending[1].data == {
        "reason": "both_submitted",
        "sides": ["client", "freelancer"],
        "revealed_at": iso(END + 2 * DAY),
        "reply_window_days": 30,
        "reply_closes_at": iso(END + 32 * DAY),
    }


def test_feedback_on_an_unknown_contract_is_not_found():
    agg = given(ContractFeedback, "k1", [])
    with pytest.raises(NotFound):
        agg.leave_feedback(**feedback_args("c1", END))


def test_feedback_on_an_active_contract_is_a_conflict():
    agg = given(ContractFeedback, "k1", [tracked()])
    with pytest.raises(Conflict, match="active"):
        agg.leave_feedback(**feedback_args("c1", END))


def test_feedback_by_someone_not_party_to_the_contract_is_forbidden():
    agg = ended_contract()
    with pytest.raises(Forbidden):
        agg.leave_feedback(**feedback_args("c2", END + DAY))
    assert agg.pending == []


def test_a_second_feedback_by_the_same_side_is_a_conflict():
    agg = ended_contract(submitted("client", END + DAY))
    with pytest.raises(Conflict, match="already"):
        agg.leave_feedback(**feedback_args("c1", END + 2 * DAY))


@pytest.mark.parametrize(
    ("at", "accepted"), [(CLOSES - SECOND, True), (CLOSES, False), (CLOSES + SECOND, False)]
)
def test_the_feedback_window_boundary(at, accepted):
    agg = ended_contract()
    if accepted:
        agg.leave_feedback(**feedback_args("c1", at))
        assert types(agg) == ["FeedbackSubmitted"]
    else:
        with pytest.raises(Conflict, match="closed"):
            agg.leave_feedback(**feedback_args("c1", at))
        assert agg.pending == []


def test_feedback_right_at_the_end_is_accepted():
    agg = ended_contract()
    agg.leave_feedback(**feedback_args("c1", END))
    assert types(agg) == ["FeedbackSubmitted"]


def test_feedback_after_the_window_was_closed_is_a_conflict():
    agg = ended_contract(
        ("FeedbackWindowClosed", {"closed_at": iso(CLOSES), "submitted_sides": []})
    )
    with pytest.raises(Conflict):
        agg.leave_feedback(**feedback_args("c1", CLOSES - SECOND))


@pytest.mark.parametrize("rating", [0, 6, -1, True, "5"])
def test_an_overall_rating_outside_1_to_5_is_refused(rating):
    agg = ended_contract()
    with pytest.raises(ValidationError) as err:
        agg.leave_feedback(**feedback_args("c1", END + DAY, rating=rating))
    assert "rating" in err.value.fields
    assert agg.pending == []


@pytest.mark.parametrize("recommend", [-1, 11])
def test_would_recommend_outside_0_to_10_is_refused(recommend):
    agg = ended_contract()
    with pytest.raises(ValidationError) as err:
        agg.leave_feedback(**feedback_args("c1", END + DAY, recommend=recommend))
    assert "would_recommend" in err.value.fields


@pytest.mark.parametrize("recommend", [0, 10])
def test_would_recommend_bounds_are_accepted(recommend):
    agg = ended_contract()
    agg.leave_feedback(**feedback_args("c1", END + DAY, recommend=recommend))
    assert types(agg) == ["FeedbackSubmitted"]


def test_a_client_must_rate_exactly_the_freelancer_criteria():
    agg = ended_contract()
    client_criteria = {"clarity": 5, "communication": 5, "payment_promptness": 5, "cooperation": 5}
    with pytest.raises(ValidationError) as err:
        agg.leave_feedback(**feedback_args("c1", END + DAY, criteria=client_criteria))
    assert "criteria" in err.value.fields


def test_a_freelancer_must_rate_exactly_the_client_criteria():
    agg = ended_contract()
    partial = {"clarity": 5, "communication": 5}
    with pytest.raises(ValidationError) as err:
        agg.leave_feedback(**feedback_args("f1", END + DAY, criteria=partial))
    assert "criteria" in err.value.fields


def test_a_criterion_rated_6_is_refused():
    agg = ended_contract()
    criteria = {"clarity": 6, "communication": 5, "payment_promptness": 5, "cooperation": 5}
    with pytest.raises(ValidationError) as err:
        agg.leave_feedback(**feedback_args("f1", END + DAY, criteria=criteria))
    assert "criteria.clarity" in err.value.fields


def test_an_unknown_private_end_reason_is_refused():
    agg = ended_contract()
    with pytest.raises(ValidationError):
        agg.leave_feedback(**feedback_args("c1", END + DAY, end_reason="bored"))


# -- the window's close ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("at", "closes"), [(CLOSES - SECOND, False), (CLOSES, True), (CLOSES + SECOND, True)]
)
def test_the_close_boundary(at, closes):
    agg = ended_contract(submitted("freelancer", END + DAY))
    if closes:
        agg.close_window(now=at, settings=SETTINGS)
        assert types(agg) == ["FeedbackWindowClosed", "FeedbackRevealed"]
        assert agg.pending[0].data == {"closed_at": iso(at), "submitted_sides": ["freelancer"]}
        assert agg.pending[1].data["reason"] == "window_closed"
        assert agg.pending[1].data["sides"] == ["freelancer"]
        assert agg.deadline is None
    else:
        with pytest.raises(Conflict, match="open until"):
            agg.close_window(now=at, settings=SETTINGS)


def test_closing_with_neither_side_submitted_reveals_nothing():
    agg = ended_contract()
    agg.close_window(now=CLOSES, settings=SETTINGS)
    assert types(agg) == ["FeedbackWindowClosed"]
    assert agg.pending[0].data["submitted_sides"] == []


def test_closing_after_both_were_revealed_reveals_nothing_again():
    agg = ended_contract(
        submitted("client", END + DAY),
        submitted("freelancer", END + DAY),
        revealed(["client", "freelancer"], END + DAY),
    )
    agg.close_window(now=CLOSES, settings=SETTINGS)
    assert types(agg) == ["FeedbackWindowClosed"]


def test_closing_twice_records_nothing_the_second_time():
    agg = ended_contract(
        ("FeedbackWindowClosed", {"closed_at": iso(CLOSES), "submitted_sides": []})
    )
    agg.close_window(now=CLOSES + DAY, settings=SETTINGS)
    assert agg.pending == []


def test_closing_an_active_contract_is_a_conflict():
    agg = given(ContractFeedback, "k1", [tracked()])
    with pytest.raises(Conflict):
        agg.close_window(now=CLOSES, settings=SETTINGS)
    assert agg.deadline is None


# -- replies ---------------------------------------------------------------------------

REVEALED_AT = END + DAY
REPLY_CLOSES = REVEALED_AT + 30 * DAY


def revealed_contract():
    return ended_contract(
        submitted("client", END + DAY),
        submitted("freelancer", END + DAY),
        revealed(["client", "freelancer"], REVEALED_AT),
    )


@pytest.mark.parametrize(
    ("at", "accepted"),
    [(REPLY_CLOSES - SECOND, True), (REPLY_CLOSES, False), (REPLY_CLOSES + SECOND, False)],
)
def test_the_reply_window_boundary(at, accepted):
    agg = revealed_contract()
    if accepted:
        agg.reply_to_feedback(actor_id="f1", text="Thank you!", now=at)
        [event] = agg.pending
        assert event.type == "FeedbackReplied"
        assert event.data == {
            "feedback_side": "client",
            "author_id": "f1",
            "text": "Thank you!",
            "replied_at": iso(at),
        }
    else:
        with pytest.raises(Conflict, match="closed"):
            agg.reply_to_feedback(actor_id="f1", text="Thank you!", now=at)


def test_only_one_reply_per_feedback():
    agg = revealed_contract()
    agg.reply_to_feedback(actor_id="f1", text="Thanks", now=REVEALED_AT)
    with pytest.raises(Conflict, match="already replied"):
        agg.reply_to_feedback(actor_id="f1", text="Again", now=REVEALED_AT)
    # The other party still has their own reply.
    agg.reply_to_feedback(actor_id="c1", text="Likewise", now=REVEALED_AT)
    assert [e.data["feedback_side"] for e in agg.pending] == ["client", "freelancer"]


def test_no_reply_before_the_feedback_is_revealed():
    agg = ended_contract(submitted("client", END + DAY))
    with pytest.raises(Conflict, match="no revealed feedback"):
        agg.reply_to_feedback(actor_id="f1", text="Hi", now=END + DAY)


def test_no_reply_to_ones_own_feedback_when_only_it_was_revealed():
    agg = ended_contract(
        submitted("client", END + DAY), revealed(["client"], CLOSES, reason="window_closed")
    )
    with pytest.raises(Conflict):
        agg.reply_to_feedback(actor_id="c1", text="Hi", now=CLOSES)
    agg.reply_to_feedback(actor_id="f1", text="Hi", now=CLOSES)
    assert types(agg) == ["FeedbackReplied"]


def test_a_stranger_may_not_reply():
    with pytest.raises(Forbidden):
        revealed_contract().reply_to_feedback(actor_id="x", text="Hi", now=REVEALED_AT)


def test_a_blank_reply_is_refused():
    with pytest.raises(ValidationError):
        revealed_contract().reply_to_feedback(actor_id="f1", text="   ", now=REVEALED_AT)
