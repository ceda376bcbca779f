"""Bidding's commands that span aggregates, and the caller they act for.

The aggregates live in their own files (``wallet``, ``listing``, ``proposal``, ``offer``);
this module holds the verbs the service layer calls. Each takes the loaded aggregates, the
caller (``Actor``), the validated input, ``now`` and the settings; checks every rule before
recording anything, so a refused command leaves every aggregate untouched; and leaves the
new events in the aggregates' ``pending`` lists for one unit of work to append together.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from shared.errors import Conflict, Forbidden, NotFound, ValidationError
from shared.money import Money, split_fee

from .listing import JobListing
from .offer import Offer
from .proposal import Proposal
from .settings import BiddingSettings, budget_band
from .wallet import BOOST_PART, PROPOSAL_PART, ConnectsWallet

__all__ = [
    "Actor",
    "ConnectsWallet",
    "JobListing",
    "Offer",
    "Proposal",
    "RefundDue",
    "accept_offer",
    "apply_refunds",
    "close_boost_auction",
    "decline_offer",
    "delist_job",
    "expire_offer",
    "fee_preview",
    "proposal_price",
    "send_offer",
    "submit_proposal",
    "void_offer",
    "withdraw_offer",
    "withdraw_proposal",
]


@dataclass(frozen=True)
class Actor:
    """Who is calling: the token's user id and roles, and whether identity's events have
    marked the user suspended (the service keeps that replica)."""

    user_id: str
    roles: frozenset[str] = field(default_factory=frozenset)
    suspended: bool = False

    def require(self, role: str) -> None:
        """Refuse a suspended user or one without ``role``."""
        if self.suspended:
            raise Forbidden("your account is suspended")
        if role not in self.roles:
            raise Forbidden(f"this needs the {role} role")


def fee_preview(bid: Money, settings: BiddingSettings) -> dict:
    """What the freelancer would be paid on ``bid``: the service fee and the net amount,
    by the platform's one rounding rule (``shared.money.split_fee``)."""
    net, fee = split_fee(bid, settings.service_fee_bps)
    return {
        "rate_bps": settings.service_fee_bps,
        "gross": bid.to_dict(),
        "fee": fee.to_dict(),
        "net": net.to_dict(),
    }


def proposal_price(listing: JobListing, invited: bool, settings: BiddingSettings) -> dict:
    """The band and connects a proposal on this job costs; nothing for an invited
    freelancer, since answering an invitation is free."""
    band = budget_band(listing.budget, settings)
    return {"band": band.to_dict(), "connects": 0 if invited else band.connects}


# ---- proposals ---------------------------------------------------------------------------


def submit_proposal(
    listing: JobListing,
    wallet: ConnectsWallet,
    proposal: Proposal,
    actor: Actor,
    form: dict,
    now: datetime,
    settings: BiddingSettings,
) -> None:
    """A freelancer bids on a job, paying connects by the job's budget band plus a boost.

    ``form`` is ``ProposalSubmitSchema``'s output. Records ``ListingProposalEntered``,
    ``ConnectsSpent`` (unless free) and ``ProposalSubmitted``.
    """
    actor.require("freelancer")
    if proposal.exists:
        raise Conflict(f"proposal {proposal.id} already exists")
    freelancer_id = actor.user_id
    if not listing.exists or not listing.visible_to(freelancer_id):
        # An invite-only job is reported as unknown to those not invited.
        raise NotFound(f"no job {listing.id} open to you")
    if listing.client_id == freelancer_id:
        raise Forbidden("you cannot bid on your own job")
    if not listing.is_open:
        raise Conflict("this job is closed")
    if freelancer_id in listing.live_by_freelancer:
        raise Conflict("you already have a live proposal on this job")

    errors: dict[str, list[str]] = {}
    bid: Money = form["bid"]
    kind = listing.kind()
    currency = listing.currency()
    if bid.amount <= 0:
        errors.setdefault("bid", []).append("Must be a positive amount.")
    if currency is not None and bid.currency != currency:
        errors.setdefault("bid", []).append(f"Must be in the job's currency, {currency}.")
    milestones = form.get("milestones") or []
    _check_proposal_milestones(errors, kind, bid, milestones, now.date(), settings)
    answers = _check_answers(errors, listing.screening_questions, form.get("answers") or [])
    boost = form.get("boost", 0)
    if not 0 <= boost <= settings.max_boost:
        errors.setdefault("boost", []).append(f"Must be between 0 and {settings.max_boost}.")
    if errors:
        raise ValidationError("invalid proposal", errors)

    invited = freelancer_id in listing.invited
    price = proposal_price(listing, invited, settings)
    spend_id = proposal.id
    total = price["connects"] + boost
    available = wallet.balance(now)
    if available < total:
        raise Conflict(f"not enough connects: this proposal needs {total} and you have {available}")
    listing.enter_proposal(
        proposal.id, freelancer_id, boost, spend_id if total else None, invited, now
    )
    wallet.spend(
        spend_id, proposal.id, listing.id, price["band"], price["connects"], boost, now, settings
    )
    proposal.submit(
        {
            "job_id": listing.id,
            "client_id": listing.client_id,
            "freelancer_id": freelancer_id,
            "kind": kind,
            "bid": bid.to_dict(),
            "milestones": [_milestone_dict(m) for m in milestones],
            "estimated_duration": form["estimated_duration"],
            "cover_letter": form["cover_letter"],
            "answers": answers,
            "attachments": [dict(a) for a in form.get("attachments") or []],
            "invited": invited,
            "budget_band": price["band"]["name"],
            "connects_spent": price["connects"],
            "boost": boost,
            "fee": fee_preview(bid, settings),
        },
        now,
    )


def _check_proposal_milestones(
    errors: dict, kind: str | None, bid: Money, milestones: list, today: date, settings
) -> None:
    if not milestones:
        return
    if kind != "fixed":
        errors.setdefault("milestones", []).append("Only fixed-price proposals have milestones.")
        return
    _check_milestones(errors, milestones, bid.currency, today, settings)
    total = sum(m["amount"].amount for m in milestones)
    if total != bid.amount:
        errors.setdefault("milestones", []).append(
            f"Milestones add up to {Money(total, bid.currency)}; the bid is {bid}."
        )


def _check_milestones(
    errors: dict, milestones: list, currency: str, earliest: date, settings
) -> None:
    messages = errors.setdefault("milestones", [])
    if len(milestones) > settings.max_milestones:
        messages.append(f"At most {settings.max_milestones} milestones.")
    for number, milestone in enumerate(milestones, start=1):
        if milestone["amount"].currency != currency:
            messages.append(f"Milestone {number} must be in {currency}.")
        if milestone["amount"].amount <= 0:
            messages.append(f"Milestone {number} must have a positive amount.")
        due = milestone.get("due_date")
        if due is not None and due < earliest:
            messages.append(f"Milestone {number} is due before {earliest.isoformat()}.")
    if not messages:
        del errors["milestones"]


def _check_answers(errors: dict, questions: list[dict], given: list[dict]) -> list[dict]:
    """One non-blank answer per screening question, none to unknown questions. Returns the
    answers in the questions' order, each with its question's text as the freelancer saw
    it (the job may be revised later)."""
    by_id: dict[str, str] = {}
    messages = []
    known = {q["id"]: q["text"] for q in questions}
    for answer in given:
        qid = answer["question_id"]
        if qid not in known:
            messages.append(f"There is no screening question {qid}.")
        elif qid in by_id:
            messages.append(f"Question {qid} is answered twice.")
        elif not answer["answer"].strip():
            messages.append(f"The answer to question {qid} is blank.")
        else:
            by_id[qid] = answer["answer"]
    for qid in known:
        if qid not in by_id and not any(qid in m for m in messages):
            messages.append(f"Question {qid} needs an answer.")
    if messages:
        errors["answers"] = messages
    return [
        {"question_id": qid, "question": text, "answer": by_id[qid]}
        for qid, text in known.items()
        if qid in by_id
    ]


def _milestone_dict(milestone: dict) -> dict:
    due = milestone.get("due_date")
    return {
        "title": milestone["title"],
        "amount": milestone["amount"].to_dict(),
        "due_date": due.isoformat() if due is not None else None,
    }


def withdraw_proposal(
    listing: JobListing,
    proposal: Proposal,
    actor: Actor,
    reason: str,
    message: str,
    now: datetime,
) -> None:
    """The freelancer withdraws (until an offer arrives); the connects stay spent and the
    freelancer may bid on the job again."""
    proposal.withdraw(actor.user_id, reason, message, now)
    listing.withdraw_proposal(proposal.id, now)


# ---- offers ------------------------------------------------------------------------------


def send_offer(
    listing: JobListing,
    proposal: Proposal | None,
    offer: Offer,
    actor: Actor,
    form: dict,
    now: datetime,
    settings: BiddingSettings,
) -> None:
    """The client offers a contract, from a proposal or directly to an invited freelancer.

    ``form`` is ``OfferSendSchema``'s output. Records ``ListingOfferOpened``,
    ``ProposalOfferReceived`` (from a proposal) and ``OfferSent``.
    """
    actor.require("client")
    if offer.exists:
        raise Conflict(f"offer {offer.id} already exists")
    if not listing.exists:
        raise NotFound(f"no job {listing.id}")
    if listing.client_id != actor.user_id:
        raise Forbidden("only the client who posted the job may send offers on it")
    if not listing.is_open:
        raise Conflict("this job is closed")

    if proposal is not None:
        if not proposal.exists or proposal.job_id != listing.id:
            raise NotFound(f"no proposal {proposal.id} on job {listing.id}")
        if form.get("freelancer_id") not in (None, proposal.freelancer_id):
            raise ValidationError(
                "invalid offer", {"freelancer_id": ["Does not match the proposal's author."]}
            )
        if not proposal.is_live:
            raise Conflict(f"a {proposal.status} proposal cannot receive an offer")
        if proposal.pending_offer_id is not None:
            raise Conflict("this proposal already has a pending offer")
        freelancer_id = proposal.freelancer_id
    else:
        freelancer_id = form.get("freelancer_id")
        if not freelancer_id:
            raise ValidationError(
                "invalid offer", {"freelancer_id": ["Give a proposal or an invited freelancer."]}
            )
        if freelancer_id == actor.user_id:
            raise ValidationError("invalid offer", {"freelancer_id": ["Not yourself."]})
        if freelancer_id not in listing.invited:
            raise Conflict("a direct offer goes only to a freelancer you invited to this job")
        if freelancer_id in listing.live_by_freelancer:
            raise Conflict("this freelancer has a proposal on the job; send the offer from it")

    terms = _offer_terms(listing, form, now, settings)
    listing.open_offer(offer.id, freelancer_id, now)
    if proposal is not None:
        proposal.receive_offer(offer.id, now)
    offer.send(
        {
            "proposal_id": proposal.id if proposal is not None else None,
            "job_id": listing.id,
            "client_id": listing.client_id,
            "freelancer_id": freelancer_id,
            **terms,
        },
        now,
        settings,
    )


def _offer_terms(listing: JobListing, form: dict, now: datetime, settings) -> dict:
    errors: dict[str, list[str]] = {}
    kind = form["kind"]
    start: date = form["start_date"]
    today = now.date()
    if start < today:
        errors["start_date"] = [f"Must be {today.isoformat()} or later."]
    job_currency = listing.currency()
    terms: dict = {"kind": kind, "title": form.get("title") or listing.title}
    if kind == "fixed":
        for name in ("hourly_rate", "weekly_limit_hours", "manual_time_allowed"):
            if form.get(name) is not None:
                errors[name] = ["Only hourly offers have this."]
        milestones = form.get("milestones") or []
        if not milestones:
            errors["milestones"] = ["A fixed-price offer needs at least one milestone."]
            currency = job_currency or "USD"
        else:
            currency = milestones[0]["amount"].currency
            _check_milestones(errors, milestones, currency, start, settings)
        terms["milestones"] = [_milestone_dict(m) for m in milestones]
    else:
        if form.get("milestones"):
            errors["milestones"] = ["Only fixed-price offers have milestones."]
        rate: Money | None = form.get("hourly_rate")
        limit = form.get("weekly_limit_hours")
        if rate is None or rate.amount <= 0:
            errors["hourly_rate"] = ["An hourly offer needs a positive hourly rate."]
        if limit is None:
            errors["weekly_limit_hours"] = ["An hourly offer needs a weekly limit."]
        currency = rate.currency if rate is not None else (job_currency or "USD")
        terms["hourly_rate"] = rate.to_dict() if rate is not None else None
        terms["weekly_limit_hours"] = limit
        terms["manual_time_allowed"] = bool(form.get("manual_time_allowed") or False)
    if job_currency is not None and currency != job_currency:
        errors.setdefault("currency", []).append(f"Must be the job's currency, {job_currency}.")
    if errors:
        raise ValidationError("invalid offer", errors)
    terms["currency"] = currency
    terms["start_date"] = start.isoformat()
    terms["message"] = form.get("message") or ""
    return terms


def _settle(
    offer: Offer, listing: JobListing, proposal: Proposal | None, outcome: str, now: datetime
) -> None:
    listing.settle_offer(offer.id, offer.freelancer_id, outcome, now)
    if proposal is not None:
        if outcome == "accepted":
            proposal.hire(offer.id, now)
        else:
            proposal.end_offer(offer.id, outcome, now)


def _check_parts(offer: Offer, listing: JobListing, proposal: Proposal | None) -> None:
    # The service loads the listing and proposal the offer names; a mismatch is a wiring bug
    # that must not silently settle the wrong streams.
    if not offer.exists:
        raise NotFound(f"no offer {offer.id}")
    if listing.id != offer.job_id:
        raise ValueError("listing does not belong to this offer")
    if (proposal.id if proposal is not None else None) != offer.proposal_id:
        raise ValueError("proposal does not belong to this offer")


def accept_offer(
    offer: Offer, listing: JobListing, proposal: Proposal | None, actor: Actor, now: datetime
) -> None:
    """The freelancer accepts: ``OfferAccepted`` (escrow opens the contract), the listing
    counts the hire and the proposal becomes hired."""
    _check_parts(offer, listing, proposal)
    if actor.suspended:
        raise Forbidden("your account is suspended")
    if actor.user_id == offer.freelancer_id and not listing.is_open:
        raise Conflict("this job has closed; the offer can no longer be accepted")
    offer.accept(actor.user_id, now)
    _settle(offer, listing, proposal, "accepted", now)


def decline_offer(
    offer: Offer,
    listing: JobListing,
    proposal: Proposal | None,
    actor: Actor,
    reason: str,
    message: str,
    now: datetime,
) -> None:
    """The freelancer declines; a proposal it came from stays live."""
    _check_parts(offer, listing, proposal)
    offer.decline(actor.user_id, reason, message, now)
    _settle(offer, listing, proposal, "declined", now)


def withdraw_offer(
    offer: Offer,
    listing: JobListing,
    proposal: Proposal | None,
    actor: Actor,
    reason: str,
    now: datetime,
) -> None:
    """The client withdraws a pending offer; a proposal it came from stays live."""
    _check_parts(offer, listing, proposal)
    offer.withdraw(actor.user_id, reason, now)
    _settle(offer, listing, proposal, "withdrawn", now)


def expire_offer(
    offer: Offer, listing: JobListing, proposal: Proposal | None, now: datetime
) -> None:
    """The timer expires an offer from its ``expires_at`` on."""
    _check_parts(offer, listing, proposal)
    offer.expire(now)
    _settle(offer, listing, proposal, "expired", now)


def void_offer(offer: Offer, listing: JobListing, proposal: Proposal | None, now: datetime) -> None:
    """A job closed with this offer pending: withdraw it for the client (no-op if settled)."""
    _check_parts(offer, listing, proposal)
    if offer.void(now) is not None:
        _settle(offer, listing, proposal, "withdrawn", now)


# ---- refunds -----------------------------------------------------------------------------


@dataclass(frozen=True)
class RefundDue:
    """Connects to give back: one part of one spend in one freelancer's wallet."""

    freelancer_id: str
    spend_id: str
    part: str
    reason: str


def close_boost_auction(
    listing: JobListing, now: datetime, settings: BiddingSettings
) -> list[RefundDue]:
    """The timer ends a job's boost auction; returns the losers' boosts to refund."""
    event = listing.close_boost_auction(now, settings)
    return _boost_refunds(event.data)


def delist_job(
    listing: JobListing, outcome: str, now: datetime, settings: BiddingSettings
) -> tuple[list[RefundDue], list[str]]:
    """Jobs closed the job. Returns the refunds due (losing boosts, and everything spent on
    non-withdrawn proposals when the outcome refunds) and the pending offers to void.

    A redelivered close returns nothing to do, so refunds happen once.
    """
    events = listing.delist(outcome, now, settings)
    refunds: list[RefundDue] = []
    for event in events:
        if event.type == "BoostAuctionClosed":
            refunds.extend(_boost_refunds(event.data))
    if events and listing.refunds_connects:
        reason = "job_removed" if outcome == "removed" else "job_cancelled"
        for entry in listing.refundable_proposals():
            for part in (PROPOSAL_PART, BOOST_PART):
                refunds.append(RefundDue(entry["freelancer_id"], entry["spend_id"], part, reason))
    pending = sorted(listing.pending_offers.values()) if events else []
    return refunds, pending


def _boost_refunds(auction: dict) -> list[RefundDue]:
    return [
        RefundDue(loser["freelancer_id"], loser["spend_id"], BOOST_PART, "boost_lost")
        for loser in auction["losers"]
        if loser["spend_id"]
    ]


def apply_refunds(
    wallets: dict[str, ConnectsWallet], refunds: list[RefundDue], now: datetime
) -> list:
    """Refund each due part in its freelancer's wallet; parts already refunded (or zero)
    are skipped by the wallet. Returns the events recorded."""
    recorded = []
    for due in refunds:
        event = wallets[due.freelancer_id].refund(due.spend_id, due.part, due.reason, now)
        if event is not None:
            recorded.append(event)
    return recorded
