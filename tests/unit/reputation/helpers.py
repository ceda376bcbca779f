"""Test helpers: an in-memory log with event ids, event builders and a contract scenario."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from services.reputation.domain import ContractFeedback, Member
from services.reputation.projections import contract_history, member_history
from services.reputation.settings import FeedbackSettings
from shared.clock import iso
from shared.money import Money

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)
DAY = timedelta(days=1)
SETTINGS = FeedbackSettings()
FREELANCER_RATINGS = {
    "skills": 5,
    "quality": 5,
    "availability": 4,
    "deadlines": 5,
    "communication": 5,
    "cooperation": 5,
}
CLIENT_RATINGS = {"clarity": 4, "communication": 5, "payment_promptness": 5, "cooperation": 4}


def usd(cents: int) -> Money:
    return Money(cents, "USD")


@dataclass(frozen=True)
class Recorded:
    """A stored event as the store hands it back: id, type, data, version."""

    id: str
    type: str
    data: dict
    version: int


def given(cls, id: str, events: list[tuple[str, dict]]):
    """An aggregate folded from ``events`` (type, data) pairs."""
    stored = [Recorded(f"g-{n}", t, d, n) for n, (t, d) in enumerate(events, start=1)]
    return cls.rehydrate(id, stored)


def types(agg) -> list[str]:
    return [e.type for e in agg.pending]


# -- given-event builders ------------------------------------------------------------------


def tracked(client="c1", freelancer="f1", started_at=T0, inactivity_days=90, source="es-1"):
    return (
        "ContractTracked",
        {
            "contract_id": "k1",
            "client_id": client,
            "freelancer_id": freelancer,
            "kind": "fixed",
            "job_id": "j1",
            "started_at": iso(started_at),
            "inactivity_days": inactivity_days,
            "source_event_id": source,
        },
    )


def window_opened(ended_at=T0 + 10 * DAY, days=14, source="es-end"):
    return (
        "FeedbackWindowOpened",
        {
            "ended_at": iso(ended_at),
            "end_reason": "completed",
            "window_days": days,
            "closes_at": iso(ended_at + days * DAY),
            "source_event_id": source,
        },
    )


def submitted(side: str, at: datetime, rating=5, recommend=9):
    author, subject = ("c1", "f1") if side == "client" else ("f1", "c1")
    criteria = FREELANCER_RATINGS if side == "client" else CLIENT_RATINGS
    return (
        "FeedbackSubmitted",
        {
            "side": side,
            "author_id": author,
            "subject_id": subject,
            "rating": rating,
            "criteria": dict(criteria),
            "comment": "fine work",
            "private": {"end_reason": "work_completed", "would_recommend": recommend},
            "submitted_at": iso(at),
        },
    )


def revealed(sides: list[str], at: datetime, reason="both_submitted", days=30):
    return (
        "FeedbackRevealed",
        {
            "reason": reason,
            "sides": sides,
            "revealed_at": iso(at),
            "reply_window_days": days,
            "reply_closes_at": iso(at + days * DAY),
        },
    )


def feedback_args(actor_id: str, now: datetime, rating=5, recommend=9, **overrides):
    criteria = FREELANCER_RATINGS if actor_id.startswith("c") else CLIENT_RATINGS
    args = {
        "actor_id": actor_id,
        "rating": rating,
        "criteria": dict(criteria),
        "comment": "good",
        "end_reason": "work_completed",
        "would_recommend": recommend,
        "now": now,
        "settings": SETTINGS,
    }
    args.update(overrides)
    return args


# -- an in-memory log ----------------------------------------------------------------------


class EventLog:
    """Streams of stored events with ids, as the wiring phase's store will hand them back."""

    def __init__(self):
        self.streams: dict[str, list[Recorded]] = defaultdict(list)
        self.count = 0

    def run(self, cls, id: str, command: str, **kwargs) -> list[Recorded]:
        agg = cls.rehydrate(id, self.streams[cls.stream_for(id)])
        getattr(agg, command)(**kwargs)
        stored = []
        for event in agg.take_pending():
            self.count += 1
            stream = self.streams[event.stream]
            record = Recorded(f"ev-{self.count}", event.type, event.data, len(stream) + 1)
            stream.append(record)
            stored.append(record)
        return stored

    def contract(self, contract_id: str):
        return contract_history(contract_id, self.streams[ContractFeedback.stream_for(contract_id)])

    def contracts(self) -> list:
        prefix = ContractFeedback.stream_prefix + "-"
        return [
            self.contract(stream[len(prefix) :])
            for stream in sorted(self.streams)
            if stream.startswith(prefix)
        ]

    def member(self, user_id: str):
        return member_history(user_id, self.streams[Member.stream_for(user_id)])


def play_contract(
    log: EventLog,
    contract_id: str,
    *,
    client: str,
    freelancer: str,
    start: datetime,
    days: int | timedelta,
    payments: tuple[int, ...] = (),
    refunds: tuple[int, ...] = (),
    dispute: tuple[int, int] | None = None,
    end_reason: str = "completed",
    client_feedback: tuple[int, int] | None = None,
    freelancer_feedback: tuple[int, int] | None = None,
    close: bool = True,
    settings: FeedbackSettings = SETTINGS,
) -> None:
    """Play one contract through the domain: start, payments spread before the end,
    refunds, a dispute (released, refunded), the end, feedback a day later, the close."""
    end = start + (days if isinstance(days, timedelta) else days * DAY)
    log.run(
        ContractFeedback,
        contract_id,
        "track_contract",
        source_event_id=f"{contract_id}-started",
        client_id=client,
        freelancer_id=freelancer,
        kind="fixed",
        started_at=start,
        job_id=f"job-{contract_id}",
        settings=settings,
    )
    for n, cents in enumerate(payments):
        log.run(
            ContractFeedback,
            contract_id,
            "note_payment",
            source_event_id=f"{contract_id}-paid-{n}",
            amount=usd(cents),
            paid_at=end - SECOND * (n + 1),
        )
    for n, cents in enumerate(refunds):
        log.run(
            ContractFeedback,
            contract_id,
            "note_refund",
            source_event_id=f"{contract_id}-refund-{n}",
            amount=usd(cents),
            refunded_at=end - SECOND,
        )
    if dispute is not None:
        log.run(
            ContractFeedback,
            contract_id,
            "note_dispute_resolved",
            source_event_id=f"{contract_id}-dispute",
            dispute_id=f"d-{contract_id}",
            released=usd(dispute[0]),
            refunded=usd(dispute[1]),
            resolved_at=end - SECOND,
        )
    log.run(
        ContractFeedback,
        contract_id,
        "note_contract_ended",
        source_event_id=f"{contract_id}-ended",
        ended_at=end,
        end_reason=end_reason,
        settings=settings,
    )
    for actor, given_feedback in ((client, client_feedback), (freelancer, freelancer_feedback)):
        if given_feedback is not None:
            rating, recommend = given_feedback
            criteria = FREELANCER_RATINGS if actor == client else CLIENT_RATINGS
            log.run(
                ContractFeedback,
                contract_id,
                "leave_feedback",
                **feedback_args(
                    actor, end + DAY, rating=rating, recommend=recommend, criteria=dict(criteria)
                ),
            )
    if close:
        log.run(
            ContractFeedback,
            contract_id,
            "close_window",
            now=end + settings.feedback_window_days * DAY,
            settings=settings,
        )
