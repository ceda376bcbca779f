from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.clock import (
    ManualClock,
    OffsetFileClock,
    advance_offset_clock,
    clock_from_config,
    manual_clock,
    system_clock,
)


def test_manual_clock_moves_only_when_told():
    clock = ManualClock(datetime(2026, 3, 2, 12, 0, tzinfo=UTC))
    assert clock.now() == clock.now()
    clock.advance(days=5)
    assert clock.now() == datetime(2026, 3, 7, 12, 0, tzinfo=UTC)
    with pytest.raises(ValueError):
        clock.set(datetime(2026, 1, 1))  # naive


def test_offset_clock_is_shared_through_its_file(tmp_path):
    path = str(tmp_path / "clock")
    first, second = OffsetFileClock(path), OffsetFileClock(path)
    assert abs((first.now() - datetime.now(UTC)).total_seconds()) < 1
    advance_offset_clock(path, timedelta(days=6))
    for clock in (first, second):
        assert (
            timedelta(days=6) - timedelta(seconds=1)
            < clock.now() - datetime.now(UTC)
            < timedelta(days=6, seconds=1)
        )
    advance_offset_clock(path, timedelta(hours=1))
    assert first.offset() == 6 * 86400 + 3600


def test_clock_from_config(tmp_path):
    assert clock_from_config({}) is system_clock
    assert clock_from_config({"CLOCK": "manual"}) is manual_clock
    offset = clock_from_config({"CLOCK": f"offset:{tmp_path / 'c'}"})
    assert isinstance(offset, OffsetFileClock)
    assert clock_from_config({"CLOCK": f"offset:{tmp_path / 'c'}"}) is offset
    with pytest.raises(ValueError):
        clock_from_config({"CLOCK": "sundial"})
