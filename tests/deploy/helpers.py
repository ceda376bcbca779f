"""Helpers of the deployment tests: free ports, scraping /metrics, nameko's config loader."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import eventlet
import requests
import yaml
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parents[2]
NAMEKO = str(Path(sys.executable).with_name("nameko"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(predicate, timeout: float = 30.0, interval: float = 0.05) -> float:
    """Seconds until ``predicate()`` held; fails after ``timeout``."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if predicate():
            return time.monotonic() - started
        eventlet.sleep(interval)
    raise AssertionError("condition not met in time")


def scrape(port: int) -> dict[tuple[str, tuple], float]:
    """Every sample of /metrics as {(name, sorted labels): value}."""
    response = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples, name, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def load_config(path: Path, env: dict[str, str] | None = None) -> dict:
    """The config ``nameko run --config path`` would get in environment ``env`` (only):
    ``nameko show-config`` reads the file with the same YAML loader as ``nameko run``."""
    done = subprocess.run(
        [NAMEKO, "show-config", "--config", str(path)],
        env=env or {},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    assert not done.stdout.startswith("Error"), done.stdout
    return yaml.safe_load(done.stdout)
