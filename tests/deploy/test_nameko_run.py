"""The command the image runs, for real: ``nameko run --config deploy/config/<service>.yaml``
starts the service, logs JSON lines, answers its health RPC, and stops cleanly on SIGTERM."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess

import eventlet
from nameko.standalone.rpc import ClusterRpcProxy

from tests.deploy.helpers import NAMEKO, ROOT, free_port, wait_until


def dockerfile_env(name: str) -> str:
    """A variable the image sets (``ENV`` lines of deploy/Dockerfile)."""
    (found,) = re.findall(rf'\b{name}="([^"]*)"', (ROOT / "deploy" / "Dockerfile").read_text())
    return found


def test_nameko_run_with_the_deploy_config(databases, rabbit_config, tmp_path):
    env = {
        "PATH": os.environ["PATH"],
        "PYTHONPATH": str(ROOT),
        "PSYCOPG_WAIT_FUNC": "wait_selector",
        "PYTHONWARNINGS": dockerfile_env("PYTHONWARNINGS"),
        "AMQP_URI": rabbit_config["AMQP_URI"],
        "REPUTATION_DB_DSN": databases.create("reputation"),
        "REPUTATION_DB_MIGRATE_ON_START": "false",
        "REPUTATION_METRICS_PORT": str(free_port()),
        "AUTH_FETCH_KEYS": "false",
    }
    stderr = (tmp_path / "stderr").open("w+")
    process = subprocess.Popen(
        [NAMEKO, "run", "--config", "deploy/config/reputation.yaml", "services.reputation.service"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=stderr,
    )
    try:

        def healthy() -> bool:
            assert process.poll() is None, (tmp_path / "stderr").read_text()
            try:
                with ClusterRpcProxy({"AMQP_URI": rabbit_config["AMQP_URI"]}, timeout=2) as rpc:
                    return rpc.reputation.health()["database"] == "ok"
            except Exception:
                eventlet.sleep(0.2)
                return False

        wait_until(healthy, timeout=60)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    lines = [line for line in (tmp_path / "stderr").read_text().splitlines() if line.strip()]
    assert lines
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    assert all(r["service"] == "reputation" for r in records)
    assert any("starting services" in r["message"] for r in records)
    assert {"time", "level", "logger", "correlation_id", "entrypoint", "caller"} <= set(records[0])
