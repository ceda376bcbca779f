"""Pure folds from reputation's own stored events to the histories the scores read.

Each input event is anything with ``.id`` (the store's event id), ``.type`` and ``.data``.
A history keeps every fact with its domain time and the ids behind it, so scores can be
computed as of any past moment and explained event by event. Nothing here does I/O: the
wiring phase loads a stream (or a read-model row built the same way) and calls these.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from shared.clock import parse_time
from shared.errors import ValidationError
from shared.money import Money


class StoredEvent(Protocol):
    id: str
    type: str
    data: dict


@dataclass(frozen=True)
class MoneyFact:
    """A payment or refund: its amount, when it happened, and the events behind it."""

    amount: Money
    at: datetime
    event_id: str
    source_event_id: str


@dataclass(frozen=True)
class DisputeFact:
    dispute_id: str
    freelancer_lost: bool
    at: datetime
    event_id: str
    source_event_id: str


@dataclass
class FeedbackFact:
    """One side's feedback with its reveal and reply, once they happen."""

    side: str
    author_id: str
    subject_id: str
    rating: int
    criteria: dict
    comment: str
    private: dict
    submitted_at: datetime
    event_id: str
    revealed_at: datetime | None = None
    reveal_event_id: str | None = None
    reply: dict | None = None
    reply_event_id: str | None = None

    def revealed_by(self, as_of: datetime) -> bool:
        """Whether this feedback was visible to the other side at ``as_of``."""
        return self.revealed_at is not None and self.revealed_at <= as_of


@dataclass
class ContractHistory:
    """Everything reputation recorded about one contract."""

    contract_id: str
    client_id: str = ""
    freelancer_id: str = ""
    kind: str = ""
    job_id: str | None = None
    started_at: datetime | None = None
    inactivity_days: int = 0
    tracked_event_id: str = ""
    tracked_source_event_id: str = ""
    ended_at: datetime | None = None
    end_reason: str | None = None
    closes_at: datetime | None = None
    ended_event_id: str | None = None
    ended_source_event_id: str | None = None
    closed_at: datetime | None = None
    payments: list[MoneyFact] = field(default_factory=list)
    refunds: list[MoneyFact] = field(default_factory=list)
    disputes: list[DisputeFact] = field(default_factory=list)
    feedback: dict[str, FeedbackFact] = field(default_factory=dict)

    def ended_by(self, as_of: datetime) -> bool:
        """Whether the contract had ended at ``as_of``."""
        return self.ended_at is not None and self.ended_at <= as_of

    def payments_by(self, as_of: datetime) -> list[MoneyFact]:
        return [p for p in self.payments if p.at <= as_of]

    def refunds_by(self, as_of: datetime) -> list[MoneyFact]:
        return [r for r in self.refunds if r.at <= as_of]

    def disputes_by(self, as_of: datetime) -> list[DisputeFact]:
        return [d for d in self.disputes if d.at <= as_of]

    def paid_by(self, as_of: datetime) -> bool:
        """Whether any money was released to the freelancer by ``as_of``."""
        return bool(self.payments_by(as_of))


def contract_history(contract_id: str, events: Iterable[StoredEvent]) -> ContractHistory:
    """Fold the ``feedback-<contract_id>`` stream into a ContractHistory."""
    history = ContractHistory(contract_id)
    for event in events:
        _apply_contract(history, event.id, event.type, event.data)
    return history


def _apply_contract(h: ContractHistory, event_id: str, kind: str, d: dict[str, Any]) -> None:
    if kind == "ContractTracked":
        h.client_id, h.freelancer_id = d["client_id"], d["freelancer_id"]
        h.kind, h.job_id = d["kind"], d["job_id"]
        h.started_at = parse_time(d["started_at"])
        h.inactivity_days = d["inactivity_days"]
        h.tracked_event_id, h.tracked_source_event_id = event_id, d["source_event_id"]
    elif kind == "PaymentNoted":
        h.payments.append(
            MoneyFact(
                Money.from_dict(d["amount"]),
                parse_time(d["paid_at"]),
                event_id,
                d["source_event_id"],
            )
        )
    elif kind == "RefundNoted":
        h.refunds.append(
            MoneyFact(
                Money.from_dict(d["amount"]),
                parse_time(d["refunded_at"]),
                event_id,
                d["source_event_id"],
            )
        )
    elif kind == "DisputeOutcomeNoted":
        h.disputes.append(
            DisputeFact(
                d["dispute_id"],
                d["freelancer_lost"],
                parse_time(d["resolved_at"]),
                event_id,
                d["source_event_id"],
            )
        )
    elif kind == "FeedbackWindowOpened":
        h.ended_at, h.end_reason = parse_time(d["ended_at"]), d["end_reason"]
        h.closes_at = parse_time(d["closes_at"])
        h.ended_event_id, h.ended_source_event_id = event_id, d["source_event_id"]
    elif kind == "FeedbackSubmitted":
        h.feedback[d["side"]] = FeedbackFact(
            side=d["side"],
            author_id=d["author_id"],
            subject_id=d["subject_id"],
            rating=d["rating"],
            criteria=dict(d["criteria"]),
            comment=d["comment"],
            private=dict(d["private"]),
            submitted_at=parse_time(d["submitted_at"]),
            event_id=event_id,
        )
    elif kind == "FeedbackRevealed":
        for side in d["sides"]:
            fact = h.feedback[side]
            if fact.revealed_at is None:
                fact.revealed_at = parse_time(d["revealed_at"])
                fact.reveal_event_id = event_id
    elif kind == "FeedbackWindowClosed":
        h.closed_at = parse_time(d["closed_at"])
    elif kind == "FeedbackReplied":
        fact = h.feedback[d["feedback_side"]]
        fact.reply = {"author_id": d["author_id"], "text": d["text"], "replied_at": d["replied_at"]}
        fact.reply_event_id = event_id
    else:
        raise ValueError(f"unknown contract feedback event {kind}")


@dataclass(frozen=True)
class TimedFact:
    at: datetime
    event_id: str


@dataclass
class MemberHistory:
    """Everything reputation recorded about one user."""

    user_id: str
    roles: list[str] = field(default_factory=list)
    registered_at: datetime | None = None
    suspensions: list[TimedFact] = field(default_factory=list)
    # (when, suspended afterwards?) in log order: suspensions and reinstatements.
    status_changes: list[tuple[datetime, bool]] = field(default_factory=list)
    payment_verified_at: datetime | None = None
    jobs_posted: dict[str, datetime] = field(default_factory=dict)  # job id -> posted at
    # ClientRatingUpdated in log order: (updated at, average in hundredths, count, event id)
    client_ratings: list[tuple[datetime, int | None, int, str]] = field(default_factory=list)

    def suspended_at(self, as_of: datetime) -> bool:
        """Whether the member was suspended at ``as_of``: the last change by then, in log
        order, decides (the log order also settles two changes at the same instant)."""
        state = False
        for at, suspended in self.status_changes:
            if at <= as_of:
                state = suspended
        return state


def member_history(user_id: str, events: Iterable[StoredEvent]) -> MemberHistory:
    """Fold the ``member-<user_id>`` stream into a MemberHistory."""
    history = MemberHistory(user_id)
    for event in events:
        d = event.data
        if event.type == "MemberRegistered":
            history.roles = list(d["roles"])
            history.registered_at = parse_time(d["registered_at"])
        elif event.type == "MemberSuspended":
            at = parse_time(d["suspended_at"])
            history.suspensions.append(TimedFact(at, event.id))
            history.status_changes.append((at, True))
        elif event.type == "MemberReinstated":
            history.status_changes.append((parse_time(d["reinstated_at"]), False))
        elif event.type == "PaymentVerificationNoted":
            history.payment_verified_at = parse_time(d["verified_at"])
        elif event.type == "JobPostingNoted":
            history.jobs_posted[d["job_id"]] = parse_time(d["posted_at"])
        elif event.type == "ClientRatingUpdated":
            history.client_ratings.append(
                (
                    parse_time(d["updated_at"]),
                    d["average_rating_centi"],
                    d["rating_count"],
                    event.id,
                )
            )
        else:
            raise ValueError(f"unknown member event {event.type}")
    return history


def resolve_as_of(requested: datetime | None, now: datetime) -> datetime:
    """The moment a read is made at: ``now`` by default; a past moment for auditors; never
    the future, whose scores would anticipate events not yet recorded."""
    if requested is None:
        return now
    if requested > now:
        raise ValidationError("invalid input", {"as_of": ["Must not be in the future."]})
    return requested
