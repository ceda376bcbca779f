"""Disputes on milestones, refund requests and hourly weeks."""

from __future__ import annotations

from datetime import timedelta

import pytest

from shared.errors import Conflict, Forbidden, NotFound, ValidationError
from shared.money import Money

from .harness import CLIENT, FREELANCER, OPERATOR, SECOND, STRANGER, Harness, types, usd
from .test_fixed_price import funded, refused, submitted
from .test_hourly import MONDAY, REVIEW_UNTIL, invoiced

OPS = ("operator",)


@pytest.fixture
def h() -> Harness:
    return Harness()


def disputed(h: Harness) -> tuple[str, str]:
    cid, m1 = submitted(h)
    c = h.contract(cid)
    c.open_dispute("d-1", "milestone", m1, "not what we agreed", CLIENT, h.now)
    h.commit(c)
    return cid, m1


def resolve(h, cid, refund, release, actor=OPERATOR, roles=OPS):
    c, cw, fw = h.contract(cid), h.wallet(CLIENT), h.wallet(FREELANCER)
    c.resolve_dispute("d-1", usd(refund), usd(release), "split", actor, roles, h.now, cw, fw)
    return h.commit(c, cw, fw)


def test_client_disputes_a_milestone_and_the_money_stays_held(h):
    cid, m1 = disputed(h)
    m = h.contract(cid).milestones[m1]
    assert (m.status, m.held) == ("disputed", usd(50_000))
    assert h.ledger.balance(f"contract_escrow:{cid}", "USD") == 50_000


def test_a_disputed_milestone_freezes_every_other_command(h):
    cid, m1 = disputed(h)
    deadline = h.due("milestone.auto_approve", milestone_id=m1)
    c, fw = h.contract(cid), h.wallet(FREELANCER)
    refused(Conflict, lambda: c.approve_milestone(m1, CLIENT, h.now, fw), c, fw)
    refused(Conflict, lambda: c.request_refund("r", m1, CLIENT, h.now), c)
    refused(Conflict, lambda: c.submit_work(m1, "x", FREELANCER, h.now), c)
    refused(Conflict, lambda: c.open_dispute("d-2", "milestone", m1, "x", CLIENT, h.now), c)
    h.at(deadline.due_at)
    assert h.fire(deadline) == []


def test_who_may_dispute_what(h):
    cid, m1 = submitted(h)
    c = h.contract(cid)
    refused(Forbidden, lambda: c.open_dispute("d", "milestone", m1, "x", FREELANCER, h.now), c)
    refused(Forbidden, lambda: c.open_dispute("d", "milestone", m1, "x", STRANGER, h.now), c)
    refused(ValidationError, lambda: c.open_dispute("d", "contract", m1, "x", CLIENT, h.now), c)
    c.request_refund("r-1", m1, CLIENT, h.now)
    h.commit(c)
    c = h.contract(cid)
    refused(Forbidden, lambda: c.open_dispute("d", "refund", "r-1", "x", CLIENT, h.now), c)
    refused(NotFound, lambda: c.open_dispute("d", "refund", "r-x", "x", FREELANCER, h.now), c)
    c.open_dispute("d", "refund", "r-1", "I delivered", FREELANCER, h.now)
    assert types(h.commit(c)) == ["DisputeOpened"]


def test_operator_resolves_with_a_split(h):
    cid, m1 = disputed(h)
    events = resolve(h, cid, refund=20_000, release=30_000)
    assert types(events) == ["DisputeResolved", "ClientFundsCredited", "EarningsPending"]
    assert events[0].data["net"]["amount"] == 27_000
    assert h.ledger.balance(f"contract_escrow:{cid}", "USD") == 0
    assert h.wallet(CLIENT).balance == usd(70_000)
    assert h.contract(cid).milestones[m1].status == "settled"
    assert h.due("earnings.available").due_at == h.now + timedelta(days=5)


@pytest.mark.parametrize("refund, release", [(50_000, 0), (0, 50_000)])
def test_all_to_one_side(h, refund, release):
    cid, m1 = disputed(h)
    resolve(h, cid, refund, release)
    assert h.contract(cid).milestones[m1].status == ("refunded" if refund else "released")


@pytest.mark.parametrize("refund, release", [(20_000, 20_000), (30_000, 30_000), (-1, 50_001)])
def test_the_split_must_add_up_to_what_is_held(h, refund, release):
    cid, _ = disputed(h)
    c, cw, fw = h.contract(cid), h.wallet(CLIENT), h.wallet(FREELANCER)
    refused(
        ValidationError,
        lambda: c.resolve_dispute(
            "d-1", usd(refund), usd(release), "", OPERATOR, OPS, h.now, cw, fw
        ),
        c,
        cw,
        fw,
    )


def test_only_an_operator_resolves(h):
    cid, _ = disputed(h)
    c, cw, fw = h.contract(cid), h.wallet(CLIENT), h.wallet(FREELANCER)
    refused(
        Forbidden,
        lambda: c.resolve_dispute(
            "d-1", usd(0), usd(50_000), "", CLIENT, ("client",), h.now, cw, fw
        ),
        c,
        cw,
        fw,
    )
    refused(
        ValidationError,
        lambda: c.resolve_dispute(
            "d-1", Money(0, "EUR"), usd(50_000), "", OPERATOR, OPS, h.now, cw, fw
        ),
        c,
        cw,
        fw,
    )


def test_a_resolved_dispute_cannot_be_resolved_or_withdrawn_again(h):
    cid, _ = disputed(h)
    resolve(h, cid, 0, 50_000)
    c, cw, fw = h.contract(cid), h.wallet(CLIENT), h.wallet(FREELANCER)
    refused(
        Conflict,
        lambda: c.resolve_dispute("d-1", usd(0), usd(1), "", OPERATOR, OPS, h.now, cw, fw),
        c,
        cw,
        fw,
    )
    refused(Conflict, lambda: c.withdraw_dispute("d-1", CLIENT, h.now, cw), c, cw)


def test_client_withdraws_and_the_review_clock_restarts(h):
    cid, m1 = disputed(h)
    h.advance(days=30)
    c, cw = h.contract(cid), h.wallet(CLIENT)
    refused(Forbidden, lambda: c.withdraw_dispute("d-1", FREELANCER, h.now, cw), c, cw)
    c.withdraw_dispute("d-1", CLIENT, h.now, cw)
    (event,) = h.commit(c, cw)
    assert event.data["resumes"]["status"] == "submitted"
    deadline = h.due("milestone.auto_approve", due_at=(h.now + timedelta(days=14)).isoformat())
    h.at(deadline.due_at - SECOND)
    with pytest.raises(Conflict):
        h.fire(deadline)
    h.at(deadline.due_at)
    assert types(h.fire(deadline))[0] == "MilestoneReleased"


def test_freelancer_withdrawing_a_refund_dispute_lets_the_refund_through(h):
    cid, m1 = funded(h)
    c = h.contract(cid)
    c.request_refund("r-1", m1, CLIENT, h.now, amount=usd(10_000))
    h.commit(c)
    c = h.contract(cid)
    c.open_dispute("d-1", "refund", "r-1", "no", FREELANCER, h.now)
    h.commit(c)
    deadline = h.due("refund.response_due", refund_id="r-1")
    h.at(deadline.due_at)
    assert h.fire(deadline) == []  # the dispute froze the refund window
    c, cw = h.contract(cid), h.wallet(CLIENT)
    c.withdraw_dispute("d-1", FREELANCER, h.now, cw)
    events = h.commit(c, cw)
    assert types(events) == ["DisputeWithdrawn", "EscrowRefunded", "ClientFundsCredited"]
    m = h.contract(cid).milestones[m1]
    assert (m.status, m.held, m.refunded) == ("funded", usd(40_000), usd(10_000))


def test_week_dispute_split_and_withdrawal(h):
    cid = invoiced(h)
    c = h.contract(cid)
    c.open_dispute("d-1", "week", MONDAY.isoformat(), "hours", CLIENT, h.now)
    h.commit(c)
    events = resolve(h, cid, refund=2_000, release=10_000)
    assert events[0].data["week_start"] == MONDAY.isoformat()
    # Money from a week is never available before the Wednesday recorded on the invoice.
    assert h.due("earnings.available").due_at == MONDAY + timedelta(days=16)
    assert h.contract(cid).weeks[MONDAY.isoformat()].status == "settled"


def test_withdrawn_week_dispute_after_the_review_releases_at_once(h):
    cid = invoiced(h)
    c = h.contract(cid)
    c.open_dispute("d-1", "week", MONDAY.isoformat(), "hours", CLIENT, h.now)
    h.commit(c)
    h.at(REVIEW_UNTIL + timedelta(days=2))
    c, cw = h.contract(cid), h.wallet(CLIENT)
    c.withdraw_dispute("d-1", CLIENT, h.now, cw)
    h.commit(c, cw)
    releases = [d for d in h.deadlines.values() if d.kind == "week.release"]
    latest = max(releases, key=lambda d: d.due_at)
    assert latest.due_at == h.now
    assert types(h.fire(latest)) == ["HourlyWeekReleased", "EarningsPending"]
