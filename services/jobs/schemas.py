"""Input schemas of the jobs service: every RPC method and every event it consumes.

Shape and size are checked here (unknown fields rejected, every string and list bounded,
every number ranged); rules that need state or identity's skill list are checked by the
domain. Load with ``shared.schemas.load(Schema(), data)`` to get a typed ValidationError.
"""

from __future__ import annotations

import re
from datetime import UTC

from marshmallow import ValidationError as MarshmallowValidationError
from marshmallow import fields, validate, validates_schema

from services.jobs.domain import (
    BUDGET_TYPES,
    CLOSE_REASONS,
    DESCRIPTION_LENGTH,
    EXPERIENCE_LEVELS,
    HOURS_PER_WEEK,
    MAX_ATTACHMENTS,
    MAX_INVITATION_MESSAGE,
    MAX_NOTE,
    MAX_SCREENING_QUESTIONS,
    MAX_SEARCH_NAME,
    MAX_SKILLS,
    PROJECT_LENGTHS,
    SCREENING_QUESTION_LENGTH,
    TITLE_LENGTH,
    VISIBILITIES,
)
from shared.schemas import BaseSchema, Id, MoneyField, StrictInteger, Text, idempotency_key_field

MAX_SKILL_NAME = 64
MAX_KEYWORDS = 200
MAX_CURSOR = 1024
MAX_PAGE = 50
# escrow composes payment ids from other ids: ``week:<contract id>:<ISO week start>`` is
# 67 characters, beyond the 64 of a plain ``Id``.
MAX_PAYMENT_ID = 200
MAX_RATING_CENTI = 500  # five stars, in hundredths of a star so that no float is needed

# Proposal-count bands and client-history bands a search may filter on: name -> (low, high),
# both inclusive, high None for "and above".
PROPOSAL_BANDS = {
    "less_than_5": (0, 4),
    "5_to_10": (5, 10),
    "10_to_15": (10, 15),
    "15_to_20": (15, 20),
    "20_to_50": (20, 50),
    "50_plus": (50, None),
}
CLIENT_HISTORY_BANDS = {"no_hires": (0, 0), "1_to_9_hires": (1, 9), "10_plus_hires": (10, None)}
SORTS = ("relevance", "newest")

# What keywords may contain: letters and digits of any script, spaces, and the few marks
# that mean something in a skill or a phrase (C++, C#, node.js, "exact phrase", -exclude).
# Anything else (;, =, *, \, control characters) has no meaning to a text search, so it is
# refused with a clear message rather than silently ignored.
KEYWORDS_PATTERN = re.compile(r"^[\w\s+#.\-'\"/&]*$")
KEYWORDS_MESSAGE = "Keywords may contain letters, digits, spaces and + # . - _ ' \" / & only."


def _one_of(choices, **kwargs) -> fields.String:
    return fields.String(validate=validate.OneOf(choices), **kwargs)


def _choices(choices, **kwargs) -> fields.List:
    """A list of distinct values from ``choices``."""
    return fields.List(
        _one_of(choices),
        validate=[validate.Length(max=len(choices)), _distinct],
        **kwargs,
    )


def _distinct(values) -> None:
    if len(set(values)) != len(values):
        raise MarshmallowValidationError("Values must not repeat.")


def _time(**kwargs) -> fields.AwareDateTime:
    # Naive timestamps are taken as UTC, like shared.clock.parse_time.
    return fields.AwareDateTime(default_timezone=UTC, **kwargs)


# --- job details ------------------------------------------------------------------------


class BudgetSchema(BaseSchema):
    """``{"type": "fixed", "amount"}`` or ``{"type": "hourly", "min", "max"}``."""

    type = _one_of(BUDGET_TYPES, required=True)
    amount = MoneyField(positive=True)
    min = MoneyField(positive=True)
    max = MoneyField(positive=True)

    @validates_schema
    def check_shape(self, data, **kwargs):
        if data.get("type") == "fixed":
            if "amount" not in data or "min" in data or "max" in data:
                raise MarshmallowValidationError("A fixed budget has an amount and no range.")
        elif data.get("type") == "hourly":
            if "amount" in data or "min" not in data or "max" not in data:
                raise MarshmallowValidationError("An hourly budget has a min and a max rate.")
            if data["min"].currency != data["max"].currency:
                raise MarshmallowValidationError("Min and max must be in the same currency.")
            if data["min"].amount > data["max"].amount:
                raise MarshmallowValidationError("The min rate is above the max rate.", "min")


class AttachmentSchema(BaseSchema):
    """A reference to a file already stored (messaging's attachment store)."""

    file_id = Id(required=True)
    name = Text(255, min_length=1, required=True)


class JobDetailsSchema(BaseSchema):
    """The fields of a job post. Loaded with ``partial=True`` for an update."""

    title = Text(TITLE_LENGTH[1], min_length=TITLE_LENGTH[0], required=True)
    description = Text(DESCRIPTION_LENGTH[1], min_length=DESCRIPTION_LENGTH[0], required=True)
    category = Text(64, min_length=1, required=True)
    subcategory = Text(64, min_length=1, required=True)
    skills = fields.List(
        Text(MAX_SKILL_NAME, min_length=1),
        required=True,
        validate=validate.Length(min=1, max=MAX_SKILLS),
    )
    experience_level = _one_of(EXPERIENCE_LEVELS, required=True)
    project_length = _one_of(PROJECT_LENGTHS, required=True)
    hours_per_week = _one_of(HOURS_PER_WEEK, allow_none=True, load_default=None)
    budget = fields.Nested(BudgetSchema, required=True)
    visibility = _one_of(VISIBILITIES, load_default="public")
    screening_questions = fields.List(
        Text(SCREENING_QUESTION_LENGTH[1], min_length=SCREENING_QUESTION_LENGTH[0]),
        load_default=list,
        validate=validate.Length(max=MAX_SCREENING_QUESTIONS),
    )
    attachments = fields.List(
        fields.Nested(AttachmentSchema),
        load_default=list,
        validate=validate.Length(max=MAX_ATTACHMENTS),
    )
    contract_to_hire = fields.Boolean(load_default=False)


# --- RPC arguments ----------------------------------------------------------------------


class CreateJobSchema(JobDetailsSchema):
    """``create_job``: a draft, published at once when ``publish`` is true."""

    publish = fields.Boolean(load_default=False)
    idempotency_key = idempotency_key_field()


class UpdateJobSchema(BaseSchema):
    """``update_job``: some of the job's fields; at least one."""

    job_id = Id(required=True)
    changes = fields.Nested(JobDetailsSchema(partial=True), required=True)
    idempotency_key = idempotency_key_field()

    @validates_schema
    def check_changes(self, data, **kwargs):
        if "changes" in data and not data["changes"]:
            raise MarshmallowValidationError("Give at least one field to change.", "changes")


class JobRefSchema(BaseSchema):
    """``get_job`` and ``job_history``: one job."""

    job_id = Id(required=True)


class PublishJobSchema(BaseSchema):
    """``publish_job``."""

    job_id = Id(required=True)
    idempotency_key = idempotency_key_field()


class CloseJobSchema(BaseSchema):
    """``close_job``: without a hire (``no_hire``) or withdrawn (``cancelled``)."""

    job_id = Id(required=True)
    reason = _one_of(CLOSE_REASONS, required=True)
    note = Text(MAX_NOTE, allow_none=True, load_default=None)
    idempotency_key = idempotency_key_field()


class InviteFreelancerSchema(BaseSchema):
    """``invite_freelancer``."""

    job_id = Id(required=True)
    freelancer_id = Id(required=True)
    message = Text(MAX_INVITATION_MESSAGE, allow_none=True, load_default=None)
    idempotency_key = idempotency_key_field()


class DeclineInvitationSchema(BaseSchema):
    """``decline_invitation`` (added): the invited freelancer says no."""

    job_id = Id(required=True)
    reason = Text(MAX_NOTE, allow_none=True, load_default=None)
    idempotency_key = idempotency_key_field()


class SearchFiltersSchema(BaseSchema):
    """What a job search asks for; also the ``query`` of a saved search."""

    keywords = fields.String(
        load_default=None,
        allow_none=True,
        validate=[
            validate.Length(max=MAX_KEYWORDS),
            validate.Regexp(KEYWORDS_PATTERN, error=KEYWORDS_MESSAGE),
        ],
    )
    category = Text(64, min_length=1, load_default=None, allow_none=True)
    subcategory = Text(64, min_length=1, load_default=None, allow_none=True)
    skills = fields.List(
        Text(MAX_SKILL_NAME, min_length=1),
        load_default=list,
        validate=[validate.Length(max=MAX_SKILLS), _distinct],
    )
    experience_levels = _choices(EXPERIENCE_LEVELS, load_default=list)
    job_type = _one_of(BUDGET_TYPES, load_default=None, allow_none=True)
    budget_min = MoneyField(non_negative=True, load_default=None, allow_none=True)
    budget_max = MoneyField(non_negative=True, load_default=None, allow_none=True)
    project_lengths = _choices(PROJECT_LENGTHS, load_default=list)
    hours_per_week = _choices(HOURS_PER_WEEK, load_default=list)
    proposal_bands = _choices(tuple(PROPOSAL_BANDS), load_default=list)
    client_history = _choices(tuple(CLIENT_HISTORY_BANDS), load_default=list)
    payment_verified = fields.Boolean(load_default=None, allow_none=True)
    contract_to_hire = fields.Boolean(load_default=None, allow_none=True)
    posted_since = _time(load_default=None, allow_none=True)

    @validates_schema
    def check_ranges(self, data, **kwargs):
        low, high = data.get("budget_min"), data.get("budget_max")
        if low is not None and high is not None:
            if low.currency != high.currency:
                raise MarshmallowValidationError("Same currency as budget_min.", "budget_max")
            if low.amount > high.amount:
                raise MarshmallowValidationError("budget_min is above budget_max.", "budget_min")
        if data.get("subcategory") and not data.get("category"):
            raise MarshmallowValidationError("Give the category too.", "category")


class SearchJobsSchema(SearchFiltersSchema):
    """``search_jobs``: filters, sort, page size and the cursor of the page before.

    ``sort`` defaults to ``relevance`` with keywords and ``newest`` without; relevance
    without keywords means nothing and is refused.
    """

    sort = _one_of(SORTS, load_default=None, allow_none=True)
    limit = StrictInteger(load_default=20, validate=validate.Range(min=1, max=MAX_PAGE))
    cursor = Text(MAX_CURSOR, min_length=1, load_default=None, allow_none=True)

    @validates_schema
    def check_sort(self, data, **kwargs):
        keywords = (data.get("keywords") or "").strip()
        if data.get("sort") == "relevance" and not keywords:
            raise MarshmallowValidationError("Sorting by relevance needs keywords.", "sort")


class RecommendJobsSchema(BaseSchema):
    """``recommend_jobs``: best matches for the calling freelancer."""

    limit = StrictInteger(load_default=10, validate=validate.Range(min=1, max=MAX_PAGE))


class SaveSearchSchema(BaseSchema):
    """``save_search``."""

    name = Text(MAX_SEARCH_NAME, min_length=1, required=True)
    query = fields.Nested(SearchFiltersSchema, required=True)
    idempotency_key = idempotency_key_field()


class ListSavedSearchesSchema(BaseSchema):
    """``list_saved_searches``: the caller's own; no arguments."""


class DeleteSavedSearchSchema(BaseSchema):
    """``delete_saved_search`` (added)."""

    search_id = Id(required=True)
    idempotency_key = idempotency_key_field()


class ListMyJobsSchema(BaseSchema):
    """``list_my_jobs`` (added): a client's own jobs, drafts included, newest first."""

    status = _one_of(("draft", "open", "closed"), load_default=None, allow_none=True)
    limit = StrictInteger(load_default=20, validate=validate.Range(min=1, max=MAX_PAGE))
    cursor = Text(MAX_CURSOR, min_length=1, load_default=None, allow_none=True)


class ListCategoriesSchema(BaseSchema):
    """``list_categories`` (added): the fixed taxonomy; no arguments."""


RPC_SCHEMAS: dict[str, type[BaseSchema]] = {
    "create_job": CreateJobSchema,
    "update_job": UpdateJobSchema,
    "publish_job": PublishJobSchema,
    "close_job": CloseJobSchema,
    "get_job": JobRefSchema,
    "search_jobs": SearchJobsSchema,
    "recommend_jobs": RecommendJobsSchema,
    "invite_freelancer": InviteFreelancerSchema,
    "save_search": SaveSearchSchema,
    "list_saved_searches": ListSavedSearchesSchema,
    # added beyond the design's table
    "job_history": JobRefSchema,
    "decline_invitation": DeclineInvitationSchema,
    "delete_saved_search": DeleteSavedSearchSchema,
    "list_my_jobs": ListMyJobsSchema,
    "list_categories": ListCategoriesSchema,
}


# --- consumed events --------------------------------------------------------------------
#
# Each schema lists exactly the fields the producer's event carries (see the producer's
# README.md and domain code), so that an event of another shape is parked, not half-read.
# Fields the jobs service does not use are accepted as any JSON value.


def _any(**kwargs) -> fields.Raw:
    return fields.Raw(required=True, allow_none=True, **kwargs)


class UserSuspendedSchema(BaseSchema):
    """identity ``UserSuspended``: the client's jobs leave search."""

    user_id = Id(required=True)
    reason = _any()
    by = _any()
    suspended_at = _time(required=True)


class UserReinstatedSchema(BaseSchema):
    """identity ``UserReinstated``: the client's open jobs come back to search."""

    user_id = Id(required=True)
    reason = _any()
    by = _any()
    reinstated_at = _time(required=True)


class PaymentMethodVerifiedSchema(BaseSchema):
    """identity ``PaymentMethodVerified``: the client's "payment verified" badge."""

    user_id = Id(required=True)
    provider_reference = _any()
    verified_at = _time(required=True)
    by = _any()


class FreelancerSectionSchema(BaseSchema):
    """The part of identity's public profile best matches reads; the rest passes through."""

    class Meta:
        unknown = "include"

    hourly_rate = MoneyField(positive=True, allow_none=True, load_default=None)
    skills = fields.List(Text(MAX_SKILL_NAME, min_length=1), load_default=list)


class ProfileSchema(BaseSchema):
    class Meta:
        unknown = "include"

    freelancer = fields.Nested(FreelancerSectionSchema, allow_none=True, load_default=None)


class ProfileUpdatedSchema(BaseSchema):
    """identity ``ProfileUpdated``: a freelancer's skills and rate, for best matches."""

    user_id = Id(required=True)
    profile = fields.Nested(ProfileSchema, required=True)
    changed = _any()
    updated_at = _time(required=True)
    by = _any()


class ListingProposalEnteredSchema(BaseSchema):
    """bidding ``ListingProposalEntered``: one more proposal on a job; activity."""

    job_id = Id(required=True)
    proposal_id = Id(required=True)
    freelancer_id = Id(required=True)
    boost = _any()
    spend_id = _any()
    invited = _any()
    entered_at = _time(required=True)


class ListingProposalWithdrawnSchema(BaseSchema):
    """bidding ``ListingProposalWithdrawn``: one proposal fewer."""

    job_id = Id(required=True)
    proposal_id = Id(required=True)
    freelancer_id = Id(required=True)
    withdrawn_at = _time(required=True)


class ContractOpenedSchema(BaseSchema):
    """escrow ``ContractOpened``: the job is filled, and the client has one more hire."""

    contract_id = Id(required=True)
    offer_id = _any()
    proposal_id = _any()
    job_id = Id(required=True, allow_none=True)
    client_id = Id(required=True)
    freelancer_id = Id(required=True)
    kind = _any()
    currency = _any()
    start_date = _any()
    fees = _any()
    hourly_rate = _any()
    weekly_limit_hours = _any()
    manual_time_allowed = _any()
    opened_at = _time(required=True)


class MilestoneReleasedSchema(BaseSchema):
    """escrow ``MilestoneReleased``: the client spent ``gross``."""

    contract_id = Id(required=True)
    client_id = Id(required=True)
    freelancer_id = _any()
    milestone_id = _any()
    payment_id = Text(MAX_PAYMENT_ID, min_length=1, required=True)
    gross = MoneyField(positive=True, required=True)
    net = _any()
    fee = _any()
    automatic = _any()
    released_at = _time(required=True)
    security_period_seconds = _any()
    available_at = _any()


class HourlyWeekReleasedSchema(BaseSchema):
    """escrow ``HourlyWeekReleased``: the client spent ``gross``."""

    contract_id = Id(required=True)
    client_id = Id(required=True)
    freelancer_id = _any()
    week_start = _any()
    payment_id = Text(MAX_PAYMENT_ID, min_length=1, required=True)
    gross = MoneyField(positive=True, required=True)
    net = _any()
    fee = _any()
    released_at = _time(required=True)
    available_at = _any()


class BonusPaidSchema(BaseSchema):
    """escrow ``BonusPaid``: the client spent ``amount``."""

    contract_id = Id(required=True)
    client_id = Id(required=True)
    freelancer_id = _any()
    bonus_id = _any()
    payment_id = Text(MAX_PAYMENT_ID, min_length=1, required=True)
    amount = MoneyField(positive=True, required=True)
    client_fee = _any()
    net = _any()
    fee = _any()
    reason = _any()
    paid_at = _time(required=True)
    security_period_seconds = _any()
    available_at = _any()


class DisputeResolvedSchema(BaseSchema):
    """escrow ``DisputeResolved``: the client spent the ``release`` part of the split."""

    contract_id = Id(required=True)
    client_id = Id(required=True)
    freelancer_id = _any()
    dispute_id = _any()
    target = _any()
    milestone_id = _any()
    week_start = _any()
    refund = _any()
    release = MoneyField(non_negative=True, required=True)
    net = _any()
    fee = _any()
    payment_id = _any()
    note = _any()
    resolved_by = _any()
    resolved_at = _time(required=True)
    security_period_seconds = _any()
    available_at = _any()


class ClientRatingUpdatedSchema(BaseSchema):
    """reputation ``ClientRatingUpdated``: the whole current rating a client has received
    (freelancers' revealed feedback), the average in hundredths of a star (null before any)."""

    client_id = Id(required=True)
    average_rating_centi = StrictInteger(
        required=True, allow_none=True, validate=validate.Range(min=100, max=500)
    )
    rating_count = StrictInteger(required=True, validate=validate.Range(min=0, max=10**9))
    updated_at = _time(required=True)

    @validates_schema
    def _average_with_ratings(self, data, **kwargs):
        if (data.get("average_rating_centi") is None) != (data.get("rating_count") == 0):
            raise MarshmallowValidationError(
                "Must be null exactly when there are no ratings.", "average_rating_centi"
            )


# (source service, event type) -> schema of its data.
CONSUMED_EVENT_SCHEMAS: dict[tuple[str, str], type[BaseSchema]] = {
    ("identity", "UserSuspended"): UserSuspendedSchema,
    ("identity", "UserReinstated"): UserReinstatedSchema,
    ("identity", "PaymentMethodVerified"): PaymentMethodVerifiedSchema,
    ("identity", "ProfileUpdated"): ProfileUpdatedSchema,
    ("bidding", "ListingProposalEntered"): ListingProposalEnteredSchema,
    ("bidding", "ListingProposalWithdrawn"): ListingProposalWithdrawnSchema,
    ("escrow", "ContractOpened"): ContractOpenedSchema,
    ("escrow", "MilestoneReleased"): MilestoneReleasedSchema,
    ("escrow", "HourlyWeekReleased"): HourlyWeekReleasedSchema,
    ("escrow", "BonusPaid"): BonusPaidSchema,
    ("escrow", "DisputeResolved"): DisputeResolvedSchema,
    ("reputation", "ClientRatingUpdated"): ClientRatingUpdatedSchema,
}
