"""The rating a client received, as reputation publishes it: ClientRatingUpdated."""

from __future__ import annotations

import pytest

from services.reputation.domain import Member, average_centi
from services.reputation.stats import ratings_exchanged
from shared.clock import iso
from shared.errors import ValidationError

from .helpers import DAY, T0, EventLog, given, play_contract


def rated(centi, count, at=T0):
    return (
        "ClientRatingUpdated",
        {
            "client_id": "c1",
            "average_rating_centi": centi,
            "rating_count": count,
            "updated_at": iso(at),
        },
    )


@pytest.mark.parametrize(
    ("total", "count", "centi"),
    [
        (0, 0, None),
        (4, 1, 400),
        (14, 3, 467),  # 4.6666.. rounds up
        (13, 3, 433),  # 4.3333.. rounds down
        (9, 8, 113),  # 1.125 exactly: half rounds up
        (7, 8, 88),  # 0.875: half rounds up
        (5 + 5 + 4 + 4 + 4 + 4 + 4 + 4, 8, 425),
        (10_000_001, 3, 333_333_367),  # exact integer arithmetic, no float drift
    ],
)
def test_average_in_hundredths_rounds_half_up(total, count, centi):
    assert average_centi(total, count) == centi


def test_a_new_rating_records_the_whole_figure():
    member = given(Member, "c1", [])
    member.note_client_rating(ratings=[5, 4, 5], updated_at=T0 + DAY)
    [event] = member.pending
    assert event.type == "ClientRatingUpdated" and event.stream == "member-c1"
    assert event.data == {
        "client_id": "c1",
        "average_rating_centi": 467,
        "rating_count": 3,
        "updated_at": iso(T0 + DAY),
    }
    assert (member.rating_centi, member.rating_count) == (467, 3)


def test_an_unchanged_rating_records_nothing():
    member = given(Member, "c1", [rated(467, 3)])
    member.note_client_rating(ratings=[4, 5, 5], updated_at=T0 + DAY)
    assert member.pending == []
    # no ratings yet is the starting state: nothing to say
    fresh = given(Member, "c2", [])
    fresh.note_client_rating(ratings=[], updated_at=T0)
    assert fresh.pending == []


def test_same_average_with_another_count_is_a_change():
    member = given(Member, "c1", [rated(400, 1)])
    member.note_client_rating(ratings=[4, 4], updated_at=T0 + DAY)
    member.note_client_rating(ratings=[4, 4], updated_at=T0 + 2 * DAY)  # again: nothing
    assert [(e.data["average_rating_centi"], e.data["rating_count"]) for e in member.pending] == [
        (400, 2)
    ]


def test_ratings_out_of_range_are_refused():
    with pytest.raises(ValidationError):
        given(Member, "c1", []).note_client_rating(ratings=[6], updated_at=T0)


def test_received_ratings_count_revealed_feedback_on_paid_contracts_only():
    log = EventLog()
    play_contract(
        log,
        "A",
        client="c1",
        freelancer="f1",
        start=T0,
        days=10,
        payments=(10_000,),
        client_feedback=(5, 10),
        freelancer_feedback=(4, 9),
    )
    play_contract(  # unpaid: its feedback is not counted
        log, "B", client="c1", freelancer="f2", start=T0, days=10, freelancer_feedback=(1, 0)
    )
    play_contract(  # another client's
        log,
        "C",
        client="c2",
        freelancer="f1",
        start=T0,
        days=5,
        payments=(99,),
        freelancer_feedback=(2, 3),
    )
    given_ratings, received = ratings_exchanged("c1", log.contracts())
    assert (given_ratings, received) == ([5], [4])
    # the history fold reads the published event back
    log.run(Member, "c1", "note_client_rating", ratings=received, updated_at=T0 + 20 * DAY)
    assert log.member("c1").client_ratings[-1][:3] == (T0 + 20 * DAY, 400, 1)
