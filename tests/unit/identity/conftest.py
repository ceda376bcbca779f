"""Fixtures and the given/when/then helpers of the identity unit tests."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from services.identity.domain import EmailReservation, User, email_key, register_user
from services.identity.passwords import PasswordHasher, PasswordPolicy
from services.identity.settings import IdentitySettings
from services.identity.skills import seeded_taxonomy

T0 = datetime(2026, 3, 10, 12, 0, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)
GOOD_PASSWORD = "correct horse battery staple"

HASHER = PasswordHasher.cheap()
POLICY = PasswordPolicy()
SETTINGS = IdentitySettings()


@dataclass(frozen=True)
class Stored:
    """What the event store hands back: type, data and the version in its stream."""

    type: str
    data: dict
    version: int


def given(cls, id: str, events) -> object:
    """An aggregate folded from ``events`` (NewEvents recorded earlier), via JSON as stored."""
    stored = [
        Stored(e.type, json.loads(json.dumps(e.data)), n) for n, e in enumerate(events, start=1)
    ]
    return cls.rehydrate(id, stored)


def assert_plain_json(events) -> None:
    """Event data is JSON of dicts, lists, str, int, bool and None only (no floats)."""

    def walk(value):
        if isinstance(value, dict):
            assert all(isinstance(k, str) for k in value)
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)
        else:
            assert value is None or type(value) in (str, int, bool), repr(value)

    for event in events:
        walk(event.data)


def new_events(aggregate) -> list:
    """Then: the events the command recorded (checked to be plain JSON)."""
    events = aggregate.take_pending()
    assert_plain_json(events)
    return events


def types(events) -> list[str]:
    return [e.type for e in events]


def register_events(
    user_id: str = "u-1",
    *,
    email: str = "ada@example.com",
    roles=("freelancer",),
    display_name: str = "Ada Lovelace",
    now: datetime = T0,
) -> list:
    """The events of a self-service registration, for use as "given"."""
    user = User(user_id)
    reservation = EmailReservation(email_key(email))
    register_user(
        user,
        reservation,
        email=email,
        password=GOOD_PASSWORD,
        display_name=display_name,
        roles=list(roles),
        now=now,
        hasher=HASHER,
        policy=POLICY,
    )
    return user.take_pending()


@pytest.fixture
def settings() -> IdentitySettings:
    return SETTINGS


@pytest.fixture
def taxonomy():
    return seeded_taxonomy()
