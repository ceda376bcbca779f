"""The Job Success Score on histories played through the domain, worked out by hand."""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction

import pytest
from hypothesis import given as hgiven
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from services.reputation.domain import ContractFeedback
from services.reputation.projections import MoneyFact, contract_history
from services.reputation.scoring import (
    NEGATIVE,
    NEUTRAL,
    POSITIVE,
    _half_up_percent,
    contract_outcome,
    contract_weight,
    earnings_points,
    job_success_score,
)
from services.reputation.settings import FeedbackSettings, ScoreSettings
from shared.clock import parse_time
from shared.money import Money

from .helpers import DAY, SECOND, T0, EventLog, play_contract, usd

SCORE = ScoreSettings()
AS_OF = T0 + 400 * DAY


def fixed_history() -> EventLog:
    """Nine contracts of freelancer f1; the expected outcome and weight of each are in the
    comments (weight = earnings tier + duration tier)."""
    log = EventLog()
    # A: $50 (50 points, tier 1), 10 days (tier 1): weight 2; 5 stars, 10 -> positive.
    play_contract(
        log,
        "A",
        client="c1",
        freelancer="f1",
        start=T0,
        days=10,
        payments=(5_000,),
        client_feedback=(5, 10),
    )
    # B: $1,500 (tier 3), 45 days (tier 2): weight 5; 4 stars, 8 -> positive (rating).
    play_contract(
        log,
        "B",
        client="c2",
        freelancer="f1",
        start=T0,
        days=45,
        payments=(100_000, 50_000),
        client_feedback=(4, 8),
        freelancer_feedback=(5, 10),
    )
    # C: $12,000 (tier 4), 200 days (tier 3): weight 7; 2 stars, 3 -> negative.
    play_contract(
        log,
        "C",
        client="c3",
        freelancer="f1",
        start=T0,
        days=200,
        payments=(1_200_000,),
        client_feedback=(2, 3),
    )
    # D: $300, no feedback, nothing wrong -> neutral, not counted.
    play_contract(log, "D", client="c1", freelancer="f1", start=T0, days=20, payments=(30_000,))
    # E: nothing paid, $200 refunded, 60 days (tier 2) + 0 points (tier 1): weight 3; negative.
    play_contract(log, "E", client="c4", freelancer="f1", start=T0, days=60, refunds=(20_000,))
    # F: $100 (100 points, tier 2), exactly 30 days (tier 2): weight 4; 5 stars, 9 -> positive.
    play_contract(
        log,
        "F",
        client="c2",
        freelancer="f1",
        start=T0,
        days=30,
        payments=(10_000,),
        client_feedback=(5, 9),
    )
    # H: $999.99 (999 points, tier 2), 29 days (tier 1): weight 3; a lost dispute makes it
    # negative even with 5 stars.
    play_contract(
        log,
        "H",
        client="c4",
        freelancer="f1",
        start=T0,
        days=29,
        payments=(99_999,),
        dispute=(40_000, 60_000),
        client_feedback=(5, 10),
    )
    # I: ended for inactivity, $500 (tier 2), 100 days (tier 2): weight 4; negative.
    play_contract(
        log,
        "I",
        client="c5",
        freelancer="f1",
        start=T0,
        days=100,
        payments=(50_000,),
        end_reason="inactivity",
    )
    # G: ended 800 days before the as-of time: outside the 24 months, not listed.
    play_contract(
        log,
        "G",
        client="c3",
        freelancer="f1",
        start=AS_OF - 810 * DAY,
        days=10,
        payments=(5_000,),
        client_feedback=(1, 0),
    )
    # Another freelancer's contract is never listed.
    play_contract(
        log,
        "X",
        client="c1",
        freelancer="f2",
        start=T0,
        days=10,
        payments=(5_000,),
        client_feedback=(1, 0),
    )
    return log


def test_the_score_of_the_fixed_history_worked_out_by_hand():
    report = job_success_score("f1", fixed_history().contracts(), AS_OF, SCORE)
    # positive: A 2 + B 5 + F 4 = 11; negative: C 7 + E 3 + H 3 + I 4 = 17; 100*11/28=39.29
    assert report.positive_weight == 11
    assert report.negative_weight == 17
    assert report.score == 39
    assert report.counted_contracts == 7
    assert report.distinct_clients == 5
    rows = {row["contract_id"]: row for row in report.contracts}
    assert set(rows) == {"A", "B", "C", "D", "E", "F", "H", "I"}
    counted = {cid for cid, row in rows.items() if row["counted"]}
    assert counted == {"A", "B", "C", "E", "F", "H", "I"}
    assert {cid: row["weight"] for cid, row in rows.items()} == {
        "A": 2,
        "B": 5,
        "C": 7,
        "D": 0,
        "E": 3,
        "F": 4,
        "H": 3,
        "I": 4,
    }
    assert {cid: row["outcome"] for cid, row in rows.items()} == {
        "A": POSITIVE,
        "B": POSITIVE,
        "C": NEGATIVE,
        "D": NEUTRAL,
        "E": NEGATIVE,
        "F": POSITIVE,
        "H": NEGATIVE,
        "I": NEGATIVE,
    }
    assert rows["C"]["negative_signals"] == ["low_rating", "not_recommended"]
    assert rows["E"]["negative_signals"] == ["refunded_unpaid"]
    assert rows["H"]["negative_signals"] == ["dispute_lost"]
    assert rows["H"]["positive_signals"] == ["high_rating", "recommended"]
    assert rows["I"]["negative_signals"] == ["long_inactivity"]
    assert rows["B"]["positive_signals"] == ["high_rating"]


def test_the_explanation_names_the_events_behind_each_contract():
    log = fixed_history()
    report = job_success_score("f1", log.contracts(), AS_OF, SCORE)
    row = next(r for r in report.explanation()["contracts"] if r["contract_id"] == "A")
    stream = log.streams["feedback-A"]
    by_type = {e.type: e.id for e in stream}
    assert row["event_ids"] == [
        by_type["ContractTracked"],
        by_type["FeedbackWindowOpened"],
        by_type["PaymentNoted"],
        by_type["FeedbackSubmitted"],
        by_type["FeedbackRevealed"],
    ]
    assert row["source_event_ids"] == ["A-started", "A-ended", "A-paid-0"]
    body = report.explanation()
    assert body["settings"] == SCORE.to_dict()
    assert body["formula_version"] == "jss-1"
    assert report.summary()["score"] == 39


def test_the_score_is_hidden_until_enough_contracts_and_clients():
    contracts = fixed_history().contracts()
    # 7 counted from 5 clients.
    assert job_success_score("f1", contracts, AS_OF, replace(SCORE, min_counted_contracts=7)).shown
    assert not job_success_score(
        "f1", contracts, AS_OF, replace(SCORE, min_counted_contracts=8)
    ).shown
    assert job_success_score("f1", contracts, AS_OF, replace(SCORE, min_distinct_clients=5)).shown
    hidden = job_success_score("f1", contracts, AS_OF, replace(SCORE, min_distinct_clients=6))
    assert hidden.score is None
    assert hidden.summary()["shown"] is False


def test_a_freelancer_with_no_contracts_has_no_score():
    report = job_success_score("nobody", fixed_history().contracts(), AS_OF, SCORE)
    assert report.score is None
    assert report.contracts == []


def one_contract(log=None, **kwargs):
    log = log or EventLog()
    base = {"client": "c1", "freelancer": "f1", "start": T0, "days": 10, "payments": (5_000,)}
    base.update(kwargs)
    play_contract(log, "K", **base)
    return log.contract("K")


END = T0 + 10 * DAY


@pytest.mark.parametrize(
    ("ended_at", "listed"),
    [
        (AS_OF - 730 * DAY - SECOND, False),
        (AS_OF - 730 * DAY, False),
        (AS_OF - 730 * DAY + SECOND, True),
    ],
)
def test_the_lookback_window_starts_after_24_months(ended_at, listed):
    history = one_contract(start=ended_at - 10 * DAY, client_feedback=(5, 10))
    report = job_success_score("f1", [history], AS_OF, SCORE)
    assert bool(report.contracts) is listed


@pytest.mark.parametrize(
    ("as_of", "listed"), [(END - SECOND, False), (END, True), (END + SECOND, True)]
)
def test_a_contract_counts_from_its_end(as_of, listed):
    history = one_contract(close=False)
    assert bool(job_success_score("f1", [history], as_of, SCORE).contracts) is listed


@pytest.mark.parametrize(
    ("idle", "inactive"),
    [(90 * DAY - SECOND, False), (90 * DAY, True), (90 * DAY + SECOND, True)],
)
def test_long_inactivity_boundary(idle, inactive):
    # Paid a day after the start, then nothing until the end.
    log = EventLog()
    history = one_contract(log, days=DAY + idle, payments=(), client_feedback=(5, 10), close=False)
    log.run(
        ContractFeedback,
        "K",
        "note_payment",
        source_event_id="paid",
        amount=usd(5_000),
        paid_at=T0 + DAY,
    )
    history = log.contract("K")
    result = contract_outcome(history, AS_OF + 200 * DAY, SCORE)
    assert ("long_inactivity" in result.negative_signals) is inactive
    # Without the payment, the idle time counts from the start: one day longer.
    assert (
        "long_inactivity"
        in contract_outcome(
            one_contract(days=DAY + idle, payments=()), AS_OF + 200 * DAY, SCORE
        ).negative_signals
    )


def test_inactivity_uses_the_limit_recorded_at_the_start():
    settings = FeedbackSettings(inactivity_days=20)
    history = one_contract(days=25, payments=(), settings=settings)
    assert contract_outcome(history, AS_OF, SCORE).negative_signals == ("long_inactivity",)
    default = one_contract(days=25, payments=())
    assert contract_outcome(default, AS_OF, SCORE).outcome == NEUTRAL


def test_client_feedback_counts_only_from_its_reveal():
    # The client submits a day after the end; the freelancer never does: revealed at close.
    history = one_contract(client_feedback=(1, 0))
    reveal = END + 14 * DAY
    assert contract_outcome(history, reveal - SECOND, SCORE).outcome == NEUTRAL
    assert contract_outcome(history, reveal, SCORE).outcome == NEGATIVE
    assert contract_outcome(history, reveal + SECOND, SCORE).outcome == NEGATIVE


def test_the_freelancers_own_feedback_does_not_count():
    history = one_contract(freelancer_feedback=(1, 0))
    assert contract_outcome(history, AS_OF, SCORE).outcome == NEUTRAL


@pytest.mark.parametrize(
    ("rating", "recommend", "outcome"),
    [
        (2, 7, NEGATIVE),
        (3, 7, NEUTRAL),
        (4, 7, POSITIVE),
        (3, 6, NEGATIVE),
        (3, 9, POSITIVE),
        (5, 6, NEGATIVE),
        (1, 10, NEGATIVE),
    ],
)
def test_feedback_bands(rating, recommend, outcome):
    history = one_contract(client_feedback=(rating, recommend))
    assert contract_outcome(history, AS_OF, SCORE).outcome == outcome


def test_a_partial_refund_with_payment_is_not_negative():
    history = one_contract(refunds=(100,))
    assert contract_outcome(history, AS_OF, SCORE).outcome == NEUTRAL


@pytest.mark.parametrize(
    ("points", "tier"),
    [(0, 1), (99, 1), (100, 2), (999, 2), (1_000, 3), (9_999, 3), (10_000, 4), (10**7, 4)],
)
def test_earnings_tiers(points, tier):
    assert contract_weight(points, 0)[1] == tier


@pytest.mark.parametrize(
    ("days", "tier"), [(0, 1), (29, 1), (30, 2), (179, 2), (180, 3), (5_000, 3)]
)
def test_duration_tiers(days, tier):
    assert contract_weight(0, days)[2] == tier


@pytest.mark.parametrize(
    ("length", "days"),
    [(30 * DAY - SECOND, 29), (30 * DAY, 30), (30 * DAY + SECOND, 30)],
)
def test_duration_is_counted_in_whole_days(length, days):
    history = one_contract(days=length, client_feedback=(5, 10))
    row = job_success_score("f1", [history], AS_OF, SCORE).contracts[0]
    assert row["duration_days"] == days
    assert row["duration_tier"] == (1 if days < 30 else 2)


def test_earnings_points_floor_per_currency_total():

    facts = [
        MoneyFact(Money(150, "USD"), T0, "e1", "s1"),
        MoneyFact(Money(150, "USD"), T0, "e2", "s2"),
        MoneyFact(Money(199, "JPY"), T0, "e3", "s3"),
    ]
    assert earnings_points(facts) == 3 + 1


def test_payments_after_the_as_of_time_do_not_weigh():
    log = EventLog()
    history = one_contract(log, client_feedback=(5, 10))
    log.run(
        ContractFeedback,
        "K",
        "note_payment",
        source_event_id="late",
        amount=usd(1_000_000),
        paid_at=AS_OF + DAY,
    )
    history = log.contract("K")
    assert job_success_score("f1", [history], AS_OF, SCORE).contracts[0]["earnings_points"] == 50
    later = job_success_score("f1", [history], AS_OF + DAY, SCORE)
    assert later.contracts[0]["earnings_points"] == 10_050


# -- properties --------------------------------------------------------------------------


@hgiven(st.integers(min_value=0, max_value=10**6), st.integers(min_value=1, max_value=10**6))
def test_half_up_percent_matches_exact_rounding(part, extra):
    whole = part + extra
    exact = Fraction(100 * part, whole)
    assert _half_up_percent(part, whole) == int(exact + Fraction(1, 2))


contract_plan = st.fixed_dictionaries(
    {
        "client": st.sampled_from(["c1", "c2", "c3", "c4"]),
        "days": st.integers(min_value=1, max_value=400),
        "payments": st.lists(st.integers(min_value=1, max_value=2_000_000), max_size=3).map(tuple),
        "refunds": st.lists(st.integers(min_value=1, max_value=100_000), max_size=1).map(tuple),
        "client_feedback": st.none()
        | st.tuples(st.integers(min_value=1, max_value=5), st.integers(min_value=0, max_value=10)),
        "end_reason": st.sampled_from(["completed", "inactivity", "cancelled"]),
    }
)


def play_all(plans, twice=False) -> EventLog:
    log = EventLog()
    for n, plan in enumerate(plans):
        play_contract(log, f"P{n}", freelancer="f1", start=T0 + n * DAY, **plan)
        if twice:
            replay_escrow_events(log, f"P{n}")
    return log


def replay_escrow_events(log: EventLog, contract_id: str) -> None:
    """Consume every escrow fact of a contract a second time, as a redelivery would."""
    for event in list(log.streams[f"feedback-{contract_id}"]):
        d = event.data
        if event.type == "PaymentNoted":
            log.run(
                ContractFeedback,
                contract_id,
                "note_payment",
                source_event_id=d["source_event_id"],
                amount=Money.from_dict(d["amount"]),
                paid_at=parse_time(d["paid_at"]),
            )
        elif event.type == "FeedbackWindowOpened":
            log.run(
                ContractFeedback,
                contract_id,
                "note_contract_ended",
                source_event_id=d["source_event_id"],
                ended_at=parse_time(d["ended_at"]),
                end_reason=d["end_reason"],
                settings=FeedbackSettings(),
            )


@hsettings(max_examples=40, deadline=None)
@hgiven(st.lists(contract_plan, max_size=8))
def test_score_is_bounded_order_free_and_unmoved_by_redelivery(plans):
    log = play_all(plans)
    histories = log.contracts()
    report = job_success_score("f1", histories, AS_OF, SCORE)
    assert report.score is None or 0 <= report.score <= 100
    assert report.positive_weight + report.negative_weight == sum(
        row["weight"] for row in report.contracts
    )
    reversed_report = job_success_score("f1", list(reversed(histories)), AS_OF, SCORE)
    assert reversed_report.explanation() == report.explanation()
    twice = play_all(plans, twice=True)
    assert twice.count == log.count  # the redelivered events recorded nothing
    again = job_success_score("f1", twice.contracts(), AS_OF, SCORE)
    assert again.explanation() == report.explanation()


@hsettings(max_examples=25, deadline=None)
@hgiven(st.lists(contract_plan, min_size=1, max_size=6))
def test_rebuilding_from_the_log_gives_the_identical_score(plans):
    log = play_all(plans)
    live = job_success_score("f1", log.contracts(), AS_OF, SCORE).explanation()

    rebuilt = [
        contract_history(stream.split("-", 1)[1], list(events))
        for stream, events in log.streams.items()
    ]
    assert job_success_score("f1", rebuilt, AS_OF, SCORE).explanation() == live
