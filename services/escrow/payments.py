"""The payment-provider port, and the local sandbox provider that is its default adapter.

A provider collects deposits and pays out withdrawals. Both are asynchronous, as with real
providers: asking returns a *provider reference* at once, and the outcome (confirmed or
failed) arrives later as a notification, which the service applies to the wallet
(``ProviderNotification``). Requests carry an idempotency key, so asking twice for the
same operation gives the same reference and collects once.

``SandboxProvider`` has that shape with no network: it keeps its records in the
``sandbox_provider_payments`` table (in the service's database, standing for the
provider's own books), and settles an operation when told to through the service's
``confirm_provider_payment`` RPC, which plays the provider's webhook. A real adapter would
call the provider's API in ``start_*`` and feed its webhooks to ``provider_notification``.

``statement`` is the provider's account statement: the operations it settled in a period,
as its own books say. ``marketplace audit reconcile`` holds it against the ledger's
clearing account; a real adapter would download it from the provider.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from shared.errors import Conflict, NotFound
from shared.money import Money

Execute = Callable[..., Any]  # uow.execute: (sql, params) -> cursor

SANDBOX_NAMESPACE = uuid.UUID("0b5a7d43-51c4-4e0e-9a59-3f7b0c2d9e11")


@dataclass(frozen=True)
class ProviderNotification:
    """A provider's asynchronous answer about one deposit or withdrawal."""

    operation: str  # "deposit" | "withdrawal"
    operation_id: str
    user_id: str
    currency: str
    status: str  # "confirmed" | "failed"
    provider_reference: str
    amount: Money
    reason: str = ""


@dataclass(frozen=True)
class ProviderRecord:
    """One settled operation on the provider's statement."""

    provider_reference: str
    operation: str  # "deposit" | "withdrawal"
    operation_id: str
    user_id: str
    amount: Money
    status: str  # "confirmed" | "failed"
    settled_at: datetime


class PaymentProvider(Protocol):
    """What escrow needs from a payment provider."""

    def start_deposit(
        self,
        execute: Execute,
        deposit_id: str,
        user_id: str,
        amount: Money,
        idempotency_key: str,
        now: datetime,
    ) -> str:
        """Ask the provider to collect ``amount``; returns its reference."""

    def start_payout(
        self,
        execute: Execute,
        withdrawal_id: str,
        user_id: str,
        amount: Money,
        idempotency_key: str,
        now: datetime,
    ) -> str:
        """Ask the provider to pay ``amount`` out; returns its reference."""


class SandboxProvider:
    """A local provider with the real shape: references, async outcomes, keys, failures."""

    def _start(self, execute, operation, operation_id, user_id, amount, key, now) -> str:
        reference = "sbx_" + uuid.uuid5(SANDBOX_NAMESPACE, f"{operation}:{key}").hex
        execute(
            "INSERT INTO sandbox_provider_payments (provider_reference, operation, operation_id,"
            " user_id, currency, amount, idempotency_key, created_at)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
            (reference, operation, operation_id, user_id, amount.currency, amount.amount, key, now),
        )
        row = execute(
            "SELECT operation_id, amount, currency FROM sandbox_provider_payments"
            " WHERE provider_reference = %s",
            (reference,),
        ).fetchone()
        if row != (operation_id, amount.amount, amount.currency):
            raise Conflict("the provider already holds another request under this key")
        return reference

    def start_deposit(self, execute, deposit_id, user_id, amount, idempotency_key, now) -> str:
        return self._start(execute, "deposit", deposit_id, user_id, amount, idempotency_key, now)

    def start_payout(self, execute, withdrawal_id, user_id, amount, idempotency_key, now) -> str:
        return self._start(
            execute, "withdrawal", withdrawal_id, user_id, amount, idempotency_key, now
        )

    def statement(
        self, execute: Execute, since: datetime | None = None, until: datetime | None = None
    ) -> list[ProviderRecord]:
        """The operations the sandbox settled in ``[since, until)`` (either end open), from
        its own records only, oldest first."""
        rows = execute(
            "SELECT provider_reference, operation, operation_id, user_id, currency, amount,"
            " status, settled_at FROM sandbox_provider_payments"
            " WHERE settled_at IS NOT NULL"
            " AND (%(since)s::timestamptz IS NULL OR settled_at >= %(since)s)"
            " AND (%(until)s::timestamptz IS NULL OR settled_at < %(until)s)"
            " ORDER BY settled_at, provider_reference",
            {"since": since, "until": until},
        ).fetchall()
        return [
            ProviderRecord(ref, op, op_id, user, Money(int(amount), cur), status, at)
            for ref, op, op_id, user, cur, amount, status, at in rows
        ]

    def settle(
        self, execute: Execute, operation: str, operation_id: str, status: str, reason: str, now
    ) -> ProviderNotification:
        """The sandbox decides an operation (as a provider would) and returns its webhook.

        Settling again with the same outcome returns the same notification; the opposite
        outcome is a Conflict.
        """
        row = execute(
            "SELECT provider_reference, user_id, currency, amount, status, reason"
            " FROM sandbox_provider_payments WHERE operation = %s AND operation_id = %s"
            " FOR UPDATE",
            (operation, operation_id),
        ).fetchone()
        if row is None:
            raise NotFound(f"the provider knows no {operation} {operation_id}")
        reference, user_id, currency, amount, current, stored_reason = row
        if current == "requested":
            execute(
                "UPDATE sandbox_provider_payments SET status = %s, reason = %s, settled_at = %s"
                " WHERE provider_reference = %s",
                (status, reason, now, reference),
            )
        elif current != status:
            raise Conflict(f"the provider already {current} this {operation}")
        else:
            reason = stored_reason
        return ProviderNotification(
            operation=operation,
            operation_id=operation_id,
            user_id=user_id,
            currency=currency,
            status=status,
            provider_reference=reference,
            amount=Money(int(amount), currency),
            reason=reason,
        )
