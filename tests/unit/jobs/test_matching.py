"""Best matches: each factor's points at its edges, the ranking, and its invariants."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.jobs.matching import (
    FreelancerProfile,
    best_matches,
    experience_reason,
    rate_reason,
    recency_reason,
    score_job,
    skill_reason,
)
from services.jobs.settings import MatchSettings
from shared.money import Money
from tests.unit.jobs.helpers import SECOND, T0

WEIGHTS = MatchSettings()
HOURLY = {
    "type": "hourly",
    "min": {"amount": 3000, "currency": "USD"},
    "max": {"amount": 5000, "currency": "USD"},
}
FIXED = {"type": "fixed", "amount": {"amount": 100_000, "currency": "USD"}}


def profile(rate=None, level="intermediate", skills=("Python", "Django")):
    return FreelancerProfile(
        "freelancer-1",
        frozenset(skills),
        Money(rate, "USD") if isinstance(rate, int) else rate,
        level,
    )


def row(
    job_id="job-1",
    skills=("Python", "Django"),
    budget=HOURLY,
    level="intermediate",
    age=timedelta(0),
    **extra,
):
    base = {
        "job_id": job_id,
        "client_id": "client-1",
        "status": "open",
        "client_suspended": False,
        "visibility": "public",
        "invitees": [],
        "skills": list(skills),
        "budget": budget,
        "experience_level": level,
        "published_at": T0 - age,
    }
    base.update(extra)
    return base


@pytest.mark.parametrize(
    ("job_skills", "points"),
    [
        (["Python", "Django"], 50),
        (["Python", "React"], 25),
        (["Python", "React", "Go"], 16),
        (["Go"], 0),
    ],
)
def test_skill_points_are_the_share_of_the_jobs_skills(job_skills, points):
    reason = skill_reason(job_skills, profile(), 50)
    assert reason["points"] == points and reason["max_points"] == 50


def test_skill_matching_ignores_case_and_names_the_shared_skills():
    reason = skill_reason(["PYTHON", "Go"], profile(), 50)
    assert reason["points"] == 25
    assert reason["detail"] == "You have 1 of 2 skills: PYTHON"


@pytest.mark.parametrize(
    ("rate", "points", "word"),
    [
        (2999, 25, "below"),
        (3000, 25, "within"),
        (5000, 25, "within"),  # the max itself
        (5001, 24, "above"),  # one cent above: just under full
        (7500, 12, "above"),
        (9999, 0, "above"),
        (10_000, 0, "above"),  # twice the max: nothing
        (20_000, 0, "above"),
    ],
)
def test_rate_fit_edges(rate, points, word):
    reason = rate_reason(HOURLY, profile(rate), 25)
    assert reason["points"] == points
    assert word in reason["detail"]


def test_rate_fit_without_evidence_or_in_another_currency():
    assert rate_reason(FIXED, profile(4000), 25)["points"] == 12
    assert rate_reason(HOURLY, profile(None), 25)["points"] == 12
    other = rate_reason(HOURLY, profile(Money(4000, "EUR")), 25)
    assert other["points"] == 0 and "EUR" in other["detail"]


@pytest.mark.parametrize(
    ("mine", "asked", "points"),
    [
        ("intermediate", "intermediate", 15),
        ("expert", "intermediate", 10),
        ("expert", "entry", 5),
        ("entry", "intermediate", 5),
        ("entry", "expert", 0),
        (None, "expert", 7),
    ],
)
def test_experience_points(mine, asked, points):
    assert experience_reason(asked, profile(level=mine), 15)["points"] == points


@pytest.mark.parametrize(
    ("age", "points"),
    [
        (timedelta(0), 10),
        (-timedelta(hours=1), 10),  # a clock skew never earns more than all the points
        (timedelta(days=14) - SECOND, 0),
        (timedelta(days=7), 5),
        (timedelta(days=14), 0),
        (timedelta(days=14) + SECOND, 0),
    ],
)
def test_recency_points_fall_to_zero_at_the_window(age, points):
    assert recency_reason(T0 - age, T0, WEIGHTS)["points"] == points


def test_recency_just_inside_the_window_still_counts_with_finer_points():
    fine = MatchSettings(recency_points=14 * 86400)
    assert recency_reason(T0 - (timedelta(days=14) - SECOND), T0, fine)["points"] == 1
    assert recency_reason(T0 - timedelta(days=14), T0, fine)["points"] == 0


def test_a_perfect_match_scores_100_with_four_reasons():
    match = score_job(row(), profile(4000), T0)
    assert match.score == 100
    assert [r["factor"] for r in match.reasons] == ["skills", "rate", "experience", "recency"]
    assert match.to_dict()["reasons"][0]["detail"] == "You have 2 of 2 skills: Python, Django"


def test_ranking_orders_by_score_then_newer_then_id():
    rows = [
        row("job-weak", skills=("Python", "Go", "React", "Figma")),
        row("job-b", age=timedelta(hours=1)),
        row("job-a", age=timedelta(hours=1)),
        row("job-best"),
        row("job-old", age=timedelta(days=20)),
    ]
    ranked = best_matches(rows, profile(4000), T0, limit=10)
    assert [m.job_id for m in ranked] == ["job-best", "job-a", "job-b", "job-old", "job-weak"]
    assert [m.job_id for m in best_matches(rows, profile(4000), T0, limit=2)] == [
        "job-best",
        "job-a",
    ]


def test_jobs_that_cannot_be_recommended_are_left_out():
    rows = [
        row("closed", status="closed"),
        row("suspended-client", client_suspended=True),
        row("hidden", visibility="invite_only"),
        row("invited", visibility="invite_only", invitees=["freelancer-1"]),
        row("own", client_id="freelancer-1"),
        row("no-skill", skills=("Go",)),
        row("signed-in", visibility="signed_in"),
    ]
    ranked = best_matches(rows, profile(4000), T0, limit=10)
    assert sorted(m.job_id for m in ranked) == ["invited", "signed-in"]


def test_min_overlap_zero_keeps_jobs_without_shared_skills():
    ranked = best_matches(
        [row("no-skill", skills=("Go",))], profile(), T0, 5, MatchSettings(min_skill_overlap=0)
    )
    assert [m.job_id for m in ranked] == ["no-skill"]


def test_match_settings_refuse_nonsense():
    with pytest.raises(ValueError):
        MatchSettings(skill_points=0, rate_points=0, experience_points=0, recency_points=0)
    with pytest.raises(ValueError):
        MatchSettings(recency_window=timedelta(0))


@given(
    job_skills=st.lists(
        st.sampled_from(["Python", "Django", "Go", "React", "SQL"]),
        min_size=1,
        max_size=5,
        unique=True,
    ),
    my_skills=st.frozensets(st.sampled_from(["Python", "Django", "Go", "React", "SQL"])),
    rate=st.one_of(st.none(), st.integers(min_value=1, max_value=1_000_000)),
    low=st.integers(min_value=1, max_value=50_000),
    spread=st.integers(min_value=0, max_value=50_000),
    level=st.sampled_from(["entry", "intermediate", "expert"]),
    mine=st.one_of(st.none(), st.sampled_from(["entry", "intermediate", "expert"])),
    age_s=st.integers(min_value=-86400, max_value=60 * 86400),
)
@settings(max_examples=300)
def test_score_is_the_sum_of_its_reasons_and_within_bounds(
    job_skills, my_skills, rate, low, spread, level, mine, age_s
):
    budget = {
        "type": "hourly",
        "min": {"amount": low, "currency": "USD"},
        "max": {"amount": low + spread, "currency": "USD"},
    }
    freelancer = FreelancerProfile("f", my_skills, Money(rate, "USD") if rate else None, mine)
    match = score_job(
        row(skills=job_skills, budget=budget, level=level, age=timedelta(seconds=age_s)),
        freelancer,
        T0,
    )
    assert match.score == sum(r["points"] for r in match.reasons)
    assert 0 <= match.score <= 100
    for reason in match.reasons:
        assert 0 <= reason["points"] <= reason["max_points"]
        assert isinstance(reason["points"], int)


@given(extra=st.integers(min_value=0, max_value=100_000))
def test_a_higher_rate_above_the_max_never_scores_more(extra):
    assert (
        rate_reason(HOURLY, profile(5000 + extra + 1), 25)["points"]
        <= rate_reason(HOURLY, profile(5000 + extra), 25)["points"]
    )
