from __future__ import annotations

import pytest

from services.reputation.service import ReputationService
from shared.clock import manual_clock
from tests.reputation.harness import START, Harness


@pytest.fixture
def reputation(container_factory, rabbit_config, databases, token_mint):
    """A running reputation service on a fresh database and vhost, the clock at START."""
    manual_clock.set(START)
    dsn = databases.create("reputation")
    config = {
        "AMQP_URI": rabbit_config["AMQP_URI"],
        "DB_DSN": dsn,
        "RELAY_POLL_INTERVAL": 0.2,
        "CONSUMER_RETRY_DELAYS_MS": "100,200",
        # tests fire deadlines themselves after moving the clock
        "TIMER_INTERVAL": 3600,
        **token_mint.config(),
    }
    container = container_factory(ReputationService, config)
    container.start()
    return Harness(container, dsn, rabbit_config["AMQP_URI"], token_mint)
