"""Each workaround from DESIGN.md's stack notes, proven (the psycopg wait function's test is
``test_psycopg_queries_under_eventlet_run_concurrently`` beside the relay tests)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from nameko.web.handlers import http

ROOT = Path(__file__).resolve().parents[2]


def test_psycopg_waits_with_the_green_wait_function():
    """``shared`` installs ``shared.greenwait.wait_green`` (its tests:
    tests/core/test_greenwait.py); the selector one stays psycopg's own choice beneath."""
    import psycopg.waiting

    from shared.greenwait import wait_green

    assert psycopg.waiting.wait is wait_green
    assert os.environ["PSYCOPG_WAIT_FUNC"] == "wait_selector"


def test_the_nameko_cli_runs_with_the_pinned_setuptools():
    """nameko's CLI imports pkg_resources, which setuptools 81 removed."""
    nameko = Path(sys.executable).with_name("nameko")
    done = subprocess.run([str(nameko), "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "run" in done.stdout


def test_eventlets_import_warning_is_filtered_by_the_test_bootstrap():
    """With every warning an error, loading tests/conftest.py (which imports eventlet) works."""
    code = f"import runpy; runpy.run_path({str(ROOT / 'tests' / 'conftest.py')!r})"
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr


class Echo:
    name = "echo"

    @http("GET", "/echo/<string:word>")
    def echo(self, request, word):
        return word.upper()


def test_web_session_fixture_works_with_werkzeug_3(container_factory, web_config, web_session):
    """nameko's own fixture imports werkzeug.urls.url_join (gone in werkzeug 3); ours does not."""
    container = container_factory(Echo, web_config)
    container.start()
    response = web_session.get("/echo/hello")
    assert response.status_code == 200 and response.text == "HELLO"


def test_each_test_gets_its_own_vhost_through_the_management_api(rabbit_config, rabbit_manager):
    vhosts = [v["name"] for v in rabbit_manager.get_all_vhosts()]
    assert rabbit_config["vhost"] in vhosts
    assert rabbit_config["AMQP_URI"].endswith("/" + rabbit_config["vhost"])
