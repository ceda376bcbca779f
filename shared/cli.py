"""``marketplace``: the operator's command line.

    marketplace migrate [--all | SERVICE ...]   create databases and apply migrations
    marketplace run [SERVICE ...]               start the services, wait until healthy, Ctrl-C stops
    marketplace verify [SERVICE ...]            walk each service's hash chain
    marketplace audit ...                       the auditor's toolkit (verify, replay, export, ...)

Each service's database DSN comes from ``<SERVICE>_DB_DSN`` (default
``postgresql://root@127.0.0.1:5432/marketplace_<service>``), the broker from ``AMQP_URI``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

# eventlet announces its deprecation whenever nameko is imported; operators need not see it
warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")

import click  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from shared.audit.cli import audit  # noqa: E402
from shared.demo import demo  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SERVICES = ("identity", "jobs", "bidding", "escrow", "messaging", "reputation")
console = Console()


def available_services() -> list[str]:
    """Services whose nameko entrypoints exist in this checkout."""
    return [s for s in SERVICES if (ROOT / "services" / s / "service.py").exists()]


def service_target(service: str) -> str:
    """``module:Class`` for ``nameko run``: a bare module would also run the mixins it imports."""
    import importlib
    import inspect

    module = importlib.import_module(f"services.{service}.service")
    for name, obj in inspect.getmembers(module, inspect.isclass):
        if obj.__module__ == module.__name__ and getattr(obj, "name", None) == service:
            return f"{module.__name__}:{name}"
    raise click.ClickException(f"services/{service}/service.py has no class named {service!r}")


def service_dsn(service: str) -> str:
    return os.environ.get(
        f"{service.upper()}_DB_DSN", f"postgresql://root@127.0.0.1:5432/marketplace_{service}"
    )


def amqp_uri() -> str:
    return os.environ.get("AMQP_URI", "pyamqp://guest:guest@127.0.0.1:5672/")


def _chosen(services: tuple[str, ...], everything: bool = True) -> list[str]:
    if not services:
        return list(SERVICES) if everything else available_services()
    unknown = [s for s in services if s not in SERVICES]
    if unknown:
        raise click.BadParameter(
            f"unknown service(s): {', '.join(unknown)}; known: {', '.join(SERVICES)}"
        )
    return list(services)


@click.group()
def main() -> None:
    """Operate the marketplace services."""


@main.command()
@click.argument("services", nargs=-1)
@click.option(
    "--all", "everything", is_flag=True, help="every service (the default when none is named)"
)
def migrate(services: tuple[str, ...], everything: bool) -> None:
    """Create each service's database if needed and apply its migrations."""
    from shared.migrate import ensure_database
    from shared.migrate import migrate as apply

    for service in _chosen(services):
        dsn = service_dsn(service)
        created = ensure_database(dsn)
        applied = apply(dsn, service)
        note = "created, " if created else ""
        console.print(
            f"[bold]{service}[/]: {note}{len(applied)} migration(s) applied"
            + (f": {', '.join(applied)}" if applied else "")
        )


def _wait_healthy(service: str, proc: subprocess.Popen, timeout: float) -> bool:
    """Until ``timeout``: the service answers its health RPC (the gateway: GET /health)."""
    import requests
    from nameko.standalone.rpc import ClusterRpcProxy

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            if service == "gateway":
                if requests.get(f"{gateway_url()}/health", timeout=2).ok:
                    return True
            else:
                with ClusterRpcProxy({"AMQP_URI": amqp_uri()}, timeout=2) as rpc:
                    if getattr(rpc, service).health()["database"] == "ok":
                        return True
        except Exception:
            pass
        time.sleep(0.5)
    return False


def gateway_url() -> str:
    address = os.environ.get("WEB_SERVER_ADDRESS", "0.0.0.0:8000")
    host, _, port = address.rpartition(":")
    return f"http://{'127.0.0.1' if host in ('', '0.0.0.0') else host}:{port}"


@main.command()
@click.argument("services", nargs=-1)
@click.option("--timeout", default=90.0, show_default=True, help="seconds to wait for each service")
@click.option(
    "--clock",
    default=None,
    help="CLOCK for every service: system (default), or offset:<file> for a shared movable "
    "clock, e.g. offset:var/clock-offset (a relative path is from the repository root), the "
    "file `marketplace demo` moves by default",
)
def run(services: tuple[str, ...], timeout: float, clock: str | None) -> None:
    """Start the services and the gateway (each its own process), wait until healthy,
    stop everything on Ctrl-C."""
    chosen = _chosen(services, everything=False)
    if not chosen:
        raise click.ClickException("no service has entrypoints yet")
    with_gateway = not services and (ROOT / "services" / "gateway" / "service.py").exists()
    from shared.migrate import ensure_database
    from shared.migrate import migrate as apply

    for service in chosen:
        ensure_database(service_dsn(service))
        apply(service_dsn(service), service)

    env = {
        **os.environ,
        "PSYCOPG_WAIT_FUNC": "wait_selector",
        "PYTHONPATH": str(ROOT),
        # eventlet and nameko's pkg_resources import announce their deprecations at every start
        "PYTHONWARNINGS": "ignore::DeprecationWarning,ignore:pkg_resources is deprecated:UserWarning",
    }
    if clock:
        env.update({"CLOCK": clock, **{f"{s.upper()}_CLOCK": clock for s in SERVICES}})
    procs: dict[str, subprocess.Popen] = {}
    nameko = str(Path(sys.executable).with_name("nameko"))
    for service in [*chosen, *(["gateway"] if with_gateway else [])]:
        procs[service] = subprocess.Popen(
            [nameko, "run", "--config", f"services/{service}/config.yaml", service_target(service)],
            cwd=ROOT,
            env=env,
            # its own session: a Ctrl-C at the terminal reaches only us, and we stop each once
            start_new_session=True,
        )

    stopping = []

    def stop_all(*_):
        if stopping:
            return
        stopping.append(True)
        console.print("\nstopping ...")
        for proc in procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs.values():
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        raise SystemExit(0)

    signal.signal(signal.SIGINT, stop_all)
    signal.signal(signal.SIGTERM, stop_all)

    table = Table(title="marketplace")
    for column in ("service", "pid", "status", "where"):
        table.add_column(column)
    failed = False
    for service, proc in procs.items():
        healthy = _wait_healthy(service, proc, timeout)
        failed |= not healthy
        where = gateway_url() if service == "gateway" else service_dsn(service)
        status = "[green]healthy[/]" if healthy else "[red]not healthy[/]"
        table.add_row(service, str(proc.pid), status, where)
    console.print(table)
    console.print(f"RPC over RabbitMQ at {amqp_uri()} (management: http://127.0.0.1:15672)")
    if with_gateway:
        url = gateway_url()
        console.print(
            f"HTTP API at {url}/v1, OpenAPI at {url}/openapi.json, browsable at {url}/docs"
        )
    if failed:
        stop_all()
    console.print("running; Ctrl-C stops everything")
    while True:
        for service, proc in procs.items():
            if proc.poll() is not None:
                console.print(f"[red]{service} exited with {proc.returncode}[/]")
                stop_all()
        time.sleep(1)


@main.command()
@click.argument("services", nargs=-1)
def verify(services: tuple[str, ...]) -> None:
    """Recompute every hash of each service's log and name the first bad position."""
    from shared.clock import system_clock
    from shared.eventstore import PostgresEventStore

    table = Table(title="hash chains")
    for column in ("service", "events", "head", "result"):
        table.add_column(column)
    bad = False
    for service in _chosen(services, everything=False) or list(SERVICES):
        store = PostgresEventStore.connect(service_dsn(service), max_size=1, clock=system_clock)
        try:
            report = store.verify()
        finally:
            store.close()
        result = (
            "[green]intact[/]"
            if report.ok
            else f"[red]broken at {report.first_bad_position}: {report.problem}[/]"
        )
        bad |= not report.ok
        table.add_row(service, str(report.checked), report.head_hash.hex()[:16], result)
    console.print(table)
    if bad:
        raise SystemExit(1)


main.add_command(audit)
main.add_command(demo)


if __name__ == "__main__":
    main()
