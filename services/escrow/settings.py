"""Configuration of escrow: the fee schedule and every time window.

Values here are *inputs*: a command that starts a window reads its length from the
settings passed in and records the resulting due time in its event, so replaying the log
after the configuration changes decides exactly as before.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from types import MappingProxyType

from shared.money import CURRENCIES, Money


def _default_minimum_funding() -> MappingProxyType:
    # Five major units in every currency the platform settles in (JPY has no minor unit).
    return MappingProxyType({cur: 5 * 10**digits for cur, digits in CURRENCIES.items()})


@dataclass(frozen=True)
class FeeSchedule:
    """Fees in basis points (1000 = 10%), recorded on the contract when it opens.

    ``freelancer_fee_bps`` is taken from every gross payment to the freelancer;
    ``client_fee_bps`` is charged to the client on top of every funding, invoice and bonus
    (a marketplace fee; not refunded when escrow is refunded).
    """

    freelancer_fee_bps: int = 1000
    client_fee_bps: int = 0

    def __post_init__(self):
        for name in ("freelancer_fee_bps", "client_fee_bps"):
            value = getattr(self, name)
            if type(value) is not int or not 0 <= value <= 10000:
                raise ValueError(f"{name} must be an integer between 0 and 10000")

    def to_dict(self) -> dict:
        return {
            "freelancer_fee_bps": self.freelancer_fee_bps,
            "client_fee_bps": self.client_fee_bps,
        }

    @classmethod
    def from_dict(cls, data: dict) -> FeeSchedule:
        return cls(data["freelancer_fee_bps"], data["client_fee_bps"])


@dataclass(frozen=True)
class EscrowSettings:
    """Every window of escrow, with the defaults of the platform.

    - ``auto_approve_after`` (14 days): client silence after a submission before the
      milestone is approved automatically.
    - ``security_period`` (5 days): from a fixed-price release or a bonus to the money
      becoming available to withdraw.
    - ``refund_response_period`` (7 days): the freelancer's time to accept or dispute a
      refund request; silence means the refund goes through.
    - Hourly weeks run Monday 00:00 to Sunday 23:59:59 UTC. Measured from the end of the
      week (the next Monday 00:00): ``hourly_invoice_delay`` (12 hours; time may be edited
      until then, and the invoice is due then, Monday 12:00), ``hourly_review_period``
      (5 days; the client may dispute until Friday 23:59:59), ``hourly_available_after``
      (9 days; the money becomes available on the following Wednesday 00:00).
    - ``minimum_funding``: the smallest milestone amount that may be funded, per currency,
      in minor units (default five major units).
    """

    auto_approve_after: timedelta = timedelta(days=14)
    security_period: timedelta = timedelta(days=5)
    refund_response_period: timedelta = timedelta(days=7)
    hourly_invoice_delay: timedelta = timedelta(hours=12)
    hourly_review_period: timedelta = timedelta(days=5)
    hourly_available_after: timedelta = timedelta(days=9)
    minimum_funding: MappingProxyType = field(default_factory=_default_minimum_funding)

    def __post_init__(self):
        windows = (
            self.auto_approve_after,
            self.security_period,
            self.refund_response_period,
            self.hourly_invoice_delay,
            self.hourly_review_period,
            self.hourly_available_after,
        )
        if any(w < timedelta(0) for w in windows):
            raise ValueError("escrow windows must not be negative")
        if self.hourly_review_period < self.hourly_invoice_delay:
            raise ValueError("the hourly review must end after the invoice")
        if self.hourly_available_after < self.hourly_review_period:
            raise ValueError("hourly money cannot be available before its review ends")

    def minimum_for(self, currency: str) -> Money:
        """The minimum funding in ``currency`` (zero when none is configured)."""
        return Money(int(self.minimum_funding.get(currency, 0)), currency)


DEFAULT_SETTINGS = EscrowSettings()
DEFAULT_FEES = FeeSchedule()
