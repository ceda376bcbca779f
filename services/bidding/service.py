"""The bidding service: connects, proposals, offers, boosts over nameko RPC.

Entrypoints only: each validates its arguments (``@validated``), checks who is calling, runs
the pure domain inside ``store.command`` (one transaction, retried on concurrency
conflicts, idempotent by key) and returns plain JSON. Reactions to jobs' events are in
``policies.FollowsJobs``; identity's suspensions in ``shared.rpc.FollowsSuspensions``.
"""

from __future__ import annotations

import uuid

from nameko.extensions import DependencyProvider
from nameko.rpc import rpc
from nameko.timer import Timer

from shared import rpc as shared_rpc
from shared.auth import CallerProvider
from shared.clock import iso
from shared.errors import Forbidden, NotFound
from shared.observability import LogContext, Metrics
from shared.process import CollectorTuning
from shared.relay import Relay
from shared.rpc import validated
from shared.storage import EventStore
from shared.timers import fire_due

from . import domain, policies
from .domain import Actor, ConnectsWallet, JobListing, Offer, Proposal
from .policies import deadline_handlers, schedule_windows
from .projections import (
    READ_ALL_ROLES,
    can_view_proposal,
    client_view,
    connects_summary,
    freelancer_view,
    order_for_client,
    proposal_quote,
    require_job_client,
)
from .read_models import read_models
from .schemas import (
    AcceptOfferSchema,
    ConnectsBalanceSchema,
    DeclineOfferSchema,
    DeclineProposalSchema,
    GetOfferSchema,
    GetProposalSchema,
    ListOffersSchema,
    ListProposalsSchema,
    MyProposalsSchema,
    ProposalRefSchema,
    PurchaseConnectsSchema,
    QuoteProposalSchema,
    SendOfferSchema,
    SubmitProposalSchema,
    WithdrawOfferSchema,
    WithdrawProposalSchema,
)
from .settings import settings_from_config


class SettingsProvider(DependencyProvider):
    """``BiddingSettings`` built once from the container's config."""

    def setup(self):
        self.settings = settings_from_config(self.container.config)

    def get_dependency(self, worker_ctx):
        return self.settings


class ConfiguredTimer(Timer):
    """nameko's timer with its interval from config ``TIMER_INTERVAL`` (seconds)."""

    def setup(self):
        self.interval = float(self.container.config.get("TIMER_INTERVAL", self.interval))


def _args(args: dict) -> dict:
    """Validated arguments without the key, as JSON for the idempotency digest."""
    return {k: v for k, v in args.items() if k != "idempotency_key"}


# The mixins are reached through their modules: ``nameko run <module>`` runs every
# top-level class of the module that has entrypoints, and a mixin is not a service.
class BiddingService(shared_rpc.Operations, shared_rpc.FollowsSuspensions, policies.FollowsJobs):
    name = "bidding"

    store = EventStore(projections=read_models())
    relay = Relay()
    caller = CallerProvider()
    metrics = Metrics()  # /metrics and /health on METRICS_PORT
    log_context = LogContext()  # correlation id, caller, entrypoint in log lines
    collector = CollectorTuning()  # start-up objects out of the GC's way
    settings = SettingsProvider()

    # ---- helpers -------------------------------------------------------------------------

    def _actor(self) -> Actor:
        # A suspended user never gets here: the caller provider refuses their token.
        caller = self.caller.authenticated()
        return Actor(caller.user_id, caller.roles)

    def _command(self, method: str, args: dict, actor: Actor, run):
        def in_transaction(uow):
            result = run(uow)
            schedule_windows(uow, uow.recorded)
            return result

        return self.store.command(
            method,
            _args(args),
            in_transaction,
            idempotency_key=args.get("idempotency_key"),
            actor=actor.user_id,
        )

    def _wallet(self, uow, freelancer_id: str, now=None) -> ConnectsWallet:
        """The freelancer's wallet, with this month's free connects granted on first use.

        ``now`` is the command's own moment: a lot granted a microsecond after the moment a
        command judges the balance at would not count yet (``Lot.usable``), so a command
        passes the one ``now`` it uses throughout."""
        return self._granted(uow.load(ConnectsWallet, freelancer_id), now)

    def _granted(self, wallet: ConnectsWallet, now=None) -> ConnectsWallet:
        """``wallet`` with this month's free connects granted (see ``_wallet``)."""
        wallet.grant_monthly_allotment(now or self.store.clock.now(), self.settings)
        return wallet

    def _listing_and_wallet(self, uow, job_id: str, freelancer_id: str, now):
        """The job's listing and the freelancer's wallet (allotment granted), read at once."""
        listing, wallet = uow.load_many((JobListing, job_id), (ConnectsWallet, freelancer_id))
        return listing, self._granted(wallet, now)

    def _load_offer(self, uow, offer_id: str):
        offer = uow.load(Offer, offer_id, must_exist=True)
        if not offer.proposal_id:
            return offer, uow.load(JobListing, offer.job_id), None
        listing, proposal = uow.load_many((JobListing, offer.job_id), (Proposal, offer.proposal_id))
        return offer, listing, proposal

    def _offer_command(self, method: str, args: dict, act) -> dict:
        actor = self._actor()

        def run(uow):
            offer, listing, proposal = self._load_offer(uow, args["offer_id"])
            act(offer, listing, proposal, actor, self.store.clock.now())
            uow.save(offer, listing, *([proposal] if proposal is not None else []))
            return {"offer_id": offer.id, "status": offer.status}

        return self._command(method, args, actor, run)

    def _proposal_command(self, method: str, args: dict, act) -> dict:
        actor = self._actor()

        def run(uow):
            proposal = uow.load(Proposal, args["proposal_id"], must_exist=True)
            act(proposal, actor, self.store.clock.now())
            uow.save(proposal)
            return {
                "proposal_id": proposal.id,
                "status": proposal.status,
                "folder": proposal.folder,
            }

        return self._command(method, args, actor, run)

    # ---- connects ------------------------------------------------------------------------

    @rpc
    @validated(ConnectsBalanceSchema)
    def connects_balance(self, args) -> dict:
        """The caller's connects: ``{freelancer_id, balance, pending_purchase_connects, lots
        [{lot_id, source, remaining, received_at, expires_at}], next_expiry}``.

        Args: ``freelancer_id`` (operators and auditors only; others see their own).
        A freelancer's first look in a month grants the month's free connects.
        Errors: NotAuthenticated; Forbidden (not a freelancer, or another's wallet).
        """
        actor = self._actor()
        target = args["freelancer_id"] or actor.user_id
        if target != actor.user_id and not actor.roles & READ_ALL_ROLES:
            raise Forbidden("you may only see your own connects")
        if target == actor.user_id:
            actor.require("freelancer")

            def run(uow):
                now = self.store.clock.now()
                wallet = self._wallet(uow, target, now)
                uow.save(wallet)
                return connects_summary(wallet, now)

            return self._command("connects_balance", {}, actor, run)
        with self.store.reading() as uow:
            wallet = uow.load(ConnectsWallet, target)
        return connects_summary(wallet, self.store.clock.now())

    @rpc
    @validated(PurchaseConnectsSchema)
    def purchase_connects(self, args) -> dict:
        """Buy a bundle of connects (10, 20, 40, 60 or 80) through the sandbox provider.

        Args: ``bundle``, ``idempotency_key``. Result: ``{purchase_id, connects, price,
        provider_ref, balance}``. The sandbox confirms at once; the lot expires after
        ``connects_validity_days``. Errors: Forbidden (not a freelancer); ValidationError
        ``bundle``; Conflict (over the wallet's maximum, key reused with other arguments).
        """
        actor = self._actor()
        actor.require("freelancer")

        def run(uow):
            now = self.store.clock.now()
            wallet = self._wallet(uow, actor.user_id, now)
            purchase_id = str(uuid.uuid4())
            requested = wallet.request_purchase(purchase_id, args["bundle"], now, self.settings)
            # Sandbox payment provider: confirms synchronously with its own reference.
            provider_ref = f"sandbox-{purchase_id}"
            wallet.confirm_purchase(purchase_id, provider_ref, now, self.settings)
            uow.save(wallet)
            return {
                "purchase_id": purchase_id,
                "connects": args["bundle"],
                "price": requested.data["price"],
                "provider_ref": provider_ref,
                "balance": wallet.balance(now),
            }

        return self._command("purchase_connects", args, actor, run)

    # ---- proposals -----------------------------------------------------------------------

    @rpc
    @validated(QuoteProposalSchema)
    def quote_proposal(self, args) -> dict:
        """What a proposal on ``job_id`` would cost: ``{job_id, budget_band,
        proposal_connects, boost, connects_needed, balance, enough, boost_auction_open,
        fee {rate_bps, gross, fee, net} | null}``.

        Args: ``job_id``, ``bid`` (optional Money), ``boost``. Nothing is spent.
        Errors: Forbidden (not a freelancer); NotFound (unknown or invisible job).
        """
        actor = self._actor()
        actor.require("freelancer")
        now = self.store.clock.now()
        with self.store.reading() as uow:
            listing, wallet = self._listing_and_wallet(uow, args["job_id"], actor.user_id, now)
        return proposal_quote(
            listing,
            wallet,
            actor,
            args["bid"],
            args["boost"],
            now,
            self.settings,
        )

    @rpc
    @validated(SubmitProposalSchema)
    def submit_proposal(self, args) -> dict:
        """A freelancer bids on an open job, paying connects by the job's budget band
        (nothing when invited) plus an optional boost.

        Args: ``job_id, cover_letter, bid (Money), milestones [{title, amount, due_date}]
        (fixed jobs, summing to the bid), estimated_duration, answers [{question_id,
        answer}] (one per screening question), attachments, boost, idempotency_key``.
        Result: ``{proposal_id, job_id, connects_spent, boost, fee, balance}``.
        Errors: Forbidden (not a freelancer, own job); NotFound (unknown or invisible job);
        Conflict (job closed, a live proposal already, not enough connects);
        ValidationError naming the fields. A refused proposal spends nothing.
        """
        actor = self._actor()

        def run(uow):
            now = self.store.clock.now()
            listing, wallet = self._listing_and_wallet(uow, args["job_id"], actor.user_id, now)
            proposal = Proposal.fresh(str(uuid.uuid4()))
            domain.submit_proposal(listing, wallet, proposal, actor, args, now, self.settings)
            uow.save(listing, wallet, proposal)
            return {
                "proposal_id": proposal.id,
                "job_id": listing.id,
                "connects_spent": proposal.data["connects_spent"],
                "boost": proposal.data["boost"],
                "fee": proposal.data["fee"],
                "balance": wallet.balance(now),
            }

        return self._command("submit_proposal", args, actor, run)

    @rpc
    @validated(WithdrawProposalSchema)
    def withdraw_proposal(self, args) -> dict:
        """The author withdraws a live proposal (not while an offer is pending); the
        connects are not refunded. Args: ``proposal_id, reason, message, idempotency_key``.
        Result: ``{proposal_id, status}``. Errors: NotFound; Forbidden (not the author);
        Conflict (not live, offer pending)."""
        actor = self._actor()

        def run(uow):
            proposal = uow.load(Proposal, args["proposal_id"], must_exist=True)
            listing = uow.load(JobListing, proposal.job_id)
            domain.withdraw_proposal(
                listing, proposal, actor, args["reason"], args["message"], self.store.clock.now()
            )
            uow.save(proposal, listing)
            return {"proposal_id": proposal.id, "status": proposal.status}

        return self._command("withdraw_proposal", args, actor, run)

    @rpc
    @validated(GetProposalSchema)
    def get_proposal(self, args) -> dict:
        """One proposal: in full for its author (with fee and connects), without them for
        the job's client. Errors: NotFound (unknown, or not the caller's to see)."""
        actor = self._actor()
        rows = self.store.query(
            "SELECT row FROM bidding_proposals WHERE proposal_id = %s", (args["proposal_id"],)
        )
        if not rows or not can_view_proposal(rows[0][0], actor):
            raise NotFound(f"no proposal {args['proposal_id']}")
        row = rows[0][0]
        return freelancer_view(row) if row["freelancer_id"] == actor.user_id else client_view(row)

    @rpc
    @validated(ListProposalsSchema)
    def list_proposals(self, args) -> dict:
        """The proposals on one of the caller's jobs: pinned boosted ones first, then by
        ``order`` (newest, oldest, bid_low, bid_high); withdrawn ones omitted; ``folder``
        (inbox, shortlisted, archived) filters. Args also ``limit``, ``offset``.
        Result: ``{job_id, total, proposals [client view]}``.
        Errors: NotFound (unknown job); Forbidden (not the job's client)."""
        actor = self._actor()
        with self.store.reading() as uow:
            listing = uow.load(JobListing, args["job_id"])
        require_job_client(listing, actor)
        rows = [
            r[0]
            for r in self.store.query(
                "SELECT row FROM bidding_proposals WHERE job_id = %s", (args["job_id"],)
            )
        ]
        ordered = order_for_client(
            rows, listing.pinned(self.settings.pinned_slots), args["order"], args["folder"]
        )
        page = ordered[args["offset"] : args["offset"] + args["limit"]]
        return {
            "job_id": args["job_id"],
            "total": len(ordered),
            "proposals": [client_view(r) for r in page],
        }

    @rpc
    @validated(MyProposalsSchema)
    def my_proposals(self, args) -> dict:
        """The caller's own proposals, newest first, optionally by ``status`` and
        ``job_id``; ``limit``, ``offset``. Result: ``{proposals [full rows]}``."""
        actor = self._actor()
        rows = self.store.query(
            "SELECT row FROM bidding_proposals WHERE freelancer_id = %s"
            " AND (%s::text IS NULL OR status = %s) AND (%s::text IS NULL OR job_id = %s)"
            " ORDER BY submitted_at DESC, proposal_id LIMIT %s OFFSET %s",
            (
                actor.user_id,
                args["status"],
                args["status"],
                args["job_id"],
                args["job_id"],
                args["limit"],
                args["offset"],
            ),
        )
        return {"proposals": [freelancer_view(r[0]) for r in rows]}

    @rpc
    @validated(ProposalRefSchema)
    def shortlist_proposal(self, args) -> dict:
        """The job's client moves a live proposal to the shortlist. Result: ``{proposal_id,
        status, folder}``. Errors: NotFound; Forbidden (not the job's client); Conflict."""
        return self._proposal_command(
            "shortlist_proposal", args, lambda p, a, now: p.shortlist(a.user_id, now)
        )

    @rpc
    @validated(ProposalRefSchema)
    def archive_proposal(self, args) -> dict:
        """The job's client archives a live proposal. Result and errors as
        ``shortlist_proposal``."""
        return self._proposal_command(
            "archive_proposal", args, lambda p, a, now: p.archive(a.user_id, now)
        )

    @rpc
    @validated(DeclineProposalSchema)
    def decline_proposal(self, args) -> dict:
        """The job's client declines with a ``reason`` (and ``message``); not while an
        offer is pending. Result and errors as ``shortlist_proposal``."""
        return self._proposal_command(
            "decline_proposal",
            args,
            lambda p, a, now: p.decline(a.user_id, args["reason"], args["message"], now),
        )

    @rpc
    @validated(ProposalRefSchema)
    def message_proposal(self, args) -> dict:
        """The job's client opens a conversation with the author: ``ProposalMessaged``
        (messaging opens the interview room), the first time only. Result and errors as
        ``shortlist_proposal``."""
        return self._proposal_command(
            "message_proposal", args, lambda p, a, now: p.message(a.user_id, now)
        )

    # ---- offers --------------------------------------------------------------------------

    @rpc
    @validated(SendOfferSchema)
    def send_offer(self, args) -> dict:
        """The job's client offers a contract from a live ``proposal_id``, or directly to an
        invited ``freelancer_id``. Fixed: ``milestones`` [{title, amount, due_date}];
        hourly: ``hourly_rate``, ``weekly_limit_hours``, ``manual_time_allowed``; both:
        ``kind, start_date, title, message, idempotency_key``.
        Result: ``{offer_id, status, expires_at}`` (valid ``offer_validity_days``).
        Errors: Forbidden (not the job's client); NotFound; Conflict (job closed, a pending
        offer already, not invited); ValidationError naming the fields."""
        actor = self._actor()

        def run(uow):
            if args["proposal_id"]:
                listing, proposal = uow.load_many(
                    (JobListing, args["job_id"]), (Proposal, args["proposal_id"])
                )
            else:
                listing, proposal = uow.load(JobListing, args["job_id"]), None
            offer = Offer.fresh(str(uuid.uuid4()))
            domain.send_offer(
                listing, proposal, offer, actor, args, self.store.clock.now(), self.settings
            )
            uow.save(listing, offer, *([proposal] if proposal is not None else []))
            return {
                "offer_id": offer.id,
                "status": offer.status,
                "expires_at": iso(offer.expires_at),
            }

        return self._command("send_offer", args, actor, run)

    @rpc
    @validated(WithdrawOfferSchema)
    def withdraw_offer(self, args) -> dict:
        """The client withdraws a pending offer. Args: ``offer_id, reason,
        idempotency_key``. Result: ``{offer_id, status}``. Errors: NotFound; Forbidden (not
        the offer's client); Conflict (not pending)."""
        return self._offer_command(
            "withdraw_offer",
            args,
            lambda o, li, p, a, now: domain.withdraw_offer(o, li, p, a, args["reason"], now),
        )

    @rpc
    @validated(AcceptOfferSchema)
    def accept_offer(self, args) -> dict:
        """The freelancer accepts a pending, unexpired offer: ``OfferAccepted`` carries the
        full terms to escrow, which opens the contract. Args: ``offer_id,
        idempotency_key``. Result: ``{offer_id, status}``. Errors: NotFound; Forbidden
        (not the offer's freelancer); Conflict (not pending, expired, job closed)."""
        return self._offer_command("accept_offer", args, domain.accept_offer)

    @rpc
    @validated(DeclineOfferSchema)
    def decline_offer(self, args) -> dict:
        """The freelancer declines a pending offer with a ``reason`` (and ``message``).
        Result and errors as ``accept_offer``."""
        return self._offer_command(
            "decline_offer",
            args,
            lambda o, li, p, a, now: domain.decline_offer(
                o, li, p, a, args["reason"], args["message"], now
            ),
        )

    @rpc
    @validated(GetOfferSchema)
    def get_offer(self, args) -> dict:
        """One offer, for its client or its freelancer (or staff). Errors: NotFound."""
        actor = self._actor()
        rows = self.store.query(
            "SELECT row FROM bidding_offers WHERE offer_id = %s", (args["offer_id"],)
        )
        row = rows[0][0] if rows else None
        if row is None or not (
            actor.user_id in (row["client_id"], row["freelancer_id"])
            or actor.roles & READ_ALL_ROLES
        ):
            raise NotFound(f"no offer {args['offer_id']}")
        return row

    @rpc
    @validated(ListOffersSchema)
    def list_offers(self, args) -> dict:
        """Offers the caller sent or received, newest first, optionally by ``status`` and
        ``job_id``; ``limit``, ``offset``. Result: ``{offers}``."""
        actor = self._actor()
        rows = self.store.query(
            "SELECT row FROM bidding_offers WHERE (client_id = %s OR freelancer_id = %s)"
            " AND (%s::text IS NULL OR status = %s) AND (%s::text IS NULL OR job_id = %s)"
            " ORDER BY sent_at DESC, offer_id LIMIT %s OFFSET %s",
            (
                actor.user_id,
                actor.user_id,
                args["status"],
                args["status"],
                args["job_id"],
                args["job_id"],
                args["limit"],
                args["offset"],
            ),
        )
        return {"offers": [r[0] for r in rows]}

    # ---- time ----------------------------------------------------------------------------

    @ConfiguredTimer.decorator(interval=1.0)
    def fire_deadlines(self) -> int:
        """Expire offers and connects lots, close boost auctions, as their times come."""
        return fire_due(self.store, deadline_handlers(self.settings))
