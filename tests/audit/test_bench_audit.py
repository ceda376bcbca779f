"""The audit benchmark runs end to end on a small log and writes its figures (never timed)."""

import json

from bench.__main__ import discover, main
from bench.audit import copies, escrow_template
from services.escrow.ledger import postings_for


def test_the_audit_benchmark_quick_run_writes_its_cases(servers, tmp_path, monkeypatch):
    monkeypatch.setenv("MARKETPLACE_PG_URL", servers.pg_url)
    assert "audit" in discover()
    assert main(["--only", "audit", "--quick", "--out", str(tmp_path)]) == 0
    result = json.loads((tmp_path / "audit.json").read_text())
    assert "PostgreSQL" in result["machine"]
    cases = {case["case"]: case for case in result["cases"]}
    assert list(cases) == ["verify", "rebuild_ledger", "rebuild_ledger_copy"]
    assert cases["verify"]["events"] == 20_000
    # every leg escrow's own posting rules give for the same generated events
    legs = sum(len(postings_for(e.type, e.data)) for e in copies(escrow_template(), 20_000))
    for name in ("rebuild_ledger", "rebuild_ledger_copy"):
        assert cases[name]["events"] == 20_000
        assert cases[name]["ledger_rows"] == legs
