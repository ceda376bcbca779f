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
# A contract's end reason as escrow names it: a short lowercase word or two; reputation
# gives "inactivity" its meaning (long inactivity) and stores the others as they come.
END_REASON = validate.Regexp(r"^[a-z][a-z_]{0,39}$", error="Must be a short lowercase reason.")


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


class ContractStartedSchema(BaseSchema):
    """escrow ``ContractStarted``."""

    contract_id = Id(required=True)
    client_id = Id(required=True)
    freelancer_id = Id(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(CONTRACT_KINDS))
    started_at = Timestamp(required=True)
    job_id = Id(load_default=None, allow_none=True)
    offer_id = Id(load_default=None, allow_none=True)

    @validates_schema
    def _two_parties(self, data, **kwargs):
        if data.get("client_id") == data.get("freelancer_id"):
            raise MarshmallowValidationError("Must not be the client.", "freelancer_id")


class ContractEndedSchema(BaseSchema):
    """escrow ``ContractEnded``."""

    contract_id = Id(required=True)
    ended_at = Timestamp(required=True)
    reason = fields.String(required=True, validate=END_REASON)
    client_id = Id(load_default=None)
    freelancer_id = Id(load_default=None)
    kind = fields.String(load_default=None, validate=validate.OneOf(CONTRACT_KINDS))
    ended_by = Id(load_default=None, allow_none=True)


class PaymentReleasedSchema(BaseSchema):
    """escrow ``PaymentReleased``: gross money released to the freelancer on a contract
    (a milestone, an hourly week or a bonus; a dispute's released part too)."""

    contract_id = Id(required=True)
    amount = MoneyField(positive=True, required=True)
    released_at = Timestamp(required=True)
    source = fields.String(
        load_default=None, validate=validate.OneOf(("milestone", "hourly", "bonus", "dispute"))
    )
    milestone_id = Id(load_default=None, allow_none=True)
    week_start = fields.Date(load_default=None, allow_none=True)
    net = MoneyField(non_negative=True, load_default=None)
    fee = MoneyField(non_negative=True, load_default=None)


class RefundIssuedSchema(BaseSchema):
    """escrow ``RefundIssued``: money returned to the client from a contract's escrow."""

    contract_id = Id(required=True)
    amount = MoneyField(positive=True, required=True)
    refunded_at = Timestamp(required=True)
    milestone_id = Id(load_default=None, allow_none=True)
    reason = Text(MAX_REASON, load_default=None, allow_none=True)


class DisputeResolvedSchema(BaseSchema):
    """escrow ``DisputeResolved``: an operator's split between the two sides."""

    contract_id = Id(required=True)
    dispute_id = Id(required=True)
    released = MoneyField(non_negative=True, required=True)
    refunded = MoneyField(non_negative=True, required=True)
    resolved_at = Timestamp(required=True)
    resolved_by = Id(load_default=None, allow_none=True)
    milestone_id = Id(load_default=None, allow_none=True)

    @validates_schema
    def _one_currency(self, data, **kwargs):
        released, refunded = data.get("released"), data.get("refunded")
        if released is not None and refunded is not None:
            if released.currency != refunded.currency:
                raise MarshmallowValidationError("Must be in the released currency.", "refunded")


class UserRegisteredSchema(BaseSchema):
    """identity ``UserRegistered``."""

    user_id = Id(required=True)
    roles = fields.List(
        fields.String(validate=validate.OneOf(ROLES)),
        required=True,
        validate=validate.Length(min=1, max=len(ROLES)),
    )
    registered_at = Timestamp(required=True)


class UserSuspendedSchema(BaseSchema):
    """identity ``UserSuspended``."""

    user_id = Id(required=True)
    reason = Text(MAX_REASON, required=True)
    suspended_at = Timestamp(required=True)
    suspended_by = Id(load_default=None, allow_none=True)


class UserReinstatedSchema(BaseSchema):
    """identity ``UserReinstated``."""

    user_id = Id(required=True)
    reinstated_at = Timestamp(required=True)
    reinstated_by = Id(load_default=None, allow_none=True)


class PaymentMethodVerifiedSchema(BaseSchema):
    """identity ``PaymentMethodVerified``."""

    user_id = Id(required=True)
    verified_at = Timestamp(required=True)


class JobPublishedSchema(BaseSchema):
    """jobs ``JobPublished``: counts toward a client's jobs posted and hire rate."""

    job_id = Id(required=True)
    client_id = Id(required=True)
    published_at = Timestamp(required=True)


CONSUMED_EVENT_SCHEMAS = {
    ("escrow", "ContractStarted"): ContractStartedSchema,
    ("escrow", "ContractEnded"): ContractEndedSchema,
    ("escrow", "PaymentReleased"): PaymentReleasedSchema,
    ("escrow", "RefundIssued"): RefundIssuedSchema,
    ("escrow", "DisputeResolved"): DisputeResolvedSchema,
    ("identity", "UserRegistered"): UserRegisteredSchema,
    ("identity", "UserSuspended"): UserSuspendedSchema,
    ("identity", "UserReinstated"): UserReinstatedSchema,
    ("identity", "PaymentMethodVerified"): PaymentMethodVerifiedSchema,
    ("jobs", "JobPublished"): JobPublishedSchema,
}
