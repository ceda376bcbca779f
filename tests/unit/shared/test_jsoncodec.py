"""shared.jsoncodec: orjson where it gives the standard library's answer, the standard
library (or kombu's codec) wherever it would not."""

from __future__ import annotations

import datetime
import decimal
import json
import uuid

import kombu.serialization
import pytest
from hypothesis import given
from hypothesis import strategies as st
from kombu.utils import json as kombu_json

import shared  # noqa: F401 - installs the codec
from shared import jsoncodec

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(), inner, max_size=5),
    max_leaves=25,
)


@given(json_values)
def test_reading_and_writing_agree_with_the_standard_library(value):
    text = json.dumps(value)
    assert jsoncodec.loads(text) == json.loads(text)
    assert jsoncodec.loads(text.encode()) == json.loads(text)
    assert json.loads(jsoncodec.dumps(value)) == json.loads(json.dumps(value))


def test_long_integers_keep_every_digit():
    big = 123456789012345678901234567890
    assert jsoncodec.loads(f'{{"n": {big}}}') == {"n": big}
    assert jsoncodec.loads(f"[{-big}]".encode()) == [-big]
    assert json.loads(jsoncodec.dumps({"n": big})) == {"n": big}


def test_values_psycopg_refused_are_still_refused():
    for value in (datetime.datetime(2026, 1, 1), decimal.Decimal("1.5"), b"raw"):
        with pytest.raises(TypeError):
            jsoncodec.dumps({"v": value})


def test_non_text_keys_become_text_as_json_dumps_makes_them():
    assert json.loads(jsoncodec.dumps({1: "a", 2.5: "b", None: "c"})) == json.loads(
        json.dumps({1: "a", 2.5: "b", None: "c"})
    )


@pytest.mark.parametrize(
    "value",
    [
        {"args": [1, "two"], "kwargs": {"x": None}},
        {"when": datetime.datetime(2026, 12, 8, 1, 2, 3, tzinfo=datetime.UTC)},
        {"day": datetime.date(2026, 12, 8), "at": datetime.time(12, 30)},
        {"amount": decimal.Decimal("10.25")},
        {"blob": b"\x00\xffbytes"},
        {"n": 2**70},
    ],
)
def test_kombu_messages_decode_to_what_kombus_own_codec_gives(value):
    content_type, encoding, body = kombu.serialization.dumps(value, "json")
    assert content_type == "application/json" and encoding == "utf-8"
    decoded = kombu.serialization.loads(body, content_type, encoding)
    assert decoded == kombu_json.loads(kombu_json.dumps(value))
    # and what the old codec wrote still reads the same
    assert kombu.serialization.loads(kombu_json.dumps(value), content_type, encoding) == decoded


def test_a_uuid_reaches_a_kombu_peer_as_its_text():
    """The one documented difference: orjson always writes a UUID as its string."""
    value = uuid.UUID("12345678-1234-5678-1234-567812345678")
    _, _, body = kombu.serialization.dumps({"id": value}, "json")
    assert json.loads(body) == {"id": str(value)}
