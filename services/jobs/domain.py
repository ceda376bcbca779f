"""The jobs service's aggregates: Job (with its invitations) and SavedSearches.

Pure domain, no I/O. Every command checks its rules, raises a typed error from
``shared.errors`` when one is broken, and records past-tense events whose data is plain
JSON. Time (``now``), settings, the caller (``Actor``) and identity's skill list are all
passed in by the service layer.

Stream names: ``job-<job id>`` and ``saved-searches-<user id>``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from services.jobs.settings import JobSettings
from services.jobs.taxonomy import Taxonomy, canonical_skills
from shared.clock import iso, parse_time
from shared.domain import Aggregate, NewEvent
from shared.errors import Conflict, Forbidden, NotFound, ValidationError
from shared.money import Money, MoneyError

EXPERIENCE_LEVELS = ("entry", "intermediate", "expert")
PROJECT_LENGTHS = ("less_than_1_month", "1_to_3_months", "3_to_6_months", "more_than_6_months")
HOURS_PER_WEEK = ("less_than_30", "more_than_30", "not_sure")
VISIBILITIES = ("public", "signed_in", "invite_only")
BUDGET_TYPES = ("fixed", "hourly")
# Reasons a person may give when closing; "filled" comes only from escrow's contract and
# "expired" only from the inactivity timer.
CLOSE_REASONS = ("no_hire", "cancelled")

# Bounds of a job's text, in characters after trimming outer whitespace. The schemas bound
# the raw input too; these hold the invariant whoever calls the domain.
TITLE_LENGTH = (10, 120)
DESCRIPTION_LENGTH = (50, 10_000)
SCREENING_QUESTION_LENGTH = (5, 500)
MAX_SKILLS = 15
MAX_SCREENING_QUESTIONS = 10
MAX_ATTACHMENTS = 10
MAX_INVITATION_MESSAGE = 2_000
MAX_NOTE = 1_000

# The fields that make up a job post, all required on create and each editable by update.
DETAIL_FIELDS = (
    "title",
    "description",
    "category",
    "subcategory",
    "skills",
    "experience_level",
    "project_length",
    "hours_per_week",
    "budget",
    "visibility",
    "screening_questions",
    "attachments",
    "contract_to_hire",
)

STAFF_ROLES = frozenset({"operator", "auditor"})


@dataclass(frozen=True)
class Actor:
    """Who is calling: user id, roles from the token, and suspension from identity's events."""

    user_id: str
    roles: frozenset[str] = field(default_factory=frozenset)
    suspended: bool = False

    def has_role(self, role: str) -> bool:
        """True when the caller holds ``role``."""
        return role in self.roles

    @property
    def is_staff(self) -> bool:
        """Operators and auditors may look at everything."""
        return bool(self.roles & STAFF_ROLES)


def _require_active(actor: Actor) -> None:
    if actor.suspended:
        raise Forbidden("your account is suspended")


# --- job details ------------------------------------------------------------------------


def _money(value: Any) -> Money:
    if isinstance(value, Money):
        return value
    if isinstance(value, Mapping):
        return Money(value.get("amount"), value.get("currency"))
    raise MoneyError(f"not an amount of money: {value!r}")


def budget_data(budget: Any) -> dict:
    """Check a budget and return its event form.

    ``{"type": "fixed", "amount": Money}`` or ``{"type": "hourly", "min": Money,
    "max": Money}``; amounts may be ``Money`` or its dict form. Amounts are positive, an
    hourly range is in one currency with ``min <= max``. Raises ValidationError on "budget".
    """
    try:
        if not isinstance(budget, Mapping) or budget.get("type") not in BUDGET_TYPES:
            raise ValueError("budget type must be 'fixed' or 'hourly'")
        if budget["type"] == "fixed":
            if set(budget) != {"type", "amount"}:
                raise ValueError("a fixed budget has exactly an amount")
            amount = _money(budget["amount"])
            if not amount.is_positive:
                raise ValueError("the fixed budget must be positive")
            return {"type": "fixed", "amount": amount.to_dict()}
        if set(budget) != {"type", "min", "max"}:
            raise ValueError("an hourly budget has exactly a min and a max rate")
        low, high = _money(budget["min"]), _money(budget["max"])
        if low.currency != high.currency:
            raise ValueError("hourly min and max must be in the same currency")
        if not low.is_positive:
            raise ValueError("the hourly min rate must be positive")
        if low > high:
            raise ValueError("the hourly min rate is above the max rate")
        return {"type": "hourly", "min": low.to_dict(), "max": high.to_dict()}
    except (ValueError, KeyError, TypeError) as exc:  # MoneyError is a ValueError
        raise ValidationError("invalid budget", {"budget": [str(exc)]}) from None


def job_details_data(
    details: Mapping[str, Any], taxonomy: Taxonomy, known_skills: Iterable[str]
) -> dict:
    """Check a complete set of job details and return them as event data.

    Checks every field (category and subcategory against the taxonomy, skills against
    identity's ``known_skills``, mapped to their canonical spelling) and collects every
    problem into one ValidationError keyed by field name.
    """
    errors: dict[str, list[str]] = {}

    def fail(name: str, message: str) -> None:
        errors.setdefault(name, []).append(message)

    unknown = sorted(set(details) - set(DETAIL_FIELDS))
    for name in unknown:
        fail(name, "Unknown field.")
    for name in DETAIL_FIELDS:
        if name not in details:
            fail(name, "Missing data for required field.")
    if errors:
        raise ValidationError("invalid job", errors)

    data: dict[str, Any] = {}
    for name, (low, high) in (("title", TITLE_LENGTH), ("description", DESCRIPTION_LENGTH)):
        value = details[name]
        text = value.strip() if isinstance(value, str) else None
        if text is None or not low <= len(text) <= high:
            fail(name, f"Must be between {low} and {high} characters.")
        data[name] = text

    category, subcategory = details["category"], details["subcategory"]
    if not isinstance(category, str) or not taxonomy.has_category(category):
        fail("category", f"Unknown category {category!r}.")
    elif not isinstance(subcategory, str) or not taxonomy.has_subcategory(category, subcategory):
        fail("subcategory", f"Unknown subcategory {subcategory!r} of {category!r}.")
    data["category"], data["subcategory"] = category, subcategory

    skills = details["skills"]
    if not isinstance(skills, list | tuple) or not all(isinstance(s, str) for s in skills):
        fail("skills", "Must be a list of skill names.")
    else:
        found, missing = canonical_skills(skills, known_skills)
        if missing:
            fail("skills", f"Unknown skills: {', '.join(sorted(missing))}.")
        elif len(found) != len(skills):
            fail("skills", "Skills must not repeat.")
        elif not 1 <= len(found) <= MAX_SKILLS:
            fail("skills", f"Between 1 and {MAX_SKILLS} skills.")
        data["skills"] = found

    for name, allowed in (
        ("experience_level", EXPERIENCE_LEVELS),
        ("project_length", PROJECT_LENGTHS),
        ("visibility", VISIBILITIES),
    ):
        if details[name] not in allowed:
            fail(name, f"Must be one of: {', '.join(allowed)}.")
        data[name] = details[name]

    hours = details["hours_per_week"]
    if hours is not None and hours not in HOURS_PER_WEEK:
        fail("hours_per_week", f"Must be one of: {', '.join(HOURS_PER_WEEK)}.")
    data["hours_per_week"] = hours

    try:
        data["budget"] = budget_data(details["budget"])
        # An hourly contract is paid by the hour, so the client must say how many to expect.
        if data["budget"]["type"] == "hourly" and hours is None:
            fail("hours_per_week", "Required for an hourly job.")
    except ValidationError as exc:
        for message in exc.fields["budget"]:
            fail("budget", message)

    questions = details["screening_questions"]
    if not isinstance(questions, list | tuple) or len(questions) > MAX_SCREENING_QUESTIONS:
        fail("screening_questions", f"At most {MAX_SCREENING_QUESTIONS} questions.")
    else:
        trimmed = [q.strip() if isinstance(q, str) else "" for q in questions]
        low, high = SCREENING_QUESTION_LENGTH
        if not all(low <= len(q) <= high for q in trimmed):
            fail("screening_questions", f"Each question is {low} to {high} characters.")
        elif len({q.casefold() for q in trimmed}) != len(trimmed):
            fail("screening_questions", "Questions must not repeat.")
        data["screening_questions"] = trimmed

    attachments = details["attachments"]
    if not isinstance(attachments, list | tuple) or len(attachments) > MAX_ATTACHMENTS:
        fail("attachments", f"At most {MAX_ATTACHMENTS} attachments.")
    else:
        shaped = []
        for item in attachments:
            if not isinstance(item, Mapping) or set(item) != {"file_id", "name"}:
                fail("attachments", "Each attachment is {file_id, name}.")
                break
            shaped.append({"file_id": str(item["file_id"]), "name": str(item["name"])})
        if len({a["file_id"] for a in shaped}) != len(shaped):
            fail("attachments", "A file is attached once.")
        data["attachments"] = shaped

    if not isinstance(details["contract_to_hire"], bool):
        fail("contract_to_hire", "Must be true or false.")
    data["contract_to_hire"] = details["contract_to_hire"]

    if errors:
        raise ValidationError("invalid job", errors)
    return data


# --- the Job aggregate ------------------------------------------------------------------


class Job(Aggregate):
    """A job post from draft to closed, with its invitations, proposals and hires.

    Status is ``draft``, ``open`` or ``closed``; a closed job has a ``close_reason`` of
    ``filled``, ``no_hire``, ``cancelled`` or ``expired``.
    """

    stream_prefix = "job"

    def __init__(self, id: str):
        super().__init__(id)
        self.client_id: str | None = None
        self.status: str | None = None
        self.close_reason: str | None = None
        self.details: dict = {}
        self.created_at: datetime | None = None
        self.published_at: datetime | None = None
        self.closed_at: datetime | None = None
        self.last_activity_at: datetime | None = None
        self.expires_at: datetime | None = None
        self.expiry_warning_at: datetime | None = None
        self.expiry_warned = False
        self.invitations: dict[str, str] = {}  # freelancer id -> pending|declined|proposed
        self.proposals: dict[str, dict] = {}  # proposal id -> {freelancer_id, status}
        self.hires: dict[str, str] = {}  # contract id -> freelancer id

    # queries ------------------------------------------------------------------------

    @property
    def active_proposal_count(self) -> int:
        """Proposals received and not withdrawn."""
        return sum(1 for p in self.proposals.values() if p["status"] == "active")

    def is_owner(self, actor: Actor | None) -> bool:
        """True when ``actor`` posted this job."""
        return actor is not None and actor.user_id == self.client_id

    def can_view(self, viewer: Actor | None) -> bool:
        """Whether ``viewer`` (None for anonymous) may see this job.

        Drafts only to their owner; public jobs to anyone; signed-in jobs to any signed-in
        user; invite-only jobs to the owner, the invited freelancers and those who hold a
        proposal or a contract on it. Staff see everything.
        """
        if not self.exists:
            return False
        if viewer is not None and (viewer.is_staff or self.is_owner(viewer)):
            return True
        if self.status == "draft":
            return False
        visibility = self.details["visibility"]
        if visibility == "public":
            return True
        if viewer is None:
            return False
        if visibility == "signed_in":
            return True
        return viewer.user_id in self.involved_freelancers()

    def involved_freelancers(self) -> set[str]:
        """Freelancers invited to, proposing on or hired for this job."""
        people = set(self.invitations)
        people.update(p["freelancer_id"] for p in self.proposals.values())
        people.update(self.hires.values())
        return people

    def require_visible(self, viewer: Actor | None) -> None:
        """Raise NotFound unless ``viewer`` may see the job.

        NotFound rather than Forbidden, so that an invite-only job's existence does not leak.
        """
        if not self.can_view(viewer):
            raise NotFound(f"job {self.id} not found")

    def next_deadline(self) -> datetime | None:
        """When the timer should next call ``check_deadlines`` (None when nothing is due)."""
        if self.status != "open":
            return None
        return self.expires_at if self.expiry_warned else self.expiry_warning_at

    # commands -------------------------------------------------------------------------

    def create(
        self,
        actor: Actor,
        details: Mapping[str, Any],
        now: datetime,
        taxonomy: Taxonomy,
        known_skills: Iterable[str],
    ) -> list[NewEvent]:
        """Create the job as a draft owned by ``actor``, who must be an active client."""
        if self.exists:
            raise Conflict(f"job {self.id} already exists")
        _require_active(actor)
        if not actor.has_role("client"):
            raise Forbidden("only clients post jobs")
        data = job_details_data(details, taxonomy, known_skills)
        return [
            self.record(
                "JobCreated",
                job_id=self.id,
                client_id=actor.user_id,
                details=data,
                created_at=iso(now),
            )
        ]

    def update(
        self,
        actor: Actor,
        changes: Mapping[str, Any],
        now: datetime,
        settings: JobSettings,
        taxonomy: Taxonomy,
        known_skills: Iterable[str],
    ) -> list[NewEvent]:
        """Change some details of a draft or open job; only its owner may.

        Records ``JobUpdated`` with the changed fields and their previous values (nothing
        when no value changes). An edit of an open job is activity: it restarts the expiry
        window. Once proposals are in, the budget type (fixed or hourly) is fixed, since
        the proposals bid in that form.
        """
        self._require_owner(actor)
        if self.status == "closed":
            raise Conflict(f"job {self.id} is closed and can no longer be edited")
        if not changes:
            raise ValidationError("nothing to change", {"changes": ["Give at least one field."]})
        unknown = sorted(set(changes) - set(DETAIL_FIELDS))
        if unknown:
            raise ValidationError("invalid job", {name: ["Unknown field."] for name in unknown})
        if "skills" not in changes:
            # Skills already on the job stay valid even if identity has since retired one;
            # only skills being set now must be in today's list.
            known_skills = [*known_skills, *self.details["skills"]]
        merged = job_details_data({**self.details, **changes}, taxonomy, known_skills)
        changed = {k: merged[k] for k in changes if merged[k] != self.details[k]}
        if not changed:
            return []
        if (
            "budget" in changed
            and changed["budget"]["type"] != self.details["budget"]["type"]
            and self.active_proposal_count > 0
        ):
            raise Conflict("the budget type cannot change once proposals have arrived")
        return [
            self._record(
                "JobUpdated",
                changes=changed,
                previous={k: self.details[k] for k in changed},
                updated_by=actor.user_id,
                updated_at=iso(now),
                **self._window_if_open(now, settings),
            )
        ]

    def publish(self, actor: Actor, now: datetime, settings: JobSettings) -> list[NewEvent]:
        """Open a draft to freelancers; starts the inactivity window."""
        self._require_owner(actor)
        if self.status != "draft":
            raise Conflict(f"job {self.id} is {self.status}; only a draft can be published")
        return [
            self._record(
                "JobPublished",
                details=self.details,
                published_at=iso(now),
                expire_after_seconds=int(settings.expire_after.total_seconds()),
                warn_before_seconds=int(settings.warn_before.total_seconds()),
                **self._window(now, settings),
            )
        ]

    def close(
        self, actor: Actor, reason: str, now: datetime, note: str | None = None
    ) -> list[NewEvent]:
        """Close the job without a hire (``no_hire``) or withdraw it (``cancelled``).

        The owner may close; an operator may too (moderation). A draft can only be
        cancelled, since it never took proposals.
        """
        if not self.exists:
            raise NotFound(f"job {self.id} not found")
        if not actor.has_role("operator"):
            self._require_owner(actor)
        if reason not in CLOSE_REASONS:
            raise ValidationError("invalid reason", {"reason": [f"One of {CLOSE_REASONS}."]})
        if note is not None and len(note) > MAX_NOTE:
            raise ValidationError("invalid note", {"note": [f"At most {MAX_NOTE} characters."]})
        if self.status == "closed":
            raise Conflict(f"job {self.id} is already closed ({self.close_reason})")
        if self.status == "draft" and reason != "cancelled":
            raise Conflict("a draft was never open; it can only be cancelled")
        return [
            self._record(
                "JobClosed",
                reason=reason,
                note=note,
                closed_by=actor.user_id,
                closed_at=iso(now),
            )
        ]

    def invite_freelancer(
        self,
        actor: Actor,
        freelancer_id: str,
        message: str | None,
        now: datetime,
        settings: JobSettings,
        invitee_suspended: bool = False,
    ) -> list[NewEvent]:
        """Invite a freelancer to propose on this open job; counts as activity.

        Owner only; not oneself; not a suspended freelancer; each freelancer once; at most
        ``settings.max_invitations_per_job`` invitations per job.
        """
        self._require_owner(actor)
        if self.status != "open":
            raise Conflict(f"job {self.id} is {self.status}; invite to an open job")
        if freelancer_id == self.client_id:
            raise ValidationError("invalid invitee", {"freelancer_id": ["Not yourself."]})
        if message is not None and len(message) > MAX_INVITATION_MESSAGE:
            raise ValidationError(
                "invalid message", {"message": [f"At most {MAX_INVITATION_MESSAGE} characters."]}
            )
        if invitee_suspended:
            raise Conflict(f"freelancer {freelancer_id} is suspended")
        if freelancer_id in self.invitations:
            raise Conflict(f"freelancer {freelancer_id} was already invited")
        if len(self.invitations) >= settings.max_invitations_per_job:
            raise Conflict(f"a job may send at most {settings.max_invitations_per_job} invitations")
        return [
            self._record(
                "FreelancerInvited",
                freelancer_id=freelancer_id,
                message=message,
                invited_by=actor.user_id,
                invited_at=iso(now),
                **self._window(now, settings),
            )
        ]

    def decline_invitation(self, actor: Actor, reason: str | None, now: datetime) -> list[NewEvent]:
        """The invited freelancer declines a pending invitation."""
        if not self.exists or actor.user_id not in self.invitations:
            raise NotFound(f"no invitation to job {self.id} for you")
        _require_active(actor)
        if self.invitations[actor.user_id] != "pending":
            raise Conflict(f"the invitation is already {self.invitations[actor.user_id]}")
        if reason is not None and len(reason) > MAX_NOTE:
            raise ValidationError("invalid reason", {"reason": [f"At most {MAX_NOTE} characters."]})
        return [
            self._record(
                "InvitationDeclined",
                freelancer_id=actor.user_id,
                reason=reason,
                declined_at=iso(now),
            )
        ]

    def note_proposal_received(
        self, proposal_id: str, freelancer_id: str, now: datetime, settings: JobSettings
    ) -> list[NewEvent]:
        """Record a proposal that bidding reported; on an open job this is activity.

        Idempotent on ``proposal_id``: a proposal seen before records nothing. A proposal
        for a closed job (sent while it closed) is still counted but restarts no window.
        """
        if not self.exists:
            raise NotFound(f"job {self.id} not found")
        if proposal_id in self.proposals:
            return []
        if self.status == "draft":
            raise Conflict(f"job {self.id} is a draft and takes no proposals")
        return [
            self._record(
                "JobProposalReceived",
                proposal_id=proposal_id,
                freelancer_id=freelancer_id,
                received_at=iso(now),
                **self._window_if_open(now, settings),
            )
        ]

    def note_proposal_withdrawn(self, proposal_id: str, now: datetime) -> list[NewEvent]:
        """Record that a proposal was withdrawn; unknown or already withdrawn ones are ignored.

        Ignoring rather than failing, because a withdrawal can only follow a submission we
        either counted (then this is a redelivery) or never will (then there is nothing to undo).
        """
        found = self.proposals.get(proposal_id)
        if found is None or found["status"] != "active":
            return []
        return [
            self._record("JobProposalWithdrawn", proposal_id=proposal_id, withdrawn_at=iso(now))
        ]

    def record_hire(self, contract_id: str, freelancer_id: str, now: datetime) -> list[NewEvent]:
        """Escrow started a contract for this job: the job is filled.

        Idempotent on ``contract_id``. The first hire closes the job as ``filled`` (even if
        it had just been closed or expired: escrow's contract is the fact); later hires on
        the same job record ``JobHireAdded``.
        """
        if not self.exists:
            raise NotFound(f"job {self.id} not found")
        if contract_id in self.hires:
            return []
        if self.status == "draft":
            raise Conflict(f"job {self.id} is a draft and cannot have a contract")
        if self.close_reason == "filled":
            return [
                self._record(
                    "JobHireAdded",
                    contract_id=contract_id,
                    freelancer_id=freelancer_id,
                    hired_at=iso(now),
                )
            ]
        return [
            self._record(
                "JobFilled",
                contract_id=contract_id,
                freelancer_id=freelancer_id,
                filled_at=iso(now),
                previous_status=self.status,
                previous_reason=self.close_reason,
            )
        ]

    def check_deadlines(self, now: datetime) -> list[NewEvent]:
        """The timer's call: warn the client, or expire the job, when its time has come.

        At ``expiry_warning_at`` (and not yet warned for this window) records
        ``JobExpiryWarned``; at ``expires_at`` or later records ``JobExpired``. Earlier, or
        on a job that is not open, it records nothing (a deadline moved by activity).
        """
        if self.status != "open":
            return []
        if now >= self.expires_at:
            return [
                self._record(
                    "JobExpired",
                    expires_at=iso(self.expires_at),
                    expired_at=iso(now),
                    last_activity_at=iso(self.last_activity_at),
                )
            ]
        if now >= self.expiry_warning_at and not self.expiry_warned:
            return [
                self._record("JobExpiryWarned", expires_at=iso(self.expires_at), warned_at=iso(now))
            ]
        return []

    # helpers --------------------------------------------------------------------------

    def _require_owner(self, actor: Actor) -> None:
        if not self.exists:
            raise NotFound(f"job {self.id} not found")
        if not self.is_owner(actor):
            raise Forbidden("only the client who posted the job may do this")
        _require_active(actor)

    def _record(self, event_type: str, **data: Any) -> NewEvent:
        # Every job event names its job and client, so consumers need not know stream names.
        return self.record(event_type, job_id=self.id, client_id=self.client_id, **data)

    @staticmethod
    def _window(now: datetime, settings: JobSettings) -> dict:
        expires = now + settings.expire_after
        return {
            "expires_at": iso(expires),
            "expiry_warning_at": iso(expires - settings.warn_before),
        }

    def _window_if_open(self, now: datetime, settings: JobSettings) -> dict:
        if self.status == "open":
            return self._window(now, settings)
        return {"expires_at": None, "expiry_warning_at": None}

    def _restart_window(self, data: dict, at: str) -> None:
        if data.get("expires_at") is not None:
            self.last_activity_at = parse_time(at)
            self.expires_at = parse_time(data["expires_at"])
            self.expiry_warning_at = parse_time(data["expiry_warning_at"])
            self.expiry_warned = False

    # appliers -------------------------------------------------------------------------

    def on_JobCreated(self, data: dict) -> None:
        self.client_id = data["client_id"]
        self.details = dict(data["details"])
        self.status = "draft"
        self.created_at = parse_time(data["created_at"])

    def on_JobUpdated(self, data: dict) -> None:
        self.details = {**self.details, **data["changes"]}
        self._restart_window(data, data["updated_at"])

    def on_JobPublished(self, data: dict) -> None:
        self.status = "open"
        self.published_at = parse_time(data["published_at"])
        self._restart_window(data, data["published_at"])

    def on_JobClosed(self, data: dict) -> None:
        self.status = "closed"
        self.close_reason = data["reason"]
        self.closed_at = parse_time(data["closed_at"])

    def on_FreelancerInvited(self, data: dict) -> None:
        self.invitations[data["freelancer_id"]] = "pending"
        self._restart_window(data, data["invited_at"])

    def on_InvitationDeclined(self, data: dict) -> None:
        self.invitations[data["freelancer_id"]] = "declined"

    def on_JobProposalReceived(self, data: dict) -> None:
        freelancer = data["freelancer_id"]
        self.proposals[data["proposal_id"]] = {"freelancer_id": freelancer, "status": "active"}
        if self.invitations.get(freelancer) == "pending":
            self.invitations[freelancer] = "proposed"
        self._restart_window(data, data["received_at"])

    def on_JobProposalWithdrawn(self, data: dict) -> None:
        self.proposals[data["proposal_id"]]["status"] = "withdrawn"

    def on_JobFilled(self, data: dict) -> None:
        self.hires[data["contract_id"]] = data["freelancer_id"]
        self.status = "closed"
        self.close_reason = "filled"
        self.closed_at = parse_time(data["filled_at"])

    def on_JobHireAdded(self, data: dict) -> None:
        self.hires[data["contract_id"]] = data["freelancer_id"]

    def on_JobExpiryWarned(self, data: dict) -> None:
        self.expiry_warned = True

    def on_JobExpired(self, data: dict) -> None:
        self.status = "closed"
        self.close_reason = "expired"
        self.closed_at = parse_time(data["expired_at"])


# --- saved searches ---------------------------------------------------------------------

MAX_SEARCH_NAME = 80


class SavedSearches(Aggregate):
    """One user's saved searches; the stream id is the user's id."""

    stream_prefix = "saved-searches"

    def __init__(self, id: str):
        super().__init__(id)
        self.searches: dict[str, dict] = {}  # search id -> {name, query, saved_at}

    def listing(self) -> list[dict]:
        """The saved searches, oldest first, as ``{search_id, name, query, saved_at}``."""
        return [{"search_id": sid, **body} for sid, body in self.searches.items()]

    def save_search(
        self,
        actor: Actor,
        search_id: str,
        name: str,
        query: dict,
        now: datetime,
        settings: JobSettings,
    ) -> list[NewEvent]:
        """Save a search under a name unique (ignoring case) among the user's searches.

        ``query`` is the search filters in their JSON form (``search.filters_data``).
        """
        self._require_self(actor)
        name = name.strip() if isinstance(name, str) else ""
        if not 1 <= len(name) <= MAX_SEARCH_NAME:
            raise ValidationError(
                "invalid name", {"name": [f"Between 1 and {MAX_SEARCH_NAME} characters."]}
            )
        if search_id in self.searches:
            raise Conflict(f"saved search {search_id} already exists")
        if any(s["name"].casefold() == name.casefold() for s in self.searches.values()):
            raise Conflict(f"you already have a saved search named {name!r}")
        if len(self.searches) >= settings.max_saved_searches:
            raise Conflict(f"at most {settings.max_saved_searches} saved searches")
        return [
            self.record(
                "SearchSaved",
                user_id=self.id,
                search_id=search_id,
                name=name,
                query=query,
                saved_at=iso(now),
            )
        ]

    def delete_saved_search(self, actor: Actor, search_id: str, now: datetime) -> list[NewEvent]:
        """Forget one saved search."""
        self._require_self(actor)
        if search_id not in self.searches:
            raise NotFound(f"saved search {search_id} not found")
        return [
            self.record(
                "SavedSearchDeleted", user_id=self.id, search_id=search_id, deleted_at=iso(now)
            )
        ]

    def _require_self(self, actor: Actor) -> None:
        if actor.user_id != self.id:
            raise Forbidden("saved searches belong to their user")
        _require_active(actor)

    def on_SearchSaved(self, data: dict) -> None:
        self.searches[data["search_id"]] = {
            "name": data["name"],
            "query": data["query"],
            "saved_at": data["saved_at"],
        }

    def on_SavedSearchDeleted(self, data: dict) -> None:
        del self.searches[data["search_id"]]
