"""`marketplace demo` against a platform started by `marketplace run`, as `make run` and
`make demo` do it: every service and the gateway its own process, on fresh databases, a
RabbitMQ vhost of the test's own and a free HTTP port, sharing an offset clock file.
The demo must play the whole story and end with a balanced ledger and intact chains.
About half a minute here (the platform's start is most of it): not marked slow."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from shared.cli import SERVICES

ROOT = Path(__file__).resolve().parents[2]
MARKETPLACE = str(Path(sys.executable).with_name("marketplace"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_line(log: Path, text: str, proc: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in log.read_text(errors="replace"):
            return
        if proc.poll() is not None:
            break
        time.sleep(0.5)
    raise AssertionError(f"the platform never said {text!r}:\n{log.read_text()[-4000:]}")


def test_the_demo_plays_a_whole_story_against_a_running_platform(
    databases, rabbit_config, tmp_path
):
    port = free_port()
    clock_file = tmp_path / "clock-offset"
    env = {
        **os.environ,
        **{f"{s.upper()}_DB_DSN": databases.create(s) for s in SERVICES},
        "AMQP_URI": rabbit_config["AMQP_URI"],
        "WEB_SERVER_ADDRESS": f"127.0.0.1:{port}",
        "MESSAGING_BLOBSTORE_ROOT": str(tmp_path / "blobs"),
        "COLUMNS": "200",  # rich wraps at 80 columns when not on a terminal
    }
    for name in ("CLOCK", "IDENTITY_SEED_STAFF"):  # the defaults of a local run
        env.pop(name, None)
    log = tmp_path / "platform.log"
    with log.open("w") as out:
        platform = subprocess.Popen(
            [MARKETPLACE, "run", "--clock", f"offset:{clock_file}"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_for_line(log, "running; Ctrl-C stops everything", platform, timeout=240)
        demo = subprocess.run(
            [
                MARKETPLACE,
                "demo",
                "--url",
                f"http://127.0.0.1:{port}",
                "--clock-file",
                str(clock_file),
            ],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        shown = demo.stdout + demo.stderr
        assert demo.returncode == 0, shown[-6000:]
        assert "demo complete" in demo.stdout, shown[-6000:]
        for step in ("requests changes", "resolves the dispute", "invoices the week", "withdraws"):
            assert step in demo.stdout, step
        # the final verification: every chain intact, the ledger at zero per currency
        for service in SERVICES:
            assert re.search(rf"│ {service}\s+│ \d+\s+│ [0-9a-f]+\s+│ intact", demo.stdout), service
        assert re.search(r"│ total\s+│ USD\s+│\s+\$0\.00 │", demo.stdout)
        assert "ledger invariants: hold" in demo.stdout
        # the clock moved across the hourly week: invoice, review and payout dates
        assert float(clock_file.read_text()) > 7 * 24 * 3600
    finally:
        platform.send_signal(signal.SIGINT)
        try:
            platform.wait(timeout=90)
        except subprocess.TimeoutExpired:
            os.killpg(platform.pid, signal.SIGKILL)
            raise
    assert platform.returncode == 0, log.read_text()[-4000:]
