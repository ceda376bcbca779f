"""Settings refuse inconsistent values; the password policy follows them."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.identity.passwords import PasswordPolicy
from services.identity.settings import DEFAULT_SETTINGS, IdentitySettings, seconds
from shared.money import Money


def test_documented_defaults():
    assert DEFAULT_SETTINGS.access_token_lifetime == timedelta(minutes=15)
    assert DEFAULT_SETTINGS.refresh_token_lifetime == timedelta(days=30)
    assert DEFAULT_SETTINGS.email_verification_lifetime == timedelta(hours=24)
    assert DEFAULT_SETTINGS.max_skills == 15
    assert seconds(DEFAULT_SETTINGS.access_token_lifetime) == 900


@pytest.mark.parametrize(
    "kwargs",
    [
        {"access_token_lifetime": timedelta(0)},
        {"refresh_token_lifetime": timedelta(seconds=-1)},
        {"email_verification_lifetime": timedelta(0)},
        {"key_retirement_grace": timedelta(seconds=-1)},
        {"password_min_length": 0},
        {"password_min_length": 20, "password_max_length": 10},
        {"min_hourly_rate": Money(300, "EUR")},
        {"min_hourly_rate": Money(0, "USD")},
        {"min_hourly_rate": Money(200_000, "USD")},
    ],
)
def test_inconsistent_settings_are_refused(kwargs):
    with pytest.raises(ValueError):
        IdentitySettings(**kwargs)


def test_policy_from_settings():
    policy = PasswordPolicy.from_settings(IdentitySettings(password_min_length=16))
    assert policy.problems("fifteen chars!!") == ["Must be at least 16 characters long."]
