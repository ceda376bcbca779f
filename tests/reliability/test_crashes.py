"""Crash: while hire-to-paid flows run over RPC, every service in turn is killed with
SIGKILL at a random moment and started again, two rounds over the six. Afterwards every
flow has completed (a step that failed, with a typed error, was retried under its same
idempotency key), every event reached every consumer, nothing is parked, the ledger holds,
no money moved twice, and every read model equals its rebuild from the log."""

from __future__ import annotations

import random

import eventlet
import pytest

from tests.reliability.platform import SERVICES, FlowDriver, check_everything

ROUNDS = 2  # every service killed this many times, in a shuffled order each round


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_every_service_killed_in_turn_mid_load(process_cluster, crash_tally):
    cluster = process_cluster
    # a short call timeout: a call caught by a kill times out and is sent again under its
    # key while the first request, redelivered to the restarted service, also runs
    driver = FlowDriver(cluster.amqp_uri, call_timeout=4.0)
    order = []
    for _ in range(ROUNDS):
        this_round = list(SERVICES)
        random.shuffle(this_round)
        order += this_round
    done = []

    def killer():
        eventlet.sleep(2.0)  # let the first flows get going
        for service in order:
            eventlet.sleep(random.uniform(0.5, 3.0))
            cluster.kill(service)
            eventlet.sleep(
                random.uniform(0.0, 5.0)
            )  # down for a moment, or longer than a call waits
            cluster.restart(service)
            crash_tally.kills[service] += 1
        done.append(True)

    killing = eventlet.spawn(killer)
    try:
        driver.run_until(lambda: bool(done), workers=4, minimum=8)
    finally:
        killing.wait()
    assert cluster.all_running()
    assert sorted(service for service, _ in cluster.kills) == sorted(SERVICES * ROUNDS)
    try:
        summary = check_everything(cluster.dsns, driver)
    except AssertionError as exc:
        crash_tally.lost.append(f"crash: {str(exc)[:300]}")
        raise
    crash_tally.add_run(driver, summary)
