"""Content facts come from the bytes."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.messaging.content import (
    OCTET_STREAM,
    TEXT_PLAIN,
    clean_filename,
    describe_content,
    detect_content_type,
)

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


@pytest.mark.parametrize(
    ("data", "mime"),
    [
        (PNG, "image/png"),
        (b"%PDF-1.7 rest", "application/pdf"),
        ("héllo wörld".encode(), TEXT_PLAIN),
        (b"\xff\xfe\xfd not utf-8", OCTET_STREAM),
    ],
)
def test_type_is_sniffed_from_bytes(data, mime):
    assert detect_content_type(data) == mime


def test_describe_hashes_and_measures():
    info = describe_content(PNG)
    assert info.sha256 == hashlib.sha256(PNG).hexdigest()
    assert info.size_bytes == len(PNG)
    assert info.content_type == "image/png"


@pytest.mark.parametrize(
    ("name", "clean"),
    [
        ("report.pdf", "report.pdf"),
        ("C:\\Users\\me\\report.pdf", "report.pdf"),
        ("../../etc/passwd", "passwd"),
        ("  .hidden  ", "hidden"),
        ("bad\x00\x1bname.txt", "badname.txt"),
        ("", ""),
    ],
)
def test_filenames_are_cleaned(name, clean):
    assert clean_filename(name, 255) == clean


def test_long_names_keep_their_extension():
    assert clean_filename("a" * 300 + ".pdf", 20) == "a" * 16 + ".pdf"


@given(st.text(max_size=400), st.integers(min_value=1, max_value=255))
def test_a_cleaned_name_is_bounded_and_never_a_path(name, limit):
    cleaned = clean_filename(name, limit)
    assert len(cleaned) <= limit
    assert "/" not in cleaned and "\\" not in cleaned and "\x00" not in cleaned
