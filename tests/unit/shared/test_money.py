from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.money import Money, MoneyError, fee, split_fee


def test_money_is_integer_minor_units_with_a_known_currency():
    assert Money(1050, "USD").to_dict() == {"amount": 1050, "currency": "USD"}
    assert str(Money(1050, "USD")) == "10.50 USD"
    assert str(Money(-5, "EUR")) == "-0.05 EUR"
    assert str(Money(300, "JPY")) == "300 JPY"
    for bad in (10.5, "10", True, None):
        with pytest.raises(MoneyError):
            Money(bad, "USD")
    with pytest.raises(MoneyError):
        Money(1, "XXX")


def test_currencies_never_mix():
    with pytest.raises(MoneyError):
        Money(1, "USD") + Money(1, "EUR")
    with pytest.raises(MoneyError):
        assert Money(1, "USD") < Money(1, "EUR")


@pytest.mark.parametrize(
    ("gross", "bps", "expected_fee"),
    [
        (10000, 1000, 1000),
        (12345, 1000, 1235),
        (12344, 1000, 1234),
        (5, 1000, 1),
        (4, 1000, 0),
        (1, 5000, 1),
        (0, 1000, 0),
    ],
)
def test_fee_rounds_half_up_to_the_minor_unit(gross, bps, expected_fee):
    assert fee(Money(gross, "USD"), bps) == Money(expected_fee, "USD")


@given(
    gross=st.integers(min_value=0, max_value=10**12), bps=st.integers(min_value=0, max_value=10000)
)
def test_gross_is_net_plus_fee_exactly(gross, bps):
    net, f = split_fee(Money(gross, "USD"), bps)
    assert net + f == Money(gross, "USD")
    assert 0 <= f.amount <= gross


def test_fee_rate_and_amount_are_bounded():
    with pytest.raises(MoneyError):
        fee(Money(100, "USD"), 10001)
    with pytest.raises(MoneyError):
        fee(Money(-100, "USD"), 100)
