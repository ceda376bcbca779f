"""The gateway's route table: every HTTP operation, and the RPC method it calls.

Each ``Route`` says which service and RPC method answer it, which marshmallow schema the
method validates its arguments with (imported from the service's ``schemas.py``, never from
its internals), and where each argument comes from:

- path: the ``{name}`` placeholders of the path, each one argument of the same name;
- query: every other argument of a GET or DELETE, typed from the schema field;
- body: every other argument of a POST, PUT or PATCH, as one JSON object;
- multipart: a form with a ``file`` part (attachment uploads).

The ``Idempotency-Key`` header fills the ``idempotency_key`` argument of mutating routes
whose schema has one. Routes whose result carries a cursor say how to ask for the next
page (``Paging``), and the gateway answers with a ``Link: <...>; rel="next"`` header.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from marshmallow import Schema

from services.bidding import schemas as bidding
from services.escrow import schemas as escrow
from services.identity import schemas as identity
from services.jobs import schemas as jobs
from services.messaging import schemas as messaging
from services.reputation import schemas as reputation
from shared.audit.rpc import AsOfArguments
from shared.rpc import DeadLetterQuery, DeadLetterReplay, NoArguments

SERVICES = ("identity", "jobs", "bidding", "escrow", "messaging", "reputation")
MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_PLACEHOLDER = re.compile(r"{([a-z_]+)}")


@dataclass(frozen=True)
class Paging:
    """How to ask a list method for the page after ``result``.

    ``kind`` is one of:
    - ``cursor``: the result has ``next_cursor``; it goes into the argument ``param``;
    - ``offset``: the result's list under ``items`` is full (``limit`` long), so the next
      page starts at ``offset + limit``;
    - ``position``: as ``offset`` but the next page starts after the last item's
      ``position`` (``param`` names the argument, e.g. ``after_position``).
    """

    kind: str
    param: str
    items: str | None = None

    def next_arguments(self, args: dict, result, default_limit: int | None) -> dict | None:
        """The query arguments that change for the next page, or None on the last page."""
        if not isinstance(result, dict):
            return None
        if self.kind == "cursor":
            cursor = result.get("next_cursor")
            return {self.param: cursor} if cursor else None
        items = result.get(self.items or "")
        limit = args.get("limit", default_limit)
        if not isinstance(items, list) or not isinstance(limit, int) or len(items) < limit:
            return None
        if self.kind == "offset":
            offset = args.get("offset", 0)
            return {"offset": (offset if isinstance(offset, int) else 0) + limit}
        last = items[-1] if items else None
        if isinstance(last, dict) and isinstance(last.get("position"), int):
            return {self.param: last["position"]}
        return None


@dataclass(frozen=True)
class Route:
    """One HTTP operation of the gateway, answered by one RPC method."""

    method: str
    path: str
    service: str
    rpc: str
    schema: type[Schema]
    summary: str
    status: int = 200
    source: str = ""  # path + "query" | "body" | "multipart"; derived from the method if empty
    rate_limit: str | None = None  # a bucket name of the RATE_LIMITS config
    paging: Paging | None = None
    aliases: dict = field(default_factory=dict)  # query name -> argument name (``q``)
    download: bool = False  # the result is a file (base64 ``content``) streamed back

    def __post_init__(self):
        if not self.source:
            source = "query" if self.method in ("GET", "DELETE") else "body"
            object.__setattr__(self, "source", source)

    @property
    def path_params(self) -> tuple[str, ...]:
        return tuple(_PLACEHOLDER.findall(self.path))

    @property
    def mutating(self) -> bool:
        return self.method in MUTATING

    @property
    def werkzeug_rule(self) -> str:
        """The path in werkzeug's syntax: ``/v1/jobs/<job_id>``."""
        return _PLACEHOLDER.sub(r"<\1>", self.path)

    @property
    def operation_id(self) -> str:
        return f"{self.service}.{self.rpc}"


def _maker(method: str) -> Callable[..., Route]:
    def make(path: str, service: str, rpc: str, schema, summary: str, **kwargs) -> Route:
        return Route(method, path, service, rpc, schema, summary, **kwargs)

    return make


get, post, patch, delete = _maker("GET"), _maker("POST"), _maker("PATCH"), _maker("DELETE")

CURSOR = Paging("cursor", "cursor")
BEFORE = Paging("cursor", "before")


def _operations(service: str) -> list[Route]:
    """The operator endpoints every service has (``shared.rpc.Operations``)."""
    base = f"/v1/ops/{service}"
    return [
        get(f"{base}/health", service, "health", NoArguments, f"Health of {service}"),
        get(
            f"{base}/dead-letters",
            service,
            "list_dead_letters",
            DeadLetterQuery,
            f"Parked messages of {service}'s consumers (operators)",
        ),
        post(
            f"{base}/dead-letters/replay",
            service,
            "replay_dead_letters",
            DeadLetterReplay,
            f"Replay parked messages of {service} (operators)",
        ),
    ]


ROUTES: tuple[Route, ...] = (
    # -- identity: accounts, sessions, profiles, keys ------------------------------------
    post("/v1/users", "identity", "register", identity.RegisterSchema, "Register", status=201),
    post(
        "/v1/sessions",
        "identity",
        "login",
        identity.LoginSchema,
        "Log in with email and password",
        rate_limit="login",
    ),
    post("/v1/sessions/refresh", "identity", "refresh", identity.RefreshSchema, "Refresh tokens"),
    post("/v1/sessions/logout", "identity", "logout", identity.LogoutSchema, "Log out"),
    get("/v1/me", "identity", "me", identity.MeSchema, "The caller's account"),
    post(
        "/v1/me/password",
        "identity",
        "change_password",
        identity.ChangePasswordSchema,
        "Change password",
    ),
    post("/v1/me/roles", "identity", "add_role", identity.AddRoleSchema, "Add a role"),
    post(
        "/v1/me/email-verification",
        "identity",
        "request_email_verification",
        identity.RequestEmailVerificationSchema,
        "Send an email verification code",
    ),
    post(
        "/v1/users/{user_id}/email-verification",
        "identity",
        "verify_email",
        identity.VerifyEmailSchema,
        "Verify an email with its code",
    ),
    get(
        "/v1/users/{user_id}/profile",
        "identity",
        "get_profile",
        identity.GetProfileSchema,
        "A user's profile",
    ),
    patch(
        "/v1/users/{user_id}/profile",
        "identity",
        "update_profile",
        identity.UpdateProfileSchema,
        "Update a profile",
    ),
    post(
        "/v1/users/{user_id}/identity-verification",
        "identity",
        "verify_identity",
        identity.VerifyIdentitySchema,
        "Record an identity verification",
    ),
    post(
        "/v1/users/{user_id}/payment-method-verification",
        "identity",
        "verify_payment_method",
        identity.VerifyPaymentMethodSchema,
        "Record a verified payment method",
    ),
    post(
        "/v1/users/{user_id}/suspension",
        "identity",
        "suspend",
        identity.SuspendSchema,
        "Suspend a user (operators)",
    ),
    post(
        "/v1/users/{user_id}/reinstatement",
        "identity",
        "reinstate",
        identity.ReinstateSchema,
        "Reinstate a user (operators)",
    ),
    post(
        "/v1/staff",
        "identity",
        "create_staff_account",
        identity.CreateStaffAccountSchema,
        "Create an operator or auditor account",
        status=201,
    ),
    get("/v1/skills", "identity", "list_skills", identity.ListSkillsSchema, "The skills list"),
    get("/v1/keys", "identity", "public_keys", identity.PublicKeysSchema, "Token keys (JWKS)"),
    post(
        "/v1/keys/rotation",
        "identity",
        "rotate_keys",
        identity.RotateKeysSchema,
        "Rotate the signing key (operators)",
    ),
    # -- jobs --------------------------------------------------------------------------
    post("/v1/jobs", "jobs", "create_job", jobs.CreateJobSchema, "Post a job", status=201),
    get(
        "/v1/jobs",
        "jobs",
        "search_jobs",
        jobs.SearchJobsSchema,
        "Search open jobs (q: keywords)",
        paging=CURSOR,
        aliases={"q": "keywords"},
    ),
    get(
        "/v1/jobs/mine",
        "jobs",
        "list_my_jobs",
        jobs.ListMyJobsSchema,
        "The caller's jobs",
        paging=CURSOR,
    ),
    get(
        "/v1/jobs/recommended",
        "jobs",
        "recommend_jobs",
        jobs.RecommendJobsSchema,
        "Best matches for the caller",
    ),
    get("/v1/jobs/{job_id}", "jobs", "get_job", jobs.JobRefSchema, "A job"),
    patch("/v1/jobs/{job_id}", "jobs", "update_job", jobs.UpdateJobSchema, "Change a job"),
    post("/v1/jobs/{job_id}/publish", "jobs", "publish_job", jobs.PublishJobSchema, "Publish"),
    post("/v1/jobs/{job_id}/close", "jobs", "close_job", jobs.CloseJobSchema, "Close a job"),
    get(
        "/v1/jobs/{job_id}/history",
        "jobs",
        "job_history",
        jobs.JobRefSchema,
        "A job's events",
    ),
    post(
        "/v1/jobs/{job_id}/invitations",
        "jobs",
        "invite_freelancer",
        jobs.InviteFreelancerSchema,
        "Invite a freelancer",
        status=201,
    ),
    post(
        "/v1/jobs/{job_id}/invitations/decline",
        "jobs",
        "decline_invitation",
        jobs.DeclineInvitationSchema,
        "Decline an invitation",
    ),
    get(
        "/v1/categories",
        "jobs",
        "list_categories",
        jobs.ListCategoriesSchema,
        "Job categories",
    ),
    post(
        "/v1/saved-searches",
        "jobs",
        "save_search",
        jobs.SaveSearchSchema,
        "Save a search",
        status=201,
    ),
    get(
        "/v1/saved-searches",
        "jobs",
        "list_saved_searches",
        jobs.ListSavedSearchesSchema,
        "The caller's saved searches",
    ),
    delete(
        "/v1/saved-searches/{search_id}",
        "jobs",
        "delete_saved_search",
        jobs.DeleteSavedSearchSchema,
        "Delete a saved search",
    ),
    # -- bidding -----------------------------------------------------------------------
    get(
        "/v1/connects",
        "bidding",
        "connects_balance",
        bidding.ConnectsBalanceSchema,
        "Connects balance (freelancer_id for operators)",
    ),
    post(
        "/v1/connects/purchases",
        "bidding",
        "purchase_connects",
        bidding.PurchaseConnectsSchema,
        "Buy a bundle of connects",
        status=201,
    ),
    post(
        "/v1/proposals",
        "bidding",
        "submit_proposal",
        bidding.SubmitProposalSchema,
        "Submit a proposal",
        status=201,
        rate_limit="proposals",
    ),
    post(
        "/v1/proposals/quote",
        "bidding",
        "quote_proposal",
        bidding.QuoteProposalSchema,
        "What a proposal would cost in connects",
    ),
    get(
        "/v1/proposals",
        "bidding",
        "list_proposals",
        bidding.ListProposalsSchema,
        "Proposals on a job (its client)",
        paging=Paging("offset", "offset", "proposals"),
    ),
    get(
        "/v1/proposals/mine",
        "bidding",
        "my_proposals",
        bidding.MyProposalsSchema,
        "The caller's proposals",
        paging=Paging("offset", "offset", "proposals"),
    ),
    get(
        "/v1/proposals/{proposal_id}",
        "bidding",
        "get_proposal",
        bidding.GetProposalSchema,
        "A proposal",
    ),
    *(
        post(
            f"/v1/proposals/{{proposal_id}}/{verb}",
            "bidding",
            rpc,
            schema,
            summary,
        )
        for verb, rpc, schema, summary in (
            ("withdraw", "withdraw_proposal", bidding.WithdrawProposalSchema, "Withdraw"),
            ("shortlist", "shortlist_proposal", bidding.ProposalRefSchema, "Shortlist"),
            ("archive", "archive_proposal", bidding.ProposalRefSchema, "Archive"),
            ("decline", "decline_proposal", bidding.DeclineProposalSchema, "Decline"),
            ("message", "message_proposal", bidding.ProposalRefSchema, "Open a conversation"),
        )
    ),
    post(
        "/v1/offers", "bidding", "send_offer", bidding.SendOfferSchema, "Send an offer", status=201
    ),
    get(
        "/v1/offers",
        "bidding",
        "list_offers",
        bidding.ListOffersSchema,
        "The caller's offers",
        paging=Paging("offset", "offset", "offers"),
    ),
    get("/v1/offers/{offer_id}", "bidding", "get_offer", bidding.GetOfferSchema, "An offer"),
    post(
        "/v1/offers/{offer_id}/accept",
        "bidding",
        "accept_offer",
        bidding.AcceptOfferSchema,
        "Accept",
    ),
    post(
        "/v1/offers/{offer_id}/decline",
        "bidding",
        "decline_offer",
        bidding.DeclineOfferSchema,
        "Decline",
    ),
    post(
        "/v1/offers/{offer_id}/withdraw",
        "bidding",
        "withdraw_offer",
        bidding.WithdrawOfferSchema,
        "Withdraw",
    ),
    # -- escrow: wallets, contracts, money -------------------------------------------
    get("/v1/wallet", "escrow", "wallet", escrow.WalletSchema, "The caller's wallet"),
    post(
        "/v1/wallet/deposits",
        "escrow",
        "deposit",
        escrow.DepositSchema,
        "Deposit",
        status=201,
    ),
    post(
        "/v1/wallet/withdrawals",
        "escrow",
        "withdraw",
        escrow.WithdrawSchema,
        "Withdraw",
        status=201,
    ),
    get(
        "/v1/ledger",
        "escrow",
        "ledger",
        escrow.LedgerSchema,
        "An account's ledger entries",
        paging=Paging("position", "after_position", "entries"),
    ),
    post(
        "/v1/payments/sandbox/settlements",
        "escrow",
        "confirm_provider_payment",
        escrow.SandboxSettlementSchema,
        "Settle a sandbox payment (operators)",
    ),
    post(
        "/v1/payments/notifications",
        "escrow",
        "provider_notification",
        escrow.ProviderNotificationSchema,
        "A payment provider's notification",
    ),
    get(
        "/v1/contracts",
        "escrow",
        "list_contracts",
        escrow.ListContractsSchema,
        "The caller's contracts",
        paging=Paging("offset", "offset", "contracts"),
    ),
    get(
        "/v1/contracts/{contract_id}",
        "escrow",
        "get_contract",
        escrow.GetContractSchema,
        "A contract",
    ),
    post(
        "/v1/contracts/{contract_id}/milestones",
        "escrow",
        "add_milestone",
        escrow.AddMilestoneSchema,
        "Add a milestone",
        status=201,
    ),
    *(
        post(
            f"/v1/contracts/{{contract_id}}/milestones/{{milestone_id}}/{verb}",
            "escrow",
            rpc,
            schema,
            summary,
        )
        for verb, rpc, schema, summary in (
            ("fund", "fund_milestone", escrow.FundMilestoneSchema, "Fund a milestone"),
            ("submit", "submit_work", escrow.SubmitWorkSchema, "Submit work"),
            ("request-changes", "request_changes", escrow.RequestChangesSchema, "Ask for changes"),
            ("approve", "approve_milestone", escrow.ApproveMilestoneSchema, "Approve and release"),
            ("refund-request", "request_refund", escrow.RequestRefundSchema, "Ask for a refund"),
        )
    ),
    post(
        "/v1/contracts/{contract_id}/refunds/{refund_id}/accept",
        "escrow",
        "accept_refund",
        escrow.AcceptRefundSchema,
        "Accept a refund request",
    ),
    post(
        "/v1/contracts/{contract_id}/time",
        "escrow",
        "log_time",
        escrow.LogTimeSchema,
        "Log time",
        status=201,
    ),
    delete(
        "/v1/contracts/{contract_id}/time/{segment_id}",
        "escrow",
        "delete_time",
        escrow.DeleteTimeSchema,
        "Delete logged time",
    ),
    post(
        "/v1/contracts/{contract_id}/invoices/{week_start}/pay",
        "escrow",
        "pay_invoice",
        escrow.PayInvoiceSchema,
        "Pay an hourly invoice now",
    ),
    post(
        "/v1/contracts/{contract_id}/bonuses",
        "escrow",
        "pay_bonus",
        escrow.PayBonusSchema,
        "Pay a bonus",
        status=201,
    ),
    post(
        "/v1/contracts/{contract_id}/pause",
        "escrow",
        "pause_contract",
        escrow.PauseContractSchema,
        "Pause",
    ),
    post(
        "/v1/contracts/{contract_id}/resume",
        "escrow",
        "resume_contract",
        escrow.ResumeContractSchema,
        "Resume",
    ),
    post(
        "/v1/contracts/{contract_id}/end",
        "escrow",
        "end_contract",
        escrow.EndContractSchema,
        "End a contract",
    ),
    post(
        "/v1/contracts/{contract_id}/disputes",
        "escrow",
        "open_dispute",
        escrow.OpenDisputeSchema,
        "Open a dispute",
        status=201,
    ),
    post(
        "/v1/contracts/{contract_id}/disputes/{dispute_id}/resolve",
        "escrow",
        "resolve_dispute",
        escrow.ResolveDisputeSchema,
        "Resolve a dispute (operators)",
    ),
    post(
        "/v1/contracts/{contract_id}/disputes/{dispute_id}/withdraw",
        "escrow",
        "withdraw_dispute",
        escrow.WithdrawDisputeSchema,
        "Withdraw a dispute",
    ),
    # -- reputation --------------------------------------------------------------------
    get(
        "/v1/contracts/{contract_id}/feedback",
        "reputation",
        "get_feedback",
        reputation.GetFeedbackSchema,
        "Feedback on a contract",
    ),
    post(
        "/v1/contracts/{contract_id}/feedback",
        "reputation",
        "leave_feedback",
        reputation.LeaveFeedbackSchema,
        "Leave feedback",
        status=201,
    ),
    post(
        "/v1/contracts/{contract_id}/feedback/reply",
        "reputation",
        "reply_to_feedback",
        reputation.ReplyToFeedbackSchema,
        "Reply to feedback",
    ),
    get(
        "/v1/freelancers/{freelancer_id}/score",
        "reputation",
        "get_score",
        reputation.GetScoreSchema,
        "Job Success Score",
    ),
    get(
        "/v1/freelancers/{freelancer_id}/score/explanation",
        "reputation",
        "explain_score",
        reputation.GetScoreSchema,
        "Why the score is what it is",
    ),
    get(
        "/v1/clients/{client_id}/stats",
        "reputation",
        "client_stats",
        reputation.ClientStatsSchema,
        "A client's history",
    ),
    get(
        "/v1/users/{user_id}/feedback",
        "reputation",
        "list_feedback",
        reputation.ListFeedbackSchema,
        "Public feedback about a user",
        paging=Paging("offset", "offset", "feedback"),
    ),
    # -- messaging ---------------------------------------------------------------------
    post(
        "/v1/rooms",
        "messaging",
        "open_room",
        messaging.OpenRoomSchema,
        "Open a direct room",
        status=201,
    ),
    get(
        "/v1/rooms",
        "messaging",
        "list_rooms",
        messaging.ListRoomsSchema,
        "The caller's rooms",
        paging=BEFORE,
    ),
    get("/v1/rooms/{room_id}", "messaging", "get_room", messaging.GetRoomSchema, "A room"),
    get(
        "/v1/rooms/{room_id}/messages",
        "messaging",
        "list_messages",
        messaging.ListMessagesSchema,
        "A room's messages, newest first",
        paging=BEFORE,
    ),
    post(
        "/v1/rooms/{room_id}/messages",
        "messaging",
        "send_message",
        messaging.SendMessageSchema,
        "Send a message",
        status=201,
    ),
    post(
        "/v1/rooms/{room_id}/read",
        "messaging",
        "mark_read",
        messaging.MarkReadSchema,
        "Mark read up to a message",
    ),
    post(
        "/v1/rooms/{room_id}/access",
        "messaging",
        "request_room_access",
        messaging.RequestRoomAccessSchema,
        "Review access (operators, auditors)",
    ),
    post(
        "/v1/rooms/{room_id}/attachments",
        "messaging",
        "upload_attachment",
        messaging.UploadAttachmentSchema,
        "Upload an attachment (multipart: file)",
        status=201,
        source="multipart",
    ),
    get(
        "/v1/attachments/{attachment_id}",
        "messaging",
        "get_attachment",
        messaging.GetAttachmentSchema,
        "Download an attachment",
        download=True,
    ),
    patch(
        "/v1/messages/{message_id}",
        "messaging",
        "edit_message",
        messaging.EditMessageSchema,
        "Edit a message",
    ),
    delete(
        "/v1/messages/{message_id}",
        "messaging",
        "delete_message",
        messaging.DeleteMessageSchema,
        "Delete a message",
    ),
    get(
        "/v1/messages/{message_id}/history",
        "messaging",
        "message_history",
        messaging.MessageHistorySchema,
        "A message's edits",
    ),
    # -- operators ---------------------------------------------------------------------
    *(route for service in SERVICES for route in _operations(service)),
    # -- auditors: escrow's log and read models as they stood --------------------------
    get(
        "/v1/audit/escrow/verify",
        "escrow",
        "audit_verify",
        NoArguments,
        "Verify escrow's log (auditors)",
    ),
    post(
        "/v1/audit/escrow/as-of",
        "escrow",
        "audit_as_of",
        AsOfArguments,
        "A read model's rows at a past time (auditors)",
    ),
)
