"""Canonical text and the hash chain of the event log.

An event's canonical text is the PostgreSQL ``jsonb`` text form of the array
``[event_id, stream, type, schema_version, data, metadata, recorded_at]``, with
``recorded_at`` as ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` in UTC. Its content digest is the SHA-256
of that text in UTF-8, and the event's chained hash is

    sha256(previous hash || position (int8, big-endian) || version (int4, big-endian) || digest)

starting from 32 zero bytes. The database computes the chain when it appends;
``jsonb_text`` reproduces the jsonb text form in Python so that the in-memory store, an
exported log or a second auditor can recompute every hash without PostgreSQL.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

GENESIS_HASH = bytes(32)

# The SQL expression of an events row's canonical text; verify embeds it in its own query
# rather than trusting a function stored in the database it is checking.
CANONICAL_SQL = (
    "jsonb_build_array(event_id::text, stream, type, schema_version, data, metadata, "
    "to_char(recorded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'))::text"
)

_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
}


def _string(value: str) -> str:
    out = ['"']
    for ch in value:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ch < " ":
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def jsonb_text(value) -> str:
    """The text PostgreSQL prints for ``value`` stored as jsonb.

    Object keys are ordered by their UTF-8 length, then bytewise (jsonb's storage order), and
    duplicates keep the last value. Floats are refused: event data holds integers only.
    """
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, float):
        raise TypeError("event data may not hold floats: use integers or strings")
    if isinstance(value, dict):
        keys = sorted(value, key=lambda k: (len(k.encode()), k.encode()))
        return "{" + ", ".join(f"{_string(k)}: {jsonb_text(value[k])}" for k in keys) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(jsonb_text(v) for v in value) + "]"
    raise TypeError(f"cannot store {type(value).__name__} in an event")


def canonical_time(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_text(
    event_id: str,
    stream: str,
    type: str,
    schema_version: int,
    data: dict,
    metadata: dict,
    recorded_at: datetime,
) -> str:
    return jsonb_text(
        [str(event_id), stream, type, schema_version, data, metadata, canonical_time(recorded_at)]
    )


def digest_of_text(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()


def chain_hash(previous: bytes, position: int, version: int, digest: bytes) -> bytes:
    return hashlib.sha256(
        previous + position.to_bytes(8, "big") + version.to_bytes(4, "big") + digest
    ).digest()


def check_storable(value) -> None:
    """Raise TypeError if ``value`` holds something an event may not (floats, objects)."""
    jsonb_text(value)
