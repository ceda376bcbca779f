"""Fixtures of escrow's service tests: a real escrow container on throwaway PostgreSQL and
RabbitMQ, a manual clock, and a driver that calls RPCs as users and opens contracts by
publishing bidding's ``OfferAccepted``."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.escrow.service import EscrowService
from shared.clock import manual_clock
from tests.escrow.driver import EscrowDriver

# Monday 5 January 2026, 09:00 UTC.
START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


@pytest.fixture
def escrow_config(databases, rabbit_config, token_mint):
    return {
        "AMQP_URI": rabbit_config["AMQP_URI"],
        "DB_DSN": databases.create("escrow"),
        "RELAY_POLL_INTERVAL": 0.2,
        "CONSUMER_RETRY_DELAYS_MS": "100,200",
        # The timer would race the tests' own firing; tests fire deadlines by hand.
        "TIMER_INTERVAL": 3600,
        **token_mint.config(),
    }


@pytest.fixture
def escrow(container_factory, escrow_config, token_mint):
    manual_clock.set(START)
    container = container_factory(EscrowService, escrow_config)
    container.start()
    driver = EscrowDriver(container, token_mint, escrow_config)
    yield driver
    driver.close()
