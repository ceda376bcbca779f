"""Read models rebuild from the jobs log row for row; the relay publishes; nameko run starts."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import psycopg
from kombu import Connection, Exchange, Queue
from nameko.exceptions import UnknownService
from nameko.standalone.rpc import ServiceRpcProxy

from services.jobs.projections import read_model_projections, rebuild_read_models
from shared.clock import iso, manual_clock, system_clock
from shared.eventstore import PostgresEventStore
from shared.testing import TokenMint
from tests.jobs.conftest import (
    CLIENT,
    FREELANCER,
    OTHER_CLIENT,
    T0,
    create,
    usd,
    wait_until,
)

TABLES = {
    "job_search": "job_id",
    "job_search_open": "job_id",  # kept from job_search by its trigger (migration 0002)
    "client_stats": "client_id",
    "freelancer_profiles": "freelancer_id",
}
ROOT = Path(__file__).resolve().parents[2]


def snapshot(dsn: str) -> dict:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return {
            table: conn.execute(f"SELECT * FROM {table} ORDER BY {key}").fetchall()
            for table, key in TABLES.items()
        }


def test_the_read_models_rebuild_from_position_zero_equal_to_the_live_ones(jobs):
    first = create(jobs, visibility="invite_only")
    jobs.call("invite_freelancer", CLIENT, job_id=first, freelancer_id="freelancer-1")
    jobs.call("update_job", CLIENT, job_id=first, changes={"skills": ["Python", "PostgreSQL"]})
    second = create(jobs, as_=OTHER_CLIENT, budget={"type": "fixed", "amount": usd(90_000)})
    third = create(jobs, publish=False)
    jobs.call("close_job", CLIENT, job_id=third, reason="cancelled")
    at = iso(T0)
    jobs.deliver(
        "identity",
        "PaymentMethodVerified",
        {"user_id": "client-2", "provider_reference": "pm", "verified_at": at, "by": "client-2"},
    )
    jobs.deliver(
        "identity",
        "ProfileUpdated",
        {
            "user_id": "freelancer-1",
            "profile": {"freelancer": {"hourly_rate": usd(5000), "skills": ["Python"]}},
            "changed": ["freelancer.skills"],
            "updated_at": at,
            "by": "freelancer-1",
        },
    )
    jobs.deliver(
        "escrow",
        "ContractOpened",
        {
            "contract_id": "c-1",
            "offer_id": "o-1",
            "proposal_id": "p-1",
            "job_id": second,
            "client_id": "client-2",
            "freelancer_id": "freelancer-1",
            "kind": "fixed",
            "currency": "USD",
            "start_date": None,
            "fees": {},
            "hourly_rate": None,
            "weekly_limit_hours": None,
            "manual_time_allowed": False,
            "opened_at": at,
        },
    )
    jobs.deliver(
        "identity",
        "UserSuspended",
        {"user_id": "client-1", "reason": "fraud", "by": "operator-1", "suspended_at": at},
    )
    # four events, five handlers (UserSuspended also feeds FollowsSuspensions)
    wait_until(lambda: jobs.scalar("SELECT count(*) FROM processed_events") == 5)
    manual_clock.set(T0 + timedelta(days=31))
    jobs.fire_deadlines()  # the invite-only job expires

    live = snapshot(jobs.dsn)
    assert len(live["job_search"]) == 3 and live["freelancer_profiles"]
    store = PostgresEventStore.connect(jobs.dsn)
    try:
        replayed = rebuild_read_models(store, read_model_projections())
    finally:
        store.close()
    assert replayed == jobs.log_length()
    assert snapshot(jobs.dsn) == live


def test_the_relay_publishes_job_events_but_keeps_the_noted_facts_private(jobs):
    exchange = Exchange("jobs.events", type="topic", durable=True)
    with Connection(jobs.amqp_uri) as conn:
        queue = Queue("watch-jobs", exchange=exchange, routing_key="#", auto_delete=True)
        with conn.SimpleQueue(queue) as watch:
            job_id = create(jobs)
            jobs.deliver(
                "identity",
                "PaymentMethodVerified",
                {
                    "user_id": "client-1",
                    "provider_reference": "pm",
                    "verified_at": iso(T0),
                    "by": "x",
                },
            )
            wait_until(
                lambda: jobs.scalar(
                    "SELECT count(*) FROM events WHERE type = 'PaymentVerificationNoted'"
                )
            )
            create(jobs, as_=OTHER_CLIENT)
            got = []
            while len(got) < 4:
                message = watch.get(timeout=10)
                got.append(message.payload)
                message.ack()
    assert [(e["type"], e["data"]["job_id"]) for e in got[:2]] == [
        ("JobCreated", job_id),
        ("JobPublished", job_id),
    ]
    assert [e["type"] for e in got] == ["JobCreated", "JobPublished"] * 2
    assert got[1]["data"]["details"]["visibility"] == "public"


def test_nameko_run_starts_the_service_from_its_config(databases, rabbit_config):
    mint = TokenMint(clock=system_clock)  # the process runs on the system clock
    env = {
        **os.environ,
        "AMQP_URI": rabbit_config["AMQP_URI"],
        "JOBS_DB_DSN": databases.create("jobs"),
        "AUTH_FETCH_KEYS": "false",
        "AUTH_PUBLIC_KEYS": mint.config()["AUTH_PUBLIC_KEYS"],
    }
    nameko = Path(sys.executable).with_name("nameko")
    process = subprocess.Popen(
        [str(nameko), "run", "--config", "services/jobs/config.yaml", "services.jobs.service"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        with ServiceRpcProxy("jobs", rabbit_config, timeout=20) as proxy:

            def answers():
                try:
                    return proxy.health()
                except UnknownService:  # not listening yet
                    assert process.poll() is None, process.stdout.read().decode()
                    return None

            health = wait_until(answers, timeout=30, interval=0.2)
            categories = proxy.list_categories()
        assert health["service"] == "jobs" and health["database"] == "ok"
        assert "design-creative" in categories
        context = mint.context(*FREELANCER)
        with ServiceRpcProxy("jobs", rabbit_config, context_data=context, timeout=20) as proxy:
            assert proxy.search_jobs(keywords="python")["total"] == 0
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
