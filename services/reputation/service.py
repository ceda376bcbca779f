"""The reputation service: double-blind feedback, Job Success Score, badges, client stats.

Entrypoints only: each RPC loads its arguments through a schema, checks the caller, runs the
domain in one idempotent command (mutations) or folds the log (reads), and returns JSON.
The consumers of escrow's, identity's and jobs' events live in ``policies.py``.
"""

from __future__ import annotations

from datetime import datetime

from nameko.dependency_providers import Config
from nameko.rpc import rpc
from nameko.timer import Timer

from services.reputation import policies
from services.reputation import schemas as s
from services.reputation.domain import ContractFeedback
from services.reputation.projections import resolve_as_of
from services.reputation.read_models import (
    ReputationReadModel,
    freelancer_standing,
    load_histories,
)
from services.reputation.stats import client_stats
from services.reputation.visibility import STAFF_ROLES, feedback_view, public_feedback_about
from shared import rpc as platform_rpc
from shared.auth import CallerProvider
from shared.clock import iso
from shared.errors import NotFound
from shared.observability import LogContext, Metrics
from shared.process import CollectorTuning
from shared.relay import Relay
from shared.rpc import validated
from shared.storage import EventStore
from shared.timers import fire_due

# A submitted feedback stays secret until revealed (double-blind), and it carries the
# private feedback to the platform: it never leaves the service's own log.
PRIVATE_EVENTS = frozenset({"FeedbackSubmitted"})


class ConfiguredTimer(Timer):
    """nameko's timer with its interval from config ``TIMER_INTERVAL`` (seconds)."""

    def setup(self):
        self.interval = float(self.container.config.get("TIMER_INTERVAL", self.interval))
        super().setup()


def _command_args(args: dict) -> dict:
    """The arguments that identify a request for idempotency (the key itself aside)."""
    return {k: v for k, v in args.items() if k != "idempotency_key"}


# The mixins are reached through their modules: ``nameko run`` takes every class with
# entrypoints found in this module's namespace for a service.
class ReputationService(
    policies.ReputationPolicies, platform_rpc.FollowsSuspensions, platform_rpc.Operations
):
    name = "reputation"

    store = EventStore(projections=[ReputationReadModel()])
    relay = Relay(private_types=PRIVATE_EVENTS)
    caller = CallerProvider()
    metrics = Metrics()  # /metrics and /health on METRICS_PORT
    log_context = LogContext()  # correlation id, caller, entrypoint in log lines
    collector = CollectorTuning()  # start-up objects out of the GC's way
    config = Config()

    # -- helpers -----------------------------------------------------------------------------

    def _fetch(self, sql: str, params: tuple) -> list[tuple]:
        return self.store.query(sql, params)

    def _as_of(self, requested: datetime | None) -> datetime:
        return resolve_as_of(requested, self.store.clock.now())

    def _contract_ids(self, column: str, user_id: str) -> list[str]:
        rows = self.store.query(
            f"SELECT contract_id FROM reputation_contracts WHERE {column} = %s", (user_id,)
        )
        return [row[0] for row in rows]

    # -- feedback ----------------------------------------------------------------------------

    @rpc
    @validated(s.LeaveFeedbackSchema)
    def leave_feedback(self, args: dict) -> dict:
        """Leave the caller's feedback on the other party of an ended contract.

        Who: the contract's client or freelancer, once, within the feedback window
        (14 days after the end by default, recorded when the window opened).
        Arguments: ``contract_id``; ``rating`` 1..5; ``criteria`` {name: 1..5}, exactly the
        caller's set (a client rates skills, quality, availability, deadlines,
        communication, cooperation; a freelancer rates clarity, communication,
        payment_promptness, cooperation); ``comment`` up to 2000 chars (public);
        ``private_feedback`` {end_reason, would_recommend 0..10} (to the platform only);
        ``idempotency_key`` (optional).
        Result: ``{contract_id, side, status: "submitted" | "revealed", revealed_sides}``;
        both sides are revealed when the second one submits.
        Errors: ValidationError (field named; nothing written), NotAuthenticated,
        NotFound (unknown contract), Forbidden (not a party), Conflict (contract still
        active, this side already submitted, window closed, key reused with other args).
        """
        caller = self.caller.authenticated()
        settings = self.feedback_settings
        private = args["private_feedback"]

        def run(uow) -> dict:
            contract = uow.load(ContractFeedback, args["contract_id"])
            contract.leave_feedback(
                actor_id=caller.user_id,
                rating=args["rating"],
                criteria=args["criteria"],
                comment=args["comment"],
                end_reason=private["end_reason"],
                would_recommend=private["would_recommend"],
                now=self.store.clock.now(),
                settings=settings,
            )
            policies.save_contract(uow, contract)
            side = contract.side_of(caller.user_id)
            return {
                "contract_id": contract.id,
                "side": side,
                "status": "revealed" if side in contract.revealed_sides else "submitted",
                "revealed_sides": sorted(contract.revealed_sides),
            }

        return self.store.command(
            "leave_feedback",
            _command_args(args),
            run,
            idempotency_key=args["idempotency_key"],
            actor=caller.user_id,
        )

    @rpc
    @validated(s.ReplyToFeedbackSchema)
    def reply_to_feedback(self, args: dict) -> dict:
        """Reply once, publicly, to the revealed feedback about the caller.

        Who: the reviewed party of the contract. Arguments: ``contract_id``, ``text``
        (1..1000 chars), ``idempotency_key`` (optional).
        Result: ``{contract_id, feedback_side, replied_at}``.
        Errors: ValidationError, NotAuthenticated, NotFound (unknown contract), Forbidden
        (not a party), Conflict (no revealed feedback about the caller, already replied,
        reply window over).
        """
        caller = self.caller.authenticated()

        def run(uow) -> dict:
            contract = uow.load(ContractFeedback, args["contract_id"])
            now = self.store.clock.now()
            contract.reply_to_feedback(actor_id=caller.user_id, text=args["text"], now=now)
            replied = contract.pending[-1].data["feedback_side"]
            uow.save(contract)
            return {"contract_id": contract.id, "feedback_side": replied, "replied_at": iso(now)}

        return self.store.command(
            "reply_to_feedback",
            _command_args(args),
            run,
            idempotency_key=args["idempotency_key"],
            actor=caller.user_id,
        )

    @rpc
    @validated(s.GetFeedbackSchema)
    def get_feedback(self, args: dict) -> dict:
        """One contract's feedback as the caller may see it, now or ``as_of`` a past moment.

        Who: any signed-in user. The author sees their own feedback with its private
        part; the other party sees the public part once revealed; anyone else sees it once
        revealed and only if money was paid on the contract; operators and auditors see
        everything. Each side's status (pending / submitted / revealed) is shown to all.
        Arguments: ``contract_id``, ``as_of`` (optional ISO timestamp, not in the future).
        Result: ``{contract_id, as_of, ended_at, window_closes_at, paid, sides: {client,
        freelancer: {status, feedback}}}``.
        Errors: ValidationError, NotAuthenticated, NotFound (unknown contract).
        """
        caller = self.caller.authenticated()
        as_of = self._as_of(args["as_of"])
        histories, _ = load_histories(self._fetch, [args["contract_id"]])
        if not histories:
            raise NotFound(f"no contract {args['contract_id']} is known to reputation")
        return feedback_view(histories[0], caller.user_id, caller.roles, as_of)

    @rpc
    @validated(s.ListFeedbackSchema)
    def list_feedback(self, args: dict) -> dict:
        """The public feedback about a user (revealed, on paid contracts), newest first.

        Who: any signed-in user. Arguments: ``user_id``, ``about_role`` (client /
        freelancer, optional), ``limit`` 1..100 (20), ``offset`` 0..10000, ``as_of``.
        Result: ``{user_id, total, items: [feedback + contract_id]}``.
        Errors: ValidationError, NotAuthenticated.
        """
        self.caller.authenticated()
        as_of = self._as_of(args["as_of"])
        user_id = args["user_id"]
        ids = self._contract_ids("client_id", user_id) + self._contract_ids(
            "freelancer_id", user_id
        )
        histories, _ = load_histories(self._fetch, ids)
        return public_feedback_about(
            user_id, histories, as_of, args["about_role"], args["limit"], args["offset"]
        )

    # -- scores --------------------------------------------------------------------------

    @rpc
    @validated(s.GetScoreSchema)
    def get_score(self, args: dict) -> dict:
        """A freelancer's Job Success Score and badge, now or ``as_of`` a past moment.

        Who: any signed-in user (scores are public; auditors pass ``as_of``).
        Arguments: ``freelancer_id``, ``as_of`` (optional, not in the future).
        Result: ``{freelancer_id, as_of, score (null until enough history), shown,
        counted_contracts, distinct_clients, formula_version, badge (null, rising_talent,
        top_rated, top_rated_plus)}``.
        Errors: ValidationError, NotAuthenticated.
        """
        self.caller.authenticated()
        report, badges = freelancer_standing(
            self._fetch, args["freelancer_id"], self._as_of(args["as_of"])
        )
        return {**report.summary(), "badge": badges["badge"]}

    @rpc
    @validated(s.ExplainScoreSchema)
    def explain_score(self, args: dict) -> dict:
        """The published formula applied: every contract considered, its weight, outcome,
        signals and the events behind it, and every badge criterion.

        Who: the freelancer themself, operators and auditors (the explanation names the
        freelancer's clients and contracts). Arguments: ``freelancer_id``, ``as_of``.
        Result: the ``get_score`` fields plus ``positive_weight, negative_weight,
        contracts [{contract_id, client_id, ended_at, counted, outcome, negative_signals,
        positive_signals, earnings_points, duration_days, earnings_tier, duration_tier,
        weight, event_ids, source_event_ids}], settings, badges {badge, criteria}``.
        Errors: ValidationError, NotAuthenticated, Forbidden.
        """
        caller = self.caller.authenticated()
        if not caller.has_role(*STAFF_ROLES):
            caller.require_user(args["freelancer_id"])
        report, badges = freelancer_standing(
            self._fetch, args["freelancer_id"], self._as_of(args["as_of"])
        )
        body = report.explanation()
        body["badge"] = badges["badge"]
        body["badges"] = {"badge": badges["badge"], "criteria": badges["criteria"]}
        return body

    @rpc
    @validated(s.ClientStatsSchema)
    def client_stats(self, args: dict) -> dict:
        """A client's stats: jobs posted, hires, hire rate, total spent, average rating
        given and received (revealed feedback on paid contracts), payment verified.

        Who: any signed-in user (freelancers judge clients by these).
        Arguments: ``client_id``, ``as_of`` (optional, not in the future).
        Result: ``{client_id, as_of, jobs_posted, hires, hired_jobs, hire_rate_percent,
        total_spent [Money], rating_given, rating_received {count, sum,
        average_hundredths}, payment_verified, member_since}``.
        Errors: ValidationError, NotAuthenticated.
        """
        self.caller.authenticated()
        client_id = args["client_id"]
        histories, member = load_histories(
            self._fetch, self._contract_ids("client_id", client_id), client_id
        )
        return client_stats(client_id, member, histories, self._as_of(args["as_of"]))

    # -- timers ----------------------------------------------------------------------------

    @ConfiguredTimer.decorator(interval=1.0)
    def fire_deadlines(self) -> int:
        """Close the feedback windows that are due (revealing what was submitted)."""
        return fire_due(self.store, policies.deadline_handlers(self.feedback_settings))
