"""Bidding's configuration: every window, price and rate card in one frozen dataclass.

Each value that opens a window or prices something is copied into the event that uses it
(``validity_days`` in a lot, ``rate_card`` in a spend, ``auction_days`` in a listing,
``validity_days`` in an offer), so replaying old events decides the same way after the
configuration changes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from shared.money import Money


@dataclass(frozen=True)
class BudgetBand:
    """One row of the rate card: what a proposal costs on jobs whose budget falls here.

    A fixed-price job falls in the first band whose ``fixed_up_to`` is None or at least the
    job's budget; an hourly job in the first band whose ``hourly_up_to`` is None or at least
    the job's top hourly rate. Bounds are inclusive, in minor units of ``currency``.
    """

    name: str
    connects: int
    fixed_up_to: int | None
    hourly_up_to: int | None

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "connects": self.connects,
            "fixed_up_to": self.fixed_up_to,
            "hourly_up_to": self.hourly_up_to,
        }


# Connects per proposal by the job's budget, in US cents. Jobs whose budget is in another
# currency, or that state no budget, fall in the "unspecified" band: converting currencies
# here would make the price depend on an exchange rate that a replay could not reproduce.
DEFAULT_RATE_CARD: tuple[BudgetBand, ...] = (
    BudgetBand("small", connects=2, fixed_up_to=100_00, hourly_up_to=15_00),
    BudgetBand("medium", connects=4, fixed_up_to=500_00, hourly_up_to=30_00),
    BudgetBand("large", connects=8, fixed_up_to=2_000_00, hourly_up_to=60_00),
    BudgetBand("very_large", connects=16, fixed_up_to=None, hourly_up_to=None),
)
UNSPECIFIED_BAND = BudgetBand("unspecified", connects=4, fixed_up_to=None, hourly_up_to=None)

# Bundle size (connects) -> price. US$0.15 a connect.
DEFAULT_BUNDLES: dict[int, Money] = {
    10: Money(150, "USD"),
    20: Money(300, "USD"),
    40: Money(600, "USD"),
    60: Money(900, "USD"),
    80: Money(1200, "USD"),
}


@dataclass(frozen=True)
class BiddingSettings:
    """Bidding's settings, with the defaults the platform runs on.

    - ``monthly_free_connects`` (10): connects granted to each freelancer per calendar month.
    - ``connects_validity_days`` (365): a lot of connects expires this long after receipt.
    - ``bundles``: connects bundles on sale and their prices.
    - ``max_connects_balance`` (1000): a purchase may not take the balance above this.
    - ``rate_card`` / ``rate_card_currency`` / ``unspecified_band``: proposal cost by budget.
    - ``max_boost`` (100): the most extra connects one proposal may bid.
    - ``pinned_slots`` (4): how many boosted proposals are pinned first and pay their boost.
    - ``boost_auction_days`` (7): the boost auction ends this long after the job is listed.
    - ``offer_validity_days`` (30): a pending offer expires this long after it is sent.
    - ``service_fee_bps`` (1000): the freelancer service fee shown on a proposal (10 %).
    - ``refund_outcomes``: job close outcomes that refund proposals' connects when nobody
      was hired (cancelled, removed).
    - ``max_milestones`` (20): milestones in a proposal or an offer.
    """

    monthly_free_connects: int = 10
    connects_validity_days: int = 365
    bundles: dict[int, Money] = field(default_factory=lambda: dict(DEFAULT_BUNDLES))
    max_connects_balance: int = 1000
    rate_card: tuple[BudgetBand, ...] = DEFAULT_RATE_CARD
    rate_card_currency: str = "USD"
    unspecified_band: BudgetBand = UNSPECIFIED_BAND
    max_boost: int = 100
    pinned_slots: int = 4
    boost_auction_days: int = 7
    offer_validity_days: int = 30
    service_fee_bps: int = 1000
    refund_outcomes: frozenset[str] = frozenset({"cancelled", "removed"})
    max_milestones: int = 20

    def __post_init__(self):
        # A misconfigured window or price should stop the service at start, not at the
        # first proposal.
        for name in (
            "connects_validity_days",
            "boost_auction_days",
            "offer_validity_days",
            "pinned_slots",
            "max_milestones",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        if self.monthly_free_connects < 0 or self.max_boost < 0:
            raise ValueError("connects settings must not be negative")
        if not 0 <= self.service_fee_bps <= 10000:
            raise ValueError("service_fee_bps must be within 0..10000")
        if not self.rate_card or self.rate_card[-1].fixed_up_to is not None:
            raise ValueError("the rate card's last band must be unbounded")
        if self.rate_card[-1].hourly_up_to is not None:
            raise ValueError("the rate card's last band must be unbounded")
        for size, price in self.bundles.items():
            if size < 1 or price.amount < 0:
                raise ValueError("bundles must be positive sizes with non-negative prices")

    def rate_card_dict(self) -> dict:
        """The rate card as plain JSON, as recorded in each spend."""
        return {
            "currency": self.rate_card_currency,
            "bands": [band.to_dict() for band in self.rate_card],
            "unspecified": self.unspecified_band.to_dict(),
        }


def budget_band(budget: dict | None, settings: BiddingSettings) -> BudgetBand:
    """The rate-card band of a job budget (the ``budget`` dict of a listing).

    ``budget`` is ``{"kind": "fixed", "amount": Money dict}`` or
    ``{"kind": "hourly", "min_rate": Money dict | None, "max_rate": Money dict | None}``.
    """
    if not budget:
        return settings.unspecified_band
    if budget["kind"] == "fixed":
        money = budget.get("amount")
        bound = "fixed_up_to"
    else:
        money = budget.get("max_rate") or budget.get("min_rate")
        bound = "hourly_up_to"
    if money is None or money["currency"] != settings.rate_card_currency:
        return settings.unspecified_band
    for band in settings.rate_card:
        limit = getattr(band, bound)
        if limit is None or money["amount"] <= limit:
            return band
    return settings.rate_card[-1]


def settings_from_config(config: dict) -> BiddingSettings:
    """Settings from nameko config (``BIDDING_*`` keys); absent keys keep the defaults."""
    names = {
        "BIDDING_MONTHLY_FREE_CONNECTS": "monthly_free_connects",
        "BIDDING_CONNECTS_VALIDITY_DAYS": "connects_validity_days",
        "BIDDING_MAX_CONNECTS_BALANCE": "max_connects_balance",
        "BIDDING_MAX_BOOST": "max_boost",
        "BIDDING_PINNED_SLOTS": "pinned_slots",
        "BIDDING_BOOST_AUCTION_DAYS": "boost_auction_days",
        "BIDDING_OFFER_VALIDITY_DAYS": "offer_validity_days",
        "BIDDING_SERVICE_FEE_BPS": "service_fee_bps",
    }
    values = {attr: int(config[key]) for key, attr in names.items() if config.get(key) is not None}
    return BiddingSettings(**values)
