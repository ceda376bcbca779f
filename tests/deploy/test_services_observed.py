"""Each of the six services, started from its deploy config with ``Metrics`` and
``LogContext`` declared on it, answers /health and /metrics over HTTP and its health RPC."""

from __future__ import annotations

import importlib
import inspect
import json

import pytest
import requests
from nameko.standalone.rpc import ServiceRpcProxy

from shared.cli import SERVICES
from shared.observability import LogContext, Metrics
from tests.deploy.helpers import ROOT, free_port, scrape, value, wait_until
from tests.deploy.helpers import load_config as load


def service_class(service: str) -> type:
    module = importlib.import_module(f"services.{service}.service")
    (cls,) = [
        obj
        for obj in vars(module).values()
        if inspect.isclass(obj)
        and obj.__module__ == module.__name__
        and getattr(obj, "name", None) == service
    ]
    return cls


def observed(service: str) -> type:
    """The service as the lead will declare it: with metrics and log context."""
    base = service_class(service)
    return type(base.__name__, (base,), {"metrics": Metrics(), "log_context": LogContext()})


@pytest.mark.parametrize("service", SERVICES)
def test_the_service_runs_from_its_deploy_config_and_reports_health(
    service, container_factory, rabbit_config, databases, token_mint, tmp_path
):
    prefix = service.upper()
    port = free_port()
    env = {
        "AMQP_URI": rabbit_config["AMQP_URI"],
        f"{prefix}_DB_DSN": databases.create(service),
        f"{prefix}_DB_MIGRATE_ON_START": "false",
        f"{prefix}_METRICS_PORT": str(port),
        "METRICS_HOST": "127.0.0.1",
        "AUTH_PUBLIC_KEYS": json.dumps(token_mint.jwks()),
        "AUTH_FETCH_KEYS": "false",
        "MESSAGING_BLOBSTORE_ROOT": str(tmp_path / "blobs"),
        "IDENTITY_ARGON2_TIME_COST": "1",
        "IDENTITY_ARGON2_MEMORY_COST": "8",
        "IDENTITY_ARGON2_PARALLELISM": "1",
    }
    config = load(ROOT / "deploy" / "config" / f"{service}.yaml", env)
    config.pop("LOGGING")  # nameko run applies it; here the test process keeps its logging
    container = container_factory(observed(service), config)
    container.start()

    with ServiceRpcProxy(service, rabbit_config) as proxy:
        over_rpc = proxy.health()
    assert over_rpc["database"] == "ok"

    response = requests.get(f"http://127.0.0.1:{port}/health", timeout=10)
    assert response.status_code == 200, response.text
    checks = response.json()["checks"]
    assert checks["database"]["ok"] and checks["broker"]["ok"]
    assert checks["relay"]["log_head"] >= over_rpc["log_head"]

    health_calls = "marketplace_rpc_duration_seconds_count"
    wait_until(lambda: value(scrape(port), health_calls, service=service, method="health") == 1)
    samples = scrape(port)
    assert value(samples, "marketplace_dependency_up", service=service, dependency="database") == 1
    assert value(samples, "marketplace_dependency_up", service=service, dependency="broker") == 1
    assert (
        value(samples, "marketplace_events_appended_total", service=service) >= over_rpc["log_head"]
    )
