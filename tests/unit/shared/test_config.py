"""Yes/no settings read from config values that arrive as text (or YAML booleans)."""

import pytest

from shared.config import flag


@pytest.mark.parametrize("value", ["0", "false", "False", "NO", " off ", False, 0])
def test_the_off_spellings_are_no(value):
    assert flag({"X": value}, "X") is False


@pytest.mark.parametrize("value", ["1", "true", "yes", "on", True])
def test_anything_else_is_yes(value):
    assert flag({"X": value}, "X", default=False) is True


@pytest.mark.parametrize("config", [{}, {"X": None}, {"X": ""}, {"X": "  "}])
def test_absent_or_empty_takes_the_default(config):
    assert flag(config, "X") is True
    assert flag(config, "X", default=False) is False
