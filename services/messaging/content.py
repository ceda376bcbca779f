"""What an uploaded file is, worked out from its bytes alone (never from the client's word).

Pure functions: the SHA-256 that keys the blob store, the size, the content type sniffed by
``filetype`` (falling back to ``text/plain`` for valid UTF-8 and
``application/octet-stream`` otherwise), and a display filename made safe to show and store.
"""

from __future__ import annotations

import hashlib
import unicodedata
from dataclasses import dataclass

import filetype

TEXT_PLAIN = "text/plain"
OCTET_STREAM = "application/octet-stream"


@dataclass(frozen=True)
class ContentInfo:
    """Facts about one upload: ``sha256`` (lowercase hex), ``size_bytes``, ``content_type``."""

    sha256: str
    size_bytes: int
    content_type: str


def sha256_hex(data: bytes) -> str:
    """The lowercase hex SHA-256 of ``data``: the blob's key and its download checksum."""
    return hashlib.sha256(data).hexdigest()


def detect_content_type(data: bytes) -> str:
    """Sniff the MIME type from the leading bytes; the client's claimed type is ignored."""
    mime = filetype.guess_mime(data) if data else None
    if mime:
        return mime
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return OCTET_STREAM
    return TEXT_PLAIN


def describe_content(data: bytes) -> ContentInfo:
    """Hash, measure and type ``data`` in one pass over the facts the domain needs."""
    return ContentInfo(
        sha256=sha256_hex(data), size_bytes=len(data), content_type=detect_content_type(data)
    )


def clean_filename(name: str, max_chars: int) -> str:
    """A display name safe to store and show, or ``""`` when nothing usable remains.

    Directory parts are dropped (a name is never a path), control characters removed (NUL
    cannot be stored in PostgreSQL text, and the others confuse terminals and headers),
    Unicode normalised to NFC, surrounding spaces and dots trimmed, and the result cut to
    ``max_chars`` keeping the extension where possible.
    """
    name = unicodedata.normalize("NFC", name)
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")
    name = name.strip().strip(".").strip()
    if len(name) > max_chars:
        stem, dot, ext = name.rpartition(".")
        if dot and stem and 0 < len(ext) < max_chars // 2:
            name = stem[: max_chars - len(ext) - 1] + "." + ext
        else:
            name = name[:max_chars]
    return name
