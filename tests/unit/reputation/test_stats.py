"""Client stats as of any moment."""

from __future__ import annotations

from services.reputation.domain import Member
from services.reputation.stats import client_stats, rating_average

from .helpers import DAY, SECOND, T0, EventLog, play_contract


def client_log() -> EventLog:
    log = EventLog()
    log.run(
        Member, "c1", "note_registered", source_event_id="r", roles=["client"], registered_at=T0
    )
    for n, job in enumerate(["job-A", "job-B", "job-Z"]):
        log.run(Member, "c1", "note_job_posted", source_event_id=f"jp{n}", job_id=job, posted_at=T0)
    # Hired on A (paid, both rated) and B (unpaid, both rated); Z never hired.
    play_contract(
        log,
        "A",
        client="c1",
        freelancer="f1",
        start=T0 + DAY,
        days=10,
        payments=(10_000, 2_550),
        client_feedback=(5, 10),
        freelancer_feedback=(4, 9),
    )
    play_contract(
        log,
        "B",
        client="c1",
        freelancer="f2",
        start=T0 + DAY,
        days=10,
        client_feedback=(1, 0),
        freelancer_feedback=(1, 0),
    )
    # Another client's contract.
    play_contract(log, "C", client="c2", freelancer="f1", start=T0, days=5, payments=(99,))
    return log


def test_client_stats_worked_out_by_hand():
    log = client_log()
    stats = client_stats("c1", log.member("c1"), log.contracts(), T0 + 100 * DAY)
    assert stats["jobs_posted"] == 3
    assert stats["hires"] == 2
    assert stats["hired_jobs"] == 2
    assert stats["hire_rate_percent"] == 67  # 2 / 3 rounded half up
    assert stats["total_spent"] == [{"amount": 12_550, "currency": "USD"}]
    # Only the paid contract A counts for ratings.
    assert stats["rating_given"] == {"count": 1, "sum": 5, "average_hundredths": 500}
    assert stats["rating_received"] == {"count": 1, "sum": 4, "average_hundredths": 400}
    assert stats["payment_verified"] is False


def test_stats_as_of_a_past_moment():
    log = client_log()
    log.run(Member, "c1", "note_payment_verified", source_event_id="v", verified_at=T0 + 5 * DAY)
    # A ends at T0 + 11 days, both submit a day later: revealed at T0 + 12 days.
    revealed = T0 + 12 * DAY
    before = client_stats("c1", log.member("c1"), log.contracts(), revealed - SECOND)
    at = client_stats("c1", log.member("c1"), log.contracts(), revealed)
    assert before["rating_given"]["count"] == 0
    assert at["rating_given"]["count"] == 1
    assert before["payment_verified"] is True
    early = client_stats("c1", log.member("c1"), log.contracts(), T0 + DAY - SECOND)
    assert early["hires"] == 0
    assert early["payment_verified"] is False
    assert early["total_spent"] == []


def test_a_client_with_no_history():
    stats = client_stats("nobody", None, [], T0)
    assert stats["jobs_posted"] == 0
    assert stats["hire_rate_percent"] is None
    assert stats["rating_given"]["average_hundredths"] is None
    assert stats["member_since"] is None


def test_rating_average_rounds_half_up_in_hundredths():
    assert rating_average([5, 4, 4])["average_hundredths"] == 433  # 4.333..
    assert rating_average([5, 4, 4, 4, 4, 4])["average_hundredths"] == 417  # 4.1666..
    assert rating_average([1, 2])["average_hundredths"] == 150
