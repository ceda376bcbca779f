from __future__ import annotations

import pytest
from marshmallow import fields

from shared.errors import ValidationError
from shared.money import Money
from shared.schemas import BaseSchema, MoneyField, StrictInteger, Text, load


class Bid(BaseSchema):
    amount = MoneyField(positive=True, required=True)
    note = Text(200)
    hours = StrictInteger()
    tags = fields.List(fields.String(), load_default=list)


def test_valid_input_loads_money_as_money():
    assert load(Bid(), {"amount": {"amount": 500, "currency": "USD"}})["amount"] == Money(
        500, "USD"
    )


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"amount": {"amount": 0, "currency": "USD"}}, "amount"),
        ({"amount": {"amount": -1, "currency": "USD"}}, "amount"),
        ({"amount": {"amount": 1.5, "currency": "USD"}}, "amount"),
        ({"amount": {"amount": 1, "currency": "ZZZ"}}, "amount"),
        ({"amount": {"amount": 10**12, "currency": "USD"}}, "amount"),
        ({"amount": {"amount": 1, "currency": "USD"}, "hours": True}, "hours"),
        ({"amount": {"amount": 1, "currency": "USD"}, "hours": "3"}, "hours"),
        ({"amount": {"amount": 1, "currency": "USD"}, "note": "x" * 201}, "note"),
        ({"amount": {"amount": 1, "currency": "USD"}, "sneaky": 1}, "sneaky"),
        ({}, "amount"),
    ],
)
def test_bad_input_names_the_field(data, field):
    with pytest.raises(ValidationError) as caught:
        load(Bid(), data)
    assert field in caught.value.fields


def test_a_non_object_is_refused():
    with pytest.raises(ValidationError) as caught:
        load(Bid(), ["not", "an", "object"])
    assert "_schema" in caught.value.fields


@pytest.mark.parametrize("text", ["nul\x00byte", "lone \ud800 surrogate"])
def test_text_postgres_cannot_store_is_refused_by_name(text):
    with pytest.raises(ValidationError) as caught:
        load(Bid(), {"amount": {"amount": 1, "currency": "USD"}, "note": text})
    assert caught.value.fields == {"note": ["Must not contain NUL characters or lone surrogates."]}
    with pytest.raises(ValidationError):
        load(Bid(), {"amount": {"amount": 1, "currency": "USD"}, "tags": ["ok", {"deep": [text]}]})
