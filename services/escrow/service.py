"""The escrow service: contracts, milestones, hourly weeks, disputes, wallets and the ledger.

Entrypoints only: each RPC loads its arguments through a schema, knows who calls, and runs
the domain inside one idempotent command (``self.store.command``) that appends the
contract's and the wallets' events together and stores the deadlines they start.
Errors cross RPC typed: ``ValidationError`` (field messages), ``NotAuthenticated``,
``Forbidden``, ``NotFound``, ``Conflict`` (``ConcurrencyError`` is one).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from nameko.rpc import rpc

from shared import rpc as platform
from shared.audit import rpc as audit_rpc
from shared.auth import CallerProvider
from shared.errors import Forbidden, NotFound
from shared.money import Money
from shared.observability import LogContext, Metrics
from shared.process import CollectorTuning
from shared.relay import Relay
from shared.rpc import validated
from shared.storage import EventStore
from shared.timers import fire_due

from . import policies
from . import schemas as s
from .configuration import EscrowConfig, configured_timer
from .domain import Contract
from .ledger import LedgerEntry
from .payments import ProviderNotification, SandboxProvider
from .policies import deadline_handlers, save
from .projections import (
    LEDGER_READERS,
    authorize_ledger_read,
    contract_view,
    ledger_statement,
    wallet_view,
)
from .read_models import PROJECTIONS
from .wallet import Wallet, wallet_id

STAFF = ("operator", "auditor")


def _plain(value: Any) -> Any:
    """Loaded arguments as JSON (for the idempotency digest and results)."""
    if isinstance(value, Money):
        return value.to_dict()
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _new_id() -> str:
    return str(uuid.uuid4())


# The mixins are reached through their modules: ``nameko run`` takes every class with
# entrypoints found in this module's namespace for a service.
class EscrowService(
    platform.Operations,
    audit_rpc.AuditOperations,
    platform.FollowsSuspensions,
    policies.EscrowPolicies,
):
    name = "escrow"

    store = EventStore(projections=PROJECTIONS)
    relay = Relay()
    caller = CallerProvider()
    metrics = Metrics()  # /metrics and /health on METRICS_PORT
    log_context = LogContext()  # correlation id, caller, entrypoint in log lines
    collector = CollectorTuning()  # start-up objects out of the GC's way
    config = EscrowConfig()

    provider = SandboxProvider()

    # -- plumbing -----------------------------------------------------------------------

    def _command(self, method: str, args: dict, run: Callable) -> Any:
        """Run ``run(uow, caller, now)`` as the authenticated caller, idempotently."""
        caller = self.caller.authenticated()
        return self.store.command(
            method,
            _plain(args),
            lambda uow: run(uow, caller, self.store.clock.now()),
            idempotency_key=args.get("idempotency_key"),
            actor=caller.user_id,
        )

    def _on_contract(self, method: str, args: dict, act: Callable) -> dict:
        """A contract command: ``act(uow, contract, caller, now)`` returns extra result
        fields; the result holds the contract as it stands after the command."""

        def run(uow, caller, now):
            contract = uow.load(Contract, args["contract_id"], must_exist=True)
            extra = act(uow, contract, caller, now) or {}
            # the row the projection just wrote is this view of the saved aggregate
            return {**extra, "contract": contract_view(contract)}

        return self._command(method, args, run)

    @staticmethod
    def _wallet(uow, user_id: str, currency: str) -> Wallet:
        return uow.load(Wallet, wallet_id(user_id, currency))

    def _client_wallet(self, uow, contract: Contract) -> Wallet:
        return self._wallet(uow, contract.client_id, contract.currency)

    def _freelancer_wallet(self, uow, contract: Contract) -> Wallet:
        return self._wallet(uow, contract.freelancer_id, contract.currency)

    # -- wallets ------------------------------------------------------------------------

    @rpc
    @validated(s.DepositSchema)
    def deposit(self, args: dict) -> dict:
        """Ask the payment provider to collect money into the caller's wallet.

        Args: ``amount`` {amount > 0, currency}, ``idempotency_key`` (optional).
        Result: ``{deposit_id, provider_reference, status: "requested", amount}``; the
        balance rises when the provider confirms (``confirm_provider_payment`` /
        ``provider_notification``), and unpaid weekly invoices are then charged from it. Errors: ValidationError, NotAuthenticated, Conflict
        (key reused with other arguments).
        """
        amount: Money = args["amount"]

        def run(uow, caller, now):
            deposit_id = _new_id()
            wallet = self._wallet(uow, caller.user_id, amount.currency)
            reference = self.provider.start_deposit(
                uow.execute,
                deposit_id,
                caller.user_id,
                amount,
                f"{caller.user_id}:{args.get('idempotency_key') or deposit_id}",
                now,
            )
            wallet.request_deposit(
                deposit_id,
                amount,
                caller.user_id,
                now,
                provider_reference=reference,
                idempotency_key=args.get("idempotency_key"),
            )
            save(uow, wallet)
            return {
                "deposit_id": deposit_id,
                "provider_reference": reference,
                "status": "requested",
                "amount": amount.to_dict(),
            }

        return self._command("deposit", args, run)

    @rpc
    @validated(s.WithdrawSchema)
    def withdraw(self, args: dict) -> dict:
        """Pay money out of the caller's wallet through the payment provider.

        Args: ``amount`` {amount > 0, currency}, ``source`` ("freelancer_available" default,
        or "client_wallet"), ``idempotency_key``. The amount leaves the source at once and
        is in flight until the provider confirms (or fails: it returns).
        Result: ``{withdrawal_id, provider_reference, status: "requested", amount}``.
        Errors: ValidationError (amount beyond the source's balance, currency),
        NotAuthenticated, Conflict.
        """
        amount: Money = args["amount"]

        def run(uow, caller, now):
            withdrawal_id = _new_id()
            wallet = self._wallet(uow, caller.user_id, amount.currency)
            wallet.request_withdrawal(
                withdrawal_id,
                amount,
                caller.user_id,
                now,
                source=args["source"],
                idempotency_key=args.get("idempotency_key"),
            )
            reference = self.provider.start_payout(
                uow.execute,
                withdrawal_id,
                caller.user_id,
                amount,
                f"{caller.user_id}:{args.get('idempotency_key') or withdrawal_id}",
                now,
            )
            save(uow, wallet)
            return {
                "withdrawal_id": withdrawal_id,
                "provider_reference": reference,
                "status": "requested",
                "amount": amount.to_dict(),
            }

        return self._command("withdraw", args, run)

    @rpc
    @validated(s.WalletSchema)
    def wallet(self, args: dict) -> dict:
        """The caller's wallet in ``currency`` (default USD).

        Result: ``{user_id, currency, balance, pending, available, in_flight,
        pending_payments: [{payment_id, amount, available_at}]}`` (Money as
        {amount, currency}). Errors: NotAuthenticated, ValidationError.
        """
        caller = self.caller.authenticated()
        wid = wallet_id(caller.user_id, args["currency"])
        rows = self.store.query("SELECT view FROM escrow_wallets WHERE wallet_id = %s", (wid,))
        return rows[0][0] if rows else wallet_view(Wallet(wid))

    def _apply_notification(self, uow, note: ProviderNotification, now) -> dict:
        wallet = self._wallet(uow, note.user_id, note.currency)
        confirmed = note.status == "confirmed"
        if note.operation == "deposit":
            if confirmed:
                wallet.confirm_deposit(note.operation_id, note.provider_reference, note.amount, now)
            else:
                wallet.fail_deposit(note.operation_id, note.provider_reference, note.reason, now)
        elif confirmed:
            wallet.confirm_withdrawal(note.operation_id, note.provider_reference, now)
        else:
            wallet.fail_withdrawal(note.operation_id, note.provider_reference, note.reason, now)
        save(uow, wallet)
        if note.operation == "deposit" and confirmed:
            policies.pay_waiting_invoices(uow, wallet, now)
        return {
            "operation": note.operation,
            "operation_id": note.operation_id,
            "status": note.status,
            "provider_reference": note.provider_reference,
        }

    @rpc
    @validated(s.SandboxSettlementSchema)
    def confirm_provider_payment(self, args: dict) -> dict:
        """Sandbox provider: settle a deposit or withdrawal and deliver its notification.

        Operators only, and only while ``PAYMENTS_SANDBOX`` is on. Args: ``operation``
        ("deposit" | "withdrawal"), ``operation_id``, ``status`` ("confirmed" default |
        "failed"), ``reason``. Result: ``{operation, operation_id, status,
        provider_reference}``. Settling again the same way changes nothing. Errors:
        Forbidden, NotFound (unknown operation), Conflict (already settled otherwise).
        """
        self.caller.require_role("operator")
        if not self.config.sandbox_enabled:
            raise Forbidden("the sandbox payment provider is switched off")

        def run(uow, caller, now):
            note = self.provider.settle(
                uow.execute,
                args["operation"],
                args["operation_id"],
                args["status"],
                args["reason"],
                now,
            )
            return self._apply_notification(uow, note, now)

        return self._command("confirm_provider_payment", args, run)

    @rpc
    @validated(s.ProviderNotificationSchema)
    def provider_notification(self, args: dict) -> dict:
        """A payment provider's webhook, relayed by the operator-run gateway.

        Args: ProviderNotificationSchema (operation, operation_id, user_id, currency,
        status, provider_reference, amount for a confirmed deposit, reason). Result as
        ``confirm_provider_payment``. Errors: Forbidden (not an operator), NotFound,
        ValidationError (reference or amount do not match), Conflict.
        """
        self.caller.require_role("operator")
        amount = args["amount"] or Money.zero(args["currency"])
        note = ProviderNotification(
            operation=args["operation"],
            operation_id=args["operation_id"],
            user_id=args["user_id"],
            currency=args["currency"],
            status=args["status"],
            provider_reference=args["provider_reference"],
            amount=amount,
            reason=args["reason"],
        )
        return self._command(
            "provider_notification",
            args,
            lambda uow, caller, now: self._apply_notification(uow, note, now),
        )

    # -- contracts ----------------------------------------------------------------------

    @rpc
    @validated(s.GetContractSchema)
    def get_contract(self, args: dict) -> dict:
        """One contract with its milestones, weeks, time segments, refunds and disputes.

        Its client and freelancer, operators and auditors may read it. Errors:
        NotAuthenticated, Forbidden, NotFound.
        """
        caller = self.caller.authenticated()
        rows = self.store.query(
            "SELECT client_id, freelancer_id, view FROM escrow_contracts WHERE contract_id = %s",
            (args["contract_id"],),
        )
        if not rows:
            raise NotFound("no such contract")
        client_id, freelancer_id, view = rows[0]
        if not caller.has_role(*STAFF):
            caller.require_user(client_id, freelancer_id)
        return view

    @rpc
    @validated(s.ListContractsSchema)
    def list_contracts(self, args: dict) -> dict:
        """The caller's contracts, newest first.

        Args: ``status`` (active|paused|ended), ``role`` (client|freelancer: which side the
        caller is on), ``limit`` (1..200, default 50), ``offset``. Result:
        ``{contracts: [{contract_id, job_id, client_id, freelancer_id, kind, status,
        currency, in_escrow, opened_at}]}``. Errors: NotAuthenticated, ValidationError.
        """
        caller = self.caller.authenticated()
        sides = {
            "client": "client_id = %(me)s",
            "freelancer": "freelancer_id = %(me)s",
            None: "(client_id = %(me)s OR freelancer_id = %(me)s)",
        }
        where = sides[args["role"]]
        if args["status"]:
            where += " AND status = %(status)s"
        rows = self.store.query(
            f"SELECT summary FROM escrow_contracts WHERE {where}"
            " ORDER BY opened_at DESC, contract_id LIMIT %(limit)s OFFSET %(offset)s",
            {"me": caller.user_id, **args},
        )
        return {"contracts": [row[0] for row in rows]}

    @rpc
    @validated(s.PauseContractSchema)
    def pause_contract(self, args: dict) -> dict:
        """The client pauses an active hourly contract (no time can be logged).

        Args: ``contract_id``, ``reason``, ``idempotency_key``. Result: ``{contract}``.
        Errors: Forbidden (not the client), NotFound, Conflict (not hourly / not active).
        """

        def act(uow, contract, caller, now):
            contract.pause_contract(caller.user_id, args["reason"], now)
            save(uow, contract)

        return self._on_contract("pause_contract", args, act)

    @rpc
    @validated(s.ResumeContractSchema)
    def resume_contract(self, args: dict) -> dict:
        """The client resumes a paused hourly contract. Args: ``contract_id``,
        ``idempotency_key``. Result: ``{contract}``. Errors: Forbidden, NotFound, Conflict."""

        def act(uow, contract, caller, now):
            contract.resume_contract(caller.user_id, now)
            save(uow, contract)

        return self._on_contract("resume_contract", args, act)

    @rpc
    @validated(s.EndContractSchema)
    def end_contract(self, args: dict) -> dict:
        """Either party ends the contract, with a reason.

        Ended by the client, escrow still held becomes refund requests the freelancer has
        7 days to accept or dispute; ended by the freelancer, it is refunded at once.
        Args: ``contract_id``, ``reason``, ``idempotency_key``. Result: ``{contract}``.
        Errors: Forbidden (not a party), NotFound, Conflict (already ended).
        """

        def act(uow, contract, caller, now):
            wallet = self._client_wallet(uow, contract)
            contract.end_contract(caller.user_id, args["reason"], now, wallet, self.config.settings)
            save(uow, contract, wallet)

        return self._on_contract("end_contract", args, act)

    # -- milestones ---------------------------------------------------------------------

    @rpc
    @validated(s.AddMilestoneSchema)
    def add_milestone(self, args: dict) -> dict:
        """The client adds a milestone to an active fixed-price contract.

        Args: ``contract_id``, ``title``, ``amount`` (contract currency, at least the
        minimum funding), ``due_date``, ``idempotency_key``. Result: ``{milestone_id,
        contract}``. Errors: ValidationError, Forbidden, NotFound, Conflict.
        """

        def act(uow, contract, caller, now):
            milestone_id = _new_id()
            contract.add_milestone(
                milestone_id,
                args["title"],
                args["amount"],
                caller.user_id,
                now,
                args["due_date"],
                self.config.settings,
            )
            save(uow, contract)
            return {"milestone_id": milestone_id}

        return self._on_contract("add_milestone", args, act)

    @rpc
    @validated(s.FundMilestoneSchema)
    def fund_milestone(self, args: dict) -> dict:
        """The client moves a milestone's amount (plus any client fee) from the wallet
        into escrow. Args: ``contract_id``, ``milestone_id``, ``idempotency_key``.
        Result: ``{contract}``. Errors: Forbidden (not the client), NotFound, Conflict
        (already funded, insufficient funds), ValidationError (below the minimum)."""

        def act(uow, contract, caller, now):
            wallet = self._client_wallet(uow, contract)
            contract.fund_milestone(
                args["milestone_id"], caller.user_id, now, wallet, self.config.settings
            )
            save(uow, contract, wallet)

        return self._on_contract("fund_milestone", args, act)

    @rpc
    @validated(s.SubmitWorkSchema)
    def submit_work(self, args: dict) -> dict:
        """The freelancer submits work on a funded milestone; the client's 14-day review
        (auto-approve) starts. Args: ``contract_id``, ``milestone_id``, ``message``,
        ``idempotency_key``. Result: ``{contract}``. Errors: Forbidden (not the
        freelancer), NotFound, Conflict (not funded / changes not requested)."""

        def act(uow, contract, caller, now):
            contract.submit_work(
                args["milestone_id"], args["message"], caller.user_id, now, self.config.settings
            )
            save(uow, contract)

        return self._on_contract("submit_work", args, act)

    @rpc
    @validated(s.RequestChangesSchema)
    def request_changes(self, args: dict) -> dict:
        """The client asks for changes to submitted work (stops the review clock; a
        resubmission starts a new one). Args: ``contract_id``, ``milestone_id``,
        ``message``, ``idempotency_key``. Result: ``{contract}``. Errors: Forbidden,
        NotFound, Conflict."""

        def act(uow, contract, caller, now):
            contract.request_changes(args["milestone_id"], args["message"], caller.user_id, now)
            save(uow, contract)

        return self._on_contract("request_changes", args, act)

    @rpc
    @validated(s.ApproveMilestoneSchema)
    def approve_milestone(self, args: dict) -> dict:
        """The client releases all (default) or part of a milestone's escrow: net to the
        freelancer's pending balance (available after the security period), the fee to
        the platform. Args: ``contract_id``, ``milestone_id``, ``amount`` (optional,
        0 < amount <= held), ``idempotency_key``. Result: ``{contract}``. Errors:
        ValidationError (amount, currency), Forbidden, NotFound, Conflict."""

        def act(uow, contract, caller, now):
            wallet = self._freelancer_wallet(uow, contract)
            contract.approve_milestone(
                args["milestone_id"],
                caller.user_id,
                now,
                wallet,
                args["amount"],
                self.config.settings,
            )
            save(uow, contract, wallet)

        return self._on_contract("approve_milestone", args, act)

    @rpc
    @validated(s.RequestRefundSchema)
    def request_refund(self, args: dict) -> dict:
        """The client asks for held escrow back (all by default); the freelancer has the
        refund window (7 days) to accept or dispute, silence refunds. Args:
        ``contract_id``, ``milestone_id``, ``amount``, ``reason``, ``idempotency_key``.
        Result: ``{refund_id, contract}``. Errors: ValidationError, Forbidden, NotFound,
        Conflict."""

        def act(uow, contract, caller, now):
            refund_id = _new_id()
            contract.request_refund(
                refund_id,
                args["milestone_id"],
                caller.user_id,
                now,
                args["amount"],
                args["reason"],
                self.config.settings,
            )
            save(uow, contract)
            return {"refund_id": refund_id}

        return self._on_contract("request_refund", args, act)

    @rpc
    @validated(s.AcceptRefundSchema)
    def accept_refund(self, args: dict) -> dict:
        """The freelancer accepts a refund request: the amount returns to the client's
        wallet. Args: ``contract_id``, ``refund_id``, ``idempotency_key``. Result:
        ``{contract}``. Errors: Forbidden (not the freelancer), NotFound, Conflict."""

        def act(uow, contract, caller, now):
            wallet = self._client_wallet(uow, contract)
            contract.accept_refund(
                args["refund_id"], caller.user_id, now, wallet, self.config.settings
            )
            save(uow, contract, wallet)

        return self._on_contract("accept_refund", args, act)

    # -- hourly -------------------------------------------------------------------------

    @rpc
    @validated(s.LogTimeSchema)
    def log_time(self, args: dict) -> dict:
        """The freelancer logs a time segment on an active hourly contract.

        Args: ``contract_id``, ``start``, ``end`` (ISO 8601 with offset, whole minutes,
        inside one Monday-Sunday UTC week, not in the future), ``memo``, ``manual``
        (default true; needs the contract to allow manual time), ``idempotency_key``.
        Result: ``{segment_id, contract}``. Errors: ValidationError (overlap, weekly
        limit, times), Forbidden (not the freelancer, manual not allowed), NotFound,
        Conflict (paused, ended, week closed for edits).
        """

        def act(uow, contract, caller, now):
            segment_id = _new_id()
            contract.log_time(
                segment_id,
                args["start"],
                args["end"],
                args["memo"],
                args["manual"],
                caller.user_id,
                now,
                self.config.settings,
            )
            save(uow, contract)
            return {"segment_id": segment_id}

        return self._on_contract("log_time", args, act)

    @rpc
    @validated(s.DeleteTimeSchema)
    def delete_time(self, args: dict) -> dict:
        """The freelancer removes a time segment while its week can be edited (until
        Monday 12:00 UTC). Args: ``contract_id``, ``segment_id``, ``idempotency_key``.
        Result: ``{contract}``. Errors: Forbidden, NotFound, Conflict."""

        def act(uow, contract, caller, now):
            contract.delete_time(args["segment_id"], caller.user_id, now)
            save(uow, contract)

        return self._on_contract("delete_time", args, act)

    @rpc
    @validated(s.PayInvoiceSchema)
    def pay_invoice(self, args: dict) -> dict:
        """The client pays a weekly invoice the wallet could not cover on Monday.

        Args: ``contract_id``, ``week_start`` (the week's Monday 00:00 UTC),
        ``idempotency_key``. Result: ``{contract}``. Errors: Forbidden, NotFound,
        Conflict (nothing unpaid, insufficient funds)."""

        def act(uow, contract, caller, now):
            wallet = self._client_wallet(uow, contract)
            contract.pay_invoice(args["week_start"], now, wallet, actor_id=caller.user_id)
            save(uow, contract, wallet)

        return self._on_contract("pay_invoice", args, act)

    @rpc
    @validated(s.PayBonusSchema)
    def pay_bonus(self, args: dict) -> dict:
        """The client pays the freelancer a bonus from the wallet (net to pending, the
        fee to the platform). Args: ``contract_id``, ``amount``, ``reason``,
        ``idempotency_key``. Result: ``{bonus_id, contract}``. Errors: ValidationError,
        Forbidden, NotFound, Conflict (insufficient funds)."""

        def act(uow, contract, caller, now):
            bonus_id = _new_id()
            client = self._client_wallet(uow, contract)
            freelancer = self._freelancer_wallet(uow, contract)
            contract.pay_bonus(
                bonus_id,
                args["amount"],
                args["reason"],
                caller.user_id,
                now,
                client,
                freelancer,
                self.config.settings,
            )
            save(uow, contract, client, freelancer)
            return {"bonus_id": bonus_id}

        return self._on_contract("pay_bonus", args, act)

    # -- disputes -----------------------------------------------------------------------

    @rpc
    @validated(s.OpenDisputeSchema)
    def open_dispute(self, args: dict) -> dict:
        """Freeze held money until an operator resolves it or the opener withdraws.

        ``target_kind`` "milestone" (client; ``target_id`` a milestone id), "refund"
        (freelancer; a refund id), "week" (client; the week's Monday as ISO time, during
        the review). Args also ``contract_id``, ``reason``, ``idempotency_key``. Result:
        ``{dispute_id, contract}``. Errors: Forbidden, NotFound, Conflict.
        """

        def act(uow, contract, caller, now):
            dispute_id = _new_id()
            contract.open_dispute(
                dispute_id,
                args["target_kind"],
                args["target_id"],
                args["reason"],
                caller.user_id,
                now,
            )
            save(uow, contract)
            return {"dispute_id": dispute_id}

        return self._on_contract("open_dispute", args, act)

    @rpc
    @validated(s.ResolveDisputeSchema)
    def resolve_dispute(self, args: dict) -> dict:
        """An operator splits disputed escrow: ``refund`` to the client, ``release`` to
        the freelancer (less the fee); they must add up to the amount in dispute.
        Args: ``contract_id``, ``dispute_id``, ``refund``, ``release``, ``note``,
        ``idempotency_key``. Result: ``{contract}``. Errors: Forbidden (not an operator),
        ValidationError (split), NotFound, Conflict."""
        self.caller.require_role("operator")

        def act(uow, contract, caller, now):
            client = self._client_wallet(uow, contract)
            freelancer = self._freelancer_wallet(uow, contract)
            contract.resolve_dispute(
                args["dispute_id"],
                args["refund"],
                args["release"],
                args["note"],
                caller.user_id,
                caller.roles,
                now,
                client,
                freelancer,
                self.config.settings,
            )
            save(uow, contract, client, freelancer)

        return self._on_contract("resolve_dispute", args, act)

    @rpc
    @validated(s.WithdrawDisputeSchema)
    def withdraw_dispute(self, args: dict) -> dict:
        """The party who opened a dispute gives it up (the money resumes its course).
        Args: ``contract_id``, ``dispute_id``, ``idempotency_key``. Result:
        ``{contract}``. Errors: Forbidden (not the opener), NotFound, Conflict."""

        def act(uow, contract, caller, now):
            wallet = self._client_wallet(uow, contract)
            contract.withdraw_dispute(
                args["dispute_id"], caller.user_id, now, wallet, self.config.settings
            )
            save(uow, contract, wallet)

        return self._on_contract("withdraw_dispute", args, act)

    # -- the ledger ---------------------------------------------------------------------

    @rpc
    @validated(s.LedgerSchema)
    def ledger(self, args: dict) -> dict:
        """One ledger account's entries with running balances, as of a time.

        The holder reads their own accounts (``client_wallet:<me>``,
        ``freelancer_pending:<me>``, ``freelancer_available:<me>``,
        ``withdrawals_in_flight:<me>``), a contract's parties its
        ``contract_escrow:<contract>``; auditors and operators read every account,
        ``provider_clearing:<CUR>`` and ``platform_fees`` included. Args: ``account``,
        ``currency``, ``as_of``, ``limit``, ``after_position``. Result: ``{account,
        currency, as_of, balance, entries: [{position, event_type, amount, balance_after,
        recorded_at}]}``. Errors: NotAuthenticated, Forbidden, ValidationError.
        """
        caller = self.caller.authenticated()
        account = args["account"]
        parties = None
        if account.startswith("contract_escrow:") and not caller.has_role(*LEDGER_READERS):
            rows = self.store.query(
                "SELECT client_id, freelancer_id FROM escrow_contracts WHERE contract_id = %s",
                (account.removeprefix("contract_escrow:"),),
            )
            parties = tuple(rows[0]) if rows else None
        authorize_ledger_read(account, caller.user_id, caller.roles, parties)
        rows = self.store.query(
            "SELECT position, event_type, account, amount, currency, recorded_at"
            " FROM ledger_entries WHERE account = %s AND currency = %s ORDER BY position, leg",
            (account, args["currency"]),
        )
        entries = [
            LedgerEntry(pos, kind, acc, int(amount), cur, at)
            for pos, kind, acc, amount, cur, at in rows
        ]
        return ledger_statement(
            entries,
            account,
            args["currency"],
            as_of=args["as_of"],
            after_position=args["after_position"],
            limit=args["limit"],
        )

    # -- timers -------------------------------------------------------------------------

    @configured_timer()
    def fire_deadlines(self) -> int:
        """Fire every due deadline (auto-approve, refund expiry, weekly invoice and
        release, earnings becoming available); returns how many fired."""
        return fire_due(self.store, deadline_handlers(self.config.settings))
