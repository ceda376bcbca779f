"""Reputation's reactions to other services' events, and its timer handlers.

Each consumer runs once per source event id (``shared.consumers.consume``) and the
aggregates also ignore a source event they already noted, so a redelivered or replayed
event changes nothing. The event names and fields are the producers' own (escrow,
identity, jobs); see ``schemas.CONSUMED_EVENT_SCHEMAS``.
"""

from __future__ import annotations

from datetime import datetime

from services.reputation import schemas as s
from services.reputation.domain import ContractFeedback, Member
from services.reputation.read_models import load_histories
from services.reputation.settings import FeedbackSettings, feedback_settings_from
from services.reputation.stats import ratings_exchanged
from shared.consumers import consume
from shared.eventstore import UnitOfWork
from shared.timers import schedule

CLOSE_FEEDBACK_WINDOW = "reputation.close_feedback_window"


def feedback_window_deadline_id(contract_id: str) -> str:
    return f"feedback-window:{contract_id}"


# What can change the rating a client received: a freelancer's feedback revealed, or the
# first payment on a contract whose feedback was revealed before any money moved.
RATING_CHANGES = frozenset({"FeedbackRevealed", "PaymentNoted"})


def refresh_client_rating(uow: UnitOfWork, client_id: str) -> None:
    """Bring the client's ``ClientRatingUpdated`` up to date with the log, in ``uow``'s
    transaction (which sees the events just appended). It folds every fact of the client's
    contracts; ``Member.note_client_rating`` records nothing if the figure is unchanged."""

    def fetch(sql: str, params: tuple) -> list[tuple]:
        return uow.execute(sql, params).fetchall()

    ids = [
        row[0]
        for row in fetch(
            "SELECT contract_id FROM reputation_contracts WHERE client_id = %s", (client_id,)
        )
    ]
    histories, _ = load_histories(fetch, ids)
    _, received = ratings_exchanged(client_id, histories)
    member = uow.load(Member, client_id)
    member.note_client_rating(ratings=received, updated_at=uow.store.clock.now())
    uow.save(member)


def save_contract(uow: UnitOfWork, contract: ContractFeedback) -> None:
    """Append the contract's new events; when they can change the rating its client
    received, record the client's new rating in the same transaction."""
    changes = {event.type for event in contract.pending}
    uow.save(contract)
    if changes & RATING_CHANGES:
        refresh_client_rating(uow, contract.client_id)


def close_feedback_window(settings: FeedbackSettings):
    """The timer handler that closes a contract's feedback window and reveals what was
    submitted (a Conflict before ``closes_at`` marks the deadline moot)."""

    def handle(uow: UnitOfWork, payload: dict, now: datetime) -> None:
        contract = uow.load(ContractFeedback, payload["contract_id"])
        contract.close_window(now=now, settings=settings)
        save_contract(uow, contract)

    return handle


def deadline_handlers(settings: FeedbackSettings) -> dict:
    return {CLOSE_FEEDBACK_WINDOW: close_feedback_window(settings)}


class ReputationPolicies:
    """Mixed into the service: needs ``store`` (EventStore) and ``config`` (nameko Config)."""

    @property
    def feedback_settings(self) -> FeedbackSettings:
        return feedback_settings_from(self.config)

    def _contract(self, uow: UnitOfWork, event) -> ContractFeedback:
        return uow.load(ContractFeedback, event.data["contract_id"])

    # -- escrow ----------------------------------------------------------------------------

    @consume("escrow", "ContractOpened", schema=s.ContractOpenedSchema)
    def track_opened_contract(self, uow, event):
        d = event.data
        contract = self._contract(uow, event)
        contract.track_contract(
            source_event_id=event.event_id,
            client_id=d["client_id"],
            freelancer_id=d["freelancer_id"],
            kind=d["kind"],
            started_at=d["opened_at"],
            job_id=d["job_id"],
            settings=self.feedback_settings,
        )
        uow.save(contract)

    @consume("escrow", "MilestoneReleased", schema=s.MilestoneReleasedSchema)
    def note_milestone_payment(self, uow, event):
        self._note_payment(uow, event, event.data["gross"], event.data["released_at"])

    @consume("escrow", "HourlyWeekReleased", schema=s.HourlyWeekReleasedSchema)
    def note_hourly_payment(self, uow, event):
        self._note_payment(uow, event, event.data["gross"], event.data["released_at"])

    @consume("escrow", "BonusPaid", schema=s.BonusPaidSchema)
    def note_bonus_payment(self, uow, event):
        self._note_payment(uow, event, event.data["amount"], event.data["paid_at"])

    def _note_payment(self, uow, event, amount, paid_at) -> None:
        contract = self._contract(uow, event)
        contract.note_payment(source_event_id=event.event_id, amount=amount, paid_at=paid_at)
        save_contract(uow, contract)

    @consume("escrow", "EscrowRefunded", schema=s.EscrowRefundedSchema)
    def note_escrow_refund(self, uow, event):
        contract = self._contract(uow, event)
        contract.note_refund(
            source_event_id=event.event_id,
            amount=event.data["amount"],
            refunded_at=event.data["refunded_at"],
        )
        uow.save(contract)

    @consume("escrow", "DisputeResolved", schema=s.DisputeResolvedSchema)
    def note_dispute_outcome(self, uow, event):
        """Escrow moves a dispute's split itself (no release or refund event follows), so
        both parts are noted here as well, under ids derived from this event's id."""
        d = event.data
        contract = self._contract(uow, event)
        contract.note_dispute_resolved(
            source_event_id=event.event_id,
            dispute_id=d["dispute_id"],
            released=d["release"],
            refunded=d["refund"],
            resolved_at=d["resolved_at"],
        )
        if d["release"].is_positive:
            contract.note_payment(
                source_event_id=f"{event.event_id}:release",
                amount=d["release"],
                paid_at=d["resolved_at"],
            )
        if d["refund"].is_positive:
            contract.note_refund(
                source_event_id=f"{event.event_id}:refund",
                amount=d["refund"],
                refunded_at=d["resolved_at"],
            )
        save_contract(uow, contract)

    @consume("escrow", "ContractEnded", schema=s.ContractEndedSchema)
    def open_feedback_window(self, uow, event):
        contract = self._contract(uow, event)
        contract.note_contract_ended(
            source_event_id=event.event_id,
            ended_at=event.data["ended_at"],
            end_reason=event.data["reason"],
            settings=self.feedback_settings,
        )
        uow.save(contract)
        schedule(
            uow,
            feedback_window_deadline_id(contract.id),
            CLOSE_FEEDBACK_WINDOW,
            contract.closes_at,
            {"contract_id": contract.id},
        )

    # -- identity and jobs -----------------------------------------------------------------

    def _member(self, uow, user_id: str) -> Member:
        return uow.load(Member, user_id)

    @consume("identity", "UserRegistered", schema=s.UserRegisteredSchema)
    def note_member_registered(self, uow, event):
        member = self._member(uow, event.data["user_id"])
        member.note_registered(
            source_event_id=event.event_id,
            roles=event.data["roles"],
            registered_at=event.data["registered_at"],
        )
        uow.save(member)

    @consume("identity", "UserSuspended", schema=s.UserSuspendedSchema)
    def note_member_suspended(self, uow, event):
        member = self._member(uow, event.data["user_id"])
        member.note_suspended(
            source_event_id=event.event_id,
            reason=event.data["reason"],
            suspended_at=event.data["suspended_at"],
        )
        uow.save(member)

    @consume("identity", "UserReinstated", schema=s.UserReinstatedSchema)
    def note_member_reinstated(self, uow, event):
        member = self._member(uow, event.data["user_id"])
        member.note_reinstated(
            source_event_id=event.event_id, reinstated_at=event.data["reinstated_at"]
        )
        uow.save(member)

    @consume("identity", "PaymentMethodVerified", schema=s.PaymentMethodVerifiedSchema)
    def note_member_payment_verified(self, uow, event):
        member = self._member(uow, event.data["user_id"])
        member.note_payment_verified(
            source_event_id=event.event_id, verified_at=event.data["verified_at"]
        )
        uow.save(member)

    @consume("jobs", "JobPublished", schema=s.JobPublishedSchema)
    def note_job_posted(self, uow, event):
        member = self._member(uow, event.data["client_id"])
        member.note_job_posted(
            source_event_id=event.event_id,
            job_id=event.data["job_id"],
            posted_at=event.data["published_at"],
        )
        uow.save(member)
