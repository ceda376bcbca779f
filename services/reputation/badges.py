"""Badges by published criteria: Rising Talent, Top Rated, Top Rated Plus.

A freelancer holds at most one badge, the highest whose every criterion passes at ``as_of``.
Each criterion is reported with what it requires, what was found and whether it passed, so
a badge (or its absence) explains itself.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from services.reputation.domain import FREELANCER
from services.reputation.projections import ContractHistory, MemberHistory
from services.reputation.scoring import ScoreReport, earnings_points
from services.reputation.settings import ScoreSettings
from shared.clock import iso

RISING_TALENT, TOP_RATED, TOP_RATED_PLUS = "rising_talent", "top_rated", "top_rated_plus"
BADGE_ORDER = (TOP_RATED_PLUS, TOP_RATED, RISING_TALENT)  # highest first


def _criterion(name: str, required: object, actual: object, passed: bool) -> dict:
    return {"name": name, "required": required, "actual": actual, "passed": passed}


def recent_earnings_points(
    freelancer_id: str, histories: Iterable[ContractHistory], as_of: datetime, days: int
) -> int:
    """Points paid to the freelancer in ``(as_of - days, as_of]`` on any contract."""
    start = as_of - timedelta(days=days)
    payments = [
        p
        for h in histories
        if h.freelancer_id == freelancer_id
        for p in h.payments
        if start < p.at <= as_of
    ]
    return earnings_points(payments)


def has_recent_violation(member: MemberHistory | None, as_of: datetime, days: int) -> bool:
    """Suspended at ``as_of``, or suspended at any time in ``(as_of - days, as_of]``."""
    if member is None:
        return False
    start = as_of - timedelta(days=days)
    return member.suspended_at(as_of) or any(start < s.at <= as_of for s in member.suspensions)


def evaluate_badges(
    member: MemberHistory | None,
    histories: Iterable[ContractHistory],
    score: ScoreReport,
    settings: ScoreSettings,
) -> dict:
    """The badge a freelancer holds at ``score.as_of`` and every criterion behind it."""
    as_of = score.as_of
    histories = list(histories)
    is_freelancer = member is not None and FREELANCER in member.roles
    account_days = (
        (as_of - member.registered_at).days
        if member is not None and member.registered_at is not None and member.registered_at <= as_of
        else None
    )
    points = recent_earnings_points(
        score.freelancer_id, histories, as_of, settings.earnings_window_days
    )
    violation = has_recent_violation(member, as_of, settings.violation_window_days)
    common = [
        _criterion("freelancer_account", True, is_freelancer, is_freelancer),
        _criterion(
            "no_recent_violation",
            f"none in {settings.violation_window_days} days",
            "violation" if violation else "none",
            not violation,
        ),
    ]

    def top_rated(min_points: int, min_days: int) -> list[dict]:
        return common + [
            _criterion(
                "job_success_score",
                settings.top_rated_min_score,
                score.score,
                score.shown and score.score >= settings.top_rated_min_score,
            ),
            _criterion(
                f"earnings_points_{settings.earnings_window_days}_days",
                min_points,
                points,
                points >= min_points,
            ),
            _criterion(
                "account_age_days",
                min_days,
                account_days,
                account_days is not None and account_days >= min_days,
            ),
        ]

    criteria = {
        TOP_RATED_PLUS: top_rated(
            settings.top_rated_plus_min_points, settings.top_rated_plus_min_account_days
        ),
        TOP_RATED: top_rated(settings.top_rated_min_points, settings.top_rated_min_account_days),
        RISING_TALENT: common
        + [
            _criterion(
                "positive_outcomes",
                settings.rising_talent_min_positive,
                score.positive_outcomes,
                score.positive_outcomes >= settings.rising_talent_min_positive,
            ),
            _criterion(
                "negative_outcomes", 0, score.negative_outcomes, score.negative_outcomes == 0
            ),
        ],
    }
    badge = next((b for b in BADGE_ORDER if all(c["passed"] for c in criteria[b])), None)
    return {
        "freelancer_id": score.freelancer_id,
        "as_of": iso(as_of),
        "badge": badge,
        "criteria": criteria,
    }
