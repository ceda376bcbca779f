"""Schema migrations: the shared event-store tables, then the service's own.

Files are ``NNNN_name.sql``, applied in order, each in its own transaction, recorded in
``schema_migrations`` with a checksum. Running again applies only what is new, so it is
safe at every start-up and from several replicas at once (an advisory lock serialises them).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
SHARED_SQL = Path(__file__).resolve().parent / "sql"
_MIGRATION_LOCK = 7420002


class MigrationError(RuntimeError):
    pass


def migration_files(service: str) -> list[tuple[str, Path]]:
    found = [(f"shared/{p.name}", p) for p in sorted(SHARED_SQL.glob("*.sql"))]
    own = ROOT / "services" / service / "migrations"
    if own.is_dir():
        found += [(f"{service}/{p.name}", p) for p in sorted(own.glob("*.sql"))]
    return found


def ensure_database(dsn: str) -> bool:
    """Create the database named in ``dsn`` if it does not exist. True if it was created."""
    info = psycopg.conninfo.conninfo_to_dict(dsn)
    name = info.get("dbname")
    if not name:
        raise MigrationError(f"no database name in DSN {dsn!r}")
    admin = psycopg.conninfo.make_conninfo(dsn, dbname="postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            return False
        try:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        except psycopg.errors.DuplicateDatabase:
            return False
        return True


def migrate(dsn: str, service: str) -> list[str]:
    """Apply pending migrations of ``service`` to its database; returns what was applied."""
    applied: list[str] = []
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_MIGRATION_LOCK,))
        try:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " name text PRIMARY KEY, checksum text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now())"
            )
            done = dict(conn.execute("SELECT name, checksum FROM schema_migrations").fetchall())
            for name, path in migration_files(service):
                text = path.read_text()
                checksum = hashlib.sha256(text.encode()).hexdigest()
                if name in done:
                    if done[name] != checksum:
                        raise MigrationError(f"{name} changed after it was applied")
                    continue
                with conn.transaction():
                    conn.execute(text)
                    conn.execute(
                        "INSERT INTO schema_migrations (name, checksum) VALUES (%s, %s)",
                        (name, checksum),
                    )
                applied.append(name)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_MIGRATION_LOCK,))
    return applied
