"""JSON for psycopg's json/jsonb values and kombu's ``json`` serializer, through orjson.

Every RPC request and reply, every consumed event and every read-model row with a JSON
column goes through a JSON encoder or decoder; with the standard library's, those were
~4.7 ms of CPU per hire-to-paid flow across the services (profiled under load). orjson
encodes several times and decodes about twice as fast. The output is the same JSON
(compact, as kombu's and psycopg's already were in what they send), and every case orjson
would treat differently goes to the standard library as before:

- integers beyond 64 bits: orjson refuses to write them, and reads them as floats, losing
  digits, so any text with a run of 19 or more digits is read by the standard library (a
  long number inside a string takes the slow road too, harmlessly);
- JSON orjson will not read (``NaN``);
- datetimes, dates, times, dataclasses, decimals and bytes, which kombu writes as
  ``{"__type__": ..., "__value__": ...}`` markers and psycopg refuses: orjson is told to
  pass them through, and a payload holding one is encoded by the old encoder whole;
- on the way in, any text holding a ``"__type__"`` marker, which kombu's decoder turns
  back into the object.

One difference remains by design: a ``uuid.UUID`` object, which orjson always writes as
its string, reaches a kombu peer as that string rather than as a marker. Nothing in the
platform sends UUID objects (results are JSON-ready dicts; the gateway would fail to write
one to its HTTP client anyway).
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

_OPTIONS = (
    orjson.OPT_NON_STR_KEYS  # {1: ...} becomes {"1": ...}, as json.dumps does
    | orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
)
_QUOTED_MARKER = '"__type__"'
_QUOTED_MARKER_BYTES = _QUOTED_MARKER.encode()
# 2**63 has 19 digits: a shorter run of digits is an integer orjson reads exactly
_LONG_DIGITS = re.compile(r"[0-9]{19}")
_LONG_DIGITS_BYTES = re.compile(rb"[0-9]{19}")


def _encode(obj: Any, fallback) -> str:
    try:
        return orjson.dumps(obj, option=_OPTIONS).decode()
    except TypeError:  # a type kombu or json.dumps treats its own way, or a huge integer
        return fallback(obj)


def _decode(text: str | bytes, fallback) -> Any:
    if isinstance(text, str):
        if _QUOTED_MARKER in text or _LONG_DIGITS.search(text):
            return fallback(text)
    else:
        text = bytes(text)
        if _QUOTED_MARKER_BYTES in text or _LONG_DIGITS_BYTES.search(text):
            return fallback(text)
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:  # NaN, or not JSON at all (the fallback says which)
        return fallback(text)


def dumps(obj: Any) -> str:
    """``json.dumps`` for psycopg's Json/Jsonb values."""
    return _encode(obj, json.dumps)


def loads(text: str | bytes) -> Any:
    """``json.loads`` for psycopg's json/jsonb columns."""
    return _decode(text, json.loads)


def kombu_dumps(obj: Any) -> str:
    from kombu.utils import json as kombu_json

    return _encode(obj, kombu_json.dumps)


def kombu_loads(text: str | bytes) -> Any:
    from kombu.utils import json as kombu_json

    return _decode(text, kombu_json.loads)


def install() -> None:
    """Use these for psycopg's JSON adapters and for kombu's ``json`` serializer."""
    import kombu.serialization
    import psycopg.types.json

    psycopg.types.json.set_json_dumps(dumps)
    psycopg.types.json.set_json_loads(loads)
    kombu.serialization.register(
        "json",
        kombu_dumps,
        kombu_loads,
        content_type="application/json",
        content_encoding="utf-8",
    )
