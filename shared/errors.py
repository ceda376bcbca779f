"""Typed errors that cross nameko RPC as themselves rather than as bare RemoteErrors.

Each class is registered with nameko's deserialisation registry, so a caller that imports
this module gets the same exception type back, with the same arguments. The HTTP gateway
maps each type to a status code via ``http_status``.
"""

from __future__ import annotations

from typing import Any

from nameko.exceptions import deserialize_to_instance


class MarketplaceError(Exception):
    """Base of every error a service raises on purpose."""

    code = "error"
    http_status = 500

    def __init__(self, message: str = "", details: Any = None):
        # nameko sends exception args as text where they are not strings, lists or dicts:
        # leaving out absent details keeps them absent on the caller's side
        super().__init__(*((message,) if details is None else (message, details)))
        self.message = message
        self.details = details

    def __str__(self) -> str:
        if self.details:
            return f"{self.message}: {self.details}"
        return self.message

    def to_dict(self) -> dict:
        body = {"code": self.code, "message": self.message}
        if self.details is not None:
            body["details"] = self.details
        return body


@deserialize_to_instance
class ValidationError(MarketplaceError):
    """Input failed its schema or a domain rule; ``details`` maps field names to messages."""

    code = "validation_error"
    http_status = 400

    @property
    def fields(self) -> dict:
        return self.details if isinstance(self.details, dict) else {}


@deserialize_to_instance
class NotAuthenticated(MarketplaceError):
    """No token, or a token that is expired, tampered, or signed by an unknown key."""

    code = "not_authenticated"
    http_status = 401


@deserialize_to_instance
class Forbidden(MarketplaceError):
    """The caller is known but may not do this."""

    code = "forbidden"
    http_status = 403


@deserialize_to_instance
class NotFound(MarketplaceError):
    code = "not_found"
    http_status = 404


@deserialize_to_instance
class Conflict(MarketplaceError):
    """The request contradicts the current state (or reuses an idempotency key)."""

    code = "conflict"
    http_status = 409


@deserialize_to_instance
class ConcurrencyError(Conflict):
    """A stream moved on since it was read; nothing was written. Safe to retry."""

    code = "concurrency_error"
    http_status = 409


@deserialize_to_instance
class RateLimited(MarketplaceError):
    code = "rate_limited"
    http_status = 429


def field_error(field: str, message: str) -> ValidationError:
    """A validation error about one field."""
    return ValidationError("invalid input", {field: [message]})
