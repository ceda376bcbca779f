"""Calendar and billing arithmetic of hourly weeks: pure functions, no state."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from shared.money import Money

WEEK = timedelta(days=7)


def week_start(moment: datetime) -> datetime:
    """Monday 00:00:00 UTC of the week holding ``moment``."""
    utc = moment.astimezone(UTC)
    midnight = utc.replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight - timedelta(days=utc.weekday())


def week_end(start: datetime) -> datetime:
    """The instant the week starting at ``start`` is over (the next Monday 00:00 UTC)."""
    return start + WEEK


def minutes_between(start: datetime, end: datetime) -> int:
    """Whole minutes from ``start`` to ``end`` (both on whole minutes)."""
    return int((end - start).total_seconds()) // 60


def invoice_amount(hourly_rate: Money, minutes: int) -> Money:
    """The rate times the hours, computed once per week and rounded half up to a minor unit.

    Billing the week's total (not each segment) keeps the rounding to one step.
    """
    return Money((hourly_rate.amount * minutes + 30) // 60, hourly_rate.currency)
