"""Money as integer minor units with an ISO 4217 currency. No floats anywhere.

Fee rule (the only rounding in the platform): a fee of ``rate_bps`` basis points on a gross
amount is ``(gross * rate_bps + 5000) // 10000`` minor units, i.e. rounded half up to the
nearest minor unit, and the net is ``gross - fee``, so gross == net + fee always holds.
"""

from __future__ import annotations

from dataclasses import dataclass

# Currencies the platform settles in, with their number of minor units (ISO 4217).
CURRENCIES: dict[str, int] = {"USD": 2, "EUR": 2, "GBP": 2, "JPY": 0, "CAD": 2, "AUD": 2}


class MoneyError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Money:
    amount: int
    currency: str

    def __post_init__(self):
        if type(self.amount) is not int:
            raise MoneyError(f"amount must be an integer of minor units, got {self.amount!r}")
        if self.currency not in CURRENCIES:
            raise MoneyError(f"unsupported currency {self.currency!r}")

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(0, currency)

    @classmethod
    def from_dict(cls, data: dict) -> Money:
        return cls(data["amount"], data["currency"])

    def to_dict(self) -> dict:
        return {"amount": self.amount, "currency": self.currency}

    def _same(self, other: Money) -> None:
        if not isinstance(other, Money):
            raise TypeError(f"cannot combine Money with {type(other).__name__}")
        if other.currency != self.currency:
            raise MoneyError(f"currency mismatch: {self.currency} vs {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount - other.amount, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.amount, self.currency)

    def __lt__(self, other: Money) -> bool:
        self._same(other)
        return self.amount < other.amount

    def __le__(self, other: Money) -> bool:
        self._same(other)
        return self.amount <= other.amount

    def __gt__(self, other: Money) -> bool:
        self._same(other)
        return self.amount > other.amount

    def __ge__(self, other: Money) -> bool:
        self._same(other)
        return self.amount >= other.amount

    @property
    def is_positive(self) -> bool:
        return self.amount > 0

    def __str__(self) -> str:
        digits = CURRENCIES[self.currency]
        if digits == 0:
            return f"{self.amount} {self.currency}"
        sign = "-" if self.amount < 0 else ""
        whole, frac = divmod(abs(self.amount), 10**digits)
        return f"{sign}{whole}.{frac:0{digits}d} {self.currency}"


def fee(gross: Money, rate_bps: int) -> Money:
    """The fee on ``gross`` at ``rate_bps`` basis points, rounded half up to a minor unit."""
    if not 0 <= rate_bps <= 10000:
        raise MoneyError(f"fee rate out of range: {rate_bps} bps")
    if gross.amount < 0:
        raise MoneyError("fee of a negative amount")
    return Money((gross.amount * rate_bps + 5000) // 10000, gross.currency)


def split_fee(gross: Money, rate_bps: int) -> tuple[Money, Money]:
    """(net, fee) with net + fee == gross exactly."""
    f = fee(gross, rate_bps)
    return gross - f, f
