"""The identity service under test: a real nameko container on a throwaway database and
RabbitMQ vhost, with cheap argon2 and the manual clock, and a seeded operator."""

from __future__ import annotations

import time
import uuid

import eventlet
import psycopg
import pytest
from nameko.testing.services import entrypoint_hook

from services.identity.passwords import PasswordHasher
from services.identity.service import IdentityService
from shared.auth import bearer
from shared.clock import manual_clock

PASSWORD = "correct horse battery staple"
OPERATOR_EMAIL = "ops@marketplace.test"
OPERATOR_PASSWORD = "operator passphrase 42"
CHEAP = {"ARGON2_TIME_COST": 1, "ARGON2_MEMORY_COST": 8, "ARGON2_PARALLELISM": 1}


def identity_config(rabbit_config, dsn: str, **extra) -> dict:
    staff_hash = PasswordHasher.cheap().hash(OPERATOR_PASSWORD)
    return {
        "AMQP_URI": rabbit_config["AMQP_URI"],
        "DB_DSN": dsn,
        "CLOCK": "manual",
        "AUTH_FETCH_KEYS": "false",
        "RELAY_POLL_INTERVAL": 0.2,
        "SEED_STAFF": [
            {
                "email": OPERATOR_EMAIL,
                "password_hash": staff_hash,
                "display_name": "Ops",
                "roles": ["operator"],
            }
        ],
        **CHEAP,
        **extra,
    }


@pytest.fixture
def identity_dsn(databases):
    return databases.create("identity")


@pytest.fixture
def identity(container_factory, rabbit_config, identity_dsn):
    container = container_factory(IdentityService, identity_config(rabbit_config, identity_dsn))
    container.start()
    return container


class Client:
    """Calls the identity container's entrypoints, optionally as the holder of a token."""

    def __init__(self, container, dsn: str):
        self.container = container
        self.dsn = dsn

    def call(self, method: str, token: str | None = None, /, **kwargs):
        context = bearer(token) if token else {}
        with entrypoint_hook(self.container, method, context_data=context) as hook:
            return hook(**kwargs)

    def register(self, email=None, roles=("freelancer",), **kwargs) -> dict:
        email = email or f"{uuid.uuid4().hex[:10]}@example.test"
        result = self.call(
            "register",
            email=email,
            password=PASSWORD,
            display_name=kwargs.pop("display_name", "Ada Lovelace"),
            roles=list(roles),
            **kwargs,
        )
        return {**result, "email": email}

    def login(self, email: str, password: str = PASSWORD) -> dict:
        return self.call("login", email=email, password=password)

    def signed_up(self, roles=("freelancer",)) -> dict:
        """A new account and its first tokens."""
        account = self.register(roles=roles)
        return {**account, **self.login(account["email"])}

    def operator(self) -> dict:
        return self.login(OPERATOR_EMAIL, OPERATOR_PASSWORD)

    def scalar(self, sql: str, params=None):
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            return conn.execute(sql, params).fetchone()[0]

    def log_length(self) -> int:
        return self.scalar("SELECT count(*) FROM events")

    def event_types(self, stream: str) -> list[str]:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT type FROM events WHERE stream = %s ORDER BY version", (stream,)
            ).fetchall()
        return [r[0] for r in rows]


@pytest.fixture
def client(identity, identity_dsn) -> Client:
    return Client(identity, identity_dsn)


def wait_until(predicate, timeout: float = 15.0, interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        eventlet.sleep(interval)
    raise AssertionError("condition not met in time")


@pytest.fixture
def clock():
    return manual_clock
