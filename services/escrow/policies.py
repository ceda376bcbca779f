"""escrow's reactions: bidding's ``OfferAccepted`` opens a contract, and due deadlines fire.

Also the one way escrow saves aggregates (``save``): append their events in one
transaction and store the deadlines those events start, so no window is ever opened
without its timer.
"""

from __future__ import annotations

from datetime import datetime

from marshmallow import ValidationError as MarshmallowValidationError
from marshmallow import fields, validate, validates_schema

from shared.clock import parse_time
from shared.consumers import consume
from shared.domain import Aggregate
from shared.errors import ConcurrencyError, Conflict
from shared.eventstore import RecordedEvent, UnitOfWork
from shared.schemas import BaseSchema, Id, MoneyField, StrictInteger
from shared.timers import schedule

from .deadlines import (
    AUTO_APPROVE,
    EARNINGS_AVAILABLE,
    REFUND_RESPONSE,
    WEEK_INVOICE,
    WEEK_RELEASE,
    Deadline,
    deadlines_for,
    fire_deadline,
    wallets_needed,
)
from .domain import Contract, contract_id_for_offer
from .schemas import MAX_MILESTONES, Currency, OfferMilestoneSchema
from .settings import EscrowSettings, FeeSchedule
from .wallet import Wallet

DEADLINE_KINDS = (AUTO_APPROVE, REFUND_RESPONSE, WEEK_INVOICE, WEEK_RELEASE, EARNINGS_AVAILABLE)
TIMER_ATTEMPTS = 8


def save(uow: UnitOfWork, *aggregates: Aggregate | None) -> list[RecordedEvent]:
    """Append the aggregates' pending events atomically and schedule their deadlines."""
    recorded = uow.save(*(a for a in aggregates if a is not None))
    for event in recorded:
        for deadline in deadlines_for(event):
            schedule(uow, deadline.key, deadline.kind, deadline.due_at, deadline.to_dict())
    return recorded


# -- bidding's OfferAccepted ---------------------------------------------------------------


class OfferAcceptedData(BaseSchema):
    """bidding's ``OfferAccepted`` data, exactly as ``services/bidding/offer.py`` records it:
    the common terms, ``start_date``, and ``milestones`` (fixed) or ``hourly_rate``,
    ``weekly_limit_hours``, ``manual_time_allowed`` (hourly)."""

    offer_id = Id(required=True)
    proposal_id = Id(load_default=None, allow_none=True)
    job_id = Id(required=True)
    client_id = Id(required=True)
    freelancer_id = Id(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(["fixed", "hourly"]))
    currency = Currency(required=True)
    start_date = fields.Date(load_default=None, allow_none=True)
    milestones = fields.List(
        fields.Nested(OfferMilestoneSchema), validate=validate.Length(min=1, max=MAX_MILESTONES)
    )
    hourly_rate = MoneyField(positive=True, allow_none=True)
    weekly_limit_hours = StrictInteger(allow_none=True, validate=validate.Range(min=1, max=168))
    manual_time_allowed = fields.Boolean()

    @validates_schema
    def _terms_fit_kind(self, data, **kwargs):
        if data["kind"] == "fixed":
            if not data.get("milestones"):
                raise MarshmallowValidationError(
                    "a fixed-price offer needs milestones", "milestones"
                )
            for name in ("hourly_rate", "weekly_limit_hours", "manual_time_allowed"):
                if name in data:
                    raise MarshmallowValidationError("only hourly offers have this", name)
        else:
            if "milestones" in data:
                raise MarshmallowValidationError("only fixed offers have milestones", "milestones")
            if data.get("hourly_rate") is None:
                raise MarshmallowValidationError("an hourly offer needs a rate", "hourly_rate")
            if data.get("weekly_limit_hours") is None:
                raise MarshmallowValidationError(
                    "an hourly offer needs a weekly limit", "weekly_limit_hours"
                )


def offer_from_event(data: dict) -> dict:
    """The offer as ``Contract.open`` takes it (terms nested)."""
    terms = {"start_date": data.get("start_date")}
    if data["kind"] == "fixed":
        terms["milestones"] = data["milestones"]
    else:
        terms["hourly_rate"] = data["hourly_rate"]
        terms["weekly_limit_hours"] = data["weekly_limit_hours"]
        terms["manual_time_allowed"] = bool(data.get("manual_time_allowed", False))
    common = ("offer_id", "proposal_id", "job_id", "client_id", "freelancer_id", "kind", "currency")
    return {**{k: data.get(k) for k in common}, "terms": terms}


def open_contract(uow: UnitOfWork, data: dict, fees: FeeSchedule, now: datetime) -> str:
    """Open the contract of an accepted offer; opening it again changes nothing."""
    contract = uow.load(Contract, contract_id_for_offer(data["offer_id"]))
    contract.open(offer_from_event(data), fees, now)
    save(uow, contract)
    return contract.id


class EscrowPolicies:
    """Mixed into the service: the consumers of other services' events."""

    @consume("bidding", "OfferAccepted", schema=OfferAcceptedData)
    def open_contract_from_offer(self, uow, event):
        open_contract(uow, event.data, self.config.fees, self.store.clock.now())


# -- money arriving -------------------------------------------------------------------------


def pay_waiting_invoices(uow: UnitOfWork, wallet: Wallet, now: datetime) -> list[str]:
    """After a deposit confirms, charge the client's unpaid weekly invoices, oldest first,
    while the wallet covers them; returns the contracts charged."""
    rows = uow.execute(
        "SELECT c.contract_id, w->>'week_start' AS week_start FROM escrow_contracts c,"
        " jsonb_array_elements(c.view->'weeks') AS w"
        " WHERE c.client_id = %s AND c.view->>'currency' = %s AND w->>'status' = 'invoiced'"
        " ORDER BY w->>'week_start', c.contract_id",
        (wallet.user_id, wallet.currency),
    ).fetchall()
    charged = []
    for contract_id, week_start in rows:
        contract = uow.load(Contract, contract_id, must_exist=True)
        try:
            contract.pay_invoice(parse_time(week_start), now, wallet)
        except Conflict:
            break  # the wallet no longer covers the oldest unpaid invoice
        save(uow, contract, wallet)
        charged.append(contract_id)
    return charged


# -- deadlines -----------------------------------------------------------------------------


def deadline_from_payload(payload: dict) -> Deadline:
    return Deadline(
        payload["kind"], parse_time(payload["due_at"]), payload["stream"], payload["target"]
    )


def fire(uow: UnitOfWork, payload: dict, now: datetime, settings: EscrowSettings) -> None:
    """Run one due deadline's timer command and save what it recorded.

    A stream that moves on under the timer is re-read and the command tried again inside
    its own savepoint: ``shared.timers.fire_due`` treats any ``Conflict`` (of which
    ``ConcurrencyError`` is a subclass) as "moot" and would drop the deadline for good.
    """
    deadline = deadline_from_payload(payload)
    for _ in range(TIMER_ATTEMPTS):
        try:
            with uow.conn.transaction():
                contract = None
                if deadline.stream.startswith(Contract.stream_prefix + "-"):
                    contract_id = deadline.stream.removeprefix(Contract.stream_prefix + "-")
                    contract = uow.load(Contract, contract_id, must_exist=True)
                wallets = {w: uow.load(Wallet, w) for w in wallets_needed(deadline, contract)}
                fire_deadline(deadline, now, contract, wallets, settings)
                save(uow, contract, *wallets.values())
                return
        except ConcurrencyError:
            continue
    raise RuntimeError(f"deadline {deadline.key} kept racing other writers; it stays due")


def deadline_handlers(settings: EscrowSettings) -> dict:
    """``fire_due`` handlers for every kind of escrow deadline."""
    return {
        kind: (lambda uow, payload, now: fire(uow, payload, now, settings))
        for kind in DEADLINE_KINDS
    }
