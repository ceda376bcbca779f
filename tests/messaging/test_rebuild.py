"""Every read model rebuilds from position 0 of the log, equal row for row to the live one,
and agrees with the in-memory reference fold (``MessagingReadModel``)."""

from __future__ import annotations

import base64

import psycopg

from services.messaging.domain import contract_room_id, interview_room_id
from services.messaging.projections import MessagingProjection, MessagingReadModel
from shared.clock import manual_clock
from shared.eventstore import PostgresEventStore

CLIENT, FREELANCER = "client-1", "freelancer-1"

ORDER = {
    "msg_rooms": "room_id",
    "msg_room_members": "user_id, room_id",
    "msg_messages": "message_id",
    "msg_attachments": "attachment_id",
    "msg_read_positions": "room_id, user_id",
}


def snapshot(dsn: str) -> dict[str, list[tuple]]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return {
            table: conn.execute(f"SELECT * FROM {table} ORDER BY {order}").fetchall()
            for table, order in ORDER.items()
        }


def busy_history(messaging) -> None:
    messaging.proposal_messaged("p-1", "job-1", CLIENT, FREELANCER)
    messaging.contract_opened("c-1", "job-1", CLIENT, FREELANCER)
    interview, contract = interview_room_id("p-1"), contract_room_id("c-1")
    messaging.call(CLIENT, "open_room", other_user_id=FREELANCER)
    file = messaging.call(
        FREELANCER,
        "upload_attachment",
        "freelancer",
        room_id=contract,
        filename="plan.txt",
        content=base64.b64encode(b"the plan").decode(),
    )
    ids = []
    for i in range(6):
        ids.append(messaging.call(CLIENT, "send_message", room_id=interview, body=f"q{i}"))
    messaging.call(
        FREELANCER,
        "send_message",
        "freelancer",
        room_id=contract,
        body="plan attached",
        attachment_ids=[file["attachment_id"]],
    )
    messaging.call(CLIENT, "edit_message", message_id=ids[0]["message_id"], body="q0 edited")
    messaging.call(CLIENT, "delete_message", message_id=ids[1]["message_id"])
    messaging.call(
        FREELANCER, "mark_read", "freelancer", room_id=interview, message_id=ids[3]["message_id"]
    )
    manual_clock.advance(seconds=30)
    messaging.contract_ended("c-1", "job-1", CLIENT, FREELANCER)


def test_the_read_models_rebuild_from_the_log_equal_to_the_live_ones(messaging):
    busy_history(messaging)
    live = snapshot(messaging.dsn)
    assert all(live.values())

    projection = MessagingProjection()
    store = PostgresEventStore.connect(messaging.dsn)
    try:
        events = list(store.iter_all())
        with store.pool.connection() as conn, conn.transaction():
            cur = conn.cursor()
            cur.execute("TRUNCATE " + ", ".join(projection.tables))
            for event in events:
                projection.apply(cur, event)
    finally:
        store.close()
    assert snapshot(messaging.dsn) == live

    # the SQL read models answer as the in-memory reference fold does
    reference = MessagingReadModel().apply_all(events)
    for user in (CLIENT, FREELANCER):
        rooms, _ = reference.list_rooms(user)
        assert messaging.call(user, "list_rooms", "client")["rooms"] == rooms
    for room_id in (interview_room_id("p-1"), contract_room_id("c-1")):
        page, cursor = reference.list_messages(room_id, limit=4)
        assert messaging.call(CLIENT, "list_messages", room_id=room_id, limit=4) == {
            "messages": page,
            "next_cursor": cursor,
        }
