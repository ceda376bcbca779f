"""Messaging (issue 7): messages sent per second, and paging a room of 100,000 messages.

Everything runs the service's own code against a throwaway database migrated for
``messaging``: a ``MessagingService`` instance gets its dependencies by hand (a real
``shared.storage.Storage`` over a ``PostgresEventStore`` with ``MessagingProjection``, the
default ``MessagingSettings``, and a stand-in caller that is already signed in: token
checks belong to identity, not to this measure), and its entrypoint methods are called
directly, without nameko or RabbitMQ in between.

``send``: ``MessagingService.send_message`` called one message at a time (schema load,
room load, ``Message.send``, append with the projection, ``views.message``), one
transaction per message, ``synchronous_commit`` on; with an idempotency key (plus the
stored-result lookup and insert: ``messages_per_s``) and without one, in alternating rounds.

``list``: the room is then filled up to 100,000 messages through the same domain and
projection (``Message.send`` + ``UnitOfWork.save``, a few hundred messages per transaction
so that the filling stays quick), and ``views.messages`` - the read function behind
``list_messages`` - is timed in a store transaction as the entrypoint runs it, pages of 50
newest first: the first page, and deep pages reached by cursors collected by walking the
whole room. The whole entrypoint (``list_messages``, with its room load and access check)
is timed too, for the first page.
"""

from __future__ import annotations

import os
import random
import time
import uuid
from typing import Any

import psycopg

from bench.common import Context, summarize, throwaway_database
from services.messaging import views
from services.messaging.dependencies import MessagingConfig
from services.messaging.domain import Message, Room, interview_room_id
from services.messaging.projections import MessagingProjection, decode_cursor
from services.messaging.service import MessagingService
from services.messaging.settings import MessagingSettings
from shared.auth import Caller
from shared.eventstore import PostgresEventStore
from shared.storage import Storage

NAME = "messaging"

ROOM_MESSAGES = 100_000
PAGE = 50
FILL_PER_TXN = 500
SEND_ROUNDS = 6
DURABLE = {"synchronous_commit": "on"}

_WORDS = (
    "thanks for the update the logo draft looks great could you send the invoice "
    "tomorrow milestone review schema deploy staging please check the attached notes"
).split()


class _SignedIn:
    """Stands in for ``CallerContext``: the caller is already verified."""

    def __init__(self, caller: Caller):
        self._caller = caller

    def authenticated(self) -> Caller:
        return self._caller

    def require_role(self, *roles: str) -> Caller:
        return self._caller.require_role(*roles)


def _body(rng: random.Random) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(rng.randint(4, 30)))


def _service(storage: Storage, user_id: str) -> MessagingService:
    svc = MessagingService()
    svc.store = storage
    svc.caller = _SignedIn(Caller(user_id=user_id, roles=frozenset({"client"})))
    svc.config = MessagingConfig(settings=MessagingSettings(), blobs=None)
    return svc


def _open_room(storage: Storage, client_id: str, freelancer_id: str) -> str:
    proposal_id = str(uuid.uuid4())
    room_id = interview_room_id(proposal_id)
    with storage.transaction() as uow:
        room = uow.load(Room, room_id)
        room.open_interview(
            proposal_id=proposal_id,
            job_id=str(uuid.uuid4()),
            client_id=client_id,
            freelancer_id=freelancer_id,
            now=storage.clock.now(),
        )
        uow.save(room)
    return room_id


def _fill(storage: Storage, room_id: str, senders: list[str], count: int, rng) -> None:
    """Send ``count`` more messages through the domain and projection, in batches."""
    settings = MessagingSettings()
    done = 0
    while done < count:
        n = min(FILL_PER_TXN, count - done)
        with storage.transaction() as uow:
            room = uow.load(Room, room_id)
            batch = []
            for i in range(n):
                message = Message(str(uuid.uuid4()))
                message.send(
                    room=room,
                    actor_id=senders[(done + i) % 2],
                    body=_body(rng),
                    attachments=[],
                    settings=settings,
                    now=storage.clock.now(),
                )
                batch.append(message)
            uow.save(*batch)
        done += n


def _ms(samples: list[float]) -> dict[str, float]:
    stats = summarize(samples)
    return {
        "p50_ms": round(stats["p50"] * 1000, 3),
        "p95_ms": round(stats["p95"] * 1000, 3),
        "p99_ms": round(stats["p99"] * 1000, 3),
        "n": stats["n"],
    }


def run(ctx: Context) -> dict[str, Any]:
    room_messages = ctx.size(ROOM_MESSAGES, 2_000)
    sends = ctx.size(3_000, 150)
    samples = ctx.size(1_000, 60)
    rng = random.Random(7)
    client_id, freelancer_id = str(uuid.uuid4()), str(uuid.uuid4())
    load_average = round(os.getloadavg()[0], 2)

    with throwaway_database("messaging", service="messaging", settings=DURABLE) as dsn:
        store = PostgresEventStore.connect(dsn, max_size=2, projections=[MessagingProjection()])
        try:
            storage = Storage(store, {"correlation_id": "bench", "causation_id": "bench"})
            room_id = _open_room(storage, client_id, freelancer_id)
            svc = _service(storage, client_id)

            # -- send: the entrypoint, one message per command ----------------------------
            # Rounds alternate sends with and without an idempotency key (without: no
            # stored-result lookup or insert), so that noise falls on both.
            warmup = min(50, sends)
            bodies = [_body(rng) for _ in range(2 * sends + warmup)]
            for body in bodies[:warmup]:
                svc.send_message(room_id=room_id, body=body, idempotency_key=str(uuid.uuid4()))
            timed = {True: 0.0, False: 0.0}
            rounds = SEND_ROUNDS
            per_round = sends // rounds
            for r in range(rounds):
                for keyed in (True, False) if r % 2 == 0 else (False, True):
                    base = warmup + (2 * r + keyed) * per_round
                    started = time.perf_counter()
                    for body in bodies[base : base + per_round]:
                        key = {"idempotency_key": str(uuid.uuid4())} if keyed else {}
                        sent = svc.send_message(room_id=room_id, body=body, **key)
                    timed[keyed] += time.perf_counter() - started
            assert sent["room_id"] == room_id and sent["body"] is not None
            per_s = rounds * per_round / timed[True]
            unkeyed_per_s = rounds * per_round / timed[False]
            sent_so_far = warmup + 2 * rounds * per_round

            # -- fill the room ------------------------------------------------------------
            started = time.perf_counter()
            _fill(storage, room_id, [client_id, freelancer_id], room_messages - sent_so_far, rng)
            fill_seconds = time.perf_counter() - started
            _analyze(dsn)
            in_room = storage.query(
                "SELECT message_count FROM msg_rooms WHERE room_id = %s", (room_id,)
            )[0][0]
            assert in_room == room_messages, in_room

            # -- the cursors of every page, walking the room once -------------------------
            cursors: list[int] = []
            before = None
            walked = 0
            while True:
                with storage.transaction() as uow:
                    page = views.messages(uow, room_id, before, PAGE)
                walked += len(page["messages"])
                if page["next_cursor"] is None:
                    break
                before = decode_cursor(page["next_cursor"])
                cursors.append(before)
            assert walked == room_messages, walked
            deep = cursors[len(cursors) // 2 :] or cursors

            # -- timed reads, interleaved so that noise falls on every kind ---------------
            first, deeper, entry = [], [], []
            for _ in range(samples):
                t0 = time.perf_counter()
                with storage.transaction() as uow:
                    views.messages(uow, room_id, None, PAGE)
                t1 = time.perf_counter()
                cursor = rng.choice(deep)
                with storage.transaction() as uow:
                    got = views.messages(uow, room_id, cursor, PAGE)
                t2 = time.perf_counter()
                svc.list_messages(room_id=room_id, limit=PAGE)
                t3 = time.perf_counter()
                first.append(t1 - t0)
                deeper.append(t2 - t1)
                entry.append(t3 - t2)
            assert len(got["messages"]) == PAGE
        finally:
            store.close()

    result = {
        "machine": ctx.machine,
        "send": {
            "messages_per_s": round(per_s, 1),
            "messages": SEND_ROUNDS * (sends // SEND_ROUNDS),
            "messages_per_s_without_idempotency_key": round(unkeyed_per_s, 1),
            "path": "MessagingService.send_message, one transaction per message",
        },
        "list": {
            "first_page": _ms(first),
            "deep_page": _ms(deeper),
            "entrypoint_first_page": _ms(entry),
            "page_size": PAGE,
            "deep_pages_from": len(cursors) - len(deep) + 1,
            "pages": len(cursors) + 1,
        },
        "messages_in_room": in_room,
        "load_average_1m_at_start": load_average,
        "fill_messages_per_s": round((room_messages - sent_so_far) / fill_seconds, 1)
        if fill_seconds > 0
        else None,
    }
    result["cases"] = [
        {"case": "send_message", "messages_per_s": result["send"]["messages_per_s"]},
        {
            "case": "send_message, no key",
            "messages_per_s": result["send"]["messages_per_s_without_idempotency_key"],
        },
        *(
            {"case": f"list {name}", **result["list"][name]}
            for name in ("first_page", "deep_page", "entrypoint_first_page")
        ),
    ]
    return result


def _analyze(dsn: str) -> None:
    """Autovacuum may not have reached the freshly filled table yet; production's has."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE msg_messages")
        conn.execute("ANALYZE msg_rooms")


def summary(result: dict[str, Any]) -> list[str]:
    lst = result["list"]
    return [
        f"send_message: {result['send']['messages_per_s']:,.0f} messages/s with an idempotency "
        f"key, {result['send']['messages_per_s_without_idempotency_key']:,.0f} without "
        "(no target in DESIGN.md)",
        f"list_messages, room of {result['messages_in_room']:,}: first page p95 "
        f"{lst['first_page']['p95_ms']:.2f} ms, deep page p95 {lst['deep_page']['p95_ms']:.2f} ms",
    ]
