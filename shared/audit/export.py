"""``export``: a log or a read-model table to JSON Lines or CSV, with a manifest.

The manifest carries the count, the positions, the chain hash before the first exported
event and at the last one, and the SHA-256 of the file. ``check_export`` is what a second
auditor runs with nothing but the two files: it recomputes every event's canonical text
(``jsonb_text``) and the chain, so an edited, dropped, reordered or added line shows, and a
head hash that matches the live log or a signed checkpoint vouches for the whole file.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from shared.eventstore.hashing import GENESIS_HASH, canonical_text, chain_hash, digest_of_text

EVENT_FIELDS = (
    "position",
    "stream",
    "version",
    "event_id",
    "type",
    "schema_version",
    "data",
    "metadata",
    "recorded_at",
    "hash",
)
FORMATS = ("jsonl", "csv")


@dataclass
class Manifest:
    service: str
    kind: str  # "events" or "table:<name>"
    format: str
    file: str
    sha256: str
    count: int
    exported_at: str
    first_position: int | None = None
    last_position: int | None = None
    previous_hash: str | None = None  # chain hash just before the first exported event
    head_hash: str | None = None
    types: dict[str, int] = field(default_factory=dict)

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=2) + "\n")

    @classmethod
    def read(cls, path: Path) -> Manifest:
        return cls(**json.loads(Path(path).read_text()))


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _event_record(row: tuple) -> dict[str, Any]:
    position, stream, version, event_id, type_, sv, data, metadata, at, h = row
    return {
        "position": position,
        "stream": stream,
        "version": version,
        "event_id": str(event_id),
        "type": type_,
        "schema_version": sv,
        "data": data,
        "metadata": metadata,
        "recorded_at": at,  # the canonical text form, as the chain covers it
        "hash": bytes(h).hex(),
    }


def _csv_cells(record: dict[str, Any]) -> list[Any]:
    return [
        json.dumps(record[f], ensure_ascii=False) if f in ("data", "metadata") else record[f]
        for f in EVENT_FIELDS
    ]


def export_events(
    dsn: str,
    service: str,
    out_dir: Path,
    fmt: str = "jsonl",
    after_position: int = 0,
    progress: Callable[[int], None] | None = None,
) -> tuple[Path, Path]:
    """Write the events after ``after_position`` and their manifest; returns both paths.

    The stored rows are exported as they are (no upcasting), so their hashes check.
    """
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{service}.events.{fmt}"
    types: Counter[str] = Counter()
    count, first, last, head = 0, None, None, None
    with psycopg.connect(dsn) as conn:
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        row = conn.execute(
            "SELECT hash FROM events WHERE position = %s", (after_position,)
        ).fetchone()
        previous = bytes(row[0]) if row else GENESIS_HASH
        cur = conn.cursor(name="audit_export")
        cur.itersize = 5000
        cur.execute(
            "SELECT position, stream, version, event_id, type, schema_version, data, metadata,"
            " to_char(recorded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), hash"
            " FROM events WHERE position > %s ORDER BY position",
            (after_position,),
        )
        with open(path, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f) if fmt == "csv" else None
            if writer is not None:
                writer.writerow(EVENT_FIELDS)
            for row in cur:
                record = _event_record(row)
                if writer is not None:
                    writer.writerow(_csv_cells(record))
                else:
                    f.write(json.dumps(record, ensure_ascii=False) + "\n")
                count += 1
                first = record["position"] if first is None else first
                last, head = record["position"], record["hash"]
                types[record["type"]] += 1
                if progress is not None and count % 5000 == 0:
                    progress(5000)
        cur.close()
        conn.rollback()
    manifest = Manifest(
        service=service,
        kind="events",
        format=fmt,
        file=path.name,
        sha256=_sha256_file(path),
        count=count,
        exported_at=datetime.now(UTC).isoformat(),
        first_position=first,
        last_position=last,
        previous_hash=previous.hex(),
        head_hash=head or previous.hex(),
        types=dict(sorted(types.items())),
    )
    manifest_path = out_dir / f"{service}.events.manifest.json"
    manifest.write(manifest_path)
    return path, manifest_path


def read_exported_events(path: Path) -> list[dict[str, Any]]:
    """The events of an export file (JSON Lines or CSV), as dicts of ``EVENT_FIELDS``."""
    path = Path(path)
    if path.suffix == ".csv":
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        return [
            {
                **r,
                "position": int(r["position"]),
                "version": int(r["version"]),
                "schema_version": int(r["schema_version"]),
                "data": json.loads(r["data"]),
                "metadata": json.loads(r["metadata"]),
            }
            for r in rows
        ]
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def check_export(path: Path, manifest_path: Path) -> list[str]:
    """Problems found in an export, using only the files (empty: the export is intact)."""
    manifest = Manifest.read(manifest_path)
    problems = []
    if _sha256_file(path) != manifest.sha256:
        problems.append("the file's SHA-256 differs from the manifest's")
    events = read_exported_events(path)
    if len(events) != manifest.count:
        problems.append(f"the file holds {len(events)} events, the manifest says {manifest.count}")
    previous = bytes.fromhex(manifest.previous_hash or GENESIS_HASH.hex())
    expected = (manifest.first_position or 1) if events else None
    for event in events:
        if event["position"] != expected:
            problems.append(f"position {expected} expected, found {event['position']}")
            break
        at = datetime.strptime(event["recorded_at"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
        text = canonical_text(
            event["event_id"],
            event["stream"],
            event["type"],
            event["schema_version"],
            event["data"],
            event["metadata"],
            at,
        )
        computed = chain_hash(previous, event["position"], event["version"], digest_of_text(text))
        if computed.hex() != event["hash"]:
            problems.append(f"the event at position {event['position']} does not match the chain")
            break
        previous = computed
        expected += 1
    else:
        if previous.hex() != manifest.head_hash:
            problems.append("the chain's head differs from the manifest's head hash")
    return problems


def export_table(
    dsn: str, service: str, table: str, out_dir: Path, fmt: str = "jsonl"
) -> tuple[Path, Path]:
    """A read-model table (e.g. ``ledger_entries``), rows ordered by every column."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{service}.{table}.{fmt}"
    count = 0
    with psycopg.connect(dsn) as conn:
        names = [
            d.name
            for d in conn.execute(
                sql.SQL("SELECT * FROM {} LIMIT 0").format(sql.Identifier(table))
            ).description
        ]
        order = sql.SQL(", ").join(sql.SQL(str(i + 1)) for i in range(len(names)))
        cur = conn.cursor()
        cur.execute(sql.SQL("SELECT * FROM {} ORDER BY {}").format(sql.Identifier(table), order))
        with open(path, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f) if fmt == "csv" else None
            if writer is not None:
                writer.writerow(names)
            for row in cur:
                values = [_plain(v) for v in row]
                if writer is not None:
                    writer.writerow(values)
                else:
                    f.write(json.dumps(dict(zip(names, values, strict=True))) + "\n")
                count += 1
    manifest = Manifest(
        service=service,
        kind=f"table:{table}",
        format=fmt,
        file=path.name,
        sha256=_sha256_file(path),
        count=count,
        exported_at=datetime.now(UTC).isoformat(),
    )
    manifest_path = out_dir / f"{service}.{table}.manifest.json"
    manifest.write(manifest_path)
    return path, manifest_path


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes | memoryview):
        return bytes(value).hex()
    if isinstance(value, dict | list) and not isinstance(value, str):
        return value
    if value is None or isinstance(value, bool | int | str):
        return value
    return str(value)
