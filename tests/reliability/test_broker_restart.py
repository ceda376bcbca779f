"""Broker restart: RabbitMQ's application is stopped for 10 s and started again while
hire-to-paid flows run. The service processes reconnect by themselves (none is restarted),
the relays catch up, and no event is lost; the usual checks follow.

Disruptive for anyone else using the broker, so slow-marked (``make test-reliability``)."""

from __future__ import annotations

import eventlet
import pytest

from tests.reliability.platform import (
    SERVICES,
    FlowDriver,
    broker_outage,
    check_everything,
    restore_broker,
)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_broker_stopped_for_ten_seconds_mid_load(process_cluster, crash_tally):
    cluster = process_cluster
    pids = {service: cluster.procs[service].pid for service in SERVICES}
    driver = FlowDriver(cluster.amqp_uri, step_deadline=180.0)
    done = []

    def outage():
        try:
            eventlet.sleep(3.0)
            broker_outage(10.0)
        finally:
            done.append(True)

    stopping = eventlet.spawn(outage)
    try:
        driver.run_until(lambda: bool(done), workers=4, minimum=8)
    finally:
        stopping.wait()
        restore_broker()
    # nobody was restarted: the same processes answer again
    assert cluster.all_running()
    assert {service: cluster.procs[service].pid for service in SERVICES} == pids
    for service in SERVICES:
        cluster.wait_healthy(service, timeout=60)
    try:
        summary = check_everything(cluster.dsns, driver)
    except AssertionError as exc:
        crash_tally.lost.append(f"broker restart: {str(exc)[:300]}")
        raise
    crash_tally.outages["broker"] += 1
    crash_tally.add_run(driver, summary)
