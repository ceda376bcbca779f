"""Reactions of the jobs service to other services' events, and its deadline handlers.

Every reaction runs once per event id (``shared.consumers.consume``) in one transaction with
its effect. Facts that feed the client stats and best matches are first noted as private
events in the jobs log (``MemberSuspensionNoted``, ``PaymentVerificationNoted``,
``HireNoted``, ``SpendNoted``, ``ClientRatingNoted``, ``FreelancerProfileNoted``), so that every read model
rebuilds from the jobs log alone.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from services.jobs import schemas
from services.jobs.domain import Job
from services.jobs.settings import job_settings_from_config
from shared.clock import iso, parse_time
from shared.consumers import ConsumedEvent, consume
from shared.domain import NewEvent
from shared.eventstore import UnitOfWork
from shared.money import Money
from shared.timers import schedule

JOB_DEADLINE = "job_deadline"


def save_job(uow: UnitOfWork, job: Job) -> None:
    """Append the job's new events and store its next deadline (warning or expiry).

    The deadline id carries its due time, so a window restarted by activity stores a new
    deadline; the old one fires later, finds nothing due and records nothing.
    """
    uow.save(job)
    due = job.next_deadline()
    if due is not None:
        schedule(uow, f"job:{job.id}:{iso(due)}", JOB_DEADLINE, due, {"job_id": job.id})


def check_job_deadline(uow: UnitOfWork, payload: dict, now: datetime) -> None:
    """The timer's handler: warn the client or expire the job when its time has come."""
    job = uow.load(Job, payload["job_id"], must_exist=True)
    job.check_deadlines(now)
    save_job(uow, job)


DEADLINE_HANDLERS = {JOB_DEADLINE: check_job_deadline}


def _note(uow: UnitOfWork, stream: str, event_type: str, source: ConsumedEvent, **data: Any):
    uow.append([NewEvent(event_type, {**data, "source_event_id": source.event_id}, stream=stream)])


def _money(value: Money) -> dict:
    return value.to_dict()


def _latest_rating(events) -> tuple[datetime, int] | None:
    """(updated_at, rating_count) of the newest client rating noted in a member stream."""
    latest = None
    for event in events:
        if event.type == "ClientRatingNoted":
            key = (parse_time(event.data["updated_at"]), event.data["rating_count"])
            latest = key if latest is None or key > latest else latest
    return latest


class JobPolicies:
    """Mixed into the jobs service: its ``@consume`` entrypoints.

    Expects ``store`` (EventStore) and ``config`` (nameko ``Config``) on the service.
    """

    # identity ------------------------------------------------------------------------

    @consume("identity", "UserSuspended", schema=schemas.UserSuspendedSchema)
    def note_member_suspended(self, uow: UnitOfWork, event: ConsumedEvent) -> None:
        """A suspended client's jobs leave search (client stats ``suspended``)."""
        user = event.data["user_id"]
        _note(
            uow,
            f"member-{user}",
            "MemberSuspensionNoted",
            event,
            user_id=user,
            suspended=True,
            at=iso(event.data["suspended_at"]),
        )

    @consume("identity", "UserReinstated", schema=schemas.UserReinstatedSchema)
    def note_member_reinstated(self, uow: UnitOfWork, event: ConsumedEvent) -> None:
        """A reinstated client's open jobs come back to search."""
        user = event.data["user_id"]
        _note(
            uow,
            f"member-{user}",
            "MemberSuspensionNoted",
            event,
            user_id=user,
            suspended=False,
            at=iso(event.data["reinstated_at"]),
        )

    @consume("identity", "PaymentMethodVerified", schema=schemas.PaymentMethodVerifiedSchema)
    def note_payment_verified(self, uow: UnitOfWork, event: ConsumedEvent) -> None:
        """The client's "payment verified" badge."""
        user = event.data["user_id"]
        _note(
            uow,
            f"member-{user}",
            "PaymentVerificationNoted",
            event,
            user_id=user,
            verified_at=iso(event.data["verified_at"]),
        )

    @consume("identity", "ProfileUpdated", schema=schemas.ProfileUpdatedSchema)
    def note_freelancer_profile(self, uow: UnitOfWork, event: ConsumedEvent) -> None:
        """Skills and hourly rate of a freelancer, for best matches (others are ignored)."""
        section = event.data["profile"].get("freelancer")
        if section is None:
            return
        user = event.data["user_id"]
        rate = section.get("hourly_rate")
        _note(
            uow,
            f"member-{user}",
            "FreelancerProfileNoted",
            event,
            freelancer_id=user,
            skills=list(section.get("skills") or []),
            hourly_rate=_money(rate) if rate is not None else None,
            updated_at=iso(event.data["updated_at"]),
        )

    # bidding -------------------------------------------------------------------------

    @consume("bidding", "ListingProposalEntered", schema=schemas.ListingProposalEnteredSchema)
    def count_proposal(self, uow: UnitOfWork, event: ConsumedEvent) -> None:
        """One more proposal on the job; activity that restarts the expiry window."""
        data = event.data
        job = uow.load(Job, data["job_id"], must_exist=True)
        job.note_proposal_received(
            data["proposal_id"],
            data["freelancer_id"],
            data["entered_at"],
            job_settings_from_config(self.config),
        )
        save_job(uow, job)

    @consume("bidding", "ListingProposalWithdrawn", schema=schemas.ListingProposalWithdrawnSchema)
    def uncount_proposal(self, uow: UnitOfWork, event: ConsumedEvent) -> None:
        """One proposal fewer on the job."""
        data = event.data
        job = uow.load(Job, data["job_id"], must_exist=True)
        job.note_proposal_withdrawn(data["proposal_id"], data["withdrawn_at"])
        uow.save(job)

    # escrow --------------------------------------------------------------------------

    @consume("escrow", "ContractOpened", schema=schemas.ContractOpenedSchema)
    def fill_job(self, uow: UnitOfWork, event: ConsumedEvent) -> None:
        """Escrow's contract fills the job, and counts as a hire in the client's stats."""
        data = event.data
        if data["job_id"] is not None:
            job = uow.load(Job, data["job_id"], must_exist=True)
            job.record_hire(data["contract_id"], data["freelancer_id"], data["opened_at"])
            uow.save(job)
        _note(
            uow,
            f"member-{data['client_id']}",
            "HireNoted",
            event,
            client_id=data["client_id"],
            job_id=data["job_id"],
            contract_id=data["contract_id"],
            freelancer_id=data["freelancer_id"],
            hired_at=iso(data["opened_at"]),
        )

    def _note_spend(self, uow, event, amount: Money, paid_at: datetime) -> None:
        data = event.data
        _note(
            uow,
            f"member-{data['client_id']}",
            "SpendNoted",
            event,
            client_id=data["client_id"],
            contract_id=data["contract_id"],
            amount=_money(amount),
            paid_at=iso(paid_at),
        )

    @consume("escrow", "MilestoneReleased", schema=schemas.MilestoneReleasedSchema)
    def note_milestone_spend(self, uow: UnitOfWork, event: ConsumedEvent) -> None:
        """A released milestone adds its gross to the client's total spent."""
        self._note_spend(uow, event, event.data["gross"], event.data["released_at"])

    @consume("escrow", "HourlyWeekReleased", schema=schemas.HourlyWeekReleasedSchema)
    def note_hourly_spend(self, uow: UnitOfWork, event: ConsumedEvent) -> None:
        """A released hourly week adds its gross to the client's total spent."""
        self._note_spend(uow, event, event.data["gross"], event.data["released_at"])

    @consume("escrow", "BonusPaid", schema=schemas.BonusPaidSchema)
    def note_bonus_spend(self, uow: UnitOfWork, event: ConsumedEvent) -> None:
        """A bonus adds its amount to the client's total spent."""
        self._note_spend(uow, event, event.data["amount"], event.data["paid_at"])

    # reputation ----------------------------------------------------------------------

    @consume("reputation", "ClientRatingUpdated", schema=schemas.ClientRatingUpdatedSchema)
    def note_client_rating(self, uow: UnitOfWork, event: ConsumedEvent) -> None:
        """The client's average rating, shown on each of the client's jobs.

        reputation sends the whole current figure, so only the newest counts: an update
        that arrives after a later one (a retried delivery) is not noted."""
        data = event.data
        client = data["client_id"]
        stream = f"member-{client}"
        latest = _latest_rating(uow.read_stream(stream))
        incoming = (data["updated_at"], data["rating_count"])
        if latest is not None and incoming <= latest:
            return
        _note(
            uow,
            stream,
            "ClientRatingNoted",
            event,
            client_id=client,
            average_rating_centi=data["average_rating_centi"],
            rating_count=data["rating_count"],
            updated_at=iso(data["updated_at"]),
        )

    @consume("escrow", "DisputeResolved", schema=schemas.DisputeResolvedSchema)
    def note_dispute_spend(self, uow: UnitOfWork, event: ConsumedEvent) -> None:
        """The part of a dispute released to the freelancer counts as spent."""
        release = event.data["release"]
        if release.amount > 0:
            self._note_spend(uow, event, release, event.data["resolved_at"])
