"""Pure read-model shaping for bidding: rows folded from events, who sees what, ordering.

The wiring phase stores these rows in tables updated in the same transaction as the
append; here they are plain dicts so the rules can be tested without a database.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from shared.errors import Forbidden, NotFound
from shared.money import Money

from .domain import Actor, fee_preview, proposal_price
from .listing import JobListing
from .settings import BiddingSettings
from .wallet import ConnectsWallet

PROPOSAL_ORDERS = ("newest", "oldest", "bid_low", "bid_high")
FOLDERS = ("inbox", "shortlisted", "archived")
# Operators and auditors read everything; they act inside the product.
READ_ALL_ROLES = frozenset({"operator", "auditor"})
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def project_proposal(rows: dict[str, dict], event_type: str, data: dict) -> None:
    """Fold one proposal event into ``rows`` (proposal_id -> row); other events are ignored.

    A row holds what ``list_proposals`` and ``my_proposals`` answer with.
    """
    if event_type == "ProposalSubmitted":
        rows[data["proposal_id"]] = {
            "proposal_id": data["proposal_id"],
            "job_id": data["job_id"],
            "client_id": data["client_id"],
            "freelancer_id": data["freelancer_id"],
            "kind": data["kind"],
            "bid": data["bid"],
            "fee": data["fee"],
            "milestones": data["milestones"],
            "estimated_duration": data["estimated_duration"],
            "cover_letter": data["cover_letter"],
            "answers": data["answers"],
            "attachments": data["attachments"],
            "invited": data["invited"],
            "connects_spent": data["connects_spent"],
            "boost": data["boost"],
            "status": "submitted",
            "folder": "inbox",
            "pending_offer_id": None,
            "decline_reason": None,
            "submitted_at": data["submitted_at"],
            "updated_at": data["submitted_at"],
        }
        return
    row = rows.get(data.get("proposal_id", ""))
    if row is None:
        return
    if event_type == "ProposalShortlisted":
        row.update(folder="shortlisted", updated_at=data["at"])
    elif event_type == "ProposalArchived":
        row.update(folder="archived", updated_at=data["at"])
    elif event_type == "ProposalDeclined":
        row.update(status="declined", decline_reason=data["reason"], updated_at=data["declined_at"])
    elif event_type == "ProposalWithdrawn":
        row.update(status="withdrawn", updated_at=data["withdrawn_at"])
    elif event_type == "ProposalOfferReceived":
        row.update(pending_offer_id=data["offer_id"], updated_at=data["at"])
    elif event_type == "ProposalOfferEnded":
        row.update(pending_offer_id=None, updated_at=data["at"])
    elif event_type == "ProposalHired":
        row.update(status="hired", pending_offer_id=None, updated_at=data["hired_at"])


def can_view_proposal(row: dict, actor: Actor) -> bool:
    """The author, the job's client, operators and auditors; no other freelancer."""
    return actor.user_id in (row["freelancer_id"], row["client_id"]) or bool(
        actor.roles & READ_ALL_ROLES
    )


def require_job_client(listing: JobListing, actor: Actor) -> None:
    """``list_proposals``: only the job's client (or an operator or auditor) lists them."""
    if actor.roles & READ_ALL_ROLES:
        return
    if not listing.exists:
        raise NotFound(f"no job {listing.id}")
    if listing.client_id != actor.user_id:
        raise Forbidden("only the client who posted a job sees its proposals")


def proposal_quote(
    listing: JobListing,
    wallet: ConnectsWallet,
    actor: Actor,
    bid: Money | None,
    boost: int,
    now: datetime,
    settings: BiddingSettings,
) -> dict:
    """``quote_proposal``: what a proposal would cost in connects, what the freelancer has,
    and for a bid the fee and the net amount, before anything is spent."""
    if not listing.exists or not listing.visible_to(actor.user_id):
        raise NotFound(f"no job {listing.id} open to you")
    invited = actor.user_id in listing.invited
    price = proposal_price(listing, invited, settings)
    needed = price["connects"] + boost
    balance = wallet.balance(now)
    return {
        "job_id": listing.id,
        "budget_band": price["band"]["name"],
        "proposal_connects": price["connects"],
        "boost": boost,
        "connects_needed": needed,
        "balance": balance,
        "enough": balance >= needed,
        "boost_auction_open": listing.auction_open(now),
        "fee": fee_preview(bid, settings) if bid is not None else None,
    }


def client_view(row: dict) -> dict:
    """A proposal as the client sees it: no connects or fee of the freelancer's."""
    hidden = {"fee", "connects_spent"}
    view = {k: v for k, v in row.items() if k not in hidden}
    view["boosted"] = row["boost"] > 0
    del view["boost"]
    return view


def freelancer_view(row: dict) -> dict:
    """A proposal as its author sees it: everything, with the fee and the net amount."""
    return dict(row)


def order_for_client(
    rows: Iterable[dict],
    pinned: list[str],
    order: str = "newest",
    folder: str | None = None,
) -> list[dict]:
    """Proposals on one job for its client: the pinned boosted ones first (in ranking order),
    then the rest in the client's chosen order. Withdrawn proposals are not listed; a
    ``folder`` keeps only that folder (declined proposals show only in the archive view).
    """
    if order not in PROPOSAL_ORDERS:
        raise ValueError(f"unknown order {order!r}")
    visible = [row for row in rows if row["status"] != "withdrawn"]
    if folder is not None:
        visible = [
            row
            for row in visible
            if row["folder"] == folder or (folder == "archived" and row["status"] == "declined")
        ]
        if folder != "archived":
            visible = [row for row in visible if row["status"] != "declined"]
    rank = {pid: i for i, pid in enumerate(pinned)}
    head = sorted(
        (row for row in visible if row["proposal_id"] in rank and row["status"] != "declined"),
        key=lambda row: rank[row["proposal_id"]],
    )
    head_ids = {row["proposal_id"] for row in head}
    tail = [row for row in visible if row["proposal_id"] not in head_ids]
    tail.sort(key=_sort_key(order))
    return head + tail


def _sort_key(order: str):
    # Every key ends with the proposal id so that equal rows come back in a stable order.
    if order == "newest":
        return lambda row: (_neg_time(row["submitted_at"]), row["proposal_id"])
    if order == "oldest":
        return lambda row: (row["submitted_at"], row["proposal_id"])
    if order == "bid_low":
        return lambda row: (row["bid"]["amount"], row["submitted_at"], row["proposal_id"])
    return lambda row: (-row["bid"]["amount"], row["submitted_at"], row["proposal_id"])


def _neg_time(value: str) -> int:
    # Whole microseconds since the epoch, negated, so "newest" sorts ascending on it.
    return -((datetime.fromisoformat(value) - _EPOCH) // timedelta(microseconds=1))


def connects_summary(wallet: ConnectsWallet, now: datetime) -> dict:
    """The ``connects_balance`` answer: the usable balance, lots oldest first, pending
    purchases, and when the next connects expire."""
    lots = wallet.lots_view(now)
    return {
        "freelancer_id": wallet.id,
        "balance": wallet.balance(now),
        "pending_purchase_connects": wallet.pending_connects(),
        "lots": lots,
        # All stamps are UTC in one ISO format, so the string minimum is the earliest.
        "next_expiry": min((lot["expires_at"] for lot in lots), default=None),
    }
