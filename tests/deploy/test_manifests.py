"""The deployment files: every YAML parses, the compose file validates against the Compose
Specification schema, the Kubernetes manifests (base and the example overlay) validate
against the Kubernetes JSON schemas, and their wiring holds together."""

from __future__ import annotations

import copy
import json
import os
import re
import stat
import subprocess
from importlib import resources
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml

from shared.cli import SERVICES
from shared.observability import METRIC_NAMES
from tests.deploy.helpers import load_config

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S_VERSION = "1.32.0"


class PlainLoader(yaml.SafeLoader):
    """A SafeLoader untouched by nameko's ``${VAR}`` resolver (which nameko's CLI adds to
    ``yaml.SafeLoader`` itself), so compose's own ``${VAR:-default}`` stays text."""

    yaml_implicit_resolvers = {
        key: list(value) for key, value in yaml.resolver.Resolver.yaml_implicit_resolvers.items()
    }


def load_all(path: Path) -> list:
    with path.open() as handle:
        return [doc for doc in yaml.load_all(handle, Loader=PlainLoader) if doc is not None]


def load_one(path: Path):
    (doc,) = load_all(path)
    return doc


def test_every_yaml_under_deploy_parses():
    files = sorted([*DEPLOY.rglob("*.yaml"), *DEPLOY.rglob("*.yml")])
    assert len(files) >= 6 + 1 + 10
    for path in files:
        assert load_all(path), path


# -- docker compose ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict:
    return load_one(DEPLOY / "docker-compose.yml")


def interpolate(text: str) -> str:
    """Compose's ``${VAR:-default}`` with nothing set: the default."""
    return re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", text)


def test_compose_file_matches_the_compose_specification(compose):
    schema_file = resources.files("check_jsonschema.builtin_schemas.vendor") / "compose-spec.json"
    schema = json.loads(schema_file.read_text())
    jsonschema.validate(compose, schema, cls=jsonschema.Draft7Validator)
    broken = copy.deepcopy(compose)
    broken["services"]["escrow"]["healthcheck"]["intervall"] = "10s"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema, cls=jsonschema.Draft7Validator)


def test_compose_has_every_service_with_health_checks_after_the_migration(compose):
    services = compose["services"]
    assert set(services) == {*SERVICES, "gateway", "rabbitmq", "postgres", "migrate"}
    assert "management" in services["rabbitmq"]["image"]
    assert services["migrate"]["command"] == ["marketplace", "migrate", "--all"]
    assert services["migrate"]["restart"] == "no"
    for name in ("rabbitmq", "postgres"):
        assert services[name]["healthcheck"]["test"]
    ports = set()
    for name in SERVICES:
        service = services[name]
        env = service["environment"]
        assert env["SERVICE"] == name
        assert service["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
        assert service["depends_on"]["rabbitmq"] == {"condition": "service_healthy"}
        assert "/health" in " ".join(service["healthcheck"]["test"])
        assert service["stop_grace_period"] == "30s"
        assert env[f"{name.upper()}_METRICS_PORT"] == "9100"
        assert env[f"{name.upper()}_DB_MIGRATE_ON_START"] == "false"
        (mapping,) = service["ports"]
        host, container = mapping.split(":")
        assert container == "9100"
        ports.add(host)
        assert service["build"]["dockerfile"] == "deploy/Dockerfile"
    assert len(ports) == len(SERVICES)
    gateway = services["gateway"]
    assert gateway["environment"]["SERVICE"] == "gateway"
    assert gateway["ports"] == ["8000:8000"]
    assert "8000/health" in " ".join(gateway["healthcheck"]["test"])
    assert gateway["depends_on"]["identity"] == {"condition": "service_healthy"}
    # the gateway has no database
    assert not any(key.endswith("_DB_DSN") for key in gateway["environment"])


def test_compose_gives_each_service_its_own_database(compose):
    services = compose["services"]
    databases = {}
    for name in SERVICES:
        dsn = interpolate(services[name]["environment"][f"{name.upper()}_DB_DSN"])
        assert dsn.startswith("postgresql://") and "@postgres:5432/" in dsn
        databases[name] = dsn.rsplit("/", 1)[1]
        # the migration job migrates that same database
        assert interpolate(services["migrate"]["environment"][f"{name.upper()}_DB_DSN"]) == dsn
        # and no other service is told where it is
        for other in SERVICES:
            if other != name:
                assert f"{name.upper()}_DB_DSN" not in services[other]["environment"]
    assert databases == {name: f"marketplace_{name}" for name in SERVICES}
    init = (DEPLOY / "postgres" / "create-databases.sh").read_text()
    assert "for service in " + " ".join(SERVICES) + "; do" in init
    assert "CREATE DATABASE marketplace_${service}" in init
    mounts = services["postgres"]["volumes"]
    assert any(
        m.startswith("./postgres/create-databases.sh:/docker-entrypoint-initdb.d/") for m in mounts
    )


def test_compose_environment_yields_a_working_service_config(compose):
    """What nameko loads inside the escrow container, given compose's environment."""
    env = {k: interpolate(str(v)) for k, v in compose["services"]["escrow"]["environment"].items()}
    config = load_config(DEPLOY / "config" / "escrow.yaml", env)
    assert (
        config["DB_DSN"] == "postgresql://marketplace:marketplace@postgres:5432/marketplace_escrow"
    )
    assert config["AMQP_URI"] == "pyamqp://marketplace:marketplace@rabbitmq:5672/"
    assert config["METRICS_PORT"] == 9100 and config["METRICS_HOST"] == "0.0.0.0"
    assert config["DB_MIGRATE_ON_START"] is False
    assert config["HEALTH_MAX_RELAY_LAG"] == 10000


# -- the image -----------------------------------------------------------------------------


def test_dockerfile_is_multi_stage_non_root_and_green(tmp_path):
    text = (DEPLOY / "Dockerfile").read_text()
    stages = re.findall(r"^FROM (\S+)(?: AS (\w+))?", text, re.MULTILINE)
    assert len(stages) == 2 and stages[0][1] == "build"
    assert "pip wheel --wheel-dir /wheels ." in text
    assert "from=build" in text
    assert "PSYCOPG_WAIT_FUNC=wait_selector" in text
    (user,) = re.findall(r"^USER (\S+)", text, re.MULTILINE)
    assert not user.startswith("0") and user != "root"
    assert re.search(r'^ENTRYPOINT \["marketplace-service"\]', text, re.MULTILINE)
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text().split()
    for needed in ("!shared/", "!services/", "!deploy/config/", "!deploy/entrypoint.sh"):
        assert needed in ignore


def run_entrypoint(tmp_path: Path, env: dict, *args: str) -> subprocess.CompletedProcess:
    fake = tmp_path / "nameko"
    fake.write_text('#!/bin/sh\necho "nameko $*"\n')
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    return subprocess.run(
        ["sh", str(DEPLOY / "entrypoint.sh"), *args],
        env={"PATH": f"{tmp_path}:{os.environ['PATH']}", **env},
        capture_output=True,
        text=True,
        timeout=30,
    )


@pytest.mark.parametrize("service", [*SERVICES, "gateway"])
def test_the_entrypoint_runs_the_named_service(tmp_path, service):
    done = run_entrypoint(tmp_path, {"SERVICE": service})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (
        f"nameko run --config deploy/config/{service}.yaml services.{service}.service"
    )
    assert (DEPLOY / "config" / f"{service}.yaml").is_file()


def test_the_entrypoint_refuses_an_unknown_service_and_runs_other_commands(tmp_path):
    refused = run_entrypoint(tmp_path, {"SERVICE": "payments"})
    assert refused.returncode == 64 and "identity jobs bidding" in refused.stderr
    assert run_entrypoint(tmp_path, {}).returncode == 64
    other = run_entrypoint(tmp_path, {}, "echo", "migrating")
    assert other.returncode == 0 and other.stdout.strip() == "migrating"


# -- Kubernetes -----------------------------------------------------------------------------

BASE = DEPLOY / "k8s" / "base"
OVERLAY = DEPLOY / "k8s" / "overlays" / "example"


def base_resources() -> list[dict]:
    kustomization = load_one(BASE / "kustomization.yaml")
    docs = []
    for name in kustomization["resources"]:
        docs += load_all(BASE / name)
    return docs


def by_kind(docs: list[dict], kind: str) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def validate_k8s(doc: dict) -> None:
    kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_base_lists_every_file_and_every_manifest_validates():
    kustomization = load_one(BASE / "kustomization.yaml")
    listed = set(kustomization["resources"])
    present = {p.name for p in BASE.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == present
    docs = base_resources()
    for doc in docs:
        validate_k8s(doc)
    assert len(docs) == 6 * 4 + 3 + 3  # six services, broker/migration/blobs, the gateway


def test_the_validator_catches_a_broken_manifest():
    deployment = copy.deepcopy(by_kind(base_resources(), "Deployment")["escrow"])
    deployment["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["httpGet"]["pathh"] = (
        "/"
    )
    with pytest.raises(kubernetes_validate.ValidationError):
        validate_k8s(deployment)
    deployment = copy.deepcopy(by_kind(base_resources(), "Deployment")["escrow"])
    deployment["spec"]["replicas"] = "two"
    with pytest.raises(kubernetes_validate.ValidationError):
        validate_k8s(deployment)


def test_each_service_has_deployment_config_secret_and_metrics_service():
    docs = base_resources()
    deployments = by_kind(docs, "Deployment")
    config_maps, secrets = by_kind(docs, "ConfigMap"), by_kind(docs, "Secret")
    k8s_services = by_kind(docs, "Service")
    claims = by_kind(docs, "PersistentVolumeClaim")
    assert set(deployments) == {*SERVICES, "gateway"}
    for name in SERVICES:
        deployment = deployments[name]
        spec = deployment["spec"]
        assert spec["replicas"] >= 2
        assert spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
        labels = spec["template"]["metadata"]["labels"]
        assert all(labels.get(k) == v for k, v in spec["selector"]["matchLabels"].items())
        pod = spec["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["terminationGracePeriodSeconds"] >= 30
        (container,) = pod["containers"]
        assert container["image"] == "marketplace:0.1.0"
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        assert ports == {"metrics": 9100}
        for probe, path in (("readinessProbe", "/health"), ("livenessProbe", "/live")):
            assert container[probe]["httpGet"] == {"path": path, "port": "metrics"}
        for kind in ("requests", "limits"):
            assert set(container["resources"][kind]) == {"cpu", "memory"}
        refs = [next(iter(ref.values()))["name"] for ref in container["envFrom"]]
        assert refs == ["marketplace-broker", f"{name}-config", f"{name}-secrets"]
        assert "marketplace-broker" in secrets and f"{name}-secrets" in secrets
        config = config_maps[f"{name}-config"]["data"]
        assert config["SERVICE"] == name
        assert config[f"{name.upper()}_METRICS_PORT"] == "9100"
        assert config[f"{name.upper()}_DB_MIGRATE_ON_START"] == "false"
        dsn = secrets[f"{name}-secrets"]["stringData"][f"{name.upper()}_DB_DSN"]
        assert dsn.endswith(f"/marketplace_{name}")
        metrics = k8s_services[f"{name}-metrics"]["spec"]
        assert all(labels.get(k) == v for k, v in metrics["selector"].items())
        assert metrics["ports"] == [
            {"name": "metrics", "port": 9100, "targetPort": "metrics", "protocol": "TCP"}
        ]
        for volume in pod.get("volumes", []):
            claim = volume.get("persistentVolumeClaim")
            if claim:
                assert claim["claimName"] in claims
                assert claims[claim["claimName"]]["spec"]["accessModes"] == ["ReadWriteMany"]


def test_the_gateway_deployment_probes_its_own_http_port():
    docs = base_resources()
    deployment = by_kind(docs, "Deployment")["gateway"]
    spec = deployment["spec"]
    assert spec["replicas"] >= 2
    (container,) = spec["template"]["spec"]["containers"]
    assert {p["name"]: p["containerPort"] for p in container["ports"]} == {"http": 8000}
    for probe in ("readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"] == {"path": "/health", "port": "http"}
    assert by_kind(docs, "ConfigMap")["gateway-config"]["data"]["SERVICE"] == "gateway"
    service = by_kind(docs, "Service")["gateway"]["spec"]
    assert service["selector"] == spec["selector"]["matchLabels"]
    assert service["ports"][0]["targetPort"] == "http"


def test_the_migration_job_migrates_every_service_database():
    docs = base_resources()
    job = by_kind(docs, "Job")["marketplace-migrate"]
    pod = job["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["command"] == ["marketplace", "migrate", "--all"]
    assert pod["restartPolicy"] in ("OnFailure", "Never")
    refs = {ref["secretRef"]["name"] for ref in container["envFrom"]}
    assert refs == {f"{name}-secrets" for name in SERVICES}


# A small part of kustomize, enough for the example overlay: namespace, images, replicas
# and strategic-merge patches (containers merged by name).


def merge(base, patch):
    if isinstance(base, dict) and isinstance(patch, dict):
        out = dict(base)
        for key, value in patch.items():
            out[key] = merge(base[key], value) if key in base else value
        return out
    if (
        isinstance(base, list)
        and isinstance(patch, list)
        and all(isinstance(i, dict) and "name" in i for i in base + patch)
    ):
        named = {item["name"]: item for item in base}
        for item in patch:
            named[item["name"]] = merge(named.get(item["name"], {}), item)
        return list(named.values())
    return patch


def render_overlay() -> list[dict]:
    kustomization = load_one(OVERLAY / "kustomization.yaml")
    assert kustomization["resources"] == ["../../base"]
    docs = copy.deepcopy(base_resources())
    for entry in kustomization.get("patches", []):
        patch = load_one(OVERLAY / entry["path"])
        targets = [
            d
            for d in docs
            if d["kind"] == patch["kind"] and d["metadata"]["name"] == patch["metadata"]["name"]
        ]
        assert len(targets) == 1, f"{entry['path']} patches nothing"
        docs[docs.index(targets[0])] = merge(targets[0], patch)
    replicas = {r["name"]: r["count"] for r in kustomization.get("replicas", [])}
    images = {i["name"]: i for i in kustomization.get("images", [])}
    for doc in docs:
        doc["metadata"]["namespace"] = kustomization["namespace"]
        if doc["kind"] == "Deployment" and doc["metadata"]["name"] in replicas:
            doc["spec"]["replicas"] = replicas.pop(doc["metadata"]["name"])
        if doc["kind"] in ("Deployment", "Job"):
            for container in doc["spec"]["template"]["spec"]["containers"]:
                name, _, tag = container["image"].partition(":")
                if name in images:
                    image = images[name]
                    container["image"] = f"{image.get('newName', name)}:{image.get('newTag', tag)}"
    assert not replicas, f"replicas for unknown deployments: {replicas}"
    return docs


def test_the_example_overlay_renders_valid_manifests():
    docs = render_overlay()
    for doc in docs:
        validate_k8s(doc)
        assert doc["metadata"]["namespace"] == "marketplace-example"
    deployments = by_kind(docs, "Deployment")
    assert deployments["escrow"]["spec"]["replicas"] == 3
    assert deployments["jobs"]["spec"]["replicas"] == 3
    assert deployments["bidding"]["spec"]["replicas"] == 2
    (escrow,) = deployments["escrow"]["spec"]["template"]["spec"]["containers"]
    assert escrow["resources"]["limits"]["memory"] == "768Mi"
    assert escrow["readinessProbe"]["httpGet"]["path"] == "/health"  # kept by the patch
    for doc in [*deployments.values(), by_kind(docs, "Job")["marketplace-migrate"]]:
        for container in doc["spec"]["template"]["spec"]["containers"]:
            assert container["image"] == "registry.example.com/marketplace:0.1.0"
    broker = by_kind(docs, "Secret")["marketplace-broker"]["stringData"]["AMQP_URI"]
    assert "rabbitmq.example.internal" in broker


# -- dashboards and alerts -----------------------------------------------------------------


def metric_names_in(expr: str) -> set[str]:
    names = set(re.findall(r"\bmarketplace_[a-z_]+", expr))
    return {re.sub(r"(_total|_count|_sum|_bucket)$", "", n) for n in names}


def test_the_grafana_dashboard_uses_only_metrics_the_services_expose():
    dashboard = json.loads((DEPLOY / "grafana" / "marketplace.json").read_text())
    assert dashboard["uid"] and dashboard["title"]
    used = set()
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            names = metric_names_in(target["expr"])
            assert names and names <= set(METRIC_NAMES), target["expr"]
            used |= names
    assert used == set(METRIC_NAMES)


def test_alert_rules_use_only_metrics_the_services_expose():
    rules = load_one(DEPLOY / "prometheus" / "alerts.yaml")
    alerts = [rule for group in rules["groups"] for rule in group["rules"]]
    assert len({a["alert"] for a in alerts}) == len(alerts)
    runbook = (ROOT / "docs" / "operations.md").read_text()
    for alert in alerts:
        assert metric_names_in(alert["expr"]) <= set(METRIC_NAMES), alert["alert"]
        assert alert["labels"]["severity"] in ("page", "ticket")
        assert alert["alert"] in runbook, f"{alert['alert']} is not in the runbook"
