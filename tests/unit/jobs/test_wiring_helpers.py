"""The small pure pieces the wiring adds: noted facts, settings from config, skill names."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.jobs.projections import (
    NOTED_CLIENT_FACTS,
    ClientStats,
    client_stats_after,
    noted_as_fold,
)
from services.jobs.settings import job_settings_from_config
from services.jobs.taxonomy import load_skill_names


def fold(events) -> ClientStats:
    stats = ClientStats(client_id="c1")
    for event_type, data in events:
        stats = client_stats_after(stats, *noted_as_fold(event_type, data))
    return stats


def test_noted_facts_fold_into_client_stats():
    money = {"amount": 1500, "currency": "USD"}
    stats = fold(
        [
            ("PaymentVerificationNoted", {"user_id": "c1", "verified_at": "t"}),
            ("MemberSuspensionNoted", {"user_id": "c1", "suspended": True, "at": "t"}),
            ("HireNoted", {"client_id": "c1", "job_id": "j1", "contract_id": "k1"}),
            ("SpendNoted", {"client_id": "c1", "amount": money}),
            ("SpendNoted", {"client_id": "c1", "amount": money}),
            ("MemberSuspensionNoted", {"user_id": "c1", "suspended": False, "at": "t"}),
            (
                "ClientRatingNoted",
                {
                    "client_id": "c1",
                    "average_rating_centi": 450,
                    "rating_count": 2,
                    "updated_at": "t",
                },
            ),
            (
                "ClientRatingNoted",
                {
                    "client_id": "c1",
                    "average_rating_centi": 467,
                    "rating_count": 3,
                    "updated_at": "t",
                },
            ),
        ]
    )
    assert stats.payment_verified and not stats.suspended
    assert stats.total_hires == 1 and stats.hired_job_ids == {"j1"}
    assert stats.spent == {"USD": 3000}
    # a rating replaces the one before: reputation sends the whole figure
    assert (stats.rating_centi, stats.rating_count) == (467, 3)
    assert set(NOTED_CLIENT_FACTS) == {
        "MemberSuspensionNoted",
        "PaymentVerificationNoted",
        "HireNoted",
        "SpendNoted",
        "ClientRatingNoted",
    }
    with pytest.raises(ValueError):
        noted_as_fold("JobCreated", {})


def test_settings_come_from_config_strings_with_defaults():
    settings = job_settings_from_config(
        {"JOB_EXPIRE_AFTER_SECONDS": "864000", "JOB_WARN_BEFORE_SECONDS": "86400"}
    )
    assert settings.expire_after == timedelta(days=10)
    assert settings.warn_before == timedelta(days=1)
    assert settings.max_saved_searches == 25
    with pytest.raises(ValueError):
        job_settings_from_config({"JOB_WARN_BEFORE_SECONDS": str(31 * 86400)})


def test_skill_names_are_read_from_identitys_seed_file(tmp_path):
    seed = tmp_path / "skills.txt"
    seed.write_text("# comment\n\n[Web]\nJavaScript | js, es6\nRust\n")
    assert load_skill_names(seed) == ("JavaScript", "Rust")
    shipped = load_skill_names()
    assert "Python" in shipped and "Kubernetes" in shipped and len(shipped) == len(set(shipped))
