"""escrow's configuration, read from the nameko config: fees, windows and the timer.

Every window is a number of seconds under its own key, so an operator can shorten one
without touching code. The values in force are recorded in the events that start windows.
"""

from __future__ import annotations

from datetime import timedelta
from types import MappingProxyType

from nameko.extensions import DependencyProvider
from nameko.timer import Timer

from shared.config import flag
from shared.money import CURRENCIES

from .settings import DEFAULT_SETTINGS, EscrowSettings, FeeSchedule

_WINDOWS = {
    "auto_approve_after": "ESCROW_AUTO_APPROVE_AFTER_SECONDS",
    "security_period": "ESCROW_SECURITY_PERIOD_SECONDS",
    "refund_response_period": "ESCROW_REFUND_RESPONSE_SECONDS",
    "hourly_invoice_delay": "ESCROW_HOURLY_INVOICE_DELAY_SECONDS",
    "hourly_review_period": "ESCROW_HOURLY_REVIEW_SECONDS",
    "hourly_available_after": "ESCROW_HOURLY_AVAILABLE_AFTER_SECONDS",
}


def _minimum_funding(text: str | None) -> MappingProxyType:
    """``"USD=500,EUR=500"`` (minor units) over the defaults; unknown currencies refused."""
    minimums = dict(DEFAULT_SETTINGS.minimum_funding)
    for item in (text or "").split(","):
        if not item.strip():
            continue
        currency, _, amount = item.partition("=")
        currency = currency.strip().upper()
        if currency not in CURRENCIES:
            raise ValueError(f"ESCROW_MINIMUM_FUNDING names an unknown currency {currency!r}")
        minimums[currency] = int(amount)
    return MappingProxyType(minimums)


def settings_from_config(config: dict) -> EscrowSettings:
    """The ``EscrowSettings`` of a nameko config (defaults for missing keys)."""
    windows = {
        name: timedelta(seconds=int(config[key]))
        for name, key in _WINDOWS.items()
        if config.get(key) not in (None, "")
    }
    return EscrowSettings(
        **windows, minimum_funding=_minimum_funding(config.get("ESCROW_MINIMUM_FUNDING"))
    )


def fees_from_config(config: dict) -> FeeSchedule:
    """The fee schedule that new contracts record."""
    return FeeSchedule(
        freelancer_fee_bps=int(config.get("ESCROW_FREELANCER_FEE_BPS", 1000)),
        client_fee_bps=int(config.get("ESCROW_CLIENT_FEE_BPS", 0)),
    )


class EscrowConfig(DependencyProvider):
    """Gives workers the parsed settings: ``self.config.settings``, ``self.config.fees``."""

    def setup(self):
        self.settings = settings_from_config(self.container.config)
        self.fees = fees_from_config(self.container.config)
        self.sandbox_enabled = flag(self.container.config, "PAYMENTS_SANDBOX")

    def get_dependency(self, worker_ctx) -> EscrowConfig:
        return self


class ConfiguredTimer(Timer):
    """nameko's timer with its interval from config ``TIMER_INTERVAL`` (seconds, default 1)."""

    def __init__(self, **kwargs):
        super().__init__(interval=1.0, **kwargs)

    def setup(self):
        self.interval = float(self.container.config.get("TIMER_INTERVAL", 1.0))
        super().setup()


configured_timer = ConfiguredTimer.decorator
