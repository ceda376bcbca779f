"""Reputation aggregates: the feedback of one contract, and what reputation knows of a member.

``ContractFeedback`` (stream ``feedback-<contract_id>``) notes the contract facts escrow
publishes (start, payments, refunds, dispute outcomes, end) and holds the double-blind
feedback of both sides. ``Member`` (stream ``member-<user_id>``) notes what identity and jobs
publish about a user. Facts taken from another service keep that event's id in
``source_event_id`` and are recorded at most once per source event, so consuming an event
twice records nothing the second time.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from services.reputation.settings import FeedbackSettings
from shared.clock import iso, parse_time
from shared.domain import Aggregate
from shared.errors import Conflict, Forbidden, NotFound, ValidationError
from shared.money import Money

CLIENT = "client"
FREELANCER = "freelancer"
SIDES = (CLIENT, FREELANCER)

# Criteria a client rates a freelancer on, and a freelancer rates a client on.
FREELANCER_CRITERIA = (
    "skills",
    "quality",
    "availability",
    "deadlines",
    "communication",
    "cooperation",
)
CLIENT_CRITERIA = ("clarity", "communication", "payment_promptness", "cooperation")
ALL_CRITERIA = tuple(dict.fromkeys(FREELANCER_CRITERIA + CLIENT_CRITERIA))

# The private "reason for ending" a side gives the platform.
PRIVATE_END_REASONS = (
    "work_completed",
    "not_satisfied",
    "budget_changed",
    "schedule_changed",
    "unresponsive",
    "other",
)
RATING_MIN, RATING_MAX = 1, 5
RECOMMEND_MIN, RECOMMEND_MAX = 0, 10


def criteria_for_author(side: str) -> tuple[str, ...]:
    """The criteria the author on ``side`` rates: a client rates the freelancer's, and back."""
    return FREELANCER_CRITERIA if side == CLIENT else CLIENT_CRITERIA


def other_side(side: str) -> str:
    """The side opposite ``side``."""
    return FREELANCER if side == CLIENT else CLIENT


def average_centi(total: int, count: int) -> int | None:
    """``total / count`` in hundredths, rounded half up (None with no ratings). Integer
    arithmetic only: ``round(100 * total / count)`` without a float in between."""
    if count == 0:
        return None
    return (200 * total + count) // (2 * count)


def _check_rating(field: str, value: object, low: int, high: int) -> None:
    if type(value) is not int or not low <= value <= high:
        raise ValidationError("invalid feedback", {field: [f"Must be between {low} and {high}."]})


class ContractFeedback(Aggregate):
    """One contract as reputation sees it, with the feedback each side leaves on it."""

    stream_prefix = "feedback"

    def __init__(self, id: str):
        super().__init__(id)
        self.client_id: str | None = None
        self.freelancer_id: str | None = None
        self.started_at: datetime | None = None
        self.ended_at: datetime | None = None
        self.closes_at: datetime | None = None
        self.window_closed = False
        self.submitted: dict[str, dict] = {}  # side of the author -> FeedbackSubmitted data
        self.revealed_sides: set[str] = set()
        self.reply_closes_at: dict[str, datetime] = {}  # side of the author -> reply deadline
        self.replied_sides: set[str] = set()  # sides whose feedback has its reply
        self.paid_minor = 0
        self.seen_sources: set[str] = set()
        self.tracked_source: str | None = None
        self.ended_source: str | None = None

    # -- facts from escrow ---------------------------------------------------------------

    @property
    def tracked(self) -> bool:
        """Whether escrow's ContractStarted has been noted."""
        return self.client_id is not None

    @property
    def ended(self) -> bool:
        """Whether escrow's ContractEnded has been noted (the feedback window opened)."""
        return self.ended_at is not None

    def track_contract(
        self,
        *,
        source_event_id: str,
        client_id: str,
        freelancer_id: str,
        kind: str,
        started_at: datetime,
        job_id: str | None,
        settings: FeedbackSettings,
    ) -> None:
        """Note that escrow started this contract. The inactivity limit in force is kept."""
        if self.tracked:
            if source_event_id == self.tracked_source:
                return  # the same event consumed again
            raise Conflict(f"contract {self.id} is already tracked")
        if client_id == freelancer_id:
            raise ValidationError(
                "invalid contract", {"freelancer_id": ["Must not be the client."]}
            )
        self.record(
            "ContractTracked",
            contract_id=self.id,
            client_id=client_id,
            freelancer_id=freelancer_id,
            kind=kind,
            job_id=job_id,
            started_at=iso(started_at),
            inactivity_days=settings.inactivity_days,
            source_event_id=source_event_id,
        )

    def note_payment(self, *, source_event_id: str, amount: Money, paid_at: datetime) -> None:
        """Note money released to the freelancer on this contract (gross amount)."""
        if self._already_noted(source_event_id):
            return
        if not amount.is_positive:
            raise ValidationError("invalid payment", {"amount": ["Must be a positive amount."]})
        self.record(
            "PaymentNoted",
            amount=amount.to_dict(),
            paid_at=iso(paid_at),
            source_event_id=source_event_id,
        )

    def note_refund(self, *, source_event_id: str, amount: Money, refunded_at: datetime) -> None:
        """Note money refunded to the client on this contract."""
        if self._already_noted(source_event_id):
            return
        if not amount.is_positive:
            raise ValidationError("invalid refund", {"amount": ["Must be a positive amount."]})
        self.record(
            "RefundNoted",
            amount=amount.to_dict(),
            refunded_at=iso(refunded_at),
            source_event_id=source_event_id,
        )

    def note_dispute_resolved(
        self,
        *,
        source_event_id: str,
        dispute_id: str,
        released: Money,
        refunded: Money,
        resolved_at: datetime,
    ) -> None:
        """Note an operator's split of a dispute. The freelancer lost it if the client got
        back more than the freelancer was paid; the money itself is counted from escrow's
        payment and refund events, not from here, so nothing is counted twice."""
        if self._already_noted(source_event_id):
            return
        if released.amount < 0 or refunded.amount < 0:
            raise ValidationError(
                "invalid dispute outcome", {"released": ["Must not be negative."]}
            )
        if released.currency != refunded.currency:
            raise ValidationError("invalid dispute outcome", {"refunded": ["Currency mismatch."]})
        self.record(
            "DisputeOutcomeNoted",
            dispute_id=dispute_id,
            released=released.to_dict(),
            refunded=refunded.to_dict(),
            freelancer_lost=refunded.amount > released.amount,
            resolved_at=iso(resolved_at),
            source_event_id=source_event_id,
        )

    def note_contract_ended(
        self,
        *,
        source_event_id: str,
        ended_at: datetime,
        end_reason: str,
        settings: FeedbackSettings,
    ) -> None:
        """Note that escrow ended the contract, which opens the feedback window. The window
        runs from the contract's end (not from when the event was consumed) for the number
        of days in force now, recorded in the event."""
        if self.ended:
            if source_event_id == self.ended_source:
                return
            raise Conflict(f"contract {self.id} has already ended")
        self._require_tracked()
        if ended_at < self.started_at:
            raise ValidationError("invalid contract end", {"ended_at": ["Before the start."]})
        days = settings.feedback_window_days
        self.record(
            "FeedbackWindowOpened",
            ended_at=iso(ended_at),
            end_reason=end_reason,
            window_days=days,
            closes_at=iso(ended_at + timedelta(days=days)),
            source_event_id=source_event_id,
        )

    # -- feedback -------------------------------------------------------------------------

    def side_of(self, actor_id: str) -> str:
        """The side ``actor_id`` is on, or Forbidden if they are not a party."""
        self._require_tracked()
        if actor_id == self.client_id:
            return CLIENT
        if actor_id == self.freelancer_id:
            return FREELANCER
        raise Forbidden("only the client or the freelancer of a contract may do this")

    def is_window_open(self, now: datetime) -> bool:
        """Feedback is accepted from the end up to, not including, ``closes_at``."""
        return self.ended and not self.window_closed and now < self.closes_at

    def leave_feedback(
        self,
        *,
        actor_id: str,
        rating: int,
        criteria: dict[str, int],
        comment: str,
        end_reason: str,
        would_recommend: int,
        now: datetime,
        settings: FeedbackSettings,
    ) -> None:
        """Submit the actor's feedback on the other side; once both sides have submitted,
        both are revealed at once (double-blind)."""
        side = self.side_of(actor_id)
        if not self.ended:
            raise Conflict("feedback opens when the contract ends; this contract is active")
        if side in self.submitted:
            raise Conflict("feedback on this contract was already submitted by this side")
        if not self.is_window_open(now):
            raise Conflict(f"the feedback window closed at {iso(self.closes_at)}")
        _check_rating("rating", rating, RATING_MIN, RATING_MAX)
        _check_rating("would_recommend", would_recommend, RECOMMEND_MIN, RECOMMEND_MAX)
        expected = criteria_for_author(side)
        if set(criteria) != set(expected):
            raise ValidationError(
                "invalid feedback", {"criteria": [f"Rate exactly: {', '.join(expected)}."]}
            )
        for name in expected:
            _check_rating(f"criteria.{name}", criteria[name], RATING_MIN, RATING_MAX)
        if end_reason not in PRIVATE_END_REASONS:
            raise ValidationError("invalid feedback", {"end_reason": ["Unknown reason."]})
        subject = self.freelancer_id if side == CLIENT else self.client_id
        self.record(
            "FeedbackSubmitted",
            side=side,
            author_id=actor_id,
            subject_id=subject,
            rating=rating,
            criteria={name: criteria[name] for name in expected},
            comment=comment,
            private={"end_reason": end_reason, "would_recommend": would_recommend},
            submitted_at=iso(now),
        )
        if len(self.submitted) == len(SIDES):
            self._reveal("both_submitted", now, settings)

    def close_window(self, *, now: datetime, settings: FeedbackSettings) -> None:
        """The timer's command at the window's close: reveal what was submitted. Calling it
        again after the close records nothing."""
        self._require_tracked()
        if not self.ended:
            raise Conflict("the contract is still active; its feedback window is not open")
        if self.window_closed:
            return
        if now < self.closes_at:
            raise Conflict(f"the feedback window is open until {iso(self.closes_at)}")
        self.record(
            "FeedbackWindowClosed",
            closed_at=iso(now),
            submitted_sides=[side for side in SIDES if side in self.submitted],
        )
        if set(self.submitted) - self.revealed_sides:
            self._reveal("window_closed", now, settings)

    @property
    def deadline(self) -> datetime | None:
        """When the timer must call ``close_window``, or None if nothing is pending."""
        if self.ended and not self.window_closed:
            return self.closes_at
        return None

    def reply_to_feedback(self, *, actor_id: str, text: str, now: datetime) -> None:
        """One public reply by the reviewed party to the revealed feedback about them."""
        side = self.side_of(actor_id)
        replied = other_side(side)  # the author of the feedback being replied to
        if replied not in self.revealed_sides:
            raise Conflict("there is no revealed feedback about you on this contract")
        if replied in self.replied_sides:
            raise Conflict("you have already replied to this feedback")
        if now >= self.reply_closes_at[replied]:
            raise Conflict(f"replies closed at {iso(self.reply_closes_at[replied])}")
        if not text.strip():
            raise ValidationError("invalid reply", {"text": ["Must not be blank."]})
        self.record(
            "FeedbackReplied",
            feedback_side=replied,
            author_id=actor_id,
            text=text,
            replied_at=iso(now),
        )

    # -- helpers ---------------------------------------------------------------------------

    def _reveal(self, reason: str, now: datetime, settings: FeedbackSettings) -> None:
        days = settings.reply_window_days
        self.record(
            "FeedbackRevealed",
            reason=reason,
            sides=[side for side in SIDES if side in self.submitted],
            revealed_at=iso(now),
            reply_window_days=days,
            reply_closes_at=iso(now + timedelta(days=days)),
        )

    def _require_tracked(self) -> None:
        if not self.tracked:
            raise NotFound(f"no contract {self.id} is known to reputation")

    def _already_noted(self, source_event_id: str) -> bool:
        self._require_tracked()
        return source_event_id in self.seen_sources

    # -- apply -----------------------------------------------------------------------------

    def on_ContractTracked(self, data: dict) -> None:
        self.client_id = data["client_id"]
        self.freelancer_id = data["freelancer_id"]
        self.started_at = parse_time(data["started_at"])
        self.tracked_source = data["source_event_id"]
        self.seen_sources.add(data["source_event_id"])

    def on_PaymentNoted(self, data: dict) -> None:
        self.paid_minor += data["amount"]["amount"]
        self.seen_sources.add(data["source_event_id"])

    def on_RefundNoted(self, data: dict) -> None:
        self.seen_sources.add(data["source_event_id"])

    def on_DisputeOutcomeNoted(self, data: dict) -> None:
        self.seen_sources.add(data["source_event_id"])

    def on_FeedbackWindowOpened(self, data: dict) -> None:
        self.ended_at = parse_time(data["ended_at"])
        self.closes_at = parse_time(data["closes_at"])
        self.ended_source = data["source_event_id"]
        self.seen_sources.add(data["source_event_id"])

    def on_FeedbackSubmitted(self, data: dict) -> None:
        self.submitted[data["side"]] = data

    def on_FeedbackWindowClosed(self, data: dict) -> None:
        self.window_closed = True

    def on_FeedbackRevealed(self, data: dict) -> None:
        closes = parse_time(data["reply_closes_at"])
        for side in data["sides"]:
            if side not in self.revealed_sides:
                self.revealed_sides.add(side)
                self.reply_closes_at[side] = closes

    def on_FeedbackReplied(self, data: dict) -> None:
        self.replied_sides.add(data["feedback_side"])


class Member(Aggregate):
    """What reputation knows of one user: registration, suspensions, payment verification
    and (for clients) the jobs they posted."""

    stream_prefix = "member"

    def __init__(self, id: str):
        super().__init__(id)
        self.roles: list[str] = []
        self.registered_at: datetime | None = None
        self.suspended = False
        self.payment_verified = False
        self.job_ids: set[str] = set()
        self.seen_sources: set[str] = set()
        # the rating received as a client, as last recorded in ClientRatingUpdated
        self.rating_centi: int | None = None
        self.rating_count = 0

    def note_registered(
        self, *, source_event_id: str, roles: list[str], registered_at: datetime
    ) -> None:
        """Note identity's UserRegistered."""
        if source_event_id in self.seen_sources:
            return
        if self.registered_at is not None:
            raise Conflict(f"member {self.id} is already registered")
        self.record(
            "MemberRegistered",
            roles=sorted(set(roles)),
            registered_at=iso(registered_at),
            source_event_id=source_event_id,
        )

    def note_suspended(self, *, source_event_id: str, reason: str, suspended_at: datetime) -> None:
        """Note identity's UserSuspended; a suspension is a violation for badges."""
        if source_event_id in self.seen_sources:
            return
        self.record(
            "MemberSuspended",
            reason=reason,
            suspended_at=iso(suspended_at),
            source_event_id=source_event_id,
        )

    def note_reinstated(self, *, source_event_id: str, reinstated_at: datetime) -> None:
        """Note identity's UserReinstated."""
        if source_event_id in self.seen_sources:
            return
        if not self.suspended:
            raise Conflict(f"member {self.id} is not suspended")
        self.record(
            "MemberReinstated",
            reinstated_at=iso(reinstated_at),
            source_event_id=source_event_id,
        )

    def note_payment_verified(self, *, source_event_id: str, verified_at: datetime) -> None:
        """Note identity's PaymentMethodVerified; later ones change nothing."""
        if source_event_id in self.seen_sources or self.payment_verified:
            return
        self.record(
            "PaymentVerificationNoted",
            verified_at=iso(verified_at),
            source_event_id=source_event_id,
        )

    def note_job_posted(self, *, source_event_id: str, job_id: str, posted_at: datetime) -> None:
        """Note jobs' JobPublished for this client; a job is counted once."""
        if source_event_id in self.seen_sources or job_id in self.job_ids:
            return
        self.record(
            "JobPostingNoted",
            job_id=job_id,
            posted_at=iso(posted_at),
            source_event_id=source_event_id,
        )

    def note_client_rating(self, *, ratings: list[int], updated_at: datetime) -> None:
        """Record the rating this member has received as a client, from ``ratings`` (the
        freelancers' revealed ratings on the client's paid contracts). Nothing is recorded
        when the average and the count are those recorded last, so calling it again after
        any change, or twice for the same change, is harmless."""
        for rating in ratings:
            _check_rating("rating", rating, RATING_MIN, RATING_MAX)
        count = len(ratings)
        centi = average_centi(sum(ratings), count)
        if (centi, count) == (self.rating_centi, self.rating_count):
            return
        self.record(
            "ClientRatingUpdated",
            client_id=self.id,
            average_rating_centi=centi,
            rating_count=count,
            updated_at=iso(updated_at),
        )

    def on_MemberRegistered(self, data: dict) -> None:
        self.roles = list(data["roles"])
        self.registered_at = parse_time(data["registered_at"])
        self.seen_sources.add(data["source_event_id"])

    def on_MemberSuspended(self, data: dict) -> None:
        self.suspended = True
        self.seen_sources.add(data["source_event_id"])

    def on_MemberReinstated(self, data: dict) -> None:
        self.suspended = False
        self.seen_sources.add(data["source_event_id"])

    def on_PaymentVerificationNoted(self, data: dict) -> None:
        self.payment_verified = True
        self.seen_sources.add(data["source_event_id"])

    def on_JobPostingNoted(self, data: dict) -> None:
        self.job_ids.add(data["job_id"])
        self.seen_sources.add(data["source_event_id"])

    def on_ClientRatingUpdated(self, data: dict) -> None:
        self.rating_centi = data["average_rating_centi"]
        self.rating_count = data["rating_count"]
