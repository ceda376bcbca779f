"""What every benchmark needs: the machine it ran on, percentiles, scratch databases, JSON.

Benchmarks run on plain threads: ``bench/__init__`` imports ``shared`` before anything
else (it picks psycopg's selector wait function), and eventlet never patches anything here.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from shared.migrate import migrate

DEFAULT_PG_URL = "postgresql://root@127.0.0.1:5432/postgres"
DEFAULT_RABBIT_API = "http://guest:guest@127.0.0.1:15672"
OUT_DIR = Path(__file__).resolve().parent / "out"


def pg_url() -> str:
    return os.environ.get("MARKETPLACE_PG_URL") or DEFAULT_PG_URL


@dataclass
class Context:
    """Handed to every benchmark's ``run``."""

    quick: bool = False
    pg_url: str = field(default_factory=pg_url)
    out_dir: Path = OUT_DIR
    machine: str = ""

    def size(self, full: int, quick: int) -> int:
        return quick if self.quick else full


# -- the machine -------------------------------------------------------------------------


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / (1024 * 1024)
    except (OSError, ValueError, IndexError):
        pass
    return None


def _postgres_version(url: str) -> str:
    try:
        with psycopg.connect(url, connect_timeout=3) as conn:
            return conn.execute("SHOW server_version").fetchone()[0]
    except psycopg.Error:
        return "unreachable"


def _rabbitmq_version() -> str:
    api = os.environ.get("MARKETPLACE_RABBIT_API_URI") or DEFAULT_RABBIT_API
    try:
        import requests

        reply = requests.get(api.rstrip("/") + "/api/overview", timeout=2)
        reply.raise_for_status()
        return reply.json().get("rabbitmq_version") or "unknown"
    except Exception:
        return "unreachable"


def describe_machine(url: str | None = None) -> dict[str, Any]:
    memory = _memory_gib()
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count() or 0,
        "memory_gib": round(memory, 1) if memory is not None else None,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "postgresql": _postgres_version(url or pg_url()),
        "rabbitmq": _rabbitmq_version(),
    }


def machine_line(info: dict[str, Any]) -> str:
    memory = f"{info['memory_gib']} GiB RAM" if info.get("memory_gib") is not None else "RAM ?"
    return (
        f"{info['cpu']}, {info['cores']} cores, {memory}, {info['os']}, "
        f"Python {info['python']}, PostgreSQL {info['postgresql']}, RabbitMQ {info['rabbitmq']}"
    )


# -- numbers -----------------------------------------------------------------------------


def percentile(samples: Sequence[float], pct: float) -> float:
    """The ``pct``-th percentile (0..100) by linear interpolation between closest ranks."""
    if not samples:
        raise ValueError("no samples")
    ordered = sorted(samples)
    if len(ordered) == 1:
        return float(ordered[0])
    rank = (len(ordered) - 1) * pct / 100.0
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summarize(samples: Sequence[float]) -> dict[str, float]:
    """Mean and the usual percentiles of ``samples``."""
    return {
        "n": len(samples),
        "mean": statistics.fmean(samples),
        "p50": percentile(samples, 50),
        "p95": percentile(samples, 95),
        "p99": percentile(samples, 99),
        "max": max(samples),
    }


class Stopwatch:
    """Accumulates elapsed time over several ``with`` blocks."""

    def __init__(self) -> None:
        self.elapsed = 0.0

    def __enter__(self) -> Stopwatch:
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.elapsed += time.perf_counter() - self._start


# -- scratch databases -------------------------------------------------------------------


def _dsn_for(server_url: str, name: str) -> str:
    return psycopg.conninfo.make_conninfo(server_url, dbname=name)


@contextmanager
def throwaway_database(
    label: str,
    *,
    server_url: str | None = None,
    service: str | None = "core",
    settings: dict[str, str] | None = None,
) -> Iterator[str]:
    """A fresh database with a unique name, migrated for ``service`` (None: left empty).

    ``settings`` become database defaults (``ALTER DATABASE ... SET``) so that every
    connection of whatever pool sees them. The database is dropped on the way out.
    """
    server_url = server_url or pg_url()
    name = f"bench_{label}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        for key, value in (settings or {}).items():
            admin.execute(
                sql.SQL("ALTER DATABASE {} SET {} = {}").format(
                    sql.Identifier(name), sql.Identifier(key), sql.Literal(value)
                )
            )
    dsn = _dsn_for(server_url, name)
    try:
        if service is not None:
            migrate(dsn, service)
        yield dsn
    finally:
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


# -- output ------------------------------------------------------------------------------


def write_json(name: str, result: dict[str, Any], out_dir: Path | None = None) -> Path:
    out_dir = Path(out_dir or OUT_DIR)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(result, indent=2, sort_keys=False) + "\n")
    tmp.replace(path)
    return path
