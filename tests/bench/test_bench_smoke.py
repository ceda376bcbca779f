"""Smoke run of the event store benchmark: it runs end to end and writes the agreed JSON.

Speed is never asserted here; ``make bench`` is where figures are read.
"""

import json

from bench.__main__ import discover, main

CASES = ["append_1", "append_10", "append_100", "read_log"]


def test_benchmarks_are_discovered():
    assert "eventstore" in discover()


def test_eventstore_quick_run_writes_the_agreed_shape(servers, tmp_path, monkeypatch):
    monkeypatch.setenv("MARKETPLACE_PG_URL", servers.pg_url)

    assert main(["--only", "eventstore", "--quick", "--out", str(tmp_path)]) == 0

    result = json.loads((tmp_path / "eventstore.json").read_text())
    assert set(result) == {"machine", "cases"}
    assert isinstance(result["machine"], str) and "PostgreSQL" in result["machine"]
    assert [case["case"] for case in result["cases"]] == CASES
    for case in result["cases"]:
        assert set(case) == {"case", "ours_events_per_s", "peer_events_per_s", "ratio"}
        ours, peer = case["ours_events_per_s"], case["peer_events_per_s"]
        assert ours > 0 and peer > 0
        assert abs(case["ratio"] - ours / peer) < 0.01 * case["ratio"]
