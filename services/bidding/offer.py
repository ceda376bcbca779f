"""An offer from a client to a freelancer, with the terms of the contract to be.

Stream ``offer-<offer_id>``. Status ``pending`` until ``accepted``, ``declined``,
``withdrawn`` or ``expired``. An offer may be answered while ``now < expires_at``; from
``expires_at`` on it can only expire. ``OfferAccepted`` carries the full terms, under the
exact field names escrow reads to open the contract.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from shared.clock import iso, parse_time
from shared.domain import Aggregate
from shared.errors import Conflict, Forbidden, NotFound

from .settings import BiddingSettings

OFFER_DECLINE_REASONS = (
    "rate_too_low",
    "terms_unsuitable",
    "no_longer_available",
    "accepted_other_work",
    "other",
)
# Terms copied from OfferSent into OfferAccepted, by contract kind.
_COMMON_TERMS = ("proposal_id", "job_id", "client_id", "freelancer_id", "kind", "currency")
_KIND_TERMS = {
    "fixed": ("milestones",),
    "hourly": ("hourly_rate", "weekly_limit_hours", "manual_time_allowed"),
}


class Offer(Aggregate):
    """One offer; the aggregate id is the offer id."""

    stream_prefix = "offer"

    def __init__(self, id: str):
        super().__init__(id)
        self.status = "new"
        self.terms: dict = {}
        self.expires_at: datetime | None = None

    @property
    def job_id(self) -> str:
        return self.terms["job_id"]

    @property
    def client_id(self) -> str:
        return self.terms["client_id"]

    @property
    def freelancer_id(self) -> str:
        return self.terms["freelancer_id"]

    @property
    def proposal_id(self) -> str | None:
        return self.terms["proposal_id"]

    def is_expired(self, now: datetime) -> bool:
        return now >= self.expires_at

    # ---- commands --------------------------------------------------------------------

    def send(self, terms: dict, now: datetime, settings: BiddingSettings):
        """Record the offer as checked by ``domain.send_offer``; the expiry window starts."""
        if self.exists:
            raise Conflict(f"offer {self.id} already exists")
        days = settings.offer_validity_days
        return self.record(
            "OfferSent",
            offer_id=self.id,
            **terms,
            sent_at=iso(now),
            validity_days=days,
            expires_at=iso(now + timedelta(days=days)),
        )

    def withdraw(self, actor_id: str, reason: str, now: datetime):
        """The client takes back a pending offer before the freelancer answers."""
        self._require_exists()
        if actor_id != self.client_id:
            raise Forbidden("only the client who sent an offer may withdraw it")
        self._require_answerable(now)
        return self.record(
            "OfferWithdrawn",
            offer_id=self.id,
            job_id=self.job_id,
            proposal_id=self.proposal_id,
            client_id=self.client_id,
            freelancer_id=self.freelancer_id,
            reason=reason,
            withdrawn_at=iso(now),
        )

    def void(self, now: datetime):
        """The job closed while the offer was pending: it is withdrawn on the client's
        behalf, whatever the time, so that it cannot linger until expiry."""
        self._require_exists()
        if self.status != "pending":
            return None
        return self.record(
            "OfferWithdrawn",
            offer_id=self.id,
            job_id=self.job_id,
            proposal_id=self.proposal_id,
            client_id=self.client_id,
            freelancer_id=self.freelancer_id,
            reason="job_closed",
            withdrawn_at=iso(now),
        )

    def decline(self, actor_id: str, reason: str, message: str, now: datetime):
        """The freelancer turns the offer down."""
        self._require_freelancer(actor_id)
        self._require_answerable(now)
        return self.record(
            "OfferDeclined",
            offer_id=self.id,
            job_id=self.job_id,
            proposal_id=self.proposal_id,
            client_id=self.client_id,
            freelancer_id=self.freelancer_id,
            reason=reason,
            message=message,
            declined_at=iso(now),
        )

    def accept(self, actor_id: str, now: datetime):
        """The freelancer accepts: escrow opens the contract from this event."""
        self._require_freelancer(actor_id)
        self._require_answerable(now)
        data = {"offer_id": self.id}
        for name in _COMMON_TERMS + _KIND_TERMS[self.terms["kind"]]:
            data[name] = self.terms[name]
        data["start_date"] = self.terms["start_date"]
        return self.record("OfferAccepted", **data)

    def expire(self, now: datetime):
        """The validity window is over: allowed from ``expires_at`` on."""
        self._require_exists()
        if self.status != "pending":
            raise Conflict(f"a {self.status} offer cannot expire")
        if not self.is_expired(now):
            raise Conflict(f"this offer is valid until {iso(self.expires_at)}")
        return self.record(
            "OfferExpired",
            offer_id=self.id,
            job_id=self.job_id,
            proposal_id=self.proposal_id,
            client_id=self.client_id,
            freelancer_id=self.freelancer_id,
            expired_at=iso(now),
        )

    def _require_exists(self) -> None:
        if not self.exists:
            raise NotFound(f"no offer {self.id}")

    def _require_freelancer(self, actor_id: str) -> None:
        self._require_exists()
        if actor_id != self.freelancer_id:
            # Said as "not found" would hide that the offer exists, but the client and the
            # freelancer both know it does; anyone else gets the same refusal.
            raise Forbidden("only the freelancer this offer was made to may answer it")

    def _require_answerable(self, now: datetime) -> None:
        if self.status != "pending":
            raise Conflict(f"this offer is {self.status}")
        if self.is_expired(now):
            raise Conflict(f"this offer expired at {iso(self.expires_at)}")

    # ---- apply -----------------------------------------------------------------------

    def on_OfferSent(self, data: dict) -> None:
        self.status = "pending"
        self.terms = dict(data)
        self.expires_at = parse_time(data["expires_at"])

    def on_OfferWithdrawn(self, data: dict) -> None:
        self.status = "withdrawn"

    def on_OfferDeclined(self, data: dict) -> None:
        self.status = "declined"

    def on_OfferAccepted(self, data: dict) -> None:
        self.status = "accepted"

    def on_OfferExpired(self, data: dict) -> None:
        self.status = "expired"
