"""verify names the first bad position for each way a stored log can be tampered with."""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from shared.audit.checkpoints import CheckpointSigner, take_checkpoint
from shared.audit.verify import verify_service
from shared.eventstore.hashing import CANONICAL_SQL, chain_hash, digest_of_text

from .conftest import fill_log, tamper

SERVICE = "escrow"


@pytest.fixture
def log(store, clock, dsn):
    fill_log(store, clock, 12)
    return dsn


@pytest.fixture
def signer() -> CheckpointSigner:
    return CheckpointSigner(Ed25519PrivateKey.generate())


def rechain(dsn: str) -> None:
    """Recompute every stored hash from the rows as they now are: a forger who knows the
    chain rule and leaves no break in it."""
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            f"SELECT position, version, {CANONICAL_SQL} FROM events ORDER BY position"
        ).fetchall()
        previous = bytes(32)
        conn.execute("SET session_replication_role = replica")
        for position, version, text in rows:
            previous = chain_hash(previous, position, version, digest_of_text(text))
            conn.execute("UPDATE events SET hash = %s WHERE position = %s", (previous, position))


def only_chain_finding(report):
    assert [f.check for f in report.findings] == ["chain"], report.findings
    return report.findings[0]


def test_an_untampered_log_verifies_clean(log, store):
    report = verify_service(log, SERVICE)
    assert report.ok, report.findings
    assert report.events == 12
    assert (report.head_position, report.head_hash) == store.head()
    assert report.first_bad_position is None


def test_an_empty_log_verifies_clean(dsn):
    report = verify_service(dsn, SERVICE)
    assert report.ok and report.events == 0


def test_a_changed_byte_in_data_is_named(log):
    tamper(log, "UPDATE events SET data = jsonb_set(data, '{n}', '50') WHERE position = 5")
    report = verify_service(log, SERVICE)
    finding = only_chain_finding(report)
    assert report.first_bad_position == 5
    assert "position 5 was altered" in finding.problem
    assert report.events == 4  # the four before it still check


def test_a_changed_metadata_byte_is_named(log):
    tamper(log, """UPDATE events SET metadata = '{"actor": "mallory"}' WHERE position = 9""")
    assert verify_service(log, SERVICE).first_bad_position == 9


def test_a_deleted_event_is_named(log):
    tamper(log, "DELETE FROM events WHERE position = 7")
    report = verify_service(log, SERVICE)
    assert report.first_bad_position == 7
    chain, versions = report.findings
    assert (chain.check, chain.position) == ("chain", 7)
    assert "position 7 is missing" in chain.problem
    # the deleted event was version 3 of note-1: its stream now skips from 2 to 4
    assert (versions.check, versions.position) == ("versions", 10)
    assert "note-1 jumps from version 2 to 4" in versions.problem


def test_a_deletion_hidden_by_renumbering_is_named(log):
    tamper(
        log,
        "DELETE FROM events WHERE position = 6",
        "UPDATE events SET position = position + 1000 WHERE position > 6",
        "UPDATE events SET position = position - 1001 WHERE position > 1000",
    )
    report = verify_service(log, SERVICE)
    assert report.first_bad_position == 6
    assert report.findings[0].check == "chain"
    assert "position 6 was deleted" in report.findings[0].problem


def test_a_reordered_pair_is_named(log):
    tamper(
        log,
        "UPDATE events SET position = 1000 WHERE position = 4",
        "UPDATE events SET position = 4 WHERE position = 5",
        "UPDATE events SET position = 5 WHERE position = 1000",
    )
    report = verify_service(log, SERVICE)
    finding = only_chain_finding(report)
    assert report.first_bad_position == 4
    assert "positions 4 and 5 were swapped" in finding.problem


def test_an_inserted_event_is_named(log):
    forged = (
        "INSERT INTO events (stream, version, position, event_id, type, schema_version, data,"
        " metadata, recorded_at, hash) SELECT 'note-forged', 1, 6, gen_random_uuid(), 'Noted', 1,"
        " '{\"n\": 0}', '{}', recorded_at, hash FROM events WHERE position = 5"
    )
    tamper(
        log,
        "UPDATE events SET position = position + 1000 WHERE position >= 6",
        forged,
        "UPDATE events SET position = position - 999 WHERE position > 1000",
    )
    report = verify_service(log, SERVICE)
    finding = only_chain_finding(report)
    assert report.first_bad_position == 6
    assert "inserted at position 6" in finding.problem


def test_an_event_appended_with_a_forged_hash_is_named(log):
    tamper(
        log,
        "INSERT INTO events (stream, version, position, event_id, type, schema_version, data,"
        " metadata, recorded_at, hash) SELECT 'note-x', 1, 13, gen_random_uuid(), 'Noted', 1,"
        " data, metadata, recorded_at, hash FROM events WHERE position = 12",
    )
    assert verify_service(log, SERVICE).first_bad_position == 13


def test_a_log_truncated_after_a_checkpoint_is_named(log, signer):
    with psycopg.connect(log) as conn:
        take_checkpoint(conn, SERVICE, signer, datetime(2025, 1, 1, tzinfo=UTC))
    assert verify_service(log, SERVICE, keys=[signer.public_key]).ok
    tamper(log, "DELETE FROM events WHERE position >= 10")
    report = verify_service(log, SERVICE, keys=[signer.public_key])
    assert [f.check for f in report.findings] == ["checkpoint"]
    assert report.first_bad_position == 10
    assert "truncated" in report.findings[0].problem
    assert report.events == 9


def test_the_auditors_own_checkpoint_catches_truncation_when_the_stored_one_is_gone(log, signer):
    with psycopg.connect(log) as conn:
        mine = take_checkpoint(conn, SERVICE, signer, datetime(2025, 1, 1, tzinfo=UTC))
    tamper(log, "DELETE FROM events WHERE position >= 11", "DELETE FROM audit_checkpoints")
    assert verify_service(log, SERVICE).ok  # without a checkpoint a clean cut is invisible
    report = verify_service(log, SERVICE, checkpoints=[mine], keys=[signer.public_key])
    assert report.first_bad_position == 11


def test_a_rewritten_chain_is_caught_by_a_checkpoint(log, signer):
    with psycopg.connect(log) as conn:
        take_checkpoint(conn, SERVICE, signer, datetime(2025, 1, 1, tzinfo=UTC))
    tamper(log, "UPDATE events SET data = jsonb_set(data, '{n}', '77') WHERE position = 3")
    rechain(log)
    report = verify_service(log, SERVICE)
    assert [f.check for f in report.findings] == ["checkpoint"]
    assert report.first_bad_position == 12
    assert "rewritten" in report.findings[0].problem


def test_the_log_growing_after_a_checkpoint_is_fine(log, store, clock, signer):
    with psycopg.connect(log) as conn:
        take_checkpoint(conn, SERVICE, signer, datetime(2025, 1, 1, tzinfo=UTC))
    fill_log(store, clock, 5)
    report = verify_service(log, SERVICE, keys=[signer.public_key])
    assert report.ok, report.findings
    assert report.events == 17


def test_a_checkpoint_signed_by_an_unknown_key_is_reported(log, signer):
    with psycopg.connect(log) as conn:
        take_checkpoint(conn, SERVICE, signer, datetime(2025, 1, 1, tzinfo=UTC))
    stranger = CheckpointSigner(Ed25519PrivateKey.generate())
    report = verify_service(log, SERVICE, keys=[stranger.public_key])
    assert [f.check for f in report.findings] == ["checkpoint"]
    assert "not signed by a trusted key" in report.findings[0].problem


def test_a_forged_checkpoint_signature_is_reported(log, signer):
    with psycopg.connect(log) as conn:
        take_checkpoint(conn, SERVICE, signer, datetime(2025, 1, 1, tzinfo=UTC))
    tamper(log, "UPDATE audit_checkpoints SET position = position - 1")
    report = verify_service(log, SERVICE, keys=[signer.public_key])
    assert "not signed by a trusted key" in report.findings[0].problem


def test_a_gap_in_stream_versions_is_named_even_with_a_rebuilt_chain(log):
    # stream note-1 holds positions 1, 4, 7, 10 as versions 1..4; drop version 2 and renumber
    tamper(
        log,
        "DELETE FROM events WHERE position = 4",
        "UPDATE events SET position = position + 1000 WHERE position > 4",
        "UPDATE events SET position = position - 1001 WHERE position > 1000",
    )
    rechain(log)
    report = verify_service(log, SERVICE)
    assert [f.check for f in report.findings] == ["versions"]
    assert report.findings[0].position == 6  # version 3 of note-1, once at 7, now at 6
    assert "note-1 jumps from version 1 to 3" in report.findings[0].problem


def test_disabled_guards_are_reported(log):
    with psycopg.connect(log, autocommit=True) as conn:
        conn.execute("ALTER TABLE events DISABLE TRIGGER events_no_update_delete")
        conn.execute("GRANT DELETE ON events TO PUBLIC")
    report = verify_service(log, SERVICE)
    assert sorted(f.problem for f in report.findings) == [
        "PUBLIC may DELETE the log",
        "trigger events_no_update_delete is disabled",
    ]


def test_a_dropped_guard_is_reported(log):
    with psycopg.connect(log, autocommit=True) as conn:
        conn.execute("DROP TRIGGER events_no_truncate ON events")
    report = verify_service(log, SERVICE)
    assert [f.problem for f in report.findings] == ["trigger events_no_truncate is missing"]


def test_a_relay_beyond_the_head_is_reported(log):
    with psycopg.connect(log, autocommit=True) as conn:
        conn.execute("INSERT INTO relay_position (relay, position) VALUES ('escrow', 15)")
    report = verify_service(log, SERVICE)
    assert [f.check for f in report.findings] == ["relay"]
    assert report.first_bad_position == 13


def test_a_relay_behind_the_head_is_fine(log):
    with psycopg.connect(log, autocommit=True) as conn:
        conn.execute("INSERT INTO relay_position (relay, position) VALUES ('escrow', 12)")
    assert verify_service(log, SERVICE).ok
