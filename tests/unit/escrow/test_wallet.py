"""Wallets: deposits and withdrawals through the payment provider, with idempotency keys."""

from __future__ import annotations

import pytest

from shared.errors import Conflict, Forbidden, NotFound, ValidationError
from shared.money import Money

from .harness import CLIENT, FREELANCER, STRANGER, Harness, types, usd
from .test_fixed_price import refused


@pytest.fixture
def h() -> Harness:
    return Harness()


def requested(h: Harness, amount: int = 10_000, key: str | None = "k-1") -> None:
    w = h.wallet(CLIENT)
    w.request_deposit("dep-1", usd(amount), CLIENT, h.now, "pi_1", key)
    h.commit(w)


def test_a_deposit_moves_nothing_until_the_provider_confirms(h):
    requested(h)
    assert h.wallet(CLIENT).balance == usd(0)
    w = h.wallet(CLIENT)
    w.confirm_deposit("dep-1", "pi_1", usd(10_000), h.now)
    assert types(h.commit(w)) == ["DepositConfirmed"]
    assert h.wallet(CLIENT).balance == usd(10_000)
    assert h.ledger.balance("provider_clearing:USD", "USD") == -10_000


def test_a_repeated_confirmation_is_a_no_op(h):
    requested(h)
    for _ in range(3):
        w = h.wallet(CLIENT)
        w.confirm_deposit("dep-1", "pi_1", usd(10_000), h.now)
        h.commit(w)
    assert h.wallet(CLIENT).balance == usd(10_000)


def test_the_same_key_ten_times_requests_once(h):
    for _ in range(10):
        w = h.wallet(CLIENT)
        w.request_deposit("dep-1", usd(10_000), CLIENT, h.now, None, "same-key")
        h.commit(w)
    assert len(h.streams[h.wallet(CLIENT).stream]) == 1


def test_a_key_reused_for_other_arguments_is_a_conflict(h):
    requested(h)
    w = h.wallet(CLIENT)
    refused(Conflict, lambda: w.request_deposit("dep-1", usd(1), CLIENT, h.now, None, "k-1"), w)
    refused(
        Conflict, lambda: w.request_deposit("dep-2", usd(10_000), CLIENT, h.now, None, "k-1"), w
    )


def test_failed_deposit_moves_nothing_and_cannot_be_confirmed(h):
    requested(h)
    w = h.wallet(CLIENT)
    w.fail_deposit("dep-1", "pi_1", "card declined", h.now)
    assert types(h.commit(w)) == ["DepositFailed"]
    w = h.wallet(CLIENT)
    refused(Conflict, lambda: w.confirm_deposit("dep-1", "pi_1", usd(10_000), h.now), w)
    assert h.ledger.entries == []


def test_confirmation_must_match_the_request(h):
    requested(h)
    w = h.wallet(CLIENT)
    refused(ValidationError, lambda: w.confirm_deposit("dep-1", "pi_1", usd(9_999), h.now), w)
    refused(ValidationError, lambda: w.confirm_deposit("dep-1", "pi_other", usd(10_000), h.now), w)
    refused(NotFound, lambda: w.confirm_deposit("dep-9", "pi_1", usd(10_000), h.now), w)


@pytest.mark.parametrize(
    "actor, amount, error",
    [
        (STRANGER, usd(100), Forbidden),
        (CLIENT, usd(0), ValidationError),
        (CLIENT, usd(-100), ValidationError),
        (CLIENT, Money(100, "EUR"), ValidationError),
    ],
)
def test_deposit_rules(h, actor, amount, error):
    w = h.wallet(CLIENT)
    refused(error, lambda: w.request_deposit("d", amount, actor, h.now), w)


def test_client_withdraws_unspent_wallet_money(h):
    h.deposit(CLIENT, 10_000)
    w = h.wallet(CLIENT)
    w.request_withdrawal("w-1", usd(4_000), CLIENT, h.now, source="client_wallet")
    h.commit(w)
    assert h.wallet(CLIENT).in_flight == usd(4_000)
    w = h.wallet(CLIENT)
    w.confirm_withdrawal("w-1", "po_1", h.now)
    h.commit(w)
    assert h.ledger.balance("provider_clearing:USD", "USD") == -6_000
    assert h.wallet(CLIENT).balance == usd(6_000)


def test_failed_withdrawal_returns_the_money(h):
    h.deposit(CLIENT, 10_000)
    w = h.wallet(CLIENT)
    w.request_withdrawal("w-1", usd(10_000), CLIENT, h.now, source="client_wallet")
    h.commit(w)
    w = h.wallet(CLIENT)
    w.fail_withdrawal("w-1", None, "bank closed", h.now)
    h.commit(w)
    wallet = h.wallet(CLIENT)
    assert (wallet.balance, wallet.in_flight) == (usd(10_000), usd(0))
    refused(Conflict, lambda: wallet.confirm_withdrawal("w-1", "po", h.now), wallet)


def test_withdrawal_is_limited_to_what_the_source_holds(h):
    h.deposit(CLIENT, 10_000)
    w = h.wallet(CLIENT)
    # Deposits are client money, not freelancer earnings.
    err = refused(ValidationError, lambda: w.request_withdrawal("w", usd(1), CLIENT, h.now), w)
    assert "amount" in err.fields
    refused(
        ValidationError,
        lambda: w.request_withdrawal("w", usd(10_001), CLIENT, h.now, source="client_wallet"),
        w,
    )
    refused(
        ValidationError, lambda: w.request_withdrawal("w", usd(1), CLIENT, h.now, source="x"), w
    )
    refused(Forbidden, lambda: w.request_withdrawal("w", usd(1), FREELANCER, h.now), w)


def test_withdrawal_idempotency_key(h):
    h.deposit(CLIENT, 10_000)
    for _ in range(10):
        w = h.wallet(CLIENT)
        w.request_withdrawal("w-1", usd(1_000), CLIENT, h.now, "client_wallet", "wk")
        h.commit(w)
    assert h.wallet(CLIENT).balance == usd(9_000)


def test_wallet_ids_carry_user_and_currency():
    from services.escrow.wallet import Wallet, wallet_id

    w = Wallet(wallet_id("u:with:colons", "JPY"))
    assert (w.user_id, w.currency, w.stream) == ("u:with:colons", "JPY", "wallet-u:with:colons:JPY")
    with pytest.raises(ValueError):
        Wallet("no-currency")
