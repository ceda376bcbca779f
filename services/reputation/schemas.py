"""Input schemas of the reputation service: every RPC method's arguments, and every event
it consumes from escrow, identity and jobs. Unknown fields are refused, every size and range
is bounded; ``shared.schemas.load`` turns failures into a ValidationError naming the fields.
"""

from __future__ import annotations

from datetime import UTC

from marshmallow import ValidationError as MarshmallowValidationError
from marshmallow import fields, validate, validates_schema

from services.reputation.domain import (
    ALL_CRITERIA,
    PRIVATE_END_REASONS,
    RATING_MAX,
    RATING_MIN,
    RECOMMEND_MAX,
    RECOMMEND_MIN,
)
from shared.schemas import BaseSchema, Id, MoneyField, StrictInteger, Text, idempotency_key_field

MAX_COMMENT = 2_000
MAX_REPLY = 1_000
MAX_REASON = 500
MAX_PAGE = 100
MAX_OFFSET = 10_000
ROLES = ("client", "freelancer", "operator", "auditor", "agency")
CONTRACT_KINDS = ("fixed", "hourly")
# Sizes of free text in the producers' events (escrow's and identity's own bounds).
MAX_PRODUCER_TEXT = 2_000
# escrow composes payment ids from other ids: ``week:<contract id>:<ISO week start>`` is
# 67 characters, beyond the 64 of a plain ``Id``.
MAX_PAYMENT_ID = 200


def Timestamp(**kwargs) -> fields.AwareDateTime:  # noqa: N802 - reads like a field type
    """An ISO 8601 timestamp with a time zone, loaded as an aware datetime."""
    return fields.AwareDateTime(format="iso", default_timezone=UTC, **kwargs)


def Rating(**kwargs) -> StrictInteger:  # noqa: N802
    return StrictInteger(validate=validate.Range(min=RATING_MIN, max=RATING_MAX), **kwargs)


# -- RPC methods ------------------------------------------------------------------------


class PrivateFeedbackSchema(BaseSchema):
    """Feedback to the platform only: never shown to the other side or the public."""

    end_reason = fields.String(required=True, validate=validate.OneOf(PRIVATE_END_REASONS))
    would_recommend = StrictInteger(
        required=True, validate=validate.Range(min=RECOMMEND_MIN, max=RECOMMEND_MAX)
    )


class LeaveFeedbackSchema(BaseSchema):
    """``leave_feedback``: the caller's feedback on the other party of an ended contract.
    Which criteria are required depends on the caller's side; the domain checks the set."""

    contract_id = Id(required=True)
    rating = Rating(required=True)
    criteria = fields.Dict(
        keys=fields.String(validate=validate.OneOf(ALL_CRITERIA)),
        values=Rating(),
        required=True,
        validate=validate.Length(min=1, max=len(ALL_CRITERIA)),
    )
    comment = Text(MAX_COMMENT, load_default="")
    private_feedback = fields.Nested(PrivateFeedbackSchema, required=True)
    idempotency_key = idempotency_key_field()


class ReplyToFeedbackSchema(BaseSchema):
    """``reply_to_feedback``: the reviewed party's one public reply."""

    contract_id = Id(required=True)
    text = Text(MAX_REPLY, min_length=1, required=True)
    idempotency_key = idempotency_key_field()


class GetFeedbackSchema(BaseSchema):
    """``get_feedback``: one contract's feedback as the caller may see it."""

    contract_id = Id(required=True)
    as_of = Timestamp(load_default=None)


class ListFeedbackSchema(BaseSchema):
    """``list_feedback``: the public feedback about a user, newest first."""

    user_id = Id(required=True)
    about_role = fields.String(
        load_default=None, allow_none=True, validate=validate.OneOf(("client", "freelancer"))
    )
    limit = StrictInteger(load_default=20, validate=validate.Range(min=1, max=MAX_PAGE))
    offset = StrictInteger(load_default=0, validate=validate.Range(min=0, max=MAX_OFFSET))
    as_of = Timestamp(load_default=None)


class GetScoreSchema(BaseSchema):
    """``get_score`` and ``explain_score``: a freelancer's score (and badge) at a moment."""

    freelancer_id = Id(required=True)
    as_of = Timestamp(load_default=None)


ExplainScoreSchema = GetScoreSchema


class ClientStatsSchema(BaseSchema):
    """``client_stats``: a client's stats at a moment."""

    client_id = Id(required=True)
    as_of = Timestamp(load_default=None)


RPC_SCHEMAS = {
    "leave_feedback": LeaveFeedbackSchema,
    "reply_to_feedback": ReplyToFeedbackSchema,
    "get_feedback": GetFeedbackSchema,
    "list_feedback": ListFeedbackSchema,
    "get_score": GetScoreSchema,
    "explain_score": ExplainScoreSchema,
    "client_stats": ClientStatsSchema,
}


# -- consumed events (the ``data`` of each; the event id comes from the envelope) ---------
#
# Each schema lists exactly the fields its producer records (escrow's, identity's and
# jobs' README.md and domain.py), so an event that gained or lost a field is parked rather
# than half-understood. Fields reputation does not use are still checked for shape.


def _nullable_id() -> fields.String:
    return Id(required=True, allow_none=True)


def _payment_id(**kwargs) -> fields.String:
    """escrow's payment id (``milestone:…``, ``week:…``, ``bonus:…``, ``dispute:…``)."""
    return Text(MAX_PAYMENT_ID, min_length=1, required=True, **kwargs)


def _seconds() -> StrictInteger:
    return StrictInteger(required=True, validate=validate.Range(min=0))


class _ContractEventSchema(BaseSchema):
    contract_id = Id(required=True)
    client_id = Id(required=True)
    freelancer_id = Id(required=True)


class ContractOpenedSchema(_ContractEventSchema):
    """escrow ``ContractOpened``: a hire became a contract."""

    offer_id = Id(required=True)
    proposal_id = _nullable_id()
    job_id = Id(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(CONTRACT_KINDS))
    currency = fields.String(required=True, validate=validate.Length(equal=3))
    start_date = fields.String(required=True, allow_none=True, validate=validate.Length(max=40))
    fees = fields.Dict(required=True)
    hourly_rate = MoneyField(required=True, allow_none=True, non_negative=True)
    weekly_limit_hours = StrictInteger(
        required=True, allow_none=True, validate=validate.Range(min=0, max=168)
    )
    manual_time_allowed = fields.Boolean(required=True)
    opened_at = Timestamp(required=True)

    @validates_schema
    def _two_parties(self, data, **kwargs):
        if data.get("client_id") == data.get("freelancer_id"):
            raise MarshmallowValidationError("Must not be the client.", "freelancer_id")


class MilestoneReleasedSchema(_ContractEventSchema):
    """escrow ``MilestoneReleased``: ``gross`` paid out of escrow to the freelancer."""

    milestone_id = Id(required=True)
    payment_id = _payment_id()
    gross = MoneyField(positive=True, required=True)
    net = MoneyField(non_negative=True, required=True)
    fee = MoneyField(non_negative=True, required=True)
    automatic = fields.Boolean(required=True)
    released_at = Timestamp(required=True)
    security_period_seconds = _seconds()
    available_at = Timestamp(required=True)


class HourlyWeekReleasedSchema(_ContractEventSchema):
    """escrow ``HourlyWeekReleased``: an hourly week's ``gross`` paid to the freelancer."""

    week_start = fields.String(required=True, validate=validate.Length(min=1, max=40))
    payment_id = _payment_id()
    gross = MoneyField(positive=True, required=True)
    net = MoneyField(non_negative=True, required=True)
    fee = MoneyField(non_negative=True, required=True)
    released_at = Timestamp(required=True)
    available_at = Timestamp(required=True)


class BonusPaidSchema(_ContractEventSchema):
    """escrow ``BonusPaid``: ``amount`` paid to the freelancer (net + fee)."""

    bonus_id = Id(required=True)
    payment_id = _payment_id()
    amount = MoneyField(positive=True, required=True)
    client_fee = MoneyField(non_negative=True, required=True)
    net = MoneyField(non_negative=True, required=True)
    fee = MoneyField(non_negative=True, required=True)
    reason = Text(MAX_PRODUCER_TEXT, required=True)
    paid_at = Timestamp(required=True)
    security_period_seconds = _seconds()
    available_at = Timestamp(required=True)


class EscrowRefundedSchema(_ContractEventSchema):
    """escrow ``EscrowRefunded``: money returned from the contract's escrow to the client."""

    refund_id = _nullable_id()
    milestone_id = Id(required=True)
    amount = MoneyField(positive=True, required=True)
    how = fields.String(
        required=True,
        validate=validate.OneOf(("accepted", "expired", "dispute_withdrawn", "freelancer_ended")),
    )
    refunded_at = Timestamp(required=True)
    resumes = fields.Dict(required=True, allow_none=True)


class DisputeResolvedSchema(_ContractEventSchema):
    """escrow ``DisputeResolved``: an operator's split; escrow moves both parts itself (no
    separate release or refund event follows), so reputation notes both from here."""

    dispute_id = Id(required=True)
    target = fields.Dict(required=True)
    milestone_id = _nullable_id()
    week_start = fields.String(required=True, allow_none=True, validate=validate.Length(max=40))
    refund = MoneyField(non_negative=True, required=True)
    release = MoneyField(non_negative=True, required=True)
    net = MoneyField(non_negative=True, required=True)
    fee = MoneyField(non_negative=True, required=True)
    payment_id = _payment_id(allow_none=True)
    note = Text(MAX_PRODUCER_TEXT, required=True, allow_none=True)
    resolved_by = Id(required=True)
    resolved_at = Timestamp(required=True)
    security_period_seconds = _seconds()
    available_at = Timestamp(required=True, allow_none=True)

    @validates_schema
    def _one_currency(self, data, **kwargs):
        release, refund = data.get("release"), data.get("refund")
        if release is not None and refund is not None and release.currency != refund.currency:
            raise MarshmallowValidationError("Must be in the released currency.", "refund")


class ContractEndedSchema(_ContractEventSchema):
    """escrow ``ContractEnded``: opens the feedback window."""

    job_id = Id(required=True)
    ended_by = Id(required=True)
    reason = Text(MAX_PRODUCER_TEXT, required=True)
    ended_at = Timestamp(required=True)


class UserRegisteredSchema(BaseSchema):
    """identity ``UserRegistered``."""

    user_id = Id(required=True)
    roles = fields.List(
        fields.String(validate=validate.OneOf(ROLES)),
        required=True,
        validate=validate.Length(min=1, max=len(ROLES)),
    )
    display_name = Text(200, required=True)
    registered_at = Timestamp(required=True)
    by = Id(required=True)


class UserSuspendedSchema(BaseSchema):
    """identity ``UserSuspended``."""

    user_id = Id(required=True)
    reason = Text(MAX_PRODUCER_TEXT, required=True)
    by = Id(required=True)
    suspended_at = Timestamp(required=True)


class UserReinstatedSchema(BaseSchema):
    """identity ``UserReinstated``."""

    user_id = Id(required=True)
    reason = Text(MAX_PRODUCER_TEXT, required=True)
    by = Id(required=True)
    reinstated_at = Timestamp(required=True)


class PaymentMethodVerifiedSchema(BaseSchema):
    """identity ``PaymentMethodVerified``."""

    user_id = Id(required=True)
    provider_reference = Text(200, required=True)
    verified_at = Timestamp(required=True)
    by = Id(required=True)


class JobPublishedSchema(BaseSchema):
    """jobs ``JobPublished``: counts toward a client's jobs posted and hire rate."""

    job_id = Id(required=True)
    client_id = Id(required=True)
    details = fields.Dict(required=True)
    published_at = Timestamp(required=True)
    expires_at = Timestamp(required=True)
    expiry_warning_at = Timestamp(required=True)
    expire_after_seconds = _seconds()
    warn_before_seconds = _seconds()


CONSUMED_EVENT_SCHEMAS = {
    ("escrow", "ContractOpened"): ContractOpenedSchema,
    ("escrow", "MilestoneReleased"): MilestoneReleasedSchema,
    ("escrow", "HourlyWeekReleased"): HourlyWeekReleasedSchema,
    ("escrow", "BonusPaid"): BonusPaidSchema,
    ("escrow", "EscrowRefunded"): EscrowRefundedSchema,
    ("escrow", "DisputeResolved"): DisputeResolvedSchema,
    ("escrow", "ContractEnded"): ContractEndedSchema,
    ("identity", "UserRegistered"): UserRegisteredSchema,
    ("identity", "UserSuspended"): UserSuspendedSchema,
    ("identity", "UserReinstated"): UserReinstatedSchema,
    ("identity", "PaymentMethodVerified"): PaymentMethodVerifiedSchema,
    ("jobs", "JobPublished"): JobPublishedSchema,
}
