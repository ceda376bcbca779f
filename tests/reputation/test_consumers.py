"""Every consumed event, as its producer shapes it, reaches the scores and stats; a
malformed one is parked and writes nothing; a suspension from identity is honoured."""

from __future__ import annotations

import json

import pytest
from kombu import Connection, Exchange

from shared.clock import iso
from shared.errors import NotAuthenticated
from tests.reputation.harness import DAY, START, usd, wait_until

F, C = "freelancer-bo", "client-cy"
PARTIES = {"client_id": C, "freelancer_id": F}


def escrow(h, type_, cid, **data):
    return h.publish(
        h.envelope("escrow", type_, f"contract-{cid}", {"contract_id": cid, **PARTIES, **data})
    )


def test_escrow_identity_and_jobs_events_feed_scores_and_client_stats(reputation):
    h = reputation
    h.register(F, ["freelancer"], START - 400 * DAY)
    h.register(C, ["client"], START - 400 * DAY)
    verified = {"user_id": C, "provider_reference": "card-1", "verified_at": iso(START - 300 * DAY)}
    h.publish(h.envelope("identity", "PaymentMethodVerified", f"user-{C}", {**verified, "by": C}))
    for job in ("job-k1", "job-other"):
        data = {
            "job_id": job,
            "client_id": C,
            "details": {"title": "Build a thing"},
            "published_at": iso(START - 100 * DAY),
            "expires_at": iso(START - 70 * DAY),
            "expiry_warning_at": iso(START - 75 * DAY),
            "expire_after_seconds": 30 * 86400,
            "warn_before_seconds": 5 * 86400,
        }
        h.publish(h.envelope("jobs", "JobPublished", f"job-{job}", data))

    h.open_contract("k1", C, F, START - 90 * DAY)
    # payment ids as escrow composes them: ``week:<contract>:<week start>`` (longer than 64)
    week_payment = f"week:{'0' * 36}:{iso(START - 60 * DAY)}"
    paid = {"payment_id": week_payment, "net": usd(27_000), "fee": usd(3_000)}
    escrow(
        h,
        "HourlyWeekReleased",
        "k1",
        week_start=iso(START - 60 * DAY),
        gross=usd(30_000),
        released_at=iso(START - 50 * DAY),
        available_at=iso(START - 45 * DAY),
        **paid,
    )
    escrow(
        h,
        "BonusPaid",
        "k1",
        bonus_id="b1",
        payment_id=f"bonus:{'0' * 36}:{'1' * 36}",
        amount=usd(5_000),
        client_fee=usd(150),
        net=usd(4_500),
        fee=usd(500),
        reason="Extra effort",
        paid_at=iso(START - 40 * DAY),
        security_period_seconds=0,
        available_at=iso(START - 40 * DAY),
    )
    escrow(
        h,
        "DisputeResolved",
        "k1",
        dispute_id="d1",
        target={"kind": "milestone", "id": "m1"},
        milestone_id="m1",
        week_start=None,
        refund=usd(40_000),
        release=usd(10_000),
        net=usd(9_000),
        fee=usd(1_000),
        payment_id="p3",
        note="Mostly not delivered",
        resolved_by="operator-1",
        resolved_at=iso(START - 20 * DAY),
        security_period_seconds=0,
        available_at=iso(START - 20 * DAY),
    )
    h.end("k1", C, F, START - 10 * DAY)
    # a second contract refunded with nothing paid
    h.open_contract("k2", C, F, START - 30 * DAY)
    escrow(
        h,
        "EscrowRefunded",
        "k2",
        refund_id=None,
        milestone_id="m2",
        amount=usd(7_000),
        how="freelancer_ended",
        refunded_at=iso(START - 5 * DAY),
        resumes=None,
    )
    h.end("k2", C, F, START - 5 * DAY)

    types = [e[1] for e in h.stream("feedback-k1")]
    assert types == [
        "ContractTracked",
        "PaymentNoted",
        "PaymentNoted",
        "DisputeOutcomeNoted",
        "PaymentNoted",
        "RefundNoted",
        "FeedbackWindowOpened",
    ]
    explained = h.call("explain_score", F, "freelancer", freelancer_id=F)
    rows = {row["contract_id"]: row for row in explained["contracts"]}
    assert rows["k1"]["negative_signals"] == ["dispute_lost"]
    assert rows["k1"]["earnings_points"] == 450  # (30,000 + 5,000 + 10,000) // 100
    assert rows["k2"]["negative_signals"] == ["refunded_unpaid"]
    # k1: 450 points (tier 2), 80 days (tier 2); k2: 0 points (1), 25 days (1)
    assert explained["negative_weight"] == (2 + 2) + (1 + 1)

    stats = h.call("client_stats", F, "freelancer", client_id=C)
    assert (stats["jobs_posted"], stats["hires"], stats["hired_jobs"]) == (2, 2, 1)
    assert stats["hire_rate_percent"] == 50
    assert stats["total_spent"] == [usd(45_000)]
    assert stats["payment_verified"] is True


def test_a_suspended_user_is_refused_and_it_counts_as_a_violation(reputation):
    h = reputation
    h.register(F, ["freelancer"], START - 400 * DAY)
    suspended = {"user_id": F, "reason": "fraud", "by": "operator-1"}
    h.publish(
        h.envelope(
            "identity",
            "UserSuspended",
            f"user-{F}",
            {**suspended, "suspended_at": iso(START - DAY)},
        ),
        wait=False,
    )
    wait_until(lambda: h.scalar("SELECT count(*) FROM suspended_users") == 1)
    with pytest.raises(NotAuthenticated, match="suspended"):
        h.call("get_score", F, "freelancer", freelancer_id=F)
    wait_until(lambda: len(h.stream(f"member-{F}")) == 2)
    explained = h.call("explain_score", "auditor-1", "auditor", freelancer_id=F)
    violation = explained["badges"]["criteria"]["rising_talent"][1]
    assert violation["name"] == "no_recent_violation" and not violation["passed"]

    reinstated = {"user_id": F, "reason": "cleared", "by": "operator-1"}
    h.publish(
        h.envelope(
            "identity",
            "UserReinstated",
            f"user-{F}",
            {**reinstated, "reinstated_at": iso(START)},
        ),
        wait=False,
    )
    wait_until(lambda: h.scalar("SELECT count(*) FROM suspended_users") == 0)
    assert h.call("get_score", F, "freelancer", freelancer_id=F)["score"] is None
    wait_until(lambda: len(h.stream(f"member-{F}")) == 3)


def test_a_malformed_event_is_parked_and_writes_nothing(reputation):
    h = reputation
    before = h.log_length()
    envelope = h.envelope(
        "escrow", "ContractOpened", "contract-k9", {"contract_id": "k9", "surprise": True}
    )
    with Connection(h.amqp_uri) as conn:
        conn.Producer().publish(
            json.dumps({k: v for k, v in envelope.items() if k != "source"}),
            exchange=Exchange("escrow.events", type="topic", durable=True),
            routing_key="ContractOpened",
            content_type="application/json",
        )
    wait_until(lambda: h.scalar("SELECT count(*) FROM dead_letters") == 1)
    error = h.scalar("SELECT error FROM dead_letters")
    assert "malformed event" in error and "surprise" in error
    assert h.log_length() == before
