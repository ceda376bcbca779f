"""Smoke runs of the messaging and search benchmarks: end to end in ``--quick`` mode, and
the JSON they write has the agreed shape. Speed is never asserted here."""

import json

from bench.__main__ import discover, main

PERCENTILES = {"p50_ms", "p95_ms", "p99_ms"}


def _percentiles(figures: dict) -> None:
    assert PERCENTILES <= set(figures)
    assert 0 < figures["p50_ms"] <= figures["p95_ms"] <= figures["p99_ms"]


def test_service_benchmarks_are_discovered():
    found = discover()
    assert "messaging" in found and "search" in found


def test_messaging_quick_run_writes_the_agreed_shape(servers, tmp_path, monkeypatch):
    monkeypatch.setenv("MARKETPLACE_PG_URL", servers.pg_url)

    assert main(["--only", "messaging", "--quick", "--out", str(tmp_path)]) == 0

    result = json.loads((tmp_path / "messaging.json").read_text())
    assert {"machine", "send", "list", "messages_in_room"} <= set(result)
    assert isinstance(result["machine"], str) and "PostgreSQL" in result["machine"]
    assert result["send"]["messages_per_s"] > 0
    for page in ("first_page", "deep_page"):
        _percentiles(result["list"][page])
    assert result["messages_in_room"] > 0


def test_search_quick_run_writes_the_agreed_shape(servers, tmp_path, monkeypatch):
    monkeypatch.setenv("MARKETPLACE_PG_URL", servers.pg_url)

    assert main(["--only", "search", "--quick", "--out", str(tmp_path)]) == 0

    result = json.loads((tmp_path / "search.json").read_text())
    assert {"machine", "jobs", "latency", "target"} <= set(result)
    assert isinstance(result["machine"], str) and "PostgreSQL" in result["machine"]
    assert result["jobs"] > 0 and result["open_jobs"] > 0
    _percentiles(result["latency"]["all"])
    kinds = set(result["latency"]["by_kind"])
    assert {"relevance first", "newest first"} <= kinds
    assert isinstance(result["target"]["met"], bool)
