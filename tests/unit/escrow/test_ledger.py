"""The double-entry ledger: balanced postings and the invariant checks themselves."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.escrow.ledger import (
    Ledger,
    LedgerEntry,
    LedgerInvariantError,
    check_all,
    check_balances_match_entries,
    check_escrow_breakdown,
    check_no_negative_balances,
    check_sums_to_zero,
    postings_for,
)
from shared.money import split_fee

T = datetime(2026, 1, 5, tzinfo=UTC)
amounts = st.integers(min_value=0, max_value=10**9)
bps = st.integers(min_value=0, max_value=10_000)


def m(amount: int) -> dict:
    return {"amount": amount, "currency": "USD"}


def money_events(gross: int, rate: int, client_fee: int, refund: int):
    net, fee = (x.amount for x in split_fee(_usd(gross), rate))
    base = {"contract_id": "c", "client_id": "cl", "freelancer_id": "fr", "user_id": "u"}
    return [
        ("DepositConfirmed", {**base, "amount": m(gross)}),
        ("WithdrawalRequested", {**base, "amount": m(gross), "source": "client_wallet"}),
        ("WithdrawalConfirmed", {**base, "amount": m(gross)}),
        ("WithdrawalFailed", {**base, "amount": m(gross), "source": "freelancer_available"}),
        ("EarningsAvailable", {**base, "amount": m(gross)}),
        (
            "MilestoneFunded",
            {**base, "milestone_id": "m", "amount": m(gross), "client_fee": m(client_fee)},
        ),
        (
            "HourlyInvoicePaid",
            {**base, "week_start": "w", "amount": m(gross), "client_fee": m(client_fee)},
        ),
        (
            "MilestoneReleased",
            {**base, "milestone_id": "m", "gross": m(gross), "net": m(net), "fee": m(fee)},
        ),
        (
            "HourlyWeekReleased",
            {**base, "week_start": "w", "gross": m(gross), "net": m(net), "fee": m(fee)},
        ),
        ("EscrowRefunded", {**base, "milestone_id": "m", "amount": m(refund)}),
        (
            "DisputeResolved",
            {
                **base,
                "milestone_id": "m",
                "week_start": None,
                "refund": m(refund),
                "release": m(gross),
                "net": m(net),
                "fee": m(fee),
            },
        ),
        (
            "BonusPaid",
            {**base, "amount": m(gross), "client_fee": m(client_fee), "net": m(net), "fee": m(fee)},
        ),
    ]


def _usd(amount):
    from shared.money import Money

    return Money(amount, "USD")


@given(amounts, bps, amounts, amounts)
def test_every_money_event_posts_balanced_entries(gross, rate, client_fee, refund):
    for event_type, data in money_events(gross, rate, client_fee, refund):
        postings = postings_for(event_type, data)
        assert sum(p.amount for p in postings) == 0, event_type
        assert all(p.amount != 0 and p.currency == "USD" for p in postings)


def test_events_without_money_post_nothing():
    for event_type in (
        "ClientFundsDebited",
        "EarningsPending",
        "WorkSubmitted",
        "DepositRequested",
    ):
        assert postings_for(event_type, {"amount": m(5)}) == []


def entry(account: str, amount: int, position: int = 1) -> LedgerEntry:
    return LedgerEntry(position, "X", account, amount, "USD", T)


def test_zero_sum_check_catches_an_unbalanced_event():
    check_sums_to_zero([entry("a", 5), entry("b", -5)])
    with pytest.raises(LedgerInvariantError):
        check_sums_to_zero([entry("a", 5), entry("b", -4)])
    with pytest.raises(LedgerInvariantError, match="event at 1"):
        check_sums_to_zero([entry("a", 5, 1), entry("b", -5, 2)])


def test_balance_check_catches_a_balance_that_drifted():
    entries = [entry("a", 5), entry("b", -5)]
    check_balances_match_entries(entries, {("a", "USD"): 5, ("b", "USD"): -5})
    with pytest.raises(LedgerInvariantError):
        check_balances_match_entries(entries, {("a", "USD"): 6, ("b", "USD"): -5})
    with pytest.raises(LedgerInvariantError):
        check_balances_match_entries(entries, {("a", "USD"): 5, ("b", "USD"): -5, ("c", "USD"): 1})


def test_only_clearing_may_be_negative():
    check_no_negative_balances({("provider_clearing:USD", "USD"): -5, ("x", "USD"): 5})
    with pytest.raises(LedgerInvariantError, match="client_wallet:u"):
        check_no_negative_balances({("client_wallet:u", "USD"): -1})


def test_escrow_breakdown_catches_over_release_and_orphan_escrow():
    ledger = Ledger()
    base = {"contract_id": "c", "client_id": "cl", "freelancer_id": "fr"}
    ledger.post("DepositConfirmed", {"user_id": "cl", "amount": m(100)}, 1, T)
    ledger.post(
        "MilestoneFunded", {**base, "milestone_id": "m", "amount": m(100), "client_fee": m(0)}, 2, T
    )
    check_all(ledger)
    ledger.escrow[("c", "milestone", "m")].released = 101
    with pytest.raises(LedgerInvariantError, match="more than"):
        check_escrow_breakdown(ledger)
    ledger.escrow[("c", "milestone", "m")].released = 10
    with pytest.raises(LedgerInvariantError, match="holds 100"):
        check_escrow_breakdown(ledger)


def test_balances_as_of_a_time():
    ledger = Ledger()
    ledger.post("DepositConfirmed", {"user_id": "u", "amount": m(100)}, 1, T)
    ledger.post("DepositConfirmed", {"user_id": "u", "amount": m(50)}, 2, T + timedelta(days=1))
    assert ledger.balance("client_wallet:u", "USD", as_of=T) == 100
    assert ledger.balance("client_wallet:u", "USD", as_of=T - timedelta(seconds=1)) == 0
    assert ledger.balance("client_wallet:u", "USD") == 150
