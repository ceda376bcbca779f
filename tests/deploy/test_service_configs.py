"""Every deploy/config/<service>.yaml, loaded by nameko's own loader (``nameko show-config``,
which reads the file exactly as ``nameko run`` does), with an empty environment and with
overrides."""

from __future__ import annotations

import functools
import logging.config

import pytest

from shared.cli import SERVICES
from shared.observability import JsonFormatter, logging_config
from tests.deploy.helpers import ROOT
from tests.deploy.helpers import load_config as load

METRICS_PORTS = {
    "identity": 9101,
    "jobs": 9102,
    "bidding": 9103,
    "escrow": 9104,
    "messaging": 9105,
    "reputation": 9106,
}


@functools.cache
def empty_env_config(service: str) -> dict:
    return load(ROOT / "deploy" / "config" / f"{service}.yaml")


@pytest.mark.parametrize("service", SERVICES)
def test_defaults_with_an_empty_environment(service):
    config = empty_env_config(service)
    assert config["AMQP_URI"] == "pyamqp://guest:guest@127.0.0.1:5672/"
    assert config["DB_DSN"] == f"postgresql://root@127.0.0.1:5432/marketplace_{service}"
    assert (config["DB_POOL_MIN"], config["DB_POOL_MAX"], config["max_workers"]) == (1, 12, 10)
    assert config["DB_POOL_MAX"] > config["max_workers"]
    assert config["DB_MIGRATE_ON_START"] is True
    assert config["CLOCK"] == "system"
    assert config["RELAY_ENABLED"] is True and config["RELAY_POLL_INTERVAL"] == 1
    assert config["CONSUMER_MAX_ATTEMPTS"] == 3
    assert config["CONSUMER_RETRY_DELAYS_MS"] == "500,2000"
    assert config["TIMER_INTERVAL"] == 1
    assert config["METRICS_PORT"] == METRICS_PORTS[service]
    assert config["METRICS_HOST"] == "0.0.0.0"
    assert config["HEALTH_MAX_RELAY_LAG"] is None and config["HEALTH_MAX_DEAD_LETTERS"] is None
    if service == "identity":
        assert config["AUTH_FETCH_KEYS"] == "false" and "AUTH_PUBLIC_KEYS" not in config
    else:
        assert config["AUTH_PUBLIC_KEYS"] is None and config["AUTH_FETCH_KEYS"] is True
    assert config["LOGGING"] == logging_config(service)


def test_six_distinct_default_metrics_ports():
    ports = [empty_env_config(s)["METRICS_PORT"] for s in SERVICES]
    assert len(set(ports)) == len(SERVICES)


@pytest.mark.parametrize("service", SERVICES)
def test_every_setting_of_the_services_own_config_is_there_with_the_same_default(service):
    own = load(ROOT / "services" / service / "config.yaml")
    deploy = empty_env_config(service)
    # the services' own files log plain text; messaging's MAX_WORKERS is nameko's max_workers
    renamed = {"MAX_WORKERS": "max_workers"}
    for key, value in own.items():
        if key == "LOGGING":
            continue
        if key == "SEED_STAFF":
            # the local-run default seeds one operator (for `make demo`); deployments none
            assert deploy[key] == [] and [s["roles"] for s in value] == [["operator"]]
            continue
        assert deploy[renamed.get(key, key)] == value, key


@pytest.mark.parametrize("service", SERVICES)
def test_overrides_from_the_environment(service):
    prefix = service.upper()
    env = {
        "AMQP_URI": "pyamqp://mkt:secret@rabbitmq:5672/marketplace",
        f"{prefix}_DB_DSN": f"postgresql://mkt:pw@postgres:5432/{service}_prod",
        f"{prefix}_DB_POOL_MAX": "30",
        f"{prefix}_DB_MIGRATE_ON_START": "false",
        f"{prefix}_MAX_WORKERS": "20",
        f"{prefix}_METRICS_PORT": "9100",
        "HEALTH_MAX_DEAD_LETTERS": "5",
        "AUTH_PUBLIC_KEYS": '{"keys": [{"kid": "k1", "kty": "OKP"}]}',
    }
    config = load(ROOT / "deploy" / "config" / f"{service}.yaml", env)
    assert config["AMQP_URI"] == env["AMQP_URI"]
    assert config["DB_DSN"] == env[f"{prefix}_DB_DSN"]
    assert config["DB_POOL_MAX"] == 30 and config["max_workers"] == 20
    assert config["DB_MIGRATE_ON_START"] is False
    assert config["METRICS_PORT"] == 9100
    assert config["HEALTH_MAX_DEAD_LETTERS"] == 5
    if service != "identity":
        # a JWKS given as JSON arrives parsed; CallerProvider takes a dict or a string
        assert config["AUTH_PUBLIC_KEYS"] == {"keys": [{"kid": "k1", "kty": "OKP"}]}


def test_escrow_fees_and_windows_reach_its_settings():
    from services.escrow.configuration import fees_from_config, settings_from_config

    default = empty_env_config("escrow")
    assert fees_from_config(default).freelancer_fee_bps == 1000
    assert settings_from_config(default).auto_approve_after.days == 14
    config = load(
        ROOT / "deploy" / "config" / "escrow.yaml",
        {
            "ESCROW_FREELANCER_FEE_BPS": "800",
            "ESCROW_AUTO_APPROVE_AFTER_SECONDS": "86400",
            "ESCROW_MINIMUM_FUNDING": "USD=1000",
        },
    )
    assert fees_from_config(config).freelancer_fee_bps == 800
    settings = settings_from_config(config)
    assert settings.auto_approve_after.days == 1
    assert settings.minimum_funding["USD"] == 1000


def test_each_services_settings_load_from_the_deploy_config():
    from services.bidding.settings import settings_from_config as bidding
    from services.jobs.settings import job_settings_from_config as jobs
    from services.messaging.settings import MessagingSettings
    from services.reputation.settings import feedback_settings_from as reputation

    assert bidding(empty_env_config("bidding")).service_fee_bps == 1000
    assert jobs(empty_env_config("jobs")).expire_after.days == 30
    assert MessagingSettings.from_config(empty_env_config("messaging")["MESSAGING"]) == (
        MessagingSettings()
    )
    assert reputation(empty_env_config("reputation")).feedback_window_days == 14
    overridden = load(
        ROOT / "deploy" / "config" / "reputation.yaml", {"REPUTATION_FEEDBACK_WINDOW_DAYS": "7"}
    )
    assert reputation(overridden).feedback_window_days == 7
    messaging = load(
        ROOT / "deploy" / "config" / "messaging.yaml", {"MESSAGING_EDIT_WINDOW_SECONDS": "60"}
    )
    assert MessagingSettings.from_config(messaging["MESSAGING"]).edit_window_seconds == 60


@pytest.mark.parametrize("service", SERVICES)
def test_the_logging_section_builds_a_json_formatter(service):
    section = empty_env_config(service)["LOGGING"]
    configurator = logging.config.DictConfigurator(section)
    formatter = configurator.configure_formatter(dict(section["formatters"]["json"]))
    assert isinstance(formatter, JsonFormatter) and formatter.service == service


def test_the_gateway_config_loads_with_and_without_overrides():
    path = ROOT / "deploy" / "config" / "gateway.yaml"
    own = load(ROOT / "services" / "gateway" / "config.yaml")
    config = load(path)
    for key, value in own.items():
        if key != "LOGGING":
            assert config[key] == value, key
    assert config["WEB_SERVER_ADDRESS"] == "0.0.0.0:8000"
    assert config["RATE_LIMITS"]["login"] == {"CAPACITY": 10, "PERIOD_SECONDS": 60}
    assert config["LOGGING"] == logging_config("gateway")
    assert "DB_DSN" not in config
    overridden = load(
        path,
        {
            "AMQP_URI": "pyamqp://mkt:pw@rabbitmq:5672/",
            "WEB_SERVER_ADDRESS": "0.0.0.0:9000",
            "GATEWAY_LOGIN_RATE_CAPACITY": "3",
        },
    )
    assert overridden["AMQP_URI"] == "pyamqp://mkt:pw@rabbitmq:5672/"
    assert overridden["WEB_SERVER_ADDRESS"] == "0.0.0.0:9000"
    assert overridden["RATE_LIMITS"]["login"]["CAPACITY"] == 3
