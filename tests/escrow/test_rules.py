"""Who may do what, bad input, idempotent commands and consumed events, through the
real service: refused commands write nothing and move no money."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import pytest
from kombu import Connection, Exchange, Queue
from nameko.testing.services import entrypoint_hook

from services.escrow.domain import contract_id_for_offer
from shared.clock import iso
from shared.errors import Conflict, Forbidden, NotAuthenticated, ValidationError
from shared.storage import Storage
from tests.escrow.driver import fixed_offer, hourly_offer, usd

CLIENT, FREELANCER, STRANGER = "client-1", "free-1", "stranger-1"


def funded_contract(escrow, amounts=(10_000,)):
    contract_id = escrow.open_contract(fixed_offer(amounts=amounts))
    view = escrow.client(CLIENT, "get_contract", contract_id=contract_id)
    escrow.fund_wallet(CLIENT, 50_000)
    milestone_id = view["milestones"][0]["milestone_id"]
    escrow.client(CLIENT, "fund_milestone", contract_id=contract_id, milestone_id=milestone_id)
    return contract_id, milestone_id


def test_an_accepted_offer_delivered_twice_opens_one_contract(escrow):
    offer = fixed_offer(amounts=(10_000, 20_000))
    event_id = escrow.publish_offer_accepted(offer)
    escrow.publish_offer_accepted(offer, event_id=event_id)  # redelivered
    escrow.publish_offer_accepted(offer)  # the same offer under another event id
    contract_id = contract_id_for_offer(offer["offer_id"])
    escrow.wait_until(
        lambda: (
            escrow.scalar("SELECT count(*) FROM processed_events") == 2
            and escrow.scalar("SELECT count(*) FROM escrow_contracts") == 1
        )
    )
    assert escrow.count("ContractOpened") == 1
    assert escrow.count("MilestoneAdded") == 2
    view = escrow.freelancer(FREELANCER, "get_contract", contract_id=contract_id)
    assert [m["amount"] for m in view["milestones"]] == [usd(10_000), usd(20_000)]
    assert view["job_id"] == offer["job_id"] and view["proposal_id"] == offer["proposal_id"]
    listed = escrow.freelancer(FREELANCER, "list_contracts", role="freelancer")
    assert [c["contract_id"] for c in listed["contracts"]] == [contract_id]
    assert escrow.client(STRANGER, "list_contracts")["contracts"] == []


def test_an_offer_with_fields_bidding_never_sends_is_parked(escrow):
    offer = {**fixed_offer(), "terms": {}}
    escrow.publish_offer_accepted(offer)
    escrow.wait_until(lambda: escrow.scalar("SELECT count(*) FROM dead_letters") == 1)
    assert escrow.log_length() == 0


def test_only_the_client_funds_approves_and_disputes_only_the_freelancer_submits(escrow):
    contract_id = escrow.open_contract(fixed_offer(amounts=(10_000, 10_000)))
    view = escrow.client(CLIENT, "get_contract", contract_id=contract_id)
    first, second = (m["milestone_id"] for m in view["milestones"])
    escrow.fund_wallet(CLIENT, 50_000)
    escrow.fund_wallet(FREELANCER, 50_000)
    escrow.fund_wallet(STRANGER, 50_000)
    before = escrow.log_length()
    for who in (FREELANCER, STRANGER):
        with pytest.raises(Forbidden):
            escrow.client(who, "fund_milestone", contract_id=contract_id, milestone_id=first)
    escrow.client(CLIENT, "fund_milestone", contract_id=contract_id, milestone_id=first)
    after_funding = escrow.log_length()
    assert after_funding == before + 2  # MilestoneFunded and its wallet mirror
    for who in (CLIENT, STRANGER):
        with pytest.raises(Forbidden):
            escrow.freelancer(who, "submit_work", contract_id=contract_id, milestone_id=first)
    for who in (FREELANCER, STRANGER):
        with pytest.raises(Forbidden):
            escrow.client(who, "approve_milestone", contract_id=contract_id, milestone_id=first)
        with pytest.raises(Forbidden):
            escrow.client(
                who,
                "open_dispute",
                contract_id=contract_id,
                target_kind="milestone",
                target_id=first,
                reason="no",
            )
        with pytest.raises(Forbidden):
            escrow.client(
                who, "add_milestone", contract_id=contract_id, title="x", amount=usd(1_000)
            )
        with pytest.raises(Forbidden):
            escrow.client(who, "pay_bonus", contract_id=contract_id, amount=usd(1_000))
    with pytest.raises(Forbidden):
        escrow.client(STRANGER, "get_contract", contract_id=contract_id)
    with pytest.raises(Forbidden):
        escrow.client(STRANGER, "end_contract", contract_id=contract_id, reason="mine now")
    with pytest.raises(Forbidden):  # only operators resolve disputes
        escrow.client(
            CLIENT,
            "resolve_dispute",
            contract_id=contract_id,
            dispute_id=str(uuid.uuid4()),
            refund=usd(0),
            release=usd(0),
        )
    with pytest.raises(Forbidden):  # only operators play the payment provider
        escrow.client(CLIENT, "confirm_provider_payment", operation="deposit", operation_id="x")
    with pytest.raises(NotAuthenticated):
        with_no_token(escrow, "wallet")
    assert escrow.log_length() == after_funding
    assert escrow.freelancer(FREELANCER, "wallet")["balance"] == usd(50_000)
    assert escrow.client(CLIENT, "wallet")["balance"] == usd(40_000)
    assert second  # the second milestone stayed unfunded
    escrow.check()


def with_no_token(escrow, method, **kwargs):
    with entrypoint_hook(escrow.container, method, context_data={}) as hook:
        return hook(**kwargs)


def test_only_the_freelancer_logs_time(escrow):
    contract_id = escrow.open_contract(hourly_offer())
    escrow.advance(hours=3)
    start = escrow.clock.now() - timedelta(hours=2)
    segment = {"start": start.isoformat(), "end": (start + timedelta(hours=1)).isoformat()}
    for who in (CLIENT, STRANGER):
        with pytest.raises(Forbidden):
            escrow.freelancer(who, "log_time", contract_id=contract_id, **segment)
    assert escrow.count("TimeLogged") == 0
    escrow.freelancer(FREELANCER, "log_time", contract_id=contract_id, **segment)
    assert escrow.count("TimeLogged") == 1


def test_bad_input_is_refused_by_field_and_moves_nothing(escrow):
    contract_id, milestone_id = funded_contract(escrow)
    escrow.freelancer(FREELANCER, "submit_work", contract_id=contract_id, milestone_id=milestone_id)
    before = escrow.log_length()
    wallet = escrow.client(CLIENT, "wallet")

    def refused(call, field, **kwargs):
        with pytest.raises(ValidationError) as caught:
            call(**kwargs)
        assert field in caught.value.fields, caught.value.details
        assert escrow.log_length() == before

    def approve(**kw):
        return escrow.client(
            CLIENT, "approve_milestone", contract_id=contract_id, milestone_id=milestone_id, **kw
        )

    refused(approve, "amount", amount=usd(0))
    refused(approve, "amount", amount=usd(-5))
    refused(approve, "amount", amount={"amount": 100, "currency": "EUR"})
    refused(approve, "amount", amount=usd(10_001))  # beyond the escrow held
    refused(approve, "amount", amount={"amount": "1.5", "currency": "USD"})
    refused(approve, "surprise", surprise=True)

    def deposit(**kw):
        return escrow.client(CLIENT, "deposit", **kw)

    refused(deposit, "amount", amount=usd(-1))
    refused(deposit, "amount", amount={"amount": 100, "currency": "XXX"})

    def add(**kw):
        return escrow.client(CLIENT, "add_milestone", contract_id=contract_id, title="t", **kw)

    refused(add, "amount", amount={"amount": 1_000, "currency": "GBP"})
    refused(add, "amount", amount=usd(499))  # below the minimum funding

    def withdraw(**kw):
        return escrow.client(CLIENT, "withdraw", source="client_wallet", **kw)

    refused(withdraw, "amount", amount=usd(wallet["balance"]["amount"] + 1))
    assert escrow.client(CLIENT, "wallet") == wallet
    escrow.check()


def test_time_that_overlaps_or_passes_the_weekly_limit_is_refused(escrow):
    contract_id = escrow.open_contract(hourly_offer(limit=2))
    monday = escrow.clock.now().replace(hour=0)
    escrow.advance(days=2)  # Wednesday

    def log(hour_from, hour_to):
        return escrow.freelancer(
            FREELANCER,
            "log_time",
            contract_id=contract_id,
            start=(monday + timedelta(hours=hour_from)).isoformat(),
            end=(monday + timedelta(hours=hour_to)).isoformat(),
        )

    log(10, 11)
    before = escrow.log_length()
    for span, field in (((10.5, 11.5), "start"), ((20, 22), "end"), ((12, 11), "end")):
        with pytest.raises(ValidationError) as caught:
            log(*span)
        assert field in caught.value.fields, caught.value.details
        assert escrow.log_length() == before
    with pytest.raises(ValidationError):
        log(30, 32)  # 1 h logged + 2 h > the 2-hour weekly limit
    log(30, 31)
    assert escrow.count("TimeLogged") == 2


def test_the_same_command_ten_times_moves_money_once(escrow):
    contract_id = escrow.open_contract(fixed_offer(amounts=(10_000,)))
    view = escrow.client(CLIENT, "get_contract", contract_id=contract_id)
    milestone_id = view["milestones"][0]["milestone_id"]
    deposits = [
        escrow.client(CLIENT, "deposit", amount=usd(30_000), idempotency_key="dep-1")
        for _ in range(10)
    ]
    assert all(d == deposits[0] for d in deposits)
    assert escrow.count("DepositRequested") == 1
    for _ in range(3):
        escrow.operator(
            "confirm_provider_payment",
            operation="deposit",
            operation_id=deposits[0]["deposit_id"],
        )
    assert escrow.count("DepositConfirmed") == 1
    results = [
        escrow.client(
            CLIENT,
            "fund_milestone",
            contract_id=contract_id,
            milestone_id=milestone_id,
            idempotency_key="fund-1",
        )
        for _ in range(10)
    ]
    assert all(r == results[0] for r in results)
    assert escrow.count("MilestoneFunded") == 1
    assert escrow.client(CLIENT, "wallet")["balance"] == usd(20_000)
    with pytest.raises(Conflict):  # the key again, with other arguments
        escrow.client(CLIENT, "deposit", amount=usd(1), idempotency_key="dep-1")
    bonuses = [
        escrow.client(
            CLIENT, "pay_bonus", contract_id=contract_id, amount=usd(1_000), idempotency_key="b"
        )
        for _ in range(10)
    ]
    assert len({b["bonus_id"] for b in bonuses}) == 1
    assert escrow.count("BonusPaid") == 1
    escrow.check()


def test_after_a_crash_between_append_and_reply_the_retry_returns_the_first_result(
    escrow, monkeypatch
):
    contract_id = escrow.open_contract(fixed_offer(amounts=(10_000,)))
    escrow.fund_wallet(CLIENT, 20_000)
    original = Storage.command
    lost = []

    def reply_lost(self, *args, **kwargs):
        result = original(self, *args, **kwargs)  # committed
        if not lost:
            lost.append(result)
            raise ConnectionError("the worker died before replying")
        return result

    monkeypatch.setattr(Storage, "command", reply_lost)
    with pytest.raises(ConnectionError):
        escrow.client(
            CLIENT, "pay_bonus", contract_id=contract_id, amount=usd(2_000), idempotency_key="k"
        )
    retried = escrow.client(
        CLIENT, "pay_bonus", contract_id=contract_id, amount=usd(2_000), idempotency_key="k"
    )
    assert retried == lost[0]
    assert escrow.count("BonusPaid") == 1
    assert escrow.client(CLIENT, "wallet")["balance"] == usd(18_000)
    escrow.check()


def test_a_paused_contract_takes_no_time_until_resumed(escrow):
    contract_id = escrow.open_contract(hourly_offer())
    escrow.advance(hours=3)
    start = escrow.clock.now() - timedelta(hours=2)
    segment = {"start": start.isoformat(), "end": (start + timedelta(hours=1)).isoformat()}
    with pytest.raises(Forbidden):
        escrow.freelancer(FREELANCER, "pause_contract", contract_id=contract_id, reason="x")
    paused = escrow.client(CLIENT, "pause_contract", contract_id=contract_id, reason="holiday")
    assert paused["contract"]["status"] == "paused"
    with pytest.raises(Conflict):
        escrow.freelancer(FREELANCER, "log_time", contract_id=contract_id, **segment)
    escrow.client(CLIENT, "resume_contract", contract_id=contract_id)
    logged = escrow.freelancer(FREELANCER, "log_time", contract_id=contract_id, **segment)
    assert [s["segment_id"] for s in logged["contract"]["time_segments"]] == [logged["segment_id"]]


def test_a_suspended_user_is_refused_once_identity_says_so(escrow):
    escrow.fund_wallet(CLIENT, 1_000)
    envelope = {
        "event_id": str(uuid.uuid4()),
        "stream": f"user-{CLIENT}",
        "version": 3,
        "position": 9,
        "type": "UserSuspended",
        "schema_version": 1,
        "data": {
            "user_id": CLIENT,
            "reason": "chargebacks",
            "by": "op-1",
            "suspended_at": iso(escrow.clock.now()),
        },
        "metadata": {},
        "recorded_at": iso(escrow.clock.now()),
    }
    with Connection(escrow.config["AMQP_URI"]) as conn:
        conn.Producer().publish(
            json.dumps(envelope),
            exchange=Exchange("identity.events", type="topic", durable=True),
            routing_key="UserSuspended",
            content_type="application/json",
        )
    escrow.wait_until(lambda: escrow.scalar("SELECT count(*) FROM suspended_users") == 1)
    with pytest.raises(NotAuthenticated):
        escrow.client(CLIENT, "withdraw", amount=usd(1_000), source="client_wallet")
    assert escrow.count("WithdrawalRequested") == 0


def test_escrow_events_are_published_on_its_exchange(escrow):
    exchange = Exchange("escrow.events", type="topic", durable=True)
    queue = Queue("escrow-events-test", exchange=exchange, routing_key="ContractOpened")
    with Connection(escrow.config["AMQP_URI"]) as conn:
        simple = conn.SimpleQueue(queue)
        contract_id = escrow.open_contract(fixed_offer())
        message = simple.get(timeout=10)
        body = message.payload if isinstance(message.payload, dict) else json.loads(message.body)
        message.ack()
        simple.close()
    assert body["type"] == "ContractOpened"
    assert body["data"]["contract_id"] == contract_id
    assert body["stream"] == f"contract-{contract_id}"
