"""Badges by their published criteria, with every window boundary."""

from __future__ import annotations

from dataclasses import replace

import pytest

from services.reputation.badges import (
    RISING_TALENT,
    TOP_RATED,
    TOP_RATED_PLUS,
    evaluate_badges,
)
from services.reputation.domain import ContractFeedback, Member
from services.reputation.scoring import job_success_score
from services.reputation.settings import ScoreSettings

from .helpers import DAY, SECOND, T0, EventLog, play_contract, usd

SCORE = ScoreSettings()
AS_OF = T0 + 400 * DAY


def member(log: EventLog, registered_at, roles=("freelancer",), user="f1"):
    log.run(
        Member,
        user,
        "note_registered",
        source_event_id=f"reg-{user}",
        roles=list(roles),
        registered_at=registered_at,
    )


def good_history(log: EventLog, cents_each: int, count: int = 5, negative: int = 0) -> None:
    """``count`` positive contracts from three clients ending within the last year, and
    ``negative`` negative ones, each paid ``cents_each``."""
    clients = ["c1", "c2", "c3"]
    for n in range(count + negative):
        play_contract(
            log,
            f"G{n}",
            client=clients[n % 3],
            freelancer="f1",
            start=AS_OF - 100 * DAY + n * DAY,
            days=20,
            payments=(cents_each,),
            client_feedback=(5, 10) if n < count else (1, 0),
        )


def badges(log: EventLog, as_of=AS_OF, settings=SCORE):
    histories = log.contracts()
    score = job_success_score("f1", histories, as_of, settings)
    return evaluate_badges(log.member("f1"), histories, score, settings)


def failed(result, badge):
    return [c["name"] for c in result["criteria"][badge] if not c["passed"]]


def test_top_rated_worked_out_by_hand():
    # 5 x $200 = 1,000 points in the year, score 100 from 3 clients, account 400 days old.
    log = EventLog()
    member(log, AS_OF - 400 * DAY)
    good_history(log, 20_000)
    result = badges(log)
    assert result["badge"] == TOP_RATED
    assert failed(result, TOP_RATED_PLUS) == ["earnings_points_365_days"]
    points = next(
        c for c in result["criteria"][TOP_RATED] if c["name"] == "earnings_points_365_days"
    )
    assert points["actual"] == 1_000


def test_top_rated_plus_worked_out_by_hand():
    log = EventLog()
    member(log, AS_OF - 365 * DAY)
    good_history(log, 200_000)  # 10,000 points
    assert badges(log)["badge"] == TOP_RATED_PLUS


def test_just_short_of_top_rated_earnings_falls_back_to_rising_talent():
    log = EventLog()
    member(log, AS_OF - 400 * DAY)
    good_history(log, 19_999)  # 5 x 199 = 995 points
    result = badges(log)
    assert result["badge"] == RISING_TALENT
    assert failed(result, TOP_RATED) == ["earnings_points_365_days"]


def test_a_score_below_90_denies_top_rated_and_a_negative_denies_rising_talent():
    # 5 positives of weight 3 and 1 negative of weight 3: 15 / 18 = 83%.
    log = EventLog()
    member(log, AS_OF - 400 * DAY)
    good_history(log, 20_000, count=5, negative=1)
    result = badges(log)
    assert result["badge"] is None
    assert failed(result, TOP_RATED) == ["job_success_score"]
    assert failed(result, RISING_TALENT) == ["negative_outcomes"]


def test_a_newcomer_with_one_good_contract_is_rising_talent():
    log = EventLog()
    member(log, AS_OF - 10 * DAY)
    good_history(log, 5_000, count=1)
    result = badges(log)
    assert result["badge"] == RISING_TALENT
    assert "job_success_score" in failed(result, TOP_RATED)


def test_nobody_gets_a_badge_without_a_positive_outcome():
    log = EventLog()
    member(log, AS_OF - 10 * DAY)
    assert badges(log)["badge"] is None


def test_a_client_account_gets_no_badge():
    log = EventLog()
    member(log, AS_OF - 400 * DAY, roles=("client",))
    good_history(log, 20_000)
    result = badges(log)
    assert result["badge"] is None
    assert "freelancer_account" in failed(result, RISING_TALENT)


def test_an_unknown_member_gets_no_badge():
    log = EventLog()
    good_history(log, 20_000)
    assert badges(log)["badge"] is None


@pytest.mark.parametrize(
    ("age", "badge"),
    [(90 * DAY - SECOND, RISING_TALENT), (90 * DAY, TOP_RATED), (90 * DAY + SECOND, TOP_RATED)],
)
def test_account_age_boundary_for_top_rated(age, badge):
    log = EventLog()
    member(log, AS_OF - age)
    good_history(log, 20_000)
    assert badges(log)["badge"] == badge


@pytest.mark.parametrize(
    ("age", "badge"),
    [
        (365 * DAY - SECOND, TOP_RATED),
        (365 * DAY, TOP_RATED_PLUS),
        (365 * DAY + SECOND, TOP_RATED_PLUS),
    ],
)
def test_account_age_boundary_for_top_rated_plus(age, badge):
    log = EventLog()
    member(log, AS_OF - age)
    good_history(log, 200_000)
    assert badges(log)["badge"] == badge


@pytest.mark.parametrize(
    ("suspended_ago", "badge"),
    [(90 * DAY + SECOND, TOP_RATED), (90 * DAY, TOP_RATED), (90 * DAY - SECOND, None)],
)
def test_violation_window_boundary(suspended_ago, badge):
    log = EventLog()
    member(log, AS_OF - 400 * DAY)
    good_history(log, 20_000)
    log.run(
        Member,
        "f1",
        "note_suspended",
        source_event_id="s",
        reason="spam",
        suspended_at=AS_OF - suspended_ago,
    )
    log.run(
        Member,
        "f1",
        "note_reinstated",
        source_event_id="r",
        reinstated_at=AS_OF - suspended_ago + SECOND,
    )
    assert badges(log)["badge"] == badge


def test_a_member_suspended_now_has_no_badge_however_old_the_suspension():
    log = EventLog()
    member(log, AS_OF - 400 * DAY)
    good_history(log, 20_000)
    log.run(Member, "f1", "note_suspended", source_event_id="s", reason="x", suspended_at=T0)
    result = badges(log)
    assert result["badge"] is None
    assert failed(result, TOP_RATED) == ["no_recent_violation"]


@pytest.mark.parametrize(
    ("paid_ago", "badge"),
    [
        (365 * DAY + SECOND, RISING_TALENT),
        (365 * DAY, RISING_TALENT),
        (365 * DAY - SECOND, TOP_RATED),
    ],
)
def test_earnings_window_boundary(paid_ago, badge):
    # 5 x $100 in the contracts, plus a $500 payment at the boundary on the first one.
    log = EventLog()
    member(log, AS_OF - 400 * DAY)
    good_history(log, 10_000)
    log.run(
        ContractFeedback,
        "G0",
        "note_payment",
        source_event_id="old-pay",
        amount=usd(50_000),
        paid_at=AS_OF - paid_ago,
    )
    assert badges(log)["badge"] == badge


def test_badges_as_of_a_past_date():
    log = EventLog()
    member(log, AS_OF - 400 * DAY)
    good_history(log, 20_000)
    # Contract n ends at AS_OF - 80 + n days; its client feedback is revealed when its window
    # closes 14 days later (the freelancer never submits). At AS_OF - 64 days only three were
    # revealed, so the score was not shown yet.
    early = AS_OF - 64 * DAY
    assert job_success_score("f1", log.contracts(), early, SCORE).counted_contracts == 3
    assert badges(log, as_of=early)["badge"] == RISING_TALENT
    assert badges(log, as_of=AS_OF)["badge"] == TOP_RATED


def test_thresholds_come_from_the_settings():
    log = EventLog()
    member(log, AS_OF - 400 * DAY)
    good_history(log, 20_000)
    assert badges(log, settings=replace(SCORE, top_rated_min_points=1_001))["badge"] == (
        RISING_TALENT
    )
