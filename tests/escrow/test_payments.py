"""The sandbox payment provider through the service: asynchronous confirmation, failures,
and a deposit paying an invoice that was waiting for money."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.errors import Conflict, Forbidden, ValidationError
from tests.escrow.driver import hourly_offer, usd

CLIENT, FREELANCER = "client-1", "free-1"


def test_a_deposit_counts_only_once_the_provider_confirms_and_a_failure_moves_nothing(escrow):
    requested = escrow.client(CLIENT, "deposit", amount=usd(7_000))
    assert requested["provider_reference"].startswith("sbx_")
    assert escrow.client(CLIENT, "wallet")["balance"] == usd(0)
    failed = escrow.client(CLIENT, "deposit", amount=usd(3_000))
    escrow.operator(
        "confirm_provider_payment",
        operation="deposit",
        operation_id=failed["deposit_id"],
        status="failed",
        reason="card declined",
    )
    with pytest.raises(Conflict):  # the provider already failed it
        escrow.operator(
            "confirm_provider_payment", operation="deposit", operation_id=failed["deposit_id"]
        )
    escrow.operator(
        "confirm_provider_payment", operation="deposit", operation_id=requested["deposit_id"]
    )
    assert escrow.client(CLIENT, "wallet")["balance"] == usd(7_000)
    assert escrow.count("DepositFailed") == 1 and escrow.count("DepositConfirmed") == 1
    clearing = escrow.call("audit-1", "auditor", "ledger", account="provider_clearing:USD")
    assert clearing["balance"] == -7_000
    escrow.check()


def test_a_failed_withdrawal_returns_the_money_to_its_source(escrow):
    escrow.fund_wallet(CLIENT, 10_000)
    payout = escrow.client(CLIENT, "withdraw", amount=usd(4_000), source="client_wallet")
    wallet = escrow.client(CLIENT, "wallet")
    assert wallet["balance"] == usd(6_000) and wallet["in_flight"] == usd(4_000)
    escrow.check()
    escrow.operator(
        "confirm_provider_payment",
        operation="withdrawal",
        operation_id=payout["withdrawal_id"],
        status="failed",
        reason="account closed",
    )
    wallet = escrow.client(CLIENT, "wallet")
    assert wallet["balance"] == usd(10_000) and wallet["in_flight"] == usd(0)
    escrow.check()


def test_a_provider_notification_must_name_the_operation_it_settles(escrow):
    requested = escrow.client(CLIENT, "deposit", amount=usd(7_000))
    notification = {
        "operation": "deposit",
        "operation_id": requested["deposit_id"],
        "user_id": CLIENT,
        "currency": "USD",
        "status": "confirmed",
        "provider_reference": "sbx_not_this_one",
        "amount": usd(7_000),
    }
    with pytest.raises(Forbidden):
        escrow.client(CLIENT, "provider_notification", **notification)
    with pytest.raises(ValidationError) as caught:
        escrow.operator("provider_notification", **notification)
    assert "provider_reference" in caught.value.fields
    escrow.operator(
        "provider_notification",
        **{**notification, "provider_reference": requested["provider_reference"]},
    )
    assert escrow.client(CLIENT, "wallet")["balance"] == usd(7_000)
    escrow.check()


def test_an_invoice_the_wallet_could_not_cover_is_paid_when_a_deposit_confirms(escrow):
    monday = datetime(2026, 1, 5, tzinfo=UTC)
    contract_id = escrow.open_contract(hourly_offer(rate=6_000))
    escrow.move_to(monday + timedelta(days=1))
    escrow.freelancer(
        FREELANCER,
        "log_time",
        contract_id=contract_id,
        start=(monday + timedelta(hours=9)).isoformat(),
        end=(monday + timedelta(hours=10, minutes=30)).isoformat(),
    )
    escrow.move_to(monday + timedelta(days=7, hours=12))
    escrow.fire_deadlines()
    week = escrow.client(CLIENT, "get_contract", contract_id=contract_id)["weeks"][0]
    assert week["status"] == "invoiced" and week["amount"] == usd(9_000)
    escrow.check()

    escrow.fund_wallet(CLIENT, 5_000)  # not enough: stays unpaid
    assert escrow.count("HourlyInvoicePaid") == 0
    escrow.fund_wallet(CLIENT, 5_000)
    week = escrow.client(CLIENT, "get_contract", contract_id=contract_id)["weeks"][0]
    assert week["status"] == "in_review" and week["paid"] == usd(9_000)
    assert escrow.client(CLIENT, "wallet")["balance"] == usd(1_000)
    escrow.check()
