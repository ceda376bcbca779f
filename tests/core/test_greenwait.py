"""psycopg's wait function under eventlet (``shared.greenwait``), on a real PostgreSQL.

The test process runs under eventlet's monkey patching (tests/conftest.py); the last test
runs a process without it. That queries share the hub (five sleeps in the database at once
take the time of one) is ``test_psycopg_queries_under_eventlet_run_concurrently``."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import psycopg
import psycopg.waiting

from shared import greenwait

ROOT = Path(__file__).resolve().parents[2]


def test_a_pipeline_waits_to_read_and_write_at_once(databases, monkeypatch):
    """Pipeline mode asks to wait for reading or writing, whichever comes first; a batch
    larger than the socket buffers needs both to make progress."""
    asked: list[int] = []
    real_block = greenwait._block

    def spy(hub, current, fileno, state):
        asked.append(state)
        return real_block(hub, current, fileno, state)

    monkeypatch.setattr(greenwait, "_block", spy)
    with psycopg.connect(databases.create("core"), autocommit=True) as conn:
        with conn.pipeline():
            cursors = [conn.execute("SELECT %s::text", ("x" * 2000 + str(i),)) for i in range(400)]
        assert [c.fetchone()[0][2000:] for c in cursors] == [str(i) for i in range(400)]
    assert psycopg.waiting.Wait.RW in asked


def test_a_wait_with_a_timeout_ends_when_it_is_up(databases):
    """Waits with a timeout (notifications, cancellation) go to psycopg's selector wait."""
    with psycopg.connect(databases.create("core"), autocommit=True) as conn:
        conn.execute("LISTEN nothing_comes")
        started = time.monotonic()
        assert list(conn.notifies(timeout=0.3)) == []
        assert 0.25 < time.monotonic() - started < 2


def test_outside_eventlet_the_blocking_c_wait_is_used(databases):
    """A process eventlet has not patched (the CLI, benchmark load generators) blocks in
    psycopg's C wait function."""
    dsn = databases.create("core")
    code = (
        "import shared, psycopg, psycopg.waiting as w\n"
        "from shared import greenwait\n"
        "used = []\n"
        "real = w.wait_c\n"
        "w.wait_c = lambda *a, **k: used.append(1) or real(*a, **k)\n"
        f"with psycopg.connect({dsn!r}) as c:\n"
        "    assert c.execute('SELECT 41 + 1').fetchone()[0] == 42\n"
        "assert w.wait is greenwait.wait_green and not greenwait._green() and used\n"
        "print('ok')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
