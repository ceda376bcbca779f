"""Database restart: PostgreSQL is restarted (fast shutdown: sessions cut, transactions in
flight rolled back) while hire-to-paid flows run. A command in flight either fails, and its
retry under the same idempotency key completes it, or succeeds; none is half-applied (the
read models equal their rebuilds, the ledger holds, no money moved twice); the services
recover without being restarted.

Disruptive for anyone else using the server, so slow-marked (``make test-reliability``)."""

from __future__ import annotations

import eventlet
import pytest

from tests.reliability.platform import (
    SERVICES,
    FlowDriver,
    check_everything,
    database_restart,
    restore_database,
)

# what a caller may see from a service whose database connection was just cut: the
# driver's (psycopg's) own errors, passed on as nameko remote errors; nothing is written
DATABASE_GONE = (
    "OperationalError",
    "AdminShutdown",
    "InterfaceError",
    "PoolTimeout",
    "ConnectionTimeout",
)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_database_restarted_mid_load(process_cluster, crash_tally):
    cluster = process_cluster
    pids = {service: cluster.procs[service].pid for service in SERVICES}
    driver = FlowDriver(cluster.amqp_uri, step_deadline=180.0, allowed_remote=DATABASE_GONE)
    done = []

    def restart():
        try:
            eventlet.sleep(3.0)
            database_restart()
        finally:
            done.append(True)

    restarting = eventlet.spawn(restart)
    try:
        driver.run_until(lambda: bool(done), workers=4, minimum=8)
    finally:
        restarting.wait()
        restore_database()
    assert cluster.all_running()
    assert {service: cluster.procs[service].pid for service in SERVICES} == pids
    for service in SERVICES:
        cluster.wait_healthy(service, timeout=60)
    try:
        summary = check_everything(cluster.dsns, driver)
    except AssertionError as exc:
        crash_tally.lost.append(f"database restart: {str(exc)[:300]}")
        raise
    crash_tally.outages["database"] += 1
    crash_tally.add_run(driver, summary)
