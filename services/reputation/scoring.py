"""The Job Success Score: a published, deterministic formula over reputation's histories.

Integer arithmetic only, so any replay of the same events gives the identical score. The
formula is written out in this folder's README.md; this module is its only implementation.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from services.reputation.domain import CLIENT
from services.reputation.projections import ContractHistory, MoneyFact
from services.reputation.settings import ScoreSettings
from shared.clock import iso

FORMULA_VERSION = "jss-1"
POSITIVE, NEGATIVE, NEUTRAL = "positive", "negative", "neutral"

# Earnings are weighed in points, a fixed nominal unit (not an exchange rate: the platform
# has none, and a score must not move with one): this many minor units make one point.
MINOR_UNITS_PER_POINT = {"USD": 100, "EUR": 100, "GBP": 100, "CAD": 100, "AUD": 100, "JPY": 100}
# (lowest points, tier): a contract's earnings tier is the last row whose floor it reaches.
EARNINGS_TIERS = ((0, 1), (100, 2), (1_000, 3), (10_000, 4))
# (lowest days, tier) for the contract's duration from start to end.
DURATION_TIERS = ((0, 1), (30, 2), (180, 3))


def earnings_points(payments: Iterable[MoneyFact]) -> int:
    """Points earned by ``payments``: per currency, the total in minor units floor-divided
    by that currency's minor units per point, summed over currencies."""
    totals: dict[str, int] = {}
    for payment in payments:
        currency = payment.amount.currency
        totals[currency] = totals.get(currency, 0) + payment.amount.amount
    return sum(total // MINOR_UNITS_PER_POINT[cur] for cur, total in sorted(totals.items()))


def _tier(value: int, tiers: tuple[tuple[int, int], ...]) -> int:
    chosen = tiers[0][1]
    for floor, tier in tiers:
        if value >= floor:
            chosen = tier
    return chosen


def contract_weight(points: int, duration_days: int) -> tuple[int, int, int]:
    """(weight, earnings tier, duration tier); weight = earnings tier + duration tier."""
    earnings_tier = _tier(points, EARNINGS_TIERS)
    duration_tier = _tier(duration_days, DURATION_TIERS)
    return earnings_tier + duration_tier, earnings_tier, duration_tier


@dataclass(frozen=True)
class ContractOutcome:
    """The outcome of one ended contract for its freelancer, with the signals that decided."""

    outcome: str
    negative_signals: tuple[str, ...]
    positive_signals: tuple[str, ...]


def contract_outcome(
    history: ContractHistory, as_of: datetime, settings: ScoreSettings
) -> ContractOutcome:
    """Classify an ended contract as known at ``as_of``.

    Negative if any of: a dispute the freelancer lost, a refund with nothing paid, long
    inactivity, or the client's revealed feedback with a low rating or a detractor's
    recommendation. Otherwise positive if the client's revealed feedback has a high rating
    or a promoter's recommendation. Otherwise neutral (not counted). The client's feedback
    counts only once revealed, so a score never leaks a feedback the freelancer cannot see.
    """
    negative: list[str] = []
    positive: list[str] = []
    if any(d.freelancer_lost for d in history.disputes_by(as_of)):
        negative.append("dispute_lost")
    paid = history.payments_by(as_of)
    if history.refunds_by(as_of) and not paid:
        negative.append("refunded_unpaid")
    if _inactive(history):
        negative.append("long_inactivity")
    feedback = history.feedback.get(CLIENT)
    if feedback is not None and feedback.revealed_by(as_of):
        recommend = feedback.private["would_recommend"]
        if feedback.rating <= settings.negative_rating_max:
            negative.append("low_rating")
        elif feedback.rating >= settings.positive_rating_min:
            positive.append("high_rating")
        if recommend <= settings.detractor_max:
            negative.append("not_recommended")
        elif recommend >= settings.promoter_min:
            positive.append("recommended")
    if negative:
        outcome = NEGATIVE
    elif positive:
        outcome = POSITIVE
    else:
        outcome = NEUTRAL
    return ContractOutcome(outcome, tuple(negative), tuple(positive))


def _inactive(history: ContractHistory) -> bool:
    """Ended for inactivity, or nothing was paid for the recorded inactivity limit before
    the end (the limit in force when the contract started)."""
    if history.end_reason == "inactivity":
        return True
    activity = [history.started_at] + [p.at for p in history.payments if p.at <= history.ended_at]
    idle = history.ended_at - max(activity)
    return idle >= timedelta(days=history.inactivity_days)


def _half_up_percent(part: int, whole: int) -> int:
    """round(100 * part / whole), halves rounded up, in integers."""
    return (200 * part + whole) // (2 * whole)


@dataclass
class ScoreReport:
    """A freelancer's Job Success Score at ``as_of`` with its full explanation."""

    freelancer_id: str
    as_of: datetime
    score: int | None
    counted_contracts: int
    distinct_clients: int
    positive_weight: int
    negative_weight: int
    contracts: list[dict] = field(default_factory=list)
    settings: dict = field(default_factory=dict)

    @property
    def shown(self) -> bool:
        return self.score is not None

    @property
    def positive_outcomes(self) -> int:
        return sum(1 for c in self.contracts if c["counted"] and c["outcome"] == POSITIVE)

    @property
    def negative_outcomes(self) -> int:
        return sum(1 for c in self.contracts if c["counted"] and c["outcome"] == NEGATIVE)

    def summary(self) -> dict:
        """What ``get_score`` returns: the score (None until enough history) and counts."""
        return {
            "freelancer_id": self.freelancer_id,
            "as_of": iso(self.as_of),
            "score": self.score,
            "shown": self.shown,
            "counted_contracts": self.counted_contracts,
            "distinct_clients": self.distinct_clients,
            "formula_version": FORMULA_VERSION,
        }

    def explanation(self) -> dict:
        """What ``explain_score`` returns: the summary, the weights and every contract."""
        body = self.summary()
        body.update(
            positive_weight=self.positive_weight,
            negative_weight=self.negative_weight,
            contracts=self.contracts,
            settings=self.settings,
        )
        return body


def _event_ids(history: ContractHistory, as_of: datetime) -> tuple[list[str], list[str]]:
    """Reputation's event ids and the source services' event ids behind a contract."""
    ids = [history.tracked_event_id, history.ended_event_id]
    sources = [history.tracked_source_event_id, history.ended_source_event_id]
    for fact in history.payments_by(as_of) + history.refunds_by(as_of):
        ids.append(fact.event_id)
        sources.append(fact.source_event_id)
    for dispute in history.disputes_by(as_of):
        ids.append(dispute.event_id)
        sources.append(dispute.source_event_id)
    feedback = history.feedback.get(CLIENT)
    if feedback is not None and feedback.revealed_by(as_of):
        ids += [feedback.event_id, feedback.reveal_event_id]
    return ids, sources


def job_success_score(
    freelancer_id: str,
    histories: Iterable[ContractHistory],
    as_of: datetime,
    settings: ScoreSettings,
) -> ScoreReport:
    """The Job Success Score of ``freelancer_id`` as of ``as_of``.

    Contracts count when the freelancer was on them, they ended in the lookback window
    ``(as_of - lookback_days, as_of]`` and their outcome is positive or negative. Each
    weighs (earnings tier + duration tier). The score is the positive share of the counted
    weight, in whole percent rounded half up, shown only once ``min_counted_contracts``
    counted from ``min_distinct_clients`` distinct clients.
    """
    window_start = as_of - timedelta(days=settings.lookback_days)
    rows: list[dict] = []
    positive_weight = negative_weight = 0
    clients: set[str] = set()
    mine = [
        h
        for h in histories
        if h.freelancer_id == freelancer_id and h.ended_by(as_of) and h.ended_at > window_start
    ]
    for history in sorted(mine, key=lambda h: (h.ended_at, h.contract_id)):
        result = contract_outcome(history, as_of, settings)
        points = earnings_points(history.payments_by(as_of))
        duration_days = (history.ended_at - history.started_at).days
        weight, earnings_tier, duration_tier = contract_weight(points, duration_days)
        counted = result.outcome != NEUTRAL
        if result.outcome == POSITIVE:
            positive_weight += weight
        elif result.outcome == NEGATIVE:
            negative_weight += weight
        if counted:
            clients.add(history.client_id)
        event_ids, source_event_ids = _event_ids(history, as_of)
        rows.append(
            {
                "contract_id": history.contract_id,
                "client_id": history.client_id,
                "ended_at": iso(history.ended_at),
                "counted": counted,
                "outcome": result.outcome,
                "negative_signals": list(result.negative_signals),
                "positive_signals": list(result.positive_signals),
                "earnings_points": points,
                "duration_days": duration_days,
                "earnings_tier": earnings_tier,
                "duration_tier": duration_tier,
                "weight": weight if counted else 0,
                "event_ids": event_ids,
                "source_event_ids": source_event_ids,
            }
        )
    counted_contracts = sum(1 for row in rows if row["counted"])
    total = positive_weight + negative_weight
    enough = (
        counted_contracts >= settings.min_counted_contracts
        and len(clients) >= settings.min_distinct_clients
    )
    score = _half_up_percent(positive_weight, total) if enough and total else None
    return ScoreReport(
        freelancer_id=freelancer_id,
        as_of=as_of,
        score=score,
        counted_contracts=counted_contracts,
        distinct_clients=len(clients),
        positive_weight=positive_weight,
        negative_weight=negative_weight,
        contracts=rows,
        settings=settings.to_dict(),
    )
