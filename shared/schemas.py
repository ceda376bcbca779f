"""Marshmallow bases shared by every service boundary.

Every RPC argument set and every consumed event passes one of these: unknown fields are
rejected, sizes and ranges are bounded, and failures become ``shared.errors.ValidationError``
with one list of messages per field.
"""

from __future__ import annotations

from typing import Any

from marshmallow import RAISE, Schema, fields, pre_load, validate
from marshmallow import ValidationError as MarshmallowValidationError

from shared.errors import ValidationError
from shared.money import CURRENCIES, Money

# One amount may not exceed this many minor units (10 million in a 2-digit currency).
MAX_AMOUNT = 1_000_000_000
MAX_ID_LEN = 64


class BaseSchema(Schema):
    """Unknown fields are refused, and so is text PostgreSQL cannot store anywhere in the
    input (NUL characters, lone surrogates), which would otherwise fail deep inside a
    command as a database error rather than a ValidationError naming the field."""

    class Meta:
        unknown = RAISE

    @pre_load
    def refuse_unstorable_text(self, data, **kwargs):
        if isinstance(data, dict):
            bad = sorted(
                k if isinstance(k, str) and not unstorable(k) else repr(k)
                for k, v in data.items()
                if unstorable(k) or unstorable(v)
            )
            if bad:
                raise MarshmallowValidationError(
                    {name: ["Must not contain NUL characters or lone surrogates."] for name in bad}
                )
        return data


def unstorable(value: Any) -> bool:
    """True if ``value`` holds a string PostgreSQL text cannot store, at any depth."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item or (not item.isascii() and not _utf8(item)):
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
    return False


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class StrictInteger(fields.Integer):
    """An integer that refuses floats, strings and booleans."""

    def __init__(self, **kwargs):
        super().__init__(strict=True, **kwargs)

    def _validated(self, value):
        if isinstance(value, bool):
            raise self.make_error("invalid")
        return super()._validated(value)


class MoneySchema(BaseSchema):
    amount = StrictInteger(required=True, validate=validate.Range(min=-MAX_AMOUNT, max=MAX_AMOUNT))
    currency = fields.String(required=True, validate=validate.OneOf(sorted(CURRENCIES)))


class MoneyField(fields.Nested):
    """``{"amount": int minor units, "currency": "USD"}``, loaded as ``Money``.

    ``positive=True`` refuses zero and negative amounts, ``non_negative=True`` refuses
    negative ones.
    """

    def __init__(self, positive: bool = False, non_negative: bool = False, **kwargs):
        super().__init__(MoneySchema, **kwargs)
        self.positive = positive
        self.non_negative = non_negative

    def _deserialize(self, value, attr, data, **kwargs):
        loaded = super()._deserialize(value, attr, data, **kwargs)
        money = Money(loaded["amount"], loaded["currency"])
        if self.positive and money.amount <= 0:
            raise MarshmallowValidationError("Must be a positive amount.")
        if self.non_negative and money.amount < 0:
            raise MarshmallowValidationError("Must not be negative.")
        return money

    def _serialize(self, value, attr, obj, **kwargs):
        if value is None:
            return None
        if isinstance(value, Money):
            return value.to_dict()
        return dict(value)


def Id(**kwargs) -> fields.String:  # noqa: N802 - reads like a field type
    """An opaque identifier (UUID or key), bounded in length."""
    return fields.String(validate=validate.Length(min=1, max=MAX_ID_LEN), **kwargs)


def Text(max_length: int, min_length: int = 0, **kwargs) -> fields.String:  # noqa: N802
    return fields.String(validate=validate.Length(min=min_length, max=max_length), **kwargs)


def idempotency_key_field() -> fields.String:
    return fields.String(
        load_default=None, allow_none=True, validate=validate.Length(min=1, max=128)
    )


def load(schema: Schema, data: Any) -> dict:
    """Validate ``data`` with ``schema`` or raise a typed ValidationError naming the fields."""
    if not isinstance(data, dict):
        raise ValidationError("invalid input", {"_schema": ["Expected an object."]})
    try:
        return schema.load(data)
    except MarshmallowValidationError as exc:
        raise ValidationError("invalid input", _flatten(exc.messages)) from None


def _flatten(messages: Any) -> dict:
    if isinstance(messages, dict):
        return {str(k): v for k, v in messages.items()}
    return {"_schema": messages if isinstance(messages, list) else [str(messages)]}
