"""Test fixtures shared by every service's tests (loaded as a pytest plugin by tests/conftest.py).

Servers come from the environment, with local defaults:
  MARKETPLACE_PG_URL         postgresql://root@127.0.0.1:5432/postgres
  MARKETPLACE_AMQP_URI       pyamqp://guest:guest@127.0.0.1:5672/
  MARKETPLACE_RABBIT_API_URI http://guest:guest@127.0.0.1:15672
When none is set, the defaults are unreachable and a Docker engine exists, PostgreSQL and
RabbitMQ are started with testcontainers instead. When nothing can be reached the session
fails loudly; it never skips.

Each test gets its own databases (created from a migrated template per service, dropped at
the end) and, through nameko's ``rabbit_config``, its own RabbitMQ vhost.
"""

from __future__ import annotations

import json
import os
import socket
import uuid
from urllib.parse import urlparse

import psycopg
import pytest
from psycopg import sql

from shared.migrate import migrate

DEFAULT_PG = "postgresql://root@127.0.0.1:5432/postgres"
DEFAULT_AMQP = "pyamqp://guest:guest@127.0.0.1:5672/"
DEFAULT_RABBIT_API = "http://guest:guest@127.0.0.1:15672"


def _reachable(url: str, default_port: int) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection(
            (parsed.hostname or "127.0.0.1", parsed.port or default_port), 2
        ):
            return True
    except OSError:
        return False


def _docker_available() -> bool:
    try:
        import docker

        docker.from_env().ping()
        return True
    except Exception:
        return False


class Servers:
    """Where the test session's PostgreSQL and RabbitMQ are."""

    def __init__(self):
        self.pg_url = os.environ.get("MARKETPLACE_PG_URL")
        self.amqp_uri = os.environ.get("MARKETPLACE_AMQP_URI")
        self.rabbit_api = os.environ.get("MARKETPLACE_RABBIT_API_URI")
        self._containers = []
        configured = any([self.pg_url, self.amqp_uri, self.rabbit_api])
        self.pg_url = self.pg_url or DEFAULT_PG
        self.amqp_uri = self.amqp_uri or DEFAULT_AMQP
        self.rabbit_api = self.rabbit_api or DEFAULT_RABBIT_API
        if not configured and not (
            _reachable(self.pg_url, 5432) and _reachable(self.amqp_uri, 5672)
        ):
            if _docker_available():
                self._start_containers()
        if not _reachable(self.pg_url, 5432):
            raise RuntimeError(
                f"PostgreSQL is not reachable at {self.pg_url}: start it or set MARKETPLACE_PG_URL"
            )
        if not _reachable(self.amqp_uri, 5672):
            raise RuntimeError(
                f"RabbitMQ is not reachable at {self.amqp_uri}: start it or set MARKETPLACE_AMQP_URI"
            )

    def _start_containers(self) -> None:  # pragma: no cover - only where Docker exists
        from testcontainers.postgres import PostgresContainer
        from testcontainers.rabbitmq import RabbitMqContainer

        pg = PostgresContainer("postgres:15", username="root", password="root", dbname="postgres")
        pg.start()
        rabbit = RabbitMqContainer("rabbitmq:3-management")
        rabbit.with_exposed_ports(5672, 15672)
        rabbit.start()
        self._containers += [pg, rabbit]
        host = pg.get_container_host_ip()
        self.pg_url = f"postgresql://root:root@{host}:{pg.get_exposed_port(5432)}/postgres"
        rhost = rabbit.get_container_host_ip()
        self.amqp_uri = f"pyamqp://guest:guest@{rhost}:{rabbit.get_exposed_port(5672)}/"
        self.rabbit_api = f"http://guest:guest@{rhost}:{rabbit.get_exposed_port(15672)}"

    def stop(self) -> None:
        for container in self._containers:
            container.stop()


class DatabaseFactory:
    """Makes throwaway databases, each migrated for one service."""

    def __init__(self, server_url: str):
        self.server_url = server_url
        self.prefix = f"mkt_{uuid.uuid4().hex[:8]}"
        self.created: list[str] = []
        self._templates: dict[str, str] = {}

    def dsn(self, name: str) -> str:
        return psycopg.conninfo.make_conninfo(self.server_url, dbname=name)

    def _admin(self):
        return psycopg.connect(self.server_url, autocommit=True)

    def _template(self, service: str) -> str:
        if service not in self._templates:
            name = f"{self.prefix}_tpl_{service}"
            with self._admin() as conn:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            self.created.append(name)
            migrate(self.dsn(name), service)
            self._templates[service] = name
        return self._templates[service]

    def create(self, service: str) -> str:
        """A fresh database with ``service``'s schema; returns its DSN."""
        template = self._template(service)
        name = f"{self.prefix}_{service}_{uuid.uuid4().hex[:8]}"
        with self._admin() as conn:
            conn.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                    sql.Identifier(name), sql.Identifier(template)
                )
            )
        self.created.append(name)
        return self.dsn(name)

    def drop_all(self) -> None:
        """Drop every database made, several at once (each drop waits for its files)."""
        from concurrent.futures import ThreadPoolExecutor

        def drop(name: str) -> None:
            with self._admin() as conn:
                conn.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
                )

        templates = set(self._templates.values())
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(drop, [n for n in self.created if n not in templates]))
            list(pool.map(drop, list(templates)))
        self.created.clear()


@pytest.fixture(scope="session")
def servers():
    found = Servers()
    yield found
    found.stop()


@pytest.fixture(scope="session")
def databases(servers):
    factory = DatabaseFactory(servers.pg_url)
    yield factory
    factory.drop_all()


def pytest_configure(config):
    # Point nameko's own fixtures (rabbit_config, rabbit_manager) at the same broker.
    amqp = os.environ.get("MARKETPLACE_AMQP_URI")
    api = os.environ.get("MARKETPLACE_RABBIT_API_URI")
    if amqp:
        config.option.RABBIT_AMQP_URI = amqp
    if api:
        config.option.RABBIT_API_URI = api


@pytest.fixture
def web_session(web_config_port):
    """nameko's fixture of the same name imports ``werkzeug.urls.url_join``, gone in werkzeug 3."""
    from urllib.parse import urljoin

    from requests import Session

    base = f"http://127.0.0.1:{web_config_port}/"

    class WebSession(Session):
        def request(self, method, url, *args, **kwargs):
            return super().request(method, urljoin(base, url), *args, **kwargs)

    with WebSession() as session:
        yield session


class TokenMint:
    """Signs access tokens the way identity does, for tests of services without identity.

    ``config()`` gives the ``AUTH_PUBLIC_KEYS`` setting that makes a service trust this mint.
    """

    def __init__(self, clock=None, kid: str = "test-key"):
        import jwt
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        from shared.clock import manual_clock

        self.clock = clock or manual_clock
        self.kid = kid
        self.private_key = Ed25519PrivateKey.generate()
        self._jwt = jwt
        self.jwk = json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(self.private_key.public_key()))
        self.jwk.update({"kid": kid, "alg": "EdDSA", "use": "sig"})

    def jwks(self) -> dict:
        return {"keys": [self.jwk]}

    def config(self) -> dict:
        return {
            "AUTH_PUBLIC_KEYS": json.dumps(self.jwks()),
            "AUTH_FETCH_KEYS": "false",
            "CLOCK": "manual",
        }

    def token(self, user_id: str, *roles: str, ttl: int = 900, **claims) -> str:
        from shared.auth import AUDIENCE, ISSUER

        now = int(self.clock.now().timestamp())
        payload = {
            "sub": user_id,
            "roles": list(roles),
            "iat": now,
            "exp": now + ttl,
            "iss": ISSUER,
            "aud": AUDIENCE,
            "jti": uuid.uuid4().hex,
            **claims,
        }
        return self._jwt.encode(
            payload, self.private_key, algorithm="EdDSA", headers={"kid": self.kid}
        )

    def context(self, user_id: str, *roles: str, **kwargs) -> dict:
        """nameko context data calling as ``user_id``."""
        return {"authorization": f"Bearer {self.token(user_id, *roles, **kwargs)}"}


@pytest.fixture
def token_mint():
    return TokenMint()
