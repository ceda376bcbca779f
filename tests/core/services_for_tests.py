"""Two small services that exercise the platform core across a real broker."""

from __future__ import annotations

from marshmallow import fields
from nameko.rpc import rpc

from shared.auth import CallerProvider
from shared.consumers import consume
from shared.domain import NewEvent
from shared.relay import Relay
from shared.rpc import Operations
from shared.schemas import BaseSchema
from shared.storage import EventStore


class Producer(Operations):
    name = "producer"
    store = EventStore()
    relay = Relay(private_types={"SecretNoted"})
    caller = CallerProvider()

    @rpc
    def note(self, n: int, secret: bool = False) -> int:
        event = NewEvent("SecretNoted" if secret else "Noted", {"n": n}, stream=f"note-{n}")
        with self.store.transaction() as uow:
            return uow.append([event])[0].position


class NotedData(BaseSchema):
    n = fields.Integer(strict=True, required=True)


# Failures to inject into the consumer, keyed by n: how many more times it should fail.
FAILURES: dict[int, int] = {}


class Tally(Operations):
    name = "tally"
    store = EventStore()
    relay = Relay()
    caller = CallerProvider()

    @consume("producer", "Noted", schema=NotedData)
    def count_note(self, uow, event):
        n = event.data["n"]
        if FAILURES.get(n, 0) > 0:
            FAILURES[n] -= 1
            raise RuntimeError(f"injected failure for {n}")
        uow.execute("INSERT INTO tally (n, event_id) VALUES (%s, %s)", (n, event.event_id))
