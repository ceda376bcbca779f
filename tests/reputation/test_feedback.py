"""Double-blind feedback through the real service: reveal, window close, who may do what."""

from __future__ import annotations

import json

import pytest
from kombu import Connection, Exchange, Queue

from shared.clock import manual_clock
from shared.errors import Conflict, Forbidden, NotAuthenticated, NotFound, ValidationError
from tests.reputation.harness import (
    CLIENT_CRITERIA,
    DAY,
    FREELANCER_CRITERIA,
    START,
    feedback,
    wait_until,
)

CLIENT, FREELANCER, STRANGER = "client-1", "freelancer-1", "stranger-1"
ENDED = START - DAY  # the window closes 13 days after START


@pytest.fixture
def ended(reputation):
    reputation.ended_contract("k1", CLIENT, FREELANCER, START - 40 * DAY, ENDED, gross=50_000)
    return reputation


def view(h, user, *roles, contract_id="k1", **kw):
    return h.call("get_feedback", user, *roles, contract_id=contract_id, **kw)


def test_both_sides_submitted_reveals_both_at_once(ended):
    h = ended
    first = h.call("leave_feedback", CLIENT, "client", **feedback("k1", FREELANCER_CRITERIA))
    assert first == {
        "contract_id": "k1",
        "side": "client",
        "status": "submitted",
        "revealed_sides": [],
    }
    # the freelancer knows the client submitted, but not what
    seen = view(h, FREELANCER, "freelancer")
    assert seen["sides"]["client"] == {"status": "submitted", "feedback": None}
    # the author sees their own, private part included
    own = view(h, CLIENT, "client")["sides"]["client"]["feedback"]
    assert own["rating"] == 5 and own["private"]["would_recommend"] == 10

    second = h.call(
        "leave_feedback", FREELANCER, "freelancer", **feedback("k1", CLIENT_CRITERIA, rating=4)
    )
    assert second["status"] == "revealed" and second["revealed_sides"] == ["client", "freelancer"]
    seen = view(h, FREELANCER, "freelancer")["sides"]["client"]
    assert seen["status"] == "revealed" and seen["feedback"]["rating"] == 5
    assert "private" not in seen["feedback"]
    # money was paid, so anyone signed in sees the public part
    public = view(h, STRANGER, "client")["sides"]["freelancer"]
    assert public["feedback"]["rating"] == 4 and "private" not in public["feedback"]
    staff = view(h, "auditor-1", "auditor")["sides"]["freelancer"]["feedback"]
    assert staff["private"]["end_reason"] == "work_completed"
    reveals = [e for e in h.stream("feedback-k1") if e[1] == "FeedbackRevealed"]
    assert [r[2]["reason"] for r in reveals] == ["both_submitted"]


def test_one_side_is_revealed_when_the_window_closes(ended):
    h = ended
    h.call("leave_feedback", FREELANCER, "freelancer", **feedback("k1", CLIENT_CRITERIA))
    closes_at = ENDED + 14 * DAY
    manual_clock.set(closes_at - 1e-6 * DAY)
    assert h.fire_deadlines() == 0
    assert view(h, CLIENT, "client")["sides"]["freelancer"]["status"] == "submitted"

    manual_clock.set(closes_at)
    with pytest.raises(Conflict, match="window closed"):
        h.call("leave_feedback", CLIENT, "client", **feedback("k1", FREELANCER_CRITERIA))
    assert h.fire_deadlines() == 1
    sides = view(h, CLIENT, "client")["sides"]
    assert sides["freelancer"]["status"] == "revealed"
    assert sides["freelancer"]["feedback"]["rating"] == 5
    assert sides["client"] == {"status": "pending", "feedback": None}
    types = [e[1] for e in h.stream("feedback-k1")]
    assert types[-2:] == ["FeedbackWindowClosed", "FeedbackRevealed"]
    # after the close nobody may submit, and the reviewed client may reply once
    reply = h.call("reply_to_feedback", CLIENT, "client", contract_id="k1", text="Thank you!")
    assert reply["feedback_side"] == "freelancer"
    with pytest.raises(Conflict):
        h.call("reply_to_feedback", CLIENT, "client", contract_id="k1", text="Again")


def test_neither_side_submitted_reveals_nothing(ended):
    h = ended
    manual_clock.set(ENDED + 14 * DAY)
    assert h.fire_deadlines() == 1
    sides = view(h, CLIENT, "client")["sides"]
    assert sides == {
        "client": {"status": "pending", "feedback": None},
        "freelancer": {"status": "pending", "feedback": None},
    }
    types = [e[1] for e in h.stream("feedback-k1")]
    assert types[-1] == "FeedbackWindowClosed" and "FeedbackRevealed" not in types
    assert h.fire_deadlines() == 0  # fired once only


def test_unpaid_contract_feedback_stays_off_public_view(reputation):
    h = reputation
    h.ended_contract("k2", CLIENT, FREELANCER, START - 10 * DAY, ENDED)
    h.call("leave_feedback", CLIENT, "client", **feedback("k2", FREELANCER_CRITERIA))
    h.call("leave_feedback", FREELANCER, "freelancer", **feedback("k2", CLIENT_CRITERIA))
    assert view(h, STRANGER, "client", contract_id="k2")["sides"]["client"] == {
        "status": "revealed",
        "feedback": None,
    }
    assert view(h, FREELANCER, "freelancer", contract_id="k2")["sides"]["client"]["feedback"]


def test_who_may_leave_feedback_and_when(ended):
    h = ended
    before = h.log_length()
    with pytest.raises(Forbidden):
        h.call("leave_feedback", STRANGER, "client", **feedback("k1", FREELANCER_CRITERIA))
    with pytest.raises(NotAuthenticated):
        h.call("leave_feedback", None, **feedback("k1", FREELANCER_CRITERIA))
    with pytest.raises(NotFound):
        h.call("leave_feedback", CLIENT, "client", **feedback("nope", FREELANCER_CRITERIA))
    with pytest.raises(NotFound):
        view(h, CLIENT, "client", contract_id="nope")
    assert h.log_length() == before
    # a contract still active takes no feedback
    h.open_contract("k3", CLIENT, FREELANCER, START - 5 * DAY)
    before = h.log_length()
    with pytest.raises(Conflict, match="active"):
        h.call("leave_feedback", CLIENT, "client", **feedback("k3", FREELANCER_CRITERIA))
    assert h.log_length() == before

    h.call("leave_feedback", CLIENT, "client", **feedback("k1", FREELANCER_CRITERIA))
    after_first = h.log_length()
    with pytest.raises(Conflict, match="already submitted"):
        h.call("leave_feedback", CLIENT, "client", **feedback("k1", FREELANCER_CRITERIA))
    assert h.log_length() == after_first


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"rating": 0}, "rating"),
        ({"rating": 6}, "rating"),
        ({"comment": "x" * 2_001}, "comment"),
        ({"criteria": {"skills": 5}}, "criteria"),
        ({"criteria": {**FREELANCER_CRITERIA, "skills": 7}}, "criteria"),
        (
            {"private_feedback": {"end_reason": "work_completed", "would_recommend": 11}},
            "private_feedback",
        ),
        ({"contract_id": ""}, "contract_id"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_bad_input_is_named_and_writes_nothing(ended, change, field):
    h = ended
    before = h.log_length()
    with pytest.raises(ValidationError) as err:
        h.call(
            "leave_feedback", CLIENT, "client", **{**feedback("k1", FREELANCER_CRITERIA), **change}
        )
    assert any(name.startswith(field) for name in err.value.fields), err.value.fields
    assert h.log_length() == before
    assert view(h, CLIENT, "client")["sides"]["client"]["status"] == "pending"


def test_idempotency_key_replays_the_first_result(ended):
    h = ended
    args = feedback("k1", FREELANCER_CRITERIA, idempotency_key="fb-1")
    first = h.call("leave_feedback", CLIENT, "client", **args)
    length = h.log_length()
    assert h.call("leave_feedback", CLIENT, "client", **args) == first
    assert h.log_length() == length
    with pytest.raises(Conflict, match="idempotency"):
        h.call("leave_feedback", CLIENT, "client", **{**args, "rating": 3})
    submitted = [e for e in h.stream("feedback-k1") if e[1] == "FeedbackSubmitted"]
    assert len(submitted) == 1


def test_submitted_feedback_never_leaves_the_service(ended):
    """The relay publishes the log except FeedbackSubmitted (secret until revealed)."""
    h = ended

    def relayed_up_to_head():
        head = h.log_length()
        published = h.scalar("SELECT coalesce(max(position), 0) FROM relay_position")
        return head if published == head else None

    start = wait_until(relayed_up_to_head)
    exchange = Exchange("reputation.events", type="topic", durable=True)
    with Connection(h.amqp_uri) as conn:
        queue = Queue("watch-reputation", exchange=exchange, routing_key="#", channel=conn)
        queue.declare()
        h.call("leave_feedback", CLIENT, "client", **feedback("k1", FREELANCER_CRITERIA))
        h.call("leave_feedback", FREELANCER, "freelancer", **feedback("k1", CLIENT_CRITERIA))
        wait_until(relayed_up_to_head)
        types = []
        while (message := queue.get(no_ack=True)) is not None:
            types.append(json.loads(message.body)["type"])
    appended = [
        t
        for (t,) in h.rows(
            "SELECT type FROM events WHERE position > %s ORDER BY position", (start,)
        )
    ]
    # the reveal gives the client a rating, recorded in the same transaction
    assert appended == [
        "FeedbackSubmitted",
        "FeedbackSubmitted",
        "FeedbackRevealed",
        "ClientRatingUpdated",
    ]
    assert types == ["FeedbackRevealed", "ClientRatingUpdated"]
