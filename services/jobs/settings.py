"""Settings of the jobs service's rules: every window and limit is configuration.

The windows' values in force are copied into the events that start them (``expires_at``,
``expiry_warning_at``), so replaying a job decides the same way after these change.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any


@dataclass(frozen=True)
class JobSettings:
    """Rules of the Job and SavedSearches aggregates.

    - ``expire_after`` (30 days): an open job with no activity for this long expires.
      Activity is publishing, an edit, an invitation or a proposal received.
    - ``warn_before`` (5 days): the client is told this long before the job expires.
    - ``max_invitations_per_job`` (30): invitations a job may send in its life.
    - ``max_saved_searches`` (25): saved searches one user may keep.
    """

    expire_after: timedelta = timedelta(days=30)
    warn_before: timedelta = timedelta(days=5)
    max_invitations_per_job: int = 30
    max_saved_searches: int = 25

    def __post_init__(self):
        if self.expire_after <= timedelta(0):
            raise ValueError("expire_after must be positive")
        if not timedelta(0) < self.warn_before < self.expire_after:
            raise ValueError("warn_before must be positive and shorter than expire_after")
        if self.max_invitations_per_job < 1 or self.max_saved_searches < 1:
            raise ValueError("limits must be at least 1")


@dataclass(frozen=True)
class MatchSettings:
    """Weights of the best-matches score (points out of their sum, 100 by default).

    - ``skill_points`` (50): all of the job's skills held by the freelancer.
    - ``rate_points`` (25): the freelancer's hourly rate inside the job's hourly range.
    - ``experience_points`` (15): the freelancer's level equals the one asked for.
    - ``recency_points`` (10): posted just now, falling linearly to 0 at ``recency_window``.
    - ``recency_window`` (14 days).
    - ``min_skill_overlap`` (1): jobs sharing fewer skills are not recommended at all.
    """

    skill_points: int = 50
    rate_points: int = 25
    experience_points: int = 15
    recency_points: int = 10
    recency_window: timedelta = timedelta(days=14)
    min_skill_overlap: int = 1

    def __post_init__(self):
        points = (self.skill_points, self.rate_points, self.experience_points, self.recency_points)
        if any(p < 0 for p in points) or sum(points) == 0:
            raise ValueError("match weights must be non-negative and not all zero")
        if self.recency_window <= timedelta(0):
            raise ValueError("recency_window must be positive")
        if self.min_skill_overlap < 0:
            raise ValueError("min_skill_overlap must not be negative")


def job_settings_from_config(config: Mapping[str, Any]) -> JobSettings:
    """JobSettings from the service's nameko config (``JOB_EXPIRE_AFTER_SECONDS``,
    ``JOB_WARN_BEFORE_SECONDS``, ``MAX_INVITATIONS_PER_JOB``, ``MAX_SAVED_SEARCHES``)."""
    defaults = JobSettings()
    return JobSettings(
        expire_after=timedelta(
            seconds=int(
                config.get("JOB_EXPIRE_AFTER_SECONDS", defaults.expire_after.total_seconds())
            )
        ),
        warn_before=timedelta(
            seconds=int(config.get("JOB_WARN_BEFORE_SECONDS", defaults.warn_before.total_seconds()))
        ),
        max_invitations_per_job=int(
            config.get("MAX_INVITATIONS_PER_JOB", defaults.max_invitations_per_job)
        ),
        max_saved_searches=int(config.get("MAX_SAVED_SEARCHES", defaults.max_saved_searches)),
    )
