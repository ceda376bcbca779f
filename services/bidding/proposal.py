"""A freelancer's proposal on one job.

Stream ``proposal-<proposal_id>``. Status: ``submitted`` until it ends as ``withdrawn``,
``declined`` or ``hired``. The client files a submitted proposal in a folder
(``inbox``, ``shortlisted``, ``archived``); the folder is the client's view, not a status.
"""

from __future__ import annotations

from datetime import datetime

from shared.clock import iso, parse_time
from shared.domain import Aggregate
from shared.errors import Conflict, Forbidden, NotFound

DECLINE_REASONS = (
    "too_expensive",
    "not_enough_experience",
    "skills_mismatch",
    "hired_someone_else",
    "job_changed",
    "other",
)
WITHDRAW_REASONS = (
    "applied_by_mistake",
    "rate_too_low",
    "scope_changed",
    "no_longer_available",
    "other",
)


class Proposal(Aggregate):
    """One proposal; the aggregate id is the proposal id."""

    stream_prefix = "proposal"

    def __init__(self, id: str):
        super().__init__(id)
        self.status = "new"
        self.folder = "inbox"
        self.job_id = ""
        self.client_id = ""
        self.freelancer_id = ""
        self.kind = ""
        self.bid: dict | None = None
        self.submitted_at: datetime | None = None
        self.pending_offer_id: str | None = None
        self.messaged = False
        self.data: dict = {}

    @property
    def is_live(self) -> bool:
        return self.status == "submitted"

    # ---- commands --------------------------------------------------------------------

    def submit(self, terms: dict, now: datetime):
        """Record the proposal as checked by ``domain.submit_proposal``."""
        if self.exists:
            raise Conflict(f"proposal {self.id} already exists")
        return self.record("ProposalSubmitted", proposal_id=self.id, **terms, submitted_at=iso(now))

    def withdraw(self, actor_id: str, reason: str, message: str, now: datetime):
        """The freelancer takes the proposal back; allowed until an offer arrives.

        The connects it cost stay spent.
        """
        self._require_exists()
        if actor_id != self.freelancer_id:
            raise Forbidden("only the freelancer who submitted a proposal may withdraw it")
        self._require_live("withdrawn")
        if self.pending_offer_id is not None:
            raise Conflict(
                "an offer is waiting on this proposal; decline the offer instead of withdrawing"
            )
        return self.record(
            "ProposalWithdrawn",
            proposal_id=self.id,
            job_id=self.job_id,
            freelancer_id=self.freelancer_id,
            reason=reason,
            message=message,
            withdrawn_at=iso(now),
        )

    def shortlist(self, actor_id: str, now: datetime):
        """The client moves the proposal to the shortlist."""
        return self._file("shortlisted", "ProposalShortlisted", actor_id, now)

    def archive(self, actor_id: str, now: datetime):
        """The client moves the proposal out of sight, to the archive."""
        return self._file("archived", "ProposalArchived", actor_id, now)

    def _file(self, folder: str, event_type: str, actor_id: str, now: datetime):
        self._require_client(actor_id)
        self._require_live(folder)
        if self.folder == folder:
            raise Conflict(f"this proposal is already {folder}")
        return self.record(
            event_type,
            proposal_id=self.id,
            job_id=self.job_id,
            client_id=self.client_id,
            at=iso(now),
        )

    def decline(self, actor_id: str, reason: str, message: str, now: datetime):
        """The client turns the proposal down; a pending offer must be withdrawn first."""
        self._require_client(actor_id)
        self._require_live("declined")
        if self.pending_offer_id is not None:
            raise Conflict("withdraw the pending offer before declining this proposal")
        return self.record(
            "ProposalDeclined",
            proposal_id=self.id,
            job_id=self.job_id,
            client_id=self.client_id,
            freelancer_id=self.freelancer_id,
            reason=reason,
            message=message,
            declined_at=iso(now),
        )

    def message(self, actor_id: str, now: datetime):
        """The client starts a conversation: messaging opens an interview room from the
        event. Only the first call records; later ones return None (the room exists)."""
        self._require_client(actor_id)
        if self.status == "withdrawn":
            raise Conflict("this proposal was withdrawn")
        if self.messaged:
            return None
        return self.record(
            "ProposalMessaged",
            proposal_id=self.id,
            job_id=self.job_id,
            client_id=self.client_id,
            freelancer_id=self.freelancer_id,
            messaged_at=iso(now),
        )

    def receive_offer(self, offer_id: str, now: datetime):
        """An offer was sent from this proposal."""
        self._require_live("offered")
        if self.pending_offer_id is not None:
            raise Conflict("this proposal already has a pending offer")
        return self.record(
            "ProposalOfferReceived", proposal_id=self.id, offer_id=offer_id, at=iso(now)
        )

    def end_offer(self, offer_id: str, outcome: str, now: datetime):
        """The pending offer was withdrawn, declined or expired: the proposal stays live."""
        self._require_pending(offer_id)
        return self.record(
            "ProposalOfferEnded",
            proposal_id=self.id,
            offer_id=offer_id,
            outcome=outcome,
            at=iso(now),
        )

    def hire(self, offer_id: str, now: datetime):
        """The freelancer accepted the offer made from this proposal."""
        self._require_pending(offer_id)
        return self.record(
            "ProposalHired",
            proposal_id=self.id,
            job_id=self.job_id,
            client_id=self.client_id,
            freelancer_id=self.freelancer_id,
            offer_id=offer_id,
            hired_at=iso(now),
        )

    def _require_exists(self) -> None:
        if not self.exists:
            raise NotFound(f"no proposal {self.id}")

    def _require_client(self, actor_id: str) -> None:
        self._require_exists()
        if actor_id != self.client_id:
            raise Forbidden("only the client who posted the job may do this")

    def _require_live(self, becoming: str) -> None:
        if not self.is_live:
            raise Conflict(f"a {self.status} proposal cannot be {becoming}")

    def _require_pending(self, offer_id: str) -> None:
        self._require_exists()
        if self.pending_offer_id != offer_id:
            raise Conflict(f"offer {offer_id} is not pending on this proposal")

    # ---- apply -----------------------------------------------------------------------

    def on_ProposalSubmitted(self, data: dict) -> None:
        self.status = "submitted"
        self.job_id = data["job_id"]
        self.client_id = data["client_id"]
        self.freelancer_id = data["freelancer_id"]
        self.kind = data["kind"]
        self.bid = data["bid"]
        self.submitted_at = parse_time(data["submitted_at"])
        self.data = dict(data)

    def on_ProposalWithdrawn(self, data: dict) -> None:
        self.status = "withdrawn"

    def on_ProposalShortlisted(self, data: dict) -> None:
        self.folder = "shortlisted"

    def on_ProposalArchived(self, data: dict) -> None:
        self.folder = "archived"

    def on_ProposalDeclined(self, data: dict) -> None:
        self.status = "declined"

    def on_ProposalMessaged(self, data: dict) -> None:
        self.messaged = True

    def on_ProposalOfferReceived(self, data: dict) -> None:
        self.pending_offer_id = data["offer_id"]

    def on_ProposalOfferEnded(self, data: dict) -> None:
        self.pending_offer_id = None

    def on_ProposalHired(self, data: dict) -> None:
        self.pending_offer_id = None
        self.status = "hired"
