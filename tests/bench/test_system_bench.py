"""Smoke run of the whole-platform benchmark (issue 13): ``python -m bench --only system
--quick`` in a subprocess starts every service and the gateway as processes, measures, stops
them, and writes ``system.json`` in the agreed shape. Speed is never asserted here."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.system import settle

ROOT = Path(__file__).resolve().parents[2]
PERCENTILES = ("p50_ms", "p95_ms", "p99_ms")


def _percentiles(figures: dict) -> None:
    for key in PERCENTILES:
        assert isinstance(figures[key], float | int), (key, figures)
    assert 0 < figures["p50_ms"] <= figures["p95_ms"] <= figures["p99_ms"]


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_system_quick_run_writes_the_agreed_shape(servers, tmp_path):
    env = {
        **os.environ,
        "MARKETPLACE_PG_URL": servers.pg_url,
        "MARKETPLACE_AMQP_URI": servers.amqp_uri,
        "MARKETPLACE_RABBIT_API_URI": servers.rabbit_api,
    }
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--only", "system", "--quick", "--out", str(tmp_path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=840,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "target gateway" in done.stdout

    result = json.loads((tmp_path / "system.json").read_text())
    assert isinstance(result["machine"], str) and "PostgreSQL" in result["machine"]
    assert len(result["load_average_at_start"]) == 3
    assert set(result["gateway_rpc"]) == {"50", "200", "500"}
    for figures in result["gateway_rpc"].values():
        _percentiles(figures)
        assert isinstance(figures["errors"], int)
        assert len(figures["load_average"]) == 3
    _percentiles(result["raw_rpc"])
    _percentiles(result["propagation"])
    _percentiles(result["propagation"]["client_observed"])
    assert [phase["clients"] for phase in result["flows"]] == [1, 4]
    for phase in result["flows"]:
        assert "error" not in phase, phase["error"]
        assert phase["flows_per_s"] >= 0
        assert {"identity", "escrow", "gateway"} <= set(phase["processes"])
        assert set(phase["relay_lag_at_end"]) >= {"jobs", "bidding", "escrow"}
    assert any(phase["flows"] > 0 for phase in result["flows"])
    assert {"gateway_rpc 200", "raw_rpc", "propagation", "flows 4"} <= set(result["settled"])
    for waited in result["settled"].values():
        assert 0 <= waited["busy_share"] <= 1 and waited["waited_s"] >= 1.0
    growth = result["growth"]
    assert len(growth["sizes"]) == len(growth["points"]) >= 2
    reads = {"search", "list_proposals", "wallet", "ledger_page", "message_page", "score"}
    for size, point in zip(growth["sizes"], growth["points"], strict=True):
        assert reads <= set(point["reads"])
        # every read answered (a filler that wrote into the sample's own streams made
        # list_proposals answer Forbidden once), and every log grew as far as asked
        assert all("p50_ms" in figures for figures in point["reads"].values()), point["reads"]
        assert point["fill_errors"] == {}
        grown = point["filled"]
        assert grown["job_rows"] == size // 2
        for log in ("escrow_events", "messaging_events", "bidding_events", "reputation_events"):
            assert grown[log] == size, (log, grown)


def test_settle_returns_once_the_machine_is_quiet_enough():
    quiet = settle(most=30.0, busy_below=1.01)  # every second counts as quiet
    assert 1.0 <= quiet["waited_s"] < 3.0
    assert 0 <= quiet["busy_share"] <= 1


def test_settle_gives_up_after_at_most_seconds():
    never = settle(most=1.5, busy_below=0.0)  # no second is ever quiet enough
    assert never["waited_s"] >= 1.5
