"""The Contract aggregate: milestones, hourly weeks, refunds, disputes and bonuses.

One stream per contract (``contract-<contract_id>``). Everything that can move one
contract's escrow lives in that stream, so concurrent approve / refund / dispute / timer
commands on one milestone serialise on the stream's version: exactly one of them wins and
the others re-read and find the state moved on.

Commands that take or give a user's money receive that user's ``Wallet`` and record its
mirror event in the same call; the service appends both streams in one transaction. The
contract's money events carry everything the ledger needs (see ``ledger.postings_for``).

Time is always passed in as ``now``; windows come from ``EscrowSettings`` and their due
times are recorded in the events that start them.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from shared.clock import iso, parse_time
from shared.domain import Aggregate
from shared.errors import Conflict, Forbidden, NotFound, ValidationError, field_error
from shared.money import Money, fee, split_fee

from .hourly import invoice_amount, minutes_between, week_end, week_start
from .settings import DEFAULT_SETTINGS, EscrowSettings, FeeSchedule
from .wallet import Wallet

# Contract ids are uuid5 of the offer id in this namespace, so opening is idempotent.
CONTRACT_NAMESPACE = uuid.UUID("6f1c2a64-9d0e-5b7a-8e43-2c1d0b9a7e55")

# Milestone states in which money is held and nothing else is in progress.
RELEASABLE = ("funded", "submitted", "changes_requested", "partially_released")
OPERATOR = "operator"


def contract_id_for_offer(offer_id: str) -> str:
    """The contract id of an accepted offer: the same offer always gives the same id."""
    return str(uuid.uuid5(CONTRACT_NAMESPACE, f"offer:{offer_id}"))


def offer_milestone_id(contract_id: str, index: int) -> str:
    """The id of the ``index``-th milestone carried by the offer."""
    return str(uuid.uuid5(uuid.UUID(contract_id), f"milestone:{index}"))


def _seconds(window: timedelta) -> int:
    return int(window.total_seconds())


def _date_text(value: date | str | None) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return value.isoformat()


@dataclass
class Milestone:
    id: str
    title: str
    amount: Money
    due_date: str | None
    status: str = "unfunded"
    funded: Money | None = None
    released: Money | None = None
    refunded: Money | None = None
    submission: int = 0
    releases: int = 0
    auto_approve_at: datetime | None = None
    refund_id: str | None = None
    dispute_id: str | None = None
    resume_status: str | None = None

    def __post_init__(self):
        zero = Money.zero(self.amount.currency)
        self.funded = self.funded or zero
        self.released = self.released or zero
        self.refunded = self.refunded or zero

    @property
    def held(self) -> Money:
        """Money of this milestone still in the contract's escrow."""
        return self.funded - self.released - self.refunded

    def settle_status(self) -> str:
        """The closing state once nothing is held any more."""
        if self.released.is_positive and self.refunded.is_positive:
            return "settled"
        return "released" if self.released.is_positive else "refunded"


@dataclass
class TimeSegment:
    id: str
    week_start: datetime
    start: datetime
    end: datetime
    minutes: int


@dataclass
class HourlyWeek:
    start: datetime
    edits_until: datetime
    invoice_at: datetime
    status: str = "open"
    minutes: int = 0
    amount: Money | None = None
    paid: Money | None = None
    released: Money | None = None
    refunded: Money | None = None
    review_until: datetime | None = None
    available_at: datetime | None = None
    dispute_id: str | None = None

    @property
    def held(self) -> Money | None:
        if self.paid is None:
            return None
        return self.paid - self.released - self.refunded


class Contract(Aggregate):
    stream_prefix = "contract"

    def __init__(self, id: str):
        super().__init__(id)
        self.status = "new"
        self.kind = ""
        self.offer_id = ""
        self.job_id = ""
        self.proposal_id: str | None = None
        self.client_id = ""
        self.freelancer_id = ""
        self.currency = ""
        self.start_date: str | None = None
        self.opened_at: datetime | None = None
        self.fees = FeeSchedule()
        self.hourly_rate: Money | None = None
        self.weekly_limit_minutes = 0
        self.manual_time_allowed = False
        self.milestones: dict[str, Milestone] = {}
        self.segments: dict[str, TimeSegment] = {}
        self.weeks: dict[str, HourlyWeek] = {}
        self.refunds: dict[str, dict] = {}
        self.disputes: dict[str, dict] = {}
        self.bonuses: set[str] = set()

    # -- guards ---------------------------------------------------------------------------

    def _require_exists(self) -> None:
        if not self.exists:
            raise NotFound("no such contract")

    def _as_client(self, actor_id: str, what: str) -> None:
        self._require_exists()
        if actor_id != self.client_id:
            raise Forbidden(f"only the contract's client may {what}")

    def _as_freelancer(self, actor_id: str, what: str) -> None:
        self._require_exists()
        if actor_id != self.freelancer_id:
            raise Forbidden(f"only the contract's freelancer may {what}")

    def _as_party(self, actor_id: str, what: str) -> None:
        self._require_exists()
        if actor_id not in (self.client_id, self.freelancer_id):
            raise Forbidden(f"only the contract's parties may {what}")

    def _require_active(self) -> None:
        if self.status != "active":
            raise Conflict(f"the contract is {self.status}")

    def _require_kind(self, kind: str) -> None:
        if self.kind != kind:
            raise Conflict(f"this is a {self.kind} contract")

    def _milestone(self, milestone_id: str) -> Milestone:
        if milestone_id not in self.milestones:
            raise NotFound("no such milestone")
        return self.milestones[milestone_id]

    def _week(self, start: datetime) -> HourlyWeek:
        key = iso(start)
        if key not in self.weeks:
            raise NotFound("no time logged in that week")
        return self.weeks[key]

    def _money(self, amount: Money, field: str = "amount") -> None:
        if amount.currency != self.currency:
            raise field_error(field, f"this contract pays in {self.currency}")

    def _positive(self, amount: Money, field: str = "amount") -> None:
        self._money(amount, field)
        if amount.amount <= 0:
            raise field_error(field, "must be a positive amount")

    def _wallet(self, wallet: Wallet, user_id: str) -> None:
        # A wallet of the wrong user or currency is a wiring bug, not user input.
        if wallet.user_id != user_id or wallet.currency != self.currency:
            raise ValueError(f"wallet {wallet.id} does not belong to {user_id}/{self.currency}")

    def _with_client_fee(self, amount: Money) -> Money:
        return fee(amount, self.fees.client_fee_bps)

    # -- opening --------------------------------------------------------------------------

    def open(self, offer: dict, fees: FeeSchedule, now: datetime) -> None:
        """Open the contract of an accepted offer (bidding's ``OfferAccepted``).

        ``offer`` is the validated event data (see ``schemas.OfferAcceptedSchema``), with
        Money values loaded. Opening twice is a no-op, so a redelivered event is harmless.
        """
        if self.exists:
            return
        if contract_id_for_offer(offer["offer_id"]) != self.id:
            raise ValueError("the contract id must be derived from the offer id")
        if offer["client_id"] == offer["freelancer_id"]:
            raise field_error("freelancer_id", "the client cannot hire themselves")
        currency = offer["currency"]
        terms = offer["terms"]
        kind = offer["kind"]
        if kind == "fixed":
            milestones = terms.get("milestones") or []
            if not milestones:
                raise field_error("terms", "a fixed-price contract needs a milestone")
            for item in milestones:
                if item["amount"].currency != currency or item["amount"].amount <= 0:
                    raise field_error("terms", f"milestone amounts must be positive {currency}")
            rate, limit, manual = None, None, False
        elif kind == "hourly":
            rate = terms.get("hourly_rate")
            limit = terms.get("weekly_limit_hours")
            if rate is None or rate.currency != currency or rate.amount <= 0:
                raise field_error("terms", f"an hourly rate must be a positive {currency}")
            if limit is None or not 1 <= limit <= 168:
                raise field_error("terms", "the weekly limit must be 1 to 168 hours")
            manual = bool(terms.get("manual_time_allowed", False))
            milestones = []
        else:
            raise field_error("kind", "must be fixed or hourly")
        self.record(
            "ContractOpened",
            contract_id=self.id,
            offer_id=offer["offer_id"],
            proposal_id=offer.get("proposal_id"),
            job_id=offer["job_id"],
            client_id=offer["client_id"],
            freelancer_id=offer["freelancer_id"],
            kind=kind,
            currency=currency,
            start_date=_date_text(terms.get("start_date")),
            fees=fees.to_dict(),
            hourly_rate=rate.to_dict() if rate else None,
            weekly_limit_hours=limit,
            manual_time_allowed=manual,
            opened_at=iso(now),
        )
        for index, item in enumerate(milestones):
            self.record(
                "MilestoneAdded",
                milestone_id=offer_milestone_id(self.id, index),
                title=item["title"],
                amount=item["amount"].to_dict(),
                due_date=_date_text(item.get("due_date")),
                added_by=self.client_id,
                added_at=iso(now),
            )

    # -- fixed price ----------------------------------------------------------------------

    def add_milestone(
        self,
        milestone_id: str,
        title: str,
        amount: Money,
        actor_id: str,
        now: datetime,
        due_date: date | str | None = None,
        settings: EscrowSettings = DEFAULT_SETTINGS,
    ) -> None:
        """The client adds a milestone to an active fixed-price contract."""
        self._as_client(actor_id, "add milestones")
        self._require_kind("fixed")
        self._require_active()
        self._positive(amount)
        minimum = settings.minimum_for(self.currency)
        if amount < minimum:
            raise field_error("amount", f"a milestone must be at least {minimum}")
        if milestone_id in self.milestones:
            raise Conflict("milestone already exists")
        self.record(
            "MilestoneAdded",
            milestone_id=milestone_id,
            title=title,
            amount=amount.to_dict(),
            due_date=_date_text(due_date),
            added_by=actor_id,
            added_at=iso(now),
        )

    def fund_milestone(
        self,
        milestone_id: str,
        actor_id: str,
        now: datetime,
        client_wallet: Wallet,
        settings: EscrowSettings = DEFAULT_SETTINGS,
    ) -> None:
        """The client moves the milestone's amount (plus any client fee) into escrow."""
        self._as_client(actor_id, "fund milestones")
        self._require_kind("fixed")
        self._require_active()
        milestone = self._milestone(milestone_id)
        if milestone.status != "unfunded":
            raise Conflict(f"the milestone is already {milestone.status}")
        minimum = settings.minimum_for(self.currency)
        if milestone.amount < minimum:
            raise field_error("amount", f"the minimum funding is {minimum}")
        self._wallet(client_wallet, self.client_id)
        client_fee = self._with_client_fee(milestone.amount)
        # The wallet refuses first when short, so nothing is recorded on either side.
        client_wallet.debit_client_funds(
            milestone.amount + client_fee, self.id, f"milestone:{milestone_id}", now
        )
        self.record(
            "MilestoneFunded",
            contract_id=self.id,
            client_id=self.client_id,
            milestone_id=milestone_id,
            amount=milestone.amount.to_dict(),
            client_fee=client_fee.to_dict(),
            funded_at=iso(now),
        )

    def submit_work(
        self,
        milestone_id: str,
        message: str,
        actor_id: str,
        now: datetime,
        settings: EscrowSettings = DEFAULT_SETTINGS,
    ) -> None:
        """The freelancer submits work; the client's review clock (auto-approve) starts."""
        self._as_freelancer(actor_id, "submit work")
        self._require_active()
        milestone = self._milestone(milestone_id)
        if milestone.status not in ("funded", "changes_requested"):
            raise Conflict(f"work cannot be submitted on a {milestone.status} milestone")
        self.record(
            "WorkSubmitted",
            milestone_id=milestone_id,
            submission=milestone.submission + 1,
            message=message,
            submitted_at=iso(now),
            auto_approve_after_seconds=_seconds(settings.auto_approve_after),
            auto_approve_at=iso(now + settings.auto_approve_after),
        )

    def request_changes(self, milestone_id: str, message: str, actor_id: str, now: datetime):
        """The client sends submitted work back; the review clock stops until resubmission."""
        self._as_client(actor_id, "request changes")
        milestone = self._milestone(milestone_id)
        if milestone.status != "submitted":
            raise Conflict(f"changes can only be requested on submitted work ({milestone.status})")
        self.record(
            "ChangesRequested",
            milestone_id=milestone_id,
            submission=milestone.submission,
            message=message,
            requested_at=iso(now),
        )

    def approve_milestone(
        self,
        milestone_id: str,
        actor_id: str,
        now: datetime,
        freelancer_wallet: Wallet,
        amount: Money | None = None,
        settings: EscrowSettings = DEFAULT_SETTINGS,
    ) -> None:
        """The client releases all (default) or part of the milestone's escrow.

        A partial approval leaves the rest held on the milestone, to be approved later or
        refunded.
        """
        self._as_client(actor_id, "approve milestones")
        milestone = self._milestone(milestone_id)
        if milestone.status not in RELEASABLE:
            raise Conflict(f"a {milestone.status} milestone cannot be approved")
        gross = milestone.held if amount is None else amount
        self._positive(gross)
        if gross > milestone.held:
            raise field_error("amount", f"only {milestone.held} is held on this milestone")
        self._release_milestone(milestone, gross, now, freelancer_wallet, settings, False)

    def auto_approve(
        self,
        milestone_id: str,
        due_at: datetime,
        now: datetime,
        freelancer_wallet: Wallet,
        settings: EscrowSettings = DEFAULT_SETTINGS,
    ) -> None:
        """Timer: the client stayed silent for the review window after a submission.

        A no-op when the deadline is stale (the client acted, changes were requested, a
        refund or dispute is open, or a newer review clock replaced it); a conflict when
        fired before it is due.
        """
        self._require_exists()
        milestone = self._milestone(milestone_id)
        if milestone.status != "submitted" or milestone.auto_approve_at != due_at:
            return
        if now < due_at:
            raise Conflict(f"auto-approve is not due before {iso(due_at)}")
        self._release_milestone(milestone, milestone.held, now, freelancer_wallet, settings, True)

    def _release_milestone(self, milestone, gross, now, wallet, settings, automatic) -> None:
        self._wallet(wallet, self.freelancer_id)
        net, platform_fee = split_fee(gross, self.fees.freelancer_fee_bps)
        payment_id = f"milestone:{milestone.id}:{milestone.releases + 1}"
        available_at = now + settings.security_period
        self.record(
            "MilestoneReleased",
            contract_id=self.id,
            client_id=self.client_id,
            freelancer_id=self.freelancer_id,
            milestone_id=milestone.id,
            payment_id=payment_id,
            gross=gross.to_dict(),
            net=net.to_dict(),
            fee=platform_fee.to_dict(),
            automatic=automatic,
            released_at=iso(now),
            security_period_seconds=_seconds(settings.security_period),
            available_at=iso(available_at),
        )
        self._pay_freelancer(wallet, payment_id, net, available_at, now)

    def _pay_freelancer(self, wallet, payment_id, net, available_at, now) -> None:
        if net.is_positive:
            wallet.add_pending_earnings(payment_id, net, self.id, available_at, now)

    # -- refunds --------------------------------------------------------------------------

    def request_refund(
        self,
        refund_id: str,
        milestone_id: str,
        actor_id: str,
        now: datetime,
        amount: Money | None = None,
        reason: str = "",
        settings: EscrowSettings = DEFAULT_SETTINGS,
    ) -> None:
        """The client asks for held escrow back; the freelancer may accept or dispute."""
        self._as_client(actor_id, "request refunds")
        milestone = self._milestone(milestone_id)
        if milestone.status not in RELEASABLE:
            raise Conflict(f"a {milestone.status} milestone cannot be refunded")
        wanted = milestone.held if amount is None else amount
        self._positive(wanted)
        if wanted > milestone.held:
            raise field_error("amount", f"only {milestone.held} is held on this milestone")
        if refund_id in self.refunds:
            raise Conflict("refund already requested")
        self._record_refund_request(refund_id, milestone, wanted, reason, actor_id, now, settings)

    def _record_refund_request(self, refund_id, milestone, amount, reason, actor_id, now, settings):
        self.record(
            "RefundRequested",
            contract_id=self.id,
            refund_id=refund_id,
            milestone_id=milestone.id,
            amount=amount.to_dict(),
            reason=reason,
            requested_by=actor_id,
            requested_at=iso(now),
            respond_within_seconds=_seconds(settings.refund_response_period),
            respond_by=iso(now + settings.refund_response_period),
        )

    def _refund(self, refund_id: str) -> dict:
        if refund_id not in self.refunds:
            raise NotFound("no such refund request")
        return self.refunds[refund_id]

    def accept_refund(
        self,
        refund_id: str,
        actor_id: str,
        now: datetime,
        client_wallet: Wallet,
        settings: EscrowSettings = DEFAULT_SETTINGS,
    ) -> None:
        """The freelancer agrees: the requested amount goes back to the client's wallet."""
        self._as_freelancer(actor_id, "accept refunds")
        refund = self._refund(refund_id)
        if refund["status"] != "requested":
            raise Conflict(f"the refund request is {refund['status']}")
        self._refund_milestone(refund, "accepted", now, client_wallet, settings)

    def expire_refund_request(
        self,
        refund_id: str,
        now: datetime,
        client_wallet: Wallet,
        settings: EscrowSettings = DEFAULT_SETTINGS,
    ) -> None:
        """Timer: the freelancer stayed silent, so the refund goes through.

        A no-op when the request was already accepted or disputed; a conflict when early.
        """
        self._require_exists()
        refund = self._refund(refund_id)
        if refund["status"] != "requested":
            return
        if now < refund["respond_by"]:
            raise Conflict(f"the freelancer may respond until {iso(refund['respond_by'])}")
        self._refund_milestone(refund, "expired", now, client_wallet, settings)

    def _refund_milestone(self, refund, how, now, client_wallet, settings) -> None:
        milestone = self.milestones[refund["milestone_id"]]
        self._emit_refund(
            refund["refund_id"], milestone, refund["amount"], how, now, client_wallet, settings
        )

    def _emit_refund(self, refund_id, milestone, amount, how, now, client_wallet, settings):
        self._wallet(client_wallet, self.client_id)
        remaining = milestone.held - amount
        self.record(
            "EscrowRefunded",
            contract_id=self.id,
            client_id=self.client_id,
            freelancer_id=self.freelancer_id,
            refund_id=refund_id,
            milestone_id=milestone.id,
            amount=amount.to_dict(),
            how=how,
            refunded_at=iso(now),
            resumes=self._resumption(milestone, remaining, now, settings),
        )
        client_wallet.credit_client_funds(amount, self.id, f"milestone:{milestone.id}", now)

    def _resumption(self, milestone, remaining: Money, now, settings) -> dict | None:
        """Where a milestone goes back to after a partial refund or a withdrawn dispute.

        Submitted work gets a fresh review window: the old one may have lapsed while the
        milestone was frozen.
        """
        if not remaining.is_positive:
            return None
        status = milestone.resume_status or "funded"
        auto_at = None
        if status == "submitted":
            auto_at = iso(now + settings.auto_approve_after)
        return {"status": status, "auto_approve_at": auto_at}

    # -- disputes -------------------------------------------------------------------------

    def open_dispute(
        self,
        dispute_id: str,
        target_kind: str,
        target_id: str,
        reason: str,
        actor_id: str,
        now: datetime,
    ) -> None:
        """Freeze held money until an operator splits it or the opener withdraws.

        The client disputes a milestone or an hourly week under review; the freelancer
        disputes a refund request (the whole milestone's escrow is then in dispute).
        """
        self._as_party(actor_id, "open disputes")
        if dispute_id in self.disputes:
            raise Conflict("dispute already exists")
        if target_kind == "milestone":
            if actor_id != self.client_id:
                raise Forbidden("the freelancer disputes a refund request, not a milestone")
            milestone = self._milestone(target_id)
            if milestone.status not in RELEASABLE:
                raise Conflict(f"a {milestone.status} milestone cannot be disputed")
            amount, extra = milestone.held, {"milestone_id": milestone.id, "week_start": None}
        elif target_kind == "refund":
            if actor_id != self.freelancer_id:
                raise Forbidden("only the freelancer disputes a refund request")
            refund = self._refund(target_id)
            if refund["status"] != "requested":
                raise Conflict(f"the refund request is {refund['status']}")
            milestone = self.milestones[refund["milestone_id"]]
            amount, extra = milestone.held, {"milestone_id": milestone.id, "week_start": None}
        elif target_kind == "week":
            if actor_id != self.client_id:
                raise Forbidden("only the client disputes an hourly week")
            week = self._week(parse_time(target_id))
            if week.status != "in_review":
                raise Conflict(f"a {week.status} week cannot be disputed")
            if now >= week.review_until:
                raise Conflict(f"the review ended at {iso(week.review_until)}")
            amount, extra = week.held, {"milestone_id": None, "week_start": iso(week.start)}
            target_id = iso(week.start)
        else:
            raise field_error("target_kind", "must be milestone, refund or week")
        if not amount.is_positive:
            raise Conflict("nothing is held to dispute")
        self.record(
            "DisputeOpened",
            contract_id=self.id,
            dispute_id=dispute_id,
            target={"kind": target_kind, "id": target_id},
            amount=amount.to_dict(),
            reason=reason,
            opened_by=actor_id,
            opened_at=iso(now),
            **extra,
        )

    def _dispute(self, dispute_id: str) -> dict:
        if dispute_id not in self.disputes:
            raise NotFound("no such dispute")
        dispute = self.disputes[dispute_id]
        if dispute["status"] != "open":
            raise Conflict(f"the dispute is {dispute['status']}")
        return dispute

    def resolve_dispute(
        self,
        dispute_id: str,
        refund: Money,
        release: Money,
        note: str,
        actor_id: str,
        actor_roles: list[str] | tuple[str, ...] | set[str],
        now: datetime,
        client_wallet: Wallet,
        freelancer_wallet: Wallet,
        settings: EscrowSettings = DEFAULT_SETTINGS,
    ) -> None:
        """An operator splits the disputed escrow: ``refund`` to the client, ``release`` to
        the freelancer (less the freelancer fee). The two must add up to the amount held."""
        self._require_exists()
        if OPERATOR not in actor_roles:
            raise Forbidden("only an operator may resolve disputes")
        dispute = self._dispute(dispute_id)
        self._money(refund, "refund")
        self._money(release, "release")
        errors = {}
        for name, value in (("refund", refund), ("release", release)):
            if value.amount < 0:
                errors[name] = ["must not be negative"]
        if errors:
            raise ValidationError("invalid input", errors)
        if refund + release != dispute["amount"]:
            raise ValidationError(
                "invalid input",
                {"_schema": [f"refund + release must equal the {dispute['amount']} in dispute"]},
            )
        self._wallet(client_wallet, self.client_id)
        self._wallet(freelancer_wallet, self.freelancer_id)
        net, platform_fee = split_fee(release, self.fees.freelancer_fee_bps)
        if dispute["week_start"] is not None:
            week = self.weeks[dispute["week_start"]]
            available_at = max(week.available_at, now)
        else:
            available_at = now + settings.security_period
        payment_id = f"dispute:{dispute_id}"
        self.record(
            "DisputeResolved",
            contract_id=self.id,
            client_id=self.client_id,
            freelancer_id=self.freelancer_id,
            dispute_id=dispute_id,
            target=dispute["target"],
            milestone_id=dispute["milestone_id"],
            week_start=dispute["week_start"],
            refund=refund.to_dict(),
            release=release.to_dict(),
            net=net.to_dict(),
            fee=platform_fee.to_dict(),
            payment_id=payment_id,
            note=note,
            resolved_by=actor_id,
            resolved_at=iso(now),
            security_period_seconds=_seconds(settings.security_period),
            available_at=iso(available_at),
        )
        if refund.is_positive:
            client_wallet.credit_client_funds(refund, self.id, f"dispute:{dispute_id}", now)
        self._pay_freelancer(freelancer_wallet, payment_id, net, available_at, now)

    def withdraw_dispute(
        self,
        dispute_id: str,
        actor_id: str,
        now: datetime,
        client_wallet: Wallet,
        settings: EscrowSettings = DEFAULT_SETTINGS,
    ) -> None:
        """The party who opened the dispute gives it up.

        A client's dispute: the milestone or week goes back to where it was (submitted work
        gets a fresh review window; a week whose review is over is released by its timer).
        A freelancer's dispute of a refund request: the refund goes through.
        """
        self._as_party(actor_id, "withdraw disputes")
        dispute = self._dispute(dispute_id)
        if actor_id != dispute["opened_by"]:
            raise Forbidden("only the party who opened the dispute may withdraw it")
        kind = dispute["target"]["kind"]
        resumes = None
        if kind == "milestone":
            milestone = self.milestones[dispute["milestone_id"]]
            resumes = self._resumption(milestone, milestone.held, now, settings)
        elif kind == "week":
            week = self.weeks[dispute["week_start"]]
            resumes = {"status": "in_review", "release_at": iso(max(week.review_until, now))}
        self.record(
            "DisputeWithdrawn",
            contract_id=self.id,
            dispute_id=dispute_id,
            target=dispute["target"],
            milestone_id=dispute["milestone_id"],
            week_start=dispute["week_start"],
            withdrawn_by=actor_id,
            withdrawn_at=iso(now),
            resumes=resumes,
        )
        if kind == "refund":
            refund = self.refunds[dispute["target"]["id"]]
            self._refund_milestone(refund, "dispute_withdrawn", now, client_wallet, settings)

    # -- hourly ---------------------------------------------------------------------------

    def log_time(
        self,
        segment_id: str,
        start: datetime,
        end: datetime,
        memo: str,
        manual: bool,
        actor_id: str,
        now: datetime,
        settings: EscrowSettings = DEFAULT_SETTINGS,
    ) -> None:
        """The freelancer logs a segment of work inside one week, within the weekly limit."""
        self._as_freelancer(actor_id, "log time")
        self._require_kind("hourly")
        self._require_active()
        if manual and not self.manual_time_allowed:
            raise Forbidden("manual time is not allowed on this contract")
        errors: dict[str, list[str]] = {}
        for name, value in (("start", start), ("end", end)):
            if value.second or value.microsecond:
                errors.setdefault(name, []).append("must be on a whole minute")
        if end <= start:
            errors.setdefault("end", []).append("must be after the start")
        if end > now:
            errors.setdefault("end", []).append("cannot be in the future")
        if start < self.opened_at.replace(second=0, microsecond=0):
            errors.setdefault("start", []).append("cannot be before the contract started")
        if errors:
            raise ValidationError("invalid input", errors)
        monday = week_start(start)
        if end > week_end(monday):
            raise field_error("end", "a segment must stay inside one week (Mon-Sun UTC)")
        if segment_id in self.segments:
            raise Conflict("time segment already logged")
        week = self.weeks.get(iso(monday))
        edits_until = week.edits_until if week else week_end(monday) + settings.hourly_invoice_delay
        if now >= edits_until or (week and week.status != "open"):
            raise Conflict(f"time of that week could be edited until {iso(edits_until)}")
        for other in self.segments.values():
            if other.start < end and start < other.end:
                raise field_error("start", f"overlaps time segment {other.id}")
        minutes = minutes_between(start, end)
        logged = week.minutes if week else 0
        limit = self.weekly_limit_minutes
        if logged + minutes > limit:
            raise field_error(
                "end",
                f"the weekly limit is {limit // 60} hours; {limit - logged} minutes are left",
            )
        if week is None:
            self.record(
                "HourlyWeekStarted",
                contract_id=self.id,
                week_start=iso(monday),
                invoice_delay_seconds=_seconds(settings.hourly_invoice_delay),
                edits_until=iso(edits_until),
                invoice_at=iso(edits_until),
            )
        self.record(
            "TimeLogged",
            segment_id=segment_id,
            week_start=iso(monday),
            start=iso(start),
            end=iso(end),
            minutes=minutes,
            memo=memo,
            manual=manual,
            logged_at=iso(now),
        )

    def delete_time(self, segment_id: str, actor_id: str, now: datetime) -> None:
        """The freelancer removes a segment while the week can still be edited."""
        self._as_freelancer(actor_id, "delete time")
        if segment_id not in self.segments:
            raise NotFound("no such time segment")
        segment = self.segments[segment_id]
        week = self.weeks[iso(segment.week_start)]
        if now >= week.edits_until or week.status != "open":
            raise Conflict(f"time of that week could be edited until {iso(week.edits_until)}")
        self.record(
            "TimeDeleted",
            segment_id=segment_id,
            week_start=iso(segment.week_start),
            minutes=segment.minutes,
            deleted_at=iso(now),
        )

    def invoice_week(
        self,
        monday: datetime,
        now: datetime,
        client_wallet: Wallet,
        settings: EscrowSettings = DEFAULT_SETTINGS,
    ) -> None:
        """Timer (Monday 12:00 UTC): bill the week's hours and charge the client's wallet.

        A week with no time left closes without an invoice. When the wallet cannot cover
        the invoice it stays unpaid until ``pay_invoice`` succeeds.
        """
        self._require_exists()
        week = self._week(monday)
        if week.status != "open":
            return
        if now < week.invoice_at:
            raise Conflict(f"the week is invoiced at {iso(week.invoice_at)}")
        if week.minutes == 0:
            self.record("HourlyWeekClosed", week_start=iso(week.start), closed_at=iso(now))
            return
        self._wallet(client_wallet, self.client_id)
        end = week_end(week.start)
        self.record(
            "HourlyWeekInvoiced",
            contract_id=self.id,
            week_start=iso(week.start),
            minutes=week.minutes,
            hourly_rate=self.hourly_rate.to_dict(),
            amount=invoice_amount(self.hourly_rate, week.minutes).to_dict(),
            invoiced_at=iso(now),
            review_period_seconds=_seconds(settings.hourly_review_period),
            review_until=iso(end + settings.hourly_review_period),
            available_after_seconds=_seconds(settings.hourly_available_after),
            available_at=iso(end + settings.hourly_available_after),
        )
        charge = week.amount + self._with_client_fee(week.amount)
        if charge <= client_wallet.balance:
            self._charge_week(week, now, client_wallet)

    def pay_invoice(
        self, monday: datetime, now: datetime, client_wallet: Wallet, actor_id: str | None = None
    ) -> None:
        """Charge an unpaid invoice (the client, or the service after a deposit)."""
        if actor_id is not None:
            self._as_client(actor_id, "pay invoices")
        self._require_exists()
        week = self._week(monday)
        if week.status != "invoiced":
            raise Conflict(f"no unpaid invoice: the week is {week.status}")
        self._wallet(client_wallet, self.client_id)
        self._charge_week(week, now, client_wallet)

    def _charge_week(self, week: HourlyWeek, now: datetime, client_wallet: Wallet) -> None:
        client_fee = self._with_client_fee(week.amount)
        client_wallet.debit_client_funds(
            week.amount + client_fee, self.id, f"week:{iso(week.start)}", now
        )
        self.record(
            "HourlyInvoicePaid",
            contract_id=self.id,
            client_id=self.client_id,
            week_start=iso(week.start),
            amount=week.amount.to_dict(),
            client_fee=client_fee.to_dict(),
            paid_at=iso(now),
            release_at=iso(max(week.review_until, now)),
        )

    def release_week(
        self,
        monday: datetime,
        now: datetime,
        freelancer_wallet: Wallet,
    ) -> None:
        """Timer (after Friday 23:59:59 UTC): the review is over, pay the freelancer.

        The money is pending until the availability date recorded on the invoice. A no-op
        when the week is not under review (disputed or already released); a conflict early.
        """
        self._require_exists()
        week = self._week(monday)
        if week.status != "in_review":
            return
        if now < week.review_until:
            raise Conflict(f"the client may review until {iso(week.review_until)}")
        self._wallet(freelancer_wallet, self.freelancer_id)
        gross = week.held
        net, platform_fee = split_fee(gross, self.fees.freelancer_fee_bps)
        payment_id = f"week:{self.id}:{iso(week.start)}"
        available_at = max(week.available_at, now)
        self.record(
            "HourlyWeekReleased",
            contract_id=self.id,
            client_id=self.client_id,
            freelancer_id=self.freelancer_id,
            week_start=iso(week.start),
            payment_id=payment_id,
            gross=gross.to_dict(),
            net=net.to_dict(),
            fee=platform_fee.to_dict(),
            released_at=iso(now),
            available_at=iso(available_at),
        )
        self._pay_freelancer(freelancer_wallet, payment_id, net, available_at, now)

    # -- bonuses and the contract's life --------------------------------------------------

    def pay_bonus(
        self,
        bonus_id: str,
        amount: Money,
        reason: str,
        actor_id: str,
        now: datetime,
        client_wallet: Wallet,
        freelancer_wallet: Wallet,
        settings: EscrowSettings = DEFAULT_SETTINGS,
    ) -> None:
        """The client pays a bonus straight from the wallet to the freelancer's pending."""
        self._as_client(actor_id, "pay bonuses")
        self._positive(amount)
        if bonus_id in self.bonuses:
            raise Conflict("bonus already paid")
        self._wallet(client_wallet, self.client_id)
        self._wallet(freelancer_wallet, self.freelancer_id)
        client_fee = self._with_client_fee(amount)
        client_wallet.debit_client_funds(amount + client_fee, self.id, f"bonus:{bonus_id}", now)
        net, platform_fee = split_fee(amount, self.fees.freelancer_fee_bps)
        payment_id = f"bonus:{self.id}:{bonus_id}"
        available_at = now + settings.security_period
        self.record(
            "BonusPaid",
            contract_id=self.id,
            client_id=self.client_id,
            freelancer_id=self.freelancer_id,
            bonus_id=bonus_id,
            payment_id=payment_id,
            amount=amount.to_dict(),
            client_fee=client_fee.to_dict(),
            net=net.to_dict(),
            fee=platform_fee.to_dict(),
            reason=reason,
            paid_at=iso(now),
            security_period_seconds=_seconds(settings.security_period),
            available_at=iso(available_at),
        )
        self._pay_freelancer(freelancer_wallet, payment_id, net, available_at, now)

    def pause_contract(self, actor_id: str, reason: str, now: datetime) -> None:
        """The client pauses an hourly contract: no time can be logged until resumed."""
        self._as_client(actor_id, "pause the contract")
        self._require_kind("hourly")
        self._require_active()
        self.record(
            "ContractPaused",
            contract_id=self.id,
            paused_by=actor_id,
            reason=reason,
            paused_at=iso(now),
        )

    def resume_contract(self, actor_id: str, now: datetime) -> None:
        """The client resumes a paused hourly contract."""
        self._as_client(actor_id, "resume the contract")
        if self.status != "paused":
            raise Conflict(f"the contract is {self.status}, not paused")
        self.record(
            "ContractResumed", contract_id=self.id, resumed_by=actor_id, resumed_at=iso(now)
        )

    def end_contract(
        self,
        actor_id: str,
        reason: str,
        now: datetime,
        client_wallet: Wallet,
        settings: EscrowSettings = DEFAULT_SETTINGS,
    ) -> None:
        """Either party ends the contract; unreleased milestone escrow goes back.

        Ended by the client: a refund request per milestone still holding money (the
        freelancer has the refund window to accept or dispute). Ended by the freelancer:
        the escrow is refunded at once, since they are the one giving it up. Milestones in
        dispute or with a refund already requested keep their course. Hourly weeks already
        logged are still invoiced and released by their timers.
        """
        self._as_party(actor_id, "end the contract")
        if self.status == "ended":
            raise Conflict("the contract has already ended")
        self._wallet(client_wallet, self.client_id)
        self.record(
            "ContractEnded",
            contract_id=self.id,
            job_id=self.job_id,
            client_id=self.client_id,
            freelancer_id=self.freelancer_id,
            ended_by=actor_id,
            reason=reason,
            ended_at=iso(now),
        )
        for milestone in self.milestones.values():
            if milestone.status not in RELEASABLE or not milestone.held.is_positive:
                continue
            refund_id = f"end:{milestone.id}"
            if actor_id == self.freelancer_id:
                self._emit_refund(
                    None,
                    milestone,
                    milestone.held,
                    "freelancer_ended",
                    now,
                    client_wallet,
                    settings,
                )
            else:
                self._record_refund_request(
                    refund_id, milestone, milestone.held, reason, actor_id, now, settings
                )

    # -- apply ----------------------------------------------------------------------------

    def on_ContractOpened(self, data: dict) -> None:
        self.status = "active"
        self.kind = data["kind"]
        self.offer_id = data["offer_id"]
        self.job_id = data["job_id"]
        self.proposal_id = data["proposal_id"]
        self.client_id = data["client_id"]
        self.freelancer_id = data["freelancer_id"]
        self.currency = data["currency"]
        self.start_date = data["start_date"]
        self.fees = FeeSchedule.from_dict(data["fees"])
        self.opened_at = parse_time(data["opened_at"])
        if data["hourly_rate"] is not None:
            self.hourly_rate = Money.from_dict(data["hourly_rate"])
            self.weekly_limit_minutes = data["weekly_limit_hours"] * 60
        self.manual_time_allowed = data["manual_time_allowed"]

    def on_MilestoneAdded(self, data: dict) -> None:
        self.milestones[data["milestone_id"]] = Milestone(
            id=data["milestone_id"],
            title=data["title"],
            amount=Money.from_dict(data["amount"]),
            due_date=data["due_date"],
        )

    def on_MilestoneFunded(self, data: dict) -> None:
        milestone = self.milestones[data["milestone_id"]]
        milestone.funded += Money.from_dict(data["amount"])
        milestone.status = "funded"

    def on_WorkSubmitted(self, data: dict) -> None:
        milestone = self.milestones[data["milestone_id"]]
        milestone.status = "submitted"
        milestone.submission = data["submission"]
        milestone.auto_approve_at = parse_time(data["auto_approve_at"])

    def on_ChangesRequested(self, data: dict) -> None:
        milestone = self.milestones[data["milestone_id"]]
        milestone.status = "changes_requested"
        milestone.auto_approve_at = None

    def on_MilestoneReleased(self, data: dict) -> None:
        milestone = self.milestones[data["milestone_id"]]
        milestone.released += Money.from_dict(data["gross"])
        milestone.releases += 1
        milestone.auto_approve_at = None
        if milestone.held.is_positive:
            milestone.status = "partially_released"
        else:
            milestone.status = milestone.settle_status()

    def on_RefundRequested(self, data: dict) -> None:
        milestone = self.milestones[data["milestone_id"]]
        self.refunds[data["refund_id"]] = {
            "refund_id": data["refund_id"],
            "milestone_id": milestone.id,
            "amount": Money.from_dict(data["amount"]),
            "status": "requested",
            "respond_by": parse_time(data["respond_by"]),
        }
        milestone.resume_status = milestone.status
        milestone.status = "refund_requested"
        milestone.refund_id = data["refund_id"]
        milestone.auto_approve_at = None

    def on_EscrowRefunded(self, data: dict) -> None:
        milestone = self.milestones[data["milestone_id"]]
        milestone.refunded += Money.from_dict(data["amount"])
        if data["refund_id"] in self.refunds:
            self.refunds[data["refund_id"]]["status"] = "refunded"
        milestone.refund_id = None
        self._resume(milestone, data["resumes"])

    def _resume(self, milestone: Milestone, resumes: dict | None) -> None:
        if resumes is None:
            milestone.status = milestone.settle_status()
            milestone.auto_approve_at = None
        else:
            milestone.status = resumes["status"]
            at = resumes["auto_approve_at"]
            milestone.auto_approve_at = parse_time(at) if at else None
        milestone.resume_status = None

    def on_DisputeOpened(self, data: dict) -> None:
        self.disputes[data["dispute_id"]] = {
            "status": "open",
            "target": data["target"],
            "amount": Money.from_dict(data["amount"]),
            "opened_by": data["opened_by"],
            "milestone_id": data["milestone_id"],
            "week_start": data["week_start"],
        }
        if data["milestone_id"] is not None:
            milestone = self.milestones[data["milestone_id"]]
            if data["target"]["kind"] == "refund":
                self.refunds[data["target"]["id"]]["status"] = "disputed"
            else:
                milestone.resume_status = milestone.status
            milestone.status = "disputed"
            milestone.dispute_id = data["dispute_id"]
            milestone.auto_approve_at = None
        else:
            week = self.weeks[data["week_start"]]
            week.status = "disputed"
            week.dispute_id = data["dispute_id"]

    def on_DisputeResolved(self, data: dict) -> None:
        self.disputes[data["dispute_id"]]["status"] = "resolved"
        refund = Money.from_dict(data["refund"])
        release = Money.from_dict(data["release"])
        if data["milestone_id"] is not None:
            milestone = self.milestones[data["milestone_id"]]
            milestone.refunded += refund
            milestone.released += release
            if release.is_positive:
                milestone.releases += 1
            if data["target"]["kind"] == "refund":
                self.refunds[data["target"]["id"]]["status"] = "resolved"
            milestone.status = milestone.settle_status()
            milestone.dispute_id = None
            milestone.refund_id = None
            milestone.resume_status = None
        else:
            week = self.weeks[data["week_start"]]
            week.refunded += refund
            week.released += release
            week.status = "settled"
            week.dispute_id = None

    def on_DisputeWithdrawn(self, data: dict) -> None:
        self.disputes[data["dispute_id"]]["status"] = "withdrawn"
        kind = data["target"]["kind"]
        if kind == "milestone":
            milestone = self.milestones[data["milestone_id"]]
            milestone.dispute_id = None
            self._resume(milestone, data["resumes"])
        elif kind == "refund":
            # The refund itself follows as EscrowRefunded; until then it is requested again.
            self.refunds[data["target"]["id"]]["status"] = "requested"
            self.milestones[data["milestone_id"]].dispute_id = None
        else:
            week = self.weeks[data["week_start"]]
            week.status = "in_review"
            week.dispute_id = None

    def on_HourlyWeekStarted(self, data: dict) -> None:
        start = parse_time(data["week_start"])
        self.weeks[data["week_start"]] = HourlyWeek(
            start=start,
            edits_until=parse_time(data["edits_until"]),
            invoice_at=parse_time(data["invoice_at"]),
        )

    def on_TimeLogged(self, data: dict) -> None:
        week = self.weeks[data["week_start"]]
        self.segments[data["segment_id"]] = TimeSegment(
            id=data["segment_id"],
            week_start=week.start,
            start=parse_time(data["start"]),
            end=parse_time(data["end"]),
            minutes=data["minutes"],
        )
        week.minutes += data["minutes"]

    def on_TimeDeleted(self, data: dict) -> None:
        segment = self.segments.pop(data["segment_id"])
        self.weeks[data["week_start"]].minutes -= segment.minutes

    def on_HourlyWeekClosed(self, data: dict) -> None:
        self.weeks[data["week_start"]].status = "empty"

    def on_HourlyWeekInvoiced(self, data: dict) -> None:
        week = self.weeks[data["week_start"]]
        week.status = "invoiced"
        week.amount = Money.from_dict(data["amount"])
        week.review_until = parse_time(data["review_until"])
        week.available_at = parse_time(data["available_at"])

    def on_HourlyInvoicePaid(self, data: dict) -> None:
        week = self.weeks[data["week_start"]]
        week.paid = Money.from_dict(data["amount"])
        week.released = Money.zero(self.currency)
        week.refunded = Money.zero(self.currency)
        week.status = "in_review"

    def on_HourlyWeekReleased(self, data: dict) -> None:
        week = self.weeks[data["week_start"]]
        week.released += Money.from_dict(data["gross"])
        week.status = "released"

    def on_BonusPaid(self, data: dict) -> None:
        self.bonuses.add(data["bonus_id"])

    def on_ContractPaused(self, data: dict) -> None:
        self.status = "paused"

    def on_ContractResumed(self, data: dict) -> None:
        self.status = "active"

    def on_ContractEnded(self, data: dict) -> None:
        self.status = "ended"
