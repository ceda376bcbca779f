"""identity's tokens at another service, and the events identity publishes for others.

``Gatekeeper`` stands for any other service: a ``CallerProvider`` with no
``AUTH_PUBLIC_KEYS``, so it fetches identity's public keys over RPC, and the
``FollowsSuspensions`` mixin, so it learns suspensions from identity's events.
"""

from __future__ import annotations

import json
import uuid

import jwt
import psycopg
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from kombu import Connection, Exchange, Queue
from nameko.rpc import rpc
from nameko.testing.services import entrypoint_hook, entrypoint_waiter

from services.identity.domain import PRIVATE_EVENT_TYPES
from services.identity.service import IdentityService
from shared.auth import CallerProvider, bearer
from shared.errors import NotAuthenticated
from shared.relay import Relay
from shared.rpc import FollowsSuspensions, Operations
from shared.storage import EventStore
from tests.identity.conftest import Client, identity_config, wait_until


class Gatekeeper(Operations, FollowsSuspensions):
    name = "gatekeeper"
    store = EventStore()
    relay = Relay()
    caller = CallerProvider()

    @rpc
    def whoami(self) -> dict:
        return self.caller.authenticated().to_dict()


@pytest.fixture
def both(container_factory, rabbit_config, databases):
    identity_dsn = databases.create("identity")
    gate_dsn = databases.create("core")
    identity = container_factory(IdentityService, identity_config(rabbit_config, identity_dsn))
    identity.start()
    gatekeeper = container_factory(
        Gatekeeper,
        {
            "AMQP_URI": rabbit_config["AMQP_URI"],
            "DB_DSN": gate_dsn,
            "CLOCK": "manual",
            "RELAY_POLL_INTERVAL": 0.2,
            "CONSUMER_RETRY_DELAYS_MS": "100,200",
        },
    )
    gatekeeper.start()
    return Client(identity, identity_dsn), Client(gatekeeper, gate_dsn)


def whoami(gate: Client, token: str) -> dict:
    with entrypoint_hook(gate.container, "whoami", context_data=bearer(token)) as hook:
        return hook()


def tampered(token: str) -> str:
    header, payload, signature = token.split(".")
    claims = json.loads(jwt.utils.base64url_decode(payload))
    claims["roles"] = ["operator"]
    forged = jwt.utils.base64url_encode(json.dumps(claims).encode()).decode()
    return f"{header}.{forged}.{signature}"


def test_identity_tokens_are_accepted_elsewhere_and_refused_when_invalid(both, clock):
    identity, gate = both
    member = identity.signed_up(roles=["client"])
    assert whoami(gate, member["access_token"]) == {
        "user_id": member["user_id"],
        "roles": ["client"],
    }
    with pytest.raises(NotAuthenticated):
        whoami(gate, tampered(member["access_token"]))

    # the same claims signed by a key identity never published
    unknown = jwt.encode(
        {**jwt.decode(member["access_token"], options={"verify_signature": False})},
        Ed25519PrivateKey.generate(),
        algorithm="EdDSA",
        headers={"kid": "not-a-key-of-identity"},
    )
    with pytest.raises(NotAuthenticated) as refused:
        whoami(gate, unknown)
    assert "unknown key" in refused.value.message

    clock.advance(minutes=15)
    with pytest.raises(NotAuthenticated) as expired:
        whoami(gate, member["access_token"])
    assert "expired" in expired.value.message


def test_a_suspended_user_is_refused_once_the_event_arrives(both):
    identity, gate = both
    member = identity.signed_up()
    operator = identity.operator()
    assert whoami(gate, member["access_token"])["user_id"] == member["user_id"]
    identity.call("suspend", operator["access_token"], user_id=member["user_id"], reason="fraud")
    wait_until(lambda: gate.scalar("SELECT count(*) FROM suspended_users") == 1)
    with pytest.raises(NotAuthenticated) as refused:
        whoami(gate, member["access_token"])
    assert "suspended" in refused.value.message
    identity.call("reinstate", operator["access_token"], user_id=member["user_id"], reason="ok")
    wait_until(lambda: gate.scalar("SELECT count(*) FROM suspended_users") == 0)
    assert whoami(gate, member["access_token"])["user_id"] == member["user_id"]


def test_rotation_logs_nobody_out(both, clock):
    identity, gate = both
    member = identity.signed_up()
    operator = identity.operator()
    rotated = identity.call("rotate_keys", operator["access_token"])
    assert rotated["previous_kid"] == jwt.get_unverified_header(member["access_token"])["kid"]
    keys = identity.call("public_keys")["keys"]
    assert [k["kid"] for k in keys] == [rotated["kid"], rotated["previous_kid"]]

    fresh = identity.login(member["email"])
    assert jwt.get_unverified_header(fresh["access_token"])["kid"] == rotated["kid"]
    # a token signed before the rotation still works, here and at the other service
    assert identity.call("me", member["access_token"])
    assert identity.call("me", fresh["access_token"])
    assert whoami(gate, member["access_token"])["user_id"] == member["user_id"]
    assert whoami(gate, fresh["access_token"])["user_id"] == member["user_id"]

    # once every token of the old key has expired (lifetime + grace), it is no longer published
    clock.advance(minutes=15, seconds=59)
    assert len(identity.call("public_keys")["keys"]) == 2
    clock.advance(seconds=1)
    assert [k["kid"] for k in identity.call("public_keys")["keys"]] == [rotated["kid"]]


def test_public_events_are_published_and_secrets_never(both):
    identity, _ = both
    seen: list[str] = []
    exchange = Exchange("identity.events", type="topic", durable=True)
    with Connection(identity.container.config["AMQP_URI"]) as conn:
        queue = Queue(f"spy-{uuid.uuid4().hex}", exchange, routing_key="#", auto_delete=True)
        queue(conn.channel()).declare()
        member = identity.signed_up(roles=["freelancer"])
        operator = identity.operator()
        identity.call("update_profile", member["access_token"], display_name="Published")
        identity.call("suspend", operator["access_token"], user_id=member["user_id"], reason="x")
        identity.call("rotate_keys", operator["access_token"])
        head = identity.log_length()
        wait_until(
            lambda: identity.scalar("SELECT coalesce(max(position), 0) FROM relay_position") == head
        )

        def drain(body, message):
            seen.append(message.delivery_info["routing_key"])
            if message.delivery_info["routing_key"] == "UserSuspended":
                assert body["data"]["reason"] == "x" and body["type"] == "UserSuspended"
            message.ack()

        with conn.Consumer(queue, callbacks=[drain], accept=["json"]):
            wait_until(lambda: _drain_once(conn) or "UserSuspended" in seen)
    assert {"UserRegistered", "ProfileUpdated", "UserSuspended"} <= set(seen)
    assert not set(seen) & PRIVATE_EVENT_TYPES


def _drain_once(conn) -> bool:
    try:
        conn.drain_events(timeout=0.1)
    except TimeoutError:
        pass
    return False


def test_a_suspension_delivered_twice_is_applied_once(both):
    identity, gate = both
    member = identity.signed_up()
    operator = identity.operator()
    identity.call("suspend", operator["access_token"], user_id=member["user_id"], reason="spam")
    wait_until(lambda: gate.scalar("SELECT count(*) FROM processed_events") == 1)
    first_seen = gate.scalar("SELECT suspended_at FROM suspended_users")

    # deliver the very same envelope again, as a relay restarted mid-batch would
    with psycopg.connect(identity.dsn) as conn:
        row = conn.execute(
            "SELECT event_id, stream, version, position, type, schema_version, data, metadata,"
            " recorded_at FROM events WHERE type = 'UserSuspended'"
        ).fetchone()
    envelope = dict(
        zip(
            (
                "event_id",
                "stream",
                "version",
                "position",
                "type",
                "schema_version",
                "data",
                "metadata",
                "recorded_at",
            ),
            row,
            strict=True,
        )
    )
    envelope["event_id"] = str(envelope["event_id"])
    envelope["recorded_at"] = envelope["recorded_at"].isoformat()
    with entrypoint_waiter(gate.container, "track_suspension", timeout=15) as repeat:
        with Connection(identity.container.config["AMQP_URI"]) as conn:
            conn.Producer().publish(
                json.dumps(envelope),
                exchange=Exchange("identity.events", type="topic", durable=True),
                routing_key="UserSuspended",
                content_type="application/json",
            )
    # the handler ran on the repeat and applied nothing (handle_once answered False)
    assert repeat.get() is False
    assert gate.scalar("SELECT count(*) FROM processed_events") == 1
    assert gate.scalar("SELECT suspended_at FROM suspended_users") == first_seen
    # a reinstatement published after it is the only new effect
    identity.call("reinstate", operator["access_token"], user_id=member["user_id"], reason="ok")
    wait_until(lambda: gate.scalar("SELECT count(*) FROM processed_events") == 2)
    assert gate.scalar("SELECT count(*) FROM suspended_users") == 0
    assert gate.scalar("SELECT count(*) FROM dead_letters") == 0
    assert first_seen is not None
    assert gate.scalar("SELECT count(*) FROM processed_events") == 2
