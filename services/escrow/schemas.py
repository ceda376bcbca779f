"""Input schemas of escrow: every RPC method and every consumed event.

Each schema rejects unknown fields, bounds every size and range, and loads money as
``Money`` and times as aware UTC datetimes. Use ``shared.schemas.load(Schema(), data)``.
"""

from __future__ import annotations

from datetime import UTC

from marshmallow import ValidationError, fields, post_load, validate, validates_schema

from shared.money import CURRENCIES
from shared.schemas import (
    BaseSchema,
    Id,
    MoneyField,
    StrictInteger,
    Text,
    idempotency_key_field,
)

MAX_TITLE = 200
MAX_MESSAGE = 5000
MAX_REASON = 2000
MAX_MEMO = 500
MAX_MILESTONES = 50
MAX_PAGE = 200
MAX_REFERENCE = 128
CONTRACT_STATUSES = ("active", "paused", "ended")


class UtcDateTime(fields.AwareDateTime):
    """An ISO 8601 timestamp with an offset, loaded as UTC (naive values are refused)."""

    def __init__(self, **kwargs):
        super().__init__(format="iso", **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        return super()._deserialize(value, attr, data, **kwargs).astimezone(UTC)


def Currency(**kwargs) -> fields.String:  # noqa: N802 - reads like a field type
    return fields.String(validate=validate.OneOf(sorted(CURRENCIES)), **kwargs)


# -- wallets --------------------------------------------------------------------------------


class DepositSchema(BaseSchema):
    amount = MoneyField(required=True, positive=True)
    idempotency_key = idempotency_key_field()


class WalletSchema(BaseSchema):
    currency = Currency(load_default="USD")


class WithdrawSchema(BaseSchema):
    amount = MoneyField(required=True, positive=True)
    source = fields.String(
        load_default="freelancer_available",
        validate=validate.OneOf(["freelancer_available", "client_wallet"]),
    )
    idempotency_key = idempotency_key_field()


class ProviderNotificationSchema(BaseSchema):
    """A payment provider's asynchronous answer about a deposit or a withdrawal."""

    operation = fields.String(required=True, validate=validate.OneOf(["deposit", "withdrawal"]))
    operation_id = Id(required=True)
    user_id = Id(required=True)
    currency = Currency(required=True)
    status = fields.String(required=True, validate=validate.OneOf(["confirmed", "failed"]))
    provider_reference = Text(MAX_REFERENCE, min_length=1, required=True)
    amount = MoneyField(positive=True, load_default=None)
    reason = Text(MAX_REASON, load_default="")

    @validates_schema
    def _confirmed_deposit_has_amount(self, data, **kwargs):
        if data["operation"] == "deposit" and data["status"] == "confirmed":
            if data.get("amount") is None:
                raise ValidationError("a confirmed deposit names its amount", "amount")


# -- contracts ------------------------------------------------------------------------------


class GetContractSchema(BaseSchema):
    contract_id = Id(required=True)


class ListContractsSchema(BaseSchema):
    status = fields.String(load_default=None, validate=validate.OneOf(CONTRACT_STATUSES))
    role = fields.String(load_default=None, validate=validate.OneOf(["client", "freelancer"]))
    limit = StrictInteger(load_default=50, validate=validate.Range(min=1, max=MAX_PAGE))
    offset = StrictInteger(load_default=0, validate=validate.Range(min=0, max=100_000))


class PauseContractSchema(BaseSchema):
    contract_id = Id(required=True)
    reason = Text(MAX_REASON, load_default="")
    idempotency_key = idempotency_key_field()


class ResumeContractSchema(BaseSchema):
    contract_id = Id(required=True)
    idempotency_key = idempotency_key_field()


class EndContractSchema(BaseSchema):
    contract_id = Id(required=True)
    reason = Text(MAX_REASON, min_length=1, required=True)
    idempotency_key = idempotency_key_field()


# -- milestones -----------------------------------------------------------------------------


class AddMilestoneSchema(BaseSchema):
    contract_id = Id(required=True)
    title = Text(MAX_TITLE, min_length=1, required=True)
    amount = MoneyField(required=True, positive=True)
    due_date = fields.Date(load_default=None)
    idempotency_key = idempotency_key_field()


class MilestoneCommandSchema(BaseSchema):
    contract_id = Id(required=True)
    milestone_id = Id(required=True)
    idempotency_key = idempotency_key_field()


class FundMilestoneSchema(MilestoneCommandSchema):
    pass


class SubmitWorkSchema(MilestoneCommandSchema):
    message = Text(MAX_MESSAGE, load_default="")


class RequestChangesSchema(MilestoneCommandSchema):
    message = Text(MAX_MESSAGE, min_length=1, required=True)


class ApproveMilestoneSchema(MilestoneCommandSchema):
    amount = MoneyField(positive=True, load_default=None)


class RequestRefundSchema(MilestoneCommandSchema):
    amount = MoneyField(positive=True, load_default=None)
    reason = Text(MAX_REASON, load_default="")


class AcceptRefundSchema(BaseSchema):
    contract_id = Id(required=True)
    refund_id = Id(required=True)
    idempotency_key = idempotency_key_field()


# -- hourly ---------------------------------------------------------------------------------


class LogTimeSchema(BaseSchema):
    contract_id = Id(required=True)
    start = UtcDateTime(required=True)
    end = UtcDateTime(required=True)
    memo = Text(MAX_MEMO, load_default="")
    manual = fields.Boolean(load_default=True)
    idempotency_key = idempotency_key_field()

    @validates_schema
    def _ordered(self, data, **kwargs):
        if data["end"] <= data["start"]:
            raise ValidationError("must be after the start", "end")


class DeleteTimeSchema(BaseSchema):
    contract_id = Id(required=True)
    segment_id = Id(required=True)
    idempotency_key = idempotency_key_field()


class PayInvoiceSchema(BaseSchema):
    contract_id = Id(required=True)
    week_start = UtcDateTime(required=True)
    idempotency_key = idempotency_key_field()


class PayBonusSchema(BaseSchema):
    contract_id = Id(required=True)
    amount = MoneyField(required=True, positive=True)
    reason = Text(MAX_REASON, load_default="")
    idempotency_key = idempotency_key_field()


# -- disputes -------------------------------------------------------------------------------


class OpenDisputeSchema(BaseSchema):
    contract_id = Id(required=True)
    target_kind = fields.String(
        required=True, validate=validate.OneOf(["milestone", "refund", "week"])
    )
    target_id = Id(required=True)
    reason = Text(MAX_REASON, min_length=1, required=True)
    idempotency_key = idempotency_key_field()


class ResolveDisputeSchema(BaseSchema):
    contract_id = Id(required=True)
    dispute_id = Id(required=True)
    refund = MoneyField(required=True, non_negative=True)
    release = MoneyField(required=True, non_negative=True)
    note = Text(MAX_REASON, load_default="")
    idempotency_key = idempotency_key_field()

    @validates_schema
    def _same_currency(self, data, **kwargs):
        if data["refund"].currency != data["release"].currency:
            raise ValidationError("refund and release must be in one currency", "release")


class WithdrawDisputeSchema(BaseSchema):
    contract_id = Id(required=True)
    dispute_id = Id(required=True)
    idempotency_key = idempotency_key_field()


# -- ledger ---------------------------------------------------------------------------------


class LedgerSchema(BaseSchema):
    """``account`` is a full account name such as ``client_wallet:<user>``."""

    account = Text(200, min_length=1, required=True)
    currency = Currency(load_default="USD")
    as_of = UtcDateTime(load_default=None)
    limit = StrictInteger(load_default=100, validate=validate.Range(min=1, max=1000))
    after_position = StrictInteger(load_default=0, validate=validate.Range(min=0))


# -- consumed events ------------------------------------------------------------------------


class OfferMilestoneSchema(BaseSchema):
    title = Text(MAX_TITLE, min_length=1, required=True)
    amount = MoneyField(required=True, positive=True)
    due_date = fields.Date(load_default=None, allow_none=True)


class OfferTermsSchema(BaseSchema):
    milestones = fields.List(
        fields.Nested(OfferMilestoneSchema),
        load_default=None,
        allow_none=True,
        validate=validate.Length(min=1, max=MAX_MILESTONES),
    )
    hourly_rate = MoneyField(positive=True, load_default=None, allow_none=True)
    weekly_limit_hours = StrictInteger(
        load_default=None, allow_none=True, validate=validate.Range(min=1, max=168)
    )
    manual_time_allowed = fields.Boolean(load_default=False)
    start_date = fields.Date(load_default=None, allow_none=True)
    currency = Currency(load_default=None, allow_none=True)


class OfferAcceptedSchema(BaseSchema):
    """bidding's ``OfferAccepted`` event data.

    The currency may come at the top level or inside ``terms`` (or both, if equal); the
    loaded data always has it at the top level.
    """

    offer_id = Id(required=True)
    proposal_id = Id(load_default=None, allow_none=True)
    job_id = Id(required=True)
    client_id = Id(required=True)
    freelancer_id = Id(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(["fixed", "hourly"]))
    terms = fields.Nested(OfferTermsSchema, required=True)
    currency = Currency(load_default=None)

    @validates_schema
    def _terms_fit_kind(self, data, **kwargs):
        terms = data["terms"]
        currency = data.get("currency") or terms.get("currency")
        if currency is None:
            raise ValidationError("the offer names no currency", "currency")
        if terms.get("currency") not in (None, currency):
            raise ValidationError("terms and offer disagree on the currency", "currency")
        if data["kind"] == "fixed":
            if not terms.get("milestones"):
                raise ValidationError("a fixed-price offer needs milestones", "terms")
            if any(m["amount"].currency != currency for m in terms["milestones"]):
                raise ValidationError(f"milestone amounts must be in {currency}", "terms")
        else:
            if terms.get("hourly_rate") is None or terms.get("weekly_limit_hours") is None:
                raise ValidationError(
                    "an hourly offer needs hourly_rate and weekly_limit_hours", "terms"
                )
            if terms["hourly_rate"].currency != currency:
                raise ValidationError(f"the hourly rate must be in {currency}", "terms")

    @post_load
    def _currency_on_top(self, data, **kwargs):
        data["currency"] = data.get("currency") or data["terms"].pop("currency", None)
        data["terms"].pop("currency", None)
        return data


class SandboxSettlementSchema(BaseSchema):
    """``confirm_provider_payment``: the sandbox provider decides a deposit or withdrawal."""

    operation = fields.String(required=True, validate=validate.OneOf(["deposit", "withdrawal"]))
    operation_id = Id(required=True)
    status = fields.String(
        load_default="confirmed", validate=validate.OneOf(["confirmed", "failed"])
    )
    reason = Text(MAX_REASON, load_default="")
