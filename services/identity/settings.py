"""Settings of the identity service: every lifetime and limit the rules depend on.

Each lifetime in force is recorded in the event that starts it (``SessionStarted``,
``EmailVerificationRequested``, ``SigningKeyActivated``), so a replay decides the same way
after the configuration changes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from shared.money import Money


@dataclass(frozen=True)
class IdentitySettings:
    """Configuration of the identity rules, with the defaults in force when none is given.

    - ``access_token_lifetime``: how long an access token is accepted (15 minutes).
    - ``refresh_token_lifetime``: how long each refresh token may be used, counted from its
      issue; every refresh issues a new one (30 days).
    - ``email_verification_lifetime``: how long an emailed verification code works (24 hours).
    - ``key_retirement_grace``: extra time a retired signing key stays published after the
      last token it signed has expired, to absorb clock skew between services (60 seconds).
    - ``password_min_length`` / ``password_max_length``: password length bounds (10 / 128).
    - ``max_skills``: skills on a freelancer profile (15).
    - ``min_hourly_rate`` / ``max_hourly_rate``: bounds of a freelancer's hourly rate, and
      their currency is the only one a rate may be quoted in (3.00 USD / 999.99 USD).
    """

    access_token_lifetime: timedelta = timedelta(minutes=15)
    refresh_token_lifetime: timedelta = timedelta(days=30)
    email_verification_lifetime: timedelta = timedelta(hours=24)
    key_retirement_grace: timedelta = timedelta(seconds=60)
    password_min_length: int = 10
    password_max_length: int = 128
    max_skills: int = 15
    min_hourly_rate: Money = field(default_factory=lambda: Money(300, "USD"))
    max_hourly_rate: Money = field(default_factory=lambda: Money(99_999, "USD"))

    def __post_init__(self):
        for name in (
            "access_token_lifetime",
            "refresh_token_lifetime",
            "email_verification_lifetime",
        ):
            if getattr(self, name) <= timedelta(0):
                raise ValueError(f"{name} must be positive")
        if self.key_retirement_grace < timedelta(0):
            raise ValueError("key_retirement_grace must not be negative")
        if not 1 <= self.password_min_length <= self.password_max_length:
            raise ValueError("password length bounds are inconsistent")
        if self.min_hourly_rate.currency != self.max_hourly_rate.currency:
            raise ValueError("hourly rate bounds must share a currency")
        if not 0 < self.min_hourly_rate.amount <= self.max_hourly_rate.amount:
            raise ValueError("hourly rate bounds are inconsistent")


DEFAULT_SETTINGS = IdentitySettings()


def seconds(delta: timedelta) -> int:
    """A lifetime as whole seconds, the form recorded in events."""
    return int(delta.total_seconds())
