"""Messaging settings: every window and limit is configuration, never a constant in a rule.

The window values in force are copied into the event that starts each window (``MessageSent``
carries its edit and delete windows, ``RoomReviewAccessGranted`` its expiry), so replaying
the log decides the same way after an operator changes the configuration.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

# Hard ceilings that bound the schemas whatever the configuration says; a configured limit
# may be lower, never higher, so a schema can reject oversize input before the domain sees it.
BODY_CHARS_CEILING = 20_000
ATTACHMENTS_PER_MESSAGE_CEILING = 20
ATTACHMENT_BYTES_CEILING = 1024 * 1024 * 1024  # 1 GiB
FILENAME_CHARS_CEILING = 255


@dataclass(frozen=True)
class MessagingSettings:
    """Windows (in seconds) and limits of the messaging service.

    - ``edit_window_seconds`` (default 900 = 15 min): a sender may edit a message while
      ``now <= sent_at + window``.
    - ``delete_window_seconds`` (default 900 = 15 min): same rule for deleting.
    - ``review_access_seconds`` (default 604800 = 7 days): how long an operator's (dispute) or
      auditor's recorded access to a room lasts, ``now <= granted_at + window``.
    - ``max_body_chars`` (default 10000): longest message text, in characters.
    - ``max_attachments_per_message`` (default 10).
    - ``max_attachment_bytes`` (default 100 MB = 104857600 bytes).
    - ``max_filename_chars`` (default 255).
    """

    edit_window_seconds: int = 15 * 60
    delete_window_seconds: int = 15 * 60
    review_access_seconds: int = 7 * 24 * 3600
    max_body_chars: int = 10_000
    max_attachments_per_message: int = 10
    max_attachment_bytes: int = 100 * 1024 * 1024
    max_filename_chars: int = 255

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if type(value) is not int:
                raise ValueError(f"{f.name} must be an integer, got {value!r}")
        # A zero window is allowed: it means "never after the sending second".
        for name in ("edit_window_seconds", "delete_window_seconds"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
        if self.review_access_seconds < 1:
            raise ValueError("review_access_seconds must be at least 1")
        _bounded("max_body_chars", self.max_body_chars, BODY_CHARS_CEILING)
        _bounded(
            "max_attachments_per_message",
            self.max_attachments_per_message,
            ATTACHMENTS_PER_MESSAGE_CEILING,
        )
        _bounded("max_attachment_bytes", self.max_attachment_bytes, ATTACHMENT_BYTES_CEILING)
        _bounded("max_filename_chars", self.max_filename_chars, FILENAME_CHARS_CEILING)

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> MessagingSettings:
        """Build from a service config section (e.g. the ``MESSAGING`` key of nameko config).

        Keys are the field names in upper or lower case; missing keys keep their defaults and
        unknown keys are refused so that a typo does not silently keep a default.
        """
        known = {f.name for f in fields(cls)}
        values: dict[str, Any] = {}
        for key, value in (config or {}).items():
            name = str(key).lower()
            if name not in known:
                raise ValueError(f"unknown messaging setting {key!r}")
            values[name] = value
        return cls(**values)


def _bounded(name: str, value: int, ceiling: int) -> None:
    if not 1 <= value <= ceiling:
        raise ValueError(f"{name} must be between 1 and {ceiling}, got {value}")
