"""The rating a client received, published as ClientRatingUpdated on the client's member
stream: recorded with the change that moved it, once per change, the whole figure."""

from __future__ import annotations

from shared.clock import iso, manual_clock
from tests.reputation.harness import CLIENT_CRITERIA, DAY, FREELANCER_CRITERIA, START, feedback

C, F1, F2, F3 = "client-7", "freelancer-1", "freelancer-2", "freelancer-3"
ENDED = START - DAY


def ratings(h) -> list[tuple]:
    return [
        (d["client_id"], d["average_rating_centi"], d["rating_count"])
        for _, t, d in h.stream(f"member-{C}")
        if t == "ClientRatingUpdated"
    ]


def both_rate(h, cid: str, freelancer: str, rating: int) -> None:
    h.call("leave_feedback", C, "client", **feedback(cid, FREELANCER_CRITERIA))
    h.call(
        "leave_feedback", freelancer, "freelancer", **feedback(cid, CLIENT_CRITERIA, rating=rating)
    )


def test_client_rating_follows_reveals_and_payments_once_each(reputation):
    h = reputation
    h.ended_contract("k1", C, F1, START - 30 * DAY, ENDED, gross=40_000)
    h.ended_contract("k2", C, F2, START - 30 * DAY, ENDED, gross=20_000)
    h.ended_contract("k3", C, F3, START - 30 * DAY, ENDED)  # nothing paid yet
    assert ratings(h) == []

    # the second submission reveals both sides: the client's first rating, 5 from 1
    both_rate(h, "k1", F1, 5)
    assert ratings(h) == [(C, 500, 1)]
    rows = h.rows(
        "SELECT type, position, recorded_at, data FROM events"
        " WHERE type IN ('FeedbackRevealed', 'ClientRatingUpdated') ORDER BY position"
    )
    (_, revealed_at, reveal_time, _), (_, rated_at, rated_time, data) = rows
    assert rated_at == revealed_at + 1 and rated_time == reveal_time  # one transaction
    assert data["updated_at"] == iso(START)

    # revealed feedback on an unpaid contract is not counted: no change, no event
    both_rate(h, "k3", F3, 5)
    assert ratings(h) == [(C, 500, 1)]

    # only the freelancer rates k2; the window's close reveals it: (5 + 4) / 2
    h.call("leave_feedback", F2, "freelancer", **feedback("k2", CLIENT_CRITERIA, rating=4))
    assert ratings(h) == [(C, 500, 1)]
    manual_clock.set(ENDED + 14 * DAY)
    assert h.fire_deadlines() == 3
    assert h.fire_deadlines() == 0
    assert ratings(h) == [(C, 500, 1), (C, 450, 2)]

    # money paid on k3 after the reveal makes its rating count: 14 / 3 = 4.666.. -> 467
    manual_clock.set(ENDED + 16 * DAY)
    release = h.release("k3", C, F3, 5_000, ENDED + 15 * DAY)
    assert ratings(h) == [(C, 500, 1), (C, 450, 2), (C, 467, 3)]
    # delivered again, and a second payment on the same contract: nothing new to say
    length = h.log_length()
    assert h.redeliver(next(e for e in h.published if e["event_id"] == release)) is False
    assert h.log_length() == length
    h.release("k3", C, F3, 1_000, ENDED + 16 * DAY)
    assert ratings(h) == [(C, 500, 1), (C, 450, 2), (C, 467, 3)]

    stats = h.call("client_stats", C, "client", client_id=C)
    assert stats["rating_received"] == {"count": 3, "sum": 14, "average_hundredths": 467}
