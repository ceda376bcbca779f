"""An export and its manifest can be checked by a second auditor without the database."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

import psycopg
import pytest

from shared.audit.export import check_export, export_events, export_table
from shared.eventstore.hashing import jsonb_text

from .conftest import fill_log


def independent_chain(path) -> tuple[int, str]:
    """The second auditor's own check: only the JSON Lines file, ``jsonb_text`` and SHA-256.

    Returns (events, head hash); raises AssertionError at the first line that does not chain.
    """
    previous = bytes(32)
    count = 0
    for line in path.read_text().splitlines():
        e = json.loads(line)
        text = jsonb_text(
            [
                e["event_id"],
                e["stream"],
                e["type"],
                e["schema_version"],
                e["data"],
                e["metadata"],
                e["recorded_at"],
            ]
        )
        digest = hashlib.sha256(text.encode()).digest()
        previous = hashlib.sha256(
            previous + e["position"].to_bytes(8, "big") + e["version"].to_bytes(4, "big") + digest
        ).digest()
        assert previous.hex() == e["hash"], f"line for position {e['position']} does not chain"
        count += 1
    return count, previous.hex()


@pytest.fixture
def log(store, clock, dsn):
    # awkward data on purpose: unicode, escapes, nesting, keys of several lengths
    from shared.domain import NewEvent

    fill_log(store, clock, 8)
    store.append(
        [
            NewEvent(
                "Noted",
                {
                    "n": 9,
                    "note": 'quote " and tab \t and é 漢字',
                    "nested": {"bb": [1, {"a": None}]},
                },
                stream="note-x",
            )
        ],
        metadata={"actor": "auditor-test", "correlation_id": "c-1"},
    )
    return dsn


def test_export_and_manifest_check_out_independently(log, store, tmp_path):
    path, manifest_path = export_events(log, "escrow", tmp_path)
    manifest = json.loads(manifest_path.read_text())
    count, head = independent_chain(path)
    assert count == manifest["count"] == 9
    assert head == manifest["head_hash"] == store.head()[1].hex()
    assert manifest["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert manifest["types"] == {"Noted": 9}
    assert (manifest["first_position"], manifest["last_position"]) == (1, 9)
    assert check_export(path, manifest_path) == []


def test_an_edited_export_is_caught_both_ways(log, tmp_path):
    path, manifest_path = export_events(log, "escrow", tmp_path)
    lines = path.read_text().splitlines()
    edited = json.loads(lines[4])
    edited["data"]["n"] = 500
    lines[4] = json.dumps(edited, ensure_ascii=False)
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(AssertionError, match="position 5"):
        independent_chain(path)
    problems = check_export(path, manifest_path)
    assert "the file's SHA-256 differs from the manifest's" in problems
    assert "the event at position 5 does not match the chain" in problems


def test_a_dropped_line_is_caught(log, tmp_path):
    path, manifest_path = export_events(log, "escrow", tmp_path)
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:3] + lines[4:]) + "\n")
    problems = check_export(path, manifest_path)
    assert "the file holds 8 events, the manifest says 9" in problems
    assert "position 4 expected, found 5" in problems


def test_a_csv_export_checks_out(log, tmp_path):
    path, manifest_path = export_events(log, "escrow", tmp_path, fmt="csv")
    assert path.suffix == ".csv"
    assert check_export(path, manifest_path) == []


def test_a_partial_export_chains_from_the_hash_before_it(log, store, tmp_path):
    path, manifest_path = export_events(log, "escrow", tmp_path, after_position=5)
    manifest = json.loads(manifest_path.read_text())
    assert (manifest["count"], manifest["first_position"]) == (4, 6)
    assert check_export(path, manifest_path) == []


def test_a_ledger_table_exports_with_count_and_digest(dsn, tmp_path):
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE ledger_entries (position bigint, leg int, account text, amount bigint,"
            " recorded_at timestamptz, PRIMARY KEY (position, leg))"
        )
        at = datetime(2025, 3, 1, tzinfo=UTC)
        conn.execute(
            "INSERT INTO ledger_entries VALUES (1, 2, 'escrow:c1', 100, %s), (1, 1, 'wallet:a', -100, %s)",
            (at, at),
        )
    path, manifest_path = export_table(dsn, "escrow", "ledger_entries", tmp_path, fmt="csv")
    assert path.read_text().splitlines() == [
        "position,leg,account,amount,recorded_at",
        "1,1,wallet:a,-100,2025-03-01T00:00:00+00:00",
        "1,2,escrow:c1,100,2025-03-01T00:00:00+00:00",
    ]
    manifest = json.loads(manifest_path.read_text())
    assert manifest["count"] == 2 and manifest["kind"] == "table:ledger_entries"
    assert manifest["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
