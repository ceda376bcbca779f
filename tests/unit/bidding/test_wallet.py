"""Connects wallet: given events, when a command, then new events (or an error)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.bidding.settings import BiddingSettings
from services.bidding.wallet import ConnectsWallet, month_of
from shared.errors import Conflict, NotFound, ValidationError

from .builders import SECOND, SETTINGS, T0, funded_wallet, replay, types

BAND = {"name": "medium", "connects": 4, "fixed_up_to": 50000, "hourly_up_to": 3000}
YEAR = timedelta(days=365)


def spend(wallet, spend_id="s1", connects=4, boost=0, now=T0, settings_=SETTINGS):
    return wallet.spend(spend_id, f"p-{spend_id}", "job-1", BAND, connects, boost, now, settings_)


# ---- monthly allotment -------------------------------------------------------------------


def test_monthly_allotment_is_a_lot_that_expires_a_year_later():
    wallet = ConnectsWallet("fl-1")
    event = wallet.grant_monthly_allotment(T0, SETTINGS)
    assert event.type == "ConnectsGranted"
    assert event.data == {
        "freelancer_id": "fl-1",
        "month": "2026-03",
        "connects": 10,
        "lot_id": "lot-1",
        "received_at": "2026-03-02T09:00:00+00:00",
        "expires_at": "2027-03-02T09:00:00+00:00",
        "validity_days": 365,
    }


def test_monthly_allotment_is_granted_once_a_month():
    wallet = funded_wallet()
    assert wallet.grant_monthly_allotment(T0 + timedelta(days=20), SETTINGS) is None
    assert wallet.pending == []
    event = wallet.grant_monthly_allotment(T0 + timedelta(days=30), SETTINGS)
    assert event.data["month"] == "2026-04"
    assert replay(wallet).balance(T0 + timedelta(days=30)) == 20


def test_a_zero_allotment_records_nothing():
    wallet = ConnectsWallet("fl-1")
    assert wallet.grant_monthly_allotment(T0, BiddingSettings(monthly_free_connects=0)) is None


def test_month_boundary_is_utc():
    assert month_of(T0.replace(day=31, month=3, hour=23, minute=59, second=59)) == "2026-03"
    assert month_of(T0.replace(day=1, month=4, hour=0, minute=0)) == "2026-04"


# ---- expiry ------------------------------------------------------------------------------


def test_a_lot_is_usable_until_one_second_before_expiry():
    wallet = funded_wallet()
    expiry = T0 + YEAR
    assert wallet.balance(expiry - SECOND) == 10
    assert wallet.balance(expiry) == 0
    assert wallet.balance(expiry + SECOND) == 0


@pytest.mark.parametrize(
    "offset, expires", [(-SECOND, False), (timedelta(0), True), (SECOND, True)]
)
def test_expiry_is_recorded_from_the_expiry_instant(offset, expires):
    wallet = funded_wallet()
    event = wallet.expire_lots(T0 + YEAR + offset)
    if expires:
        assert event.type == "ConnectsExpired"
        assert event.data["lots"] == [{"lot_id": "lot-1", "connects": 10}]
        assert event.data["connects"] == 10
    else:
        assert event is None


def test_an_expired_lot_is_not_expired_twice():
    wallet = funded_wallet()
    wallet.expire_lots(T0 + YEAR)
    wallet = replay(wallet)
    assert wallet.expire_lots(T0 + YEAR + SECOND) is None


def test_spending_cannot_use_a_lot_at_its_expiry_instant():
    wallet = funded_wallet()
    with pytest.raises(Conflict, match="not enough connects"):
        spend(wallet, now=T0 + YEAR)
    assert spend(wallet, now=T0 + YEAR - SECOND).data["connects"] == 4


def test_expiry_recorded_in_the_lot_survives_a_change_of_configuration():
    wallet = ConnectsWallet("fl-1")
    wallet.grant_monthly_allotment(T0, BiddingSettings(connects_validity_days=30))
    wallet = replay(wallet)
    # A later configuration with a longer validity does not stretch the old lot.
    wallet.grant_monthly_allotment(T0 + timedelta(days=31), SETTINGS)
    assert wallet.balance(T0 + timedelta(days=30) - SECOND) == 10
    assert wallet.balance(T0 + timedelta(days=31)) == 10  # only the new lot


# ---- spending ----------------------------------------------------------------------------


def test_spend_takes_the_oldest_lot_first_and_records_the_rate_card():
    wallet = funded_wallet()
    wallet.grant_monthly_allotment(T0 + timedelta(days=30), SETTINGS)
    wallet = replay(wallet)
    event = spend(wallet, connects=8, boost=4, now=T0 + timedelta(days=31))
    assert event.type == "ConnectsSpent"
    assert event.data["taken"] == {
        "proposal": [{"lot_id": "lot-1", "connects": 8}],
        "boost": [{"lot_id": "lot-1", "connects": 2}, {"lot_id": "lot-2", "connects": 2}],
    }
    assert event.data["connects"] == 12
    assert event.data["budget_band"] == "medium"
    assert event.data["rate_card"] == SETTINGS.rate_card_dict()
    assert replay(wallet).balance(T0 + timedelta(days=31)) == 8


def test_spend_skips_an_older_lot_that_has_expired():
    wallet = ConnectsWallet("fl-1")
    wallet.grant_monthly_allotment(T0, BiddingSettings(connects_validity_days=10))
    wallet.grant_monthly_allotment(T0 + timedelta(days=30), SETTINGS)
    wallet = replay(wallet)
    event = spend(wallet, now=T0 + timedelta(days=30))
    assert event.data["taken"]["proposal"] == [{"lot_id": "lot-2", "connects": 4}]


def test_spend_beyond_the_balance_is_refused_and_records_nothing():
    wallet = funded_wallet()
    with pytest.raises(Conflict, match="needs 11"):
        spend(wallet, connects=8, boost=3)
    assert wallet.pending == []
    assert wallet.balance(T0) == 10


def test_spend_of_exactly_the_balance_leaves_zero():
    wallet = funded_wallet()
    spend(wallet, connects=10)
    assert replay(wallet).balance(T0) == 0


def test_nothing_to_pay_records_nothing():
    assert spend(funded_wallet(), connects=0, boost=0) is None


def test_negative_parts_and_a_reused_spend_are_refused():
    wallet = funded_wallet()
    with pytest.raises(ValidationError):
        spend(wallet, boost=-1)
    spend(wallet)
    with pytest.raises(Conflict, match="already recorded"):
        spend(wallet)


# ---- refunds -----------------------------------------------------------------------------


def test_refund_gives_the_part_back_to_the_lots_it_came_from_once():
    wallet = funded_wallet()
    spend(wallet, connects=4, boost=3)
    wallet = replay(wallet)
    event = wallet.refund("s1", "boost", "boost_lost", T0 + SECOND)
    assert event.type == "ConnectsRefunded"
    assert event.data["restored"] == [{"lot_id": "lot-1", "connects": 3}]
    assert event.data["connects"] == 3
    wallet = replay(wallet)
    assert wallet.balance(T0) == 6
    assert wallet.refund("s1", "boost", "job_cancelled", T0) is None
    wallet.refund("s1", "proposal", "job_cancelled", T0)
    assert replay(wallet).balance(T0) == 10


def test_refund_of_a_zero_part_records_nothing():
    wallet = funded_wallet()
    spend(wallet, connects=4, boost=0)
    assert replay(wallet).refund("s1", "boost", "boost_lost", T0) is None


def test_refund_into_an_expired_lot_expires_it_at_once():
    wallet = funded_wallet()
    spend(wallet)
    wallet = replay(wallet)
    wallet.refund("s1", "proposal", "job_cancelled", T0 + YEAR)
    assert types(wallet) == ["ConnectsRefunded", "ConnectsExpired"]
    assert wallet.pending[1].data["lots"] == [{"lot_id": "lot-1", "connects": 10}]
    assert replay(wallet).balance(T0 + YEAR) == 0


def test_refund_rules():
    wallet = funded_wallet()
    with pytest.raises(NotFound):
        wallet.refund("nope", "proposal", "job_cancelled", T0)
    spend(wallet)
    with pytest.raises(ValidationError):
        wallet.refund("s1", "everything", "job_cancelled", T0)
    with pytest.raises(ValidationError):
        wallet.refund("s1", "proposal", "because", T0)


# ---- purchases ---------------------------------------------------------------------------


def test_purchase_credits_a_lot_when_the_provider_confirms():
    wallet = ConnectsWallet("fl-1")
    requested = wallet.request_purchase("buy-1", 40, T0, SETTINGS)
    assert requested.data["price"] == {"amount": 600, "currency": "USD"}
    wallet = replay(wallet)
    assert wallet.balance(T0) == 0
    assert wallet.pending_connects() == 40
    confirmed = wallet.confirm_purchase("buy-1", "prov-1", T0 + SECOND, SETTINGS)
    assert confirmed.type == "ConnectsPurchased"
    assert confirmed.data["connects"] == 40
    assert confirmed.data["expires_at"] == "2027-03-02T09:00:01+00:00"
    wallet = replay(wallet)
    assert wallet.balance(T0 + SECOND) == 40
    assert wallet.pending_connects() == 0
    with pytest.raises(Conflict, match="already settled"):
        wallet.confirm_purchase("buy-1", "prov-2", T0, SETTINGS)


def test_a_failed_purchase_credits_nothing():
    wallet = ConnectsWallet("fl-1")
    wallet.request_purchase("buy-1", 10, T0, SETTINGS)
    wallet.fail_purchase("buy-1", "card declined", T0)
    wallet = replay(wallet)
    assert wallet.balance(T0) == 0 and wallet.pending_connects() == 0
    with pytest.raises(Conflict):
        wallet.fail_purchase("buy-1", "again", T0)
    with pytest.raises(NotFound):
        wallet.confirm_purchase("buy-9", "prov-9", T0, SETTINGS)


def test_purchase_rules():
    wallet = ConnectsWallet("fl-1")
    with pytest.raises(ValidationError) as error:
        wallet.request_purchase("buy-1", 15, T0, SETTINGS)
    assert "bundle" in error.value.fields
    capped = BiddingSettings(max_connects_balance=50)
    wallet.request_purchase("buy-1", 40, T0, capped)
    with pytest.raises(Conflict, match="at most 50"):
        wallet.request_purchase("buy-2", 20, T0, capped)
    wallet.request_purchase("buy-2", 10, T0, capped)
    with pytest.raises(Conflict, match="already exists"):
        wallet.request_purchase("buy-2", 10, T0, capped)
    wallet.confirm_purchase("buy-1", "prov-1", T0, capped)
    with pytest.raises(Conflict, match="already credited"):
        wallet.confirm_purchase("buy-2", "prov-1", T0, capped)


# ---- property: the balance never goes below zero -----------------------------------------

operations = st.lists(
    st.tuples(
        st.sampled_from(["grant", "spend", "refund", "wait"]),
        st.integers(min_value=0, max_value=30),
    ),
    max_size=40,
)


@settings(max_examples=150, deadline=None)
@given(operations)
def test_balance_matches_a_reference_model_and_never_goes_negative(ops):
    short = BiddingSettings(connects_validity_days=60)
    wallet = ConnectsWallet("fl-1")
    now = T0
    model_lots: list[list] = []  # [expires_at, remaining] per lot, oldest first
    spends: dict[str, list] = {}
    for n, (op, value) in enumerate(ops):
        if op == "wait":
            now += timedelta(days=value)
        elif op == "grant":
            if wallet.grant_monthly_allotment(now, short) is not None:
                model_lots.append([now + timedelta(days=60), 10])
        elif op == "spend":
            usable = sum(r for e, r in model_lots if now < e)
            try:
                event = wallet.spend(f"s{n}", f"p{n}", "j", BAND, value, 0, now, short)
            except Conflict:
                assert value > usable
                continue
            assert value <= usable
            if event is None:
                continue
            taken = []
            for lot in model_lots:
                if now < lot[0] and value:
                    take = min(lot[1], value)
                    lot[1] -= take
                    value -= take
                    taken.append((lot, take))
            spends[f"s{n}"] = taken
        elif op == "refund" and spends:
            spend_id = sorted(spends)[value % len(spends)]
            if wallet.refund(spend_id, "proposal", "job_cancelled", now) is not None:
                for lot, take in spends[spend_id]:
                    lot[1] += take
        wallet = replay(wallet)
        assert wallet.balance(now) >= 0
        assert wallet.balance(now) == sum(r for e, r in model_lots if now < e)
