"""``marketplace audit ...`` end to end through click."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)
from rich.console import Console

from shared.audit import cli

from .conftest import fill_log, tamper


@pytest.fixture(autouse=True)
def wide_console(monkeypatch):
    monkeypatch.setattr(cli, "console", Console(width=300))


@pytest.fixture
def log(store, clock, dsn):
    fill_log(store, clock, 10)
    return dsn


def run(*args, env=None):
    return CliRunner().invoke(cli.audit, list(args), env=env, catch_exceptions=False)


def test_verify_reports_intact_then_the_tampered_position(log):
    clean = run("verify", "escrow", "--dsn", log)
    assert clean.exit_code == 0, clean.output
    assert "intact" in clean.output
    tamper(log, "UPDATE events SET data = jsonb_set(data, '{n}', '0') WHERE position = 5")
    broken = run("verify", "escrow", "--dsn", log)
    assert broken.exit_code == 1
    assert "chain at 5: the event at position 5 was altered" in broken.output


def test_a_signed_checkpoint_kept_by_the_auditor_catches_truncation(log, tmp_path):
    key = Ed25519PrivateKey.generate()
    seed = key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption()).hex()
    public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()
    mine = tmp_path / "checkpoints.jsonl"
    taken = run(
        "checkpoint", "escrow", "--dsn", log, "--out", str(mine), env={"AUDIT_SIGNING_KEY": seed}
    )
    assert taken.exit_code == 0, taken.output
    assert "checkpoint at position 10" in taken.output
    tamper(log, "DELETE FROM events WHERE position > 7", "DELETE FROM audit_checkpoints")
    assert run("verify", "escrow", "--dsn", log).exit_code == 0
    caught = run(
        "verify", "escrow", "--dsn", log, "--checkpoints", str(mine), "--public-key", public
    )
    assert caught.exit_code == 1
    assert "checkpoint at 8" in caught.output and "truncated" in caught.output


def test_export_then_check_export(log, tmp_path):
    exported = run("export", "escrow", "--dsn", log, "--out", str(tmp_path))
    assert exported.exit_code == 0, exported.output
    events, manifest = tmp_path / "escrow.events.jsonl", tmp_path / "escrow.events.manifest.json"
    checked = run("check-export", str(events), str(manifest))
    assert checked.exit_code == 0 and "matches" in checked.output
    events.write_text(events.read_text().replace('"n": 3', '"n": 4', 1))
    assert run("check-export", str(events), str(manifest)).exit_code == 1


def test_replay_of_a_real_service_schema_finds_its_projections(databases):
    dsn = databases.create("escrow")
    result = run("replay", "escrow", "--dsn", dsn)
    assert result.exit_code == 0, result.output
    assert "ledger_entries (0 rows)" in result.output and "identical" in result.output
