"""Read models of the jobs service as pure folds over events.

- ``job_row_after``: one row of the ``job_search`` table per job, from the job's own events.
- ``client_stats_after``: one row of client stats per client, from identity, escrow and
  reputation events and the jobs' own ``JobPublished``; its search columns are copied onto
  the client's job rows (``client_search_columns``).
- ``job_history`` and ``job_view``: what ``job_history`` and ``get_job`` return.

Each fold takes the previous row (None before the first event) and one event, and returns
the next row, so the wiring can apply live events and rebuild from position 0 with the
same code.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from services.jobs.domain import Actor, Job
from services.jobs.search import DOCUMENT_SQL, document_params
from shared.clock import iso, parse_time
from shared.eventstore import Projection
from shared.eventstore.records import RecordedEvent
from shared.money import Money

# --- the job search row -----------------------------------------------------------------


def _time(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return parse_time(value)


def _details_columns(details: Mapping[str, Any]) -> dict:
    budget = details["budget"]
    if budget["type"] == "fixed":
        low = high = budget["amount"]
    else:
        low, high = budget["min"], budget["max"]
    return {
        "title": details["title"],
        "description": details["description"],
        "category": details["category"],
        "subcategory": details["subcategory"],
        "skills": list(details["skills"]),
        "experience_level": details["experience_level"],
        "project_length": details["project_length"],
        "hours_per_week": details["hours_per_week"],
        "visibility": details["visibility"],
        "job_type": budget["type"],
        "budget": budget,
        "budget_currency": low["currency"],
        "budget_low": low["amount"],
        "budget_high": high["amount"],
        "screening_questions": list(details["screening_questions"]),
        "attachments": list(details["attachments"]),
        "contract_to_hire": details["contract_to_hire"],
    }


def _window_columns(data: Mapping[str, Any], at: str) -> dict:
    if data.get("expires_at") is None:
        return {}
    return {"last_activity_at": _time(at), "expires_at": _time(data["expires_at"])}


def job_row_after(row: dict | None, event_type: str, data: Mapping[str, Any]) -> dict:
    """The ``job_search`` row after one of the job's own events.

    Client columns (``client_payment_verified``, ``client_total_hires``,
    ``client_suspended``, ``client_rating_centi``, ``client_rating_count``) start
    false/zero/null here and are kept by ``client_search_columns``.
    """
    if event_type == "JobCreated":
        return {
            "job_id": data["job_id"],
            "client_id": data["client_id"],
            "status": "draft",
            "close_reason": None,
            "invitees": [],
            "proposal_count": 0,
            "hire_count": 0,
            "created_at": _time(data["created_at"]),
            "updated_at": _time(data["created_at"]),
            "published_at": None,
            "closed_at": None,
            "last_activity_at": None,
            "expires_at": None,
            "client_payment_verified": False,
            "client_total_hires": 0,
            "client_suspended": False,
            "client_rating_centi": None,
            "client_rating_count": 0,
            **_details_columns(data["details"]),
        }
    if row is None:
        raise ValueError(f"{event_type} before JobCreated")
    row = dict(row)
    if event_type == "JobUpdated":
        details = {k: row[k] for k in _DETAIL_KEYS}
        details["budget"] = row["budget"]
        details.update(data["changes"])
        row.update(_details_columns(details))
        row["updated_at"] = _time(data["updated_at"])
        row.update(_window_columns(data, data["updated_at"]))
    elif event_type == "JobPublished":
        row["status"] = "open"
        row["published_at"] = _time(data["published_at"])
        row.update(_window_columns(data, data["published_at"]))
    elif event_type == "FreelancerInvited":
        row["invitees"] = sorted({*row["invitees"], data["freelancer_id"]})
        row.update(_window_columns(data, data["invited_at"]))
    elif event_type == "JobProposalReceived":
        row["proposal_count"] += 1
        row.update(_window_columns(data, data["received_at"]))
    elif event_type == "JobProposalWithdrawn":
        row["proposal_count"] = max(0, row["proposal_count"] - 1)
    elif event_type == "JobClosed":
        row.update(status="closed", close_reason=data["reason"], closed_at=_time(data["closed_at"]))
    elif event_type == "JobExpired":
        row.update(status="closed", close_reason="expired", closed_at=_time(data["expired_at"]))
    elif event_type == "JobFilled":
        row.update(status="closed", close_reason="filled", closed_at=_time(data["filled_at"]))
        row["hire_count"] += 1
    elif event_type == "JobHireAdded":
        row["hire_count"] += 1
    elif event_type in ("InvitationDeclined", "JobExpiryWarned"):
        pass  # no searchable column changes
    else:
        raise ValueError(f"job_search does not know {event_type}")
    return row


_DETAIL_KEYS = (
    "title",
    "description",
    "category",
    "subcategory",
    "skills",
    "experience_level",
    "project_length",
    "hours_per_week",
    "visibility",
    "screening_questions",
    "attachments",
    "contract_to_hire",
)


def row_visible_to(row: Mapping[str, Any], viewer: Actor | None) -> bool:
    """The search row's view of ``Job.can_view``: drafts to their owner, then visibility."""
    if viewer is not None and (viewer.is_staff or viewer.user_id == row["client_id"]):
        return True
    if row["status"] == "draft":
        return False
    if row["visibility"] == "public":
        return True
    if viewer is None:
        return False
    return row["visibility"] == "signed_in" or viewer.user_id in row["invitees"]


# --- client stats -----------------------------------------------------------------------


@dataclass(frozen=True)
class ClientStats:
    """What a job shows about its client, kept from other services' events."""

    client_id: str
    payment_verified: bool = False
    suspended: bool = False
    jobs_posted: int = 0
    total_hires: int = 0
    hired_job_ids: frozenset[str] = field(default_factory=frozenset)
    spent: Mapping[str, int] = field(default_factory=dict)  # currency -> minor units
    rating_centi: int | None = None
    rating_count: int = 0

    @property
    def hire_rate_percent(self) -> int | None:
        """Jobs posted that led to a hire, in whole percent (rounded down); None before any."""
        if self.jobs_posted == 0:
            return None
        return min(100, len(self.hired_job_ids) * 100 // self.jobs_posted)


# The event types ``client_stats_after`` folds; the key is where the client's id is.
CLIENT_STATS_EVENTS = {
    "UserSuspended": "user_id",
    "UserReinstated": "user_id",
    "PaymentMethodVerified": "user_id",
    "ContractStarted": "client_id",
    "PaymentReleased": "client_id",
    "ClientRatingUpdated": "client_id",
    "JobPublished": "client_id",
}


def client_id_of(event_type: str, data: Mapping[str, Any]) -> str:
    """Which client's stats an event changes."""
    return data[CLIENT_STATS_EVENTS[event_type]]


def client_stats_after(
    stats: ClientStats | None, event_type: str, data: Mapping[str, Any]
) -> ClientStats:
    """The client's stats after one event (data as loaded by its schema, or raw JSON)."""
    if event_type not in CLIENT_STATS_EVENTS:
        raise ValueError(f"client stats do not know {event_type}")
    if stats is None:
        stats = ClientStats(client_id=client_id_of(event_type, data))
    if event_type == "UserSuspended":
        return replace(stats, suspended=True)
    if event_type == "UserReinstated":
        return replace(stats, suspended=False)
    if event_type == "PaymentMethodVerified":
        return replace(stats, payment_verified=True)
    if event_type == "JobPublished":
        return replace(stats, jobs_posted=stats.jobs_posted + 1)
    if event_type == "ContractStarted":
        return replace(
            stats,
            total_hires=stats.total_hires + 1,
            hired_job_ids=stats.hired_job_ids | {data["job_id"]},
        )
    if event_type == "PaymentReleased":
        amount = data["amount"]
        money = amount if isinstance(amount, Money) else Money.from_dict(amount)
        spent = dict(stats.spent)
        spent[money.currency] = spent.get(money.currency, 0) + money.amount
        return replace(stats, spent=spent)
    # ClientRatingUpdated: reputation sends the whole current figure, not a delta.
    return replace(
        stats, rating_centi=data["average_rating_centi"], rating_count=data["rating_count"]
    )


def client_search_columns(stats: ClientStats) -> dict:
    """The columns of every ``job_search`` row of this client that come from its stats."""
    return {
        "client_payment_verified": stats.payment_verified,
        "client_total_hires": stats.total_hires,
        "client_suspended": stats.suspended,
        "client_rating_centi": stats.rating_centi,
        "client_rating_count": stats.rating_count,
    }


def client_stats_view(stats: ClientStats) -> dict:
    """Client stats as shown on a job: JSON, money as Money dicts, rating in hundredths."""
    return {
        "payment_verified": stats.payment_verified,
        "jobs_posted": stats.jobs_posted,
        "hires": stats.total_hires,
        "hire_rate_percent": stats.hire_rate_percent,
        "total_spent": [Money(a, c).to_dict() for c, a in sorted(stats.spent.items())],
        "average_rating_centi": stats.rating_centi,
        "rating_count": stats.rating_count,
    }


# --- history and the job page -----------------------------------------------------------

_HISTORY = {
    "JobCreated": ("created_at", "client_id", "Job created as a draft"),
    "JobUpdated": ("updated_at", "updated_by", "Job edited"),
    "JobPublished": ("published_at", "client_id", "Job published"),
    "FreelancerInvited": ("invited_at", "invited_by", "Freelancer invited"),
    "InvitationDeclined": ("declined_at", "freelancer_id", "Invitation declined"),
    "JobProposalReceived": ("received_at", "freelancer_id", "Proposal received"),
    "JobProposalWithdrawn": ("withdrawn_at", None, "Proposal withdrawn"),
    "JobExpiryWarned": ("warned_at", None, "Client warned of expiry"),
    "JobExpired": ("expired_at", None, "Job expired without activity"),
    "JobClosed": ("closed_at", "closed_by", "Job closed"),
    "JobFilled": ("filled_at", None, "Job filled by a contract"),
    "JobHireAdded": ("hired_at", None, "Another freelancer hired"),
}


def job_history(events: Iterable[Any], viewer: Actor | None = None) -> list[dict]:
    """The job's history, one entry per event (anything with ``type``, ``data``, ``version``).

    Edits show their changed fields with old and new values. Who did what is shown to the
    owner and staff only; other viewers see the timeline without people or proposals.
    """
    events = list(events)
    owner = events[0].data["client_id"] if events else None
    private = viewer is None or not (viewer.is_staff or viewer.user_id == owner)
    entries = []
    for event in events:
        at_key, by_key, summary = _HISTORY[event.type]
        if private and event.type in (
            "FreelancerInvited",
            "InvitationDeclined",
            "JobProposalReceived",
            "JobProposalWithdrawn",
            "JobExpiryWarned",
        ):
            continue
        entry = {
            "version": event.version,
            "type": event.type,
            "at": event.data[at_key],
            "summary": summary,
        }
        if not private:
            entry["by"] = event.data.get(by_key) if by_key else None
        if event.type == "JobUpdated":
            entry["changes"] = {
                name: {"from": event.data["previous"][name], "to": new}
                for name, new in event.data["changes"].items()
            }
        if event.type == "JobClosed":
            entry["reason"] = event.data["reason"]
        entries.append(entry)
    return entries


def job_view(job: Job, viewer: Actor | None, stats: ClientStats | None = None) -> dict:
    """``get_job``'s answer; call ``job.require_visible(viewer)`` first.

    Everyone sees the post, its status and counts, and the client's stats; the owner and
    staff also see the invitations and the expiry deadline.
    """
    view = {
        "job_id": job.id,
        "client_id": job.client_id,
        "status": job.status,
        "close_reason": job.close_reason,
        **job.details,
        "created_at": iso(job.created_at),
        "published_at": iso(job.published_at) if job.published_at else None,
        "closed_at": iso(job.closed_at) if job.closed_at else None,
        "proposal_count": job.active_proposal_count,
        "invitations_sent": len(job.invitations),
        "hires": len(job.hires),
        "client": client_stats_view(stats or ClientStats(client_id=job.client_id)),
    }
    if viewer is not None and (viewer.is_staff or job.is_owner(viewer)):
        view["invitations"] = [
            {"freelancer_id": f, "status": s} for f, s in sorted(job.invitations.items())
        ]
        view["expires_at"] = iso(job.expires_at) if job.status == "open" else None
        view["version"] = job.version
    elif viewer is not None and viewer.user_id in job.invitations:
        view["my_invitation"] = job.invitations[viewer.user_id]
    return view


# --- the tables: projections run in the append's transaction ------------------------------
#
# Facts from other services are first noted as private events in the jobs log (by
# ``policies.py``), and only those notes feed the tables below, so every table rebuilds
# from the jobs log alone.

# Private events the policies record: type -> (fold type of ``client_stats_after``, key of
# the client id). ``MemberSuspensionNoted`` folds as UserSuspended or UserReinstated.
NOTED_CLIENT_FACTS = {
    "MemberSuspensionNoted": "user_id",
    "PaymentVerificationNoted": "user_id",
    "HireNoted": "client_id",
    "SpendNoted": "client_id",
    "ClientRatingNoted": "client_id",
}
# Kept off the jobs.events exchange: facts other services own, and users' saved searches.
PRIVATE_EVENT_TYPES = frozenset(
    {*NOTED_CLIENT_FACTS, "FreelancerProfileNoted", "SearchSaved", "SavedSearchDeleted"}
)


def noted_as_fold(event_type: str, data: Mapping[str, Any]) -> tuple[str, dict]:
    """A noted fact in the form ``client_stats_after`` folds."""
    if event_type == "MemberSuspensionNoted":
        return ("UserSuspended" if data["suspended"] else "UserReinstated"), dict(data)
    if event_type == "PaymentVerificationNoted":
        return "PaymentMethodVerified", dict(data)
    if event_type == "HireNoted":
        return "ContractStarted", dict(data)
    if event_type == "SpendNoted":
        return "PaymentReleased", dict(data)
    if event_type == "ClientRatingNoted":
        return "ClientRatingUpdated", dict(data)
    raise ValueError(f"not a noted client fact: {event_type}")


JOB_EVENT_TYPES = tuple(_HISTORY)
JOB_SEARCH_COLUMNS = (
    "job_id",
    "client_id",
    "status",
    "close_reason",
    "visibility",
    "invitees",
    "title",
    "description",
    "category",
    "subcategory",
    "skills",
    "experience_level",
    "project_length",
    "hours_per_week",
    "job_type",
    "budget",
    "budget_currency",
    "budget_low",
    "budget_high",
    "screening_questions",
    "attachments",
    "contract_to_hire",
    "proposal_count",
    "hire_count",
    "created_at",
    "updated_at",
    "published_at",
    "closed_at",
    "last_activity_at",
    "expires_at",
    "client_payment_verified",
    "client_total_hires",
    "client_suspended",
    "client_rating_centi",
    "client_rating_count",
)
_JSON_COLUMNS = {"budget", "screening_questions", "attachments"}


def _dict_cursor(cur: psycopg.Cursor) -> psycopg.Cursor:
    return cur.connection.cursor(row_factory=dict_row)


def load_client_stats(cur: psycopg.Cursor, client_id: str) -> ClientStats:
    """The client's stats row (zeroes before any fact)."""
    row = (
        _dict_cursor(cur)
        .execute("SELECT * FROM client_stats WHERE client_id = %s", (client_id,))
        .fetchone()
    )
    if row is None:
        return ClientStats(client_id=client_id)
    return ClientStats(
        client_id=client_id,
        payment_verified=row["payment_verified"],
        suspended=row["suspended"],
        jobs_posted=row["jobs_posted"],
        total_hires=row["total_hires"],
        hired_job_ids=frozenset(row["hired_job_ids"]),
        spent=dict(row["spent"]),
        rating_centi=row["rating_centi"],
        rating_count=row["rating_count"],
    )


class JobSearchProjection(Projection):
    """``job_search``: one row per job, folded by ``job_row_after``."""

    name = "job_search"
    tables = ("job_search",)

    def handles(self, event_type: str) -> bool:
        return event_type in JOB_EVENT_TYPES

    def apply(self, cur: psycopg.Cursor, event: RecordedEvent) -> None:
        if not self.handles(event.type):
            return
        if event.type == "JobCreated":
            row = job_row_after(None, event.type, event.data)
            stats = load_client_stats(cur, row["client_id"])
            row.update(client_search_columns(stats))
        else:
            found = (
                _dict_cursor(cur)
                .execute("SELECT * FROM job_search WHERE job_id = %s", (event.data["job_id"],))
                .fetchone()
            )
            row = job_row_after(found, event.type, event.data)
        self._write(cur, row)

    @staticmethod
    def _write(cur: psycopg.Cursor, row: Mapping[str, Any]) -> None:
        values = [Jsonb(row[c]) if c in _JSON_COLUMNS else row[c] for c in JOB_SEARCH_COLUMNS]
        names = ", ".join(JOB_SEARCH_COLUMNS)
        updates = ", ".join(f"{c} = excluded.{c}" for c in (*JOB_SEARCH_COLUMNS[1:], "document"))
        placeholders = ", ".join(["%s"] * len(JOB_SEARCH_COLUMNS))
        cur.execute(
            f"INSERT INTO job_search ({names}, document) VALUES ({placeholders}, {DOCUMENT_SQL})"
            f" ON CONFLICT (job_id) DO UPDATE SET {updates}",
            (*values, *document_params(row["title"], row["skills"], row["description"])),
        )


class ClientStatsProjection(Projection):
    """``client_stats``, and the client columns copied onto each of the client's jobs."""

    name = "client_stats"
    tables = ("client_stats",)

    def handles(self, event_type: str) -> bool:
        return event_type == "JobPublished" or event_type in NOTED_CLIENT_FACTS

    def apply(self, cur: psycopg.Cursor, event: RecordedEvent) -> None:
        if event.type == "JobPublished":
            fold_type, data, client_id = event.type, event.data, event.data["client_id"]
        elif event.type in NOTED_CLIENT_FACTS:
            fold_type, data = noted_as_fold(event.type, event.data)
            client_id = event.data[NOTED_CLIENT_FACTS[event.type]]
        else:
            return
        stats = client_stats_after(load_client_stats(cur, client_id), fold_type, data)
        cur.execute(
            "INSERT INTO client_stats (client_id, payment_verified, suspended, jobs_posted,"
            " total_hires, hired_job_ids, spent, rating_centi, rating_count)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (client_id) DO UPDATE SET"
            " payment_verified = excluded.payment_verified, suspended = excluded.suspended,"
            " jobs_posted = excluded.jobs_posted, total_hires = excluded.total_hires,"
            " hired_job_ids = excluded.hired_job_ids, spent = excluded.spent,"
            " rating_centi = excluded.rating_centi, rating_count = excluded.rating_count",
            (
                client_id,
                stats.payment_verified,
                stats.suspended,
                stats.jobs_posted,
                stats.total_hires,
                sorted(stats.hired_job_ids),
                Jsonb(dict(stats.spent)),
                stats.rating_centi,
                stats.rating_count,
            ),
        )
        columns = client_search_columns(stats)
        values = (
            columns["client_payment_verified"],
            columns["client_total_hires"],
            columns["client_suspended"],
            columns["client_rating_centi"],
            columns["client_rating_count"],
        )
        # Only rows whose copy differs are rewritten: most facts (a job posted, money spent)
        # change none of these columns, and each rewritten row costs a new tuple and an entry
        # in every index of the search table, for every job the client ever posted.
        cur.execute(
            "UPDATE job_search SET client_payment_verified = %s, client_total_hires = %s,"
            " client_suspended = %s, client_rating_centi = %s, client_rating_count = %s"
            " WHERE client_id = %s AND (client_payment_verified, client_total_hires,"
            " client_suspended, client_rating_centi, client_rating_count)"
            " IS DISTINCT FROM (%s, %s, %s, %s, %s)",
            (*values, client_id, *values),
        )


class FreelancerProfileProjection(Projection):
    """``freelancer_profiles``: skills and hourly rate, for best matches."""

    name = "freelancer_profiles"
    tables = ("freelancer_profiles",)

    def on_FreelancerProfileNoted(self, cur: psycopg.Cursor, event: RecordedEvent) -> None:
        data = event.data
        rate = data["hourly_rate"]
        cur.execute(
            "INSERT INTO freelancer_profiles (freelancer_id, skills, hourly_rate, updated_at)"
            " VALUES (%s, %s, %s, %s) ON CONFLICT (freelancer_id) DO UPDATE SET"
            " skills = excluded.skills, hourly_rate = excluded.hourly_rate,"
            " updated_at = excluded.updated_at",
            (
                data["freelancer_id"],
                list(data["skills"]),
                Jsonb(rate) if rate is not None else None,
                _time(data["updated_at"]),
            ),
        )


def read_model_projections() -> list[Projection]:
    """The projections of the jobs service, in the order they must run."""
    return [JobSearchProjection(), ClientStatsProjection(), FreelancerProfileProjection()]


def rebuild_read_models(store: Any, projections: Sequence[Projection]) -> int:
    """Empty every read-model table and replay the whole log through ``projections``.

    ``store`` is a ``PostgresEventStore``. One transaction: readers see the old rows until
    the new ones are complete. Returns how many events were replayed.
    """
    replayed = 0
    with store.pool.connection() as conn:
        with conn.transaction():
            cur = conn.cursor()
            tables = [t for p in projections for t in p.tables]
            cur.execute(f"TRUNCATE {', '.join(tables)}")
            for event in store.iter_all():
                for projection in projections:
                    projection.apply(cur, event)
                replayed += 1
    return replayed
