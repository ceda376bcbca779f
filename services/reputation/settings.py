"""Settings of the reputation service: every window and threshold, with its default.

Windows that an event starts (the feedback window, the reply window, the inactivity limit of a
contract) are copied into that event, so a replay decides with the value that was in force.
The scoring thresholds form the published formula: a score report names the values it used.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FeedbackSettings:
    """Windows of the feedback flow, in whole days."""

    # Days after the contract's end during which either side may leave feedback.
    feedback_window_days: int = 14
    # Days after a feedback is revealed during which the reviewed party may reply once.
    reply_window_days: int = 30
    # A contract whose last payment (or start) is this many days before its end counts as
    # ended by long inactivity.
    inactivity_days: int = 90

    def __post_init__(self):
        for name in ("feedback_window_days", "reply_window_days", "inactivity_days"):
            value = getattr(self, name)
            if type(value) is not int or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")


@dataclass(frozen=True)
class ScoreSettings:
    """The parameters of the published Job Success Score and badge formulas."""

    # Contracts that ended within this many days before the as-of time count (24 months).
    lookback_days: int = 730
    # The score is shown once this many contracts counted, from this many distinct clients.
    min_counted_contracts: int = 5
    min_distinct_clients: int = 3
    # Client's overall rating: at most this is a negative outcome, at least that a positive.
    negative_rating_max: int = 2
    positive_rating_min: int = 4
    # Client's private "would recommend" (0 to 10): at most this is negative, at least that
    # positive (the detractor / promoter bands of a net promoter score).
    detractor_max: int = 6
    promoter_min: int = 9
    # Badges.
    earnings_window_days: int = 365
    violation_window_days: int = 90
    top_rated_min_score: int = 90
    top_rated_min_points: int = 1_000
    top_rated_min_account_days: int = 90
    top_rated_plus_min_points: int = 10_000
    top_rated_plus_min_account_days: int = 365
    rising_talent_min_positive: int = 1

    def __post_init__(self):
        for name, value in self.to_dict().items():
            if type(value) is not int or value < 0:
                raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
        if not 1 <= self.negative_rating_max < self.positive_rating_min <= 5:
            raise ValueError("rating bands must satisfy 1 <= negative max < positive min <= 5")
        if not 0 <= self.detractor_max < self.promoter_min <= 10:
            raise ValueError("recommend bands must satisfy 0 <= detractor max < promoter min")
        if self.lookback_days < 1 or self.min_counted_contracts < 1:
            raise ValueError("lookback_days and min_counted_contracts must be at least 1")

    def to_dict(self) -> dict:
        """The settings as plain JSON, named in every score explanation."""
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


def feedback_settings_from(config: dict) -> FeedbackSettings:
    """The feedback windows in force, from the service's nameko config (whole days)."""
    defaults = FeedbackSettings()
    return FeedbackSettings(
        feedback_window_days=int(config.get("FEEDBACK_WINDOW_DAYS", defaults.feedback_window_days)),
        reply_window_days=int(config.get("REPLY_WINDOW_DAYS", defaults.reply_window_days)),
        inactivity_days=int(config.get("INACTIVITY_DAYS", defaults.inactivity_days)),
    )
