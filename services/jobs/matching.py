"""Best matches: open jobs ranked for one freelancer, each with the reasons for its score.

The score is an integer out of the sum of ``MatchSettings`` points (100 by default):
skill overlap, hourly-rate fit, experience level and recency. Integer arithmetic only, so
the same inputs give the same ranking everywhere.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from services.jobs.domain import EXPERIENCE_LEVELS, Actor
from services.jobs.projections import row_visible_to
from services.jobs.settings import MatchSettings
from shared.money import Money


@dataclass(frozen=True)
class FreelancerProfile:
    """What matching needs of a freelancer's profile (kept from identity's events)."""

    user_id: str
    skills: frozenset[str] = field(default_factory=frozenset)
    hourly_rate: Money | None = None
    experience_level: str | None = None


@dataclass(frozen=True)
class Match:
    """One recommended job: its score and one reason per factor."""

    job_id: str
    score: int
    reasons: tuple[dict, ...]

    def to_dict(self) -> dict:
        """JSON form for ``recommend_jobs``."""
        return {"job_id": self.job_id, "score": self.score, "reasons": list(self.reasons)}


def _reason(factor: str, points: int, max_points: int, detail: str) -> dict:
    return {"factor": factor, "points": points, "max_points": max_points, "detail": detail}


def skill_reason(job_skills: list[str], freelancer: FreelancerProfile, points: int) -> dict:
    """Points for the share of the job's skills the freelancer has (case ignored)."""
    mine = {s.casefold() for s in freelancer.skills}
    shared = [s for s in job_skills if s.casefold() in mine]
    earned = points * len(shared) // len(job_skills) if job_skills else 0
    if shared:
        detail = f"You have {len(shared)} of {len(job_skills)} skills: {', '.join(shared)}"
    else:
        detail = f"You have none of the {len(job_skills)} skills asked for"
    return _reason("skills", earned, points, detail)


def rate_reason(budget: Mapping[str, Any], freelancer: FreelancerProfile, points: int) -> dict:
    """Points for how the freelancer's hourly rate fits an hourly job's range.

    Inside or below the range: all points. Above the max: falling linearly to zero at twice
    the max. Fixed-price jobs, or no rate on the profile: half the points (no evidence
    either way). Another currency: none, since the rate cannot be compared.
    """
    rate = freelancer.hourly_rate
    if budget["type"] != "hourly":
        return _reason("rate", points // 2, points, "Fixed-price job: hourly rate not compared")
    low, high = Money.from_dict(budget["min"]), Money.from_dict(budget["max"])
    if rate is None:
        return _reason("rate", points // 2, points, "No hourly rate on your profile")
    if rate.currency != high.currency:
        return _reason(
            "rate", 0, points, f"Budget is in {high.currency}, your rate in {rate.currency}"
        )
    if rate <= high:
        where = "below" if rate < low else "within"
        return _reason(
            "rate", points, points, f"Your rate {rate} is {where} the range {low} to {high}"
        )
    over = rate.amount - high.amount
    earned = max(0, points * (high.amount - over) // high.amount)
    return _reason("rate", earned, points, f"Your rate {rate} is above the max {high}")


def experience_reason(level: str, freelancer: FreelancerProfile, points: int) -> dict:
    """Points for the freelancer's level against the one asked for.

    Equal: all; one level above: two thirds; two above or one below: one third; two below:
    none. No level on the profile: half.
    """
    if freelancer.experience_level not in EXPERIENCE_LEVELS:
        return _reason("experience", points // 2, points, f"Client asks for {level} level")
    gap = EXPERIENCE_LEVELS.index(freelancer.experience_level) - EXPERIENCE_LEVELS.index(level)
    share = {0: 3, 1: 2, 2: 1, -1: 1, -2: 0}[gap]
    words = {
        0: f"Client asks for {level} level, as you are",
        1: f"Client asks for {level} level; you are more experienced",
        2: f"Client asks for {level} level; you are far more experienced",
        -1: f"Client asks for {level} level; one above yours",
        -2: f"Client asks for {level} level; two above yours",
    }
    return _reason("experience", points * share // 3, points, words[gap])


def recency_reason(published_at: datetime, now: datetime, settings: MatchSettings) -> dict:
    """Points falling linearly from all (just posted) to none at ``recency_window``."""
    points = settings.recency_points
    age = max(0, int((now - published_at).total_seconds()))
    window = int(settings.recency_window.total_seconds())
    earned = points * max(0, window - age) // window
    hours = age // 3600
    detail = f"Posted {hours // 24} days ago" if hours >= 24 else f"Posted {hours} hours ago"
    return _reason("recency", earned, points, detail)


def score_job(
    row: Mapping[str, Any],
    freelancer: FreelancerProfile,
    now: datetime,
    settings: MatchSettings = MatchSettings(),
) -> Match:
    """Score one ``job_search`` row for ``freelancer``."""
    reasons = (
        skill_reason(row["skills"], freelancer, settings.skill_points),
        rate_reason(row["budget"], freelancer, settings.rate_points),
        experience_reason(row["experience_level"], freelancer, settings.experience_points),
        recency_reason(row["published_at"], now, settings),
    )
    return Match(row["job_id"], sum(r["points"] for r in reasons), reasons)


def best_matches(
    rows: Iterable[Mapping[str, Any]],
    freelancer: FreelancerProfile,
    now: datetime,
    limit: int,
    settings: MatchSettings = MatchSettings(),
) -> list[Match]:
    """The ``limit`` best open jobs for ``freelancer``, best first.

    Leaves out jobs that are not open, whose client is suspended, that the freelancer may
    not see, that the freelancer posted, or that share fewer than
    ``settings.min_skill_overlap`` skills. Ties go to the newer job, then the job id.
    """
    viewer = Actor(freelancer.user_id, frozenset({"freelancer"}))
    mine = {s.casefold() for s in freelancer.skills}
    scored = []
    for row in rows:
        if row["status"] != "open" or row["client_suspended"]:
            continue
        if row["client_id"] == freelancer.user_id or not row_visible_to(row, viewer):
            continue
        overlap = sum(1 for s in row["skills"] if s.casefold() in mine)
        if overlap < settings.min_skill_overlap:
            continue
        scored.append((score_job(row, freelancer, now, settings), row["published_at"]))
    # Stable sorts, least significant key first: job id, then newer first, then best first.
    scored.sort(key=lambda item: item[0].job_id)
    scored.sort(key=lambda item: item[1], reverse=True)
    scored.sort(key=lambda item: item[0].score, reverse=True)
    return [match for match, _ in scored[:limit]]
