"""Input schemas of bidding's RPC methods and of the events it consumes.

Every argument set and every consumed event passes one of these through
``shared.schemas.load``: unknown fields are refused, every size and range is bounded, and a
failure is a ``ValidationError`` naming the fields, before anything is written.
"""

from __future__ import annotations

from marshmallow import ValidationError as MarshmallowValidationError
from marshmallow import fields, validate, validates_schema

from shared.schemas import (
    BaseSchema,
    Id,
    MoneyField,
    StrictInteger,
    Text,
    idempotency_key_field,
)

from .listing import CLOSE_OUTCOMES, VISIBILITIES
from .offer import OFFER_DECLINE_REASONS
from .projections import FOLDERS, PROPOSAL_ORDERS
from .proposal import DECLINE_REASONS, WITHDRAW_REASONS

ESTIMATED_DURATIONS = (
    "less_than_1_month",
    "1_to_3_months",
    "3_to_6_months",
    "more_than_6_months",
)
PROPOSAL_STATUSES = ("submitted", "declined", "withdrawn", "hired")
OFFER_STATUSES = ("pending", "accepted", "declined", "withdrawn", "expired")
MAX_ATTACHMENT_BYTES = 25 * 1024 * 1024
MAX_SCREENING_QUESTIONS = 10
MAX_INVITED = 500
MAX_PAGE = 100
MAX_OFFSET = 10_000


class _PageSchema(BaseSchema):
    """Paging shared by the list methods."""

    limit = StrictInteger(load_default=20, validate=validate.Range(min=1, max=MAX_PAGE))
    offset = StrictInteger(load_default=0, validate=validate.Range(min=0, max=MAX_OFFSET))


# ---- RPC arguments -----------------------------------------------------------------------


class ConnectsBalanceSchema(BaseSchema):
    """``connects_balance``: the caller's wallet; an operator or auditor may name one."""

    freelancer_id = Id(load_default=None, allow_none=True)


class PurchaseConnectsSchema(BaseSchema):
    """``purchase_connects``: buy one bundle on sale (its size in connects)."""

    bundle = StrictInteger(required=True, validate=validate.Range(min=1, max=1000))
    idempotency_key = idempotency_key_field()


class QuoteProposalSchema(BaseSchema):
    """``quote_proposal`` (extra): the connects a proposal would cost, and for a bid the
    fee and net amount, before submitting."""

    job_id = Id(required=True)
    bid = MoneyField(positive=True, load_default=None, allow_none=True)
    boost = StrictInteger(load_default=0, validate=validate.Range(min=0, max=1000))


class MilestoneSchema(BaseSchema):
    title = Text(200, min_length=1, required=True)
    amount = MoneyField(positive=True, required=True)
    due_date = fields.Date(load_default=None, allow_none=True)


class AnswerSchema(BaseSchema):
    question_id = Id(required=True)
    answer = Text(5000, min_length=1, required=True)


class AttachmentSchema(BaseSchema):
    """A file already uploaded to the blob store, referenced by id."""

    attachment_id = Id(required=True)
    filename = Text(255, min_length=1, required=True)
    size_bytes = StrictInteger(
        required=True, validate=validate.Range(min=1, max=MAX_ATTACHMENT_BYTES)
    )
    content_type = Text(100, min_length=1, required=True)


class SubmitProposalSchema(BaseSchema):
    """``submit_proposal``: the bid is the total for a fixed job, the hourly rate for an
    hourly one; milestones (fixed only) must add up to the bid."""

    job_id = Id(required=True)
    cover_letter = Text(5000, min_length=1, required=True)
    bid = MoneyField(positive=True, required=True)
    milestones = fields.List(
        fields.Nested(MilestoneSchema), load_default=list, validate=validate.Length(max=20)
    )
    estimated_duration = fields.String(required=True, validate=validate.OneOf(ESTIMATED_DURATIONS))
    answers = fields.List(
        fields.Nested(AnswerSchema),
        load_default=list,
        validate=validate.Length(max=MAX_SCREENING_QUESTIONS),
    )
    attachments = fields.List(
        fields.Nested(AttachmentSchema), load_default=list, validate=validate.Length(max=10)
    )
    boost = StrictInteger(load_default=0, validate=validate.Range(min=0, max=1000))
    idempotency_key = idempotency_key_field()

    @validates_schema
    def _unique_attachments(self, data, **kwargs):
        ids = [a["attachment_id"] for a in data.get("attachments", [])]
        if len(ids) != len(set(ids)):
            raise MarshmallowValidationError("An attachment is listed twice.", "attachments")


class WithdrawProposalSchema(BaseSchema):
    proposal_id = Id(required=True)
    reason = fields.String(required=True, validate=validate.OneOf(WITHDRAW_REASONS))
    message = Text(1000, load_default="")
    idempotency_key = idempotency_key_field()


class ListProposalsSchema(_PageSchema):
    """``list_proposals``: the client's view of one job's proposals."""

    job_id = Id(required=True)
    order = fields.String(load_default="newest", validate=validate.OneOf(PROPOSAL_ORDERS))
    folder = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(FOLDERS))


class MyProposalsSchema(_PageSchema):
    """``my_proposals``: the freelancer's own proposals, newest first."""

    status = fields.String(
        load_default=None, allow_none=True, validate=validate.OneOf(PROPOSAL_STATUSES)
    )
    job_id = Id(load_default=None, allow_none=True)


class ProposalRefSchema(BaseSchema):
    """``shortlist_proposal``, ``archive_proposal``, ``message_proposal`` (extra)."""

    proposal_id = Id(required=True)
    idempotency_key = idempotency_key_field()


class GetProposalSchema(BaseSchema):
    """``get_proposal`` (extra): one proposal, for its author or the job's client."""

    proposal_id = Id(required=True)


class DeclineProposalSchema(BaseSchema):
    proposal_id = Id(required=True)
    reason = fields.String(required=True, validate=validate.OneOf(DECLINE_REASONS))
    message = Text(1000, load_default="")
    idempotency_key = idempotency_key_field()


class SendOfferSchema(BaseSchema):
    """``send_offer``: from ``proposal_id``, or directly to an invited ``freelancer_id``.

    Fixed: ``milestones`` (title, amount, due_date). Hourly: ``hourly_rate``,
    ``weekly_limit_hours``, ``manual_time_allowed``. Both: ``start_date``.
    """

    job_id = Id(required=True)
    proposal_id = Id(load_default=None, allow_none=True)
    freelancer_id = Id(load_default=None, allow_none=True)
    kind = fields.String(required=True, validate=validate.OneOf(("fixed", "hourly")))
    title = Text(200, load_default=None, allow_none=True)
    milestones = fields.List(
        fields.Nested(MilestoneSchema), load_default=list, validate=validate.Length(max=20)
    )
    hourly_rate = MoneyField(positive=True, load_default=None, allow_none=True)
    weekly_limit_hours = StrictInteger(
        load_default=None, allow_none=True, validate=validate.Range(min=1, max=168)
    )
    manual_time_allowed = fields.Boolean(load_default=None, allow_none=True)
    start_date = fields.Date(required=True)
    message = Text(5000, load_default="")
    idempotency_key = idempotency_key_field()

    @validates_schema
    def _someone(self, data, **kwargs):
        if not data.get("proposal_id") and not data.get("freelancer_id"):
            raise MarshmallowValidationError(
                "Give the proposal to hire from, or an invited freelancer.", "proposal_id"
            )


class WithdrawOfferSchema(BaseSchema):
    offer_id = Id(required=True)
    reason = Text(1000, load_default="")
    idempotency_key = idempotency_key_field()


class AcceptOfferSchema(BaseSchema):
    offer_id = Id(required=True)
    idempotency_key = idempotency_key_field()


class DeclineOfferSchema(BaseSchema):
    offer_id = Id(required=True)
    reason = fields.String(required=True, validate=validate.OneOf(OFFER_DECLINE_REASONS))
    message = Text(1000, load_default="")
    idempotency_key = idempotency_key_field()


class GetOfferSchema(BaseSchema):
    """``get_offer`` (extra): one offer, for its client or its freelancer."""

    offer_id = Id(required=True)


class ListOffersSchema(_PageSchema):
    """``list_offers`` (extra): offers the caller sent or received."""

    status = fields.String(
        load_default=None, allow_none=True, validate=validate.OneOf(OFFER_STATUSES)
    )
    job_id = Id(load_default=None, allow_none=True)


# RPC method -> its argument schema, for the service layer and the API documentation.
RPC_SCHEMAS: dict[str, type[BaseSchema]] = {
    "connects_balance": ConnectsBalanceSchema,
    "purchase_connects": PurchaseConnectsSchema,
    "quote_proposal": QuoteProposalSchema,
    "submit_proposal": SubmitProposalSchema,
    "withdraw_proposal": WithdrawProposalSchema,
    "get_proposal": GetProposalSchema,
    "list_proposals": ListProposalsSchema,
    "my_proposals": MyProposalsSchema,
    "shortlist_proposal": ProposalRefSchema,
    "archive_proposal": ProposalRefSchema,
    "decline_proposal": DeclineProposalSchema,
    "message_proposal": ProposalRefSchema,
    "send_offer": SendOfferSchema,
    "withdraw_offer": WithdrawOfferSchema,
    "accept_offer": AcceptOfferSchema,
    "decline_offer": DeclineOfferSchema,
    "get_offer": GetOfferSchema,
    "list_offers": ListOffersSchema,
}


# ---- consumed events ---------------------------------------------------------------------


class BudgetSchema(BaseSchema):
    """A job's budget: a fixed amount, or an hourly range (either end may be open)."""

    kind = fields.String(required=True, validate=validate.OneOf(("fixed", "hourly")))
    amount = MoneyField(positive=True, load_default=None, allow_none=True)
    min_rate = MoneyField(positive=True, load_default=None, allow_none=True)
    max_rate = MoneyField(positive=True, load_default=None, allow_none=True)

    @validates_schema
    def _consistent(self, data, **kwargs):
        if data["kind"] == "fixed":
            if data.get("min_rate") or data.get("max_rate"):
                raise MarshmallowValidationError("A fixed budget has no hourly rates.", "kind")
            return
        if data.get("amount"):
            raise MarshmallowValidationError("An hourly budget has no fixed amount.", "amount")
        low, high = data.get("min_rate"), data.get("max_rate")
        if low and high:
            if low.currency != high.currency:
                raise MarshmallowValidationError("Rates must share a currency.", "max_rate")
            if low.amount > high.amount:
                raise MarshmallowValidationError("max_rate is below min_rate.", "max_rate")


class ScreeningQuestionSchema(BaseSchema):
    id = Id(required=True)
    text = Text(1000, min_length=1, required=True)


class _JobTermsSchema(BaseSchema):
    """What jobs' events say about a job that bidding needs."""

    job_id = Id(required=True)
    client_id = Id(required=True)
    title = Text(200, min_length=1, required=True)
    visibility = fields.String(required=True, validate=validate.OneOf(VISIBILITIES))
    budget = fields.Nested(BudgetSchema, required=True)
    screening_questions = fields.List(
        fields.Nested(ScreeningQuestionSchema),
        load_default=list,
        validate=validate.Length(max=MAX_SCREENING_QUESTIONS),
    )

    @validates_schema
    def _unique_questions(self, data, **kwargs):
        ids = [q["id"] for q in data.get("screening_questions", [])]
        if len(ids) != len(set(ids)):
            raise MarshmallowValidationError("Question ids repeat.", "screening_questions")


class JobPublishedEvent(_JobTermsSchema):
    """jobs' ``JobPublished``: the job opens for proposals."""

    invited_freelancer_ids = fields.List(
        Id(), load_default=list, validate=validate.Length(max=MAX_INVITED)
    )
    published_at = fields.AwareDateTime(required=True)


class JobUpdatedEvent(_JobTermsSchema):
    """jobs' ``JobUpdated`` on an open job: the terms freelancers bid against changed."""

    updated_at = fields.AwareDateTime(required=True)


class FreelancerInvitedEvent(BaseSchema):
    """jobs' ``FreelancerInvited``: the freelancer may see an invite-only job and bids on it
    without paying connects."""

    job_id = Id(required=True)
    client_id = Id(required=True)
    freelancer_id = Id(required=True)
    invited_at = fields.AwareDateTime(required=True)


class JobClosedEvent(BaseSchema):
    """jobs' ``JobClosed``, with the outcome that decides refunds."""

    job_id = Id(required=True)
    outcome = fields.String(required=True, validate=validate.OneOf(CLOSE_OUTCOMES))
    closed_at = fields.AwareDateTime(required=True)


class UserSuspendedEvent(BaseSchema):
    """identity's ``UserSuspended``: the user may no longer bid, offer or accept."""

    user_id = Id(required=True)
    reason = Text(1000, load_default="")
    suspended_at = fields.AwareDateTime(required=True)


class UserReinstatedEvent(BaseSchema):
    """identity's ``UserReinstated``: the suspension is lifted."""

    user_id = Id(required=True)
    reinstated_at = fields.AwareDateTime(required=True)


# Consumed event type -> its schema.
CONSUMED_EVENT_SCHEMAS: dict[str, type[BaseSchema]] = {
    "JobPublished": JobPublishedEvent,
    "JobUpdated": JobUpdatedEvent,
    "FreelancerInvited": FreelancerInvitedEvent,
    "JobClosed": JobClosedEvent,
    "UserSuspended": UserSuspendedEvent,
    "UserReinstated": UserReinstatedEvent,
}


# ---- jobs' events, exactly as the jobs service records them ------------------------------
# (services/jobs/README.md and domain.py; the policies translate them into the listing's
# terms above: budget ``type`` -> ``kind``, ``signed_in`` -> public, questions get ids.)


class JobsMoneySchema(BaseSchema):
    amount = StrictInteger(required=True, validate=validate.Range(min=1, max=1_000_000_000))
    currency = Text(3, min_length=3, required=True)


class JobsBudgetSchema(BaseSchema):
    """``{"type": "fixed", "amount"}`` or ``{"type": "hourly", "min", "max"}``."""

    type = fields.String(required=True, validate=validate.OneOf(("fixed", "hourly")))
    amount = fields.Nested(JobsMoneySchema)
    min = fields.Nested(JobsMoneySchema)
    max = fields.Nested(JobsMoneySchema)

    @validates_schema
    def _shape(self, data, **kwargs):
        wanted = {"type", "amount"} if data["type"] == "fixed" else {"type", "min", "max"}
        if set(data) != wanted:
            raise MarshmallowValidationError(f"Expected exactly {sorted(wanted)}.", "type")


class JobsAttachmentSchema(BaseSchema):
    file_id = Id(required=True)
    name = Text(255, required=True)


class JobDetailsSchema(BaseSchema):
    """jobs' ``details`` snapshot (``DETAIL_FIELDS``)."""

    title = Text(200, min_length=1, required=True)
    description = Text(20_000, required=True)
    category = Text(100, required=True)
    subcategory = Text(100, required=True)
    skills = fields.List(Text(100), required=True, validate=validate.Length(max=15))
    experience_level = Text(50, required=True)
    project_length = Text(50, required=True)
    hours_per_week = Text(50, required=True, allow_none=True)
    budget = fields.Nested(JobsBudgetSchema, required=True)
    visibility = fields.String(
        required=True, validate=validate.OneOf(("public", "signed_in", "invite_only"))
    )
    screening_questions = fields.List(
        Text(1000, min_length=1), required=True, validate=validate.Length(max=10)
    )
    attachments = fields.List(
        fields.Nested(JobsAttachmentSchema), required=True, validate=validate.Length(max=10)
    )
    contract_to_hire = fields.Boolean(required=True)


class _JobEventSchema(BaseSchema):
    job_id = Id(required=True)
    client_id = Id(required=True)


class JobsJobPublished(_JobEventSchema):
    details = fields.Nested(JobDetailsSchema, required=True)
    published_at = fields.AwareDateTime(required=True)
    expires_at = fields.AwareDateTime(required=True)
    expiry_warning_at = fields.AwareDateTime(required=True)
    expire_after_seconds = StrictInteger(required=True)
    warn_before_seconds = StrictInteger(required=True)


class JobsJobUpdated(_JobEventSchema):
    changes = fields.Nested(JobDetailsSchema(partial=True), required=True)
    previous = fields.Nested(JobDetailsSchema(partial=True), required=True)
    updated_by = Id(required=True)
    updated_at = fields.AwareDateTime(required=True)
    expires_at = fields.AwareDateTime(required=True, allow_none=True)
    expiry_warning_at = fields.AwareDateTime(required=True, allow_none=True)


class JobsFreelancerInvited(_JobEventSchema):
    freelancer_id = Id(required=True)
    message = Text(2000, required=True, allow_none=True)
    invited_by = Id(required=True)
    invited_at = fields.AwareDateTime(required=True)
    expires_at = fields.AwareDateTime(required=True)
    expiry_warning_at = fields.AwareDateTime(required=True)


class JobsJobClosed(_JobEventSchema):
    reason = fields.String(required=True, validate=validate.OneOf(("no_hire", "cancelled")))
    note = Text(1000, required=True, allow_none=True)
    closed_by = Id(required=True)
    closed_at = fields.AwareDateTime(required=True)


class JobsJobExpired(_JobEventSchema):
    expires_at = fields.AwareDateTime(required=True)
    expired_at = fields.AwareDateTime(required=True)
    last_activity_at = fields.AwareDateTime(required=True)


class JobsJobFilled(_JobEventSchema):
    contract_id = Id(required=True)
    freelancer_id = Id(required=True)
    filled_at = fields.AwareDateTime(required=True)
    previous_status = Text(20, required=True)
    previous_reason = Text(20, required=True, allow_none=True)
