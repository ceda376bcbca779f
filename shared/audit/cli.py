"""``marketplace audit ...``: the auditor's commands.

    marketplace audit verify [SERVICE ...] [--checkpoints FILE] [--public-key HEX]
    marketplace audit checkpoint SERVICE [--out FILE]       (key: AUDIT_SIGNING_KEY)
    marketplace audit replay SERVICE [--replace]
    marketplace audit export SERVICE --out DIR [--format jsonl|csv] [--table NAME]
    marketplace audit check-export FILE MANIFEST
    marketplace audit timeline SUBJECT [SERVICE ...]
    marketplace audit as-of SERVICE TABLE --at TIME [--where COLUMN=VALUE ...]
    marketplace audit reconcile [--from DATE] [--to DATE]   (escrow against the provider)

A service's database is ``<SERVICE>_DB_DSN`` (as for the other commands) unless ``--dsn``
names it; ``--dsn`` applies when one service is named.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from shared.audit.services import SERVICES, service_dsn, service_models

console = Console()


def _services(names: tuple[str, ...]) -> list[str]:
    unknown = [n for n in names if n not in SERVICES]
    if unknown:
        raise click.BadParameter(f"unknown service(s): {', '.join(unknown)}")
    return list(names) or list(SERVICES)


def _dsn(service: str, dsn: str | None) -> str:
    return dsn or service_dsn(service)


@contextmanager
def _progress(label: str, total: int | None) -> Iterator[Callable[[int], None]]:
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task(label, total=total)
        yield lambda n: bar.advance(task, n)


def _log_size(dsn: str) -> int | None:
    import psycopg

    with psycopg.connect(dsn) as conn:
        return conn.execute("SELECT coalesce(max(position), 0) FROM events").fetchone()[0]


def _load_checkpoints(path: Path | None):
    from shared.audit.checkpoints import Checkpoint

    if path is None:
        return []
    found = []
    for line in Path(path).read_text().splitlines():
        if line.strip():
            d = json.loads(line)
            found.append(
                Checkpoint(
                    d["service"],
                    d["position"],
                    bytes.fromhex(d["hash"]),
                    datetime.fromisoformat(d["taken_at"]),
                    d["key_id"],
                    bytes.fromhex(d["signature"]),
                )
            )
    return found


@click.group()
def audit() -> None:
    """Check the logs and rebuild history from them alone."""


@audit.command()
@click.argument("services", nargs=-1)
@click.option("--dsn", help="database of the (single) service named")
@click.option(
    "--checkpoints",
    "checkpoints_file",
    type=click.Path(exists=True, path_type=Path),
    help="the auditor's own checkpoints (JSON Lines written by `audit checkpoint --out`)",
)
@click.option(
    "--public-key",
    "public_keys",
    multiple=True,
    help="trusted checkpoint key (Ed25519 public key, hex); then every signature is checked",
)
def verify(services, dsn, checkpoints_file, public_keys) -> None:
    """Hash chain, stream versions, guards, relays and checkpoints of each service's log."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from shared.audit.verify import verify_service

    chosen = _services(services)
    keys = [Ed25519PublicKey.from_public_bytes(bytes.fromhex(k)) for k in public_keys] or None
    checkpoints = _load_checkpoints(checkpoints_file)
    table = Table(title="audit: verify")
    for column in ("service", "events", "head", "result"):
        table.add_column(column)
    bad = False
    for service in chosen:
        target = _dsn(service, dsn if len(chosen) == 1 else None)
        try:
            with _progress(f"verify {service}", _log_size(target)) as advance:
                report = verify_service(
                    target, service, checkpoints=checkpoints, keys=keys, progress=advance
                )
        except Exception as exc:  # an unreachable database is a failed check, not a crash
            bad = True
            table.add_row(service, "-", "-", f"[red]cannot check: {exc}[/]")
            continue
        bad |= not report.ok
        if report.ok:
            result = "[green]intact[/]"
        else:
            result = "\n".join(
                f"[red]{f.check}"
                + (f" at {f.position}" if f.position else "")
                + f": {f.problem}[/]"
                for f in report.findings
            )
        table.add_row(service, str(report.events), report.head_hash.hex()[:16], result)
    console.print(table)
    if bad:
        raise SystemExit(1)


@audit.command()
@click.argument("service")
@click.option("--dsn", help="the service's database")
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    help="also append the checkpoint to this JSON Lines file (keep it away from the database)",
)
def checkpoint(service, dsn, out) -> None:
    """Sign the log's head with AUDIT_SIGNING_KEY and store it."""
    import psycopg

    from shared.audit.checkpoints import CheckpointSigner, take_checkpoint

    signer = CheckpointSigner.from_env()
    with psycopg.connect(_dsn(service, dsn)) as conn:
        cp = take_checkpoint(conn, service, signer, datetime.now(UTC))
    if out is not None:
        with open(out, "a") as f:
            record = {
                "service": cp.service,
                "position": cp.position,
                "hash": cp.hash.hex(),
                "taken_at": cp.taken_at.isoformat(),
                "key_id": cp.key_id,
                "signature": cp.signature.hex(),
            }
            f.write(json.dumps(record) + "\n")
    console.print(f"{service}: checkpoint at position {cp.position}, head {cp.hash.hex()[:16]}")


@audit.command()
@click.argument("service")
@click.option("--dsn", help="the service's database")
@click.option("--replace", is_flag=True, help="swap the rebuilt read models into the live ones")
def replay(service, dsn, replace) -> None:
    """Rebuild the service's read models from position 0 and compare with the live ones."""
    from shared.audit.replay import replay_service

    models = service_models(service)
    target = _dsn(service, dsn)
    with _progress(f"replay {service}", _log_size(target)) as advance:
        report = replay_service(
            target,
            service,
            models.projections,
            models.upcasters,
            replace=replace,
            progress=advance,
        )
    for diff in report.diffs:
        console.print(diff.describe())
    tables = ", ".join(f"{t} ({n} rows)" for t, n in report.rows.items()) or "no read models"
    verdict = "identical" if report.identical else f"{len(report.diffs)} difference(s)"
    console.print(f"{service}: {report.events} events replayed into {tables}: {verdict}")
    if report.replaced:
        console.print(f"{service}: the live read models now hold the rebuilt content")
    if not report.identical and not report.replaced:
        raise SystemExit(1)


@audit.command()
@click.argument("service")
@click.option("--dsn", help="the service's database")
@click.option("--out", "out_dir", required=True, type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["jsonl", "csv"]), default="jsonl")
@click.option("--table", help="export this read-model table (e.g. ledger_entries), not the log")
def export(service, dsn, out_dir, fmt, table) -> None:
    """Write the log (or a read-model table) and a manifest for a second auditor."""
    from shared.audit.export import export_events, export_table

    target = _dsn(service, dsn)
    if table:
        path, manifest = export_table(target, service, table, out_dir, fmt)
    else:
        with _progress(f"export {service}", _log_size(target)) as advance:
            path, manifest = export_events(target, service, out_dir, fmt, progress=advance)
    console.print(f"wrote {path} and {manifest}")


@audit.command("check-export")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.argument("manifest", type=click.Path(exists=True, path_type=Path))
def check_export_command(path, manifest) -> None:
    """Recompute an exported log's chain from the file alone and compare with its manifest."""
    from shared.audit.export import check_export

    problems = check_export(path, manifest)
    for problem in problems:
        console.print(f"[red]{problem}[/]")
    if problems:
        raise SystemExit(1)
    console.print("[green]the export matches its manifest and its chain[/]")


@audit.command()
@click.argument("subject")
@click.argument("services", nargs=-1)
def timeline(subject, services) -> None:
    """Every event about SUBJECT (a contract, job or user id) across the services, by time."""
    from shared.audit.timeline import timeline as build

    entries = build({s: service_dsn(s) for s in _services(services)}, subject)
    for entry in entries:
        console.print(entry.describe())
    if not entries:
        console.print(f"nothing about {subject}")


@audit.command("as-of")
@click.argument("service")
@click.argument("table")
@click.option("--at", "when", required=True, help="ISO 8601 time (UTC if no offset)")
@click.option("--where", "filters", multiple=True, help="COLUMN=VALUE, repeatable")
@click.option("--dsn", help="the service's database")
def as_of(service, table, when, filters, dsn) -> None:
    """Rows of a read model as they stood at a past time, rebuilt from the events to then."""
    from shared.audit.asof import table_as_of

    moment = datetime.fromisoformat(when)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    where = dict(f.split("=", 1) for f in filters)
    models = service_models(service)
    rows = table_as_of(
        _dsn(service, dsn), models.projections, moment, table, where, models.upcasters
    )
    console.print_json(json.dumps(rows, default=str))


@audit.command()
@click.option("--from", "start", type=click.DateTime(["%Y-%m-%d"]), help="first day (UTC)")
@click.option("--to", "end", type=click.DateTime(["%Y-%m-%d"]), help="last day (UTC)")
@click.option("--dsn", help="escrow's database")
def reconcile(start, end, dsn) -> None:
    """Escrow's provider clearing account against the payment provider's records, per day."""
    from shared.audit.reconcile import reconcile as run

    report = run(
        _dsn("escrow", dsn),
        start.date() if start else None,
        end.date() if end else None,
        upcasters=service_models("escrow").upcasters,
    )
    table = Table(title="audit: reconcile")
    for column in (
        "day",
        "currency",
        "provider in",
        "ledger in",
        "provider out",
        "ledger out",
        "result",
    ):
        table.add_column(column)
    for day in report.days:
        result = (
            f"[green]matches ({day.operations} operations)[/]"
            if day.matches
            else f"[red]{len(day.differences)} difference(s)[/]"
        )
        table.add_row(
            day.day.isoformat(),
            day.currency,
            str(day.provider_deposits),
            str(day.ledger_deposits),
            str(day.provider_withdrawals),
            str(day.ledger_withdrawals),
            result,
        )
    console.print(table)
    for difference in report.differences:
        console.print(f"[red]{difference.describe()}[/]")
    if not report.days:
        console.print("no provider or clearing movements in that period")
    if not report.ok:
        raise SystemExit(1)
