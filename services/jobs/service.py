"""The jobs service: job posts, invitations, search, best matches and saved searches.

Entrypoints only: each RPC loads its arguments through a schema (``@validated``), checks who
is calling, runs the domain inside ``store.command`` (one transaction, idempotent by key)
for mutations or reads the read models for queries, and returns plain JSON. Reactions to
other services' events live in ``policies.py``; the read models in ``projections.py``.

Run with ``nameko run --config services/jobs/config.yaml services.jobs.service``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from nameko.dependency_providers import Config
from nameko.rpc import rpc
from nameko.timer import Timer

from services.jobs import policies, schemas
from services.jobs.domain import Actor, Job, SavedSearches
from services.jobs.matching import FreelancerProfile, best_matches
from services.jobs.policies import DEADLINE_HANDLERS, save_job
from services.jobs.projections import (
    PRIVATE_EVENT_TYPES,
    job_history,
    job_view,
    load_client_stats,
    read_model_projections,
)
from services.jobs.search import (
    COUNT_CAP,
    CursorPosition,
    build_my_jobs,
    build_search,
    capped_total,
    decode_cursor,
    effective_sort,
    encode_cursor,
    estimated_rows,
    filters_data,
    page_result,
)
from services.jobs.settings import MatchSettings, job_settings_from_config
from services.jobs.taxonomy import DEFAULT_SKILLS_FILE, default_taxonomy, load_skill_names
from shared import rpc as platform
from shared.auth import Caller, CallerProvider
from shared.clock import iso
from shared.eventstore import UnitOfWork
from shared.money import Money
from shared.observability import LogContext, Metrics
from shared.process import CollectorTuning
from shared.relay import Relay
from shared.rpc import validated
from shared.storage import EventStore
from shared.timers import fire_due

# Candidate jobs best matches scores at most (newest first among those sharing a skill).
MATCH_CANDIDATES = 1000
DESCRIPTION_EXCERPT = 300
DEFAULT_CURSOR_SECRET = "jobs-cursor-secret-change-me"


class ConfiguredTimer(Timer):
    """A nameko timer whose interval is the service's ``TIMER_INTERVAL`` (seconds, default 1)."""

    def setup(self):
        self.interval = float(self.container.config.get("TIMER_INTERVAL", self.interval))
        super().setup()


configured_timer = ConfiguredTimer.decorator


def _actor(caller: Caller) -> Actor:
    # A suspended caller never gets this far: CallerProvider refuses their token.
    return Actor(caller.user_id, frozenset(caller.roles))


def _job_card(row: Mapping[str, Any]) -> dict:
    """A job as a search result: enough to decide whether to open it."""
    description = row["description"]
    if len(description) > DESCRIPTION_EXCERPT:
        description = description[:DESCRIPTION_EXCERPT].rstrip() + "…"
    return {
        "job_id": row["job_id"],
        "client_id": row["client_id"],
        "status": row["status"],
        "title": row["title"],
        "description": description,
        "category": row["category"],
        "subcategory": row["subcategory"],
        "skills": list(row["skills"]),
        "experience_level": row["experience_level"],
        "project_length": row["project_length"],
        "hours_per_week": row["hours_per_week"],
        "job_type": row["job_type"],
        "budget": row["budget"],
        "visibility": row["visibility"],
        "contract_to_hire": row["contract_to_hire"],
        "proposal_count": row["proposal_count"],
        "created_at": iso(row["created_at"]),
        "published_at": iso(row["published_at"]) if row["published_at"] else None,
        "client": _card_client(row),
    }


def _card_client(row: Mapping[str, Any]) -> dict:
    client = {
        "payment_verified": row["client_payment_verified"],
        "hires": row["client_total_hires"],
    }
    # The client's rating, when the row carries it (job_search has it; a query that selects
    # only some columns may not).
    if "client_rating_centi" in row:
        client["average_rating_centi"] = row["client_rating_centi"]
        client["rating_count"] = row["client_rating_count"]
    return client


def _job_summary(job: Job) -> dict:
    return {
        "job_id": job.id,
        "status": job.status,
        "close_reason": job.close_reason,
        "version": job.version,
        "expires_at": iso(job.expires_at) if job.status == "open" else None,
    }


# Mixins are named through their modules: ``nameko run`` takes every class with entrypoints
# found in this module's namespace for a service.
class JobsService(policies.JobPolicies, platform.FollowsSuspensions, platform.Operations):
    """Job posts, invitations, search and best matches. See README.md for the RPC table."""

    name = "jobs"
    store = EventStore(projections=read_model_projections())
    relay = Relay(private_types=PRIVATE_EVENT_TYPES)
    caller = CallerProvider()
    metrics = Metrics()  # /metrics and /health on METRICS_PORT
    log_context = LogContext()  # correlation id, caller, entrypoint in log lines
    collector = CollectorTuning()  # start-up objects out of the GC's way
    config = Config()

    # helpers -------------------------------------------------------------------------

    def _settings(self):
        return job_settings_from_config(self.config)

    def _known_skills(self) -> tuple[str, ...]:
        return load_skill_names(self.config.get("SKILLS_FILE") or DEFAULT_SKILLS_FILE)

    def _secret(self) -> bytes:
        return str(self.config.get("SEARCH_CURSOR_SECRET") or DEFAULT_CURSOR_SECRET).encode()

    def _viewer(self) -> Actor | None:
        caller = self.caller.current
        return None if caller.is_anonymous else _actor(caller)

    def _command(
        self, method: str, args: dict, caller: Caller, run: Callable[[UnitOfWork], Any]
    ) -> Any:
        args = dict(args)
        key = args.pop("idempotency_key", None)
        return self.store.command(method, args, run, idempotency_key=key, actor=caller.user_id)

    def _load_visible_job(self, uow: UnitOfWork, job_id: str, viewer: Actor | None) -> Job:
        job = uow.load(Job, job_id)
        job.require_visible(viewer)
        return job

    # job posts -----------------------------------------------------------------------

    @rpc
    @validated(schemas.CreateJobSchema)
    def create_job(self, args: dict) -> dict:
        """Post a job as a draft, or publish it at once with ``publish: true``.

        Who: a signed-in ``client``. Arguments: the job details (title, description,
        category, subcategory, skills, experience_level, project_length, hours_per_week,
        budget, visibility, screening_questions, attachments, contract_to_hire), ``publish``,
        ``idempotency_key``. Result: ``{job_id, status, close_reason, version, expires_at}``.
        Errors: ValidationError (fields named; nothing written), NotAuthenticated,
        Forbidden (not a client), Conflict (idempotency key reused with other arguments).
        """
        caller = self.caller.require_role("client")
        actor = _actor(caller)
        details = {k: v for k, v in args.items() if k not in ("publish", "idempotency_key")}

        def run(uow: UnitOfWork) -> dict:
            now = self.store.clock.now()
            job = Job(uuid.uuid4().hex)
            job.create(actor, details, now, default_taxonomy(), self._known_skills())
            if args["publish"]:
                job.publish(actor, now, self._settings())
            save_job(uow, job)
            return _job_summary(job)

        return self._command("create_job", args, caller, run)

    @rpc
    @validated(schemas.UpdateJobSchema)
    def update_job(self, args: dict) -> dict:
        """Edit some details of a draft or open job; an edit of an open job is an event in
        its history and restarts the expiry window.

        Who: the job's owner. Arguments: ``job_id``, ``changes`` (some job details),
        ``idempotency_key``. Result: the job summary. Errors: ValidationError, NotFound,
        Forbidden (not the owner), Conflict (closed job; budget type after proposals).
        """
        caller = self.caller.authenticated()

        def run(uow: UnitOfWork) -> dict:
            job = uow.load(Job, args["job_id"])
            job.update(
                _actor(caller),
                args["changes"],
                self.store.clock.now(),
                self._settings(),
                default_taxonomy(),
                self._known_skills(),
            )
            save_job(uow, job)
            return _job_summary(job)

        return self._command("update_job", args, caller, run)

    @rpc
    @validated(schemas.PublishJobSchema)
    def publish_job(self, args: dict) -> dict:
        """Open a draft to freelancers; starts the inactivity window (expiry after 30 days
        by default, warning 5 days before).

        Who: the owner. Arguments: ``job_id``, ``idempotency_key``. Result: the job summary.
        Errors: NotFound, Forbidden, Conflict (not a draft).
        """
        caller = self.caller.authenticated()

        def run(uow: UnitOfWork) -> dict:
            job = uow.load(Job, args["job_id"])
            job.publish(_actor(caller), self.store.clock.now(), self._settings())
            save_job(uow, job)
            return _job_summary(job)

        return self._command("publish_job", args, caller, run)

    @rpc
    @validated(schemas.CloseJobSchema)
    def close_job(self, args: dict) -> dict:
        """Close a job without a hire (``no_hire``) or withdraw it (``cancelled``).

        Who: the owner, or an operator. Arguments: ``job_id``, ``reason``, ``note``,
        ``idempotency_key``. Result: the job summary. Errors: ValidationError, NotFound,
        Forbidden, Conflict (already closed; a draft can only be cancelled).
        """
        caller = self.caller.authenticated()

        def run(uow: UnitOfWork) -> dict:
            job = uow.load(Job, args["job_id"])
            job.close(_actor(caller), args["reason"], self.store.clock.now(), args["note"])
            save_job(uow, job)
            return _job_summary(job)

        return self._command("close_job", args, caller, run)

    @rpc
    @validated(schemas.JobRefSchema)
    def get_job(self, args: dict) -> dict:
        """A job's page: details, status, proposal count, and the client's stats.

        Who: anyone may see a public job; signed-in users a ``signed_in`` one; invite-only
        jobs only their owner, invited or involved freelancers and staff; drafts only the
        owner and staff. The owner also sees invitations and the expiry. Arguments:
        ``job_id``. Errors: NotFound (also for a job the caller may not see).
        """
        viewer = self._viewer()
        with self.store.reading() as uow:
            job = self._load_visible_job(uow, args["job_id"], viewer)
            stats = load_client_stats(uow.cursor, job.client_id)
        return job_view(job, viewer, stats)

    @rpc
    @validated(schemas.JobRefSchema)
    def job_history(self, args: dict) -> list[dict]:
        """A job's history, one entry per event; edits show each field's ``from``/``to``.

        Who: as ``get_job``; people and proposal events only for the owner and staff.
        Arguments: ``job_id``. Result: ``[{version, type, at, summary, ...}]``.
        Errors: NotFound.
        """
        viewer = self._viewer()
        with self.store.reading() as uow:
            job = self._load_visible_job(uow, args["job_id"], viewer)
            events = uow.read_stream(job.stream)
        return job_history(events, viewer)

    @rpc
    @validated(schemas.ListMyJobsSchema)
    def list_my_jobs(self, args: dict) -> dict:
        """The calling client's own jobs, drafts included, newest first.

        Who: a ``client``. Arguments: ``status`` (draft/open/closed), ``limit`` (1-50),
        ``cursor``. Result: ``{items: [job card], next_cursor}``. Errors: ValidationError
        (bad cursor), NotAuthenticated, Forbidden.
        """
        caller = self.caller.require_role("client")
        scope = {"status": args["status"]}
        after = (
            decode_cursor(args["cursor"], "mine", scope, self._secret()) if args["cursor"] else None
        )
        query = build_my_jobs(caller.user_id, args["status"], args["limit"], after)
        rows = self.store.query_dicts(query.text, query.params)
        ids = [r["job_id"] for r in rows[: args["limit"]]]
        cards = self._cards(ids)
        next_cursor = None
        if len(rows) > args["limit"]:
            last = rows[args["limit"] - 1]
            position = CursorPosition(last["created_at"], last["job_id"])
            next_cursor = encode_cursor(position, "mine", scope, self._secret())
        return {"items": cards, "next_cursor": next_cursor}

    @rpc
    @validated(schemas.ListCategoriesSchema)
    def list_categories(self, args: dict) -> dict:
        """The fixed category taxonomy: ``{slug: {label, subcategories: {slug: label}}}``.

        Who: anyone.
        """
        return default_taxonomy().as_dict()

    # invitations ---------------------------------------------------------------------

    @rpc
    @validated(schemas.InviteFreelancerSchema)
    def invite_freelancer(self, args: dict) -> dict:
        """Invite a freelancer to propose on an open job (and to see it if invite-only).

        Who: the owner. Arguments: ``job_id``, ``freelancer_id``, ``message``,
        ``idempotency_key``. Result: ``{job_id, freelancer_id, status: "pending"}``.
        Errors: ValidationError (oneself), NotFound, Forbidden, Conflict (not open, already
        invited, suspended freelancer, too many invitations).
        """
        caller = self.caller.authenticated()

        def run(uow: UnitOfWork) -> dict:
            job = uow.load(Job, args["job_id"])
            suspended = (
                uow.execute(
                    "SELECT 1 FROM suspended_users WHERE user_id = %s", (args["freelancer_id"],)
                ).fetchone()
                is not None
            )
            job.invite_freelancer(
                _actor(caller),
                args["freelancer_id"],
                args["message"],
                self.store.clock.now(),
                self._settings(),
                invitee_suspended=suspended,
            )
            save_job(uow, job)
            return {"job_id": job.id, "freelancer_id": args["freelancer_id"], "status": "pending"}

        return self._command("invite_freelancer", args, caller, run)

    @rpc
    @validated(schemas.DeclineInvitationSchema)
    def decline_invitation(self, args: dict) -> dict:
        """The invited freelancer declines a pending invitation.

        Who: the invitee. Arguments: ``job_id``, ``reason``, ``idempotency_key``. Result:
        ``{job_id, freelancer_id, status: "declined"}``. Errors: NotFound (no invitation for
        the caller), Conflict (already answered).
        """
        caller = self.caller.authenticated()

        def run(uow: UnitOfWork) -> dict:
            job = uow.load(Job, args["job_id"])
            job.decline_invitation(_actor(caller), args["reason"], self.store.clock.now())
            uow.save(job)
            return {"job_id": job.id, "freelancer_id": caller.user_id, "status": "declined"}

        return self._command("decline_invitation", args, caller, run)

    # search and best matches ---------------------------------------------------------

    def _cards(self, job_ids: list[str]) -> list[dict]:
        if not job_ids:
            return []
        rows = self.store.query_dicts("SELECT * FROM job_search WHERE job_id = ANY(%s)", (job_ids,))
        by_id = {r["job_id"]: r for r in rows}
        return [_job_card(by_id[i]) for i in job_ids if i in by_id]

    @rpc
    @validated(schemas.SearchJobsSchema)
    def search_jobs(self, args: dict) -> dict:
        """Search open jobs: keywords (full text, title > skills > description) and filters.

        Who: anyone; anonymous callers see public jobs, signed-in users also ``signed_in``
        jobs and invite-only jobs they were invited to. Arguments: ``keywords``,
        ``category``, ``subcategory``, ``skills``, ``experience_levels``, ``job_type``,
        ``budget_min``/``budget_max`` (Money), ``project_lengths``, ``hours_per_week``,
        ``proposal_bands``, ``client_history``, ``payment_verified``, ``contract_to_hire``,
        ``posted_since``, ``sort`` (relevance/newest), ``limit`` (1-50), ``cursor``.
        Result: ``{items: [job card + rank], total, total_is_estimate, sort, next_cursor}``
        (keyset pages: jobs posted meanwhile never shift a page). ``total`` is exact up to
        1,000 matches (``total_is_estimate: false``); beyond, it is the database planner's
        estimate, never below 1,001 (``total_is_estimate: true``: show it as "about"/"1,000+").
        ``relevance`` ranks the 200 newest matches (weighted ``ts_rank``: title > skills >
        description, then newest); the pages walk that set and end after it, so a broad
        search lists at most 200 jobs by relevance (``newest`` reaches every match).
        Errors: ValidationError (a bad filter or a cursor from another search).
        """
        viewer = self._viewer()
        secret = self._secret()
        sort = effective_sort(args)
        after = decode_cursor(args["cursor"], sort, args, secret) if args["cursor"] else None
        cap = int(self.config.get("SEARCH_COUNT_CAP") or COUNT_CAP)
        plan = build_search(args, viewer, after, count_cap=cap)
        # The page query carries each row's card columns (joined for the page's rows only).
        # The capped count runs beside it on a second connection: a search waits for the
        # slower of the two, not their sum (green threads under nameko, threads elsewhere).
        with ThreadPoolExecutor(max_workers=1) as beside:
            counting = beside.submit(self.store.query, plan.count.text, plan.count.params)
            rows = self.store.query_dicts(plan.page.text, plan.page.params)
            counted = counting.result()[0][0]
        items, next_cursor = page_result(rows, plan, args, secret)
        estimate = None
        if counted > plan.count_cap:
            estimate = estimated_rows(
                self.store.query(plan.estimate.text, plan.estimate.params)[0][0]
            )
        total, is_estimate = capped_total(counted, plan, estimate)
        cards = [{**_job_card(r), "rank": r["rank"]} for r in items]
        return {
            "items": cards,
            "total": total,
            "total_is_estimate": is_estimate,
            "sort": plan.sort,
            "next_cursor": next_cursor,
        }

    @rpc
    @validated(schemas.RecommendJobsSchema)
    def recommend_jobs(self, args: dict) -> list[dict]:
        """Best matches for the calling freelancer, best first, each with its reasons.

        Who: a ``freelancer``. Skills and hourly rate come from the freelancer's profile as
        identity published it. Arguments: ``limit`` (1-50). Result: ``[{job_id, score,
        reasons: [{factor, points, max_points, detail}], job: job card}]``.
        Errors: NotAuthenticated, Forbidden (not a freelancer).
        """
        caller = self.caller.require_role("freelancer")
        found = self.store.query_dicts(
            "SELECT skills, hourly_rate FROM freelancer_profiles WHERE freelancer_id = %s",
            (caller.user_id,),
        )
        skills = list(found[0]["skills"]) if found else []
        rate = found[0]["hourly_rate"] if found else None
        profile = FreelancerProfile(
            caller.user_id, frozenset(skills), Money.from_dict(rate) if rate else None
        )
        if not skills:
            return []
        # job_search_open holds exactly the open jobs of clients who are not suspended.
        rows = self.store.query_dicts(
            "SELECT j.* FROM job_search_open AS o JOIN job_search AS j ON j.job_id = o.job_id"
            " WHERE o.skills && %s::text[] AND o.client_id <> %s"
            " ORDER BY o.published_at DESC, o.job_id DESC LIMIT %s",
            (skills, caller.user_id, MATCH_CANDIDATES),
        )
        by_id = {r["job_id"]: r for r in rows}
        matches = best_matches(
            rows, profile, self.store.clock.now(), args["limit"], MatchSettings()
        )
        return [{**m.to_dict(), "job": _job_card(by_id[m.job_id])} for m in matches]

    # saved searches ------------------------------------------------------------------

    @rpc
    @validated(schemas.SaveSearchSchema)
    def save_search(self, args: dict) -> dict:
        """Save a search's filters under a name (unique per user, ignoring case).

        Who: any signed-in user, for themselves. Arguments: ``name``, ``query`` (the
        search filters), ``idempotency_key``. Result: ``{search_id, name, query,
        saved_at}``. Errors: ValidationError, Conflict (name taken, too many).
        """
        caller = self.caller.authenticated()
        query = filters_data(args["query"])

        def run(uow: UnitOfWork) -> dict:
            searches = uow.load(SavedSearches, caller.user_id)
            search_id = uuid.uuid4().hex
            searches.save_search(
                _actor(caller),
                search_id,
                args["name"],
                query,
                self.store.clock.now(),
                self._settings(),
            )
            uow.save(searches)
            return searches.listing()[-1]

        return self._command("save_search", {**args, "query": query}, caller, run)

    @rpc
    @validated(schemas.ListSavedSearchesSchema)
    def list_saved_searches(self, args: dict) -> list[dict]:
        """The caller's saved searches, oldest first: ``[{search_id, name, query, saved_at}]``.

        Who: any signed-in user (their own only).
        """
        caller = self.caller.authenticated()
        with self.store.reading() as uow:
            return uow.load(SavedSearches, caller.user_id).listing()

    @rpc
    @validated(schemas.DeleteSavedSearchSchema)
    def delete_saved_search(self, args: dict) -> dict:
        """Forget one of the caller's saved searches.

        Who: its user. Arguments: ``search_id``, ``idempotency_key``. Result:
        ``{search_id, deleted: true}``. Errors: NotFound.
        """
        caller = self.caller.authenticated()

        def run(uow: UnitOfWork) -> dict:
            searches = uow.load(SavedSearches, caller.user_id)
            searches.delete_saved_search(_actor(caller), args["search_id"], self.store.clock.now())
            uow.save(searches)
            return {"search_id": args["search_id"], "deleted": True}

        return self._command("delete_saved_search", args, caller, run)

    # deadlines -----------------------------------------------------------------------

    @configured_timer(interval=1.0)
    def fire_deadlines(self) -> int:
        """Warn clients of expiring jobs and expire inactive ones; returns how many fired."""
        return fire_due(self.store, DEADLINE_HANDLERS)
