"""Reputation's read models on PostgreSQL, and loading histories from its own log.

``ReputationReadModel`` keeps four tables in the append's transaction (see
``migrations/0001_read_models.sql``): contracts, feedback, members and the stored score and
badge of each freelancer. The stored score is recomputed from the log whenever one of the
freelancer's events is appended, as of that event's recorded time and reading only events
up to its position, so a rebuild from position 0 writes the same rows.

Scores served over RPC are computed at read time for the requested moment from the same
events (``load_histories``): the tables only find which streams to read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

import psycopg

from services.reputation.badges import evaluate_badges
from services.reputation.domain import ContractFeedback, Member
from services.reputation.projections import (
    ContractHistory,
    MemberHistory,
    contract_history,
    member_history,
)
from services.reputation.scoring import job_success_score
from services.reputation.settings import ScoreSettings
from shared.eventstore import Projection
from shared.eventstore.records import RecordedEvent

# The published formula's parameters. They are code, not configuration: every replica,
# every rebuild and every auditor must compute the same score from the same events.
SCORE_SETTINGS = ScoreSettings()

Fetch = Callable[[str, tuple], list[tuple]]


@dataclass(frozen=True)
class LoggedEvent:
    """A stored event as the pure folds read it."""

    id: str
    stream: str
    type: str
    data: dict
    position: int


def _events(fetch: Fetch, streams: list[str], until_position: int | None) -> list[LoggedEvent]:
    # Reputation has no upcasters yet: every stored event is at schema version 1.
    if not streams:
        return []
    # ``position + 0``: the bound must not be answered from the position index. Without
    # fresh statistics PostgreSQL would AND a scan of every position up to the bound with
    # the streams' key lookups, a read that grows with the whole log (measured: 2 ms at 60k
    # events for a freelancer with one contract); the streams' own rows are few.
    rows = fetch(
        "SELECT event_id::text, stream, type, data, position FROM events"
        " WHERE stream = ANY(%s) AND position + 0 <= %s ORDER BY position",
        (streams, until_position if until_position is not None else 2**62),
    )
    return [LoggedEvent(*row) for row in rows]


def load_histories(
    fetch: Fetch,
    contract_ids: Iterable[str],
    member_id: str | None = None,
    until_position: int | None = None,
) -> tuple[list[ContractHistory], MemberHistory | None]:
    """Fold the named contracts' streams (and one member's) from the log."""
    contract_ids = sorted(set(contract_ids))
    streams = [ContractFeedback.stream_for(cid) for cid in contract_ids]
    member_stream = Member.stream_for(member_id) if member_id else None
    if member_stream:
        streams.append(member_stream)
    by_stream: dict[str, list[LoggedEvent]] = {s: [] for s in streams}
    for event in _events(fetch, streams, until_position):
        by_stream[event.stream].append(event)
    histories = [
        contract_history(cid, by_stream[ContractFeedback.stream_for(cid)])
        for cid in contract_ids
        if by_stream[ContractFeedback.stream_for(cid)]
    ]
    member = None
    if member_stream and by_stream[member_stream]:
        member = member_history(member_id, by_stream[member_stream])
    return histories, member


def freelancer_standing(
    fetch: Fetch, freelancer_id: str, as_of: datetime, until_position: int | None = None
) -> tuple[object, dict]:
    """(ScoreReport, badge evaluation) of a freelancer at ``as_of``."""
    ids = [
        row[0]
        for row in fetch(
            "SELECT contract_id FROM reputation_contracts WHERE freelancer_id = %s",
            (freelancer_id,),
        )
    ]
    histories, member = load_histories(fetch, ids, freelancer_id, until_position)
    report = job_success_score(freelancer_id, histories, as_of, SCORE_SETTINGS)
    return report, evaluate_badges(member, histories, report, SCORE_SETTINGS)


class ReputationReadModel(Projection):
    name = "reputation"
    tables = (
        "reputation_contracts",
        "reputation_feedback",
        "reputation_members",
        "reputation_scores",
    )

    # -- contracts -----------------------------------------------------------------------

    def on_ContractTracked(self, cur: psycopg.Cursor, event: RecordedEvent) -> None:
        d = event.data
        cur.execute(
            "INSERT INTO reputation_contracts (contract_id, client_id, freelancer_id, kind,"
            " job_id, started_at, last_position) VALUES (%s, %s, %s, %s, %s, %s, %s)",
            (
                d["contract_id"],
                d["client_id"],
                d["freelancer_id"],
                d["kind"],
                d["job_id"],
                d["started_at"],
                event.position,
            ),
        )
        self._rescore_contract(cur, event)

    def on_PaymentNoted(self, cur, event):
        self._touch(cur, event, "payments = payments + 1")

    def on_RefundNoted(self, cur, event):
        self._touch(cur, event, "refunds = refunds + 1")

    def on_DisputeOutcomeNoted(self, cur, event):
        self._touch(cur, event)

    def on_FeedbackWindowOpened(self, cur, event):
        self._touch(
            cur,
            event,
            "ended_at = %s, closes_at = %s",
            (event.data["ended_at"], event.data["closes_at"]),
        )

    def on_FeedbackWindowClosed(self, cur, event):
        self._touch(cur, event, "window_closed_at = %s", (event.data["closed_at"],))

    # -- feedback ------------------------------------------------------------------------

    def on_FeedbackSubmitted(self, cur, event):
        d = event.data
        cur.execute(
            "INSERT INTO reputation_feedback (contract_id, side, author_id, subject_id, rating,"
            " submitted_at) VALUES (%s, %s, %s, %s, %s, %s)",
            (
                _contract_id(event),
                d["side"],
                d["author_id"],
                d["subject_id"],
                d["rating"],
                d["submitted_at"],
            ),
        )
        self._touch(cur, event)

    def on_FeedbackRevealed(self, cur, event):
        cur.execute(
            "UPDATE reputation_feedback SET revealed_at = %s"
            " WHERE contract_id = %s AND side = ANY(%s) AND revealed_at IS NULL",
            (event.data["revealed_at"], _contract_id(event), event.data["sides"]),
        )
        self._touch(cur, event)

    def on_FeedbackReplied(self, cur, event):
        cur.execute(
            "UPDATE reputation_feedback SET replied_at = %s WHERE contract_id = %s AND side = %s",
            (event.data["replied_at"], _contract_id(event), event.data["feedback_side"]),
        )
        self._touch(cur, event)

    # -- members -------------------------------------------------------------------------

    def on_MemberRegistered(self, cur, event):
        self._member(
            cur,
            event,
            "roles = %s, registered_at = %s",
            (event.data["roles"], event.data["registered_at"]),
        )

    def on_MemberSuspended(self, cur, event):
        self._member(cur, event, "suspended = true")

    def on_MemberReinstated(self, cur, event):
        self._member(cur, event, "suspended = false")

    def on_PaymentVerificationNoted(self, cur, event):
        self._member(cur, event, "payment_verified_at = %s", (event.data["verified_at"],))

    def on_JobPostingNoted(self, cur, event):
        self._member(cur, event, "jobs_posted = reputation_members.jobs_posted + 1")

    # -- helpers -------------------------------------------------------------------------

    def _touch(self, cur, event, assignments: str = "", params: tuple = ()) -> None:
        sets = (assignments + ", " if assignments else "") + "last_position = %s"
        cur.execute(
            f"UPDATE reputation_contracts SET {sets} WHERE contract_id = %s",
            (*params, event.position, _contract_id(event)),
        )
        self._rescore_contract(cur, event)

    def _member(self, cur, event, assignments: str, params: tuple = ()) -> None:
        user_id = event.stream.removeprefix(f"{Member.stream_prefix}-")
        cur.execute(
            "INSERT INTO reputation_members (user_id) VALUES (%s) ON CONFLICT DO NOTHING",
            (user_id,),
        )
        cur.execute(
            f"UPDATE reputation_members SET {assignments} WHERE user_id = %s",
            (*params, user_id),
        )
        roles = cur.execute(
            "SELECT roles FROM reputation_members WHERE user_id = %s", (user_id,)
        ).fetchone()[0]
        if "freelancer" in roles:
            self._rescore(cur, user_id, event)

    def _rescore_contract(self, cur, event) -> None:
        row = cur.execute(
            "SELECT freelancer_id FROM reputation_contracts WHERE contract_id = %s",
            (_contract_id(event),),
        ).fetchone()
        self._rescore(cur, row[0], event)

    def _rescore(self, cur, freelancer_id: str, event: RecordedEvent) -> None:
        def fetch(sql: str, params: tuple) -> list[tuple]:
            return cur.execute(sql, params).fetchall()

        report, badges = freelancer_standing(
            fetch, freelancer_id, event.recorded_at, until_position=event.position
        )
        cur.execute(
            "INSERT INTO reputation_scores (freelancer_id, as_of, score, counted_contracts,"
            " distinct_clients, positive_weight, negative_weight, badge, position)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (freelancer_id) DO UPDATE SET as_of = excluded.as_of,"
            " score = excluded.score, counted_contracts = excluded.counted_contracts,"
            " distinct_clients = excluded.distinct_clients,"
            " positive_weight = excluded.positive_weight,"
            " negative_weight = excluded.negative_weight, badge = excluded.badge,"
            " position = excluded.position",
            (
                freelancer_id,
                event.recorded_at,
                report.score,
                report.counted_contracts,
                report.distinct_clients,
                report.positive_weight,
                report.negative_weight,
                badges["badge"],
                event.position,
            ),
        )


def _contract_id(event: RecordedEvent) -> str:
    return event.stream.removeprefix(f"{ContractFeedback.stream_prefix}-")
