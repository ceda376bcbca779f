"""Hourly contracts: time logs, the weekly limit, invoice, review and availability windows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.escrow.hourly import invoice_amount, week_start
from services.escrow.settings import EscrowSettings
from shared.errors import Conflict, Forbidden, ValidationError

from .harness import CLIENT, FREELANCER, SECOND, STRANGER, Harness, hourly_offer, types, usd
from .test_fixed_price import refused

MONDAY = datetime(2026, 1, 5, tzinfo=UTC)
NEXT_MONDAY = MONDAY + timedelta(days=7)
INVOICE_AT = NEXT_MONDAY + timedelta(hours=12)  # Monday 12:00 UTC
REVIEW_UNTIL = NEXT_MONDAY + timedelta(days=5)  # Saturday 00:00: Friday 23:59:59 is the last
AVAILABLE_AT = NEXT_MONDAY + timedelta(days=9)  # the following Wednesday 00:00


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """A moment in the week of MONDAY (day 0 is Monday)."""
    return MONDAY + timedelta(days=day, hours=hour, minutes=minute)


@pytest.fixture
def h() -> Harness:
    return Harness(now=at(0, 9))


def opened(h: Harness, deposit: int = 100_000, **offer) -> str:
    cid = h.open(hourly_offer(**offer))
    if deposit:
        h.deposit(CLIENT, deposit)
    return cid


def log(h: Harness, cid: str, seg: str, start: datetime, end: datetime, manual=True, **kw):
    c = h.contract(cid)
    c.log_time(seg, start, end, "work", manual, FREELANCER, h.now, **kw)
    return h.commit(c)


def logged(h: Harness, hours: int = 2) -> str:
    cid = opened(h)
    h.at(at(2, 18))
    log(h, cid, "s-1", at(2, 9), at(2, 9 + hours))
    return cid


def invoiced(h: Harness, hours: int = 2) -> str:
    cid = logged(h, hours)
    h.at(INVOICE_AT)
    h.fire(h.due("week.invoice"))
    return cid


# -- week arithmetic ----------------------------------------------------------------------------


def test_week_runs_monday_to_sunday_utc():
    assert week_start(MONDAY) == MONDAY
    assert week_start(NEXT_MONDAY - SECOND) == MONDAY
    assert week_start(NEXT_MONDAY) == NEXT_MONDAY
    # Monday 02:00 at UTC+5 is still Sunday in UTC: the week is UTC's.
    ahead = datetime(2026, 1, 12, 2, 0, tzinfo=timezone(timedelta(hours=5)))
    assert week_start(ahead) == MONDAY


@given(st.integers(min_value=1, max_value=100_000), st.integers(min_value=0, max_value=10_080))
def test_invoice_amount_is_rate_times_hours_rounded_half_up(rate, minutes):
    amount = invoice_amount(usd(rate), minutes).amount
    exact_times_60 = rate * minutes
    assert abs(amount * 60 - exact_times_60) <= 30
    assert amount * 60 - exact_times_60 != -30  # a half rounds up


# -- logging time -------------------------------------------------------------------------------


def test_logging_time_opens_the_week_with_its_windows(h):
    cid = opened(h)
    h.at(at(0, 12))
    events = log(h, cid, "s-1", at(0, 9), at(0, 11))
    assert types(events) == ["HourlyWeekStarted", "TimeLogged"]
    assert events[0].data["invoice_at"] == INVOICE_AT.isoformat()
    assert events[0].data["invoice_delay_seconds"] == 12 * 3600
    assert events[1].data["minutes"] == 120
    assert types(log(h, cid, "s-2", at(0, 11), at(0, 12))) == ["TimeLogged"]


def test_only_the_freelancer_logs_time(h):
    cid = opened(h)
    h.at(at(0, 12))
    c = h.contract(cid)
    for who in (CLIENT, STRANGER):
        refused(
            Forbidden, lambda who=who: c.log_time("s", at(0, 9), at(0, 10), "", True, who, h.now), c
        )


def test_manual_time_only_when_the_contract_allows_it(h):
    cid = opened(h, manual=False)
    h.at(at(0, 12))
    c = h.contract(cid)
    refused(Forbidden, lambda: c.log_time("s", at(0, 9), at(0, 10), "", True, FREELANCER, h.now), c)
    c.log_time("s", at(0, 9), at(0, 10), "", False, FREELANCER, h.now)
    h.commit(c)


@pytest.mark.parametrize(
    "start, end, field",
    [
        (at(0, 10), at(0, 10), "end"),  # empty
        (at(0, 11), at(0, 10), "end"),  # backwards
        (at(0, 10) + SECOND, at(0, 11), "start"),  # not on a whole minute
        (at(1, 9), at(1, 10), "end"),  # in the future
        (at(0, 8), at(0, 10), "start"),  # before the contract opened
    ],
)
def test_bad_segments_are_refused_with_a_field(h, start, end, field):
    cid = opened(h)
    h.at(at(0, 12))
    c = h.contract(cid)
    err = refused(
        ValidationError, lambda: c.log_time("s", start, end, "", True, FREELANCER, h.now), c
    )
    assert field in err.fields


def test_segments_may_not_overlap(h):
    cid = opened(h)
    h.at(at(0, 18))
    log(h, cid, "s-1", at(0, 10), at(0, 12))
    c = h.contract(cid)
    for start, end in (
        (at(0, 11), at(0, 13)),
        (at(0, 9, 30), at(0, 10, 1)),
        (at(0, 10), at(0, 12)),
    ):
        refused(
            ValidationError,
            lambda s=start, e=end: c.log_time("s-2", s, e, "", True, FREELANCER, h.now),
            c,
        )
    log(h, cid, "s-2", at(0, 12), at(0, 13))  # touching is fine


def test_a_segment_may_not_cross_into_the_next_week(h):
    cid = opened(h)
    h.at(NEXT_MONDAY + timedelta(hours=2))
    c = h.contract(cid)
    refused(
        ValidationError,
        lambda: c.log_time(
            "s", at(6, 23), NEXT_MONDAY + timedelta(hours=1), "", True, FREELANCER, h.now
        ),
        c,
    )
    log(h, cid, "s", at(6, 23), NEXT_MONDAY)  # ending exactly at midnight is inside


def test_the_weekly_limit_is_enforced_to_the_minute(h):
    cid = opened(h, limit=3)
    h.at(at(1, 20))
    log(h, cid, "s-1", at(0, 10), at(0, 12))
    c = h.contract(cid)
    err = refused(
        ValidationError,
        lambda: c.log_time("s-2", at(1, 9), at(1, 10, 1), "", True, FREELANCER, h.now),
        c,
    )
    assert "60 minutes are left" in err.fields["end"][0]
    log(h, cid, "s-2", at(1, 9), at(1, 10))
    # The next week has its own limit.
    h.at(NEXT_MONDAY + timedelta(hours=5))
    log(h, cid, "s-3", NEXT_MONDAY, NEXT_MONDAY + timedelta(hours=3))


def test_time_edits_close_at_monday_noon(h):
    cid = opened(h)
    h.at(at(2, 18))
    log(h, cid, "s-1", at(2, 9), at(2, 10))
    h.at(INVOICE_AT - SECOND)
    log(h, cid, "s-2", at(6, 9), at(6, 10))
    c = h.contract(cid)
    c.delete_time("s-2", FREELANCER, h.now)
    assert types(h.commit(c)) == ["TimeDeleted"]
    for moment in (INVOICE_AT, INVOICE_AT + SECOND):
        h.at(moment)
        c = h.contract(cid)
        with pytest.raises(Conflict):
            c.log_time("s-3", at(6, 9), at(6, 10), "", True, FREELANCER, h.now)
        with pytest.raises(Conflict):
            c.delete_time("s-1", FREELANCER, h.now)
        assert c.pending == []


def test_paused_and_ended_contracts_take_no_time(h):
    cid = opened(h)
    h.at(at(0, 12))
    c = h.contract(cid)
    refused(Forbidden, lambda: c.pause_contract(FREELANCER, "", h.now), c)
    c.pause_contract(CLIENT, "holiday", h.now)
    h.commit(c)
    c = h.contract(cid)
    refused(Conflict, lambda: c.log_time("s", at(0, 9), at(0, 10), "", True, FREELANCER, h.now), c)
    refused(Conflict, lambda: c.pause_contract(CLIENT, "", h.now), c)
    c.resume_contract(CLIENT, h.now)
    h.commit(c)
    c = h.contract(cid)
    refused(Conflict, lambda: c.resume_contract(CLIENT, h.now), c)
    log(h, cid, "s", at(0, 9), at(0, 10))
    c, cw = h.contract(cid), h.wallet(CLIENT)
    c.end_contract(FREELANCER, "finished", h.now, cw)
    h.commit(c, cw)
    c = h.contract(cid)
    refused(
        Conflict, lambda: c.log_time("s2", at(0, 10), at(0, 11), "", True, FREELANCER, h.now), c
    )


# -- invoice: Monday 12:00 UTC --------------------------------------------------------------


def test_invoice_at_t_minus_one_second_is_refused(h):
    logged(h)
    deadline = h.due("week.invoice")
    assert deadline.due_at == INVOICE_AT
    h.at(INVOICE_AT - SECOND)
    with pytest.raises(Conflict):
        h.fire(deadline)


@pytest.mark.parametrize("moment", [INVOICE_AT, INVOICE_AT + SECOND])
def test_invoice_at_t_and_after_charges_the_client(h, moment):
    cid = logged(h, hours=2)
    h.at(moment)
    events = h.fire(h.due("week.invoice"))
    assert types(events) == ["HourlyWeekInvoiced", "HourlyInvoicePaid", "ClientFundsDebited"]
    invoice = events[0].data
    assert invoice["minutes"] == 120
    assert invoice["amount"] == {"amount": 12_000, "currency": "USD"}
    assert invoice["review_until"] == REVIEW_UNTIL.isoformat()
    assert invoice["available_at"] == AVAILABLE_AT.isoformat()
    assert h.ledger.balance(f"contract_escrow:{cid}", "USD") == 12_000
    assert h.fire(h.due("week.invoice")) == []  # firing twice is a no-op


def test_an_unpaid_invoice_waits_for_funds(h):
    cid = opened(h, deposit=0)
    h.at(at(2, 18))
    log(h, cid, "s-1", at(2, 9), at(2, 11))
    h.at(INVOICE_AT)
    events = h.fire(h.due("week.invoice"))
    assert types(events) == ["HourlyWeekInvoiced"]
    c, cw = h.contract(cid), h.wallet(CLIENT)
    refused(Conflict, lambda: c.pay_invoice(MONDAY, h.now, cw, CLIENT), c, cw)
    refused(Forbidden, lambda: c.pay_invoice(MONDAY, h.now, cw, FREELANCER), c, cw)
    h.deposit(CLIENT, 12_000)
    h.at(REVIEW_UNTIL + timedelta(days=1))
    c, cw = h.contract(cid), h.wallet(CLIENT)
    c.pay_invoice(MONDAY, h.now, cw, CLIENT)
    events = h.commit(c, cw)
    assert events[0].data["release_at"] == h.now.isoformat()  # review already over
    assert types(h.fire(h.due("week.release"))) == ["HourlyWeekReleased", "EarningsPending"]


def test_a_week_whose_time_was_deleted_closes_without_invoice(h):
    cid = opened(h)
    h.at(at(2, 18))
    log(h, cid, "s-1", at(2, 9), at(2, 10))
    c = h.contract(cid)
    c.delete_time("s-1", FREELANCER, h.now)
    h.commit(c)
    h.at(INVOICE_AT)
    assert types(h.fire(h.due("week.invoice"))) == ["HourlyWeekClosed"]


# -- review until Friday 23:59:59 UTC, release, available Wednesday ----------------------------


def test_client_may_dispute_until_the_last_second_of_friday(h):
    cid = invoiced(h)
    h.at(REVIEW_UNTIL - SECOND)
    c = h.contract(cid)
    c.open_dispute("d-1", "week", MONDAY.isoformat(), "not my hours", CLIENT, h.now)
    assert types(h.commit(c)) == ["DisputeOpened"]


@pytest.mark.parametrize("moment", [REVIEW_UNTIL, REVIEW_UNTIL + SECOND])
def test_no_dispute_once_the_review_is_over(h, moment):
    cid = invoiced(h)
    h.at(moment)
    c = h.contract(cid)
    refused(
        Conflict, lambda: c.open_dispute("d", "week", MONDAY.isoformat(), "x", CLIENT, h.now), c
    )


def test_release_at_t_minus_one_second_is_refused(h):
    invoiced(h)
    deadline = h.due("week.release")
    assert deadline.due_at == REVIEW_UNTIL
    h.at(REVIEW_UNTIL - SECOND)
    with pytest.raises(Conflict):
        h.fire(deadline)


@pytest.mark.parametrize("moment", [REVIEW_UNTIL, REVIEW_UNTIL + SECOND])
def test_release_at_t_and_after_pays_the_freelancer_pending(h, moment):
    invoiced(h)
    h.at(moment)
    events = h.fire(h.due("week.release"))
    assert types(events) == ["HourlyWeekReleased", "EarningsPending"]
    assert events[0].data["net"]["amount"] == 10_800
    assert events[0].data["available_at"] == AVAILABLE_AT.isoformat()
    assert h.wallet(FREELANCER).earnings_pending == usd(10_800)


def test_hourly_money_becomes_available_the_following_wednesday(h):
    invoiced(h)
    h.at(REVIEW_UNTIL)
    h.fire(h.due("week.release"))
    deadline = h.due("earnings.available")
    assert deadline.due_at == AVAILABLE_AT and AVAILABLE_AT.weekday() == 2
    h.at(AVAILABLE_AT - SECOND)
    with pytest.raises(Conflict):
        h.fire(deadline)
    h.at(AVAILABLE_AT)
    assert types(h.fire(deadline)) == ["EarningsAvailable"]
    h.at(AVAILABLE_AT + SECOND)
    assert h.fire(deadline) == []


def test_windows_recorded_on_the_invoice_survive_a_configuration_change(h):
    cid = logged(h)
    h.at(INVOICE_AT)
    h.settings = EscrowSettings(hourly_review_period=timedelta(days=2))
    h.fire(h.due("week.invoice"))
    h.settings = EscrowSettings()
    week = h.contract(cid).weeks[MONDAY.isoformat()]
    assert week.review_until == NEXT_MONDAY + timedelta(days=2)


def test_disputed_week_is_not_released_by_the_timer(h):
    cid = invoiced(h)
    c = h.contract(cid)
    c.open_dispute("d-1", "week", MONDAY.isoformat(), "too many hours", CLIENT, h.now)
    h.commit(c)
    h.at(REVIEW_UNTIL)
    assert h.fire(h.due("week.release")) == []
    assert h.ledger.balance(f"contract_escrow:{cid}", "USD") == 12_000
