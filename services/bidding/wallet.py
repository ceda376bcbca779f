"""A freelancer's connects wallet: lots received, spent oldest first, refunded, expired.

Stream ``connects-<freelancer_id>``. Connects arrive in lots (a monthly grant or a confirmed
purchase), each with its receipt time and its expiry ``validity_days`` later. A lot is usable
while ``now < expires_at``; from ``expires_at`` on it counts for nothing, whether or not the
``ConnectsExpired`` bookkeeping event has been recorded yet, so the balance never depends on
when the expiry timer happened to run.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from shared.clock import iso, parse_time
from shared.domain import Aggregate
from shared.errors import Conflict, NotFound, ValidationError, field_error
from shared.money import Money

from .settings import BiddingSettings

# A spend has two parts that are refunded independently: the proposal's price and the boost.
PROPOSAL_PART = "proposal"
BOOST_PART = "boost"
REFUND_REASONS = ("job_cancelled", "job_removed", "boost_lost")


@dataclass
class Lot:
    lot_id: str
    source: str  # "grant" or "purchase"
    received_at: datetime
    expires_at: datetime
    remaining: int

    def usable(self, now: datetime) -> bool:
        # Received and not yet expired; a lot received "later" counts for nothing when the
        # wallet is viewed as at an earlier moment (auditors do).
        return self.remaining > 0 and self.received_at <= now < self.expires_at


def month_of(now: datetime) -> str:
    """The calendar month (UTC) a monthly grant belongs to, as ``YYYY-MM``."""
    return iso(now)[:7]


class ConnectsWallet(Aggregate):
    """Connects of one freelancer; the aggregate id is the freelancer's user id."""

    stream_prefix = "connects"

    def __init__(self, id: str):
        super().__init__(id)
        self.lots: dict[str, Lot] = {}
        self.granted_months: set[str] = set()
        self.pending_purchases: dict[str, dict] = {}
        self.settled_purchases: set[str] = set()
        self.provider_refs: set[str] = set()
        # spend_id -> {"proposal_id", "job_id", "taken": {part: [{lot_id, connects}]}}
        self.spends: dict[str, dict] = {}
        self.refunded: set[tuple[str, str]] = set()

    # ---- queries ---------------------------------------------------------------------

    def balance(self, now: datetime) -> int:
        """Connects usable at ``now``."""
        return sum(lot.remaining for lot in self.lots.values() if lot.usable(now))

    def pending_connects(self) -> int:
        """Connects paid for but not yet confirmed by the payment provider."""
        return sum(p["connects"] for p in self.pending_purchases.values())

    def lots_view(self, now: datetime) -> list[dict]:
        """Usable lots, oldest first, for the ``connects_balance`` answer."""
        return [
            {
                "lot_id": lot.lot_id,
                "source": lot.source,
                "remaining": lot.remaining,
                "received_at": iso(lot.received_at),
                "expires_at": iso(lot.expires_at),
            }
            for lot in self._oldest_first()
            if lot.usable(now)
        ]

    def _oldest_first(self) -> list[Lot]:
        # Lot ids are "lot-<n>" in order of receipt; n breaks ties between equal times.
        return sorted(self.lots.values(), key=lambda lot: (lot.received_at, _lot_no(lot)))

    def _next_lot_id(self) -> str:
        return f"lot-{len(self.lots) + 1}"

    def _new_lot(self, now: datetime, settings: BiddingSettings) -> dict:
        days = settings.connects_validity_days
        return {
            "lot_id": self._next_lot_id(),
            "received_at": iso(now),
            "expires_at": iso(now + timedelta(days=days)),
            "validity_days": days,
        }

    # ---- commands --------------------------------------------------------------------

    def grant_monthly_allotment(self, now: datetime, settings: BiddingSettings):
        """Grant this month's free connects once; a second call in the month does nothing.

        Returns the recorded event, or None when this month was already granted (the timer
        and a first visit may both ask) or the allotment is configured to zero.
        """
        month = month_of(now)
        if month in self.granted_months or settings.monthly_free_connects == 0:
            return None
        return self.record(
            "ConnectsGranted",
            freelancer_id=self.id,
            month=month,
            connects=settings.monthly_free_connects,
            **self._new_lot(now, settings),
        )

    def request_purchase(
        self, purchase_id: str, bundle: int, now: datetime, settings: BiddingSettings
    ):
        """Start buying a bundle; the connects arrive when the provider confirms payment."""
        if bundle not in settings.bundles:
            offered = ", ".join(str(size) for size in sorted(settings.bundles))
            raise field_error("bundle", f"No bundle of {bundle} connects; offered: {offered}.")
        if purchase_id in self.pending_purchases or purchase_id in self.settled_purchases:
            raise Conflict(f"purchase {purchase_id} already exists")
        after = self.balance(now) + self.pending_connects() + bundle
        if after > settings.max_connects_balance:
            raise Conflict(
                f"a wallet may hold at most {settings.max_connects_balance} connects; "
                f"this purchase would bring it to {after}"
            )
        return self.record(
            "ConnectsPurchaseRequested",
            freelancer_id=self.id,
            purchase_id=purchase_id,
            connects=bundle,
            price=settings.bundles[bundle].to_dict(),
            requested_at=iso(now),
        )

    def confirm_purchase(
        self, purchase_id: str, provider_ref: str, now: datetime, settings: BiddingSettings
    ):
        """The provider took the money: the bundle becomes a lot. The cap is not rechecked,
        since the freelancer has paid."""
        purchase = self._pending(purchase_id)
        if provider_ref in self.provider_refs:
            raise Conflict(f"provider reference {provider_ref} was already credited")
        return self.record(
            "ConnectsPurchased",
            freelancer_id=self.id,
            purchase_id=purchase_id,
            connects=purchase["connects"],
            price=purchase["price"],
            provider_ref=provider_ref,
            **self._new_lot(now, settings),
        )

    def fail_purchase(self, purchase_id: str, reason: str, now: datetime):
        """The provider refused the payment: nothing is credited."""
        self._pending(purchase_id)
        return self.record(
            "ConnectsPurchaseFailed",
            freelancer_id=self.id,
            purchase_id=purchase_id,
            reason=reason,
            failed_at=iso(now),
        )

    def _pending(self, purchase_id: str) -> dict:
        if purchase_id in self.settled_purchases:
            raise Conflict(f"purchase {purchase_id} is already settled")
        if purchase_id not in self.pending_purchases:
            raise NotFound(f"no purchase {purchase_id} in this wallet")
        return self.pending_purchases[purchase_id]

    def spend(
        self,
        spend_id: str,
        proposal_id: str,
        job_id: str,
        band: dict,
        proposal_connects: int,
        boost: int,
        now: datetime,
        settings: BiddingSettings,
    ):
        """Take a proposal's price plus its boost, oldest usable lots first.

        ``band`` is the rate-card band the price came from (its dict); the whole rate card in
        force is recorded with it. Raises Conflict when the usable balance is short, so the
        balance can never go below zero. Returns None when there is nothing to pay (an
        answer to an invitation without a boost).
        """
        if proposal_connects < 0 or boost < 0:
            raise ValidationError("invalid input", {"boost": ["Must not be negative."]})
        if spend_id in self.spends:
            raise Conflict(f"spend {spend_id} was already recorded")
        total = proposal_connects + boost
        if total == 0:
            return None
        available = self.balance(now)
        if available < total:
            raise Conflict(
                f"not enough connects: this proposal needs {total} "
                f"({proposal_connects} + {boost} boost) and {available} are available"
            )
        lots = [lot for lot in self._oldest_first() if lot.usable(now)]
        remaining = {lot.lot_id: lot.remaining for lot in lots}
        taken_proposal = _take(lots, remaining, proposal_connects)
        taken_boost = _take(lots, remaining, boost)
        return self.record(
            "ConnectsSpent",
            freelancer_id=self.id,
            spend_id=spend_id,
            proposal_id=proposal_id,
            job_id=job_id,
            budget_band=band["name"],
            proposal_connects=proposal_connects,
            boost_connects=boost,
            connects=total,
            rate_card=settings.rate_card_dict(),
            taken={PROPOSAL_PART: taken_proposal, BOOST_PART: taken_boost},
            spent_at=iso(now),
        )

    def refund(self, spend_id: str, part: str, reason: str, now: datetime):
        """Give back one part of a spend to the lots it came from; once only.

        Returns None when that part was already refunded or was zero, so a redelivered
        job-closed event refunds nothing twice. Refunded connects keep their lot's expiry;
        any that land in a lot already past expiry are recorded expired at once.
        """
        if part not in (PROPOSAL_PART, BOOST_PART):
            raise field_error("part", f"Must be {PROPOSAL_PART!r} or {BOOST_PART!r}.")
        if reason not in REFUND_REASONS:
            raise field_error("reason", f"Must be one of {', '.join(REFUND_REASONS)}.")
        spend = self.spends.get(spend_id)
        if spend is None:
            raise NotFound(f"no spend {spend_id} in this wallet")
        taken = spend["taken"][part]
        if (spend_id, part) in self.refunded or not taken:
            return None
        event = self.record(
            "ConnectsRefunded",
            freelancer_id=self.id,
            spend_id=spend_id,
            proposal_id=spend["proposal_id"],
            job_id=spend["job_id"],
            part=part,
            reason=reason,
            connects=sum(t["connects"] for t in taken),
            restored=[dict(t) for t in taken],
            refunded_at=iso(now),
        )
        self.expire_lots(now)
        return event

    def expire_lots(self, now: datetime):
        """Record as expired every lot whose expiry has come and that still holds connects.

        Returns the event, or None when nothing is due.
        """
        due = [
            {"lot_id": lot.lot_id, "connects": lot.remaining}
            for lot in self._oldest_first()
            if lot.remaining > 0 and now >= lot.expires_at
        ]
        if not due:
            return None
        return self.record(
            "ConnectsExpired",
            freelancer_id=self.id,
            lots=due,
            connects=sum(d["connects"] for d in due),
            expired_at=iso(now),
        )

    # ---- apply -----------------------------------------------------------------------

    def _add_lot(self, data: dict, source: str) -> None:
        self.lots[data["lot_id"]] = Lot(
            lot_id=data["lot_id"],
            source=source,
            received_at=parse_time(data["received_at"]),
            expires_at=parse_time(data["expires_at"]),
            remaining=data["connects"],
        )

    def on_ConnectsGranted(self, data: dict) -> None:
        self.granted_months.add(data["month"])
        self._add_lot(data, "grant")

    def on_ConnectsPurchaseRequested(self, data: dict) -> None:
        self.pending_purchases[data["purchase_id"]] = {
            "connects": data["connects"],
            "price": data["price"],
        }

    def on_ConnectsPurchased(self, data: dict) -> None:
        self.pending_purchases.pop(data["purchase_id"], None)
        self.settled_purchases.add(data["purchase_id"])
        self.provider_refs.add(data["provider_ref"])
        self._add_lot(data, "purchase")

    def on_ConnectsPurchaseFailed(self, data: dict) -> None:
        self.pending_purchases.pop(data["purchase_id"], None)
        self.settled_purchases.add(data["purchase_id"])

    def on_ConnectsSpent(self, data: dict) -> None:
        for part in (PROPOSAL_PART, BOOST_PART):
            for taken in data["taken"][part]:
                self.lots[taken["lot_id"]].remaining -= taken["connects"]
        self.spends[data["spend_id"]] = {
            "proposal_id": data["proposal_id"],
            "job_id": data["job_id"],
            "taken": data["taken"],
        }

    def on_ConnectsRefunded(self, data: dict) -> None:
        for restored in data["restored"]:
            self.lots[restored["lot_id"]].remaining += restored["connects"]
        self.refunded.add((data["spend_id"], data["part"]))

    def on_ConnectsExpired(self, data: dict) -> None:
        for expired in data["lots"]:
            self.lots[expired["lot_id"]].remaining -= expired["connects"]


def _lot_no(lot: Lot) -> int:
    return int(lot.lot_id.rsplit("-", 1)[1])


def _take(lots: list[Lot], remaining: dict[str, int], wanted: int) -> list[dict]:
    """Take ``wanted`` connects from ``lots`` in order, updating ``remaining``."""
    taken = []
    for lot in lots:
        if wanted == 0:
            break
        take = min(remaining[lot.lot_id], wanted)
        if take:
            remaining[lot.lot_id] -= take
            wanted -= take
            taken.append({"lot_id": lot.lot_id, "connects": take})
    return taken


def price_of(bundle: int, settings: BiddingSettings) -> Money:
    """The price of a bundle on sale, for quoting before a purchase."""
    if bundle not in settings.bundles:
        raise field_error("bundle", f"No bundle of {bundle} connects.")
    return settings.bundles[bundle]
