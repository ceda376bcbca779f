"""Bidding's read models on PostgreSQL, updated in the same transaction as the append.

The row shapes come from ``projections.project_proposal`` (pure, unit tested); these classes
only store them. Both can be rebuilt from position 0 (``rebuild``).
"""

from __future__ import annotations

from collections.abc import Iterable

from psycopg.types.json import Jsonb

from shared.clock import iso
from shared.eventstore import Projection
from shared.eventstore.records import RecordedEvent

from .projections import project_proposal

PROPOSAL_EVENTS = (
    "ProposalShortlisted",
    "ProposalArchived",
    "ProposalDeclined",
    "ProposalWithdrawn",
    "ProposalOfferReceived",
    "ProposalOfferEnded",
    "ProposalHired",
)
OFFER_OUTCOMES = {
    "OfferWithdrawn": ("withdrawn", "withdrawn_at"),
    "OfferDeclined": ("declined", "declined_at"),
    "OfferExpired": ("expired", "expired_at"),
}


class ProposalsView(Projection):
    """``bidding_proposals``: one row per proposal, as ``list_proposals`` and
    ``my_proposals`` answer it."""

    name = "bidding_proposals"
    tables = ("bidding_proposals",)

    def on_ProposalSubmitted(self, cur, event: RecordedEvent) -> None:
        rows: dict[str, dict] = {}
        project_proposal(rows, event.type, event.data)
        row = rows[event.data["proposal_id"]]
        cur.execute(
            "INSERT INTO bidding_proposals (proposal_id, job_id, client_id, freelancer_id,"
            " status, submitted_at, row) VALUES (%s, %s, %s, %s, %s, %s, %s)",
            (
                row["proposal_id"],
                row["job_id"],
                row["client_id"],
                row["freelancer_id"],
                row["status"],
                row["submitted_at"],
                Jsonb(row),
            ),
        )

    def _fold(self, cur, event: RecordedEvent) -> None:
        pid = event.data["proposal_id"]
        found = cur.execute(
            "SELECT row FROM bidding_proposals WHERE proposal_id = %s FOR UPDATE", (pid,)
        ).fetchone()
        if found is None:
            return
        rows = {pid: found[0]}
        project_proposal(rows, event.type, event.data)
        cur.execute(
            "UPDATE bidding_proposals SET status = %s, row = %s WHERE proposal_id = %s",
            (rows[pid]["status"], Jsonb(rows[pid]), pid),
        )


for _type in PROPOSAL_EVENTS:
    setattr(ProposalsView, f"on_{_type}", ProposalsView._fold)


class OffersView(Projection):
    """``bidding_offers``: each offer's terms and where it stands."""

    name = "bidding_offers"
    tables = ("bidding_offers",)

    def on_OfferSent(self, cur, event: RecordedEvent) -> None:
        row = {**event.data, "status": "pending", "settled_at": None, "settle_reason": None}
        cur.execute(
            "INSERT INTO bidding_offers (offer_id, job_id, client_id, freelancer_id, status,"
            " sent_at, row) VALUES (%s, %s, %s, %s, %s, %s, %s)",
            (
                row["offer_id"],
                row["job_id"],
                row["client_id"],
                row["freelancer_id"],
                "pending",
                row["sent_at"],
                Jsonb(row),
            ),
        )

    def on_OfferAccepted(self, cur, event: RecordedEvent) -> None:
        # The acceptance time is the event's recorded time, not a data field.
        self._settle(cur, event.data["offer_id"], "accepted", iso(event.recorded_at), None)

    def _settle_from(self, cur, event: RecordedEvent) -> None:
        status, at_field = OFFER_OUTCOMES[event.type]
        self._settle(
            cur, event.data["offer_id"], status, event.data[at_field], event.data.get("reason")
        )

    def _settle(self, cur, offer_id: str, status: str, at: str, reason: str | None) -> None:
        cur.execute(
            "UPDATE bidding_offers SET status = %s, row = row || %s WHERE offer_id = %s",
            (
                status,
                Jsonb({"status": status, "settled_at": at, "settle_reason": reason}),
                offer_id,
            ),
        )


for _type in OFFER_OUTCOMES:
    setattr(OffersView, f"on_{_type}", OffersView._settle_from)


def read_models() -> list[Projection]:
    return [ProposalsView(), OffersView()]


def rebuild(conn, projections: Iterable[Projection], events: Iterable[RecordedEvent]) -> int:
    """Empty the projections' tables and replay ``events`` through them, in one transaction
    on ``conn``. Returns how many events were replayed."""
    projections = list(projections)
    count = 0
    with conn.transaction():
        cur = conn.cursor()
        for projection in projections:
            for table in projection.tables:
                cur.execute(f"TRUNCATE {table}")
        for event in events:
            for projection in projections:
                projection.apply(cur, event)
            count += 1
    return count
