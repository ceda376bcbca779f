"""The Wallet aggregate: one user's money in one currency, and its provider operations.

A wallet's stream is ``wallet-<user_id>:<currency>``. It holds four balances, each the
mirror of one ledger account of the user: ``balance`` (client_wallet),
``earnings_pending`` (freelancer_pending), ``earnings_available`` (freelancer_available)
and ``in_flight`` (withdrawals_in_flight).

Deposits and withdrawals live inside the wallet stream rather than in streams of their
own: a withdrawal must check and take the balance in the same consistency boundary, and a
confirmed deposit must raise it, so both would have to append to the wallet anyway.

Contract commands that take or give a user's money record a *mirror* event here
(``ClientFundsDebited``, ``ClientFundsCredited``, ``EarningsPending``) in the same append;
the contract event carries the ledger postings and the mirror only keeps the balance that
guards the next spend. ``wallet_matches_ledger`` checks the two agree.
"""

from __future__ import annotations

from datetime import datetime

from shared.clock import iso, parse_time
from shared.domain import Aggregate
from shared.errors import Conflict, Forbidden, NotFound, ValidationError, field_error
from shared.money import CURRENCIES, Money

WITHDRAWAL_SOURCES = ("freelancer_available", "client_wallet")


def wallet_id(user_id: str, currency: str) -> str:
    """The id of ``user_id``'s wallet in ``currency``."""
    return f"{user_id}:{currency}"


class Wallet(Aggregate):
    stream_prefix = "wallet"

    def __init__(self, id: str):
        super().__init__(id)
        user_id, _, currency = id.rpartition(":")
        if not user_id or currency not in CURRENCIES:
            raise ValueError(f"not a wallet id: {id!r}")
        self.user_id = user_id
        self.currency = currency
        self.balance = Money.zero(currency)
        self.earnings_pending = Money.zero(currency)
        self.earnings_available = Money.zero(currency)
        self.in_flight = Money.zero(currency)
        self.deposits: dict[str, dict] = {}
        self.withdrawals: dict[str, dict] = {}
        self.keys: dict[str, tuple[str, str]] = {}  # idempotency key -> (kind, operation id)
        self.pending_payments: dict[str, dict] = {}  # payment id -> {amount, available_at}
        self.matured: set[str] = set()

    # -- guards ---------------------------------------------------------------------------

    def _owner(self, actor_id: str) -> None:
        if actor_id != self.user_id:
            raise Forbidden("only the wallet's owner may do this")

    def _amount(self, amount: Money) -> None:
        if amount.currency != self.currency:
            raise field_error("amount", f"this wallet holds {self.currency}")
        if amount.amount <= 0:
            raise field_error("amount", "must be a positive amount")

    def _fresh_key(self, key: str | None, kind: str, op_id: str, amount: Money) -> bool:
        """True when ``key`` already named this same operation (a retry: do nothing)."""
        if key is None or key not in self.keys:
            return False
        seen_kind, seen_id = self.keys[key]
        ops = self.deposits if seen_kind == "deposit" else self.withdrawals
        seen = ops[seen_id]
        if seen_kind == kind and seen_id == op_id and seen["amount"] == amount:
            return True
        raise Conflict("idempotency key already used for a different operation")

    # -- deposits -------------------------------------------------------------------------

    def request_deposit(
        self,
        deposit_id: str,
        amount: Money,
        actor_id: str,
        now: datetime,
        provider_reference: str | None = None,
        idempotency_key: str | None = None,
    ) -> None:
        """Record a deposit the payment provider is asked to collect; nothing moves yet."""
        self._owner(actor_id)
        self._amount(amount)
        if self._fresh_key(idempotency_key, "deposit", deposit_id, amount):
            return
        if deposit_id in self.deposits:
            raise Conflict("deposit already requested")
        self.record(
            "DepositRequested",
            user_id=self.user_id,
            deposit_id=deposit_id,
            amount=amount.to_dict(),
            provider_reference=provider_reference,
            idempotency_key=idempotency_key,
            requested_at=iso(now),
        )

    def _deposit(self, deposit_id: str) -> dict:
        if deposit_id not in self.deposits:
            raise NotFound("no such deposit")
        return self.deposits[deposit_id]

    def confirm_deposit(
        self, deposit_id: str, provider_reference: str, amount: Money, now: datetime
    ) -> None:
        """The provider collected the money: it enters the client wallet.

        Providers notify at least once, so a repeated confirmation is a no-op.
        """
        deposit = self._deposit(deposit_id)
        if deposit["status"] == "confirmed":
            return
        if deposit["status"] == "failed":
            raise Conflict("deposit already failed")
        if amount != deposit["amount"]:
            raise field_error("amount", "does not match the requested deposit")
        self._reference(deposit, provider_reference)
        self.record(
            "DepositConfirmed",
            user_id=self.user_id,
            deposit_id=deposit_id,
            amount=amount.to_dict(),
            provider_reference=provider_reference,
            confirmed_at=iso(now),
        )

    def fail_deposit(
        self, deposit_id: str, provider_reference: str | None, reason: str, now: datetime
    ) -> None:
        """The provider could not collect the money; nothing ever moved."""
        deposit = self._deposit(deposit_id)
        if deposit["status"] == "failed":
            return
        if deposit["status"] == "confirmed":
            raise Conflict("deposit already confirmed")
        self._reference(deposit, provider_reference)
        self.record(
            "DepositFailed",
            user_id=self.user_id,
            deposit_id=deposit_id,
            provider_reference=provider_reference,
            reason=reason,
            failed_at=iso(now),
        )

    @staticmethod
    def _reference(operation: dict, provider_reference: str | None) -> None:
        known = operation["provider_reference"]
        if known is not None and provider_reference is not None and known != provider_reference:
            raise field_error("provider_reference", "does not match the operation")

    # -- withdrawals ----------------------------------------------------------------------

    def request_withdrawal(
        self,
        withdrawal_id: str,
        amount: Money,
        actor_id: str,
        now: datetime,
        source: str = "freelancer_available",
        idempotency_key: str | None = None,
    ) -> None:
        """Take money out of ``source`` into flight until the provider pays it out."""
        self._owner(actor_id)
        self._amount(amount)
        if source not in WITHDRAWAL_SOURCES:
            raise field_error("source", f"must be one of {', '.join(WITHDRAWAL_SOURCES)}")
        if self._fresh_key(idempotency_key, "withdrawal", withdrawal_id, amount):
            return
        if withdrawal_id in self.withdrawals:
            raise Conflict("withdrawal already requested")
        held = self.earnings_available if source == "freelancer_available" else self.balance
        if amount > held:
            raise ValidationError(
                "insufficient funds", {"amount": [f"only {held} can be withdrawn"]}
            )
        self.record(
            "WithdrawalRequested",
            user_id=self.user_id,
            withdrawal_id=withdrawal_id,
            amount=amount.to_dict(),
            source=source,
            idempotency_key=idempotency_key,
            requested_at=iso(now),
        )

    def _withdrawal(self, withdrawal_id: str) -> dict:
        if withdrawal_id not in self.withdrawals:
            raise NotFound("no such withdrawal")
        return self.withdrawals[withdrawal_id]

    def confirm_withdrawal(self, withdrawal_id: str, provider_reference: str, now: datetime):
        """The provider paid the money out; it leaves the platform."""
        withdrawal = self._withdrawal(withdrawal_id)
        if withdrawal["status"] == "confirmed":
            return
        if withdrawal["status"] == "failed":
            raise Conflict("withdrawal already failed")
        self.record(
            "WithdrawalConfirmed",
            user_id=self.user_id,
            withdrawal_id=withdrawal_id,
            amount=withdrawal["amount"].to_dict(),
            provider_reference=provider_reference,
            confirmed_at=iso(now),
        )

    def fail_withdrawal(
        self, withdrawal_id: str, provider_reference: str | None, reason: str, now: datetime
    ) -> None:
        """The payout failed: the money goes back where it came from."""
        withdrawal = self._withdrawal(withdrawal_id)
        if withdrawal["status"] == "failed":
            return
        if withdrawal["status"] == "confirmed":
            raise Conflict("withdrawal already confirmed")
        self.record(
            "WithdrawalFailed",
            user_id=self.user_id,
            withdrawal_id=withdrawal_id,
            amount=withdrawal["amount"].to_dict(),
            source=withdrawal["source"],
            provider_reference=provider_reference,
            reason=reason,
            failed_at=iso(now),
        )

    # -- mirrors of contract money --------------------------------------------------------

    def debit_client_funds(
        self, amount: Money, contract_id: str, reference: str, now: datetime
    ) -> None:
        """Take ``amount`` from the client balance for a contract (funding, invoice, bonus)."""
        if amount.currency != self.currency:
            raise field_error("amount", f"this wallet holds {self.currency}")
        if amount > self.balance:
            raise Conflict(f"insufficient funds: the wallet holds {self.balance}, needs {amount}")
        self.record(
            "ClientFundsDebited",
            user_id=self.user_id,
            amount=amount.to_dict(),
            contract_id=contract_id,
            reference=reference,
            debited_at=iso(now),
        )

    def credit_client_funds(
        self, amount: Money, contract_id: str, reference: str, now: datetime
    ) -> None:
        """Give refunded escrow back to the client balance."""
        self.record(
            "ClientFundsCredited",
            user_id=self.user_id,
            amount=amount.to_dict(),
            contract_id=contract_id,
            reference=reference,
            credited_at=iso(now),
        )

    def add_pending_earnings(
        self,
        payment_id: str,
        amount: Money,
        contract_id: str,
        available_at: datetime,
        now: datetime,
    ) -> None:
        """Net earnings enter pending; they become available at ``available_at``."""
        self.record(
            "EarningsPending",
            user_id=self.user_id,
            payment_id=payment_id,
            amount=amount.to_dict(),
            contract_id=contract_id,
            available_at=iso(available_at),
            credited_at=iso(now),
        )

    def make_earnings_available(self, payment_id: str, now: datetime) -> None:
        """Timer: the security period of a payment is over. A repeat is a no-op."""
        if payment_id in self.matured:
            return
        if payment_id not in self.pending_payments:
            raise NotFound("no such pending payment")
        entry = self.pending_payments[payment_id]
        if now < entry["available_at"]:
            raise Conflict(f"not available before {iso(entry['available_at'])}")
        self.record(
            "EarningsAvailable",
            user_id=self.user_id,
            payment_id=payment_id,
            amount=entry["amount"].to_dict(),
            available_at=iso(now),
        )

    # -- apply ----------------------------------------------------------------------------

    def on_DepositRequested(self, data: dict) -> None:
        self.deposits[data["deposit_id"]] = {
            "status": "requested",
            "amount": Money.from_dict(data["amount"]),
            "provider_reference": data["provider_reference"],
        }
        if data["idempotency_key"] is not None:
            self.keys[data["idempotency_key"]] = ("deposit", data["deposit_id"])

    def on_DepositConfirmed(self, data: dict) -> None:
        deposit = self.deposits[data["deposit_id"]]
        deposit["status"] = "confirmed"
        deposit["provider_reference"] = data["provider_reference"]
        self.balance += Money.from_dict(data["amount"])

    def on_DepositFailed(self, data: dict) -> None:
        self.deposits[data["deposit_id"]]["status"] = "failed"

    def on_WithdrawalRequested(self, data: dict) -> None:
        amount = Money.from_dict(data["amount"])
        self.withdrawals[data["withdrawal_id"]] = {
            "status": "requested",
            "amount": amount,
            "source": data["source"],
            "provider_reference": None,
        }
        if data["idempotency_key"] is not None:
            self.keys[data["idempotency_key"]] = ("withdrawal", data["withdrawal_id"])
        self._take(data["source"], amount)
        self.in_flight += amount

    def _take(self, source: str, amount: Money) -> None:
        if source == "freelancer_available":
            self.earnings_available -= amount
        else:
            self.balance -= amount

    def on_WithdrawalConfirmed(self, data: dict) -> None:
        withdrawal = self.withdrawals[data["withdrawal_id"]]
        withdrawal["status"] = "confirmed"
        withdrawal["provider_reference"] = data["provider_reference"]
        self.in_flight -= withdrawal["amount"]

    def on_WithdrawalFailed(self, data: dict) -> None:
        withdrawal = self.withdrawals[data["withdrawal_id"]]
        withdrawal["status"] = "failed"
        self.in_flight -= withdrawal["amount"]
        self._take(withdrawal["source"], -withdrawal["amount"])

    def on_ClientFundsDebited(self, data: dict) -> None:
        self.balance -= Money.from_dict(data["amount"])

    def on_ClientFundsCredited(self, data: dict) -> None:
        self.balance += Money.from_dict(data["amount"])

    def on_EarningsPending(self, data: dict) -> None:
        amount = Money.from_dict(data["amount"])
        self.pending_payments[data["payment_id"]] = {
            "amount": amount,
            "available_at": parse_time(data["available_at"]),
        }
        self.earnings_pending += amount

    def on_EarningsAvailable(self, data: dict) -> None:
        entry = self.pending_payments.pop(data["payment_id"])
        self.matured.add(data["payment_id"])
        self.earnings_pending -= entry["amount"]
        self.earnings_available += entry["amount"]
