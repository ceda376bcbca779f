"""Settings refuse values the formulas cannot use."""

from __future__ import annotations

import pytest

from services.reputation.settings import FeedbackSettings, ScoreSettings


def test_defaults_are_the_documented_ones():
    feedback = FeedbackSettings()
    assert (feedback.feedback_window_days, feedback.reply_window_days) == (14, 30)
    assert feedback.inactivity_days == 90
    score = ScoreSettings()
    assert score.lookback_days == 730
    assert (score.min_counted_contracts, score.min_distinct_clients) == (5, 3)


@pytest.mark.parametrize(
    "kwargs", [{"feedback_window_days": 0}, {"reply_window_days": -1}, {"inactivity_days": 1.5}]
)
def test_feedback_windows_must_be_positive_whole_days(kwargs):
    with pytest.raises(ValueError):
        FeedbackSettings(**kwargs)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"negative_rating_max": 4, "positive_rating_min": 4},
        {"positive_rating_min": 6},
        {"detractor_max": 9, "promoter_min": 9},
        {"lookback_days": 0},
        {"min_counted_contracts": 0},
        {"top_rated_min_score": -1},
        {"top_rated_min_points": 1.0},
    ],
)
def test_score_settings_are_checked(kwargs):
    with pytest.raises(ValueError):
        ScoreSettings(**kwargs)
