"""The bidding service through real nameko entrypoints, on real PostgreSQL and RabbitMQ."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime, timedelta

import eventlet
import psycopg
import pytest
from kombu import Connection, Exchange
from nameko.standalone.rpc import ServiceRpcProxy
from nameko.testing.services import entrypoint_hook

from services.bidding.read_models import read_models, rebuild
from services.bidding.service import BiddingService
from shared.clock import iso, manual_clock
from shared.errors import Conflict, Forbidden, NotAuthenticated, NotFound, ValidationError
from shared.eventstore import PostgresEventStore

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
CLIENT, FREELANCER, OTHER = "client-1", "freelancer-1", "freelancer-2"


def wait_until(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        eventlet.sleep(0.05)
    raise AssertionError("condition not met in time")


def scalar(dsn, sql, params=None):
    with psycopg.connect(dsn, autocommit=True) as conn:
        return conn.execute(sql, params).fetchone()[0]


def count_events(dsn, type_=None):
    if type_ is None:
        return scalar(dsn, "SELECT count(*) FROM events")
    return scalar(dsn, "SELECT count(*) FROM events WHERE type = %s", (type_,))


@pytest.fixture
def bidding(container_factory, rabbit_config, databases, token_mint):
    manual_clock.set(START)
    dsn = databases.create("bidding")
    config = {
        "AMQP_URI": rabbit_config["AMQP_URI"],
        "DB_DSN": dsn,
        "RELAY_POLL_INTERVAL": 0.2,
        "CONSUMER_RETRY_DELAYS_MS": "100,200",
        "TIMER_INTERVAL": 3600,
        **token_mint.config(),
    }
    container = container_factory(BiddingService, config)
    container.start()

    class Harness:
        def call(self, method, user, *roles, **kwargs):
            context = token_mint.context(user, *roles) if user else {}
            with entrypoint_hook(container, method, context_data=context) as hook:
                return hook(**kwargs)

        def freelancer(self, method, user=FREELANCER, **kwargs):
            return self.call(method, user, "freelancer", **kwargs)

        def client(self, method, user=CLIENT, **kwargs):
            return self.call(method, user, "client", **kwargs)

        def publish(self, type_, data, event_id=None):
            body = {
                "event_id": event_id or str(uuid.uuid4()),
                "stream": f"job-{data['job_id']}",
                "version": 1,
                "position": 1,
                "type": type_,
                "schema_version": 1,
                "data": data,
                "metadata": {},
                "recorded_at": iso(manual_clock.now()),
            }
            with Connection(rabbit_config["AMQP_URI"]) as conn:
                conn.Producer().publish(
                    json.dumps(body),
                    exchange=Exchange("jobs.events", type="topic", durable=True),
                    routing_key=type_,
                    content_type="application/json",
                )
            return body["event_id"]

        def job(self, job_id=None, amount=300_00, questions=(), visibility="public"):
            job_id = job_id or f"job-{uuid.uuid4().hex[:8]}"
            now = manual_clock.now()
            self.publish(
                "JobPublished",
                {
                    "job_id": job_id,
                    "client_id": CLIENT,
                    "details": {
                        "title": "Build a data pipeline",
                        "description": "A pipeline that moves data from here to there, reliably.",
                        "category": "dev",
                        "subcategory": "data",
                        "skills": ["Python"],
                        "experience_level": "expert",
                        "project_length": "1_to_3_months",
                        "hours_per_week": None,
                        "budget": {
                            "type": "fixed",
                            "amount": {"amount": amount, "currency": "USD"},
                        },
                        "visibility": visibility,
                        "screening_questions": list(questions),
                        "attachments": [],
                        "contract_to_hire": False,
                    },
                    "published_at": iso(now),
                    "expires_at": iso(now + timedelta(days=30)),
                    "expiry_warning_at": iso(now + timedelta(days=25)),
                    "expire_after_seconds": 30 * 86400,
                    "warn_before_seconds": 5 * 86400,
                },
            )
            wait_until(lambda: count_events(dsn, "JobListed") and self.listed(job_id))
            return job_id

        def listed(self, job_id):
            return scalar(
                dsn, "SELECT count(*) FROM events WHERE stream = %s", (f"listing-{job_id}",)
            )

    harness = Harness()
    harness.dsn = dsn
    harness.container = container
    harness.mint = token_mint
    harness.rabbit_config = rabbit_config
    return harness


def proposal_args(job_id, **extra):
    return {
        "job_id": job_id,
        "cover_letter": "I have built many pipelines.",
        "bid": {"amount": 250_00, "currency": "USD"},
        "estimated_duration": "1_to_3_months",
        **extra,
    }


def test_a_proposal_spends_the_band_price_and_shows_the_fee(bidding):
    job = bidding.job(amount=300_00)  # medium band: 4 connects
    result = bidding.freelancer("submit_proposal", **proposal_args(job))
    assert result["connects_spent"] == 4 and result["balance"] == 10 - 4
    assert result["fee"]["fee"] == {"amount": 25_00, "currency": "USD"}
    assert result["fee"]["net"] == {"amount": 225_00, "currency": "USD"}
    assert bidding.freelancer("connects_balance")["balance"] == 6
    (spent,) = [
        r[0]
        for r in psycopg.connect(bidding.dsn).execute(
            "SELECT data FROM events WHERE type = 'ConnectsSpent'"
        )
    ]
    assert spent["budget_band"] == "medium" and spent["rate_card"]["currency"] == "USD"


def test_bad_input_is_a_clear_error_and_spends_nothing(bidding):
    job = bidding.job(questions=["What is your favourite database?"])
    bidding.freelancer("connects_balance")  # the month's grant, so only the bids remain
    before = count_events(bidding.dsn)
    cases = [
        (dict(bid={"amount": 0, "currency": "USD"}), "bid"),
        (dict(bid={"amount": -5, "currency": "USD"}), "bid"),
        (dict(answers=[]), "answers"),
        (
            dict(
                answers=[{"question_id": "q1", "answer": "PostgreSQL"}],
                milestones=[{"title": "All", "amount": {"amount": 100_00, "currency": "USD"}}],
            ),
            "milestones",
        ),
    ]
    for extra, field in cases:
        with pytest.raises(ValidationError) as raised:
            bidding.freelancer("submit_proposal", **proposal_args(job, **extra))
        assert field in raised.value.fields
    with pytest.raises(NotFound):
        bidding.freelancer("submit_proposal", **proposal_args("no-such-job"))
    assert count_events(bidding.dsn) == before
    assert bidding.freelancer("connects_balance")["balance"] == 10


def test_only_parties_see_proposals_and_offers(bidding):
    job = bidding.job()
    proposal = bidding.freelancer("submit_proposal", **proposal_args(job))["proposal_id"]
    with pytest.raises(NotFound):
        bidding.freelancer("get_proposal", user=OTHER, proposal_id=proposal)
    assert bidding.freelancer("my_proposals", user=OTHER)["proposals"] == []
    with pytest.raises(Forbidden):
        bidding.client("list_proposals", user="client-2", job_id=job)
    listed = bidding.client("list_proposals", job_id=job)
    assert [p["proposal_id"] for p in listed["proposals"]] == [proposal]
    assert "fee" not in listed["proposals"][0]
    offer = bidding.client(
        "send_offer",
        job_id=job,
        proposal_id=proposal,
        kind="fixed",
        milestones=[{"title": "All", "amount": {"amount": 250_00, "currency": "USD"}}],
        start_date=START.date().isoformat(),
    )["offer_id"]
    with pytest.raises(Forbidden):
        bidding.client(
            "send_offer",
            user="client-2",
            job_id=job,
            proposal_id=proposal,
            kind="hourly",
            hourly_rate={"amount": 50_00, "currency": "USD"},
            weekly_limit_hours=10,
            start_date=START.date().isoformat(),
        )
    with pytest.raises(Forbidden):
        bidding.freelancer("accept_offer", user=OTHER, offer_id=offer)
    assert bidding.freelancer("accept_offer", offer_id=offer)["status"] == "accepted"
    with psycopg.connect(bidding.dsn) as conn:
        (accepted,) = [
            r[0] for r in conn.execute("SELECT data FROM events WHERE type = 'OfferAccepted'")
        ]
    assert accepted["milestones"][0]["amount"] == {"amount": 250_00, "currency": "USD"}
    assert accepted["freelancer_id"] == FREELANCER and accepted["job_id"] == job


def test_an_idempotency_key_replays_the_first_result(bidding):
    job = bidding.job()
    first = bidding.freelancer("submit_proposal", **proposal_args(job), idempotency_key="k1")
    again = bidding.freelancer("submit_proposal", **proposal_args(job), idempotency_key="k1")
    assert again == first
    assert count_events(bidding.dsn, "ProposalSubmitted") == 1
    with pytest.raises(Conflict):
        bidding.freelancer(
            "submit_proposal",
            **proposal_args(job, cover_letter="Something else."),
            idempotency_key="k1",
        )


def _concurrently(bidding, method, argument_sets):
    """Call ``method`` once per argument set, all at once, each over its own RPC proxy."""
    results = []

    def run(kwargs):
        context = bidding.mint.context(FREELANCER, "freelancer")
        with ServiceRpcProxy("bidding", bidding.rabbit_config, context_data=context) as proxy:
            try:
                results.append(getattr(proxy, method)(**kwargs))
            except Conflict as exc:
                results.append(exc)

    pool = eventlet.GreenPool()
    for kwargs in argument_sets:
        pool.spawn(run, kwargs)
    pool.waitall()
    return results


def test_two_concurrent_proposals_on_one_job_make_exactly_one(bidding):
    job = bidding.job()
    results = _concurrently(bidding, "submit_proposal", [proposal_args(job)] * 2)
    assert sum(isinstance(r, dict) for r in results) == 1
    assert count_events(bidding.dsn, "ProposalSubmitted") == 1
    assert bidding.freelancer("connects_balance")["balance"] == 6


def test_connects_never_go_below_zero_under_twenty_concurrent_submissions(bidding):
    jobs = [bidding.job(amount=1000_00) for _ in range(20)]  # large band: 8 connects each
    bidding.freelancer("connects_balance")
    results = _concurrently(bidding, "submit_proposal", [proposal_args(j) for j in jobs])
    accepted = [r for r in results if isinstance(r, dict)]
    assert len(accepted) == 1  # 10 connects buy one 8-connect proposal
    assert bidding.freelancer("connects_balance")["balance"] == 2
    assert count_events(bidding.dsn, "ConnectsSpent") == 1


def test_a_cancellation_delivered_twice_refunds_once(bidding):
    job = bidding.job()
    bidding.freelancer("submit_proposal", **proposal_args(job))
    closed = {
        "job_id": job,
        "client_id": CLIENT,
        "reason": "cancelled",
        "note": None,
        "closed_by": CLIENT,
        "closed_at": iso(manual_clock.now()),
    }
    event_id = bidding.publish("JobClosed", closed)
    bidding.publish("JobClosed", closed, event_id=event_id)
    # a later close of a job never listed marks that the same queue got past the duplicate
    bidding.publish("JobClosed", {**closed, "job_id": "marker-job"})
    wait_until(
        lambda: scalar(
            bidding.dsn, "SELECT count(*) FROM bidding_early_closures WHERE job_id = 'marker-job'"
        )
    )
    eventlet.sleep(0.3)
    assert count_events(bidding.dsn, "ConnectsRefunded") == 1
    assert count_events(bidding.dsn, "JobDelisted") == 1
    assert bidding.freelancer("connects_balance")["balance"] == 10


def test_offers_and_connects_expire_when_the_clock_moves(bidding):
    job = bidding.job()
    proposal = bidding.freelancer("submit_proposal", **proposal_args(job))["proposal_id"]
    offer = bidding.client(
        "send_offer",
        job_id=job,
        proposal_id=proposal,
        kind="hourly",
        hourly_rate={"amount": 40_00, "currency": "USD"},
        weekly_limit_hours=20,
        start_date=START.date().isoformat(),
    )
    expires = datetime.fromisoformat(offer["expires_at"])
    assert expires == START + timedelta(days=30)

    def fire():
        with entrypoint_hook(bidding.container, "fire_deadlines") as tick:
            return tick()

    manual_clock.set(expires - timedelta(seconds=1))
    fire()
    assert count_events(bidding.dsn, "OfferExpired") == 0
    manual_clock.set(expires)
    fire()
    assert count_events(bidding.dsn, "OfferExpired") == 1
    with pytest.raises(Conflict):
        bidding.freelancer("accept_offer", offer_id=offer["offer_id"])

    lot_end = START + timedelta(days=365)
    manual_clock.set(lot_end - timedelta(seconds=1))
    fire()
    assert count_events(bidding.dsn, "ConnectsExpired") == 0
    manual_clock.set(lot_end)
    fire()
    (expired,) = [
        r[0]
        for r in psycopg.connect(bidding.dsn).execute(
            "SELECT data FROM events WHERE type = 'ConnectsExpired'"
        )
    ]
    assert expired["lots"] == [{"lot_id": "lot-1", "connects": 6}]


def test_the_read_models_rebuild_row_for_row(bidding):
    job = bidding.job()
    p1 = bidding.freelancer("submit_proposal", **proposal_args(job))["proposal_id"]
    bidding.freelancer("submit_proposal", user=OTHER, **proposal_args(job))
    bidding.client("shortlist_proposal", proposal_id=p1)
    offer = bidding.client(
        "send_offer",
        job_id=job,
        proposal_id=p1,
        kind="fixed",
        milestones=[{"title": "All", "amount": {"amount": 250_00, "currency": "USD"}}],
        start_date=START.date().isoformat(),
    )["offer_id"]
    bidding.freelancer("decline_offer", offer_id=offer, reason="other")

    def snapshot():
        with psycopg.connect(bidding.dsn) as conn:
            return (
                conn.execute("SELECT * FROM bidding_proposals ORDER BY proposal_id").fetchall(),
                conn.execute("SELECT * FROM bidding_offers ORDER BY offer_id").fetchall(),
            )

    live = snapshot()
    assert len(live[0]) == 2 and len(live[1]) == 1
    store = PostgresEventStore.connect(bidding.dsn)
    try:
        with psycopg.connect(bidding.dsn) as conn:
            replayed = rebuild(conn, read_models(), store.iter_all())
    finally:
        store.close()
    assert replayed == count_events(bidding.dsn)
    assert snapshot() == live


def test_boosted_proposals_are_pinned_first_and_the_auction_closes_on_time(bidding):
    job = bidding.job()
    plain = bidding.freelancer("submit_proposal", **proposal_args(job))
    manual_clock.advance(minutes=1)
    boosted = bidding.freelancer("submit_proposal", user=OTHER, **proposal_args(job, boost=3))
    assert boosted["connects_spent"] == 4 and boosted["balance"] == 10 - 4 - 3
    manual_clock.advance(minutes=1)
    third = bidding.freelancer("submit_proposal", user="freelancer-3", **proposal_args(job))
    listed = bidding.client("list_proposals", job_id=job, order="newest")["proposals"]
    order = [p["proposal_id"] for p in listed]
    assert order == [boosted["proposal_id"], third["proposal_id"], plain["proposal_id"]]
    assert listed[0]["boosted"] and "boost" not in listed[0]

    auction_end = START + timedelta(days=7)
    manual_clock.set(auction_end - timedelta(seconds=1))
    with entrypoint_hook(bidding.container, "fire_deadlines") as tick:
        tick()
    assert count_events(bidding.dsn, "BoostAuctionClosed") == 0
    manual_clock.set(auction_end)
    with entrypoint_hook(bidding.container, "fire_deadlines") as tick:
        tick()
    assert count_events(bidding.dsn, "BoostAuctionClosed") == 1
    with pytest.raises(Conflict):
        bidding.freelancer("submit_proposal", user="freelancer-4", **proposal_args(job, boost=1))


def test_a_suspended_freelancer_is_refused_once_identity_says_so(bidding):
    job = bidding.job()
    body = {
        "event_id": str(uuid.uuid4()),
        "stream": f"user-{FREELANCER}",
        "version": 2,
        "position": 7,
        "type": "UserSuspended",
        "schema_version": 1,
        "data": {
            "user_id": FREELANCER,
            "reason": "fraud",
            "by": "operator-1",
            "suspended_at": iso(manual_clock.now()),
        },
        "metadata": {},
        "recorded_at": iso(manual_clock.now()),
    }
    with Connection(bidding.rabbit_config["AMQP_URI"]) as conn:
        conn.Producer().publish(
            json.dumps(body),
            exchange=Exchange("identity.events", type="topic", durable=True),
            routing_key="UserSuspended",
            content_type="application/json",
        )
    wait_until(lambda: scalar(bidding.dsn, "SELECT count(*) FROM suspended_users"))
    before = count_events(bidding.dsn)
    with pytest.raises(NotAuthenticated):
        bidding.freelancer("submit_proposal", **proposal_args(job))
    assert count_events(bidding.dsn) == before


def test_purchased_connects_add_a_lot_and_a_withdrawal_refunds_nothing(bidding):
    bought = bidding.freelancer("purchase_connects", bundle=20, idempotency_key="buy-1")
    assert bought["balance"] == 30 and bought["price"] == {"amount": 300, "currency": "USD"}
    assert bidding.freelancer("purchase_connects", bundle=20, idempotency_key="buy-1") == bought
    with pytest.raises(ValidationError) as raised:
        bidding.freelancer("purchase_connects", bundle=7)
    assert "bundle" in raised.value.fields
    summary = bidding.freelancer("connects_balance")
    assert [lot["source"] for lot in summary["lots"]] == ["grant", "purchase"]

    job = bidding.job()
    proposal = bidding.freelancer("submit_proposal", **proposal_args(job))["proposal_id"]
    with pytest.raises(Forbidden):
        bidding.freelancer("withdraw_proposal", user=OTHER, proposal_id=proposal, reason="other")
    withdrawn = bidding.freelancer("withdraw_proposal", proposal_id=proposal, reason="other")
    assert withdrawn["status"] == "withdrawn"
    assert bidding.freelancer("connects_balance")["balance"] == 30 - 4
    assert bidding.client("list_proposals", job_id=job)["proposals"] == []
